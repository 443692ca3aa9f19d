"""Every example in examples/ runs and gives the values it promises."""

from __future__ import annotations

import shutil
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


def run_demo(*prefix: str) -> str:
    completed = subprocess.run(
        [*prefix, sys.executable, str(EXAMPLES / "demo.py")],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return completed.stdout


def can_unshare_network() -> bool:
    if not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(
    not can_unshare_network(), reason="needs `unshare -n` (root, Linux) to cut the network"
)
def test_demo_runs_every_example_with_no_network_at_all():
    output = run_demo("unshare", "-n")  # a new network namespace: no interface but loopback
    assert "Region-based segmentation" in output
    assert "histogram of grey values:" in output
    assert "face at [179, 81, 272, 174]: happy" in output
    assert "consensus: happy" in output
    assert "astronaut: 1 pose(s) of 33 landmarks" in output  # the functional dialect
    assert "astronaut: ['happy']" in output
    assert "astronaut: happy customer = True, faces = 1" in output  # the Deepomatic dialect
    assert "chelsea: happy customer = False, faces = 0" in output
    assert "3 images run, 1 face(s) in demo-output/dataset-run/coco.json" in output  # lineage
    assert (EXAMPLES.parent / "demo-output" / "lineage.html").read_text().count("data-id=") >= 5
    assert all(
        (EXAMPLES.parent / "demo-output" / name).is_file()
        for name in ("ocr_page.png", "face_emotion.png", "person_pose.png", "emotion_ensemble.png")
    )
    for name in ("astronaut", "coffee", "chelsea"):
        assert f"  {name}: " in output
