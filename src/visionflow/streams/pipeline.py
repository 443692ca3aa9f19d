"""A video pipeline: frame sources -> one ``Workflow.run`` per batch of frames -> sinks.

Each batch holds at most one frame per source (one batch element per source), so model
steps get the frames of several cameras at once. File sources give every frame; live ones
their latest (see ``_feeds.py``). ``max_fps`` paces the batches. Several files through a
workflow that gains nothing from batches run one frame a run on lanes instead, a thread
per core, each file on one lane (``_lanes.py``).

    pipeline = workflow.stream(["a.mp4", "b.mp4"], sinks=[JsonLinesSink("out.jsonl")])
    for result in pipeline:          # starts it; ends when both files have ended
        print(result.source, result.frame_number, result.outputs)
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass
from typing import Any

from visionflow.data.image import WorkflowImage
from visionflow.data.sources import ImagePolicy, check_pixels
from visionflow.errors import ImageTooLargeError, StreamPipelineError
from visionflow.streams._feeds import (
    AHEAD,
    Feed,
    SourceStatus,
    close_source,
    read_inline,
    source_status,
    start_reader,
)
from visionflow.streams._lanes import LaneGate, decoder_threads, keeps_video_state, plan_lanes
from visionflow.streams._memory import keep_freed_frames

_log = logging.getLogger("visionflow.streams")

COLLECT_S = 0.05  # how long a batch waits for the other live sources' frames
READ_AHEAD_FILES = 1  # this many files or more: read on a thread while the batch runs
SILENT_S = 1.0  # a live source with no frame for this long is not waited for (reconnecting)


class Clock:
    """The time ``max_fps`` paces the runs by: ``now()`` (seconds, monotonic) and
    ``wait_until(deadline, stop)`` (returns at ``deadline`` or once ``stop`` is set).
    A pipeline takes another as ``clock=`` (one that records what it is asked, say)."""

    def now(self) -> float:
        return time.monotonic()

    def wait_until(self, deadline: float, stop: threading.Event) -> None:
        stop.wait(max(0.0, deadline - time.monotonic()))


@dataclass(frozen=True)
class StreamResult:
    """A frame's results: ``outputs`` (the workflow's result dict for it) or the ``error``
    that made it fail; ``latency_s`` from the frame's capture to its result."""

    source: str
    frame: Any  # a visionflow.streams.sources.Frame
    outputs: dict[str, Any] | None
    error: BaseException | None
    latency_s: float

    @property
    def frame_number(self) -> int:
        return self.frame.metadata.frame_number


@dataclass(frozen=True)
class PipelineStatus:
    state: str  # created / running / stopped / ended
    sources: list[SourceStatus]
    batches: int

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


class VideoPipeline:
    """Frames of ``sources`` through ``workflow``, results to ``on_result``, ``sinks`` and
    iteration. ``start()`` / ``stop()`` / ``join()``, or ``with`` (stops at its end).

    ``sources``: opened FrameSource objects (as ``open_source`` gives them) or what
    ``open_source`` takes (a video file, a folder or glob of images, a webcam index, an
    rtsp:// or http(s):// URL), opened here; the pipeline closes them when it ends or
    stops. ``image_input``: the
    workflow's image input to give frames to (needed only if it has several);
    ``metadata_input``: its ``WorkflowVideoMetadata`` input (found when it declares one);
    ``parameters``: values of its other inputs, the same for every run;
    ``source_options``: ``open_source``'s options (``every_nth``, ``latest_only``, ...)
    for the sources given by name. ``image_policy``: a frame over its pixel limit fails
    alone (``ImageTooLargeError``), as an image given to a run would (the server's
    ``--max-image-pixels``). ``file_lanes``: with several files only, no ``max_fps`` and
    no step that takes a whole batch, reduces one or keeps state per video, a started
    pipeline runs each frame alone on one of this many threads (default: one per CPU
    core; 1: batches as with live sources), each file on one of them, so the workflow's
    steps run for different files at once, as a server's concurrent runs do.
    """

    def __init__(
        self,
        workflow: Any,
        sources: Sequence[Any] | Any,
        *,
        on_result: Callable[[StreamResult], None] | None = None,
        max_fps: float | None = None,
        image_input: str | None = None,
        metadata_input: str | None = None,
        parameters: dict[str, Any] | None = None,
        sinks: Sequence[Any] = (),
        source_options: dict[str, Any] | None = None,
        clock: Clock | None = None,
        image_policy: ImagePolicy | None = None,
        file_lanes: int | None = None,
    ):
        if max_fps is not None and not max_fps > 0:
            raise StreamPipelineError(
                f"max_fps must be above 0, found {max_fps}",
                place="max_fps",
                hint="leave it out to process frames as fast as they come",
            )
        if file_lanes is not None and (
            isinstance(file_lanes, bool) or not isinstance(file_lanes, int) or file_lanes < 1
        ):
            raise StreamPipelineError(
                f"file_lanes must be a whole number from 1, found {file_lanes!r}",
                place="file_lanes",
                hint="1 runs the files' frames in batches; leave it out for one lane a core",
            )
        if isinstance(sources, str | int | os.PathLike) or hasattr(sources, "read"):
            sources = [sources]
        sources = list(sources)
        self.workflow = workflow
        self.image_input = _image_input(workflow, image_input)
        self.metadata_input = _metadata_input(workflow, metadata_input)
        self.parameters = dict(parameters or {})
        self.image_policy = image_policy  # frames over its pixel limit fail, each alone
        self._keeps_video_state = keeps_video_state(workflow)
        self.on_result = on_result
        self.max_fps = max_fps
        self.clock = clock or Clock()
        self.sinks = list(sinks)
        self._condition = threading.Condition()
        self._feeds: list[Feed] = []
        options = dict(source_options or {})
        if "decoder_threads" not in options:  # files on lanes: decoded in the lane (_lanes.py)
            options["decoder_threads"] = decoder_threads(sources, workflow, max_fps, file_lanes)
        try:
            for source in sources:
                self._feeds.append(Feed(_opened(source, options)))
        except BaseException:  # a source that cannot open: those opened before close
            for feed in self._feeds:
                close_source(feed, self._condition)
            raise
        if not self._feeds:
            raise StreamPipelineError("no source given", place="sources")
        names = [feed.identifier for feed in self._feeds]
        if len(set(names)) < len(names):  # one video state, one video file, one status each
            for feed in self._feeds:
                close_source(feed, self._condition)
            twice = sorted({name for name in names if names.count(name) > 1})
            raise StreamPipelineError(
                f"several sources are named {twice[0]!r}",
                place="sources",
                hint="give each its own identifier (open_source(spec, identifier=...)); "
                "trackers keep their state, and sinks their files, per identifier",
            )
        self._stopping = threading.Event()
        self._runner: threading.Thread | None = None  # the thread running the batches
        self._state = "created"
        self._batches = 0
        self._failure: BaseException | None = None
        # several files: one thread reads their next frames while the batch runs (_read_files)
        self._files_reader: ThreadPoolExecutor | None = None
        self._files_read: Future | None = None  # its read of the next batch's frames
        self._ahead_gate: LaneGate | None = None  # whether that thread gets a core
        # files only and nothing gained by batches: lanes, each file on one at a time
        self._lanes = plan_lanes(self._feeds, workflow, max_fps, file_lanes)
        self._lane_threads: list[threading.Thread] = []  # the lanes beside the run thread
        self._turn: deque[Feed] = deque()  # files no lane holds, the next to run first
        self._running = 0  # lanes running a frame
        self._parked = 0  # lanes waiting for a file or for the gate
        self._delivering = threading.Lock()  # lanes: one frame's results to the sinks at once
        self._done = threading.Event()  # set once the sinks are closed

    # --- the front door -----------------------------------------------------------------

    def start(self) -> VideoPipeline:
        """Open the sinks, then read the sources and run on threads of their own (a
        pipeline stopped before it started stays stopped)."""
        with self._condition:  # a stop() from another thread sees it started, or not at all
            if self._runner is not None or self._done.is_set():
                return self
            runner = threading.Thread(target=self._run, name="video pipeline", daemon=True)
            self._runner = runner
        try:
            self._open()
        except BaseException:  # a sink that cannot open: it never runs (sources closed)
            self._state = "stopped"
            self._done.set()
            raise
        runner.start()
        return self

    def stop(self) -> None:
        """Stop after the batch in progress; its results still reach every sink. Before
        ``start()``, the sources are closed now (a camera's reader thread ends)."""
        self._stopping.set()
        with self._condition:
            self._condition.notify_all()
            unstarted = self._runner is None and not self._done.is_set()
            if unstarted:
                self._runner = _NEVER  # start() and iterating now do nothing
        if unstarted:
            for feed in self._feeds:
                close_source(feed, self._condition)
                feed.stopped = True
            self._state = "stopped"
            self._done.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the pipeline has ended or stopped (sinks closed); whether it has.
        A failure of a sink or a callback that stopped it is raised here; so is a join
        before ``start()``, which would wait for ever."""
        # an Event, not Thread.join: a Ctrl-C inside Thread.join (Python 3.11) marks the
        # thread finished while it still runs, and the process would leave the sinks open
        if self._runner is None:  # waiting would wait for ever (its sources stay open)
            raise StreamPipelineError(
                "join() on a pipeline that was not started",
                place="join",
                hint="call start() first (or iterate over the pipeline, or use it in a with "
                "block); stop() closes a pipeline that will not run",
            )
        if self._runner is _NEVER:
            return True
        here = threading.current_thread()
        if self._runner is here or here in self._lane_threads:  # a callback cannot wait
            return self._done.is_set()
        if not self._done.wait(timeout):
            return False
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure
        return True

    def __iter__(self) -> Iterator[StreamResult]:
        """The results as they come: iterating starts the pipeline and runs it in the
        iterating thread (no hand-over between threads; batches, never lanes); leaving the
        loop early stops it."""
        if self._runner is _NEVER:
            return  # stopped before it started
        if self._runner is not None:
            raise StreamPipelineError(
                "the pipeline was started before it was iterated",
                place="iteration",
                hint="iterate it without calling start() (iterating starts it), or "
                "give on_result to a pipeline you start",
            )
        self._open()
        self._runner = threading.current_thread()
        try:
            for results in self._batches_run():
                yield from results
                del results  # let the batch's frames go before the next are read (_run)
        finally:
            if not all(feed.finished for feed in self._feeds):
                self.stop()  # left early, or a sink or the callback failed
            self._finish()

    def __enter__(self) -> VideoPipeline:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.join()

    def status(self) -> PipelineStatus:
        with self._condition:
            sources = [source_status(feed) for feed in self._feeds]
        return PipelineStatus(self._state, sources, self._batches)

    # --- the run ------------------------------------------------------------------------

    def _open(self) -> None:
        opened = []
        try:
            for sink in self.sinks:
                sink.open(self.workflow, [feed.source for feed in self._feeds])
                opened.append(sink)
        except BaseException:
            for sink in opened:
                sink.close()
            for feed in self._feeds:  # the pipeline owns its sources: it will never run
                close_source(feed, self._condition)
            raise
        self._state = "running"
        keep_freed_frames()  # frames not faulted in anew at every batch (_memory.py)
        for feed in self._feeds:
            if not feed.read_inline:  # a file is read by the running thread (_feeds.py)
                start_reader(feed, self._condition, self._stopping)

    def _run(self) -> None:
        try:
            if self._lanes:
                self._run_lanes()
                return
            for results in self._batches_run():
                # dropped before the next frames are read: a batch's frames and images kept
                # alive meanwhile made a light workflow ~40% slower (the next frame decodes
                # into memory no longer in the cache; bench/video.py)
                del results
        except BaseException as error:  # a sink or a callback failed: stop, say why
            self._failed(error)
        finally:
            self._finish()

    def _failed(self, error: BaseException) -> None:
        _log.exception("the video pipeline stopped")
        with self._condition:
            if self._failure is None:  # a lane's failure; another one may fail after it
                self._failure = error
        self._stopping.set()  # a stop: its state and its sources' say "stopped"

    def _run_lanes(self) -> None:
        """The lanes on threads, the first on this one; back once all have ended."""
        self._turn.extend(self._feeds)
        gate = LaneGate(self._lanes)
        self._lane_threads = [
            threading.Thread(target=self._lane, args=(gate,), name=f"video lane {n}", daemon=True)
            for n in range(1, self._lanes)
        ]
        for thread in self._lane_threads:
            thread.start()
        self._lane(gate)
        for thread in self._lane_threads:
            thread.join()  # each ends after its frame in progress once stopping is set

    def _lane(self, gate: LaneGate) -> None:
        """The next file's frame, read, run and delivered on this thread, over and over
        (the loop a user writes: the frame runs while it is still in this core's cache),
        the file put back last in the turn; at most ``gate.limit`` lanes at once."""
        feed: Feed | None = None
        try:
            while (feed := self._next_file(feed, gate)) is not None:
                if not feed.frames and not feed.ended:
                    read_inline(feed, self._condition)
                with self._condition:
                    frame = feed.frames.popleft() if feed.frames else None
                if frame is None:
                    continue  # it ended (or failed); its video state goes when put back
                batch = [(feed, frame)]
                del frame
                self._deliver(batch, self._outcomes(batch))
                del batch  # not alive while the next frame is read (see _run)
        except BaseException as error:  # a sink or a callback failed: every lane stops
            self._failed(error)
            with self._condition:
                self._condition.notify_all()  # the lanes waiting for a file see the stop

    def _next_file(self, done: Feed | None, gate: LaneGate) -> Feed | None:
        """Put back the file this lane ran (``done``), then take the next one once the gate
        lets this lane run; None once every file has ended or the pipeline stops."""
        with self._condition:
            if done is not None:
                self._running -= 1
                if done.ended and not done.frames:
                    self._drop_ended_videos()
                else:
                    self._turn.append(done)
                if gate.tick() or not (self._turn or self._running):
                    self._condition.notify_all()  # more lanes may run, or all files ended
            while not self._stopping.is_set():
                if self._turn and self._running < gate.limit:
                    self._running += 1
                    feed = self._turn.popleft()
                    if self._turn and self._running < gate.limit and self._parked:
                        self._condition.notify()  # room for another lane
                    return feed
                if not self._turn and not self._running:
                    return None  # every file has ended
                self._parked += 1
                self._condition.wait()
                self._parked -= 1
            return None

    def _batches_run(self) -> Iterator[list[StreamResult]]:
        """Each batch's results, once they reached the sinks and the callback."""
        deadline = None
        while True:
            # paced before taking, so a live source's newest frame runs; a stop cuts it short
            if deadline is not None and not self._stopping.is_set():
                self.clock.wait_until(deadline, self._stopping)
            batch = self._next_batch()
            if batch is None:
                return
            if self.max_fps is not None:  # the next batch is taken 1 / max_fps after this one
                deadline = self.clock.now() + 1 / self.max_fps
            yield self._deliver(batch, self._outcomes(batch))
            del batch  # not alive while the next frames are read (see _run)

    def _next_batch(self) -> list[tuple[Feed, Any]] | None:
        """One frame of each source that has one (file sources always wait their turn);
        None once every source has ended or the pipeline stops."""
        if self._files_read is not None:  # read while the last batch ran
            files_read, self._files_read = self._files_read, None
            files_read.result()
        if self._stopping.is_set():
            return None
        self._read_files()  # files first, outside the lock: the live ones go on
        deadline = None
        with self._condition:
            while not self._stopping.is_set():
                self._drop_ended_videos()
                active = [feed for feed in self._feeds if not feed.finished]
                if not active:
                    return None
                ready = [feed for feed in active if feed.frames]
                late = [feed for feed in active if not feed.frames and _awaited(feed)]
                files_late = any(not feed.is_live for feed in late)
                if ready and not late:
                    break
                if ready and not files_late:
                    deadline = deadline or time.monotonic() + COLLECT_S
                    if time.monotonic() >= deadline:
                        break
                wait = None if deadline is None else max(0.0, deadline - time.monotonic())
                self._condition.wait(wait)
            else:
                return None
            batch = [(feed, feed.frames.popleft()) for feed in ready]
            if any(len(feed.frames) == AHEAD // 2 for feed in ready):
                self._condition.notify_all()  # a file's reader waits for this much room
        self._read_ahead()
        return batch

    def _read_files(self) -> None:
        """The next frame of each file source that has none waiting."""
        for feed in self._feeds:
            if feed.read_inline and not feed.frames and not feed.ended:
                read_inline(feed, self._condition)

    def _read_ahead(self) -> None:
        """Read the files' next frames on one thread while this batch runs. Decoding
        (OpenCV's read) and most blocks release the GIL, so on two cores the two overlap:
        one file at 1.19-1.20x a plain loop's frames/s on an idle 2-core machine, against
        0.87-0.92x read in turn (bench/video.py). On cores busy with other work the gain
        goes and the frame crosses cores for nothing (one file at 0.64-0.87x of the loop
        with a core busy elsewhere): a gate (``LaneGate``) reads them in this thread,
        before the batch, while the reader would not get a core of its own."""
        files = [f for f in self._feeds if f.read_inline and not f.ended and not f.frames]
        if len(files) < READ_AHEAD_FILES or self._stopping.is_set():
            return
        if self._ahead_gate is None:
            self._ahead_gate = LaneGate(2, slack=0.9)
        self._ahead_gate.tick()
        if self._ahead_gate.limit < 2:
            return  # read by _next_batch before the next batch (_read_files)
        if self._files_reader is None:
            self._files_reader = ThreadPoolExecutor(1, thread_name_prefix="video files")
        self._files_read = self._files_reader.submit(self._read_files)

    def _drop_ended_videos(self) -> None:
        # a source that ended and whose last frame ran: its video state goes
        for feed in self._feeds:
            if feed.ended and not feed.frames and not feed.finished:
                feed.finished = True
                self.workflow.end_video(feed.identifier)

    def _outcomes(self, batch: list[tuple[Feed, Any]]) -> list[tuple[dict | None, Any]]:
        """(outputs, error) per frame: one run for the batch. If it fails, each frame runs
        alone, so that only a failing frame fails; not in a workflow keeping state per
        video (a tracker would see the other frames twice): there the batch's frames fail."""
        if self.image_policy is not None and (refused := self._oversized(batch)):
            taken = [item for n, item in enumerate(batch) if n not in refused]
            ran = iter(self._outcomes(taken) if taken else [])
            return [(None, refused[n]) if n in refused else next(ran) for n in range(len(batch))]
        frames = [frame for _, frame in batch]
        try:
            results = self.workflow.run(self._inputs(frames))
        except Exception as error:
            if len(frames) == 1 or self._keeps_video_state:
                for feed, frame in batch:
                    _log.warning(
                        "frame %s of %s failed: %s", frame.metadata.frame_number, feed.identifier,
                        error,
                    )  # fmt: skip
                return [(None, error)] * len(frames)
            return [outcome for item in batch for outcome in self._outcomes([item])]
        with self._condition:  # lanes count their runs at once
            self._batches += 1
        if len(results) != len(frames):  # a workflow with no per-element output
            results = results * len(frames)
        return [(result, None) for result in results]

    def _oversized(self, batch: list[tuple[Feed, Any]]) -> dict[int, ImageTooLargeError]:
        """Position in the batch -> why its frame is over the image policy's pixel limit."""
        refused = {}
        for n, (feed, frame) in enumerate(batch):
            height, width = frame.pixels.shape[:2]
            try:
                check_pixels(
                    (width, height), f"{feed.identifier}: frame {frame.metadata.frame_number}",
                    self.image_policy,
                )  # fmt: skip
            except ImageTooLargeError as error:
                refused[n] = error
        return refused

    def _inputs(self, frames: list[Any]) -> dict[str, Any]:
        inputs = dict(self.parameters)
        inputs[self.image_input] = [
            WorkflowImage(frame.pixels, video=frame.metadata) for frame in frames
        ]
        if self.metadata_input is not None:
            inputs[self.metadata_input] = [frame.metadata for frame in frames]
        return inputs

    def _deliver(self, batch: list[tuple[Feed, Any]], outcomes: list) -> list[StreamResult]:
        with self._delivering:  # lanes: sinks and the callback get one result at a time
            return self._delivered(batch, outcomes)

    def _delivered(self, batch: list[tuple[Feed, Any]], outcomes: list) -> list[StreamResult]:
        done, results = time.monotonic(), []
        for (feed, frame), (outputs, error) in zip(batch, outcomes, strict=True):
            result = StreamResult(feed.identifier, frame, outputs, error, done - frame.captured_at)
            with self._condition:
                feed.record(result.latency_s, error)
            for sink in self.sinks:
                sink.write(result)
            if self.on_result is not None:
                self.on_result(result)
            results.append(result)
        return results

    def _finish(self) -> None:
        stopped = self._stopping.is_set()
        self.stop()  # readers of files waiting for a slot leave
        if self._files_reader is not None:  # its read in progress ends before files close
            reading = [self._files_read] if self._files_read is not None else []
            stuck = futures_wait(reading, timeout=1.0).not_done  # as long as a reader's join
            self._files_reader.shutdown(wait=not stuck)  # its thread gone, unless stuck
        for feed in self._feeds:
            close_source(feed, self._condition)  # a live reader waiting in read() returns
        for feed in self._feeds:
            if feed.thread is not None:
                feed.thread.join(1.0)
            with self._condition:
                feed.stopped = stopped and not feed.finished
        errors = []
        for sink in self.sinks:  # every sink closed (flushed), whatever the others do
            try:
                sink.close()
            except Exception as error:
                _log.exception("closing a sink failed")
                errors.append(error)
        if errors and self._failure is None:
            self._failure = errors[0]
        self._state = "stopped" if stopped else "ended"
        self._done.set()


_NEVER = threading.Thread(name="never started")  # the runner of a pipeline stopped unstarted


def _opened(source: Any, options: dict[str, Any]) -> Any:
    if hasattr(source, "read") and hasattr(source, "identifier"):
        return source
    from visionflow.streams.sources import open_source

    return open_source(source, **options)


def _image_input(workflow: Any, wanted: str | None) -> str:
    images = [n for n, i in workflow.inputs.items() if i["type"] == "image"]
    if wanted is not None and wanted in images:
        return wanted
    if wanted is None and len(images) == 1:
        return images[0]
    if not images:
        raise StreamPipelineError(
            "the workflow has no image input to give the frames to",
            place="image_input",
            hint="declare one: inputs: [{type: WorkflowImage, name: image}], and use it",
        )
    raise StreamPipelineError(
        f"the workflow's image inputs are {images or 'none'}; "
        + ("choose one" if wanted is None else f"'{wanted}' is not one of them"),
        place="image_input",
        hint="a video pipeline gives each frame to one image input (--image-input)",
    )


def _metadata_input(workflow: Any, wanted: str | None) -> str | None:
    found = [n for n, i in workflow.inputs.items() if "video_metadata" in i["kinds"]]
    if wanted is None:
        return found[0] if len(found) == 1 else None
    if wanted not in found:
        raise StreamPipelineError(
            f"'{wanted}' is not a WorkflowVideoMetadata input of the workflow "
            f"(those are {found or 'none'})",
            place="metadata_input",
        )
    return wanted


def _awaited(feed: Feed) -> bool:
    """Whether a batch waits for this source's next frame: a file's, always (until it
    ends); a live one's, unless it has been silent (lost, reconnecting)."""
    if feed.ended:
        return False
    return not feed.is_live or time.monotonic() - feed.last_frame_at < SILENT_S
