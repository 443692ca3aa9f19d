"""Roboflow's detections operations (issue 12): boxes padded, reshaped, merged, filtered and
combined, with Roboflow's names, fields and results.

Each block keeps the ``data`` fields of supervision.Detections (visionflow.data.detections) as
Roboflow's block keeps them: a block that makes new detections from old ones (offset) gives them
new ids and names the old ones as parents; one that makes a single detection from many (merge)
keeps only its class name and id, as Roboflow's does.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import cv2
import numpy as np
import supervision as sv
from pydantic import AliasChoices, Field

from visionflow.blocks.api import Block, Output, Selector
from visionflow.blocks.core.crops import DETECTION_KINDS
from visionflow.data.detections import (
    CLASS_NAME,
    DETECTION_ID,
    IMAGE_DIMENSIONS,
    PARENT_ID,
)

SEGMENTATION = "instance_segmentation_prediction"
DETECTION_OUTPUT = [Output("predictions", kinds=DETECTION_KINDS)]
PERCENT = "Percent (%)"


class DetectionOffset(Block):
    """Each box grown by ``offset_width`` / ``offset_height``, half on each side, clipped to
    the image: in pixels (``offset // 2`` a side) or, with ``units: "Percent (%)"``, as a
    percentage of the box's own size (``int(size * offset / 200)`` a side).

    The grown detections are new ones: each gets a new ``detection_id`` and takes the id of
    the detection it grew from as ``parent_id``, as Roboflow's block does.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/detection_offset@v1", "DetectionOffset"]
        predictions: Selector(kinds=DETECTION_KINDS)
        offset_width: Selector(kinds=["integer"]) | Annotated[int, Field(gt=0)] = Field(
            validation_alias=AliasChoices("offset_width", "offset_x")
        )
        offset_height: Selector(kinds=["integer"]) | Annotated[int, Field(gt=0)] = Field(
            validation_alias=AliasChoices("offset_height", "offset_y")
        )
        units: Literal["Percent (%)", "Pixels"] = "Pixels"

    outputs = DETECTION_OUTPUT

    def run(
        self, predictions: sv.Detections, offset_width: int, offset_height: int, units: str
    ) -> dict[str, Any]:
        if len(predictions) == 0:
            return {"predictions": predictions}
        boxes = predictions.xyxy.astype(float)
        if units == PERCENT:  # a side: the truncated share of the box's own size
            sizes = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1)
            sides = np.trunc(sizes * np.array([offset_width, offset_height]) / 200)
        else:
            sides = np.tile([offset_width // 2, offset_height // 2], (len(boxes), 1))
        height_width = predictions.data[IMAGE_DIMENSIONS]
        grown = predictions[np.arange(len(predictions))]  # indexing copies every array
        grown.xyxy = np.stack(
            [
                np.maximum(0, boxes[:, 0] - sides[:, 0]),
                np.maximum(0, boxes[:, 1] - sides[:, 1]),
                np.minimum(height_width[:, 1], boxes[:, 2] + sides[:, 0]),
                np.minimum(height_width[:, 0], boxes[:, 3] + sides[:, 1]),
            ],
            axis=1,
        ).astype(float)
        grown.data[PARENT_ID] = np.array(predictions.data[DETECTION_ID]).copy()
        grown.data[DETECTION_ID] = np.array([str(uuid.uuid4()) for _ in range(len(grown))])
        return {"predictions": grown}


class BoundingRect(Block):
    """The smallest rotated rectangle around each instance mask (OpenCV's ``minAreaRect`` of
    the mask's longest outline): the mask becomes that rectangle and the box its extent.

    Each detection gains ``rect`` (its 4 corners, pixels truncated to integers), ``width``,
    ``height`` and ``angle`` (OpenCV's rectangle, in degrees), as float16, as Roboflow's
    block gives them.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/bounding_rect@v1"]
        predictions: Selector(kinds=[SEGMENTATION])

    outputs = [Output("detections_with_rect", kinds=[SEGMENTATION])]

    def run(self, predictions: sv.Detections) -> dict[str, Any]:
        if predictions.mask is None:
            raise ValueError(
                "the detections have no masks: bounding_rect needs an instance "
                "segmentation model's predictions"
            )
        shaped = predictions[np.arange(len(predictions))]  # indexing copies every array
        height, width = predictions.mask.shape[1:]
        rects, sizes, angles, boxes = [], [], [], []
        for position, mask in enumerate(predictions.mask):
            outlines = sv.mask_to_polygons(mask)
            if not outlines:
                raise ValueError(f"detection {position} has an empty mask: no rectangle around it")
            outline = max(outlines, key=len)
            centre, (rect_width, rect_height), angle = rotated_rect(outline)
            corners = cv2.boxPoints((centre, (rect_width, rect_height), angle)).astype(int)
            shaped.mask[position] = sv.polygon_to_mask(
                corners.astype(np.int32), (width, height)
            ).astype(bool)
            boxes.append(sv.polygon_to_xyxy(corners.astype(np.int32)))
            rects.append(corners)
            sizes.append((rect_width, rect_height))
            angles.append(angle)
        if len(predictions):
            shaped.xyxy = np.array(boxes, dtype=float)
        shaped.data["rect"] = np.array(rects, dtype=np.float16).reshape(-1, 4, 2)
        shaped.data["width"] = np.array([w for w, _ in sizes], dtype=np.float16)
        shaped.data["height"] = np.array([h for _, h in sizes], dtype=np.float16)
        shaped.data["angle"] = np.array(angles, dtype=np.float16)
        return {"detections_with_rect": shaped}


def rotated_rect(outline: np.ndarray) -> tuple:
    """OpenCV's smallest rotated rectangle around ``outline``, its angle in (0, 90] as
    OpenCV 4.12 gives it (Roboflow's engine runs on it). OpenCV 4.14 (ours) gives the same
    rectangle with its angle in [-90, 0): a quarter turn back, width and height swapped."""
    centre, (width, height), angle = cv2.minAreaRect(outline)
    while angle <= 0:
        angle, width, height = angle + 90, height, width
    return centre, (width, height), angle


class DetectionsMerge(Block):
    """All detections as one: the box around them all, the lowest confidence among them,
    class ``class_name`` with class id 0 and a new ``detection_id``. As in Roboflow's block,
    the merged detection keeps no other field (no mask, parent or image metadata); no
    detections give none.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/detections_merge@v1"]
        predictions: Selector(kinds=DETECTION_KINDS)
        class_name: str = "merged_detection"

    outputs = [Output("predictions", kinds=["object_detection_prediction"])]

    def run(self, predictions: sv.Detections | None, class_name: str) -> dict[str, Any]:
        if predictions is None or len(predictions) == 0:
            return {"predictions": sv.Detections(xyxy=np.zeros((0, 4), dtype=np.float32))}
        boxes = predictions.xyxy
        around = [[boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()]]
        confidence = predictions.confidence
        merged = sv.Detections(
            xyxy=np.array(around),
            confidence=None if confidence is None else np.array([confidence.min()], np.float32),
            class_id=np.array([0], dtype=np.int32),
            data={
                CLASS_NAME: np.array([class_name]),
                DETECTION_ID: np.array([str(uuid.uuid4())]),
            },
        )
        return {"predictions": merged}


class PerClassConfidenceFilter(Block):
    """Keeps the detections whose confidence reaches their class's threshold
    (``class_thresholds``, by class name), or ``default_threshold`` for a class not listed.
    Detections without confidences are kept as they are.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/per_class_confidence_filter@v1"]
        predictions: Selector(kinds=DETECTION_KINDS)
        class_thresholds: Selector(kinds=["dictionary"]) | dict[str, float]
        default_threshold: Selector(kinds=["float_zero_to_one"]) | float = 0.3

    outputs = DETECTION_OUTPUT

    def run(
        self,
        predictions: sv.Detections,
        class_thresholds: dict[str, Any] | None,
        default_threshold: float,
    ) -> dict[str, Any]:
        if len(predictions) == 0 or predictions.confidence is None:
            return {"predictions": predictions}
        thresholds = {str(name): float(value) for name, value in (class_thresholds or {}).items()}
        names = predictions.data.get(CLASS_NAME)
        names = [None] * len(predictions) if names is None else list(names)
        keep = [
            position
            for position, (name, confidence) in enumerate(
                zip(names, predictions.confidence.tolist(), strict=True)
            )
            # a detection with no class name is looked up as "None", as Roboflow's block does
            if confidence >= thresholds.get(str(name), float(default_threshold))
        ]
        if len(keep) == len(predictions):
            return {"predictions": predictions}
        return {"predictions": predictions[np.array(keep, dtype=int)]}


class DetectionsCombine(Block):
    """``prediction_one`` and ``prediction_two`` as one set of detections, in that order
    (supervision's ``Detections.merge``: both must carry the same fields)."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/detections_combine@v1"]
        prediction_one: Selector(kinds=["object_detection_prediction", SEGMENTATION])
        prediction_two: Selector(kinds=["object_detection_prediction", SEGMENTATION])

    outputs = [Output("predictions", kinds=["object_detection_prediction", SEGMENTATION])]

    def run(self, prediction_one: sv.Detections, prediction_two: sv.Detections) -> dict:
        return {"predictions": sv.Detections.merge([prediction_one, prediction_two])}


OverlapType = Literal["Center Overlap", "Any Overlap"]


class Overlap(Block):
    """The detections that overlap a detection of class ``overlap_class_name`` (those of that
    class are left out): with ``Center Overlap``, their box's centre lies strictly inside
    its box; with ``Any Overlap``, their boxes touch or cross. Each detection is tested
    against the overlapping class's boxes in turn; the ones found are kept in their order.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/overlap@v1"]
        predictions: Selector(kinds=["object_detection_prediction", SEGMENTATION])
        overlap_type: OverlapType = "Center Overlap"
        overlap_class_name: str

    outputs = [Output("overlaps", kinds=["object_detection_prediction"])]

    def run(
        self, predictions: sv.Detections, overlap_type: str, overlap_class_name: str
    ) -> dict[str, Any]:
        names = predictions.data.get(CLASS_NAME)
        names = [None] * len(predictions) if names is None else list(names)
        boxes = predictions.xyxy.tolist()
        covering = [
            box for box, name in zip(boxes, names, strict=True) if name == overlap_class_name
        ]
        others = [i for i, name in enumerate(names) if name != overlap_class_name]
        found = [
            i for i in others if any(_overlaps(box, boxes[i], overlap_type) for box in covering)
        ]
        return {"overlaps": predictions[np.array(found, dtype=int)]}


def _overlaps(covering: list[float], other: list[float], overlap_type: str) -> bool:
    if overlap_type == "Center Overlap":
        x, y = (other[0] + other[2]) / 2, (other[1] + other[3]) / 2
        return covering[0] < x < covering[2] and covering[1] < y < covering[3]
    return not (
        other[2] < covering[0]
        or other[0] > covering[2]
        or other[3] < covering[1]
        or other[1] > covering[3]
    )


BLOCKS: list[type[Block]] = [
    DetectionOffset,
    BoundingRect,
    DetectionsMerge,
    PerClassConfidenceFilter,
    DetectionsCombine,
    Overlap,
]
