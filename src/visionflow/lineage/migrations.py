"""Numbered schema migrations, applied in order, each in its own transaction.

``vf_schema_migrations`` records which ones a database has. A migration's tables are
written out here as they were at that version (not taken from ``schema.py``), so that a
fresh database and an upgraded one end with the same schema.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from visionflow.lineage.errors import StoreError
from visionflow.lineage.schema import SchemaMigration


def _v1_tables(connection: Connection) -> None:
    meta = sa.MetaData()
    when = {"type_": sa.DateTime(timezone=True)}
    sa.Table(
        "vf_nodes",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("key", sa.String(1000), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("model_weight", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(20)),
        sa.Column("card", sa.JSON, nullable=False),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("created_at", nullable=False, **when),
        sa.Column("finished_at", **when),
        sa.UniqueConstraint("kind", "key"),
    )
    sa.Table(
        "vf_versions",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("project", sa.String(1000), nullable=False),
        sa.Column("num", sa.Integer, nullable=False),
        sa.Column("title", sa.String(300)),
        sa.Column("description", sa.Text),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("files", sa.Integer, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", nullable=False, **when),
        sa.UniqueConstraint("project", "num"),
    )
    sa.Table(
        "vf_version_entries",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "version_id", sa.ForeignKey("vf_versions.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("path", sa.String(1000), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
    )
    sa.Table(
        "vf_links",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("task_id", sa.ForeignKey("vf_nodes.id", ondelete="CASCADE"), nullable=False),
        sa.Column("node_id", sa.ForeignKey("vf_nodes.id", ondelete="CASCADE"), nullable=False),
        sa.Column("direction", sa.String(6), nullable=False),
        sa.Column("version_id", sa.ForeignKey("vf_versions.id")),
        sa.Column("card", sa.JSON, nullable=False),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("created_at", nullable=False, **when),
        sa.UniqueConstraint("task_id", "node_id", "direction", "version_id"),
    )
    meta.create_all(connection)


def _v2_indexes(connection: Connection) -> None:
    # the graph page and `lineage list` look links up by task and entries by version
    connection.execute(sa.text("CREATE INDEX ix_vf_links_task_id ON vf_links (task_id)"))
    connection.execute(sa.text("CREATE INDEX ix_vf_links_node_id ON vf_links (node_id)"))
    connection.execute(
        sa.text("CREATE INDEX ix_vf_version_entries_version_id ON vf_version_entries (version_id)")
    )


def _v3_version_storage(connection: Connection) -> None:
    # how each version kept its files (link, copy, record: NULL = copy, as before) and, per
    # file, its mtime and how its content was kept (NULL = copied), to check it at restore
    for statement in (
        "ALTER TABLE vf_versions ADD COLUMN storage VARCHAR(10)",
        "ALTER TABLE vf_version_entries ADD COLUMN mtime_ns BIGINT",
        "ALTER TABLE vf_version_entries ADD COLUMN stored VARCHAR(16)",
    ):
        connection.execute(sa.text(statement))


MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "cards, links, versions and version entries", _v1_tables),
    (2, "indexes for links by task and node, entries by version", _v2_indexes),
    (3, "how versions keep their files: storage, mtime, stored", _v3_version_storage),
]
LATEST = MIGRATIONS[-1][0]


# Any fixed number: PostgreSQL writers that open the store at once migrate one at a time.
_MIGRATION_LOCK = 0x76666C696E656167  # "vflineag"


def current_version(engine: Engine) -> int:
    """The highest migration applied (0 for an empty database)."""
    with engine.connect() as connection:
        return _version(connection)


def _version(connection: Connection) -> int:
    if not sa.inspect(connection).has_table(SchemaMigration.__tablename__):
        return 0
    found = connection.execute(sa.select(sa.func.max(SchemaMigration.version))).scalar()
    return found or 0


def migrate(engine: Engine, target: int = LATEST) -> list[int]:
    """Apply the migrations after the database's version up to ``target``; their numbers.

    Each one runs in its own transaction, under a lock (PostgreSQL: an advisory lock; SQLite:
    its write lock, taken by BEGIN IMMEDIATE), and the version is read again inside it: of
    several processes opening a new store at once, one migrates and the others see it done.
    """
    applied = []
    while True:
        with engine.begin() as connection:  # the migration and its record, or neither
            if connection.dialect.name == "postgresql":
                connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
            SchemaMigration.__table__.create(connection, checkfirst=True)
            have = _version(connection)
            if have > LATEST:
                raise StoreError(
                    f"the lineage store is at schema version {have}, newer than this "
                    f"visionflow knows ({LATEST})",
                    place=engine.url.render_as_string(hide_password=True),
                    hint="upgrade visionflow, or point VISIONFLOW_LINEAGE_URL at another store",
                )
            pending = [m for m in MIGRATIONS if have < m[0] <= target]
            if not pending:
                return applied
            number, description, apply = pending[0]
            apply(connection)
            connection.execute(
                sa.insert(SchemaMigration).values(
                    version=number, description=description, applied_at=datetime.now(UTC)
                )
            )
        applied.append(number)
