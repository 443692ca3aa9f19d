"""The built-in functions a ``FunctionCall`` step may name without custom code.

Each is a plain Python function over the values blocks exchange (``WorkflowImage``,
``supervision.Detections``, classification dicts, lists). They reuse the core blocks'
logic, so a functional workflow crops and merges exactly as a native one does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from visionflow.data.image import WorkflowImage


def crop(image: WorkflowImage, box: list[int]) -> WorkflowImage:
    """The region ``[x_min, y_min, x_max, y_max]`` of an image (in pixels)."""
    if not isinstance(box, list | tuple) or len(box) != 4:
        raise ValueError(f"crop takes a box [x_min, y_min, x_max, y_max], got {box!r}")
    return image.crop(*(round(value) for value in box))


def crops(image: WorkflowImage, detections: Any) -> list[WorkflowImage]:
    """One crop per detected box, each remembering where it sits in the image."""
    from visionflow.blocks.core.crops import DynamicCrop

    return [item["crops"] for item in DynamicCrop().run(image, detections)]


def person_regions(image: WorkflowImage, detections: Any, scale: float = 1.25) -> list:
    """One square region per detected person, framed as MediaPipe's landmark model wants."""
    from visionflow.blocks.core.regions import PersonRegionCrop

    return [item["crops"] for item in PersonRegionCrop().run(image, detections, scale=scale)]


def top_class(classification: dict | None) -> str | None:
    """The name of the most likely class of a classification."""
    return None if classification is None else classification.get("top")


def consensus(classifications: list, method: str = "average") -> dict | None:
    """One classification merged from several classifiers' (matched by class name)."""
    from visionflow.blocks.core.consensus import ClassificationConsensus

    if not isinstance(classifications, list):
        raise ValueError("consensus takes a list of classifications (e.g. from an ensemble)")
    merged = ClassificationConsensus().run(classifications, method=method, weights=None)
    return merged["predictions"]


def count(values: Any) -> int:
    """How many items a list (or detections) holds."""
    return len(values)


def get(container: Any, key: Any) -> Any:
    """An item of a dict (by key) or of a list (by position)."""
    return container[key]


def zip_lists(*lists: list) -> list[list]:
    """The lists' items side by side: ``[[a1, b1], [a2, b2], ...]`` (equal lengths)."""
    return [list(items) for items in zip(*lists, strict=True)]


def collect(*values: Any) -> list:
    """Its arguments as one list (what an ensemble returns)."""
    return list(values)


BUILTIN_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "crop": crop,
    "crops": crops,
    "personRegions": person_regions,
    "topClass": top_class,
    "consensus": consensus,
    "count": count,
    "get": get,
    "zip": zip_lists,
    "collect": collect,
}
"""Name in a document -> function. Only these run where custom code is not allowed."""
