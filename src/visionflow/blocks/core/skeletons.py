"""Which keypoints are joined by lines when predictions are drawn: MediaPipe's pose (33
points), hand (21 points) and face mesh (468 points) topologies, written as paths of
keypoint names.

Keypoints are matched by the names the models' heads give them (``keypoints_class_name``),
so a model that reports only some of a skeleton's points still gets the lines between
those it has. Paths follow MediaPipe's published connection lists (its pose, hands and
face mesh landmark maps); the face mesh keeps the contours (oval, eyes, brows, lips).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np


@dataclass(frozen=True)
class Skeleton:
    """Lines between named keypoints (``paths``: each drawn point to point) and circles
    (``rings``: a centre point and the rim points whose mean distance is the radius)."""

    name: str
    paths: tuple[tuple[str, ...], ...]
    rings: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def edges(self, names: Sequence[str]) -> list[tuple[int, int]]:
        """(a, b) positions in ``names`` of every segment whose two ends are there."""
        position = {name: index for index, name in enumerate(names)}
        return [
            (position[a], position[b])
            for path in self.paths
            for a, b in pairwise(path)
            if a in position and b in position
        ]

    def circles(self, names: Sequence[str], points: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """(centre, radius) of each ring whose centre and rim points are all in ``names``."""
        position = {name: index for index, name in enumerate(names)}
        found = []
        for centre, rim in self.rings:
            if centre in position and all(point in position for point in rim):
                middle = points[position[centre]]
                radius = np.mean([np.linalg.norm(points[position[p]] - middle) for p in rim])
                found.append((middle, float(radius)))
        return found


def _side(side: str, *joints: str) -> tuple[str, ...]:
    return tuple(f"{side}_{joint}" for joint in joints)


MEDIAPIPE_POSE = Skeleton(
    "mediapipe_pose",
    paths=(
        # face: ear - eye corners - nose - eye corners - ear, and the mouth
        (*_side("right", "ear", "eye_outer", "eye", "eye_inner"), "nose",
         *_side("left", "eye_inner", "eye", "eye_outer", "ear")),
        ("mouth_left", "mouth_right"),
        # torso
        ("left_shoulder", "right_shoulder", "right_hip", "left_hip", "left_shoulder"),
        # each arm to its wrist, the hand's three points looped back to the wrist
        *(_side(side, "shoulder", "elbow", "wrist", "pinky", "index", "wrist", "thumb")
          for side in ("left", "right")),
        # each leg down to the foot, the foot a triangle
        *(_side(side, "hip", "knee", "ankle", "heel", "foot_index", "ankle")
          for side in ("left", "right")),
    ),
)  # fmt: skip

_FINGERS = ("index_finger", "middle_finger", "ring_finger", "pinky")
MEDIAPIPE_HAND = Skeleton(
    "mediapipe_hand",
    paths=(
        ("wrist", "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip"),
        # the palm's outline: wrist, the four knuckles, back to the wrist
        ("wrist", *(f"{finger}_mcp" for finger in _FINGERS), "wrist"),
        *(tuple(f"{finger}_{joint}" for joint in ("mcp", "pip", "dip", "tip"))
          for finger in _FINGERS),
    ),
)  # fmt: skip


def _mesh(*indices: int) -> tuple[str, ...]:
    return tuple(str(index) for index in indices)  # the face mesh names points by index


# Eyes and lips as an upper and a lower path between their corners; the oval closed.
MEDIAPIPE_FACE_MESH = Skeleton(
    "mediapipe_face_mesh",
    paths=(
        _mesh(10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378,
              400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54,
              103, 67, 109, 10),
        # lips: outer lower, outer upper, inner lower, inner upper
        _mesh(61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291),
        _mesh(61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291),
        _mesh(78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308),
        _mesh(78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308),
        # the eye on the image's left (the person's right): lower lid, upper lid, brow
        _mesh(33, 7, 163, 144, 145, 153, 154, 155, 133),
        _mesh(33, 246, 161, 160, 159, 158, 157, 173, 133),
        _mesh(46, 53, 52, 65, 55),
        _mesh(70, 63, 105, 66, 107),
        # the eye on the image's right (the person's left)
        _mesh(263, 249, 390, 373, 374, 380, 381, 382, 362),
        _mesh(263, 466, 388, 387, 386, 385, 384, 398, 362),
        _mesh(276, 283, 282, 295, 285),
        _mesh(300, 293, 334, 296, 336),
    ),
)  # fmt: skip

# The iris model's centre and four rim points (heads/face_landmarks.py's names).
IRIS = Skeleton(
    "mediapipe_iris",
    paths=(),
    rings=(("iris_center", ("iris_1", "iris_2", "iris_3", "iris_4")),),
)

SKELETONS = {s.name: s for s in (MEDIAPIPE_POSE, MEDIAPIPE_HAND, MEDIAPIPE_FACE_MESH, IRIS)}


def skeleton_for(names: Sequence[str]) -> Skeleton | None:
    """The known skeleton joining the most of these keypoints (None: none joins any)."""
    scored = [
        (len(s.edges(names)) + len(s.circles(names, np.zeros((len(names), 2)))), s)
        for s in SKELETONS.values()
    ]
    score, best = max(scored, key=lambda pair: pair[0])
    return best if score else None
