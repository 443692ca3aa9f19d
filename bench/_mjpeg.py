"""A live camera for bench/video.py: the tests' MJPEG-over-HTTP camera on 127.0.0.1
(tests/mjpeg_server.py, which remembers when it made each frame), its frames stamped with
their number so that a reader in the same process can measure the latency from the moment
a frame existed to its result.

    with stamped_camera(make_frame, fps=30) as camera:
        pipeline = workflow.stream(camera.url)
        ... camera.made_at[stamped_number(frame_pixels)] ...
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from mjpeg_server import MjpegServer  # one camera for the tests and the bench

BITS = 16  # frame numbers modulo 65536, as MjpegServer.made_at keys them
CELL = 24  # pixels per bit: JPEG keeps a flat 24x24 square black or white


def stamp(pixels: np.ndarray, number: int) -> None:
    """Writes ``number % 2**BITS`` into the top row: one black or white square per bit."""
    for bit in range(BITS):
        level = 255 if (number >> bit) & 1 else 0
        pixels[:CELL, bit * CELL : (bit + 1) * CELL] = level


def stamped_number(pixels: np.ndarray) -> int:
    """The number ``stamp`` wrote (read from each square's middle)."""
    middle = CELL // 2
    return sum(1 << bit for bit in range(BITS) if pixels[middle, bit * CELL + middle].mean() > 127)


def stamped_camera(make_frame: Callable[[int], np.ndarray], fps: float = 30.0) -> MjpegServer:
    """Serves ``make_frame(number)`` (BGR), stamped, at ``fps`` on a free 127.0.0.1 port;
    ``made_at[number % 65536]`` is when frame ``number`` was made."""

    def stamped(number: int) -> np.ndarray:
        pixels = make_frame(number)
        stamp(pixels, number)
        return pixels

    return MjpegServer(fps=fps, make_frame=stamped)
