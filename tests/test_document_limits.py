"""Every document gets an answer: a compiled workflow or a ``WorkflowError`` with a place.

The documents here once crashed the compiler (``TypeError``, ``RecursionError``,
``UnicodeEncodeError``, ``AttributeError``) or cost seconds of CPU for a few bytes.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from visionflow import Workflow
from visionflow.dialects import load_document
from visionflow.dialects.limits import MAX_DEPTH, MAX_DIGITS, MAX_NODES, MAX_TEXT
from visionflow.errors import (
    CompilationError,
    CustomCodeNotAllowedError,
    DefinitionError,
    DocumentLimitError,
    SelectorError,
    UnknownBlockTypeError,
)
from visionflow.suggestions import MAX_WORD, close_matches

ALIAS_BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
"""

DEEPOMATIC: dict[str, Any] = {
    "version": "1.2",
    "workflow_name": "faces",
    "entries": [{"name": "image", "data_type": "Image"}],
    "steps": [
        {
            "name": "faces",
            "type": "Inference",
            "inputs": ["image"],
            "args": {"model_id": "mediapipe/face_detection_short_range", "concept_name": "face"},
        }
    ],
    "outcomes": [
        {"name": "found", "output_of": "faces", "concept": {"name": "face", "type": "Text"}}
    ],
}


def compile_error(document: Any, allow_custom_code: bool = False) -> CompilationError:
    with pytest.raises(CompilationError) as caught:
        Workflow.compile(document, allow_custom_code=allow_custom_code, cache=False)
    return caught.value


def deepomatic_with(section: str, field: str, value: Any) -> dict[str, Any]:
    document = copy.deepcopy(DEEPOMATIC)
    document[section][0][field] = value
    return document


def crop(name: str) -> dict[str, Any]:
    return {
        "type": "RelativeStaticCrop",
        "name": name,
        "images": "$inputs.image",
        **{"x_center": 0.5, "y_center": 0.5, "width": 0.5, "height": 0.5},
    }


def nested(value: Any, levels: int) -> Any:
    for _ in range(levels):
        value = {"a": value}
    return value


# --- the documents of the issue --------------------------------------------------------------


def test_an_input_type_that_is_a_list_is_named():
    error = compile_error({"inputs": [{"type": []}]})
    assert (error.code, error.place) == ("invalid_definition", "inputs[0] field 'type'")


def test_a_step_field_nested_900_mappings_deep_is_refused_where_it_is():
    step = {"type": "Brightness", "name": "b", "image": nested("$inputs.image", 900)}
    error = compile_error({"steps": [step]})
    assert isinstance(error, DocumentLimitError)
    assert error.code == "document_too_large"
    assert error.message == "the document is nested too deeply to read"
    assert error.place == "steps[0].image.a(...).a.a.a.a.a.a"


def test_a_document_nested_just_within_the_limit_is_read():
    document = {"version": "1.0", "settings": nested(1, MAX_DEPTH - 2)}
    assert load_document(document) is document


@pytest.mark.parametrize("document", [{"\ud800": []}, '{"\\ud800": []}'], ids=["dict", "JSON"])
def test_a_lone_surrogate_in_a_key_is_a_definition_error(document):
    error = compile_error(document)
    assert (error.code, error.place) == ("invalid_definition", "\\ud800")
    assert "lone UTF-16 surrogate" in error.message


def test_a_lone_surrogate_in_a_value_names_its_place():
    error = compile_error({"inputs": [{"type": "image", "name": "a\udfffb"}]})
    assert (error.code, error.place) == ("invalid_definition", "inputs[0].name")


@pytest.mark.parametrize("allow_custom_code", [False, True])
def test_a_dynamic_block_whose_manifest_is_a_number(allow_custom_code):
    document = {"dynamic_blocks_definitions": [{"manifest": 5}]}
    error = compile_error(document, allow_custom_code)
    assert error.place == "dynamic_blocks_definitions[0] '?'"
    if allow_custom_code:
        assert error.code == "invalid_definition"
        assert error.message == (
            "field 'manifest': Input should be a valid dictionary or instance of DynamicManifest"
        )
    else:  # the refusal comes first, and cleanly
        assert isinstance(error, CustomCodeNotAllowedError)


@pytest.mark.parametrize(
    ("section", "field", "error_class", "place"),
    [
        ("entries", "data_type", DefinitionError, "entries[0] 'image' field 'data_type'"),
        ("steps", "type", UnknownBlockTypeError, "steps[0] 'faces' field 'type'"),
        ("outcomes", "output_of", SelectorError, "outcomes[0] 'found' field 'output_of'"),
        ("outcomes", "regions", DefinitionError, "outcomes[0] 'found' field 'regions'"),
    ],
)
def test_a_deepomatic_field_that_is_a_list(section, field, error_class, place):
    error = compile_error(deepomatic_with(section, field, [["image"]]))
    assert type(error) is error_class
    assert error.place == place


def test_deepomatic_models_that_are_not_a_mapping():
    error = compile_error({**DEEPOMATIC, "models": ["a", "b"]})
    assert (error.code, error.place) == ("invalid_definition", "models")


def test_a_dialect_that_is_not_a_name():
    with pytest.raises(DefinitionError) as caught:
        Workflow.compile({}, dialect=["native"])  # type: ignore[arg-type]
    assert caught.value.message == "unknown dialect ['native']"
    assert caught.value.place == "dialect"


def test_a_key_that_is_not_a_text_gets_a_hint_to_quote_it():
    error = compile_error("inputs: []\nsettings:\n  1: 2\n")
    assert (error.code, error.place) == ("invalid_definition", "settings")
    assert error.message == "a key must be a text, found 1 (int)"


def test_a_functional_function_path_must_be_an_import_path():
    document = {
        "name": "x",
        "version": "1",
        "functions": {"echo": "$steps.nope.x"},
        "workflow": {"out": ["echo", "in"]},
    }
    error = compile_error(document, allow_custom_code=True)
    assert (error.code, error.place) == ("invalid_definition", "functions 'echo'")


@pytest.mark.parametrize("name", ["type", "model_dump", "not an identifier", "_private"])
def test_a_dynamic_block_input_name_must_be_a_free_identifier(name):
    block = {
        "manifest": {"block_type": "Echo", "inputs": {name: {}}, "outputs": {"out": {}}},
        "code": {"run_function_code": "def run(self, **fields):\n    return {'out': 1}\n"},
    }
    error = compile_error({"dynamic_blocks_definitions": [block]}, allow_custom_code=True)
    assert error.place == "dynamic_blocks_definitions[0] 'Echo'"
    assert error.message.startswith("field 'manifest.inputs': Value error, input name ")


def test_dynamic_block_code_nested_too_deeply_to_compile():
    block = {
        "manifest": {"block_type": "Deep", "outputs": {"out": {}}},
        "code": {"run_function_code": "x = " + "-" * 100_000 + "1\n"},
    }
    error = compile_error({"dynamic_blocks_definitions": [block]}, allow_custom_code=True)
    assert error.place == "dynamic_blocks_definitions[0] 'Deep' field 'code'"
    assert error.message == "the block's code is nested too deeply to compile (run_function_code)"


# --- size: limits before the costly work -------------------------------------------------------


def test_a_yaml_alias_bomb_is_refused_before_it_is_built():
    error = compile_error(ALIAS_BOMB)
    assert len(ALIAS_BOMB) < 400
    assert isinstance(error, DocumentLimitError)
    assert error.message == (
        f"the document is too large: more than {MAX_NODES:,} values once its YAML aliases "
        "are expanded"
    )


def test_a_yaml_value_that_contains_itself_is_refused():
    error = compile_error("inputs: &a [*a]\n")
    assert error.code == "invalid_definition"
    assert error.message.startswith("the alias *a names no anchor before it")


def test_yaml_merge_keys_that_double_at_each_level_are_refused():
    levels = [f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 2}]}}" for i in range(2, 40)]
    text = "\n".join(["m0: &m0 {a: 1, b: 2}", "m1: &m1 {c: 3, <<: *m0}", *levels])
    assert isinstance(compile_error(text), DocumentLimitError)


def test_a_3_mb_document_is_refused_for_its_size():
    text = "version: '1.0'\ndescription: " + "x" * 3_000_000 + "\n"
    error = compile_error(text)
    assert isinstance(error, DocumentLimitError)
    assert error.message == f"the document is too large: more than {MAX_TEXT:,} characters"


def test_a_3_mb_dict_is_refused_for_its_texts():
    document = {"inputs": [{"type": "parameter", "name": "x", "default_value": "x" * 3_000_000}]}
    error = compile_error(document)
    assert error.message == f"the document is too large: more than {MAX_TEXT:,} characters of text"


def test_a_document_of_too_many_values_is_refused():
    document = {"settings": {"values": list(range(MAX_NODES))}}
    assert isinstance(compile_error(document), DocumentLimitError)


def test_a_large_document_within_the_limits_compiles():
    steps = [crop(f"b{i}") for i in range(2000)]
    document = {
        "inputs": [{"type": "image", "name": "image"}],
        "steps": steps,
        "outputs": [{"type": "JsonField", "name": "last", "selector": "$steps.b1999.crops"}],
    }
    text = json.dumps(document)
    assert 100_000 < len(text) < MAX_TEXT
    assert Workflow.compile(text, cache=False).outputs["last"]["selector"] == "$steps.b1999.crops"


@pytest.mark.parametrize(
    "document",
    [
        {"steps": [{**crop("c"), "width": 10**5000}]},  # was a ValueError from the hashing
        {"inputs": [{"type": "image", "name": 10**5000}]},  # ... from pydantic's error text
        {"workflow_name": "w", "entries": [{"name": "image", "data_type": -(10**4400)}]},
    ],
)
def test_an_integer_too_long_to_write_out_is_refused_where_it_is(document):
    error = compile_error(document)
    assert isinstance(error, DocumentLimitError)
    assert error.message == f"an integer of more than {MAX_DIGITS:,} digits"
    assert error.place in ("steps[0].width", "inputs[0].name", "entries[0].data_type")


def test_an_integer_of_many_digits_within_the_limit_gets_an_answer():
    document = {"inputs": [{"type": "image", "name": "image", "dimensionality": 10**999}]}
    error = compile_error(document)
    assert (error.code, error.place) == (
        "invalid_definition",
        "inputs[0] 'image' field 'dimensionality'",
    )
    assert isinstance(compile_error({"settings": {"n": 10**1000}}), DocumentLimitError)


@pytest.mark.parametrize("document", [[], 5, 1.5, None, True])
def test_a_document_that_is_not_a_mapping_is_named_as_the_definition(document):
    error = compile_error(document)
    assert (error.code, error.place) == ("invalid_definition", "definition")


def test_a_long_key_is_refused():
    error = compile_error({"settings": {"k" * 300: 1}})
    assert (error.code, error.place) == ("document_too_large", "settings")


def test_a_long_step_name_is_refused():
    error = compile_error({"steps": [{"type": "Brightness", "name": "s" * 300}]})
    assert error.place == "steps[0]"
    assert "a step name has at most 256 characters, found 300" in error.message


# --- suggestions -----------------------------------------------------------------------------


def test_suggestions_are_only_for_short_words():
    assert close_matches("Brightnes", ["Brightness", "Contrast"]) == ["Brightness"]
    assert close_matches("B" * (MAX_WORD + 1), ["B" * (MAX_WORD + 1)]) == []
    assert close_matches(["Brightness"], ["Brightness"]) == []


def test_a_misspelt_selector_among_thousands_of_long_step_names_still_gets_an_answer():
    names = [f"{'s' * 200}{i}" for i in range(5000)]
    steps = [crop(name) for name in names]
    document = {
        "inputs": [{"type": "image", "name": "image"}],
        "steps": steps,
        "outputs": [{"type": "JsonField", "name": "x", "selector": f"$steps.{'s' * 201}.b"}],
    }
    assert compile_error(document).code == "invalid_selector"


@pytest.mark.parametrize(
    ("value", "found"),
    [('!!binary "/w=="', "bytes"), ("!!set {a, b}", "set")],
)
def test_yaml_values_that_json_has_not_are_refused(value, found):
    error = compile_error(f"inputs: [{{type: parameter, name: p, default_value: {value}}}]\n")
    assert (error.code, error.place) == ("invalid_definition", "inputs[0].default_value")
    assert error.message.endswith(f"found a value of type {found}")


def test_a_python_object_in_a_dict_document_is_refused():
    document = {"inputs": [{"type": "parameter", "name": "p", "default_value": object()}]}
    error = compile_error(document)
    assert (error.code, error.place) == ("invalid_definition", "inputs[0].default_value")


def test_yaml_dates_and_times_are_read_as_their_text():
    document = load_document("a: 2026-12-07\nb: 2026-12-07T07:00:00Z\n")
    assert document == {"a": "2026-12-07", "b": "2026-12-07T07:00:00Z"}


def test_a_file_name_too_long_to_open_is_a_definition_error():
    error = compile_error("a" * 5000 + ".yaml")
    assert error.message == "the workflow file cannot be read: File name too long"


def test_a_file_larger_than_the_limit_is_refused_before_it_is_parsed(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_text("description: " + "é" * MAX_TEXT + "\n")  # 2 bytes per character
    error = compile_error(path)
    assert (error.code, error.place) == ("document_too_large", str(path))


def test_a_long_deepomatic_name_is_refused():
    document = copy.deepcopy(DEEPOMATIC)
    document["steps"][0]["name"] = "s" * 300
    error = compile_error(document)
    assert (error.code, error.place) == ("document_too_large", "steps[0] field 'name'")
