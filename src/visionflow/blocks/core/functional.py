"""Blocks for function-style workflows: call a function, call a model, spread a list.

The functional dialect compiles every application into these; native documents can use
them too. ``FunctionCall`` runs a built-in function (``blocks/core/functions.py``) or any
importable Python function or class, which is custom code: refused unless allowed. Such a
function that takes ``executor`` gets the workflow's (``function_executor.py``).
"""

from __future__ import annotations

import importlib
from typing import Any, Literal

from pydantic import BaseModel, Field

from visionflow.blocks.api import Batch, Block, BlockManifest, Output, Selector
from visionflow.blocks.core.function_executor import (
    WorkflowExecutor,
    as_image,
    call_with_executor,
    executor_slot,
    load_model,
    takes_executor,
)
from visionflow.blocks.core.functions import BUILTIN_FUNCTIONS
from visionflow.blocks.core.models import _ModelBlock
from visionflow.errors import CustomCodeNotAllowedError, DefinitionError, ModelError
from visionflow.models.spec import MODEL_TASKS

ANY = Selector()


class _FunctionEntry(BaseModel):
    """A declared function an executor may call: its import path and class arguments."""

    path: str
    init: dict[str, Any] = Field(default_factory=dict)


class FunctionCall(Block):
    """``function(*args)`` for each element: a built-in name or ``package.module:name``.

    A class is instantiated once, with ``init`` as keyword arguments, when the workflow
    is compiled; its instances are then called like functions. One whose signature has an
    ``executor`` parameter gets a ``WorkflowExecutor`` over ``workflow_models`` (names of
    the document's models) and ``workflow_functions`` (name -> ``{path, init}``).
    """

    class Manifest(Block.Manifest):
        type: Literal["visionflow/function_call@v1", "FunctionCall"]
        function: str = Field(min_length=1)
        args: list[ANY | Any] = Field(default_factory=list)
        init: dict[str, Any] = Field(default_factory=dict)
        workflow_models: list[str] = Field(default_factory=list)
        workflow_functions: dict[str, _FunctionEntry] = Field(default_factory=dict)

    outputs = [Output("value")]
    init_parameters = ["allow_custom_code", "models", "image_policy"]

    def setup(self, manifest: BlockManifest) -> None:
        self.executor = None  # built-ins never take one
        if manifest.function in BUILTIN_FUNCTIONS:
            self.function = BUILTIN_FUNCTIONS[manifest.function]
            return
        if not self.allow_custom_code:
            raise CustomCodeNotAllowedError(
                f"'{manifest.function}' is Python code imported from the document, "
                "and custom code is not allowed here",
                place="field 'function'",
                hint=f"built-in functions: {', '.join(BUILTIN_FUNCTIONS)}",
            )
        self.function = _imported(manifest.function, manifest.init)
        self.executor = self._executor(manifest) if takes_executor(self.function) else None
        if self.executor is not None:
            self.slot = executor_slot(self.function)

    def _executor(self, manifest: BlockManifest) -> WorkflowExecutor:
        """Its models loaded now, so that a missing one is a compile error of the step."""
        models = {}
        for name in manifest.workflow_models:
            try:
                models[name] = load_model(self.models, name)
            except ModelError as error:
                raise error.at(f"executor model '{name}'") from None
        functions = {name: (e.path, e.init) for name, e in manifest.workflow_functions.items()}
        return WorkflowExecutor(models, functions, self.image_policy, _imported)

    def run(self, function: str, args: list, **_: Any) -> dict[str, Any]:
        if self.executor is not None:
            return {"value": call_with_executor(self.function, args, self.executor, self.slot)}
        return {"value": self.function(*args)}


class ModelCall(_ModelBlock):
    """A model of any task on each image; its prediction as it comes out of the head.

    Values that are not ``WorkflowImage`` yet (arrays, file paths, base64) are loaded,
    so functions may return plain arrays for a model to read.
    """

    class Manifest(Block.Manifest):
        type: Literal["visionflow/model_call@v1", "ModelCall"]
        images: ANY
        model: str

    outputs = [Output("value")]
    tasks = MODEL_TASKS
    init_parameters = ["models", "image_policy"]  # files and URLs only as the compiler allows

    def setup(self, manifest: BlockManifest) -> None:
        self.model = load_model(self.models, manifest.model)  # a URL entry is fetched first

    def run(self, images: Batch, model: str) -> list[dict[str, Any]]:
        # None (e.g. a function that found nothing) gives None, and the rest still run
        present = [position for position, image in enumerate(images) if image is not None]
        loaded = [as_image(images[position], model, self.image_policy) for position in present]
        predictions: list[Any] = [None] * len(images)
        for position, prediction in zip(present, self.model.predict(loaded, {}), strict=True):
            predictions[position] = prediction
        return [{"value": prediction} for prediction in predictions]


class ListItems(Block):
    """Each item of a list as an element of a nested batch, one level deeper (a ``map``).

    ``per`` names the batch the lists belong to when ``items`` is one list for the whole
    run (a value computed without the input): it is then spread under every element.
    ``None`` has no items, so its element maps to an empty list.
    """

    class Manifest(Block.Manifest):
        type: Literal["visionflow/list_items@v1", "ListItems"]
        items: ANY
        per: ANY | None = None

    outputs = [Output("item")]
    output_dimensionality_offset = 1
    accepts_empty = True  # called for None too, so that a map of None is an empty list

    def run(self, items: Any, per: Any = None) -> list[dict[str, Any]]:
        if items is None:  # nothing to go over (e.g. a function found nothing): no items
            return []
        if type(items).__name__ == "Detections":  # one detection at a time, still Detections
            return [{"item": items[position : position + 1]} for position in range(len(items))]
        if isinstance(items, str | bytes | dict) or not hasattr(items, "__iter__"):
            raise TypeError(f"map needs a list to go over, found {type(items).__name__}")
        return [{"item": item} for item in items]


def _imported(path: str, init: dict[str, Any]) -> Any:
    """The function (or an instance of the class) that ``module:name`` names."""
    module_name, _, attribute = path.partition(":") if ":" in path else path.rpartition(".")
    if not module_name or not attribute:
        raise DefinitionError(
            f"'{path}' is not an import path",
            place="field 'function'",
            hint="write package.module:function (or package.module.function)",
        )
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise DefinitionError(
            f"cannot import '{path}': {type(error).__name__}: {error}",
            place="field 'function'",
            hint="check the module is importable (installed, or on PYTHONPATH) and the name",
        ) from None
    if isinstance(found, type):
        return _instance(path, found, init)
    if init:
        raise DefinitionError(
            f"'{path}' is a function; 'init' only applies to classes", place="field 'init'"
        )
    if not callable(found):
        raise DefinitionError(f"'{path}' is not callable", place="field 'function'")
    return found


def _instance(path: str, cls: type, init: dict[str, Any]) -> Any:
    """One instance of the class, checked callable now rather than at the first run."""
    try:
        instance = cls(**init)
    except TypeError as error:  # init that does not match the constructor
        raise DefinitionError(
            f"'{path}' cannot be made with init {init}: {error}",
            place="field 'init'",
            hint="'init' holds the keyword arguments of the class's constructor",
        ) from None
    if not callable(instance):
        # DJL's ServingFunction is run(executor, args); here the instance itself is called
        run = " (DJL's run(executor, args) becomes __call__(self, *args, executor))"
        raise DefinitionError(
            f"'{path}' is a class whose instances cannot be called",
            place="field 'function'",
            hint="give it a __call__ method, called with the arguments"
            + (run if hasattr(instance, "run") else ""),
        )
    return instance
