"""Roboflow's comparators (BinaryStatement) and unary operators (UnaryStatement).

Each takes operand values already computed and answers a bool; a value of the wrong type
is an ``ExpressionEvaluationError`` naming the comparator.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import supervision as sv

from visionflow.expressions.roboflow.values import is_number, mismatch, plain


def _truth(result: object) -> bool:
    # numpy comparisons give arrays: equal only when every element is
    if isinstance(result, np.ndarray):
        return bool(result.all())
    return bool(result)


def _equal(left, right) -> bool:
    return _truth(plain(left) == plain(right))


def _numbers(name: str, compare: Callable[[float, float], bool]):
    def check(left, right) -> bool:
        for value in (left, right):
            if not is_number(value):
                raise mismatch(f"{name!r}", "two numbers", value)
        return bool(compare(plain(left), plain(right)))

    return check


def _texts(name: str, compare: Callable[[str, str], bool]):
    def check(left, right) -> bool:
        for value in (left, right):
            if not isinstance(value, str):
                raise mismatch(f"{name!r}", "two texts", value)
        return compare(left, right)

    return check


_CONTAINERS = (list, tuple, dict, set, frozenset, str)


def _member(left, right) -> bool:
    if not isinstance(right, _CONTAINERS):
        raise mismatch("'in (Sequence)'", "a list or a dictionary on the right", right)
    return plain(left) in right


def _sequences(name: str, combine: Callable) -> Callable:
    def check(left, right) -> bool:
        for value in (left, right):
            if not isinstance(value, list | tuple | set | frozenset):
                raise mismatch(f"{name!r}", "two lists", value)
        return combine(plain(item) in right for item in left)

    return check


def _point(value) -> tuple[float, float]:
    """A point (x, y), or the center of one detection (the tuple DetectionsFilter gives)."""
    if isinstance(value, sv.Detections) and len(value) == 1:
        value = next(iter(value))
    if isinstance(value, tuple) and len(value) == 6:
        x_min, y_min, x_max, y_max = (float(v) for v in value[0])
        return (x_min + x_max) / 2, (y_min + y_max) / 2
    if (
        isinstance(value, list | tuple | np.ndarray)
        and len(value) == 2
        and all(is_number(v) for v in value)
    ):
        return float(value[0]), float(value[1])
    raise mismatch("'(Detection) in zone'", "a detection or a point [x, y] on the left", value)


def _polygon(value) -> list[tuple[float, float]]:
    points = list(value) if isinstance(value, list | tuple | np.ndarray) else []
    if len(points) < 3 or not all(
        isinstance(p, list | tuple | np.ndarray) and len(p) == 2 and all(map(is_number, p))
        for p in points
    ):
        raise mismatch("'(Detection) in zone'", "a zone (3 or more points [x, y])", value)
    return [(float(x), float(y)) for x, y in points]


def _on_segment(x, y, a, b) -> bool:
    (ax, ay), (bx, by) = a, b
    cross = (bx - ax) * (y - ay) - (by - ay) * (x - ax)
    return cross == 0 and min(ax, bx) <= x <= max(ax, bx) and min(ay, by) <= y <= max(ay, by)


def in_zone(left, right) -> bool:
    """The point (or the detection's center) lies inside the polygon or on its edge."""
    x, y = _point(left)
    polygon = _polygon(right)
    inside = False
    for a, b in zip(polygon, polygon[1:] + polygon[:1], strict=True):
        if _on_segment(x, y, a, b):
            return True
        (ax, ay), (bx, by) = a, b
        if (ay > y) != (by > y) and x < ax + (y - ay) * (bx - ax) / (by - ay):
            inside = not inside  # even-odd rule: each edge crossed to the right flips it
    return inside


BINARY: dict[str, Callable[[object, object], bool]] = {
    "==": _equal,
    "(Number) ==": _equal,
    "!=": lambda left, right: not _equal(left, right),
    "(Number) !=": lambda left, right: not _equal(left, right),
    "(Number) >": _numbers("(Number) >", lambda a, b: a > b),
    "(Number) >=": _numbers("(Number) >=", lambda a, b: a >= b),
    "(Number) <": _numbers("(Number) <", lambda a, b: a < b),
    "(Number) <=": _numbers("(Number) <=", lambda a, b: a <= b),
    "(String) startsWith": _texts("(String) startsWith", str.startswith),
    "(String) endsWith": _texts("(String) endsWith", str.endswith),
    "(String) contains": _texts("(String) contains", lambda a, b: b in a),
    "in (Sequence)": _member,
    "any in (Sequence)": _sequences("any in (Sequence)", any),
    "all in (Sequence)": _sequences("all in (Sequence)", all),
    "(Detection) in zone": in_zone,
}
BINARY_NAMES: tuple[str, ...] = tuple(BINARY)

_SIZED = (list, tuple, dict, set, frozenset, str, sv.Detections)


def _size(value) -> int:
    if not isinstance(value, _SIZED):
        raise mismatch("'(Sequence) is empty'", "a list, a dictionary or detections", value)
    return len(value)


UNARY: dict[str, Callable[[object], bool]] = {
    "Exists": lambda value: value is not None,
    "DoesNotExist": lambda value: value is None,
    "(Boolean) is True": lambda value: plain(value) is True,
    "(Boolean) is False": lambda value: plain(value) is False,
    "(Sequence) is empty": lambda value: _size(value) == 0,
    "(Sequence) is not empty": lambda value: _size(value) > 0,
}
UNARY_NAMES: tuple[str, ...] = tuple(UNARY)
