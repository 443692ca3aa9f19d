"""The models a workflow may use: its ``models:`` section first, then the zoo.

A ``models:`` entry is a zoo id or a file path, or a mapping with ``source`` plus spec
fields. Settings merge as: zoo description < workflow-wide ``settings`` < the entry.
Loaded models are shared by every workflow in the process whose spec is the same, so
concurrent runs of different workflows batch together on one pool.
"""

from __future__ import annotations

import difflib
import json
import threading
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from visionflow.errors import CustomCodeNotAllowedError, ModelError, ModelNotFoundError
from visionflow.models.model import Model
from visionflow.models.spec import CAMEL_CASE_PERFORMANCE_FIELDS, PERFORMANCE_FIELDS, ModelSpec
from visionflow.models.zoo import ZOO_PREFIX, find_entry, model_file, zoo_entries

_loaded: dict[str, Model] = {}
_loading = threading.Lock()

# Workflow-wide settings may use the functional dialect's spelling too.
WORKFLOW_SETTING_ALIASES = CAMEL_CASE_PERFORMANCE_FIELDS


class ModelLibrary:
    def __init__(
        self,
        declared: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
        *,
        allow_files: bool = True,
    ):
        self.declared = dict(declared or {})
        # Documents from others may name zoo models only, never files on this machine's disk.
        self.allow_files = allow_files
        self.workflow_settings = {
            WORKFLOW_SETTING_ALIASES.get(key, key): value
            for key, value in (settings or {}).items()
            if WORKFLOW_SETTING_ALIASES.get(key, key) in PERFORMANCE_FIELDS
        }

    def spec(self, model_id: str) -> tuple[ModelSpec, Path]:
        """The merged spec of a model and its file; errors name what is wrong."""
        entry_fields = self._declared_fields(model_id)
        source = entry_fields.pop("source", model_id)
        fields: dict[str, Any] = {}
        zoo = find_entry(source)
        if zoo is not None:
            fields.update(zoo.description)
            path = model_file(zoo)
        else:
            if not self.allow_files:
                raise CustomCodeNotAllowedError(
                    f"model '{model_id}' names the file '{source}', and model files named by "
                    "documents are not allowed here",
                    hint="use a zoo id (`visionflow models`), or a model the operator "
                    "installed in a VISIONFLOW_MODELS folder",
                )
            path = Path(source).expanduser()
            if not path.is_file():
                raise self._not_found(model_id, source)
        fields.update(self.workflow_settings)
        fields.update(entry_fields)
        try:
            return ModelSpec(id=model_id, source=str(source), **fields), path
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ModelError(
                f"model '{model_id}': field '{where}' {first['msg'].lower()}",
                hint="see `visionflow models` for the fields of a model",
            ) from None

    def get(self, model_id: str) -> Model:
        """The loaded model, shared with every workflow that declares it the same way."""
        spec, path = self.spec(model_id)
        key = json.dumps([str(path), spec.model_dump()], sort_keys=True, default=str)
        with _loading:
            if key not in _loaded:
                _loaded[key] = Model(spec, path)
            return _loaded[key]

    def _declared_fields(self, model_id: str) -> dict[str, Any]:
        entry = self.declared.get(model_id)
        if entry is None:
            return {}
        if isinstance(entry, str):
            return {"source": entry}
        if not isinstance(entry, dict):
            raise ModelError(f"model '{model_id}' must be a source text or a mapping")
        return dict(entry)

    def _not_found(self, model_id: str, source: str) -> ModelNotFoundError:
        names = [*self.declared, *(f"{ZOO_PREFIX}{name}" for name in zoo_entries())]
        close = difflib.get_close_matches(source, names, n=3, cutoff=0.4)
        if model_id in self.declared:  # declared, but its source is wrong
            message = (
                f"model '{model_id}' is declared under models:, but its source '{source}' "
                "is neither a zoo id nor a model file"
            )
        else:
            message = (
                f"model '{model_id}' is neither declared under models:, nor a zoo id, "
                f"nor a model file (looked for '{source}')"
            )
        return ModelNotFoundError(
            message,
            hint=(f"did you mean {', '.join(repr(c) for c in close)}? " if close else "")
            + "`visionflow models` lists the zoo",
        )


def loaded_models() -> list[Model]:
    with _loading:
        return list(_loaded.values())


def model_metrics() -> dict[str, dict]:
    """Serving metrics of every loaded model, by model id (queue, batches, latency, failures).

    Models declared under one id with different settings appear as ``id``, ``id#2``, ...
    """
    figures: dict[str, dict] = {}
    for model in loaded_models():
        name, count = model.spec.id, 1
        while name in figures:
            count += 1
            name = f"{model.spec.id}#{count}"
        figures[name] = model.pool.metrics.snapshot()
    return figures
