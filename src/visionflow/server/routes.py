"""Run, validate, graph and describe workflows; health and metrics.

Compiling and running are CPU work: they go to worker threads (at most
``max_concurrent_runs`` runs at once), so the event loop keeps taking requests and
concurrent runs meet in the model pools, where their images are batched together.
"""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.datastructures import UploadFile

from visionflow import __version__
from visionflow.errors import UnknownBlockTypeError, WorkflowError
from visionflow.graphs.workflow_graph import plan_graph
from visionflow.graphs.workflow_page import render_page
from visionflow.server.compiling import compile_document
from visionflow.server.describe import describe, describe_block
from visionflow.server.errors import NotFoundError, RequestError, error_response
from visionflow.server.inputs import decode_inputs
from visionflow.server.metrics import CONTENT_TYPE
from visionflow.server.schemas import (
    DESCRIBE_EXAMPLE,
    ERRORS,
    KIND_EXAMPLE,
    METRICS_EXAMPLE,
    GraphResponse,
    RunRequest,
    RunResponse,
    ValidateResponse,
    WorkflowSource,
    example,
    parse_form_request,
)
from visionflow.server.state import ServerState, State, document_key
from visionflow.workflow import Workflow

public = APIRouter()
router = APIRouter()


@public.get("/health", summary="Is the server up (no API key needed)")
async def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses=example(METRICS_EXAMPLE, "text/plain"),
)
async def metrics(state: State) -> Response:
    return Response(state.metrics.exposition(), media_type=CONTENT_TYPE)


@router.post(
    "/run",
    response_model=RunResponse,
    responses=ERRORS,
    summary="Run a workflow (inline or registered) on JSON inputs",
)
async def run(body: RunRequest, state: State) -> JSONResponse:
    return await _run(state, body, {})


_UPLOAD_SCHEMA = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "request": {
                            "type": "string",
                            "description": "The run request as JSON (as for /run).",
                            "example": '{"name": "centre-width", "inputs": {"ratio": 0.5}}',
                        },
                        "image": {
                            "type": "string",
                            "format": "binary",
                            "description": "A file per image; the field's name is the input's "
                            "name. Several files under one name are a batch.",
                        },
                    },
                    "required": ["request"],
                }
            }
        },
        "required": True,
    }
}


@router.post(
    "/run/upload",
    response_model=RunResponse,
    responses=ERRORS,
    summary="Run a workflow with images uploaded as files (multipart form)",
    openapi_extra=_UPLOAD_SCHEMA,
)
async def run_upload(request: Request, state: State) -> JSONResponse:
    settings = state.settings
    # files: a full batch for each of several image inputs; the body limit bounds the bytes
    async with request.form(
        max_files=settings.max_batch_size * 16, max_part_size=settings.max_request_bytes
    ) as form:
        text = form.get("request")
        if not isinstance(text, str):
            raise RequestError(
                "the form has no 'request' field with the run request as JSON",
                place="request",
                hint='add a field request={"workflow": ..., "inputs": {...}}',
            )
        body = parse_form_request(text)
        uploads: dict[str, list[bytes]] = {}
        for key, value in form.multi_items():
            if key == "request":
                continue
            if not isinstance(value, UploadFile):
                raise RequestError(
                    f"form field '{key}' is not a file",
                    place=key,
                    hint="other input values go inside the 'request' JSON",
                )
            uploads.setdefault(key, []).append(await value.read())
    return await _run(state, body, uploads)


async def _run(state: ServerState, body: RunRequest, uploads: dict[str, list[bytes]]):
    # only names of registered workflows become label values: their number is bounded
    label = "inline" if body.name is None else "unknown"

    def prepare() -> tuple[dict[str, Any] | None, Workflow, dict[str, Any]]:
        nonlocal label
        registered, workflow = _resolve(state, body)
        label = registered["name"] if registered else label
        inputs = decode_inputs(workflow.inputs, body.inputs, uploads, state.limits)
        return registered, workflow, inputs

    def work() -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        registered, workflow, inputs = prepare()
        return registered, workflow.run(inputs, serialize=True)

    try:
        if state.runner is None:
            registered, outputs = await anyio.to_thread.run_sync(work, limiter=state.runs)
        else:  # checked and decoded here, run elsewhere (serve --ray): the same errors
            registered, workflow, inputs = await anyio.to_thread.run_sync(
                prepare, limiter=state.runs
            )
            outputs = await state.runner(body, registered, workflow, inputs)
    except WorkflowError:
        state.metrics.runs.labels(label, "error").inc()
        raise
    state.metrics.runs.labels(label, "ok").inc()
    return JSONResponse({"outputs": outputs, "workflow": registered})


def _resolve(state: ServerState, source: WorkflowSource) -> tuple[dict[str, Any] | None, Workflow]:
    if source.name is None:
        return None, state.compile(source.workflow, source.dialect)
    stored, workflow = state.store.workflow(source.name, source.version)
    return {"name": stored.name, "version": stored.version}, workflow


@router.post(
    "/validate",
    response_model=ValidateResponse,
    response_model_exclude_none=True,
    responses={**ERRORS, 422: {"model": ValidateResponse, "description": "Not valid"}},
    summary="Compile only: the inputs and outputs with their kinds, or the first error",
)
async def validate(body: WorkflowSource, state: State) -> Any:
    try:
        workflow = await anyio.to_thread.run_sync(_checked, state, body)
    except WorkflowError as error:
        return error_response(error, valid=False)
    return {"valid": True, "inputs": workflow.inputs, "outputs": workflow.outputs}


def _checked(state: ServerState, source: WorkflowSource) -> Workflow:
    """A document checked for /validate: its models against their files, no session started
    (issue 15), unless a run compiled it already. Registered workflows are compiled when
    stored, so they are looked up."""
    if source.name is not None:
        return _resolve(state, source)[1]
    key = document_key(source.workflow, source.dialect)
    if key is not None and (compiled := state.documents.get(key)) is not None:
        return compiled
    return compile_document(
        source.workflow,
        source.dialect,
        state.settings.allow_custom_code,
        state.model_limits,
        image_policy=state.limits.images,
        load_models=False,
    )


@router.post(
    "/graph",
    response_model=GraphResponse,
    responses=ERRORS,
    summary="The graph of a compiled workflow: nodes, edges and their kinds",
)
async def graph(body: WorkflowSource, state: State) -> dict[str, Any]:
    _, workflow = await anyio.to_thread.run_sync(_resolve, state, body)
    return plan_graph(workflow.plan)


@router.post(
    "/graph.html",
    response_class=HTMLResponse,
    responses=ERRORS,
    summary="The graph of a compiled workflow drawn as a self-contained HTML page",
)
async def graph_page(body: WorkflowSource, state: State) -> HTMLResponse:
    registered, workflow = await anyio.to_thread.run_sync(_resolve, state, body)
    title = f"{registered['name']} v{registered['version']}" if registered else "workflow"
    page = render_page(plan_graph(workflow.plan), f"{title} — visionflow")
    return HTMLResponse(page)


@router.get(
    "/describe",
    responses=example(DESCRIBE_EXAMPLE),
    summary="Every block (manifest JSON Schema, outputs, kinds), every kind, the dialects",
)
async def describe_all() -> dict[str, Any]:
    return await anyio.to_thread.run_sync(describe)


@router.get(
    "/kinds",
    responses=example([KIND_EXAMPLE]),
    summary="Every kind (data type) with its description",
)
async def kinds() -> list[dict[str, str]]:
    return (await anyio.to_thread.run_sync(describe))["kinds"]


@router.get(
    "/blocks/{type_name:path}",
    responses=ERRORS,
    summary="One block by type name or alias (e.g. DynamicCrop)",
)
async def block(type_name: str) -> dict[str, Any]:
    try:
        return await anyio.to_thread.run_sync(describe_block, type_name)
    except UnknownBlockTypeError as error:  # a wrong address here, not a wrong workflow
        raise NotFoundError(error.message, place=f"blocks '{type_name}'", hint=error.hint) from None
