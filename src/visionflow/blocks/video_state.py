"""State kept per video by a compiled workflow's stateful steps (trackers, zones, motion):
made on a video's first frame, dropped when its source ends (``Workflow.end_video``).

One store per compiled plan, given to blocks as the compiler-only init parameter
``video_states``: blocks stay plain (they ask for their state by video) and the engine
knows nothing of video. Still images (``WorkflowImage.video_id`` None) share one state per
step, as in Roboflow's engine.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")

STILL_IMAGES = "(still images)"  # the key of the state shared by a step's still images
MOST_VIDEOS = 1024  # videos a store keeps: the least recently seen go first past it


class VideoStates:
    """{video: {owner: state}}, thread-safe (steps and runs overlap)."""

    def __init__(self, most_videos: int = MOST_VIDEOS):
        self.most_videos = most_videos
        self._videos: OrderedDict[str, dict[Hashable, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, owner: Hashable, video: str | None, make: Callable[[], T]) -> T:
        """``owner``'s state for ``video`` (None: still images), made by ``make`` on first
        use. ``owner`` is what keeps the state, usually the block instance (one per step)."""
        key = STILL_IMAGES if video is None else video
        with self._lock:
            states = self._videos.get(key)
            if states is None:
                states = self._videos[key] = {}
                while len(self._videos) > self.most_videos:
                    self._videos.popitem(last=False)
            else:
                self._videos.move_to_end(key)
            if owner not in states:
                states[owner] = make()
            return states[owner]

    def end(self, video: str) -> bool:
        """Forget every step's state for ``video`` (its source ended); whether it had any."""
        with self._lock:
            return self._videos.pop(video, None) is not None

    def videos(self) -> list[str]:
        """The videos with state, least recently seen first (still images included)."""
        with self._lock:
            return list(self._videos)
