"""Video pipelines over HTTP: start, list, status, stop; results as JSON lines; a preview.

A pipeline runs a workflow (registered or inline) on frames of its sources (video files,
image folders, streams, cameras: ``visionflow.streams``) on threads of its own until its
sources end or it is stopped. Clients follow its results as a stream of JSON lines, one
per frame, and watch an image output as MJPEG (``multipart/x-mixed-replace``, what a
browser's ``<img>`` shows). The API key, the image policy (files, URLs; cameras with
``--allow-webcams``), the batch limit (one element per source) and custom-code rule are
the server's; ``--max-pipelines`` run at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import ConfigDict, Field

from visionflow.errors import StreamPipelineError
from visionflow.server.compiling import inline
from visionflow.server.errors import BatchTooLargeError, NotFoundError
from visionflow.server.inputs import decode_inputs
from visionflow.server.pipeline_runs import (
    Hub,
    HubSink,
    PipelineRun,
    Pipelines,
    check_source,
    json_line,
)
from visionflow.server.schemas import ERRORS, EXAMPLE_WORKFLOW, WorkflowSource
from visionflow.server.state import ServerState, State

BOUNDARY = "visionflowpreview"


class PipelineRequest(WorkflowSource):
    """A workflow (inline or registered) and the sources its frames come from."""

    sources: list[str | int] = Field(
        min_length=1,
        description="Video files, image folders or globs (inside --allow-files folders), "
        "rtsp:// or http(s):// streams (with --allow-urls), camera indexes (with "
        "--allow-webcams). Their frames run together, one batch element per source.",
    )
    max_fps: float | None = Field(None, gt=0, description="Most batches a second.")
    every_nth: int = Field(1, ge=1, description="Files: every n-th frame.")
    decoder: Literal["auto", "opencv", "pyav"] = Field(
        "auto", description="Files: who decodes them ('auto': OpenCV, then PyAV if it fails)."
    )
    latest_only: bool | None = Field(
        None, description="Live sources: only the newest frame waits (default true)."
    )
    image_input: str | None = Field(
        None, description="The image input frames go to (needed if there are several)."
    )
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="Values of the workflow's other inputs."
    )
    preview_output: str | None = Field(
        None,
        description="The image output the MJPEG preview shows (default: the only one).",
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"workflow": EXAMPLE_WORKFLOW, "sources": ["videos/clip.mp4"], "max_fps": 10},
                {"name": "count-people", "sources": ["rtsp://camera.local/live"]},
            ]
        },
    )


router = APIRouter(prefix="/pipelines", tags=["pipelines"])


async def _pipelines(request: Request) -> Pipelines:
    return request.app.state.pipelines


Runs = Annotated[Pipelines, Depends(_pipelines)]


@router.post(
    "",
    status_code=201,
    responses={**ERRORS, 429: ERRORS[413] | {"description": "Too many pipelines running"}},
    summary="Start a video pipeline: a workflow on the frames of its sources",
)
async def start_pipeline(body: PipelineRequest, state: State, runs: Runs) -> dict[str, Any]:
    if len(body.sources) > state.settings.max_batch_size:  # one batch element per source
        raise BatchTooLargeError(
            f"{len(body.sources)} sources; this server takes at most "
            f"{state.settings.max_batch_size} per pipeline",
            place="sources",
            hint="split them over several pipelines",
        )
    sources = [
        check_source(spec, state.settings, f"sources[{n}]") for n, spec in enumerate(body.sources)
    ]
    runs.reserve()
    try:  # compiling, and opening the sources (a stream may take seconds to answer)
        run = await anyio.to_thread.run_sync(_opened, state, body, sources, limiter=state.runs)
    except BaseException:
        runs.release()
        raise
    runs.add(run)
    run.start()
    return run.to_dict()


def _opened(state: ServerState, body: PipelineRequest, sources: list[Any]) -> PipelineRun:
    from visionflow.streams.pipeline import VideoPipeline
    from visionflow.workflow import Workflow

    if body.name is None:
        state.compile(body.workflow, body.dialect)  # refused as /run refuses it, or cached
        registered, document, dialect = None, body.workflow, body.dialect
    else:
        stored, _ = state.store.workflow(body.name, body.version)
        registered = {"name": stored.name, "version": stored.version}
        document, dialect = state.store.document(stored), stored.dialect
    # a plan of its own: state kept per video (trackers, counters) is the pipeline's alone
    workflow = Workflow.compile(
        inline(document),
        dialect=dialect,
        allow_custom_code=state.settings.allow_custom_code,
        model_limits=state.model_limits,
        image_policy=state.limits.images,
        cache=False,
    )
    parameters = decode_inputs(workflow.inputs, body.parameters, {}, state.limits)
    hub = Hub(_preview_output(workflow, body.preview_output))
    pipeline = VideoPipeline(
        workflow,
        sources,
        max_fps=body.max_fps,
        image_input=body.image_input,
        parameters=parameters,
        sinks=[HubSink(hub)],
        source_options={
            "every_nth": body.every_nth,
            "latest_only": body.latest_only,
            "decoder": body.decoder,
        },
        image_policy=state.limits.images,  # a frame over --max-image-pixels fails alone
    )
    options = {"max_fps": body.max_fps, "every_nth": body.every_nth, "decoder": body.decoder}
    described = {
        "workflow": registered,
        "image_input": pipeline.image_input,
        "preview_output": hub.preview_output,
        "options": {**options, "latest_only": body.latest_only},
    }
    return PipelineRun(pipeline, hub, described)


def _preview_output(workflow: Any, wanted: str | None) -> str | None:
    images = [name for name, output in workflow.outputs.items() if "image" in output["kinds"]]
    if wanted is None:
        return images[0] if len(images) == 1 else None
    if wanted not in images:
        raise StreamPipelineError(
            f"'{wanted}' is not an image output of the workflow (those are {images or 'none'})",
            place="preview_output",
            hint="name an output whose kind is image, or leave preview_output out",
        )
    return wanted


@router.get("", summary="The pipelines: running, and those ended in the last minutes")
async def list_pipelines(runs: Runs) -> dict[str, list[dict[str, Any]]]:
    return {"pipelines": [run.to_dict() for run in runs.all()]}


@router.get("/{pipeline_id}", responses=ERRORS, summary="A pipeline's status")
async def pipeline_status(pipeline_id: str, runs: Runs) -> dict[str, Any]:
    return runs.get(pipeline_id).to_dict()


@router.post(
    "/{pipeline_id}/stop",
    responses=ERRORS,
    summary="Stop a pipeline after its batch in progress (it stays listed, stopped)",
)
async def stop_pipeline(pipeline_id: str, runs: Runs) -> dict[str, Any]:
    run = runs.get(pipeline_id)
    await _stopped(run)
    return run.to_dict()


@router.delete("/{pipeline_id}", responses=ERRORS, summary="Stop a pipeline and forget it")
async def delete_pipeline(pipeline_id: str, runs: Runs) -> dict[str, Any]:
    run = runs.get(pipeline_id)
    await _stopped(run)
    runs.remove(run.id)
    return {"deleted": run.id, **run.to_dict()}


async def _stopped(run: PipelineRun) -> None:
    await anyio.to_thread.run_sync(run.stop)


@router.get(
    "/{pipeline_id}/results",
    responses=ERRORS,
    response_class=StreamingResponse,
    summary="The results as JSON lines, one per frame, until the pipeline ends",
)
async def follow_results(
    pipeline_id: str,
    runs: Runs,
    queue: int = Query(256, ge=1, le=10_000, description="Lines kept for a slow client."),
) -> StreamingResponse:
    run = runs.get(pipeline_id)
    follower = run.hub.follow(queue)
    return StreamingResponse(_lines(run.hub, follower), media_type="application/x-ndjson")


async def _lines(hub: Hub, follower: Any) -> AsyncIterator[str]:
    """The lines kept (up to the queue's size), then each new one; a client that falls
    behind loses its oldest lines and reads how many first."""
    try:
        while True:
            follower.event.clear()
            lines, dropped, ended = hub.take(follower)
            if dropped:
                yield json_line(
                    {
                        "dropped": dropped,
                        "message": f"this client fell behind: its {dropped} oldest results "
                        "were dropped",
                    }
                )
            if lines:
                yield "".join(lines)
            elif ended:
                return
            else:
                await follower.event.wait()
    finally:
        hub.leave(follower)


@router.get(
    "/{pipeline_id}/preview",
    responses=ERRORS,
    response_class=StreamingResponse,
    summary="An image output as MJPEG (multipart/x-mixed-replace), newest frame each time",
)
async def preview(
    pipeline_id: str,
    runs: Runs,
    source: str | None = Query(None, description="Which source (default: the first)."),
) -> StreamingResponse:
    run = runs.get(pipeline_id)
    if run.hub.preview_output is None:
        raise NotFoundError(
            "this pipeline has no image output to preview",
            place=f"pipelines '{run.id}'",
            hint="start it with preview_output naming an image output of the workflow",
        )
    names = run.sources()
    if source is None:
        source = names[0]
    elif source not in names:
        raise NotFoundError(
            f"the pipeline has no source '{source}'",
            place="source",
            hint=f"its sources are {names}",
        )
    watcher = run.hub.watch()
    return StreamingResponse(
        _frames(run.hub, watcher, source),
        media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
        headers={"Cache-Control": "no-cache"},
    )


async def _frames(hub: Hub, watcher: Any, source: str) -> AsyncIterator[bytes]:
    """Each new image of ``source`` as a JPEG part (a slow client skips to the newest)."""
    seen = 0
    try:
        while True:
            watcher.event.clear()
            count, pixels, ended = hub.latest(source)
            if count != seen and pixels is not None:
                seen = count
                jpeg = await anyio.to_thread.run_sync(_jpeg, pixels)
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                yield f"{head}Content-Length: {len(jpeg)}\r\n\r\n".encode() + jpeg + b"\r\n"
            elif ended:
                return
            else:
                await watcher.event.wait()
    finally:
        hub.leave(watcher)


def _jpeg(pixels: Any) -> bytes:
    import cv2

    ok, encoded = cv2.imencode(".jpg", pixels)
    if not ok:
        raise ValueError(f"cannot encode an image of shape {pixels.shape} as JPEG")
    return encoded.tobytes()


# --- the server's life -----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Every pipeline is stopped when the server stops."""
    runs: Pipelines = app.state.pipelines
    _stop_on_signals(runs)
    yield
    runs.stop_all()  # done already on a signal
    await anyio.to_thread.run_sync(_join_all, runs.all())


def _join_all(stopped: list[PipelineRun]) -> None:
    for run in stopped:
        run.stop()


def _stop_on_signals(runs: Pipelines) -> None:
    """On SIGINT / SIGTERM, stop the pipelines first: their clients' streams end, so the
    server's graceful shutdown, which waits for open responses, can finish."""
    if threading.current_thread() is not threading.main_thread():
        return  # a server run in a thread (tests' TestClient): no signals there
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(number)
        if not callable(previous):
            continue

        def handler(signum: int, frame: Any, previous: Any = previous) -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(runs.stop_all)
            previous(signum, frame)

        signal.signal(number, handler)
