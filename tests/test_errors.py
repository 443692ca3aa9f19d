"""Errors say where: re-placing an error keeps it and renders its text from its fields."""

from __future__ import annotations

from typing import Literal

import pytest

from visionflow import Block, Output, Workflow
from visionflow.errors import (
    ManifestError,
    ModelError,
    RuntimeInputError,
    StepExecutionError,
    WorkflowError,
)


def test_the_text_is_rendered_from_the_fields_as_they_are_now():
    error = ManifestError("unknown field 'x'", place="field 'args'", hint="its fields are: a")
    assert str(error) == "field 'args': unknown field 'x'\n  hint: its fields are: a"
    error.place, error.message = "steps[2] 'crop'", "unknown field 'y'"
    assert str(error) == "steps[2] 'crop': unknown field 'y'\n  hint: its fields are: a"


def test_at_puts_the_error_inside_an_outer_place():
    error = ManifestError("unknown field 'x'", place="field 'args'")
    assert error.at("steps[0] 'crop'") is error  # the same error: class, code and cause kept
    assert error.place == "steps[0] 'crop' field 'args'"
    assert str(error) == "steps[0] 'crop' field 'args': unknown field 'x'"
    assert error.to_dict() == {
        "code": "invalid_step_field",
        "place": "steps[0] 'crop' field 'args'",
        "message": "unknown field 'x'",
        "hint": None,
    }


def test_at_gives_a_place_to_an_error_that_had_none_or_replaces_it():
    assert str(WorkflowError("no model").at("args 'model_id'")) == "args 'model_id': no model"
    error = WorkflowError("no model", place="models 'm'").at("args 'model_id'", within=False)
    assert str(error) == "args 'model_id': no model"


def test_at_keeps_the_fields_of_errors_built_differently():
    cause = ValueError("bad pixel")
    error = StepExecutionError("crop", "DynamicCrop", cause, index=(1,)).at("run 3")
    assert (error.step, error.cause, error.index) == ("crop", cause, (1,))
    assert str(error) == (
        "run 3 steps 'crop': step 'crop' (DynamicCrop) failed for element (1,): "
        "ValueError: bad pixel"
    )


def test_a_blocks_own_error_gives_its_hint_to_the_step_error():
    # a block raising a WorkflowError with a hint (a value it cannot draw, a field it cannot
    # read): the hint is the step error's hint, not a line inside its message
    cause = RuntimeInputError(
        "the zone needs two [x, y] points", place="field 'zone'", hint="give [[x1, y1], [x2, y2]]"
    )
    error = StepExecutionError("line", "LineCounterZoneVisualization", cause, index=(0,))
    assert error.hint == "give [[x1, y1], [x2, y2]]"
    assert error.message == (
        "step 'line' (LineCounterZoneVisualization) failed for element (0,): RuntimeInputError: "
        "field 'zone': the zone needs two [x, y] points"
    )
    assert error.to_dict()["hint"] == "give [[x1, y1], [x2, y2]]"


class NeedsACalibration(Block):
    """Fails to set up with an error of its own place: the compiler adds the step's."""

    class Manifest(Block.Manifest):
        type: Literal["test/needs_calibration@v1"]

    outputs = [Output("value", kinds=["float"])]

    def setup(self, manifest) -> None:
        try:
            raise OSError("calibration.json is missing")
        except OSError as error:
            raise ModelError("no calibration", place="field 'calibration'") from error


def test_a_setup_error_is_named_at_its_step_and_keeps_its_cause():
    definition = {"steps": [{"type": "test/needs_calibration@v1", "name": "measure"}]}
    with pytest.raises(ModelError) as caught:
        Workflow.compile(definition, blocks=[NeedsACalibration], cache=False)
    assert caught.value.place == "steps[0] 'measure' field 'calibration'"
    assert str(caught.value) == "steps[0] 'measure' field 'calibration': no calibration"
    assert isinstance(caught.value.__cause__, OSError)
