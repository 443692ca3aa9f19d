"""Roboflow's fusion blocks comparing two sets of detections: what changed between a
before and an after (detections difference) and how much each pair overlaps (overlap
analysis), with the values Roboflow's blocks give."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
import supervision as sv
from pydantic import Field

from visionflow.blocks.api import Block, Output, Selector
from visionflow.blocks.roboflow.fusion import STITCHED_KINDS
from visionflow.blocks.roboflow.fusion_polygons import (
    intersection_area,
    is_simple_polygon,
    polygon_area,
)
from visionflow.data.detections import CLASS_NAME, DETECTION_ID
from visionflow.kinds import register_kind

OVERLAPS_KIND = register_kind("detections_overlaps", "overlap records of pairs of detections")


class DetectionsDifference(Block):
    """What changed between ``reference_predictions`` (before) and ``candidate_predictions``
    (after): detections matched greedily, cheapest pair first, on a cost of
    ``spatial_weight`` x (1 - IoU) (or, for boxes that do not meet, 1 + their centres'
    distance over the diagonal of the box around both) plus ``class_mismatch_penalty`` for
    different classes (``class_strict``: never matched); pairs costing over ``reject_cost``
    stay unmatched. Reference detections left over are removed, candidate ones new; matched
    candidates persisted (in their order). ``verified``: at least ``min_removed_to_verify``
    removed (never with no reference detections).
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/detections_difference@v1", "DetectionsDifference"]
        reference_predictions: Selector(kinds=["object_detection_prediction"])
        candidate_predictions: Selector(kinds=["object_detection_prediction"])
        spatial_weight: (
            Selector(kinds=["float_zero_to_one"]) | Annotated[float, Field(ge=0, le=1)]
        ) = 0.4
        class_mismatch_penalty: Selector(kinds=["float"]) | Annotated[float, Field(ge=0)] = 0.15
        reject_cost: Selector(kinds=["float"]) | Annotated[float, Field(ge=0)] = 0.75
        class_strict: Selector(kinds=["boolean"]) | bool = False
        min_removed_to_verify: Selector(kinds=["integer"]) | Annotated[int, Field(ge=1)] = 1

    outputs = [
        Output("removed_detections", kinds=["object_detection_prediction"]),
        Output("persisted_detections", kinds=["object_detection_prediction"]),
        Output("new_detections", kinds=["object_detection_prediction"]),
        Output("removed_count", kinds=["integer"]),
        Output("new_count", kinds=["integer"]),
        Output("verified", kinds=["boolean"]),
    ]

    def run(
        self,
        reference_predictions: sv.Detections,
        candidate_predictions: sv.Detections,
        spatial_weight: float,
        class_mismatch_penalty: float,
        reject_cost: float,
        class_strict: bool,
        min_removed_to_verify: int,
    ) -> dict[str, Any]:
        before, after = reference_predictions, candidate_predictions
        pairs: list[tuple[int, int]] = []
        if len(before) and len(after):
            costs = _change_costs(before, after, spatial_weight, class_mismatch_penalty)
            if class_strict and (different := _different_classes(before, after)) is not None:
                costs = np.where(different, np.inf, costs)
            pairs = _cheapest_pairs(costs, reject_cost)
        kept_before = {i for i, _ in pairs}
        kept_after = {j for _, j in pairs}
        removed = [i for i in range(len(before)) if i not in kept_before]
        new = [j for j in range(len(after)) if j not in kept_after]
        return {
            "removed_detections": _picked(before, removed),
            "persisted_detections": _picked(after, sorted(kept_after)),
            "new_detections": _picked(after, new),
            "removed_count": len(removed),
            "new_count": len(new),
            "verified": bool(len(before) > 0 and len(removed) >= min_removed_to_verify),
        }


def _change_costs(
    before: sv.Detections, after: sv.Detections, weight: float, penalty: float
) -> np.ndarray:
    iou = sv.box_iou_batch(before.xyxy, after.xyxy)
    spatial = 1.0 - iou
    if np.any(iou <= 0):  # boxes apart: 1 + how far apart, over the box around both
        one, other = before.xyxy[:, None, :], after.xyxy[None, :, :]
        centres = np.linalg.norm(
            (one[..., :2] + one[..., 2:]) / 2 - (other[..., :2] + other[..., 2:]) / 2, axis=2
        )
        low = np.minimum(one[..., :2], other[..., :2])
        high = np.maximum(one[..., 2:], other[..., 2:])
        diagonal = np.hypot(*(high - low).transpose(2, 0, 1))
        apart = np.divide(centres, diagonal, out=np.zeros_like(centres), where=diagonal > 0)
        spatial = np.where(iou <= 0, 1.0 + apart, spatial)
    costs = weight * spatial
    different = _different_classes(before, after)
    return costs if different is None else costs + penalty * different


def _different_classes(before: sv.Detections, after: sv.Detections) -> np.ndarray | None:
    """Pairs of different classes, by class name, else by class id; None without either."""
    for labels in (lambda found: found.data.get(CLASS_NAME), lambda found: found.class_id):
        one, other = labels(before), labels(after)
        if one is None or other is None:
            continue
        if len(one) == len(before) and len(other) == len(after):
            return np.asarray(one)[:, None] != np.asarray(other)[None, :]
    return None


def _cheapest_pairs(costs: np.ndarray, reject_cost: float) -> list[tuple[int, int]]:
    costs = costs.astype(float, copy=True)
    pairs: list[tuple[int, int]] = []
    for _ in range(min(costs.shape)):
        i, j = divmod(int(np.argmin(costs)), costs.shape[1])
        if not np.isfinite(costs[i, j]) or costs[i, j] > reject_cost:
            break
        pairs.append((i, j))
        costs[i, :] = np.inf
        costs[:, j] = np.inf
    return pairs


def _picked(detections: sv.Detections, positions: list[int]) -> sv.Detections:
    # none picked: empty detections without any field, as Roboflow's block gives
    if not positions:
        return sv.Detections.empty()
    return detections[np.asarray(positions, dtype=int)]


class OverlapAnalysis(Block):
    """For each pair of a reference and a candidate detection whose boxes overlap, the share
    of the reference's area that the candidate covers (its mask's longest outline where it
    has a usable one, else its box); pairs covering at least ``min_overlap`` are listed,
    reference by reference: classes, confidences, ``overlap_ratio`` and detection ids.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/overlap_analysis@v1", "OverlapAnalysis"]
        reference_predictions: Selector(kinds=STITCHED_KINDS)
        candidate_predictions: Selector(kinds=STITCHED_KINDS)
        min_overlap: Selector(kinds=["float_zero_to_one"]) | Annotated[float, Field(ge=0, le=1)] = (
            0.1
        )

    outputs = [Output("overlaps", kinds=[OVERLAPS_KIND.name])]

    def run(
        self,
        reference_predictions: sv.Detections,
        candidate_predictions: sv.Detections,
        min_overlap: float,
    ) -> dict[str, Any]:
        reference, candidate = reference_predictions, candidate_predictions
        if len(reference) == 0 or len(candidate) == 0:
            return {"overlaps": []}
        iou = sv.box_iou_batch(reference.xyxy, candidate.xyxy)
        shapes: dict[tuple[int, int], np.ndarray] = {}

        def shape(side: int, found: sv.Detections, position: int) -> np.ndarray:
            if (side, position) not in shapes:
                shapes[side, position] = outline_or_box(found, position)
            return shapes[side, position]

        records = []
        for i, j in zip(*np.nonzero(iou > 0), strict=True):
            covered = shape(0, reference, i)
            area = abs(polygon_area(covered))
            if area <= 0:
                continue
            ratio = intersection_area(covered, shape(1, candidate, j)) / area
            if ratio < min_overlap:
                continue
            records.append(_overlap_record(reference, int(i), candidate, int(j), ratio))
        return {"overlaps": records}


def _overlap_record(
    reference: sv.Detections, i: int, candidate: sv.Detections, j: int, ratio: float
) -> dict[str, Any]:
    record = {
        "reference_class": _item(reference.data.get(CLASS_NAME), i),
        "reference_confidence": _item(reference.confidence, i, float),
        "candidate_class": _item(candidate.data.get(CLASS_NAME), j),
        "candidate_confidence": _item(candidate.confidence, j, float),
        "overlap_ratio": float(ratio),
    }
    if DETECTION_ID in reference.data:
        record["reference_detection_id"] = _item(reference.data[DETECTION_ID], i)
    if DETECTION_ID in candidate.data:
        record["candidate_detection_id"] = _item(candidate.data[DETECTION_ID], j)
    return record


def _item(values: Any, position: int, cast: Any = None) -> Any:
    if values is None or len(values) <= position:
        return None
    value = values[position]
    if cast is not None:
        return cast(value)
    return value.item() if isinstance(value, np.generic) else value


def outline_or_box(detections: sv.Detections, position: int) -> np.ndarray:
    """The detection's shape as a polygon: its mask's longest outline when that is a proper
    simple polygon (at least 3 points, no edge crossing or touching another), else its box."""
    x1, y1, x2, y2 = (float(value) for value in detections.xyxy[position])
    box = np.array([[x2, y1], [x2, y2], [x1, y2], [x1, y1]])
    if detections.mask is None or not detections.mask[position].any():
        return box
    outlines = sv.mask_to_polygons(detections.mask[position])
    if not outlines:
        return box
    outline = max(outlines, key=len).astype(float)
    return outline if len(outline) >= 3 and is_simple_polygon(outline) else box


BLOCKS: list[type[Block]] = [DetectionsDifference, OverlapAnalysis]
