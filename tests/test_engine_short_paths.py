"""The engine's short paths (a plain step without gather's machinery; steps run one after
the other when none can overlap; one element through plain steps on the express lane) give
what the general paths give, on the same plans."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pytest

from visionflow import Block, Output, Selector, Workflow
from visionflow.engine.scheduler import runs_in_order
from visionflow.errors import StepExecutionError
from visionflow.serialization import serialize


class Echo(Block):
    """Gives ``value`` back; None when ``value`` is "nothing" (an empty value downstream)."""

    class Manifest(Block.Manifest):
        type: Literal["test/echo@v1"]
        value: Selector() | Any
        suffix: Selector() | Any = ""

    outputs = [Output("value"), Output("size", kinds=["integer"])]

    def run(self, value: Any, suffix: Any = "") -> dict[str, Any]:
        if value == "boom":
            raise ValueError("boom is not a value")
        shown = None if value == "nothing" else f"{value}{suffix or ''}"
        return {"value": shown, "size": len(str(value))}


def step(name: str, value: str, **fields: Any) -> dict[str, Any]:
    return {"type": "test/echo@v1", "name": name, "value": value, **fields}


def document(steps: list[dict], outputs: dict[str, str]) -> dict[str, Any]:
    return {
        "version": "1.0",
        "inputs": [
            {"type": "WorkflowBatchInput", "name": "words", "kind": ["string"]},
            {"type": "WorkflowParameter", "name": "suffix", "default_value": None},
        ],
        "steps": steps,
        "outputs": [
            {"type": "JsonField", "name": name, "selector": selector}
            for name, selector in outputs.items()
        ],
    }


CHAIN = document(
    [
        step("a", "$inputs.words", suffix="$inputs.suffix"),
        step("b", "$steps.a.value", suffix="!"),
        step("c", "$steps.b.value"),
    ],
    {"a": "$steps.a.value", "c": "$steps.c.value", "all_b": "$steps.b.*", "size": "$steps.c.size"},
)
# a scalar made by a step, then read by a step per element (None: every element skipped)
FROM_A_SCALAR = document(
    [
        {"type": "test/echo@v1", "name": "s", "value": "$inputs.suffix"},
        step("e", "$inputs.words", suffix="$steps.s.value"),
    ],
    {"e": "$steps.e.value"},
)
PARALLEL = document(
    [step("x", "$inputs.words"), step("y", "$inputs.words", suffix="?")],
    {"x": "$steps.x.value", "y": "$steps.y.value"},
)


def general(workflow: Workflow) -> Workflow:
    """The same plan made to take the general paths only."""
    executor = workflow._executor
    executor._in_order = False
    executor.express = workflow._express = None
    for planned in executor.plan.steps.values():
        planned.plain_sources = None
    return workflow


def both(definition: dict) -> tuple[Workflow, Workflow]:
    short = Workflow.compile(definition, blocks=[Echo], cache=False)
    assert all(s.plain_sources is not None for s in short.plan.steps.values())
    return short, general(Workflow.compile(definition, blocks=[Echo], cache=False))


@pytest.mark.parametrize(
    ("definition", "inputs"),
    [
        (CHAIN, {"words": ["cat", "nothing", None, "dog"]}),
        (CHAIN, {"words": "cat", "suffix": "s"}),
        (CHAIN, {"words": ["cat", "dog"], "suffix": None}),
        (FROM_A_SCALAR, {"words": ["cat", "dog"], "suffix": "nothing"}),
        (FROM_A_SCALAR, {"words": ["cat", "dog"], "suffix": "-"}),
        (PARALLEL, {"words": ["cat", None]}),
        # one element: the express lane
        (CHAIN, {"words": "cat"}),
        (CHAIN, {"words": "nothing", "suffix": "s"}),
        (CHAIN, {"words": None}),
        (CHAIN, {}),  # no words: the general path's error, below
        (FROM_A_SCALAR, {"words": "cat", "suffix": "nothing"}),
        (FROM_A_SCALAR, {"words": "cat", "suffix": None}),
        (FROM_A_SCALAR, {"words": "cat", "suffix": "-"}),
        (PARALLEL, {"words": "cat"}),
    ],
)
def test_short_paths_give_what_the_general_paths_give(definition, inputs):
    short, long = both(definition)
    given, expected = outcome(short, inputs), outcome(long, inputs)
    assert given == expected


@pytest.mark.parametrize(
    ("definition", "inputs"),
    [
        (CHAIN, {"words": ["cat"], "suffix": "s"}),
        (CHAIN, {"words": ("cat",)}),
        (CHAIN, {"words": [None]}),
        (CHAIN, {"words": ["boom"]}),
        (CHAIN, {"words": []}),  # an empty batch: the general layout's error
        (CHAIN, {"words": ["cat", "dog"]}),
        (FROM_A_SCALAR, {"words": ["cat"], "suffix": "nothing"}),
        (PARALLEL, {"words": ["cat"]}),
    ],
)
def test_a_list_of_one_is_laid_out_as_any_batch_is(definition, inputs):
    # a list of one value is read as one element, without the general layout's bookkeeping
    short, long = both(definition)
    long._executor._inputs.flat = False  # every batch through the general layout
    assert outcome(short, inputs) == outcome(long, inputs)


def outcome(workflow: Workflow, inputs: dict[str, Any]) -> Any:
    """The results, or the error's class, place and text."""
    try:
        return workflow.run(**inputs)
    except Exception as error:
        return type(error).__name__, getattr(error, "place", None), str(error)


def test_which_runs_take_the_express_lane():
    short, _ = both(CHAIN)
    lane = short._executor.express
    assert lane is not None
    assert lane.run({"words": "cat"}) == [
        {"a": "cat", "c": "cat!", "all_b": {"value": "cat!", "size": 3}, "size": 4}
    ]
    assert lane.run({"words": ["cat"]}) is None  # a batch: the general path
    # steps that may run at once keep their threads: the general path
    assert both(PARALLEL)[0]._executor.express is None


def test_the_values_of_the_short_paths():
    short, _ = both(CHAIN)
    [cat, nothing, empty] = short.run(words=["cat", "nothing", None])
    assert cat == {"a": "cat", "c": "cat!", "all_b": {"value": "cat!", "size": 3}, "size": 4}
    # "nothing" gives None: the steps reading it do not run for that element
    assert nothing == {"a": None, "c": None, "all_b": {"value": None, "size": None}, "size": None}
    assert empty == nothing  # a None element is an empty value from the start
    [skipped] = both(FROM_A_SCALAR)[0].run(words=["cat"], suffix="nothing")
    assert skipped == {"e": None}


def test_a_failing_element_is_named_on_both_paths():
    short, long = both(CHAIN)
    errors = []
    for workflow in (short, long):
        with pytest.raises(StepExecutionError) as caught:
            workflow.run(words=["cat", "boom"])
        errors.append((caught.value.step, caught.value.index, caught.value.message))
    assert (
        errors[0]
        == errors[1]
        == (
            "a",
            (1,),
            "step 'a' (test/echo@v1) failed for element (1,): ValueError: boom is not a value",
        )
    )


def test_a_failing_element_and_bad_inputs_on_the_express_lane():
    short, long = both(CHAIN)
    for inputs in ({"words": "boom"}, {"words": "cat", "typo": 1}, {"suffix": "s"}):
        assert isinstance(outcome(short, inputs), tuple)  # an error
        assert outcome(short, inputs) == outcome(long, inputs)
    with pytest.raises(StepExecutionError) as caught:
        short.run(words="boom")
    assert (caught.value.step, caught.value.index) == ("a", (0,))


def test_which_plans_run_their_steps_in_order():
    def plan(definition: dict) -> Any:
        return Workflow.compile(definition, blocks=[Echo], cache=False).plan

    assert runs_in_order(plan(CHAIN), limit=8)  # each step needs the one before it
    assert runs_in_order(plan(FROM_A_SCALAR), limit=8)
    assert not runs_in_order(plan(PARALLEL), limit=8)  # x and y may run at once
    assert runs_in_order(plan(PARALLEL), limit=1)  # one step at a time anyway
    diamond = document(
        [
            step("top", "$inputs.words"),
            step("left", "$steps.top.value"),
            step("right", "$steps.top.value", suffix="?"),
            step("bottom", "$steps.left.value", suffix="$steps.right.value"),
        ],
        {"bottom": "$steps.bottom.value"},
    )
    assert not runs_in_order(plan(diamond), limit=8)


def test_parameter_checks_and_bad_results_on_the_express_lane():
    import numpy as np

    threshold = {
        "version": "1.0",
        "inputs": [
            {"type": "WorkflowImage", "name": "image"},
            {"type": "WorkflowParameter", "name": "level", "default_value": 100},
        ],
        "steps": [
            {
                "type": "roboflow_core/threshold@v1",
                "name": "cut",
                "image": "$inputs.image",
                "thresh_value": "$inputs.level",
            }
        ],
        "outputs": [{"type": "JsonField", "name": "cut", "selector": "$steps.cut.image"}],
    }
    short = Workflow.compile(threshold, cache=False)
    long = general(Workflow.compile(threshold, cache=False))
    assert short._executor.express is not None
    pixels = np.arange(48, dtype=np.uint8).reshape(4, 4, 3) * 5
    for level in (100, 7):
        [ours], [theirs] = short.run(image=pixels, level=level), long.run(image=pixels, level=level)
        assert np.array_equal(ours["cut"].numpy, theirs["cut"].numpy)
        assert ours["cut"].numpy.max() == 255 and (ours["cut"].numpy == 0).any()
    assert outcome(short, {"image": pixels, "level": "high"}) == outcome(
        long, {"image": pixels, "level": "high"}
    )
    assert outcome(short, {"image": pixels, "level": "high"})[0] == "RuntimeInputError"

    class Wrong(Echo):
        def run(self, value: Any, suffix: Any = "") -> Any:
            return ["not", "a", "dict"]

    wrong = {**CHAIN, "steps": [step("a", "$inputs.words")], "outputs": CHAIN["outputs"][:1]}
    short = Workflow.compile(wrong, blocks=[Wrong], cache=False)
    long = general(Workflow.compile(wrong, blocks=[Wrong], cache=False))
    assert outcome(short, {"words": "cat"}) == outcome(long, {"words": "cat"})
    assert "run() must return a dict" in outcome(short, {"words": "cat"})[2]


LIST_OF_ONE = {
    "version": "1.0",
    "inputs": [
        {"type": "WorkflowImage", "name": "image"},
        {"type": "WorkflowBatchInput", "name": "dets", "kind": ["object_detection_prediction"]},
    ],
    "steps": [
        {"type": "roboflow_core/convert_grayscale@v1", "name": "gray", "image": "$inputs.image"},
        {"type": "roboflow_core/detections_filter@v1", "name": "kept",
         "predictions": "$inputs.dets", "operations": []},
    ],
    "outputs": [
        {"type": "JsonField", "name": "gray", "selector": "$steps.gray.image"},
        {"type": "JsonField", "name": "kept", "selector": "$steps.kept.predictions"},
    ],
}  # fmt: skip
DETS = {
    "image": {"width": 8, "height": 6},
    "predictions": [
        {"x": 3, "y": 3, "width": 2, "height": 2, "confidence": 0.9, "class": "a", "class_id": 0}
    ],
}


def test_images_and_detections_in_a_list_of_one_are_read_as_any_batch_reads_them():
    pixels = np.full((6, 8, 3), 90, np.uint8)
    short = Workflow.compile(LIST_OF_ONE, cache=False)
    long = Workflow.compile(LIST_OF_ONE, cache=False)
    long._executor._inputs.flat = False  # every batch through the general layout
    for given in (
        {"image": [pixels], "dets": [DETS]},
        {"image": [pixels], "dets": DETS},  # one value beside a list of one
        {"image": [b"not an image"], "dets": [DETS]},
        {"image": [pixels], "dets": [{"predictions": "wrong"}]},
    ):
        assert _shown(short, given) == _shown(long, given)
    [result] = short.run(image=[pixels], dets=[DETS])
    assert result["kept"].data["parent_id"].tolist() == ["dets.[0]"]  # as Roboflow names it
    assert result["gray"].numpy.tolist() == np.full((6, 8), 90).tolist()
    [result] = short.run(image=pixels, dets=DETS)
    assert result["kept"].data["parent_id"].tolist() == ["dets"]


def _shown(workflow: Workflow, given: dict[str, Any]) -> Any:
    """The results as JSON (the ids made per run left out), or the error."""
    try:
        [result] = serialize(workflow.run(**given))
    except Exception as error:
        return type(error).__name__, getattr(error, "place", None), str(error)
    for found in result["kept"]["predictions"]:
        del found["detection_id"]
    return {**result, "gray": _without_image_ids(result["gray"])}


def _without_image_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_image_ids(v) for k, v in value.items() if not k.endswith("_id")}
    return value
