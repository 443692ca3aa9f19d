"""The head of MTCNN (``runtime: mtcnn``, task ``object_detection``, format ``mtcnn``): faces
with 5 keypoints (eyes, nose tip, mouth corners).

``postprocessing``: ``min_face_size`` (pixels; the smallest face looked for, 20 in the
paper's code), ``scale_factor`` (the image pyramid's step, 0.709), ``pnet_threshold`` and
``rnet_threshold`` (the first two stages' scores, 0.6 and 0.7), ``confidence`` (the last
stage's, 0.7: a step's ``confidence`` replaces it), ``iou`` (the last NMS, measured over the
smaller box, 0.7), ``max_detections``, ``keypoints`` (their names, in the model's order).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from visionflow.data.image import WorkflowImage
from visionflow.models.cascades import images_with_parameters
from visionflow.models.heads.base import TaskHead, label_of
from visionflow.models.heads.mediapipe import _detections
from visionflow.models.mtcnn import PARAMETERS, nms
from visionflow.models.runtime import Session
from visionflow.models.spec import ModelSpec

if TYPE_CHECKING:  # supervision (~0.5 s: scipy) annotations only
    import supervision as sv

# The paper's code's values.
DEFAULTS: dict[str, Any] = {
    "min_face_size": 20,
    "scale_factor": 0.709,
    "pnet_threshold": 0.6,
    "rnet_threshold": 0.7,
    "confidence": 0.7,
    "iou": 0.7,
    "max_detections": None,
    "keypoints": ["right_eye", "left_eye", "nose_tip", "mouth_right", "mouth_left"],
}
# Bounds on the pyramid's cost: faces under 8 pixels would enlarge the image 1.5 times and
# more, and a step above 0.95 would make hundreds of levels.
MIN_FACE_SIZE, MAX_SCALE_FACTOR = 8, 0.95


class MtcnnHead(TaskHead):
    kinds: ClassVar[list[str]] = ["keypoint_detection_prediction", "object_detection_prediction"]
    postprocessing_help = (
        "MTCNN: min_face_size (e.g. 20), scale_factor (e.g. 0.709), "
        "pnet_threshold, rnet_threshold, confidence, iou, max_detections, keypoints"
    )

    def __init__(self, spec: ModelSpec, session: Session):
        super().__init__(spec, session)
        settings = {**DEFAULTS, **self.post}
        unknown = sorted(set(settings) - set(DEFAULTS))
        if unknown:
            self._fail(f"unknown postprocessing setting(s) {', '.join(unknown)}")
        size, factor = settings["min_face_size"], settings["scale_factor"]
        if not _number(size) or not MIN_FACE_SIZE <= size < math.inf:
            self._fail(f"min_face_size must be a number of pixels, {MIN_FACE_SIZE} or more, "
                       f"not {size!r}")  # fmt: skip
        if not _number(factor) or not 0 < factor <= MAX_SCALE_FACTOR:
            self._fail(f"scale_factor must be a number above 0 and at most {MAX_SCALE_FACTOR}, "
                       f"not {factor!r}")  # fmt: skip
        for name in ("pnet_threshold", "rnet_threshold", "confidence", "iou"):
            if not _number(settings[name]) or not 0 <= settings[name] <= 1:
                self._fail(f"{name} must be a number from 0 to 1, not {settings[name]!r}")
        limit = settings["max_detections"]
        if limit is not None and (
            not isinstance(limit, int) or isinstance(limit, bool) or limit < 0
        ):
            self._fail(f"max_detections must be a whole number, 0 or more, not {limit!r}")
        names = settings["keypoints"]
        if (
            not isinstance(names, list)
            or len(names) != 5
            or not all(isinstance(n, str) for n in names)
        ):
            self._fail(f"keypoints must name MTCNN's 5 points, not {names!r}")
        self.parameters = np.array([settings[name] for name in PARAMETERS], dtype=np.float64)
        self.settings = settings
        self.label = label_of(self.labels, 0)

    def preprocess(self, image: WorkflowImage) -> tuple[list[np.ndarray], Any]:
        rgb = np.ascontiguousarray(image.numpy[:, :, ::-1])
        return [rgb, self.parameters], None

    def collate(self, elements: list[list[np.ndarray]]) -> list[tuple[list[int], list[np.ndarray]]]:
        """The whole batch in one call: the session loops over images of any sizes."""
        return images_with_parameters(elements)

    def postprocess(
        self, outputs: list[np.ndarray], context: Any, image: WorkflowImage, options: dict
    ) -> sv.Detections:
        boxes, scores, landmarks = outputs
        settings = {**self.settings, **{k: v for k, v in options.items() if v is not None}}
        keep = scores >= float(settings["confidence"])
        wanted = settings.get("class_filter")
        if wanted is not None and self.label not in wanted:
            keep[:] = False
        boxes, scores, landmarks = boxes[keep], scores[keep], landmarks[keep]
        # As the paper's code: overlap over the smaller box, so a box inside another goes too.
        kept = nms(boxes, scores, float(settings["iou"]), over="min")
        if settings["max_detections"] is not None:
            kept = kept[: int(settings["max_detections"])]
        names = list(settings["keypoints"])
        # A detector's keypoints are as sure as its detection: they share its score.
        point_scores = np.repeat(scores[kept, None], len(names), axis=1)
        return _detections(
            boxes[kept], scores[kept], landmarks[kept], point_scores, names, self.label, image
        )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
