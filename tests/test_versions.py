"""Project versions by content hash: create (unchanged -> the same version), restore, list."""

from __future__ import annotations

import hashlib
import json
import shutil

import cv2
import pytest

pytest.importorskip("sqlalchemy")

from visionflow.lineage import versions
from visionflow.lineage.blobs import blob_path
from visionflow.lineage.errors import DataLineageError, NotFoundError
from visionflow.lineage.store import Store


@pytest.fixture
def store(tmp_path):
    opened = Store(f"sqlite:///{tmp_path / 'lineage.db'}", blobs=tmp_path / "blobs")
    yield opened
    opened.close()


@pytest.fixture
def project(tmp_path, astronaut, coffee):
    """A project: two real images and their annotations."""
    folder = tmp_path / "people"
    (folder / "images").mkdir(parents=True)
    cv2.imwrite(str(folder / "images" / "astronaut.png"), astronaut)
    cv2.imwrite(str(folder / "images" / "coffee.png"), coffee)
    annotations = {"astronaut.png": [{"class": "face", "box": [180, 80, 270, 175]}]}
    (folder / "annotations.json").write_text(json.dumps(annotations))
    return folder


def files_of(folder) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_a_version_snapshots_every_file_by_content(store, project):
    version = versions.create(project, title="baseline", description="as labelled", store=store)
    sizes = sum(len(content) for content in files_of(project).values())
    assert (version.num, version.title, version.description) == (1, "baseline", "as labelled")
    assert (version.project, version.files, version.size) == (str(project), 3, sizes)
    blobs = sorted(p.name for p in store.blobs.rglob("*") if p.is_file())
    assert len(blobs) == 3 and all(blob_path(store.blobs, name).is_file() for name in blobs)


def test_an_unchanged_project_returns_its_last_version(store, project):
    first = versions.create(project, store=store)
    again = versions.create(project, title="same content", store=store)
    assert again == first
    assert [v.num for v in versions.get_list(project, store=store)] == [1]


def test_a_change_makes_the_next_version_and_equal_contents_share_blobs(store, project):
    first = versions.create(project, store=store)
    original = (project / "annotations.json").read_text()
    (project / "annotations.json").write_text("{}")
    second = versions.create(project, store=store)
    (project / "annotations.json").write_text(original)
    third = versions.create(project, store=store)  # back as it was: a new version, old hash
    assert (second.num, third.num) == (2, 3)
    assert third.content_hash == first.content_hash != second.content_hash
    assert len([p for p in store.blobs.rglob("*") if p.is_file()]) == 4  # 3 + the "{}" file


def test_restore_recreates_the_project_as_it_was_in_a_new_folder(store, project, tmp_path):
    before = files_of(project)
    first = versions.create(project, store=store)
    (project / "images" / "coffee.png").unlink()
    (project / "annotations.json").write_text("{}")
    versions.create(project, store=store)
    by_number = versions.restore(project, version_num=1, target=tmp_path / "v1", store=store)
    versions.restore(project, version_id=first.id, target=tmp_path / "again", store=store)
    assert (by_number.files, by_number.skipped) == (3, [])
    assert files_of(tmp_path / "v1") == files_of(tmp_path / "again") == before


def test_a_deleted_project_can_still_be_restored(store, project, tmp_path):
    before = files_of(project)
    versions.create(project, store=store)
    shutil.rmtree(project)
    versions.restore(project, version_num=1, target=project, store=store)
    assert files_of(project) == before


def test_missing_content_is_an_error_or_skipped_when_asked(store, project, tmp_path):
    versions.create(project, store=store)
    coffee = (project / "images" / "coffee.png").read_bytes()
    blob_path(store.blobs, hashlib.sha256(coffee).hexdigest()).unlink()
    with pytest.raises(NotFoundError) as raised:
        versions.restore(project, version_num=1, target=tmp_path / "broken", store=store)
    assert "the content of 'images/coffee.png'" in raised.value.message
    assert raised.value.hint == "pass skip_missed_entities=True to restore the other files"
    assert not (tmp_path / "broken").exists()  # nothing half restored
    restored = versions.restore(
        project, version_num=1, skip_missed_entities=True, target=tmp_path / "rest", store=store
    )
    assert (restored.files, restored.skipped) == (2, ["images/coffee.png"])
    assert sorted(files_of(tmp_path / "rest")) == ["annotations.json", "images/astronaut.png"]


def test_restore_refuses_a_folder_with_files_and_unclear_versions(store, project, tmp_path):
    versions.create(project, store=store)
    with pytest.raises(DataLineageError) as occupied:
        versions.restore(project, version_num=1, target=project, store=store)
    with pytest.raises(DataLineageError) as neither:
        versions.restore(project, target=tmp_path / "x", store=store)
    with pytest.raises(NotFoundError) as unknown:
        versions.restore(project, version_num=7, target=tmp_path / "x", store=store)
    assert occupied.value.message == f"target '{project}' exists and is not an empty folder"
    assert neither.value.message == "give exactly one of version_id or version_num"
    assert unknown.value.message == f"project '{project}' has no version with version_num 7"


def test_get_list_filters_versions(store, project):
    for title in ("raw", "reviewed", "reviewed twice"):
        (project / "annotations.json").write_text(json.dumps({"stage": title}))
        versions.create(project, title=title, store=store)

    def titles(**filters):
        return [v.title for v in versions.get_list(project, filters=filters, store=store)]

    assert titles() == ["raw", "reviewed", "reviewed twice"]
    assert titles(title="reviewed") == ["reviewed"]
    assert titles(title_contains="review") == ["reviewed", "reviewed twice"]
    assert titles(num_min=2, num_max=2) == ["reviewed"]
    with pytest.raises(DataLineageError) as raised:
        versions.get_list(project, filters={"author": "me"}, store=store)
    assert raised.value.message == "unknown filter(s) 'author'"


def test_a_symlinked_file_is_stored_and_restored_as_its_content(store, project, tmp_path):
    outside = tmp_path / "shared-labels.json"
    outside.write_text('{"shared": true}')
    (project / "labels.json").symlink_to(outside)
    version = versions.create(project, store=store)
    assert version.files == 4
    restored = versions.restore(project, version_num=1, target=tmp_path / "r", store=store)
    copy = restored.path / "labels.json"
    assert not copy.is_symlink() and copy.read_text() == '{"shared": true}'
    assert versions.hash_of_contents(versions.folder_contents(project)) == version.content_hash


def test_a_file_given_as_a_project_is_named_a_file(store, project):
    with pytest.raises(DataLineageError) as raised:
        versions.create(project / "annotations.json", store=store)
    assert (
        raised.value.message == f"'{project / 'annotations.json'}' is a file, not a project folder"
    )


def test_title_contains_matches_wildcard_characters_as_such(store, project):
    for title in ("100% reviewed", "raw_v1", "raw"):
        (project / "annotations.json").write_text(json.dumps({"stage": title}))
        versions.create(project, title=title, store=store)

    def titles(text):
        found = versions.get_list(project, filters={"title_contains": text}, store=store)
        return [v.title for v in found]

    assert (titles("%"), titles("_"), titles("raw")) == (
        ["100% reviewed"],
        ["raw_v1"],
        ["raw_v1", "raw"],
    )
