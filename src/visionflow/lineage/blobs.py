"""A content-addressed folder of file contents: ``blobs/ab/abcdef...`` by SHA-256.

A file enters it the cheapest way the filesystem allows (``put_file``): **linked** (a hard
link: no bytes written, but the blob *is* the user's file, so an edit in place changes it),
**cloned** (a copy-on-write clone, Linux FICLONE on Btrfs, XFS...: no bytes written until
one side changes) or **copied**. Every read back (``copy_verified``) checks the hash. A
private blob (cloned or copied) has the mtime 0, so that a later version trusts it without
reading it; any other blob already there is hashed again before it is taken as stored.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from visionflow.lineage.errors import DataLineageError

CHUNK = 1 << 20

# how a file's content came to be kept (a version entry's ``stored``)
LINKED, CLONED, COPIED, ALREADY_STORED, RECORDED = (
    "linked",
    "cloned",
    "copied",
    "already_stored",
    "recorded",
)
HOW = (LINKED, CLONED, COPIED, ALREADY_STORED, RECORDED)

# the mtime of a blob that is a private copy (cloned or copied, never linked): the epoch
PRIVATE_MTIME_NS = 0
# _IOW(0x94, 9, int) from linux/fs.h: clone a whole file (reflink)
_FICLONE = 0x40049409 if sys.platform.startswith("linux") else None


@dataclass(frozen=True)
class FileState:
    """What a version records of one file, and how its content was kept."""

    sha256: str
    size: int
    mtime_ns: int
    how: str


def blob_path(blobs: Path, sha256: str) -> Path:
    return blobs / sha256[:2] / sha256


def record_file(source: Path) -> FileState:
    """Hash the file and keep nothing: a record-only version."""
    before = source.stat()
    return FileState(file_sha256(source), before.st_size, before.st_mtime_ns, RECORDED)


def put_file(blobs: Path, source: Path, *, link: bool = True) -> FileState:
    """Keep ``source``'s content in the store once: already there, else linked (when
    ``link``), cloned or copied, the first the filesystem allows."""
    before = source.stat()  # of the file a symlink points to, as the hash reads it
    sha = file_sha256(source)
    target = blob_path(blobs, sha)
    if target.is_file() and _intact(target, sha, before):
        how = ALREADY_STORED
    else:
        how = _store(source, target, sha, before, link)
    return FileState(sha, before.st_size, before.st_mtime_ns, how)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while chunk := data.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def copy_verified(source: Path, sha256: str, target: Path) -> str:
    """Write ``source`` to ``target`` (a clone where possible) if its content still hashes
    to ``sha256``: "restored"; else "changed" (nothing left at ``target``) or "missing"."""
    if not source.is_file():
        return "missing"
    target.parent.mkdir(parents=True, exist_ok=True)
    if _clone(source, target):
        intact = file_sha256(target) == sha256  # the clone is what was read: check it
    else:
        intact = _copy_hashing(source, target) == sha256
    if not intact:
        target.unlink()
        return "changed"
    return "restored"


def _intact(blob: Path, sha256: str, source: os.stat_result) -> bool:
    found = blob.stat()
    if (found.st_dev, found.st_ino) == (source.st_dev, source.st_ino):
        return True  # the blob is the very file just hashed
    if found.st_nlink == 1 and found.st_mtime_ns == PRIVATE_MTIME_NS:
        return True  # a private copy: no other name can have changed it; checked on restore
    # hard-linked to some other file (or it was, and that file is gone) that may have been
    # edited in place: look; an intact blob with no other name is private from now on
    intact = file_sha256(blob) == sha256
    if intact and found.st_nlink == 1:
        _mark_private(blob)
    return intact


def _mark_private(blob: Path) -> None:
    # the mtime says "a private copy": a hard link shares its file's mtime, which an edit
    # in place changes, so no linked blob has this one
    with contextlib.suppress(OSError):  # a store this user may not change: hashed each time
        os.utime(blob, ns=(blob.stat().st_atime_ns, PRIVATE_MTIME_NS))


def _store(source: Path, target: Path, sha256: str, before: os.stat_result, link: bool) -> str:
    target.parent.mkdir(parents=True, exist_ok=True)
    # built under a temporary name and renamed into place: a blob is never half written,
    # and a damaged one (a linked file edited in place) is replaced whole
    temporary = target.parent / f".incoming-{uuid.uuid4().hex}"
    try:
        if link and _link(source, temporary):
            how, intact = LINKED, _unchanged(source, before)
        elif _clone(source, temporary):
            how, intact = CLONED, file_sha256(temporary) == sha256
        else:
            how, intact = COPIED, _copy_hashing(source, temporary) == sha256
        if not intact:
            raise DataLineageError(
                f"'{source}' changed while it was being versioned",
                place="versions.create",
                hint="create the version again when nothing is writing to the folder",
            )
        if how != LINKED:
            _mark_private(temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return how


def _unchanged(source: Path, before: os.stat_result) -> bool:
    now = source.stat()
    return (now.st_size, now.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def _link(source: Path, target: Path) -> bool:
    try:
        # the file a symlink points to: link(2) on Linux would link the symlink itself
        os.link(os.path.realpath(source), target)
    except OSError:  # another filesystem (EXDEV), not allowed (EPERM), too many links...
        return False
    return True


def _clone(source: Path, target: Path) -> bool:
    if _FICLONE is None:
        return False
    import fcntl

    with source.open("rb") as data, target.open("xb") as out:
        try:
            fcntl.ioctl(out.fileno(), _FICLONE, data.fileno())
            return True
        except OSError:  # no reflinks on this filesystem (ext4, tmpfs), or another one
            pass
    target.unlink()
    return False


def _copy_hashing(source: Path, target: Path) -> str:
    """Copy the bytes; the SHA-256 of what was written (one read of the file)."""
    digest = hashlib.sha256()
    with source.open("rb") as data, target.open("wb") as out:
        while chunk := data.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()
