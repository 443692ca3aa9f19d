"""Where lineage lives: an SQLAlchemy engine (SQLite file by default) and a blob folder.

VISIONFLOW_LINEAGE_URL   any SQLAlchemy URL (postgresql+psycopg://user@host/db, ...)
VISIONFLOW_HOME          default ~/.visionflow: holds lineage.db and blobs/
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from visionflow.lineage.errors import StoreError
from visionflow.lineage.migrations import LATEST, migrate

URL_VARIABLE = "VISIONFLOW_LINEAGE_URL"
HOME_VARIABLE = "VISIONFLOW_HOME"


def visionflow_home() -> Path:
    return Path(os.environ.get(HOME_VARIABLE) or Path.home() / ".visionflow").expanduser()


class Store:
    """An open, migrated lineage database plus the folder of content-addressed blobs.

    >>> store = Store("sqlite:///:memory:", blobs=Path("/tmp/blobs"))
    >>> with store.transaction() as session: ...
    """

    def __init__(self, url: str | None = None, *, blobs: Path | None = None, migrate_to=LATEST):
        home = visionflow_home()
        self.url = url or os.environ.get(URL_VARIABLE) or f"sqlite:///{home / 'lineage.db'}"
        self.blobs = Path(blobs) if blobs is not None else home / "blobs"
        place = sa.make_url(self.url).render_as_string(hide_password=True)
        try:
            self.engine = _engine(self.url)
            migrate(self.engine, migrate_to)
        except SQLAlchemyError as error:
            raise StoreError(
                f"cannot open the lineage store: {type(error).__name__}: {_cause(error)}",
                place=place,
                hint=f"check {URL_VARIABLE} (or {HOME_VARIABLE}) and that the database is up",
            ) from error
        except OSError as error:  # the SQLite file's folder cannot be made
            raise StoreError(
                f"cannot make the folder of the lineage store: {error.strerror}: "
                f"'{error.filename}'",
                place=place,
                hint=f"set {HOME_VARIABLE} to a folder you can write, or {URL_VARIABLE}",
            ) from error
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose writes are committed together at the end, or not at all."""
        with self._sessions() as session, session.begin():
            yield session

    def close(self) -> None:
        self.engine.dispose()


def _cause(error: SQLAlchemyError) -> object:
    return getattr(error, "orig", None) or error  # the driver's own message, when there is one


def _engine(url: str) -> Engine:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "postgresql":
        # a server that takes the connection and never answers must not hang the work
        return sa.create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 5})
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    # timeout: wait for another process's write lock instead of failing at once
    engine = sa.create_engine(parsed, connect_args={"timeout": 30, "check_same_thread": False})

    # pysqlite commits DDL implicitly and begins late; let SQLAlchemy own the transactions
    # so that a migration and a batch of writes are atomic (SQLAlchemy's documented recipe).
    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA foreign_keys = ON")
        dbapi_connection.execute("PRAGMA journal_mode = WAL")

    @sa.event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


_default: Store | None = None
_default_key: tuple[str | None, str | None] | None = None
_default_lock = threading.Lock()


def default_store() -> Store:
    """The store named by the environment, opened once per process (reopened if it changes)."""
    global _default, _default_key
    key = (os.environ.get(URL_VARIABLE), os.environ.get(HOME_VARIABLE))
    with _default_lock:
        if _default is None or _default_key != key:
            if _default is not None:
                _default.close()
            _default, _default_key = Store(), key
        return _default
