"""OCR helpers: upright crops of text quadrilaterals, and turning upside-down lines around."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from visionflow.blocks.api import Block, Output, Selector
from visionflow.data.detections import QUAD, detection_ids
from visionflow.data.image import WorkflowImage

# cv2 and the OCR head are imported where a crop or a turn is made: compiling (and
# ``visionflow validate``) loads every block module and needs neither.


class PerspectiveCrop(Block):
    """One upright crop per detected quadrilateral (``data["quad"]``, e.g. a text line):
    a nested batch, one level deeper.

    A slanted quad is warped to a rectangle; a crop at least 1.5 times taller than wide is
    turned 90 degrees (vertical text). Each crop takes its detection's id as image id; its
    origin is the quad's bounding box in the original image.
    """

    class Manifest(Block.Manifest):
        type: Literal["visionflow/perspective_crop@v1", "PerspectiveCrop"]
        images: Selector(kinds=["image"])
        predictions: Selector(kinds=["object_detection_prediction"])

    outputs = [Output("crops", kinds=["image"])]
    output_dimensionality_offset = 1

    def run(self, images: WorkflowImage, predictions: Any) -> list[dict[str, WorkflowImage]]:
        quads = predictions.data.get(QUAD)
        if quads is None:
            raise ValueError(
                "the predictions have no quadrilaterals (data['quad']); "
                "PerspectiveCrop needs those of a text detection model"
            )
        return [
            {"crops": crop_quad(images, quad, crop_id)}
            for quad, crop_id in zip(quads, detection_ids(predictions), strict=True)
        ]


def crop_quad(image: WorkflowImage, quad: np.ndarray, crop_id: str) -> WorkflowImage:
    """The quad (clockwise from top-left) warped upright, as rapidocr's get_rotate_crop_image."""
    import cv2

    points = np.asarray(quad, dtype=np.float32)
    side = np.linalg.norm(points - np.roll(points, -1, axis=0), axis=1)  # top, right, bottom, left
    width, height = max(1, int(max(side[0], side[2]))), max(1, int(max(side[1], side[3])))
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    pixels = cv2.warpPerspective(
        image.numpy,
        cv2.getPerspectiveTransform(points, target),
        (width, height),
        borderMode=cv2.BORDER_REPLICATE,
        flags=cv2.INTER_CUBIC,
    )
    if height / width >= 1.5:
        pixels = np.ascontiguousarray(np.rot90(pixels))
    x_min, y_min = (max(0, int(v)) for v in np.floor(points.min(axis=0)))

    return image.region(pixels, x_min, y_min, crop_id)


class OrientImage(Block):
    """Turns an image 180 degrees when an orientation classifier (e.g. the zoo's
    ``rapidocr/text_orientation``) says it is upside down with enough confidence."""

    class Manifest(Block.Manifest):
        type: Literal["visionflow/orient_image@v1", "OrientImage"]
        images: Selector(kinds=["image"])
        orientation: Selector(kinds=["classification_prediction"])
        threshold: Selector(kinds=["float"]) | float = 0.9

    outputs = [Output("images", kinds=["image"])]

    def run(self, images: WorkflowImage, orientation: dict, threshold: float) -> dict:
        return {"images": upright(images, orientation, threshold)}


def upright(image: WorkflowImage, orientation: dict, threshold: float) -> WorkflowImage:
    """The image, turned around when the orientation classifier says it is upside down
    (class ``180``) with at least ``threshold`` confidence."""
    from visionflow.models.heads.ocr import rotate_180

    upside_down = (
        str(orientation.get("top")) == "180" and orientation.get("confidence", 0) >= threshold
    )
    return rotate_180(image) if upside_down else image
