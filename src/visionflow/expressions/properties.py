"""Named properties of workflow values: ``count`` of detections, ``width`` of an image...

One table per kind of value (detections, classification, image, sequence, list, none);
``extract_property`` finds the value's kind and looks the property up in that kind's table.
The expression functions and the ``PropertyDefinition`` block both use these.

>>> extract_property([3, 1, 3], "unique")
[3, 1]
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from visionflow.data import detections as _conventions
from visionflow.data.image import WorkflowImage
from visionflow.suggestions import close_matches

# --- what kind of value is it -----------------------------------------------------------


def _is_detections(value) -> bool:
    # supervision is never imported here: if nobody imported it, no value can be Detections.
    supervision = sys.modules.get("supervision")
    return supervision is not None and isinstance(value, supervision.Detections)


def _is_classification(value) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("predictions"), list)
        and ("top" in value or "predicted_classes" in value)
    )


def _kind_of(value) -> str:
    if value is None:
        return "none"
    if _is_detections(value):
        return "detections"
    if _is_classification(value):
        return "classification"
    if isinstance(value, WorkflowImage):
        return "image"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, dict | str):
        return "sequence"
    return type(value).__name__


_KIND_NAMES = {
    "detections": "detections",
    "classification": "classification prediction",
    "image": "image",
    "list": "list",
    "sequence": "dict or string",
}

# --- detections (supervision.Detections) ------------------------------------------------


def _class_ids(detections) -> list[int]:
    if detections.class_id is None:
        return []
    return [int(class_id) for class_id in detections.class_id]


def _confidences(detections) -> list[float]:
    if detections.confidence is None:
        return []
    return [float(confidence) for confidence in detections.confidence]


def _boxes(detections) -> list[list[float]]:
    return detections.xyxy.astype(float).tolist()


def _centers(detections) -> list[list[float]]:
    return [[(x1 + x2) / 2, (y1 + y2) / 2] for x1, y1, x2, y2 in _boxes(detections)]


def _widths(detections) -> list[float]:
    return [x2 - x1 for x1, _, x2, _ in _boxes(detections)]


def _heights(detections) -> list[float]:
    return [y2 - y1 for _, y1, _, y2 in _boxes(detections)]


def _areas(detections) -> list[float]:
    return [(x2 - x1) * (y2 - y1) for x1, y1, x2, y2 in _boxes(detections)]


def _top_position(detections) -> int | None:
    if len(detections) == 0:
        return None
    if detections.confidence is None:
        return 0
    return int(detections.confidence.argmax())


def _top_detection_class(detections) -> str | None:
    position = _top_position(detections)
    names = _conventions.class_names(detections)
    return None if position is None or not names else names[position]


def _top_detection_confidence(detections) -> float | None:
    position = _top_position(detections)
    if position is None or detections.confidence is None:
        return None
    return float(detections.confidence[position])


def _keypoints(detections) -> list[list[list[float]]]:
    keypoints = detections.data.get(_conventions.KEYPOINTS_XY)
    if keypoints is None:
        return [[] for _ in range(len(detections))]
    return [[[float(x), float(y)] for x, y in points] for points in keypoints]


_DETECTIONS: dict[str, Callable[[Any], Any]] = {
    "count": len,
    "class_names": _conventions.class_names,
    "class_ids": _class_ids,
    "confidences": _confidences,
    "boxes": _boxes,
    "xyxy": _boxes,
    "centers": _centers,
    "areas": _areas,
    "widths": _widths,
    "heights": _heights,
    "detection_ids": _conventions.detection_ids,
    "top_class": _top_detection_class,
    "top_confidence": _top_detection_confidence,
    "keypoints": _keypoints,
}

# --- classification predictions (dicts) -------------------------------------------------


def _ranked(prediction: dict) -> list[dict]:
    return sorted(prediction["predictions"], key=lambda item: -item.get("confidence", 0.0))


def _top_class(prediction: dict) -> str | None:
    if "top" in prediction:
        return prediction["top"]
    predicted = set(_predicted(prediction))
    ranked = [item["class"] for item in _ranked(prediction) if item["class"] in predicted]
    return ranked[0] if ranked else None


def _top_confidence(prediction: dict) -> float | None:
    if "confidence" in prediction and "top" in prediction:
        return float(prediction["confidence"])
    top = _top_class(prediction)
    matches = [item["confidence"] for item in prediction["predictions"] if item["class"] == top]
    return float(matches[0]) if matches else None


def _predicted(prediction: dict) -> list[str]:
    if "predicted_classes" in prediction:
        return list(prediction["predicted_classes"])
    return [prediction["top"]]


_CLASSIFICATION: dict[str, Callable[[Any], Any]] = {
    "count": lambda prediction: len(prediction["predictions"]),
    "top_class": _top_class,
    "top_confidence": _top_confidence,
    "class_names": lambda prediction: [item["class"] for item in _ranked(prediction)],
    "class_ids": lambda prediction: [int(item["class_id"]) for item in _ranked(prediction)],
    "confidences": lambda prediction: [float(item["confidence"]) for item in _ranked(prediction)],
    "predicted_classes": _predicted,
}

# --- images -----------------------------------------------------------------------------

_IMAGE: dict[str, Callable[[Any], Any]] = {
    "width": lambda image: image.width,
    "height": lambda image: image.height,
    "image_size": lambda image: {"width": image.width, "height": image.height},
    "aspect_ratio": lambda image: image.width / image.height,
    "image_id": lambda image: image.image_id,
}

# --- lists, tuples, dicts, strings ------------------------------------------------------


def _items(value) -> list:
    """What ``first`` and ``last`` pick from: a dict's values, a sequence's items."""
    return list(value.values()) if isinstance(value, dict) else value


def _mean(values) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


def unique(values) -> list:
    """The distinct items, in the order they first appear."""
    return list(dict.fromkeys(values))


_SEQUENCE: dict[str, Callable[[Any], Any]] = {
    "count": len,
    "is_empty": lambda value: len(value) == 0,
    "first": lambda value: _items(value)[0] if len(value) else None,
    "last": lambda value: _items(value)[-1] if len(value) else None,
}

_LIST: dict[str, Callable[[Any], Any]] = {
    **_SEQUENCE,
    "unique": unique,
    "sum": sum,
    "mean": _mean,
    "min": lambda values: min(values) if len(values) else None,
    "max": lambda values: max(values) if len(values) else None,
}

_TABLES = {
    "detections": _DETECTIONS,
    "classification": _CLASSIFICATION,
    "image": _IMAGE,
    "list": _LIST,
    "sequence": _SEQUENCE,
}

_DESCRIPTIONS = {
    "count": "number of detections / predictions / items (None counts as 0)",
    "class_names": "class name of each detection; classification: all classes, best first",
    "class_ids": "class id of each detection; classification: all ids, best first",
    "confidences": "confidence of each detection; classification: all, best first",
    "boxes": "[x1, y1, x2, y2] of each detection",
    "xyxy": "same as boxes",
    "centers": "[x, y] centre of each detection's box",
    "areas": "box area of each detection",
    "widths": "box width of each detection",
    "heights": "box height of each detection",
    "detection_ids": "id of each detection",
    "top_class": "class with the highest confidence (None when there is none)",
    "top_confidence": "highest confidence (None when there is none)",
    "keypoints": "[[x, y], ...] of each detection ([] per detection without keypoints)",
    "predicted_classes": "classes a multi-label model predicted ([top] for single-label)",
    "width": "image width in pixels",
    "height": "image height in pixels",
    "image_size": '{"width": w, "height": h} of an image',
    "aspect_ratio": "image width / height",
    "image_id": "the image's id",
    "is_empty": "True when there are no items (None is empty)",
    "first": "first item (a dict's first value); None when empty",
    "last": "last item (a dict's last value); None when empty",
    "unique": "distinct items of a list, in the order they first appear",
    "sum": "sum of a list of numbers",
    "mean": "mean of a list of numbers (None when empty)",
    "min": "smallest item of a list (None when empty)",
    "max": "largest item of a list (None when empty)",
}

# --- public -----------------------------------------------------------------------------


def extract_property(value: Any, name: str) -> Any:
    """The property ``name`` of ``value``; ValueError when it does not apply to the value.

    >>> extract_property({"a": 1, "b": 2}, "count")
    2
    """
    if name not in _DESCRIPTIONS:
        close = close_matches(name, _DESCRIPTIONS, n=3)
        suggestion = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown property '{name}'{suggestion}")
    kind = _kind_of(value)
    if kind == "none":
        return {"count": 0, "is_empty": True}.get(name)
    table = _TABLES.get(kind, {})
    if name not in table:
        applies_to = [_KIND_NAMES[kind] for kind, table in _TABLES.items() if name in table]
        raise ValueError(
            f"property '{name}' does not apply to {_KIND_NAMES.get(kind, kind)} values; "
            f"it applies to: {', '.join(applies_to)}"
        )
    return table[name](value)


def _property_function(name: str) -> Callable[[Any], Any]:
    def read(value):
        return extract_property(value, name)

    read.__name__ = read.__qualname__ = name
    read.__doc__ = _DESCRIPTIONS[name]
    return read


PROPERTIES: dict[str, Callable[[Any], Any]] = {
    name: _property_function(name) for name in _DESCRIPTIONS
}
"""Every property as a one-argument function, e.g. ``PROPERTIES["count"](detections)``."""
