"""One batch of a model's queued elements through one session; ``pool.py`` decides which
batch, which session and on which thread.

The batch is split into session calls (elements of equal input shapes stacked, or the
groups the task head's ``collate`` makes); each call is retried ``retry_attempts`` times
and watched by ``deadlines.py`` until it returns; each element gets its outputs or the
call's error, and its caller wakes up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from visionflow.errors import ModelCallError
from visionflow.models.deadlines import DEADLINES
from visionflow.models.metrics import ModelMetrics
from visionflow.models.runtime import RunHandle, Session

Collate = Callable[[list[list[np.ndarray]]], list | None]
"""A head's ``collate``: groups of positions with their batched tensors, or None (stack)."""


class Element:
    """One element's tensors waiting for the model, and where its answer goes."""

    __slots__ = ("abandoned", "deadline", "done", "error", "outputs", "queued_at", "tensors")

    def __init__(self, tensors: list[np.ndarray], timeout_seconds: float):
        self.tensors = tensors
        self.queued_at = time.perf_counter()
        self.deadline = self.queued_at + timeout_seconds
        self.done = threading.Event()
        self.outputs: list[np.ndarray] | None = None
        self.error: BaseException | None = None
        self.abandoned = False  # its caller gave up: a worker drops it from the queue


def fail(elements: list[Element], failure: BaseException) -> bool:
    """Answer every element with ``failure``; False, as a batch that did not run."""
    for element in elements:
        element.error = failure
        element.done.set()
    return False


class BatchRunner:
    """Runs batches of one model's elements on its sessions.

    ``on_overrun(session, run, on_worker)`` is called (on the deadline thread) when a run
    outlives the deadline of every element in it; ``stopped_error()`` is what the elements
    of a stopped run are answered with.
    """

    def __init__(
        self,
        model_id: str,
        retry_attempts: int,
        metrics: ModelMetrics,
        on_overrun: Callable[[Session, RunHandle, bool], None],
        stopped_error: Callable[[], BaseException],
    ):
        self.model_id = model_id
        self.attempts = retry_attempts + 1
        self.metrics = metrics
        self.collate: Collate = lambda elements: None
        self._on_overrun = on_overrun
        self._stopped_error = stopped_error

    def run(self, session: Session, batch: list[Element], on_worker: bool) -> bool:
        """Runs the batch; False when some of it failed or timed out."""
        started = time.perf_counter()
        self.metrics.record_batch(len(batch), [started - e.queued_at for e in batch])
        answered = [self._run_call(session, call, on_worker) for call in self._calls(batch)]
        self.metrics.record_latency(time.perf_counter() - started)
        return all(answered)

    def _calls(self, batch: list[Element]) -> list[tuple[list[Element], list[np.ndarray]]]:
        """Elements that can share one session call, with their stacked inputs."""
        collated = self.collate([e.tensors for e in batch])
        if collated is not None:
            # collate returns groups of positions with their already batched tensors
            return [([batch[i] for i in positions], feeds) for positions, feeds in collated]
        by_shape: dict[tuple, list[Element]] = {}
        for element in batch:
            by_shape.setdefault(tuple(t.shape for t in element.tensors), []).append(element)
        return [
            (group, [np.stack(parts) for parts in zip(*(e.tensors for e in group), strict=True)])
            for group in by_shape.values()
        ]

    def _run_call(
        self, session: Session, call: tuple[list[Element], list[np.ndarray]], on_worker: bool
    ) -> bool:
        """One session call (retried); False when it failed or timed out."""
        elements, feeds = call
        # the run stops when the last caller still waiting for one of its elements gives up
        deadline = max([element.deadline for element in elements])
        for attempt in range(1, self.attempts + 1):
            run = RunHandle()
            watched = DEADLINES.watch(
                deadline, lambda run=run: self._on_overrun(session, run, on_worker)
            )
            try:
                outputs = session.run(feeds, run)
                break
            except Exception as error:
                if run.stopped:
                    break
                self.metrics.record_failure()
                if attempt == self.attempts:
                    return fail(
                        elements,
                        ModelCallError(
                            f"model '{self.model_id}' failed after {self.attempts} attempt(s): "
                            f"{type(error).__name__}: {error}"
                        ),
                    )
            finally:
                DEADLINES.forget(watched)
        if run.stopped:  # past its deadline (even if a LiteRT run ended late), or at exit
            return fail(elements, self._stopped_error())
        for position, element in enumerate(elements):
            element.outputs = [output[position] for output in outputs]
            element.done.set()
        return True
