"""``visionflow run-dataset``: a workflow over every image of a folder, resumable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from visionflow.cli._printing import print_error, reported
from visionflow.cli._serve import ModelMaps, map_models


def run_dataset(
    workflow: Annotated[Path, typer.Argument(help="The workflow document.")],
    input_dir: Annotated[
        Path, typer.Option("--input", "-i", help="The folder of images (searched recursively).")
    ],
    output_dir: Annotated[
        Path, typer.Option("--output", "-o", help="Where predictions, COCO and run.json go.")
    ],
    resume: Annotated[
        bool, typer.Option("--resume", help="Finish a stopped run: skip the images done.")
    ] = False,
    image_input: Annotated[
        str | None, typer.Option(help="The image input to fill, if the workflow has several.")
    ] = None,
    strict_lineage: Annotated[
        bool, typer.Option(help="Fail when lineage cannot be recorded (default: warn).")
    ] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size", min=1, help="Images per workflow run (model steps get them at once)."
        ),
    ] = 8,
    max_image_pixels: Annotated[
        int,
        typer.Option(
            min=1,
            help="Largest image (width x height), read from its header before decoding; a "
            "larger one fails alone.",
        ),
    ] = 100_000_000,  # data.sources.DEFAULT_MAX_PIXELS (not imported: the CLI starts light)
    model_maps: ModelMaps = None,
) -> None:
    """Run a workflow on each image of a folder: a JSON file per image, COCO for detections.

    The run is recorded in the lineage store (VISIONFLOW_LINEAGE_URL or VISIONFLOW_HOME) as a
    task with its inputs (dataset version, workflow, model weights) and outputs.
    Ctrl-C stops it cleanly (exit code 130); --resume continues where it stopped. An image
    that cannot be read or whose run fails is listed and skipped (exit code 1); the others go on.
    """
    from visionflow.datasets.runner import DatasetRunInterrupted, run_dataset
    from visionflow.lineage.api import Lineage

    lineage = Lineage(strict=True) if strict_lineage else Lineage()
    with reported():
        map_models(model_maps)
        try:
            summary = run_dataset(
                workflow,
                input_dir,
                output_dir,
                resume=resume,
                image_input=image_input,
                lineage=lineage,
                progress=not no_progress,
                batch_size=batch_size,
                max_image_pixels=max_image_pixels,
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
