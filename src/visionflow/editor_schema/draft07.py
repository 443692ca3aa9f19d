"""Pydantic's JSON Schema (draft 2020-12) as draft-07, the draft editors' YAML server reads.

Also made for editors: pydantic's titles dropped (the field names again, shown twice on
hover) and a selector's pattern said in words (``patternErrorMessage``, read by VS Code's
YAML and JSON servers) where an editor would quote the regular expression.
"""

from __future__ import annotations

import json
from typing import Any

from visionflow.selectors import DATA_SELECTORS, SELECTOR_PATTERN, STEP_REFERENCE_PATTERN

_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_VALUES = (
    "items",
    "additionalItems",
    "additionalProperties",
    "contains",
    "propertyNames",
    "not",
    "if",
    "then",
    "else",
)


def from_pydantic(schema: Any) -> Any:
    """Pydantic's schema with the 2020-12 keywords draft-07 lacks rewritten, for editors.

    ``$defs`` -> ``definitions``, ``prefixItems`` -> ``items`` as a list, and a ``$ref``
    with other keywords beside it (ignored there in draft-07) inside an ``allOf``. Titles
    go (pydantic's are the field names again, shown twice on hover), and a selector's
    pattern is said in words where an editor would quote the regular expression.
    """
    if not isinstance(schema, dict):
        return schema
    converted: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title":
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            value = {name: from_pydantic(item) for name, item in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            value = [from_pydantic(item) for item in value]
        elif key in _SCHEMA_VALUES:
            value = from_pydantic(value)
        converted[key] = value
    if "$defs" in converted:
        converted["definitions"] = converted.pop("$defs")
    if "prefixItems" in converted:
        rest = converted.pop("items", None)
        converted["items"] = converted.pop("prefixItems")
        converted["additionalItems"] = False if rest is None else rest
    if converted.get("pattern") in _PATTERN_MESSAGES:
        converted["patternErrorMessage"] = _PATTERN_MESSAGES[converted["pattern"]]
    if isinstance(converted.get("anyOf"), list):
        _say_the_literals(converted["anyOf"])
    if "$ref" in converted and len(converted) > 1:
        converted = {"allOf": [{"$ref": converted.pop("$ref")}], **converted}
    return converted


def _say_the_literals(branches: list[Any]) -> None:
    """A field taking a selector or literals: its selector's message names the literals too
    (an editor reports a text against the selector branch, the only one taking texts)."""
    selector = [b for b in branches if isinstance(b, dict) and b.get("pattern") == SELECTOR_PATTERN]
    literals = [_literal_said(b) for b in branches if b not in selector]
    if selector and literals:
        said = " or ".join(dict.fromkeys(literals))
        selector[0]["patternErrorMessage"] = f"Expected {said}, or a selector: {DATA_SELECTORS}."


def _literal_said(schema: Any) -> str:
    if not isinstance(schema, dict):
        return "a value"
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(value) for value in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"])
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    return " or ".join(_TYPE_WORDS.get(item, item) for item in kinds) or "another value"


_TYPE_WORDS = {
    "integer": "an integer",
    "number": "a number",
    "string": "a text",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
    "null": "null",
}

_PATTERN_MESSAGES = {
    SELECTOR_PATTERN: f"Expected a selector: {DATA_SELECTORS}.",
    STEP_REFERENCE_PATTERN: "Expected a step reference: $steps.<step name>.",
}
