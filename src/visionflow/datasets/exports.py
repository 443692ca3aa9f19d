"""A dataset run's exports, rebuilt from the per-image predictions files at the end of a run.

    coco      coco.json (coco-<output>.json for each of several detection outputs)
    yolo      yolo/ (yolo-<output>/ for each of several): labels/, classes.txt, data.yaml
    csv       predictions.csv: a row per detection and per classification, every output
    jsonl     predictions.jsonl: a line per image, its predictions record

Every export holds the images that finished, in the run's order; an image that failed is
in none of them (``run.json`` lists it with why) and a resume that runs it adds it.
COCO and YOLO list every class of the models behind the output (``classes.py``). An output
of detections on crops (a list per image) gives them all, in the image's coordinates; given
in each crop's own (``coordinates_system: own``) they are left out of COCO and YOLO.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from visionflow.datasets.classes import DETECTION_KINDS, class_indices, output_labels
from visionflow.datasets.coco import coco_detections, holds_detections, predictions_of
from visionflow.datasets.files import write_json
from visionflow.datasets.tables import write_csv, write_jsonl
from visionflow.datasets.yolo import write_yolo
from visionflow.errors import WorkflowError

FORMATS = ("coco", "yolo", "csv", "jsonl")
DEFAULT_FORMATS = ("coco",)


class ExportFormatError(WorkflowError):
    code = "unknown_export_format"


def parse_formats(given: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """``["coco,yolo", "csv"]`` -> ``("coco", "yolo", "csv")``: each format once, known."""
    if not given:
        return DEFAULT_FORMATS
    found: list[str] = []
    for text in given:
        for name in (part.strip().lower() for part in text.split(",")):
            if name not in FORMATS:
                raise ExportFormatError(
                    f"unknown export format '{name}'",
                    place="--format",
                    hint=f"choose among {', '.join(FORMATS)} (several: --format coco,yolo)",
                )
            if name not in found:
                found.append(name)
    return tuple(found)


def write_exports(
    workflow: Any, output: Path, records: list[dict[str, Any]], formats: tuple[str, ...]
) -> list[tuple[str, Path]]:
    """Write ``formats`` of the finished images' ``records`` under ``output``: (format,
    file or folder written) in the order written."""
    written: list[tuple[str, Path]] = []
    detections = detection_outputs(workflow, records)
    for name in detections if {"coco", "yolo"} & set(formats) else ():
        found = [p for r in records for p in predictions_of(r["outputs"].get(name))]
        classes = class_indices(output_labels(workflow.plan, name), found)
        suffix = "" if len(detections) == 1 else f"-{name}"
        if "coco" in formats:
            path = output / f"coco{suffix}.json"
            write_json(path, coco_detections(records, name, classes))
            written.append(("coco", path))
        if "yolo" in formats:
            write_yolo(output / f"yolo{suffix}", records, name, classes)
            written.append(("yolo", output / f"yolo{suffix}"))
    if "csv" in formats:
        write_csv(output / "predictions.csv", records)
        written.append(("csv", output / "predictions.csv"))
    if "jsonl" in formats:
        write_jsonl(output / "predictions.jsonl", records)
        written.append(("jsonl", output / "predictions.jsonl"))
    return written


def detection_outputs(workflow: Any, records: list[dict[str, Any]]) -> list[str]:
    """The workflow's outputs of detections: declared so, or (a functional model call's,
    of any kind) holding detections in some image's record."""
    declared = [n for n, o in workflow.outputs.items() if DETECTION_KINDS & set(o["kinds"])]
    untyped = [n for n, o in workflow.outputs.items() if "*" in o["kinds"] and n not in declared]
    found = [n for n in untyped if any(holds_detections(r["outputs"].get(n)) for r in records)]
    return declared + found
