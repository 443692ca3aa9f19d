"""A video file read with PyAV: the second decoder of ``VideoFileSource``.

``PyAVReader`` answers what ``VideoFileSource`` asks of ``cv2.VideoCapture`` (``grab``,
``read``, ``release``) so the source reads either the same way. PyAV is optional (the
``video`` extra): ``import visionflow`` never imports this module, and ``available()``
says whether it can be used.
"""

from __future__ import annotations

import importlib.util
import logging
import os

import numpy as np

_log = logging.getLogger("visionflow.streams")

INSTALL = "pip install 'visionflow[video]'"


def available() -> bool:
    """Whether PyAV is installed (found without importing it)."""
    try:
        return importlib.util.find_spec("av") is not None
    except ValueError:  # sys.modules["av"] is None: its import is barred
        return False


class PyAVReader:
    """The frames of a file's first video stream, decoded by PyAV's FFmpeg, as BGR uint8.

    ``fps``: the stream's declared average rate (None if it declares none);
    ``frame_count``: the frames its header declares (None if it does not say); ``threads``:
    the decoder's threads (default: FFmpeg's choice).
    Raises ``ValueError`` when PyAV cannot open the file or it has no video stream.
    """

    def __init__(self, path: str, threads: int | None = None):
        import av

        try:
            # an absolute path: FFmpeg takes a relative 'rec-1:30.mp4' for a protocol 'rec-1'
            self._container = av.open(os.path.abspath(path))
        except (av.FFmpegError, UnicodeDecodeError) as error:
            raise ValueError(str(error)) from error
        if not self._container.streams.video:
            self._container.close()
            raise ValueError("the file has no video stream")
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"  # frame and slice threads: decoding is the cost here
        if threads is not None:  # the caller's choice (1: decoded in the reading thread)
            stream.thread_count = threads
        rate = stream.average_rate or stream.guessed_rate
        self.fps = float(rate) if rate and rate > 0 else None
        self.frame_count = stream.frames or None
        self._frames = self._container.decode(stream)
        self._errors = av.FFmpegError
        self._path = path

    def _next(self):
        try:
            return next(self._frames, None)
        except self._errors as error:  # a damaged packet ends the file, as with OpenCV
            _log.warning("PyAV stopped reading '%s': %s", self._path, error)
            return None

    def grab(self) -> bool:
        """Decode the next frame without converting it (a skipped frame)."""
        return self._next() is not None

    def read(self) -> tuple[bool, np.ndarray | None]:
        frame = self._next()
        if frame is None:
            return False, None
        return True, frame.to_ndarray(format="bgr24")

    def release(self) -> None:
        self._container.close()
