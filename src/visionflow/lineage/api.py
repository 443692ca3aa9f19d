"""Recording lineage: tasks and the cards they read (inputs) and wrote (outputs).

    lineage = Lineage()
    with lineage.task("train detector") as task_id:
        lineage.add_input_project("data/cars", version_num=3)
        lineage.add_output_file("runs/best.onnx", model_weight=True)

``task_id`` defaults to the current task (the innermost ``task()`` or ``start_task()``).
Mistakes in the arguments raise at once; a failure of the store itself is logged and the
work goes on, unless the lineage is strict (``strict=True`` or VISIONFLOW_LINEAGE_STRICT=1).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from visionflow.lineage.add_calls import AddCall, add_method
from visionflow.lineage.cards import CardSettings, card_settings
from visionflow.lineage.current import current, current_task, forget, push, unrecorded_id
from visionflow.lineage.errors import (
    DataLineageError,
    NoCurrentTaskError,
    NotFoundError,
    StoreError,
)
from visionflow.lineage.records import (
    check_version_arguments,
    checked_meta,
    data_node,
    flushed_id,
    identity,
    link_row,
    resumed,
    task_node,
    version_row,
)
from visionflow.lineage.schema import Node, utc_now
from visionflow.lineage.store import Store, default_store

log = logging.getLogger("visionflow.lineage")
STRICT_VARIABLE = "VISIONFLOW_LINEAGE_STRICT"
Card = CardSettings | dict[str, Any] | None
T = TypeVar("T")
__all__ = ["Card", "Lineage", "current_task"]


class Lineage:
    """The lineage API over a store (by default the one the environment names)."""

    def __init__(self, store: Store | None = None, *, strict: bool | None = None):
        self._store = store
        env_strict = os.environ.get(STRICT_VARIABLE, "").lower() in ("1", "true", "yes")
        self.strict = env_strict if strict is None else strict

    @property
    def store(self) -> Store:
        return self._store or default_store()

    # --- tasks ---------------------------------------------------------------------------

    def start_task(self, name: str, *, meta: dict | None = None, card: Card = None) -> int | None:
        """Record a running task and make it the current one; its id (None if not recorded)."""
        task_id = self._start(name, meta, card)
        return task_id if task_id > 0 else None

    def _start(self, name: str, meta: dict | None, card: Card) -> int:
        settings = card_settings(card, "task card")
        task = Node(
            kind="task",
            key=uuid.uuid4().hex,
            name=name,
            status="running",
            card=settings,
            meta=checked_meta(meta, "start_task"),
        )
        task_id = self._recorded(f"start task '{name}'", lambda s: flushed_id(s, task))
        task_id = unrecorded_id() if task_id is None else task_id
        push(task_id)
        return task_id

    def finish_task(self, task_id: int | None = None, status: str = "finished") -> None:
        """Mark a task finished (or ``failed``, ``interrupted``, ...) and no longer current."""
        task_id = task_id or self._task(None, "finish_task")
        if task_id > 0:

            def write(session: Session) -> None:
                task = task_node(session, task_id)
                task.status, task.finished_at = status, utc_now()

            self._recorded(f"finish task {task_id}", write)
        forget(task_id)

    def resume_task(self, task_id: int) -> None:
        """Make a recorded task current and running again (a resumed run)."""
        self._recorded(f"resume task {task_id}", lambda s: resumed(s, task_id))
        push(task_id)

    @contextmanager
    def task(
        self, name: str, *, meta: dict | None = None, card: Card = None
    ) -> Iterator[int | None]:
        """A task around a block of work: ``finished``, or ``failed`` if the block raises."""
        task_id = self._start(name, meta, card)
        try:
            yield task_id if task_id > 0 else None
        except BaseException:
            self.finish_task(task_id, "failed")
            raise
        self.finish_task(task_id, "finished")

    # --- inputs and outputs: each method made from its row in add_calls.py -----------------

    add_input_project = add_method("add_input_project")
    add_output_project = add_method("add_output_project")
    add_input_dataset = add_method("add_input_dataset")
    add_output_dataset = add_method("add_output_dataset")
    add_input_file = add_method("add_input_file")
    add_output_file = add_method("add_output_file")
    add_input_folder = add_method("add_input_folder")
    add_output_folder = add_method("add_output_folder")
    add_input_task = add_method("add_input_task")
    add_output_task = add_method("add_output_task")
    add_input_labeling_job = add_method("add_input_labeling_job")
    add_output_labeling_job = add_method("add_output_labeling_job")
    add_output_app = add_method("add_output_app")

    def _add(
        self,
        call: AddCall,
        thing: Any,
        *,
        version_id: int | None = None,
        version_num: int | None = None,
        model_weight: bool = False,
        task_id: int | None = None,
        meta: dict | None = None,
        card: Card = None,
        task_card: Card = None,
        replace_task_card: bool = False,
    ) -> int | None:
        """The one write behind every ``add_*`` method (and Supervisely's, which replace
        the task's card with the last one given instead of merging them)."""
        name, kind, direction = call.name, call.kind, call.direction
        check_version_arguments(name, kind, version_id, version_num)
        relation = card_settings(card, f"{name}: card")
        main = card_settings(task_card, f"{name}: task_card")
        meta = checked_meta(meta, name)
        key, shown = identity(kind, thing, name)
        task_id = self._task(task_id, name)
        if kind == "task" and int(key) == task_id:
            raise DataLineageError(
                f"task {task_id} cannot be its own {direction}",
                place=name,
                hint="link it to another task (its id, as start_task returned it)",
            )
        if task_id < 0:  # its task was not recorded (the store failed): nothing to link to
            return None

        def write(session: Session) -> int:
            task = task_node(session, task_id)
            if main:
                task.card = main if replace_task_card else {**task.card, **main}
            if kind == "task":
                node = task_node(session, int(key))
            else:
                node = data_node(session, kind, key, shown)
                node.model_weight = node.model_weight or model_weight
            version = version_row(session, name, kind, key, version_id, version_num)
            return link_row(session, task.id, node.id, direction, version, relation, meta)

        return self._recorded(name, write)

    def snapshot(self, project, title: str | None = None) -> int | None:
        """A version of the project folder (reused if unchanged); None if the store failed."""
        from visionflow.lineage import versions

        what = f"create a version of '{project}'"
        return self._guarded(what, lambda: versions.create(project, title, store=self.store).id)

    def _task(self, task_id: int | None, place: str = "lineage") -> int:
        task_id = task_id if task_id is not None else current(place)
        if task_id is None:
            raise NoCurrentTaskError(
                "no task is running and no task_id was given",
                place=place,
                hint="wrap the work in `with lineage.task(name):` or pass task_id=",
            )
        return task_id

    def _recorded(self, what: str, write: Callable[[Session], T]) -> T | None:
        """Run ``write`` in one transaction; a store failure is logged unless strict."""

        def in_transaction() -> T:
            with self.store.transaction() as session:
                return write(session)

        return self._guarded(what, in_transaction)

    def _guarded(self, what: str, action: Callable[[], T]) -> T | None:
        try:
            return action()
        except NotFoundError:
            raise
        except (SQLAlchemyError, OSError, StoreError) as error:
            if self.strict:
                if isinstance(error, StoreError):
                    raise
                raise StoreError(f"could not {what}: {error}", place="lineage") from error
            log.warning("lineage: could not %s (the work goes on): %s", what, error)
            return None
