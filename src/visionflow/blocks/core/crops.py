"""Crops: one per detected box (raises nesting), or one fixed region per image."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, Field

from visionflow.blocks.api import Block, Output, Selector
from visionflow.data.detections import detection_ids
from visionflow.data.image import WorkflowImage

DETECTION_KINDS = [
    "object_detection_prediction",
    "instance_segmentation_prediction",
    "keypoint_detection_prediction",
]

# Roboflow's manifests name the image field ``image`` or ``images``; both are accepted.
IMAGES = Field(validation_alias=AliasChoices("images", "image"))


class DynamicCrop(Block):
    """One crop of ``images`` per detected box: a nested batch, one level deeper.

    Each crop takes its detection's id as image id and remembers where it sits in the
    original image, so detections made on it can be mapped back.
    """

    class Manifest(Block.Manifest):
        type: Literal[
            "visionflow/dynamic_crop@v1", "DynamicCrop", "Crop", "roboflow_core/dynamic_crop@v1"
        ]
        images: Selector(kinds=["image"]) = IMAGES
        predictions: Selector(kinds=DETECTION_KINDS) = Field(
            validation_alias=AliasChoices("predictions", "detections")
        )

    outputs = [Output("crops", kinds=["image"])]
    output_dimensionality_offset = 1

    def run(self, images: WorkflowImage, predictions: Any) -> list[dict[str, WorkflowImage]]:
        ids = detection_ids(predictions)
        return [
            {"crops": images.crop(*box, crop_id=crop_id)}
            for box, crop_id in zip(predictions.xyxy.round().astype(int).tolist(), ids, strict=True)
        ]


class AbsoluteStaticCrop(Block):
    """The same region of every image, in pixels (centre, width, height)."""

    class Manifest(Block.Manifest):
        type: Literal[
            "visionflow/absolute_static_crop@v1",
            "AbsoluteStaticCrop",
            "roboflow_core/absolute_static_crop@v1",
        ]
        images: Selector(kinds=["image"]) = IMAGES
        x_center: Selector(kinds=["integer"]) | int
        y_center: Selector(kinds=["integer"]) | int
        width: Selector(kinds=["integer"]) | int
        height: Selector(kinds=["integer"]) | int

    outputs = [Output("crops", kinds=["image"])]

    def run(self, images: WorkflowImage, x_center: int, y_center: int, width: int, height: int):
        return {"crops": _centred_crop(images, x_center, y_center, width, height)}


class RelativeStaticCrop(Block):
    """The same region of every image, as fractions of its size (0..1)."""

    class Manifest(Block.Manifest):
        type: Literal[
            "visionflow/relative_static_crop@v1",
            "RelativeStaticCrop",
            "roboflow_core/relative_statoic_crop@v1",  # sic: Roboflow's name has this typo
            "roboflow_core/relative_static_crop@v1",
        ]
        images: Selector(kinds=["image"]) = IMAGES
        x_center: Selector(kinds=["float"]) | float
        y_center: Selector(kinds=["float"]) | float
        width: Selector(kinds=["float"]) | float
        height: Selector(kinds=["float"]) | float

    outputs = [Output("crops", kinds=["image"])]

    def run(
        self, images: WorkflowImage, x_center: float, y_center: float, width: float, height: float
    ):
        w, h = images.width, images.height
        # in whole pixels first, as Roboflow's block does, so both give the same crop
        x, y, width, height = (
            round(v) for v in (x_center * w, y_center * h, width * w, height * h)
        )
        return {"crops": _centred_crop(images, x, y, width, height)}


def _centred_crop(
    image: WorkflowImage, x: float, y: float, width: float, height: float
) -> WorkflowImage:
    # the far side from the near one, so an odd size is kept (round(12.5) would lose a pixel)
    x_min, y_min = round(x - width / 2), round(y - height / 2)
    return image.crop(x_min, y_min, round(x_min + width), round(y_min + height))
