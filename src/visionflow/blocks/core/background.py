"""Background effects from segmentation masks: ``BackgroundBlur`` and ``BackgroundReplace``.

The foreground is the union of the predictions' masks (a detection without a mask counts
with its box), e.g. the person found by ``mediapipe/selfie_segmentation``. Its pixels are
kept exactly; every other pixel is blurred or replaced. The masks must be at the image's
size (predictions made on this image, or stitched back onto it). Hard edges: a pixel is in
or out, no feathering. Each block gives ``image``, a derived image of its input.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, field_validator

from visionflow.blocks.api import Block, Output, Selector
from visionflow.blocks.core.crops import BLACK, DETECTION_KINDS, colour_to_bgr, known_colour
from visionflow.data.image import WorkflowImage
from visionflow.errors import RuntimeInputError

IMAGE_OUTPUT = [Output("image", kinds=["image"])]


def foreground(predictions: Any, image: WorkflowImage, place: str) -> np.ndarray:
    """H x W booleans: the pixels inside any detection's mask (or box, without masks)."""
    inside = np.zeros((image.height, image.width), dtype=bool)
    if predictions.mask is not None:
        masks = np.asarray(predictions.mask, dtype=bool)
        if masks.shape[1:] != inside.shape:
            raise RuntimeInputError(
                f"the masks are {masks.shape[2]}x{masks.shape[1]} pixels, the image "
                f"{image.width}x{image.height}",
                place=place,
                hint="give predictions made on this image (DetectionsStitch for crops)",
            )
        return masks.any(axis=0) if len(masks) else inside
    for x_min, y_min, x_max, y_max in np.asarray(predictions.xyxy).round().astype(int):
        inside[max(0, y_min) : max(0, y_max), max(0, x_min) : max(0, x_max)] = True
    return inside


def _composed(
    image: WorkflowImage, pixels: np.ndarray, inside: np.ndarray, background: np.ndarray
) -> dict:
    where = inside if pixels.ndim == 2 else inside[:, :, None]
    composed = np.where(where, pixels, background).astype(np.uint8)
    return {"image": image.region(np.ascontiguousarray(composed), 0, 0)}


class BackgroundBlur(Block):
    """``images`` with everything outside the predictions' masks blurred (a Gaussian blur
    over ``kernel_size`` pixels, made odd by adding one when even); the masked pixels are
    left exactly as they were."""

    class Manifest(Block.Manifest):
        type: Literal["visionflow/background_blur@v1", "BackgroundBlur"]
        images: Selector(kinds=["image"])
        predictions: Selector(kinds=DETECTION_KINDS)
        kernel_size: Selector(kinds=["integer"]) | Annotated[int, Field(ge=1)] = 41

    outputs = IMAGE_OUTPUT
    category = "image operations"  # its group in ``visionflow blocks``

    def run(self, images: WorkflowImage, predictions: Any, kernel_size: int = 41) -> dict:
        if not isinstance(kernel_size, int) or kernel_size < 1:
            raise RuntimeInputError(
                f"kernel_size is {kernel_size!r}; it must be an integer >= 1",
                place="field 'kernel_size'",
            )
        size = kernel_size if kernel_size % 2 else kernel_size + 1  # Gaussian: odd sizes only
        import cv2  # here: compiling a document (validate) loads this module, not cv2

        inside = foreground(predictions, images, "field 'predictions'")
        blurred = cv2.GaussianBlur(images.numpy, (size, size), 0)
        return _composed(images, images.numpy, inside, blurred)


class BackgroundReplace(Block):
    """``images`` with everything outside the predictions' masks replaced: by ``background``
    (an image, stretched to each image's size) when given, else by ``background_color``
    (``#RRGGBB``, ``#RGB``, ``(R, G, B)`` or [R, G, B]; default black)."""

    class Manifest(Block.Manifest):
        type: Literal["visionflow/background_replace@v1", "BackgroundReplace"]
        images: Selector(kinds=["image"])
        predictions: Selector(kinds=DETECTION_KINDS)
        background: Selector(kinds=["image"]) | None = None
        background_color: Selector(kinds=["string", "rgb_color"]) | str | tuple[int, int, int] = (
            BLACK
        )

        _known_colour = field_validator("background_color")(known_colour)

    outputs = IMAGE_OUTPUT
    category = "image operations"  # its group in ``visionflow blocks``

    def run(
        self,
        images: WorkflowImage,
        predictions: Any,
        background: WorkflowImage | None = None,
        background_color: str | tuple[int, int, int] = BLACK,
    ) -> dict:
        import cv2

        inside = foreground(predictions, images, "field 'predictions'")
        pixels = images.numpy
        if pixels.ndim == 2 or pixels.shape[2] == 1:  # a colour needs colour channels
            pixels = cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
        if background is not None:
            other = background.numpy
            if other.ndim == 2 or other.shape[2] == 1:
                other = cv2.cvtColor(other, cv2.COLOR_GRAY2BGR)
            replacement = cv2.resize(
                other[:, :, :3], (images.width, images.height), interpolation=cv2.INTER_AREA
            )
        else:
            try:
                bgr = colour_to_bgr(background_color)
            except ValueError as error:  # a colour given by a selector, known only now
                raise RuntimeInputError(str(error), place="field 'background_color'") from None
            replacement = np.array(bgr, dtype=np.uint8)[None, None, :]
        return _composed(images, pixels[:, :, :3], inside, replacement)
