"""Roboflow's test definitions built on its test-only blocks, run through our re-creation of
those blocks (tests/roboflow_test_blocks, a plugin on visionflow's block API).

Each definition is written in Roboflow's document format, as Roboflow's engine tests build
them; each expected value is what Roboflow's engine (inference-core 1.8.3, execution
engine 1.17) answers on the same definition and inputs. Images are all-zero arrays: the
blocks report their shapes, so a test can tell which image reached which parameter.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from visionflow import Workflow, WorkflowImage
from visionflow.blocks.loader import forget_loaded_blocks
from visionflow.cli import app
from visionflow.errors import ManifestError, StepExecutionError
from visionflow.workflow import clear_cache

sys.path.insert(0, os.path.dirname(__file__))  # the plugin lives beside this file
from roboflow_test_blocks import load_blocks

BLOCKS = load_blocks()

# --- building Roboflow documents --------------------------------------------------------


def document(inputs: list, steps: list, outputs: dict[str, str], version: str = "1.1") -> dict:
    return {
        "version": version,
        "inputs": inputs,
        "steps": steps,
        "outputs": [
            {"type": "JsonField", "name": name, "selector": selector}
            for name, selector in outputs.items()
        ],
    }


def image_input(name: str) -> dict:
    return {"type": "WorkflowImage", "name": name}


def parameter(name: str, **extra: Any) -> dict:
    return {"type": "WorkflowParameter", "name": name, **extra}


def batch_input(name: str, **extra: Any) -> dict:
    return {"type": "WorkflowBatchInput", "name": name, **extra}


def step(block_type: str, name: str, **fields: Any) -> dict:
    return {"type": block_type, "name": name, **fields}


def producer(name: str, size: int | None = None, shape: list[int] | None = None) -> dict:
    if size is not None:
        shape = [size, size, 3]
    return step("ImageProducer", name, **({"shape": shape} if shape else {}))


def zeros(height: int, width: int) -> np.ndarray:
    return np.zeros((height, width, 3), dtype=np.uint8)


def heights(value: Any) -> Any:
    """Images as their heights (the tests' images are told apart by height)."""
    if isinstance(value, WorkflowImage):
        return value.height
    if isinstance(value, list):
        return [heights(item) for item in value]
    if isinstance(value, dict):
        return {key: heights(item) for key, item in value.items()}
    return value


def run(definition: dict, **params: Any) -> list[dict]:
    # cache=False: EachSecondPass keeps state per compiled step, as Roboflow's does
    return Workflow.compile(definition, blocks=BLOCKS, cache=False).run(**params)


def shapes(*pairs: tuple[int, int]) -> str:
    return "".join(f"[{h}, {w}, 3]" for h, w in pairs)


# --- 3.1: scalars fit into batch parameters (plugin_image_producer) ----------------------

DEFAULT = (192, 168)
S = shapes(DEFAULT, (220, 230))  # the two producers most cases combine
CONFIDENCE = parameter("confidence", default_value=0.3)
TWO = {"image_1": [zeros(100, 100), zeros(120, 120)], "image_3": [zeros(300, 300), zeros(320, 320)]}
THREE = {**TWO, "image_2": [zeros(200, 200), zeros(220, 220)]}
IMAGES_1_3 = [image_input("image_1"), image_input("image_3")]
BOOST = step("DoubleBoostDimensionality", "boost", x="$inputs.image_1", y="$inputs.image_3")
P50, P60 = producer("p50", 50), producer("p60", 60)
DICT_DIM_1 = {"a": "$inputs.image_1", "b": "$steps.p50.image", "c": "$inputs.image_3"}
DICT_DIM_2 = {"a": "$steps.boost.x", "b": "$steps.p50.image", "c": "$steps.boost.y"}
LIST_DIM_1 = ["$inputs.image_1", "$steps.p50.image", "$inputs.image_3"]
LIST_DIM_2 = ["$steps.boost.x", "$steps.p50.image", "$steps.boost.y"]
LIST_SCALARS = ["$steps.p50.image", "$steps.p60.image"]
X = {"x": "$steps.consumer.x"}
TWO_1D = {"image": [zeros(200, 100), zeros(300, 100)]}
FOUR = {
    "image_1": [zeros(200, 100), zeros(300, 100)],
    "image_2": [zeros(400, 100), zeros(500, 100)],
}
PAIRS_DIM_1 = shapes((200, 100), (400, 100)) + "\n" + shapes((300, 100), (500, 100))


def consumer(block_type: str, **fields: Any) -> dict:
    return step(block_type, "consumer", **fields)


def scalar_pair(consumer_type: str, y: str = "$steps.py.image", **extra: Any) -> list[dict]:
    """x: a producer's image through IdentitySIMD; y: a 220x230 producer (or ``y``)."""
    steps = [
        producer("px"),
        step("IdentitySIMD", "identity", x="$steps.px.image"),
        consumer(consumer_type, images_x="$steps.identity.x", images_y=y, **extra),
    ]
    return steps + ([producer("py", shape=[220, 230, 3])] if y == "$steps.py.image" else [])


def list_scalars(consumer_type: str) -> dict:
    steps = [
        producer("px", 100),
        producer("py", 200),
        producer("pz", 300),
        consumer(consumer_type, x=["$steps.px.image", "$steps.py.image"], y=["$steps.pz.image"]),
        step("BoostDimensionality", "boost", x="$steps.consumer.x"),
    ]
    return document([], steps, {"x": "$steps.boost.x", "y": "$steps.consumer.y"})


def dict_case(consumer_type: str, dims: int) -> dict:
    steps = [P50, consumer(consumer_type, x=DICT_DIM_1 if dims == 1 else DICT_DIM_2)]
    return document(IMAGES_1_3, ([BOOST] if dims == 2 else []) + steps, X)


def list_dec_case(consumer_type: str, dims: int) -> dict:
    if dims == 0:
        return document([], [P50, P60, consumer(consumer_type, x=LIST_SCALARS, y="v")], X)
    listed = LIST_DIM_1 if dims == 1 else LIST_DIM_2
    steps = ([BOOST] if dims == 2 else []) + [P50, consumer(consumer_type, x=listed, y="v")]
    return document(IMAGES_1_3, steps, X)


def dict_dec_scalars(consumer_type: str) -> dict:
    fields = {"a": "$steps.p50.image", "b": "$steps.p60.image"}
    return document([], [P50, P60, consumer(consumer_type, x=fields)], X)


def flow_list_dec(steps: list[dict], inputs: list | None = None, listed=LIST_SCALARS) -> dict:
    """SIMDConsumerAcceptingListDecDim behind the given flow-control steps."""
    target = consumer("SIMDConsumerAcceptingListDecDim", x=listed, y="some-value")
    return document(inputs or [], [*steps, target], X)


def gate(block_type: str, name: str, x: Any, target: str) -> dict:
    return step(block_type, name, x=x, next_steps=[f"$steps.{target}"])


CASES_3_1: dict[str, tuple[dict, dict, list[dict]]] = {
    "image_producer_single_image_simd_consumer": (
        document(
            [],
            [
                producer("image_producer"),
                consumer("ImageConsumer", images="$steps.image_producer.image"),
            ],
            {"shapes": "$steps.consumer.shapes"},
        ),
        {},
        [{"shapes": "[192, 168, 3]"}],
    ),
    "image_producer_single_image_non_simd_consumer": (
        document(
            [],
            [
                producer("image_producer"),
                consumer("ImageConsumerNonSIMD", images="$steps.image_producer.image"),
            ],
            {"shapes": "$steps.consumer.shapes"},
        ),
        {},
        [{"shapes": "[192, 168, 3]"}],
    ),
    "single_image_simd_consumer_from_input": (
        document(
            [image_input("image")],
            [consumer("ImageConsumer", images="$inputs.image")],
            {"shapes": "$steps.consumer.shapes"},
        ),
        {"image": zeros(240, 230)},
        [{"shapes": "[240, 230, 3]"}],
    ),
    "image_producer_multiple_images_simd_consumer": (
        document(
            [],
            [
                producer("px"),
                producer("py", shape=[240, 230, 3]),
                consumer(
                    "MultiSIMDImageConsumer", images_x="$steps.px.image", images_y="$steps.py.image"
                ),
            ],
            {"metadata": "$steps.consumer.metadata"},
        ),
        {},
        [{"metadata": shapes(DEFAULT, (240, 230))}],
    ),
    "image_producer_and_input_images_combined": (
        document(
            [image_input("image")],
            [
                producer("px"),
                consumer(
                    "MultiSIMDImageConsumer", images_x="$steps.px.image", images_y="$inputs.image"
                ),
            ],
            {"metadata": "$steps.consumer.metadata"},
        ),
        {"image": [zeros(192, 192), zeros(200, 192), zeros(300, 192)]},
        [{"metadata": shapes(DEFAULT, (h, 192))} for h in (192, 200, 300)],
    ),
    "image_producer_and_step_output_images_combined": (
        document(
            [image_input("image")],
            [
                producer("px"),
                step("IdentitySIMD", "identity", x="$inputs.image"),
                consumer(
                    "MultiSIMDImageConsumer",
                    images_x="$steps.px.image",
                    images_y="$steps.identity.x",
                ),
            ],
            {"metadata": "$steps.consumer.metadata"},
        ),
        {"image": [zeros(192, 192), zeros(200, 192), zeros(300, 192)]},
        [{"metadata": shapes(DEFAULT, (h, 192))} for h in (192, 200, 300)],
    ),
    "scalar_multi_image_consumer_fed_by_scalar_producers": (
        document([], scalar_pair("MultiImageConsumer"), {"shapes": "$steps.consumer.shapes"}),
        {},
        [{"shapes": S}],
    ),
    "scalar_multi_image_consumer_fed_by_scalar_producer_and_batch_input": (
        document(
            [image_input("image")],
            [
                producer("py", shape=[220, 230, 3]),
                consumer(
                    "MultiImageConsumer", images_x="$inputs.image", images_y="$steps.py.image"
                ),
            ],
            {"shapes": "$steps.consumer.shapes"},
        ),
        {"image": zeros(200, 400)},
        [{"shapes": shapes((200, 400), (220, 230))}],
    ),
    "non_simd_consumer_raising_output_dim_fed_by_scalar_producers": (
        document(
            [], scalar_pair("MultiImageConsumerRaisingDim"), {"shapes": "$steps.consumer.shapes"}
        ),
        {},
        [{"shapes": [S]}],
    ),
    "non_simd_consumer_raising_output_dim_fed_by_scalar_producer_and_batch_input": (
        document(
            [image_input("image")],
            scalar_pair("MultiImageConsumerRaisingDim", y="$inputs.image"),
            {"shapes": "$steps.consumer.shapes"},
        ),
        TWO_1D,
        [{"shapes": [shapes(DEFAULT, (200, 100))]}, {"shapes": [shapes(DEFAULT, (300, 100))]}],
    ),
}

for low, block_type in [
    ("non_simd", "MultiNonSIMDImageConsumerDecreasingDim"),
    ("simd", "MultiSIMDImageConsumerDecreasingDim"),
]:
    CASES_3_1[f"{low}_consumer_decreasing_output_dim_fed_by_scalar_producers"] = (
        document(
            [CONFIDENCE],
            scalar_pair(block_type, additional="$inputs.confidence"),
            {"shapes": "$steps.consumer.shapes"},
        ),
        {},
        [{"shapes": S}],
    )
    CASES_3_1[f"{low}_consumer_decreasing_output_dim_fed_by_scalar_producer_and_batch_input"] = (
        document(
            [image_input("image"), CONFIDENCE],
            scalar_pair(block_type, y="$inputs.image", additional="$inputs.confidence"),
            {"shapes": "$steps.consumer.shapes"},
        ),
        TWO_1D,
        [{"shapes": shapes(DEFAULT, (200, 100)) + "\n" + shapes(DEFAULT, (300, 100))}],
    )


def _decreasing_at_dim_1(boost_at_end: bool) -> dict:
    steps = [
        step("IdentitySIMD", "identity_simd", x="$inputs.image_1"),
        step("Identity", "identity_non_simd", x="$inputs.image_2"),
        consumer(
            "MultiSIMDImageConsumerDecreasingDim",
            images_x="$steps.identity_simd.x",
            images_y="$steps.identity_non_simd.x",
            additional="$inputs.confidence",
        ),
        step("IdentitySIMD", "identity_simd_2", x="$steps.consumer.shapes"),
    ]
    if boost_at_end:
        steps.append(step("BoostDimensionality", "boost", x="$steps.identity_simd_2.x"))
    output = "$steps.boost.x" if boost_at_end else "$steps.identity_simd_2.x"
    inputs = [image_input("image_1"), image_input("image_2"), CONFIDENCE]
    return document(inputs, steps, {"shapes": output})


CASES_3_1.update(
    {
        "simd_consumer_decreasing_output_dim_fed_by_batch_inputs_at_dim_1": (
            _decreasing_at_dim_1(False),
            FOUR,
            [{"shapes": PAIRS_DIM_1}],
        ),
        # Roboflow's tests (EE 1.3) expected a compile error; its engine now runs it (1.6)
        "simd_consumer_decreasing_output_dim_fed_by_batch_inputs_at_dim_1_boosting_at_the_end": (
            _decreasing_at_dim_1(True),
            FOUR,
            [{"shapes": [PAIRS_DIM_1, PAIRS_DIM_1]}],
        ),
        "simd_consumer_decreasing_output_dim_fed_by_batch_inputs_at_dim_2": (
            document(
                [image_input("image_1"), image_input("image_2"), CONFIDENCE],
                [
                    step(
                        "DoubleBoostDimensionality",
                        "boost",
                        x="$inputs.image_1",
                        y="$inputs.image_2",
                    ),
                    consumer(
                        "MultiSIMDImageConsumerDecreasingDim",
                        images_x="$steps.boost.x",
                        images_y="$steps.boost.y",
                        additional="$inputs.confidence",
                    ),
                    step("IdentitySIMD", "identity_simd_2", x="$steps.consumer.shapes"),
                ],
                {"shapes": "$steps.identity_simd_2.x"},
            ),
            FOUR,
            [
                {"shapes": "\n".join([shapes((200, 100), (400, 100))] * 2)},
                {"shapes": "\n".join([shapes((300, 100), (500, 100))] * 2)},
            ],
        ),
        "simd_consumer_decreasing_output_dim_fed_by_scalar_inputs_boosting_dim_at_the_end": (
            document(
                [CONFIDENCE],
                [
                    producer("px"),
                    producer("py"),
                    consumer(
                        "MultiSIMDImageConsumerDecreasingDim",
                        images_x="$steps.px.image",
                        images_y="$steps.py.image",
                        additional="$inputs.confidence",
                    ),
                    step("IdentitySIMD", "identity_simd_2", x="$steps.consumer.shapes"),
                    step("BoostDimensionality", "boost", x="$steps.identity_simd_2.x"),
                ],
                {"shapes": "$steps.boost.x"},
            ),
            {},
            [{"shapes": [shapes(DEFAULT, DEFAULT)] * 2}],
        ),
    }
)

for low, prefix in [("non_simd", "NonSIMD"), ("simd", "SIMD")]:
    CASES_3_1.update(
        {
            f"{low}_customer_accepting_list_of_scalar_images": (
                list_scalars(f"{prefix}ConsumerAcceptingList"),
                {},
                [{"x": [[100, 200], [100, 200]], "y": [300]}],
            ),
            f"{low}_customer_accepting_list_of_batch_images": (
                document(
                    [image_input("image_1"), image_input("image_2"), image_input("image_3")],
                    [
                        consumer(
                            f"{prefix}ConsumerAcceptingList",
                            x=["$inputs.image_1", "$inputs.image_2"],
                            y=["$inputs.image_3"],
                        )
                    ],
                    {"x": "$steps.consumer.x", "y": "$steps.consumer.y"},
                ),
                THREE,
                [{"x": [100, 200], "y": [300]}, {"x": [120, 220], "y": [320]}],
            ),
            f"{low}_customer_accepting_list_of_batch_and_scalar_images": (
                document(
                    IMAGES_1_3,
                    [
                        P50,
                        consumer(
                            f"{prefix}ConsumerAcceptingList",
                            x=["$inputs.image_1", "$steps.p50.image"],
                            y=["$inputs.image_3"],
                        ),
                    ],
                    {"x": "$steps.consumer.x", "y": "$steps.consumer.y"},
                ),
                TWO,
                [{"x": [100, 50], "y": [300]}, {"x": [120, 50], "y": [320]}],
            ),
            f"{low}_customer_accepting_dict_of_batch_and_scalar_images": (
                dict_case(f"{prefix}ConsumerAcceptingDict", 1),
                TWO,
                [{"x": [100, 50, 300]}, {"x": [120, 50, 320]}],
            ),
            f"{low}_customer_accepting_dict_of_batch_and_scalar_images_at_dim_2": (
                dict_case(f"{prefix}ConsumerAcceptingDict", 2),
                TWO,
                [{"x": [[100, 50, 300]] * 2}, {"x": [[120, 50, 320]] * 2}],
            ),
            f"{low}_customer_increasing_dimensionality_accepting_dict_at_dim_2": (
                dict_case(f"{prefix}ConsumerAcceptingDictIncDim", 2),
                TWO,
                [{"x": [[[100, 50, 300]] * 2] * 2}, {"x": [[[120, 50, 320]] * 2] * 2}],
            ),
            f"{low}_customer_decreasing_dimensionality_accepting_dict_at_dim_2": (
                dict_case(f"{prefix}ConsumerAcceptingDictDecDim", 2),
                TWO,
                [
                    {"x": [[100, 100], [50, 50], [300, 300]]},
                    {"x": [[120, 120], [50, 50], [320, 320]]},
                ],
            ),
            f"{low}_customer_decreasing_dimensionality_accepting_dict_at_dim_1": (
                dict_case(f"{prefix}ConsumerAcceptingDictDecDim", 1),
                TWO,
                [{"x": [[100, 120], [50, 50], [300, 320]]}],
            ),
            f"{low}_customer_decreasing_dimensionality_accepting_dict_of_scalars": (
                dict_dec_scalars(f"{prefix}ConsumerAcceptingDictDecDim"),
                {},
                [{"x": [[50], [60]]}],
            ),
            f"{low}_customer_decreasing_dimensionality_accepting_list_at_dim_2": (
                list_dec_case(f"{prefix}ConsumerAcceptingListDecDim", 2),
                TWO,
                [{"x": [100, 100, 50, 50, 300, 300]}, {"x": [120, 120, 50, 50, 320, 320]}],
            ),
            f"{low}_customer_decreasing_dimensionality_accepting_list_at_dim_1": (
                list_dec_case(f"{prefix}ConsumerAcceptingListDecDim", 1),
                TWO,
                [{"x": [100, 120, 50, 50, 300, 320]}],
            ),
            f"{low}_customer_decreasing_dimensionality_accepting_list_of_scalars": (
                list_dec_case(f"{prefix}ConsumerAcceptingListDecDim", 0),
                {},
                [{"x": [50, 60]}],
            ),
        }
    )

CASES_3_1.update(
    {
        "flow_control_blocking_simd_producer": (
            flow_list_dec([gate("AlwaysTerminate", "gate", "dummy", "p50"), P50, P60]),
            {},
            [{"x": None}],
        ),
        "flow_control_passing_simd_producer": (
            flow_list_dec([gate("AlwaysPass", "gate", "dummy", "p50"), P50, P60]),
            {},
            [{"x": [50, 60]}],
        ),
        "flow_control_blocking_simd_producer_after_production": (
            flow_list_dec(
                [P50, gate("AlwaysTerminate", "gate", "$steps.p50.image", "consumer"), P60]
            ),
            {},
            [{"x": None}],
        ),
        "flow_control_passing_simd_producer_after_production": (
            flow_list_dec([P50, gate("AlwaysPass", "gate", "$steps.p50.image", "consumer"), P60]),
            {},
            [{"x": [50, 60]}],
        ),
        # Roboflow's tests (EE 1.3) expected None in place of the masked elements
        "simd_list_dec_at_dim_1_and_flow_control": (
            flow_list_dec(
                [P50, gate("EachSecondPass", "gate", "$inputs.image_1", "consumer")],
                IMAGES_1_3,
                LIST_DIM_1,
            ),
            TWO,
            [{"x": [100, 50, 300]}],
        ),
        "simd_list_dec_at_dim_1_and_multi_flow_control_1": (
            flow_list_dec(
                [
                    P50,
                    gate("EachSecondPass", "gate", "$inputs.image_1", "consumer"),
                    gate("AlwaysPass", "scalar_gate", "$steps.p50.image", "consumer"),
                ],
                IMAGES_1_3,
                LIST_DIM_1,
            ),
            TWO,
            [{"x": [100, 50, 300]}],
        ),
        "simd_list_dec_at_dim_1_and_multi_flow_control_2": (
            flow_list_dec(
                [
                    P50,
                    gate("EachSecondPass", "gate", "$inputs.image_1", "consumer"),
                    gate("AlwaysTerminate", "scalar_gate", "$steps.p50.image", "consumer"),
                ],
                [*IMAGES_1_3, parameter("some", default_value=39)],
                [*LIST_DIM_1, "$inputs.some"],
            ),
            TWO,
            [{"x": None}],
        ),
        "simd_list_dec_at_dim_2_with_flow_control_at_dim_0": (
            flow_list_dec(
                [BOOST, P50, gate("AlwaysTerminate", "gate", "$steps.p50.image", "consumer")],
                IMAGES_1_3,
                LIST_DIM_2,
            ),
            TWO,
            [{"x": None}, {"x": None}],
        ),
        "simd_list_dec_at_dim_2_with_flow_control_at_dim_1": (
            flow_list_dec(
                [gate("AlwaysTerminate", "gate", "$inputs.image_1", "boost"), BOOST, P50],
                IMAGES_1_3,
                LIST_DIM_2,
            ),
            TWO,
            [{"x": None}, {"x": None}],
        ),
        "simd_list_dec_at_dim_2_with_flow_control_at_dim_2": (
            flow_list_dec(
                [BOOST, P50, gate("EachSecondPass", "gate", "$steps.boost.x", "consumer")],
                IMAGES_1_3,
                LIST_DIM_2,
            ),
            TWO,
            [{"x": [100, 50, 300]}, {"x": [120, 50, 320]}],
        ),
        "simd_list_dec_at_dim_2_with_flow_control_at_dim_2_and_dim_0": (
            flow_list_dec(
                [
                    BOOST,
                    P50,
                    gate("AlwaysTerminate", "scalar_gate", "$steps.p50.image", "consumer"),
                    gate("EachSecondPass", "gate", "$steps.boost.x", "consumer"),
                ],
                IMAGES_1_3,
                LIST_DIM_2,
            ),
            TWO,
            [{"x": None}, {"x": None}],
        ),
        "simd_list_dec_at_dim_2_with_flow_control_at_dim_2_and_dim_1": (
            flow_list_dec(
                [
                    gate("EachSecondPass", "image_gate", "$inputs.image_1", "boost"),
                    BOOST,
                    P50,
                    gate("EachSecondPass", "gate", "$steps.boost.x", "consumer"),
                ],
                IMAGES_1_3,
                LIST_DIM_2,
            ),
            TWO,
            [{"x": [100, 50, 300]}, {"x": None}],
        ),
    }
)


def _raising(consumer_type: str, *, y: str = "$steps.py.image", then: list | None = None):
    """``scalar_pair`` into a consumer raising dimensionality, then the ``then`` steps."""
    return [*scalar_pair(consumer_type, y=y), *(then or [])]


GATED_IDENTITY = [  # the consumer's shapes through IdentitySIMD behind a closed gate
    gate("AlwaysTerminate", "gate", "$steps.consumer.shapes", "identity_simd_2"),
    step("IdentitySIMD", "identity_simd_2", x="$steps.consumer.shapes"),
]


CASES_3_1.update(
    {
        "non_simd_consumer_raising_output_dim_fed_by_scalar_producers_with_conditional_execution": (
            document(
                [],
                _raising(
                    "MultiImageConsumerRaisingDim",
                    then=GATED_IDENTITY,
                ),
                {"shapes": "$steps.identity_simd_2.x"},
            ),
            {},
            [{"shapes": [None]}],
        ),
        "simd_consumer_raising_output_dim_fed_by_scalar_producers": (
            document(
                [],
                _raising("MultiSIMDImageConsumerRaisingDim"),
                {"shapes": "$steps.consumer.shapes"},
            ),
            {},
            [{"shapes": [S]}],
        ),
        "simd_consumer_raising_output_dim_twice_fed_by_scalar_producers": (
            document(
                [],
                _raising(
                    "MultiSIMDImageConsumerRaisingDim",
                    then=[step("BoostDimensionality", "boost", x="$steps.consumer.shapes")],
                ),
                {"shapes": "$steps.boost.x"},
            ),
            {},
            [{"shapes": [[S, S]]}],
        ),
        "simd_consumer_raising_output_dim_fed_by_scalar_producers_and_flow_control_at_dim_0": (
            document(
                [],
                [
                    gate("AlwaysTerminate", "gate", "$steps.px.image", "identity"),
                    *_raising("MultiSIMDImageConsumerRaisingDim"),
                ],
                {"shapes": "$steps.consumer.shapes"},
            ),
            {},
            [{"shapes": []}],
        ),
        "simd_consumer_raising_output_dim_fed_by_scalar_producers_and_flow_control_at_dim_1": (
            document(
                [],
                _raising(
                    "MultiSIMDImageConsumerRaisingDim",
                    then=GATED_IDENTITY,
                ),
                {"shapes": "$steps.identity_simd_2.x"},
            ),
            {},
            [{"shapes": [None]}],
        ),
        "simd_consumer_raising_output_dim_fed_by_scalar_producer_and_batch_input": (
            document(
                [image_input("image_1")],
                _raising("MultiSIMDImageConsumerRaisingDim", y="$inputs.image_1"),
                {"shapes": "$steps.consumer.shapes"},
            ),
            {"image_1": [zeros(292, 168), zeros(392, 168)]},
            [
                {"shapes": [shapes(DEFAULT, (292, 168))]},
                {"shapes": [shapes(DEFAULT, (392, 168))]},
            ],
        ),
        "simd_consumer_raising_output_dim_fed_by_batch_inputs": (
            document(
                [image_input("image_1"), image_input("image_2")],
                [
                    step("IdentitySIMD", "identity", x="$inputs.image_1"),
                    consumer(
                        "MultiSIMDImageConsumerRaisingDim",
                        images_x="$steps.identity.x",
                        images_y="$inputs.image_2",
                    ),
                ],
                {"shapes": "$steps.consumer.shapes"},
            ),
            {
                "image_1": [zeros(292, 168), zeros(392, 168)],
                "image_2": [zeros(293, 168), zeros(393, 168)],
            },
            [
                {"shapes": [shapes((292, 168), (293, 168))]},
                {"shapes": [shapes((392, 168), (393, 168))]},
            ],
        ),
    }
)


def cases(table: dict[str, tuple]) -> list:
    return [pytest.param(name, id=name) for name in table]


@pytest.mark.parametrize("case", cases(CASES_3_1))
def test_scalars_fit_into_batch_parameters(case):
    definition, params, expected = CASES_3_1[case]
    assert heights(run(definition, **params)) == expected


# --- 3.2: arbitrary batch inputs (mixed_input_characteristic_plugin) ----------------------

MIXED_FIELD = {
    "NonBatchInputBlock": "non_batch_parameter",
    "MixedInputWithoutBatchesBlock": "mixed_parameter",
    "MixedInputWithBatchesBlock": "mixed_parameter",
    "BatchInputBlockProcessingBatches": "batch_parameter",
    "BatchInputBlockNotProcessingBatches": "batch_parameter",
}
COMPOUND = [
    "CompoundNonBatchInputBlock",
    "CompoundMixedInputBlockManifestBlock",
    "CompoundNonStrictBatchBlock",
    "CompoundStrictBatchBlock",
]
STEP_ONE = step("NonBatchInputBlock", "step_one", non_batch_parameter="$inputs.non_batch_parameter")
STEP_TWO = step(
    "BatchInputBlockNotProcessingBatches", "step_two", batch_parameter="$steps.step_one.float_value"
)


def mixed_document(inputs: list, steps: list, last: str) -> dict:
    return document(inputs, steps, {"result": f"$steps.{last}.float_value"}, version="1.3.0")


def fed(block_type: str, name: str, source: str) -> dict:
    if block_type in COMPOUND:
        return step(block_type, name, compound_parameter={"some": source})
    return step(block_type, name, **{MIXED_FIELD[block_type]: source})


ONE_ROW = [{"result": 0.4}]
TWO_ROWS = [{"result": 0.4}, {"result": 0.4}]
SCALAR_PARAMETER = {"non_batch_parameter": "some"}
CASES_3_2: dict[str, tuple[dict, dict, list]] = {}
for block_type in [*MIXED_FIELD, *COMPOUND]:
    # a scalar step feeding each kind of block (auto batch casting where it takes batches)
    CASES_3_2[f"non_batch_oriented_step_feeding_{block_type}"] = (
        mixed_document(
            [parameter("non_batch_parameter")],
            [STEP_ONE, fed(block_type, "step_two", "$steps.step_one.float_value")],
            "step_two",
        ),
        SCALAR_PARAMETER,
        ONE_ROW,
    )
    CASES_3_2[f"batch_oriented_input_feeding_{block_type}"] = (
        mixed_document(
            [batch_input("data")], [fed(block_type, "step_one", "$inputs.data")], "step_one"
        ),
        {"data": ["some", "other"]},
        TWO_ROWS,
    )
for block_type in [*COMPOUND, "MixedInputWithBatchesBlock"]:
    if block_type != "CompoundStrictBatchBlock":
        CASES_3_2[f"batch_oriented_step_feeding_{block_type}"] = (
            mixed_document(
                [parameter("non_batch_parameter")],
                [STEP_ONE, STEP_TWO, fed(block_type, "step_three", "$steps.step_two.float_value")],
                "step_three",
            ),
            SCALAR_PARAMETER,
            ONE_ROW,
        )
for block_type in COMPOUND:
    CASES_3_2[f"non_batch_oriented_input_feeding_{block_type}"] = (
        mixed_document(
            [parameter("data")], [fed(block_type, "step_one", "$inputs.data")], "step_one"
        ),
        {"data": "some"},
        ONE_ROW,
    )


@pytest.mark.parametrize("case", cases(CASES_3_2))
def test_arbitrary_batch_inputs(case):
    definition, params, expected = CASES_3_2[case]
    assert run(definition, **params) == expected


# --- 3.3: control flow with side effects (scalar_only_echo, batch_only_echo) -------------

NAMES = ["img0", "img1", "img2", "img3"]
NOT_ALL = ["img1", "img2", "img3", "not"]


def length_condition(operand: str, comparator: str, value: int) -> dict:
    """Roboflow's condition ``len(operand) <comparator> value`` (a StatementGroup)."""
    statement = {
        "type": "BinaryStatement",
        "left_operand": {
            "type": "DynamicOperand",
            "operand_name": operand,
            "operations": [{"type": "SequenceLength"}],
        },
        "comparator": {"type": f"(Number) {comparator}"},
        "right_operand": {"type": "StaticOperand", "value": value},
    }
    return {"type": "StatementGroup", "statements": [statement]}


def echo_behind_continue_if(inputs: list, condition: dict, parameters: dict, echo: dict) -> dict:
    """ContinueIf on ``condition`` choosing the ``echo`` step, whose output is the result."""
    gate_step = step(
        "ContinueIf",
        "continue_if",
        condition_statement=condition,
        evaluation_parameters=parameters,
        next_steps=["$steps.echo"],
    )
    return document(inputs, [gate_step, echo], {"result": "$steps.echo.output"}, version="1.0")


def names_gate(echo: dict) -> dict:
    """ContinueIf on each name being at least 4 long, choosing the echo step."""
    return echo_behind_continue_if(
        [batch_input("names", dimensionality=1)],
        length_condition("name", ">=", 4),
        {"name": "$inputs.names"},
        echo,
    )


def scalar_step_gate() -> dict:
    """ContinueIf on a boolean parameter choosing scalar_only_echo (no value: "foobar")."""
    is_true = {
        "type": "UnaryStatement",
        "operand": {"type": "DynamicOperand", "operand_name": "left"},
        "operator": {"type": "(Boolean) is True"},
    }
    return echo_behind_continue_if(
        [parameter("run_scalar_step")],
        {"type": "StatementGroup", "statements": [is_true]},
        {"left": "$inputs.run_scalar_step"},
        step("scalar_only_echo", "echo"),
    )


@pytest.mark.parametrize(("flag", "expected"), [(True, "foobar"), (False, None)])
def test_scalar_only_step_behind_a_scalar_condition(flag, expected):
    assert run(scalar_step_gate(), run_scalar_step=flag) == [{"result": expected}]


@pytest.mark.parametrize(
    ("names", "expected"),
    [(NAMES, NAMES), (NOT_ALL, ["img1", "img2", "img3", None])],
)
def test_scalar_only_step_getting_batch_data(names, expected):
    definition = names_gate(step("scalar_only_echo", "echo", value="$inputs.names"))
    assert run(definition, names=names) == [{"result": value} for value in expected]


@pytest.mark.parametrize(
    ("names", "expected"),
    [(NAMES, ["foobar"] * 4), (NOT_ALL, ["foobar"] * 3 + [None])],
)
def test_scalar_only_step_with_only_control_flow_lineage(names, expected):
    definition = names_gate(step("scalar_only_echo", "echo"))
    assert run(definition, names=names) == [{"result": value} for value in expected]


@pytest.mark.parametrize(
    ("names", "expected"),
    [(NAMES, NAMES), (NOT_ALL, ["img1", "img2", "img3", None])],
)
def test_batch_only_step_with_batch_data(names, expected):
    definition = names_gate(step("batch_only_echo", "echo", items="$inputs.names"))
    assert run(definition, names=names) == [{"result": value} for value in expected]


def test_batch_only_step_without_batch_data_fails_at_run_time():
    # Roboflow's engine fails too: the block makes one result for four chosen elements
    definition = names_gate(step("batch_only_echo", "echo"))
    with pytest.raises(StepExecutionError, match="batch_only_echo"):
        run(definition, names=NAMES)


def test_scalar_only_step_chosen_per_element_at_level_2():
    definition = names_gate(step("scalar_only_echo", "echo"))
    definition["inputs"][0]["dimensionality"] = 2
    results = run(definition, names=[["abcd", "ab"], ["xyzw"]])
    assert results == [{"result": ["foobar", None]}, {"result": ["foobar"]}]


def test_scalar_only_echo_fed_by_a_batch_runs_per_element():
    definition = document(
        [batch_input("names")],
        [step("scalar_only_echo", "echo", value="$inputs.names")],
        {"result": "$steps.echo.output"},
    )
    assert run(definition, names=["a", "bb"]) == [{"result": "a"}, {"result": "bb"}]


def test_scalar_only_echo_with_no_inputs_gives_its_default():
    definition = document([], [step("scalar_only_echo", "echo")], {"result": "$steps.echo.output"})
    assert run(definition) == [{"result": "foobar"}]


# --- 3.4: the echo child workflow of the inner-workflow tests ----------------------------


def echo_child() -> dict:
    return document(
        [parameter("child_msg", default_value="default-child")],
        [step("scalar_only_echo", "pick", value="$inputs.child_msg")],
        {"echo": "$steps.pick.output"},
        version="1.0",
    )


def test_echo_child_workflow_gives_its_parameter():
    assert run(echo_child(), child_msg="hello") == [{"echo": "hello"}]
    assert run(echo_child()) == [{"echo": "default-child"}]


# --- 3.5: scalar selectors, input-free blocks, optional outputs ---------------------------

BLACK = zeros(192, 168)
RED = np.zeros((192, 168, 3), dtype=np.uint8)
RED[:, :, 2] = 255  # BGR: red is the last channel
WHITE = np.full((192, 168, 3), 255, dtype=np.uint8)


def test_secret_from_a_scalar_step_reaches_every_image():
    definition = document(
        [image_input("image")],
        [
            step("secret_store", "secret"),
            step("secret_store_user", "user", image="$inputs.image", secret="$steps.secret.secret"),
        ],
        {"result": "$steps.user.output"},
        version="1.3.0",
    )
    assert run(definition, image=[BLACK, BLACK]) == [{"result": "my_secret"}] * 2
    assert run(definition, image=BLACK) == [{"result": "my_secret"}]


def test_secret_made_per_image_reaches_a_non_batch_block_per_image():
    definition = document(
        [image_input("image")],
        [
            step("batch_secret_store", "secret", image="$inputs.image"),
            step("non_batch_secret_store_user", "user", secret="$steps.secret.secret"),
        ],
        {"result": "$steps.user.output"},
        version="1.3.0",
    )
    results = run(definition, image=[BLACK, BLACK])
    assert len(results) == 2
    assert all(row["result"].startswith("my_secret") for row in results)
    assert results[0]["result"] != results[1]["result"]


def test_reference_images_given_as_one_parameter():
    definition = document(
        [image_input("image"), parameter("reference")],
        [
            step(
                "reference_images_comparison",
                "comparison",
                image="$inputs.image",
                reference_images="$inputs.reference",
            )
        ],
        {"similarity": "$steps.comparison.similarity"},
        version="1.3.0",
    )
    results = run(definition, image=[BLACK, RED], reference=[BLACK, RED, WHITE])
    assert np.allclose(results[0]["similarity"], [1.0, 2 / 3, 0.0], atol=1e-2)
    assert np.allclose(results[1]["similarity"], [2 / 3, 1.0, 1 / 3], atol=1e-2)


def test_a_workflow_without_inputs_runs_once():
    definition = document([], [step("CurrentTime", "time")], {"time": "$steps.time.time"})
    results = run(definition)
    assert len(results) == 1 and set(results[0]) == {"time"}
    datetime.datetime.fromisoformat(results[0]["time"])


OPTIONAL_OUTPUT_BLOCKS = {
    "block_accepting_batches_of_images": (None, "ok"),
    "block_accepting_empty_batches_of_images": ("empty", "ok"),
    "block_accepting_images": (None, "ok"),
    "block_accepting_empty_images": ("empty", "ok"),
}


def secret_document(block_type: str) -> dict:
    """The block fed a secret made by a step, None when the parameter is not given.

    Roboflow's test reads it from its environment secrets store (None for an unset
    variable); first_non_empty_or_default makes the same scalar step output here."""
    fields = {"secret": "$steps.vault.output"}
    inputs = [parameter("secret")]
    if "images" in block_type:
        fields["image"] = "$inputs.image"
        inputs.insert(0, image_input("image"))
    steps = [
        step("roboflow_core/first_non_empty_or_default@v1", "vault", data=["$inputs.secret"]),
        step(block_type, "block", **fields),
    ]
    return document(inputs, steps, {"output": "$steps.block.output"}, version="1.4.0")


def _secret_cases() -> list:
    return [
        pytest.param(block_type, secret)
        for block_type in OPTIONAL_OUTPUT_BLOCKS
        for secret in (None, "s3cr3t")
    ]


@pytest.mark.parametrize(("block_type", "secret"), _secret_cases())
def test_blocks_given_an_empty_or_set_secret(block_type, secret):
    when_empty, when_set = OPTIONAL_OUTPUT_BLOCKS[block_type]
    results = run(secret_document(block_type), image=[BLACK, BLACK], secret=secret)
    assert results == [{"output": when_set if secret else when_empty}] * 2


@pytest.mark.parametrize(
    ("block_type", "secret", "expected"),
    [
        ("block_accepting_scalars", "s3cr3t", "s3cr3t"),
        ("block_accepting_scalars", None, None),
        ("block_accepting_empty_scalars", None, "modified-secret"),
        ("block_accepting_empty_scalars", "s3cr3t", "modified-secret"),
    ],
)
def test_scalar_blocks_given_an_empty_or_set_secret(block_type, secret, expected):
    assert run(secret_document(block_type), secret=secret) == [{"output": expected}]


# --- dimensionality_manipulation_plugin: predictions made on crops -----------------------
# Roboflow's tests run a detector on crops; a detector of fixed boxes stands in for it here.

BOXES = [[10, 20, 60, 80], [100, 50, 200, 150]]  # crops of 50x60 and 100x100
CROP_BOXES = [[0, 0, 10, 10], [5, 5, 20, 20]]
CROP_PREDICTIONS = "$steps.detect_on_crops.predictions"
IMAGES_FIELDS = {"images": "$inputs.image", "images_predictions": CROP_PREDICTIONS}  # batch
IMAGE_FIELDS = {"image": "$inputs.image", "image_predictions": CROP_PREDICTIONS}  # non-batch


def crops_document(block_type: str, fields: dict[str, str], output: str) -> dict:
    steps = [
        step(
            "test/fixed_boxes@v1", "detect", image="$inputs.image", boxes=BOXES, classes=["a", "b"]
        ),
        step("Crop", "crop", images="$inputs.image", predictions="$steps.detect.predictions"),
        step(
            "test/fixed_boxes@v1",
            "detect_on_crops",
            image="$steps.crop.crops",
            boxes=CROP_BOXES,
            classes=["c", "d"],
        ),
        step(block_type, "manipulate", **fields),
    ]
    outputs = {
        "result": f"$steps.manipulate.{output}",
        "original": CROP_PREDICTIONS,
    }
    return document([image_input("image")], steps, outputs, version="1.0")


def manipulated(test_blocks, block_type, fields, output) -> list[dict]:
    definition = crops_document(block_type, fields, output)
    workflow = Workflow.compile(definition, blocks=[*test_blocks, *BLOCKS], cache=False)
    return workflow.run(image=[zeros(200, 300), zeros(220, 300)])


@pytest.mark.parametrize(
    ("block_type", "fields"),
    [
        ("DetectionsToParentsCoordinatesBatch", IMAGES_FIELDS),
        ("DetectionsToParentsCoordinatesNonBatch", IMAGE_FIELDS),
    ],
)
def test_crop_predictions_marked_as_made_on_their_parent(test_blocks, block_type, fields):
    results = manipulated(test_blocks, block_type, fields, "predictions")
    assert len(results) == 2
    for row in results:
        assert [len(d) for d in row["result"]] == [len(d) for d in row["original"]] == [2, 2]
        roots = {str(i) for d in row["original"] for i in d.data["root_parent_id"]}
        parents = {str(i) for d in row["result"] for i in d.data["parent_id"]}
        assert len(roots) == 1 and parents == roots  # every box: made on the input image


@pytest.mark.parametrize(
    ("block_type", "fields"),
    [("StitchDetectionsBatch", IMAGES_FIELDS), ("StitchDetectionsNonBatch", IMAGE_FIELDS)],
)
def test_crop_predictions_stitched_onto_their_image(test_blocks, block_type, fields):
    results = manipulated(test_blocks, block_type, fields, "predictions")
    assert len(results) == 2
    for row in results:
        assert len(row["result"]) == sum(len(d) for d in row["original"]) == 4
        assert row["result"].xyxy.tolist() == [
            [10, 20, 20, 30],
            [15, 25, 30, 40],
            [100, 50, 110, 60],
            [105, 55, 120, 70],
        ]


@pytest.mark.parametrize(
    ("block_type", "crops_field"),
    [("TileDetectionsBatch", "images_crops"), ("TileDetectionsNonBatch", "crops")],
)
def test_crops_with_their_predictions_tiled_per_image(test_blocks, block_type, crops_field):
    fields = {crops_field: "$steps.crop.crops", "crops_predictions": CROP_PREDICTIONS}
    results = manipulated(test_blocks, block_type, fields, "visualisations")
    # two crops (50x60 and 100x100) side by side in cells of the largest crop
    assert [row["result"].numpy.shape for row in results] == [(100, 200, 3)] * 2


# --- rock_paper_scissor and flow_control plugins -----------------------------------------


def verdict_document(predictions_count_condition: int) -> dict:
    """Condition on the length of a batch input choosing one of two text steps; their
    results merged by TakeFirstNonEmpty (the shape of Roboflow's rock-paper-scissor test)."""
    condition = length_condition("values", "==", predictions_count_condition)
    steps = [
        step(
            "Condition",
            "verify",
            condition_statement=condition,
            evaluation_parameters={"values": "$inputs.values"},
            steps_if_true=["$steps.defined"],
            steps_if_false=["$steps.undefined"],
        ),
        step("ExpressionTestBlock", "defined", data={"v": "$inputs.values"}, output="two found"),
        step(
            "ExpressionTestBlock",
            "undefined",
            data={"image_only_for_dimension": "$inputs.image"},
            output="Gestures not detected",
        ),
        step(
            "TakeFirstNonEmpty",
            "verdict",
            inputs=["$steps.defined.output", "$steps.undefined.output"],
        ),
    ]
    inputs = [image_input("image"), batch_input("values")]
    return document(inputs, steps, {"verdict": "$steps.verdict.output"}, version="1.0")


def test_condition_chooses_a_branch_per_element_and_take_first_non_empty_merges():
    results = run(verdict_document(2), image=[BLACK, BLACK, BLACK], values=[[1, 2], [1], [3, 4]])
    assert results == [
        {"verdict": "two found"},
        {"verdict": "Gestures not detected"},
        {"verdict": "two found"},
    ]


def test_expression_test_block_refuses_python_code_at_compile_time():
    definition = verdict_document(2)
    definition["steps"][1]["output"] = {"type": "PythonBlock", "code": "def function(v): ..."}
    with pytest.raises(ManifestError, match="only a text output is supported") as caught:
        run(definition)
    assert "defined" in str(caught.value)


# --- loaded as a plugin ------------------------------------------------------------------


@pytest.fixture
def as_plugin(monkeypatch):
    """The blocks loaded as the plugin ``roboflow_test_blocks`` (registry rescanned)."""
    monkeypatch.setenv("VISIONFLOW_PLUGINS", "roboflow_test_blocks")
    forget_loaded_blocks()
    clear_cache()
    yield
    monkeypatch.delenv("VISIONFLOW_PLUGINS")
    forget_loaded_blocks()
    clear_cache()


def test_the_blocks_load_as_a_plugin(as_plugin):
    definition = document([], [step("scalar_only_echo", "echo")], {"r": "$steps.echo.output"})
    assert Workflow.compile(definition, cache=False).run() == [{"r": "foobar"}]


def test_visionflow_blocks_shows_the_declarations_they_map_to(as_plugin):
    shown = CliRunner().invoke(app, ["blocks", "DetectionsToParentsCoordinatesBatch", "--json"])
    details = json.loads(shown.stdout)
    assert details["batch_fields"] == ["images", "images_predictions"]
    assert details["input_dimensionality_offsets"] == {"images": 0, "images_predictions": 1}
    assert details["dimensionality_reference"] == "images_predictions"
    text = CliRunner().invoke(app, ["blocks", "DetectionsToParentsCoordinatesBatch"]).stdout
    assert "dimensionality reference (one result per child of it): images_predictions" in (
        " ".join(text.split())
    )
