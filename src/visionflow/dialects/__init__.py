"""Dialects turn a document into the canonical Definition. Each dialect only translates.

- ``native``: ``version``, ``inputs``, ``steps``, ``outputs`` with ``$inputs.x`` selectors;
- ``deepomatic``: ``workflow_name``, ``entries``, ``outcomes``, ``steps`` with ``inputs``/``args``;
- ``functional``: ``name``, ``models``, ``functions`` and a ``workflow:`` of named values.

Each dialect module is imported only when a document of that dialect is read.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

from visionflow.definition import Definition
from visionflow.dialects.document import is_document_path, load_document
from visionflow.errors import DefinitionError

# name -> "module:function" inside visionflow.dialects
DIALECTS = {
    "native": "native:parse_native",
    "deepomatic": "deepomatic:parse_deepomatic",
    "functional": "functional:parse_functional",
}


def detect_dialect(document: dict[str, Any]) -> str:
    """The dialect a document is written in, from the sections it has."""
    nested = document.get("workflow")
    if "entries" in document or "workflow_name" in document:
        return "deepomatic"
    if isinstance(nested, dict) and ("entries" in nested or "outcomes" in nested):
        return "deepomatic"  # the Deepomatic 1.1 layout, without a workflow_name
    if "workflow" in document and not {"steps", "inputs", "outputs"} & set(document):
        return "functional"  # even when `workflow:` is malformed: its errors say so
    return "native"


def to_definition(source: Any, dialect: str | None = None) -> Definition:
    """A Definition from a dict, a JSON/YAML string or a path, in any known dialect."""
    if isinstance(source, Definition):
        return source
    document = load_document(source)
    name = dialect or detect_dialect(document)
    if not isinstance(name, str) or name not in DIALECTS:
        raise DefinitionError(
            f"unknown dialect {name!r}",
            place="dialect",
            hint=f"known dialects: {', '.join(sorted(DIALECTS))}",
        )
    module, function = DIALECTS[name].split(":")
    parse = getattr(importlib.import_module(f"visionflow.dialects.{module}"), function)
    if "base_dir" in inspect.signature(parse).parameters:  # dialects that read other files
        return parse(document, base_dir=_folder_of(source))
    return parse(document)


def _folder_of(source: Any) -> Path | None:
    """The folder of a document given as a file path (its relative paths start there)."""
    return Path(source).resolve().parent if is_document_path(source) else None


__all__ = ["DIALECTS", "detect_dialect", "load_document", "to_definition"]
