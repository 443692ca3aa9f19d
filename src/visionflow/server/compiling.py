"""Compiling documents that come from requests, the way the operator allows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from visionflow.data.sources import ImagePolicy
from visionflow.errors import DefinitionError
from visionflow.workflow import Workflow

_FILE_SUFFIXES = (".json", ".yaml", ".yml")


def compile_document(
    document: Any,
    dialect: str | None,
    allow_custom_code: bool,
    model_limits: Any = None,
    *,
    image_policy: ImagePolicy,
    load_models: bool = True,
) -> Workflow:
    """A compiled workflow from an inline document (dict, or JSON/YAML text), any dialect.

    Custom Python in the document is refused unless the operator allowed it, its models
    may ask for no more than ``model_limits``, and its images (an input's ``default_value``,
    a value a model is called on) are read only as ``image_policy`` allows, the server's
    own rules for request images (``server.inputs.image_policy``); plans are cached by
    content (``Workflow.compile``), so a repeated document costs a lookup.
    ``load_models=False``: models checked against their files, no session (validation).
    """
    try:
        return Workflow.compile(
            inline(document),
            dialect=dialect,
            allow_custom_code=allow_custom_code,
            model_limits=model_limits,
            image_policy=image_policy,
            load_models=load_models,  # False: checked against their files (validation)
        )
    except RecursionError:  # the YAML/JSON reader and the checks walk the nesting
        raise DefinitionError(
            "the document is nested too deeply to read",
            place="workflow",
            hint="a workflow nests a few levels of lists and mappings; check the brackets",
        ) from None


def inline(document: Any) -> Any:
    """The document, refused when it is text that the engine would read as a file path:
    a request may not make the server open its own files."""
    if (
        isinstance(document, str)
        and "\n" not in document
        and (Path(document.strip()).suffix in _FILE_SUFFIXES)
    ):
        raise DefinitionError(
            f"the workflow is a file name ({document.strip()!r}), not a document",
            place="workflow",
            hint="send the document itself (a JSON object or YAML text), "
            "or the name of a registered workflow",
        )
    if not isinstance(document, dict | str):
        raise DefinitionError(
            f"a workflow document must be a JSON object or YAML text, "
            f"found {type(document).__name__}",
            place="workflow",
        )
    return document
