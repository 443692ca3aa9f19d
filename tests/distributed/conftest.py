"""A real Ray cluster on 127.0.0.1 for the distributed tests: one per test session.

Ray binds to the machine's network address and starts a usage-stats reporter unless told
otherwise (../shared/MACHINE-NOTES.md): the cluster's processes get a HOME of their own
holding a local-provider bootstrap file, cluster mode off (loopback only) and stats off.
The head is started with ``ray start --head`` (as a user starts one) and the test process
connects to it as a driver; ``ray_cluster.add_node()`` (or the ``second_node`` fixture)
joins another node with ``ray start --address``, so work crosses processes as on a real
cluster. Every process of the cluster, and only those, is stopped when the session ends.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from listeners import parents as process_parents
from listeners import processes

# Read by Ray when it is imported: no cluster mode, so every process it starts, this
# driver included, takes 127.0.0.1 as its address. Set before Ray is first imported.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
ray = pytest.importorskip("ray", reason="the distributed tests need the 'ray' extra")

RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class RayCluster:
    address: str
    """127.0.0.1:port of the head: what ``--ray ADDRESS`` and ``connect`` take."""
    env: dict[str, str]
    """The environment its processes (and any ``visionflow`` subprocess) run with."""
    temp_dir: Path
    nodes: list[str] = field(default_factory=list)
    """Ids of the nodes ``add_node`` joined to the head, in order."""

    def add_node(self, num_cpus: int = 1) -> str:
        """Join one more node (its own raylet and workers) to the cluster as a user joins a
        machine, with ``ray start --address``; its id. It stays until the session ends.

        A node joins only in cluster mode, where Ray rewrites "127.0.0.1" and "localhost"
        into the machine's network address, and would listen there and on every interface.
        "LOCALHOST" is the same name to the resolver (case-insensitive) but not to Ray's
        rewrite, and a node's address is the one it reaches the head from: 127.0.0.1, on
        which its raylet then listens alone, as the head's does.
        """
        before = _alive_nodes()
        port = self.address.rpartition(":")[2]
        joined = subprocess.run(
            [
                RAY, "start", f"--address=LOCALHOST:{port}", f"--num-cpus={num_cpus}",
                f"--temp-dir={self.temp_dir}", "--disable-usage-stats",
            ],
            env={**self.env, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1"},
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        if joined.returncode:
            pytest.fail(f"ray start --address failed:\n{joined.stdout}\n{joined.stderr}")
        deadline = time.monotonic() + 60
        while not (new := _alive_nodes().keys() - before.keys()):
            if time.monotonic() > deadline:
                pytest.fail("the node started by ray start --address never joined the head")
            time.sleep(0.5)
        (node_id,) = new
        address = _alive_nodes()[node_id]
        if address != "127.0.0.1":  # never leave a node listening beyond loopback
            _stop_processes_of(self.temp_dir)
            pytest.fail(f"the joined node took the address {address}, not 127.0.0.1")
        self.nodes.append(node_id)
        return node_id


def _alive_nodes() -> dict[str, str]:
    """Node id -> the address its raylet listens on, for the nodes alive now."""
    return {node["NodeID"]: node["NodeManagerAddress"] for node in ray.nodes() if node["Alive"]}


def _loopback_environment(home: Path) -> dict[str, str]:
    (home / "ray_bootstrap_config.yaml").write_text("provider: {type: local}\n")
    return {
        **os.environ,
        "HOME": str(home),
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # no cluster mode: loopback addresses only
        "RAY_USAGE_STATS_ENABLED": "0",
    }


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    """A head node with 2 CPUs on 127.0.0.1; the test process is connected as a driver."""
    home = Path(tempfile.mkdtemp(prefix="vf-ray-home-"))
    temp_dir = Path(tempfile.mkdtemp(prefix="vf-ray-", dir="/tmp"))  # short: socket paths
    env = _loopback_environment(home)
    address = f"127.0.0.1:{_free_port()}"
    started = subprocess.run(
        [
            RAY, "start", "--head", "--node-ip-address=127.0.0.1",
            f"--port={address.split(':')[1]}", f"--temp-dir={temp_dir}", "--num-cpus=2",
            "--include-dashboard=false", "--disable-usage-stats",
        ],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if started.returncode:
        pytest.fail(f"ray start --head failed:\n{started.stdout}\n{started.stderr}")
    cluster = RayCluster(address, env, temp_dir)
    try:
        ray.init(address=address, log_to_driver=False)
        # Ray Data's usage thread asks a Prometheus on localhost:9090 (none here) now and
        # then, for the rest of the session, and logs each failure with its traceback at
        # DEBUG: into whatever later test captures logs (caplog) at that moment
        logging.getLogger("ray.data._internal.usage.util").setLevel(logging.INFO)
        yield cluster
    finally:
        ray.shutdown()
        _stop_processes_of(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


def _stop_processes_of(temp_dir: Path) -> None:
    """Stop this cluster's processes only: ``ray stop`` would stop every Ray on the machine,
    other test sessions' included. Ours name ``temp_dir`` on their command line; their
    children (workers, agents) are found by parent."""
    parents = process_parents()
    ours = {pid for pid, command in processes().items() if str(temp_dir) in command}
    pid = os.getpid()
    while pid > 1:  # never this process nor its ancestors
        ours.discard(pid)
        pid = parents.get(pid, 0)
    while grown := {pid for pid, parent in parents.items() if parent in ours} - ours:
        ours |= grown
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in ours:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(pid) for pid in ours):
            time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is left


@pytest.fixture(scope="session")
def second_node(ray_cluster: RayCluster) -> str:
    """The id of a second node joined to ``ray_cluster``, once per session, for the tests
    whose work must cross from node to node. Its 2 CPUs are the head's: actors of 2 CPUs
    each (``--actor-cpus 2``) take one node each."""
    return ray_cluster.nodes[0] if ray_cluster.nodes else ray_cluster.add_node(num_cpus=2)
