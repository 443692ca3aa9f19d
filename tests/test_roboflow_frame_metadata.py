"""Roboflow's ``ExtractFrameMetadata`` operation on still images (frame 0 of their own
"video", as Roboflow's engine gives them); video frames come with issue 13's streams."""

from __future__ import annotations

import datetime

import numpy as np
import pytest

from visionflow import Workflow
from visionflow.errors import StepExecutionError, WorkflowError


def frame_property(name: str, data: str = "$inputs.image") -> dict:
    return {
        "version": "1.0",
        "inputs": [{"type": "WorkflowImage", "name": "image"}],
        "steps": [
            {
                "type": "PropertyDefinition",
                "name": "frame",
                "data": data,
                "operations": [{"type": "ExtractFrameMetadata", "property_name": name}],
            }
        ],
        "outputs": [{"type": "JsonField", "name": name, "selector": "$steps.frame.output"}],
    }


def test_a_photo_is_frame_zero():
    image = np.zeros((20, 30, 3), np.uint8)
    assert Workflow.compile(frame_property("frame_number")).run(image=image) == [
        {"frame_number": 0}
    ]
    [seconds] = Workflow.compile(frame_property("seconds_since_start")).run(image=image)
    assert seconds == {"seconds_since_start": -1 / 30}  # Roboflow counts frames from 1 here


def test_a_photos_timestamp_is_when_it_is_read():
    before = datetime.datetime.now()
    [result] = Workflow.compile(frame_property("frame_timestamp")).run(
        image=np.zeros((4, 4, 3), np.uint8)
    )
    assert before <= result["frame_timestamp"] <= datetime.datetime.now()


def test_an_unknown_frame_property_is_a_compile_error_listing_the_valid_ones():
    with pytest.raises(WorkflowError) as caught:
        Workflow.compile(frame_property("frame_rate"))
    assert caught.value.place.startswith("steps[0] 'frame' operations[0]")
    assert "frame_number" in f"{caught.value.message} {caught.value.hint}"


def test_frame_metadata_of_a_value_that_is_not_an_image_fails_the_step():
    definition = frame_property("frame_number")
    definition["inputs"].append({"type": "WorkflowParameter", "name": "n", "default_value": 3})
    definition["steps"][0]["data"] = "$inputs.n"
    with pytest.raises(StepExecutionError) as caught:
        Workflow.compile(definition).run(image=np.zeros((4, 4, 3), np.uint8))
    assert "ExtractFrameMetadata" in str(caught.value)
