"""Keep the memory of freed frames in the process, so the next frames do not fault it in.

A 640x480 frame is 0.9 MB. glibc's malloc hands such blocks out of its heap once one has
been freed (its mmap threshold rises to the block's size), but it gives the heap's free
top back to the system as soon as it passes twice that size; a batch of several frames
and their images freed at once passes it, so every frame of the next batch is faulted in
again page by page (about 320 faults, and ~0.8 ms on 2 cores, a 640x480 frame, measured
with bench/video.py on a pipeline's thread). Raising both thresholds once (at most
``KEEP_BYTES`` kept per malloc arena) removes the faults. glibc only; a process that sets
``MALLOC_TRIM_THRESHOLD_`` or ``MALLOC_MMAP_THRESHOLD_`` itself keeps its own choice.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys

_log = logging.getLogger("visionflow.streams")

KEEP_BYTES = 32 << 20  # glibc's largest mmap threshold on 64 bits; a 4K frame (25 MB) fits
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (malloc.h)
_tuned = False


def keep_freed_frames() -> None:
    """Raise malloc's trim and mmap thresholds once per process (see the module's text)."""
    global _tuned
    if _tuned:
        return
    _tuned = True
    if not sys.platform.startswith("linux") or any(
        name in os.environ for name in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")
    ):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt  # glibc's; musl has none (AttributeError)
        mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    except (OSError, AttributeError):
        return
    # mmap first: setting either one ends glibc's own adjustment of both
    if not (mallopt(_M_MMAP_THRESHOLD, KEEP_BYTES) and mallopt(_M_TRIM_THRESHOLD, KEEP_BYTES)):
        _log.debug("mallopt refused the thresholds: frames may be faulted in anew")
