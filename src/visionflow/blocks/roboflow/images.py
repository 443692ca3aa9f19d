"""Roboflow's image operations (issue 12): OpenCV filters with Roboflow's names and fields.

Each block gives the image it makes as ``image``, a derived image of its input (as
Roboflow's ``copy_and_replace`` does). Values a field takes are checked when the workflow
compiles (pydantic ``Literal`` and ranges); a value given by a parameter is checked by the
engine against the same ``Literal`` before the step runs.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Literal, get_args

import cv2
import numpy as np
from pydantic import AliasChoices, Field, ValidationInfo, field_validator

from visionflow.blocks.api import Block, Output, Selector
from visionflow.data.image import WorkflowImage
from visionflow.errors import BlockLoadingError

# Roboflow's image blocks name their input ``image`` and also accept ``images``
IMAGE = Field(validation_alias=AliasChoices("image", "images"))
IMAGE_OUTPUT = [Output("image", kinds=["image"])]


def derived(image: WorkflowImage, pixels: np.ndarray) -> dict[str, WorkflowImage]:
    """The block's result: ``pixels`` as an image made from ``image``, in its place."""
    return {"image": image.region(pixels, 0, 0)}


def as_gray(pixels: np.ndarray) -> np.ndarray:
    """One channel: BGR (or BGRA, alpha left out) converted by luminance; a gray image
    (H x W or H x W x 1) as it is."""
    if pixels.ndim == 3 and pixels.shape[2] in (3, 4):
        code = cv2.COLOR_BGR2GRAY if pixels.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
        return cv2.cvtColor(pixels, code)
    return pixels.reshape(pixels.shape[:2])


def as_bgr(pixels: np.ndarray) -> np.ndarray:
    """Three channels: a gray image (H x W or H x W x 1) repeated; others as they are."""
    if pixels.ndim == 2 or pixels.shape[2] == 1:
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
    return pixels


def _check_choice(field: str, value: Any, choices: Any) -> None:
    """A text from a step's output is checked only here (parameters and literals are
    checked before the run): refused unless one of ``choices``, a ``Literal`` or its
    values (``get_args``, best taken once: it costs as much as a small block's work)."""
    valid = choices if type(choices) is tuple else get_args(choices)
    if value not in valid:
        raise ValueError(f"{field} {value!r} is not one of {', '.join(repr(v) for v in valid)}")


class ConvertGrayscale(Block):
    """The image as one luminance channel (OpenCV's BGR to gray): an H x W image, as
    Roboflow gives it, for the blocks that need one channel (adaptive or Otsu threshold)."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/convert_grayscale@v1"]
        image: Selector(kinds=["image"]) = IMAGE

    outputs = IMAGE_OUTPUT

    def run(self, image: WorkflowImage) -> dict:
        return derived(image, as_gray(image.numpy))


BlurType = Literal["average", "gaussian", "median", "bilateral"]
_BLUR_TYPES = get_args(BlurType)


class ImageBlur(Block):
    """A blur: ``average`` (box), ``gaussian``, ``median`` or ``bilateral`` (edge keeping,
    sigmas 75), over a ``kernel_size`` square (bilateral: the neighbourhood's diameter).

    Gaussian and median need an odd size: an even or non-positive one becomes the next
    positive odd size, as in Roboflow's block.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/image_blur@v1"]
        image: Selector(kinds=["image"]) = IMAGE
        blur_type: Selector(kinds=["string"]) | BlurType = "gaussian"
        kernel_size: Selector(kinds=["integer"]) | int = 5

        @field_validator("kernel_size")
        @classmethod
        def _average_needs_a_kernel(cls, value: Any, info: ValidationInfo) -> Any:
            # only the average blur does not round its size up to a valid one
            if info.data.get("blur_type") == "average" and isinstance(value, int):
                _check_average_kernel(value)
            return value

    outputs = IMAGE_OUTPUT

    def run(self, image: WorkflowImage, blur_type: str = "gaussian", kernel_size: int = 5):
        _check_choice("blur_type", blur_type, _BLUR_TYPES)
        pixels = image.numpy
        if blur_type == "average":
            _check_average_kernel(kernel_size)
            blurred = cv2.blur(pixels, (kernel_size, kernel_size))
        elif blur_type == "gaussian":
            size = _positive_odd(kernel_size)
            blurred = cv2.GaussianBlur(pixels, (size, size), 0)
        elif blur_type == "median":
            blurred = cv2.medianBlur(pixels, _positive_odd(kernel_size))
        else:
            blurred = cv2.bilateralFilter(pixels, kernel_size, 75, 75)
        return derived(image, blurred)


def _check_average_kernel(kernel_size: int) -> None:
    if kernel_size < 1:
        raise ValueError(f"an average blur needs kernel_size >= 1, found {kernel_size}")


def _positive_odd(size: int) -> int:
    size = max(1, int(size))
    return size if size % 2 else size + 1


ThresholdType = Literal[
    "binary",
    "binary_inv",
    "trunc",
    "tozero",
    "tozero_inv",
    "adaptive_mean",
    "adaptive_gaussian",
    "otsu",
]
_THRESHOLD_TYPES = get_args(ThresholdType)

_FIXED_THRESHOLDS = {
    "binary": cv2.THRESH_BINARY,
    "binary_inv": cv2.THRESH_BINARY_INV,
    "trunc": cv2.THRESH_TRUNC,
    "tozero": cv2.THRESH_TOZERO,
    "tozero_inv": cv2.THRESH_TOZERO_INV,
}
_ADAPTIVE_THRESHOLDS = {
    "adaptive_mean": cv2.ADAPTIVE_THRESH_MEAN_C,
    "adaptive_gaussian": cv2.ADAPTIVE_THRESH_GAUSSIAN_C,
}


class Threshold(Block):
    """OpenCV's thresholds: fixed (``binary`` ... ``tozero_inv`` at ``thresh_value``),
    adaptive (mean or Gaussian over 11 x 11 pixels, minus 2) or Otsu's; pixels that pass
    become ``max_value``. Adaptive and Otsu need a one-channel image (convert_grayscale)."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/threshold@v1"]
        image: Selector(kinds=["image"]) = IMAGE
        threshold_type: Selector(kinds=["string"]) | ThresholdType = "binary"
        thresh_value: Selector(kinds=["integer"]) | int  # required, as in Roboflow's block
        max_value: Selector(kinds=["integer"]) | int = 255

    outputs = IMAGE_OUTPUT

    def run(
        self,
        image: WorkflowImage,
        thresh_value: int,
        threshold_type: str = "binary",
        max_value: int = 255,
    ) -> dict:
        _check_choice("threshold_type", threshold_type, _THRESHOLD_TYPES)
        pixels = image.numpy
        fixed = _FIXED_THRESHOLDS.get(threshold_type)
        if fixed is not None:
            _, result = cv2.threshold(pixels, thresh_value, max_value, fixed)
            return derived(image, result)
        if pixels.ndim == 3 and pixels.shape[2] != 1:
            raise ValueError(
                f"threshold_type {threshold_type!r} needs a one-channel image, found "
                f"{pixels.shape[2]} channels: convert it first with "
                "roboflow_core/convert_grayscale@v1"
            )
        pixels = pixels.reshape(pixels.shape[:2])
        if threshold_type == "otsu":
            _, result = cv2.threshold(pixels, 0, max_value, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        else:
            method = _ADAPTIVE_THRESHOLDS[threshold_type]
            result = cv2.adaptiveThreshold(pixels, max_value, method, cv2.THRESH_BINARY, 11, 2)
        return derived(image, result)


FlipType = Literal["vertical", "horizontal", "both"]
_FLIP_TYPES = get_args(FlipType)
_FLIP_CODES = {"vertical": 0, "horizontal": 1, "both": -1}


class ImagePreprocessing(Block):
    """Resize (to ``width`` x ``height``, OpenCV's area interpolation), rotate (by
    ``rotation_degrees`` counter-clockwise around the centre, the canvas grown to hold the
    whole image, black corners) or flip (``vertical``, ``horizontal`` or ``both``)."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/image_preprocessing@v1"]
        image: Selector(kinds=["image"]) = IMAGE
        task_type: Literal["resize", "rotate", "flip"]
        width: Selector(kinds=["integer"]) | Annotated[int, Field(gt=0)] = 640
        height: Selector(kinds=["integer"]) | Annotated[int, Field(gt=0)] = 640
        rotation_degrees: Selector(kinds=["integer"]) | Annotated[int, Field(ge=-360, le=360)] = 90
        flip_type: Selector(kinds=["string"]) | FlipType = "vertical"

    outputs = IMAGE_OUTPUT

    def run(
        self,
        image: WorkflowImage,
        task_type: str,
        width: int = 640,
        height: int = 640,
        rotation_degrees: int = 90,
        flip_type: str = "vertical",
    ) -> dict:
        pixels = image.numpy
        if task_type == "resize":
            if width <= 0 or height <= 0:  # a step output's value, known only now
                raise ValueError(f"width and height must be > 0, found {width} x {height}")
            result = cv2.resize(pixels, (width, height), interpolation=cv2.INTER_AREA)
        elif task_type == "rotate":
            if not -360 <= rotation_degrees <= 360:
                raise ValueError(
                    f"rotation_degrees must lie in -360..360, found {rotation_degrees}"
                )
            result = _rotated(pixels, rotation_degrees)
        else:
            _check_choice("flip_type", flip_type, _FLIP_TYPES)
            result = cv2.flip(pixels, _FLIP_CODES[flip_type])
        return derived(image, result)


def _rotated(pixels: np.ndarray, degrees: int) -> np.ndarray:
    """``pixels`` turned by ``degrees`` around the (whole-pixel) centre, on a canvas sized
    as Roboflow's block sizes it (truncated), so both give the same pixels."""
    if degrees == 0:
        return pixels.copy()
    height, width = pixels.shape[:2]
    centre = (width // 2, height // 2)
    matrix = cv2.getRotationMatrix2D(centre, degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_width = int(height * sin + width * cos)
    new_height = int(height * cos + width * sin)
    matrix[0, 2] += new_width / 2 - centre[0]
    matrix[1, 2] += new_height / 2 - centre[1]
    return cv2.warpAffine(pixels, matrix, (new_width, new_height))


class ContrastEnhancement(Block):
    """Each channel stretched to the full 0-255 range: from its ``clip_limit`` percentile
    to its ``100 - clip_limit`` percentile (0: its minimum and maximum), then spread around
    128 by ``contrast_multiplier``, and with ``normalize_brightness`` mid-tones brightened
    (gamma 1/1.3). A channel of one value is left as it is."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/contrast_enhancement@v1"]
        image: Selector(kinds=["image"]) = IMAGE
        clip_limit: Annotated[int, Field(ge=0, le=50)] = 0
        contrast_multiplier: Annotated[float, Field(ge=0.1, le=5.0)] = 1.0
        normalize_brightness: bool = False

    outputs = IMAGE_OUTPUT

    def run(
        self,
        image: WorkflowImage,
        clip_limit: int = 0,
        contrast_multiplier: float = 1.0,
        normalize_brightness: bool = False,
    ) -> dict:
        pixels = image.numpy
        gray = pixels.ndim == 2 or pixels.shape[2] == 1
        channels = [pixels.reshape(pixels.shape[:2])] if gray else _split(pixels)
        stretched = [
            _stretched(c, _range(c, clip_limit, gray), contrast_multiplier, normalize_brightness)
            for c in channels
        ]
        if gray:
            if stretched[0] is None:  # one value: Roboflow gives the image itself
                return {"image": image}
            return derived(image, stretched[0])
        kept = [c if s is None else s for c, s in zip(channels, stretched, strict=True)]
        if pixels.shape[2] == 4:  # the alpha channel is kept as it is
            kept[3] = channels[3]
        return derived(image, np.dstack(kept))


def _split(pixels: np.ndarray) -> list[np.ndarray]:
    return [pixels[:, :, c] for c in range(pixels.shape[2])]


def _range(channel: np.ndarray, clip_limit: int, gray: bool) -> tuple:
    """The values a channel is stretched from and to; computed as Roboflow's block computes
    them (numpy's percentile for a gray image, quantile per colour channel, with the same
    float arithmetic), so both engines agree to the last level."""
    values = channel.astype(np.float32)
    if clip_limit <= 0:
        return values.min(), values.max()
    percent = float(clip_limit) / 100.0 * 100
    if gray:
        return np.percentile(values, percent), np.percentile(values, 100 - percent)
    low, high = np.quantile(values, [percent / 100, (100 - percent) / 100])
    return low, high


def _stretched(
    channel: np.ndarray, bounds: tuple, multiplier: float, brighten: bool
) -> np.ndarray | None:
    """One channel stretched from ``bounds`` to 0-255 (truncated to uint8, as Roboflow's
    block does), or None when the channel has one value."""
    values = channel.astype(np.float32)
    low, high = bounds
    if high <= low:
        return None
    result = (values - low) / (high - low) * 255.0
    if multiplier != 1.0:
        result = 128.0 + (result - 128.0) * multiplier
    if brighten:
        result = np.power(np.clip(result, 0, 255) / 255.0, 1.0 / 1.3) * 255.0
    return np.clip(result, 0, 255).astype(np.uint8)


MorphologyOperation = Literal[
    "Erosion", "Dilation", "Opening", "Closing", "Gradient", "Top Hat", "Black Hat"
]
MorphologyOperationV2 = Literal[
    "Erosion",
    "Dilation",
    "Opening",
    "Closing",
    "Opening then Closing",
    "Gradient",
    "Top Hat",
    "Black Hat",
]
_MORPHOLOGY_OPERATIONS = get_args(MorphologyOperation)
_MORPHOLOGY_OPERATIONS_V2 = get_args(MorphologyOperationV2)
_MORPHOLOGY = {
    "Erosion": cv2.MORPH_ERODE,
    "Dilation": cv2.MORPH_DILATE,
    "Opening": cv2.MORPH_OPEN,
    "Closing": cv2.MORPH_CLOSE,
    "Gradient": cv2.MORPH_GRADIENT,
    "Top Hat": cv2.MORPH_TOPHAT,
    "Black Hat": cv2.MORPH_BLACKHAT,
}


def _morphology(pixels: np.ndarray, kernel_size: int, operation: str) -> np.ndarray:
    """One of OpenCV's morphological operations with a square ``kernel_size`` kernel of
    ones (erosion and dilation once, as ``cv2.erode`` / ``cv2.dilate`` do)."""
    if kernel_size < 1:
        raise ValueError(f"kernel_size must be >= 1, found {kernel_size}")
    kernel = _square_of_ones(kernel_size)
    if operation == "Opening then Closing":
        opened = cv2.morphologyEx(pixels, cv2.MORPH_OPEN, kernel)
        return cv2.morphologyEx(opened, cv2.MORPH_CLOSE, kernel)
    return cv2.morphologyEx(pixels, _MORPHOLOGY[operation], kernel)


def _square_of_ones(size: int) -> np.ndarray:
    """A ``size`` x ``size`` kernel of ones. The small ones workflows use are made once
    each (making one costs as much as the block's other work) and shared, so read-only."""
    return _shared_square_of_ones(size) if size <= 64 else np.ones((size, size), np.uint8)


@lru_cache(maxsize=16, typed=True)  # typed: a float size fails as np.ones fails, each time
def _shared_square_of_ones(size: int) -> np.ndarray:
    kernel = np.ones((size, size), np.uint8)
    kernel.flags.writeable = False
    return kernel


class MorphologicalTransformation(Block):
    """v1: a morphological operation on the image's luminance (gray, H x W x 1, as
    Roboflow's v1 gives it); default ``Closing``, a ``kernel_size`` square of ones."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/morphological_transformation@v1"]
        image: Selector(kinds=["image"]) = IMAGE
        kernel_size: Selector(kinds=["integer"]) | int = 5
        operation: Selector(kinds=["string"]) | MorphologyOperation = "Closing"

    outputs = IMAGE_OUTPUT

    def run(self, image: WorkflowImage, kernel_size: int = 5, operation: str = "Closing"):
        _check_choice("operation", operation, _MORPHOLOGY_OPERATIONS)
        result = _morphology(as_gray(image.numpy), kernel_size, operation)
        return derived(image, result[:, :, None])


class MorphologicalTransformationV2(Block):
    """v2: the same operations on every colour channel (a gray image becomes BGR first; an
    alpha channel is kept as it is), plus ``Opening then Closing``, the default."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/morphological_transformation@v2"]
        image: Selector(kinds=["image"]) = IMAGE
        kernel_size: Selector(kinds=["integer"]) | int = 5
        operation: Selector(kinds=["string"]) | MorphologyOperationV2 = "Opening then Closing"

    outputs = IMAGE_OUTPUT

    def run(
        self, image: WorkflowImage, kernel_size: int = 5, operation: str = "Opening then Closing"
    ) -> dict:
        _check_choice("operation", operation, _MORPHOLOGY_OPERATIONS_V2)
        pixels = as_bgr(image.numpy)
        if pixels.shape[2] == 4:
            colour = _morphology(np.ascontiguousarray(pixels[:, :, :3]), kernel_size, operation)
            return derived(image, np.dstack([colour, pixels[:, :, 3]]))
        return derived(image, _morphology(pixels, kernel_size, operation))


EqualizationType = Literal["Contrast Stretching", "Histogram Equalization", "Adaptive Equalization"]
_EQUALIZATION_TYPES = get_args(EqualizationType)


class ContrastEqualization(Block):
    """scikit-image's contrast operations, on all channels together: ``Contrast
    Stretching`` (the 2nd to 98th percentile stretched to the full range), ``Histogram
    Equalization`` (the default) or ``Adaptive Equalization`` (CLAHE, clip limit 0.03).

    Needs scikit-image (Roboflow's block uses it; visionflow's ``demo`` extra installs it):
    without it the workflow does not compile.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/contrast_equalization@v1"]
        image: Selector(kinds=["image"]) = IMAGE
        equalization_type: Selector(kinds=["string"]) | EqualizationType = "Histogram Equalization"

    outputs = IMAGE_OUTPUT

    def setup(self, manifest: Block.Manifest) -> None:
        try:
            from skimage import exposure
        except ImportError:
            raise BlockLoadingError(  # placed at the step by the compiler
                "roboflow_core/contrast_equalization@v1 needs scikit-image, which is not installed",
                hint="pip install scikit-image (or visionflow[demo])",
            ) from None
        self._exposure = exposure

    def run(self, image: WorkflowImage, equalization_type: str = "Histogram Equalization"):
        _check_choice("equalization_type", equalization_type, _EQUALIZATION_TYPES)
        exposure, pixels = self._exposure, image.numpy
        if equalization_type == "Contrast Stretching":
            low, high = np.percentile(pixels, (2, 98))
            return derived(image, exposure.rescale_intensity(pixels, in_range=(low, high)))
        scaled = pixels.astype(np.float32) / 255
        if equalization_type == "Histogram Equalization":
            # one histogram of all channels, as Roboflow's block takes it; given flat, so
            # skimage does not warn on every image that it "might be a color image"
            result = exposure.equalize_hist(scaled.reshape(-1)).reshape(scaled.shape) * 255
        else:
            result = exposure.equalize_adapthist(scaled, clip_limit=0.03) * 255
        return derived(image, result.astype(np.uint8))


class BilateralFilter(Block):
    """OpenCV's edge-keeping bilateral filter over a ``diameter`` neighbourhood (an even one
    becomes the next odd one), weighting neighbours by distance (``sigma_space``) and by
    colour difference (``sigma_color``); an alpha channel is kept as it is and a one-channel
    image comes back H x W, as in Roboflow's block (newer than inference 1.8.3)."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/bilateral_filter@v1"]
        image: Selector(kinds=["image"]) = IMAGE
        diameter: Annotated[int, Field(ge=3, le=51)] = 9
        sigma_color: Annotated[float, Field(ge=1.0, le=255.0)] = 75.0
        sigma_space: Annotated[float, Field(ge=1.0, le=255.0)] = 75.0

    outputs = IMAGE_OUTPUT

    def run(
        self,
        image: WorkflowImage,
        diameter: int = 9,
        sigma_color: float = 75.0,
        sigma_space: float = 75.0,
    ) -> dict:
        size = min(51, max(3, diameter if diameter % 2 else diameter + 1))
        pixels = image.numpy
        if pixels.ndim == 3 and pixels.shape[2] == 4:
            colour = cv2.bilateralFilter(
                np.ascontiguousarray(pixels[:, :, :3]), size, sigma_color, sigma_space
            )
            return derived(image, np.dstack([colour, pixels[:, :, 3]]))
        if pixels.ndim == 3 and pixels.shape[2] == 1:
            pixels = np.ascontiguousarray(pixels[:, :, 0])
        return derived(image, cv2.bilateralFilter(pixels, size, sigma_color, sigma_space))


BLOCKS: list[type[Block]] = [
    ConvertGrayscale,
    ImageBlur,
    Threshold,
    ImagePreprocessing,
    ContrastEnhancement,
    ContrastEqualization,
    MorphologicalTransformation,
    MorphologicalTransformationV2,
    BilateralFilter,
]
