"""WorkflowImage: BGR pixels plus where they came from.

A crop knows its parent image and its offset inside the root (original) image, so
detections made on a crop of a crop can be mapped back to the image the user gave.
"""

from __future__ import annotations

import datetime
import itertools
import logging
import os
from typing import Any, NamedTuple

import numpy as np

from visionflow.data.sources import (
    LOCAL,
    ImagePolicy,
    base64_bytes,
    check_pixels,
    decode_bytes,
    file_bytes,
    url_bytes,
)
from visionflow.errors import RuntimeInputError

_log = logging.getLogger("visionflow.inputs")

_ids = itertools.count()  # an image's id: image-<n>, unique in the process
# An image is made for every step's result (a region, new pixels of the same image): made
# without the keyword-argument __init__ and NamedTuple's Python-level __new__, which cost
# more than the rest of a small block's work (a threshold on 512x512 takes 20 us).
_new_image = object.__new__
_new_tuple = tuple.__new__


class ImageOrigin(NamedTuple):  # a tuple: made for every image and crop, so cheap to build
    """Where an image sits inside its root image (the one the user passed in)."""

    root_id: str
    offset_x: int
    offset_y: int
    root_width: int
    root_height: int


class OriginCoordinates(NamedTuple):
    """Roboflow's ``OriginCoordinatesSystem``: where an image sits in another one."""

    left_top_x: int
    left_top_y: int
    origin_width: int
    origin_height: int


class ParentMetadata(NamedTuple):
    """Roboflow's ``ImageParentMetadata``, as its block code reads it."""

    parent_id: str
    origin_coordinates: OriginCoordinates | None = None


class VideoMetadata(NamedTuple):
    """Roboflow's ``VideoMetadata`` of a frame; a still image is frame 0 of a "video" of its
    own (Roboflow's defaults: the time it is read, 30 fps, not from a file)."""

    video_identifier: str
    frame_number: int
    frame_timestamp: datetime.datetime
    fps: float | None
    comes_from_video_file: bool | None
    measured_fps: float | None = None  # a live source's rate as measured while reading


class WorkflowImage:
    """An image flowing through a workflow.

    >>> img = WorkflowImage(np.zeros((4, 6, 3), np.uint8))
    >>> img.width, img.height
    (6, 4)
    """

    __slots__ = ("_numpy", "image_id", "origin", "parent_id", "parent_place", "source", "video")

    def __init__(
        self,
        pixels: np.ndarray,
        *,
        image_id: str | None = None,
        parent_id: str | None = None,
        origin: ImageOrigin | None = None,
        source: str | None = None,
        parent_place: OriginCoordinates | None = None,
        video: VideoMetadata | None = None,
    ):
        self._numpy = pixels
        self.image_id = image_id = image_id or f"image-{next(_ids)}"
        self.parent_id = parent_id
        if not origin:  # a root image: at (0, 0) of itself
            shape = pixels.shape
            origin = _new_tuple(ImageOrigin, (image_id, 0, 0, shape[1], shape[0]))
        self.origin = origin
        self.source = source
        self.parent_place = parent_place  # where a crop sits in its direct parent
        self.video = video  # a video frame's metadata; None for a still image (and a crop)

    @property
    def numpy(self) -> np.ndarray:
        """The pixels, H x W x 3 uint8 in BGR order (as OpenCV reads them)."""
        return self._numpy

    @property
    def numpy_image(self) -> np.ndarray:
        """The same pixels under the name Roboflow's block code reads them by
        (``WorkflowImageData.numpy_image``), so that code runs here unchanged."""
        return self._numpy

    @property
    def video_metadata(self) -> VideoMetadata:
        """The frame's place in its video; a still image's (or a crop's) as Roboflow gives
        it: frame 0 of a video of its own, read now, 30 fps."""
        if self.video is not None:
            return self.video
        return VideoMetadata(self.image_id, 0, datetime.datetime.now(), 30, None)

    @property
    def video_id(self) -> str | None:
        """The video this frame belongs to; None for a still image or a crop (state kept
        per video by stateful blocks is shared by a step's still images)."""
        return None if self.video is None else self.video.video_identifier

    @property
    def parent_metadata(self) -> ParentMetadata:
        """Roboflow's name for the image's own id (a crop's is its detection's id) and its
        place in its direct parent; as in Roboflow, an image that is no crop is at (0, 0)
        of itself, its own size. None only for a crop of a crop made without its place."""
        if self.parent_place is not None:
            return ParentMetadata(self.image_id, self.parent_place)
        root = self.origin
        if self.is_root or self.parent_id is None:
            return ParentMetadata(self.image_id, OriginCoordinates(0, 0, self.width, self.height))
        if self.parent_id == root.root_id:  # a crop of the root: its place there
            place = OriginCoordinates(
                root.offset_x, root.offset_y, root.root_width, root.root_height
            )
            return ParentMetadata(self.image_id, place)
        return ParentMetadata(self.image_id)

    @property
    def workflow_root_ancestor_metadata(self) -> ParentMetadata:
        """Roboflow's name for the root image's id and this image's place in it."""
        root = self.origin
        place = OriginCoordinates(root.offset_x, root.offset_y, root.root_width, root.root_height)
        return ParentMetadata(root.root_id, place)

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

    def with_pixels(self, pixels: np.ndarray) -> WorkflowImage:
        """The same image (ids, origin, place) showing other pixels of that region: drawn
        on, turned around, or converted."""
        image = _new_image(WorkflowImage)
        image._numpy = pixels
        image.image_id = self.image_id
        image.parent_id = self.parent_id
        image.origin = self.origin
        image.source = self.source
        image.parent_place = self.parent_place
        image.video = self.video
        return image

    def region(
        self, pixels: np.ndarray, x_min: int, y_min: int, image_id: str | None = None
    ) -> WorkflowImage:
        """An image made from a region of this one whose top-left is at (x_min, y_min) here.

        The pixels may be a crop, a warped or padded version of it: only the place counts.
        Made without an ``image_id`` (an operation's result: blurred, warped, drawn) it is
        still a frame of this image's video; a crop, given its own id, is a still image of
        its own, as in Roboflow's engine.
        """
        origin = self.origin
        if x_min or y_min:  # else at the very place of this image: its origin, shared
            root_id, offset_x, offset_y, root_width, root_height = origin
            origin = _new_tuple(
                ImageOrigin,
                (root_id, offset_x + x_min, offset_y + y_min, root_width, root_height),
            )
        shape = self._numpy.shape
        image = _new_image(WorkflowImage)
        image._numpy = pixels
        image.image_id = image_id or f"image-{next(_ids)}"
        image.video = self.video if image_id is None else None
        image.parent_id = self.image_id
        image.origin = origin
        image.source = None
        image.parent_place = _new_tuple(OriginCoordinates, (x_min, y_min, shape[1], shape[0]))
        return image

    def __repr__(self) -> str:
        return f"WorkflowImage(id={self.image_id!r}, {self.width}x{self.height})"


_UINT8 = np.dtype(np.uint8)


def load_image(value, *, place: str = "image", policy: ImagePolicy = LOCAL) -> WorkflowImage:
    """A WorkflowImage from pixels, encoded bytes, a file path, base64 or a URL.

    The value's form says what it is, never its length: a ``str`` or ``os.PathLike`` is a
    file path, unless the text is a ``data:`` URL; ``bytes`` are an encoded file's contents;
    ``{"type": "base64" | "file" | "url", "value": ...}`` says it outright. Files and URLs
    are read only as ``policy`` allows, and every image is held to its pixel limit (from
    the header, before decoding). Raises a ``RuntimeInputError`` (subclass) at ``place``.

    >>> load_image(np.zeros((2, 3), np.uint16)).numpy.shape
    (2, 3, 3)
    """
    if type(value) is np.ndarray and value.dtype is _UINT8 and value.ndim == 3:
        # the commonest input (OpenCV's BGR frame): taken as it is, as pixels_from_array
        # would take it, without its general checks
        height, width, channels = value.shape
        if channels == 3 and height and width and width * height <= policy.max_pixels:
            return WorkflowImage(value)
    if isinstance(value, WorkflowImage):
        pixels = value.numpy
        if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
            # made from other pixels (floats, gray, uint16): an array's rules, or a float
            # image finds nothing and a gray one fails inside a step
            return value.with_pixels(pixels_from_array(pixels, place, policy))
        check_pixels((value.width, value.height), place, policy)
        _check_not_empty(value.numpy.shape, place)
        return value
    if isinstance(value, np.ndarray):
        return WorkflowImage(pixels_from_array(value, place, policy))
    if isinstance(value, bytes | bytearray):
        return WorkflowImage(decode_bytes(bytes(value), place, policy))
    if isinstance(value, str) and value.startswith("data:"):
        return WorkflowImage(decode_bytes(base64_bytes(value, place), place, policy))
    if isinstance(value, str | os.PathLike):
        return _from_file(value, place, policy)
    if isinstance(value, dict) and isinstance(value.get("value"), str):
        kind, text = value.get("type", "base64"), value["value"]
        if kind == "base64":
            return WorkflowImage(decode_bytes(base64_bytes(text, place), place, policy))
        if kind == "file":
            return _from_file(text, place, policy)
        if kind == "url":
            return WorkflowImage(decode_bytes(url_bytes(text, place, policy), place, policy))
        raise RuntimeInputError(
            f"unknown image type {kind!r}", place=place, hint='use "base64", "file" or "url"'
        )
    if is_pil_image(value):
        return WorkflowImage(pixels_from_pil(value, place, policy))
    raise RuntimeInputError(
        f"expected an image, found {type(value).__name__}",
        place=place,
        hint="give pixels (numpy array), a PIL image, encoded bytes, a file path, or "
        '{"type": "base64", "value": ...}',
    )


CHANNEL_ORDERS = ("bgr", "rgb")


def is_pil_image(value: Any) -> bool:
    """Whether ``value`` is a Pillow image, without importing Pillow: its class or one it
    derives from is ``PIL.Image.Image`` (plugins outside Pillow, such as pillow-heif's
    images, derive from it too)."""
    return any(
        kind.__module__ == "PIL.Image" and kind.__name__ == "Image" for kind in type(value).__mro__
    )


def as_channel_order(value: Any, channel_order: str, place: str) -> Any:
    """``value`` (an image input: one value or a list) with its colour arrays in BGR, the
    order of every image inside visionflow; other forms (files, bytes, PIL images) say
    their own order and are left as they are ("RGB" is "rgb": both are written)."""
    if isinstance(channel_order, str):
        channel_order = channel_order.lower()
    if channel_order not in CHANNEL_ORDERS:
        raise RuntimeInputError(
            f"unknown channel order {channel_order!r}",
            place=place,
            hint="give channel_order='bgr' (OpenCV's arrays) or 'rgb' (Pillow's, matplotlib's)",
        )
    if channel_order == "bgr":
        return value
    if isinstance(value, list | tuple) and not hasattr(value, "_fields"):
        # a batch, as the engine takes one (a list, or a tuple that is no named record)
        return type(value)(as_channel_order(item, channel_order, place) for item in value)
    if isinstance(value, np.ndarray) and value.ndim in (3, 4) and value.shape[-1] in (3, 4):
        return np.ascontiguousarray(value[..., 2::-1])  # RGB(A) -> BGR, alpha dropped
    return value


def pixels_from_pil(picture: Any, place: str, policy: ImagePolicy = LOCAL) -> np.ndarray:
    """BGR pixels from a Pillow image: colour modes through RGB, gray and 16-bit or float
    gray by the array rules (``pixels_from_array``)."""
    check_pixels(picture.size, place, policy)
    if picture.mode in ("L", "I;16", "I;16B", "I;16L", "I", "F"):
        return pixels_from_array(np.asarray(picture), place, policy)
    if picture.mode not in ("RGB", "RGBA"):  # palette, CMYK, YCbCr, LAB, ...
        picture = picture.convert("RGB")
    return np.ascontiguousarray(np.asarray(picture)[:, :, 2::-1])


def _from_file(path: str | os.PathLike, place: str, policy: ImagePolicy) -> WorkflowImage:
    image = WorkflowImage(decode_bytes(file_bytes(path, place, policy), place, policy))
    image.source = os.fspath(path)
    return image


def pixels_from_array(array: np.ndarray, place: str, policy: ImagePolicy = LOCAL) -> np.ndarray:
    """H x W x 3 uint8 BGR pixels from an array given as an image.

    Gray (H x W, H x W x 1) is repeated to three channels and a fourth (alpha) dropped;
    uint8 is taken as is, uint16 scaled down (>> 8), floats in [0, 1] scaled to 0-255 (with a
    note in the log), other floats taken as 0-255 values (clipped with a warning when they
    go beyond), other integers taken when they lie in 0-255; anything else is refused, as
    are empty images and images over the policy's pixel limit.
    """
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise RuntimeInputError(
            f"expected an H x W x 3 (or gray H x W) image array, found shape {array.shape}",
            place=place,
        )
    _check_not_empty(array.shape, place)
    check_pixels((array.shape[1], array.shape[0]), place, policy)
    array = _as_uint8(array, place)
    if array.ndim == 2:
        return np.repeat(array[:, :, None], 3, axis=2)
    return array[:, :, :3] if array.shape[2] == 4 else array


def _check_not_empty(shape: tuple[int, ...], place: str) -> None:
    if shape[0] == 0 or shape[1] == 0:
        raise RuntimeInputError(
            f"the image is empty ({shape[1]}x{shape[0]} pixels)",
            place=place,
            hint="every image needs at least one pixel",
        )


def _floats_as_uint8(array: np.ndarray, place: str) -> np.ndarray:
    """Floats in [0, 1] are scaled to 0-255, floats up to 255 taken as 0-255 values, and
    floats beyond 0-255 clipped with a warning (a filter's overshoot, most often); NaN and
    infinities are no pixels at all."""
    low, high = float(array.min()), float(array.max())
    if not (np.isfinite(low) and np.isfinite(high)):
        raise RuntimeInputError(
            f"float pixels must be finite numbers; found values from {low} to {high}",
            place=place,
            hint="replace NaN and infinite values (np.nan_to_num), or give uint8 pixels",
        )
    if low >= 0.0 and high <= 1.0:
        _log.info("%s: float pixels in [0, 1] scaled to 0-255", place)
        return np.rint(array * 255.0).astype(np.uint8)
    if low < 0.0 or high > 255.0:
        _log.warning(
            "%s: float pixels from %g to %g lie outside 0-255; clipped to 0-255", place, low, high
        )
        array = np.clip(array, 0.0, 255.0)
    return np.rint(array).astype(np.uint8)


def _as_uint8(array: np.ndarray, place: str) -> np.ndarray:
    kind = array.dtype.kind
    if array.dtype == np.uint8:
        return array
    if kind == "u" and array.dtype.itemsize == 2:  # 16-bit images (PNG, TIFF): the top 8 bits
        return (array >> 8).astype(np.uint8)
    if kind == "f":
        return _floats_as_uint8(array, place)
    if kind in "iu":
        low, high = int(array.min()), int(array.max())
        if low >= 0 and high <= 255:
            return array.astype(np.uint8)
        raise RuntimeInputError(
            f"{array.dtype} pixels must lie in 0-255; found values from {low} to {high}",
            place=place,
            hint="give uint8 (0-255) or uint16 pixels, or floats in [0, 1]",
        )
    raise RuntimeInputError(
        f"an array of {array.dtype} values is not an image",
        place=place,
        hint="give uint8 (0-255) or uint16 pixels, or floats in [0, 1]",
    )
