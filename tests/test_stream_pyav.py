"""PyAV as the second decoder of video files: the same frames as OpenCV, the fallback of
``decoder="auto"``, and the errors when neither reads a file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from visionflow import Workflow
from visionflow.cli import app
from visionflow.errors import SourceError
from visionflow.streams.sources import open_source

pytest.importorskip("av")  # the video extra

FPS, COUNT = 10, 12


def drawn_frame(index: int) -> np.ndarray:
    """A square moving right over a band whose level (16 x index) says which frame it is."""
    frame = np.zeros((96, 160, 3), np.uint8)
    frame[:32] = 16 * index
    cv2.rectangle(frame, (10 + 8 * index, 50), (30 + 8 * index, 70), (0, 200, 255), -1)
    return frame


def write_video(path: Path) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (160, 96))
    for index in range(COUNT):
        writer.write(drawn_frame(index))
    writer.release()
    return path


@pytest.fixture
def video(tmp_path) -> Path:
    return write_video(tmp_path / "shapes.mp4")


def read_all(path, **options):
    with open_source(path, **options) as source:
        return source, list(source)


def error_of(spec, **options) -> SourceError:
    with pytest.raises(SourceError) as caught:
        open_source(spec, **options)
    assert caught.value.code == "video_source_error" and caught.value.hint
    return caught.value


def test_pyav_gives_the_frames_opencv_gives(video):
    opencv, by_opencv = read_all(video, decoder="opencv")
    pyav, by_pyav = read_all(video, decoder="pyav")
    assert (opencv.decoder_used, pyav.decoder_used) == ("opencv", "pyav")
    assert len(by_pyav) == len(by_opencv) == COUNT
    assert pyav.fps == opencv.fps == FPS and pyav.frame_count == opencv.frame_count == COUNT
    for index, (a, b) in enumerate(zip(by_opencv, by_pyav, strict=True)):
        assert b.pixels.dtype == np.uint8 and b.pixels.shape == a.pixels.shape == (96, 160, 3)
        # one codec, two builds of FFmpeg: the same frame up to rounding in the colour
        # conversion
        assert np.abs(a.pixels.astype(int) - b.pixels.astype(int)).mean() < 2
        assert round(float(b.pixels[:32].mean()) / 16) == index
        start_a, start_b = by_opencv[0].metadata, by_pyav[0].metadata
        for frame, start in ((a, start_a), (b, start_b)):
            meta = frame.metadata
            assert (meta.video_identifier, meta.frame_number) == (str(video), index + 1)
            assert (meta.fps, meta.comes_from_video_file) == (FPS, True)
            offset = (meta.frame_timestamp - start.frame_timestamp).total_seconds()
            assert offset == pytest.approx(index / FPS, abs=1e-6)


def test_every_nth_frame_with_pyav(video):
    source, frames = read_all(video, decoder="pyav", every_nth=5)
    assert [f.metadata.frame_number for f in frames] == [1, 6, 11]
    assert [round(float(f.pixels[:32].mean()) / 16) for f in frames] == [0, 5, 10]
    assert source.frame_count == 3 and source.frames_read == 3


def test_a_closed_pyav_source_reads_nothing_more(video):
    source = open_source(video, decoder="pyav")
    assert source.read().metadata.frame_number == 1
    source.close()
    assert source.read() is None
    source.close()  # twice is harmless


def test_auto_falls_back_to_pyav_for_a_file_opencv_cannot_open(video, tmp_path, monkeypatch):
    # FFmpeg takes a relative 'rec-12:30.mp4' for a URL of protocol 'rec-12': OpenCV
    # cannot open such a name; our PyAV reader opens the file by its absolute path
    monkeypatch.chdir(tmp_path)
    name = "rec-12:30.mp4"
    video.rename(tmp_path / name)
    assert not cv2.VideoCapture(name).isOpened()  # what this test relies on
    source, frames = read_all(name)
    assert source.decoder_used == "pyav" and len(frames) == COUNT and source.fps == FPS
    error = error_of(name, decoder="opencv")
    assert (error.place, error.message) == (
        f"source '{name}'",
        "OpenCV cannot read this file as a video",
    )
    assert "decoder 'auto' or 'pyav' also tries PyAV" in error.hint


def test_auto_reads_with_opencv_and_never_imports_pyav_when_opencv_reads_the_file(video):
    code = (
        "import sys, json; from visionflow.streams.sources import open_source; "
        f"s = open_source({str(video)!r}); n = len(list(s)); "
        "print(json.dumps([s.decoder_used, n, 'av' in sys.modules]))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert json.loads(completed.stdout) == ["opencv", COUNT, False]


def test_import_visionflow_does_not_import_pyav():
    code = "import sys, visionflow; print('av' in sys.modules)"
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "False"


def test_a_broken_file_is_refused_after_both_decoders_tried(tmp_path):
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes())
    error = error_of(path)
    assert (error.place, error.message) == (
        f"source '{path}'",
        "neither OpenCV nor PyAV can read this file as a video",
    )
    assert error_of(path, decoder="pyav").message == "PyAV cannot read this file as a video"
    assert error_of(path, decoder="opencv").message == "OpenCV cannot read this file as a video"


def test_without_pyav_the_errors_name_the_extra(video, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # PyAV as if not installed: import fails
    error = error_of(video, decoder="pyav")
    assert error.message == "decoder 'pyav' needs PyAV, which is not installed"
    assert error.hint.startswith("pip install 'visionflow[video]'")
    path = tmp_path / "notes.mp4"
    path.write_text("hello")
    error = error_of(path)
    assert error.message == "OpenCV cannot read this file as a video"
    assert "PyAV may read what OpenCV cannot: pip install 'visionflow[video]'" in error.hint
    source, frames = read_all(video)  # auto: OpenCV alone, as before
    assert source.decoder_used == "opencv" and len(frames) == COUNT


def test_an_unknown_decoder_is_refused_naming_the_source(video, tmp_path):
    error = error_of(video, decoder="ffmpeg")
    assert (error.place, error.message) == (
        f"source '{video}'",
        "decoder must be one of auto, opencv, pyav, found 'ffmpeg'",
    )
    (tmp_path / "a.png").write_bytes(cv2.imencode(".png", drawn_frame(0))[1].tobytes())
    error = error_of(tmp_path / "*.png", decoder="pyav")
    assert error.message == "decoder 'pyav' is for a video file; this source is not one"


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


@pytest.fixture
def workflow_file(tmp_path) -> Path:
    path = tmp_path / "blur.yaml"
    path.write_text(WORKFLOW)
    return path


def test_a_workflow_streams_a_file_read_by_pyav(video, workflow_file):
    workflow = Workflow.compile(workflow_file)
    pipeline = workflow.stream([str(video)], source_options={"decoder": "pyav", "every_nth": 2})
    results = list(pipeline)
    assert [r.error for r in results] == [None] * 6
    assert [r.outputs["frame"].frame_number for r in results] == [1, 3, 5, 7, 9, 11]
    assert {r.outputs["frame"].fps for r in results} == {FPS}
    assert results[0].outputs["blurred"].numpy.shape == (96, 160, 3)
    status = pipeline.status().sources[0]
    assert (status.state, status.frames_read, status.processed) == ("ended", 6, 6)


def test_run_video_takes_a_decoder(video, workflow_file):
    path = workflow_file
    runner = CliRunner(env={"COLUMNS": "200"})
    result = runner.invoke(
        app, ["run-video", str(path), str(video), "--no-progress", "--decoder", "pyav"]
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["frame_number"] for r in records] == list(range(1, COUNT + 1))
    result = runner.invoke(app, ["run-video", str(path), str(video), "--decoder", "gstreamer"])
    assert result.exit_code == 2 and "gstreamer" in result.output
