"""Models named by URL, as DJL documents name them: ``file://`` and ``http(s)://``.

A URL names a model file, a model description (``.yaml``/``.json`` with ``path``, as in a
``VISIONFLOW_MODELS`` folder), a folder, or an archive (``.zip``, ``.mar`` — a zip —,
``.tar.gz``/``.tgz``, ``.tar``). An archive is unpacked once into the model cache, in a
folder named by the hash of its bytes, and no member may land outside that folder. A
folder (or unpacked archive) must hold exactly one model description (a YAML/JSON mapping
with ``path``), or else exactly one model file (``.onnx``, ``.tflite``), anywhere inside it
(``MAR-INF/`` aside).

``http(s)://`` is read only where the operator allowed model downloads for the process
(``allow_model_downloads()``, or ``VISIONFLOW_ALLOW_MODEL_DOWNLOADS=1``); a download is
kept in the cache under the hash of its bytes. DJL's own zoo (``djl://``) and its
criteria objects have no counterpart here: ``zoo_reference`` says so, so that the
document is told how to map the name to a local model.

The cache is ``VISIONFLOW_MODEL_CACHE``, else ``$VISIONFLOW_HOME/model-cache`` (by default
``~/.visionflow/model-cache``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from visionflow.errors import CustomCodeNotAllowedError, ModelDownloadsOffError, ModelError

SCHEMES = ("file", "http", "https")
ARCHIVES = (".zip", ".mar", ".tar.gz", ".tgz", ".tar")
MODEL_FILES = (".onnx", ".tflite")
DESCRIPTIONS = (".yaml", ".yml", ".json")
DOWNLOADS_VARIABLE = "VISIONFLOW_ALLOW_MODEL_DOWNLOADS"
MAX_DOWNLOAD_BYTES = 2 * 1024**3
MAX_UNPACKED_BYTES = 8 * 1024**3  # an archive that unpacks to more is refused (a zip bomb)
MAX_MEMBERS = 20_000  # and one of more files (each an inode, though empty)
_downloads_allowed: bool | None = None  # None: the environment decides
_unpacking = threading.Lock()


@dataclass(frozen=True)
class ResolvedModel:
    """What a URL names, as a ``models:`` entry: spec fields and the local model file."""

    path: Path
    fields: dict[str, Any]

    def entry(self, given: dict[str, Any]) -> dict[str, Any]:
        """The entry's own fields over the description's, its source the local file."""
        return {**self.fields, **given, "source": str(self.path)}


def is_model_url(source: Any) -> bool:
    """Whether a ``models:`` source is written as a URL (``scheme://...``)."""
    return isinstance(source, str) and "://" in source


def zoo_reference(entry: Any) -> str | None:
    """What a DJL model zoo entry is (a ``djl://`` URL or a criteria object), or None."""
    if isinstance(entry, str) and entry.startswith("djl://"):
        return f"a DJL model zoo URL ({entry})"
    if isinstance(entry, dict) and "source" not in entry and "file" not in entry:
        criteria = sorted({"application", "engine", "groupId", "artifactId"} & set(entry))
        if criteria:
            return f"a DJL criteria object ({', '.join(criteria)})"
    return None


def check_url(url: str, place: str) -> None:
    """A compile error for a URL whose scheme no model can be read from."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in SCHEMES:
        raise ModelError(
            f"a model cannot be read from a '{scheme}://' URL",
            place=place,
            hint="write file:///path/to/model (a file, folder or archive) or http(s)://...",
        )


def allow_model_downloads(allowed: bool | None = True) -> None:
    """Let ``http(s)://`` models be downloaded in this process (None: as the environment
    variable says). The operator's choice: documents from others never download."""
    global _downloads_allowed
    _downloads_allowed = allowed


def downloads_allowed() -> bool:
    if _downloads_allowed is not None:
        return _downloads_allowed
    return os.environ.get(DOWNLOADS_VARIABLE, "").strip().lower() in ("1", "true", "yes")


def cache_folder() -> Path:
    given = os.environ.get("VISIONFLOW_MODEL_CACHE")
    if given:
        return Path(given).expanduser()
    home = os.environ.get("VISIONFLOW_HOME") or Path.home() / ".visionflow"
    return Path(home).expanduser() / "model-cache"


def fields_hint(url: str) -> str:
    """Where a URL model's fields come from, for a field that is missing or wrong."""
    return (
        f"its fields are the entry's and those of the model description in '{url}'; for a bare "
        "model file write them in the entry, {source: URL, task: ...} (`visionflow models` "
        "lists the fields of a model)"
    )


def resolve_model_url(url: str, *, trusted: bool, place: str) -> ResolvedModel:
    """The local model a URL names: downloaded and unpacked into the cache as needed.

    ``trusted``: whether the document may name files and URLs (custom code allowed);
    a document from others is refused before anything is read.
    """
    check_url(url, place)
    if not trusted:
        raise CustomCodeNotAllowedError(
            f"the model URL '{url}' names a file or download, and documents from others may "
            "not name either here",
            place=place,
            hint="use a zoo id (`visionflow models`), or a model the operator installed",
        )
    parts = urlsplit(url)
    if parts.scheme.lower() == "file":
        if parts.netloc not in ("", "localhost"):
            raise ModelError(
                f"'{url}' names another host's file: '{parts.netloc}' is read as a host name",
                place=place,
                hint="a local file is file:// and its absolute path, three slashes in all: "
                f"file:///{parts.netloc}{parts.path} names /{parts.netloc}{parts.path}",
            )
        return _resolve_path(Path(unquote(parts.path)), url, place)
    if not downloads_allowed():
        raise ModelDownloadsOffError(
            f"the model URL '{url}' would be downloaded, and model downloads are off",
            place=place,
            hint=f"the operator allows them with {DOWNLOADS_VARIABLE}=1 (or "
            "visionflow.models.urls.allow_model_downloads()); or download the file and name "
            "it with file://",
        )
    return _resolve_path(_download(url, place), url, place)


def _resolve_path(path: Path, url: str, place: str) -> ResolvedModel:
    if path.is_dir():
        return _in_folder(path, url, place)
    if not path.is_file():
        raise ModelError(
            f"'{url}' names nothing: no file or folder {path}",
            place=place,
            hint="a file:// URL holds an absolute path; Path(...).resolve().as_uri() writes one",
        )
    name = path.name.lower()
    if name.endswith(ARCHIVES):
        return _in_folder(_unpacked(path, url, place), url, place)
    if name.endswith(DESCRIPTIONS):
        return _described(path, url, place)
    return ResolvedModel(path.resolve(), {})


def _in_folder(folder: Path, url: str, place: str) -> ResolvedModel:
    """The one description in the folder's tree, else its one model file."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and "MAR-INF" not in p.parts)
    descriptions = [p for p in files if _is_description(p)]
    models = [p for p in files if p.name.lower().endswith(MODEL_FILES)]
    found = descriptions or models
    if len(found) == 1:
        return _resolve_path(found[0], url, place)
    listed = ", ".join(str(p.relative_to(folder)) for p in found[:5]) or "none"
    raise ModelError(
        f"'{url}' holds {len(found)} {'descriptions' if descriptions else 'model files'} "
        f"({listed}); a model folder or archive holds one model",
        place=place,
        hint="put one model description (.yaml/.json with path:) or one .onnx/.tflite file in it",
    )


def _is_description(path: Path) -> bool:
    """A YAML/JSON mapping with a ``path``: other such files of an archive (a label map, a
    TorchServe manifest) are not descriptions."""
    if not path.name.lower().endswith(DESCRIPTIONS) or path.stat().st_size > 1 << 20:
        return False
    import yaml

    try:
        fields = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(fields, dict) and isinstance(fields.get("path"), str)


def _described(path: Path, url: str, place: str) -> ResolvedModel:
    import yaml

    try:
        fields = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ModelError(
            f"the model description in '{url}' cannot be read: {type(error).__name__}",
            place=place,
        ) from None
    if not isinstance(fields, dict) or not isinstance(fields.get("path"), str):
        raise ModelError(
            f"the model description '{path.name}' in '{url}' has no 'path' (its model file)",
            place=place,
        )
    model = (path.parent / fields.pop("path")).resolve()
    if not model.is_relative_to(path.parent.resolve()) or not model.is_file():
        raise ModelError(
            f"the model description '{path.name}' in '{url}' names no file beside it",
            place=place,
        )
    # `visionflow models ID --json` adds "file" (where the zoo keeps it): here `path` says
    for name in ("id", "package", "install", "file"):
        fields.pop(name, None)
    return ResolvedModel(model, fields)


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _unpacked(archive: Path, url: str, place: str) -> Path:
    """The archive's folder in the cache, unpacked once (keyed by the archive's bytes)."""
    target = cache_folder() / "unpacked" / _digest(archive)[:32]
    with _unpacking:
        if target.is_dir():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".unpacking-"))
        try:
            _unpack(archive, staging, url, place)
            try:
                staging.rename(target)  # whole or not at all: a half unpacked folder never shows
            except OSError:
                if not target.is_dir():  # else another process unpacked the same bytes first
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _unpack(archive: Path, into: Path, url: str, place: str) -> None:
    import tarfile  # here: checking a document (validate) imports this module, unpacks nothing

    try:
        if archive.name.lower().endswith((".zip", ".mar")):
            with zipfile.ZipFile(archive) as bundle:
                members = [(m.filename, m.file_size, _zip_link(m)) for m in bundle.infolist()]
                _check_members(members, url, place)
                bundle.extractall(into)
        else:
            with tarfile.open(archive) as bundle:
                links = {m.name for m in bundle.getmembers() if not (m.isfile() or m.isdir())}
                members = [(m.name, m.size, m.name in links) for m in bundle.getmembers()]
                _check_members(members, url, place)
                # the data filter as well where there is one (Python 3.11.4 and later);
                # the members are already checked, so older ones unpack the same files
                safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                bundle.extractall(into, **safe)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as error:
        raise ModelError(
            f"'{url}' is not a readable archive: {error}",
            place=place,
            hint="a model archive is a .zip, .mar, .tar.gz, .tgz or .tar file",
        ) from None


def _zip_link(member: zipfile.ZipInfo) -> bool:
    return (member.external_attr >> 16) & 0o170000 == 0o120000  # a symbolic link's mode


def _check_members(members: list[tuple[str, int, bool]], url: str, place: str) -> None:
    """Refuse the whole archive before anything is written: a member outside its folder
    (absolute, ``..``), a link, or more bytes than any model needs."""
    if len(members) > MAX_MEMBERS:
        raise ModelError(
            f"'{url}' holds {len(members):,} members, more than {MAX_MEMBERS:,}", place=place
        )
    total = 0
    for name, size, link in members:
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if link or name.startswith(("/", "\\")) or ".." in parts or ":" in name:
            raise ModelError(
                f"'{url}' holds the member '{name}', which would be written outside its "
                "folder (or is a link); the archive is refused",
                place=place,
            )
        total += size
    if total > MAX_UNPACKED_BYTES:
        raise ModelError(
            f"'{url}' unpacks to {total:,} bytes, more than {MAX_UNPACKED_BYTES:,}", place=place
        )


def _download(url: str, place: str) -> Path:
    """The URL's bytes in the cache, under their hash (the URL's file name kept)."""
    # here, not at the top: urllib.request imports http.client and ssl (~0.1 s)
    import urllib.error
    import urllib.request

    folder = cache_folder() / "downloads"
    folder.mkdir(parents=True, exist_ok=True)
    name = PurePosixPath(unquote(urlsplit(url).path)).name
    name = name if name not in ("", ".", "..") and "\\" not in name else "model"
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=".downloading-")) / name
    try:
        digest, size = hashlib.sha256(), 0
        with urllib.request.urlopen(url, timeout=60) as answer, staging.open("wb") as file:
            for block in iter(lambda: answer.read(1 << 20), b""):
                size += len(block)
                if size > MAX_DOWNLOAD_BYTES:
                    raise ModelError(
                        f"'{url}' is larger than {MAX_DOWNLOAD_BYTES:,} bytes", place=place
                    )
                digest.update(block)
                file.write(block)
        target = folder / digest.hexdigest()[:32] / name
        target.parent.mkdir(exist_ok=True)
        os.replace(staging, target)
        return target
    except (urllib.error.URLError, OSError) as error:
        raise ModelError(
            f"the model at '{url}' cannot be downloaded: {error}", place=place
        ) from None
    finally:
        shutil.rmtree(staging.parent, ignore_errors=True)
