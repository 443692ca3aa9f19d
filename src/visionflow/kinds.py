"""Kinds: the data types that flow along a workflow's edges, and their compatibility.

An edge is valid when the kinds its source produces meet the kinds its target accepts;
the wildcard ``*`` meets everything. Plugins add kinds with ``register_kind``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

WILDCARD = "*"


@dataclass(frozen=True)
class Kind:
    name: str
    description: str = ""


_REGISTRY: dict[str, Kind] = {}


def register_kind(kind: Kind | str, description: str = "") -> Kind:
    """Make a kind known (idempotent); returns the registered kind."""
    if isinstance(kind, str):
        kind = Kind(kind, description)
    _REGISTRY.setdefault(kind.name, kind)
    return _REGISTRY[kind.name]


def is_known(name: str) -> bool:
    return name in _REGISTRY


def all_kinds() -> list[Kind]:
    return sorted(_REGISTRY.values(), key=lambda kind: kind.name)


for _name, _text in [
    (WILDCARD, "anything"),
    ("image", "an image (WorkflowImage: BGR pixels plus where it came from)"),
    ("object_detection_prediction", "boxes with classes and confidences (supervision.Detections)"),
    ("instance_segmentation_prediction", "boxes with masks (supervision.Detections)"),
    ("keypoint_detection_prediction", "boxes with keypoints (supervision.Detections)"),
    ("classification_prediction", "a classification result dict (top class, confidences)"),
    ("string", "text"),
    ("integer", "a whole number"),
    ("float", "a number"),
    ("float_zero_to_one", "a number from 0 to 1 (a confidence, a ratio); also a float"),
    ("boolean", "true or false"),
    ("list", "a list of values"),
    ("dict", "a mapping of names to values"),
    ("numpy_array", "a numpy array"),
]:
    register_kind(_name, _text)


_NARROWER: dict[str, str] = {"float_zero_to_one": "float"}
"""Kinds that are a part of another: a value of the narrower kind feeds the broader one."""


def kinds_meet(produced: frozenset[str], accepted: frozenset[str]) -> bool:
    """True when a value of one of ``produced`` kinds may feed a field of ``accepted``."""
    if WILDCARD in produced or WILDCARD in accepted:
        return True
    if not produced.isdisjoint(accepted):
        return True
    return any(_NARROWER.get(kind) in accepted for kind in produced)


def _number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def _finite(value: object) -> bool:
    try:
        return _number(value) and math.isfinite(value)  # type: ignore[arg-type]
    except OverflowError:  # an integer beyond any float (10**400): no step could use it
        return False


_CHECKS: dict[str, Callable[[object], bool]] = {
    "string": lambda value: isinstance(value, str),
    "integer": lambda value: isinstance(value, numbers.Integral) and _number(value),
    "float": _finite,
    "float_zero_to_one": lambda value: _finite(value) and 0 <= value <= 1,  # type: ignore[operator]
    "boolean": lambda value: isinstance(value, bool | np.bool_),
    "list": lambda value: isinstance(value, list | tuple),
    "dict": lambda value: isinstance(value, dict),
}


def value_fits(kinds: frozenset[str], value: object) -> bool:
    """Whether a runtime value is of one of ``kinds``; only kinds of plain values are checked
    (anything fits ``*`` or a set with any other kind).

    None fits none of them, nor NaN or infinity a number, nor 1.5 ``float_zero_to_one``:

    >>> value_fits(frozenset({"float"}), float("nan")), value_fits(frozenset({"integer"}), 3)
    (False, True)
    """
    if WILDCARD in kinds or not kinds <= _CHECKS.keys():
        return True
    return any(_CHECKS[kind](value) for kind in kinds)



def shown_value(value: object) -> str:
    """A value as an error message shows it: its repr, cut short when long.

    >>> shown_value("x" * 100)[-5:]
    'xx...'
    """
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."  # a huge value stays readable
