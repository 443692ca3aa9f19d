"""YOLO (Ultralytics) labels from a dataset run's per-image predictions.

    <folder>/labels/<image path without its suffix>.txt   a line per box:
                                 class x_center y_center width height  (0-1 of the image)
    <folder>/classes.txt         the class names, line i naming class i
    <folder>/data.yaml           the same names as Ultralytics reads them (``names``, ``nc``)

An image without boxes gets an empty labels file (a background image, as Ultralytics
reads it). Boxes only: a mask's outline is in the COCO export. Two images whose names
differ only by their suffix share one labels file in this layout: a warning says so.
"""

from __future__ import annotations

import warnings
from pathlib import Path, PurePosixPath
from typing import Any

from visionflow.datasets.classes import class_of
from visionflow.datasets.coco import predictions_of
from visionflow.datasets.files import write_atomically


def write_yolo(
    folder: Path, images: list[dict[str, Any]], output: str, classes: dict[str, int]
) -> None:
    """Write the labels of detection output ``output`` of every image record under
    ``folder``; ``classes``: class name -> index (``classes.class_indices``)."""
    written: dict[PurePosixPath, str] = {}
    for record in images:
        found = predictions_of(record["outputs"].get(output), (record["width"], record["height"]))
        lines = [
            line
            for p in found
            if (line := yolo_line(p, classes[class_of(p)], record["width"], record["height"]))
        ]
        label = PurePosixPath(record["image"]).with_suffix(".txt")
        if label in written:  # photo.png and photo.jpg: YOLO's layout has one file for both
            warnings.warn(
                f"YOLO labels: '{record['image']}' and '{written[label]}' share labels/{label}; "
                f"it holds those of '{record['image']}'",
                stacklevel=2,
            )
        written[label] = record["image"]
        write_atomically(folder / "labels" / label, "".join(f"{line}\n" for line in lines).encode())
    names = class_names(classes)
    write_atomically(folder / "classes.txt", "".join(f"{n}\n" for n in names).encode("utf-8"))
    write_atomically(folder / "data.yaml", _data_yaml(names).encode("utf-8"))


def yolo_line(prediction: dict[str, Any], index: int, width: int, height: int) -> str | None:
    """``class x_center y_center width height``, the box cut to the image, as fractions of
    the image size (Ultralytics drops a labels file with a value outside 0-1)."""
    p = prediction
    x1, x2 = max(p["x"] - p["width"] / 2, 0), min(p["x"] + p["width"] / 2, width)
    y1, y2 = max(p["y"] - p["height"] / 2, 0), min(p["y"] + p["height"] / 2, height)
    if x2 <= x1 or y2 <= y1:  # wholly outside the image
        return None
    box = ((x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height)
    return " ".join([str(index), *(f"{value:.6f}" for value in box)])


def class_names(classes: dict[str, int]) -> list[str]:
    """Names by index; an index no class has (a model without labels that numbers its
    classes) is named by its number, as the model's own results name it."""
    by_index = {index: name for name, index in classes.items()}
    return [by_index.get(i, str(i)) for i in range(max(by_index, default=-1) + 1)]


def _data_yaml(names: list[str]) -> str:
    import yaml

    header = (
        "# Ultralytics dataset file: put the images in images/ beside labels/ (same relative\n"
        "# paths) and set train/val to them to train on these labels.\n"
    )
    listing = yaml.safe_dump(
        {"nc": len(names), "names": dict(enumerate(names))}, allow_unicode=True, sort_keys=False
    )
    return header + listing
