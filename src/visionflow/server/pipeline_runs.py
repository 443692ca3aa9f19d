"""The server's video pipelines: each one's results fanned out to its HTTP clients.

A ``PipelineRun`` wraps a ``VideoPipeline`` (``visionflow.streams``) with a ``Hub``: the
pipeline's thread publishes each frame's JSON line (as ``JsonLinesSink`` writes it) and the
newest preview image; clients on the event loop follow them. Each follower has its own
bounded queue: a slow client never slows the pipeline, it loses its oldest lines and is
told how many. ``Pipelines`` holds the runs of one server: at most ``max_pipelines``
running, ended ones listed for ``KEEP_ENDED_S``, every one stopped when the server stops.

Sources are held to the server's image policy before anything opens them
(``check_source``): files only inside ``--allow-files`` folders, URLs only with
``--allow-urls``, cameras only with ``--allow-webcams``.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import logging
import os
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from visionflow.data.image import WorkflowImage
from visionflow.errors import InputSourceNotAllowedError
from visionflow.server.errors import NotFoundError, RequestError
from visionflow.server.settings import ServerSettings
from visionflow.streams.sinks import JsonLinesSink

_log = logging.getLogger("visionflow.server")

KEEP_ENDED_S = 600.0  # an ended or stopped pipeline stays listed this long
KEEP_ENDED = 16  # and at most this many of them
KEPT_LINES = 256  # lines a pipeline keeps for clients that start following late
JOIN_S = 10.0  # how long the server's shutdown waits for each pipeline


class TooManyPipelinesError(RequestError):
    code = "too_many_pipelines"
    status = 429


class ShuttingDownError(RequestError):
    code = "shutting_down"
    status = 503


# --- sources under the server's policy -----------------------------------------------------


def check_source(spec: str | int, settings: ServerSettings, place: str) -> str | int:
    """``spec`` if the operator lets pipelines read it; refused with the same words whether
    or not a file exists (as images are: ``data/sources.py``)."""
    if isinstance(spec, int) or spec.strip().isdecimal():
        if not settings.allow_webcams:
            raise InputSourceNotAllowedError(
                "this server does not read its cameras",
                place=place,
                hint="the operator can allow them with --allow-webcams",
            )
        return int(spec)
    if "://" in spec:
        if not settings.allow_urls:
            raise InputSourceNotAllowedError(
                "this server does not read streams or videos from URLs",
                place=place,
                hint="the operator can allow them with --allow-urls",
            )
        return spec
    folders = tuple(path.resolve() for path in settings.allowed_paths)
    # the spec first: a folder elsewhere is never listed
    named = _paths_named(spec) if _inside(spec, folders) else None
    if named is None or not all(_inside(path, folders) for path in named):
        raise InputSourceNotAllowedError(
            f"this server does not read the file '{_shown(spec)}'",
            place=place,
            hint="the operator can allow a folder with --allow-files DIR",
        )
    return spec


def _paths_named(spec: str) -> list[str] | None:
    """The spec and every file it names: a folder's entries, a pattern's matches (each
    checked, so a link inside an allowed folder cannot lead out of it); None for a
    pattern climbing out with '..' (refused before it is expanded)."""
    if not any(char in spec for char in "*?["):
        try:
            entries = os.listdir(spec) if os.path.isdir(spec) else []
        except OSError:  # unreadable: opening the source says so
            entries = []
        return [spec, *(os.path.join(spec, name) for name in entries)]
    parts = Path(spec).parts
    if ".." in parts:
        return None
    fixed = next(i for i, part in enumerate(parts) if any(c in part for c in "*?["))
    return [str(Path(*parts[:fixed])) if fixed else ".", *glob.glob(spec)]


def _inside(path: str, folders: tuple[Path, ...]) -> bool:
    try:
        resolved = Path(path).resolve()
    except (OSError, ValueError, RuntimeError):  # a NUL byte, a link loop: refused
        return False
    return any(resolved.is_relative_to(folder) for folder in folders)


def _shown(text: str) -> str:
    text = text if len(text) <= 200 else text[:197] + "..."
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


# --- fanning results out ---------------------------------------------------------------------


class Waiter:
    """A client on the event loop, woken from the pipeline's thread."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.event = asyncio.Event()

    def wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
            self.loop.call_soon_threadsafe(self.event.set)


class Follower(Waiter):
    """One client of the JSON lines: its own queue of at most ``size`` lines."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.lines: deque[str] = deque()
        self.size = size
        self.dropped = 0

    def push(self, line: str) -> None:
        if len(self.lines) >= self.size:  # the client is behind: its oldest line goes
            self.lines.popleft()
            self.dropped += 1
        self.lines.append(line)


class Hub:
    """Where a pipeline's thread leaves each result for the clients (thread-safe)."""

    def __init__(self, preview_output: str | None) -> None:
        self.preview_output = preview_output
        self._lock = threading.Lock()
        self._kept: deque[str] = deque(maxlen=KEPT_LINES)
        self._followers: set[Follower] = set()
        self._watchers: set[Waiter] = set()
        self._images: dict[str, tuple[int, np.ndarray]] = {}
        self.ended = False

    def publish(self, line: str, source: str, image: Any) -> None:
        with self._lock:
            self._kept.append(line)
            for follower in self._followers:
                follower.push(line)
            if isinstance(image, WorkflowImage):
                count = self._images.get(source, (0, None))[0] + 1
                self._images[source] = (count, image.numpy)
            waiting = [*self._followers, *self._watchers]
        for waiter in waiting:
            waiter.wake()

    def end(self) -> None:
        with self._lock:
            self.ended = True
            waiting = [*self._followers, *self._watchers]
        for waiter in waiting:
            waiter.wake()

    def follow(self, size: int) -> Follower:
        """A new follower, given the kept lines first (as many as its queue holds)."""
        follower = Follower(size)
        with self._lock:
            for line in self._kept:
                follower.push(line)
            self._followers.add(follower)
        return follower

    def take(self, follower: Follower) -> tuple[list[str], int, bool]:
        """The follower's waiting lines, how many it lost since, and whether that is all."""
        with self._lock:
            lines, dropped = list(follower.lines), follower.dropped
            follower.lines.clear()
            follower.dropped = 0
            return lines, dropped, self.ended

    def watch(self) -> Waiter:
        waiter = Waiter()
        with self._lock:
            self._watchers.add(waiter)
        return waiter

    def latest(self, source: str) -> tuple[int, np.ndarray | None, bool]:
        with self._lock:
            count, pixels = self._images.get(source, (0, None))
            return count, pixels, self.ended

    def leave(self, waiter: Waiter) -> None:
        with self._lock:
            self._followers.discard(waiter)  # type: ignore[arg-type]
            self._watchers.discard(waiter)


class HubSink(JsonLinesSink):
    """The pipeline's sink: each result's line, exactly as the JSON-lines sink writes it
    (``JsonLinesSink.line``: one writer of the format), and its preview image, to the hub."""

    def __init__(self, hub: Hub) -> None:
        super().__init__("-")
        self.hub = hub

    def open(self, workflow: Any, sources: list[Any]) -> None:
        pass  # nothing to open: lines go to the hub

    def write(self, result: Any) -> None:
        outputs, wanted = result.outputs or {}, self.hub.preview_output
        preview = outputs.get(wanted) if wanted else None
        self.hub.publish(self.line(result) + "\n", result.source, preview)

    def close(self) -> None:
        pass  # nothing to flush: the hub keeps its lines for clients still following


# --- the runs of one server ------------------------------------------------------------------


class PipelineRun:
    """A started pipeline as the server lists it."""

    def __init__(self, pipeline: Any, hub: Hub, described: dict[str, Any]) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.pipeline = pipeline
        self.hub = hub
        self.described = described  # workflow, image input, preview output, options
        self.started = time.time()
        self.ended_at: float | None = None
        self.failure: str | None = None
        self._finished = threading.Event()  # set once ended_at is, and the clients told

    @property
    def active(self) -> bool:
        return self.ended_at is None

    def start(self) -> None:
        try:
            self.pipeline.start()
        except BaseException:  # it never ran: listed as ended, its slot free
            self.ended_at = time.time()
            self.hub.end()
            self._finished.set()
            raise
        threading.Thread(target=self._watch, name=f"pipeline {self.id}", daemon=True).start()

    def _watch(self) -> None:
        """Waits for the pipeline's end, then ends its clients' streams."""
        try:
            self.pipeline.join()
        except Exception as error:  # the hub never fails; a callback of the pipeline might
            self.failure = str(error)
        self.ended_at = time.time()
        self.hub.end()
        self._finished.set()

    def stop(self, timeout: float = JOIN_S) -> bool:
        """Stop after the batch in progress; whether it has ended within ``timeout``."""
        self.pipeline.stop()
        return self._finished.wait(timeout)

    def sources(self) -> list[str]:
        return [source.source for source in self.pipeline.status().sources]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            **self.described,
            "started": self.started,
            "ended": self.ended_at,
            "failure": self.failure,
            "status": self.pipeline.status().to_dict(),
        }


class Pipelines:
    """The pipelines of one server: at most ``limit`` running; ended ones kept a while."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.closing = False
        self._lock = threading.Lock()
        self._runs: dict[str, PipelineRun] = {}
        self._opening = 0  # slots taken by pipelines whose sources are opening

    def reserve(self) -> None:
        """A slot for a pipeline about to open (``release`` it if that fails)."""
        with self._lock:
            if self.closing:
                raise ShuttingDownError(
                    "the server is shutting down", place="pipelines", hint="start it again later"
                )
            running = sum(run.active for run in self._runs.values()) + self._opening
            if running >= self.limit:
                raise TooManyPipelinesError(
                    f"{running} pipelines are running; this server runs at most {self.limit}",
                    place="pipelines",
                    hint="stop one (POST /pipelines/{id}/stop), or the operator can raise "
                    "--max-pipelines",
                )
            self._opening += 1

    def release(self) -> None:
        with self._lock:
            self._opening -= 1

    def add(self, run: PipelineRun) -> None:
        with self._lock:
            self._opening -= 1
            self._runs[run.id] = run
            self._prune()

    def get(self, run_id: str) -> PipelineRun:
        with self._lock:
            self._prune()
            run = self._runs.get(run_id)
        if run is None:
            raise NotFoundError(
                f"no pipeline '{_shown(run_id)}'",
                place=f"pipelines '{_shown(run_id)}'",
                hint=f"GET /pipelines lists them; ended ones are kept {KEEP_ENDED_S:g} s",
            )
        return run

    def all(self) -> list[PipelineRun]:
        with self._lock:
            self._prune()
            return sorted(self._runs.values(), key=lambda run: run.started)

    def remove(self, run_id: str) -> PipelineRun:
        run = self.get(run_id)
        with self._lock:
            self._runs.pop(run.id, None)
        return run

    def stop_all(self) -> list[PipelineRun]:
        """Refuse new pipelines and stop every running one (without waiting)."""
        with self._lock:
            self.closing = True
            runs = [run for run in self._runs.values() if run.active]
        if runs:
            _log.warning("stopping %d pipeline(s): the server shuts down", len(runs))
        for run in runs:
            run.pipeline.stop()
        return runs

    def _prune(self) -> None:
        ended = sorted(
            (run for run in self._runs.values() if not run.active),
            key=lambda run: run.ended_at or 0.0,
        )
        now = time.time()
        for position, run in enumerate(ended):
            if position < len(ended) - KEEP_ENDED or now - (run.ended_at or now) > KEEP_ENDED_S:
                del self._runs[run.id]


def json_line(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False) + "\n"
