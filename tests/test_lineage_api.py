"""The lineage API: tasks and the cards they read and wrote, card settings, their errors."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

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
        lenient.finish_task()  # a task that was not recorded: only forgotten
    assert (
        lineage_records(caplog)[0]
        .getMessage()
        .startswith(
            f"lineage: could not start task 'offline' (the work goes on): {url}: "
            "cannot open the lineage store: OperationalError"
        )
    )


def test_a_database_that_takes_the_connection_and_never_answers_does_not_hang_the_work(
    monkeypatch, caplog
):
    pytest.importorskip("psycopg")
    with socket.socket() as silent:  # accepts (the kernel's backlog), never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        monkeypatch.setenv("VISIONFLOW_LINEAGE_URL", f"postgresql+psycopg://u@127.0.0.1:{port}/db")
        lenient = Lineage(strict=False)
        with caplog.at_level(logging.WARNING, logger="visionflow.lineage"):  # noqa: SIM117
            with lenient.task("waiting") as task_id:  # gives up after the connect timeout
                assert task_id is None
    assert (
        lineage_records(caplog)[0]
        .getMessage()
        .startswith("lineage: could not start task 'waiting'")
    )


def lineage_records(caplog) -> list[logging.LogRecord]:
    """The lineage's own records (a Ray session left by another test logs on a thread of its
    own, at any time)."""
    return [record for record in caplog.records if record.name.startswith("visionflow.lineage")]


def test_a_strict_lineage_raises_the_store_failure(monkeypatch):
    pytest.importorskip("psycopg")
    monkeypatch.setenv("VISIONFLOW_LINEAGE_URL", unreachable_url())
    monkeypatch.setenv("VISIONFLOW_LINEAGE_STRICT", "1")
    with pytest.raises(StoreError) as raised:
        Lineage().start_task("offline")
    assert raised.value.code == "lineage_store_error"


@pytest.mark.parametrize("broken", ["postgresql", "sqlite-folder"])
def test_a_store_failure_leaves_the_work_in_the_block_alone(broken, tmp_path, caplog, monkeypatch):
    if broken == "postgresql":
        pytest.importorskip("psycopg")
    url = unreachable_url() if broken == "postgresql" else f"sqlite:///{tmp_path}"  # a folder
    monkeypatch.setenv("VISIONFLOW_LINEAGE_URL", url)
    lenient = Lineage(strict=False)
    with caplog.at_level(logging.WARNING, logger="visionflow.lineage"):  # noqa: SIM117
        with lenient.task("offline") as task_id:
            assert task_id is None
            assert lenient.add_input_folder(tmp_path / "raw") is None
            assert lenient.add_output_file(tmp_path / "out.csv", meta={"rows": 3}) is None
            worked = True  # reached: nothing inside the block raised
    assert worked
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        "lineage: could not start task 'offline'"  # then nothing: the task was not recorded
    ]
    with pytest.raises(NoCurrentTaskError):  # and it is not current any more
        lenient.add_input_folder(tmp_path / "raw")


def test_argument_mistakes_raise_even_in_a_task_the_store_did_not_record(tmp_path, monkeypatch):
    monkeypatch.setenv("VISIONFLOW_LINEAGE_URL", f"sqlite:///{tmp_path}")  # a folder: fails
    lenient = Lineage(strict=False)
    with lenient.task("offline"), pytest.raises(DataLineageError) as raised:
        lenient.add_input_task("abc")
    assert raised.value.message == "a task is given by its id (a number), found 'abc'"


def test_meta_that_json_cannot_hold_is_an_argument_mistake(lineage, store, tmp_path):
    with lineage.task("t"), pytest.raises(DataLineageError) as raised:
        lineage.add_output_file(tmp_path / "a", meta={"when": object()})
    assert raised.value.place == "add_output_file"
    assert raised.value.message.startswith("meta is kept as JSON and cannot hold this: ")
    assert raised.value.hint == "use texts, numbers, booleans, None, and lists and dicts of them"
    with pytest.raises(DataLineageError):
        lineage.start_task("t", meta={"ratio": float("nan")})
    assert lineage_graph(store)["links"] == []


def test_a_task_link_needs_another_task_s_id(lineage):
    with lineage.task("t") as task_id:
        with pytest.raises(DataLineageError) as not_an_id:
            lineage.add_input_task("abc")
        with pytest.raises(DataLineageError) as itself:
            lineage.add_input_task(task_id)
    assert (not_an_id.value.place, not_an_id.value.hint) == (
        "add_input_task",
        "use the id start_task() returned, or one `visionflow lineage list` shows",
    )
    assert itself.value.message == f"task {task_id} cannot be its own input"


def test_an_inner_task_gives_the_outer_one_back(lineage, store, tmp_path):
    with lineage.task("outer"):
        with lineage.task("inner"):
            lineage.add_output_folder(tmp_path / "a")
        lineage.add_output_folder(tmp_path / "b")
    assert edges(store) == [
        ("task:inner", "output", "folder:a"),
        ("task:outer", "output", "folder:b"),
    ]


def test_two_tasks_in_two_threads_each_record_their_own(lineage, store, tmp_path):
    started = threading.Barrier(2)
    errors: dict[str, BaseException] = {}

    def work(name: str) -> None:
        with lineage.task(name):
            started.wait()  # both tasks are running now
            lineage.add_input_folder(tmp_path / f"{name}-in")
            # a pool thread that inherited this context finds this task...
            with ThreadPoolExecutor(1) as pool:
                context = contextvars.copy_context()
                pool.submit(context.run, lineage.add_output_file, tmp_path / f"{name}.csv").result()
                # ...one that did not must not guess between the two
                try:
                    pool.submit(lineage.add_output_file, tmp_path / "lost.csv").result()
                except NoCurrentTaskError as error:
                    errors[name] = error
            started.wait()  # neither finishes before both tried

    threads = [threading.Thread(target=work, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(edges(store)) == [
        ("folder:a-in", "input", "task:a"),
        ("folder:b-in", "input", "task:b"),
        ("task:a", "output", "file:a.csv"),
        ("task:b", "output", "file:b.csv"),
    ]
    assert sorted(errors) == ["a", "b"]
    assert errors["a"].message == "2 tasks are running in this process and none in this context"
    assert errors["a"].hint.startswith("pass task_id=")


def test_with_one_task_running_a_thread_without_its_context_finds_it(lineage, store, tmp_path):
    with lineage.task("only"), ThreadPoolExecutor(1) as pool:
        pool.submit(lineage.add_output_file, tmp_path / "x.csv").result()
    assert edges(store) == [("task:only", "output", "file:x.csv")]


def test_asyncio_tasks_each_record_against_their_own_task(lineage, store, tmp_path):
    async def work(name: str) -> None:
        with lineage.task(name):
            await asyncio.sleep(0.01)  # the other one starts its task meanwhile
            lineage.add_output_folder(tmp_path / name)

    async def both() -> None:
        await asyncio.gather(work("a"), work("b"))

    asyncio.run(both())
    assert sorted(edges(store)) == [
        ("task:a", "output", "folder:a"),
        ("task:b", "output", "folder:b"),
    ]
