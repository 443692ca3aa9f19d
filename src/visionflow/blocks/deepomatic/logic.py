"""Counting and logic steps: the checkpoints a business outcome is made of.

- ``Counter``: how many regions (optionally: with a concept, or with one of some labels),
  written as a Number concept on the entry's default region;
- ``Compare``: a concept's value (or confidence) against a number, a text or an entry,
  written as a Boolean concept on each region that carries the concept;
- ``BooleanOperation``: ``and`` / ``or`` / ``not`` of Boolean concepts, region by region.
"""

from __future__ import annotations

import operator
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from visionflow.blocks.deepomatic.base import (
    REGIONS,
    Args,
    DeepomaticBlock,
    DeepomaticManifest,
)
from visionflow.blocks.deepomatic.inference import check_labels
from visionflow.blocks.deepomatic.regions import (
    Concept,
    Region,
    flatten,
    guess_concept_type,
    merge_by_id,
)
from visionflow.blocks.deepomatic.routing import LabelSource, known_labels
from visionflow.errors import KindMismatchError


class CounterArgs(Args):
    concept_name: str = Field(description="the Number concept written on the entry's region")
    entry: str | None = Field(None, description="the Image entry (default: the only one)")
    concept_names_to_count: list[str] | None = Field(
        None, description="count regions carrying one of these concepts (default: all)"
    )
    label_names: list[str] | None = Field(
        None, description="count regions whose concept value is one of these labels"
    )


class Counter(DeepomaticBlock):
    """The number of regions of its inputs, on the default region of an entry."""

    class Manifest(DeepomaticManifest):
        type: Literal["deepomatic/counter@v1"]
        args: CounterArgs
        entry_regions: REGIONS
        # Set by the dialect when Inference steps alone write the concepts counted.
        label_sources: list[LabelSource] = Field(default_factory=list)

    deepomatic_type = "Counter"
    Args = CounterArgs
    passes_concepts = False
    init_parameters = ["models"]

    @classmethod
    def produced_concept(cls, args: CounterArgs, step_name: str) -> tuple[str, str]:
        return (args.concept_name, "Number")

    @classmethod
    def concepts_read(cls, args: CounterArgs) -> list[tuple[str, str, str | None]]:
        return [
            ("concept_names_to_count", name, None) for name in args.concept_names_to_count or []
        ]

    def setup(self, manifest: Any) -> None:
        self.step = manifest.name
        labels = known_labels(self.models, manifest.label_sources)
        if labels and manifest.args.label_names:  # a misspelt label would count nothing
            counted = ", ".join(f"'{name}'" for name in manifest.args.concept_names_to_count)
            check_labels(
                manifest.args.label_names,
                labels,
                f"the concepts counted ({counted})",
                "args 'label_names'",
                "the labels their models give",
            )

    def run(
        self, inputs: list[list[Region]], entry_regions: list[Region], args: CounterArgs, **_: Any
    ) -> dict[str, list[Region]]:
        count = sum(1 for region in flatten(inputs) if _counted(region, args))
        default = entry_regions[0]
        concept = Concept(args.concept_name, "Number", count, self.step)
        return {"regions": [default.with_concept(concept)]}


def _counted(region: Region, args: CounterArgs) -> bool:
    names = args.concept_names_to_count
    concepts = [c for c in region.concepts if names is None or c.name in names]
    if names is not None and not concepts:
        return False
    if args.label_names is None:
        return True
    return any(c.value in args.label_names for c in concepts)


OPERATORS = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
ORDERING = (">", ">=", "<", "<=")
EXAMPLES = {  # how to write a value of each concept type, for hints
    "Number": "a number (e.g. 3 or 0.5)",
    "Text": "a text (e.g. happy)",
    "Boolean": "true or false",
}


class CompareArgs(Args):
    input_concept: str = Field(description="the concept compared")
    operator: Literal[">", ">=", "<", "<=", "==", "!="]
    value: float | int | bool | str | None = Field(None, description="the value compared with")
    value_entry: str | None = Field(None, description="a Number/Text entry compared with")
    attribute: Literal["value", "confidence"] = "value"
    concept_name: str = Field(description="the Boolean concept written")

    @model_validator(mode="after")
    def _one_right_hand_side(self) -> CompareArgs:
        if (self.value is None) == (self.value_entry is None):
            raise ValueError("give exactly one of 'value' and 'value_entry'")
        return self


class Compare(DeepomaticBlock):
    """A Boolean concept: ``<input_concept> <operator> <value>`` on each region carrying it."""

    class Manifest(DeepomaticManifest):
        type: Literal["deepomatic/compare@v1"]
        args: CompareArgs

    deepomatic_type = "Compare"
    Args = CompareArgs

    @classmethod
    def produced_concept(cls, args: CompareArgs, step_name: str) -> tuple[str, str]:
        return (args.concept_name, "Boolean")

    @classmethod
    def concepts_read(cls, args: CompareArgs) -> list[tuple[str, str, str | None]]:
        numeric = args.operator in ORDERING and args.attribute == "value"
        return [("input_concept", args.input_concept, "Number" if numeric else None)]

    @classmethod
    def check_types(
        cls, args: CompareArgs, concepts: dict[str, str], entries: dict[str, str], place: str
    ) -> None:
        if args.value_entry is not None:
            arg, given = "value_entry", entries[args.value_entry]
            other = f"the {given} entry '{args.value_entry}'"
        else:
            arg, given = "value", guess_concept_type(args.value)
            other = f"the {given} value {args.value!r}"
        if args.operator in ORDERING:
            if given != "Number":
                raise KindMismatchError(
                    f"'{args.operator}' compares numbers, but {other} is not a number",
                    place=f"{place} args '{arg}'",
                    hint="ordering operators (>, >=, <, <=) compare Number concepts or "
                    "confidences with numbers",
                )
            return
        compared = concepts[args.input_concept] if args.attribute == "value" else "Number"
        if given != compared:
            what = f"concept '{args.input_concept}'"
            left = f"{what} is a {compared} concept"
            if args.attribute == "confidence":
                left = f"the confidence of {what} is a Number"
            raise KindMismatchError(
                f"{left}, but it is compared with {other}",
                place=f"{place} args '{arg}'",
                hint=f"'==' and '!=' compare values of one type: give {EXAMPLES[compared]}",
            )

    def setup(self, manifest: Any) -> None:
        self.step = manifest.name

    def run(
        self, inputs: list[list[Region]], values: dict[str, Any], args: CompareArgs, **_: Any
    ) -> dict[str, list[Region]]:
        other = values[args.value_entry] if args.value_entry else args.value
        compare = OPERATORS[args.operator]
        regions = []
        for region in merge_by_id(inputs):
            concept = region.concept(args.input_concept)
            if concept is None:
                continue
            left = concept.confidence if args.attribute == "confidence" else concept.value
            if args.operator in ORDERING and not _both_numbers(left, other):
                raise ValueError(
                    f"'{args.operator}' compares numbers; concept '{concept.name}' has "
                    f"{args.attribute} {left!r} and the other side is {other!r}"
                )
            result = bool(compare(left, other))
            regions.append(
                region.with_concept(Concept(args.concept_name, "Boolean", result, self.step))
            )
        return {"regions": regions}


def _both_numbers(left: Any, right: Any) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in (left, right))


class BooleanArgs(Args):
    operator: Literal["and", "or", "not"]
    input_concepts: list[str] = Field(min_length=1, description="the Boolean concepts combined")
    concept_name: str = Field(description="the Boolean concept written")

    @model_validator(mode="after")
    def _not_takes_one(self) -> BooleanArgs:
        if self.operator == "not" and len(self.input_concepts) != 1:
            raise ValueError("'not' takes exactly one input concept")
        return self


class BooleanOperation(DeepomaticBlock):
    """``and`` / ``or`` / ``not`` of Boolean concepts, on each region carrying one of them.

    A concept missing from a region counts as false there.
    """

    class Manifest(DeepomaticManifest):
        type: Literal["deepomatic/boolean_operation@v1"]
        args: BooleanArgs

    deepomatic_type = "BooleanOperation"
    Args = BooleanArgs
    input_count: ClassVar[tuple[int, int | None]] = (1, None)

    @classmethod
    def produced_concept(cls, args: BooleanArgs, step_name: str) -> tuple[str, str]:
        return (args.concept_name, "Boolean")

    @classmethod
    def concepts_read(cls, args: BooleanArgs) -> list[tuple[str, str, str | None]]:
        return [("input_concepts", name, "Boolean") for name in args.input_concepts]

    def setup(self, manifest: Any) -> None:
        self.step = manifest.name

    def run(
        self, inputs: list[list[Region]], args: BooleanArgs, **_: Any
    ) -> dict[str, list[Region]]:
        regions = []
        for region in merge_by_id(inputs):
            found = [region.concept(name) for name in args.input_concepts]
            if all(concept is None for concept in found):
                continue
            truths = [concept is not None and concept.value is True for concept in found]
            if args.operator == "and":
                result = all(truths)
            elif args.operator == "or":
                result = any(truths)
            else:
                result = not truths[0]
            regions.append(
                region.with_concept(Concept(args.concept_name, "Boolean", result, self.step))
            )
        return {"regions": regions}
