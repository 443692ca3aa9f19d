"""Roboflow's model blocks (``roboflow_core/roboflow_*_model@v1``/``@v2``/``@v3``) on local models.

Roboflow names a hosted model by ``model_id`` ("project/version"). Here that id must be
mapped to a local model, or the step does not compile: an entry of the document's
``models:`` named by the id, ``--model ID=PATH`` on the command line (run, run-dataset,
serve), or a ``VISIONFLOW_MODELS`` description whose ``id`` is it. Nothing is downloaded.
``api_key``, ``disable_active_learning`` and ``active_learning_target_dataset`` are accepted
and unused (there is no Roboflow service to talk to). Fields whose meaning the local model
cannot honour are compile errors, never silently dropped. Roboflow's short names
``ObjectDetectionModel`` and ``ClassificationModel`` are visionflow's blocks of
``models.py``, which hand a step written with ``model_id`` to the blocks here (v1).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AliasChoices, Field

from visionflow.blocks.api import Batch, Block, BlockManifest, Output, Selector
from visionflow.blocks.core.models import IMAGE, _ModelBlock
from visionflow.errors import ModelError, ModelNotFoundError

MAP_HINT = (
    "map it to a local model in one of three ways: an entry under the document's models: "
    "named '{id}' (e.g. models: {{'{id}': {{source: model.onnx, task: {task}}}}}); "
    "--model '{id}=PATH' on the command line (visionflow run, run-dataset, serve); or a "
    "model description with id '{id}' in a VISIONFLOW_MODELS folder"
)
DEFAULT_MAX_CANDIDATES = 3000  # Roboflow's default; the local heads have no such cap


# Bounds on the literal only: a selector beside it (Roboflow's usual ``$inputs.confidence``)
# is text, which pydantic cannot compare with a number.
_UNIT = Annotated[float, Field(ge=0, le=1)]


def _parameter(kind: str) -> Any:
    """A selector of one value for the whole run: Roboflow refuses a batch in these fields."""
    return Selector(kinds=[kind], scalar_only=True)


class _Manifest(Block.Manifest):
    images: IMAGE = Field(validation_alias=AliasChoices("images", "image"))
    model_id: str
    api_key: _parameter("string") | str | None = None
    disable_active_learning: _parameter("boolean") | bool = True
    active_learning_target_dataset: _parameter("string") | str | None = None


class _DetectionManifest(_Manifest):
    confidence: _parameter("float") | _UNIT = 0.4
    iou_threshold: _parameter("float") | _UNIT = 0.3
    max_detections: _parameter("integer") | Annotated[int, Field(ge=1)] = 300
    max_candidates: int = Field(default=DEFAULT_MAX_CANDIDATES, ge=1)
    class_agnostic_nms: bool = False
    class_filter: _parameter("list") | list[str] | None = None


def _every_output(prediction_kind: str) -> list[Output]:
    """A Roboflow model block's outputs, all versions (v1 has no ``model_id``)."""
    return [
        Output("inference_id", kinds=["string"]),
        Output("predictions", kinds=[prediction_kind]),
        Output("model_id", kinds=["string"]),
    ]


class _RoboflowModel(_ModelBlock):
    """Loads the model mapped to ``model_id``; results carry ``inference_id`` (v2: ``model_id``)."""

    spec_defaults: ClassVar[dict[str, Any]] = {}
    """Spec fields a bare model file gets from the block (its task and head)."""
    prediction_kind: ClassVar[str] = "object_detection_prediction"

    def setup(self, manifest: BlockManifest) -> None:
        model_id = manifest.model_id  # a fixed text: a selector is refused by the compiler
        if not self.models.is_mapped(model_id):
            raise ModelNotFoundError(
                f"Roboflow model '{model_id}' is not mapped to a local model "
                "(visionflow never downloads models)",
                place="field 'model_id'",
                hint=MAP_HINT.format(id=model_id, task=self.spec_defaults["task"]),
            )
        self.model = self.models.get(model_id, self.spec_defaults)
        if self.model.spec.task not in self.tasks:
            raise ModelError(
                f"model '{model_id}' is a {self.model.spec.task} model; "
                f"{manifest.type} runs {' or '.join(self.tasks)} models",
                place="field 'model_id'",
            )
        self.with_model_id = manifest.type.endswith(("@v2", "@v3"))
        self.check(manifest)

    def check(self, manifest: BlockManifest) -> None:
        """Refuse fields the local model cannot honour (a compile error of the step)."""

    @classmethod
    def describe_outputs(cls, manifest: BlockManifest) -> list[Output]:
        outputs = _every_output(cls.prediction_kind)
        with_model_id = manifest.type.endswith(("@v2", "@v3"))
        return outputs if with_model_id else outputs[:2]

    def results(self, predictions: list, model_id: str) -> list[dict]:
        found = []
        for prediction in predictions:
            result = {"inference_id": str(uuid.uuid4()), "predictions": prediction}
            if self.with_model_id:
                result["model_id"] = model_id
            found.append(result)
        return found


class RoboflowObjectDetectionModel(_RoboflowModel):
    """Roboflow's object detection block, on the local model its ``model_id`` is mapped to."""

    class Manifest(_DetectionManifest):
        type: Literal[
            "roboflow_core/roboflow_object_detection_model@v2",
            "roboflow_core/roboflow_object_detection_model@v1",
            "RoboflowObjectDetectionModel",
        ]

    outputs = _every_output("object_detection_prediction")
    tasks = ("object_detection",)
    spec_defaults = {"task": "object_detection"}

    def check(self, manifest: BlockManifest) -> None:
        labels = self.model.spec.labels
        # Class-wise NMS is class-agnostic NMS when the model knows one class only.
        if manifest.class_agnostic_nms and not (labels and len(labels) == 1):
            raise ModelError(
                "class_agnostic_nms: true is not supported: the local detection heads "
                "suppress overlapping boxes per class",
                place="field 'class_agnostic_nms'",
                hint="leave it false (the default)",
            )
        if manifest.max_candidates != DEFAULT_MAX_CANDIDATES:
            raise ModelError(
                f"max_candidates {manifest.max_candidates} is not supported: the local "
                "detection heads pass every box above the confidence to NMS",
                place="field 'max_candidates'",
                hint=f"leave it out (or {DEFAULT_MAX_CANDIDATES}, Roboflow's default)",
            )

    def run(self, images: Batch, model_id: str, **fields: Any) -> list[dict]:
        options = {
            "confidence": fields["confidence"],
            "iou": fields["iou_threshold"],
            "max_detections": fields["max_detections"],
        }
        if fields.get("class_filter") is not None:
            options["class_filter"] = fields["class_filter"]
        return self.results(self.model.predict(list(images), options), model_id)


class RoboflowObjectDetectionModelV3(RoboflowObjectDetectionModel):
    """Roboflow's object detection block v3: ``confidence_mode`` in place of ``confidence``.

    ``custom`` uses ``custom_confidence``; ``default`` the local model's own threshold (its
    ``postprocessing.confidence``, else its head's default). ``best`` (Roboflow's per-class
    thresholds from its own evaluation of the model, its default) has no local counterpart:
    a compile error, or a step error when a selector gives it.
    """

    class Manifest(_Manifest):
        type: Literal["roboflow_core/roboflow_object_detection_model@v3"]
        confidence_mode: _parameter("string") | Literal["best", "default", "custom"] = "best"
        custom_confidence: _parameter("float_zero_to_one") | _UNIT = 0.4
        iou_threshold: _parameter("float") | _UNIT = 0.3
        max_detections: _parameter("integer") | Annotated[int, Field(ge=1)] = 300
        max_candidates: int = Field(default=DEFAULT_MAX_CANDIDATES, ge=1)
        class_agnostic_nms: bool = False
        class_filter: _parameter("list") | list[str] | None = None

    def check(self, manifest: BlockManifest) -> None:
        super().check(manifest)
        if manifest.confidence_mode == "best":
            raise ModelError(BEST_REFUSED, place="field 'confidence_mode'", hint=BEST_HINT)

    def run(self, images: Batch, model_id: str, **fields: Any) -> list[dict]:
        mode = fields["confidence_mode"]
        if mode not in ("default", "custom"):  # a selector's value, known only now
            raise ValueError(f"confidence_mode {mode!r}: {BEST_REFUSED}; {BEST_HINT}")
        options = {"iou": fields["iou_threshold"], "max_detections": fields["max_detections"]}
        if mode == "custom":
            options["confidence"] = fields["custom_confidence"]
        if fields.get("class_filter") is not None:
            options["class_filter"] = fields["class_filter"]
        return self.results(self.model.predict(list(images), options), model_id)


BEST_REFUSED = (
    "confidence_mode 'best' (Roboflow's default: per-class thresholds from Roboflow's "
    "evaluation of the model) has no local counterpart"
)
BEST_HINT = (
    "set confidence_mode: custom with custom_confidence (Roboflow's 0.4 by default), or "
    "confidence_mode: default for the local model's own threshold"
)


class RoboflowKeypointDetectionModel(RoboflowObjectDetectionModel):
    """Roboflow's keypoint detection block, on a local keypoint (pose) model."""

    class Manifest(_DetectionManifest):
        type: Literal[
            "roboflow_core/roboflow_keypoint_detection_model@v2",
            "roboflow_core/roboflow_keypoint_detection_model@v1",
            "RoboflowKeypointDetectionModel",
            "KeypointsDetectionModel",
        ]
        keypoint_confidence: float = Field(default=0.0, ge=0, le=1)

    outputs = _every_output("keypoint_detection_prediction")
    tasks = ("keypoints", "object_detection")
    spec_defaults = {"task": "keypoints"}
    prediction_kind = "keypoint_detection_prediction"

    def check(self, manifest: BlockManifest) -> None:
        super().check(manifest)
        if manifest.keypoint_confidence != 0:
            raise ModelError(
                "keypoint_confidence is not supported: the local keypoint heads report "
                "every keypoint with its confidence",
                place="field 'keypoint_confidence'",
                hint="leave it out (0.0, Roboflow's default) and filter afterwards",
            )


class RoboflowClassificationModel(_RoboflowModel):
    """Roboflow's single-label classification block, on a local classifier."""

    class Manifest(_Manifest):
        type: Literal[
            "roboflow_core/roboflow_classification_model@v2",
            "roboflow_core/roboflow_classification_model@v1",
            "RoboflowClassificationModel",
        ]
        confidence: _parameter("float") | _UNIT = 0.4

    outputs = _every_output("classification_prediction")
    tasks = ("classification",)
    spec_defaults = {"task": "classification"}
    prediction_kind = "classification_prediction"

    def run(self, images: Batch, model_id: str, **fields: Any) -> list[dict]:
        # Single label: the top class is reported whatever its confidence; ``confidence``
        # is kept for the multi-label head, which uses it as its threshold.
        options = {"threshold": fields["confidence"]}
        return self.results(self.model.predict(list(images), options), model_id)


class RoboflowMultiLabelClassificationModel(RoboflowClassificationModel):
    """Roboflow's multi-label classification block: classes at or above ``confidence``."""

    class Manifest(_Manifest):
        type: Literal[
            "roboflow_core/roboflow_multi_label_classification_model@v2",
            "roboflow_core/roboflow_multi_label_classification_model@v1",
            "RoboflowMultiLabelClassificationModel",
            "MultiLabelClassificationModel",
        ]
        confidence: _parameter("float") | _UNIT = 0.4

    spec_defaults = {"task": "classification", "format": "multi_label"}

    def check(self, manifest: BlockManifest) -> None:
        if self.model.spec.format != "multi_label":
            raise ModelError(
                f"model '{manifest.model_id}' is a single-label classifier (format "
                f"'{self.model.spec.format}'); {manifest.type} needs format multi_label",
                place="field 'model_id'",
                hint="use roboflow_core/roboflow_classification_model, or map the id to a "
                "model with format: multi_label",
            )
