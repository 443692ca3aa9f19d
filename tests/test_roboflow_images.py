"""Roboflow's image operation blocks, in definitions of Roboflow's format, on skimage images.

Every expected value here is what Roboflow's own engine (inference-core 1.8.3, its
``roboflow_core`` blocks) gave for the same definition and image: the images were equal
pixel for pixel, so each is checked by its shape, pixel sum and SHA-256 (first 16 hex
digits) of its bytes. The dominant colour is Roboflow's with numpy's global generator
seeded 0 (its block leaves it unseeded).
"""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import pytest
import skimage.data
import supervision as sv

from visionflow import Workflow
from visionflow.blocks.roboflow.images import (
    BilateralFilter,
    ImageBlur,
    MorphologicalTransformation,
    Threshold,
)
from visionflow.data.image import WorkflowImage
from visionflow.errors import ManifestError, RuntimeInputError, StepExecutionError


def bgr(name: str) -> np.ndarray:
    """A skimage image as BGR pixels (a gray one repeated to three channels)."""
    pixels = getattr(skimage.data, name)()
    if pixels.ndim == 2:
        return np.repeat(pixels[:, :, None], 3, axis=2)
    return np.ascontiguousarray(pixels[:, :, ::-1])


def definition(step: dict, gray_first: bool = False) -> dict:
    """One image input, the step (after a grayscale conversion), all its outputs."""
    steps, source = [], "$inputs.image"
    if gray_first:
        steps.append(
            {"type": "roboflow_core/convert_grayscale@v1", "name": "gray", "image": source}
        )
        source = "$steps.gray.image"
    steps.append({**step, "name": "step", "image": source})
    return {
        "version": "1.0",
        "inputs": [
            {"type": "WorkflowImage", "name": "image"},
            {"type": "WorkflowParameter", "name": "value", "default_value": None},
        ],
        "steps": steps,
        "outputs": [{"type": "JsonField", "name": "out", "selector": "$steps.step.*"}],
    }


def run(step: dict, image: str, gray_first: bool = False, **parameters) -> dict:
    results = Workflow.compile(definition(step, gray_first)).run(image=bgr(image), **parameters)
    return results[0]["out"]


def digest(pixels: np.ndarray) -> tuple:
    data = np.ascontiguousarray(pixels).tobytes()
    return pixels.shape, int(pixels.astype(np.int64).sum()), hashlib.sha256(data).hexdigest()[:16]


BLUR = "roboflow_core/image_blur@v1"
THRESHOLD = "roboflow_core/threshold@v1"
PREPROCESSING = "roboflow_core/image_preprocessing@v1"
ENHANCEMENT = "roboflow_core/contrast_enhancement@v1"
EQUALIZATION = "roboflow_core/contrast_equalization@v1"
MORPHOLOGY_V1 = "roboflow_core/morphological_transformation@v1"
MORPHOLOGY_V2 = "roboflow_core/morphological_transformation@v2"

# (step, image, gray first, Roboflow's image: shape, pixel sum, sha256 prefix)
IMAGES = [
    (
        {"type": "roboflow_core/convert_grayscale@v1"},
        "astronaut",
        False,
        ((512, 512), 30252742, "5492ee081c90c2bb"),
    ),
    ({"type": BLUR}, "chelsea", False, ((300, 451, 3), 46803063, "05cbfb499df5d586")),
    (
        {"type": BLUR, "blur_type": "average", "kernel_size": 5},
        "coffee",
        False,
        ((400, 600, 3), 71002188, "025bc1687abb55a3"),
    ),
    (
        {"type": BLUR, "blur_type": "average", "kernel_size": 2},
        "coffee",
        False,
        ((400, 600, 3), 71261887, "f014ebee4e0ae1fa"),
    ),
    # an even Gaussian size is taken up to the next odd one: 4 blurs as 5
    (
        {"type": BLUR, "blur_type": "gaussian", "kernel_size": 4},
        "coffee",
        False,
        ((400, 600, 3), 71003812, "b8105336a495f166"),
    ),
    (
        {"type": BLUR, "blur_type": "median", "kernel_size": 7},
        "coffee",
        False,
        ((400, 600, 3), 70110625, "38845f257ea646e5"),
    ),
    # a median of size 0 is taken as 1: the image unchanged
    (
        {"type": BLUR, "blur_type": "median", "kernel_size": 0},
        "coffee",
        False,
        ((400, 600, 3), 71003487, "9597942f8acc753a"),
    ),
    (
        {"type": BLUR, "blur_type": "bilateral", "kernel_size": 9},
        "coffee",
        False,
        ((400, 600, 3), 70879647, "5c17816492590356"),
    ),
    (
        {"type": THRESHOLD, "threshold_type": "binary", "thresh_value": 120, "max_value": 200},
        "coffee",
        False,
        ((400, 600, 3), 55447800, "56d972bd62df6455"),
    ),
    (
        {"type": THRESHOLD, "threshold_type": "binary_inv", "thresh_value": 120, "max_value": 200},
        "coffee",
        False,
        ((400, 600, 3), 88552200, "99768b453be07499"),
    ),
    (
        {"type": THRESHOLD, "threshold_type": "trunc", "thresh_value": 120},
        "coffee",
        False,
        ((400, 600, 3), 53931297, "0d80e03a169e87f3"),
    ),
    (
        {"type": THRESHOLD, "threshold_type": "tozero", "thresh_value": 120},
        "coffee",
        False,
        ((400, 600, 3), 50340870, "50138cc23b0c9948"),
    ),
    (
        {"type": THRESHOLD, "threshold_type": "tozero_inv", "thresh_value": 120},
        "coffee",
        False,
        ((400, 600, 3), 20662617, "d387e32d21b8c3a0"),
    ),
    (
        {"type": THRESHOLD, "threshold_type": "adaptive_mean", "thresh_value": 100},
        "page",
        True,
        ((191, 384), 14555910, "ef37a3a4fc7ed92b"),
    ),
    (
        {"type": THRESHOLD, "threshold_type": "adaptive_gaussian", "thresh_value": 100},
        "page",
        True,
        ((191, 384), 14394750, "a43aba09abe85b0c"),
    ),
    (
        {"type": THRESHOLD, "threshold_type": "otsu", "thresh_value": 100},
        "page",
        True,
        ((191, 384), 11938590, "5f900e3b1c118ef0"),
    ),
    (
        {"type": PREPROCESSING, "task_type": "resize", "width": 200, "height": 150},
        "astronaut",
        False,
        ((150, 200, 3), 10313850, "e1a662e63513e404"),
    ),
    (
        {"type": PREPROCESSING, "task_type": "resize"},
        "coffee",
        False,
        ((640, 640, 3), 121103119, "fd76acae9f73465a"),
    ),
    (
        {"type": PREPROCESSING, "task_type": "rotate"},
        "chelsea",
        False,
        ((451, 300, 3), 46847940, "f2c3057595525c3e"),
    ),
    (
        {"type": PREPROCESSING, "task_type": "rotate", "rotation_degrees": 45},
        "coffee",
        False,
        ((707, 707, 3), 71007326, "3d16799a4c00dcba"),
    ),
    (
        {"type": PREPROCESSING, "task_type": "rotate", "rotation_degrees": -30},
        "coffee",
        False,
        ((646, 719, 3), 71006750, "7d693de7121e906e"),
    ),
    (
        {"type": PREPROCESSING, "task_type": "rotate", "rotation_degrees": 180},
        "coffee",
        False,
        ((400, 600, 3), 70723033, "4c56a93e6479eaf2"),
    ),
    (
        {"type": PREPROCESSING, "task_type": "rotate", "rotation_degrees": 360},
        "coffee",
        False,
        ((400, 600, 3), 71003487, "9597942f8acc753a"),
    ),
    (
        {"type": PREPROCESSING, "task_type": "flip"},
        "chelsea",
        False,
        ((300, 451, 3), 46802357, "bcae38cad377e057"),
    ),
    (
        {"type": PREPROCESSING, "task_type": "flip", "flip_type": "horizontal"},
        "chelsea",
        False,
        ((300, 451, 3), 46802357, "cc6ca8b933a6a325"),
    ),
    (
        {"type": PREPROCESSING, "task_type": "flip", "flip_type": "both"},
        "chelsea",
        False,
        ((300, 451, 3), 46802357, "d84a3990e63e47fe"),
    ),
    ({"type": ENHANCEMENT}, "moon", False, ((512, 512, 3), 88213740, "a641c47851a3252e")),
    (
        {"type": ENHANCEMENT, "clip_limit": 2},
        "coffee",
        False,
        ((400, 600, 3), 72614086, "a11800a0c32fde02"),
    ),
    (
        {
            "type": ENHANCEMENT,
            "clip_limit": 7,
            "contrast_multiplier": 1.5,
            "normalize_brightness": True,
        },
        "coffee",
        False,
        ((400, 600, 3), 89330030, "d64f0f12103cdbf9"),
    ),
    (
        {
            "type": ENHANCEMENT,
            "clip_limit": 7,
            "contrast_multiplier": 1.5,
            "normalize_brightness": True,
        },
        "camera",
        True,
        ((512, 512), 41640264, "9daf06187f6b92fb"),
    ),
    # clipping half at each end leaves one value: the image is given back as it is
    (
        {"type": ENHANCEMENT, "clip_limit": 50, "contrast_multiplier": 2.0},
        "camera",
        True,
        ((512, 512), 33832495, "5cb24482a53416f9"),
    ),
    ({"type": EQUALIZATION}, "chelsea", False, ((300, 451, 3), 51858506, "cf5454c6b94a5891")),
    (
        {"type": EQUALIZATION, "equalization_type": "Contrast Stretching"},
        "coffee",
        False,
        ((400, 600, 3), 73799647, "384732e848adab1e"),
    ),
    (
        {"type": EQUALIZATION, "equalization_type": "Adaptive Equalization"},
        "moon",
        False,
        ((512, 512, 3), 97750911, "083353905cc5d63e"),
    ),
    ({"type": MORPHOLOGY_V1}, "coffee", False, ((400, 600, 1), 26643290, "4dba738c465342c3")),
    (
        {"type": MORPHOLOGY_V1, "operation": "Erosion", "kernel_size": 3},
        "coins",
        False,
        ((303, 384, 1), 9556115, "16fd8b7ebb2994db"),
    ),
    (
        {"type": MORPHOLOGY_V1, "operation": "Top Hat", "kernel_size": 3},
        "coins",
        False,
        ((303, 384, 1), 649080, "66b168091437abdb"),
    ),
    ({"type": MORPHOLOGY_V2}, "coffee", False, ((400, 600, 3), 65823452, "21864f1732344c02")),
    (
        {"type": MORPHOLOGY_V2, "operation": "Dilation", "kernel_size": 7},
        "astronaut",
        False,
        ((512, 512, 3), 111741219, "a3add45a5518cd69"),
    ),
    (
        {"type": MORPHOLOGY_V2, "operation": "Black Hat", "kernel_size": 7},
        "astronaut",
        False,
        ((512, 512, 3), 6619247, "1da3b7b0297ddacc"),
    ),
    # a gray image is made BGR first
    (
        {"type": MORPHOLOGY_V2, "operation": "Gradient"},
        "camera",
        True,
        ((512, 512, 3), 25751571, "b62b34adcd044c3e"),
    ),
]


@pytest.mark.parametrize(
    ("step", "image", "gray_first", "expected"),
    IMAGES,
    ids=[f"{s['type'].split('/')[1]}-{i}" for i, (s, *_) in enumerate(IMAGES)],
)
def test_the_image_is_roboflows_pixel_for_pixel(step, image, gray_first, expected):
    assert digest(run(step, image, gray_first)["image"].numpy) == expected


def test_grayscale_is_opencvs_luminance_as_one_channel():
    gray = run({"type": "roboflow_core/convert_grayscale@v1"}, "chelsea")["image"]
    expected = cv2.cvtColor(bgr("chelsea"), cv2.COLOR_BGR2GRAY)
    assert gray.numpy.shape == (300, 451)
    assert np.array_equal(gray.numpy, expected)


def test_the_made_image_is_a_derived_image_of_its_input_in_the_same_place():
    document = definition({"type": PREPROCESSING, "task_type": "flip"})
    document["steps"][0]["images"] = document["steps"][0].pop("image")  # Roboflow's alias
    workflow = Workflow.compile(document)
    source = bgr("coffee")
    flipped = workflow.run(image=source)[0]["out"]["image"]
    assert flipped.parent_id is not None and flipped.image_id != flipped.parent_id
    assert (flipped.origin.offset_x, flipped.origin.offset_y) == (0, 0)
    assert np.array_equal(flipped.numpy, source[::-1])


@pytest.mark.parametrize(
    ("step", "image", "expected"),
    [
        ({}, "coffee", (161, 58, 24)),
        ({}, "astronaut", (201, 190, 187)),
        ({"color_clusters": 3, "max_iterations": 20, "target_size": 50}, "chelsea", (145, 106, 76)),
    ],
)
def test_dominant_color_is_roboflows_for_the_same_random_start(step, image, expected):
    result = run({"type": "roboflow_core/dominant_color@v1", **step}, image)
    assert result == {"rgb_color": expected}


@pytest.mark.parametrize(
    ("colour", "tolerance", "image", "expected"),
    [
        ("#ffffff", 30, "coffee", 3518),
        ("(240, 240, 240)", 15, "coffee", 3518),  # the same range, 225-255 on each channel
        ("#000", None, "astronaut", 38036),  # default tolerance 10
        ([200, 120, 60], 40, "chelsea", 15355),  # R, G, B
    ],
)
def test_pixel_color_count_counts_pixels_within_tolerance(colour, tolerance, image, expected):
    step = {"type": "roboflow_core/pixel_color_count@v1", "target_color": colour}
    if tolerance is not None:
        step["tolerance"] = tolerance
    assert run(step, image) == {"matching_pixels_count": expected}


@pytest.mark.parametrize(
    ("image", "gray_first", "measure", "expected"),
    [
        ("coffee", False, 393.9633666666667, ((400, 600), 931547, "d359c3cde53def9e")),
        ("camera", False, 350.1748580932617, ((512, 512), 955993, "6386e1fbfc20b9b7")),
        ("astronaut", True, 493.91029357910156, ((512, 512), 982095, "6fc6a8612982b0bb")),
    ],
)
def test_camera_focus_is_roboflows_brenner_measure(image, gray_first, measure, expected):
    result = run({"type": "roboflow_core/camera_focus@v1"}, image, gray_first)
    assert result["focus_measure"] == measure
    assert digest(result["image"].numpy) == expected


def test_a_blur_type_from_a_parameter_is_used():
    step = {"type": BLUR, "blur_type": "$inputs.value", "kernel_size": 5}
    blurred = run(step, "coffee", value="average")["image"]
    assert digest(blurred.numpy) == ((400, 600, 3), 71002188, "025bc1687abb55a3")


def compile_error(step: dict) -> ManifestError:
    with pytest.raises(ManifestError) as caught:
        Workflow.compile(definition(step))
    return caught.value


def test_an_unknown_blur_type_lists_the_valid_ones():
    error = compile_error({"type": BLUR, "blur_type": "box"})
    assert error.place == "steps[0] 'step' field 'blur_type'"
    assert "'average', 'gaussian', 'median' or 'bilateral'" in error.message
    assert "(found 'box')" in error.message


@pytest.mark.parametrize(
    ("step", "field", "words"),
    [
        (
            {"type": THRESHOLD, "threshold_type": "adaptive", "thresh_value": 1},
            "threshold_type",
            "'adaptive_mean', 'adaptive_gaussian' or 'otsu'",
        ),
        ({"type": PREPROCESSING, "task_type": "crop"}, "task_type", "'resize', 'rotate' or 'flip'"),
        (
            {"type": PREPROCESSING, "task_type": "flip", "flip_type": "diagonal"},
            "flip_type",
            "'vertical', 'horizontal' or 'both'",
        ),
        (
            {"type": PREPROCESSING, "task_type": "rotate", "rotation_degrees": 400},
            "rotation_degrees",
            "less than or equal to 360",
        ),
        ({"type": PREPROCESSING, "task_type": "resize", "width": 0}, "width", "greater than 0"),
        ({"type": ENHANCEMENT, "clip_limit": 51}, "clip_limit", "less than or equal to 50"),
        (
            {"type": ENHANCEMENT, "contrast_multiplier": 0},
            "contrast_multiplier",
            "greater than or equal to 0.1",
        ),
        (
            {"type": EQUALIZATION, "equalization_type": "CLAHE"},
            "equalization_type",
            "'Histogram Equalization' or 'Adaptive Equalization'",
        ),
        (
            {"type": MORPHOLOGY_V2, "operation": "Thinning"},
            "operation",
            "'Opening then Closing', 'Gradient', 'Top Hat' or 'Black Hat'",
        ),
        (
            {"type": "roboflow_core/dominant_color@v1", "color_clusters": 11},
            "color_clusters",
            "less than or equal to 10",
        ),
        (
            {"type": "roboflow_core/pixel_color_count@v1", "target_color": "#12345"},
            "target_color",
            "is not a colour: give '#RRGGBB', '#RGB', '(R, G, B)' or [R, G, B]",
        ),
        (
            {"type": BLUR, "blur_type": "average", "kernel_size": 0},
            "kernel_size",
            "an average blur needs kernel_size >= 1, found 0",
        ),
    ],
)
def test_a_bad_field_value_is_a_compile_error_at_the_field(step, field, words):
    error = compile_error(step)
    assert error.place == f"steps[0] 'step' field '{field}'"
    assert words in error.message


def test_threshold_value_is_required_as_in_roboflow():
    error = compile_error({"type": THRESHOLD})
    assert error.message == "missing required field 'thresh_value'"


def test_a_bad_value_from_a_parameter_is_refused_before_the_run():
    workflow = Workflow.compile(definition({"type": BLUR, "blur_type": "$inputs.value"}))
    with pytest.raises(RuntimeInputError) as caught:
        workflow.run(image=bgr("coffee"), value="box")
    assert "'average', 'gaussian', 'median' or 'bilateral'" in caught.value.message


def test_otsu_on_a_colour_image_says_to_convert_it_first():
    step = {"type": THRESHOLD, "threshold_type": "otsu", "thresh_value": 0}
    with pytest.raises(StepExecutionError) as caught:
        run(step, "coffee")
    assert "needs a one-channel image, found 3 channels" in str(caught.value)
    assert "roboflow_core/convert_grayscale@v1" in str(caught.value)


# Where Roboflow's block fails on (or misreads) a one-channel image, a gray image here is
# taken as its gray colours: these values are visionflow's own, not Roboflow's.


def test_a_gray_image_stays_gray_through_convert_grayscale_and_morphology_v1():
    gray = run({"type": "roboflow_core/convert_grayscale@v1"}, "coffee", gray_first=True)
    assert np.array_equal(gray["image"].numpy, cv2.cvtColor(bgr("coffee"), cv2.COLOR_BGR2GRAY))
    closed = run({"type": MORPHOLOGY_V1}, "coffee", gray_first=True)["image"].numpy
    assert digest(closed) == ((400, 600, 1), 26643290, "4dba738c465342c3")  # as from colour


def test_a_gray_image_has_a_gray_dominant_color():
    result = run({"type": "roboflow_core/dominant_color@v1"}, "coffee", gray_first=True)
    assert result == {"rgb_color": (137, 137, 137)}


def test_pixel_color_count_counts_a_gray_image_as_its_gray_colours():
    step = {"type": "roboflow_core/pixel_color_count@v1", "target_color": "#808080"}
    gray = cv2.cvtColor(bgr("coffee"), cv2.COLOR_BGR2GRAY)
    expected = int(((gray >= 118) & (gray <= 138)).sum())
    assert run(step, "coffee", gray_first=True) == {"matching_pixels_count": expected}
    assert expected == 34608


def test_a_bad_value_from_a_step_output_fails_the_step_naming_the_valid_ones():
    # a text made by another step is known only when the workflow runs
    document = definition({"type": BLUR, "blur_type": "$steps.name.output"})
    document["steps"].insert(
        0,
        {
            "type": "roboflow_core/property_definition@v1",
            "name": "name",
            "data": "$inputs.value",
            "operations": [],
        },
    )
    workflow = Workflow.compile(document)
    with pytest.raises(StepExecutionError) as caught:
        workflow.run(image=bgr("coffee"), value="box")
    assert "blur_type 'box' is not one of 'average', 'gaussian', 'median', 'bilateral'" in str(
        caught.value
    )


# --- bilateral filter and camera focus v2 ---------------------------------------------------

BILATERAL = "roboflow_core/bilateral_filter@v1"


@pytest.mark.parametrize(
    ("fields", "arguments"),
    [({}, (9, 75.0, 75.0)), ({"diameter": 4, "sigma_color": 20, "sigma_space": 150}, (5, 20, 150))],
)
def test_bilateral_filter_is_opencvs_with_roboflows_arguments(fields, arguments):
    # Roboflow's block is newer than the engine at hand (inference 1.8.3); its source (read
    # on github) calls OpenCV's bilateralFilter with these arguments: an even diameter is
    # made odd, one more.
    result = run({"type": BILATERAL, **fields}, "astronaut")["image"].numpy
    assert np.array_equal(result, cv2.bilateralFilter(bgr("astronaut"), *arguments))


def test_bilateral_filter_keeps_alpha_and_a_gray_image_gray():
    # inputs are read as BGR, so a BGRA image (one a step made) is given to the block itself
    source = np.dstack([bgr("chelsea"), np.full((300, 451), 200, np.uint8)])
    block = BilateralFilter()
    result = block.run(WorkflowImage(source), diameter=7)["image"].numpy
    assert result.shape == (300, 451, 4)
    assert np.array_equal(result[:, :, 3], source[:, :, 3])
    assert np.array_equal(result[:, :, :3], cv2.bilateralFilter(bgr("chelsea"), 7, 75.0, 75.0))
    gray = run({"type": BILATERAL}, "camera", gray_first=True)["image"].numpy
    assert gray.shape == (512, 512)


@pytest.mark.parametrize(
    ("field", "value"), [("diameter", 2), ("diameter", 53), ("sigma_color", 0)]
)
def test_bilateral_filter_refuses_values_out_of_range(field, value):
    with pytest.raises(ManifestError, match=field):
        Workflow.compile(definition({"type": BILATERAL, field: value}))


FOCUS_V2 = "roboflow_core/camera_focus@v2"


def test_camera_focus_v2_is_roboflows_tenengrad_with_its_overlay():
    document = definition({"type": FOCUS_V2, "show_hud": False, "grid_overlay": "2x2"})
    document["steps"][0]["detections"] = "$inputs.boxes"
    document["inputs"].append(
        {"type": "WorkflowBatchInput", "name": "boxes", "kind": ["object_detection_prediction"]}
    )
    boxes = sv.Detections(
        xyxy=np.array([[100.7, 50.2, 300.9, 260.5], [-20, -10, 40, 30], [600, 600, 700, 700]]),
        confidence=np.array([0.9, 0.8, 0.7]),
        class_id=np.array([0, 0, 0]),
    )
    out = Workflow.compile(document).run(image=[bgr("astronaut")], boxes=[boxes])[0]["out"]
    # Roboflow's values; a box outside the image has none
    assert out["bbox_focus_measures"] == [18269.525390625, 23300.982421875, None]
    assert digest(out["image"].numpy) == ((512, 512, 3), 92063392, "43420cbd5cf79d19")
    # a float32 mean: Roboflow's numpy (2.2) sums in another order than numpy 2.4 does
    # (14671.1318359375 there); the same to float32's precision
    assert out["focus_measure"] == pytest.approx(14671.1318359375, rel=1e-6)


def test_camera_focus_v2_draws_roboflows_panel():
    # the rocket tiled 3 x 3, zebra stripes off: Roboflow's image, panel and all
    source = np.tile(bgr("rocket"), (3, 3, 1))
    document = definition({"type": FOCUS_V2, "show_zebra_warnings": False})
    out = Workflow.compile(document).run(image=source)[0]["out"]
    assert out["focus_measure"] == 5060.4404296875
    assert out["bbox_focus_measures"] == []
    assert digest(out["image"].numpy) == ((1281, 1920, 3), 475049488, "f916923301f8f997")


def test_camera_focus_v2_without_overlays_gives_the_image_itself():
    fields = {"grid_overlay": "None", "show_hud": False, "show_zebra_warnings": False}
    fields |= {"show_focus_peaking": False, "show_center_marker": False}
    out = run({"type": FOCUS_V2, **fields}, "chelsea")
    assert out["focus_measure"] == 4419.0048828125
    assert np.array_equal(out["image"].numpy, bgr("chelsea"))


def test_camera_focus_v2_measures_a_gray_image():
    out = run({"type": FOCUS_V2}, "page", gray_first=True)
    assert out["focus_measure"] == 44655.328125  # Roboflow's value
    assert out["image"].numpy.shape == (191, 384, 3)  # drawn on in colour


def test_camera_focus_v2_reads_a_bgra_image_by_its_colour():
    # a BGRA image (one a step made: inputs are read as BGR) is measured and drawn on by
    # its colour, alpha left out (Roboflow's block fails on one: its overlay is 3 channels)
    from visionflow.blocks.roboflow.image_measures import CameraFocusV2

    colour = bgr("astronaut")
    with_alpha = np.dstack([colour, np.full(colour.shape[:2], 90, np.uint8)])
    block = CameraFocusV2()
    expected = block.run(WorkflowImage(colour))
    found = block.run(WorkflowImage(with_alpha))
    assert found["focus_measure"] == expected["focus_measure"]
    assert np.array_equal(found["image"].numpy, expected["image"].numpy)


@pytest.mark.parametrize(
    "block, fields, words",
    [
        (Threshold, {"thresh_value": 9, "threshold_type": "high"}, "threshold_type 'high' is not"),
        (ImageBlur, {"blur_type": "box"}, "blur_type 'box' is not one of 'average', 'gaussian'"),
        (MorphologicalTransformation, {"operation": "Opening then Closing"}, "operation 'Ope"),
    ],
)
def test_a_choice_from_a_step_output_is_checked_when_the_block_runs(block, fields, words):
    # parameters and literals are checked before the run; a step's output only here
    with pytest.raises(ValueError, match=words):
        block().run(image=WorkflowImage(bgr("coffee")), **fields)


def test_a_step_whose_kernel_size_changes_between_runs_uses_each_runs_kernel():
    # the kernels of ones are made once per size and shared between runs, unchanged
    step = {"type": MORPHOLOGY_V1, "kernel_size": "$inputs.value"}
    workflow = Workflow.compile(definition(step))
    gray = cv2.cvtColor(bgr("coffee"), cv2.COLOR_BGR2GRAY)
    for size in (3, 9, 3, 1):
        [result] = workflow.run(image=bgr("coffee"), value=size)
        kernel = np.ones((size, size), np.uint8)
        expected = cv2.morphologyEx(gray, cv2.MORPH_CLOSE, kernel)[:, :, None]
        assert np.array_equal(result["out"]["image"].numpy, expected)
