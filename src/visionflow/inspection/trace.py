"""The recorded step calls in the Chrome trace event format (chrome://tracing, Perfetto).

One complete event (``"ph": "X"``) per step call, on the thread that ran it, so steps
that ran at once show side by side; times in microseconds from the first run's start.
Metadata events (``"ph": "M"``) name the process and the threads.
"""

from __future__ import annotations

import os
from typing import Any

from visionflow.inspection.record import RunRecord


def trace_events(runs: list[RunRecord]) -> dict[str, Any]:
    pid = os.getpid()
    origin = min((run.start_ns for run in runs), default=0)
    events: list[dict[str, Any]] = [
        {"name": "process_name", "ph": "M", "pid": pid, "tid": 0, "args": {"name": "visionflow"}}
    ]
    threads: dict[int, str] = {}
    for run in runs:
        for step in sorted(run.steps, key=lambda record: record.start_ns):
            threads.setdefault(step.thread_id, step.thread_name)
            args: dict[str, Any] = {
                "run": run.number,
                "block": step.block_type,
                "elements": step.elements,
                "ran": step.ran,
                "masked": step.masked,
                "empty": step.empty,
                "failed": step.failed,
            }
            if step.error is not None:
                args["error"] = step.error
            events.append(
                {
                    "name": step.step,
                    "cat": "step",
                    "ph": "X",
                    "ts": (step.start_ns - origin) / 1000,
                    "dur": max(0, step.end_ns - step.start_ns) / 1000,
                    "pid": pid,
                    "tid": step.thread_id,
                    "args": args,
                }
            )
    events[1:1] = [
        {"name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": name}}
        for tid, name in threads.items()
    ]
    return {"traceEvents": events, "displayTimeUnit": "ms"}
