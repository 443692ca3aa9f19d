"""Image classifiers: one class per image, or several (multi-label).

Preprocessing: the options of ``visionflow.models.heads.preprocess`` (``size``,
``color``, ``layout``, ``scale``/``mean``/``std``, ``resize``, ``interpolation``); the
defaults fit a model that takes an RGB image scaled to 0..1.

Postprocessing options (``postprocessing:``):

- ``softmax: true | false | auto`` (single label, default ``auto``): auto applies it
  unless the outputs already are probabilities (all in 0..1 and summing to 1).
- ``sigmoid: true | false | auto`` (multi-label, default ``auto``): auto applies it when
  some output lies outside 0..1 (logits).
- ``threshold`` (multi-label, default 0.5): classes at or above it are predicted; a
  step may override it per call with the ``threshold`` option.

A single-label prediction::

    {"top": "cat", "confidence": 0.9, "class_id": 1, "parent_id": "image-3",
     "predictions": [{"class": "cat", "class_id": 1, "confidence": 0.9}, ...]}

A multi-label prediction holds ``predicted_classes`` (names, most confident first),
``predictions`` and ``parent_id``. Class names come from the spec's ``labels``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from visionflow.data.image import WorkflowImage
from visionflow.errors import ModelError
from visionflow.models.heads.base import (
    TaskHead,
    classification_prediction,
    ranked_classes,
)
from visionflow.models.heads.preprocess import ImageTransform
from visionflow.models.runtime import Session
from visionflow.models.spec import ModelSpec


class ClassificationHead(TaskHead):
    kinds: ClassVar[list[str]] = ["classification_prediction"]
    _activation: ClassVar[str] = "softmax"  # the postprocessing option that turns it on

    def __init__(self, spec: ModelSpec, session: Session):
        super().__init__(spec, session)
        self.transform = ImageTransform.for_input(session.inputs[0], self.pre)
        self.activation = _true_false_auto(self.post, self._activation)

    def preprocess(self, image: WorkflowImage) -> tuple[list[np.ndarray], Any]:
        tensor, _ = self.transform(image.numpy)
        return [tensor], None

    def postprocess(
        self, outputs: list[np.ndarray], context: Any, image: WorkflowImage, options: dict
    ) -> dict[str, Any]:
        scores = self._scores(np.asarray(outputs[0], dtype=np.float64).reshape(-1))
        return classification_prediction(scores, self.labels, image)

    def _scores(self, values: np.ndarray) -> np.ndarray:
        is_probability = values.min() >= 0 and values.max() <= 1 and abs(values.sum() - 1) < 1e-3
        if self.activation is True or (self.activation == "auto" and not is_probability):
            shifted = np.exp(values - values.max())  # minus the max: no overflow
            return shifted / shifted.sum()
        return values


class MultiLabelClassificationHead(ClassificationHead):
    _activation = "sigmoid"

    def postprocess(
        self, outputs: list[np.ndarray], context: Any, image: WorkflowImage, options: dict
    ) -> dict[str, Any]:
        scores = self._scores(np.asarray(outputs[0], dtype=np.float64).reshape(-1))
        threshold = float(options.get("threshold", self.post.get("threshold", 0.5)))
        predictions = ranked_classes(scores, self.labels)
        return {
            "predicted_classes": [p["class"] for p in predictions if p["confidence"] >= threshold],
            "predictions": predictions,
            "parent_id": image.image_id,
        }

    def _scores(self, values: np.ndarray) -> np.ndarray:
        is_probability = values.min() >= 0 and values.max() <= 1
        if self.activation is True or (self.activation == "auto" and not is_probability):
            return 0.5 * (1 + np.tanh(values / 2))  # the sigmoid, without exp overflow
        return values


def _true_false_auto(options: dict[str, Any], name: str) -> bool | str:
    value = options.get(name, "auto")
    if value != "auto" and not isinstance(value, bool):
        raise ModelError(f"postprocessing '{name}' is {value!r}", hint="use true, false or auto")
    return value
