"""The lineage page's views -- the whole store, a task, a project -- with each card's
default links (the task's log and run record, the project folder, the file and its
location, the card's own view) and the previews of image datasets.

    from visionflow.lineage.views import lineage_page
    Path("cars.html").write_text(lineage_page(project="data/cars"))

One page holds its main view and the view of every card on it (one level), as sections
that a link to ``#view-...`` shows; a static file needs no script for that.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from visionflow.lineage.errors import DataLineageError
from visionflow.lineage.page import MAX_THUMBNAILS, View, render_views
from visionflow.lineage.queries import RecordedLineage, read_lineage
from visionflow.lineage.schema import VersionEntry
from visionflow.lineage.store import Store, default_store
from visionflow.lineage.thumbnails import data_urls, folder_images, version_images

LOG_KEYS = ("log", "log_path", "log_url")  # a task's meta naming its log: a path or a URL
PREVIEWED = ("project", "dataset")  # the kinds of card that show a dataset's pictures


def lineage_page(
    store: Store | None = None,
    *,
    project: int | str | Path | None = None,
    task: int | None = None,
    thumbnails: int = 3,
) -> str:
    """The page of the whole store, or of one project (its path or id) or task, as HTML."""
    return lineage_views(store, project, task, thumbnails)[0]


def lineage_views(
    store: Store | None, project: int | str | Path | None, task: int | None, thumbnails: int
) -> tuple[str, list[View]]:
    """The page and the views it holds, the main one first."""
    if project is not None and task is not None:
        raise DataLineageError("give a project or a task, not both", place="lineage page")
    if not 0 <= thumbnails <= MAX_THUMBNAILS:
        raise DataLineageError(
            f"thumbnails must be 0 to {MAX_THUMBNAILS}, found {thumbnails}",
            place="thumbnails",
            hint="the previews of a card are drawn in one row",
        )
    store = store or default_store()
    lineage = read_lineage(store)
    views = page_views(lineage, project, task)
    previews: dict[str, list[str]] = {}  # card id -> its pictures' data URLs
    keys: dict[str, str] = {}  # data URL -> its id in the page: each picture kept once
    for view in views:
        for card in view.graph["nodes"]:
            if card["id"] not in previews:
                previews[card["id"]] = _previews(store, card, thumbnails)
            urls = previews[card["id"]]
            card["thumbnails"] = [keys.setdefault(url, str(len(keys))) for url in urls]
    anchors = {view.anchor for view in views}
    for view in views:
        for card in view.graph["nodes"]:
            card["links"] = card_links(card, view.graph, anchors - {view.anchor})
    shown = {key: url for url, key in keys.items()}
    return render_views(views, shown), views


def page_views(
    lineage: RecordedLineage, project: int | str | Path | None = None, task: int | None = None
) -> list[View]:
    """The main view first, then one per card on it."""
    if task is not None:
        title = f"Task {task}: {lineage.task(task).name}"
        main = View(view_anchor("task", task), title, lineage.around_task(task))
        subject = {task}
    elif project is not None:
        subject = lineage.data_cards(project)
        node = lineage.nodes[min(subject)]
        title = f"{node.kind.replace('_', ' ').capitalize()} {node.name}"
        main = View(view_anchor(node.kind, node.id), title, lineage.around_data(subject))
    else:
        main, subject = View("view-all", "Whole lineage store", lineage.whole()), set()
    views = [main]
    for node_id in dict.fromkeys(card["node_id"] for card in main.graph["nodes"]):
        if node_id in subject:
            continue
        node = lineage.nodes[node_id]
        if node.kind == "task":
            graph, title = lineage.around_task(node_id), f"Task {node_id}: {node.name}"
        else:
            kind = node.kind.replace("_", " ").capitalize()
            graph, title = lineage.around_data({node_id}), f"{kind} {node.name}"
        views.append(View(view_anchor(node.kind, node_id), title, graph))
    return views


def view_anchor(kind: str, node_id: int) -> str:
    return f"view-{kind.replace('_', '-')}-{node_id}"


def card_links(card: dict[str, Any], graph: dict, anchors: set[str]) -> list[dict[str, str]]:
    """The card's default links, in the order drawn: its view, then where its things are."""
    links = []
    anchor = view_anchor(card["kind"], card["node_id"])
    if anchor in anchors:
        links.append({"label": "view", "href": f"#{anchor}"})
    if card["kind"] == "task":
        links += _task_links(card, graph)
    elif card["kind"] in ("project", "dataset", "folder"):
        links += _path_links([("folder", Path(card["key"]), Path.is_dir)])
    elif card["kind"] == "file":
        path = Path(card["key"])
        links += _path_links([("file", path, Path.is_file), ("location", path.parent, Path.is_dir)])
    return links


def _task_links(card: dict[str, Any], graph: dict) -> list[dict[str, str]]:
    meta = card["meta"] or {}
    log = next((meta[key] for key in LOG_KEYS if isinstance(meta.get(key), str)), None)
    links = []
    if log is not None and log.startswith(("http://", "https://")):
        links.append({"label": "log", "href": log})
    elif log is not None:
        links += _path_links([("log", Path(log), Path.is_file)])
    for record in _run_records(card, graph):  # run-dataset's run.json: status, failures
        links += _path_links([("run", record, Path.is_file)])
    if isinstance(meta.get("workflow"), str):
        links += _path_links([("workflow", Path(meta["workflow"]), Path.is_file)])
    return links


def _run_records(card: dict[str, Any], graph: dict) -> list[Path]:
    outputs = {link["target"] for link in graph["links"] if link["source"] == card["id"]}
    found = []
    for other in graph["nodes"]:
        record = Path(other["key"]) / "run.json"
        if other["id"] in outputs and other["kind"] == "folder" and record.is_file():
            try:
                run = json.loads(record.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(run, dict) and run.get("task_id") == card["node_id"]:
                found.append(record)
    return found


def _path_links(candidates) -> list[dict[str, str]]:
    """A file:// link for each path that is there; one ``missing`` mark for those gone."""
    links, gone = [], False
    for label, path, exists in candidates:
        if path.is_absolute() and exists(path):
            links.append({"label": label, "href": path.as_uri()})
        else:
            gone = True
    if gone and not links:
        links.append({"label": "missing", "href": ""})
    return links


def _previews(store: Store, card: dict[str, Any], count: int) -> list[str]:
    if card["kind"] not in PREVIEWED or count == 0:
        return []
    folder = Path(card["key"])
    if not folder.is_dir():
        return []
    if card["version"] is None:
        return data_urls(folder_images(folder), count)
    with store.transaction() as session:  # the version's own pictures, where still there
        query = sa.select(VersionEntry.path).where(VersionEntry.version_id == card["version"]["id"])
        paths = sorted(session.scalars(query))
    return data_urls(version_images(folder, paths), count)
