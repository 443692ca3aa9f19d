"""``visionflow run --save-images DIR``: each image output written to a file, its path in
the JSON instead of the base64.

A file is named ``<element>_<output>[_<index>...].jpg`` (``datasets.files.image_file_name``,
as ``run-dataset`` names its image outputs): ``<element>`` is the stem of the image file
the input element came from (``photo.jpg`` -> ``photo``; ``stdin`` for ``-``, the last part
of a URL's path, ``image`` for a ``data:`` URL), ``-<position>`` added where two elements
would share one (more where that is another element's name); the output's name; then
each list position (and dict key) inside the output. Elements not given as images (a
workflow without an image input) are named by their position, from 0. The bytes
are the JPEG the JSON would carry, unchanged.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

from visionflow.datasets.files import IMAGE_SUFFIXES, images_to_files, safe_name


def save_images(results: list[Any], folder: Path, names: list[str]) -> list[Any]:
    """``results`` (one per input element, serialised) with their images written into
    ``folder`` and replaced by ``{"type": "file", "path": ...}``; a file that cannot be
    written (no permission, a name too long for the file system) is an error naming it."""
    from visionflow.errors import WorkflowError

    try:
        return [
            images_to_files(result, folder, name)
            for result, name in zip(results, names, strict=True)
        ]
    except OSError as error:
        raise WorkflowError(
            f"could not write an image into '{folder}': {error.strerror or error}"
            + (f" ({error.filename})" if error.filename else ""),
            place="--save-images",
            hint="give a folder this user may write to (names come from the inputs' and "
            "outputs' names)",
        ) from None


def element_names(workflow: Path, dialect: str | None, pairs: list[str], count: int) -> list[str]:
    """The names of ``count`` input elements, from the images given as ``--input`` pairs
    (the first image input of the workflow that is given); positions when they do not
    number ``count``."""
    images = _image_inputs(workflow, dialect)
    given: dict[str, list[str]] = {}
    for pair in pairs:
        name, _, text = pair.partition("=")
        if name in images if images is not None else _looks_like_image(text):
            given.setdefault(name, []).extend(_names_of(text))
    # the first image input as the workflow declares them, whatever order they were given in
    order = images if images is not None else list(given)
    found = next((given[name] for name in order if given.get(name)), [])
    if len(found) != count:
        return [str(position) for position in range(count)]
    return _unique(found)


def _unique(names: list[str]) -> list[str]:
    """Each name shared by several elements gets ``-<position>``, and more (``-<position>-2``,
    ...) where that is already another element's name (``photo-1.jpg`` beside ``photo.jpg``
    and ``photo.png``): no two elements write the same file."""
    repeated = {name for name, times in Counter(names).items() if times > 1}
    used = {name for name in names if name not in repeated}
    unique = []
    for position, name in enumerate(names):
        if name in repeated:
            made, more = f"{name}-{position}", 1
            while made in used:
                more += 1
                made = f"{name}-{position}-{more}"
            name = made
        used.add(name)
        unique.append(name)
    return unique


def _image_inputs(workflow: Path, dialect: str | None) -> list[str] | None:
    """The workflow's image inputs; None for a workflow registered on a server (no file)."""
    if not Path(workflow).is_file():
        return None
    from visionflow.dialects import to_definition

    return [i.name for i in to_definition(workflow, dialect).inputs if i.type == "image"]


def _looks_like_image(text: str) -> bool:
    return (
        text == "-"
        or text.startswith(("data:", "http://", "https://"))
        or os.path.isdir(text)
        or Path(text).suffix.lower() in IMAGE_SUFFIXES
    )


def _names_of(text: str) -> list[str]:
    """The element names one image value gives (a folder or glob: one per image)."""
    if text == "-":
        return ["stdin"]
    if text.startswith("data:"):
        return ["image"]
    if text.startswith(("http://", "https://")):
        return [_safe(PurePosixPath(urlparse(text).path).stem or "url")]
    if os.path.isdir(text) or (any(c in text for c in "*?[") and not os.path.exists(text)):
        from visionflow.data.sources import image_paths  # as --input expands them

        return [_safe(Path(path).stem) for path in image_paths(text)]
    return [_safe(Path(text).stem)]


def _safe(name: str) -> str:
    return safe_name(name) or "image"
