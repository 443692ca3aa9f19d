"""The YOLOv8 segmentation head on an ONNX model with YOLOv8-seg's two outputs (detections
with mask coefficients, and mask prototypes) fixed to tensors designed here: exact boxes,
classes and mask pixels after the letterbox, NMS and the crop to each box."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from test_yolo_heads import IMAGE_BOXES, LABELS, yolo_output
from visionflow.data.image import WorkflowImage
from visionflow.errors import ModelError
from visionflow.models.model import Model
from visionflow.models.spec import ModelSpec

COEFFICIENTS = 32  # mask coefficients per candidate, as in Ultralytics' models
GRID = 160  # prototype grid over the 640 x 640 input: 4 input pixels a cell
# A 320 x 160 image letterboxed into 640 x 640: scale 2, 160 rows of padding on top, so
# grid cell (col, row) covers image pixels x in [2 col, 2 col + 2), y in [2 row - 80, ...).
# Prototype 0 is "on" over cells cols 30..49, rows 60..79: image x 60..99, y 40..79.
# Prototype 1 is "on" everywhere. Prototype 2 over cells cols 20..29, rows 50..54.
PROTOTYPE_CELLS = {0: (30, 50, 60, 80), 1: (0, GRID, 0, GRID), 2: (20, 30, 50, 55)}
# Which prototype each candidate of test_yolo_heads.CANDIDATES (A..G) is made of
MASK_OF = {"A": 0, "B": 0, "C": 2, "D": 1, "E": 1, "F": 1, "G": 1}


def prototypes() -> np.ndarray:
    planes = np.full((COEFFICIENTS, GRID, GRID), -1.0, np.float32)
    for index, (col_0, col_1, row_0, row_1) in PROTOTYPE_CELLS.items():
        planes[index, row_0:row_1, col_0:col_1] = 1.0
    planes[len(PROTOTYPE_CELLS) :] = 0.0
    return planes[None]  # (1, 32, 160, 160)


def segmentation_output() -> np.ndarray:
    """(1, 4 + 3 + 32, 7): the detection candidates of test_yolo_heads, with coefficients."""
    detections = yolo_output("yolov8")[0]  # (4 + C, N)
    coefficients = np.zeros((COEFFICIENTS, detections.shape[1]), np.float32)
    for candidate, name in enumerate("ABCDEFG"):
        coefficients[MASK_OF[name], candidate] = 10.0  # logits +-10: probability ~1 or ~0
    return np.concatenate([detections, coefficients])[None]


def fixed_outputs_model(path: Path, outputs: dict[str, np.ndarray]) -> Path:
    """An ONNX model: image (N, 3, 640, 640) -> each output + 0 * sum(image), per element."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("ReduceSum", ["image", "axes"], ["total"], keepdims=0)]
    constants = [
        numpy_helper.from_array(np.array([1, 2, 3], np.int64), "axes"),
        numpy_helper.from_array(np.zeros((), np.float32), "zero"),
    ]
    declared = []
    for name, value in outputs.items():
        shape = [-1] + [1] * (value.ndim - 1)
        constants += [
            numpy_helper.from_array(np.array(shape, np.int64), f"{name}_shape"),
            numpy_helper.from_array(value, f"{name}_fixed"),
        ]
        nodes += [
            helper.make_node("Reshape", ["total", f"{name}_shape"], [f"{name}_total"]),
            helper.make_node("Mul", [f"{name}_total", "zero"], [f"{name}_nothing"]),
            helper.make_node("Add", [f"{name}_nothing", f"{name}_fixed"], [name]),
        ]
        shape_out = ["N", *value.shape[1:]]
        declared.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape_out))
    graph = helper.make_graph(
        nodes,
        "fixed_outputs",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 640, 640])],
        declared,
        initializer=constants,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)
    onnx.save(model, path)
    return path


def segmentation_model_file(folder: Path) -> Path:
    outputs = {"output0": segmentation_output(), "output1": prototypes()}
    return fixed_outputs_model(folder / "seg.onnx", outputs)


@pytest.fixture(scope="module")
def segmenter(tmp_path_factory):
    path = segmentation_model_file(tmp_path_factory.mktemp("seg"))
    spec = ModelSpec(id="test/seg", source=str(path), task="instance_segmentation", labels=LABELS)
    model = Model(spec, path)
    yield model
    model.close()


@pytest.fixture
def image() -> WorkflowImage:
    return WorkflowImage(np.full((160, 320, 3), 40, np.uint8))  # 320 wide, 160 high


def rectangle(x_min: int, y_min: int, x_max: int, y_max: int) -> np.ndarray:
    """A 160 x 320 mask that is True on columns x_min..x_max-1, rows y_min..y_max-1."""
    mask = np.zeros((160, 320), bool)
    mask[y_min:y_max, x_min:x_max] = True
    return mask


def test_boxes_and_classes_are_the_detection_heads(segmenter, image):
    detections = segmenter.predict([image])[0]
    assert detections.data["class_name"].tolist() == ["person", "car", "dog", "car"]
    assert detections.xyxy.tolist() == [IMAGE_BOXES[name] for name in "ACDF"]
    assert detections.confidence.tolist() == pytest.approx([0.9, 0.7, 0.6, 0.5], abs=1e-6)
    assert detections.class_id.tolist() == [0, 1, 2, 1]


def test_a_mask_inside_its_box_is_the_prototype_rectangle_on_the_image(segmenter, image):
    masks = segmenter.predict([image])[0].mask
    assert masks.shape == (4, 160, 320) and masks.dtype == bool
    # A's prototype 0: cells cols 30..49, rows 60..79 -> image x 60..99, y 40..79
    assert np.array_equal(masks[0], rectangle(60, 40, 100, 80))


def test_a_mask_is_cut_to_its_box(segmenter, image):
    masks = segmenter.predict([image])[0].mask
    # D's prototype 1 covers the whole input: D's mask is D's box [200, 10, 300, 150]
    assert np.array_equal(masks[2], rectangle(200, 10, 300, 150))
    # F's box [280, 0, 320, 20] lies partly outside the image: cut to the image too
    assert np.array_equal(masks[3], rectangle(280, 0, 320, 20))
    # C's prototype 2 (image x 40..59, y 20..29) overlaps its box [50, 20, 150, 120] on x 50..59
    assert np.array_equal(masks[1], rectangle(50, 20, 60, 30))


def test_masks_follow_the_options_that_pick_the_detections(segmenter, image):
    detections = segmenter.predict([image], {"class_filter": ["car"]})[0]
    assert detections.xyxy.tolist() == [IMAGE_BOXES["C"], IMAGE_BOXES["F"]]
    assert np.array_equal(detections.mask[1], rectangle(280, 0, 320, 20))
    assert segmenter.predict([image], {"confidence": 0.95})[0].mask.shape == (0, 160, 320)


def test_the_mask_threshold_option(segmenter, image):
    # On the edge of a rectangle a pixel falls a quarter cell from the boundary between an
    # "on" and an "off" cell: bilinear resampling gives it 0.75, above 0.5 but below 0.8.
    thinner = segmenter.predict([image], {"mask_threshold": 0.8})[0].mask
    assert np.array_equal(thinner[0], rectangle(61, 41, 99, 79))
    assert not segmenter.predict([image], {"mask_threshold": 0.99999})[0].mask.any()


def test_a_tall_image_padded_left_and_right(segmenter):
    tall = WorkflowImage(np.zeros((320, 160, 3), np.uint8))
    detections = segmenter.predict([tall])[0]
    # letterbox of 160 x 320: scale 2, 160 columns of padding on the left: cell (col, row)
    # covers image x in [2 col - 80, ...), y in [2 row, ...); A's box is [0, 100, 70, 200]
    assert detections.xyxy[0].tolist() == [0.0, 100.0, 70.0, 200.0]
    expected = np.zeros((320, 160), bool)
    expected[120:160, 0:20] = True  # cells cols 30..49 -> x -20..19, rows 60..79 -> y 120..159
    assert np.array_equal(detections.mask[0], expected)


def test_detections_carry_the_image_metadata(segmenter, image):
    detections = segmenter.predict([image])[0]
    assert set(detections.data["parent_id"]) == {image.image_id}


def test_a_model_with_one_output_is_refused(tmp_path):
    from test_yolo_heads import fixed_output_model

    path = fixed_output_model(tmp_path / "det.onnx", yolo_output("yolov8"))
    spec = ModelSpec(id="test/det", source=str(path), task="instance_segmentation")
    with pytest.raises(ModelError, match="a YOLOv8 segmentation model has two") as refused:
        Model(spec, path)
    assert (refused.value.code, refused.value.place) == (
        "model_format_mismatch", "models 'test/det' field 'format'"
    )


def test_masks_take_one_byte_a_pixel_while_they_are_made(segmenter):
    """Masks are thresholded box by box: no full-size float mask per detection (4 bytes a
    pixel: 300 detections on a 4K frame would need 10 GB) is ever held."""
    import tracemalloc

    large = WorkflowImage(np.zeros((1600, 3200, 3), np.uint8))  # the test image x 10
    segmenter.predict([large])  # warmed up: first-call allocations are not the masks'
    tracemalloc.start()
    try:
        detections = segmenter.predict([large])[0]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert detections.mask.shape == (4, 1600, 3200)
    assert detections.mask.dtype == bool
    # the masks themselves (1 byte a pixel), a copy of the image, the input tensor and
    # small change; float masks would add 4 bytes a pixel per detection (over 100 MB here)
    assert peak < 2 * detections.mask.nbytes + large.numpy.nbytes
