"""The raw head: an image in, the model's output tensors out, untouched.

For models without a task head yet: ``{"outputs": {output_name: array}}`` (batch axis
removed). Preprocessing takes the options of ``visionflow.models.heads.preprocess``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from visionflow.data.image import WorkflowImage
from visionflow.models.heads.base import TaskHead
from visionflow.models.heads.preprocess import ImageTransform
from visionflow.models.runtime import Session
from visionflow.models.spec import ModelSpec


class RawHead(TaskHead):
    kinds: ClassVar[list[str]] = ["dict"]

    def __init__(self, spec: ModelSpec, session: Session):
        super().__init__(spec, session)
        self.transform = ImageTransform.for_input(session.inputs[0], self.pre)
        self.output_names = [output.name for output in session.outputs]

    def preprocess(self, image: WorkflowImage) -> tuple[list[np.ndarray], Any]:
        tensor, _ = self.transform(image.numpy)
        return [tensor], None

    def postprocess(
        self, outputs: list[np.ndarray], context: Any, image: WorkflowImage, options: dict
    ) -> dict[str, Any]:
        return {"outputs": dict(zip(self.output_names, outputs, strict=True))}
