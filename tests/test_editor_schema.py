"""The editor schema: a whole native document checked as the compiler checks its steps.

Every native example and real Roboflow definitions validate; the mistakes the compiler
refuses (unknown block, misspelt field, wrong literal type, missing field, both names of
one field) are refused at the same place; `visionflow schema` prints a valid draft-07 schema.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Annotated

import jsonschema
import pytest
import yaml
from pydantic import ConfigDict, TypeAdapter, ValidationError
from pydantic.errors import PydanticSchemaGenerationError
from typer.testing import CliRunner

from visionflow import Workflow
from visionflow.blocks.loader import load_registry
from visionflow.cli import app
from visionflow.compiler.steps import parse_steps
from visionflow.dialects import detect_dialect, to_definition
from visionflow.editor_schema import DRAFT, block_key, field_names, workflow_schema
from visionflow.errors import DefinitionError, ManifestError, UnknownBlockTypeError

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NATIVE_EXAMPLES = sorted(
    path.name
    for path in EXAMPLES.glob("*.yaml")
    if detect_dialect(yaml.safe_load(path.read_text(encoding="utf-8"))) == "native"
)


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(workflow_schema())


def errors_of(validator, document: dict) -> list[tuple[list, str]]:
    return [
        (list(error.absolute_path), error.validator) for error in validator.iter_errors(document)
    ]


def native(*steps: dict, outputs: dict[str, str] | None = None) -> dict:
    return {
        "version": "1.0",
        "inputs": [
            {"type": "WorkflowImage", "name": "image"},
            {"type": "WorkflowParameter", "name": "size", "default_value": 7},
        ],
        "steps": list(steps),
        "outputs": [
            {"type": "JsonField", "name": name, "selector": selector}
            for name, selector in (outputs or {}).items()
        ],
    }


def blur(**fields) -> dict:
    return {
        "type": "roboflow_core/image_blur@v1",
        "name": "blur",
        "image": "$inputs.image",
        **fields,
    }


# --- what the compiler accepts, the schema accepts --------------------------------------


def test_the_examples_are_native_and_other_dialects_are_left_out():
    assert "first_workflow.yaml" in NATIVE_EXAMPLES
    assert not any(name.startswith(("deepomatic_", "functional_")) for name in NATIVE_EXAMPLES)


@pytest.mark.parametrize("name", NATIVE_EXAMPLES)
def test_every_native_example_validates(name, monkeypatch):
    # first_workflow.yaml uses the example plugin's Brightness block: plugins are in the schema
    monkeypatch.setenv("VISIONFLOW_PLUGINS", "brightness_plugin")
    monkeypatch.syspath_prepend(str(EXAMPLES))
    document = yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))
    jsonschema.validate(document, workflow_schema(), cls=jsonschema.Draft7Validator)


def test_a_plugin_block_is_unknown_without_its_plugin(validator):
    document = yaml.safe_load((EXAMPLES / "first_workflow.yaml").read_text(encoding="utf-8"))
    assert errors_of(validator, document) == [
        (["steps", 1, "type"], "enum"),
        (["steps", 2, "type"], "enum"),
    ]


# Definitions taken from the Roboflow tests (tests/test_roboflow_*.py), as Roboflow writes them.
CLASSIFICATION_FILTER = {  # test_roboflow_engine.py: Roboflow's operations language
    "version": "1.3.0",
    "inputs": [
        {
            "type": "WorkflowBatchInput",
            "name": "predictions",
            "kind": ["classification_prediction"],
        },
        {"type": "WorkflowParameter", "name": "threshold", "default_value": 0.5},
    ],
    "steps": [
        {
            "type": "roboflow_core/detections_filter@v2",
            "name": "filter",
            "predictions": "$inputs.predictions",
            "operations": [
                {
                    "type": "ClassificationFilter",
                    "filter_operation": {
                        "type": "StatementGroup",
                        "statements": [
                            {
                                "type": "BinaryStatement",
                                "left_operand": {
                                    "type": "DynamicOperand",
                                    "operations": [
                                        {
                                            "type": "ExtractClassificationPredictionProperty",
                                            "property_name": "confidence",
                                        }
                                    ],
                                },
                                "comparator": {"type": "(Number) >="},
                                "right_operand": {
                                    "type": "DynamicOperand",
                                    "operand_name": "threshold",
                                },
                            }
                        ],
                    },
                }
            ],
            "operations_parameters": {"threshold": "$inputs.threshold"},
        }
    ],
    "outputs": [{"type": "JsonField", "name": "filtered", "selector": "$steps.filter.predictions"}],
}
RICH_LABEL = {  # test_roboflow_rich_label.py: a font named in lower case, read by its validator
    "version": "1.0",
    "inputs": [
        {"type": "WorkflowImage", "name": "image"},
        {"type": "WorkflowBatchInput", "name": "boxes", "kind": ["object_detection_prediction"]},
    ],
    "steps": [
        {
            "type": "roboflow_core/rich_label_visualization@v1",
            "name": "draw",
            "image": "$inputs.image",
            "predictions": "$inputs.boxes",
            "font_family": "geist",
            "text": "Class and Confidence",
            "text_position": "BOTTOM_RIGHT",
            "text_color": "rgb(10, 20, 200)",
            "font_size": 20,
            "text_padding": 4,
            "border_radius": 3,
            "color_axis": "INDEX",
        }
    ],
    "outputs": [{"type": "JsonField", "name": "image", "selector": "$steps.draw.image"}],
}
GRID = {  # test_roboflow_visualisations_more.py: Roboflow's older one-selector form of a list
    "version": "1.0",
    "inputs": [
        {"type": "WorkflowImage", "name": "image"},
        {"type": "WorkflowImage", "name": "second"},
    ],
    "steps": [
        {
            "name": "draw",
            "type": "roboflow_core/grid_visualization@v1",
            "images": "$inputs.second",
            "width": 333,
            "height": 257,
        }
    ],
    "outputs": [{"type": "JsonField", "name": "image", "selector": "$steps.draw.image"}],
}
SPLIT = {  # test_roboflow_batch_semantics.py: a block defined in the document, Roboflow's schema
    "version": "1.0",
    "inputs": [{"type": "WorkflowBatchInput", "name": "lists", "kind": ["list_of_values"]}],
    "dynamic_blocks_definitions": [
        {
            "type": "DynamicBlockDefinition",
            "manifest": {
                "type": "ManifestDescription",
                "block_type": "Split",
                "inputs": {
                    "items": {"type": "DynamicInputDefinition", "selector_types": ["generic"]}
                },
                "outputs": {"item": {"type": "DynamicOutputDefinition", "kind": []}},
                "output_dimensionality_offset": 1,
            },
            "code": {
                "type": "PythonCode",
                "run_function_code": "def run(self, items):\n"
                "    return [{'item': i} for i in items]\n",
            },
        }
    ],
    "steps": [
        {"type": "Split", "name": "split", "items": "$inputs.lists"},
        {
            "type": "roboflow_core/first_non_empty_or_default@v1",
            "name": "emit",
            "data": ["$steps.split.item"],
        },
    ],
    "outputs": [{"type": "JsonField", "name": "item", "selector": "$steps.emit.output"}],
}
IMAGES = native(  # test_roboflow_images.py: a grayscale conversion, then a blur
    {"type": "roboflow_core/convert_grayscale@v1", "name": "gray", "image": "$inputs.image"},
    blur(image="$steps.gray.image", blur_type="median", kernel_size="$inputs.size"),
    outputs={"out": "$steps.blur.*"},
)
ROBOFLOW_DEFINITIONS = {
    "classification_filter": CLASSIFICATION_FILTER,
    "rich_label": RICH_LABEL,
    "grid": GRID,
    "dynamic_block": SPLIT,
    "images": IMAGES,
}


@pytest.mark.parametrize("name", ROBOFLOW_DEFINITIONS)
def test_roboflow_definitions_validate_and_compile(validator, name):
    document = ROBOFLOW_DEFINITIONS[name]
    assert errors_of(validator, document) == []
    if name == "dynamic_block":
        Workflow.compile(document)  # its Split block is built from the document
    else:
        parse_steps(to_definition(copy.deepcopy(document)), load_registry())


BRIGHTNESS = {  # test_dynamic_blocks.py: a block defined in the document, visionflow's schema
    "inputs": [{"type": "image", "name": "image"}],
    "dynamic_blocks_definitions": [
        {
            "manifest": {
                "block_type": "MeanBrightness",
                "inputs": {
                    "image": {"kind": ["image"]},
                    "factor": {"kind": ["float"], "default": 1},
                },
                "outputs": {"brightness": {"kind": ["float"]}},
            },
            "code": {
                "run_function_code": "def run(self, image, factor):\n"
                "    return {'brightness': float(image.numpy.mean()) * factor}\n"
            },
        }
    ],
    "steps": [{"type": "MeanBrightness", "name": "bright", "image": "$inputs.image"}],
    "outputs": [{"type": "JsonField", "name": "b", "selector": "$steps.bright.brightness"}],
}


def test_a_block_defined_in_the_document_is_checked_by_visionflows_schema(validator):
    assert errors_of(validator, BRIGHTNESS) == []
    Workflow.compile(BRIGHTNESS)
    wrong = copy.deepcopy(BRIGHTNESS)
    wrong["dynamic_blocks_definitions"][0]["manifest"]["output_dimensionality_offset"] = 2
    assert errors_of(validator, wrong) == [
        (["dynamic_blocks_definitions", 0, "manifest", "output_dimensionality_offset"], "enum")
    ]
    with pytest.raises(DefinitionError):
        Workflow.compile(wrong)


def test_steps_of_known_blocks_are_still_checked_beside_blocks_of_the_document(validator):
    document = copy.deepcopy(BRIGHTNESS)
    document["steps"].append(blur(kernel_size="five"))
    assert errors_of(validator, document) == [(["steps", 1, "kernel_size"], "anyOf")]


# --- what the compiler refuses, the schema refuses at the same place -------------------------


def test_an_unknown_block_type_is_refused_at_the_type(validator):
    document = native(blur(type="roboflow_core/image_blurr@v1"))
    assert errors_of(validator, document) == [(["steps", 0, "type"], "enum")]
    with pytest.raises(UnknownBlockTypeError):
        parse_steps(to_definition(document), load_registry())


def test_a_misspelt_field_is_refused_in_its_step(validator):
    document = native(blur(kernel_sise=5))
    [error] = validator.iter_errors(document)
    assert (list(error.absolute_path), error.validator) == (["steps", 0], "additionalProperties")
    assert "'kernel_sise' was unexpected" in error.message
    with pytest.raises(ManifestError, match="unknown field 'kernel_sise'"):
        parse_steps(to_definition(document), load_registry())


def test_a_text_where_an_integer_is_required_is_refused_at_the_field(validator):
    document = native(blur(kernel_size="five"))
    assert errors_of(validator, document) == [(["steps", 0, "kernel_size"], "anyOf")]
    with pytest.raises(ManifestError, match="field 'kernel_size' is invalid"):
        parse_steps(to_definition(document), load_registry())


def test_a_literal_outside_the_choices_is_refused(validator):
    document = native(blur(blur_type="box"))
    assert errors_of(validator, document) == [(["steps", 0, "blur_type"], "anyOf")]


def test_a_selector_and_a_literal_both_fit_a_field_taking_either(validator):
    assert errors_of(validator, native(blur(kernel_size="$inputs.size"))) == []
    assert errors_of(validator, native(blur(kernel_size=9))) == []
    assert errors_of(validator, native(blur(kernel_size="$input.size"))) == [
        (["steps", 0, "kernel_size"], "anyOf")
    ]


def test_a_step_missing_a_required_field_is_refused_in_its_step(validator):
    crop = {"type": "RelativeStaticCrop", "name": "crop", "images": "$inputs.image"}
    document = native({**crop, "x_center": 0.5, "y_center": 0.5, "width": 0.5})
    [error] = validator.iter_errors(document)
    assert (list(error.absolute_path), error.validator) == (["steps", 0], "required")
    assert error.message == "'height' is a required property"
    with pytest.raises(ManifestError, match="missing required field 'height'"):
        parse_steps(to_definition(document), load_registry())


def test_a_step_needs_a_name_and_a_type(validator):
    nameless = native({"type": "roboflow_core/convert_grayscale@v1", "image": "$inputs.image"})
    assert [error.message for error in validator.iter_errors(nameless)] == [
        "'name' is a required property"
    ]
    untyped = native({"name": "gray", "image": "$inputs.image"})
    assert [error.message for error in validator.iter_errors(untyped)] == [
        "'type' is a required property"
    ]


# --- the names a block and its fields answer to ------------------------------------------


@pytest.mark.parametrize(
    "block_type",
    ["DynamicCrop", "Crop", "visionflow/dynamic_crop@v1", "roboflow_core/dynamic_crop@v1"],
)
@pytest.mark.parametrize("image_field", ["images", "image"])
@pytest.mark.parametrize("predictions_field", ["predictions", "detections"])
def test_every_type_name_and_both_names_of_an_aliased_field_validate(
    validator, block_type, image_field, predictions_field
):
    step = {
        "type": block_type,
        "name": "crop",
        image_field: "$inputs.image",
        predictions_field: "$inputs.boxes",
    }
    assert errors_of(validator, native(step)) == []
    parse_steps(to_definition(native(step)), load_registry())  # the compiler agrees


def test_both_names_of_one_field_at_once_are_refused_as_the_compiler_does(validator):
    step = {
        "type": "DynamicCrop",
        "name": "crop",
        "images": "$inputs.image",
        "image": "$inputs.image",
        "predictions": "$inputs.boxes",
    }
    [error] = validator.iter_errors(native(step))
    assert list(error.absolute_path) == ["steps", 0]
    assert error.message == "False schema does not allow '$inputs.image'"
    assert error.parent is None and list(error.schema_path)[-3:] == [
        "dependencies",
        "images",
        "properties",
    ]  # `image` is refused where `images` is given; editors say the errorMessage beside it
    with pytest.raises(ManifestError, match="unknown field 'image'"):
        parse_steps(to_definition(native(step)), load_registry())


def test_an_aliased_field_that_is_missing_under_both_names_is_refused(validator):
    step = {"type": "DynamicCrop", "name": "crop", "predictions": "$inputs.boxes"}
    [error] = validator.iter_errors(native(step))
    assert (list(error.absolute_path), error.validator) == (["steps", 0], "anyOf")
    assert error.schema["errorMessage"] == "Missing property 'images' or 'image'."
    with pytest.raises(ManifestError, match="missing required field 'images'"):
        parse_steps(to_definition(native(step)), load_registry())


# Values of each JSON type, and selectors of each form
PROBES = [
    "$inputs.x",
    "$steps.s.out",
    "$steps.s.*",
    "$steps.s",
    7,
    0.5,
    "text",
    True,
    None,
    ["$inputs.x"],
    [1, 2],
    {"a": "$inputs.x"},
    {"a": 1},
]
# Fields whose own validator reads the value before their type does: anything goes through
WIDENED = {
    ("roboflow_core/grid_visualization@v1", "images"),  # one selector for a list
    ("roboflow_core/rich_label_visualization@v1", "font_family"),  # names in any case
    ("roboflow_core/classification_label_visualization@v1", "num_classifications"),  # ignored
}


def field_type(info) -> TypeAdapter:
    annotated = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
    try:
        return TypeAdapter(annotated)
    except PydanticSchemaGenerationError:
        return TypeAdapter(annotated, config=ConfigDict(arbitrary_types_allowed=True))


def takes(adapter: TypeAdapter, value, strict: bool) -> bool:
    try:
        adapter.validate_python(value, strict=strict)
    except ValidationError:
        return False
    return True


def test_every_field_of_every_block_takes_what_its_type_takes():
    """Selectors wherever the field takes one, literals as the manifest types them: what the
    field's type takes (strictly) the schema takes, and nothing it refuses (even laxly)."""
    schema = workflow_schema()
    definitions = schema["definitions"]
    stricter, looser, widened = [], [], set()
    for loaded in load_registry().block_classes():
        block_type = loaded.block_class.type_names()[0]
        properties = definitions[block_key(block_type)]["properties"]
        for field, info in loaded.block_class.Manifest.model_fields.items():
            if field in ("name", "type"):
                continue
            prop = properties[field_names(field, info)[0]]
            if {} in prop.get("anyOf", []):
                widened.add((block_type, field))
                continue
            adapter = field_type(info)
            checker = jsonschema.Draft7Validator({**prop, "definitions": definitions})
            for value in PROBES:
                in_schema = checker.is_valid(value)
                if takes(adapter, value, strict=True) and not in_schema:
                    stricter.append((block_type, field, value))
                if in_schema and not takes(adapter, value, strict=False):
                    looser.append((block_type, field, value))
    assert stricter == []
    assert looser == []
    assert widened == WIDENED


def test_roboflow_input_type_names_validate_and_others_do_not(validator):
    inputs = [
        {"type": name, "name": f"input{position}"}
        for position, name in enumerate(
            ["image", "WorkflowImage", "InferenceImage", "parameter", "WorkflowParameter",
             "InferenceParameter", "batch", "WorkflowBatchInput", "WorkflowVideoMetadata",
             "WorkflowInstanceSegmentation"]
        )
    ]  # fmt: skip
    assert errors_of(validator, {"inputs": inputs}) == []
    assert errors_of(validator, {"inputs": [{"type": "WorkflowImages", "name": "i"}]}) == [
        (["inputs", 0, "type"], "enum")
    ]


def test_an_unknown_top_level_section_or_output_field_is_refused(validator):
    assert errors_of(validator, {"step": []}) == [([], "additionalProperties")]
    output = {"type": "JsonField", "name": "x", "selector": "$inputs.image", "coordinates": "own"}
    assert errors_of(validator, {"outputs": [output]}) == [(["outputs", 0], "additionalProperties")]


def test_a_step_describes_its_block_for_hovering():
    definitions = workflow_schema()["definitions"]
    blur_schema = definitions["block.roboflow_core_image_blur_v1"]
    assert blur_schema["title"] == "roboflow_core/image_blur@v1"
    assert blur_schema["description"].startswith(
        load_registry().by_type["roboflow_core/image_blur@v1"].block_class.description()[:30]
    )
    assert "of kind image" in blur_schema["properties"]["image"]["description"]


# --- the command ---------------------------------------------------------------------------

runner = CliRunner()


def test_the_command_prints_a_valid_draft_07_schema():
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    jsonschema.Draft7Validator.check_schema(printed)
    assert printed["$schema"] == DRAFT == "http://json-schema.org/draft-07/schema#"
    assert printed == workflow_schema()


def test_the_command_writes_the_schema_to_a_file(tmp_path):
    target = tmp_path / "schemas" / "workflow.schema.json"
    result = runner.invoke(app, ["schema", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote the schema to {target}\n"
    assert json.loads(target.read_text(encoding="utf-8")) == workflow_schema()


def test_one_blocks_schema_by_any_of_its_names():
    result = runner.invoke(app, ["schema", "--block", "Crop"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    jsonschema.Draft7Validator.check_schema(printed)
    assert printed["title"] == "visionflow/dynamic_crop@v1"
    assert printed["properties"]["type"]["enum"] == [
        "visionflow/dynamic_crop@v1", "DynamicCrop", "Crop", "roboflow_core/dynamic_crop@v1"
    ]  # fmt: skip
    step = {"type": "Crop", "name": "c", "image": "$inputs.image", "detections": "$steps.d.x"}
    jsonschema.validate(step, printed, cls=jsonschema.Draft7Validator)


def test_an_unknown_block_is_an_error_with_a_suggestion():
    result = runner.invoke(app, ["schema", "--block", "DynamicCorp"])
    assert result.exit_code == 1
    assert "no block has the type name or alias 'DynamicCorp'" in result.output
    assert "did you mean 'DynamicCrop'" in result.output
