"""The pool that serves one model's calls: a queue, batches, worker sessions.

- Elements from concurrent calls (any workflow run, any thread) wait in one queue; a
  worker takes up to ``batch_size`` of them, waiting at most ``max_batch_delay_ms`` for a
  batch to fill, and runs them in one session call.
- Workers (each with its own session) are added while the queue is deeper than twice the
  batch size, up to ``max_workers``, and leave after idling, down to ``min_workers``.
- A batch runs in one or a few session calls (``batches.py``); a failed session call is
  retried ``retry_attempts`` times, then reported with the model id. A call that would put
  more than ``queue_size`` elements in the queue is refused at once: as temporary when
  other calls fill the queue, as permanent when it alone is larger.
- A call not answered within ``timeout_ms`` (by default ``DEFAULT_TIMEOUT_MS``) fails with a
  timeout error, and the session run serving it stops once no element in it is still waited
  for (``deadlines.py`` watches every run): onnxruntime ends the run between two operators;
  a LiteRT run cannot be stopped, so its session is left to finish it in the background (its
  worker retired) and a new worker with a new session takes its place, while no more than
  ``max_workers`` runs are left so; past that, calls are refused as overloaded until one ends.
- Sessions are shared by the workers. A call that nothing could be batched with (no
  batching delay, an empty queue, a free session) runs on the calling thread: a hand-off to
  an idle worker costs 0.02-0.1 ms, a lot beside a 0.5 ms model. Not a LiteRT call with
  ``timeout_ms`` set, though: its caller could not be given its timeout while it computes.
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
    ModelBatchExceedsQueueError,
    ModelError,
    ModelOverloadedError,
    ModelTimeoutError,
)
from visionflow.models.batches import BatchRunner, Collate, Element, fail
from visionflow.models.deadlines import DEADLINES
from visionflow.models.metrics import ModelMetrics
from visionflow.models.runtime import RunHandle, Session
from visionflow.models.spec import PerformanceSettings

IDLE_SECONDS = 10.0
EXIT_WAIT_SECONDS = 5.0  # at interpreter exit, for runs to stop and workers to leave
_REOPEN_ATTEMPTS = 5
_live_pools: weakref.WeakSet[ModelPool] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    # A thread still inside a runtime's C++ code when the interpreter ends aborts the process
    # ("terminate called without an active exception"): stop every run, then let them leave.
    pools = list(_live_pools)
    for pool in pools:
        pool.shut()
    DEADLINES.expire_all()
    leave_by = time.perf_counter() + EXIT_WAIT_SECONDS
    for pool in pools:
        pool.join(max(0.0, leave_by - time.perf_counter()))


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
        self._batches = BatchRunner(
            model_id, settings.retry_attempts, self.metrics, self._overrun, self._stopped_error
        )
        self._open_session = open_session
        self._queue: deque[Element] = deque()
        self._changed = threading.Condition()
        self._workers = 0
        self._idle_sessions: list[Session] = []
        self._left_running: set[Session] = set()  # past their deadline; their worker retired
        self._owed = 0  # sessions not replaced yet: too many runs were left running
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

    @property
    def collate(self) -> Collate:
        """The task head's grouping of elements into session calls (None: equal shapes)."""
        return self._batches.collate

    @collate.setter
    def collate(self, collate: Collate) -> None:
        self._batches.collate = collate

    # --- callers ------------------------------------------------------------------------

    def infer(self, elements: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
        """The outputs (batch axis removed) for each element's input tensors, in order."""
        if not elements:
            return []
        if len(elements) > self.settings.queue_size:  # waiting cannot help: not an overload
            size = self.settings.queue_size
            raise ModelBatchExceedsQueueError(
                f"a batch of {len(elements)} inputs needs {len(elements)} queue slots; "
                f"model '{self.model_id}' takes at most {size} at once (its queue_size)",
                hint=f"split the batch into parts of at most {size}, or raise queue_size "
                "for this model",
            )
        timeout_seconds = self.settings.call_timeout_ms / 1000
        waiting = [Element(tensors, timeout_seconds) for tensors in elements]
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
        # Called with the lock held: a free session when running here changes nothing. A
        # set timeout on a session that cannot be stopped needs a worker, for the caller to
        # be answered on time (the default bound is not worth a hand-off on every call).
        if (
            self.settings.max_batch_delay_ms == 0
            and not self._queue
            and self._idle_sessions
            and (self._idle_sessions[-1].stoppable or self.settings.timeout_ms is None)
            and not self._closed
        ):
            return self._idle_sessions.pop()
        return None

    def _run_on_caller(self, session: Session, waiting: list[Element]) -> None:
        size = self.settings.batch_size
        try:
            for start in range(0, len(waiting), size):
                part = waiting[start : start + size]
                if not self._batches.run(session, part, on_worker=False):
                    break  # timed out or failed: the rest is moot
        finally:
            self._give_back(session)

    def _enqueue(self, waiting: list[Element]) -> None:
        with self._changed:
            if self._closed:
                raise ModelError(f"model '{self.model_id}' is closed")
            if self._owed:  # a session short until a run left computing ends
                self.metrics.record_overload()
                raise ModelOverloadedError(
                    f"model '{self.model_id}' is busy: {len(self._left_running)} runs past "
                    "their deadline cannot be stopped and still compute",
                    hint="retry later; its runs take longer than timeout_ms (a hung model?)",
                )
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

    def _wait(self, waiting: list[Element]) -> None:
        for element in waiting:
            if not element.done.wait(max(0.0, element.deadline - time.perf_counter())):
                for other in waiting:
                    other.abandoned = True
                self.metrics.record_timeout()
                raise self._timeout_error()
            if element.error is not None:
                if isinstance(element.error, ModelTimeoutError):  # its run was stopped
                    self.metrics.record_timeout()
                raise element.error

    def _timeout_error(self) -> ModelTimeoutError:
        return ModelTimeoutError(
            f"model '{self.model_id}' did not answer within {self.settings.call_timeout_ms:g} ms",
            hint="raise timeout_ms for this model, or add workers",
        )

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
                self._batches.run(session, batch, on_worker=True)
            finally:
                kept = self._give_back(session)
            if not kept:
                return  # its run outlived the deadline: another worker took this one's place

    def _give_back(self, session: Session) -> bool:
        """The session is free again; False when it was left running past its deadline."""
        with self._changed:
            if session in self._left_running:
                self._left_running.discard(session)
                if self._owed:  # its place was not taken yet (too many left running)
                    self._owed -= 1
                    self._replace_session()
                return False
            self._idle_sessions.append(session)
            if self._queue:  # a worker may wait for a free session; else wake nobody
                self._changed.notify_all()
            return True

    def _next_batch(self) -> tuple[list[Element], Session] | None:
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

    def _stopped_error(self) -> ModelError:
        """What the elements of a run stopped past its deadline, or at exit, are answered."""
        if self._closed:
            return ModelError(f"model '{self.model_id}' was closed")
        return self._timeout_error()

    def _overrun(self, session: Session, run: RunHandle, on_worker: bool) -> None:
        """A run is past the deadline of every element in it (on the deadline thread)."""
        run.stop()
        self.metrics.record_stopped()
        if session.stoppable:
            return
        # LiteRT has no way to stop a run: its session is left to finish it in the background
        # (``_give_back`` drops it then; its worker leaves) and a new worker, with a new
        # session, takes its place for the calls still to come.
        with self._changed:
            self._left_running.add(session)
            if on_worker:
                self._workers -= 1
            # A hung model would take one more core with every call: past max_workers runs
            # left computing, the new session waits until one of them ends.
            if len(self._left_running) <= self.settings.max_workers:
                self._replace_session()
            else:
                self._owed += 1

    def _replace_session(self) -> None:
        # Called with the lock held.
        if not (self._closed or self._retired):
            self._start_worker(None)

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
            self._owed = 0  # reopened, it starts with new sessions
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
        self.shut()
        self.join(wait_seconds)

    def shut(self) -> None:
        """Take no more calls and fail the waiting ones; workers leave after their batch."""
        with self._changed:
            self._closed = True
            waiting = list(self._queue)
            self._queue.clear()
            self._changed.notify_all()
        fail(waiting, ModelError(f"model '{self.model_id}' was closed"))

    def join(self, wait_seconds: float) -> None:
        """Wait (at most ``wait_seconds`` in all) for the workers of a shut pool to leave."""
        leave_by = time.perf_counter() + wait_seconds
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, leave_by - time.perf_counter()))
