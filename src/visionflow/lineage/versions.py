"""Versions of a project (a folder of images and annotations) by content hash.

info = versions.create("data/cars", title="after review")   # unchanged -> same version
versions.restore("data/cars", version_num=1, target="data/cars-v1")
versions.get_list("data/cars", filters={"title_contains": "review"})
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from visionflow.lineage.blobs import copy_out, file_sha256, put_file
from visionflow.lineage.errors import DataLineageError, NotFoundError
from visionflow.lineage.records import find_version
from visionflow.lineage.schema import Version, VersionEntry, as_utc
from visionflow.lineage.store import Store, default_store


@dataclass(frozen=True)
class VersionInfo:
    id: int
    project: str
    num: int
    title: str | None
    description: str | None
    content_hash: str
    files: int
    size: int
    created_at: datetime


@dataclass(frozen=True)
class Restored:
    path: Path
    files: int
    skipped: list[str] = field(default_factory=list)  # entries whose content was missing


def project_key(project: str | os.PathLike) -> str:
    """A project's identity: its folder's absolute path (it may no longer exist)."""
    return str(Path(project).expanduser().resolve())


def create(
    project, title: str | None = None, description: str | None = None, *, store: Store | None = None
) -> VersionInfo:
    """Snapshot the folder; if its content equals the last version's, return that version."""
    store = store or default_store()
    folder = _folder(project, "versions.create")
    entries = [(path, *put_file(store.blobs, folder / path)) for path in _files(folder)]
    content_hash = hash_of_contents({path: sha for path, sha, _ in entries})
    with store.transaction() as session:
        last = session.scalars(
            sa.select(Version).where(Version.project == str(folder)).order_by(Version.num.desc())
        ).first()
        if last is not None and last.content_hash == content_hash:
            return _info(last)
        version = Version(
            project=str(folder),
            num=(last.num + 1) if last else 1,
            title=title,
            description=description,
            content_hash=content_hash,
            files=len(entries),
            size=sum(size for *_, size in entries),
        )
        session.add(version)
        session.flush()
        session.add_all(
            VersionEntry(version_id=version.id, path=path, sha256=sha, size=size)
            for path, sha, size in entries
        )
        return _info(version)


def restore(
    project,
    version_id: int | None = None,
    version_num: int | None = None,
    skip_missed_entities: bool = False,
    *,
    target,
    store: Store | None = None,
) -> Restored:
    """Recreate the project as it was at a version, into the new folder ``target``.

    A file whose content is gone from the blob store is an error, or is left out (and
    listed in ``skipped``) with ``skip_missed_entities=True``.
    """
    store = store or default_store()
    if (version_id is None) == (version_num is None):
        raise DataLineageError(
            "give exactly one of version_id or version_num", place="versions.restore"
        )
    target = Path(target).expanduser().resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise DataLineageError(
            f"target '{target}' exists and is not an empty folder",
            place="versions.restore",
            hint="restore into a new folder",
        )
    version, entries = _version_entries(store, project_key(project), version_id, version_num)
    building = target.with_name(f".{target.name}.restoring")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    skipped = []
    for entry in entries:
        if copy_out(store.blobs, entry.sha256, building / entry.path):
            continue
        if not skip_missed_entities:
            shutil.rmtree(building)
            raise NotFoundError(
                f"the content of '{entry.path}' (sha256 {entry.sha256[:12]}...) of version "
                f"{version.num} is missing from the blob store",
                place="versions.restore",
                hint="pass skip_missed_entities=True to restore the other files",
            )
        skipped.append(entry.path)
    if target.exists():
        target.rmdir()
    os.replace(building, target)  # the folder appears whole, never half restored
    return Restored(target, len(entries) - len(skipped), skipped)


_FILTERS = {
    "title": lambda v: Version.title == v,
    "title_contains": lambda v: Version.title.contains(v, autoescape=True),  # % and _ as such
    "num_min": lambda v: Version.num >= v,
    "num_max": lambda v: Version.num <= v,
    "created_after": lambda v: Version.created_at > v,
    "created_before": lambda v: Version.created_at < v,
    "content_hash": lambda v: Version.content_hash == v,
}


def get_list(
    project, filters: dict[str, Any] | None = None, *, store: Store | None = None
) -> list[VersionInfo]:
    """The project's versions, oldest first, that pass every filter given."""
    store = store or default_store()
    unknown = sorted(set(filters or {}) - set(_FILTERS))
    if unknown:
        raise DataLineageError(
            f"unknown filter(s) {', '.join(map(repr, unknown))}",
            place="versions.get_list",
            hint=f"the filters are: {', '.join(_FILTERS)}",
        )
    query = sa.select(Version).where(Version.project == project_key(project))
    for name, value in (filters or {}).items():
        query = query.where(_FILTERS[name](value))
    with store.transaction() as session:
        return [_info(v) for v in session.scalars(query.order_by(Version.num))]


def folder_contents(project) -> dict[str, str]:
    """Each file's relative path -> the SHA-256 of its content (what a version records)."""
    folder = _folder(project, "versions.folder_contents")
    return {path: file_sha256(folder / path) for path in _files(folder)}


def hash_of_contents(contents: dict[str, str]) -> str:
    """The content hash of a version with these files (``folder_contents``)."""
    return hashlib.sha256(json.dumps(sorted(map(list, contents.items()))).encode()).hexdigest()


def _folder(project, place: str) -> Path:
    folder = Path(project).expanduser().resolve()
    if folder.is_file():
        raise DataLineageError(
            f"'{folder}' is a file, not a project folder",
            place=place,
            hint="give the folder that holds the project's files",
        )
    if not folder.is_dir():
        raise NotFoundError(f"project folder '{folder}' does not exist", place=place)
    return folder


def _files(folder: Path) -> list[str]:
    # a symlink to a file counts as that file (its content is stored, restored as a file),
    # as a dataset run reads it; a broken link is no file
    found = [p for p in folder.rglob("*") if p.is_file()]
    return sorted(p.relative_to(folder).as_posix() for p in found)


def _version_entries(store: Store, key: str, version_id, version_num):
    with store.transaction() as session:
        version = find_version(session, key, version_id, version_num)
        if version is None:
            which = f"version_num {version_num}" if version_num is not None else f"id {version_id}"
            raise NotFoundError(
                f"project '{key}' has no version with {which}", place="versions.restore"
            )
        entries = session.scalars(
            sa.select(VersionEntry)
            .where(VersionEntry.version_id == version.id)
            .order_by(VersionEntry.path)
        ).all()
        return version, list(entries)


def _info(version: Version) -> VersionInfo:
    return VersionInfo(
        version.id,
        version.project,
        version.num,
        version.title,
        version.description,
        version.content_hash,
        version.files,
        version.size,
        as_utc(version.created_at),
    )
