"""Where frames come from: video files, image sequences, webcams and RTSP/HTTP streams.

``open_source(spec)`` picks the kind of source from ``spec``; every kind is a
``FrameSource`` whose ``read()`` gives the next ``Frame`` (pixels and their
``VideoMetadata``) or None once the source has ended.

Files (videos, images) are read on demand: every frame (or every n-th), none lost, and
their end is the source's end. Live sources (webcams, streams) run at the camera's pace
whatever the reader does, so a thread reads them; by default only the newest frame waits
for ``read()`` (``latest_only``: a slow workflow works on the present, not on a backlog),
and a lost stream reconnects with growing pauses until ``close()``.

>>> with open_source("clip.mp4", every_nth=2) as source:  # doctest: +SKIP
...     for frame in source:
...         print(frame.metadata.frame_number)   # 1, 3, 5, ...
"""

from __future__ import annotations

import abc
import collections
import datetime
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from visionflow.data.image import VideoMetadata
from visionflow.data.sources import IMAGE_SUFFIXES, image_paths
from visionflow.errors import SourceError

_log = logging.getLogger("visionflow.streams")

STREAM_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "http", "https"})
# OpenCV's FFmpeg waits for a silent stream this long (ms) before a read fails, which is
# also the longest close() may wait for the reader thread.
_STREAM_TIMEOUTS = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 5000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 5000]


@dataclass(frozen=True)
class Frame:
    """One frame: BGR uint8 pixels, its place in its video, and when it was captured
    (``time.monotonic()``: the start of the frame's latency)."""

    pixels: np.ndarray
    metadata: VideoMetadata
    captured_at: float


class FrameSource(abc.ABC):
    """A source of frames: ``read()`` until None, then ``close()`` (or ``with``, or
    iterate). ``open_source`` gives it opened.

    Counters for a status: ``frames_read`` (given out by ``read()``), ``frames_dropped``
    (captured, then replaced by a newer frame before anyone read them) and ``reconnects``
    (times a lost stream came back); ``frame_count``: how many frames ``read()`` will
    give, where a file says (None for a live source).
    """

    is_live: bool = False

    def __init__(self, identifier: str):
        self.identifier = identifier
        self.fps: float | None = None
        self.frame_count: int | None = None
        self.frames_read = 0
        self.frames_dropped = 0
        self.reconnects = 0

    @abc.abstractmethod
    def open(self) -> None:
        """Start reading (open_source calls it)."""

    @abc.abstractmethod
    def read(self) -> Frame | None:
        """The next frame; None once the source has ended."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop reading and release the source."""

    def __enter__(self) -> FrameSource:
        return self  # open_source gives it opened

    def __exit__(self, *exc) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame

    def _error(self, message: str, hint: str) -> SourceError:
        return SourceError(message, place=f"source '{self.identifier}'", hint=hint)


def _declared_fps(capture: cv2.VideoCapture) -> float | None:
    fps = capture.get(cv2.CAP_PROP_FPS)
    return float(fps) if fps and np.isfinite(fps) and fps > 0 else None


# --- files -------------------------------------------------------------------------------

DECODERS = ("auto", "opencv", "pyav")


def _check_decoder(decoder: object, name: str) -> None:
    if decoder not in DECODERS:
        raise SourceError(
            f"decoder must be one of {', '.join(DECODERS)}, found {decoder!r}",
            place=f"source '{_without_password(name)}'",
            hint="'auto' reads with OpenCV and falls back to PyAV (where installed)",
        )


def _open_decoder(name: str, path: str, threads: int | None = None) -> Any:
    """``name``'s reader of ``path`` (FFmpeg decoding on ``threads`` threads of its own,
    or as many as it chooses), or None when it cannot open it."""
    if name == "opencv":
        if threads is None:
            capture = cv2.VideoCapture(path)
        else:  # an open parameter: the capture cannot change it once open
            capture = cv2.VideoCapture(path, cv2.CAP_ANY, [cv2.CAP_PROP_N_THREADS, threads])
            if not capture.isOpened():  # a backend without the setting: its own choice
                capture.release()
                capture = cv2.VideoCapture(path)
        if capture.isOpened():
            return capture
        capture.release()
        return None
    from visionflow.streams._pyav import PyAVReader

    try:
        return PyAVReader(path, threads)
    except ValueError:
        return None


class VideoFileSource(FrameSource):
    """A video file read by OpenCV's FFmpeg (mp4, avi, mkv, mov, ...) or by PyAV's.
    Frame n (from 1) is stamped ``start + (n - 1) / fps``: its place in the file, not
    when it was read.

    ``decoder``: ``"auto"`` (OpenCV; PyAV, where installed, when OpenCV cannot open the
    file or reads no frame of it), ``"opencv"`` or ``"pyav"``; ``decoder_used`` says
    which one reads it once opened. ``decoder_threads``: the threads FFmpeg decodes on
    (default: its own choice, about one per core, decoding ahead of ``read()``; 1: each
    frame decoded inside ``read()``, the least CPU a frame where the caller has other
    threads using the cores, as the pipeline's lanes do).
    """

    def __init__(
        self,
        path: str,
        identifier: str,
        every_nth: int = 1,
        decoder: str = "auto",
        decoder_threads: int | None = None,
    ):
        super().__init__(identifier)
        _check_decoder(decoder, identifier)
        self.path = path
        self.every_nth = every_nth
        self.decoder = decoder
        self.decoder_threads = decoder_threads
        self.decoder_used: str | None = None
        self._capture: Any = None  # a cv2.VideoCapture or a PyAVReader: the same calls
        self._first: np.ndarray | None = None  # frame 1, read by open() to try the decoder
        self._position = 0  # index in the file of the next frame the capture gives
        self._wanted = 0  # index of the next frame read() gives
        self._start = datetime.datetime.now()
        self._lock = threading.Lock()  # close() from another thread waits for a read

    def open(self) -> None:
        if not os.path.isfile(self.path):
            raise self._error(
                f"no video file at '{self.path}'",
                f"check the path (a relative one is read from {os.getcwd()})",
            )
        from visionflow.streams import _pyav

        if self.decoder == "pyav" and not _pyav.available():
            raise self._error(
                "decoder 'pyav' needs PyAV, which is not installed",
                f"{_pyav.INSTALL}, or use decoder 'auto' or 'opencv'",
            )
        tried = [self.decoder] if self.decoder != "auto" else ["opencv"]
        if self.decoder == "auto" and _pyav.available():
            tried.append("pyav")
        for name in tried:
            capture = _open_decoder(name, self.path, self.decoder_threads)
            ok, first = capture.read() if capture is not None else (False, None)
            if ok:  # a file that opens but gives no frame is no video to this decoder
                break
            if capture is not None:
                capture.release()
        else:
            raise self._unreadable(tried, _pyav.available(), _pyav.INSTALL)
        self._capture, self._first, self.decoder_used = capture, first, name
        self._position = self._wanted = 0
        if name == "pyav":
            self.fps, frames = capture.fps, capture.frame_count or 0
        else:
            self.fps, frames = _declared_fps(capture), int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        # the count is from the header: it may be absent
        self.frame_count = -(-frames // self.every_nth) if frames > 0 else None
        self._start = datetime.datetime.now()

    def _unreadable(self, tried: list[str], pyav_installed: bool, install: str) -> SourceError:
        whole = "check that it is a whole video file (mp4, avi, mkv, mov...)"
        if len(tried) == 2:
            return self._error(
                "neither OpenCV nor PyAV can read this file as a video",
                f"{whole}; re-encode it with ffmpeg if another player opens it",
            )
        if tried == ["pyav"]:
            return self._error(
                "PyAV cannot read this file as a video",
                f"{whole}; re-encode it with ffmpeg if another player opens it",
            )
        also = f"PyAV may read what OpenCV cannot: {install}"
        if pyav_installed:
            also = "decoder 'auto' or 'pyav' also tries PyAV"
        return self._error(
            "OpenCV cannot read this file as a video",
            f"{whole}; re-encode it with ffmpeg if another player opens it; {also}",
        )

    def read(self) -> Frame | None:
        with self._lock:
            if self._capture is None:
                return None
            if self._first is not None:  # frame 1: open() has read it already
                pixels, self._first = self._first, None
            else:
                while self._position < self._wanted:  # skipped frames: not converted
                    if not self._capture.grab():
                        self._say_if_cut_short()
                        return self._end()
                    self._position += 1
                ok, pixels = self._capture.read()
                if not ok:
                    self._say_if_cut_short()
                    return self._end()
            index = self._position
            self._position += 1
            self._wanted = index + self.every_nth
            self.frames_read += 1
            return Frame(pixels, self._metadata(index), time.monotonic())

    def _metadata(self, index: int) -> VideoMetadata:
        offset = datetime.timedelta(seconds=index / self.fps) if self.fps else None
        stamp = self._start + offset if offset is not None else datetime.datetime.now()
        return VideoMetadata(self.identifier, index + 1, stamp, self.fps, True)

    def _say_if_cut_short(self) -> None:
        # a truncated file (a copy cut off, a recording that crashed) reads as a shorter one
        if self.frame_count is not None and self.frames_read < self.frame_count:
            _log.warning(
                "video source '%s': the file ended after %d frames; its header declares %d: "
                "it may be cut short", self.identifier, self.frames_read, self.frame_count,
            )  # fmt: skip

    def _end(self) -> None:
        self._capture.release()
        self._capture, self._first = None, None

    def close(self) -> None:
        with self._lock:
            if self._capture is not None:
                self._end()


class ImageSequenceSource(FrameSource):
    """Image files as the frames of one video, in natural order (frame2 before frame10).
    With ``fps`` frame n is stamped ``start + (n - 1) / fps`` and counts as from a file;
    without, it is stamped when read."""

    def __init__(self, paths: list[str], identifier: str, every_nth: int = 1, fps=None):
        super().__init__(identifier)
        self.paths = paths[::every_nth]
        self.every_nth = every_nth
        self.fps = fps
        self.frame_count = len(self.paths)
        self._next = 0
        self._start = datetime.datetime.now()

    def open(self) -> None:
        self._next, self._start = 0, datetime.datetime.now()

    def read(self) -> Frame | None:
        if self._next >= len(self.paths):
            return None
        path, index = self.paths[self._next], self._next * self.every_nth
        self._next += 1
        pixels = cv2.imread(path, cv2.IMREAD_COLOR)
        if pixels is None:
            raise self._error(
                f"frame {index + 1} '{path}' is not an image OpenCV can read",
                "remove or replace that file (or leave it out of the pattern)",
            )
        if self.fps:
            stamp = self._start + datetime.timedelta(seconds=index / self.fps)
        else:
            stamp = datetime.datetime.now()
        metadata = VideoMetadata(self.identifier, index + 1, stamp, self.fps, bool(self.fps))
        self.frames_read += 1
        return Frame(pixels, metadata, time.monotonic())

    def close(self) -> None:
        self._next = len(self.paths)


# --- live sources ------------------------------------------------------------------------


class LiveSource(FrameSource):
    """A camera or stream read by its own thread at its own pace.

    ``latest_only``: one frame waits for ``read()``, a newer one replaces it (counted in
    ``frames_dropped``); otherwise up to ``backlog`` frames wait and the thread waits when
    they are full. A lost stream reconnects after ``first_delay`` seconds, doubling up to
    ``max_delay`` (each try logged at WARNING), until ``close()``; with ``reconnect=False``
    a lost stream ends the source.
    """

    is_live = True
    first_delay = 0.5
    max_delay = 10.0
    backlog = 64

    def __init__(
        self,
        identifier: str,
        connect: Callable[[], cv2.VideoCapture],
        *,
        latest_only: bool = True,
        reconnect: bool = True,
        unreachable: tuple[str, str] = ("cannot be opened", "check the source"),
    ):
        super().__init__(identifier)
        self.latest_only = latest_only
        self.reconnect = reconnect
        self._connect = connect
        self._unreachable = unreachable  # (why, hint) when the first connection fails
        self._waiting: collections.deque[Frame] = collections.deque()
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._ended = False
        self._thread: threading.Thread | None = None
        self._captured = 0
        self._capture_times: collections.deque[float] = collections.deque(maxlen=30)
        self.measured_fps: float | None = None  # frames a second over the last 30 captured

    def open(self) -> None:
        if self._thread is not None:
            return  # one reader thread per source
        capture = self._connect()
        if not capture.isOpened():
            capture.release()
            raise self._error(*self._unreachable)
        self.fps = _declared_fps(capture)
        self._thread = threading.Thread(
            target=self._run, args=(capture,), name=f"source {self.identifier}", daemon=True
        )
        self._thread.start()

    def read(self) -> Frame | None:
        if self._thread is None:
            return None  # never opened
        with self._changed:
            while not self._waiting and not self._ended and not self._stop.is_set():
                self._changed.wait()
            if self._stop.is_set() or not self._waiting:
                return None
            self.frames_read += 1
            self._changed.notify_all()  # room in the backlog
            return self._waiting.popleft()

    def close(self) -> None:
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=_STREAM_TIMEOUTS[3] / 1000 + 1)

    def _run(self, capture: cv2.VideoCapture | None) -> None:
        try:
            while capture is not None and not self._stop.is_set():
                ok, pixels = capture.read()
                if ok:
                    self._offer(self._frame(pixels))
                    continue
                capture.release()
                if self.reconnect:
                    capture = self._reconnected()
                    continue
                capture = None
                if not self._stop.is_set():
                    _log.warning("video source '%s': stream lost; it ends", self.identifier)
        finally:
            if capture is not None:
                capture.release()
            with self._changed:
                self._ended = True
                self._changed.notify_all()

    def _frame(self, pixels: np.ndarray) -> Frame:
        now = time.monotonic()
        self._captured += 1
        times = self._capture_times  # touched by this thread only
        times.append(now)
        if len(times) >= 2 and times[-1] > times[0]:
            self.measured_fps = (len(times) - 1) / (times[-1] - times[0])
        metadata = VideoMetadata(
            self.identifier, self._captured, datetime.datetime.now(), self.fps, False,
            self.measured_fps,
        )  # fmt: skip
        return Frame(pixels, metadata, now)

    def _offer(self, frame: Frame) -> None:
        with self._changed:
            if self.latest_only:
                self.frames_dropped += len(self._waiting)
                self._waiting.clear()
            else:
                while len(self._waiting) >= self.backlog and not self._stop.is_set():
                    self._changed.wait(0.1)
            self._waiting.append(frame)
            self._changed.notify_all()

    def _reconnected(self) -> cv2.VideoCapture | None:
        """A new capture once the stream answers again; None if closed first."""
        delay, attempt = self.first_delay, 0
        while not self._stop.is_set():
            attempt += 1
            _log.warning(
                "video source '%s': stream lost; reconnecting in %.3g s (attempt %d)",
                self.identifier, delay, attempt,
            )  # fmt: skip
            if self._stop.wait(delay):
                return None
            capture = self._connect()
            if capture.isOpened():
                _log.warning("video source '%s': reconnected", self.identifier)
                self.reconnects += 1
                self._capture_times.clear()  # the rate before the loss says nothing now
                self.measured_fps = None
                return capture
            capture.release()
            delay = min(delay * 2, self.max_delay)
        return None


def _without_password(url: str) -> str:
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host  # an IPv6 address keeps its brackets
        netloc = f"{parts.username}@{host}" + (f":{parts.port}" if parts.port else "")
    except ValueError:  # a malformed URL (its port): drop what follows the user name
        return re.sub(r"^([^:/]+://[^:/@]*):[^@]*@", r"\1@", url)
    return urlunsplit(parts._replace(netloc=netloc))


def _stream_source(url: str, identifier: str | None, **options) -> LiveSource:
    shown = _without_password(url)
    why = (
        "OpenCV could not open this stream: nothing answers there, it refused, "
        "or it sends no video OpenCV reads"
    )
    hint = "check that a player (ffplay, VLC) opens the URL from this machine, credentials too"
    return LiveSource(
        identifier or shown,
        lambda: cv2.VideoCapture(url, cv2.CAP_FFMPEG, _STREAM_TIMEOUTS),
        unreachable=(why, hint),
        **options,
    )


def _webcam_source(index: int, identifier: str | None, **options) -> LiveSource:
    why = f"no camera answers at device index {index}"
    hint = "list the cameras (v4l2-ctl --list-devices) and check no other program holds it"
    return LiveSource(
        identifier or f"webcam-{index}",
        lambda: cv2.VideoCapture(index),
        unreachable=(why, hint),
        **options,
    )


# --- choosing the source -----------------------------------------------------------------


def open_source(
    spec: str | int | os.PathLike,
    *,
    identifier: str | None = None,
    every_nth: int = 1,
    latest_only: bool | None = None,
    reconnect: bool = True,
    fps: float | None = None,
    decoder: str = "auto",
    decoder_threads: int | None = None,
) -> FrameSource:
    """The opened source ``spec`` names.

    ``spec``: a video file, a folder, glob (``"frames/*.png"``) or single image file (a
    sequence of images), a webcam's device index (``0`` or ``"0"``), or an ``rtsp://``,
    ``rtmp://`` or ``http(s)://`` stream. ``identifier`` names the video in the frames'
    metadata (default: the spec, a URL without its password). Files give every
    ``every_nth`` frame; live sources keep only the newest frame unless
    ``latest_only=False`` (files ignore it: they wait for the reader). ``fps``: a sequence
    of images' frame rate. ``decoder``: what reads a video file, ``"auto"`` (OpenCV, then
    PyAV where installed if OpenCV cannot), ``"opencv"`` or ``"pyav"``;
    ``decoder_threads``: a video file's FFmpeg decoding threads (``VideoFileSource``;
    other sources ignore it). Raises ``SourceError`` naming the source and why.
    """
    name = str(spec) if not isinstance(spec, os.PathLike) else os.fspath(spec)
    if isinstance(every_nth, bool) or not isinstance(every_nth, int) or every_nth < 1:
        raise SourceError(
            f"every_nth must be a whole number from 1, found {every_nth!r}",
            place=f"source '{_without_password(name)}'",
            hint="1 reads every frame, 2 every other one, ...",
        )
    if fps is not None and (isinstance(fps, bool) or not isinstance(fps, int | float) or fps <= 0):
        raise SourceError(  # frames stamped backwards, or all at one time, would mislead
            f"fps must be a number above 0, found {fps!r}",
            place=f"source '{_without_password(name)}'",
            hint="the sequence's frame rate, e.g. 25; leave it out to stamp frames when read",
        )
    _check_decoder(decoder, name)
    if decoder_threads is not None and (
        isinstance(decoder_threads, bool)
        or not isinstance(decoder_threads, int)
        or decoder_threads < 1
    ):
        raise SourceError(
            f"decoder_threads must be a whole number from 1, found {decoder_threads!r}",
            place=f"source '{_without_password(name)}'",
            hint="1 decodes each frame as it is read; leave it out for FFmpeg's own choice",
        )
    source = _choose(spec, name, identifier, every_nth, latest_only, reconnect, fps, decoder)
    if isinstance(source, VideoFileSource):
        source.decoder_threads = decoder_threads
    if decoder != "auto" and not isinstance(source, VideoFileSource):
        raise SourceError(  # a camera, stream or images would silently ignore it
            f"decoder '{decoder}' is for a video file; this source is not one",
            place=f"source '{_without_password(name)}'",
            hint="leave decoder out (OpenCV reads cameras, streams and images)",
        )
    source.open()
    return source


def _choose(
    spec, name, identifier, every_nth, latest_only, reconnect, fps, decoder,
) -> FrameSource:  # fmt: skip
    live = {"latest_only": True if latest_only is None else latest_only, "reconnect": reconnect}
    is_index = isinstance(spec, int) and not isinstance(spec, bool)
    if fps is not None and (is_index or "://" in name or _is_video_file(name)):
        raise SourceError(
            "fps is for a sequence of images; a video or stream declares its own",
            place=f"source '{_without_password(name)}'",
            hint="leave fps out",
        )
    if is_index or (isinstance(spec, str) and spec.isdecimal()):
        return _webcam_source(int(spec), identifier, **live)
    if "://" in name:
        scheme = name.split("://", 1)[0].lower()
        if scheme not in STREAM_SCHEMES:
            raise SourceError(
                f"'{scheme}://' is not a stream visionflow reads",
                place=f"source '{_without_password(name)}'",
                hint="use rtsp://, rtmp://, http:// or https:// (or a file path)",
            )
        return _stream_source(name, identifier, **live)
    if _is_video_file(name):
        return VideoFileSource(name, identifier or name, every_nth, decoder)
    paths = image_paths(name)
    if not paths:
        why = "no images in this folder" if os.path.isdir(name) else "no file matches this"
        raise SourceError(
            f"{why} ({', '.join(sorted(IMAGE_SUFFIXES))} are read as images)",
            place=f"source '{name}'",
            hint="check the path or pattern; a video file must exist to be read",
        )
    return ImageSequenceSource(paths, identifier or name, every_nth, fps)


def names_live_source(spec: object) -> bool:
    """Whether ``open_source(spec)`` would open a camera or a stream (nothing is opened)."""
    if isinstance(spec, bool):
        return False
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdecimal()):
        return True
    return "://" in (os.fspath(spec) if isinstance(spec, os.PathLike) else str(spec))


def _is_video_file(name: str) -> bool:
    """Anything that is not a folder, an image or a glob pattern: OpenCV tells."""
    if os.path.isdir(name) or Path(name).suffix.lower() in IMAGE_SUFFIXES:
        return False
    return os.path.exists(name) or not any(char in name for char in "*?[")
