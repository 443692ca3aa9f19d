"""Compiler pass: Roboflow's inner workflow steps inlined into the parent definition.

Runs before every other stage (``compile_plan``). Each ``roboflow_core/inner_workflow@v1``
step (``blocks/roboflow/inner_workflow.py`` holds its manifest) is replaced by the child's
steps, innermost children first, so the rest of the compiler sees ordinary steps only
and checks, batches and gates them like any other (Roboflow's ``embedded`` mode):

- a child step ``s`` of inner step ``n`` becomes ``n__s`` (``n__s__2`` if that is taken);
- in the child's steps, ``$inputs.<child input>`` becomes the value bound to it in
  ``parameter_bindings`` (a parent selector or a literal), or the child parameter's
  default; ``$steps.<child step>...`` follows the renaming;
- in the parent, ``$steps.n.<child output>`` becomes the selector that output reads, and a
  bare ``$steps.n`` (a flow-control target) the first inlined step, as in Roboflow; an
  output reading a child input given a value (a literal binding, a default) gives that
  value to a parent step, and is an error only in a parent's output (Roboflow's too);
- the children's ``dynamic_blocks_definitions`` and ``models`` join the parent's.

A child may only read its own inputs and steps: anything else is an error naming the
child's place, so a child never reaches a parent step that happens to share a name.
Errors of the later stages in an inlined step are named at the step's place in the child
(``steps[1] 'nested' workflow_definition steps[0] 'crop' field 'image'``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from visionflow.blocks.roboflow.inner_workflow import INNER_WORKFLOW_TYPE, InnerWorkflow
from visionflow.compiler.steps import _manifest_error, step_place
from visionflow.definition import Definition, OutputDefinition
from visionflow.errors import (
    CycleError,
    DefinitionError,
    DuplicateNameError,
    ManifestError,
    SelectorError,
    WorkflowError,
)
from visionflow.selectors import (
    DATA_SELECTORS,
    WILDCARD_OUTPUT,
    ParsedSelector,
    escape_literals,
    looks_like_selector,
    parse_selector,
    step_selector,
)

MAX_DEPTH = 4  # Roboflow's default limits: inner workflows nested at most 4 deep,
MAX_COUNT = 32  # and at most 32 inner workflow steps in one document
SEPARATOR = "__"  # <inner step>__<child step>, Roboflow's names for inlined steps


@dataclass
class Inlined:
    """A definition with no inner workflow step left, and where its steps came from."""

    definition: Definition
    origins: dict[str, str] = field(default_factory=dict)  # inlined step -> place in the child
    dynamic_blocks: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @contextmanager
    def places(self) -> Iterator[None]:
        """Errors raised inside, named at an inlined step, re-named at its child's place."""
        try:
            yield
        except WorkflowError as error:
            for found in (error, *error.also):
                self.relocate(found)  # the same error, re-placed
            raise

    def relocate(self, error: WorkflowError) -> WorkflowError:
        if not self.origins or not error.place:
            return error
        for position, step in enumerate(self.definition.steps):
            name = step.get("name")
            origin = self.origins.get(name) if isinstance(name, str) else None
            here = step_place(position, name)
            if origin and (error.place + " ").startswith(here + " "):
                return error.at(origin + error.place[len(here) :], within=False)
        return error


def inline_inner_workflows(definition: Definition) -> Inlined:
    """``definition`` with every inner workflow step replaced by its child's steps."""
    if not any(_is_inner(step) for step in definition.steps):
        return Inlined(definition)
    level = _Level(definition, prefix="", depth=0, count=[0])
    flat = level.flatten()
    expanded = definition.model_copy(
        update={
            "steps": flat.steps,
            "outputs": flat.outputs,
            "models": flat.models,
        }
    )
    return Inlined(expanded, flat.origins, flat.dynamic_blocks)


def with_child_blocks(registry: Any, inlined: Inlined, allow_custom_code: bool) -> Any:
    """``registry`` with the blocks the children define in ``dynamic_blocks_definitions``.

    A definition the parent (or another child) already gave, word for word, is that block;
    another block of a type already known is refused as the parent's own would be.
    """
    if not inlined.dynamic_blocks:
        return registry
    from visionflow.blocks.dynamic import build_dynamic_blocks  # custom code: only on use

    given = {_declared_type(raw): raw for raw in inlined.definition.dynamic_blocks_definitions}
    blocks = []
    for place, raw in inlined.dynamic_blocks:
        if given.get(_declared_type(raw)) == raw:
            continue
        taken = registry.with_blocks(blocks).by_type
        try:
            blocks += build_dynamic_blocks([raw], allow_custom_code=allow_custom_code, taken=taken)
        except WorkflowError as error:  # named as the one definition given: name it in its child
            own, local = error.place or "", f"dynamic_blocks_definitions[0] '{_declared_type(raw)}'"
            rest = own[len(local) :] if own.startswith(local) else ""
            raise error.at(place + rest, within=False) from None
        given[_declared_type(raw)] = raw
    return registry.with_blocks(blocks)


# --- one level of a document: its inner steps inlined, its references rewritten -----------


@dataclass
class _Fixed:
    """A child output that reads a child input given a value, not a selector (a literal
    binding, or a parameter's default). Roboflow's engine puts the value where a parent step
    reads it; the parent's outputs cannot read it. So it is no error until read."""

    name: str
    value: Any
    place: str  # the child output's place

    def error(self, read_at: str) -> SelectorError:
        return SelectorError(
            f"child output '{self.name}' reads a fixed value, not a step or input of the run, "
            f"and {read_at} reads it: a workflow's output must read a step or an input",
            place=self.place,
            hint="bind the child input it reads to a parent selector, or output that value "
            "from the parent's own input",
        )


@dataclass
class _Flat:
    steps: list[dict[str, Any]]
    outputs: list[OutputDefinition]
    fixed: dict[str, _Fixed]  # the outputs (by name) that give a fixed value
    origins: dict[str, str]
    dynamic_blocks: list[tuple[str, dict[str, Any]]]
    models: dict[str, Any]


class _Level:
    def __init__(self, definition: Definition, prefix: str, depth: int, count: list[int]):
        self.definition, self.prefix, self.depth, self.count = definition, prefix, depth, count
        self.used = _checked_names(definition, prefix)  # inlined names must not take these
        # inner step -> child output -> the selector it reads (or the fixed value it gives)
        self.exposed: dict[str, dict[str, str | _Fixed]] = {}
        self.first: dict[str, str] = {}  # inner step -> its first inlined step
        self.models = dict(definition.models)
        self.dynamic_blocks = [  # a child's (the root's are built before the compiler runs)
            (f"{prefix}dynamic_blocks_definitions[{position}] '{_declared_type(raw)}'", raw)
            for position, raw in enumerate(definition.dynamic_blocks_definitions)
            if depth > 0
        ]

    def flatten(self) -> _Flat:
        steps: list[dict[str, Any]] = []
        origins: dict[str, str] = {}
        for position, raw in enumerate(self.definition.steps):
            place = self.prefix + step_place(position, raw["name"])
            if not _is_inner(raw):
                steps.append(raw)
                origins[raw["name"]] = place
                continue
            inlined, inlined_origins = self._inline(raw, place)
            steps += inlined
            origins.update(inlined_origins)
        # the parent's own references to its inner steps, now that all are inlined
        steps = [
            _rewrite_fields(step, self._parent_reference, origins[step["name"]]) for step in steps
        ]
        outputs, fixed = [], {}
        for position, output in enumerate(self.definition.outputs):
            read = self._output(position, output)
            if isinstance(read, _Fixed):
                fixed[output.name] = read
            outputs.append(output if isinstance(read, _Fixed) else read)
        return _Flat(steps, outputs, fixed, origins, self.dynamic_blocks, self.models)

    def _inline(self, raw: dict[str, Any], place: str) -> tuple[list[dict], dict[str, str]]:
        name = raw["name"]
        manifest = _inner_manifest(raw, place)
        self.count[0] += 1
        if self.count[0] > MAX_COUNT:
            raise DefinitionError(
                f"more than {MAX_COUNT} inner workflow steps in one document",
                place=place,
                hint="Roboflow's limit too: merge some of the child workflows",
            )
        if self.depth + 1 > MAX_DEPTH:
            raise DefinitionError(
                f"inner workflows nested more than {MAX_DEPTH} deep",
                place=place,
                hint="Roboflow's limit too: inline the innermost child workflow's steps",
            )
        child = _child_definition(manifest, place)
        prefix = f"{place} workflow_definition "
        _check_child_names(child, prefix)
        flat = _Level(child, prefix, self.depth + 1, self.count).flatten()
        if not flat.steps:
            raise ManifestError(
                "the child workflow has no steps",
                place=f"{place} field 'workflow_definition'",
                hint="an inner workflow needs at least one step",
            )
        values = _bound_values(manifest, child, place)
        renamed = {
            step["name"]: self._unique(f"{name}{SEPARATOR}{step['name']}") for step in flat.steps
        }

        def child_reference(text: str, where: str) -> Any:
            return _child_reference(text, where, renamed, values)

        steps = []
        for step in flat.steps:
            rewritten = _rewrite_fields(step, child_reference, flat.origins[step["name"]])
            steps.append({**rewritten, "name": renamed[step["name"]]})
        self.exposed[name] = {
            output.name: flat.fixed.get(output.name)  # a value a grandchild gives: passed on
            or _exposed(output, child_reference, f"{prefix}outputs[{position}]")
            for position, output in enumerate(flat.outputs)
        }
        self.first[name] = renamed[flat.steps[0]["name"]]
        self._merge_models(flat.models, place)
        self.dynamic_blocks += flat.dynamic_blocks
        origins = {renamed[old]: origin for old, origin in flat.origins.items()}
        return steps, origins

    def _unique(self, base: str) -> str:
        candidate, suffix = base, 2
        while candidate in self.used:
            candidate, suffix = f"{base}{SEPARATOR}{suffix}", suffix + 1
        self.used.add(candidate)
        return candidate

    def _merge_models(self, models: dict[str, Any], place: str) -> None:
        for model_id, spec in models.items():
            if self.models.setdefault(model_id, spec) != spec:
                raise DefinitionError(
                    f"model '{model_id}' is declared differently by the parent and the child",
                    place=f"{place} workflow_definition models '{model_id}'",
                    hint="declare it once, in the parent's models:",
                )

    def _parent_reference(self, text: str, where: str, lazy: bool = False) -> Any:
        """The selector ``text`` reads once the inner steps are inlined, or the fixed value
        a child output gives (a step's field takes it, as in Roboflow's engine; ``lazy``:
        its ``_Fixed``, for an output, which cannot take it)."""
        # a child output may pass on a value bound from another inner step: follow it there
        passed: list[str] = []
        while (parsed := parse_selector(text)) and parsed.name in self.exposed:
            if parsed.source != "steps":
                break
            if parsed.name in passed:
                raise CycleError(
                    f"inner workflow steps {' -> '.join([*passed, parsed.name])} pass "
                    "their outputs to each other in a circle",
                    place=where,
                    hint="bind each child input to a value computed before it",
                )
            passed.append(parsed.name)
            read = self._inner_output(parsed, text, where)
            if isinstance(read, _Fixed):
                return read if lazy else copy.deepcopy(read.value)
            text = read
        return text

    def _inner_output(self, parsed: ParsedSelector, text: str, where: str) -> str | _Fixed:
        if parsed.output is None:  # a flow-control target: the inlined steps start there
            return step_selector(self.first[parsed.name])
        outputs = self.exposed[parsed.name]
        if parsed.output in outputs:
            return outputs[parsed.output]
        names = ", ".join(outputs) or "none"
        if parsed.output == WILDCARD_OUTPUT:
            raise SelectorError(
                f"{text}: an inner workflow step has no '*' output (nor in Roboflow)",
                place=where,
                hint=f"read its outputs one by one; the child workflow's outputs: {names}",
            )
        raise SelectorError(
            f"{text}: inner workflow step '{parsed.name}' has no output '{parsed.output}'",
            place=where,
            hint=f"the child workflow's outputs: {names}",
        )

    def _output(self, position: int, output: OutputDefinition) -> OutputDefinition | _Fixed:
        where = f"{self.prefix}outputs[{position}] '{output.name}' field 'selector'"
        selector = self._parent_reference(output.selector, where, lazy=True)
        if isinstance(selector, _Fixed):  # a child's: an error only where its parent outputs it
            if self.depth == 0:
                raise selector.error(where)
            return selector
        return (
            output
            if selector == output.selector
            else output.model_copy(update={"selector": selector})
        )


# --- the inner step and its child ---------------------------------------------------------


def _is_inner(step: dict[str, Any]) -> bool:
    return step.get("type") == INNER_WORKFLOW_TYPE


_ONE_WORKFLOW = "write the child workflow in workflow_definition"


def _inner_manifest(raw: dict[str, Any], place: str) -> Any:
    manifest_class = InnerWorkflow.Manifest
    try:
        manifest = manifest_class.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        if not first["loc"]:  # the manifest's rule across fields: one workflow, inline or by id
            message = first["msg"].removeprefix("Value error, ")
            raise ManifestError(message, place=place, hint=_ONE_WORKFLOW) from None
        raise _manifest_error(error, manifest_class, raw, place) from None
    if manifest.execution_mode == "remote_dispatch":
        raise ManifestError(
            "execution_mode 'remote_dispatch' would send the bound inputs (images too) to "
            "another server, which visionflow never does",
            place=f"{place} field 'execution_mode'",
            hint="leave execution_mode out (or write 'embedded'): the child runs here, inlined",
        )
    if manifest.workflow_definition is None:
        raise ManifestError(
            f"a workflow referenced by id ('{manifest.workflow_workspace_id}/"
            f"{manifest.workflow_id}') cannot be read: visionflow has no workflow store to "
            "fetch it from",
            place=f"{place} field 'workflow_id'",
            hint="copy the child workflow into workflow_definition",
        )
    return manifest


def _child_definition(manifest: Any, place: str) -> Definition:
    from visionflow.dialects.native import parse_native  # the child is a native document

    try:
        child = parse_native(manifest.workflow_definition)
    except WorkflowError as error:
        raise error.at(f"{place} workflow_definition") from None
    if child.settings:
        raise ManifestError(
            "a child workflow cannot have settings: they apply to the whole run",
            place=f"{place} workflow_definition settings",
            hint="move them to the parent's settings",
        )
    return child


def _bound_values(manifest: Any, child: Definition, place: str) -> dict[str, Any]:
    """Child input name -> what replaces ``$inputs.<name>`` in the child's steps."""
    bindings = manifest.parameter_bindings
    declared = [item.name for item in child.inputs]
    where = f"{place} field 'parameter_bindings'"
    unknown = [name for name in bindings if name not in declared]
    if unknown:
        raise ManifestError(
            f"binds {', '.join(repr(name) for name in unknown)}, which the child workflow "
            "does not declare",
            place=where,
            hint=f"the child workflow's inputs: {', '.join(declared) or 'none'}",
        )
    for name, value in bindings.items():  # named here, not in the child step it reaches
        if (text := _malformed_selector(value)) is not None:
            raise SelectorError(
                f"{name!r} is bound to {text!r}, which is not a selector",
                place=where,
                hint=f"write {DATA_SELECTORS} (a text that starts with $ is written $$)",
            )
    values = dict(bindings)
    missing = []
    for item in child.inputs:
        if item.name in values:
            continue
        if item.type == "parameter" and item.default_value is not None:
            values[item.name] = escape_literals(copy.deepcopy(item.default_value))
        else:
            missing.append(item.name)
    if missing:
        raise ManifestError(
            f"no binding for the child workflow's input {', '.join(repr(n) for n in missing)}",
            place=where,
            hint="bind it to a parent selector or a value; only a child parameter with a "
            "default_value may be left out",
        )
    return values


def _malformed_selector(value: Any) -> str | None:
    """The first text in ``value`` written as a selector that is not a well-formed one."""
    if isinstance(value, str):
        return value if looks_like_selector(value) and parse_selector(value) is None else None
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return next((text for item in items if (text := _malformed_selector(item))), None)


def _child_reference(text: str, where: str, renamed: dict[str, str], values: dict[str, Any]) -> Any:
    parsed = parse_selector(text)
    if parsed is None:
        return text  # not a well-formed selector: the step's own check names it
    if parsed.source == "inputs":
        if parsed.name in values:
            return copy.deepcopy(values[parsed.name])
        raise SelectorError(
            f"{text} reads an input the child workflow does not declare",
            place=where,
            hint=f"the child workflow's inputs: {', '.join(values) or 'none'}",
        )
    if parsed.name in renamed:
        return step_selector(renamed[parsed.name], parsed.output)
    raise SelectorError(
        f"{text} reads step '{parsed.name}', which the child workflow does not have",
        place=where,
        hint=f"the child workflow's steps: {', '.join(renamed)} (a child reads only its own "
        "inputs and steps; give it parent values through parameter_bindings)",
    )


def _exposed(
    output: OutputDefinition, resolve: Callable[[str, str], Any], place: str
) -> str | _Fixed:
    where = f"{place} '{output.name}' field 'selector'"
    parsed = parse_selector(output.selector) if looks_like_selector(output.selector) else None
    if parsed is None:
        raise SelectorError(
            f"child output '{output.name}' reads {output.selector!r}, which is not a selector",
            place=where,
            hint=f"write {DATA_SELECTORS}",
        )
    if parsed.is_step_reference:  # as in a workflow of its own: an output reads data
        raise SelectorError(
            f"child output '{output.name}' reads {output.selector!r}, a step, not one of its "
            "outputs",
            place=where,
            hint=f"write $steps.{parsed.name}.<output>",
        )
    value = resolve(output.selector, where)
    if isinstance(value, str) and parse_selector(value):
        return value
    return _Fixed(output.name, value, where)  # a valid child: an error only if an output reads it


def _check_child_names(child: Definition, prefix: str) -> None:
    """Input and output names are unique in a child, as in any workflow (the parent's own
    are checked by the later stages); Roboflow's engine would silently take one of two."""
    for section, items in (("inputs", child.inputs), ("outputs", child.outputs)):
        seen: dict[str, int] = {}
        for position, item in enumerate(items):
            if item.name in seen:
                raise DuplicateNameError(
                    f"{section[:-1]} name '{item.name}' is used twice in the child workflow "
                    f"(also by {section}[{seen[item.name]}])",
                    place=f"{prefix}{section}[{position}] '{item.name}'",
                    hint=f"the child workflow's {section} need names of their own",
                )
            seen[item.name] = position


def _rewrite_fields(
    step: dict[str, Any], resolve: Callable[[str, str], Any], place: str
) -> dict[str, Any]:
    """``step`` with every selector of its fields replaced by ``resolve(text, place)``."""
    return {
        key: value
        if key in ("name", "type")
        else _rewrite(value, resolve, f"{place} field '{key}'")
        for key, value in step.items()
    }


def _rewrite(value: Any, resolve: Callable[[str, str], Any], where: str) -> Any:
    # not selectors.replace_selectors: $$-escaped literals must keep their escape here
    if isinstance(value, str):
        return resolve(value, where) if looks_like_selector(value) else value
    if isinstance(value, dict):
        return {key: _rewrite(item, resolve, where) for key, item in value.items()}
    if isinstance(value, list):
        return [_rewrite(item, resolve, where) for item in value]
    return value


def _checked_names(definition: Definition, prefix: str) -> set[str]:
    seen: dict[str, int] = {}
    for position, raw in enumerate(definition.steps):
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise ManifestError(
                "every step needs a non-empty 'name'",
                place=prefix + step_place(position, None),
                hint="add name: ...",
            )
        if name in seen:
            raise DuplicateNameError(
                f"step name '{name}' is used twice (also by steps[{seen[name]}])",
                place=prefix + step_place(position, name),
                hint="step names must be unique (they are case sensitive)",
            )
        seen[name] = position
    return set(seen)


def _declared_type(raw: Any) -> str:
    manifest = raw.get("manifest") if isinstance(raw, dict) else None
    block_type = manifest.get("block_type") if isinstance(manifest, dict) else None
    return block_type if isinstance(block_type, str) else "?"
