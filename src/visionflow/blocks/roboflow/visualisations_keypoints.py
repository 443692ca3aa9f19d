"""Roboflow's keypoint visualisation: the skeletons of keypoint detections drawn with
supervision's keypoint annotators (edges, vertices, or labelled vertices)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
import supervision as sv
from pydantic import AliasChoices, Field, field_validator

from visionflow.blocks.api import Block, Selector
from visionflow.blocks.roboflow.palettes import colour, known_colour
from visionflow.blocks.roboflow.visualisations import Visualisation
from visionflow.data.detections import KEYPOINTS_CLASS_NAME, KEYPOINTS_CONFIDENCE, KEYPOINTS_XY


class KeypointVisualization(Visualisation):
    """Each detection's keypoints (supervision's EdgeAnnotator, VertexAnnotator or
    VertexLabelAnnotator, as ``annotator_type`` says), in one ``color``.

    ``edges``: the pairs of keypoints joined (numbered from 1, as supervision numbers
    them); none: supervision's skeleton for that many keypoints (COCO's for 17). A keypoint
    at (0, 0) is missing and not drawn."""

    colourable: ClassVar[bool] = False

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/keypoint_visualization@v1", "KeypointVisualization"]
        image: Selector(kinds=["image"]) = Field(validation_alias=AliasChoices("image", "images"))
        predictions: Selector(kinds=["keypoint_detection_prediction"])
        copy_image: Selector(kinds=["boolean"]) | bool = True
        annotator_type: Literal["edge", "vertex", "vertex_label"] = "edge"
        color: Selector(kinds=["string"]) | str = "#A351FB"
        text_color: Selector(kinds=["string"]) | str = "black"
        text_scale: Selector(kinds=["float"]) | float = 0.5
        text_thickness: Selector(kinds=["integer"]) | int = 1
        text_padding: Selector(kinds=["integer"]) | int = 10
        thickness: Selector(kinds=["integer"]) | int = 2
        radius: Selector(kinds=["integer"]) | int = 10
        edges: Selector(kinds=["list_of_values"]) | list[tuple[int, int]] | None = None

        _known_colour = field_validator("color", "text_color")(known_colour)

    def annotator(
        self,
        annotator_type: str,
        color: str,
        text_color: str,
        text_scale: float,
        text_thickness: int,
        text_padding: int,
        thickness: int,
        radius: int,
        edges: list | None,
    ) -> Any:
        if annotator_type == "edge":
            return sv.EdgeAnnotator(color=colour(color), thickness=thickness, edges=edges)
        if annotator_type == "vertex":
            return sv.VertexAnnotator(color=colour(color), radius=radius)
        return sv.VertexLabelAnnotator(  # Roboflow rounds the label's corners by ``radius``
            color=colour(color),
            text_color=colour(text_color),
            text_scale=text_scale,
            text_thickness=text_thickness,
            text_padding=text_padding,
            border_radius=radius,
        )

    def draw(self, scene: np.ndarray, predictions: sv.Detections, **fields: Any) -> np.ndarray:
        if len(predictions) == 0 or KEYPOINTS_XY not in predictions.data:
            return scene  # nothing to draw (supervision's empty key points draw nothing)
        annotator = self.cached_annotator(fields)
        return annotator.annotate(scene=scene, key_points=key_points(predictions))


def key_points(predictions: sv.Detections) -> sv.KeyPoints:
    """The keypoints of ``predictions`` as supervision's KeyPoints (class ids of the
    detections, keypoint names in ``data["class_name"]``)."""
    xy = np.asarray(predictions.data[KEYPOINTS_XY], dtype=np.float32)
    shape = xy.shape[:2]
    confidence = predictions.data.get(KEYPOINTS_CONFIDENCE, np.zeros(shape))
    names = predictions.data.get(KEYPOINTS_CLASS_NAME, np.full(shape, "", dtype=object))
    class_id = predictions.class_id if predictions.class_id is not None else np.zeros(len(xy))
    return sv.KeyPoints(
        xy=xy,
        class_id=np.asarray(class_id, dtype=int),
        keypoint_confidence=np.asarray(confidence, dtype=np.float32),
        data={"class_name": np.asarray(names, dtype=object)},
    )


BLOCKS = [KeypointVisualization]
