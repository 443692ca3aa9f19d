"""What a server refuses so that no request can exhaust it or answer with a 500 it did not
mean: model pools and threads, image formats, empty images, nesting, label values, batch
elements, names. A real ``python -m visionflow.server`` on a free 127.0.0.1 port."""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from test_server import CROP, RunningServer, face_emotion, png_base64, serving
from visionflow.data.sources import FORMATS_HINT

DETECTOR = "mediapipe/face_detection_short_range"


def faces(**model: Any) -> dict[str, Any]:
    """A one-model workflow: the faces the detector finds, served as ``model`` says."""
    return {
        "inputs": [{"type": "image", "name": "image"}],
        "models": {"faces": {"source": DETECTOR, **model}},
        "steps": [
            {"type": "ObjectDetectionModel", "name": "detect", "images": "$inputs.image",
             "model": "faces"},
            {"type": "PropertyDefinition", "name": "count", "data": "$steps.detect.predictions",
             "property": "count"},
        ],
        "outputs": [{"type": "JsonField", "name": "faces", "selector": "$steps.count.output"}],
    }  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[RunningServer]:
    flags = ["--max-loaded-models", "2", "--max-batch-size", "4", "--max-image-pixels", "300000"]
    with serving(tmp_path_factory.mktemp("limits"), *flags) as running:
        yield running


@pytest.fixture(scope="module")
def http(server) -> Iterator[httpx.Client]:
    with server.http(api_key=None) as client:
        yield client


@pytest.fixture(scope="module")
def astronaut_b64(astronaut) -> str:
    return png_base64(astronaut)


def threads_of(server: RunningServer) -> int:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return int(re.search(r"^Threads:\s+(\d+)", status, re.MULTILINE).group(1))


def loaded_models(http: httpx.Client) -> list[str]:
    return re.findall(
        r'^visionflow_model_workers\{model="([^"]+)"\}', http.get("/metrics").text, re.M
    )


def error_of(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert "Traceback" not in answer.text
    return answer.json()["error"]


# --- model pools: what a document may ask for, and how many stay loaded ------------------


def test_a_model_asking_for_more_than_the_server_allows_is_refused(http, server, astronaut_b64):
    document = face_emotion()
    greedy = {"source": "fer/emotion", "min_workers": 64, "max_workers": 64, "intra_op_threads": 64}
    document["models"]["emotion"] = greedy
    answer = http.post("/run", json={"workflow": document, "inputs": {"image": astronaut_b64}})
    error = error_of(answer, 422)
    assert error["code"] == "model_error"
    assert error["place"] == "steps[2] 'emotion' models 'emotion' field 'max_workers'"
    assert error["message"] == "model 'emotion' asks for max_workers 64; at most 4 is allowed here"
    assert "--max-model-workers" in error["hint"]
    assert threads_of(server) < 40  # 64 sessions of 64 threads were never made

    threads = {"source": "fer/emotion", "intra_op_threads": (os.cpu_count() or 1) + 1}
    document["models"]["emotion"] = threads
    error = error_of(http.post("/validate", json={"workflow": document}), 422)
    assert "--max-model-threads" in error["hint"]
    wide = {**faces(), "settings": {"batch_size": 65}}
    error = error_of(http.post("/validate", json={"workflow": wide}), 422)
    assert error["place"] == "steps[0] 'detect' settings field 'batch_size'"


def test_a_model_resizing_inputs_beyond_the_limit_is_refused(http):
    document = face_emotion()
    wide = {"source": "fer/emotion", "preprocessing": {"size": [12000, 64]}}
    document["models"]["emotion"] = wide
    error = error_of(http.post("/validate", json={"workflow": document}), 422)
    assert error["code"] == "model_error"
    assert error["place"] == "steps[2] 'emotion' models 'emotion' field 'preprocessing'"
    assert "resizes its input to 12000 pixels (size[0]); at most 4096" in error["message"]
    assert "--max-model-input-side" in error["hint"]


def test_a_model_call_bound_beyond_the_limit_is_refused(http):
    long = {**faces(timeout_ms=86_400_000)}
    error = error_of(http.post("/validate", json={"workflow": long}), 422)
    assert error["code"] == "model_error"
    assert error["place"] == "steps[0] 'detect' models 'faces' field 'timeout_ms'"
    assert error["message"] == (
        "model 'faces' asks for timeout_ms 86400000; at most 120000 is allowed here"
    )
    assert "--max-model-timeout-ms" in error["hint"]
    within = {**faces(timeout_ms=120_000)}
    assert http.post("/validate", json={"workflow": within}).status_code == 200


def test_loaded_model_pools_are_bounded_and_a_retired_one_reopens(http, server, astronaut_b64):
    first = http.post("/run", json={"workflow": faces(), "inputs": {"image": astronaut_b64}})
    assert first.json()["outputs"] == [{"faces": 1}]
    for size in range(2, 8):  # six more pools asked for: the two least recently used stay
        body = {"workflow": faces(batch_size=size), "inputs": {"image": astronaut_b64}}
        assert http.post("/run", json=body).json()["outputs"] == [{"faces": 1}]
        assert len(loaded_models(http)) <= 2
    deadline = time.monotonic() + 10  # retired workers leave on their own
    while threads_of(server) > 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threads_of(server) <= 40
    # the first workflow's compiled plan still holds its (retired) model: it reopens
    again = http.post("/run", json={"workflow": faces(), "inputs": {"image": astronaut_b64}})
    assert again.json() == first.json()
    assert len(loaded_models(http)) <= 2


def test_when_every_loaded_model_is_busy_a_new_one_is_503(http, server, astronaut_b64):
    # each of these waits 1.5 s for its batch to fill: two loaded pools, both busy
    slow = [faces(batch_size=4, max_batch_delay_ms=1500, queue_size=300 + n) for n in range(2)]
    answers: list[httpx.Response] = []
    runs = [
        threading.Thread(
            target=lambda doc=doc: answers.append(
                httpx.post(f"{server.url}/run", json={"workflow": doc,
                           "inputs": {"image": astronaut_b64}}, timeout=60)
            )
        )
        for doc in slow
    ]  # fmt: skip
    for run in runs:
        run.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        queued = re.findall(
            r"^visionflow_model_queue_depth\{.*\} 1\.0$", http.get("/metrics").text, re.M
        )
        if len(queued) == 2:
            break
        time.sleep(0.02)
    answer = http.post(
        "/run", json={"workflow": faces(queue_size=299), "inputs": {"image": astronaut_b64}}
    )
    for run in runs:
        run.join(30)
    error = error_of(answer, 503)
    assert error["code"] == "too_many_models"
    assert answer.headers["retry-after"] == "1"
    assert "--max-loaded-models" in error["hint"]
    assert [a.status_code for a in answers] == [200, 200]


# --- images ------------------------------------------------------------------------------


def radiance_hdr(width: int, height: int) -> bytes:
    """A run-length-encoded Radiance HDR: a few bytes per row, OpenCV decodes any size."""
    row = bytearray([2, 2, width >> 8, width & 255])
    for channel in range(4):
        left = width
        while left > 0:
            run = min(127, left)
            row += bytes([128 + run, 0 if channel < 3 else 128])
            left -= run
    header = f"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y {height} +X {width}\n".encode()
    return header + bytes(row) * height


def test_an_image_whose_size_the_header_does_not_give_is_refused_before_decoding(http):
    raw = radiance_hdr(1200, 1200)  # 1.4 Mpixels in 82 kB
    error = error_of(run_crop(http, base64.b64encode(raw).decode()), 422)
    assert error["code"] == "invalid_runtime_input"
    assert (
        error["message"] == f"the {len(raw)} bytes are not an image in a format this server reads"
    )
    assert error["hint"] == FORMATS_HINT


@pytest.mark.parametrize("image", ["", "data:,", {"type": "base64", "value": ""}])
def test_an_empty_image_is_a_422(http, image):
    error = error_of(run_crop(http, image), 422)
    assert (error["code"], error["place"]) == ("invalid_runtime_input", "inputs 'image'")
    assert error["message"] == "the image is empty (0 bytes)"


def test_a_text_image_is_base64_never_a_path_on_the_server(http):
    error = error_of(run_crop(http, "/etc/hostname"), 422)
    assert (error["code"], error["place"]) == ("invalid_runtime_input", "inputs 'image'")
    assert error["message"].startswith("not valid base64 (")
    assert error["hint"] == (
        'a text image value is read as base64, never as a path or URL: send {"type": "url", '
        '"value": ...} or {"type": "file", "value": ...} where the server allows them'
    )


def test_an_empty_uploaded_file_is_a_422(http):
    answer = http.post(
        "/run/upload",
        data={"request": json.dumps({"workflow": CROP})},
        files=[("image", ("empty.png", b""))],
    )
    assert error_of(answer, 422)["message"] == "the image is empty (0 bytes)"


def run_crop(http: httpx.Client, image: Any) -> httpx.Response:
    return http.post("/run", json={"workflow": CROP, "inputs": {"image": image}})


# --- answers that used to be 500s, or that grew without bound ------------------------------

BROKEN = {
    "inputs": [{"type": "parameter", "name": "value"}],
    "steps": [{"type": "servertest/broken@v1", "name": "broken", "value": "$inputs.value"}],
    "outputs": [{"type": "JsonField", "name": "value", "selector": "$steps.broken.value"}],
}


def test_an_unexpected_error_is_a_500_and_the_connection_stays_usable(server):
    with server.http(api_key=None) as http:
        answer = http.post("/run", json={"workflow": BROKEN, "inputs": {"value": 1}})
        error = error_of(answer, 500)
        assert error["code"] == "internal_error"
        assert error["message"] == "the server failed: RuntimeError: this value cannot be written"
        assert answer.headers.get("connection") != "close"
        assert http.get("/health").status_code == 200  # the same keep-alive connection
    assert "RuntimeError: this value cannot be written" in server.log.read_text()


NESTED = 20_000


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"workflow": "a: " + "[" * NESTED + "]" * NESTED}, 422, "document_too_large"),
        ({"workflow": '{"a": ' + "[" * NESTED + "]" * NESTED + "}"}, 422, "document_too_large"),
        (b'{"workflow": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400, "malformed_json"),
        (b'{"workflow": {}, "inputs": {"x": ' + b"9" * 5000 + b"}}", 400, "malformed_json"),
    ],
    ids=["YAML text", "JSON text", "JSON body", "a 5000-digit number"],
)
def test_deeply_nested_documents_and_bodies_are_refused(http, body, status, code):
    if isinstance(body, bytes):
        answer = http.post("/validate", content=body, headers={"content-type": "application/json"})
    else:
        answer = http.post("/validate", json=body)
    error = error_of(answer, status)
    assert error["code"] == code
    assert error["hint"]


def test_runs_are_labelled_by_registered_names_only(http, astronaut_b64):
    assert http.post("/workflows", json={"name": "labelled", "workflow": CROP}).status_code == 201
    for n in range(3):
        http.post("/run", json={"name": f"nope-{n}-" + "Z" * 500, "inputs": {}})
        http.post("/run", json={"name": "labelled", "inputs": {"image": astronaut_b64}})
    http.post("/run", json={"name": "bad name\n", "inputs": {}})
    runs = [
        line for line in http.get("/metrics").text.splitlines() if "visionflow_runs_total{" in line
    ]
    labels = sorted(set(re.findall(r'workflow="([^"]*)"', "\n".join(runs))))
    assert "unknown" in labels and "labelled" in labels
    assert all(label in {"unknown", "labelled", "inline"} for label in labels), labels
    assert 'visionflow_runs_total{outcome="error",workflow="unknown"} 4.0' in runs


def test_request_metrics_are_labelled_by_known_methods_only(http):
    # methods the HTTP parser takes (WebDAV's, TRACE) but no route serves: one label for all
    for method in ("PROPFIND", "MKCOL", "LOCK", "UNLOCK", "TRACE"):
        http.request(method, "/health")
    methods = set(
        re.findall(r'visionflow_http_requests_total\{method="([^"]*)"', http.get("/metrics").text)
    )
    assert "other" in methods and methods <= {"GET", "POST", "DELETE", "other"}


def test_the_batch_limit_counts_every_element_of_a_nested_batch(http):
    image = {"type": "image", "name": "image", "dimensionality": 2}
    nested = {**CROP, "inputs": [image, CROP["inputs"][1]]}
    tiny = png_base64(np.zeros((8, 8, 3), np.uint8))
    answer = http.post("/run", json={"workflow": nested, "inputs": {"image": [[tiny] * 4] * 4}})
    error = error_of(answer, 413)
    assert error["code"] == "batch_too_large"
    assert (
        error["message"] == "input 'image' has 16 elements; this server takes at most 4 per request"
    )


@pytest.mark.parametrize("name", ["x\n", "ok\r", "a/b", "..", ".hidden"])
def test_a_workflow_name_must_be_letters_digits_and_punctuation_only(http, name):
    answer = http.post("/workflows", json={"name": name, "workflow": CROP})
    assert error_of(answer, 422)["code"] == "invalid_request"


def test_a_broken_file_is_named_inside_the_workflows_folder(http, server):
    folder = server.workflows / "byhand"
    folder.mkdir(parents=True)
    (folder / "1.yaml").write_text("steps: [oops\n")
    error = error_of(http.post("/run", json={"name": "byhand", "inputs": {}}), 422)
    assert error["place"] == "byhand/1.yaml"
    assert str(server.workflows) not in json.dumps(error)


def test_a_request_field_that_is_not_json_names_the_form_field(http, astronaut):
    answer = http.post(
        "/run/upload", data={"request": "{bad"}, files=[("image", ("a.png", b"\x89PNG"))]
    )
    error = error_of(answer, 400)
    assert (error["code"], error["place"]) == ("malformed_json", "form field 'request'")
    assert error["message"].startswith("form field 'request' is not valid JSON: ")


def test_openapi_has_examples_for_every_body_and_lists_the_key_error(http):
    api = http.get("/openapi.json").json()
    schemas = api["components"]["schemas"]
    for path in ("/validate", "/graph"):
        body = api["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        assert schemas[body["schema"]["$ref"].rsplit("/", 1)[1]]["examples"]
    graph = api["paths"]["/graph"]["post"]["responses"]["200"]["content"]["application/json"]
    assert schemas[graph["schema"]["$ref"].rsplit("/", 1)[1]]["examples"][0]["edges"]
    for path in ("/describe", "/kinds", "/workflows", "/metrics"):
        responses = api["paths"][path]["get"]["responses"]
        assert "401" in responses
        assert next(iter(responses["200"]["content"].values()))["example"]


def test_a_model_refused_inside_a_step_keeps_its_code_to_retry_on():
    from visionflow.errors import StepExecutionError
    from visionflow.models.library import TooManyModelsError
    from visionflow.server.errors import error_body, status_of

    refused = TooManyModelsError("every loaded model is busy", hint="retry")
    error = StepExecutionError("emotion", "ClassificationModel", refused, (0,))
    assert status_of(error) == 503
    body = error_body(error)["error"]
    assert (body["code"], body["step"]) == ("too_many_models", "emotion")
