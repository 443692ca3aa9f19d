"""Roboflow's VLM-as-detector blocks (v1, v2): object detections read from the JSON a
vision-language model wrote, in the box shapes each model answers in. The JSON is found in
the model's text as ``vlm.py`` finds it for the classifier blocks."""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import supervision as sv

from visionflow.blocks.api import Block, Output, Selector
from visionflow.blocks.roboflow.vlm import ERROR_STATUS, Payload, clipped, json_payload
from visionflow.data.detections import CLASS_NAME, DETECTION_ID, attach_image_metadata
from visionflow.data.image import WorkflowImage
from visionflow.errors import ManifestError

INFERENCE_ID = "inference_id"
PREDICTION_TYPE = "prediction_type"
DETECTION_TASKS = (
    "object-detection",
    "object-detection-and-caption",
    "open-vocabulary-object-detection",
    "phrase-grounded-object-detection",
    "region-proposal",
    "ocr-with-text-detection",
)
FLORENCE_TASKS = {  # Roboflow's task names -> Florence-2's prompts
    "object-detection": "<OD>",
    "open-vocabulary-object-detection": "<OPEN_VOCABULARY_DETECTION>",
    "object-detection-and-caption": "<DENSE_REGION_CAPTION>",
    "phrase-grounded-object-detection": "<CAPTION_TO_PHRASE_GROUNDING>",
    "region-proposal": "<REGION_PROPOSAL>",
    "ocr-with-text-detection": "<OCR_WITH_REGION>",
}
_OPENAI_MAX_EDGE = 2048  # OpenAI answers in pixels of the image as uploaded: at most this
_CLAUDE_MAX_EDGE, _CLAUDE_MAX_TOKENS, _CLAUDE_TILE = 2576, 4784, 28  # Claude's resize limits
_BOX_FIELDS = ("x_min", "y_min", "x_max", "y_max")


class VLMAsDetector(Block):
    """Object detections read from a vision-language model's JSON, for the model that wrote
    it (``model_type``): boxes as fractions of the image (``x_min``..``y_max``), Gemini's
    ``box_2d`` (y, x, y, x on a 0-1000 scale), OpenAI's and Claude's ``box_2d`` in pixels of
    the image as they resized it, Qwen's and Z.ai's 0-1000 scale, Muse's named 0-1000 fields,
    SpaceXAI's percentages, or Florence-2's own results (supervision's ``from_vlm``). Class
    ids are positions in ``classes`` (-1 for a class not there); boxes are rounded to whole
    pixels; ``error_status`` true, and ``predictions`` None, when the text cannot be read.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/vlm_as_detector@v2"]
        image: Selector(["image"])
        vlm_output: Selector(["language_model_output"])
        classes: Selector(["list_of_values"]) | list[str] | None
        model_type: Literal[
            "openai",
            "google-gemini",
            "anthropic-claude",
            "spacexai",
            "qwen",
            "muse",
            "zai",
            "zai-flash",
            "florence-2",
        ]
        task_type: Literal[DETECTION_TASKS]

    category = "formatters"
    outputs = [
        Output(ERROR_STATUS, kinds=["boolean"]),
        Output("predictions", kinds=["object_detection_prediction"]),
        Output("inference_id", kinds=["inference_id"]),
    ]

    def setup(self, manifest: Block.Manifest) -> None:
        if manifest.model_type != "florence-2" and manifest.task_type != "object-detection":
            raise ManifestError(
                f"task_type {manifest.task_type!r} cannot be read from {manifest.model_type}: "
                "only florence-2 has tasks other than object-detection",
                place="field 'task_type'",
                hint="use task_type: object-detection",
            )
        if manifest.model_type != "florence-2" and manifest.classes is None:
            raise ManifestError(
                f"classes are required to read {manifest.model_type}'s detections",
                place="field 'classes'",
                hint="give the list of classes the model was asked to find",
            )

    def run(
        self,
        image: WorkflowImage,
        vlm_output: Any,
        classes: list[str] | None,
        model_type: str,
        task_type: str,
    ) -> dict[str, Any]:
        inference_id = str(uuid.uuid4())
        payload = json_payload(vlm_output)
        if payload is None and model_type == "muse" and isinstance(vlm_output, str):
            payload = _named_box_objects(vlm_output) or None
        predictions = None
        if payload is not None:
            try:  # a value of the wrong shape or type anywhere: an error status, as there
                predictions = self.detections(image, payload, classes, model_type, task_type)
                _mark(predictions, image, inference_id)
            except (TypeError, ValueError, LookupError, AttributeError, ArithmeticError):
                predictions = None
        return {
            ERROR_STATUS: predictions is None,
            "predictions": predictions,
            "inference_id": inference_id,
        }

    def detections(
        self, image: WorkflowImage, payload: Payload, classes: Any, model_type: str, task: str
    ) -> sv.Detections:
        if model_type == "florence-2":
            return _florence(image, payload, classes, FLORENCE_TASKS[task])
        read = _READERS[model_type]
        return read(image, payload, classes)


class VLMAsDetectorV1(VLMAsDetector):
    """v1 of Roboflow's block: Gemini and Claude both answer in Gemini's shapes (fractions
    or ``box_2d`` on a 0-1000 scale), Florence-2 as in v2; ``inference_id`` of kind
    ``string``."""

    class Manifest(VLMAsDetector.Manifest):
        type: Literal["roboflow_core/vlm_as_detector@v1"]
        model_type: Literal["google-gemini", "anthropic-claude", "florence-2"]

    outputs = [*VLMAsDetector.outputs[:2], Output("inference_id", kinds=["string"])]

    def detections(
        self, image: WorkflowImage, payload: Payload, classes: Any, model_type: str, task: str
    ) -> sv.Detections:
        if model_type == "florence-2":
            return _florence(image, payload, classes, FLORENCE_TASKS[task])
        return _gemini(image, payload, classes)


def _mark(detections: sv.Detections, image: WorkflowImage, inference_id: str) -> None:
    count = len(detections)
    if count == 0:  # no rows: the image's size kept in the metadata, as Roboflow keeps it
        detections.metadata["image_dimensions"] = [image.height, image.width]
    detections.data[DETECTION_ID] = np.array([str(uuid.uuid4()) for _ in range(count)])
    detections.data[INFERENCE_ID] = np.array([inference_id] * count)
    detections.data[PREDICTION_TYPE] = np.array(["object-detection"] * count)
    attach_image_metadata(detections, image)


def _made(boxes: list, names: list[str], confidences: list[float], classes: Any) -> sv.Detections:
    """Detections of pixel boxes (rounded), class ids by position in ``classes``."""
    if not boxes:
        return sv.Detections.empty()
    ids = {name: position for position, name in enumerate(classes)}  # a repeat: its last
    return sv.Detections(
        xyxy=np.array(boxes, dtype=float).round(0),
        confidence=np.array(confidences, dtype=float),
        class_id=np.array([ids.get(name, -1) for name in names], dtype=int),
        data={CLASS_NAME: np.array(names)},
    )


def _entries(payload: Payload, model: str) -> list:
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict) and "detections" in payload:
        return payload["detections"]
    raise ValueError(f"no detections in the {model} answer")


def _detection_label(entry: dict, keys: tuple[str, ...] = ("class_name", "label", "class")) -> str:
    for key in keys:
        if entry.get(key) is not None:
            return str(entry[key])
    return "unknown"


def _fractions(entry: dict, width: int, height: int) -> list[float]:
    return [entry["x_min"] * width, entry["y_min"] * height,
            entry["x_max"] * width, entry["y_max"] * height]  # fmt: skip


def _gemini(image: WorkflowImage, payload: Payload, classes: Any) -> sv.Detections:
    """Gemini: ``box_2d`` as y_min, x_min, y_max, x_max on a 0-1000 scale, else fractions."""
    width, height = image.width, image.height
    boxes, names, confidences = [], [], []
    for entry in _entries(payload, "Gemini"):
        if "box_2d" in entry:
            y_min, x_min, y_max, x_max = entry["box_2d"]
            boxes.append([x_min / 1000 * width, y_min / 1000 * height,
                          x_max / 1000 * width, y_max / 1000 * height])  # fmt: skip
        else:
            boxes.append(_fractions(entry, width, height))
        names.append(_detection_label(entry))
        confidences.append(clipped(entry.get("confidence", 1.0)))
    return _made(boxes, names, confidences, classes)


def _fraction_entries(image: WorkflowImage, entries: list, classes: Any) -> sv.Detections:
    boxes = [_fractions(entry, image.width, image.height) for entry in entries]
    names = [entry["class_name"] for entry in entries]
    confidences = [clipped(entry.get("confidence", 1.0)) for entry in entries]
    return _made(boxes, names, confidences, classes)


def _pixel_boxes(uploaded: Callable[[int, int], tuple[int, int]], model: str) -> Callable:
    """A reader of ``box_2d`` in pixels of the image as ``model`` resized it (``uploaded``
    gives that size); a ``{"detections": [...]}`` without ``box_2d`` holds fractions."""

    def read(image: WorkflowImage, payload: Payload, classes: Any) -> sv.Detections:
        if isinstance(payload, dict) and "detections" in payload:
            entries = payload["detections"]
            if not (entries and isinstance(entries[0], dict) and "box_2d" in entries[0]):
                return _fraction_entries(image, entries, classes)
            payload = entries
        if not isinstance(payload, list):
            raise ValueError(f"the {model} answer is not a list of detections")
        width, height = image.width, image.height
        up_width, up_height = uploaded(width, height)
        boxes, names, confidences = [], [], []
        for entry in payload:
            x_min, y_min, x_max, y_max = (float(value) for value in entry["box_2d"])
            x_min, x_max = (min(max(v, 0.0), up_width) for v in (x_min, x_max))
            y_min, y_max = (min(max(v, 0.0), up_height) for v in (y_min, y_max))
            scale_x, scale_y = width / up_width, height / up_height
            boxes.append([x_min * scale_x, y_min * scale_y, x_max * scale_x, y_max * scale_y])
            names.append(_detection_label(entry))
            confidences.append(clipped(entry.get("confidence", 1.0)))
        return _made(boxes, names, confidences, classes)

    return read


def _openai_upload(width: int, height: int) -> tuple[int, int]:
    """The size OpenAI's block uploads: the longest edge at most 2048 pixels."""
    if max(width, height) <= _OPENAI_MAX_EDGE:
        return width, height
    if width >= height:
        return _OPENAI_MAX_EDGE, max(round(height * _OPENAI_MAX_EDGE / width), 1)
    return max(round(width * _OPENAI_MAX_EDGE / height), 1), _OPENAI_MAX_EDGE


def _claude_upload(width: int, height: int) -> tuple[int, int]:
    """The size Claude resizes an image to: edges (padded to 28-pixel tiles) at most 2576,
    at most 4784 tiles; the widest such size of the same aspect (found by bisection)."""

    def fits(w: int, h: int) -> bool:
        tiles_w, tiles_h = math.ceil(w / _CLAUDE_TILE), math.ceil(h / _CLAUDE_TILE)
        edge = _CLAUDE_MAX_EDGE
        return (
            tiles_w * _CLAUDE_TILE <= edge
            and tiles_h * _CLAUDE_TILE <= edge
            and (tiles_w * tiles_h <= _CLAUDE_MAX_TOKENS)
        )

    if fits(width, height):
        return width, height
    if height > width:
        resized_height, resized_width = _claude_upload(height, width)
        return resized_width, resized_height
    aspect = width / height
    low, high = 1, width
    while low + 1 < high:
        middle = (low + high) // 2
        if fits(middle, max(round(middle / aspect), 1)):
            low = middle
        else:
            high = middle
    return low, max(round(low / aspect), 1)


def _scaled_1000(box: list[float], width: int, height: int) -> list[float]:
    x_min, y_min, x_max, y_max = (min(max(value, 0.0), 1000.0) for value in box)
    return [
        x_min * width / 1000,
        y_min * height / 1000,
        x_max * width / 1000,
        y_max * height / 1000,
    ]


def _qwen(image: WorkflowImage, payload: Payload, classes: Any) -> sv.Detections:
    """Qwen and Z.ai: ``box_2d`` / ``bbox_2d`` as x, y, x, y on a 0-1000 scale; entries
    without a box of four numbers are skipped; confidence 1."""
    if isinstance(payload, dict) and isinstance(payload.get("detections"), list):
        entries = payload["detections"]
    elif isinstance(payload, dict) and ("box_2d" in payload or "bbox_2d" in payload):
        entries = [payload]
    elif isinstance(payload, list):
        entries = payload
    else:
        raise ValueError("no detections in the Qwen answer")
    boxes, names = [], []
    for entry in entries:
        box = _four_numbers(entry) if isinstance(entry, dict) else None
        if box is None:
            continue
        boxes.append(_scaled_1000(box, image.width, image.height))
        names.append(_detection_label(entry, ("label", "description", "class_name", "class")))
    return _made(boxes, names, [1.0] * len(boxes), classes)


def _four_numbers(entry: dict) -> list[float] | None:
    for key in ("box_2d", "bbox_2d"):
        box = entry.get(key)
        if isinstance(box, list) and len(box) == 4 and all(_number(v) for v in box):
            return [float(value) for value in box]
    return None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _muse(image: WorkflowImage, payload: Payload, classes: Any) -> sv.Detections:
    """Muse: ``x_min``..``y_max`` on a 0-1000 scale (entries without four finite numbers
    skipped), label ``label``; confidence 1."""
    if isinstance(payload, list):
        entries = [entry for entry in payload if isinstance(entry, dict)]
    elif isinstance(payload, dict) and isinstance(payload.get("detections"), list):
        entries = [entry for entry in payload["detections"] if isinstance(entry, dict)]
    elif isinstance(payload, dict) and all(field in payload for field in _BOX_FIELDS):
        entries = [payload]
    else:
        raise ValueError("no detections in the Muse answer")
    boxes, names = [], []
    for entry in entries:
        box = [entry.get(field) for field in _BOX_FIELDS]
        if not all(_number(value) and math.isfinite(value) for value in box):
            continue
        boxes.append(_scaled_1000([float(value) for value in box], image.width, image.height))
        names.append(str(entry.get("label") or "unknown"))
    return _made(boxes, names, [1.0] * len(boxes), classes)


def _spacexai(image: WorkflowImage, payload: Payload, classes: Any) -> sv.Detections:
    """SpaceXAI: ``box_2d`` as x, y, x, y in percent of the image."""
    width, height = image.width, image.height
    boxes, names, confidences = [], [], []
    for entry in _entries(payload, "SpaceXAI"):
        x_min, y_min, x_max, y_max = (min(max(float(v), 0.0), 100.0) for v in entry["box_2d"])
        boxes.append([x_min / 100 * width, y_min / 100 * height,
                      x_max / 100 * width, y_max / 100 * height])  # fmt: skip
        names.append(_detection_label(entry))
        confidences.append(clipped(entry.get("confidence", 1.0)))
    return _made(boxes, names, confidences, classes)


_READERS: dict[str, Callable[[WorkflowImage, Payload, Any], sv.Detections]] = {
    "google-gemini": _gemini,
    "openai": _pixel_boxes(_openai_upload, "OpenAI"),
    "anthropic-claude": _pixel_boxes(_claude_upload, "Claude"),
    "spacexai": _spacexai,
    "qwen": _qwen,
    "zai": _qwen,
    "zai-flash": _qwen,
    "muse": _muse,
}


def _florence(image: WorkflowImage, payload: Payload, classes: Any, task: str) -> sv.Detections:
    """Florence-2's result for ``task`` (supervision's reader); confidence 1. Class ids:
    0; for detection and phrase grounding a number of 4 digits from the name's MD5 (the
    same name, the same id, as Roboflow's); for open-vocabulary detection positions in
    ``classes``; region proposals are named "roi"."""
    found = sv.Detections.from_vlm(
        "florence_2", result={task: payload}, resolution_wh=(image.width, image.height)
    )
    count = len(found)
    found.class_id = np.zeros(count, dtype=int)
    names = found.data.get(CLASS_NAME, np.array(["unknown"] * count))
    if task == "<REGION_PROPOSAL>":
        found.data[CLASS_NAME] = np.array(["roi"] * count)
    if task in ("<OD>", "<CAPTION_TO_PHRASE_GROUNDING>"):
        found.class_id = np.array([_name_number(str(name)) for name in names], dtype=int)
    if task == "<OPEN_VOCABULARY_DETECTION>":
        ids = {name: position for position, name in enumerate(classes)}
        found.class_id = np.array([ids.get(name, -1) for name in names], dtype=int)
    found.confidence = np.ones(count)
    return found


def _name_number(name: str) -> int:
    return int(hashlib.md5(name.encode("utf-8")).hexdigest()[:9], 16) % 10000


def _named_box_objects(text: str) -> list[dict]:
    """Objects ``{...}`` anywhere in ``text`` that name all four box fields (Muse may write
    them without the brackets of a list)."""
    decoder = json.JSONDecoder()
    found, position = [], 0
    while (start := text.find("{", position)) != -1:
        try:
            entry, position = decoder.raw_decode(text, start)
        except ValueError:
            position = start + 1
            continue
        if isinstance(entry, dict) and all(field in entry for field in _BOX_FIELDS):
            found.append(entry)
    return found


BLOCKS: list[type[Block]] = [VLMAsDetector, VLMAsDetectorV1]
