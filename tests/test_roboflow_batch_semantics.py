"""Roboflow's engine rules on batches and scalars, in definitions of Roboflow's format.

Each expected value here was checked against Roboflow's own engine (inference-core 1.8.3)
on the same definition and inputs; the rules are those of its execution engine changelog
(1.6: a batch collapses into a scalar; 1.8: a step fed no batch runs per element chosen
by the flow-control step that gates it).
"""

from __future__ import annotations

import pytest

from visionflow import Workflow
from visionflow.errors import FlowControlError


def classification(top: str, confidence: float) -> dict:
    """A classification result in Roboflow's serialised format."""
    return {
        "image": {"width": 10, "height": 10},
        "top": top,
        "confidence": confidence,
        "predictions": [{"class": top, "class_id": 0, "confidence": confidence}],
    }


CONFIDENT_ENOUGH = {
    "type": "StatementGroup",
    "statements": [
        {
            "type": "BinaryStatement",
            "left_operand": {
                "type": "DynamicOperand",
                "operand_name": "predictions",
                "operations": [
                    {
                        "type": "ClassificationPropertyExtract",
                        "property_name": "top_class_confidence",
                    }
                ],
            },
            "comparator": {"type": "(Number) >="},
            "right_operand": {"type": "StaticOperand", "value": 0.5},
        }
    ],
}


def gated_label_workflow(default=None) -> dict:
    """ContinueIf per classification; its target takes only a parameter."""
    return {
        "version": "1.0",
        "inputs": [
            {
                "type": "WorkflowBatchInput",
                "name": "classification_predictions",
                "kind": ["classification_prediction"],
                "dimensionality": 1,
            },
            {"type": "WorkflowParameter", "name": "crop_label", "default_value": ""},
        ],
        "steps": [
            {
                "type": "roboflow_core/continue_if@v1",
                "name": "continue_if",
                "condition_statement": CONFIDENT_ENOUGH,
                "evaluation_parameters": {"predictions": "$inputs.classification_predictions"},
                "next_steps": ["$steps.emit_label"],
            },
            {
                "type": "roboflow_core/first_non_empty_or_default@v1",
                "name": "emit_label",
                "data": ["$inputs.crop_label"],
                "default": default,
            },
        ],
        "outputs": [{"type": "JsonField", "name": "echo", "selector": "$steps.emit_label.output"}],
    }


def test_a_step_fed_no_batch_runs_for_each_element_its_gate_chooses():
    results = Workflow.compile(gated_label_workflow()).run(
        classification_predictions=[classification("a", 0.9), classification("b", 0.2)],
        crop_label="dog",
    )
    assert results == [{"echo": "dog"}, {"echo": None}]


def test_its_outputs_follow_the_gates_elements_downstream():
    definition = gated_label_workflow()
    definition["steps"].append(
        {
            "type": "roboflow_core/first_non_empty_or_default@v1",
            "name": "merged",
            "data": ["$steps.emit_label.output"],
            "default": "rejected",
        }
    )
    definition["outputs"] = [
        {"type": "JsonField", "name": "label", "selector": "$steps.merged.output"}
    ]
    results = Workflow.compile(definition).run(
        classification_predictions=[classification("a", 0.2), classification("b", 0.7)],
        crop_label="cat",
    )
    assert results == [{"label": "rejected"}, {"label": "cat"}]


def collapse_workflow(*extra_outputs: dict) -> dict:
    return {
        "version": "1.0",
        "inputs": [{"type": "WorkflowBatchInput", "name": "values", "kind": ["integer"]}],
        "steps": [
            {
                "type": "roboflow_core/dimension_collapse@v1",
                "name": "collapse",
                "data": "$inputs.values",
            }
        ],
        "outputs": [
            {"type": "JsonField", "name": "collapsed", "selector": "$steps.collapse.output"},
            *extra_outputs,
        ],
    }


def test_collapsing_the_input_batch_gives_one_scalar_and_one_result():
    results = Workflow.compile(collapse_workflow()).run(values=[1, 2, 3])
    assert results == [{"collapsed": [1, 2, 3]}]


def test_a_collapsed_scalar_is_repeated_beside_per_element_outputs():
    per_element = {"type": "JsonField", "name": "v", "selector": "$inputs.values"}
    results = Workflow.compile(collapse_workflow(per_element)).run(values=[1, 2, 3])
    assert results == [
        {"collapsed": [1, 2, 3], "v": 1},
        {"collapsed": [1, 2, 3], "v": 2},
        {"collapsed": [1, 2, 3], "v": 3},
    ]


def number_gate(name: str, operand: str, target: str) -> dict:
    return {
        "type": "roboflow_core/continue_if@v1",
        "name": name,
        "condition_statement": {
            "type": "StatementGroup",
            "statements": [
                {
                    "type": "BinaryStatement",
                    "left_operand": {"type": "DynamicOperand", "operand_name": "x"},
                    "comparator": {"type": "(Number) >="},
                    "right_operand": {"type": "StaticOperand", "value": 1},
                }
            ],
        },
        "evaluation_parameters": {"x": operand},
        "next_steps": [target],
    }


def test_the_deepest_gate_sets_the_level_of_a_step_fed_no_batch():
    definition = {
        "version": "1.0",
        "inputs": [
            {"type": "WorkflowBatchInput", "name": "outer", "kind": ["integer"]},
            {
                "type": "WorkflowBatchInput",
                "name": "inner",
                "kind": ["integer"],
                "dimensionality": 2,
            },
            {"type": "WorkflowParameter", "name": "label", "default_value": "kept"},
        ],
        "steps": [
            number_gate("outer_gate", "$inputs.outer", "$steps.emit"),
            number_gate("inner_gate", "$inputs.inner", "$steps.emit"),
            {
                "type": "roboflow_core/first_non_empty_or_default@v1",
                "name": "emit",
                "data": ["$inputs.label"],
            },
        ],
        "outputs": [{"type": "JsonField", "name": "label", "selector": "$steps.emit.output"}],
    }
    results = Workflow.compile(definition).run(outer=[1, 0], inner=[[1, 0, 1], [1]])
    # per inner element, and only where both gates choose it
    assert results == [{"label": ["kept", None, "kept"]}, {"label": [None]}]


SPLIT = {  # an in-document block making a new level: one element per item of a list
    "type": "DynamicBlockDefinition",
    "manifest": {
        "type": "ManifestDescription",
        "block_type": "Split",
        "inputs": {"items": {"type": "DynamicInputDefinition", "selector_types": ["generic"]}},
        "outputs": {"item": {"type": "DynamicOutputDefinition", "kind": []}},
        "output_dimensionality_offset": 1,
    },
    "code": {
        "type": "PythonCode",
        "run_function_code": "def run(self, items):\n    return [{'item': i} for i in items]\n",
    },
}


def test_gates_of_different_origins_on_a_step_fed_no_batch_are_a_compile_error():
    definition = {
        "version": "1.0",
        "inputs": [
            {"type": "WorkflowBatchInput", "name": "lists", "kind": ["list_of_values"]},
            {
                "type": "WorkflowBatchInput",
                "name": "inner",
                "kind": ["integer"],
                "dimensionality": 2,
            },
        ],
        "dynamic_blocks_definitions": [SPLIT],
        "steps": [
            {"type": "Split", "name": "split", "items": "$inputs.lists"},
            number_gate("inner_gate", "$inputs.inner", "$steps.emit"),
            number_gate("item_gate", "$steps.split.item", "$steps.emit"),
            {"type": "roboflow_core/first_non_empty_or_default@v1", "name": "emit", "data": []},
        ],
        "outputs": [{"type": "JsonField", "name": "label", "selector": "$steps.emit.output"}],
    }
    with pytest.raises(FlowControlError) as caught:
        Workflow.compile(definition)
    assert caught.value.place == "steps[3] 'emit'"
    assert caught.value.message == (
        "step 'item_gate' decides per element of the elements made by step 'split' (level 2), "
        "but step 'inner_gate', which also chooses it, decides per element of the input batch "
        "(level 2)"
    )


AT_LEAST_TWO = {
    "type": "StatementGroup",
    "statements": [
        {
            "type": "BinaryStatement",
            "left_operand": {"type": "DynamicOperand", "operand_name": "v"},
            "comparator": {"type": "(Number) >="},
            "right_operand": {"type": "StaticOperand", "value": 2},
        }
    ],
}


def gated_collapse_workflow() -> dict:
    """A gate per element of the batch that DimensionCollapse gathers."""
    workflow = collapse_workflow()
    workflow["steps"].insert(
        0,
        {
            "type": "roboflow_core/continue_if@v1",
            "name": "gate",
            "condition_statement": AT_LEAST_TWO,
            "evaluation_parameters": {"v": "$inputs.values"},
            "next_steps": ["$steps.collapse"],
        },
    )
    return workflow


def test_a_gate_per_gathered_element_leaves_the_rejected_ones_out():
    workflow = Workflow.compile(gated_collapse_workflow())
    assert workflow.run(values=[1, 2, 3]) == [{"collapsed": [2, 3]}]
    # none chosen: the gathering step does not run, as for any element left out
    assert workflow.run(values=[0, 1]) == [{"collapsed": None}]


def test_nothing_to_gather_is_an_empty_value():
    """Nothing to gather is an empty value, as in Roboflow: DimensionCollapse (which does
    not accept empty values) does not run there, whether the step making the elements did
    not run or made none."""
    workflow = Workflow.compile(
        {
            "version": "1.0",
            "inputs": [
                {"type": "WorkflowBatchInput", "name": "lists", "kind": ["list_of_values"]},
                {"type": "WorkflowBatchInput", "name": "keep", "kind": ["integer"]},
            ],
            "dynamic_blocks_definitions": [SPLIT],
            "steps": [
                number_gate("gate", "$inputs.keep", "$steps.split"),
                {"type": "Split", "name": "split", "items": "$inputs.lists"},
                {
                    "type": "roboflow_core/dimension_collapse@v1",
                    "name": "collapse",
                    "data": "$steps.split.item",
                },
            ],
            "outputs": [
                {"type": "JsonField", "name": "collapsed", "selector": "$steps.collapse.output"},
                {"type": "JsonField", "name": "items", "selector": "$steps.split.item"},
            ],
        }
    )
    results = workflow.run(lists=[[5], [6, 7], []], keep=[0, 1, 1])
    assert results == [
        {"collapsed": None, "items": []},
        {"collapsed": [6, 7], "items": [6, 7]},
        {"collapsed": None, "items": []},
    ]
