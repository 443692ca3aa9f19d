"""The ``add_input_*`` / ``add_output_*`` family of ``Lineage``, made from one table.

Every call records one link between a task and a card it read (input) or wrote (output);
they differ only in the card's kind, the name of their first parameter and a few options
(versions for projects and datasets, ``model_weight`` for files). The table below says
that, and ``add_method`` makes each method, with its real signature and docstring.
Light on purpose: ``visionflow.lineage`` reads the names without importing SQLAlchemy.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Direction = Literal["input", "output"]
_VERSIONS = ("version_id", "version_num")
_DEFAULTS = {"version_id": None, "version_num": None, "model_weight": False}  # of options
_COMMON = ("task_id", "meta", "card", "task_card")
_ANNOTATIONS = {
    "card": "Card",
    "task_card": "Card",
    "input_task_id": "int",
    "output_task_id": "int",
}


@dataclass(frozen=True)
class _Row:
    noun: str  # in the method's name
    kind: str  # of the card in the store
    thing: str  # the first parameter, the card read or written
    what: str
    options: tuple[str, ...] = ()  # parameters between the thing and task_id
    note: str = ""
    directions: tuple[Direction, ...] = ("input", "output")


_PROJECT = "At a version: ``version_id`` or ``version_num`` (its number in the project)."
_DATASET = "At a version: ``version_id`` (``version_num`` counts project versions only)."
_WEIGHTS = "``model_weight=True`` marks the file as model weights."

_TABLE = [
    # noun in the name, kind of card, first parameter, what it is, [options, note]
    _Row("project", "project", "project", "a project folder", _VERSIONS, _PROJECT),
    _Row("dataset", "dataset", "dataset", "a dataset folder", _VERSIONS, _DATASET),
    _Row("file", "file", "file", "a file", ("model_weight",), _WEIGHTS),
    _Row("folder", "folder", "folder", "a folder"),
    _Row("task", "task", "{direction}_task_id", "another task, by its id"),
    _Row("labeling_job", "labeling_job", "job", "a labeling job, by its name"),
    _Row("app", "app_session", "app_session", "an app session", directions=("output",)),
]


@dataclass(frozen=True)
class AddCall:
    """One ``add_{direction}_{noun}`` method: what it links, and how it is called."""

    name: str
    direction: Direction
    kind: str
    thing: str
    signature: inspect.Signature
    doc: str


def _call(row: _Row, direction: Direction) -> AddCall:
    thing = row.thing.format(direction=direction)
    verb = "read" if direction == "input" else "wrote"
    doc = (
        f"Record that the task {verb} {row.what}; the link's id, or None if not recorded.\n\n"
        + (f"{row.note}\n" if row.note else "")
        + "``task_id`` defaults to the current task; ``meta`` is a dict kept with the link;\n"
        "``card`` and ``task_card`` customise the data card and the task's card.\n"
    )
    parameters = [
        _parameter("self"),
        _parameter(thing),
        *(_parameter(name, _DEFAULTS[name]) for name in row.options),
        *(_parameter(name, None) for name in _COMMON),
    ]
    signature = inspect.Signature(parameters, return_annotation="int | None")
    return AddCall(f"add_{direction}_{row.noun}", direction, row.kind, thing, signature, doc)


def _parameter(name: str, default: Any = inspect.Parameter.empty) -> inspect.Parameter:
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    annotation = _ANNOTATIONS.get(name, inspect.Parameter.empty)
    return inspect.Parameter(name, kind, default=default, annotation=annotation)


ADD_CALLS: dict[str, AddCall] = {
    call.name: call
    for call in (_call(row, direction) for row in _TABLE for direction in row.directions)
}


def add_method(name: str) -> Callable[..., int | None]:
    """The ``Lineage`` method ``name``: its arguments checked by its signature, then
    handed to ``Lineage._add`` with the table's row."""
    call = ADD_CALLS[name]
    signature = call.signature

    def add(self: Any, *args: Any, **kwargs: Any) -> int | None:
        arguments = signature.bind(self, *args, **kwargs)  # a TypeError, as for any method
        arguments.apply_defaults()
        values = dict(arguments.arguments)
        del values["self"]
        return self._add(call, values.pop(call.thing), **values)

    add.__name__ = name
    add.__qualname__ = f"Lineage.{name}"
    add.__doc__ = call.doc
    add.__signature__ = signature  # type: ignore[attr-defined]  # what help() and IDEs show
    return add
