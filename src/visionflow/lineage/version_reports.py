"""What version calls say: how ``create`` kept the files (a report and a log line), and
the one error naming every file that ``restore`` cannot bring back, and why."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from visionflow.lineage.blobs import COPIED, HOW, FileState
from visionflow.lineage.errors import ChangedContentError, DataLineageError, NotFoundError
from visionflow.lineage.schema import Version, VersionEntry

_LISTED = 20  # problems named in a restore error; the rest are counted
_log = logging.getLogger("visionflow.lineage")


@dataclass(frozen=True)
class StorageReport:
    """How one ``create`` call kept the project's files: files and bytes by ``blobs.HOW``
    (linked, cloned, copied, already_stored, recorded)."""

    storage: str
    files: dict[str, int]
    bytes: dict[str, int]
    # files the last version hard-linked that were since edited in place (it lost them)
    edited_in_place: tuple[str, ...] = ()
    unchanged: bool = False  # the content was the last version's: that version came back

    @classmethod
    def of(
        cls, storage: str, states: Iterable[FileState], edited=(), unchanged: bool = False
    ) -> StorageReport:
        files, size = dict.fromkeys(HOW, 0), dict.fromkeys(HOW, 0)
        for state in states:
            files[state.how] += 1
            size[state.how] += state.size
        return cls(storage, files, size, tuple(edited), unchanged)

    @property
    def new_bytes(self) -> int:
        """Bytes written into the blob store (clones and links take no new space)."""
        return self.bytes[COPIED]

    def summary(self) -> str:
        """``3 files, 1200 bytes: 2 linked (800 bytes), 1 copied (400 bytes)``."""
        parts = [
            f"{self.files[how]} {how.replace('_', ' ')} ({self.bytes[how]} bytes)"
            for how in HOW
            if self.files[how]
        ]
        files, size = sum(self.files.values()), sum(self.bytes.values())
        counted = f"{files} file{'' if files == 1 else 's'}, {size} bytes"
        return counted + (": " + ", ".join(parts) if parts else "")


def log_created(version: Version, report: StorageReport) -> None:
    _log.info(
        "version %d of '%s' (%s%s): %s",
        version.num,
        version.project,
        "unchanged, " if report.unchanged else "",
        report.storage,
        report.summary(),
    )
    if report.edited_in_place:
        _log.warning(
            "'%s' hard-linked %s into the blob store, and %s since edited in place: the "
            "versions that hold the old content cannot restore it (storage='copy' keeps "
            "files that are edited in place)",
            version.project,
            ", ".join(map(repr, report.edited_in_place)),
            "they were" if len(report.edited_in_place) > 1 else "it was",
        )


def unrestorable(version: Version, problems: list[tuple[VersionEntry, str]]) -> DataLineageError:
    """One error naming every file of the version that cannot be restored, and why."""
    record, linked = version.storage == "record", version.storage == "link"

    def why(result: str) -> str:
        if result == "missing":
            if record:
                return "is in neither the blob store nor the project folder"
            return "is missing from the blob store"
        if record:
            return "is not in the blob store, and the project's file has changed since"
        if linked:
            return "has changed in the blob store (a hard link: its file was edited in place)"
        return "has changed in the blob store"

    if len(problems) == 1:
        [(entry, result)] = problems
        message = (
            f"the content of '{entry.path}' (sha256 {entry.sha256[:12]}...) of version "
            f"{version.num} {why(result)}"
        )
    else:
        named = "; ".join(f"'{entry.path}' {why(result)}" for entry, result in problems[:_LISTED])
        more = f"; and {len(problems) - _LISTED} more" if len(problems) > _LISTED else ""
        message = (
            f"{len(problems)} files of version {version.num} cannot be restored: {named}{more}"
        )
    hint = "pass skip_missed_entities=True to restore the other files"
    changed = any(result == "changed" for _, result in problems)
    if changed and linked:
        hint += "; create versions with storage='copy' for files that are edited in place"
    error = ChangedContentError if changed else NotFoundError
    return error(message, place="versions.restore", hint=hint)
