"""Roboflow's visualisation blocks: supervision's annotators under Roboflow's names.

Every block is one supervision annotator made from the step's fields; a shared manifest
holds the fields all of Roboflow's colourable visualisations have (palette, size, custom
colours, colour axis), and ``copy_image`` decides whether the annotator draws on a copy
(the input image untouched) or on the input's own pixels, as Roboflow does.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
import supervision as sv
from pydantic import AliasChoices, Field, field_validator

from visionflow.blocks.api import Block, Output, Selector
from visionflow.blocks.core.crops import DETECTION_KINDS
from visionflow.data.image import WorkflowImage
from visionflow.selectors import looks_like_selector

SEGMENTATION_KINDS = ["instance_segmentation_prediction"]

# Roboflow's palette names (those it offers; "Matplotlib X" is matplotlib's colour map X)
PALETTES = Literal[
    "DEFAULT",
    "CUSTOM",
    "ROBOFLOW",
    "Matplotlib Viridis",
    "Matplotlib Plasma",
    "Matplotlib Inferno",
    "Matplotlib Magma",
    "Matplotlib Cividis",
    "Matplotlib Pastel1",
    "Matplotlib Pastel2",
    "Matplotlib Paired",
    "Matplotlib Accent",
    "Matplotlib Dark2",
    "Matplotlib Set1",
    "Matplotlib Set2",
    "Matplotlib Set3",
    "Matplotlib Tab10",
    "Matplotlib Tab20",
    "Matplotlib Tab20b",
    "Matplotlib Tab20c",
]
# matplotlib's own spelling of the capitalised colour maps (the others are lower case)
_CAPITALISED_MAPS = {
    "Pastel1", "Pastel2", "Paired", "Accent", "Dark2", "Set1", "Set2", "Set3",
}  # fmt: skip
POSITIONS = Literal[
    "CENTER",
    "CENTER_LEFT",
    "CENTER_RIGHT",
    "TOP_CENTER",
    "TOP_LEFT",
    "TOP_RIGHT",
    "BOTTOM_LEFT",
    "BOTTOM_CENTER",
    "BOTTOM_RIGHT",
    "CENTER_OF_MASS",
]
ZeroToOne = Annotated[float, Field(ge=0, le=1)]
UNKNOWN_COLOUR = sv.Color.GREY  # Roboflow paints negative class / track ids grey


class _NegativeIdsGrey(sv.ColorPalette):
    """A palette whose negative indices (an unmatched class, ``class_id`` -1) give grey
    instead of supervision's error, as Roboflow's palettes do."""

    def by_idx(self, idx: int) -> sv.Color:
        return UNKNOWN_COLOUR if idx < 0 else super().by_idx(idx)


_RGB = re.compile(r"(rgb|bgr)\((\d+),\s*(\d+),\s*(\d+)\)")


def colour(text: str) -> sv.Color:
    """A colour in Roboflow's text forms: ``#RRGGBB``, ``rgb(R, G, B)``, ``bgr(B, G, R)``
    or a supervision colour name (``WHITE``). Raises ValueError on anything else."""
    if text.startswith("#"):
        return sv.Color.from_hex(text)
    if match := _RGB.fullmatch(text.strip()):
        values = tuple(int(v) for v in match.group(2, 3, 4))
        return sv.Color.from_rgb_tuple(values if match[1] == "rgb" else values[::-1])
    named = getattr(sv.Color, text.upper(), None)
    if isinstance(named, sv.Color):
        return named
    raise ValueError(
        f"unknown colour {text!r}: write #RRGGBB, rgb(R, G, B), bgr(B, G, R) or a name "
        "(WHITE, BLACK, RED, GREEN, BLUE, YELLOW, ROBOFLOW, GREY)"
    )


def palette(name: str, size: int, custom_colours: list[str]) -> sv.ColorPalette:
    """Roboflow's palette ``name`` as a supervision palette (negative ids grey)."""
    return _palette(name, int(size), tuple(custom_colours))


@lru_cache(maxsize=64)  # palettes from matplotlib cost a colour map each
def _palette(name: str, size: int, custom_colours: tuple[str, ...]) -> sv.ColorPalette:
    if name == "CUSTOM":
        colours = [colour(text) for text in custom_colours]
    elif isinstance(getattr(sv.ColorPalette, name, None), sv.ColorPalette):
        colours = getattr(sv.ColorPalette, name).colors
    else:
        map_name = name.removeprefix("Matplotlib ")
        map_name = map_name if map_name in _CAPITALISED_MAPS else map_name.lower()
        colours = sv.ColorPalette.from_matplotlib(map_name, size).colors
    return _NegativeIdsGrey(colors=list(colours))


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

    def annotator(self, **fields: Any) -> Any:  # pragma: no cover - every block has its own
        raise NotImplementedError

    def run(
        self, image: WorkflowImage, predictions: sv.Detections, copy_image: bool, **fields: Any
    ) -> dict[str, Any]:
        if self.colourable:
            fields["color"] = palette(
                fields.pop("color_palette"),
                fields.pop("palette_size"),
                fields.pop("custom_colors"),
            )
            fields["color_lookup"] = sv.ColorLookup[fields.pop("color_axis")]
        scene = image.numpy.copy() if copy_image else image.numpy
        drawn = self.annotator(**fields).annotate(scene=scene, detections=predictions)
        # the same image (id, origin, place) with new pixels, as Roboflow's copy_and_replace
        result = WorkflowImage(
            drawn,
            image_id=image.image_id,
            parent_id=image.parent_id,
            origin=image.origin,
            source=image.source,
            parent_place=image.parent_place,
        )
        return {"image": result}


class BoundingBoxVisualization(Visualisation):
    """Boxes around detections (supervision's BoxAnnotator; RoundBoxAnnotator when
    ``roundness`` > 0)."""

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
    """Each box pixelated in squares of ``pixel_size`` (supervision's PixelateAnnotator);
    no colours, so none of the palette fields."""

    colourable = False

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/pixelate_visualization@v1", "PixelateVisualization"]
        image: Selector(kinds=["image"]) = Field(validation_alias=AliasChoices("image", "images"))
        predictions: Selector(kinds=DETECTION_KINDS)
        copy_image: Selector(kinds=["boolean"]) | bool = True
        pixel_size: Selector(kinds=["integer"]) | int = 20

    def annotator(self, pixel_size: int) -> Any:
        return sv.PixelateAnnotator(pixel_size=pixel_size)


BLOCKS: list[type[Block]] = [
    BoundingBoxVisualization,
    MaskVisualization,
    CircleVisualization,
    DotVisualization,
    EllipseVisualization,
    CornerVisualization,
    TriangleVisualization,
    ColorVisualization,
    PixelateVisualization,
]

__all__ = ["BLOCKS", "colour", "palette", "np"]
