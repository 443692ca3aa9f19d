"""Compiler stage: each step dict parsed by its block's manifest."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from pydantic import AliasChoices, ValidationError

from visionflow.blocks.api import BlockManifest, SelectorInfo, manifest_selectors
from visionflow.blocks.loader import BlockRegistry, LoadedBlock
from visionflow.definition import Definition
from visionflow.errors import (
    CompilationError,
    DuplicateNameError,
    ManifestError,
    UnknownBlockTypeError,
    WorkflowError,
)
from visionflow.selectors import meant_selector
from visionflow.suggestions import close_matches


@dataclass(frozen=True)
class ParsedStep:
    position: int
    name: str
    loaded: LoadedBlock
    manifest: BlockManifest

    @property
    def place(self) -> str:
        return step_place(self.position, self.name)

    @property
    def block_type(self) -> str:
        return self.loaded.block_class.type_names()[0]


def step_place(position: int, name: str | None) -> str:
    return f"steps[{position}] '{name}'" if name else f"steps[{position}]"


def parse_steps(definition: Definition, registry: BlockRegistry) -> list[ParsedStep]:
    """Every step's block found and fields checked. A wrong step does not hide the ones
    after it: the first error is raised with the others in its ``also``."""
    parsed: list[ParsedStep] = []
    seen: dict[str, int] = {}
    found: list[CompilationError] = []
    for position, raw in enumerate(definition.steps):
        try:
            parsed.append(_parse_step(position, raw, registry, seen))
        except CompilationError as error:
            found.append(error)
    if found:
        first, *others = found
        if others:  # a copy: an error a registry keeps (a broken plugin) is never changed
            first = copy.copy(first)
            first.also = others
        raise first
    _check_duplicate_inputs(definition)
    return parsed


def _parse_step(
    position: int, raw: dict, registry: BlockRegistry, seen: dict[str, int]
) -> ParsedStep:
    name = raw.get("name")
    place = step_place(position, name if isinstance(name, str) else None)
    if not isinstance(name, str) or not name:
        raise ManifestError(
            "every step needs a non-empty 'name'", place=place, hint="add name: ..."
        )
    if name in seen:
        raise DuplicateNameError(
            f"step name '{name}' is used twice (also by steps[{seen[name]}])",
            place=place,
            hint="step names must be unique (they are case sensitive)",
        )
    seen[name] = position
    loaded = _find_block(raw.get("type"), registry, place)
    return ParsedStep(position, name, loaded, _validate(raw, loaded, place))


def _find_block(block_type: Any, registry: BlockRegistry, place: str) -> LoadedBlock:
    if not isinstance(block_type, str):
        raise ManifestError("every step needs a 'type' naming its block", place=place)
    found = registry.find(block_type)  # a library not needed yet stays unimported
    if found is not None:
        return found
    close = close_matches(block_type, registry.by_type, n=3, cutoff=0.5)
    lowered = [name for name in registry.by_type if name.lower() == block_type.lower()]
    suggestions = list(dict.fromkeys(lowered + close))
    hint = f"did you mean {', '.join(repr(s) for s in suggestions)}?" if suggestions else None
    from visionflow.blocks.roboflow.not_local import why_not_local  # an error path only

    raise UnknownBlockTypeError(
        f"unknown block type '{block_type}'",
        place=place,
        hint=why_not_local(block_type)
        or hint
        or "`visionflow blocks` lists every available block type",
    )


# Fields Roboflow's older manifests had (before its engine 1.0; ``raw_image`` on contours), found
# in published definitions; Roboflow's engine ignores them now, and so does visionflow
# (any other field a block lacks is a compile error naming it).
LEGACY_ROBOFLOW_FIELDS = frozenset({"image_metadata", "prediction_type", "raw_image"})


def _validate(raw: dict, loaded: LoadedBlock, place: str) -> BlockManifest:
    manifest_class = loaded.block_class.Manifest
    legacy = LEGACY_ROBOFLOW_FIELDS.intersection(raw).difference(manifest_class.model_fields)
    if legacy:
        raw = {key: value for key, value in raw.items() if key not in legacy}
    try:
        return manifest_class.model_validate(raw)
    except ValidationError as error:
        raise _manifest_error(error, manifest_class, raw, place) from None
    except WorkflowError as error:  # raised by manifests that check more (expressions, targets)
        raise error.at(place) from None


def _manifest_error(error: ValidationError, manifest_class, raw: dict, place: str) -> ManifestError:
    errors = error.errors()
    # An unknown field is usually a misspelt one: report it before the "missing" it causes.
    first = next((item for item in errors if item["type"] == "extra_forbidden"), errors[0])
    field_name = str(first["loc"][0]) if first["loc"] else "?"
    fields = [name for name in manifest_class.model_fields if name not in ("name", "type")]
    if first["type"] == "extra_forbidden":
        close = close_matches(field_name, fields, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"its fields are: {', '.join(fields)}"
        return ManifestError(f"unknown field '{field_name}'", place=place, hint=hint)
    if first["type"] == "missing":
        return ManifestError(
            f"missing required field '{field_name}'",
            place=place,
            hint=f"its fields are: {', '.join(fields)}",
        )
    infos = manifest_selectors(manifest_class).get(_field_named(manifest_class, field_name), [])
    messages = sorted(
        {_readable(item, infos) for item in errors if item["loc"][:1] == (field_name,)}
    )
    found = raw.get(field_name)
    # a field that takes a secret never has its value quoted: a token given literally, even
    # of the wrong type, must not reach error texts, logs or the server's answers
    shown = repr(found)
    if any("secret" in info.kinds for info in infos):
        shown = f"a {type(found).__name__}, not shown: the field takes a secret"
    return ManifestError(
        f"field '{field_name}' is invalid: {'; or '.join(messages)} (found {shown})",
        place=f"{place} field '{field_name}'",
        hint=_selector_hint(found) if infos else None,
    )


def _selector_hint(found: Any) -> str | None:
    """For a field refusing a text as a selector: the selector it most likely meant."""
    meant = meant_selector(found) if isinstance(found, str) else None
    return f"did you mean '{meant}'?" if meant else None


def _field_named(manifest_class, name: str) -> str:
    """The field a document's name stands for: its own name, or another (``image``)."""
    for field, info in manifest_class.model_fields.items():
        alias = info.validation_alias
        if name in (alias.choices if isinstance(alias, AliasChoices) else [alias]):
            return field
    return name


def _readable(item: dict, infos: list[SelectorInfo]) -> str:
    """Pydantic's message, with selector patterns said in words instead of a regex."""
    if item["type"] != "string_pattern_mismatch":
        return item["msg"]
    if any(info.step_reference for info in infos):
        return "expected a step reference like $steps.<step name>"
    kinds = sorted(frozenset().union(*(info.kinds for info in infos)))
    return (
        f"expected a selector of kind {', '.join(kinds)} ($inputs.<name> or $steps.<step>.<output>)"
    )


def _check_duplicate_inputs(definition: Definition) -> None:
    seen: dict[str, int] = {}
    for position, item in enumerate(definition.inputs):
        if item.name in seen:
            raise DuplicateNameError(
                f"input name '{item.name}' is used twice (also by inputs[{seen[item.name]}])",
                place=f"inputs[{position}] '{item.name}'",
            )
        seen[item.name] = position
