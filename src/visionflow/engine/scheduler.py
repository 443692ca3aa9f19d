"""The run loop: steps in dependency order, independent ones at the same time.

A step whose dependencies are done is ready. When several are ready, all but one go to a
thread pool (at most ``limit - 1`` at a time) and one runs on the calling thread; a lone
ready step runs inline, so a plain chain pays no thread hand-off at all. A plan in which no
two steps can ever run at once (a chain, or one step per run) goes through ``run_in_order``,
which skips that bookkeeping. Only these loops write the run state.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from visionflow.compiler.plan import Plan, StepPlan
from visionflow.engine.state import RunState
from visionflow.engine.step_runner import StepResult, commit, run_step

# how a step is called: ``run_step``, or a recorder's timed wrapper of it (see inspection)
StepCall = Callable[[StepPlan, RunState], StepResult]


def run_steps(
    plan: Plan,
    state: RunState,
    pool: ThreadPoolExecutor | None,
    dependents: dict[str, list[str]],
    limit: int,
    run: StepCall = run_step,
) -> None:
    waiting = {name: len(step.depends_on) for name, step in plan.steps.items()}
    ready = [name for name in plan.order if waiting[name] == 0]
    running: dict[Future, str] = {}

    def finish(name: str, result: StepResult) -> None:
        commit(plan.steps[name], result, state)
        for follower in dependents[name]:
            waiting[follower] -= 1
            if waiting[follower] == 0:
                ready.append(follower)

    try:
        while ready or running:
            while pool is not None and len(ready) > 1 and len(running) < limit - 1:
                name = ready.pop()
                running[pool.submit(run, plan.steps[name], state)] = name
            if ready:
                name = ready.pop()
                finish(name, run(plan.steps[name], state))
            done = [future for future in running if future.done()]
            if not done and running and not ready:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                finish(running.pop(future), future.result())
    finally:
        if running:
            wait(running)  # let started steps end before the error propagates


def runs_in_order(plan: Plan, limit: int) -> bool:
    """Whether no two steps of ``plan`` could ever run at the same time: one step at a time
    is allowed, or each step in the order needs the one before it (directly or not)."""
    if limit <= 1:
        return True
    needs: dict[str, set[str]] = {}
    for name in plan.order:  # a topological order: a step's dependencies come first
        found = set(plan.steps[name].depends_on)
        for dependency in plan.steps[name].depends_on:
            found |= needs[dependency]
        needs[name] = found
    return all(
        earlier in needs[later] for earlier, later in zip(plan.order, plan.order[1:], strict=False)
    )


def run_in_order(plan: Plan, state: RunState, run: StepCall = run_step) -> None:
    """The steps one after the other, in the plan's order (see ``runs_in_order``)."""
    steps = plan.steps
    for name in plan.order:
        step = steps[name]
        commit(step, run(step, state), state)
