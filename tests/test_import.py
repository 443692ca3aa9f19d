"""Importing visionflow stays light: no optional heavy library is imported until used."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import visionflow

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


# --- layers (docs/architecture.md): a lower layer never imports a higher one ----------------

LOW = ["visionflow.errors", "visionflow.kinds", "visionflow.selectors", "visionflow.suggestions"]
MAY_IMPORT = {  # a package (or module) -> the visionflow modules it may import, besides itself
    "visionflow.errors": [],
    "visionflow.kinds": [],
    "visionflow.selectors": [],
    "visionflow.suggestions": [],
    "visionflow.data": ["visionflow.errors"],
    "visionflow.models": ["visionflow.data", *LOW],
    "visionflow.lineage": ["visionflow.errors"],
    "visionflow.definition": LOW,
    "visionflow.expressions": ["visionflow.data", *LOW],
    "visionflow.blocks": [
        "visionflow.data", "visionflow.models", "visionflow.expressions",
        "visionflow.definition", *LOW,
    ],
    "visionflow.dialects": [
        "visionflow.blocks", "visionflow.definition", "visionflow.models.spec", *LOW,
    ],
    "visionflow.client": ["visionflow.errors", "visionflow.data"],  # data: on use
}  # fmt: skip


def _imports(path: Path, module: str) -> list[tuple[int, str]]:
    """The visionflow modules a file imports (anywhere in it), with their lines."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            name = ".".join(part for part in (base, node.module) if part)
            found.append((node.lineno, name))
    return [(line, name) for line, name in found if name.split(".")[0] == "visionflow"]


def test_lower_layers_import_nothing_above_them():
    root = Path(visionflow.__file__).parent
    wrong = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        layer = next((name for name in MAY_IMPORT if f"{module}.".startswith(f"{name}.")), None)
        if layer is None:
            continue
        allowed = [layer, *MAY_IMPORT[layer]]
        wrong += [
            f"{module}:{line} imports {name}"
            for line, name in _imports(path, module)
            if not any(f"{name}.".startswith(f"{prefix}.") for prefix in allowed)
        ]
    assert wrong == []
