"""Roboflow's trackers (issue 13): supervision's ByteTrack (``byte_tracker`` v1-v3, its
algorithm kept in ``byte_track``) and Roboflow's ``trackers`` package (ByteTrack, SORT,
OC-SORT, BoT-SORT; the ``video`` extra, imported when a workflow uses one).

Each step keeps one tracker per video in the plan's ``video_states`` (made on the video's
first frame with that frame's fields and fps, as Roboflow's blocks make theirs; later values
of the fields are not read), dropped by ``Workflow.end_video``; still images share one.
Frames of a video are tracked one at a time, in the order they arrive.
"""

from __future__ import annotations

import importlib
import threading
import warnings
from collections import deque
from typing import Annotated, Any, Literal

import numpy as np
import supervision as sv
from pydantic import Field

from visionflow.blocks.api import Block, BlockManifest, Output, Selector
from visionflow.blocks.roboflow.byte_track import ByteTrack
from visionflow.data.image import VideoMetadata, WorkflowImage
from visionflow.errors import BlockLoadingError, RuntimeInputError

Ratio = Annotated[float, Field(ge=0, le=1)]
Count = Annotated[int, Field(ge=0)]
DETECTIONS = ["object_detection_prediction", "instance_segmentation_prediction"]
ALL_DETECTIONS = [*DETECTIONS, "keypoint_detection_prediction"]
CACHE_SIZE = 16384  # track ids remembered for new_instances / already_seen_instances
INSTANCE_OUTPUTS = ("new_instances", "already_seen_instances")


class _SeenIds:
    """The track ids seen on a video, the oldest forgotten past ``size`` (at least 1)."""

    def __init__(self, size: int):
        self._order: deque[int] = deque()
        self._ids: set[int] = set()
        self._size = max(1, size)

    def seen(self, track_id: int) -> bool:
        """Whether ``track_id`` was seen before; remembers it."""
        if track_id in self._ids:
            return True
        while len(self._ids) >= self._size:
            self._ids.discard(self._order.popleft())
        self._order.append(track_id)
        self._ids.add(track_id)
        return False


class _Video:
    """A step's tracking of one video: its tracker, the ids it gave, a lock (frame order)."""

    def __init__(self, tracker: Any, cache_size: int):
        self.tracker = tracker
        self.ids = _SeenIds(cache_size)
        self.lock = threading.Lock()
        self.counter = 0  # the ``trackers`` package's next id, kept per video (see below)


def _split(tracked: sv.Detections, ids: _SeenIds) -> dict[str, sv.Detections]:
    seen = np.array([ids.seen(int(i)) for i in tracked.tracker_id], dtype=bool)
    return {
        "tracked_detections": tracked,
        "new_instances": tracked[~seen],
        "already_seen_instances": tracked[seen],
    }


class _Tracker(Block):
    """Common run of the trackers: find the video's tracker, update it with the frame."""

    init_parameters = ["video_states"]

    def __init__(self, video_states: Any):
        self.video_states = video_states

    def _video(self, video: str | None, make: Any, cache_size: int = CACHE_SIZE) -> _Video:
        return self.video_states.get(self, video, lambda: _Video(make(), cache_size))


# --- supervision's ByteTrack ---------------------------------------------------------------


class _ByteTrackerFields(BlockManifest):
    track_activation_threshold: Selector(kinds=["float_zero_to_one"]) | Ratio = 0.25
    lost_track_buffer: Selector(kinds=["integer"]) | Count = 30
    minimum_matching_threshold: Selector(kinds=["float_zero_to_one"]) | Ratio = 0.8
    minimum_consecutive_frames: Selector(kinds=["integer"]) | Count = 1


class _ByteTracker(_Tracker):
    def _track(
        self, video: VideoMetadata, detections: sv.Detections, fps: float, **fields: Any
    ) -> tuple[_Video, sv.Detections]:
        cache_size = fields.pop("instances_cache_size", CACHE_SIZE)
        if detections.confidence is None:  # ByteTrack weighs each match by its confidence
            if len(detections):
                raise RuntimeInputError(
                    "ByteTrack needs detections with confidences, these have none",
                    place="field 'detections'",
                    hint="give the detections of a model (with a confidence each), or "
                    "use roboflow_core/trackers_sort@v1, which needs none",
                )
            detections = _with_confidences(detections)  # a frame without detections
        state = self._video(
            video.video_identifier, lambda: ByteTrack(frame_rate=fps, **fields), cache_size
        )
        with state.lock:
            return state, state.tracker.update(detections)


class ByteTrackerV1(_ByteTracker):
    """Tracks ``detections`` across a video's frames with supervision's ByteTrack (one
    tracker per video of ``metadata``, made with its fps): ``tracked_detections`` are the
    detections of confirmed tracks, with their ``tracker_id`` (from 1)."""

    class Manifest(_ByteTrackerFields):
        type: Literal["roboflow_core/byte_tracker@v1"]
        metadata: Selector(kinds=["video_metadata"])
        detections: Selector(kinds=DETECTIONS)

    outputs = [Output("tracked_detections", kinds=["object_detection_prediction"])]

    def run(self, metadata: VideoMetadata, detections: sv.Detections, **fields: Any) -> dict:
        if not metadata.fps:
            raise RuntimeInputError(  # Roboflow's v1 refuses too; v2 and later take 0
                f"video {metadata.video_identifier!r} has no fps; "
                "roboflow_core/byte_tracker@v1 needs it to make its tracker",
                place="field 'metadata'",
                hint="give the video's fps in its metadata (byte_tracker v2 and v3 take a "
                "video without one, but then drop a lost track at once)",
            )
        _, tracked = self._track(metadata, detections, metadata.fps, **fields)
        return {"tracked_detections": tracked}


class ByteTrackerV2(_ByteTracker):
    """ByteTrack v1 reading the video (and its fps, 0 when unknown) from the frame
    ``image``; still images share one tracker."""

    class Manifest(_ByteTrackerFields):
        type: Literal["roboflow_core/byte_tracker@v2"]
        image: Selector(kinds=["image"])
        detections: Selector(kinds=DETECTIONS)

    outputs = [Output("tracked_detections", kinds=["object_detection_prediction"])]

    def run(self, image: WorkflowImage, detections: sv.Detections, **fields: Any) -> dict:
        _, tracked = self._track(_video(image), detections, image.video_metadata.fps or 0, **fields)
        return {"tracked_detections": tracked}


class ByteTrackerV3(_ByteTracker):
    """ByteTrack v2 that also splits the tracked detections into ``new_instances`` (a track
    id's first frame) and ``already_seen_instances``, remembering ``instances_cache_size``
    ids per video."""

    class Manifest(_ByteTrackerFields):
        type: Literal["roboflow_core/byte_tracker@v3"]
        image: Selector(kinds=["image"])
        detections: Selector(kinds=ALL_DETECTIONS)
        instances_cache_size: int = CACHE_SIZE

    outputs = [
        Output(name, kinds=["object_detection_prediction"])
        for name in ("tracked_detections", *INSTANCE_OUTPUTS)
    ]

    def run(self, image: WorkflowImage, detections: sv.Detections, **fields: Any) -> dict:
        fps = image.video_metadata.fps or 0
        state, tracked = self._track(_video(image), detections, fps, **fields)
        return _split(tracked, state.ids)


def _with_confidences(empty: sv.Detections) -> sv.Detections:
    found = empty[np.zeros(0, dtype=bool)]
    found.confidence = np.zeros(0, dtype=np.float32)
    return found


def _video(image: WorkflowImage) -> VideoMetadata:
    """The frame's video; None as its identifier for a still image (all share a tracker)."""
    return image.video_metadata._replace(video_identifier=image.video_id)


# --- Roboflow's trackers package -------------------------------------------------------------


class _PackageTracker(_Tracker):
    """A tracker of the ``trackers`` package. The package numbers tracks on a counter of its
    tracklet class, shared by every tracker in the process; each video's tracker here counts
    its own (from 0, as a first video in a fresh Roboflow process), swapped in around its
    updates (under one lock: runs may overlap)."""

    tracker_class: str = ""  # the package's class, e.g. "SORTTracker"
    tracklet_module: str = ""  # where its tracklet class is, e.g. "sort"
    outputs = [
        Output(name, kinds=ALL_DETECTIONS) for name in ("tracked_detections", *INSTANCE_OUTPUTS)
    ]

    def setup(self, manifest: BlockManifest) -> None:
        try:
            with warnings.catch_warnings():  # its import warns of a dependency's deprecation
                warnings.simplefilter("ignore", FutureWarning)
                import trackers
        except ImportError:
            raise BlockLoadingError(  # placed at the step by the compiler
                f"{manifest.type} needs Roboflow's trackers package, which is not installed",
                hint="pip install --no-deps trackers==2.4.0 (without --no-deps it would "
                "add opencv-python, which clashes with the headless OpenCV visionflow uses)",
            ) from None
        self._class = getattr(trackers, self.tracker_class)
        self._tracklet = _tracklet_class(self.tracklet_module)

    def run(
        self,
        image: WorkflowImage,
        detections: sv.Detections,
        instances_cache_size: int = CACHE_SIZE,
        **fields: Any,
    ) -> dict:
        fps = image.video_metadata.fps or 30  # Roboflow's default when the fps is unknown
        state = self._video(
            image.video_id, lambda: self._class(frame_rate=fps, **fields), instances_cache_size
        )
        with state.lock, _COUNTER_LOCK:
            self._tracklet.count_id = state.counter
            tracked = self._update(state.tracker, detections, image)
            state.counter = self._tracklet.count_id
        if len(tracked):
            tracked = tracked[tracked.tracker_id != -1]  # not yet confirmed
        return _split(tracked, state.ids)

    def _update(self, tracker: Any, detections: sv.Detections, image: WorkflowImage):
        return tracker.update(detections)


_COUNTER_LOCK = threading.Lock()


def _tracklet_class(module: str) -> type:
    """The package's tracklet class of an algorithm: the one holding its id counter."""
    tracklets = importlib.import_module(f"trackers.core.{module}.tracklet")
    [found] = [
        value
        for name, value in vars(tracklets).items()
        if name.endswith("Tracklet") and hasattr(value, "get_next_tracker_id")
        and value.__module__ == tracklets.__name__
    ]  # fmt: skip
    return found


class _PackageFields(BlockManifest):
    image: Selector(kinds=["image"])
    detections: Selector(kinds=ALL_DETECTIONS)
    lost_track_buffer: Selector(kinds=["integer"]) | Count = 30
    instances_cache_size: int = CACHE_SIZE


class TrackersByteTrack(_PackageTracker):
    """ByteTrack of Roboflow's ``trackers`` package: confident detections (from
    ``high_conf_det_threshold``) matched first, weak ones to the tracks left; new tracks from
    ``track_activation_threshold``, reported after ``minimum_consecutive_frames``."""

    class Manifest(_PackageFields):
        type: Literal["roboflow_core/trackers_bytetrack@v1"]
        minimum_iou_threshold: Selector(kinds=["float_zero_to_one"]) | Ratio = 0.1
        minimum_consecutive_frames: Selector(kinds=["integer"]) | Count = 2
        track_activation_threshold: Selector(kinds=["float_zero_to_one"]) | Ratio = 0.7
        high_conf_det_threshold: Selector(kinds=["float_zero_to_one"]) | Ratio = 0.6

    tracker_class, tracklet_module = "ByteTrackTracker", "bytetrack"


class TrackersSORT(_PackageTracker):
    """SORT of Roboflow's ``trackers`` package: IoU matching on a Kalman filter."""

    class Manifest(_PackageFields):
        type: Literal["roboflow_core/trackers_sort@v1"]
        minimum_iou_threshold: Selector(kinds=["float_zero_to_one"]) | Ratio = 0.3
        minimum_consecutive_frames: Selector(kinds=["integer"]) | Count = 3
        track_activation_threshold: Selector(kinds=["float_zero_to_one"]) | Ratio = 0.25

    tracker_class, tracklet_module = "SORTTracker", "sort"


class TrackersOCSORT(_PackageTracker):
    """OC-SORT of Roboflow's ``trackers`` package: observation-centric recovery of lost
    tracks, direction consistency weighted by ``direction_consistency_weight`` over
    ``delta_t`` frames."""

    class Manifest(_PackageFields):
        type: Literal["roboflow_core/trackers_ocsort@v1"]
        minimum_iou_threshold: Selector(kinds=["float_zero_to_one"]) | Ratio = 0.3
        minimum_consecutive_frames: Selector(kinds=["integer"]) | Count = 3
        high_conf_det_threshold: Selector(kinds=["float_zero_to_one"]) | Ratio = 0.6
        direction_consistency_weight: Selector(kinds=["float_zero_to_one"]) | Ratio = 0.2
        delta_t: Selector(kinds=["integer"]) | Count = 3

    tracker_class, tracklet_module = "OCSORTTracker", "ocsort"


class TrackersBoTSORT(_PackageTracker):
    """BoT-SORT of Roboflow's ``trackers`` package: ByteTrack's two rounds with separate
    IoU thresholds and, with ``enable_cmc``, camera motion compensation on the frame."""

    class Manifest(_PackageFields):
        type: Literal["roboflow_core/trackers_botsort@v1"]
        minimum_iou_threshold_first_assoc: Selector(kinds=["float_zero_to_one"]) | Ratio = 0.2
        minimum_iou_threshold_second_assoc: Selector(kinds=["float_zero_to_one"]) | Ratio = 0.5
        minimum_iou_threshold_unconfirmed_assoc: Selector(kinds=["float_zero_to_one"]) | Ratio = 0.3
        minimum_consecutive_frames: Selector(kinds=["integer"]) | Count = 2
        track_activation_threshold: Selector(kinds=["float_zero_to_one"]) | Ratio = 0.7
        high_conf_det_threshold: Selector(kinds=["float_zero_to_one"]) | Ratio = 0.6
        enable_cmc: Selector(kinds=["boolean"]) | bool = False
        cmc_method: Literal["orb", "sift", "sparseOptFlow", "ecc"] = "sparseOptFlow"
        cmc_downscale: Selector(kinds=["integer"]) | Count = 2
        instant_first_frame_activation: Selector(kinds=["boolean"]) | bool = False

    tracker_class, tracklet_module = "BoTSORTTracker", "botsort"

    def _update(self, tracker: Any, detections: sv.Detections, image: WorkflowImage):
        if getattr(tracker, "enable_cmc", False):
            return tracker.update(detections, frame=image.numpy)
        return tracker.update(detections)


BLOCKS = [
    ByteTrackerV1,
    ByteTrackerV2,
    ByteTrackerV3,
    TrackersByteTrack,
    TrackersSORT,
    TrackersOCSORT,
    TrackersBoTSORT,
]
