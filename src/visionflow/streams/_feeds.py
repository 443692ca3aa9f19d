"""The feeds the pipeline takes frames from: a live source's read by a thread of its own,
a file's read on demand by the pipeline's own thread.

A live source's reader replaces a frame not yet taken by the newer one (stale frames are
dropped, the latest is processed) and counts the frame it dropped; one opened with
``latest_only=False`` reads up to ``AHEAD`` frames ahead, then waits until half of them
are taken. A file source (``read_inline``) has no thread: it is read when the pipeline
needs its next frame. A reader thread only pays where decoding overlaps the run with a
core to spare; on 2 busy cores it does not: a frame decoded on one core and run on another
misses the cache, and the threads hand over (locks, wake-ups, the GIL); with a light
workflow such readers ran at 0.5-0.65x of a plain loop there, the file read inline at
0.85-0.95x (bench/video.py); read in the running thread, the frame is still in the cache.
``source_status`` reads a feed's figures for the status.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

_log = logging.getLogger("visionflow.streams")

RECENT = 256  # results kept per source for its fps and latency figures
AHEAD = 4  # frames a live source read with latest_only=False gets ahead of the pipeline


@dataclass
class Feed:
    """A source, its slot and its counters; guarded by the pipeline's condition."""

    source: Any  # a visionflow.streams.sources.FrameSource
    frames: deque = field(default_factory=deque)  # read, waiting to be taken (sources.Frame)
    ended: bool = False  # the source gave its last frame (or failed)
    finished: bool = False  # ended and its last frame ran: its video state is dropped
    stopped: bool = False
    dropped: int = 0  # frames a newer frame replaced before the pipeline took them
    processed: int = 0
    failed: int = 0
    last_error: str | None = None
    error: dict[str, Any] | None = None  # why the source itself failed (code, place, ...)
    result_times: deque = field(default_factory=lambda: deque(maxlen=RECENT))
    latencies: deque = field(default_factory=lambda: deque(maxlen=RECENT))
    thread: threading.Thread | None = None  # its reader; None for a file, read inline
    closed: bool = False
    last_frame_at: float = 0.0  # when the reader last gave a frame (time.monotonic())

    @property
    def identifier(self) -> str:
        return self.source.identifier

    @property
    def is_live(self) -> bool:
        return bool(self.source.is_live)

    @property
    def read_inline(self) -> bool:
        """A file (any source that is not live): the pipeline's thread reads it itself."""
        return not self.is_live

    @property
    def keeps_every_frame(self) -> bool:
        """A file, or a live source opened with ``latest_only=False``: none is dropped."""
        return not self.is_live or not getattr(self.source, "latest_only", True)

    def state(self) -> str:
        if self.error is not None:
            return "failed"
        if self.finished:
            return "ended"
        return "stopped" if self.stopped else "running"

    def record(self, latency: float, error: BaseException | None) -> None:
        self.result_times.append(time.monotonic())
        self.latencies.append(latency)
        if error is None:
            self.processed += 1
        else:
            self.failed += 1
            self.last_error = str(error)


def start_reader(feed: Feed, condition: threading.Condition, stopping: threading.Event) -> None:
    """Read ``feed``'s source on a daemon thread until it ends or the pipeline stops."""
    feed.last_frame_at = time.monotonic()  # a live source's first frame is waited for too
    feed.thread = threading.Thread(
        target=_read,
        args=(feed, condition, stopping),
        name=f"source {feed.identifier}",
        daemon=True,  # a live source blocked in read() must not keep the process alive
    )
    feed.thread.start()


def read_inline(feed: Feed, condition: threading.Condition) -> None:
    """Read a file source's next frame on the calling thread into its feed (or mark it
    ended, and close it, once it has no more or it fails)."""
    try:
        frame = feed.source.read()
    except Exception as error:  # a source that fails ends alone; the others go on
        _failed(feed, condition, error)
        frame = None
    with condition:
        if frame is not None:
            feed.frames.append(frame)
            feed.last_frame_at = time.monotonic()
            return
        feed.ended = True
    close_source(feed, condition)


def _read(feed: Feed, condition: threading.Condition, stopping: threading.Event) -> None:
    try:
        while not stopping.is_set():
            frame = feed.source.read()
            with condition:
                if frame is None:
                    break
                if len(feed.frames) >= AHEAD and feed.keeps_every_frame:
                    while len(feed.frames) > AHEAD // 2 and not stopping.is_set():
                        condition.wait()  # a file gives every frame: wait for room
                if stopping.is_set():
                    break
                if not feed.keeps_every_frame:
                    feed.dropped += len(feed.frames)  # the older frame is stale
                    feed.frames.clear()
                feed.frames.append(frame)
                feed.last_frame_at = time.monotonic()
                condition.notify_all()
    except Exception as error:  # a source that fails ends alone; the others go on
        _failed(feed, condition, error)
    finally:
        with condition:
            feed.ended = True
            condition.notify_all()
        close_source(feed, condition)


def _failed(feed: Feed, condition: threading.Condition, error: Exception) -> None:
    _log.error(  # a bug in a source's own code keeps its traceback
        "source %s failed: %s", feed.identifier, error, exc_info=not hasattr(error, "to_dict")
    )
    with condition:
        feed.last_error = str(error)
        feed.error = _described(error, feed.identifier)


def close_source(feed: Feed, condition: threading.Condition) -> None:
    """Close the source once (its reader when it exits, or the pipeline for a stuck one)."""
    with condition:
        if feed.closed:
            return
        feed.closed = True
    try:
        feed.source.close()
    except Exception as error:  # closing is best effort: the pipeline is ending anyway
        _log.warning("closing source %s: %s", feed.identifier, error)


def _described(error: Exception, identifier: str) -> dict[str, Any]:
    if hasattr(error, "to_dict"):  # a SourceError names the source and gives a hint
        return error.to_dict()
    return {
        "code": type(error).__name__,
        "place": f"source '{identifier}'",
        "message": str(error),
        "hint": "the source's read() failed: see the log for its traceback",
    }


@dataclass(frozen=True)
class SourceStatus:
    """Where one source stands; fps and latencies over its last results."""

    source: str
    state: str  # running / stopped / ended / failed (the source itself: see ``error``)
    fps: float | None
    latency_s: float | None  # the last frame's, capture to result
    latency_p50_s: float | None
    latency_p99_s: float | None
    frames_read: int
    processed: int
    failed: int
    dropped: int
    reconnects: int
    last_error: str | None
    error: dict[str, Any] | None = None  # the source's own failure: code, place, message, hint


def source_status(feed: Feed) -> SourceStatus:
    times, latencies = list(feed.result_times), sorted(feed.latencies)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    fps = (len(times) - 1) / span if span > 0 else None
    source = feed.source
    return SourceStatus(
        source=feed.identifier,
        state=feed.state(),
        fps=fps,
        latency_s=feed.latencies[-1] if feed.latencies else None,
        latency_p50_s=_percentile(latencies, 0.5),
        latency_p99_s=_percentile(latencies, 0.99),
        frames_read=int(getattr(source, "frames_read", 0)),
        processed=feed.processed,
        failed=feed.failed,
        dropped=int(getattr(source, "frames_dropped", 0)) + feed.dropped,
        reconnects=int(getattr(source, "reconnects", 0)),
        last_error=feed.last_error,
        error=feed.error,
    )


def _percentile(ordered: list[float], share: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]
