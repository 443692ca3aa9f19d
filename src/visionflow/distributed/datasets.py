"""Workflows over Ray Data: ``map_batches`` over a pool of actors that each hold the workflow.

Each actor compiles the workflow once, when it starts (its models load once), then runs
it on the batches Ray gives it. Two ways in:

- ``RayPredictions``: the "compute the predictions" part of ``run-dataset --ray``. The
  driver (the ``visionflow`` process) keeps the rest of the run: it lists the images,
  writes each predictions file as its row arrives, the exports, ``run.json`` and the one
  lineage task. The actors read the images from the input folder and write the image
  outputs into the output folder by their paths: every node must see both at the same
  paths (a shared filesystem); an actor that does not fails its images with that reason.
- ``run_workflow_on_dataset``: any ``ray.data.Dataset`` with an image column, giving a
  Dataset of the serialised outputs, for pipelines that are Ray Data already.

Faults: Ray restarts an actor that dies (``max_restarts=-1``) and retries the batch it
held (up to ``BATCH_RETRIES`` times: a batch that kills every actor stops the run, as a
crash stops a local one); Ray Data emits a batch's rows only once it completed,
so a retried batch yields its rows once, and the driver writes each predictions file once.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from visionflow.data.sources import DEFAULT_MAX_PIXELS, ImagePolicy
from visionflow.datasets.predict import predict_batch, run_alone_on_failure
from visionflow.datasets.runner import DatasetJob, DatasetRunError, Outcome, image_input_of
from visionflow.distributed.cluster import connect, forwarded_environment, require_ray
from visionflow.distributed.scaling import RayScaling, scaling_of
from visionflow.errors import WorkflowError

if TYPE_CHECKING:
    import ray.data

# What the actors' processes must see as the driver does: where plugin blocks and extra
# models are (a worker's environment is its raylet's, not the driver's).
# run-dataset's flags for the scaling figures, named by errors in them
DATASET_FLAGS = {
    "min_actors": "--actors",
    "max_actors": "--actors",
    "batch_size": "--batch-size",
    "num_cpus": "--actor-cpus",
}
BATCH_RETRIES = 3
"""How many times a batch whose actor died is sent again (to a restarted actor) before the
run stops: a batch that kills every actor it meets would otherwise be retried forever."""
# A dataset run starts once its fewest actors are up, so the first ready does not take the
# work of the others; a cluster that cannot place them in this time is an error, not a hang.
ACTORS_START_S = 600


class _CompiledWorkflow:
    """An actor's workflow, compiled once when the actor starts (models load once)."""

    def __init__(
        self,
        workflow: Any,
        dialect: str | None,
        image_input: str | None,
        max_pixels: int,
        model_maps: list[str] | None,
    ):
        from visionflow import Workflow

        if model_maps:  # the driver's --model ID=PATH, for this process
            from visionflow.models.library import map_models

            map_models(model_maps)
        self.policy = ImagePolicy(
            max_pixels=max_pixels, switches=(("pixels", "run with a larger --max-image-pixels"),)
        )
        self.workflow = Workflow.compile(workflow, dialect=dialect, image_policy=self.policy)
        self.input_name = image_input_of(self.workflow, image_input)


class _FolderActor(_CompiledWorkflow):
    """Rows ``{"image": name}`` -> the image's predictions record (JSON) or why it failed."""

    def __init__(self, folder: str, output: str, **compiled: Any):
        super().__init__(**compiled)
        self.folder, self.output = Path(folder), Path(output)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = [str(name) for name in batch["image"]]
        unseen = [str(p) for p in (self.folder, self.output) if not p.is_dir()]
        if unseen:
            why = _not_shared(unseen)
            outcomes: dict[str, Outcome] = dict.fromkeys(names, why)
        else:
            outcomes = predict_batch(
                self.workflow, self.input_name, self.folder, self.output, names, self.policy
            )
        records = [outcomes[n] for n in names]
        return {
            "image": np.array(names, dtype=object),
            "record": _column([json.dumps(r, default=str) if isinstance(r, dict) else None
                               for r in records]),
            "error": _column([r if isinstance(r, str) else None for r in records]),
        }  # fmt: skip


class _RowActor(_CompiledWorkflow):
    """A batch of rows -> the same rows with ``outputs`` (JSON) and ``error`` added."""

    def __init__(self, image_column: str, array_channels: str, **compiled: Any):
        super().__init__(**compiled)
        self.column, self.swap = image_column, array_channels == "RGB"

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from visionflow import serialize
        from visionflow.data.image import load_image

        outcomes: list[Any] = [None] * len(batch[self.column])
        loaded: list[tuple[int, Any]] = []
        for index, value in enumerate(batch[self.column]):
            try:
                image = load_image(self._as_bgr(value), place=self.column, policy=self.policy)
                loaded.append((index, image))
            except WorkflowError as error:  # unreadable, or over the pixel limit: alone
                outcomes[index] = str(error)
        if loaded:
            images = [image for _, image in loaded]
            results = run_alone_on_failure(self.workflow, self.input_name, images)
            for (index, _), result in zip(loaded, results, strict=True):
                outcomes[index] = result
        return {
            **batch,
            "outputs": _column([None if isinstance(o, str)
                                else json.dumps(serialize(o), default=str) for o in outcomes]),
            "error": _column([o if isinstance(o, str) else None for o in outcomes]),
        }  # fmt: skip

    def _as_bgr(self, value: Any) -> Any:
        pixels = isinstance(value, np.ndarray) and value.dtype != object and value.ndim == 3
        if pixels and self.swap and value.shape[2] in (3, 4):  # RGB(A) -> BGR(A), as OpenCV
            return np.ascontiguousarray(value[:, :, [2, 1, 0, 3][: value.shape[2]]])
        return value


def _column(values: list[Any]) -> np.ndarray:
    column = np.empty(len(values), dtype=object)
    column[:] = values
    return column


def _not_shared(paths: list[str]) -> str:
    import socket

    return (
        f"this Ray node ({socket.gethostname()}) does not see {' or '.join(paths)}: a Ray "
        "dataset run reads the input folder and writes the output folder at the same paths "
        "on every node (a shared filesystem mounted alike everywhere)"
    )


@dataclass(frozen=True)
class RayPredictions:
    """A dataset run's predictions computed on Ray (``run_dataset(predictions=...)``).

    ``address``: the cluster's head (None: the connection this process has, or a Ray
    started here). The actor pool, the batch size and each actor's CPUs are the
    workflow's (``scaling_of``: its models' min/max workers, batch size, threads), or the
    values given here.

    >>> run_dataset("w.yaml", "photos", "out", predictions=RayPredictions(max_actors=4))
    ... # doctest: +SKIP
    """

    address: str | None = None
    min_actors: int | None = None
    max_actors: int | None = None
    batch_size: int | None = None
    actor_cpus: float | None = None
    model_maps: tuple[str, ...] = ()

    def scaling(self, workflow: Any) -> RayScaling:
        return scaling_of(
            workflow,
            places=DATASET_FLAGS,
            min_actors=self.min_actors,
            max_actors=self.max_actors,
            batch_size=self.batch_size,
            num_cpus=self.actor_cpus,
        )

    def __call__(self, job: DatasetJob, names: list[str]) -> Iterator[tuple[str, Outcome]]:
        ray = require_ray()
        connect(self.address)
        scaling = self.scaling(job.workflow)
        _quiet_progress(ray)
        ray.data.DataContext.get_current().wait_for_min_actors_s = ACTORS_START_S
        rows = ray.data.from_items([{"image": name} for name in names])
        predicted = _map(
            ray,
            rows,
            _FolderActor,
            scaling,
            {
                "folder": str(job.images.resolve()),
                "output": str(job.output.resolve()),
                **_compiled(
                    str(job.workflow_file.resolve()),
                    job.dialect,
                    job.input_name,
                    job.policy.max_pixels,
                    self.model_maps,
                ),
            },
        )
        try:
            for row in predicted.iter_rows():  # as each batch finishes, in any order
                record = row["record"]
                yield row["image"], json.loads(record) if record is not None else row["error"]
        except ray.exceptions.GetTimeoutError:
            raise DatasetRunError(
                f"the cluster did not start {scaling.min_actors} actors of "
                f"{scaling.num_cpus:g} CPUs each within {ACTORS_START_S} s",
                place=self.address or "local Ray",
                hint="ask for fewer (--actors) or smaller (--actor-cpus) actors, or add nodes",
            ) from None
        except ray.exceptions.RayError as error:
            raise DatasetRunError(
                f"the Ray run stopped: {' '.join(str(error).split())[:400]}",
                place=self.address or "local Ray",
                hint="the predictions written so far are kept: --resume runs the others; "
                f"an actor that died {BATCH_RETRIES + 1} times on one batch points at an "
                "image that kills its process (memory, a crash in a model): run that "
                "batch's images locally to find it",
            ) from None


def run_workflow_on_dataset(
    workflow: Any,
    dataset: ray.data.Dataset,
    *,
    image_column: str = "image",
    array_channels: str = "RGB",
    image_input: str | None = None,
    dialect: str | None = None,
    min_actors: int | None = None,
    max_actors: int | None = None,
    batch_size: int | None = None,
    actor_cpus: float | None = None,
    max_image_pixels: int = DEFAULT_MAX_PIXELS,
) -> ray.data.Dataset:
    """The workflow on each row of ``dataset``, on a pool of Ray actors (lazy, like any
    Dataset): every column as it came, plus ``outputs`` (the row's serialised outputs as
    JSON text, images as base64, as ``visionflow run`` prints them) and ``error`` (None,
    or why the row failed: an unreadable image, or a failing run; other rows go on).

    ``workflow``: what ``Workflow.compile`` takes (a file path, seen alike on every node,
    a document dict or text). ``image_column`` holds, per row, encoded image bytes (a
    file's content), a file path (read on the actor's node) or pixels as a numpy array,
    taken as RGB as ``ray.data.read_images`` gives them (``array_channels="BGR"`` for
    arrays in OpenCV's order). The actor pool, batch size and each actor's CPUs are the
    workflow's (its models' performance properties), or the values given here.

    >>> import json, ray
    >>> photos = ray.data.read_images("photos/", include_paths=True)
    >>> out = run_workflow_on_dataset("faces.yaml", photos, max_actors=2)
    >>> for row in out.select_columns(["path", "outputs", "error"]).iter_rows():
    ...     print(row["path"], row["error"] or json.loads(row["outputs"])["faces"])
    ... # doctest: +SKIP
    """
    from visionflow import Workflow

    ray = require_ray()
    if array_channels not in ("RGB", "BGR"):
        raise DatasetRunError(
            f"array_channels is 'RGB' or 'BGR', not {array_channels!r}", place="array_channels"
        )
    columns = dataset.columns(fetch_if_missing=False)  # None: unknown until it runs
    if columns is not None and image_column not in columns:
        raise DatasetRunError(
            f"the dataset has no column '{image_column}' (its columns: {columns})",
            place="image_column",
        )
    compiled = Workflow.compile(workflow, dialect=dialect)  # here too: errors surface now
    source = _absolute_if_file(workflow)  # the actors' working folder is not this one
    scaling = scaling_of(
        compiled,
        min_actors=min_actors,
        max_actors=max_actors,
        batch_size=batch_size,
        num_cpus=actor_cpus,
    )
    arguments = {
        "image_column": image_column,
        "array_channels": array_channels,
        **_compiled(
            source,
            dialect,
            image_input_of(compiled, image_input),
            max_image_pixels,
            (),
        ),
    }
    return _map(ray, dataset, _RowActor, scaling, arguments)


def _absolute_if_file(workflow: Any) -> Any:
    try:
        if isinstance(workflow, str | Path) and Path(workflow).is_file():
            return str(Path(workflow).resolve())
    except OSError:  # document text too long to be a file name
        pass
    return workflow


def _compiled(
    workflow: Any, dialect: str | None, image_input: str, max_pixels: int, maps: tuple[str, ...]
) -> dict[str, Any]:
    return {
        "workflow": workflow,
        "dialect": dialect,
        "image_input": image_input,
        "max_pixels": max_pixels,
        "model_maps": list(maps),
    }


def _map(ray: Any, dataset: Any, actor: type, scaling: RayScaling, arguments: dict) -> Any:
    """``map_batches`` over a pool of ``actor`` sized by ``scaling``; a dead actor is
    restarted and its batch retried (``BATCH_RETRIES`` times at most)."""
    variables = forwarded_environment()
    with warnings.catch_warnings():
        # Ray 2.60 takes the retry bound only as a free keyword (said deprecated, to go in
        # 2.64: the extra asks for ray<2.64); without it a batch that kills every actor
        # it meets would be sent again forever
        warnings.filterwarnings("ignore", "`ray_remote_args` is deprecated")
        return _map_batches(ray, dataset, actor, scaling, arguments, variables)


def _map_batches(
    ray: Any, dataset: Any, actor: type, scaling: RayScaling, arguments: dict, variables: dict
) -> Any:
    return dataset.map_batches(
        actor,
        fn_constructor_kwargs=arguments,
        batch_size=scaling.batch_size,
        batch_format="numpy",
        # two batches per actor: the next is there when one ends (one alone leaves the actor
        # idle while the driver hands it over: 1.4x instead of 2x from 2 actors, measured);
        # no more, so that a dead actor's retry is short and the pool shares the work evenly
        compute=ray.data.ActorPoolStrategy(
            min_size=scaling.min_actors,
            max_size=scaling.max_actors,
            max_tasks_in_flight_per_actor=2,
        ),
        num_cpus=scaling.num_cpus,
        runtime_env={"env_vars": variables} if variables else None,
        max_restarts=-1,  # a dead actor is always replaced (Ray Data's default, said here)
        max_task_retries=BATCH_RETRIES,
    )


def _quiet_progress(ray: Any) -> None:
    """The dataset run shows its own progress bar: none of Ray Data's besides, nor its
    notes that they are off and when an execution started or finished."""
    import logging

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    for name in ("ray.data._internal.progress", "ray.data._internal.execution.streaming_executor"):
        logging.getLogger(name).setLevel(logging.WARNING + 1)
