"""The functional dialect: a workflow of named values, each a function application.

```yaml
name: poses                             # name and version are required, as DJL requires them
version: "1.0"
models: {people: mediapipe/pose_detection, landmarks: mediapipe/pose_landmarks_full}
workflow:
  found: [people, in]                   # a model applied to the input image
  regions: [personRegions, in, found]   # a built-in function: a list of crops
  out: [map, landmarks, regions]        # the model on every crop: a real nested batch
```

How a value is written, so that a literal can never be taken for a name:

- a bare text is always a name: ``in`` (the input), a value of ``workflow:``, or a model
  or function, which may only stand first in an application (or in ``map``/``ensemble``);
- a list ``[f, arg, ...]`` applies ``f``; arguments may be nested applications;
- numbers, ``true``/``false`` and ``null`` are literals; any other literal (a text, a
  list, a mapping) is written ``{literal: ...}``.

Special forms: ``[id, x]`` is ``x``; ``[map, f, xs, extra...]`` applies ``f`` to every item
of the list ``xs`` (one step over all items of all inputs, so models batch them) and
gives the list of results; ``[ensemble, [f, g, ...], x...]`` applies each of ``f, g, ...``
to the same arguments, in parallel, and gives their results as a list. ``map`` also takes
``[ensemble, [f, g, ...]]`` as its function: the ensemble of every item.

Each named value becomes one step (computed once per run however often it is used);
values ``out`` does not need are left out. Independent values run in parallel.
"""

from __future__ import annotations

from typing import Any

from visionflow.definition import Definition
from visionflow.dialects.functional_values import (
    SPECIAL_FORMS,
    Callables,
    check_names,
    order_values,
)
from visionflow.dialects.native import validate_definition
from visionflow.errors import DefinitionError
from visionflow.models.spec import CAMEL_CASE_PERFORMANCE_FIELDS
from visionflow.selectors import (
    escape_literals,
    find_selectors,
    input_selector,
    looks_like_selector,
    parse_selector,
    step_selector,
)
from visionflow.suggestions import close_matches

PERFORMANCE_PROPERTIES = set(CAMEL_CASE_PERFORMANCE_FIELDS)
_SECTIONS = {"name", "version", "description", "input", "models", "functions", "workflow"}
_INPUT = "in"
_OUTPUT = "out"


def parse_functional(document: dict[str, Any]) -> Definition:
    _check_sections(document)
    _check_name_and_version(document)
    workflow = document.get("workflow")
    if not isinstance(workflow, dict) or not workflow:
        found = "an empty one" if not workflow else type(workflow).__name__
        raise DefinitionError(
            f"a functional workflow needs a 'workflow:' mapping of named values, found {found}",
            place="workflow",
            hint="e.g. workflow: {out: [someModel, in]}",
        )
    callables = Callables.from_document(document)
    check_names(workflow, callables)
    input_definition = _input_definition(document.get("input", "image"))
    batch_input = input_definition["type"] not in ("parameter", "WorkflowParameter")
    translator = _Translator(workflow, callables, batch_input)
    for name in order_values(workflow, callables):
        translator.value(name)
    output = translator.selectors[_OUTPUT]
    return validate_definition(  # its own version: not Roboflow's engine rule
        {
            "version": str(document["version"]),
            "inputs": [input_definition],
            "steps": _needed_steps(translator.steps, output),
            "outputs": [{"type": "JsonField", "name": _OUTPUT, "selector": output}],
            "models": callables.model_entries,
            "settings": {key: document[key] for key in PERFORMANCE_PROPERTIES if key in document},
        }
    )


class _Translator:
    """Named values and nested applications -> native steps, each value's selector."""

    def __init__(self, workflow: dict[str, Any], callables: Callables, batch_input: bool):
        self.workflow = workflow
        self.batch_input = batch_input
        self.callables = callables
        self.selectors: dict[str, Any] = {_INPUT: input_selector(_INPUT)}
        self.steps: list[dict[str, Any]] = []

    def value(self, name: str) -> None:
        """Translate one named value (its dependencies are translated before it)."""
        expression = self.workflow[name]
        place = f"workflow '{name}'"
        if isinstance(expression, str):  # another name: the same value, no step
            self.selectors[name] = self.selectors[expression]
        else:
            self.selectors[name] = self.expression(expression, name, place)
        if name == _OUTPUT and not looks_like_selector(self.selectors[name]):
            raise DefinitionError(
                "'out' is a literal; it must be computed from the input",
                place=place,
                hint="e.g. out: [someModel, in]",
            )

    def expression(self, expression: Any, step: str, place: str) -> Any:
        """A selector (or literal) for ``expression``; its steps are named after ``step``."""
        if isinstance(expression, str):
            return self.selectors[expression]
        if isinstance(expression, dict):
            return escape_literals(expression["literal"])
        if isinstance(expression, list):
            return self.application(expression, step, place)
        return expression  # a number, boolean or null

    def application(self, expression: list, step: str, place: str) -> str:
        head, *arguments = expression
        if head == "id":
            return self.expression(arguments[0], step, f"{place}[1]")
        if head == "map":
            return self.map(arguments, step, place)
        if head == "ensemble":
            return self.ensemble(arguments, step, place)
        values = self.arguments(arguments, step, place, first=1)
        return self.apply(head, values, step, place)

    def arguments(self, arguments: list, step: str, place: str, first: int) -> list[Any]:
        return [
            self.expression(argument, f"{step}/{position}", f"{place}[{position}]")
            for position, argument in enumerate(arguments, start=first)
        ]

    def apply(self, function: str, values: list[Any], step: str, place: str) -> str:
        kind, target = self.callables.resolve(function)
        if kind == "model":
            if len(values) != 1 or not looks_like_selector(values[0]):
                found = f"{len(values)} arguments" if len(values) != 1 else "a literal"
                raise DefinitionError(
                    f"model '{function}' takes one argument, an image value (found {found})",
                    place=place,
                    hint=f"write [{function}, in] or [{function}, someImageValue]",
                )
            self.steps.append(
                {"type": "ModelCall", "name": step, "images": values[0], "model": target}
            )
        else:
            function_path, init = target
            self.steps.append(
                {"type": "FunctionCall", "name": step, "function": function_path, "args": values}
                | ({"init": init} if init else {})
                | (self.callables.scope() if function in self.callables.functions else {})
            )
        return step_selector(step, "value")

    def map(self, arguments: list, step: str, place: str) -> str:
        if not self.batch_input:  # a nested batch needs a batch to nest under
            raise DefinitionError(
                "map needs a batch input, and the input 'in' is a parameter (one value per run)",
                place=place,
                hint="declare input: batch (or image) and pass a list of values",
            )
        function, items, *extra = arguments
        items = self.expression(items, f"{step}/2", f"{place}[2]")
        if not looks_like_selector(items):
            raise DefinitionError(
                "map goes over a computed list, not a literal",
                place=f"{place}[2]",
                hint="give the name of a value (or an application) that makes a list",
            )
        extras = self.arguments(extra, step, place, first=3)
        spread = {"type": "ListItems", "name": f"{step}/items", "items": items}
        if self.batch_input:  # so that a list made without the input still nests per element
            spread["per"] = input_selector(_INPUT)
        self.steps.append(spread)
        each = self.call(
            function, [step_selector(f"{step}/items", "item"), *extras], f"{step}/each", place
        )
        self.steps.append({"type": "visionflow/dimension_collapse@v1", "name": step, "data": each})
        return step_selector(step, "output")

    def ensemble(self, arguments: list, step: str, place: str) -> str:
        members, *rest = arguments
        values = self.arguments(rest, step, place, first=2)
        return self.call(["ensemble", members], values, step, place)

    def call(self, function: str | list, values: list[Any], step: str, place: str) -> str:
        """``function`` (a name, or ``[ensemble, [f, g, ...]]``) applied to ``values``."""
        if isinstance(function, str):
            return self.apply(function, values, step, place)
        results = [
            self.apply(member, values, f"{step}/{member}", f"{place}[1][{position}]")
            for position, member in enumerate(function[1])
        ]
        self.steps.append(
            {"type": "FunctionCall", "name": step, "function": "collect", "args": results}
        )
        return step_selector(step, "value")


def _check_sections(document: dict[str, Any]) -> None:
    known = _SECTIONS | PERFORMANCE_PROPERTIES
    for key in document:
        if key not in known:
            close = close_matches(str(key), sorted(known), n=1)
            raise DefinitionError(
                f"unknown section '{key}' in a functional workflow",
                place=str(key),
                hint=f"did you mean '{close[0]}'?"
                if close
                else f"known: {', '.join(sorted(known))}",
            )


def _check_name_and_version(document: dict[str, Any]) -> None:
    """``name`` and ``version`` are required, as DJL requires them: they tell one workflow
    (and one revision of it) from another wherever it is served or recorded."""
    for field, example in (("name", '"MyWorkflow"'), ("version", '"1.0.0"')):
        value = document.get(field)
        if field not in document:
            raise DefinitionError(
                f"a functional workflow needs '{field}'",
                place=field,
                hint=f"add {field}: {example} at the top of the document",
            )
        number = isinstance(value, int | float) and not isinstance(value, bool)
        text = str(value) if number else value
        if not isinstance(text, str) or not text.strip():
            raise DefinitionError(
                f"'{field}' must be a non-empty text, found {value!r}",
                place=field,
                hint=f"e.g. {field}: {example}",
            )


def _input_definition(spec: Any) -> dict[str, Any]:
    """``in``: an image by default; ``input: parameter`` or ``{type: ..., kind: [...]}``."""
    if isinstance(spec, str):
        return {"type": spec, "name": _INPUT}
    if isinstance(spec, dict):
        return {**spec, "name": _INPUT}
    raise DefinitionError(
        f"'input' must be a type (image, parameter, batch) or a mapping, found {spec!r}",
        place="input",
    )


def _needed_steps(steps: list[dict[str, Any]], output: str) -> list[dict[str, Any]]:
    """Only the steps the output depends on, in their order."""
    by_name = {step["name"]: step for step in steps}
    needed: set[str] = set()
    waiting = [output]
    while waiting:
        selector = parse_selector(waiting.pop())
        if selector is None or selector.source != "steps" or selector.name in needed:
            continue
        if selector.name not in by_name:  # not made here: the native checks name the field
            continue
        needed.add(selector.name)
        waiting.extend(text for _, text in find_selectors(by_name[selector.name]))
    return [step for step in steps if step["name"] in needed]


__all__ = ["PERFORMANCE_PROPERTIES", "SPECIAL_FORMS", "parse_functional"]
