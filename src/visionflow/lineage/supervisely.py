"""Supervisely's workflow API, as its documentation writes it, over visionflow's lineage store.

    import visionflow.lineage.supervisely as sly      # instead of: import supervisely as sly

    api = sly.Api.from_env()                          # the store VISIONFLOW_LINEAGE_URL names
    with api.lineage.task("export to COCO"):
        project = api.project.get_info_by_path("data/cars")     # the folder gets its id
        api.app.workflow.add_input_project(project.id)
        meta = sly.WorkflowMeta(relation_settings=sly.WorkflowSettings(icon="archive"))
        api.app.workflow.add_output_file("exports/cars.zip", meta=meta)

Entities are named by numeric id as well as by path: a project, dataset, file or labeling
job gets its id (its card's id in the store) the first time it is named, and keeps it.
Every ``add_*`` call is recorded by the same ``Lineage`` as ``visionflow.lineage``'s own.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from visionflow.lineage.api import Lineage
from visionflow.lineage.current import current
from visionflow.lineage.errors import DataLineageError, NotFoundError, StoreError
from visionflow.lineage.records import data_node, find_version, identity
from visionflow.lineage.schema import Node, Version
from visionflow.lineage.store import Store
from visionflow.lineage.supervisely_workflow import (
    TASK_VARIABLE,
    Workflow,
    WorkflowMeta,
    WorkflowSettings,
    logger,
)

TEAM_VARIABLE = "TEAM_ID"
__all__ = [
    "Api",
    "DatasetInfo",
    "FileInfo",
    "LabelingJobInfo",
    "ProjectInfo",
    "VersionInfo",
    "WorkflowMeta",
    "WorkflowSettings",
    "logger",
]


class ProjectInfo(NamedTuple):
    id: int
    name: str
    path: str  # the project folder's absolute path


class DatasetInfo(NamedTuple):
    id: int
    name: str
    path: str


class FileInfo(NamedTuple):
    id: int
    name: str
    path: str
    team_id: int


class LabelingJobInfo(NamedTuple):
    id: int
    name: str


class VersionInfo(NamedTuple):
    id: int
    project_id: int
    version: int  # its number in the project: 1, 2, ...
    title: str | None
    description: str | None
    created_at: datetime
    files: int
    size: int


_INFOS: dict[str, type] = {"project": ProjectInfo, "dataset": DatasetInfo, "file": FileInfo}


class Api:
    """The store (``server_address``: its SQLAlchemy URL; none: the one the environment
    names) with Supervisely's namespaces: ``app.workflow``, ``project`` (and
    ``project.version``), ``dataset``, ``file``, ``labeling_job``; ``lineage`` starts tasks.

    There are no accounts: ``token`` is taken and not used. ``team_id`` is TEAM_ID or 1.
    """

    def __init__(
        self,
        server_address: str | None = None,
        token: str | None = None,
        *,
        store: Store | None = None,
        strict: bool | None = None,
    ):
        if server_address is not None and store is None:
            store = Store(_store_url(server_address))
        self.lineage = Lineage(store, strict=strict)
        team = os.environ.get(TEAM_VARIABLE, "1")
        self.team_id = int(team) if team.isdigit() else 1
        self.app = _App(Workflow(self))
        self.project = _Projects(self)
        self.dataset = _Entities(self, "dataset")
        self.file = _Files(self)
        self.labeling_job = _LabelingJobs(self)

    @classmethod
    def from_env(cls) -> Api:
        """The store VISIONFLOW_LINEAGE_URL names (else the SQLite file in VISIONFLOW_HOME)."""
        return cls()

    @property
    def task_id(self) -> int | None:
        """The task calls are recorded against when not given ``task_id=``."""
        found = current("api.task_id")
        if found is None and os.environ.get(TASK_VARIABLE, "").isdigit():
            return int(os.environ[TASK_VARIABLE])
        return found

    # --- ids and paths: what the namespaces and the workflow calls share --------------------

    def _entity(self, kind: str, thing: Any, place: str) -> tuple[int, str, str]:
        """(id, name, key) of the card ``thing`` names: an id, an info, or a path (which
        gets its id here if it had none). A mistake or a store failure raises."""
        info = _INFOS.get(kind)
        if info is not None and isinstance(thing, info):
            thing = thing.id
        if isinstance(thing, int) and not isinstance(thing, bool):
            return self._read(place, lambda session: _by_id(session, kind, thing, place))
        if isinstance(thing, str | os.PathLike) and kind != "labeling_job":
            return self._read(place, lambda session: _by_path(session, kind, thing, place))
        raise DataLineageError(
            f"a {kind.replace('_', ' ')} is given by its id, its info or its path, "
            f"found {type(thing).__name__} {thing!r}",
            place=place,
        )

    def _path(self, kind: str, thing: Any, place: str) -> str | None:
        """The key of the card an add_* call names; None if the store failed (lenient)."""
        if isinstance(thing, str | os.PathLike):
            return str(thing)  # the lineage call resolves and records it
        return self._key(kind, thing, place)

    def _key(self, kind: str, thing: Any, place: str) -> str | None:
        what = f"read the {kind} {thing!r}"
        return self.lineage._guarded(what, lambda: self._entity(kind, thing, place)[2])

    def _version_project(self, version_id: int, place: str) -> str | None:
        def project(session) -> str:
            found = session.get(Version, version_id)
            if found is None:
                raise NotFoundError(f"no project version {version_id} in the store", place=place)
            return found.project

        return self.lineage._guarded(f"read version {version_id}", lambda: self._in(project))

    def _in(self, read):
        with self.lineage.store.transaction() as session:
            return read(session)

    def _read(self, place: str, read):
        try:
            return self._in(read)
        except SQLAlchemyError as error:
            raise StoreError(f"could not read the lineage store: {error}", place=place) from error


class _App:
    def __init__(self, workflow: Workflow):
        self.workflow = workflow


class _Entities:
    """``api.dataset``: datasets by id or by path."""

    def __init__(self, api: Api, kind: str):
        self._api, self._kind = api, kind

    def get_info_by_id(self, id: int):
        return self._info(*self._api._entity(self._kind, id, f"{self._kind}.get_info_by_id"))

    def get_info_by_path(self, path):
        """The folder's info; the first time it is named, it gets its id."""
        return self._info(*self._api._entity(self._kind, path, f"{self._kind}.get_info_by_path"))

    def _info(self, node_id: int, name: str, key: str):
        return _INFOS[self._kind](node_id, name, key)


class _Projects(_Entities):
    """``api.project``: projects by id or by path, and ``version``."""

    def __init__(self, api: Api):
        super().__init__(api, "project")
        self.version = _Versions(api)


class _Files(_Entities):
    """``api.file``: files by id, or by path as Supervisely's ``get_info_by_path(team_id,
    remote_path)`` names them."""

    def __init__(self, api: Api):
        super().__init__(api, "file")

    def get_info_by_path(self, team_id: int, remote_path) -> FileInfo:  # type: ignore[override]
        if team_id != self._api.team_id:
            raise NotFoundError(
                f"no team {team_id} here: this store has one team, {self._api.team_id}",
                place="file.get_info_by_path",
                hint=f"use api.team_id (set {TEAM_VARIABLE} to choose it)",
            )
        return super().get_info_by_path(remote_path)

    def _info(self, node_id: int, name: str, key: str) -> FileInfo:
        return FileInfo(node_id, name, key, self._api.team_id)


class _LabelingJobs:
    """``api.labeling_job``: jobs by id; a job named for the first time gets its id."""

    def __init__(self, api: Api):
        self._api = api

    def get_info_by_id(self, id: int) -> LabelingJobInfo:
        return LabelingJobInfo(*self._api._entity("labeling_job", id, "labeling_job")[:2])

    def get_info_by_name(self, name: str) -> LabelingJobInfo:
        place = "labeling_job.get_info_by_name"
        found = self._api._read(place, lambda s: _by_path(s, "labeling_job", name, place))
        return LabelingJobInfo(*found[:2])


class _Versions:
    """``api.project.version``: versions of a project folder by content (``versions.py``,
    imported on use: the workflow calls need none of it)."""

    def __init__(self, api: Api):
        self._api = api

    def create(self, project_info, version_title: str | None = None,
               version_description: str | None = None) -> int:  # fmt: skip
        """The new version's id; an unchanged project gives its last version's id."""
        from visionflow.lineage import versions

        _, _, path = self._api._entity("project", project_info, "project.version.create")
        made = versions.create(
            path, version_title, version_description, store=self._api.lineage.store
        )
        return made.id

    def restore(self, project_info, version_id: int | None = None,
                version_num: int | None = None, skip_missed_entities: bool = False,
                *, target=None) -> ProjectInfo:  # fmt: skip
        """The project as it was at that version, as a new project: ``target`` (default:
        the folder ``<project>-v<number>`` beside it)."""
        from visionflow.lineage import versions

        place = "project.version.restore"
        _, _, path = self._api._entity("project", project_info, place)
        if target is None:
            number = version_num or self._number(path, version_id, place)
            target = _free(Path(path).with_name(f"{Path(path).name}-v{number}"))
        restored = versions.restore(
            path, version_id, version_num, skip_missed_entities,
            target=target, store=self._api.lineage.store,
        )  # fmt: skip
        return ProjectInfo(*self._api._entity("project", restored.path, place))

    def get_list(self, project_id, filters: list[dict[str, Any]] | None = None):
        """The project's versions, oldest first; ``filters`` in Supervisely's form:
        ``[{"field": "version", "operator": ">=", "value": 2}]``."""
        from visionflow.lineage import versions

        node_id, _, path = self._api._entity("project", project_id, "project.version.get_list")
        found = versions.get_list(path, filters or [], store=self._api.lineage.store)
        return [
            VersionInfo(v.id, node_id, v.num, v.title, v.description, v.created_at, v.files, v.size)
            for v in found
        ]

    def get_id_by_number(self, project_id, version_num: int) -> int:
        place = "project.version.get_id_by_number"
        _, _, path = self._api._entity("project", project_id, place)
        found = self._api._read(place, lambda s: find_version(s, path, None, version_num))
        if found is None:
            raise NotFoundError(f"project '{path}' has no version {version_num}", place=place)
        return found.id

    def _number(self, path: str, version_id, place: str) -> int:
        found = self._api._read(place, lambda s: find_version(s, path, version_id, None))
        if found is None:
            raise NotFoundError(
                f"project '{path}' has no version with id {version_id}", place=place
            )
        return found.num


def _free(target: Path) -> Path:
    """``target``, else ``target-2``, ``-3``...: each Supervisely restore makes a new project,
    so running a script again must not fail on the folder the last run restored into."""
    found, n = target, 1
    while found.exists() and (not found.is_dir() or any(found.iterdir())):
        n += 1
        found = target.with_name(f"{target.name}-{n}")
    return found


def _by_id(session, kind: str, node_id: int, place: str) -> tuple[int, str, str]:
    node = session.get(Node, node_id)
    if node is None or node.kind != kind:
        other = "" if node is None else f" ({node_id} is the {node.kind} '{node.name}')"
        how = "get_info_by_name(name)" if kind == "labeling_job" else "get_info_by_path(path)"
        raise NotFoundError(
            f"no {kind.replace('_', ' ')} with id {node_id} in the lineage store{other}",
            place=place,
            hint=f"api.{kind}.{how} gives a {kind.replace('_', ' ')} its id",
        )
    return node.id, node.name, node.key


def _by_path(session, kind: str, thing: Any, place: str) -> tuple[int, str, str]:
    key, shown = identity(kind, thing, place)
    node = data_node(session, kind, key, shown)
    return node.id, node.name, node.key


def _store_url(address: str) -> str:
    try:
        backend = sa.make_url(address).get_backend_name()
    except ArgumentError:
        backend = None
    if backend in (None, "http", "https"):
        raise StoreError(
            f"'{address}' is not a database URL: here server_address names the lineage store",
            place="Api",
            hint="give an SQLAlchemy URL (sqlite:///lineage.db, postgresql+psycopg://...), "
            "or nothing for the store VISIONFLOW_LINEAGE_URL names",
        )
    return address
