"""``visionflow run --inspect PAGE --profile TRACE``: the run recorded (see
``visionflow.inspection``), its page and its Chrome trace written even when a step fails."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

InspectPage = Annotated[
    Path | None,
    typer.Option(
        "--inspect",
        metavar="PAGE",
        help="Write a self-contained HTML page of the run: each step's time, element counts "
        "(ran, masked by flow control, empty input) and a preview of its outputs.",
    ),
]
ProfileTrace = Annotated[
    Path | None,
    typer.Option(
        "--profile",
        metavar="TRACE",
        help="Write each step's time in the Chrome trace format (JSON for chrome://tracing "
        "or ui.perfetto.dev), one event per step on the thread that ran it.",
    ),
]


def refuse_remote(server: str | None, page: Path | None, trace: Path | None) -> None:
    if server is not None and (page is not None or trace is not None):
        option = "--inspect" if page is not None else "--profile"
        raise typer.BadParameter(
            "a run on a server is not recorded here: leave out --server to run it in this process",
            param_hint=option,
        )


def run_inspected(
    workflow: Path,
    pairs: list[str],
    dialect: str | None,
    page: Path | None,
    trace: Path | None,
    policy: Any = None,
) -> list:
    from visionflow import Workflow
    from visionflow.cli._inputs import runtime_inputs

    compiled = Workflow.compile(workflow, dialect=dialect, image_policy=policy)
    inputs = runtime_inputs(compiled.inputs, pairs)
    with compiled.inspected() as inspection:
        try:
            return compiled.run(inputs, serialize=True)
        finally:  # a failed run is worth seeing too: its page shows the step that failed
            if page is not None:
                _written(inspection.write_html(page), "run page")
            if trace is not None:
                _written(inspection.write_trace(trace), "trace")


def _written(path: Path, what: str) -> None:
    typer.echo(f"wrote the {what} to {path}", err=True)
