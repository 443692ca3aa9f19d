"""Request inputs -> ``Workflow.run`` inputs: images decoded here, within the operator's limits.

An image is base64 (a string, a data URL or ``{"type": "base64", "value": ...}``) or an
uploaded file; ``{"type": "url"}`` and ``{"type": "file"}`` only where the operator allowed
them. Images reach the engine as pixel arrays, so a request's string is never read as a
path on the server. The reading itself, the header check before decoding and the rules on
files and URLs are the engine's (``data/sources.py``), under the server's ``ImagePolicy``,
which documents compiled here also get: an image input's ``default_value`` (or a value a
model is called on) is held to the same rules. Other inputs pass through as JSON values;
the engine checks their kinds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from visionflow.data.image import load_image
from visionflow.data.sources import ImagePolicy, base64_bytes
from visionflow.errors import RuntimeInputError
from visionflow.server.errors import BatchTooLargeError
from visionflow.server.settings import ServerSettings


def image_policy(settings: ServerSettings) -> ImagePolicy:
    """What images the server reads: for requests and for the documents it compiles."""
    return ImagePolicy(
        max_pixels=settings.max_image_pixels,
        folders=tuple(path.resolve() for path in settings.allowed_paths),
        allow_urls=settings.allow_urls,
        max_bytes=settings.max_request_bytes,
        url_timeout_seconds=settings.url_timeout_seconds,
        who="this server",
        switches=(
            ("files", "the operator can allow a folder with --allow-files DIR"),
            ("urls", "the operator can allow downloads with --allow-urls"),
        ),
    )


@dataclass(frozen=True)
class InputLimits:
    max_batch_size: int
    images: ImagePolicy

    @classmethod
    def of(cls, settings: ServerSettings) -> InputLimits:
        return cls(settings.max_batch_size, image_policy(settings))


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


_TEXT_HINT = (
    'a text image value is read as base64, never as a path or URL: send {"type": "url", '
    '"value": ...} or {"type": "file", "value": ...} where the server allows them'
)


def decode_image(value: Any, place: str, limits: InputLimits) -> np.ndarray:
    """BGR pixels from one image value of a request."""
    if isinstance(value, str):  # a request's text is base64, never a path on the server
        value = base64_bytes(value, place, hint=_TEXT_HINT)
    if not isinstance(value, bytes | dict):
        raise RuntimeInputError(
            f"expected an image, found {type(value).__name__}",
            place=place,
            hint='give base64 text, {"type": "base64", "value": ...}, or upload the file',
        )
    return load_image(value, place=place, policy=limits.images).numpy
