"""Execution providers: chosen per model > per workflow > process default, CPU fallback.

This machine has onnxruntime's CPU provider only (and no LiteRT GPU delegate), so asking for
CUDA, TensorRT or LiteRT's "gpu" exercises the fallback: one warning, the same results.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import onnxruntime as ort
import pytest
from skimage import data
from typer.testing import CliRunner

from onnx_models import channel_means
from visionflow import Workflow
from visionflow.cli import app
from visionflow.errors import ModelError, UnknownProviderError
from visionflow.models.library import ModelLibrary
from visionflow.models.providers import (
    ENVIRONMENT_VARIABLE,
    parse_providers,
    set_default_providers,
)

FACES = "mediapipe/face_detection_short_range"


@pytest.fixture(scope="module")
def means_model(tmp_path_factory):
    return channel_means(tmp_path_factory.mktemp("models") / "means.onnx")


@pytest.fixture(autouse=True)
def no_default(monkeypatch):
    monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)
    set_default_providers(None)
    yield
    set_default_providers(None)


def means_entry(path, **extra) -> dict:
    return {
        "source": str(path),
        "task": "raw",
        "preprocessing": {"size": [32, 32], "color": "bgr", "scale": 1.0},
        **extra,
    }


def means_workflow(entry, settings=None, model_id: str = "means") -> dict:
    return {
        "inputs": [{"type": "image", "name": "image"}],
        "models": {model_id: entry},
        "settings": settings or {},
        "steps": [
            {"type": "ModelInference", "name": "m", "images": "$inputs.image", "model": model_id}
        ],
        "outputs": [{"type": "JsonField", "name": "out", "selector": "$steps.m.outputs"}],
    }


def faces_workflow(entry) -> dict:
    return {
        "inputs": [{"type": "image", "name": "image"}],
        "models": {"faces": entry},
        "steps": [
            {
                "type": "ObjectDetectionModel",
                "name": "d",
                "images": "$inputs.image",
                "model": "faces",
            }
        ],
        "outputs": [{"type": "JsonField", "name": "found", "selector": "$steps.d.predictions"}],
    }


def provider_warnings(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "visionflow.models" and r.levelno == logging.WARNING
    ]


def session_of(workflow: Workflow, step: str = "m"):
    return workflow.plan.steps[step].block.model.pool.first_session


def test_names_short_full_and_aliases_are_one_spelling():
    assert parse_providers(["CUDAExecutionProvider", "TensorRT", "dml", "cpu"], "p") == (
        "cuda",
        "tensorrt",
        "directml",
        "cpu",
    )
    assert parse_providers("openvino, CoreML,openvino", "p") == ("openvino", "coreml")
    assert parse_providers("", "p") == ()


def test_the_choice_is_per_model_then_per_workflow_then_global(means_model, monkeypatch):
    def providers(entry_extra: dict, settings: dict) -> tuple[str, ...]:
        library = ModelLibrary({"means": means_entry(means_model, **entry_extra)}, settings)
        return library.spec("means")[0].providers

    assert providers({}, {}) == ()  # nothing chosen: CPU only
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "openvino,cpu")
    assert providers({}, {}) == ("openvino", "cpu")
    set_default_providers(["TensorrtExecutionProvider"])  # Python's setting beats the variable
    assert providers({}, {}) == ("tensorrt",)
    assert providers({}, {"providers": ["coreml"]}) == ("coreml",)
    assert providers({"providers": ["cuda"]}, {"providers": ["coreml"]}) == ("cuda",)


def test_a_model_description_beats_the_workflow(means_model, tmp_path, monkeypatch):
    (tmp_path / "means.onnx").write_bytes(means_model.read_bytes())
    (tmp_path / "means.yaml").write_text(
        "id: mine/providers-means\npath: means.onnx\ntask: raw\nproviders: [tensorrt, cuda]\n"
        "preprocessing: {size: [32, 32], color: bgr, scale: 1.0}\n"
    )
    monkeypatch.setenv("VISIONFLOW_MODELS", str(tmp_path))
    library = ModelLibrary({}, {"providers": "directml"})
    assert library.spec("mine/providers-means")[0].providers == ("tensorrt", "cuda")
    entry = ModelLibrary({"m": {"source": "mine/providers-means", "providers": ["cpu"]}})
    assert entry.spec("m")[0].providers == ("cpu",)


def test_cpu_runs_on_the_cpu_provider_without_a_warning(means_model, caplog):
    caplog.set_level(logging.WARNING, logger="visionflow.models")
    workflow = Workflow.compile(means_workflow(means_entry(means_model, providers=["cpu"])))
    assert session_of(workflow).providers() == ["CPUExecutionProvider"]
    result = workflow.run(image=np.full((9, 9, 3), 7, np.uint8))
    assert np.allclose(result[0]["out"]["means"], [7, 7, 7])
    assert provider_warnings(caplog) == []


@pytest.mark.parametrize("asked", [["cuda"], ["TensorrtExecutionProvider", "cuda"]])
def test_a_missing_accelerator_falls_back_with_one_warning(means_model, caplog, asked):
    assert "CUDAExecutionProvider" not in ort.get_available_providers()  # this machine
    caplog.set_level(logging.WARNING, logger="visionflow.models")
    image = data.astronaut()[:, :, ::-1]
    cpu = Workflow.compile(means_workflow(means_entry(means_model), model_id="means-cpu"))
    model_id = f"means-{'-'.join(asked)}"
    # two workers: both sessions fall back, the warning still comes once
    entry = means_entry(means_model, providers=asked, min_workers=2, max_workers=2)
    workflow = Workflow.compile(means_workflow(entry, model_id=model_id))
    assert session_of(workflow).providers() == ["CPUExecutionProvider"]
    expected = cpu.run(image=[image, image[::2]])
    found = workflow.run(image=[image, image[::2]])
    for a, b in zip(found, expected, strict=True):
        assert np.array_equal(a["out"]["means"], b["out"]["means"])
    wanted = [{"cuda": "CUDAExecutionProvider"}.get(n, n) for n in asked]
    assert provider_warnings(caplog) == [
        f"model '{model_id}': provider {', '.join(wanted)} is not installed here "
        f"(available: {', '.join(sorted(ort.get_available_providers()))}); running on the CPU"
    ]
    assert workflow.plan.steps["m"].block.model.pool.workers == 2


def test_the_workflow_setting_reaches_the_session(means_model, caplog):
    caplog.set_level(logging.WARNING, logger="visionflow.models")
    definition = means_workflow(means_entry(means_model), {"providers": ["cuda"]}, "means-wf")
    workflow = Workflow.compile(definition)
    assert workflow.plan.steps["m"].block.model.spec.providers == ("cuda",)
    assert session_of(workflow).providers() == ["CPUExecutionProvider"]
    [line] = provider_warnings(caplog)
    assert line.startswith("model 'means-wf': provider CUDAExecutionProvider is not installed")


def test_litert_gpu_falls_back_to_the_cpu_with_one_warning(caplog):
    caplog.set_level(logging.WARNING, logger="visionflow.models")
    image = data.astronaut()[:, :, ::-1]
    expected = Workflow.compile(faces_workflow(FACES)).run(image=image)[0]["found"]
    # "cuda" is for onnxruntime only: a LiteRT model skips it without a word
    gpu = Workflow.compile(faces_workflow({"source": FACES, "providers": ["gpu", "cuda"]}))
    assert session_of(gpu, "d").delegate == "cpu"
    found = gpu.run(image=image)[0]["found"]
    assert len(found) == len(expected) == 1
    assert np.array_equal(found.xyxy, expected.xyxy)
    assert np.array_equal(found.confidence, expected.confidence)
    assert provider_warnings(caplog) == [
        "model 'faces': provider gpu (LiteRT's GPU delegate) is not installed here "
        "(no GPU delegate library found); running on the CPU"
    ]


def test_an_unknown_provider_is_a_compile_error_with_place_and_hint(means_model):
    with pytest.raises(UnknownProviderError) as caught:
        Workflow.compile(means_workflow(means_entry(means_model, providers=["cuda", "gpuu"])))
    error = caught.value
    assert isinstance(error, ModelError)
    assert error.code == "unknown_provider"
    assert error.message == "unknown provider 'gpuu'"
    assert "models 'means' field 'providers'" in error.place
    assert error.hint.startswith("known: cuda, tensorrt, openvino, coreml, directml, cpu, gpu")

    with pytest.raises(UnknownProviderError) as caught:
        Workflow.compile(means_workflow(means_entry(means_model), {"providers": "rocm"}))
    assert "settings field 'providers'" in caught.value.place


def test_an_unknown_name_in_the_environment_names_the_variable(means_model, monkeypatch):
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "cuda,npu")
    with pytest.raises(UnknownProviderError) as caught:
        ModelLibrary({"means": means_entry(means_model)}).spec("means")
    assert caught.value.place == ENVIRONMENT_VARIABLE
    assert caught.value.message == "unknown provider 'npu'"


def test_the_cli_lists_this_machines_providers():
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["models", "--providers", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {"runtime": "onnx", "provider": "CPUExecutionProvider", "name": "cpu"} in rows
    assert [r["provider"] for r in rows if r["runtime"] == "onnx"] == list(
        ort.get_available_providers()
    )
    table = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["models", "--providers"])
    assert "CPUExecutionProvider" in table.output


def test_the_warning_names_the_accelerator_left_when_there_is_one(caplog):
    from visionflow.models.providers import ProviderChoice

    left = ProviderChoice("faces")
    with caplog.at_level(logging.WARNING, logger="visionflow.models"):
        left.fallback(
            ["TensorrtExecutionProvider"], "is not installed here",
            ["CUDAExecutionProvider", "CPUExecutionProvider"],
        )  # fmt: skip
        ProviderChoice("plates").fallback(["CUDAExecutionProvider"], "is not installed here")
    assert [record.getMessage() for record in caplog.records] == [
        "model 'faces': provider TensorrtExecutionProvider is not installed here; "
        "running on CUDAExecutionProvider",
        "model 'plates': provider CUDAExecutionProvider is not installed here; "
        "running on the CPU",
    ]
