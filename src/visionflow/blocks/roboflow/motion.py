"""Roboflow's video blocks on OpenCV's MOG2 background model (issue 12): background
subtraction (the foreground mask as an image) and motion detection (moving regions as
detections, a motion flag, an alarm when motion starts, and the regions' outlines).

Both learn the background over consecutive frames, so they keep state in the step (one
block instance per compiled step, living as long as the compiled workflow), made on the
first image with that image's ``history`` and ``threshold`` (as Roboflow's blocks make
theirs; later values of those fields are not read).

The model is kept per video through the compiled plan's ``video_states`` (a frame's video
identifier; dropped by ``Workflow.end_video``): each video has a model of its own, and
still images (and crops) share one model per step, as Roboflow's blocks share theirs.

Runs may be concurrent, so a model is used under a lock: its frames are applied one at a
time.
"""

from __future__ import annotations

import json
import threading
from typing import Annotated, Any, Literal

import cv2
import numpy as np
import supervision as sv
from pydantic import AliasChoices, Field

from visionflow.blocks.api import Block, Output, Selector
from visionflow.data.detections import CLASS_NAME, attach_image_metadata
from visionflow.data.image import WorkflowImage

IMAGE = Field(validation_alias=AliasChoices("image", "images"))
Positive = Annotated[int, Field(gt=0)]
FINE = 1 << 16  # zone clipping runs on a grid this many steps a pixel
SIMPLIFY = 0.01  # outlines are simplified by 1 % of their perimeter, as Roboflow's
MOST_VIDEOS = 64  # background models a step keeps (each frame-sized: the least recent go)


def _video_state(block: Block, image: WorkflowImage) -> tuple[threading.Lock, dict[str, Any]]:
    """The step's (lock, state) for the frame's video: frames of a video are applied in
    order, one at a time."""
    return block.video_states.get(
        block, image.video_id, lambda: (threading.Lock(), {}), most=MOST_VIDEOS
    )


def _mog2(history: int, threshold: int) -> cv2.BackgroundSubtractorMOG2:
    # shadows on: a shadow is marked 127, motion 255 (Roboflow's setting)
    return cv2.createBackgroundSubtractorMOG2(
        history=history, varThreshold=threshold, detectShadows=True
    )


class BackgroundSubtraction(Block):
    """The frame's foreground against the background learned from the earlier frames the
    step saw (OpenCV's MOG2, ``history`` frames, squared Mahalanobis ``threshold``), as a
    three-channel image: 255 moving, 127 shadow, 0 background. Each video has its own
    background; still images share the step's one (see the module docstring)."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/background_subtraction@v1"]
        image: Selector(kinds=["image"]) = IMAGE
        threshold: Selector(kinds=["integer"]) | int = 16
        history: Selector(kinds=["integer"]) | int = 30

    outputs = [Output("image", kinds=["image"])]

    init_parameters = ["video_states"]

    def run(self, image: WorkflowImage, threshold: int = 16, history: int = 30) -> dict:
        lock, state = _video_state(self, image)
        with lock:
            if "model" not in state:
                state["model"] = _mog2(history, threshold)
            foreground = state["model"].apply(image.numpy)
        return {"image": image.region(np.stack([foreground] * 3, axis=-1), 0, 0)}


class MotionDetection(Block):
    """Motion in a stream of frames: the MOG2 foreground (as background subtraction makes
    it), opened with an elliptic ``morphological_kernel_size`` kernel; its outer outlines
    larger than ``minimum_contour_area`` (and of three points or more) are the moving
    regions, clipped to ``detection_zone`` (a polygon, or its JSON text) when given.

    ``motion``: some region was found; ``alarm``: motion now and none on the previous frame
    the step saw of the same video (still images: any still image);
    ``detections``: each region's outline (simplified by 1 % of its perimeter) as a box,
    class ``motion`` (id 0), confidence 1; ``motion_zones``: those outlines as lists of
    ``[x, y]``. With ``suppress_first_detections``, the model's first
    ``history`` frames only teach it: no motion, and the alarm's memory is kept. The model
    and its memory are kept per video (see the module docstring).
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/motion_detection@v1"]
        image: Selector(kinds=["image"]) = IMAGE
        minimum_contour_area: Selector(kinds=["integer"]) | Positive = 200
        morphological_kernel_size: Selector(kinds=["integer"]) | Positive = 3
        threshold: Selector(kinds=["integer"]) | Positive = 16
        history: Selector(kinds=["integer"]) | Positive = 30
        detection_zone: Selector(kinds=["zone", "list_of_values"]) | list | str | None = None
        suppress_first_detections: Selector(kinds=["boolean"]) | bool = True

    outputs = [
        Output("motion", kinds=["boolean"]),
        Output("alarm", kinds=["boolean"]),
        Output("detections", kinds=["object_detection_prediction"]),
        Output("motion_zones", kinds=["list_of_values"]),
    ]

    init_parameters = ["video_states"]

    def run(
        self,
        image: WorkflowImage,
        minimum_contour_area: int = 200,
        morphological_kernel_size: int = 3,
        threshold: int = 16,
        history: int = 30,
        detection_zone: list | str | None = None,
        suppress_first_detections: bool = True,
    ) -> dict:
        zone = _zone(detection_zone)
        lock, state = _video_state(self, image)
        with lock:
            if "model" not in state:
                state.update(model=_mog2(history, threshold), frames=0, motion=False)
            foreground = state["model"].apply(image.numpy)
            if suppress_first_detections and state["frames"] < history:
                state["frames"] += 1  # still learning the background
                return _no_motion()
            regions = _regions(foreground, morphological_kernel_size, minimum_contour_area)
            if zone is not None:
                regions = _clip(regions, zone)
            motion = bool(regions)
            alarm = motion and not state["motion"]
            state["motion"] = motion
        outlines = [_simplified(region) for region in regions]
        outlines = [outline for outline in outlines if len(outline) >= 3]
        boxes = [_box(outline) for outline in outlines]
        if boxes:
            count = len(boxes)
            detections = sv.Detections(
                xyxy=np.array(boxes),  # whole pixels, confidence 1: Roboflow's integers
                confidence=np.ones(count, dtype=int),
                class_id=np.zeros(count, dtype=int),
                data={CLASS_NAME: np.array(["motion"] * count)},
            )
            attach_image_metadata(detections, image)  # so crops and mapping work downstream
        else:
            detections = sv.Detections.empty()
        zones = [outline.reshape(-1, 2).tolist() for outline in outlines]
        return {"motion": motion, "alarm": alarm, "detections": detections, "motion_zones": zones}


def _no_motion() -> dict[str, Any]:
    nothing = {"detections": sv.Detections.empty(), "motion_zones": []}
    return {"motion": False, "alarm": False, **nothing}


def _zone(value: list | str | None) -> np.ndarray | None:
    """The detection zone as N x 2 points; None: no zone (none given, or empty)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError(f"detection_zone {value!r} is not valid JSON") from None
    if not value:
        return None
    points = np.asarray(value, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) < 3:
        raise ValueError(f"detection_zone must be 3 or more [x, y] points, found {value!r}")
    return points


def _regions(foreground: np.ndarray, kernel_size: int, minimum_area: int) -> list[np.ndarray]:
    """Outer outlines of the opened foreground, each of 3 points or more and larger than
    ``minimum_area`` square pixels."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel_size, kernel_size))
    opened = cv2.morphologyEx(foreground, cv2.MORPH_OPEN, kernel)
    outlines, _ = cv2.findContours(opened, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [
        outline
        for outline in outlines
        if len(outline) > 2 and cv2.contourArea(outline) > minimum_area
    ]


def _clip(regions: list[np.ndarray], zone: np.ndarray) -> list[np.ndarray]:
    """Each region's part inside the zone (several parts when the zone cuts it in pieces),
    as whole-pixel outlines of three points or more; a region outside it is dropped."""
    try:
        import pyclipper  # exact polygon clipping, of the models extra
    except ImportError:
        raise ValueError(
            "a detection_zone needs pyclipper: pip install 'visionflow[models]'"
        ) from None

    clipped: list[np.ndarray] = []
    for region in regions:
        clipper = pyclipper.Pyclipper()
        clipper.StrictlySimple = True  # parts touching at a point are separate parts
        try:
            clipper.AddPath(_fine(region.reshape(-1, 2)), pyclipper.PT_SUBJECT, True)
            clipper.AddPath(_fine(zone), pyclipper.PT_CLIP, True)
            parts = clipper.Execute(
                pyclipper.CT_INTERSECTION, pyclipper.PFT_NONZERO, pyclipper.PFT_NONZERO
            )
        except pyclipper.ClipperException:  # a degenerate outline: nothing to keep
            continue
        for part in parts:
            if len(part) >= 3:
                # cut points truncated to whole pixels (Roboflow's int() of exact points)
                pixels = np.trunc(np.array(part, dtype=np.float64) / FINE).astype(np.int32)
                clipped.append(_like(pixels, region.reshape(-1, 2)))
    return clipped


def _fine(points: np.ndarray) -> list[list[int]]:
    """Points on pyclipper's integer grid, FINE steps a pixel (cut points land near the
    exact ones)."""
    return np.round(np.asarray(points, dtype=np.float64) * FINE).astype(np.int64).tolist()


def _like(part: np.ndarray, region: np.ndarray) -> np.ndarray:
    """The clipped part walked as its region is (same turning sense, from the region's
    first point when it keeps it): the simplification that follows depends on both."""
    if np.sign(cv2.contourArea(part, True)) != np.sign(cv2.contourArea(region, True)):
        part = part[::-1]
    start = np.flatnonzero((part == region[0]).all(axis=1))
    if len(start):
        part = np.roll(part, -int(start[0]), axis=0)
    return part.reshape(-1, 1, 2)


def _simplified(outline: np.ndarray) -> np.ndarray:
    epsilon = SIMPLIFY * cv2.arcLength(outline, True)
    return cv2.approxPolyDP(outline, epsilon, True)


def _box(outline: np.ndarray) -> list[int]:
    x, y, width, height = cv2.boundingRect(outline)
    return [x, y, x + width, y + height]


BLOCKS: list[type[Block]] = [BackgroundSubtraction, MotionDetection]
