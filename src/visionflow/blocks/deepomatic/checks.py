"""What the Deepomatic dialect checks before anything runs: the number of region inputs,
the order of the steps (no cycles), and the concepts each step reads and each outcome
reports (they exist upstream, with the right type, and values compared fit that type).
Known statically because every block declares the concept it writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from visionflow.blocks.deepomatic.inference import Inference
from visionflow.errors import CycleError, KindMismatchError, ManifestError, SelectorError


@dataclass
class StepInfo:
    """One step of the document, as the dialect understood it."""

    position: int
    name: str
    type: str
    block: Any  # a DeepomaticBlock subclass
    args: Any  # the block's validated Args (a dict for custom steps)
    input_names: list[str]
    custom: list[tuple[str, str]] | None = None  # a custom step's (file, version) to search
    region_inputs: list[str] = field(default_factory=list)  # native selectors
    region_names: list[str] = field(default_factory=list)  # the names they were given as
    values: dict[str, str] = field(default_factory=dict)  # Text/Number entries
    extra: dict[str, Any] = field(default_factory=dict)  # further native fields
    depends_on: set[str] = field(default_factory=set)
    concept_makers: dict[str, set[str]] = field(default_factory=dict)  # concept -> its writers

    @property
    def place(self) -> str:
        return f"steps[{self.position}] '{self.name}'"

    def value_entries(self) -> list[str]:
        entry = getattr(self.args, "value_entry", None)
        return [entry] if entry else []

    def native_step(self) -> dict[str, Any]:
        step = {
            "type": self.block.type_names()[0],
            "name": self.name,
            "inputs": self.region_inputs,
            "values": self.values,
            **self.extra,
        }
        if self.custom is None:
            return {**step, "args": self.args.model_dump(mode="json")}
        config = {key: value for key, value in self.args.items() if key != "concepts"}
        return {
            **step,
            "files": [file for file, _ in self.custom],
            "file_versions": [version for _, version in self.custom],
            "class_name": self.type,
            "input_names": self.region_names,
            "config": config,
            "concepts": self.args["concepts"],
        }


def dependency_order(steps: list[StepInfo]) -> list[str]:
    """Step names, each after the steps it reads (document order among equals)."""
    remaining = {step.name: set(step.depends_on) for step in steps}
    order: list[str] = []
    while remaining:
        ready = [name for name, before in remaining.items() if not before]
        if not ready:
            cycle = _a_cycle(remaining)
            first = next(step for step in steps if step.name == cycle[0])
            raise CycleError(
                "the steps form a cycle: " + " -> ".join(f"'{name}'" for name in cycle),
                place=first.place,
                hint="a workflow is a graph without cycles; remove one of these inputs",
            )
        for name in ready:
            order.append(name)
            del remaining[name]
        for before in remaining.values():
            before.difference_update(ready)
    return order


def _a_cycle(remaining: dict[str, set[str]]) -> list[str]:
    path = [next(iter(remaining))]
    while True:
        following = sorted(remaining[path[-1]])[0]
        if following in path:
            return [*path[path.index(following) :], following]
        path.append(following)


def check_input_count(step: StepInfo, entries: dict[str, str]) -> None:
    """The step has as many region inputs as its block takes (entries: name -> data type)."""
    low, high = step.block.input_count
    count = len(step.region_inputs)
    if low <= count and (high is None or count <= high):
        return
    wanted = f"{low}" if low == high else f"at least {low}" if high is None else f"{low} to {high}"
    article = "an" if step.type[:1] in "AEIOU" else "a"
    values = [f"'{name}' is a {entries[name]} entry" for name in step.values if name in entries]
    raise ManifestError(
        f"{article} {step.type} step takes {wanted} region input(s) (steps or Image entries), "
        f"found {count}",
        place=f"{step.place} field 'inputs'",
        hint=f"{', '.join(values)}, which {'carry' if len(values) > 1 else 'carries'} no regions"
        if values
        else None,
    )


def label_sources(
    step: StepInfo, steps: dict[str, StepInfo], concepts: list[str]
) -> list[dict[str, Any]]:
    """The Inference steps that write ``concepts`` upstream of ``step``, so that it can check
    the labels it names against theirs; none if another kind of step writes one too."""
    names = sorted({name for concept in concepts for name in step.concept_makers.get(concept, ())})
    writers = [steps[name] for name in names]
    if not writers or not all(issubclass(writer.block, Inference) for writer in writers):
        return []
    return [
        {"step": w.name, "model_id": w.args.model_id, "concepts": w.args.concepts} for w in writers
    ]


def check_concepts(
    steps: list[StepInfo], order: list[str], outcomes: list[dict], entries: dict[str, str]
) -> None:
    """Every concept a step reads or an outcome reports is made upstream, with its type, and
    the values a step compares it with fit that type (``entries``: name -> data type)."""
    by_name = {step.name: step for step in steps}
    available: dict[str, dict[str, str]] = {}  # step -> concept name -> type
    makers: dict[str, dict[str, set[str]]] = {}  # step -> concept name -> steps writing it
    for name in order:
        step = by_name[name]
        inherited: dict[str, str] = {}
        for source in sorted(step.depends_on, key=order.index):
            inherited.update(available[source])
            for concept, writers in makers[source].items():
                step.concept_makers.setdefault(concept, set()).update(writers)
        for arg, concept, wanted in step.block.concepts_read(step.args):
            _check_one(concept, wanted, inherited, f"{step.place} args '{arg}'", "its inputs")
        step.block.check_types(step.args, inherited, entries, step.place)
        own = dict(inherited) if step.block.passes_concepts else {}
        own_makers = dict(step.concept_makers) if step.block.passes_concepts else {}
        for concept, concept_type in step.block.produced_concepts(step.args, step.name):
            own[concept] = concept_type
            own_makers[concept] = {step.name}  # the latest concept of a name is the one read
        available[name], makers[name] = own, own_makers
    for outcome in outcomes:
        concept = outcome["concept"]
        _check_one(
            concept.name,
            concept.type,
            available[outcome["output_of"]],
            f"{outcome['place']} field 'concept'",
            f"step '{outcome['output_of']}'",
        )


def _check_one(
    name: str, wanted: str | None, known: dict[str, str], place: str, where: str
) -> None:
    listed = ", ".join(f"'{n}' ({t})" for n, t in known.items()) or "none"
    if name not in known:
        raise SelectorError(
            f"no concept '{name}' comes from {where}",
            place=place,
            hint=f"the concepts there are: {listed}",
        )
    if wanted is not None and known[name] != wanted:
        raise KindMismatchError(
            f"concept '{name}' is a {known[name]} concept, but a {wanted} concept is expected",
            place=place,
            hint=f"the concepts there are: {listed}",
        )
