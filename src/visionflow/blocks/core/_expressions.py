"""Checking expressions of a step at compile time, with the step's variable names, and the
checks shared by the blocks that also take Roboflow's definitions (compiled in their
manifests by ``visionflow.expressions.roboflow``, imported on use: it needs supervision)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from visionflow.errors import ExpressionError
from visionflow.expressions import compile_expression

DEFAULT_OPERAND = "_"  # Roboflow's name for each detection inside DetectionsFilter


def check_expression(text: str, variables: set[str], field: str) -> None:
    """Compile ``text`` now so a mistake is a compile error naming the field."""
    try:
        compile_expression(text, variables=variables)
    except ExpressionError as error:
        raise error.at(f"field '{field}'") from None


def evaluate(text: str, variables: dict[str, Any]) -> Any:
    return compile_expression(text).evaluate(variables)


def exactly_one(fields: Mapping[str, object], **together: Mapping[str, object]) -> str:
    """The one of ``fields`` a step sets (visionflow's or Roboflow's way of saying it).

    ``together`` names, per field, the fields that only go with it: given with the other
    way they would be silently unused, so they are errors too.
    """
    given = [name for name, value in fields.items() if value is not None]
    if len(given) != 1:
        names = " or ".join(f"'{name}'" for name in fields)
        found = "both" if given else "neither"
        raise ExpressionError(f"give exactly one of {names} ({found} given)", place=None)
    chosen = given[0]
    for owner, companions in together.items():
        stray = [name for name, value in companions.items() if value and owner != chosen]
        if stray:
            raise ExpressionError(
                f"field '{stray[0]}' goes with '{owner}', which is not given",
                hint=f"this step uses '{chosen}'",
            )
    return chosen


def check_parameter_names(names: Collection[str], field: str) -> None:
    """``_`` is the operand a DetectionsFilter gives each detection: not a parameter name."""
    if DEFAULT_OPERAND in names:
        raise ExpressionError(
            f"'{DEFAULT_OPERAND}' is reserved (each detection, inside DetectionsFilter)",
            place=f"field '{field}'",
            hint="name the parameter otherwise",
        )


# Roboflow's definitions, compiled by modules that need supervision: imported on use, so
# that loading the block library stays light.


def roboflow_operations(operations: object, place: str, parameters: Collection[str]) -> Any:
    """A Roboflow operation chain compiled once: ``chain(value, parameters)``."""
    from visionflow.expressions.roboflow import compile_operations

    return compile_operations(operations, place, parameters)


def roboflow_statement(statement: object, place: str, parameters: Collection[str]) -> Any:
    """A Roboflow statement compiled once: ``predicate(parameters) -> bool``."""
    from visionflow.expressions.roboflow import compile_statement

    return compile_statement(statement, place, parameters)


def roboflow_switch(switch: object, data_operations: Mapping[str, Any], names: Collection[str]):
    """Expression's ``data_operations`` and ``switch``, compiled once (``_switch.py``)."""
    from visionflow.blocks.core._switch import compile_data_operations, compile_switch

    return compile_data_operations(data_operations, names), compile_switch(switch, names)
