"""Registered workflows: register, list, get, draw, add a version, delete.

Documents are compiled before they are stored (a wrong one is refused with its compile
error), then written under ``--workflows DIR``, so they survive restarts.
"""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from visionflow.graphs.workflow_graph import plan_graph
from visionflow.graphs.workflow_page import render_page
from visionflow.server.schemas import (
    ERRORS,
    WORKFLOWS_EXAMPLE,
    RegisterRequest,
    StoredWorkflow,
    VersionRequest,
    example,
)
from visionflow.server.state import State

router = APIRouter(prefix="/workflows", tags=["workflows"])


@router.get(
    "",
    responses=example(WORKFLOWS_EXAMPLE),
    summary="The registered workflows, newest version of each",
)
async def list_workflows(state: State) -> dict[str, list[StoredWorkflow]]:
    def listing() -> list[dict[str, Any]]:
        store = state.store
        return [_described(store, name, None, with_document=False) for name in store.names()]

    return {"workflows": await anyio.to_thread.run_sync(listing)}


@router.post(
    "",
    status_code=201,
    response_model=StoredWorkflow,
    responses=ERRORS,
    summary="Register a workflow under a new name (version 1)",
)
async def register(body: RegisterRequest, state: State) -> dict[str, Any]:
    stored = await anyio.to_thread.run_sync(
        state.store.register, body.name, body.workflow, body.dialect
    )
    return {**stored.summary(), "versions": [stored.version]}


@router.get(
    "/{name}",
    response_model=StoredWorkflow,
    responses=ERRORS,
    summary="A registered workflow's document (newest version, or ?version=N)",
)
async def get_workflow(
    name: str, state: State, version: int | None = Query(None, ge=1)
) -> dict[str, Any]:
    return await anyio.to_thread.run_sync(_described, state.store, name, version, True)


@router.get(
    "/{name}/graph.html",
    response_class=HTMLResponse,
    responses=ERRORS,
    summary="A registered workflow's graph as a self-contained HTML page (newest, or ?version=N)",
)
async def workflow_graph_page(
    name: str, state: State, version: int | None = Query(None, ge=1)
) -> HTMLResponse:
    stored, workflow = await anyio.to_thread.run_sync(state.store.workflow, name, version)
    title = f"{stored.name} v{stored.version} — visionflow"
    return HTMLResponse(render_page(plan_graph(workflow.plan), title))


@router.post(
    "/{name}/versions",
    status_code=201,
    response_model=StoredWorkflow,
    responses=ERRORS,
    summary="Add a new version; the next runs by name use it, runs in flight finish as they were",
)
async def add_version(name: str, body: VersionRequest, state: State) -> dict[str, Any]:
    await anyio.to_thread.run_sync(state.store.add_version, name, body.workflow, body.dialect)
    return await anyio.to_thread.run_sync(_described, state.store, name, None, False)


@router.delete("/{name}", responses=ERRORS, summary="Delete a workflow and all its versions")
async def delete_workflow(name: str, state: State) -> dict[str, Any]:
    deleted = await anyio.to_thread.run_sync(state.store.delete, name)
    return {"deleted": name, "versions": [stored.version for stored in deleted]}


def _described(store: Any, name: str, version: int | None, with_document: bool) -> dict:
    versions = store.versions(name)
    stored = store.version(name, version)
    described = {**stored.summary(), "versions": [v.version for v in versions]}
    if with_document:
        described["document"] = store.document(stored)
    return described
