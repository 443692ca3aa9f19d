"""Executor: runs a compiled Plan, its independent steps on the process's step threads.

One pool of step threads serves every workflow of the process (created on first use), so
compiled workflows hold no threads of their own and forgetting one leaks nothing; each
run keeps to its own ``max_concurrent_steps``.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from visionflow.compiler.plan import Plan
from visionflow.data.sources import LOCAL, ImagePolicy
from visionflow.engine.express import ExpressLane
from visionflow.engine.inputs import InputLoader
from visionflow.engine.outputs import ResultBuilder
from visionflow.engine.parameter_checks import parameter_checks
from visionflow.engine.scheduler import StepCall, run_in_order, run_steps, runs_in_order
from visionflow.engine.state import RunState
from visionflow.engine.step_runner import run_step
from visionflow.errors import DefinitionError

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


def _steps_at_once(settings: dict[str, Any]) -> int:
    """The document's ``settings: max_concurrent_steps`` (a whole number, at least 1)."""
    given = settings.get("max_concurrent_steps", DEFAULT_MAX_CONCURRENT_STEPS)
    try:
        value = int(given)
    except (TypeError, ValueError):
        value = 0
    if isinstance(given, bool) or value < 1:
        raise DefinitionError(
            f"max_concurrent_steps must be a whole number of at least 1 (found {given!r})",
            place="settings",
            hint="e.g. max_concurrent_steps: 4, or leave it out for the default",
        )
    return value


class StepRecorder(Protocol):
    """Watches one run's step calls (``visionflow.inspection``): ``wrap`` gets how a step
    is called and returns the call to use instead."""

    def wrap(self, run: StepCall) -> StepCall: ...


class Executor:
    def __init__(
        self,
        plan: Plan,
        max_concurrent_steps: int | None = None,
        image_policy: ImagePolicy = LOCAL,
    ):
        self.plan = plan
        self.max_concurrent_steps = max_concurrent_steps or _steps_at_once(plan.settings)
        self._dependents = plan.dependents()
        self._inputs = InputLoader(plan.inputs, image_policy)
        self._parameter_checks = parameter_checks(plan)
        self._results = ResultBuilder(plan.outputs, plan.steps)
        self._in_order = runs_in_order(plan, self.max_concurrent_steps)
        # one element through plain steps: Workflow.run tries it before run(), the general path
        self.express = (
            ExpressLane(plan, self._inputs, self._parameter_checks, self._results)
            if ExpressLane.covers(plan, self._inputs, self._in_order)
            else None
        )

    def run(
        self, inputs: dict[str, Any], recorder: StepRecorder | None = None
    ) -> list[dict[str, Any]]:
        state = RunState()
        size = self._inputs.load(inputs, state)
        for check in self._parameter_checks:
            check(state.input_values[check.parameter])
        # not recording, steps are called as they are: no timing on the hot path
        call = run_step if recorder is None else recorder.wrap(run_step)
        if self._in_order:
            run_in_order(self.plan, state, call)
        else:
            pool = step_threads() if self.max_concurrent_steps > 1 else None
            run_steps(self.plan, state, pool, self._dependents, self.max_concurrent_steps, call)
        return self._results(state, size)
