"""Blocks defined inside a document: built before parsing, checked, refused when not allowed."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from visionflow import Workflow
from visionflow.errors import (
    BlockLoadingError,
    CustomCodeNotAllowedError,
    DefinitionError,
    KindMismatchError,
    StepExecutionError,
)

BRIGHTNESS = {
    "manifest": {
        "block_type": "MeanBrightness",
        "description": "Mean pixel value of an image, times a factor.",
        "inputs": {
            "image": {"kind": ["image"]},
            "factor": {"kind": ["float"], "default": 1.0},
        },
        "outputs": {"brightness": {"kind": ["float"]}},
    },
    "code": {
        "imports": ["import math"],
        "run_function_code": (
            "def run(self, image, factor):\n"
            "    return {'brightness': round(float(image.numpy.mean()) * factor, 3)}\n"
        ),
    },
}


def document(*definitions, factor=None) -> dict:
    step = {"type": "MeanBrightness", "name": "bright", "image": "$inputs.image"}
    if factor is not None:
        step["factor"] = factor
    return {
        "inputs": [
            {"type": "image", "name": "image"},
            {"type": "parameter", "name": "f", "default_value": 1.0},
        ],
        "dynamic_blocks_definitions": list(definitions),
        "steps": [step],
        "outputs": [{"type": "JsonField", "name": "b", "selector": "$steps.bright.brightness"}],
    }


def test_a_block_defined_in_the_document_runs(astronaut):
    results = Workflow.compile(document(BRIGHTNESS)).run(image=astronaut)
    assert results == [{"b": round(float(astronaut.mean()), 3)}]


def test_its_fields_take_selectors_or_literals_with_defaults(astronaut):
    by_selector = Workflow.compile(document(BRIGHTNESS, factor="$inputs.f")).run(
        image=astronaut, f=2.0
    )
    literal = Workflow.compile(document(BRIGHTNESS, factor=0.5)).run(image=astronaut)
    assert by_selector[0]["b"] == round(float(astronaut.mean()) * 2, 3)
    assert literal[0]["b"] == round(float(astronaut.mean()) * 0.5, 3)


def test_its_kinds_are_checked_like_any_block():
    bad = document(BRIGHTNESS)
    bad["steps"][0]["image"] = "$inputs.f"
    bad["inputs"][1]["kind"] = ["string"]
    with pytest.raises(KindMismatchError):
        Workflow.compile(bad)


def with_code(run_function_code: str, **code) -> dict:
    changed = copy.deepcopy(BRIGHTNESS)
    changed["code"].update(run_function_code=run_function_code, **code)
    return changed


def compile_error(*definitions) -> DefinitionError:
    with pytest.raises(DefinitionError) as caught:
        Workflow.compile(document(*definitions))
    return caught.value


def test_code_that_does_not_compile_names_the_block_part_line_and_code():
    # two imports come first: the line is still counted within run_function_code
    error = compile_error(
        with_code(
            "def run(self, image, factor):\n    return {'b': (}\n",
            imports=["import math", "import os"],
        )
    )
    assert error.place == "dynamic_blocks_definitions[0] 'MeanBrightness' field 'code'"
    assert error.message.endswith("at run_function_code line 2: \"return {'b': (}\"")
    assert error.hint == "lines are counted from the start of code.run_function_code"


def test_a_mistake_in_init_is_counted_within_init_function_code():
    error = compile_error(
        with_code(
            BRIGHTNESS["code"]["run_function_code"],
            init_function_code="def init():\n\n    return {)\n",
        )
    )
    assert error.message.endswith("at init_function_code line 3: 'return {)'")


def test_a_mistake_in_imports_names_the_import():
    error = compile_error(
        with_code(
            BRIGHTNESS["code"]["run_function_code"], imports=["import math", "import numpy as"]
        )
    )
    assert error.message.endswith("at imports line 2: 'import numpy as'")


def test_an_exception_while_loading_names_the_part_and_line():
    error = compile_error(
        with_code(
            BRIGHTNESS["code"]["run_function_code"],
            imports=["import math", "import no_such_module"],
        )
    )
    assert error.message == (
        "the block's code failed while loading: ModuleNotFoundError: No module named "
        "'no_such_module' at imports line 2: 'import no_such_module'"
    )


def test_an_exception_in_run_names_the_step_block_part_and_line(astronaut):
    broken = with_code(
        "def run(self, image, factor):\n    mean = image.numpy.mean()\n    return 1 / 0\n"
    )
    with pytest.raises(StepExecutionError) as caught:
        Workflow.compile(document(broken)).run(image=astronaut)
    assert caught.value.message == (
        "step 'bright' (MeanBrightness) failed for element (0,): ZeroDivisionError: division "
        "by zero (dynamic block 'MeanBrightness', run_function_code line 3: 'return 1 / 0')"
    )
    assert isinstance(caught.value.cause.__cause__, ZeroDivisionError)  # the original


def test_an_exception_deeper_down_names_the_line_of_the_blocks_code(astronaut):
    broken = with_code(
        "def run(self, image, factor):\n    return {'b': float(image.numpy.mean(axis=5))}\n",
        imports=["import math", "import os"],
    )
    with pytest.raises(StepExecutionError) as caught:
        Workflow.compile(document(broken)).run(image=astronaut)
    assert caught.value.message.endswith(
        "(dynamic block 'MeanBrightness', run_function_code line 2: "
        "\"return {'b': float(image.numpy.mean(axis=5))}\")"
    )


def test_an_exception_whose_type_cannot_carry_the_place_keeps_its_name(astronaut):
    broken = with_code("def run(self, image, factor):\n    return {}['brightness']\n")
    with pytest.raises(StepExecutionError) as caught:
        Workflow.compile(document(broken)).run(image=astronaut)
    assert caught.value.message.endswith(
        "DynamicBlockError: KeyError: 'brightness' (dynamic block 'MeanBrightness', "
        "run_function_code line 2: \"return {}['brightness']\")"
    )


def test_an_exception_in_init_fails_the_compile_naming_its_line():
    broken = with_code(
        BRIGHTNESS["code"]["run_function_code"],
        init_function_code="def init():\n    return {'scale': int('x')}\n",
    )
    with pytest.raises(BlockLoadingError) as caught:
        Workflow.compile(document(broken))
    assert caught.value.place == "steps[0] 'bright'"
    assert caught.value.message.endswith(
        "ValueError: invalid literal for int() with base 10: 'x' (dynamic block "
        "'MeanBrightness', init_function_code line 2: \"return {'scale': int('x')}\")"
    )


def test_code_without_the_run_function_is_an_error():
    missing = copy.deepcopy(BRIGHTNESS)
    missing["code"]["run_function_code"] = "def other(self):\n    return {}\n"
    with pytest.raises(DefinitionError, match="defines no function 'run'"):
        Workflow.compile(document(missing))


def test_init_runs_once_and_its_results_are_available():
    counting = {
        "manifest": {
            "block_type": "Offset",
            "inputs": {"value": {}},
            "outputs": {"value": {"kind": ["integer"]}},
        },
        "code": {
            "init_function_code": "def init():\n    return {'offset': 100}\n",
            "run_function_code": (
                "def run(self, value):\n    return {'value': value + self.init_results['offset']}\n"
            ),
        },
    }
    definition = {
        "inputs": [{"type": "batch", "name": "n"}],
        "dynamic_blocks_definitions": [counting],
        "steps": [{"type": "Offset", "name": "o", "value": "$inputs.n"}],
        "outputs": [{"type": "JsonField", "name": "v", "selector": "$steps.o.value"}],
    }
    assert Workflow.compile(definition).run(n=[1, 2]) == [{"v": 101}, {"v": 102}]


def test_a_batch_block_with_flags():
    summing = {
        "manifest": {
            "block_type": "BatchSum",
            "inputs": {"value": {}},
            "outputs": {"total": {"kind": ["integer"]}},
            "accepts_batch_input": True,
        },
        "code": {
            "run_function_code": (
                "def run(self, value):\n"
                "    total = sum(value)\n"
                "    return [{'total': total} for _ in value]\n"
            )
        },
    }
    definition = {
        "inputs": [{"type": "batch", "name": "n"}],
        "dynamic_blocks_definitions": [summing],
        "steps": [{"type": "BatchSum", "name": "s", "value": "$inputs.n"}],
        "outputs": [{"type": "JsonField", "name": "t", "selector": "$steps.s.total"}],
    }
    assert Workflow.compile(definition).run(n=[1, 2, 3]) == [{"t": 6}] * 3


def test_custom_code_is_refused_when_not_allowed(astronaut):
    with pytest.raises(CustomCodeNotAllowedError) as caught:
        Workflow.compile(document(BRIGHTNESS), allow_custom_code=False)
    assert caught.value.place == "dynamic_blocks_definitions[0] 'MeanBrightness'"


def test_an_unknown_output_kind_names_the_output():
    wrong = copy.deepcopy(BRIGHTNESS)
    wrong["manifest"]["outputs"]["brightness"]["kind"] = ["temperature"]
    error = compile_error(wrong)
    assert error.message == "output 'brightness' has unknown kinds ['temperature']"
    assert error.place == (
        "dynamic_blocks_definitions[0] 'MeanBrightness' field 'manifest.outputs.brightness.kind'"
    )


def test_an_unknown_input_kind_names_the_input_and_the_close_kind():
    wrong = copy.deepcopy(BRIGHTNESS)
    wrong["manifest"]["inputs"]["image"]["kind"] = ["imagez"]
    error = compile_error(wrong)
    assert error.message == "input 'image' has unknown kinds ['imagez']"
    assert error.place == (
        "dynamic_blocks_definitions[0] 'MeanBrightness' field 'manifest.inputs.image.kind'"
    )
    assert error.hint == "did you mean 'image'?"


def test_an_invalid_field_is_named():
    wrong = copy.deepcopy(BRIGHTNESS)
    wrong["manifest"]["output_dimensionality_offset"] = 2
    with pytest.raises(DefinitionError, match="output_dimensionality_offset"):
        Workflow.compile(document(wrong))


def test_two_definitions_of_one_block_type_name_the_second():
    error = compile_error(BRIGHTNESS, BRIGHTNESS)
    assert error.place == (
        "dynamic_blocks_definitions[1] 'MeanBrightness' field 'manifest.block_type'"
    )
    assert error.message == (
        "block type 'MeanBrightness' is defined twice "
        "(also by dynamic_blocks_definitions[0] 'MeanBrightness')"
    )


@pytest.mark.parametrize(
    "block_type", ["FunctionCall", "visionflow/function_call@v1", "DynamicCrop"]
)
def test_a_dynamic_block_may_not_replace_a_block_of_the_library(block_type):
    named = copy.deepcopy(BRIGHTNESS)
    named["manifest"]["block_type"] = block_type
    with pytest.raises(DefinitionError) as caught:
        Workflow.compile({"dynamic_blocks_definitions": [named]})
    assert caught.value.place == (
        f"dynamic_blocks_definitions[0] '{block_type}' field 'manifest.block_type'"
    )
    assert caught.value.message == (
        f"block type '{block_type}' is already the name of a block of the library"
    )
    assert "give it another block_type" in caught.value.hint


def test_numpy_is_usable_through_imports(astronaut):
    with_numpy = copy.deepcopy(BRIGHTNESS)
    with_numpy["code"]["imports"] = ["import numpy as np"]
    with_numpy["code"]["run_function_code"] = (
        "def run(self, image, factor):\n    return {'brightness': float(np.median(image.numpy))}\n"
    )
    result = Workflow.compile(document(with_numpy)).run(image=astronaut)
    assert result[0]["b"] == float(np.median(astronaut))


def test_no_init_parameter_can_turn_custom_code_back_on():
    from visionflow.blocks.loader import load_registry

    steps = Path(__file__).resolve().parents[1] / "examples" / "deepomatic_custom.yaml"
    plugins = {loaded.plugin for loaded in load_registry().block_classes()}
    sneaky = {f"{plugin}.allow_custom_code": True for plugin in plugins}
    with pytest.raises(CustomCodeNotAllowedError):
        Workflow.compile(steps, allow_custom_code=False, init_parameters=sneaky)
