"""What every Deepomatic step block shares, and what the dialect reads from it.

A Deepomatic step becomes one native step of a ``DeepomaticBlock``: its ``inputs`` are the
region lists of the steps and Image entries it names, ``values`` the Text/Number entries
it names, and ``args`` its arguments, validated by the block's ``Args`` model (the dialect
validates them first, to report mistakes in the document's own terms).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from visionflow.blocks.api import Block, Output, Selector
from visionflow.blocks.deepomatic.regions import REGIONS_KIND
from visionflow.errors import ManifestError
from visionflow.suggestions import close_matches

REGIONS = Selector(kinds=[REGIONS_KIND])
ENTRY_VALUE = Selector(kinds=["float", "string"])


class Args(BaseModel):
    """Base of every step's arguments: unknown arguments are errors."""

    model_config = ConfigDict(extra="forbid")


class NoArgs(Args):
    """Arguments of a step that takes none: any argument given is an error."""


class DeepomaticManifest(Block.Manifest):
    inputs: list[REGIONS] = Field(default_factory=list)
    values: dict[str, ENTRY_VALUE] = Field(default_factory=dict)


class DeepomaticBlock(Block):
    """A Deepomatic step: region lists in, one region list (``regions``) out, per image."""

    deepomatic_type: ClassVar[str] = ""
    """The step ``type`` written in Deepomatic documents."""
    Args: ClassVar[type[Args]] = NoArgs
    input_count: ClassVar[tuple[int, int | None]] = (1, None)
    """The least and most region inputs the step takes (None: no limit)."""
    passes_concepts: ClassVar[bool] = True
    """Its output regions keep the concepts of its input regions (for the dialect's checks)."""
    outputs = [Output("regions", kinds=[REGIONS_KIND])]

    @classmethod
    def produced_concept(cls, args: Any, step_name: str) -> tuple[str, str] | None:
        """The (name, type) of the concept the step writes, known before anything runs."""
        return None

    @classmethod
    def produced_concepts(cls, args: Any, step_name: str) -> list[tuple[str, str]]:
        concept = cls.produced_concept(args, step_name)
        return [concept] if concept else []

    @classmethod
    def concepts_read(cls, args: Any) -> list[tuple[str, str, str | None]]:
        """(argument, concept name, required type or None) of each concept the step reads."""
        return []

    @classmethod
    def check_types(
        cls, args: Any, concepts: dict[str, str], entries: dict[str, str], place: str
    ) -> None:
        """Raise a compile error where an argument does not fit the type of a concept read
        (``concepts``: the name -> type of those upstream; ``entries``: Text/Number entries)."""


def validated_args(block: type[DeepomaticBlock], args: dict[str, Any], place: str) -> Any:
    """The step's args as its block's ``Args``; mistakes named as ``steps[i] 'x' args 'y'``."""
    try:
        return block.Args.model_validate(args)
    except ValidationError as error:
        errors = error.errors()
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        name = str(first["loc"][0]) if first["loc"] else None
        where = f"{place} args '{name}'" if name else f"{place} args"
        known = list(block.Args.model_fields)
        if first["type"] == "extra_forbidden":
            close = close_matches(name or "", known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"its args are: {', '.join(known)}"
            raise ManifestError(f"unknown argument '{name}'", place=where, hint=hint) from None
        if first["type"] == "missing":
            raise ManifestError(
                f"missing argument '{name}'", place=where, hint=f"its args are: {', '.join(known)}"
            ) from None
        found = f" (found {args.get(name)!r})" if name else ""
        raise ManifestError(f"{first['msg']}{found}", place=where) from None
