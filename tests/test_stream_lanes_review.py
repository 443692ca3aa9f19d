"""A hostile review of the pipeline's lanes (streams/_lanes.py): several files, each frame
run alone on one of a few threads. Every frame of every file exactly once in the sinks, in
order per file; stops, failures and status counters under lanes; what takes lanes."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml

from test_stream_frame_by_frame import light, write_clip
from test_stream_pipeline import PictureFrames, moving_picture
from test_video_examples import video_frames
from visionflow import Workflow
from visionflow.streams._lanes import LaneGate, usable_cores
from visionflow.streams.sinks import JsonLinesSink, VideoFileSink
from visionflow.streams.sources import open_source

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
RUNNER = "video pipeline"  # the pipeline's thread: it runs the first lane itself


def lane_names() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("video lane"))


def lines_of(path: Path) -> list[tuple[str, int]]:
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return [(record["source"], record["frame_number"]) for record in records]


class Recording:
    """A sink that records what it is given, and anything written once it was closed."""

    def __init__(self, fail_at: tuple[str, int] | None = None):
        self.fail_at = fail_at
        self.written: list[tuple[str, int]] = []
        self.after_close: list[tuple[str, int]] = []
        self.closed = False

    def open(self, workflow, sources) -> None:
        pass

    def write(self, result) -> None:
        key = (result.source, result.frame_number)
        (self.after_close if self.closed else self.written).append(key)
        if key == self.fail_at:
            raise OSError("the disk is full")

    def close(self) -> None:
        self.closed = True


class FailingRead(PictureFrames):
    """A file source whose read fails at frame ``fails_at`` (a decoder error mid-way)."""

    def __init__(self, identifier: str, count: int, fails_at: int):
        super().__init__(identifier, count)
        self.fails_at = fails_at

    def read(self):
        if self.frames_read + 1 == self.fails_at:
            raise RuntimeError("the decoder choked")
        return super().read()


class Exclusive(PictureFrames):
    """A file source that refuses a read while its last frame has not been delivered:
    a file is on one lane at a time, read, run and delivered before its next read."""

    held: set[str] = set()  # sources read and not yet delivered, over all of them

    def read(self):
        if self.identifier in self.held:
            raise RuntimeError("read by a second lane before its frame was delivered")
        frame = super().read()
        if frame is not None:
            self.held.add(self.identifier)
        return frame


def numbers(results: list[tuple[str, int]], source: str) -> list[int]:
    return [number for name, number in results if name == source]


# --- every frame exactly once ---------------------------------------------------------------


def test_nine_files_on_two_lanes_give_every_frame_once_in_order(tmp_path: Path):
    counts = {f"v{n}": n for n in range(9)}  # v0 has no frame at all, v8 eight
    sources = [Exclusive(name, count) for name, count in counts.items()]
    seen, threads = [], set()

    def record(result) -> None:
        Exclusive.held.discard(result.source)
        seen.append((result.source, result.frame_number))
        threads.add(threading.current_thread().name)
        assert np.array_equal(result.frame.pixels, moving_picture(result.frame_number))

    lines, recording = JsonLinesSink(tmp_path / "out.jsonl"), Recording()
    pipeline = light().stream(sources, file_lanes=2, on_result=record, sinks=[lines, recording])
    pipeline.start()
    assert pipeline.join(60) is True
    for name, count in counts.items():
        assert numbers(seen, name) == list(range(1, count + 1))
    assert lines_of(tmp_path / "out.jsonl") == seen == recording.written
    assert recording.after_close == []
    assert threads <= {RUNNER, "video lane 1"}
    status = pipeline.status()
    assert status.state == "ended" and status.batches == sum(counts.values())
    figures = [(s.source, s.state, s.frames_read, s.processed, s.failed, s.dropped)
               for s in status.sources]  # fmt: skip
    assert figures == [(name, "ended", count, count, 0, 0) for name, count in counts.items()]
    for source in status.sources[2:]:  # two results or more: a rate
        assert source.fps is not None and source.fps > 0
    assert all(source.closed for source in sources) and lane_names() == []


def test_more_lanes_asked_than_files_gives_a_lane_a_file(tmp_path: Path):
    during = []
    pipeline = light().stream(
        [PictureFrames(name, 4) for name in "abc"],
        file_lanes=8,
        on_result=lambda result: during.append(lane_names()),
    )
    pipeline.start()
    assert pipeline.join(60) is True
    assert len(during) == 12
    # a lane a file: the pipeline's thread and two more (started one after the other)
    assert len(during) == 12
    assert all(set(names) <= {"video lane 1", "video lane 2"} for names in during)
    assert lane_names() == []


def test_every_nth_frame_of_real_files_on_lanes(tmp_path: Path):
    paths = [write_clip(tmp_path / "one.avi", 10, 0), write_clip(tmp_path / "two.avi", 7, 2)]
    frames = {str(path): video_frames(path) for path in paths}
    seen = []
    pipeline = light().stream(
        [str(path) for path in paths],
        file_lanes=2,
        source_options={"every_nth": 3},
        on_result=seen.append,
    )
    pipeline.start()
    assert pipeline.join(60) is True
    assert [r.frame_number for r in seen if r.source == str(paths[0])] == [1, 4, 7, 10]
    assert [r.frame_number for r in seen if r.source == str(paths[1])] == [1, 4, 7]
    for result in seen:
        assert np.array_equal(result.frame.pixels, frames[result.source][result.frame_number - 1])
    status = {s.source: (s.frames_read, s.processed) for s in pipeline.status().sources}
    assert status == {str(paths[0]): (4, 4), str(paths[1]): (3, 3)}


def test_a_file_cut_short_ends_alone_with_the_frames_it_has(tmp_path: Path):
    whole = write_clip(tmp_path / "whole.avi", 12, 0)
    cut = write_clip(tmp_path / "cut.avi", 40, 5)
    data = cut.read_bytes()
    cut.write_bytes(data[: len(data) // 2])  # a recording that crashed half-way
    readable = video_frames(cut)
    assert 1 <= len(readable) < 40
    seen = []
    lines = VideoFileSink(tmp_path / "out.avi")
    pipeline = light().stream(
        [str(whole), str(cut)], file_lanes=2, on_result=seen.append, sinks=[lines]
    )
    pipeline.start()
    assert pipeline.join(60) is True
    assert numbers([(r.source, r.frame_number) for r in seen], str(whole)) == list(range(1, 13))
    got = [r for r in seen if r.source == str(cut)]
    assert [r.frame_number for r in got] == list(range(1, len(readable) + 1))
    for result, frame in zip(got, readable, strict=True):
        assert np.array_equal(result.frame.pixels, frame)
    assert [s.state for s in pipeline.status().sources] == ["ended", "ended"]
    assert {p.name: len(video_frames(p)) for p in lines.paths().values()} == {
        "out-whole.avi": 12,
        "out-cut.avi": len(readable),
    }


def test_a_video_file_without_a_frame_is_refused_before_anything_runs(tmp_path: Path):
    from visionflow.errors import SourceError

    good, empty = write_clip(tmp_path / "good.avi", 3, 0), write_clip(tmp_path / "empty.avi", 0, 0)
    with pytest.raises(SourceError) as caught:
        light().stream([str(good), str(empty)], file_lanes=2)
    assert caught.value.place == f"source '{empty}'"
    assert caught.value.message == "neither OpenCV nor PyAV can read this file as a video"


def test_a_source_whose_read_fails_ends_alone_and_says_why():
    seen = []
    pipeline = light().stream(
        [PictureFrames("a", 6), FailingRead("bad", 9, fails_at=3), PictureFrames("c", 5)],
        file_lanes=2,
        on_result=seen.append,
    )
    pipeline.start()
    assert pipeline.join(60) is True
    keys = [(r.source, r.frame_number) for r in seen]
    assert (numbers(keys, "a"), numbers(keys, "bad"), numbers(keys, "c")) == (
        [1, 2, 3, 4, 5, 6], [1, 2], [1, 2, 3, 4, 5],
    )  # fmt: skip
    status = {s.source: s for s in pipeline.status().sources}
    assert status["bad"].state == "failed" and status["bad"].processed == 2
    assert status["bad"].error["message"] == "the decoder choked"
    assert (status["a"].state, status["c"].state) == ("ended", "ended")
    assert pipeline.status().state == "ended"


# --- stops and failures ---------------------------------------------------------------------


def test_a_stop_from_another_thread_loses_nothing_and_every_lane_ends(tmp_path: Path):
    sources = [PictureFrames(name, 100_000) for name in "abcd"]
    seen, enough = [], threading.Event()

    def record(result) -> None:
        seen.append((result.source, result.frame_number))
        if len(seen) >= 30:
            enough.set()

    lines, recording = JsonLinesSink(tmp_path / "out.jsonl"), Recording()
    video = VideoFileSink(tmp_path / "out.avi")
    sinks = [lines, recording, video]
    pipeline = light().stream(sources, file_lanes=2, on_result=record, sinks=sinks)
    pipeline.start()
    assert enough.wait(60)
    pipeline.stop()
    assert pipeline.join(60) is True
    assert lines_of(tmp_path / "out.jsonl") == seen == recording.written
    assert recording.after_close == []
    for name in "abcd":
        assert numbers(seen, name) == list(range(1, len(numbers(seen, name)) + 1))
    status = pipeline.status()
    assert status.state == "stopped"
    assert [s.state for s in status.sources] == ["stopped"] * 4
    assert [s.processed for s in status.sources] == [len(numbers(seen, n)) for n in "abcd"]
    # each file's video holds its frames so far: flushed and closed on the stop
    written = {name: len(video_frames(path)) for name, path in video.paths().items()}
    assert written == {n: len(numbers(seen, n)) for n in "abcd" if numbers(seen, n)}
    assert all(source.closed for source in sources) and lane_names() == []


def test_join_from_a_callback_on_any_lane_answers_at_once():
    answers, threads = [], set()

    def ask(result) -> None:
        threads.add(threading.current_thread().name)
        answers.append(pipeline.join())  # no timeout: from a lane it would wait for ever

    pipeline = light().stream([PictureFrames(n, 30) for n in "ab"], file_lanes=2, on_result=ask)
    pipeline.start()
    assert pipeline.join(60) is True
    assert answers == [False] * 60
    assert threads <= {RUNNER, "video lane 1"}


def test_a_sink_that_fails_stops_every_lane_and_the_other_sinks_get_the_same(tmp_path: Path):
    failing = Recording(fail_at=("b", 5))
    lines, seen = JsonLinesSink(tmp_path / "out.jsonl"), []
    pipeline = light().stream(
        [PictureFrames(name, 100_000) for name in "abc"],
        file_lanes=2,
        sinks=[failing, lines],
        on_result=lambda result: seen.append((result.source, result.frame_number)),
    )
    pipeline.start()
    with pytest.raises(OSError, match="the disk is full"):
        pipeline.join(60)
    assert failing.after_close == [] and ("b", 5) in failing.written
    # the frame that failed in the first sink reached no other; one another lane was
    # running when it failed still reached them all
    assert lines_of(tmp_path / "out.jsonl") == seen == [k for k in failing.written if k != ("b", 5)]
    status = pipeline.status()
    assert status.state == "stopped" and lane_names() == []
    assert sum(s.processed for s in status.sources) == len(seen) + 1


def test_a_stop_before_the_lanes_start_runs_nothing(tmp_path: Path):
    recording = Recording()
    pipeline = light().stream([PictureFrames(n, 5) for n in "ab"], file_lanes=2, sinks=[recording])
    pipeline.stop()
    pipeline.start()
    assert pipeline.join(10) is True
    assert recording.written == [] and pipeline.status().state == "stopped"


def test_frames_over_the_pixel_limit_fail_each_alone_on_lanes():
    from visionflow.data.sources import ImagePolicy

    seen = []
    pipeline = light().stream(
        [PictureFrames("a", 3), PictureFrames("b", 2)],
        file_lanes=2,
        image_policy=ImagePolicy(max_pixels=100),
        on_result=seen.append,
    )
    pipeline.start()
    assert pipeline.join(60) is True
    assert sorted((r.source, r.frame_number, type(r.error).__name__) for r in seen) == [
        ("a", 1, "ImageTooLargeError"), ("a", 2, "ImageTooLargeError"),
        ("a", 3, "ImageTooLargeError"), ("b", 1, "ImageTooLargeError"),
        ("b", 2, "ImageTooLargeError"),
    ]  # fmt: skip
    status = pipeline.status()
    assert status.batches == 0  # no run: each frame refused before it
    assert [(s.processed, s.failed) for s in status.sources] == [(0, 3), (0, 2)]


# --- what takes lanes -----------------------------------------------------------------------


def example(name: str) -> Workflow:
    document = yaml.safe_load((EXAMPLES / name).read_text())
    for model in document.get("models", {}).values():
        model["batch_size"] = 4  # frames of concurrent calls merged into one model batch
    return Workflow.compile(document, cache=False)


@pytest.mark.parametrize("name", ["line_crossings.yaml", "face_emotion.yaml"])
def test_a_tracker_or_a_model_keeps_the_files_in_batches(tmp_path: Path, name):
    paths = [write_clip(tmp_path / "one.avi", 3, 0), write_clip(tmp_path / "two.avi", 2, 4)]
    during = []
    pipeline = example(name).stream(
        [str(path) for path in paths],
        file_lanes=2,
        on_result=lambda result: during.append((threading.current_thread().name, lane_names())),
    )
    assert [feed.source.decoder_threads for feed in pipeline._feeds] == [None, None]
    pipeline.start()
    assert pipeline.join(120) is True
    assert during == [(RUNNER, [])] * 5
    assert pipeline.status().batches == 3  # one run a batch, a frame of each file in it


def test_a_file_decoded_by_pyav_on_one_thread_gives_the_same_frames(tmp_path: Path):
    pytest.importorskip("av", reason="PyAV (the video extra) decodes this one")
    path = write_clip(tmp_path / "clip.mp4", 9, 0)
    with open_source(str(path), decoder="pyav") as source:
        expected = [frame.pixels for frame in source]
    with open_source(str(path), decoder="pyav", decoder_threads=1) as source:
        assert source._capture._container.streams.video[0].thread_count == 1
        frames = [frame.pixels for frame in source]
    assert len(frames) == len(expected) == 9
    assert all(np.array_equal(got, want) for got, want in zip(frames, expected, strict=True))


# --- the other front doors ------------------------------------------------------------------


def test_run_video_with_two_files_on_lanes_writes_every_frame_once(tmp_path: Path):
    from typer.testing import CliRunner

    from test_cli_run_video import WORKFLOW, video_frames, write_video
    from visionflow.cli import app

    workflow = tmp_path / "blur.yaml"
    workflow.write_text(WORKFLOW)
    clips = {write_video(tmp_path / "a.mp4", 9): 9, write_video(tmp_path / "b.mp4", 4): 4}
    out, jsonl = tmp_path / "out.avi", tmp_path / "out.jsonl"
    result = CliRunner().invoke(
        app,
        ["run-video", str(workflow), *map(str, clips), "--output-video", str(out),
         "--jsonl", str(jsonl), "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    keys = lines_of(jsonl)
    assert len(keys) == 13
    for clip, count in clips.items():
        assert numbers(keys, str(clip)) == list(range(1, count + 1))
        assert video_frames(tmp_path / f"out-{clip.stem}.avi")[0] == count


def test_the_servers_pipeline_of_two_files_gives_each_frame_once(tmp_path: Path):
    from test_server import serving
    from test_server_pipelines import WIDTH_ONLY, follow, started, status_of, write_video

    folder = tmp_path / "videos"
    clips = {write_video(folder / "a.mp4", 12): 12, write_video(folder / "b.mp4", 7): 7}
    server = serving(tmp_path / "server", "--allow-files", str(folder))
    with server as running, running.http(api_key=None) as http:
        pipeline = started(http, [str(clip) for clip in clips], workflow=WIDTH_ONLY)
        lines = follow(http, pipeline["id"])
        status = status_of(http, pipeline["id"])["status"]
    keys = [(line["source"], line["frame_number"]) for line in lines]
    assert len(keys) == 19 and all(line["error"] is None for line in lines)
    for clip, count in clips.items():
        assert numbers(keys, str(clip)) == list(range(1, count + 1))
    lanes = usable_cores() > 1  # one lane a core by default
    assert status["state"] == "ended" and status["batches"] == (19 if lanes else 12)
    sources = [(s["state"], s["processed"]) for s in status["sources"]]
    assert sources == [("ended", 12), ("ended", 7)]


def write_h264(path: Path, frames: int) -> Path:
    """The moving picture as H.264 with B-frames (PyAV's libx264): frames decoded out of
    order, where FFmpeg's frame threads hold frames back."""
    av = pytest.importorskip("av", reason="PyAV (the video extra) writes H.264")
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.options = {"bf": "3", "g": "12"}
        for number in range(1, frames + 1):
            picture = av.VideoFrame.from_ndarray(moving_picture(number), format="bgr24")
            for packet in stream.encode(picture):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.mark.parametrize("decoder", ["opencv", "pyav"])
def test_one_decoder_thread_gives_the_same_frames_of_h264_with_b_frames(tmp_path, decoder):
    path = write_h264(tmp_path / "clip.mp4", 40)
    with open_source(str(path), decoder=decoder) as source:
        expected = [frame.pixels for frame in source]
    with open_source(str(path), decoder=decoder, decoder_threads=1) as source:
        frames = [(frame.metadata.frame_number, frame.pixels) for frame in source]
    assert [number for number, _ in frames] == list(range(1, 41)) and len(expected) == 40
    assert all(np.array_equal(got, want) for (_, got), want in zip(frames, expected, strict=True))


def test_the_gate_never_lets_fewer_than_one_lane_run():
    samples = [(float(n), 0.0, 0.0) for n in range(8)]  # no CPU, no idle core, ever
    gate = LaneGate(4, limit=4, measure=lambda: samples.pop(0))
    gate.window_s = 0.0  # every frame closes a window
    limits = []
    for _ in range(7):
        gate.tick()
        limits.append(gate.limit)
    assert limits == [3, 2, 1, 1, 1, 1, 1]
