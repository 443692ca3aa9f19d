"""Ray, when it is used: imported here on demand, and a connection to a cluster.

Ray is an optional extra: nothing imports this module's Ray until a ``--ray`` path calls
``require_ray`` or ``connect``, so ``import visionflow`` never pays for it.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

from visionflow.errors import ClusterUnreachableError, RayNotInstalledError

# How long the head's port may take to answer before the cluster counts as unreachable:
# ray.init itself retries a missing or wrong cluster for minutes.
PROBE_TIMEOUT_S = 5.0


def require_ray() -> ModuleType:
    """The ``ray`` module; ``RayNotInstalledError`` (naming the extra) when it is missing."""
    try:
        import ray
    except ImportError:
        raise RayNotInstalledError(
            "running on Ray needs the 'ray' package, which is not installed",
            place="--ray",
            hint="pip install 'visionflow[ray]'",
        ) from None
    return ray


def forwarded_environment() -> dict[str, str]:
    """The variables of this process that change what visionflow does (``VISIONFLOW_*``:
    plugins, model folders, the outbound-sink and custom-code switches, keys; Roboflow's
    ``WORKFLOWS_PLUGINS``), for the actors and replicas to run as this process would. The
    cluster is the user's own: its processes get the same keys a local run reads."""
    return {
        name: value
        for name, value in os.environ.items()
        if name.startswith("VISIONFLOW_") or name == "WORKFLOWS_PLUGINS"
    }


def keep_local_ray_on_loopback() -> None:
    """Before Ray is imported: a Ray started here (``--ray`` without an address) then
    takes 127.0.0.1 and listens there only, not on the machine's network address, where
    anyone reaching its ports could run code. No effect on joining a cluster, nor once
    Ray is imported (it reads the variable then), nor if the variable is set already."""
    if "ray" not in sys.modules:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def connect(address: str | None) -> None:
    """Connect this process to Ray: the connection it has, if any; a Ray started here
    when ``address`` is None; else the cluster at ``address`` (``host:port`` of its head,
    ``ray://host:port``, or ``auto``), refused within seconds when nothing answers there.

    >>> connect("127.0.0.1:6379")  # doctest: +SKIP
    """
    if address is None:
        keep_local_ray_on_loopback()
    ray = require_ray()
    if ray.is_initialized():
        return
    if address is None:
        # a Ray for this command alone: no dashboard port opened unasked; the actors' own
        # log lines would break into the progress bar (their failures still arrive as errors)
        # "local": a new Ray, never the last one `ray start` left on this machine, which
        # Ray's own default would join (say `--ray auto` for that)
        ray.init(address="local", include_dashboard=False, log_to_driver=False)
        return
    endpoint = _endpoint(address)
    if endpoint is not None and (why := _answers_grpc(*endpoint)) is not None:
        raise _unreachable(address, why)
    try:
        ray.init(address=address, log_to_driver=False)
    except (ConnectionError, ValueError) as error:  # "auto" finding no cluster, a head gone
        # meanwhile; an address Ray cannot parse ("head" without its port)
        raise _unreachable(address, " ".join(str(error).split())[:300]) from None


def absolute_model_maps(pairs: Iterable[str]) -> tuple[str, ...]:
    """``--model ID=PATH`` mappings with absolute paths: Ray's workers, which map them
    again, run in a folder of Ray's, not this process's."""
    return tuple(_absolute_map(pair) for pair in pairs)


def _absolute_map(pair: str) -> str:
    model_id, _, path = pair.partition("=")
    return f"{model_id}={Path(path.strip()).expanduser().resolve()}" if path.strip() else pair


def _endpoint(address: str) -> tuple[str, int] | None:
    """(host, port) to probe, or None for addresses Ray resolves itself (``auto``)."""
    bare = address.removeprefix("ray://")
    host, _, port = bare.rpartition(":")
    if not host or not port.isdecimal():
        return None
    return host.strip("[]"), int(port)


def _answers_grpc(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be a Ray head, or None if it speaks gRPC (HTTP/2) as one
    does. ray.init on a port where something else listens waits for many minutes, so a
    server that does not answer HTTP/2's opening with its own settings is refused here."""
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S) as channel:
            if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
                return None  # a TLS handshake first: Ray's own connection will tell
            channel.sendall(_HTTP2_PREFACE + _HTTP2_SETTINGS)
            header = b""
            while len(header) < 9 and (chunk := channel.recv(9 - len(header))):
                header += chunk
    except TimeoutError:
        return f"nothing answered within {PROBE_TIMEOUT_S:g} s"
    except OSError as error:
        return f"nothing accepts connections there ({error.strerror or error})"
    if len(header) < 9 or header[3] != _SETTINGS_FRAME:
        return "what listens there is not a Ray head (it does not speak gRPC)"
    return None


# HTTP/2's client connection preface and an empty SETTINGS frame; a gRPC server answers
# with a SETTINGS frame of its own (frame type 4 in the 9-byte frame header).
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_HTTP2_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
_SETTINGS_FRAME = 4


def _unreachable(address: str, why: str) -> ClusterUnreachableError:
    port = address.rpartition(":")[2] if address.rpartition(":")[2].isdecimal() else "6379"
    return ClusterUnreachableError(
        f"no Ray cluster answers at '{address}': {why}",
        place=address,
        hint=f"start one there with `ray start --head --port={port}` (or check the address "
        "and that this machine may reach it), or leave the address out to run Ray locally",
    )
