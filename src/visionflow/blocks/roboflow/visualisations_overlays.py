"""Roboflow's visualisations drawn with its own overlays rather than supervision's
annotators: the model comparison (where two models agree and differ) and v1 of the halo
(an older formula than supervision's HaloAnnotator, which v2 uses)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import cv2
import numpy as np
import supervision as sv
from pydantic import AliasChoices, Field, field_validator
from supervision.annotators.utils import resolve_color

from visionflow.blocks.api import Block, Selector
from visionflow.blocks.core.crops import DETECTION_KINDS
from visionflow.blocks.roboflow.palettes import colour_bgr, known_colour
from visionflow.blocks.roboflow.visualisations import (
    SEGMENTATION_KINDS,
    Visualisation,
    ZeroToOne,
)
from visionflow.data.image import WorkflowImage


class ModelComparisonVisualization(Visualisation):
    """Where two models' predictions agree and differ, as tinted regions.

    Pixels inside only ``predictions_a`` are blended towards ``color_a``, only inside
    ``predictions_b`` towards ``color_b``, inside neither towards ``background_color``
    (each by ``opacity``); pixels inside both are left as they are. Masks are used where
    the predictions have them, else boxes."""

    colourable: ClassVar[bool] = False

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/model_comparison_visualization@v1"]
        image: Selector(kinds=["image"]) = Field(validation_alias=AliasChoices("image", "images"))
        predictions_a: Selector(kinds=DETECTION_KINDS)
        predictions_b: Selector(kinds=DETECTION_KINDS)
        copy_image: Selector(kinds=["boolean"]) | bool = True
        color_a: Selector(kinds=["string"]) | str = "GREEN"
        color_b: Selector(kinds=["string"]) | str = "RED"
        background_color: Selector(kinds=["string"]) | str = "BLACK"
        opacity: Selector(kinds=["float_zero_to_one"]) | ZeroToOne = 0.7

        _known_colour = field_validator("color_a", "color_b", "background_color")(known_colour)

    def run(
        self,
        image: WorkflowImage,
        predictions_a: sv.Detections,
        predictions_b: sv.Detections,
        copy_image: bool,
        **fields: Any,
    ) -> dict[str, Any]:
        # the shared run() draws ``predictions``: here a pair of them
        return super().run(image, (predictions_a, predictions_b), copy_image, **fields)

    def draw(
        self,
        scene: np.ndarray,
        predictions: tuple[sv.Detections, sv.Detections],
        color_a: str,
        color_b: str,
        background_color: str,
        opacity: float,
    ) -> np.ndarray:
        in_a, in_b = (covered(detections, scene.shape[:2]) for detections in predictions)
        tint = np.empty_like(scene)  # each pixel's overlay colour
        tint[~in_a & ~in_b] = colour_bgr(background_color)
        tint[in_a & ~in_b] = colour_bgr(color_a)
        tint[in_b & ~in_a] = colour_bgr(color_b)
        changed = ~(in_a & in_b)  # where both models predict, the pixels stay
        blended = cv2.addWeighted(scene, 1 - opacity, tint, opacity, 0)
        scene[changed] = blended[changed]
        return scene


def covered(detections: sv.Detections, shape: tuple[int, ...]) -> np.ndarray:
    """The pixels inside any of ``detections``: their masks, else their boxes (whole-pixel
    corners, right and bottom edges excluded, as Roboflow fills them)."""
    inside = np.zeros(shape, dtype=bool)
    if detections.mask is not None:
        for mask in detections.mask:
            inside |= np.asarray(mask, dtype=bool)
        return inside
    for x1, y1, x2, y2 in np.maximum(detections.xyxy, 0).astype(int):
        inside[y1:y2, x1:x2] = True
    return inside


# Roboflow's v1 builds its halo with a fixed 40-pixel blur, whatever ``kernel_size`` says
_HALO_V1_KERNEL = 40


class HaloVisualizationV1(Visualisation):
    """A glow of each detection's colour around it, by Roboflow's v1 formula.

    The masks (else the boxes) are painted in their colours, the largest first, blurred
    over 40 pixels and cleared inside the detections; the glow is added at ``opacity``
    over the image darkened in proportion to its brightness. ``kernel_size`` is accepted
    and ignored, as in Roboflow's v1 (v2 uses it). Where the sum passes 255 the value
    wraps around (v1's 8-bit cast, kept for the same pixels)."""

    class Manifest(Visualisation.Manifest):
        type: Literal["roboflow_core/halo_visualization@v1", "HaloVisualization"]
        predictions: Selector(kinds=SEGMENTATION_KINDS)
        opacity: Selector(kinds=["float_zero_to_one"]) | ZeroToOne = 0.8
        kernel_size: Selector(kinds=["integer"]) | int = 40

    def draw(
        self,
        scene: np.ndarray,
        predictions: sv.Detections,
        opacity: float,
        kernel_size: int,
        **palette_fields: Any,
    ) -> np.ndarray:
        colours = self.with_colours(palette_fields)
        color, color_lookup = colours["color"], colours["color_lookup"]
        painted = np.zeros_like(scene)
        inside = np.zeros(scene.shape[:2], dtype=bool)
        for index in np.flip(np.argsort(predictions.area)):  # the smallest painted last
            region = _region(predictions, index, scene.shape[:2])
            inside |= region
            painted[region] = resolve_color(color, predictions, index, color_lookup).as_bgr()
        glow = cv2.blur(painted, (_HALO_V1_KERNEL, _HALO_V1_KERNEL))
        glow[inside] = 0
        brightness = cv2.cvtColor(glow, cv2.COLOR_BGR2GRAY)
        if brightness.max() == 0:
            # no glow: Roboflow's v1 divides 0 by 0 here and returns a black image
            return scene
        alpha = (opacity * brightness / brightness.max())[:, :, np.newaxis]
        summed = scene * (1 - alpha) + glow * opacity
        np.copyto(scene, (summed.astype(np.int64) % 256).astype(np.uint8))
        return scene


def _region(predictions: sv.Detections, index: int, shape: tuple[int, ...]) -> np.ndarray:
    if predictions.mask is not None:
        return np.asarray(predictions.mask[index], dtype=bool)
    region = np.zeros(shape, dtype=bool)
    x1, y1, x2, y2 = predictions.xyxy[index].astype(int)
    region[y1:y2, x1:x2] = True
    return region


BLOCKS = [ModelComparisonVisualization, HaloVisualizationV1]
