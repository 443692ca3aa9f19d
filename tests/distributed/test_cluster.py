"""Ray as an optional extra, the connection to a cluster, a second node joining it, and
how a workflow's performance properties become its Ray scaling."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from listeners import (
    cluster_processes,
    listeners_by_process,
    listening_beyond_loopback,
    process_name,
    processes,
)

from onnx_models import channel_means
from visionflow import Workflow
from visionflow.distributed import RayScaling, connect, scaling_of
from visionflow.errors import RayScalingError

ray = pytest.importorskip("ray", reason="the distributed tests need the 'ray' extra")
NodeAffinitySchedulingStrategy = ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy


def run_python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``code`` in a new interpreter (no Ray connection, nothing imported yet)."""
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- Ray stays optional -----------------------------------------------------------------


def test_importing_visionflow_and_its_distributed_package_never_imports_ray():
    found = run_python(
        "import sys, visionflow, visionflow.distributed, visionflow.cli\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'ray'))"
    )
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == "[]"


def test_without_ray_the_error_names_the_extra_to_install():
    # sys.modules['ray'] = None makes `import ray` fail as if Ray were not installed
    found = run_python(
        "import json, sys\n"
        "sys.modules['ray'] = None\n"
        "from visionflow.distributed import require_ray\n"
        "from visionflow.errors import WorkflowError\n"
        "try:\n"
        "    require_ray()\n"
        "except WorkflowError as error:\n"
        "    print(json.dumps(error.to_dict()))\n"
    )
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout) == {
        "code": "ray_not_installed",
        "place": "--ray",
        "message": "running on Ray needs the 'ray' package, which is not installed",
        "hint": "pip install 'visionflow[ray]'",
    }


# --- connecting -------------------------------------------------------------------------

CONNECT = (
    "import json, sys\n"
    "from visionflow.distributed import connect\n"
    "from visionflow.errors import WorkflowError\n"
    "try:\n"
    "    connect(sys.argv[1])\n"
    "except WorkflowError as error:\n"
    "    print(json.dumps(error.to_dict()))\n"
    "else:\n"
    "    import ray\n"
    "    print(json.dumps({'nodes': len([n for n in ray.nodes() if n['Alive']])}))\n"
)


def connect_in_new_process(address: str, env: dict[str, str]) -> dict:
    found = subprocess.run(
        [sys.executable, "-c", CONNECT, address],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    return json.loads(found.stdout.strip().splitlines()[-1])


def test_a_ray_started_here_is_new_and_listens_on_loopback_only(ray_cluster):
    # as a user's shell would be: no loopback switch set, a cluster already running here
    env = {k: v for k, v in ray_cluster.env.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}
    found = run_python(
        "import json, sys\n"
        "from visionflow.distributed import connect\n"
        "connect(None)\n"
        "import ray\n"
        "context = ray.get_runtime_context()\n"
        "print(json.dumps([ray.util.get_node_ip_address(), context.gcs_address]))\n",
        env,
    )
    node_address, gcs_address = json.loads(found.stdout.strip().splitlines()[-1])
    assert node_address == "127.0.0.1"
    assert gcs_address.startswith("127.0.0.1:") and gcs_address != ray_cluster.address


def test_connect_to_an_address_where_nothing_listens_is_refused_naming_it(ray_cluster):
    address = f"127.0.0.1:{free_port()}"
    error = connect_in_new_process(address, ray_cluster.env)
    assert error["code"] == "ray_cluster_unreachable"
    assert error["place"] == address
    assert error["message"].startswith(
        f"no Ray cluster answers at '{address}': nothing accepts connections there"
    )
    assert error["hint"].startswith(
        f"start one there with `ray start --head --port={address[10:]}`"
    )


def test_connect_to_a_port_where_something_else_listens_is_refused_too(ray_cluster):
    # ray.init itself would wait for many minutes on a server that is not a Ray head
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        address = f"127.0.0.1:{server.getsockname()[1]}"
        answering = threading.Thread(target=answer_http_once, args=(server,), daemon=True)
        answering.start()
        error = connect_in_new_process(address, ray_cluster.env)
    assert (error["code"], error["place"]) == ("ray_cluster_unreachable", address)
    assert error["message"] == (
        f"no Ray cluster answers at '{address}': what listens there is not a Ray head "
        "(it does not speak gRPC)"
    )


def answer_http_once(server: socket.socket) -> None:
    client, _ = server.accept()
    with client:
        client.recv(1024)
        client.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


def test_connect_to_an_address_ray_cannot_read_is_refused_naming_it(ray_cluster):
    # a head named without its port: Ray's own ValueError, not a traceback
    error = connect_in_new_process("head-host", ray_cluster.env)
    assert (error["code"], error["place"]) == ("ray_cluster_unreachable", "head-host")
    assert error["message"] == (
        "no Ray cluster answers at 'head-host': Invalid address format: head-host"
    )


def test_connect_joins_a_running_cluster_at_its_address(ray_cluster):
    assert connect_in_new_process(ray_cluster.address, ray_cluster.env)["nodes"] >= 1


def test_connect_keeps_the_connection_this_process_has(ray_cluster):
    connect(f"127.0.0.1:{free_port()}")  # connected already: no new connection is tried
    assert ray.is_initialized()


# --- a second node ----------------------------------------------------------------------


@ray.remote(num_cpus=1)
def where_am_i() -> tuple[str, int]:
    return ray.get_runtime_context().get_node_id(), os.getpid()


@ray.remote(num_cpus=1)
def pixels() -> np.ndarray:
    return np.arange(1_000_000, dtype=np.int64)  # 8 MB: kept in its node's object store


@ray.remote(num_cpus=1)
def total(values: np.ndarray) -> tuple[str, int]:
    return ray.get_runtime_context().get_node_id(), int(values.sum())


def on(node_id: str) -> NodeAffinitySchedulingStrategy:
    return NodeAffinitySchedulingStrategy(node_id, soft=False)


def test_a_node_joined_with_ray_start_runs_work_in_its_own_processes(ray_cluster, second_node):
    head = ray.get_runtime_context().get_node_id()
    assert second_node != head
    assert second_node in ray_cluster.nodes
    (head_node, head_pid), (joined_node, joined_pid) = ray.get(
        [where_am_i.options(scheduling_strategy=on(node)).remote() for node in (head, second_node)]
    )
    assert (head_node, joined_node) == (head, second_node)
    assert len({head_pid, joined_pid, os.getpid()}) == 3


def test_values_made_on_one_node_are_read_on_the_other(ray_cluster, second_node):
    head = ray.get_runtime_context().get_node_id()
    made = pixels.options(scheduling_strategy=on(second_node)).remote()
    node, summed = ray.get(total.options(scheduling_strategy=on(head)).remote(made))
    assert (node, summed) == (head, 499_999_500_000)


def test_every_node_of_the_cluster_listens_on_loopback_only(ray_cluster, second_node):
    daemons = {pid for pid, command in processes().items() if str(ray_cluster.temp_dir) in command}
    listening = listeners_by_process()
    raylets = [pid for pid in daemons if process_name(pid) == "raylet"]
    assert len(raylets) == 1 + len(ray_cluster.nodes)  # the head's and each joined node's
    assert all(listening.get(pid) for pid in raylets)
    assert listening_beyond_loopback(cluster_processes(ray_cluster.temp_dir)) == set()


# --- scaling from performance properties ------------------------------------------------


@pytest.fixture(scope="module")
def means_model(tmp_path_factory) -> Path:
    return channel_means(tmp_path_factory.mktemp("models") / "means.onnx")


def model_entry(path: Path, **performance) -> dict:
    preprocessing = {"size": [32, 32], "color": "bgr", "scale": 1.0}
    return {"source": str(path), "task": "raw", "preprocessing": preprocessing, **performance}


def model_workflow(models: dict[str, dict], settings: dict | None = None) -> dict:
    """One ModelInference step per model (and a second step on the first model)."""
    steps = [
        {"type": "ModelInference", "name": f"run_{name}", "images": "$inputs.image", "model": name}
        for name in [*models, next(iter(models))]
    ]
    steps[-1]["name"] = "again"
    return {
        "inputs": [{"type": "image", "name": "image"}],
        "models": models,
        "settings": settings or {},
        "steps": steps,
        "outputs": [{"type": "JsonField", "name": "out", "selector": "$steps.again.outputs"}],
    }


@pytest.fixture(scope="module")
def two_models(means_model) -> Workflow:
    return Workflow.compile(
        model_workflow({
            "small": model_entry(means_model, max_workers=3, batch_size=4, max_batch_delay_ms=20),
            "wide": model_entry(means_model, min_workers=2, max_workers=2, batch_size=16,
                                max_batch_delay_ms=5, intra_op_threads=2),
        })
    )  # fmt: skip


def test_a_workflow_scales_to_the_largest_figure_any_of_its_models_asks_for(two_models):
    assert scaling_of(two_models) == RayScaling(
        min_actors=2, max_actors=3, batch_size=16, max_batch_delay_s=0.02, num_cpus=2.0
    )


def test_workflow_wide_settings_reach_its_models_scaling(means_model):
    workflow = Workflow.compile(
        model_workflow({"m": model_entry(means_model)}, settings={"batchSize": 8, "maxWorkers": 4})
    )
    assert scaling_of(workflow) == RayScaling(
        min_actors=1, max_actors=4, batch_size=8, max_batch_delay_s=0.0, num_cpus=1.0
    )


def test_a_workflow_without_models_runs_on_one_actor_in_batches_of_eight():
    workflow = Workflow.compile({
        "inputs": [{"type": "parameter", "name": "x"}],
        "outputs": [{"type": "JsonField", "name": "x", "selector": "$inputs.x"}],
    })  # fmt: skip
    assert scaling_of(workflow) == RayScaling(
        min_actors=1, max_actors=1, batch_size=8, max_batch_delay_s=0.0, num_cpus=1.0
    )


def test_overrides_replace_figures_and_none_keeps_the_workflows(two_models):
    assert scaling_of(two_models, batch_size=2, num_cpus=0.5, max_batch_delay_s=None) == (
        RayScaling(min_actors=2, max_actors=3, batch_size=2, max_batch_delay_s=0.02, num_cpus=0.5)
    )


def test_overriding_one_end_of_the_actor_range_moves_the_other_if_it_must(two_models):
    fewer, more = scaling_of(two_models, max_actors=1), scaling_of(two_models, min_actors=5)
    assert (fewer.min_actors, fewer.max_actors) == (1, 1)
    assert (more.min_actors, more.max_actors) == (5, 5)


def test_an_actor_range_given_the_wrong_way_round_is_an_error(two_models):
    with pytest.raises(RayScalingError) as caught:
        scaling_of(two_models, min_actors=4, max_actors=2)
    assert (caught.value.code, caught.value.place) == ("invalid_ray_scaling", "min_actors")
    assert caught.value.message == "at least 4 actors cannot be at most 2"


def test_figures_out_of_range_are_errors_naming_the_figure(two_models):
    with pytest.raises(RayScalingError, match="batch size must be at least 1, found 0") as caught:
        scaling_of(two_models, batch_size=0)
    assert caught.value.place == "batch_size"
    with pytest.raises(RayScalingError, match="num cpus cannot be negative, found -1"):
        scaling_of(two_models, num_cpus=-1)


def test_the_commands_errors_in_figures_name_their_flags(two_models):
    from visionflow.distributed.datasets import RayPredictions
    from visionflow.distributed.serving import ServeOptions

    cases = [
        (RayPredictions(min_actors=4, max_actors=2), "--actors"),
        (RayPredictions(batch_size=0), "--batch-size"),
        (RayPredictions(actor_cpus=-1), "--actor-cpus"),
        (ServeOptions(min_replicas=4, max_replicas=2), "--min-replicas"),
        (ServeOptions(max_batch_delay_s=-0.5), "--replica-batch-delay-ms"),
    ]
    for options, flag in cases:
        with pytest.raises(RayScalingError) as caught:
            options.scaling(two_models)
        assert caught.value.place == flag
