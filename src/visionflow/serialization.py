"""Results to JSON: images to base64 with their origin, numpy to lists, detections to dicts.

Detections become ``{"image": {"width", "height"}, "predictions": [...]}`` with, per
detection: ``x``, ``y`` (box centre), ``width``, ``height``, ``confidence``, ``class``,
``class_id``, ``detection_id``, ``parent_id``, and when present ``keypoints``
(``[{"x", "y", "confidence", "class"}]``) and ``points`` (mask outline polygon).
"""

from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np

from visionflow.data import detections as det
from visionflow.data.image import WorkflowImage


def serialize(value: Any) -> Any:
    """A JSON-ready copy of ``value`` (results, or any value a step made).

    JSON has no NaN or infinity: such a number (from a model, an input, a computation)
    becomes null, as in JavaScript's ``JSON.stringify``.
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
        prediction.update(_keypoints(detections, position))
        if detections.mask is not None:
            prediction["points"] = _outline(detections.mask[position])
        predictions.append(prediction)
    return {"image": _image_size(detections), "predictions": predictions}


def _item(array, position: int) -> Any:
    return None if array is None else array[position].item()


def _image_size(detections) -> dict[str, int] | None:
    dimensions = detections.data.get(det.IMAGE_DIMENSIONS)
    if dimensions is None or len(dimensions) == 0:
        return None
    height, width = (int(v) for v in dimensions[0])
    return {"width": width, "height": height}


def _keypoints(detections, position: int) -> dict[str, Any]:
    points = detections.data.get(det.KEYPOINTS_XY)
    if points is None:
        return {}
    confidences = detections.data.get(det.KEYPOINTS_CONFIDENCE)
    names = detections.data.get(det.KEYPOINTS_CLASS_NAME)
    keypoints = []
    for k, (x, y) in enumerate(np.asarray(points[position]).tolist()):
        keypoints.append(
            {
                "x": x,
                "y": y,
                "confidence": None if confidences is None else float(confidences[position][k]),
                "class": None if names is None else str(names[position][k]),
            }
        )
    return {"keypoints": keypoints}


def _outline(mask: np.ndarray) -> list[dict[str, float]]:
    import supervision as sv

    polygons = sv.mask_to_polygons(mask.astype(bool))
    if not polygons:
        return []
    largest = max(polygons, key=len)
    return [{"x": float(x), "y": float(y)} for x, y in largest]
