"""Roboflow's ``dimensionality_manipulation_plugin`` (numpy variants): blocks taking the
predictions made on crops together with the images the crops came from.

Roboflow places an output at the level of a "dimensionality reference property";
``DetectionsToParentsCoordinates*`` name the per-crop predictions (one level deeper) as
theirs, ``Block.dimensionality_reference``: one result per crop, at the crops' level.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import supervision as sv

from visionflow import Batch, Block, Output, Selector, WorkflowImage
from visionflow.data.detections import PARENT_ID, attach_image_metadata, to_root_coordinates

IMAGE = ["image"]
PREDICTIONS = [
    "object_detection_prediction",
    "instance_segmentation_prediction",
    "keypoint_detection_prediction",
]
OUTPUT = [Output("predictions", kinds=["object_detection_prediction"])]


def _on_parent(image: WorkflowImage, detections: sv.Detections) -> sv.Detections:
    """A copy of crop ``detections`` marked as made on ``image`` (boxes unmoved)."""
    moved = detections[np.arange(len(detections))]
    moved.data[PARENT_ID] = np.array([image.image_id] * len(moved), dtype=object)
    return moved


def _stitched(image: WorkflowImage, crops: Batch) -> sv.Detections:
    """Detections of every crop moved onto ``image`` and merged."""
    found = [to_root_coordinates(d) for d in crops if d is not None and len(d) > 0]
    if not found:
        return attach_image_metadata(sv.Detections.empty(), image)
    merged = sv.Detections.merge(found)
    shift = np.array([image.origin.offset_x, image.origin.offset_y] * 2, dtype=float)
    merged.xyxy = merged.xyxy - shift  # root coordinates -> this image's coordinates
    return attach_image_metadata(merged, image)


def _tiles(crops: Batch, predictions: Batch) -> WorkflowImage:
    """Each crop with its boxes drawn, laid out in a grid (ceil(sqrt(n)) columns)."""
    drawn = [
        sv.BoxAnnotator().annotate(crop.numpy.copy(), detections)
        for crop, detections in zip(crops, predictions, strict=True)
    ]
    columns = math.ceil(math.sqrt(len(drawn))) or 1
    rows = math.ceil(len(drawn) / columns) or 1
    height = max((cell.shape[0] for cell in drawn), default=1)
    width = max((cell.shape[1] for cell in drawn), default=1)
    mosaic = np.zeros((rows * height, columns * width, 3), dtype=np.uint8)
    for position, cell in enumerate(drawn):
        top, left = (position // columns) * height, (position % columns) * width
        mosaic[top : top + cell.shape[0], left : left + cell.shape[1]] = cell
    return WorkflowImage(mosaic)


class _ImagesAndCropPredictions(Block.Manifest):  # the batch variants' field names
    images: Selector(kinds=IMAGE)
    images_predictions: Selector(kinds=PREDICTIONS)


class _ImageAndCropPredictions(Block.Manifest):  # the non-batch variants' field names
    image: Selector(kinds=IMAGE)
    image_predictions: Selector(kinds=PREDICTIONS)


class DetectionsToParentsCoordinatesBatch(Block):
    class Manifest(_ImagesAndCropPredictions):
        type: Literal["DetectionsToParentsCoordinatesBatch"]

    outputs = OUTPUT
    accepts_batches = True  # old style accepts_batch_input(): every field a Batch
    batch_fields = frozenset({"images", "images_predictions"})
    input_dimensionality_offsets = {"images": 0, "images_predictions": 1}
    dimensionality_reference = "images_predictions"

    def run(self, images: Batch, images_predictions: Batch) -> list[list[dict]]:
        return [
            [{"predictions": _on_parent(image, d)} for d in crops]
            for image, crops in zip(images, images_predictions, strict=True)
        ]


class DetectionsToParentsCoordinatesNonBatch(Block):
    class Manifest(_ImageAndCropPredictions):
        type: Literal["DetectionsToParentsCoordinatesNonBatch"]

    outputs = OUTPUT
    input_dimensionality_offsets = {"image": 0, "image_predictions": 1}
    dimensionality_reference = "image_predictions"

    def run(self, image: WorkflowImage, image_predictions: Batch) -> list[dict]:
        return [{"predictions": _on_parent(image, d)} for d in image_predictions]


class StitchDetectionsBatch(Block):
    class Manifest(_ImagesAndCropPredictions):
        type: Literal["StitchDetectionsBatch"]

    outputs = OUTPUT
    accepts_batches = True
    batch_fields = frozenset({"images", "images_predictions"})
    input_dimensionality_offsets = {"images": 0, "images_predictions": 1}  # reference: images

    def run(self, images: Batch, images_predictions: Batch) -> list[dict]:
        return [
            {"predictions": _stitched(image, crops)}
            for image, crops in zip(images, images_predictions, strict=True)
        ]


class StitchDetectionsNonBatch(Block):
    class Manifest(_ImageAndCropPredictions):
        type: Literal["StitchDetectionsNonBatch"]

    outputs = OUTPUT
    input_dimensionality_offsets = {"image": 0, "image_predictions": 1}  # reference: image

    def run(self, image: WorkflowImage, image_predictions: Batch) -> dict:
        return {"predictions": _stitched(image, image_predictions)}


class TileDetectionsBatch(Block):
    class Manifest(Block.Manifest):
        type: Literal["TileDetectionsBatch"]
        images_crops: Selector(kinds=IMAGE)
        crops_predictions: Selector(kinds=PREDICTIONS)

    outputs = [Output("visualisations", kinds=IMAGE)]
    accepts_batches = True
    batch_fields = frozenset({"images_crops", "crops_predictions"})
    output_dimensionality_offset = -1

    def run(self, images_crops: Batch, crops_predictions: Batch) -> list[dict]:
        return [
            {"visualisations": _tiles(crops, predictions)}
            for crops, predictions in zip(images_crops, crops_predictions, strict=True)
        ]


class TileDetectionsNonBatch(Block):
    class Manifest(Block.Manifest):
        type: Literal["TileDetectionsNonBatch"]
        crops: Selector(kinds=IMAGE)
        crops_predictions: Selector(kinds=PREDICTIONS)

    outputs = [Output("visualisations", kinds=IMAGE)]
    output_dimensionality_offset = -1

    def run(self, crops: Batch, crops_predictions: Batch) -> dict:
        return {"visualisations": _tiles(crops, crops_predictions)}


BLOCKS: list[type[Block]] = [
    DetectionsToParentsCoordinatesBatch,
    DetectionsToParentsCoordinatesNonBatch,
    StitchDetectionsBatch,
    StitchDetectionsNonBatch,
    TileDetectionsBatch,
    TileDetectionsNonBatch,
]
