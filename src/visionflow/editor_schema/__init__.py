"""A JSON Schema of a whole native workflow document, so that editors check it as it is typed.

Each step is checked against its block's manifest, the single source: the step's ``type``
(any type name or alias of a loaded block, plugins' included) picks the block, whose fields
are its manifest's JSON Schema (pydantic's), with what pydantic leaves out put back: both
names of a field that has two (``image`` / ``images``: one of them, not both), the fields
of Roboflow's older manifests the compiler ignores, and the kinds of selector each field
takes. Draft-07: the draft yaml-language-server (VS Code's YAML extension) implements;
``jsonschema`` validates with it too.

    >>> schema = workflow_schema()
    >>> schema["properties"]["steps"]["type"]
    'array'
"""

from __future__ import annotations

import copy
import functools
import re
import typing
from typing import Any

from pydantic import AliasChoices, BeforeValidator, PlainValidator, WrapValidator

from visionflow.blocks.api import Block, manifest_selectors
from visionflow.blocks.dynamic import DynamicBlockDefinition
from visionflow.blocks.loader import BlockRegistry, LoadedBlock, load_registry, plugin_modules
from visionflow.compiler.steps import LEGACY_ROBOFLOW_FIELDS
from visionflow.definition import (
    INPUT_TYPE_ALIASES,
    MAX_NAME,
    InputDefinition,
    OutputDefinition,
)
from visionflow.editor_schema.draft07 import from_pydantic
from visionflow.kinds import WILDCARD, all_kinds
from visionflow.selectors import DATA_SELECTORS, SELECTOR_PATTERN

DRAFT = "http://json-schema.org/draft-07/schema#"
SCHEMA_ID = "urn:visionflow:workflow"
BLOCK_SCHEMA_ID = "urn:visionflow:block:"
REF = "#/definitions/"


def workflow_schema() -> dict[str, Any]:
    """The schema of a native document, with the blocks loaded here (cached per plugin set)."""
    return copy.deepcopy(_workflow_schema(plugin_modules()))


def block_schema(loaded: LoadedBlock) -> dict[str, Any]:
    """One block's step schema, standalone (``visionflow schema --block TYPE``)."""
    key = block_key(loaded.block_class.type_names()[0])
    definitions = _block_definitions(loaded.block_class, _names_by_class(load_registry()), key)
    step = definitions.pop(key)
    return {"$schema": DRAFT, "$id": BLOCK_SCHEMA_ID + loaded.block_class.type_names()[0]} | {
        **step,
        "definitions": definitions,
    }


@functools.cache
def _workflow_schema(plugins: tuple[str, ...]) -> dict[str, Any]:
    registry = load_registry()  # plugins register their kinds as they load: kinds read after
    definitions = {
        "input": _input_schema(),
        "output": _output_schema(),
        **_dynamic_block_schemas(),
        **_step_schemas(registry),
    }
    return {
        "$schema": DRAFT,
        "$id": SCHEMA_ID,
        "title": "visionflow workflow",
        "description": "A workflow document in visionflow's native (Roboflow's) dialect: "
        "inputs, steps (each checked against its block) and outputs. "
        "`visionflow validate` compiles it and checks the rest (selectors, kinds, batches).",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "version": {
                "type": ["string", "number"],
                "description": "The version of Roboflow's Execution Engine the document is "
                "written for: 1.0 up to 1.13.0.",
            },
            "inputs": {
                "type": "array",
                "description": "The workflow's inputs: images, parameters and batches.",
                "items": {"$ref": REF + "input"},
            },
            "steps": {
                "type": "array",
                "description": "The steps, each a block of the `type` it names.",
            },
            "outputs": {
                "type": "array",
                "description": "What each result holds: a name for a selected value.",
                "items": {"$ref": REF + "output"},
            },
            "models": {
                "type": "object",
                "description": "Model entries by name (`visionflow models` lists the zoo).",
            },
            "settings": {
                "type": "object",
                "description": "Workflow-wide settings (model performance properties, "
                "max_concurrent_steps).",
            },
            "dynamic_blocks_definitions": {
                "type": "array",
                "description": "Blocks defined in the document, with Python code (run only "
                "where custom code is allowed).",
                "items": {"$ref": REF + "dynamic_block"},
            },
        },
        # A step may name a block the document defines itself: its type is then unknown here.
        "if": {
            "required": ["dynamic_blocks_definitions"],
            "properties": {"dynamic_blocks_definitions": {"type": "array", "minItems": 1}},
        },
        "then": {"properties": {"steps": {"items": {"$ref": REF + "step_of_any_block"}}}},
        "else": {"properties": {"steps": {"items": {"$ref": REF + "step"}}}},
        "definitions": definitions,
    }


# --- steps ---------------------------------------------------------------------------------


def _step_schemas(registry: BlockRegistry) -> dict[str, Any]:
    """``step`` (a known block's), ``step_of_any_block`` and each block's manifest schema."""
    names = _names_by_class(registry)
    definitions: dict[str, Any] = {}
    dispatch = []
    for loaded in registry.block_classes():
        key = _unique(block_key(loaded.block_class.type_names()[0]), definitions)
        definitions.update(_block_definitions(loaded.block_class, names, key))
        # `step` checks the name: said once, not again by the block
        definitions[key]["properties"]["name"] = {}
        required = definitions[key].get("required", [])
        definitions[key]["required"] = [name for name in required if name != "name"]
        # if/then on `type` rather than oneOf: an error is reported inside the chosen block
        # (at its field), not as "valid under none of 180 schemas"
        chosen = {"properties": {"type": {"enum": names[loaded.block_class]}}, "required": ["type"]}
        dispatch.append({"if": chosen, "then": {"$ref": REF + key}})
    every_name = sorted(name for group in names.values() for name in group)
    known = {"enum": every_name}  # described by the block's own `type` (hovering tells which)
    definitions["blocks"] = {"allOf": dispatch}
    definitions["step"] = _step_base(known)
    definitions["step_of_any_block"] = _step_base(
        {"type": "string", "description": "A loaded block, or one the document defines."}
    )
    return definitions


def _step_base(type_schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["name", "type"],
        "properties": {"name": _NAME, "type": type_schema},
        "allOf": [{"$ref": REF + "blocks"}],
    }


_NAME = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_NAME,
    "description": "The step's name, unique: $steps.<name>.<output> reads its outputs.",
}


def _names_by_class(registry: BlockRegistry) -> dict[type[Block], list[str]]:
    """Every name each block answers to in this registry (its type names and aliases)."""
    names: dict[type[Block], list[str]] = {}
    for name, loaded in registry.by_type.items():
        names.setdefault(loaded.block_class, []).append(name)
    return names


def block_key(type_name: str) -> str:
    """Where a block's step schema is, under ``definitions``."""
    return "block." + re.sub(r"[^A-Za-z0-9_.-]+", "_", type_name)


def _unique(key: str, taken: dict[str, Any]) -> str:
    found, number = key, 1
    while found in taken:
        number += 1
        found = f"{key}_{number}"
    return found


def _block_definitions(
    block_class: type[Block], names: dict[type[Block], list[str]], key: str
) -> dict[str, Any]:
    """The block's step schema under ``key``, its nested models' under ``key.Model``."""
    manifest = block_class.Manifest
    schema = manifest.model_json_schema(ref_template=REF + key + ".{model}")
    nested = {
        f"{key}.{name}": from_pydantic(value) for name, value in schema.pop("$defs", {}).items()
    }
    return {
        **nested,
        key: _manifest_schema(block_class, from_pydantic(schema), names[block_class]),
    }


def _manifest_schema(
    block_class: type[Block], schema: dict[str, Any], names: list[str]
) -> dict[str, Any]:
    manifest = block_class.Manifest
    properties: dict[str, Any] = schema.setdefault("properties", {})
    required: list[str] = schema.setdefault("required", [])
    constraints: list[dict[str, Any]] = []
    selectors = manifest_selectors(manifest)
    for field, info in manifest.model_fields.items():
        if field in ("name", "type"):
            continue
        spellings = field_names(field, info)
        shown = next((name for name in spellings if name in properties), None)
        if shown is None:
            continue
        _describe_selectors(properties[shown], selectors.get(field, []))
        if _validated_before(manifest, field, info):
            properties[shown] = _widened(properties[shown])
        others = [name for name in spellings if name != shown]
        for other in others:  # accepted, not offered: completion shows the block's own name
            properties[other] = {**copy.deepcopy(properties[shown]), "doNotSuggest": True}
        if others:
            constraints.append(_either_name(spellings, required))
    for legacy in sorted(LEGACY_ROBOFLOW_FIELDS.difference(properties)):
        properties[legacy] = {
            "description": "A field of Roboflow's older manifests: ignored.",
            "doNotSuggest": True,
        }
    properties["name"] = _NAME
    description = block_class.description()
    said = f"{description}\n\n" if description else ""
    properties["type"] = {"enum": names, "description": f"{said}Type names: {', '.join(names)}."}
    schema["title"] = names[0]
    if description:
        schema["description"] = description
    if constraints:
        schema["allOf"] = constraints
    return schema


def field_names(field: str, info: Any) -> list[str]:
    """The names a document may give a field (pydantic reads the first it finds)."""
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return [choice for choice in alias.choices if isinstance(choice, str)]
    if isinstance(alias, str):
        return [alias]
    return [info.alias or field]


def _validated_before(manifest: Any, field: str, info: Any) -> bool:
    """Whether code reads the field's value before its type does (Roboflow's older forms,
    names in any case): the value written may then be something else than the type says."""
    decorators = manifest.__pydantic_decorators__.field_validators.values()
    if any(field in item.info.fields and item.info.mode != "after" for item in decorators):
        return True
    return _has_early_validator(info.metadata) or _has_early_validator([info.annotation])


def _has_early_validator(annotations: list[Any]) -> bool:
    for annotation in annotations:
        if isinstance(annotation, BeforeValidator | WrapValidator | PlainValidator):
            return True
        if _has_early_validator(list(getattr(annotation, "__metadata__", ()))):
            return True
        arguments = typing.get_args(annotation)
        if _has_early_validator([a for a in arguments if not isinstance(a, str | int | float)]):
            return True
    return False


def _widened(schema: dict[str, Any]) -> dict[str, Any]:
    """The declared type kept for completions and hover, anything else let through: only the
    field's validator knows what else it reads (``visionflow validate`` runs it)."""
    kept = {key: schema[key] for key in ("description", "default") if key in schema}
    return {**kept, "anyOf": [schema, {}]}


def _either_name(names: list[str], required: list[str]) -> dict[str, Any]:
    """One field under two names: either (one of them when required), never both, as the
    compiler reads it (the later name given is an unknown field, refused at it). The
    ``errorMessage`` is what the YAML and JSON language servers then say."""
    said = " or ".join(f"'{name}'" for name in names)
    checks: dict[str, Any] = {
        "dependencies": {
            name: {
                "properties": dict.fromkeys(names[position + 1 :], False),
                "errorMessage": f"{said} name one field: give only one.",
            }
            for position, name in enumerate(names[:-1])
        }
    }
    if any(name in required for name in names):
        required[:] = [name for name in required if name not in names]
        checks["anyOf"] = [{"required": [name]} for name in names]
        checks["errorMessage"] = f"Missing property {said}."
    return checks


def _describe_selectors(schema: dict[str, Any], infos: list[Any]) -> None:
    """Say in the field's description which selectors it takes (hover text)."""
    if not infos:
        return
    if any(info.step_reference for info in infos):
        said = "Takes step references: $steps.<step name>."
    else:
        kinds = sorted(frozenset().union(*(info.kinds for info in infos)))
        said = f"Takes a selector ({DATA_SELECTORS}) of kind {', '.join(kinds)}."
        if any(info.scalar_only for info in infos):
            said += " Parameters only: one value for the whole run."
    known = schema.get("description")
    schema["description"] = f"{known} {said}" if known else said


# --- inputs, outputs, blocks defined in the document ---------------------------------------


def _input_schema() -> dict[str, Any]:
    schema = from_pydantic(InputDefinition.model_json_schema())
    kinds = [WILDCARD, *(kind.name for kind in all_kinds() if kind.name != WILDCARD)]
    kind = {"type": "string", "examples": kinds}
    schema["description"] = (
        "An input: image (WorkflowImage), parameter (WorkflowParameter: one value for the "
        "whole run) or batch (WorkflowBatchInput)."
    )
    properties = schema["properties"]
    properties["type"] = {
        "enum": list(INPUT_TYPE_ALIASES),
        "description": "image, parameter or batch, or one of Roboflow's names for them.",
    }
    properties["name"]["description"] = "The input's name: $inputs.<name> reads it."
    properties["kind"] = {
        "anyOf": [kind, {"type": "array", "items": kind}],
        "default": [WILDCARD],
        "description": "The kinds of value it takes (`visionflow kinds` lists them).",
    }
    properties["default_value"]["description"] = "The value when a run does not give one."
    properties["dimensionality"]["description"] = "Its nesting: 1 a batch, 2 a batch of lists..."
    return schema


def _output_schema() -> dict[str, Any]:
    schema = from_pydantic(OutputDefinition.model_json_schema())
    schema["description"] = "One entry of each result: `name` holds the value `selector` reads."
    properties = schema["properties"]
    properties["type"]["description"] = "Always JsonField."
    properties["name"]["description"] = "The entry's name in each result."
    properties["selector"].update(
        pattern=SELECTOR_PATTERN, description=f"What it holds: {DATA_SELECTORS}."
    )
    properties["coordinates_system"]["description"] = (
        "parent: detections on crops given in the input image's coordinates; own: the crop's."
    )
    return schema


def _dynamic_block_schemas() -> dict[str, Any]:
    """visionflow's schema of a block defined in the document, or Roboflow's (read loosely)."""
    own = from_pydantic(
        DynamicBlockDefinition.model_json_schema(ref_template=REF + "dynamic.{model}")
    )
    nested = {f"dynamic.{name}": item for name, item in own.pop("definitions", {}).items()}
    roboflow = {
        "anyOf": [
            {
                "required": ["manifest"],
                "properties": {
                    "manifest": {
                        "type": "object",
                        "required": ["type"],
                        "properties": {"type": {"const": "ManifestDescription"}},
                    }
                },
            },
            {
                "required": ["code"],
                "properties": {
                    "code": {
                        "type": "object",
                        "required": ["type"],
                        "properties": {"type": {"const": "PythonCode"}},
                    }
                },
            },
        ]
    }
    block = {
        "type": "object",
        "description": "A block defined in the document: its manifest and Python code.",
        "if": roboflow,
        "then": {"required": ["manifest", "code"]},
        "else": own,
    }
    return {"dynamic_block": block, **nested}
