"""Image -> input tensor, shared by every head that feeds an image to a model.

Options (a model's ``preprocessing:``; a head may supply its own defaults):

- ``size: [w, h]``: the model input's width and height; default: read from the input shape
  (a head gives a fallback for inputs whose size is dynamic, e.g. 640 for YOLO).
- ``color: bgr | rgb | gray`` (default ``rgb``): channel order the model was trained on.
  ``gray`` on a 3-channel input repeats the gray plane three times; a 1-channel input is
  always fed gray.
- ``layout: nhwc | nchw``: default: detected from the input shape (channels of 1 or 3).
- ``scale``, ``mean``, ``std`` (defaults ``1/255``, ``0``, ``1``): each value becomes
  ``(pixel * scale - mean) / std``; ``mean`` and ``std`` may be one number or one per
  channel (in the ``color`` order). Inputs of an integer type get the raw pixels instead.
- ``resize: stretch | letterbox`` (default ``stretch``): letterbox keeps the aspect ratio and
  pads the borders with ``pad_value`` (default 114, on the 0..255 pixel scale).
- ``interpolation: linear | area | cubic | nearest`` (default ``linear``): ``area`` is the
  closest to an anti-aliased downscale (skimage / PIL with antialias).
- ``resampler: resize | warp`` (default ``resize``): ``warp`` samples the way MediaPipe's
  ImageToTensorCalculator does, one affine warp of pixel indices (no half-pixel shift, exact
  fractional letterbox offsets); on a large downscale it picks other source pixels than
  ``resize`` and MediaPipe's models score their own sampling best. ``area`` acts as linear.

``ImageTransform(pixels)`` returns the tensor (no batch axis) and a ``Placement``
that maps boxes predicted on the tensor back to the image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from visionflow.errors import ModelError
from visionflow.models.runtime import TensorInfo

# names of cv2's flags: cv2 (~40 ms) is imported when an image is transformed, not when a
# model is checked (``visionflow validate``)
_INTERPOLATION = {
    "linear": "INTER_LINEAR",
    "area": "INTER_AREA",
    "cubic": "INTER_CUBIC",
    "nearest": "INTER_NEAREST",
}
_CHOICES = {
    "color": ("bgr", "rgb", "gray"),
    "layout": ("nhwc", "nchw"),
    "resize": ("stretch", "letterbox"),
    "interpolation": tuple(_INTERPOLATION),
    "resampler": ("resize", "warp"),
}
_KNOWN = {"size", "scale", "mean", "std", "pad_value", *_CHOICES}


@dataclass(frozen=True)
class Placement:
    """Where the image sits in the model input: input = image * scale + offset, per axis."""

    scale_x: float
    scale_y: float
    offset_x: float
    offset_y: float

    def points_to_image(self, points: np.ndarray) -> np.ndarray:
        """Points (... x 2, x y) from input coordinates to the image's."""
        offset = np.array([self.offset_x, self.offset_y], dtype=np.float64)
        scale = np.array([self.scale_x, self.scale_y], dtype=np.float64)
        return (np.asarray(points, dtype=np.float64) - offset) / scale

    def to_image(self, xyxy: np.ndarray) -> np.ndarray:
        """Boxes (N x 4, x_min y_min x_max y_max) from input coordinates to the image's."""
        return self.points_to_image(np.asarray(xyxy).reshape(-1, 2)).reshape(-1, 4)


@dataclass(frozen=True)
class ImageTransform:
    """How one model wants its images; call it on BGR pixels (H x W x 3 uint8)."""

    width: int
    height: int
    channels: int
    color: str
    layout: str
    scale: float
    mean: np.ndarray
    std: np.ndarray
    resize: str
    pad_value: float
    interpolation: str  # the name of a cv2 flag (``INTER_LINEAR``...)
    dtype: np.dtype
    resampler: str = "resize"

    @classmethod
    def for_input(
        cls, tensor: TensorInfo, options: dict[str, Any], defaults: dict[str, Any] | None = None
    ) -> ImageTransform:
        """The transform for a model input, from ``preprocessing`` options over head defaults.

        Raises ModelError when an option is unknown or the input is not an image.
        """
        settings = {**(defaults or {}), **options}
        unknown = sorted(set(options) - _KNOWN)
        if unknown:
            raise ModelError(
                f"unknown preprocessing option(s): {', '.join(unknown)}",
                hint=f"known options: {', '.join(sorted(_KNOWN))}",
            )
        for name, allowed in _CHOICES.items():
            if name in settings and settings[name] not in allowed:
                raise ModelError(
                    f"preprocessing '{name}' is '{settings[name]}'",
                    hint=f"use one of: {', '.join(allowed)}",
                )
        shape = tensor.shape
        if len(shape) != 4:
            raise ModelError(
                f"input '{tensor.name}' has shape {shape}; an image input has 4 axes "
                "(batch, height, width, channels or batch, channels, height, width)"
            )
        layout = settings.get("layout") or _guess_layout(shape)
        height, width, channels = (
            (shape[1], shape[2], shape[3]) if layout == "nhwc" else (shape[2], shape[3], shape[1])
        )
        if "size" in settings:
            width, height = (int(v) for v in settings["size"])
        if not width or not height:
            raise ModelError(
                f"input '{tensor.name}' has a dynamic size {shape}",
                hint="set preprocessing.size: [width, height]",
            )
        color = settings.get("color", "rgb")
        channels = channels or (1 if color == "gray" else 3)
        if channels == 1:
            color = "gray"  # a one-channel model can only mean gray
        return cls(
            width=width,
            height=height,
            channels=channels,
            color=color,
            layout=layout,
            scale=float(settings.get("scale", 1 / 255)),
            mean=_per_channel(settings.get("mean", 0.0), channels, "mean"),
            std=_per_channel(settings.get("std", 1.0), channels, "std"),
            resize=settings.get("resize", "stretch"),
            pad_value=float(settings.get("pad_value", 114)),
            interpolation=_INTERPOLATION[settings.get("interpolation", "linear")],
            dtype=np.dtype(tensor.dtype),
            resampler=settings.get("resampler", "resize"),
        )

    def __call__(self, pixels: np.ndarray) -> tuple[np.ndarray, Placement]:
        import cv2

        if self.color == "gray":  # before resizing, as the models' own pipelines do
            pixels = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_BGR2GRAY)
        if self.resampler == "warp":
            pixels, placement = self._warp(pixels)
        elif self.resize == "letterbox":
            pixels, placement = self._letterbox(pixels)
        else:
            height, width = pixels.shape[:2]
            placement = Placement(self.width / width, self.height / height, 0.0, 0.0)
            pixels = cv2.resize(
                pixels, (self.width, self.height), interpolation=getattr(cv2, self.interpolation)
            )
        if self.color == "rgb":  # after resizing: the same result on far fewer pixels
            pixels = pixels[:, :, ::-1]
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]
        if pixels.shape[2] != self.channels:  # gray fed to a 3-channel model
            pixels = np.repeat(pixels, self.channels, axis=2)
        if np.issubdtype(self.dtype, np.integer):
            tensor = pixels.astype(self.dtype)
        else:
            tensor = (pixels.astype(np.float32) * np.float32(self.scale) - self.mean) / self.std
            tensor = tensor.astype(self.dtype, copy=False)
        if self.layout == "nchw":
            tensor = tensor.transpose(2, 0, 1)
        return np.ascontiguousarray(tensor), placement

    def _letterbox(self, pixels: np.ndarray) -> tuple[np.ndarray, Placement]:
        """Resized to fit, keeping the aspect ratio, centred on a ``pad_value`` canvas."""
        import cv2

        height, width = pixels.shape[:2]
        ratio = min(self.width / width, self.height / height)
        new_width = max(1, round(width * ratio))
        new_height = max(1, round(height * ratio))
        left, top = (self.width - new_width) // 2, (self.height - new_height) // 2
        canvas = np.full((self.height, self.width, *pixels.shape[2:]), self.pad_value, np.uint8)
        canvas[top : top + new_height, left : left + new_width] = cv2.resize(
            pixels, (new_width, new_height), interpolation=getattr(cv2, self.interpolation)
        )
        placement = Placement(new_width / width, new_height / height, float(left), float(top))
        return canvas, placement

    def _warp(self, pixels: np.ndarray) -> tuple[np.ndarray, Placement]:
        """Stretched or letterboxed by one affine warp: input = image * scale + offset."""
        import cv2

        height, width = pixels.shape[:2]
        scale_x, scale_y = self.width / width, self.height / height
        if self.resize == "letterbox":
            scale_x = scale_y = min(scale_x, scale_y)
        left, top = (self.width - width * scale_x) / 2, (self.height - height * scale_y) / 2
        matrix = np.array([[scale_x, 0.0, left], [0.0, scale_y, top]])
        warped = cv2.warpAffine(
            np.ascontiguousarray(pixels),
            matrix,
            (self.width, self.height),
            flags=getattr(cv2, self.interpolation),
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(self.pad_value,) * 4,
        )
        return warped, Placement(scale_x, scale_y, left, top)


def _guess_layout(shape: tuple[int | None, ...]) -> str:
    # Channels-last when the last axis looks like channels and the second does not.
    if shape[3] in (1, 3) and shape[1] not in (1, 3):
        return "nhwc"
    return "nchw"


def _per_channel(value: Any, channels: int, name: str) -> np.ndarray:
    array = np.asarray(value, dtype=np.float32).reshape(-1)
    if array.size not in (1, channels):
        raise ModelError(
            f"preprocessing '{name}' has {array.size} values for a {channels}-channel input",
            hint="give one number, or one per channel",
        )
    return array
