"""Roboflow's blocks that change an image's geometry (issue 12): perspective correction,
lens calibration, stitching two views and deskewing, on OpenCV, with Roboflow's names,
fields and values.
"""

from __future__ import annotations

import math
import threading
from typing import Any, Literal

import cv2
import numpy as np
import supervision as sv
from pydantic import AliasChoices, Field, PositiveInt

from visionflow.blocks.api import Batch, Block, Output, Selector
from visionflow.blocks.roboflow.images import IMAGE, _check_choice, as_gray
from visionflow.data.detections import KEYPOINTS_XY
from visionflow.data.image import WorkflowImage

ALL_CORNERS = "ALL"
OBB_CORNERS = "xyxyxyxy"  # supervision's key of oriented boxes' corners
BOXES = ["object_detection_prediction", "instance_segmentation_prediction"]


class PerspectiveCorrection(Block):
    """Maps a four-cornered region of the image (``perspective_polygons``) onto a
    ``transformed_rect_width`` x ``transformed_rect_height`` rectangle, as seen from above:
    ``corrected_coordinates`` are the ``predictions`` in that rectangle (boxes, masks,
    keypoints and oriented boxes moved, rounded to whole pixels), ``warped_image`` the
    image warped into it when ``warp_image`` is on (else the image itself).

    ``perspective_polygons`` from a step gives each image its own polygon(s); a list
    written in the document (or given as a parameter) is one entry per image, as in
    Roboflow's block: a single polygon, or a list of one entry, serves every image. Given
    several polygons for an image, the largest is used; its corners are put in order
    (bottom left, top left, top right, bottom right) whatever order they come in. With
    ``extend_perspective_polygon_by_detections_anchor`` (a supervision position, or
    ``ALL`` for whole boxes) the region grows to hold every detection's anchor and the
    rectangle grows with it: ``extended_transformed_rect_width`` / ``_height`` give its size.
    Unlike Roboflow's block, the polygon is read again on every run (Roboflow keeps the
    first run's transform when no anchor is set).
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/perspective_correction@v1", "PerspectiveCorrection"]
        predictions: Selector(kinds=BOXES) | None = None
        images: Selector(kinds=["image"]) = Field(validation_alias=AliasChoices("images", "image"))
        perspective_polygons: Selector(kinds=["list_of_values"]) | list
        transformed_rect_width: Selector(kinds=["integer"]) | int = 1000
        transformed_rect_height: Selector(kinds=["integer"]) | int = 1000
        extend_perspective_polygon_by_detections_anchor: Selector(kinds=["string"]) | str = ""
        warp_image: Selector(kinds=["boolean"]) | bool = False

    outputs = [
        Output("corrected_coordinates", kinds=BOXES),
        Output("warped_image", kinds=["image"]),
        Output("extended_transformed_rect_width", kinds=["integer"]),
        Output("extended_transformed_rect_height", kinds=["integer"]),
    ]

    accepts_batches = True  # a written list of polygons is one entry per image

    def run(
        self,
        images: Batch,
        perspective_polygons: Any,
        predictions: Batch | None = None,
        **fields: Any,
    ) -> list[dict]:
        polygons = _polygons_per_image(perspective_polygons, len(images))
        return [
            self._corrected(
                image,
                polygon,
                _at(predictions, position),
                **{name: _at(value, position) for name, value in fields.items()},
            )
            for position, (image, polygon) in enumerate(zip(images, polygons, strict=True))
        ]

    def _corrected(
        self,
        images: WorkflowImage,
        polygon: np.ndarray,
        predictions: sv.Detections | None = None,
        transformed_rect_width: int = 1000,
        transformed_rect_height: int = 1000,
        extend_perspective_polygon_by_detections_anchor: str = "",
        warp_image: bool = False,
    ) -> dict:
        anchor = extend_perspective_polygon_by_detections_anchor
        if anchor and anchor != ALL_CORNERS:
            _check_choice("extend_perspective_polygon_by_detections_anchor", anchor, _POSITIONS)
        polygon = _ordered(polygon)
        extra_width = extra_height = 0.0
        if predictions is not None and len(predictions) and anchor:
            polygon, extra_width, extra_height = _extended(
                polygon, predictions, anchor, transformed_rect_width, transformed_rect_height
            )
        # the growth in whole pixels (Python's rounding, half to even, as Roboflow's)
        width = transformed_rect_width + round(float(extra_width))
        height = transformed_rect_height + round(float(extra_height))
        target = np.array(
            [[0, height - 1], [0, 0], [width - 1, 0], [width - 1, height - 1]], np.float32
        )
        matrix = cv2.getPerspectiveTransform(polygon.astype(np.float32), target)
        warped = images
        if warp_image:
            pixels = cv2.warpPerspective(images.numpy, matrix, (width, height))
            warped = images.region(pixels, 0, 0)
        corrected = None if predictions is None else _moved(predictions, matrix, width, height)
        return {
            "corrected_coordinates": corrected,
            "warped_image": warped,
            "extended_transformed_rect_width": width,
            "extended_transformed_rect_height": height,
        }


_POSITIONS = Literal[tuple(position.value for position in sv.Position)]  # type: ignore[misc]


def _at(value: Any, position: int) -> Any:
    return value[position] if isinstance(value, Batch) else value


def _polygons_per_image(value: Any, count: int) -> list[np.ndarray]:
    """Each image's polygon: a step's output gives one value per image; a written list is
    one entry per image (one polygon, or a one-entry list, serves them all)."""
    if isinstance(value, Batch):
        return [_largest_polygon(entry) for entry in value]
    if isinstance(value, np.ndarray) or _is_polygon(value):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ValueError("perspective_polygons must be a polygon or a non-empty list of them")
    polygons = [_largest_polygon(entry) for entry in value]
    if len(polygons) == 1:
        return polygons * count
    if len(polygons) != count:
        raise ValueError(
            f"perspective_polygons has {len(polygons)} entries for {count} images: give one "
            "entry (a polygon, or a list of polygons: the largest is used) for every image, "
            "or a single one for all"
        )
    return polygons


def _is_polygon(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 4
        and all(isinstance(p, list) and len(p) == 2 for p in value)
    )


def _largest_polygon(value: Any) -> np.ndarray:
    """One polygon of four [x, y] corners as it is, or the largest (OpenCV's contour area,
    corners rounded) of a list of polygons, those without four corners left out."""
    if isinstance(value, np.ndarray):
        if value.shape != (4, 2):
            raise ValueError(f"a perspective polygon needs 4 [x, y] corners, found {value.shape}")
        return value
    if not isinstance(value, list) or not value:
        raise ValueError("perspective_polygons must be a polygon or a non-empty list of them")
    if _is_polygon(value):
        return np.array(value)
    polygons = [np.asarray(p) for p in value]
    polygons = [np.around(p).astype(np.int32) for p in polygons if p.shape == (4, 2)]
    if not polygons:
        raise ValueError("no perspective polygon has 4 corners")
    return max(polygons, key=cv2.contourArea)


def _ordered(polygon: np.ndarray) -> np.ndarray:
    """The corners clockwise (by their angle around the bounding box's centre), then
    rotated so the first is the one nearest the bounding box's bottom-left corner: the
    order of the rectangle's corners the polygon maps to."""
    xs, ys = polygon[:, 0], polygon[:, 1]
    centre_x, centre_y = min(xs) / 2 + max(xs) / 2, min(ys) / 2 + max(ys) / 2
    clockwise = np.array(
        sorted(
            polygon.tolist(),
            key=lambda p: math.atan2(centre_x - p[0], centre_y - p[1]),
            reverse=True,
        )
    )
    low_x, high_x = min(clockwise[:, 0]), max(clockwise[:, 0])
    low_y, high_y = min(clockwise[:, 1]), max(clockwise[:, 1])
    box = [[low_x, high_y], [low_x, low_y], [high_x, low_y], [high_x, high_y]]

    def distance(corners: np.ndarray) -> float:
        return sum(math.dist(a, b) for a, b in zip(box, corners.tolist(), strict=True))

    best, best_distance = clockwise, distance(clockwise)
    for shift in range(4):
        rolled = np.roll(clockwise, shift, axis=0)
        rolled_distance = distance(rolled)
        if rolled_distance < best_distance or (
            rolled_distance == best_distance and rolled[0][0] < best[0][0]
        ):
            best, best_distance = rolled, rolled_distance
    return best


# The sides a polygon grows at, in Roboflow's order: the anchors ``ALL`` checks there,
# the side's two corners (the ones moved), the corners opposite them, whether the growth
# adds to the width (else the height) and the moved corner it is measured at. Corners:
# 0 bottom-left, 1 top-left, 2 top-right, 3 bottom-right.
_SIDES = [
    (("BOTTOM_LEFT", "TOP_LEFT"), (0, 1), (3, 2), True, 0),
    (("BOTTOM_RIGHT", "TOP_RIGHT"), (2, 3), (1, 0), True, 3),
    (("BOTTOM_RIGHT", "BOTTOM_LEFT"), (3, 0), (2, 1), False, 0),
    (("TOP_RIGHT", "TOP_LEFT"), (1, 2), (0, 3), False, 1),
]


def _extended(
    polygon: np.ndarray, detections: sv.Detections, anchor: str, width: int, height: int
) -> tuple[np.ndarray, float, float]:
    """The polygon grown, side by side, until it holds every detection's anchor point(s);
    each side moves parallel to itself along its neighbouring sides. Gives the polygon and
    how much wider and higher the rectangle gets (the growth in the rectangle's pixels)."""
    corners = list(polygon)
    bottom_left, top_left, top_right, bottom_right = corners
    polygon_width = max(math.dist(bottom_left, bottom_right), math.dist(top_left, top_right))
    polygon_height = max(math.dist(bottom_left, top_left), math.dist(bottom_right, top_right))
    grown_width = grown_height = 0.0
    for position in range(len(detections)):
        one = detections[position : position + 1]
        for all_anchors, (first, second), (first_far, second_far), widens, measured in _SIDES:
            names = all_anchors if anchor == ALL_CORNERS else (anchor,)
            points = [one.get_anchors_coordinates(sv.Position(name))[0] for name in names]
            for x, y in points:
                if cv2.pointPolygonTest(np.array(corners), (x, y), False) >= 0:
                    continue
                a, b = corners[first], corners[second]
                if (b[0] - a[0]) * (y - a[1]) - (b[1] - a[1]) * (x - a[0]) > 0:
                    continue  # the point lies on the inner side of this side
                before = corners[measured]
                corners[first], corners[second] = _side_through(
                    a, b, corners[first_far], corners[second_far], x, y
                )
                growth = math.dist(corners[measured], before)
                if widens:
                    grown_width += growth
                else:
                    grown_height += growth
    grown_width = grown_width * width / max(polygon_width, 1)
    grown_height = grown_height * height / max(polygon_height, 1)
    return np.array(corners), grown_width, grown_height


def _line(a: Any, b: Any) -> tuple[float | None, float]:
    """The line through a and b as (slope, intercept); a vertical one as (None, x)."""
    if a[0] == b[0]:
        return None, a[0]
    return (b[1] - a[1]) / (b[0] - a[0]), (a[1] * b[0] - b[1] * a[0]) / (b[0] - a[0])


def _crossing(first: tuple, second: tuple) -> np.ndarray:
    (slope_1, intercept_1), (slope_2, intercept_2) = first, second
    if slope_1 is None and slope_2 is None:
        raise ValueError("cannot extend the perspective polygon: both lines are vertical")
    if slope_1 is None:
        x, y = intercept_1, slope_2 * intercept_1 + intercept_2
    elif slope_2 is None:
        x, y = intercept_2, slope_1 * intercept_2 + intercept_1
    else:
        x = (intercept_2 - intercept_1) / (slope_1 - slope_2)
        y = slope_1 * x + intercept_1
    return np.array([x, y]).round().astype(int)


def _side_through(a, b, a_far, b_far, x: float, y: float) -> tuple[np.ndarray, np.ndarray]:
    """The side a-b moved, parallel to itself, through (x, y); its ends stay on the lines
    a-a_far and b-b_far (whole pixels)."""
    slope, _ = _line(a, b)
    moved = (slope, x if slope is None else y - slope * x)
    return _crossing(_line(a, a_far), moved), _crossing(_line(b, b_far), moved)


def _moved(detections: sv.Detections, matrix: np.ndarray, width: int, height: int):
    """Each detection's box (or mask outline), keypoints and oriented box carried by the
    perspective transform, rounded to whole pixels; a mask is redrawn at width x height."""
    moved = []
    for position in range(len(detections)):
        one = detections[position : position + 1]
        if one.mask is not None and len(one.mask):
            outline = np.array(sv.mask_to_polygons(one.mask[0]), dtype=np.float32)
            corners = cv2.perspectiveTransform(outline, matrix).reshape(-1, 2)
            one.mask = np.array(
                [sv.polygon_to_mask(np.around(corners).astype(np.int32), (width, height))]
            ).astype(bool)
        else:
            x_min, y_min, x_max, y_max = np.around(one.xyxy[0]).tolist()
            box = [[[x_min, y_min], [x_max, y_min], [x_max, y_max], [x_min, y_max]]]
            corners = cv2.perspectiveTransform(np.array(box, np.float32), matrix).reshape(-1, 2)
        one.xyxy = np.array([np.around(sv.polygon_to_xyxy(corners)).astype(np.int32)])
        if KEYPOINTS_XY in one.data:
            points = np.array([one.data[KEYPOINTS_XY][0]], dtype=np.float32)
            points = cv2.perspectiveTransform(points, matrix).reshape(-1, 2)
            # whole pixels as Roboflow's, kept numeric (Roboflow's: an object array)
            one.data[KEYPOINTS_XY] = np.around(points).astype(np.int32)[None]
        if OBB_CORNERS in one.data:
            box = np.array([one.data[OBB_CORNERS][0]], dtype=np.float32)
            box = cv2.perspectiveTransform(box, matrix).reshape(-1, 2)
            one.data[OBB_CORNERS] = np.array([np.around(box).astype(np.float32)])
        moved.append(one)
    return sv.Detections.merge(moved)


class CameraCalibration(Block):
    """Removes lens distortion with a calibration: focal lengths ``fx``, ``fy`` and optical
    centre ``cx``, ``cy`` (pixels), radial ``k1``-``k3`` and tangential ``p1``, ``p2``
    coefficients, as OpenCV's ``undistort`` does with the camera matrix refined to keep
    every source pixel (``getOptimalNewCameraMatrix``, alpha 1); the image keeps its size.
    With ``use_fisheye_model``, the one-parameter division model (``k1`` only) instead.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/camera-calibration@v1"]
        image: Selector(kinds=["image"]) = IMAGE
        fx: Selector(kinds=["float"]) | float | None
        fy: Selector(kinds=["float"]) | float | None
        cx: Selector(kinds=["float"]) | float | None
        cy: Selector(kinds=["float"]) | float | None
        k1: Selector(kinds=["float"]) | float | None
        k2: Selector(kinds=["float"]) | float | None
        k3: Selector(kinds=["float"]) | float | None
        p1: Selector(kinds=["float"]) | float | None
        p2: Selector(kinds=["float"]) | float | None
        use_fisheye_model: Selector(kinds=["boolean"]) | bool | None = False

    outputs = [Output("calibrated_image", kinds=["image"])]

    def __init__(self, **init_parameters: Any):
        super().__init__(**init_parameters)
        self._lock = threading.Lock()
        self._maps: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def run(self, image: WorkflowImage, use_fisheye_model: bool | None = False, **values):
        missing = [name for name, value in values.items() if value is None]
        if missing:
            raise ValueError(f"the calibration needs a number for {', '.join(missing)}")
        # a video's frames share size and calibration: the sampling maps are made once
        key = (image.width, image.height, bool(use_fisheye_model), *sorted(values.items()))
        with self._lock:
            maps = self._maps.get(key)
        if maps is None:
            size = (image.width, image.height)
            maps = _division_maps(size, **values) if use_fisheye_model else _lens_maps(size, values)
            with self._lock:
                self._maps = {key: maps}  # the latest calibration only
        result = cv2.remap(image.numpy, *maps, cv2.INTER_LINEAR)
        # Roboflow gives the image its input's place (its parent), not a derived one
        return {"calibrated_image": image.with_pixels(result)}


def _lens_maps(size: tuple[int, int], f: dict) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's undistortion maps (fixed point: the very pixels ``cv2.undistort`` gives)
    with the camera matrix refined to keep every source pixel (alpha 1)."""
    matrix = np.array([[f["fx"], 0, f["cx"]], [0, f["fy"], f["cy"]], [0, 0, 1]], np.float32)
    coefficients = np.array([f["k1"], f["k2"], f["p1"], f["p2"], f["k3"]], np.float32)
    refined, _ = cv2.getOptimalNewCameraMatrix(matrix, coefficients, size, 1, size)
    return cv2.initUndistortRectifyMap(matrix, coefficients, None, refined, size, cv2.CV_16SC2)


def _division_maps(
    size: tuple[int, int], fx, fy, cx, cy, k1, **_: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Where each output pixel is sampled (bilinear) under the division model: a point at
    squared normalised radius r2 comes from r2's (1 - sqrt(1 - 4 k1 r2)) / (2 k1 r2) times
    its distance from the centre (1 for k1 = 0 and at the centre)."""
    width, height = size
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float32)
    x, y = (columns - cx) / fx, (rows - cy) / fy
    squared = x**2 + y**2
    if abs(k1) < 1e-8:
        scale = 1.0
    else:
        under_root = np.maximum(1 - 4 * k1 * squared, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = (1 - np.sqrt(under_root)) / (2 * k1 * squared)
        scale[np.abs(squared) < 1e-8] = 1.0
    source_x = (x * scale * fx + cx).astype(np.float32)
    source_y = (y * scale * fy + cy).astype(np.float32)
    return source_x, source_y


class StitchImages(Block):
    """Two overlapping views joined into one: SIFT keypoints matched (brute force, the
    ``count_of_best_matches_per_query_descriptor`` nearest; a match kept when clearly
    better than the second, Lowe's ratio 0.75), a homography found by RANSAC (a match
    farther than ``max_allowed_reprojection_error`` pixels is an outlier), the view whose
    keypoints lie further right warped onto the other's plane and the other laid over it.
    ``stitched_image`` is None when the views cannot be joined (too few matches), as in
    Roboflow's block.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/stitch_images@v1"]
        image1: Selector(kinds=["image"])
        image2: Selector(kinds=["image"])
        max_allowed_reprojection_error: Selector(kinds=["float_zero_to_one"]) | float | None = 3
        count_of_best_matches_per_query_descriptor: Selector(kinds=["integer"]) | int | None = 2

    outputs = [Output("stitched_image", kinds=["image"])]

    def run(
        self,
        image1: WorkflowImage,
        image2: WorkflowImage,
        max_allowed_reprojection_error: float = 3,
        count_of_best_matches_per_query_descriptor: float = 2,
    ) -> dict:
        if count_of_best_matches_per_query_descriptor == 0:
            raise ValueError("count_of_best_matches_per_query_descriptor must be greater than 0")
        try:
            pixels = _stitched(
                image1.numpy,
                image2.numpy,
                abs(round(count_of_best_matches_per_query_descriptor)),
                abs(max_allowed_reprojection_error),
            )
        except _CANNOT_STITCH:
            return {"stitched_image": None}
        # a new image made of two: no single parent, as in Roboflow
        return {"stitched_image": WorkflowImage(pixels)}


# What OpenCV and numpy raise when there are too few keypoints or matches to join views
_CANNOT_STITCH = (cv2.error, IndexError, ValueError, TypeError, AttributeError)


def _stitched(first: np.ndarray, second: np.ndarray, k: int, tolerance: float) -> np.ndarray:
    sift = cv2.SIFT_create()
    keypoints_1, descriptors_1 = sift.detectAndCompute(first, None)
    keypoints_2, descriptors_2 = sift.detectAndCompute(second, None)
    if not keypoints_1 or not keypoints_2:
        raise ValueError("a view has no keypoints")
    matches = cv2.BFMatcher_create().knnMatch(descriptors_1, descriptors_2, k=k)
    good = [m[0] for m in matches if m[0].distance < 0.75 * m[1].distance]
    points_1 = np.float32([keypoints_1[m.queryIdx].pt for m in good]).reshape(-1, 1, 2)
    points_2 = np.float32([keypoints_2[m.trainIdx].pt for m in good]).reshape(-1, 1, 2)
    # the view whose keypoints lie further left stays put; the other is warped onto it
    if np.mean([p.pt[0] for p in keypoints_1]) < np.mean([p.pt[0] for p in keypoints_2]):
        base, base_points, moving, moving_points = second, points_2, first, points_1
    else:
        base, base_points, moving, moving_points = first, points_1, second, points_2
    homography, _ = cv2.findHomography(moving_points, base_points, cv2.RANSAC, tolerance)
    base_height, base_width = base.shape[:2]
    height, width = moving.shape[:2]
    corners = np.float32([[0, 0], [0, height], [width, height], [width, 0]]).reshape(-1, 1, 2)
    warped_corners = cv2.perspectiveTransform(corners, homography)
    x_min, y_min = np.int32(warped_corners.min(axis=0).ravel())
    x_max, y_max = np.int32(warped_corners.max(axis=0).ravel())
    x_max, y_max = max(x_max, base_width), max(y_max, base_height)
    shift_x, shift_y = max(0, -x_min), max(0, -y_min)
    shift = np.array([[1, 0, shift_x], [0, 1, shift_y], [0, 0, 1]])
    canvas = cv2.warpPerspective(moving, shift @ homography, (x_max - x_min, y_max - y_min))
    if shift_x + base_width <= canvas.shape[1] and shift_y + base_height <= canvas.shape[0]:
        canvas[shift_y : shift_y + base_height, shift_x : shift_x + base_width] = base
    return canvas


Orientation = Literal["vertical", "horizontal", "either"]


class AutoRotateOnEdges(Block):
    """Deskews the image so its dominant straight edges run ``vertical``, ``horizontal``
    or along whichever axis is nearer (``either``): the image's luminance (shrunk to at
    most ``internal_resolution`` pixels a side, CLAHE-enhanced, blurred) gives a histogram
    of its strongest gradients' directions; its peak, refined to a fraction of a degree,
    is the skew. ``angle`` (degrees, counter-clockwise) is the turn made; 0.0 when the
    image is flat, has no clear peak, is skewed less than ``skip_below_degrees`` or more
    than ``max_correction_degrees`` (then ``image`` is the input itself). The
    canvas grows to hold the whole turned image, black corners.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/auto_rotate_on_edges@v1"]
        image: Selector(kinds=["image"]) = IMAGE
        target_orientation: Selector(kinds=["string"]) | Orientation = "vertical"
        skip_below_degrees: Selector(kinds=["float"]) | float = 0.4
        max_correction_degrees: Selector(kinds=["float"]) | float = 90.0
        internal_resolution: Selector(kinds=["integer"]) | PositiveInt = 1000

    outputs = [Output("image", kinds=["image"]), Output("angle", kinds=["float"])]

    def run(
        self,
        image: WorkflowImage,
        target_orientation: str = "vertical",
        skip_below_degrees: float = 0.4,
        max_correction_degrees: float = 90.0,
        internal_resolution: int = 1000,
    ) -> dict:
        _check_choice("target_orientation", target_orientation, Orientation)
        unchanged = {"image": image, "angle": 0.0}
        small = _shrunk(as_gray(image.numpy).copy(), int(internal_resolution))
        if float(small.std()) < 3.0:  # flat: nothing to align to
            return unchanged
        angle = _skew(_prepared(small), target_orientation)
        if angle is None:
            return unchanged
        period = 90.0 if target_orientation == "either" else 180.0
        angle = angle % period
        if angle > period / 2:
            angle -= period
        if abs(angle) < skip_below_degrees or abs(angle) > max_correction_degrees:
            return unchanged
        turned = image.region(_turned(image.numpy, angle), 0, 0)
        return {"image": turned, "angle": float(angle)}


def _shrunk(gray: np.ndarray, largest: int) -> np.ndarray:
    height, width = gray.shape[:2]
    if max(height, width) <= largest:
        return gray
    scale = largest / float(max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA)


def _prepared(gray: np.ndarray) -> np.ndarray:
    enhanced = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8)).apply(gray)
    return cv2.GaussianBlur(enhanced, (5, 5), 0).astype(np.float32)


def _skew(prepared: np.ndarray, orientation: str) -> float | None:
    """The dominant edge direction's offset from the target axis, in degrees, or None when
    the direction histogram (the strongest 20% of gradients, weighted by strength, one bin
    a degree, smoothed over 5) has no peak standing 1.5 deviations above its median."""
    gx = cv2.Sobel(prepared, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(prepared, cv2.CV_32F, 0, 1, ksize=3)
    strength = np.hypot(gx, gy)
    strong = strength >= max(float(np.percentile(strength, 80.0)), 1e-6)
    if not np.any(strong):
        return None
    direction = np.mod(np.degrees(np.arctan2(gy[strong], gx[strong])), 180.0)
    weights = strength[strong].astype(np.float64)
    histogram, _ = np.histogram(direction, bins=180, range=(0.0, 180.0), weights=weights)
    wrapped = np.concatenate([histogram[-2:], histogram, histogram[:2]])
    smooth = np.convolve(wrapped, np.ones(5) / 5.0, mode="same")[2:-2]
    standing = (float(smooth.max()) - float(np.median(smooth))) / (float(smooth.std()) + 1e-9)
    if standing < 1.5:
        return None
    peak = float(np.argmax(smooth)) + 0.5
    offset = np.abs(direction - peak)
    near = np.minimum(offset, 180.0 - offset) <= 3.0
    if np.any(near):  # weighted circular mean of the doubled angles near the peak
        doubled = np.radians(2.0 * direction[near])
        w = weights[near]
        sine, cosine = float((w * np.sin(doubled)).sum()), float((w * np.cos(doubled)).sum())
        angle = 0.5 * np.degrees(np.arctan2(sine, cosine))
    else:
        angle = peak
    # edges are perpendicular to their gradients: a vertical edge's gradient is at 0
    return angle - 90.0 if orientation == "horizontal" else angle


def _turned(pixels: np.ndarray, degrees: float) -> np.ndarray:
    """``pixels`` turned around the whole-pixel centre on a canvas grown to hold them,
    sized (truncated) as Roboflow's block sizes it."""
    height, width = pixels.shape[:2]
    centre = (width // 2, height // 2)
    matrix = cv2.getRotationMatrix2D(centre, degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_width, new_height = int(height * sin + width * cos), int(height * cos + width * sin)
    matrix[0, 2] += new_width / 2 - centre[0]
    matrix[1, 2] += new_height / 2 - centre[1]
    return cv2.warpAffine(
        pixels,
        matrix,
        (new_width, new_height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )


BLOCKS: list[type[Block]] = [
    PerspectiveCorrection,
    CameraCalibration,
    StitchImages,
    AutoRotateOnEdges,
]
