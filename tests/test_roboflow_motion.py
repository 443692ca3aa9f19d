"""Roboflow's background subtraction and motion detection, over a real sequence of frames.

The frames: a 60 x 60 patch of skimage's chelsea moving 40 pixels a frame across skimage's
coffee (halved to 300 x 200). Each frame goes through the same compiled workflow, one run
after the other, so the step's background model learns as Roboflow's does. Every expected
value is what Roboflow's own engine (inference-core 1.8.3, its ``roboflow_core`` blocks,
OpenCV 4.12) gave for the same definition and frames, run for run; images are checked by
shape, pixel sum and SHA-256 (first 16 hex digits) of their bytes.
"""

from __future__ import annotations

import datetime
import hashlib
import json

import numpy as np
import pytest
import skimage.data

from visionflow import Workflow
from visionflow.data.image import VideoMetadata, WorkflowImage
from visionflow.errors import ManifestError, StepExecutionError
from visionflow.serialization import serialize


def frames(count: int = 6) -> list[np.ndarray]:
    background = np.ascontiguousarray(skimage.data.coffee()[::2, ::2, ::-1])
    patch = np.ascontiguousarray(skimage.data.chelsea()[60:120, 150:210, ::-1])
    sequence = []
    for position in range(count):
        frame = background.copy()
        x = 20 + 40 * position
        frame[70:130, x : x + 60] = patch
        sequence.append(frame)
    return sequence


def workflow(step: dict) -> Workflow:
    """A fresh compiled workflow (not the plan cache's): a background of its own."""
    selector = f"$steps.{step['name']}.*"
    return Workflow.compile(
        {
            "version": "1.0",
            "inputs": [{"type": "WorkflowImage", "name": "image"}],
            "steps": [step],
            "outputs": [{"type": "JsonField", "name": "out", "selector": selector}],
        },
        cache=False,
    )


def digest(pixels: np.ndarray) -> tuple:
    data = np.ascontiguousarray(pixels).tobytes()
    return pixels.shape, int(pixels.astype(np.int64).sum()), hashlib.sha256(data).hexdigest()[:16]


def motions(step: dict, count: int = 6) -> list[dict]:
    """The step's outputs for each frame in turn: motion, alarm, boxes, zones."""
    compiled = workflow(step)
    results = []
    for frame in frames(count):
        out = compiled.run(image=frame)[0]["out"]
        results.append(
            {
                "motion": out["motion"],
                "alarm": out["alarm"],
                "boxes": out["detections"].xyxy.tolist(),
                "zones": out["motion_zones"],
            }
        )
    return results


MOTION = {"type": "roboflow_core/motion_detection@v1", "name": "m", "image": "$inputs.image"}
NOTHING = {"motion": False, "alarm": False, "boxes": [], "zones": []}
# Roboflow's engine: the moving patch's outline at frames 3, 4 and 5 (no zone)
ZONE_3 = [[145, 70], [140, 80], [145, 84], [140, 88], [148, 93], [140, 92], [140, 128]]
ZONE_3 += [[152, 129], [155, 120], [156, 129], [198, 127], [199, 71]]
ZONE_4 = [[185, 70], [180, 80], [185, 84], [180, 88], [188, 93], [180, 92], [180, 128]]
ZONE_4 += [[192, 129], [195, 120], [196, 129], [238, 129], [239, 71]]
ZONE_5 = [[225, 70], [220, 80], [225, 84], [220, 88], [228, 93], [220, 92], [220, 128]]
ZONE_5 += [[232, 129], [235, 120], [236, 129], [278, 129], [279, 71]]


def test_background_subtraction_learns_the_background_run_after_run():
    step = {
        "type": "roboflow_core/background_subtraction@v1",
        "name": "b",
        "image": "$inputs.image",
        "threshold": 16,
        "history": 3,
    }
    compiled = workflow(step)
    masks = [compiled.run(image=frame)[0]["out"]["image"] for frame in frames()]
    # Roboflow's engine, frame by frame (127: MOG2's shadow mark)
    assert [digest(mask.numpy) for mask in masks] == [
        ((200, 300, 3), 22860000, "42d2c6cc5ae30ddf"),
        ((200, 300, 3), 2232279, "d417883f854c7af6"),
        ((200, 300, 3), 1775079, "77e7e0281f7818cc"),
        ((200, 300, 3), 1314450, "3b916c7dbe58e7ba"),
        ((200, 300, 3), 1317879, "7d9f21babf3ce93a"),
        ((200, 300, 3), 1317879, "a79bbbe75158d748"),
    ]
    assert masks[0].parent_id is not None  # a derived image of the frame, as Roboflow's


def test_background_subtraction_defaults_and_alias():
    step = {
        "type": "roboflow_core/background_subtraction@v1",
        "name": "b",
        "images": "$inputs.image",
    }
    mask = workflow(step).run(image=frames(1)[0])[0]["out"]["image"].numpy
    # a first frame is all new: MOG2 marks every pixel 127 (Roboflow's engine too)
    assert np.unique(mask).tolist() == [127]


def test_motion_detection_waits_for_history_then_finds_the_moving_patch():
    results = motions({**MOTION, "history": 3})
    # Roboflow's engine: 3 frames to learn, then the patch; the alarm only when it starts
    assert results == [
        NOTHING,
        NOTHING,
        NOTHING,
        {"motion": True, "alarm": True, "boxes": [[140, 70, 200, 130]], "zones": [ZONE_3]},
        {"motion": True, "alarm": False, "boxes": [[180, 70, 240, 130]], "zones": [ZONE_4]},
        {"motion": True, "alarm": False, "boxes": [[220, 70, 280, 130]], "zones": [ZONE_5]},
    ]


def test_motion_detections_are_roboflows_and_serialise():
    compiled = workflow({**MOTION, "history": 3})
    for frame in frames(4):
        out = compiled.run(image=frame)[0]["out"]
    detections = out["detections"]
    assert detections.data["class_name"].tolist() == ["motion"]
    assert detections.class_id.tolist() == [0]
    assert detections.confidence.tolist() == [1]
    [prediction] = serialize(out)["detections"]["predictions"]
    assert (prediction["x"], prediction["y"], prediction["width"], prediction["height"]) == (
        170.0,
        100.0,
        60,
        60,
    )
    assert json.loads(json.dumps(serialize(out)))["motion_zones"] == [ZONE_3]


def test_motion_detection_clips_regions_to_the_detection_zone():
    zone = [[100, 60], [260, 60], [260, 140], [100, 140]]
    results = motions({**MOTION, "history": 3, "detection_zone": zone})
    # Roboflow's engine: the last patch is cut at the zone's right edge (x 260)
    last = [[225, 70], [224, 78], [220, 80], [225, 84], [220, 88], [228, 93], [220, 92]]
    last += [[220, 128], [232, 129], [235, 120], [236, 129], [260, 129], [260, 70], [240, 70]]
    last += [[238, 73]]
    assert results[:3] == [NOTHING] * 3
    assert results[3:] == [
        {"motion": True, "alarm": True, "boxes": [[140, 70, 200, 130]], "zones": [ZONE_3]},
        {"motion": True, "alarm": False, "boxes": [[180, 70, 240, 130]], "zones": [ZONE_4]},
        {"motion": True, "alarm": False, "boxes": [[220, 70, 261, 130]], "zones": [last]},
    ]


def test_motion_detection_zone_as_json_text_without_suppression():
    zone = "[[100, 60], [260, 60], [180, 100], [260, 140], [100, 140]]"
    step = {**MOTION, "history": 3, "detection_zone": zone, "suppress_first_detections": False}
    results = motions(step, count=4)
    # Roboflow's engine: the first frame is all motion (cut to the whole zone), then the
    # patch; the boxes are Roboflow's on every frame
    assert [r["boxes"] for r in results] == [
        [[100, 60, 261, 141]],
        [[100, 70, 120, 130]],
        [[100, 70, 160, 130]],
        [[140, 70, 200, 130]],
    ]
    assert [(r["motion"], r["alarm"]) for r in results] == [
        (True, True),
        (True, False),
        (True, False),
        (True, False),
    ]
    # and so are the outlines where the zone's notch cuts into the patch (frame 3)
    notched = [[145, 70], [140, 80], [145, 84], [140, 88], [148, 93], [140, 92], [140, 128]]
    notched += [[152, 129], [155, 120], [156, 129], [198, 127], [199, 109], [180, 100]]
    notched += [[199, 90], [199, 71]]
    assert results[3]["zones"] == [notched]


def test_each_compiled_workflow_and_each_step_has_its_own_background():
    first = workflow({**MOTION, "history": 1})
    second = workflow({**MOTION, "history": 1})
    sequence = frames(3)
    for frame in sequence:
        first.run(image=frame)
    # the second workflow has seen one frame only: it is still learning
    assert second.run(image=sequence[2])[0]["out"]["motion"] is False
    assert first.run(image=sequence[0])[0]["out"]["motion"] is True


def test_each_video_has_its_own_background_and_ending_it_forgets_it():
    compiled = workflow({**MOTION, "history": 1})
    sequence = frames(3)

    def at(video: str, number: int, pixels: np.ndarray) -> WorkflowImage:
        meta = VideoMetadata(video, number, datetime.datetime(2026, 1, 1), 10.0, True)
        return WorkflowImage(pixels, video=meta)

    for number, pixels in enumerate(sequence):
        compiled.run(image=at("a", number, pixels))
    # video b's first frame: its own background, still learning
    assert compiled.run(image=at("b", 0, sequence[2]))[0]["out"]["motion"] is False
    assert compiled.run(image=at("a", 3, sequence[0]))[0]["out"]["motion"] is True
    assert compiled.end_video("a") is True
    assert compiled.run(image=at("a", 4, sequence[0]))[0]["out"]["motion"] is False


def test_a_step_keeps_the_backgrounds_of_its_64_most_recent_videos():
    # a background model is frame-sized: a step keeps 64 videos' (the least recent go),
    # not one for each of the store's 1024 videos
    from visionflow.blocks.roboflow.motion import MOST_VIDEOS

    compiled = workflow({**MOTION, "history": 1})
    sequence = frames(3)

    def at(video: str, number: int, pixels: np.ndarray) -> WorkflowImage:
        meta = VideoMetadata(video, number, datetime.datetime(2026, 1, 1), 10.0, True)
        return WorkflowImage(pixels, video=meta)

    for number, pixels in enumerate(sequence):
        compiled.run(image=[at("a", number, pixels), at("b", number, pixels)])
    for other in range(MOST_VIDEOS - 1):  # a is now the least recently seen, then b
        compiled.run(image=at(f"other {other}", 0, sequence[0]))
    assert compiled.run(image=at("b", 3, sequence[0]))[0]["out"]["motion"] is True  # kept
    assert compiled.run(image=at("a", 3, sequence[0]))[0]["out"]["motion"] is False  # new
    assert MOST_VIDEOS == 64


def test_still_images_and_crops_share_the_steps_background():
    compiled = workflow({**MOTION, "history": 1})
    sequence = frames(3)
    for pixels in sequence:
        compiled.run(image=WorkflowImage(pixels))
    assert compiled.run(image=WorkflowImage(sequence[0]))[0]["out"]["motion"] is True


def test_motion_detection_refuses_a_zone_that_is_not_json():
    compiled = workflow({**MOTION, "detection_zone": "[[1, 2], [3"})
    with pytest.raises(StepExecutionError, match="detection_zone"):
        compiled.run(image=frames(1)[0])


def test_motion_detection_refuses_a_zone_of_two_points():
    compiled = workflow({**MOTION, "detection_zone": [[1, 2], [3, 4]]})
    with pytest.raises(StepExecutionError, match="3 or more"):
        compiled.run(image=frames(1)[0])


@pytest.mark.parametrize(
    "field", ["minimum_contour_area", "morphological_kernel_size", "threshold", "history"]
)
def test_motion_detection_numbers_must_be_positive(field: str):
    with pytest.raises(ManifestError):
        workflow({**MOTION, field: 0})


def test_a_batch_of_frames_is_taken_in_order_by_one_background():
    compiled = workflow({**MOTION, "history": 3})
    results = compiled.run(image=frames())
    # the frames of one batch, in order: the same as six runs (Roboflow's engine alike)
    assert [r["out"]["motion"] for r in results] == [False] * 3 + [True] * 3
    assert [r["out"]["alarm"] for r in results] == [False] * 3 + [True, False, False]
    assert [r["out"]["motion_zones"] for r in results][3:] == [[ZONE_3], [ZONE_4], [ZONE_5]]
