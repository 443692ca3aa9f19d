"""``visionflow serve --ray``: the server's HTTP API from Ray Serve on a real local cluster.

Every answer is compared with the local server's (the same app in this process, same
settings): runs inline, registered and uploaded, errors, the API key. Batching is seen in a
block's own output (the size of the batch it was given), a replica's death in a block that
ends its process the first time it runs. Serve starts once for the module (after the
command-line test, which starts and stops its own).
"""

from __future__ import annotations

import base64
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from listeners import cluster_processes, listening_beyond_loopback, process_name

from visionflow.distributed import serving
from visionflow.distributed.serving import ServeOptions
from visionflow.server import ServerSettings, create_app

API_KEY = "serve-test-key"
VISIONFLOW = str(Path(sys.executable).with_name("visionflow"))

LIGHT = {
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
        {"type": "PropertyDefinition", "name": "w", "data": "$steps.crop.crops",
         "property": "width"},
        {"type": "PropertyDefinition", "name": "h", "data": "$steps.crop.crops",
         "property": "height"},
    ],
    "outputs": [
        {"type": "JsonField", "name": "width", "selector": "$steps.w.output"},
        {"type": "JsonField", "name": "height", "selector": "$steps.h.output"},
    ],
}  # fmt: skip


def dynamic_document(block_type: str, run: str, inputs: dict, outputs: dict, **more) -> dict:
    """A Roboflow dynamic block (its Python travels inside the document) and one step of it
    on ``$inputs.image`` and the string parameter ``tag``; outputs its values and ``tag``."""
    fields = {"image": {"type": "DynamicInputDefinition", "selector_types": ["input_image"]}}
    for name in inputs:
        fields[name] = {
            "type": "DynamicInputDefinition",
            "selector_types": ["input_parameter"],
            "value_types": ["string"],
        }
    block = {
        "type": "DynamicBlockDefinition",
        "manifest": {
            "type": "ManifestDescription",
            "block_type": block_type,
            "inputs": fields,
            "outputs": {
                name: {"type": "DynamicOutputDefinition", "kind": [kind]}
                for name, kind in outputs.items()
            },
            **more,
        },
        "code": {"type": "PythonCode", "run_function_code": run, "imports": ["import os"]},
    }
    return {
        "version": "1.0",
        "inputs": [
            {"type": "WorkflowImage", "name": "image"},
            *({"type": "WorkflowParameter", "name": name} for name in inputs),
        ],
        "dynamic_blocks_definitions": [block],
        "steps": [
            {"type": block_type, "name": "b", "image": "$inputs.image", **inputs},
        ],
        "outputs": [
            *(
                {"type": "JsonField", "name": name, "selector": f"$steps.b.{name}"}
                for name in outputs
            ),
            {"type": "JsonField", "name": "tag", "selector": "$inputs.tag"},
        ],
    }


# The size of the batch its run was given, and each image's width: merged requests show it.
BATCH_SIZE = dynamic_document(
    "BatchSize",
    "def run(self, image, tag):\n"
    "    return [{'size': len(image), 'width': int(i.numpy_image.shape[1])} for i in image]\n",
    inputs={"tag": "$inputs.tag"},
    outputs={"size": "integer", "width": "integer"},
    accepts_batch_input=True,
)
# Ends its replica's process the first time it runs (the marker file says it did), then
# answers with the process id of the replica that ran it.
DIES_ONCE = dynamic_document(
    "DiesOnce",
    "def run(self, image, tag):\n"
    "    if not os.path.exists(tag):\n"
    "        with open(tag, 'w') as marker:\n"
    "            marker.write(str(os.getpid()))\n"
    "        os._exit(1)\n"
    "    return {'pid': os.getpid()}\n",
    inputs={"tag": "$inputs.tag"},
    outputs={"pid": "integer"},
)
FAILS = dynamic_document(
    "Fails",
    "def run(self, image, tag):\n    raise ValueError(f'cannot handle {tag}')\n",
    inputs={"tag": "$inputs.tag"},
    outputs={"x": "integer"},
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def png(pixels: np.ndarray) -> bytes:
    return cv2.imencode(".png", pixels)[1].tobytes()


def b64(pixels: np.ndarray) -> str:
    return base64.b64encode(png(pixels)).decode("ascii")


def wait_until_healthy(url: str, seconds: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            pytest.fail(f"the server ended: {process.communicate()}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer /health within {seconds} s")


# --- the command line (first: it starts and stops Serve itself) ----------------------------


def test_serve_ray_from_the_command_line_answers_then_stops_cleanly(
    ray_cluster, tmp_path, astronaut
):
    port = free_port()
    (tmp_path / "workflows" / "light").mkdir(parents=True)
    (tmp_path / "workflows" / "light" / "1.json").write_text(json.dumps(LIGHT))
    # a folder relative to this command's, which Ray's workers do not share
    process = subprocess.Popen(
        [VISIONFLOW, "serve", "--ray", ray_cluster.address, "--port", str(port),
         "--replica-cpus", "0.25", "--workflows", "workflows"],
        env=ray_cluster.env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, 180, process)
        from visionflow import __version__

        assert httpx.get(f"{url}/health").json() == {"status": "ok", "version": __version__}
        listed = httpx.get(f"{url}/workflows").json()["workflows"]
        assert [item["name"] for item in listed] == ["light"]
        body = {"name": "light", "inputs": {"image": b64(astronaut)}}
        ran = httpx.post(f"{url}/run", json=body, timeout=120)
        assert (ran.status_code, ran.json()["outputs"]) == (200, [{"width": 256, "height": 128}])
        assert process.stdout is not None
        said = process.stdout.readline()  # once every deployment is up
        assert said == f"visionflow serving on {url} from Ray Serve (Ctrl-C stops it)\n"
        process.send_signal(signal.SIGINT)
        assert process.wait(120) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    with socket.socket() as probe, pytest.raises(OSError):  # Serve's proxy is gone
        probe.connect(("127.0.0.1", port))


def test_serve_ray_names_the_address_of_a_cluster_it_cannot_reach(ray_cluster):
    nowhere = f"127.0.0.1:{free_port()}"
    done = subprocess.run(
        [VISIONFLOW, "serve", "--ray", nowhere, "--port", str(free_port())],
        env=ray_cluster.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert f"error [ray_cluster_unreachable] at {nowhere}" in done.stderr
    assert f"no Ray cluster answers at '{nowhere}'" in done.stderr


# --- Serve started from this process: answers beside the local server's -------------------


@dataclass
class Served:
    ray: httpx.Client
    local: TestClient
    url: str

    def both(self, method: str, path: str, key: str | None = API_KEY, **request: Any) -> Any:
        """The same request to Ray Serve and to the local server: (status, JSON) of each."""
        headers = {"X-API-Key": key} if key is not None else {}
        answers = [
            client.request(method, path, headers=headers, **request)
            for client in (self.ray, self.local)
        ]
        return tuple((answer.status_code, answer.json()) for answer in answers)


@pytest.fixture(scope="module")
def served(ray_cluster, tmp_path_factory) -> Iterator[Served]:
    workflows = tmp_path_factory.mktemp("workflows")
    (workflows / "light").mkdir()
    (workflows / "light" / "1.json").write_text(json.dumps(LIGHT))
    settings = ServerSettings(
        port=free_port(), workflows_dir=workflows, api_key=API_KEY, allow_custom_code=True
    )
    # small replicas (the test cluster has 2 CPUs); batches of up to 4 requests that wait
    # a moment for each other, so that concurrent requests meet
    options = ServeOptions(replica_cpus=0.25, batch_size=4, max_batch_delay_s=0.5)
    url = serving.start(settings, ray_cluster.address, options)
    try:
        with (
            httpx.Client(base_url=url, timeout=120) as ray_client,
            TestClient(create_app(settings)) as local,
        ):
            wait_until_healthy(url, 60)
            yield Served(ray_client, local, url)
    finally:
        serving.stop()


def test_an_inline_run_answers_as_the_local_server(served, astronaut, coffee):
    body = {"workflow": LIGHT, "inputs": {"image": [b64(astronaut), b64(coffee)], "ratio": 0.2}}
    on_ray, local = served.both("POST", "/run", json=body)
    assert on_ray == local
    expected = [{"width": 102, "height": 128}, {"width": 120, "height": 100}]
    assert on_ray == (200, {"outputs": expected, "workflow": None})


def test_a_registered_run_answers_as_the_local_server(served, astronaut):
    body = {"name": "light", "inputs": {"image": b64(astronaut)}}
    on_ray, local = served.both("POST", "/run", json=body)
    assert on_ray == local
    assert on_ray == (200, {"outputs": [{"width": 256, "height": 128}],
                            "workflow": {"name": "light", "version": 1}})  # fmt: skip


def test_an_upload_answers_as_the_local_server(served, astronaut, coffee):
    form = {"request": json.dumps({"name": "light", "inputs": {"ratio": 0.25}})}
    files = [("image", ("a.png", png(astronaut))), ("image", ("c.png", png(coffee)))]
    on_ray, local = served.both("POST", "/run/upload", data=form, files=files)
    assert on_ray == local
    assert on_ray[1]["outputs"] == [{"width": 128, "height": 128}, {"width": 150, "height": 100}]


def test_a_refused_request_has_the_local_servers_error(served):
    body = {"name": "light", "inputs": {"image": "not base64 at all!"}}
    on_ray, local = served.both("POST", "/run", json=body)
    assert on_ray == local
    assert on_ray[0] == 422 and on_ray[1]["error"]["code"] == "invalid_runtime_input"


def test_a_step_failing_in_a_replica_has_the_local_servers_error(served, astronaut):
    body = {"workflow": FAILS, "inputs": {"image": b64(astronaut), "tag": "this"}}
    on_ray, local = served.both("POST", "/run", json=body)
    assert on_ray == local
    assert on_ray[0] == 422
    assert on_ray[1]["error"]["code"] == "step_execution_error"
    assert "ValueError: cannot handle this" in on_ray[1]["error"]["message"]


def test_the_api_key_is_asked_for_as_locally(served):
    for key in (None, "wrong"):
        on_ray, local = served.both("GET", "/workflows", key=key)
        assert on_ray == local
        assert on_ray[0] == 401 and on_ray[1]["error"]["code"] == "invalid_api_key"
    on_ray, local = served.both("GET", "/workflows")
    assert on_ray == local
    assert on_ray[0] == 200 and [item["name"] for item in on_ray[1]["workflows"]] == ["light"]


def test_concurrent_requests_with_the_same_parameters_run_as_one_batch(served, astronaut):
    widths = [40, 50, 60, 70]
    images = [cv2.resize(astronaut, (width, 30)) for width in widths]

    def one(image: np.ndarray, tag: str) -> dict:
        body = {"workflow": BATCH_SIZE, "inputs": {"image": b64(image), "tag": tag}}
        answer = served.ray.post("/run", json=body, headers={"X-API-Key": API_KEY})
        assert answer.status_code == 200, answer.text
        [output] = answer.json()["outputs"]
        return output

    with ThreadPoolExecutor(4) as pool:
        same = list(pool.map(one, images, ["same"] * 4))
        apart = list(pool.map(one, images, ["a", "b", "c", "d"]))
    # each request gets its own element back, whatever it was run with
    assert [output["width"] for output in same] == widths
    assert [output["tag"] for output in apart] == ["a", "b", "c", "d"]
    sizes = [output["size"] for output in same]
    assert max(sizes) > 1, sizes  # merged: a run saw several requests' images
    assert all(sizes.count(size) % size == 0 for size in sizes)  # runs of whole requests
    assert [output["size"] for output in apart] == [1, 1, 1, 1]  # other parameters: apart


def test_a_replica_that_dies_mid_run_is_replaced_and_the_run_retried(served, astronaut, tmp_path):
    marker = tmp_path / "died"
    body = {"workflow": DIES_ONCE, "inputs": {"image": b64(astronaut), "tag": str(marker)}}
    answer = served.ray.post("/run", json=body, headers={"X-API-Key": API_KEY})
    assert answer.status_code == 200, answer.text
    [output] = answer.json()["outputs"]
    assert output == {"pid": output["pid"], "tag": str(marker)}
    assert output["pid"] != int(marker.read_text())  # another replica's process answered


def test_the_replicas_listen_on_loopback_only(served, ray_cluster):
    # Serve starts each replica's server for calls between deployments on every interface;
    # on a loopback node visionflow's deployments keep it on 127.0.0.1
    names = {process_name(pid) for pid in cluster_processes(ray_cluster.temp_dir)}
    assert any(name.startswith("ray::ServeRepl") for name in names), names
    assert listening_beyond_loopback(cluster_processes(ray_cluster.temp_dir)) == set()


def test_each_registered_workflow_has_its_own_deployment(served):
    from ray import serve

    deployments = serve.status().applications[serving.APP_NAME].deployments
    assert sorted(deployments) == ["ingress", "inline-documents", "workflow-light"]


def test_metrics_count_the_runs_as_locally(served, astronaut):
    def light_runs() -> float:
        text = served.ray.get("/metrics", headers={"X-API-Key": API_KEY}).text
        counted = 'visionflow_runs_total{outcome="ok",workflow="light"} '
        return sum(
            float(line.split()[-1]) for line in text.splitlines() if line.startswith(counted)
        )

    before = light_runs()
    body = {"name": "light", "inputs": {"image": b64(astronaut)}}
    assert served.ray.post("/run", json=body, headers={"X-API-Key": API_KEY}).status_code == 200
    assert light_runs() == before + 1


def test_serve_ray_without_ray_installed_names_the_extra(tmp_path):
    # `import ray` fails in this interpreter as it does where the extra is not installed
    script = (
        "import sys; sys.modules['ray'] = None\n"
        "from visionflow.cli import main\n"
        "sys.argv = ['visionflow', 'serve', '--ray']\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 1
    assert "error [ray_not_installed] at --ray" in done.stderr
    assert "pip install 'visionflow[ray]'" in done.stderr
