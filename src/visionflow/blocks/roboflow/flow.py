"""Roboflow's flow-control blocks (issue 12): switch case (one branch per value), and two
that keep state across runs: the rate limiter (a cooldown between the times a branch runs)
and the delta filter (a branch that runs only when a value changes).

Their state is kept per video through the compiled plan's ``video_states`` (a video's
dropped by ``Workflow.end_video``); runs may be concurrent, so it is changed under the
step's lock. The delta filter keys a still image by its place in the input batch, which is
what Roboflow's engine does for still images (their video id is the input's name and
position).
"""

from __future__ import annotations

import threading
import time
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from visionflow.blocks.api import Batch, Block, FlowControl, Selector, StepSelector
from visionflow.data.image import WorkflowImage
from visionflow.errors import FlowControlError


class RateLimiter(Block):
    """Runs ``next_steps`` at most once every ``cooldown_seconds``: the first time, then only
    when that long has passed since the branch last ran (elements of a batch count one by
    one). With ``video_reference_image``, time is the frame's time in its video (frame
    number / fps), so a video read faster than real time is limited in video time, and each
    video has its own cooldown; a still image is frame 0, as in Roboflow.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/rate_limiter@v1"]
        cooldown_seconds: Annotated[float, Field(ge=0)] = 1.0
        depends_on: Selector()  # type: ignore[valid-type]
        next_steps: list[StepSelector]
        video_reference_image: Selector(["image"]) | None = None  # type: ignore[valid-type]

    outputs = []
    category = "flow control"
    init_parameters = ["video_states"]

    def __init__(self, **init_parameters: Any):
        super().__init__(**init_parameters)
        self._lock = threading.Lock()

    def run(
        self,
        cooldown_seconds: float,
        depends_on: Any,
        next_steps: list[str],
        video_reference_image: WorkflowImage | None,
    ) -> FlowControl:
        now = _frame_time(video_reference_image)
        video = video_reference_image.video_id if video_reference_image is not None else None
        with self._lock:
            last_run = self.video_states.get(self, video, dict)  # {"at": seconds}
            if "at" in last_run and now - last_run["at"] < cooldown_seconds:
                return FlowControl([])
            last_run["at"] = now
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
    seen for the same image stream (a frame's video, a still image's place in the batch; the
    first value always passes): e.g. write a count to a file only when it changes.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/delta_filter@v1"]
        image: Selector(["image"])  # type: ignore[valid-type]
        value: Selector()  # type: ignore[valid-type]
        next_steps: list[StepSelector]

    outputs = []
    category = "flow control"
    accepts_batches = True  # the element's place in the batch keys a still image's stream
    init_parameters = ["video_states"]

    def __init__(self, **init_parameters: Any):
        super().__init__(**init_parameters)
        self._lock = threading.Lock()

    def run(self, image: Batch, value: Any, next_steps: list[str]) -> list[FlowControl]:
        decisions = []
        with self._lock:
            for position, (index, frame) in enumerate(image.items()):
                current = value[position] if isinstance(value, Batch) else value
                # the video's last value; still images': one per place in the batch
                last = self.video_states.get(self, frame.video_id, dict)
                place = None if frame.video_id is not None else index
                changed = place not in last or _differs(last[place], current)
                if changed:
                    last[place] = current
                decisions.append(FlowControl(next_steps if changed else []))
        return decisions


def _differs(before: Any, now: Any) -> bool:
    try:
        return bool(before != now)
    except (TypeError, ValueError):  # arrays and the like: no single truth value
        return not np.array_equal(np.asarray(before, dtype=object), np.asarray(now, dtype=object))


class SwitchCase(Block):
    """Runs the one step of ``cases`` whose key is ``value`` as text (``str(value)``: True
    matches "True", 1.0 matches "1.0"), else ``default_next_steps`` (none: the branch
    stops). ``case_insensitive`` ignores letter case. Each step is a target at most once.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/switch_case@v1", "SwitchCase"]
        value: Selector() | str | int | float | bool  # type: ignore[valid-type]
        cases: dict[str, StepSelector] = Field(default_factory=dict)
        case_insensitive: bool = False
        default_next_steps: list[StepSelector] = Field(default_factory=list)

        @model_validator(mode="after")
        def _targets_once(self):
            targets = [*self.cases.values(), *self.default_next_steps]
            twice = sorted({target for target in targets if targets.count(target) > 1})
            if twice:
                raise FlowControlError(
                    f"{', '.join(twice)} named more than once: a step may be the target of "
                    "only one case or of the default",
                    place="field 'cases'",
                    hint="point each case at a step of its own, or normalise the value first "
                    "(e.g. with an expression step)",
                )
            lowered = [key.lower() for key in self.cases]
            if self.case_insensitive and len(set(lowered)) != len(lowered):
                raise FlowControlError(
                    "keys of cases are the same when letter case is ignored",
                    place="field 'cases'",
                    hint="keep one of them, or set case_insensitive to false",
                )
            return self

    outputs = []
    category = "flow control"

    def run(
        self,
        value: Any,
        cases: dict[str, str],
        case_insensitive: bool,
        default_next_steps: list[str],
    ) -> FlowControl:
        text = str(value)
        if case_insensitive:
            text = text.lower()
            chosen = next((step for key, step in cases.items() if key.lower() == text), None)
        else:
            chosen = cases.get(text)
        return FlowControl([chosen] if chosen is not None else list(default_next_steps))


BLOCKS: list[type[Block]] = [RateLimiter, DeltaFilter, SwitchCase]
