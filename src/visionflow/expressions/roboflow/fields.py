"""Reading the fields of one Roboflow operation, statement or operand, at compile time.

Each definition is a plain dict as Roboflow documents write it. Its fields are checked once
here (names, types, choices, defaults), so a compiled closure never meets a malformed field.
A field the definition type does not have is an error (Roboflow's pydantic models drop it
silently; here a typo must not pass unseen).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any

from visionflow.errors import ExpressionError
from visionflow.suggestions import close_matches

MAX_DEPTH = 32  # nested chains and statement groups: deep enough for any real document

REQUIRED = object()
MAX_INTEGER = 2**53  # largest integer field: exact as a float, far past any pixel or index
MAX_FLOAT = 1.7976931348623157e308  # an int number field must convert to a float


@dataclass(frozen=True)
class Context:
    """Where a definition is compiled: its place, how deep it is nested, and the evaluation
    parameter names known at compile time (None: unknown, checked when run)."""

    place: str
    known: frozenset[str] | None = None
    depth: int = 0

    def at(self, suffix: str) -> Context:
        return replace(self, place=f"{self.place}{suffix}")

    def nested(self, suffix: str, extra_names: Collection[str] = ()) -> Context:
        if self.depth >= MAX_DEPTH:
            raise ExpressionError(
                f"nested deeper than {MAX_DEPTH} levels",
                place=self.place,
                hint="flatten the operations or statements",
            )
        known = None if self.known is None else self.known | frozenset(extra_names)
        return Context(f"{self.place}{suffix}", known, self.depth + 1)


@dataclass(frozen=True)
class Field:
    """How one field is read: ``read(value, context)`` returns the checked value."""

    read: Callable[[Any, Context], Any]
    default: Any = REQUIRED
    describe: str = ""


def hint_names(kind: str, names: Collection[str], word: object = None) -> str:
    """'valid <kind>: a, b, c' with a 'did you mean' first when one is close."""
    close = close_matches(word, names, n=1)  # the whole list follows: one guess is enough
    mean = f"did you mean {close[0]!r}? " if close else ""
    return f"{mean}valid {kind}: {', '.join(names)}"


def definition_type(definition: object, context: Context, kind: str, names: Collection[str]):
    """The ``type`` of a definition dict, which must be one of ``names``."""
    if not isinstance(definition, Mapping):
        raise ExpressionError(
            f"expected {'an' if kind[0] in 'aeiou' else 'a'} {kind} (a mapping with 'type'), "
            f"got {type(definition).__name__}",
            place=context.place,
            hint=hint_names(f"{kind} types", names),
        )
    name = definition.get("type")
    if name not in names:
        shown = "no 'type'" if name is None else f"unknown {kind} type {name!r}"
        hint = hint_names(f"{kind} types", names, name)
        raise ExpressionError(shown, place=context.place, hint=hint)
    return name


def read_fields(
    definition: Mapping, spec: Mapping[str, Field], context: Context, name: str
) -> dict[str, Any]:
    """The fields of ``definition`` (a dict with ``type`` = ``name``) read by ``spec``."""
    for key in definition:
        if key != "type" and key not in spec:
            raise ExpressionError(
                f"{name} has no field {key!r}",
                place=context.place,
                hint=hint_names(f"fields of {name}", list(spec) or ["(none)"], key),
            )
    values = {}
    for key, field in spec.items():
        if key in definition:
            values[key] = field.read(definition[key], context.at(f".{key}"))
        elif field.default is REQUIRED:
            raise ExpressionError(
                f"{name} needs the field {key!r}",
                place=context.place,
                hint=f"{key}: {field.describe}" if field.describe else None,
            )
        else:
            values[key] = field.default
    return values


# --- readers ---------------------------------------------------------------------------


def _wrong(context: Context, expected: str, value: object) -> ExpressionError:
    shown = repr(value) if len(repr(value)) <= 60 else f"a {type(value).__name__}"
    return ExpressionError(f"expected {expected}, got {shown}", place=context.place)


def integer(value, context: Context) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _wrong(context, "an integer", value)
    if isinstance(value, float) and not value.is_integer():
        raise _wrong(context, "an integer", value)
    if abs(value) > MAX_INTEGER:  # huge ones overflow floats and numpy arrays when run
        raise _wrong(context, "an integer from -2**53 to 2**53", value)
    return int(value)


def number(value, context: Context) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise _wrong(context, "a number", value)
    if isinstance(value, int) and abs(value) > MAX_FLOAT:  # would overflow when run
        raise _wrong(context, "a number within the range of floats", value)
    return value


def boolean(value, context: Context) -> bool:
    if not isinstance(value, bool):
        raise _wrong(context, "true or false", value)
    return value


def text(value, context: Context) -> str:
    if not isinstance(value, str):
        raise _wrong(context, "a text", value)
    return value


def mapping(value, context: Context) -> dict:
    if not isinstance(value, Mapping):
        raise _wrong(context, "a mapping", value)
    return dict(value)


def anything(value, context: Context) -> Any:
    return value


def choice(*names: str) -> Callable[[Any, Context], str]:
    def read(value, context: Context) -> str:
        if value not in names:
            raise ExpressionError(
                f"unknown value {value!r}",
                place=context.place,
                hint=hint_names("values", names, value),
            )
        return value

    return read


def parameter_or(read: Callable[[Any, Context], Any], expected: str):
    """A field that holds a value, or (as a text) the name of an evaluation parameter that
    holds it at run time (Roboflow's ``class_map`` and ``strict`` of DetectionsRename)."""

    def read_either(value, context: Context):
        if isinstance(value, str):
            if context.known is not None and value not in context.known:
                raise ExpressionError(
                    f"no evaluation parameter {value!r}",
                    place=context.place,
                    hint=hint_names("parameters", sorted(context.known), value),
                )
            return ParameterName(value)
        try:
            return read(value, context)
        except ExpressionError:
            raise _wrong(context, f"{expected} or a parameter name", value) from None

    return read_either


class ParameterName(str):
    """A field value naming the evaluation parameter that holds the real value."""
