"""MediaPipe's palm detector and hand landmark model from the zoo, through workflows.

No picture shipped with scikit-image shows a bare hand big enough to find (the astronaut's
hand is hidden, the cameraman wears gloves), so the hand here is drawn: a flat open hand,
fingers up, thumb on the picture's left. Both models take it for a hand, and its drawn
fingertips are the ground truth the landmarks are checked against. Real pictures
(coffee, rocket, astronaut) check that nothing is found where no hand is.
"""

from __future__ import annotations

import importlib.util

import cv2
import numpy as np
import pytest
from skimage import data

from visionflow import Workflow
from visionflow.data.image import WorkflowImage
from visionflow.errors import ModelFormatError
from visionflow.models.heads.mediapipe_anchors import AnchorOptions, ssd_anchors
from visionflow.models.model import Model
from visionflow.models.spec import ModelSpec
from visionflow.models.zoo import find_entry, model_file

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mediapipe") is None
    or importlib.util.find_spec("ai_edge_litert") is None,
    reason="the models ship in mediapipe==0.10.21 and run on ai-edge-litert",
)

SKIN, BACKGROUND = (140, 175, 230), (40, 40, 40)  # BGR
# The drawn hand, on a 400x400 canvas: finger bases and tips (index to pinky), thumb tip.
FINGERS = [((148, 175), (150, 70)), ((185, 160), (180, 55)), ((222, 165), (215, 60)),
           ((258, 180), (255, 95))]  # fmt: skip
THUMB_BASE, THUMB_TIP = (135, 270), (80, 200)
TIPS = {
    "thumb_tip": THUMB_TIP,
    "index_finger_tip": FINGERS[0][1],
    "middle_finger_tip": FINGERS[1][1],
    "ring_finger_tip": FINGERS[2][1],
    "pinky_tip": FINGERS[3][1],
}
HAND_NAMES = [  # MediaPipe's names, in the model's order
    "wrist",
    *("thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip"),
    *("index_finger_mcp", "index_finger_pip", "index_finger_dip", "index_finger_tip"),
    *("middle_finger_mcp", "middle_finger_pip", "middle_finger_dip", "middle_finger_tip"),
    *("ring_finger_mcp", "ring_finger_pip", "ring_finger_dip", "ring_finger_tip"),
    *("pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip"),
]
MODEL = "mediapipe/hand_landmarks"
PALM_NAMES = [
    "wrist",
    "index_finger_mcp",
    "middle_finger_mcp",
    "ring_finger_mcp",
    "pinky_mcp",
    "thumb_cmc",
    "thumb_mcp",
]


def drawn_hand() -> np.ndarray:
    """The open hand filling a 400x400 BGR picture (palm centre near 200, 250)."""
    image = np.zeros((400, 400, 3), np.uint8)
    image[:] = BACKGROUND
    cv2.ellipse(image, (200, 250), (75, 85), 0, 0, 360, SKIN, -1)  # palm
    cv2.rectangle(image, (160, 300), (240, 390), SKIN, -1)  # wrist
    for base, tip in [*FINGERS, (THUMB_BASE, THUMB_TIP)]:
        cv2.line(image, base, tip, SKIN, 32)
        cv2.circle(image, tip, 16, SKIN, -1)
    crease = tuple(int(value * 0.8) for value in SKIN)
    for (x0, y0), (x1, y1) in FINGERS:  # two knuckle creases per finger
        for t in (0.35, 0.65):
            x, y = int(x0 + (x1 - x0) * t), int(y0 + (y1 - y0) * t)
            cv2.line(image, (x - 12, y), (x + 12, y), crease, 2)
    return cv2.GaussianBlur(image, (0, 0), 2)


def small_hand() -> np.ndarray:
    """The hand at 0.6 scale in the middle of the canvas: a palm the detector finds."""
    image = np.zeros((400, 400, 3), np.uint8)
    image[:] = BACKGROUND
    image[80:320, 80:320] = cv2.resize(drawn_hand(), (240, 240), interpolation=cv2.INTER_AREA)
    return image


def one_model(step: str, model: str, confidence: float | None = None) -> dict:
    options = {} if confidence is None else {"confidence": confidence}
    return {
        "version": "1.0",
        "inputs": [{"type": "image", "name": "image"}],
        "steps": [
            {"type": step, "name": "found", "images": "$inputs.image", "model": model, **options}
        ],
        "outputs": [{"type": "JsonField", "name": "found", "selector": "$steps.found.predictions"}],
    }


def hands_workflow() -> dict:
    """Palms -> each box grown 3.5 times (it frames the fingers) -> crop -> landmarks."""
    return {
        "version": "1.0",
        "inputs": [{"type": "image", "name": "image"}],
        "steps": [
            {
                "type": "ObjectDetectionModel",
                "name": "palms",
                "images": "$inputs.image",
                "model": "mediapipe/palm_detection",
            },
            {
                "type": "DetectionOffset",
                "name": "framed",
                "predictions": "$steps.palms.predictions",
                "offset_width": 250,
                "offset_height": 250,
                "units": "Percent (%)",
            },
            {
                "type": "DynamicCrop",
                "name": "crops",
                "images": "$inputs.image",
                "predictions": "$steps.framed.predictions",
            },
            {
                "type": "KeypointDetectionModel",
                "name": "hands",
                "images": "$steps.crops.crops",
                "model": "mediapipe/hand_landmarks",
            },
            {
                "type": "DetectionsStitch",
                "name": "stitched",
                "images": "$inputs.image",
                "predictions": "$steps.hands.predictions",
            },
        ],
        "outputs": [
            {"type": "JsonField", "name": name, "selector": f"$steps.{name}.predictions"}
            for name in ("palms", "stitched")
        ],
    }


def run(workflow: dict, image: np.ndarray):
    return Workflow.compile(workflow).run(image=np.ascontiguousarray(image))[0]


def points_of(detections, position: int = 0) -> dict[str, np.ndarray]:
    names = detections.data["keypoints_class_name"][position].tolist()
    return dict(
        zip(names, detections.data["keypoints_xy"][position].astype(np.float64), strict=True)
    )


def bgr(picture: str) -> np.ndarray:
    return np.ascontiguousarray(getattr(data, picture)()[:, :, ::-1])


# --- palm detection -------------------------------------------------------------------------


def test_palm_anchors_match_the_models_outputs():
    anchors = ssd_anchors(AnchorOptions(192, 192, strides=(8, 16, 16, 16)))
    # A 24x24 map with 2 anchors per cell, then a 12x12 map with 6: 2016 boxes, as the
    # models' (1, 2016, 18) regressors (4 box values + 7 keypoints x 2) hold.
    assert len(anchors) == 2016
    first = [[1 / 48, 1 / 48, 1, 1]] * 2 + [[3 / 48, 1 / 48, 1, 1]]
    np.testing.assert_allclose(anchors[:3], first, rtol=1e-6)
    coarse = [[1 / 24, 1 / 24]] * 6 + [[3 / 24, 1 / 24]]
    np.testing.assert_allclose(anchors[1152:1159, :2], coarse, rtol=1e-6)
    for name in ("mediapipe/palm_detection", "mediapipe/palm_detection_lite"):
        entry = find_entry(name)
        spec = ModelSpec(id=entry.id, source=entry.id, **entry.description)
        model = Model(spec, model_file(entry))  # the head checks anchors x keypoints
        try:
            assert model.predict([WorkflowImage(bgr("coffee"))], {})[0].xyxy.shape == (0, 4)
        finally:
            model.close()


@pytest.mark.parametrize("model", ["mediapipe/palm_detection", "mediapipe/palm_detection_lite"])
def test_the_palm_of_the_drawn_hand(model):
    palms = run(one_model("ObjectDetectionModel", model), small_hand())["found"]
    assert len(palms) == 1
    assert palms.data["class_name"].tolist() == ["palm"]
    assert palms.confidence[0] > 0.75  # found: full 0.97, lite 0.96
    # The palm of the 0.6-scale hand: its ellipse spans x 155..245, y 179..281.
    x_min, y_min, x_max, y_max = palms.xyxy[0]
    assert abs((x_min + x_max) / 2 - 200) < 12 and abs((y_min + y_max) / 2 - 233) < 15
    assert 55 < x_max - x_min < 100
    assert palms.data["keypoints_class_name"][0].tolist() == PALM_NAMES
    points = points_of(palms)
    knuckles = [points[name] for name in PALM_NAMES[1:5]]
    # Fingers up: the wrist below the knuckles, which run left to right from the index, as
    # the drawn fingers do; the thumb joints on the picture's left.
    assert all(points["wrist"][1] > knuckle[1] + 40 for knuckle in knuckles)
    assert [k[0] for k in knuckles] == sorted(k[0] for k in knuckles)
    assert points["thumb_mcp"][0] < points["thumb_cmc"][0] < points["wrist"][0]
    assert palms.data["keypoints_confidence"][0].tolist() == [palms.confidence[0]] * 7


@pytest.mark.parametrize("picture", ["coffee", "rocket", "astronaut"])
def test_no_palm_without_a_visible_hand(picture):
    palms = run(one_model("ObjectDetectionModel", "mediapipe/palm_detection"), bgr(picture))
    assert len(palms["found"]) == 0


# --- hand landmarks -------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["mediapipe/hand_landmarks", "mediapipe/hand_landmarks_lite"])
def test_the_landmarks_of_the_drawn_hand(model):
    hands = run(one_model("KeypointDetectionModel", model), drawn_hand())["found"]
    assert len(hands) == 1
    assert hands.data["keypoints_class_name"][0].tolist() == HAND_NAMES
    presence = float(hands.confidence[0])
    assert presence > 0.85  # found: full 0.91, lite 0.98
    assert hands.data["keypoints_confidence"][0].tolist() == [pytest.approx(presence)] * 21
    points = points_of(hands)
    for name, tip in TIPS.items():  # every fingertip on the drawn one (found: within 7 px)
        assert np.hypot(*(points[name] - tip)) < 12, name
    assert 290 < points["wrist"][1] < 340 and 170 < points["wrist"][0] < 230
    x_min, y_min, x_max, y_max = hands.xyxy[0]  # the box spans the landmarks
    assert (x_min, y_min) == tuple(np.min(list(points.values()), axis=0).astype(np.float32))
    assert (x_max, y_max) == tuple(np.max(list(points.values()), axis=0).astype(np.float32))


def test_handedness_turns_with_the_picture():
    workflow = one_model("KeypointDetectionModel", "mediapipe/hand_landmarks")
    hand = run(workflow, drawn_hand())["found"]
    mirrored = run(workflow, drawn_hand()[:, ::-1])["found"]
    # The flat drawing reads as the back of a left hand; mirrored, it is a right hand.
    assert hand.data["class_name"].tolist() == ["left"] and hand.class_id.tolist() == [0]
    assert mirrored.data["class_name"].tolist() == ["right"]
    assert mirrored.class_id.tolist() == [1]
    assert hand.data["handedness_confidence"][0] > 0.8
    assert mirrored.data["handedness_confidence"][0] > 0.8
    # The landmarks follow the mirror: x -> 399 - x (found: within 5 px).
    for name, (x, y) in points_of(hand).items():
        mx, my = points_of(mirrored)[name]
        assert abs(mx - (399 - x)) < 10 and abs(my - y) < 10, name


def test_mirrored_pictures_keep_mediapipes_labels():
    entry = find_entry("mediapipe/hand_landmarks")
    description = dict(entry.description)
    description["postprocessing"] = {**description["postprocessing"], "mirrored": True}
    model = Model(ModelSpec(id=entry.id, source=entry.id, **description), model_file(entry))
    try:
        [as_selfie] = model.predict([WorkflowImage(drawn_hand())], {})
    finally:
        model.close()
    as_photo = run(one_model("KeypointDetectionModel", entry.id), drawn_hand())["found"]
    assert as_selfie.data["class_name"].tolist() == ["right"]
    assert as_selfie.data["handedness_confidence"] == pytest.approx(
        as_photo.data["handedness_confidence"]
    )
    assert as_selfie.data["keypoints_xy"].tolist() == as_photo.data["keypoints_xy"].tolist()


@pytest.mark.parametrize("picture", ["coffee", "rocket"])
def test_no_hand_landmarks_without_a_hand(picture):
    hands = run(one_model("KeypointDetectionModel", MODEL), bgr(picture))["found"]
    assert len(hands) == 0
    assert hands.data["keypoints_xy"].shape == (0, 21, 2)
    assert hands.data["handedness_confidence"].shape == (0,)  # merges with found hands
    # With no threshold the model still answers, with a low presence (found: 0.002, 0.0002).
    unsure = run(one_model("KeypointDetectionModel", MODEL, confidence=0.0), bgr(picture))
    assert len(unsure["found"]) == 1 and unsure["found"].confidence[0] < 0.05


# --- palm -> crop -> landmarks --------------------------------------------------------------


def test_palm_crop_landmarks_workflow():
    result = run(hands_workflow(), small_hand())
    assert len(result["palms"]) == 1
    hands = result["stitched"]
    assert len(hands) == 1 and hands.confidence[0] > 0.9
    points = points_of(hands)  # in the whole picture's pixels, through the crop
    for name, (x, y) in TIPS.items():  # the drawn tips at 0.6 scale, shifted by 80
        assert np.hypot(points[name][0] - (80 + 0.6 * x), points[name][1] - (80 + 0.6 * y)) < 10


def test_a_model_with_other_outputs_is_refused():
    palm = find_entry("mediapipe/palm_detection")
    hand = find_entry("mediapipe/hand_landmarks")
    spec = ModelSpec(id="not/hands", source="not/hands", **hand.description)
    with pytest.raises(ModelFormatError) as caught:
        Model(spec, model_file(palm))  # the palm detector's file under the hand's format
    assert caught.value.code == "model_format_mismatch"
    assert "(1, 2016, 18)" in str(caught.value)
