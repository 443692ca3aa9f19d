"""The contract of a task head, shared by the model pool and the model blocks.

A head works on ONE element at a time on each side of the model call:

- ``preprocess(image) -> (tensors, context)``: one array per model input, WITHOUT the batch
  axis, plus whatever postprocess needs later (scale, padding, original size...);
- ``postprocess(outputs, context, image, options) -> prediction``: the model's outputs for
  that element (batch axis removed) -> a standard prediction: ``supervision.Detections``
  (with ``attach_image_metadata``), a classification dict, keypoint detections, text...

``check_outputs(spec, outputs)`` (a classmethod, run when a head is built) raises a
``ModelFormatError`` when the model's outputs cannot be what the declared format means; it
reads only the outputs' shapes, so it also serves where no session is started.

Between the two, the pool stacks tensors of equal shapes from many elements (and from
concurrent workflow runs) into one batch. A head whose inputs vary in shape may override
``collate`` to pad them into one batch.
"""

from __future__ import annotations

from typing import Any, ClassVar, NoReturn

import numpy as np

from visionflow.data.image import WorkflowImage
from visionflow.errors import ModelError
from visionflow.models.runtime import Session, TensorInfo
from visionflow.models.spec import ModelSpec


class TaskHead:
    kinds: ClassVar[list[str]] = ["*"]
    """The kinds of what postprocess returns (checked by the compiler downstream)."""

    def __init__(self, spec: ModelSpec, session: Session):
        self.check_outputs(spec, session.outputs)
        self.spec = spec
        self.labels = spec.labels
        self.pre = spec.preprocessing
        self.post = spec.postprocessing

    postprocessing_help: ClassVar[str] = "the settings this head takes"
    """The hint of a wrong ``postprocessing`` setting: what the head takes, with examples."""

    def _fail(self, message: str) -> NoReturn:
        """Refuse a wrong ``postprocessing`` setting of this head's model, naming it."""
        raise ModelError(
            f"model '{self.spec.id}': {message}",
            place=f"models '{self.spec.id}' field 'postprocessing'",
            hint=f"postprocessing of {self.postprocessing_help}",
        )

    @classmethod
    def check_outputs(cls, spec: ModelSpec, outputs: list[TensorInfo]) -> None:
        """Raise ``ModelFormatError`` when ``outputs`` do not fit this head (default: any do)."""

    def preprocess(self, image: WorkflowImage) -> tuple[list[np.ndarray], Any]:
        """The image through the head's ``transform`` (the ``ImageTransform`` most heads
        set up): one input tensor, and its placement for mapping results back. Heads with
        other inputs override it."""
        transform = getattr(self, "transform", None)
        if transform is None:
            raise TypeError(f"{type(self).__name__} does not implement preprocess()")
        tensor, placement = transform(image.numpy)
        return [tensor], placement

    def postprocess(
        self, outputs: list[np.ndarray], context: Any, image: WorkflowImage, options: dict
    ) -> Any:
        raise TypeError(f"{type(self).__name__} does not implement postprocess()")

    def collate(
        self, elements: list[list[np.ndarray]]
    ) -> list[tuple[list[int], list[np.ndarray]]] | None:
        """Batches for one session call each: (positions of the elements, batched inputs).

        ``elements`` holds each element's input tensors (no batch axis). Return None to let
        the pool stack elements of equal shapes (the default); override to pad inputs of
        different shapes into shared batches (e.g. text lines of different widths).
        """
        return None


def label_of(labels: list[str] | None, class_id: int) -> str:
    if labels and 0 <= class_id < len(labels):
        return labels[class_id]
    return str(class_id)


def ranked_classes(scores: np.ndarray, labels: list[str] | None) -> list[dict[str, Any]]:
    """Every class with its score, best first (a stable sort keeps ties in model order)."""
    return [
        {"class": label_of(labels, int(i)), "class_id": int(i), "confidence": float(scores[i])}
        for i in np.argsort(-scores, kind="stable")
    ]


def classification_prediction(
    scores: np.ndarray, labels: list[str] | None, image: WorkflowImage
) -> dict[str, Any]:
    """The standard single-label classification result for one image."""
    predictions = ranked_classes(scores, labels)
    top = predictions[0]
    return {
        "top": top["class"],
        "confidence": top["confidence"],
        "class_id": top["class_id"],
        "predictions": predictions,
        "parent_id": image.image_id,
    }
