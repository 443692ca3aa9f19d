"""Versions of a project (a folder of images and annotations) by content hash.

info = versions.create("data/cars", title="after review")   # unchanged -> same version
info.report.summary()   # '120 files, 48000000 bytes: 120 copied (48000000 bytes)'
versions.create("data/big", storage="link")   # hard links: no second copy ("record": none)
versions.restore("data/cars", version_num=1, target="data/cars-v1")
versions.get_list("data/cars", filters={"title_contains": "review"})
versions.get_list("data/cars", filters=[{"field": "version", "operator": ">=", "value": 2}])
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from visionflow.lineage.blobs import (
    FileState,
    blob_path,
    copy_verified,
    file_sha256,
    put_file,
    record_file,
)
from visionflow.lineage.errors import DataLineageError, NotFoundError
from visionflow.lineage.records import find_version
from visionflow.lineage.schema import Version, VersionEntry, as_utc
from visionflow.lineage.store import Store, default_store
from visionflow.lineage.version_reports import StorageReport, log_created, unrestorable

STORAGE_VARIABLE = "VISIONFLOW_VERSION_STORAGE"
STORAGES = ("link", "copy", "record")
_log = logging.getLogger("visionflow.lineage")


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
    storage: str  # "link", "copy" or "record"
    # what the create call that returned it did (None from get_list); not part of equality
    report: StorageReport | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Restored:
    path: Path
    files: int
    skipped: list[str] = field(default_factory=list)  # every file left out: missing + changed
    missing: list[str] = field(default_factory=list)  # content found nowhere
    changed: list[str] = field(default_factory=list)  # found, but not with its hash
    from_project: int = 0  # record-only versions: files read back from the project folder


def project_key(project: str | os.PathLike) -> str:
    """A project's identity: its folder's absolute path (it may no longer exist)."""
    return str(Path(project).expanduser().resolve())


def create(
    project,
    title: str | None = None,
    description: str | None = None,
    *,
    storage: str | None = None,
    store: Store | None = None,
) -> VersionInfo:
    """Snapshot the folder; if its content equals the last version's, return that version.

    ``storage`` (default: VISIONFLOW_VERSION_STORAGE, else "copy") says how files are kept:
    "copy" keeps an independent copy (a copy-on-write clone where the filesystem has them,
    else bytes copied); "link" hard-links each file into the blob store where the filesystem
    allows (no second copy, but an edit in place changes the stored file too: found at
    restore), else clones or copies; "record" keeps only each file's path, size, mtime and
    hash. The returned info's ``report`` says how each file was kept and what it took.
    """
    store = store or default_store()
    storage = _storage(storage)
    folder = _folder(project, "versions.create")
    states = {path: _keep(store.blobs, folder / path, storage) for path in _files(folder)}
    content_hash = hash_of_contents({path: state.sha256 for path, state in states.items()})
    with store.transaction() as session:
        _one_create_at_a_time(session, str(folder))
        last = session.scalars(
            sa.select(Version).where(Version.project == str(folder)).order_by(Version.num.desc())
        ).first()
        edited = _edited_in_place(session, store.blobs, folder, last, states)
        unchanged = last is not None and last.content_hash == content_hash
        report = StorageReport.of(storage, states.values(), edited, unchanged)
        if unchanged:
            log_created(last, report)
            return _info(last, report)
        version = Version(
            project=str(folder),
            num=(last.num + 1) if last else 1,
            title=title,
            description=description,
            content_hash=content_hash,
            files=len(states),
            size=sum(state.size for state in states.values()),
            storage=storage,
        )
        session.add(version)
        session.flush()
        session.add_all(
            VersionEntry(
                version_id=version.id,
                path=path,
                sha256=state.sha256,
                size=state.size,
                mtime_ns=state.mtime_ns,
                stored=state.how,
            )
            for path, state in states.items()
        )
        log_created(version, report)
        return _info(version, report)


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

    Every file is checked against its hash. A record-only version's files are read back from
    the project folder where the blob store does not have them. A file that cannot be
    restored (missing, or changed since) is an error naming all of them; with
    ``skip_missed_entities=True`` the others are restored, a warning is logged and the
    result lists them (``skipped``, ``missing``, ``changed``).
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
    # a folder of its own, beside the target (one rename away): never one of the user's,
    # nor another restore's running at once; made as the target would be (the umask's mode)
    building = target.with_name(f".{target.name}.restoring-{uuid.uuid4().hex}")
    building.mkdir(parents=True)
    try:
        return _restore_into(building, target, store, version, entries, skip_missed_entities)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise


def _restore_into(building: Path, target: Path, store: Store, version, entries, skip) -> Restored:
    problems: list[tuple[VersionEntry, str]] = []
    from_project = 0
    for entry in entries:
        result = copy_verified(
            blob_path(store.blobs, entry.sha256), entry.sha256, building / entry.path
        )
        if result != "restored" and version.storage == "record":
            kept = Path(version.project) / entry.path
            again = copy_verified(kept, entry.sha256, building / entry.path)
            if again == "restored":
                from_project += 1
                continue
            result = "changed" if "changed" in (result, again) else "missing"
        if result != "restored":
            problems.append((entry, result))
    if problems:
        error = unrestorable(version, problems)
        if not skip:
            raise error
        left = len(entries) - len(problems)
        _log.warning("%s; the %d other files were restored into '%s'", error.message, left, target)
    if target.exists():
        target.rmdir()
    os.replace(building, target)  # the folder appears whole, never half restored
    return Restored(
        target,
        len(entries) - len(problems),
        sorted(entry.path for entry, _ in problems),
        [entry.path for entry, result in problems if result == "missing"],
        [entry.path for entry, result in problems if result == "changed"],
        from_project,
    )


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
    project,
    filters: dict[str, Any] | list[dict[str, Any]] | None = None,
    *,
    store: Store | None = None,
) -> list[VersionInfo]:
    """The project's versions, oldest first, that pass every filter given: named filters
    (``{"num_min": 2}``) or a list in Supervisely's form (``[{"field": "version",
    "operator": ">=", "value": 2}]``, ``supervisely_filters``)."""
    store = store or default_store()
    if isinstance(filters, list):
        from visionflow.lineage.supervisely_filters import conditions

        wanted = conditions(filters)
    else:
        unknown = sorted(set(filters or {}) - set(_FILTERS))
        if unknown:
            raise DataLineageError(
                f"unknown filter(s) {', '.join(map(repr, unknown))}",
                place="versions.get_list",
                hint=f"the filters are: {', '.join(_FILTERS)}",
            )
        wanted = [_FILTERS[name](value) for name, value in (filters or {}).items()]
    query = sa.select(Version).where(Version.project == project_key(project), *wanted)
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


def _storage(storage: str | None) -> str:
    place = "versions.create storage"
    if storage is None:
        # copies by default: a file rewritten in place (open(path, "w"), cv2.imwrite) would
        # change a hard-linked version with it
        storage, place = os.environ.get(STORAGE_VARIABLE) or "copy", STORAGE_VARIABLE
    if storage not in STORAGES:
        raise DataLineageError(
            f"unknown storage {storage!r}",
            place=place,
            hint="link (hard links where possible), copy (independent copies) or record "
            "(hashes and paths only)",
        )
    return storage


def _keep(blobs: Path, source: Path, storage: str) -> FileState:
    if storage == "record":
        return record_file(source)
    return put_file(blobs, source, link=storage == "link")


def _one_create_at_a_time(session, project: str) -> None:
    """Creates of one project wait for each other: each numbers its version from the last
    one, and would otherwise take the same number. SQLite's write lock (BEGIN IMMEDIATE)
    does that already; PostgreSQL gets a lock for the project, held to the commit."""
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(project.encode()).digest()[:8], "big", signed=True)
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


def _edited_in_place(session, blobs: Path, folder: Path, last: Version | None, states) -> list:
    """Files whose last version's blob is the file itself (a hard link) but whose content
    changed: edited in place, so that version's stored copy changed with it."""
    if last is None:
        return []
    before = session.execute(
        sa.select(VersionEntry.path, VersionEntry.sha256).where(VersionEntry.version_id == last.id)
    ).all()
    edited = []
    for path, sha in before:
        if path in states and states[path].sha256 != sha:
            blob = blob_path(blobs, sha)
            if blob.is_file() and os.path.samefile(blob, folder / path):
                edited.append(path)
    return edited


def _info(version: Version, report: StorageReport | None = None) -> VersionInfo:
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
        version.storage or "copy",  # made before storage was recorded: copied
        report,
    )
