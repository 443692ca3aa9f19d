"""ByteTrack as supervision gave it up to 0.30 (``sv.ByteTrack``), which Roboflow's
``byte_tracker`` blocks run: supervision 0.31 removed it, so it is written here, on numpy
and scipy, to give the same track ids.

Two rounds of IoU matching per frame: the confident detections against every live or lost
track (IoU weighted by the detection's confidence), then the weak ones (above 0.1) against
the live tracks left; a track on its first frame is confirmed by matching on the next
(unless it started on the video's first frame). Tracks move on a constant-velocity Kalman
filter over (centre x, centre y, aspect ratio, height). The output keeps the input boxes:
each confirmed track is matched back to the detections (IoU at least 0.5).
"""

from __future__ import annotations

from enum import Enum

import numpy as np
import supervision as sv
from scipy.linalg import cho_factor, cho_solve
from scipy.optimize import linear_sum_assignment

POSITION, VELOCITY = 1.0 / 20, 1.0 / 160  # noise per unit of box height
MOTION = np.eye(8) + np.eye(8, k=4)  # x' = x + v, one frame a step
WEAK = 0.1  # detections at or below this confidence are ignored


class State(Enum):
    NEW, TRACKED, LOST, REMOVED = range(4)


def _xyah(tlwh: np.ndarray) -> np.ndarray:
    box = np.asarray(tlwh).copy()
    box[:2] += box[2:] / 2
    box[2] /= box[3]
    return box


def _predict(means: np.ndarray, covariances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One frame ahead for several tracks at once."""
    height = means[:, 3]
    std = [POSITION * height, POSITION * height, 1e-2 * np.ones_like(height),
           POSITION * height, VELOCITY * height, VELOCITY * height,
           1e-5 * np.ones_like(height), VELOCITY * height]  # fmt: skip
    noise = np.stack([np.diag(row) for row in np.square(np.array(std)).T])
    means = means @ MOTION.T
    covariances = np.einsum("ij,njk,lk->nil", MOTION, covariances, MOTION) + noise
    return means, covariances


def _correct(mean: np.ndarray, covariance: np.ndarray, measured: np.ndarray):
    height = mean[3]
    noise = np.diag(np.square([POSITION * height, POSITION * height, 1e-1, POSITION * height]))
    projected, projected_cov = mean[:4], covariance[:4, :4] + noise
    gain = cho_solve(cho_factor(projected_cov, lower=True), covariance[:, :4].T).T
    return mean + (measured - projected) @ gain.T, covariance - gain @ projected_cov @ gain.T


class Track:
    def __init__(self, tlbr: np.ndarray, score: float):
        tlwh = np.asarray(tlbr, dtype=np.float32).copy()
        tlwh[2:] -= tlwh[:2]
        self.detected = tlwh
        self.score = score
        self.state = State.NEW
        self.confirmed = False  # supervision's is_activated: reported in the output
        self.mean: np.ndarray | None = None
        self.covariance: np.ndarray | None = None
        self.length = 0
        self.start_frame = self.frame = 0
        self.key = -1  # internal id, from 0
        self.track_id = -1  # the id reported, from 1, given when confirmed

    @property
    def tlbr(self) -> np.ndarray:
        if self.mean is None:
            tlwh = self.detected.copy()
        else:
            tlwh = self.mean[:4].copy()
            tlwh[2] *= tlwh[3]
            tlwh[:2] -= tlwh[2:] / 2
        tlwh[2:] += tlwh[:2]
        return tlwh


class ByteTrack:
    """One video's tracker, with Roboflow's block fields and supervision's defaults."""

    def __init__(
        self,
        track_activation_threshold: float = 0.25,
        lost_track_buffer: int = 30,
        minimum_matching_threshold: float = 0.8,
        frame_rate: float = 30,
        minimum_consecutive_frames: int = 1,
    ):
        self.high = track_activation_threshold
        self.start = self.high + 0.1 if self.high + 0.1 <= 1.0 else self.high
        self.matching = minimum_matching_threshold
        self.max_lost = int(frame_rate / 30.0 * lost_track_buffer)
        self.min_frames = minimum_consecutive_frames
        self.frame = 0
        self.tracked: list[Track] = []
        self.lost: list[Track] = []
        self.removed: list[Track] = []
        self._keys = 0
        self._ids = 1

    def update(self, detections: sv.Detections) -> sv.Detections:
        """The detections of the tracks confirmed on this frame, with their ``tracker_id``."""
        if detections.confidence is None:
            raise ValueError("tracking needs detections with confidences")
        boxes, scores = detections.xyxy, detections.confidence
        tracks = self._step(boxes, scores)
        tracker_id = np.full(len(detections), -1, dtype=int)
        if tracks:
            costs = 1 - sv.box_iou_batch(boxes, np.array([t.tlbr for t in tracks]))
            for det, track in _assign(costs, 0.5)[0]:
                tracker_id[det] = tracks[track].track_id
        if not tracks:
            found = sv.Detections.empty()
            found.tracker_id = np.array([], dtype=int)
            return found
        found = detections[np.arange(len(detections))]
        found.tracker_id = tracker_id
        return found[tracker_id != -1]

    # --- one frame -----------------------------------------------------------------------

    def _step(self, boxes: np.ndarray, scores: np.ndarray) -> list[Track]:
        self.frame += 1
        table = np.hstack([boxes, scores[:, None]])
        sizes = boxes[:, 2:] - boxes[:, :2]
        valid = np.isfinite(table).all(axis=1) & (sizes > 0).all(axis=1)
        boxes, scores = boxes[valid], scores[valid]
        strong = [Track(b, s) for b, s in zip(boxes, scores, strict=True) if s >= self.high]
        weak = [Track(b, s) for b, s in zip(boxes, scores, strict=True) if WEAK < s < self.high]
        activated: list[Track] = []
        refound: list[Track] = []
        newly_lost: list[Track] = []
        removed: list[Track] = []

        unconfirmed = [t for t in self.tracked if not t.confirmed]
        pool = _joint([t for t in self.tracked if t.confirmed], self.lost)
        self._predict(pool)
        costs = _fused(_iou_costs(pool, strong), strong)
        matches, left_tracks, left_strong = _assign(costs, self.matching)
        for track, det in matches:
            self._follow(pool[track], strong[det], activated, refound)

        live = [pool[i] for i in left_tracks if pool[i].state == State.TRACKED]
        matches, still_left, _ = _assign(_iou_costs(live, weak), 0.5)
        for track, det in matches:
            self._follow(live[track], weak[det], activated, refound)
        for i in still_left:
            if live[i].state != State.LOST:
                live[i].state = State.LOST
                newly_lost.append(live[i])

        strong = [strong[i] for i in left_strong]
        matches, left_unconfirmed, left_strong = _assign(
            _fused(_iou_costs(unconfirmed, strong), strong), 0.7
        )
        for track, det in matches:
            self._update(unconfirmed[track], strong[det])
            activated.append(unconfirmed[track])
        for i in left_unconfirmed:
            unconfirmed[i].state = State.REMOVED
            removed.append(unconfirmed[i])

        for i in left_strong:
            if strong[i].score >= self.start:
                self._activate(strong[i])
                activated.append(strong[i])
        for track in self.lost:
            if self.frame - track.frame > self.max_lost:
                track.state = State.REMOVED
                removed.append(track)

        tracked = [t for t in self.tracked if t.state == State.TRACKED]
        self.tracked = _joint(_joint(tracked, activated), refound)
        lost = _without(self.lost, self.tracked) + newly_lost
        # supervision drops the tracks removed on the previous frame: this frame's stay a frame
        self.lost = _without(lost, self.removed)
        self.removed = removed
        self.tracked, self.lost = _deduplicated(self.tracked, self.lost)
        return [t for t in self.tracked if t.confirmed]

    def _predict(self, tracks: list[Track]) -> None:
        if not tracks:
            return
        means = np.array([t.mean for t in tracks])
        for mean, track in zip(means, tracks, strict=True):
            if track.state != State.TRACKED:
                mean[7] = 0  # a lost track's height stops changing
        means, covariances = _predict(means, np.array([t.covariance for t in tracks]))
        for track, mean, covariance in zip(tracks, means, covariances, strict=True):
            track.mean, track.covariance = mean, covariance

    def _activate(self, track: Track) -> None:
        track.key, self._keys = self._keys, self._keys + 1
        measured = _xyah(track.detected)
        height = measured[3]
        position, velocity = 2 * POSITION * height, 10 * VELOCITY * height
        std = [position, position, 1e-2, position, velocity, velocity, 1e-5, velocity]
        track.mean = np.r_[measured, np.zeros_like(measured)]
        track.covariance = np.diag(np.square(std))
        track.length, track.state = 1, State.TRACKED
        if self.frame == 1 and track.length >= self.min_frames:
            track.confirmed = True
            track.track_id = self._new_id()
        track.frame = track.start_frame = self.frame

    def _follow(self, track: Track, det: Track, activated: list, refound: list) -> None:
        if track.state == State.TRACKED:
            self._update(track, det)
            activated.append(track)
        else:  # found again: its length starts over
            track.mean, track.covariance = _correct(
                track.mean, track.covariance, _xyah(det.detected)
            )
            track.length, track.state = 0, State.TRACKED
            track.frame, track.score = self.frame, det.score
            refound.append(track)

    def _update(self, track: Track, det: Track) -> None:
        track.frame = self.frame
        track.length += 1
        track.mean, track.covariance = _correct(track.mean, track.covariance, _xyah(det.detected))
        track.state = State.TRACKED
        if track.length >= self.min_frames:
            track.confirmed = True
            if track.track_id == -1:
                track.track_id = self._new_id()
        track.score = det.score

    def _new_id(self) -> int:
        self._ids += 1
        return self._ids - 1


def _iou_costs(a: list[Track], b: list[Track]) -> np.ndarray:
    if not a or not b:
        return np.empty((len(a), len(b)), dtype=np.float32)
    boxes_a = np.asarray([t.tlbr for t in a], dtype=np.float32)
    boxes_b = np.asarray([t.tlbr for t in b], dtype=np.float32)
    return np.asarray(1 - sv.box_iou_batch(boxes_a, boxes_b), dtype=np.float32)


def _fused(costs: np.ndarray, detections: list[Track]) -> np.ndarray:
    """IoU times the detection's confidence, as a cost."""
    if costs.size == 0:
        return costs
    scores = np.array([d.score for d in detections], dtype=np.float32)[None, :]
    return np.asarray(1 - (1 - costs) * scores, dtype=np.float32)


def _assign(costs: np.ndarray, limit: float) -> tuple[list, list[int], list[int]]:
    """Least-cost pairs at most ``limit``; the rows and columns left."""
    rows, columns = costs.shape
    if costs.size == 0:
        return [], list(range(rows)), list(range(columns))
    capped = np.where(costs > limit, limit + 1e-4, costs)
    rows_taken, columns_taken = linear_sum_assignment(capped)
    pairs = [(r, c) for r, c in zip(rows_taken, columns_taken, strict=True) if costs[r, c] <= limit]
    # The rows and columns left come in the order of a set difference, as in supervision: not
    # always ascending past 8 (a set's hash order), and that order decides which new track
    # gets which id, so it is kept.
    return (
        pairs,
        list(set(range(rows)) - {r for r, _ in pairs}),
        list(set(range(columns)) - {c for _, c in pairs}),
    )


def _joint(a: list[Track], b: list[Track]) -> list[Track]:
    seen: set[int] = set()
    joined = []
    for track in a + b:
        if track.key not in seen:
            seen.add(track.key)
            joined.append(track)
    return joined


def _without(a: list[Track], b: list[Track]) -> list[Track]:
    by_key = {t.key: t for t in a}
    for track in b:
        by_key.pop(track.key, None)
    return list(by_key.values())


def _deduplicated(tracked: list[Track], lost: list[Track]) -> tuple[list, list]:
    """A live and a lost track on the same place (IoU above 0.95): the younger goes."""
    costs = _iou_costs(tracked, lost)
    drop_tracked, drop_lost = set(), set()
    for i, j in zip(*np.where(costs < 0.05), strict=True):
        if tracked[i].frame - tracked[i].start_frame > lost[j].frame - lost[j].start_frame:
            drop_lost.add(j)
        else:
            drop_tracked.add(i)
    return (
        [t for i, t in enumerate(tracked) if i not in drop_tracked],
        [t for j, t in enumerate(lost) if j not in drop_lost],
    )
