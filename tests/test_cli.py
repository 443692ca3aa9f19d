"""The ``visionflow`` command: run, validate, blocks, kinds — what a user types and sees."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from visionflow.blocks.core.crops import DETECTION_KINDS
from visionflow.cli import app

runner = CliRunner(env={"COLUMNS": "200"})  # wide tables: no names folded across lines

CROP_WORKFLOW = {
    "version": "1.0",
    "inputs": [
        {"type": "image", "name": "image"},
        {"type": "parameter", "name": "ratio", "kind": ["float"], "default_value": 0.5},
    ],
    "steps": [
        {
            "type": "RelativeStaticCrop",
            "name": "crop",
            "images": "$inputs.image",
            "x_center": 0.5,
            "y_center": 0.5,
            "width": "$inputs.ratio",
            "height": 0.25,
        },
        {
            "type": "PropertyDefinition",
            "name": "width",
            "data": "$steps.crop.crops",
            "property": "width",
        },
        {
            "type": "PropertyDefinition",
            "name": "height",
            "data": "$steps.crop.crops",
            "property": "height",
        },
    ],
    "outputs": [
        {"type": "JsonField", "name": "width", "selector": "$steps.width.output"},
        {"type": "JsonField", "name": "height", "selector": "$steps.height.output"},
    ],
}


def write_workflow(tmp_path: Path, definition: dict, name: str = "workflow.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(definition, sort_keys=False), encoding="utf-8")
    return str(path)


def write_image(tmp_path: Path, pixels: np.ndarray, name: str) -> str:
    path = tmp_path / name
    assert cv2.imwrite(str(path), pixels)
    return str(path)


@pytest.fixture
def astronaut_png(tmp_path, astronaut) -> str:
    return write_image(tmp_path, astronaut, "astronaut.png")  # 512 x 512


@pytest.fixture
def coffee_png(tmp_path, coffee) -> str:
    return write_image(tmp_path, coffee, "coffee.png")  # 600 wide, 400 high


@pytest.fixture
def crop_yaml(tmp_path) -> str:
    return write_workflow(tmp_path, CROP_WORKFLOW)


def with_outputs(*outputs: tuple[str, str], steps=()) -> dict:
    return {
        **CROP_WORKFLOW,
        "steps": [*CROP_WORKFLOW["steps"], *steps],
        "outputs": [{"type": "JsonField", "name": n, "selector": s} for n, s in outputs],
    }


def invoke(*args: str):
    return runner.invoke(app, list(args))


# --- run ---------------------------------------------------------------------------------


def test_run_prints_the_results_as_json(crop_yaml, astronaut_png):
    result = invoke("run", crop_yaml, "--input", f"image={astronaut_png}")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"width": 256, "height": 128}]


def test_repeated_image_input_is_a_batch_in_the_order_given(crop_yaml, astronaut_png, coffee_png):
    result = invoke("run", crop_yaml, "-i", f"image={astronaut_png}", "-i", f"image={coffee_png}")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {"width": 256, "height": 128},
        {"width": 300, "height": 100},
    ]


def test_parameter_value_is_read_as_a_number(crop_yaml, astronaut_png):
    result = invoke("run", crop_yaml, "-i", f"image={astronaut_png}", "-i", "ratio=0.25")
    assert json.loads(result.stdout) == [{"width": 128, "height": 128}]


def test_parameter_values_are_read_as_yaml_scalars_lists_or_text(tmp_path):
    names = ["number", "flag", "items", "word", "yes_word", "date", "code"]
    definition = {
        "inputs": [{"type": "parameter", "name": name} for name in names[:-1]]
        + [{"type": "parameter", "name": "code", "kind": ["string"]}],
        "steps": [
            {
                "type": "Expression",
                "name": "total",
                "expression": "sum(items) * number",
                "data": {"items": "$inputs.items", "number": "$inputs.number"},
            }
        ],
        "outputs": [{"type": "JsonField", "name": n, "selector": f"$inputs.{n}"} for n in names]
        + [{"type": "JsonField", "name": "total", "selector": "$steps.total.output"}],
    }
    values = [
        "number=0.5",
        "flag=true",
        "items=[1, 2]",
        "word=hello world",
        "yes_word=yes",
        "date=2024-01-31",
        "code=042",
    ]
    result = invoke(
        "run",
        write_workflow(tmp_path, definition),
        *[arg for value in values for arg in ("-i", value)],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {
            "number": 0.5,
            "flag": True,
            "items": [1, 2],
            "word": "hello world",
            "yes_word": "yes",
            "date": "2024-01-31",
            "code": "042",
            "total": 1.5,
        }
    ]


def test_repeated_batch_input_is_a_batch(tmp_path):
    definition = {
        "inputs": [{"type": "batch", "name": "size"}],
        "steps": [
            {
                "type": "Expression",
                "name": "double",
                "expression": "size * 2",
                "data": {"size": "$inputs.size"},
            }
        ],
        "outputs": [{"type": "JsonField", "name": "double", "selector": "$steps.double.output"}],
    }
    result = invoke("run", write_workflow(tmp_path, definition), "-i", "size=3", "-i", "size=0.5")
    assert json.loads(result.stdout) == [{"double": 6}, {"double": 1.0}]


def test_flow_control_parameter_masks_out_the_branch(tmp_path, astronaut_png):
    gate = {
        "type": "ContinueIf",
        "name": "wide_enough",
        "condition": "ratio >= minimum",
        "data": {"ratio": "$inputs.ratio", "minimum": "$inputs.minimum"},
        "next_steps": ["$steps.width"],
    }
    definition = {
        **CROP_WORKFLOW,
        "steps": [gate, *CROP_WORKFLOW["steps"]],
        "inputs": [*CROP_WORKFLOW["inputs"], {"type": "parameter", "name": "minimum"}],
    }
    workflow = write_workflow(tmp_path, definition)
    kept = invoke("run", workflow, "-i", f"image={astronaut_png}", "-i", "minimum=0.5")
    dropped = invoke("run", workflow, "-i", f"image={astronaut_png}", "-i", "minimum=0.75")
    assert json.loads(kept.stdout) == [{"width": 256, "height": 128}]
    assert json.loads(dropped.stdout) == [{"width": None, "height": 128}]


def test_output_option_writes_the_file_and_prints_a_summary(tmp_path, astronaut_png):
    workflow = write_workflow(tmp_path, with_outputs(("crop", "$steps.crop.crops")))
    target = tmp_path / "out" / "results.json"  # a missing folder is made
    result = invoke("run", workflow, "-i", f"image={astronaut_png}", "--output", str(target))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"wrote 1 result(s) to {target}"
    crop = json.loads(target.read_text())[0]["crop"]
    assert (crop["type"], crop["width"], crop["height"]) == ("base64", 256, 128)
    pixels = cv2.imdecode(
        np.frombuffer(base64.b64decode(crop["value"]), np.uint8), cv2.IMREAD_COLOR
    )
    assert pixels.shape == (128, 256, 3)


def test_no_images_prints_the_size_of_each_image_instead_of_base64(tmp_path, astronaut_png):
    workflow = write_workflow(tmp_path, with_outputs(("crop", "$steps.crop.crops")))
    full = tmp_path / "full.json"
    invoke("run", workflow, "-i", f"image={astronaut_png}", "-o", str(full))
    jpeg_size = len(base64.b64decode(json.loads(full.read_text())[0]["crop"]["value"]))
    result = invoke("run", workflow, "-i", f"image={astronaut_png}", "--no-images")
    crop = json.loads(result.stdout)[0]["crop"]
    assert crop["value"] == f"<jpeg, {jpeg_size} bytes>"
    assert (crop["width"], crop["origin"]["offset_x"]) == (256, 128)


def test_unknown_input_name_lists_the_declared_inputs(crop_yaml, astronaut_png):
    result = invoke("run", crop_yaml, "-i", f"imag={astronaut_png}")
    assert result.exit_code == 1
    assert "error [invalid_runtime_input]" in result.stderr
    assert "unknown input 'imag'" in result.stderr
    assert "this workflow's inputs are: image (image), ratio (parameter)" in result.stderr


def test_parameter_given_twice_is_an_error(crop_yaml, astronaut_png):
    result = invoke(
        "run", crop_yaml, "-i", f"image={astronaut_png}", "-i", "ratio=0.1", "-i", "ratio=0.2"
    )
    assert result.exit_code == 1
    assert "parameter 'ratio' is given 2 times" in result.stderr


ALIAS_BOMB_VALUE = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x]"]
    + [f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]" for p, n in zip("abcdef", "bcdefg", strict=True)]
)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (ALIAS_BOMB_VALUE, "more than 100,000 values once its YAML aliases are expanded"),
        ("[" * 100 + "]" * 100, "the document is nested too deeply to read"),
        ("9" * 2000, "an integer of more than 1,000 digits"),
    ],
)
def test_an_input_value_is_held_to_the_limits_of_a_document(tmp_path, value, message):
    # an alias bomb once took seconds and hundreds of MB; deep nesting, a traceback
    workflow = tmp_path / "echo.yaml"
    workflow.write_text(
        "inputs: [{type: parameter, name: p}]\nsteps: []\n"
        "outputs: [{type: JsonField, name: o, selector: $inputs.p}]\n"
    )
    result = invoke("run", str(workflow), "-i", f"p={value}")
    assert result.exit_code == 1, result.output
    assert "error [invalid_runtime_input] at --input" in result.stderr
    assert message in result.stderr
    # a value that refers to itself, or is not YAML, stays the text it is
    for text in ("&a [*a]", "9" * 5000):
        answer = invoke("run", str(workflow), "-i", f"p={text}")
        assert json.loads(answer.stdout) == [{"o": text}]


def test_input_without_equals_sign_is_a_usage_error(crop_yaml):
    result = invoke("run", crop_yaml, "-i", "image")
    assert result.exit_code == 2
    assert "expected NAME=VALUE" in result.output


def test_missing_image_file_is_reported_without_traceback(crop_yaml, tmp_path):
    result = invoke("run", crop_yaml, "-i", f"image={tmp_path / 'missing.jpg'}")
    assert result.exit_code == 1
    assert "error [invalid_runtime_input]" in result.stderr
    assert "missing.jpg" in result.stderr
    assert "Traceback" not in result.output


def test_failing_step_is_reported_with_its_name_and_type(tmp_path):
    definition = {
        "inputs": [{"type": "parameter", "name": "x"}],
        "steps": [
            {"type": "PropertyDefinition", "name": "size", "data": "$inputs.x", "property": "count"}
        ],
        "outputs": [{"type": "JsonField", "name": "n", "selector": "$steps.size.output"}],
    }
    result = invoke("run", write_workflow(tmp_path, definition), "-i", "x=3")
    assert result.exit_code == 1
    assert "error [step_execution_error] at steps 'size'" in result.stderr
    assert "(visionflow/property_definition@v1) failed" in result.stderr
    assert "Traceback" not in result.output


def test_run_reports_compile_errors_like_validate(tmp_path):
    result = invoke("run", str(tmp_path / "nowhere.yaml"))
    assert result.exit_code == 1
    assert "error [invalid_definition]" in result.stderr
    assert "no workflow file at" in result.stderr


def test_unknown_dialect_is_a_usage_error(crop_yaml):
    result = invoke("run", crop_yaml, "--dialect", "klingon")
    assert result.exit_code == 2
    assert "unknown dialect 'klingon'" in result.output
    assert "deepomatic, functional, native" in result.output


# --- validate ----------------------------------------------------------------------------

KIND_MISMATCH = {
    "inputs": [{"type": "image", "name": "image"}],
    "steps": [
        {
            "type": "DynamicCrop",
            "name": "crop",
            "images": "$inputs.image",
            "predictions": "$inputs.image",
        }
    ],
    "outputs": [{"type": "JsonField", "name": "crops", "selector": "$steps.crop.crops"}],
}


def test_validate_shows_inputs_outputs_and_valid(crop_yaml):
    result = invoke("validate", crop_yaml)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any("ratio" in line and "parameter" in line and "0.5" in line for line in lines)
    assert any("width" in line and "$steps.width.output" in line for line in lines)
    assert lines[-1] == "valid"


def test_validate_json_lists_inputs_and_outputs(crop_yaml):
    result = invoke("validate", crop_yaml, "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["valid"] is True
    assert report["inputs"]["image"] == {
        "type": "image",
        "kinds": ["image"],
        "has_default": False,
        "default_value": None,
        "dimensionality": 1,
    }
    assert report["inputs"]["ratio"]["default_value"] == 0.5
    assert report["outputs"]["width"]["selector"] == "$steps.width.output"


def test_validate_reports_the_error_with_code_place_and_hint(tmp_path):
    result = invoke("validate", write_workflow(tmp_path, KIND_MISMATCH))
    assert result.exit_code == 1
    assert "error [kind_mismatch] at steps[0] 'crop'" in result.stderr
    assert "predictions" in result.stderr
    assert "valid" not in result.stdout


def test_validate_json_reports_the_error(tmp_path):
    result = invoke("validate", write_workflow(tmp_path, KIND_MISMATCH), "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert set(report["error"]) == {"code", "place", "message", "hint"}
    assert report["error"]["code"] == "kind_mismatch"
    assert report["error"]["place"].startswith("steps[0] 'crop'")


def test_validate_reports_every_wrong_step_not_only_the_first(tmp_path):
    document = {
        "version": "1.0",
        "inputs": [{"type": "WorkflowImage", "name": "image"}],
        "steps": [
            {
                "type": "roboflow_core/image_blur@v1",
                "name": "blur",
                "image": "$inputs.image",
                "kernel_sise": 5,
            },
            {"type": "roboflow_core/threshold@v1", "name": "cut", "image": "$steps.blur.image"},
            {
                "type": "roboflow_core/convert_grayscale@v1",
                "name": "gray",
                "image": "$inputs.image",
            },
            {"type": "no_such_block@v1", "name": "other", "image": "$inputs.image"},
        ],
        "outputs": [{"type": "JsonField", "name": "out", "selector": "$steps.cut.image"}],
    }
    path = write_workflow(tmp_path, document)
    result = invoke("validate", path)
    assert result.exit_code == 1
    reported = [line for line in result.stderr.splitlines() if line.startswith("error [")]
    assert reported == [
        "error [invalid_step_field] at steps[0] 'blur'",
        "error [invalid_step_field] at steps[1] 'cut'",
        "error [unknown_block_type] at steps[3] 'other'",
    ]
    assert "missing required field 'thresh_value'" in result.stderr
    report = json.loads(invoke("validate", path, "--json").stdout)["error"]
    assert (report["place"], report["message"]) == (
        "steps[0] 'blur'",
        "unknown field 'kernel_sise'",
    )
    assert [(also["code"], also["place"]) for also in report["also"]] == [
        ("invalid_step_field", "steps[1] 'cut'"),
        ("unknown_block_type", "steps[3] 'other'"),
    ]
    # the same from Python: the first error, the others in its ``also``
    from visionflow import Workflow
    from visionflow.errors import ManifestError

    with pytest.raises(ManifestError) as raised:
        Workflow.compile(document, cache=False)
    assert [error.place for error in raised.value.also] == ["steps[1] 'cut'", "steps[3] 'other'"]


# --- blocks and kinds --------------------------------------------------------------------


def test_blocks_lists_every_block_with_aliases_and_plugin():
    result = invoke("blocks")
    assert result.exit_code == 0
    line = next(line for line in result.stdout.splitlines() if "DynamicCrop" in line)
    assert "visionflow/dynamic_crop@v1" in line
    assert "visionflow.core" in line


def test_blocks_json_lists_every_block():
    listing = json.loads(invoke("blocks", "--json").stdout)
    crop = next(block for block in listing if block["type"] == "visionflow/dynamic_crop@v1")
    assert crop["aliases"] == ["DynamicCrop", "Crop", "roboflow_core/dynamic_crop@v1"]
    assert crop["plugin"] == "visionflow.core"
    # the first sentence whole, its docstring markup gone
    assert crop["summary"] == (
        "One crop of images per detected box: a nested batch, one level deeper."
    )


def test_block_summaries_are_whole_sentences_without_markup():
    from visionflow.cli._blocks import first_sentence, plain_text

    doc = """A detector on slices (``slice_width`` x ``slice_height``, e.g. 640. Or less)
    of each image. More follows."""
    assert plain_text(first_sentence(doc)) == (
        "A detector on slices (slice_width x slice_height, e.g. 640. Or less) of each image."
    )
    listing = json.loads(invoke("blocks", "--json").stdout)
    assert not [block["type"] for block in listing if "``" in block["summary"]]
    shown = invoke("blocks").stdout
    assert "``" not in shown


def test_block_description_shows_fields_and_outputs():
    result = invoke("blocks", "DynamicCrop")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert any("images" in line and "selector" in line and "image" in line for line in lines)
    assert any("predictions" in line and "object_detection_prediction" in line for line in lines)
    assert any("crops" in line and "image" in line for line in lines)
    assert "output dimensionality offset: +1" in lines


def test_block_json_describes_fields_outputs_and_flags():
    details = json.loads(invoke("blocks", "Crop", "--json").stdout)  # an alias works too
    assert details["type"] == "visionflow/dynamic_crop@v1"
    assert [f["name"] for f in details["fields"]] == [
        "images",
        "predictions",
        "mask_opacity",
        "background_color",
    ]
    assert details["fields"][0] == {
        "name": "images",
        "aliases": ["image"],  # Roboflow's other name for the field
        "type": "selector",
        "required": True,
        "selector_kinds": ["image"],
        "step_reference": False,
        "parameter_only": False,
    }
    assert details["outputs"] == [
        {"name": "crops", "kinds": ["image"]},
        {"name": "predictions", "kinds": DETECTION_KINDS},
    ]
    assert (details["output_dimensionality_offset"], details["accepts_batches"]) == (1, False)
    assert details["outputs_depend_on_fields"] is False


def test_block_fields_show_literals_defaults_and_step_references():
    fields = {
        f["name"]: f for f in json.loads(invoke("blocks", "ContinueIf", "--json").stdout)["fields"]
    }
    assert fields["next_steps"]["type"] == "list[step]"
    assert fields["next_steps"]["step_reference"] is True
    assert fields["data"]["type"] == "dict[str, selector | any]"
    assert (fields["data"]["required"], fields["data"]["default"]) == (False, {})
    crop = json.loads(invoke("blocks", "RelativeStaticCrop", "--json").stdout)
    width = next(f for f in crop["fields"] if f["name"] == "width")
    assert (width["type"], width["selector_kinds"]) == ("selector | float", ["float"])


def test_block_says_when_outputs_depend_on_the_step():
    result = invoke("blocks", "Expression")
    assert "outputs depend on the step's fields" in result.stdout


def test_unknown_block_suggests_close_names():
    result = invoke("blocks", "DynamicCorp")
    assert result.exit_code == 1
    assert "error [unknown_block_type]" in result.stderr
    assert "did you mean 'DynamicCrop'" in result.stderr


def test_kinds_lists_kinds_with_descriptions():
    result = invoke("kinds")
    assert result.exit_code == 0
    line = next(
        line for line in result.stdout.splitlines() if "object_detection_prediction" in line
    )
    assert "boxes with classes and confidences" in line
    names = [kind["name"] for kind in json.loads(invoke("kinds", "--json").stdout)]
    assert {"image", "float", "*"} <= set(names)


# --- help and version --------------------------------------------------------------------


@pytest.mark.parametrize("command", [[], ["run"], ["validate"], ["blocks"], ["kinds"]])
def test_help_shows_an_example(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert "Example" in result.stdout
    assert (
        f"visionflow {command[0]}" in result.stdout
        if command
        else "visionflow run" in result.stdout
    )


def test_version():
    result = invoke("--version")
    assert result.stdout.strip() == "visionflow 0.1.0"


def test_console_script_runs_a_workflow(crop_yaml, astronaut_png):
    script = Path(sys.executable).with_name("visionflow")
    completed = subprocess.run(
        [str(script), "run", crop_yaml, "--input", f"image={astronaut_png}", "--no-images"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == [{"width": 256, "height": 128}]


def test_models_lists_the_zoo_with_what_is_installed():
    result = invoke("models", "--json")
    assert result.exit_code == 0, result.output
    listing = {model["id"]: model for model in json.loads(result.stdout)}
    assert {
        "rapidocr/text_detection",
        "rapidocr/text_recognition",
        "fer/emotion",
        "facex/emotion",
        "mediapipe/face_detection_short_range",
        "mediapipe/pose_landmarks_full",
    } <= set(listing)
    assert listing["fer/emotion"]["installed"] is True
    assert listing["fer/emotion"]["file"].endswith("emotion_model_quantized.tflite")


def test_models_table_keeps_each_id_whole_to_copy():
    # 100 columns: the longest id (39 characters) fits, so no id is folded over two lines
    listing = json.loads(invoke("models", "--json").stdout)
    table = CliRunner(env={"COLUMNS": "100"}).invoke(app, ["models"])
    assert table.exit_code == 0, table.output
    cells = {line.split("│")[1].strip() for line in table.output.splitlines() if "│" in line}
    assert {model["id"] for model in listing} <= cells


def test_help_paragraphs_are_rewrapped_to_the_terminal():
    # the docstring's own line breaks used to stay: "... VISIONFLOW_HOME) as a" / "task ..."
    narrow = CliRunner(env={"COLUMNS": "80"})
    for command in ("run-dataset", "models", "serve", "graph", "run-video"):
        text = narrow.invoke(app, [command, "--help"]).output
        description = text.split("╭")[0].splitlines()[3:]  # after the usage line
        lines = [line.strip() for line in description]
        for line, following in pairwise(lines):
            if line and following:  # inside a paragraph: each line is filled
                assert len(line) + 1 + len(following.split()[0]) > 78, (command, line)


def test_models_shows_one_models_merged_spec():
    result = invoke("models", "fer/emotion", "--json")
    assert result.exit_code == 0, result.output
    spec = json.loads(result.stdout)
    assert spec["task"] == "classification"
    assert spec["labels"] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert spec["intra_op_threads"] == 1


def test_models_with_an_unknown_id_is_an_error_with_exit_code_1():
    result = invoke("models", "fer/emotoin")
    assert result.exit_code == 1
    assert "model_not_found" in result.output


@pytest.mark.parametrize(
    ("blocked", "command", "install"),
    [
        ("sqlalchemy", ["lineage", "list"], "pip install 'visionflow[lineage]'"),
        ("fastapi", ["serve", "--port", "9"], "pip install 'visionflow[server]'"),
        ("starlette", ["serve", "--port", "9"], "pip install 'visionflow[server]'"),
    ],
)
def test_a_missing_optional_package_names_the_extra_to_install(blocked, command, install):
    # None in sys.modules is how Python reports a package that is not installed
    script = (
        f"import sys; sys.modules[{blocked!r}] = None; sys.argv = ['visionflow', *sys.argv[1:]]; "
        "from visionflow.cli import main; main()"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script, *command], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 1
    assert f"this command needs the '{blocked}' package, which is not installed" in completed.stderr
    assert f"hint: {install}" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_a_parameter_only_field_says_so():
    """Roboflow's parameter fields (a model's confidence) refuse batches: the listing tells."""
    model = json.loads(invoke("blocks", "RoboflowObjectDetectionModel", "--json").stdout)
    confidence = next(f for f in model["fields"] if f["name"] == "confidence")
    images = next(f for f in model["fields"] if f["name"] == "images")
    assert (confidence["parameter_only"], images["parameter_only"]) == (True, False)
    shown = invoke("blocks", "RoboflowObjectDetectionModel").stdout
    assert "float (parameter)" in " ".join(shown.split())


def test_blocks_are_listed_in_groups():
    listing = json.loads(invoke("blocks", "--json").stdout)
    groups = {block["type"]: block["category"] for block in listing}
    assert groups["roboflow_core/roboflow_object_detection_model@v2"] == "models"
    assert groups["visionflow/continue_if@v1"] == "flow control"
    assert groups["visionflow/dynamic_crop@v1"] == "image operations"
    order = [block["category"] for block in listing]
    assert order.index("models") < order.index("flow control") < order.index("deepomatic dialect")
    assert "group" in invoke("blocks").stdout
