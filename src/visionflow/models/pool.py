"""The pool that serves one model's calls: a queue, batches, worker sessions.

- Elements from concurrent calls (any workflow run, any thread) wait in one queue; a
  worker takes up to ``batch_size`` of them, waiting at most ``max_batch_delay_ms`` for a
  batch to fill, and runs them in one session call.
- Workers (each with its own session) are added while the queue is deeper than twice the
  batch size, up to ``max_workers``, and leave after idling, down to ``min_workers``.
- A failed session call is retried ``retry_attempts`` times, then reported with the model
  id; a call not answered within ``timeout_ms`` fails with a timeout error; a call that would
  put more than ``queue_size`` elements in the queue is refused at once.
- Sessions are shared by the workers. A call that nothing could be batched with (no
  batching delay, an empty queue, a free session and no timeout to watch) runs on the
  calling thread: a hand-off to an idle worker costs 0.1-0.5 ms, a lot beside a 2 ms model.
- A pool with no call in flight can be retired (``retire_if_idle``: its workers leave and
  its sessions are dropped); the next call reopens it through ``admit`` (the model library
  uses that to keep its bound on loaded models), so whoever holds the pool never notices.
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable

import numpy as np

from visionflow.errors import (
    ModelCallError,
    ModelError,
    ModelOverloadedError,
    ModelTimeoutError,
)
from visionflow.models.metrics import ModelMetrics
from visionflow.models.runtime import Session
from visionflow.models.spec import PerformanceSettings

IDLE_SECONDS = 10.0
_REOPEN_ATTEMPTS = 5
_live_pools: weakref.WeakSet[ModelPool] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    # A worker still inside a runtime's C++ code when the interpreter ends aborts the process.
    for pool in list(_live_pools):
        pool.close()


class _Element:
    """One element's tensors waiting for the model, and where its answer goes."""

    __slots__ = ("abandoned", "done", "error", "outputs", "queued_at", "tensors")

    def __init__(self, tensors: list[np.ndarray]):
        self.tensors = tensors
        self.queued_at = time.perf_counter()
        self.done = threading.Event()
        self.outputs: list[np.ndarray] | None = None
        self.error: BaseException | None = None
        self.abandoned = False


class ModelPool:
    def __init__(
        self, model_id: str, open_session: Callable[[], Session], settings: PerformanceSettings
    ):
        if settings.min_workers > settings.max_workers:
            raise ModelError(
                f"model '{model_id}': min_workers ({settings.min_workers}) is more than "
                f"max_workers ({settings.max_workers})"
            )
        self.model_id = model_id
        self.settings = settings
        self.metrics = ModelMetrics()
        self.collate: Callable[[list[list[np.ndarray]]], list | None] = lambda elements: None
        self._open_session = open_session
        self._queue: deque[_Element] = deque()
        self._changed = threading.Condition()
        self._workers = 0
        self._idle_sessions: list[Session] = []
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._retired = False
        self._calls = 0  # calls between infer's start and end: a pool with none is idle
        self.last_used = time.perf_counter()
        self.admit: Callable[[ModelPool], None] = ModelPool.reopen
        self.first_session: Session | None = None
        self._open_workers()
        _live_pools.add(self)

    def _open_workers(self) -> None:
        self.first_session = self._open_session()
        self._idle_sessions.append(self.first_session)  # usable at once, before threads start
        self._start_worker(self.first_session)
        for _ in range(self.settings.min_workers - 1):
            self._start_worker(None)

    # --- callers ------------------------------------------------------------------------

    def infer(self, elements: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
        """The outputs (batch axis removed) for each element's input tensors, in order."""
        if not elements:
            return []
        if len(elements) > self.settings.queue_size:
            self.metrics.record_overload()
            raise ModelOverloadedError(
                f"model '{self.model_id}' is overloaded: a call of {len(elements)} elements "
                f"is more than its queue_size ({self.settings.queue_size})",
                hint="send fewer elements per call, or raise queue_size for this model",
            )
        waiting = [_Element(tensors) for tensors in elements]
        session = self._enter()
        try:
            if session is not None:
                self._run_on_caller(session, waiting)
            else:
                self._enqueue(waiting)
            self._wait(waiting)
        finally:
            with self._changed:
                self._calls -= 1
                self.last_used = time.perf_counter()
        return [element.outputs for element in waiting]

    def _enter(self) -> Session | None:
        """Counts the call in (reopening a retired pool first); a session when the call
        can run on this thread."""
        for _ in range(_REOPEN_ATTEMPTS):
            with self._changed:
                if self._closed:
                    raise ModelError(f"model '{self.model_id}' is closed")
                if not self._retired:
                    self._calls += 1
                    return self._session_for_caller()
            self.admit(self)  # without the pool's lock: the library takes its own first
        raise ModelError(
            f"model '{self.model_id}' was unloaded {_REOPEN_ATTEMPTS} times while this "
            "call waited to reopen it",
            hint="too many different models are in use at once; retry later",
        )

    def _session_for_caller(self) -> Session | None:
        # Called with the lock held: a free session when running here changes nothing.
        if (
            self.settings.max_batch_delay_ms == 0
            and self.settings.timeout_ms is None
            and not self._queue
            and self._idle_sessions
            and not self._closed
        ):
            return self._idle_sessions.pop()
        return None

    def _run_on_caller(self, session: Session, waiting: list[_Element]) -> None:
        size = self.settings.batch_size
        try:
            for start in range(0, len(waiting), size):
                self._run(session, waiting[start : start + size])
        finally:
            with self._changed:
                self._idle_sessions.append(session)
                self._changed.notify_all()

    def _enqueue(self, waiting: list[_Element]) -> None:
        with self._changed:
            if self._closed:
                raise ModelError(f"model '{self.model_id}' is closed")
            if len(self._queue) + len(waiting) > self.settings.queue_size:
                self.metrics.record_overload()
                raise ModelOverloadedError(
                    f"model '{self.model_id}' is overloaded: {len(self._queue)} elements "
                    f"are waiting (queue_size {self.settings.queue_size})",
                    hint="retry later, or raise queue_size / max_workers for this model",
                )
            self._queue.extend(waiting)
            self._scale_up()
            self._changed.notify_all()

    def _wait(self, waiting: list[_Element]) -> None:
        timeout = self.settings.timeout_ms
        deadline = None if timeout is None else time.perf_counter() + timeout / 1000
        for element in waiting:
            remaining = None if deadline is None else max(0.0, deadline - time.perf_counter())
            if not element.done.wait(remaining):
                for other in waiting:
                    other.abandoned = True
                self.metrics.record_timeout()
                raise ModelTimeoutError(
                    f"model '{self.model_id}' did not answer within {timeout:g} ms",
                    hint="raise timeout_ms for this model, or add workers",
                )
            if element.error is not None:
                raise element.error

    # --- workers ------------------------------------------------------------------------

    def _scale_up(self) -> None:
        # Called with the lock held.
        if (
            len(self._queue) > 2 * self.settings.batch_size
            and self._workers < self.settings.max_workers
            and not self._retired
        ):
            self._start_worker(None)

    def _start_worker(self, session: Session | None) -> None:
        self._workers += 1
        thread = threading.Thread(
            target=self._work,
            args=(session,),
            name=f"visionflow-model-{self.model_id}",
            daemon=True,
        )
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _work(self, session: Session | None) -> None:
        """A worker: opens its session (unless given one already shared), serves batches."""
        if session is None:
            try:
                session = self._open_session()
            except Exception as error:
                with self._changed:
                    self._workers -= 1
                self._fail_waiting(error)
                return
            with self._changed:
                if self._retired:  # retired while this session opened: keep no session
                    self._workers -= 1
                    return
                self._idle_sessions.append(session)
                self._changed.notify_all()
        while (taken := self._next_batch()) is not None:
            batch, session = taken
            try:
                self._run(session, batch)
            finally:
                with self._changed:
                    self._idle_sessions.append(session)
                    self._changed.notify_all()

    def _next_batch(self) -> tuple[list[_Element], Session] | None:
        """Up to batch_size elements (once full or the delay is over) and a free session."""
        size, delay = self.settings.batch_size, self.settings.max_batch_delay_ms / 1000
        with self._changed:
            idle_since = time.perf_counter()
            while True:
                self._drop_abandoned()
                if self._closed or self._retired:
                    self._workers -= 1
                    if self._retired:
                        self._idle_sessions.clear()  # one a worker gave back since
                    return None
                if self._queue and self._idle_sessions:
                    wait_more = self._queue[0].queued_at + delay - time.perf_counter()
                    if len(self._queue) >= size or wait_more <= 0:
                        batch = [self._queue.popleft() for _ in range(min(size, len(self._queue)))]
                        return batch, self._idle_sessions.pop()
                    self._changed.wait(wait_more)
                    continue
                if self._queue:  # every session is busy (a caller runs one): wait for it
                    self._changed.wait(IDLE_SECONDS)
                    continue
                if (
                    self._workers > self.settings.min_workers
                    and time.perf_counter() - idle_since > IDLE_SECONDS
                ):
                    self._workers -= 1
                    return None
                self._changed.wait(IDLE_SECONDS)

    def _drop_abandoned(self) -> None:
        while self._queue and self._queue[0].abandoned:
            self._queue.popleft()

    def _run(self, session: Session, batch: list[_Element]) -> None:
        started = time.perf_counter()
        self.metrics.record_batch(len(batch), [started - e.queued_at for e in batch])
        for group in self._groups(batch):
            self._run_group(session, group)
        self.metrics.record_latency(time.perf_counter() - started)

    def _groups(self, batch: list[_Element]) -> list[tuple[list[_Element], list[np.ndarray]]]:
        """Elements that can share one session call, with their stacked inputs."""
        collated = self.collate([e.tensors for e in batch])
        if collated is not None:
            # collate returns groups of positions with their already batched tensors
            return [([batch[i] for i in positions], feeds) for positions, feeds in collated]
        by_shape: dict[tuple, list[_Element]] = {}
        for element in batch:
            by_shape.setdefault(tuple(t.shape for t in element.tensors), []).append(element)
        return [
            (group, [np.stack(parts) for parts in zip(*(e.tensors for e in group), strict=True)])
            for group in by_shape.values()
        ]

    def _run_group(self, session: Session, group: tuple[list[_Element], list[np.ndarray]]) -> None:
        elements, feeds = group
        attempts = self.settings.retry_attempts + 1
        for attempt in range(1, attempts + 1):
            try:
                outputs = session.run(feeds)
                break
            except Exception as error:
                self.metrics.record_failure()
                if attempt == attempts:
                    failure = ModelCallError(
                        f"model '{self.model_id}' failed after {attempts} attempt(s): "
                        f"{type(error).__name__}: {error}"
                    )
                    for element in elements:
                        element.error = failure
                        element.done.set()
                    return
        for position, element in enumerate(elements):
            element.outputs = [output[position] for output in outputs]
            element.done.set()

    def _fail_waiting(self, error: BaseException) -> None:
        failure = ModelError(f"model '{self.model_id}' could not open a session: {error}")
        with self._changed:
            if self._workers > 0:
                return  # other workers will serve the queue
            while self._queue:
                element = self._queue.popleft()
                element.error = failure
                element.done.set()

    @property
    def workers(self) -> int:
        return self._workers

    @property
    def is_idle(self) -> bool:
        """No call in flight and nothing queued: retiring the pool now disturbs nobody."""
        with self._changed:
            return self._calls == 0 and not self._queue

    def retire_if_idle(self) -> bool:
        """Let the workers go and drop the sessions, if no call is in flight; the next call
        reopens the pool. True when the pool is retired (now or before)."""
        with self._changed:
            if self._retired:
                return True
            if self._closed or self._calls or self._queue:
                return False
            self._retired = True
            self._idle_sessions.clear()
            self.first_session = None
            self._changed.notify_all()  # idle workers wake up and leave
            return True

    def reopen(self) -> None:
        """Sessions and workers again for a retired pool (``admit`` calls this)."""
        with self._changed:
            if not self._retired or self._closed:
                return
            self._retired = False
            self._open_workers()
            self._changed.notify_all()

    @property
    def queue_depth(self) -> int:
        """Elements waiting for a worker now (what overload and scaling look at)."""
        return len(self._queue)

    def close(self, wait_seconds: float = 30.0) -> None:
        """Stop the workers once their current batch is done; waiting calls fail."""
        with self._changed:
            self._closed = True
            waiting = list(self._queue)
            self._queue.clear()
            self._changed.notify_all()
        for element in waiting:
            element.error = ModelError(f"model '{self.model_id}' was closed")
            element.done.set()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(wait_seconds)
