"""The face -> emotion workflow (examples/face_emotion.yaml) on a video: makes a video of
a real picture (scikit-image's astronaut) moving across the frame, runs the workflow on
every frame with the stream pipeline, writes the annotated video and prints what each
frame showed.

    .venv/bin/python examples/face_emotion_video.py [OUTPUT_FOLDER]   # default: demo-output/

The same from the command line, once the video exists:

    visionflow run-video examples/face_emotion.yaml demo-output/astronaut.mp4 \\
        --output-video demo-output/face_emotion.mp4 --jsonl demo-output/face_emotion.jsonl
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

EXAMPLES = Path(__file__).resolve().parent
WORKFLOW = EXAMPLES / "face_emotion.yaml"
SIZE = (800, 512)  # width, height: the 512x512 picture slides 288 pixels across
FPS = 10
FRAMES = 20


def frame(number: int) -> np.ndarray:
    """Frame ``number`` (from 0): the astronaut (BGR) on a grey floor, moved right."""
    from skimage import data

    picture = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    width, height = SIZE
    pixels = np.full((height, width, 3), 96, np.uint8)
    x = round(number * (width - 512) / (FRAMES - 1))
    pixels[:, x : x + 512] = picture
    return pixels


def make_video(path: Path) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    for number in range(FRAMES):
        writer.write(frame(number))
    writer.release()
    return path


def emotions(video: Path, annotated: Path) -> list[list[tuple[str, list[int]]]]:
    """Each frame's faces: (emotion, box [x1, y1, x2, y2] in whole pixels), frames in
    order; the annotated video written."""
    from visionflow import Workflow
    from visionflow.streams.sinks import VideoFileSink

    workflow = Workflow.compile(WORKFLOW)
    found = []
    for result in workflow.stream(str(video), sinks=[VideoFileSink(annotated)]):
        if result.error is not None:
            raise result.error
        faces = result.outputs["faces"]
        boxes = faces.xyxy.round().astype(int).tolist()
        found.append(list(zip(faces.data["class_name"].tolist(), boxes, strict=True)))
    return found


def main(argv: list[str]) -> int:
    output = Path(argv[0]) if argv else EXAMPLES.parent / "demo-output"
    output.mkdir(parents=True, exist_ok=True)
    video = make_video(output / "astronaut.mp4")
    found = emotions(video, output / "face_emotion.mp4")
    seen = Counter(name for faces in found for name, _box in faces)
    print(f"{len(found)} frames of {video}: faces in {sum(bool(n) for n in found)} of them")
    print("  emotions: " + ", ".join(f"{name} x{count}" for name, count in seen.most_common()))
    print(f"annotated video: {output / 'face_emotion.mp4'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
