"""YOLO heads on ONNX models whose output is a fixed tensor: exact boxes after letterbox,
NMS, thresholds and options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from visionflow.data.image import WorkflowImage
from visionflow.models.model import Model
from visionflow.models.spec import ModelSpec

LABELS = ["person", "car", "dog"]
# One row per candidate, in model input coordinates (640 x 640):
# (x_min, y_min, x_max, y_max), objectness, class scores. YOLOv8 has no objectness; its
# scores are objectness x class scores, so both layouts mean the same detections.
CANDIDATES = [
    ((100, 200, 300, 400), 0.9, (1.0, 0.0, 0.0)),  # A person 0.9
    ((110, 210, 310, 410), 1.0, (0.8, 0.0, 0.0)),  # B duplicate of A (IoU 0.82), 0.8
    ((100, 200, 300, 400), 0.875, (0.0, 0.8, 0.0)),  # C car on A's box, 0.7
    ((400, 180, 600, 460), 0.75, (0.0, 0.0, 0.8)),  # D dog 0.6
    ((20, 420, 60, 460), 0.2, (0.5, 0.0, 0.0)),  # E person 0.1: below the threshold
    ((560, 140, 660, 200), 0.5, (0.0, 1.0, 0.0)),  # F car 0.5, partly outside the image
    ((300, 300, 340, 340), 0.9, (0.0, 0.0, 0.2)),  # G dog 0.18: high objectness only
]
# A 320 x 160 image letterboxed into 640 x 640: scaled by 2, 160 rows of padding on top,
# so an input box (x1, y1, x2, y2) is (x1 / 2, (y1 - 160) / 2, ...) in the image.
IMAGE_BOXES = {
    "A": [50, 20, 150, 120],
    "B": [55, 25, 155, 125],
    "C": [50, 20, 150, 120],
    "D": [200, 10, 300, 150],
    "E": [10, 130, 30, 150],
    "F": [280, 0, 320, 20],  # clipped to the image
    "G": [150, 70, 170, 90],
}


def yolo_output(layout: str) -> np.ndarray:
    rows = []
    for (x1, y1, x2, y2), objectness, scores in CANDIDATES:
        box = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]
        if layout == "yolov5":
            rows.append([*box, objectness, *scores])
        else:
            rows.append([*box, *(objectness * s for s in scores)])
    table = np.array(rows, dtype=np.float32)
    return (table.T if layout == "yolov8" else table)[None]  # v8: (1, 4+C, N); v5: (1, N, 5+C)


def fixed_output_model(path: Path, output: np.ndarray) -> Path:
    """An ONNX model: image (N, 3, 640, 640) -> output + 0 * sum(image), per batch element."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("ReduceSum", ["image", "axes"], ["total"], keepdims=0),
        helper.make_node("Reshape", ["total", "shape"], ["total_3d"]),
        helper.make_node("Mul", ["total_3d", "zero"], ["nothing"]),
        helper.make_node("Add", ["nothing", "fixed"], ["output"]),
    ]
    constants = [
        numpy_helper.from_array(np.array([1, 2, 3], np.int64), "axes"),
        numpy_helper.from_array(np.array([-1, 1, 1], np.int64), "shape"),
        numpy_helper.from_array(np.zeros((), np.float32), "zero"),
        numpy_helper.from_array(output, "fixed"),
    ]
    graph = helper.make_graph(
        nodes,
        "fixed_output",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 640, 640])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", *output.shape[1:]])],
        initializer=constants,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module", params=["yolov8", "yolov5"])
def detector(request, tmp_path_factory):
    path = fixed_output_model(
        tmp_path_factory.mktemp(request.param) / "model.onnx", yolo_output(request.param)
    )
    spec = ModelSpec(
        id=f"test/{request.param}",
        source=str(path),
        task="object_detection",
        format=request.param,
        labels=LABELS,
    )
    model = Model(spec, path)
    yield model
    model.close()


@pytest.fixture
def image() -> WorkflowImage:
    return WorkflowImage(np.full((160, 320, 3), 40, np.uint8))  # 320 wide, 160 high


def found(detections) -> list[tuple[str, list[float]]]:
    return [
        (str(name), box)
        for name, box in zip(detections.data["class_name"], detections.xyxy.tolist(), strict=True)
    ]


def test_boxes_are_mapped_back_through_the_letterbox(detector, image):
    detections = detector.predict([image])[0]
    assert found(detections) == [
        ("person", IMAGE_BOXES["A"]),
        ("car", IMAGE_BOXES["C"]),  # same box as A, other class: class-wise NMS keeps it
        ("dog", IMAGE_BOXES["D"]),
        ("car", IMAGE_BOXES["F"]),
    ]
    assert detections.confidence.tolist() == pytest.approx([0.9, 0.7, 0.6, 0.5], abs=1e-6)
    assert detections.class_id.tolist() == [0, 1, 2, 1]


def test_nms_removes_the_duplicate_only_above_the_iou_threshold(detector, image):
    kept = detector.predict([image], {"iou": 0.9})[0]  # B overlaps A with IoU 0.82
    assert ("person", IMAGE_BOXES["B"]) in found(kept)
    assert len(kept) == 5


def test_confidence_threshold(detector, image):
    detections = detector.predict([image], {"confidence": 0.05})[0]
    assert found(detections)[-2:] == [("dog", IMAGE_BOXES["G"]), ("person", IMAGE_BOXES["E"])]
    assert detections.confidence[-2:].tolist() == pytest.approx([0.18, 0.1], abs=1e-6)
    assert len(detector.predict([image], {"confidence": 0.95})[0]) == 0


def test_class_filter_keeps_the_named_classes(detector, image):
    detections = detector.predict([image], {"class_filter": ["car"]})[0]
    assert found(detections) == [("car", IMAGE_BOXES["C"]), ("car", IMAGE_BOXES["F"])]


def test_max_detections_keeps_the_most_confident(detector, image):
    detections = detector.predict([image], {"max_detections": 2})[0]
    assert found(detections) == [("person", IMAGE_BOXES["A"]), ("car", IMAGE_BOXES["C"])]


def test_detections_carry_the_image_metadata(detector, image):
    detections = detector.predict([image])[0]
    assert set(detections.data["parent_id"]) == {image.image_id}
    assert detections.data["image_dimensions"].tolist() == [[160, 320]] * 4


def test_a_batch_of_images_of_different_shapes(detector, image):
    tall = WorkflowImage(np.zeros((320, 160, 3), np.uint8))  # padded left and right instead
    wide, high = detector.predict([image, tall])
    assert found(wide)[0] == ("person", IMAGE_BOXES["A"])
    # letterbox of 160 x 320: scale 2, 160 columns of padding on the left
    assert found(high)[0] == ("person", [0.0, 100.0, 70.0, 200.0])


def test_letterbox_input_tensor(detector, image):
    tensor, placement = detector.head.preprocess(image)
    (pixels,) = tensor
    assert pixels.shape == (3, 640, 640)
    assert pixels[:, :160].max() == pytest.approx(114 / 255)  # gray padding above
    assert pixels[:, 160:480].max() == pytest.approx(40 / 255)  # the image, scaled
    assert (placement.scale_x, placement.offset_y) == (2.0, 160.0)
