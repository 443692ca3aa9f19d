"""Requests per second of ``serve --ray`` beside ``serve``, for bench/ray.py.

The same light workflow (bench/server.py's: a crop and two properties of a 64x64 PNG) and
the same client (httpx threads on this machine, JSON ``POST /run``, bodies encoded once):
first a local ``visionflow serve`` process, then Ray Serve started from this process on
the Ray it is connected to (or a Ray started here), with the workflow's own scaling (no
models: one replica, batches of up to 8 requests, no wait). Serve is taken down after.

    from _ray_serve import serve_figures
    rows = serve_figures(quick=True)
"""

from __future__ import annotations

import base64
import json
import socket
import time
from typing import Any

import cv2
import httpx

from _report import Row, print_header, print_row
from server import LIGHT, _light_pixels, serving, timed

CLIENTS = (1, 16)


def serve_figures(quick: bool) -> list[Row]:
    """Rows: requests/s of each side at 1 and 16 clients, and ``--ray`` as a share of local."""
    from visionflow.distributed import serving as ray_serving
    from visionflow.server import ServerSettings

    requests = {1: 60, 16: 200} if quick else {1: 200, 16: 1000}
    print_header("Serving: `serve --ray` beside `serve` (light workflow, JSON /run)")
    body = _body()
    with serving() as local:
        local_rates = {n: _rate(local.url, body, n, requests[n]) for n in CLIENTS}
    settings = ServerSettings(port=_free_port(), access_log=False, log_level="warning")
    url = ray_serving.start(settings, None)
    try:
        _wait(url)
        ray_rates = {n: _rate(url, body, n, requests[n]) for n in CLIENTS}
    finally:
        ray_serving.stop()
    rows = []
    for clients in CLIENTS:
        here, there = local_rates[clients], ray_rates[clients]
        label = f"{clients} client{'s' if clients > 1 else ''}"
        rows.append(print_row(Row(f"serve, {label}", f"{here:.0f} req/s")))
        rows.append(
            print_row(
                Row(
                    f"serve --ray, {label}",
                    f"{there:.0f} req/s",
                    compare=f"{there / here:.0%} of serve",
                )
            )
        )
    return rows


def _body() -> bytes:
    png = cv2.imencode(".png", _light_pixels())[1].tobytes()
    image = base64.b64encode(png).decode("ascii")
    return json.dumps({"workflow": LIGHT, "inputs": {"image": image}}).encode()


def _rate(url: str, body: bytes, clients: int, requests: int) -> float:
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    headers = {"content-type": "application/json"}
    with httpx.Client(base_url=url, timeout=120, limits=limits) as http:
        answer = http.post("/run", content=body, headers=headers)
        if answer.status_code != 200:
            raise SystemExit(f"{url} answered {answer.status_code}: {answer.text[:300]}")

        def call() -> Any:
            return http.post("/run", content=body, headers=headers)

        return timed(call, clients, requests).rate


def _wait(url: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit(f"Ray Serve did not answer at {url} within {seconds} s")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
