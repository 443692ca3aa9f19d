"""The run inspector: each step's time, element counts and a preview of what it made.

>>> with workflow.inspected() as inspection:  # doctest: +SKIP
...     workflow.run(image=picture)
>>> inspection.write_html("run.html"); inspection.write_trace("trace.json")  # doctest: +SKIP

The names are imported on use: ``Workflow.run`` reads ``inspection.active`` on every run,
and importing this package must not bring the recorder with it (a run pays nothing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from visionflow.inspection.record import Inspection, RunRecord, StepRecord

__all__ = ["Inspection", "RunRecord", "StepRecord"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from visionflow.inspection import record

        return getattr(record, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
