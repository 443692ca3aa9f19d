"""The example workflows with real models on real images give the answers they promise."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from visionflow import Workflow, serialize

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def page() -> np.ndarray:
    return cv2.cvtColor(data.page(), cv2.COLOR_GRAY2BGR)


def run_example(name: str, image: np.ndarray) -> dict:
    return Workflow.compile(EXAMPLES / name).run(image=image)[0]


def test_ocr_reads_the_scanned_page_line_by_line(page):
    result = run_example("ocr_page.yaml", page)
    assert result["lines"][:6] == [
        "Region-based segmentation",
        "Let us first determine markers of the coins and the",
        "background. These markers are pixels that we can label",
        "unambiguously as either object or background. Here,",
        "the markers are found at the two extreme parts of the",
        "histogram of grey values:",
    ]
    assert min(result["confidence"]) > 0.9
    assert len(result["text_regions"]) == len(result["lines"])


def test_face_detection_crop_and_emotion_on_astronaut(astronaut):
    result = run_example("face_emotion.yaml", astronaut)
    faces = result["faces"]
    assert len(faces) == 1
    x1, y1, x2, y2 = faces.xyxy[0]
    assert abs((x1 + x2) / 2 - 225) < 15 and abs((y1 + y2) / 2 - 127) < 15
    assert list(faces.data["class_name"]) == ["happy"]
    assert result["emotions"][0]["top"] == "happy"
    assert result["annotated"].numpy.shape == astronaut.shape


def test_pose_landmarks_in_the_image_coordinates(astronaut):
    result = run_example("person_pose.yaml", astronaut)
    poses = result["poses"]
    assert len(poses) == 1
    names = list(poses.data["keypoints_class_name"][0])
    points = poses.data["keypoints_xy"][0]
    nose = points[names.index("nose")]
    left, right = points[names.index("left_shoulder")], points[names.index("right_shoulder")]
    assert 179 <= nose[0] <= 272 and 81 <= nose[1] <= 174  # inside the face box
    assert left[1] > nose[1] and right[1] > nose[1]  # shoulders below the nose
    assert right[0] < nose[0] < left[0]  # the person's right is on the picture's left


def test_emotion_ensemble_merges_two_label_orders(astronaut):
    result = run_example("emotion_ensemble.yaml", astronaut)
    fer, facex, consensus = result["fer"][0], result["facex"][0], result["consensus"][0]
    assert fer["top"] == facex["top"] == consensus["top"] == "happy"
    by_class = {p["class"]: p["confidence"] for p in consensus["predictions"]}
    fer_happy = {p["class"]: p["confidence"] for p in fer["predictions"]}["happy"]
    facex_happy = {p["class"]: p["confidence"] for p in facex["predictions"]}["happy"]
    assert by_class["happy"] == pytest.approx((fer_happy + facex_happy) / 2)
    assert consensus["sources"] == 2


def test_model_results_serialise_to_json(astronaut):
    result = serialize(run_example("face_emotion.yaml", astronaut))
    prediction = result["faces"]["predictions"][0]
    assert prediction["class"] == "happy"
    assert len(prediction["keypoints"]) == 6
    assert result["annotated"]["type"] == "base64"
