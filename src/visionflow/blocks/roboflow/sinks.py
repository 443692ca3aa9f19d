"""Roboflow's sinks blocks (issue 12): the local file sink, which writes text content to
files on this machine.

Writing files is something a document from others must not do: the block is refused at
compile time unless the document is trusted (``allow_custom_code``), and where Roboflow's
switch ``ALLOW_WORKFLOW_BLOCKS_ACCESSING_LOCAL_STORAGE`` is False. It never writes outside
its ``target_directory`` (nor outside ``WORKFLOW_BLOCKS_WRITE_DIRECTORY`` when that is set),
and never overwrites a file.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import field_validator

from visionflow.blocks.api import Block, BlockManifest, Output, Selector
from visionflow.errors import FileWriteNotAllowedError, RuntimeInputError
from visionflow.selectors import looks_like_selector

STORAGE_SWITCH = "ALLOW_WORKFLOW_BLOCKS_ACCESSING_LOCAL_STORAGE"
WRITE_DIRECTORY = "WORKFLOW_BLOCKS_WRITE_DIRECTORY"
# Roboflow's messages, word for word: a workflow may branch on them
SAVED = "Data saved successfully"
INVALID_JSON = "Invalid JSON content"
CANNOT_CREATE = "Could not create new sink file"
CANNOT_APPEND = "Could not append content to append log"
_NAME_TRIES = 1000  # new stamps tried when a name is taken (the clock moves on meanwhile)


def _prefix_problem(prefix: str) -> str | None:
    """Why a file name prefix would leave the target directory (None: it stays inside).
    A prefix may name sub-folders (``logs/run``), as in Roboflow."""
    if os.path.isabs(prefix) or (os.name == "nt" and os.path.splitdrive(prefix)[0]):
        return "is an absolute path"
    if os.path.normpath(prefix).split(os.sep)[0] == os.pardir:
        return "leads out of target_directory with '..'"
    return None


# The naming and append-log rules the local file sink and the S3 sink share (Roboflow's)


def stamped_name(prefix: str, extension: str) -> str:
    """``<prefix>_<YYYY_MM_DD_HH_MM_SS_microseconds>.<extension>``, local time."""
    return f"{prefix}_{datetime.now().strftime('%Y_%m_%d_%H_%M_%S_%f')}.{extension}"


def log_extension(file_type: str) -> str:
    return "jsonl" if file_type == "json" else file_type  # an append log holds JSON lines


def with_newline(content: str) -> str:
    return content if content.endswith("\n") else content + "\n"


def log_entry(content: str, file_type: str, continued: bool) -> str | None:
    """The text an append log takes for ``content`` (None: JSON that does not parse):
    JSON as one line, a CSV entry without its header line when ``continued`` (the log has
    it already), ending in a newline."""
    if file_type == "json":
        try:
            content = json.dumps(json.loads(content))
        except (ValueError, RecursionError):  # RecursionError: nested too deep
            return None
    elif file_type == "csv" and continued:
        content = "\n".join(content.split("\n")[1:])
    return with_newline(content)


def at_least_one_entry(cls: type, value: Any) -> Any:
    """The manifests' check of a literal ``max_entries_per_file``."""
    if isinstance(value, int) and value < 1:
        raise ValueError("max_entries_per_file must be at least 1")
    return value


class LocalFileSink(Block):
    """Saves ``content`` (text: CSV, JSON or plain) as files under ``target_directory``,
    named ``<file_name_prefix>_<YYYY_MM_DD_HH_MM_SS_microseconds>.<file_type>``.

    ``separate_files``: one file per element, the content as given (ending in a newline).
    ``append_log``: elements and runs are appended to one file per step until it holds
    ``max_entries_per_file`` entries, then a new file starts; a CSV entry loses its header
    line when appended to a file already started, and JSON is written one document a line
    (``.jsonl``). Outputs ``error_status`` and ``message``, as Roboflow's block: a file that
    cannot be written is ``error_status`` True, not a failed run. Only for trusted documents
    (``allow_custom_code``).
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/local_file_sink@v1"]
        content: Selector(["string"])  # type: ignore[valid-type]
        file_type: Literal["csv", "json", "txt"] = "csv"
        output_mode: Literal["append_log", "separate_files"]
        target_directory: Selector(["string"]) | str  # type: ignore[valid-type]
        file_name_prefix: Selector(["string"]) | str = "workflow_output"  # type: ignore[valid-type]
        max_entries_per_file: int | Selector(["integer", "string"]) = 1024  # type: ignore[valid-type]

        _at_least_one = field_validator("max_entries_per_file")(at_least_one_entry)

        @field_validator("file_name_prefix")
        @classmethod
        def _prefix_inside(cls, value: str) -> str:
            if not looks_like_selector(value) and (problem := _prefix_problem(value)):
                raise ValueError(f"file_name_prefix {value!r} {problem}")
            return value

    outputs = [Output("error_status", kinds=["boolean"]), Output("message", kinds=["string"])]
    init_parameters = ["allow_custom_code"]
    allow_custom_code: bool = False

    def __init__(self, **init_parameters: Any):
        super().__init__(**init_parameters)
        # the append log of this step instance (Roboflow keeps it per block instance too):
        # runs may be concurrent, so it is changed under a lock
        self._lock = threading.Lock()
        self._log_path: str | None = None
        self._entries = 0

    def setup(self, manifest: BlockManifest) -> None:
        _check_write_access(self.allow_custom_code)
        if not looks_like_selector(manifest.target_directory):
            _check_allowed_directory(manifest.target_directory)

    def run(
        self,
        content: str,
        file_type: str,
        output_mode: str,
        target_directory: str,
        file_name_prefix: str,
        max_entries_per_file: int | str,
    ) -> dict[str, Any]:
        _check_write_access(self.allow_custom_code)  # the switch may change after compile
        _check_run_values(content, target_directory, file_name_prefix)
        _check_allowed_directory(target_directory)
        if output_mode == "separate_files":
            return _save_separate(content, file_type, target_directory, file_name_prefix)
        limit = entries_limit(max_entries_per_file)
        with self._lock:
            return self._append(content, file_type, target_directory, file_name_prefix, limit)

    def _append(
        self, content: str, file_type: str, directory: str, prefix: str, limit: int
    ) -> dict[str, Any]:
        starts = self._log_path is None or self._entries >= limit
        entry = log_entry(content, file_type, continued=not starts)
        if entry is None:
            return _result(INVALID_JSON)
        if starts:
            try:
                path = _create(lambda: _new_path(directory, prefix, log_extension(file_type)), "")
            except OSError:
                return _result(CANNOT_CREATE)
            self._log_path, self._entries = path, 0
        try:
            _write(self._log_path, entry, os.O_APPEND)
        except OSError:
            return _result(CANNOT_APPEND)
        self._entries += 1
        return _result(None)


def _save_separate(content: str, file_type: str, directory: str, prefix: str) -> dict:
    try:
        _create(lambda: _new_path(directory, prefix, file_type), with_newline(content))
    except OSError as error:
        return _result(str(error))
    return _result(None)


def _new_path(directory: str, prefix: str, extension: str) -> str:
    """The absolute path of a new file, checked to be inside ``directory`` with links
    followed (a linked sub-folder may not lead out)."""
    path = os.path.abspath(os.path.join(directory, stamped_name(prefix, extension)))
    _check_inside(path, directory, "target_directory")
    return path


def _create(new_path: Callable[[], str], text: str) -> str:
    """Writes a new file and gives its path; never a file that exists: at the same
    microsecond as another file, a later one is named (Roboflow would overwrite it)."""
    for _ in range(_NAME_TRIES):
        path = new_path()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            _write(path, text, os.O_CREAT | os.O_EXCL)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free file name after {_NAME_TRIES} tries: {path}")


def _write(path: str, text: str, flags: int) -> None:
    # O_NOFOLLOW: a link put in place of the file may not redirect the write
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(path, os.O_WRONLY | flags | nofollow, 0o644)
    with open(descriptor, "w", encoding="utf-8", newline="") as file:
        file.write(text)


def _result(error: str | None) -> dict[str, Any]:
    return {"error_status": error is not None, "message": error or SAVED}


def entries_limit(value: int | str) -> int:
    try:
        limit = int(value)
    except (TypeError, ValueError):
        limit = 0
    if isinstance(value, bool) or limit < 1:
        raise RuntimeInputError(
            f"max_entries_per_file is {value!r}; it must be a whole number of at least 1",
            place="field 'max_entries_per_file'",
            hint="give max_entries_per_file a number such as 1024",
        )
    return limit


def check_texts(**values: Any) -> None:
    """A run's values that must be texts (a step output may give anything)."""
    for name, value in values.items():
        if not isinstance(value, str):
            raise RuntimeInputError(
                f"{name} is a {type(value).__name__}; it must be a text",
                place=f"field '{name}'",
                hint=f"give {name} a string",
            )


def _check_run_values(content: Any, directory: Any, prefix: Any) -> None:
    check_texts(content=content, target_directory=directory, file_name_prefix=prefix)
    if problem := _prefix_problem(prefix):
        raise FileWriteNotAllowedError(
            f"file_name_prefix {prefix!r} {problem}",
            place="field 'file_name_prefix'",
            hint="a prefix names a file (or sub-folders) inside target_directory",
        )


def _check_inside(path: str, directory: str, name: str) -> None:
    real_path, real_directory = os.path.realpath(path), os.path.realpath(directory)
    if os.path.commonpath([real_path, real_directory]) != real_directory:
        raise FileWriteNotAllowedError(
            f"{path!r} is not inside {name} {directory!r}",
            place=f"field '{name}'",
            hint="files are written only inside the target directory",
        )


def _check_allowed_directory(directory: str) -> None:
    allowed = os.environ.get(WRITE_DIRECTORY)
    if allowed:  # Roboflow's switch restricting every sink to one folder
        try:
            _check_inside(directory, allowed, WRITE_DIRECTORY)
        except FileWriteNotAllowedError as error:
            raise error.at("field 'target_directory'", within=False) from None


def _check_write_access(trusted: bool) -> None:
    switched_off = os.environ.get(STORAGE_SWITCH, "True").strip().lower() in ("false", "0")
    if trusted and not switched_off:
        return
    why = f"{STORAGE_SWITCH} is False here"
    if not trusted:
        why = "this document is not trusted (allow_custom_code is off)"
    raise FileWriteNotAllowedError(
        f"writing files on this machine is not allowed: {why}",
        hint="compile the workflow with allow_custom_code=True on a machine you trust",
    )


# Roboflow's stateful flow control (rate limiter, delta filter) is listed here for now:
# blocks/roboflow/__init__.py loads these lists (flow.py may get its own entry there)
BLOCKS: list[type[Block]] = [LocalFileSink]
