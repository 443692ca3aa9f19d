"""Small previews of an image dataset for its card: a few of its pictures, downscaled and
embedded as JPEG data URLs, so the page stays one file that needs nothing else.

Only files that exist now are shown; one that cannot be read is skipped, and a folder
without pictures has no preview.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
SIDE = 64  # pixels of the longer side, twice the drawn size: sharp on dense screens
QUALITY = 70
MAX_BYTES = 12_000  # a larger thumbnail (noise compresses badly) is left out
MAX_SOURCE_BYTES = 64 * 2**20  # a bigger file is not decoded for a preview
SCANNED = 2_000  # folder entries looked at, at most: a huge dataset costs no more


def folder_images(folder: Path) -> Iterator[Path]:
    """The folder's pictures, in name order, subfolders after the files beside them."""
    seen = 0
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            seen += 1
            if seen > SCANNED:
                return
            if Path(name).suffix.lower() in IMAGE_SUFFIXES:
                yield Path(root) / name


def version_images(folder: Path, paths: Iterable[str]) -> Iterator[Path]:
    """The pictures of a version (its relative paths) that are still in the folder."""
    for path in paths:
        if Path(path).suffix.lower() in IMAGE_SUFFIXES:
            yield folder / path


def data_urls(images: Iterable[Path], count: int) -> list[str]:
    """Up to ``count`` data URLs, from the first pictures that can be read."""
    found: list[str] = []
    for image in images:
        if len(found) >= count:
            break
        url = thumbnail(image)
        if url is not None:
            found.append(url)
    return found


def thumbnail(image: Path) -> str | None:
    """The picture as a small JPEG data URL; None if it is gone, too big or unreadable."""
    try:
        if not image.is_file() or image.stat().st_size > MAX_SOURCE_BYTES:
            return None
        raw = np.fromfile(image, dtype=np.uint8)  # any file name, unlike cv2.imread
    except OSError:
        return None
    pixels = cv2.imdecode(raw, cv2.IMREAD_COLOR) if raw.size else None
    if pixels is None:
        return None
    height, width = pixels.shape[:2]
    scale = SIDE / max(height, width)
    if scale < 1:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
    done, jpeg = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, QUALITY])
    if not done or jpeg.size > MAX_BYTES:
        return None
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode("ascii")
