"""The workflow's outputs are checked in one place, by the same rules as step fields."""

from __future__ import annotations

import pytest

from visionflow import Workflow
from visionflow.errors import DuplicateNameError, SelectorError


def workflow(*outputs: tuple[str, str], field: str = "$inputs.price") -> dict:
    return {
        "inputs": [{"type": "parameter", "name": "price"}],
        "steps": [
            {
                "type": "Expression",
                "name": "total",
                "expression": "price * 2",
                "data": {"price": field},
            }
        ],
        "outputs": [
            {"type": "JsonField", "name": name, "selector": selector} for name, selector in outputs
        ],
    }


def error_of(document: dict) -> SelectorError:
    with pytest.raises(SelectorError) as caught:
        Workflow.compile(document, cache=False)
    return caught.value


@pytest.mark.parametrize(
    "selector, message, hint",
    [
        (
            "$inputs.prise",
            "'$inputs.prise' points at input 'prise', which is not declared",
            "did you mean 'price'?",
        ),
        (
            "$steps.totl.output",
            "'$steps.totl.output' points at step 'totl', which does not exist",
            "did you mean 'total'?",
        ),
        (
            "$steps.total.value",
            "step 'total' has no output 'value'",
            "its outputs are: output (or * for all of them)",
        ),
    ],
)
def test_an_output_and_a_step_field_get_the_same_error(selector, message, hint):
    in_output = error_of(workflow(("o", selector)))
    in_field = error_of(workflow(("o", "$steps.total.output"), field=selector))
    assert (in_output.message, in_output.hint) == (message, hint)
    assert (in_field.message, in_field.hint) == (message, hint)
    assert in_output.place == "outputs[0] 'o' field 'selector'"
    assert in_field.place == "steps[0] 'total' field 'data'"


def test_an_output_takes_data_not_a_step():
    error = error_of(workflow(("o", "$steps.total")))
    assert error.message == "'$steps.total' is not a data selector"
    assert error.place == "outputs[0] 'o' field 'selector'"


def test_output_names_are_unique():
    with pytest.raises(DuplicateNameError) as caught:
        Workflow.compile(workflow(("o", "$inputs.price"), ("o", "$steps.total.output")))
    assert (caught.value.message, caught.value.place) == (
        "output name 'o' is used twice",
        "outputs[1]",
    )


def test_checked_outputs_describe_what_they_give():
    checked = Workflow.compile(
        workflow(
            ("price", "$inputs.price"), ("total", "$steps.total.output"), ("all", "$steps.total.*")
        )
    )
    assert checked.run(price=4) == [{"price": 4, "total": 8, "all": {"output": 8}}]
    assert {name: o["kinds"] for name, o in checked.outputs.items()} == {
        "price": ["*"],
        "total": ["*"],
        "all": ["dict"],
    }
