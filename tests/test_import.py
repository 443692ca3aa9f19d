"""Importing visionflow stays light: no optional heavy library is imported until used."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["cv2", "supervision", "fastapi", "uvicorn", "ray", "onnxruntime", "typer", "rich", "yaml"]


def test_import_visionflow_imports_no_heavy_optional_library():
    code = (
        "import sys, json, visionflow; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert json.loads(completed.stdout) == []
