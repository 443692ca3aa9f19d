"""Importing visionflow stays light: no optional heavy library is imported until used."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = [
    "cv2", "supervision", "fastapi", "uvicorn", "ray", "onnxruntime", "typer", "rich", "yaml",
    "sqlalchemy", "psycopg",
]  # fmt: skip


def test_import_visionflow_imports_no_heavy_optional_library():
    code = (
        "import sys, json, visionflow; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert json.loads(completed.stdout) == []


# --- the server and its client -------------------------------------------------------------

SERVER = ["fastapi", "uvicorn", "starlette", "httpx", "prometheus_client", "multipart", "PIL"]


def imported_after(statement: str, modules: list[str]) -> list[str]:
    """Which of ``modules`` a fresh interpreter has imported after running ``statement``."""
    found = f"[m for m in {modules!r} if m in sys.modules]"
    code = f"import sys, json; {statement}; print(json.dumps({found}))"
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return json.loads(completed.stdout)


def test_import_visionflow_imports_no_server_library():
    assert imported_after("import visionflow", SERVER) == []


def test_the_cli_imports_no_server_library_until_a_server_command_runs():
    assert imported_after("import visionflow.cli", SERVER) == []


def test_the_client_needs_httpx_only():
    assert imported_after("from visionflow import Client", SERVER) == ["httpx"]


def test_lineage_and_the_command_line_import_no_database_library_until_used():
    code = (
        "import sys, json, visionflow.lineage, visionflow.cli, visionflow.datasets; "
        "print(json.dumps([m for m in ['sqlalchemy', 'psycopg'] if m in sys.modules]))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert json.loads(completed.stdout) == []
