"""From ``--input NAME=VALUE`` pairs to ``Workflow.run`` inputs, and results back to text."""

from __future__ import annotations

import base64
from typing import Any

import typer

_JSON_WORDS = {"true": True, "false": False, "null": None}


def runtime_inputs(declared: dict[str, dict[str, Any]], pairs: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` pairs as ``run()`` inputs; a name given several times is a batch.

    ``declared`` is ``Workflow.inputs``. Images stay text: a file path (the engine reads it),
    or a ``data:`` URL for base64; never decided by the text's length.
    """
    from visionflow.errors import RuntimeInputError

    given: dict[str, list[Any]] = {}
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
        value = text if item["type"] == "image" else input_value(text, frozenset(item["kinds"]))
        given.setdefault(name, []).append(value)
    for name, values in given.items():
        if declared[name]["type"] == "parameter" and len(values) > 1:
            raise RuntimeInputError(
                f"parameter '{name}' is given {len(values)} times; a parameter has one value",
                place="--input",
                hint=f"to pass a list, give it once: --input '{name}=[1, 2]'",
            )
    return {name: values if len(values) > 1 else values[0] for name, values in given.items()}


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
