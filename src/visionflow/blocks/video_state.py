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

STILL_IMAGES = None  # the key of the state shared by a step's still images: no video's name
MOST_VIDEOS = 1024  # videos a store keeps: the least recently seen go first past it


class VideoStates:
    """{video: {owner: state}}, thread-safe (steps and runs overlap)."""

    def __init__(self, most_videos: int = MOST_VIDEOS):
        self.most_videos = most_videos
        self._videos: OrderedDict[str | None, dict[Hashable, Any]] = OrderedDict()
        # owners that keep fewer videos than the store (a heavy state: a background model
        # of a frame's size): their videos, least recently seen first
        self._bounded: dict[Hashable, OrderedDict[str | None, None]] = {}
        self._lock = threading.Lock()

    def get(
        self, owner: Hashable, video: str | None, make: Callable[[], T], most: int | None = None
    ) -> T:
        """``owner``'s state for ``video`` (None: still images), made by ``make`` on first
        use. ``owner`` is what keeps the state, usually the block instance (one per step);
        with ``most``, it keeps that many videos' states at most (the least recently seen
        forgotten first)."""
        key = video  # None: still images (a video may have any text as its name)
        with self._lock:
            states = self._videos.get(key)
            if states is None:
                states = self._videos[key] = {}
                while len(self._videos) > self.most_videos:
                    self._forget(*self._videos.popitem(last=False))
            else:
                self._videos.move_to_end(key)
            if most is not None:
                self._seen_by(owner, key, most)
            if owner not in states:
                states[owner] = make()
            return states[owner]

    def _seen_by(self, owner: Hashable, video: str | None, most: int) -> None:
        videos = self._bounded.setdefault(owner, OrderedDict())
        videos[video] = None
        videos.move_to_end(video)
        while len(videos) > max(1, most):
            oldest, _ = videos.popitem(last=False)
            self._videos.get(oldest, {}).pop(owner, None)

    def _forget(self, video: str | None, states: dict[Hashable, Any]) -> None:
        for owner in states:
            videos = self._bounded.get(owner)
            if videos is not None:
                videos.pop(video, None)

    def end(self, video: str) -> bool:
        """Forget every step's state for ``video`` (its source ended); whether it had any."""
        with self._lock:
            states = self._videos.pop(video, None)
            if states is None:
                return False
            self._forget(video, states)
            return True

    def videos(self) -> list[str | None]:
        """The videos with state, least recently seen first (still images: None)."""
        with self._lock:
            return list(self._videos)
