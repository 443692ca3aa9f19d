"""Task heads: the pre- and post-processing that turn images into a model's tensors and its
tensors into predictions. A head is chosen by (task, format) from the model spec.

Heads are imported by name only when a model needs them.
"""

from __future__ import annotations

import importlib

from visionflow.errors import ModelError
from visionflow.models.heads.base import TaskHead

# (task, format) -> "module:Class" inside visionflow.models.heads
HEADS: dict[tuple[str, str], str] = {
    ("raw", "default"): "raw:RawHead",
    ("classification", "default"): "classification:ClassificationHead",
    ("classification", "multi_label"): "classification:MultiLabelClassificationHead",
    ("object_detection", "yolov8"): "yolo:YoloV8Head",
    ("object_detection", "default"): "yolo:YoloV8Head",
    ("object_detection", "yolov5"): "yolo:YoloV5Head",
    ("object_detection", "rtdetr"): "rtdetr:RtDetrHead",
    ("instance_segmentation", "yolov8"): "yolo_segmentation:YoloV8SegmentationHead",
    ("instance_segmentation", "default"): "yolo_segmentation:YoloV8SegmentationHead",
    ("instance_segmentation", "mediapipe_selfie"): "selfie_segmentation:SelfieSegmentationHead",
    ("object_detection", "blazeface"): "mediapipe:BlazeFaceHead",
    ("object_detection", "mediapipe_pose"): "mediapipe:PoseDetectionHead",
    ("object_detection", "mediapipe_palm"): "mediapipe:SsdDetectionHead",
    ("object_detection", "haar_cascade"): "cascade:CascadeHead",
    ("object_detection", "mtcnn"): "mtcnn:MtcnnHead",
    ("keypoints", "mediapipe_pose"): "mediapipe:PoseLandmarksHead",
    ("keypoints", "mediapipe_face_mesh"): "face_landmarks:FaceMeshHead",
    ("keypoints", "mediapipe_iris"): "face_landmarks:IrisLandmarksHead",
    ("keypoints", "mediapipe_hand"): "hand_landmarks:HandLandmarksHead",
    ("text_detection", "default"): "ocr:TextDetectionHead",
    ("text_detection", "db"): "ocr:TextDetectionHead",
    ("classification", "text_orientation"): "ocr:TextOrientationHead",
    ("text_recognition", "default"): "ocr:TextRecognitionHead",
    ("text_recognition", "ctc"): "ocr:TextRecognitionHead",
}


def head_class(task: str, head_format: str) -> type[TaskHead]:
    target = HEADS.get((task, head_format))
    if target is None:
        known = sorted(f for t, f in HEADS if t == task)
        raise ModelError(
            f"no '{head_format}' head for task '{task}'",
            hint=f"formats of {task}: {', '.join(known)}",
        )
    module, name = target.split(":")
    return getattr(importlib.import_module(f"visionflow.models.heads.{module}"), name)


__all__ = ["HEADS", "TaskHead", "head_class"]
