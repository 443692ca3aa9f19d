"""Shared fixtures: real images from scikit-image and small blocks used to exercise the engine."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pytest
import supervision as sv

from visionflow import Batch, Block, Output, Selector, WorkflowImage
from visionflow.data.detections import attach_image_metadata


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])  # RGB -> BGR


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.coffee()[:, :, ::-1])


class FixedBoxesDetector(Block):
    """Boxes given in the step (a deterministic detector for engine tests)."""

    class Manifest(Block.Manifest):
        type: Literal["test/fixed_boxes@v1"]
        image: Selector(kinds=["image"])
        boxes: list[list[float]]
        classes: list[str]

    outputs = [Output("predictions", kinds=["object_detection_prediction"])]

    def run(self, image: WorkflowImage, boxes: list, classes: list[str]) -> dict[str, Any]:
        names = sorted(set(classes))
        detections = sv.Detections(
            xyxy=np.array(boxes, dtype=float).reshape(-1, 4),
            confidence=np.linspace(0.9, 0.5, len(boxes)) if boxes else np.zeros(0),
            class_id=np.array([names.index(c) for c in classes], dtype=int),
            data={"class_name": np.array(classes, dtype=object)},
        )
        return {"predictions": attach_image_metadata(detections, image)}


class MeanColourClassifier(Block):
    """Classifies an image by its dominant BGR channel (a deterministic classifier)."""

    class Manifest(Block.Manifest):
        type: Literal["test/mean_colour@v1"]
        image: Selector(kinds=["image"])

    outputs = [Output("predictions", kinds=["classification_prediction"])]
    accepts_batches = True

    def run(self, image: Batch) -> list[dict[str, Any]]:
        results = []
        for crop in image:
            means = crop.numpy.reshape(-1, 3).mean(axis=0)
            order = np.argsort(-means)
            labels = ["blue", "green", "red"]
            total = float(means.sum()) or 1.0
            predictions = [
                {"class": labels[i], "class_id": int(i), "confidence": float(means[i] / total)}
                for i in order
            ]
            top = predictions[0]
            results.append(
                {
                    "predictions": {
                        "top": top["class"],
                        "class_id": top["class_id"],
                        "confidence": top["confidence"],
                        "predictions": predictions,
                        "parent_id": crop.image_id,
                    }
                }
            )
        return results


class Echo(Block):
    """Returns its input (any kind) unchanged."""

    class Manifest(Block.Manifest):
        type: Literal["test/echo@v1"]
        value: Selector() | Any

    outputs = [Output("value")]

    def run(self, value: Any) -> dict[str, Any]:
        return {"value": value}


TEST_BLOCKS = [FixedBoxesDetector, MeanColourClassifier, Echo]


@pytest.fixture
def test_blocks() -> list[type[Block]]:
    return list(TEST_BLOCKS)
