"""The server's process state, in one place: what every request handler shares.

``create_app`` builds one ``ServerState`` from the settings and keeps it on
``app.state.visionflow``; routes take it as a ``State`` parameter. Nothing else of the
server lives in module globals or closures, except the model pools, which are the process's
(``limit_loaded_models`` bounds them when the state is made).

    @router.get("/limits")
    async def limits(state: State) -> dict[str, int]:
        return {"max_batch_size": state.settings.max_batch_size}
"""

from __future__ import annotations

import atexit
import hashlib
import json
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import Depends, Request

from visionflow.compiler import PlanCache
from visionflow.models.library import ModelLimits, limit_loaded_models, map_models
from visionflow.server.compiling import compile_document
from visionflow.server.inputs import InputLimits
from visionflow.server.metrics import ServerMetrics
from visionflow.server.registry import WorkflowStore
from visionflow.server.settings import ServerSettings
from visionflow.workflow import Workflow

Runner = Callable[[Any, dict[str, Any] | None, Workflow, dict[str, Any]], Awaitable[list[Any]]]
"""Runs a resolved request elsewhere: (the request, its registered name and version or None,
the compiled workflow, the decoded inputs) -> the serialized outputs (``serve --ray``)."""


def document_key(document: Any, dialect: str | None) -> bytes | None:
    """A digest of a request's inline document; None for what cannot be hashed as sent
    (then it is compiled every time). A digest, so a large document is not kept twice."""
    try:
        # request bodies are JSON: keys are text, so the JSON text is the content
        text = document if isinstance(document, str) else json.dumps(document)
        data = f"{dialect}\n{type(document).__name__}\n{text}".encode("utf-8", "surrogatepass")
    except (TypeError, ValueError, RecursionError):
        return None
    return hashlib.blake2b(data, digest_size=20).digest()


@dataclass
class ServerState:
    """Settings, registered workflows, input and model limits, metrics, the run limiter."""

    settings: ServerSettings
    store: WorkflowStore
    limits: InputLimits
    model_limits: ModelLimits
    metrics: ServerMetrics
    runs: anyio.CapacityLimiter
    """At most ``max_concurrent_runs`` runs on worker threads at once."""
    documents: PlanCache[Workflow] = field(default_factory=lambda: PlanCache(size=64))
    """Compiled inline documents by ``document_key``; only those that compiled."""
    runner: Runner | None = None
    """Where runs go once decoded (``serve --ray``: a Ray Serve deployment); None: here."""

    @classmethod
    def create(cls, settings: ServerSettings) -> ServerState:
        limit_loaded_models(settings.max_loaded_models)  # model pools are the process's
        map_models(settings.models)  # --model ID=PATH: the operator's, for the process
        limits = InputLimits.of(settings)
        model_limits = settings.model_limits()

        def compile_stored(document: Any, dialect: str | None) -> Workflow:
            # the store keeps its own compiled workflows, by file and modification time
            return _compile(settings, limits, model_limits, document, dialect)

        return cls(
            settings,
            WorkflowStore(_workflows_dir(settings), compile_stored),
            limits,
            model_limits,
            ServerMetrics(),
            anyio.CapacityLimiter(settings.max_concurrent_runs),
        )

    def compile(self, document: Any, dialect: str | None) -> Workflow:
        """A request's inline document, compiled as the operator allows. One seen before
        costs a digest and a lookup: ``Workflow.compile`` has its own cache, but it reads and
        checks the document before it can look (about 0.2 ms for a small one)."""
        key = document_key(document, dialect)
        if key is not None and (workflow := self.documents.get(key)) is not None:
            return workflow
        workflow = _compile(self.settings, self.limits, self.model_limits, document, dialect)
        if key is not None:
            self.documents.put(key, workflow)
        return workflow


def _compile(
    settings: ServerSettings,
    limits: InputLimits,
    model_limits: ModelLimits,
    document: Any,
    dialect: str | None,
) -> Workflow:
    return compile_document(
        document,
        dialect,
        settings.allow_custom_code,
        model_limits,
        image_policy=limits.images,  # documents' images: the requests' rules
    )


def _workflows_dir(settings: ServerSettings) -> Path:
    if settings.workflows_dir is not None:
        return settings.workflows_dir
    folder = tempfile.mkdtemp(prefix="visionflow-workflows-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return Path(folder)


async def server_state(request: Request) -> ServerState:
    # async: FastAPI would run a plain function on a worker thread
    return request.app.state.visionflow


State = Annotated[ServerState, Depends(server_state)]
"""A route's parameter ``state: State`` is the app's ``ServerState``."""
