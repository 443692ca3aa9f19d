"""Heads for MediaPipe's face detector (BlazeFace), pose detector and pose landmark model.

They reproduce MediaPipe's own graphs (options as compiled into mediapipe 0.10.21's wheel):
the image is letterboxed into the square input (aspect ratio kept, black padding shared
equally by both sides) as RGB floats; detectors are decoded with SSD anchors and weighted
non-max suppression (``mediapipe_anchors``); the landmark model's points are refined on its
heatmap. Every result is mapped back to the pixels of the image it was predicted on.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np

from visionflow.data.detections import (
    CLASS_NAME,
    KEYPOINTS_CLASS_ID,
    KEYPOINTS_CLASS_NAME,
    KEYPOINTS_CONFIDENCE,
    KEYPOINTS_XY,
    attach_image_metadata,
)
from visionflow.data.image import WorkflowImage
from visionflow.errors import ModelError
from visionflow.models.heads.base import TaskHead, label_of
from visionflow.models.heads.mediapipe_anchors import (
    AnchorOptions,
    decode_ssd,
    ssd_anchors,
    weighted_nms,
)
from visionflow.models.heads.preprocess import ImageTransform, Placement
from visionflow.models.runtime import Session
from visionflow.models.spec import ModelSpec

# MediaPipe's ImageToTensorCalculator: letterboxed, RGB, values in [-1, 1] for detectors...
DETECTOR_INPUT = {"resize": "letterbox", "color": "rgb", "pad_value": 0, "mean": 0.5, "std": 0.5}
# ... and in [0, 1] for the landmark model.
LANDMARKS_INPUT = {"resize": "letterbox", "color": "rgb", "pad_value": 0}


def _to_image(placement: Placement, points: np.ndarray) -> np.ndarray:
    """Points (..., 2) in input tensor pixels -> the image's pixels."""
    offset = (placement.offset_x, placement.offset_y)
    return (points - offset) / (placement.scale_x, placement.scale_y)


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-values.astype(np.float64)))  # float64: no overflow at -100


def _setting(options: dict, head: TaskHead, name: str, default: Any) -> Any:
    """A call's option, else the spec's postprocessing value, else the default."""
    value = options.get(name)
    return head.post.get(name, default) if value is None else value


def _detections(
    xyxy: np.ndarray,
    confidence: np.ndarray,
    keypoints: np.ndarray,
    keypoint_confidence: np.ndarray,
    keypoint_names: list[str],
    label: str,
    image: WorkflowImage,
):
    import supervision as sv

    count, points = len(xyxy), len(keypoint_names)
    # Boxes stay inside the image (crops made from them must be valid); keypoints may not.
    xyxy = np.clip(xyxy.reshape(count, 4), 0, [image.width, image.height] * 2)
    detections = sv.Detections(
        xyxy=xyxy.astype(np.float32),
        confidence=confidence.astype(np.float32),
        class_id=np.zeros(count, dtype=int),
        data={
            CLASS_NAME: np.array([label] * count, dtype=object),
            KEYPOINTS_XY: keypoints.astype(np.float32).reshape(count, points, 2),
            KEYPOINTS_CONFIDENCE: keypoint_confidence.astype(np.float32).reshape(count, points),
            KEYPOINTS_CLASS_NAME: np.array([keypoint_names] * count, dtype=object).reshape(
                count, points
            ),
            # each point's index in the model's list, as Roboflow's keypoint models give it
            KEYPOINTS_CLASS_ID: np.tile(np.arange(points), (count, 1)),
        },
    )
    return attach_image_metadata(detections, image)


class SsdDetectionHead(TaskHead):
    """A MediaPipe SSD detector: boxes with a few keypoints each.

    ``postprocessing``: ``confidence``, ``iou`` (of the weighted NMS), ``max_detections``,
    ``class_filter``, ``score_clipping``, ``anchors`` (``AnchorOptions`` fields; the input
    size is read from the model) and ``keypoints`` (their names, in the model's order).
    ``preprocessing`` defaults to MediaPipe's (``DETECTOR_INPUT``).
    """

    kinds: ClassVar[list[str]] = ["keypoint_detection_prediction", "object_detection_prediction"]

    def __init__(self, spec: ModelSpec, session: Session):
        super().__init__(spec, session)
        self.transform = ImageTransform.for_input(session.inputs[0], self.pre, DETECTOR_INPUT)
        self.size = (self.transform.width, self.transform.height)
        # The regressors hold 4 + 2K values per anchor, the classificators one score.
        widths = [output.shape[-1] or 0 for output in session.outputs]
        self.boxes_output, self.scores_output = int(np.argmax(widths)), int(np.argmin(widths))
        self.anchors = ssd_anchors(_anchor_options(spec.id, self.size, self.post.get("anchors")))
        self.keypoint_names = list(self.post.get("keypoints", []))
        shape = session.outputs[self.boxes_output].shape
        if shape[1:] != (len(self.anchors), 4 + 2 * len(self.keypoint_names)):
            raise ModelError(
                f"model '{spec.id}': its output {shape} does not match {len(self.anchors)} "
                f"anchors with {len(self.keypoint_names)} keypoints",
                hint="check postprocessing.anchors and postprocessing.keypoints",
            )

    def postprocess(
        self, outputs: list[np.ndarray], context: Placement, image: WorkflowImage, options: dict
    ):
        width, height = self.size
        boxes, keypoints, scores = decode_ssd(
            outputs[self.boxes_output],
            outputs[self.scores_output],
            self.anchors,
            (width, height, width, height),  # MediaPipe's x/y/w/h scales: the input size
            self.post.get("score_clipping", 100.0),
        )
        # Like MediaPipe: drop weak and empty boxes first, then merge the overlapping ones.
        confidence = _setting(options, self, "confidence", 0.5)
        keep = (scores >= confidence) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        label = label_of(self.labels, 0)
        wanted = _setting(options, self, "class_filter", None)
        if wanted is not None and label not in wanted:
            keep[:] = False
        iou = _setting(options, self, "iou", 0.3)
        boxes, keypoints, scores = weighted_nms(boxes[keep], keypoints[keep], scores[keep], iou)
        limit = _setting(options, self, "max_detections", None)
        if limit is not None:  # kept detections come best first
            boxes, keypoints, scores = boxes[:limit], keypoints[:limit], scores[:limit]
        corners = _to_image(context, boxes.reshape(-1, 2, 2) * self.size)
        points = _to_image(context, keypoints * self.size)
        # A detector's keypoints are as sure as its detection: they share its score.
        point_scores = np.repeat(scores[:, None], len(self.keypoint_names), axis=1)
        return _detections(corners, scores, points, point_scores, self.keypoint_names, label, image)


class BlazeFaceHead(SsdDetectionHead):
    """MediaPipe's face detector: faces with 6 keypoints (eyes, nose tip, mouth, ears)."""


class PoseDetectionHead(SsdDetectionHead):
    """MediaPipe's pose detector: people with 4 keypoints (hip and shoulder centres, scales)."""


def refine_on_heatmap(
    points: np.ndarray, heatmap: np.ndarray, kernel: int, min_confidence: float
) -> np.ndarray:
    """MediaPipe's RefineLandmarksFromHeatmapCalculator.

    Each point (relative x, y) moves to the confidence-weighted mean cell of a ``kernel``
    wide window of its heatmap channel (logits, ``heatmap`` is rows x columns x points)
    around it, when the window's best cell is at least ``min_confidence``.
    """
    rows, columns = heatmap.shape[:2]
    half = (kernel - 1) // 2
    refined = points.copy()
    for index, (x, y) in enumerate(points):
        column, row = int(x * columns), int(y * rows)  # truncation, as in MediaPipe
        if not (0 <= column < columns and 0 <= row < rows):
            continue
        top, left = max(0, row - half), max(0, column - half)
        confidence = _sigmoid(heatmap[top : row + half + 1, left : column + half + 1, index])
        total = confidence.sum()
        if confidence.max() >= min_confidence and total > 0:
            cell_rows, cell_columns = np.indices(confidence.shape)
            refined[index, 0] = ((cell_columns + left) * confidence).sum() / columns / total
            refined[index, 1] = ((cell_rows + top) * confidence).sum() / rows / total
    return refined


class PoseLandmarksHead(TaskHead):
    """MediaPipe's pose landmark model, run on a crop framing one person.

    Returns one detection (none when the pose presence is below ``confidence``): the box
    around the body landmarks, the presence as its confidence, each landmark's visibility
    as its keypoint confidence, all in the crop's pixels. ``postprocessing``:
    ``confidence``, ``heatmap_kernel`` (0 turns refinement off), ``heatmap_min_confidence``,
    ``keypoints`` (names of the first landmarks, the ones reported).
    """

    kinds: ClassVar[list[str]] = ["keypoint_detection_prediction"]

    def __init__(self, spec: ModelSpec, session: Session):
        super().__init__(spec, session)
        self.transform = ImageTransform.for_input(session.inputs[0], self.pre, LANDMARKS_INPUT)
        self.size = (self.transform.width, self.transform.height)
        self.keypoint_names = list(self.post.get("keypoints", []))
        # Outputs told apart by shape: landmarks (1, 5L), presence (1, 1), heatmap (1, h, w, L).
        shapes = [output.shape for output in session.outputs]
        heatmaps = [i for i, shape in enumerate(shapes) if len(shape) == 4 and (shape[3] or 0) > 1]
        self.heatmap_output = heatmaps[0] if heatmaps else None
        count = shapes[heatmaps[0]][3] if heatmaps else len(self.keypoint_names)
        self.landmarks_output = next((i for i, s in enumerate(shapes) if s == (1, 5 * count)), None)
        self.presence_output = next((i for i, s in enumerate(shapes) if s == (1, 1)), None)
        if self.landmarks_output is None or self.presence_output is None:
            raise ModelError(f"model '{spec.id}': outputs {shapes} are not a pose landmark model's")
        if not 0 < len(self.keypoint_names) <= count:
            raise ModelError(
                f"model '{spec.id}': postprocessing.keypoints must name 1 to {count} landmarks"
            )
        self.label = label_of(self.labels, 0)

    def postprocess(
        self, outputs: list[np.ndarray], context: Placement, image: WorkflowImage, options: dict
    ):
        names = self.keypoint_names
        # The model ends in a sigmoid: its presence output is already a probability.
        presence = float(outputs[self.presence_output].reshape(-1)[0])
        if presence < _setting(options, self, "confidence", 0.5):
            nothing = np.zeros((0, len(names)))
            return _detections(np.zeros((0, 4)), np.zeros(0), nothing, nothing, names, "", image)
        # Per landmark: x, y (input pixels), z, then visibility and presence logits.
        landmarks = outputs[self.landmarks_output].reshape(-1, 5)[: len(names)]
        points = landmarks[:, :2] / self.size
        kernel = self.post.get("heatmap_kernel", 7)
        if kernel and self.heatmap_output is not None:
            heatmap = outputs[self.heatmap_output]
            minimum = self.post.get("heatmap_min_confidence", 0.5)
            points = refine_on_heatmap(points, heatmap.reshape(heatmap.shape[-3:]), kernel, minimum)
        points = _to_image(context, points * self.size)
        box = np.concatenate([points.min(axis=0), points.max(axis=0)])
        visibility = _sigmoid(landmarks[:, 3])
        return _detections(
            box[None],
            np.array([presence]),
            points[None],
            visibility[None],
            names,
            self.label,
            image,
        )


def _anchor_options(model: str, size: tuple[int, int], given: Any) -> AnchorOptions:
    """``postprocessing.anchors`` as options; a hand-written description that lacks them (a
    bare .tflite given its format) is told which fields, not a KeyError."""
    fields = [f.name for f in dataclasses.fields(AnchorOptions)][2:]  # the size is the model's
    if not isinstance(given, dict) or "strides" not in given or set(given) - set(fields):
        unknown = sorted(set(given) - set(fields)) if isinstance(given, dict) else []
        raise ModelError(
            f"model '{model}': postprocessing.anchors "
            + (f"has unknown fields {unknown}" if unknown else "must give at least 'strides'"),
            hint=f"an SSD detector's anchors take {', '.join(fields)}; `visionflow models "
            "mediapipe/face_detection_short_range --json` shows a complete description",
        )
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in given.items()}
    return AnchorOptions(*size, **options)
