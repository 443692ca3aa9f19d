"""Validation checks each model against its file without starting a session (issue 15):
the file's outputs read from the file itself agree with what the runtimes report, the
errors are the same as a loading compile's, and no session, pool or runtime is started."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Literal

import numpy as np
import pytest

from test_detector_formats import RTDETR_LABELS, constant_model, rtdetr_output
from visionflow import Block, Output, Selector, Workflow
from visionflow.errors import ModelError, ModelFormatError, WorkflowError
from visionflow.models.library import loaded_models
from visionflow.models.model import CheckedModel
from visionflow.models.model_files import ModelOutline, outline
from visionflow.models.runtime import open_session
from visionflow.models.zoo import model_file, zoo_entries

ROOT = Path(__file__).resolve().parent.parent


def installed_zoo() -> list[str]:
    found = []
    for name, entry in sorted(zoo_entries().items()):
        try:
            model_file(entry)
        except ModelError:  # its package is not installed here
            continue
        found.append(name)
    return found


# --- the file's inputs and outputs, as the runtimes see them ------------------------------


@pytest.mark.parametrize("model_id", installed_zoo())
def test_every_zoo_model_reads_as_its_runtime_loads_it(model_id):
    entry = zoo_entries()[model_id]
    path, runtime = model_file(entry), entry.description.get("runtime")
    read, session = outline(path, runtime), open_session(path, runtime)
    assert read.inputs == session.inputs
    assert read.fixed_batch == session.fixed_batch
    assert read.metadata == session.metadata  # e.g. RapidOCR's character list
    assert [(o.name, o.dtype, len(o.shape)) for o in read.outputs] == [
        (o.name, o.dtype, len(o.shape)) for o in session.outputs
    ]
    # a size the file gives is the runtime's; onnxruntime may infer one the file leaves out
    for written, loaded in zip(read.outputs, session.outputs, strict=True):
        assert all(w in (None, s) for w, s in zip(written.shape, loaded.shape, strict=True))


def test_the_one_zoo_output_onnxruntime_knows_better_than_its_file():
    """RapidOCR's text detector declares a map of unknown channels; onnxruntime's shape
    inference finds 1. Validation reads the file: an unknown size fits any format's check."""
    entry = zoo_entries()["rapidocr/text_detection"]
    path = model_file(entry)
    assert outline(path).outputs[0].shape == (None, None, None, None)
    assert open_session(path).outputs[0].shape == (None, 1, None, None)


@pytest.mark.parametrize("batch", ["N", 1])
def test_onnx_graphs_built_in_the_tests_read_exactly(tmp_path, batch):
    outputs = [np.zeros((1, 300, 7), np.float32), np.zeros((1, 84, 8400), np.float32)]
    path = constant_model(tmp_path / "model.onnx", outputs, batch=batch)
    read, session = outline(path), open_session(path)
    assert (read.inputs, read.outputs, read.fixed_batch) == (
        session.inputs,
        session.outputs,
        session.fixed_batch,
    )
    assert [o.shape for o in read.outputs] == [
        (None if batch == "N" else 1, 300, 7),
        (None if batch == "N" else 1, 84, 8400),
    ]


@pytest.mark.parametrize("suffix", [".onnx", ".tflite"])
def test_a_file_that_is_no_model_is_a_model_error(tmp_path, suffix):
    path = tmp_path / f"broken{suffix}"
    path.write_bytes(b"\xff" * 64)
    with pytest.raises(ModelError) as caught:
        outline(path)
    runtime, kind = ("onnxruntime", "ONNX") if suffix == ".onnx" else ("LiteRT", "TFLite")
    assert caught.value.message.startswith(
        f"{runtime} cannot load 'broken{suffix}': the file is not a valid {kind} model"
    )


def test_an_outline_cannot_run(tmp_path):
    path = constant_model(tmp_path / "model.onnx", [np.zeros((1, 3), np.float32)])
    read = outline(path)
    assert isinstance(read, ModelOutline)
    with pytest.raises(TypeError, match="read for validation, not loaded"):
        read.run([np.zeros((1, 3, 640, 640), np.float32)])


# --- the same errors as a loading compile ---------------------------------------------------


def detector_document(source: str, **fields) -> dict:
    return {
        "inputs": [{"type": "image", "name": "image"}],
        "models": {"mine": {"source": source, "task": "object_detection", **fields}},
        "steps": [
            {
                "type": "ObjectDetectionModel",
                "name": "detect",
                "images": "$inputs.image",
                "model": "mine",
            }
        ],
        "outputs": [{"type": "JsonField", "name": "out", "selector": "$steps.detect.predictions"}],
    }


def error_of(document: dict, *, load_models: bool) -> WorkflowError:
    with pytest.raises(WorkflowError) as caught:
        Workflow.compile(document, load_models=load_models, cache=False)
    return caught.value


def described(error: WorkflowError) -> tuple:
    return type(error), error.code, error.place, error.message, error.hint


def test_outputs_that_are_not_the_format_are_the_same_error(tmp_path):
    path = constant_model(tmp_path / "model.onnx", [rtdetr_output()], batch=1)
    document = detector_document(str(path), format="yolov8", labels=RTDETR_LABELS)
    checked = error_of(document, load_models=False)
    assert isinstance(checked, ModelFormatError)
    assert checked.place == "steps[0] 'detect' models 'mine' field 'format'"
    assert checked.message == (
        "model 'mine' (format yolov8) has outputs [(1, 300, 7)], "
        "expected one output (1, 4 + classes, boxes); with its 3 labels (1, 7, boxes)"
    )
    assert described(checked) == described(error_of(document, load_models=True))


@pytest.mark.parametrize(
    "models, step_type",
    [
        ({"mine": {"source": "no/such/file.onnx", "task": "object_detection"}}, None),
        ({"mine": "zoo:mediapipe/face_detection_shortrange"}, None),  # a misspelt zoo id
        ({"mine": "fer/emotion"}, None),  # a classifier where a detector is wanted
        ({}, None),  # not declared at all
        ({"mine": "mediapipe/face_detection_short_range"}, "ClassificationModel"),
    ],
    ids=["missing-file", "unknown-zoo-id", "wrong-task", "undeclared", "wrong-task-classifier"],
)
def test_model_errors_are_the_same_as_when_loading(models, step_type):
    document = detector_document("unused")
    document["models"] = models
    if step_type is not None:
        document["steps"][0]["type"] = step_type
    checked = error_of(document, load_models=False)
    assert described(checked) == described(error_of(document, load_models=True))


def outcome(path: Path, *, load_models: bool) -> tuple:
    try:
        workflow = Workflow.compile(path, load_models=load_models, cache=False)
    except WorkflowError as error:
        return described(error)
    return workflow.inputs, workflow.outputs


@pytest.mark.parametrize(
    "example", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda path: path.name
)
def test_every_example_validates_as_it_compiles(example):
    assert outcome(example, load_models=False) == outcome(example, load_models=True)


# --- nothing started ------------------------------------------------------------------------


def no_runtime_model(path: Path) -> Path:
    """A model whose outputs are a detector's, with an operator no runtime has: it reads
    as a valid file, and onnxruntime refuses to start a session on it."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("NoSuchOperator", ["image"], ["output0"], domain="test.nowhere")],
        "no_runtime",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 640, 640])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 84, 8400])],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("test.nowhere", 1)],
        ir_version=10,
    )
    onnx.save(model, path)
    return path


def test_validation_starts_no_session(tmp_path):
    path = no_runtime_model(tmp_path / "model.onnx")
    document = detector_document(str(path), format="yolov8")
    workflow = Workflow.compile(document, load_models=False, cache=False)
    assert list(workflow.outputs) == ["out"]
    model = workflow.plan.steps["detect"].block.model
    assert isinstance(model, CheckedModel) and not model.loaded
    assert all(loaded.path != path for loaded in loaded_models())  # no pool either
    # loading it is where onnxruntime refuses the file: validation never got there
    with pytest.raises(ModelError, match=r"onnxruntime cannot load 'model\.onnx'"):
        Workflow.compile(document, cache=False)


def test_a_validated_workflow_loads_its_model_on_its_first_run(tmp_path):
    path = constant_model(tmp_path / "model.onnx", [rtdetr_output()], batch=1)
    document = detector_document(str(path), format="rtdetr", labels=RTDETR_LABELS)
    checked = Workflow.compile(document, load_models=False, cache=False)
    loaded = Workflow.compile(document, cache=False)
    image = np.full((160, 320, 3), 40, np.uint8)
    found = [boxes(result) for result in checked.run(image=image, serialize=True)]
    assert found == [boxes(result) for result in loaded.run(image=image, serialize=True)]
    assert found[0][0] == ("person", 100.0, 70.0, 100.0, 100.0)
    assert checked.plan.steps["detect"].block.model.loaded


def boxes(result: dict) -> list[tuple]:
    """The serialized detections, less their ids (new for every run)."""
    found = result["out"]["predictions"]
    return [(p["class"], p["x"], p["y"], p["width"], p["height"]) for p in found]


def run_python(code: str) -> dict:
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


VALIDATE = """
import io, json, sys, contextlib
sys.argv = ["visionflow", "validate", {document!r}, "--json"]
from visionflow.cli import main
printed = io.StringIO()
with contextlib.redirect_stdout(printed):
    try:
        main()
    except SystemExit as exit:
        code = exit.code
    else:
        code = 0
runtimes = [m for m in ("onnxruntime", "ai_edge_litert", "tflite_runtime") if m in sys.modules]
print(json.dumps({{"code": code, "valid": json.loads(printed.getvalue())["valid"],
                   "runtimes": runtimes}}))
"""


@pytest.mark.parametrize("document", ["examples/face_emotion.yaml", "examples/ocr_page.yaml"])
def test_visionflow_validate_imports_no_model_runtime(document):
    """face_emotion's two models are LiteRT's, ocr_page's three ONNX: validated, neither
    runtime is imported, so no interpreter or session can have started."""
    answer = run_python(VALIDATE.format(document=document))
    assert answer == {"code": 0, "valid": True, "runtimes": []}


def test_visionflow_validate_reports_a_format_error_without_a_runtime(tmp_path):
    path = constant_model(tmp_path / "model.onnx", [rtdetr_output()], batch=1)
    document = tmp_path / "detect.json"
    fields = {"format": "yolov8", "labels": RTDETR_LABELS}
    document.write_text(json.dumps(detector_document(str(path), **fields)))
    completed = subprocess.run(
        [sys.executable, "-c", "from visionflow.cli import main; main()", "validate",
         str(document), "--json"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert completed.returncode == 1
    answer = json.loads(completed.stdout)
    assert answer["valid"] is False
    assert answer["error"]["code"] == ModelFormatError.code
    assert answer["error"]["place"] == "steps[0] 'detect' models 'mine' field 'format'"


# --- the server's /validate -----------------------------------------------------------------


def test_the_servers_validate_starts_no_session(tmp_path):
    from fastapi.testclient import TestClient

    from visionflow.server import ServerSettings, create_app

    path = no_runtime_model(tmp_path / "model.onnx")
    settings = ServerSettings(allow_custom_code=True)  # documents may name files here
    with TestClient(create_app(settings)) as http:
        valid = http.post(
            "/validate", json={"workflow": detector_document(str(path), format="yolov8")}
        )
        wrong = http.post(
            "/validate", json={"workflow": detector_document(str(path), format="rtdetr")}
        )
    assert valid.status_code == 200
    assert valid.json()["valid"] is True
    assert all(loaded.path != path for loaded in loaded_models())
    assert wrong.status_code == 422
    assert wrong.json()["error"]["code"] == ModelFormatError.code


# --- block manifests built on first use ----------------------------------------------------


def test_a_manifest_is_built_on_its_first_use_even_by_many_threads_at_once():
    """~200 manifests load with the registry; each one's validator is built when a step
    first needs it (pydantic's defer_build), under one lock, so that a server's threads
    meeting a manifest first at once all get its own validation."""

    class Probe(Block):
        class Manifest(Block.Manifest):
            type: Literal["test/probe@v1"]
            value: Selector(kinds=["integer"]) | int = 1

        outputs = [Output("x")]

    assert Probe.Manifest.__pydantic_complete__ is False
    start, found, failed = threading.Barrier(8), [], []

    def validate(number: int) -> None:
        start.wait()
        raw = {"name": f"s{number}", "type": "test/probe@v1", "value": number}
        try:
            found.append(Probe.Manifest.model_validate(raw).value)
        except Exception as error:  # reported below, not lost in the thread
            failed.append(repr(error))

    threads = [threading.Thread(target=validate, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (sorted(found), failed) == (list(range(8)), [])
    assert Probe.Manifest.__pydantic_complete__ is True
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        Probe.Manifest.model_validate({"name": "s", "type": "test/probe@v1", "other": 1})
