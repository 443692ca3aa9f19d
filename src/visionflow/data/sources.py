"""Where image bytes may come from, and how large an image may be: ``ImagePolicy``.

Every image that is not already pixels — a request's upload or base64, a file path, a URL,
an image input's ``default_value`` written in a document — is read here, under the policy
of whoever compiled the workflow: a local run reads any file; a server reads only the
folders (and URLs) its operator allowed, and refuses a path it may not read with the same
words whether or not the file exists. The size is read from the header first: a small
file can hold a huge image, and decoding it would take the memory before any check.
"""

from __future__ import annotations

import binascii
import glob
import io
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from visionflow.errors import ImageTooLargeError, InputSourceNotAllowedError, RuntimeInputError

DEFAULT_MAX_PIXELS = 100_000_000
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"}
    | {".pbm", ".pgm", ".ppm", ".pnm", ".jp2", ".j2k", ".ras", ".sr"}
)
"""The files a folder or glob of images is read as (its other files are skipped): every
format the header check reads (``_MAGIC``), so a folder takes what a single file does."""


def image_paths(spec: str) -> list[str]:
    """The image files a folder, glob pattern or single file names, in natural order
    (``frame2`` before ``frame10``); the folder's own files only, not its subfolders'."""
    if os.path.isdir(spec):
        names = (os.path.join(spec, name) for name in os.listdir(spec))
    elif os.path.isfile(spec):
        names = iter([spec])
    else:
        names = glob.iglob(spec)
    images = (p for p in names if os.path.isfile(p) and Path(p).suffix.lower() in IMAGE_SUFFIXES)
    return sorted(images, key=_natural_key)


def _natural_key(path: str) -> list:
    # isdecimal, not isdigit: "²" is a digit that int() refuses (and \d does not match)
    return [int(part) if part.isdecimal() else part for part in re.split(r"(\d+)", path)]


@dataclass(frozen=True)
class ImagePolicy:
    """What image sources a workflow may read, and the largest image it takes.

    >>> ImagePolicy(folders=()).folders   # no files at all (a server without --allow-files)
    ()
    >>> policy = ImagePolicy(max_pixels=4_000_000, folders=(Path("photos"),))  # photos/ only
    >>> Workflow.compile("workflow.yaml", image_policy=policy)  # doctest: +SKIP
    """

    max_pixels: int = DEFAULT_MAX_PIXELS
    """Largest image (width x height), checked from the header before decoding."""
    folders: tuple[Path, ...] | None = None
    """None: any file this process can read (a local user); else only files inside these
    folders (none when empty), resolved when the policy is made."""
    allow_urls: bool = False
    """``{"type": "url", "value": "http(s)://..."}`` images are downloaded."""
    max_bytes: int | None = None
    """Largest file or download, in bytes (None: no limit)."""
    url_timeout_seconds: float = 10.0
    who: str = "this workflow"
    """How errors name who refuses ("this server")."""
    switches: tuple[tuple[str, str], ...] = (
        ("files", "compile with image_policy=ImagePolicy(folders=...)"),
        ("urls", "compile with image_policy=ImagePolicy(allow_urls=True)"),
        ("pixels", "compile with image_policy=ImagePolicy(max_pixels=...)"),
    )
    """What raises each limit, named in hints: ("files" | "urls" | "pixels", how)."""

    def __post_init__(self) -> None:
        if self.max_pixels < 1:
            raise ValueError(f"max_pixels must be at least 1, found {self.max_pixels}")
        if self.folders is not None:
            # a file's path is resolved before the check, so the folders must be too (a
            # relative folder would refuse every file); a tuple, for the plan cache's key
            resolved = tuple(Path(folder).resolve() for folder in self.folders)
            object.__setattr__(self, "folders", resolved)

    def _how(self, what: str) -> str:
        return dict(self.switches).get(what, "")


LOCAL = ImagePolicy()
"""The default of in-process runs: any readable file, no downloads, 100 megapixels."""


# The formats read, by their first bytes: each one's header gives the size before decoding;
# OpenCV decodes others too (Radiance HDR, PFM, ...) whose size nobody checks first.
_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"\x00\x00\x00\x0cjP  \r\n\x87\n": "JPEG 2000",
    b"\xff\x4f\xff\x51": "JPEG 2000",  # a bare codestream (.j2k)
    b"\x59\xa6\x6a\x95": "Sun raster",
    **{f"P{n}".encode(): "PNM" for n in range(1, 7)},  # PBM, PGM, PPM (text and binary)
}
FORMATS_HINT = "send PNG, JPEG, BMP, TIFF, WebP, GIF, PNM, JPEG 2000 or Sun raster bytes"
_PILLOW_FORMATS = {name: name.upper() for name in ("PNG", "JPEG", "BMP", "TIFF", "GIF", "WebP")}
_PILLOW_FORMATS.update({"JPEG 2000": "JPEG2000", "Sun raster": "SUN", "PNM": "PPM"})
"""Each format's name in Pillow's registry of readers (``Image.OPEN``)."""


def decode_bytes(data: bytes, place: str, policy: ImagePolicy) -> np.ndarray:
    """BGR pixels from an encoded image, its size checked from the header first."""
    import cv2

    check_pixels(header_size(data, place, policy), place, policy)
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if pixels is None:
        raise RuntimeInputError(
            f"the {len(data)} bytes are not a decodable image (corrupt or unknown format)",
            place=place,
            hint=FORMATS_HINT,
        )
    check_pixels((pixels.shape[1], pixels.shape[0]), place, policy)
    return pixels


def format_of(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return next((name for magic, name in _MAGIC.items() if data.startswith(magic)), None)


def header_size(data: bytes, place: str, policy: ImagePolicy) -> tuple[int, int]:
    """Width and height from the image's header, without decoding the pixels."""
    from PIL import Image

    if not data:
        raise RuntimeInputError("the image is empty (0 bytes)", place=place, hint=FORMATS_HINT)
    found = format_of(data)
    if found is None:
        raise RuntimeInputError(
            f"the {len(data)} bytes are not an image in a format {policy.who} reads",
            place=place,
            hint=FORMATS_HINT,
        )
    Image.init()  # every plugin registered (once)
    # the format's own reader, not Image.open: that one also holds every image to Pillow's
    # global bound (a warning from 89, refused from 179 megapixels) and the policy's limit,
    # checked next, may be larger; the reader is the format OpenCV will decode, too
    read_header = Image.OPEN[_PILLOW_FORMATS[found]][0]
    try:
        with read_header(io.BytesIO(data), "") as image:
            return image.size
    except Image.DecompressionBombError:  # a GIF frame past the screen checks it still
        raise ImageTooLargeError(
            f"the image is far larger than {policy.who} takes (at most "
            f"{policy.max_pixels:,} pixels per image)",
            place=place,
            hint=policy._how("pixels") or None,
        ) from None
    except Exception:  # without its size, decoding it could take any memory
        raise RuntimeInputError(
            f"the size of this {found} image cannot be read from its header (a corrupt or "
            "truncated file)",
            place=place,
            hint=FORMATS_HINT,
        ) from None


def check_pixels(size: tuple[int, int], place: str, policy: ImagePolicy) -> None:
    width, height = size
    if width * height <= policy.max_pixels:
        return
    how = policy._how("pixels")
    raise ImageTooLargeError(
        f"the image is {width}x{height} ({width * height:,} pixels); {policy.who} takes at "
        f"most {policy.max_pixels:,} pixels per image",
        place=place,
        hint="give a smaller (resized) image" + (f", or {how}" if how else ""),
    )


def base64_bytes(text: str, place: str, hint: str | None = None) -> bytes:
    """The bytes of base64 text, or of a ``data:`` URL's payload; ``hint`` for the error."""
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError) as error:
        raise RuntimeInputError(f"not valid base64 ({error})", place=place, hint=hint) from None


def file_bytes(text: str | os.PathLike, place: str, policy: ImagePolicy) -> bytes:
    """A file's bytes, if the policy lets this workflow read it."""
    shown = _shown(os.fspath(text))
    path = Path(text)
    if policy.folders is not None and not _inside(path, policy.folders):
        # the same words whether or not the file exists: a refusal tells nothing
        how = policy._how("files")
        raise InputSourceNotAllowedError(
            f"{policy.who} does not read the file '{shown}'",
            place=place,
            hint="give the image itself (pixels, bytes or base64)" + (f", or {how}" if how else ""),
        )
    try:
        if not path.is_file():
            raise RuntimeInputError(f"no image file at '{shown}'", place=place)
        if policy.max_bytes is not None and path.stat().st_size > policy.max_bytes:
            raise ImageTooLargeError(
                f"'{shown}' is more than {policy.max_bytes:,} bytes", place=place
            )
        return path.read_bytes()
    except (OSError, ValueError) as error:  # a name too long, no permission, a NUL byte
        reason = getattr(error, "strerror", None) or str(error)
        raise RuntimeInputError(f"cannot read the file '{shown}': {reason}", place=place) from None


def _inside(path: Path, folders: tuple[Path, ...]) -> bool:
    try:
        resolved = path.resolve()  # symlinks and '..' resolved before the check
    except (OSError, ValueError, RuntimeError):  # a NUL byte; a symlink loop (RuntimeError
        return False  # before Python 3.13): refused like any other path, never a 500
    return any(resolved.is_relative_to(folder) for folder in folders)


def _shown(text: str) -> str:
    """The text as an error message can carry it (a lone surrogate cannot be encoded), and
    short: base64 taken for a path would otherwise fill the message with megabytes."""
    text = text if len(text) <= _SHOWN else f"{text[: _SHOWN - 3]}..."
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


_SHOWN = 200


def url_bytes(url: str, place: str, policy: ImagePolicy) -> bytes:
    """A downloaded image's bytes, if the policy allows downloads (at most ``max_bytes``)."""
    if not policy.allow_urls:
        how = policy._how("urls")
        raise InputSourceNotAllowedError(
            f"{policy.who} does not download images from URLs",
            place=place,
            hint="give the image itself (pixels, bytes or base64)" + (f", or {how}" if how else ""),
        )
    if not url.startswith(("http://", "https://")):
        raise RuntimeInputError(f"not an http(s) URL: {_shown(repr(url))}", place=place)
    import httpx

    # httpx's timeout bounds each read: a server trickling bytes would never meet it
    give_up_at = time.monotonic() + policy.url_timeout_seconds
    try:
        with httpx.stream("GET", url, timeout=policy.url_timeout_seconds) as response:
            response.raise_for_status()
            data = bytearray()
            for chunk in response.iter_bytes():
                data += chunk
                if policy.max_bytes is not None and len(data) > policy.max_bytes:
                    raise ImageTooLargeError(
                        f"the image at {_shown(url)} is more than {policy.max_bytes:,} bytes",
                        place=place,
                    )
                if time.monotonic() > give_up_at:
                    raise RuntimeInputError(
                        f"could not download {_shown(url)} within {policy.url_timeout_seconds:g} s",
                        place=place,
                    )
            return bytes(data)
    except httpx.HTTPError as error:
        raise RuntimeInputError(
            f"could not download {_shown(url)}: {type(error).__name__}: {error}", place=place
        ) from None
