"""Each core block, through a real workflow run, with exact values."""

from __future__ import annotations

import numpy as np
import pytest

from visionflow import Workflow
from visionflow.errors import (
    ExpressionEvaluationError,
    KindMismatchError,
    ManifestError,
    StepExecutionError,
)

BOXES = [[10, 10, 110, 60], [200, 100, 230, 400], [300, 300, 310, 305]]
CLASSES = ["car", "person", "car"]  # confidences 0.9, 0.7, 0.5


def run_steps(image, steps, outputs, blocks, **inputs):
    definition = {
        "inputs": [
            {"type": "image", "name": "image"},
            {"type": "parameter", "name": "p", "default_value": None},
        ],
        "steps": [
            {
                "type": "test/fixed_boxes@v1",
                "name": "detect",
                "image": "$inputs.image",
                "boxes": BOXES,
                "classes": CLASSES,
            },
            *steps,
        ],
        "outputs": [
            {"type": "JsonField", "name": name, "selector": selector, "coordinates_system": "own"}
            for name, selector in outputs.items()
        ],
    }
    return Workflow.compile(definition, blocks=blocks).run(image=image, **inputs)[0]


def test_detections_filter_by_class_and_confidence(astronaut, test_blocks):
    result = run_steps(
        astronaut,
        [
            {
                "type": "DetectionsFilter",
                "name": "f",
                "predictions": "$steps.detect.predictions",
                "condition": "class_name == 'car' and confidence > 0.6",
            }
        ],
        {"kept": "$steps.f.predictions"},
        test_blocks,
    )
    assert result["kept"].xyxy.tolist() == [BOXES[0]]


def test_detections_filter_by_geometry_and_a_parameter(astronaut, test_blocks):
    result = run_steps(
        astronaut,
        [
            {
                "type": "DetectionsFilter",
                "name": "f",
                "predictions": "$steps.detect.predictions",
                "condition": "area >= min_area",
                "data": {"min_area": "$inputs.p"},
            }
        ],
        {"kept": "$steps.f.predictions"},
        test_blocks,
        p=1000,
    )
    assert list(result["kept"].data["class_name"]) == ["car", "person"]


def test_detections_filter_error_names_the_step(astronaut, test_blocks):
    with pytest.raises(StepExecutionError) as caught:
        run_steps(
            astronaut,
            [
                {
                    "type": "DetectionsFilter",
                    "name": "f",
                    "predictions": "$steps.detect.predictions",
                    "condition": "area > limit",
                    "data": {"limit": "$inputs.p"},
                }
            ],
            {"kept": "$steps.f.predictions"},
            test_blocks,
        )  # p is None
    assert caught.value.step == "f"
    assert isinstance(caught.value.cause, ExpressionEvaluationError)


@pytest.mark.parametrize(
    ("prop", "expected"),
    [
        ("count", 3),
        ("class_names", ["car", "person", "car"]),
        (["class_names", "unique"], ["car", "person"]),
        ("top_class", "car"),
        ("widths", [100.0, 30.0, 10.0]),
    ],
)
def test_property_definition_on_detections(astronaut, test_blocks, prop, expected):
    result = run_steps(
        astronaut,
        [
            {
                "type": "PropertyDefinition",
                "name": "prop",
                "data": "$steps.detect.predictions",
                "property": prop,
            }
        ],
        {"value": "$steps.prop.output"},
        test_blocks,
    )
    assert result["value"] == expected


def test_property_definition_rejects_unknown_property(astronaut, test_blocks):
    with pytest.raises(ManifestError, match="unknown property 'colour'"):
        run_steps(
            astronaut,
            [
                {
                    "type": "PropertyDefinition",
                    "name": "prop",
                    "data": "$inputs.image",
                    "property": "colour",
                }
            ],
            {},
            test_blocks,
        )


def test_property_kind_is_checked_downstream(astronaut, test_blocks):
    steps = [
        {
            "type": "PropertyDefinition",
            "name": "n",
            "data": "$steps.detect.predictions",
            "property": "count",
        },
        {
            "type": "DynamicCrop",
            "name": "crop",
            "images": "$steps.n.output",
            "predictions": "$steps.detect.predictions",
        },
    ]
    with pytest.raises(KindMismatchError, match=r"gives \[integer\]"):
        run_steps(astronaut, steps, {}, test_blocks)


def test_expression_over_several_values(astronaut, test_blocks):
    result = run_steps(
        astronaut,
        [
            {
                "type": "Expression",
                "name": "e",
                "expression": "count(d) * factor",
                "data": {"d": "$steps.detect.predictions", "factor": "$inputs.p"},
            }
        ],
        {"v": "$steps.e.output"},
        test_blocks,
        p=10,
    )
    assert result["v"] == 30


def test_absolute_static_crop(astronaut, test_blocks):
    result = run_steps(
        astronaut,
        [
            {
                "type": "AbsoluteStaticCrop",
                "name": "c",
                "images": "$inputs.image",
                "x_center": 100,
                "y_center": 50,
                "width": 40,
                "height": 20,
            }
        ],
        {"crop": "$steps.c.crops"},
        test_blocks,
    )
    crop = result["crop"]
    assert (crop.origin.offset_x, crop.origin.offset_y, crop.width, crop.height) == (80, 40, 40, 20)
    assert np.array_equal(crop.numpy, astronaut[40:60, 80:120])


def test_absolute_static_crop_is_clipped_to_the_image(astronaut, test_blocks):
    result = run_steps(
        astronaut,
        [
            {
                "type": "AbsoluteStaticCrop",
                "name": "c",
                "images": "$inputs.image",
                "x_center": 500,
                "y_center": 10,
                "width": 100,
                "height": 100,
            }
        ],
        {"crop": "$steps.c.crops"},
        test_blocks,
    )
    assert (result["crop"].width, result["crop"].height) == (62, 60)


def test_relative_static_crop(coffee, test_blocks):
    result = run_steps(
        coffee,
        [
            {
                "type": "RelativeStaticCrop",
                "name": "c",
                "images": "$inputs.image",
                "x_center": 0.25,
                "y_center": 0.5,
                "width": 0.5,
                "height": 1.0,
            }
        ],
        {"crop": "$steps.c.crops"},
        test_blocks,
    )
    assert np.array_equal(result["crop"].numpy, coffee[:, 0:300])


def test_dynamic_crop_makes_one_crop_per_box_with_the_detection_id(astronaut, test_blocks):
    result = run_steps(
        astronaut,
        [
            {
                "type": "DynamicCrop",
                "name": "c",
                "images": "$inputs.image",
                "predictions": "$steps.detect.predictions",
            }
        ],
        {"crops": "$steps.c.crops", "det": "$steps.detect.predictions"},
        test_blocks,
    )
    assert [c.image_id for c in result["crops"]] == list(result["det"].data["detection_id"])
    assert [(c.width, c.height) for c in result["crops"]] == [(100, 50), (30, 300), (10, 5)]


def test_classes_replacement_drops_or_falls_back_for_unclassified_crops(astronaut, test_blocks):
    steps = [
        {
            "type": "DynamicCrop",
            "name": "crop",
            "images": "$inputs.image",
            "predictions": "$steps.detect.predictions",
        },
        {
            "type": "ContinueIf",
            "name": "big",
            "condition": "width(c) >= 30",
            "data": {"c": "$steps.crop.crops"},
            "next_steps": ["$steps.classify"],
        },
        {"type": "test/mean_colour@v1", "name": "classify", "image": "$steps.crop.crops"},
        {
            "type": "DetectionsClassesReplacement",
            "name": "dropped",
            "object_detection_predictions": "$steps.detect.predictions",
            "classification_predictions": "$steps.classify.predictions",
        },
        {
            "type": "DetectionsClassesReplacement",
            "name": "fallback",
            "object_detection_predictions": "$steps.detect.predictions",
            "classification_predictions": "$steps.classify.predictions",
            "fallback_class_name": "unknown",
        },
    ]
    result = run_steps(
        astronaut,
        steps,
        {"dropped": "$steps.dropped.predictions", "fallback": "$steps.fallback.predictions"},
        test_blocks,
    )
    assert result["dropped"].xyxy.tolist() == BOXES[:2]
    assert list(result["fallback"].data["class_name"])[2] == "unknown"
    assert result["fallback"].class_id.tolist()[2] == -1


def test_first_non_empty_or_default_takes_the_first_present(test_blocks):
    definition = {
        "inputs": [{"type": "batch", "name": "v"}],
        "steps": [
            {
                "type": "ContinueIf",
                "name": "neg",
                "condition": "v < 0",
                "data": {"v": "$inputs.v"},
                "next_steps": ["$steps.negative"],
            },
            {
                "type": "ContinueIf",
                "name": "pos",
                "condition": "v > 0",
                "data": {"v": "$inputs.v"},
                "next_steps": ["$steps.positive"],
            },
            {
                "type": "Expression",
                "name": "negative",
                "expression": "'negative'",
                "data": {"v": "$inputs.v"},
            },
            {
                "type": "Expression",
                "name": "positive",
                "expression": "'positive'",
                "data": {"v": "$inputs.v"},
            },
            {
                "type": "FirstNonEmptyOrDefault",
                "name": "sign",
                "data": ["$steps.negative.output", "$steps.positive.output"],
                "default": "zero",
            },
        ],
        "outputs": [{"type": "JsonField", "name": "sign", "selector": "$steps.sign.output"}],
    }
    results = Workflow.compile(definition).run(v=[-3, 0, 8])
    assert [r["sign"] for r in results] == ["negative", "zero", "positive"]


def test_dimension_collapse_leaves_masked_children_out_the_aligned_one_keeps_none(
    astronaut, test_blocks
):
    steps = [
        {
            "type": "DynamicCrop",
            "name": "crop",
            "images": "$inputs.image",
            "predictions": "$steps.detect.predictions",
        },
        {
            "type": "ContinueIf",
            "name": "tall",
            "condition": "height(c) > 10",
            "data": {"c": "$steps.crop.crops"},
            "next_steps": ["$steps.h"],
        },
        {
            "type": "PropertyDefinition",
            "name": "h",
            "data": "$steps.crop.crops",
            "property": "height",
        },
        {"type": "DimensionCollapse", "name": "heights", "data": "$steps.h.output"},
        {"type": "visionflow/dimension_collapse@v1", "name": "aligned", "data": "$steps.h.output"},
    ]
    outputs = {"heights": "$steps.heights.output", "aligned": "$steps.aligned.output"}
    result = run_steps(astronaut, steps, outputs, test_blocks)
    assert result["heights"] == [50, 300]  # Roboflow's: the masked crop is left out
    assert result["aligned"] == [50, 300, None]


def test_crop_outside_the_image_fails_the_step_with_a_clear_message(astronaut, test_blocks):
    with pytest.raises(StepExecutionError) as caught:
        run_steps(
            astronaut,
            [
                {
                    "type": "RelativeStaticCrop",
                    "name": "off",
                    "images": "$inputs.image",
                    "x_center": 5.0,
                    "y_center": 0.5,
                    "width": 0.1,
                    "height": 0.1,
                }
            ],
            {"crop": "$steps.off.crops"},
            test_blocks,
        )
    assert caught.value.step == "off"
    assert "lies outside the 512x512 image" in str(caught.value)
