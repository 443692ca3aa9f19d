"""``run_dataset``: a workflow over every image of a folder, resumable after a stop.

    output/run.json                  the run: workflow hash, input, images, lineage task
    output/input-files.json          the input's files and content hashes when it started
    output/predictions/<image>.json  one per image, written atomically (all or nothing)
    output/images/...                image outputs as JPEG files (``files.image_file_name``)
    output/coco.json, yolo/, predictions.csv, predictions.jsonl
                                     the exports asked for (``exports.py``; COCO by default)

A run stopped half way (Ctrl-C, a killed process) is continued with ``resume=True``: an
image whose predictions file exists is finished and skipped; the others run; the exports
are rebuilt from the per-image files at the end, so no image is lost or counted twice.
A resume refuses an input folder whose content changed since the run started.
An image that cannot be read, or whose run fails, fails alone: it is listed in
``run.json`` and the summary with the reason, the others go on, and a resume retries it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visionflow.data.sources import DEFAULT_MAX_PIXELS, ImagePolicy
from visionflow.datasets.exports import parse_formats, write_exports
from visionflow.datasets.files import (
    INPUT_FILES,
    changes,
    image_files,
    remove_partial_files,
    write_json,
)
from visionflow.datasets.predict import predict_batch
from visionflow.datasets.recording import record_inputs, record_outputs
from visionflow.errors import WorkflowError


class DatasetRunError(WorkflowError):
    code = "dataset_run_error"


class DatasetRunInterrupted(DatasetRunError):
    code = "dataset_run_interrupted"


@dataclass(frozen=True)
class DatasetJob:
    """What computing a run's predictions needs: the workflow (compiled here, and its
    document, for processes that compile their own), the image input, folders, policy."""

    workflow: Any
    workflow_file: Path
    dialect: str | None
    input_name: str
    images: Path
    output: Path
    policy: ImagePolicy


Outcome = dict | str  # an image's predictions record, or why it failed
Predictions = Callable[[DatasetJob, list[str]], Iterable[tuple[str, Outcome]]]
"""Computes the predictions of the named images, yielding each as it is ready (in any
order); image outputs are written under ``job.output``, the predictions files are not."""


def local_predictions(batch_size: int) -> Predictions:
    """Predictions in this process, ``batch_size`` images a workflow run."""
    if batch_size < 1:
        raise DatasetRunError(f"batch size {batch_size} is not positive", place="--batch-size")

    def predictions(job: DatasetJob, names: list[str]) -> Iterator[tuple[str, Outcome]]:
        for start in range(0, len(names), batch_size):
            batch = names[start : start + batch_size]
            yield from predict_batch(
                job.workflow, job.input_name, job.images, job.output, batch, job.policy
            ).items()

    return predictions


@dataclass
class RunSummary:
    output: Path
    total: int
    ran: int
    skipped: int
    task_id: int | None
    exports: list[tuple[str, Path]] = field(default_factory=list)
    """(format, file or folder) of each export written."""
    failed: dict[str, str] = field(default_factory=dict)
    """Images that could not be read or whose run failed -> why (retried by a resume)."""


def run_dataset(
    workflow_file,
    images,
    output,
    *,
    resume: bool = False,
    image_input: str | None = None,
    lineage=None,
    progress: bool = True,
    dialect: str | None = None,
    batch_size: int = 8,
    max_image_pixels: int = DEFAULT_MAX_PIXELS,
    predictions: Predictions | None = None,
    formats: list[str] | tuple[str, ...] | None = None,
) -> RunSummary:
    """Run ``workflow_file`` on each image under ``images``; write predictions to ``output``.

    Images go through the workflow ``batch_size`` at a time (one run each), so model steps
    get batches; a stop loses at most the batch in progress, which a resume runs again.
    An image over ``max_image_pixels`` (read from its header, before decoding) fails alone.
    ``formats``: the exports, among ``coco``, ``yolo``, ``csv``, ``jsonl`` (default COCO);
    a resume writes those of the run it resumes as well.
    ``predictions`` computes them elsewhere (``visionflow.distributed.datasets.
    RayPredictions``: on a Ray cluster); this process still writes every file of the run
    but the image outputs, and records the lineage.
    """
    predictions = predictions or local_predictions(batch_size)
    formats = parse_formats(formats)  # a wrong one fails before anything is written
    from visionflow import Workflow
    from visionflow.compiler import definition_hash
    from visionflow.lineage import versions
    from visionflow.lineage.api import Lineage

    lineage = lineage or Lineage()
    workflow_file, images, output = Path(workflow_file), Path(images), Path(output)
    if not images.is_dir():
        raise DatasetRunError(f"'{images}' is not a folder of images", place="--input")
    if max_image_pixels < 1:
        raise DatasetRunError(
            f"the pixel limit {max_image_pixels} is not positive", place="--max-image-pixels"
        )
    policy = ImagePolicy(
        max_pixels=max_image_pixels, switches=(("pixels", "run with a larger --max-image-pixels"),)
    )
    workflow = Workflow.compile(workflow_file, dialect=dialect, image_policy=policy)
    input_name = image_input_of(workflow, image_input)
    names = image_files(images)
    contents = versions.folder_contents(images)  # what the recorded dataset version holds
    run = {
        "workflow": str(workflow_file.resolve()),
        "input": str(images.resolve()),
        "definition_hash": definition_hash(workflow.plan.definition),
        "input_hash": versions.hash_of_contents(contents),
    }
    before = _previous(output, run, resume, contents)
    if before is None:
        run["task_id"] = lineage.start_task(f"run-dataset {workflow_file.stem}", meta=dict(run))
        if run["task_id"] is None:  # not recorded (the store failed): not current either
            lineage.finish_task()
        write_json(output / INPUT_FILES, contents)
    else:
        run["task_id"] = before["task_id"]
        if run["task_id"] is not None:
            lineage.resume_task(run["task_id"])
    # the version is taken once (a resume checked that the folder still holds it) and again
    # only if the store could not take it before
    version = (before or {}).get("input_version")
    if version is None and run["task_id"] is not None:
        version = lineage.snapshot(images)
    run["input_version"] = version
    # a resume writes the exports the run had too, so that none is left without its images
    formats = tuple(dict.fromkeys([*(before or {}).get("formats", ()), *formats]))
    run["formats"] = list(formats)
    write_json(output / "run.json", {**run, "images": len(names), "status": "running"})
    # a resume records them too: a run killed while recording has the missing ones added,
    # the others are updated in place (one link per card and version)
    record_inputs(lineage, run["task_id"], version, workflow, workflow_file, images)
    remove_partial_files(output)
    done = [name for name in names if _prediction_path(output, name).is_file()]
    todo = [name for name in names if name not in set(done)]
    failed: dict[str, str] = {}
    job = DatasetJob(workflow, workflow_file, dialect, input_name, images, output, policy)
    try:
        with _ProgressBar(progress, len(names), len(done)) as advance:
            for name, outcome in predictions(job, todo) if todo else ():
                if isinstance(outcome, str):  # this image failed, with why; others go on
                    failed[name] = outcome
                else:
                    write_json(_prediction_path(output, name), outcome)  # last: it is done
                advance()
    except KeyboardInterrupt:
        finished = sum(_prediction_path(output, name).is_file() for name in names)
        write_json(output / "run.json", {**run, "images": len(names), "status": "interrupted"})
        if run["task_id"]:
            lineage.finish_task(run["task_id"], "interrupted")
        raise DatasetRunInterrupted(
            f"stopped after {finished} of {len(names)} images",
            place=str(output),
            hint="run the same command with --resume to finish the others",
        ) from None
    failed = {name: failed[name] for name in names if name in failed}  # in the run's order
    finished = [name for name in names if name not in failed]
    records = [json.loads(_prediction_path(output, n).read_text("utf-8")) for n in finished]
    exports = write_exports(workflow, output, records, formats)
    record_outputs(lineage, run["task_id"], output, exports, len(finished))
    status = "finished" if not failed else "finished with failures"
    if run["task_id"]:
        lineage.finish_task(run["task_id"], status)
    write_json(
        output / "run.json",
        {**run, "images": len(names), "status": status, "failed": failed},
    )
    ran = len(todo) - len(failed)
    return RunSummary(output, len(names), ran, len(done), run["task_id"], exports, failed)


def image_input_of(workflow, wanted: str | None) -> str:
    """The image input a dataset run fills: ``wanted``, or the workflow's only one."""
    images = [
        n for n, i in workflow.inputs.items() if "image" in i["kinds"] and i["dimensionality"]
    ]
    if wanted is not None and wanted in images:
        return wanted
    if wanted is None and len(images) == 1:
        return images[0]
    raise DatasetRunError(
        f"the workflow's image inputs are {images or 'none'}; "
        + ("choose one" if wanted is None else f"'{wanted}' is not one of them"),
        place="--image-input",
        hint="a dataset run gives each image to one image input",
    )


def _previous(output: Path, run: dict, resume: bool, contents: dict) -> dict[str, Any] | None:
    """The run to resume, checked to be this one on the same data; None for a new run."""
    manifest = output / "run.json"
    if not resume:
        if manifest.exists():
            raise DatasetRunError(
                "the output folder holds a run already",
                place=str(output),
                hint="pass --resume to finish it, or choose a new output folder",
            )
        return None
    if not manifest.is_file():
        raise DatasetRunError(
            "there is no run to resume here", place=str(output), hint="run once without --resume"
        )
    before = json.loads(manifest.read_text(encoding="utf-8"))
    for key in ("input", "definition_hash"):
        if before[key] != run[key]:
            raise DatasetRunError(
                f"the run to resume had another {key.replace('_', ' ')}: {before[key]}",
                place=str(output),
                hint="resume with the same workflow and input folder",
            )
    if before["input_hash"] != run["input_hash"]:
        listed = output / INPUT_FILES
        started = json.loads(listed.read_text("utf-8")) if listed.is_file() else {}
        raise DatasetRunError(
            f"the input folder changed since the run started: {changes(started, contents)}",
            place=run["input"],
            hint="its predictions and lineage are of the data it started with: start a new "
            "run into a new output folder (without --resume)",
        )
    return before


def _prediction_path(output: Path, name: str) -> Path:
    return output / "predictions" / f"{name}.json"


class _ProgressBar:
    """A rich progress bar on stderr (or nothing); entering gives the advance function."""

    def __init__(self, shown: bool, total: int, done: int):
        self.progress = None
        if shown:
            from rich.console import Console
            from rich.progress import Progress

            self.progress = Progress(console=Console(stderr=True))
            self.task = self.progress.add_task("images", total=total, completed=done)

    def __enter__(self):
        if self.progress is None:
            return lambda: None
        self.progress.start()
        return lambda: self.progress.advance(self.task)

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()
