"""Reading a workflow document: a dict, a JSON/YAML string, or a path to a file.

Every document is held to the limits of ``limits.py`` before anything else reads it. YAML
text is first scanned as a stream of events (libyaml's parser keeps no Python recursion):
its nesting and its size with every alias expanded are counted there, so that an alias
bomb of a few hundred bytes is refused before a single value is built.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

from visionflow.dialects.limits import (
    MAX_DEPTH,
    MAX_NODES,
    MAX_TEXT,
    check_document,
    too_deep,
)
from visionflow.errors import DefinitionError, DocumentLimitError

SUFFIXES = {".json", ".yaml", ".yml"}


def is_document_path(source: Any) -> bool:
    """Whether ``source`` names a document file (rather than holding a document's text)."""
    return isinstance(source, os.PathLike) or (
        isinstance(source, str) and Path(source).suffix in SUFFIXES and "\n" not in source
    )


def load_document(source: Any) -> dict[str, Any]:
    """The document as a dict, checked against the limits (it is never modified)."""
    if isinstance(source, dict):
        check_document(source)
        return source
    if is_document_path(source):
        return _load_file(Path(source))
    if isinstance(source, str):
        return _parse_text(source, place="definition")
    raise DefinitionError(
        f"expected a definition as a dict, a JSON/YAML string or a file path, "
        f"found {type(source).__name__}",
        place="definition",
    )


def _load_file(path: Path) -> dict[str, Any]:
    limit = 4 * MAX_TEXT  # bytes: a UTF-8 character is at most 4
    try:
        if not path.is_file():
            raise DefinitionError(f"no workflow file at '{path}'", hint="check the path")
        with path.open("rb") as file:
            data = file.read(limit + 1)  # never more, whatever the file claims to hold
    except OSError as error:
        raise DefinitionError(
            f"the workflow file cannot be read: {error.strerror}", place=str(path)
        ) from None
    if len(data) > limit:
        raise _text_too_long(str(path))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DefinitionError(
            f"the file is not UTF-8 text (byte {error.start})", place=str(path)
        ) from None
    return _parse_text(text, place=str(path))


def _parse_text(text: str, place: str) -> dict[str, Any]:
    if len(text) > MAX_TEXT:
        raise _text_too_long(place)
    try:
        text.encode("utf-8")  # libyaml reads UTF-8: a lone surrogate cannot go there
    except UnicodeEncodeError as error:
        raise DefinitionError(
            f"the text holds an invalid character {text[error.start]!r} at {error.start}",
            place=place,
            hint="write characters whole (a surrogate pair escapes one character)",
        ) from None
    document = _json(text, place) if text.lstrip().startswith("{") else _yaml(text, place)
    if not isinstance(document, dict):
        raise DefinitionError(
            f"a workflow document must be a mapping, found {type(document).__name__}",
            place=place,
        )
    check_document(document, place)
    return document


def read_yaml_value(text: str, place: str) -> Any:
    """Any YAML value (a command-line input), held to the limits of a document: no alias
    bomb, nesting or size past them; a ``DefinitionError`` when it is not YAML."""
    if len(text) > MAX_TEXT:
        raise _text_too_long(place)
    value = _yaml(text, place)
    check_document(value, place)
    return value


def _json(text: str, place: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise too_deep(place) from None
    except ValueError as error:  # JSONDecodeError, or an integer of thousands of digits
        raise DefinitionError(f"not valid JSON or YAML: {error}", place=place) from None


def _yaml(text: str, place: str) -> Any:
    import yaml  # only documents given as YAML text need it

    loader = _loader()
    try:
        _check_yaml_events(yaml.parse(text, Loader=loader), place)
        return yaml.load(text, Loader=loader)
    except RecursionError:
        raise too_deep(place) from None
    except (yaml.YAMLError, ValueError) as error:  # ValueError: an int of 5000 digits
        if "maximum nesting depth" in str(error):  # libyaml's own bound, met while scanning
            raise too_deep(place) from None
        raise DefinitionError(f"not valid JSON or YAML: {error}", place=place) from None


@functools.cache
def _loader() -> type:
    """libyaml's safe loader where PyYAML was built with it (50x faster), reading dates and
    times as the texts they are written as: a document holds JSON's values."""
    import yaml

    class DocumentLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
        pass

    DocumentLoader.add_constructor(
        "tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str
    )
    return DocumentLoader


def _check_yaml_events(events: Any, place: str) -> None:
    """Nesting and the number of values with aliases expanded, from the parser's events."""
    import yaml

    sizes: dict[str, int] = {}  # anchor -> the number of values its node expands to
    opened: list[tuple[str | None, int]] = []  # open collections: (anchor, count at start)
    count = 0
    for event in events:
        if isinstance(event, yaml.CollectionStartEvent):
            if len(opened) >= MAX_DEPTH:
                raise too_deep(place)
            opened.append((event.anchor, count))
            count += 1
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, start = opened.pop()
            if anchor:
                sizes[anchor] = count - start
        elif isinstance(event, yaml.ScalarEvent):
            count += 1
            if event.anchor:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in sizes:
                raise DefinitionError(
                    f"the alias *{event.anchor} names no anchor before it (or the value "
                    "that contains it)",
                    place=place,
                    hint="an alias repeats an earlier value marked &name; a value cannot "
                    "contain itself",
                )
            count += sizes[event.anchor]
        if count > MAX_NODES:
            raise DocumentLimitError(
                f"the document is too large: more than {MAX_NODES:,} values "
                "once its YAML aliases are expanded",
                place=place,
                hint="an alias counts as a copy of its anchor's value wherever it is used",
            )


def _text_too_long(place: str) -> DocumentLimitError:
    return DocumentLimitError(
        f"the document is too large: more than {MAX_TEXT:,} characters",
        place=place,
        hint="a workflow is a few kilobytes of text",
    )
