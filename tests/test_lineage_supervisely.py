"""Supervisely's workflow API as its documentation ("MLOps Workflow integration") writes it:
the document's code examples, as written apart from the import line and the ids, recorded
in a real store (SQLite, and PostgreSQL where it is installed); the rows they write, the
settings as the document applies them, versions with Supervisely's filters, the page."""

from __future__ import annotations

import logging
import re
import subprocess

import pytest

pytest.importorskip("sqlalchemy")
import sqlalchemy as sa

import visionflow.lineage.supervisely as sly
from chromium import CHROMIUM_FLAGS, needs_chromium
from test_lineage_store import empty_postgres_database, postgres_server  # noqa: F401
from visionflow.graphs.layout import fit_text
from visionflow.lineage.errors import (
    CardSettingsError,
    DataLineageError,
    NoCurrentTaskError,
    NotFoundError,
)
from visionflow.lineage.page import CARD_W, render_page
from visionflow.lineage.queries import lineage_graph
from visionflow.lineage.schema import Link, Node
from visionflow.lineage.store import Store

# The document's workflow.py, as written; only its import line is changed (it also names
# FileInfo, which it never imports: the changed line brings it too).
WORKFLOW_PY = """
from typing import Optional
import visionflow.lineage.supervisely as sly; from visionflow.lineage.supervisely import FileInfo

def workflow_input(api: sly.Api, project_info: sly.ProjectInfo):
    try:
        api.app.workflow.add_input_project(project_info.id)
        sly.logger.debug(f"Workflow: Input project - {project_info.id}")
    except Exception as e:
        sly.logger.debug(f"Workflow: Failed to add input project to the workflow: {repr(e)}")

def workflow_output(
    api: sly.Api,
    project_info: Optional[sly.ProjectInfo] = None,
    file_info: Optional[FileInfo] = None,
):
    if project_info is None and file_info is None:
        sly.logger.warning(
            "Workflow: at least one of the `project_info` or `file_info` must be provided. "
            "Workflow output will not be processed."
        )
        return
    try:
        if project_info is not None:
            api.app.workflow.add_output_project(project_info.id)
            sly.logger.debug(f"Workflow: Output project - {project_info.id}")
    except Exception as e:
        sly.logger.debug(f"Workflow: Failed to add output project to the workflow: {repr(e)}")
    try:
        if file_info is not None:
            relation_settings = sly.WorkflowSettings(
                title=f"Project Archive: {file_info.name}",
                description="COCO format",
                icon="archive",
                icon_color="#ff4c9e",
                icon_bg_color="#ffe3ed",
                url=f"/files/{file_info.id}/true/?teamId={file_info.team_id}",
                url_title="Download",
            )
            meta = sly.WorkflowMeta(relation_settings=relation_settings)
            api.app.workflow.add_output_file(file_info, meta=meta)
            sly.logger.debug(f"Workflow: Output file - {file_infos[0]}")
    except Exception as e:
        sly.logger.debug(
            f"Workflow: Failed to add output file with project archive to the workflow: {repr(e)}"
        )
"""

# "Workflow technical implementation", then "How to customize cards": the import line changed
API_FROM_ENV = """
from visionflow.lineage.supervisely import Api
api = Api.from_env()
"""
CARD_SETTINGS = """
from visionflow.lineage.supervisely import WorkflowSettings
input_card_settings = WorkflowSettings(title="Train split", icon="collection-image")
from visionflow.lineage.supervisely import WorkflowMeta
input_card_settings = WorkflowMeta(relation_settings=input_card_settings)
"""
# "Something special for Pro and Enterprise subscribers": the `...` are the local project
VERSIONS = """
from visionflow.lineage.supervisely import Api
api = Api.from_env()
version_id = api.project.version.create(project_info, "as delivered", "first review")
restored = api.project.version.restore(project_info, version_id=version_id)
listed = api.project.version.get_list(project_info.id, filters=[
    {"field": "version", "operator": ">=", "value": 1},
])
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path, monkeypatch) -> str:
    monkeypatch.delenv("VISIONFLOW_LINEAGE_URL", raising=False)
    monkeypatch.delenv("TASK_ID", raising=False)
    monkeypatch.delenv("TEAM_ID", raising=False)
    monkeypatch.setenv("VISIONFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lineage.db'}"
    return empty_postgres_database(request.getfixturevalue("postgres_server"))


@pytest.fixture
def api(store_url, monkeypatch) -> sly.Api:
    monkeypatch.setenv("VISIONFLOW_LINEAGE_URL", store_url)
    namespace: dict = {}
    exec(API_FROM_ENV, namespace)
    yield namespace["api"]
    namespace["api"].lineage.store.close()


@pytest.fixture
def project(tmp_path):
    folder = tmp_path / "cars"
    folder.mkdir()
    (folder / "labels.json").write_text('{"car": 3}')
    return folder


def rows(store: Store) -> list[tuple]:
    """Each link as (task, direction, card kind, card name, relation settings)."""
    with store.transaction() as session:
        nodes = {node.id: node for node in session.scalars(sa.select(Node))}
        links = session.scalars(sa.select(Link).order_by(Link.id)).all()
        return [
            (
                nodes[link.task_id].name,
                link.direction,
                nodes[link.node_id].kind,
                nodes[link.node_id].name,
                link.card,
            )
            for link in links
        ]


def task_card(store: Store, task_id: int) -> dict:
    with store.transaction() as session:
        return session.get(Node, task_id).card


def test_the_documents_workflow_module_records_its_input_and_outputs(api, project, caplog):
    module: dict = {"__name__": "workflow"}
    exec(WORKFLOW_PY, module)
    with api.lineage.task("export to COCO"), caplog.at_level(logging.DEBUG, "visionflow"):
        project_info = api.project.get_info_by_path(project)
        res_project_info = api.project.get_info_by_path("cars-clean")
        file_info = api.file.get_info_by_path(api.team_id, "exports/cars.zip")
        module["workflow_input"](api, project_info)  # as main.py calls them
        module["workflow_output"](api, res_project_info, file_info)
    archive = {
        "title": "Project Archive: cars.zip",
        "description": "COCO format",
        "icon": "archive",
        "icon_color": "#ff4c9e",
        "icon_bg_color": "#ffe3ed",
        "url": f"/files/{file_info.id}/true/?teamId=1",
        "url_title": "Download",
    }
    assert rows(api.lineage.store) == [
        ("export to COCO", "input", "project", "cars", {}),
        ("export to COCO", "output", "project", "cars-clean", {}),
        ("export to COCO", "output", "file", "cars.zip", archive),
    ]
    messages = [
        r.getMessage() for r in caplog.records if r.name == "visionflow.lineage.supervisely"
    ]
    assert messages == [
        f"Workflow: Input project - {project_info.id}",
        f"Workflow: Output project - {res_project_info.id}",
        # the document's own slip (file_infos) fails after the file was recorded
        "Workflow: Failed to add output file with project archive to the workflow: "
        "NameError(\"name 'file_infos' is not defined\")",
    ]


def test_entities_are_named_by_id_info_or_path_and_keep_their_id(api, project):
    by_path = api.project.get_info_by_path(project)
    assert by_path == sly.ProjectInfo(by_path.id, "cars", str(project))
    assert api.project.get_info_by_path(str(project)) == by_path
    assert api.project.get_info_by_id(by_path.id) == by_path
    job = api.labeling_job.get_info_by_name("review cars")
    assert api.labeling_job.get_info_by_id(job.id) == job
    with pytest.raises(NotFoundError) as wrong:
        api.dataset.get_info_by_id(by_path.id)
    assert wrong.value.message == (
        f"no dataset with id {by_path.id} in the lineage store ({by_path.id} is the project 'cars')"
    )
    assert wrong.value.hint == "api.dataset.get_info_by_path(path) gives a dataset its id"
    with pytest.raises(NotFoundError, match="no team 7 here: this store has one team, 1"):
        api.file.get_info_by_path(7, "exports/cars.zip")


def test_every_call_of_the_document_with_local_ids(api, project, tmp_path):
    wf = api.app.workflow
    cars = api.project.get_info_by_path(project)
    train = api.dataset.get_info_by_path(project / "train")
    weights = api.file.get_info_by_path(api.team_id, "runs/best.onnx")
    job = api.labeling_job.get_info_by_name("review cars")
    earlier = api.lineage.start_task("label cars")
    api.lineage.finish_task(earlier)
    with api.lineage.task("train") as task_id:
        later = api.lineage.start_task("serve")
        api.lineage.finish_task(later)
        assert api.task_id == task_id
        wf.add_input_project(cars.id)
        wf.add_input_dataset(train)
        wf.add_input_file(weights.id, model_weight=True)
        wf.add_input_file("configs/train.yaml")
        wf.add_input_folder("raw")
        wf.add_input_task(earlier)
        wf.add_input_job(job.id)
        wf.add_output_project(cars)
        wf.add_output_dataset(train.id)
        wf.add_output_file(weights, model_weight=True)
        wf.add_output_folder("runs")
        wf.add_output_app()
        wf.add_output_task(later)
        wf.add_output_job(job.id)
    assert [row[:4] for row in rows(api.lineage.store)] == [
        ("train", "input", "project", "cars"),
        ("train", "input", "dataset", "train"),
        ("train", "input", "file", "best.onnx"),
        ("train", "input", "file", "train.yaml"),
        ("train", "input", "folder", "raw"),
        ("train", "input", "task", "label cars"),
        ("train", "input", "labeling_job", "review cars"),
        ("train", "output", "project", "cars"),
        ("train", "output", "dataset", "train"),
        ("train", "output", "file", "best.onnx"),
        ("train", "output", "folder", "runs"),
        ("train", "output", "app_session", f"offline session of task {task_id}"),
        ("train", "output", "task", "serve"),
        ("train", "output", "labeling_job", "review cars"),
    ]
    with api.lineage.store.transaction() as session:
        assert session.get(Node, weights.id).model_weight is True
        assert session.get(Node, weights.id).key == str(tmp_path / "runs" / "best.onnx")


def test_task_id_is_the_current_task_else_the_apps_task_id(api, project, monkeypatch):
    other = api.lineage.start_task("labelling app")
    api.lineage.finish_task(other)
    monkeypatch.setenv("TASK_ID", str(other))  # what Supervisely sets for an app
    api.app.workflow.add_input_project(project)
    with api.lineage.task("inside") as inside:
        api.app.workflow.add_output_project(project)
        api.app.workflow.add_output_folder("out", task_id=other)
    assert [row[:2] for row in rows(api.lineage.store)] == [
        ("labelling app", "input"),
        ("inside", "output"),
        ("labelling app", "output"),
    ]
    assert inside != other


def test_a_call_outside_any_task_says_how_to_give_it_one(api, project, monkeypatch):
    """A script run outside a Supervisely app has no task: the error says the three ways."""
    with pytest.raises(NoCurrentTaskError) as raised:
        api.app.workflow.add_input_project(project)
    assert raised.value.place == "add_input_project"
    assert raised.value.message == (
        "no task is running, no task_id was given and TASK_ID is not set"
    )
    assert raised.value.hint.startswith("wrap the calls in `with api.lineage.task(name):`")
    monkeypatch.setenv("TASK_ID", "999999")  # an app's id from another platform
    with pytest.raises(NotFoundError) as raised:
        api.app.workflow.add_input_project(project)
    assert raised.value.message == "no task 999999 in the lineage store"
    assert (
        raised.value.hint == "`visionflow lineage list` shows the tasks of this store and their ids"
    )


def test_versions_are_for_inputs_and_refused_on_outputs(api, project):
    cars = api.project.get_info_by_path(project)
    version_id = api.project.version.create(cars)
    with api.lineage.task("train"):
        api.app.workflow.add_input_project(cars.id, version_num=1)
        api.app.workflow.add_input_project(version_id=version_id)  # names its project too
        for arguments in ({"version_id": version_id}, {"version_num": 1}):
            with pytest.raises(DataLineageError) as refused:
                api.app.workflow.add_output_project(cars.id, **arguments)
            which = next(iter(arguments))
            assert refused.value.message == (
                f"{which} is for inputs only: an output is the project as this task wrote it"
            )
            assert refused.value.place == "add_output_project"
        with pytest.raises(DataLineageError, match="give version_id or version_num, not both"):
            api.app.workflow.add_input_project(cars.id, version_id=version_id, version_num=1)
    graph = lineage_graph(api.lineage.store)
    projects = [node for node in graph["nodes"] if node["kind"] == "project"]
    assert [node["version"] for node in projects] == [{"id": version_id, "num": 1}]
    assert len(graph["links"]) == 1  # the same version twice: one link


def test_node_settings_of_the_last_call_win_and_relation_settings_stay_on_their_link(
    api, project, caplog
):
    wf = api.app.workflow
    first = sly.WorkflowSettings(title="Training", icon="chart", icon_bg_color="#2563eb")
    second = sly.WorkflowSettings(title="Training (epoch 40)", url="/runs/4")
    weights = sly.WorkflowSettings(title="Best weights", icon="star", description="mAP 0.61")
    with api.lineage.task("train") as task_id, caplog.at_level(logging.INFO, "visionflow"):
        wf.add_input_folder("raw", meta=sly.WorkflowMeta(node_settings=first))
        assert task_card(api.lineage.store, task_id) == first.card().as_dict()
        wf.add_output_file("best.onnx", meta=sly.WorkflowMeta(weights, second))
        # a project card is not customised (the document says so); its node settings apply
        wf.add_output_project(project, meta=sly.WorkflowMeta(relation_settings=weights))
    # the whole card replaced: the first call's icon is gone
    assert task_card(api.lineage.store, task_id) == {
        "title": "Training (epoch 40)",
        "url": "/runs/4",
    }
    assert [row[4] for row in rows(api.lineage.store)] == [
        {},
        {"title": "Best weights", "icon": "star", "description": "mAP 0.61"},
        {},
    ]
    links = lineage_graph(api.lineage.store)["links"]
    assert [link["settings"].get("title") for link in links] == [None, "Best weights", None]
    assert "add_output_project: a project card is not customised; relation_settings ignored" in (
        caplog.messages
    )


def test_meta_may_be_supervisely_s_dict_and_mistakes_are_refused(api):
    meta = {
        "customRelationSettings": {
            "icon": {"icon": "archive", "color": "#000000", "backgroundColor": "#FFFFFF"},
            "title": "Custom title",
            "mainLink": {"url": "/ecosystem", "title": "Link title"},
        }
    }
    settings = sly.WorkflowSettings(
        title="Custom title", icon="archive", icon_color="#000000",
        icon_bg_color="#FFFFFF", url="/ecosystem", url_title="Link title",
    )  # fmt: skip
    assert sly.WorkflowMeta(relation_settings=settings).as_dict == meta
    with api.lineage.task("t"):
        api.app.workflow.add_output_folder("out", meta=meta)
        with pytest.raises(CardSettingsError) as unknown:
            api.app.workflow.add_output_folder("out", meta={"customSettings": {}})
        with pytest.raises(CardSettingsError) as web:
            sly.WorkflowSettings(url="https://example.org")
    assert rows(api.lineage.store)[0][4] == settings.card().as_dict()
    assert (unknown.value.place, unknown.value.message) == (
        "add_output_folder: meta", "unknown meta key(s) 'customSettings'"
    )  # fmt: skip
    assert web.value.place == "WorkflowSettings"
    assert web.value.message.startswith("'url' must be a relative address starting with '/'")


def test_a_dict_as_supervisely_s_own_as_dict_writes_it_draws_the_same_card(api):
    """Supervisely's SDK writes the title as <h4>..</h4>, the description as <small>..</small>
    and the icon as zmdi-<name>; Supervisely's apps pass such dicts as they are."""
    written_by_supervisely = {
        "customRelationSettings": {
            "icon": {"icon": "zmdi-folder", "color": "#FFA500", "backgroundColor": "#FFE8BE"},
            "title": "<h4>Checkpoints</h4>",
            "description": "<small>best and last</small>",
            "mainLink": {"url": "/files/7/true", "title": "Open Folder"},
        }
    }
    settings = sly.WorkflowSettings(
        title="Checkpoints", description="best and last", icon="folder", icon_color="#FFA500",
        icon_bg_color="#FFE8BE", url="/files/7/true", url_title="Open Folder",
    )  # fmt: skip
    with api.lineage.task("t"):
        api.app.workflow.add_output_folder("out", meta=written_by_supervisely)
    assert rows(api.lineage.store)[0][4] == settings.card().as_dict()


def test_the_documents_card_settings_lines(api):
    namespace: dict = {}
    exec(CARD_SETTINGS, namespace)
    with api.lineage.task("t"):
        api.app.workflow.add_input_dataset("train", meta=namespace["input_card_settings"])
    assert rows(api.lineage.store)[0][4] == {"title": "Train split", "icon": "collection-image"}


def test_project_versions_with_supervisely_s_filters(api, project, tmp_path):
    namespace = {"project_info": api.project.get_info_by_path(project)}
    exec(VERSIONS, namespace)
    api = namespace["api"]
    version_id, cars = namespace["version_id"], namespace["project_info"]
    restored = namespace["restored"]
    assert restored.path == str(tmp_path / "cars-v1")
    assert (tmp_path / "cars-v1" / "labels.json").read_text() == '{"car": 3}'
    again = api.project.version.restore(cars.id, version_num=1)  # a new project each time
    assert (again.path, again.name) == (str(tmp_path / "cars-v1-2"), "cars-v1-2")
    assert again.id != restored.id
    assert [(v.id, v.project_id, v.version, v.title) for v in namespace["listed"]] == [
        (version_id, cars.id, 1, "as delivered")
    ]
    (project / "labels.json").write_text('{"car": 4}')
    second = api.project.version.create(cars.id, "reviewed")
    assert api.project.version.create(cars.id) == second  # unchanged: the same version
    assert api.project.version.get_id_by_number(cars.id, 2) == second

    def listed(*filters) -> list[int]:
        return [v.version for v in api.project.version.get_list(cars.id, filters=list(filters))]

    assert listed() == [1, 2]
    assert listed({"field": "version", "operator": "gt", "value": 1}) == [2]
    assert listed({"field": "id", "operator": "in", "value": [version_id]}) == [1]
    assert listed({"field": "title", "operator": "!=", "value": "reviewed"}) == [1]
    assert listed({"field": "createdAt", "operator": ">=", "value": "2000-01-01T00:00:00Z"}) == [
        1,
        2,
    ]
    assert listed(
        {"field": "version", "operator": ">=", "value": 1},
        {"field": "version", "operator": "<", "value": 2},
    ) == [1]
    with pytest.raises(DataLineageError) as unknown:
        listed({"field": "name", "operator": "=", "value": "x"})
    assert (unknown.value.place, unknown.value.message) == (
        "versions.get_list: filters[0]",
        "unknown field 'name'",
    )
    assert unknown.value.hint == "the fields are: id, version, title, description, createdAt"
    with pytest.raises(DataLineageError, match="unknown operator 'like'"):
        listed({"field": "title", "operator": "like", "value": "x"})


def test_a_web_address_is_not_a_store(tmp_path):
    with pytest.raises(DataLineageError) as raised:
        sly.Api(server_address="https://app.supervisely.com")
    assert raised.value.message == (
        "'https://app.supervisely.com' is not a database URL: here server_address names the "
        "lineage store"
    )
    api = sly.Api(server_address=f"sqlite:///{tmp_path / 'other.db'}")
    assert api.lineage.store.url == f"sqlite:///{tmp_path / 'other.db'}"
    api.lineage.store.close()


def test_icons_are_drawn_by_name_and_an_unknown_one_shows_its_name(api):
    html = recorded_page(api)
    assert '<g class="icon" data-icon="archive">' in html
    assert '<g class="icon" data-icon="cloud-sync">' in html
    assert re.search(r'<text class="icon-name"[^>]*>cloud-sync</text>', html)
    assert "<title>Project Archive: cars.zip</title>" in html  # on the link too


def recorded_page(api: sly.Api) -> str:
    archive = sly.WorkflowSettings(title="Project Archive: cars.zip", icon="archive",
                                   icon_color="#ff4c9e", icon_bg_color="#ffe3ed")  # fmt: skip
    node = sly.WorkflowSettings(title="Sync to cloud", icon="cloud-sync")
    with api.lineage.task("export"):
        api.app.workflow.add_output_file("cars.zip", meta=sly.WorkflowMeta(archive, node))
    return render_page(lineage_graph(api.lineage.store))


@needs_chromium
def test_the_page_with_supervisely_cards_renders_in_headless_chromium(api, tmp_path):
    page = tmp_path / "lineage.html"
    page.write_text(recorded_page(api))
    dom = subprocess.run(
        ["chromium", *CHROMIUM_FLAGS, "--dump-dom", page.as_uri()],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    icons = re.findall(r'<g class="icon" data-icon="([^"]+)"', dom)
    assert sorted(icons) == ["archive", "cloud-sync"]
    titles = re.findall(r'<text class="card-title"[^>]*>([^<]+)</text>', dom)
    archive = fit_text("Project Archive: cars.zip", 14, CARD_W - 66, bold=True)  # as cut
    assert sorted(titles) == [archive, "Sync to cloud"]
    assert re.search(r'class="icon-name"[^>]*>cloud-sync<', dom)


def test_a_store_that_is_down_is_logged_and_the_app_goes_on(tmp_path, monkeypatch, caplog):
    pytest.importorskip("psycopg")
    from test_lineage_api import unreachable_url

    monkeypatch.delenv("VISIONFLOW_LINEAGE_STRICT", raising=False)
    monkeypatch.setenv("VISIONFLOW_LINEAGE_URL", unreachable_url())
    api = sly.Api.from_env()
    with caplog.at_level(logging.WARNING, "visionflow"), api.lineage.task("export") as task_id:
        assert task_id is None  # not recorded
        assert api.app.workflow.add_input_project(5) is None
        assert api.app.workflow.add_output_file("cars.zip") is None
    assert caplog.messages[0].startswith("lineage: could not start task 'export'")


@pytest.mark.parametrize("url", ["/\\evil.example/x", "/\t/evil.example/y", "/\n/evil.example"])
def test_a_url_that_a_browser_reads_as_another_host_is_refused(url):
    # browsers read a backslash as '/' and drop tabs and newlines: each of these opens
    # evil.example (checked in Chromium), though it starts with a single '/'
    with pytest.raises(CardSettingsError) as refused:
        sly.WorkflowSettings(title="Download", url=url)
    assert refused.value.place == "WorkflowSettings"
    assert refused.value.message.startswith("'url' must be a relative address starting with '/'")


@pytest.mark.parametrize(
    ("field", "operator", "value", "expected"),
    [
        ("version", ">=", "1", "'version' takes whole numbers, found '1'"),
        ("id", "in", [1, "2"], "'id' takes whole numbers, found '2'"),
        ("version", "=", True, "'version' takes whole numbers, found True"),
        ("title", "=", 3, "'title' takes texts, found 3"),
    ],
)
def test_a_filter_value_of_the_wrong_type_is_refused_on_every_store(
    api, project, field, operator, value, expected
):
    # PostgreSQL does not compare an integer column with a text (SQLite converts it)
    cars = api.project.get_info_by_path(project)
    api.project.version.create(cars)
    item = {"field": field, "operator": operator, "value": value}
    with pytest.raises(DataLineageError) as refused:
        api.project.version.get_list(cars.id, filters=[item])
    assert refused.value.place == "versions.get_list: filters[0]"
    assert refused.value.message == expected


def test_a_material_icon_name_starting_with_a_digit_is_taken():
    # the icon font Supervisely's cards use has names such as 3d-rotation
    settings = sly.WorkflowSettings(title="Scan", icon="3d-rotation", icon_color="#ffffff")
    assert settings.card().as_dict() == {
        "title": "Scan",
        "icon": "3d-rotation",
        "icon_color": "#ffffff",
    }
