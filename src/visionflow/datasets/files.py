"""The files of a dataset run: images found, predictions written atomically."""

from __future__ import annotations

import base64
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from visionflow.data.sources import IMAGE_SUFFIXES  # one list: what `run -i DIR` reads too

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


def images_to_files(value: Any, folder: Path, element: str, shown_from: Path | None = None) -> Any:
    """Serialised results of one input element with each base64 image written to a JPEG
    file in ``folder`` (named by ``image_file_name``) and replaced by its path: relative to
    ``shown_from`` if given, else as ``folder`` is written. The JSON then stays small."""

    def walk(item: Any, parts: tuple[str | int, ...]) -> Any:
        if isinstance(item, list):
            return [walk(child, (*parts, i)) for i, child in enumerate(item)]
        if not isinstance(item, dict):
            return item
        if item.get("type") == "base64" and isinstance(item.get("value"), str):
            path = folder / image_file_name(element, parts)
            write_atomically(path, base64.b64decode(item["value"]))  # the JPEG bytes as sent
            shown = path.relative_to(shown_from) if shown_from is not None else path
            return {
                **{k: v for k, v in item.items() if k != "value"},
                "type": "file",
                "path": shown.as_posix(),
            }
        return {key: walk(child, (*parts, key)) for key, child in item.items()}

    return walk(value, ())


def image_file_name(element: str, parts: tuple[str | int, ...]) -> str:
    """``<element>_<output>[_<index or key>...].jpg``: the input element, then the path of
    the image inside its results (the output's name, then list positions and dict keys),
    e.g. ``astronaut_annotated.jpg``, ``astronaut_crops_0.jpg``. Characters other than
    letters, digits, ``.`` and ``-`` in a name become ``-`` (no folders made by a name)."""
    return "_".join([element, *(safe_name(str(part)) for part in parts)]) + ".jpg"


def safe_name(text: str) -> str:
    """``text`` usable as (part of) a file name: other characters than letters, digits,
    ``_``, ``.`` and ``-`` become ``-``."""
    return _UNSAFE.sub("-", text)


_UNSAFE = re.compile(r"[^\w.-]+")
