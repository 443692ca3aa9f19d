"""The example of the design document works as written."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pytest

from visionflow import Block, Output, Selector, Workflow

BRIGHTNESS_YAML = """
version: "1.0"
inputs:
  - type: image
    name: image
  - type: parameter
    name: scale
    default_value: 1.0
steps:
  - type: Brightness
    name: brightness
    image: $inputs.image
    scale: $inputs.scale
outputs:
  - type: JsonField
    name: brightness
    selector: $steps.brightness.brightness
"""


class Brightness(Block):
    """Mean pixel value of an image."""

    class Manifest(Block.Manifest):
        type: Literal["example/brightness@v1", "Brightness"]
        image: Selector(kinds=["image"])
        scale: Selector(kinds=["float"]) | float = 1.0

    outputs = [Output("brightness", kinds=["float"])]

    def run(self, image, scale):
        return {"brightness": float(image.numpy.mean()) * scale}


def test_design_example_runs_on_a_batch_of_two(tmp_path, astronaut, coffee):
    path = tmp_path / "brightness.yaml"
    path.write_text(BRIGHTNESS_YAML)
    workflow = Workflow.compile(str(path), blocks=[Brightness])

    results = workflow.run(image=[astronaut, coffee])

    assert results == [
        {"brightness": pytest.approx(float(astronaut.mean()))},
        {"brightness": pytest.approx(float(coffee.mean()))},
    ]


def test_literal_and_selector_are_both_accepted_for_a_union_field(astronaut):
    definition = {
        "inputs": [{"type": "image", "name": "image"}],
        "steps": [{"type": "Brightness", "name": "b", "image": "$inputs.image", "scale": 2}],
        "outputs": [{"type": "JsonField", "name": "b", "selector": "$steps.b.brightness"}],
    }
    result = Workflow.compile(definition, blocks=[Brightness]).run(image=astronaut)
    assert result[0]["b"] == pytest.approx(2 * float(np.mean(astronaut)))
