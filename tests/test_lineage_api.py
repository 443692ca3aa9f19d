"""The lineage API: tasks and the cards they read and wrote, card settings, their errors."""

from __future__ import annotations

import logging
import socket

import pytest

pytest.importorskip("sqlalchemy")

from visionflow.errors import WorkflowError
from visionflow.lineage import versions
from visionflow.lineage.api import Lineage
from visionflow.lineage.cards import CardSettings
from visionflow.lineage.errors import (
    CardSettingsError,
    DataLineageError,
    NoCurrentTaskError,
    NotFoundError,
    StoreError,
)
from visionflow.lineage.queries import lineage_graph, list_tasks
from visionflow.lineage.store import Store


@pytest.fixture
def store(tmp_path):
    opened = Store(f"sqlite:///{tmp_path / 'lineage.db'}", blobs=tmp_path / "blobs")
    yield opened
    opened.close()


@pytest.fixture
def lineage(store) -> Lineage:
    return Lineage(store, strict=True)


@pytest.fixture
def project(tmp_path):
    folder = tmp_path / "cars"
    folder.mkdir()
    (folder / "a.json").write_text("[]")
    return folder


def edges(store) -> list[tuple[str, str, str]]:
    graph = lineage_graph(store)
    names = {node["id"]: f"{node['kind']}:{node['name']}" for node in graph["nodes"]}
    return [(names[e["source"]], e["direction"], names[e["target"]]) for e in graph["links"]]


def test_every_kind_of_card_is_recorded_against_the_current_task(lineage, store, tmp_path):
    with lineage.task("train"):
        lineage.add_input_project(tmp_path / "cars")
        lineage.add_input_dataset(tmp_path / "cars/train")
        lineage.add_input_folder(tmp_path / "raw")
        lineage.add_input_file(tmp_path / "base.onnx", model_weight=True)
        lineage.add_input_labeling_job("job-12")
        lineage.add_output_file(tmp_path / "best.onnx", model_weight=True)
        lineage.add_output_dataset(tmp_path / "predictions")
        lineage.add_output_project(tmp_path / "cars-clean")
        lineage.add_output_folder(tmp_path / "logs")
        lineage.add_output_labeling_job("job-13")
        lineage.add_output_app("tensorboard-1")
    assert edges(store) == [
        ("project:cars", "input", "task:train"),
        ("dataset:train", "input", "task:train"),
        ("folder:raw", "input", "task:train"),
        ("file:base.onnx", "input", "task:train"),
        ("labeling_job:job-12", "input", "task:train"),
        ("task:train", "output", "file:best.onnx"),
        ("task:train", "output", "dataset:predictions"),
        ("task:train", "output", "project:cars-clean"),
        ("task:train", "output", "folder:logs"),
        ("task:train", "output", "labeling_job:job-13"),
        ("task:train", "output", "app_session:tensorboard-1"),
    ]
    weights = {n["name"]: n["model_weight"] for n in lineage_graph(store)["nodes"]}
    assert (weights["base.onnx"], weights["best.onnx"], weights["raw"]) == (True, True, False)


def test_tasks_link_to_tasks_and_an_explicit_task_id_wins(lineage, store, tmp_path):
    first = lineage.start_task("label")
    lineage.finish_task(first)
    second = lineage.start_task("train")
    lineage.add_input_task(first)
    lineage.add_output_folder(tmp_path / "labels", task_id=first)
    lineage.finish_task(second, "failed")
    assert edges(store) == [
        ("task:label", "input", "task:train"),
        ("task:label", "output", "folder:labels"),
    ]
    assert [(t["name"], t["status"], t["inputs"], t["outputs"]) for t in list_tasks(store)] == [
        ("label", "finished", 0, 1),
        ("train", "failed", 1, 0),
    ]


def test_a_task_that_raises_is_recorded_as_failed(lineage, store):
    with pytest.raises(ZeroDivisionError), lineage.task("divide"):
        _ = 1 / 0
    assert [t["status"] for t in list_tasks(store)] == ["failed"]


def test_recording_the_same_card_twice_keeps_one_link(lineage, store, tmp_path):
    with lineage.task("resumed run"):
        lineage.add_output_folder(tmp_path / "out", meta={"images": 2})
        lineage.add_output_folder(str(tmp_path / "out") + "/", meta={"images": 3})
    graph = lineage_graph(store)
    assert [link["meta"] for link in graph["links"]] == [{"images": 3}]


def test_a_project_is_read_at_a_version_by_number_or_id(lineage, store, project):
    first = versions.create(project, store=store)
    (project / "b.json").write_text("{}")
    second = versions.create(project, store=store)
    with lineage.task("compare"):
        lineage.add_input_project(project, version_num=1)
        lineage.add_input_project(project, version_id=second.id)
        lineage.add_input_dataset(project, version_id=first.id)
    nodes = lineage_graph(store)["nodes"]
    assert [(n["kind"], n["version"]) for n in nodes[1:]] == [
        ("project", {"id": first.id, "num": 1}),
        ("project", {"id": second.id, "num": 2}),
        ("dataset", {"id": first.id, "num": 1}),
    ]


def test_version_arguments_that_do_not_fit_are_clear_errors(lineage, store, project, tmp_path):
    versions.create(project, store=store)
    with lineage.task("wrong"):
        with pytest.raises(DataLineageError) as both:
            lineage.add_input_project(project, version_id=1, version_num=1)
        with pytest.raises(DataLineageError) as dataset_num:
            lineage.add_input_dataset(project, version_num=2)
        with pytest.raises(NotFoundError) as missing:
            lineage.add_input_project(project, version_num=5)
        with pytest.raises(NotFoundError) as other_project:
            lineage.add_input_project(tmp_path / "bikes", version_id=1)
    assert (both.value.place, both.value.message) == (
        "add_input_project",
        "give version_id or version_num, not both",
    )
    assert dataset_num.value.message == "version_num is only for projects, not a dataset"
    assert missing.value.message == f"project '{project}' has no version with version_num 5"
    assert other_project.value.message == f"project '{tmp_path / 'bikes'}' has no version with id 1"
    assert isinstance(missing.value, WorkflowError)


def test_without_a_task_an_add_call_says_how_to_start_one(lineage):
    with pytest.raises(NoCurrentTaskError) as raised:
        lineage.add_input_folder("/data")
    assert raised.value.to_dict() == {
        "code": "no_current_task",
        "place": "add_input_folder",
        "message": "no task is running and no task_id was given",
        "hint": "wrap the work in `with lineage.task(name):` or pass task_id=",
    }


def test_card_settings_customise_the_relation_card_and_the_main_node(lineage, store, tmp_path):
    relation = CardSettings(title="Weights", description="best epoch", icon="model",
                            icon_color="#fff", icon_bg_color="#7c3aed", url="/models/3",
                            url_title="open model")  # fmt: skip
    with lineage.task("train"):
        lineage.add_output_file(tmp_path / "best.onnx", card=relation)
        lineage.add_input_folder(
            tmp_path / "raw", task_card={"title": "Training #4", "url": "/t/4"}
        )
    task, weights, raw = lineage_graph(store)["nodes"]
    assert task["settings"] == {"title": "Training #4", "url": "/t/4"}
    assert weights["settings"] == {
        "title": "Weights",
        "description": "best epoch",
        "icon": "model",
        "icon_color": "#fff",
        "icon_bg_color": "#7c3aed",
        "url": "/models/3",
        "url_title": "open model",
    }
    assert raw["settings"] == {}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"url": "https://example.org/x"},
         "'url' must be a relative address starting with '/', found 'https://example.org/x'"),
        ({"url": "//host/x"},
         "'url' must be a relative address starting with '/', found '//host/x'"),
        ({"url_title": "open"}, "'url_title' is given without 'url'"),
        ({"icon_color": "#fff"}, "'icon_color' is given without 'icon'"),
        ({"icon": "model", "icon_bg_color": "blue"},
         "'icon_bg_color' must be a hex colour like #1e88e5 or #fff, found 'blue'"),
        ({"icon": "rocket"}, "unknown icon 'rocket'"),
        ({"title": ""}, "'title' must be a non-empty text, found ''"),
        ({"colour": "#fff"}, "unknown card setting(s) 'colour'"),
    ],
)  # fmt: skip
def test_invalid_card_settings_are_refused_before_anything_is_written(
    lineage, store, settings, message
):
    with lineage.task("t"):
        with pytest.raises(CardSettingsError) as raised:
            lineage.add_output_app("app-1", card=settings)
        with pytest.raises(CardSettingsError) as for_task:
            lineage.add_output_app("app-1", task_card=settings)
    assert (raised.value.place, raised.value.message) == ("add_output_app: card", message)
    assert for_task.value.place == "add_output_app: task_card"
    assert lineage_graph(store)["links"] == []


def unreachable_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"postgresql+psycopg://nobody@127.0.0.1:{port}/lineage"  # nothing listens there


def test_a_store_failure_is_logged_and_the_work_goes_on(monkeypatch, caplog):
    pytest.importorskip("psycopg")
    url = unreachable_url()
    monkeypatch.setenv("VISIONFLOW_LINEAGE_URL", url)
    lenient = Lineage(strict=False)
    with caplog.at_level(logging.WARNING, logger="visionflow.lineage"):
        assert lenient.start_task("offline") is None
    assert (
        caplog.records[0]
        .getMessage()
        .startswith(
            f"lineage: could not start task 'offline' (the work goes on): {url}: "
            "cannot open the lineage store: OperationalError"
        )
    )


def test_a_strict_lineage_raises_the_store_failure(monkeypatch):
    pytest.importorskip("psycopg")
    monkeypatch.setenv("VISIONFLOW_LINEAGE_URL", unreachable_url())
    monkeypatch.setenv("VISIONFLOW_LINEAGE_STRICT", "1")
    with pytest.raises(StoreError) as raised:
        Lineage().start_task("offline")
    assert raised.value.code == "lineage_store_error"
