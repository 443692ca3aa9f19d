"""The HTTP server: ``visionflow serve`` (FastAPI + uvicorn), built from ``ServerSettings``.

>>> from visionflow.server import ServerSettings, create_app
>>> app = create_app(ServerSettings())  # doctest: +SKIP

Modules: ``app`` (the app, middleware, API key), ``routes`` (run, validate, graph,
describe, health, metrics), ``workflow_routes`` (register / versions / delete),
``registry`` (workflows stored as files, hot reload), ``inputs`` (request inputs and
limits), ``compiling`` (documents from requests), ``errors`` (HTTP answers), ``metrics``
(Prometheus), ``graph``, ``describe``, ``schemas``, ``settings``.
"""

from visionflow.server.app import create_app
from visionflow.server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app", "serve"]


def serve(settings: ServerSettings) -> None:
    """Serve until interrupted (one process: every request shares the model pools)."""
    import uvicorn

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=settings.access_log,
    )
