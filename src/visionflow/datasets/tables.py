"""CSV and JSON Lines exports of a dataset run's per-image predictions.

``predictions.csv``: one row per detection and per predicted class of a classification,
of every output, in image order::

    image,output,type,class,class_id,confidence,x1,y1,x2,y2,detection_id,parent_id

``type`` is ``detection`` (a box, corners in pixels of the image) or ``classification``
(its box cells empty; a classification of a crop has the crop's detection as
``parent_id``). A single-label classification gives its top class, a multi-label one each
class it predicted. Outputs of other kinds are not in it (they are in the JSONL).

``predictions.jsonl``: one line per image, its predictions record as in
``predictions/<image>.json``.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from visionflow.datasets.coco import holds_detections
from visionflow.datasets.files import write_atomically

CSV_COLUMNS = (
    "image",
    "output",
    "type",
    "class",
    "class_id",
    "confidence",
    "x1",
    "y1",
    "x2",
    "y2",
    "detection_id",
    "parent_id",
)


def write_csv(path: Path, images: list[dict[str, Any]]) -> None:
    text = io.StringIO()
    table = csv.DictWriter(text, CSV_COLUMNS, lineterminator="\n")
    table.writeheader()
    for record in images:
        for output, value in record["outputs"].items():
            for row in _rows(value):
                table.writerow({"image": record["image"], "output": output, **row})
    write_atomically(path, text.getvalue().encode("utf-8"))


def write_jsonl(path: Path, images: list[dict[str, Any]]) -> None:
    lines = (json.dumps(record, ensure_ascii=False, default=str) + "\n" for record in images)
    write_atomically(path, "".join(lines).encode("utf-8"))


def _rows(value: Any) -> list[dict[str, Any]]:
    """The CSV rows of one output value: detections, classifications, lists of them."""
    if isinstance(value, list):
        return [row for item in value for row in _rows(item)]
    if holds_detections(value):
        return [_detection_row(p) for p in value["predictions"]]
    if isinstance(value, dict) and "top" in value:
        return [
            _classification_row(value["top"], value.get("class_id"), value.get("confidence"), value)
        ]
    if isinstance(value, dict) and isinstance(value.get("predicted_classes"), list):
        scores = _scores_by_class(value.get("predictions"))
        return [
            _classification_row(
                name,
                scores.get(name, {}).get("class_id"),
                scores.get(name, {}).get("confidence"),
                value,
            )
            for name in value["predicted_classes"]
        ]
    return []


def _scores_by_class(predictions: Any) -> dict[str, dict[str, Any]]:
    """class -> {confidence, class_id}: visionflow's heads give a list of them (best first),
    Roboflow's multi-label results a dict by class name."""
    if isinstance(predictions, dict):
        return {name: p for name, p in predictions.items() if isinstance(p, dict)}
    if isinstance(predictions, list):
        return {p["class"]: p for p in predictions if isinstance(p, dict) and "class" in p}
    return {}


def _detection_row(p: dict[str, Any]) -> dict[str, Any]:
    half_w, half_h = p["width"] / 2, p["height"] / 2
    return {
        "type": "detection",
        "class": p.get("class"),
        "class_id": p.get("class_id"),
        "confidence": p.get("confidence"),
        "x1": p["x"] - half_w,
        "y1": p["y"] - half_h,
        "x2": p["x"] + half_w,
        "y2": p["y"] + half_h,
        "detection_id": p.get("detection_id"),
        "parent_id": p.get("parent_id"),
    }


def _classification_row(name, class_id, confidence, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "classification",
        "class": name,
        "class_id": class_id,
        "confidence": confidence,
        "parent_id": value.get("parent_id"),
    }
