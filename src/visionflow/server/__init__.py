"""The HTTP server: ``visionflow serve`` (FastAPI + uvicorn), built from ``ServerSettings``.

>>> from visionflow.server import ServerSettings, create_app
>>> app = create_app(ServerSettings())  # doctest: +SKIP

Modules: ``app`` (the app, middleware, API key), ``state`` (what requests share: settings,
store, limits, metrics, compiled documents), ``routes`` (run, validate, graph, describe,
health, metrics), ``workflow_routes`` (register / versions / delete), ``registry``
(workflows stored as files, hot reload), ``inputs`` (request inputs and limits),
``compiling`` (documents from requests), ``errors`` (HTTP answers), ``metrics``
(Prometheus), ``describe``, ``schemas``, ``settings`` (also the ``serve`` flags),
``pipelines`` and ``pipeline_runs`` (video pipelines: start, follow, preview, stop).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from visionflow.server.settings import ServerSettings

if TYPE_CHECKING:
    from visionflow.server.app import create_app

__all__ = ["ServerSettings", "create_app", "serve"]


def __getattr__(name: str) -> Any:
    # the settings alone (the CLI builds `serve` from them) import no web framework
    if name == "create_app":
        from visionflow.server.app import create_app

        return create_app
    raise AttributeError(f"module 'visionflow.server' has no attribute {name!r}")


def serve(settings: ServerSettings) -> None:
    """Serve until interrupted (one process: every request shares the model pools)."""
    import uvicorn

    from visionflow.server.app import create_app

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=settings.access_log,
    )
