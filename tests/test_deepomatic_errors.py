"""Mistakes in a Deepomatic-style document are compile errors that name the place in the
document's own terms (``steps[1] 'emotion' args 'model_id'``) and give a hint."""

from __future__ import annotations

import copy

import pytest

from visionflow import Workflow
from visionflow.errors import (
    CycleError,
    DefinitionError,
    DuplicateNameError,
    KindMismatchError,
    ManifestError,
    ModelNotFoundError,
    SelectorError,
    UnknownBlockTypeError,
)

FACES = "mediapipe/face_detection_short_range"

BASE = {
    "version": "1.1",
    "workflow_name": "errors",
    "entries": [{"name": "image", "data_type": "Image"}],
    "outcomes": [
        {
            "name": "face count",
            "output_of": "count",
            "concept": {"name": "faces", "type": "Number"},
        }
    ],
    "steps": [
        {"name": "detect", "type": "Inference", "inputs": ["image"], "args": {"model_id": FACES}},
        {"name": "emotion", "type": "Inference", "inputs": ["detect"], "args": {"model_id": FACES}},
        {
            "name": "router",
            "type": "PredictionRouter",
            "inputs": ["emotion"],
            "args": {"routing_name": "emotion", "routing_values": ["happy", "sad"]},
        },
        {
            "name": "count",
            "type": "Counter",
            "inputs": ["detect"],
            "args": {"concept_name": "faces"},
        },
    ],
}


def document(**changes) -> dict:
    """BASE with steps[i] / outcomes[i] fields replaced: ``step_1={"args": {...}}``."""
    changed = copy.deepcopy(BASE)
    for key, value in changes.items():
        section, _, position = key.rpartition("_")
        section = {"step": "steps", "outcome": "outcomes", "entry": "entries"}[section]
        changed[section][int(position)].update(value)
    return changed


def compile_error(definition: dict, error_class: type) -> Exception:
    with pytest.raises(error_class) as caught:
        Workflow.compile(definition, cache=False)
    return caught.value


def test_the_base_document_compiles():
    assert list(Workflow.compile(BASE).outputs) == ["face count", "FlowContainer"]


def test_an_unknown_step_type_suggests_the_close_one():
    error = compile_error(document(step_1={"type": "Inferense"}), UnknownBlockTypeError)
    assert error.place == "steps[1] 'emotion' field 'type'"
    assert error.message == "unknown step type 'Inferense'"
    assert "did you mean 'Inference'" in error.hint


def test_an_unknown_input_name_is_an_error_of_that_input():
    error = compile_error(document(step_1={"inputs": ["detekt"]}), SelectorError)
    assert error.place == "steps[1] 'emotion' inputs[0]"
    assert error.message == "'detekt' is neither an entry nor a step"
    assert "'detect'" in error.hint


def test_names_are_shared_by_entries_steps_and_outcomes():
    error = compile_error(document(step_3={"name": "image"}), DuplicateNameError)
    assert error.place == "steps[3] 'image'"
    assert "also by entries[0] 'image'" in error.message
    assert "case sensitive" in error.hint


def test_names_are_case_sensitive():
    Workflow.compile(document(step_3={"name": "Detect"}, outcome_0={"output_of": "Detect"}))


def test_a_cycle_names_the_steps_around_it():
    error = compile_error(document(step_0={"inputs": ["emotion"]}), CycleError)
    assert error.message == "the steps form a cycle: 'detect' -> 'emotion' -> 'detect'"
    assert error.place == "steps[0] 'detect'"


def test_an_outcome_of_no_step():
    error = compile_error(document(outcome_0={"output_of": "cuont"}), SelectorError)
    assert error.place == "outcomes[0] 'face count' field 'output_of'"
    assert "did you mean 'count'" in error.hint


def test_an_outcome_region_that_names_no_step():
    error = compile_error(document(outcome_0={"regions": ["faces"]}), SelectorError)
    assert error.place == "outcomes[0] 'face count' field 'regions'[0]"


def test_an_unknown_argument_suggests_the_close_one():
    error = compile_error(document(step_1={"args": {"modl_id": FACES}}), ManifestError)
    assert error.place == "steps[1] 'emotion' args 'modl_id'"
    assert error.message == "unknown argument 'modl_id'"
    assert error.hint == "did you mean 'model_id'?"


def test_a_missing_argument():
    error = compile_error(document(step_3={"args": {}}), ManifestError)
    assert error.place == "steps[3] 'count' args 'concept_name'"
    assert error.message == "missing argument 'concept_name'"


def test_an_outcome_whose_concept_type_differs_from_what_the_step_writes():
    changed = document(outcome_0={"concept": {"name": "faces", "type": "Boolean"}})
    error = compile_error(changed, KindMismatchError)
    assert error.place == "outcomes[0] 'face count' field 'concept'"
    assert error.message == "concept 'faces' is a Number concept, but a Boolean concept is expected"


def test_an_outcome_of_a_concept_the_step_does_not_make():
    changed = document(outcome_0={"concept": {"name": "smiles", "type": "Number"}})
    error = compile_error(changed, SelectorError)
    assert error.message == "no concept 'smiles' comes from step 'count'"
    assert error.hint == "the concepts there are: 'faces' (Number)"


def test_a_router_needs_the_concept_it_routes_by_upstream():
    changed = document(step_2={"args": {"routing_name": "mood", "routing_values": ["happy"]}})
    error = compile_error(changed, SelectorError)
    assert error.place == "steps[2] 'router' args 'routing_name'"
    assert "'emotion' (Text)" in error.hint


def test_comparing_a_text_concept_by_order_is_a_type_error():
    compare = {
        "name": "count",
        "type": "Compare",
        "args": {"input_concept": "emotion", "operator": ">", "value": 1, "concept_name": "x"},
        "inputs": ["emotion"],
    }
    changed = document(step_3=compare, outcome_0={"concept": {"name": "x", "type": "Boolean"}})
    error = compile_error(changed, KindMismatchError)
    assert error.place == "steps[3] 'count' args 'input_concept'"


def test_a_branch_the_router_does_not_have():
    error = compile_error(document(step_3={"inputs": ["router:angry"]}), SelectorError)
    assert error.place == "steps[3] 'count' inputs[0]"
    assert error.message == "router 'router' has no branch 'angry'"
    assert error.hint == "its routing_values are: happy, sad"


def test_an_inference_takes_one_input():
    error = compile_error(document(step_1={"inputs": ["detect", "image"]}), ManifestError)
    assert error.place == "steps[1] 'emotion' field 'inputs'"
    assert "takes 1 region input(s)" in error.message


def test_an_unknown_data_type():
    error = compile_error(document(entry_0={"data_type": "Video"}), DefinitionError)
    assert error.place == "entries[0] 'image' field 'data_type'"


def test_an_unknown_model_is_an_error_of_the_steps_model_id():
    error = compile_error(
        document(step_1={"args": {"model_id": "fer/emotoin"}}), ModelNotFoundError
    )
    assert error.place == "steps[1] 'emotion' args 'model_id'"
    assert error.hint.startswith("did you mean 'zoo:fer/emotion'")


def test_compare_needs_a_value_or_an_entry():
    compare = {
        "name": "count",
        "type": "Compare",
        "inputs": ["detect"],
        "args": {"input_concept": "detect", "operator": "==", "concept_name": "x"},
    }
    error = compile_error(document(step_3=compare), ManifestError)
    assert error.place == "steps[3] 'count' args"
    assert "exactly one of 'value' and 'value_entry'" in error.message


def test_an_unknown_section():
    error = compile_error({**BASE, "stepz": []}, DefinitionError)
    assert error.place == "stepz"
