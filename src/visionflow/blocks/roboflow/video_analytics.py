"""Roboflow's video analytics blocks (issue 13): line counter, time in zone, velocity and
path deviation over tracked detections (a ``tracker_id`` each, from a tracker step).

Each keeps its state per video through the compiled plan's ``video_states`` (the video of
``image``, or of ``metadata`` where the block's version takes one): made on a video's first
frame, dropped by ``Workflow.end_video``. Time is the frame's time in its video: frame
number / fps for a frame of a file, else the frame's timestamp (when it was captured), as
Roboflow's engine reckons it, never this machine's clock at run time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Annotated, Any, Literal

import numpy as np
import supervision as sv
from pydantic import Field

from visionflow.blocks.api import Block, Output, Selector
from visionflow.blocks.roboflow.visualisations import POSITIONS
from visionflow.data.image import VideoMetadata, WorkflowImage
from visionflow.errors import RuntimeInputError

BOXES = ["object_detection_prediction", "instance_segmentation_prediction"]
AtLeastOne = Annotated[int, Field(ge=1)]
Positive = Annotated[float, Field(gt=0)]
MOST_ZONE_SETS = 100  # zone sets time_in_zone v3 keeps per video (a zone from a parameter)
# tracks a block remembers per video: a live stream never ends, and its tracks come and go
# (the least recently seen are forgotten first)
MOST_TRACKS = 4096


def _recent(memory: OrderedDict, track: Any) -> None:
    """``track`` was seen on this frame: it is forgotten last; the oldest go past MOST_TRACKS."""
    memory.move_to_end(track)
    while len(memory) > MOST_TRACKS:
        memory.popitem(last=False)


def frame_seconds(metadata: VideoMetadata) -> float:
    """The frame's time in seconds: frame number / fps for a file's frame, else the time it
    was captured (a live frame, or a still image: the time it was read)."""
    if metadata.comes_from_video_file and metadata.fps:
        return metadata.frame_number / metadata.fps
    return metadata.frame_timestamp.timestamp()


def tracked(detections: sv.Detections, block: str) -> sv.Detections:
    """``detections`` with their tracker ids; an empty frame needs none."""
    if detections.tracker_id is not None:
        return detections
    if len(detections) == 0:
        found = detections[np.zeros(0, dtype=bool)]
        found.tracker_id = np.zeros(0, dtype=int)
        return found
    raise RuntimeInputError(
        f"{block} needs tracked detections (with tracker ids)",
        place="field 'detections'",
        hint="give detections with a tracker_id each (those of a tracker step)",
    )


def _points(value: Any, field: str, least: int, most: int | None = None) -> np.ndarray:
    """``value`` as N x 2 numbers, or an error naming ``field``."""
    try:
        points = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):  # ragged, or not numbers
        points = np.empty(0)
    if points.ndim != 2 or points.shape[1] != 2 or not least <= len(points) <= (most or 10**9):
        count = f"exactly {least}" if most == least else f"at least {least}"
        raise RuntimeInputError(
            f"{field} is a list of {count} [x, y] points, not {value!r:.80}",
            place=f"field '{field}'",
            hint=f"give {field} as [[x1, y1], [x2, y2], ...] in pixels of the image",
        )
    return points


def _polygons(zone: Any) -> list[np.ndarray]:
    """One polygon ([[x, y], ...]) or a list of them, as whole-pixel polygons."""
    nested = (
        isinstance(zone, list | tuple)
        and len(zone) > 0
        and all(
            isinstance(p, list | tuple) and len(p) > 0 and isinstance(p[0], list | tuple)
            for p in zone
        )
    )
    return [_polygon(polygon) for polygon in (zone if nested else [zone])]


class _PerVideo(Block):
    """A block whose state is kept per video in the plan's ``video_states``; a step's runs
    may overlap, so its state changes under the step's lock."""

    init_parameters = ["video_states"]

    def __init__(self, **init_parameters: Any):
        super().__init__(**init_parameters)
        self._lock = threading.Lock()

    def state(self, video: str | None, make: Any) -> Any:
        return self.video_states.get(self, video, make)


def _video(image: WorkflowImage | None, metadata: VideoMetadata | None) -> str | None:
    """The video whose state a frame uses: ``metadata``'s when given, else the image's."""
    if metadata is not None:
        return metadata.video_identifier
    return image.video_id if image is not None else None


class LineCounterV1(_PerVideo):
    """Counts tracked detections crossing ``line_segment`` (two [x, y] points) with
    supervision's LineZone: ``count_in`` / ``count_out`` so far in the video of
    ``metadata``; ``triggering_anchor`` is the point of a box that must cross. The line is
    the one given on the video's first frame."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/line_counter@v1"]
        metadata: Selector(kinds=["video_metadata"])
        detections: Selector(kinds=BOXES)
        line_segment: Selector(kinds=["list_of_values"]) | list
        triggering_anchor: Selector(kinds=["string"]) | POSITIONS = "CENTER"

    outputs = [Output("count_in", kinds=["integer"]), Output("count_out", kinds=["integer"])]

    def run(
        self,
        metadata: VideoMetadata,
        detections: sv.Detections,
        line_segment: list,
        triggering_anchor: str,
    ) -> dict[str, Any]:
        zone, _, _ = self.cross(_video(None, metadata), detections, line_segment, triggering_anchor)
        return {"count_in": zone.in_count, "count_out": zone.out_count}

    def cross(
        self, video: str | None, detections: sv.Detections, line: list, anchor: str | None
    ) -> tuple[sv.LineZone, np.ndarray, np.ndarray]:
        detections = tracked(detections, "line_counter")

        def make() -> sv.LineZone:
            start, end = _points(line, "line_segment", least=2, most=2).tolist()
            anchors = {} if anchor is None else {"triggering_anchors": [sv.Position(anchor)]}
            return sv.LineZone(start=sv.Point(*start), end=sv.Point(*end), **anchors)

        with self._lock:
            zone = self.state(video, make)
            crossed_in, crossed_out = zone.trigger(detections=detections)
        return zone, crossed_in, crossed_out


class LineCounterV2(LineCounterV1):
    """Line counter v2: the video is the frame's (``image``); also gives the detections
    that crossed on this frame (``detections_in`` / ``detections_out``); no
    ``triggering_anchor`` (default): a box crosses when all four corners have."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/line_counter@v2"]
        image: Selector(kinds=["image"])
        detections: Selector(kinds=BOXES)
        line_segment: Selector(kinds=["list_of_values"]) | list
        triggering_anchor: Selector(kinds=["string"]) | POSITIONS | None = None

    outputs = [
        Output("count_in", kinds=["integer"]),
        Output("count_out", kinds=["integer"]),
        Output("detections_in", kinds=BOXES),
        Output("detections_out", kinds=BOXES),
    ]

    def run(  # type: ignore[override]
        self,
        image: WorkflowImage,
        detections: sv.Detections,
        line_segment: list,
        triggering_anchor: str | None,
    ) -> dict[str, Any]:
        found = tracked(detections, "line_counter")
        zone, crossed_in, crossed_out = self.cross(
            image.video_id, found, line_segment, triggering_anchor
        )
        return {
            "count_in": zone.in_count,
            "count_out": zone.out_count,
            "detections_in": found[crossed_in],
            "detections_out": found[crossed_out],
        }


class TimeInZoneV1(_PerVideo):
    """Seconds each tracked detection has been inside ``zone`` (a polygon, supervision's
    PolygonZone at ``triggering_anchor``), in its data as ``time_in_zone``: 0 on entering,
    then the frame's time less the time it entered. Detections outside are dropped
    (``remove_out_of_zone_detections``), or kept with 0; one that leaves starts anew when it
    comes back (``reset_out_of_zone_detections``). The video is ``metadata``'s."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/time_in_zone@v1"]
        image: Selector(kinds=["image"])
        metadata: Selector(kinds=["video_metadata"])
        detections: Selector(kinds=BOXES)
        zone: Selector(kinds=["list_of_values"]) | list
        triggering_anchor: Selector(kinds=["string"]) | POSITIONS = "CENTER"
        remove_out_of_zone_detections: Selector(kinds=["boolean"]) | bool = True
        reset_out_of_zone_detections: Selector(kinds=["boolean"]) | bool = True

    outputs = [Output("timed_detections", kinds=BOXES)]
    multiple_zones = False  # v3 takes a list of polygons too

    def run(
        self,
        image: WorkflowImage,
        detections: sv.Detections,
        zone: list,
        triggering_anchor: str,
        remove_out_of_zone_detections: bool,
        reset_out_of_zone_detections: bool,
        metadata: VideoMetadata | None = None,
    ) -> dict[str, Any]:
        found = tracked(detections, "time_in_zone")
        meta = metadata if metadata is not None else image.video_metadata
        now = frame_seconds(meta)
        key = repr(zone) if self.multiple_zones else None

        def zones() -> list[sv.PolygonZone]:
            polygons = _polygons(zone) if self.multiple_zones else [_polygon(zone)]
            anchor = (sv.Position(triggering_anchor),)
            return [sv.PolygonZone(polygon=p, triggering_anchors=anchor) for p in polygons]

        with self._lock:
            state = self.state(
                _video(image, metadata), lambda: {"zones": {}, "entered": OrderedDict()}
            )
            made = state["zones"]
            if key not in made:
                made[key] = zones()  # the first zone for v1 / v2: Roboflow keeps it
                if len(made) > MOST_ZONE_SETS:
                    del made[next(iter(made))]
            inside = np.zeros(len(found), dtype=bool)
            for polygon_zone in made[key]:
                inside |= polygon_zone.trigger(found)
            kept, times = self._times(
                found,
                inside,
                state["entered"],
                now,
                remove_out_of_zone_detections,
                reset_out_of_zone_detections,
            )
        timed = found[np.array(kept, dtype=int)]
        timed.data["time_in_zone"] = np.array(times, dtype=np.float64)
        return {"timed_detections": timed}

    @staticmethod
    def _times(
        found: sv.Detections,
        inside: np.ndarray,
        entered: OrderedDict[Any, float],
        now: float,
        remove: bool,
        reset: bool,
    ) -> tuple[list[int], list[float]]:
        kept: list[int] = []
        times: list[float] = []
        for index, (is_in, track) in enumerate(zip(inside, found.tracker_id, strict=True)):
            track = track.item() if hasattr(track, "item") else track
            if not is_in:
                if reset or not remove:  # Roboflow forgets a kept outsider's entry too
                    entered.pop(track, None)
                if remove:
                    continue
                kept.append(index)
                times.append(0.0)
                continue
            kept.append(index)
            times.append(now - entered.setdefault(track, now))
            _recent(entered, track)
        return kept, times


def _polygon(zone: Any) -> np.ndarray:
    return _points(zone, "zone", least=3).astype(np.int64)


class TimeInZoneV2(TimeInZoneV1):
    """Time in zone v2: the video is the frame's (``image``), no ``metadata``."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/time_in_zone@v2"]
        image: Selector(kinds=["image"])
        detections: Selector(kinds=BOXES)
        zone: Selector(kinds=["list_of_values"]) | list
        triggering_anchor: Selector(kinds=["string"]) | POSITIONS = "CENTER"
        remove_out_of_zone_detections: Selector(kinds=["boolean"]) | bool = True
        reset_out_of_zone_detections: Selector(kinds=["boolean"]) | bool = True


class TimeInZoneV3(TimeInZoneV2):
    """Time in zone v3: ``zone`` is one polygon or a list of them (inside any counts), and
    follows a zone that changes between frames (a zone's entry times stay the video's)."""

    class Manifest(TimeInZoneV2.Manifest):
        type: Literal["roboflow_core/time_in_zone@v3"]  # type: ignore[assignment]

    multiple_zones = True


class VelocityV1(_PerVideo):
    """Velocity of each tracked detection's box centre since its last frame, in metres per
    second (pixels / ``pixels_per_meter``): ``velocity`` [vx, vy] and ``speed`` in its data,
    with ``smoothed_velocity`` / ``smoothed_speed`` (an exponential average, weight
    ``smoothing_alpha`` on the newest). A track's first frame gives 0."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/velocity@v1"]
        image: Selector(kinds=["image"])
        detections: Selector(kinds=["keypoint_detection_prediction", *BOXES])
        smoothing_alpha: Selector(kinds=["float"]) | float = 0.5
        pixels_per_meter: Selector(kinds=["float"]) | float = 1.0

    outputs = [Output("velocity_detections", kinds=["keypoint_detection_prediction", *BOXES])]

    def run(
        self,
        image: WorkflowImage,
        detections: sv.Detections,
        smoothing_alpha: float,
        pixels_per_meter: float,
    ) -> dict[str, Any]:
        found = tracked(detections, "velocity")
        if not 0 < smoothing_alpha <= 1:
            raise RuntimeInputError(
                f"smoothing_alpha must be above 0 and at most 1, not {smoothing_alpha}",
                place="field 'smoothing_alpha'",
            )
        if not pixels_per_meter > 0:
            raise RuntimeInputError(
                f"pixels_per_meter must be above 0, not {pixels_per_meter}",
                place="field 'pixels_per_meter'",
            )
        now = frame_seconds(image.video_metadata)
        centres = (found.xyxy[:, :2] + found.xyxy[:, 2:4]) / 2
        velocity = np.zeros((len(found), 2))
        smoothed = np.zeros((len(found), 2))
        with self._lock:
            state = self.state(
                image.video_id, lambda: {"last": OrderedDict(), "smoothed": OrderedDict()}
            )
            for index, track in enumerate(found.tracker_id.tolist()):
                moved = np.zeros(2)
                if track in state["last"]:
                    where, when = state["last"][track]
                    if now - when > 0:
                        moved = (centres[index] - where) / (now - when)
                before = state["smoothed"].get(track)
                average = (
                    moved
                    if before is None
                    else (smoothing_alpha * moved + (1 - smoothing_alpha) * before)
                )
                state["last"][track] = (centres[index], now)
                state["smoothed"][track] = average
                _recent(state["last"], track)
                _recent(state["smoothed"], track)
                velocity[index], smoothed[index] = moved, average
        result = found[np.arange(len(found))]  # a copy: the input stays as it was
        result.data["velocity"] = velocity / pixels_per_meter
        result.data["speed"] = np.linalg.norm(velocity, axis=1) / pixels_per_meter
        result.data["smoothed_velocity"] = smoothed / pixels_per_meter
        result.data["smoothed_speed"] = np.linalg.norm(smoothed, axis=1) / pixels_per_meter
        return {"velocity_detections": result}


class PathDeviationV1(_PerVideo):
    """How far each tracked detection's path so far (its ``triggering_anchor`` on every
    frame of the video of ``metadata``) is from ``reference_path``: the discrete Fréchet
    distance in pixels, in its data as ``path_deviation``."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/path_deviation_analytics@v1"]
        metadata: Selector(kinds=["video_metadata"])
        detections: Selector(kinds=BOXES)
        triggering_anchor: Selector(kinds=["string"]) | POSITIONS = "CENTER"
        reference_path: Selector(kinds=["list_of_values"]) | list

    outputs = [Output("path_deviation_detections", kinds=BOXES)]

    def run(
        self,
        detections: sv.Detections,
        triggering_anchor: str,
        reference_path: list,
        metadata: VideoMetadata | None = None,
        image: WorkflowImage | None = None,
    ) -> dict[str, Any]:
        found = tracked(detections, "path_deviation_analytics")
        reference = _points(reference_path, "reference_path", least=1)
        anchors = found.get_anchors_coordinates(anchor=sv.Position(triggering_anchor))
        distances = np.zeros(len(found), dtype=np.float64)
        with self._lock:
            paths = self.state(_video(image, metadata), OrderedDict)
            for index, track in enumerate(found.tracker_id.tolist()):
                path = paths.setdefault(track, [])
                _recent(paths, track)
                path.append(anchors[index])
                distances[index] = frechet_distance(np.array(path), reference)
        result = found[np.arange(len(found))]
        result.data["path_deviation"] = distances
        return {"path_deviation_detections": result}


class PathDeviationV2(PathDeviationV1):
    """Path deviation v2: the video is the frame's (``image``), no ``metadata``."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/path_deviation_analytics@v2"]
        image: Selector(kinds=["image"])
        detections: Selector(kinds=BOXES)
        triggering_anchor: Selector(kinds=["string"]) | POSITIONS = "CENTER"
        reference_path: Selector(kinds=["list_of_values"]) | list


def frechet_distance(path: np.ndarray, reference: np.ndarray) -> float:
    """The discrete Fréchet distance between two polylines (N x 2 and M x 2)."""
    apart = np.linalg.norm(path[:, None, :] - reference[None, :, :], axis=2)
    best = np.empty_like(apart)
    best[0, 0] = apart[0, 0]
    best[1:, 0] = np.maximum.accumulate(apart[1:, 0].clip(min=apart[0, 0]))
    best[0, 1:] = np.maximum.accumulate(apart[0, 1:].clip(min=apart[0, 0]))
    for i in range(1, len(path)):
        for j in range(1, len(reference)):
            reach = min(best[i - 1, j], best[i - 1, j - 1], best[i, j - 1])
            best[i, j] = max(reach, apart[i, j])
    return float(best[-1, -1])


class DetectionEventLog(_PerVideo):
    """A log of the tracked objects of a video: for each tracker id its class, first and
    last frame (counted in the frames this step saw of the video, from 1), capture time
    (``*_timestamp``, seconds since the epoch) and time since the video's first frame
    (``*_relative``), and ``frame_count``. ``event_log`` splits them into ``logged`` (seen on
    ``frame_threshold`` frames or more) and ``pending``; every ``flush_interval`` frames,
    objects unseen for more than ``stale_frames`` frames leave the log, the logged ones
    given once as ``complete_events``. ``detections`` passes the input on."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/detection_event_log@v1"]
        image: Selector(kinds=["image"])
        detections: Selector(kinds=BOXES)
        frame_threshold: Selector(kinds=["integer"], scalar_only=True) | AtLeastOne = 30
        flush_interval: Selector(kinds=["integer"], scalar_only=True) | AtLeastOne = 30
        stale_frames: Selector(kinds=["integer"], scalar_only=True) | AtLeastOne = 300
        reference_timestamp: Selector(kinds=["float"]) | float | None = None  # not read
        fallback_fps: Selector(kinds=["float"], scalar_only=True) | Positive = 1.0

    outputs = [
        Output("event_log", kinds=["dictionary"]),
        Output("detections", kinds=BOXES),
        Output("total_logged", kinds=["integer"]),
        Output("total_pending", kinds=["integer"]),
        Output("complete_events", kinds=["dictionary"]),
    ]

    def run(
        self,
        image: WorkflowImage,
        detections: sv.Detections,
        frame_threshold: int,
        flush_interval: int,
        stale_frames: int,
        fallback_fps: float,
        reference_timestamp: float | None = None,
    ) -> dict[str, Any]:
        seconds = image.video_metadata.frame_timestamp.timestamp()
        with self._lock:
            video = self.state(image.video_id, lambda: {"frames": 0, "events": {}})
            video["frames"] += 1
            frame = video["frames"]
            start = video.setdefault("started", seconds)
            flushed = video.setdefault("flushed", frame)
            events: dict[int, dict[str, Any]] = video["events"]
            complete: dict[str, Any] = {}
            if frame - flushed >= flush_interval:
                for track, event in list(events.items()):
                    if frame - event["last_seen_frame"] > stale_frames:
                        del events[track]
                        if event["frame_count"] >= frame_threshold:
                            complete[str(track)] = dict(event)
                video["flushed"] = frame
            if detections.tracker_id is not None:
                names = _class_names(detections)
                for index, track in enumerate(detections.tracker_id.tolist()):
                    _seen(events, int(track), names[index], frame, seconds, seconds - start)
            logged, pending = {}, {}
            for track, event in events.items():
                kept = logged if event["frame_count"] >= frame_threshold else pending
                kept[str(track)] = dict(event)
        return {
            "event_log": {"logged": logged, "pending": pending},
            "detections": detections,
            "total_logged": len(logged),
            "total_pending": len(pending),
            "complete_events": complete,
        }


def _class_names(detections: sv.Detections) -> list[str]:
    names = detections.data.get("class_name")
    if names is not None and len(names) > 0:
        return [str(name) for name in names]
    if detections.class_id is not None:
        return [f"class_{class_id}" for class_id in detections.class_id]
    return ["unknown"] * len(detections)


def _seen(
    events: dict[int, dict[str, Any]],
    track: int,
    name: str,
    frame: int,
    seconds: float,
    relative: float,
) -> None:
    event = events.get(track)
    if event is None:
        events[track] = {
            "tracker_id": track,
            "class_name": name,
            "first_seen_frame": frame,
            "first_seen_timestamp": seconds,
            "last_seen_frame": frame,
            "last_seen_timestamp": seconds,
            "first_seen_relative": relative,
            "last_seen_relative": relative,
            "frame_count": 1,
        }
        return
    event.update(last_seen_frame=frame, last_seen_timestamp=seconds, last_seen_relative=relative)
    event["frame_count"] += 1


BLOCKS: list[type[Block]] = [
    LineCounterV1,
    LineCounterV2,
    TimeInZoneV1,
    TimeInZoneV2,
    TimeInZoneV3,
    VelocityV1,
    PathDeviationV1,
    PathDeviationV2,
    DetectionEventLog,
]
