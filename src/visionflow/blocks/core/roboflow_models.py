"""Roboflow's model blocks (``roboflow_core/roboflow_*_model@v1``/``@v2``/``@v3``) on local models.

Roboflow names a hosted model by ``model_id`` ("project/version"). Here that id must be
mapped to a local model: an entry of the document's ``models:`` named by the id, ``--model
ID=PATH`` on the command line (run, run-dataset, serve), or a ``VISIONFLOW_MODELS``
description whose ``id`` is it. Nothing is downloaded. A ``model_id`` written in the
document is loaded when the workflow compiles (unmapped: a compile error); one given by a
selector (``$inputs.model_id``, as Roboflow's documents do) is looked up when a run gives
it, loaded once per id and kept by the step (unmapped: that run fails, naming the id).
``api_key``, ``disable_active_learning`` and ``active_learning_target_dataset`` are accepted
and unused (there is no Roboflow service to talk to). Fields whose meaning the local model
cannot honour are compile errors, never silently dropped; thresholds given by selectors are
checked when the run gives them. Roboflow's short names ``ObjectDetectionModel`` and
``ClassificationModel`` are visionflow's blocks of ``models.py``, which hand a step written
with ``model_id`` to the blocks here (v1).
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AliasChoices, Field

from visionflow.blocks.api import Batch, Block, BlockManifest, Output, Selector
from visionflow.blocks.core.models import IMAGE, _ModelBlock
from visionflow.errors import ManifestError, ModelError, ModelNotFoundError, RuntimeInputError
from visionflow.kinds import shown_value, value_fits
from visionflow.selectors import looks_like_selector, parse_selector

MAP_HINT = (
    "map it to a local model in one of three ways: an entry under the document's models: "
    "named '{id}' (e.g. models: {{'{id}': {{source: model.onnx, task: {task}}}}}); "
    "--model '{id}=PATH' on the command line (visionflow run, validate, graph, run-dataset, "
    "run-video, serve); or a "
    "model description with id '{id}' in a VISIONFLOW_MODELS folder"
)
DEFAULT_MAX_CANDIDATES = 3000  # Roboflow's default; the local heads have no such cap


# Bounds on the literal only: a selector beside it (Roboflow's usual ``$inputs.confidence``)
# is text, which pydantic cannot compare with a number; ``check_run_values`` checks its value.
UNIT_INTERVAL = Annotated[float, Field(ge=0, le=1)]
_POSITIVE = Annotated[int, Field(ge=1)]


def parameter_selector(*kinds: str) -> Any:
    """A selector of one value for the whole run: Roboflow refuses a batch in these fields."""
    return Selector(kinds=list(kinds), scalar_only=True)


class _Manifest(Block.Manifest):
    images: IMAGE = Field(validation_alias=AliasChoices("images", "image"))
    model_id: parameter_selector("roboflow_model_id", "string") | str
    api_key: parameter_selector("string") | str | None = None
    disable_active_learning: parameter_selector("boolean") | bool = True
    active_learning_target_dataset: parameter_selector("string") | str | None = None


class DetectionManifest(_Manifest):
    confidence: parameter_selector("float") | UNIT_INTERVAL = 0.4
    iou_threshold: parameter_selector("float") | UNIT_INTERVAL = 0.3
    max_detections: parameter_selector("integer") | Annotated[int, Field(ge=1)] = 300
    max_candidates: parameter_selector("integer") | _POSITIVE = DEFAULT_MAX_CANDIDATES
    class_agnostic_nms: parameter_selector("boolean") | bool = False
    class_filter: parameter_selector("list") | list[str] | None = None


def every_output(prediction_kind: str) -> list[Output]:
    """A Roboflow model block's outputs, all versions (v1 has no ``model_id``)."""
    return [
        Output("inference_id", kinds=["string"]),
        Output("predictions", kinds=[prediction_kind]),
        Output("model_id", kinds=["string"]),
    ]


def _is_unit(value: Any) -> bool:
    return value_fits(frozenset({"float_zero_to_one"}), value)


def _is_whole(value: Any, least: int) -> bool:
    """An integer, or a float that is one (JSON from JavaScript writes 2 as 2.0)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value_fits(frozenset({"integer"}), value) and value >= least


# What a field given by a selector must hold when the run gives it (a literal is checked
# when the document is read). None is "not given": the model's own setting, as in Roboflow.
_RUN_VALUES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "confidence": ("a number from 0 to 1", _is_unit),
    "custom_confidence": ("a number from 0 to 1", _is_unit),
    "iou_threshold": ("a number from 0 to 1", _is_unit),
    "max_detections": ("a whole number of at least 1", lambda value: _is_whole(value, 1)),
    "class_filter": (
        "a list of class names",
        lambda value: isinstance(value, list | tuple) and all(isinstance(n, str) for n in value),
    ),
}


def check_run_values(fields: dict[str, Any]) -> None:
    """Refuse a run value out of its field's range (e.g. ``confidence`` 1.5 from an input)."""
    for name, (expected, fits) in _RUN_VALUES.items():
        value = fields.get(name)
        if value is not None and not fits(value):
            raise RuntimeInputError(
                f"{name} is {shown_value(value)}; it must be {expected}",
                place=f"field '{name}'",
                hint=f"give {name} {expected} when running the workflow",
            )


def has_model_id_output(type_name: str) -> bool:
    """Roboflow's model blocks from v2 on also output ``model_id`` (v1 and its short
    aliases do not)."""
    version = re.search(r"@v(\d+)$", type_name)
    return version is not None and int(version.group(1)) >= 2


class _RoboflowModel(_ModelBlock):
    """Loads the model mapped to ``model_id``; results carry ``inference_id`` (v2: ``model_id``).

    A literal ``model_id`` is loaded in ``setup`` (a compile error when unmapped); one given
    by a selector when a run first gives that id, then kept: runs may be concurrent, so
    loading holds a lock.
    """

    spec_defaults: ClassVar[dict[str, Any]] = {}
    """Spec fields a bare model file gets from the block (its task and head)."""
    prediction_kind: ClassVar[str] = "object_detection_prediction"

    def setup(self, manifest: BlockManifest) -> None:
        self.manifest = manifest  # check_model reads the step's fields (a model may load later)
        self.type_name = manifest.type  # as the step writes it, for messages
        self.with_model_id = has_model_id_output(manifest.type)
        self.selected_by = manifest.model_id if looks_like_selector(manifest.model_id) else None
        self.loaded: dict[str, Any] = {}  # model id -> Model
        self.loading = threading.Lock()
        self.check(manifest)
        if self.selected_by is None:
            self.model = self.model_for(manifest.model_id)
            return
        # A parameter's default is written in the document like a literal id: its model
        # loads now, and an unmapped default is a compile error (a run may still give another).
        selector = parse_selector(self.selected_by)
        if selector.source == "inputs":
            default = self.models.parameter_defaults.get(selector.name)
            if default is not None:
                self.model_for(default, f"the default_value of {self.selected_by}")

    def model_for(self, model_id: Any, source: str | None = None) -> Any:
        """The model mapped to ``model_id``, loaded on its first use by this step.

        ``source`` says where an id that is not written in the step comes from, for errors.
        """
        source = source or (self.selected_by and f"given by {self.selected_by}")
        if not isinstance(model_id, str):  # a parameter's value: None, a number, ...
            raise RuntimeInputError(
                f"model_id is {shown_value(model_id)}{f' ({source})' if source else ''}; "
                "it must be a model id (a text)",
                place="field 'model_id'",
                hint="give the id of a mapped model, e.g. model_id='my-project/3'",
            )
        model = self.loaded.get(model_id)
        if model is None:
            with self.loading:  # one load per id, even when concurrent runs ask at once
                model = self.loaded.get(model_id) or self.load(model_id, source)
                self.loaded[model_id] = model
        return model

    def load(self, model_id: str, source: str | None) -> Any:
        if not self.models.is_mapped(model_id):
            raise self.not_mapped(model_id, source)
        model = self.models.get(model_id, self.spec_defaults)
        if model.spec.task not in self.tasks:
            raise ModelError(
                f"model '{model_id}'{f' ({source})' if source else ''} is a "
                f"{model.spec.task} model; {self.type_name} runs {' or '.join(self.tasks)} models",
                place="field 'model_id'",
            )
        self.check_model(model, model_id)
        return model

    def not_mapped(self, model_id: str, source: str | None) -> ModelNotFoundError:
        return ModelNotFoundError(
            f"Roboflow model {shown_value(model_id)}{f' ({source})' if source else ''} is not "
            "mapped to a local model (visionflow never downloads models)",
            place="field 'model_id'",
            hint=MAP_HINT.format(id=model_id, task=self.spec_defaults["task"]),
        )

    def check(self, manifest: BlockManifest) -> None:
        """Refuse fields no local model can honour (a compile error of the step)."""

    def check_model(self, model: Any, model_id: str) -> None:
        """Refuse a model the step's fields cannot run on (at compile time for a literal id)."""

    @classmethod
    def describe_outputs(cls, manifest: BlockManifest) -> list[Output]:
        outputs = every_output(cls.prediction_kind)
        with_model_id = has_model_id_output(manifest.type)
        return outputs if with_model_id else outputs[:2]

    def predict(self, images: Batch, model_id: str, options: dict[str, Any]) -> list[dict]:
        """The model's predictions as the block's results; options left None are the model's."""
        given = {name: value for name, value in options.items() if value is not None}
        predictions = self.model_for(model_id).predict(list(images), given)
        found = []
        for prediction in predictions:
            result = {"inference_id": str(uuid.uuid4()), "predictions": prediction}
            if self.with_model_id:
                result["model_id"] = model_id
            found.append(result)
        return found


class RoboflowObjectDetectionModel(_RoboflowModel):
    """Roboflow's object detection block, on the local model its ``model_id`` is mapped to."""

    class Manifest(DetectionManifest):
        type: Literal[
            "roboflow_core/roboflow_object_detection_model@v2",
            "roboflow_core/roboflow_object_detection_model@v1",
            "RoboflowObjectDetectionModel",
        ]

    outputs = every_output("object_detection_prediction")
    tasks = ("object_detection",)
    spec_defaults = {"task": "object_detection"}

    def check(self, manifest: BlockManifest) -> None:
        self.check_candidates(manifest.max_candidates)  # a selector's value comes with run

    @staticmethod
    def check_candidates(value: Any) -> None:
        if value is None or looks_like_selector(value) or value == DEFAULT_MAX_CANDIDATES:
            return
        raise ModelError(
            f"max_candidates {shown_value(value)} is not supported: the local "
            "detection heads pass every box above the confidence to NMS",
            place="field 'max_candidates'",
            hint=f"leave it out (or {DEFAULT_MAX_CANDIDATES}, Roboflow's default)",
        )

    def check_model(self, model: Any, model_id: str) -> None:
        self.check_agnostic(self.manifest.class_agnostic_nms, model, model_id)

    @staticmethod
    def check_agnostic(value: Any, model: Any, model_id: str) -> None:
        """``class_agnostic_nms`` true (any true value but a selector's text: a run may give
        1) on a model of several classes."""
        labels = model.spec.labels
        asked = bool(value) and not looks_like_selector(value)
        # Class-wise NMS is class-agnostic NMS when the model knows one class only.
        if asked and not (labels and len(labels) == 1):
            raise ModelError(
                "class_agnostic_nms: true is not supported: the local detection heads "
                f"suppress overlapping boxes per class (model '{model_id}')",
                place="field 'class_agnostic_nms'",
                hint="leave it false (the default)",
            )

    def check_run_fields(self, model_id: str, fields: dict[str, Any]) -> None:
        """The run's values of the fields a local head cannot honour (given by selectors)."""
        check_run_values(fields)
        self.check_candidates(fields.get("max_candidates"))
        self.check_agnostic(fields.get("class_agnostic_nms"), self.model_for(model_id), model_id)

    def run(self, images: Batch, model_id: str, **fields: Any) -> list[dict]:
        self.check_run_fields(model_id, fields)
        return self.detect(images, model_id, fields["confidence"], fields)

    def detect(
        self, images: Batch, model_id: str, confidence: float | None, fields: dict[str, Any]
    ) -> list[dict]:
        """Detections at ``confidence`` (None: the model's own threshold)."""
        options = {
            "confidence": confidence,
            "iou": fields["iou_threshold"],
            "max_detections": fields["max_detections"],
            "class_filter": fields.get("class_filter"),
        }
        return self.predict(images, model_id, options)


CONFIDENCE_MODES = ("best", "default", "custom")
CUSTOM_NEEDS_CONFIDENCE = "custom_confidence is required when confidence_mode is 'custom'"


class _ConfidenceModeFields(BlockManifest):
    """``confidence_mode`` and ``custom_confidence``: Roboflow's newest model versions."""

    confidence_mode: parameter_selector("string") | Literal[CONFIDENCE_MODES] = "best"
    custom_confidence: parameter_selector("float_zero_to_one") | UNIT_INTERVAL | None = 0.4


class _ConfidenceMode:
    """``confidence_mode`` in place of ``confidence`` (Roboflow's newest versions).

    ``custom`` uses ``custom_confidence``. ``default`` is the model's own threshold: a local
    model's ``postprocessing.confidence``, else its head's default. ``best`` (the default) is,
    in Roboflow, the per-class thresholds of Roboflow's evaluation of the model, and when the
    model has none, the model's default threshold; a local model has no such evaluation, so
    ``best`` is ``default``.
    """

    def check(self, manifest: BlockManifest) -> None:
        super().check(manifest)  # type: ignore[misc]
        if manifest.confidence_mode == "custom" and manifest.custom_confidence is None:
            raise ManifestError(
                CUSTOM_NEEDS_CONFIDENCE,
                place="field 'custom_confidence'",
                hint="give custom_confidence a number from 0 to 1 (Roboflow's default: 0.4)",
            )

    @staticmethod
    def mode_confidence(fields: dict[str, Any]) -> float | None:
        """The run's threshold: ``custom_confidence`` in custom mode, else None (the
        model's own)."""
        mode = fields["confidence_mode"]
        if mode not in CONFIDENCE_MODES:  # a selector's value, known only now
            raise RuntimeInputError(
                f"confidence_mode is {shown_value(mode)}; it must be one of "
                f"{', '.join(CONFIDENCE_MODES)}",
                place="field 'confidence_mode'",
                hint="'custom' uses custom_confidence; 'best' and 'default' the model's own "
                "threshold",
            )
        confidence = fields["custom_confidence"] if mode == "custom" else None
        if mode == "custom" and confidence is None:  # a selector's None
            raise RuntimeInputError(
                CUSTOM_NEEDS_CONFIDENCE,
                place="field 'custom_confidence'",
                hint="give custom_confidence a number from 0 to 1, or another confidence_mode",
            )
        return confidence


class RoboflowObjectDetectionModelV3(_ConfidenceMode, RoboflowObjectDetectionModel):
    """Roboflow's object detection block v3: ``confidence_mode`` in place of ``confidence``
    (``best`` and ``default``: the model's own threshold, see ``_ConfidenceMode``)."""

    class Manifest(_ConfidenceModeFields, _Manifest):
        type: Literal["roboflow_core/roboflow_object_detection_model@v3"]
        iou_threshold: parameter_selector("float") | UNIT_INTERVAL = 0.3
        max_detections: parameter_selector("integer") | Annotated[int, Field(ge=1)] = 300
        max_candidates: parameter_selector("integer") | _POSITIVE = DEFAULT_MAX_CANDIDATES
        class_agnostic_nms: parameter_selector("boolean") | bool = False
        class_filter: parameter_selector("list") | list[str] | None = None

    def run(self, images: Batch, model_id: str, **fields: Any) -> list[dict]:
        self.check_run_fields(model_id, fields)
        return self.detect(images, model_id, self.mode_confidence(fields), fields)


class RoboflowKeypointDetectionModel(RoboflowObjectDetectionModel):
    """Roboflow's keypoint detection block, on a local keypoint (pose) model."""

    class Manifest(DetectionManifest):
        type: Literal[
            "roboflow_core/roboflow_keypoint_detection_model@v2",
            "roboflow_core/roboflow_keypoint_detection_model@v1",
            "RoboflowKeypointDetectionModel",
            "KeypointsDetectionModel",
        ]
        keypoint_confidence: parameter_selector("float_zero_to_one") | UNIT_INTERVAL = 0.0

    outputs = every_output("keypoint_detection_prediction")
    tasks = ("keypoints", "object_detection")
    spec_defaults = {"task": "keypoints"}
    prediction_kind = "keypoint_detection_prediction"

    def check(self, manifest: BlockManifest) -> None:
        super().check(manifest)
        self.check_keypoint_confidence(manifest.keypoint_confidence)

    @staticmethod
    def check_keypoint_confidence(value: Any) -> None:
        if value is None or looks_like_selector(value) or value == 0:
            return
        raise ModelError(
            "keypoint_confidence is not supported: the local keypoint heads report "
            "every keypoint with its confidence",
            place="field 'keypoint_confidence'",
            hint="leave it out (0.0, Roboflow's default) and filter afterwards",
        )

    def check_run_fields(self, model_id: str, fields: dict[str, Any]) -> None:
        super().check_run_fields(model_id, fields)
        self.check_keypoint_confidence(fields.get("keypoint_confidence"))


class RoboflowClassificationModel(_RoboflowModel):
    """Roboflow's single-label classification block, on a local classifier."""

    class Manifest(_Manifest):
        type: Literal[
            "roboflow_core/roboflow_classification_model@v2",
            "roboflow_core/roboflow_classification_model@v1",
            "RoboflowClassificationModel",
        ]
        confidence: parameter_selector("float") | UNIT_INTERVAL = 0.4

    outputs = every_output("classification_prediction")
    tasks = ("classification",)
    spec_defaults = {"task": "classification"}
    prediction_kind = "classification_prediction"

    def run(self, images: Batch, model_id: str, **fields: Any) -> list[dict]:
        check_run_values(fields)
        # Single label: the top class is reported whatever its confidence; ``confidence``
        # is kept for the multi-label head, which uses it as its threshold.
        return self.predict(images, model_id, {"threshold": fields["confidence"]})


class RoboflowMultiLabelClassificationModel(RoboflowClassificationModel):
    """Roboflow's multi-label classification block: classes at or above ``confidence``."""

    class Manifest(_Manifest):
        type: Literal[
            "roboflow_core/roboflow_multi_label_classification_model@v2",
            "roboflow_core/roboflow_multi_label_classification_model@v1",
            "RoboflowMultiLabelClassificationModel",
            "MultiLabelClassificationModel",
        ]
        confidence: parameter_selector("float") | UNIT_INTERVAL = 0.4

    spec_defaults = {"task": "classification", "format": "multi_label"}

    def check_model(self, model: Any, model_id: str) -> None:
        if model.spec.format != "multi_label":
            raise ModelError(
                f"model '{model_id}' is a single-label classifier (format "
                f"'{model.spec.format}'); {self.type_name} needs format multi_label",
                place="field 'model_id'",
                hint="use roboflow_core/roboflow_classification_model, or map the id to a "
                "model with format: multi_label",
            )


class RoboflowKeypointDetectionModelV3(_ConfidenceMode, RoboflowKeypointDetectionModel):
    """Roboflow's keypoint detection block v3: ``confidence_mode`` in place of
    ``confidence`` (see ``_ConfidenceMode``)."""

    class Manifest(RoboflowObjectDetectionModelV3.Manifest):
        type: Literal["roboflow_core/roboflow_keypoint_detection_model@v3"]
        keypoint_confidence: parameter_selector("float_zero_to_one") | UNIT_INTERVAL = 0.0

    def run(self, images: Batch, model_id: str, **fields: Any) -> list[dict]:
        self.check_run_fields(model_id, fields)
        return self.detect(images, model_id, self.mode_confidence(fields), fields)


class RoboflowClassificationModelV3(_ConfidenceMode, RoboflowClassificationModel):
    """Roboflow's classification block v3: ``confidence_mode`` in place of ``confidence``
    (see ``_ConfidenceMode``)."""

    class Manifest(_ConfidenceModeFields, _Manifest):
        type: Literal["roboflow_core/roboflow_classification_model@v3"]

    def run(self, images: Batch, model_id: str, **fields: Any) -> list[dict]:
        check_run_values(fields)
        return self.predict(images, model_id, {"threshold": self.mode_confidence(fields)})


class RoboflowMultiLabelClassificationModelV3(
    _ConfidenceMode, RoboflowMultiLabelClassificationModel
):
    """Roboflow's multi-label classification block v3: classes at or above the threshold
    ``confidence_mode`` gives (see ``_ConfidenceMode``)."""

    class Manifest(_ConfidenceModeFields, _Manifest):
        type: Literal["roboflow_core/roboflow_multi_label_classification_model@v3"]

    def run(self, images: Batch, model_id: str, **fields: Any) -> list[dict]:
        check_run_values(fields)
        return self.predict(images, model_id, {"threshold": self.mode_confidence(fields)})
