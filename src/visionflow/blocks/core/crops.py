"""Crops: one per detected box (raises nesting), or one fixed region per image."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import AliasChoices, Field, field_validator

from visionflow.blocks.api import Block, Output, Selector
from visionflow.data.detections import KEYPOINTS_XY, QUAD, detection_ids
from visionflow.data.image import WorkflowImage
from visionflow.kinds import DETECTION_KINDS as DETECTIONS
from visionflow.selectors import looks_like_selector

DETECTION_KINDS = list(DETECTIONS)  # a list: Roboflow's manifests and JSON show one

BLACK = (0, 0, 0)  # Roboflow's default background_color

# Roboflow's manifests name the image field ``image`` or ``images``; both are accepted.
IMAGES = Field(validation_alias=AliasChoices("images", "image"))


def known_colour(cls: type, value: Any) -> Any:
    """A manifest's check of a colour field (``colour_to_bgr``'s forms): a literal must be
    a colour (its ValueError is reported under the field's name); a selector is checked
    when it gives its value. Used as ``field_validator("field")(known_colour)``."""
    if not looks_like_selector(value):
        colour_to_bgr(value)
    return value


class DynamicCrop(Block):
    """One crop of ``images`` per detected box: a nested batch, one level deeper.

    Each crop takes its detection's id as image id and remembers where it sits in the
    original image, so detections made on it can be mapped back. Beside it, ``predictions``
    holds the one detection that made it, moved into the crop's own coordinates (box, mask
    and keypoints; every other field kept), as Roboflow's block gives it.

    With instance masks and ``mask_opacity`` > 0, the pixels outside the detection's mask are
    blended towards ``background_color`` (1.0: replaced by it), as Roboflow does.
    """

    class Manifest(Block.Manifest):
        type: Literal[
            "visionflow/dynamic_crop@v1", "DynamicCrop", "Crop", "roboflow_core/dynamic_crop@v1"
        ]
        images: Selector(kinds=["image"]) = IMAGES
        predictions: Selector(kinds=DETECTION_KINDS) = Field(
            validation_alias=AliasChoices("predictions", "detections")
        )
        mask_opacity: (
            Selector(kinds=["float_zero_to_one"]) | Annotated[float, Field(ge=0, le=1)]
        ) = 0.0
        # Roboflow's forms: "#RRGGBB", "#RGB", "(R, G, B)" or an (R, G, B) list
        background_color: Selector(kinds=["string", "rgb_color"]) | str | tuple[int, int, int] = (
            BLACK
        )

        _known_colour = field_validator("background_color")(known_colour)

    outputs = [Output("crops", kinds=["image"]), Output("predictions", kinds=DETECTION_KINDS)]
    output_dimensionality_offset = 1

    def run(
        self,
        images: WorkflowImage,
        predictions: Any,
        mask_opacity: float = 0.0,
        background_color: str | tuple[int, int, int] = BLACK,
    ) -> list[dict[str, Any]]:
        ids = detection_ids(predictions)
        boxes = predictions.xyxy.round().astype(int).tolist()
        # a detection per crop costs more than the crop: made only when something reads it
        placed = self.outputs_read is None or "predictions" in self.outputs_read
        results = []
        for index, (box, crop_id) in enumerate(zip(boxes, ids, strict=True)):
            crop = images.crop(*box, crop_id=crop_id)
            if mask_opacity > 0 and predictions.mask is not None:
                crop = _without_background(
                    crop, images, predictions.mask[index], mask_opacity, background_color
                )
            in_crop = _in_crop(predictions, index, images, crop) if placed else None
            results.append({"crops": crop, "predictions": in_crop})
        return results


def _without_background(
    crop: WorkflowImage,
    image: WorkflowImage,
    mask: np.ndarray,
    opacity: float,
    colour: str | tuple[int, int, int],
) -> WorkflowImage:
    """``crop`` with the pixels outside ``mask`` blended towards ``colour`` by ``opacity``."""
    x = crop.origin.offset_x - image.origin.offset_x
    y = crop.origin.offset_y - image.origin.offset_y
    inside = mask[y : y + crop.height, x : x + crop.width, None] > 0
    background = np.empty_like(crop.numpy)
    background[:] = colour_to_bgr(colour)
    replaced = np.where(inside, crop.numpy, background)
    import cv2  # here, not at the top: compiling a document loads this module, not cv2

    # Roboflow's blend (OpenCV's saturating, rounded weighted sum), for the same pixel values
    pixels = cv2.addWeighted(replaced, opacity, crop.numpy, 1.0 - opacity, 0)
    return image.region(pixels, x, y, crop.image_id)


_HEX = re.compile(r"#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")


def colour_to_bgr(colour: str | tuple[int, int, int] | list[int]) -> tuple[int, int, int]:
    """A colour in Roboflow's forms (``#RRGGBB``, ``#RGB``, ``(R, G, B)``, an R, G, B
    sequence) as B, G, R, the order of the pixels. Raises ValueError on anything else."""
    if isinstance(colour, str):
        text = colour.strip()
        if _HEX.fullmatch(text):
            digits = text[1:] if len(text) == 7 else "".join(c * 2 for c in text[1:])
            rgb = [int(digits[i : i + 2], 16) for i in (0, 2, 4)]
        elif text.startswith("(") and text.endswith(")"):
            try:
                rgb = [int(part) for part in text[1:-1].split(",")]
            except ValueError:
                rgb = []
        else:
            rgb = []
    else:
        rgb = list(colour)
    if len(rgb) != 3 or not all(isinstance(v, int) and 0 <= v <= 255 for v in rgb):
        raise ValueError(
            f"{colour!r} is not a colour: give '#RRGGBB', '#RGB', '(R, G, B)' or [R, G, B] "
            "with values 0-255"
        )
    return rgb[2], rgb[1], rgb[0]


def _in_crop(detections: Any, index: int, image: WorkflowImage, crop: WorkflowImage) -> Any:
    """Detection ``index`` of ``image`` placed relative to ``crop``'s top-left corner."""
    # the crop's own corner (the box clipped to the image), so the box lands on its pixels
    x = crop.origin.offset_x - image.origin.offset_x
    y = crop.origin.offset_y - image.origin.offset_y
    selected = detections[index : index + 1]
    selected.xyxy = selected.xyxy - np.array([x, y, x, y], dtype=selected.xyxy.dtype)
    if selected.mask is not None:
        selected.mask = selected.mask[:, y : y + crop.height, x : x + crop.width]
    for points in (KEYPOINTS_XY, QUAD):  # (N, points, 2): keypoints, text quadrilaterals
        if (found := selected.data.get(points)) is not None:
            selected.data[points] = found - np.array([x, y], dtype=found.dtype)
    return selected


class AbsoluteStaticCrop(Block):
    """The same region of every image, in pixels (centre, width, height)."""

    class Manifest(Block.Manifest):
        type: Literal[
            "visionflow/absolute_static_crop@v1",
            "AbsoluteStaticCrop",
            "roboflow_core/absolute_static_crop@v1",
        ]
        images: Selector(kinds=["image"]) = IMAGES
        x_center: Selector(kinds=["integer"]) | int
        y_center: Selector(kinds=["integer"]) | int
        width: Selector(kinds=["integer"]) | int
        height: Selector(kinds=["integer"]) | int

    outputs = [Output("crops", kinds=["image"])]

    def run(self, images: WorkflowImage, x_center: int, y_center: int, width: int, height: int):
        return {"crops": _centred_crop(images, x_center, y_center, width, height)}


class RelativeStaticCrop(Block):
    """The same region of every image, as fractions of its size (0..1)."""

    class Manifest(Block.Manifest):
        type: Literal[
            "visionflow/relative_static_crop@v1",
            "RelativeStaticCrop",
            "roboflow_core/relative_statoic_crop@v1",  # sic: Roboflow's name has this typo
            "roboflow_core/relative_static_crop@v1",
        ]
        images: Selector(kinds=["image"]) = IMAGES
        x_center: Selector(kinds=["float"]) | float
        y_center: Selector(kinds=["float"]) | float
        width: Selector(kinds=["float"]) | float
        height: Selector(kinds=["float"]) | float

    outputs = [Output("crops", kinds=["image"])]

    def run(
        self, images: WorkflowImage, x_center: float, y_center: float, width: float, height: float
    ):
        w, h = images.width, images.height
        # in whole pixels first, as Roboflow's block does, so both give the same crop
        x, y, width, height = (
            round(v) for v in (x_center * w, y_center * h, width * w, height * h)
        )
        return {"crops": _centred_crop(images, x, y, width, height)}


def _centred_crop(
    image: WorkflowImage, x: float, y: float, width: float, height: float
) -> WorkflowImage:
    # the far side from the near one, so an odd size is kept (round(12.5) would lose a pixel)
    x_min, y_min = round(x - width / 2), round(y - height / 2)
    return image.crop(x_min, y_min, round(x_min + width), round(y_min + height))
