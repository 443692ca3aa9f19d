"""The native dialect: ``version``, ``inputs``, ``steps``, ``outputs`` with selectors.

It is the Definition itself, so translating is validating and reporting errors well.
Its ``version`` is the version of Roboflow's Execution Engine the document was written
for, checked as Roboflow checks it.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from visionflow.definition import MAX_NAME, Definition
from visionflow.errors import DefinitionError

ENGINE_VERSION = (1, 13, 0)
"""The Roboflow Execution Engine version whose documents visionflow reads (its 1.x line)."""

# A PEP 440 version as Roboflow parses it: release numbers, then pre/post/dev tags.
_VERSION = re.compile(
    r"v?(\d{1,9}(?:\.\d{1,9}){0,5})(?:[-_.]?(?:a|b|rc|post|dev)\d{0,9}){0,3}", re.IGNORECASE
)


def parse_native(document: dict[str, Any]) -> Definition:
    """A native document as a Definition, its ``version`` checked first."""
    check_engine_version(document.get("version"))
    return validate_definition(document)


def check_engine_version(version: Any) -> None:
    """Roboflow's rule: ``version: X.Y.Z`` asks for an engine ``>=X.Y.Z,<(X+1).0.0``.

    A missing (or empty) version is the engine's own; 1.0 up to 1.13.0 are accepted.
    """
    if not isinstance(version, str | int | float) or version == "":
        return  # absent: the engine's own version; a list or mapping: the Definition says
    text = str(version).strip()
    shown = ".".join(map(str, ENGINE_VERSION))
    hint = f"write version: '1.0' (any 1.x up to {shown} is read)"
    found = None if isinstance(version, bool) else _VERSION.fullmatch(text)
    if found is None:
        raise DefinitionError(
            f"version {_short(version)} is not a version number", place="version", hint=hint
        )
    release = tuple(int(part) for part in found.group(1).split("."))
    release += (0,) * (3 - len(release))
    if release[0] != ENGINE_VERSION[0] or release > ENGINE_VERSION:
        raise DefinitionError(
            f"version {text!r} asks for execution engine >={text},<{release[0] + 1}.0.0; "
            f"visionflow runs documents for Roboflow's Execution Engine 1.0 to {shown}",
            place="version",
            hint=hint,
        )


def validate_definition(document: dict[str, Any]) -> Definition:
    """A document already in the native layout as a Definition (no ``version`` rule)."""
    try:
        return Definition.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        raise DefinitionError(
            f"{first['msg']} (found {_short(first.get('input'))})",
            place=describe_location(first["loc"], document),
            hint=_hint_for(first),
        ) from None


def describe_location(location: tuple, document: dict[str, Any]) -> str:
    """``('inputs', 1, 'name')`` -> ``inputs[1] 'img' field 'name'``."""
    if not location:
        return "definition"
    section, *rest = location
    text = str(section)
    if rest and isinstance(rest[0], int):
        position, *rest = rest
        text += f"[{position}]"
        entry = (document.get(section) or [None] * (position + 1))[position]
        name = entry.get("name") if isinstance(entry, dict) else None
        if isinstance(name, str) and len(name) <= MAX_NAME:
            text += f" '{name}'"
    if rest:
        text += " field " + ".".join(f"'{part}'" for part in rest)
    return text


def _hint_for(error: dict) -> str | None:
    if error["type"] == "extra_forbidden":
        return "remove the field, or check its spelling"
    if error["type"] == "missing":
        return "add the field"
    if error["type"] == "literal_error" and error["loc"][-1] == "type":
        return "input types are image, parameter and batch (or their Workflow*/Inference* aliases)"
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
