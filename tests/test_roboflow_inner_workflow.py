"""Roboflow's inner workflow (``roboflow_core/inner_workflow@v1``), inlined at compile time.

The documents are Roboflow's published inner-workflow tests (inference's
``inner_workflow_inlining`` package): each nested document must give what its flat
equivalent gives. The values expected are those Roboflow's engine (inference 1.8.3) gives
for the same documents.
"""

from __future__ import annotations

import copy
import os
import sys
from typing import Any

import numpy as np
import pytest
from skimage.data import astronaut

from markers import needs_face_detector
from visionflow import Workflow
from visionflow.blocks.loader import load_registry
from visionflow.blocks.roboflow.inner_workflow import InnerWorkflow
from visionflow.compiler import definition_hash
from visionflow.compiler.inner_workflows import MAX_COUNT, MAX_DEPTH
from visionflow.errors import (
    DefinitionError,
    DuplicateNameError,
    ManifestError,
    RuntimeInputError,
    SelectorError,
    UnknownBlockTypeError,
)

sys.path.insert(0, os.path.dirname(__file__))  # Roboflow's test blocks live beside this file
from roboflow_test_blocks import load_blocks

BLOCKS = load_blocks()
INNER = "roboflow_core/inner_workflow@v1"


def document(inputs: list, steps: list, outputs: dict[str, str], **extra: Any) -> dict:
    listed = [
        {"type": "JsonField", "name": key, "selector": value} for key, value in outputs.items()
    ]
    return {"version": "1.0", "inputs": inputs, "steps": steps, "outputs": listed, **extra}


def parameter(name: str, **extra: Any) -> dict:
    return {"type": "WorkflowParameter", "name": name, **extra}


def echo(name: str, value: str) -> dict:
    return {"type": "scalar_only_echo", "name": name, "value": value}


def first_non_empty(name: str, data: list, default: Any = "fallback-inner") -> dict:
    return {
        "type": "roboflow_core/first_non_empty_or_default@v1",
        "name": name,
        "data": data,
        "default": default,
    }


def echo_child() -> dict:
    """Roboflow's ECHO_CHILD_WORKFLOW: ``child_msg`` (default "default-child") echoed."""
    return document(
        [parameter("child_msg", default_value="default-child")],
        [echo("pick", "$inputs.child_msg")],
        {"echo": "$steps.pick.output"},
    )


def inner(name: str, child: dict, **bindings: Any) -> dict:
    return {
        "type": INNER,
        "name": name,
        "workflow_definition": child,
        "parameter_bindings": bindings,
    }


def run(definition: dict, **inputs: Any) -> list[dict]:
    return Workflow.compile(definition, blocks=BLOCKS, cache=False).run(inputs)


def compile_error(definition: dict, error_class: type = Exception):
    with pytest.raises(error_class) as caught:
        Workflow.compile(definition, blocks=BLOCKS, cache=False)
    return caught.value


def test_a_name_used_twice_beside_an_inner_workflow_is_reported_with_the_other_wrong_steps():
    # the inliner stops at the name used twice; the parent's steps are each checked too
    steps = [
        inner("child", echo_child(), child_msg="$inputs.root_msg"),
        echo("twice", "$inputs.root_msg"),
        {"type": "roboflow_core/no_such_block@v1", "name": "other"},
        echo("twice", "$inputs.root_msg"),
    ]
    error = compile_error(document([parameter("root_msg")], steps, {"out": "$steps.child.echo"}))
    found = [(type(e).__name__, e.place) for e in (error, *error.also)]
    assert found == [
        ("UnknownBlockTypeError", "steps[2] 'other'"),
        ("DuplicateNameError", "steps[3] 'twice'"),
    ]
    assert error.also[0].message == "step name 'twice' is used twice (also by steps[1])"
    # a name used twice inside the child is the child's error alone, at its place there
    child = echo_child()
    child["steps"].append(echo("pick", "$inputs.child_msg"))
    error = compile_error(document([parameter("root_msg")], [inner("child", child)], {}))
    assert isinstance(error, DuplicateNameError) and error.also == []
    assert "steps[1] 'pick'" in error.place


# --- the published equivalences: nested == flat (values from Roboflow's engine) ------------


def test_a_parameter_from_an_upstream_parent_step_reaches_the_child():
    nested = document(
        [parameter("base", default_value="")],
        [
            first_non_empty("prepare", ["$inputs.base"], "unset"),
            inner("nested", echo_child(), child_msg="$steps.prepare.output"),
        ],
        {"from_child": "$steps.nested.echo"},
    )
    flat = document(
        [parameter("base", default_value="")],
        [
            first_non_empty("prepare", ["$inputs.base"], "unset"),
            echo("pick", "$steps.prepare.output"),
        ],
        {"from_child": "$steps.pick.output"},
    )
    expected = [{"from_child": "value-from-prepare-step"}]
    assert run(nested, base="value-from-prepare-step") == run(flat, base="value-from-prepare-step")
    assert run(nested, base="value-from-prepare-step") == expected


def test_two_parallel_inner_steps_with_the_same_child():
    inputs = [parameter("msg_a", default_value=""), parameter("msg_b", default_value="")]
    nested = document(
        inputs,
        [
            inner("branch_a", echo_child(), child_msg="$inputs.msg_a"),
            inner("branch_b", echo_child(), child_msg="$inputs.msg_b"),
        ],
        {"first": "$steps.branch_a.echo", "second": "$steps.branch_b.echo"},
    )
    assert run(nested, msg_a="left-branch", msg_b="right-branch") == [
        {"first": "left-branch", "second": "right-branch"}
    ]
    plan = Workflow.compile(nested, blocks=BLOCKS, cache=False).plan
    assert plan.order == ["branch_a__pick", "branch_b__pick"]


def test_an_inner_workflow_inside_an_inner_workflow():
    middle = document(
        [parameter("wrapper_msg", default_value="unused-middle")],
        [inner("inner_nested", echo_child(), child_msg="$inputs.wrapper_msg")],
        {"wrapped": "$steps.inner_nested.echo"},
    )
    nested = document(
        [parameter("root_msg", default_value="unused-root")],
        [inner("outer_nested", middle, wrapper_msg="$inputs.root_msg")],
        {"final": "$steps.outer_nested.wrapped"},
    )
    assert run(nested, root_msg="depth-two-value") == [{"final": "depth-two-value"}]
    assert run(nested) == [{"final": "unused-root"}]
    plan = Workflow.compile(nested, blocks=BLOCKS, cache=False).plan
    assert plan.order == ["outer_nested__inner_nested__pick"]


def test_a_batch_input_bound_to_a_child_parameter_runs_per_element():
    nested = document(
        [{"type": "WorkflowBatchInput", "name": "parent_msg", "kind": ["string"]}],
        [inner("nested", echo_child(), child_msg="$inputs.parent_msg")],
        {"from_child": "$steps.nested.echo"},
    )
    assert run(nested, parent_msg=["alpha", "beta", "gamma"]) == [
        {"from_child": "alpha"},
        {"from_child": "beta"},
        {"from_child": "gamma"},
    ]


def test_a_list_parameter_passes_through_a_child_step_that_takes_it():
    child = document(
        [parameter("child_msg", default_value="default-child")],
        [first_non_empty("pick", ["$inputs.child_msg"])],
        {"echo": "$steps.pick.output"},
    )
    nested = document(
        [parameter("parent_msg", default_value="")],
        [inner("nested", child, child_msg="$inputs.parent_msg")],
        {"from_child": "$steps.nested.echo"},
    )
    assert run(nested, parent_msg=["alpha", "beta", "gamma"]) == [
        {"from_child": ["alpha", "beta", "gamma"]}
    ]


def test_a_list_parameter_is_refused_by_a_child_field_that_takes_a_text():
    # Roboflow's engine (1.8.3) refuses it too: RuntimeInputError on step nested__pick
    nested = document(
        [parameter("parent_msg", default_value="")],
        [inner("nested", echo_child(), child_msg="$inputs.parent_msg")],
        {"from_child": "$steps.nested.echo"},
    )
    with pytest.raises(RuntimeInputError, match="nested__pick"):
        run(nested, parent_msg=["alpha", "beta", "gamma"])


ECHO_BLOCK = {
    "type": "DynamicBlockDefinition",
    "manifest": {
        "type": "ManifestDescription",
        "block_type": "InnerScalarEcho",
        "inputs": {
            "value": {"type": "DynamicInputDefinition", "selector_types": ["input_parameter"]}
        },
        "outputs": {"output": {"type": "DynamicOutputDefinition", "kind": []}},
    },
    "code": {
        "type": "PythonCode",
        "run_function_code": "\ndef run(self, value: str) -> BlockResult:\n"
        '    return {"output": value}\n',
    },
}


def child_with_its_own_block() -> dict:
    return document(
        [parameter("child_msg", default_value="default-child")],
        [{"type": "InnerScalarEcho", "name": "pick", "value": "$inputs.child_msg"}],
        {"echo": "$steps.pick.output"},
        dynamic_blocks_definitions=[ECHO_BLOCK],
    )


def test_a_child_may_define_its_own_dynamic_blocks():
    nested = document(
        [parameter("root_msg", default_value="unused-root")],
        [inner("nested", child_with_its_own_block(), child_msg="$inputs.root_msg")],
        {"final": "$steps.nested.echo"},
    )
    flat = document(
        [parameter("root_msg", default_value="unused-root")],
        [{"type": "InnerScalarEcho", "name": "pick", "value": "$inputs.root_msg"}],
        {"final": "$steps.pick.output"},
        dynamic_blocks_definitions=[ECHO_BLOCK],
    )
    assert run(nested) == run(flat) == [{"final": "unused-root"}]
    assert run(nested, root_msg="hi") == [{"final": "hi"}]


def test_two_children_may_define_the_same_dynamic_block():
    nested = document(
        [parameter("a", default_value="A"), parameter("b", default_value="B")],
        [
            inner("one", child_with_its_own_block(), child_msg="$inputs.a"),
            inner("two", child_with_its_own_block(), child_msg="$inputs.b"),
        ],
        {"one": "$steps.one.echo", "two": "$steps.two.echo"},
    )
    assert run(nested) == [{"one": "A", "two": "B"}]


def test_a_childs_dynamic_block_is_refused_without_custom_code():
    nested = document(
        [],
        [inner("nested", child_with_its_own_block())],
        {"final": "$steps.nested.echo"},
    )
    with pytest.raises(Exception) as caught:
        Workflow.compile(nested, cache=False, allow_custom_code=False)
    assert caught.value.code == "custom_code_not_allowed"
    assert caught.value.place == (
        "steps[0] 'nested' workflow_definition dynamic_blocks_definitions[0] 'InnerScalarEcho'"
    )


def test_a_child_block_of_a_type_the_parent_defines_otherwise_is_refused():
    other = copy.deepcopy(ECHO_BLOCK)
    other["code"]["run_function_code"] = other["code"]["run_function_code"].replace(
        '"output": value', '"output": "other"'
    )
    nested = document(
        [parameter("m", default_value="from-parent")],
        [inner("nested", child_with_its_own_block(), child_msg="$inputs.m")],
        {"final": "$steps.nested.echo"},
        dynamic_blocks_definitions=[other],
    )
    error = compile_error(nested)
    assert error.place.startswith(
        "steps[0] 'nested' workflow_definition dynamic_blocks_definitions[0] 'InnerScalarEcho'"
    )
    same = copy.deepcopy(nested)
    same["dynamic_blocks_definitions"] = [ECHO_BLOCK]  # word for word: the parent's block
    assert run(same) == [{"final": "from-parent"}]


# --- flow control inside and around the child ------------------------------------------------


def gate(name: str, flag: str, next_steps: list[str]) -> dict:
    return {
        "type": "roboflow_core/continue_if@v1",
        "name": name,
        "condition_statement": {
            "type": "StatementGroup",
            "statements": [
                {
                    "type": "UnaryStatement",
                    "operand": {"type": "DynamicOperand", "operand_name": "flag"},
                    "operator": {"type": "(Boolean) is True"},
                }
            ],
        },
        "evaluation_parameters": {"flag": flag},
        "next_steps": next_steps,
    }


def test_a_continue_if_inside_the_child_gates_the_childs_step():
    child = document(
        [parameter("go"), parameter("msg", default_value="child-default")],
        [
            gate("continue_if", "$inputs.go", ["$steps.emit"]),
            first_non_empty("emit", ["$inputs.msg"]),
        ],
        {"echo": "$steps.emit.output"},
    )
    nested = document(
        [parameter("go"), parameter("msg")],
        [
            inner("nested", child, go="$inputs.go", msg="$inputs.msg"),
            first_non_empty("pick_parent", ["$steps.nested.echo"], None),
        ],
        {"from_child": "$steps.pick_parent.output"},
    )
    assert run(nested, go=True, msg="passed") == [{"from_child": "passed"}]
    assert run(nested, go=False, msg="passed") == [{"from_child": None}]


def test_a_parent_continue_if_naming_the_inner_step_gates_its_first_step():
    # Roboflow's engine: go True -> [{'final': 'root'}], go False -> [{'final': None}]
    child = document(
        [parameter("child_msg", default_value="default-child")],
        [first_non_empty("pick", ["$inputs.child_msg"], "d")],
        {"echo": "$steps.pick.output"},
    )
    nested = document(
        [parameter("root_msg", default_value="root"), parameter("go", default_value=True)],
        [
            gate("gate", "$inputs.go", ["$steps.nested"]),
            inner("nested", child, child_msg="$inputs.root_msg"),
        ],
        {"final": "$steps.nested.echo"},
    )
    assert run(nested, go=True) == [{"final": "root"}]
    assert run(nested, go=False) == [{"final": None}]


@needs_face_detector
def test_a_child_cropping_the_parents_detections_gives_the_flat_result():
    models = {"yolov8n-640": "mediapipe/face_detection_short_range"}
    detect = {
        "type": "roboflow_core/roboflow_object_detection_model@v3",
        "name": "general_detection",
        "image": "$inputs.image",
        "model_id": "yolov8n-640",
    }
    crop = {
        "type": "roboflow_core/dynamic_crop@v1",
        "name": "cropping",
        "image": "$inputs.image",
        "predictions": "$inputs.predictions",
    }
    child = document(
        [
            {"type": "WorkflowImage", "name": "image"},
            {
                "type": "WorkflowBatchInput",
                "name": "predictions",
                "kind": ["object_detection_prediction"],
            },
        ],
        [crop],
        {"crop_predictions": "$steps.cropping.predictions"},
    )
    nested = document(
        [{"type": "WorkflowImage", "name": "image"}],
        [
            detect,
            inner(
                "nested",
                child,
                image="$inputs.image",
                predictions="$steps.general_detection.predictions",
            ),
        ],
        {"from_child": "$steps.nested.crop_predictions"},
        models=models,
    )
    flat_crop = {**crop, "predictions": "$steps.general_detection.predictions"}
    flat = document(
        [{"type": "WorkflowImage", "name": "image"}],
        [detect, flat_crop],
        {"from_child": "$steps.cropping.predictions"},
        models=models,
    )
    image = np.ascontiguousarray(astronaut()[:, :, ::-1])
    [nested_result], [flat_result] = run(nested, image=image), run(flat, image=image)
    [nested_faces], [flat_faces] = nested_result["from_child"], flat_result["from_child"]
    assert len(nested_faces) == len(flat_faces) == 1
    assert np.array_equal(nested_faces.xyxy, flat_faces.xyxy)
    assert np.array_equal(nested_faces.confidence, flat_faces.confidence)
    assert list(nested_faces.data["class_name"]) == ["face"]


def crops_classified(threshold: float) -> tuple[dict, dict]:
    """Roboflow's continue-if-in-the-child test: faces cropped and classified in the parent,
    the child's continue_if (top confidence >= threshold) choosing its last step."""
    models = {"yolov8n-640": "mediapipe/face_detection_short_range", "dog-breed/1": "fer/emotion"}
    parent_steps = [
        {
            "type": "roboflow_core/roboflow_object_detection_model@v2",
            "name": "general_detection",
            "image": "$inputs.image",
            "model_id": "yolov8n-640",
            "class_filter": ["face"],
        },
        {
            "type": "roboflow_core/dynamic_crop@v1",
            "name": "cropping",
            "image": "$inputs.image",
            "predictions": "$steps.general_detection.predictions",
        },
        {
            "type": "roboflow_core/roboflow_classification_model@v2",
            "name": "classification",
            "image": "$steps.cropping.crops",
            "model_id": "dog-breed/1",
            "confidence": 0.2,
        },
    ]

    def confident(name: str, predictions: str, next_step: str) -> dict:
        return {
            "type": "roboflow_core/continue_if@v1",
            "name": name,
            "condition_statement": {
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
                        "right_operand": {"type": "StaticOperand", "value": threshold},
                    }
                ],
            },
            "evaluation_parameters": {"predictions": predictions},
            "next_steps": [next_step],
        }

    child = document(
        [
            {
                "type": "WorkflowBatchInput",
                "name": "classification",
                "kind": ["classification_prediction"],
            },
            parameter("crop_label", default_value=""),
        ],
        [
            confident("continue_if", "$inputs.classification", "$steps.emit_label"),
            first_non_empty("emit_label", ["$inputs.crop_label"], None),
        ],
        {"echo": "$steps.emit_label.output"},
    )
    inputs = [{"type": "WorkflowImage", "name": "image"}, parameter("crop_label")]
    nested = document(
        inputs,
        [
            *parent_steps,
            inner(
                "nested",
                child,
                classification="$steps.classification.predictions",
                crop_label="$inputs.crop_label",
            ),
            first_non_empty("pick_parent", ["$steps.nested.echo"], None),
        ],
        {"from_child": "$steps.pick_parent.output"},
        models=models,
    )
    flat = document(
        inputs,
        [
            *parent_steps,
            confident("continue_if", "$steps.classification.predictions", "$steps.emit"),
            first_non_empty("emit", ["$inputs.crop_label"], None),
        ],
        {"from_child": "$steps.emit.output"},
        models=models,
    )
    return nested, flat


@needs_face_detector
@pytest.mark.parametrize(("threshold", "expected"), [(0.5, ["passed"]), (1.01, [None])])
def test_a_continue_if_in_the_child_on_the_parents_crops(threshold, expected):
    nested, flat = crops_classified(threshold)
    image = np.ascontiguousarray(astronaut()[:, :, ::-1])  # one face
    assert run(nested, image=image, crop_label="passed") == [{"from_child": expected}]
    assert run(flat, image=image, crop_label="passed") == [{"from_child": expected}]


# --- names ----------------------------------------------------------------------------------


def test_inlined_names_never_take_a_parent_steps_name():
    nested = document(
        [parameter("m", default_value="x")],
        [echo("nested__pick", "$inputs.m"), inner("nested", echo_child(), child_msg="$inputs.m")],
        {"own": "$steps.nested__pick.output", "child": "$steps.nested.echo"},
    )
    assert run(nested) == [{"own": "x", "child": "x"}]
    plan = Workflow.compile(nested, blocks=BLOCKS, cache=False).plan
    assert plan.order == ["nested__pick", "nested__pick__2"]


def test_a_child_output_passing_on_another_inner_steps_output():
    passing = document(
        [parameter("value")], [echo("pick", "$inputs.value")], {"echo": "$inputs.value"}
    )
    nested = document(
        [parameter("m", default_value="from-first")],
        [
            inner("first", echo_child(), child_msg="$inputs.m"),
            inner("second", passing, value="$steps.first.echo"),
        ],
        {"final": "$steps.second.echo"},
    )
    assert run(nested) == [{"final": "from-first"}]


def test_an_unbound_child_parameter_takes_its_default_and_a_binding_may_be_a_literal():
    nested = document(
        [],
        [
            inner("defaulted", echo_child()),
            inner("literal", echo_child(), child_msg="$$5 given"),
        ],
        {"defaulted": "$steps.defaulted.echo", "literal": "$steps.literal.echo"},
    )
    assert run(nested) == [{"defaulted": "default-child", "literal": "$5 given"}]


def test_the_block_is_listed_with_its_fields_and_the_childs_outputs():
    loaded = load_registry().by_type[INNER]
    assert loaded.block_class is InnerWorkflow
    fields = InnerWorkflow.Manifest.model_fields
    assert {"workflow_definition", "parameter_bindings", "execution_mode"} <= set(fields)
    manifest = InnerWorkflow.Manifest.model_validate(inner("n", echo_child()))
    assert [output.name for output in InnerWorkflow.describe_outputs(manifest)] == ["echo"]


# --- errors ---------------------------------------------------------------------------------


def parent_of(child: dict, **bindings: Any) -> dict:
    return document(
        [parameter("root_msg", default_value="root")],
        [inner("nested", child, **bindings)],
        {"final": "$steps.nested.echo"},
    )


def test_binding_a_name_the_child_does_not_declare():
    error = compile_error(parent_of(echo_child(), nope="$inputs.root_msg"), ManifestError)
    assert error.place == "steps[0] 'nested' field 'parameter_bindings'"
    assert "'nope'" in error.message and "child_msg" in error.hint


def test_a_required_child_input_left_unbound():
    child = echo_child()
    del child["inputs"][0]["default_value"]
    error = compile_error(parent_of(child), ManifestError)
    assert error.place == "steps[0] 'nested' field 'parameter_bindings'"
    assert error.message == "no binding for the child workflow's input 'child_msg'"


def test_a_child_reads_only_its_own_inputs_and_steps():
    child = echo_child()
    child["steps"][0]["value"] = "$inputs.root_msg"  # the parent's input: not the child's
    error = compile_error(parent_of(child, child_msg="$inputs.root_msg"), SelectorError)
    assert error.place == "steps[0] 'nested' workflow_definition steps[0] 'pick' field 'value'"
    child = echo_child()
    child["outputs"][0]["selector"] = "$steps.ghost.output"
    error = compile_error(parent_of(child, child_msg="$inputs.root_msg"), SelectorError)
    assert error.place == "steps[0] 'nested' workflow_definition outputs[0] 'echo' field 'selector'"


def test_reading_an_output_the_child_does_not_have():
    definition = parent_of(echo_child(), child_msg="$inputs.root_msg")
    definition["outputs"][0]["selector"] = "$steps.nested.nope"
    error = compile_error(definition, SelectorError)
    assert error.place == "outputs[0] 'final' field 'selector'"
    assert error.hint == "the child workflow's outputs: echo"
    definition["outputs"][0]["selector"] = "$steps.nested.*"  # Roboflow refuses it too
    assert "no '*' output" in compile_error(definition, SelectorError).message


def test_an_error_in_a_child_step_names_the_parent_step_and_the_childs_place():
    child = echo_child()
    child["steps"][0]["valeu"] = "x"
    error = compile_error(parent_of(child, child_msg="$inputs.root_msg"), ManifestError)
    assert error.place == "steps[0] 'nested' workflow_definition steps[0] 'pick'"
    child = echo_child()
    child["steps"].append({"type": "no_such_block", "name": "later"})
    error = compile_error(parent_of(child, child_msg="$inputs.root_msg"), UnknownBlockTypeError)
    assert error.place == "steps[0] 'nested' workflow_definition steps[1] 'later'"


def test_a_parent_steps_error_keeps_its_own_position():
    definition = parent_of(echo_child(), child_msg="$inputs.root_msg")
    definition["steps"].append({"type": "no_such_block", "name": "after"})
    error = compile_error(definition, UnknownBlockTypeError)
    assert error.place == "steps[1] 'after'"


def test_nesting_deeper_than_the_limit_is_refused():
    child = echo_child()
    for _ in range(MAX_DEPTH):
        child = document(
            [parameter("child_msg", default_value="d")],
            [inner("nested", child, child_msg="$inputs.child_msg")],
            {"echo": "$steps.nested.echo"},
        )
    error = compile_error(parent_of(child), DefinitionError)
    assert "nested more than 4 deep" in error.message
    assert error.place.count("workflow_definition") == MAX_DEPTH


def test_a_child_output_must_read_a_value_of_the_run():
    child = echo_child()
    child["outputs"][0]["selector"] = "$inputs.child_msg"  # bound to a literal below
    error = compile_error(parent_of(child, child_msg="fixed"), SelectorError)
    assert error.message == (
        "child output 'echo' reads a fixed value, not a step or input of the run, and "
        "outputs[0] 'final' field 'selector' reads it: a workflow's output must read a step "
        "or an input"
    )
    assert run(parent_of(child, child_msg="$inputs.root_msg")) == [{"final": "root"}]


def test_more_inner_workflow_steps_than_the_limit_are_refused():
    steps = [inner(f"n{i}", echo_child()) for i in range(MAX_COUNT + 1)]
    error = compile_error(document([], steps, {"last": "$steps.n0.echo"}), DefinitionError)
    assert error.place == f"steps[{MAX_COUNT}] 'n{MAX_COUNT}'"
    assert run(document([], steps[:MAX_COUNT], {"last": "$steps.n31.echo"})) == [
        {"last": "default-child"}
    ]


def test_remote_dispatch_is_refused():
    definition = parent_of(echo_child())
    definition["steps"][0]["execution_mode"] = "remote_dispatch"
    error = compile_error(definition, ManifestError)
    assert error.place == "steps[0] 'nested' field 'execution_mode'"
    assert "another server" in error.message


def test_a_workflow_referenced_by_id_cannot_be_read():
    definition = parent_of(echo_child())
    step = definition["steps"][0]
    del step["workflow_definition"]
    step.update(workflow_workspace_id="my-space", workflow_id="my-flow")
    error = compile_error(definition, ManifestError)
    assert error.place == "steps[0] 'nested' field 'workflow_id'"
    assert error.hint == "copy the child workflow into workflow_definition"
    both = copy.deepcopy(definition)
    both["steps"][0]["workflow_definition"] = echo_child()
    assert "not both" in compile_error(both, ManifestError).message


# --- review of issue 12: child outputs of fixed values, invalid child outputs and inputs ------


def child_giving_its_parameter() -> dict:
    """A child whose output ``given`` reads its parameter ``given_msg`` (default "dflt")."""
    return document(
        [parameter("child_msg"), parameter("given_msg", default_value="dflt")],
        [echo("pick", "$inputs.child_msg")],
        {"echo": "$steps.pick.output", "given": "$inputs.given_msg"},
    )


def test_a_child_output_of_a_fixed_value_is_refused_only_where_the_parent_outputs_it():
    # Roboflow's engine (1.8.3) runs all three (checked with first_non_empty_or_default as
    # the child's step, Roboflow having no scalar_only_echo): the child is a valid workflow,
    # and an output nobody reads is no error
    nested = parent_of(child_giving_its_parameter(), child_msg="$inputs.root_msg")
    assert run(nested) == [{"final": "root"}]
    bound = parent_of(child_giving_its_parameter(), child_msg="$inputs.root_msg", given_msg="bound")
    assert run(bound) == [{"final": "root"}]
    middle = document(
        [parameter("wrapper_msg", default_value="unused-middle")],
        [inner("inner_nested", child_giving_its_parameter(), child_msg="$inputs.wrapper_msg")],
        {"wrapped": "$steps.inner_nested.echo", "given": "$steps.inner_nested.given"},
    )
    deeper = parent_of(middle, wrapper_msg="$inputs.root_msg")
    deeper["outputs"][0]["selector"] = "$steps.nested.wrapped"
    assert run(deeper) == [{"final": "root"}]
    nested["outputs"][0]["selector"] = "$steps.nested.given"  # an output must read the run
    error = compile_error(nested, SelectorError)
    assert error.place == (
        "steps[0] 'nested' workflow_definition outputs[1] 'given' field 'selector'"
    )
    assert "outputs[0] 'final' field 'selector' reads it" in error.message


def test_a_parent_step_reading_a_child_output_of_a_fixed_value_gets_the_value():
    # Roboflow's engine (1.8.3) gives 'dflt', 'bound', 'dflt' (checked with
    # first_non_empty_or_default as the child's step): the value, put in the parent's field
    def reading(child: dict, **bindings: Any) -> dict:
        return document(
            [parameter("root_msg", default_value="root"), parameter("empty")],
            [
                inner("nested", child, **bindings),
                first_non_empty("after", ["$inputs.empty"], "$steps.nested.given"),
            ],
            {"final": "$steps.after.output"},
        )

    child = child_giving_its_parameter()
    assert run(reading(child, child_msg="$inputs.root_msg"), empty=None) == [{"final": "dflt"}]
    bound = reading(child, child_msg="$inputs.root_msg", given_msg="bound")
    assert run(bound, empty=None) == [{"final": "bound"}]
    middle = document(
        [parameter("wrapper_msg", default_value="unused-middle")],
        [inner("inner_nested", child, child_msg="$inputs.wrapper_msg")],
        {"given": "$steps.inner_nested.given"},
    )
    deeper = reading(middle, wrapper_msg="$inputs.root_msg")
    assert run(deeper, empty=None) == [{"final": "dflt"}]


def test_a_child_output_naming_a_step_without_an_output_is_refused_in_the_child():
    child = echo_child()
    child["outputs"].append({"type": "JsonField", "name": "bare", "selector": "$steps.pick"})
    definition = parent_of(child, child_msg="$inputs.root_msg")
    definition["outputs"][0]["selector"] = "$steps.nested.bare"
    error = compile_error(definition, SelectorError)
    assert error.place == "steps[0] 'nested' workflow_definition outputs[1] 'bare' field 'selector'"
    assert error.hint == "write $steps.pick.<output>"


def test_names_used_twice_in_the_child_are_refused_in_the_child():
    child = echo_child()
    child["outputs"].append({"type": "JsonField", "name": "echo", "selector": "$inputs.child_msg"})
    error = compile_error(parent_of(child, child_msg="$inputs.root_msg"), DuplicateNameError)
    assert error.place == "steps[0] 'nested' workflow_definition outputs[1] 'echo'"
    child = echo_child()
    child["inputs"].append(parameter("child_msg", default_value="other"))
    error = compile_error(parent_of(child), DuplicateNameError)
    assert error.place == "steps[0] 'nested' workflow_definition inputs[1] 'child_msg'"


@pytest.mark.parametrize("bound", ["$steps.prepare.output.deeper", "$inputs.root_msg.x", "$steps."])
def test_a_binding_that_is_no_selector_is_named_at_the_binding(bound):
    error = compile_error(parent_of(echo_child(), child_msg=bound), SelectorError)
    assert error.place == "steps[0] 'nested' field 'parameter_bindings'"
    assert error.message == f"'child_msg' is bound to {bound!r}, which is not a selector"
    assert error.hint == (
        "write $inputs.<name>, $steps.<step>.<output> or $steps.<step>.* (a text that starts "
        "with $ is written $$)"
    )


def test_the_plan_keeps_the_document_as_written_children_included():
    # run-dataset's lineage and --resume hash plan.definition: a child's code is part of it
    nested = document(
        [parameter("root_msg", default_value="unused-root")],
        [inner("nested", child_with_its_own_block(), child_msg="$inputs.root_msg")],
        {"final": "$steps.nested.echo"},
    )
    edited = copy.deepcopy(nested)
    code = edited["steps"][0]["workflow_definition"]["dynamic_blocks_definitions"][0]["code"]
    code["run_function_code"] = code["run_function_code"].replace("value}", "value * 2}")
    first, second = (Workflow.compile(d, blocks=BLOCKS, cache=False) for d in (nested, edited))
    assert first.run(root_msg="ab") == [{"final": "ab"}]
    assert second.run(root_msg="ab") == [{"final": "abab"}]
    assert first.plan.definition.steps == nested["steps"]
    assert definition_hash(first.plan.definition) != definition_hash(second.plan.definition)
    assert first.plan.order == ["nested__pick"]
