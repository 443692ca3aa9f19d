"""Every mistake in a definition is a compile error that names the place, before anything runs."""

from __future__ import annotations

from typing import Any, Literal

import pytest

from visionflow import Batch, Block, FlowControl, Output, Selector, StepSelector, Workflow
from visionflow.errors import (
    CompilationError,
    CycleError,
    DefinitionError,
    DimensionalityError,
    DuplicateNameError,
    ExpressionError,
    FlowControlError,
    KindMismatchError,
    LineageError,
    ManifestError,
    SelectorError,
    UnknownBlockTypeError,
    WorkflowError,
)


def image_workflow(*steps, outputs=()):
    return {
        "inputs": [{"type": "image", "name": "image"}, {"type": "parameter", "name": "t"}],
        "steps": list(steps),
        "outputs": list(outputs),
    }


def detector(name="detect", image="$inputs.image"):
    return {
        "type": "test/fixed_boxes@v1",
        "name": name,
        "image": image,
        "boxes": [[0, 0, 10, 10]],
        "classes": ["a"],
    }


def compile_error(definition, test_blocks) -> CompilationError:
    with pytest.raises(CompilationError) as caught:
        Workflow.compile(definition, blocks=test_blocks, cache=False)
    return caught.value


def test_unknown_block_type_suggests_close_names(test_blocks):
    error = compile_error(image_workflow({"type": "DynamicCorp", "name": "c"}), test_blocks)
    assert isinstance(error, UnknownBlockTypeError)
    assert error.place == "steps[0] 'c'"
    assert "'DynamicCrop'" in error.hint


def test_unknown_field_names_the_field_and_suggests(test_blocks):
    step = {**detector(), "imgae": "$inputs.image"}
    error = compile_error(image_workflow(step), test_blocks)
    assert isinstance(error, ManifestError)
    assert "unknown field 'imgae'" in error.message
    assert error.place == "steps[0] 'detect'"


def test_missing_required_field(test_blocks):
    step = detector()
    del step["boxes"]
    error = compile_error(image_workflow(step), test_blocks)
    assert isinstance(error, ManifestError)
    assert "missing required field 'boxes'" in error.message


def test_literal_where_a_selector_is_required(test_blocks):
    error = compile_error(image_workflow(detector(image="photo.jpg")), test_blocks)
    assert isinstance(error, ManifestError)
    assert error.place == "steps[0] 'detect' field 'image'"
    assert "'photo.jpg'" in error.message


@pytest.mark.parametrize(
    ("selector", "fragment"),
    [
        ("$inputs.imag", "input 'imag', which is not declared"),
        ("$steps.nothing.out", "step 'nothing', which does not exist"),
        ("$steps.detect.boxes", "step 'detect' has no output 'boxes'"),
    ],
)
def test_selectors_to_missing_things(test_blocks, selector, fragment):
    crop = {
        "type": "DynamicCrop",
        "name": "crop",
        "images": "$inputs.image",
        "predictions": selector,
    }
    if selector.startswith("$inputs"):
        crop = {
            "type": "DynamicCrop",
            "name": "crop",
            "images": selector,
            "predictions": "$steps.detect.predictions",
        }
    error = compile_error(image_workflow(detector(), crop), test_blocks)
    assert isinstance(error, SelectorError)
    assert fragment in error.message
    assert error.place.startswith("steps[1] 'crop' field")


def test_typo_in_input_name_gets_a_suggestion(test_blocks):
    error = compile_error(image_workflow(detector(image="$inputs.imag")), test_blocks)
    assert "did you mean 'image'" in error.hint


def test_kind_mismatch_says_expected_and_found(test_blocks):
    crop = {
        "type": "DynamicCrop",
        "name": "crop",
        "images": "$steps.detect.predictions",
        "predictions": "$steps.detect.predictions",
    }
    error = compile_error(image_workflow(detector(), crop), test_blocks)
    assert isinstance(error, KindMismatchError)
    assert error.place == "steps[1] 'crop' field 'images'"
    assert "gives [object_detection_prediction] but the field accepts [image]" in error.message


def test_cycle_names_the_steps_on_it(test_blocks):
    a = {"type": "test/echo@v1", "name": "a", "value": "$steps.b.value"}
    b = {"type": "test/echo@v1", "name": "b", "value": "$steps.a.value"}
    c = {"type": "test/echo@v1", "name": "c", "value": "$inputs.t"}
    error = compile_error(image_workflow(c, a, b), test_blocks)
    assert isinstance(error, CycleError)
    assert "'a' -> 'b' -> 'a'" in error.message or "'b' -> 'a' -> 'b'" in error.message


def test_duplicate_step_names(test_blocks):
    error = compile_error(image_workflow(detector(), detector()), test_blocks)
    assert isinstance(error, DuplicateNameError)
    assert error.place == "steps[1] 'detect'"


def test_duplicate_input_names(test_blocks):
    definition = image_workflow()
    definition["inputs"].append({"type": "image", "name": "image"})
    assert isinstance(compile_error(definition, test_blocks), DuplicateNameError)


def test_crops_of_two_detectors_cannot_be_combined(test_blocks):
    steps = [
        detector("det_a"),
        detector("det_b"),
        {
            "type": "DynamicCrop",
            "name": "crops_a",
            "images": "$inputs.image",
            "predictions": "$steps.det_a.predictions",
        },
        {
            "type": "DynamicCrop",
            "name": "crops_b",
            "images": "$inputs.image",
            "predictions": "$steps.det_b.predictions",
        },
        {
            "type": "Expression",
            "name": "both",
            "expression": "a",
            "data": {"a": "$steps.crops_a.crops", "b": "$steps.crops_b.crops"},
        },
    ]
    error = compile_error(image_workflow(*steps), test_blocks)
    assert isinstance(error, LineageError)
    assert "crops_a" in error.message and "crops_b" in error.message
    assert error.place.startswith("steps[4] 'both' field 'data'")


def test_deeper_input_without_declared_offset_is_a_dimensionality_error(test_blocks):
    class TwoLevels(Block):
        class Manifest(Block.Manifest):
            type: Literal["test/two_levels@v1"]
            parents: Selector()
            children: Selector()

        outputs = [Output("x")]
        input_dimensionality_offsets = {"children": 1}

        def run(self, parents: Any, children: Batch) -> dict:
            return {"x": len(children)}

    steps = [
        detector(),
        {
            "type": "DynamicCrop",
            "name": "crop",
            "images": "$inputs.image",
            "predictions": "$steps.detect.predictions",
        },
        {
            "type": "test/two_levels@v1",
            "name": "two",
            "parents": "$steps.crop.crops",
            "children": "$steps.crop.crops",
        },
    ]
    error = compile_error(image_workflow(*steps), [*test_blocks, TwoLevels])
    assert isinstance(error, DimensionalityError)
    assert error.place == "steps[2] 'two' field 'children'"


def test_collapsing_a_value_that_is_not_a_batch_is_a_dimensionality_error(test_blocks):
    step = {"type": "DimensionCollapse", "name": "c", "data": "$inputs.t"}  # a parameter
    error = compile_error(image_workflow(step), test_blocks)
    assert isinstance(error, DimensionalityError)
    assert error.message == (
        "this block gathers the elements of a batch, but none of its inputs is a batch"
    )


def test_flow_control_target_must_exist(test_blocks):
    step = {
        "type": "ContinueIf",
        "name": "gate",
        "condition": "t > 1",
        "data": {"t": "$inputs.t"},
        "next_steps": ["$steps.nowhere"],
    }
    error = compile_error(image_workflow(step), test_blocks)
    assert isinstance(error, FlowControlError)
    assert error.place == "steps[0] 'gate' field 'next_steps'"


def test_flow_control_cannot_gate_a_step_at_a_higher_level(test_blocks):
    steps = [
        detector(),
        {
            "type": "DynamicCrop",
            "name": "crop",
            "images": "$inputs.image",
            "predictions": "$steps.detect.predictions",
        },
        {
            "type": "ContinueIf",
            "name": "gate",
            "condition": "width(c) > 1",
            "data": {"c": "$steps.crop.crops"},
            "next_steps": ["$steps.whole"],
        },
        {"type": "test/echo@v1", "name": "whole", "value": "$inputs.image"},
    ]
    error = compile_error(image_workflow(*steps), test_blocks)
    assert isinstance(error, FlowControlError)
    assert "'gate'" in error.message and "'whole'" in error.message


def test_bad_expression_is_a_compile_error_naming_the_field(test_blocks):
    step = {
        "type": "Expression",
        "name": "e",
        "expression": "t.__class__",
        "data": {"t": "$inputs.t"},
    }
    error = compile_error(image_workflow(step), test_blocks)
    assert isinstance(error, ExpressionError)
    assert error.place == "steps[0] 'e' field 'expression'"


def test_unknown_variable_in_expression_is_a_compile_error(test_blocks):
    step = {"type": "Expression", "name": "e", "expression": "tt + 1", "data": {"t": "$inputs.t"}}
    error = compile_error(image_workflow(step), test_blocks)
    assert isinstance(error, ExpressionError)
    assert "tt" in error.message


def test_output_selector_to_missing_step(test_blocks):
    definition = image_workflow(
        outputs=[{"type": "JsonField", "name": "o", "selector": "$steps.x.y"}]
    )
    error = compile_error(definition, test_blocks)
    assert isinstance(error, SelectorError)
    assert error.place == "outputs[0] 'o' field 'selector'"


def test_wrong_input_type_in_definition():
    with pytest.raises(DefinitionError) as caught:
        Workflow.compile({"inputs": [{"type": "picture", "name": "p"}]})
    assert caught.value.place == "inputs[0] 'p' field 'type'"


def test_invalid_yaml_text():
    with pytest.raises(DefinitionError, match="not valid JSON or YAML"):
        Workflow.compile("inputs: [unclosed\n")


def test_errors_serialise_with_code_place_message_hint(test_blocks):
    error = compile_error(image_workflow({"type": "DynamicCorp", "name": "c"}), test_blocks)
    assert isinstance(error, WorkflowError)
    assert error.to_dict() == {
        "code": "unknown_block_type",
        "place": "steps[0] 'c'",
        "message": "unknown block type 'DynamicCorp'",
        "hint": error.hint,
    }


def test_misspelt_required_field_is_reported_as_unknown_with_suggestion(test_blocks):
    step = {"type": "PropertyDefinition", "name": "p", "data": "$inputs.image", "propery": "width"}
    error = compile_error(image_workflow(step), test_blocks)
    assert error.message == "unknown field 'propery'"
    assert error.hint == "did you mean 'property'?"


def test_selector_field_error_is_said_in_words_not_regex(test_blocks):
    error = compile_error(image_workflow(detector(image="photo.jpg")), test_blocks)
    assert "expected a selector of kind image ($inputs.<name> or $steps.<step>.<output>)" in (
        error.message
    )
    assert "pattern" not in error.message


def test_data_selector_in_a_flow_control_field_is_explained(test_blocks):
    step = {
        "type": "ContinueIf",
        "name": "gate",
        "condition": "True",
        "next_steps": ["$steps.detect.predictions"],
    }
    error = compile_error(image_workflow(detector(), step), test_blocks)
    assert isinstance(error, FlowControlError)
    assert "points at data; this field names steps to run next" in error.message


def test_flow_control_level_error_names_the_field_holding_the_target(test_blocks):
    class Either(Block):
        class Manifest(Block.Manifest):
            type: Literal["test/either@v1"]
            value: Selector()
            if_true: list[StepSelector]

        outputs = []

        def run(self, value, if_true):
            return FlowControl(if_true)

    steps = [
        detector(),
        {
            "type": "DynamicCrop",
            "name": "crop",
            "images": "$inputs.image",
            "predictions": "$steps.detect.predictions",
        },
        {
            "type": "test/either@v1",
            "name": "either",
            "value": "$steps.crop.crops",
            "if_true": ["$steps.whole"],
        },
        {"type": "test/echo@v1", "name": "whole", "value": "$inputs.image"},
    ]
    error = compile_error(image_workflow(*steps), [*test_blocks, Either])
    assert error.place == "steps[2] 'either' field 'if_true'"


def test_blocks_are_initialised_only_after_the_whole_plan_checks_out():
    created = []

    class Costly(Block):
        class Manifest(Block.Manifest):
            type: Literal["test/costly@v1"]

        outputs = [Output("x")]

        def __init__(self, **init):
            created.append(self)  # stands for loading a model

        def run(self):
            return {"x": 1}

    definition = {
        "steps": [{"type": "test/costly@v1", "name": "c"}],
        "outputs": [{"type": "JsonField", "name": "o", "selector": "$steps.c.nope"}],
    }
    with pytest.raises(SelectorError):
        Workflow.compile(definition, blocks=[Costly], cache=False)
    assert created == []


def test_a_document_nested_too_deeply_is_a_clear_error():
    with pytest.raises(DefinitionError) as caught:
        Workflow.compile("a: " + "[" * 20000 + "]" * 20000)
    assert caught.value.message == "the document is nested too deeply to read"


@pytest.mark.parametrize("given", ["many", 0, -2, True, None, [2]])
def test_a_wrong_max_concurrent_steps_setting_is_a_definition_error(given):
    document = {"settings": {"max_concurrent_steps": given}, **image_workflow()}
    with pytest.raises(DefinitionError) as caught:
        Workflow.compile(document, cache=False)
    assert caught.value.place == "settings"
    assert caught.value.message == (
        f"max_concurrent_steps must be a whole number of at least 1 (found {given!r})"
    )


def test_a_max_concurrent_steps_setting_given_as_text_still_counts():
    document = {"settings": {"max_concurrent_steps": "3"}, **image_workflow()}
    assert Workflow.compile(document, cache=False)._executor.max_concurrent_steps == 3
