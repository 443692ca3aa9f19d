"""Head for MediaPipe's hand landmark model: the 21 points of one hand, its presence and which
hand it is.

The model runs on a crop framing one hand (MediaPipe frames the palm detector's box grown
2.6 times and shifted half a box towards the fingers), fed like MediaPipe's HandLandmarkCpu
graph: the crop letterboxed into the 224x224 input as RGB in [0, 1]. Its four outputs come
in a fixed order, which MediaPipe splits by position: the 21 landmarks (x, y, z in input
pixels), the hand presence and the handedness (both already probabilities), then the same
landmarks in metres around the hand's centre (not used here).

Handedness: MediaPipe reads the model's score as the chance of "Left" in a MIRRORED picture
(a selfie camera's view), so on an ordinary photo it is the chance of the person's right
hand. ``mirrored`` says which kind of picture the crops come from.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from visionflow.data.image import WorkflowImage
from visionflow.errors import ModelError, ModelFormatError
from visionflow.models.heads.base import TaskHead
from visionflow.models.heads.mediapipe import LANDMARKS_INPUT, _detections, _setting, _to_image
from visionflow.models.heads.preprocess import ImageTransform, Placement
from visionflow.models.runtime import Session, TensorInfo
from visionflow.models.spec import ModelSpec

HAND_POINTS = 21
# MediaPipe's names of the 21 hand landmarks, in the model's order.
HAND_NAMES = [
    "wrist",
    *(f"thumb_{joint}" for joint in ("cmc", "mcp", "ip", "tip")),
    *(
        f"{finger}_{joint}"
        for finger in ("index_finger", "middle_finger", "ring_finger", "pinky")
        for joint in ("mcp", "pip", "dip", "tip")
    ),
]
# Output sizes in the model's order: landmarks, presence, handedness, world landmarks.
LAYOUT = [3 * HAND_POINTS, 1, 1, 3 * HAND_POINTS]


class HandLandmarksHead(TaskHead):
    """MediaPipe's hand landmark model, run on a crop framing one hand.

    Returns one detection (none when the hand presence is below ``confidence``): the box
    around the 21 landmarks, the presence as its confidence and as every landmark's
    confidence, the hand as its class (``labels``: left then right, the person's own hands)
    with the handedness probability in ``data["handedness_confidence"]``, all in the crop's
    pixels. ``postprocessing``: ``confidence`` (default 0.5), ``mirrored`` (default false:
    true when the pictures are mirrored, as a selfie camera shows them).
    """

    kinds: ClassVar[list[str]] = ["keypoint_detection_prediction"]

    def __init__(self, spec: ModelSpec, session: Session):
        super().__init__(spec, session)
        self.transform = ImageTransform.for_input(session.inputs[0], self.pre, LANDMARKS_INPUT)
        if not self.labels or len(self.labels) != 2:
            raise ModelError(
                f"model '{spec.id}': labels must name the left then the right hand",
                place=f"models '{spec.id}' field 'labels'",
                hint="labels: [left, right]",
            )
        self.mirrored = bool(self.post.get("mirrored", False))

    @classmethod
    def check_outputs(cls, spec: ModelSpec, outputs: list[TensorInfo]) -> None:
        sizes = [int(np.prod([d or 0 for d in output.shape])) for output in outputs]
        if sizes != LAYOUT:
            shapes = [output.shape for output in outputs]
            raise ModelFormatError(
                f"model '{spec.id}': outputs {shapes} are not a hand landmark model's",
                place=f"models '{spec.id}' field 'format'",
                hint="format mediapipe_hand wants outputs of 63, 1, 1 and 63 values, in order",
            )

    def postprocess(
        self, outputs: list[np.ndarray], context: Placement, image: WorkflowImage, options: dict
    ):
        landmarks, presence_output, handedness_output = outputs[:3]
        presence = float(presence_output.reshape(-1)[0])
        if presence < _setting(options, self, "confidence", 0.5):
            nothing = np.zeros((0, HAND_POINTS))
            empty = _detections(
                np.zeros((0, 4)), np.zeros(0), nothing, nothing, HAND_NAMES, "", image
            )
            # The same fields as a found hand's: crops with and without one merge.
            empty.data["handedness_confidence"] = np.zeros(0)
            return empty
        # The chance of MediaPipe's "Left": the person's left hand only in a mirrored picture.
        mediapipe_left = float(handedness_output.reshape(-1)[0])
        left = mediapipe_left if self.mirrored else 1.0 - mediapipe_left
        hand = 0 if left >= 0.5 else 1
        points = landmarks.reshape(HAND_POINTS, 3)[:, :2].astype(np.float64)  # z is dropped
        points = _to_image(context, points)
        box = np.concatenate([points.min(axis=0), points.max(axis=0)])
        scores = np.full((1, HAND_POINTS), presence)
        detections = _detections(
            box[None],
            np.array([presence]),
            points[None],
            scores,
            HAND_NAMES,
            str(self.labels[hand]),
            image,
        )
        detections.class_id = np.array([hand])
        detections.data["handedness_confidence"] = np.array([max(left, 1.0 - left)])
        return detections
