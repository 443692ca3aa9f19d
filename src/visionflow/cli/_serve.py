"""``visionflow serve``, and ``run`` / ``validate`` against a server (``--server URL``).

The server and the client are imported inside the functions: the CLI stays quick to start.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

Server = Annotated[
    str | None,
    typer.Option(
        "--server",
        metavar="URL",
        help="Use a visionflow server instead of this process. WORKFLOW is then a file "
        "(sent inline) or, when no such file exists, a registered workflow's name.",
        show_default=False,
    ),
]
ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="VISIONFLOW_API_KEY",
        help="The key the server asks for (header X-API-Key).",
        show_default=False,
    ),
]


def serve(
    host: Annotated[str, typer.Option(help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The port to listen on.")] = 9001,
    workflows: Annotated[
        Path | None,
        typer.Option(
            "--workflows",
            metavar="DIR",
            help="Registered workflows are kept here as files (default: a temporary folder).",
            show_default=False,
        ),
    ] = None,
    allow_custom_code: Annotated[
        bool,
        typer.Option(help="Run Python carried by documents (dynamic blocks, custom steps)."),
    ] = False,
    allow_urls: Annotated[
        bool, typer.Option(help='Download images given as {"type": "url"}.')
    ] = False,
    allow_files: Annotated[
        list[Path] | None,
        typer.Option(
            "--allow-files",
            metavar="DIR",
            help='Read images given as {"type": "file"} inside this folder (repeatable).',
            show_default=False,
        ),
    ] = None,
    api_key: ApiKey = None,
    max_request_mb: Annotated[float, typer.Option(help="Largest request body, in MiB.")] = 32.0,
    max_image_pixels: Annotated[int, typer.Option(help="Largest image, width x height.")] = (
        40_000_000
    ),
    max_batch_size: Annotated[int, typer.Option(help="Most elements in one batch input.")] = 64,
    max_concurrent_runs: Annotated[
        int, typer.Option(help="Runs at once; more requests wait their turn.")
    ] = 32,
    max_model_workers: Annotated[
        int, typer.Option(help="Most workers (sessions) a document may ask for per model.")
    ] = 4,
    max_model_threads: Annotated[
        int | None,
        typer.Option(
            help="Most intra-op threads per session a document may ask for (default: the CPUs).",
            show_default=False,
        ),
    ] = None,
    max_model_batch_size: Annotated[
        int, typer.Option(help="Largest batch_size a document may ask for per model.")
    ] = 64,
    max_model_queue_size: Annotated[
        int, typer.Option(help="Largest queue_size a document may ask for per model.")
    ] = 1024,
    max_model_input_side: Annotated[
        int,
        typer.Option(help="Largest side (pixels) a document's model preprocessing may resize to."),
    ] = 4096,
    max_loaded_models: Annotated[
        int,
        typer.Option(help="Model pools kept loaded; the least recently used idle one makes room."),
    ] = 16,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "info",
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = True,
) -> None:
    """Serve workflows over HTTP: run, validate, describe, register; /docs shows the API.

    Documents with Python code, image URLs and server-side files are refused unless
    allowed here. Give an API key (or VISIONFLOW_API_KEY) on anything but loopback.
    """
    from visionflow.server import ServerSettings
    from visionflow.server import serve as serve_forever
    from visionflow.server.settings import MEGABYTE

    try:
        settings = ServerSettings(
            host=host,
            port=port,
            workflows_dir=workflows,
            allow_custom_code=allow_custom_code,
            allow_urls=allow_urls,
            allowed_paths=tuple(allow_files or ()),
            api_key=api_key,
            max_request_bytes=int(max_request_mb * MEGABYTE),
            max_image_pixels=max_image_pixels,
            max_batch_size=max_batch_size,
            max_concurrent_runs=max_concurrent_runs,
            max_model_workers=max_model_workers,
            max_model_threads=max_model_threads or os.cpu_count() or 1,
            max_model_batch_size=max_model_batch_size,
            max_model_queue_size=max_model_queue_size,
            max_model_input_side=max_model_input_side,
            max_loaded_models=max_loaded_models,
            log_level=log_level,
            access_log=access_log,
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    if settings.api_key is None and not _is_loopback(host):
        typer.echo(
            f"warning: serving on {host} without an API key: anyone who reaches it can run "
            "workflows (give --api-key or VISIONFLOW_API_KEY)",
            err=True,
        )
    serve_forever(settings)


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def _source(workflow: Path, dialect: str | None) -> dict[str, Any]:
    if workflow.is_file():
        return {"workflow": workflow.read_text(encoding="utf-8"), "dialect": dialect}
    return {"name": str(workflow)}


def run_remote(
    server: str, api_key: str | None, workflow: Path, pairs: list[str], dialect: str | None
) -> list[dict[str, Any]]:
    """Results from the server; image inputs are local files, sent as base64."""
    from visionflow.cli._inputs import runtime_inputs
    from visionflow.client import Client

    with Client(server, api_key=api_key) as client:
        source = _source(workflow, dialect)
        checked = client.validate(**source, raise_errors=True)
        declared = checked["inputs"]
        inputs = runtime_inputs(declared, pairs)
        for name, value in inputs.items():
            if declared[name]["type"] == "image":
                paths = _image_files(name, value if isinstance(value, list) else [value])
                inputs[name] = paths if isinstance(value, list) else paths[0]
        return client.run(**source, inputs=inputs)


def _image_files(name: str, values: list[Any]) -> list[Path]:
    """Local image files, checked as a local run checks them (the same error)."""
    from visionflow.errors import RuntimeInputError

    paths = [Path(value) for value in values]
    for position, path in enumerate(paths):
        if not path.is_file():
            where = f"'{name}'[{position}]"
            raise RuntimeInputError(
                f"input {where}: no image file at '{path}'", place=f"inputs {where}"
            )
    return paths


def validate_remote(
    server: str, api_key: str | None, workflow: Path, dialect: str | None
) -> dict[str, Any]:
    """``{"valid", "inputs", "outputs"}`` from the server; raises its error when not valid."""
    from visionflow.client import Client

    with Client(server, api_key=api_key) as client:
        return client.validate(**_source(workflow, dialect), raise_errors=True)
