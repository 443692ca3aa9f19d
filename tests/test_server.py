"""The HTTP server: a real ``python -m visionflow.server`` on a free 127.0.0.1 port.

Run, validate, describe, graph, registered workflows with versions and hot reload,
metrics, and every refusal as a 4xx whose body says code, place, message and hint.
The helpers at the top are shared by test_server_load.py and test_client.py.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
import yaml

from visionflow import Workflow, serialize
from visionflow.blocks.core.crops import DETECTION_KINDS

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
API_KEY = "test-key"

# A plugin for the server process: a step that holds its run until the test releases it
# (to have a request in flight, deterministically), and a step that fails.
PLUGIN = "vf_servertest_plugin"
PLUGIN_SOURCE = '''
import time
from pathlib import Path
from typing import Literal

from visionflow import Block, Output, Selector


class Hold(Block):
    """Writes the file `started`, then waits until the file `release` exists."""

    class Manifest(Block.Manifest):
        type: Literal["servertest/hold@v1"]
        started: Selector(kinds=["string"]) | str
        release: Selector(kinds=["string"]) | str
        tag: str

    outputs = [Output("tag", kinds=["string"])]

    def run(self, started, release, tag):
        Path(started).write_text("started")
        deadline = time.monotonic() + 30
        while not Path(release).exists():
            if time.monotonic() > deadline:
                raise TimeoutError("the test never released this run")
            time.sleep(0.005)
        return {"tag": tag}


class Fail(Block):
    """Refuses every value."""

    class Manifest(Block.Manifest):
        type: Literal["servertest/fail@v1"]
        value: Selector()

    outputs = [Output("value")]

    def run(self, value):
        raise ValueError(f"cannot handle {value!r}")


class Unprintable:
    def __str__(self):
        raise RuntimeError("this value cannot be written")


class Broken(Block):
    """Returns a value that serialisation fails on: an unexpected error, a 500."""

    class Manifest(Block.Manifest):
        type: Literal["servertest/broken@v1"]
        value: Selector()

    outputs = [Output("value")]

    def run(self, value):
        return {"value": Unprintable()}


def load_blocks():
    return [Hold, Fail, Broken]
'''

CROP = {
    "inputs": [
        {"type": "image", "name": "image"},
        {"type": "parameter", "name": "ratio", "kind": ["float"], "default_value": 0.5},
    ],
    "steps": [
        {
            "type": "RelativeStaticCrop",
            "name": "crop",
            "images": "$inputs.image",
            "x_center": 0.5,
            "y_center": 0.5,
            "width": "$inputs.ratio",
            "height": 0.25,
        },
        {
            "type": "PropertyDefinition",
            "name": "width",
            "data": "$steps.crop.crops",
            "property": "width",
        },
        {
            "type": "PropertyDefinition",
            "name": "height",
            "data": "$steps.crop.crops",
            "property": "height",
        },
    ],
    "outputs": [
        {"type": "JsonField", "name": "width", "selector": "$steps.width.output"},
        {"type": "JsonField", "name": "height", "selector": "$steps.height.output"},
    ],
}


def hold_workflow(tag: str) -> dict[str, Any]:
    return {
        "inputs": [
            {"type": "parameter", "name": "started", "kind": ["string"]},
            {"type": "parameter", "name": "release", "kind": ["string"]},
        ],
        "steps": [
            {
                "type": "servertest/hold@v1",
                "name": "hold",
                "started": "$inputs.started",
                "release": "$inputs.release",
                "tag": tag,
            }
        ],
        "outputs": [{"type": "JsonField", "name": "tag", "selector": "$steps.hold.tag"}],
    }


# --- a real server in a subprocess -------------------------------------------------------


@dataclass
class RunningServer:
    url: str
    process: subprocess.Popen
    workflows: Path
    log: Path

    def http(self, api_key: str | None = API_KEY, timeout: float = 60) -> httpx.Client:
        headers = {"X-API-Key": api_key} if api_key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def rss_kib(self) -> int:
        """Resident memory of the server process, from /proc."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(line.split()[1])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_plugin(folder: Path) -> dict[str, str]:
    """The environment for a server process that loads the test plugin."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{PLUGIN}.py").write_text(textwrap.dedent(PLUGIN_SOURCE))
    paths = [str(folder), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"VISIONFLOW_PLUGINS": PLUGIN, "PYTHONPATH": os.pathsep.join(paths)}


@contextmanager
def serving(folder: Path, *flags: str, workflows: Path | None = None) -> Iterator[RunningServer]:
    """``python -m visionflow.server`` on a free loopback port until the block ends."""
    folder.mkdir(parents=True, exist_ok=True)
    port, workflows = free_port(), workflows or folder / "workflows"
    log = folder / f"server-{port}.log"
    command = [
        sys.executable,
        "-m",
        "visionflow.server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workflows",
        str(workflows),
        "--log-level",
        "warning",
        "--no-access-log",
        *flags,
    ]
    env = {**os.environ, **write_plugin(folder / "plugin")}
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
    server = RunningServer(f"http://127.0.0.1:{port}", process, workflows, log)
    try:
        _wait_until_healthy(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_healthy(server: RunningServer, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(
                f"the server exited ({server.process.returncode}):\n{server.log.read_text()}"
            )
        try:
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    pytest.fail(f"the server did not answer /health within {seconds} s")


def png_base64(pixels: np.ndarray) -> str:
    ok, encoded = cv2.imencode(".png", pixels)
    assert ok
    return base64.b64encode(encoded.tobytes()).decode("ascii")


def without_ids(value: Any) -> Any:
    """Serialised results minus the ids that differ between processes (image counters)."""
    ids = {"image_id", "parent_id", "detection_id", "root_id"}
    if isinstance(value, dict):
        return {k: without_ids(v) for k, v in value.items() if k not in ids}
    if isinstance(value, list):
        return [without_ids(item) for item in value]
    return value


def face_emotion() -> dict[str, Any]:
    return yaml.safe_load((EXAMPLES / "face_emotion.yaml").read_text())


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[RunningServer]:
    """The strict server: an API key, no custom code, no URLs or paths, small limits."""
    folder = tmp_path_factory.mktemp("strict")
    flags = [
        "--api-key",
        API_KEY,
        "--max-image-pixels",
        "300000",
        "--max-batch-size",
        "4",
        "--max-request-mb",
        "2",
    ]
    with serving(folder, *flags) as running:
        yield running


@pytest.fixture(scope="module")
def http(server) -> Iterator[httpx.Client]:
    with server.http() as client:
        yield client


@pytest.fixture(scope="module")
def astronaut_b64(astronaut) -> str:
    return png_base64(astronaut)


def run(http: httpx.Client, workflow: Any = CROP, **inputs: Any) -> httpx.Response:
    return http.post("/run", json={"workflow": workflow, "inputs": inputs})


# --- running -----------------------------------------------------------------------------


def test_health_answers_without_a_key(server):
    answer = httpx.get(f"{server.url}/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "version": "0.1.0"}


def test_run_an_inline_workflow_on_a_base64_image(http, astronaut_b64):
    answer = run(http, image=astronaut_b64)
    assert answer.status_code == 200
    assert answer.json() == {"outputs": [{"width": 256, "height": 128}], "workflow": None}


def test_a_list_of_images_is_a_batch_in_order(http, astronaut_b64, coffee):
    answer = run(http, image=[astronaut_b64, png_base64(coffee)], ratio=0.25)
    assert answer.json()["outputs"] == [
        {"width": 128, "height": 128},
        {"width": 150, "height": 100},
    ]


def test_images_uploaded_as_files_in_a_multipart_form(http, astronaut, coffee):
    files = [
        ("image", ("a.png", cv2.imencode(".png", img)[1].tobytes())) for img in (astronaut, coffee)
    ]
    answer = http.post("/run/upload", data={"request": json.dumps({"workflow": CROP})}, files=files)
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"] == [
        {"width": 256, "height": 128},
        {"width": 300, "height": 100},
    ]


def test_face_emotion_through_http_equals_the_run_in_process(http, astronaut, astronaut_b64):
    answer = run(http, face_emotion(), image=astronaut_b64)
    assert answer.status_code == 200, answer.text
    remote = answer.json()["outputs"][0]
    local = serialize(Workflow.compile(EXAMPLES / "face_emotion.yaml").run(image=astronaut))[0]
    assert remote["emotions"][0]["top"] == "happy"
    assert [face["class"] for face in remote["faces"]["predictions"]] == ["happy"]
    assert without_ids(remote) == without_ids(local)
    assert remote["annotated"]["width"] == 512 and remote["annotated"]["type"] == "base64"


@pytest.mark.parametrize(
    ("example", "inputs", "expected"),
    [
        ("functional_emotions.yaml", {"in": "@IMAGE"}, [{"out": ["happy"]}]),
        ("deepomatic_faces.yaml", {"image": "@IMAGE"}, True),
    ],
)
def test_the_other_dialects_run_through_the_server(http, astronaut_b64, example, inputs, expected):
    document = yaml.safe_load((EXAMPLES / example).read_text())
    given = {name: astronaut_b64 if value == "@IMAGE" else value for name, value in inputs.items()}
    answer = http.post("/run", json={"workflow": document, "inputs": given})
    assert answer.status_code == 200, answer.text
    outputs = answer.json()["outputs"]
    if example.startswith("deepomatic"):
        assert outputs[0]["happy customer"]["value"] is expected
        assert outputs[0]["FlowContainer"]["workflow_name"] == "happy customers"
    else:
        assert outputs == expected


def test_metrics_count_requests_and_each_models_batches(http, astronaut_b64):
    assert run(http, face_emotion(), image=astronaut_b64).status_code == 200
    text = http.get("/metrics").text
    assert 'visionflow_http_requests_total{method="POST",route="/run",status="200"}' in text
    assert 'visionflow_http_request_duration_seconds_bucket{le="0.001",method="POST"' in text
    assert 'visionflow_runs_total{outcome="ok",workflow="inline"}' in text
    for model in ("faces", "emotion"):
        assert f'visionflow_model_batches_total{{model="{model}"}}' in text
        assert f'visionflow_model_latency_seconds{{model="{model}",quantile="0.95"}}' in text
        assert f'visionflow_model_workers{{model="{model}"}}' in text
        assert f'visionflow_model_queue_depth{{model="{model}"}} 0.0' in text  # idle now


# --- refusals: a 4xx with code, place, message and hint; never a traceback ---------------

TINY = png_base64(np.zeros((8, 8, 3), np.uint8))
NOT_AN_IMAGE = base64.b64encode(b"these bytes are no image at all").decode()
DYNAMIC = {
    "dynamic_blocks_definitions": [
        {
            "type": "DynamicBlockDefinition",
            "manifest": {
                "block_type": "Double",
                "inputs": {"x": {"kind": ["integer"]}},
                "outputs": {"y": {"kind": ["integer"]}},
            },
            "code": {"run_function_code": "def run(self, x):\n    return {'y': 2 * x}\n"},
        }
    ],
    "inputs": [{"type": "parameter", "name": "x", "kind": ["integer"]}],
    "steps": [{"type": "Double", "name": "double", "x": "$inputs.x"}],
    "outputs": [{"type": "JsonField", "name": "y", "selector": "$steps.double.y"}],
}
FAILING = {
    "inputs": [{"type": "batch", "name": "value"}],
    "steps": [{"type": "servertest/fail@v1", "name": "explode", "value": "$inputs.value"}],
    "outputs": [{"type": "JsonField", "name": "value", "selector": "$steps.explode.value"}],
}
REFUSALS = {
    "malformed JSON": (
        {"content": b'{"workflow": {', "headers": {"content-type": "application/json"}},
        400,
        "malformed_json",
        "body",
    ),
    "undecodable image": (
        {"json": {"workflow": CROP, "inputs": {"image": NOT_AN_IMAGE}}},
        422,
        "invalid_runtime_input",
        "inputs 'image'",
    ),
    "wrong input kind": (
        {"json": {"workflow": CROP, "inputs": {"image": "@IMAGE", "ratio": "wide"}}},
        422,
        "invalid_runtime_input",
        "inputs 'ratio'",
    ),
    "unknown input": (
        {"json": {"workflow": CROP, "inputs": {"image": "@IMAGE", "colour": "red"}}},
        422,
        "invalid_runtime_input",
        "inputs",
    ),
    "a compile error": (
        {
            "json": {
                "workflow": {
                    **CROP,
                    "outputs": [{"type": "JsonField", "name": "w", "selector": "$steps.crp.crops"}],
                },
                "inputs": {},
            }
        },
        422,
        "invalid_selector",
        "outputs[0] 'w' field 'selector'",
    ),
    "a workflow given as a server file name": (
        {"json": {"workflow": "/etc/visionflow.yaml", "inputs": {}}},
        422,
        "invalid_definition",
        "workflow",
    ),
    "neither workflow nor name": (
        {"json": {"inputs": {}}},
        422,
        "invalid_request",
        "body",
    ),
    "too large a request": (
        {
            "content": b"{" + b" " * (3 * 1024 * 1024) + b"}",
            "headers": {"content-type": "application/json"},
        },
        413,
        "request_too_large",
        "body",
    ),
    "too large an image": (
        {
            "json": {
                "workflow": CROP,
                "inputs": {"image": png_base64(np.zeros((600, 600, 3), np.uint8))},
            }
        },
        413,
        "image_too_large",
        "inputs 'image'",
    ),
    "too large a batch": (
        {"json": {"workflow": CROP, "inputs": {"image": [TINY] * 5}}},
        413,
        "batch_too_large",
        "inputs 'image'",
    ),
    "custom code": (
        {"json": {"workflow": DYNAMIC, "inputs": {"x": 2}}},
        403,
        "custom_code_not_allowed",
        "dynamic_blocks_definitions[0] 'Double'",
    ),
    "a model file on the server's disk": (
        {
            "json": {
                "workflow": {
                    **face_emotion(),
                    "models": {"faces": {"source": "/etc/hosts", "task": "object_detection"}},
                },
                "inputs": {"image": "@IMAGE"},
            }
        },
        403,
        "custom_code_not_allowed",
        "steps[0] 'detect faces'",
    ),
    "an image URL": (
        {
            "json": {
                "workflow": CROP,
                "inputs": {"image": {"type": "url", "value": "http://127.0.0.1:9/a.png"}},
            }
        },
        403,
        "input_source_not_allowed",
        "inputs 'image'",
    ),
    "a server-side path": (
        {"json": {"workflow": CROP, "inputs": {"image": {"type": "file", "value": "/etc/hosts"}}}},
        403,
        "input_source_not_allowed",
        "inputs 'image'",
    ),
    "an unknown registered name": (
        {"json": {"name": "no-such-workflow", "inputs": {}}},
        404,
        "not_found",
        "workflows 'no-such-workflow'",
    ),
    "a failing step": (
        {"json": {"workflow": FAILING, "inputs": {"value": 7}}},
        422,
        "step_execution_error",
        "steps 'explode'",
    ),
}


def _with_image(request: dict, image: str) -> dict:
    """``"@IMAGE"`` in a request's inputs replaced by a real image."""
    text = json.dumps(request.get("json"))
    return (
        {**request, "json": json.loads(text.replace('"@IMAGE"', json.dumps(image)))}
        if ("json" in request)
        else request
    )


@pytest.mark.parametrize("case", list(REFUSALS))
def test_each_refusal_is_a_4xx_with_code_place_message_and_hint(case, http, astronaut_b64):
    request, status, code, place = REFUSALS[case]
    answer = http.post("/run", **_with_image(request, astronaut_b64))
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert set(error) >= {"code", "place", "message", "hint"}
    assert error["code"] == code
    if place is not None:
        assert error["place"] == place
    assert error["message"]
    assert "Traceback" not in answer.text and 'File "' not in answer.text
    if code == "custom_code_not_allowed":  # the fix on a server is the operator's flag
        assert "--allow-custom-code" in error["hint"]


def test_a_failing_step_is_reported_by_its_name_and_type(http):
    answer = http.post("/run", json={"workflow": FAILING, "inputs": {"value": [5, 7]}})
    error = answer.json()["error"]
    assert error["step"] == "explode"
    assert error["block_type"] == "servertest/fail@v1"
    assert error["message"] == (
        "step 'explode' (servertest/fail@v1) failed for element (0,): ValueError: cannot handle 5"
    )


def test_every_endpoint_but_health_needs_the_key(server):
    with server.http(api_key=None) as anonymous, server.http(api_key="wrong") as wrong:
        for path in ("/describe", "/metrics", "/workflows", "/kinds"):
            missing = anonymous.get(path)
            assert missing.status_code == 401
            assert missing.json()["error"]["code"] == "invalid_api_key"
            assert missing.json()["error"]["hint"]
            assert wrong.get(path).json()["error"]["message"] == "the API key is wrong"
        assert anonymous.post("/run", json={"workflow": CROP}).status_code == 401
        # the schema too: with a key, only those who hold it see what the server exposes
        assert anonymous.get("/openapi.json").status_code == 401
        assert anonymous.get("/docs").status_code == 404  # a browser page cannot send the key
    with server.http() as keyed:
        assert keyed.get("/openapi.json").json()["info"]["title"] == "visionflow"


# --- validate, describe, graph -----------------------------------------------------------


def test_validate_gives_inputs_and_outputs_with_their_kinds(http):
    answer = http.post("/validate", json={"workflow": CROP})
    assert answer.status_code == 200
    assert answer.json() == {
        "valid": True,
        "inputs": {
            "image": {
                "type": "image",
                "kinds": ["image"],
                "has_default": False,
                "default_value": None,
                "dimensionality": 1,
            },
            "ratio": {
                "type": "parameter",
                "kinds": ["float"],
                "has_default": True,
                "default_value": 0.5,
                "dimensionality": 0,
            },
        },
        "outputs": {
            "width": {"selector": "$steps.width.output", "kinds": ["integer"], "dimensionality": 1},
            "height": {
                "selector": "$steps.height.output",
                "kinds": ["integer"],
                "dimensionality": 1,
            },
        },
    }


def test_validate_gives_the_structured_compile_error(http):
    wrong = {
        **CROP,
        "steps": [{**CROP["steps"][0], "images": "$inputs.picture"}, *CROP["steps"][1:]],
    }
    answer = http.post("/validate", json={"workflow": wrong})
    assert answer.status_code == 422
    assert answer.json()["valid"] is False
    error = answer.json()["error"]
    assert (error["code"], error["place"]) == ("invalid_selector", "steps[0] 'crop' field 'images'")
    custom = http.post("/validate", json={"workflow": DYNAMIC})
    assert (custom.status_code, custom.json()["error"]["code"]) == (403, "custom_code_not_allowed")


def test_describe_every_block_with_its_schema_outputs_and_kinds(http):
    described = http.get("/describe").json()
    blocks = {block["type"]: block for block in described["blocks"]}
    crop = blocks["visionflow/dynamic_crop@v1"]
    assert crop["aliases"] == ["DynamicCrop", "Crop", "roboflow_core/dynamic_crop@v1"]
    assert crop["outputs"] == [
        {"name": "crops", "kinds": ["image"]},
        {"name": "predictions", "kinds": DETECTION_KINDS},
    ]
    assert crop["output_dimensionality_offset"] == 1
    schema = crop["manifest_schema"]
    assert schema["required"] == ["name", "type", "images", "predictions"]
    assert schema["properties"]["images"]["x-selector-kinds"] == ["image"]
    assert schema["properties"]["type"]["enum"] == [
        "visionflow/dynamic_crop@v1",
        "DynamicCrop",
        "Crop",
        "roboflow_core/dynamic_crop@v1",
    ]
    assert "servertest/hold@v1" in blocks  # plugins' blocks too
    assert all("manifest_schema" in block and "outputs" in block for block in blocks.values())
    kinds = {kind["name"] for kind in described["kinds"]}
    assert {"image", "object_detection_prediction", "classification_prediction", "*"} <= kinds
    assert described["dialects"] == ["deepomatic", "functional", "native"]
    assert http.get("/blocks/Crop").json()["type"] == "visionflow/dynamic_crop@v1"
    assert http.get("/blocks/Cropp").json()["error"]["hint"].startswith("did you mean 'Crop'?")


def test_graph_of_a_compiled_workflow(http):
    graph = http.post("/graph", json={"workflow": CROP}).json()
    assert [(n["id"], n["type"]) for n in graph["nodes"]] == [
        ("$inputs.image", "input"),
        ("$inputs.ratio", "input"),
        ("$steps.crop", "step"),
        ("$steps.width", "step"),
        ("$steps.height", "step"),
        ("$outputs.width", "output"),
        ("$outputs.height", "output"),
    ]
    assert [(e["source"], e["target"], e["field"], e["kinds"]) for e in graph["edges"]] == [
        ("$inputs.image", "$steps.crop", "images", ["image"]),
        ("$inputs.ratio", "$steps.crop", "width", ["float"]),
        ("$steps.crop", "$steps.width", "data", ["image"]),
        ("$steps.crop", "$steps.height", "data", ["image"]),
        ("$steps.width", "$outputs.width", None, ["integer"]),
        ("$steps.height", "$outputs.height", None, ["integer"]),
    ]


# --- registered workflows -----------------------------------------------------------------


def test_register_list_get_new_version_and_delete(http, server, astronaut_b64):
    created = http.post("/workflows", json={"name": "centre", "workflow": CROP})
    assert created.status_code == 201
    assert (created.json()["version"], created.json()["versions"]) == (1, [1])
    assert (server.workflows / "centre" / "1.json").is_file()  # on disk: survives restarts
    again = http.post("/workflows", json={"name": "centre", "workflow": CROP})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "workflow_exists")

    wider = {**CROP, "inputs": [CROP["inputs"][0], {**CROP["inputs"][1], "default_value": 1.0}]}
    added = http.post("/workflows/centre/versions", json={"workflow": wider})
    assert (added.status_code, added.json()["versions"]) == (201, [1, 2])
    listed = {w["name"]: w for w in http.get("/workflows").json()["workflows"]}
    assert (listed["centre"]["version"], listed["centre"]["versions"]) == (2, [1, 2])
    assert http.get("/workflows/centre", params={"version": 1}).json()["document"] == CROP
    assert http.get("/workflows/centre").json()["document"] == wider

    newest = http.post("/run", json={"name": "centre", "inputs": {"image": astronaut_b64}})
    assert newest.json() == {
        "outputs": [{"width": 512, "height": 128}],
        "workflow": {"name": "centre", "version": 2},
    }
    first = http.post(
        "/run", json={"name": "centre", "version": 1, "inputs": {"image": astronaut_b64}}
    )
    assert first.json()["outputs"] == [{"width": 256, "height": 128}]

    deleted = http.delete("/workflows/centre")
    assert deleted.json() == {"deleted": "centre", "versions": [1, 2]}
    assert http.get("/workflows/centre").status_code == 404
    assert not (server.workflows / "centre").exists()


def test_a_wrong_document_is_never_registered(http):
    refused = http.post("/workflows", json={"name": "custom", "workflow": DYNAMIC})
    assert (refused.status_code, refused.json()["error"]["code"]) == (
        403,
        "custom_code_not_allowed",
    )
    bad_name = http.post("/workflows", json={"name": "../escape", "workflow": CROP})
    assert (bad_name.status_code, bad_name.json()["error"]["place"]) == (422, "name")
    assert "custom" not in [w["name"] for w in http.get("/workflows").json()["workflows"]]


def _start_held_run(http, tmp_path: Path, name: str) -> tuple[threading.Thread, dict, Path]:
    """A run of ``name`` that is inside its step (it wrote `started`) until `release` exists."""
    started, release = tmp_path / f"{name}-started", tmp_path / f"{name}-release"
    answer: dict[str, Any] = {}

    def request() -> None:
        body = {"name": name, "inputs": {"started": str(started), "release": str(release)}}
        answer["response"] = http.post("/run", json=body)

    thread = threading.Thread(target=request)
    thread.start()
    deadline = time.monotonic() + 20
    while not started.exists():
        assert time.monotonic() < deadline, "the held run never started"
        time.sleep(0.005)
    return thread, answer, release


def _run_released(http, tmp_path: Path, name: str) -> httpx.Response:
    release = tmp_path / f"{name}-open"
    release.write_text("go")
    body = {"name": name, "inputs": {"started": str(tmp_path / "ignored"), "release": str(release)}}
    return http.post("/run", json=body)


def test_a_file_changed_on_disk_is_used_while_a_run_in_flight_keeps_its_version(
    http, server, tmp_path
):
    assert http.post(
        "/workflows", json={"name": "edited", "workflow": hold_workflow("old")}
    ).is_success
    thread, held, release = _start_held_run(http, tmp_path, "edited")
    # the operator edits the stored file by hand, no restart
    (server.workflows / "edited" / "1.json").write_text(json.dumps(hold_workflow("new!")))
    assert _run_released(http, tmp_path, "edited").json()["outputs"] == [{"tag": "new!"}]
    release.write_text("go")
    thread.join(30)
    assert held["response"].json()["outputs"] == [{"tag": "old"}]
    assert http.delete("/workflows/edited").is_success


def test_a_new_version_is_used_while_a_run_in_flight_finishes_on_the_old_one(http, tmp_path):
    assert http.post(
        "/workflows", json={"name": "versioned", "workflow": hold_workflow("v1")}
    ).is_success
    thread, held, release = _start_held_run(http, tmp_path, "versioned")
    added = http.post("/workflows/versioned/versions", json={"workflow": hold_workflow("v2")})
    assert added.status_code == 201
    newest = _run_released(http, tmp_path, "versioned").json()
    assert newest == {"outputs": [{"tag": "v2"}], "workflow": {"name": "versioned", "version": 2}}
    release.write_text("go")
    thread.join(30)
    assert held["response"].json() == {
        "outputs": [{"tag": "v1"}],
        "workflow": {"name": "versioned", "version": 1},
    }
    assert http.delete("/workflows/versioned").is_success


def test_a_file_added_by_hand_is_a_registered_workflow(http, server, astronaut_b64):
    folder = server.workflows / "by-hand"
    folder.mkdir(parents=True)
    (folder / "1.yaml").write_text(yaml.safe_dump(CROP))
    answer = http.post("/run", json={"name": "by-hand", "inputs": {"image": astronaut_b64}})
    assert answer.json()["outputs"] == [{"width": 256, "height": 128}]
    assert http.delete("/workflows/by-hand").json()["versions"] == [1]


# --- what the operator may allow ---------------------------------------------------------


@pytest.fixture(scope="module")
def open_server(tmp_path_factory, astronaut) -> Iterator[tuple[RunningServer, Path]]:
    """A server that allows custom code, image URLs and files inside one folder."""
    folder = tmp_path_factory.mktemp("open")
    images = folder / "images"
    images.mkdir()
    assert cv2.imwrite(str(images / "astronaut.png"), astronaut)
    flags = ["--allow-custom-code", "--allow-urls", "--allow-files", str(images)]
    with serving(folder, *flags) as running:
        yield running, images


@pytest.fixture
def image_site(open_server) -> Iterator[str]:
    """A static file server on loopback with the astronaut, for URL inputs."""
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    _, images = open_server
    handler = partial(SimpleHTTPRequestHandler, directory=str(images))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    site = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{site.server_address[1]}"
    site.shutdown()
    site.server_close()


def test_allowed_custom_code_runs(open_server):
    server, _ = open_server
    with server.http(api_key=None) as http:
        answer = http.post("/run", json={"workflow": DYNAMIC, "inputs": {"x": 21}})
    assert answer.json()["outputs"] == [{"y": 42}]


def test_allowed_image_urls_and_files(open_server, image_site):
    server, images = open_server
    inputs = {
        "image": [
            {"type": "url", "value": f"{image_site}/astronaut.png"},
            {"type": "file", "value": str(images / "astronaut.png")},
        ]
    }
    with server.http(api_key=None) as http:
        answer = http.post("/run", json={"workflow": CROP, "inputs": inputs})
        assert answer.json()["outputs"] == [{"width": 256, "height": 128}] * 2
        outside = {"image": {"type": "file", "value": str(images / ".." / "server.log")}}
        refused = http.post("/run", json={"workflow": CROP, "inputs": outside})
        missing = {"image": {"type": "url", "value": f"{image_site}/missing.png"}}
        not_found = http.post("/run", json={"workflow": CROP, "inputs": missing})
    assert (refused.status_code, refused.json()["error"]["code"]) == (
        403,
        "input_source_not_allowed",
    )
    assert not_found.status_code == 422
    assert "404" in not_found.json()["error"]["message"]
