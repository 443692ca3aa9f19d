"""``visionflow versions create|list|restore``: versions of a project folder, and what
storing them took."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer

from visionflow.cli._printing import echo_json, print_table, reported

versions_app = typer.Typer(
    no_args_is_help=True,
    help="Versions of a project folder (VISIONFLOW_LINEAGE_URL or VISIONFLOW_HOME).",
)
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


@versions_app.command(
    "create", epilog="Example: [bold]visionflow versions create data/cars --storage link[/]"
)
def create_command(
    project: Annotated[Path, typer.Argument(help="The project folder.")],
    title: Annotated[str | None, typer.Option("--title", help="The version's title.")] = None,
    description: Annotated[
        str | None, typer.Option("--description", help="A longer text kept with the version.")
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            help="How files are kept: copy (independent copies), link (hard links: no second "
            "copy) or record (hashes and paths only). Default: VISIONFLOW_VERSION_STORAGE, "
            "else copy.",
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Snapshot the folder and say how its files were kept, in files and bytes."""
    from visionflow.lineage import versions

    with reported(as_json):
        info = versions.create(project, title, description, storage=storage)
    if as_json:
        echo_json(dataclasses.asdict(info))
        return
    report = info.report
    made = "unchanged: version" if report.unchanged else "version"
    typer.echo(f"{made} {info.num} (id {info.id}) of {info.project}, {info.storage}")
    typer.echo(f"{report.summary()}; the blob store grew by {report.new_bytes} bytes")
    # files found edited in place through a hard link: the store's warning is logged


@versions_app.command(
    "list", epilog="Example: [bold]visionflow versions list data/cars --filter 'version >= 2'[/]"
)
def list_command(
    project: Annotated[Path, typer.Argument(help="The project folder.")],
    filters: Annotated[
        list[str] | None,
        typer.Option(
            "--filter",
            help="'FIELD OPERATOR VALUE', as Supervisely's get_list filters: field id, "
            "version, title, description or createdAt; operator = != > >= < <= in !in "
            "(a list: values separated by commas). Repeat for several; all must hold.",
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """List the project's versions: number, id, title, time, files, bytes, storage."""
    from visionflow.lineage import versions

    with reported(as_json):
        found = versions.get_list(project, [_filter(text) for text in filters or []])
    if as_json:
        echo_json([_without_report(info) for info in found])
        return
    if not found:  # an empty table would not say whether the folder is even there
        gone = "" if project.exists() else " (and no such folder)"
        typer.echo(f"no versions of {project}{' match' if filters else ''}{gone}")
        return
    rows = [
        [v.num, v.id, v.title or "", f"{v.created_at:%Y-%m-%d %H:%M}", v.files, v.size, v.storage]
        for v in found
    ]
    columns = ["num", "id", "title", "created", "files", "bytes", "storage"]
    print_table(f"versions of {project}", columns, rows, whole=0, keep=(3,))


@versions_app.command(
    "restore",
    epilog="Example: [bold]visionflow versions restore data/cars --num 2 --target cars-v2[/]",
)
def restore_command(
    project: Annotated[Path, typer.Argument(help="The project folder (it may be gone).")],
    target: Annotated[
        Path | None,
        typer.Option(
            "--target",
            "-o",
            help="A new folder to restore into; default PROJECT-vNUMBER beside the project.",
        ),
    ] = None,
    num: Annotated[int | None, typer.Option("--num", help="The version's number.")] = None,
    version_id: Annotated[int | None, typer.Option("--id", help="The version's id.")] = None,
    skip_missed: Annotated[
        bool,
        typer.Option("--skip-missed", help="Restore the files that can be, list the others."),
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Recreate the project as it was at a version, every file checked against its hash."""
    from visionflow.lineage import versions

    with reported(as_json):
        if (num is None) == (version_id is None):
            from visionflow.lineage.errors import DataLineageError

            raise DataLineageError(
                "give the version by --num or by --id (one of them)",
                place="versions restore",
                hint="`visionflow versions list PROJECT` shows each version's number and id",
            )
        if target is None:  # as Supervisely's api.project.version.restore names it
            target = project.with_name(f"{project.name}-v{_number(project, num, version_id)}")
        restored = versions.restore(project, version_id, num, skip_missed, target=target)
    if as_json:
        echo_json(dataclasses.asdict(restored))
        return
    files = f"{restored.files} file{'' if restored.files == 1 else 's'}"
    typer.echo(f"restored {files} into {restored.path}")
    if restored.from_project:
        typer.echo(f"{restored.from_project} of them read back from the project folder")
    for reason, paths in (("missing", restored.missing), ("changed", restored.changed)):
        for path in paths:
            typer.echo(f"left out ({reason}): {path}", err=True)


def _without_report(info: Any) -> dict:
    shown = dataclasses.asdict(info)
    shown.pop("report")  # a listing did not store anything
    return shown


def _number(project: Path, num: int | None, version_id: int) -> int | str:
    """The version's number, for the default target's name (restore reports an unknown one)."""
    from visionflow.lineage import versions

    if num is not None:
        return num
    found = versions.get_list(project, [{"field": "id", "operator": "=", "value": version_id}])
    return found[0].num if found else f"id{version_id}"


def _filter(text: str) -> dict[str, Any]:
    """'version >= 2' as Supervisely's {"field": "version", "operator": ">=", "value": 2}."""
    from visionflow.lineage.errors import DataLineageError

    parts = text.split(None, 2)
    if len(parts) != 3:
        raise DataLineageError(
            f"a filter is 'FIELD OPERATOR VALUE', found {text!r}",
            place="--filter",
            hint="e.g. --filter 'version >= 2' or --filter 'title = reviewed'",
        )
    field, operator, value = parts
    values: list[Any] = value.split(",") if operator in ("in", "!in") else [value]
    if field in ("id", "version"):  # whole numbers there; a word is left for the check to name
        values = [int(v) if v.strip().isdigit() else v for v in values]
    return {"field": field, "operator": operator,
            "value": values if operator in ("in", "!in") else values[0]}  # fmt: skip
