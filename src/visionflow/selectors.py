"""The one place where selector strings are recognised and parsed.

``$inputs.<name>``, ``$steps.<step>.<output>``, ``$steps.<step>.*`` and, in flow-control
fields only, ``$steps.<step>``. Names may contain spaces but not dots. Any other string is
a literal. A literal text that starts with ``$`` is written with ``$$`` (``"$$5"`` is the
text ``"$5"``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_INPUT = re.compile(r"^\$inputs\.([^.]+)$")
_STEP_OUTPUT = re.compile(r"^\$steps\.([^.]+)\.([^.]+)$")
_STEP = re.compile(r"^\$steps\.([^.]+)$")
WILDCARD_OUTPUT = "*"


@dataclass(frozen=True)
class ParsedSelector:
    text: str
    source: str  # "inputs" or "steps"
    name: str  # input or step name
    output: str | None = None  # step output, "*" for all, None for a step reference

    @property
    def is_step_reference(self) -> bool:
        return self.source == "steps" and self.output is None


ESCAPE = "$$"


def looks_like_selector(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("$") and not value.startswith(ESCAPE)


def parse_selector(text: str) -> ParsedSelector | None:
    """Parse a selector, or return None when ``text`` is not a well-formed one."""
    if match := _INPUT.match(text):
        return ParsedSelector(text, "inputs", match.group(1))
    if match := _STEP_OUTPUT.match(text):
        return ParsedSelector(text, "steps", match.group(1), match.group(2))
    if match := _STEP.match(text):
        return ParsedSelector(text, "steps", match.group(1))
    return None


def find_selectors(value: Any, path: str = "") -> list[tuple[str, str]]:
    """All selector-looking strings inside ``value`` as (path inside the field, text)."""
    if isinstance(value, str):
        return [(path, value)] if looks_like_selector(value) else []
    found: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(find_selectors(item, f"{path}[{key!r}]"))
    elif isinstance(value, list | tuple):
        for position, item in enumerate(value):
            found.extend(find_selectors(item, f"{path}[{position}]"))
    return found


def replace_selectors(value: Any, resolve) -> Any:
    """A copy of ``value`` with every selector string replaced by ``resolve(text)``.

    ``$$``-escaped literals lose their escape on the way.
    """
    if isinstance(value, str):
        if value.startswith(ESCAPE):
            return value[1:]
        return resolve(value) if looks_like_selector(value) else value
    if isinstance(value, dict):
        return {key: replace_selectors(item, resolve) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [replace_selectors(item, resolve) for item in value]
    return value


def unescape_literals(value: Any) -> Any:
    """``value`` with ``$$``-escaped texts turned into the texts they stand for."""
    return replace_selectors(value, lambda text: text)
