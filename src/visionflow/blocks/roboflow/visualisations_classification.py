"""Roboflow's classification label visualisation: a whole-image classification written as
labels stacked at an edge (or the centre) of the image, with supervision's LabelAnnotator.

Roboflow lays the labels out by giving each one a pseudo box spanning the image and
letting the annotator place the label at the box's ``text_position``; this module makes
the same boxes, so the labels land on the same pixels.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import supervision as sv
from pydantic import field_validator

from visionflow.blocks.api import Selector
from visionflow.blocks.roboflow.palettes import known_colour
from visionflow.blocks.roboflow.visualisations import (
    ANCHORS,
    LabelVisualization,
    Visualisation,
)

# Roboflow's estimate of one label line: OpenCV's 20-pixel text height scaled, padding
# above and below, the stroke on both sides, and a 5-pixel gap
_TEXT_HEIGHT, _LINE_GAP = 20, 5
# its estimate of a label's width for the CENTER_LEFT / CENTER_RIGHT columns
_CHARACTER_WIDTH = 15


class ClassificationLabelVisualization(Visualisation):
    """A classification's labels on the image (supervision's LabelAnnotator).

    Single-label: the most confident class; multi-label: every predicted class, most
    confident first, stacked at ``text_position`` (at the bottom the most confident is
    lowest). ``text``: the class, its confidence or both."""

    class Manifest(Visualisation.Manifest):
        type: Literal["roboflow_core/classification_label_visualization@v1"]
        predictions: Selector(kinds=["classification_prediction"])
        text: (
            Selector(kinds=["string"]) | Literal["Class", "Confidence", "Class and Confidence"]
        ) = "Class"
        text_position: Selector(kinds=["string"]) | ANCHORS = "TOP_LEFT"
        text_color: Selector(kinds=["string"]) | str = "WHITE"
        text_scale: Selector(kinds=["float"]) | float = 1.0
        text_thickness: Selector(kinds=["integer"]) | int = 1
        text_padding: Selector(kinds=["integer"]) | int = 10
        border_radius: Selector(kinds=["integer"]) | int = 0
        # a field Roboflow's published definitions carry and its manifest does not have:
        # Roboflow ignores it unread (its selector need not point anywhere), so does this
        num_classifications: Any = None

        @field_validator("num_classifications", mode="before")
        @classmethod
        def _ignored(cls, value: Any) -> None:
            return None

        _known_colour = field_validator("text_color")(known_colour)

    annotator = LabelVisualization.annotator  # the same LabelAnnotator from the same fields

    def draw(
        self,
        scene: np.ndarray,
        predictions: dict[str, Any],
        text: str,
        num_classifications: Any = None,
        **style: Any,
    ) -> np.ndarray:
        shown = shown_classes(predictions)
        if not shown:
            self.with_colours(style)  # its colours checked all the same, as they always were
            return scene
        height, width = _predicted_size(predictions, scene)
        boxes, shown = label_boxes(
            shown,
            style["text_position"],
            width,
            height,
            style["text_scale"],
            style["text_padding"],
            style["text_thickness"],
            text,
        )
        pseudo = sv.Detections(
            xyxy=boxes,
            class_id=np.array([entry["class_id"] for entry in shown]),
            confidence=np.array([entry["confidence"] for entry in shown]),
            tracker_id=np.zeros(len(shown), dtype=int),
        )
        labels = [label_text(entry, text) for entry in shown]
        annotator = self.cached_annotator(style)
        return annotator.annotate(scene=scene, detections=pseudo, labels=labels)


def shown_classes(prediction: dict[str, Any]) -> list[dict[str, Any]]:
    """The classes to label, most confident first, each ``{class, class_id, confidence}``:
    a single-label prediction's best class, or a multi-label one's predicted classes."""
    entries = prediction.get("predictions", [])
    if "predicted_classes" not in prediction and isinstance(entries, list):
        # single label: the first of the most confident (a stable sort keeps ties in order)
        return sorted(entries, key=lambda entry: entry["confidence"], reverse=True)[:1]
    # multi-label: Roboflow's entries are {class: {class_id, confidence}}, ours a list
    by_class = (
        entries if isinstance(entries, dict) else {entry["class"]: entry for entry in entries}
    )
    chosen = [
        {"class": name, **{k: by_class[name][k] for k in ("class_id", "confidence")}}
        for name in prediction.get("predicted_classes", [])
    ]
    return sorted(chosen, key=lambda entry: entry["confidence"], reverse=True)


def label_text(entry: dict[str, Any], text: str) -> str:
    if text == "Class":
        return str(entry["class"])
    if text == "Confidence":
        return f"{entry['confidence']:.2f}"
    if text == "Class and Confidence":
        return f"{entry['class']} {entry['confidence']:.2f}"
    raise ValueError(f"text is one of Class, Confidence, Class and Confidence, not {text!r}")


def _predicted_size(prediction: dict[str, Any], scene: np.ndarray) -> tuple[int, int]:
    """The size of the image the model saw (Roboflow's predictions carry it), else the
    scene's."""
    size = prediction.get("image")
    if isinstance(size, dict) and "width" in size and "height" in size:
        return size["height"], size["width"]
    return scene.shape[0], scene.shape[1]


def label_boxes(
    shown: list[dict[str, Any]],
    position: str,
    width: int,
    height: int,
    text_scale: float,
    text_padding: int,
    text_thickness: int,
    text: str,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The pseudo box of each label, and the classes in the order of the boxes.

    Each box spans the image so the annotator's ``position`` anchor puts the label at the
    image's edge, moved one estimated line per label: down from the top, up from the
    bottom (the most confident lowest), or stacked around the middle."""
    line = _TEXT_HEIGHT * text_scale + text_padding * 2 + text_thickness * 2 + _LINE_GAP
    count = len(shown)
    if position.startswith("BOTTOM"):
        shown = shown[::-1]
        boxes = [[0, 0, width, height - (line + i * line)] for i in range(count)]
    elif position.startswith("TOP"):
        boxes = [[0, line + i * line, width, height] for i in range(count)]
    else:
        top = max(0, min((height - line * count) / 2, height - line * count))
        left, right = 0.0, float(width)
        longest = max(len(label_text(entry, text)) for entry in shown)
        label_width = longest * _CHARACTER_WIDTH * text_scale + text_padding * 2
        margin = 20 + max(0, 10 - text_padding) * 3
        if position == "CENTER_LEFT":  # the box starts right of the widest label
            left = label_width + margin
        elif position == "CENTER_RIGHT":
            right = width - (label_width + margin)
        boxes = [[left, top + i * line, right, top + (i + 1) * line] for i in range(count)]
    return np.array(boxes, dtype=float), shown


BLOCKS = [ClassificationLabelVisualization]
