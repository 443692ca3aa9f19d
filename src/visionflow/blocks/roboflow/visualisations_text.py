"""Roboflow's text display: a text (with ``{{ $parameters.name }}`` filled in) written on
the image in OpenCV's Hershey font, in a box placed at an anchor or at fixed coordinates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

import cv2
import numpy as np
from pydantic import Field, field_validator

from visionflow.blocks.api import Block, BlockManifest, Output, Selector
from visionflow.blocks.roboflow.outbound import compile_chains, render
from visionflow.blocks.roboflow.palettes import colour, colour_bgr
from visionflow.blocks.roboflow.visualisations import ZeroToOne, _drawable_in_place
from visionflow.data.image import WorkflowImage
from visionflow.selectors import looks_like_selector

Scalar = str | int | float | bool
_FONT = cv2.FONT_HERSHEY_SIMPLEX
# where each anchor sits, as fractions of the width and height (of the image, and of the
# box: the box's same point lands on the image's)
ANCHORS = {
    "top_left": (0.0, 0.0), "top_center": (0.5, 0.0), "top_right": (1.0, 0.0),
    "center_left": (0.0, 0.5), "center": (0.5, 0.5), "center_right": (1.0, 0.5),
    "bottom_left": (0.0, 1.0), "bottom_center": (0.5, 1.0), "bottom_right": (1.0, 1.0),
}  # fmt: skip


class TextDisplay(Block):
    """``text`` on the image, one line per ``\\n``, on a ``background_color`` box
    ("transparent": none) blended at ``background_opacity`` with corners rounded by
    ``border_radius``.

    ``{{ $parameters.name }}`` is replaced by ``text_parameters[name]`` (after its
    ``text_parameters_operations`` chain) as text. The box sits at ``anchor`` of the image
    moved by ``offset_x``/``offset_y`` (``position_mode`` "relative") or with its top-left
    at ``position_x``/``position_y`` ("absolute"), kept inside the image."""

    class Manifest(BlockManifest):
        type: Literal["roboflow_core/text_display@v1"]
        image: Selector(kinds=["image"])
        text: str
        text_parameters: dict[str, Selector() | Scalar] = Field(default_factory=dict)
        text_parameters_operations: dict[str, list[Any]] = Field(default_factory=dict)
        text_color: Selector(kinds=["string"]) | str = "WHITE"
        background_color: Selector(kinds=["string"]) | str = "BLACK"
        background_opacity: Selector(kinds=["float_zero_to_one"]) | ZeroToOne = 1.0
        font_scale: Selector(kinds=["float"]) | Annotated[float, Field(ge=0.1, le=10)] = 1.0
        font_thickness: Selector(kinds=["integer"]) | Annotated[int, Field(ge=1, le=10)] = 2
        padding: Selector(kinds=["integer"]) | Annotated[int, Field(ge=0)] = 10
        text_align: Selector(kinds=["string"]) | Literal["left", "center", "right"] = "left"
        border_radius: Selector(kinds=["integer"]) | Annotated[int, Field(ge=0)] = 0
        position_mode: Selector(kinds=["string"]) | Literal["absolute", "relative"] = "relative"
        position_x: Selector(kinds=["integer"]) | int = 0
        position_y: Selector(kinds=["integer"]) | int = 0
        anchor: Selector(kinds=["string"]) | Literal[tuple(ANCHORS)] = "top_left"  # type: ignore[valid-type]
        offset_x: Selector(kinds=["integer"]) | int = 10
        offset_y: Selector(kinds=["integer"]) | int = 10
        copy_image: Selector(kinds=["boolean"]) | bool = True

        @field_validator("text_color", "background_color")
        @classmethod
        def _known_colour(cls, value: Any) -> Any:
            if not looks_like_selector(value) and value.lower() != "transparent":
                colour(value)  # raises ValueError, reported under the field's name
            return value

    outputs = [Output("image", kinds=["image"])]
    _chains: ClassVar[dict[str, Any]] = {}

    def setup(self, manifest: BlockManifest) -> None:
        self._chains = compile_chains(
            manifest.text_parameters_operations, "text_parameters_operations"
        )

    def run(
        self,
        image: WorkflowImage,
        text: str,
        text_parameters: dict[str, Any],
        text_parameters_operations: dict[str, list[Any]],
        copy_image: bool,
        **style: Any,
    ) -> dict[str, Any]:
        scene = image.numpy
        if copy_image or not _drawable_in_place(scene):
            scene = scene.copy()
        write(scene, render(text, text_parameters, self._chains), **style)
        return {"image": image.with_pixels(scene)}


@dataclass(frozen=True)
class Layout:
    """Where the text goes: its lines, their widths, the box (clamped to the image)."""

    lines: list[str]
    widths: list[int]
    line_height: int  # from the top of a line to its baseline
    line_step: int  # from one line's top to the next's
    x: int
    y: int
    width: int
    height: int


def placed(
    text: str,
    scale: float,
    thickness: int,
    padding: int,
    image_size: tuple[int, int],
    top_left: tuple[int, int] | None,
    anchor: str,
    offset: tuple[int, int],
) -> Layout:
    """The text's layout on an image of ``image_size`` (width, height): the box at
    ``top_left``, else at ``anchor`` moved by ``offset``; kept inside the image."""
    lines = text.split("\n") if text else [""]
    (_, line_height), baseline = cv2.getTextSize("Ag", _FONT, scale, thickness)
    advance = line_height + baseline
    gap = max(1, round(0.25 * advance))  # between lines, a quarter of a line
    widths = [cv2.getTextSize(s, _FONT, scale, thickness)[0][0] if s.strip() else 0 for s in lines]
    width = max(widths) + 2 * padding
    height = len(lines) * advance + (len(lines) - 1) * gap + 2 * padding
    image_width, image_height = image_size
    if top_left is None:
        fx, fy = ANCHORS[anchor.lower()]
        x = round(fx * image_width) - round(fx * width) + offset[0]
        y = round(fy * image_height) - round(fy * height) + offset[1]
    else:
        x, y = top_left
    x = 0 if width > image_width else max(0, min(x, image_width - width))
    y = 0 if height > image_height else max(0, min(y, image_height - height))
    return Layout(lines, widths, line_height, advance + gap, x, y, width, height)


def write(
    scene: np.ndarray,
    text: str,
    text_color: str,
    background_color: str,
    background_opacity: float,
    font_scale: float,
    font_thickness: int,
    padding: int,
    text_align: str,
    border_radius: int,
    position_mode: str,
    position_x: int,
    position_y: int,
    anchor: str,
    offset_x: int,
    offset_y: int,
) -> None:
    """Write ``text`` on ``scene`` (in place) as the step's fields say."""
    height, width = scene.shape[:2]
    top_left = (position_x, position_y) if position_mode == "absolute" else None
    box = placed(
        text, font_scale, font_thickness, padding, (width, height), top_left, anchor,
        (offset_x, offset_y),
    )  # fmt: skip
    if background_color.lower() != "transparent" and background_opacity > 0:
        x2, y2 = min(width, box.x + box.width), min(height, box.y + box.height)
        _background(scene, (box.x, box.y, x2, y2), colour_bgr(background_color),
                    background_opacity, border_radius)  # fmt: skip
    text_bgr = colour_bgr(text_color)
    top, widest = box.y + padding, max(box.widths)
    for line, line_width in zip(box.lines, box.widths, strict=True):
        shift = {"center": (widest - line_width) // 2, "right": widest - line_width}
        x = box.x + padding + shift.get(text_align, 0)
        baseline = top + box.line_height
        if line.strip() and baseline > 0 and top < height and x < width:
            cv2.putText(scene, line, (x, baseline), _FONT, font_scale, text_bgr,
                        font_thickness, cv2.LINE_AA)  # fmt: skip
        top += box.line_step


def _background(
    scene: np.ndarray, box: tuple[int, int, int, int], bgr: tuple, opacity: float, radius: int
) -> None:
    """The box (x1, y1, x2, y2; x2 and y2 outside it) filled with ``bgr``, blended at
    ``opacity`` when under 1."""
    x1, y1, x2, y2 = box
    if x2 <= x1 or y2 <= y1:
        return
    if opacity >= 1:
        _fill(scene, (x1, y1, x2 - 1, y2 - 1), bgr, radius)
        return
    region = scene[y1:y2, x1:x2]
    filled = region.copy()
    _fill(filled, (0, 0, x2 - x1 - 1, y2 - y1 - 1), bgr, radius)
    region[:] = cv2.addWeighted(filled, opacity, region, 1 - opacity, 0)


def _fill(scene: np.ndarray, box: tuple[int, int, int, int], bgr: tuple, radius: int) -> None:
    """A filled rectangle, its corners (x1, y1) and (x2, y2) included, rounded by
    ``radius`` (at most half its shorter side)."""
    x1, y1, x2, y2 = box
    if x2 <= x1 or y2 <= y1:
        return
    radius = min(radius, (x2 - x1) // 2, (y2 - y1) // 2)
    if radius <= 0:
        cv2.rectangle(scene, (x1, y1), (x2, y2), bgr, -1)
        return
    cv2.rectangle(scene, (x1 + radius, y1), (x2 - radius, y2), bgr, -1)
    cv2.rectangle(scene, (x1, y1 + radius), (x2, y2 - radius), bgr, -1)
    corners = {180: (x1, y1), 270: (x2, y1), 90: (x1, y2), 0: (x2, y2)}  # angle: corner
    for angle, (x, y) in corners.items():
        centre = (x + radius if x == x1 else x - radius, y + radius if y == y1 else y - radius)
        cv2.ellipse(scene, centre, (radius, radius), angle, 0, 90, bgr, -1)


BLOCKS = [TextDisplay]
