"""Reading lineage back: the list of tasks, and the graph of cards for the page."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from visionflow.lineage.errors import NotFoundError
from visionflow.lineage.schema import Link, Node, Version, as_utc
from visionflow.lineage.store import Store


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


def lineage_graph(store: Store, task_id: int | None = None) -> dict[str, list[dict[str, Any]]]:
    """Cards and the arrows between them: data -> task for inputs, task -> data for outputs.

    A data card is one thing at one version (version 2 and 3 of a project are two cards).
    With ``task_id``: that task, its cards, and the other tasks linked to those cards.
    """
    with store.transaction() as session:
        links = list(session.scalars(sa.select(Link).order_by(Link.id)))
        if task_id is not None:
            asked = session.get(Node, task_id)
            if asked is None or asked.kind != "task":
                what = "" if asked is None else f" ({task_id} is the {asked.kind} '{asked.name}')"
                raise NotFoundError(
                    f"no task {task_id} in the lineage store{what}",
                    place="--task",
                    hint="`visionflow lineage list` shows the tasks and their ids",
                )
            cards = {(link.node_id, link.version_id) for link in links if link.task_id == task_id}
            tasks = {task_id} | {
                link.task_id for link in links if (link.node_id, link.version_id) in cards
            }
            links = [link for link in links if link.task_id in tasks]
        node_ids = {link.node_id for link in links} | {link.task_id for link in links}
        if task_id is not None:
            node_ids.add(task_id)
        else:  # tasks that recorded nothing yet still appear
            node_ids |= set(session.scalars(sa.select(Node.id).where(Node.kind == "task")))
        nodes = {n.id: n for n in session.scalars(sa.select(Node).where(Node.id.in_(node_ids)))}
        versions = {
            v.id: v
            for v in session.scalars(
                sa.select(Version).where(Version.id.in_({link.version_id for link in links}))
            )
        }
        return _as_graph(nodes, links, versions)


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
            {"source": source, "target": target, "direction": link.direction, "meta": link.meta}
        )
    return {"nodes": list(cards.values()), "links": arrows}


def _card(node: Node, settings: dict, version: Version | None) -> dict[str, Any]:
    card_id = f"{node.kind}-{node.id}"
    if version is not None:
        card_id += f"-v{version.id}"
    return {
        "id": card_id,
        "kind": node.kind,
        "name": node.name,
        "key": node.key,
        "model_weight": node.model_weight,
        "status": node.status,
        "version": None if version is None else {"id": version.id, "num": version.num},
        "settings": dict(settings),
        "meta": node.meta,
    }
