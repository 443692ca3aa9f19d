"""Roboflow's visualisation blocks: supervision's annotators under Roboflow's names.

Every block is one supervision annotator made from the step's fields; a shared manifest
holds the fields all of Roboflow's colourable visualisations have (palette, size, custom
colours, colour axis), and ``copy_image`` decides whether the annotator draws on a copy
(the input image untouched) or on the input's own pixels, as Roboflow does.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, ClassVar, Literal

import cv2
import numpy as np
import supervision as sv
from pydantic import AliasChoices, Field, field_validator
from supervision.detection.compact_mask import CompactMask

from visionflow.blocks.api import Block, Output, Selector
from visionflow.blocks.core.crops import DETECTION_KINDS
from visionflow.blocks.roboflow.palettes import PALETTES, colour, known_colour, palette
from visionflow.data.image import WorkflowImage
from visionflow.selectors import looks_like_selector

SEGMENTATION_KINDS = ["instance_segmentation_prediction"]

# supervision's anchors of a box (sv.Position), as Roboflow's blocks name them
ANCHORS = Literal[
    "CENTER",
    "CENTER_LEFT",
    "CENTER_RIGHT",
    "TOP_CENTER",
    "TOP_LEFT",
    "TOP_RIGHT",
    "BOTTOM_LEFT",
    "BOTTOM_CENTER",
    "BOTTOM_RIGHT",
]
POSITIONS = Literal[ANCHORS, "CENTER_OF_MASS"]
ZeroToOne = Annotated[float, Field(ge=0, le=1)]


class Visualisation(Block):
    """The shared part of Roboflow's colourable visualisations: draw ``predictions`` on
    ``image`` with the block's ``annotator`` (built from the step's fields)."""

    colourable: ClassVar[bool] = True

    class Manifest(Block.Manifest):
        image: Selector(kinds=["image"]) = Field(validation_alias=AliasChoices("image", "images"))
        predictions: Selector(kinds=DETECTION_KINDS)
        copy_image: Selector(kinds=["boolean"]) | bool = True
        color_palette: Selector(kinds=["string"]) | PALETTES = "DEFAULT"
        palette_size: Selector(kinds=["integer"]) | int = 10
        custom_colors: Selector(kinds=["list_of_values"]) | list[str] = []
        color_axis: Selector(kinds=["string"]) | Literal["INDEX", "CLASS", "TRACK"] = "CLASS"

        @field_validator("custom_colors")
        @classmethod
        def _known_colours(cls, value: Any) -> Any:
            if not looks_like_selector(value):
                for text in value:
                    colour(text)  # raises ValueError, reported under the field's name
            return value

    outputs = [Output("image", kinds=["image"])]

    def __init__(self, **init_parameters: Any):
        super().__init__(**init_parameters)
        self._annotators: dict[tuple, Any] = {}  # see cached_annotator

    def annotator(self, **fields: Any) -> Any:
        raise TypeError(f"visualisation {type(self).__name__} does not define annotator()")

    def with_colours(self, fields: dict[str, Any]) -> dict[str, Any]:
        """``fields`` with Roboflow's palette fields (``color_palette``, ``palette_size``,
        ``custom_colors``, ``color_axis``) as supervision's ``color`` and ``color_lookup``
        (a block that is not ``colourable``: as they are)."""
        if not self.colourable:
            return fields
        fields = dict(fields)
        fields["color"] = palette(
            fields.pop("color_palette"), fields.pop("palette_size"), fields.pop("custom_colors")
        )
        fields["color_lookup"] = sv.ColorLookup[fields.pop("color_axis")]
        return fields

    def cached_annotator(self, fields: dict[str, Any]) -> Any:
        """``annotator(**with_colours(fields))``, built once per step and distinct field
        values: the annotators keep only their settings between calls, and some cost more
        to build than to draw with (a font to load); a step's fields rarely change between
        runs. Found by the fields as given (before any palette is made), so that a repeated
        call costs one dict lookup, well under the microsecond."""
        cache = self._annotators
        key = (*fields, *fields.values())  # the names, then the values
        try:
            annotator = cache.get(key)
        except TypeError:  # a list among the values: compared as a tuple
            try:
                key = tuple([(name, _hashable(value)) for name, value in fields.items()])
            except TypeError:  # a value that cannot be a key at all: built afresh
                return self.annotator(**self.with_colours(fields))
            annotator = cache.get(key)
        if annotator is None:
            if len(cache) >= _ANNOTATORS_KEPT:  # fields from parameters may keep changing
                cache.clear()
            annotator = cache[key] = self.annotator(**self.with_colours(fields))
        return annotator

    def draw(self, scene: np.ndarray, predictions: sv.Detections, **fields: Any) -> np.ndarray:
        """``scene`` with ``predictions`` drawn on it (the annotator draws in place)."""
        return self.cached_annotator(fields).annotate(scene=scene, detections=predictions)

    def run(
        self, image: WorkflowImage, predictions: sv.Detections, copy_image: bool, **fields: Any
    ) -> dict[str, Any]:
        if self.colourable:  # the one list these steps have, a tuple: a key without more ado
            fields["custom_colors"] = tuple(fields["custom_colors"])
        scene = image.numpy
        if copy_image or not _drawable_in_place(scene):
            scene = scene.copy()
        if type(self).draw is Visualisation.draw:  # the annotator alone: no fields repacked
            drawn = self.cached_annotator(fields).annotate(scene=scene, detections=predictions)
        else:
            drawn = self.draw(scene, predictions, **fields)
        # the same image (id, origin, place) with new pixels, as Roboflow's copy_and_replace
        return {"image": image.with_pixels(drawn)}


_ANNOTATORS_KEPT = 16


def _hashable(value: Any) -> Any:
    """A field value as part of a cache key: lists (and lists in lists) as tuples."""
    if isinstance(value, list | tuple):
        return tuple(_hashable(item) for item in value)
    hash(value)  # raises TypeError for anything else that cannot be a key
    return value


def _drawable_in_place(pixels: np.ndarray) -> bool:
    """Whether OpenCV can draw on these very pixels: writable, each row's pixels in order
    (a crop's view is; a reversed-channels view such as ``rgb[:, :, ::-1]`` is not, and is
    drawn on a copy rather than failing)."""
    return pixels.flags.writeable and pixels.strides[1:] == (3, 1) and pixels.strides[0] > 0


class BoundingBoxVisualization(Visualisation):
    """A box around each detection (supervision's BoxAnnotator).

    With ``roundness`` > 0, boxes with rounded corners (supervision's RoundBoxAnnotator)."""

    class Manifest(Visualisation.Manifest):
        type: Literal["roboflow_core/bounding_box_visualization@v1", "BoundingBoxVisualization"]
        thickness: Selector(kinds=["integer"]) | int = 2
        roundness: Selector(kinds=["float_zero_to_one"]) | ZeroToOne = 0.0

    def annotator(self, thickness: int, roundness: float, **colours: Any) -> Any:
        if roundness == 0:
            return sv.BoxAnnotator(thickness=thickness, **colours)
        return sv.RoundBoxAnnotator(thickness=thickness, roundness=roundness, **colours)


class MaskVisualization(Visualisation):
    """Instance masks filled with their colour at ``opacity`` (supervision's MaskAnnotator)."""

    class Manifest(Visualisation.Manifest):
        type: Literal["roboflow_core/mask_visualization@v1", "MaskVisualization"]
        predictions: Selector(kinds=SEGMENTATION_KINDS)
        opacity: Selector(kinds=["float_zero_to_one"]) | ZeroToOne = 0.5

    def annotator(self, opacity: float, **colours: Any) -> Any:
        return sv.MaskAnnotator(opacity=opacity, **colours)


class CircleVisualization(Visualisation):
    """A circle around each box (supervision's CircleAnnotator)."""

    class Manifest(Visualisation.Manifest):
        type: Literal["roboflow_core/circle_visualization@v1", "CircleVisualization"]
        thickness: Selector(kinds=["integer"]) | int = 2

    def annotator(self, thickness: int, **colours: Any) -> Any:
        return sv.CircleAnnotator(thickness=thickness, **colours)


class DotVisualization(Visualisation):
    """A dot at a point of each box (supervision's DotAnnotator)."""

    class Manifest(Visualisation.Manifest):
        type: Literal["roboflow_core/dot_visualization@v1", "DotVisualization"]
        position: Selector(kinds=["string"]) | POSITIONS = "CENTER"
        radius: Selector(kinds=["integer"]) | int = 4
        outline_thickness: Selector(kinds=["integer"]) | int = 0

    def annotator(self, position: str, radius: int, outline_thickness: int, **colours: Any):
        return sv.DotAnnotator(
            position=sv.Position[position],
            radius=radius,
            outline_thickness=outline_thickness,
            **colours,
        )


class EllipseVisualization(Visualisation):
    """An arc of an ellipse under each box (supervision's EllipseAnnotator)."""

    class Manifest(Visualisation.Manifest):
        type: Literal["roboflow_core/ellipse_visualization@v1", "EllipseVisualization"]
        thickness: Selector(kinds=["integer"]) | int = 2
        start_angle: Selector(kinds=["integer"]) | int = -45
        end_angle: Selector(kinds=["integer"]) | int = 235

    def annotator(self, thickness: int, start_angle: int, end_angle: int, **colours: Any):
        return sv.EllipseAnnotator(
            thickness=thickness, start_angle=start_angle, end_angle=end_angle, **colours
        )


class CornerVisualization(Visualisation):
    """The corners of each box (supervision's BoxCornerAnnotator)."""

    class Manifest(Visualisation.Manifest):
        type: Literal["roboflow_core/corner_visualization@v1", "CornerVisualization"]
        thickness: Selector(kinds=["integer"]) | int = 4
        corner_length: Selector(kinds=["integer"]) | int = 15

    def annotator(self, thickness: int, corner_length: int, **colours: Any) -> Any:
        return sv.BoxCornerAnnotator(thickness=thickness, corner_length=corner_length, **colours)


class TriangleVisualization(Visualisation):
    """A triangle marker at a point of each box (supervision's TriangleAnnotator)."""

    class Manifest(Visualisation.Manifest):
        type: Literal["roboflow_core/triangle_visualization@v1", "TriangleVisualization"]
        position: Selector(kinds=["string"]) | POSITIONS = "TOP_CENTER"
        base: Selector(kinds=["integer"]) | int = 10
        height: Selector(kinds=["integer"]) | int = 10
        outline_thickness: Selector(kinds=["integer"]) | int = 0

    def annotator(
        self, position: str, base: int, height: int, outline_thickness: int, **colours: Any
    ) -> Any:
        return sv.TriangleAnnotator(
            position=sv.Position[position],
            base=base,
            height=height,
            outline_thickness=outline_thickness,
            **colours,
        )


class ColorVisualization(Visualisation):
    """Each box filled with its colour at ``opacity`` (supervision's ColorAnnotator)."""

    class Manifest(Visualisation.Manifest):
        type: Literal["roboflow_core/color_visualization@v1", "ColorVisualization"]
        opacity: Selector(kinds=["float_zero_to_one"]) | ZeroToOne = 0.5

    def annotator(self, opacity: float, **colours: Any) -> Any:
        return sv.ColorAnnotator(opacity=opacity, **colours)


class PixelateVisualization(Visualisation):
    """Each box pixelated (supervision's PixelateAnnotator), in squares of ``pixel_size``.

    No colours, so none of the palette fields."""

    colourable = False

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/pixelate_visualization@v1", "PixelateVisualization"]
        image: Selector(kinds=["image"]) = Field(validation_alias=AliasChoices("image", "images"))
        predictions: Selector(kinds=DETECTION_KINDS)
        copy_image: Selector(kinds=["boolean"]) | bool = True
        pixel_size: Selector(kinds=["integer"]) | int = 20

    def annotator(self, pixel_size: int) -> Any:
        return sv.PixelateAnnotator(pixel_size=pixel_size)


LABEL_TEXTS = Literal[
    "Class",
    "Confidence",
    "Class and Confidence",
    "Index",
    "Dimensions",
    "Area",
    "Area (mask)",
    "Area (converted)",
    "Tracker Id",
    "Time In Zone",
]
# Roboflow's "Automatic" text size: scale 0.7 at a 1080-pixel short side, in proportion
_REFERENCE_SIDE, _REFERENCE_SCALE, _SCALE_RANGE = 1080, 0.7, (0.3, 5.0)


def label_texts(predictions: sv.Detections, text: str) -> Any:
    """The label of each detection for Roboflow's ``text`` option; any other ``text`` names
    a field of the detections' data whose values are the labels (empty where falsy)."""
    confidences = predictions.confidence
    if text == "Class":
        return predictions["class_name"]
    if text == "Confidence":
        return [f"{c:.2f}" for c in confidences]
    if text == "Class and Confidence":
        names = predictions["class_name"]
        if names is None:
            return [f"{c:.2f}" for c in confidences]
        return [f"{name} {c:.2f}" for name, c in zip(names, confidences, strict=True)]
    if text == "Index":
        return [str(i) for i in range(len(predictions))]
    if text == "Dimensions":
        return [_dimensions(box) for box in predictions.xyxy]
    if text == "Area":
        return [str(int(area)) for area in predictions.area]
    if text == "Tracker Id":
        ids = predictions.tracker_id
        if ids is None:
            return ["No Tracker ID"] * len(predictions)
        return [str(t) if t is not None else "No Tracker ID" for t in ids]
    optional = {  # option: (data field, label prefix, how a value is written)
        "Time In Zone": ("time_in_zone", "In zone: ", lambda t: f"{round(t, 2)}s"),
        "Area (mask)": ("area_px", "Area (mask): ", lambda a: f"{a:.2f}"),
        "Area (converted)": ("area_converted", "Area (conv): ", lambda a: f"{a:.2f}"),
    }
    if text in optional:
        key, prefix, write = optional[text]
        values = predictions.data.get(key, [None] * len(predictions))
        # Roboflow writes N/A for a missing time in zone and for a zero one alike
        missing = (lambda v: not v) if key == "time_in_zone" else (lambda v: v is None)
        return [prefix + ("N/A" if missing(v) else write(v)) for v in values]
    if text not in predictions.data:
        raise ValueError(f"the detections have no field {text!r} to write as labels")
    return [str(value) if value else "" for value in predictions.data[text]]


def _dimensions(box: np.ndarray) -> str:
    x1, y1, x2, y2 = box
    return f"{int((x1 + x2) / 2)}, {int((y1 + y2) / 2)} {int(x2 - x1)}x{int(y2 - y1)}"


def automatic_text_scale(scale: float, height: int, width: int) -> float:
    """Roboflow's "Automatic" size: ``scale`` relative to 0.7 at a 1080-pixel short side."""
    # in Roboflow's order of operations, so the float is the very same
    scaled = _REFERENCE_SCALE * (min(height, width) / _REFERENCE_SIDE) * (scale / _REFERENCE_SCALE)
    return max(_SCALE_RANGE[0], min(_SCALE_RANGE[1], scaled))


class LabelVisualization(Visualisation):
    """A text label on each detection (supervision's LabelAnnotator).

    The text is the detection's class, confidence, index, size, area, tracker id, time in
    zone, or a field of its data (a string selector naming it). v2's ``text_size_mode``
    "Automatic" makes ``text_scale`` relative to the image's size."""

    class Manifest(Visualisation.Manifest):
        type: Literal[
            "roboflow_core/label_visualization@v1",
            "LabelVisualization",
            "roboflow_core/label_visualization@v2",
        ]
        text: Selector(kinds=["string"]) | LABEL_TEXTS = "Class"
        text_position: Selector(kinds=["string"]) | POSITIONS = "TOP_LEFT"
        text_color: Selector(kinds=["string"]) | str = "WHITE"
        text_size_mode: Selector(kinds=["string"]) | Literal["Manual", "Automatic"] = "Manual"
        text_scale: Selector(kinds=["float"]) | float = 1.0
        text_thickness: Selector(kinds=["integer"]) | int = 1
        text_padding: Selector(kinds=["integer"]) | int = 10
        border_radius: Selector(kinds=["integer"]) | int = 0

        _known_colour = field_validator("text_color")(known_colour)

    def draw(
        self,
        scene: np.ndarray,
        predictions: sv.Detections,
        text: str,
        text_position: str,
        text_color: str,
        text_size_mode: str,
        text_scale: float,
        **style: Any,
    ) -> np.ndarray:
        if len(predictions) == 0:  # nothing to label (Roboflow builds no labels either)
            self.with_colours(style)  # its colours checked all the same, as they always were
            return scene
        if text_size_mode == "Automatic":
            text_scale = automatic_text_scale(text_scale, *scene.shape[:2])
        style.update(text_position=text_position, text_color=text_color, text_scale=text_scale)
        annotator = self.cached_annotator(style)
        labels = label_texts(predictions, text)
        return annotator.annotate(scene=scene, detections=predictions, labels=labels)

    def annotator(self, text_position: str, text_color: str, **style: Any) -> Any:
        return sv.LabelAnnotator(
            text_position=sv.Position[text_position], text_color=colour(text_color), **style
        )


class PolygonVisualizationV2(Visualisation):
    """The outline of each instance mask (supervision's PolygonAnnotator)."""

    class Manifest(Visualisation.Manifest):
        type: Literal["roboflow_core/polygon_visualization@v2"]
        predictions: Selector(kinds=SEGMENTATION_KINDS)
        thickness: Selector(kinds=["integer"]) | int = 2

    def annotator(self, thickness: int, **colours: Any) -> Any:
        return sv.PolygonAnnotator(thickness=thickness, **colours)


class PolygonVisualization(PolygonVisualizationV2):
    """The outline of each instance mask inside its box (supervision's PolygonAnnotator).

    Roboflow's v1 traces each mask cut to its box (integer corners, the right and bottom
    edges excluded); v2 traces the whole mask."""

    class Manifest(PolygonVisualizationV2.Manifest):
        type: Literal["roboflow_core/polygon_visualization@v1", "PolygonVisualization"]

    def draw(self, scene: np.ndarray, predictions: sv.Detections, **fields: Any) -> np.ndarray:
        return super().draw(scene, _masks_in_boxes(predictions, scene), **fields)


def _masks_in_boxes(predictions: sv.Detections, scene: np.ndarray) -> sv.Detections:
    """``predictions`` with each mask cut to its box, as Roboflow traces outlines: only the
    box's pixels (integer corners, right and bottom edges excluded). supervision's compact
    masks hold exactly such crops (its boxes include their right and bottom edges: -1)."""
    if predictions.mask is None or len(predictions) == 0:
        return predictions
    boxes = predictions.xyxy.astype(int) - np.array([0, 0, 1, 1])
    cut = copy.copy(predictions)
    cut.mask = CompactMask.from_dense(np.asarray(predictions.mask), boxes, scene.shape[:2])
    return cut


class HaloVisualization(Visualisation):
    """A soft glow of each mask's colour around it (supervision's HaloAnnotator)."""

    class Manifest(Visualisation.Manifest):
        # v1 (and its alias HaloVisualization) draws Roboflow's own older halo, not
        # supervision's: see visualisations_overlays.HaloVisualizationV1
        type: Literal["roboflow_core/halo_visualization@v2"]
        predictions: Selector(kinds=SEGMENTATION_KINDS)
        opacity: Selector(kinds=["float_zero_to_one"]) | ZeroToOne = 0.8
        kernel_size: Selector(kinds=["integer"]) | int = 40

    def annotator(self, opacity: float, kernel_size: int, **colours: Any) -> Any:
        return sv.HaloAnnotator(opacity=opacity, kernel_size=kernel_size, **colours)


class CropVisualization(Visualisation):
    """Each detection's crop, scaled and framed, drawn beside it (supervision's CropAnnotator).

    The crop is scaled by ``scale_factor`` and drawn at ``position`` of its box; the palette
    colours its frame."""

    class Manifest(Visualisation.Manifest):
        type: Literal["roboflow_core/crop_visualization@v1", "CropVisualization"]
        position: Selector(kinds=["string"]) | POSITIONS = "TOP_CENTER"
        scale_factor: Selector(kinds=["float"]) | float = 2.0
        border_thickness: Selector(kinds=["integer"]) | int = 2

    def annotator(
        self,
        position: str,
        scale_factor: float,
        border_thickness: int,
        color: sv.ColorPalette,
        color_lookup: sv.ColorLookup,
    ) -> Any:
        return sv.CropAnnotator(
            position=sv.Position[position],
            scale_factor=scale_factor,
            border_thickness=border_thickness,
            border_color=color,
            border_color_lookup=color_lookup,
        )


class BackgroundColorVisualization(Visualisation):
    """The background blended towards a colour (supervision's BackgroundOverlayAnnotator).

    Everything outside the detections (their masks, else their boxes) is blended towards
    ``color`` by ``opacity``."""

    colourable = False

    class Manifest(Block.Manifest):
        type: Literal[
            "roboflow_core/background_color_visualization@v1", "BackgroundColorVisualization"
        ]
        image: Selector(kinds=["image"]) = Field(validation_alias=AliasChoices("image", "images"))
        predictions: Selector(kinds=DETECTION_KINDS)
        copy_image: Selector(kinds=["boolean"]) | bool = True
        color: Selector(kinds=["string"]) | str = "BLACK"
        opacity: Selector(kinds=["float_zero_to_one"]) | ZeroToOne = 0.5

        _known_colour = field_validator("color")(known_colour)

    def annotator(self, color: str, opacity: float) -> Any:
        return sv.BackgroundOverlayAnnotator(color=colour(color), opacity=opacity)


class BlurVisualization(Visualisation):
    """Each detection blurred (supervision's BlurAnnotator, a ``kernel_size`` box filter).

    Without masks, each box grown by ``padding`` on every side is blurred; with masks, only
    the mask's pixels (grown by ``padding``), blurred over the region that holds the box and
    the mask, as Roboflow's block does."""

    colourable = False

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/blur_visualization@v1", "BlurVisualization"]
        image: Selector(kinds=["image"]) = Field(validation_alias=AliasChoices("image", "images"))
        predictions: Selector(kinds=DETECTION_KINDS)
        copy_image: Selector(kinds=["boolean"]) | bool = True
        kernel_size: Selector(kinds=["integer"]) | Annotated[int, Field(ge=1)] = 15
        padding: Selector(kinds=["integer"]) | Annotated[int, Field(ge=0)] = 0

    def annotator(self, kernel_size: int) -> Any:
        return sv.BlurAnnotator(kernel_size=kernel_size)

    def draw(
        self, scene: np.ndarray, predictions: sv.Detections, kernel_size: int, padding: int
    ) -> np.ndarray:
        blur = self.cached_annotator({"kernel_size": kernel_size})
        if predictions.mask is None:
            if not padding:  # the boxes as they are (the annotator reads only the boxes)
                return blur.annotate(scene=scene, detections=predictions)
            grown = predictions.xyxy + np.array([-1.0, -1.0, 1.0, 1.0]) * padding
            return blur.annotate(scene=scene, detections=sv.Detections(xyxy=grown))
        height, width = scene.shape[:2]
        boxes = sv.clip_boxes(predictions.xyxy, (width, height)).astype(int)
        for box, mask in zip(boxes, predictions.mask, strict=True):
            _blur_inside(scene, blur, box, np.asarray(mask, dtype=bool), padding)
        return scene


def _blur_inside(
    scene: np.ndarray, blur: Any, box: np.ndarray, mask: np.ndarray, padding: int
) -> None:
    """Blur (in place) the pixels of ``mask`` grown by ``padding``; the blur runs over the
    region that holds the box and the mask, grown by ``padding`` (its edges shape it)."""
    rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return
    height, width = scene.shape[:2]
    x1 = max(min(box[0], columns[0]) - padding, 0)
    y1 = max(min(box[1], rows[0]) - padding, 0)
    x2 = min(max(box[2], columns[-1] + 1) + padding, width)
    y2 = min(max(box[3], rows[-1] + 1) + padding, height)
    if x2 <= x1 or y2 <= y1:
        return
    inside = mask[y1:y2, x1:x2]
    if padding > 0:
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * padding + 1, 2 * padding + 1))
        inside = cv2.dilate(inside.astype(np.uint8), disc) > 0
    if not inside.any():
        return
    region = scene[y1:y2, x1:x2]
    whole = sv.Detections(xyxy=np.array([[0.0, 0.0, x2 - x1, y2 - y1]]))
    blurred = blur.annotate(scene=region.copy(), detections=whole)
    region[inside] = blurred[inside]


BLOCKS: list[type[Block]] = [  # in the order
    BoundingBoxVisualization,
    LabelVisualization,
    MaskVisualization,
    PolygonVisualization,
    PolygonVisualizationV2,
    CircleVisualization,
    DotVisualization,
    EllipseVisualization,
    CornerVisualization,
    TriangleVisualization,
    HaloVisualization,
    ColorVisualization,
    BackgroundColorVisualization,
    BlurVisualization,
    PixelateVisualization,
    CropVisualization,
]
