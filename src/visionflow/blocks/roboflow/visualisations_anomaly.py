"""Roboflow's anomaly heatmap: an anomaly model's map of local anomaly scores coloured and
blended over the image.

Every score ``v`` is put on the same scale whatever the image, ``v / (v + threshold)``
(0 at 0, one half at the model's threshold, towards 1 above), so a colour means the same
evidence on every image."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import cv2
import numpy as np
from pydantic import AliasChoices, Field

from visionflow.blocks.api import Block, Selector
from visionflow.blocks.roboflow.visualisations import Visualisation, ZeroToOne
from visionflow.data.image import WorkflowImage
from visionflow.errors import RuntimeInputError

# the Roboflow app's ramp: (place on the scale, RGB, opacity); transparent at 0
ROBOFLOW_RAMP = [
    (0.0, (255, 214, 0), 0.0),
    (0.25, (255, 214, 0), 0.55),
    (0.5, (255, 122, 0), 0.85),
    (1.0, (220, 30, 30), 1.0),
]
OPENCV_MAPS = {
    "JET": cv2.COLORMAP_JET,
    "TURBO": cv2.COLORMAP_TURBO,
    "INFERNO": cv2.COLORMAP_INFERNO,
    "VIRIDIS": cv2.COLORMAP_VIRIDIS,
    "HOT": cv2.COLORMAP_HOT,
}


class AnomalyHeatmapVisualization(Visualisation):
    """The ``anomaly_map`` (any size, stretched to the image bilinearly) coloured by
    ``color_map`` and blended over the image at ``opacity``.

    ``anomaly_threshold`` (the model's decision threshold) sits mid-ramp. ``ROBOFLOW`` is
    yellow to red and transparent where the evidence is low; the OpenCV maps are opaque,
    ``opacity`` alone sets their strength."""

    colourable: ClassVar[bool] = False

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/anomaly_heatmap_visualization@v1"]
        image: Selector(kinds=["image"]) = Field(validation_alias=AliasChoices("image", "images"))
        copy_image: Selector(kinds=["boolean"]) | bool = True
        anomaly_map: Selector(kinds=["numpy_array"])
        anomaly_threshold: Selector(kinds=["float"]) | float
        color_map: (
            Selector(kinds=["string"])
            | Literal["ROBOFLOW", "JET", "TURBO", "INFERNO", "VIRIDIS", "HOT"]
        ) = "ROBOFLOW"
        opacity: Selector(kinds=["float_zero_to_one"]) | ZeroToOne = 0.75

    def run(
        self, image: WorkflowImage, copy_image: bool, anomaly_map: Any, **fields: Any
    ) -> dict[str, Any]:
        if anomaly_map is None:
            raise RuntimeInputError(
                "no anomaly map to draw",
                place="field 'anomaly_map'",
                hint="the anomaly model must give its map (Roboflow's include_anomaly_map)",
            )
        return super().run(image, np.asarray(anomaly_map, dtype=np.float32), copy_image, **fields)

    def draw(
        self,
        scene: np.ndarray,
        predictions: np.ndarray,
        anomaly_threshold: float,
        color_map: str,
        opacity: float,
    ) -> np.ndarray:
        if predictions.ndim != 2:
            raise RuntimeInputError(
                f"an anomaly map is 2-D, not of shape {predictions.shape}",
                place="field 'anomaly_map'",
                hint="give the anomaly model's map of scores (height x width)",
            )
        if not math.isfinite(anomaly_threshold):
            raise RuntimeInputError(
                f"the anomaly threshold must be a finite number, not {anomaly_threshold}",
                place="field 'anomaly_threshold'",
                hint="give the anomaly model's decision threshold",
            )
        scale = on_scale(predictions, float(anomaly_threshold))
        height, width = scene.shape[:2]
        if scale.shape != (height, width):
            scale = cv2.resize(scale, (width, height), interpolation=cv2.INTER_LINEAR)
        colours, alpha = coloured(scale, color_map.upper())
        weight = (alpha * opacity)[..., None]
        blended = scene.astype(np.float32) * (1 - weight) + colours.astype(np.float32) * weight
        np.copyto(scene, np.rint(blended).astype(np.uint8))
        return scene


def on_scale(scores: np.ndarray, threshold: float) -> np.ndarray:
    """Each score on the [0, 1] scale: ``v / (v + threshold)``, negatives 0; a threshold
    at or under 0 puts every positive score at 1 (the scale's limit)."""
    if not math.isfinite(threshold):
        raise ValueError(f"the anomaly threshold must be a finite number, not {threshold}")
    positive = np.maximum(scores, 0.0)
    if threshold <= 0:
        return (positive > 0).astype(np.float32)
    return (positive / (positive + np.float32(threshold))).astype(np.float32)


def coloured(scale: np.ndarray, color_map: str) -> tuple[np.ndarray, np.ndarray]:
    """BGR colours and opacities (0..1) of the points of ``scale``."""
    if color_map in OPENCV_MAPS:
        levels = np.rint(np.clip(scale, 0.0, 1.0) * 255.0).astype(np.uint8)
        return cv2.applyColorMap(levels, OPENCV_MAPS[color_map]), np.ones(scale.shape, np.float32)
    clipped = np.clip(scale, 0.0, 1.0).astype(np.float32)
    places = [place for place, _, _ in ROBOFLOW_RAMP]
    bgr = [
        np.interp(clipped, places, [rgb[channel] for _, rgb, _ in ROBOFLOW_RAMP])
        for channel in (2, 1, 0)
    ]
    alpha = np.interp(clipped, places, [a for _, _, a in ROBOFLOW_RAMP]).astype(np.float32)
    return np.rint(np.stack(bgr, axis=-1)).astype(np.uint8), alpha


BLOCKS = [AnomalyHeatmapVisualization]
