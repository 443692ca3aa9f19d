"""``visionflow serve``, and ``run`` / ``validate`` against a server (``--server URL``).

``serve``'s options are made from ``ServerSettings`` (a few standard-library imports); the
server and the client are imported inside the functions: the CLI stays quick to start.
"""

from __future__ import annotations

import inspect
from dataclasses import MISSING, Field, fields
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, get_args, get_origin, get_type_hints

import typer

from visionflow.server.settings import Flag, ServerSettings, flag_name

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

ModelMaps = Annotated[
    list[str] | None,
    typer.Option(
        "--model",
        metavar="ID=PATH",
        help="Run the model id ID (e.g. a Roboflow model_id such as my-project/3) on the local "
        "model PATH: a .onnx/.tflite file or a model description (.yaml). Repeatable.",
        show_default=False,
    ),
]


def map_models(pairs: list[str] | None) -> None:
    """Apply ``--model ID=PATH`` mappings to this process (before anything compiles)."""
    if pairs:
        from visionflow.models.library import map_models as apply

        apply(pairs)


def serve(**options: Any) -> None:
    """Serve workflows over HTTP: run, validate, describe, register; /docs shows the API.

    Documents with Python code, image URLs and server-side files are refused unless
    allowed here. Give an API key (or VISIONFLOW_API_KEY) on anything but loopback.
    """
    from visionflow.server import serve as serve_forever

    try:
        settings = _settings(options)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    if settings.api_key is None and not _is_loopback(settings.host):
        typer.echo(
            f"warning: serving on {settings.host} without an API key: anyone who reaches it "
            "can run workflows (give --api-key or VISIONFLOW_API_KEY)",
            err=True,
        )
    if options.get("ray") is None:
        given = [name for name in _REPLICA_OPTIONS if options.get(name) is not None]
        if given:
            raise typer.BadParameter(f"{_flag_of(given[0])} needs --ray")
        serve_forever(settings)
        return
    _serve_on_ray(settings, options)


def _serve_on_ray(settings: ServerSettings, options: dict[str, Any]) -> None:
    """``--ray [ADDRESS]``: the same API from Ray Serve (distributed/serving.py)."""
    from visionflow.cli._printing import reported
    from visionflow.distributed.cluster import keep_local_ray_on_loopback, require_ray

    with reported():
        if not options.get("ray"):  # a Ray started here: on loopback, set before its import
            keep_local_ray_on_loopback()
        require_ray()  # before serving's import: the error that names the extra
        from visionflow.distributed.serving import ServeOptions, serve_forever

        replicas = ServeOptions(
            min_replicas=options.get("min_replicas"),
            max_replicas=options.get("max_replicas"),
            batch_size=options.get("replica_batch_size"),
            max_batch_delay_s=None
            if options.get("replica_batch_delay_ms") is None
            else options["replica_batch_delay_ms"] / 1000,
            replica_cpus=options.get("replica_cpus"),
        )
        # `--ray` alone arrives as "" (cli/__init__.py OPTIONAL_VALUES): a Ray started here
        serve_forever(settings, options["ray"] or None, replicas)


_REPLICA_OPTIONS = (
    "min_replicas", "max_replicas", "replica_batch_size", "replica_batch_delay_ms", "replica_cpus",
)  # fmt: skip


def _flag_of(option: str) -> str:
    return "--" + option.replace("_", "-")


# `--ray` and the replicas' figures: not server settings (the local server has none of them)
_RAY_OPTIONS = [
    inspect.Parameter(
        "ray",
        inspect.Parameter.KEYWORD_ONLY,
        default=typer.Option(
            None,
            "--ray",
            metavar="[ADDRESS]",
            help="Serve from Ray Serve: on the cluster whose head is at ADDRESS (host:port), "
            "or on a Ray started here when no address is given. The same API; each workflow "
            "gets replicas and request batching from its models' performance properties.",
            show_default=False,
            rich_help_panel="Ray",
        ),
        annotation=str | None,
    ),
    *(
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=typer.Option(None, help=text, show_default=False, rich_help_panel="Ray"),
            annotation=kind | None,
        )
        for name, kind, text in (
            ("min_replicas", int, "With --ray: fewest replicas per workflow (default: the "
             "largest min_workers of its models, else 1)."),
            ("max_replicas", int, "With --ray: most replicas per workflow, for autoscaling "
             "(default: the largest max_workers of its models, else 1)."),
            ("replica_batch_size", int, "With --ray: most requests merged into one run "
             "(default: the largest batch_size of its models, else 8)."),
            ("replica_batch_delay_ms", float, "With --ray: how long a partial batch waits "
             "(default: the largest max_batch_delay_ms of its models, else 0)."),
            ("replica_cpus", float, "With --ray: CPUs each replica reserves (default: the "
             "largest intra_op_threads of its models, else 1)."),
        )
    ),
]  # fmt: skip


# `serve`'s options are the server settings' fields (server/settings.py): names, types,
# defaults and help come from there, so the flags and the settings cannot drift apart.


def _option(setting: Field, hinted: Any) -> inspect.Parameter:
    """The typer option for one setting (a keyword parameter of ``serve``)."""
    flag: Flag = setting.metadata["flag"]
    default = None if setting.default in (MISSING, ()) else setting.default
    kind = hinted
    if flag.unit != 1:  # e.g. MiB on the command line, bytes in the settings
        kind, default = float, setting.default / flag.unit
    elif get_origin(hinted) is tuple:
        kind = list[get_args(hinted)[0]]  # a repeatable flag
    name = flag_name(setting.name)
    option = typer.Option(
        default,
        f"{name}/--no-{name[2:]}" if kind is bool else name,
        help=flag.help + (f" (default: {flag.shown_default})" if flag.shown_default else ""),
        metavar=flag.metavar,
        envvar=flag.envvar,
        show_default=default is not None,
    )
    if default is None and get_origin(kind) is not UnionType:
        kind = kind | None  # not given: the setting's own default
    return inspect.Parameter(
        setting.name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind
    )


def _settings(options: dict[str, Any]) -> ServerSettings:
    """The settings from ``serve``'s option values (None: the setting's own default)."""
    given = {}
    for setting in fields(ServerSettings):
        value = options.get(setting.name)
        if value is None or value == []:
            continue
        if (unit := setting.metadata["flag"].unit) != 1:
            value = int(value * unit)
        given[setting.name] = tuple(value) if isinstance(value, list) else value
    return ServerSettings(**given)


_hints = get_type_hints(ServerSettings)
serve.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [_option(setting, _hints[setting.name]) for setting in fields(ServerSettings)] + _RAY_OPTIONS
)


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


def _image_files(name: str, values: list[Any]) -> list[Any]:
    """Local image files, checked as a local run checks them (the same error); the bytes
    read from stdin and URLs (``{"type": "url"}``: the server's policy decides) as given."""
    from visionflow.errors import RuntimeInputError

    sent: list[Any] = []
    for position, value in enumerate(values):
        if isinstance(value, bytes | dict):
            sent.append(value)
            continue
        if not Path(value).is_file():
            raise RuntimeInputError(
                f"no image file at '{value}'", place=f"inputs '{name}'[{position}]"
            )
        sent.append(Path(value))
    return sent


def validate_remote(
    server: str, api_key: str | None, workflow: Path, dialect: str | None
) -> dict[str, Any]:
    """``{"valid", "inputs", "outputs"}`` from the server; raises its error when not valid."""
    from visionflow.client import Client

    with Client(server, api_key=api_key) as client:
        return client.validate(**_source(workflow, dialect), raise_errors=True)
