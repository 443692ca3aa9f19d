"""``visionflow lineage list`` in the terminal and ``lineage show``: an HTML page with the
graph of cards, opened in real headless Chromium (a screenshot, the nodes and links)."""

from __future__ import annotations

import json
import re
import subprocess

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("sqlalchemy")

from chromium import CHROMIUM_FLAGS, needs_chromium
from visionflow.cli import app
from visionflow.lineage import versions
from visionflow.lineage.api import Lineage
from visionflow.lineage.page import CARD_H, CARD_W, GAP_X, GAP_Y, MARGIN, layout, render_page
from visionflow.lineage.store import Store

runner = CliRunner(env={"COLUMNS": "200"})


@pytest.fixture
def recorded(tmp_path, monkeypatch) -> dict[str, int]:
    """Two tasks: 'label' writes a project version that 'train' reads, with custom cards."""
    monkeypatch.delenv("VISIONFLOW_LINEAGE_URL", raising=False)
    monkeypatch.setenv("VISIONFLOW_HOME", str(tmp_path / "home"))
    store = Store()
    lineage = Lineage(store, strict=True)
    project = tmp_path / "cars"
    project.mkdir()
    (project / "labels.json").write_text("[]")
    version = versions.create(project, store=store)
    with lineage.task("label", card={"title": "Labelling", "url": "/jobs/4"}) as label:
        lineage.add_input_labeling_job("job-4")
        lineage.add_output_project(
            project,
            version_id=version.id,
            card={
                "title": "Cars",
                "icon": "star",
                "icon_bg_color": "#dc2626",
                "url": "/projects/cars",
                "url_title": "open project",
            },
        )
    with lineage.task("train") as train:
        lineage.add_input_project(project, version_num=1)
        lineage.add_output_file(tmp_path / "best.onnx", model_weight=True)
    store.close()
    return {"label": label, "train": train}


def test_lineage_list_shows_the_tasks(recorded):
    result = runner.invoke(app, ["lineage", "list"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if re.match(r"│ \d", line)]
    assert [line.split("│")[2].strip() for line in lines] == ["label", "train"]
    listed = json.loads(runner.invoke(app, ["lineage", "list", "--json"]).output)
    assert [(t["id"], t["name"], t["status"], t["inputs"], t["outputs"]) for t in listed] == [
        (recorded["label"], "label", "finished", 1, 1),
        (recorded["train"], "train", "finished", 1, 1),
    ]


def test_layers_put_each_card_after_the_cards_it_comes_from():
    graph = {
        "nodes": [{"id": i} for i in ("job", "label", "cars", "train", "best")],
        "links": [
            {"source": s, "target": t}
            for s, t in [("job", "label"), ("label", "cars"), ("cars", "train"), ("train", "best")]
        ],
    }
    assert layout(graph) == {
        "job": (0, 0),
        "label": (1, 0),
        "cars": (2, 0),
        "train": (3, 0),
        "best": (4, 0),
    }


def test_show_writes_a_self_contained_page_with_the_custom_cards(recorded, tmp_path):
    page = tmp_path / "lineage.html"
    result = runner.invoke(app, ["lineage", "show", "--output", str(page)])
    assert result.output == f"wrote 5 cards and 4 links to {page}\n"
    html = page.read_text()
    assert not re.search(r"(src|href)=\"(https?:)?//", html)  # nothing fetched from outside
    assert "<script" not in html
    assert 'href="/projects/cars"' in html and ">open project<" in html
    assert 'fill="#dc2626"' in html and ">Cars<" in html and ">Labelling<" in html


def test_show_one_task_keeps_its_cards_and_the_tasks_linked_to_them(recorded, tmp_path):
    page = tmp_path / "train.html"
    result = runner.invoke(
        app, ["lineage", "show", "--task", str(recorded["train"]), "-o", str(page)]
    )
    # train, its project and weights, and 'label' which wrote that project version
    assert result.output == f"wrote 5 cards and 4 links to {page}\n"
    missing = runner.invoke(app, ["lineage", "show", "--task", "99", "-o", str(page)])
    assert missing.exit_code == 1 and "no task 99 in the lineage store" in missing.output


@needs_chromium
def test_the_page_renders_in_headless_chromium(recorded, tmp_path):
    page = tmp_path / "lineage.html"
    runner.invoke(app, ["lineage", "show", "--output", str(page)])
    shot = tmp_path / "lineage.png"
    subprocess.run(
        [
            "chromium",
            *CHROMIUM_FLAGS,
            "--window-size=1400,500",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = cv2.imread(str(shot))
    assert pixels.shape == (500, 1400, 3)
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 20  # text, cards, icons, curves: not a blank page
    assert ((pixels == (0x26, 0x26, 0xDC)).all(axis=2)).sum() > 300  # the red icon of 'Cars'
    dom = subprocess.run(
        ["chromium", *CHROMIUM_FLAGS, "--dump-dom", page.as_uri()],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    # the page also holds the view of each card (shown by its #anchor): the main one here
    [dom] = re.findall(r'<section class="view main".*?</section>', dom, re.S)
    cards = re.findall(r'<g class="card" data-id="([^"]+)" data-kind="([^"]+)"', dom)
    assert sorted(kind for _, kind in cards) == ["file", "labeling_job", "project", "task", "task"]
    links = re.findall(r'data-source="([^"]+)" data-target="([^"]+)"', dom)
    ids = {card for card, _ in cards}
    assert len(links) == 4 and all(s in ids and t in ids for s, t in links)


# clean -> labels -> train, and train also reads clean directly: that link skips a column
SKIPPING = {
    "nodes": [
        {"id": i, "kind": k, "name": n, "key": n, "model_weight": False, "status": None,
         "version": None, "settings": {}, "meta": {}}
        for i, k, n in [
            ("clean", "task", "Clean labels"),
            ("labels", "dataset", "labels"),
            ("train", "task", "TRAIN YOLO WITH MOSAIC AUGMENTATION ON EVERY IMAGE"),
        ]
    ],
    "links": [
        {"source": s, "target": t, "direction": d, "meta": {}}
        for s, t, d in [("clean", "labels", "output"), ("labels", "train", "input"),
                        ("clean", "train", "input")]
    ],
}  # fmt: skip


def numbers(text: str) -> list[tuple[float, float]]:
    values = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", text)]
    return list(zip(values[::2], values[1::2], strict=True))


def test_a_link_that_skips_a_column_passes_beside_the_cards_between():
    html = render_page(SKIPPING)
    cards = [
        tuple(map(int, found))
        for found in re.findall(r'<rect x="(\d+)" y="(\d+)" width="230" height="84" rx', html)
    ]
    [long] = re.findall(
        r'class="link input long" data-source="clean" data-target="train" d="([^"]+)"', html
    )
    # every point of the curve (a Bezier stays inside its points' hull) is outside the cards
    inside = [
        (px, py)
        for px, py in numbers(long)
        for x, y in cards
        if x < px < x + CARD_W and y < py < y + CARD_H
    ]
    assert inside == []
    assert layout(SKIPPING) == {"clean": (0, 0), "labels": (1, 0), "train": (2, 0)}


def test_long_texts_are_cut_to_the_card_and_whole_in_its_tooltip():
    html = render_page(SKIPPING)
    [title] = re.findall(r'<text class="card-title"[^>]*>([^<]+)</text>', html)[2:]
    assert title.startswith("TRAIN YOLO") and title.endswith("…")
    assert f"<title>{SKIPPING['nodes'][2]['name']}\ntask" in html


def test_a_long_description_keeps_its_beginning_and_a_long_path_its_end():
    long_path = "/data/teams/vision/projects/2026/cars/annotations/final/labels.json"
    nodes = [
        {
            **SKIPPING["nodes"][0],
            "settings": {"description": "epochs 40, batch 16, imgsz 640, mosaic on, lr 0.01"},
        },
        {**SKIPPING["nodes"][1], "key": long_path},
    ]
    html = render_page({"nodes": nodes, "links": []})
    described, path = re.findall(r'<text class="card-description"[^>]*>([^<]+)</text>', html)
    assert described.startswith("epochs 40, batch 16") and described.endswith("…")
    assert path.startswith("…") and path.endswith("final/labels.json")


def test_show_for_a_card_that_is_not_a_task_names_its_kind(recorded, tmp_path):
    page = tmp_path / "x.html"
    project = recorded["label"] + 2  # label, job-4, then the project card
    result = runner.invoke(app, ["lineage", "show", "--task", str(project), "-o", str(page)])
    assert result.exit_code == 1
    assert f"no task {project} in the lineage store ({project} is the project 'cars')" in (
        result.output
    )
    assert not page.exists()


def test_an_unusable_visionflow_home_is_reported_without_a_traceback(monkeypatch):
    monkeypatch.delenv("VISIONFLOW_LINEAGE_URL", raising=False)
    monkeypatch.setenv("VISIONFLOW_HOME", "/dev/null/vf")
    for command in (["lineage", "list"], ["lineage", "show", "-o", "/dev/null"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 1, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert "error [lineage_store_error] at sqlite:////dev/null/vf/lineage.db" in result.output
        assert "cannot make the folder of the lineage store: Not a directory" in result.output


@needs_chromium
def test_long_links_and_long_titles_render_inside_their_places(tmp_path):
    page = tmp_path / "skipping.html"
    page.write_text(render_page(SKIPPING))
    shot = tmp_path / "skipping.png"
    subprocess.run(
        ["chromium", *CHROMIUM_FLAGS, "--window-size=1100,400", f"--screenshot={shot}",
         page.as_uri()],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    pixels = cv2.imread(str(shot)).astype(int)
    svg_top = svg_origin(pixels)
    # the column of 'labels' has a free slot below it, and the long link is drawn across it
    x = 20 + 1 + MARGIN + 1 * (CARD_W + GAP_X)  # body margin, svg border, the column
    y = svg_top + MARGIN + 1 * (CARD_H + GAP_Y) + CARD_H // 2
    slot = pixels[y - 3 : y + 4, x + 20 : x + CARD_W - 20]
    grey = (abs(slot - (0xB8, 0xA3, 0x94)).sum(axis=2) < 40).any(axis=0)  # the link colour
    assert grey.mean() > 0.5  # dashed
    # right of the card of 'train' (the last column), in the drawing's margin: only white
    right = 20 + 1 + MARGIN + 2 * (CARD_W + GAP_X) + CARD_W + 2
    beside = pixels[svg_top + MARGIN : svg_top + MARGIN + CARD_H, right : right + MARGIN - 4]
    assert (beside >= 250).all()


def svg_origin(pixels) -> int:
    """The top of the drawing: the first row of the svg's light border."""
    border = (abs(pixels - (0xF0, 0xE8, 0xE2)).sum(axis=2) < 12).sum(axis=1)
    return int(next(i for i, n in enumerate(border) if n > 300))
