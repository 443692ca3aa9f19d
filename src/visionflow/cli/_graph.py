"""``visionflow graph``: a picture of a workflow (HTML page, SVG drawing, or the data as JSON)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from visionflow.cli._printing import reported
from visionflow.cli._serve import ModelMaps, map_models

EPILOG = (
    "Examples: [bold]visionflow graph faces.yaml[/] (writes faces.graph.html) · "
    "[bold]visionflow graph faces.yaml --format svg -o faces.svg[/] · "
    "[bold]visionflow graph faces.yaml --format json -o -[/]"
)


class GraphFormat(StrEnum):
    html = "html"
    svg = "svg"
    json = "json"


def graph(
    workflow: Annotated[Path, typer.Argument(help="The workflow document (.yaml, .yml or .json).")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="The file to write ('-': print it). Default: <workflow name>.graph.<format> "
            "in the current folder.",
            show_default=False,
        ),
    ] = None,
    graph_format: Annotated[
        GraphFormat | None,
        typer.Option(
            "--format",
            "-f",
            help="html: a page to open in a browser; svg: the drawing alone; json: the "
            "nodes and edges (as the server's /graph). Default: from --output's suffix, "
            "else html.",
            show_default=False,
        ),
    ] = None,
    dialect: Annotated[
        str | None, typer.Option(help="The document's dialect (default: detected).")
    ] = None,
    model_maps: ModelMaps = None,
) -> None:
    """Draw a workflow: steps, kinds on edges, batch levels, branches (an offline page).

    Cards for the inputs, steps and outputs; beside each output port, its kinds and level.
    Levels: scalar = one value per run, 1 = one per input element, 2 = one per element
    made from it (a crop of each face). A step that makes crops says "level 1 → 2", one
    that gathers them back "level 2 → 1". Flow control and its branches: dashed orange.
    A wrong document prints the error `visionflow validate` prints.
    """
    import json

    from visionflow import Workflow
    from visionflow.graphs.workflow_graph import plan_graph
    from visionflow.graphs.workflow_page import render_page, render_svg

    chosen = graph_format or _format_of(output)
    with reported():
        map_models(model_maps)
        # as `validate` compiles: models are checked against their files, not started
        compiled = Workflow.compile(workflow, dialect=dialect, load_models=False, cache=False)
    data = plan_graph(compiled.plan)
    if chosen is GraphFormat.json:
        text = json.dumps(data, indent=2, ensure_ascii=False)
    elif chosen is GraphFormat.svg:
        text = '<?xml version="1.0" encoding="utf-8"?>\n' + render_svg(data)
    else:
        text = render_page(data, f"{workflow.stem} — visionflow workflow")
    if output is not None and str(output) == "-":
        typer.echo(text)
        return
    target = output or Path(f"{workflow.stem}.graph.{chosen.value}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    steps = sum(node["type"] == "step" for node in data["nodes"])
    typer.echo(
        f"wrote the graph of {steps} step{'' if steps == 1 else 's'} ({chosen.value}) to {target}"
    )


def _format_of(output: Path | None) -> GraphFormat:
    suffix = output.suffix.lower().lstrip(".") if output is not None else ""
    if suffix in GraphFormat.__members__:
        return GraphFormat(suffix)
    if suffix in ("", "htm"):
        return GraphFormat.html
    # `-o graph.png` wrote an HTML page under that name: say what can be written instead
    raise typer.BadParameter(
        f"a graph is written as html, svg or json, not .{suffix}: name the file "
        f"{output.with_suffix('.svg')} (or .html, .json), or give --format",
        param_hint="'--output'",
    )
