"""The functions an expression may call: a fixed whitelist, nothing else is reachable.

Every property (``count``, ``class_names``, ``width``...) is also a one-argument function;
a general function of the same name (``sum``, ``min``, ``max``, ``unique``, ``mean``) wins,
and behaves the same on lists.
"""

from __future__ import annotations

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
