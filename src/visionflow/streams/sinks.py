"""Where a video pipeline's results go: an annotated video file, JSON lines.

A sink is opened with the workflow and the sources when the pipeline starts, given each
result in order (``write``), and closed, flushed, when the pipeline ends or stops (a stop
by Ctrl-C included): every frame processed before a stop is in every sink.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from visionflow.data.image import WorkflowImage
from visionflow.errors import StreamPipelineError

DEFAULT_FPS = 30.0  # for a source that declares no frame rate (a folder of images)
_FOURCC = {".avi": "MJPG", ".mkv": "MJPG"}  # anything else: MPEG-4 part 2 ("mp4v")


class Sink(Protocol):
    def open(self, workflow: Any, sources: list[Any]) -> None: ...
    def write(self, result: Any) -> None: ...  # a pipeline.StreamResult
    def close(self) -> None: ...


class JsonLinesSink:
    """One JSON line per frame: ``source``, ``frame_number``, ``frame_timestamp``, the
    serialised ``outputs`` (null for a frame that failed) and ``error`` (null, or the
    error's code, place, message and hint). Images are written as their size only, unless
    ``images=True`` (base64 JPEG: large). The path ``-`` is the standard output."""

    def __init__(self, path: str | Path, *, images: bool = False):
        self.path = Path(path)
        self.images = images
        self._file: Any = None

    def open(self, workflow: Any, sources: list[Any]) -> None:
        if str(self.path) == "-":
            self._file = sys.stdout
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("w", encoding="utf-8")

    def write(self, result: Any) -> None:
        self._file.write(self.line(result) + "\n")
        self._file.flush()  # a reader following the file sees each frame as it comes

    def line(self, result: Any) -> str:
        """A result's JSON line (without its newline): the one writer of this format."""
        from visionflow.serialization import serialize

        outputs = result.outputs
        if outputs is not None and not self.images:
            outputs = _sizes_for_images(outputs)
        line = {
            "source": result.source,
            "frame_number": result.frame_number,
            "frame_timestamp": result.frame.metadata.frame_timestamp,
            "outputs": outputs,
            "error": _error(result.error),
        }
        return json.dumps(serialize(line), ensure_ascii=False)

    def close(self) -> None:
        if self._file is sys.stdout:
            self._file.flush()
        elif self._file is not None:
            self._file.close()
        self._file = None


class VideoFileSink:
    """The workflow's image output (``image_output``: needed if it has several) written
    as a video at each source's fps; one file per source when there are several, named by
    the source (``out.mp4`` -> ``out-clip.mp4`` for ``videos/clip.mp4``). A frame whose run
    failed, or that gave no image, is written as read, so the video keeps its length.

    The frame rate: a file's own divided by its ``every_nth`` (the frames written span the
    file's time); a live source's, the rate its first ``LIVE_SAMPLE`` frames written were
    captured at (dropped frames and ``max_fps`` included), held back until then.
    ``.avi``: Motion JPEG; otherwise MPEG-4 part 2 (what OpenCV's wheels encode)."""

    LIVE_SAMPLE = 16  # frames of a live source measured before its video opens

    def __init__(self, path: str | Path, *, image_output: str | None = None):
        self.path = Path(path)
        self.image_output = image_output
        self._paths: dict[str, Path] = {}
        self._fps: dict[str, float | None] = {}  # None: a live source's, measured
        self._writers: dict[str, Any] = {}
        self._sizes: dict[str, tuple[int, int]] = {}
        self._pending: dict[str, list[tuple[np.ndarray, float]]] = {}

    def open(self, workflow: Any, sources: list[Any]) -> None:
        self.image_output = _image_output(workflow, self.image_output)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        names = [_file_part(source.identifier) for source in sources]
        for position, (source, name) in enumerate(zip(sources, names, strict=True)):
            path = self.path
            if len(sources) > 1:
                name = name if names.count(name) == 1 else f"{position}-{name}"
                path = self.path.with_name(f"{self.path.stem}-{name}{self.path.suffix}")
            self._paths[source.identifier] = path
            if getattr(source, "is_live", False):
                self._fps[source.identifier] = None
                self._pending[source.identifier] = []
            else:
                every_nth = getattr(source, "every_nth", 1) or 1
                self._fps[source.identifier] = float(source.fps or DEFAULT_FPS) / every_nth

    def paths(self) -> dict[str, Path]:
        """Source identifier -> the video file written for it."""
        return dict(self._paths)

    def write(self, result: Any) -> None:
        image = (result.outputs or {}).get(self.image_output)
        pixels = _bgr(image.numpy if isinstance(image, WorkflowImage) else result.frame.pixels)
        pending = self._pending.get(result.source)
        if pending is not None:  # a live source: measuring its rate
            pending.append((pixels, result.frame.captured_at))
            if len(pending) >= self.LIVE_SAMPLE:
                self._flush_pending(result.source)
            return
        self._write(result.source, pixels)

    def _write(self, source: str, pixels: np.ndarray) -> None:
        writer = self._writers.get(source) or self._open_writer(source, pixels)
        width, height = self._sizes[source]
        if pixels.shape[1] != width or pixels.shape[0] != height:
            import cv2

            pixels = cv2.resize(pixels, (width, height))  # a video keeps its first size
        writer.write(pixels)

    def _flush_pending(self, source: str) -> None:
        pending = self._pending.pop(source)
        times = [captured for _, captured in pending]
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        self._fps[source] = (len(times) - 1) / span if span > 0 else DEFAULT_FPS
        for pixels, _ in pending:
            self._write(source, pixels)

    def _open_writer(self, source: str, pixels: np.ndarray) -> Any:
        import cv2

        path = self._paths[source]
        height, width = pixels.shape[:2]
        fourcc = cv2.VideoWriter_fourcc(*_FOURCC.get(path.suffix.lower(), "mp4v"))
        fps = _writable(self._fps[source])
        writer = cv2.VideoWriter(str(path), fourcc, fps, (width, height))
        if not writer.isOpened():
            raise StreamPipelineError(
                f"cannot write a {width}x{height} video to '{path}'",
                place="output video",
                hint="use a .mp4 or .avi file in a folder you can write to; MPEG-4 (.mp4) "
                "refuses very large frames, Motion JPEG (.avi) takes them",
            )
        self._writers[source], self._sizes[source] = writer, (width, height)
        return writer

    def close(self) -> None:
        try:
            for source in list(self._pending):  # a live source that gave few frames
                if self._pending[source]:
                    self._flush_pending(source)
        finally:
            for writer in self._writers.values():
                writer.release()  # writes the file's index: a video not released is unreadable
            self._writers.clear()
            self._pending.clear()


def _writable(fps: float) -> float:
    """``fps`` as MPEG-4 takes it: OpenCV gives FFmpeg a time base of 1000 / (1000 x fps),
    whose denominator must stay under 65536 (97.087 fails, 97.09 is fine)."""
    return round(fps, 2) if fps < 600 else float(round(fps))


def _bgr(pixels: np.ndarray) -> np.ndarray:
    """Pixels as a video frame takes them: 3 channels (BGR), uint8, contiguous."""
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    elif pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    elif pixels.shape[2] == 4:
        pixels = pixels[:, :, :3]  # BGRA: the alpha channel goes
    return np.ascontiguousarray(pixels, dtype=np.uint8)


def _image_output(workflow: Any, wanted: str | None) -> str:
    outputs = workflow.outputs
    several = [n for n, o in outputs.items() if "image" in o["kinds"] and o["dimensionality"] > 1]
    images = [n for n, o in outputs.items() if "image" in o["kinds"] and n not in several]
    if wanted in several or (wanted is None and several and not images):
        name = wanted or several[0]
        raise StreamPipelineError(
            f"the output '{name}' gives several images per frame (crops, tiles); a video "
            "takes one image per frame",
            place="output video",
            hint="write an output of one image per frame (the frame, or an annotation "
            "step's image); the crops go to --jsonl",
        )
    if wanted is not None and wanted in images:
        return wanted
    if wanted is None and len(images) == 1:
        return images[0]
    raise StreamPipelineError(
        f"the workflow's image outputs are {images or 'none'}; "
        + ("choose one to write as video" if wanted is None else f"'{wanted}' is not one"),
        place="output video",
        hint="name the output to write (--video-output), or add an output of an image "
        "(e.g. an annotation step's image)",
    )


def _file_part(identifier: str) -> str:
    """A source identifier (a path, a URL) as a short file name part."""
    name = Path(str(identifier)).stem or str(identifier)  # clip.mp4 -> clip, rtsp://h/live -> live
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[-60:]


def _error(error: BaseException | None) -> dict[str, Any] | None:
    if error is None:
        return None
    if hasattr(error, "to_dict"):
        return error.to_dict()
    return {"code": type(error).__name__, "place": None, "message": str(error), "hint": None}


def _sizes_for_images(value: Any) -> Any:
    if isinstance(value, WorkflowImage):
        return {"type": "image", "width": value.width, "height": value.height}
    if isinstance(value, dict):
        return {key: _sizes_for_images(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_sizes_for_images(item) for item in value]
    return value
