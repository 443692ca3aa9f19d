"""Model blocks: run a model (declared under ``models:`` or from the zoo) on images.

Each block loads its model when the workflow is compiled (a missing model is a compile
error naming the step) and hands the whole batch of images to the model's pool, so
elements from concurrent runs are batched together.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from visionflow.blocks.api import Batch, Block, BlockManifest, Output, Selector
from visionflow.errors import ModelError

IMAGE = Selector(kinds=["image"])


class _ModelBlock(Block):
    """What every model block shares: load in setup, predict a batch in run."""

    tasks: ClassVar[tuple[str, ...]] = ()
    option_fields: ClassVar[tuple[str, ...]] = ()
    accepts_batches = True
    init_parameters = ["models"]

    def setup(self, manifest: BlockManifest) -> None:
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


class ObjectDetectionModel(_ModelBlock):
    """Boxes (supervision.Detections with class names) found by a detection model."""

    class Manifest(Block.Manifest):
        type: Literal["visionflow/object_detection_model@v1", "ObjectDetectionModel"]
        images: IMAGE
        model: str
        confidence: Selector(kinds=["float"]) | float | None = None
        iou: Selector(kinds=["float"]) | float | None = None
        max_detections: Selector(kinds=["integer"]) | int | None = None
        class_filter: list[str] | None = None

    outputs = [Output("predictions", kinds=["object_detection_prediction"])]
    tasks = ("object_detection",)
    option_fields = ("confidence", "iou", "max_detections", "class_filter")

    def run(self, images: Batch, model: str, **fields: Any) -> list[dict]:
        return [{"predictions": p} for p in self.predict(images, fields)]


class KeypointDetectionModel(ObjectDetectionModel):
    """Boxes with keypoints (e.g. pose landmarks) found by a keypoint model."""

    class Manifest(ObjectDetectionModel.Manifest):
        type: Literal["visionflow/keypoint_detection_model@v1", "KeypointDetectionModel"]

    outputs = [Output("predictions", kinds=["keypoint_detection_prediction"])]
    tasks = ("keypoints", "object_detection")


class ClassificationModel(_ModelBlock):
    """The classes of each image, with confidences (single or multi-label)."""

    class Manifest(Block.Manifest):
        type: Literal["visionflow/classification_model@v1", "ClassificationModel"]
        images: IMAGE
        model: str
        threshold: Selector(kinds=["float"]) | float | None = None

    outputs = [Output("predictions", kinds=["classification_prediction"])]
    tasks = ("classification",)
    option_fields = ("threshold",)

    def run(self, images: Batch, model: str, **fields: Any) -> list[dict]:
        return [{"predictions": p} for p in self.predict(images, fields)]


class TextDetectionModel(_ModelBlock):
    """Text regions as detections whose ``data["quad"]`` holds each region's four corners."""

    class Manifest(Block.Manifest):
        type: Literal["visionflow/text_detection_model@v1", "TextDetectionModel"]
        images: IMAGE
        model: str
        confidence: Selector(kinds=["float"]) | float | None = None

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
