"""A hostile review of the express lane and its neighbours (commit 8e60c1e): the same plans
run on the express lane and on the general paths give the same results and errors, on real
images; images given as an RGB batch in a tuple are read as RGB."""

from __future__ import annotations

import copy
import datetime
import json
import re
from typing import Any

import numpy as np
import pytest
from skimage import data

from test_engine_short_paths import Echo, general, step
from visionflow import Workflow
from visionflow.data.image import VideoMetadata, WorkflowImage, as_channel_order
from visionflow.errors import WorkflowError

ASTRONAUT = np.ascontiguousarray(data.astronaut()[:96, :128, ::-1])  # BGR, as OpenCV's
COINS = np.ascontiguousarray(np.repeat(data.coins()[:80, :100, None], 3, axis=2))
# ids, detection ids and times differ from run to run: each is compared as a placeholder
_VARYING = re.compile(
    r"image-\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|\d{4}-\d\d-\d\d[T ][0-9:.]+"
)

DETECTIONS = {
    "image": {"width": 128, "height": 96},
    "predictions": [
        {"x": 40, "y": 30, "width": 20, "height": 16, "class": "face", "class_id": 0,
         "confidence": 0.9, "detection_id": "d1", "parent_id": "crop-1"},
        {"x": 90, "y": 60, "width": 10, "height": 30, "class": "arm", "class_id": 1,
         "confidence": 0.4, "detection_id": "d2", "parent_id": "crop-1"},
    ],
}  # fmt: skip


def _document(
    inputs: list[dict], steps: list[dict], outputs: dict[str, Any], **settings: Any
) -> dict:
    listed = []
    for name, selector in outputs.items():
        output = {"type": "JsonField", "name": name}
        if isinstance(selector, tuple):  # (selector, coordinates_system)
            selector, output["coordinates_system"] = selector
        listed.append({**output, "selector": selector})
    found = {"version": "1.0", "inputs": inputs, "steps": steps, "outputs": listed}
    return {**found, "settings": settings} if settings else found


IMAGE = {"type": "WorkflowImage", "name": "image"}
PLANS = {
    "image chain": _document(
        [IMAGE, {"type": "WorkflowParameter", "name": "kernel", "default_value": 5}],
        [
            {
                "type": "roboflow_core/image_blur@v1",
                "name": "blur",
                "image": "$inputs.image",
                "kernel_size": "$inputs.kernel",
            },
            {
                "type": "roboflow_core/convert_grayscale@v1",
                "name": "gray",
                "image": "$steps.blur.image",
            },
            {
                "type": "roboflow_core/threshold@v1",
                "name": "bw",
                "image": "$steps.gray.image",
                "threshold_type": "otsu",
                "thresh_value": 0,
            },
            {
                "type": "roboflow_core/image_preprocessing@v1",
                "name": "flip",
                "image": "$steps.bw.image",
                "task_type": "flip",
                "flip_type": "both",
            },
        ],
        {
            "bw": "$steps.bw.image",
            "flip": "$steps.flip.*",
            "image": "$inputs.image",
            "kernel": "$inputs.kernel",
        },
    ),
    "detections drawn": _document(
        [
            IMAGE,
            {"type": "WorkflowBatchInput", "name": "dets", "kind": ["object_detection_prediction"]},
            {"type": "WorkflowParameter", "name": "thickness", "default_value": 2},
            {"type": "WorkflowParameter", "name": "palette", "default_value": "DEFAULT"},
        ],
        [
            {
                "type": "roboflow_core/detections_filter@v1",
                "name": "kept",
                "predictions": "$inputs.dets",
                "operations": [
                    {
                        "type": "DetectionsFilter",
                        "filter_operation": {
                            "type": "StatementGroup",
                            "statements": [
                                {
                                    "type": "BinaryStatement",
                                    "left_operand": {
                                        "type": "DynamicOperand",
                                        "operations": [
                                            {
                                                "type": "ExtractDetectionProperty",
                                                "property_name": "confidence",
                                            }
                                        ],
                                    },
                                    "comparator": {"type": "(Number) >="},
                                    "right_operand": {"type": "StaticOperand", "value": 0.5},
                                }
                            ],
                        },
                    }
                ],
            },
            {
                "type": "roboflow_core/bounding_box_visualization@v1",
                "name": "boxes",
                "image": "$inputs.image",
                "predictions": "$steps.kept.predictions",
                "color_palette": "$inputs.palette",
                "thickness": "$inputs.thickness",
            },
            {
                "type": "roboflow_core/label_visualization@v1",
                "name": "labels",
                "image": "$steps.boxes.image",
                "predictions": "$steps.kept.predictions",
            },
            {
                "type": "roboflow_core/property_definition@v1",
                "name": "count",
                "data": "$steps.kept.predictions",
                "operations": [{"type": "SequenceLength"}],
            },
        ],
        {
            "parent": ("$steps.kept.predictions", "parent"),
            "own": "$steps.kept.predictions",
            "all": ("$steps.kept.*", "parent"),
            "drawn": "$steps.labels.image",
            "count": "$steps.count.output",
        },
        max_concurrent_steps=1,  # steps one at a time: the express lane for a plan no chain
    ),
    "video metadata": _document(
        [IMAGE, {"type": "WorkflowVideoMetadata", "name": "video"}],
        [
            {"type": "roboflow_core/image_blur@v1", "name": "blur", "image": "$inputs.image"},
            {
                "type": "roboflow_core/property_definition@v1",
                "name": "size",
                "data": "$steps.blur.image",
                "operations": [{"type": "ExtractImageProperty", "property_name": "size"}],
            },
        ],
        {"video": "$inputs.video", "size": "$steps.size.output"},
    ),
    "a step fails": _document(
        [IMAGE, {"type": "WorkflowParameter", "name": "word", "default_value": "four"}],
        [
            {
                "type": "roboflow_core/property_definition@v1",
                "name": "length",
                "data": "$inputs.word",
                "operations": [{"type": "SequenceLength"}],
            },
            {
                "type": "roboflow_core/threshold@v1",
                "name": "adaptive",
                "image": "$inputs.image",
                "threshold_type": "adaptive_mean",
                "thresh_value": "$steps.length.output",
            },
        ],
        {"length": "$steps.length.output", "adaptive": "$steps.adaptive.image"},
    ),
}
CASES = {
    "image chain": [
        {"image": ASTRONAUT},
        {"image": COINS, "kernel": 9},
        {"image": ASTRONAUT, "kernel": 0},  # the parameter check: kernel_size >= 1 ... or not
        {"image": ASTRONAUT, "kernel": None},
        {"image": ASTRONAUT, "kernel": "five"},
        {"image": ASTRONAUT[:, :, 0]},  # gray pixels
        {"image": ASTRONAUT.astype(np.float32) / 255.0},  # float pixels in [0, 1]
        {"image": ASTRONAUT[::2, ::-1]},  # a view, not contiguous
        {"image": np.zeros((0, 4, 3), np.uint8)},  # an empty image
        {"image": None},
        {"kernel": 3},  # the image missing
        {"image": ASTRONAUT, "extra": 1},  # an unknown input
        {"image": WorkflowImage(ASTRONAUT, image_id="given")},
    ],
    "detections drawn": [
        {"image": ASTRONAUT, "dets": DETECTIONS},
        {"image": ASTRONAUT, "dets": {**DETECTIONS, "predictions": DETECTIONS["predictions"][1:]}},
        {"image": ASTRONAUT, "dets": DETECTIONS, "thickness": 0},  # refused by the field
        {"image": ASTRONAUT, "dets": DETECTIONS, "palette": "Matplotlib Viridis"},
        {"image": ASTRONAUT, "dets": DETECTIONS, "palette": "NO SUCH PALETTE"},
        {"image": ASTRONAUT, "dets": None},  # an empty element: every step skipped
        {"image": ASTRONAUT, "dets": {"image": {"width": 1, "height": 1}, "predictions": []}},
        {"image": ASTRONAUT, "dets": "not detections"},
        {"image": ASTRONAUT, "dets": DETECTIONS, "thickness": "thick"},
    ],
    "video metadata": [
        {"image": ASTRONAUT,
         "video": VideoMetadata("camera", 7, datetime.datetime(2026, 1, 2, 3, 4, 5), 25.0, True)},
        {"image": ASTRONAUT, "video": {"video_identifier": "v", "frame_number": 1,
                                       "frame_timestamp": "2026-01-02T03:04:05", "fps": 30}},
        {"image": ASTRONAUT, "video": None},
        {"image": ASTRONAUT, "video": "frame one"},
        {"image": ASTRONAUT},
    ],
    "a step fails": [
        {"image": ASTRONAUT},  # adaptive thresholds take gray images only: the step fails
        {"image": ASTRONAUT, "word": None},  # no length: the step after it is skipped
        {"image": ASTRONAUT, "word": 3},  # a number has no length: the first step fails
    ],
}  # fmt: skip


def _outcome(workflow: Workflow, inputs: dict[str, Any], **options: Any) -> Any:
    """What a run gives, as text: its serialised results, or its error's every field."""
    try:
        found = workflow.run(dict(inputs), serialize=True, **options)
    except WorkflowError as error:
        shown = (type(error).__name__, error.code, error.place, error.message, error.hint)
        return ("error", _VARYING.sub("*", repr(shown)), getattr(error, "index", None))
    return ("results", _VARYING.sub("*", json.dumps(found, sort_keys=True, default=repr)))


@pytest.mark.parametrize(
    ("plan", "position"),
    [(plan, position) for plan, cases in CASES.items() for position in range(len(cases))],
)
@pytest.mark.parametrize("channel_order", ["bgr", "rgb"])
def test_the_express_lane_gives_what_the_general_paths_give(plan, position, channel_order):
    express = Workflow.compile(copy.deepcopy(PLANS[plan]), cache=False)
    assert express._express is not None  # the plan takes the express lane
    slow = general(Workflow.compile(copy.deepcopy(PLANS[plan]), cache=False))
    inputs = CASES[plan][position]
    assert _outcome(express, inputs, channel_order=channel_order) == _outcome(
        slow, inputs, channel_order=channel_order
    )


def test_the_express_lane_keeps_its_results_apart_between_runs():
    workflow = Workflow.compile(copy.deepcopy(PLANS["detections drawn"]), cache=False)
    first = workflow.run(image=ASTRONAUT, dets=DETECTIONS)[0]
    second = workflow.run(image=COINS, dets={**DETECTIONS, "predictions": []})[0]
    assert len(first["own"]) == 1 and len(second["own"]) == 0
    assert first["drawn"].image_id != second["drawn"].image_id
    assert first["drawn"].numpy.shape == (96, 128, 3)
    assert second["drawn"].numpy.shape == (80, 100, 3)


# --- an RGB batch given as a tuple ------------------------------------------------------

RED_RGB = np.zeros((2, 3, 3), np.uint8)
RED_RGB[..., 0] = 255  # red, in RGB order
PASSED_ON = _document([IMAGE], [], {"image": "$inputs.image"})


@pytest.mark.parametrize("batch", [list, tuple])
def test_an_rgb_batch_is_read_as_rgb_in_a_list_or_a_tuple(batch):
    workflow = Workflow.compile(PASSED_ON, cache=False)
    results = workflow.run(image=batch([RED_RGB, RED_RGB]), channel_order="rgb")
    assert [result["image"].numpy[0, 0].tolist() for result in results] == [[0, 0, 255]] * 2


def test_a_named_record_is_no_batch_of_images():
    frame = VideoMetadata("v", 0, datetime.datetime(2026, 1, 1), 30.0, None)
    assert as_channel_order(frame, "rgb", "inputs 'video'") is frame
    assert as_channel_order((RED_RGB,), "rgb", "inputs 'image'")[0][0, 0].tolist() == [0, 0, 255]


# --- load_image's short path for H x W x 3 uint8 arrays keeps every check ------------------


def test_the_short_path_for_uint8_pixels_keeps_the_pixel_limit_and_refuses_empty_images():
    from visionflow.data.image import load_image
    from visionflow.data.sources import ImagePolicy
    from visionflow.errors import ImageTooLargeError, RuntimeInputError

    pixels = np.ascontiguousarray(ASTRONAUT[:10, :20])
    assert load_image(pixels, policy=ImagePolicy(max_pixels=200)).numpy is pixels
    with pytest.raises(ImageTooLargeError):
        load_image(pixels, policy=ImagePolicy(max_pixels=199))
    with pytest.raises(RuntimeInputError, match=r"the image is empty \(0x4 pixels\)"):
        load_image(np.zeros((4, 0, 3), np.uint8))
    read_only = pixels.copy()
    read_only.flags.writeable = False
    assert load_image(read_only).numpy is read_only  # taken as it is, as before
    big_endian = (pixels.astype(">u2") << 8) | 0x7F  # 16-bit pixels: the top 8 bits
    assert load_image(big_endian).numpy.tolist() == pixels.tolist()


def test_regions_and_new_pixels_keep_their_ids_places_and_copies():
    import pickle

    root = WorkflowImage(ASTRONAUT, image_id="root")
    crop = root.crop(10, 20, 50, 60)
    same_place = root.region(ASTRONAUT.copy(), 0, 0)
    drawn = crop.with_pixels(crop.numpy.copy())
    assert len({crop.image_id, same_place.image_id, root.image_id}) == 3
    assert tuple(crop.origin) == ("root", 10, 20, 128, 96)
    assert tuple(same_place.origin) == ("root", 0, 0, 128, 96)
    assert tuple(crop.parent_place) == (10, 20, 128, 96)
    assert (drawn.image_id, drawn.parent_id, drawn.origin) == (crop.image_id, "root", crop.origin)
    for image in (crop, same_place, drawn):
        for twin in (pickle.loads(pickle.dumps(image)), copy.deepcopy(image), copy.copy(image)):
            assert (twin.image_id, twin.parent_id, twin.origin, twin.parent_place) == (
                image.image_id,
                image.parent_id,
                image.origin,
                image.parent_place,
            )
            assert twin.numpy.tolist() == image.numpy.tolist()


# --- a visualisation's annotators, found by the fields as given -------------------------

BOXES = _document(
    [
        IMAGE,
        {"type": "WorkflowBatchInput", "name": "dets", "kind": ["object_detection_prediction"]},
        {"type": "WorkflowParameter", "name": "colours", "default_value": ["#FF0000"]},
        {"type": "WorkflowParameter", "name": "thickness", "default_value": 1},
    ],
    [
        {
            "type": "roboflow_core/bounding_box_visualization@v1",
            "name": "boxes",
            "image": "$inputs.image",
            "predictions": "$inputs.dets",
            "color_palette": "CUSTOM",
            "custom_colors": "$inputs.colours",
            "thickness": "$inputs.thickness",
        }
    ],
    {"drawn": "$steps.boxes.image"},
)


def test_a_palette_list_changed_in_place_between_runs_draws_the_new_colour():
    workflow = Workflow.compile(BOXES, cache=False)
    colours = ["#FF0000"]
    black = np.zeros((96, 128, 3), np.uint8)
    first = workflow.run(image=black, dets=DETECTIONS, colours=colours)[0]["drawn"].numpy
    colours[0] = "#00FF00"  # the same list, another colour
    second = workflow.run(image=black, dets=DETECTIONS, colours=colours)[0]["drawn"].numpy
    third = workflow.run(image=black, dets=DETECTIONS, colours=colours, thickness=True)
    assert first[22, 30].tolist() == [0, 0, 255]  # the face's box edge, red in BGR
    assert second[22, 30].tolist() == [0, 255, 0]
    assert third[0]["drawn"].numpy.tolist() == second.tolist()  # True draws as 1 does


# --- every wrong step reported, in an inner workflow too ---------------------------------


def test_every_wrong_step_of_a_child_workflow_is_named_in_the_child():
    child = _document(
        [IMAGE],
        [
            {
                "type": "roboflow_core/image_blur@v1",
                "name": "blur",
                "image": "$inputs.image",
                "kernel_size": "wide",
            },
            {"type": "nowhere/none@v1", "name": "lost", "image": "$inputs.image"},
        ],
        {"out": "$steps.blur.image"},
    )
    parent = _document(
        [IMAGE],
        [
            {
                "type": "roboflow_core/inner_workflow@v1",
                "name": "inner",
                "workflow_definition": child,
                "parameter_bindings": {"image": "$inputs.image"},
            },
            {
                "type": "roboflow_core/image_blur@v1",
                "name": "blur",
                "image": "$inputs.image",
                "blur_type": "smudge",
            },
        ],
        {"out": "$steps.blur.image"},
    )
    with pytest.raises(WorkflowError) as raised:
        Workflow.compile(parent, cache=False)
    found = [raised.value, *raised.value.also]
    assert [(error.code, error.place) for error in found] == [
        ("invalid_step_field", "steps[0] 'inner' workflow_definition steps[0] 'blur' field "
         "'kernel_size'"),
        ("unknown_block_type", "steps[0] 'inner' workflow_definition steps[1] 'lost'"),
        ("invalid_step_field", "steps[1] 'blur' field 'blur_type'"),
    ]  # fmt: skip
    assert [item["place"] for item in raised.value.to_dict()["also"]] == [
        error.place for error in found[1:]
    ]
    # compiled again: the same places (nothing re-placed twice)
    with pytest.raises(WorkflowError) as again:
        Workflow.compile(parent, cache=False)
    assert again.value.to_dict() == raised.value.to_dict()


# --- batch inputs with defaults, parameters given None, a scalar step read per element -----

DEFAULTS = {
    "version": "1.0",
    "settings": {"max_concurrent_steps": 1},
    "inputs": [
        {"type": "WorkflowBatchInput", "name": "words", "kind": ["string"], "default_value": "w"},
        {"type": "WorkflowBatchInput", "name": "more", "kind": ["string"], "default_value": None},
        {"type": "WorkflowParameter", "name": "p", "default_value": None},
    ],
    "steps": [
        step("a", "$inputs.words", suffix="$inputs.p"),
        step("b", "$steps.a.value", suffix="$inputs.more"),
        {"type": "test/echo@v1", "name": "s", "value": "$inputs.p"},
        step("c", "$steps.b.value", suffix="$steps.s.value"),
    ],
    "outputs": [
        {"type": "JsonField", "name": name, "selector": selector}
        for name, selector in {
            "a": "$steps.a.*",
            "b": "$steps.b.value",
            "s": "$steps.s.value",
            "more": "$inputs.more",
            "c": "$steps.c.*",
            "p": "$inputs.p",
        }.items()
    ],
}


@pytest.mark.parametrize(
    "inputs",
    [{}, {"more": "m"}, {"p": "x"}, {"p": "nothing"}, {"words": None}, {"words": "boom"},
     {"p": "boom"}, {"more": ("m",)}, {"words": ()}, {"words": "nothing", "more": "m"}],
)  # fmt: skip
def test_defaults_and_empty_values_on_the_express_lane(inputs):
    express = Workflow.compile(DEFAULTS, blocks=[Echo], cache=False)
    assert express._express is not None
    slow = general(Workflow.compile(DEFAULTS, blocks=[Echo], cache=False))
    assert _outcome(express, inputs) == _outcome(slow, inputs)
