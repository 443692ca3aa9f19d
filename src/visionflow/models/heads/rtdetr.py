"""RT-DETR detectors (Ultralytics' ONNX export): no NMS, the model already picks its boxes.

One output (1, N, 4 + C), N = 300 queries: box centre x, y, width, height as fractions
(0..1) of the model input, then C class scores (already sigmoid). Each query is one
detection of its best class; overlapping boxes are all kept (the model was trained not to
repeat itself).

Preprocessing defaults, as Ultralytics' RT-DETR predictor: the image is stretched to the
input size (640 when it is dynamic), RGB, 0..1, NCHW; any option of
``visionflow.models.heads.preprocess`` overrides them (boxes follow a letterbox too).

Postprocessing options, each also overridable per call by the step's options:
``confidence`` (default 0.25), ``max_detections`` (default 300; the most confident are
kept), ``class_filter`` (class names to keep; default all). Detections come most confident
first, mapped back to the image and clipped to it.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from visionflow.models.heads.yolo import YoloHead

STRETCH_DEFAULTS = {"resize": "stretch", "color": "rgb", "layout": "nchw"}


class RtDetrHead(YoloHead):
    layout = "rtdetr"
    preprocessing: ClassVar[dict[str, object]] = STRETCH_DEFAULTS

    def candidates(self, output: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = output.reshape(output.shape[-2], output.shape[-1])  # (N, 4 + C)
        width, height = self.transform.width, self.transform.height
        size = np.array([width, height, width, height], dtype=np.float32)
        return rows[:, :4] * size, rows[:, 4:]  # fractions of the input -> input pixels

    def select(
        self, xywh: np.ndarray, confidence: np.ndarray, class_id: np.ndarray, settings: dict
    ) -> np.ndarray:
        return np.argsort(-confidence, kind="stable")  # no NMS: every query is its own box
