"""DrawDetections' pictures, from the example workflows on real pictures: skeleton lines
between connected keypoints (pose, hand), the face mesh's contours, iris circles, mask
overlays, each model's vote under an ensemble's label, and text boxes that follow the
text's slant.

Each test compares the example's picture with the same predictions drawn without the
feature: the pixels that differ are the feature's, and must lie where only it puts them.
"""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
import pytest
import supervision as sv
import yaml
from skimage import data

from markers import installed
from test_hands import small_hand
from visionflow import Workflow, serialize
from visionflow.blocks.api import Batch
from visionflow.blocks.core.detections import DetectionsStitch
from visionflow.blocks.core.skeletons import MEDIAPIPE_FACE_MESH, skeleton_for
from visionflow.blocks.core.visualization import EDGE_HEX, DrawDetections, _label_texts
from visionflow.data.detections import QUAD, attach_image_metadata, to_root_coordinates
from visionflow.data.image import WorkflowImage
from visionflow.errors import ManifestError, StepExecutionError
from visionflow.serialization import deserialize_detections

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
EDGE = np.array([int(EDGE_HEX[i : i + 2], 16) for i in (5, 3, 1)])  # BGR
THICKNESS = 2  # DrawDetections' default

needs_mediapipe = pytest.mark.skipif(
    not installed("mediapipe", "ai_edge_litert"),
    reason="the models ship in mediapipe==0.10.21 and run on ai-edge-litert",
)


def with_plain_drawing(example: str, **fields) -> dict:
    """The example's document plus a second drawing of the same predictions, with
    ``fields`` changed, as the output ``plain``."""
    return with_plain_document(yaml.safe_load((EXAMPLES / example).read_text()), **fields)


def with_plain_document(document: dict, **fields) -> dict:
    drawn = next(step for step in document["steps"] if step["type"] == "DrawDetections")
    document["steps"].append({**drawn, "name": "plain", **fields})
    document["outputs"].append(
        {"type": "JsonField", "name": "plain", "selector": "$steps.plain.image"}
    )
    return document


def run(document: dict, image: np.ndarray) -> dict:
    return Workflow.compile(document).run(image=np.ascontiguousarray(image))[0]


def changed(result: dict) -> np.ndarray:
    """Where the example's picture differs from the plain drawing (H x W booleans)."""
    return np.any(result["annotated"].numpy != result["plain"].numpy, axis=2)


def difference_near(difference: np.ndarray, x: int, y: int, radius: int) -> bool:
    return bool(difference[y - radius : y + radius + 1, x - radius : x + radius + 1].any())


def is_edge(pixels: np.ndarray, point) -> bool:
    x, y = (int(v) for v in np.round(point))
    return bool((pixels[y, x] == EDGE).all())


def segments_mask(shape, points: np.ndarray, pairs, width: int) -> np.ndarray:
    """The pixels within ``width`` of the segments between ``pairs`` of ``points``."""
    mask = np.zeros(shape[:2], np.uint8)
    for a, b in pairs:
        start, end = (tuple(int(v) for v in points[i]) for i in (a, b))
        cv2.line(mask, start, end, 1, width)
    return mask.astype(bool)


def points_by_name(detections, position: int = 0) -> dict[str, np.ndarray]:
    names = [str(name) for name in detections.data["keypoints_class_name"][position]]
    return dict(zip(names, detections.data["keypoints_xy"][position], strict=True))


def check_skeleton_lines(result: dict, detections, threshold: float = 0.5) -> list:
    """Every changed pixel has the line colour and lies on a drawn segment; returns the
    segments (pairs of positions) between shown keypoints."""
    names = [str(name) for name in detections.data["keypoints_class_name"][0]]
    points = detections.data["keypoints_xy"][0]
    shown = detections.data["keypoints_confidence"][0] >= threshold
    pairs = [(a, b) for a, b in skeleton_for(names).edges(names) if shown[a] and shown[b]]
    picture, difference = result["annotated"].numpy, changed(result)
    assert difference.any()
    assert (picture[difference] == EDGE).all()  # nothing but lines was added
    along = segments_mask(picture.shape, points, pairs, THICKNESS + 2)
    assert not (difference & ~along).any()  # and only along the connected keypoints
    return pairs


@pytest.fixture(scope="module")
def page() -> np.ndarray:
    return cv2.cvtColor(data.page(), cv2.COLOR_GRAY2BGR)


# --- skeletons ------------------------------------------------------------------------------


@needs_mediapipe
def test_the_pose_is_drawn_as_a_skeleton(astronaut):
    result = run(with_plain_drawing("person_pose.yaml", skeleton="none"), astronaut)
    poses = result["poses"]
    pairs = check_skeleton_lines(result, poses)
    assert len(pairs) >= 10  # her upper body: face, shoulders, arms, hips
    points, picture = points_by_name(poses), result["annotated"].numpy
    shoulders = (points["left_shoulder"] + points["right_shoulder"]) / 2
    assert is_edge(picture, shoulders)  # the line between her shoulders
    # The nose and a shoulder are not connected: nothing between them.
    between = (points["nose"] + points["left_shoulder"]) / 2
    x, y = (int(v) for v in np.round(between))
    assert (picture[y, x] == result["plain"].numpy[y, x]).all()


@needs_mediapipe
def test_the_hand_is_drawn_as_a_skeleton():
    result = run(with_plain_drawing("hands.yaml", skeleton="none"), small_hand())
    hands = result["hands"]
    assert len(result["palms"]) == len(hands) == 1
    pairs = check_skeleton_lines(result, hands)
    assert len(pairs) == 21  # every bone: 4 per finger and thumb, the palm's outline
    points, picture = points_by_name(hands), result["annotated"].numpy
    for a, b in [("index_finger_pip", "index_finger_dip"), ("wrist", "pinky_mcp")]:
        assert is_edge(picture, (points[a] + points[b]) / 2), (a, b)
    # Fingertips are not joined to each other.
    x, y = (int(v) for v in (points["index_finger_tip"] + points["pinky_tip"]) / 2)
    assert (picture[y, x] == result["plain"].numpy[y, x]).all()


@needs_mediapipe
def test_a_palm_gets_the_lines_of_the_hand_points_it_has():
    # The palm detector names 7 of the hand's 21 points: the hand skeleton joins those.
    document = with_plain_drawing("hands.yaml", skeleton="none")
    for step in document["steps"][-2:]:  # both drawings: the palms, not the hands
        step["predictions"] = "$steps.palms.predictions"
    result = run(document, small_hand())
    pairs = check_skeleton_lines(result, result["palms"])
    names = result["palms"].data["keypoints_class_name"][0]
    assert sorted(tuple(sorted((names[a], names[b]))) for a, b in pairs) == [
        ("index_finger_mcp", "middle_finger_mcp"),
        ("index_finger_mcp", "wrist"),
        ("middle_finger_mcp", "ring_finger_mcp"),
        ("pinky_mcp", "ring_finger_mcp"),
        ("pinky_mcp", "wrist"),
        ("thumb_cmc", "thumb_mcp"),
        ("thumb_cmc", "wrist"),
    ]


@needs_mediapipe
def test_the_face_mesh_is_drawn_as_its_contours(astronaut):
    result = run(with_plain_drawing("face_mesh.yaml", skeleton="none"), astronaut)
    meshes = result["meshes"]
    assert len(meshes) == 1
    pairs = check_skeleton_lines(result, meshes)
    assert len(pairs) == len(MEDIAPIPE_FACE_MESH.edges([str(i) for i in range(468)]))
    mesh, picture = meshes.data["keypoints_xy"][0], result["annotated"].numpy
    oval = [int(name) for name in MEDIAPIPE_FACE_MESH.paths[0]]
    for a, b in pairwise(oval):  # the face's outline, all round
        assert is_edge(picture, (mesh[a] + mesh[b]) / 2), (a, b)
    # The nose tip (point 1) is on no contour: its dot only, as in the plain drawing.
    x, y = (int(v) for v in np.round(mesh[1]))
    assert not difference_near(changed(result), x, y, 2)


@needs_mediapipe
def test_the_iris_is_drawn_as_a_circle(astronaut):
    # The eye on the picture's left (a square 2.3 times its corners' distance, as MediaPipe
    # frames it), four times larger: a circle big enough to look at.
    mesh = run(yaml.safe_load((EXAMPLES / "face_mesh.yaml").read_text()), astronaut)["meshes"]
    outer, inner = (mesh.data["keypoints_xy"][0][i] for i in (33, 133))
    middle, half = (outer + inner) / 2, 2.3 * np.linalg.norm(inner - outer) / 2
    (x0, y0), (x1, y1) = np.round(middle - half).astype(int), np.round(middle + half).astype(int)
    eye = cv2.resize(astronaut[y0:y1, x0:x1], None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    document = {
        "version": "1.0",
        "inputs": [{"type": "image", "name": "image"}],
        "steps": [
            {"type": "KeypointDetectionModel", "name": "iris", "images": "$inputs.image",
             "model": "mediapipe/iris_landmarks_left"},
            {"type": "DrawDetections", "name": "drawn", "images": "$inputs.image",
             "predictions": "$steps.iris.predictions", "labels": False},
        ],
        "outputs": [
            {"type": "JsonField", "name": "iris", "selector": "$steps.iris.predictions"},
            {"type": "JsonField", "name": "annotated", "selector": "$steps.drawn.image"},
        ],
    }  # fmt: skip
    document = with_plain_document(document, skeleton="none")
    result = run(document, eye)
    points = points_by_name(result["iris"])
    centre = points["iris_center"]
    radius = np.mean([np.linalg.norm(points[f"iris_{i}"] - centre) for i in range(1, 5)])
    assert 10 < radius < 40
    picture, difference = result["annotated"].numpy, changed(result)
    assert (picture[difference] == EDGE).all()
    # All round the circle, but where the eye contour's dots (drawn on top) cover it...
    angles = np.radians(np.arange(0, 360, 10))
    on_circle = centre + radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    drawn = [difference_near(difference, *(int(v) for v in np.round(p)), 1) for p in on_circle]
    assert sum(drawn) >= 0.75 * len(drawn)
    # ... and nowhere else.
    distance = np.hypot(*(np.indices(difference.shape)[::-1] - centre[:, None, None]))
    assert not (difference & (np.abs(distance - radius) > THICKNESS + 1)).any()


# --- masks ----------------------------------------------------------------------------------


@needs_mediapipe
def test_masks_are_overlaid_inside_and_nowhere_else(astronaut):
    result = run(with_plain_drawing("selfie_blur.yaml", masks=False), astronaut)
    person = result["person"]
    assert len(person) == 1
    mask, difference = person.mask[0], changed(result)
    assert not (difference & ~mask).any()  # outside the mask: as without the overlay
    # Inside: tinted, but where the box and its label cover it (drawn on top in both).
    assert difference.sum() > 0.9 * mask.sum()
    # The blurred picture keeps the person exactly and blurs the rest.
    blurred = result["blurred"].numpy
    assert (blurred[mask] == astronaut[mask]).all()
    assert np.any(blurred[~mask] != astronaut[~mask], axis=1).mean() > 0.5


# --- the ensemble's votes ---------------------------------------------------------------------


def read_text(pixels: np.ndarray) -> list[str]:
    """The text lines in ``pixels``, read by the zoo's OCR models."""
    document = {
        "version": "1.0",
        "inputs": [{"type": "image", "name": "image"}],
        "steps": [
            {"type": "TextDetectionModel", "name": "find", "images": "$inputs.image",
             "model": "rapidocr/text_detection"},
            {"type": "PerspectiveCrop", "name": "lines", "images": "$inputs.image",
             "predictions": "$steps.find.predictions"},
            {"type": "TextRecognitionModel", "name": "read", "images": "$steps.lines.crops",
             "model": "rapidocr/text_recognition"},
        ],
        "outputs": [{"type": "JsonField", "name": "text", "selector": "$steps.read.text"}],
    }  # fmt: skip
    return run(document, pixels)["text"]


def label_region(result: dict, image: np.ndarray, drawing: str) -> np.ndarray:
    """What the drawing added above the face box (the label), three times larger."""
    top = int(result["faces"].xyxy[0][1]) - THICKNESS
    added = np.any(result[drawing].numpy[:top] != image[:top], axis=2)
    rows, columns = np.where(added.any(axis=1))[0], np.where(added.any(axis=0))[0]
    label = result[drawing].numpy[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]
    return cv2.resize(label, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)


@needs_mediapipe
def test_the_ensemble_picture_shows_each_models_vote(astronaut):
    result = run(with_plain_drawing("emotion_ensemble.yaml", classifications={}), astronaut)
    assert [result[name][0]["top"] for name in ("fer", "facex", "consensus")] == ["happy"] * 3
    voted, plain = (
        label_region(result, astronaut, "annotated"),
        label_region(result, astronaut, "plain"),
    )
    assert voted.shape[0] > 2 * plain.shape[0]  # three lines instead of one
    voted_text, plain_text = " ".join(read_text(voted)), " ".join(read_text(plain))
    assert "fer: happy" in voted_text and "facex: happy" in voted_text
    assert "happy" in plain_text and "fer" not in plain_text


# --- text boxes that follow the text ----------------------------------------------------------


def rotated(pixels: np.ndarray, degrees: float) -> np.ndarray:
    """``pixels`` turned ``degrees`` anticlockwise about the centre, on a larger canvas."""
    padded = cv2.copyMakeBorder(pixels, 60, 60, 20, 20, cv2.BORDER_REPLICATE)
    height, width = padded.shape[:2]
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return cv2.warpAffine(padded, turn, (width, height), borderMode=cv2.BORDER_REPLICATE)


def test_text_boxes_follow_a_slanted_page(page):
    slanted = rotated(page, 10)
    result = run(yaml.safe_load((EXAMPLES / "ocr_page.yaml").read_text()), slanted)
    regions = result["text_regions"]
    assert result["lines"][:2] == [
        "Region-based segmentation",
        "Let us first determine markers of the coins and the",
    ]
    quads = regions.data["quad"]
    assert quads.shape == (len(regions), 4, 2)
    top_edges = quads[:, 1] - quads[:, 0]
    long = np.linalg.norm(top_edges, axis=1) > 250  # whole lines: their slant is clear
    assert long.sum() >= 4
    angles = np.degrees(np.arctan2(-top_edges[long, 1], top_edges[long, 0]))
    assert np.abs(angles - 10).max() < 1.5
    picture = result["annotated"].numpy
    for quad, box in zip(quads[long], regions.xyxy[long], strict=True):
        # The slanted top edge is drawn; the upright box's top-left corner is not.
        x, y = (int(v) for v in np.round((quad[0] + quad[1]) / 2))
        assert not (picture[y, x] == slanted[y, x]).all()
        corner = (int(box[0]) + 2, int(box[1]) + 2)
        assert (picture[corner[1], corner[0]] == slanted[corner[1], corner[0]]).all()


def test_text_quads_serialise_as_points(page):
    document = yaml.safe_load((EXAMPLES / "ocr_page.yaml").read_text())
    regions = run(document, rotated(page, 10))["text_regions"]
    written = json.loads(json.dumps(serialize(regions)))
    assert [p["quad"] for p in written["predictions"]] == regions.data["quad"].tolist()
    # Read back (detections given as an input), the quads draw and write the same.
    read = deserialize_detections(written, "page")
    assert serialize(read) == written
    assert np.asarray(read.data["quad"].tolist()).tolist() == regions.data["quad"].tolist()


def test_quads_found_on_crops_move_with_their_boxes_to_the_root_image():
    """Text read on a crop and stitched: its slanted outline is drawn where the text is."""
    root = WorkflowImage(np.zeros((200, 300, 3), np.uint8))
    crop = root.crop(100, 50, 200, 150)
    found = sv.Detections(xyxy=np.array([[10.0, 20.0, 60.0, 40.0]], np.float32))
    found.data[QUAD] = np.array([[[10, 25], [60, 20], [60, 35], [10, 40]]], np.float32)
    attach_image_metadata(found, crop)
    moved = to_root_coordinates(found)
    assert moved.xyxy.tolist() == [[110.0, 70.0, 160.0, 90.0]]
    assert moved.data[QUAD].tolist() == [[[110, 75], [160, 70], [160, 85], [110, 90]]]
    assert found.data[QUAD][0, 0].tolist() == [10, 25]  # the crop's own detections unchanged


# --- text found on slices, stitched -----------------------------------------------------------


def sliced_text_document(stitch: dict) -> dict:
    """Text found on 300 x 191 slices of the page, stitched back by ``stitch``."""
    return {
        "version": "1.0",
        "inputs": [{"type": "image", "name": "image"}],
        "steps": [
            {"type": "roboflow_core/image_slicer@v2", "name": "tiles", "image": "$inputs.image",
             "slice_width": 300, "slice_height": 191, "overlap_ratio_width": 0.2,
             "overlap_ratio_height": 0.0},
            {"type": "TextDetectionModel", "name": "find", "images": "$steps.tiles.slices",
             "model": "rapidocr/text_detection"},
            {"name": "page", "predictions": "$steps.find.predictions", **stitch},
        ],
        "outputs": [{"type": "JsonField", "name": "text", "selector": "$steps.page.predictions"}],
    }  # fmt: skip


@pytest.mark.parametrize(
    "stitch",
    [
        {"type": "roboflow_core/detections_stitch@v1", "reference_image": "$inputs.image"},
        {"type": "DetectionsStitch", "images": "$inputs.image"},
    ],
)
def test_quads_found_on_slices_are_stitched_with_their_boxes(page, stitch):
    regions = run(sliced_text_document(stitch), page)["text"]
    assert len(regions) >= 5
    quads, boxes = regions.data[QUAD], regions.xyxy
    # Each quadrilateral is where its box is: the box is its upright bounding box.
    assert np.abs(quads.min(axis=1) - boxes[:, :2]).max() < 2
    assert np.abs(quads.max(axis=1) - boxes[:, 2:]).max() < 2


def test_quads_stitched_into_a_crop_are_in_the_crops_pixels():
    """DetectionsStitch into an image that is itself a crop: quads move as boxes do."""
    root = WorkflowImage(np.zeros((400, 500, 3), np.uint8))
    crop = root.crop(100, 50, 400, 350)
    tile = crop.crop(20, 30, 220, 230)
    found = sv.Detections(xyxy=np.array([[10.0, 20.0, 60.0, 40.0]], np.float32))
    found.data[QUAD] = np.array([[[10, 25], [60, 20], [60, 35], [10, 40]]], np.float32)
    attach_image_metadata(found, tile)

    stitched = DetectionsStitch().run(crop, Batch([found], [(0, 0)]))["predictions"]
    assert stitched.xyxy.tolist() == [[30.0, 50.0, 80.0, 70.0]]
    assert stitched.data[QUAD].tolist() == [[[30, 55], [80, 50], [80, 65], [30, 70]]]


def test_masks_found_on_a_crop_at_the_top_left_corner_are_stitched():
    """A crop at (0, 0) is not the image itself: its masks are placed on the image too."""
    root = WorkflowImage(np.zeros((400, 500, 3), np.uint8))
    parts = []
    for tile in (root.crop(0, 0, 250, 200), root.crop(250, 200, 500, 400)):
        mask = np.zeros((1, tile.height, tile.width), dtype=bool)
        mask[0, 20:40, 10:60] = True
        found = sv.Detections(xyxy=np.array([[10.0, 20.0, 60.0, 40.0]]), mask=mask)
        parts.append(attach_image_metadata(found, tile))
    stitched = DetectionsStitch().run(root, Batch(parts, [(0, 0), (0, 1)]))["predictions"]
    assert stitched.xyxy.tolist() == [[10.0, 20.0, 60.0, 40.0], [260.0, 220.0, 310.0, 240.0]]
    assert stitched.mask.shape == (2, 400, 500)
    assert stitched.mask[0, 20:40, 10:60].all() and stitched.mask[0].sum() == 20 * 50
    assert stitched.mask[1, 220:240, 260:310].all() and stitched.mask[1].sum() == 20 * 50
    moved = to_root_coordinates(parts[0])
    assert moved.mask.shape == (1, 400, 500)
    assert moved.data["parent_id"].tolist() == [root.image_id]


def test_masks_stitched_into_a_crop_are_the_crops_size():
    root = WorkflowImage(np.zeros((400, 500, 3), np.uint8))
    crop = root.crop(100, 50, 400, 350)  # 300 x 300
    tile = crop.crop(20, 30, 220, 230)
    mask = np.zeros((1, 200, 200), dtype=bool)
    mask[0, 20:40, 10:60] = True
    found = sv.Detections(xyxy=np.array([[10.0, 20.0, 60.0, 40.0]]), mask=mask)
    attach_image_metadata(found, tile)
    stitched = DetectionsStitch().run(crop, Batch([found], [(0, 0)]))["predictions"]
    assert stitched.mask.shape == (1, 300, 300)
    expected = np.zeros((300, 300), dtype=bool)
    expected[50:70, 30:80] = True  # where the box is
    assert (stitched.mask[0] == expected).all()


# --- predictions drawing cannot read ------------------------------------------------------------


def drawing_document(**fields) -> dict:
    """An image and detections given as inputs, drawn."""
    return {
        "version": "1.0",
        "inputs": [
            {"type": "image", "name": "image"},
            {"type": "WorkflowBatchInput", "name": "boxes",
             "kind": ["object_detection_prediction"]},
        ],
        "steps": [{"type": "DrawDetections", "name": "drawn", "images": "$inputs.image",
                   "predictions": "$inputs.boxes", **fields}],
        "outputs": [{"type": "JsonField", "name": "annotated", "selector": "$steps.drawn.image"}],
    }  # fmt: skip


def draw(boxes: sv.Detections, image: np.ndarray, **fields) -> np.ndarray:
    workflow = Workflow.compile(drawing_document(**fields))
    return workflow.run(image=image, boxes=boxes)[0]["annotated"].numpy


def test_detections_without_classes_are_drawn_as_class_zero(coffee):
    """Boxes given without class ids or names (e.g. read from a JSON file of boxes)."""
    written = {
        "image": {"width": 600, "height": 400},
        "predictions": [{"x": 300, "y": 200, "width": 100, "height": 60, "confidence": 0.8}],
    }
    boxes = deserialize_detections(written, "boxes")
    assert boxes.class_id is None
    classed = sv.Detections(xyxy=boxes.xyxy.copy(), class_id=np.array([0]))
    picture = draw(boxes, coffee, labels=False)
    assert (picture == draw(classed, coffee, labels=False)).all()
    assert (picture != coffee).any()
    labelled = draw(boxes, coffee)  # its label: the confidence alone
    assert (labelled != picture).any()


def test_the_label_of_a_box_at_the_top_edge_stays_inside_the_picture():
    """A selfie mask's box starts at row 0: its label, drawn above a box, would be cut off."""
    gray = np.full((200, 300, 3), 90, np.uint8)

    def label_text_pixels(top: int) -> int:
        boxes = sv.Detections(
            xyxy=np.array([[20.0, top, 280.0, top + 100]]),
            class_id=np.array([0]),
            confidence=np.array([0.95]),
            data={"class_name": np.array(["person"])},
        )
        return int(np.all(draw(boxes, gray) > 200, axis=2).sum())  # the white text

    lower = label_text_pixels(60)  # room above the box: the whole label shows
    assert lower > 0
    assert label_text_pixels(0) == lower


def test_masks_of_another_size_are_an_error_naming_the_field(coffee):
    person = sv.Detections(
        xyxy=np.array([[10.0, 10.0, 50.0, 50.0]]),
        class_id=np.array([0]),
        mask=np.ones((1, 200, 300), dtype=bool),  # made on a half-size copy of the picture
    )
    with pytest.raises(StepExecutionError) as caught:
        draw(person, coffee)
    assert "the masks are 300x200 pixels, the image 600x400" in caught.value.message
    assert caught.value.hint == "give predictions made on this image (DetectionsStitch for crops)"
    assert (draw(person, coffee, masks=False) != coffee).any()  # boxes alone: drawn


def test_an_iris_point_that_is_not_a_number_draws_no_circle():
    image = WorkflowImage(np.zeros((60, 60, 3), np.uint8))
    names = ["iris_center", "iris_1", "iris_2", "iris_3", "iris_4"]
    iris = sv.Detections(xyxy=np.array([[10.0, 10.0, 50.0, 50.0]]), class_id=np.array([0]))
    iris.data["keypoints_xy"] = np.array([[[30, 30], [40, 30], [30, 40], [20, 30], [30, 20]]],
                                         np.float32)  # fmt: skip
    iris.data["keypoints_class_name"] = np.array([names], dtype=object)
    iris.data["keypoints_confidence"] = np.ones((1, 5), np.float32)

    def drawn(points):
        iris.data["keypoints_xy"] = np.array([points], np.float32)
        fields = dict(labels=False, keypoints=True, keypoint_confidence=0.5, skeleton="auto",
                      masks=True, mask_opacity=0.5, classifications={}, thickness=2)  # fmt: skip
        return DrawDetections().run(images=image, predictions=iris, **fields)["image"].numpy

    circle = drawn([[30, 30], [40, 30], [30, 40], [20, 30], [30, 20]])
    assert (circle == EDGE).all(axis=2).sum() > 30
    for broken in ([np.nan, 30], [30, np.inf]):
        nan_centre = drawn([broken, [40, 30], [30, 40], [20, 30], [30, 20]])
        assert not (nan_centre == EDGE).all(axis=2).any()  # no circle, no failure
        nan_rim = drawn([[30, 30], [40, 30], broken, [20, 30], [30, 20]])
        assert not (nan_rim == EDGE).all(axis=2).any()


def test_a_vote_is_matched_to_its_own_detection_never_to_another_by_position():
    """Three faces classified, the first's classification masked out (None); the drawing
    shows the faces in another order: each label carries its own face's vote, or "-"."""

    def vote(emotion: str, parent: str) -> dict:
        return {"top": emotion, "confidence": 0.9, "class_id": 0, "parent_id": parent,
                "predictions": [{"class": emotion, "class_id": 0, "confidence": 0.9}]}  # fmt: skip

    votes = Batch([None, vote("sad", "b"), vote("happy", "c")], [(0, 0), (0, 1), (0, 2)])
    faces = sv.Detections(
        xyxy=np.array([[0.0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]]),
        class_id=np.zeros(3, dtype=int),
        data={"class_name": np.array(["face"] * 3, dtype=object),
              "detection_id": np.array(["c", "a", "b"], dtype=object)},
    )  # fmt: skip
    assert _label_texts(faces, {"fer": votes}) == [
        "face\nfer: happy 0.90",
        "face\nfer: -",  # a's own vote was masked out: not b's, the second in the batch
        "face\nfer: sad 0.90",
    ]
    # Classifications that name no parent are matched by position.
    anonymous = Batch([{**vote("sad", ""), "parent_id": None}], [(0, 1)])
    assert _label_texts(faces, {"fer": anonymous})[1] == "face\nfer: sad 0.90"


def test_quads_read_from_json_follow_their_boxes_into_crops():
    """Text lines given as JSON (quads as lists of points), cut out by DynamicCrop: each
    crop's detection has its quad in the crop's pixels, and the crop's picture shows it."""
    document = {
        "version": "1.0",
        "inputs": [
            {"type": "image", "name": "image"},
            {"type": "WorkflowBatchInput", "name": "lines",
             "kind": ["object_detection_prediction"]},
        ],
        "steps": [
            {"type": "DynamicCrop", "name": "crops", "images": "$inputs.image",
             "predictions": "$inputs.lines"},
            {"type": "DrawDetections", "name": "drawn", "images": "$steps.crops.crops",
             "predictions": "$steps.crops.predictions", "labels": False, "thickness": 1},
        ],
        "outputs": [
            {"type": "JsonField", "name": "line", "selector": "$steps.crops.predictions"},
            {"type": "JsonField", "name": "drawn", "selector": "$steps.drawn.image"},
        ],
    }  # fmt: skip
    written = {
        "image": {"width": 300, "height": 200},
        "predictions": [
            {"x": 135, "y": 60, "width": 50, "height": 20, "confidence": 0.9, "class": "text",
             "class_id": 0, "quad": [[110, 55], [160, 50], [160, 65], [110, 70]]}
        ],
    }  # fmt: skip
    read = deserialize_detections(written, "lines")
    assert read.data[QUAD].tolist() == [[[110, 55], [160, 50], [160, 65], [110, 70]]]
    assert read.data[QUAD].dtype.kind == "f"  # an (N, 4, 2) array, as the OCR head gives
    result = Workflow.compile(document).run(image=np.zeros((200, 300, 3), np.uint8), lines=written)
    (line,), (drawn,) = result[0]["line"], result[0]["drawn"]
    assert line.xyxy.tolist() == [[0.0, 0.0, 50.0, 20.0]]
    assert line.data[QUAD].tolist() == [[[0, 5], [50, 0], [50, 15], [0, 20]]]
    # the slanted top edge, from (0, 5) to (50, 0), is drawn across the crop
    assert drawn.numpy[3, 20].any() and drawn.numpy[2, 30].any()


@pytest.mark.parametrize("thickness", [0, -1])
def test_a_thickness_under_one_is_a_compile_error(thickness):
    # OpenCV draws no line of 0 pixels (it fails on the skeleton's) and fills shapes at -1.
    with pytest.raises(ManifestError) as caught:
        Workflow.compile(drawing_document(thickness=thickness))
    assert "thickness" in str(caught.value)


def test_the_classes_replacement_never_takes_another_detections_vote_by_position():
    """The same case for DetectionsClassesReplacement: face 'a' had its classification
    masked out, so it keeps no class of b's (dropped, or the fallback)."""
    from visionflow.blocks.core.detections import DetectionsClassesReplacement

    def vote(emotion: str, parent: str | None) -> dict:
        return {"top": emotion, "confidence": 0.9, "class_id": 1, "parent_id": parent,
                "predictions": [{"class": emotion, "class_id": 1, "confidence": 0.9}]}  # fmt: skip

    faces = sv.Detections(
        xyxy=np.array([[0.0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]]),
        class_id=np.zeros(3, dtype=int),
        data={"class_name": np.array(["face"] * 3, dtype=object),
              "detection_id": np.array(["c", "a", "b"], dtype=object)},
    )  # fmt: skip
    votes = Batch([None, vote("sad", "b"), vote("happy", "c")], [(0, 0), (0, 1), (0, 2)])
    block = DetectionsClassesReplacement()
    replaced = block.run(faces, votes, "unknown", -1)["predictions"]
    assert list(replaced.data["class_name"]) == ["happy", "unknown", "sad"]
    anonymous = Batch([vote("sad", None)], [(0, 1)])  # naming no parent: by position
    replaced = block.run(faces, anonymous, None, -1)["predictions"]
    assert list(replaced.data["detection_id"]) == ["a"]
