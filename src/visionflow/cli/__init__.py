"""The ``visionflow`` command: run and check workflows, describe blocks and kinds.

    visionflow run workflow.yaml --input image=photo.jpg --input confidence=0.4
    visionflow validate workflow.yaml
    visionflow blocks DynamicCrop
    visionflow serve --port 9001 --workflows workflows/
    visionflow run workflow.yaml --server http://127.0.0.1:9001 --input image=photo.jpg

The engine, rich and YAML are imported inside the commands, so that importing this package
stays quick.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from visionflow.cli import _dataset, _graph, _inspect, _lineage, _schema, _serve, _versions, _video
from visionflow.cli._printing import (
    console,
    echo_json,
    missing_extra,
    print_error,
    print_table,
    reported,
    shown,
)

# Options whose value may be left out (`--ray` alone: a Ray started here). Click options
# take one value or none, so a bare one is given the empty value before parsing. What
# follows is its value only if it can be a Ray address (HOST:PORT, ray://..., auto,
# local): an option, or the workflow file in `run-dataset --ray faces.yaml`, is not.
OPTIONAL_VALUES = ("--ray",)


def _is_ray_address(arg: str) -> bool:
    return not arg.startswith("-") and (":" in arg or arg in ("auto", "local"))


class _Commands(typer.core.TyperGroup):
    def parse_args(self, ctx, args: list[str]) -> list[str]:
        bare = [
            i
            for i, arg in enumerate(args)
            if arg in OPTIONAL_VALUES and (i + 1 == len(args) or not _is_ray_address(args[i + 1]))
        ]
        given = [f"{arg}=" if i in bare else arg for i, arg in enumerate(args)]
        return super().parse_args(ctx, given)

    def get_command(self, ctx, name: str):
        command = super().get_command(ctx, name)
        if command is not None and command.help:
            # typer keeps a docstring's line breaks after its first paragraph: rewrapped
            # to the terminal, they left lines cut half way ("... as a" / "task with ...")
            command.help = "\n\n".join(
                " ".join(paragraph.split()) for paragraph in command.help.split("\n\n")
            )
        return command


app = typer.Typer(
    cls=_Commands, no_args_is_help=True, add_completion=False, rich_markup_mode="rich"
)

WorkflowFile = Annotated[Path, typer.Argument(help="The workflow document (.yaml, .yml or .json).")]
Dialect = Annotated[
    str | None, typer.Option(help="The document's dialect (default: detected).", show_default=False)
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def main() -> None:
    """The ``visionflow`` console script."""
    try:
        app()
    except ModuleNotFoundError as error:  # raised while a command imported what it needs
        missing = missing_extra(error)
        if missing is None:
            raise
        print_error(missing)
        raise SystemExit(1) from None


def _show_version(value: bool) -> None:
    if value:
        from visionflow import __version__

        typer.echo(f"visionflow {__version__}")
        raise typer.Exit()


@app.callback(epilog="Example: [bold]visionflow run crop.yaml --input image=photo.jpg[/]")
def _app(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Run deep-learning workflows written as YAML: check them, run them, look up their blocks."""


@app.command(
    epilog="Example: [bold]visionflow run crop.yaml -i image=a.jpg -i image=b.jpg "
    "-i ratio=0.5 --no-images[/]"
)
def run(
    workflow: WorkflowFile,
    inputs: Annotated[
        list[str] | None,
        typer.Option(
            "--input",
            "-i",
            metavar="NAME=VALUE",
            help="An input value. An image is a file path, a folder or quoted glob (its "
            "images, a batch), - (the bytes on stdin) or an http(s) URL (with --allow-urls); "
            "other values are read as YAML (0.5, true, \\[1, 2]; anything else is text). "
            "Repeat a name to make a batch.",
        ),
    ] = None,
    allow_urls: Annotated[
        bool,
        typer.Option("--allow-urls", help="Download images given as http(s) URLs."),
    ] = False,
    max_image_pixels: Annotated[
        int,
        typer.Option(
            min=1,
            help="Largest image (width x height), read from its header before decoding.",
        ),
    ] = 100_000_000,  # data.sources.DEFAULT_MAX_PIXELS (not imported: the CLI starts light)
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the results to this JSON file.")
    ] = None,
    no_images: Annotated[
        bool, typer.Option("--no-images", help='Write images as "<jpeg, N bytes>", not base64.')
    ] = False,
    save_images: Annotated[
        Path | None,
        typer.Option(
            "--save-images",
            metavar="DIR",
            file_okay=False,
            # No long unbroken token here: an 80-column terminal cuts one off with "...".
            help="Write each image output to DIR as a JPEG file and put its path in the JSON "
            "instead of base64. A file is named after the input image file's stem (-N added "
            "when two share one), the output's name and each list position inside it: "
            "photo_annotated.jpg, photo_crops_0.jpg.",
        ),
    ] = None,
    inspect_page: _inspect.InspectPage = None,
    profile_trace: _inspect.ProfileTrace = None,
    dialect: Dialect = None,
    server: _serve.Server = None,
    api_key: _serve.ApiKey = None,
    model_maps: _serve.ModelMaps = None,
) -> None:
    """Run a workflow and print its results as JSON: one object per input element.

    A mistake in the workflow or in the inputs is reported with its place and a hint; exit code 1.
    """
    from visionflow.cli._inputs import command_line_policy, without_images

    if server is not None and model_maps:
        raise typer.BadParameter(
            "--model maps models of this process; with --server, give it to "
            "`visionflow serve` instead",
            param_hint="--model",
        )
    _inspect.refuse_remote(server, inspect_page, profile_trace)
    with reported():
        _serve.map_models(model_maps)
        if server is not None:
            results = _serve.run_remote(server, api_key, workflow, inputs or [], dialect)
        elif inspect_page is not None or profile_trace is not None:
            results = _inspect.run_inspected(
                workflow,
                inputs or [],
                _checked_dialect(dialect),
                inspect_page,
                profile_trace,
                policy=command_line_policy(allow_urls, max_image_pixels),
            )
        else:
            policy = command_line_policy(allow_urls, max_image_pixels)
            results = _run_here(workflow, inputs or [], _checked_dialect(dialect), policy)
        if save_images is not None:
            from visionflow.cli import _images_out

            names = _images_out.element_names(workflow, dialect, inputs or [], len(results))
            results = _images_out.save_images(results, save_images, names)
    if no_images:
        results = without_images(results)
    if output is None:
        echo_json(results)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    typer.echo(f"wrote {len(results)} result(s) to {output}")


def _run_here(workflow: Path, pairs: list[str], dialect: str | None, policy: Any) -> list:
    from visionflow import Workflow
    from visionflow.cli._inputs import runtime_inputs

    compiled = Workflow.compile(workflow, dialect=dialect, image_policy=policy)
    return compiled.run(runtime_inputs(compiled.inputs, pairs), serialize=True)


@app.command(epilog="Example: [bold]visionflow validate crop.yaml --json[/]")
def validate(
    workflow: WorkflowFile,
    as_json: AsJson = False,
    dialect: Dialect = None,
    server: _serve.Server = None,
    api_key: _serve.ApiKey = None,
    model_maps: _serve.ModelMaps = None,
) -> None:
    """Compile a workflow without running it: its inputs and outputs, or its errors.

    Every step's block and fields are checked, so each wrong step is reported, not only the
    first; connections are checked once the steps are right. Models are checked against
    their files (task, format, outputs), not loaded.
    """
    from visionflow import Workflow

    with reported(as_json, valid=False):
        _serve.map_models(model_maps)
        if server is not None:
            checked = _serve.validate_remote(server, api_key, workflow, dialect)
            declared, produced = checked["inputs"], checked["outputs"]
        else:
            compiled = Workflow.compile(
                workflow, dialect=_checked_dialect(dialect), load_models=False, cache=False
            )
            declared, produced = compiled.inputs, compiled.outputs
    if as_json:
        echo_json({"valid": True, "inputs": declared, "outputs": produced})
        return
    inputs = declared.items()
    print_table(
        "inputs",
        ["name", "type", "kinds", "default"],
        [
            [
                n,
                i["type"],
                ", ".join(i["kinds"]),
                shown(i["default_value"]) if i["has_default"] else "required",
            ]
            for n, i in inputs
        ],
    )
    outputs = produced.items()
    print_table(
        "outputs",
        ["name", "selector", "kinds", "dimensionality"],
        [[n, o["selector"], ", ".join(o["kinds"]), o["dimensionality"]] for n, o in outputs],
        caption="dimensionality 0: one value per run, 1: per input element, 2: a list per element",
    )
    console().print("valid", style="bold green")


@app.command(epilog="Examples: [bold]visionflow blocks[/] · [bold]visionflow blocks DynamicCrop[/]")
def blocks(
    type_name: Annotated[
        str | None, typer.Argument(metavar="TYPE", help="A block's type name or alias.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """List every block, or describe one: its fields, outputs and how the engine calls it."""
    from visionflow.blocks.loader import load_registry
    from visionflow.cli._blocks import (
        block_details,
        block_summary,
        category_rank,
        find_block,
        print_block,
    )

    with reported(as_json):
        registry = load_registry()
        loaded = find_block(registry, type_name) if type_name else None
    if loaded is not None:
        if as_json:
            echo_json(block_details(loaded))
        else:
            print_block(block_details(loaded))
        return
    listing = [block_summary(item) for item in registry.block_classes()]
    listing.sort(key=lambda block: category_rank(block["category"]))  # stable within a group
    if as_json:
        echo_json(listing)
        return
    rows = [
        [b["category"], b["type"], ", ".join(b["aliases"]), b["summary"], b["plugin"]]
        for b in listing
    ]
    print_table("blocks", ["group", "type", "aliases", "description", "plugin"], rows, whole=3)


@app.command(epilog="Example: [bold]visionflow kinds --json[/]")
def kinds(as_json: AsJson = False) -> None:
    """List the kinds (data types) that inputs, block fields and outputs declare."""
    from visionflow.blocks.loader import load_registry
    from visionflow.kinds import all_kinds

    with reported(as_json):
        load_registry()  # plugins register their kinds when they load
    listing = [{"name": kind.name, "description": kind.description} for kind in all_kinds()]
    if as_json:
        echo_json(listing)
    else:
        print_table(
            "kinds", ["kind", "description"], [[k["name"], k["description"]] for k in listing]
        )


@app.command(
    epilog="Examples: [bold]visionflow models[/] · "
    "[bold]visionflow models mediapipe/face_detection_short_range[/] · "
    "[bold]visionflow models --providers[/]"
)
def models(
    model_id: Annotated[
        str | None, typer.Argument(metavar="ID", help="A zoo id: show its full spec.")
    ] = None,
    as_json: AsJson = False,
    providers: Annotated[
        bool,
        typer.Option(
            "--providers",
            help="List the execution providers this machine has (onnxruntime, LiteRT).",
        ),
    ] = False,
) -> None:
    """List the models of the zoo (shipped inside PyPI packages, never downloaded).

    Add your own: a YAML description (id, path, task, format, labels, pre/post-processing)
    next to your .onnx or .tflite file, in a folder named by VISIONFLOW_MODELS.
    """
    from visionflow.cli._models import model_details, model_rows

    if providers:
        from visionflow.models.providers import machine_providers

        found = machine_providers()
        if as_json:
            echo_json(found)
        else:
            rows = [[p["runtime"], p["provider"], p["name"] or "-"] for p in found]
            print_table("providers", ["runtime", "provider", "name"], rows)
        return
    if model_id is not None:
        with reported(as_json):
            details = model_details(model_id)
        if as_json:
            echo_json(details)
        else:
            print_table("model", ["field", "value"], [[k, shown(v)] for k, v in details.items()])
        return
    listing = model_rows()
    if as_json:
        echo_json(listing)
        return
    rows = [
        [
            m["id"],
            f"{m['task']} / {m['format']}",
            "yes" if m["installed"] else m["install"],
            m["description"],
        ]
        for m in listing
    ]
    print_table("models", ["id", "task / format", "installed", "description"], rows, keep=(2,))


app.command(
    "serve",
    epilog="Example: [bold]visionflow serve --port 9001 --workflows workflows/ --api-key KEY[/]",
)(_serve.serve)

app.command(
    "run-dataset",
    epilog="Example: [bold]visionflow run-dataset faces.yaml --input photos/ --output out/[/]",
)(_dataset.run_dataset)
app.command(
    "run-video",
    epilog="Example: [bold]visionflow run-video count.yaml traffic.mp4 "
    "--output-video out.mp4 --jsonl out.jsonl[/]",
)(_video.run_video)
app.add_typer(_lineage.lineage_app, name="lineage")
app.add_typer(_versions.versions_app, name="versions")
app.command("schema", epilog=_schema.EPILOG)(_schema.schema)
app.command("graph", epilog=_graph.EPILOG)(_graph.graph)


def _checked_dialect(dialect: str | None) -> str | None:
    from visionflow.dialects import DIALECTS

    if dialect is not None and dialect not in DIALECTS:
        raise typer.BadParameter(
            f"unknown dialect '{dialect}'; known: {', '.join(sorted(DIALECTS))}",
            param_hint="--dialect",
        )
    return dialect
