"""Roboflow's OCR block (``roboflow_core/ocr_model@v1``, short name ``OCRModel``) on
visionflow's local OCR: the zoo's three RapidOCR models (text detection, line orientation,
text recognition), which need no ``model_id``.

A different engine from Roboflow's (its hosted DocTR): the text read from the same image may
differ. Roboflow's outputs, with their kinds: ``result``, the text of the image, its pieces
joined by spaces (here: its lines, in reading order); ``predictions``, one detection per
piece whose class name is its text (Roboflow: one per word; here: one per line, with its
quadrilateral in ``data["quad"]`` and the detector's confidence); ``parent_id`` and
``root_parent_id``, the image read and its root image; ``prediction_type``, ``"ocr"``.

As RapidOCR does: a line the orientation model finds upside down (``180`` with at least
0.9) is turned before it is read, and a line read with a confidence under 0.5 is dropped.
The three models can be replaced by declaring their zoo ids under the document's
``models:``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import AliasChoices, Field

from visionflow.blocks.api import Batch, Block, BlockManifest, Output
from visionflow.blocks.core.models import IMAGE
from visionflow.blocks.core.ocr import crop_quad, upright
from visionflow.data.detections import CLASS_NAME, QUAD, detection_ids
from visionflow.data.image import WorkflowImage
from visionflow.errors import ModelError

if TYPE_CHECKING:  # annotations only: supervision costs ~0.5 s (scipy) to import
    import supervision as sv

# (zoo id, task) of each stage, in the order they run
STAGES = {
    "detector": ("rapidocr/text_detection", "text_detection"),
    "orientation": ("rapidocr/text_orientation", "classification"),
    "recogniser": ("rapidocr/text_recognition", "text_recognition"),
}
TURN_CONFIDENCE = 0.9  # RapidOCR's cls_thresh
TEXT_CONFIDENCE = 0.5  # RapidOCR's text_score: lines read less surely are dropped
PREDICTION_TYPE = "ocr"


class RoboflowOCRModel(Block):
    """Roboflow's OCR block: the text in each image, read by the zoo's RapidOCR models."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/ocr_model@v1", "OCRModel"]
        images: IMAGE = Field(validation_alias=AliasChoices("images", "image"))

    outputs = [
        Output("result", kinds=["string"]),
        Output("predictions", kinds=["object_detection_prediction"]),
        Output("parent_id", kinds=["parent_id"]),
        Output("root_parent_id", kinds=["parent_id"]),
        Output("prediction_type", kinds=["prediction_type"]),
    ]
    accepts_batches = True
    init_parameters = ["models"]

    def setup(self, manifest: BlockManifest) -> None:
        for stage, (model_id, task) in STAGES.items():
            model = self.models.get(model_id)
            if model.spec.task != task:
                raise ModelError(
                    f"model '{model_id}' is a {model.spec.task} model; {manifest.type} reads "
                    f"text with a {task} model under that id",
                    hint=f"declare '{model_id}' under models: with task: {task}",
                )
            setattr(self, stage, model)

    def run(self, images: Batch) -> list[dict[str, Any]]:
        images = list(images)
        found = self.detector.predict(images)
        lines = [  # every image's line crops, one list for all (batched model calls)
            crop_quad(image, quad, crop_id)
            for image, detections in zip(images, found, strict=True)
            for quad, crop_id in zip(detections.data[QUAD], detection_ids(detections), strict=True)
        ]
        read = self.recogniser.predict(self._upright(lines)) if lines else []
        results, start = [], 0
        for image, detections in zip(images, found, strict=True):
            texts = read[start : start + len(detections)]
            start += len(detections)
            results.append(self._result(image, detections, texts))
        return results

    def _upright(self, lines: list[WorkflowImage]) -> list[WorkflowImage]:
        """The lines, those the orientation model finds upside down turned around."""
        orientations = self.orientation.predict(lines)
        return [
            upright(line, turn, TURN_CONFIDENCE)
            for line, turn in zip(lines, orientations, strict=True)
        ]

    @staticmethod
    def _result(
        image: WorkflowImage, detections: sv.Detections, texts: list[dict]
    ) -> dict[str, Any]:
        """Roboflow's outputs for one image: the lines read surely enough, and their text."""
        kept = np.array(
            [bool(t["text"]) and t["confidence"] >= TEXT_CONFIDENCE for t in texts], dtype=bool
        )
        lines = detections[kept] if len(detections) else detections
        names = [t["text"] for t, keep in zip(texts, kept, strict=True) if keep]
        lines.data[CLASS_NAME] = np.array(names, dtype=object)
        return {
            "result": " ".join(names),
            "predictions": lines,
            "parent_id": image.image_id,
            "root_parent_id": image.origin.root_id,
            "prediction_type": PREDICTION_TYPE,
        }
