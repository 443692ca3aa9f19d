"""Several files through a workflow that gains nothing from batches: each frame runs alone
on a lane (a thread per core), each file on one lane at a time (streams/_lanes.py)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from test_stream_pipeline import (
    BLOCKS,
    DEFINITION,
    HEIGHT,
    WIDTH,
    PictureFrames,
    moving_picture,
)
from test_video_examples import video_frames
from visionflow import Workflow
from visionflow.errors import SourceError, StreamPipelineError
from visionflow.streams._lanes import LaneGate, lane_count
from visionflow.streams.sinks import JsonLinesSink
from visionflow.streams.sources import open_source


def light() -> Workflow:
    """The pipeline tests' workflow with its stamping step only: no step takes a whole
    batch or keeps state per video (frame 2 of video 'broken' fails)."""
    steps = [step for step in DEFINITION["steps"] if step["name"] == "stamp"]
    outputs = [out for out in DEFINITION["outputs"] if out["name"] in ("meta", "annotated")]
    definition = {**DEFINITION, "steps": steps, "outputs": outputs}
    return Workflow.compile(definition, blocks=BLOCKS, cache=False)


def batched() -> Workflow:
    """With the step that takes the whole batch: the frames of the files run together."""
    steps = [step for step in DEFINITION["steps"] if step["name"] in ("batch", "stamp")]
    outputs = [out for out in DEFINITION["outputs"] if out["name"] in ("batch", "annotated")]
    return Workflow.compile({**DEFINITION, "steps": steps, "outputs": outputs}, blocks=BLOCKS)


def stateful() -> Workflow:
    """With the step counting frames per video (state kept per video)."""
    steps = [step for step in DEFINITION["steps"] if step["name"] in ("count", "stamp")]
    outputs = [out for out in DEFINITION["outputs"] if out["name"] in ("seen", "annotated")]
    definition = {**DEFINITION, "steps": steps, "outputs": outputs}
    return Workflow.compile(definition, blocks=BLOCKS, cache=False)


def lane_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name.startswith("video lane")]


class OpenedWith:
    """A sink that keeps the sources the pipeline opened it with (and writes nothing)."""

    def open(self, workflow, sources) -> None:
        self.sources = list(sources)

    def write(self, result) -> None:
        pass

    def close(self) -> None:
        pass


def test_every_frame_of_every_file_runs_alone_in_order_per_file(tmp_path: Path):
    sources = [PictureFrames("a", 7), PictureFrames("b", 4), PictureFrames("c", 5)]
    seen = []
    lines = JsonLinesSink(tmp_path / "out.jsonl")
    pipeline = light().stream(sources, file_lanes=2, on_result=seen.append, sinks=[lines])
    pipeline.start()
    assert pipeline.join(60) is True
    by_source = {name: [r.frame_number for r in seen if r.source == name] for name in "abc"}
    assert by_source == {"a": [1, 2, 3, 4, 5, 6, 7], "b": [1, 2, 3, 4], "c": [1, 2, 3, 4, 5]}
    for result in seen:
        assert result.error is None
        assert result.outputs["meta"] == result.frame.metadata
        assert np.array_equal(result.frame.pixels, moving_picture(result.frame_number))
        assert result.outputs["annotated"].numpy.shape == (HEIGHT, WIDTH, 3)
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [(r["source"], r["frame_number"]) for r in records] == [
        (r.source, r.frame_number) for r in seen
    ]  # the sinks got each result as the callback did, one at a time
    status = pipeline.status()
    assert status.state == "ended" and status.batches == 16  # one run a frame
    assert [(s.source, s.state, s.processed, s.failed) for s in status.sources] == [
        ("a", "ended", 7, 0),
        ("b", "ended", 4, 0),
        ("c", "ended", 5, 0),
    ]
    assert all(source.closed for source in sources)
    assert lane_threads() == []


def test_a_failing_frame_fails_alone_and_the_files_go_on():
    seen = []
    pipeline = light().stream(
        [PictureFrames("a", 3), PictureFrames("broken", 3)], file_lanes=2, on_result=seen.append
    )
    pipeline.start()
    assert pipeline.join(60) is True
    failed = [(r.source, r.frame_number) for r in seen if r.error is not None]
    assert failed == [("broken", 2)]
    assert "this frame is broken" in str(next(r.error for r in seen if r.error is not None))
    assert sorted((r.source, r.frame_number) for r in seen) == [
        ("a", 1), ("a", 2), ("a", 3), ("broken", 1), ("broken", 2), ("broken", 3),
    ]  # fmt: skip
    status = {s.source: (s.processed, s.failed) for s in pipeline.status().sources}
    assert status == {"a": (3, 0), "broken": (2, 1)}


def test_a_stop_from_the_callback_ends_every_lane_with_nothing_lost(tmp_path: Path):
    sources = [PictureFrames(name, 1000) for name in ("a", "b", "c")]
    seen = []

    def stop_at_the_fifth(result) -> None:
        seen.append((result.source, result.frame_number))
        if len(seen) == 5:
            pipeline.stop()
            assert pipeline.join(0) is False  # from a lane: it says, it does not wait

    lines = JsonLinesSink(tmp_path / "out.jsonl")
    pipeline = light().stream(sources, file_lanes=2, on_result=stop_at_the_fifth, sinks=[lines])
    pipeline.start()
    assert pipeline.join(60) is True
    # the frame another lane was running when the stop came still reaches the sinks
    assert len(seen) in (5, 6)
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [(r["source"], r["frame_number"]) for r in records] == seen
    for name in ("a", "b", "c"):
        numbers = [number for source, number in seen if source == name]
        assert numbers == list(range(1, len(numbers) + 1))
    status = pipeline.status()
    assert status.state == "stopped"
    assert [s.state for s in status.sources] == ["stopped", "stopped", "stopped"]
    assert sum(s.processed for s in status.sources) == len(seen)
    assert all(source.closed for source in sources) and lane_threads() == []


def test_a_callback_that_fails_stops_every_lane_and_is_raised_by_join(tmp_path: Path):
    def fail_at_bs_third(result) -> None:
        if result.source == "b" and result.frame_number == 3:
            raise RuntimeError("the callback broke")

    lines = JsonLinesSink(tmp_path / "out.jsonl")
    sources = [PictureFrames("a", 1000), PictureFrames("b", 1000)]
    pipeline = light().stream(sources, file_lanes=2, on_result=fail_at_bs_third, sinks=[lines])
    pipeline.start()
    with pytest.raises(RuntimeError, match="the callback broke"):
        pipeline.join(60)
    assert pipeline.status().state == "stopped" and lane_threads() == []
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(records) == sum(s.processed for s in pipeline.status().sources)
    assert ("b", 3) in [(r["source"], r["frame_number"]) for r in records]


def test_iterating_runs_batches_not_lanes():
    results = list(light().stream([PictureFrames("a", 3), PictureFrames("b", 2)]))
    assert [(r.source, r.frame_number) for r in results] == [
        ("a", 1), ("b", 1), ("a", 2), ("b", 2), ("a", 3),
    ]  # fmt: skip
    assert lane_threads() == []


def test_lanes_only_where_nothing_gains_from_batches():
    assert lane_count(2, False, light(), None, 2) == 2
    assert lane_count(3, False, light(), None, 8) == 3  # at most a lane a file
    assert lane_count(1, False, light(), None, 2) == 0  # one file: batches, read ahead
    assert lane_count(2, True, light(), None, 2) == 0  # a live source
    assert lane_count(2, False, light(), 25.0, 2) == 0  # max_fps paces batches
    assert lane_count(2, False, light(), None, 1) == 0  # file_lanes=1
    assert lane_count(2, False, batched(), None, 2) == 0  # a step takes the whole batch
    assert lane_count(2, False, stateful(), None, 2) == 0  # state kept per video


def test_where_a_step_takes_the_batch_the_files_still_run_together():
    seen = []
    pipeline = batched().stream(
        [PictureFrames("a", 2), PictureFrames("b", 2)], file_lanes=2, on_result=seen.append
    )
    pipeline.start()
    assert pipeline.join(60) is True
    assert [(r.source, r.frame_number, r.outputs["batch"]) for r in seen] == [
        ("a", 1, 2), ("b", 1, 2), ("a", 2, 2), ("b", 2, 2),
    ]  # fmt: skip
    assert pipeline.status().batches == 2


def test_file_lanes_must_be_a_whole_number_from_one():
    for wrong in (0, -1, 1.5, True, "2"):
        with pytest.raises(StreamPipelineError) as caught:
            light().stream([PictureFrames("a", 1)], file_lanes=wrong)
        assert caught.value.place == "file_lanes"
        assert caught.value.message == f"file_lanes must be a whole number from 1, found {wrong!r}"


def write_clip(path: Path, frames: int, shift: int) -> Path:
    fourcc = "MJPG" if path.suffix == ".avi" else "mp4v"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10.0, (WIDTH, HEIGHT))
    for number in range(1, frames + 1):
        writer.write(moving_picture(number + shift))
    writer.release()
    return path


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_a_file_decoded_on_the_reading_thread_gives_the_same_frames(tmp_path: Path, suffix):
    path = write_clip(tmp_path / f"clip{suffix}", 9, 0)
    with open_source(str(path), decoder_threads=1) as source:
        assert source.decoder_threads == 1
        assert source._capture.get(cv2.CAP_PROP_N_THREADS) == 1  # FFmpeg's own setting
        frames = [frame.pixels for frame in source]
    expected = video_frames(path)
    assert len(frames) == len(expected) == 9
    assert all(np.array_equal(got, want) for got, want in zip(frames, expected, strict=True))


def test_decoder_threads_must_be_a_whole_number_from_one(tmp_path: Path):
    path = write_clip(tmp_path / "clip.avi", 2, 0)
    with pytest.raises(SourceError) as caught:
        open_source(str(path), decoder_threads=0)
    assert caught.value.message == "decoder_threads must be a whole number from 1, found 0"
    assert caught.value.place == f"source '{path}'"


def test_video_files_on_lanes_are_decoded_by_their_lane_and_give_every_frame(tmp_path: Path):
    paths = [write_clip(tmp_path / "one.avi", 6, 0), write_clip(tmp_path / "two.avi", 8, 3)]
    expected = {str(path): video_frames(path) for path in paths}
    opened, seen = OpenedWith(), []
    pipeline = light().stream(
        [str(path) for path in paths], file_lanes=2, sinks=[opened], on_result=seen.append
    )
    pipeline.start()
    assert pipeline.join(60) is True
    assert [source.decoder_threads for source in opened.sources] == [1, 1]
    for path in paths:
        numbers = [r.frame_number for r in seen if r.source == str(path)]
        assert numbers == list(range(1, len(expected[str(path)]) + 1))
    for result in seen:
        assert np.array_equal(result.frame.pixels, expected[result.source][result.frame_number - 1])
    # batched, each file keeps FFmpeg's own threads (they decode ahead while a batch runs)
    opened = OpenedWith()
    with batched().stream([str(path) for path in paths], sinks=[opened]) as pipeline:
        pipeline.join(60)
    assert [source.decoder_threads for source in opened.sources] == [None, None]


def recorded(*samples: tuple[float, float, float | None]):
    """The gate's measures, one sample a call: (wall, process CPU, machine idle) seconds."""
    given = iter(samples)
    return lambda: next(given)


def test_the_gate_lets_one_lane_go_while_the_lanes_share_a_core_and_back_when_one_idles():
    gate = LaneGate(
        2,
        limit=2,
        measure=recorded(
            (0.0, 0.0, 0.0),
            (1.0, 1.9, 0.0),  # two cores' worth of CPU: both lanes stay
            (2.0, 2.9, 0.1),  # one core between them: one lane runs
            (3.0, 3.9, 0.3),  # one lane, the machine busy: it stays so
            (4.0, 4.9, 1.1),  # most of a core idle: the second lane runs again
        ),
    )
    gate.window_s = 0.0  # every frame closes a window
    limits = []
    for _ in range(4):
        rose = gate.tick()
        limits.append((gate.limit, rose))
    assert limits == [(2, False), (1, False), (1, False), (2, True)]


def test_without_the_machines_idle_time_every_lane_runs():
    gate = LaneGate(2, limit=1, measure=recorded((0.0, 0.0, None)))
    gate.window_s = 0.0
    assert gate.limit == 2  # whatever it was asked to start with
    assert gate.tick() is False and gate.limit == 2  # measured no more


def test_ctrl_c_stops_run_video_on_lanes_with_every_processed_frame_in_the_sinks(tmp_path):
    """``visionflow run-video`` with two files and a light workflow runs them on lanes;
    a Ctrl-C stops every lane after its frame, and each file's frames so far are in the
    JSON lines and in its video, in order."""
    workflow = tmp_path / "blur.yaml"
    workflow.write_text(
        "version: '1.0'\n"
        "inputs: [{type: WorkflowImage, name: image}]\n"
        "steps: [{type: roboflow_core/image_blur@v1, name: blur, image: $inputs.image}]\n"
        "outputs: [{type: JsonField, name: blurred, selector: $steps.blur.image}]\n"
    )
    clips = [write_large_clip(tmp_path / f"{name}.mp4", 1500) for name in ("a", "b")]
    out, jsonl = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    script = Path(sys.executable).with_name("visionflow")
    process = subprocess.Popen(
        [str(script), "run-video", str(workflow), *map(str, clips), "--output-video", str(out),
         "--jsonl", str(jsonl), "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        while not jsonl.exists() or len(jsonl.read_text().splitlines()) < 20:
            assert process.poll() is None, process.communicate()
            time.sleep(0.02)  # waiting for the run to be under way, not a timed assertion
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert 20 <= len(records) < 3000
    for clip in clips:
        numbers = [r["frame_number"] for r in records if r["source"] == str(clip)]
        assert numbers == list(range(1, len(numbers) + 1))
        assert f"{clip}: {len(numbers)} frames processed" in stderr
        if numbers:
            written = video_frames(tmp_path / f"out-{clip.stem}.mp4")
            assert len(written) == len(numbers)


def write_large_clip(path: Path, frames: int) -> Path:
    """A 320x240 clip of the moving picture: long enough to be stopped in the middle."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (320, 240))
    for number in range(1, frames + 1):
        writer.write(cv2.resize(moving_picture(number), (320, 240)))
    writer.release()
    return path
