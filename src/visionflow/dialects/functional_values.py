"""Checks of a functional workflow before it is translated: names, forms, cycles.

Every mistake is found here, before any step exists, and named in the document's own
terms (``workflow 'poses'[2]``): unknown names, a model used as a value, malformed
special forms and literals, and cycles between values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from visionflow.blocks.core.functions import BUILTIN_FUNCTIONS
from visionflow.errors import CycleError, DefinitionError
from visionflow.models.spec import CAMEL_CASE_PERFORMANCE_FIELDS
from visionflow.models.urls import check_url, is_model_url, zoo_reference
from visionflow.selectors import starts_with_sigil
from visionflow.suggestions import close_matches

SPECIAL_FORMS = ("id", "map", "ensemble")
_RESERVED = {"in", *SPECIAL_FORMS}
_MODEL_PROPERTIES = {**CAMEL_CASE_PERFORMANCE_FIELDS, "file": "source"}
_IMPORT_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*(:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*)?")


@dataclass
class Callables:
    """What may stand first in an application: models, functions, built-ins."""

    models: set[str] = field(default_factory=set)
    model_entries: dict[str, Any] = field(default_factory=dict)
    functions: dict[str, tuple[str, dict]] = field(default_factory=dict)

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Callables:
        found = cls()
        for alias, entry in _mapping(document, "models").items():
            _check_alias(alias, "models")
            found.models.add(alias)
            if zoo_reference(entry) is not None and _mapped_elsewhere(alias):
                continue  # DJL's zoo is not here: the operator's model of that name is used
            found.model_entries[alias] = _model_entry(alias, entry)
        for alias, entry in _mapping(document, "functions").items():
            _check_alias(alias, "functions")
            if alias in found.models:
                raise DefinitionError(
                    f"'{alias}' is both a model and a function", place=f"functions '{alias}'"
                )
            found.functions[alias] = _function_entry(alias, entry)
        return found

    def scope(self) -> dict[str, Any]:
        """What a declared function's executor may call (if it takes one): the models and
        functions of the document."""
        return {
            "workflow_models": sorted(self.models),
            "workflow_functions": {
                alias: {"path": path, "init": init}
                for alias, (path, init) in self.functions.items()
            },
        }

    def names(self) -> list[str]:
        return sorted({*self.models, *self.functions, *BUILTIN_FUNCTIONS})

    def resolve(self, name: str) -> tuple[str, Any]:
        """("model", model id) or ("function", (import path or built-in name, init))."""
        if name in self.models:
            return "model", name
        if name in self.functions:
            return "function", self.functions[name]
        return "function", (name, {})

    def __contains__(self, name: object) -> bool:
        return name in self.models or name in self.functions or name in BUILTIN_FUNCTIONS


def check_names(workflow: dict[str, Any], callables: Callables) -> None:
    """Every value's expression is well formed and names only what exists."""
    if "out" not in workflow:
        raise DefinitionError(
            "the workflow defines no 'out' value",
            place="workflow",
            hint="add out: [...] — the value the workflow returns",
        )
    for name, expression in workflow.items():
        if not isinstance(name, str) or not name or name in _RESERVED or "." in name:
            raise DefinitionError(
                f"'{name}' cannot name a value",
                place=f"workflow '{name}'",
                hint="YAML reads on/off/yes/no/true/false as booleans: quote such a name"
                if isinstance(name, bool)
                else "'in', 'id', 'map' and 'ensemble' are reserved; names hold no dots",
            )
        if "/" in name or starts_with_sigil(name):
            raise DefinitionError(
                f"'{name}' cannot name a value: '/' and a leading '$' are reserved",
                place=f"workflow '{name}'",
            )
        if name in callables:
            raise DefinitionError(
                f"'{name}' is already a model or function", place=f"workflow '{name}'"
            )
        _Checker(workflow, callables).expression(expression, f"workflow '{name}'", top=True)


def order_values(workflow: dict[str, Any], callables: Callables) -> list[str]:
    """The values in an order where each comes after those it uses; a cycle is an error."""
    uses = {name: _used_names(expr, workflow) for name, expr in workflow.items()}
    ordered: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = [*path[path.index(name) :], name]
            raise CycleError(
                "values depend on each other in a cycle: " + " -> ".join(cycle),
                place=f"workflow '{name}'",
                hint="a value cannot use itself, directly or through others",
            )
        state[name] = "visiting"
        for used in uses[name]:
            visit(used, [*path, name])
        state[name] = "done"
        ordered.append(name)

    for name in workflow:
        visit(name, [])
    return ordered


class _Checker:
    def __init__(self, workflow: dict[str, Any], callables: Callables):
        self.workflow = workflow
        self.callables = callables

    def expression(self, expression: Any, place: str, top: bool = False) -> None:
        if isinstance(expression, str):
            self.name(expression, place)
        elif isinstance(expression, dict):
            if set(expression) != {"literal"}:
                raise DefinitionError(
                    f"a mapping here must be a literal, {{literal: ...}}; found keys "
                    f"{sorted(map(str, expression))}",
                    place=place,
                    hint="write a literal text, list or mapping as {literal: <value>}",
                )
        elif isinstance(expression, list):
            self.application(expression, place)
        elif top and expression is None:
            raise DefinitionError("the value is empty", place=place, hint="write [function, in]")

    def name(self, name: str, place: str) -> None:
        if name == "in" or name in self.workflow:
            return
        if name in self.callables:
            raise DefinitionError(
                f"'{name}' is a model or function, not a value",
                place=place,
                hint=f"apply it: [{name}, in]; write a text literal as {{literal: {name}}}",
            )
        known = ["in", *self.workflow, *self.callables.names()]
        close = close_matches(name, known, n=1)
        raise DefinitionError(
            f"unknown name '{name}'",
            place=place,
            hint=(f"did you mean '{close[0]}'? " if close else "")
            + "a bare text is always a name; write a text literal as {literal: ...}",
        )

    def application(self, expression: list, place: str) -> None:
        if not expression or not isinstance(expression[0], str):
            raise DefinitionError(
                "an application starts with the name of a function or model",
                place=place,
                hint="write [function, arg, ...]; a literal list is {literal: [...]}",
            )
        head, *arguments = expression
        offset = 1
        if head == "id":
            self.arity(head, arguments, 1, 1, place)
        elif head in ("map", "ensemble"):
            self.arity(head, arguments, 2, None, place)
            if head == "map" and isinstance(arguments[0], list):
                self.mapped_ensemble(arguments[0], f"{place}[1]")
            elif head == "map":
                self.callable(arguments[0], f"{place}[1]")
            else:
                self.members(arguments[0], f"{place}[1]")
            arguments, offset = arguments[1:], 2
        else:
            self.callable(head, f"{place}[0]")
        for position, argument in enumerate(arguments, start=offset):
            self.expression(argument, f"{place}[{position}]")

    def mapped_ensemble(self, function: list, place: str) -> None:
        """``[ensemble, [f, g, ...]]`` as the function of a map: no arguments of its own."""
        if len(function) != 2 or function[0] != "ensemble":
            raise DefinitionError(
                "map takes a function or model name, or [ensemble, [f, g, ...]]",
                place=place,
                hint="write [map, model, list] or [map, [ensemble, [model1, model2]], list]",
            )
        self.members(function[1], f"{place}[1]")

    def members(self, members: Any, place: str) -> None:
        if not isinstance(members, list) or not members:
            raise DefinitionError(
                "ensemble takes a list of models or functions first",
                place=place,
                hint="write [ensemble, [model1, model2], in]",
            )
        if len(set(map(str, members))) != len(members):
            raise DefinitionError("ensemble members must differ", place=place)
        for position, member in enumerate(members):
            self.callable(member, f"{place}[{position}]")

    def callable(self, name: Any, place: str) -> None:
        if isinstance(name, str) and name in self.callables:
            return
        if isinstance(name, str) and (name in self.workflow or name == "in"):
            raise DefinitionError(f"'{name}' is a value, not a function or model", place=place)
        close = close_matches(str(name), self.callables.names(), n=1)
        raise DefinitionError(
            f"unknown function or model '{name}'",
            place=place,
            hint=f"did you mean '{close[0]}'?"
            if close
            else "declare it under models: or functions:, or use a built-in: "
            + ", ".join(BUILTIN_FUNCTIONS),
        )

    @staticmethod
    def arity(head: str, arguments: list, least: int, most: int | None, place: str) -> None:
        if len(arguments) < least or (most is not None and len(arguments) > most):
            expected = f"{least}" if most == least else f"at least {least}"
            raise DefinitionError(
                f"'{head}' takes {expected} argument(s), found {len(arguments)}",
                place=place,
                hint={
                    "id": "write [id, value]",
                    "map": "write [map, function, list, extra...]",
                    "ensemble": "write [ensemble, [model1, model2], value]",
                }[head],
            )


def _used_names(expression: Any, workflow: dict[str, Any]) -> list[str]:
    """The workflow values an (already checked) expression uses."""
    if isinstance(expression, str):
        return [expression] if expression in workflow else []
    if isinstance(expression, list) and expression:
        head, *arguments = expression
        if head in ("ensemble", "map"):
            arguments = arguments[1:]  # function names, not values
        return [name for argument in arguments for name in _used_names(argument, workflow)]
    return []


def _mapping(document: dict[str, Any], section: str) -> dict[str, Any]:
    value = document.get(section) or {}
    if not isinstance(value, dict):
        raise DefinitionError(
            f"'{section}' must be a mapping of name -> entry, found {type(value).__name__}",
            place=section,
        )
    return value


def _check_alias(alias: Any, section: str) -> None:
    if not isinstance(alias, str) or alias in _RESERVED or alias in BUILTIN_FUNCTIONS:
        raise DefinitionError(
            f"'{alias}' cannot be declared: it is reserved or a built-in",
            place=f"{section} '{alias}'",
            hint=f"reserved: {', '.join(sorted(_RESERVED))}; built-ins: "
            + ", ".join(BUILTIN_FUNCTIONS),
        )


def _model_entry(alias: str, entry: Any) -> Any:
    """A ``models:`` entry in the native spelling (camelCase properties mapped); a URL is
    checked here and read when its step is set up (where the compiler's policy is known)."""
    place = f"models '{alias}'"
    reference = zoo_reference(entry)
    if reference is not None:
        raise DefinitionError(
            f"model '{alias}' is {reference}; DJL's model zoo is not available here",
            place=place,
            hint=f"map '{alias}' to a local model: write a zoo id, a model file or a file:// "
            f"URL in its place (`visionflow models` lists the zoo), or keep the entry and run "
            f"with --model {alias}=PATH (or a VISIONFLOW_MODELS description whose id is "
            f"{alias})",
        )
    if isinstance(entry, str):
        if is_model_url(entry):
            check_url(entry, place)
        return entry
    if isinstance(entry, dict):
        mapped = {_MODEL_PROPERTIES.get(key, key): value for key, value in entry.items()}
        if is_model_url(mapped.get("source")):
            check_url(mapped["source"], f"{place} field 'source'")
        return mapped
    raise DefinitionError(
        f"a model is a zoo id, a file path or a mapping, found {type(entry).__name__}",
        place=f"models '{alias}'",
    )


def _mapped_elsewhere(alias: str) -> bool:
    """Whether the operator (``--model``) or a model description maps ``alias``."""
    from visionflow.models.library import ModelLibrary

    return ModelLibrary().is_mapped(alias)


def _function_entry(alias: str, entry: Any) -> tuple[str, dict]:
    """``module:name`` (or ``module.name``), or ``{path: ..., init: {...}}`` for a class."""
    if _is_import_path(entry):
        return entry, {}
    if isinstance(entry, dict) and _is_import_path(entry.get("path")):
        unknown = set(entry) - {"path", "init"}
        if unknown:
            raise DefinitionError(
                f"unknown keys {sorted(unknown)} in a function entry",
                place=f"functions '{alias}'",
                hint="a function entry has 'path' and, for a class, 'init'",
            )
        init = entry.get("init") or {}
        if not isinstance(init, dict):
            raise DefinitionError(
                "'init' holds the class's keyword arguments as a mapping",
                place=f"functions '{alias}' field 'init'",
            )
        return entry["path"], dict(init)
    raise DefinitionError(
        "a function is an import path (package.module:function) or {path: ..., init: {...}}",
        place=f"functions '{alias}'",
    )


def _is_import_path(path: Any) -> bool:
    """``package.module:name`` or ``package.module.name``: nothing a selector could be."""
    return isinstance(path, str) and _IMPORT_PATH.fullmatch(path) is not None
