"""Reading lineage back: the list of tasks, and the graph of cards for the page.

A graph is drawn for a set of tasks: their cards, and the links between. The whole store
is every task; a task's view is the task and the tasks one card away (those that read or
wrote its cards, that it names as input or output tasks, or that name it); a project's view
is every task that read or wrote the project (any version) -- each with all its links.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from visionflow.lineage.errors import NotFoundError
from visionflow.lineage.schema import Link, Node, Version, as_utc
from visionflow.lineage.store import Store

DATA_KINDS = ("project", "dataset", "folder", "file")  # cards named by a path on disk


def list_tasks(store: Store) -> list[dict[str, Any]]:
    """Every task, oldest first, with its number of inputs and outputs."""
    counts = sa.select(Link.task_id, Link.direction, sa.func.count()).group_by(
        Link.task_id, Link.direction
    )
    with store.transaction() as session:
        tasks = session.scalars(sa.select(Node).where(Node.kind == "task").order_by(Node.id))
        found = {(task, direction): n for task, direction, n in session.execute(counts)}
        return [
            {
                "id": task.id,
                "name": task.name,
                "status": task.status,
                "started": as_utc(task.created_at),
                "finished": as_utc(task.finished_at),
                "inputs": found.get((task.id, "input"), 0),
                "outputs": found.get((task.id, "output"), 0),
                "meta": task.meta,
            }
            for task in tasks
        ]


@dataclass(frozen=True)
class RecordedLineage:
    """Every node, link and linked version of the store, read in one transaction, so that
    the views of one page agree with each other."""

    nodes: dict[int, Node]
    links: list[Link]
    versions: dict[int, Version]

    def whole(self) -> dict[str, list[dict[str, Any]]]:
        """Every card; tasks that recorded nothing yet appear too."""
        tasks = {node.id for node in self.nodes.values() if node.kind == "task"}
        return self.graph(tasks)

    def around_task(self, task_id: int) -> dict[str, list[dict[str, Any]]]:
        """The task's cards, and the tasks one card away with all their cards."""
        self.task(task_id)
        cards = {(link.node_id, link.version_id) for link in self.links if link.task_id == task_id}
        tasks = {task_id}
        for link in self.links:
            if (link.node_id, link.version_id) in cards or link.node_id == task_id:
                tasks.add(link.task_id)  # read or wrote one of its cards, or names it
            if link.task_id == task_id and self.nodes[link.node_id].kind == "task":
                tasks.add(link.node_id)  # a task it names as its input or output
        return self.graph(tasks)

    def around_data(self, node_ids: set[int]) -> dict[str, list[dict[str, Any]]]:
        """Every task that read or wrote one of the cards (any version), with its cards."""
        tasks = {link.task_id for link in self.links if link.node_id in node_ids}
        return self.graph(tasks, node_ids)

    def task(self, task_id: int) -> Node:
        asked = self.nodes.get(task_id)
        if asked is None or asked.kind != "task":
            what = "" if asked is None else f" ({task_id} is the {asked.kind} '{asked.name}')"
            raise NotFoundError(
                f"no task {task_id} in the lineage store{what}",
                place="--task",
                hint="`visionflow lineage list` shows the tasks and their ids",
            )
        return asked

    def data_cards(self, thing: int | str | Path) -> set[int]:
        """The ids of the cards a path or a numeric id names (a folder recorded both as a
        project and as a dataset is both)."""
        by_id = isinstance(thing, int) or (
            isinstance(thing, str) and thing.isdecimal() and not Path(thing).exists()
        )
        if by_id and not isinstance(thing, bool):
            node = self.nodes.get(int(thing))
            if node is not None and node.kind not in ("task", "app_session"):
                return {node.id}
            what = "" if node is None else f" ({thing} is the {node.kind} '{node.name}')"
            hint = "give the project's folder, or the id `api.project.get_info_by_path` gives"
            raise NotFoundError(
                f"no project {thing} in the lineage store{what}", place="--project", hint=hint
            )
        key = str(Path(thing).expanduser().resolve())
        found = {n.id for n in self.nodes.values() if n.kind in DATA_KINDS and n.key == key}
        if not found:
            raise NotFoundError(
                f"no task read or wrote '{key}'",
                place="--project",
                hint="the page shows what the lineage store recorded: a path a task named",
            )
        return found

    def graph(self, tasks: set[int], extra: set[int] = frozenset()) -> dict[str, list[dict]]:
        links = [link for link in self.links if link.task_id in tasks]
        shown = tasks | set(extra) | {link.node_id for link in links}
        nodes = {i: node for i, node in self.nodes.items() if i in shown}
        return _as_graph(nodes, links, self.versions)


def read_lineage(store: Store) -> RecordedLineage:
    with store.transaction() as session:
        links = list(session.scalars(sa.select(Link).order_by(Link.id)))
        nodes = {n.id: n for n in session.scalars(sa.select(Node).order_by(Node.id))}
        used = {link.version_id for link in links}
        versions = {
            v.id: v for v in session.scalars(sa.select(Version).where(Version.id.in_(used)))
        }
        return RecordedLineage(nodes, links, versions)


def lineage_graph(store: Store, task_id: int | None = None) -> dict[str, list[dict[str, Any]]]:
    """Cards and the arrows between them: data -> task for inputs, task -> data for outputs.

    A data card is one thing at one version (version 2 and 3 of a project are two cards).
    With ``task_id``: that task, its cards, and the other tasks linked to those cards.
    """
    lineage = read_lineage(store)
    return lineage.whole() if task_id is None else lineage.around_task(task_id)


def _as_graph(nodes: dict[int, Node], links: list[Link], versions: dict[int, Version]) -> dict:
    cards: dict[str, dict[str, Any]] = {}
    for node in nodes.values():
        if node.kind == "task":
            cards[f"task-{node.id}"] = _card(node, node.card, None)
    arrows = []
    for link in links:
        node = nodes[link.node_id]
        if node.kind == "task":
            card_id = f"task-{node.id}"
        else:
            card_id = f"{node.kind}-{node.id}" + (f"-v{link.version_id}" if link.version_id else "")
            version = versions.get(link.version_id) if link.version_id else None
            card = cards.setdefault(card_id, _card(node, node.card, version))
            card["settings"] = {**card["settings"], **link.card}
        task_card = f"task-{link.task_id}"
        source, target = (card_id, task_card) if link.direction == "input" else (task_card, card_id)
        arrows.append(
            {
                "source": source,
                "target": target,
                "direction": link.direction,
                "meta": link.meta,
                "settings": dict(link.card),  # the relation card as this link set it
            }
        )
    for node in nodes.values():  # a card no shown task links (the project a view is about)
        if node.kind != "task" and not any(c["node_id"] == node.id for c in cards.values()):
            cards[f"{node.kind}-{node.id}"] = _card(node, node.card, None)
    return {"nodes": list(cards.values()), "links": arrows}


def _card(node: Node, settings: dict, version: Version | None) -> dict[str, Any]:
    card_id = f"{node.kind}-{node.id}"
    if version is not None:
        card_id += f"-v{version.id}"
    return {
        "id": card_id,
        "node_id": node.id,
        "kind": node.kind,
        "name": node.name,
        "key": node.key,
        "model_weight": node.model_weight,
        "status": node.status,
        "version": None if version is None else {"id": version.id, "num": version.num},
        "settings": dict(settings),
        "meta": node.meta,
    }
