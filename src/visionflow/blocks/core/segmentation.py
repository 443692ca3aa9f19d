"""``SegmentationModel``: run an instance segmentation model (task
``instance_segmentation``: YOLOv8-seg exports, MediaPipe's selfie segmentation) on images.

Its predictions are ``supervision.Detections`` with one H x W boolean mask per detection
(``detections.mask``, at the image's size), for ``BackgroundBlur``, ``BackgroundReplace``,
``DynamicCrop`` (mask_opacity) or Roboflow's mask blocks.
"""

from __future__ import annotations

from typing import Any, Literal

from visionflow.blocks.api import Batch, Block, Output, Selector
from visionflow.blocks.core.models import IMAGE, _ModelBlock


class SegmentationModel(_ModelBlock):
    """Detections with masks found by a segmentation model; options ``confidence``,
    ``mask_threshold`` (and, for YOLO models, ``iou``, ``max_detections``, ``class_filter``)."""

    class Manifest(Block.Manifest):
        type: Literal["visionflow/segmentation_model@v1", "SegmentationModel"]
        images: IMAGE
        model: str
        confidence: Selector(kinds=["float"], scalar_only=True) | float | None = None
        mask_threshold: Selector(kinds=["float"], scalar_only=True) | float | None = None
        iou: Selector(kinds=["float"], scalar_only=True) | float | None = None
        max_detections: Selector(kinds=["integer"], scalar_only=True) | int | None = None
        class_filter: list[str] | None = None

    outputs = [Output("predictions", kinds=["instance_segmentation_prediction"])]
    category = "models"  # its group in ``visionflow blocks``
    tasks = ("instance_segmentation",)
    option_fields = ("confidence", "mask_threshold", "iou", "max_detections", "class_filter")

    def run(self, images: Batch, model: str, **fields: Any) -> list[dict]:
        return [{"predictions": p} for p in self.predict(images, fields)]
