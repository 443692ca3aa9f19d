"""The models a workflow may use: its ``models:`` section first, then the zoo.

A ``models:`` entry is a zoo id or a file path, or a mapping with ``source`` plus spec
fields. Settings merge as: zoo description < workflow-wide ``settings`` < the entry.
Loaded models are shared by every workflow in the process whose spec is the same, so
concurrent runs of different workflows batch together on one pool.

For documents from others, ``ModelLimits`` caps what an entry may ask of its pool
(workers, threads, batch and queue sizes), and ``limit_loaded_models(n)`` bounds the pools
of the process: loading one more retires the least recently used idle pool (its holders
reopen it on their next call), or refuses with ``TooManyModelsError`` when all are busy.

The operator may also map model ids to files for the whole process (``map_models``, from
``--model ID=PATH``): such an entry counts as declared, and its file is allowed even where
documents may not name files (the operator chose it).
"""

from __future__ import annotations

import functools
import json
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from visionflow.errors import CustomCodeNotAllowedError, ModelError, ModelNotFoundError
from visionflow.models.model import CheckedModel, Model
from visionflow.models.providers import default_providers, parse_providers
from visionflow.models.spec import CAMEL_CASE_PERFORMANCE_FIELDS, PERFORMANCE_FIELDS, ModelSpec
from visionflow.models.urls import fields_hint, is_model_url, resolve_model_url
from visionflow.models.zoo import ZOO_PREFIX, find_entry, model_file, zoo_entries
from visionflow.suggestions import close_matches

if TYPE_CHECKING:
    from visionflow.models.pool import ModelPool

_loaded: dict[str, Model] = {}  # serving now, by spec key
_retired: weakref.WeakValueDictionary[str, Model] = weakref.WeakValueDictionary()
_loading = threading.Lock()
_max_loaded: int | None = None
_operator_models: dict[str, dict[str, Any]] = {}  # model id -> entry fields, from map_models


class TooManyModelsError(ModelError):
    """Loading one more model would pass the process's bound, and every loaded one is busy."""

    code = "too_many_models"


@dataclass(frozen=True)
class ModelLimits:
    """The most a workflow's ``models:`` entries and ``settings`` may ask for (None: no cap).

    >>> ModelLimits(max_workers=4).max_workers
    4

    A value asked for above its cap is a ``ModelError``; a default above it is lowered.
    ``min_workers`` is capped by ``max_workers``. ``flags`` names, per field, where the cap
    is raised (a server's flag), for the error's hint.
    """

    max_workers: int | None = None
    intra_op_threads: int | None = None
    batch_size: int | None = None
    queue_size: int | None = None
    input_side: int | None = None
    """Most pixels a side of what preprocessing resizes an image to (``size``, ``*_side_len``):
    a document could otherwise make every input gigabytes before the model refuses it."""
    timeout_ms: float | None = None
    """Longest bound on one model call: a document could otherwise keep a session busy for
    a day; a model without ``timeout_ms`` gets the default bound or this, whichever is less."""
    flags: tuple[tuple[str, str], ...] = ()

    def caps(self) -> dict[str, float]:
        """The caps on performance fields (the input side is checked on its own)."""
        found = {
            item.name: getattr(self, item.name)
            for item in fields(self)
            if item.name not in ("flags", "input_side") and getattr(self, item.name) is not None
        }
        if "max_workers" in found:
            found["min_workers"] = found["max_workers"]
        return found


# Workflow-wide settings may use the functional dialect's spelling too.
WORKFLOW_SETTING_ALIASES = CAMEL_CASE_PERFORMANCE_FIELDS


class ModelLibrary:
    def __init__(
        self,
        declared: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
        *,
        allow_files: bool = True,
        limits: ModelLimits | None = None,
        parameter_defaults: dict[str, Any] | None = None,
        load: bool = True,
    ):
        self.declared = dict(declared or {})
        # False for validation: ``get`` checks a model against its file and starts nothing
        self.load = load
        # The document's parameter defaults, by input name: a block whose model id is a
        # parameter (Roboflow's ``model_id: $inputs.model_id``) loads the default's model early.
        self.parameter_defaults = dict(parameter_defaults or {})
        # Documents from others may name zoo models only, never files on this machine's disk.
        self.allow_files = allow_files
        self.limits = limits or ModelLimits()
        self.workflow_settings = {
            WORKFLOW_SETTING_ALIASES.get(key, key): value
            for key, value in (settings or {}).items()
            if WORKFLOW_SETTING_ALIASES.get(key, key) in PERFORMANCE_FIELDS
        }
        given = (settings or {}).get("providers")
        self.workflow_providers = (
            None if given is None else parse_providers(given, "settings field 'providers'")
        )

    def is_mapped(self, model_id: str) -> bool:
        """Whether ``model_id`` is declared, mapped by the operator, or a zoo id."""
        return (
            model_id in self.declared
            or model_id in _operator_models
            or find_entry(model_id) is not None
        )

    def spec(self, model_id: str, defaults: dict[str, Any] | None = None) -> tuple[ModelSpec, Path]:
        """The merged spec of a model and its file; errors name what is wrong.

        ``defaults`` are spec fields below everything else (a block's task, for a bare file).
        """
        by_operator = model_id not in self.declared and model_id in _operator_models
        entry_fields = self._declared_fields(model_id)
        source = entry_fields.pop("source", model_id)
        entry_source = source
        fields: dict[str, Any] = dict(defaults or {})
        from_url = is_model_url(source)
        if from_url:  # file:// (a file, folder or archive) or http(s)://, DJL's way
            resolved = resolve_model_url(
                source, trusted=self.allow_files or by_operator, place=f"models '{model_id}'"
            )
            entry_fields = {**resolved.fields, **entry_fields}
            source = str(resolved.path)  # the cache's file, fetched under the rules above
        zoo = None if from_url else find_entry(source)
        if zoo is not None:
            fields.update(zoo.description)
            path = model_file(zoo)
        else:
            if not self.allow_files and not by_operator and not from_url:
                if not _names_a_file(source):  # a misspelt zoo id, not a file
                    raise self._not_found(model_id, source, files=False)
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
        fields["providers"] = self._providers(model_id, entry_fields, zoo)
        try:
            spec = ModelSpec(id=model_id, source=str(source), **fields)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            problem = _PROBLEMS.get(first["type"], first["msg"].lower())
            hint = "see `visionflow models` for the fields of a model"
            if from_url:
                hint = fields_hint(entry_source)
            raise ModelError(f"model '{model_id}': field '{where}' {problem}", hint=hint) from None
        return self._within_limits(spec, entry_fields), path

    def _providers(self, model_id: str, entry_fields: dict[str, Any], zoo) -> tuple[str, ...]:
        """Where the model runs: its entry, else its zoo description, else the workflow's
        settings, else the process default (a model's own choice is the most specific)."""
        if entry_fields.get("providers") is not None:
            return parse_providers(
                entry_fields["providers"], f"models '{model_id}' field 'providers'"
            )
        if zoo is not None and zoo.description.get("providers") is not None:
            return parse_providers(
                zoo.description["providers"], f"model description '{zoo.origin}' field 'providers'"
            )
        if self.workflow_providers is not None:
            return self.workflow_providers
        return default_providers()

    def _within_limits(self, spec: ModelSpec, entry_fields: dict[str, Any]) -> ModelSpec:
        self._check_input_side(spec, entry_fields)
        lowered: dict[str, float] = {}
        for name, cap in self.limits.caps().items():
            value = spec.call_timeout_ms if name == "timeout_ms" else getattr(spec, name)
            if value <= cap:
                continue
            if name not in entry_fields and name not in self.workflow_settings:
                lowered[name] = cap  # a default, not asked for: within the cap, silently
                continue
            flag = dict(self.limits.flags).get("max_workers" if name == "min_workers" else name)
            raise ModelError(
                f"model '{spec.id}' asks for {name} {_number(value)}; at most {_number(cap)} is "
                "allowed here",
                place=f"models '{spec.id}' field '{name}'"
                if name in entry_fields
                else f"settings field '{name}'",
                hint=f"ask for {_number(cap)} or less"
                + (f"; the operator sets this limit with {flag}" if flag else ""),
            )
        return spec.model_copy(update=lowered) if lowered else spec

    def _check_input_side(self, spec: ModelSpec, entry_fields: dict[str, Any]) -> None:
        cap = self.limits.input_side
        if cap is None:
            return
        settings = spec.preprocessing
        sides = {
            f"size[{position}]": value for position, value in enumerate(settings.get("size") or [])
        }
        sides.update({key: value for key, value in settings.items() if key.endswith("_side_len")})
        for name, value in sides.items():
            if isinstance(value, int | float) and value > cap:
                flag = dict(self.limits.flags).get("input_side")
                raise ModelError(
                    f"model '{spec.id}' resizes its input to {value} pixels ({name}); "
                    f"at most {cap} a side is allowed here",
                    place=f"models '{spec.id}' field 'preprocessing'"
                    if "preprocessing" in entry_fields
                    else f"models '{spec.id}'",
                    hint=f"ask for {cap} pixels or less"
                    + (f"; the operator sets this limit with {flag}" if flag else ""),
                )

    def get(self, model_id: str, defaults: dict[str, Any] | None = None) -> Model | CheckedModel:
        """The loaded model, shared with every workflow that declares it the same way.

        A library made with ``load=False`` answers a ``CheckedModel`` instead: the same
        checks (file, task, format and outputs), no session; it loads on its first call.
        """
        spec, path = self.spec(model_id, defaults)
        if not self.load:
            return CheckedModel(spec, path, functools.partial(_load, spec, path))
        return _load(spec, path)

    def _declared_fields(self, model_id: str) -> dict[str, Any]:
        entry = self.declared.get(model_id)
        if entry is None:
            return dict(_operator_models.get(model_id, {}))
        if isinstance(entry, str):
            return {"source": entry}
        if not isinstance(entry, dict):
            raise ModelError(f"model '{model_id}' must be a source text or a mapping")
        return dict(entry)

    def _not_found(self, model_id: str, source: str, files: bool = True) -> ModelNotFoundError:
        """``files``: whether a model file could have been meant (documents from others
        may name zoo ids only)."""
        prefix = ZOO_PREFIX if source.startswith(ZOO_PREFIX) else ""
        names = [*self.declared, *(f"{prefix}{name}" for name in zoo_entries())]
        close = close_matches(source, names, n=3, cutoff=0.8, spread=0.1)
        if model_id in self.declared:  # declared, but its source is wrong
            message = (
                f"model '{model_id}' is declared under models:, but its source '{source}' "
                "is neither a zoo id nor a model file"
            )
        elif not files:
            message = f"model '{model_id}' is neither declared under models: nor a zoo id"
        else:
            message = (
                f"model '{model_id}' is neither declared under models:, nor a zoo id, "
                "nor a model file"
            )
        if files and not close:  # say where the file was looked for
            looked = Path(source).expanduser().resolve()
            message += f" (no file {looked})"
        return ModelNotFoundError(
            message,
            hint=(f"did you mean {', '.join(repr(c) for c in close)}? " if close else "")
            + "`visionflow models` lists the zoo",
        )


# pydantic's wording for the two mistakes a hand-written description makes most
_PROBLEMS = {"missing": "is required", "extra_forbidden": "is not a field of a model"}
_MODEL_FILE_SUFFIXES = frozenset({".onnx", ".tflite", ".xml", ".yaml", ".yml", ".json"})


def _names_a_file(source: str) -> bool:
    """Whether a model source is written as a file (a model file's suffix, or a path from
    the root, home or current folder) rather than as an id."""
    return Path(source).suffix.lower() in _MODEL_FILE_SUFFIXES or source.startswith(
        ("/", "./", "../", "~", "\\")
    )


def _load(spec: ModelSpec, path: Path) -> Model:
    """The process's model for ``spec`` and ``path``: loaded now, or shared."""
    key = json.dumps([str(path), spec.model_dump()], sort_keys=True, default=str)
    with _loading:
        model = _loaded.get(key) or _retired.get(key)
        if model is None:
            _make_room()
            model = Model(spec, path)
            model.pool.admit = functools.partial(_admit, key)
        elif key not in _loaded:  # retired by the bound: serving again from now
            _make_room()
            model.pool.reopen()
            del _retired[key]
        _loaded[key] = model
        return model


def map_models(pairs: Iterable[str]) -> None:
    """Map model ids to files for this process (``ID=PATH``, as ``--model`` takes them).

    PATH is a model file (.onnx, .tflite) or a description (.yaml, .yml, .json: spec fields
    and ``path``, relative to it, as in a VISIONFLOW_MODELS folder). Replaces earlier
    mappings; documents' ``models:`` entries take precedence. Set it before compiling:
    compiled plans are cached.
    """
    mapped = {}
    for pair in pairs:
        model_id, _, source = pair.partition("=")
        if not model_id.strip() or not source.strip():
            raise ModelError(
                f"model mapping '{pair}' is not ID=PATH",
                place="--model",
                hint="e.g. --model my-project/3=models/best.onnx",
            )
        mapped[model_id.strip()] = _operator_entry(model_id.strip(), Path(source.strip()))
    _operator_models.clear()
    _operator_models.update(mapped)


def _operator_entry(model_id: str, source: Path) -> dict[str, Any]:
    source = source.expanduser()
    if not source.is_file():
        raise ModelNotFoundError(
            f"model '{model_id}' is mapped to '{source}', which is not a file", place="--model"
        )
    if source.suffix.lower() not in (".yaml", ".yml", ".json"):
        return {"source": str(source.resolve())}
    import yaml

    try:
        description = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ModelError(
            f"model description '{source}' (for '{model_id}') cannot be read: "
            f"{type(error).__name__}: {' '.join(str(error).split())[:200]}",
            place="--model",
        ) from None
    if not isinstance(description, dict) or not isinstance(description.get("path"), str):
        raise ModelError(
            f"model description '{source}' (for '{model_id}') has no 'path' (a file name)",
            place="--model",
        )
    for name in ("id", "package", "install"):
        description.pop(name, None)
    path = description.pop("path")
    return {**description, "source": str((source.parent / path).resolve())}


def limit_loaded_models(count: int | None) -> None:
    """Keep at most ``count`` models loaded in this process (None: no bound, the default)."""
    global _max_loaded
    if count is not None and count < 1:
        raise ValueError(f"the bound on loaded models must be at least 1, found {count}")
    _max_loaded = count


def _make_room() -> None:
    """Retire least recently used idle models until one more fits. With ``_loading`` held."""
    while _max_loaded is not None and len(_loaded) >= _max_loaded:
        idle = sorted(
            (key for key, model in _loaded.items() if model.pool.is_idle),
            key=lambda key: _loaded[key].pool.last_used,
        )
        retired = next((key for key in idle if _loaded[key].pool.retire_if_idle()), None)
        if retired is None:
            raise TooManyModelsError(
                f"{len(_loaded)} models are loaded, the most this process keeps, and every "
                "one of them is serving calls now",
                hint="retry in a moment; the operator can raise the bound "
                "(visionflow serve --max-loaded-models)",
            )
        _retired[retired] = _loaded.pop(retired)


def _admit(key: str, pool: ModelPool) -> None:
    """A retired pool's next call: room is made for it, then it reopens (``pool.admit``)."""
    with _loading:
        model = _retired.get(key)
        if model is not None and model.pool is pool:
            _make_room()
            pool.reopen()
            _loaded[key] = _retired.pop(key)
        else:  # readmitted by another call meanwhile (or no longer the library's)
            pool.reopen()


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


def _number(value: float) -> str:
    """12 for 12.0, 2.5 for 2.5: as a document writes it."""
    return str(int(value)) if float(value).is_integer() else str(value)
