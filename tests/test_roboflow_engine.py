"""Engine semantics Roboflow's documents rely on (issue 11, point 3).

From Roboflow's description of its execution engine (../shared/reference/
roboflow-workflow-execution.txt and -compilation.txt, and the block manifests'
``accepts_empty_values`` / parameter-only selectors):

- an empty (None) batch element is not given to a block that does not accept empty values:
  the step does not run for it and its outputs are None there; a block that accepts empty
  values is called with None; scalars (parameters) are given as they are;
- a field that takes parameters only refuses a batch-oriented value at compile time.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Literal

import numpy as np
import pytest
import supervision as sv

from test_roboflow_models import needs_zoo
from visionflow import Workflow
from visionflow.blocks.api import Block, Output, Selector
from visionflow.errors import (
    DimensionalityError,
    ImageTooLargeError,
    KindMismatchError,
    RuntimeInputError,
    StepExecutionError,
)
from visionflow.serialization import serialize


def document(steps: list[dict], outputs: dict[str, str], inputs: list[dict]) -> dict:
    return {
        "version": "1.0",
        "inputs": inputs,
        "steps": steps,
        "outputs": [
            {"type": "JsonField", "name": name, "selector": selector}
            for name, selector in outputs.items()
        ],
    }


# --- empty values --------------------------------------------------------------------------


def test_a_none_from_expression_skips_property_definition_for_that_element():
    # Expression: the words themselves when there are more than one, else its default
    # (null); PropertyDefinition's SequenceLength does not accept empty values, so
    # Roboflow gives None for that element instead of failing the run
    switch = {
        "type": "CasesDefinition",
        "cases": [
            {
                "type": "CaseDefinition",
                "condition": {
                    "type": "StatementGroup",
                    "statements": [
                        {
                            "type": "BinaryStatement",
                            "left_operand": {
                                "type": "DynamicOperand",
                                "operand_name": "words",
                                "operations": [{"type": "SequenceLength"}],
                            },
                            "comparator": {"type": "(Number) >"},
                            "right_operand": {"type": "StaticOperand", "value": 1},
                        }
                    ],
                },
                "result": {"type": "DynamicCaseResult", "parameter_name": "words"},
            }
        ],
        "default": {"type": "StaticCaseResult", "value": None},
    }
    definition = document(
        steps=[
            {
                "type": "roboflow_core/expression@v1",
                "name": "several",
                "data": {"words": "$inputs.words"},
                "switch": switch,
            },
            {
                "type": "roboflow_core/property_definition@v1",
                "name": "count",
                "data": "$steps.several.output",
                "operations": [{"type": "SequenceLength"}],
            },
        ],
        outputs={"several": "$steps.several.output", "count": "$steps.count.output"},
        inputs=[{"type": "WorkflowBatchInput", "name": "words", "kind": ["list_of_values"]}],
    )
    workflow = Workflow.compile(definition)
    assert workflow.run(words=[["one"], ["a", "b", "c"]]) == [
        {"several": None, "count": None},
        {"several": ["a", "b", "c"], "count": 3},
    ]


class _Describe(Block):
    """Says what it was given; records every call."""

    class Manifest(Block.Manifest):
        type: Literal["test/describe@v1"]
        value: Selector() | Any = None
        label: Selector() | Any = "x"

    outputs = [Output("text")]
    calls: list[Any] = []

    def run(self, value: Any, label: Any) -> dict[str, Any]:
        type(self).calls.append(value)
        return {"text": f"{label}:{'none' if value is None else value}"}


class _DescribeEmpty(_Describe):
    """The same block, declaring that it accepts empty values."""

    class Manifest(_Describe.Manifest):
        type: Literal["test/describe_empty@v1"]

    accepts_empty = True
    calls: list[Any] = []


BLOCKS = [_Describe, _DescribeEmpty]


def describe_document(label: str = "x") -> dict:
    return document(
        steps=[
            {"type": "test/describe@v1", "name": "plain", "value": "$inputs.v", "label": label},
            {"type": "test/describe_empty@v1", "name": "empty", "value": "$inputs.v"},
        ],
        outputs={"plain": "$steps.plain.text", "empty": "$steps.empty.text"},
        inputs=[
            {"type": "WorkflowBatchInput", "name": "v"},
            {"type": "WorkflowParameter", "name": "label", "default_value": "unused"},
        ],
    )


def test_a_none_batch_element_is_skipped_unless_the_block_accepts_empty_values():
    _Describe.calls.clear()
    _DescribeEmpty.calls.clear()
    workflow = Workflow.compile(describe_document(), blocks=BLOCKS)
    assert workflow.run(v=[None, 3]) == [
        {"plain": None, "empty": "x:none"},
        {"plain": "x:3", "empty": "x:3"},
    ]
    assert _Describe.calls == [3]
    assert _DescribeEmpty.calls == [None, 3]


def test_a_none_parameter_is_given_as_it_is():
    # Roboflow's empty-value rule is about batch elements; a scalar None is a value
    workflow = Workflow.compile(describe_document(label="$inputs.label"), blocks=BLOCKS)
    assert workflow.run(v=[1, 2], label=None) == [
        {"plain": "None:1", "empty": "x:1"},
        {"plain": "None:2", "empty": "x:2"},
    ]


def test_a_none_inside_a_compound_field_counts_as_empty():
    definition = document(
        steps=[{"type": "test/describe@v1", "name": "plain", "value": ["$inputs.v", 0]}],
        outputs={"plain": "$steps.plain.text"},
        inputs=[{"type": "WorkflowBatchInput", "name": "v"}],
    )
    workflow = Workflow.compile(definition, blocks=BLOCKS)
    assert workflow.run(v=[None, 5]) == [{"plain": None}, {"plain": "x:[5, 0]"}]


# --- parameters refuse batches -------------------------------------------------------------


def model_document(**inputs: str) -> dict:
    return document(
        steps=[
            {
                "type": "roboflow_core/roboflow_object_detection_model@v2",
                "name": "model",
                "images": "$inputs.image",
                "model_id": "my-project/3",
                "confidence": "$inputs.confidence",
            }
        ],
        outputs={"predictions": "$steps.model.predictions"},
        inputs=[
            {"type": "WorkflowImage", "name": "image"},
            {"type": inputs.get("confidence", "WorkflowParameter"), "name": "confidence"},
        ],
    )


def test_a_batch_given_to_a_parameter_field_is_a_compile_error():
    with pytest.raises(DimensionalityError) as caught:
        Workflow.compile(model_document(confidence="WorkflowBatchInput"))
    error = caught.value
    assert error.code == "dimensionality_mismatch"
    assert error.place == "steps[0] 'model' field 'confidence'"
    assert str(error.message) == (
        "field 'confidence' takes one value for the whole run (a parameter), but "
        "'$inputs.confidence' is batch-oriented (the input batch (level 1))"
    )
    assert "WorkflowParameter" in error.hint


def test_a_plain_selector_field_still_takes_a_batch():
    # visionflow's own blocks decide by their declaration: Selector() takes batches
    definition = document(
        steps=[
            {
                "type": "test/describe@v1",
                "name": "plain",
                "value": "$inputs.v",
                "label": "$inputs.w",
            }
        ],
        outputs={"plain": "$steps.plain.text"},
        inputs=[{"type": "WorkflowBatchInput", "name": n} for n in ("v", "w")],
    )
    workflow = Workflow.compile(definition, blocks=BLOCKS)
    assert workflow.run(v=[1, 2], w=["a", "b"]) == [{"plain": "a:1"}, {"plain": "b:2"}]


# --- Detections Filter v2 on classification predictions ---------------------------------
# Roboflow's description of roboflow_core/detections_filter@v2: for classification inputs a
# ClassificationFilter operation is evaluated for each class prediction; single-label
# results keep the matching entries of `predictions` and recompute `top` and `confidence`,
# multi-label results keep the matching `predicted_classes` and every score; its output
# is then of kind classification_prediction. Roboflow's published definition
# (test_workflow_with_classification_detections_filter.py), in its exact format:

CLASSIFICATION_FILTER = {
    "type": "ClassificationFilter",
    "filter_operation": {
        "type": "StatementGroup",
        "statements": [
            {
                "type": "BinaryStatement",
                "left_operand": {
                    "type": "DynamicOperand",
                    "operations": [
                        {
                            "type": "ExtractClassificationPredictionProperty",
                            "property_name": "confidence",
                        }
                    ],
                },
                "comparator": {"type": "(Number) >="},
                "right_operand": {"type": "DynamicOperand", "operand_name": "threshold"},
            }
        ],
    },
}


def classification_filter_document(threshold_input: str = "WorkflowParameter") -> dict:
    return {
        "version": "1.3.0",
        "inputs": [
            {
                "type": "WorkflowBatchInput",
                "name": "predictions",
                "kind": ["classification_prediction"],
            },
            {"type": threshold_input, "name": "threshold", "default_value": 0.5},
        ],
        "steps": [
            {
                "type": "roboflow_core/detections_filter@v2",
                "name": "filter",
                "predictions": "$inputs.predictions",
                "operations": [CLASSIFICATION_FILTER],
                "operations_parameters": {"threshold": "$inputs.threshold"},
            }
        ],
        "outputs": [
            {"type": "JsonField", "name": "filtered", "selector": "$steps.filter.predictions"}
        ],
    }


CAT_AND_DOG = {
    "image": {"width": 100, "height": 80},
    "predictions": [
        {"class": "cat", "class_id": 0, "confidence": 0.9},
        {"class": "dog", "class_id": 1, "confidence": 0.4},
    ],
    "top": "cat",
    "confidence": 0.9,
}


def test_detections_filter_v2_filters_a_classification_given_as_input():
    workflow = Workflow.compile(classification_filter_document())
    [result] = workflow.run(predictions=[CAT_AND_DOG], threshold=0.5)
    assert result["filtered"] == {
        **CAT_AND_DOG,
        "predictions": [{"class": "cat", "class_id": 0, "confidence": 0.9}],
        "top": "cat",
        "confidence": 0.9,
        "parent_id": "predictions.[0]",  # as Roboflow's engine names such an input
    }


def test_detections_filter_v2_with_a_threshold_per_element():
    workflow = Workflow.compile(classification_filter_document("WorkflowBatchInput"))
    results = workflow.run(predictions=[CAT_AND_DOG, CAT_AND_DOG], threshold=[0.95, 0.5])
    assert [r["filtered"]["predictions"] for r in results] == [
        [],
        [{"class": "cat", "class_id": 0, "confidence": 0.9}],
    ]
    assert [(r["filtered"]["top"], r["filtered"]["confidence"]) for r in results] == [
        ("", 0.0),
        ("cat", 0.9),
    ]


def test_a_classification_filter_output_cannot_feed_a_detections_block():
    definition = classification_filter_document()
    definition["steps"].append(
        {
            "type": "roboflow_core/detections_filter@v1",
            "name": "detections_only",
            "predictions": "$steps.filter.predictions",
            "operations": [],
        }
    )
    with pytest.raises(KindMismatchError) as caught:
        Workflow.compile(definition)
    assert caught.value.place == "steps[1] 'detections_only' field 'predictions'"


def test_classification_predictions_need_a_classification_filter():
    definition = classification_filter_document()
    definition["steps"][0]["operations"] = []
    with pytest.raises(StepExecutionError) as caught:
        Workflow.compile(definition).run(predictions=[CAT_AND_DOG])
    assert caught.value.cause.message == (
        "classification predictions need a ClassificationFilter operation"
    )


# --- predictions given as inputs --------------------------------------------------------
# Roboflow's engine reads a batch input of kind object_detection_prediction (and instance
# segmentation, keypoint detection) from its JSON form {"image": {"width", "height"},
# "predictions": [{"x", "y", "width", "height", "confidence", "class", "class_id",
# "detection_id", ...}]} into detections (a detection without detection_id gets a new
# one, without parent_id the input's name), and one of kind classification_prediction as
# the dict it is. So the JSON of a run feeds another run, unchanged.

CONFIDENCE_AT_LEAST = {
    **CLASSIFICATION_FILTER,
    "type": "DetectionsFilter",
    "filter_operation": {
        "type": "StatementGroup",
        "statements": [
            {
                **CLASSIFICATION_FILTER["filter_operation"]["statements"][0],
                "left_operand": {
                    "type": "DynamicOperand",
                    "operations": [
                        {"type": "ExtractDetectionProperty", "property_name": "confidence"}
                    ],
                },
            }
        ],
    },
}


def detections_input_document(kind: str, threshold: float = 0.0) -> dict:
    """Detections given as input, filtered by confidence (0: all kept) and given back."""
    return {
        "version": "1.0",
        "inputs": [
            {"type": "WorkflowBatchInput", "name": "dets", "kind": [kind]},
            {"type": "WorkflowParameter", "name": "threshold", "default_value": threshold},
        ],
        "steps": [
            {
                "type": "roboflow_core/detections_filter@v1",
                "name": "filter",
                "predictions": "$inputs.dets",
                "operations": [CONFIDENCE_AT_LEAST],
                "operations_parameters": {"threshold": "$inputs.threshold"},
            }
        ],
        "outputs": [{"type": "JsonField", "name": "kept", "selector": "$steps.filter.predictions"}],
    }


def zoo_predictions(block_type: str, model: str, image) -> Any:
    definition = {
        "version": "1.0",
        "inputs": [{"type": "WorkflowImage", "name": "image"}],
        "steps": [
            {"type": block_type, "name": "model", "image": "$inputs.image", "model_id": "m/1"}
        ],
        "outputs": [{"type": "JsonField", "name": "p", "selector": "$steps.model.predictions"}],
        "models": {"m/1": model},
    }
    [result] = Workflow.compile(definition).run(image=image)
    return json.loads(json.dumps(serialize(result["p"])))  # as a client receives it


@needs_zoo
@pytest.mark.parametrize("kind", ["object_detection_prediction", "keypoint_detection_prediction"])
def test_detections_of_a_run_feed_another_run_unchanged(astronaut, kind):
    block = "roboflow_core/roboflow_object_detection_model@v2"
    sent = zoo_predictions(block, "mediapipe/face_detection_short_range", astronaut)
    [result] = Workflow.compile(detections_input_document(kind)).run(dets=[sent])
    kept = result["kept"]
    assert kept.data["class_name"].tolist() == ["face"]
    assert kept.data["keypoints_xy"].shape == (1, 6, 2)
    assert serialize(kept) == sent  # serialise -> read -> serialise: the same JSON


@needs_zoo
def test_a_classification_of_a_run_feeds_another_run_unchanged(astronaut):
    block = "roboflow_core/roboflow_classification_model@v2"
    sent = zoo_predictions(block, "fer/emotion", astronaut)
    workflow = Workflow.compile(classification_filter_document())
    assert serialize(workflow.run(predictions=[sent], threshold=0.0)[0]["filtered"]) == sent
    [result] = workflow.run(predictions=[sent], threshold=0.15)
    kept = [p for p in sent["predictions"] if p["confidence"] >= 0.15]
    best = max(kept, key=lambda p: p["confidence"])
    assert result["filtered"] == {
        **sent,
        "predictions": kept,
        "top": best["class"],
        "confidence": best["confidence"],
        "class_id": best["class_id"],
    }


ROBOFLOW_DETECTIONS = {  # Roboflow's model response: no detection_id or parent_id here
    "image": {"width": 512, "height": 512},
    "predictions": [
        {"x": 225.5, "y": 127.5, "width": 92.0, "height": 93.0, "confidence": 0.92,
         "class": "face", "class_id": 0},
        {"x": 211.5, "y": 186.25, "width": 102.5, "height": 102.5, "confidence": 0.41,
         "class": "person", "class_id": 1},
    ],
}  # fmt: skip


def test_roboflow_detections_json_given_as_input():
    workflow = Workflow.compile(detections_input_document("object_detection_prediction", 0.5))
    [result] = workflow.run(dets=[ROBOFLOW_DETECTIONS])
    kept = result["kept"]
    assert kept.xyxy.tolist() == [[179.5, 81.0, 271.5, 174.0]]
    assert kept.data["class_name"].tolist() == ["face"]
    assert kept.class_id.tolist() == [0]
    assert kept.confidence.tolist() == [0.92]
    assert kept.data["parent_id"].tolist() == ["dets.[0]"]  # element 0 of input dets
    assert str(uuid.UUID(kept.data["detection_id"][0])) == kept.data["detection_id"][0]
    assert kept.data["image_dimensions"].tolist() == [[512, 512]]


def test_mask_outlines_given_as_input_become_masks():
    # an outline as serialising a mask writes it (OpenCV's contour: first point top left)
    outline = [{"x": 10.0, "y": 10.0}, {"x": 10.0, "y": 20.0}, {"x": 30.0, "y": 20.0},
               {"x": 30.0, "y": 10.0}]  # fmt: skip
    box = {"x": 20.0, "y": 15.0, "width": 20.0, "height": 10.0}
    sent = {
        "image": {"width": 64, "height": 48},
        "predictions": [{**box, "confidence": 0.8, "class": "tag", "class_id": 2,
                         "detection_id": "d1", "parent_id": "p1", "points": outline}],
    }  # fmt: skip
    workflow = Workflow.compile(detections_input_document("instance_segmentation_prediction"))
    [result] = workflow.run(dets=[sent])
    mask = result["kept"].mask
    assert mask.shape == (1, 48, 64)
    assert int(mask.sum()) == 21 * 11  # the outline's pixels included
    assert serialize(result["kept"]) == sent


def test_workflow_instance_segmentation_is_a_batch_of_that_kind():
    # newer Roboflow documents (mask_edge_snap's tests) declare the input by its type name
    definition = detections_input_document("instance_segmentation_prediction")
    definition["inputs"][0] = {"type": "WorkflowInstanceSegmentation", "name": "dets"}
    workflow = Workflow.compile(definition)
    [declared] = [item for item in workflow.plan.inputs if item.name == "dets"]
    assert (declared.type, declared.kind) == ("batch", ["instance_segmentation_prediction"])
    masks = np.zeros((1, 48, 64), bool)
    masks[0, 10:21, 10:31] = True
    given = sv.Detections(
        xyxy=np.array([[10.0, 10.0, 30.0, 20.0]]),
        mask=masks,
        confidence=np.array([0.8]),
        class_id=np.array([2]),
        data={"class_name": np.array(["tag"])},
    )
    [result] = workflow.run(dets=[given])
    assert int(result["kept"].mask.sum()) == 21 * 11


def test_empty_detections_keep_their_image_size():
    sent = {"image": {"width": 640, "height": 480}, "predictions": []}
    workflow = Workflow.compile(detections_input_document("object_detection_prediction"))
    [result] = workflow.run(dets=[sent])
    assert len(result["kept"]) == 0
    assert serialize(result["kept"]) == sent


BOX = {"x": 20.0, "y": 15.0, "width": 20.0, "height": 10.0}


@pytest.mark.parametrize(
    ("kind", "given", "place", "message"),
    [
        ("object_detection_prediction", "boxes", "inputs 'dets'[0]",
         "expected detections {\"image\": {...}, \"predictions\": [...]}, found 'boxes'"),
        ("object_detection_prediction", {"predictions": [{**BOX, "width": "wide"}]},
         "inputs 'dets'[0] predictions[0] 'width'", "expected a finite number, found 'wide'"),
        ("object_detection_prediction",
         {"predictions": [{**BOX, "class_id": 1}, {**BOX, "class_id": 1.5}]},
         "inputs 'dets'[0] predictions[1] 'class_id'",
         "expected an integer (as on the other detections), found 1.5"),
        ("instance_segmentation_prediction",
         {"predictions": [{**BOX, "points": [{"x": 1, "y": 2}]}]}, "inputs 'dets'[0] image",
         "expected the image size with mask outlines ('points'), found None"),
        # numbers no float (or int64) holds are mistakes, not crashes
        ("object_detection_prediction", {"predictions": [{**BOX, "x": 10**400}]},
         "inputs 'dets'[0] predictions[0] 'x'",
         "expected a finite number, found " + repr(10**400)[:77] + "..."),
        ("object_detection_prediction", {"predictions": [{**BOX, "class_id": 2**70}]},
         "inputs 'dets'[0] predictions[0] 'class_id'",
         f"expected an integer (as on the other detections), found {2**70}"),
        ("instance_segmentation_prediction",
         {"image": {"width": 64, "height": 48},
          "predictions": [{**BOX, "points": [{"x": 1, "y": 2}, {"x": 10**400, "y": 2}]}]},
         "inputs 'dets'[0] predictions[0] 'points'",
         "expected a list of points {x, y} (on every detection), found "
         + repr([{"x": 1, "y": 2}, {"x": 10**400, "y": 2}])[:77] + "..."),
        ("classification_prediction", {"top": "cat", "predictions": []}, "inputs 'dets'[0]",
         "expected a classification prediction with 'top' and 'confidence' (single-label) "
         "or 'predicted_classes' (multi-label), found {'top': 'cat', 'predictions': []}"),
    ],
)  # fmt: skip
def test_malformed_predictions_given_as_input(kind, given, place, message):
    definition = document(
        steps=[],
        outputs={"given": "$inputs.dets"},
        inputs=[{"type": "WorkflowBatchInput", "name": "dets", "kind": [kind]}],
    )
    with pytest.raises(RuntimeInputError) as caught:
        Workflow.compile(definition).run(dets=[given])
    assert (caught.value.place, caught.value.message) == (place, message)


def test_the_image_size_of_predictions_given_as_input_is_held_to_the_pixel_limit():
    # masks are made at that size: a JSON value must not make more than an image may
    definition = detections_input_document("instance_segmentation_prediction")
    outline = [{"x": 0, "y": 0}, {"x": 1, "y": 0}, {"x": 1, "y": 1}]
    sent = {
        "image": {"width": 1_000_000, "height": 1_000_000},
        "predictions": [{**BOX, "points": outline}],
    }
    with pytest.raises(ImageTooLargeError) as caught:
        Workflow.compile(definition).run(dets=[sent])
    assert caught.value.place == "inputs 'dets'[0] image"
    assert caught.value.message == (
        "the image is 1000000x1000000 (1,000,000,000,000 pixels); this workflow takes at "
        "most 100,000,000 pixels per image"
    )


def test_predictions_input_lets_empty_elements_and_other_kinds_through():
    # None is an empty element (Roboflow's engine passes it on); with another kind declared
    # (dictionary), a dict that is not a prediction is taken as that kind
    inputs = [
        {"type": "WorkflowBatchInput", "name": "dets", "kind": ["object_detection_prediction"]},
        {"type": "WorkflowBatchInput", "name": "any", "kind": ["object_detection_prediction",
                                                               "dictionary"]},
    ]  # fmt: skip
    definition = document(steps=[], outputs={"dets": "$inputs.dets", "any": "$inputs.any"},
                          inputs=inputs)  # fmt: skip
    results = Workflow.compile(definition).run(
        dets=[None, ROBOFLOW_DETECTIONS], any=[{"count": 2}, ROBOFLOW_DETECTIONS]
    )
    assert results[0] == {"dets": None, "any": {"count": 2}}
    assert [len(results[1]["dets"]), len(results[1]["any"])] == [2, 2]


def test_one_detections_value_for_the_whole_batch_is_the_inputs_child():
    # Roboflow's engine: a listed element's parent is "dets.[i]", a lone value's "dets"
    workflow = Workflow.compile(detections_input_document("object_detection_prediction"))
    [lone] = workflow.run(dets=ROBOFLOW_DETECTIONS)
    listed = workflow.run(dets=[ROBOFLOW_DETECTIONS, ROBOFLOW_DETECTIONS])
    assert lone["kept"].data["parent_id"].tolist() == ["dets", "dets"]
    assert [r["kept"].data["parent_id"].tolist() for r in listed] == [
        ["dets.[0]", "dets.[0]"],
        ["dets.[1]", "dets.[1]"],
    ]


def test_boxes_of_any_float_read_back_to_the_same_json():
    # x 15.2, width 10.2 from edges 10.1 and 20.3: x -/+ width / 2 is a bit off 20.3, so
    # the edges read back are the floats that give this x and width again
    boxes = sv.Detections(
        xyxy=np.array([[10.1, 0.5, 20.3, 30.25], [100.3, 12.345, 250.7, 678.91]]),
        confidence=np.array([0.5, 0.25]),
        class_id=np.array([0, 1]),
        data={"class_name": np.array(["a", "b"], dtype=object)},
    )
    sent = serialize(boxes)
    workflow = Workflow.compile(detections_input_document("object_detection_prediction"))
    [result] = workflow.run(dets=[sent])
    assert serialize(result["kept"]) == sent
