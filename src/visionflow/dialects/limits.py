"""The bounds every document is held to, checked as it is read, before any costly work.

A real workflow is a few hundred values nested a handful of levels deep; these limits are
far above that and far below what makes reading, validating or hashing a document slow.
A document past one is refused with a ``DocumentLimitError`` saying which and where.
"""

from __future__ import annotations

from typing import Any

from visionflow.definition import MAX_NAME
from visionflow.errors import DefinitionError, DocumentLimitError

MAX_TEXT = 2_000_000  # characters of JSON/YAML text (and of all texts of a dict document)
MAX_NODES = 100_000  # values (mappings, lists, keys, scalars), YAML aliases expanded
MAX_DEPTH = 64  # lists and mappings nested in each other
MAX_DIGITS = 1_000  # digits of an integer: Python refuses to write out one of 4,300 or more
_MAX_INT_BITS = int(MAX_DIGITS * 3.3219280948873626)  # log2(10): checked without writing it
# MAX_NAME (definition.py): characters of a mapping key or a name (input, step, output)

_SCALARS = (bool, int, float, type(None))  # str is checked on its own

# (parent trail, key or position): where a value sits, rendered only for an error
Trail = tuple[Any, str | int] | None


def check_document(document: dict[str, Any], place: str = "definition") -> None:
    """Refuse a document that is too large or deep, has a key that is not a text (or too
    long), or a text that is not valid Unicode (a lone surrogate cannot be written out).

    Walks without recursion; a value shared by several places (YAML aliases) counts at each.
    """
    nodes, characters = 0, 0
    waiting: list[tuple[Any, int, Trail]] = [(document, 0, None)]
    while waiting:
        value, depth, trail = waiting.pop()
        nodes += 1
        if isinstance(value, str):
            characters += len(value)
            if characters > MAX_TEXT:
                raise _too_large(f"more than {MAX_TEXT:,} characters of text", place)
            check_text(value, where(trail, place))
            continue
        if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
            raise DocumentLimitError(
                f"an integer of more than {MAX_DIGITS:,} digits",
                place=where(trail, place),
                hint="numbers in a workflow are counts, sizes and thresholds: write a smaller one",
            )
        if isinstance(value, _SCALARS):
            continue
        if not isinstance(value, dict | list | tuple):
            raise DefinitionError(
                f"a document holds texts, numbers, booleans, null, lists and mappings; found "
                f"a value of type {type(value).__name__}",
                place=where(trail, place),
                hint="write the value as JSON would (YAML's !!binary and !!set are not values "
                "of a workflow)",
            )
        if depth >= MAX_DEPTH:
            raise too_deep(where(trail, place))
        if isinstance(value, dict):
            nodes += len(value)  # the keys, as YAML's parser counts them
        if nodes + len(value) > MAX_NODES:
            raise _too_large(f"more than {MAX_NODES:,} values", place)
        if isinstance(value, dict):
            for key, item in value.items():
                check_key(key, trail, place)
                characters += len(key)
                waiting.append((item, depth + 1, (trail, key)))
        else:
            waiting.extend((item, depth + 1, (trail, i)) for i, item in enumerate(value))


def check_key(key: Any, trail: Trail, place: str) -> None:
    if not isinstance(key, str):
        raise DefinitionError(
            f"a key must be a text, found {key!r} ({type(key).__name__})",
            place=where(trail, place),
            hint="YAML reads on/off/yes/no/true/false, numbers and dates unquoted as values, "
            "not texts: quote such a name"
            if isinstance(key, bool | int | float) or key is None
            else "quote it",
        )
    if len(key) > MAX_NAME:
        raise DocumentLimitError(
            f"a key of {len(key):,} characters (at most {MAX_NAME})",
            place=where(trail, place),
            hint=f"names and keys are short: {MAX_NAME} characters at most",
        )
    check_text(key, where((trail, key), place))


def check_text(text: str, place: str) -> None:
    """A text that is valid Unicode (no lone surrogate, which cannot be encoded)."""
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise DefinitionError(
            f"the text holds an invalid character {text[error.start]!r} at {error.start} "
            "(a lone UTF-16 surrogate)",
            place=place,
            hint="write characters whole (a surrogate pair escapes one character)",
        ) from None


def check_name(name: Any, place: str) -> None:
    """A name (of an input, step, output...) no longer than ``MAX_NAME``."""
    if isinstance(name, str) and len(name) > MAX_NAME:
        raise DocumentLimitError(
            f"a name of {len(name):,} characters (at most {MAX_NAME})",
            place=place,
            hint=f"names are short: {MAX_NAME} characters at most",
        )


def where(trail: Trail, place: str) -> str:
    """``steps[0].args.x`` for the trail of a value inside the document."""
    parts: list[str] = []
    while trail is not None:
        trail, key = trail
        parts.append(f"[{key}]" if isinstance(key, int) else f".{_short(key)}")
    parts.reverse()
    if len(parts) > 12:  # a value nested deeply (or inside itself): its start and its end
        parts[4:-6] = ["(...)"]
    text = "".join(parts).lstrip(".")
    return text or place


def _short(key: str) -> str:
    text = key if key.isascii() else key.encode("ascii", "backslashreplace").decode("ascii")
    return text if len(text) <= 40 else text[:37] + "..."


def _too_large(what: str, place: str) -> DocumentLimitError:
    return DocumentLimitError(
        f"the document is too large: {what}",
        place=place,
        hint="a workflow is a few hundred values; split the work or remove repeated parts "
        "(YAML aliases count at every place they are used)",
    )


def too_deep(place: str) -> DocumentLimitError:
    return DocumentLimitError(
        "the document is nested too deeply to read",
        place=place,
        hint=f"a workflow nests a few levels of lists and mappings (at most {MAX_DEPTH}); "
        "check the brackets (or a value that contains itself)",
    )
