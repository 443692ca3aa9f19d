"""The lineage store: an SQLite file by default, or PostgreSQL; versioned migrations;
transactional writes. Each behaviour runs on both backends (a real server for PostgreSQL)."""

from __future__ import annotations

import glob
import multiprocessing
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy")
import sqlalchemy as sa

from visionflow.lineage import versions
from visionflow.lineage.api import Lineage
from visionflow.lineage.errors import StoreError
from visionflow.lineage.migrations import LATEST, current_version
from visionflow.lineage.queries import lineage_graph
from visionflow.lineage.schema import Link, Node
from visionflow.lineage.store import Store


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server on 127.0.0.1 (a free port) for the whole session."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (make test installs it as root with apt)")
    pytest.importorskip("psycopg")
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    data = Path(tempfile.mkdtemp(prefix="visionflow-pg-"))
    if as_postgres:
        shutil.chown(data, "postgres", "postgres")  # initdb and pg_ctl refuse to run as root
    port = free_port()
    run = [*as_postgres, str(bin_dir / "initdb"), "-D", str(data / "db"), "--auth=trust"]
    subprocess.run([*run, "-U", "postgres"], check=True, capture_output=True)
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {data}"
    start = [*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data / "db"), "-o", options]
    subprocess.run(
        [*start, "-l", str(data / "log"), "-w", "start"], check=True, capture_output=True
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run([*start, "-m", "fast", "-w", "stop"], capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


_databases = iter(range(1, 10_000))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lineage.db'}"
    return empty_postgres_database(request.getfixturevalue("postgres_server"))


@pytest.fixture
def store(store_url, tmp_path):
    opened = Store(store_url, blobs=tmp_path / "blobs")
    yield opened
    opened.close()


def test_a_new_store_is_migrated_to_the_latest_schema(store):
    with store.engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT version, description FROM vf_schema_migrations ORDER BY version")
        ).all()
    assert [tuple(row) for row in rows] == [
        (1, "cards, links, versions and version entries"),
        (2, "indexes for links by task and node, entries by version"),
        (3, "how versions keep their files: storage, mtime, stored"),
    ]
    assert LATEST == 3
    tables = set(sa.inspect(store.engine).get_table_names())
    assert {"vf_nodes", "vf_links", "vf_versions", "vf_version_entries"} <= tables


def ix_indexes(store: Store, table: str) -> set[str]:
    # PostgreSQL also reports unique constraints as indexes: keep the migration's own
    found = sa.inspect(store.engine).get_indexes(table)
    return {index["name"] for index in found if index["name"].startswith("ix_")}


def test_an_older_store_is_upgraded_and_keeps_its_data(store_url, tmp_path):
    old = Store(store_url, blobs=tmp_path / "blobs", migrate_to=1)
    assert current_version(old.engine) == 1
    assert ix_indexes(old, "vf_links") == set()
    with Lineage(old).task("before the upgrade") as task_id:
        pass
    old.close()

    upgraded = Store(store_url, blobs=tmp_path / "blobs")
    assert current_version(upgraded.engine) == LATEST
    assert ix_indexes(upgraded, "vf_links") == {"ix_vf_links_task_id", "ix_vf_links_node_id"}
    with upgraded.transaction() as session:
        assert session.get(Node, task_id).name == "before the upgrade"
    upgraded.close()


def test_a_store_newer_than_this_visionflow_is_refused(store):
    with store.engine.begin() as connection:
        connection.execute(
            sa.text("INSERT INTO vf_schema_migrations VALUES (99, 'future', CURRENT_TIMESTAMP)")
        )
    with pytest.raises(StoreError) as raised:
        Store(store.url, blobs=store.blobs)
    assert raised.value.message == (
        "the lineage store is at schema version 99, newer than this visionflow knows (3)"
    )


def test_writes_in_a_transaction_are_all_kept_or_all_dropped(store):
    with pytest.raises(RuntimeError), store.transaction() as session:
        session.add(Node(kind="folder", key="/a", name="a", card={}, meta={}))
        session.flush()  # the row is written inside the transaction...
        raise RuntimeError("the work failed")
    with store.transaction() as session:  # ...and rolled back with it
        assert session.scalars(sa.select(Node)).all() == []


def test_lineage_and_versions_round_trip(store, tmp_path):
    project = tmp_path / "cars"
    project.mkdir()
    (project / "labels.json").write_text('{"car": 3}')
    version = versions.create(project, title="first", store=store)
    lineage = Lineage(store, strict=True)
    with lineage.task("count cars") as task_id:
        lineage.add_input_project(project, version_num=1)
        lineage.add_output_file(tmp_path / "counts.csv", meta={"rows": 3})
    graph = lineage_graph(store)
    assert [(n["id"], n["name"]) for n in graph["nodes"]] == [
        (f"task-{task_id}", "count cars"),
        (f"project-{task_id + 1}-v{version.id}", "cars"),
        (f"file-{task_id + 2}", "counts.csv"),
    ]
    assert [(link["source"], link["target"]) for link in graph["links"]] == [
        (f"project-{task_id + 1}-v{version.id}", f"task-{task_id}"),
        (f"task-{task_id}", f"file-{task_id + 2}"),
    ]
    restored = versions.restore(project, version_id=version.id, target=tmp_path / "r", store=store)
    assert (restored.path / "labels.json").read_text() == '{"car": 3}'


def test_the_default_store_is_a_sqlite_file_in_visionflow_home(tmp_path, monkeypatch):
    monkeypatch.delenv("VISIONFLOW_LINEAGE_URL", raising=False)
    monkeypatch.setenv("VISIONFLOW_HOME", str(tmp_path / "home"))
    store = Store()
    assert store.url == f"sqlite:///{tmp_path / 'home' / 'lineage.db'}"
    assert store.blobs == tmp_path / "home" / "blobs"
    assert (tmp_path / "home" / "lineage.db").is_file()
    store.close()


def test_an_unreachable_database_is_a_clear_error():
    port = free_port()  # nothing listens there
    with pytest.raises(StoreError) as raised:
        Store(f"postgresql+psycopg://visionflow:secret@127.0.0.1:{port}/lineage")
    assert raised.value.message.startswith("cannot open the lineage store: OperationalError")
    assert raised.value.place == f"postgresql+psycopg://visionflow:***@127.0.0.1:{port}/lineage"
    assert "VISIONFLOW_LINEAGE_URL" in raised.value.hint


def empty_postgres_database(server: str) -> str:
    name = f"visionflow_{next(_databases)}"
    admin = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return f"{server}/{name}"


def open_and_read(url: str, blobs: Path, threads: int, start, failures) -> None:
    """One writer process: open the store when all are ready; with threads, each records
    the same dataset as an input of this process's task."""
    try:
        start.wait()
        store = Store(url, blobs=blobs)
        if threads:
            lineage = Lineage(store, strict=True)
            task_id = lineage.start_task("reader")
            with ThreadPoolExecutor(threads) as pool:
                ready = threading.Barrier(threads)

                def read(_):
                    ready.wait()
                    return lineage.add_input_dataset("/data/shared", task_id=task_id)

                list(pool.map(read, range(threads)))
            lineage.finish_task(task_id)
    except Exception as error:  # reported to the test, which shows them all
        failures.put(f"{type(error).__name__}: {error}"[:300])


def run_at_once(url: str, tmp_path: Path, processes: int, threads: int) -> list[str]:
    """Writer processes that start together (forked: no imports to wait for); their errors."""
    context = multiprocessing.get_context("fork")
    start, failures = context.Barrier(processes), context.Queue()
    arguments = (url, tmp_path / "blobs", threads, start, failures)
    started = [context.Process(target=open_and_read, args=arguments) for _ in range(processes)]
    for process in started:
        process.start()
    for process in started:
        process.join(60)
    found = []
    while not failures.empty():
        found.append(failures.get())
    assert [process.exitcode for process in started] == [0] * processes
    return found


def test_processes_opening_a_new_postgresql_store_at_once_migrate_it_once(
    postgres_server, tmp_path
):
    url = empty_postgres_database(postgres_server)
    assert run_at_once(url, tmp_path, processes=8, threads=0) == []
    store = Store(url, blobs=tmp_path / "blobs")
    assert current_version(store.engine) == LATEST
    store.close()


def test_concurrent_writers_of_one_card_make_it_once(postgres_server, tmp_path):
    # 4 processes x 4 threads, each process its own task, every thread the same dataset
    url = empty_postgres_database(postgres_server)
    Store(url, blobs=tmp_path / "blobs").close()  # migrated before (the test above races that)
    assert run_at_once(url, tmp_path, processes=4, threads=4) == []
    store = Store(url, blobs=tmp_path / "blobs")
    with store.transaction() as session:
        datasets = session.scalars(sa.select(Node).where(Node.kind == "dataset")).all()
        links = session.scalars(sa.select(Link)).all()
    assert [d.key for d in datasets] == [str(Path("/data/shared").resolve())]
    assert len(links) == 4  # one per task, however many threads recorded it
    store.close()
