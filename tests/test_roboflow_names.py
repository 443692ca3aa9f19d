"""Roboflow Workflows' names: block types, field and output names, kinds, ``version`` and the
outputs' ``coordinates_system``, each in a definition written as Roboflow documents it.

Only the model is ours (``test/fixed_boxes@v1``, ``test/mean_colour@v1``: deterministic
stand-ins, see conftest.py); every other step is in Roboflow's exact format.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import numpy as np
import pytest
import supervision as sv
from typer.testing import CliRunner

from visionflow import Block, Output, Selector, Workflow, WorkflowImage
from visionflow.cli import app
from visionflow.data.detections import attach_image_metadata
from visionflow.errors import (
    DefinitionError,
    ExpressionError,
    ManifestError,
    RuntimeInputError,
)
from visionflow.kinds import all_kinds, canonical_kind, is_known, kinds_meet

BOXES = [[10, 20, 110, 220], [200, 200, 300, 260], [0, 0, 50, 50]]

DETECT = {
    "type": "test/fixed_boxes@v1",
    "name": "model",
    "image": "$inputs.image",
    "boxes": BOXES,
    "classes": ["cat", "dog", "cat"],
}


def definition(*steps: dict, outputs: dict[str, str], version: Any = "1.0", **extra) -> dict:
    return {
        "version": version,
        "inputs": [{"type": "WorkflowImage", "name": "image"}, *extra.get("inputs", [])],
        "steps": list(steps),
        "outputs": [
            {"type": "JsonField", "name": name, "selector": selector}
            for name, selector in outputs.items()
        ],
    }


def run(document: dict, test_blocks, **inputs) -> list[dict]:
    return Workflow.compile(document, blocks=test_blocks).run(**inputs)


# --- blocks --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "step",
    [
        {"type": "roboflow_core/dynamic_crop@v1", "images": "$inputs.image"},
        {"type": "roboflow_core/dynamic_crop@v1", "image": "$inputs.image"},
        {"type": "Crop", "image": "$inputs.image"},
        {"type": "DynamicCrop", "images": "$inputs.image"},
    ],
)
def test_dynamic_crop_answers_to_roboflow_names_and_fields(astronaut, test_blocks, step):
    crop = {"name": "dynamic_crop", "predictions": "$steps.model.predictions", **step}
    document = definition(DETECT, crop, outputs={"crops": "$steps.dynamic_crop.crops"})
    crops = run(document, test_blocks, image=astronaut)[0]["crops"]
    assert [(c.origin.offset_x, c.origin.offset_y, c.width, c.height) for c in crops] == [
        (10, 20, 100, 200),
        (200, 200, 100, 60),
        (0, 0, 50, 50),
    ]
    assert np.array_equal(crops[1].numpy, astronaut[200:260, 200:300])


@pytest.mark.parametrize(
    ("selector", "read"),
    [
        ("$steps.dynamic_crop.crops", {"crops"}),
        ("$steps.dynamic_crop.predictions", {"predictions"}),
        ("$steps.dynamic_crop.*", {"crops", "predictions"}),
    ],
)
def test_a_crop_step_knows_which_of_its_outputs_are_read(astronaut, test_blocks, selector, read):
    crop = {"type": "roboflow_core/dynamic_crop@v1", "name": "dynamic_crop",
            "images": "$inputs.image", "predictions": "$steps.model.predictions"}  # fmt: skip
    workflow = Workflow.compile(definition(DETECT, crop, outputs={"out": selector}),
                                blocks=test_blocks)  # fmt: skip
    assert workflow.plan.steps["dynamic_crop"].block.outputs_read == read
    assert workflow.plan.steps["model"].block.outputs_read == {"predictions"}
    out = workflow.run(image=astronaut)[0]["out"]
    if "predictions" in read:  # made only when read: one detection per crop, in its coordinates
        placed = [item["predictions"] if selector.endswith("*") else item for item in out]
        assert [p.xyxy.tolist() for p in placed][1] == [[0.0, 0.0, 100.0, 60.0]]


def test_dynamic_crop_takes_detections_as_roboflow_v1_did(astronaut, test_blocks):
    crop = {
        "type": "Crop",
        "name": "crop",
        "image": "$inputs.image",
        "detections": "$steps.model.predictions",
    }
    document = definition(DETECT, crop, outputs={"crops": "$steps.crop.crops"})
    assert len(run(document, test_blocks, image=astronaut)[0]["crops"]) == 3


def test_one_field_given_under_both_names_is_an_error(test_blocks):
    crop = {
        "type": "roboflow_core/dynamic_crop@v1",
        "name": "crop",
        "image": "$inputs.image",
        "images": "$inputs.image",
        "predictions": "$steps.model.predictions",
    }
    with pytest.raises(ManifestError, match="unknown field 'image'"):
        Workflow.compile(definition(DETECT, crop, outputs={}), blocks=test_blocks)


def test_a_wrong_value_under_roboflows_field_name_is_reported_under_that_name(test_blocks):
    crop = {
        "type": "roboflow_core/absolute_static_crop@v1",
        "name": "crop",
        "image": "inputs.image",
        "x_center": 10,
        "y_center": 10,
        "width": 4,
        "height": 4,
    }
    with pytest.raises(ManifestError) as caught:
        Workflow.compile(definition(crop, outputs={}), blocks=test_blocks)
    assert caught.value.place == "steps[0] 'crop' field 'image'"
    assert "expected a selector of kind image" in caught.value.message


def test_absolute_static_crop_keeps_an_odd_size_as_roboflow_does(astronaut, test_blocks):
    crop = {
        "type": "roboflow_core/absolute_static_crop@v1",
        "name": "absolute_static_crop",
        "image": "$inputs.image",
        "x_center": 101,
        "y_center": 60,
        "width": 41,
        "height": 21,
    }
    document = definition(crop, outputs={"crop": "$steps.absolute_static_crop.crops"})
    found = run(document, test_blocks, image=astronaut)[0]["crop"]
    # x_min = round(101 - 20.5) = 80, x_max = x_min + 41; y_min = round(60 - 10.5) = 50
    assert (found.origin.offset_x, found.origin.offset_y, found.width, found.height) == (
        80,
        50,
        41,
        21,
    )
    assert np.array_equal(found.numpy, astronaut[50:71, 80:121])


@pytest.mark.parametrize(
    "block_type",
    [
        "roboflow_core/relative_statoic_crop@v1",  # Roboflow's own spelling
        "roboflow_core/relative_static_crop@v1",
        "RelativeStaticCrop",
    ],
)
def test_relative_static_crop_answers_to_roboflow_names(coffee, test_blocks, block_type):
    crop = {
        "type": block_type,
        "name": "relative_static_crop",
        "images": "$inputs.image",
        "x_center": 0.3,
        "y_center": 0.5,
        "width": 0.25,
        "height": 0.35,
    }
    document = definition(crop, outputs={"crop": "$steps.relative_static_crop.crops"})
    found = run(document, test_blocks, image=coffee)[0]["crop"]
    # coffee is 600x400: centre (180, 200), size 150x140 in whole pixels
    assert (found.origin.offset_x, found.origin.offset_y) == (105, 130)
    assert np.array_equal(found.numpy, coffee[130:270, 105:255])


def test_dimension_collapse_gathers_crops_per_image(astronaut, coffee, test_blocks):
    steps = [
        DETECT,
        {
            "type": "roboflow_core/dynamic_crop@v1",
            "name": "crop",
            "images": "$inputs.image",
            "predictions": "$steps.model.predictions",
        },
        {
            "type": "roboflow_core/dimension_collapse@v1",
            "name": "collapse",
            "data": "$steps.crop.crops",
        },
    ]
    document = definition(*steps, outputs={"all": "$steps.collapse.output"})
    results = run(document, test_blocks, image=[astronaut, coffee])
    assert [[crop.width for crop in result["all"]] for result in results] == [[100, 100, 50]] * 2


def test_first_non_empty_or_default_takes_the_first_value_that_is_not_none(test_blocks):
    document = {
        "version": "1.0",
        "inputs": [
            {"type": "WorkflowParameter", "name": "a"},
            {"type": "WorkflowParameter", "name": "b"},
        ],
        "steps": [
            {
                "type": "roboflow_core/first_non_empty_or_default@v1",
                "name": "first",
                "data": ["$inputs.a", "$inputs.b"],
                "default": "nothing",
            }
        ],
        "outputs": [{"type": "JsonField", "name": "value", "selector": "$steps.first.output"}],
    }
    workflow = Workflow.compile(document, blocks=test_blocks)
    assert workflow.run(a=None, b=7) == [{"value": 7}]
    assert workflow.run(a=3, b=7) == [{"value": 3}]
    assert workflow.run(a=None, b=None) == [{"value": "nothing"}]


def test_detections_classes_replacement_as_in_roboflows_definitions_page(astronaut, test_blocks):
    # Roboflow's documented example, its two models replaced by the deterministic ones
    steps = [
        DETECT,
        {
            "type": "roboflow_core/dynamic_crop@v1",
            "name": "dynamic_crop",
            "images": "$inputs.image",
            "predictions": "$steps.model.predictions",
        },
        {"type": "test/mean_colour@v1", "name": "model_1", "image": "$steps.dynamic_crop.crops"},
        {
            "type": "roboflow_core/detections_classes_replacement@v1",
            "name": "detections_classes_replacement",
            "object_detection_predictions": "$steps.model.predictions",
            "classification_predictions": "$steps.model_1.predictions",
        },
    ]
    document = definition(
        *steps, outputs={"detections": "$steps.detections_classes_replacement.predictions"}
    )
    detections = run(document, test_blocks, image=astronaut)[0]["detections"]
    expected = []
    for x1, y1, x2, y2 in BOXES:
        means = astronaut[y1:y2, x1:x2].reshape(-1, 3).mean(axis=0)
        expected.append(["blue", "green", "red"][int(np.argmax(means))])
    assert list(detections.data["class_name"]) == expected
    assert detections.xyxy.tolist() == BOXES


# --- kinds ---------------------------------------------------------------------------------

ROBOFLOW_KINDS = [
    "*",
    "image",
    "video_metadata",
    "roboflow_model_id",
    "roboflow_project",
    "roboflow_api_key",
    "float_zero_to_one",
    "list_of_values",
    "rgb_color",
    "image_keypoints",
    "serialised_payloads",
    "bytes",
    "boolean",
    "integer",
    "string",
    "top_class",
    "float",
    "dictionary",
    "classification_prediction",
    "detection",
    "point",
    "contours",
    "zone",
    "numpy_array",
    "object_detection_prediction",
    "instance_segmentation_prediction",
    "keypoint_detection_prediction",
    "qr_code_detection",
    "bar_code_detection",
    "prediction_type",
    "parent_id",
    "image_metadata",
    "language_model_output",
    "inference_id",
    "secret",
    "embedding",
]


def test_every_roboflow_kind_is_known_and_listed():
    listed = {kind.name for kind in all_kinds()}
    assert [name for name in ROBOFLOW_KINDS if name not in listed] == []
    assert is_known("Batch[image]")  # the names of Roboflow's engine before 1.0


def test_the_cli_shows_roboflows_kinds_and_block_names():
    runner = CliRunner(env={"COLUMNS": "200"})
    kinds = {kind["name"] for kind in json.loads(runner.invoke(app, ["kinds", "--json"]).stdout)}
    assert {"dictionary", "list_of_values", "rgb_color", "zone"} <= kinds
    listing = json.loads(runner.invoke(app, ["blocks", "--json"]).stdout)
    names = {name for block in listing for name in [block["type"], *block["aliases"]]}
    assert {
        "roboflow_core/dynamic_crop@v1",
        "roboflow_core/absolute_static_crop@v1",
        "roboflow_core/relative_statoic_crop@v1",
        "roboflow_core/dimension_collapse@v1",
        "roboflow_core/first_non_empty_or_default@v1",
        "roboflow_core/detections_classes_replacement@v1",
        "visionflow/dynamic_crop@v1",
        "Crop",
    } <= names
    crop = json.loads(
        runner.invoke(app, ["blocks", "roboflow_core/dynamic_crop@v1", "--json"]).stdout
    )
    assert [(f["name"], f["aliases"]) for f in crop["fields"]] == [
        ("images", ["image"]),
        ("predictions", ["detections"]),
        ("mask_opacity", []),
        ("background_color", []),
    ]
    assert [o["name"] for o in crop["outputs"]] == ["crops", "predictions"]


def test_roboflow_names_of_visionflow_kinds_are_the_same_kind():
    assert (canonical_kind("dictionary"), canonical_kind("list_of_values")) == ("dict", "list")
    assert kinds_meet(frozenset({"dictionary"}), frozenset({"dict"}))
    assert kinds_meet(frozenset({"list"}), frozenset({"list_of_values"}))
    assert not kinds_meet(frozenset({"dictionary"}), frozenset({"list"}))


class ListLength(Block):
    """The length of a list, declared with Roboflow's kind name."""

    class Manifest(Block.Manifest):
        type: Literal["test/list_length@v1"]
        values: Selector(kinds=["list_of_values"])

    outputs = [Output("length", kinds=["integer"])]

    def run(self, values: list) -> dict[str, Any]:
        return {"length": len(values)}


def test_a_list_feeds_a_field_of_kind_list_of_values(astronaut, test_blocks):
    steps = [
        DETECT,
        {
            "type": "Crop",
            "name": "crop",
            "images": "$inputs.image",
            "predictions": "$steps.model.predictions",
        },
        {"type": "DimensionCollapse", "name": "collapse", "data": "$steps.crop.crops"},
        {"type": "test/list_length@v1", "name": "length", "values": "$steps.collapse.output"},
    ]
    document = definition(*steps, outputs={"n": "$steps.length.length"})
    assert run(document, [*test_blocks, ListLength], image=astronaut) == [{"n": 3}]


def test_a_parameter_of_kind_dictionary_holds_a_dict(test_blocks):
    document = {
        "version": "1.0",
        "inputs": [{"type": "WorkflowParameter", "name": "config", "kind": ["dictionary"]}],
        "steps": [],
        "outputs": [{"type": "JsonField", "name": "config", "selector": "$inputs.config"}],
    }
    workflow = Workflow.compile(document, blocks=test_blocks)
    assert workflow.run(config={"a": 1}) == [{"config": {"a": 1}}]
    with pytest.raises(RuntimeInputError):
        workflow.run(config=[1, 2])


# --- version -------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.0", "1.0.0", "1.3.0", "1", 1.0, 1, "1.13.0", None])
def test_versions_of_roboflows_engine_1_are_read(astronaut, test_blocks, version):
    document = definition(DETECT, outputs={"p": "$steps.model.predictions"}, version=version)
    if version is None:
        del document["version"]  # Roboflow takes its engine's own version
    assert len(run(document, test_blocks, image=astronaut)[0]["p"]) == 3


@pytest.mark.parametrize("version", ["2.0", "0.9", "1.14.0", "3"])
def test_another_major_or_a_newer_engine_is_a_compile_error(test_blocks, version):
    with pytest.raises(DefinitionError) as caught:
        Workflow.compile(definition(DETECT, outputs={}, version=version), blocks=test_blocks)
    assert caught.value.place == "version"
    assert f"version '{version}' asks for execution engine >={version}" in caught.value.message
    assert "Roboflow's Execution Engine 1.0 to 1.13.0" in caught.value.message
    assert caught.value.hint == "write version: '1.0' (any 1.x up to 1.13.0 is read)"


def test_a_version_that_is_no_number_is_a_compile_error(test_blocks):
    with pytest.raises(DefinitionError) as caught:
        Workflow.compile(definition(DETECT, outputs={}, version="latest"), blocks=test_blocks)
    assert (caught.value.place, caught.value.message) == (
        "version",
        "version 'latest' is not a version number",
    )


def test_the_functional_dialect_keeps_its_own_versions(astronaut):
    document = {
        "name": "crop",
        "version": "2.3",
        "workflow": {"out": ["crop", "in", {"literal": [0, 0, 10, 20]}]},
    }
    result = Workflow.compile(document).run({"in": astronaut})[0]["out"]
    assert (result.width, result.height) == (10, 20)


# --- outputs' coordinates_system ------------------------------------------------------------


def test_coordinates_system_defaults_to_parent_as_roboflow_documents(astronaut, test_blocks):
    # Roboflow's definitions page: "`parent` is default option"; its JsonField says so too
    steps = [
        DETECT,
        {
            "type": "roboflow_core/dynamic_crop@v1",
            "name": "crop",
            "images": "$inputs.image",
            "predictions": "$steps.model.predictions",
        },
        {
            "type": "test/fixed_boxes@v1",
            "name": "model_2",
            "image": "$steps.crop.crops",
            "boxes": [[1, 2, 5, 6]],
            "classes": ["eye"],
        },
    ]
    document = definition(*steps, outputs={"default": "$steps.model_2.predictions"})
    document["outputs"].append(
        {
            "type": "JsonField",
            "name": "own",
            "coordinates_system": "own",
            "selector": "$steps.model_2.predictions",
        }
    )
    result = run(document, test_blocks, image=astronaut)[0]
    assert [d.xyxy.tolist() for d in result["default"]] == [
        [[11, 22, 15, 26]],
        [[201, 202, 205, 206]],
        [[1, 2, 5, 6]],
    ]
    assert [d.xyxy.tolist() for d in result["own"]] == [[[1, 2, 5, 6]]] * 3


# --- dynamic_crop@v1: the ``predictions`` output, ``mask_opacity`` and ``background_color`` ---


class MaskedBoxes(Block):
    """Instance-segmentation stand-in: each box's mask is its left half; two keypoints each."""

    class Manifest(Block.Manifest):
        type: Literal["test/masked_boxes@v1"]
        image: Selector(kinds=["image"])
        boxes: list[list[float]]

    outputs = [Output("predictions", kinds=["instance_segmentation_prediction"])]

    def run(self, image: WorkflowImage, boxes: list) -> dict[str, Any]:
        masks = np.zeros((len(boxes), image.height, image.width), dtype=bool)
        for mask, (x1, y1, x2, y2) in zip(masks, np.round(boxes).astype(int), strict=True):
            mask[y1:y2, x1 : (x1 + x2) // 2] = True
        detections = sv.Detections(
            xyxy=np.array(boxes, dtype=float),
            mask=masks,
            confidence=np.array([0.8] * len(boxes)),
            class_id=np.zeros(len(boxes), dtype=int),
            data={
                "class_name": np.array(["shape"] * len(boxes), dtype=object),
                "keypoints_xy": np.array([[[b[0], b[1]], [b[2], b[3]]] for b in boxes]),
            },
        )
        return {"predictions": attach_image_metadata(detections, image)}


MASKED = {
    "type": "test/masked_boxes@v1",
    "name": "model",
    "image": "$inputs.image",
    "boxes": [[10.4, 20.6, 110.2, 220.0], [200.0, 200.0, 300.0, 260.0]],
}


def crop_step(**fields) -> dict:
    return {
        "type": "roboflow_core/dynamic_crop@v1",
        "name": "crop",
        "images": "$inputs.image",
        "predictions": "$steps.model.predictions",
        **fields,
    }


def test_dynamic_crop_outputs_each_detection_in_its_crops_coordinates(astronaut, test_blocks):
    outputs = {"crops": "$steps.crop.crops", "boxes": "$steps.crop.predictions"}
    document = definition(DETECT, crop_step(), outputs=outputs)
    result = run(document, test_blocks, image=astronaut)[0]
    assert [len(d) for d in result["boxes"]] == [1, 1, 1]
    assert [d.xyxy.tolist() for d in result["boxes"]] == [
        [[0.0, 0.0, 100.0, 200.0]],
        [[0.0, 0.0, 100.0, 60.0]],
        [[0.0, 0.0, 50.0, 50.0]],
    ]
    # the detection that made the crop, every other field as it was
    assert [d["class_name"].tolist() for d in result["boxes"]] == [["cat"], ["dog"], ["cat"]]
    assert [d.confidence.tolist() for d in result["boxes"]] == [[0.9], [0.7], [0.5]]
    crop_ids = [c.image_id for c in result["crops"]]
    assert [d["detection_id"][0] for d in result["boxes"]] == crop_ids


def test_dynamic_crop_moves_boxes_masks_and_keypoints_by_the_rounded_corner(astronaut, test_blocks):
    document = definition(MASKED, crop_step(), outputs={"boxes": "$steps.crop.predictions"})
    first, second = run(document, [*test_blocks, MaskedBoxes], image=astronaut)[0]["boxes"]
    # corner (10, 21): Roboflow rounds the box to whole pixels to crop, and moves it by that
    assert first.xyxy[0] == pytest.approx([0.4, -0.4, 100.2, 199.0])
    assert first["keypoints_xy"][0].ravel() == pytest.approx([0.4, -0.4, 100.2, 199.0])
    assert first.mask.shape == (1, 199, 100)  # the mask cut to the crop
    assert first.mask[0].sum(axis=1).tolist() == [50] * 199
    assert second.xyxy.tolist() == [[0.0, 0.0, 100.0, 60.0]]
    assert second.mask.shape == (1, 60, 100)


def test_dynamic_crop_replaces_the_background_outside_the_mask(astronaut, test_blocks):
    crop = crop_step(mask_opacity=1.0, background_color="#FF8000")
    document = definition(MASKED, crop, outputs={"crops": "$steps.crop.crops"})
    crops = run(document, [*test_blocks, MaskedBoxes], image=astronaut)[0]["crops"]
    second = crops[1].numpy
    assert np.array_equal(second[:, :50], astronaut[200:260, 200:250])  # inside the mask
    assert (second[:, 50:] == [0, 128, 255]).all()  # outside: the colour, in B, G, R
    assert (crops[1].origin.offset_x, crops[1].origin.offset_y) == (200, 200)


@pytest.mark.parametrize("colour", ["#000", "(0, 0, 0)", [0, 0, 0]])
def test_dynamic_crop_blends_the_background_by_mask_opacity(astronaut, test_blocks, colour):
    crop = crop_step(mask_opacity=0.5, background_color=colour)
    document = definition(MASKED, crop, outputs={"crops": "$steps.crop.crops"})
    second = run(document, [*test_blocks, MaskedBoxes], image=astronaut)[0]["crops"][1].numpy
    original = astronaut[200:260, 250:300].astype(int)
    assert np.array_equal(second[:, :50], astronaut[200:260, 200:250])
    # half-way to black: half of each pixel, rounded either way
    assert (np.abs(second[:, 50:].astype(int) * 2 - original) <= 1).all()


def test_dynamic_crop_leaves_crops_of_boxes_without_masks_unchanged(astronaut, test_blocks):
    crop = crop_step(mask_opacity=1.0, background_color="#FF8000")
    document = definition(DETECT, crop, outputs={"crops": "$steps.crop.crops"})
    crops = run(document, test_blocks, image=astronaut)[0]["crops"]
    assert np.array_equal(crops[1].numpy, astronaut[200:260, 200:300])


@pytest.mark.parametrize("colour", ["#12", "red", "(1, 2)", [0, 0, 300]])
def test_dynamic_crop_refuses_a_colour_roboflow_does_not_read(test_blocks, colour):
    crop = crop_step(mask_opacity=1.0, background_color=colour)
    with pytest.raises(ManifestError) as caught:
        Workflow.compile(definition(DETECT, crop, outputs={}), blocks=test_blocks)
    assert caught.value.place == "steps[1] 'crop' field 'background_color'"


def test_dynamic_crop_refuses_a_mask_opacity_above_one(test_blocks):
    with pytest.raises(ManifestError) as caught:
        Workflow.compile(
            definition(DETECT, crop_step(mask_opacity=1.5), outputs={}), blocks=test_blocks
        )
    assert caught.value.place == "steps[1] 'crop' field 'mask_opacity'"


# --- detections_filter@v2: v1's detection chains under the v2 name ------------------------

CONFIDENCE_AT_LEAST = {
    "type": "DetectionsFilter",
    "filter_operation": {
        "type": "StatementGroup",
        "statements": [
            {
                "type": "BinaryStatement",
                "left_operand": {
                    "type": "DynamicOperand",
                    "operations": [
                        {"type": "ExtractDetectionProperty", "property_name": "confidence"}
                    ],
                },
                "comparator": {"type": "(Number) >="},
                "right_operand": {"type": "DynamicOperand", "operand_name": "threshold"},
            }
        ],
    },
}


def filter_v2(operations: list) -> dict:
    return {
        "type": "roboflow_core/detections_filter@v2",
        "name": "filter",
        "predictions": "$steps.model.predictions",
        "operations": operations,
        "operations_parameters": {"threshold": "$inputs.threshold"},
    }


def test_detections_filter_v2_runs_a_v1_detection_chain(astronaut, test_blocks):
    threshold = [{"type": "WorkflowParameter", "name": "threshold", "default_value": 0.6}]
    document = definition(
        DETECT,
        filter_v2([CONFIDENCE_AT_LEAST]),
        inputs=threshold,
        outputs={"kept": "$steps.filter.predictions"},
    )
    workflow = Workflow.compile(document, blocks=test_blocks)
    kept = workflow.run(image=astronaut)[0]["kept"]
    assert kept["class_name"].tolist() == ["cat", "dog"]
    assert kept.confidence.tolist() == [0.9, 0.7]
    assert len(workflow.run(image=astronaut, threshold=0.95)[0]["kept"]) == 0


def test_detections_filter_v2_refuses_a_chain_mixing_both_filters(test_blocks):
    # v2 filters detections or classifications (test_roboflow_operations.py): not both
    classification = {**CONFIDENCE_AT_LEAST, "type": "ClassificationFilter"}
    threshold = [{"type": "WorkflowParameter", "name": "threshold", "default_value": 0.6}]
    steps = filter_v2([CONFIDENCE_AT_LEAST, classification])
    document = definition(DETECT, steps, inputs=threshold, outputs={})
    with pytest.raises(ExpressionError) as caught:
        Workflow.compile(document, blocks=test_blocks)
    assert caught.value.place == "steps[1] 'filter' field 'operations'"
    assert caught.value.message == (
        "DetectionsFilter and ClassificationFilter cannot be mixed in one chain"
    )


def test_roboflows_legacy_fields_are_ignored_as_roboflow_ignores_them():
    """``image_metadata`` and ``prediction_type``, fields of Roboflow's older manifests, are
    still in published definitions; any other unknown field stays a compile error."""
    step = {
        "type": "roboflow_core/first_non_empty_or_default@v1",
        "name": "first",
        "data": ["$inputs.x"],
        "image_metadata": "$inputs.x",
        "prediction_type": "$inputs.x",
    }
    document = {
        "version": "1.0",
        "inputs": [{"type": "WorkflowParameter", "name": "x", "default_value": 3}],
        "steps": [step],
        "outputs": [{"type": "JsonField", "name": "out", "selector": "$steps.first.output"}],
    }
    assert Workflow.compile(document).run() == [{"out": 3}]
    step["imagemetadata"] = 1
    with pytest.raises(ManifestError, match="imagemetadata"):
        Workflow.compile(document)
