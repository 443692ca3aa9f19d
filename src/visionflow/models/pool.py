"""Serving a model's calls (first version: direct, one session; batching pool to follow)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from visionflow.models.runtime import Session
from visionflow.models.spec import PerformanceSettings


class ModelPool:
    def __init__(self, model_id: str, open_session: Callable[[], Session], settings: PerformanceSettings):
        self.model_id = model_id
        self.settings = settings
        self.first_session = open_session()
        self.collate = lambda elements: None

    def infer(self, elements: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
        results = []
        for tensors in elements:
            outputs = self.first_session.run([t[None] for t in tensors])
            results.append([o[0] for o in outputs])
        return results

    def close(self) -> None:
        return None
