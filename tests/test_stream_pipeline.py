"""The video pipeline: sources' frames batched through a workflow, results to sinks."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import pytest
from skimage import data

from test_video_metadata import CountFrames  # the per-video counter: one for both files
from visionflow import Block, Output, Selector, Workflow
from visionflow.data.image import VideoMetadata, WorkflowImage
from visionflow.errors import StreamPipelineError
from visionflow.streams.pipeline import Clock, VideoPipeline
from visionflow.streams.sinks import JsonLinesSink, VideoFileSink
from visionflow.streams.sources import Frame, FrameSource, open_source

WIDTH, HEIGHT = 160, 120
PICTURE = cv2.resize(data.astronaut()[:, :, ::-1], (48, 48))  # BGR, as frames are


def moving_picture(number: int) -> np.ndarray:
    """The astronaut's picture moved 8 pixels right per frame across a grey frame."""
    frame = np.full((HEIGHT, WIDTH, 3), 90, np.uint8)
    x = (8 * (number - 1)) % (WIDTH - 48)
    frame[36:84, x : x + 48] = PICTURE
    return frame


class PictureFrames(FrameSource):
    """A real source of frames: the moving picture, ``count`` frames at ``fps`` (a file's
    frames when not live; a live camera's, one every 1/fps seconds, when live)."""

    def __init__(self, identifier: str, count: int | None, fps: float = 10.0, live=False):
        super().__init__(identifier)
        self.count, self.fps, self.is_live = count, fps, live
        self.closed = False

    def open(self) -> None:
        pass

    def read(self) -> Frame | None:
        if self.closed or (self.count is not None and self.frames_read >= self.count):
            return None
        if self.is_live:
            time.sleep(1 / self.fps)
        self.frames_read += 1
        number = self.frames_read
        stamp = VideoMetadata(self.identifier, number, _start(number, self.fps), self.fps, True)
        return Frame(moving_picture(number), stamp, time.monotonic())

    def close(self) -> None:
        self.closed = True


def _start(number: int, fps: float):
    import datetime

    start = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.UTC)
    return start + datetime.timedelta(seconds=(number - 1) / fps)


class BatchSize(Block):
    """How many frames came to the step in the call (the batch of the run)."""

    class Manifest(Block.Manifest):
        type: Literal["test/stream_batch_size@v1"]
        image: Selector(kinds=["image"])

    outputs = [Output("batch", kinds=["integer"])]
    accepts_batches = True

    def run(self, image) -> list[dict[str, Any]]:
        return [{"batch": len(image)}] * len(image)


class Stamp(Block):
    """The frame with its number written on it; frame 2 of video 'broken' fails."""

    class Manifest(Block.Manifest):
        type: Literal["test/stream_stamp@v1"]
        image: Selector(kinds=["image"])

    outputs = [Output("image", kinds=["image"])]

    def run(self, image: WorkflowImage) -> dict[str, Any]:
        meta = image.video_metadata
        if (meta.video_identifier, meta.frame_number) == ("broken", 2):
            raise ValueError("this frame is broken")
        pixels = image.numpy.copy()
        cv2.putText(pixels, str(meta.frame_number), (4, 20), 0, 0.6, (0, 255, 255), 2)
        return {"image": image.with_pixels(pixels)}


BLOCKS = [CountFrames, BatchSize, Stamp]
DEFINITION = {
    "version": "1.0",
    "inputs": [
        {"type": "WorkflowImage", "name": "image"},
        {"type": "WorkflowVideoMetadata", "name": "meta"},
    ],
    "steps": [
        {"type": "test/count_frames@v1", "name": "count", "image": "$inputs.image"},
        {"type": "test/stream_batch_size@v1", "name": "batch", "image": "$inputs.image"},
        {"type": "test/stream_stamp@v1", "name": "stamp", "image": "$inputs.image"},
    ],
    "outputs": [
        {"type": "JsonField", "name": "seen", "selector": "$steps.count.seen"},
        {"type": "JsonField", "name": "batch", "selector": "$steps.batch.batch"},
        {"type": "JsonField", "name": "meta", "selector": "$inputs.meta"},
        {"type": "JsonField", "name": "annotated", "selector": "$steps.stamp.image"},
    ],
}


def compiled() -> Workflow:
    return Workflow.compile(DEFINITION, blocks=BLOCKS, cache=False)  # fresh video state


def stateless() -> Workflow:
    """The workflow without its counting step: nothing kept per video."""
    steps = [step for step in DEFINITION["steps"] if step["name"] != "count"]
    outputs = [output for output in DEFINITION["outputs"] if output["name"] != "seen"]
    return Workflow.compile({**DEFINITION, "steps": steps, "outputs": outputs}, blocks=BLOCKS)


def summary(result) -> tuple:
    return (result.source, result.frame_number, result.outputs["seen"], result.outputs["batch"])


def test_frames_of_two_sources_run_together_one_batch_element_each():
    pipeline = compiled().stream([PictureFrames("a", 5), PictureFrames("b", 3)])
    assert isinstance(pipeline, VideoPipeline)
    results = [summary(result) for result in pipeline]
    assert results == [
        ("a", 1, 1, 2), ("b", 1, 1, 2),
        ("a", 2, 2, 2), ("b", 2, 2, 2),
        ("a", 3, 3, 2), ("b", 3, 3, 2),
        ("a", 4, 4, 1),
        ("a", 5, 5, 1),
    ]  # fmt: skip
    assert pipeline.status().batches == 5


def test_the_frame_and_its_metadata_reach_the_workflow():
    [first, *_] = list(compiled().stream(PictureFrames("a", 2)))
    assert first.outputs["meta"] == first.frame.metadata
    assert first.outputs["meta"].video_identifier == "a"
    assert np.array_equal(first.frame.pixels, moving_picture(1))
    assert first.error is None and first.latency_s >= 0


def test_a_source_that_ends_drops_its_video_state_and_the_others_go_on():
    workflow = compiled()
    videos = []
    pipeline = workflow.stream(
        [PictureFrames("a", 5), PictureFrames("b", 3)],
        on_result=lambda r: videos.append((r.source, r.frame_number, workflow_videos(workflow))),
    )
    pipeline.start()
    assert pipeline.join() is True
    assert videos[-2:] == [("a", 4, ["a"]), ("a", 5, ["a"])]  # b's state went when it ended
    assert videos[0] == ("a", 1, ["a", "b"])
    assert workflow_videos(workflow) == []  # and a's at the end


def workflow_videos(workflow: Workflow) -> list[str]:
    return sorted(workflow.plan.video_states.videos())


def test_status_counts_each_source():
    pipeline = stateless().stream([PictureFrames("a", 4), PictureFrames("broken", 3)])
    assert pipeline.status().state == "created"
    with pipeline:
        pipeline.join()
    status = pipeline.status()
    assert status.state == "ended"
    a, broken = status.sources
    assert (a.source, a.state, a.frames_read, a.processed, a.failed, a.dropped) == (
        "a",
        "ended",
        4,
        4,
        0,
        0,
    )
    assert (broken.frames_read, broken.processed, broken.failed, broken.reconnects) == (3, 2, 1, 0)
    assert "this frame is broken" in broken.last_error
    assert a.fps is not None and a.fps > 0
    assert a.latency_s is not None and a.latency_p50_s <= a.latency_p99_s
    assert status.to_dict()["sources"][0]["processed"] == 4


def test_a_frame_that_fails_fails_alone():
    results = list(stateless().stream([PictureFrames("a", 3), PictureFrames("broken", 3)]))
    failed = [(r.source, r.frame_number) for r in results if r.error is not None]
    assert failed == [("broken", 2)]
    assert "step 'stamp'" in str(results[3].error)
    assert [(r.source, r.frame_number) for r in results if r.error is None] == [
        ("a", 1), ("broken", 1), ("a", 2), ("a", 3), ("broken", 3)
    ]  # fmt: skip


def test_in_a_workflow_keeping_video_state_a_failing_batch_fails_whole():
    """Running the other frames again would show them twice to the steps keeping state."""
    results = list(compiled().stream([PictureFrames("a", 3), PictureFrames("broken", 3)]))
    failed = [(r.source, r.frame_number) for r in results if r.error is not None]
    assert failed == [("a", 2), ("broken", 2)]
    assert results[2].error is results[3].error
    assert [(r.source, r.outputs["seen"]) for r in results if r.frame_number == 1] == [
        ("a", 1), ("broken", 1)
    ]  # fmt: skip


class RecordingClock(Clock):
    """The real clock, noting the times it gave and the deadlines it was asked to wait for."""

    def __init__(self):
        self.given: list[float] = []
        self.deadlines: list[float] = []

    def now(self) -> float:
        self.given.append(super().now())
        return self.given[-1]

    def wait_until(self, deadline: float, stop) -> None:
        self.deadlines.append(deadline)
        super().wait_until(deadline, stop)


def test_max_fps_paces_the_runs_and_a_file_still_gives_every_frame():
    clock = RecordingClock()
    results = list(compiled().stream(PictureFrames("a", 6), max_fps=50, clock=clock))
    assert [r.frame_number for r in results] == [1, 2, 3, 4, 5, 6]
    # each batch is taken no sooner than 1/50 s after the one before (then the end is found)
    assert len(clock.given) == 6
    assert clock.deadlines == [taken + 1 / 50 for taken in clock.given]


def test_without_max_fps_nothing_waits():
    clock = RecordingClock()
    assert len(list(compiled().stream(PictureFrames("a", 3), clock=clock))) == 3
    assert (clock.given, clock.deadlines) == ([], [])


def test_max_fps_must_be_positive():
    with pytest.raises(StreamPipelineError) as caught:
        compiled().stream(PictureFrames("a", 1), max_fps=0)
    assert (caught.value.code, caught.value.place) == ("invalid_stream_pipeline", "max_fps")


def test_a_workflow_with_several_image_inputs_needs_one_named():
    definition = {
        "version": "1.0",
        "inputs": [
            {"type": "WorkflowImage", "name": "left"},
            {"type": "WorkflowImage", "name": "right"},
        ],
        "steps": [],
        "outputs": [{"type": "JsonField", "name": "left", "selector": "$inputs.left"}],
    }
    source = PictureFrames("a", 1)
    with pytest.raises(StreamPipelineError) as caught:
        Workflow.compile(definition).stream(source)
    assert caught.value.message == "the workflow's image inputs are ['left', 'right']; choose one"
    pipeline = Workflow.compile(definition).stream(source, image_input="right")
    assert pipeline.image_input == "right" and pipeline.metadata_input is None


def test_the_sinks_get_every_frame(tmp_path: Path):
    video, lines = VideoFileSink(tmp_path / "out.mp4"), JsonLinesSink(tmp_path / "out.jsonl")
    sources = [PictureFrames("a", 5), PictureFrames("broken", 3, fps=5.0)]
    with compiled().stream(sources, sinks=[video, lines]) as pipeline:
        pipeline.join()
    assert video.paths() == {"a": tmp_path / "out-a.mp4", "broken": tmp_path / "out-broken.mp4"}
    assert read_video(tmp_path / "out-a.mp4") == (5, WIDTH, HEIGHT, 10.0)
    assert read_video(tmp_path / "out-broken.mp4") == (3, WIDTH, HEIGHT, 5.0)
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [(r["source"], r["frame_number"]) for r in records] == [
        ("a", 1), ("broken", 1), ("a", 2), ("broken", 2), ("a", 3), ("broken", 3), ("a", 4),
        ("a", 5),
    ]  # fmt: skip
    assert records[0] == {
        "source": "a",
        "frame_number": 1,
        "frame_timestamp": "2026-12-07T12:00:00+00:00",
        "outputs": {
            "seen": 1,
            "batch": 2,
            "meta": ["a", 1, "2026-12-07T12:00:00+00:00", 10.0, True, None],
            "annotated": {"type": "image", "width": WIDTH, "height": HEIGHT},
        },
        "error": None,
    }
    assert records[3]["outputs"] is None
    assert records[3]["error"]["code"] == "step_execution_error"
    assert records[3]["error"]["place"] == "steps 'stamp'"


def read_video(path: Path) -> tuple[int, int, int, float]:
    """(frames decoded, width, height, declared fps) of a video file."""
    capture = cv2.VideoCapture(str(path))
    frames = 0
    while capture.read()[0]:
        frames += 1
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return frames, *size, round(fps, 3)


def test_the_video_shows_the_annotated_frames(tmp_path: Path):
    with compiled().stream(PictureFrames("a", 3), sinks=[VideoFileSink(tmp_path / "a.avi")]) as p:
        p.join()
    capture = cv2.VideoCapture(str(tmp_path / "a.avi"))  # Motion JPEG: close to the pixels
    ok, first = capture.read()
    capture.release()
    assert ok
    plain = moving_picture(1).astype(int)
    stamped = np.abs(first.astype(int) - plain).max(axis=2) > 60
    assert stamped[:24, :30].sum() > 20  # the number written at the top left
    assert stamped[40:80, 60:].sum() == 0  # the rest is the frame as read (JPEG aside)


def test_a_stop_in_the_middle_loses_nothing_in_the_sinks(tmp_path: Path):
    seen = []
    video, lines = VideoFileSink(tmp_path / "out.mp4"), JsonLinesSink(tmp_path / "out.jsonl")

    def stop_at_the_fourth(result) -> None:
        seen.append((result.source, result.frame_number))
        if len(seen) == 4:
            pipeline.stop()

    live = PictureFrames("camera", None, fps=100.0, live=True)
    pipeline = compiled().stream(
        [live, PictureFrames("a", 1000)], sinks=[video, lines], on_result=stop_at_the_fourth
    )
    pipeline.start()
    assert pipeline.join() is True
    status = pipeline.status()
    assert status.state == "stopped"
    assert [s.state for s in status.sources] == ["stopped", "stopped"]
    assert live.closed
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [(r["source"], r["frame_number"]) for r in records] == seen
    processed = {s.source: s.processed for s in status.sources}
    assert len(seen) == sum(processed.values()) >= 4
    for source, count in processed.items():
        if count:
            assert read_video(video.paths()[source])[:3] == (count, WIDTH, HEIGHT)
        else:  # the camera's first frame may not have come yet
            assert not video.paths()[source].exists()


def test_leaving_the_loop_stops_the_pipeline():
    source = PictureFrames("camera", None, fps=100.0, live=True)
    pipeline = compiled().stream(source)
    for result in pipeline:
        if result.frame_number >= 3:
            break
    assert pipeline.status().state == "stopped" and source.closed


def test_a_video_file_streams_every_frame_with_its_metadata(tmp_path: Path):
    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 12.0, (WIDTH, HEIGHT))
    for number in range(1, 8):
        writer.write(moving_picture(number))
    writer.release()
    results = list(compiled().stream(str(path)))
    assert [(r.source, r.frame_number, r.outputs["seen"]) for r in results] == [
        (str(path), n, n) for n in range(1, 8)
    ]
    meta = results[0].outputs["meta"]
    assert (meta.fps, meta.comes_from_video_file) == (12.0, True)
    assert results[0].frame.pixels.shape == (HEIGHT, WIDTH, 3)


def wait_for(condition, what: str, seconds: float = 30.0) -> None:
    """Wait for a state of the pipeline (a bound for a stuck test, not a timed assertion)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what} after {seconds} s")
        time.sleep(0.01)


def test_a_live_stream_that_is_lost_and_comes_back_runs_on_beside_a_file(tmp_path: Path):
    from mjpeg_server import MjpegServer

    lines = JsonLinesSink(tmp_path / "out.jsonl")
    with MjpegServer(fps=30) as camera:
        live = open_source(camera.url, identifier="gate")
        live.first_delay, live.max_delay = 0.02, 0.05
        pipeline = stateless().stream([live, PictureFrames("file", 1000)], sinks=[lines])
        pipeline.start()

        def processed(source: str) -> int:
            return next(s.processed for s in pipeline.status().sources if s.source == source)

        wait_for(lambda: processed("gate") >= 3, "frames of the camera")
        camera.drop_connections(down=True)  # lost, and refusing for a while
        wait_for(lambda: processed("file") >= processed("gate") + 20, "the file going on alone")
        camera.come_back()
        wait_for(lambda: pipeline.status().sources[0].reconnects == 1, "the reconnection")
        before = processed("gate")
        wait_for(lambda: processed("gate") >= before + 3, "frames after the reconnection")
        pipeline.stop()
        assert pipeline.join() is True
    gate, file = pipeline.status().sources
    assert (gate.state, gate.reconnects, gate.failed) == ("stopped", 1, 0)
    assert gate.frames_read >= gate.processed and gate.latency_p50_s is not None
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    numbers = [r["frame_number"] for r in records if r["source"] == "gate"]
    assert len(numbers) == gate.processed and numbers == sorted(set(numbers))  # in order
    assert [r["frame_number"] for r in records if r["source"] == "file"] == list(
        range(1, file.processed + 1)
    )  # a file gives every frame


class GatedCamera(FrameSource):
    """A live camera that captures a frame only when the test lets it (``allow``)."""

    is_live = True

    def __init__(self, identifier: str):
        super().__init__(identifier)
        self.fps, self.closed = 10.0, False
        self._allowed = threading.Semaphore(0)

    def allow(self, frames: int) -> None:
        self._allowed.release(frames)

    def open(self) -> None:
        pass

    def read(self) -> Frame | None:
        while not self._allowed.acquire(timeout=0.01):
            if self.closed:
                return None
        self.frames_read += 1
        number = self.frames_read
        meta = VideoMetadata(self.identifier, number, _start(number, 10.0), 10.0, False)
        return Frame(moving_picture(number), meta, time.monotonic())

    def close(self) -> None:
        self.closed = True


def test_with_max_fps_a_live_source_runs_its_newest_frame_not_one_taken_before_the_wait():
    camera = GatedCamera("gate")
    numbers: list[int] = []

    class LetThreeFramesCome(Clock):
        def wait_until(self, deadline, stop) -> None:
            dropped = pipeline.status().sources[0].dropped
            camera.allow(3)  # while the pipeline waits, three frames come; two go stale
            wait_for(lambda: pipeline.status().sources[0].dropped == dropped + 2, "3 frames")
            super().wait_until(deadline, stop)

    def take(result) -> None:
        numbers.append(result.frame_number)
        if len(numbers) == 3:
            pipeline.stop()

    pipeline = stateless().stream(camera, max_fps=1000, clock=LetThreeFramesCome(), on_result=take)
    camera.allow(1)
    pipeline.start()
    assert pipeline.join(60) is True
    assert numbers == [1, 4, 7]
    assert pipeline.status().sources[0].dropped == 4


def source_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("source ")]


def test_a_pipeline_stopped_before_it_started_closes_its_sources_and_their_threads():
    from mjpeg_server import MjpegServer

    with MjpegServer(fps=30) as camera:
        pipeline = stateless().stream(camera.url)
        assert source_threads() == [f"source {camera.url}"]  # the camera's reader
        pipeline.stop()
        pipeline.stop()  # twice: nothing more
        assert source_threads() == []
        assert pipeline.join() is True and pipeline.status().state == "stopped"
        assert pipeline.status().sources[0].state == "stopped"
        pipeline.start()  # stays stopped
        assert list(pipeline) == [] and source_threads() == []


def test_every_thread_ends_with_the_pipeline_a_live_source_included(tmp_path: Path):
    from mjpeg_server import MjpegServer

    with MjpegServer(fps=30) as camera:
        seen = []

        def stop_at_the_third(result) -> None:
            seen.append(result)
            if len(seen) == 3:
                pipeline.stop()

        sinks = [JsonLinesSink(tmp_path / "out.jsonl")]
        pipeline = stateless().stream(
            [camera.url, PictureFrames("a", 1000)], on_result=stop_at_the_third, sinks=sinks
        )
        pipeline.start()
        assert pipeline.join(60) is True
        assert source_threads() == []
        assert not any(t.name == "video pipeline" and t.is_alive() for t in threading.enumerate())
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == len(seen)


def test_a_source_that_fails_is_named_in_the_status_and_the_others_go_on(tmp_path: Path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for number in (1, 2):
        cv2.imwrite(str(folder / f"frame{number}.png"), moving_picture(number))
    (folder / "frame3.png").write_bytes(b"not a png")
    lines = JsonLinesSink(tmp_path / "out.jsonl")
    with stateless().stream([str(folder), PictureFrames("a", 5)], sinks=[lines]) as pipeline:
        pipeline.join()
    frames, a = pipeline.status().sources
    assert (frames.state, frames.processed, frames.failed) == ("failed", 2, 0)
    assert frames.error == {
        "code": "video_source_error",
        "place": f"source '{folder}'",
        "message": f"frame 3 '{folder / 'frame3.png'}' is not an image OpenCV can read",
        "hint": "remove or replace that file (or leave it out of the pattern)",
    }
    assert (a.state, a.processed, a.error) == ("ended", 5, None)
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [(r["source"], r["frame_number"]) for r in records if r["source"] != "a"] == [
        (str(folder), 1), (str(folder), 2)
    ]  # fmt: skip


def test_a_source_whose_read_raises_is_named_with_a_hint():
    class Broken(PictureFrames):
        def read(self) -> Frame | None:
            if self.frames_read == 2:
                raise RuntimeError("the device went away")
            return super().read()

    pipeline = stateless().stream(Broken("cam", 5))
    assert [r.frame_number for r in pipeline] == [1, 2]
    [status] = pipeline.status().sources
    assert status.state == "failed" and pipeline.status().state == "ended"
    assert status.error["code"] == "RuntimeError" and status.error["place"] == "source 'cam'"
    assert status.error["message"] == "the device went away" and status.error["hint"]


def test_a_workflow_without_an_image_input_is_refused_clearly():
    definition = {
        "version": "1.0",
        "inputs": [{"type": "WorkflowParameter", "name": "x"}],
        "steps": [],
        "outputs": [{"type": "JsonField", "name": "x", "selector": "$inputs.x"}],
    }
    with pytest.raises(StreamPipelineError) as caught:
        Workflow.compile(definition).stream(PictureFrames("a", 1))
    assert caught.value.message == "the workflow has no image input to give the frames to"
    assert caught.value.place == "image_input" and "WorkflowImage" in caught.value.hint


def write_clip(path: Path, frames: int, fps: float) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (WIDTH, HEIGHT))
    for number in range(1, frames + 1):
        writer.write(moving_picture(number))
    writer.release()
    return path


def test_the_video_of_every_nth_frame_keeps_the_files_duration(tmp_path: Path):
    clip = write_clip(tmp_path / "clip.mp4", 12, 12.0)
    video = VideoFileSink(tmp_path / "out.mp4")
    pipeline = compiled().stream(str(clip), sinks=[video], source_options={"every_nth": 3})
    assert [r.frame_number for r in pipeline] == [1, 4, 7, 10]
    assert read_video(tmp_path / "out.mp4") == (4, WIDTH, HEIGHT, 4.0)  # 4 frames, 1 s


def test_a_live_sources_video_is_written_at_the_rate_its_frames_came(tmp_path: Path):
    class EightAFrameSecond(PictureFrames):
        """A live camera whose frames were captured 1/8 s apart (their capture times)."""

        def read(self) -> Frame | None:
            frame = super().read()
            if frame is None:
                return None
            return Frame(frame.pixels, frame.metadata, 1000.0 + frame.metadata.frame_number / 8)

    camera = EightAFrameSecond("cam", 20, fps=25.0)  # it declares 25 (as MJPEG streams do)
    camera.is_live, camera.latest_only = True, False  # none dropped: 1/8 s between all
    video = VideoFileSink(tmp_path / "cam.mp4")
    results = list(compiled().stream(camera, sinks=[video]))
    assert len(results) == 20
    assert read_video(tmp_path / "cam.mp4") == (20, WIDTH, HEIGHT, 8.0)


def test_a_gray_or_four_channel_image_output_is_written(tmp_path: Path):
    from visionflow.streams.pipeline import StreamResult

    sink = VideoFileSink(tmp_path / "out.avi")
    sink.open(compiled(), [PictureFrames("a", 2)])
    frame = PictureFrames("a", 2).read()
    gray = WorkflowImage(np.full((HEIGHT, WIDTH), 200, np.uint8))
    bgra = WorkflowImage(np.full((HEIGHT, WIDTH, 4), 100, np.uint8))
    for image in (gray, bgra):
        sink.write(StreamResult("a", frame, {"annotated": image}, None, 0.0))
    sink.close()
    capture = cv2.VideoCapture(str(tmp_path / "out.avi"))
    levels = []
    while (read := capture.read())[0]:
        levels.append(round(float(read[1].mean())))
    capture.release()
    assert len(levels) == 2 and abs(levels[0] - 200) <= 2 and abs(levels[1] - 100) <= 2


def test_a_frame_too_large_for_mpeg4_is_refused_with_its_size(tmp_path: Path):
    class Wide(PictureFrames):
        def read(self) -> Frame | None:
            frame = super().read()
            wide = None if frame is None else np.zeros((16, 9000, 3), np.uint8)
            return frame and Frame(wide, frame.metadata, frame.captured_at)

    pipeline = stateless().stream(Wide("a", 2), sinks=[VideoFileSink(tmp_path / "o.mp4")])
    with pytest.raises(StreamPipelineError) as caught:
        pipeline.start().join()
    assert caught.value.message == f"cannot write a 9000x16 video to '{tmp_path / 'o.mp4'}'"
    assert ".avi" in caught.value.hint


def test_two_sources_of_one_name_are_refused_and_closed():
    first, second = PictureFrames("a", 2), PictureFrames("a", 2)
    with pytest.raises(StreamPipelineError) as caught:
        compiled().stream([first, second])
    assert caught.value.place == "sources"
    assert caught.value.message == "several sources are named 'a'"
    assert "identifier" in caught.value.hint and first.closed and second.closed


def test_a_live_source_opened_to_keep_every_frame_loses_none_in_the_pipeline():
    camera = GatedCamera("gate")
    camera.latest_only = False  # as open_source(..., latest_only=False) gives it
    numbers: list[int] = []

    def take(result) -> None:
        numbers.append(result.frame_number)
        if result.frame_number == 1:  # four frames come while the first one's run ends
            camera.allow(4)
            wait_for(lambda: camera.frames_read == 5, "four more frames")
        if result.frame_number == 5:
            pipeline.stop()

    pipeline = stateless().stream(camera, on_result=take)
    camera.allow(1)
    pipeline.start()
    assert pipeline.join(60) is True
    assert numbers == [1, 2, 3, 4, 5] and pipeline.status().sources[0].dropped == 0


def test_join_before_start_is_refused_not_waited_for_ever():
    source = PictureFrames("a", 3)
    pipeline = stateless().stream(source)
    with pytest.raises(StreamPipelineError) as caught:
        pipeline.join()
    assert (caught.value.place, caught.value.message) == (
        "join",
        "join() on a pipeline that was not started",
    )
    assert "start()" in caught.value.hint and not source.closed
    pipeline.stop()  # a pipeline that will not run: its sources close
    assert source.closed and pipeline.join() is True


def test_several_files_read_ahead_on_one_thread_that_ends_with_a_stop(tmp_path: Path):
    sources = [PictureFrames("a", 4), PictureFrames("b", 6)]
    seen = []

    def stop_at_the_fifth(result) -> None:
        seen.append((result.source, result.frame_number))
        if len(seen) == 5:
            pipeline.stop()  # the batch in progress, (a 3, b 3), still ends

    lines = JsonLinesSink(tmp_path / "out.jsonl")
    pipeline = stateless().stream(sources, on_result=stop_at_the_fifth, sinks=[lines])
    pipeline.start()
    assert pipeline.join(60) is True
    assert seen == [("a", 1), ("b", 1), ("a", 2), ("b", 2), ("a", 3), ("b", 3)]
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [(r["source"], r["frame_number"]) for r in records] == seen
    assert all(source.closed for source in sources)
    assert [s.state for s in pipeline.status().sources] == ["stopped", "stopped"]
    assert not any(t.name.startswith("video files") for t in threading.enumerate())


def test_a_callback_that_fails_stops_everything_and_is_raised_by_join(tmp_path: Path):
    from mjpeg_server import MjpegServer

    def fail_at_the_third(result) -> None:
        if result.source == "a" and result.frame_number == 3:
            raise RuntimeError("the callback broke")

    with MjpegServer(fps=30) as camera:
        lines = JsonLinesSink(tmp_path / "out.jsonl")
        pipeline = stateless().stream(
            [camera.url, PictureFrames("a", 1000)], on_result=fail_at_the_third, sinks=[lines]
        )
        pipeline.start()
        with pytest.raises(RuntimeError, match="the callback broke"):
            pipeline.join(60)
        assert source_threads() == [] and pipeline.status().state == "stopped"
        assert [s.state for s in pipeline.status().sources] == ["stopped", "stopped"]
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    processed = sum(s.processed for s in pipeline.status().sources)
    assert len(records) == processed and records[-1]["frame_number"] == 3
