"""A live camera for tests: MJPEG over HTTP (multipart/x-mixed-replace) on 127.0.0.1.

Like a real camera it makes frames at its own rate whether or not anyone watches, and each
client gets the newest frame when it is ready for one. ``drop_connections()`` cuts every
client off and, with ``down=True``, answers new ones with 503 until ``come_back()``: a
stream that is lost and returns.

    with MjpegServer(fps=50) as server:
        capture = cv2.VideoCapture(server.url)
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

BOUNDARY = "visionflowframe"


def numbered_frame(index: int, width: int = 160, height: int = 120) -> np.ndarray:
    """A BGR frame that says ``index % 4096``: three flat bands down its left half, each a
    base-16 digit at level 16 * digit + 8 (JPEG keeps a flat area's level within a few
    steps), with a white square moving to the right."""
    frame = np.zeros((height, width, 3), np.uint8)
    band = height // 3
    for place in range(3):
        digit = (index >> (4 * (2 - place))) & 15
        frame[place * band : (place + 1) * band, : width // 2] = 16 * digit + 8
    x = width // 2 + (index * 3) % (width // 2 - 20)
    cv2.rectangle(frame, (x, 40), (x + 16, 56), (255, 255, 255), -1)
    return frame


def frame_index_of(pixels: np.ndarray) -> int:
    """The ``index % 4096`` a frame made by ``numbered_frame`` says."""
    height, width = pixels.shape[:2]
    band, index = height // 3, 0
    for place in range(3):
        # the band's middle: its edges blur into the next band
        level = float(pixels[place * band + 4 : (place + 1) * band - 4, 4 : width // 2 - 4].mean())
        index = index * 16 + min(15, max(0, round((level - 8) / 16)))
    return index


class MjpegServer:
    """Serves ``make_frame(index)`` at ``fps`` frames a second on a free 127.0.0.1 port."""

    def __init__(self, fps: float = 30.0, make_frame: Callable[[int], np.ndarray] = numbered_frame):
        self.fps = fps
        self.make_frame = make_frame
        self.frames_made = 0
        self.made_at: dict[int, float] = {}  # frame index % 65536 -> when it was made
        self.connections_served = 0
        self._jpeg: bytes | None = None
        self._changed = threading.Condition()
        self._clients: set[socket.socket] = set()
        self._down = False
        self._stopped = threading.Event()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._http.daemon_threads = True
        self.port = self._http.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/stream.mjpg"
        self._threads = [
            threading.Thread(target=self._produce, name="mjpeg-frames", daemon=True),
            threading.Thread(target=self._http.serve_forever, name="mjpeg-http", daemon=True),
        ]

    def __enter__(self) -> MjpegServer:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopped.set()
        self.drop_connections()
        self._http.shutdown()
        self._http.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def drop_connections(self, *, down: bool = False) -> None:
        """Cut every client off now; with ``down``, refuse new ones until ``come_back()``."""
        with self._changed:
            self._down = down
            clients = list(self._clients)
            self._changed.notify_all()
        for client in clients:
            with contextlib.suppress(OSError):  # already closed by its client
                client.shutdown(socket.SHUT_RDWR)

    def come_back(self) -> None:
        with self._changed:
            self._down = False

    def _produce(self) -> None:
        start = time.monotonic()
        while not self._stopped.is_set():
            pixels = self.make_frame(self.frames_made)
            made = time.monotonic()  # the camera's shutter: a frame's latency starts here
            _ok, jpeg = cv2.imencode(".jpg", pixels)
            with self._changed:
                self.made_at[self.frames_made % 65536] = made
                self._jpeg = jpeg.tobytes()
                self.frames_made += 1
                self._changed.notify_all()
            # on the clock, not after each frame, so the rate holds whatever encoding takes
            self._stopped.wait(max(0.0, start + self.frames_made / self.fps - time.monotonic()))

    def _next_frame(self, last: int) -> tuple[int, bytes] | None:
        """The newest frame made after frame ``last``; None once this client is cut off."""
        with self._changed:
            while self.frames_made <= last and not self._stopped.is_set():
                self._changed.wait(0.5)
            if self._stopped.is_set() or self._down or self._jpeg is None:
                return None
            return self.frames_made, self._jpeg

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server._changed:
                    down = server._down
                    if not down:
                        server._clients.add(self.connection)
                        server.connections_served += 1
                if down:
                    self.send_error(503, "camera down")
                    return
                try:
                    self._stream()
                except OSError:
                    pass  # the client left or the connection was cut
                finally:
                    with server._changed:
                        server._clients.discard(self.connection)

            def _stream(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace;boundary={BOUNDARY}")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                last = max(server.frames_made - 1, 0)  # from the newest (or first) frame
                while (frame := server._next_frame(last)) is not None:
                    last, jpeg = frame
                    head = (
                        f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                        f"Content-Length: {len(jpeg)}\r\n\r\n"
                    )
                    self.wfile.write(head.encode() + jpeg + b"\r\n")
                    self.wfile.flush()

            def log_message(self, *args) -> None:
                pass  # quiet in tests

        return Handler
