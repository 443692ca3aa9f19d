"""YOLO object detectors exported to ONNX / TFLite without their NMS.

- ``yolov8`` (also YOLOv9 and YOLO11, whose Ultralytics ``Detect`` head exports the same
  tensor, e.g. (1, 84, 8400) for 80 classes at 640; YOLOv10 / YOLO26 when exported with
  ``end2end=False``): one output (1, 4 + C, N): box centre x, y, width, height in input
  pixels, then C class scores (already sigmoid).
- ``yolov5`` (also YOLOv7): one output (1, N, 5 + C): centre x, y, width, height,
  objectness, C class scores; a box's score for a class is objectness x class score.

Preprocessing defaults (overridable with the options of
``visionflow.models.heads.preprocess``): letterbox to the model input size (640 when it
is dynamic) on gray 114, RGB, 0..1, NCHW.

Postprocessing options, each also overridable per call by the step's options:
``confidence`` (default 0.25), ``iou`` (class-wise NMS threshold, default 0.45),
``max_detections`` (default 300), ``class_filter`` (class names to keep; default all).
Boxes are mapped back through the letterbox to the image and clipped to it.

At load, the model's outputs are checked against the format
(``visionflow.models.heads.detector_layouts``): a mismatch is a ``ModelFormatError``
naming the shapes found and expected. RT-DETR (no NMS) is in ``rtdetr.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from visionflow.data.detections import CLASS_NAME, attach_image_metadata
from visionflow.data.image import WorkflowImage
from visionflow.models.heads.base import TaskHead, label_of
from visionflow.models.heads.detector_layouts import check_detector_outputs
from visionflow.models.heads.preprocess import ImageTransform, Placement
from visionflow.models.runtime import Session, TensorInfo
from visionflow.models.spec import ModelSpec

if TYPE_CHECKING:  # supervision (~0.5 s: scipy) is imported where detections are built
    import supervision as sv

LETTERBOX_DEFAULTS = {"resize": "letterbox", "color": "rgb", "pad_value": 114, "layout": "nchw"}
DEFAULT_SIZE = 640
POSTPROCESSING_DEFAULTS = {"confidence": 0.25, "iou": 0.45, "max_detections": 300}


class YoloHead(TaskHead):
    kinds: ClassVar[list[str]] = ["object_detection_prediction"]
    layout: ClassVar[str]
    """The output layout of ``detector_layouts.LAYOUTS`` this head reads."""
    preprocessing: ClassVar[dict[str, object]] = LETTERBOX_DEFAULTS

    def __init__(self, spec: ModelSpec, session: Session):
        super().__init__(spec, session)
        tensor = session.inputs[0]
        defaults = dict(self.preprocessing)
        if None in tensor.shape[1:]:  # a dynamic input size: YOLO's usual 640
            defaults["size"] = [DEFAULT_SIZE, DEFAULT_SIZE]
        self.transform = ImageTransform.for_input(tensor, self.pre, defaults)
        self.settings = {**POSTPROCESSING_DEFAULTS, **self.post}

    @classmethod
    def check_outputs(cls, spec: ModelSpec, outputs: list[TensorInfo]) -> None:
        check_detector_outputs(spec, outputs, cls.layout)

    def candidates(self, output: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N x 4 boxes as cx, cy, w, h; N x C class scores) from the model's output."""
        raise TypeError(f"{type(self).__name__} does not implement candidates()")

    def postprocess(
        self, outputs: list[np.ndarray], context: Placement, image: WorkflowImage, options: dict
    ) -> sv.Detections:
        output = np.asarray(outputs[0], dtype=np.float32)
        return self.detect(output, context, image, {**self.settings, **options})[0]

    def detect(
        self, output: np.ndarray, context: Placement, image: WorkflowImage, settings: dict
    ) -> tuple[sv.Detections, np.ndarray]:
        """The detections kept by the thresholds and ``select``, and the candidates they come from
        (positions in the model's output, for heads that read more of it, e.g. masks)."""
        import supervision as sv

        boxes, scores = self.candidates(output)
        class_id = scores.argmax(axis=1)
        confidence = scores[np.arange(len(scores)), class_id]
        keep = confidence >= float(settings["confidence"])
        if settings.get("class_filter") is not None:
            wanted = set(settings["class_filter"])
            keep &= np.array([label_of(self.labels, int(c)) in wanted for c in class_id], bool)
        kept = np.flatnonzero(keep)
        boxes, class_id, confidence = boxes[keep], class_id[keep], confidence[keep]
        top_left = boxes[:, :2] - boxes[:, 2:] / 2
        chosen = self.select(
            np.concatenate([top_left, boxes[:, 2:]], axis=1), confidence, class_id, settings
        )
        chosen = chosen[: int(settings["max_detections"])]
        xyxy = np.concatenate([top_left, top_left + boxes[:, 2:]], axis=1)[chosen]
        xyxy = context.to_image(xyxy)
        xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, image.width)
        xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, image.height)
        names = [label_of(self.labels, int(c)) for c in class_id[chosen]]
        detections = sv.Detections(
            xyxy=xyxy,
            confidence=confidence[chosen].astype(np.float64),
            class_id=class_id[chosen].astype(int),
            data={CLASS_NAME: np.array(names, dtype=object)},
        )
        return attach_image_metadata(detections, image), kept[chosen]

    def select(
        self, xywh: np.ndarray, confidence: np.ndarray, class_id: np.ndarray, settings: dict
    ) -> np.ndarray:
        """Positions of the boxes to keep, most confident first: class-wise NMS. Its top_k
        would cut candidates BEFORE suppression (a duplicate could take a slot), so
        max_detections is applied by the caller to what it keeps."""
        import cv2  # here: checking the model (validate) imports this module, not cv2

        chosen = cv2.dnn.NMSBoxesBatched(xywh, confidence, class_id, 0.0, float(settings["iou"]))
        return np.asarray(chosen, dtype=int).reshape(-1)


class YoloV8Head(YoloHead):
    layout = "yolov8"

    def candidates(self, output: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = output.reshape(output.shape[-2], output.shape[-1]).T  # (4 + C, N) -> (N, 4 + C)
        return rows[:, :4], rows[:, 4:]


class YoloV5Head(YoloHead):
    layout = "yolov5"

    def candidates(self, output: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = output.reshape(output.shape[-2], output.shape[-1])
        return rows[:, :4], rows[:, 5:] * rows[:, 4:5]
