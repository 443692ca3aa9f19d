"""COCO detections from a dataset run's per-image predictions."""

from __future__ import annotations

from typing import Any


def coco_detections(images: list[dict[str, Any]], output: str) -> dict[str, Any]:
    """One COCO document for the detection output ``output`` of every image.

    ``images``: per-image prediction records (``image``, ``width``, ``height``, ``outputs``)
    in run order; image ids are 1-based positions, category ids 1-based in name order.
    """
    predictions = [(record, _predictions(record["outputs"].get(output))) for record in images]
    names = sorted({p["class"] or "object" for _, found in predictions for p in found})
    category = {name: position for position, name in enumerate(names, start=1)}
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
        "categories": [{"id": i, "name": name} for name, i in category.items()],
        "annotations": annotations,
    }


def _predictions(value: Any) -> list[dict[str, Any]]:
    # a detection output is {"image": ..., "predictions": [...]}; None when masked out
    if isinstance(value, dict) and isinstance(value.get("predictions"), list):
        return value["predictions"]
    return []
