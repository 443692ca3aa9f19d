"""Blocks defined inside a document in Roboflow's schema, translated for ``blocks/dynamic.py``.

Roboflow Workflows writes an in-document block as ``{"type": "DynamicBlockDefinition",
"manifest": {"type": "ManifestDescription", ...}, "code": {"type": "PythonCode", ...}}``,
each input a ``DynamicInputDefinition`` saying which selectors it takes (``selector_types``,
with their kinds in ``selector_data_kind``), which literal values (``value_types``) and its
default (``has_default_value`` + ``default_value``; ``is_optional`` lets it be null). This
module reads that schema (ignoring unknown keys, as Roboflow does) and hands
``dynamic.py``, the one builder, a definition in visionflow's schema plus what that schema
cannot say: each field's type and default, and the names Roboflow's code finds without
importing them (``sv``, ``np``, ``Batch``, ``WorkflowImageData``, ...).

visionflow's selectors do not tell an input from a step output: ``input_image`` and
``step_output_image`` both take any image selector, ``step_output`` and ``generic`` any
selector of their kinds; an input whose only selector type is ``input_parameter``
refuses batch-oriented values at compile time (Roboflow's parameter selector).
"""

from __future__ import annotations

import functools
import importlib
import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from visionflow.blocks.api import Batch, Selector
from visionflow.data.image import WorkflowImage
from visionflow.errors import DefinitionError
from visionflow.kinds import WILDCARD, all_kinds, is_known
from visionflow.suggestions import close_matches

SELECTOR_TYPES = (
    "input_image",
    "step_output_image",
    "input_parameter",
    "step_output",
    "generic",
)
_IMAGE_SELECTORS = {"input_image", "step_output_image"}  # kind `image`, whatever else is said
_SCALAR_SELECTORS = {"input_parameter"}  # never a batch-oriented value
VALUE_TYPES: dict[str, Any] = {
    "any": Any,
    "integer": int,
    "float": float,
    "boolean": bool,
    "dict": dict,
    "list": list,
    "string": str,
}
# what Roboflow's engine imports for every block's code, so unchanged code finds the names
_BASELINE_MODULES = {
    "sv": "supervision",
    "np": "numpy",
    "math": "math",
    "time": "time",
    "json": "json",
    "os": "os",
    "requests": "requests",
    "cv2": "cv2",
    "shapely": "shapely",
}


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")  # Roboflow's engine ignores unknown keys too


class RoboflowInput(_Lenient):
    type: Literal["DynamicInputDefinition"] = "DynamicInputDefinition"
    selector_types: list[str] = Field(default_factory=list)
    selector_data_kind: dict[str, list[str]] = Field(default_factory=dict)
    value_types: list[str] = Field(default_factory=list)
    is_optional: bool = False
    has_default_value: bool = False
    default_value: Any = None
    is_dimensionality_reference: bool = False
    dimensionality_offset: int = Field(default=0, ge=-1, le=1)


class RoboflowOutput(_Lenient):
    type: Literal["DynamicOutputDefinition"] = "DynamicOutputDefinition"
    kind: list[str] = Field(default_factory=list)  # empty: any kind


class RoboflowManifest(_Lenient):
    type: Literal["ManifestDescription"] = "ManifestDescription"
    block_type: str = Field(min_length=1)
    description: str | None = None
    inputs: dict[str, RoboflowInput]
    outputs: dict[str, RoboflowOutput] = Field(default_factory=dict)
    output_dimensionality_offset: int = Field(default=0, ge=-1, le=1)
    accepts_batch_input: bool = False
    accepts_empty_values: bool = False
    # newer manifests: which parameters take batches (cast from a scalar when given one)
    # and which take batches or scalars as given; either makes the block take batches
    batch_oriented_parameters: list[str] = Field(default_factory=list)
    parameters_with_scalars_and_batches: list[str] = Field(default_factory=list)
    # parameters a scalar is cast into a batch for, whatever else the manifest says (for
    # blocks that gather without naming their batch parameters)
    get_parameters_enforcing_auto_batch_casting: list[str] = Field(default_factory=list)


class RoboflowCode(_Lenient):
    type: Literal["PythonCode"] = "PythonCode"
    run_function_code: str
    run_function_name: str = "run"
    init_function_code: str | None = None
    init_function_name: str = "init"
    imports: list[str] = Field(default_factory=list)


class RoboflowBlockDefinition(_Lenient):
    type: Literal["DynamicBlockDefinition"] = "DynamicBlockDefinition"
    manifest: RoboflowManifest
    code: RoboflowCode


@dataclass(frozen=True)
class TranslatedBlock:
    """What ``dynamic.py`` builds a Roboflow-schema block from."""

    definition: dict[str, Any]
    """The definition in visionflow's schema (block type, outputs, flags, code)."""
    fields: dict[str, tuple[Any, Any]]
    """Each manifest field's type and default (``...`` when the field is required)."""
    namespace: dict[str, Any]
    """The names the code finds without importing them, as in Roboflow's engine."""


@dataclass(frozen=True)
class _Where:
    """A field of the definition, as errors name it: ``<place> field '<path>'``."""

    place: str
    path: str

    def inside(self, part: str) -> _Where:
        return _Where(self.place, f"{self.path}.{part}")

    def at(self, part: str = "") -> str:
        return f"{self.place} field '{self.inside(part).path if part else self.path}'"


def is_roboflow_definition(raw: Any) -> bool:
    """Whether a ``dynamic_blocks_definitions`` entry is written in Roboflow's schema: its
    manifest is a ``ManifestDescription`` or its code ``PythonCode`` (visionflow's own
    schema names neither)."""
    if not isinstance(raw, dict):
        return False
    manifest, code = raw.get("manifest"), raw.get("code")
    return (isinstance(manifest, dict) and manifest.get("type") == "ManifestDescription") or (
        isinstance(code, dict) and code.get("type") == "PythonCode"
    )


def translate_roboflow(raw: dict[str, Any], place: str) -> TranslatedBlock:
    """A Roboflow-schema definition as ``dynamic.py`` builds it; a mistake in the manifest
    is a ``DefinitionError`` at ``place`` naming the field (``manifest.inputs.x.value_types``)."""
    try:
        definition = RoboflowBlockDefinition.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise DefinitionError(f"field '{where}': {first['msg']}", place=place) from None
    manifest, code = definition.manifest, definition.code
    if code.init_function_code is not None and not code.init_function_code.strip():
        # Roboflow's engine then looks for the init function and does not find it
        raise DefinitionError(
            f"the block's code defines no function '{code.init_function_name}'",
            place=f"{place} field 'code.init_function_code'",
            hint="write the init function there, or leave init_function_code out",
        )
    _check_one_dimensionality_reference(manifest, place)
    _check_batch_parameters(manifest, place)
    fields = {
        name: _field(name, spec, _Where(place, f"manifest.inputs.{name}"))
        for name, spec in manifest.inputs.items()
    }
    return TranslatedBlock(_visionflow_definition(manifest, code), fields, _baseline_namespace())


def _visionflow_definition(manifest: RoboflowManifest, code: RoboflowCode) -> dict[str, Any]:
    return {
        "manifest": {
            "block_type": manifest.block_type,
            "description": manifest.description or "",
            "inputs": {name: {} for name in manifest.inputs},  # their types are in `fields`
            "outputs": {
                name: {"kind": output.kind or [WILDCARD]}
                for name, output in manifest.outputs.items()
            },
            "accepts_batch_input": manifest.accepts_batch_input
            or bool(manifest.batch_oriented_parameters)
            or bool(manifest.parameters_with_scalars_and_batches),
            "batch_fields": _cast_parameters(manifest),
            "accepts_empty_values": manifest.accepts_empty_values,
            "output_dimensionality_offset": manifest.output_dimensionality_offset,
            "input_dimensionality_offsets": {
                name: spec.dimensionality_offset
                for name, spec in manifest.inputs.items()
                if spec.dimensionality_offset
            },
            "dimensionality_reference": next(
                (n for n, spec in manifest.inputs.items() if spec.is_dimensionality_reference),
                None,
            ),
        },
        "code": code.model_dump(exclude={"type"}),
    }


def _field(name: str, spec: RoboflowInput, where: _Where) -> tuple[Any, Any]:
    """The manifest field of one input: (its type, its default or ``...``)."""
    if spec.dimensionality_offset == -1:
        raise DefinitionError(
            f"input '{name}' has dimensionality_offset -1, which visionflow does not support",
            place=where.at("dimensionality_offset"),
            hint="an input may be 0 or 1 level deeper than the others; to gather nested "
            "values, use output_dimensionality_offset -1",
        )
    options: list[Any] = []
    kinds = _selector_kinds(name, spec, where)
    if kinds:
        # an input that takes parameters only refuses a batch at compile time, as in Roboflow
        scalar_only = set(spec.selector_types) <= _SCALAR_SELECTORS
        options.append(Selector(kinds=kinds, scalar_only=scalar_only))
    options += [_value_type(name, value_type, where) for value_type in spec.value_types]
    if not options:
        raise DefinitionError(
            f"input '{name}' takes neither selectors nor values",
            place=where.at(),
            hint='give it selector_types (e.g. ["step_output"]) or value_types (e.g. ["integer"])',
        )
    annotation = typing.Union[tuple(options)] if len(options) > 1 else options[0]  # noqa: UP007
    if spec.is_optional:
        annotation = annotation | None
    return annotation, spec.default_value if spec.has_default_value else ...


def _selector_kinds(name: str, spec: RoboflowInput, where: _Where) -> list[str]:
    """The kinds the input's selectors may carry (``*`` for a selector type without
    ``selector_data_kind``); none when it takes no selectors."""
    for selector_type in [*spec.selector_types, *spec.selector_data_kind]:
        if selector_type not in SELECTOR_TYPES:
            field = (
                "selector_types" if selector_type in spec.selector_types else "selector_data_kind"
            )
            close = close_matches(selector_type, SELECTOR_TYPES, n=1)
            raise DefinitionError(
                f"input '{name}' has unknown selector type {selector_type!r}",
                place=where.at(field),
                hint=(f"did you mean {close[0]!r}? " if close else "")
                + f"selector types: {', '.join(SELECTOR_TYPES)}",
            )
    kinds: list[str] = []
    for selector_type in spec.selector_types:
        declared = spec.selector_data_kind.get(selector_type, [WILDCARD])
        _check_kinds(name, declared, where.inside(f"selector_data_kind.{selector_type}"))
        for kind in ["image"] if selector_type in _IMAGE_SELECTORS else declared:
            if kind not in kinds:
                kinds.append(kind)
    return kinds


def _check_kinds(name: str, kinds: list[str], where: _Where) -> None:
    unknown = [kind for kind in kinds if not is_known(kind)]
    if unknown:
        close = close_matches(unknown[0], [kind.name for kind in all_kinds()], n=3)
        raise DefinitionError(
            f"input '{name}' has unknown kinds {unknown}",
            place=where.at(),
            hint=f"did you mean {', '.join(map(repr, close))}?"
            if close
            else "`visionflow kinds` lists the known kinds",
        )


def _value_type(name: str, value_type: str, where: _Where) -> Any:
    if value_type not in VALUE_TYPES:
        close = close_matches(value_type, list(VALUE_TYPES), n=1)
        raise DefinitionError(
            f"input '{name}' has unknown value type {value_type!r}",
            place=where.at("value_types"),
            hint=(f"did you mean {close[0]!r}? " if close else "")
            + f"value types: {', '.join(VALUE_TYPES)}",
        )
    return VALUE_TYPES[value_type]


def _cast_parameters(manifest: RoboflowManifest) -> list[str]:
    """The batch-oriented parameters (and those enforcing auto batch casting) a scalar is
    cast into a batch for: as in Roboflow, not those that also take a parameter selector (a
    parameter's value arrives as it is)."""
    named = [
        *manifest.batch_oriented_parameters,
        *manifest.get_parameters_enforcing_auto_batch_casting,
    ]
    return [
        name
        for name in dict.fromkeys(named)
        if name in manifest.inputs
        and not set(manifest.inputs[name].selector_types) & _SCALAR_SELECTORS
    ]


def _check_batch_parameters(manifest: RoboflowManifest, place: str) -> None:
    for field in (
        "batch_oriented_parameters",
        "parameters_with_scalars_and_batches",
        "get_parameters_enforcing_auto_batch_casting",
    ):
        unknown = [name for name in getattr(manifest, field) if name not in manifest.inputs]
        if unknown:
            raise DefinitionError(
                f"{field} names {unknown}, which are not inputs of the block",
                place=f"{place} field 'manifest.{field}'",
                hint=f"the block's inputs are: {', '.join(manifest.inputs) or 'none'}",
            )


def _check_one_dimensionality_reference(manifest: RoboflowManifest, place: str) -> None:
    references = [n for n, spec in manifest.inputs.items() if spec.is_dimensionality_reference]
    if len(references) > 1:
        raise DefinitionError(
            f"inputs {references} are all declared the dimensionality reference",
            place=f"{place} field 'manifest.inputs'",
            hint="at most one input may be the dimensionality reference",
        )


def _baseline_namespace() -> dict[str, Any]:
    """A fresh copy per block: the code's module-level names live in it."""
    return dict(_baseline_names())


@functools.cache
def _baseline_names() -> dict[str, Any]:
    names: dict[str, Any] = {
        "Any": Any,
        "List": typing.List,  # noqa: UP006 - the names Roboflow's code is written with
        "Dict": typing.Dict,  # noqa: UP006
        "Set": typing.Set,  # noqa: UP006
        "Optional": typing.Optional,
        "Batch": Batch,
        "WorkflowImageData": WorkflowImage,  # with `numpy_image`, as Roboflow's images
        "BlockResult": dict[str, Any] | list[dict[str, Any]],
    }
    for alias, module in _BASELINE_MODULES.items():
        try:
            names[alias] = importlib.import_module(module)
        except ImportError:  # not installed here: code that uses it fails naming it
            continue
    return names
