"""Roboflow's measures of an image (issue 12): its dominant colour, how many pixels have
a colour, and how sharp it is, with Roboflow's names, fields and values."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import cv2
import numpy as np
from pydantic import Field, field_validator

from visionflow.blocks.api import Block, Output, Selector
from visionflow.blocks.core.crops import colour_to_bgr
from visionflow.blocks.roboflow.images import IMAGE, as_bgr, as_gray
from visionflow.data.image import WorkflowImage
from visionflow.selectors import looks_like_selector


class DominantColor(Block):
    """The image's dominant colour as (R, G, B): k-means over its pixels (``color_clusters``
    clusters, at most ``max_iterations`` rounds, the image first sampled every
    ``min(width, height) // target_size`` pixels), the centre of the largest cluster.

    Roboflow starts its clusters from numpy's unseeded global random numbers, so its answer
    may change from run to run; here they come from a generator seeded with 0, so the same
    image always gives the same colour (Roboflow's, when its global generator is seeded 0).
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/dominant_color@v1"]
        image: Selector(kinds=["image"]) = IMAGE
        color_clusters: Selector(kinds=["integer"]) | Annotated[int, Field(gt=0, le=10)] = 4
        max_iterations: Selector(kinds=["integer"]) | Annotated[int, Field(gt=0, le=500)] = 100
        target_size: Selector(kinds=["integer"]) | Annotated[int, Field(gt=0, le=250)] = 100

    outputs = [Output("rgb_color", kinds=["rgb_color"])]

    def run(
        self,
        image: WorkflowImage,
        color_clusters: int = 4,
        max_iterations: int = 100,
        target_size: int = 100,
    ) -> dict:
        # a gray image as its gray BGR colours (Roboflow's block would read a gray image's
        # pixels three at a time as one colour)
        pixels = as_bgr(image.numpy)
        step = max(1, min(image.width, image.height) // target_size)
        sampled = pixels[::step, ::step, :3].reshape(-1, 3).astype(np.float32)
        if color_clusters > len(sampled):
            raise ValueError(
                f"color_clusters is {color_clusters} but the image has {len(sampled)} pixels"
            )
        blue, green, red = _largest_cluster_centre(sampled, color_clusters, max_iterations)
        return {"rgb_color": tuple(int(np.clip(round(v), 0, 255)) for v in (red, green, blue))}


def _largest_cluster_centre(pixels: np.ndarray, clusters: int, rounds: int) -> np.ndarray:
    """Lloyd's k-means from ``clusters`` distinct random pixels (an emptied cluster restarts
    at a random pixel); stops when the centres no longer move (numpy's ``allclose``)."""
    random = np.random.RandomState(0)
    centres = pixels[random.choice(len(pixels), clusters, replace=False)]
    for _ in range(rounds):
        distances = np.sqrt(((pixels[:, None] - centres) ** 2).sum(axis=2))
        labels = distances.argmin(axis=1)
        moved = np.zeros_like(centres)
        for cluster in range(clusters):
            members = pixels[labels == cluster]
            moved[cluster] = (
                members.mean(axis=0) if len(members) else pixels[random.choice(len(pixels))]
            )
        if np.allclose(centres, moved):
            break
        centres = moved
    present, counts = np.unique(labels, return_counts=True)
    return centres[present[counts.argmax()]]


class PixelColorCount(Block):
    """How many pixels lie within ``tolerance`` of ``target_color`` on every channel
    (OpenCV's ``inRange``). The colour: ``#RRGGBB``, ``#RGB``, ``(R, G, B)`` or an
    [R, G, B] list."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/pixel_color_count@v1"]
        image: Selector(kinds=["image"]) = IMAGE
        target_color: Selector(kinds=["string", "rgb_color"]) | str | tuple[int, int, int]
        tolerance: Selector(kinds=["integer"]) | int = 10

        @field_validator("target_color")
        @classmethod
        def _known_colour(cls, value: Any) -> Any:
            if not looks_like_selector(value):
                colour_to_bgr(value)  # raises ValueError, reported under the field's name
            return value

    outputs = [Output("matching_pixels_count", kinds=["integer"])]

    def run(self, image: WorkflowImage, target_color: Any, tolerance: int = 10) -> dict:
        target = np.array(colour_to_bgr(target_color))
        # a gray image counts as its gray colours (Roboflow's block fails on one)
        pixels = as_bgr(image.numpy)[:, :, :3]
        mask = cv2.inRange(pixels, target - tolerance, target + tolerance)
        return {"matching_pixels_count": int(cv2.countNonZero(mask))}


class CameraFocus(Block):
    """v1: Brenner's focus measure. Per pixel, the larger of the rises in luminance two
    pixels to the right and two pixels down (falls count 0), squared; ``focus_measure`` is
    its mean, ``image`` the measure scaled to 0-255 with "Focus value: ..." written on it."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/camera_focus@v1"]
        image: Selector(kinds=["image"]) = IMAGE

    outputs = [Output("image", kinds=["image"]), Output("focus_measure", kinds=["float"])]

    def run(self, image: WorkflowImage) -> dict:
        pixels = image.numpy
        if pixels.ndim == 3 and pixels.shape[2] == 4:
            pixels = cv2.cvtColor(pixels, cv2.COLOR_BGRA2GRAY)
        gray = as_gray(pixels).astype(np.int16)
        rises = np.zeros((2, *gray.shape))  # float64, as the squares may be large
        rises[0, :, :-2] = np.clip(gray[:, 2:] - gray[:, :-2], 0, None)
        rises[1, :-2, :] = np.clip(gray[2:, :] - gray[:-2, :], 0, None)
        measure = rises.max(axis=0) ** 2
        peak = float(measure.max())
        shown = (
            (measure / peak * 255).astype(np.uint8)
            if peak > 0
            else np.zeros(measure.shape, np.uint8)
        )
        value = float(measure.mean())
        cv2.putText(
            shown,
            f"Focus value: {value:.2f}",
            (10, 30),
            cv2.FONT_HERSHEY_SIMPLEX,
            1,
            (255, 255, 255),
            2,
        )
        return {"image": image.region(shown, 0, 0), "focus_measure": value}


GridOverlay = Literal["None", "2x2", "3x3", "4x4", "5x5"]
_GRID_DIVISIONS = {"None": 0, "2x2": 2, "3x3": 3, "4x4": 4, "5x5": 5}
_FONT = cv2.FONT_HERSHEY_SIMPLEX


class CameraFocusV2(Block):
    """v2: the Tenengrad focus measure (per pixel, the squared 3 x 3 Sobel gradients along x
    and y added); ``focus_measure`` is its mean over the image, ``bbox_focus_measures`` its
    mean inside each box of ``detections`` (None for a box outside the image).

    ``image`` is the input with a camera-like overlay, drawn as Roboflow's block draws it:
    zebra stripes (blue below ``underexposed_threshold_percent`` of full luminance, red
    above ``overexposed_threshold_percent``), green focus peaking where the measure passes
    30% of its peak, a centre cross, a composition grid and a panel with the value and the
    histograms. With every overlay off, the input image itself.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/camera_focus@v2"]
        image: Selector(kinds=["image"]) = IMAGE
        underexposed_threshold_percent: Annotated[float, Field(ge=0.0, le=100.0)] = 3.0
        overexposed_threshold_percent: Annotated[float, Field(ge=0.0, le=100.0)] = 97.0
        show_zebra_warnings: bool = True
        grid_overlay: GridOverlay = "3x3"
        show_hud: bool = True
        show_focus_peaking: bool = True
        show_center_marker: bool = True
        detections: (
            Selector(kinds=["object_detection_prediction", "instance_segmentation_prediction"])
            | None
        ) = None

    outputs = [
        Output("image", kinds=["image"]),
        Output("focus_measure", kinds=["float"]),
        Output("bbox_focus_measures", kinds=["list_of_values"]),
    ]

    def run(
        self,
        image: WorkflowImage,
        underexposed_threshold_percent: float = 3.0,
        overexposed_threshold_percent: float = 97.0,
        show_zebra_warnings: bool = True,
        grid_overlay: str = "3x3",
        show_hud: bool = True,
        show_focus_peaking: bool = True,
        show_center_marker: bool = True,
        detections: Any = None,
    ) -> dict:
        pixels = image.numpy
        if pixels.ndim == 3 and pixels.shape[2] == 4:  # its colour: alpha left out
            pixels = cv2.cvtColor(pixels, cv2.COLOR_BGRA2BGR)
        gray = as_gray(pixels)
        # float32 throughout, as Roboflow's block computes it (its mean is float32's)
        gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
        measure = gx * gx + gy * gy
        result = {
            "focus_measure": float(measure.mean()),
            "bbox_focus_measures": _box_means(measure, detections),
        }
        divisions = _GRID_DIVISIONS[grid_overlay]
        overlays = (show_zebra_warnings, show_hud, show_focus_peaking, show_center_marker)
        if not any(overlays) and divisions == 0:
            return {"image": image, **result}
        shown = as_bgr(pixels).copy()
        if show_zebra_warnings:
            low = int(underexposed_threshold_percent * 255 / 100)
            high = int(overexposed_threshold_percent * 255 / 100)
            stripes = _zebra(gray.shape)
            _blend(shown, (gray < low) & stripes, (255, 0, 0), 0.5)
            _blend(shown, (gray > high) & stripes, (0, 0, 255), 0.5)
        if show_focus_peaking:
            peak = measure.max()
            if peak > 0:
                level = (measure / peak * 255).astype(np.uint8)
                _blend(shown, level > int(30.0 * 255 / 100), (0, 255, 0), 0.6)
        height, width = gray.shape
        scale = min(max(min(height, width) / 720, 0.4), 2.5)
        if show_center_marker:
            _centre_cross(shown, scale)
        for index in range(1, divisions):
            x, y = width * index // divisions, height * index // divisions
            cv2.line(shown, (x, 0), (x, height), (128, 128, 128), 1)
            cv2.line(shown, (0, y), (width, y), (128, 128, 128), 1)
        if show_hud:
            shown = _panel(shown, scale, result["focus_measure"], gray, pixels)
        return {"image": image.region(shown, 0, 0), **result}


def _box_means(measure: np.ndarray, detections: Any) -> list[float | None]:
    """The measure's mean inside each box (whole pixels, clipped to the image)."""
    if detections is None:
        return []
    height, width = measure.shape
    means: list[float | None] = []
    for box in np.asarray(detections.xyxy).reshape(-1, 4):
        x1, y1, x2, y2 = (int(v) for v in box)
        x1, y1, x2, y2 = max(0, x1), max(0, y1), min(width, x2), min(height, y2)
        inside = x2 > x1 and y2 > y1
        means.append(float(measure[y1:y2, x1:x2].mean()) if inside else None)
    return means


def _zebra(shape: tuple[int, ...]) -> np.ndarray:
    """Diagonal stripes 8 pixels wide: the pixels the exposure warnings colour."""
    rows, columns = np.ogrid[: shape[0], : shape[1]]
    return ((rows + columns) // 8) % 2 == 0


def _blend(pixels: np.ndarray, mask: np.ndarray, colour: tuple, opacity: float) -> None:
    """``colour`` (BGR) laid over the masked pixels with ``opacity``, truncated to uint8."""
    picked = pixels[mask]
    pixels[mask] = (picked * (1 - opacity) + np.array(colour, np.uint8) * opacity).astype(np.uint8)


def _centre_cross(pixels: np.ndarray, scale: float) -> None:
    height, width = pixels.shape[:2]
    x, y = width // 2, height // 2
    arm, thickness = int(20 * scale), max(1, int(1.6 * scale))
    cv2.line(pixels, (x - arm, y), (x + arm, y), (255, 255, 255), thickness)
    cv2.line(pixels, (x, y - arm), (x, y + arm), (255, 255, 255), thickness)


def _outlined_text(pixels, text, place, font_scale, colour, thickness) -> None:
    cv2.putText(pixels, text, place, _FONT, font_scale, (0, 0, 0), thickness + 2)
    cv2.putText(pixels, text, place, _FONT, font_scale, colour, thickness)


def _panel(
    pixels: np.ndarray, scale: float, value: float, gray: np.ndarray, original: np.ndarray
) -> np.ndarray:
    """The top-left panel: "TFM Focus" and the value, then the exposure histograms (one
    curve per colour channel and a white one of the luminance), laid out as Roboflow's
    block lays it out, scaled with the image."""
    padding, margin = int(14 * scale), int(12 * scale)
    hist_width, hist_height = int(180 * scale), int(50 * scale)
    big, small = 0.5 * scale, 0.4 * scale
    thickness = max(1, int(1.6 * scale))
    spacing, section = int(6 * scale), int(12 * scale)
    text = f"{value:.1f}"
    label_w, label_h = cv2.getTextSize("TFM Focus", _FONT, big, thickness)[0]
    value_w = cv2.getTextSize(text, _FONT, big, thickness)[0][0]
    exposure_w, exposure_h = cv2.getTextSize("Exposure", _FONT, small, thickness)[0]
    panel_w = max(label_w + value_w + int(20 * scale), exposure_w, hist_width) + 2 * padding
    panel_h = label_h + section + exposure_h + spacing + hist_height + 2 * padding
    left, top, right, bottom = margin, margin, margin + panel_w, margin + panel_h

    output = pixels.copy()
    shaded = output.copy()
    cv2.rectangle(shaded, (left, top), (right, bottom), (0, 0, 0), -1)
    cv2.addWeighted(shaded, 0.7, output, 0.3, 0, output)
    cv2.rectangle(output, (left, top), (right, bottom), (80, 80, 80), 1)
    x, y = left + padding, top + padding + label_h
    _outlined_text(output, "TFM Focus", (x, y), big, (255, 255, 255), thickness)
    _outlined_text(output, text, (right - padding - value_w, y), big, (255, 255, 255), thickness)
    divider = y + int(section * 0.5)
    cv2.line(output, (x, divider), (right - padding, divider), (60, 60, 60), 1)
    y += section + exposure_h
    _outlined_text(output, "Exposure", (x, y), small, (180, 180, 180), thickness)
    hist_top = y + spacing
    hist_bottom = hist_top + hist_height - 1
    cv2.rectangle(output, (x, hist_top), (x + hist_width, hist_bottom), (0, 0, 0), -1)
    xs = np.linspace(x, x + hist_width - 1, 256).astype(np.int32)
    curves = []
    if original.ndim == 3 and original.shape[2] >= 3:
        curves = [
            (cv2.calcHist([original], [c], None, [256], [0, 256]), colour)
            for c, colour in enumerate(((255, 0, 0), (0, 255, 0), (0, 0, 255)))
        ]
    curves.append((cv2.calcHist([gray], [0], None, [256], [0, 256]), (255, 255, 255)))
    for counts, colour in curves:
        top_count = counts.max()
        if top_count > 0:
            heights = (counts / top_count * hist_height).astype(np.int32).flatten()
            points = np.column_stack([xs, hist_bottom - heights]).astype(np.int32)
            cv2.polylines(output, [points], False, colour, thickness)
    return output


BLOCKS: list[type[Block]] = [DominantColor, PixelColorCount, CameraFocus, CameraFocusV2]
