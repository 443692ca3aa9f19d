"""The express lane's written function (``engine/express.py``): one per plan, no loop left
per run, and the same results and errors as the general paths on what it writes specially
(detections given already read)."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import supervision as sv
from skimage import data

from test_engine_short_paths import general
from test_review_express import _outcome
from visionflow import Workflow

ASTRONAUT = np.ascontiguousarray(data.astronaut()[:96, :128, ::-1])  # BGR


def _detections() -> sv.Detections:
    return sv.Detections(
        xyxy=np.array([[10.0, 12.0, 60.0, 70.0], [70.0, 20.0, 120.0, 90.0]]),
        confidence=np.array([0.9, 0.4]),
        class_id=np.array([0, 1]),
        data={"class_name": np.array(["face", "arm"])},
    )


def _document(kinds: list[str]) -> dict[str, Any]:
    return {
        "version": "1.0",
        "inputs": [
            {"type": "WorkflowImage", "name": "image"},
            {"type": "WorkflowBatchInput", "name": "dets", "kind": kinds},
        ],
        "steps": [
            {
                "type": "roboflow_core/bounding_box_visualization@v1",
                "name": "boxes",
                "image": "$inputs.image",
                "predictions": "$inputs.dets",
            },
        ],
        "outputs": [
            {"type": "JsonField", "name": "drawn", "selector": "$steps.boxes.image"},
            {"type": "JsonField", "name": "dets", "selector": "$inputs.dets"},
        ],
    }


def _both(document: dict[str, Any]) -> tuple[Workflow, Workflow]:
    express = Workflow.compile(copy.deepcopy(document), cache=False)
    assert express._express is not None
    return express, general(Workflow.compile(copy.deepcopy(document), cache=False))


def test_the_written_function_has_no_loop_and_calls_each_step_once():
    express, _ = _both(_document(["object_detection_prediction"]))
    source = express._express.source
    assert "for " not in source and "while " not in source
    assert source.count(".run(") == 1


def test_detections_given_read_are_taken_as_they_are_and_drawn_as_on_the_general_path():
    express, slow = _both(_document(["object_detection_prediction"]))
    detections = _detections()
    found = express.run(image=ASTRONAUT, dets=detections)[0]
    assert found["dets"] is detections  # no copy: the same object, on the root image already
    drawn = found["drawn"].numpy
    assert np.array_equal(drawn, slow.run(image=ASTRONAUT, dets=detections)[0]["drawn"].numpy)
    assert not np.array_equal(drawn, ASTRONAUT)  # the boxes were drawn
    box = sv.BoxAnnotator(thickness=2, color=sv.ColorPalette.DEFAULT)
    expected = box.annotate(ASTRONAUT.copy(), detections)
    assert np.array_equal(drawn, expected)


@pytest.mark.parametrize(
    "dets",
    [None, "not detections", {"image": {"width": 128, "height": 96}, "predictions": []}],
)
def test_other_values_for_detections_go_the_general_way_of_reading(dets):
    express, slow = _both(_document(["object_detection_prediction"]))
    assert _outcome(express, {"image": ASTRONAUT, "dets": dets}) == _outcome(
        slow, {"image": ASTRONAUT, "dets": dets}
    )


def test_an_input_of_plain_kinds_refuses_detections_on_both_paths():
    document = _document(["integer"])
    document["steps"] = []
    document["outputs"] = [{"type": "JsonField", "name": "dets", "selector": "$inputs.dets"}]
    express, slow = _both(document)
    outcome = _outcome(express, {"image": ASTRONAUT, "dets": _detections()})
    assert outcome[0] == "error" and "expects integer elements" in outcome[1]
    assert outcome == _outcome(slow, {"image": ASTRONAUT, "dets": _detections()})


def test_the_function_is_written_at_the_first_run_not_at_compile():
    express, _ = _both(_document(["object_detection_prediction"]))
    lane = express._express
    assert lane._source is None  # compiling (or validating) writes nothing
    first = express.run(image=ASTRONAUT, dets=_detections())
    written = vars(lane)["run"]  # the written function took the method's place
    assert lane._source is not None and written.__name__ == "run"
    second = express.run(image=ASTRONAUT, dets=_detections())
    assert vars(lane)["run"] is written  # written once
    assert np.array_equal(first[0]["drawn"].numpy, second[0]["drawn"].numpy)
