"""What serving costs: requests/s and p50/p95 latency of a light and a model workflow through
a real ``visionflow serve`` on 127.0.0.1, beside the same workflow run in-process. Prints
figures, for information (no targets).

    .venv/bin/python bench/server.py            # the full run (about a minute on 2 cores)
    .venv/bin/python bench/server.py --quick    # a smoke run with fewer requests
    .venv/bin/python bench/server.py --only 2   # some figures only

Both sides start from the same PNG bytes and give JSON-ready results: the in-process side
calls ``workflow.run({"image": png_bytes}, serialize=True)`` from as many threads as the
server has clients; the server side also gets the PNG as base64 inside a JSON body, checks
it against its limits and answers over HTTP (the clients are Python threads with httpx on
the same machine, so they take CPU too).
``compare`` gives the server's throughput as a share of the in-process one and the p50
latency it adds: the serving overhead.

1. light workflow (a crop and two properties of a 64x64 PNG) at 1 and 16 clients;
2. model workflow (examples/face_emotion.yaml on skimage's astronaut) at 1 and 16 clients.
"""

from __future__ import annotations

import argparse
import base64
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import yaml

from _report import Row, print_header, print_row
from models import astronaut
from visionflow import Workflow

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
LIGHT = {
    "inputs": [{"type": "image", "name": "image"}],
    "steps": [
        {
            "type": "RelativeStaticCrop",
            "name": "crop",
            "images": "$inputs.image",
            "x_center": 0.5,
            "y_center": 0.5,
            "width": 0.5,
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


@dataclass(frozen=True)
class Settings:
    light: dict[int, int]  # clients -> requests
    model: dict[int, int]


FULL = Settings(light={1: 300, 16: 1000}, model={1: 60, 16: 200})
QUICK = Settings(light={1: 60, 16: 200}, model={1: 15, 16: 48})


@dataclass(frozen=True)
class Timing:
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, share: float) -> float:
        return float(np.percentile(self.latencies, share * 100)) * 1000


def timed(call: Callable[[], Any], clients: int, requests: int) -> Timing:
    """``requests`` calls from ``clients`` threads at once; each call's latency."""

    def one(_: int) -> float:
        start = time.perf_counter()
        call()
        return time.perf_counter() - start

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(min(requests, 2 * clients))))  # warm-up
        start = time.perf_counter()
        latencies = list(pool.map(one, range(requests)))
    return Timing(time.perf_counter() - start, latencies)


@contextmanager
def server() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "visionflow.server",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    process = subprocess.Popen(command)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def compare(name: str, workflow: Any, pixels: np.ndarray, counts: dict[int, int], url: str):
    """In-process, then the server with the PNG as base64 in JSON, then uploaded as a file."""
    compiled = Workflow.compile(workflow)
    png = cv2.imencode(".png", pixels)[1].tobytes()
    body = {"workflow": workflow, "inputs": {"image": base64.b64encode(png).decode("ascii")}}
    form = {"request": json.dumps({"workflow": workflow})}
    expected = _summary(compiled.run({"image": png}, serialize=True))
    rows = []
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    with httpx.Client(base_url=url, timeout=120, limits=limits) as http:
        sides: dict[str, Callable[[], Any]] = {
            "in-process": lambda: compiled.run({"image": png}, serialize=True),
            "server (JSON)": lambda: http.post("/run", json=body),
            "server (upload)": lambda: http.post(
                "/run/upload", data=form, files={"image": ("a.png", png)}
            ),
        }
        for label, call in list(sides.items())[1:]:
            answer = call()
            if answer.status_code != 200 or _summary(answer.json()["outputs"]) != expected:
                print(f"  WARNING: {name}, {label}: answered {answer.text[:200]}")
        for clients, requests in counts.items():
            here = None
            for label, call in sides.items():
                timing = timed(call, clients, requests)
                here = here or timing
                overhead = (
                    ""
                    if timing is here
                    else (
                        f"{timing.rate / here.rate:.0%} of in-process, "
                        f"+{timing.percentile(0.5) - here.percentile(0.5):.2f} ms p50; "
                    )
                )
                text = f"{name}, {clients} client{'s' if clients > 1 else ''}: {label}"
                rows.append(
                    print_row(
                        Row(text, f"{timing.rate:.0f} req/s", compare=overhead + _latency(timing))
                    )
                )
    return rows


def _latency(timing: Timing) -> str:
    return f"p50 {timing.percentile(0.5):.2f} ms, p95 {timing.percentile(0.95):.2f} ms"


def _summary(outputs: list[dict]) -> Any:
    if "emotions" in outputs[0]:
        return [[e["top"] for e in output["emotions"]] for output in outputs]
    return outputs


def figure_light(settings: Settings) -> list[Row]:
    print_header("[1] Light workflow (crop + 2 properties, 64x64 PNG): server vs in-process")
    pixels = np.ascontiguousarray(astronaut()[::8, ::8])
    with server() as url:
        return compare("light", LIGHT, pixels, settings.light, url)


def figure_model(settings: Settings) -> list[Row]:
    print_header("[2] Model workflow (face_emotion.yaml, 512x512 astronaut): server vs in-process")
    workflow = yaml.safe_load((EXAMPLES / "face_emotion.yaml").read_text())
    with server() as url:
        return compare("model", workflow, astronaut(), settings.model, url)


def main(argv: list[str] | None = None) -> None:
    """``--quick`` / ``--only`` as every bench; no "targets met" line: this one has none."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repeats (smoke run)")
    parser.add_argument("--only", default="", help="comma-separated figure numbers, e.g. 2")
    args = parser.parse_args(argv)
    figures = {1: figure_light, 2: figure_model}
    started = time.perf_counter()
    for number in [int(n) for n in args.only.split(",") if n.strip()] or list(figures):
        figures[number](QUICK if args.quick else FULL)
    print(f"\n({time.perf_counter() - started:.0f} s, Python {sys.version.split()[0]})")


if __name__ == "__main__":
    main()
