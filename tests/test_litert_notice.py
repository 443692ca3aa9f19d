"""LiteRT's 'Created TensorFlow Lite XNNPACK delegate' line never reaches the user; anything
else written to stderr while an interpreter starts still does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from visionflow.models.runtime import _without_delegate_notice

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_a_tflite_workflow_runs_without_the_delegate_notice():
    run = (
        "import numpy as np\n"
        "from skimage import data\n"
        "from visionflow import Workflow\n"
        f"workflow = Workflow.compile({str(EXAMPLES / 'face_emotion.yaml')!r})\n"
        "image = np.ascontiguousarray(data.astronaut()[:, :, ::-1])\n"
        "print(len(workflow.run(image=image)[0]['faces']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", run], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"  # the astronaut's face, by two LiteRT models
    assert "XNNPACK" not in done.stderr


def test_other_lines_written_meanwhile_reach_stderr(capfd):
    with _without_delegate_notice():
        os.write(2, b"before\nINFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
        os.write(2, b"a real error\n")
    assert capfd.readouterr().err == "before\na real error\n"


def test_a_process_without_stderr_starts_its_models_all_the_same():
    run = (
        "import os, sys\n"
        "os.close(2)\n"
        "sys.stderr = None\n"
        "from visionflow.models.runtime import _without_delegate_notice\n"
        "with _without_delegate_notice():\n"
        "    print('started')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", run], capture_output=True, text=True, timeout=120
    )
    assert (done.returncode, done.stdout.strip()) == (0, "started")
