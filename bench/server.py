"""What serving costs: a real ``visionflow serve`` on 127.0.0.1 beside the same workflow run
in-process, and whether the server holds a load without errors or growing.

    .venv/bin/python bench/server.py            # the full run (about 30 s on 2 cores)
    .venv/bin/python bench/server.py --quick    # a smoke run with fewer requests
    .venv/bin/python bench/server.py --only 1,3 # some figures only (1 and 3 have targets)

Both sides start from the same PNG bytes and give JSON-ready results: the in-process side
calls ``workflow.run({"image": png_bytes}, serialize=True)``; the server side gets the PNG
as base64 inside a JSON body (``POST /run``) or uploaded as a file (``POST /run/upload``),
checks it against its limits and answers over HTTP. The clients are Python threads with
httpx on the same machine (bodies encoded once, answers not parsed while timed), so they
take CPU from the server: the overhead shown is an upper bound.

1. light workflow (a crop and two properties of a 64x64 PNG), one client: the server's own
   cost per request (p50 over HTTP minus p50 in-process; target <= 2 ms), and 16 clients;
2. model workflow (examples/face_emotion.yaml on skimage's astronaut) at 1 and 16 clients;
3. load: 2,000 light requests from 16 clients at once (JSON and upload in turn): errors
   (target 0) and the server's resident memory before and after (target within 10 %).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import statistics
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

from _report import Row, print_header, print_row, run_figures
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
OVERHEAD_TARGET_MS = 2.0
RSS_TARGET = 0.10


@dataclass(frozen=True)
class Settings:
    rounds: int  # figure 1: samples of each side, taken in turn
    per_round: int  # requests in one sample, one client
    light_16: int  # figure 1: requests at 16 clients
    model: dict[int, int]  # figure 2: clients -> requests
    load: int  # figure 3: requests at 16 clients


FULL = Settings(rounds=7, per_round=150, light_16=1000, model={1: 60, 16: 200}, load=2000)
QUICK = Settings(rounds=3, per_round=60, light_16=200, model={1: 15, 16: 48}, load=400)


@dataclass(frozen=True)
class Timing:
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, share: float) -> float:
        return float(np.percentile(self.latencies, share * 100)) * 1000


@dataclass(frozen=True)
class Server:
    url: str
    pid: int

    def rss_mib(self) -> float:
        """Resident memory of the server process, from /proc."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Requests:
    """One workflow's calls: in-process, and to the server as JSON and as an upload."""

    sides: dict[str, Callable[[], Any]]
    check: Callable[[Any], bool]  # is this server answer right?


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
def serving() -> Iterator[Server]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "visionflow.server", "--port", str(port)]
    process = subprocess.Popen([*command, "--log-level", "warning", "--no-access-log"])
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
        yield Server(url, process.pid)
    finally:
        process.terminate()
        process.wait(10)


@contextmanager
def requests_for(workflow: Any, pixels: np.ndarray, url: str) -> Iterator[Requests]:
    """The three sides, checked once; request bodies are encoded here, once."""
    compiled = Workflow.compile(workflow)
    png = cv2.imencode(".png", pixels)[1].tobytes()
    body = {"workflow": workflow, "inputs": {"image": base64.b64encode(png).decode("ascii")}}
    content, headers = json.dumps(body).encode(), {"content-type": "application/json"}
    form = {"request": json.dumps({"workflow": workflow})}
    expected = _summary(compiled.run({"image": png}, serialize=True))
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    with httpx.Client(base_url=url, timeout=120, limits=limits) as http:
        sides: dict[str, Callable[[], Any]] = {
            "in-process": lambda: compiled.run({"image": png}, serialize=True),
            "server (JSON)": lambda: http.post("/run", content=content, headers=headers),
            "server (upload)": lambda: http.post(
                "/run/upload", data=form, files={"image": ("a.png", png)}
            ),
        }

        def check(answer: Any) -> bool:
            return answer.status_code == 200 and _summary(answer.json()["outputs"]) == expected

        for label, call in list(sides.items())[1:]:
            answer = call()
            if not check(answer):
                print(f"  WARNING: {label}: answered {answer.text[:200]}")
        yield Requests(sides, check)


def _summary(outputs: list[dict]) -> Any:
    if "emotions" in outputs[0]:
        return [[e["top"] for e in output["emotions"]] for output in outputs]
    return outputs


def _latency(timing: Timing) -> str:
    return f"p50 {timing.percentile(0.5):.2f} ms, p95 {timing.percentile(0.95):.2f} ms"


def _light_pixels() -> np.ndarray:
    return np.ascontiguousarray(astronaut()[::8, ::8])


def figure_light(settings: Settings) -> list[Row]:
    print_header("[1] Light workflow (crop + 2 properties, 64x64 PNG): server vs in-process")
    with serving() as server, requests_for(LIGHT, _light_pixels(), server.url) as requests:
        rows = _one_client(server, requests, settings)
        rows += _throughput("light", requests.sides, {16: settings.light_16})
    return rows


def _one_client(server: Server, requests: Requests, settings: Settings) -> list[Row]:
    """Samples of each side in turn; the best p50 of each (noise only ever adds time)."""
    p50s: dict[str, list[float]] = {label: [] for label in requests.sides}
    cpu = dict.fromkeys(requests.sides, 0.0)
    for call in requests.sides.values():
        timed(call, 1, 20)  # warm-up
    for _ in range(settings.rounds):
        for label, call in requests.sides.items():
            used = server.cpu_seconds() if label != "in-process" else time.process_time()
            latencies = []
            for _ in range(settings.per_round):
                start = time.perf_counter()
                call()
                latencies.append(time.perf_counter() - start)
            now = server.cpu_seconds() if label != "in-process" else time.process_time()
            cpu[label] += now - used
            p50s[label].append(statistics.median(latencies) * 1000)
    requests_made = settings.rounds * settings.per_round
    here = min(p50s["in-process"])
    rows = [
        print_row(
            Row(
                "light, 1 client: in-process",
                f"p50 {here:.2f} ms",
                compare=f"CPU {cpu['in-process'] / requests_made * 1000:.2f} ms/request",
            )
        )
    ]
    for label in list(requests.sides)[1:]:
        best = min(p50s[label])
        overhead = best - here
        judged = label == "server (JSON)"
        rows.append(
            print_row(
                Row(
                    f"light, 1 client: {label.replace('server', 'server cost')}",
                    f"+{overhead:.2f} ms/request",
                    target=f"<= {OVERHEAD_TARGET_MS:.0f} ms" if judged else "",
                    passed=overhead <= OVERHEAD_TARGET_MS if judged else None,
                    compare=f"p50 {best:.2f} ms over HTTP vs {here:.2f} ms in-process "
                    f"({best / here:.1f}x); server CPU "
                    f"{cpu[label] / requests_made * 1000:.2f} ms/request",
                )
            )
        )
    return rows


def _throughput(name: str, sides: dict[str, Callable[[], Any]], counts: dict[int, int]):
    """Requests/s and latency of each side at each client count; the server as a share."""
    rows = []
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


def figure_model(settings: Settings) -> list[Row]:
    print_header("[2] Model workflow (face_emotion.yaml, 512x512 astronaut): server vs in-process")
    workflow = yaml.safe_load((EXAMPLES / "face_emotion.yaml").read_text())
    with serving() as server, requests_for(workflow, astronaut(), server.url) as requests:
        return _throughput("model", requests.sides, settings.model)


def figure_load(settings: Settings) -> list[Row]:
    clients = 16
    print_header(f"[3] Load: {settings.load:,} light requests, {clients} clients at once")
    with serving() as server, requests_for(LIGHT, _light_pixels(), server.url) as requests:
        at_start = server.rss_mib()
        sides = [requests.sides["server (JSON)"], requests.sides["server (upload)"]]

        def one(number: int) -> str | None:
            """None when the answer is right, else what went wrong."""
            try:
                answer = sides[number % 2]()
            except httpx.HTTPError as error:
                return type(error).__name__
            return None if requests.check(answer) else answer.text[:200]

        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(one, range(4 * clients)))  # warm-up: threads and caches exist
            before = server.rss_mib()
            started = time.perf_counter()
            problems = [p for p in pool.map(one, range(settings.load)) if p is not None]
            seconds = time.perf_counter() - started
        after = server.rss_mib()
    for problem in sorted(set(problems))[:3]:
        print(f"  WARNING: {problems.count(problem)} answered: {problem}")
    growth = after / before - 1
    return [
        print_row(
            Row(
                "load: errors",
                f"{len(problems)} of {settings.load:,}",
                target="0",
                passed=not problems,
                compare=f"{settings.load / seconds:.0f} req/s, JSON and upload in turn",
            )
        ),
        print_row(
            Row(
                "load: server memory (RSS) after vs before",
                f"{growth:+.1%}",
                target=f"within {RSS_TARGET:.0%}",
                passed=abs(growth) <= RSS_TARGET,
                compare=f"{before:.1f} MiB before (after a warm-up of {4 * clients}; "
                f"{at_start:.1f} MiB at start), {after:.1f} MiB after",
            )
        ),
    ]


if __name__ == "__main__":
    run_figures({1: figure_light, 2: figure_model, 3: figure_load}, FULL, QUICK, __doc__)
