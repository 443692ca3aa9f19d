"""Roboflow's geometry blocks (perspective correction, camera calibration, stitching,
auto-rotation), its image stack and its QR code generator, in definitions of Roboflow's
format, on skimage images.

Every expected value here is what Roboflow's own engine (inference-core 1.8.3, its
``roboflow_core`` blocks) gave for the same definition and inputs: images are checked by
their shape, pixel sum and SHA-256 (first 16 hex digits) of their bytes, boxes exactly.
Where visionflow knowingly differs (noted at the test), the test says what it checks.
"""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import pytest
import skimage.data
import supervision as sv

from visionflow import Workflow
from visionflow.errors import ManifestError, StepExecutionError


def bgr(name: str) -> np.ndarray:
    """A skimage image as BGR pixels (a gray one repeated to three channels)."""
    pixels = getattr(skimage.data, name)()
    if pixels.ndim == 2:
        return np.repeat(pixels[:, :, None], 3, axis=2)
    return np.ascontiguousarray(pixels[:, :, ::-1])


def digest(pixels: np.ndarray) -> tuple:
    data = np.ascontiguousarray(pixels).tobytes()
    return pixels.shape, int(pixels.astype(np.int64).sum()), hashlib.sha256(data).hexdigest()[:16]


def document(step: dict, batch_inputs: dict[str, str] | None = None, images=("image",)) -> dict:
    """The step (named ``step``) with image inputs, batch inputs of the given kinds and all
    its outputs as ``out``."""
    inputs = [{"type": "WorkflowImage", "name": name} for name in images]
    for name, kind in (batch_inputs or {}).items():
        inputs.append({"type": "WorkflowBatchInput", "name": name, "kind": [kind]})
    return {
        "version": "1.0",
        "inputs": inputs,
        "steps": [{**step, "name": "step"}],
        "outputs": [{"type": "JsonField", "name": "out", "selector": "$steps.step.*"}],
    }


# --- perspective correction ---------------------------------------------------------------

PERSPECTIVE = "roboflow_core/perspective_correction@v1"
QUADRILATERAL = [[100, 350], [80, 60], [520, 40], [560, 380]]  # corners in no set order
SMALLER = [[150, 300], [140, 100], [450, 110], [470, 320]]  # some boxes lie outside it


def boxes(with_masks: bool = False) -> sv.Detections:
    """Three boxes on coffee (400 x 600); masks: the boxes, the first with a notch."""
    xyxy = np.array([[120, 150, 200, 260], [300, 90, 420, 180], [10, 330, 90, 395]], float)
    detections = sv.Detections(
        xyxy=xyxy, confidence=np.array([0.9, 0.8, 0.7]), class_id=np.array([0, 1, 0])
    )
    detections.data["class_name"] = np.array(["a", "b", "a"])
    if with_masks:
        masks = np.zeros((3, 400, 600), bool)
        for position, (x1, y1, x2, y2) in enumerate(xyxy.astype(int)):
            masks[position, y1:y2, x1:x2] = True
        masks[0, 150:200, 120:150] = False
        detections.mask = masks
    return detections


def correct(fields: dict, polygons=QUADRILATERAL, with_masks: bool = False) -> dict:
    step = {
        "type": PERSPECTIVE,
        "images": "$inputs.image",
        "predictions": "$inputs.boxes",
        "perspective_polygons": polygons,
        **fields,
    }
    workflow = Workflow.compile(document(step, {"boxes": "instance_segmentation_prediction"}))
    result = workflow.run(image=[bgr("coffee")], boxes=[boxes(with_masks)])
    return result[0]["out"]


@pytest.mark.parametrize(
    ("fields", "polygons", "xyxy", "size", "image"),
    [
        (  # the default 1000 x 1000 rectangle; no warp: the image itself
            {},
            QUADRILATERAL,
            [[67, 318, 286, 693], [511, 130, 788, 421], [-246, 934, -22, 1175]],
            (1000, 1000),
            ((400, 600, 3), 71003487, "9597942f8acc753a"),
        ),
        (
            {"transformed_rect_width": 300, "transformed_rect_height": 200, "warp_image": True},
            QUADRILATERAL,
            [[20, 63, 85, 138], [153, 26, 236, 84], [-74, 186, -7, 234]],
            (300, 200),
            ((200, 300, 3), 16698553, "49b918f70762f74b"),
        ),
        (  # grown to hold every box's bottom centre
            {
                "transformed_rect_width": 300,
                "transformed_rect_height": 200,
                "warp_image": True,
                "extend_perspective_polygon_by_detections_anchor": "BOTTOM_CENTER",
            },
            SMALLER,
            [[75, 48, 159, 161], [252, -19, 371, 74], [-39, 231, 42, 298]],
            (398, 297),
            ((297, 398, 3), 28129712, "851d63570591b13d"),
        ),
        (  # grown to hold whole boxes
            {
                "transformed_rect_width": 300,
                "transformed_rect_height": 200,
                "warp_image": True,
                "extend_perspective_polygon_by_detections_anchor": "ALL",
            },
            SMALLER,
            [[113, 67, 197, 179], [290, 0, 409, 93], [0, 249, 81, 316]],
            (436, 317),
            ((317, 436, 3), 35384186, "06c52f875cd7c7e2"),
        ),
    ],
)
def test_perspective_correction_is_roboflows(fields, polygons, xyxy, size, image):
    out = correct(fields, polygons)
    assert out["corrected_coordinates"].xyxy.tolist() == xyxy
    assert out["corrected_coordinates"].data["class_name"].tolist() == ["a", "b", "a"]
    width, height = size
    assert out["extended_transformed_rect_width"] == width
    assert out["extended_transformed_rect_height"] == height
    assert digest(out["warped_image"].numpy) == image


def test_perspective_correction_moves_masks_as_outlines():
    out = correct({"transformed_rect_width": 300, "transformed_rect_height": 200}, with_masks=True)
    corrected = out["corrected_coordinates"]
    assert corrected.xyxy.tolist() == [[20, 64, 85, 137], [153, 26, 235, 83], [-74, 186, -7, 233]]
    assert corrected.mask.shape == (3, 200, 300)
    assert int(corrected.mask.sum()) == 8018


def test_perspective_correction_moves_keypoints_and_oriented_boxes():
    detections = boxes()
    detections.data["keypoints_xy"] = np.array(
        [[[130.4, 160.6], [190, 250]], [[310, 100], [410.5, 170]], [[20, 340], [80, 390]]]
    )
    detections.data["xyxyxyxy"] = np.array([[[120, 150], [200, 150], [200, 260], [120, 260]]] * 3)
    step = {
        "type": PERSPECTIVE,
        "images": "$inputs.image",
        "predictions": "$inputs.boxes",
        "perspective_polygons": QUADRILATERAL,
        "transformed_rect_width": 300,
        "transformed_rect_height": 200,
    }
    workflow = Workflow.compile(document(step, {"boxes": "object_detection_prediction"}))
    out = workflow.run(image=[bgr("coffee")], boxes=[detections])[0]["out"]
    corrected = out["corrected_coordinates"]
    assert corrected.data["keypoints_xy"].tolist() == [
        [[33, 71], [72, 130]],
        [[165, 33], [225, 78]],
        [[-63, 196], [-18, 227]],
    ]
    assert corrected.data["xyxyxyxy"].tolist() == [[[26, 63], [85, 64], [79, 136], [20, 138]]] * 3


def test_perspective_correction_grows_masks_with_the_polygon():
    fields = {
        "transformed_rect_width": 400,
        "transformed_rect_height": 300,
        "extend_perspective_polygon_by_detections_anchor": "ALL",
    }
    out = correct(fields, polygons=[SMALLER], with_masks=True)  # a list of one polygon
    corrected = out["corrected_coordinates"]
    assert corrected.xyxy.tolist() == [[151, 101, 262, 267], [387, 0, 544, 138], [0, 373, 106, 473]]
    assert corrected.mask.shape == (3, 475, 581)
    assert int(corrected.mask.sum()) == 42834
    assert (out["extended_transformed_rect_width"], out["extended_transformed_rect_height"]) == (
        581,
        475,
    )


def test_perspective_correction_uses_the_largest_of_several_polygons():
    # a written list is one entry per image (Roboflow's reading): this one entry, the
    # image's polygons, serves the image with the largest. The values are those of the
    # largest polygon alone.
    small = [[10, 10], [50, 10], [50, 50], [10, 50]]
    fields = {"transformed_rect_width": 300, "transformed_rect_height": 200, "warp_image": True}
    out = correct(fields, polygons=[[small, QUADRILATERAL, [[1, 2], [3, 4]]]])
    assert out["corrected_coordinates"].xyxy.tolist() == [
        [20, 63, 85, 138],
        [153, 26, 236, 84],
        [-74, 186, -7, 234],
    ]
    assert digest(out["warped_image"].numpy) == ((200, 300, 3), 16698553, "49b918f70762f74b")


def test_perspective_correction_reads_a_written_list_as_one_entry_per_image():
    # Roboflow's engine, two images and a box each: [A, B] and [[A], [B]] give the first
    # image A and the second B; [[A, B]] gives both the larger (A); [A, B] for one image
    # is refused
    first = [[50, 40], [350, 60], [380, 280], [20, 250]]
    second = [[100, 100], [300, 100], [300, 300], [100, 300]]
    box = sv.Detections(
        xyxy=np.array([[150.0, 150, 200, 200]]), confidence=np.array([0.9]), class_id=np.array([0])
    )
    step = {
        "type": PERSPECTIVE,
        "images": "$inputs.image",
        "predictions": "$inputs.boxes",
        "transformed_rect_width": 100,
        "transformed_rect_height": 100,
    }

    def boxes_with(polygons, images=("astronaut", "coffee")):
        definition = document(
            {**step, "perspective_polygons": polygons}, {"boxes": "object_detection_prediction"}
        )
        results = Workflow.compile(definition).run(
            image=[bgr(name) for name in images], boxes=[box] * len(images)
        )
        return [result["out"]["corrected_coordinates"].xyxy.tolist() for result in results]

    each = [[[35, 51, 50, 74]], [[25, 25, 50, 50]]]
    assert boxes_with([first, second]) == each
    assert boxes_with([[first], [second]]) == each
    assert boxes_with([[first, second]]) == [[[35, 51, 50, 74]]] * 2
    assert boxes_with(first) == [[[35, 51, 50, 74]]] * 2
    with pytest.raises(StepExecutionError, match="2 entries for 1 images"):
        boxes_with([first, second], images=("astronaut",))


def test_perspective_correction_without_predictions_warps_the_image_only():
    step = {
        "type": PERSPECTIVE,
        "images": "$inputs.image",
        "perspective_polygons": QUADRILATERAL,
        "transformed_rect_width": 300,
        "transformed_rect_height": 200,
        "warp_image": True,
    }
    out = Workflow.compile(document(step)).run(image=bgr("coffee"))[0]["out"]
    assert out["corrected_coordinates"] is None
    assert digest(out["warped_image"].numpy) == ((200, 300, 3), 16698553, "49b918f70762f74b")


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"extend_perspective_polygon_by_detections_anchor": "MIDDLE"}, "BOTTOM_CENTER"),
        ({"perspective_polygons": [[[1, 2], [3, 4]]]}, "4 corners"),
    ],
)
def test_perspective_correction_refuses_a_bad_anchor_or_polygon(fields, words):
    with pytest.raises(StepExecutionError, match=words):
        correct(fields, polygons=fields.pop("perspective_polygons", QUADRILATERAL))


# --- camera calibration -------------------------------------------------------------------

CALIBRATION = "roboflow_core/camera-calibration@v1"
LENS = {"fx": 600.0, "fy": 620.0, "cx": 320.0, "cy": 213.5, "k1": -0.3, "k2": 0.1, "k3": 0.01}
LENS |= {"p1": 0.001, "p2": -0.002}


@pytest.mark.parametrize(
    ("fisheye", "expected"),
    [
        (False, ((427, 640, 3), 47229108, "334e5adefac0c613")),
        (True, ((427, 640, 3), 54825746, "1b34d25377d6cfbb")),
    ],
)
def test_camera_calibration_is_roboflows(fisheye, expected):
    step = {"type": CALIBRATION, "image": "$inputs.image", "use_fisheye_model": fisheye}
    step |= {name: f"$inputs.{name}" for name in LENS}
    definition = document(step)
    definition["inputs"] += [{"type": "WorkflowParameter", "name": name} for name in LENS]
    out = Workflow.compile(definition).run(image=bgr("rocket"), **LENS)[0]["out"]
    assert digest(out["calibrated_image"].numpy) == expected


def test_camera_calibration_with_roboflows_test_values():
    # the calibration of Roboflow's own test, given as numbers in the definition
    lens = {"fx": 1480.52348, "fy": 1620.41507, "cx": 776.228486, "cy": 509.102914}
    lens |= {"k1": -0.67014685, "k2": 0.84140975, "k3": -0.40499778}
    lens |= {"p1": -0.00559933, "p2": 0.00425916}
    step = {"type": CALIBRATION, "images": "$inputs.image", **lens}
    out = Workflow.compile(document(step)).run(image=bgr("astronaut"))[0]["out"]
    assert digest(out["calibrated_image"].numpy) == (
        (512, 512, 3),
        84015585,
        "2a0be2e4f49be403",
    )


def test_camera_calibration_needs_every_coefficient():
    step = {"type": CALIBRATION, "image": "$inputs.image", **LENS}
    del step["k3"]
    with pytest.raises(ManifestError, match="k3"):
        Workflow.compile(document(step))


def test_camera_calibration_makes_its_maps_once_per_calibration():
    # a video's frames share a calibration: the step keeps the latest one's sampling maps
    # (4 x faster a 720p frame than cv2.undistort); a new size or coefficient makes new ones
    from visionflow.blocks.roboflow.geometry import CameraCalibration
    from visionflow.data.image import WorkflowImage

    block = CameraCalibration()
    other = {**LENS, "k1": 0.2}
    coffee, chelsea = bgr("coffee"), bgr("chelsea")

    def undistorted(pixels, lens):
        matrix = np.array(
            [[lens["fx"], 0, lens["cx"]], [0, lens["fy"], lens["cy"]], [0, 0, 1]], np.float32
        )
        coefficients = np.array([lens[k] for k in ("k1", "k2", "p1", "p2", "k3")], np.float32)
        size = pixels.shape[1::-1]
        refined, _ = cv2.getOptimalNewCameraMatrix(matrix, coefficients, size, 1, size)
        return cv2.undistort(pixels, matrix, coefficients, None, refined)

    for pixels, lens in [(coffee, LENS), (coffee, other), (chelsea, other), (coffee, LENS)]:
        found = block.run(WorkflowImage(pixels), **lens)["calibrated_image"].numpy
        assert np.array_equal(found, undistorted(pixels, lens))
    fisheye = block.run(WorkflowImage(coffee), use_fisheye_model=True, **LENS)
    assert not np.array_equal(fisheye["calibrated_image"].numpy, undistorted(coffee, LENS))


# --- stitching ----------------------------------------------------------------------------

STITCH = "roboflow_core/stitch_images@v1"


def stitch(first: np.ndarray, second: np.ndarray, **fields):
    step = {"type": STITCH, "image1": "$inputs.image1", "image2": "$inputs.image2", **fields}
    workflow = Workflow.compile(document(step, images=("image1", "image2")))
    return workflow.run(image1=first, image2=second)[0]["out"]["stitched_image"]


def rocket_views() -> tuple[np.ndarray, np.ndarray]:
    """Two overlapping views of the rocket: its left 400 columns, and its right part
    lowered by 20 rows."""
    rocket = bgr("rocket")
    return np.ascontiguousarray(rocket[:, :400]), np.ascontiguousarray(rocket[20:, 250:])


def test_stitch_images_is_roboflows_in_either_order():
    left, right = rocket_views()
    expected = ((407, 391, 3), 13113529, "230ee09639eb2556")
    assert digest(stitch(left, right).numpy) == expected
    fields = {
        "max_allowed_reprojection_error": 1.5,
        "count_of_best_matches_per_query_descriptor": 3,
    }
    assert digest(stitch(right, left, **fields).numpy) == expected


def test_stitch_images_gives_none_when_the_views_cannot_be_joined():
    left, right = rocket_views()
    # one match per keypoint: no ratio test possible (Roboflow gives None too)
    assert stitch(left, right, count_of_best_matches_per_query_descriptor=1) is None
    # a flat image has no keypoints
    assert stitch(np.zeros((100, 100, 3), np.uint8), bgr("rocket")) is None


def test_stitch_images_refuses_zero_matches():
    left, right = rocket_views()
    with pytest.raises(StepExecutionError, match="greater than 0"):
        stitch(left, right, count_of_best_matches_per_query_descriptor=0)


# --- auto rotation ------------------------------------------------------------------------

ROTATE = "roboflow_core/auto_rotate_on_edges@v1"


def stripes(degrees: float) -> np.ndarray:
    """Roboflow's test image: 800 x 600 black with 3-pixel white vertical stripes every 40
    pixels, turned by ``degrees`` on a canvas grown to hold it."""
    pixels = np.zeros((600, 800, 3), np.uint8)
    for x in range(0, 800, 40):
        cv2.rectangle(pixels, (x, 0), (x + 3, 600), (255, 255, 255), -1)
    if not degrees:
        return pixels
    matrix = cv2.getRotationMatrix2D((400, 300), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    width, height = int(600 * sin + 800 * cos), int(600 * cos + 800 * sin)
    matrix[0, 2] += width / 2 - 400
    matrix[1, 2] += height / 2 - 300
    return cv2.warpAffine(pixels, matrix, (width, height))


def rotate(pixels: np.ndarray, **fields) -> dict:
    step = {"type": ROTATE, "image": "$inputs.image", **fields}
    return Workflow.compile(document(step)).run(image=pixels)[0]["out"]


@pytest.mark.parametrize(
    ("pixels", "fields", "angle", "expected"),
    [
        (
            stripes(7),
            {"target_orientation": "vertical"},
            -6.792788463577182,
            ((790, 942, 3), 36725397, "60309c5624865207"),
        ),
        (stripes(0), {}, 0.0, ((600, 800, 3), 36720000, "82f7af048d91655c")),
        (
            stripes(-12),
            {"target_orientation": "horizontal"},
            -78.28705673473036,
            ((1040, 921, 3), 36723369, "072a6dfadc2cad41"),
        ),
        (
            stripes(33),
            {"target_orientation": "either", "internal_resolution": 300},
            -32.19963293369391,
            ((1325, 1343, 3), 36722481, "e73f5d66edda62a2"),
        ),
        (bgr("page"), {}, -0.49884364199050424, ((194, 385, 3), 37724298, "f3d583cc936b992a")),
        (
            bgr("astronaut"),
            {"target_orientation": "either", "max_correction_degrees": 2.0},
            -1.352860565390202,
            ((523, 523, 3), 90121662, "39d76b9f68ef9b10"),
        ),
        (np.full((50, 60, 3), 7, np.uint8), {}, 0.0, ((50, 60, 3), 63000, "b8a738ab84fa55a5")),
    ],
)
def test_auto_rotate_is_roboflows(pixels, fields, angle, expected):
    out = rotate(pixels, **fields)
    assert out["angle"] == angle
    assert digest(out["image"].numpy) == expected


def test_auto_rotate_declines_a_turn_beyond_max_correction():
    out = rotate(stripes(7), max_correction_degrees=5.0)
    assert out["angle"] == 0.0
    assert out["image"].numpy.shape == (693, 867, 3)  # the input, not turned


def test_auto_rotate_refuses_an_unknown_orientation():
    with pytest.raises(ManifestError, match="target_orientation"):
        Workflow.compile(
            document({"type": ROTATE, "image": "$inputs.image", "target_orientation": "up"})
        )


# --- image stack --------------------------------------------------------------------------


def jpeg_digest(data: bytes) -> tuple:
    return len(data), hashlib.sha256(data).hexdigest()[:16]


def test_image_stack_keeps_the_last_frames_newest_first():
    step = {
        "type": "roboflow_core/image_stack@v1",
        "image": "$inputs.image",
        "stack_size": 2,
        "resolution_width": 300,
        "resolution_height": 300,
    }
    workflow = Workflow.compile(document(step))
    counts = [workflow.run(image=bgr("coffee"))[0]["out"]["frames_count"] for _ in range(3)]
    assert counts == [1, 2, 2]
    frames = workflow.run(image=bgr("chelsea"))[0]["out"]["frames"]
    # coffee 400 x 600 shrunk to 200 x 300, JPEG quality 75: Roboflow's bytes
    assert jpeg_digest(frames[1]) == (12831, "9d591d05471ef3ee")
    assert cv2.imdecode(np.frombuffer(frames[0], np.uint8), cv2.IMREAD_COLOR).shape == (
        199,
        300,
        3,
    )


def test_image_stack_a_smaller_size_keeps_the_oldest_frames():
    document_ = {
        "version": "1.0",
        "inputs": [
            {"type": "WorkflowImage", "name": "image"},
            {"type": "WorkflowParameter", "name": "size"},
        ],
        "steps": [
            {
                "type": "roboflow_core/image_stack@v1",
                "name": "s",
                "image": "$inputs.image",
                "stack_size": "$inputs.size",
            }
        ],
        "outputs": [{"type": "JsonField", "name": "out", "selector": "$steps.s.frames"}],
    }
    workflow = Workflow.compile(document_)

    def shades(frame: int, size: int) -> list[int]:
        image = np.full((64, 64, 3), frame * 25, np.uint8)  # frame k: grey k * 25
        frames = workflow.run(image=image, size=size)[0]["out"]
        return [
            round(cv2.imdecode(np.frombuffer(f, np.uint8), cv2.IMREAD_GRAYSCALE).mean()) // 25
            for f in frames
        ]

    runs = [shades(frame, size) for frame, size in [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]]
    assert runs[-1] == [5, 4, 3, 2, 1]
    # Roboflow's engine gives these frames (6, 3, 2: the oldest kept), then 7, 6, 3 and 8, 7, 6, 3
    assert [shades(6, 3), shades(7, 3), shades(8, 4)] == [[6, 3, 2], [7, 6, 3], [8, 7, 6, 3]]


def test_image_stack_keeps_a_stack_per_video_dropped_when_the_video_ends():
    import datetime

    from visionflow.data.image import VideoMetadata, WorkflowImage

    step = {"type": "roboflow_core/image_stack@v1", "image": "$inputs.image", "stack_size": 3}
    workflow = Workflow.compile(document(step), cache=False)

    def count(video: str, number: int, position: int = 0) -> list[int]:
        meta = VideoMetadata(video, number, datetime.datetime(2026, 1, 1), 10.0, True)
        frames = [WorkflowImage(np.zeros((64, 64, 3), np.uint8), video=meta)]
        frames.insert(position, WorkflowImage(np.zeros((64, 64, 3), np.uint8)))  # a still
        return [row["out"]["frames_count"] for row in workflow.run(image=frames)]

    # a video's stack wherever its frame is in the batch; a still image's by its place
    assert [count("a", 0), count("b", 0, 1), count("a", 1, 1)] == [[1, 1], [1, 1], [2, 2]]
    assert workflow.end_video("a") is True
    assert count("a", 2) == [2, 1]  # the still at place 0: its second frame


def test_image_stack_clear_empties_the_stack_first():
    step = {"type": "roboflow_core/image_stack@v1", "image": "$inputs.image", "clear": True}
    workflow = Workflow.compile(document(step))
    outs = [workflow.run(image=bgr("coffee"))[0]["out"] for _ in range(3)]
    assert [out["frames_count"] for out in outs] == [1, 1, 1]
    assert jpeg_digest(outs[-1]["frames"][0]) == (41606, "a7764c745ea9ad02")


@pytest.mark.parametrize(
    ("field", "value"), [("stack_size", 0), ("stack_size", 65), ("resolution_width", 63)]
)
def test_image_stack_refuses_sizes_out_of_range(field, value):
    step = {"type": "roboflow_core/image_stack@v1", "image": "$inputs.image", field: value}
    with pytest.raises(ManifestError, match=field):
        Workflow.compile(document(step))


# --- QR codes -----------------------------------------------------------------------------


def qr_code(**fields) -> np.ndarray:
    definition = {
        "version": "1.0",
        "inputs": [],
        "steps": [{"type": "roboflow_core/qr_code_generator@v1", "name": "step", **fields}],
        "outputs": [{"type": "JsonField", "name": "out", "selector": "$steps.step.qr_code"}],
    }
    return Workflow.compile(definition).run()[0]["out"].numpy


def read_back(pixels: np.ndarray) -> str:
    text, _, _ = cv2.QRCodeDetector().detectAndDecode(pixels)
    return text


def test_qr_code_is_roboflows_for_these_colours():
    pixels = qr_code(
        text="Hello World",
        error_correct="High (~30% word recovery / lowest data capacity)",
        border=2,
        fill_color="#1020F0",
        back_color="rgb(250, 240, 200)",
    )
    assert digest(pixels) == ((290, 290, 3), 44923800, "2deb70c7141d280a")


@pytest.mark.parametrize(
    ("fields", "shape", "colours"),
    [
        ({"text": "https://roboflow.com"}, (330, 330, 3), {(0, 0, 0), (255, 255, 255)}),
        (
            {
                "text": "a" * 80,
                "error_correct": "Low (~7% word recovery / highest data capacity)",
                "border": 0,
                "fill_color": "navy",  # a CSS name, as Roboflow's fallback reads it
                "back_color": "YELLOW",
            },
            (370, 370, 3),
            {(128, 0, 0), (0, 255, 255)},
        ),
    ],
)
def test_qr_code_has_roboflows_size_colours_and_text(fields, shape, colours):
    # Roboflow's qrcode package may pick another mask pattern: same size, same text
    pixels = qr_code(**fields)
    assert pixels.shape == shape
    assert {tuple(int(v) for v in c) for c in np.unique(pixels.reshape(-1, 3), axis=0)} == colours
    if fields.get("border", 4):
        assert read_back(pixels) == fields["text"]
    else:  # a reader needs a quiet zone: the modules, black on white, with one
        dark = (pixels == min(colours, key=sum)).all(axis=2)  # the fill, navy
        binary = np.pad(np.where(dark, 0, 255).astype(np.uint8), 40, constant_values=255)
        assert read_back(binary) == fields["text"]


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"fill_color": "no such colour"}, "unknown colour"),
        ({"border": -1}, "border"),
        # beyond a version 40 code (Roboflow's engine also refuses it); the limit is named
        ({"text": "x" * 5000}, "5000 characters is too long .* Medium"),
    ],
)
def test_qr_code_refuses_a_bad_colour_or_border(fields, words):
    with pytest.raises(StepExecutionError, match=words):
        qr_code(**{"text": "x", **fields})


def test_perspective_correction_of_dynamic_zones_is_roboflows():
    # Roboflow's test definition (dynamic zone, then perspective correction grown to hold
    # every box's bottom centre), its segmentation model replaced by given masks: the
    # first mask a tilted quadrilateral, the others boxes; zones of class "a" only.
    masks = boxes(with_masks=True)
    quadrilateral = np.zeros((400, 600), np.uint8)
    cv2.fillPoly(quadrilateral, [np.array(QUADRILATERAL, np.int32)], 1)
    masks.mask[0] = quadrilateral.astype(bool)
    masks.xyxy[0] = [80, 40, 560, 380]
    steps = [
        {
            "type": "roboflow_core/detections_filter@v1",
            "name": "only_a",
            "predictions": "$inputs.masks",
            "operations": [
                {
                    "type": "DetectionsFilter",
                    "filter_operation": {
                        "type": "StatementGroup",
                        "operator": "and",
                        "statements": [
                            {
                                "type": "BinaryStatement",
                                "left_operand": {
                                    "type": "DynamicOperand",
                                    "operations": [
                                        {
                                            "type": "ExtractDetectionProperty",
                                            "property_name": "class_name",
                                        }
                                    ],
                                },
                                "comparator": {"type": "in (Sequence)"},
                                "right_operand": {"type": "StaticOperand", "value": ["a"]},
                            }
                        ],
                    },
                }
            ],
        },
        {
            "type": "roboflow_core/dynamic_zone@v1",
            "name": "zone",
            "predictions": "$steps.only_a.predictions",
            "required_number_of_vertices": 4,
        },
        {
            "type": PERSPECTIVE,
            "name": "step",
            "images": "$inputs.image",
            "perspective_polygons": "$steps.zone.zones",
            "predictions": "$inputs.masks",
            "warp_image": True,
            "extend_perspective_polygon_by_detections_anchor": "BOTTOM_CENTER",
        },
    ]
    definition = document(steps[2], {"masks": "instance_segmentation_prediction"})
    definition["steps"] = steps
    out = Workflow.compile(definition).run(image=[bgr("coffee")], masks=[masks])[0]["out"]
    corrected = out["corrected_coordinates"]
    assert corrected.xyxy.tolist() == [
        [132, -1, 1115, 1004],
        [630, 130, 902, 416],
        [-102, 916, 109, 1144],
    ]
    assert corrected.mask.shape == (3, 1140, 1115)
    assert int(corrected.mask.sum()) == 1065343
    assert (out["extended_transformed_rect_width"], out["extended_transformed_rect_height"]) == (
        1115,
        1140,
    )
    assert digest(out["warped_image"].numpy) == ((1140, 1115, 3), 342760556, "1bc0bc0bbecda7a6")


def test_auto_rotate_turns_a_bgra_image_by_its_colour():
    # a BGRA image (one a step made: inputs are read as BGR) is measured by its colour and
    # turned with its alpha (Roboflow's block fails on one: CLAHE takes one channel only)
    from visionflow.blocks.roboflow.geometry import AutoRotateOnEdges
    from visionflow.data.image import WorkflowImage

    colour = stripes(7)
    with_alpha = np.dstack([colour, np.full(colour.shape[:2], 255, np.uint8)])
    block = AutoRotateOnEdges()
    expected = block.run(WorkflowImage(colour))
    found = block.run(WorkflowImage(with_alpha))
    assert found["angle"] == expected["angle"] != 0.0
    assert np.array_equal(found["image"].numpy[:, :, :3], expected["image"].numpy)
    assert found["image"].numpy.shape[2] == 4
