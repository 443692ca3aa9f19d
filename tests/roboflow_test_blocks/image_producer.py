"""Roboflow's ``plugin_image_producer``: images made from nothing, consumers of every
batch declaration, dimensionality raisers and reducers, and three flow-control blocks.

Every consumer reports image shapes as JSON text (``"[192, 168, 3]"``), so a test can
tell which image reached which parameter.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Literal

import numpy as np

from visionflow import Batch, Block, FlowControl, Output, Selector, StepSelector, WorkflowImage

IMAGE = ["image"]


def shape_of(image: WorkflowImage) -> str:
    return json.dumps(list(image.numpy.shape))


def by_position(batches: list[Batch]) -> list[list[Any]]:
    """Elements of several aligned batches regrouped per element: [[b0[i], b1[i], ...]]."""
    return [list(values) for values in zip(*batches, strict=True)]


def sorted_values(mapping: dict[str, Any]) -> list[Any]:
    return [mapping[key] for key in sorted(mapping)]


class ImageProducer(Block):
    """An all-zero image of ``shape``: a scalar (it depends on no batch)."""

    class Manifest(Block.Manifest):
        type: Literal["ImageProducer"]
        shape: tuple[int, int, int] = (192, 168, 3)

    outputs = [Output("image", kinds=IMAGE)]

    def run(self, shape: tuple[int, int, int]) -> dict:
        pixels = np.zeros(shape, dtype=np.uint8)
        return {"image": WorkflowImage(pixels, image_id=f"image_producer.{uuid.uuid4()}")}


class ImageConsumer(Block):
    class Manifest(Block.Manifest):
        type: Literal["ImageConsumer"]
        images: Selector(kinds=IMAGE)

    outputs = [Output("shapes", kinds=["string"])]
    accepts_batches = True  # get_parameters_accepting_batches() == ["images"]
    batch_fields = frozenset({"images"})

    def run(self, images: Batch) -> list[dict]:
        return [{"shapes": shape_of(image)} for image in images]


class ImageConsumerNonSIMD(Block):
    class Manifest(Block.Manifest):
        type: Literal["ImageConsumerNonSIMD"]
        images: Selector(kinds=IMAGE)

    outputs = [Output("shapes", kinds=["string"])]

    def run(self, images: WorkflowImage) -> dict:
        return {"shapes": shape_of(images)}


class _TwoImages(Block.Manifest):
    images_x: Selector(kinds=IMAGE)
    images_y: Selector(kinds=IMAGE)


class MultiSIMDImageConsumer(Block):
    class Manifest(_TwoImages):
        type: Literal["MultiSIMDImageConsumer"]

    outputs = [Output("metadata", kinds=["string"])]
    accepts_batches = True  # accepting batches: images_x, images_y
    batch_fields = frozenset({"images_x", "images_y"})

    def run(self, images_x: Batch, images_y: Batch) -> list[dict]:
        return [
            {"metadata": shape_of(x) + shape_of(y)} for x, y in zip(images_x, images_y, strict=True)
        ]


class MultiImageConsumer(Block):
    class Manifest(_TwoImages):
        type: Literal["MultiImageConsumer"]

    outputs = [Output("shapes", kinds=["string"])]

    def run(self, images_x: WorkflowImage, images_y: WorkflowImage) -> dict:
        return {"shapes": shape_of(images_x) + shape_of(images_y)}


class MultiImageConsumerRaisingDim(Block):
    class Manifest(_TwoImages):
        type: Literal["MultiImageConsumerRaisingDim"]

    outputs = [Output("shapes", kinds=["string"])]
    output_dimensionality_offset = 1  # get_output_dimensionality_offset() == 1

    def run(self, images_x: WorkflowImage, images_y: WorkflowImage) -> list[dict]:
        return [{"shapes": shape_of(images_x) + shape_of(images_y)}]


class MultiSIMDImageConsumerRaisingDim(Block):
    class Manifest(_TwoImages):
        type: Literal["MultiSIMDImageConsumerRaisingDim"]

    outputs = [Output("shapes", kinds=["string"])]
    accepts_batches = True
    batch_fields = frozenset({"images_x", "images_y"})
    output_dimensionality_offset = 1

    def run(self, images_x: Batch, images_y: Batch) -> list[list[dict]]:
        return [
            [{"shapes": shape_of(x) + shape_of(y)}] for x, y in zip(images_x, images_y, strict=True)
        ]


class _TwoImagesAndAdditional(_TwoImages):
    additional: Selector() | float


def _pairs_text(images_x: Batch, images_y: Batch) -> str:
    return "\n".join(shape_of(x) + shape_of(y) for x, y in zip(images_x, images_y, strict=True))


def _refuse_batch(name: str, value: Any) -> None:
    if isinstance(value, Batch):  # Roboflow's stub asserts this parameter stays a scalar
        raise TypeError(f"parameter '{name}' must not be a Batch")


class MultiNonSIMDImageConsumerDecreasingDim(Block):
    class Manifest(_TwoImagesAndAdditional):
        type: Literal["MultiNonSIMDImageConsumerDecreasingDim"]

    outputs = [Output("shapes", kinds=["string"])]
    # get_parameters_enforcing_auto_batch_casting() == ["images_x", "images_y"]
    batch_fields = frozenset({"images_x", "images_y"})
    output_dimensionality_offset = -1

    def run(self, images_x: Batch, images_y: Batch, additional: Any) -> dict:
        _refuse_batch("additional", additional)
        return {"shapes": _pairs_text(images_x, images_y)}


class MultiSIMDImageConsumerDecreasingDim(Block):
    class Manifest(_TwoImagesAndAdditional):
        type: Literal["MultiSIMDImageConsumerDecreasingDim"]

    outputs = [Output("shapes", kinds=["string"])]
    accepts_batches = True
    batch_fields = frozenset({"images_x", "images_y"})
    output_dimensionality_offset = -1

    def run(self, images_x: Batch, images_y: Batch, additional: Any) -> list[dict]:
        _refuse_batch("additional", additional)
        return [{"shapes": _pairs_text(x, y)} for x, y in zip(images_x, images_y, strict=True)]


class Identity(Block):
    class Manifest(Block.Manifest):
        type: Literal["Identity"]
        x: Selector()

    outputs = [Output("x")]

    def run(self, x: Any) -> dict:
        return {"x": x}


class IdentitySIMD(Block):
    class Manifest(Block.Manifest):
        type: Literal["IdentitySIMD"]
        x: Selector()

    outputs = [Output("x")]
    accepts_batches = True
    batch_fields = frozenset({"x"})

    def run(self, x: Batch) -> list[dict]:
        if not isinstance(x, Batch):
            raise TypeError("x must arrive as a Batch")
        return [{"x": element} for element in x]


class BoostDimensionality(Block):
    class Manifest(Block.Manifest):
        type: Literal["BoostDimensionality"]
        x: Selector()

    outputs = [Output("x")]
    output_dimensionality_offset = 1

    def run(self, x: Any) -> list[dict]:
        return [{"x": x}, {"x": x}]


class DoubleBoostDimensionality(Block):
    class Manifest(Block.Manifest):
        type: Literal["DoubleBoostDimensionality"]
        x: Selector()
        y: Selector()

    outputs = [Output("x"), Output("y")]
    output_dimensionality_offset = 1

    def run(self, x: Any, y: Any) -> list[dict]:
        return [{"x": x, "y": y}, {"x": x, "y": y}]


class _ListsXY(Block.Manifest):
    x: list[Selector(kinds=IMAGE)]
    y: list[Selector(kinds=IMAGE)]


class NonSIMDConsumerAcceptingList(Block):
    class Manifest(_ListsXY):
        type: Literal["NonSIMDConsumerAcceptingList"]

    outputs = [Output("x"), Output("y")]

    def run(self, x: list, y: list) -> dict:
        return {"x": x, "y": y}


class SIMDConsumerAcceptingList(Block):
    class Manifest(_ListsXY):
        type: Literal["SIMDConsumerAcceptingList"]

    outputs = [Output("x"), Output("y")]
    accepts_batches = True  # a list of selectors accepting batches: a list of Batch
    batch_fields = frozenset({"x", "y"})

    def run(self, x: list[Batch], y: list[Batch]) -> list[dict]:
        return [{"x": xs, "y": ys} for xs, ys in zip(by_position(x), by_position(y), strict=True)]


class _DictX(Block.Manifest):
    x: dict[str, Selector(kinds=IMAGE)]


class NonSIMDConsumerAcceptingDict(Block):
    class Manifest(_DictX):
        type: Literal["NonSIMDConsumerAcceptingDict"]

    outputs = [Output("x")]

    def run(self, x: dict) -> dict:
        return {"x": sorted_values(x)}


def _dict_rows(x: dict[str, Batch]) -> list[list[Any]]:
    """Per element position, the values of the sorted keys."""
    return by_position(sorted_values(x))


class SIMDConsumerAcceptingDict(Block):
    class Manifest(_DictX):
        type: Literal["SIMDConsumerAcceptingDict"]

    outputs = [Output("x")]
    accepts_batches = True
    batch_fields = frozenset({"x"})

    def run(self, x: dict[str, Batch]) -> list[dict]:
        return [{"x": row} for row in _dict_rows(x)]


class NonSIMDConsumerAcceptingListIncDim(Block):
    class Manifest(Block.Manifest):
        type: Literal["NonSIMDConsumerAcceptingListIncDim"]
        x: list[Selector(kinds=IMAGE)]

    outputs = [Output("x")]
    output_dimensionality_offset = 1

    def run(self, x: list) -> list[dict]:
        return [{"x": x}, {"x": x}]


class NonSIMDConsumerAcceptingDictIncDim(Block):
    class Manifest(_DictX):
        type: Literal["NonSIMDConsumerAcceptingDictIncDim"]

    outputs = [Output("x")]
    output_dimensionality_offset = 1

    def run(self, x: dict) -> list[dict]:
        return [{"x": sorted_values(x)}, {"x": sorted_values(x)}]


class SIMDConsumerAcceptingDictIncDim(Block):
    class Manifest(_DictX):
        type: Literal["SIMDConsumerAcceptingDictIncDim"]

    outputs = [Output("x")]
    accepts_batches = True
    batch_fields = frozenset({"x"})
    output_dimensionality_offset = 1

    def run(self, x: dict[str, Batch]) -> list[list[dict]]:
        return [[{"x": row}, {"x": row}] for row in _dict_rows(x)]


class _ListXAndY(Block.Manifest):
    x: list[Selector(kinds=IMAGE)]
    y: Selector() | str


class NonSIMDConsumerAcceptingListDecDim(Block):
    class Manifest(_ListXAndY):
        type: Literal["NonSIMDConsumerAcceptingListDecDim"]

    outputs = [Output("x")]
    batch_fields = frozenset({"x"})  # enforcing auto batch casting: x
    output_dimensionality_offset = -1

    def run(self, x: list[Batch], y: Any) -> dict:
        _refuse_batch("y", y)
        return {"x": [element for batch in x for element in batch]}


class SIMDConsumerAcceptingListDecDim(Block):
    class Manifest(_ListXAndY):
        type: Literal["SIMDConsumerAcceptingListDecDim"]

    outputs = [Output("x")]
    accepts_batches = True
    batch_fields = frozenset({"x"})
    output_dimensionality_offset = -1

    def run(self, x: list[Batch], y: Any) -> list[dict]:
        _refuse_batch("y", y)
        return [{"x": [element for inner in row for element in inner]} for row in by_position(x)]


class NonSIMDConsumerAcceptingDictDecDim(Block):
    class Manifest(_DictX):
        type: Literal["NonSIMDConsumerAcceptingDictDecDim"]

    outputs = [Output("x")]
    batch_fields = frozenset({"x"})  # enforcing auto batch casting: x
    output_dimensionality_offset = -1

    def run(self, x: dict[str, Batch]) -> dict:
        if not all(isinstance(value, Batch) for value in x.values()):
            raise TypeError("every value of x must arrive as a Batch")
        return {"x": [list(batch) for batch in sorted_values(x)]}


class SIMDConsumerAcceptingDictDecDim(Block):
    class Manifest(_DictX):
        type: Literal["SIMDConsumerAcceptingDictDecDim"]

    outputs = [Output("x")]
    accepts_batches = True
    batch_fields = frozenset({"x"})
    output_dimensionality_offset = -1

    def run(self, x: dict[str, Batch]) -> list[dict]:
        return [{"x": [list(inner) for inner in row]} for row in _dict_rows(x)]


class _FlowManifest(Block.Manifest):
    x: Selector() | Any
    next_steps: list[StepSelector]


class AlwaysTerminate(Block):
    class Manifest(_FlowManifest):
        type: Literal["AlwaysTerminate"]

    def run(self, x: Any, next_steps: list[str]) -> FlowControl:
        return FlowControl([])  # Roboflow's "terminate_branch"


class AlwaysPass(Block):
    class Manifest(_FlowManifest):
        type: Literal["AlwaysPass"]

    def run(self, x: Any, next_steps: list[str]) -> FlowControl:
        return FlowControl(next_steps)  # Roboflow's "select_step"


class EachSecondPass(Block):
    """Passes on its 1st, 3rd, 5th... call of the step (state kept per step)."""

    class Manifest(_FlowManifest):
        type: Literal["EachSecondPass"]

    def __init__(self, **init_parameters: Any):
        super().__init__(**init_parameters)
        self._passed_last = False

    def run(self, x: Any, next_steps: list[str]) -> FlowControl:
        self._passed_last = not self._passed_last
        return FlowControl(next_steps if self._passed_last else [])


BLOCKS: list[type[Block]] = [
    ImageProducer,
    ImageConsumer,
    ImageConsumerNonSIMD,
    MultiSIMDImageConsumer,
    MultiImageConsumer,
    MultiImageConsumerRaisingDim,
    MultiSIMDImageConsumerRaisingDim,
    MultiNonSIMDImageConsumerDecreasingDim,
    MultiSIMDImageConsumerDecreasingDim,
    Identity,
    IdentitySIMD,
    BoostDimensionality,
    DoubleBoostDimensionality,
    NonSIMDConsumerAcceptingList,
    SIMDConsumerAcceptingList,
    NonSIMDConsumerAcceptingDict,
    SIMDConsumerAcceptingDict,
    NonSIMDConsumerAcceptingListIncDim,
    NonSIMDConsumerAcceptingDictIncDim,
    SIMDConsumerAcceptingDictIncDim,
    NonSIMDConsumerAcceptingListDecDim,
    SIMDConsumerAcceptingListDecDim,
    NonSIMDConsumerAcceptingDictDecDim,
    SIMDConsumerAcceptingDictDecDim,
    AlwaysTerminate,
    AlwaysPass,
    EachSecondPass,
]
