"""Which task an ``add_*`` call without ``task_id=`` is recorded against.

The current task follows the context: a thread started with ``contextvars.copy_context()``
and an asyncio task see the task of the code that started them. It is a stack, so that a
finished inner task gives the outer one back. Every task started and not finished in the
process is also in ``_running``: a thread that inherited no context (such as the engine's
pool threads) falls back to the one running task, and refuses to guess when there are several.
"""

from __future__ import annotations

import itertools
import threading
from contextvars import ContextVar

from visionflow.lineage.errors import NoCurrentTaskError

_stack: ContextVar[tuple[int, ...]] = ContextVar("visionflow_lineage_tasks", default=())
_running: set[int] = set()
_running_lock = threading.Lock()
# A task whose start the store did not record (lenient mode) gets a negative id: the calls
# inside it record nothing and raise nothing, and finishing it only forgets it.
_unrecorded = itertools.count(-1, -1)


def current_task() -> int | None:
    """The task ``add_*`` calls record against when not given ``task_id=`` (None: none)."""
    task_id = current()
    return task_id if task_id is not None and task_id > 0 else None


def current(place: str = "current_task") -> int | None:
    """The current task's id, negative for an unrecorded one; None if there is none."""
    stack = _stack.get()
    if stack:
        return stack[-1]
    with _running_lock:
        running = sorted(_running)
    if len(running) > 1:
        raise NoCurrentTaskError(
            f"{len(running)} tasks are running in this process and none in this context",
            place=place,
            hint="pass task_id=, or start the thread with contextvars.copy_context().run",
        )
    return running[0] if running else None


def unrecorded_id() -> int:
    return next(_unrecorded)


def push(task_id: int) -> None:
    _stack.set((*_stack.get(), task_id))
    with _running_lock:
        _running.add(task_id)


def forget(task_id: int) -> None:
    _stack.set(tuple(t for t in _stack.get() if t != task_id))
    with _running_lock:
        _running.discard(task_id)
