"""Drawing predictions on images (supervision's annotators) for people to look at."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from visionflow.blocks.api import Block, Output, Selector
from visionflow.blocks.core.crops import DETECTION_KINDS
from visionflow.data.detections import KEYPOINTS_CONFIDENCE, KEYPOINTS_XY, class_names
from visionflow.data.image import WorkflowImage


class DrawDetections(Block):
    """A copy of ``images`` with boxes, labels (class and confidence) and keypoints drawn.

    ``predictions`` must be in the image's own coordinates (use DetectionsStitch for
    detections made on crops).
    """

    class Manifest(Block.Manifest):
        type: Literal["visionflow/draw_detections@v1", "DrawDetections"]
        images: Selector(kinds=["image"])
        predictions: Selector(kinds=DETECTION_KINDS)
        labels: bool = True
        keypoints: bool = True
        keypoint_confidence: float = 0.5
        thickness: int = 2

    outputs = [Output("image", kinds=["image"])]

    def run(
        self,
        images: WorkflowImage,
        predictions: Any,
        labels: bool,
        keypoints: bool,
        keypoint_confidence: float,
        thickness: int,
    ) -> dict[str, Any]:
        import supervision as sv

        scene = images.numpy.copy()
        scale = max(0.4, min(images.width, images.height) / 800)
        scene = sv.BoxAnnotator(thickness=thickness).annotate(scene, predictions)
        if labels and len(predictions):
            texts = [
                f"{name} {conf:.2f}" if conf is not None else name
                for name, conf in zip(
                    class_names(predictions),
                    predictions.confidence
                    if predictions.confidence is not None
                    else [None] * len(predictions),
                    strict=True,
                )
            ]
            scene = sv.LabelAnnotator(text_scale=scale, text_thickness=1).annotate(
                scene, predictions, labels=texts
            )
        if keypoints and KEYPOINTS_XY in predictions.data and len(predictions):
            scene = _draw_keypoints(scene, predictions, keypoint_confidence, thickness)
        return {"image": WorkflowImage(scene, parent_id=images.image_id, origin=images.origin)}


def _draw_keypoints(scene: np.ndarray, predictions: Any, threshold: float, radius: int):
    import supervision as sv

    points = np.asarray(predictions.data[KEYPOINTS_XY], dtype=np.float32)
    confidence = predictions.data.get(KEYPOINTS_CONFIDENCE)
    if confidence is not None:
        hidden = np.asarray(confidence) < threshold
        points = points.copy()
        points[hidden] = 0  # supervision skips (0, 0) vertices
    key_points = sv.KeyPoints(xy=points)
    return sv.VertexAnnotator(color=sv.Color.GREEN, radius=radius + 1).annotate(scene, key_points)
