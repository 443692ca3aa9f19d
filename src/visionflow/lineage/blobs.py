"""A content-addressed folder of file contents: ``blobs/ab/abcdef...`` by SHA-256."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

CHUNK = 1 << 20


def blob_path(blobs: Path, sha256: str) -> Path:
    return blobs / sha256[:2] / sha256


def put_file(blobs: Path, source: Path) -> tuple[str, int]:
    """Copy ``source`` into the store (once per content); its SHA-256 and size."""
    blobs.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    # hash while copying: one read of the file; the copy is renamed into place only when
    # complete, so a crash never leaves a blob with the wrong content under its name
    handle, temporary = tempfile.mkstemp(dir=blobs, prefix=".incoming-")
    try:
        with os.fdopen(handle, "wb") as out, source.open("rb") as data:
            while chunk := data.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
        target = blob_path(blobs, digest.hexdigest())
        if target.exists():
            os.unlink(temporary)
        else:
            target.parent.mkdir(exist_ok=True)
            os.replace(temporary, target)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return digest.hexdigest(), size


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while chunk := data.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def copy_out(blobs: Path, sha256: str, target: Path) -> bool:
    """Write the blob to ``target``; False if it is missing or its content is not intact."""
    source = blob_path(blobs, sha256)
    if not source.is_file():
        return False
    digest = hashlib.sha256()
    target.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as data, target.open("wb") as out:
        while chunk := data.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != sha256:
        target.unlink()
        return False
    return True
