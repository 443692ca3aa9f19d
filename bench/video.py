"""What the video pipeline (``visionflow run-video``) costs against a hand-written frame
loop, and how late its results are on a live stream. Prints figures, asserts nothing.

    .venv/bin/python bench/video.py            # the full run (about 1.5 min on 2 cores)
    .venv/bin/python bench/video.py --quick    # a smoke run: shorter videos, fewer samples
    .venv/bin/python bench/video.py --only 3   # one figure

Figure 1: frames/s of ``run-video`` (the CLI's own code: compile, the pipeline, a JSON-lines
sink to /dev/null) on a 640x480 video the script writes (moving shapes), against a plain
loop that reads the same file with OpenCV and calls ``workflow.run`` per frame, for a
light workflow (one Gaussian blur), and the loop with a reader thread per file (a
reference: what overlapping decoding with the runs gives by hand). Figure 2: the same
with 2 and 4 videos at once (no step of the light workflow gains from a batch, so the
pipeline runs each frame alone on lanes, a thread a core each taking the next file:
streams/_lanes.py; the loop reads them round-robin, one frame of each file in turn, one
run per frame, and counts all the frames over its whole time: the same frames, the same
work). Figure 3: a live MJPEG camera on 127.0.0.1
(bench/_mjpeg.py) through the pipeline: latency from frame capture to result, p50 and
p99. Figure 4: figures 1 and 2 again with a model on every frame (fer's emotion
classifier, ONNX, batch size 4) for 1, 2 and 4 videos: the case where frames of several
sources batched into one model call pay, which a blur (one call per frame either way)
cannot show. bench/README.md explains.

Both sides run in one process, in turn, after one warm-up pass each; the first pipeline
pass raises malloc's thresholds for the whole process (streams/_memory.py), so every
sample of the loop runs under the same allocator settings as the pipeline's: the ratio
is the pipeline's design against the loop's, not an allocator setting.
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from _mjpeg import stamped_camera, stamped_number
from _report import Row, print_header, print_row, run_figures
from visionflow import Workflow
from visionflow.cli._video import run_video


@dataclass
class Settings:
    frames: int  # frames in each video of figures 1 and 2
    repeats: int  # samples per side; the best of each is reported
    live_seconds: float  # how long figure 3 watches the camera


FULL = Settings(frames=300, repeats=7, live_seconds=10.0)
QUICK = Settings(frames=100, repeats=3, live_seconds=3.0)
SIZE = (640, 480)  # width, height
FPS = 30
ONE_SOURCE_TARGET = 0.95  # the pipeline's frames/s as a share of the loop's (issue 13)

LIGHT = {
    "version": "1.0",
    "inputs": [{"type": "WorkflowImage", "name": "image"}],
    "steps": [
        {
            "type": "roboflow_core/image_blur@v1",
            "name": "blur",
            "image": "$inputs.image",
            "blur_type": "gaussian",
            "kernel_size": 5,
        }
    ],
    "outputs": [{"type": "JsonField", "name": "blurred", "selector": "$steps.blur.image"}],
}

# A model on every frame (fer's emotion classifier, ONNX, on the whole frame): what
# batching several sources' frames into one model call gives, which a blur cannot show.
MODEL = {
    "version": "1.0",
    "inputs": [{"type": "WorkflowImage", "name": "image"}],
    "models": {"emotion": {"source": "fer/emotion", "batch_size": 4}},
    "steps": [
        {
            "type": "ClassificationModel",
            "name": "emotion",
            "images": "$inputs.image",
            "model": "emotion",
        }
    ],
    "outputs": [{"type": "JsonField", "name": "emotion", "selector": "$steps.emotion.predictions"}],
}

# --- videos ----------------------------------------------------------------------------


def moving_shapes(number: int, seed: int = 0) -> np.ndarray:
    """Frame ``number`` of a scene: a grey floor, three shapes crossing it at their speeds."""
    width, height = SIZE
    frame = np.full((height, width, 3), 60, np.uint8)
    cv2.line(frame, (0, height // 2), (width, height // 2), (90, 90, 90), 2)
    for shape in range(3):
        speed = 4 + 3 * shape + seed
        x = (40 + number * speed + 150 * shape) % (width + 80) - 40
        y = 80 + 130 * shape
        colour = ((40 + 90 * shape) % 256, 200, (220 - 60 * shape) % 256)
        if shape % 2:
            cv2.rectangle(frame, (x - 25, y - 25), (x + 25, y + 25), colour, -1)
        else:
            cv2.circle(frame, (x, y), 28, colour, -1)
    return frame


def write_video(path: Path, frames: int, seed: int = 0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    for number in range(frames):
        writer.write(moving_shapes(number, seed))
    writer.release()
    return path


# --- the two sides ---------------------------------------------------------------------


def pipeline_pass(workflow_path: Path, videos: list[Path]) -> None:
    """``visionflow run-video WORKFLOW VIDEO... --jsonl /dev/null --no-progress``, run by
    the CLI's own function (without the argument parsing and the interpreter's start)."""
    with contextlib.redirect_stderr(io.StringIO()):  # its summary lines
        run_video(
            workflow=workflow_path,
            sources=[str(video) for video in videos],
            jsonl=Path(os.devnull),
            no_progress=True,
        )


def loop_pass(workflow_path: Path, videos: list[Path]) -> int:
    """The loop a user would write: read each file's next frame in turn, one run each."""
    workflow = Workflow.compile(workflow_path)  # as the CLI does (the plan cache: a lookup)
    captures = [cv2.VideoCapture(str(video)) for video in videos]
    frames = 0
    while captures:
        for capture in list(captures):
            ok, frame = capture.read()
            if not ok:
                capture.release()
                captures.remove(capture)
                continue
            workflow.run(image=frame)
            frames += 1
    return frames


def prefetch_loop_pass(workflow_path: Path, videos: list[Path]) -> int:
    """The same loop with each file read ahead by a thread of its own (up to 4 frames, as
    the pipeline once read files): what overlapping decoding with the runs gives by hand."""
    workflow = Workflow.compile(workflow_path)
    queues = [queue.Queue(maxsize=4) for _ in videos]

    def read(video: Path, frames: queue.Queue) -> None:
        capture = cv2.VideoCapture(str(video))
        while (read := capture.read())[0]:
            frames.put(read[1])
        capture.release()
        frames.put(None)  # the end of the file

    readers = [
        threading.Thread(target=read, args=pair, daemon=True)
        for pair in zip(videos, queues, strict=True)
    ]
    for reader in readers:
        reader.start()
    count, waiting = 0, list(queues)
    while waiting:
        for frames in list(waiting):
            if (frame := frames.get()) is None:
                waiting.remove(frames)
                continue
            workflow.run(image=frame)
            count += 1
    for reader in readers:
        reader.join()
    return count


def best_seconds(
    functions: list[Callable[[], Any]], settings: Settings
) -> list[tuple[float, float]]:
    """The best wall time of each function over ``settings.repeats`` samples taken in turn
    (so drift on a busy machine hits all alike; noise only ever adds time), with the
    process's CPU time (all threads) of that sample."""
    for function in functions:
        function()  # warm: the plan cache, OpenCV's decoder, the first threads
    samples: list[list[tuple[float, float]]] = [[] for _ in functions]
    for _ in range(settings.repeats):
        for function, taken in zip(functions, samples, strict=True):
            start, cpu = time.perf_counter(), time.process_time()
            function()
            taken.append((time.perf_counter() - start, time.process_time() - cpu))
    return [min(taken) for taken in samples]


# --- figures 1 and 2 -------------------------------------------------------------------


def figure_one_source(settings: Settings) -> list[Row]:
    print_header(
        f"[1] run-video vs a plain OpenCV loop: 1 video, {SIZE[0]}x{SIZE[1]}, "
        f"{settings.frames} frames, light workflow (Gaussian blur 5)"
    )
    return _compare(settings, 1, f">= {ONE_SOURCE_TARGET:.2f}x loop", ONE_SOURCE_TARGET)


def figure_batched(settings: Settings) -> list[Row]:
    print_header(
        f"[2] run-video vs a plain OpenCV loop: several videos at once, "
        f"{settings.frames} frames each, light workflow"
    )
    return [row for count in (2, 4) for row in _compare(settings, count, "> 1.00x loop", 1.0, True)]


def figure_model(settings: Settings) -> list[Row]:
    print_header(
        f"[4] run-video vs a plain OpenCV loop: a model on every frame (fer/emotion, ONNX, "
        f"batch size 4), {settings.frames} frames a video"
    )
    return [
        row
        for count in (1, 2, 4)
        for row in _compare(
            settings,
            count,
            "> 1.00x loop" if count > 1 else "",
            1.0,
            strict=True,
            document=MODEL,
            judged=count > 1,
        )
    ]


def _compare(
    settings: Settings,
    count: int,
    target: str,
    share_needed: float,
    strict: bool = False,
    document: dict[str, Any] = LIGHT,
    judged: bool = True,
) -> list[Row]:
    cv2.setNumThreads(1)  # OpenCV's own threads make its filters erratic on a busy machine
    with tempfile.TemporaryDirectory(prefix="vf-bench-video-") as folder:
        workflow_path = Path(folder) / "workflow.yaml"
        workflow_path.write_text(yaml.safe_dump(document), encoding="utf-8")
        videos = [
            write_video(Path(folder) / f"shapes-{seed}.mp4", settings.frames, seed)
            for seed in range(count)
        ]
        if (read := loop_pass(workflow_path, videos)) != count * settings.frames:
            print(f"  WARNING: the loop read {read} frames, not {count * settings.frames}")
        (loop, loop_cpu), (pipeline, pipeline_cpu), (ahead, ahead_cpu) = best_seconds(
            [
                lambda: loop_pass(workflow_path, videos),
                lambda: pipeline_pass(workflow_path, videos),
                lambda: prefetch_loop_pass(workflow_path, videos),
            ],
            settings,
        )
    frames = count * settings.frames
    loop_rate = frames / loop
    sources = f"{count} source{'s' if count > 1 else ''}"
    rows = []
    for label, seconds, cpu, is_judged in (
        (f"run-video, {sources}", pipeline, pipeline_cpu, judged),
        (f"loop + reader threads, {sources} (reference)", ahead, ahead_cpu, False),
    ):
        share = frames / seconds / loop_rate
        passed = share > share_needed if strict else share >= share_needed
        rows.append(
            print_row(
                Row(
                    label,
                    f"{frames / seconds:.0f} frames/s",
                    target if is_judged else "",
                    passed if is_judged else None,
                    f"{share:.3f}x of the loop's {loop_rate:.0f}/s; "
                    f"{(seconds - loop) / frames * 1e6:+.0f} us a frame; CPU a frame "
                    f"{cpu / frames * 1e6:.0f} us vs {loop_cpu / frames * 1e6:.0f} us",
                )
            )
        )
    return rows


# --- figure 3 --------------------------------------------------------------------------


def figure_live(settings: Settings) -> list[Row]:
    print_header(
        f"[3] Live MJPEG camera on 127.0.0.1 ({SIZE[0]}x{SIZE[1]}, {FPS} fps) through "
        f"the pipeline, light workflow, {settings.live_seconds:.0f} s"
    )
    workflow = Workflow.compile(LIGHT)
    pipeline_latency: list[float] = []  # from the frame's read (Frame.captured_at) to result
    camera_latency: list[float] = []  # from the camera making the frame to its result
    lock = threading.Lock()

    with stamped_camera(moving_shapes, fps=FPS) as camera:

        def record(result: Any) -> None:
            done = time.monotonic()
            made = camera.made_at.get(stamped_number(result.frame.pixels))
            with lock:
                pipeline_latency.append(result.latency_s)
                if made is not None:
                    camera_latency.append(done - made)

        pipeline = workflow.stream(camera.url, on_result=record)
        pipeline.start()
        time.sleep(1.0)  # connecting and the first frames: not part of the figure
        with lock:
            pipeline_latency.clear()
            camera_latency.clear()
        start = time.monotonic()
        time.sleep(settings.live_seconds)
        pipeline.stop()
        pipeline.join()
        elapsed = time.monotonic() - start
    (status,) = pipeline.status().sources
    rows = []
    for label, samples in (
        ("capture (frame read) -> result", pipeline_latency),
        ("camera made the frame -> result", camera_latency),
    ):
        p50, p99 = _percentile(samples, 50), _percentile(samples, 99)
        rows.append(
            print_row(
                Row(
                    f"latency {label}",
                    f"p50 {p50 * 1e3:.1f} ms",
                    compare=f"p99 {p99 * 1e3:.1f} ms over {len(samples)} frames",
                )
            )
        )
    rows.append(
        print_row(
            Row(
                "frames processed",
                f"{len(pipeline_latency) / elapsed:.1f} frames/s",
                compare=f"camera {FPS} fps; {status.dropped} dropped in all "
                f"(latest frame only), {status.reconnects} reconnects",
            )
        )
    )
    return rows


def _percentile(samples: list[float], percent: int) -> float:
    if len(samples) < 2:
        return samples[0] if samples else float("nan")
    return statistics.quantiles(samples, n=100, method="inclusive")[percent - 1]


FIGURES = {1: figure_one_source, 2: figure_batched, 3: figure_live, 4: figure_model}

if __name__ == "__main__":
    run_figures(FIGURES, FULL, QUICK, __doc__)
