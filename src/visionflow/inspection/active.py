"""The inspection that records the runs of this context (``Workflow.inspected``).

Kept apart from the recorder so that ``Workflow.run`` reads one context variable per run,
without importing what recording needs.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

ACTIVE: ContextVar[Any] = ContextVar("visionflow_inspection", default=None)
