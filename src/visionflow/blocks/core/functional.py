"""Blocks for function-style workflows: call a function, call a model, spread a list.

The functional dialect compiles every application into these; native documents can use
them too. ``FunctionCall`` runs a built-in function (``blocks/core/functions.py``) or any
importable Python function or class, which is custom code: refused unless allowed.
"""

from __future__ import annotations

import importlib
from typing import Any, Literal

from pydantic import Field

from visionflow.blocks.api import Batch, Block, BlockManifest, Output, Selector
from visionflow.blocks.core.functions import BUILTIN_FUNCTIONS
from visionflow.blocks.core.models import _ModelBlock
from visionflow.data.image import WorkflowImage, load_image
from visionflow.data.sources import ImagePolicy
from visionflow.errors import CustomCodeNotAllowedError, DefinitionError
from visionflow.models.spec import MODEL_TASKS

ANY = Selector()


class FunctionCall(Block):
    """``function(*args)`` for each element: a built-in name or ``package.module:name``.

    A class is instantiated once, with ``init`` as keyword arguments, when the workflow
    is compiled; its instances are then called like functions.
    """

    class Manifest(Block.Manifest):
        type: Literal["visionflow/function_call@v1", "FunctionCall"]
        function: str = Field(min_length=1)
        args: list[ANY | Any] = Field(default_factory=list)
        init: dict[str, Any] = Field(default_factory=dict)

    outputs = [Output("value")]
    init_parameters = ["allow_custom_code"]

    def setup(self, manifest: BlockManifest) -> None:
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

    def run(self, function: str, args: list, init: dict) -> dict[str, Any]:
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

    def run(self, images: Batch, model: str) -> list[dict[str, Any]]:
        # None (e.g. a function that found nothing) gives None, and the rest still run
        present = [position for position, image in enumerate(images) if image is not None]
        loaded = [_image(images[position], model, self.image_policy) for position in present]
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


def _image(value: Any, model: str, policy: ImagePolicy) -> WorkflowImage:
    if isinstance(value, WorkflowImage):
        return value
    if isinstance(value, list | tuple):
        raise TypeError(
            f"model '{model}' takes one image, and was given a list of {len(value)}: "
            f"apply it to each item with [map, {model}, <the list>]"
        )
    return load_image(value, place=f"model '{model}' input", policy=policy)


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
        return found(**init)
    if init:
        raise DefinitionError(
            f"'{path}' is a function; 'init' only applies to classes", place="field 'init'"
        )
    if not callable(found):
        raise DefinitionError(f"'{path}' is not callable", place="field 'function'")
    return found
