"""MediaPipe's face detector, pose detector and pose landmark model from the zoo, on real
pictures (scikit-image's astronaut, coffee), plus the SSD decoding they share."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from visionflow.blocks.core.regions import PersonRegionCrop
from visionflow.data.image import WorkflowImage
from visionflow.models.heads.mediapipe_anchors import AnchorOptions, ssd_anchors, weighted_nms
from visionflow.models.model import Model
from visionflow.models.spec import ModelSpec
from visionflow.models.zoo import find_entry, model_file
from visionflow.serialization import serialize

needs_models = pytest.mark.skipif(
    importlib.util.find_spec("mediapipe") is None
    or importlib.util.find_spec("ai_edge_litert") is None,
    reason="the models ship in mediapipe==0.10.21 and run on ai-edge-litert",
)


def zoo_model(name: str) -> Model:
    entry = find_entry(name)
    return Model(ModelSpec(id=entry.id, source=entry.id, **entry.description), model_file(entry))


@pytest.fixture(scope="module")
def face_model():
    model = zoo_model("mediapipe/face_detection_short_range")
    yield model
    model.close()


@pytest.fixture(scope="module")
def pose_model():
    model = zoo_model("mediapipe/pose_detection")
    yield model
    model.close()


@pytest.fixture(scope="module")
def landmark_model():
    model = zoo_model("mediapipe/pose_landmarks_full")
    yield model
    model.close()


def point(detections, name: str, position: int = 0) -> np.ndarray:
    names = list(detections.data["keypoints_class_name"][position])
    return detections.data["keypoints_xy"][position][names.index(name)]


# --- SSD decoding --------------------------------------------------------------------------


def test_anchors_match_the_models_outputs():
    face = ssd_anchors(AnchorOptions(128, 128, strides=(8, 16, 16, 16)))
    pose = ssd_anchors(AnchorOptions(224, 224, strides=(8, 16, 32, 32, 32)))
    assert (len(face), len(pose)) == (896, 2254)
    # Stride 8: a 16x16 map with 2 anchors per cell; then the stride 16 layers share an
    # 8x8 map, 6 anchors per cell. Fixed anchor size: every anchor is 1 x 1.
    assert face[:3].tolist() == [
        [1 / 32, 1 / 32, 1, 1],
        [1 / 32, 1 / 32, 1, 1],
        [3 / 32, 1 / 32, 1, 1],
    ]
    assert face[512:519, :2].tolist() == [[1 / 16, 1 / 16]] * 6 + [[3 / 16, 1 / 16]]


def test_weighted_nms_merges_overlapping_detections_by_score():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], dtype=np.float32)
    keypoints = np.array([[[5, 5]], [[8, 5]], [[55, 55]]], dtype=np.float32)
    scores = np.array([0.75, 0.25, 0.5], dtype=np.float32)
    kept_boxes, kept_points, kept_scores = weighted_nms(boxes, keypoints, scores, 0.3)
    assert kept_boxes.tolist() == [[0.25, 0, 10.25, 10], [50, 50, 60, 60]]
    assert kept_points.tolist() == [[[5.75, 5]], [[55, 55]]]
    assert kept_scores.tolist() == [0.75, 0.5]


# --- the face detector ---------------------------------------------------------------------


@needs_models
def test_one_face_on_the_astronaut(face_model, astronaut):
    [faces] = face_model.predict([WorkflowImage(astronaut)], {})
    assert len(faces) == 1
    assert faces.data["class_name"].tolist() == ["face"]
    assert faces.confidence[0] > 0.8
    x_min, y_min, x_max, y_max = faces.xyxy[0]  # found: 179, 81, 272, 174
    assert abs((x_min + x_max) / 2 - 225) < 20 and abs((y_min + y_max) / 2 - 128) < 20
    assert 70 < x_max - x_min < 120


@needs_models
def test_face_keypoints_sit_on_the_face(face_model, astronaut):
    [faces] = face_model.predict([WorkflowImage(astronaut)], {})
    assert faces.data["keypoints_class_name"][0].tolist() == [
        "right_eye",
        "left_eye",
        "nose_tip",
        "mouth_center",
        "right_ear_tragion",
        "left_ear_tragion",
    ]
    x_min, y_min, x_max, y_max = faces.xyxy[0]
    right_eye, left_eye = point(faces, "right_eye"), point(faces, "left_eye")
    for x, y in (right_eye, left_eye):
        assert x_min < x < x_max and y_min < y < y_max
    # Facing the camera, the person's right eye is on the picture's left.
    assert right_eye[0] < point(faces, "nose_tip")[0] < left_eye[0]
    assert point(faces, "mouth_center")[1] > point(faces, "nose_tip")[1] > right_eye[1]
    # A detector's keypoints share its score.
    assert faces.data["keypoints_confidence"][0].tolist() == [faces.confidence[0]] * 6
    # each point's class id: its index in the model's list, as Roboflow's keypoint models
    written = serialize(faces)["predictions"][0]["keypoints"]
    assert [(p["class_id"], p["class"]) for p in written][:3] == [
        (0, "right_eye"),
        (1, "left_eye"),
        (2, "nose_tip"),
    ]


@needs_models
@pytest.mark.parametrize("picture", ["coffee", "grey"])
def test_no_face_without_a_person(face_model, coffee, picture):
    pixels = coffee if picture == "coffee" else np.full((300, 400, 3), 128, np.uint8)
    [faces] = face_model.predict([WorkflowImage(pixels)], {})
    assert len(faces) == 0
    assert faces.data["keypoints_xy"].shape == (0, 6, 2)


@needs_models
def test_a_batch_gives_one_result_per_image(face_model, astronaut, coffee):
    results = face_model.predict([WorkflowImage(astronaut), WorkflowImage(coffee)], {})
    assert [len(faces) for faces in results] == [1, 0]


@needs_models
def test_options_override_the_thresholds(face_model, astronaut):
    image = WorkflowImage(astronaut)
    assert len(face_model.predict([image], {"confidence": 0.99})[0]) == 0
    assert len(face_model.predict([image], {"confidence": None, "iou": 0.3})[0]) == 1
    assert len(face_model.predict([image], {"max_detections": 0})[0]) == 0
    assert len(face_model.predict([image], {"class_filter": ["person"]})[0]) == 0
    assert len(face_model.predict([image], {"class_filter": ["face"]})[0]) == 1


@needs_models
@pytest.mark.parametrize("left, top, right, bottom", [(0, 0, 512, 300), (100, 0, 400, 512)])
def test_boxes_map_back_through_the_letterbox(face_model, astronaut, left, top, right, bottom):
    # A part of the picture (letterboxed top and bottom, or left and right) shows the face
    # where the whole picture does, shifted by the part's corner.
    [whole] = face_model.predict([WorkflowImage(astronaut)], {})
    part = WorkflowImage(np.ascontiguousarray(astronaut[top:bottom, left:right]))
    [found] = face_model.predict([part], {})
    assert np.abs(found.xyxy[0] + [left, top, left, top] - whole.xyxy[0]).max() < 8
    shift = np.array([left, top])
    assert np.abs(found.data["keypoints_xy"][0] + shift - whole.data["keypoints_xy"][0]).max() < 8


# --- the pose detector, the person's region and its landmarks ------------------------------


@needs_models
def test_one_person_on_the_astronaut(pose_model, astronaut):
    [people] = pose_model.predict([WorkflowImage(astronaut)], {})
    assert len(people) == 1
    assert people.data["class_name"].tolist() == ["person"]
    x_min, y_min, x_max, y_max = people.xyxy[0]  # found: 160, 134, 262, 236
    assert 60 < x_min < x_max < 370 and 60 < y_min < y_max < 512  # on her upper body
    assert people.data["keypoints_class_name"][0].tolist() == [
        "hip_center",
        "full_body_scale_point",
        "shoulder_center",
        "upper_body_scale_point",
    ]
    # Hips at the bottom edge (found y 527), shoulders below the face (found y 241).
    assert point(people, "hip_center")[1] > 450
    assert 180 < point(people, "shoulder_center")[1] < 320


@needs_models
def test_person_region_is_a_square_around_the_hips(pose_model, astronaut):
    image = WorkflowImage(astronaut)
    [people] = pose_model.predict([image], {})
    [crop] = [item["crops"] for item in PersonRegionCrop().run(images=image, predictions=people)]
    hips, scale_point = point(people, "hip_center"), point(people, "full_body_scale_point")
    side = 2 * np.linalg.norm(hips - scale_point) * 1.25
    assert abs(crop.width - side) <= 1 and abs(crop.height - side) <= 1
    centre = (crop.origin.offset_x + crop.width / 2, crop.origin.offset_y + crop.height / 2)
    assert np.abs(np.array(centre) - hips).max() <= 1
    assert crop.image_id == people.data["detection_id"][0]
    # Beyond the picture is black; inside are the picture's pixels.
    assert crop.origin.offset_x < 0 and not crop.numpy[:, : -crop.origin.offset_x].any()
    x, y = -crop.origin.offset_x, -crop.origin.offset_y
    assert np.array_equal(crop.numpy[y : y + 10, x : x + 10], astronaut[:10, :10])


@needs_models
def test_person_region_can_be_clipped_to_the_picture(pose_model, astronaut):
    image = WorkflowImage(astronaut)
    [people] = pose_model.predict([image], {})
    [item] = PersonRegionCrop().run(images=image, predictions=people, outside="clip")
    assert (item["crops"].origin.offset_x, item["crops"].origin.offset_y) == (0, 0)
    assert (item["crops"].width, item["crops"].height) == (512, 512)


def test_person_region_without_keypoints_squares_the_box(astronaut):
    import supervision as sv

    boxes = sv.Detections(xyxy=np.array([[100.0, 50.0, 140.0, 150.0]]))
    [item] = PersonRegionCrop().run(images=WorkflowImage(astronaut), predictions=boxes, scale=1.0)
    crop = item["crops"]
    assert (crop.origin.offset_x, crop.origin.offset_y, crop.width, crop.height) == (
        70,
        50,
        100,
        100,
    )


@needs_models
def test_pose_landmarks_on_the_persons_region(face_model, pose_model, landmark_model, astronaut):
    image = WorkflowImage(astronaut)
    [people] = pose_model.predict([image], {})
    [item] = PersonRegionCrop().run(images=image, predictions=people)
    crop = item["crops"]
    [pose] = landmark_model.predict([crop], {})
    assert len(pose) == 1 and pose.confidence[0] > 0.5
    names = pose.data["keypoints_class_name"][0].tolist()
    assert len(names) == 33 and names[0] == "nose" and names[-1] == "right_foot_index"
    assert pose.data["keypoints_xy"].shape == (1, 33, 2)
    offset = np.array([crop.origin.offset_x, crop.origin.offset_y])
    nose = point(pose, "nose") + offset
    left, right = point(pose, "left_shoulder") + offset, point(pose, "right_shoulder") + offset
    [faces] = face_model.predict([image], {})
    x_min, y_min, x_max, y_max = faces.xyxy[0]
    assert x_min < nose[0] < x_max and y_min < nose[1] < y_max  # found: 221, 127
    assert left[1] > nose[1] + 50 and right[1] > nose[1] + 50  # found: y 223 and 200
    assert right[0] < nose[0] < left[0]  # her right shoulder is on the picture's left
    visibility = dict(zip(names, pose.data["keypoints_confidence"][0], strict=True))
    assert visibility["nose"] > 0.9 and visibility["left_shoulder"] > 0.9
    # The box bounds the landmarks, in the crop's pixels.
    points = pose.data["keypoints_xy"][0]
    assert np.allclose(pose.xyxy[0], [*points.min(axis=0), *points.max(axis=0)], atol=1e-3)
    assert pose.data["parent_id"][0] == crop.image_id
    assert pose.data["root_parent_offset"][0].tolist() == offset.tolist()


@needs_models
def test_no_pose_landmarks_below_the_presence_threshold(landmark_model, astronaut):
    [pose] = landmark_model.predict([WorkflowImage(astronaut)], {"confidence": 1.01})
    assert len(pose) == 0
    assert pose.data["keypoints_xy"].shape == (0, 33, 2)
