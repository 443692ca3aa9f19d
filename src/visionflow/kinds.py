"""Kinds: the data types that flow along a workflow's edges, and their compatibility.

An edge is valid when the kinds its source produces meet the kinds its target accepts;
the wildcard ``*`` meets everything. Plugins add kinds with ``register_kind``.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def kinds_meet(produced: frozenset[str], accepted: frozenset[str]) -> bool:
    """True when a value of one of ``produced`` kinds may feed a field of ``accepted``."""
    if WILDCARD in produced or WILDCARD in accepted:
        return True
    return not produced.isdisjoint(accepted)


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
    ("boolean", "true or false"),
    ("list", "a list of values"),
    ("dict", "a mapping of names to values"),
    ("numpy_array", "a numpy array"),
]:
    register_kind(_name, _text)


_PRIMITIVES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "float": (int, float),
    "boolean": (bool,),
    "list": (list, tuple),
    "dict": (dict,),
}


def value_fits(kinds: frozenset[str], value: object) -> bool:
    """Whether a runtime value can be of one of ``kinds`` (only primitive kinds are checked)."""
    if value is None or WILDCARD in kinds or not kinds <= _PRIMITIVES.keys():
        return True
    for kind in kinds:
        if kind in ("integer", "float") and isinstance(value, bool):
            continue
        if isinstance(value, _PRIMITIVES[kind]):
            return True
    return False
