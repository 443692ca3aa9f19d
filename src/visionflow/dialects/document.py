"""Reading a workflow document: a dict, a JSON/YAML string, or a path to a file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from visionflow.errors import DefinitionError

SUFFIXES = {".json", ".yaml", ".yml"}


def is_document_path(source: Any) -> bool:
    """Whether ``source`` names a document file (rather than holding a document's text)."""
    return isinstance(source, os.PathLike) or (
        isinstance(source, str) and Path(source).suffix in SUFFIXES and "\n" not in source
    )


def load_document(source: Any) -> dict[str, Any]:
    if isinstance(source, dict):
        return source
    if is_document_path(source):
        return _load_file(Path(source))
    if isinstance(source, str):
        return _parse_text(source, place="definition")
    raise DefinitionError(
        f"expected a definition as a dict, a JSON/YAML string or a file path, "
        f"found {type(source).__name__}"
    )


def _load_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DefinitionError(f"no workflow file at '{path}'", hint="check the path")
    return _parse_text(path.read_text(encoding="utf-8"), place=str(path))


def _parse_text(text: str, place: str) -> dict[str, Any]:
    import yaml  # only documents given as text need it

    try:
        document = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise DefinitionError(f"not valid JSON or YAML: {error}", place=place) from None
    except RecursionError:
        raise DefinitionError(
            "the document is nested too deeply to read", place=place, hint="flatten it"
        ) from None
    if not isinstance(document, dict):
        raise DefinitionError(
            f"a workflow document must be a mapping, found {type(document).__name__}",
            place=place,
        )
    return document
