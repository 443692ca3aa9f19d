"""A loaded model: its spec, its task head and the pool of sessions that serve its calls.

``Model.predict(images, options)`` is all a model block needs: pre-process each image,
let the pool run the tensors (batched across concurrent calls), post-process each result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from visionflow.data.image import WorkflowImage
from visionflow.models.heads import head_class
from visionflow.models.pool import ModelPool
from visionflow.models.providers import ProviderChoice
from visionflow.models.runtime import open_session
from visionflow.models.spec import ModelSpec


class Model:
    def __init__(self, spec: ModelSpec, path: Path):
        self.spec = spec
        self.path = path
        choice = ProviderChoice(spec.id, spec.providers)  # one for all sessions: one warning
        self.pool = ModelPool(
            spec.id,
            lambda: open_session(path, spec.runtime, spec.intra_op_threads, choice),
            spec.performance(),
        )
        self.head = head_class(spec.task, spec.format)(spec, self.pool.first_session)
        self.pool.collate = self.head.collate

    @property
    def kinds(self) -> list[str]:
        return self.head.kinds

    def predict(self, images: list[WorkflowImage], options: dict[str, Any] | None = None) -> list:
        """One prediction per image, in order."""
        options = options or {}
        prepared = [self.head.preprocess(image) for image in images]
        outputs = self.pool.infer([tensors for tensors, _ in prepared])
        return [
            self.head.postprocess(result, context, image, options)
            for result, (_, context), image in zip(outputs, prepared, images, strict=True)
        ]

    def metrics(self) -> dict:
        """This model's serving figures: batches, batch sizes, queue time, latency, failures."""
        return self.pool.metrics.snapshot()

    def close(self) -> None:
        self.pool.close()
