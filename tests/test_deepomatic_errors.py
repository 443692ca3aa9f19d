"""Mistakes in a Deepomatic-style document are compile errors that name the place in the
document's own terms (``steps[1] 'emotion' args 'model_id'``) and give a hint."""

from __future__ import annotations

import copy

import pytest

from visionflow import Workflow
from visionflow.dialects import to_definition
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
        {
            "name": "emotion",
            "type": "Inference",
            "inputs": ["detect"],
            "args": {"model_id": "fer/emotion"},
        },
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


def with_compare(source: str = "count", **args) -> dict:
    """BASE and a Compare step ``check`` of the concepts of ``source``."""
    changed = copy.deepcopy(BASE)
    args = {"input_concept": "faces", "operator": ">=", "concept_name": "checked", **args}
    changed["steps"].append({"name": "check", "type": "Compare", "inputs": [source], "args": args})
    return changed


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
    assert error.hint.startswith("did you mean 'fer/emotion'?")  # as the document writes ids


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


def test_a_step_without_a_type_says_so_and_lists_the_types():
    changed = copy.deepcopy(BASE)
    del changed["steps"][3]["type"]
    error = compile_error(changed, UnknownBlockTypeError)
    assert error.place == "steps[3] 'count'"
    assert error.message == "the step has no 'type'"
    assert error.hint.startswith("built-in steps: Inference, MultipleInference, PredictionRouter")


def test_an_inference_of_a_text_entry_says_the_entry_carries_no_regions():
    changed = document(step_0={"inputs": ["label"]})
    changed["entries"].append({"name": "label", "data_type": "Text"})
    error = compile_error(changed, ManifestError)
    assert error.place == "steps[0] 'detect' field 'inputs'"
    assert error.message == (
        "an Inference step takes 1 region input(s) (steps or Image entries), found 0"
    )
    assert error.hint == "'label' is a Text entry, which carries no regions"


def test_ordering_a_number_concept_against_a_text_is_a_compile_error():
    error = compile_error(with_compare(value="one"), KindMismatchError)
    assert error.place == "steps[4] 'check' args 'value'"
    assert error.message == "'>=' compares numbers, but the Text value 'one' is not a number"
    assert error.hint.startswith("ordering operators (>, >=, <, <=) compare Number concepts")


def test_a_boolean_is_not_a_number_to_order_by():
    error = compile_error(with_compare(value=True), KindMismatchError)
    assert error.message == "'>=' compares numbers, but the Boolean value True is not a number"


def test_ordering_against_a_text_entry_is_a_compile_error():
    changed = with_compare(value_entry="label")
    changed["entries"].append({"name": "label", "data_type": "Text"})
    error = compile_error(changed, KindMismatchError)
    assert error.place == "steps[4] 'check' args 'value_entry'"
    assert error.message == "'>=' compares numbers, but the Text entry 'label' is not a number"


def test_a_text_concept_equal_to_a_number_is_a_compile_error():
    changed = with_compare("emotion", input_concept="emotion", operator="==", value=5)
    error = compile_error(changed, KindMismatchError)
    assert error.place == "steps[4] 'check' args 'value'"
    assert error.message == (
        "concept 'emotion' is a Text concept, but it is compared with the Number value 5"
    )
    assert error.hint == "'==' and '!=' compare values of one type: give a text (e.g. happy)"


def test_a_number_concept_equal_to_a_boolean_is_a_compile_error():
    error = compile_error(with_compare(operator="!=", value=False), KindMismatchError)
    assert error.message == (
        "concept 'faces' is a Number concept, but it is compared with the Boolean value False"
    )
    assert error.hint == "'==' and '!=' compare values of one type: give a number (e.g. 3 or 0.5)"


def test_a_confidence_is_compared_with_numbers():
    changed = with_compare(
        "emotion", input_concept="emotion", attribute="confidence", operator="==", value="high"
    )
    error = compile_error(changed, KindMismatchError)
    assert error.message == (
        "the confidence of concept 'emotion' is a Number, but it is compared with the Text "
        "value 'high'"
    )


def test_compare_values_of_the_concepts_type_compile():
    Workflow.compile(with_compare(operator="==", value=1.0), cache=False)
    Workflow.compile(with_compare("emotion", input_concept="emotion", operator="!=", value="sad"))


def test_an_inference_keeping_a_label_its_model_lacks_suggests_the_close_one():
    changed = document(step_1={"args": {"model_id": "fer/emotion", "concepts": ["happy", "hapy"]}})
    error = compile_error(changed, ManifestError)
    assert error.place == "steps[1] 'emotion' args 'concepts'"
    assert error.message == "'hapy' is not a label of model 'fer/emotion'"
    assert error.hint == (
        "did you mean 'happy'? its labels: angry, disgust, fear, happy, sad, surprise, neutral"
    )


def test_a_router_label_its_inference_never_gives_suggests_the_close_one():
    routing = {"routing_name": "emotion", "routing_values": ["happy", "hapy"]}
    error = compile_error(document(step_2={"args": routing}), ManifestError)
    assert error.place == "steps[2] 'router' args 'routing_values'"
    assert error.message == "'hapy' is not a label of concept 'emotion'"
    assert error.hint == (
        "did you mean 'happy'? the labels step 'emotion' can give it: "
        "angry, disgust, fear, happy, sad, surprise, neutral"
    )


def test_a_router_is_given_the_inference_steps_that_write_its_concept():
    router = to_definition(BASE).steps[2]
    assert router["label_sources"] == [
        {"step": "emotion", "model_id": "fer/emotion", "concepts": None}
    ]


def test_a_router_label_the_inference_does_not_keep_is_an_error():
    changed = document(step_1={"args": {"model_id": "fer/emotion", "concepts": ["happy"]}})
    error = compile_error(changed, ManifestError)  # routing_values are happy and sad
    assert error.message == "'sad' is not a label of concept 'emotion'"
    assert error.hint == "the labels step 'emotion' can give it: happy"


def test_a_counter_label_the_counted_concept_never_has_suggests_the_close_one():
    counting = {
        "inputs": ["emotion"],
        "args": {
            "concept_name": "faces",
            "concept_names_to_count": ["emotion"],
            "label_names": ["happy", "hapy"],
        },
    }
    error = compile_error(document(step_3=counting), ManifestError)
    assert error.place == "steps[3] 'count' args 'label_names'"
    assert error.message == "'hapy' is not a label of the concepts counted ('emotion')"
    assert error.hint.startswith("did you mean 'happy'? the labels their models give: angry")


def test_a_counter_of_known_labels_compiles_and_counts(astronaut):
    counting = {
        "inputs": ["emotion"],
        "args": {
            "concept_name": "faces",
            "concept_names_to_count": ["emotion"],
            "label_names": ["happy"],
        },
    }
    result = Workflow.compile(document(step_3=counting), cache=False).run(image=astronaut)[0]
    assert result["face count"]["value"] == 1
