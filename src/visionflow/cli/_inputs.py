"""From ``--input NAME=VALUE`` pairs to ``Workflow.run`` inputs, and results back to text."""

from __future__ import annotations

import base64
import os
import sys
from typing import Any, BinaryIO

import typer

_JSON_WORDS = {"true": True, "false": False, "null": None}


def runtime_inputs(declared: dict[str, dict[str, Any]], pairs: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` pairs as ``run()`` inputs; a name given several times is a batch.

    ``declared`` is ``Workflow.inputs``. An image's text is a file path (the engine reads
    it), a folder or glob pattern (its images, a batch), ``-`` (the bytes on stdin), an
    http(s) URL (downloaded only where allowed), or a ``data:`` URL for base64; never
    decided by the text's length.
    """
    from visionflow.errors import RuntimeInputError

    given: dict[str, list[Any]] = {}
    stdin = _OnceStdin()
    for pair in pairs:
        name, separator, text = pair.partition("=")
        if not separator or not name:
            raise typer.BadParameter(f"expected NAME=VALUE, found {pair!r}", param_hint="--input")
        if name not in declared:
            listing = ", ".join(f"{known} ({item['type']})" for known, item in declared.items())
            raise RuntimeInputError(
                f"unknown input '{name}'",
                place="--input",
                hint=f"this workflow's inputs are: {listing or 'none'}",
            )
        item = declared[name]
        if item["type"] == "image":
            given.setdefault(name, []).extend(image_values(name, text, stdin))
        else:
            given.setdefault(name, []).append(input_value(text, frozenset(item["kinds"])))
    for name, item in declared.items():  # said in the command line's words, not run()'s
        if name not in given and not item["has_default"]:
            example = "photo.jpg" if item["type"] == "image" else "VALUE"
            raise RuntimeInputError(
                f"missing {'parameter' if item['type'] == 'parameter' else 'input'} '{name}'",
                place="--input",
                hint=f"give it: --input {name}={example}",
            )
    for name, values in given.items():
        if declared[name]["type"] == "parameter" and len(values) > 1:
            raise RuntimeInputError(
                f"parameter '{name}' is given {len(values)} times; a parameter has one value",
                place="--input",
                hint=f"to pass a list, give it once: --input '{name}=[1, 2]'",
            )
    return {name: values if len(values) > 1 else values[0] for name, values in given.items()}


def command_line_policy(allow_urls: bool, max_pixels: int) -> Any:
    """The image policy of a local run: any readable file, downloads only when asked for;
    its refusals name the command line's switches, not Python's."""
    from visionflow.data.sources import ImagePolicy

    return ImagePolicy(
        max_pixels=max_pixels,
        allow_urls=allow_urls,
        who="this command",
        switches=(("urls", "pass --allow-urls"), ("pixels", "pass --max-image-pixels")),
    )


class _OnceStdin:
    """Standard input, which one image may be read from (there is one stream of bytes)."""

    def __init__(self, stream: BinaryIO | None = None):
        self._stream = stream
        self.taken_by: str | None = None

    def read(self, name: str) -> bytes:
        from visionflow.errors import RuntimeInputError

        if self.taken_by is not None:
            raise RuntimeInputError(
                f"'{name}=-' reads standard input, which '{self.taken_by}=-' already read",
                place="--input",
                hint="give one image as '-'; the others as files, folders or URLs",
            )
        self.taken_by = name
        data = (self._stream or sys.stdin.buffer).read()
        if not data:
            raise RuntimeInputError(
                f"'{name}=-' found nothing on standard input",
                place="--input",
                hint=f"pipe an image file in: visionflow run ... --input {name}=- < photo.jpg",
            )
        return data


def image_values(name: str, text: str, stdin: _OnceStdin) -> list[Any]:
    """The images one ``--input NAME=TEXT`` gives (a folder or glob gives several)."""
    from visionflow.data.sources import IMAGE_SUFFIXES, image_paths
    from visionflow.errors import RuntimeInputError

    if text == "-":
        return [stdin.read(name)]
    if text.startswith(("http://", "https://")):
        return [{"type": "url", "value": text}]  # the image policy decides (--allow-urls)
    is_pattern = any(char in text for char in "*?[") and not os.path.exists(text)
    if not (os.path.isdir(text) or is_pattern):
        return [text]
    paths = image_paths(text)
    if not paths:
        what = "no images in the folder" if os.path.isdir(text) else "no image file matches"
        raise RuntimeInputError(
            f"{what} '{text}' (given as {name})",
            place="--input",
            hint=f"images are the files ending in {', '.join(sorted(IMAGE_SUFFIXES))}",
        )
    return paths


def input_value(text: str, kinds: frozenset[str]) -> Any:
    """A command-line value read as YAML: numbers, lists, dicts, true/false/null; else text.

    YAML's other readings (``yes`` as true, dates) would surprise on a command line, so
    they stay text, as does a value that fits the input's kinds only as text (``42`` for
    a string parameter).
    """
    from visionflow.dialects.document import read_yaml_value
    from visionflow.errors import DefinitionError, DocumentLimitError, RuntimeInputError
    from visionflow.kinds import value_fits

    value: Any = text
    if text.strip().lower() in _JSON_WORDS:
        value = _JSON_WORDS[text.strip().lower()]
    else:
        try:  # held to a document's limits: an alias bomb or deep nesting is refused
            parsed = read_yaml_value(text, place="--input")
        except DocumentLimitError as error:
            raise RuntimeInputError(error.message, place="--input", hint=error.hint) from None
        except DefinitionError:  # not YAML: the text itself
            parsed = text
        if isinstance(parsed, int | float | list | dict) and not isinstance(parsed, bool):
            value = parsed
    return value if value_fits(kinds, value) or not value_fits(kinds, text) else text


def without_images(value: Any) -> Any:
    """Serialised results with each image's base64 ``value`` replaced by its size."""
    if isinstance(value, list):
        return [without_images(item) for item in value]
    if not isinstance(value, dict):
        return value
    if value.get("type") == "base64" and isinstance(value.get("value"), str):
        return {**value, "value": f"<jpeg, {len(base64.b64decode(value['value']))} bytes>"}
    return {key: without_images(item) for key, item in value.items()}
