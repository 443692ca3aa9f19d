"""Roboflow's VLM formatter blocks: a prediction read from the JSON that a vision-language
model wrote, read as leniently as Roboflow reads it: fenced Markdown blocks, stray fence
lines, several values in a row (JSON Lines, ``{...}, {...}``), or the outermost brackets of
a longer text.

The detector blocks, which read the JSON found here as detections, are in
``vlm_detections.py``.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any, Literal

from visionflow.blocks.api import Block, Output, Selector
from visionflow.data.image import WorkflowImage

ERROR_STATUS = "error_status"

_JSON_FENCE = re.compile(r"```json([\s\S]*?)```", flags=re.IGNORECASE)
_ANY_FENCE = re.compile(r"```[a-zA-Z0-9_+-]*[ \t]*\r?\n?([\s\S]*?)```")
_FENCE_LINE = re.compile(r"^[ \t]*```[a-zA-Z0-9_+-]*[ \t]*$", flags=re.MULTILINE)
_SEPARATOR = re.compile(r"[\s,]*")  # between values of a sequence
_TAIL = re.compile(r"[\s,]*\]?[\s,]*")  # after the last one: one stray `]` is forgiven
_LABEL_KEYS = ("class", "class_name", "label")

Payload = dict | list


class VLMAsClassifier(Block):
    """A classification prediction read from a vision-language model's JSON: single-label
    (``{"class_name", "confidence"}``) or multi-label (``{"predicted_classes": [{"class",
    "confidence"}]}``, or a bare list of such entries); ``error_status`` true, and
    ``predictions`` None, when it cannot be read. Class ids are positions in ``classes``
    (-1 for a class not there); confidences are clipped to 0..1.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/vlm_as_classifier@v2"]
        image: Selector(["image"])
        vlm_output: Selector(["language_model_output"])
        classes: Selector(["list_of_values"]) | list[str]

    category = "formatters"  # listed with the other formatters (as Roboflow groups it)

    outputs = [
        Output(ERROR_STATUS, kinds=["boolean"]),
        Output("predictions", kinds=["classification_prediction"]),
        Output("inference_id", kinds=["inference_id"]),
    ]

    def run(self, image: WorkflowImage, vlm_output: Any, classes: list[str]) -> dict[str, Any]:
        inference_id = str(uuid.uuid4())
        payload = json_payload(vlm_output)
        fields = None if payload is None else classification_payload(payload)
        predictions = None
        try:  # a value of the wrong type anywhere in the payload: an error status, as there
            if fields is not None and "class_name" in fields and "confidence" in fields:
                predictions = _single_label(fields, classes)
            elif fields is not None and "predicted_classes" in fields:
                predictions = _multi_label(fields["predicted_classes"], classes)
        except (TypeError, ValueError, LookupError, AttributeError, ArithmeticError):
            predictions = None
        if predictions is None:
            return {ERROR_STATUS: True, "predictions": None, "inference_id": inference_id}
        predictions = {
            "image": {"width": image.width, "height": image.height},
            **predictions,
            "inference_id": inference_id,
            "parent_id": image.image_id,
        }
        return {ERROR_STATUS: False, "predictions": predictions, "inference_id": inference_id}


class VLMAsClassifierV1(VLMAsClassifier):
    """v1 of Roboflow's block: ``inference_id`` of kind ``string``."""

    class Manifest(VLMAsClassifier.Manifest):
        type: Literal["roboflow_core/vlm_as_classifier@v1"]

    outputs = [*VLMAsClassifier.outputs[:2], Output("inference_id", kinds=["string"])]


def _class_ids(classes: list[str]) -> dict[str, int]:
    return {name: position for position, name in enumerate(classes)}  # a repeat: its last


def clipped(value: Any) -> float:
    return min(max(float(value), 0.0), 1.0)


def _single_label(fields: dict, classes: list[str]) -> dict:
    ids = _class_ids(classes)
    top, confidence = fields["class_name"], clipped(fields["confidence"])
    entries = [] if top in ids else [{"class": top, "class_id": -1, "confidence": confidence}]
    entries += [
        {"class": name, "class_id": i, "confidence": confidence if name == top else 0.0}
        for name, i in ids.items()
    ]
    return {"predictions": entries, "top": top, "confidence": confidence}


def _multi_label(found: Any, classes: list[str]) -> dict:
    ids = _class_ids(classes)
    confidences: dict[str, float] = {}
    for entry in found:
        name = entry["class"]
        ids.setdefault(name, -1)
        confidences[name] = max(confidences.get(name, 0.0), clipped(entry["confidence"]))
    return {
        "predictions": {
            name: {"confidence": confidences.get(name, 0.0), "class_id": i}
            for name, i in ids.items()
        },
        "predicted_classes": list(confidences),
    }


def json_payload(raw: Any) -> Payload | None:
    """The first object or array found in ``raw`` (tried in the order the module docstring
    lists), or None when there is none."""
    if not isinstance(raw, str):
        return None
    without_fences = _FENCE_LINE.sub("", raw)
    candidates = [*_JSON_FENCE.findall(raw)[:1], *_ANY_FENCE.findall(raw)[:1], raw]
    for text in dict.fromkeys([*candidates, without_fences]):
        if (found := _container(text)) is not None:
            return found
    if (found := _sequence(without_fences)) is not None:
        return found
    for opening, closing in ("[]", "{}"):
        start, stop = without_fences.find(opening), without_fences.rfind(closing)
        found = _container(without_fences[start : stop + 1]) if -1 < start < stop else None
        if found is not None:
            return found
    return None


def classification_payload(payload: Payload) -> dict | None:
    """An object as it is; a bare list of ``{"class"|"class_name"|"label", "confidence"}``
    entries as the multi-label shape ``{"predicted_classes": [...]}``; else None."""
    if isinstance(payload, dict):
        return payload
    if not payload:
        return None
    entries = []
    for entry in payload:
        label = _label(entry)
        if label is None:
            return None
        entries.append({"class": label, "confidence": entry.get("confidence", 1.0)})
    return {"predicted_classes": entries}


def _label(entry: Any) -> str | None:
    if isinstance(entry, dict):
        for key in _LABEL_KEYS:
            if entry.get(key) is not None:
                return str(entry[key])
    return None


def _container(text: str) -> Payload | None:
    try:
        found = json.loads(text)
    except ValueError:
        return None
    return found if isinstance(found, dict | list) else None


def _sequence(text: str) -> list | None:
    """Objects and arrays one after another, separated by blanks or commas only: the
    objects and the arrays' items, in order; None when anything else is in between."""
    decoder = json.JSONDecoder()
    items: list = []
    position, count = 0, 0
    while position < len(text):
        starts = [i for i in (text.find("{", position), text.find("[", position)) if i != -1]
        if not starts:
            break
        start = min(starts)
        if not _SEPARATOR.fullmatch(text, position, start):
            return None
        try:
            value, position = decoder.raw_decode(text, start)
        except ValueError:
            return None
        if isinstance(value, dict):
            items.append(value)
        elif isinstance(value, list):
            items.extend(value)
        else:
            return None
        count += 1
    if not count or not _TAIL.fullmatch(text, position):
        return None
    return items


BLOCKS: list[type[Block]] = [VLMAsClassifier, VLMAsClassifierV1]
