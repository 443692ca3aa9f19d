"""WorkflowImage: BGR pixels plus where they came from.

A crop knows its parent image and its offset inside the root (original) image, so
detections made on a crop of a crop can be mapped back to the image the user gave.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

_ids = itertools.count()


def _next_id() -> str:
    return f"image-{next(_ids)}"


class ImageOrigin(NamedTuple):  # a tuple: made for every image and crop, so cheap to build
    """Where an image sits inside its root image (the one the user passed in)."""

    root_id: str
    offset_x: int
    offset_y: int
    root_width: int
    root_height: int


class WorkflowImage:
    """An image flowing through a workflow.

    >>> img = WorkflowImage(np.zeros((4, 6, 3), np.uint8))
    >>> img.width, img.height
    (6, 4)
    """

    __slots__ = ("_numpy", "image_id", "origin", "parent_id", "source")

    def __init__(
        self,
        pixels: np.ndarray,
        *,
        image_id: str | None = None,
        parent_id: str | None = None,
        origin: ImageOrigin | None = None,
        source: str | None = None,
    ):
        self._numpy = pixels
        self.image_id = image_id or _next_id()
        self.parent_id = parent_id
        height, width = pixels.shape[:2]
        self.origin = origin or ImageOrigin(self.image_id, 0, 0, width, height)
        self.source = source

    @property
    def numpy(self) -> np.ndarray:
        """The pixels, H x W x 3 uint8 in BGR order (as OpenCV reads them)."""
        return self._numpy

    @property
    def width(self) -> int:
        return self._numpy.shape[1]

    @property
    def height(self) -> int:
        return self._numpy.shape[0]

    @property
    def is_root(self) -> bool:
        return self.origin.root_id == self.image_id

    def crop(self, x_min: int, y_min: int, x_max: int, y_max: int, *, crop_id: str | None = None):
        """A crop (clipped to the image) that remembers its place in the root image.

        Raises ValueError when the region does not overlap the image at all.
        """
        box = (x_min, y_min, x_max, y_max)
        x_min, x_max = max(0, int(min(x_min, x_max))), min(self.width, int(max(x_min, x_max)))
        y_min, y_max = max(0, int(min(y_min, y_max))), min(self.height, int(max(y_min, y_max)))
        if x_min >= x_max or y_min >= y_max:
            raise ValueError(
                f"crop region {tuple(round(v) for v in box)} (x_min, y_min, x_max, y_max) lies "
                f"outside the {self.width}x{self.height} image"
            )
        return self.region(self._numpy[y_min:y_max, x_min:x_max], x_min, y_min, crop_id)

    def region(
        self, pixels: np.ndarray, x_min: int, y_min: int, image_id: str | None = None
    ) -> WorkflowImage:
        """An image made from a region of this one whose top-left is at (x_min, y_min) here.

        The pixels may be a crop, a warped or padded version of it: only the place counts.
        """
        root = self.origin
        origin = ImageOrigin(
            root.root_id,
            root.offset_x + x_min,
            root.offset_y + y_min,
            root.root_width,
            root.root_height,
        )
        return WorkflowImage(pixels, image_id=image_id, parent_id=self.image_id, origin=origin)

    def __repr__(self) -> str:
        return f"WorkflowImage(id={self.image_id!r}, {self.width}x{self.height})"


def load_image(value, *, name: str = "image") -> WorkflowImage:
    """A WorkflowImage from an array, a WorkflowImage, a file path or a base64 string.

    Raises ValueError with a message that says what was wrong with the value.
    """
    if isinstance(value, WorkflowImage):
        return value
    if isinstance(value, np.ndarray):
        return WorkflowImage(_as_bgr(value, name))
    if isinstance(value, os.PathLike):
        return _read_file(Path(value), name)
    if isinstance(value, bytes | bytearray):
        return WorkflowImage(_decode(bytes(value), name))
    if isinstance(value, dict) and value.get("type") == "base64":
        return load_image(_b64(value.get("value", ""), name), name=name)
    if isinstance(value, str):
        if value.startswith("data:image") or (len(value) > 260 and not os.path.exists(value)):
            return WorkflowImage(_decode(_b64(value, name), name))
        return _read_file(Path(value), name)
    raise ValueError(
        f"{name}: expected an image (numpy array, file path or base64 string), "
        f"found {type(value).__name__}"
    )


def _b64(text: str, name: str) -> bytes:
    if text.startswith("data:"):
        text = text.split(",", 1)[-1]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"{name}: not a valid base64 image ({error})") from None


def _read_file(path: Path, name: str) -> WorkflowImage:
    if not path.is_file():
        raise ValueError(f"{name}: no image file at '{path}'")
    image = WorkflowImage(_decode(path.read_bytes(), f"{name} ('{path}')"))
    image.source = str(path)
    return image


def _decode(data: bytes, name: str) -> np.ndarray:
    import cv2

    if not data:  # OpenCV fails an assertion on no bytes instead of returning None
        raise ValueError(f"{name}: the image is empty (0 bytes)")
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if pixels is None:
        raise ValueError(f"{name}: the bytes are not a decodable image (corrupt or unknown format)")
    return pixels


def _as_bgr(array: np.ndarray, name: str) -> np.ndarray:
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"{name}: expected an H x W x 3 array, found shape {array.shape}")
    if array.shape[2] == 4:
        array = array[:, :, :3]
    if array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    return array
