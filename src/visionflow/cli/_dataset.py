"""``visionflow run-dataset``: a workflow over every image of a folder, resumable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from visionflow.cli._printing import print_error, reported
from visionflow.cli._serve import ModelMaps, map_models

LOCAL_RAY = ""  # what `--ray` alone gives (cli/__init__.py): a Ray started by this process


def run_dataset(
    workflow: Annotated[Path, typer.Argument(help="The workflow document.")],
    input_dir: Annotated[
        Path, typer.Option("--input", "-i", help="The folder of images (searched recursively).")
    ],
    output_dir: Annotated[
        Path, typer.Option("--output", "-o", help="Where predictions, exports and run.json go.")
    ],
    formats: Annotated[
        list[str] | None,
        typer.Option(
            "--format",
            "-f",
            metavar="FORMAT",
            help="The exports: coco (coco.json, every class of the models), yolo (labels "
            "in yolo/, with classes.txt and data.yaml), csv (a row per detection or "
            "classification in predictions.csv), jsonl (a line per image in predictions.jsonl"
            "). Several: repeat it or --format coco,yolo. Default: coco.",
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Finish a stopped run: skip the images done.")
    ] = False,
    image_input: Annotated[
        str | None, typer.Option(help="The image input to fill, if the workflow has several.")
    ] = None,
    strict_lineage: Annotated[
        bool,
        # one name: a --no-strict-lineage column (a no-op) halved the help text's width
        typer.Option(
            "--strict-lineage", help="Fail when lineage cannot be recorded (default: warn)."
        ),
    ] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            min=1,
            help="Images per workflow run (model steps get them at once). Default: 8; with "
            "--ray, the batch size of the workflow's models (8 without models).",
        ),
    ] = None,
    max_image_pixels: Annotated[
        int,
        typer.Option(
            min=1,
            help="Largest image (width x height), read from its header before decoding; a "
            "larger one fails alone.",
        ),
    ] = 100_000_000,  # data.sources.DEFAULT_MAX_PIXELS (not imported: the CLI starts light)
    model_maps: ModelMaps = None,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="[ADDRESS]",
            help="Compute the predictions on Ray actors, each holding the compiled workflow: "
            "--ray alone starts Ray here; --ray HOST:PORT joins that cluster's head. Every "
            "node must see the input and output folders at the same paths (shared storage).",
            rich_help_panel="Ray",
        ),
    ] = None,
    actors: Annotated[
        str | None,
        typer.Option(
            metavar="N|MIN-MAX",
            help="With --ray: N actors, or a pool growing from MIN to MAX with the work. "
            "Default: the models' min and max workers.",
            rich_help_panel="Ray",
        ),
    ] = None,
    actor_cpus: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="With --ray: CPUs each actor reserves. Default: the models' intra-op threads.",
            rich_help_panel="Ray",
        ),
    ] = None,
) -> None:
    """Run a workflow on each image of a folder: a JSON file per image, then the exports
    (COCO, YOLO, CSV, JSON Lines) of the images that finished.

    The run is recorded in the lineage store (VISIONFLOW_LINEAGE_URL or VISIONFLOW_HOME) as a
    task with its inputs (dataset version, workflow, model weights) and outputs.
    Ctrl-C stops it cleanly (exit code 130); --resume continues where it stopped. An image
    that cannot be read or whose run fails is listed and skipped (exit code 1); the others go on.
    With --ray, actors on a Ray cluster compute the predictions; this process writes the
    files and records the lineage, as in a local run.
    """
    from visionflow.datasets.exports import parse_formats
    from visionflow.datasets.runner import DatasetRunInterrupted, run_dataset
    from visionflow.lineage.api import Lineage

    if ray is None and (actors is not None or actor_cpus is not None):
        raise typer.BadParameter("--actors and --actor-cpus need --ray")
    lineage = Lineage(strict=True) if strict_lineage else Lineage()
    with reported():
        map_models(model_maps)
        formats = list(parse_formats(formats))  # a wrong one fails before Ray is started
        predictions = None
        if ray is not None:
            predictions = _on_ray(ray, actors, batch_size, actor_cpus, model_maps)
        try:
            summary = run_dataset(
                workflow,
                input_dir,
                output_dir,
                resume=resume,
                image_input=image_input,
                lineage=lineage,
                progress=not no_progress,
                batch_size=batch_size or 8,
                max_image_pixels=max_image_pixels,
                predictions=predictions,
                formats=formats,
            )
        except DatasetRunInterrupted as stopped:
            print_error(stopped)
            raise typer.Exit(130) from None  # the shell's code for a stop by Ctrl-C
    task = f", lineage task {summary.task_id}" if summary.task_id is not None else ""
    failed = f", {len(summary.failed)} failed" if summary.failed else ""
    typer.echo(
        f"{summary.total} images: {summary.ran} run, {summary.skipped} skipped (done before)"
        f"{failed}{task}; predictions in {summary.output}"
    )
    if summary.failed:
        for name, reason in summary.failed.items():
            typer.echo(f"  failed: {name}: {reason}", err=True)
        typer.echo(
            "  --resume retries them; to run fixed images, start a new run into a new output"
            " folder (a resume refuses an input folder that changed)",
            err=True,
        )
        raise typer.Exit(1)


def _on_ray(address: str, actors: str | None, batch_size, actor_cpus, model_maps):
    """The Ray side of the run, connected now: an unreachable cluster fails before anything
    is written."""
    from visionflow.distributed.cluster import absolute_model_maps, connect
    from visionflow.distributed.datasets import RayPredictions

    low, high = _actor_range(actors)
    address = None if address == LOCAL_RAY else address
    connect(address)
    return RayPredictions(
        address=address,
        min_actors=low,
        max_actors=high,
        batch_size=batch_size,
        actor_cpus=actor_cpus,
        model_maps=absolute_model_maps(model_maps or ()),
    )


def _actor_range(actors: str | None) -> tuple[int | None, int | None]:
    if actors is None:
        return None, None
    low, dash, high = actors.partition("-")
    if not low.strip().isdecimal() or not (high if dash else low).strip().isdecimal():
        raise typer.BadParameter(f"'{actors}' is not N or MIN-MAX", param_hint="--actors")
    return int(low), int(high or low)
