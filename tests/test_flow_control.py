"""Flow control: per-element decisions, masks downstream and in outputs, merging branches."""

from __future__ import annotations

from typing import Literal

import pytest

from visionflow import Block, Output, Selector, Workflow
from visionflow.errors import ManifestError


def out(name, selector):
    return {"type": "JsonField", "name": name, "selector": selector}


def branch_on_threshold(threshold_selector="$inputs.threshold"):
    return {
        "inputs": [
            {"type": "batch", "name": "value", "kind": ["integer"]},
            {"type": "parameter", "name": "threshold", "default_value": 10},
        ],
        "steps": [
            {
                "type": "ContinueIf",
                "name": "big enough",
                "condition": "value > threshold",
                "data": {"value": "$inputs.value", "threshold": threshold_selector},
                "next_steps": ["$steps.double"],
            },
            {
                "type": "Expression",
                "name": "double",
                "expression": "v * 2",
                "data": {"v": "$inputs.value"},
            },
            {
                "type": "Expression",
                "name": "plus one",
                "expression": "v + 1",
                "data": {"v": "$steps.double.output"},
            },
            {
                "type": "FirstNonEmptyOrDefault",
                "name": "merged",
                "data": ["$steps.plus one.output"],
                "default": "small",
            },
        ],
        "outputs": [
            out("double", "$steps.double.output"),
            out("plus_one", "$steps.plus one.output"),
            out("merged", "$steps.merged.output"),
        ],
    }


def test_unselected_elements_are_none_downstream_and_merge_takes_default():
    results = Workflow.compile(branch_on_threshold()).run(value=[5, 20, 11])
    assert results == [
        {"double": None, "plus_one": None, "merged": "small"},
        {"double": 40, "plus_one": 41, "merged": 41},
        {"double": 22, "plus_one": 23, "merged": 23},
    ]


def test_merge_refuses_an_empty_data_list_at_compile_time():
    # Roboflow's manifest wants at least one item in data (its engine refuses [] too)
    definition = branch_on_threshold()
    definition["steps"][-1]["data"] = []
    with pytest.raises(ManifestError) as refused:
        Workflow.compile(definition)
    assert refused.value.place == "steps[3] 'merged' field 'data'"
    assert "at least 1 item" in refused.value.message


def test_scalar_decision_applies_to_the_whole_branch():
    definition = {
        "inputs": [{"type": "batch", "name": "value"}, {"type": "parameter", "name": "enabled"}],
        "steps": [
            {
                "type": "ContinueIf",
                "name": "switch",
                "condition": "enabled",
                "data": {"enabled": "$inputs.enabled"},
                "next_steps": ["$steps.copy"],
            },
            {
                "type": "Expression",
                "name": "copy",
                "expression": "v",
                "data": {"v": "$inputs.value"},
            },
        ],
        "outputs": [out("copy", "$steps.copy.output")],
    }
    workflow = Workflow.compile(definition)
    assert workflow.run(value=[1, 2], enabled=True) == [{"copy": 1}, {"copy": 2}]
    assert workflow.run(value=[1, 2], enabled=False) == [{"copy": None}, {"copy": None}]


def test_masks_from_two_gates_intersect():
    definition = {
        "inputs": [{"type": "batch", "name": "value"}],
        "steps": [
            {
                "type": "ContinueIf",
                "name": "even",
                "condition": "v % 2 == 0",
                "data": {"v": "$inputs.value"},
                "next_steps": ["$steps.keep"],
            },
            {
                "type": "ContinueIf",
                "name": "big",
                "condition": "v > 3",
                "data": {"v": "$inputs.value"},
                "next_steps": ["$steps.keep"],
            },
            {
                "type": "Expression",
                "name": "keep",
                "expression": "v",
                "data": {"v": "$inputs.value"},
            },
        ],
        "outputs": [out("kept", "$steps.keep.output")],
    }
    results = Workflow.compile(definition).run(value=[1, 2, 3, 4, 5, 6])
    assert [r["kept"] for r in results] == [None, None, None, 4, None, 6]


def test_gate_per_crop_masks_only_those_crops(astronaut, test_blocks):
    definition = {
        "inputs": [{"type": "image", "name": "image"}],
        "steps": [
            {
                "type": "test/fixed_boxes@v1",
                "name": "detect",
                "image": "$inputs.image",
                "boxes": [[0, 0, 100, 100], [0, 0, 20, 20], [50, 50, 250, 150]],
                "classes": ["a", "b", "c"],
            },
            {
                "type": "DynamicCrop",
                "name": "crop",
                "images": "$inputs.image",
                "predictions": "$steps.detect.predictions",
            },
            {
                "type": "ContinueIf",
                "name": "large",
                "condition": "width(c) >= 100",
                "data": {"c": "$steps.crop.crops"},
                "next_steps": ["$steps.area"],
            },
            {
                "type": "Expression",
                "name": "area",
                "expression": "width(c) * height(c)",
                "data": {"c": "$steps.crop.crops"},
            },
            {"type": "DimensionCollapse", "name": "areas", "data": "$steps.area.output"},
        ],
        "outputs": [out("area", "$steps.area.output"), out("areas", "$steps.areas.output")],
    }
    assert Workflow.compile(definition, blocks=test_blocks).run(image=astronaut) == [
        {"area": [10000, None, 20000], "areas": [10000, 20000]}  # as Roboflow gathers
    ]


def test_masked_parent_gives_empty_nested_lists(astronaut, coffee, test_blocks):
    definition = {
        "inputs": [{"type": "image", "name": "image"}],
        "steps": [
            {
                "type": "ContinueIf",
                "name": "wide",
                "condition": "width(i) > 550",
                "data": {"i": "$inputs.image"},
                "next_steps": ["$steps.detect"],
            },
            {
                "type": "test/fixed_boxes@v1",
                "name": "detect",
                "image": "$inputs.image",
                "boxes": [[0, 0, 10, 10], [5, 5, 30, 30]],
                "classes": ["a", "b"],
            },
            {
                "type": "DynamicCrop",
                "name": "crop",
                "images": "$inputs.image",
                "predictions": "$steps.detect.predictions",
            },
            {
                "type": "PropertyDefinition",
                "name": "w",
                "data": "$steps.crop.crops",
                "property": "width",
            },
        ],
        "outputs": [
            out("widths", "$steps.w.output"),
            out("detections", "$steps.detect.predictions"),
        ],
    }
    astronaut_result, coffee_result = Workflow.compile(definition, blocks=test_blocks).run(
        image=[astronaut, coffee]
    )
    assert astronaut_result == {"widths": [], "detections": None}  # astronaut is 512 wide
    assert coffee_result["widths"] == [10, 25]


def test_step_with_nothing_to_do_is_skipped():
    calls = []

    class Counting(Block):
        class Manifest(Block.Manifest):
            type: Literal["test/counting@v1"]
            value: Selector()

        outputs = [Output("value")]

        def run(self, value):
            calls.append(value)
            return {"value": value}

    definition = {
        "inputs": [{"type": "batch", "name": "value"}],
        "steps": [
            {
                "type": "ContinueIf",
                "name": "never",
                "condition": "False",
                "next_steps": ["$steps.count"],
            },
            {"type": "test/counting@v1", "name": "count", "value": "$inputs.value"},
        ],
        "outputs": [out("v", "$steps.count.value")],
    }
    assert Workflow.compile(definition, blocks=[Counting]).run(value=[1, 2]) == [
        {"v": None},
        {"v": None},
    ]
    assert calls == []


def test_threshold_from_a_parameter():
    results = Workflow.compile(branch_on_threshold()).run(value=[1, 50], threshold=1)
    assert [r["merged"] for r in results] == ["small", 101]
