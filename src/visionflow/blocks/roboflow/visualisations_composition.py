"""Roboflow's visualisations that compose images: an icon drawn on an image (at each
detection or at a fixed place) and a grid of images."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import cv2
import numpy as np
import supervision as sv
from pydantic import AliasChoices, Field, field_validator, model_validator

from visionflow.blocks.api import Block, Output, Selector
from visionflow.blocks.core.crops import DETECTION_KINDS
from visionflow.blocks.roboflow.visualisations import POSITIONS, Visualisation
from visionflow.data.image import WorkflowImage


class IconVisualization(Visualisation):
    """An ``icon`` image drawn on the image: at ``position`` of each detection
    (``mode`` "dynamic"), or once with its top-left at ``x_position``, ``y_position``
    (``mode`` "static"; a negative value counts from the right or bottom edge).

    The icon is fitted into ``icon_width`` x ``icon_height`` keeping its shape
    (supervision's letterbox; the margins stay transparent). Images here have no alpha
    channel, so the icon is opaque (Roboflow reads a transparent PNG's alpha back from its
    file when it has one)."""

    colourable: ClassVar[bool] = False

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/icon_visualization@v1", "IconVisualization"]
        image: Selector(kinds=["image"]) = Field(validation_alias=AliasChoices("image", "images"))
        copy_image: Selector(kinds=["boolean"]) | bool = True
        mode: Selector(kinds=["string"]) | Literal["static", "dynamic"] = "dynamic"
        icon: Selector(kinds=["image"])
        predictions: Selector(kinds=DETECTION_KINDS) | None = None
        icon_width: Selector(kinds=["integer"]) | int = 64
        icon_height: Selector(kinds=["integer"]) | int = 64
        position: Selector(kinds=["string"]) | POSITIONS = "TOP_CENTER"
        x_position: Selector(kinds=["integer"]) | int = 10
        y_position: Selector(kinds=["integer"]) | int = 10

        @model_validator(mode="after")
        def _predictions_for_dynamic(self) -> Any:
            if self.mode == "dynamic" and self.predictions is None:
                raise ValueError("mode 'dynamic' draws the icon on detections: give predictions")
            return self

    def run(
        self,
        image: WorkflowImage,
        copy_image: bool,
        icon: WorkflowImage,
        predictions: sv.Detections | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        # the shared run() draws ``predictions``: here with the icon beside them
        return super().run(image, (icon, predictions), copy_image, **fields)

    def draw(
        self,
        scene: np.ndarray,
        predictions: tuple[WorkflowImage, sv.Detections | None],
        mode: str,
        icon_width: int,
        icon_height: int,
        position: str,
        x_position: int,
        y_position: int,
    ) -> np.ndarray:
        icon, detections = predictions
        if mode == "static":
            height, width = scene.shape[:2]
            left = width + x_position - icon_width if x_position < 0 else x_position
            top = height + y_position - icon_height if y_position < 0 else y_position
            # Roboflow anchors the icon at the centre of a 2-pixel box there
            centre = (left + icon_width // 2, top + icon_height // 2)
            anchors, size = np.array([centre], dtype=float), (icon_width, icon_height)
        elif detections is None or len(detections) == 0:
            return scene
        else:
            anchors = detections.get_anchors_coordinates(anchor=sv.Position[position])
            size = (icon_width, icon_height)
        fitted = fitted_icon(icon.numpy, size)
        for x, y in anchors.astype(int):
            paste(scene, fitted, int(x - fitted.shape[1] / 2), int(y - fitted.shape[0] / 2))
        return scene


def fitted_icon(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The icon as BGRA fitted into ``size`` (width, height), transparent margins."""
    opaque = np.full((*pixels.shape[:2], 1), 255, dtype=np.uint8)
    return sv.letterbox_image(np.concatenate([pixels, opaque], axis=2), size)


def paste(scene: np.ndarray, icon: np.ndarray, left: int, top: int) -> None:
    """Copy the icon's opaque pixels onto ``scene`` (in place) with its top-left at
    (``left``, ``top``), clipped to the scene."""
    height, width = scene.shape[:2]
    x1, y1 = max(left, 0), max(top, 0)
    x2, y2 = min(left + icon.shape[1], width), min(top + icon.shape[0], height)
    if x2 <= x1 or y2 <= y1:
        return
    part = icon[y1 - top : y2 - top, x1 - left : x2 - left]
    opaque = part[:, :, 3] == 255  # an opaque icon: its alpha is 255 or, in margins, 0
    scene[y1:y2, x1:x2][opaque] = part[:, :, :3][opaque]


class GridVisualization(Block):
    """The ``images`` in a square grid on a black ``width`` x ``height`` canvas, each
    shrunk or grown (OpenCV's area resampling, at least a pixel a side) to fit its cell
    keeping its shape, centred in it. An entry may be a list of images (e.g. a buffer's),
    laid out in turn.

    The grid is the first image's (its id and origin) with new pixels; with no image at
    all, a black canvas of its own."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/grid_visualization@v1"]
        images: list[Selector(kinds=["image", "list_of_values"])] = Field(min_length=1)
        width: Selector(kinds=["integer"]) | int = 2560
        height: Selector(kinds=["integer"]) | int = 1440

        @field_validator("images", mode="before")
        @classmethod
        def _one_selector_is_a_list(cls, value: Any) -> Any:
            return [value] if isinstance(value, str) else value  # Roboflow's older form

    outputs = [Output("image", kinds=["image"])]

    def run(self, images: list[Any], width: int, height: int) -> dict[str, Any]:
        flat = [
            image for entry in images for image in (entry if isinstance(entry, list) else [entry])
        ]
        canvas = grid(flat, width, height)
        if not flat or flat[0] is None:
            return {"image": WorkflowImage(canvas)}
        return {"image": flat[0].with_pixels(canvas)}


def grid(images: list[WorkflowImage | None], width: int, height: int) -> np.ndarray:
    """The images on a black canvas, row by row; a missing image (None) leaves its cell
    empty."""
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    if not images:
        return canvas
    side = math.ceil(math.sqrt(len(images)))
    cell_width, cell_height = width // side, height // side
    for index, image in enumerate(images):
        if image is None:
            continue
        row, column = divmod(index, side)
        pixels = _fit(image.numpy, cell_width, cell_height)
        left = max(column * cell_width + (cell_width - pixels.shape[1]) // 2, 0)
        top = max(row * cell_height + (cell_height - pixels.shape[0]) // 2, 0)
        right, bottom = min(left + pixels.shape[1], width), min(top + pixels.shape[0], height)
        canvas[top:bottom, left:right] = pixels[: bottom - top, : right - left]
    return canvas


def _fit(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    scale = min(width / pixels.shape[1], height / pixels.shape[0])
    # at least a pixel a side: a thin strip would shrink to nothing (Roboflow's fails there)
    size = (max(int(pixels.shape[1] * scale), 1), max(int(pixels.shape[0] * scale), 1))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)


BLOCKS = [IconVisualization, GridVisualization]
