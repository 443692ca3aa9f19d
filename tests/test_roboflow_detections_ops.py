"""Roboflow's detections operations (blocks/roboflow/detections.py), run as Roboflow's
documents write them, on detections given in Roboflow's JSON over skimage's astronaut.

The expected values written out below (boxes, distances, sizes, ids kept or dropped) are what
Roboflow's own engine (inference-core 1.8.3, OpenCV 4.12) gave for the same document and
inputs; the tests on a parameter and on the zoo's face detector check the same rules on
values Roboflow's engine was not run on.
"""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from markers import needs_face_detector
from visionflow import Workflow
from visionflow.errors import StepExecutionError, WorkflowError

SIZE = {"width": 512, "height": 512}


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


def box(x, y, width, height, name, confidence, detection_id, class_id=0, **more) -> dict:
    """A detection in Roboflow's JSON (centre, size), as a batch input gives it."""
    return {
        "x": x,
        "y": y,
        "width": width,
        "height": height,
        "confidence": confidence,
        "class": name,
        "class_id": class_id,
        "detection_id": detection_id,
        **more,
    }


def outline(*points) -> dict:
    return {"points": [{"x": x, "y": y} for x, y in points]}


BOXES = {
    "image": SIZE,
    "predictions": [
        box(100, 100, 40, 30, "cat", 0.9, "a", 0),
        box(300.5, 200.25, 61, 47, "dog", 0.4, "b", 1),
        box(10, 500, 30, 20, "cat", 0.35, "c", 0),  # crosses the image's bottom-left edge
        box(490, 20, 50, 60, "bird", 0.2, "d", 2),  # crosses its top-right edge
    ],
}
SHAPES = {  # instance masks: a square turned 45 degrees and a triangle
    "image": SIZE,
    "predictions": [
        box(150, 150, 100, 100, "tilted", 0.8, "s1", 0,
            **outline((150, 100), (200, 150), (150, 200), (100, 150))),
        box(350, 330, 100, 60, "tri", 0.6, "s2", 1, **outline((300, 300), (400, 310), (330, 360))),
    ],
}  # fmt: skip
OTHER = {"image": SIZE, "predictions": [box(50, 60, 20, 20, "car", 0.7, "o1", 3)]}
SCENE = {
    "image": SIZE,
    "predictions": [
        box(200, 200, 200, 200, "table", 0.9, "t1", 5),
        box(150, 150, 20, 20, "cup", 0.8, "c1", 1),
        box(310, 200, 40, 40, "cup", 0.7, "c2", 1),
        box(320, 320, 30, 30, "plate", 0.6, "p1", 2),
        box(450, 450, 20, 20, "cup", 0.5, "c3", 1),
        box(90, 100, 20, 20, "fork", 0.5, "f1", 3),
    ],
}
TARGETS = {
    "image": SIZE,
    "predictions": [
        box(160, 160, 10, 10, "x", 0.9, "x1"),
        box(160.5, 159.5, 10, 10, "x", 0.9, "x2"),  # within a pixel of x1 from most places
        box(400, 100, 10, 10, "x", 0.9, "x3"),
    ],
}


def person(x, y, detection_id, nose, left_hand) -> dict:
    keypoints = [
        {"x": px, "y": py, "confidence": 0.8, "class": name, "class_id": class_id}
        for class_id, (name, (px, py)) in enumerate((("nose", nose), ("left_hand", left_hand)))
    ]
    return box(x, y, 40, 40, "person", 0.9, detection_id, keypoints=keypoints)


PEOPLE = {
    "image": SIZE,
    "predictions": [
        person(100, 100, "k1", (100, 90), (85, 120)),
        person(300, 300, "k2", (300, 290), (280, 320)),
        person(400, 100, "k3", (400, 90), (500, 500)),
    ],
}


def batch_input(name: str, kind: str = "object_detection_prediction") -> dict:
    return {"type": "WorkflowBatchInput", "name": name, "kind": [kind]}


def run(step: dict, outputs: dict, inputs: list | None = None, **given) -> dict:
    """One step over the astronaut and ``given`` detections; its outputs, by name."""
    document = {
        "version": "1.0",
        "inputs": [{"type": "WorkflowImage", "name": "image"}, *(inputs or [batch_input("boxes")])],
        "steps": [{"name": "s", **step}],
        "outputs": [
            {"type": "JsonField", "name": name, "selector": f"$steps.s.{output}"}
            for name, output in outputs.items()
        ],
    }
    image = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    batches = {k: [v] if k in _batch_names(document) else v for k, v in given.items()}
    [result] = Workflow.compile(document).run(image=image, **batches)
    return result


def _batch_names(document: dict) -> set[str]:
    return {item["name"] for item in document["inputs"] if item["type"] == "WorkflowBatchInput"}


def predictions(step: dict, inputs: list | None = None, output: str = "predictions", **given):
    return run(step, {"p": output}, inputs, **given)["p"]


# --- detection_offset -------------------------------------------------------------------


def test_detection_offset_in_pixels_grows_each_side_by_half_clipped_to_the_image():
    step = {
        "type": "roboflow_core/detection_offset@v1",
        "predictions": "$inputs.boxes",
        "offset_width": 10,
        "offset_height": 7,  # odd: 3 a side
    }
    grown = predictions(step, boxes=BOXES)
    assert grown.xyxy.tolist() == [
        [75.0, 82.0, 125.0, 118.0],
        [265.0, 173.75, 336.0, 226.75],
        [0.0, 487.0, 30.0, 512.0],
        [460.0, 0.0, 512.0, 53.0],
    ]
    # new detections: new ids, the detections they grew from as parents
    assert grown.data["parent_id"].tolist() == ["a", "b", "c", "d"]
    assert len(set(grown.data["detection_id"].tolist()) | {"a", "b", "c", "d"}) == 8
    assert grown.data["class_name"].tolist() == ["cat", "dog", "cat", "bird"]
    assert grown.class_id.tolist() == [0, 1, 0, 2]
    assert grown.confidence.tolist() == [0.9, 0.4, 0.35, 0.2]
    assert grown.data["root_parent_id"].tolist() == ["boxes.[0]"] * 4
    assert grown.data["image_dimensions"].tolist() == [[512, 512]] * 4


def test_detection_offset_in_percent_with_roboflow_short_name_and_field_aliases():
    step = {
        "type": "DetectionOffset",
        "predictions": "$inputs.boxes",
        "offset_x": 15,
        "offset_y": 25,
        "units": "Percent (%)",
    }
    grown = predictions(step, boxes=BOXES)
    assert grown.xyxy.tolist() == [
        [77.0, 82.0, 123.0, 118.0],
        [266.0, 171.75, 335.0, 228.75],
        [0.0, 488.0, 27.0, 512.0],
        [462.0, 0.0, 512.0, 57.0],
    ]
    assert grown.data["parent_id"].tolist() == ["a", "b", "c", "d"]


def test_detection_offset_takes_offsets_from_parameters_and_keeps_no_detections():
    step = {
        "type": "roboflow_core/detection_offset@v1",
        "predictions": "$inputs.boxes",
        "offset_width": "$inputs.grow",
        "offset_height": "$inputs.grow",
    }
    inputs = [batch_input("boxes"), {"type": "WorkflowParameter", "name": "grow"}]
    empty = {"image": SIZE, "predictions": []}
    assert len(run(step, {"p": "predictions"}, inputs, boxes=empty, grow=20)["p"]) == 0
    grown = run(step, {"p": "predictions"}, inputs, boxes=BOXES, grow=20)["p"]
    assert grown.xyxy[0].tolist() == [70.0, 75.0, 130.0, 125.0]


@pytest.mark.parametrize("offset", [0, -4])
def test_detection_offset_must_be_positive(offset):
    step = {
        "type": "roboflow_core/detection_offset@v1",
        "name": "s",
        "predictions": "$inputs.boxes",
        "offset_width": offset,
        "offset_height": 5,
    }
    document = {
        "version": "1.0",
        "inputs": [batch_input("boxes")],
        "steps": [step],
        "outputs": [{"type": "JsonField", "name": "p", "selector": "$steps.s.predictions"}],
    }
    with pytest.raises(WorkflowError, match="offset_width"):
        Workflow.compile(document)


# --- bounding_rect ----------------------------------------------------------------------


def test_bounding_rect_turns_each_mask_into_its_smallest_rotated_rectangle():
    step = {"type": "roboflow_core/bounding_rect@v1", "predictions": "$inputs.boxes"}
    inputs = [batch_input("boxes", "instance_segmentation_prediction")]
    shaped = predictions(step, inputs, output="detections_with_rect", boxes=SHAPES)
    assert shaped.xyxy.tolist() == [[100.0, 100.0, 200.0, 200.0], [299.0, 262.0, 406.0, 360.0]]
    assert [int(mask.sum()) for mask in shaped.mask] == [5101, 5898]
    assert shaped.data["rect"].dtype == np.float16
    assert shaped.data["rect"].tolist() == [
        [[100.0, 150.0], [150.0, 100.0], [200.0, 150.0], [150.0, 200.0]],
        [[299.0, 300.0], [376.0, 262.0], [406.0, 322.0], [329.0, 360.0]],
    ]
    assert shaped.data["width"].tolist() == [70.6875, 67.0625]
    assert shaped.data["height"].tolist() == [70.6875, 85.4375]
    assert shaped.data["angle"].tolist() == [45.0, 63.4375]
    assert shaped.data["class_name"].tolist() == ["tilted", "tri"]
    assert shaped.data["detection_id"].tolist() == ["s1", "s2"]
    assert shaped.data["parent_id"].tolist() == ["boxes.[0]"] * 2


def test_bounding_rect_needs_masks():
    step = {"type": "roboflow_core/bounding_rect@v1", "predictions": "$inputs.boxes"}
    inputs = [batch_input("boxes", "instance_segmentation_prediction")]
    with pytest.raises(StepExecutionError, match="no masks"):
        predictions(step, inputs, output="detections_with_rect", boxes=BOXES)


# --- detections_merge -------------------------------------------------------------------


def test_detections_merge_makes_one_detection_around_all():
    step = {"type": "roboflow_core/detections_merge@v1", "predictions": "$inputs.boxes"}
    merged = predictions(step, boxes=BOXES)
    assert merged.xyxy.tolist() == [[-5.0, -10.0, 515.0, 510.0]]
    assert merged.confidence.tolist() == [np.float32(0.2).item()]  # the lowest, as float32
    assert merged.class_id.tolist() == [0]
    assert merged.data["class_name"].tolist() == ["merged_detection"]
    assert sorted(merged.data) == ["class_name", "detection_id"]  # as Roboflow's: no other field
    assert merged.data["detection_id"][0] not in {"a", "b", "c", "d"}


def test_detections_merge_of_no_detections_is_none():
    step = {
        "type": "roboflow_core/detections_merge@v1",
        "predictions": "$inputs.boxes",
        "class_name": "all",
    }
    merged = predictions(step, boxes={"image": SIZE, "predictions": []})
    assert merged.xyxy.shape == (0, 4)
    assert merged.class_id is None and merged.confidence is None


def test_detections_merge_serialises():
    step = {"type": "roboflow_core/detections_merge@v1", "predictions": "$inputs.boxes"}
    document = {
        "version": "1.0",
        "inputs": [{"type": "WorkflowImage", "name": "image"}, batch_input("boxes")],
        "steps": [{"name": "s", **step}],
        "outputs": [{"type": "JsonField", "name": "p", "selector": "$steps.s.predictions"}],
    }
    image = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    [result] = Workflow.compile(document).run(image=image, boxes=[BOXES], serialize=True)
    [merged] = result["p"]["predictions"]
    assert (merged["x"], merged["y"], merged["width"], merged["height"]) == (255, 250, 520, 520)
    assert merged["class"] == "merged_detection"


# --- per_class_confidence_filter --------------------------------------------------------


def test_per_class_confidence_filter_uses_each_class_threshold():
    step = {
        "type": "roboflow_core/per_class_confidence_filter@v1",
        "predictions": "$inputs.boxes",
        "class_thresholds": {"cat": 0.5, "bird": 0.1},
    }
    kept = predictions(step, boxes=BOXES)
    assert kept.data["detection_id"].tolist() == ["a", "b", "d"]  # dog: default 0.3
    assert kept.xyxy.tolist() == [
        [80.0, 85.0, 120.0, 115.0],
        [270.0, 176.75, 331.0, 223.75],
        [465.0, -10.0, 515.0, 50.0],
    ]
    assert kept.data["class_name"].tolist() == ["cat", "dog", "bird"]


def test_per_class_confidence_filter_default_threshold_from_a_parameter():
    step = {
        "type": "roboflow_core/per_class_confidence_filter@v1",
        "predictions": "$inputs.boxes",
        "class_thresholds": "$inputs.thresholds",
        "default_threshold": "$inputs.default",
    }
    inputs = [
        batch_input("boxes"),
        {"type": "WorkflowParameter", "name": "thresholds"},
        {"type": "WorkflowParameter", "name": "default"},
    ]
    kept = run(step, {"p": "predictions"}, inputs, boxes=BOXES, thresholds={}, default=0.4)["p"]
    assert kept.data["detection_id"].tolist() == ["a", "b"]  # 0.4 reaches 0.4


# --- detections_combine -----------------------------------------------------------------


def test_detections_combine_puts_the_second_set_after_the_first():
    step = {
        "type": "roboflow_core/detections_combine@v1",
        "prediction_one": "$inputs.boxes",
        "prediction_two": "$inputs.other",
    }
    both = predictions(step, [batch_input("boxes"), batch_input("other")], boxes=BOXES, other=OTHER)
    assert both.xyxy.tolist() == [
        [80.0, 85.0, 120.0, 115.0],
        [270.0, 176.75, 331.0, 223.75],
        [-5.0, 490.0, 25.0, 510.0],
        [465.0, -10.0, 515.0, 50.0],
        [40.0, 50.0, 60.0, 70.0],
    ]
    assert both.class_id.tolist() == [0, 1, 0, 2, 3]
    assert both.data["detection_id"].tolist() == ["a", "b", "c", "d", "o1"]
    assert both.data["parent_id"].tolist() == ["boxes.[0]"] * 4 + ["other.[0]"]


# --- overlap ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overlap_type", "expected"),
    [("Center Overlap", ["c1"]), ("Any Overlap", ["c1", "c2", "f1"])],
)
def test_overlap_keeps_detections_over_the_named_class(overlap_type, expected):
    step = {
        "type": "roboflow_core/overlap@v1",
        "predictions": "$inputs.boxes",
        "overlap_class_name": "table",
        "overlap_type": overlap_type,
    }
    found = predictions(step, output="overlaps", boxes=SCENE)
    assert found.data["detection_id"].tolist() == expected
    assert found.data["parent_id"].tolist() == ["boxes.[0]"] * len(expected)


# --- detections_nearest_neighbor --------------------------------------------------------

NEAREST = {
    "type": "roboflow_core/detections_nearest_neighbor@v1",
    "query_predictions": "$inputs.boxes",
    "target_predictions": "$inputs.other",
}
NEAREST_OUTPUTS = {
    "query": "query_predictions",
    "queries": "matched_query_detections",
    "targets": "matched_target_detections",
}


def test_nearest_neighbor_matches_each_query_to_its_nearest_targets():
    inputs = [batch_input("boxes"), batch_input("other")]
    found = run(NEAREST, NEAREST_OUTPUTS, inputs, boxes=SCENE, other=TARGETS)
    assert found["query"].data["detection_id"].tolist() == ["t1", "c1", "c2", "p1", "c3", "f1"]
    assert found["query"].data["nearest_target_distance"].tolist() == [
        56.568542494923804,
        14.142135623730951,
        134.5362404707371,
        226.27416997969522,
        353.5533905932738,
        92.19544457292888,
    ]
    # x1 and x2 lie within a pixel of each other: a query near both matches both
    pairs = zip(
        found["queries"].data["detection_id"].tolist(),
        found["targets"].data["detection_id"].tolist(),
        strict=True,
    )
    assert list(pairs) == [
        ("t1", "x1"), ("t1", "x2"), ("c1", "x1"), ("c1", "x2"), ("c2", "x3"),
        ("p1", "x1"), ("p1", "x2"), ("c3", "x3"), ("f1", "x1"), ("f1", "x2"),
    ]  # fmt: skip
    assert found["targets"].data["parent_id"].tolist()[0] == "other.[0]"


def test_nearest_neighbor_within_one_set_skips_each_detection_itself():
    step = {
        **NEAREST,
        "target_predictions": "$inputs.boxes",
        "query_point": "TOP_LEFT",
        "target_point": "BOTTOM_RIGHT",
        "max_distance": 150,
    }
    found = run(step, NEAREST_OUTPUTS, boxes=SCENE)
    assert found["query"].data["nearest_target_distance"].tolist() == [
        10.0,
        50.0,
        120.41594578792295,
        7.0710678118654755,
        148.49242404917499,
        106.30145812734649,
    ]
    assert found["targets"].data["detection_id"].tolist() == ["f1", "f1", "t1", "t1", "p1", "c1"]
    # one set is both: its targets carry the distances too, as in Roboflow's engine
    assert found["targets"].data["nearest_target_distance"].tolist() == [
        106.30145812734649, 106.30145812734649, 10.0, 10.0, 7.0710678118654755, 50.0,
    ]  # fmt: skip


def test_nearest_neighbor_from_a_named_keypoint():
    step = {
        **NEAREST,
        "query_point": "KEYPOINT",
        "query_keypoint_name": "left_hand",
        "target_point": "TOP_LEFT",
        "max_distance": 100,
    }
    inputs = [batch_input("boxes", "keypoint_detection_prediction"), batch_input("other")]
    found = run(step, NEAREST_OUTPUTS, inputs, boxes=PEOPLE, other=TARGETS)
    distances = found["query"].data["nearest_target_distance"].tolist()
    assert distances == [78.26237921249263, None, None]
    assert found["queries"].data["detection_id"].tolist() == ["k1", "k1"]
    assert found["targets"].data["detection_id"].tolist() == ["x1", "x2"]


def test_nearest_neighbor_without_targets_matches_nothing():
    inputs = [batch_input("boxes"), batch_input("other")]
    empty = {"image": SIZE, "predictions": []}
    found = run(NEAREST, NEAREST_OUTPUTS, inputs, boxes=SCENE, other=empty)
    assert found["query"].data["nearest_target_distance"].tolist() == [None] * 6
    assert len(found["queries"]) == len(found["targets"]) == 0


def test_nearest_neighbor_keypoint_needs_its_name():
    step = {**NEAREST, "query_point": "KEYPOINT"}
    inputs = [batch_input("boxes", "keypoint_detection_prediction"), batch_input("other")]
    with pytest.raises(StepExecutionError, match="query_keypoint_name"):
        run(step, NEAREST_OUTPUTS, inputs, boxes=PEOPLE, other=TARGETS)


# --- size_measurement -------------------------------------------------------------------

SIZE_INPUTS = [batch_input("boxes", "instance_segmentation_prediction"), batch_input("other")]


def measure(objects: str, reference, dimensions) -> list:
    step = {
        "type": "roboflow_core/size_measurement@v1",
        "object_predictions": objects,
        "reference_predictions": reference,
        "reference_dimensions": dimensions,
    }
    return run(step, {"d": "dimensions"}, SIZE_INPUTS, boxes=SHAPES, other=BOXES)["d"]


def test_size_measurement_of_masks_against_the_most_confident_reference_box():
    assert measure("$inputs.boxes", "$inputs.other", "5.0,2.5") == [
        {
            "width": 8.838834762573242,
            "height": 5.892556508382161,
            "longer": 8.838834762573242,
            "shorter": 5.892556508382161,
        },
        {
            "width": 10.677227973937988,
            "height": 5.590169906616211,
            "longer": 10.677227973937988,
            "shorter": 5.590169906616211,
        },
    ]


def test_size_measurement_of_boxes_against_a_mask_and_a_polygon():
    against_mask = measure("$inputs.other", "$inputs.boxes", [3, 4])
    assert [(d["width"], d["height"]) for d in against_mask] == [
        (1.6970562752813656, 1.6970562752813656),
        (2.5880108198040825, 2.658721497940806),
        (1.2727922064610242, 1.131370850187577),
        (2.121320344101707, 3.394112550562731),
    ]
    polygon = [[10, 10], [50, 10], [50, 30], [10, 30]]  # 40 x 20 pixels: 4 x 2
    against_polygon = measure("$inputs.other", polygon, [4, 2])
    assert against_polygon[1] == {
        "width": 6.1000000000000005,
        "height": 4.7,
        "longer": 6.1000000000000005,
        "shorter": 4.7,
    }
    assert [(d["longer"], d["shorter"]) for d in against_polygon] == [
        (4.0, 3.0), (6.1000000000000005, 4.7), (3.0, 2.0), (6.0, 5.0),
    ]  # fmt: skip


def test_size_measurement_without_a_reference_is_none():
    assert measure("$inputs.other", [[1, 1]], [1, 1]) is None


# --- distance_measurement ---------------------------------------------------------------


def distance(**fields) -> tuple:
    step = {"type": "roboflow_core/distance_measurement@v1", "predictions": "$inputs.boxes"}
    found = run({**step, **fields}, {"cm": "distance_cm", "px": "distance_pixel"}, boxes=SCENE)
    return found["cm"], found["px"]


def test_distance_measurement_by_a_reference_object():
    found = distance(
        object_1_class_name="fork",
        object_2_class_name="plate",
        reference_axis="horizontal",
        calibration_method="reference object",
        reference_object_class_name="table",
        reference_width=4,
        reference_height=2,
    )
    assert found == (2.7333333333333334, 205)


def test_distance_measurement_by_pixels_a_centimetre_and_overlapping_boxes():
    by_ratio = distance(
        object_1_class_name="fork",
        object_2_class_name="plate",
        reference_axis="vertical",
        calibration_method="pixel to centimeter",
        pixel_ratio=20,
    )
    assert by_ratio == (9.75, 195)
    # the last cup before the table is found lies on it: no gap
    overlapping = distance(
        object_1_class_name="cup",
        object_2_class_name="table",
        reference_axis="vertical",
        calibration_method="pixel to centimeter",
    )
    assert overlapping == (0, 0)


def test_distance_measurement_needs_both_classes():
    with pytest.raises(StepExecutionError, match="'car' not in the predictions"):
        distance(
            object_1_class_name="cup",
            object_2_class_name="car",
            reference_axis="vertical",
            calibration_method="pixel to centimeter",
        )


# --- on a zoo model's detections --------------------------------------------------------


@needs_face_detector
def test_roboflow_published_crop_then_offset_on_the_zoo_face_detector(astronaut):
    # Roboflow's test definition FLAT_DYNAMIC_CROP_WITH_DETECTION_OFFSET, its model mapped
    # to the zoo's face detector, and one more offset straight on the model's detections
    document = {
        "version": "1.0",
        "inputs": [{"type": "WorkflowImage", "name": "image"}],
        "models": {"yolov8n-640": "mediapipe/face_detection_short_range"},
        "steps": [
            {
                "type": "roboflow_core/roboflow_object_detection_model@v3",
                "name": "general_detection",
                "image": "$inputs.image",
                "model_id": "yolov8n-640",
            },
            {
                "type": "roboflow_core/dynamic_crop@v1",
                "name": "cropping",
                "image": "$inputs.image",
                "predictions": "$steps.general_detection.predictions",
            },
            {
                "type": "roboflow_core/detection_offset@v1",
                "name": "padded",
                "predictions": "$steps.cropping.predictions",
                "offset_width": 10,
                "offset_height": 10,
                "units": "Pixels",
            },
            {
                "type": "roboflow_core/detection_offset@v1",
                "name": "grown",
                "predictions": "$steps.general_detection.predictions",
                "offset_width": 10,
                "offset_height": 10,
            },
        ],
        "outputs": [
            {"type": "JsonField", "name": "padded_preds", "selector": "$steps.padded.predictions"},
            {
                "type": "JsonField",
                "name": "faces",
                "selector": "$steps.general_detection.predictions",
            },
            {"type": "JsonField", "name": "grown", "selector": "$steps.grown.predictions"},
            {"type": "JsonField", "name": "on_crop", "selector": "$steps.cropping.predictions"},
        ],
    }
    [result] = Workflow.compile(document).run(image=astronaut)
    face, grown = result["faces"], result["grown"]
    assert len(face) == len(grown) == 1
    x1, y1, x2, y2 = face.xyxy[0].tolist()
    assert grown.xyxy[0].tolist() == [x1 - 5, y1 - 5, x2 + 5, y2 + 5]
    assert grown.data["parent_id"].tolist() == face.data["detection_id"].tolist()
    # on its crop, the detection moved into the crop's coordinates, grown and clipped at the
    # crop's top-left (0); as Roboflow's, the moved detection keeps its image's dimensions
    [on_crop], [padded] = result["on_crop"], result["padded_preds"]  # one per crop
    assert len(on_crop) == len(padded) == 1
    cx1, cy1, cx2, cy2 = on_crop.xyxy[0].tolist()
    assert padded.xyxy[0].tolist() == [max(0, cx1 - 5), max(0, cy1 - 5), cx2 + 5, cy2 + 5]
    assert padded.data["parent_id"].tolist() == face.data["detection_id"].tolist()
