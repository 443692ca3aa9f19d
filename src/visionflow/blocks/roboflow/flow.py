"""Roboflow's flow-control blocks that keep state across runs (issue 12): the rate limiter
(a cooldown between the times a branch runs) and the delta filter (a branch that runs only
when a value changes).

Their state belongs to the step (one block instance per compiled step, as in Roboflow) and
lives as long as the compiled workflow; runs may be concurrent, so it is changed under a
lock. State kept per video stream comes with video inputs (issue 13): until then a still
image is keyed by its place in the input batch, which is what Roboflow's engine does for
still images (their video id is the input's name and position).
"""

from __future__ import annotations

import threading
import time
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from visionflow.blocks.api import Batch, Block, FlowControl, Selector, StepSelector
from visionflow.data.image import WorkflowImage


class RateLimiter(Block):
    """Runs ``next_steps`` at most once every ``cooldown_seconds``: the first time, then only
    when that long has passed since the branch last ran (elements of a batch count one by
    one). With ``video_reference_image``, time is the frame's time in its video (frame
    number / fps), so a video read faster than real time is limited in video time; a still
    image is frame 0, as in Roboflow.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/rate_limiter@v1"]
        cooldown_seconds: Annotated[float, Field(ge=0)] = 1.0
        depends_on: Selector()  # type: ignore[valid-type]
        next_steps: list[StepSelector]
        video_reference_image: Selector(["image"]) | None = None  # type: ignore[valid-type]

    outputs = []
    category = "flow control"

    def __init__(self, **init_parameters: Any):
        super().__init__(**init_parameters)
        self._lock = threading.Lock()
        self._last_run: float | None = None

    def run(
        self,
        cooldown_seconds: float,
        depends_on: Any,
        next_steps: list[str],
        video_reference_image: WorkflowImage | None,
    ) -> FlowControl:
        now = _frame_time(video_reference_image)
        with self._lock:
            if self._last_run is not None and now - self._last_run < cooldown_seconds:
                return FlowControl([])
            self._last_run = now
        return FlowControl(next_steps)


def _frame_time(image: WorkflowImage | None) -> float:
    """Seconds: the frame's time in its video, else this machine's monotonic clock."""
    if image is not None:
        video = image.video_metadata
        if video.fps:
            return video.frame_number / video.fps
    return time.monotonic()


class DeltaFilter(Block):
    """Runs ``next_steps`` for an element only when ``value`` differs from the value last
    seen for the same image stream (the first value always passes): e.g. write a count to a
    file only when it changes.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/delta_filter@v1"]
        image: Selector(["image"])  # type: ignore[valid-type]
        value: Selector()  # type: ignore[valid-type]
        next_steps: list[StepSelector]

    outputs = []
    category = "flow control"
    accepts_batches = True  # the element's place in the batch keys a still image's stream

    def __init__(self, **init_parameters: Any):
        super().__init__(**init_parameters)
        self._lock = threading.Lock()
        self._last: dict[tuple[int, ...], Any] = {}

    def run(self, image: Batch, value: Any, next_steps: list[str]) -> list[FlowControl]:
        decisions = []
        with self._lock:
            for position, (index, _) in enumerate(image.items()):
                current = value[position] if isinstance(value, Batch) else value
                changed = index not in self._last or _differs(self._last[index], current)
                if changed:
                    self._last[index] = current
                decisions.append(FlowControl(next_steps if changed else []))
        return decisions


def _differs(before: Any, now: Any) -> bool:
    try:
        return bool(before != now)
    except (TypeError, ValueError):  # arrays and the like: no single truth value
        return not np.array_equal(np.asarray(before, dtype=object), np.asarray(now, dtype=object))


BLOCKS: list[type[Block]] = [RateLimiter, DeltaFilter]
