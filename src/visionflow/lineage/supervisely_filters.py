"""Filters in Supervisely's form, ``[{"field": "version", "operator": ">=", "value": 2}]``,
as conditions on the store's project versions (``versions.get_list`` takes either form).

Fields are named as Supervisely's API names them (``id``, ``version``, ``createdAt``) plus
the ``title`` and ``description`` every version has here; operators are its operators.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.sql.elements import ColumnElement

from visionflow.lineage.errors import DataLineageError
from visionflow.lineage.schema import Version

PLACE = "versions.get_list"
FIELDS = {
    "id": Version.id,
    "version": Version.num,
    "title": Version.title,
    "description": Version.description,
    "createdAt": Version.created_at,
}
_COMPARE: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "=": lambda column, value: column == value,
    "!=": lambda column, value: column != value,
    ">": lambda column, value: column > value,
    ">=": lambda column, value: column >= value,
    "<": lambda column, value: column < value,
    "<=": lambda column, value: column <= value,
    "in": lambda column, values: column.in_(values),
    "!in": lambda column, values: column.not_in(values),
}
OPERATORS = {
    **_COMPARE,
    **{word: _COMPARE[sign] for word, sign in (("eq", "="), ("not", "!="), ("gt", ">"))},
    **{word: _COMPARE[sign] for word, sign in (("gte", ">="), ("lt", "<"), ("lte", "<="))},
}


def conditions(filters: list[dict[str, Any]]) -> list[ColumnElement[bool]]:
    """One condition per filter; a filter that is not of the form is a clear error."""
    return [_condition(n, item) for n, item in enumerate(filters)]


def _condition(number: int, item: Any) -> ColumnElement[bool]:
    place = f"{PLACE}: filters[{number}]"
    if not isinstance(item, dict) or set(item) != {"field", "operator", "value"}:
        raise DataLineageError(
            f"a filter is a dict of 'field', 'operator' and 'value', found {item!r}",
            place=place,
            hint='e.g. {"field": "version", "operator": ">=", "value": 2}',
        )
    field, operator, value = item["field"], item["operator"], item["value"]
    if field not in FIELDS:
        raise DataLineageError(
            f"unknown field {field!r}", place=place, hint=f"the fields are: {', '.join(FIELDS)}"
        )
    if operator not in OPERATORS:
        raise DataLineageError(
            f"unknown operator {operator!r}",
            place=place,
            hint=f"the operators are: {', '.join(OPERATORS)}",
        )
    listed = operator in ("in", "!in")
    if listed and not isinstance(value, list | tuple):
        raise DataLineageError(f"'{operator}' takes a list of values, found {value!r}", place=place)
    if field == "createdAt":
        value = [_moment(v, place) for v in value] if listed else _moment(value, place)
    else:  # PostgreSQL compares a column only with values of its type (SQLite converts)
        for one in value if listed else [value]:
            _check_type(field, one, place)
    return OPERATORS[operator](FIELDS[field], value)


def _moment(value: Any, place: str) -> datetime:
    """A time as Supervisely writes it (ISO 8601 text, ``Z`` for UTC) or a datetime, in UTC."""
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        raise DataLineageError(
            f"createdAt takes an ISO 8601 time, found {value!r}",
            place=place,
            hint="e.g. 2026-12-07T16:00:00Z",
        ) from None
    # the store keeps UTC without a zone (SQLite): compare in the same terms
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment


def _check_type(field: str, value: Any, place: str) -> None:
    number = field in ("id", "version")
    if number and (not isinstance(value, int) or isinstance(value, bool)):
        raise DataLineageError(f"'{field}' takes whole numbers, found {value!r}", place=place)
    if not number and not isinstance(value, str):
        raise DataLineageError(f"'{field}' takes texts, found {value!r}", place=place)
