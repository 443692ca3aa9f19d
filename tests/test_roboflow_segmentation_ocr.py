"""Roboflow's instance segmentation block (v1, v2, v3) on a local YOLOv8-seg model mapped by
its model_id, and Roboflow's OCR block on the zoo's RapidOCR models, written as Roboflow
documents them."""

from __future__ import annotations

import importlib.util
import json
import uuid

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from test_yolo_heads import IMAGE_BOXES, LABELS, fixed_output_model, yolo_output
from test_yolo_segmentation import rectangle, segmentation_model_file
from visionflow import Workflow
from visionflow.cli import app
from visionflow.errors import (
    ManifestError,
    ModelError,
    ModelNotFoundError,
    RuntimeInputError,
    SelectorError,
    StepExecutionError,
)
from visionflow.models.library import map_models

IMAGE = np.zeros((160, 320, 3), np.uint8)  # letterboxed into 640 x 640 as the tests expect
SEGMENTATION = "roboflow_core/roboflow_instance_segmentation_model"


@pytest.fixture(autouse=True)
def no_operator_mappings():
    map_models([])
    yield
    map_models([])


@pytest.fixture(scope="module")
def segmenter(tmp_path_factory):
    return segmentation_model_file(tmp_path_factory.mktemp("rf-seg"))


def document(step: dict, outputs: tuple[str, ...] = ("predictions", "inference_id")) -> dict:
    """A Roboflow definition of one step named "model" reading the input image."""
    return {
        "version": "1.0",
        "inputs": [
            {"type": "WorkflowImage", "name": "image"},
            {"type": "WorkflowParameter", "name": "api_key"},
        ],
        "steps": [{"name": "model", "image": "$inputs.image", **step}],
        "outputs": [
            {"type": "JsonField", "name": name, "selector": f"$steps.model.{name}"}
            for name in outputs
        ],
    }


def segmentation(segmenter, version: str = "v2", model_id: str = "shapes/4", **fields) -> dict:
    outputs = ("predictions", "inference_id") + (("model_id",) if version != "v1" else ())
    step = {"type": f"{SEGMENTATION}@{version}", "model_id": model_id, "api_key": "$inputs.api_key"}
    written = document({**step, **fields}, outputs)
    written["models"] = {model_id: {"source": str(segmenter), "labels": LABELS}}
    return written


# --- instance segmentation ---------------------------------------------------------------


def test_v1_runs_on_the_mapped_model_with_roboflows_defaults(segmenter):
    [result] = Workflow.compile(segmentation(segmenter, "v1")).run(image=IMAGE, api_key="k")
    found = result["predictions"]
    # confidence 0.4 (E 0.1, G 0.18 out), class-wise NMS IoU 0.3 (B under A)
    assert found.data["class_name"].tolist() == ["person", "car", "dog", "car"]
    assert found.xyxy.tolist() == [IMAGE_BOXES[name] for name in "ACDF"]
    assert np.array_equal(found.mask[0], rectangle(60, 40, 100, 80))  # A's own shape
    assert np.array_equal(found.mask[2], rectangle(200, 10, 300, 150))  # D's box
    assert str(uuid.UUID(result["inference_id"], version=4)) == result["inference_id"]


def test_v1_has_no_model_id_output(segmenter):
    written = segmentation(segmenter, "v1")
    written["outputs"].append(
        {"type": "JsonField", "name": "model_id", "selector": "$steps.model.model_id"}
    )
    with pytest.raises(SelectorError, match="model_id"):
        Workflow.compile(written)


def test_v2_fields_and_outputs(segmenter):
    written = segmentation(
        segmenter,
        confidence=0.55,
        iou_threshold=0.9,
        max_detections=2,
        class_filter=["person", "dog"],
        tradeoff_factor=0.5,  # used in 'tradeoff' mode only, as in Roboflow
    )
    results = Workflow.compile(written).run(image=[IMAGE, IMAGE], api_key="k")
    for result in results:
        found = result["predictions"]
        # IoU 0.9 keeps B (A's duplicate, same prototype); the cars are filtered out
        assert found.xyxy.tolist() == [IMAGE_BOXES["A"], IMAGE_BOXES["B"]]
        assert np.array_equal(found.mask[1], rectangle(60, 40, 100, 80))
        assert result["model_id"] == "shapes/4"
    assert results[0]["inference_id"] != results[1]["inference_id"]


def test_a_model_id_given_by_an_input(segmenter):
    written = segmentation(segmenter, model_id="$inputs.model_id")
    written["models"] = {"shapes/5": {"source": str(segmenter), "labels": LABELS}}
    written["inputs"].append({"type": "WorkflowParameter", "name": "model_id"})
    [result] = Workflow.compile(written).run(image=IMAGE, api_key="k", model_id="shapes/5")
    assert result["model_id"] == "shapes/5"
    assert np.array_equal(result["predictions"].mask[0], rectangle(60, 40, 100, 80))


def test_the_short_names_and_the_images_field(segmenter):
    for name in ("InstanceSegmentationModel", "RoboflowInstanceSegmentationModel"):
        written = segmentation(segmenter, "v1")
        step = written["steps"][0]
        step["type"] = name
        step["images"] = step.pop("image")
        [result] = Workflow.compile(written).run(image=IMAGE, api_key=None)
        assert len(result["predictions"]) == 4


def test_v3_custom_and_default_confidence(segmenter):
    custom = segmentation(segmenter, "v3", confidence_mode="custom", custom_confidence=0.55)
    [result] = Workflow.compile(custom).run(image=IMAGE, api_key="k")
    assert result["predictions"].data["class_name"].tolist() == ["person", "car", "dog"]
    assert result["model_id"] == "shapes/4"
    default = segmentation(segmenter, "v3", confidence_mode="default")
    default["models"]["shapes/4"]["postprocessing"] = {"confidence": 0.65}
    default["steps"][0]["enforce_dense_masks_in_inference_models"] = False  # always dense here
    [result] = Workflow.compile(default).run(image=IMAGE, api_key="k")
    assert result["predictions"].confidence.round(3).tolist() == [0.9, 0.7]
    assert result["predictions"].mask.shape == (2, 160, 320)


def test_v3_best_confidence_mode_is_the_models_own_threshold(segmenter):
    written = segmentation(segmenter, "v3")  # best: Roboflow's default
    written["models"]["shapes/4"]["postprocessing"] = {"confidence": 0.65}
    [result] = Workflow.compile(written).run(image=IMAGE, api_key="k")
    assert result["predictions"].confidence.round(3).tolist() == [0.9, 0.7]


@pytest.mark.parametrize("version", ["v1", "v3"])
@pytest.mark.parametrize("mode", ["fast", "tradeoff"])
def test_a_decode_mode_other_than_accurate_is_a_compile_error(segmenter, version, mode):
    fields = {"confidence_mode": "custom"} if version == "v3" else {}
    written = segmentation(segmenter, version, mask_decode_mode=mode, **fields)
    with pytest.raises(ModelError) as caught:
        Workflow.compile(written, cache=False)
    error = caught.value
    assert error.place == "steps[0] 'model' field 'mask_decode_mode'"
    assert error.message.startswith(f"mask_decode_mode '{mode}' is not supported")
    assert "accurate" in error.hint


def test_a_decode_mode_from_a_selector_is_checked_when_it_comes(segmenter):
    written = segmentation(segmenter, mask_decode_mode="$inputs.mode")
    written["inputs"].append({"type": "WorkflowParameter", "name": "mode"})
    workflow = Workflow.compile(written)
    [result] = workflow.run(image=IMAGE, api_key="k", mode="accurate")
    assert len(result["predictions"]) == 4
    with pytest.raises(StepExecutionError) as caught:  # a mode Roboflow has, not here
        workflow.run(image=IMAGE, api_key="k", mode="fast")
    error = caught.value.cause
    assert isinstance(error, RuntimeInputError)
    assert "mode 'fast' is not supported" in error.message
    assert error.place == "field 'mask_decode_mode'"
    with pytest.raises(RuntimeInputError) as refused:  # no mode at all: before any step runs
        workflow.run(image=IMAGE, api_key="k", mode="exact")
    assert refused.value.place == "inputs 'mode'"
    assert "field 'mask_decode_mode' of step 'model' does not accept" in refused.value.message


def test_an_unknown_decode_mode_is_a_manifest_error(segmenter):
    with pytest.raises(ManifestError) as caught:
        Workflow.compile(segmentation(segmenter, mask_decode_mode="exact"))
    assert "mask_decode_mode" in f"{caught.value.place} {caught.value.message}"


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("class_agnostic_nms", True, "class_agnostic_nms: true is not supported"),
        ("max_candidates", 100, "max_candidates 100 is not supported"),
    ],
)
def test_the_detection_blocks_refusals_hold(segmenter, field, value, said):
    with pytest.raises(ModelError, match=said):
        Workflow.compile(segmentation(segmenter, **{field: value}), cache=False)


def test_an_unmapped_model_id_names_the_task_to_map_it_with():
    step = {"type": f"{SEGMENTATION}@v2", "model_id": "shapes/9", "api_key": "$inputs.api_key"}
    with pytest.raises(ModelNotFoundError) as caught:
        Workflow.compile(document(step))
    assert "Roboflow model 'shapes/9' is not mapped" in caught.value.message
    assert "task: instance_segmentation" in caught.value.hint


def test_a_detection_model_is_refused(tmp_path):
    detector = fixed_output_model(tmp_path / "det.onnx", yolo_output("yolov8"))
    step = {"type": f"{SEGMENTATION}@v1", "model_id": "boxes/1"}
    declared = document(step)
    declared["models"] = {"boxes/1": {"source": str(detector), "task": "object_detection"}}
    with pytest.raises(ModelError, match="is a object_detection model"):
        Workflow.compile(declared)
    bare = document(step)  # a bare file is taken for a segmentation model: one output only
    bare["models"] = {"boxes/1": str(detector)}
    with pytest.raises(ModelError, match="a YOLOv8 segmentation model has two"):
        Workflow.compile(bare)


def test_the_command_line_writes_the_masks_as_outlines(tmp_path, segmenter):
    written = segmentation(segmenter, "v1")
    del written["models"]
    workflow, image = tmp_path / "workflow.json", tmp_path / "image.png"
    workflow.write_text(json.dumps(written))
    cv2.imwrite(str(image), IMAGE)
    arguments = ["-i", f"image={image}", "-i", "api_key=k", "--model", f"shapes/4={segmenter}"]
    result = CliRunner().invoke(app, ["run", str(workflow), *arguments])
    assert result.exit_code == 0, result.output
    [found] = json.loads(result.stdout)
    first = found["predictions"]["predictions"][0]
    assert first["class"] == "0"  # a bare file: no labels
    xs, ys = [p["x"] for p in first["points"]], [p["y"] for p in first["points"]]
    assert (min(xs), min(ys), max(xs), max(ys)) == (60, 40, 99, 79)  # A's mask outline


# --- OCR ------------------------------------------------------------------------------------

needs_rapidocr = pytest.mark.skipif(
    importlib.util.find_spec("rapidocr") is None,
    reason="the OCR models ship in the rapidocr package",
)
OCR_OUTPUTS = ("result", "predictions", "parent_id", "root_parent_id", "prediction_type")
FIRST_LINES = [  # as tests/test_ocr.py reads them with the same models
    "Region-based segmentation",
    "Let us first determine markers of the coins and the",
    "background. These markers are pixels that we can label",
    "unambiguously as either object or background. Here,",
]


@pytest.fixture(scope="module")
def page() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(np.repeat(data.page()[:, :, None], 3, axis=2))  # 384 x 191


@needs_rapidocr
def test_ocr_reads_the_page_with_roboflows_outputs(page):
    workflow = Workflow.compile(document({"type": "roboflow_core/ocr_model@v1"}, OCR_OUTPUTS))
    [result] = workflow.run(image=page, api_key=None)
    assert result["result"].startswith(" ".join(FIRST_LINES) + " ")
    assert "histogram of grey values:" in result["result"]
    lines = result["predictions"]
    # one detection per line, its text as class name; the result is their texts joined
    assert lines.data["class_name"].tolist()[:4] == FIRST_LINES
    assert " ".join(lines.data["class_name"]) == result["result"]
    assert lines.data["quad"].shape == (len(lines), 4, 2)
    assert result["prediction_type"] == "ocr"
    assert result["parent_id"] == result["root_parent_id"] == lines.data["parent_id"][0]


@needs_rapidocr
def test_ocr_of_a_crop_names_the_crop_and_its_root(page):
    written = document({"type": "OCRModel", "images": "$steps.crop.crops"}, OCR_OUTPUTS)
    del written["steps"][0]["image"]
    crop = {
        "type": "roboflow_core/absolute_static_crop@v1",
        "name": "crop",
        "images": "$inputs.image",
        "x_center": 150,
        "y_center": 20,
        "width": 300,
        "height": 40,
    }
    written["steps"].insert(0, crop)
    [result] = Workflow.compile(written).run(image=page, api_key=None)
    assert result["result"] == "Region-based segmentation"
    assert result["parent_id"] != result["root_parent_id"]
    assert result["predictions"].data["root_parent_id"][0] == result["root_parent_id"]


@needs_rapidocr
def test_ocr_of_a_blank_image_and_a_batch(page):
    workflow = Workflow.compile(document({"type": "OCRModel"}, OCR_OUTPUTS))
    blank, text = workflow.run(image=[np.full((100, 200, 3), 255, np.uint8), page], api_key=None)
    assert blank["result"] == ""
    assert len(blank["predictions"]) == 0
    assert text["result"].startswith(FIRST_LINES[0])


def test_ocr_has_no_fields_but_its_images():
    step = {"type": "roboflow_core/ocr_model@v1", "model_id": "doctr/1"}
    with pytest.raises(ManifestError, match="model_id"):
        Workflow.compile(document(step, OCR_OUTPUTS))


def test_v4_is_v3s_fields_with_confidence_mode(segmenter):
    written = segmentation(segmenter, "v4", confidence_mode="custom", custom_confidence=0.55)
    [result] = Workflow.compile(written).run(image=IMAGE, api_key="k")
    assert result["predictions"].data["class_name"].tolist() == ["person", "car", "dog"]
    assert result["model_id"] == "shapes/4"
