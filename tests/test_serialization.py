"""Results as JSON: images with their origin, numpy as lists, detections as documented."""

from __future__ import annotations

import base64
import datetime
import json

import cv2
import numpy as np
import pytest
import supervision as sv

from visionflow import Workflow, WorkflowImage, serialize
from visionflow.data.detections import attach_image_metadata
from visionflow.serialization import deserialize_detections


def test_numpy_values_become_lists_and_numbers():
    assert serialize({"a": np.array([[1, 2], [3, 4]]), "b": np.float32(0.5), "c": (1, None)}) == {
        "a": [[1, 2], [3, 4]],
        "b": 0.5,
        "c": [1, None],
    }


def test_numbers_json_has_not_become_null():
    # a NaN from a model or an input once made the server's answer a 500 (json refuses NaN)
    value = {
        "a": float("nan"),
        "b": np.float32("inf"),
        "c": np.array([1.5, -np.inf, np.nan]),
        "d": [float("-inf"), 2.0],
        "e": np.array([[1.0, 2.0]]),
    }
    assert serialize(value) == {"a": None, "b": None, "c": [1.5, None, None], "d": [None, 2.0],
                                "e": [[1.0, 2.0]]}  # fmt: skip
    json.dumps(serialize(value), allow_nan=False)


def test_images_become_base64_jpeg_with_their_origin(astronaut):
    crop = WorkflowImage(astronaut, image_id="root").crop(100, 50, 300, 150, crop_id="c1")
    data = serialize(crop)
    assert data["type"] == "base64"
    assert (data["image_id"], data["parent_id"], data["width"], data["height"]) == (
        "c1",
        "root",
        200,
        100,
    )
    assert data["origin"] == {
        "root_id": "root",
        "offset_x": 100,
        "offset_y": 50,
        "root_width": 512,
        "root_height": 512,
    }
    decoded = cv2.imdecode(
        np.frombuffer(base64.b64decode(data["value"]), np.uint8), cv2.IMREAD_COLOR
    )
    assert decoded.shape == (100, 200, 3)
    assert np.abs(decoded.astype(int) - astronaut[50:150, 100:300]).mean() < 6  # JPEG is lossy


def test_detections_use_the_documented_format(astronaut):
    image = WorkflowImage(astronaut, image_id="img")
    detections = attach_image_metadata(
        sv.Detections(
            xyxy=np.array([[10.0, 20.0, 50.0, 100.0]]),
            confidence=np.array([0.75]),
            class_id=np.array([2]),
            data={"class_name": np.array(["cat"]), "detection_id": np.array(["d1"])},
        ),
        image,
    )
    assert serialize(detections) == {
        "image": {"width": 512, "height": 512},
        "predictions": [
            {
                "x": 30.0,
                "y": 60.0,
                "width": 40.0,
                "height": 80.0,
                "confidence": 0.75,
                "class": "cat",
                "class_id": 2,
                "detection_id": "d1",
                "parent_id": "img",
            }
        ],
    }


def test_keypoints_and_mask_outline_are_included(astronaut):
    mask = np.zeros((1, 40, 40), dtype=bool)
    mask[0, 10:20, 10:30] = True
    detections = sv.Detections(
        xyxy=np.array([[10.0, 10.0, 30.0, 20.0]]),
        confidence=np.array([0.9]),
        class_id=np.array([0]),
        mask=mask,
        data={
            "keypoints_xy": np.array([[[12.0, 14.0], [20.0, 18.0]]]),
            "keypoints_confidence": np.array([[0.8, 0.6]]),
            "keypoints_class_name": np.array([["nose", "eye"]]),
        },
    )
    prediction = serialize(detections)["predictions"][0]
    assert prediction["keypoints"] == [
        {"x": 12.0, "y": 14.0, "confidence": 0.8, "class": "nose"},
        {"x": 20.0, "y": 18.0, "confidence": 0.6, "class": "eye"},
    ]
    xs = [point["x"] for point in prediction["points"]]
    ys = [point["y"] for point in prediction["points"]]
    assert (min(xs), max(xs), min(ys), max(ys)) == (10, 29, 10, 19)


def test_keypoint_class_ids_are_read_and_written_as_roboflow_writes_them():
    # Roboflow's keypoint JSON: class_id, class, confidence, x, y for each point
    given = {
        "image": {"width": 40, "height": 40},
        "predictions": [
            {"x": 20, "y": 15, "width": 20, "height": 10, "confidence": 0.9, "class": "person",
             "class_id": 0, "keypoints": [
                 {"class_id": 0, "class": "nose", "confidence": 0.8, "x": 12.0, "y": 14.0},
                 {"class_id": 2, "class": "eye", "confidence": 0.6, "x": 20.0, "y": 18.0}]},
        ],
    }  # fmt: skip
    read = deserialize_detections(given, "pose")
    assert read.data["keypoints_class_id"].tolist() == [[0, 2]]
    assert serialize(read)["predictions"][0]["keypoints"] == [
        {"x": 12.0, "y": 14.0, "confidence": 0.8, "class": "nose", "class_id": 0},
        {"x": 20.0, "y": 18.0, "confidence": 0.6, "class": "eye", "class_id": 2},
    ]
    # a point without one (or a bool, or text): no class ids kept, none made up
    for odd in (None, True, "2"):
        points = given["predictions"][0]["keypoints"]
        changed = {**given, "predictions": [{**given["predictions"][0], "keypoints": [
            points[0], {**points[1], "class_id": odd}]}]}  # fmt: skip
        assert "keypoints_class_id" not in deserialize_detections(changed, "pose").data


def crops_then_detect(coordinates_system: str) -> dict:
    return {
        "inputs": [{"type": "image", "name": "image"}],
        "steps": [
            {
                "type": "test/fixed_boxes@v1",
                "name": "people",
                "image": "$inputs.image",
                "boxes": [[100, 50, 300, 250]],
                "classes": ["person"],
            },
            {
                "type": "DynamicCrop",
                "name": "crop",
                "images": "$inputs.image",
                "predictions": "$steps.people.predictions",
            },
            {
                "type": "test/fixed_boxes@v1",
                "name": "faces",
                "image": "$steps.crop.crops",
                "boxes": [[10, 20, 60, 90]],
                "classes": ["face"],
            },
        ],
        "outputs": [
            {
                "type": "JsonField",
                "name": "faces",
                "selector": "$steps.faces.predictions",
                "coordinates_system": coordinates_system,
            }
        ],
    }


@pytest.mark.parametrize(
    ("system", "expected"),
    [
        ("own", [[10, 20, 60, 90]]),
        ("parent", [[110, 70, 160, 140]]),
    ],
)
def test_detections_on_crops_in_own_or_parent_coordinates(astronaut, test_blocks, system, expected):
    result = Workflow.compile(crops_then_detect(system), blocks=test_blocks).run(image=astronaut)
    assert [faces.xyxy.tolist() for faces in result[0]["faces"]] == [expected]


def test_parent_coordinates_of_crops_of_crops(astronaut, test_blocks):
    definition = crops_then_detect("parent")
    definition["steps"] += [
        {
            "type": "DynamicCrop",
            "name": "face crop",
            "images": "$steps.crop.crops",
            "predictions": "$steps.faces.predictions",
        },
        {
            "type": "test/fixed_boxes@v1",
            "name": "eyes",
            "image": "$steps.face crop.crops",
            "boxes": [[5, 5, 15, 10]],
            "classes": ["eye"],
        },
    ]
    definition["outputs"].append(
        {"type": "JsonField", "name": "eyes", "selector": "$steps.eyes.predictions"}
    )
    result = Workflow.compile(definition, blocks=test_blocks).run(image=astronaut)
    # person at (100, 50), face at (10, 20) inside it, eye at (5, 5) inside the face
    assert result[0]["eyes"][0][0].xyxy.tolist() == [[115, 75, 125, 80]]


def test_run_with_serialize_gives_json_text_ready_results(astronaut, test_blocks):
    workflow = Workflow.compile(crops_then_detect("parent"), blocks=test_blocks)
    results = workflow.run(image=astronaut, serialize=True)
    text = json.dumps(results)
    faces = json.loads(text)[0]["faces"][0]["predictions"][0]
    assert (faces["x"], faces["y"], faces["width"], faces["height"]) == (135.0, 105.0, 50.0, 70.0)
    assert faces["class"] == "face"


def test_bytes_and_times_become_text():
    # an image stack's JPEG frames are bytes; current_time and frame metadata give datetimes
    stamp = datetime.datetime(2026, 12, 7, 11, 30, 5, 120000, tzinfo=datetime.UTC)
    serialized = serialize({"frames": [b"\xff\xd8\xff"], "at": stamp, "day": stamp.date()})
    assert serialized == {
        "frames": ["/9j/"],
        "at": "2026-12-07T11:30:05.120000+00:00",
        "day": "2026-12-07",
    }
    assert json.loads(json.dumps(serialized)) == serialized


def test_tracked_detections_with_analytics_read_back_to_the_same_json():
    # a tracker's ids and what the video analytics add (time in zone, velocity) are in the
    # JSON; given back as an input they are read, so the JSON written again is the same
    from visionflow.serialization import deserialize_detections

    tracked = sv.Detections(
        xyxy=np.array([[1.0, 2, 11, 22], [5, 5, 9, 9]]),
        confidence=np.array([0.9, 0.8]),
        class_id=np.array([0, 1]),
        tracker_id=np.array([3, 4]),
        data={
            "class_name": np.array(["car", "person"]),
            "time_in_zone": np.array([0.0, 1.5]),
            "velocity": np.array([[1.0, 2.0], [0.0, 0.0]]),
            "speed": np.array([2.25, 0.0]),
        },
    )
    sent = json.loads(json.dumps(serialize(tracked)))
    assert [p["tracker_id"] for p in sent["predictions"]] == [3, 4]
    assert [p["velocity"] for p in sent["predictions"]] == [[1.0, 2.0], [0.0, 0.0]]
    back = deserialize_detections(sent, "dets")
    assert serialize(back) == sent
    assert back.data["velocity"].tolist() == [[1.0, 2.0], [0.0, 0.0]]
    assert back[np.array([False, True])].data["time_in_zone"].tolist() == [1.5]
    odd = json.loads(json.dumps(sent))  # not numbers on every detection: kept as given
    odd["predictions"][0]["velocity"], odd["predictions"][1]["velocity"] = "fast", [1]
    assert serialize(deserialize_detections(odd, "dets")) == odd


def test_a_mask_outline_with_sub_pixel_corners_is_filled_from_its_rounded_corners():
    # Roboflow's engine reads an outline with supervision's from_inference, which rounds
    # each corner to a whole pixel before filling; truncating would fill (1, 1)-(4, 4)
    from visionflow.serialization import deserialize_detections

    corners = [(1.6, 1.6), (4.4, 1.6), (4.4, 4.4), (1.6, 4.4)]
    sent = {
        "image": {"width": 8, "height": 8},
        "predictions": [
            {"x": 3.0, "y": 3.0, "width": 2.8, "height": 2.8, "confidence": 0.9,
             "class": "square", "class_id": 0, "points": [{"x": x, "y": y} for x, y in corners]}
        ],
    }  # fmt: skip
    mask = deserialize_detections(sent, "dets").mask[0]
    expected = np.zeros((8, 8), dtype=bool)
    expected[2:5, 2:5] = True  # rows and columns 2..4: the square (2, 2)-(4, 4), edges in
    assert np.array_equal(mask, expected)
