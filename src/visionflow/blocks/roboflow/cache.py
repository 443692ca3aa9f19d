"""Roboflow's cache blocks (issue 12): ``cache_set`` stores a value under a key and
``cache_get`` reads it back, in this run or a later run of the same compiled workflow.

Where Roboflow keeps one cache for its whole process, here each compiled workflow has its
own (the compiler's ``workflow_state``, shared by that plan's steps only), so two workflows
never see each other's values. As in Roboflow, entries are kept per video stream, in the
plan's ``video_states`` (a video's entries dropped by ``Workflow.end_video``): a frame's
video, or for a still image its place in the input batch (Roboflow: the input's name and
position; for a crop, its place, where Roboflow takes its detection id). The cache is
bounded (least recently used places and keys go first) and changed under a lock, since
steps and runs may be concurrent.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Literal

from visionflow.blocks.api import Batch, Block, Output, Selector
from visionflow.data.image import WorkflowImage

MAX_PLACES = 256  # still-image places kept per workflow (videos: as video_states keeps)
MAX_KEYS = 1024  # keys kept per stream
MISSING = False  # what Roboflow's cache_get gives for a key never set
_STATE_KEY = "roboflow_core/cache"


class WorkflowCache:
    """Values by video, place and key (the place: a still image's place in its batch, None
    for a video's frames), the least recently used evicted beyond the bounds."""

    def __init__(self, video_states: Any, max_places: int = MAX_PLACES, max_keys: int = MAX_KEYS):
        self._lock = threading.Lock()
        self._states = video_states
        self._max_places = max_places
        self._max_keys = max_keys

    def _places(self, video: str | None) -> OrderedDict[Any, OrderedDict[str, Any]]:
        return self._states.get(self, video, OrderedDict)

    def get(self, video: str | None, place: Any, key: str) -> Any:
        with self._lock:
            places = self._places(video)
            entries = places.get(place)
            if entries is None or key not in entries:
                return MISSING
            places.move_to_end(place)
            entries.move_to_end(key)
            return entries[key]

    def set(self, video: str | None, place: Any, key: str, value: Any) -> None:
        with self._lock:
            places = self._places(video)
            entries = places.setdefault(place, OrderedDict())
            places.move_to_end(place)
            entries[key] = value
            entries.move_to_end(key)
            if len(entries) > self._max_keys:
                entries.popitem(last=False)
            if len(places) > self._max_places:
                places.popitem(last=False)


def stream_of(image: WorkflowImage, index: tuple[int, ...]) -> tuple[str | None, Any]:
    """The (video, place) an element's entries belong to: a frame's video, or a still
    image's (or crop's) place in the batch. Roboflow keys a crop by its detection id, new
    each run; here by its place, as the delta filter does."""
    video = image.video_id
    return (video, None) if video is not None else (None, index)


def _at(value: Any, position: int) -> Any:
    return value[position] if isinstance(value, Batch) else value


class _CacheBlock(Block):
    init_parameters = ["workflow_state", "video_states"]
    accepts_batches = True  # the element's place in the batch names a still image's stream
    workflow_state: dict[str, Any]
    video_states: Any

    def __init__(self, **init_parameters: Any):
        super().__init__(**init_parameters)
        # steps are set up one after another at compile time: no race on the first
        self._cache: WorkflowCache = self.workflow_state.setdefault(
            _STATE_KEY, WorkflowCache(self.video_states)
        )


class CacheSet(_CacheBlock):
    """Stores ``value`` under ``key`` in the workflow's cache, for the image's stream; a key
    set again is overwritten. ``output`` is the value itself. Read it with cache_get in this
    run or a later run of the same compiled workflow (see the module's notes on the cache).
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/cache_set@v1"]
        image: Selector(["image"])  # type: ignore[valid-type]
        key: Selector(["string"]) | str  # type: ignore[valid-type]
        value: Selector(["*", "list_of_values"])  # type: ignore[valid-type]

    outputs = [Output("output")]

    def run(self, image: Batch, key: Any, value: Any) -> list[dict[str, Any]]:
        results = []
        for position, (index, frame) in enumerate(image.items()):
            stored = _at(value, position)
            self._cache.set(*stream_of(frame, index), _at(key, position), stored)
            results.append({"output": stored})
        return results


class CacheGet(_CacheBlock):
    """The value cache_set stored under ``key`` for the image's stream, in this run or an
    earlier run of the same compiled workflow; ``False`` when there is none (as Roboflow).
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/cache_get@v1"]
        image: Selector(["image"])  # type: ignore[valid-type]
        key: Selector(["string"]) | str  # type: ignore[valid-type]

    outputs = [Output("output")]

    def run(self, image: Batch, key: Any) -> list[dict[str, Any]]:
        return [
            {"output": self._cache.get(*stream_of(frame, index), _at(key, position))}
            for position, (index, frame) in enumerate(image.items())
        ]


BLOCKS: list[type[Block]] = [CacheSet, CacheGet]
