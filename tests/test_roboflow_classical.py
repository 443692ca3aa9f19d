"""Roboflow's classical computer vision blocks, in definitions of Roboflow's format.

Every expected value here is what Roboflow's own engine (inference-core 1.8.3, its
``roboflow_core`` blocks, OpenCV 4.12) gave for the same definition and image; images are
checked by shape, pixel sum and SHA-256 (first 16 hex digits) of their bytes, as in
test_roboflow_images.py. The QR code images are made here with OpenCV's QR encoder, the
barcode from EAN-13's encoding table.
"""

from __future__ import annotations

import hashlib
import json

import cv2
import numpy as np
import pytest
import skimage.data

from visionflow import Workflow
from visionflow.errors import ManifestError, StepExecutionError
from visionflow.serialization import serialize


def bgr(name: str) -> np.ndarray:
    """A skimage image as BGR pixels (a gray one repeated to three channels)."""
    pixels = getattr(skimage.data, name)()
    if pixels.ndim == 2:
        return np.repeat(pixels[:, :, None], 3, axis=2)
    return np.ascontiguousarray(pixels[:, :, ::-1])


def digest(pixels: np.ndarray) -> tuple:
    data = np.ascontiguousarray(pixels).tobytes()
    return pixels.shape, int(pixels.astype(np.int64).sum()), hashlib.sha256(data).hexdigest()[:16]


def run(steps: list[dict], **images: np.ndarray) -> dict:
    """The last step's outputs, for ``steps`` fed the image inputs ``images``."""
    definition = {
        "version": "1.0",
        "inputs": [{"type": "WorkflowImage", "name": name} for name in images],
        "steps": steps,
        "outputs": [
            {"type": "JsonField", "name": "out", "selector": f"$steps.{steps[-1]['name']}.*"}
        ],
    }
    return Workflow.compile(definition).run(**images)[0]["out"]


def sift_steps(comparison: dict) -> list[dict]:
    """SIFT on inputs ``a`` and ``b``, then ``comparison`` (v1) of their descriptors."""
    return [
        {"type": "roboflow_core/sift@v1", "name": "s1", "image": "$inputs.a"},
        {"type": "roboflow_core/sift@v1", "name": "s2", "image": "$inputs.b"},
        {
            "name": "c",
            "descriptor_1": "$steps.s1.descriptors",
            "descriptor_2": "$steps.s2.descriptors",
            **comparison,
        },
    ]


def astronaut_pair() -> dict[str, np.ndarray]:
    astronaut = bgr("astronaut")
    return {"a": astronaut, "b": cv2.resize(astronaut, (400, 400))}


def qr_image(codes: list[tuple[str, int, int, int]], size: tuple[int, int]) -> np.ndarray:
    """White pixels with QR codes of (text, x, y, module size) drawn on them."""
    pixels = np.full((*size, 3), 255, np.uint8)
    encoder = cv2.QRCodeEncoder.create()
    for text, x, y, scale in codes:
        code = cv2.resize(encoder.encode(text), None, fx=scale, fy=scale, interpolation=0)
        pixels[y : y + code.shape[0], x : x + code.shape[1]] = code[:, :, None]
    return pixels


# --- contours ----------------------------------------------------------------------------


def contours_of_coins(**fields) -> dict:
    steps = [
        {
            "type": "roboflow_core/threshold@v1",
            "name": "t",
            "image": "$inputs.image",
            "thresh_value": 128,
        },
        {"type": "roboflow_core/contours_detection@v1", "name": "c", "image": "$steps.t.image"},
    ]
    steps[1].update(fields)
    return run(steps, image=bgr("coins"))


def test_contours_of_a_thresholded_image_as_roboflow_finds_and_draws_them():
    out = contours_of_coins()
    # Roboflow's engine: 106 outer contours, drawn 3 pixels wide in purple
    assert out["number_contours"] == 106
    assert digest(out["image"].numpy) == ((303, 384, 3), 27832995, "f73670cd6895a65f")
    assert digest(out["hierarchy"]) == ((1, 106, 4), 10811, "19b65fc03c00f61d")
    assert isinstance(out["contours"], tuple)
    assert [c.shape for c in out["contours"][:3]] == [(1, 1, 2), (4, 1, 2), (1, 1, 2)]
    assert out["contours"][0].tolist() == [[[191, 281]]]


def test_contours_line_thickness_changes_only_the_drawing():
    out = contours_of_coins(line_thickness=1)
    assert out["number_contours"] == 106
    assert digest(out["image"].numpy) == ((303, 384, 3), 24911205, "f2b1649b153915fa")


def test_contours_of_a_blank_image_are_none():
    out = run(
        [{"type": "roboflow_core/contours_detection@v1", "name": "c", "image": "$inputs.image"}],
        image=np.zeros((100, 100, 3), np.uint8),
    )
    assert (out["number_contours"], out["contours"], out["hierarchy"]) == (0, (), None)


# --- template matching -------------------------------------------------------------------


def template_matches(image: np.ndarray, **fields) -> dict:
    template = bgr("astronaut")[100:150, 200:240].copy()
    step = {
        "type": "roboflow_core/template_matching@v1",
        "name": "m",
        "image": "$inputs.image",
        "template": "$inputs.template",
        **fields,
    }
    return run([step], image=image, template=template)


def test_template_matching_with_nms_keeps_one_box_of_the_template_size():
    out = template_matches(bgr("astronaut"), matching_threshold=0.7)
    predictions = out["predictions"]
    # Roboflow's engine: one match left by NMS, at (202, 101)
    assert out["number_of_matches"] == 1
    assert predictions.xyxy.tolist() == [[202, 101, 242, 151]]
    assert predictions.confidence.tolist() == [1.0]
    assert predictions.class_id.tolist() == [0]
    assert predictions.data["class_name"].tolist() == ["template_match"]
    assert predictions.data["prediction_type"].tolist() == ["object-detection"]
    assert predictions.data["image_dimensions"].tolist() == [[512, 512]]


def test_template_matching_without_nms_gives_every_place_row_by_row():
    out = template_matches(bgr("astronaut"), matching_threshold=0.7, apply_nms=False)
    # Roboflow's engine: 16 places, in its order (by row, then column)
    places = [(200, 98)] + [(x, y) for y in (99, 100, 101) for x in range(198, 203)]
    assert out["number_of_matches"] == 16
    assert out["predictions"].xyxy.tolist() == [[x, y, x + 40, y + 50] for x, y in places]


def test_template_matching_finds_nothing_in_another_image():
    out = template_matches(bgr("coffee"))  # default threshold 0.8
    assert out["number_of_matches"] == 0
    assert len(out["predictions"]) == 0


def test_template_matching_refuses_a_template_larger_than_the_image():
    step = {
        "type": "roboflow_core/template_matching@v1",
        "name": "m",
        "image": "$inputs.image",
        "template": "$inputs.template",
    }
    with pytest.raises(StepExecutionError, match=r"template \(600 x 400\) is larger"):
        run([step], image=bgr("astronaut")[:100, :100].copy(), template=bgr("coffee"))


def test_template_matching_nms_threshold_is_checked_at_compile_time():
    with pytest.raises(ManifestError):
        template_matches(bgr("astronaut"), nms_threshold=1.5)


# --- SIFT --------------------------------------------------------------------------------


def test_sift_gives_roboflows_keypoints_descriptors_and_drawing():
    out = run(
        [{"type": "roboflow_core/sift@v1", "name": "s", "image": "$inputs.image"}],
        image=bgr("coffee"),
    )
    keypoints = out["keypoints"]
    # Roboflow's engine: 632 keypoints (first and last below), the same descriptors and
    # the same drawing (its random colours start from OpenCV's generator seeded 0)
    assert len(keypoints) == 632
    assert keypoints[0] == {
        "pt": (3.0976619720458984, 165.27981567382812),
        "size": 2.3310749530792236,
        "angle": 63.77723693847656,
        "response": 0.014995462261140347,
        "octave": 2163455,
        "class_id": -1,
    }
    assert keypoints[-1]["pt"] == (596.7135620117188, 22.435420989990234)
    assert digest(out["descriptors"]) == ((632, 128), 2056854, "a3cf036b3e5a744f")
    assert digest(out["image"].numpy) == ((400, 600, 3), 75237336, "4db03dff13b5eaaa")


def test_sift_drawing_is_the_same_on_every_run():
    step = {"type": "roboflow_core/sift@v1", "name": "s", "image": "$inputs.image"}
    first = run([step], image=bgr("coffee"))["image"].numpy
    cv2.randu(np.zeros(10), 0, 1)  # moves OpenCV's generator on
    assert np.array_equal(run([step], image=bgr("coffee"))["image"].numpy, first)


def test_sift_of_a_blank_image_finds_no_keypoints():
    out = run(
        [{"type": "roboflow_core/sift@v1", "name": "s", "image": "$inputs.image"}],
        image=np.zeros((100, 100, 3), np.uint8),
    )
    assert (out["keypoints"], out["descriptors"]) == ([], None)
    assert digest(out["image"].numpy) == ((100, 100, 3), 0, "3755862355e2e7d0")


# --- SIFT comparison ---------------------------------------------------------------------


def test_sift_comparison_v1_counts_good_matches():
    out = run(sift_steps({"type": "roboflow_core/sift_comparison@v1"}), **astronaut_pair())
    # Roboflow's engine: 636 good matches (ratio 0.7), over the threshold of 50
    assert out == {"good_matches_count": 636, "images_match": True}


def test_sift_comparison_v1_matches_the_same_after_other_random_draws():
    cv2.randu(np.zeros(10), 0, 1)  # FLANN's trees come from OpenCV's generator: moved on
    out = run(sift_steps({"type": "roboflow_core/sift_comparison@v1"}), **astronaut_pair())
    assert out["good_matches_count"] == 636


def test_sift_comparison_v1_threshold_decides_the_match():
    comparison = {"type": "roboflow_core/sift_comparison@v1", "good_matches_threshold": 637}
    out = run(sift_steps(comparison), **astronaut_pair())
    assert out == {"good_matches_count": 636, "images_match": False}


def test_sift_comparison_v1_does_not_run_on_an_image_without_descriptors():
    images = {"a": np.zeros((100, 100, 3), np.uint8), "b": bgr("astronaut")}
    out = run(sift_steps({"type": "roboflow_core/sift_comparison@v1"}), **images)
    # Roboflow's engine skips the step too: its descriptors input is None
    assert out == {"good_matches_count": None, "images_match": None}


def comparison_v2(images: dict[str, np.ndarray], **fields) -> dict:
    step = {
        "type": "roboflow_core/sift_comparison@v2",
        "name": "c",
        "input_1": "$inputs.a",
        "input_2": "$inputs.b",
        **fields,
    }
    return run([step], **images)


@pytest.mark.parametrize("matcher", ["FlannBasedMatcher", "BFMatcher"])
def test_sift_comparison_v2_describes_both_images_and_matches(matcher: str):
    out = comparison_v2(astronaut_pair(), matcher=matcher, ratio_threshold=0.6)
    # Roboflow's engine: 618 good matches with either matcher
    assert (out["good_matches_count"], out["images_match"]) == (618, True)
    assert (len(out["keypoints_1"]), len(out["keypoints_2"])) == (1105, 833)
    assert digest(out["descriptors_1"]) == ((1105, 128), 3548510, "26f88c5ca69b832c")
    assert digest(out["descriptors_2"]) == ((833, 128), 2693481, "32a9a9027473cbf6")
    drawings = [out[f"visualization_{name}"] for name in ("1", "2", "matches")]
    assert drawings == [None, None, None]


@pytest.mark.parametrize(
    ("matcher", "matches_drawing"),
    [
        ("FlannBasedMatcher", ((512, 1112, 3), 158688424, "2e41c40ba481af69")),
        ("BFMatcher", ((512, 1112, 3), 161171146, "997e431dbeee1811")),
    ],
)
def test_sift_comparison_v2_visualizes_as_roboflow(matcher: str, matches_drawing: tuple):
    images = {"a": bgr("astronaut"), "b": bgr("coffee")}
    out = comparison_v2(images, matcher=matcher, ratio_threshold=0.6, visualize=True)
    # Roboflow's engine: one good match, and these drawings
    assert (out["good_matches_count"], out["images_match"]) == (1, False)
    assert digest(out["visualization_1"].numpy) == (
        (512, 512, 3),
        91772814,
        "1776be8cb961d4aa",
    )
    assert digest(out["visualization_2"].numpy) == (
        (400, 600, 3),
        75213600,
        "e3019dc2e53177e5",
    )
    assert digest(out["visualization_matches"].numpy) == matches_drawing


def test_sift_comparison_v2_takes_descriptors():
    steps = sift_steps({"type": "roboflow_core/sift_comparison@v2", "visualize": True})
    steps[2]["input_1"] = steps[2].pop("descriptor_1")
    steps[2]["input_2"] = steps[2].pop("descriptor_2")
    out = run(steps, **astronaut_pair())
    # Roboflow's engine: v1's count, no keypoints and nothing drawn for descriptors
    assert (out["good_matches_count"], out["images_match"]) == (636, True)
    assert (out["keypoints_1"], out["keypoints_2"]) == (None, None)
    assert out["descriptors_1"].shape == (1105, 128)
    assert [out[f"visualization_{name}"] for name in ("1", "2", "matches")] == [None] * 3


def test_sift_comparison_v2_with_too_few_descriptors_gives_no_match():
    images = {"a": np.zeros((100, 100, 3), np.uint8), "b": bgr("astronaut")}
    out = comparison_v2(images, visualize=True)
    # Roboflow's engine: 0 matches, no keypoints on the blank image, no matches drawing
    assert (out["good_matches_count"], out["images_match"]) == (0, False)
    assert (out["keypoints_1"], out["descriptors_1"], len(out["keypoints_2"])) == ([], None, 1105)
    assert out["visualization_1"].numpy.shape == (100, 100, 3)
    assert out["visualization_matches"] is None


def test_sift_comparison_v2_refuses_an_unknown_matcher():
    with pytest.raises(ManifestError):
        comparison_v2(astronaut_pair(), matcher="ORB")


# --- QR codes ----------------------------------------------------------------------------


def test_qr_code_detector_reads_a_code():
    image = qr_image([("visionflow", 150, 100, 8)], (500, 600))
    step = {"type": "roboflow_core/qr_code_detector@v1", "name": "q", "images": "$inputs.image"}
    predictions = run([step], image=image)["predictions"]
    # Roboflow's engine: this box (first corner to third) and text
    assert predictions.xyxy.tolist() == [[167.0, 116.0, 335.0, 283.0]]
    assert predictions.data["data"].tolist() == ["visionflow"]
    assert predictions.data["class_name"].tolist() == ["qr_code"]
    assert predictions.class_id.tolist() == [0]
    assert predictions.confidence.tolist() == [1.0]
    assert predictions.data["prediction_type"].tolist() == ["qrcode-detection"]
    assert predictions.data["image_dimensions"].tolist() == [[500, 600]]


def test_qr_code_detector_alias_on_a_turned_image():
    codes = [("first", 40, 60, 6), ("second code", 480, 300, 6)]
    turn = cv2.getRotationMatrix2D((450, 350), 20, 1.0)
    image = cv2.warpAffine(qr_image(codes, (700, 900)), turn, (900, 700), borderValue=(255,) * 3)
    step = {"type": "QRCodeDetector", "name": "q", "image": "$inputs.image"}
    predictions = run([step], image=image)["predictions"]
    # Roboflow's engine: only the second code is read, its box from corner to corner
    assert predictions.data["data"].tolist() == ["second code"]
    assert predictions.xyxy.tolist() == [[476.0, 300.0, 637.8046264648438, 375.712646484375]]


def test_qr_code_detector_without_a_code_gives_no_detections():
    # Roboflow's block fails here ('NoneType' object is not iterable); ours finds none
    step = {"type": "QRCodeDetection", "name": "q", "image": "$inputs.image"}
    predictions = run([step], image=bgr("coffee"))["predictions"]
    assert len(predictions) == 0
    assert predictions.data["data"].tolist() == []


def test_qr_code_text_is_in_the_json_of_the_predictions():
    image = qr_image([("visionflow", 150, 100, 8)], (500, 600))
    step = {"type": "roboflow_core/qr_code_detector@v1", "name": "q", "images": "$inputs.image"}
    document = json.loads(json.dumps(serialize(run([step], image=image))))
    [prediction] = document["predictions"]["predictions"]
    # Roboflow's JSON: the decoded text under "data"
    assert (prediction["class"], prediction["data"]) == ("qr_code", "visionflow")


# --- barcodes ------------------------------------------------------------------------------

# EAN-13 from its encoding table: left digits in L or G code (the pattern set by the first
# digit), right digits in R code, guards 101 / 01010 / 101 (no barcode library here)
EAN_L = ["0001101", "0011001", "0010011", "0111101", "0100011"]
EAN_L += ["0110001", "0101111", "0111011", "0110111", "0001011"]
EAN_R = ["".join("1" if bit == "0" else "0" for bit in code) for code in EAN_L]
EAN_G = [code[::-1] for code in EAN_R]
EAN_PARITY = ["LLLLLL", "LLGLGG", "LLGGLG", "LLGGGL", "LGLLGG"]
EAN_PARITY += ["LGGLLG", "LGGGLL", "LGLGLG", "LGLGGL", "LGGLGL"]


def ean13(twelve: str) -> tuple[str, str]:
    """The 13 digits (check digit added) and the 95 modules of their EAN-13 code."""
    total = sum(int(digit) * (3 if place % 2 else 1) for place, digit in enumerate(twelve))
    digits = twelve + str((10 - total % 10) % 10)
    left = "".join(
        (EAN_L if code == "L" else EAN_G)[int(digit)]
        for digit, code in zip(digits[1:7], EAN_PARITY[int(digits[0])], strict=True)
    )
    right = "".join(EAN_R[int(digit)] for digit in digits[7:])
    return digits, "101" + left + "01010" + right + "101"


def barcode_scene(twelve: str) -> tuple[str, np.ndarray]:
    """An EAN-13 code printed 4 pixels a module, 200 high, shrunk to half (as a camera
    sees it: soft bar edges) and laid on skimage's coffee at (20, 20)."""
    digits, modules = ean13(twelve)
    bars = np.array([0 if bit == "1" else 255 for bit in modules], np.uint8)
    label = np.full((280, 460), 255, np.uint8)
    label[40:240, 40:420] = np.repeat(np.repeat(bars[None, :], 200, axis=0), 4, axis=1)
    label = cv2.resize(label, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    scene = bgr("coffee")
    scene[20:160, 20:250] = label[:, :, None]
    return digits, scene


def test_ean13_encoding_of_the_test_is_the_standards():
    # the check digit and modules of the standard's example 5 901234 123457
    digits, modules = ean13("590123412345")
    assert digits == "5901234123457"
    assert len(modules) == 95
    # first digit 5: parity LGGLLG, so 9 in L code, then 0 in G code
    assert modules.startswith("101" + "0001011" + "0100111")


def test_barcode_detector_reads_an_ean13_code():
    digits, scene = barcode_scene("590123412345")
    step = {"type": "roboflow_core/barcode_detector@v1", "name": "b", "images": "$inputs.image"}
    predictions = run([step], image=scene)["predictions"]
    # Roboflow's engine reads the same text (zxing-cpp), with its box on the bars,
    # [[40, 40, 229, 139]]; OpenCV's detector locates the code as this box
    assert predictions.data["data"].tolist() == [digits]
    assert predictions.xyxy.tolist() == [pytest.approx([24.0, 54.0, 240.0, 126.0], abs=0.01)]
    assert predictions.data["class_name"].tolist() == ["barcode"]
    assert predictions.class_id.tolist() == [0]
    assert predictions.confidence.tolist() == [1.0]
    assert predictions.data["prediction_type"].tolist() == ["barcode-detection"]
    assert predictions.data["image_dimensions"].tolist() == [[400, 600]]
    [prediction] = json.loads(json.dumps(serialize(predictions)))["predictions"]
    assert (prediction["class"], prediction["data"]) == ("barcode", "5901234123457")


def test_barcode_detector_aliases_and_no_code():
    for alias in ("BarcodeDetector", "BarcodeDetection"):
        step = {"type": alias, "name": "b", "image": "$inputs.image"}
        predictions = run([step], image=bgr("astronaut"))["predictions"]
        assert len(predictions) == 0  # Roboflow's engine: none either
        assert predictions.data["data"].tolist() == []
