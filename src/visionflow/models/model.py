"""A loaded model: its spec, its task head and the pool of sessions that serve its calls.

``Model.predict(images, options)`` is all a model block needs: pre-process each image,
let the pool run the tensors (batched across concurrent calls), post-process each result.

``CheckedModel`` is the same model checked without loading (validation): its head built on
what the file declares (``model_files.outline``), so a wrong format is the same error, and
no session started; it loads the real model on its first ``predict``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from visionflow.data.image import WorkflowImage
from visionflow.models.heads import head_class
from visionflow.models.spec import ModelSpec


class Model:
    def __init__(self, spec: ModelSpec, path: Path):
        from visionflow.models.pool import ModelPool  # threads and runtimes: only to load
        from visionflow.models.providers import ProviderChoice
        from visionflow.models.runtime import open_session

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


class CheckedModel:
    """A model whose file, task, format and outputs are checked, with no session started.

    ``load`` gives the real ``Model`` (the library's, shared by spec); it is called on the
    first ``predict``, so a workflow compiled for validation still runs if asked to.
    """

    def __init__(self, spec: ModelSpec, path: Path, load: Callable[[], Model]):
        from visionflow.models.model_files import outline

        self.spec = spec
        self.path = path
        self.head = head_class(spec.task, spec.format)(spec, outline(path, spec.runtime))
        self._load = load
        self._model: Model | None = None
        self._loading = threading.Lock()

    @property
    def kinds(self) -> list[str]:
        return self.head.kinds

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def model(self) -> Model:
        with self._loading:
            if self._model is None:
                self._model = self._load()
            return self._model

    def predict(self, images: list[WorkflowImage], options: dict[str, Any] | None = None) -> list:
        return self.model().predict(images, options)

    def metrics(self) -> dict:
        return self.model().metrics() if self._model is not None else {}
