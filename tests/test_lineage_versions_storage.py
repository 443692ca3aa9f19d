"""How versions keep files: hard links, copies (clones where the filesystem has them) or
records only; what each create reports; what restore checks and says it cannot restore."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from pathlib import Path

import cv2
import pytest
from skimage import data

pytest.importorskip("sqlalchemy")

import sqlalchemy as sa

from test_lineage_store import empty_postgres_database, postgres_server  # noqa: F401
from visionflow.lineage import versions
from visionflow.lineage.blobs import _clone, blob_path, file_sha256
from visionflow.lineage.errors import ChangedContentError, DataLineageError, NotFoundError
from visionflow.lineage.migrations import current_version
from visionflow.lineage.schema import VersionEntry
from visionflow.lineage.store import Store

IMAGES = ("images/astronaut.png", "images/coffee.png")


@pytest.fixture
def store(tmp_path):
    opened = Store(f"sqlite:///{tmp_path / 'lineage.db'}", blobs=tmp_path / "blobs")
    yield opened
    opened.close()


@pytest.fixture
def project(tmp_path, astronaut, coffee):
    """Two real images and their annotations."""
    folder = tmp_path / "people"
    (folder / "images").mkdir(parents=True)
    cv2.imwrite(str(folder / IMAGES[0]), astronaut)
    cv2.imwrite(str(folder / IMAGES[1]), coffee)
    (folder / "annotations.json").write_text(json.dumps({"astronaut.png": ["face"]}))
    return folder


def sizes(folder: Path) -> dict[str, int]:
    return {
        p.relative_to(folder).as_posix(): p.stat().st_size
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def files_of(folder: Path) -> dict[str, bytes]:
    return {path: (folder / path).read_bytes() for path in sizes(folder)}


def blob_of(store: Store, file: Path) -> Path:
    return blob_path(store.blobs, file_sha256(file))


def counts(**nonzero) -> dict[str, int]:
    return {"linked": 0, "cloned": 0, "copied": 0, "already_stored": 0, "recorded": 0, **nonzero}


def clones_here(folder: Path) -> bool:
    """Whether this filesystem makes copy-on-write clones (Btrfs, XFS: yes; ext4, tmpfs: no)."""
    probe = folder / f".probe-{uuid.uuid4().hex}"
    probe.write_bytes(b"probe")
    try:
        return _clone(probe, folder / f"{probe.name}.clone")
    finally:
        probe.unlink()
        (folder / f"{probe.name}.clone").unlink(missing_ok=True)


def test_link_storage_hard_links_each_file_into_the_blob_store(store, project, caplog):
    total = sum(sizes(project).values())
    with caplog.at_level(logging.INFO, logger="visionflow.lineage"):
        version = versions.create(project, storage="link", store=store)
    assert caplog.messages == [
        f"version 1 of '{project}' (link): 3 files, {total} bytes: 3 linked ({total} bytes)"
    ]
    for path in sizes(project):
        file, blob = project / path, blob_of(store, project / path)
        assert os.path.samefile(file, blob) and file.stat().st_nlink == 2
    report = version.report
    assert (version.storage, report.storage, report.new_bytes) == ("link", "link", 0)
    assert report.files == counts(linked=3)
    assert report.bytes == counts(linked=total)
    assert report.summary() == f"3 files, {total} bytes: 3 linked ({total} bytes)"
    with store.transaction() as session:
        entries = session.scalars(sa.select(VersionEntry).order_by(VersionEntry.path)).all()
        assert [(e.path, e.stored) for e in entries] == [
            ("annotations.json", "linked"),
            (IMAGES[0], "linked"),
            (IMAGES[1], "linked"),
        ]
        assert [e.mtime_ns for e in entries] == [
            (project / e.path).stat().st_mtime_ns for e in entries
        ]


def test_the_next_version_stores_only_what_is_new(store, project):
    versions.create(project, storage="link", store=store)
    cv2.imwrite(str(project / "images" / "camera.png"), data.camera())
    before = sizes(project)
    second = versions.create(project, storage="link", store=store)
    unchanged = before["annotations.json"] + before[IMAGES[0]] + before[IMAGES[1]]
    assert second.num == 2
    assert second.report.files == counts(linked=1, already_stored=3)
    assert second.report.bytes == counts(
        linked=before["images/camera.png"], already_stored=unchanged
    )
    again = versions.create(project, storage="copy", store=store)  # same content: version 2
    assert again == second and again.storage == "link"
    assert again.report.files == counts(already_stored=4)
    assert again.report.new_bytes == 0
    assert len([p for p in store.blobs.rglob("*") if p.is_file()]) == 4


def test_copy_storage_keeps_files_apart_from_the_project(store, project, tmp_path):
    before, total = files_of(project), sum(sizes(project).values())
    version = versions.create(project, storage="copy", store=store)
    how = "cloned" if clones_here(tmp_path) else "copied"  # ext4 here: copied
    assert version.report.files == counts(**{how: 3})
    assert version.report.bytes == counts(**{how: total})
    assert version.report.new_bytes == (total if how == "copied" else 0)
    blob = blob_of(store, project / IMAGES[1])
    assert not os.path.samefile(project / IMAGES[1], blob) and blob.stat().st_nlink == 1
    cv2.imwrite(str(project / IMAGES[1]), data.camera())  # in place: the copy is untouched
    restored = versions.restore(project, version_num=1, target=tmp_path / "v1", store=store)
    assert files_of(restored.path) == before


def test_an_edit_in_place_of_a_linked_file_is_found_at_restore(store, project, tmp_path, caplog):
    before = files_of(project)
    versions.create(project, storage="link", store=store)
    inode = (project / IMAGES[1]).stat().st_ino
    cv2.imwrite(str(project / IMAGES[1]), data.camera())  # rewrites the same file
    assert (project / IMAGES[1]).stat().st_ino == inode
    sha = hashlib.sha256(before[IMAGES[1]]).hexdigest()
    with pytest.raises(ChangedContentError) as raised:
        versions.restore(project, version_num=1, target=tmp_path / "v1", store=store)
    assert raised.value.code == "version_content_changed"
    assert raised.value.message == (
        f"the content of '{IMAGES[1]}' (sha256 {sha[:12]}...) of version 1 has changed in the "
        "blob store (a hard link: its file was edited in place)"
    )
    assert raised.value.hint == (
        "pass skip_missed_entities=True to restore the other files; create versions with "
        "storage='copy' for files that are edited in place"
    )
    assert not (tmp_path / "v1").exists()
    with caplog.at_level(logging.WARNING, logger="visionflow.lineage"):
        rest = versions.restore(
            project, version_num=1, skip_missed_entities=True, target=tmp_path / "v1", store=store
        )
    assert (rest.files, rest.skipped, rest.changed, rest.missing) == (
        2,
        [IMAGES[1]],
        [IMAGES[1]],
        [],
    )
    assert files_of(rest.path) == {p: b for p, b in before.items() if p != IMAGES[1]}
    assert f"the 2 other files were restored into '{tmp_path / 'v1'}'" in caplog.text
    with caplog.at_level(logging.WARNING, logger="visionflow.lineage"):
        second = versions.create(project, storage="link", store=store)
    assert second.report.edited_in_place == (IMAGES[1],)
    assert f"'{project}' hard-linked '{IMAGES[1]}' into the blob store" in caplog.text


def test_a_blob_damaged_in_place_is_repaired_from_an_identical_file(store, project, tmp_path):
    shutil.copy(project / IMAGES[0], project / "images" / "astronaut2.png")
    before = files_of(project)
    first = versions.create(project, storage="link", store=store)
    assert first.report.files == counts(linked=3, already_stored=1)
    assert os.path.samefile(blob_of(store, project / IMAGES[0]), project / IMAGES[0])  # first
    cv2.imwrite(str(project / IMAGES[0]), data.camera())  # the linked one, in place
    second = versions.create(project, storage="link", store=store)
    # the copy still holds the old content: the damaged blob is replaced by a link to it,
    # so no version lost anything
    assert second.report.edited_in_place == ()
    assert second.report.files == counts(linked=2, already_stored=2)
    restored = versions.restore(project, version_num=1, target=tmp_path / "v1", store=store)
    assert files_of(restored.path) == before


def test_record_only_keeps_no_file_and_restores_from_the_project(store, project, tmp_path):
    before, total = files_of(project), sum(sizes(project).values())
    version = versions.create(project, storage="record", store=store)
    assert version.storage == "record" and not store.blobs.exists()
    assert version.report.bytes == counts(recorded=total)
    assert version.report.new_bytes == 0
    restored = versions.restore(project, version_num=1, target=tmp_path / "v1", store=store)
    assert (restored.files, restored.from_project, restored.skipped) == (3, 3, [])
    assert files_of(restored.path) == before


def test_record_only_restore_names_every_file_it_cannot_restore(store, project, tmp_path, caplog):
    before = files_of(project)
    versions.create(project, storage="record", store=store)
    (project / IMAGES[1]).unlink()
    (project / "annotations.json").write_text("{}")
    with pytest.raises(ChangedContentError) as raised:
        versions.restore(project, version_num=1, target=tmp_path / "v1", store=store)
    assert raised.value.message == (
        "2 files of version 1 cannot be restored: 'annotations.json' is not in the blob "
        "store, and the project's file has changed since; 'images/coffee.png' is in neither "
        "the blob store nor the project folder"
    )
    assert raised.value.hint == "pass skip_missed_entities=True to restore the other files"
    assert not (tmp_path / "v1").exists()  # never a partial folder without saying so
    with caplog.at_level(logging.WARNING, logger="visionflow.lineage"):
        rest = versions.restore(
            project, version_num=1, skip_missed_entities=True, target=tmp_path / "v1", store=store
        )
    assert (rest.files, rest.from_project) == (1, 1)
    assert (rest.missing, rest.changed) == ([IMAGES[1]], ["annotations.json"])
    assert rest.skipped == ["annotations.json", IMAGES[1]]
    assert files_of(rest.path) == {IMAGES[0]: before[IMAGES[0]]}
    assert "2 files of version 1 cannot be restored" in caplog.text


def test_a_record_only_version_restores_a_missing_file_from_the_blob_store(
    store, project, tmp_path
):
    versions.create(project, storage="copy", store=store)  # the images' bytes are kept...
    (project / "annotations.json").write_text("{}")
    recorded = versions.create(project, storage="record", store=store)
    (project / IMAGES[1]).unlink()  # ...so a record-only version can still restore them
    (project / "annotations.json").unlink()  # but not this one, recorded only
    with pytest.raises(NotFoundError) as raised:
        versions.restore(project, version_id=recorded.id, target=tmp_path / "r", store=store)
    sha = hashlib.sha256(b"{}").hexdigest()
    assert raised.value.message == (
        f"the content of 'annotations.json' (sha256 {sha[:12]}...) of version 2 is in neither "
        "the blob store nor the project folder"
    )
    rest = versions.restore(
        project,
        version_id=recorded.id,
        skip_missed_entities=True,
        target=tmp_path / "r",
        store=store,
    )
    assert (rest.files, rest.from_project, rest.missing) == (2, 0, ["annotations.json"])


def test_link_across_filesystems_falls_back_to_a_copy(tmp_path, project):
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("/dev/shm is not another filesystem here")
    blobs = shm / f"visionflow-test-{uuid.uuid4().hex}"
    opened = Store(f"sqlite:///{tmp_path / 'lineage.db'}", blobs=blobs)
    try:
        total = sum(sizes(project).values())
        version = versions.create(project, storage="link", store=opened)
        how = "cloned" if clones_here(shm) else "copied"  # tmpfs: copied
        assert version.report.bytes == counts(**{how: total})
        assert (project / IMAGES[0]).stat().st_nlink == 1
        assert blob_of(opened, project / IMAGES[0]).stat().st_dev == shm.stat().st_dev
    finally:
        opened.close()
        shutil.rmtree(blobs, ignore_errors=True)


def test_storage_is_one_of_three_and_can_come_from_the_environment(store, project, monkeypatch):
    with pytest.raises(DataLineageError) as raised:
        versions.create(project, storage="hardlink", store=store)
    assert (raised.value.message, raised.value.place) == (
        "unknown storage 'hardlink'",
        "versions.create storage",
    )
    monkeypatch.setenv("VISIONFLOW_VERSION_STORAGE", "snapshot")
    with pytest.raises(DataLineageError) as raised:
        versions.create(project, store=store)
    assert raised.value.place == "VISIONFLOW_VERSION_STORAGE"
    monkeypatch.setenv("VISIONFLOW_VERSION_STORAGE", "record")
    assert versions.create(project, store=store).storage == "record"
    monkeypatch.delenv("VISIONFLOW_VERSION_STORAGE")
    (project / "annotations.json").write_text("{}")
    assert versions.create(project, store=store).storage == "copy"  # the default


def test_versions_of_the_previous_schema_are_read_and_restored(tmp_path, project):
    url, blobs = f"sqlite:///{tmp_path / 'lineage.db'}", tmp_path / "blobs"
    old = Store(url, blobs=blobs, migrate_to=2)
    contents = versions.folder_contents(project)
    with old.engine.begin() as connection:  # as the previous visionflow wrote a version
        connection.execute(
            sa.text(
                "INSERT INTO vf_versions (id, project, num, title, content_hash, files, size, "
                "created_at) VALUES (1, :project, 1, 'old', :hash, 3, :size, CURRENT_TIMESTAMP)"
            ),
            {
                "project": str(project),
                "hash": versions.hash_of_contents(contents),
                "size": sum(sizes(project).values()),
            },
        )
        for path, sha in contents.items():
            connection.execute(
                sa.text(
                    "INSERT INTO vf_version_entries (version_id, path, sha256, size) "
                    "VALUES (1, :path, :sha, :size)"
                ),
                {"path": path, "sha": sha, "size": sizes(project)[path]},
            )
            blob_path(blobs, sha).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(project / path, blob_path(blobs, sha))
    old.close()
    upgraded = Store(url, blobs=blobs)
    try:
        assert current_version(upgraded.engine) == 3
        [info] = versions.get_list(project, store=upgraded)
        assert (info.num, info.title, info.storage, info.report) == (1, "old", "copy", None)
        assert versions.create(project, store=upgraded) == info  # unchanged: that version
        restored = versions.restore(project, version_num=1, target=tmp_path / "r", store=upgraded)
        assert files_of(restored.path) == files_of(project)
    finally:
        upgraded.close()


def test_the_versions_command_says_how_files_were_kept(project, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from visionflow.cli import app

    monkeypatch.setenv("VISIONFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("VISIONFLOW_LINEAGE_URL", raising=False)
    monkeypatch.delenv("VISIONFLOW_VERSION_STORAGE", raising=False)
    runner, total = CliRunner(env={"COLUMNS": "200"}), sum(sizes(project).values())

    def invoke(*args):
        return runner.invoke(app, ["versions", *args])

    made = invoke("create", str(project), "--storage", "link", "--title", "first")
    assert made.exit_code == 0, made.output
    assert made.stdout.splitlines() == [
        f"version 1 (id 1) of {project}, link",
        f"3 files, {total} bytes: 3 linked ({total} bytes); the blob store grew by 0 bytes",
    ]
    again = invoke("create", str(project))
    assert again.stdout.splitlines()[0] == f"unchanged: version 1 (id 1) of {project}, link"
    (project / "annotations.json").write_text("{}")  # in place: version 1 loses it
    recorded = invoke("create", str(project), "--storage", "record", "--json")
    shown = json.loads(recorded.stdout)
    assert (shown["num"], shown["storage"], shown["report"]["edited_in_place"]) == (
        2,
        "record",
        ["annotations.json"],
    )
    listed = json.loads(invoke("list", str(project), "--json").stdout)
    assert [(v["num"], v["title"], v["storage"]) for v in listed] == [
        (1, "first", "link"),
        (2, None, "record"),
    ]
    (project / "annotations.json").unlink()
    refused = invoke("restore", str(project), "--num", "2", "--target", str(tmp_path / "r"))
    assert refused.exit_code == 1
    assert "error [lineage_not_found] at versions.restore" in refused.stderr
    partial = invoke(
        "restore", str(project), "--num", "2", "--target", str(tmp_path / "r"), "--skip-missed"
    )
    assert partial.exit_code == 0, partial.output
    assert partial.stdout.splitlines() == [f"restored 2 files into {tmp_path / 'r'}"]
    assert partial.stderr.splitlines()[-1] == "left out (missing): annotations.json"


def test_the_versions_command_filters_and_restores_beside_the_project(
    project, tmp_path, monkeypatch
):
    """As Supervisely's get_list(filters=) and restore (a new project <name>-v<number>)."""
    from typer.testing import CliRunner

    from visionflow.cli import app

    monkeypatch.setenv("VISIONFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("VISIONFLOW_LINEAGE_URL", raising=False)
    runner = CliRunner(env={"COLUMNS": "200"})

    def invoke(*args):
        return runner.invoke(app, ["versions", *args])

    assert invoke("create", str(project), "--title", "first").exit_code == 0
    (project / "annotations.json").write_text("{}")
    assert invoke("create", str(project), "--title", "reviewed").exit_code == 0

    def titles(*filters: str) -> list[str]:
        given = [part for text in filters for part in ("--filter", text)]
        return [
            v["title"] for v in json.loads(invoke("list", str(project), *given, "--json").stdout)
        ]

    assert titles("version >= 2") == ["reviewed"]
    assert titles("id in 1,2", "title != reviewed") == ["first"]
    assert titles("createdAt > 2999-01-01T00:00:00Z") == []
    assert invoke("list", str(project), "--filter", "version > 5").stdout == (
        f"no versions of {project} match\n"
    )
    assert invoke("list", str(tmp_path / "gone")).stdout == (
        f"no versions of {tmp_path / 'gone'} (and no such folder)\n"
    )
    wrong = invoke("list", str(project), "--filter", "version")
    assert wrong.exit_code == 1
    assert "a filter is 'FIELD OPERATOR VALUE', found 'version'" in wrong.stderr
    by_number = invoke("restore", str(project), "--num", "1")
    assert by_number.stdout == f"restored 3 files into {tmp_path / 'people-v1'}\n"
    by_id = invoke("restore", str(project), "--id", "2")
    assert by_id.stdout == f"restored 3 files into {tmp_path / 'people-v2'}\n"
    assert (tmp_path / "people-v2" / "annotations.json").read_text() == "{}"
    neither = invoke("restore", str(project))
    assert neither.exit_code == 1
    assert "give the version by --num or by --id (one of them)" in neither.stderr


def test_link_storage_links_the_file_a_symlink_points_to(store, project, tmp_path):
    outside = tmp_path / "shared-labels.json"
    outside.write_text('{"shared": true}')
    (project / "labels.json").symlink_to(outside)
    versions.create(project, storage="link", store=store)
    assert os.path.samefile(blob_of(store, outside), outside) and outside.stat().st_nlink == 2
    restored = versions.restore(project, version_num=1, target=tmp_path / "r", store=store)
    copy = restored.path / "labels.json"
    assert not copy.is_symlink() and copy.read_text() == '{"shared": true}'
    assert copy.stat().st_nlink == 1  # a restore copies: editing it leaves the store alone


def test_two_creates_of_one_project_at_once_on_postgresql_make_one_version(
    request, project, tmp_path
):
    """The second create waits for the first (they would both number theirs 1, and the
    second fail on the unique (project, num)); then it finds the same content: version 1."""
    import threading

    server = request.getfixturevalue("postgres_server")
    store = Store(empty_postgres_database(server), blobs=tmp_path / "blobs")
    first_read, go, results = threading.Event(), threading.Event(), {}
    first_thread: list[int] = []

    def pause_after_reading_the_last_version(conn, cursor, statement, *args) -> None:
        if threading.get_ident() in first_thread and "FROM vf_versions" in statement:
            first_thread.clear()
            first_read.set()
            # until the second create has run or is waiting on the first
            results["released"] = go.wait(60)

    sa.event.listen(store.engine, "after_cursor_execute", pause_after_reading_the_last_version)

    def create(name: str) -> None:
        if name == "first":
            first_thread.append(threading.get_ident())
        try:
            results[name] = versions.create(project, store=store).num
        except Exception as error:  # shown by the assertion below
            results[name] = f"{type(error).__name__}: {error}"[:200]

    first = threading.Thread(target=create, args=("first",))
    first.start()
    assert first_read.wait(60)
    second = threading.Thread(target=create, args=("second",))
    second.start()
    # the second done, or waiting for a lock (autocommit: each look sees the activity now,
    # where one transaction would see the snapshot of its first look)
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as watch:
        waiting = (
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        while second.is_alive() and not watch.execute(sa.text(waiting)).scalar():
            second.join(0.05)
    go.set()
    first.join(60)
    second.join(60)
    store.close()
    assert results == {"released": True, "first": 1, "second": 1}


def test_a_damaged_blob_whose_linked_file_is_gone_is_repaired_from_its_content_again(
    store, project, tmp_path
):
    """A linked file edited in place, then deleted: the blob is the only name left of the
    edited bytes. The original content brought back (a new file) is stored again, not taken
    for the damaged blob, so that the version is whole again."""
    before = files_of(project)
    versions.create(project, storage="link", store=store)
    cv2.imwrite(str(project / IMAGES[0]), data.camera())  # in place: the blob changes too
    (project / IMAGES[0]).unlink()
    (project / IMAGES[0]).write_bytes(before[IMAGES[0]])  # from a backup: a new file
    again = versions.create(project, storage="link", store=store)
    assert again.num == 1  # the same content as version 1
    assert again.report.files == counts(linked=1, already_stored=2)
    (project / IMAGES[0]).unlink()
    restored = versions.restore(project, version_num=1, target=tmp_path / "v1", store=store)
    assert files_of(restored.path) == before


def test_restore_leaves_every_other_folder_beside_its_target_alone(store, project, tmp_path):
    # restore builds in a folder of its own beside the target: a folder of the user's whose
    # name looks like one (or another restore's, running at once) is not removed
    before = files_of(project)
    versions.create(project, store=store)
    mine = tmp_path / ".v1.restoring"
    (mine / "notes").mkdir(parents=True)
    (mine / "notes" / "keep.txt").write_text("mine")
    restored = versions.restore(project, version_num=1, target=tmp_path / "v1", store=store)
    assert files_of(restored.path) == before
    assert (mine / "notes" / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir() if "restoring" in p.name) == [mine.name]
