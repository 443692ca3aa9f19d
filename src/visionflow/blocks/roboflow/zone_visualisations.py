"""Roboflow's zone and track visualisations: polygon zones, counting lines and reference paths
drawn with OpenCV as Roboflow's blocks draw them, and the traces and heatmaps of tracked
detections drawn with supervision's ``TraceAnnotator`` and ``HeatMapAnnotator``.

Traces and heatmaps remember earlier frames (the annotator holds each track's path or the
heat so far), so each step keeps its annotators per video through the compiled plan's
``video_states`` (dropped by ``Workflow.end_video``), one per settings (the 64 most
recently drawn for a video), never shared between steps or workflows. All still images of
a step share one, as in Roboflow's engine (where a still image's video is the input it was
given as), so consecutive runs of one compiled workflow on still images with tracked
detections draw one growing trace.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import OrderedDict
from typing import Annotated, Any, Literal

import cv2
import numpy as np
import supervision as sv
from pydantic import AliasChoices, Field, field_validator

from visionflow.blocks.api import Block, Output, Selector
from visionflow.blocks.core.crops import DETECTION_KINDS
from visionflow.blocks.roboflow.palettes import colour_bgr, known_colour
from visionflow.blocks.roboflow.visualisations import (
    ANCHORS,
    POSITIONS,
    Visualisation,
    ZeroToOne,
    _drawable_in_place,
)
from visionflow.data.image import WorkflowImage
from visionflow.errors import RuntimeInputError

ZONE_GREEN = "#5bb573"  # Roboflow's default colour of zones, lines and paths
AtLeastOne = Annotated[int, Field(ge=1)]
MOST_ANNOTATORS = 64  # trace / heatmap annotators a step keeps per video (one per settings)
MOST_VIDEOS = 64  # videos a step draws for at once (a heatmap holds a frame of heat)
IMAGE_OUTPUT = [Output("image", kinds=["image"])]


class _Drawing(Block):
    """The shared part of the blocks that draw a shape given as points (not detections)."""

    class Manifest(Block.Manifest):
        image: Selector(kinds=["image"]) = Field(validation_alias=AliasChoices("image", "images"))
        copy_image: Selector(kinds=["boolean"]) | bool = True
        color: Selector(kinds=["string"]) | str = ZONE_GREEN

        _known_colour = field_validator("color")(known_colour)

    outputs = IMAGE_OUTPUT


def _overlay(pixels: np.ndarray, shape: np.ndarray, opacity: float) -> np.ndarray:
    """``shape`` (drawn on black) added to ``pixels`` at ``opacity``: a new image, the pixels
    outside the shape unchanged (Roboflow's zones brighten, they do not blend)."""
    # src1, alpha, src2, beta, gamma: by position (OpenCV's keywords cost 0.4 us a call)
    return cv2.addWeighted(shape, opacity, pixels, 1, 0)


class PolygonZoneVisualization(_Drawing):
    """Polygon zones filled with ``color`` and added to the image at ``opacity``.

    ``zone`` is one polygon (a list of [x, y] points) or a list of polygons; points are cut
    to whole pixels. An empty zone leaves the image as it is."""

    class Manifest(_Drawing.Manifest):
        type: Literal["roboflow_core/polygon_zone_visualization@v1"]
        zone: Selector(kinds=["list_of_values"]) | list
        opacity: Selector(kinds=["float_zero_to_one"]) | ZeroToOne = 0.3

    def run(
        self, image: WorkflowImage, zone: list, copy_image: bool, color: str, opacity: float
    ) -> dict[str, Any]:
        pixels = image.numpy
        if zone is None or len(zone) == 0:
            return {"image": image.with_pixels(pixels.copy() if copy_image else pixels)}
        polygons = [zone] if _is_point(zone[0]) else list(zone)
        shape = cv2.fillPoly(
            np.zeros_like(pixels),
            [np.array(polygon, dtype=np.int32) for polygon in polygons],
            colour_bgr(color),
        )
        # a new image whether or not copy_image asks for one (no need to copy first)
        return {"image": image.with_pixels(_overlay(pixels, shape, opacity))}


def _is_point(item: Any) -> bool:
    """Whether ``item`` is one [x, y] point (so the zone is one polygon, not a list)."""
    return len(item) > 0 and isinstance(item[0], int | float | np.integer | np.floating)


class LineCounterZoneVisualization(_Drawing):
    """A counting line from ``zone``'s first point to its second, added to the image at
    ``opacity``, and ``in: <count_in>, out: <count_out>`` written in black on white,
    centred on the first point (supervision's ``draw_text``)."""

    class Manifest(_Drawing.Manifest):
        type: Literal["roboflow_core/line_counter_visualization@v1"]
        zone: Selector(kinds=["list_of_values"]) | list
        thickness: Selector(kinds=["integer"]) | int = 2
        text_thickness: Selector(kinds=["integer"]) | int = 1
        text_scale: Selector(kinds=["float"]) | float = 1.0
        count_in: Selector(kinds=["integer"]) | int = 0
        count_out: Selector(kinds=["integer"]) | int = 0
        opacity: Selector(kinds=["float_zero_to_one"]) | ZeroToOne = 0.3

    def run(
        self,
        image: WorkflowImage,
        zone: list,
        copy_image: bool,
        color: str,
        thickness: int,
        text_thickness: int,
        text_scale: float,
        count_in: int,
        count_out: int,
        opacity: float,
    ) -> dict[str, Any]:
        (x1, y1), (x2, y2) = _points(zone, "zone", least=2)[:2].tolist()
        pixels = image.numpy  # drawn on a new image whatever copy_image says, as in Roboflow
        shape = cv2.line(np.zeros_like(pixels), (x1, y1), (x2, y2), colour_bgr(color), thickness)
        drawn = sv.draw_text(
            scene=_overlay(pixels, shape, opacity),
            text=f"in: {count_in}, out: {count_out}",
            text_anchor=sv.Point(x1, y1),
            text_thickness=text_thickness,
            text_scale=text_scale,
            background_color=sv.Color.WHITE,
            text_padding=0,
        )
        return {"image": image.with_pixels(drawn)}


def _points(value: Any, field: str, least: int) -> np.ndarray:
    """``value``'s [x, y] points cut to whole pixels (N x 2; a point's further numbers are
    ignored), or an error naming ``field`` when it is no list of ``least`` or more points."""
    try:
        points = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):  # ragged, or not numbers
        points = np.empty(0)
    if points.ndim != 2 or points.shape[1] < 2 or len(points) < least:
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        raise RuntimeInputError(
            f"{field} is a list of at least {least} [x, y] points, not {shown}",
            place=f"field '{field}'",
            hint=f"give {field} as [[x1, y1], [x2, y2], ...] in pixels of the image",
        )
    return np.trunc(points[:, :2]).astype(np.int32)


class ReferencePathVisualization(_Drawing):
    """A path through ``reference_path``'s points (whole pixels, [x, y] of each; an open
    polyline) in ``color``, ``thickness`` pixels wide."""

    class Manifest(_Drawing.Manifest):
        type: Literal["roboflow_core/reference_path_visualization@v1"]
        reference_path: Selector(kinds=["list_of_values"]) | list
        thickness: Selector(kinds=["integer"]) | AtLeastOne = 2

    def run(
        self,
        image: WorkflowImage,
        reference_path: list,
        copy_image: bool,
        color: str,
        thickness: int,
    ) -> dict[str, Any]:
        points = _points(reference_path, "reference_path", least=1)
        pixels = image.numpy
        if copy_image or not _drawable_in_place(pixels):
            pixels = pixels.copy()
        drawn = cv2.polylines(pixels, [points], False, colour_bgr(color), thickness)
        return {"image": image.with_pixels(drawn)}


class _Remembering(Visualisation):
    """A visualisation whose annotator remembers earlier frames: one annotator per video
    and settings, in the step's state for that video; drawing is serialised per step,
    since an annotator's memory changes with every frame it draws."""

    init_parameters = ["video_states"]

    def __init__(self, **init_parameters: Any):
        super().__init__(**init_parameters)
        self._lock = threading.Lock()

    def memory(self, video: str | None) -> dict[str, Any]:
        """The step's state for ``video``: its annotators by settings, and what else the
        block remembers of it (a heatmap's track places). Call under the step's lock."""
        return self.video_states.get(
            self, video, lambda: {"annotators": OrderedDict()}, most=MOST_VIDEOS
        )

    def draw(self, scene: np.ndarray, predictions: sv.Detections, **fields: Any) -> np.ndarray:
        video, key = fields.pop("state_key")
        with self._lock:
            annotators = self.memory(video)["annotators"]
            annotator = annotators.get(key)
            if annotator is None:
                annotator = annotators[key] = self.annotator(**self.with_colours(fields))
                # settings from a parameter that keeps changing: the least recently drawn
                # are forgotten (a heatmap's annotator holds a frame of heat)
                if len(annotators) > MOST_ANNOTATORS:
                    annotators.popitem(last=False)
            annotators.move_to_end(key)
            return annotator.annotate(scene=scene, detections=predictions)


class TraceVisualization(_Remembering):
    """The recent path of each tracked detection (supervision's TraceAnnotator): a line
    through its last ``trace_length`` positions at ``position`` of its box. Needs tracked
    detections (a ``tracker_id`` each; a frame with no detections needs none); draws one
    frame at a time, remembering the paths."""

    class Manifest(Visualisation.Manifest):
        type: Literal["roboflow_core/trace_visualization@v1"]
        position: Selector(kinds=["string"]) | POSITIONS = "CENTER"
        trace_length: Selector(kinds=["integer"]) | AtLeastOne = 30
        thickness: Selector(kinds=["integer"]) | AtLeastOne = 1

    def run(
        self, image: WorkflowImage, predictions: sv.Detections, copy_image: bool, **fields: Any
    ) -> dict[str, Any]:
        if predictions.tracker_id is None and len(predictions) == 0:
            # an empty frame as a tracker gives it (Roboflow's JSON of it has no ids at all)
            predictions = copy.copy(predictions)
            predictions.tracker_id = np.array([], dtype=int)
        if predictions.tracker_id is None:
            raise RuntimeInputError(
                "trace_visualization needs tracked detections (with tracker ids)",
                place="field 'predictions'",
                hint="give detections with a tracker_id each (those of a tracker step)",
            )
        palette = (fields["color_palette"], fields["palette_size"], *fields["custom_colors"])
        settings = (fields["color_axis"], fields["position"], *palette)
        key = (image.video_id, (*settings, fields["trace_length"], fields["thickness"]))
        return super().run(image, predictions, copy_image, state_key=key, **fields)

    def annotator(
        self, position: str, trace_length: int, thickness: int, **colours: Any
    ) -> sv.TraceAnnotator:
        return sv.TraceAnnotator(
            position=sv.Position[position],
            trace_length=trace_length,
            thickness=thickness,
            **colours,
        )


# Roboflow forgets a track's last place once it has not moved for this long (seconds),
# looking at most this often: a track seen again after that starts anew
_STALE_AFTER, _FORGET_EVERY = 60.0, 10.0


class HeatmapVisualization(_Remembering):
    """Heat where detections have been (supervision's HeatMapAnnotator): a disc of
    ``radius`` at ``position`` of each box adds heat, hues from ``low_hue`` (little) to
    ``top_hue`` (most) blended in at ``opacity``, blurred by ``kernel_size``.

    With ``ignore_stationary`` (default) and tracked detections, a track adds heat only when
    it has moved ``motion_threshold`` pixels or more from where it last moved (not when
    first seen). Heat and places are kept per video: ``metadata``'s, else the frame's."""

    colourable = False

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/heatmap_visualization@v1", "HeatmapVisualization"]
        image: Selector(kinds=["image"]) = Field(validation_alias=AliasChoices("image", "images"))
        predictions: Selector(kinds=DETECTION_KINDS)
        copy_image: Selector(kinds=["boolean"]) | bool = True
        metadata: Selector(kinds=["video_metadata"]) | None = None
        position: Selector(kinds=["string"]) | ANCHORS = "BOTTOM_CENTER"
        opacity: Selector(kinds=["float"]) | float = 0.2
        radius: Selector(kinds=["integer"]) | int = 40
        kernel_size: Selector(kinds=["integer"]) | int = 25
        top_hue: Selector(kinds=["integer"]) | int = 0
        low_hue: Selector(kinds=["integer"]) | int = 125
        ignore_stationary: Selector(kinds=["boolean"]) | bool = True
        motion_threshold: Selector(kinds=["integer"]) | int = 25

    def run(
        self,
        image: WorkflowImage,
        predictions: sv.Detections,
        copy_image: bool,
        metadata: Any,
        ignore_stationary: bool,
        motion_threshold: int,
        **fields: Any,
    ) -> dict[str, Any]:
        video = _metadata_video(metadata) if metadata is not None else image.video_id
        if ignore_stationary and predictions.tracker_id is not None:
            with self._lock:
                predictions = self._moving(video, predictions, fields["position"], motion_threshold)
        key = (video, tuple(fields[name] for name in sorted(fields)))
        return super().run(image, predictions, copy_image, state_key=key, **fields)

    def _moving(
        self, video: str | None, found: sv.Detections, position: str, threshold: int
    ) -> sv.Detections:
        """The detections whose track moved ``threshold`` pixels or more since it last
        moved; each new track's place is remembered, and such moves update it."""
        now = time.monotonic()
        # per video: tracker id -> (x, y, when it last moved), stale tracks forgotten
        memory = self.memory(video)
        places = memory.setdefault("places", {})
        if now - memory.setdefault("forgotten_at", now) >= _FORGET_EVERY:
            for track in [t for t, (_, _, when) in places.items() if now - when > _STALE_AFTER]:
                del places[track]
            memory["forgotten_at"] = now
        anchors = found.get_anchors_coordinates(anchor=sv.Position[position])
        moving = []
        for index, (tracker_id, (x, y)) in enumerate(zip(found.tracker_id, anchors, strict=True)):
            track = int(tracker_id)
            if track not in places:
                places[track] = (x, y, now)
                continue
            last_x, last_y, _ = places[track]
            if np.sqrt((x - last_x) ** 2 + (y - last_y) ** 2) >= threshold:
                moving.append(index)
                places[track] = (x, y, now)
        return found[np.array(moving)] if moving else sv.Detections.empty()

    def annotator(self, position: str, **settings: Any) -> sv.HeatMapAnnotator:
        return sv.HeatMapAnnotator(position=sv.Position[position], **settings)


def _metadata_video(metadata: Any) -> str:
    """The video identifier of Roboflow's video metadata (an object or a dict)."""
    if isinstance(metadata, dict):
        return str(metadata["video_identifier"])
    return str(metadata.video_identifier)


BLOCKS: list[type[Block]] = [
    PolygonZoneVisualization,
    LineCounterZoneVisualization,
    TraceVisualization,
    HeatmapVisualization,
    ReferencePathVisualization,
]
