"""Blocks defined inside a document: built before parsing, checked, refused when not allowed."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from visionflow import Workflow
from visionflow.errors import CustomCodeNotAllowedError, DefinitionError, KindMismatchError

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


def test_code_that_does_not_compile_names_the_block_line_and_code():
    broken = copy.deepcopy(BRIGHTNESS)
    broken["code"]["run_function_code"] = "def run(self, image, factor):\n    return {'b': (}\n"
    with pytest.raises(DefinitionError) as caught:
        Workflow.compile(document(broken))
    assert caught.value.place == "dynamic_blocks_definitions[0] 'MeanBrightness' field 'code'"
    assert "at line 3" in caught.value.message  # line 1 is the import
    assert "return {'b': (}" in caught.value.message


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


def test_invalid_definition_names_the_field():
    wrong = copy.deepcopy(BRIGHTNESS)
    wrong["manifest"]["outputs"]["brightness"]["kind"] = ["temperature"]
    with pytest.raises(DefinitionError, match="unknown kinds"):
        Workflow.compile(document(wrong))
    wrong = copy.deepcopy(BRIGHTNESS)
    wrong["manifest"]["output_dimensionality_offset"] = 2
    with pytest.raises(DefinitionError, match="output_dimensionality_offset"):
        Workflow.compile(document(wrong))


def test_numpy_is_usable_through_imports(astronaut):
    with_numpy = copy.deepcopy(BRIGHTNESS)
    with_numpy["code"]["imports"] = ["import numpy as np"]
    with_numpy["code"]["run_function_code"] = (
        "def run(self, image, factor):\n    return {'brightness': float(np.median(image.numpy))}\n"
    )
    result = Workflow.compile(document(with_numpy)).run(image=astronaut)
    assert result[0]["b"] == float(np.median(astronaut))
