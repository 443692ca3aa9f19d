"""Roboflow's blocks that remember earlier frames' values (issue 13): frame delay (a value
from ``offset`` frames ago in the same video; Roboflow's former time travel) and buffer (the
last ``length`` values, newest first).

Their memory is kept per video through the compiled plan's ``video_states`` (dropped by
``Workflow.end_video``); still images share one memory per step.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Literal

from pydantic import Field, field_validator

from visionflow.blocks.api import Block, Output, Selector
from visionflow.data.image import WorkflowImage
from visionflow.errors import RuntimeInputError

MOST_FRAMES_BACK = 256  # a frame delay's deepest offset: every frame it reaches is held


def _checked_offset(offset: Any) -> int:
    if (
        isinstance(offset, bool)
        or not isinstance(offset, int)
        or not (-MOST_FRAMES_BACK <= offset <= 0)
    ):
        raise ValueError(
            f"offset is a whole number of frames back, from -{MOST_FRAMES_BACK} to 0 "
            f"(-1: the previous frame), not {offset!r}"
        )
    return offset


class _Remembering(Block):
    init_parameters = ["video_states"]

    def __init__(self, **init_parameters: Any):
        super().__init__(**init_parameters)
        self._lock = threading.Lock()  # a step's runs may overlap


class FrameDelay(_Remembering):
    """``data`` as it was ``offset`` frames ago (0: now, -1: the previous frame) in the video
    of ``image``, by frame number; ``default_value`` and ``is_available`` false while that
    frame has not been seen. ``reference_frame_number`` is this frame's number. Frame numbers
    going back (a stream that restarted under the same name) start the memory anew."""

    class Manifest(Block.Manifest):
        type: Literal[
            "roboflow_core/frame_delay@v1",
            "FrameDelay",
            "roboflow_core/time_travel@v1",
            "TimeTravel",
        ]
        image: Selector(kinds=["image"])
        data: Selector()
        offset: Selector(kinds=["integer"]) | int
        default_value: bool | int | float | str | None = Field(
            default=None, union_mode="left_to_right"
        )

        @field_validator("offset")
        @classmethod
        def _offset_in_range(cls, value: Any) -> Any:
            return value if isinstance(value, str) else _checked_offset(value)

    outputs = [
        Output("output", kinds=["*"]),
        Output("is_available", kinds=["boolean"]),
        Output("reference_frame_number", kinds=["integer"]),
    ]

    def run(
        self, image: WorkflowImage, data: Any, offset: Any, default_value: Any
    ) -> dict[str, Any]:
        try:
            offset = _checked_offset(offset)
        except ValueError as error:  # an offset from a parameter
            raise RuntimeInputError(
                str(error), place="field 'offset'", hint="give offset as -1 for the previous frame"
            ) from None
        number = image.video_metadata.frame_number
        with self._lock:
            memory = self.video_states.get(self, image.video_id, lambda: {"deepest": 0})
            frames: OrderedDict[int, Any] = memory.setdefault("frames", OrderedDict())
            if frames and number < next(reversed(frames)):
                frames.clear()
                memory["deepest"] = 0
            # keep what the deepest offset asked so far can reach (offsets may change)
            memory["deepest"] = max(memory["deepest"], -offset)
            frames[number] = data
            available = number + offset in frames
            value = frames[number + offset] if available else default_value
            while frames and next(iter(frames)) < number - memory["deepest"]:
                frames.popitem(last=False)
        return {"output": value, "is_available": available, "reference_frame_number": number}


class Buffer(_Remembering):
    """The last ``length`` values of ``data``, newest first; with ``pad``, filled with None
    up to ``length``. Kept per video when ``data`` is a video frame, else one per step."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/buffer@v1", "Buffer"]
        data: Selector(kinds=["*", "list_of_values", "image"])
        length: int
        pad: bool = False

    outputs = [Output("output", kinds=["list_of_values"])]

    def run(self, data: Any, length: int, pad: bool) -> dict[str, Any]:
        video = data.video_id if isinstance(data, WorkflowImage) else None
        with self._lock:
            values: list[Any] = self.video_states.get(self, video, list)
            values.insert(0, data)
            del values[max(length, 0) :]
            if pad:
                values.extend([None] * (length - len(values)))
            return {"output": list(values)}


BLOCKS: list[type[Block]] = [FrameDelay, Buffer]
