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
            {"type": "WorkflowParameter", "name": "fallback"},
        ],
        "dynamic_blocks_definitions": [SPLIT],
        "steps": [
            {"type": "Split", "name": "split", "items": "$inputs.lists"},
            number_gate("inner_gate", "$inputs.inner", "$steps.emit"),
            number_gate("item_gate", "$steps.split.item", "$steps.emit"),
            # fed no batch: a parameter only (Roboflow's manifest wants one item at least)
            {
                "type": "roboflow_core/first_non_empty_or_default@v1",
                "name": "emit",
                "data": ["$inputs.fallback"],
            },
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


def test_collapsing_the_input_batch_whose_every_element_is_none_gives_none():
    """Gathering into a scalar with every child empty: the step does not run (None)."""
    definition = collapse_workflow()
    del definition["inputs"][0]["kind"]  # any kind
    assert Workflow.compile(definition).run(values=[None, None]) == [{"collapsed": None}]


def test_children_made_but_none_chosen_are_gathered_as_an_empty_list_below_the_top():
    """Below the top level, a gathering step whose gates chose none of the children made
    for an element still runs there, on none (Roboflow gives []); it does not run where
    no children were made (None)."""
    workflow = Workflow.compile(
        {
            "version": "1.0",
            "inputs": [{"type": "WorkflowBatchInput", "name": "lists", "kind": ["list_of_values"]}],
            "dynamic_blocks_definitions": [SPLIT],
            "steps": [
                {"type": "Split", "name": "split", "items": "$inputs.lists"},
                number_gate("gate", "$steps.split.item", "$steps.collapse"),
                {
                    "type": "roboflow_core/dimension_collapse@v1",
                    "name": "collapse",
                    "data": "$steps.split.item",
                },
            ],
            "outputs": [
                {"type": "JsonField", "name": "collapsed", "selector": "$steps.collapse.output"}
            ],
        }
    )
    results = workflow.run(lists=[[1, 0, 2], [0, 0], [], [None]])
    assert results == [
        {"collapsed": [1, 2]},
        {"collapsed": []},
        {"collapsed": None},
        {"collapsed": []},
    ]


def test_parameters_given_to_an_in_document_block_are_not_checked_against_its_value_types():
    """Roboflow's engine checks a parameter against the field it feeds for its own blocks
    only; an in-document block's value_types apply to the values written in the document."""
    definition = {
        "version": "1.0",
        "inputs": [{"type": "WorkflowParameter", "name": "n"}],
        "dynamic_blocks_definitions": [
            {
                "type": "DynamicBlockDefinition",
                "manifest": {
                    "type": "ManifestDescription",
                    "block_type": "Echo",
                    "inputs": {
                        "k": {
                            "type": "DynamicInputDefinition",
                            "selector_types": ["input_parameter"],
                            "value_types": ["integer"],
                        }
                    },
                    "outputs": {"out": {"type": "DynamicOutputDefinition", "kind": []}},
                },
                "code": {
                    "type": "PythonCode",
                    "run_function_code": "def run(self, k):\n    return {'out': k}\n",
                },
            }
        ],
        "steps": [{"type": "Echo", "name": "echo", "k": "$inputs.n"}],
        "outputs": [{"type": "JsonField", "name": "out", "selector": "$steps.echo.out"}],
    }
    workflow = Workflow.compile(definition)
    assert workflow.run(n="abc") == [{"out": "abc"}]
    assert workflow.run(n=None) == [{"out": None}]


def in_document_block(block_type: str, inputs: dict, run: str, **manifest) -> dict:
    return {
        "type": "DynamicBlockDefinition",
        "manifest": {
            "type": "ManifestDescription",
            "block_type": block_type,
            "inputs": {
                name: {"type": "DynamicInputDefinition", "selector_types": selector_types}
                for name, selector_types in inputs.items()
            },
            "outputs": {"out": {"type": "DynamicOutputDefinition", "kind": []}},
            **manifest,
        },
        "code": {"type": "PythonCode", "run_function_code": run},
    }


def test_a_batch_block_run_once_at_the_top_may_return_its_one_result_as_a_dict():
    """Roboflow's engine takes a batch block's result made for the one top-level element
    (a scalar cast to a batch) as it is, a dict as well as a list of one dict."""
    show = "def run(self, p):\n    return {'out': type(p).__name__ + repr(list(p))}\n"
    definition = {
        "version": "1.0",
        "inputs": [{"type": "WorkflowParameter", "name": "p", "default_value": 3}],
        "dynamic_blocks_definitions": [
            in_document_block(
                "Pass", {"v": ["input_parameter"]}, "def run(self, v):\n    return {'out': v}\n"
            ),
            in_document_block(
                "Show", {"p": ["step_output"]}, show, batch_oriented_parameters=["p"]
            ),
        ],
        "steps": [
            {"type": "Pass", "name": "scalar", "v": "$inputs.p"},
            {"type": "Show", "name": "show", "p": "$steps.scalar.out"},
        ],
        "outputs": [{"type": "JsonField", "name": "shown", "selector": "$steps.show.out"}],
    }
    assert Workflow.compile(definition).run() == [{"shown": "Batch[3]"}]


def split_chain_workflow(levels: int) -> dict:
    """Split applied ``levels`` times: each list item one level deeper."""
    steps = [{"type": "Split", "name": "split1", "items": "$inputs.lists"}]
    for level in range(2, levels + 1):
        steps.append(
            {"type": "Split", "name": f"split{level}", "items": f"$steps.split{level - 1}.item"}
        )
    return {
        "version": "1.0",
        "inputs": [{"type": "WorkflowBatchInput", "name": "lists", "kind": ["list_of_values"]}],
        "dynamic_blocks_definitions": [SPLIT],
        "steps": steps,
        "outputs": [
            {"type": "JsonField", "name": "items", "selector": f"$steps.split{levels}.item"}
        ],
    }


def test_an_output_two_levels_deep_with_nothing_for_an_element_is_a_nested_empty_list():
    results = Workflow.compile(split_chain_workflow(2)).run(lists=[[[1], [], [2]], [[]], []])
    assert results == [{"items": [[1], [], [2]]}, {"items": [[]]}, {"items": [[]]}]


def test_groups_holding_no_output_elements_at_the_end_of_a_list_are_left_out():
    results = Workflow.compile(split_chain_workflow(3)).run(lists=[[[[1], []], [[2]]], [[[]]]])
    assert results == [{"items": [[[1]], [[2]]]}, {"items": [[[]]]}]


def test_all_outputs_of_a_step_that_did_not_run_are_each_none():
    """``$steps.s.*`` where the step did not run (its gate chose another element, or its
    input is empty) gives each of the step's outputs as None, not None for the whole."""
    definition = gated_label_workflow()
    definition["outputs"] = [
        {"type": "JsonField", "name": "all", "selector": "$steps.emit_label.*"}
    ]
    results = Workflow.compile(definition).run(
        classification_predictions=[classification("a", 0.9), classification("b", 0.2)],
        crop_label="dog",
    )
    assert results == [{"all": {"output": "dog"}}, {"all": {"output": None}}]


def test_a_workflow_with_no_outputs_gives_one_empty_result():
    definition = gated_label_workflow()
    definition["outputs"] = []
    results = Workflow.compile(definition).run(
        classification_predictions=[classification("a", 0.9), classification("b", 0.2)],
        crop_label="dog",
    )
    assert results == [{}]


def test_a_block_accepting_empty_values_runs_for_unchosen_elements_given_none():
    """Roboflow calls a block that accepts empty values and is fed batches for every element,
    the ones its gate did not choose too, with its batch-oriented values there None:
    FirstNonEmptyOrDefault gives its default for them."""
    definition = {
        "version": "1.0",
        "inputs": [
            {"type": "WorkflowBatchInput", "name": "values", "kind": ["integer"]},
            {"type": "WorkflowBatchInput", "name": "keep", "kind": ["integer"]},
        ],
        "steps": [
            number_gate("gate", "$inputs.keep", "$steps.first"),
            {
                "type": "roboflow_core/first_non_empty_or_default@v1",
                "name": "first",
                "data": ["$inputs.values"],
                "default": "none",
            },
        ],
        "outputs": [{"type": "JsonField", "name": "first", "selector": "$steps.first.output"}],
    }
    results = Workflow.compile(definition).run(values=[1, 2, 3], keep=[1, 0, 1])
    assert results == [{"first": 1}, {"first": "none"}, {"first": 3}]


def test_a_gathering_block_accepting_empty_values_gets_unchosen_children_as_none():
    """Children a gate did not choose are left out of what a gathering block gets, unless it
    accepts empty values: then they are kept in their places, as None."""
    gather = in_document_block(
        "GatherAll",
        {"items": ["step_output"]},
        "def run(self, items):\n    return {'out': None if items is None else list(items)}\n",
        output_dimensionality_offset=-1,
        accepts_empty_values=True,
    )
    workflow = Workflow.compile(
        {
            "version": "1.0",
            "inputs": [{"type": "WorkflowBatchInput", "name": "lists", "kind": ["list_of_values"]}],
            "dynamic_blocks_definitions": [SPLIT, gather],
            "steps": [
                {"type": "Split", "name": "split", "items": "$inputs.lists"},
                number_gate("gate", "$steps.split.item", "$steps.gather"),
                {"type": "GatherAll", "name": "gather", "items": "$steps.split.item"},
            ],
            "outputs": [{"type": "JsonField", "name": "all", "selector": "$steps.gather.out"}],
        }
    )
    results = workflow.run(lists=[[1, 0, 2], [0]])
    assert results == [{"all": [1, None, 2]}, {"all": [None]}]


COUNT_CHILDREN = {  # an in-document block reading a field one level deeper than the step
    "type": "DynamicBlockDefinition",
    "manifest": {
        "type": "ManifestDescription",
        "block_type": "CountChildren",
        "inputs": {
            "parent": {
                "type": "DynamicInputDefinition",
                "selector_types": ["generic"],
                "is_dimensionality_reference": True,
            },
            "children": {
                "type": "DynamicInputDefinition",
                "selector_types": ["generic"],
                "dimensionality_offset": 1,
            },
        },
        "outputs": {"kept": {"type": "DynamicOutputDefinition", "kind": []}},
    },
    "code": {
        "type": "PythonCode",
        "run_function_code": (
            "def run(self, parent, children):\n    return {'kept': list(children)}\n"
        ),
    },
}


def test_a_gate_per_child_of_a_step_reading_a_deeper_field_leaves_rejected_children_out():
    """A difference by design: Roboflow's engine 1.8.3 gives None for every element here (a
    gate one level below a step that is not a gathering one); visionflow treats it as for a
    gathering step, as Roboflow's published slicer-and-stitch definition needs."""
    workflow = Workflow.compile(
        {
            "version": "1.0",
            "inputs": [
                {"type": "WorkflowBatchInput", "name": "outer", "kind": ["integer"]},
                {
                    "type": "WorkflowBatchInput",
                    "name": "inner",
                    "kind": ["integer"],
                    "dimensionality": 2,
                },
            ],
            "dynamic_blocks_definitions": [COUNT_CHILDREN],
            "steps": [
                number_gate("gate", "$inputs.inner", "$steps.count"),
                {
                    "type": "CountChildren",
                    "name": "count",
                    "parent": "$inputs.outer",
                    "children": "$inputs.inner",
                },
            ],
            "outputs": [{"type": "JsonField", "name": "kept", "selector": "$steps.count.kept"}],
        }
    )
    results = workflow.run(outer=[7, 8], inner=[[1, 0, 2], [3]])
    assert results == [{"kept": [1, 2]}, {"kept": [3]}]
