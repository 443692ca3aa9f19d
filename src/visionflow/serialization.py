"""Results to JSON: images to base64 with their origin, numpy to lists, detections to dicts.

Detections become ``{"image": {"width", "height"}, "predictions": [...]}`` with, per
detection: ``x``, ``y`` (box centre), ``width``, ``height``, ``confidence``, ``class``,
``class_id``, ``detection_id``, ``parent_id``, and when present ``keypoints``
(``[{"x", "y", "confidence", "class"}]``, and ``class_id`` where known, as Roboflow writes
it), ``points`` (mask outline polygon) and ``quad``
(a text detection's four ``[x, y]`` corners).
"""

from __future__ import annotations

import base64
import datetime
import math
import uuid
from typing import Any

import numpy as np

from visionflow.data import detections as det
from visionflow.data.image import WorkflowImage
from visionflow.data.sources import LOCAL, ImagePolicy, check_pixels
from visionflow.errors import RuntimeInputError

# Per-detection fields some blocks add, given in the JSON under their own names: a code's
# decoded text (barcodes, QR codes), areas (mask area measurement), nearest distances.
EXTRA_FIELDS = (
    *("data", "area_px", "area_converted", "nearest_target_distance"),
    # Roboflow's video analytics (time in zone, path deviation, velocity)
    *("path_deviation", "time_in_zone", "velocity", "speed", "smoothed_velocity"),
    "smoothed_speed",
    "quad",  # a text detection's quadrilateral: [[x, y]] x 4, clockwise from the top-left
)


def serialize(value: Any) -> Any:
    """A JSON-ready copy of ``value`` (results, or any value a step made).

    JSON has no NaN or infinity: such a number (from a model, an input, a computation)
    becomes null, as in JavaScript's ``JSON.stringify``. Bytes become base64 text, times
    ISO 8601 text.
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, dict):
        return {str(key): serialize(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [serialize(item) for item in value]
    if isinstance(value, np.generic):
        return serialize(value.item())
    if isinstance(value, np.ndarray):
        finite = value.dtype.kind != "f" or bool(np.isfinite(value).all())
        return value.tolist() if finite else serialize(value.tolist())
    if isinstance(value, WorkflowImage):
        return serialize_image(value)
    if type(value).__name__ == "Detections":
        return serialize(serialize_detections(value))  # boxes and scores may be NaN
    if isinstance(value, bytes | bytearray):  # e.g. the JPEG frames of an image stack
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()  # as Roboflow's serializer writes timestamps
    return str(value)


def serialize_image(image: WorkflowImage, quality: int = 90) -> dict[str, Any]:
    import cv2

    ok, encoded = cv2.imencode(".jpg", image.numpy, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"could not encode image {image.image_id} as JPEG")
    origin = image.origin
    return {
        "type": "base64",
        "value": base64.b64encode(encoded.tobytes()).decode("ascii"),
        "image_id": image.image_id,
        "parent_id": image.parent_id,
        "width": image.width,
        "height": image.height,
        "origin": {
            "root_id": origin.root_id,
            "offset_x": origin.offset_x,
            "offset_y": origin.offset_y,
            "root_width": origin.root_width,
            "root_height": origin.root_height,
        },
    }


def serialize_detections(detections) -> dict[str, Any]:
    names = det.class_names(detections)
    ids = det.detection_ids(detections)
    parents = detections.data.get(det.PARENT_ID)
    predictions = []
    for position, (x1, y1, x2, y2) in enumerate(detections.xyxy.tolist()):
        prediction = {
            "x": (x1 + x2) / 2,
            "y": (y1 + y2) / 2,
            "width": x2 - x1,
            "height": y2 - y1,
            "confidence": _item(detections.confidence, position),
            "class": names[position] if position < len(names) else None,
            "class_id": _item(detections.class_id, position),
            "detection_id": ids[position],
            "parent_id": None if parents is None else str(parents[position]),
        }
        if detections.tracker_id is not None:  # a tracker's id, as Roboflow's JSON has it
            prediction["tracker_id"] = int(detections.tracker_id[position])
        prediction.update(_keypoints(detections, position))
        for key in EXTRA_FIELDS:  # what Roboflow's blocks add that its JSON carries
            if key in detections.data:
                prediction[key] = serialize(detections.data[key][position])
        if detections.mask is not None:
            prediction["points"] = _outline(detections.mask[position])
        predictions.append(prediction)
    return {"image": _image_size(detections), "predictions": predictions}


def _item(array, position: int) -> Any:
    return None if array is None else array[position].item()


def _image_size(detections) -> dict[str, int] | None:
    dimensions = detections.data.get(det.IMAGE_DIMENSIONS)
    if dimensions is None or len(dimensions) == 0:
        size = getattr(detections, "metadata", {}).get(IMAGE_SIZE)  # none left, size kept
        return None if size is None else {"width": int(size[1]), "height": int(size[0])}
    height, width = (int(v) for v in dimensions[0])
    return {"width": width, "height": height}


def _keypoints(detections, position: int) -> dict[str, Any]:
    points = detections.data.get(det.KEYPOINTS_XY)
    if points is None:
        return {}
    confidences = detections.data.get(det.KEYPOINTS_CONFIDENCE)
    names = detections.data.get(det.KEYPOINTS_CLASS_NAME)
    ids = detections.data.get(det.KEYPOINTS_CLASS_ID)
    keypoints = []
    for k, (x, y) in enumerate(np.asarray(points[position]).tolist()):
        keypoint = {
            "x": x,
            "y": y,
            "confidence": None if confidences is None else float(confidences[position][k]),
            "class": None if names is None else str(names[position][k]),
        }
        if ids is not None:
            keypoint["class_id"] = int(ids[position][k])
        keypoints.append(keypoint)
    return {"keypoints": keypoints}


def _outline(mask: np.ndarray) -> list[dict[str, float]]:
    import supervision as sv

    polygons = sv.mask_to_polygons(mask.astype(bool))
    if not polygons:
        return []
    largest = max(polygons, key=len)
    return [{"x": float(x), "y": float(y)} for x, y in largest]


# --- JSON back to values: detections and classifications given as inputs ----------------
# The forms above (and Roboflow's, which has the same keys) read back into what blocks
# take, so the JSON of one run can feed another. Mistakes are RuntimeInputError placed
# inside the value (``predictions[2] 'width'``); the caller puts the input's name first.

IMAGE_SIZE = "image_dimensions"  # detections.metadata: (height, width) when none is left


def deserialize_detections(value: Any, parent_id: str, policy: ImagePolicy = LOCAL) -> Any:
    """``{"image": {"width", "height"}, "predictions": [{"x", "y", "width", "height", ...}]}``
    -> ``supervision.Detections`` (``serialize`` gives that form back unchanged); the image
    size within ``policy``'s pixel limit.

    A detection without ``detection_id`` gets a new one, without ``parent_id`` ``parent_id``;
    ``points`` (a mask outline) need the image's size.
    """
    import supervision as sv

    if isinstance(value, sv.Detections):
        return value
    if not isinstance(value, dict) or not isinstance(value.get("predictions"), list):
        raise _malformed('detections {"image": {...}, "predictions": [...]}', value)
    size = _read_image_size(value.get("image"), policy)
    rows = [_Row(item, position) for position, item in enumerate(value["predictions"])]
    if not rows:
        empty = sv.Detections.empty()
        if size is not None:
            empty.metadata[IMAGE_SIZE] = size
        return empty
    xyxy = np.array([row.xyxy for row in rows], dtype=float).reshape(-1, 4)
    detections = sv.Detections(
        xyxy=xyxy,
        confidence=_column(rows, "confidence", float, np.nan),
        class_id=_column(rows, "class_id", int),
        mask=_masks(rows, size),
        tracker_id=_column(rows, "tracker_id", int),
    )
    names = _column(rows, "class", object)
    if names is not None:
        detections.data[det.CLASS_NAME] = names
    detections.data[det.DETECTION_ID] = np.array(
        [row.text("detection_id") or str(uuid.uuid4()) for row in rows], dtype=object
    )
    parents = [row.text("parent_id", parent_id) for row in rows]
    if any(parents):  # all null: serialised detections that had no parent
        parents = [parent or parent_id for parent in parents]
        detections.data[det.PARENT_ID] = np.array(parents, dtype=object)
        detections.data[det.ROOT_PARENT_ID] = np.array(parents, dtype=object)
        detections.data[det.ROOT_PARENT_OFFSET] = np.zeros((len(rows), 2), dtype=int)
    if size is not None:
        detections.data[det.IMAGE_DIMENSIONS] = np.array([size] * len(rows), dtype=int)
        detections.data[det.ROOT_PARENT_DIMENSIONS] = np.array([size] * len(rows), dtype=int)
    detections.data.update(_read_keypoints(rows))
    detections.data.update(_read_extra_fields(rows))
    return detections


def _read_extra_fields(rows: list[_Row]) -> dict[str, np.ndarray]:
    """The fields blocks add (``EXTRA_FIELDS``: time in zone, velocity, ...) that every
    detection carries, as they were written: the JSON written again is the same."""
    found = {}
    for key in EXTRA_FIELDS:
        if not all(key in row.item for row in rows):
            continue  # on some detections only: no column to keep them in
        values = [row.item[key] for row in rows]
        if key == det.QUAD and all(map(_is_quad, values)):
            # (N, 4, 2) points, as the OCR head gives them: they move with crops and stitching
            found[key] = np.array(values, dtype=np.float32)
            continue
        if all(map(_is_number, values)) or all(
            isinstance(v, list) and v and all(map(_is_number, v)) for v in values
        ):
            try:  # numbers, or lists of them (velocity): an array, as the block gave
                found[key] = np.array(values)
                continue
            except ValueError:  # lists of several lengths
                pass
        found[key] = np.empty(len(rows), dtype=object)  # one JSON value each, as given
        for position, value in enumerate(values):
            found[key][position] = value
    return found


def deserialize_classification(value: Any, parent_id: str) -> dict[str, Any]:
    """A classification result (single-label ``top``, ``confidence``, ``predictions`` list;
    multi-label ``predicted_classes``, ``predictions``) checked, as a copy; without
    ``parent_id`` it gets ``parent_id``."""
    if not isinstance(value, dict) or "predictions" not in value:
        raise _malformed('a classification prediction {"predictions": ..., "top" ...}', value)
    if "predicted_classes" in value:
        _read_multi_label(value)
    elif "top" in value and "confidence" in value:
        _read_single_label(value)
    else:
        raise _malformed(
            "a classification prediction with 'top' and 'confidence' (single-label) "
            "or 'predicted_classes' (multi-label)",
            value,
        )
    return {**value, "parent_id": value.get("parent_id", parent_id)}


def _malformed(expected: str, value: Any, place: str | None = None) -> RuntimeInputError:
    shown = repr(value)
    shown = shown if len(shown) <= 80 else f"{shown[:77]}..."
    return RuntimeInputError(f"expected {expected}, found {shown}", place=place)


def _is_quad(value: Any) -> bool:
    """Four [x, y] points (a text detection's quadrilateral)."""
    return (
        isinstance(value, list)
        and len(value) == 4
        and all(isinstance(p, list) and len(p) == 2 and all(map(_is_number, p)) for p in value)
    )


def _is_number(value: Any) -> bool:
    """A JSON number a float holds (an integer of 400 digits is no coordinate)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        float(value)
    except OverflowError:
        return False
    return True


class _Row:
    """One serialised detection, its fields checked as they are read."""

    def __init__(self, item: Any, position: int):
        self.place = f"predictions[{position}]"
        if not isinstance(item, dict):
            raise _malformed("a detection (a mapping)", item, self.place)
        self.item = item
        x, y, width, height = (self.number(key) for key in ("x", "y", "width", "height"))
        if width < 0 or height < 0:
            raise _malformed("a width and height of at least 0", item, self.place)
        (x_min, x_max), (y_min, y_max) = _edges(x, width), _edges(y, height)
        self.xyxy = [x_min, y_min, x_max, y_max]

    def number(self, key: str) -> float:
        found = self.item.get(key)
        if not _is_number(found) or not math.isfinite(found):
            raise _malformed("a finite number", found, f"{self.place} '{key}'")
        return found

    def text(self, key: str, default: str | None = None) -> str | None:
        found = self.item.get(key, default)
        if found is not None and not isinstance(found, str):
            raise _malformed("a text", found, f"{self.place} '{key}'")
        return found


def _edges(centre: float, size: float) -> tuple[float, float]:
    """The two edges that ``serialize_detections`` turns back into exactly this centre and
    size. centre -/+ size / 2 may be a last bit off those edges (then the JSON written
    again would differ): the neighbouring floats are tried too."""
    low, high = centre - size / 2, centre + size / 2
    for low_step, high_step in _NEIGHBOURS:
        a, b = _nudged(low, low_step), _nudged(high, high_step)
        if (a + b) / 2 == centre and b - a == size:
            return a, b
    return low, high  # none found (not from serialize): the nearest


_NEIGHBOURS = [(a, b) for a in (0, -1, 1, -2, 2) for b in (0, -1, 1, -2, 2)]


def _nudged(value: float, steps: int) -> float:
    for _ in range(abs(steps)):
        value = math.nextafter(value, math.inf if steps > 0 else -math.inf)
    return value


def _is_integer(value: Any) -> bool:  # 3.0 too: JSON from JavaScript has no integers
    # within int64 too: ids and sizes are kept as numpy integers
    return _is_number(value) and float(value).is_integer() and abs(value) < 2**63


_CHECKS = {float: _is_number, int: _is_integer}


def _column(rows: list[_Row], key: str, kind: type, missing: Any = None) -> np.ndarray | None:
    """One field of every detection as an array; None when no detection has it. A null
    number becomes ``missing`` (NaN confidences are written as null)."""
    values = [row.item.get(key) for row in rows]
    if all(value is None for value in values):
        return None
    check = _CHECKS.get(kind, lambda v: isinstance(v, str))
    for row, value in zip(rows, values, strict=True):
        if value is None and missing is not None:
            continue
        if not check(value):
            wanted = {float: "a number", int: "an integer"}.get(kind, "a text")
            raise _malformed(
                f"{wanted} (as on the other detections)", value, f"{row.place} '{key}'"
            )
    filled = [missing if value is None else value for value in values]
    return np.array(filled, dtype=kind if kind is not int else np.int64)


def _read_image_size(image: Any, policy: ImagePolicy) -> tuple[int, int] | None:
    """(height, width) of ``{"width", "height"}``; None when not given (or given as nulls)."""
    if image is None or (isinstance(image, dict) and image.get("width") is None):
        return None
    if not isinstance(image, dict) or not all(
        _is_integer(image.get(key)) and image[key] > 0 for key in ("width", "height")
    ):
        raise _malformed("an image size {width, height} in pixels", image, "image")
    # held to the limit of an image given itself: masks are made at this size
    check_pixels((int(image["width"]), int(image["height"])), "image", policy)
    return int(image["height"]), int(image["width"])


def _masks(rows: list[_Row], size: tuple[int, int] | None) -> np.ndarray | None:
    outlines = [row.item.get("points") for row in rows]
    if all(outline is None for outline in outlines):
        return None
    if size is None:
        raise _malformed("the image size with mask outlines ('points')", None, "image")
    import supervision as sv

    height, width = size
    masks = np.zeros((len(rows), height, width), dtype=bool)
    for position, (row, outline) in enumerate(zip(rows, outlines, strict=True)):
        points = _points(outline, f"{row.place} 'points'")
        if len(points):
            # the outline's corners rounded to whole pixels, as Roboflow's engine reads
            # them (supervision's from_inference): passed as floats they were truncated
            corners = np.round(points).astype(np.int32)
            masks[position] = sv.polygon_to_mask(corners, (width, height)).astype(bool)
    return masks


def _points(outline: Any, place: str) -> np.ndarray:
    if not isinstance(outline, list) or not all(
        isinstance(point, dict) and _is_number(point.get("x")) and _is_number(point.get("y"))
        for point in outline
    ):
        raise _malformed("a list of points {x, y} (on every detection)", outline, place)
    return np.array([[point["x"], point["y"]] for point in outline], dtype=float).reshape(-1, 2)


def _read_keypoints(rows: list[_Row]) -> dict[str, np.ndarray]:
    found = [row.item.get("keypoints") for row in rows]
    if all(keypoints is None for keypoints in found):
        return {}
    counts = {len(keypoints) if isinstance(keypoints, list) else -1 for keypoints in found}
    if len(counts) != 1 or -1 in counts:
        raise _malformed("the same number of keypoints on every detection", found, "keypoints")
    points = [point for keypoints in found for point in keypoints]
    for point in points:
        if not (isinstance(point, dict) and all(_is_number(point.get(k)) for k in "xy")):
            raise _malformed("keypoints {x, y, confidence, class}", point, "keypoints")
    shape = (len(rows), counts.pop())
    data = {
        det.KEYPOINTS_XY: np.array([[p["x"], p["y"]] for p in points], float).reshape(*shape, 2)
    }
    confidences = [p.get("confidence") for p in points]
    if any(_is_number(value) for value in confidences):
        filled = [value if _is_number(value) else np.nan for value in confidences]
        data[det.KEYPOINTS_CONFIDENCE] = np.array(filled, dtype=float).reshape(shape)
    names = [p.get("class") for p in points]
    if any(name is not None for name in names):
        data[det.KEYPOINTS_CLASS_NAME] = np.array(names, dtype=object).reshape(shape)
    ids = [p.get("class_id") for p in points]
    # Roboflow's keypoint models give each point's class_id: kept when every point has one
    if ids and all(isinstance(i, int | np.integer) and not isinstance(i, bool) for i in ids):
        data[det.KEYPOINTS_CLASS_ID] = np.array(ids, dtype=int).reshape(shape)
    return data


def _read_single_label(value: dict) -> None:
    if not isinstance(value["top"], str) or not _is_number(value["confidence"]):
        raise _malformed("'top' a text and 'confidence' a number", value)
    entries = value["predictions"]
    if not isinstance(entries, list):
        raise _malformed("a list of class predictions", entries, "predictions")
    for position, entry in enumerate(entries):
        _class_score(entry, f"predictions[{position}]", named=True)


def _read_multi_label(value: dict) -> None:
    classes = value["predicted_classes"]
    if not isinstance(classes, list) or not all(isinstance(name, str) for name in classes):
        raise _malformed("a list of class names", classes, "predicted_classes")
    entries = value["predictions"]
    if isinstance(entries, dict):  # Roboflow's: {class: {"class_id", "confidence"}}
        for name, entry in entries.items():
            _class_score(entry, f"predictions '{name}'", named=False)
    elif isinstance(entries, list):  # visionflow's: [{"class", "class_id", "confidence"}]
        for position, entry in enumerate(entries):
            _class_score(entry, f"predictions[{position}]", named=True)
    else:
        raise _malformed("class predictions (a list or a mapping)", entries, "predictions")


def _class_score(entry: Any, place: str, named: bool) -> None:
    if not isinstance(entry, dict) or not _is_number(entry.get("confidence")):
        raise _malformed("a class prediction with a 'confidence'", entry, place)
    if named and not isinstance(entry.get("class"), str):
        raise _malformed("a class prediction with a 'class' name", entry, place)
