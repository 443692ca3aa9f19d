"""Roboflow's fusion blocks (issue 12): an image cut into SAHI slices, the detections made
on its parts stitched back onto it, several models' detections voted on, and instance masks
simplified into zones, each giving the values Roboflow's block gives."""

from __future__ import annotations

import statistics
import uuid
from collections import Counter
from typing import Annotated, Any, Literal

import cv2
import numpy as np
import supervision as sv
from pydantic import AliasChoices, Field, PositiveInt

from visionflow.blocks.api import Batch, Block, Output, Selector
from visionflow.data.detections import (
    CLASS_NAME,
    DETECTION_ID,
    IMAGE_DIMENSIONS,
    KEYPOINTS_XY,
    PARENT_ID,
    QUAD,
    ROOT_PARENT_DIMENSIONS,
    ROOT_PARENT_ID,
    ROOT_PARENT_OFFSET,
    attach_image_metadata,
)
from visionflow.data.image import WorkflowImage

STITCHED_KINDS = ["object_detection_prediction", "instance_segmentation_prediction"]


# a slice's overlap with the next, as a share of the slice: 1 would never move on
OVERLAP_RATIO = Annotated[float, Field(ge=0, lt=1)]


def check_overlap_ratios(width: float, height: float) -> None:
    """A run's overlap ratios (a selector's values: the manifest checks literals only)."""
    for name, ratio in (("overlap_ratio_width", width), ("overlap_ratio_height", height)):
        if not 0 <= ratio < 1:
            raise ValueError(f"{name} must be at least 0 and below 1, not {ratio}")


class RoboflowDetectionsStitch(Block):
    """Detections made on crops or slices of ``reference_image`` (one level deeper) moved
    into its coordinates and merged; ``overlap_filtering_strategy`` then drops (``nms``) or
    merges (``nmm``) the boxes of one class overlapping by more than ``iou_threshold``
    (supervision's ``with_nms`` / ``with_nmm``), or keeps them all (``none``).

    The merged detections are marked as predicted on ``reference_image`` (parent, size).
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/detections_stitch@v1"]
        reference_image: Selector(kinds=["image"])
        predictions: Selector(kinds=STITCHED_KINDS)
        overlap_filtering_strategy: Selector(kinds=["string"]) | Literal["none", "nms", "nmm"] = (
            "nms"
        )
        iou_threshold: (
            Selector(kinds=["float_zero_to_one"]) | Annotated[float, Field(ge=0, le=1)]
        ) = 0.3

    outputs = [Output("predictions", kinds=STITCHED_KINDS)]
    input_dimensionality_offsets = {"predictions": 1}

    def run(
        self,
        reference_image: WorkflowImage,
        predictions: Batch,
        overlap_filtering_strategy: str,
        iou_threshold: float,
    ) -> dict[str, Any]:
        if overlap_filtering_strategy not in ("none", "nms", "nmm"):
            raise ValueError(
                f"overlap_filtering_strategy {overlap_filtering_strategy!r} is not one of "
                "'none', 'nms', 'nmm'"
            )
        parts = [found for found in predictions if found is not None and len(found)]
        with_masks = {found.mask is not None for found in parts}
        if len(with_masks) > 1:
            raise ValueError(
                "some crops' detections have masks and others not: stitch either all "
                "instance segmentations or all boxes"
            )
        moved = [_moved_into(found, reference_image) for found in parts]
        if not moved:
            return {"predictions": attach_image_metadata(sv.Detections.empty(), reference_image)}
        merged = attach_image_metadata(sv.Detections.merge(moved), reference_image)
        if overlap_filtering_strategy == "nms":
            merged = merged.with_nms(threshold=iou_threshold)
        elif overlap_filtering_strategy == "nmm":
            merged = merged.with_nmm(threshold=iou_threshold)
        return {"predictions": merged}


def _moved_into(detections: sv.Detections, image: WorkflowImage) -> sv.Detections:
    """A copy of ``detections`` (made on a part of ``image``) in ``image``'s coordinates:
    boxes, keypoints and text quadrilaterals shifted, masks placed on an image-sized canvas
    (clipped to it)."""
    offsets = detections.data.get(ROOT_PARENT_OFFSET)
    if offsets is None:
        raise ValueError(
            "the detections do not say where their image lies in the reference image: "
            "stitch detections made on crops or slices of it"
        )
    # Roboflow reads one offset per crop: its first detection's
    x = int(offsets[0][0]) - image.origin.offset_x
    y = int(offsets[0][1]) - image.origin.offset_y
    moved = detections[np.arange(len(detections))]  # indexing copies every array
    moved.xyxy = moved.xyxy + np.array([x, y, x, y], dtype=float)
    for points in (KEYPOINTS_XY, QUAD):  # (N, points, 2): keypoints, text quadrilaterals
        if (found := moved.data.get(points)) is not None:
            moved.data[points] = found + np.array([x, y], dtype=found.dtype)
    if moved.mask is not None:
        moved.mask = _placed_masks(moved.mask, x, y, image.height, image.width)
    return moved


def _placed_masks(masks: np.ndarray, x: int, y: int, height: int, width: int) -> np.ndarray:
    canvas = np.zeros((len(masks), height, width), dtype=bool)
    left, top = max(0, -x), max(0, -y)
    right = min(masks.shape[2], width - x)
    bottom = min(masks.shape[1], height - y)
    if right > left and bottom > top:
        canvas[:, top + y : bottom + y, left + x : right + x] = masks[:, top:bottom, left:right]
    return canvas


class ImageSlicer(Block):
    """The image cut into tiles of ``slice_width`` x ``slice_height`` pixels, neighbours
    overlapping by ``overlap_ratio_width`` / ``overlap_ratio_height`` of a tile (SAHI's
    slicing, as supervision's ``InferenceSlicer`` places them), row by row: one image per
    tile, each remembering its place (one level deeper than the image).

    v1 starts a tile every stride from the top-left, so the last ones of a row or column
    are cut short by the image's edge; v2 moves those back inside the image, so every tile
    has the full size (at most the image's), and gives each place once.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/image_slicer@v1", "roboflow_core/image_slicer@v2"]
        image: Selector(kinds=["image"]) = Field(validation_alias=AliasChoices("image", "images"))
        slice_width: Selector(kinds=["integer"]) | PositiveInt = 640
        slice_height: Selector(kinds=["integer"]) | PositiveInt = 640
        overlap_ratio_width: Selector(kinds=["float_zero_to_one"]) | OVERLAP_RATIO = 0.2
        overlap_ratio_height: Selector(kinds=["float_zero_to_one"]) | OVERLAP_RATIO = 0.2

    outputs = [Output("slices", kinds=["image"])]
    output_dimensionality_offset = 1

    def setup(self, manifest: Block.Manifest) -> None:
        self._inside = manifest.type.endswith("@v2")

    def run(
        self,
        image: WorkflowImage,
        slice_width: int,
        slice_height: int,
        overlap_ratio_width: float,
        overlap_ratio_height: float,
    ) -> list[dict[str, Any]]:
        for name, value in (("slice_width", slice_width), ("slice_height", slice_height)):
            if int(value) < 1:  # a selector's value, not checked by the manifest
                raise ValueError(f"{name} must be a positive number of pixels, not {value}")
        check_overlap_ratios(overlap_ratio_width, overlap_ratio_height)
        tiles = slice_places(
            (image.width, image.height),
            (int(slice_width), int(slice_height)),
            (overlap_ratio_width, overlap_ratio_height),
            inside=self._inside,
        )
        return [
            {"slices": image.crop(*tile, crop_id=f"image_slicer.{uuid.uuid4()}")} for tile in tiles
        ]


def slice_places(
    image_wh: tuple[int, int],
    slice_wh: tuple[int, int],
    overlap_wh: tuple[float, float],
    inside: bool,
) -> list[tuple[int, int, int, int]]:
    """(x_min, y_min, x_max, y_max) of each tile, row by row. A tile starts every
    ``size - int(ratio * size)`` pixels; ``inside``: tiles crossing the far edge are moved
    back to end on it (no larger than the image) and repeated places dropped."""
    starts, sizes = [], []
    for length, size, ratio in zip(image_wh, slice_wh, overlap_wh, strict=True):
        size = min(size, length) if inside else size
        begins = np.arange(0, length, size - int(ratio * size))
        if inside:
            begins = begins - np.clip(begins + size - length, 0, size)
        starts.append(begins.tolist())
        sizes.append(size)
    (width, height), places = image_wh, []
    for y in starts[1]:
        for x in starts[0]:
            place = (x, y, min(x + sizes[0], width), min(y + sizes[1], height))
            if not (inside and place in places):
                places.append(place)
    return places


Aggregation = Literal["average", "max", "min"]


class DetectionsConsensus(Block):
    """Detections of the same image by several models (``predictions_batches``) voted on:
    each detection, taken source by source, gathers from every other source the box (of
    its class, with ``class_aware``) overlapping it most beyond ``iou_threshold``; with at
    least ``required_votes`` votes (itself included) the group becomes one detection (class,
    box or mask and confidence aggregated as the ``detections_merge_*`` fields say), kept
    if its confidence reaches ``confidence``. A detection joins one group at most.

    ``object_present``: some detection agreed on (``required_objects`` of them, in all or by
    class); ``presence_confidence``: their confidences aggregated, by class name
    (``any_object`` without ``class_aware``).
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/detections_consensus@v1", "DetectionsConsensus"]
        predictions_batches: Annotated[
            list[Selector(kinds=[*STITCHED_KINDS, "keypoint_detection_prediction"])],
            Field(min_length=1),
        ] = Field(validation_alias=AliasChoices("predictions_batches", "predictions"))
        required_votes: Selector(kinds=["integer"]) | PositiveInt
        class_aware: Selector(kinds=["boolean"]) | bool = True
        iou_threshold: (
            Selector(kinds=["float_zero_to_one"]) | Annotated[float, Field(ge=0, le=1)]
        ) = 0.3
        confidence: Selector(kinds=["float_zero_to_one"]) | Annotated[float, Field(ge=0, le=1)] = (
            0.0
        )
        classes_to_consider: Selector(kinds=["list_of_values"]) | list[str] | None = None
        required_objects: (
            Selector(kinds=["integer", "dictionary"]) | PositiveInt | dict[str, PositiveInt] | None
        ) = None
        presence_confidence_aggregation: Aggregation = "max"
        detections_merge_confidence_aggregation: Aggregation = "average"
        detections_merge_coordinates_aggregation: Aggregation = "average"
        detections_merge_mask_aggregation: Literal["union", "intersection", "max", "min"] = "union"

    outputs = [
        Output("predictions", kinds=STITCHED_KINDS),
        Output("object_present", kinds=["boolean", "dictionary"]),
        Output("presence_confidence", kinds=["float_zero_to_one", "dictionary"]),
    ]

    def run(
        self,
        predictions_batches: list[sv.Detections],
        required_votes: int,
        class_aware: bool,
        iou_threshold: float,
        confidence: float,
        classes_to_consider: list[str] | None,
        required_objects: int | dict[str, int] | None,
        presence_confidence_aggregation: str,
        detections_merge_confidence_aggregation: str,
        detections_merge_coordinates_aggregation: str,
        detections_merge_mask_aggregation: str,
    ) -> dict[str, Any]:
        sources = list(predictions_batches)
        if all(len(found) == 0 for found in sources):
            return _consensus(sv.Detections.empty(), False, {})
        parents = {str(p) for found in sources for p in found.data.get(PARENT_ID, [])}
        if len(parents) > 1:
            raise ValueError(
                "the predictions were made on different images (parents "
                f"{sorted(parents)}): a consensus needs predictions of the same image"
            )
        if classes_to_consider:  # as Roboflow's: sources without class names dropped
            sources = [
                found[np.isin(found.data[CLASS_NAME], classes_to_consider)]
                for found in sources
                if CLASS_NAME in found.data
            ]
        merge = _Merge(
            detections_merge_confidence_aggregation,
            detections_merge_coordinates_aggregation,
            detections_merge_mask_aggregation,
        )
        agreed = _agree(sources, int(required_votes), class_aware, iou_threshold, confidence, merge)
        found = sv.Detections.merge(agreed) if agreed else sv.Detections.empty()
        present, by_class = _presence(
            found, class_aware, presence_confidence_aggregation, required_objects
        )
        return _consensus(found, present, by_class)


def _consensus(found: sv.Detections, present: bool, by_class: dict) -> dict[str, Any]:
    return {"predictions": found, "object_present": present, "presence_confidence": by_class}


def _agree(
    sources: list[sv.Detections],
    required_votes: int,
    class_aware: bool,
    iou_threshold: float,
    confidence: float,
    merge: _Merge,
) -> list[sv.Detections]:
    """Each detection in turn (source by source) with the detections of other sources that
    overlap it most, merged when enough vote and confident enough; those merged are used."""
    used: set[str] = set()
    agreed = []
    for source, position in _each(sources):
        detection = sources[source][position : position + 1]
        if str(detection.data[DETECTION_ID][0]) in used:
            continue
        votes = _best_matches(detection, source, sources, iou_threshold, class_aware, used)
        if len(votes) < required_votes - 1:
            continue
        merged = merge(detection, votes)
        if merged.confidence[0] < confidence:
            continue
        agreed.append(merged)
        used.update(str(d.data[DETECTION_ID][0]) for d in [detection, *votes])
    return agreed


def _each(sources: list[sv.Detections]):
    return (
        (source, position) for source, found in enumerate(sources) for position in range(len(found))
    )


def _best_matches(
    detection: sv.Detections,
    source: int,
    sources: list[sv.Detections],
    iou_threshold: float,
    class_aware: bool,
    used: set[str],
) -> list[sv.Detections]:
    """From each other source, its unused detection overlapping ``detection`` most (the
    first of equals) by more than ``iou_threshold``: in source order."""
    best: dict[int, tuple[sv.Detections, float]] = {}
    for other, position in _each(sources):
        candidate = sources[other][position : position + 1]
        if other == source or str(candidate.data[DETECTION_ID][0]) in used:
            continue
        if class_aware and detection.data[CLASS_NAME][0] != candidate.data[CLASS_NAME][0]:
            continue
        iou = float(sv.box_iou_batch(detection.xyxy, candidate.xyxy)[0][0])
        iou = 0.0 if np.isnan(iou) else iou
        if iou > iou_threshold and (other not in best or best[other][1] < iou):
            best[other] = (candidate, iou)
    return [best[other][0] for other in sorted(best)]


_PICK = {"max": max, "min": min, "average": statistics.mean}


class _Merge:
    """A group of voting detections as one, as the ``detections_merge_*`` fields say."""

    def __init__(self, confidence: str, coordinates: str, mask: str) -> None:
        self.confidence, self.coordinates, self.mask = confidence, coordinates, mask

    def __call__(self, detection: sv.Detections, votes: list[sv.Detections]) -> sv.Detections:
        group = sv.Detections.merge(
            [_with_mask_like(d, detection, votes) for d in [detection, *votes]]
        )
        confidences = group.confidence.astype(float).tolist()
        if self.confidence == "average":  # the most frequent (name, id), first seen on ties
            pairs = [
                (str(n), int(i))
                for n, i in zip(group.data[CLASS_NAME], group.class_id, strict=True)
            ]
            name, class_id = Counter(pairs).most_common(1)[0][0]
        else:
            chosen = confidences.index(_PICK[self.confidence](confidences))
            name, class_id = str(group.data[CLASS_NAME][chosen]), int(group.class_id[chosen])
        mask = None
        if group.mask is not None:
            mask = self._mask(group)[None]
            box = sv.mask_to_xyxy(mask)[0].astype(float)
        elif self.coordinates == "average":
            box = group.xyxy.mean(axis=0)
        else:
            areas = group.area.astype(float).tolist()
            box = group.xyxy[areas.index(_PICK[self.coordinates](areas))]
        data = {CLASS_NAME: np.array([name]), DETECTION_ID: np.array([str(uuid.uuid4())])}
        for key in (
            PARENT_ID,
            ROOT_PARENT_ID,
            ROOT_PARENT_OFFSET,
            IMAGE_DIMENSIONS,
            ROOT_PARENT_DIMENSIONS,
        ):
            if key in group.data:
                data[key] = group.data[key][:1]
        return sv.Detections(
            xyxy=np.array([box], dtype=np.float64),
            confidence=np.array([_PICK[self.confidence](confidences)], dtype=np.float64),
            class_id=np.array([class_id]),
            mask=mask,
            data=data,
        )

    def _mask(self, group: sv.Detections) -> np.ndarray:
        if self.mask == "union":
            return np.any(group.mask, axis=0)
        if self.mask == "intersection":
            return np.all(group.mask, axis=0)
        areas = group.area.astype(float).tolist()
        return group.mask[areas.index(_PICK[self.mask](areas))]


def _with_mask_like(one: sv.Detections, detection: sv.Detections, votes: list) -> sv.Detections:
    """``one`` with an empty mask when others of its group have masks and it has none."""
    shapes = [d.mask.shape for d in [detection, *votes] if d.mask is not None]
    if one.mask is not None or not shapes:
        return one
    filled = one[np.arange(len(one))]
    filled.mask = np.zeros(shapes[0], dtype=bool)
    return filled


def _presence(
    found: sv.Detections,
    class_aware: bool,
    aggregation: str,
    required_objects: int | dict[str, int] | None,
) -> tuple[bool, dict[str, float]]:
    """Whether the objects asked for were agreed on, and their confidences aggregated."""
    if len(found) == 0:
        return False, {}
    required = required_objects or 0
    if isinstance(required, dict) and not class_aware:
        required = sum(required.values())
    if isinstance(required, int) and len(found) < required:
        return False, {}
    pick = _PICK[aggregation]
    if not class_aware:
        return True, {"any_object": pick(found.confidence.astype(float).tolist())}
    names = [str(name) for name in found.data[CLASS_NAME]]
    by_class = {
        name: [
            c
            for n, c in zip(names, found.confidence.astype(float).tolist(), strict=True)
            if n == name
        ]
        for name in dict.fromkeys(names)
    }
    if isinstance(required, dict) and any(
        len(by_class.get(name, [])) < count for name, count in required.items()
    ):
        return False, {}
    return True, {name: pick(values) for name, values in by_class.items()}


class DynamicZone(Block):
    """Each instance mask's outline simplified to a polygon of ``required_number_of_vertices``
    corners: the convex hull of its longest outline, simplified by OpenCV's ``approxPolyDP``
    with the tolerance searched by halving (at most 1000 steps). ``apply_least_squares``
    fits a line to the outline between each two corners (the middle ``midpoint_fraction``
    of its points) and takes the lines' crossings as corners; ``scale_ratio`` scales the
    polygon about its centroid. A polygon still off the count is cut or its last corner
    repeated, and ``simplification_converged`` is false.

    ``zones``: the polygons ([x, y] integer corners); ``predictions``: the detections with
    each polygon as its mask and ``data["polygon"]``.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/dynamic_zone@v1", "DynamicZone"]
        predictions: Selector(kinds=["instance_segmentation_prediction"])
        required_number_of_vertices: Selector(kinds=["integer"]) | int
        scale_ratio: Selector(kinds=["float"]) | float = 1
        apply_least_squares: Selector(kinds=["boolean"]) | bool = False
        midpoint_fraction: (
            Selector(kinds=["float_zero_to_one"]) | Annotated[float, Field(ge=0, le=1)]
        ) = 1

    outputs = [
        Output("zones", kinds=["list_of_values"]),
        Output("predictions", kinds=["instance_segmentation_prediction"]),
        Output("simplification_converged", kinds=["boolean"]),
    ]

    def run(
        self,
        predictions: sv.Detections,
        required_number_of_vertices: int,
        scale_ratio: float,
        apply_least_squares: bool,
        midpoint_fraction: float,
    ) -> dict[str, Any]:
        if predictions.mask is None:
            return {"zones": [], "predictions": None, "simplification_converged": False}
        count, zones, shaped, converged = int(required_number_of_vertices), [], [], True
        for position, mask in enumerate(predictions.mask):
            outline = max(sv.mask_to_polygons(mask), key=len)
            polygon = _simplified(outline, count)
            if apply_least_squares:
                polygon = _fitted_corners(outline, polygon, midpoint_fraction)
            if len(polygon) != count:
                converged = False
                polygon = np.concatenate([polygon, polygon[-1:].repeat(count, axis=0)])[:count]
            polygon = _scaled(polygon, scale_ratio)
            one = predictions[position : position + 1]
            one.data["polygon"] = np.array([polygon])
            one.mask = sv.polygon_to_mask(polygon, mask.shape[::-1]).astype(bool)[None]
            zones.append(polygon.tolist())
            shaped.append(one)
        return {
            "zones": zones,
            "predictions": sv.Detections.merge(shaped),
            "simplification_converged": converged,
        }


def _simplified(outline: np.ndarray, count: int, steps: int = 1000) -> np.ndarray:
    """The convex hull of ``outline`` simplified towards ``count`` corners: the tolerance
    halved between the last too coarse and too fine ones (Roboflow's search)."""
    hull = cv2.convexHull(outline, returnPoints=True, clockwise=True)
    low, high = 0.0000001, cv2.arcLength(hull, True)
    tolerance = low + high / 2
    polygon = cv2.approxPolyDP(hull, tolerance, True)
    for _ in range(steps):
        if len(polygon) == count:
            break
        if len(polygon) > count:
            low = tolerance
        else:
            high = tolerance
        tolerance = low + (high - low) / 2
        polygon = cv2.approxPolyDP(hull, tolerance, True)
    return polygon.reshape(-1, 2)


def _fitted_corners(outline: np.ndarray, polygon: np.ndarray, fraction: float) -> np.ndarray:
    """Corners where lines fitted (least squares, y = a x + b) to the outline between each
    two neighbouring corners cross; a side that cannot be fitted gives no corner."""

    def nearest(point: np.ndarray) -> int:
        return int(np.argmin(np.linalg.norm(outline - point, axis=1)))

    lines = []
    for start, end in zip(np.roll(polygon, 1, axis=0), polygon, strict=True):
        first, last = nearest(start), nearest(end)
        side = (
            outline[first : last + 1]
            if first <= last
            else np.concatenate([outline[first:], outline[: last + 1]])
        )
        kept = round(len(side) * fraction)
        if fraction < 1 and kept > 2:
            cut = (len(side) - kept) // 2
            side = side[cut : len(side) - cut]
        lines.append(_line(side))
    corners = [_crossing(lines[i], lines[(i + 1) % len(lines)]) for i in range(len(lines))]
    return np.array(corners, dtype=float).round().astype(int)


def _line(points: np.ndarray) -> tuple[float, float] | None:
    if len(points) < 2:
        return None
    design = np.vstack([points[:, 0], np.ones(len(points))]).T
    slope, intercept = np.linalg.lstsq(design, points[:, 1], rcond=None)[0]
    return slope, intercept


def _crossing(one: tuple | None, other: tuple | None) -> np.ndarray | None:
    if one is None or other is None or np.isclose(one[0], other[0]):
        return None
    x = (other[1] - one[1]) / (one[0] - other[0])
    return np.array([x, one[0] * x + one[1]])


def _scaled(polygon: np.ndarray, scale: float) -> np.ndarray:
    """``polygon`` scaled about its centroid (as OpenCV's moments give it), rounded."""
    if scale == 1:
        return polygon
    moments = cv2.moments(polygon)
    if moments["m00"] == 0:
        return polygon
    centre = np.array([moments["m10"], moments["m01"]]) / moments["m00"]
    return ((polygon - centre) * scale + centre).round().astype(np.int32)


BLOCKS: list[type[Block]] = [
    RoboflowDetectionsStitch,
    ImageSlicer,
    DetectionsConsensus,
    DynamicZone,
]
