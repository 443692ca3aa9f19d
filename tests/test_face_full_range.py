"""MediaPipe's full-range face detector from the zoo, run through workflows on real pictures.

Expected boxes, keypoints and scores are what MediaPipe 0.10.21 itself gives
(``mediapipe.solutions.face_detection.FaceDetection(model_selection=1)``, run once by hand
on the same pictures): our decoding and MediaPipe's warp sampling reproduce them.
"""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from visionflow import Workflow
from visionflow.cli import app
from visionflow.models.heads.mediapipe_anchors import AnchorOptions, ssd_anchors
from visionflow.models.heads.preprocess import ImageTransform
from visionflow.models.runtime import TensorInfo

needs_models = pytest.mark.skipif(
    importlib.util.find_spec("mediapipe") is None
    or importlib.util.find_spec("ai_edge_litert") is None,
    reason="the model ships in mediapipe==0.10.21 and runs on ai-edge-litert",
)

FACES = """
inputs:
  - {type: image, name: image}
models:
  faces: {source: mediapipe/face_detection_full_range}
steps:
  - {type: ObjectDetectionModel, name: detect, images: $inputs.image, model: faces}
outputs:
  - {type: JsonField, name: faces, selector: $steps.detect.predictions}
"""

KEYPOINTS = [
    "right_eye",
    "left_eye",
    "nose_tip",
    "mouth_center",
    "right_ear_tragion",
    "left_ear_tragion",
]


@pytest.fixture(scope="module")
def workflow():
    return Workflow.compile(FACES)


@pytest.fixture(scope="module")
def grid(astronaut) -> np.ndarray:
    """Four astronauts, 1024 x 1024: faces of about 100 pixels in a 192 pixel input."""
    return np.ascontiguousarray(np.tile(astronaut, (2, 2, 1)))


def faces_on(workflow, pixels: np.ndarray):
    return workflow.run(image=pixels)[0]["faces"]


def test_anchors_fill_one_48_by_48_map():
    anchors = ssd_anchors(
        AnchorOptions(192, 192, strides=(4,), interpolated_scale_aspect_ratio=0.0)
    )
    assert anchors.shape == (2304, 4)  # the graph's num_boxes
    # One anchor per cell of stride 4, row by row; fixed anchor size: every anchor is 1 x 1.
    expected = np.array([[1 / 96, 1 / 96, 1, 1], [3 / 96, 1 / 96, 1, 1]], np.float32)
    assert np.array_equal(anchors[:2], expected)
    assert np.array_equal(anchors[48], np.array([1 / 96, 3 / 96, 1, 1], np.float32))


def test_warp_sampling_places_the_image_like_mediapipe():
    tensor = TensorInfo(name="input", shape=(1, 192, 192, 3), dtype="float32")
    warp = ImageTransform.for_input(
        tensor, {"resize": "letterbox", "resampler": "warp", "pad_value": 0}
    )
    pixels = np.full((100, 300, 3), 255, np.uint8)
    image, placement = warp(pixels)
    # Scale 192 / 300 = 0.64; 64 rows of image centred with an exact offset of 64.
    assert (placement.scale_x, placement.scale_y, placement.offset_x, placement.offset_y) == (
        0.64,
        0.64,
        0.0,
        64.0,
    )
    assert image[:64].max() == 0 and image[64:128].min() == 1.0 and image[128:].max() == 0


@needs_models
def test_four_faces_on_four_astronauts(workflow, grid):
    faces = faces_on(workflow, grid)
    expected = {  # by quadrant (column, row): MediaPipe's box and score
        (0, 0): ([180.3, 73.0, 283.2, 176.0], 0.6706),
        (1, 0): ([691.1, 75.3, 795.0, 179.3], 0.7932),
        (0, 1): ([179.3, 588.2, 278.4, 687.3], 0.7852),
        (1, 1): ([688.2, 582.2, 788.7, 682.6], 0.7545),
    }
    assert len(faces) == 4
    found = {}
    for box, score in zip(faces.xyxy, faces.confidence, strict=True):
        quadrant = (int(box[0] // 512), int(box[1] // 512))
        assert (int(box[2] // 512), int(box[3] // 512)) == quadrant  # inside one quadrant
        found[quadrant] = (box, score)
    assert set(found) == set(expected)
    for quadrant, (box, score) in found.items():
        want_box, want_score = expected[quadrant]
        assert np.allclose(box, want_box, atol=0.2), quadrant
        assert score == pytest.approx(want_score, abs=1e-3), quadrant
        # The same face as on the single astronaut, shifted into its quadrant.
        column, row = quadrant
        assert np.allclose(box - [512 * column, 512 * row] * 2, [174, 69, 278, 172], atol=12)


@needs_models
def test_one_face_with_six_keypoints_on_the_astronaut(workflow, astronaut):
    faces = faces_on(workflow, astronaut)
    assert len(faces) == 1
    assert np.allclose(faces.xyxy[0], [173.7, 67.8, 277.6, 171.7], atol=0.2)
    assert faces.confidence[0] == pytest.approx(0.9121, abs=1e-3)
    assert faces.data["class_name"].tolist() == ["face"]
    assert faces.data["keypoints_class_name"][0].tolist() == KEYPOINTS
    mediapipe_points = [
        [202.8, 103.5],
        [248.0, 105.9],
        [224.0, 132.3],
        [222.6, 148.5],
        [178.6, 107.5],
        [271.4, 112.3],
    ]
    assert np.allclose(faces.data["keypoints_xy"][0], mediapipe_points, atol=0.2)
    assert faces.data["keypoints_confidence"][0].tolist() == [faces.confidence[0]] * 6


@needs_models
def test_no_face_on_coffee_or_a_rocket(workflow, coffee):
    from skimage import data

    rocket = np.ascontiguousarray(data.rocket()[:, :, ::-1])
    assert len(faces_on(workflow, coffee)) == 0
    assert len(faces_on(workflow, rocket)) == 0


@needs_models
def test_the_short_range_model_misses_the_small_faces(grid):
    # Why the full-range model exists: faces of 100 pixels in 1024 are too small for it.
    short = Workflow.compile(FACES.replace("full_range", "short_range"))
    assert len(faces_on(short, grid)) == 0


def test_the_cli_lists_it():
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    listing = {model["id"]: model for model in json.loads(result.stdout)}
    entry = listing["mediapipe/face_detection_full_range"]
    assert entry["file"].endswith("face_detection_full_range_sparse.tflite")
