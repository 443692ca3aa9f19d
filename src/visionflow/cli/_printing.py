"""How the commands show things: JSON on stdout, rich tables, errors in red on stderr."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from visionflow.errors import WorkflowError

# Optional packages -> the extra that brings them (imported only by the commands using them).
OPTIONAL_MODULES = {
    "fastapi": "pip install 'visionflow[server]'",
    "starlette": "pip install 'visionflow[server]'",
    "uvicorn": "pip install 'visionflow[server]'",
    "httpx": "pip install 'visionflow[server]'",
    "multipart": "pip install 'visionflow[server]'",
    "prometheus_client": "pip install 'visionflow[server]'",
    "PIL": "pip install 'visionflow[server]'",
    "sqlalchemy": "pip install 'visionflow[lineage]'",
    "psycopg": "pip install 'psycopg[binary]' (PostgreSQL lineage stores)",
    "onnxruntime": "pip install 'visionflow[models]'",
    "ai_edge_litert": "pip install 'visionflow[models]'",
    "pyclipper": "pip install 'visionflow[models]'",
}


class MissingExtraError(WorkflowError):
    """An optional dependency of the command is not installed (reported like user errors)."""

    code = "missing_extra"


@contextmanager
def reported(as_json: bool = False, **json_fields: Any) -> Iterator[None]:
    """Turn a WorkflowError into a readable report (or JSON) and exit code 1.

    Other exceptions are bugs, not the user's mistakes: they keep their traceback.
    """
    try:
        yield
    except WorkflowError as error:
        if as_json:
            echo_json({**json_fields, "error": error.to_dict()})
        else:
            print_error(error)
        raise typer.Exit(1) from None
    except ModuleNotFoundError as error:
        missing = missing_extra(error)
        if missing is None:
            raise  # not an optional package: a bug, keep the traceback
        if as_json:
            echo_json({**json_fields, "error": missing.to_dict()})
        else:
            print_error(missing)
        raise typer.Exit(1) from None


def missing_extra(error: ModuleNotFoundError) -> MissingExtraError | None:
    """The report for an optional package that is not installed; None for any other."""
    package = (error.name or "").split(".")[0]
    install = OPTIONAL_MODULES.get(package)
    if install is None:
        return None
    return MissingExtraError(
        f"this command needs the '{package}' package, which is not installed",
        place="installation",
        hint=install,
    )


def print_error(error: Any) -> None:
    """A WorkflowError (or anything with its fields: ``code``, ``place``, ``message``,
    ``hint``, maybe ``also``) for a person, on stderr; then each error in its ``also``."""
    from types import SimpleNamespace

    from rich.console import Console
    from rich.text import Text

    report = Text(f"error [{error.code}]", style="bold red")
    if error.place:
        report.append(f" at {error.place}", style="bold red")
    report.append("\n  " + error.message.replace("\n", "\n  "), style="red")
    if error.hint:
        report.append(f"\n  hint: {error.hint}", style="red")
    Console(stderr=True, soft_wrap=True).print(report)
    for other in getattr(error, "also", None) or ():  # further errors found in the same pass
        print_error(SimpleNamespace(**other) if isinstance(other, dict) else other)


def echo_json(data: Any) -> None:
    # plain echo, not rich: rich would wrap long lines (base64 images) and break the JSON
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def console() -> Any:
    from rich.console import Console

    return Console()


def print_table(
    title: str,
    columns: list[str],
    rows: list[list[Any]],
    caption: str | None = None,
    whole: int = 1,
    keep: tuple[int, ...] = (),
) -> None:
    """A table whose first ``whole`` columns (names) are not folded, if they leave room.

    Columns at the positions in ``keep`` (short values: dates, states) are never folded.
    """
    from rich.table import Table
    from rich.text import Text

    out = console()
    widths = [
        max(len(str(cell)) for cell in [name, *(row[i] for row in rows)]) + 3
        for i, name in enumerate(columns)
    ]
    while whole and sum(widths[:whole]) > out.width // 2:  # narrow terminal: fold names too
        whole -= 1
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    for position, column in enumerate(columns):
        table.add_column(column, no_wrap=position < whole or position in keep, overflow="fold")
    for row in rows:
        table.add_row(*(Text(str(cell)) for cell in row))  # Text: no markup in user data
    out.print(table)


def shown(value: Any) -> str:
    """A value as it is written in a document (JSON), or a dash for none."""
    return "—" if value is None else json.dumps(value, ensure_ascii=False, default=str)
