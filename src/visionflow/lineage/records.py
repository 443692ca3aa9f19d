"""The rows behind one lineage call: a card found or made, its version, one link."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from visionflow.lineage.errors import DataLineageError, NotFoundError
from visionflow.lineage.schema import Link, Node, Version


def check_version_arguments(call: str, kind: str, version_id, version_num) -> None:
    if version_id is not None and version_num is not None:
        raise DataLineageError(
            "give version_id or version_num, not both",
            place=call,
            hint="version_num counts a project's versions (1, 2, ...); version_id is global",
        )
    if version_num is not None and kind != "project":
        raise DataLineageError(f"version_num is only for projects, not a {kind}", place=call)


def checked_meta(meta: Any, call: str) -> dict:
    """``meta`` as stored: a dict that JSON can hold (a mistake in the call, not the store's)."""
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise DataLineageError(f"meta must be a dict, found {type(meta).__name__}", place=call)
    try:
        json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise DataLineageError(
            f"meta is kept as JSON and cannot hold this: {error}",
            place=call,
            hint="use texts, numbers, booleans, None, and lists and dicts of them",
        ) from None
    return dict(meta)


def identity(kind: str, thing: Any, call: str) -> tuple[str, str]:
    """The key (an absolute path for things on disk, else the text given) and shown name."""
    if kind == "task":
        numeric = isinstance(thing, int | str) and str(thing).isdecimal()
        if isinstance(thing, bool) or not numeric:
            raise DataLineageError(
                f"a task is given by its id (a number), found {thing!r}",
                place=call,
                hint="use the id start_task() returned, or one `visionflow lineage list` shows",
            )
        return str(int(thing)), f"task {thing}"
    text = str(thing)
    if not text:
        raise DataLineageError(f"the {kind} must be named", place=call)
    if kind in ("project", "dataset", "file", "folder"):
        path = Path(text).expanduser().resolve()  # the same path however it was written
        return str(path), path.name or str(path)
    return text, text


def flushed_id(session: Session, node: Node) -> int:
    session.add(node)
    session.flush()
    return node.id


def task_node(session: Session, task_id: int) -> Node:
    task = session.get(Node, task_id)
    if task is None or task.kind != "task":
        raise NotFoundError(
            f"no task {task_id} in the lineage store",
            place="lineage",
            hint="`visionflow lineage list` shows the tasks of this store and their ids",
        )
    return task


def resumed(session: Session, task_id: int) -> None:
    task = task_node(session, task_id)
    task.status, task.finished_at = "running", None


def data_node(session: Session, kind: str, key: str, name: str) -> Node:
    """The card of (kind, key), made if new; safe when other writers make it at the same time."""
    found = sa.select(Node).where(Node.kind == kind, Node.key == key)
    node = session.scalars(found).first()
    if node is not None:
        return node
    values = {"kind": kind, "key": key, "name": name, "card": {}, "meta": {}}
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        # a concurrent writer's row wins (PostgreSQL waits for its commit); we read it back
        insert = importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert(Node)
        session.execute(insert.values(**values).on_conflict_do_nothing())
        return session.scalars(found).one()
    node = Node(**values, model_weight=False)
    session.add(node)
    session.flush()
    return node


def find_version(session: Session, project: str, version_id, version_num) -> Version | None:
    """A version of ``project`` by its number or its id; None when it has no such version."""
    if version_num is not None:
        query = sa.select(Version).where(Version.project == project, Version.num == version_num)
        return session.scalars(query).first()
    found = session.get(Version, version_id)
    return found if found is not None and found.project == project else None


def version_row(session: Session, call, kind, key, version_id, version_num) -> Version | None:
    if version_id is None and version_num is None:
        return None
    if kind not in ("project", "dataset"):
        raise DataLineageError(f"a {kind} has no versions", place=call)
    found = find_version(session, key, version_id, version_num)
    if found is None:
        which = f"version_num {version_num}" if version_num is not None else f"id {version_id}"
        raise NotFoundError(
            f"{kind} '{key}' has no version with {which}",
            place=call,
            hint="visionflow.lineage.versions.get_list(project) lists its versions",
        )
    return found


def link_row(
    session: Session,
    task_id: int,
    node_id: int,
    direction: str,
    version: Version | None,
    card: dict,
    meta: dict,
) -> int:
    # One link per (task, card, direction, version): recording twice (a resumed run) updates.
    version_id = version.id if version is not None else None
    if session.get_bind().dialect.name == "postgresql":
        # the unique constraint does not hold for a NULL version: writers of the same link
        # take turns (the lock ends with the transaction). SQLite's writers always do.
        pair = (sa.cast(task_id, sa.Integer), sa.cast(node_id, sa.Integer))
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(*pair)))
    query = sa.select(Link).where(
        Link.task_id == task_id,
        Link.node_id == node_id,
        Link.direction == direction,
        Link.version_id.is_(None) if version_id is None else Link.version_id == version_id,
    )
    link = session.scalars(query).first()
    if link is None:
        link = Link(
            task_id=task_id,
            node_id=node_id,
            direction=direction,
            version_id=version_id,
            card=card,
            meta=meta,
        )
        session.add(link)
    else:
        link.card, link.meta = {**link.card, **card}, {**link.meta, **meta}
    session.flush()
    return link.id
