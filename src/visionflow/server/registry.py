"""Registered workflows: files on disk, versioned, picked up when they change.

Layout: ``<dir>/<name>/<version>.yaml`` (or ``.json``; ``<version>.<dialect>.yaml`` when
the dialect was given). The newest version is the highest number. The folder is read on
every access, so a file changed or added by hand is used by the next request, without a
restart. Compiled workflows are kept per file and its (mtime, size): a request holds the
``Workflow`` it started with, so a change never reaches a run in flight.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from visionflow.client import WORKFLOW_NAME  # the client checks names the same way
from visionflow.dialects import load_document
from visionflow.errors import WorkflowError
from visionflow.server.errors import NotFoundError, RequestError, WorkflowExistsError
from visionflow.workflow import Workflow

_FILE = re.compile(r"(?P<version>[0-9]+)(\.(?P<dialect>[a-z_]+))?\.(?P<ext>yaml|yml|json)")

Compile = Callable[[Any, str | None], Workflow]


@dataclass(frozen=True)
class StoredVersion:
    name: str
    version: int
    path: Path
    dialect: str | None

    def summary(self) -> dict[str, Any]:
        stat = self.path.stat()
        return {
            "name": self.name,
            "version": self.version,
            "dialect": self.dialect,
            "file": self.path.name,
            "modified": stat.st_mtime,
        }


class WorkflowStore:
    """The workflows in one folder; ``compile(document, dialect)`` checks what is stored."""

    def __init__(self, root: Path, compile: Compile):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._compile = compile
        self._lock = threading.Lock()  # writers: version numbers are taken one at a time
        self._compiled: dict[Path, tuple[tuple[int, int], Workflow]] = {}

    def names(self) -> list[str]:
        return sorted(
            entry.name
            for entry in os.scandir(self.root)
            if entry.is_dir() and WORKFLOW_NAME.fullmatch(entry.name) and self._scan(entry.name)
        )

    def versions(self, name: str) -> list[StoredVersion]:
        found = self._scan(_checked(name))
        if not found:
            raise NotFoundError(
                f"no workflow is registered as '{name}'",
                place=f"workflows '{name}'",
                hint="GET /workflows lists the registered names",
            )
        return found

    def version(self, name: str, version: int | None = None) -> StoredVersion:
        found = self.versions(name)
        if version is None:
            return found[-1]
        for stored in found:
            if stored.version == version:
                return stored
        raise NotFoundError(
            f"workflow '{name}' has no version {version}",
            place=f"workflows '{name}'",
            hint=f"its versions are {', '.join(str(s.version) for s in found)}",
        )

    def document(self, stored: StoredVersion) -> dict[str, Any]:
        try:
            return load_document(stored.path)
        except WorkflowError as error:  # a file broken by hand: named inside the folder only
            relative = stored.path.relative_to(self.root).as_posix()
            error.message = error.message.replace(str(stored.path), relative)  # no server path
            place = (error.place or "").replace(str(stored.path), relative) or relative
            raise error.at(place, within=False) from None

    def workflow(self, name: str, version: int | None = None) -> tuple[StoredVersion, Workflow]:
        """The compiled version (newest by default), recompiled when its file changed."""
        stored = self.version(name, version)
        try:
            stat = stored.path.stat()
        except FileNotFoundError:  # deleted since the folder was read
            return self.workflow(name, version)
        key = (stat.st_mtime_ns, stat.st_size)
        cached = self._compiled.get(stored.path)
        if cached is not None and cached[0] == key:
            return stored, cached[1]
        workflow = self._compile(self.document(stored), stored.dialect)
        self._compiled[stored.path] = (key, workflow)
        return stored, workflow

    def register(self, name: str, document: Any, dialect: str | None) -> StoredVersion:
        """A new workflow, version 1; compiled first, so a wrong document is never stored."""
        self._compile(document, dialect)
        with self._lock:
            if self._scan(_checked(name)):
                raise WorkflowExistsError(
                    f"a workflow is already registered as '{name}'",
                    place=f"workflows '{name}'",
                    hint=f"POST /workflows/{name}/versions adds a version",
                )
            return self._write(name, 1, document, dialect)

    def add_version(self, name: str, document: Any, dialect: str | None) -> StoredVersion:
        self._compile(document, dialect)
        with self._lock:
            latest = self.version(name)
            return self._write(name, latest.version + 1, document, dialect)

    def delete(self, name: str) -> list[StoredVersion]:
        with self._lock:
            found = self.versions(name)
            for stored in found:
                stored.path.unlink(missing_ok=True)
                self._compiled.pop(stored.path, None)
            with contextlib.suppress(OSError):  # other files of the operator's: keep the folder
                (self.root / name).rmdir()
            return found

    def _scan(self, name: str) -> list[StoredVersion]:
        folder = self.root / name
        if not folder.is_dir():
            return []
        found = []
        for entry in os.scandir(folder):
            match = _FILE.fullmatch(entry.name)
            if match and entry.is_file():
                found.append(
                    StoredVersion(name, int(match["version"]), Path(entry.path), match["dialect"])
                )
        return sorted(found, key=lambda stored: stored.version)

    def _write(self, name: str, version: int, document: Any, dialect: str | None) -> StoredVersion:
        if dialect is not None and not re.fullmatch(r"[a-z_]+", dialect):
            raise RequestError(f"'{dialect}' is not a dialect name", place="dialect")
        folder = self.root / name
        folder.mkdir(exist_ok=True)
        text = document if isinstance(document, str) else json.dumps(document, indent=2)
        suffix = ".yaml" if isinstance(document, str) else ".json"
        path = folder / f"{version}{f'.{dialect}' if dialect else ''}{suffix}"
        temporary = folder / f".{path.name}.writing"
        temporary.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        os.replace(temporary, path)  # readers see the whole file or none of it
        return StoredVersion(name, version, path, dialect)


def _checked(name: str) -> str:
    if not WORKFLOW_NAME.fullmatch(name):
        raise RequestError(
            f"'{name}' is not a valid workflow name",
            place="name",
            hint="use letters, digits, '_', '-' and '.', starting with a letter or digit",
        )
    return name
