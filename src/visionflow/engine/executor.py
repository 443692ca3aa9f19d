"""Executor: runs a compiled Plan; owns the thread pool for concurrent steps."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from visionflow.compiler.plan import Plan
from visionflow.engine.inputs import InputLoader
from visionflow.engine.outputs import build_results
from visionflow.engine.scheduler import run_steps
from visionflow.engine.state import RunState

DEFAULT_MAX_CONCURRENT_STEPS = max(4, min(16, (os.cpu_count() or 2) * 4))


class Executor:
    def __init__(self, plan: Plan, max_concurrent_steps: int | None = None):
        self.plan = plan
        self.max_concurrent_steps = max_concurrent_steps or int(
            plan.settings.get("max_concurrent_steps", DEFAULT_MAX_CONCURRENT_STEPS)
        )
        self._dependents = plan.dependents()
        self._inputs = InputLoader(plan.inputs)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def run(self, inputs: dict[str, Any]) -> list[dict[str, Any]]:
        state = RunState()
        size = self._inputs.load(inputs, state)
        run_steps(self.plan, state, self._pool_for_run(), self._dependents)
        return build_results(self.plan.outputs, state, size)

    def _pool_for_run(self) -> ThreadPoolExecutor | None:
        if self.max_concurrent_steps <= 1:
            return None
        with self._pool_lock:
            if self._pool is None:
                # The calling thread runs one step too, hence one worker fewer.
                self._pool = ThreadPoolExecutor(
                    self.max_concurrent_steps - 1, thread_name_prefix="visionflow-step"
                )
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
