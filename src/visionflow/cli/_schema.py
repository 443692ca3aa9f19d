"""``visionflow schema``: the JSON Schema editors check workflow documents against."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from visionflow.cli._printing import reported

EPILOG = (
    "Examples: [bold]visionflow schema -o workflow.schema.json[/] · "
    "[bold]visionflow schema --block DynamicCrop[/]"
)


def schema(
    block: Annotated[
        str | None,
        typer.Option(
            "--block",
            metavar="TYPE",
            help="Only this block's step schema (a type name or alias).",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the schema to this file.", show_default=False),
    ] = None,
) -> None:
    """Print the JSON Schema (draft-07) of a workflow document, each step checked against its
    block: point an editor at it with `# yaml-language-server: $schema=workflow.schema.json`."""
    from visionflow.editor_schema import block_schema, workflow_schema

    with reported():
        if block is None:
            written = workflow_schema()
        else:
            from visionflow.blocks.loader import load_registry
            from visionflow.cli._blocks import find_block

            written = block_schema(find_block(load_registry(), block))
    text = json.dumps(written, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote the schema to {output}")
