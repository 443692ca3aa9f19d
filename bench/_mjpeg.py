"""A live camera for bench/video.py: MJPEG over HTTP on 127.0.0.1, frames stamped.

It makes frames at its own rate whether or not anyone watches (as a camera does), writes
each frame's number into its pixels (``stamp`` / ``stamped_number``) and remembers when it
made it (``made_at``, ``time.monotonic()``), so a reader in the same process can measure
the latency from the moment a frame existed to its result.

    with Camera(fps=30) as camera:
        pipeline = workflow.stream(camera.url)
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

BOUNDARY = "benchframe"
BITS = 16  # frame numbers modulo 65536
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


class Camera:
    """Serves ``make_frame(number)`` (BGR), stamped, at ``fps`` on a free 127.0.0.1 port;
    ``made_at[number]`` is when frame ``number`` was made."""

    def __init__(self, make_frame: Callable[[int], np.ndarray], fps: float = 30.0):
        self.make_frame = make_frame
        self.fps = fps
        self.made_at: dict[int, float] = {}
        self._jpeg: tuple[int, bytes] | None = None
        self._changed = threading.Condition()
        self._stopped = threading.Event()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}/stream.mjpg"
        self._threads = [
            threading.Thread(target=self._produce, name="bench-camera", daemon=True),
            threading.Thread(target=self._http.serve_forever, name="bench-http", daemon=True),
        ]

    def __enter__(self) -> Camera:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        with self._changed:
            self._changed.notify_all()
        self._http.shutdown()
        self._http.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _produce(self) -> None:
        start, number = time.monotonic(), 0
        while not self._stopped.is_set():
            pixels = self.make_frame(number)
            stamp(pixels, number)
            made = time.monotonic()  # the camera's shutter: latency starts here
            _ok, jpeg = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, 90])
            with self._changed:
                self.made_at[number % (1 << BITS)] = made
                self._jpeg = (number, jpeg.tobytes())
                self._changed.notify_all()
            number += 1
            # on the clock, so the rate holds whatever a frame takes to make
            self._stopped.wait(max(0.0, start + number / self.fps - time.monotonic()))

    def _next(self, last: int) -> tuple[int, bytes] | None:
        """The newest frame after ``last``; None once the camera is stopped."""
        with self._changed:
            while not self._stopped.is_set() and (self._jpeg is None or self._jpeg[0] <= last):
                self._changed.wait(0.5)
            return None if self._stopped.is_set() else self._jpeg

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace;boundary={BOUNDARY}")
                self.end_headers()
                last = -1
                with contextlib.suppress(OSError):  # the reader left
                    while (frame := camera._next(last)) is not None:
                        last, jpeg = frame
                        head = (
                            f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                            f"Content-Length: {len(jpeg)}\r\n\r\n"
                        )
                        self.wfile.write(head.encode() + jpeg + b"\r\n")
                        self.wfile.flush()

            def log_message(self, *args: object) -> None:
                pass

        return Handler
