"""The native dialect: ``version``, ``inputs``, ``steps``, ``outputs`` with selectors.

It is the Definition itself, so translating is validating and reporting errors well.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from visionflow.definition import MAX_NAME, Definition
from visionflow.errors import DefinitionError


def parse_native(document: dict[str, Any]) -> Definition:
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
