"""Blocks defined inside a document (``dynamic_blocks_definitions``), built before parsing.

Each definition has a ``manifest`` (the type name, inputs with the kinds their selectors
may carry and optional defaults, outputs with kinds, batch / empty-value flags,
dimensionality offsets) and ``code`` (a ``run`` function, optional ``init`` and
``imports``). The code is compiled here into a real Block class; a mistake in it is a
compile error naming the block, the part of ``code`` (``run_function_code line 2``) and
the code there, and an exception it raises while running says the same. A block type may
not be one that is already known (a built-in or plugin block, or another dynamic block).

Roboflow's schema for the same thing (``ManifestDescription``, ``selector_types``,
``value_types``, ``PythonCode``, ...) is accepted too: ``dynamic_roboflow.py`` translates
it, and the block is built here like any other.

Running code from a document is custom code: refused unless ``allow_custom_code``.
"""

from __future__ import annotations

import keyword
import traceback
from collections.abc import Callable, Collection
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator

from visionflow.blocks.api import Block, Output, Selector
from visionflow.blocks.dynamic_roboflow import is_roboflow_definition, translate_roboflow
from visionflow.errors import CustomCodeNotAllowedError, DefinitionError
from visionflow.kinds import WILDCARD, all_kinds, is_known
from visionflow.suggestions import close_matches

_TAKEN_FIELD_NAMES = {"name", "type", *dir(Block.Manifest)}


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
    batch_fields: list[str] = Field(default_factory=list)  # Block.batch_fields
    accepts_empty_values: bool = False
    output_dimensionality_offset: Literal[-1, 0, 1] = 0
    input_dimensionality_offsets: dict[str, Literal[0, 1]] = Field(default_factory=dict)
    dimensionality_reference: str | None = None  # Block.dimensionality_reference

    @field_validator("inputs")
    @classmethod
    def _field_names(cls, inputs: dict[str, DynamicInput]) -> dict[str, DynamicInput]:
        # each input becomes a field of a pydantic model and a keyword of `run`
        for name in inputs:
            if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
                raise ValueError(f"input name {name!r} is not a Python identifier")
            if name in _TAKEN_FIELD_NAMES:
                raise ValueError(f"input name {name!r} is taken by every manifest")
        return inputs


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
    definitions: list[dict[str, Any]],
    *,
    allow_custom_code: bool,
    taken: Collection[str] = (),
) -> list[type[Block]]:
    """Block classes for a document's ``dynamic_blocks_definitions``.

    ``taken`` holds the type names (and aliases) of the blocks already known: a dynamic
    block may not silently replace one of them for this document.
    """
    blocks = []
    defined: dict[str, str] = {}  # block type -> the place of the definition that made it
    for position, raw in enumerate(definitions):
        place = f"dynamic_blocks_definitions[{position}] '{_declared_type(raw)}'"
        if not allow_custom_code:
            raise CustomCodeNotAllowedError(
                "this document defines a block with Python code, "
                "and custom code is not allowed here",
                place=place,
                hint="compile with allow_custom_code=True where documents come from people "
                "you trust",
            )
        fields, namespace = None, {}
        if is_roboflow_definition(raw):
            translated = translate_roboflow(raw, place)
            raw, fields, namespace = translated.definition, translated.fields, translated.namespace
        definition = _validated(raw, place)
        _check_type_is_new(definition.manifest.block_type, place, taken, defined)
        defined[definition.manifest.block_type] = place
        blocks.append(_build(definition, place, fields, namespace))
    return blocks


def _declared_type(raw: Any) -> str:
    """The block type a definition declares, to name it in errors, if it is a text."""
    manifest = raw.get("manifest") if isinstance(raw, dict) else None
    block_type = manifest.get("block_type") if isinstance(manifest, dict) else None
    return block_type if isinstance(block_type, str) else "?"


def _check_type_is_new(
    block_type: str, place: str, taken: Collection[str], defined: dict[str, str]
) -> None:
    where = f"{place} field 'manifest.block_type'"
    if block_type in defined:
        raise DefinitionError(
            f"block type '{block_type}' is defined twice (also by {defined[block_type]})",
            place=where,
            hint="give each dynamic block its own block_type",
        )
    if block_type in taken:
        raise DefinitionError(
            f"block type '{block_type}' is already the name of a block of the library",
            place=where,
            hint="a dynamic block cannot replace a built-in or plugin block: give it another "
            "block_type (`visionflow blocks` lists the names in use)",
        )


def _validated(raw: Any, place: str) -> DynamicBlockDefinition:
    try:
        return DynamicBlockDefinition.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise DefinitionError(f"field '{where}': {first['msg']}", place=place) from None


def _check_kinds(manifest: DynamicManifest, place: str) -> None:
    fields = [("input", "inputs", n, spec.kind) for n, spec in manifest.inputs.items()]
    fields += [("output", "outputs", n, spec.kind) for n, spec in manifest.outputs.items()]
    known = [kind.name for kind in all_kinds()]
    for what, section, name, kinds in fields:
        unknown = [kind for kind in kinds if not is_known(kind)]
        if unknown:
            close = close_matches(unknown[0], known, n=3)
            raise DefinitionError(
                f"{what} '{name}' has unknown kinds {unknown}",
                place=f"{place} field 'manifest.{section}.{name}.kind'",
                hint=f"did you mean {', '.join(map(repr, close))}?"
                if close
                else "`visionflow kinds` lists the known kinds",
            )


def _build(
    definition: DynamicBlockDefinition,
    place: str,
    fields: dict[str, tuple[Any, Any]] | None = None,
    namespace: dict[str, Any] | None = None,
) -> type[Block]:
    """The block class; ``fields`` (type, default) replace those made from the manifest's
    inputs, and the code starts with the names of ``namespace`` (both: Roboflow's schema)."""
    manifest = definition.manifest
    _check_kinds(manifest, place)
    code = _BlockCode(definition.code, manifest.block_type, place, namespace or {})
    run = code.function(definition.code.run_function_name)
    init = None
    if definition.code.init_function_code:
        init = code.function(definition.code.init_function_name)

    class DynamicBlock(Block):
        Manifest = _manifest_model(manifest, fields)
        outputs = [Output(name, kinds=output.kind) for name, output in manifest.outputs.items()]
        accepts_batches = manifest.accepts_batch_input
        batch_fields = frozenset(manifest.batch_fields)
        accepts_empty = manifest.accepts_empty_values
        output_dimensionality_offset = manifest.output_dimensionality_offset
        input_dimensionality_offsets = dict(manifest.input_dimensionality_offsets)
        dimensionality_reference = manifest.dimensionality_reference

        def __init__(self, **init_parameters: Any):
            super().__init__(**init_parameters)
            # `_init_results` is the name Roboflow's block code reads them by
            self.init_results = self._init_results = code.call(init) if init else {}

        def run(self, **fields: Any) -> Any:
            return code.call(run, self, **fields)

    DynamicBlock.__name__ = DynamicBlock.__qualname__ = _class_name(manifest.block_type)
    DynamicBlock.__doc__ = (
        manifest.description or f"Block {manifest.block_type} (from the document)."
    )
    return DynamicBlock


def _manifest_model(
    manifest: DynamicManifest, given: dict[str, tuple[Any, Any]] | None = None
) -> type:
    fields: dict[str, Any] = {"type": (Literal[manifest.block_type], ...)}
    for name, spec in manifest.inputs.items():
        annotation = Selector(kinds=spec.kind) | Any
        has_default = spec.optional or "default" in spec.model_fields_set
        fields[name] = (annotation, spec.default if has_default else ...)
    fields.update(given or {})
    return create_model(
        f"{_class_name(manifest.block_type)}Manifest", __base__=Block.Manifest, **fields
    )


class DynamicBlockError(Exception):
    """An exception of a dynamic block's code whose type cannot carry the added place."""


class _BlockCode:
    """A dynamic block's code, each part compiled on its own so that a line number found
    in a syntax error or a traceback is the line in that part (``run_function_code line
    2``), however many imports come before it."""

    def __init__(self, code: DynamicCode, block_type: str, place: str, namespace: dict[str, Any]):
        self.block_type, self.place = block_type, place
        sources = {
            "imports": "\n".join(code.imports),
            "run_function_code": code.run_function_code,
            "init_function_code": code.init_function_code or "",
        }
        # the file name each part is compiled under -> (part, its lines), to read tracebacks
        self.parts = {
            f"<dynamic block {block_type}: {part}>": (part, text.splitlines())
            for part, text in sources.items()
        }
        compiled = [self._compiled(filename, part) for filename, (part, _) in self.parts.items()]
        self.namespace: dict[str, Any] = {
            **namespace,
            "__name__": f"visionflow_dynamic_{_class_name(block_type)}",
        }
        try:
            for part in compiled:
                exec(part, self.namespace)  # the point of a dynamic block: allowed by the caller
        except Exception as error:
            raise DefinitionError(
                f"the block's code failed while loading: {type(error).__name__}: {error}"
                f"{self._where(error, ' at ')}",
                place=f"{place} field 'code'",
            ) from None

    def _compiled(self, filename: str, part: str) -> Any:
        try:
            # dont_inherit: compiled as written, not with this module's `from __future__`
            # (annotations stay evaluated when `def` runs, as in Roboflow's engine)
            source = "\n".join(self.parts[filename][1])
            return compile(source, filename, "exec", dont_inherit=True)
        except SyntaxError as error:
            line = (error.text or "").strip()
            raise DefinitionError(
                f"the block's code does not compile: {error.msg} at {part} line "
                f"{error.lineno}: {line!r}",
                place=f"{self.place} field 'code'",
                hint=f"lines are counted from the start of code.{part}",
            ) from None
        except (MemoryError, RecursionError):  # Python's parser gives up on deep nesting
            raise DefinitionError(
                f"the block's code is nested too deeply to compile ({part})",
                place=f"{self.place} field 'code'",
            ) from None

    def function(self, name: str) -> Callable[..., Any]:
        function = self.namespace.get(name)
        if not callable(function):
            raise DefinitionError(
                f"the block's code defines no function '{name}'",
                place=f"{self.place} field 'code'",
                hint="write `def run(self, <inputs>...)` returning a dict of the outputs",
            )
        return function

    def call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``function(...)``; an exception it raises says where in the block's code."""
        try:
            return function(*args, **kwargs)
        except Exception as error:
            where = self._where(error, ", ")
            message = f"{error} (dynamic block '{self.block_type}'{where})"
            raise _same_kind(error, message) from error

    def _where(self, error: BaseException, separator: str) -> str:
        """``<separator>run_function_code line 3: 'return 1 / 0'`` at the deepest frame of
        the block's code in the traceback, or nothing if none is there."""
        frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename in self.parts]
        if not frames:
            return ""
        part, lines = self.parts[frames[-1].filename]
        number = frames[-1].lineno or 0
        text = lines[number - 1].strip() if 0 < number <= len(lines) else ""
        return f"{separator}{part} line {number}: {text!r}"


def _same_kind(error: Exception, message: str) -> Exception:
    """``error``'s type with ``message``, where the type takes one message and shows it as
    given (not KeyError, which quotes it, or OSError); else a ``DynamicBlockError``."""
    try:
        again = type(error)(message)
    except Exception:
        again = None
    if again is None or str(again) != message:
        return DynamicBlockError(f"{type(error).__name__}: {message}")
    return again


def _class_name(block_type: str) -> str:
    cleaned = "".join(part.capitalize() for part in block_type.replace("/", "_").split("_") if part)
    return "".join(c for c in cleaned if c.isalnum()) or "DynamicBlock"
