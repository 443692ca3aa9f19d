"""Importing visionflow stays light: no optional heavy library is imported until used."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

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


# --- the command line starts fast: each command imports what it uses ------------------------

ENGINE = ["numpy", "pydantic", "supervision", "onnxruntime", "cv2", "yaml", "visionflow.workflow"]


def test_visionflow_help_imports_no_engine_library():
    """`visionflow --help` (issue 16: under 0.4 s) needs typer and rich, not the engine."""
    statement = (
        "sys.argv = ['visionflow', '--help']; import contextlib, io; "
        "from visionflow.cli import main; out = io.StringIO(); "
        "exec('try:\\n with contextlib.redirect_stdout(out): main()\\nexcept SystemExit: pass')"
    )
    assert imported_after(statement, [*ENGINE, "rich"]) == ["rich"]  # rich drew the help


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DRAWING = ["supervision", "scipy", "cv2", "urllib.request"]  # for running steps, not checking


@pytest.mark.parametrize("document", ["face_emotion.yaml", "ocr_page.yaml", "selfie_blur.yaml"])
def test_validate_imports_no_drawing_or_download_library(document):
    """`visionflow validate` (issue 15: well under 1 s) compiles every core block module and
    checks the models' files (their heads' modules imported); supervision (and scipy under
    it, ~0.5 s), cv2 and urllib's downloader are imported by the functions that run steps,
    draw or download. (A document naming a block of Roboflow's library loads that library,
    which still imports supervision.)"""
    statement = (
        f"sys.argv = ['visionflow', 'validate', {str(EXAMPLES / document)!r}]; "
        "import contextlib, io; from visionflow.cli import main; out = io.StringIO(); "
        "exec('try:\\n with contextlib.redirect_stdout(out): main()\\nexcept SystemExit: pass'); "
        "assert out.getvalue().rstrip().endswith('valid'), out.getvalue()"
    )
    assert imported_after(statement, [*DRAWING, "visionflow.workflow"]) == ["visionflow.workflow"]


def test_importing_visionflow_imports_its_public_names_on_use():
    assert imported_after("import visionflow", ["numpy", "pydantic", "visionflow.workflow"]) == []
    assert imported_after("from visionflow import Workflow", ["visionflow.workflow"]) == [
        "visionflow.workflow"
    ]


ROBOFLOW_LIBRARY = (
    "[m for m in sys.modules if m.startswith('visionflow.blocks.roboflow.') "
    "and m != 'visionflow.blocks.roboflow.inner_workflow']"  # the compiler's: a type name
)
PASS = {
    "inputs": [{"type": "WorkflowParameter", "name": "x"}],
    "steps": [{"type": "Expression", "name": "e", "data": {"x": "$inputs.x"}, "expression": "x"}],
    "outputs": [{"type": "JsonField", "name": "y", "selector": "$steps.e.output"}],
}


def roboflow_modules_after(document: dict) -> list[str]:
    """The modules of Roboflow's block library a fresh interpreter imported to compile."""
    code = (
        "import sys, json; from visionflow import Workflow; "
        f"Workflow.compile({document!r}, cache=False); print(json.dumps({ROBOFLOW_LIBRARY}))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return json.loads(completed.stdout)


def test_a_workflow_of_core_blocks_does_not_import_roboflows_library():
    assert roboflow_modules_after(PASS) == []


def test_a_roboflow_block_loads_roboflows_library_when_named():
    document = {
        **PASS,
        "steps": [{"type": "roboflow_core/current_time@v1", "name": "e"}],
        "outputs": [{"type": "JsonField", "name": "y", "selector": "$steps.e.*"}],
    }
    assert "visionflow.blocks.roboflow.formatters" in roboflow_modules_after(document)


# --- layers (docs/architecture.md): a lower layer never imports a higher one ----------------

LOW = ["visionflow.errors", "visionflow.kinds", "visionflow.selectors", "visionflow.suggestions"]
MAY_IMPORT = {  # a package (or module) -> the visionflow modules it may import, besides itself
    "visionflow.errors": [],
    "visionflow.kinds": [],
    "visionflow.selectors": [],
    "visionflow.suggestions": [],
    "visionflow.data": ["visionflow.errors"],
    "visionflow.models": ["visionflow.data", *LOW],
    "visionflow.graphs.layout": [],  # pure geometry, shared by the lineage and workflow pages
    "visionflow.lineage": ["visionflow.errors", "visionflow.graphs.layout"],
    "visionflow.definition": LOW,
    "visionflow.expressions": ["visionflow.data", *LOW],
    "visionflow.blocks": [
        "visionflow.data", "visionflow.models", "visionflow.expressions",
        "visionflow.definition", *LOW,
    ],
    "visionflow.dialects": [
        "visionflow.blocks", "visionflow.definition", "visionflow.models.spec",
        "visionflow.models.urls",  # DJL's model URLs checked (a leaf: errors only)
        "visionflow.models.library",  # whether the operator maps a DJL zoo name (on use)
        *LOW,
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
