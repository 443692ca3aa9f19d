"""COCO detections from a dataset run's per-image predictions."""

from __future__ import annotations

from typing import Any


def coco_detections(images: list[dict[str, Any]], output: str) -> dict[str, Any]:
    """One COCO document for the detection output ``output`` of every image.

    ``images``: per-image prediction records (``image``, ``width``, ``height``, ``outputs``)
    in run order; image ids are 1-based positions. Category ids are the model's class ids + 1
    when every detection carries one (the same in every run of the model), else 1-based in
    name order.
    """
    predictions = [(record, _predictions(record["outputs"].get(output))) for record in images]
    category = _categories([p for _, found in predictions for p in found])
    annotations = []
    for image_id, (_record, found) in enumerate(predictions, start=1):
        for p in found:
            x, y = p["x"] - p["width"] / 2, p["y"] - p["height"] / 2
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": category[p["class"] or "object"],
                    "bbox": [round(x, 2), round(y, 2), round(p["width"], 2), round(p["height"], 2)],
                    "area": round(p["width"] * p["height"], 2),
                    "score": p["confidence"],
                    "iscrowd": 0,
                }
            )
    return {
        "images": [
            {"id": i, "file_name": r["image"], "width": r["width"], "height": r["height"]}
            for i, r in enumerate(images, start=1)
        ],
        "categories": [{"id": i, "name": name} for name, i in sorted(category.items(), key=_id)],
        "annotations": annotations,
    }


def holds_detections(value: Any) -> bool:
    """Whether a serialised output value is detections (boxes with centre and size)."""
    return (
        isinstance(value, dict)
        and isinstance(value.get("predictions"), list)
        and all(
            isinstance(p, dict) and {"x", "y", "width", "height"} <= set(p)
            for p in value["predictions"]
        )
    )


def _predictions(value: Any) -> list[dict[str, Any]]:
    # a detection output is {"image": ..., "predictions": [...]}; None when masked out
    if isinstance(value, dict) and isinstance(value.get("predictions"), list):
        return value["predictions"]
    return []


def _categories(found: list[dict[str, Any]]) -> dict[str, int]:
    pairs = {(p["class"] or "object", p.get("class_id")) for p in found}
    names = {name for name, _ in pairs}
    ids = {class_id for _, class_id in pairs}
    usable = all(isinstance(i, int) and i >= 0 for i in ids) and len(ids) == len(names) == len(
        pairs
    )
    if usable:  # one id per name and one name per id
        return {name: class_id + 1 for name, class_id in pairs}
    return {name: position for position, name in enumerate(sorted(names), start=1)}


def _id(item: tuple[str, int]) -> int:
    return item[1]
