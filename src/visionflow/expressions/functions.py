"""What an expression can compute: a fixed whitelist of functions and operators.

Nothing else is reachable from an expression. The operators that could build huge values
(``*`` on sequences, ``**``) refuse to go over a size limit.

Every property (``count``, ``class_names``, ``width``...) is also a one-argument function;
a general function of the same name (``sum``, ``min``, ``max``, ``unique``, ``mean``) wins,
and behaves the same on lists.
"""

from __future__ import annotations

import ast
import numbers
import operator
from collections.abc import Callable
from typing import Any

from visionflow.expressions.properties import PROPERTIES, unique


def lower(text: str) -> str:
    return text.lower()


def upper(text: str) -> str:
    return text.upper()


def strip(text: str) -> str:
    return text.strip()


def startswith(text: str, prefix: str) -> bool:
    return text.startswith(prefix)


def endswith(text: str, suffix: str) -> bool:
    return text.endswith(suffix)


def contains(container, item) -> bool:
    """``item in container``: a substring of a string, an item of a list, a key of a dict."""
    return item in container


def count_of(sequence, value) -> int:
    """How many times ``value`` occurs in ``sequence`` (substrings, for a string)."""
    if isinstance(sequence, str):
        return sequence.count(value)
    return sum(1 for item in sequence if item == value)


def mean(values) -> float | None:
    """The arithmetic mean; None for no values."""
    values = list(values)
    return sum(values) / len(values) if values else None


def total(values) -> Any:
    # Only the one-argument form: a list ``start`` would let sum() concatenate lists
    # quadratically, around the size caps on ``*``.
    return sum(values)


total.__name__ = "sum"

_GENERAL: dict[str, Callable[..., Any]] = {
    "len": len,
    "min": min,
    "max": max,
    "sum": total,
    "abs": abs,
    "round": round,
    "any": any,
    "all": all,
    "sorted": sorted,
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "list": list,
    "lower": lower,
    "upper": upper,
    "strip": strip,
    "startswith": startswith,
    "endswith": endswith,
    "contains": contains,
    "unique": unique,
    "count_of": count_of,
    "mean": mean,
}

FUNCTIONS: dict[str, Callable[..., Any]] = {**PROPERTIES, **_GENERAL}
"""Name -> function, for every function an expression may call."""

KEYWORD_ARGUMENTS: dict[str, frozenset[str]] = {
    "sorted": frozenset({"reverse"}),
    "min": frozenset({"default"}),
    "max": frozenset({"default"}),
    "round": frozenset({"ndigits"}),
}
"""The keyword arguments a function accepts; every other function takes positional ones."""


# --- operators ------------------------------------------------------------------------

MAX_EXPONENT = 1_000
MAX_INT_BITS = 100_000  # largest int ``**`` may produce
MAX_REPEAT = 1_000_000  # longest string or list ``*`` may produce

_SEQUENCES = (str, bytes, list, tuple)


def _multiply(left, right):
    if isinstance(left, _SEQUENCES) and isinstance(right, int):
        _check_size("*", _items(left, MAX_REPEAT // max(right, 1)) * right, left)
    elif isinstance(right, _SEQUENCES) and isinstance(left, int):
        _check_size("*", _items(right, MAX_REPEAT // max(left, 1)) * left, right)
    return left * right


def _add(left, right):
    # a chain of ``+`` of large sequences copies each partial sum again: quadratic
    if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        _check_size("+", _items(left, MAX_REPEAT) + _items(right, MAX_REPEAT), left)
    return left + right


def _items(value, limit: int) -> int:
    """Characters and items of a sequence, nested ones included (a list repeated inside
    another counts each time, as its copies are written out); counting stops past
    ``limit``."""
    if isinstance(value, str | bytes):
        return len(value)
    count, waiting = 0, [value]
    while waiting and count <= limit:
        items = waiting.pop()
        count += len(items)
        waiting.extend(item for item in items if isinstance(item, _SEQUENCES) and item)
    return count


def _check_size(symbol: str, size: int, operand) -> None:
    if size > MAX_REPEAT:
        counted = "" if isinstance(operand, str | bytes) else "at least "  # counting stopped
        raise ValueError(
            f"'{symbol}' would make {counted}{size:,} items; the limit is {MAX_REPEAT:,}"
        )


def _power(base, exponent):
    if isinstance(exponent, numbers.Real) and abs(exponent) > MAX_EXPONENT:
        raise ValueError(f"exponent {exponent} is over the limit of {MAX_EXPONENT}")
    too_big = isinstance(base, int) and isinstance(exponent, int)
    if too_big and base.bit_length() * exponent > MAX_INT_BITS:
        raise ValueError(f"the result of ** would have over {MAX_INT_BITS:,} bits")
    return base**exponent


def _modulo(left, right):
    if isinstance(left, str | bytes):
        raise TypeError("formatting strings with % is not supported; join with + and str()")
    return left % right


BINARY_OPERATORS = {
    ast.Add: _add,
    ast.Sub: operator.sub,
    ast.Mult: _multiply,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: _modulo,
    ast.Pow: _power,
}
UNARY_OPERATORS = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}
COMPARISONS = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda item, container: item in container,
    ast.NotIn: lambda item, container: item not in container,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}
