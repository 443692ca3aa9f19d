"""Roboflow's blocks that correct tracked detections from what their tracks did on earlier
frames (issue 13): stabilize_detections (boxes smoothed, a track missed for a frame or two
carried on at its filtered velocity) and track_class_lock (a track's class voted once,
then held).

Each keeps its tracks per video through the compiled plan's ``video_states`` (dropped by
``Workflow.end_video``), counting frames as the step sees them.
"""

from __future__ import annotations

import copy
import threading
from collections import deque
from typing import Annotated, Any, Literal

import numpy as np
import supervision as sv
from pydantic import Field, model_validator

from visionflow.blocks.api import Block, Output, Selector
from visionflow.data.image import WorkflowImage
from visionflow.errors import RuntimeInputError

BOXES = ["object_detection_prediction", "instance_segmentation_prediction"]
TRACKED_KINDS = [*BOXES, "keypoint_detection_prediction"]
MOST_TRACKS = 4096  # tracks a class lock keeps per video (the least recently seen go)
MOST_STATE_TTL = 1_000_000
MOST_CLASSES = 256  # classes a track's votes and ids name at most
MOST_CANDIDATES = 256  # lost tracks a new id may take the lock of, the latest lost kept
PROCESS_NOISE, MEASUREMENT_NOISE = 0.001, 0.01  # of the velocity filter (Roboflow's)


class _TrackBlock(Block):
    init_parameters = ["video_states"]

    def __init__(self, **init_parameters: Any):
        super().__init__(**init_parameters)
        self._lock = threading.Lock()  # a step's runs may overlap


def _tracker_ids(detections: sv.Detections, block: str) -> list[int]:
    if detections.tracker_id is not None:
        return [int(track) for track in detections.tracker_id]
    if len(detections) == 0:
        return []
    raise RuntimeInputError(
        f"{block} needs tracked detections (with tracker ids)",
        place="field 'detections'",
        hint="give detections with a tracker_id each (those of a tracker step)",
    )


class _VelocityFilter:
    """A Kalman filter of each track's velocity (constant-velocity model, identity
    transition), measured as the mean of the track's last ``window`` measurements; a track
    not measured loses one of them per frame and goes with the last."""

    def __init__(self, window: int):
        self.window = window
        self.tracks: dict[int, dict[str, Any]] = {}

    def update(self, measured: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        """Feed this frame's measurements; every track's predicted velocity (2 x 1)."""
        for track, velocity in measured.items():
            known = self.tracks.get(track)
            if known is None:
                history = deque([velocity], maxlen=self.window)
                self.tracks[track] = {"v": velocity, "p": np.eye(2), "history": history}
                continue
            known["history"].appendleft(velocity)
            residual = np.mean(known["history"], axis=0) - known["v"]
            gain = known["p"] @ np.linalg.inv(known["p"] + np.eye(2) * MEASUREMENT_NOISE)
            known["v"] = known["v"] + gain @ residual
            known["p"] = known["p"] - gain @ known["p"]
        predicted = {}
        for track, known in self.tracks.items():
            known["p"] = known["p"] + np.eye(2) * PROCESS_NOISE
            predicted[track] = known["v"]
        for track in set(self.tracks) - set(measured):
            history = self.tracks[track]["history"]
            if history:
                history.popleft()
            if not history:
                del self.tracks[track]
        return predicted


def _corner(box: np.ndarray) -> np.ndarray:
    # Roboflow measures a track's motion at x1 + |x2 - x1|, y1 + |y2 - y1| (for a box
    # given as x1 < x2, y1 < y2: its bottom-right corner), and so does this
    return np.array([box[0] + abs(box[2] - box[0]), box[1] + abs(box[3] - box[1])])


class StabilizeDetections(_TrackBlock):
    """Steadier tracked boxes: a track's box is blended with its box on the previous frame
    (``bbox_smoothing_coefficient`` of the new one); a track missing from a frame is carried
    on at its filtered velocity (a Kalman filter over the mean of its last
    ``smoothing_window_size`` motions) for as many frames as it had motions. The video is
    the frame's (``image``); its filter is made with the first frame's window size."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/stabilize_detections@v1"]
        image: Selector(kinds=["image"])
        detections: Selector(kinds=BOXES)
        smoothing_window_size: Selector(kinds=["integer"]) | int | None = 3
        bbox_smoothing_coefficient: Selector(kinds=["float_zero_to_one"]) | float | None = 0.2

    outputs = [Output("tracked_detections", kinds=BOXES)]

    def run(
        self,
        image: WorkflowImage,
        detections: sv.Detections,
        smoothing_window_size: int | None,
        bbox_smoothing_coefficient: float | None,
    ) -> dict[str, Any]:
        ids = _tracker_ids(detections, "stabilize_detections")
        alpha = bbox_smoothing_coefficient
        with self._lock:
            state = self.state(image.video_id, smoothing_window_size)
            last: dict[int, sv.Detections] = state["last"]
            motions = {
                track: (_corner(detections.xyxy[i]) - _corner(last[track].xyxy[0])).reshape(2, 1)
                for i, track in enumerate(ids)
                if track in last
            }
            predicted = state["filter"].update(motions)
            found: dict[int, sv.Detections] = {}
            for i, track in enumerate(ids):
                one = detections[i]
                if track in last:
                    one.xyxy[0] = alpha * one.xyxy[0] + (1 - alpha) * last[track].xyxy[0]
                found[track] = one
                last[track] = detections[i]
            for track, velocity in predicted.items():
                if track in found:
                    continue
                missing = last[track]  # carried on: its place moves with its velocity
                ahead = missing.xyxy[0] + np.tile(velocity.flatten(), 2)
                missing.xyxy = alpha * ahead[None, :] + (1 - alpha) * missing.xyxy[0]
                found[track] = missing
            for track in [t for t in last if t not in state["filter"].tracks and t not in found]:
                del last[track]
            result = sv.Detections.merge(list(found.values()))  # new arrays: state stays
        if len(result) == 0:
            result.tracker_id = np.array([])
        return {"tracked_detections": result}

    def state(self, video: str | None, window: int | None) -> dict[str, Any]:
        return self.video_states.get(
            self, video, lambda: {"last": {}, "filter": _VelocityFilter(window)}
        )


AtLeastOne = Annotated[int, Field(ge=1)]
AtLeastZero = Annotated[int, Field(ge=0)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


class TrackClassLock(_TrackBlock):
    """Holds each track's class once voted: a track's detections of confidence
    ``vote_confidence`` or more vote for their class; the class with ``min_votes`` votes,
    ``lead_margin`` more than the next, is locked. Then a detection of another class starts
    a challenge, which takes the lock after ``switch_after`` such detections in a row. A
    locked track's detections take its class (name and id) and the mean confidence of its
    votes; ``class_locked`` in their data says which. A new tracker id takes the lock of a
    locked track lost for 1 to ``reattach_window`` frames whose last box overlaps its box by
    IoU ``reattach_iou`` or more (the best such); tracks unseen for more than ``state_ttl``
    frames are forgotten. Frames are counted as the step sees them, per video."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/track_class_lock@v1"]
        image: Selector(kinds=["image"])
        detections: Selector(kinds=TRACKED_KINDS)
        min_votes: Selector(kinds=["integer"]) | AtLeastOne = 10
        vote_confidence: Selector(kinds=["float_zero_to_one"]) | Fraction = 0.8
        lead_margin: Selector(kinds=["integer"]) | AtLeastZero = 3
        switch_after: Selector(kinds=["integer"]) | AtLeastOne = 15
        state_ttl: Selector(kinds=["integer"]) | Annotated[int, Field(ge=1, le=MOST_STATE_TTL)] = (
            300
        )
        reattach_window: Selector(kinds=["integer"]) | AtLeastZero = 30
        reattach_iou: Selector(kinds=["float_zero_to_one"]) | Fraction = 0.3

        @model_validator(mode="after")
        def _reattach_within_ttl(self) -> TrackClassLock.Manifest:
            window, ttl = self.reattach_window, self.state_ttl
            if isinstance(window, int) and isinstance(ttl, int) and window > ttl:
                raise ValueError(_TTL_MESSAGE.format(window=window, ttl=ttl))
            return self

    outputs = [Output("tracked_detections", kinds=TRACKED_KINDS)]

    def run(
        self,
        image: WorkflowImage,
        detections: sv.Detections,
        min_votes: int,
        vote_confidence: float,
        lead_margin: int,
        switch_after: int,
        state_ttl: int,
        reattach_window: int,
        reattach_iou: float,
    ) -> dict[str, Any]:
        _check_parameters(
            min_votes, vote_confidence, lead_margin, switch_after, state_ttl, reattach_window,
            reattach_iou,
        )  # fmt: skip
        _tracker_ids(detections, "track_class_lock")
        found = copy.deepcopy(detections)
        count = len(found)
        if found.confidence is None and count > 0:
            found.confidence = np.ones(count, dtype=np.float32)
        names = found.data.get("class_name")
        if names is not None:
            names = np.asarray(names).astype(object)  # a longer name must fit
            found.data["class_name"] = names
        locked = np.zeros(count, dtype=bool)
        with self._lock:
            video = self.video_states.get(self, image.video_id, lambda: {"tracks": {}, "frame": 0})
            video["frame"] += 1
            frame, tracks = video["frame"], video["tracks"]
            present = set()
            if found.tracker_id is not None:
                present = {int(t) for t in found.tracker_id if t is not None and int(t) >= 0}
            lost = _lost_locked(tracks, frame, reattach_window, present)
            for i in range(count):
                track = found.tracker_id[i]
                if track is None or int(track) < 0:
                    continue
                track = int(track)
                if track not in tracks and lost:
                    best = _best_overlap(lost, found.xyxy[i], reattach_iou)
                    if best is not None:
                        tracks[track] = tracks.pop(lost.pop(best)[0])
                st = tracks.setdefault(track, _new_track(frame))
                st["last_seen"], st["last_xyxy"] = frame, np.array(found.xyxy[i], copy=True)
                if names is not None:
                    name = str(names[i])
                elif found.class_id is not None:
                    name = str(found.class_id[i])
                else:
                    continue  # no class to vote for
                confidence = float(found.confidence[i]) if found.confidence is not None else 1.0
                class_id = int(found.class_id[i]) if found.class_id is not None else None
                votes_for = confidence >= vote_confidence
                if st["locked"] is None:
                    _vote(st, name, confidence, class_id, votes_for, min_votes, lead_margin)
                else:
                    _challenge(st, name, confidence, class_id, votes_for, switch_after)
                if st["locked"] is not None:
                    held = st["locked"]
                    if names is not None:
                        names[i] = held
                    if found.class_id is not None and held in st["class_ids"]:
                        found.class_id[i] = st["class_ids"][held]
                    found.confidence[i] = min(1.0, st["conf_sum"][held] / max(st["votes"][held], 1))
                    locked[i] = True
            for track in [t for t, st in tracks.items() if frame - st["last_seen"] > state_ttl]:
                del tracks[track]
            if len(tracks) > MOST_TRACKS:
                oldest = sorted(tracks, key=lambda t: tracks[t]["last_seen"])
                for track in oldest[: len(tracks) - MOST_TRACKS]:
                    del tracks[track]
        found.data["class_locked"] = locked
        return {"tracked_detections": found}


_TTL_MESSAGE = (
    "reattach_window ({window}) must not exceed state_ttl ({ttl}): a lost track is "
    "forgotten after state_ttl frames, so it could never be taken over later"
)


def _check_parameters(
    min_votes: int,
    vote_confidence: float,
    lead_margin: int,
    switch_after: int,
    state_ttl: int,
    reattach_window: int,
    reattach_iou: float,
) -> None:
    """The manifest's bounds, again for values from parameters."""
    checks = [
        ("min_votes", min_votes, min_votes >= 1, ">= 1"),
        ("vote_confidence", vote_confidence, 0.0 <= vote_confidence <= 1.0, "from 0 to 1"),
        ("lead_margin", lead_margin, lead_margin >= 0, ">= 0"),
        ("switch_after", switch_after, switch_after >= 1, ">= 1"),
        ("state_ttl", state_ttl, 1 <= state_ttl <= MOST_STATE_TTL, f"from 1 to {MOST_STATE_TTL}"),
        ("reattach_window", reattach_window, reattach_window >= 0, ">= 0"),
        ("reattach_iou", reattach_iou, 0.0 <= reattach_iou <= 1.0, "from 0 to 1"),
    ]
    for name, value, holds, bound in checks:
        if not holds:
            raise RuntimeInputError(f"{name} must be {bound}, not {value}", place=f"field '{name}'")
    if reattach_window > state_ttl:
        raise RuntimeInputError(
            _TTL_MESSAGE.format(window=reattach_window, ttl=state_ttl),
            place="field 'reattach_window'",
        )


def _new_track(frame: int) -> dict[str, Any]:
    return {
        "votes": {},
        "conf_sum": {},
        "class_ids": {},
        "locked": None,
        "last_seen": frame,
        "challenger": None,
        "streak": 0,
        "streak_conf": 0.0,
        "last_xyxy": None,
    }


def _vote(
    st: dict[str, Any],
    name: str,
    confidence: float,
    class_id: int | None,
    votes_for: bool,
    min_votes: int,
    lead_margin: int,
) -> None:
    """Before the lock: votes add up in any order; the leader locks when far enough ahead."""
    votes = st["votes"]
    if votes_for and (name in votes or len(votes) < MOST_CLASSES):
        votes[name] = votes.get(name, 0) + 1
        st["conf_sum"][name] = st["conf_sum"].get(name, 0.0) + confidence
        if class_id is not None:
            _remember_class_id(st, name, class_id)
    if votes:
        # the first class to reach the most votes leads (ties: the earliest voted)
        ranked = sorted(votes.items(), key=lambda item: item[1], reverse=True)[:2]
        top, top_votes = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0
        if top_votes >= min_votes and top_votes - runner_up >= lead_margin:
            st["locked"] = top


def _challenge(
    st: dict[str, Any],
    name: str,
    confidence: float,
    class_id: int | None,
    votes_for: bool,
    switch_after: int,
) -> None:
    """After the lock: another class takes it after ``switch_after`` votes in a row."""
    if not votes_for or name == st["locked"]:
        st["challenger"], st["streak"], st["streak_conf"] = None, 0, 0.0
        return
    if name == st["challenger"]:
        st["streak"] += 1
        st["streak_conf"] += confidence
    else:
        st["challenger"], st["streak"], st["streak_conf"] = name, 1, confidence
        if class_id is not None:
            _remember_class_id(st, name, class_id)
    if st["streak"] >= switch_after:
        st["locked"] = st["challenger"]
        st["votes"] = {st["locked"]: st["streak"]}
        st["conf_sum"] = {st["locked"]: st["streak_conf"]}
        st["challenger"], st["streak"], st["streak_conf"] = None, 0, 0.0


def _remember_class_id(st: dict[str, Any], name: str, class_id: int) -> None:
    ids = st["class_ids"]
    if name not in ids and len(ids) >= MOST_CLASSES:
        named = set(st["votes"]) | {st["locked"], st["challenger"], name}
        for stale in [known for known in ids if known not in named]:
            del ids[stale]
    ids[name] = class_id


def _lost_locked(
    tracks: dict[int, dict[str, Any]], frame: int, window: int, present: set[int]
) -> list[tuple[int, dict[str, Any]]]:
    """Locked tracks absent from this frame, lost 1 to ``window`` frames ago."""
    if window <= 0:
        return []
    lost = [
        (track, st)
        for track, st in tracks.items()
        if track not in present
        and st["locked"] is not None
        and st["last_xyxy"] is not None
        and 1 <= frame - st["last_seen"] <= window
    ]
    if len(lost) > MOST_CANDIDATES:
        lost.sort(key=lambda item: item[1]["last_seen"], reverse=True)
        del lost[MOST_CANDIDATES:]
    return lost


def _best_overlap(
    lost: list[tuple[int, dict[str, Any]]], box: np.ndarray, least_iou: float
) -> int | None:
    best, best_iou = None, 0.0
    for index, (_, st) in enumerate(lost):
        iou = _iou(box, st["last_xyxy"])
        if iou >= least_iou and iou > best_iou:
            best, best_iou = index, iou
    return best


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = float(width * height)
    union = float((a[2] - a[0]) * (a[3] - a[1])) + float((b[2] - b[0]) * (b[3] - b[1])) - inter
    return inter / union if union > 0 else 0.0


BLOCKS: list[type[Block]] = [StabilizeDetections, TrackClassLock]
