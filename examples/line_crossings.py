"""Count shapes crossing a line in a video: makes the video (shapes drawn with OpenCV),
runs examples/line_crossings.yaml over it with the stream pipeline, writes the annotated
video and prints the counts.

    .venv/bin/python examples/line_crossings.py [OUTPUT_FOLDER]   # default: demo-output/

The same from the command line, once the video exists:

    visionflow run-video examples/line_crossings.yaml demo-output/shapes.mp4 \\
        --output-video demo-output/line_crossings.mp4
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

EXAMPLES = Path(__file__).resolve().parent
WORKFLOW = EXAMPLES / "line_crossings.yaml"
SIZE = (640, 360)  # width, height
FPS = 15
FRAMES = 90
QUIET_FRAMES = 25  # nothing moves at first: the motion step learns the empty floor (history)

# (row, start x, pixels a frame, colour BGR, shape): three go right across the line at
# x = 320, one goes left, one turns back before it
SHAPES = [
    (60, -40, 12, (0, 200, 255), "circle"),
    (150, -140, 11, (255, 160, 0), "square"),
    (240, 680, -12, (80, 220, 80), "circle"),
    (300, -260, 13, (200, 80, 255), "square"),
]
TURNING = (110, 40, 6, (255, 255, 255))  # row, start x, speed, colour: back after 30 frames


def frame(number: int) -> np.ndarray:
    """Frame ``number`` (from 0) of the video: a dark floor with the shapes on it."""
    width, height = SIZE
    pixels = np.full((height, width, 3), 45, np.uint8)
    moving = max(0, number - QUIET_FRAMES)  # frames since the shapes set off
    for row, start, speed, colour, shape in SHAPES:
        x = start + speed * moving
        if shape == "circle":
            cv2.circle(pixels, (x, row), 22, colour, -1)
        else:
            cv2.rectangle(pixels, (x - 20, row - 20), (x + 20, row + 20), colour, -1)
    row, start, speed, colour = TURNING
    x = start + speed * (moving if moving < 30 else 60 - moving)  # out, then back
    cv2.rectangle(pixels, (x - 15, row - 10), (x + 15, row + 10), colour, -1)
    return pixels


def make_video(path: Path) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    for number in range(FRAMES):
        writer.write(frame(number))
    writer.release()
    return path


def count_crossings(video: Path, annotated: Path) -> tuple[int, int]:
    """(in, out): the counts after the video's last frame; the annotated video written."""
    from visionflow import Workflow
    from visionflow.streams.sinks import VideoFileSink

    # cache=False: a compiled workflow of its own, so that no other run of the same
    # document in this process shares its steps' state (tracks, counts) for this video
    workflow = Workflow.compile(WORKFLOW, cache=False)
    counts = (0, 0)
    for result in workflow.stream(str(video), sinks=[VideoFileSink(annotated)]):
        if result.error is not None:
            raise result.error
        counts = (result.outputs["count_in"], result.outputs["count_out"])
    return counts


def main(argv: list[str]) -> int:
    output = Path(argv[0]) if argv else EXAMPLES.parent / "demo-output"
    output.mkdir(parents=True, exist_ok=True)
    video = make_video(output / "shapes.mp4")
    count_in, count_out = count_crossings(video, output / "line_crossings.mp4")
    print(f"{FRAMES} frames of {video}: {count_in} crossed in, {count_out} crossed out")
    print(f"annotated video: {output / 'line_crossings.mp4'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
