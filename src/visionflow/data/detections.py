"""Conventions for ``supervision.Detections`` flowing through workflows.

Every detection carries, in ``detections.data``:
- ``detection_id``: a unique string id (crops made from it take it as their image id);
- ``parent_id``: the id of the image it was predicted on;
- ``root_parent_id`` and ``root_parent_offset`` (N x 2, x/y of that image inside the root
  image), so ``coordinates_system: parent`` can map it back to the image the user gave;
- ``image_dimensions``: (N x 2) height, width of the image it was predicted on;
- ``root_parent_dimensions``: (N x 2) height, width of the root image;
- keypoints, when present: ``keypoints_xy`` (N x K x 2), ``keypoints_confidence`` (N x K),
  ``keypoints_class_name`` (N x K);
- ``class_name``: the class names (supervision's own convention).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import supervision as sv

    from visionflow.data.image import WorkflowImage

DETECTION_ID = "detection_id"
PARENT_ID = "parent_id"
ROOT_PARENT_ID = "root_parent_id"
ROOT_PARENT_OFFSET = "root_parent_offset"
IMAGE_DIMENSIONS = "image_dimensions"
ROOT_PARENT_DIMENSIONS = "root_parent_dimensions"
KEYPOINTS_XY = "keypoints_xy"
KEYPOINTS_CONFIDENCE = "keypoints_confidence"
KEYPOINTS_CLASS_NAME = "keypoints_class_name"
KEYPOINTS_CLASS_ID = "keypoints_class_id"  # each point's index in the model's skeleton
CLASS_NAME = "class_name"
QUAD = "quad"
"""(N, 4, 2) quadrilaterals of text detections, clockwise from the top-left."""


def attach_image_metadata(detections: sv.Detections, image: WorkflowImage) -> sv.Detections:
    """Mark ``detections`` as predicted on ``image`` (ids, origin); returns them."""
    count = len(detections)
    if DETECTION_ID not in detections.data:
        detections.data[DETECTION_ID] = np.array([str(uuid.uuid4()) for _ in range(count)])
    detections.data[PARENT_ID] = np.array([image.image_id] * count, dtype=object)
    detections.data[ROOT_PARENT_ID] = np.array([image.origin.root_id] * count, dtype=object)
    offset = [image.origin.offset_x, image.origin.offset_y]
    detections.data[ROOT_PARENT_OFFSET] = np.array([offset] * count, dtype=int).reshape(-1, 2)
    dimensions = [image.height, image.width]
    detections.data[IMAGE_DIMENSIONS] = np.array([dimensions] * count, dtype=int).reshape(-1, 2)
    root = [image.origin.root_height, image.origin.root_width]
    detections.data[ROOT_PARENT_DIMENSIONS] = np.array([root] * count, dtype=int).reshape(-1, 2)
    return detections


def detection_ids(detections: sv.Detections) -> list[str]:
    ids = detections.data.get(DETECTION_ID)
    if ids is None:
        return [f"detection-{position}" for position in range(len(detections))]
    return [str(value) for value in ids]


def class_names(detections: sv.Detections) -> list[str]:
    names = detections.data.get(CLASS_NAME)
    if names is not None:
        return [str(name) for name in names]
    if detections.class_id is None:
        return []
    return [str(class_id) for class_id in detections.class_id]


def to_root_coordinates(detections: sv.Detections) -> sv.Detections:
    """A copy of ``detections`` moved from the image it was predicted on to the root image."""
    data = detections.data
    offsets = data.get(ROOT_PARENT_OFFSET)
    if offsets is None or not len(offsets):
        return detections
    dimensions, root = data.get(IMAGE_DIMENSIONS), data.get(ROOT_PARENT_DIMENSIONS)
    if not np.count_nonzero(offsets) and (  # a crop at (0, 0) is not the root itself
        dimensions is None or root is None or _same_values(dimensions, root)
    ):
        return detections  # on the root already: every run's common case, kept cheap
    moved = detections[np.arange(len(detections))]  # indexing copies every array
    shift = offsets.astype(moved.xyxy.dtype)
    moved.xyxy = moved.xyxy + np.concatenate([shift, shift], axis=1)
    for points in (KEYPOINTS_XY, QUAD):  # (N, points, 2) arrays in the image's pixels
        if (found := moved.data.get(points)) is not None:
            moved.data[points] = found + shift[:, None, :].astype(found.dtype)
    if moved.mask is not None:
        moved.mask = _masks_in_root(moved)
    moved.data[PARENT_ID] = np.array(moved.data[ROOT_PARENT_ID], dtype=object)
    moved.data[ROOT_PARENT_OFFSET] = np.zeros_like(offsets)
    if ROOT_PARENT_DIMENSIONS in moved.data:
        moved.data[IMAGE_DIMENSIONS] = moved.data[ROOT_PARENT_DIMENSIONS].copy()
    return moved


def _same_values(first: np.ndarray, second: np.ndarray) -> bool:
    """``np.array_equal`` for two small arrays, its common case (same shape and dtype)
    compared as bytes: this runs for every detections output of every run."""
    if first.shape == second.shape and first.dtype == second.dtype and first.dtype != object:
        return first.tobytes() == second.tobytes()
    return bool(np.array_equal(first, second))


def _masks_in_root(detections: sv.Detections) -> np.ndarray:
    offsets = detections.data[ROOT_PARENT_OFFSET]
    height, width = (int(v) for v in detections.data[ROOT_PARENT_DIMENSIONS][0])
    canvas = np.zeros((len(detections), height, width), dtype=bool)
    for position, (offset, mask) in enumerate(zip(offsets, detections.mask, strict=True)):
        x, y = int(offset[0]), int(offset[1])
        part = mask[: height - y, : width - x]
        canvas[position, y : y + part.shape[0], x : x + part.shape[1]] = part
    return canvas
