"""Every example in examples/ runs and gives the values it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from visionflow import Workflow
from visionflow.blocks.loader import forget_loaded_blocks
from visionflow.workflow import clear_cache

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def brightness_plugin(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.setenv("VISIONFLOW_PLUGINS", "brightness_plugin")
    forget_loaded_blocks()
    clear_cache()
    yield
    forget_loaded_blocks()
    clear_cache()


def test_first_workflow_measures_centre_and_gates_the_ratio(brightness_plugin, astronaut, coffee):
    workflow = Workflow.compile(EXAMPLES / "first_workflow.yaml")
    results = workflow.run(image=[astronaut, coffee], min_brightness=120.0)
    for image, result in zip([astronaut, coffee], results, strict=True):
        height, width = image.shape[:2]
        centre = image[
            height // 4 : height // 4 + height // 2, width // 4 : width // 4 + width // 2
        ]
        assert result["brightness"] == pytest.approx(float(image.mean()))
        assert result["centre_brightness"] == pytest.approx(float(centre.mean()))
        assert result["centre_size"] == {"width": width // 2, "height": height // 2}
        bright = result["centre_brightness"] > 120.0
        expected_ratio = round(result["centre_brightness"] / result["brightness"], 3)
        assert result["centre_to_whole"] == (expected_ratio if bright else None)
    assert [r["centre_to_whole"] is None for r in results] == [
        float(astronaut[128:384, 128:384].mean()) <= 120,
        float(coffee[100:300, 150:450].mean()) <= 120,
    ]


def test_demo_script_prints_results_for_three_images():
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / "demo.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = [
        line
        for line in completed.stdout.splitlines()
        if line.split(":")[0] in ("astronaut", "coffee", "chelsea")
    ]
    assert len(lines) == 3
    assert all('"brightness":' in line for line in lines)
