"""Per-model serving metrics: queue time, batch sizes, latency, failures."""

from __future__ import annotations

import threading
from collections import Counter, deque

import numpy as np

_RECENT = 2048  # samples kept for percentiles


class ModelMetrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.batches = 0
        self.elements = 0
        self.failures = 0
        self.timeouts = 0
        self.overloads = 0
        self.stopped_runs = 0  # session runs stopped (or left to finish) past their deadline
        self.batch_sizes: Counter[int] = Counter()
        self._queue_seconds: deque[float] = deque(maxlen=_RECENT)
        self._latency_seconds: deque[float] = deque(maxlen=_RECENT)

    def record_batch(self, size: int, queue_seconds: list[float]) -> None:
        with self._lock:
            self.batches += 1
            self.elements += size
            self.batch_sizes[size] += 1
            self._queue_seconds.extend(queue_seconds)

    def record_latency(self, seconds: float) -> None:
        with self._lock:
            self._latency_seconds.append(seconds)

    def record_failure(self) -> None:
        with self._lock:
            self.failures += 1

    def record_timeout(self) -> None:
        with self._lock:
            self.timeouts += 1

    def record_overload(self) -> None:
        with self._lock:
            self.overloads += 1

    def record_stopped(self) -> None:
        with self._lock:
            self.stopped_runs += 1

    def snapshot(self) -> dict:
        """JSON-ready figures: counts, batch-size histogram, queue and latency percentiles (ms)."""
        with self._lock:
            return {
                "batches": self.batches,
                "elements": self.elements,
                "failures": self.failures,
                "timeouts": self.timeouts,
                "overloads": self.overloads,
                "stopped_runs": self.stopped_runs,
                "batch_sizes": dict(sorted(self.batch_sizes.items())),
                "mean_batch_size": self.elements / self.batches if self.batches else 0.0,
                "queue_ms": _percentiles(self._queue_seconds),
                "latency_ms": _percentiles(self._latency_seconds),
            }


def _percentiles(samples) -> dict[str, float]:
    if not samples:
        return {"p50": 0.0, "p95": 0.0, "max": 0.0}
    values = np.asarray(samples) * 1000
    p50, p95 = np.percentile(values, [50, 95])
    return {"p50": float(p50), "p95": float(p95), "max": float(values.max())}
