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
DETECTION_KINDS = (  # the kinds whose values are supervision.Detections
    "object_detection_prediction",
    "instance_segmentation_prediction",
    "keypoint_detection_prediction",
)


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
    return name in _REGISTRY or canonical_kind(name) in _REGISTRY


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

# Roboflow Workflows' kinds that visionflow had no name for (the names its documents and
# blocks use); the values are what its blocks give, and visionflow checks only their name.
for _name, _text in [
    ("video_metadata", "metadata of a video frame (video id, fps, frame number, timestamp)"),
    ("roboflow_model_id", "a Roboflow model id, `<project>/<version>` or an alias"),
    ("roboflow_project", "a Roboflow project name"),
    ("roboflow_api_key", "a Roboflow API key (accepted, never used: nothing is sent anywhere)"),
    ("rgb_color", "a colour as an (R, G, B) tuple"),
    ("image_keypoints", "keypoints found by a classical method (serialised OpenCV KeyPoint)"),
    ("serialised_payloads", "a list of serialised values (text, bytes or JSON) for a sink"),
    ("bytes", "raw bytes"),
    ("top_class", "the top class of a classification, as text"),
    ("detection", "one detection of a prediction (a row of supervision.Detections)"),
    ("point", "a point (x, y)"),
    ("contours", "a list of contours, each an array of points"),
    ("zone", "a polygon zone: a list of (x, y) points"),
    ("qr_code_detection", "QR codes found, with their data (supervision.Detections)"),
    ("bar_code_detection", "barcodes found, with their data (supervision.Detections)"),
    ("prediction_type", "the type of a prediction, as text (`object-detection`, ...)"),
    ("parent_id", "the id of the image (or detection) a value was made from"),
    ("image_metadata", "an image's metadata (`width`, `height`)"),
    ("language_model_output", "the text a language model wrote"),
    ("inference_id", "the id of one inference, for correlation"),
    ("secret", "a secret value (password, credential)"),
    ("embedding", "a vector embedding: a list of floats"),
    # given by Roboflow's blocks (blocks/roboflow), which load when a document needs them:
    # known before, so that inputs and `visionflow kinds` have them regardless
    ("timestamp", "a moment in time (a timezone-aware datetime)"),
    ("detections_overlaps", "overlap records of pairs of detections"),
]:
    register_kind(_name, _text)

ALIASES: dict[str, str] = {"dictionary": "dict", "list_of_values": "list"}
"""Roboflow's names for kinds visionflow already has: the same kind under another name."""

for _alias, _kind in ALIASES.items():
    register_kind(_alias, f"Roboflow's name for `{_kind}` (the same kind)")


def canonical_kind(name: str) -> str:
    """The kind a name stands for: an alias's kind, ``Batch[x]`` (Roboflow before 1.0) x.

    >>> canonical_kind("dictionary"), canonical_kind("Batch[image]"), canonical_kind("float")
    ('dict', 'image', 'float')
    """
    if name.startswith("Batch[") and name.endswith("]"):
        name = name[6:-1]
    return ALIASES.get(name, name)


_NARROWER: dict[str, str] = {"float_zero_to_one": "float"}
"""Kinds that are a part of another: a value of the narrower kind feeds the broader one."""


def kinds_meet(produced: frozenset[str], accepted: frozenset[str]) -> bool:
    """True when a value of one of ``produced`` kinds may feed a field of ``accepted``."""
    if WILDCARD in produced or WILDCARD in accepted:
        return True
    if not produced.isdisjoint(accepted):
        return True
    produced = frozenset(map(canonical_kind, produced))  # compile time only: cheap enough
    accepted = frozenset(map(canonical_kind, accepted))
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
_CHECKS.update({alias: _CHECKS[kind] for alias, kind in ALIASES.items()})


def value_fits(kinds: frozenset[str], value: object) -> bool:
    """Whether a runtime value is of one of ``kinds``; only kinds of plain values are checked
    (anything fits ``*`` or a set with any other kind).

    None fits none of them, nor NaN or infinity a number, nor 1.5 ``float_zero_to_one``:

    >>> value_fits(frozenset({"float"}), float("nan")), value_fits(frozenset({"integer"}), 3)
    (False, True)
    """
    if not values_checked(kinds):
        return True
    return any(_CHECKS[kind](value) for kind in kinds)


def values_checked(kinds: frozenset[str]) -> bool:
    """Whether ``value_fits`` looks at values of ``kinds`` at all: only when every kind is
    a kind of plain values (no ``*``, no kind of images, predictions or other objects)."""
    return WILDCARD not in kinds and kinds <= _CHECKS.keys()


def shown_value(value: object) -> str:
    """A value as an error message shows it: its repr, cut short when long.

    >>> shown_value("x" * 100)[-5:]
    'xx...'
    """
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."  # a huge value stays readable
