"""Roboflow's sampling blocks (issue 12): is an embedding (of a frame, a crop) unlike the
ones before it? ``identify_changes`` follows how far each embedding is from a running
average; ``identify_outliers`` ranks it among the recent ones (von Mises-Fisher mean).

State: each step (one block instance per compiled step, as in Roboflow) keeps its history
as long as the compiled workflow lives, one history for every element it runs on (Roboflow
keeps none per video): run the same compiled workflow on each frame. Runs may be
concurrent, so the history is changed under a lock. Embeddings are lists or numpy arrays;
each is scaled to unit length first; one of another length than those before it is
refused, the history left as it was.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from typing import Any, Literal

import numpy as np

from visionflow.blocks.api import Block, Output, Selector
from visionflow.errors import RuntimeInputError

EMA = "Exponential Moving Average (EMA)"
SMA = "Simple Moving Average (SMA)"
SLIDING_WINDOW = "Sliding Window"
Fraction = Selector(["float_zero_to_one"])  # field types: a value or a selector of one
Count = Selector(["integer"])


def _unit(embedding: Any, length: int | None) -> np.ndarray:
    """The embedding scaled to unit length; refused unless it is a vector of ``length``
    numbers (that of the embeddings before it, if any), so the history stays usable."""
    try:
        vector = np.asarray(embedding, dtype=float)
    except (TypeError, ValueError):
        vector = np.empty((0, 0))
    if vector.ndim != 1 or vector.size == 0 or length not in (None, vector.size):
        expected = f"{length} numbers, as the ones before it" if length else "numbers"
        shown = "x".join(map(str, vector.shape)) if vector.size else type(embedding).__name__
        raise RuntimeInputError(
            f"an embedding is a list of {expected}, not {shown}",
            place="field 'embedding'",
            hint="give the step the embeddings of one model, one vector per element",
        )
    norm = np.linalg.norm(vector)
    return vector / norm if norm != 0 else vector


class _RunningMean:
    """A running mean and standard deviation (of vectors or of numbers) by one strategy; the
    first value starts it (deviation 0) and is not part of a sliding window, as in Roboflow.
    ``count`` is the number of values the block had seen before (Roboflow's weighting)."""

    def __init__(self, strategy: str, smoothing: float | None, window: int | None):
        self.strategy, self.smoothing = strategy, smoothing
        self.window: deque = deque(maxlen=window)
        self.mean: Any = None
        self.std: Any = None
        self._var: Any = None  # EMA's variance, SMA's sum of squared differences

    def add(self, value: Any, count: int) -> None:
        if self.mean is None:  # no spread yet, even for a NaN (Roboflow's zeros)
            self.mean, self.std, self._var = value, np.zeros_like(value), np.zeros_like(value)
        elif self.strategy == EMA:
            alpha = self.smoothing
            self.mean = (1 - alpha) * self.mean + alpha * value
            self._var = (1 - alpha) * self._var + alpha * (value - self.mean) ** 2
            self.std = np.sqrt(self._var)
        elif self.strategy == SMA:  # Welford's update, over count + 1 values
            delta = value - self.mean
            self.mean = self.mean + delta / (count + 1)
            self._var = self._var + delta * (value - self.mean)
            self.std = np.sqrt(self._var / count)
        else:
            self.window.append(value)
            self.mean = np.mean(self.window, axis=0)
            self.std = np.std(self.window, axis=0)


class IdentifyChanges(Block):
    """Whether ``embedding`` is a change: its cosine similarity to the running average of
    the embeddings before it, compared with how that similarity usually runs (``z_score``;
    ``percentile`` the normal distribution's upper tail). An outlier when ``percentile`` is
    in the outer ``threshold_percentile`` (half each side), once ``warmup`` embeddings are
    seen. ``strategy``: exponential (``smoothing_factor``), simple (all values) or sliding
    (last ``window_size``) averages. ``average`` and ``std`` are of the embeddings.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/identify_changes@v1"]
        strategy: Literal[EMA, SMA, SLIDING_WINDOW] = EMA  # type: ignore[valid-type]
        embedding: Selector(["embedding"])  # type: ignore[valid-type]
        threshold_percentile: Fraction | float = 0.2  # type: ignore[valid-type]
        warmup: Count | int = 3  # type: ignore[valid-type]
        smoothing_factor: Fraction | float | None = 0.1  # type: ignore[valid-type]
        window_size: Count | int | None = 10  # type: ignore[valid-type]

    outputs = [
        Output("is_outlier", kinds=["boolean"]),
        Output("percentile", kinds=["float_zero_to_one"]),
        Output("z_score", kinds=["float"]),
        Output("average", kinds=["embedding"]),
        Output("std", kinds=["embedding"]),
        Output("warming_up", kinds=["boolean"]),
    ]

    def __init__(self, **init_parameters: Any):
        super().__init__(**init_parameters)
        self._lock = threading.Lock()
        self._embeddings: _RunningMean | None = None
        self._similarities: _RunningMean | None = None
        self._samples = 0

    def run(
        self,
        strategy: str,
        embedding: Any,
        threshold_percentile: float,
        warmup: int,
        smoothing_factor: float | None,
        window_size: int | None,
    ) -> dict[str, Any]:
        with self._lock:
            seen = self._embeddings.mean if self._embeddings is not None else None
            vector = _unit(embedding, None if seen is None else np.size(seen))
            if self._embeddings is None:  # the step's settings are those of its first run
                self._embeddings = _RunningMean(strategy, smoothing_factor, window_size)
                self._similarities = _RunningMean(strategy, smoothing_factor, window_size)
            embeddings, similarities = self._embeddings, self._similarities
            z_score, percentile = 0.0, 0.5
            if embeddings.mean is not None:
                similarity = _cosine(vector, embeddings.mean)
                similarities.add(similarity, self._samples)
                if similarities.std != 0:  # no spread (a still scene): nothing to compare
                    z_score = float((similarity - similarities.mean) / similarities.std)
                    percentile = 1 - 0.5 * (1 + math.erf(z_score / math.sqrt(2)))
            warming_up = self._samples < warmup
            half = threshold_percentile / 2
            outlier = not warming_up and (percentile <= half or percentile >= 1 - half)
            embeddings.add(vector, self._samples)
            self._samples += 1
            return {
                "is_outlier": outlier,
                "percentile": percentile,
                "z_score": z_score,
                "average": np.asarray(embeddings.mean).tolist(),
                "std": np.asarray(embeddings.std).tolist(),
                "warming_up": warming_up,
            }


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Their cosine; NaN beside an all-zero vector, as Roboflow's (quietly: not a fault)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.dot(a, b) / np.sqrt(np.vdot(a, a) * np.vdot(b, b)))


class IdentifyOutliers(Block):
    """Whether ``embedding`` is an outlier among the last ``window_size`` embeddings (it
    included; None: all of them): their mean direction (a von Mises-Fisher fit) is taken,
    and ``percentile`` is the share of them less aligned with it than this one. An outlier
    when below ``threshold_percentile`` or above 1 - ``threshold_percentile``; until
    ``warmup`` embeddings are seen, never (``warming_up``, percentile 0.5).
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/identify_outliers@v1"]
        embedding: Selector(["embedding"])  # type: ignore[valid-type]
        threshold_percentile: Fraction | float = 0.05  # type: ignore[valid-type]
        warmup: Count | int = 3  # type: ignore[valid-type]
        window_size: Count | int | None = 32  # type: ignore[valid-type]

    outputs = [
        Output("is_outlier", kinds=["boolean"]),
        Output("percentile", kinds=["float_zero_to_one"]),
        Output("warming_up", kinds=["boolean"]),
    ]

    def __init__(self, **init_parameters: Any):
        super().__init__(**init_parameters)
        self._lock = threading.Lock()
        self._recent: deque | None = None
        self._samples = 0

    def run(
        self, embedding: Any, threshold_percentile: float, warmup: int, window_size: int | None
    ) -> dict[str, Any]:
        with self._lock:
            vector = _unit(embedding, len(self._recent[0]) if self._recent else None)
            if self._recent is None:  # the window of the step's first run
                self._recent = deque(maxlen=window_size)
            self._samples += 1
            self._recent.append(vector)
            if self._samples < warmup:
                return {"is_outlier": False, "percentile": 0.5, "warming_up": True}
            recent = np.array(self._recent)
        direction = _mean_direction(recent)
        if direction is None:  # too few, or they cancel out
            direction = vector
        # the embedding is among its recent ones, so its rank rests on ties: computed with the
        # same numpy operations as Roboflow, for the same rounding
        alignments = np.sort(np.einsum("ij,j->i", recent, direction))
        rank = np.searchsorted(alignments, np.dot(direction, vector), side="left")
        percentile = float(rank / len(alignments))
        outlier = percentile < threshold_percentile or percentile > 1 - threshold_percentile
        return {"is_outlier": outlier, "percentile": percentile, "warming_up": False}


def _mean_direction(vectors: np.ndarray) -> np.ndarray | None:
    """The von Mises-Fisher mean direction of unit vectors (None for fewer than two, or when
    they sum to zero)."""
    if len(vectors) < 2:
        return None
    total = vectors.sum(axis=0)
    length = np.linalg.norm(total)
    return total / length if length != 0 else None


BLOCKS: list[type[Block]] = [IdentifyChanges, IdentifyOutliers]
