"""``visionflow run-video``: a workflow over video files written by the tests."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data
from typer.testing import CliRunner

from visionflow.cli import app
from visionflow.cli._video import progress_line
from visionflow.streams.pipeline import PipelineStatus, SourceStatus

runner = CliRunner(env={"COLUMNS": "200"})
WIDTH, HEIGHT = 96, 64
PICTURE = cv2.resize(data.coffee()[:, :, ::-1], (32, 32))

WORKFLOW = """
version: "1.0"
inputs:
  - {type: WorkflowImage, name: image}
  - {type: WorkflowVideoMetadata, name: meta}
steps:
  - {type: roboflow_core/image_blur@v1, name: blur, image: $inputs.image}
outputs:
  - {type: JsonField, name: blurred, selector: $steps.blur.image}
  - {type: JsonField, name: frame, selector: $inputs.meta}
"""


def write_video(path: Path, frames: int, fps: float = 15.0) -> Path:
    """The coffee picture moving 4 pixels right per frame, as an MPEG-4 file."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (WIDTH, HEIGHT))
    for number in range(frames):
        frame = np.full((HEIGHT, WIDTH, 3), 60, np.uint8)
        x = (4 * number) % (WIDTH - 32)
        frame[16:48, x : x + 32] = PICTURE
        writer.write(frame)
    writer.release()
    return path


def video_frames(path: Path) -> tuple[int, int, int]:
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    size = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    capture.release()
    return count, *size


@pytest.fixture
def workflow(tmp_path: Path) -> Path:
    path = tmp_path / "blur.yaml"
    path.write_text(WORKFLOW)
    return path


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_run_video_writes_the_annotated_video_and_json_lines(tmp_path, workflow):
    clip = write_video(tmp_path / "clip.mp4", 7)
    out, jsonl = tmp_path / "out" / "blurred.mp4", tmp_path / "out" / "frames.jsonl"
    result = runner.invoke(
        app,
        ["run-video", str(workflow), str(clip), "--output-video", str(out), "--jsonl", str(jsonl),
         "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert video_frames(out) == (7, WIDTH, HEIGHT)
    records = lines_of(jsonl)
    assert [(r["source"], r["frame_number"], r["error"]) for r in records] == [
        (str(clip), n, None) for n in range(1, 8)
    ]
    assert records[2]["outputs"]["blurred"] == {"type": "image", "width": WIDTH, "height": HEIGHT}
    video, number, _, fps, from_file, measured = records[2]["outputs"]["frame"]
    assert (video, number, fps, from_file, measured) == (str(clip), 3, 15.0, True, None)
    assert f"{clip}: 7 frames processed, 0 dropped" in result.stderr
    assert f"video written to {out}" in result.stderr


def test_without_sinks_the_lines_go_to_stdout(tmp_path, workflow):
    clip = write_video(tmp_path / "clip.mp4", 4)
    result = runner.invoke(
        app, ["run-video", str(workflow), str(clip), "--no-progress", "--every-nth", "2"]
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["frame_number"] for r in records] == [1, 3]


def test_two_sources_give_two_videos(tmp_path, workflow):
    first, second = write_video(tmp_path / "a.mp4", 5), write_video(tmp_path / "b.mp4", 3)
    out = tmp_path / "out.avi"
    result = runner.invoke(
        app,
        ["run-video", str(workflow), str(first), str(second), "--output-video", str(out),
         "--max-fps", "200", "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert video_frames(tmp_path / "out-a.avi") == (5, WIDTH, HEIGHT)
    assert video_frames(tmp_path / "out-b.avi") == (3, WIDTH, HEIGHT)


def test_a_missing_source_is_reported_with_its_place(tmp_path, workflow):
    result = runner.invoke(app, ["run-video", str(workflow), str(tmp_path / "none.mp4")])
    assert result.exit_code == 1
    text = " ".join(result.stderr.split())
    assert f"error [video_source_error] at source '{tmp_path / 'none.mp4'}'" in text


def test_an_output_video_needs_an_image_output_named_when_there_are_several(tmp_path):
    document = tmp_path / "two.yaml"
    document.write_text(
        WORKFLOW + "  - {type: JsonField, name: original, selector: $inputs.image}\n"
    )
    clip = write_video(tmp_path / "clip.mp4", 2)
    command = ["run-video", str(document), str(clip), "--output-video", str(tmp_path / "o.mp4")]
    refused = runner.invoke(app, command)
    assert refused.exit_code == 1
    assert "the workflow's image outputs are ['blurred', 'original']" in refused.stderr
    chosen = runner.invoke(app, [*command, "--video-output", "original", "--no-progress"])
    assert chosen.exit_code == 0, chosen.output
    assert video_frames(tmp_path / "o.mp4") == (2, WIDTH, HEIGHT)


def test_the_progress_line_shows_frames_and_fps_per_source():
    def source(name, processed, fps, dropped=0, failed=0):
        return SourceStatus(name, "running", fps, 0.01, 0.01, 0.02, processed + dropped,
                            processed, failed, dropped, 0, None)  # fmt: skip

    status = PipelineStatus(
        "running", [source("a.mp4", 120, 29.84), source("cam", 55, 12.0, 3, 1)], 0
    )
    assert progress_line(status) == (
        "running: a.mp4 120 frames 29.8 fps · cam 55 frames 12.0 fps 1 failed 3 dropped"
    )


def test_the_help_teaches_the_command():
    result = runner.invoke(app, ["run-video", "--help"])
    text = " ".join(result.stdout.split())
    taught = ["SOURCE...", "--output-video", "--jsonl", "--max-fps", "--image-input"]
    taught += ["Ctrl-C stops it cleanly", "visionflow run-video count.yaml traffic.mp4"]
    for words in taught:
        assert words in text


def test_ctrl_c_stops_with_every_processed_frame_in_the_sinks(tmp_path, workflow):
    clip = write_video(tmp_path / "long.mp4", 400)
    out, jsonl = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    script = Path(sys.executable).with_name("visionflow")
    process = subprocess.Popen(
        [str(script), "run-video", str(workflow), str(clip), "--output-video", str(out),
         "--jsonl", str(jsonl), "--max-fps", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        while not jsonl.exists() or len(jsonl.read_text().splitlines()) < 3:
            assert process.poll() is None, process.communicate()
            time.sleep(0.05)  # waiting for the run to be under way, not a timed assertion
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    records = lines_of(jsonl)
    assert 3 <= len(records) < 400
    assert [r["frame_number"] for r in records] == list(range(1, len(records) + 1))
    assert video_frames(out) == (len(records), WIDTH, HEIGHT)
    assert f"{clip}: {len(records)} frames processed" in stderr


def test_a_source_that_fails_is_reported_with_its_place_and_hint_and_the_others_go_on(
    tmp_path, workflow
):
    clip = write_video(tmp_path / "clip.mp4", 4)
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "frame1.png").write_bytes(b"not a png")  # corrupt from its first image
    (folder / "notes.txt").write_text("not an image either: left out")
    out, jsonl = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    result = runner.invoke(
        app,
        ["run-video", str(workflow), str(clip), str(folder), "--output-video", str(out),
         "--jsonl", str(jsonl), "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    text = " ".join(result.stderr.split())
    assert f"error [video_source_error] at source '{folder}'" in text
    assert f"frame 1 '{folder / 'frame1.png'}' is not an image OpenCV can read" in text
    assert "hint: remove or replace that file" in text
    assert [r["frame_number"] for r in lines_of(jsonl)] == [1, 2, 3, 4]
    assert video_frames(tmp_path / "out-clip.mp4") == (4, WIDTH, HEIGHT)
    assert f"video written to {tmp_path / 'out-clip.mp4'}" in result.stderr
    assert not (tmp_path / "out-frames.mp4").exists()
    assert "out-frames.mp4" not in result.stderr  # no frame, no video: none is claimed


def test_a_second_ctrl_c_while_the_outputs_close_waits_for_them(tmp_path, workflow, capsys):
    import os
    import threading

    from visionflow import Workflow
    from visionflow.cli._video import _follow
    from visionflow.streams.sinks import JsonLinesSink

    said: list[str] = []

    class ImpatientUser(JsonLinesSink):
        """A sink during whose closing the user presses Ctrl-C again."""

        def close(self) -> None:
            os.kill(os.getpid(), signal.SIGINT)
            deadline = time.monotonic() + 30  # a bound for a stuck test, not a measure
            while "stopping:" not in "".join(said) and time.monotonic() < deadline:
                said.append(capsys.readouterr().err)
                time.sleep(0.01)
            super().close()

    def first_ctrl_c(result) -> None:
        if result.frame_number == 3:
            os.kill(os.getpid(), signal.SIGINT)

    clip = write_video(tmp_path / "clip.mp4", 200)
    sink = ImpatientUser(tmp_path / "out.jsonl")
    pipeline = Workflow.compile(workflow).stream(str(clip), sinks=[sink], on_result=first_ctrl_c)
    assert threading.current_thread() is threading.main_thread()  # where signals land
    assert _follow(pipeline, progress=False) is True
    assert pipeline.status().state == "stopped" and sink._file is None  # closed
    assert "Ctrl-C again quits without" in "".join(said)
    records = lines_of(tmp_path / "out.jsonl")
    assert [r["frame_number"] for r in records] == list(range(1, len(records) + 1))


def test_an_output_of_several_images_per_frame_is_no_video(tmp_path):
    document = tmp_path / "tiles.yaml"
    document.write_text(
        'version: "1.0"\n'
        "inputs: [{type: WorkflowImage, name: image}]\n"
        "steps:\n"
        "  - {type: roboflow_core/image_slicer@v1, name: tiles, image: $inputs.image,\n"
        "     slice_width: 32, slice_height: 32}\n"
        "outputs: [{type: JsonField, name: tiles, selector: $steps.tiles.slices}]\n"
    )
    clip = write_video(tmp_path / "clip.mp4", 2)
    out = tmp_path / "o.mp4"
    for chosen in ([], ["--video-output", "tiles"]):
        refused = runner.invoke(
            app, ["run-video", str(document), str(clip), "--output-video", str(out), *chosen]
        )
        assert refused.exit_code == 1
        text = " ".join(refused.stderr.split())
        assert "error [invalid_stream_pipeline] at output video" in text
        assert "the output 'tiles' gives several images per frame (crops, tiles)" in text
        assert not out.exists()
