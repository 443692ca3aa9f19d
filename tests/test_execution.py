"""Running workflows: batches, broadcasting, nesting, flow control, concurrency, errors."""

from __future__ import annotations

import time
from typing import Any, Literal

import numpy as np
import pytest

from visionflow import Block, Output, Selector, Workflow
from visionflow.errors import RuntimeInputError, StepExecutionError

BOXES = [[10, 20, 110, 220], [200, 200, 300, 260], [0, 0, 50, 50]]


def detect_and_crop(extra_steps=(), outputs=()):
    return {
        "version": "1.0",
        "inputs": [{"type": "image", "name": "image"}],
        "steps": [
            {
                "type": "test/fixed_boxes@v1",
                "name": "detect",
                "image": "$inputs.image",
                "boxes": BOXES,
                "classes": ["cat", "dog", "cat"],
            },
            {
                "type": "DynamicCrop",
                "name": "crop",
                "images": "$inputs.image",
                "predictions": "$steps.detect.predictions",
            },
            *extra_steps,
        ],
        "outputs": list(outputs),
    }


def out(name: str, selector: str, **extra) -> dict:
    return {"type": "JsonField", "name": name, "selector": selector, **extra}


def test_one_image_is_a_batch_of_one(astronaut, test_blocks):
    workflow = Workflow.compile(
        detect_and_crop(outputs=[out("n", "$steps.detect.predictions")]), blocks=test_blocks
    )
    results = workflow.run(image=astronaut)
    assert len(results) == 1
    assert len(results[0]["n"]) == 3


def test_results_follow_input_order(astronaut, coffee, test_blocks):
    workflow = Workflow.compile(
        {
            "inputs": [{"type": "image", "name": "image"}],
            "steps": [
                {
                    "type": "PropertyDefinition",
                    "name": "size",
                    "data": "$inputs.image",
                    "property": "width",
                }
            ],
            "outputs": [out("width", "$steps.size.output")],
        },
        blocks=test_blocks,
    )
    results = workflow.run(image=[coffee, astronaut, coffee])
    assert [r["width"] for r in results] == [600, 512, 600]


def test_scalars_broadcast_and_single_batch_value_broadcasts(astronaut, coffee, test_blocks):
    workflow = Workflow.compile(
        {
            "inputs": [
                {"type": "image", "name": "image"},
                {"type": "batch", "name": "tag", "kind": ["string"]},
                {"type": "parameter", "name": "factor", "default_value": 2},
            ],
            "steps": [
                {
                    "type": "Expression",
                    "name": "e",
                    "expression": "tag + str(factor)",
                    "data": {"tag": "$inputs.tag", "factor": "$inputs.factor"},
                }
            ],
            "outputs": [out("e", "$steps.e.output"), out("factor", "$inputs.factor")],
        },
        blocks=test_blocks,
    )
    assert workflow.run(image=[astronaut, coffee], tag="x") == [
        {"e": "x2", "factor": 2},
        {"e": "x2", "factor": 2},
    ]
    assert workflow.run(image=[astronaut, coffee], tag=["a", "b"], factor=5) == [
        {"e": "a5", "factor": 5},
        {"e": "b5", "factor": 5},
    ]


def test_batch_inputs_of_different_sizes_are_an_error(astronaut, test_blocks):
    workflow = Workflow.compile(
        {
            "inputs": [{"type": "image", "name": "image"}, {"type": "batch", "name": "tag"}],
            "outputs": [out("t", "$inputs.tag")],
        },
        blocks=test_blocks,
    )
    with pytest.raises(RuntimeInputError, match="'image' has 2, 'tag' has 3"):
        workflow.run(image=[astronaut, astronaut], tag=["a", "b", "c"])


def test_missing_and_unknown_inputs_are_errors(test_blocks):
    workflow = Workflow.compile(
        {"inputs": [{"type": "parameter", "name": "x"}], "outputs": [out("x", "$inputs.x")]}
    )
    with pytest.raises(RuntimeInputError, match="missing parameter 'x'"):
        workflow.run()
    with pytest.raises(RuntimeInputError, match="unknown input"):
        workflow.run(x=1, y=2)


def test_parameter_of_wrong_kind_is_an_error():
    workflow = Workflow.compile(
        {
            "inputs": [{"type": "parameter", "name": "x", "kind": ["float"]}],
            "outputs": [out("x", "$inputs.x")],
        }
    )
    assert workflow.run(x=3) == [{"x": 3}]
    with pytest.raises(RuntimeInputError, match="expects"):
        workflow.run(x="three")


def test_corrupt_image_is_an_error_naming_the_input(tmp_path, test_blocks):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image at all")
    workflow = Workflow.compile(
        detect_and_crop(outputs=[out("p", "$steps.detect.predictions")]), blocks=test_blocks
    )
    with pytest.raises(RuntimeInputError, match=r"inputs 'image'\[0\]: the 19 bytes are not an"):
        workflow.run(image=str(broken))


def test_nested_batch_outputs_nest_per_image(astronaut, coffee, test_blocks):
    workflow = Workflow.compile(
        detect_and_crop(
            extra_steps=[
                {
                    "type": "PropertyDefinition",
                    "name": "w",
                    "data": "$steps.crop.crops",
                    "property": "width",
                }
            ],
            outputs=[out("widths", "$steps.w.output")],
        ),
        blocks=test_blocks,
    )
    results = workflow.run(image=[astronaut, coffee])
    assert results == [{"widths": [100, 100, 50]}, {"widths": [100, 100, 50]}]


def test_crops_know_their_place_in_the_original(astronaut, test_blocks):
    workflow = Workflow.compile(
        detect_and_crop(outputs=[out("crops", "$steps.crop.crops")]), blocks=test_blocks
    )
    crops = workflow.run(image=astronaut)[0]["crops"]
    assert [(c.origin.offset_x, c.origin.offset_y) for c in crops] == [(10, 20), (200, 200), (0, 0)]
    assert np.array_equal(crops[1].numpy, astronaut[200:260, 200:300])


def test_dimension_collapse_gathers_children_per_parent(astronaut, coffee, test_blocks):
    workflow = Workflow.compile(
        detect_and_crop(
            extra_steps=[
                {
                    "type": "PropertyDefinition",
                    "name": "h",
                    "data": "$steps.crop.crops",
                    "property": "height",
                },
                {"type": "DimensionCollapse", "name": "all", "data": "$steps.h.output"},
                {
                    "type": "Expression",
                    "name": "total",
                    "expression": "sum(heights)",
                    "data": {"heights": "$steps.all.output"},
                },
            ],
            outputs=[out("heights", "$steps.all.output"), out("total", "$steps.total.output")],
        ),
        blocks=test_blocks,
    )
    assert workflow.run(image=[astronaut, coffee]) == [
        {"heights": [200, 60, 50], "total": 310},
        {"heights": [200, 60, 50], "total": 310},
    ]


def test_classes_replaced_by_crop_classification(astronaut, test_blocks):
    workflow = Workflow.compile(
        detect_and_crop(
            extra_steps=[
                {"type": "test/mean_colour@v1", "name": "classify", "image": "$steps.crop.crops"},
                {
                    "type": "DetectionsClassesReplacement",
                    "name": "replace",
                    "object_detection_predictions": "$steps.detect.predictions",
                    "classification_predictions": "$steps.classify.predictions",
                },
            ],
            outputs=[out("p", "$steps.replace.predictions")],
        ),
        blocks=test_blocks,
    )
    predictions = workflow.run(image=astronaut)[0]["p"]
    expected = []
    for x1, y1, x2, y2 in BOXES:
        means = astronaut[y1:y2, x1:x2].reshape(-1, 3).mean(axis=0)
        expected.append(["blue", "green", "red"][int(np.argmax(means))])
    assert list(predictions.data["class_name"]) == expected
    assert predictions.xyxy.tolist() == BOXES


def test_steps_listed_in_any_order_compile_the_same(astronaut, test_blocks):
    definition = detect_and_crop(
        extra_steps=[
            {
                "type": "PropertyDefinition",
                "name": "w",
                "data": "$steps.crop.crops",
                "property": "width",
            }
        ],
        outputs=[out("w", "$steps.w.output")],
    )
    definition["steps"].reverse()
    assert Workflow.compile(definition, blocks=test_blocks).run(image=astronaut) == [
        {"w": [100, 100, 50]}
    ]


def test_names_are_case_sensitive_and_may_hold_spaces(test_blocks):
    workflow = Workflow.compile(
        {
            "inputs": [
                {"type": "parameter", "name": "my value"},
                {"type": "parameter", "name": "My value"},
            ],
            "steps": [
                {"type": "test/echo@v1", "name": "echo step", "value": "$inputs.my value"},
                {"type": "test/echo@v1", "name": "Echo step", "value": "$inputs.My value"},
            ],
            "outputs": [out("a", "$steps.echo step.value"), out("b", "$steps.Echo step.value")],
        },
        blocks=test_blocks,
    )
    assert workflow.run({"my value": 1, "My value": 2}) == [{"a": 1, "b": 2}]


def test_selectors_inside_lists_and_dicts_are_resolved(test_blocks):
    workflow = Workflow.compile(
        {
            "inputs": [{"type": "parameter", "name": "a"}, {"type": "parameter", "name": "b"}],
            "steps": [
                {
                    "type": "test/echo@v1",
                    "name": "echo",
                    "value": {"pair": ["$inputs.a", "$inputs.b"], "fixed": "text"},
                }
            ],
            "outputs": [out("v", "$steps.echo.value")],
        },
        blocks=test_blocks,
    )
    assert workflow.run(a=1, b=2) == [{"v": {"pair": [1, 2], "fixed": "text"}}]


def test_wildcard_selector_gives_all_outputs(test_blocks):
    workflow = Workflow.compile(
        {
            "inputs": [{"type": "parameter", "name": "a"}],
            "steps": [{"type": "test/echo@v1", "name": "echo", "value": "$inputs.a"}],
            "outputs": [out("all", "$steps.echo.*")],
        },
        blocks=test_blocks,
    )
    assert workflow.run(a=7) == [{"all": {"value": 7}}]


class Sleep(Block):
    """Sleeps, then returns how long (to observe concurrency)."""

    class Manifest(Block.Manifest):
        type: Literal["test/sleep@v1"]
        seconds: float
        after: Selector() | None = None

    outputs = [Output("slept", kinds=["float"])]

    def run(self, seconds: float, after: Any) -> dict[str, Any]:
        time.sleep(seconds)
        return {"slept": seconds}


def three_sleepers() -> dict:
    return {
        "inputs": [],
        "steps": [{"type": "test/sleep@v1", "name": f"s{i}", "seconds": 0.2} for i in range(3)],
        "outputs": [out(f"s{i}", f"$steps.s{i}.slept") for i in range(3)],
    }


def test_independent_steps_run_concurrently():
    workflow = Workflow.compile(three_sleepers(), blocks=[Sleep])
    started = time.perf_counter()
    assert workflow.run() == [{"s0": 0.2, "s1": 0.2, "s2": 0.2}]
    assert time.perf_counter() - started < 0.5  # sequential would take 0.6 s


def test_max_concurrent_steps_one_runs_them_in_turn():
    workflow = Workflow.compile(three_sleepers(), blocks=[Sleep], max_concurrent_steps=1)
    started = time.perf_counter()
    workflow.run()
    assert time.perf_counter() - started >= 0.6


class Explode(Block):
    class Manifest(Block.Manifest):
        type: Literal["test/explode@v1"]
        value: Selector()

    outputs = [Output("value")]

    def run(self, value: Any) -> dict[str, Any]:
        if value == 2:
            raise ValueError("two is not allowed")
        return {"value": value}


def test_failing_step_is_reported_with_name_type_and_cause():
    workflow = Workflow.compile(
        {
            "inputs": [{"type": "batch", "name": "n"}],
            "steps": [{"type": "test/explode@v1", "name": "picky", "value": "$inputs.n"}],
            "outputs": [out("v", "$steps.picky.value")],
        },
        blocks=[Explode],
    )
    with pytest.raises(StepExecutionError) as caught:
        workflow.run(n=[1, 2, 3])
    assert caught.value.step == "picky"
    assert caught.value.block_type == "test/explode@v1"
    assert "element (1,)" in str(caught.value)
    assert "ValueError: two is not allowed" in str(caught.value)


def test_block_returning_wrong_shape_is_reported():
    class Wrong(Block):
        class Manifest(Block.Manifest):
            type: Literal["test/wrong@v1"]

        outputs = [Output("x")]

        def run(self):
            return {"y": 1}

    workflow = Workflow.compile(
        {"steps": [{"type": "test/wrong@v1", "name": "w"}], "outputs": [out("x", "$steps.w.x")]},
        blocks=[Wrong],
    )
    with pytest.raises(StepExecutionError, match=r"must return a dict with outputs \['x'\]"):
        workflow.run()


def test_batch_inputs_with_dimensionality_two(test_blocks):
    workflow = Workflow.compile(
        {
            "inputs": [{"type": "batch", "name": "words", "dimensionality": 2}],
            "steps": [
                {
                    "type": "Expression",
                    "name": "upper",
                    "expression": "upper(w)",
                    "data": {"w": "$inputs.words"},
                },
                {"type": "DimensionCollapse", "name": "joined", "data": "$steps.upper.output"},
            ],
            "outputs": [out("upper", "$steps.upper.output"), out("joined", "$steps.joined.output")],
        }
    )
    assert workflow.run(words=[["a", "b"], ["c"]]) == [
        {"upper": ["A", "B"], "joined": ["A", "B"]},
        {"upper": ["C"], "joined": ["C"]},
    ]


def test_compiled_plans_are_cached_by_content(test_blocks):
    definition = {
        "inputs": [{"type": "parameter", "name": "x"}],
        "outputs": [out("x", "$inputs.x")],
    }
    first = Workflow.compile(definition)
    assert Workflow.compile(dict(definition)) is first
    assert Workflow.compile(definition, cache=False) is not first


def test_one_workflow_runs_from_many_threads_at_once(astronaut, coffee, test_blocks):
    from concurrent.futures import ThreadPoolExecutor

    workflow = Workflow.compile(
        detect_and_crop(
            extra_steps=[
                {
                    "type": "PropertyDefinition",
                    "name": "w",
                    "data": "$steps.crop.crops",
                    "property": "width",
                },
                {
                    "type": "PropertyDefinition",
                    "name": "size",
                    "data": "$inputs.image",
                    "property": "width",
                },
            ],
            outputs=[out("widths", "$steps.w.output"), out("size", "$steps.size.output")],
        ),
        blocks=test_blocks,
    )
    images = [astronaut, coffee] * 20
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda image: workflow.run(image=image)[0], images))
    assert [r["size"] for r in results] == [512, 600] * 20
    assert all(r["widths"] == [100, 100, 50] for r in results)


def test_double_dollar_writes_a_literal_text_starting_with_dollar(test_blocks):
    workflow = Workflow.compile(
        {
            "inputs": [{"type": "parameter", "name": "a"}],
            "steps": [
                {"type": "test/echo@v1", "name": "plain", "value": "$$5 off"},
                {
                    "type": "test/echo@v1",
                    "name": "mixed",
                    "value": {"price": "$$5", "a": "$inputs.a"},
                },
            ],
            "outputs": [out("plain", "$steps.plain.value"), out("mixed", "$steps.mixed.value")],
        },
        blocks=test_blocks,
    )
    assert workflow.run(a=1) == [{"plain": "$5 off", "mixed": {"price": "$5", "a": 1}}]


def test_compiled_workflows_hold_no_threads_of_their_own():
    import threading

    before = threading.active_count()
    for _ in range(20):
        Workflow.compile(three_sleepers(), blocks=[Sleep], cache=False).run()
    # One shared pool serves every workflow: twenty workflows add no twenty pools.
    assert threading.active_count() - before <= 3
