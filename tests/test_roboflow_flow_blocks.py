"""Roboflow's ContinueIf, PropertyDefinition, DetectionsFilter, DetectionsTransformation and
Expression, written as Roboflow's documentation writes them (``condition_statement``,
``operations``, ``switch``...), run unchanged on real images and detections.

Expected values follow Roboflow's block documentation, cited per test
(https://docs.roboflow.com/workflows/blocks/...), and the operations' meanings in
docs/guide/roboflow-operations.md. Only the detector is ours (``test/fixed_boxes@v1``, a
deterministic stand-in from conftest.py); detections are also given as inputs of kind
``object_detection_prediction``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import supervision as sv

from visionflow import Workflow
from visionflow.errors import ExpressionError, StepExecutionError

BOXES = [[10, 20, 110, 220], [200, 200, 300, 260], [0, 0, 50, 50]]
DETECT = {  # confidences 0.9, 0.7, 0.5 (conftest.py)
    "type": "test/fixed_boxes@v1",
    "name": "model",
    "image": "$inputs.image",
    "boxes": BOXES,
    "classes": ["cat", "dog", "cat"],
}
PREDICTIONS_INPUT = {
    "type": "WorkflowBatchInput",
    "name": "predictions",
    "kind": ["object_detection_prediction"],
}


def definition(*steps: dict, outputs: dict[str, str], inputs: list[dict] | None = None) -> dict:
    return {
        "version": "1.0",
        "inputs": [{"type": "WorkflowImage", "name": "image"}] if inputs is None else inputs,
        "steps": list(steps),
        "outputs": [
            {"type": "JsonField", "name": name, "selector": selector}
            for name, selector in outputs.items()
        ],
    }


def detections(boxes: list[list[float]], classes: list[str], confidences: list[float]):
    names = sorted(set(classes))
    return sv.Detections(
        xyxy=np.array(boxes, dtype=float).reshape(-1, 4),
        confidence=np.array(confidences, dtype=float),
        class_id=np.array([names.index(c) for c in classes], dtype=int),
        data={"class_name": np.array(classes, dtype=object)},
    )


def compile_error(document: dict, test_blocks) -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        Workflow.compile(document, blocks=test_blocks)
    return caught.value


def binary(left: dict, comparator: str, right: dict) -> dict:
    return {
        "type": "BinaryStatement",
        "left_operand": left,
        "comparator": {"type": comparator},
        "right_operand": right,
    }


def group(*statements: dict, operator: str = "or") -> dict:
    return {"type": "StatementGroup", "operator": operator, "statements": list(statements)}


def dynamic(name: str = "_", *operations: dict) -> dict:
    operand: dict[str, Any] = {"type": "DynamicOperand", "operand_name": name}
    if operations:
        operand["operations"] = list(operations)
    return operand


def static(value: Any) -> dict:
    return {"type": "StaticOperand", "value": value}


def class_name_in(parameter: str) -> dict:
    """Roboflow's documented filter: keep detections whose class is in a parameter."""
    return {
        "type": "DetectionsFilter",
        "filter_operation": group(
            binary(
                {
                    "type": "DynamicOperand",
                    "operations": [
                        {"type": "ExtractDetectionProperty", "property_name": "class_name"}
                    ],
                },
                "in (Sequence)",
                dynamic(parameter),
            )
        ),
    }


def extract(name: str) -> dict:
    return {"type": "DetectionsPropertyExtract", "property_name": name}


# --- DetectionsFilter ----------------------------------------------------------------------


def test_detections_filter_keeps_the_classes_of_a_parameter(astronaut, coffee, test_blocks):
    # docs.roboflow.com/workflows/blocks/blocks/transformations/detections-filter: the
    # block's own example, class_name `in (Sequence)` the `classes` operations parameter.
    document = definition(
        DETECT,
        {
            "type": "roboflow_core/detections_filter@v1",
            "name": "filter",
            "predictions": "$steps.model.predictions",
            "operations": [class_name_in("classes")],
            "operations_parameters": {"classes": "$inputs.classes"},
        },
        {
            "type": "PropertyDefinition",
            "name": "confidences",
            "data": "$steps.filter.predictions",
            "operations": [extract("confidence")],
        },
        inputs=[
            {"type": "WorkflowImage", "name": "image"},
            {"type": "WorkflowParameter", "name": "classes", "default_value": ["cat"]},
        ],
        outputs={"confidences": "$steps.confidences.output"},
    )
    workflow = Workflow.compile(document, blocks=test_blocks)
    assert workflow.run(image=[astronaut, coffee]) == [
        {"confidences": [0.9, 0.5]},
        {"confidences": [0.9, 0.5]},
    ]
    assert workflow.run(image=astronaut, classes=["dog"]) == [{"confidences": [0.7]}]


def test_detections_filter_per_element_parameters(test_blocks):
    # a batch-oriented operations parameter is given per element (Roboflow's
    # operations_parameters accept batches and scalars)
    document = definition(
        {
            "type": "DetectionsFilter",
            "name": "filter",
            "predictions": "$inputs.predictions",
            "operations": [
                {
                    "type": "DetectionsFilter",
                    "filter_operation": group(
                        binary(
                            dynamic(
                                "_",
                                {"type": "ExtractDetectionProperty", "property_name": "confidence"},
                            ),
                            "(Number) >=",
                            dynamic("threshold"),
                        )
                    ),
                }
            ],
            "operations_parameters": {"threshold": "$inputs.threshold"},
        },
        {
            "type": "roboflow_core/property_definition@v1",
            "name": "classes",
            "data": "$steps.filter.predictions",
            "operations": [extract("class_name")],
        },
        inputs=[PREDICTIONS_INPUT, {"type": "WorkflowBatchInput", "name": "threshold"}],
        outputs={"classes": "$steps.classes.output"},
    )
    found = detections([[0, 0, 10, 10], [5, 5, 20, 20]], ["car", "bus"], [0.8, 0.3])
    results = Workflow.compile(document, blocks=test_blocks).run(
        predictions=[found, found], threshold=[0.5, 0.2]
    )
    assert results == [{"classes": ["car"]}, {"classes": ["car", "bus"]}]


# --- DetectionsTransformation --------------------------------------------------------------


def test_detections_transformation_filters_sorts_and_shifts(astronaut, test_blocks):
    # docs.roboflow.com/workflows/blocks/blocks/transformations/detections-transformation:
    # the operations run in order, each on the previous one's detections.
    document = definition(
        DETECT,
        {
            "type": "roboflow_core/detections_transformation@v1",
            "name": "transform",
            "predictions": "$steps.model.predictions",
            "operations": [
                class_name_in("keep"),
                {"type": "SortDetections", "mode": "x_min", "ascending": False},
                {"type": "DetectionsShift", "shift_x": 5, "shift_y": -10},
            ],
            "operations_parameters": {"keep": ["cat"]},
        },
        {
            "type": "PropertyDefinition",
            "name": "corners",
            "data": "$steps.transform.predictions",
            "operations": [extract("top_left")],
        },
        outputs={"corners": "$steps.corners.output"},
    )
    results = Workflow.compile(document, blocks=test_blocks).run(image=astronaut)
    # cats at x_min 10 and 0, sorted descending, moved 5 right and 10 up
    assert results == [{"corners": [[15, 10], [5, -10]]}]


def test_detections_transformation_must_give_detections(test_blocks):
    # Roboflow refuses a chain that turns detections into another type
    document = definition(
        {
            "type": "DetectionsTransformation",
            "name": "transform",
            "predictions": "$inputs.predictions",
            "operations": [extract("class_name")],
        },
        inputs=[PREDICTIONS_INPUT],
        outputs={"predictions": "$steps.transform.predictions"},
    )
    workflow = Workflow.compile(document, blocks=test_blocks)
    with pytest.raises(StepExecutionError) as caught:
        workflow.run(predictions=[detections([[0, 0, 1, 1]], ["car"], [0.5])])
    assert "turned detections into list" in caught.value.message


# --- PropertyDefinition --------------------------------------------------------------------


def test_property_definition_runs_an_operation_chain_on_an_image(astronaut, coffee, test_blocks):
    # docs.roboflow.com/workflows/blocks/blocks/formatters/property-definition:
    # `operations` applied to `data`, the result in `output`
    document = definition(
        {
            "type": "roboflow_core/property_definition@v1",
            "name": "aspect",
            "data": "$inputs.image",
            "operations": [
                {"type": "ExtractImageProperty", "property_name": "aspect_ratio"},
                {"type": "NumberRound", "decimal_digits": 2},
            ],
        },
        outputs={"aspect": "$steps.aspect.output"},
    )
    results = Workflow.compile(document, blocks=test_blocks).run(image=[astronaut, coffee])
    assert results == [{"aspect": 1.0}, {"aspect": 1.5}]  # 512x512, 600x400


def test_property_definition_counts_detections(astronaut, test_blocks):
    document = definition(
        DETECT,
        {
            "type": "PropertyDefinition",
            "name": "count",
            "data": "$steps.model.predictions",
            "operations": [{"type": "SequenceLength"}],
        },
        outputs={"count": "$steps.count.output"},
    )
    assert Workflow.compile(document, blocks=test_blocks).run(image=astronaut) == [{"count": 3}]


# --- ContinueIf ----------------------------------------------------------------------------


def gate_on_width(minimum: int) -> dict:
    return definition(
        {
            "type": "roboflow_core/continue_if@v1",
            "name": "wide_enough",
            "condition_statement": group(
                binary(
                    dynamic("image", {"type": "ExtractImageProperty", "property_name": "width"}),
                    "(Number) >",
                    static(minimum),
                )
            ),
            "evaluation_parameters": {"image": "$inputs.image"},
            "next_steps": ["$steps.height"],
        },
        {
            "type": "PropertyDefinition",
            "name": "height",
            "data": "$inputs.image",
            "operations": [{"type": "ExtractImageProperty", "property_name": "height"}],
        },
        outputs={"height": "$steps.height.output"},
    )


def test_continue_if_runs_next_steps_only_where_the_statement_holds(astronaut, coffee, test_blocks):
    # docs.roboflow.com/workflows/blocks/blocks/flow-control/continue-if: next_steps run
    # when condition_statement holds for the evaluation_parameters; else the branch stops
    workflow = Workflow.compile(gate_on_width(550), blocks=test_blocks)
    assert workflow.run(image=[astronaut, coffee]) == [{"height": None}, {"height": 400}]


def test_continue_if_stop_delay_keeps_the_branch_open(astronaut, coffee, test_blocks):
    # continue-if: with stop_delay, the branch stays open that many seconds after the
    # statement last held (an hour here: the second run comes well within it)
    document = gate_on_width(550)
    document["steps"][0]["stop_delay"] = 3600
    workflow = Workflow.compile(document, blocks=test_blocks, cache=False)  # its own state
    assert workflow.run(image=astronaut) == [{"height": None}]  # never held yet
    assert workflow.run(image=coffee) == [{"height": 400}]
    assert workflow.run(image=astronaut) == [{"height": 512}]


def test_continue_if_with_detections_and_an_and_group(test_blocks):
    document = definition(
        {
            "type": "ContinueIf",
            "name": "gate",
            "condition_statement": group(
                binary(
                    dynamic("predictions", {"type": "SequenceLength"}), "(Number) >=", static(2)
                ),
                binary(
                    dynamic("predictions", extract("class_name")),
                    "any in (Sequence)",
                    static(["bus"]),
                ),
                operator="and",
            ),
            "evaluation_parameters": {"predictions": "$inputs.predictions"},
            "next_steps": ["$steps.classes"],
        },
        {
            "type": "PropertyDefinition",
            "name": "classes",
            "data": "$inputs.predictions",
            "operations": [extract("class_name"), {"type": "SequenceJoin", "separator": "+"}],
        },
        inputs=[PREDICTIONS_INPUT],
        outputs={"classes": "$steps.classes.output"},
    )
    two = detections([[0, 0, 10, 10], [5, 5, 20, 20]], ["car", "bus"], [0.8, 0.3])
    one_bus = detections([[0, 0, 10, 10]], ["bus"], [0.8])
    no_bus = detections([[0, 0, 10, 10], [5, 5, 20, 20]], ["car", "car"], [0.8, 0.3])
    results = Workflow.compile(document, blocks=test_blocks).run(predictions=[two, one_bus, no_bus])
    assert results == [{"classes": "car+bus"}, {"classes": None}, {"classes": None}]


# --- Expression ----------------------------------------------------------------------------


def expression(switch: dict, **fields: Any) -> dict:
    return definition(
        DETECT,
        {
            "type": "roboflow_core/expression@v1",
            "name": "verdict",
            "data": {"predictions": "$steps.model.predictions", "reference": "$inputs.reference"},
            "switch": switch,
            **fields,
        },
        inputs=[
            {"type": "WorkflowImage", "name": "image"},
            {"type": "WorkflowParameter", "name": "reference"},
        ],
        outputs={"verdict": "$steps.verdict.output"},
    )


def cases(*pairs: tuple[dict, dict], default: dict) -> dict:
    return {
        "type": "CasesDefinition",
        "cases": [
            {"type": "CaseDefinition", "condition": condition, "result": result}
            for condition, result in pairs
        ],
        "default": default,
    }


def test_expression_switch_with_data_operations(astronaut, test_blocks):
    # docs.roboflow.com/workflows/blocks/blocks/advanced-blocks/expression: data_operations
    # transform the variables first; the first case that holds gives its result (static:
    # its value; dynamic: the variable through its operations); else the default
    switch = cases(
        (
            group(binary(dynamic("predictions"), "==", dynamic("reference"))),
            {"type": "StaticCaseResult", "value": "PASS"},
        ),
        (
            group(binary(dynamic("reference"), "all in (Sequence)", dynamic("predictions"))),
            {
                "type": "DynamicCaseResult",
                "parameter_name": "predictions",
                "operations": [{"type": "SequenceLength"}],
            },
        ),
        default={"type": "StaticCaseResult", "value": "FAIL"},
    )
    document = expression(switch, data_operations={"predictions": [extract("class_name")]})
    workflow = Workflow.compile(document, blocks=test_blocks)
    assert workflow.run(image=astronaut, reference=["cat", "dog", "cat"]) == [{"verdict": "PASS"}]
    assert workflow.run(image=astronaut, reference=["dog"]) == [{"verdict": 3}]
    assert workflow.run(image=astronaut, reference=["bird"]) == [{"verdict": "FAIL"}]


def test_expression_dynamic_default_reads_the_variable(astronaut, test_blocks):
    switch = cases(
        default={
            "type": "DynamicCaseResult",
            "parameter_name": "predictions",
            "operations": [
                {"type": "DetectionsSelection", "mode": "top_confidence"},
                extract("class_name"),
            ],
        },
    )
    workflow = Workflow.compile(expression(switch), blocks=test_blocks)
    assert workflow.run(image=astronaut, reference=None) == [{"verdict": ["cat"]}]


# --- compile errors ------------------------------------------------------------------------


def test_unknown_operation_names_the_step_and_the_valid_ones(test_blocks):
    document = definition(
        DETECT,
        {
            "type": "DetectionsFilter",
            "name": "filter",
            "predictions": "$steps.model.predictions",
            "operations": [{"type": "DetectionFilter"}],
        },
        outputs={"predictions": "$steps.filter.predictions"},
    )
    error = compile_error(document, test_blocks)
    assert error.place == "steps[1] 'filter' operations[0]"
    assert error.message == "unknown operation type 'DetectionFilter'"
    assert error.hint.startswith("did you mean 'DetectionsFilter'? valid operation types: ")
    assert "SortDetections, DetectionsOffset" in error.hint


def test_an_evaluation_parameter_not_given_is_a_compile_error(test_blocks):
    document = gate_on_width(100)
    document["steps"][0]["evaluation_parameters"] = {"img": "$inputs.image"}
    error = compile_error(document, test_blocks)
    assert error.place == (
        "steps[0] 'wide_enough' condition_statement.statements[0].left_operand.operand_name"
    )
    assert error.message == "no evaluation parameter 'image'"
    assert error.hint == "did you mean 'img'? valid parameters: img"


def test_an_operations_parameter_not_given_is_a_compile_error(test_blocks):
    document = definition(
        DETECT,
        {
            "type": "roboflow_core/detections_transformation@v1",
            "name": "transform",
            "predictions": "$steps.model.predictions",
            "operations": [class_name_in("classes")],
            "operations_parameters": {"clases": ["cat"]},
        },
        outputs={"predictions": "$steps.transform.predictions"},
    )
    error = compile_error(document, test_blocks)
    assert error.place.startswith("steps[1] 'transform' operations[0].filter_operation")
    assert error.hint == "did you mean 'clases'? valid parameters: _, clases"


def test_the_detection_operand_name_is_reserved(test_blocks):
    document = definition(
        DETECT,
        {
            "type": "DetectionsFilter",
            "name": "filter",
            "predictions": "$steps.model.predictions",
            "operations": [class_name_in("_")],
            "operations_parameters": {"_": ["cat"]},
        },
        outputs={"predictions": "$steps.filter.predictions"},
    )
    error = compile_error(document, test_blocks)
    assert error.place == "steps[1] 'filter' field 'operations_parameters'"


def test_one_condition_and_its_own_data(test_blocks):
    document = gate_on_width(100)
    document["steps"][0]["condition"] = "True"
    error = compile_error(document, test_blocks)
    assert error.place == "steps[0] 'wide_enough'"
    assert error.message == "give exactly one of 'condition' or 'condition_statement' (both given)"
    del document["steps"][0]["condition"], document["steps"][0]["condition_statement"]
    assert compile_error(document, test_blocks).message.endswith("(neither given)")
    document["steps"][0]["condition"] = "True"
    error = compile_error(document, test_blocks)
    assert error.message == (
        "field 'evaluation_parameters' goes with 'condition_statement', which is not given"
    )


def test_switch_mistakes_name_the_case(test_blocks):
    switch = cases(
        (
            group(binary(dynamic("predictions"), "==", static(1))),
            {"type": "DynamicCaseResult", "parameter_name": "prediction"},
        ),
        default={"type": "StaticCaseResult", "value": 0},
    )
    error = compile_error(expression(switch), test_blocks)
    assert error.place == "steps[1] 'verdict' switch.cases[0].result.parameter_name"
    assert error.hint == "did you mean 'predictions'? valid names: predictions, reference"
    switch["cases"][0]["result"]["parameter_name"] = "predictions"
    switch["default"] = {"type": "StaticResult", "value": 0}
    error = compile_error(expression(switch), test_blocks)
    assert error.place == "steps[1] 'verdict' switch.default"
    assert error.message == "unknown case result type 'StaticResult'"


def test_data_operations_name_a_variable_of_data(test_blocks):
    switch = cases(default={"type": "StaticCaseResult", "value": 0})
    document = expression(switch, data_operations={"detections": [{"type": "SequenceLength"}]})
    error = compile_error(document, test_blocks)
    assert error.place == "steps[1] 'verdict' field 'data_operations'"
    assert error.message == "data_operations names 'detections', which is not in data"
    document = expression(switch, data_operations={"predictions": [{"type": "SequenceLen"}]})
    error = compile_error(document, test_blocks)
    assert error.place == "steps[1] 'verdict' data_operations.predictions[0]"
    assert error.hint.startswith("did you mean 'SequenceLength'?")


def test_property_definition_takes_property_or_operations(test_blocks):
    document = definition(
        {
            "type": "PropertyDefinition",
            "name": "size",
            "data": "$inputs.image",
            "property": "width",
            "operations": [{"type": "SequenceLength"}],
        },
        outputs={"size": "$steps.size.output"},
    )
    error = compile_error(document, test_blocks)
    assert error.message == "give exactly one of 'property' or 'operations' (both given)"
