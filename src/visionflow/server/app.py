"""The FastAPI app: routes, error answers, the request-size limit, metrics and the API key.

The state requests share (settings, store, limits, metrics) is ``state.ServerState``.

from visionflow.server import ServerSettings, create_app
app = create_app(ServerSettings(workflows_dir=Path("workflows")))   # then uvicorn
"""

from __future__ import annotations

import logging
import secrets
import sys
import time
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from visionflow import __version__
from visionflow.server.errors import (
    ApiKeyError,
    RequestTooLargeError,
    error_body,
    install_error_handlers,
    unexpected_error_body,
)
from visionflow.server.metrics import ServerMetrics
from visionflow.server.settings import ServerSettings
from visionflow.server.state import ServerState, State

API_KEY_HEADER = "X-API-Key"
_HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_api_key = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="The server's key.")


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    """A FastAPI app serving visionflow as ``settings`` say (defaults: loopback, strict)."""
    from visionflow.server import pipelines, routes, workflow_routes

    state = ServerState.create(settings or ServerSettings())
    keyed = state.settings.api_key is not None
    app = FastAPI(
        title="visionflow",
        version=__version__,
        # with a key, the schema is behind it too (GET /openapi.json with the header) and
        # the browser pages, which cannot send the header, are off
        openapi_url=None if keyed else "/openapi.json",
        docs_url=None if keyed else "/docs",
        redoc_url=None if keyed else "/redoc",
        description="Run, validate, describe and manage deep-learning workflows. Errors are "
        '`{"error": {"code", "place", "message", "hint"}}` with a 4xx status when the request '
        "can be fixed.",
        lifespan=pipelines.lifespan,  # pipelines stop with the server
    )
    app.state.visionflow = state
    app.state.pipelines = pipelines.Pipelines(state.settings.max_pipelines)
    install_error_handlers(app)
    app.include_router(routes.public)
    # without a key there is nothing to check: no dependency to solve on every request
    guarded = [Depends(_check_api_key)] if keyed else []
    app.include_router(routes.router, dependencies=guarded)
    app.include_router(workflow_routes.router, dependencies=guarded)
    app.include_router(pipelines.router, dependencies=guarded)
    if keyed:
        app.add_api_route(
            "/openapi.json",
            lambda: JSONResponse(app.openapi()),
            dependencies=guarded,
            include_in_schema=False,
        )
    app.add_middleware(UnexpectedErrors)  # innermost of ours: a 500 is an answer like others
    app.add_middleware(BodyLimit, max_bytes=state.settings.max_request_bytes)
    app.add_middleware(RequestMetrics, metrics=state.metrics)  # outermost: counts refusals too
    return app


async def _check_api_key(
    state: State, given: Annotated[str | None, Depends(_api_key)] = None
) -> None:
    """Installed on the routes of a server that has a key only."""
    expected = state.settings.api_key or ""
    if given is None:
        raise ApiKeyError(
            f"this server needs an API key in the {API_KEY_HEADER} header",
            place=API_KEY_HEADER,
            hint="ask the operator for the key; visionflow.Client(url, api_key=...)",
        )
    if not secrets.compare_digest(given.encode(), expected.encode()):
        raise ApiKeyError("the API key is wrong", place=API_KEY_HEADER)


class RequestMetrics:
    """Counts and times every HTTP request by its route template (bounded label values)."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, sending)
        finally:
            self.metrics.in_flight.dec()
            route = getattr(scope.get("route"), "path", "unmatched")
            # labels stay few whatever clients send: unknown methods are one label
            method = scope["method"] if scope["method"] in _HTTP_METHODS else "other"
            self.metrics.observe(method, route, status, started)


class UnexpectedErrors:
    """An exception no handler took: logged with its traceback, answered as a 500.

    Starlette's own last resort answers and then re-raises, and the server closes the
    connection after that; answering here keeps a keep-alive connection usable.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            logging.getLogger("visionflow.server").exception(
                "%s %s failed", scope["method"], scope["path"]
            )
            if started:  # half an answer is out: only closing the connection can tell
                raise
            await _send_json(send, 500, unexpected_error_body(scope["path"], sys.exc_info()[1]))


async def _send_json(send: Send, status: int, content: dict[str, Any]) -> None:
    import json

    body = json.dumps(content).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Refuses request bodies over ``max_bytes`` with 413, declared or not (chunked).

    The rest of an oversized body is read and dropped (up to a bound) before answering, so
    that the client, still sending, reads the answer instead of a reset connection.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes
        self.drain_bytes = max(4 * max_bytes, 64 * 1024 * 1024)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._drain(receive, 0)
            return await self._refuse(send, int(declared))
        received = 0

        async def counting() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    if message.get("more_body", False):
                        await self._drain(receive, received)
                    raise self._too_large(received)  # answered by the error handlers
            return message

        await self.app(scope, counting, send)

    async def _drain(self, receive: Receive, received: int) -> None:
        while received <= self.drain_bytes:
            message = await receive()
            received += len(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body", False):
                return

    def _too_large(self, size: int) -> RequestTooLargeError:
        return RequestTooLargeError(
            f"the request body is {size:,} bytes or more; this server takes at most "
            f"{self.max_bytes:,}",
            place="body",
            hint="send fewer or smaller images per request (JPEG is smaller than PNG)",
        )

    async def _refuse(self, send: Send, size: int) -> None:
        await _send_json(send, 413, error_body(self._too_large(size)))
