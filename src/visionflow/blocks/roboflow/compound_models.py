"""Roboflow's compound model blocks: a detector and a classifier in one step, and a
detector run on SAHI slices of each image, on the local models their ids are mapped to.

Both build on Roboflow's model blocks of blocks/core/roboflow_models.py (mapping, checks
and the model's options as those blocks take them), on the image slicer's tile places and
on the detections stitch of fusion.py.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

import numpy as np
import supervision as sv
from pydantic import AliasChoices, Field, PositiveInt

from visionflow.blocks.api import Batch, Block, BlockManifest, Output
from visionflow.blocks.core.models import IMAGE
from visionflow.blocks.core.roboflow_models import (
    DEFAULT_MAX_CANDIDATES,
    UNIT_INTERVAL,
    RoboflowClassificationModel,
    RoboflowObjectDetectionModel,
    parameter_selector,
)
from visionflow.blocks.roboflow.fusion import (
    OVERLAP_RATIO,
    RoboflowDetectionsStitch,
    check_overlap_ratios,
    slice_places,
)
from visionflow.data.image import WorkflowImage
from visionflow.errors import WorkflowError

_DETECTOR = "roboflow_core/roboflow_object_detection_model@v1"
_CLASSIFIER = "roboflow_core/roboflow_classification_model@v1"


def _model_step(
    block_class: type[Block], models: Any, name: str, fields: dict, prefix: str = ""
) -> Block:
    """One of Roboflow's model blocks, set up for ``fields`` (``model_id`` literal or a
    selector, as in the compound step): its mapping, loading and checks are the step's; its
    errors name the compound step's field (``prefix`` + the model block's field)."""
    type_name = _DETECTOR if block_class is RoboflowObjectDetectionModel else _CLASSIFIER
    manifest = block_class.Manifest.model_validate(
        {"name": name, "type": type_name, "images": "$inputs.image", **fields}
    )
    block = block_class(models=models)
    try:
        block.setup(manifest)
    except WorkflowError as error:
        field = "field '"
        if prefix and error.place and error.place.startswith(field):
            error.place = field + prefix + error.place[len(field) :]
        raise
    return block


def _detector_step(models: Any, manifest: BlockManifest, prefix: str = "", **fields: Any) -> Block:
    """The compound step's object detection model, from its ``<prefix>model_id`` and
    ``<prefix>class_agnostic_nms`` fields (and any further model ``fields``)."""
    return _model_step(
        RoboflowObjectDetectionModel,
        models,
        manifest.name,
        {
            "model_id": getattr(manifest, prefix + "model_id"),
            "class_agnostic_nms": getattr(manifest, prefix + "class_agnostic_nms") or False,
            **fields,
        },
        prefix=prefix,
    )


class DetectionAndClassification(Block):
    """Objects detected (``detector_model_id``, its confidence, NMS, class filter and caps),
    each box (rounded to whole pixels) cropped from the image and classified
    (``classifier_model_id``): one result per crop, one level deeper than the image, with
    the crop (``crops``) and its classification (``predictions``). An image where nothing is
    found has no crops.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/detection_and_classification@v1"]
        images: IMAGE = Field(validation_alias=AliasChoices("images", "image"))
        detector_model_id: parameter_selector("roboflow_model_id", "string") | str
        detector_class_agnostic_nms: parameter_selector("boolean") | bool | None = False
        detector_class_filter: parameter_selector("list") | list[str] | None = None
        detector_confidence: parameter_selector("float") | UNIT_INTERVAL = 0.4
        detector_iou_threshold: parameter_selector("float") | UNIT_INTERVAL = 0.3
        max_detections: parameter_selector("integer") | PositiveInt = 30
        max_candidates: parameter_selector("integer") | PositiveInt = DEFAULT_MAX_CANDIDATES
        classifier_model_id: parameter_selector("roboflow_model_id", "string") | str
        classifier_confidence: parameter_selector("float") | UNIT_INTERVAL = 0.4

    outputs = [
        Output("predictions", kinds=["classification_prediction"]),
        Output("crops", kinds=["image"]),
    ]
    accepts_batches = True
    output_dimensionality_offset = 1
    init_parameters = ["models"]

    def setup(self, manifest: BlockManifest) -> None:
        self.detector = _detector_step(
            self.models, manifest, "detector_", max_candidates=manifest.max_candidates
        )
        self.classifier = _model_step(
            RoboflowClassificationModel,
            self.models,
            manifest.name,
            {"model_id": manifest.classifier_model_id},
            prefix="classifier_",
        )

    def run(
        self,
        images: Batch,
        detector_model_id: str,
        detector_class_agnostic_nms: bool | None,
        detector_class_filter: list[str] | None,
        detector_confidence: float,
        detector_iou_threshold: float,
        max_detections: int,
        max_candidates: int,
        classifier_model_id: str,
        classifier_confidence: float,
    ) -> list[list[dict[str, Any]]]:
        found = self.detector.run(
            images,
            detector_model_id,
            confidence=detector_confidence,
            iou_threshold=detector_iou_threshold,
            max_detections=max_detections,
            max_candidates=max_candidates,
            class_agnostic_nms=detector_class_agnostic_nms,
            class_filter=detector_class_filter,
        )
        crops = [
            _crops(image, result["predictions"])
            for image, result in zip(images, found, strict=True)
        ]
        every_crop = [crop for image_crops in crops for crop in image_crops]
        if not every_crop:
            return [[] for _ in crops]
        indices = [(position,) for position in range(len(every_crop))]
        classified = iter(
            self.classifier.run(
                Batch(every_crop, indices), classifier_model_id, confidence=classifier_confidence
            )
        )
        return [
            [
                {"predictions": next(classified)["predictions"], "crops": crop}
                for crop in image_crops
            ]
            for image_crops in crops
        ]


def _crops(image: WorkflowImage, detections: sv.Detections) -> list[WorkflowImage]:
    crops = []
    for box in np.round(detections.xyxy).astype(int).tolist():
        try:
            crops.append(image.crop(*box, crop_id=str(uuid.uuid4())))
        except ValueError:  # a box of no pixels gives no crop
            continue
    return crops


class DetectionsInferenceSlicer(Block):
    """A detector run on SAHI slices of each image (``slice_width`` x ``slice_height``
    tiles overlapping by the given ratios, placed as ``image_slicer@v1`` places them), the
    slices' detections moved back onto the image and merged, then overlapping boxes of one
    class dropped (``nms``) or merged (``nmm``) above ``iou_threshold``, or all kept
    (``none``). The detector's own NMS uses ``iou_threshold`` too.

    Roboflow's early ``RoboflowDetectionsInferenceSlicer`` block (its tests' documents use
    it); Roboflow's library now writes it as image_slicer, a model and detections_stitch.
    """

    class Manifest(Block.Manifest):
        type: Literal["RoboflowDetectionsInferenceSlicer", "DetectionsInferenceSlicer"]
        images: IMAGE = Field(validation_alias=AliasChoices("images", "image"))
        model_id: parameter_selector("roboflow_model_id", "string") | str
        class_agnostic_nms: parameter_selector("boolean") | bool | None = False
        class_filter: parameter_selector("list") | list[str] | None = None
        confidence: parameter_selector("float") | UNIT_INTERVAL = 0.4
        slice_width: parameter_selector("integer") | PositiveInt = 320
        slice_height: parameter_selector("integer") | PositiveInt = 320
        overlap_ratio_width: parameter_selector("float") | OVERLAP_RATIO = 0.2
        overlap_ratio_height: parameter_selector("float") | OVERLAP_RATIO = 0.2
        overlap_filtering_strategy: parameter_selector("string") | Literal["none", "nms", "nmm"] = (
            "nms"
        )
        iou_threshold: parameter_selector("float") | UNIT_INTERVAL = 0.3

    outputs = [Output("predictions", kinds=["object_detection_prediction"])]
    accepts_batches = True
    init_parameters = ["models"]

    def setup(self, manifest: BlockManifest) -> None:
        self.detector = _detector_step(self.models, manifest)
        self.stitch = RoboflowDetectionsStitch()

    def run(
        self,
        images: Batch,
        model_id: str,
        class_agnostic_nms: bool | None,
        class_filter: list[str] | None,
        confidence: float,
        slice_width: int,
        slice_height: int,
        overlap_ratio_width: float,
        overlap_ratio_height: float,
        overlap_filtering_strategy: str,
        iou_threshold: float,
    ) -> list[dict[str, Any]]:
        check_overlap_ratios(overlap_ratio_width, overlap_ratio_height)
        results = []
        for image in images:
            places = slice_places(
                (image.width, image.height),
                (int(slice_width), int(slice_height)),
                (overlap_ratio_width, overlap_ratio_height),
                inside=False,
            )
            tiles = [image.crop(*place, crop_id=f"slice.{uuid.uuid4()}") for place in places]
            found = self.detector.run(
                Batch(tiles, [(k,) for k in range(len(tiles))]),
                model_id,
                confidence=confidence,
                iou_threshold=iou_threshold,
                max_detections=300,
                max_candidates=DEFAULT_MAX_CANDIDATES,
                class_agnostic_nms=class_agnostic_nms,
                class_filter=class_filter,
            )
            parts = [result["predictions"] for result in found]
            stitched = self.stitch.run(
                reference_image=image,
                predictions=Batch(parts, [(k,) for k in range(len(parts))]),
                overlap_filtering_strategy=overlap_filtering_strategy,
                iou_threshold=iou_threshold,
            )
            results.append(stitched)
        return results


BLOCKS: list[type[Block]] = [DetectionAndClassification, DetectionsInferenceSlicer]
