"""Blocks defined inside a document (``dynamic_blocks_definitions``), built before parsing.

Each definition has a ``manifest`` (the type name, inputs with the kinds their selectors
may carry and optional defaults, outputs with kinds, batch / empty-value flags,
dimensionality offsets) and ``code`` (a ``run`` function, optional ``init`` and
``imports``). The code is compiled here into a real Block class; a mistake in it is a
compile error naming the block, the line and the code there.

Running code from a document is custom code: refused unless ``allow_custom_code``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from visionflow.blocks.api import Block, Output, Selector
from visionflow.errors import CustomCodeNotAllowedError, DefinitionError
from visionflow.kinds import WILDCARD, is_known


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DynamicInput(_Strict):
    """A field of the block: a selector of these kinds, or a literal when it has a default."""

    kind: list[str] = Field(default_factory=lambda: [WILDCARD])
    default: Any = None
    optional: bool = False
    description: str = ""


class DynamicOutput(_Strict):
    kind: list[str] = Field(default_factory=lambda: [WILDCARD])


class DynamicManifest(_Strict):
    block_type: str = Field(min_length=1)
    description: str = ""
    inputs: dict[str, DynamicInput] = Field(default_factory=dict)
    outputs: dict[str, DynamicOutput] = Field(default_factory=dict)
    accepts_batch_input: bool = False
    accepts_empty_values: bool = False
    output_dimensionality_offset: Literal[-1, 0, 1] = 0
    input_dimensionality_offsets: dict[str, Literal[0, 1]] = Field(default_factory=dict)


class DynamicCode(_Strict):
    run_function_code: str
    run_function_name: str = "run"
    init_function_code: str | None = None
    init_function_name: str = "init"
    imports: list[str] = Field(default_factory=list)


class DynamicBlockDefinition(_Strict):
    type: Literal["DynamicBlockDefinition"] = "DynamicBlockDefinition"
    manifest: DynamicManifest
    code: DynamicCode


def build_dynamic_blocks(
    definitions: list[dict[str, Any]], *, allow_custom_code: bool
) -> list[type[Block]]:
    """Block classes for a document's ``dynamic_blocks_definitions``."""
    blocks = []
    for position, raw in enumerate(definitions):
        name = (raw.get("manifest") or {}).get("block_type", "?") if isinstance(raw, dict) else "?"
        place = f"dynamic_blocks_definitions[{position}] '{name}'"
        if not allow_custom_code:
            raise CustomCodeNotAllowedError(
                "this document defines a block with Python code, "
                "and custom code is not allowed here",
                place=place,
                hint="compile with allow_custom_code=True where documents come from people "
                "you trust",
            )
        blocks.append(_build(_validated(raw, place), place))
    return blocks


def _validated(raw: Any, place: str) -> DynamicBlockDefinition:
    try:
        return DynamicBlockDefinition.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise DefinitionError(f"field '{where}': {first['msg']}", place=place) from None


def _build(definition: DynamicBlockDefinition, place: str) -> type[Block]:
    manifest = definition.manifest
    for name, output in manifest.outputs.items():
        unknown = [kind for kind in output.kind if not is_known(kind)]
        if unknown:
            raise DefinitionError(f"output '{name}' has unknown kinds {unknown}", place=place)
    namespace = _run_code(definition.code, manifest.block_type, place)
    run = _function(namespace, definition.code.run_function_name, place)
    init = None
    if definition.code.init_function_code:
        init = _function(namespace, definition.code.init_function_name, place)

    class DynamicBlock(Block):
        Manifest = _manifest_model(manifest)
        outputs = [Output(name, kinds=output.kind) for name, output in manifest.outputs.items()]
        accepts_batches = manifest.accepts_batch_input
        accepts_empty = manifest.accepts_empty_values
        output_dimensionality_offset = manifest.output_dimensionality_offset
        input_dimensionality_offsets = dict(manifest.input_dimensionality_offsets)

        def __init__(self, **init_parameters: Any):
            super().__init__(**init_parameters)
            self.init_results = init() if init else {}

        def run(self, **fields: Any) -> Any:
            return run(self, **fields)

    DynamicBlock.__name__ = DynamicBlock.__qualname__ = _class_name(manifest.block_type)
    DynamicBlock.__doc__ = (
        manifest.description or f"Block {manifest.block_type} (from the document)."
    )
    return DynamicBlock


def _manifest_model(manifest: DynamicManifest) -> type:
    fields: dict[str, Any] = {"type": (Literal[manifest.block_type], ...)}
    for name, spec in manifest.inputs.items():
        annotation = Selector(kinds=spec.kind) | Any
        has_default = spec.optional or "default" in spec.model_fields_set
        fields[name] = (annotation, spec.default if has_default else ...)
    return create_model(
        f"{_class_name(manifest.block_type)}Manifest", __base__=Block.Manifest, **fields
    )


def _run_code(code: DynamicCode, block_type: str, place: str) -> dict[str, Any]:
    source = "\n".join([*code.imports, code.run_function_code, code.init_function_code or ""])
    filename = f"<dynamic block {block_type}>"
    try:
        compiled = compile(source, filename, "exec")
    except SyntaxError as error:
        line = (error.text or "").rstrip()
        raise DefinitionError(
            f"the block's code does not compile: {error.msg} at line {error.lineno}: {line!r}",
            place=f"{place} field 'code'",
            hint="lines are counted from the first import, then run_function_code, then init",
        ) from None
    namespace: dict[str, Any] = {"__name__": f"visionflow_dynamic_{_class_name(block_type)}"}
    try:
        exec(compiled, namespace)  # the point of a dynamic block: allowed by the caller
    except Exception as error:
        raise DefinitionError(
            f"the block's code failed while loading: {type(error).__name__}: {error}",
            place=f"{place} field 'code'",
        ) from None
    return namespace


def _function(namespace: dict[str, Any], name: str, place: str):
    function = namespace.get(name)
    if not callable(function):
        raise DefinitionError(
            f"the block's code defines no function '{name}'",
            place=f"{place} field 'code'",
            hint="write `def run(self, <inputs>...)` returning a dict of the outputs",
        )
    return function


def _class_name(block_type: str) -> str:
    cleaned = "".join(part.capitalize() for part in block_type.replace("/", "_").split("_") if part)
    return "".join(c for c in cleaned if c.isalnum()) or "DynamicBlock"
