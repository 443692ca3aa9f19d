"""Model blocks: run a model (declared under ``models:`` or from the zoo) on images.

Each block loads its model when the workflow is compiled (a missing model is a compile
error naming the step) and hands the whole batch of images to the model's pool, so
elements from concurrent runs are batched together.

``ObjectDetectionModel`` and ``ClassificationModel`` are also Roboflow's short names of
its detection and classification blocks: a step that names its model by Roboflow's
``model_id`` (not ``model``) is Roboflow's block, with its fields, defaults and outputs
(``blocks/core/roboflow_models.py``).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import AliasChoices, Field, NonNegativeInt

from visionflow.blocks.api import Batch, Block, BlockManifest, Output, Selector
from visionflow.errors import ManifestError, ModelError
from visionflow.selectors import looks_like_selector

IMAGE = Selector(kinds=["image"])


class _ModelBlock(Block):
    """What every model block shares: load in setup, predict a batch in run."""

    tasks: ClassVar[tuple[str, ...]] = ()
    option_fields: ClassVar[tuple[str, ...]] = ()
    accepts_batches = True
    init_parameters = ["models"]

    roboflow_block: ClassVar[str | None] = None
    """``module:Class`` of the Roboflow block a step written with ``model_id`` is."""

    def setup(self, manifest: BlockManifest) -> None:
        self.roboflow = None
        if self.roboflow_block is not None:
            if (manifest.model is None) == (manifest.model_id is None):
                raise ManifestError(
                    "give exactly one of 'model' (visionflow's) or 'model_id' (Roboflow's)",
                    place="field 'model'",
                )
            if manifest.model is None:
                self.roboflow = _roboflow_twin(self.roboflow_block, self.models, manifest)
                return
        self.model = self.models.get(manifest.model)
        if self.model.spec.task not in self.tasks:
            raise ModelError(
                f"model '{manifest.model}' is a {self.model.spec.task} model; "
                f"{manifest.type} runs {' or '.join(self.tasks)} models",
                place="field 'model'",
            )

    def predict(self, images: Batch, fields: dict[str, Any]) -> list:
        options = {
            name: fields[name] for name in self.option_fields if fields.get(name) is not None
        }
        return self.model.predict(list(images), options)


class _RoboflowFields(Block.Manifest):
    """Roboflow's fields common to its model blocks, for a step written with ``model_id``."""

    images: IMAGE = Field(validation_alias=AliasChoices("images", "image"))
    model: str | None = None
    model_id: Selector(kinds=["roboflow_model_id", "string"], scalar_only=True) | str | None = None
    api_key: Selector(kinds=["string"], scalar_only=True) | str | None = None
    disable_active_learning: Selector(kinds=["boolean"], scalar_only=True) | bool | None = None
    active_learning_target_dataset: Selector(kinds=["string"], scalar_only=True) | str | None = None


class _PredictionsModel(_ModelBlock):
    """A model block whose one output is ``predictions``; written with Roboflow's
    ``model_id``, its Roboflow twin runs instead (``roboflow_block``)."""

    @classmethod
    def describe_outputs(cls, manifest: BlockManifest) -> list[Output]:
        return _roboflow_outputs(cls, manifest)

    def run(self, images: Batch, **fields: Any) -> list[dict]:
        if self.roboflow is not None:
            return self.roboflow.run(images, **_roboflow_values(self.roboflow, fields))
        return [{"predictions": p} for p in self.predict(images, fields)]


class ObjectDetectionModel(_PredictionsModel):
    """Boxes (supervision.Detections with class names) found by a detection model.

    Written with Roboflow's ``model_id`` instead of ``model``, it is Roboflow's detection
    block v1 (its fields and defaults, output ``inference_id``; docs/guide/roboflow.md).
    """

    class Manifest(_RoboflowFields):
        type: Literal["visionflow/object_detection_model@v1", "ObjectDetectionModel"]
        confidence: Selector(kinds=["float"], scalar_only=True) | float | None = None
        iou: Selector(kinds=["float"], scalar_only=True) | float | None = None
        max_detections: Selector(kinds=["integer"], scalar_only=True) | NonNegativeInt | None = None
        class_filter: Selector(kinds=["list"], scalar_only=True) | list[str] | None = None
        # Roboflow's names (with model_id): defaults as Roboflow's block
        iou_threshold: Selector(kinds=["float"], scalar_only=True) | float | None = None
        class_agnostic_nms: bool = False
        max_candidates: int | None = None

    outputs = [Output("predictions", kinds=["object_detection_prediction"])]
    tasks = ("object_detection",)
    option_fields = ("confidence", "iou", "max_detections", "class_filter")
    roboflow_block = "RoboflowObjectDetectionModel"


class KeypointDetectionModel(ObjectDetectionModel):
    """Boxes with keypoints (e.g. pose landmarks) found by a keypoint model."""

    class Manifest(Block.Manifest):
        type: Literal["visionflow/keypoint_detection_model@v1", "KeypointDetectionModel"]
        images: IMAGE
        model: str
        confidence: Selector(kinds=["float"], scalar_only=True) | float | None = None
        iou: Selector(kinds=["float"], scalar_only=True) | float | None = None
        max_detections: Selector(kinds=["integer"], scalar_only=True) | NonNegativeInt | None = None
        class_filter: list[str] | None = None

    outputs = [Output("predictions", kinds=["keypoint_detection_prediction"])]
    tasks = ("keypoints", "object_detection")
    roboflow_block = None

    @classmethod
    def describe_outputs(cls, manifest: BlockManifest) -> list[Output]:
        return list(cls.outputs)


class ClassificationModel(_PredictionsModel):
    """The classes of each image, with confidences (single or multi-label).

    Written with Roboflow's ``model_id`` instead of ``model``, it is Roboflow's
    classification block v1 (``confidence``, output ``inference_id``; docs/guide/roboflow.md).
    """

    class Manifest(_RoboflowFields):
        type: Literal["visionflow/classification_model@v1", "ClassificationModel"]
        threshold: Selector(kinds=["float"]) | float | None = None
        confidence: Selector(kinds=["float"], scalar_only=True) | float | None = None  # Roboflow's

    outputs = [Output("predictions", kinds=["classification_prediction"])]
    tasks = ("classification",)
    option_fields = ("threshold",)
    roboflow_block = "RoboflowClassificationModel"


class TextDetectionModel(_ModelBlock):
    """Text regions as detections whose ``data["quad"]`` holds each region's four corners."""

    class Manifest(Block.Manifest):
        type: Literal["visionflow/text_detection_model@v1", "TextDetectionModel"]
        images: IMAGE
        model: str
        confidence: Selector(kinds=["float"], scalar_only=True) | float | None = None

    outputs = [Output("predictions", kinds=["object_detection_prediction"])]
    tasks = ("text_detection",)
    option_fields = ("confidence",)

    def run(self, images: Batch, model: str, **fields: Any) -> list[dict]:
        return [{"predictions": p} for p in self.predict(images, fields)]


class TextRecognitionModel(_ModelBlock):
    """The text written in each image (one line of text per image)."""

    class Manifest(Block.Manifest):
        type: Literal["visionflow/text_recognition_model@v1", "TextRecognitionModel"]
        images: IMAGE
        model: str

    outputs = [Output("text", kinds=["string"]), Output("confidence", kinds=["float"])]
    tasks = ("text_recognition",)

    def run(self, images: Batch, model: str) -> list[dict]:
        return [
            {"text": p["text"], "confidence": p["confidence"]} for p in self.predict(images, {})
        ]


class ModelInference(_ModelBlock):
    """The raw output tensors of any model (task ``raw``), by output name."""

    class Manifest(Block.Manifest):
        type: Literal["visionflow/model_inference@v1", "ModelInference"]
        images: IMAGE
        model: str

    outputs = [Output("outputs", kinds=["dict"])]
    tasks = ("raw",)

    def run(self, images: Batch, model: str) -> list[dict]:
        return [{"outputs": p["outputs"]} for p in self.predict(images, {})]


# --- a step written the Roboflow way (with model_id) ---------------------------------------


def _roboflow_twin(class_name: str, models: Any, manifest: BlockManifest) -> Block:
    """The Roboflow block for a step that names its model by ``model_id``, set up."""
    from visionflow.blocks.core import roboflow_models  # it builds on this module

    block_class = getattr(roboflow_models, class_name)
    written = manifest.model_dump(exclude_unset=True, exclude={"type", "model"})
    if "iou" in written or "threshold" in written:
        name = "iou" if "iou" in written else "threshold"
        raise ManifestError(
            f"field '{name}' is visionflow's; a step with 'model_id' is Roboflow's block",
            place=f"field '{name}'",
            hint="write iou_threshold" if name == "iou" else "write confidence",
        )
    twin_manifest = block_class.Manifest.model_validate(
        {**written, "type": block_class.type_names()[-1]}
    )
    block = block_class(models=models)
    block.setup(twin_manifest)
    # Roboflow's defaults for what the step leaves out (what it gives arrives with run); a
    # field given by a selector has none: its None at run time is None, not the selector text
    block.defaults = {
        name: None if looks_like_selector(value) else value
        for name, value in twin_manifest.model_dump(exclude={"name", "type", "images"}).items()
    }
    return block


def _roboflow_values(block: Block, fields: dict[str, Any]) -> dict[str, Any]:
    """The run values of a Roboflow step: Roboflow's defaults where the step gave none."""
    given = {name: value for name, value in fields.items() if value is not None}
    return {**block.defaults, **given}


def _roboflow_outputs(block_class: type[_ModelBlock], manifest: BlockManifest) -> list[Output]:
    if getattr(manifest, "model_id", None) is None:
        return list(block_class.outputs)
    return [Output("inference_id", kinds=["string"]), *block_class.outputs]
