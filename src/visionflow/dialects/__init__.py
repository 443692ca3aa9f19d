"""Dialects turn a document into the canonical Definition. Each dialect only translates."""

from __future__ import annotations

from typing import Any

from visionflow.definition import Definition
from visionflow.dialects.document import load_document
from visionflow.dialects.native import parse_native
from visionflow.errors import DefinitionError

DIALECTS = {"native": parse_native}


def detect_dialect(document: dict[str, Any]) -> str:
    """The dialect a document is written in (only ``native`` is known so far)."""
    return "native"


def to_definition(source: Any, dialect: str | None = None) -> Definition:
    """A Definition from a dict, a JSON/YAML string or a path, in any known dialect."""
    if isinstance(source, Definition):
        return source
    document = load_document(source)
    name = dialect or detect_dialect(document)
    if name not in DIALECTS:
        raise DefinitionError(
            f"unknown dialect '{name}'", hint=f"known dialects: {', '.join(sorted(DIALECTS))}"
        )
    return DIALECTS[name](document)


__all__ = ["DIALECTS", "detect_dialect", "load_document", "to_definition"]
