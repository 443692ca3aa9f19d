"""Lanes: video files run one frame a run on up to a thread per CPU core.

Where no step gains from a batch (none takes a whole batch, reduces one or keeps state per
video), a batch of several files' frames costs more than it gives: the frames of a batch
are decoded before the first of them runs, so each run reads its frame back from memory
instead of the cache. On a 2-core machine a Gaussian blur on 640x480 frames took ~2.2x
the CPU a frame it takes in a loop that reads each frame just before its run (perf: the
blur's loads), 4 files batched and read inline ran at 0.42x of that loop, and a reader
thread decoding ahead on the other core did no better (the frame crosses cores). A lane
does what the loop does, a frame read then run at once on the same thread; several lanes
do it at once for different files: 4 files on 2 lanes ran at 1.5-1.9x of the loop with
the loop's CPU a frame (bench/video.py, figure 2).

The files wait in one turn: a lane takes the first, runs its next frame, delivers it and
puts the file back last, so a file is on one lane at a time and its results stay in
order; the order between files is the order the lanes finish their frames in.
``LaneGate`` lets fewer lanes run while other work holds the cores.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from visionflow.streams._feeds import Feed


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity where the system says)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def plan_lanes(feeds: list[Feed], workflow: Any, max_fps: float | None, wanted: int | None) -> int:
    """How many lanes run ``feeds`` (0: none, the pipeline runs batches): none with a
    live source (batches wait for its latest frame), ``max_fps`` (it paces batches), a
    step that gains from batches or keeps state per video, a single file, or ``wanted``
    (the pipeline's ``file_lanes``) at 1."""
    live = any(feed.is_live for feed in feeds)
    return lane_count(len(feeds), live, workflow, max_fps, wanted)


def decoder_threads(
    specs: list[Any], workflow: Any, max_fps: float | None, wanted: int | None
) -> int | None:
    """The FFmpeg threads for the video files the pipeline opens from ``specs``: 1 where
    they will run on lanes (the lanes keep the cores busy; a decoder's own threads, one a
    core each, only add CPU a frame: 4 files on 2 lanes took 632 us of CPU a frame decoded
    in the lane's thread, 674 us with FFmpeg's threads), else None (FFmpeg's choice: it
    decodes ahead while a batch runs)."""
    from visionflow.streams.sources import names_live_source

    live = any(
        bool(getattr(spec, "is_live", False)) if hasattr(spec, "read") else names_live_source(spec)
        for spec in specs
    )
    return 1 if lane_count(len(specs), live, workflow, max_fps, wanted) > 1 else None


def lane_count(
    sources: int, live: bool, workflow: Any, max_fps: float | None, wanted: int | None
) -> int:
    """How many lanes run ``sources`` sources (0 or 1: none, the pipeline runs batches)."""
    count = min(sources, usable_cores() if wanted is None else wanted)
    if count < 2 or live or max_fps is not None:
        return 0
    if batch_pays(workflow) or keeps_video_state(workflow):
        return 0
    return count


def batch_pays(workflow: Any) -> bool:
    """Whether a step takes the whole batch in one call (a model's, a block accepting
    batches) or reduces it (its output has fewer dimensions than its input)."""
    plan = getattr(workflow, "plan", None)
    if plan is None:  # not a compiled workflow: what it does with a batch is unknown
        return True
    return any(step.accepts_batches or step.output_offset < 0 for step in plan.steps.values())


def keeps_video_state(workflow: Any) -> bool:
    steps = getattr(getattr(workflow, "plan", None), "steps", {})
    return any("video_states" in step.block.init_parameters for step in steps.values())


class LaneGate:
    """How many lanes may run a frame at once: all of them while they get a core each,
    one while other work holds the cores. Two lanes sharing one core pay for it: each
    one's frame is pushed out of the cache by the other's, and on a 2-core machine with
    a core busy elsewhere 2 lanes ran at 0.95x of the plain loop, one at 1.02-1.03x;
    with both cores free, 2 lanes ran at 1.8x (bench/video.py).

    It starts with as many lanes as cores nothing else is running on (the machine's
    runnable threads now, /proc/loadavg), then every ``window_s`` looks at the last
    window: lanes that got less than a core each between them (this process's CPU time
    over wall time) let one go; half a core idle on the machine (/proc/stat) lets one
    more run. Where the machine's idle time cannot be read, every lane runs.

    ``limit``: the lanes it starts with (default: as said); ``slack``: how far under a
    core a lane its CPU may be before one goes (a thread reading ahead of the run thread
    is busy part of the time only: 0.9); ``measure``: () -> (wall seconds, this process's
    CPU seconds, the machine's idle core-seconds or None), each from any fixed start; the
    real ones by default (a test gives recorded ones).
    """

    window_s = 0.1  # a pass of a few hundred frames is under a second: adapt within it

    def __init__(
        self,
        lanes: int,
        limit: int | None = None,
        measure: Callable[[], tuple[float, float, Any]] | None = None,
        slack: float = 0.7,
    ):
        self.lanes = lanes
        self.slack = slack
        self._measure = measure or _measured
        self._window = self._measure()
        self._adapts = self._window[2] is not None
        self.limit = lanes if not self._adapts else limit or _free_cores(lanes)
        self._since = time.monotonic()  # the window's start, checked at every frame

    def tick(self) -> bool:
        """After each frame (under the pipeline's lock); whether the limit rose."""
        if not self._adapts or time.monotonic() - self._since < self.window_s:
            return False
        before, self._window = self._window, self._measure()
        self._since = time.monotonic()
        wall, cpu, idle = (now - then for now, then in zip(self._window, before, strict=True))
        if wall <= 0:
            return False
        if self.limit > 1 and cpu / wall < self.limit - self.slack:  # not a core a lane
            self.limit -= 1
        elif self.limit < self.lanes and idle / wall > 0.5:  # half a core idle or more
            self.limit += 1
            return True
        return False


def _free_cores(lanes: int) -> int:
    """Lanes (1 to ``lanes``) for the cores no other thread is running on right now."""
    try:
        with open("/proc/loadavg", "rb") as loadavg:
            running = int(loadavg.read().split()[3].split(b"/")[0])  # this thread among them
    except (OSError, IndexError, ValueError):
        return lanes
    return max(1, min(lanes, usable_cores() - (running - 1)))


def _measured() -> tuple[float, float, float | None]:
    return time.monotonic(), time.process_time(), _idle_seconds()


def _idle_seconds() -> float | None:
    """Seconds the machine's cores have been idle since boot (all cores), or None."""
    try:
        with open("/proc/stat", "rb") as stat:
            fields = stat.readline().split()
        return (int(fields[4]) + int(fields[5])) / _TICKS  # idle and iowait
    except (OSError, IndexError, ValueError):
        return None


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
