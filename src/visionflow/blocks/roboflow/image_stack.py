"""Roboflow's image stack (issue 12): frames of each video kept as JPEG bytes, newest first,
as Roboflow's ``image_stack`` block keeps them (see ImageStack for which frames).

Its state is kept per video through the compiled plan's ``video_states`` (a video's stack
dropped by ``Workflow.end_video``); runs may be concurrent, so it is changed under the step's
lock. A still image is a stream of its own keyed by its place in the input batch, as in
Roboflow's engine (whose still images take their input's name as video id), so running a
workflow again on a still image adds to the same stack.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import field_validator

from visionflow.blocks.api import Batch, Block, Output, Selector

MAX_FRAMES = 64
MAX_WIDTH, MAX_HEIGHT = 1920, 1080
JPEG_QUALITY = 75


def _in_range(name: str, value: Any, low: int, high: int) -> Any:
    if isinstance(value, int) and not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, found {value}")
    return value


class ImageStack(Block):
    """Keeps up to ``stack_size`` frames (1-64) of each video: ``frames`` are their JPEG
    bytes (quality 75), newest first, each shrunk (area interpolation, aspect kept) to fit
    ``resolution_width`` x ``resolution_height`` (64-1920 x 64-1080); ``frames_count`` how
    many. While ``stack_size`` stays the same these are the last frames. ``clear`` empties
    the stack before the frame is added. Values from parameters out of range are clamped,
    as in Roboflow's block.

    A ``stack_size`` smaller than the last run's keeps the OLDEST frames that fit, then the
    new frame pushes out the oldest of them, as Roboflow's block does (it rebuilds its
    newest-first queue, which keeps the queue's tail): frames 5..1 kept, a run of frame 6 at
    size 3 gives 6, 3, 2. A larger size keeps every frame.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/image_stack@v1"]
        image: Selector(kinds=["image"])
        stack_size: Selector(kinds=["integer"]) | int = 10
        resolution_width: Selector(kinds=["integer"]) | int = MAX_WIDTH
        resolution_height: Selector(kinds=["integer"]) | int = MAX_HEIGHT
        clear: Selector(kinds=["boolean"]) | bool = False

        @field_validator("stack_size")
        @classmethod
        def _stack_size(cls, value: Any) -> Any:
            return _in_range("stack_size", value, 1, MAX_FRAMES)

        @field_validator("resolution_width")
        @classmethod
        def _width(cls, value: Any) -> Any:
            return _in_range("resolution_width", value, 64, MAX_WIDTH)

        @field_validator("resolution_height")
        @classmethod
        def _height(cls, value: Any) -> Any:
            return _in_range("resolution_height", value, 64, MAX_HEIGHT)

    outputs = [
        Output("frames", kinds=["list_of_values"]),
        Output("frames_count", kinds=["integer"]),
    ]
    category = "image operations"
    accepts_batches = True  # a still image's stream is its place in the batch

    init_parameters = ["video_states"]

    def __init__(self, **init_parameters: Any):
        super().__init__(**init_parameters)
        self._lock = threading.Lock()

    def run(
        self,
        image: Batch,
        stack_size: Any = 10,
        resolution_width: Any = MAX_WIDTH,
        resolution_height: Any = MAX_HEIGHT,
        clear: Any = False,
    ) -> list[dict]:
        results = []
        for position, (index, frame) in enumerate(image.items()):
            size = max(1, min(int(_at(stack_size, position)), MAX_FRAMES))
            width = max(64, min(int(_at(resolution_width, position)), MAX_WIDTH))
            height = max(64, min(int(_at(resolution_height, position)), MAX_HEIGHT))
            compressed = _jpeg(frame.numpy, width, height)
            with self._lock:
                # a video's one stack; still images': one per place in the batch
                stacks: dict[Any, deque[bytes]] = self.video_states.get(self, frame.video_id, dict)
                key = None if frame.video_id is not None else (index[0] if index else 0)
                stack = stacks.get(key)
                if stack is None or stack.maxlen != size:
                    # a smaller size keeps the oldest frames (the newest-first queue's tail),
                    # as Roboflow's block does
                    stack = stacks[key] = deque(stack or (), maxlen=size)
                if _at(clear, position):
                    stack.clear()
                stack.appendleft(compressed)
                frames = list(stack)
            results.append({"frames": frames, "frames_count": len(frames)})
        return results


def _at(value: Any, position: int) -> Any:
    return value[position] if isinstance(value, Batch) else value


def _jpeg(pixels: np.ndarray, max_width: int, max_height: int) -> bytes:
    height, width = pixels.shape[:2]
    if width > max_width or height > max_height:
        scale = min(max_width / width, max_height / height)
        size = (int(width * scale), int(height * scale))
        pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("the frame could not be encoded as JPEG")
    return encoded.tobytes()


BLOCKS: list[type[Block]] = [ImageStack]
