"""MediaPipe's face landmark (468-point mesh) and iris landmark models from the zoo, through
workflows on a real picture (scikit-image's astronaut): face detector -> the detector's box
grown 1.5 times (as MediaPipe frames it) -> crop -> mesh, and eye crops -> irises."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from skimage import data

from visionflow import Workflow
from visionflow.errors import ModelFormatError
from visionflow.models.model import Model
from visionflow.models.spec import ModelSpec
from visionflow.models.zoo import find_entry, model_file

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mediapipe") is None,
    reason="the models ship in mediapipe==0.10.21 and run on ai-edge-litert",
)

MESH = "mediapipe/face_landmarks"
# MediaPipe's mesh indices: nose tip, forehead top, chin, mouth corners, and the eye corners
# (outer, inner) of the eye on the image's left, then (inner, outer) of the one on its right.
NOSE_TIP, FOREHEAD, CHIN, MOUTH_LEFT, MOUTH_RIGHT = 1, 10, 152, 61, 291
EYE_ON_LEFT, EYE_ON_RIGHT = (33, 133), (362, 263)


def mesh_workflow() -> dict:
    return {
        "version": "1.0",
        "inputs": [{"type": "image", "name": "image"}],
        "steps": [
            {
                "type": "ObjectDetectionModel",
                "name": "faces",
                "images": "$inputs.image",
                "model": "mediapipe/face_detection_short_range",
            },
            {  # MediaPipe's face ROI: the detector's box grown 1.5 times (25 % a side)
                "type": "DetectionOffset",
                "name": "framed",
                "predictions": "$steps.faces.predictions",
                "offset_width": 50,
                "offset_height": 50,
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
                "name": "mesh",
                "images": "$steps.crops.crops",
                "model": MESH,
            },
            {
                "type": "DetectionsStitch",
                "name": "stitched",
                "images": "$inputs.image",
                "predictions": "$steps.mesh.predictions",
            },
        ],
        "outputs": [
            {"type": "JsonField", "name": name, "selector": f"$steps.{name}.predictions"}
            for name in ("faces", "framed", "mesh", "stitched")
        ],
    }


def model_workflow(model: str) -> dict:
    """One model run on the whole input image."""
    return {
        "version": "1.0",
        "inputs": [{"type": "image", "name": "image"}],
        "steps": [
            {
                "type": "KeypointDetectionModel",
                "name": "points",
                "images": "$inputs.image",
                "model": model,
            }
        ],
        "outputs": [
            {"type": "JsonField", "name": "points", "selector": "$steps.points.predictions"}
        ],
    }


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


@pytest.fixture(scope="module")
def mesh_result(astronaut) -> dict:
    return Workflow.compile(mesh_workflow()).run(image=astronaut)[0]


@pytest.fixture(scope="module")
def mesh(mesh_result) -> np.ndarray:
    """The 468 points of the astronaut's face, in the image's pixels."""
    return mesh_result["stitched"].data["keypoints_xy"][0].astype(np.float64)


def test_the_mesh_has_468_points_named_by_mediapipe_index(mesh_result, mesh):
    stitched = mesh_result["stitched"]
    assert len(mesh_result["faces"]) == len(stitched) == 1
    assert mesh.shape == (468, 2)
    names = stitched.data["keypoints_class_name"][0].tolist()
    assert names == [str(i) for i in range(468)]
    assert stitched.data["class_name"].tolist() == ["face"]
    # The face flag's sigmoid: a clear face scores ~1; every point shares it.
    presence = float(stitched.confidence[0])
    assert presence > 0.99
    assert stitched.data["keypoints_confidence"][0].tolist() == [pytest.approx(presence)] * 468


def test_the_mesh_lies_on_the_face(mesh_result, mesh):
    face = mesh_result["faces"].xyxy[0]  # the detector's box, brows to chin
    framed = mesh_result["framed"].xyxy[0]  # the crop the mesh model saw
    assert ((mesh >= framed[:2]) & (mesh <= framed[2:])).all()
    # Inside the detector's box but for the forehead's top, which the box leaves out (here
    # by 10 % of its height): a 15 % margin.
    margin = 0.15 * (face[2:] - face[:2])
    assert ((mesh >= face[:2] - margin) & (mesh <= face[2:] + margin)).all()
    # The mesh's own box (the detection's) overlaps the detector's box closely.
    box = mesh_result["stitched"].xyxy[0]
    assert box.tolist() == pytest.approx([*mesh.min(axis=0), *mesh.max(axis=0)], abs=1e-3)
    inner = np.clip(np.minimum(box[2:], face[2:]) - np.maximum(box[:2], face[:2]), 0, None)
    overlap = inner.prod()
    union = (box[2:] - box[:2]).prod() + (face[2:] - face[:2]).prod() - overlap
    assert overlap / union > 0.85


def test_the_mesh_is_anatomical(mesh_result, mesh):
    left_outer, left_inner = mesh[EYE_ON_LEFT[0]], mesh[EYE_ON_LEFT[1]]
    right_inner, right_outer = mesh[EYE_ON_RIGHT[0]], mesh[EYE_ON_RIGHT[1]]
    nose, forehead, chin = mesh[NOSE_TIP], mesh[FOREHEAD], mesh[CHIN]
    # Eye corners left to right across the image, as MediaPipe numbers them.
    xs = [left_outer[0], left_inner[0], right_inner[0], right_outer[0]]
    assert xs == sorted(xs)
    eye_width = np.linalg.norm(left_inner - left_outer)
    assert eye_width == pytest.approx(np.linalg.norm(right_outer - right_inner), rel=0.2)
    # The nose tip lies between the inner corners, below the eyes; the face is upright:
    # forehead above the eyes, mouth below the nose, chin lowest.
    assert left_inner[0] < nose[0] < right_inner[0]
    eyes_y = np.mean([left_outer[1], left_inner[1], right_inner[1], right_outer[1]])
    assert nose[1] > eyes_y + eye_width
    mouth_left, mouth_right = mesh[MOUTH_LEFT], mesh[MOUTH_RIGHT]
    assert mouth_left[0] < nose[0] < mouth_right[0]
    assert forehead[1] < eyes_y < nose[1] < min(mouth_left[1], mouth_right[1]) < chin[1]
    height = chin[1] - forehead[1]
    assert chin[1] == mesh[:, 1].max() and forehead[1] < mesh[:, 1].min() + 0.01 * height
    # She faces the camera: the nose tip sits near the middle of the inner eye corners.
    middle = (left_inner[0] + right_inner[0]) / 2
    assert abs(nose[0] - middle) < 0.15 * (right_inner[0] - left_inner[0])
    # The detector's eye keypoints (right_eye = the person's right, on the image's left)
    # fall between the matching mesh corners.
    faces = mesh_result["faces"]
    names = faces.data["keypoints_class_name"][0].tolist()
    detector_eye = faces.data["keypoints_xy"][0][names.index("right_eye")]
    assert left_outer[0] < detector_eye[0] < left_inner[0]


def test_no_face_no_mesh():
    coffee = np.ascontiguousarray(data.coffee()[:, :, ::-1])
    result = Workflow.compile(model_workflow(MESH)).run(image=coffee)[0]["points"]
    assert len(result) == 0
    assert result.data["keypoints_xy"].shape == (0, 468, 2)


# --- irises -------------------------------------------------------------------------------


def eye_box(mesh: np.ndarray, corners: tuple[int, int]) -> tuple[int, int, int, int]:
    """MediaPipe's eye region: a square 2.3 times the corners' distance, around them."""
    first, second = mesh[corners[0]], mesh[corners[1]]
    centre, half = (first + second) / 2, 2.3 * np.linalg.norm(second - first) / 2
    x0, y0 = np.round(centre - half).astype(int)
    x1, y1 = np.round(centre + half).astype(int)
    return int(x0), int(y0), int(x1), int(y1)


def irises(pixels: np.ndarray, model: str):
    return Workflow.compile(model_workflow(model)).run(image=np.ascontiguousarray(pixels))[0][
        "points"
    ]


@pytest.mark.parametrize(
    ("model", "corners"),
    [
        ("mediapipe/iris_landmarks_left", EYE_ON_LEFT),
        ("mediapipe/iris_landmarks_right", EYE_ON_RIGHT),
    ],
)
def test_each_iris_lies_in_its_eye(astronaut, mesh, model, corners):
    x0, y0, x1, y1 = eye_box(mesh, corners)
    found = irises(astronaut[y0:y1, x0:x1], model)
    assert len(found) == 1
    names = found.data["keypoints_class_name"][0].tolist()
    assert names[:5] == ["iris_center", "iris_1", "iris_2", "iris_3", "iris_4"]
    assert len(names) == 5 + 71
    points = found.data["keypoints_xy"][0].astype(np.float64) + np.array([x0, y0])
    iris = points[:5]
    # Between the eye's corners, and about at their height.
    first, second = mesh[corners[0]], mesh[corners[1]]
    assert (iris[:, 0] > min(first[0], second[0])).all()
    assert (iris[:, 0] < max(first[0], second[0])).all()
    eye_width = np.linalg.norm(second - first)
    assert abs(iris[0, 1] - (first[1] + second[1]) / 2) < 0.25 * eye_width
    # She looks at the camera: the iris centre near the corners' middle.
    assert abs(iris[0, 0] - (first[0] + second[0]) / 2) < 0.2 * eye_width
    # The 4 rim points around the centre, one radius away each: right, top, left, bottom
    # on the image for this eye (mirrored back for the flipped one).
    rim = iris[1:] - iris[0]
    radii = np.linalg.norm(rim, axis=1)
    assert radii.max() < 1.3 * radii.min()
    assert 0.15 * eye_width < radii.mean() < 0.35 * eye_width
    assert sorted(np.argsort(np.abs(rim[:, 0]))[2:].tolist()) == [0, 2]  # horizontal pair
    # The detection's box is the iris's.
    box = found.xyxy[0] + np.array([x0, y0, x0, y0])
    assert box.tolist() == pytest.approx([*iris.min(0), *iris.max(0)], abs=1e-3)


def test_the_flipped_entry_mirrors_the_crop_and_the_points_back(astronaut, mesh):
    """The right-eye entry on a crop equals the left-eye entry on the mirrored crop,
    mirrored back (x -> width - x)."""
    x0, y0, x1, y1 = eye_box(mesh, EYE_ON_RIGHT)
    crop = astronaut[y0:y1, x0:x1]
    flipped = irises(crop, "mediapipe/iris_landmarks_right").data["keypoints_xy"][0]
    plain = irises(crop[:, ::-1], "mediapipe/iris_landmarks_left").data["keypoints_xy"][0]
    mirrored = plain.copy()
    mirrored[:, 0] = crop.shape[1] - plain[:, 0]
    assert flipped == pytest.approx(mirrored, abs=1e-4)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (MESH, "expected outputs of 1404 and 1 values (the 468 x 3 mesh and the face flag)"),
        (
            "mediapipe/iris_landmarks_left",
            "expected outputs of 15 and 213 values (the 5 x 3 iris and 71 x 3 contour)",
        ),
    ],
)
def test_another_models_file_is_a_format_error_with_place_and_hint(model, expected):
    entry = find_entry(model)
    spec = ModelSpec(id="not/mine", source="not/mine", **entry.description)
    with pytest.raises(ModelFormatError) as caught:  # the palm detector's file, this format
        Model(spec, model_file(find_entry("mediapipe/palm_detection")))
    error = caught.value
    assert error.message == (
        f"model 'not/mine' (format {spec.format}) has outputs [(1, 2016, 18), (1, 2016, 1)], "
        + expected
    )
    assert error.place == "models 'not/mine' field 'format'"
    assert error.hint == f"format {spec.format} is only for MediaPipe's own model of that name"
