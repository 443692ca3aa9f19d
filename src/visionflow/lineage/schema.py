"""The tables of the lineage store (SQLAlchemy 2 declarative models).

Cards are rows of ``nodes`` (one per project, dataset, file, folder, task, labeling job or
app session); ``links`` join a task to the cards it read (input) and wrote (output).
Dataset versions are ``versions`` with one ``version_entries`` row per file, whose bytes
live in the content-addressed blob folder.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

KINDS = ("project", "dataset", "file", "folder", "task", "labeling_job", "app_session")


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes: every time stored here is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON}


class SchemaMigration(Base):
    __tablename__ = "vf_schema_migrations"
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    description: Mapped[str] = mapped_column(String(200))
    applied_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class Node(Base):
    """A card: one thing data flows through, identified by its kind and key."""

    __tablename__ = "vf_nodes"
    __table_args__ = (UniqueConstraint("kind", "key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(1000))  # a path, a name or a task's id
    name: Mapped[str] = mapped_column(String(300))
    model_weight: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str | None] = mapped_column(String(20), nullable=True)  # tasks only
    card: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the main node's card
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Link(Base):
    """A task read (``input``) or wrote (``output``) a card, maybe at one version."""

    __tablename__ = "vf_links"
    __table_args__ = (UniqueConstraint("task_id", "node_id", "direction", "version_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("vf_nodes.id", ondelete="CASCADE"))
    node_id: Mapped[int] = mapped_column(ForeignKey("vf_nodes.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(6))
    version_id: Mapped[int | None] = mapped_column(ForeignKey("vf_versions.id"), nullable=True)
    card: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the relation's card
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class Version(Base):
    __tablename__ = "vf_versions"
    __table_args__ = (UniqueConstraint("project", "num"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project: Mapped[str] = mapped_column(String(1000))  # the project folder's absolute path
    num: Mapped[int] = mapped_column(Integer)
    title: Mapped[str | None] = mapped_column(String(300), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    content_hash: Mapped[str] = mapped_column(String(64))  # of the sorted (path, hash) list
    files: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    # "link", "copy" or "record" (versions.create's storage); None: made before, copied
    storage: Mapped[str | None] = mapped_column(String(10), nullable=True)


class VersionEntry(Base):
    __tablename__ = "vf_version_entries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("vf_versions.id", ondelete="CASCADE"), index=True
    )
    path: Mapped[str] = mapped_column(String(1000))  # relative, with forward slashes
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # blobs.HOW: linked, cloned, copied, already_stored, recorded; None: made before, copied
    stored: Mapped[str | None] = mapped_column(String(16), nullable=True)
