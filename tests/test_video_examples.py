"""The video examples (examples/line_crossings.py, examples/face_emotion_video.py) make
their videos, run them through the stream pipeline and give what they promise."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
from typer.testing import CliRunner

from visionflow.cli import app

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def video_frames(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while (read := capture.read())[0]:
        frames.append(read[1])
    capture.release()
    return frames


def video_fps(path: Path) -> float:
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return fps


def test_line_crossings_counts_three_in_and_one_out(tmp_path, capsys):
    crossings = example("line_crossings")
    assert crossings.main([str(tmp_path)]) == 0
    # three shapes go right across the line, one goes left, one turns back before it
    assert capsys.readouterr().out.splitlines()[0] == (
        f"90 frames of {tmp_path / 'shapes.mp4'}: 3 crossed in, 1 crossed out"
    )
    source, annotated = video_frames(tmp_path / "shapes.mp4"), video_frames(
        tmp_path / "line_crossings.mp4"
    )
    assert len(annotated) == len(source) == crossings.FRAMES == 90
    assert annotated[0].shape == (360, 640, 3) and video_fps(tmp_path / "line_crossings.mp4") == 15
    # a still frame: the counting line is drawn down x = 320; away from it (and from the
    # counts' label at its top end) the frame is the source's, but for the codec's changes
    drawn = abs(annotated[5].astype(int) - source[5].astype(int)).max(axis=2)
    assert drawn[100:300, 320].min() >= 10
    assert drawn[100:300, 400:600].max() <= 6


def test_line_crossings_through_run_video_gives_the_same_counts(tmp_path):
    crossings = example("line_crossings")
    video = crossings.make_video(tmp_path / "shapes.mp4")
    jsonl, out = tmp_path / "frames.jsonl", tmp_path / "out.mp4"
    result = CliRunner().invoke(
        app,
        ["run-video", str(crossings.WORKFLOW), str(video), "--jsonl", str(jsonl),
         "--output-video", str(out), "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [line["frame_number"] for line in lines] == list(range(1, 91))
    counts = [(line["outputs"]["count_in"], line["outputs"]["count_out"]) for line in lines]
    assert counts[0] == (0, 0) and counts[-1] == (3, 1)
    assert counts == sorted(counts, key=sum)  # counts only grow
    assert len(video_frames(out)) == 90


def test_face_emotion_video_follows_the_moving_face(tmp_path, capsys):
    faces = example("face_emotion_video")
    video = faces.make_video(tmp_path / "astronaut.mp4")
    found = faces.emotions(video, tmp_path / "face_emotion.mp4")
    assert len(found) == faces.FRAMES == 20
    assert all(len(frame) == 1 for frame in found)  # one face in every frame
    assert {name for frame in found for name, _box in frame} == {"happy"}
    # the picture slides 288 pixels right over the video; the face box goes with it
    lefts = [frame[0][1][0] for frame in found]
    assert lefts == sorted(lefts) and abs(lefts[-1] - lefts[0] - 288) <= 4
    annotated = video_frames(tmp_path / "face_emotion.mp4")
    assert len(annotated) == 20 and annotated[0].shape == (512, 800, 3)
    assert video_fps(tmp_path / "face_emotion.mp4") == 10
    # the face is boxed: the annotated frame differs from the source around the face only
    source = video_frames(video)
    x1, y1, x2, y2 = found[0][0][1]
    drawn = abs(annotated[0].astype(int) - source[0].astype(int)).max(axis=2)
    assert drawn[y1 - 2 : y2 + 2, x1 - 2 : x2 + 2].max() > 100
    assert drawn[300:, :].max() <= 40  # below the face: only the codec's differences
