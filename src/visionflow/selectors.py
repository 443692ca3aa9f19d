"""The one place where selector strings are written, recognised, parsed and escaped.

``$inputs.<name>``, ``$steps.<step>.<output>``, ``$steps.<step>.*`` and, in flow-control
fields only, ``$steps.<step>``. Names may contain spaces but not dots. Any other string is
a literal. A literal text that starts with ``$`` is written with ``$$`` (``"$$5"`` is the
text ``"$5"``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

SIGIL = "$"
ESCAPE = "$$"
INPUTS = "$inputs"
STEPS = "$steps"
OUTPUTS = "$outputs"  # names a workflow output in graphs; never a selector a field reads
WILDCARD_OUTPUT = "*"
DATA_SELECTORS = "$inputs.<name>, $steps.<step>.<output> or $steps.<step>.*"  # for hints

_INPUT = re.compile(r"^\$inputs\.([^.]+)$")
_STEP_OUTPUT = re.compile(r"^\$steps\.([^.]+)\.([^.]+)$")
_STEP = re.compile(r"^\$steps\.([^.]+)$")
SELECTOR_PATTERN = r"^\$(inputs|steps)\.[^.]+(\.[^.]+)?$"
"""What a manifest's selector field accepts before the compiler looks closer (it explains
malformed selectors better than a pattern mismatch can)."""
STEP_REFERENCE_PATTERN = r"^\$steps\."
"""Likewise for a flow-control field's step references."""


@dataclass(frozen=True)
class ParsedSelector:
    text: str
    source: str  # "inputs" or "steps"
    name: str  # input or step name
    output: str | None = None  # step output, "*" for all, None for a step reference

    @property
    def is_step_reference(self) -> bool:
        return self.source == "steps" and self.output is None

    @property
    def origin(self) -> str:
        """The input or step it reads, as a selector: ``$inputs.x`` or ``$steps.s``."""
        return input_selector(self.name) if self.source == "inputs" else step_selector(self.name)


def input_selector(name: str) -> str:
    """``$inputs.<name>``."""
    return f"{INPUTS}.{name}"


def step_selector(step: str, output: str | None = None) -> str:
    """``$steps.<step>.<output>``, or the step reference ``$steps.<step>`` without output."""
    return f"{STEPS}.{step}" if output is None else f"{STEPS}.{step}.{output}"


def output_node(name: str) -> str:
    """``$outputs.<name>``: a workflow output as a node of the workflow's graph."""
    return f"{OUTPUTS}.{name}"


def step_name(target: str) -> str:
    """The step a flow-control target names (``$steps.<step>``, or the bare name)."""
    return target.removeprefix(f"{STEPS}.")


def starts_with_sigil(text: str) -> bool:
    """Whether ``text`` starts with ``$``: a selector, or a literal that needs the escape."""
    return text.startswith(SIGIL)


def meant_selector(text: str) -> str | None:
    """The well-formed selector a malformed one most likely meant (``inputs.image``,
    ``$input.image``, ``$Steps.s.out``), or None when it looks like no selector at all."""
    head, dot, rest = text.lstrip(SIGIL).partition(".")
    prefix = {"input": INPUTS, "inputs": INPUTS, "step": STEPS, "steps": STEPS}.get(head.lower())
    if not dot or prefix is None:
        return None
    candidate = f"{prefix}.{rest}"
    return candidate if candidate != text and parse_selector(candidate) else None


def looks_like_selector(value: Any) -> bool:
    return isinstance(value, str) and starts_with_sigil(value) and not value.startswith(ESCAPE)


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


def escape_literals(value: Any) -> Any:
    """``value`` as a field holds it literally: texts starting with ``$`` get the ``$$`` escape.

    >>> escape_literals(["$5", "5", {"price": "$$"}])
    ['$$5', '5', {'price': '$$$'}]
    """
    if isinstance(value, str):
        return SIGIL + value if starts_with_sigil(value) else value
    if isinstance(value, list | tuple):
        return [escape_literals(item) for item in value]
    if isinstance(value, dict):
        return {key: escape_literals(item) for key, item in value.items()}
    return value
