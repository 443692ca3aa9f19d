"""Request inputs -> ``Workflow.run`` inputs: images decoded here, within the operator's limits.

An image is base64 (a string, a data URL or ``{"type": "base64", "value": ...}``) or an
uploaded file; ``{"type": "url"}`` and ``{"type": "file"}`` only where the operator allowed
them. Images reach the engine as pixel arrays, so a string is never read as a path on the
server. Other inputs pass through as JSON values; the engine checks their kinds.
"""

from __future__ import annotations

import binascii
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from visionflow.errors import RuntimeInputError
from visionflow.server.errors import (
    BatchTooLargeError,
    ImageTooLargeError,
    InputSourceNotAllowedError,
)
from visionflow.server.settings import ServerSettings


@dataclass(frozen=True)
class InputLimits:
    max_image_pixels: int
    max_batch_size: int
    max_image_bytes: int
    allow_urls: bool
    allowed_paths: tuple[Path, ...]
    url_timeout_seconds: float

    @classmethod
    def of(cls, settings: ServerSettings) -> InputLimits:
        return cls(
            settings.max_image_pixels,
            settings.max_batch_size,
            settings.max_request_bytes,
            settings.allow_urls,
            tuple(path.resolve() for path in settings.allowed_paths),
            settings.url_timeout_seconds,
        )


def decode_inputs(
    declared: dict[str, dict[str, Any]],
    given: dict[str, Any],
    uploads: dict[str, list[bytes]],
    limits: InputLimits,
) -> dict[str, Any]:
    """The inputs ready for ``Workflow.run``; ``declared`` is ``Workflow.inputs``."""
    values = dict(given)
    for name, files in uploads.items():
        if name in values:
            raise RuntimeInputError(
                f"input '{name}' is given twice: in the JSON and as an uploaded file",
                place=f"inputs '{name}'",
            )
        if declared.get(name, {}).get("type") != "image":
            raise RuntimeInputError(
                f"uploaded file '{name}' does not name an image input of this workflow",
                place=f"inputs '{name}'",
                hint="images: "
                + (", ".join(n for n, i in declared.items() if i["type"] == "image") or "none"),
            )
        values[name] = files if len(files) > 1 else files[0]
    for name, item in declared.items():
        if name not in values or item["type"] == "parameter":
            continue
        _check_batch_size(name, values[name], item["dimensionality"], limits)
        if item["type"] == "image":
            values[name] = _images(values[name], item["dimensionality"], f"inputs '{name}'", limits)
    return values


def _check_batch_size(name: str, value: Any, levels: int, limits: InputLimits) -> None:
    size = _elements(value, levels)
    if size > limits.max_batch_size:
        raise BatchTooLargeError(
            f"input '{name}' has {size} elements; this server takes at most "
            f"{limits.max_batch_size} per request",
            place=f"inputs '{name}'",
            hint="split the batch over several requests",
        )


def _elements(value: Any, levels: int) -> int:
    """The elements of a batch input: the leaves of its nested lists, ``levels`` deep."""
    if not isinstance(value, list) or levels < 1:
        return 1
    return sum(_elements(item, levels - 1) for item in value)


def _images(value: Any, levels: int, place: str, limits: InputLimits) -> Any:
    if isinstance(value, list):
        if levels < 1:
            raise RuntimeInputError(f"expected an image, found a list at {place}", place=place)
        return [_images(item, levels - 1, f"{place}[{n}]", limits) for n, item in enumerate(value)]
    return decode_image(value, place, limits)


def decode_image(value: Any, place: str, limits: InputLimits) -> np.ndarray:
    """BGR pixels from one image value of a request."""
    if isinstance(value, bytes):
        return _pixels(value, place, limits)
    if isinstance(value, str):
        return _pixels(_base64(value, place), place, limits)
    if isinstance(value, dict) and isinstance(value.get("value"), str):
        kind = value.get("type", "base64")
        if kind == "base64":
            return _pixels(_base64(value["value"], place), place, limits)
        if kind == "url":
            return _pixels(_download(value["value"], place, limits), place, limits)
        if kind == "file":
            return _pixels(_read_allowed(value["value"], place, limits), place, limits)
        raise RuntimeInputError(
            f"unknown image type '{kind}'", place=place, hint='use "base64", "url" or "file"'
        )
    raise RuntimeInputError(
        f"expected an image, found {type(value).__name__}",
        place=place,
        hint='give base64 text, {"type": "base64", "value": ...}, or upload the file',
    )


def _base64(text: str, place: str) -> bytes:
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError) as error:
        raise RuntimeInputError(
            f"not valid base64 ({error})", place=place, hint=_TEXT_HINT
        ) from None


_TEXT_HINT = (
    'a text image value is read as base64, never as a path or URL: send {"type": "url", '
    '"value": ...} or {"type": "file", "value": ...} where the server allows them'
)


# The formats served, by their first bytes: each one's header gives the size before
# decoding; OpenCV decodes others too (Radiance HDR, PFM, ...) whose size nobody checks first.
_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
}
_FORMATS_HINT = "send PNG, JPEG, BMP, TIFF, WebP or GIF bytes"


def _pixels(data: bytes, place: str, limits: InputLimits) -> np.ndarray:
    import cv2

    _check_pixels(_header_size(data, place), place, limits)
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if pixels is None:
        raise RuntimeInputError(
            f"the {len(data)} bytes are not a decodable image (corrupt or unknown format)",
            place=place,
            hint=_FORMATS_HINT,
        )
    _check_pixels((pixels.shape[1], pixels.shape[0]), place, limits)
    return pixels


def _format_of(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return next((name for magic, name in _MAGIC.items() if data.startswith(magic)), None)


def _header_size(data: bytes, place: str) -> tuple[int, int]:
    """Width and height from the file's header, before decoding: a small file can hold a
    huge image (a decompression bomb), and decoding it would take the memory first."""
    from PIL import Image

    if not data:
        raise RuntimeInputError("the image is empty (0 bytes)", place=place, hint=_FORMATS_HINT)
    found = _format_of(data)
    if found is None:
        raise RuntimeInputError(
            f"the {len(data)} bytes are not an image in a format this server reads",
            place=place,
            hint=_FORMATS_HINT,
        )
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Image.DecompressionBombError:
        raise ImageTooLargeError(
            "the image is far larger than this server takes", place=place
        ) from None
    except Exception:  # without its size, decoding it could take any memory
        raise RuntimeInputError(
            f"the size of this {found} image cannot be read from its header (a corrupt or "
            "truncated file)",
            place=place,
            hint=_FORMATS_HINT,
        ) from None


def _check_pixels(size: tuple[int, int], place: str, limits: InputLimits) -> None:
    if size[0] * size[1] <= limits.max_image_pixels:
        return
    raise ImageTooLargeError(
        f"the image is {size[0]}x{size[1]} ({size[0] * size[1]:,} pixels); this server takes "
        f"at most {limits.max_image_pixels:,} pixels per image",
        place=place,
        hint="send a smaller (resized) image",
    )


def _download(url: str, place: str, limits: InputLimits) -> bytes:
    if not limits.allow_urls:
        raise InputSourceNotAllowedError(
            "this server does not download images from URLs",
            place=place,
            hint="send the image as base64 or upload it (or start the server with --allow-urls)",
        )
    if not url.startswith(("http://", "https://")):
        raise RuntimeInputError(f"not an http(s) URL: {url!r}", place=place)
    import httpx

    try:
        with httpx.stream("GET", url, timeout=limits.url_timeout_seconds) as response:
            response.raise_for_status()
            data = bytearray()
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > limits.max_image_bytes:
                    raise ImageTooLargeError(
                        f"the image at {url} is more than {limits.max_image_bytes:,} bytes",
                        place=place,
                    )
            return bytes(data)
    except httpx.HTTPError as error:
        raise RuntimeInputError(
            f"could not download {url}: {type(error).__name__}: {error}", place=place
        ) from None


def _read_allowed(text: str, place: str, limits: InputLimits) -> bytes:
    path = Path(text).resolve()  # symlinks and '..' resolved before the check
    if not any(path.is_relative_to(root) for root in limits.allowed_paths):
        raise InputSourceNotAllowedError(
            f"this server does not read '{text}'",
            place=place,
            hint="server-side files are read only inside the folders given with --allow-files"
            if limits.allowed_paths
            else "send the image as base64 or upload it (or start the server with --allow-files)",
        )
    if not path.is_file():
        raise RuntimeInputError(f"no image file at '{text}'", place=place)
    if path.stat().st_size > limits.max_image_bytes:
        raise ImageTooLargeError(
            f"'{text}' is more than {limits.max_image_bytes:,} bytes", place=place
        )
    return path.read_bytes()
