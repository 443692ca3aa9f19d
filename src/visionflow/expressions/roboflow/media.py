"""Roboflow's operations on images, dictionaries and classification predictions."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from visionflow.data.image import WorkflowImage
from visionflow.errors import ExpressionEvaluationError
from visionflow.expressions.roboflow.fields import Context
from visionflow.expressions.roboflow.values import (
    IMAGE,
    Parameters,
    expect_image,
    expect_mapping,
    mismatch,
)

Step = Callable[[Any, Parameters], Any]

IMAGE_PROPERTIES = ("size", "height", "width", "aspect_ratio")
CLASSIFICATION_PROPERTIES = (
    "top_class",
    "top_class_confidence",
    "top_class_confidence_single",
    "all_classes",
    "all_confidences",
)
BASE64_QUALITY = 95  # JPEG quality of ConvertImageToBase64


def image_property(fields: dict, context: Context) -> Step:
    name = fields["property_name"]

    def run(value, parameters):
        height, width = expect_image("ExtractImageProperty", value).shape[:2]
        if name == "size":
            return height * width  # pixels
        if name == "aspect_ratio":
            return width / height if height else 0
        return height if name == "height" else width

    return run


FRAME_PROPERTIES = ("frame_number", "frame_timestamp", "seconds_since_start")


def frame_metadata(fields: dict, context: Context) -> Step:
    """A frame's number, timestamp or seconds since the video started (Roboflow's
    ``ExtractFrameMetadata``; a still image is frame 0)."""
    name = fields["property_name"]

    def run(value, parameters):
        if not isinstance(value, WorkflowImage):
            raise mismatch("ExtractFrameMetadata", IMAGE, value)
        video = value.video_metadata
        if name == "seconds_since_start":  # Roboflow counts frames from 1 here
            return (video.frame_number - 1) / video.fps
        return getattr(video, name)

    return run


def _jpeg(pixels: np.ndarray, quality: int) -> bytes:
    import cv2  # only documents that encode images pay for importing OpenCV

    ok, encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ExpressionEvaluationError("could not encode the image as JPEG")
    return encoded.tobytes()


def image_to_jpeg(fields: dict, context: Context) -> Step:
    quality = fields["compression_level"]
    return lambda value, parameters: _jpeg(expect_image("ConvertImageToJPEG", value), quality)


def image_to_base64(fields: dict, context: Context) -> Step:
    def run(value, parameters):
        pixels = expect_image("ConvertImageToBase64", value)
        return base64.b64encode(_jpeg(pixels, BASE64_QUALITY)).decode("ascii")

    return run


def dictionary_to_json(fields: dict, context: Context) -> Step:
    def run(value, parameters):
        try:
            return json.dumps(expect_mapping("ConvertDictionaryToJSON", value))
        except (TypeError, ValueError) as error:
            raise ExpressionEvaluationError(f"ConvertDictionaryToJSON: {error}") from None

    return run


# --- classification predictions --------------------------------------------------------
# Single-label: {"top", "confidence", "predictions": [{"class", "class_id", "confidence"}]};
# multi-label: {"predicted_classes", "predictions": {name: {"class_id", "confidence"}}}
# (or a list of {"class", "confidence"}, as visionflow's multi-label models give).


def _by_class(predictions) -> dict[str, dict]:
    if isinstance(predictions, dict):
        return predictions
    return {item["class"]: item for item in predictions}


def _in_order(prediction: dict, predictions) -> list[tuple[str, dict]]:
    """Every class of a prediction in Roboflow's order for all_classes / all_confidences:
    a single-label list as it stands (best first), a multi-label one in class id order, as
    Roboflow's multi-label mapping gives them (visionflow's multi-label list is best first)."""
    entries = (
        [(item["class"], item) for item in predictions]
        if isinstance(predictions, list)
        else list(predictions.items())
    )
    if "top" in prediction:
        return entries
    return sorted(entries, key=lambda entry: entry[1].get("class_id", 0))


def classification_property(name: str, prediction) -> Any:
    if "top" in prediction and name == "top_class":
        return prediction["top"]
    if "confidence" in prediction and name.startswith("top_class_confidence"):
        return prediction["confidence"]
    predictions = prediction.get("predictions", [])
    predicted = list(prediction.get("predicted_classes", []))
    if name == "top_class":
        return predicted
    if name.startswith("top_class_confidence"):
        by_class = _by_class(predictions)
        confidences = [by_class[label]["confidence"] for label in predicted]
        if name == "top_class_confidence":
            return confidences
        return max(confidences, default=0.0)  # _single: the best predicted class's, or 0
    ordered = _in_order(prediction, predictions)
    if name == "all_classes":
        return [label for label, _ in ordered]
    return [item["confidence"] for _, item in ordered]


def classification_extract(fields: dict, context: Context) -> Step:
    name = fields["property_name"]

    def run(value, parameters):
        prediction = expect_mapping("ClassificationPropertyExtract", value)
        try:
            return classification_property(name, prediction)
        except (KeyError, TypeError, AttributeError):
            raise mismatch(
                "ClassificationPropertyExtract", "a classification prediction", value
            ) from None

    return run


# --- ClassificationFilter: one class prediction at a time --------------------------------
# Each candidate is a dict {"class", "class_id", "confidence"}: an entry of a single-label
# ``predictions`` list, or a class of a multi-label ``predicted_classes``. The filter's
# statement reads it as ``_`` (ExtractClassificationPredictionProperty).

CLASS_PREDICTION_PROPERTIES = ("class_name", "class_id", "confidence")
_CANDIDATE_KEYS = {"class_name": "class", "class_id": "class_id", "confidence": "confidence"}


def class_prediction_property(fields: dict, context: Context) -> Step:
    key = _CANDIDATE_KEYS[fields["property_name"]]

    def run(value, parameters):
        candidate = expect_mapping("ExtractClassificationPredictionProperty", value)
        if key not in candidate:
            raise mismatch("ExtractClassificationPredictionProperty", "one class prediction", value)
        return candidate[key]

    return run


def _expect_classification(value) -> dict:
    prediction = expect_mapping("ClassificationFilter", value)
    single = "top" in prediction and isinstance(prediction.get("predictions"), list)
    multi = "predicted_classes" in prediction and "predictions" in prediction
    if not (single or multi):
        raise mismatch("ClassificationFilter", "a classification prediction", value)
    return dict(prediction)  # a copy: the input may be read by other steps


def filter_classification(value, keep: Callable[[dict], bool]) -> dict:
    """The prediction with only the classes ``keep`` accepts; its shape unchanged.

    Single-label: ``predictions`` keeps the accepted entries (in order) and ``top`` /
    ``confidence`` (and visionflow's ``class_id``) are those of the most confident one, or
    ``""`` / ``0.0`` (``None``) when none is left. Multi-label: ``predicted_classes`` keeps
    the accepted classes; ``predictions``, every class's score, stays whole.
    """
    prediction = _expect_classification(value)
    if "predicted_classes" in prediction:
        by_class = _by_class(prediction["predictions"])
        prediction["predicted_classes"] = [
            name
            for name in prediction["predicted_classes"]
            if keep(_candidate(name, by_class.get(name)))
        ]
        return prediction
    kept = [dict(entry) for entry in prediction["predictions"] if keep(_entry(entry))]
    best = max(kept, key=lambda entry: entry["confidence"], default=None)  # first of ties
    prediction["predictions"] = kept
    prediction["top"] = "" if best is None else best["class"]
    prediction["confidence"] = 0.0 if best is None else best["confidence"]
    if "class_id" in prediction:
        prediction["class_id"] = None if best is None else best.get("class_id")
    return prediction


def _entry(entry) -> dict:
    if not isinstance(entry, dict) or "class" not in entry or "confidence" not in entry:
        raise mismatch("ClassificationFilter", "class predictions with class and confidence", entry)
    return entry


def _candidate(name: str, scores) -> dict:
    if not isinstance(scores, dict):
        raise ExpressionEvaluationError(
            f"ClassificationFilter: predicted class {name!r} has no score in 'predictions'"
        )
    confidence = scores.get("confidence")
    return {"class": name, "class_id": scores.get("class_id"), "confidence": confidence}
