"""Heads for MediaPipe's face landmark model (the 468-point face mesh of one face) and its
iris landmark model (one eye's iris and contour).

The model runs on a crop framing one face (MediaPipe frames the face detector's box grown
1.5 times), fed like MediaPipe's FaceLandmarkCpu graph: the crop scaled into the 192x192
input as RGB in [0, 1]. Its two outputs are told apart by size: the mesh (x, y, z of each
point, in input pixels) and the face flag (one logit, which MediaPipe passes through a
sigmoid and thresholds). Points are named by MediaPipe's mesh indices, "0" to "467".

The iris model runs on a crop framing one eye (MediaPipe frames the eye's two corners, mesh
points 33 and 133 or 362 and 263, in a square 2.3 times their distance wide), fed as a
64x64 RGB image in [0, 1]. It was trained on the eye seen on the image's left (the person's
right eye): MediaPipe mirrors the other eye's crop before the model and mirrors the points
back, which ``flip: true`` does.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from visionflow.data.image import WorkflowImage
from visionflow.errors import ModelFormatError
from visionflow.models.heads.base import TaskHead, label_of
from visionflow.models.heads.detector_layouts import shape_text
from visionflow.models.heads.mediapipe import (
    LANDMARKS_INPUT,
    _detections,
    _setting,
    _sigmoid,
    _to_image,
)
from visionflow.models.heads.preprocess import ImageTransform, Placement
from visionflow.models.runtime import Session, TensorInfo
from visionflow.models.spec import ModelSpec

MESH_POINTS = 468
IRIS_NAMES = ["iris_center", "iris_1", "iris_2", "iris_3", "iris_4"]
CONTOUR_POINTS = 71


class FaceMeshHead(TaskHead):
    """MediaPipe's face landmark model, run on a crop framing one face.

    Returns one detection (none when the face presence is below ``confidence``): the box
    around the landmarks, the presence (sigmoid of the face flag) as its confidence and as
    every landmark's confidence (the model scores no point on its own), all in the crop's
    pixels. ``postprocessing``: ``confidence`` (default 0.5).
    """

    kinds: ClassVar[list[str]] = ["keypoint_detection_prediction"]

    def __init__(self, spec: ModelSpec, session: Session):
        super().__init__(spec, session)
        self.transform = ImageTransform.for_input(session.inputs[0], self.pre, LANDMARKS_INPUT)
        sizes = _sizes(session.outputs)
        self.mesh_output, self.flag_output = sizes.index(3 * MESH_POINTS), sizes.index(1)
        self.keypoint_names = [str(index) for index in range(MESH_POINTS)]
        self.label = label_of(self.labels, 0)

    @classmethod
    def check_outputs(cls, spec: ModelSpec, outputs: list[TensorInfo]) -> None:
        _require_sizes(spec, outputs, [3 * MESH_POINTS, 1], "the 468 x 3 mesh and the face flag")

    def postprocess(
        self, outputs: list[np.ndarray], context: Placement, image: WorkflowImage, options: dict
    ):
        names = self.keypoint_names
        presence = float(_sigmoid(outputs[self.flag_output].reshape(-1)[:1])[0])
        if presence < _setting(options, self, "confidence", 0.5):
            nothing = np.zeros((0, len(names)))
            return _detections(np.zeros((0, 4)), np.zeros(0), nothing, nothing, names, "", image)
        mesh = outputs[self.mesh_output].reshape(MESH_POINTS, 3)[:, :2]  # z is dropped
        points = _to_image(context, mesh.astype(np.float64))
        box = np.concatenate([points.min(axis=0), points.max(axis=0)])
        scores = np.full((1, len(names)), presence)
        return _detections(
            box[None], np.array([presence]), points[None], scores, names, self.label, image
        )


class IrisLandmarksHead(TaskHead):
    """MediaPipe's iris landmark model, run on a crop framing one eye.

    Returns one detection: the box around the iris, with the iris centre and 4 rim points
    (``iris_center``, ``iris_1`` .. ``iris_4``) then the 71 eye contour and brow points
    (``contour_0`` .. ``contour_70``), in the crop's pixels. The model scores nothing, so
    the detection and its points have confidence 1. ``postprocessing``: ``flip`` (mirror the
    crop for the model and the points back: true for the eye on the image's right).
    """

    kinds: ClassVar[list[str]] = ["keypoint_detection_prediction"]

    def __init__(self, spec: ModelSpec, session: Session):
        super().__init__(spec, session)
        self.transform = ImageTransform.for_input(session.inputs[0], self.pre, LANDMARKS_INPUT)
        sizes = _sizes(session.outputs)
        self.iris_output, self.contour_output = sizes.index(3 * 5), sizes.index(3 * CONTOUR_POINTS)
        self.flip = bool(self.post.get("flip", False))
        self.keypoint_names = IRIS_NAMES + [f"contour_{i}" for i in range(CONTOUR_POINTS)]
        self.label = label_of(self.labels, 0)

    @classmethod
    def check_outputs(cls, spec: ModelSpec, outputs: list[TensorInfo]) -> None:
        _require_sizes(
            spec, outputs, [3 * 5, 3 * CONTOUR_POINTS], "the 5 x 3 iris and 71 x 3 contour"
        )

    def preprocess(self, image: WorkflowImage) -> tuple[list[np.ndarray], Placement]:
        pixels = image.numpy[:, ::-1] if self.flip else image.numpy
        tensor, placement = self.transform(np.ascontiguousarray(pixels))
        return [tensor], placement

    def postprocess(
        self, outputs: list[np.ndarray], context: Placement, image: WorkflowImage, options: dict
    ):
        iris = outputs[self.iris_output].reshape(-1, 3)[:, :2]  # z is dropped
        contour = outputs[self.contour_output].reshape(-1, 3)[:, :2]
        points = _to_image(context, np.concatenate([iris, contour]).astype(np.float64))
        if self.flip:  # back from the mirrored crop: pixel x lies at width - x
            points[:, 0] = image.width - points[:, 0]
        rim = points[: len(IRIS_NAMES)]
        box = np.concatenate([rim.min(axis=0), rim.max(axis=0)])
        names = self.keypoint_names
        return _detections(
            box[None], np.ones(1), points[None], np.ones((1, len(names))), names, self.label, image
        )


def _sizes(outputs: list[TensorInfo]) -> list[int]:
    """How many values each output holds (0 where an axis is dynamic)."""
    return [int(np.prod([d or 0 for d in output.shape])) for output in outputs]


def _require_sizes(
    spec: ModelSpec, outputs: list[TensorInfo], wanted: list[int], what: str
) -> None:
    """Raise ModelFormatError unless some outputs hold each of the ``wanted`` sizes (the
    MediaPipe landmark models' outputs are told apart by size, in any order)."""
    sizes = _sizes(outputs)
    if all(size in sizes for size in wanted):
        return
    shapes = ", ".join(shape_text(output.shape) for output in outputs)
    raise ModelFormatError(
        f"model '{spec.id}' (format {spec.format}) has outputs [{shapes}], expected outputs "
        f"of {' and '.join(map(str, wanted))} values ({what})",
        place=f"models '{spec.id}' field 'format'",
        hint=f"format {spec.format} is only for MediaPipe's own model of that name",
    )
