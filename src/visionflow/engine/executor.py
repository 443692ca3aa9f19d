"""Executor: runs a compiled Plan, its independent steps on the process's step threads.

One pool of step threads serves every workflow of the process (created on first use), so
compiled workflows hold no threads of their own and forgetting one leaks nothing; each
run keeps to its own ``max_concurrent_steps``.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from visionflow.compiler.plan import Plan
from visionflow.data.sources import LOCAL, ImagePolicy
from visionflow.engine.inputs import InputLoader
from visionflow.engine.outputs import ResultBuilder
from visionflow.engine.parameter_checks import parameter_checks
from visionflow.engine.scheduler import run_in_order, run_steps, runs_in_order
from visionflow.engine.state import RunState

DEFAULT_MAX_CONCURRENT_STEPS = max(4, min(16, (os.cpu_count() or 2) * 4))
SHARED_STEP_THREADS = 64

_shared_pool: ThreadPoolExecutor | None = None
_shared_pool_lock = threading.Lock()


def step_threads() -> ThreadPoolExecutor:
    global _shared_pool
    with _shared_pool_lock:
        if _shared_pool is None:
            _shared_pool = ThreadPoolExecutor(
                SHARED_STEP_THREADS, thread_name_prefix="visionflow-step"
            )
        return _shared_pool


class Executor:
    def __init__(
        self,
        plan: Plan,
        max_concurrent_steps: int | None = None,
        image_policy: ImagePolicy = LOCAL,
    ):
        self.plan = plan
        self.max_concurrent_steps = max_concurrent_steps or int(
            plan.settings.get("max_concurrent_steps", DEFAULT_MAX_CONCURRENT_STEPS)
        )
        self._dependents = plan.dependents()
        self._inputs = InputLoader(plan.inputs, image_policy)
        self._parameter_checks = parameter_checks(plan)
        self._results = ResultBuilder(plan.outputs, plan.steps)
        self._in_order = runs_in_order(plan, self.max_concurrent_steps)

    def run(self, inputs: dict[str, Any]) -> list[dict[str, Any]]:
        state = RunState()
        size = self._inputs.load(inputs, state)
        for check in self._parameter_checks:
            check(state.input_values[check.parameter])
        if self._in_order:
            run_in_order(self.plan, state)
        else:
            pool = step_threads() if self.max_concurrent_steps > 1 else None
            run_steps(self.plan, state, pool, self._dependents, self.max_concurrent_steps)
        return self._results(state, size)
