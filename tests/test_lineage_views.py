"""The lineage page's views (whole store, a project, a task), each card's default links and
the previews of image datasets, on a real SQLite store with real image folders, rendered in
headless Chromium."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from html import unescape
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data
from typer.testing import CliRunner

pytest.importorskip("sqlalchemy")

from chromium import CHROMIUM_FLAGS, needs_chromium
from visionflow.cli import app
from visionflow.datasets import run_dataset
from visionflow.lineage import versions
from visionflow.lineage.api import Lineage
from visionflow.lineage.errors import DataLineageError, NotFoundError
from visionflow.lineage.page import render_page
from visionflow.lineage.store import Store
from visionflow.lineage.thumbnails import SIDE
from visionflow.lineage.views import card_links, lineage_page, lineage_views

runner = CliRunner(env={"COLUMNS": "200"})
PICTURES = ["astronaut", "camera", "chelsea", "coffee", "rocket"]  # name order: the first shown
TRAIN = 'train <v2> & "b"'  # a name the page must escape


def write_pictures(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True)
    for name in names:
        image = getattr(data, name)()
        image = image.astype(np.uint8) * 255 if image.dtype == bool else image  # the horse
        cv2.imwrite(str(folder / f"{name}.png"), image if image.ndim == 2 else image[:, :, ::-1])


@pytest.fixture
def recorded(tmp_path, monkeypatch) -> dict:
    """'import' reads raw/ and writes the project; TRAIN reads its version 1 and writes
    weights and a reports folder that is gone; 'unrelated' reads another project, one of
    whose two pictures was deleted since; 'report' reads the task TRAIN."""
    monkeypatch.delenv("VISIONFLOW_LINEAGE_URL", raising=False)
    monkeypatch.setenv("VISIONFLOW_HOME", str(tmp_path / "home"))
    store = Store()
    lineage = Lineage(store, strict=True)
    cars = tmp_path / "cars & <trucks> 'x'"
    write_pictures(cars / "images", PICTURES)
    (cars / "labels.json").write_text("{}")
    other = tmp_path / "other"
    write_pictures(other, ["coins", "horse"])
    (tmp_path / "raw").mkdir()
    log = tmp_path / "train.log"
    log.write_text("epoch 1\n")
    (tmp_path / "best.onnx").write_bytes(b"weights")
    versions.create(cars, store=store)
    with lineage.task("import") as imported:
        lineage.add_input_folder(tmp_path / "raw")
        lineage.add_output_project(cars)
    with lineage.task(TRAIN, meta={"log": str(log)}) as train:
        lineage.add_input_project(cars, version_num=1)
        lineage.add_output_file(tmp_path / "best.onnx", model_weight=True)
        lineage.add_output_folder(tmp_path / "reports")
    with lineage.task("unrelated") as unrelated:
        lineage.add_input_project(other)
    (other / "coins.png").unlink()
    with lineage.task("report") as report:
        lineage.add_input_task(train)
    yield {
        "store": store, "root": tmp_path, "cars": cars, "other": other, "log": log,
        "import": imported, "train": train, "unrelated": unrelated, "report": report,
    }  # fmt: skip
    store.close()


def sections(html: str) -> dict[str, str]:
    """Each view's id -> its HTML."""
    found = re.findall(r'<section class="view[^"]*" id="([^"]+)">(.*?)</section>', html, re.S)
    return dict(found)


def cards(view: str) -> dict[str, str]:
    """Card id -> the card's HTML (the cards of one view)."""
    found = re.findall(r'<g class="card" data-id="([^"]+)"[^>]*>(.*?)</g></g>(?=<g class=|\n)',
                       view, re.S)  # fmt: skip
    return dict(found)


def card_names(view: str) -> list[str]:
    tips = re.findall(r'<g class="card" data-id="[^"]+" data-kind="[^"]+"><title>([^\n<]+)', view)
    return sorted(unescape(tip) for tip in tips)


def links_of(card: str) -> dict[str, str]:
    found = re.findall(r'<a class="card-link" data-link="([^"]+)" href="([^"]*)">', card)
    return {label: unescape(href) for label, href in found}


def test_the_project_view_shows_the_tasks_that_read_and_wrote_it_and_no_other(recorded):
    html, views = lineage_views(recorded["store"], recorded["cars"], None, 3)
    main = sections(html)[views[0].anchor]
    assert card_names(main) == sorted([
        "import", TRAIN, "raw", "cars & <trucks> 'x'", "cars & <trucks> 'x'", "best.onnx",
        "reports",
    ])  # fmt: skip
    assert "unrelated" not in card_names(main) and "report" not in card_names(main)
    assert views[0].title == "Project cars & <trucks> 'x'"
    project_id = int(views[0].anchor.rsplit("-", 1)[1])
    by_id, _ = lineage_views(recorded["store"], project_id, None, 3)  # by its id: the same
    assert card_names(sections(by_id)[views[0].anchor]) == card_names(main)


def test_the_task_view_has_its_cards_and_the_tasks_one_card_away(recorded):
    html, views = lineage_views(recorded["store"], None, recorded["train"], 3)
    assert views[0].anchor == f"view-task-{recorded['train']}"
    # 'report' names TRAIN as its input; 'import' wrote the project without a version: not
    # the card TRAIN read
    assert card_names(sections(html)[views[0].anchor]) == sorted(
        [TRAIN, "cars & <trucks> 'x'", "best.onnx", "reports", "report"]
    )
    report_view = sections(html)[f"view-task-{recorded['report']}"]
    # and back: 'report' names TRAIN, which comes with its cards
    assert card_names(report_view) == sorted(
        [TRAIN, "report", "cars & <trucks> 'x'", "best.onnx", "reports"]
    )


def test_the_whole_store_holds_every_task_and_a_view_of_every_card(recorded):
    html, views = lineage_views(recorded["store"], None, None, 3)
    assert views[0].anchor == "view-all"
    main = sections(html)["view-all"]
    tasks = re.findall(r'data-kind="task"><title>([^\n<]+)', main)
    assert sorted(map(unescape, tasks)) == sorted(["import", TRAIN, "unrelated", "report"])
    # one view per card (a project at two versions is one card of the store: one view)
    nodes = {re.sub(r"-v\d+$", "", card) for card in cards(main)}
    assert set(sections(html)) == {"view-all"} | {f"view-{node}" for node in nodes}
    assert html.count('class="view main"') == 1
    back = '<p class="back"><a href="#view-all">← Whole lineage store</a></p>'
    assert all(back in view for anchor, view in sections(html).items() if anchor != "view-all")


def test_cards_link_their_log_folder_file_location_and_view(recorded):
    root, html = recorded["root"], lineage_page(recorded["store"], project=recorded["cars"])
    main = next(iter(sections(html).values()))
    found = cards(main)
    project, version = sorted(c for c in found if c.startswith("project-"))
    train, weights = f"task-{recorded['train']}", next(c for c in found if c.startswith("file-"))
    assert links_of(found[project]) == {"folder": recorded["cars"].as_uri()}  # its own view
    assert links_of(found[version]) == {"folder": recorded["cars"].as_uri()}
    assert links_of(found[train]) == {
        "view": f"#view-task-{recorded['train']}", "log": recorded["log"].as_uri(),
    }  # fmt: skip
    assert links_of(found[weights]) == {
        "view": f"#view-{weights}",
        "file": (root / "best.onnx").as_uri(),
        "location": root.as_uri(),
    }
    reports = next(c for c in found.values() if "<title>reports" in c)
    assert '<g class="card-missing"><text' in reports and ">missing<" in reports
    assert "card-link" not in reports.split("card-missing")[1]  # the folder is not linked
    # every view link leads to a view of the page
    for anchor in re.findall(r'<a [^>]*href="#([^"]+)"', html):
        assert anchor in sections(html)


def test_a_dataset_run_links_its_run_record_and_workflow(tmp_path, monkeypatch):
    monkeypatch.setenv("VISIONFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("VISIONFLOW_LINEAGE_URL", raising=False)
    write_pictures(tmp_path / "photos", ["astronaut"])
    workflow = tmp_path / "width.yaml"
    workflow.write_text(
        "inputs: [{type: image, name: image}]\n"
        "steps:\n  - {type: PropertyDefinition, name: size, data: $inputs.image,"
        " property: width}\n"
        "outputs: [{type: JsonField, name: width, selector: $steps.size.output}]\n"
    )
    store = Store()
    run_dataset(workflow, tmp_path / "photos", tmp_path / "out", progress=False,
                lineage=Lineage(store, strict=True))  # fmt: skip
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    html, views = lineage_views(store, None, run["task_id"], 0)
    task = cards(sections(html)[views[0].anchor])[f"task-{run['task_id']}"]
    assert links_of(task) == {
        "run": (tmp_path / "out" / "run.json").as_uri(),
        "workflow": workflow.as_uri(),
    }
    assert "<use" not in html  # no previews asked
    store.close()


def decoded(url: str) -> np.ndarray:
    assert url.startswith("data:image/jpeg;base64,")
    raw = np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8)
    return cv2.imdecode(raw, cv2.IMREAD_COLOR)


@pytest.mark.parametrize("count", [2, 4])
def test_image_datasets_show_at_most_count_small_previews_of_existing_files(recorded, count):
    html = lineage_page(recorded["store"], thumbnails=count)
    pictures = dict(re.findall(r'<image id="([^"]+)" href="([^"]+)"', html))
    main = cards(sections(html)["view-all"])
    uses = {card: re.findall(r'<use class="thumbnail" href="#([^"]+)"', body)
            for card, body in main.items()}  # fmt: skip
    project = next(c for c in main if re.fullmatch(r"project-\d+", c) and "<title>cars" in main[c])
    version = next(c for c in main if re.fullmatch(r"project-\d+-v\d+", c))
    other = next(c for c in main if "<title>other" in main[c])
    assert len(uses[project]) == len(uses[version]) == count
    assert len(uses[other]) == 1  # coins.png was deleted: only horse.png
    assert [len(found) for card, found in uses.items() if card not in (project, version, other)]\
        == [0] * (len(main) - 3)  # tasks, files, folders: none  # fmt: skip
    shown = [decoded(pictures[key]) for key in uses[project]]
    assert all(max(image.shape[:2]) == SIDE for image in shown)
    # the first pictures by name, downscaled: each is nearest to its own source picture
    sources = [cv2.imread(str(recorded["cars"] / "images" / f"{n}.png")) for n in PICTURES]
    for number, image in enumerate(shown):
        size = (image.shape[1], image.shape[0])
        small = [cv2.resize(s, size, interpolation=cv2.INTER_AREA).astype(int) for s in sources]
        distances = [np.abs(image.astype(int) - source).mean() for source in small]
        assert int(np.argmin(distances)) == number and distances[number] < 10
    # each picture kept once per page: the project and its version show the same ones
    assert uses[project] == uses[version] and len(pictures) == len(set(pictures.values()))


def test_a_folder_without_pictures_or_gone_has_no_preview_and_no_failure(recorded):
    shutil.rmtree(recorded["cars"])
    for image in recorded["other"].iterdir():
        image.unlink()
    html = lineage_page(recorded["store"])
    assert "<use" not in html and "<image" not in html
    assert 'width="230" height="84" rx' in html  # no row kept for previews


def test_names_are_escaped_everywhere(recorded):
    html = lineage_page(recorded["store"], task=recorded["train"])
    assert "<v2>" not in html and "<trucks>" not in html
    title = "train &lt;v2&gt; &amp; &quot;b&quot;"
    assert f"<h1>Task {recorded['train']}: {title}</h1>" in html
    assert "cars%20%26%20%3Ctrucks%3E%20%27x%27" in html  # the folder's file:// address


def test_wrong_asks_are_clear_errors(recorded):
    store = recorded["store"]
    with pytest.raises(NotFoundError) as missing:
        lineage_page(store, project=recorded["root"] / "nowhere")
    assert missing.value.message == f"no task read or wrote '{recorded['root'] / 'nowhere'}'"
    with pytest.raises(NotFoundError) as a_task:
        lineage_page(store, project=recorded["train"])
    assert a_task.value.message == (
        f"no project {recorded['train']} in the lineage store "
        f"({recorded['train']} is the task '{TRAIN}')"
    )
    with pytest.raises(DataLineageError, match="give a project or a task, not both"):
        lineage_page(store, project=recorded["cars"], task=recorded["train"])
    with pytest.raises(DataLineageError, match="thumbnails must be 0 to 4, found 5"):
        lineage_page(store, thumbnails=5)


def test_the_page_command_writes_each_view(recorded, tmp_path):
    page = tmp_path / "cars.html"
    result = runner.invoke(app, ["lineage", "page", "--project", str(recorded["cars"]), "-o",
                                 str(page)])  # fmt: skip
    assert result.output == f"wrote 7 cards and 5 links to {page}\n"
    assert page.read_text() == lineage_page(recorded["store"], project=recorded["cars"])
    result = runner.invoke(app, ["lineage", "page", "--task", str(recorded["train"]), "-o",
                                 str(page), "--thumbnails", "1"])  # fmt: skip
    assert result.output == f"wrote 5 cards and 4 links to {page}\n"
    # one picture: the version card's first, on the project's card of its view too
    assert page.read_text().count("<image ") == 1
    result = runner.invoke(app, ["lineage", "page", "--project", "nowhere", "-o", str(page)])
    assert result.exit_code == 1 and "no task read or wrote" in result.output
    both = ["--project", str(recorded["cars"]), "--task", str(recorded["train"])]
    result = runner.invoke(app, ["lineage", "page", *both, "-o", str(page)])
    assert result.exit_code == 1 and "give a project or a task, not both" in result.output


def test_a_log_given_as_an_address_is_linked_as_it_is():
    task = {"id": "task-1", "node_id": 1, "kind": "task", "key": "k", "meta": {
        "log_url": "https://ci.example.org/runs/7?view=log&full=1"}}  # fmt: skip
    links = card_links(task, {"nodes": [task], "links": []}, set())
    assert links == [{"label": "log", "href": "https://ci.example.org/runs/7?view=log&full=1"}]
    card = {**task, "name": "t", "model_weight": False, "status": None, "version": None,
            "settings": {}, "links": links}  # fmt: skip
    html = render_page({"nodes": [card], "links": []})
    assert 'href="https://ci.example.org/runs/7?view=log&amp;full=1"' in html


@needs_chromium
def test_each_view_renders_in_headless_chromium(recorded, tmp_path):
    page = tmp_path / "lineage.html"
    page.write_text(lineage_page(recorded["store"]))
    dom = subprocess.run(
        ["chromium", *CHROMIUM_FLAGS, "--dump-dom", page.as_uri()],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    titles = {unescape(t) for t in re.findall(r'class="card-title"[^>]*>([^<]+)<', dom)}
    assert {"import", TRAIN, "unrelated", "report", "best.onnx", "raw"} <= titles
    assert any(title.startswith("cars & <trucks>") for title in titles)  # cut to its card
    shots = {}
    for anchor in ("view-all", f"view-task-{recorded['train']}",
                   f"view-task-{recorded['unrelated']}"):  # fmt: skip
        shot = tmp_path / f"{anchor}.png"
        subprocess.run(
            ["chromium", *CHROMIUM_FLAGS, "--window-size=1200,800", f"--screenshot={shot}",
             f"{page.as_uri()}#{anchor}"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        shots[anchor] = cv2.imread(str(shot))
        assert len(np.unique(shots[anchor].reshape(-1, 3), axis=0)) > 20  # not blank
    # each anchor shows its own view, alone: the pictures differ
    first, second, third = shots.values()
    assert (first != second).any() and (second != third).any() and (first != third).any()
    # 'unrelated' reads 'other', whose one picture (the horse, black on white) is drawn
    horse = third[:, :, 0] < 40
    assert horse.sum() > 200
