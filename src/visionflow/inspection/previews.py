"""What the page shows of a step's outputs, made while recording and kept small.

Only the first few elements of each step are previewed, and images are downscaled and
JPEG-encoded at once, so that inspecting a large batch holds no full image.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import numpy as np

from visionflow.compiler.plan import Source, StepPlan
from visionflow.data.image import WorkflowImage
from visionflow.engine.state import MISSING, Index, RunState
from visionflow.engine.step_runner import StepResult

PREVIEWED_ELEMENTS = 3  # elements previewed per step call
THUMBNAIL_SIDE = 160  # pixels, the longer side
JSON_CHARS = 240  # a value's JSON is cut after this many characters
BOX_COLOUR = (40, 200, 255)  # BGR


@dataclass
class OutputPreview:
    """One output of one element: a thumbnail (a ``data:image/jpeg`` URL), detections
    (count, classes, drawn on the step's input image when it has one) or short JSON."""

    name: str
    kind: str  # "image", "detections" or "value"
    thumbnail: str | None = None
    count: int | None = None
    classes: list[str] = field(default_factory=list)
    text: str = ""


@dataclass
class Preview:
    """The outputs of one element a step ran for."""

    index: Index
    outputs: list[OutputPreview]


def element_previews(step: StepPlan, state: RunState, result: StepResult, limit: int):
    """Previews of the first ``limit`` elements ``step`` made something for."""
    if result.decisions is not None:
        return [
            Preview(index, [OutputPreview("next_steps", "value", text=_json(sorted(chosen)))])
            for index, chosen in islice(result.decisions.items(), limit)
        ]
    previews = []
    for index, row in islice(result.rows.items(), limit):
        image = _input_image(step, state, index)
        outputs = [_preview(name, value, image) for name, value in row.items()]
        previews.append(Preview(index, outputs))
    return previews


def _preview(name: str, value: Any, image: WorkflowImage | None) -> OutputPreview:
    import supervision as sv

    if isinstance(value, WorkflowImage):
        return OutputPreview(name, "image", thumbnail=thumbnail(value.numpy), text=_size(value))
    if isinstance(value, sv.Detections):
        from visionflow.data.detections import class_names

        classes = sorted(set(class_names(value)))
        drawn = _drawn(image, value) if image is not None else None
        return OutputPreview(name, "detections", drawn, len(value), classes)
    return OutputPreview(name, "value", text=_json(value))


def thumbnail(pixels: np.ndarray, boxes: np.ndarray | None = None) -> str:
    """A BGR image downscaled to ``THUMBNAIL_SIDE`` as a JPEG data URL (``boxes``: xyxy in
    the image's pixels, drawn on it)."""
    import cv2

    height, width = pixels.shape[:2]
    scale = min(1.0, THUMBNAIL_SIDE / max(height, width, 1))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
    for x1, y1, x2, y2 in [] if boxes is None else (boxes * scale).round().astype(int):
        cv2.rectangle(small, (int(x1), int(y1)), (int(x2), int(y2)), BOX_COLOUR, 2)
    ok, encoded = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 75])
    if not ok:
        return ""
    return "data:image/jpeg;base64," + base64.b64encode(encoded.tobytes()).decode("ascii")


def _drawn(image: WorkflowImage, detections: Any) -> str:
    return thumbnail(image.numpy, np.asarray(detections.xyxy, dtype=float).reshape(-1, 4))


def _input_image(step: StepPlan, state: RunState, index: Index) -> WorkflowImage | None:
    """The first image the step was given for ``index`` (where its detections are)."""
    for source in _sources(step):
        if source.dimensionality > len(index):
            continue
        value = state.value_at(source, index)
        if isinstance(value, WorkflowImage):
            return value
    return None


def _sources(step: StepPlan) -> list[Source]:
    if step.plain_sources is not None:
        return [source for _, source, _ in step.plain_sources]
    return [b.selector.source for b in step.column_fields if b.selector is not None]


def _size(image: WorkflowImage) -> str:
    return f"{image.width}x{image.height}"


def _json(value: Any) -> str:
    text = json.dumps(_short(value, 2), ensure_ascii=False, default=str)
    return text if len(text) <= JSON_CHARS else text[: JSON_CHARS - 1] + "…"


def _short(value: Any, depth: int) -> Any:
    """``value`` made JSON-ready and small: images and detections named, not written
    out; at most 8 items of a list or dict, two levels deep."""
    import supervision as sv

    if value is MISSING or value is None or isinstance(value, bool | int | float | str):
        return None if value is MISSING else value
    if isinstance(value, WorkflowImage):
        return f"<image {_size(value)}>"
    if isinstance(value, sv.Detections):
        return f"<{len(value)} detections>"
    if isinstance(value, np.ndarray):
        return value.tolist() if value.size <= 8 else f"<array {list(value.shape)}>"
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        if depth == 0:
            return f"<{len(value)} keys>"
        return {str(k): _short(v, depth - 1) for k, v in islice(value.items(), 8)}
    if isinstance(value, list | tuple):
        if depth == 0:
            return f"<{len(value)} items>"
        return [_short(v, depth - 1) for v in islice(value, 8)]
    return str(value)
