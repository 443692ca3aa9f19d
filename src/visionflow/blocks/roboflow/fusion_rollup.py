"""Roboflow's detections list roll-up: detections made on crops moved back onto the image
the crops were cut from and merged, class by class, as Roboflow's block merges them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal

import numpy as np
import supervision as sv
from pydantic import Field

from visionflow.blocks.api import Block, Output, Selector
from visionflow.blocks.roboflow.fusion import STITCHED_KINDS, _placed_masks
from visionflow.data.detections import (
    CLASS_NAME,
    DETECTION_ID,
    IMAGE_DIMENSIONS,
    KEYPOINTS_XY,
    PARENT_ID,
    ROOT_PARENT_DIMENSIONS,
    ROOT_PARENT_ID,
    ROOT_PARENT_OFFSET,
)

KEYPOINT_FIELDS = ("keypoints_xy", "keypoints_class_name", "keypoints_class_id",
                   "keypoints_confidence")  # fmt: skip
_NOT_COPIED = {DETECTION_ID, PARENT_ID, "inference_id", *KEYPOINT_FIELDS}
_TEXT_FIELDS = {CLASS_NAME, "prediction_type", DETECTION_ID, PARENT_ID, "inference_id",
                ROOT_PARENT_ID}  # fmt: skip
_WHOLE_FIELDS = {ROOT_PARENT_DIMENSIONS, IMAGE_DIMENSIONS, ROOT_PARENT_OFFSET}


class DetectionsListRollUp(Block):
    """Detections made on crops (``child_detections``: one set per detection of
    ``parent_detection``, e.g. a model run on dynamic crops, then collapsed) moved back onto
    the image the parents were found on (each crop's top-left, truncated to whole pixels),
    then merged class by class: boxes that overlap (any overlap, or an IoU of at least
    ``overlap_threshold``) become the box around them; masks that overlap (same test on
    pixels) become their union, boxed; keypoint detections whose keypoints lie on average
    closer than ``keypoint_merge_threshold`` pixels are averaged. Overlaps chain: a group is
    every detection linked by overlaps. A group's confidence is its ``max``, ``mean`` or
    ``min`` (``confidence_strategy``); its other fields those of its first detection.
    ``crop_zones``: each parent's box as four corners.

    As in Roboflow's block: a merged detection gets a new ``detection_id``, the first
    child's ``parent_id`` (and ``inference_id``), the root image's size as its image size and
    ``prediction_type`` "instance-segmentation"; detections of a class missing a field get
    that field from the class's first detection (else None). Unlike it, the rolled-up
    detections take ``root_parent_offset`` from the parents' image (they lie on it), and
    keypoint detections are also recognised by their ``keypoints_xy`` (visionflow's
    keypoint models do not write ``prediction_type``).
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/detections_list_rollup@v1", "DetectionsListRollUp"]
        parent_detection: Selector(kinds=[*STITCHED_KINDS, "keypoint_detection_prediction"])
        child_detections: Selector(kinds=["list_of_values"])
        confidence_strategy: Selector(kinds=["list_of_values"]) | Literal["max", "mean", "min"] = (
            "max"
        )
        overlap_threshold: (
            Selector(kinds=["float_zero_to_one"]) | Annotated[float, Field(ge=0, le=1)]
        ) = 0.0
        keypoint_merge_threshold: Selector(kinds=["float"]) | Annotated[float, Field(ge=0)] = 10.0

    outputs = [
        Output(
            "rolled_up_detections",
            kinds=["instance_segmentation_prediction", "object_detection_prediction",
                   "keypoint_detection_prediction"],
        ),
        Output("crop_zones", kinds=["list_of_values"]),
    ]  # fmt: skip

    def run(
        self,
        parent_detection: sv.Detections,
        child_detections: list,
        confidence_strategy: str,
        overlap_threshold: float,
        keypoint_merge_threshold: float,
    ) -> dict[str, Any]:
        parents, children = parent_detection, list(child_detections)
        if len(parents) != len(children):
            raise ValueError(
                f"parent_detection has {len(parents)} detections but child_detections "
                f"{len(children)} sets: give one set of detections per parent detection"
            )
        root_sizes = parents.data.get(ROOT_PARENT_DIMENSIONS)
        if root_sizes is None or len(root_sizes) == 0:
            raise ValueError("parent_detection has no root_parent_dimensions: no image size")
        height_width = (int(root_sizes[0][0]), int(root_sizes[0][1]))
        zones = [[(float(x1), float(y1)), (float(x2), float(y1)), (float(x2), float(y2)),
                  (float(x1), float(y2))] for x1, y1, x2, y2 in parents.xyxy]  # fmt: skip
        with_masks = any(found.mask is not None and len(found.mask) for found in children)
        keypoints = any(_keypoint_prediction(found) for found in children)
        by_class = _moved_children(parents, children, height_width, with_masks, keypoints)
        merged = []
        for found in by_class.values():
            if keypoints:
                merged += _merged_keypoints(found, confidence_strategy, keypoint_merge_threshold)
            elif with_masks:
                merged += _merged_masks(found, confidence_strategy, overlap_threshold)
            else:
                merged += _merged_boxes(found, confidence_strategy, overlap_threshold)
        if not merged:
            return {"rolled_up_detections": sv.Detections.empty(), "crop_zones": zones}
        rolled = _rolled_detections(merged, with_masks)
        _fill_fields(rolled, merged, parents, children, height_width, keypoints)
        return {"rolled_up_detections": rolled, "crop_zones": zones}


def _keypoint_prediction(found: sv.Detections) -> bool:
    kinds = found.data.get("prediction_type")
    if (
        kinds is not None
        and len(kinds)
        and str(np.asarray(kinds).ravel()[0]) == ("keypoint-detection")
    ):
        return True
    return len(found) > 0 and KEYPOINTS_XY in found.data


def _moved_children(
    parents: sv.Detections, children: list, height_width: tuple, with_masks: bool, keypoints: bool
) -> dict[Any, list[dict]]:
    """Each child detection in the parents' image, grouped by class id (first seen first)."""
    by_class: dict[Any, list[dict]] = {}
    for parent_box, found in zip(parents.xyxy, children, strict=True):
        x, y = int(parent_box[0]), int(parent_box[1])
        for j in range(len(found)):
            entry = {
                "bbox": found.xyxy[j] + np.array([x, y, x, y]),
                "confidence": found.confidence[j],
                "class_id": found.class_id[j],
                "mask": None,
                "fields": {
                    key: values[j]
                    for key, values in found.data.items()
                    if key not in _NOT_COPIED and j < len(values)
                },
                "keypoints": _moved_keypoints(found, j, x, y) if keypoints else {},
            }
            if with_masks and found.mask is not None:
                entry["mask"] = _placed_masks(found.mask[j : j + 1], x, y, *height_width)[0]
            by_class.setdefault(found.class_id[j], []).append(entry)
    return by_class


def _moved_keypoints(found: sv.Detections, j: int, x: int, y: int) -> dict:
    if KEYPOINTS_XY not in found.data:
        return {}
    points = np.array(found.data[KEYPOINTS_XY][j], dtype=np.float64)
    shifted = np.add(points.reshape(-1, 2), np.array([x, y], dtype=np.float64))
    moved = {KEYPOINTS_XY: [] if points.size == 0 else shifted.tolist()}
    for key in KEYPOINT_FIELDS[1:]:
        if key in found.data:
            moved[key] = found.data[key][j]
    return moved


def _pooled(confidences: list, strategy: str) -> Any:
    if strategy == "mean":
        return float(np.mean(confidences))
    return min(confidences) if strategy == "min" else max(confidences)


def _linked_groups(count: int, linked: Callable[[int, int], bool]) -> list[list[int]]:
    """Positions joined whenever ``linked(i, j)`` (i < j), as groups ordered by the
    position where each group's root ends up first (union-find, the later one as root)."""
    roots = list(range(count))

    def root(i: int) -> int:
        while roots[i] != i:
            roots[i] = roots[roots[i]]
            i = roots[i]
        return i

    for i in range(count):
        for j in range(i + 1, count):
            if linked(i, j) and root(i) != root(j):
                roots[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(count):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def _linked(shared: float, area_a: float, area_b: float, threshold: float) -> bool:
    """Whether two detections sharing ``shared`` of their areas are merged: any overlap
    when ``threshold`` is 0 or below, else an intersection over union of ``threshold``."""
    if threshold <= 0:
        return shared > 0
    union = area_a + area_b - shared
    return (shared / union if union > 0 else 0.0) >= threshold


def _merged_boxes(found: list[dict], strategy: str, threshold: float) -> list[dict]:
    boxes = np.array([entry["bbox"] for entry in found], dtype=np.float64)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])

    def linked(i: int, j: int) -> bool:
        width = max(0.0, min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0]))
        height = max(0.0, min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1]))
        shared = width * height
        return _linked(shared, areas[i], areas[j], threshold)

    merged = []
    for group in _linked_groups(len(found), linked):
        members = boxes[group]
        around = [
            members[:, 0].min(),
            members[:, 1].min(),
            members[:, 2].max(),
            members[:, 3].max(),
        ]
        confidence = _pooled([found[i]["confidence"] for i in group], strategy)
        merged.append({**found[group[0]], "bbox": np.array(around), "confidence": confidence,
                       "keypoints": {}})  # fmt: skip
    return merged


def _merged_masks(found: list[dict], strategy: str, threshold: float) -> list[dict]:
    masks = [entry["mask"] for entry in found]
    boxes = np.array([entry["bbox"] for entry in found], dtype=np.float64)
    areas = [int(np.count_nonzero(mask)) for mask in masks]

    def linked(i: int, j: int) -> bool:
        (ax1, ay1, ax2, ay2), (bx1, by1, bx2, by2) = boxes[i], boxes[j]
        if ax2 <= bx1 or bx2 <= ax1 or ay2 <= by1 or by2 <= ay1:
            return False  # boxes apart: masks apart
        shared = int(np.count_nonzero(masks[i] & masks[j]))
        return _linked(shared, areas[i], areas[j], threshold)

    merged = []
    for group in _linked_groups(len(found), linked):
        union_mask = np.logical_or.reduce([masks[i] for i in group])
        if union_mask.any():  # an empty mask gives no detection
            confidence = _pooled([found[i]["confidence"] for i in group], strategy)
            merged.append({**found[group[0]], "mask": union_mask, "confidence": confidence,
                           "keypoints": {}})  # fmt: skip
    return merged


def _merged_keypoints(found: list[dict], strategy: str, threshold: float) -> list[dict]:
    with_points = [entry for entry in found if KEYPOINTS_XY in entry["keypoints"]]
    if not with_points:
        return found
    merged, used = [], set()
    for i, first in enumerate(with_points):
        if i in used:
            continue
        group, points = [first], np.array(first["keypoints"][KEYPOINTS_XY])
        used.add(i)
        for j in range(i + 1, len(with_points)):
            other = np.array(with_points[j]["keypoints"][KEYPOINTS_XY])
            close = j not in used and len(points) == len(other)
            if close and np.mean(np.linalg.norm(points - other, axis=1)) < threshold:
                group.append(with_points[j])
                used.add(j)
        if len(group) == 1:
            merged.append(first)
            continue
        averaged = {
            KEYPOINTS_XY: np.mean([g["keypoints"][KEYPOINTS_XY] for g in group], axis=0).tolist(),
            "keypoints_class_name": first["keypoints"].get("keypoints_class_name"),
            "keypoints_class_id": first["keypoints"].get("keypoints_class_id"),
        }
        if "keypoints_confidence" in first["keypoints"]:
            averaged["keypoints_confidence"] = np.mean(
                [np.array(g["keypoints"]["keypoints_confidence"]) for g in group], axis=0
            ).tolist()
        merged.append({
            **first,
            "bbox": np.mean([g["bbox"] for g in group], axis=0),
            "confidence": _pooled([g["confidence"] for g in group], strategy),
            "mask": None,
            "keypoints": averaged,
        })  # fmt: skip
    return merged + [entry for entry in found if KEYPOINTS_XY not in entry["keypoints"]]


def _rolled_detections(merged: list[dict], with_masks: bool) -> sv.Detections:
    confidence = np.array([entry["confidence"] for entry in merged], dtype=np.float32)
    class_id = np.array([entry["class_id"] for entry in merged], dtype=int)
    if not with_masks:
        boxes = np.array([entry["bbox"] for entry in merged], dtype=np.float32)
        return sv.Detections(xyxy=boxes, confidence=confidence, class_id=class_id)
    masks = np.stack([entry["mask"] for entry in merged])
    boxes = []
    for mask in masks:  # the box of the mask's pixels (end exclusive)
        rows, columns = np.nonzero(mask)
        boxes.append([columns.min(), rows.min(), columns.max() + 1, rows.max() + 1])
    return sv.Detections(
        xyxy=np.array(boxes, dtype=np.float32), mask=masks, confidence=confidence, class_id=class_id
    )


def _fill_fields(
    rolled: sv.Detections,
    merged: list[dict],
    parents: sv.Detections,
    children: list,
    height_width: tuple,
    keypoints: bool,
) -> None:
    """The rolled-up detections' data fields, as Roboflow's block fills them."""
    keys = {key for found in children for key in found.data} - set(KEYPOINT_FIELDS)
    first_of_class: dict[Any, dict] = {}
    for found in children:
        for j in range(len(found)):
            first_of_class.setdefault(
                found.class_id[j],
                {k: v[j] for k, v in found.data.items() if k not in _NOT_COPIED and j < len(v)},
            )
    first = children[0] if children and len(children[0]) else None
    shared = {
        PARENT_ID: _first_value(first, PARENT_ID),
        "inference_id": _first_value(first, "inference_id"),
    }
    offset = parents.data.get(ROOT_PARENT_OFFSET)
    for key in keys:
        values = []
        for entry in merged:
            if key == DETECTION_ID:
                values.append(str(uuid.uuid4()))
            elif key in shared:
                values.append(shared[key] or str(uuid.uuid4()))
            elif key in (ROOT_PARENT_DIMENSIONS, IMAGE_DIMENSIONS):
                values.append(list(height_width))
            elif key == ROOT_PARENT_OFFSET and offset is not None and len(offset):
                values.append(list(offset[0]))
            elif key == "prediction_type":
                values.append("instance-segmentation")
            elif key in entry["fields"]:
                values.append(entry["fields"][key])
            else:
                values.append(first_of_class.get(entry["class_id"], {}).get(key))
        if key in _TEXT_FIELDS:
            rolled.data[key] = np.array(values, dtype=str)
        elif key in _WHOLE_FIELDS:
            rolled.data[key] = np.array(values, dtype=int)
        else:
            rolled.data[key] = np.array(values)
    if keypoints:
        for key in KEYPOINT_FIELDS:
            found = [entry["keypoints"].get(key) for entry in merged if entry["keypoints"]]
            if any(value is not None for value in found):  # (Roboflow's: a column of None)
                rolled.data[key] = _keypoint_array(found)


def _first_value(found: sv.Detections | None, key: str) -> Any:
    if found is None or key not in found.data:
        return None
    return found.data[key][0]


def _keypoint_array(values: list) -> np.ndarray:
    """Equal-shaped keypoint values as one array (visionflow's form), else an object array
    of them (Roboflow's)."""
    try:
        return np.array(values, dtype=float)
    except (TypeError, ValueError):
        packed = np.empty(len(values), dtype=object)
        packed[:] = values
        return packed


BLOCKS: list[type[Block]] = [DetectionsListRollUp]
