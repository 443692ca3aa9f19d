"""Regions framed for a second model: a square around each person, as MediaPipe frames a
body for its pose landmark model."""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import Field

from visionflow.blocks.api import Block, Output, Selector
from visionflow.data.detections import KEYPOINTS_CLASS_NAME, KEYPOINTS_XY, detection_ids
from visionflow.data.image import WorkflowImage

# The pose detector's keypoints that place and size a whole body (MediaPipe's
# PoseDetectionToRoi: rotation_vector_start/end_keypoint_index 0 and 1).
CENTRE_POINT = "hip_center"
SCALE_POINT = "full_body_scale_point"


class PersonRegionCrop(Block):
    """One square crop per detected person: a nested batch, one level deeper.

    With a pose detector's keypoints (``hip_center``, ``full_body_scale_point``), the
    square is centred on the hips and its side is twice their distance to the scale point
    times ``scale``, as MediaPipe frames a body for its landmark model (without turning
    it upright). Detections without them give a square around their box: its long side
    times ``scale``. Each crop takes its detection's id.

    ``outside: pad`` (default) fills the part of a square beyond the image with black, as
    MediaPipe does, so the person keeps the place and size the landmark model expects
    (the crop's origin offset may then be negative); ``clip`` cuts the square to the image.
    """

    class Manifest(Block.Manifest):
        type: Literal["visionflow/person_region_crop@v1", "PersonRegionCrop"]
        images: Selector(kinds=["image"])
        predictions: Selector(
            kinds=["keypoint_detection_prediction", "object_detection_prediction"]
        )
        # at most 4: the padded square is (side x scale)^2, and a box as large as the image
        # must not make a crop of any size a document asks for
        scale: float = Field(default=1.25, gt=0, le=4)
        outside: Literal["pad", "clip"] = "pad"

    outputs = [Output("crops", kinds=["image"])]
    output_dimensionality_offset = 1

    def run(
        self, images: WorkflowImage, predictions: Any, scale: float = 1.25, outside: str = "pad"
    ) -> list[dict[str, WorkflowImage]]:
        crops = []
        for position, crop_id in enumerate(detection_ids(predictions)):
            x, y, side = _square(predictions, position)
            half = side * scale / 2
            region = (round(x - half), round(y - half), round(x + half), round(y + half))
            crop = images.crop(*region, crop_id=crop_id)  # raises when it misses the image
            if outside == "pad":
                crop = _padded(images, region, crop)
            crops.append({"crops": crop})
        return crops


def _square(predictions: Any, position: int) -> tuple[float, float, float]:
    """Centre x, y and side of the unscaled square framing one detection."""
    names = predictions.data.get(KEYPOINTS_CLASS_NAME)
    if names is not None and {CENTRE_POINT, SCALE_POINT} <= set(names[position]):
        order = list(names[position])
        points = predictions.data[KEYPOINTS_XY][position]
        centre = points[order.index(CENTRE_POINT)]
        reach = math.dist(centre, points[order.index(SCALE_POINT)])
        return float(centre[0]), float(centre[1]), 2 * reach
    x_min, y_min, x_max, y_max = np.asarray(predictions.xyxy[position], dtype=float)
    return (x_min + x_max) / 2, (y_min + y_max) / 2, max(x_max - x_min, y_max - y_min)


def _padded(
    image: WorkflowImage, region: tuple[int, int, int, int], inside: WorkflowImage
) -> WorkflowImage:
    """``region`` of ``image`` whole: ``inside`` (its clipped crop) on a black canvas."""
    x_min, y_min, x_max, y_max = region
    if (inside.width, inside.height) == (x_max - x_min, y_max - y_min):
        return inside
    pixels = np.zeros((y_max - y_min, x_max - x_min, 3), dtype=np.uint8)
    left = inside.origin.offset_x - image.origin.offset_x - x_min
    top = inside.origin.offset_y - image.origin.offset_y - y_min
    pixels[top : top + inside.height, left : left + inside.width] = inside.numpy

    return image.region(pixels, x_min, y_min, inside.image_id)
