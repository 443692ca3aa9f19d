"""The files of a dataset run: images found, predictions written atomically."""

from __future__ import annotations

import base64
import json
import os
import tempfile
from pathlib import Path
from typing import Any

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
PARTIAL_PREFIX = ".partial-"
INPUT_FILES = "input-files.json"


def image_files(folder: Path) -> list[str]:
    """Every image under ``folder``, as sorted relative paths (the order of the run); a
    symlink to an image is that image, as in the dataset's version."""
    found = (p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    return sorted(p.relative_to(folder).as_posix() for p in found)


def changes(before: dict[str, str], now: dict[str, str], shown: int = 3) -> str:
    """How a folder's files (path -> content hash) changed, naming a few of each kind."""
    found = {
        "added": sorted(now.keys() - before.keys()),
        "removed": sorted(before.keys() - now.keys()),
        "changed": sorted(n for n in now.keys() & before.keys() if now[n] != before[n]),
    }
    parts = []
    for what, names in found.items():
        if names:
            more = f" and {len(names) - shown} more" if len(names) > shown else ""
            parts.append(f"{len(names)} {what} ({', '.join(names[:shown])}{more})")
    return "; ".join(parts) or "its content differs"


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` so that ``path`` holds either nothing or all of it, even after a kill."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=path.parent, prefix=PARTIAL_PREFIX)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except BaseException:
        if os.path.exists(partial):
            os.unlink(partial)
        raise


def write_json(path: Path, value: Any) -> None:
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n"
    write_atomically(path, text.encode("utf-8"))


def remove_partial_files(folder: Path) -> int:
    """Leftovers of a killed run (never complete files); how many were removed."""
    leftovers = list(folder.rglob(f"{PARTIAL_PREFIX}*")) if folder.is_dir() else []
    for leftover in leftovers:
        leftover.unlink()
    return len(leftovers)


def images_to_files(value: Any, output: Path, stem: str) -> Any:
    """Serialised results with each base64 image written to a JPEG beside the predictions
    and replaced by its relative path (a dataset run's JSON stays small)."""
    counter = iter(range(1_000_000))

    def walk(item: Any, name: str) -> Any:
        if isinstance(item, list):
            return [walk(element, name) for element in item]
        if not isinstance(item, dict):
            return item
        if item.get("type") == "base64" and isinstance(item.get("value"), str):
            relative = f"images/{stem}.{name}.{next(counter)}.jpg"
            write_atomically(output / relative, base64.b64decode(item["value"]))
            return {
                **{k: v for k, v in item.items() if k != "value"},
                "type": "file",
                "path": relative,
            }
        return {
            key: walk(element, f"{name}.{key}" if name else key) for key, element in item.items()
        }

    return walk(value, "")
