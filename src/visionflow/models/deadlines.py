"""One thread that acts when a model run outlives its deadline.

Only runs in flight are held (``watch`` when a run starts, ``forget`` when it returns), so
a run costs a dict insert and a delete, and the thread sleeps until the earliest deadline
held (or ``IDLE_WAKE_SECONDS``); it is woken early only for a run due before that.
``expire_all`` (at interpreter exit) acts on every run now.

>>> key = DEADLINES.watch(time.perf_counter() + 60, lambda: print("too late"))
>>> DEADLINES.forget(key)  # returned in time: nothing happens
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import threading
import time
from collections.abc import Callable

_log = logging.getLogger(__name__)
IDLE_WAKE_SECONDS = 10.0


class Deadlines:
    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        # also in a forked child: the thread is not there, the runs in flight are the parent's
        self._changed = threading.Condition(threading.Lock())  # (an RLock costs more)
        self._active: dict[int, tuple[float, Callable[[], None]]] = {}
        self._keys = itertools.count()
        self._wake_at = math.inf  # when the thread wakes next (never before it starts)
        self._thread: threading.Thread | None = None

    def watch(self, deadline: float, on_expiry: Callable[[], None]) -> int:
        """Call ``on_expiry`` (on the deadline thread) at ``deadline`` (``perf_counter``
        seconds) unless ``forget`` comes first. The key to forget it by."""
        key = next(self._keys)
        with self._changed:
            self._active[key] = (deadline, on_expiry)
            if deadline < self._wake_at:
                self._wake_at = deadline
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._serve, name="visionflow-model-deadlines", daemon=True
                    )
                    self._thread.start()
                self._changed.notify()
        return key

    def forget(self, key: int) -> None:
        with self._changed:
            self._active.pop(key, None)

    def expire_all(self) -> None:
        """Act on every run in flight now, on this thread (interpreter exit)."""
        with self._changed:
            actions = [action for _, action in self._active.values()]
            self._active.clear()
        _run_all(actions)

    def _serve(self) -> None:
        while True:
            _run_all(self._due())

    def _due(self) -> list[Callable[[], None]]:
        with self._changed:
            while True:
                now = time.perf_counter()
                due = [key for key, (deadline, _) in self._active.items() if deadline <= now]
                if due:
                    return [self._active.pop(key)[1] for key in due]
                # With nothing held it still wakes now and then: a run watched meanwhile
                # with a later deadline (most are) then needs no costly notify.
                self._wake_at = min(
                    (d for d, _ in self._active.values()), default=now + IDLE_WAKE_SECONDS
                )
                self._changed.wait(self._wake_at - now)


def _run_all(actions: list[Callable[[], None]]) -> None:
    for action in actions:
        try:
            action()
        except Exception:  # one failing action must not keep the others from running
            _log.exception("acting on a model run past its deadline failed")


DEADLINES = Deadlines()
os.register_at_fork(after_in_child=DEADLINES._reset)
