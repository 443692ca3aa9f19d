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


BLOCKS: list[type[Block]] = [DominantColor, PixelColorCount, CameraFocus]
