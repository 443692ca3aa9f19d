"""``visionflow lineage list`` and ``visionflow lineage page`` (first named ``show``): what
the lineage store holds."""

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


PAGE_EXAMPLE = "Example: [bold]visionflow lineage page --project data/cars -o cars.html[/]"


@lineage_app.command("page", epilog=PAGE_EXAMPLE)
def page_command(
    project: Annotated[
        str | None,
        typer.Option(
            "--project",
            help="The view of a project (its folder or id): every task "
            "that read or wrote it, with their other cards.",
        ),
    ] = None,
    task: Annotated[
        int | None,
        typer.Option("--task", help="The view of a task: its cards and the tasks linked to them."),
    ] = None,
    thumbnails: Annotated[
        int,
        typer.Option(
            "--thumbnails", min=0, max=4, help="Pictures shown on an image dataset's card."
        ),
    ] = 3,
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")] = Path(
        "lineage.html"
    ),
) -> None:
    """Write a self-contained HTML page: the whole store, or a project's or a task's view."""
    from visionflow.lineage.store import default_store
    from visionflow.lineage.views import lineage_views

    with reported():
        html, views = lineage_views(default_store(), project, task, thumbnails)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(html, encoding="utf-8")
    main = views[0].graph
    typer.echo(f"wrote {len(main['nodes'])} cards and {len(main['links'])} links to {output}")


# the command's first name: the same page
lineage_app.command("show", hidden=True, epilog=PAGE_EXAMPLE)(page_command)


def _when(moment) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M")
