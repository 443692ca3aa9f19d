"""Recording runs: one ``StepRecord`` per step call, with its times and element counts.

The engine calls a step through ``RunRecord.wrap``'s function only while inspecting; it
times the call, then (outside the timed part) counts the elements and keeps previews of
the first few. Steps run on several threads: records are appended under a lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from visionflow.compiler.plan import StepPlan
from visionflow.engine.gather import gated_elements
from visionflow.engine.scheduler import StepCall
from visionflow.engine.state import RunState
from visionflow.engine.step_runner import StepResult
from visionflow.inspection.active import ACTIVE
from visionflow.inspection.previews import PREVIEWED_ELEMENTS, Preview, element_previews

if TYPE_CHECKING:
    from visionflow.workflow import Workflow


@dataclass
class StepRecord:
    """One call of one step: when and where it ran, and on how many elements.

    ``elements``: the elements at the step's level; ``ran``: those its block was called
    for; ``masked``: those flow control did not choose; ``empty``: those skipped because
    an input was missing or None; ``failed``: the element it failed on (1 or 0: a run
    stops at its first failure), ``error`` saying why.
    """

    step: str
    block_type: str
    run: int
    thread_id: int
    thread_name: str
    start_ns: int
    end_ns: int
    elements: int = 0
    ran: int = 0
    masked: int = 0
    empty: int = 0
    failed: int = 0
    error: str | None = None
    previews: list[Preview] = field(default_factory=list)
    recording_ns: int = 0  # spent counting and previewing after the step, not in it

    @property
    def seconds(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9


@dataclass
class RunRecord:
    """One run: its wall time, its step calls in the order they ended, its error if any."""

    number: int
    start_ns: int
    end_ns: int = 0
    steps: list[StepRecord] = field(default_factory=list)
    error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def seconds(self) -> float:
        """The run's wall time, recording included (see ``recording_seconds``)."""
        return (self.end_ns - self.start_ns) / 1e9

    @property
    def recording_seconds(self) -> float:
        """Time spent recording (counts and previews, after each step), summed over the
        threads that ran steps: part of ``seconds`` when the steps ran one at a time."""
        return sum(step.recording_ns for step in self.steps) / 1e9

    def step(self, name: str) -> StepRecord:
        """The record of step ``name`` (a KeyError when it did not run)."""
        for record in self.steps:
            if record.step == name:
                return record
        raise KeyError(name)

    def wrap(self, run: StepCall) -> StepCall:
        """``run`` timed and recorded (the engine's hook: see ``Executor.run``)."""

        def recorded(step: StepPlan, state: RunState) -> StepResult:
            start = time.perf_counter_ns()
            try:
                result = run(step, state)
            except Exception as error:
                record = self._record(step, start, time.perf_counter_ns())
                record.elements = len(state.elements_at(step.lineage))
                record.failed, record.error = 1, str(error)
                self._add(record)
                raise
            record = self._record(step, start, time.perf_counter_ns())
            _count(record, step, state, result)
            record.previews = element_previews(step, state, result, PREVIEWED_ELEMENTS)
            record.recording_ns = time.perf_counter_ns() - record.end_ns
            self._add(record)
            return result

        return recorded

    def _record(self, step: StepPlan, start: int, end: int) -> StepRecord:
        thread = threading.current_thread()
        return StepRecord(
            step.name, step.block_type, self.number, thread.ident or 0, thread.name, start, end
        )

    def _add(self, record: StepRecord) -> None:
        with self._lock:
            self.steps.append(record)


def _count(record: StepRecord, step: StepPlan, state: RunState, result: StepResult) -> None:
    record.elements = len(state.elements_at(step.lineage))
    chosen = len(gated_elements(step, state)) if step.outer_gates else record.elements
    record.masked = record.elements - chosen
    record.ran = elements_run(step, result)
    record.empty = max(0, chosen - record.ran)


def elements_run(step: StepPlan, result: StepResult) -> int:
    """How many elements the block was called for, read from what the step made: a
    decision per element, children per element, or (results per child of a field) the
    parents of the rows; else a row per element."""
    if result.decisions is not None:
        return len(result.decisions)
    if result.children is not None:
        return len(result.children)
    if step.follows is not None:
        return len({index[:-1] for index in result.rows})
    return len(result.rows)


class Inspection:
    """The runs of one workflow recorded inside ``Workflow.inspected()`` (in this thread
    or context); ``write_html`` and ``write_trace`` save them."""

    def __init__(self, workflow: Workflow):
        self.workflow = workflow
        self.runs: list[RunRecord] = []
        self._lock = threading.Lock()

    @property
    def last(self) -> RunRecord:
        """The last run recorded."""
        if not self.runs:
            raise LookupError("no run was recorded: call workflow.run inside the block")
        return self.runs[-1]

    @contextmanager
    def active(self) -> Iterator[Inspection]:
        token = ACTIVE.set(self)
        try:
            yield self
        finally:
            ACTIVE.reset(token)

    def record(
        self, run: Callable[[dict[str, Any], RunRecord], list], inputs: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """``run(inputs, recorder)`` (the executor's run) recorded as a new run."""
        with self._lock:
            record = RunRecord(len(self.runs) + 1, time.perf_counter_ns())
            self.runs.append(record)
        try:
            return run(inputs, record)
        except Exception as error:
            record.error = str(error)
            raise
        finally:
            record.end_ns = time.perf_counter_ns()

    def write_html(self, path: str | Path) -> Path:
        """A self-contained page of the runs (no network: inline styles, SVG, images)."""
        from visionflow.inspection.page import render_page

        return _write(path, render_page(self))

    def write_trace(self, path: str | Path) -> Path:
        """The step calls in the Chrome trace event format (chrome://tracing, Perfetto)."""
        import json

        from visionflow.inspection.trace import trace_events

        return _write(path, json.dumps(trace_events(self.runs), indent=1) + "\n")


def _write(path: str | Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
