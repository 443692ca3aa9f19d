"""Roboflow's mask edge snap (issue 12): instance masks whose outlines move onto the image's
strong edges nearby, with Roboflow's fields, defaults and results.

The edges: the Sobel gradient's magnitude above a local threshold (the mean plus ``sigma``
standard deviations over an ``adaptive_window_size`` window), closed and thinned once,
kept only in a band around the masks' outlines and where a connected piece of them
encloses at least ``min_contour_area``. Each outline point then moves to the best edge
pixel along its normal within ``pixel_tolerance`` (the strongest, discounted by distance)
and each mask is redrawn from its moved outlines. The arithmetic follows Roboflow's dtypes
(32-bit floats where it computes in them), so the same pixels move to the same places.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import cv2
import numpy as np
import supervision as sv
from pydantic import AliasChoices, Field

from visionflow.blocks.api import Block, Output, Selector
from visionflow.blocks.roboflow.detections import SEGMENTATION
from visionflow.data.detections import CLASS_NAME, DETECTION_ID
from visionflow.data.image import WorkflowImage

TANGENT_STEP = 5  # an outline point's tangent runs from the point 5 before to 5 after it


def _bounded(low: float, high: float, kind: type) -> Any:
    return Annotated[kind, Field(ge=low, le=high)]


class MaskEdgeSnap(Block):
    """Masks of ``segmentation`` snapped to the edges of ``image``: gives the detections
    with the refined masks (boxes, scores, classes and data as they were) as
    ``refined_segmentation``, and every edge pixel kept as one detection of class
    ``edges`` (``edges``; none when no edge is kept). Detections without masks pass
    through, the edges then found over the whole image."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/mask_edge_snap@v1"]
        image: Selector(kinds=["image"]) = Field(validation_alias=AliasChoices("image", "images"))
        segmentation: Selector(kinds=[SEGMENTATION])
        pixel_tolerance: Selector(kinds=["integer"]) | _bounded(1, 100, int) = 15
        sigma: Selector(kinds=["float"]) | _bounded(0.01, 10.0, float) = 1.0
        min_contour_area: Selector(kinds=["float"]) | _bounded(0.0, 10000.0, float) = 50.0
        dilation_iterations: Selector(kinds=["integer"]) | _bounded(0, 20, int) = 2
        boundary_band_width: Selector(kinds=["integer"]) | _bounded(1, 100, int) = 15
        adaptive_window_size: Selector(kinds=["integer"]) | _bounded(3, 201, int) = 41

    outputs = [
        Output("refined_segmentation", kinds=[SEGMENTATION]),
        Output("edges", kinds=[SEGMENTATION]),
    ]

    def run(
        self,
        image: WorkflowImage,
        segmentation: sv.Detections,
        pixel_tolerance: int = 15,
        sigma: float = 1.0,
        min_contour_area: float = 50.0,
        dilation_iterations: int = 2,
        boundary_band_width: int = 15,
        adaptive_window_size: int = 41,
    ) -> dict[str, Any]:
        gray = _gray(image.numpy)
        height, width = gray.shape
        masks = None
        if segmentation.mask is not None and len(segmentation):
            masks = [_fitted(mask, width, height) for mask in segmentation.mask]
        magnitude = _magnitude(gray)
        edges = _edges(magnitude, sigma, adaptive_window_size, dilation_iterations)
        if masks is not None:
            edges = edges * _band(masks, boundary_band_width)
        snap_region = _large_pieces(edges, min_contour_area) > 0
        edge_detections = _edge_detections(snap_region)
        if masks is None:
            return {"refined_segmentation": segmentation, "edges": edge_detections}
        refined = np.stack(
            [_snapped(mask, snap_region, magnitude, int(pixel_tolerance)) for mask in masks]
        )
        result = sv.Detections(
            xyxy=segmentation.xyxy.copy(),
            mask=refined,
            confidence=segmentation.confidence,
            class_id=segmentation.class_id,
            tracker_id=segmentation.tracker_id,
            data=dict(segmentation.data),
        )
        return {"refined_segmentation": result, "edges": edge_detections}


def _gray(pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim == 2:
        return pixels.copy()
    if pixels.shape[2] == 1:
        return pixels[:, :, 0]
    if pixels.shape[2] == 4:
        return cv2.cvtColor(pixels, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)


def _fitted(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """The mask as 0/1 bytes at the image's size (nearest pixel when it is another size)."""
    mask = mask.astype(np.uint8)
    if mask.shape[:2] != (height, width):
        mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
    return mask


def _magnitude(gray: np.ndarray) -> np.ndarray:
    along_x = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    along_y = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    return cv2.magnitude(along_x, along_y)


def _edges(magnitude: np.ndarray, sigma: float, window: int, closings: int) -> np.ndarray:
    """255 where the magnitude is above its local threshold; closed ``closings`` times
    with a 3 x 3 square, then thinned once (only when closed)."""
    window = max(3, int(window))
    window += 1 - window % 2  # odd
    mean = cv2.boxFilter(magnitude, cv2.CV_32F, (window, window))
    mean_of_squares = cv2.boxFilter(magnitude * magnitude, cv2.CV_32F, (window, window))
    deviation = np.sqrt(np.maximum(mean_of_squares - mean * mean, 0.0))
    edges = (magnitude > mean + float(sigma) * deviation).astype(np.uint8) * 255
    closings = max(0, int(closings))
    if closings:
        square = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
        edges = cv2.morphologyEx(edges, cv2.MORPH_CLOSE, square, iterations=closings)
        edges = _thinned_once(edges)
    return edges


def _thinned_once(edges: np.ndarray) -> np.ndarray:
    """One pass of Zhang and Suen's thinning (both sub-passes), as 0/255 bytes."""
    on = (edges > 0).astype(np.uint8)
    if min(on.shape) < 3:
        return on * 255
    for first_pass in (True, False):
        inner = on[1:-1, 1:-1]
        # the eight neighbours clockwise from north: N, NE, E, SE, S, SW, W, NW
        n, ne, e, se = on[:-2, 1:-1], on[:-2, 2:], on[1:-1, 2:], on[2:, 2:]
        s, sw, w, nw = on[2:, 1:-1], on[2:, :-2], on[1:-1, :-2], on[:-2, :-2]
        ring = (n, ne, e, se, s, sw, w, nw)
        count = sum(p.astype(np.int16) for p in ring)
        rises = sum(((ring[k] == 0) & (ring[(k + 1) % 8] == 1)).astype(np.int16) for k in range(8))
        removable = (inner == 1) & (count >= 2) & (count <= 6) & (rises == 1)
        if first_pass:  # south-east boundary points and north-west corners
            removable &= (n * e * s == 0) & (e * s * w == 0)
        else:  # north-west boundary points and south-east corners
            removable &= (n * e * w == 0) & (n * s * w == 0)
        on[1:-1, 1:-1] = np.where(removable, 0, inner)
    return on * 255


def _band(masks: list[np.ndarray], half_width: int) -> np.ndarray:
    """1 within ``half_width`` of any mask's outline (dilated but not eroded), else 0."""
    radius = max(1, int(half_width))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (radius * 2 + 1, radius * 2 + 1))
    band = np.zeros(masks[0].shape, dtype=np.uint8)
    for mask in masks:
        ring = (cv2.dilate(mask, disc) > 0) & (cv2.erode(mask, disc) == 0)
        band |= ring.astype(np.uint8)
    return band


def _large_pieces(edges: np.ndarray, min_area: float) -> np.ndarray:
    """255 on the 8-connected pieces of ``edges`` whose largest outer outline encloses at
    least ``min_area`` square pixels."""
    edges = edges.astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(edges, connectivity=8)
    kept = np.zeros(edges.shape, dtype=np.uint8)
    min_area = max(0.0, float(min_area))
    for label in range(1, count):
        x, y, w, h = stats[label, :4]
        window = labels[y : y + h, x : x + w] == label
        # a zero border: the piece's outline is the same as on the whole image
        piece = np.pad(window.astype(np.uint8), 1)
        outlines, _ = cv2.findContours(piece, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        if outlines and max(cv2.contourArea(o) for o in outlines) >= min_area:
            kept[y : y + h, x : x + w][window] = 255
    return kept


def _edge_detections(region: np.ndarray) -> sv.Detections:
    if not region.any():
        return sv.Detections.empty()
    ys, xs = np.nonzero(region)
    return sv.Detections(
        xyxy=np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], dtype=np.float32),
        mask=region[None, :, :],
        confidence=np.array([1.0], dtype=np.float32),
        class_id=np.array([0], dtype=int),
        data={CLASS_NAME: np.array(["edges"]), DETECTION_ID: np.array([str(uuid.uuid4())])},
    )


def _snapped(
    mask: np.ndarray, snap_region: np.ndarray, magnitude: np.ndarray, tolerance: int
) -> np.ndarray:
    """The mask redrawn from its outer outlines, each point moved to the best edge pixel
    on its normal: within ``tolerance`` pixels, either side (one side first), inside the
    mask only that deep; best = magnitude x (1 - distance / (tolerance + 1)), the first
    best on ties, none when no edge pixel is there."""
    height, width = mask.shape
    depth = cv2.distanceTransform(mask, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    outside = cv2.dilate(mask, np.ones((3, 3), np.uint8)) == 0
    allowed = snap_region & ((depth <= tolerance) | outside)
    outlines, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not outlines:
        return mask.astype(bool)
    steps = np.arange(1, tolerance + 1, dtype=np.float32)
    nearness = np.tile(1.0 - np.arange(1, tolerance + 1) / (tolerance + 1), 2)  # float64
    redrawn = np.zeros((height, width), dtype=np.uint8)
    for outline in outlines:
        points = outline.reshape(-1, 2).astype(np.float32)
        moved = points.copy()
        normals, turning = _normals(points)
        for position in np.flatnonzero(turning):
            xy = np.concatenate(  # the pixels along the normal: one side, then the other
                [
                    np.rint(points[position] + sign * normals[position] * steps[:, None])
                    for sign in (np.float32(1.0), np.float32(-1.0))
                ]
            ).astype(np.int64)
            valid = (xy[:, 0] >= 0) & (xy[:, 0] < width) & (xy[:, 1] >= 0) & (xy[:, 1] < height)
            valid[valid] = allowed[xy[valid, 1], xy[valid, 0]]
            scores = np.zeros(len(xy))
            strength = magnitude[xy[valid, 1], xy[valid, 0]].astype(np.float64)
            scores[valid] = strength * nearness[valid]
            best = int(np.argmax(scores))
            if scores[best] > 0.0:
                moved[position] = xy[best]
        cv2.fillPoly(redrawn, [moved.reshape(-1, 1, 2).astype(np.int32)], color=1)
    return redrawn.astype(bool)


def _normals(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each outline point's unit normal (32-bit, as Roboflow's) and whether it has one
    (its tangent is not zero)."""
    count = len(points)
    normals = np.zeros_like(points)
    turning = np.zeros(count, dtype=bool)
    for position in range(count):
        after, before = (position + TANGENT_STEP) % count, (position - TANGENT_STEP) % count
        tangent = points[after] - points[before]
        length = np.linalg.norm(tangent)
        if length < 1e-6:
            continue
        tangent = tangent / length
        normals[position] = (-tangent[1], tangent[0])
        turning[position] = True
    return normals, turning


BLOCKS: list[type[Block]] = [MaskEdgeSnap]
