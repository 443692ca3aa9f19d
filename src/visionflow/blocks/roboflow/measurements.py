"""Roboflow's measurement blocks (issue 12): distances between detections, nearest
neighbours, sizes against a reference object, and mask areas, with Roboflow's names, fields
and results."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import cv2
import numpy as np
import supervision as sv
from pydantic import Field

from visionflow.blocks.api import Block, Output, Selector
from visionflow.blocks.core.crops import DETECTION_KINDS
from visionflow.blocks.roboflow.detections import SEGMENTATION, rotated_rect
from visionflow.blocks.roboflow.visualisations import ANCHORS
from visionflow.data.detections import (
    CLASS_NAME,
    DETECTION_ID,
    KEYPOINTS_CLASS_NAME,
    KEYPOINTS_XY,
)

KEYPOINT = "KEYPOINT"
AnchorPoint = Literal[ANCHORS, "KEYPOINT"]
NEAREST_DISTANCE = "nearest_target_distance"
AREA_PX, AREA_CONVERTED = "area_px", "area_converted"  # Roboflow's names for the areas
TIE_PIXELS = 1.0  # targets within a pixel of the nearest are all matched, as Roboflow's
# Roboflow's bounds on the pairwise work and on the matched rows copied (masks are heavy)
MOST_DETECTIONS, MOST_PAIRS, MOST_PAIRS_WITH_MASKS = 1_000, 10_000, 100


class DetectionsNearestNeighbor(Block):
    """For each query detection, the nearest target detection: the pixel distance between
    their anchor points (a box position, or with ``KEYPOINT`` the keypoint named
    ``*_keypoint_name``), a target with the query's own ``detection_id`` left out, and none
    farther than ``max_distance``.

    ``query_predictions``: the queries, each with ``nearest_target_distance`` (None: no
    target). ``matched_query_detections`` / ``matched_target_detections``: the matched pairs,
    row by row (a query within a pixel of several targets appears once per target).
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/detections_nearest_neighbor@v1"]
        query_predictions: Selector(kinds=DETECTION_KINDS)
        target_predictions: Selector(kinds=DETECTION_KINDS)
        query_point: Selector(kinds=["string"]) | AnchorPoint = "CENTER"
        target_point: Selector(kinds=["string"]) | AnchorPoint = "CENTER"
        query_keypoint_name: Selector(kinds=["string"]) | str | None = None
        target_keypoint_name: Selector(kinds=["string"]) | str | None = None
        max_distance: Selector(kinds=["integer"]) | Annotated[int, Field(ge=0)] | None = None

    outputs = [
        Output("query_predictions", kinds=DETECTION_KINDS),
        Output("matched_query_detections", kinds=DETECTION_KINDS),
        Output("matched_target_detections", kinds=DETECTION_KINDS),
    ]

    def run(
        self,
        query_predictions: sv.Detections,
        target_predictions: sv.Detections,
        query_point: str,
        target_point: str,
        query_keypoint_name: str | None,
        target_keypoint_name: str | None,
        max_distance: int | None,
    ) -> dict[str, Any]:
        for side, point, name in (
            ("query", query_point, query_keypoint_name),
            ("target", target_point, target_keypoint_name),
        ):
            if point == KEYPOINT and not name:
                raise ValueError(f"{side}_point KEYPOINT needs {side}_keypoint_name")
        for side, found in (("query", query_predictions), ("target", target_predictions)):
            if len(found) > MOST_DETECTIONS:
                raise ValueError(
                    f"{side}_predictions holds {len(found)} detections, over the "
                    f"{MOST_DETECTIONS} compared pairwise: filter them upstream"
                )
        queries = query_predictions[np.arange(len(query_predictions))]  # a copy: inputs stay
        # one set matched against itself: its targets carry the distances too (Roboflow's
        # block writes them into its input, so they show on the targets as well)
        targets = queries if target_predictions is query_predictions else target_predictions
        distances = _distances(
            _anchors(queries, query_point, query_keypoint_name),
            _anchors(targets, target_point, target_keypoint_name),
        )
        query_ids, target_ids = queries.data.get(DETECTION_ID), targets.data.get(DETECTION_ID)
        if query_ids is not None and target_ids is not None:  # no detection is its own match
            distances[np.asarray(query_ids)[:, None] == np.asarray(target_ids)[None, :]] = np.nan
        if max_distance is not None:
            distances[distances > max_distance] = np.nan
        reached = ~np.all(np.isnan(distances), axis=1)
        nearest = np.full(len(queries), np.nan)
        if reached.any():  # nanmin of nothing fails: no target (or none near) is NaN
            nearest[reached] = np.nanmin(distances[reached], axis=1)
        ties = distances <= nearest[:, None] + TIE_PIXELS  # NaN rows match nothing
        pairs = int(np.count_nonzero(ties))
        most = (
            MOST_PAIRS if queries.mask is None and targets.mask is None else MOST_PAIRS_WITH_MASKS
        )
        if pairs > most:
            raise ValueError(
                f"{pairs} matched query-target pairs, over the {most} allowed: many anchor "
                "points coincide; use fewer detections or anchors farther apart"
            )
        matched_queries, matched_targets = np.where(ties)
        queries.data[NEAREST_DISTANCE] = np.array(
            [None if np.isnan(d) else float(d) for d in nearest], dtype=object
        )
        return {
            "query_predictions": queries,
            "matched_query_detections": queries[matched_queries],
            "matched_target_detections": targets[matched_targets],
        }


def _anchors(detections: sv.Detections, point: str, keypoint_name: str | None) -> np.ndarray:
    """(N x 2) anchor points; with KEYPOINT, the named keypoint (NaN where a detection has
    none, so it matches nothing)."""
    if point != KEYPOINT:
        return detections.get_anchors_coordinates(anchor=getattr(sv.Position, point))
    xy, names = detections.data.get(KEYPOINTS_XY), detections.data.get(KEYPOINTS_CLASS_NAME)
    if xy is None or names is None:
        raise ValueError("KEYPOINT anchors need keypoint detection predictions")
    anchors = np.full((len(detections), 2), np.nan)
    for position, keypoint_names in enumerate(names):
        found = np.flatnonzero(np.asarray(keypoint_names) == keypoint_name)
        if len(found):
            anchors[position] = xy[position][found[0]]
    return anchors


def _distances(queries: np.ndarray, targets: np.ndarray) -> np.ndarray:
    if len(targets) == 0:
        return np.full((len(queries), 0), np.nan)
    return np.sqrt(((queries[:, None, :] - targets[None, :, :]) ** 2).sum(axis=-1))


class SizeMeasurement(Block):
    """Each object's size in the units of a reference object's known size
    (``reference_dimensions``: ``"width,height"`` or two numbers).

    The reference: the most confident of ``reference_predictions``, or a polygon (a list of
    points). A size in pixels: a mask's rotated rectangle (its largest outline), its width
    the edge nearer horizontal; without a mask, the box. Gives, per object, ``width``,
    ``height``, ``longer`` and ``shorter`` (None where the object has no area), or None
    when there is no reference.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/size_measurement@v1"]
        object_predictions: Selector(kinds=[SEGMENTATION, "object_detection_prediction"])
        reference_predictions: (
            Selector(kinds=[SEGMENTATION, "object_detection_prediction", "list_of_values"]) | list
        )
        reference_dimensions: (
            Selector(kinds=["string", "list_of_values"]) | str | tuple[float, float] | list[float]
        )

    outputs = [Output("dimensions", kinds=["list_of_values"])]

    def run(
        self,
        object_predictions: sv.Detections,
        reference_predictions: sv.Detections | list,
        reference_dimensions: str | tuple[float, float] | list[float],
    ) -> dict[str, Any]:
        real_width, real_height = _two_numbers(reference_dimensions)
        if isinstance(reference_predictions, sv.Detections):
            if reference_predictions.confidence is None or not len(reference_predictions):
                return {"dimensions": None}
            best = int(np.argmax(reference_predictions.confidence))
            pixels = _pixel_size(reference_predictions, best)
        else:
            if len(reference_predictions) < 2:
                return {"dimensions": None}
            pixels = _polygon_size(reference_predictions)
        if not pixels[0] or not pixels[1]:
            return {"dimensions": None}
        width_scale, height_scale = real_width / pixels[0], real_height / pixels[1]
        dimensions: list[dict[str, float] | None] = []
        for position in range(len(object_predictions)):
            width, height = _pixel_size(object_predictions, position)
            if not width or not height or width <= 0 or height <= 0:
                dimensions.append(None)
                continue
            width, height = width * width_scale, height * height_scale
            dimensions.append(
                {
                    "width": width,
                    "height": height,
                    "longer": max(width, height),
                    "shorter": min(width, height),
                }
            )
        return {"dimensions": dimensions}


def _two_numbers(value: str | tuple[float, float] | list[float]) -> tuple[float, float]:
    if isinstance(value, str):
        parts = value.split(",")
        if len(parts) != 2:
            raise ValueError(f"reference_dimensions must read 'width,height', found {value!r}")
        try:
            value = [float(part.strip()) for part in parts]
        except ValueError:
            raise ValueError(f"reference_dimensions must be two numbers, found {value!r}") from None
    if len(value) != 2:
        raise ValueError(f"reference_dimensions must be two values (width, height): {value!r}")
    return float(value[0]), float(value[1])


def _pixel_size(detections: sv.Detections, position: int) -> tuple[float | None, float | None]:
    """(width, height) in pixels of one detection: its mask's rotated rectangle (the largest
    outline by area; none with no area), or its box when it has no mask."""
    if detections.mask is None:
        x1, y1, x2, y2 = detections.xyxy[position].tolist()
        return float(x2 - x1), float(y2 - y1)
    outlines, _ = cv2.findContours(
        detections.mask[position].astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    if outlines:
        largest = max(outlines, key=cv2.contourArea)
        if cv2.contourArea(largest) > 0:
            return _aligned_size(largest)
    return None, None


def _polygon_size(polygon: list) -> tuple[float | None, float | None]:
    points = np.array(polygon)
    points = points.astype(np.float32 if points.dtype.kind == "f" else np.int32)
    if len(points) >= 3 and cv2.contourArea(points) > 0:
        return _aligned_size(points)
    return None, None


def _aligned_size(outline: np.ndarray) -> tuple[float, float]:
    """(width, height) of the outline's rotated rectangle: width is the edge nearer
    horizontal (on a tie, the second edge, in the corner order OpenCV 4.12 gives)."""
    corners = cv2.boxPoints(rotated_rect(outline)).astype(np.float32)
    first, second = corners[1] - corners[0], corners[2] - corners[1]

    def off_horizontal(edge: np.ndarray) -> float:
        angle = abs(float(np.degrees(np.arctan2(edge[1], edge[0]))) % 180)
        return min(angle, 180 - angle)

    lengths = float(np.linalg.norm(first)), float(np.linalg.norm(second))
    if off_horizontal(first) < off_horizontal(second):
        return lengths
    return lengths[1], lengths[0]


class DistanceMeasurement(Block):
    """The gap between an ``object_1_class_name`` box and an ``object_2_class_name`` box
    along ``reference_axis``, in pixels (``distance_pixel``, boxes rounded to whole pixels)
    and centimetres (``distance_cm``): by a reference object of known size found among the
    same detections (``reference object``), or by ``pixel_ratio`` pixels a centimetre.
    Boxes that overlap, or have no gap along the axis, are 0 apart.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/distance_measurement@v1"]
        predictions: Selector(kinds=["object_detection_prediction", SEGMENTATION])
        object_1_class_name: str
        object_2_class_name: str
        reference_axis: Literal["horizontal", "vertical"]
        calibration_method: Literal["reference object", "pixel to centimeter"]
        reference_object_class_name: Selector(kinds=["string"]) | str = "reference-object"
        reference_width: Selector(kinds=["float"]) | Annotated[float, Field(gt=0)] = 2.5
        reference_height: Selector(kinds=["float"]) | Annotated[float, Field(gt=0)] = 2.5
        pixel_ratio: Selector(kinds=["float"]) | Annotated[float, Field(gt=0)] = 100

    outputs = [
        Output("distance_cm", kinds=["integer"]),
        Output("distance_pixel", kinds=["integer"]),
    ]

    def run(
        self,
        predictions: sv.Detections,
        object_1_class_name: str,
        object_2_class_name: str,
        reference_axis: str,
        calibration_method: str,
        reference_object_class_name: str,
        reference_width: float,
        reference_height: float,
        pixel_ratio: float,
    ) -> dict[str, Any]:
        boxes = predictions.xyxy.round().astype(int).tolist()
        names = list(predictions.data[CLASS_NAME])
        first = second = None
        for box, name in zip(boxes, names, strict=True):  # as Roboflow's: stops once both found
            if name == object_1_class_name:
                first = box
            elif name == object_2_class_name:
                second = box
            if first and second:
                break
        if not first or not second:
            raise ValueError(
                f"class '{object_1_class_name}' or '{object_2_class_name}' not in the predictions"
            )
        if _boxes_touch(first, second) or not _axis_gap(first, second, reference_axis):
            return {"distance_cm": 0, "distance_pixel": 0}
        if calibration_method == "reference object":
            reference = next(
                (
                    box
                    for box, name in zip(boxes, names, strict=True)
                    if name == reference_object_class_name
                ),
                None,
            )
            if reference is None:
                raise ValueError(
                    f"reference class '{reference_object_class_name}' not in the predictions"
                )
            if reference_width <= 0 or reference_height <= 0:
                raise ValueError("the reference object's width and height must be over 0")
            pixel_ratio = (
                abs(reference[2] - reference[0]) / reference_width
                + abs(reference[3] - reference[1]) / reference_height
            ) / 2
        elif pixel_ratio <= 0:
            raise ValueError(f"pixel_ratio must be over 0, found {pixel_ratio}")
        gap = _gap(first, second, reference_axis)
        return {"distance_cm": gap / pixel_ratio, "distance_pixel": gap}


def _boxes_touch(first: list[int], second: list[int]) -> bool:
    return not (
        first[2] < second[0] or second[2] < first[0] or first[3] < second[1] or second[3] < first[1]
    )


def _axis_gap(first: list[int], second: list[int], axis: str) -> bool:
    low = 0 if axis == "horizontal" else 1
    return not (first[low] < second[low + 2] and first[low + 2] > second[low])


def _gap(first: list[int], second: list[int], axis: str) -> int:
    low = 0 if axis == "horizontal" else 1
    if second[low] > first[low + 2]:
        return abs(second[low] - first[low + 2])
    return abs(first[low] - second[low + 2])


class MaskAreaMeasurement(Block):
    """Each detection's area: ``area_px``, its mask's pixels (holes left out), or its box's
    width times height when it has no mask or an empty one; and ``area_converted``, that
    area over ``pixels_per_unit`` squared (unchanged when that is 0 or less). Gives the
    detections with both added (the input's detections stay as they are)."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/mask_area_measurement@v1"]
        predictions: Selector(kinds=[SEGMENTATION, "object_detection_prediction"])
        pixels_per_unit: Selector(kinds=["float"]) | float = 1.0

    outputs = [Output("predictions", kinds=["object_detection_prediction", SEGMENTATION])]

    def run(self, predictions: sv.Detections, pixels_per_unit: float = 1.0) -> dict[str, Any]:
        measured = predictions[np.arange(len(predictions))]  # a copy: inputs stay
        areas = np.array([_area(measured, position) for position in range(len(measured))])
        measured.data[AREA_PX] = areas
        scale = pixels_per_unit**2 if pixels_per_unit > 0 else 1.0
        measured.data[AREA_CONVERTED] = areas / scale
        return {"predictions": measured}


def _area(detections: sv.Detections, position: int) -> float:
    if detections.mask is not None:
        pixels = int(np.count_nonzero(detections.mask[position]))
        if pixels:
            return float(pixels)
    x1, y1, x2, y2 = detections.xyxy[position]
    return float((x2 - x1) * (y2 - y1))


BLOCKS: list[type[Block]] = [
    DetectionsNearestNeighbor,
    SizeMeasurement,
    DistanceMeasurement,
    MaskAreaMeasurement,
]
