"""Trained detectors brought by users, on ONNX graphs with the exact output shapes of real
exports: YOLOv5 (1, 25200, 85), YOLOv8 / YOLO11 (1, 84, 8400), RT-DETR (1, 300, 4 + C, no
NMS); and the compile error when a model's outputs are not its declared format's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from visionflow import Workflow
from visionflow.data.image import WorkflowImage
from visionflow.errors import CompilationError, ModelFormatError
from visionflow.models.model import Model
from visionflow.models.spec import ModelSpec

COCO_SIZED = [f"class{i}" for i in range(80)]
COCO_SIZED[0], COCO_SIZED[2], COCO_SIZED[16] = "person", "car", "dog"


def constant_model(path: Path, outputs: list[np.ndarray], batch: str | int = "N") -> Path:
    """An ONNX model: image (batch, 3, 640, 640) -> each of ``outputs`` + 0 * sum(image)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("ReduceSum", ["image", "axes"], ["total"], keepdims=0),
        helper.make_node("Mul", ["total", "zero"], ["nothing"]),
    ]
    constants = [
        numpy_helper.from_array(np.array([1, 2, 3], np.int64), "axes"),
        numpy_helper.from_array(np.zeros((), np.float32), "zero"),
    ]
    declared = []
    for index, output in enumerate(outputs):
        shape = np.array([-1] + [1] * (output.ndim - 1), np.int64)
        constants += [
            numpy_helper.from_array(output, f"fixed{index}"),
            numpy_helper.from_array(shape, f"shape{index}"),
        ]
        nodes += [
            helper.make_node("Reshape", ["nothing", f"shape{index}"], [f"nothing{index}"]),
            helper.make_node("Add", [f"nothing{index}", f"fixed{index}"], [f"output{index}"]),
        ]
        declared.append(
            helper.make_tensor_value_info(
                f"output{index}", TensorProto.FLOAT, [batch, *output.shape[1:]]
            )
        )
    graph = helper.make_graph(
        nodes,
        "constant_outputs",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, 3, 640, 640])],
        declared,
        initializer=constants,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)
    onnx.save(model, path)
    return path


def load(path: Path, head_format: str, labels: list[str] | None) -> Model:
    spec = ModelSpec(
        id="x", source=str(path), task="object_detection", format=head_format, labels=labels
    )
    return Model(spec, path)


@pytest.fixture
def image() -> WorkflowImage:
    return WorkflowImage(np.full((160, 320, 3), 40, np.uint8))  # 320 wide, 160 high


def found(detections) -> list[tuple[str, list[float]]]:
    boxes = np.round(detections.xyxy, 4).tolist()
    return list(zip(detections.data["class_name"].tolist(), boxes, strict=True))


# --- YOLOv5 and YOLOv8 / YOLO11 at their real sizes ----------------------------------------

# (input box x1, y1, x2, y2 on the 640 x 640 letterbox, class, score). The 320 x 160 image is
# scaled by 2 with 160 rows of padding on top: image box = (x1 / 2, (y1 - 160) / 2, ...).
YOLO_BOXES = [
    ((100, 200, 300, 400), 0, 0.9),  # person -> [50, 20, 150, 120]
    ((400, 180, 600, 460), 16, 0.6),  # dog -> [200, 10, 300, 150]
    ((560, 140, 660, 200), 2, 0.5),  # car -> [280, 0, 330, 20], clipped to [280, 0, 320, 20]
]
YOLO_FOUND = [
    ("person", [50.0, 20.0, 150.0, 120.0]),
    ("dog", [200.0, 10.0, 300.0, 150.0]),
    ("car", [280.0, 0.0, 320.0, 20.0]),
]


def yolov8_output() -> np.ndarray:
    """(1, 84, 8400): what Ultralytics exports for YOLOv8 and YOLO11 (80 classes, 640)."""
    output = np.zeros((1, 84, 8400), np.float32)
    for position, ((x1, y1, x2, y2), class_id, score) in zip(
        (17, 4000, 8399), YOLO_BOXES, strict=True
    ):
        output[0, :4, position] = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]
        output[0, 4 + class_id, position] = score
    return output


def yolov5_output() -> np.ndarray:
    """(1, 25200, 85): YOLOv5's export.py at 640 (80 classes); score = objectness x class."""
    output = np.zeros((1, 25200, 85), np.float32)
    for position, ((x1, y1, x2, y2), class_id, score) in zip(
        (3, 12000, 25199), YOLO_BOXES, strict=True
    ):
        output[0, position, :5] = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1, 0.5]
        output[0, position, 5 + class_id] = score * 2  # objectness 0.5 x class score
    return output


@pytest.mark.parametrize(
    ("head_format", "output"), [("yolov8", yolov8_output), ("yolov5", yolov5_output)]
)
def test_real_sized_yolo_outputs_decode_to_image_boxes(tmp_path, image, head_format, output):
    path = constant_model(tmp_path / "model.onnx", [output()])
    model = load(path, head_format, COCO_SIZED)
    try:
        detections = model.predict([image])[0]
    finally:
        model.close()
    assert found(detections) == YOLO_FOUND
    assert detections.confidence.tolist() == pytest.approx([0.9, 0.6, 0.5], abs=1e-6)
    assert detections.class_id.tolist() == [0, 16, 2]


# --- RT-DETR: no NMS -------------------------------------------------------------------------

RTDETR_LABELS = ["person", "car", "dog"]
# (query position, image box x1, y1, x2, y2, class scores). The 320 x 160 image is stretched
# to 640 x 640, so a box's fractions of the input are its fractions of the image.
QUERIES = [
    (250, (50, 20, 150, 120), (0.9, 0.05, 0.0)),  # A person 0.9
    (5, (55, 25, 155, 125), (0.8, 0.0, 0.1)),  # B person 0.8: overlaps A (IoU 0.82), kept
    (42, (200, 10, 300, 150), (0.0, 0.2, 0.6)),  # C dog 0.6
    (17, (10, 100, 40, 150), (0.1, 0.3, 0.0)),  # D car 0.3
    (100, (0, 0, 20, 20), (0.1, 0.0, 0.0)),  # E person 0.1: below the threshold
    (299, (300, 0, 340, 20), (0.0, 0.5, 0.0)),  # F car 0.5, partly outside the image
]
A = ("person", [50.0, 20.0, 150.0, 120.0])
B = ("person", [55.0, 25.0, 155.0, 125.0])
C = ("dog", [200.0, 10.0, 300.0, 150.0])
D = ("car", [10.0, 100.0, 40.0, 150.0])
E = ("person", [0.0, 0.0, 20.0, 20.0])
F = ("car", [300.0, 0.0, 320.0, 20.0])  # clipped to the image


def rtdetr_output() -> np.ndarray:
    """(1, 300, 7): Ultralytics' RT-DETR export, boxes as fractions cx, cy, w, h; 3 classes."""
    output = np.zeros((1, 300, 4 + len(RTDETR_LABELS)), np.float32)
    for position, (x1, y1, x2, y2), scores in QUERIES:
        box = [(x1 + x2) / 2 / 320, (y1 + y2) / 2 / 160, (x2 - x1) / 320, (y2 - y1) / 160]
        output[0, position] = [*box, *scores]
    return output


@pytest.fixture(scope="module")
def rtdetr(tmp_path_factory):
    path = constant_model(tmp_path_factory.mktemp("rtdetr") / "model.onnx", [rtdetr_output()])
    model = load(path, "rtdetr", RTDETR_LABELS)
    yield model
    model.close()


def test_rtdetr_keeps_overlapping_boxes_most_confident_first(rtdetr, image):
    detections = rtdetr.predict([image])[0]
    assert found(detections) == [A, B, C, F, D]
    assert detections.confidence.tolist() == pytest.approx([0.9, 0.8, 0.6, 0.5, 0.3], abs=1e-6)
    assert detections.class_id.tolist() == [0, 0, 2, 1, 1]
    assert set(detections.data["parent_id"]) == {image.image_id}


def test_rtdetr_options(rtdetr, image):
    assert found(rtdetr.predict([image], {"confidence": 0.05})[0]) == [A, B, C, F, D, E]
    assert found(rtdetr.predict([image], {"confidence": 0.55})[0]) == [A, B, C]
    assert found(rtdetr.predict([image], {"max_detections": 2})[0]) == [A, B]
    assert found(rtdetr.predict([image], {"class_filter": ["car"]})[0]) == [F, D]
    assert found(rtdetr.predict([image], {"iou": 0.1})[0]) == [A, B, C, F, D]  # no NMS


def test_rtdetr_stretches_the_image_as_ultralytics_does(rtdetr, image):
    (pixels,), placement = rtdetr.head.preprocess(image)
    assert pixels.shape == (3, 640, 640)
    assert pixels.max() == pytest.approx(40 / 255)  # no padding
    assert (placement.scale_x, placement.scale_y) == (2.0, 4.0)


def test_rtdetr_boxes_follow_a_letterbox_when_asked(tmp_path, image):
    path = constant_model(tmp_path / "model.onnx", [rtdetr_output()])
    spec = ModelSpec(
        id="x",
        source=str(path),
        task="object_detection",
        format="rtdetr",
        labels=RTDETR_LABELS,
        preprocessing={"resize": "letterbox"},
    )
    model = Model(spec, path)
    try:
        detections = model.predict([image])[0]
    finally:
        model.close()
    # A's fractions (0.15625, 0.125, 0.46875, 0.75) of 640 x 640, then scale 2, 160 rows on top
    assert found(detections)[0] == ("person", [50.0, 0.0, 150.0, 160.0])


# --- a model whose outputs are not its format's ----------------------------------------------

NMS_HINT = (
    "an output (1, boxes, 6) is usually an export with NMS inside the model: export again "
    "without it (Ultralytics: nms=False; YOLOv10 / YOLO26: end2end=False)"
)


@pytest.mark.parametrize(
    ("head_format", "outputs", "labels", "message", "hint"),
    [
        (
            "yolov8",
            [(1, 300, 6)],
            None,
            "model 'x' (format yolov8) has outputs [(1, 300, 6)], "
            "expected one output (1, 4 + classes, boxes)",
            f"this output fits format yolov5 or rtdetr; {NMS_HINT}",
        ),
        (
            "yolov8",
            [(1, 300, 6)],
            COCO_SIZED,
            "model 'x' (format yolov8) has outputs [(1, 300, 6)], "
            "expected one output (1, 4 + classes, boxes); with its 80 labels (1, 84, boxes)",
            NMS_HINT,
        ),
        (
            "rtdetr",
            [(1, 84, 8400)],
            COCO_SIZED,
            "model 'x' (format rtdetr) has outputs [(1, 84, 8400)], "
            "expected one output (1, boxes, 4 + classes); with its 80 labels (1, boxes, 84)",
            "this output fits format yolov8",
        ),
        (
            "yolov5",
            [(1, 300, 84)],
            COCO_SIZED,
            "model 'x' (format yolov5) has outputs [(1, 300, 84)], "
            "expected one output (1, boxes, 5 + classes); with its 80 labels (1, boxes, 85)",
            "this output fits format rtdetr",
        ),
        (
            "yolov5",
            [(1, 25200, 8)],
            COCO_SIZED,
            "model 'x' (format yolov5) has outputs [(1, 25200, 8)], "
            "expected one output (1, boxes, 5 + classes); with its 80 labels (1, boxes, 85)",
            "the labels name 80 classes, more than the 3 of this output: "
            "give the model's own class names, in its order",
        ),
        (
            "yolov8",
            [(1, 4, 8400)],
            None,
            "model 'x' (format yolov8) has outputs [(1, 4, 8400)], "
            "expected one output (1, 4 + classes, boxes)",
            "the detector layouts visionflow reads: yolov8 (1, 4 + classes, boxes); "
            "yolov5 (1, boxes, 5 + classes); rtdetr (1, boxes, 4 + classes)",
        ),
        (
            "yolov8",
            [(1, 116, 8400), (1, 32, 160, 160)],
            None,
            "model 'x' (format yolov8) has outputs [(1, 116, 8400), (1, 32, 160, 160)], "
            "expected one output (1, 4 + classes, boxes)",
            "a detector exported without NMS has one output; "
            "a YOLO segmentation model is task instance_segmentation",
        ),
    ],
)
def test_outputs_that_are_not_the_declared_format(
    tmp_path, head_format, outputs, labels, message, hint
):
    arrays = [np.zeros(shape, np.float32) for shape in outputs]
    path = constant_model(tmp_path / "model.onnx", arrays, batch=1)
    with pytest.raises(ModelFormatError) as caught:
        load(path, head_format, labels)
    assert caught.value.message == message
    assert caught.value.hint == hint
    assert caught.value.code == "model_format_mismatch"


def test_dynamic_axes_fit_any_size(tmp_path):
    path = constant_model(tmp_path / "model.onnx", [yolov8_output()])  # batch axis dynamic
    load(path, "yolov8", COCO_SIZED).close()
    with pytest.raises(ModelFormatError) as caught:
        load(path, "yolov5", COCO_SIZED)
    assert caught.value.message.startswith("model 'x' (format yolov5) has outputs [(?, 84, 8400)]")


def test_a_wrong_format_is_a_compile_error_naming_the_model(tmp_path):
    path = constant_model(tmp_path / "model.onnx", [rtdetr_output()], batch=1)
    definition = {
        "inputs": [{"type": "image", "name": "image"}],
        "models": {
            "mine": {
                "source": str(path),
                "task": "object_detection",
                "format": "yolov8",
                "labels": RTDETR_LABELS,
            },
        },
        "steps": [
            {
                "type": "ObjectDetectionModel",
                "name": "detect",
                "images": "$inputs.image",
                "model": "mine",
            }
        ],
        "outputs": [{"type": "JsonField", "name": "out", "selector": "$steps.detect.predictions"}],
    }
    with pytest.raises(ModelFormatError) as caught:
        Workflow.compile(definition)
    assert isinstance(caught.value, CompilationError)
    assert caught.value.place == "steps[0] 'detect' models 'mine' field 'format'"
    assert caught.value.message == (
        "model 'mine' (format yolov8) has outputs [(1, 300, 7)], "
        "expected one output (1, 4 + classes, boxes); with its 3 labels (1, 7, boxes)"
    )
    assert caught.value.hint == "this output fits format rtdetr"
