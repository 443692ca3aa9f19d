"""Video frames: images carrying their video's metadata, and WorkflowVideoMetadata inputs."""

from __future__ import annotations

import datetime
from typing import Any, Literal

import numpy as np
import pytest

from visionflow import Block, Output, Selector, Workflow
from visionflow.blocks.video_state import VideoStates
from visionflow.data.image import VideoMetadata, WorkflowImage
from visionflow.errors import RuntimeInputError

FRAME = VideoMetadata(
    "camera-1",
    12,
    datetime.datetime(2026, 12, 7, 12, 0, 0, tzinfo=datetime.UTC),
    25.0,
    False,
    measured_fps=24.5,
)


def test_a_frame_keeps_its_video_through_operations_but_not_into_crops():
    frame = WorkflowImage(np.zeros((40, 60, 3), np.uint8), video=FRAME)
    assert frame.video_id == "camera-1" and frame.video_metadata == FRAME
    assert frame.with_pixels(frame.numpy.copy()).video_id == "camera-1"  # drawn on
    assert frame.region(frame.numpy[::2, ::2], 0, 0).video_id == "camera-1"  # resized
    crop = frame.crop(10, 10, 30, 30, crop_id="crop-1")
    assert crop.video_id is None  # a crop is a still image of its own, as in Roboflow
    assert crop.video_metadata.video_identifier == "crop-1"
    still = WorkflowImage(np.zeros((4, 4, 3), np.uint8))
    assert still.video_id is None and still.video_metadata.frame_number == 0


def metadata_document() -> dict:
    return {
        "version": "1.0",
        "inputs": [{"type": "WorkflowVideoMetadata", "name": "meta"}],
        "steps": [],
        "outputs": [{"type": "JsonField", "name": "meta", "selector": "$inputs.meta"}],
    }


def test_video_metadata_given_as_json_is_read_into_its_type():
    workflow = Workflow.compile(metadata_document())
    [declared] = workflow.plan.inputs
    assert (declared.type, declared.kind) == ("batch", ["video_metadata"])
    [result] = workflow.run(
        meta={
            "video_identifier": "camera-1",
            "frame_number": 12,
            "frame_timestamp": "2026-12-07T12:00:00+00:00",
            "fps": 25,
            "measured_fps": 24.5,
            "comes_from_video_file": False,
        }
    )
    assert result["meta"] == FRAME
    [again] = workflow.run(meta=FRAME)
    assert again["meta"] is FRAME


@pytest.mark.parametrize(
    ("given", "place", "message"),
    [
        ({"frame_number": 1}, "inputs 'meta'[0] 'video_identifier'",
         "video metadata needs 'video_identifier', a text"),
        ({"video_identifier": "v", "frame_number": -1}, "inputs 'meta'[0] 'frame_number'",
         "expected a whole number >= 0, found -1"),
        ({"video_identifier": "v", "fps": 0}, "inputs 'meta'[0] 'fps'",
         "frames per second must be above 0, found 0"),
        ({"video_identifier": "v", "frame_timestamp": "yesterday"},
         "inputs 'meta'[0] 'frame_timestamp'",
         "expected a time (ISO 8601 text, seconds since 1970, or a datetime), found 'yesterday'"),
        ({"video_identifier": "v", "fps_declared": 3}, "inputs 'meta'[0]",
         "unknown video metadata field(s) 'fps_declared'"),
        ("camera-1", "inputs 'meta'[0]",
         "expected video metadata {video_identifier, frame_number, frame_timestamp, fps, "
         "comes_from_video_file, measured_fps}, found str"),
    ],
)  # fmt: skip
def test_malformed_video_metadata_is_an_error_at_its_field(given, place, message):
    with pytest.raises(RuntimeInputError) as caught:
        Workflow.compile(metadata_document()).run(meta=given)
    assert (caught.value.place, caught.value.message) == (place, message)


class CountFrames(Block):
    """How many frames of its video the step has seen (state per video)."""

    class Manifest(Block.Manifest):
        type: Literal["test/count_frames@v1"]
        image: Selector(kinds=["image"])

    outputs = [Output("seen", kinds=["integer"])]
    init_parameters = ["video_states"]

    def __init__(self, video_states: Any):
        self.video_states = video_states

    def run(self, image: WorkflowImage) -> dict[str, Any]:
        counter = self.video_states.get(self, image.video_id, lambda: [0])
        counter[0] += 1
        return {"seen": counter[0]}


def frame(video: str | None) -> WorkflowImage:
    pixels = np.zeros((8, 8, 3), np.uint8)
    if video is None:
        return WorkflowImage(pixels)
    return WorkflowImage(pixels, video=FRAME._replace(video_identifier=video))


def test_state_is_kept_per_video_and_dropped_when_the_video_ends():
    definition = {
        "inputs": [{"type": "WorkflowImage", "name": "image"}],
        "steps": [{"type": "test/count_frames@v1", "name": "count", "image": "$inputs.image"}],
        "outputs": [{"type": "JsonField", "name": "seen", "selector": "$steps.count.seen"}],
    }
    workflow = Workflow.compile(definition, blocks=[CountFrames], cache=False)
    seen = [
        r["seen"] for r in workflow.run(image=[frame("a"), frame("b"), frame("a"), frame(None)])
    ]
    assert seen == [1, 1, 2, 1]
    assert [r["seen"] for r in workflow.run(image=[frame("a"), frame(None)])] == [3, 2]
    assert workflow.end_video("a") is True and workflow.end_video("a") is False
    assert workflow.run(image=frame("a")) == [{"seen": 1}]  # a new start for video a
    assert workflow.run(image=frame("b")) == [{"seen": 2}]
    other = Workflow.compile(definition, blocks=[CountFrames], cache=False)
    assert other.run(image=frame("b")) == [{"seen": 1}]  # each compiled workflow its own


def test_a_store_keeps_at_most_its_number_of_videos():
    states = VideoStates(most_videos=2)
    for video in ("a", "b", "c"):
        states.get("step", video, dict)
    assert states.videos() == ["b", "c"]  # the least recently seen went first


def test_a_video_named_like_anything_keeps_its_own_state_apart_from_still_images():
    states = VideoStates()
    still = states.get("step", None, lambda: ["still"])
    for name in ("(still images)", "None", ""):  # names a stream may be given
        assert states.get("step", name, lambda: ["video"]) == ["video"]
        assert states.end(name) is True
    assert states.get("step", None, list) is still  # the still images' state is untouched
    assert states.videos() == [None]


def test_an_owner_may_keep_fewer_videos_than_the_store():
    states = VideoStates()
    for video in ("a", "b", "c"):
        states.get("heavy", video, lambda video=video: [video], most=2)
        states.get("light", video, lambda video=video: [video])
    assert states.get("heavy", "a", lambda: ["again"], most=2) == ["again"]  # a was dropped
    assert states.get("light", "a", list) == ["a"]  # the other owner kept its state
    assert states.get("heavy", "c", list, most=2) == ["c"]
    assert states.end("c") is True  # ended: c no longer counts against heavy's two
    states.get("heavy", "d", lambda: ["d"], most=2)
    assert states.get("heavy", "a", list, most=2) == ["again"]
