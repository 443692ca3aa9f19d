"""COCO detections from a dataset run's per-image predictions."""

from __future__ import annotations

from typing import Any

from visionflow.datasets.classes import class_of


def coco_detections(
    images: list[dict[str, Any]], output: str, classes: dict[str, int]
) -> dict[str, Any]:
    """One COCO document for the detection output ``output`` of every image.

    ``images``: per-image prediction records (``image``, ``width``, ``height``, ``outputs``)
    in run order; image ids are 1-based positions. ``classes``: class name -> 0-based index
    (``classes.class_indices``); every one is a category, id = index + 1, found or not.
    A detection with a mask outline (``points``) gets it as its ``segmentation`` polygon.
    """
    annotations = []
    for image_id, record in enumerate(images, start=1):
        size = (record["width"], record["height"])
        for p in predictions_of(record["outputs"].get(output), size):
            annotations.append(
                {"id": len(annotations) + 1, "image_id": image_id, **_annotation(p, classes)}
            )
    return {
        "images": [
            {"id": i, "file_name": r["image"], "width": r["width"], "height": r["height"]}
            for i, r in enumerate(images, start=1)
        ],
        "categories": [
            {"id": index + 1, "name": name}
            for name, index in sorted(classes.items(), key=lambda item: item[1])
        ],
        "annotations": annotations,
    }


def _annotation(p: dict[str, Any], classes: dict[str, int]) -> dict[str, Any]:
    x, y = p["x"] - p["width"] / 2, p["y"] - p["height"] / 2
    annotation = {
        "category_id": classes[class_of(p)] + 1,
        "bbox": [round(x, 2), round(y, 2), round(p["width"], 2), round(p["height"], 2)],
        "area": round(p["width"] * p["height"], 2),
        "score": p["confidence"],
        "iscrowd": 0,
    }
    if len(p.get("points") or ()) >= 3:
        flat = [round(c, 2) for point in p["points"] for c in (point["x"], point["y"])]
        annotation["segmentation"] = [flat]
    return annotation


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


def predictions_of(value: Any, size: tuple[int, int] | None = None) -> list[dict[str, Any]]:
    """The detections of one image's output value (none when masked out or not one); a list
    of them (detections on each crop of the image) gives all. With ``size`` (the image's
    width and height), only those in the image's coordinates: not those of an output
    given in a crop's own (``coordinates_system: own``), which would land elsewhere."""
    if isinstance(value, list):
        return [p for item in value for p in predictions_of(item, size)]
    if not holds_detections(value):
        return []
    frame = value.get("image")
    shape = (frame.get("width"), frame.get("height")) if isinstance(frame, dict) else None
    if size is not None and shape is not None and None not in shape and shape != size:
        return []
    return value["predictions"]
