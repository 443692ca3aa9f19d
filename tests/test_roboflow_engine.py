"""Engine semantics Roboflow's documents rely on (issue 11, point 3).

From Roboflow's description of its execution engine (../shared/reference/
roboflow-workflow-execution.txt and -compilation.txt, and the block manifests'
``accepts_empty_values`` / parameter-only selectors):

- an empty (None) batch element is not given to a block that does not accept empty values:
  the step does not run for it and its outputs are None there; a block that accepts empty
  values is called with None; scalars (parameters) are given as they are;
- a field that takes parameters only refuses a batch-oriented value at compile time.
"""

from __future__ import annotations

from typing import Any, Literal

import pytest

from visionflow import Workflow
from visionflow.blocks.api import Block, Output, Selector
from visionflow.errors import DimensionalityError


def document(steps: list[dict], outputs: dict[str, str], inputs: list[dict]) -> dict:
    return {
        "version": "1.0",
        "inputs": inputs,
        "steps": steps,
        "outputs": [
            {"type": "JsonField", "name": name, "selector": selector}
            for name, selector in outputs.items()
        ],
    }


# --- empty values --------------------------------------------------------------------------


def test_a_none_from_expression_skips_property_definition_for_that_element():
    # Expression: the words themselves when there are more than one, else its default
    # (null); PropertyDefinition's SequenceLength does not accept empty values, so
    # Roboflow gives None for that element instead of failing the run
    switch = {
        "type": "CasesDefinition",
        "cases": [
            {
                "type": "CaseDefinition",
                "condition": {
                    "type": "StatementGroup",
                    "statements": [
                        {
                            "type": "BinaryStatement",
                            "left_operand": {
                                "type": "DynamicOperand",
                                "operand_name": "words",
                                "operations": [{"type": "SequenceLength"}],
                            },
                            "comparator": {"type": "(Number) >"},
                            "right_operand": {"type": "StaticOperand", "value": 1},
                        }
                    ],
                },
                "result": {"type": "DynamicCaseResult", "parameter_name": "words"},
            }
        ],
        "default": {"type": "StaticCaseResult", "value": None},
    }
    definition = document(
        steps=[
            {
                "type": "roboflow_core/expression@v1",
                "name": "several",
                "data": {"words": "$inputs.words"},
                "switch": switch,
            },
            {
                "type": "roboflow_core/property_definition@v1",
                "name": "count",
                "data": "$steps.several.output",
                "operations": [{"type": "SequenceLength"}],
            },
        ],
        outputs={"several": "$steps.several.output", "count": "$steps.count.output"},
        inputs=[{"type": "WorkflowBatchInput", "name": "words", "kind": ["list_of_values"]}],
    )
    workflow = Workflow.compile(definition)
    assert workflow.run(words=[["one"], ["a", "b", "c"]]) == [
        {"several": None, "count": None},
        {"several": ["a", "b", "c"], "count": 3},
    ]


class _Describe(Block):
    """Says what it was given; records every call."""

    class Manifest(Block.Manifest):
        type: Literal["test/describe@v1"]
        value: Selector() | Any = None
        label: Selector() | Any = "x"

    outputs = [Output("text")]
    calls: list[Any] = []

    def run(self, value: Any, label: Any) -> dict[str, Any]:
        type(self).calls.append(value)
        return {"text": f"{label}:{'none' if value is None else value}"}


class _DescribeEmpty(_Describe):
    """The same block, declaring that it accepts empty values."""

    class Manifest(_Describe.Manifest):
        type: Literal["test/describe_empty@v1"]

    accepts_empty = True
    calls: list[Any] = []


BLOCKS = [_Describe, _DescribeEmpty]


def describe_document(label: str = "x") -> dict:
    return document(
        steps=[
            {"type": "test/describe@v1", "name": "plain", "value": "$inputs.v", "label": label},
            {"type": "test/describe_empty@v1", "name": "empty", "value": "$inputs.v"},
        ],
        outputs={"plain": "$steps.plain.text", "empty": "$steps.empty.text"},
        inputs=[
            {"type": "WorkflowBatchInput", "name": "v"},
            {"type": "WorkflowParameter", "name": "label", "default_value": "unused"},
        ],
    )


def test_a_none_batch_element_is_skipped_unless_the_block_accepts_empty_values():
    _Describe.calls.clear()
    _DescribeEmpty.calls.clear()
    workflow = Workflow.compile(describe_document(), blocks=BLOCKS)
    assert workflow.run(v=[None, 3]) == [
        {"plain": None, "empty": "x:none"},
        {"plain": "x:3", "empty": "x:3"},
    ]
    assert _Describe.calls == [3]
    assert _DescribeEmpty.calls == [None, 3]


def test_a_none_parameter_is_given_as_it_is():
    # Roboflow's empty-value rule is about batch elements; a scalar None is a value
    workflow = Workflow.compile(describe_document(label="$inputs.label"), blocks=BLOCKS)
    assert workflow.run(v=[1, 2], label=None) == [
        {"plain": "None:1", "empty": "x:1"},
        {"plain": "None:2", "empty": "x:2"},
    ]


def test_a_none_inside_a_compound_field_counts_as_empty():
    definition = document(
        steps=[{"type": "test/describe@v1", "name": "plain", "value": ["$inputs.v", 0]}],
        outputs={"plain": "$steps.plain.text"},
        inputs=[{"type": "WorkflowBatchInput", "name": "v"}],
    )
    workflow = Workflow.compile(definition, blocks=BLOCKS)
    assert workflow.run(v=[None, 5]) == [{"plain": None}, {"plain": "x:[5, 0]"}]


# --- parameters refuse batches -------------------------------------------------------------


def model_document(**inputs: str) -> dict:
    return document(
        steps=[
            {
                "type": "roboflow_core/roboflow_object_detection_model@v2",
                "name": "model",
                "images": "$inputs.image",
                "model_id": "my-project/3",
                "confidence": "$inputs.confidence",
            }
        ],
        outputs={"predictions": "$steps.model.predictions"},
        inputs=[
            {"type": "WorkflowImage", "name": "image"},
            {"type": inputs.get("confidence", "WorkflowParameter"), "name": "confidence"},
        ],
    )


def test_a_batch_given_to_a_parameter_field_is_a_compile_error():
    with pytest.raises(DimensionalityError) as caught:
        Workflow.compile(model_document(confidence="WorkflowBatchInput"))
    error = caught.value
    assert error.code == "dimensionality_mismatch"
    assert error.place == "steps[0] 'model' field 'confidence'"
    assert str(error.message) == (
        "field 'confidence' takes one value for the whole run (a parameter), but "
        "'$inputs.confidence' is batch-oriented (the input batch (level 1))"
    )
    assert "WorkflowParameter" in error.hint


def test_a_plain_selector_field_still_takes_a_batch():
    # visionflow's own blocks decide by their declaration: Selector() takes batches
    definition = document(
        steps=[
            {
                "type": "test/describe@v1",
                "name": "plain",
                "value": "$inputs.v",
                "label": "$inputs.w",
            }
        ],
        outputs={"plain": "$steps.plain.text"},
        inputs=[{"type": "WorkflowBatchInput", "name": n} for n in ("v", "w")],
    )
    workflow = Workflow.compile(definition, blocks=BLOCKS)
    assert workflow.run(v=[1, 2], w=["a", "b"]) == [{"plain": "a:1"}, {"plain": "b:2"}]
