"""The executor a workflow function may take, as DJL's workflow functions take theirs.

A function declared under ``functions:`` whose signature has a parameter named
``executor`` is given one: through it the function calls the document's models and
functions itself, so it can loop, retry with another model or run a cascade.

>>> def cascade(image, executor):  # doctest: +SKIP
...     faces = executor.model("faces").predict(image)
...     crops = executor.call("crops", image, faces)
...     return [p["top"] for p in executor.model("emotion").predict(crops)]

It holds only what the document declares (its models and functions, and the built-ins),
and exists only where custom code is allowed (imported functions are custom code).
"""

from __future__ import annotations

import copy
import inspect
import threading
from collections.abc import Callable
from typing import Any

from visionflow.blocks.core.functions import BUILTIN_FUNCTIONS
from visionflow.data.image import WorkflowImage, load_image
from visionflow.data.sources import ImagePolicy
from visionflow.errors import ModelError
from visionflow.models.urls import fields_hint, is_model_url, resolve_model_url

EXECUTOR_PARAMETER = "executor"


def takes_executor(function: Callable[..., Any]) -> bool:
    """Whether ``function`` (or a callable instance) has a parameter named ``executor``."""
    try:
        return EXECUTOR_PARAMETER in inspect.signature(function).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        return False


def executor_slot(function: Callable[..., Any]) -> tuple[int, bool]:
    """The place of the ``executor`` parameter among the positional ones (-1: keyword only)
    and whether it can only be given by place."""
    parameters = list(inspect.signature(function).parameters.values())
    for position, parameter in enumerate(parameters):
        if parameter.name == EXECUTOR_PARAMETER:
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY:
                return -1, False
            return position, parameter.kind is inspect.Parameter.POSITIONAL_ONLY
    return -1, False


def call_with_executor(
    function: Callable[..., Any], args: Any, executor: Any, slot: tuple[int, bool]
) -> Any:
    """``function`` applied to ``args`` and the executor: by place where the arguments reach
    its place (DJL's order, ``run(executor, args)``: ``def f(executor, *args)``), else by
    name (``def f(image, executor)``)."""
    position, only_by_place = slot
    if position >= 0 and (only_by_place or len(args) > position):
        return function(*args[:position], executor, *args[position:])
    return function(*args, executor=executor)


def load_model(models: Any, model_id: str) -> Any:
    """``models.get(model_id)``; a ``models:`` entry written as a URL is fetched first
    (``models/urls.py``), under the compiler's rule for files (``models.allow_files``)."""
    entry = models.declared.get(model_id)
    given = {"source": entry} if isinstance(entry, str) else dict(entry or {})
    source = given.pop("source", None)
    if not is_model_url(source):
        return models.get(model_id)
    resolved = resolve_model_url(source, trusted=models.allow_files, place=f"models '{model_id}'")
    local = copy.copy(models)  # this model's entry as a local file; the library left as it is
    local.declared = {**models.declared, model_id: resolved.entry(given)}
    local.allow_files = True  # the file is the cache's, fetched under the operator's rules
    try:
        return local.get(model_id)
    except ModelError as error:  # a field the URL's description lacks: say where they come from
        if error.message.startswith(f"model '{model_id}': field "):
            error.hint = fields_hint(source)
        raise


def as_image(value: Any, model: str, policy: ImagePolicy) -> WorkflowImage:
    """A model's input: a ``WorkflowImage`` as it is; arrays, paths, base64 loaded."""
    if isinstance(value, WorkflowImage):
        return value
    if isinstance(value, list | tuple):
        raise TypeError(
            f"model '{model}' takes one image, and was given a list of {len(value)}: "
            f"apply it to each item with [map, {model}, <the list>]"
        )
    return load_image(value, place=f"model '{model}' input", policy=policy)


class ModelHandle:
    """One of the document's models, as a function sees it."""

    def __init__(self, name: str, model: Any, policy: ImagePolicy):
        self.name = name
        self._model = model
        self._policy = policy

    def predict(self, images: Any, options: dict[str, Any] | None = None) -> Any:
        """The prediction of one image, or the list of predictions of a list (one call, so
        the model batches them); ``None`` gives ``None``."""
        if isinstance(images, list | tuple):
            present = [position for position, image in enumerate(images) if image is not None]
            loaded = [as_image(images[position], self.name, self._policy) for position in present]
            results: list[Any] = [None] * len(images)
            if loaded:
                predictions = self._model.predict(loaded, dict(options or {}))
                for position, prediction in zip(present, predictions, strict=True):
                    results[position] = prediction
            return results
        if images is None:
            return None
        return self.predict([images], options)[0]

    def __repr__(self) -> str:
        return f"<model {self.name!r}>"


class WorkflowExecutor:
    """What a function taking ``executor`` may call: ``executor.model(name).predict(...)``
    and ``executor.call(name, *args)``, over the document's models and functions."""

    def __init__(
        self,
        models: dict[str, Any],
        functions: dict[str, tuple[str, dict[str, Any]]],
        policy: ImagePolicy,
        importer: Callable[[str, dict[str, Any]], Any],
    ):
        self._models = {name: ModelHandle(name, model, policy) for name, model in models.items()}
        self._declared = dict(functions)
        self._importer = importer
        self._made: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def models(self) -> list[str]:
        return sorted(self._models)

    @property
    def functions(self) -> list[str]:
        return sorted({*self._declared, *BUILTIN_FUNCTIONS})

    def model(self, name: str) -> ModelHandle:
        if name not in self._models:
            raise KeyError(f"no model '{name}' in this workflow; its models: {self.models}")
        return self._models[name]

    def call(self, name: str, *args: Any) -> Any:
        """A function of the document (or a built-in) applied to ``args``; one that takes
        an executor gets this one."""
        function = self._function(name)
        if takes_executor(function):
            return call_with_executor(function, args, self, executor_slot(function))
        return function(*args)

    def _function(self, name: str) -> Any:
        if name in self._declared:
            with self._lock:  # a class is made once, whichever thread calls it first
                if name not in self._made:
                    self._made[name] = self._importer(*self._declared[name])
                return self._made[name]
        if name in BUILTIN_FUNCTIONS:
            return BUILTIN_FUNCTIONS[name]
        raise KeyError(f"no function '{name}' in this workflow; its functions: {self.functions}")
