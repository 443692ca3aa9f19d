"""``visionflow lineage list`` and ``visionflow lineage show``: what the lineage store holds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from visionflow.cli._printing import echo_json, print_table, reported

lineage_app = typer.Typer(
    no_args_is_help=True,
    help="Tasks and the data they read and wrote (VISIONFLOW_LINEAGE_URL or VISIONFLOW_HOME).",
)


@lineage_app.command("list", epilog="Example: [bold]visionflow lineage list --json[/]")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the recorded tasks: id, name, status, times, number of inputs and outputs."""
    from visionflow.lineage.queries import list_tasks
    from visionflow.lineage.store import default_store

    with reported(as_json):
        tasks = list_tasks(default_store())
    if as_json:
        echo_json(tasks)
        return
    rows = [
        [
            t["id"],
            t["name"],
            t["status"],
            _when(t["started"]),
            _when(t["finished"]),
            t["inputs"],
            t["outputs"],
        ]
        for t in tasks
    ]
    columns = ["id", "name", "status", "started", "finished", "in", "out"]
    print_table("lineage tasks", columns, rows, whole=1, keep=(3, 4))


@lineage_app.command("show", epilog="Example: [bold]visionflow lineage show --task 3[/]")
def show_command(
    task: Annotated[
        int | None, typer.Option("--task", help="Only this task, its cards and linked tasks.")
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")] = Path(
        "lineage.html"
    ),
) -> None:
    """Write the lineage graph as a self-contained HTML page (no network needed to view it)."""
    from visionflow.lineage.page import render_page
    from visionflow.lineage.queries import lineage_graph
    from visionflow.lineage.store import default_store

    with reported():
        graph = lineage_graph(default_store(), task)
    title = "visionflow lineage" + (f" — task {task}" if task is not None else "")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_page(graph, title), encoding="utf-8")
    typer.echo(f"wrote {len(graph['nodes'])} cards and {len(graph['links'])} links to {output}")


def _when(moment) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M")
