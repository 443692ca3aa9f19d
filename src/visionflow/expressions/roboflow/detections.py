"""Roboflow's operations on detections (``supervision.Detections``) and on one detection.

Every operation returns new detections and leaves its input as it was: a value may be read
by several steps at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import supervision as sv

from visionflow.data import detections as det
from visionflow.errors import ExpressionEvaluationError
from visionflow.expressions.roboflow.fields import Context, ParameterName
from visionflow.expressions.roboflow.values import (
    DETECTION,
    Parameters,
    expect_detections,
    mismatch,
    parameter,
    plain,
)

Step = Callable[[Any, Parameters], Any]

# --- properties ------------------------------------------------------------------------

CORNERS = {  # property -> (x column, y column) of xyxy
    "top_left": (0, 1),
    "top_right": (2, 1),
    "bottom_left": (0, 3),
    "bottom_right": (2, 3),
}
DETECTIONS_PROPERTIES = (
    "confidence", "class_name", "x_min", "x_max", "y_min", "y_max", "size", "class_id",
    "center", *CORNERS,
)  # fmt: skip
_COLUMNS = {"x_min": 0, "y_min": 1, "x_max": 2, "y_max": 3}


def _areas(xyxy: np.ndarray) -> np.ndarray:
    return (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])


def _anchors(xyxy: np.ndarray, name: str) -> list[list[int]]:
    # Roboflow gives anchors of many detections as rounded integer pixels
    if name == "center":
        points = np.stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, (xyxy[:, 1] + xyxy[:, 3]) / 2], 1)
    else:
        x, y = CORNERS[name]
        points = xyxy[:, [x, y]]
    return np.round(points).astype(int).tolist()


def detections_property(name: str, detections: sv.Detections) -> list:
    xyxy = np.asarray(detections.xyxy, dtype=float).reshape(-1, 4)
    if name in _COLUMNS:
        return xyxy[:, _COLUMNS[name]].tolist()
    if name == "size":
        return _areas(xyxy).tolist()
    if name == "center" or name in CORNERS:
        return _anchors(xyxy, name)
    if name == "class_name":
        names = detections.data.get(det.CLASS_NAME)
        return [] if names is None else [str(item) for item in names]
    column = detections.confidence if name == "confidence" else detections.class_id
    if column is None:
        raise ExpressionEvaluationError(f"these detections have no {name}")
    return np.asarray(column).tolist()


def extract_detections_property(fields: dict, context: Context) -> Step:
    name = fields["property_name"]

    def run(value, parameters):
        return detections_property(name, expect_detections("DetectionsPropertyExtract", value))

    return run


def one_detection(operation: str, value) -> tuple[np.ndarray, Any, Any, dict]:
    """(xyxy, confidence, class_id, data) of one detection: the tuple iterating
    ``supervision.Detections`` yields (what DetectionsFilter gives its statements as ``_``),
    or detections holding exactly one."""
    if isinstance(value, sv.Detections) and len(value) == 1:
        value = next(iter(value))
    if not (isinstance(value, tuple) and len(value) == 6):
        raise mismatch(operation, DETECTION, value)
    xyxy, _mask, confidence, class_id, _tracker, data = value
    return np.asarray(xyxy, dtype=float), confidence, class_id, data or {}


def detection_property(name: str, value) -> Any:
    xyxy, confidence, class_id, data = one_detection("ExtractDetectionProperty", value)
    x_min, y_min, x_max, y_max = (float(v) for v in xyxy)
    if name in _COLUMNS:
        return float(xyxy[_COLUMNS[name]])
    if name == "size":
        return (x_max - x_min) * (y_max - y_min)
    if name == "center":
        return ((x_min + x_max) / 2, (y_min + y_max) / 2)
    if name in CORNERS:
        x, y = CORNERS[name]
        return (float(xyxy[x]), float(xyxy[y]))
    if name == "class_name":
        found = data.get(det.CLASS_NAME)
        return None if found is None else str(found)
    return plain(confidence if name == "confidence" else class_id)


def extract_detection_property(fields: dict, context: Context) -> Step:
    name = fields["property_name"]
    return lambda value, parameters: detection_property(name, value)


# --- geometry --------------------------------------------------------------------------


def _moved(detections: sv.Detections, delta: list[float]) -> sv.Detections:
    moved = detections[np.arange(len(detections))]  # a copy: indexing copies every array
    moved.xyxy = np.asarray(detections.xyxy, dtype=float) + np.asarray(delta, dtype=float)
    return moved


def offset_detections(fields: dict, context: Context) -> Step:
    half_x, half_y = fields["offset_x"] / 2, fields["offset_y"] / 2

    def run(value, parameters):
        detections = expect_detections("DetectionsOffset", value)
        return _moved(detections, [-half_x, -half_y, half_x, half_y])

    return run


def shift_detections(fields: dict, context: Context) -> Step:
    x, y = fields["shift_x"], fields["shift_y"]

    def run(value, parameters):
        return _moved(expect_detections("DetectionsShift", value), [x, y, x, y])

    return run


# --- selection and order ---------------------------------------------------------------

SELECTION_MODES = ("left_most", "right_most", "top_confidence", "first", "last")
SORT_MODES = ("confidence", "x_min", "x_max", "y_min", "y_max", "size", "center_x", "center_y")


def _centers_x(detections: sv.Detections) -> np.ndarray:
    xyxy = np.asarray(detections.xyxy, dtype=float)
    return (xyxy[:, 0] + xyxy[:, 2]) / 2


def _selected(mode: str, detections: sv.Detections) -> int:
    if mode == "first":
        return 0
    if mode == "last":
        return len(detections) - 1
    if mode == "top_confidence":
        if detections.confidence is None:
            raise ExpressionEvaluationError("DetectionsSelection: no confidence to select by")
        return int(np.argmax(detections.confidence))  # the first of equal ones
    centers = _centers_x(detections)
    return int(np.argmin(centers) if mode == "left_most" else np.argmax(centers))


def select_detections(fields: dict, context: Context) -> Step:
    mode = fields["mode"]

    def run(value, parameters):
        detections = expect_detections("DetectionsSelection", value)
        if len(detections) == 0:
            return detections[np.arange(0)]
        return detections[[_selected(mode, detections)]]

    return run


def _sort_key(mode: str, detections: sv.Detections) -> np.ndarray | None:
    xyxy = np.asarray(detections.xyxy, dtype=float)
    if mode == "confidence":
        return detections.confidence
    if mode == "size":
        return _areas(xyxy)
    if mode == "center_x":
        return (xyxy[:, 0] + xyxy[:, 2]) / 2
    if mode == "center_y":
        return (xyxy[:, 1] + xyxy[:, 3]) / 2
    return xyxy[:, _COLUMNS[mode]]


def sort_detections(fields: dict, context: Context) -> Step:
    mode, ascending = fields["mode"], fields["ascending"]

    def run(value, parameters):
        detections = expect_detections("SortDetections", value)
        key = _sort_key(mode, detections)
        if len(detections) == 0 or key is None:  # nothing to order by: left as it is
            return detections
        order = np.argsort(key, kind="stable")
        return detections[order if ascending else order[::-1]]

    return run


# --- classes ---------------------------------------------------------------------------


def _class_ids(names: list[str], ids: list[int], class_map: dict, strict: bool, offset: int):
    if strict:
        missing = [name for name in dict.fromkeys(names) if name not in class_map]
        if missing:
            raise ExpressionEvaluationError(
                f"DetectionsRename: class {missing[0]!r} is not in class_map",
                hint="with strict: true every class must be renamed; set strict: false to keep "
                "the others",
            )
        # every target class gets its rank among the targets, sorted by name
        return {name: rank for rank, name in enumerate(sorted(set(class_map.values())))}
    known = dict(zip(names, ids, strict=True))
    new = sorted({target for target in class_map.values() if target not in known})
    known.update({name: offset + rank for rank, name in enumerate(new)})
    return known


def is_class_map(value: object) -> bool:
    """Roboflow's class_map: class names to class names (numbers cannot be ordered with them)."""
    return isinstance(value, dict) and all(
        isinstance(key, str) and isinstance(name, str) for key, name in value.items()
    )


def rename_detections(fields: dict, context: Context) -> Step:
    class_map, strict = fields["class_map"], fields["strict"]
    offset = fields["new_classes_id_offset"]

    def run(value, parameters):
        detections = expect_detections("DetectionsRename", value)
        mapping = (
            parameter("DetectionsRename", class_map, parameters)
            if isinstance(class_map, ParameterName)
            else class_map
        )
        is_strict = (
            parameter("DetectionsRename", strict, parameters)
            if isinstance(strict, ParameterName)
            else strict
        )
        if not is_class_map(mapping):
            raise mismatch("DetectionsRename class_map", "a mapping of texts to texts", mapping)
        if not isinstance(is_strict, bool):
            raise mismatch("DetectionsRename strict", "true or false", is_strict)
        names = det.class_names(detections)
        ids = [] if detections.class_id is None else [int(i) for i in detections.class_id]
        ids = ids or [-1] * len(names)
        new_ids = _class_ids(names, ids, mapping, is_strict, offset)
        renamed = detections[np.arange(len(detections))]
        new_names = [mapping.get(name, name) for name in names]
        renamed.data[det.CLASS_NAME] = np.array(new_names, dtype=object)
        renamed.class_id = np.array([new_ids[name] for name in new_names], dtype=int)
        return renamed

    return run


def pick_by_parent_class(fields: dict, context: Context) -> Step:
    parent_class = fields["parent_class"]

    def run(value, parameters):
        detections = expect_detections("PickDetectionsByParentClass", value)
        names = detections.data.get(det.CLASS_NAME)
        is_parent = np.zeros(len(detections), bool) if names is None else names == parent_class
        xyxy = np.asarray(detections.xyxy, dtype=float).reshape(-1, 4)
        others = np.flatnonzero(~is_parent)
        x, y = ((xyxy[others, :2] + xyxy[others, 2:]) / 2)[:, None, :].transpose(2, 0, 1)
        left, top, right, bottom = xyxy[is_parent].T
        # kept: the others whose center lies in (or on the edge of) a parent's box
        inside = ((x >= left) & (x <= right) & (y >= top) & (y <= bottom)).any(axis=1)
        return detections[others[inside]]

    return run


# --- as a dictionary -------------------------------------------------------------------


def _image_size(detections: sv.Detections) -> dict[str, int] | None:
    dimensions = detections.data.get(det.IMAGE_DIMENSIONS)
    if dimensions is None or len(dimensions) == 0:
        return None
    height, width = (int(v) for v in dimensions[0])
    return {"width": width, "height": height}


def detections_to_dictionary(fields: dict, context: Context) -> Step:
    def run(value, parameters):
        detections = expect_detections("DetectionsToDictionary", value)
        names, ids = det.class_names(detections), det.detection_ids(detections)
        rows = []
        for position, (x1, y1, x2, y2) in enumerate(np.asarray(detections.xyxy, float).tolist()):
            rows.append({
                "x": (x1 + x2) / 2, "y": (y1 + y2) / 2, "width": x2 - x1, "height": y2 - y1,
                "confidence": _item(detections.confidence, position),
                "class_id": _item(detections.class_id, position),
                "class": names[position] if position < len(names) else None,
                "detection_id": ids[position],
            })  # fmt: skip
        return {"image": _image_size(detections), "predictions": rows}

    return run


def _item(column, position: int):
    return None if column is None else plain(column[position])
