"""Checking expressions of a step at compile time, with the step's variable names."""

from __future__ import annotations

from typing import Any

from visionflow.errors import ExpressionError
from visionflow.expressions import compile_expression


def check_expression(text: str, variables: set[str], field: str) -> None:
    """Compile ``text`` now so a mistake is a compile error naming the field."""
    try:
        compile_expression(text, variables=variables)
    except ExpressionError as error:
        raise error.at(f"field '{field}'") from None


def evaluate(text: str, variables: dict[str, Any]) -> Any:
    return compile_expression(text).evaluate(variables)
