"""The picture of a workflow: ``visionflow graph``, the server's graph pages and
``Workflow._repr_html_``, checked in the generated data, the SVG's DOM and headless Chromium."""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import pytest
import yaml
from typer.testing import CliRunner

from chromium import CHROMIUM_FLAGS, needs_chromium
from visionflow import Workflow
from visionflow.cli import app
from visionflow.graphs.layout import layers
from visionflow.graphs.workflow_graph import plan_graph
from visionflow.graphs.workflow_page import render_fragment, render_page, render_svg

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FACES = EXAMPLES / "face_emotion.yaml"
SVG = "{http://www.w3.org/2000/svg}"
runner = CliRunner(env={"COLUMNS": "200"})

# tiles of each image (a level down); a ContinueIf keeps the wide ones for 'area'; the
# areas are gathered back into one list per image (a level up), the unchosen given as 0
TILES = {
    "version": "1.0",
    "inputs": [
        {"type": "image", "name": "image"},
        {"type": "parameter", "name": "min_width", "kind": ["integer"], "default_value": 100},
    ],
    "steps": [
        {"type": "roboflow_core/image_slicer@v2", "name": "tiles", "image": "$inputs.image",
         "slice_width": 200, "slice_height": 200, "overlap_ratio_width": 0,
         "overlap_ratio_height": 0},
        {"type": "ContinueIf", "name": "wide enough", "condition": "width(tile) >= least",
         "data": {"tile": "$steps.tiles.slices", "least": "$inputs.min_width"},
         "next_steps": ["$steps.area"]},
        {"type": "Expression", "name": "area", "expression": "width(tile) * height(tile)",
         "data": {"tile": "$steps.tiles.slices"}},
        {"type": "FirstNonEmptyOrDefault", "name": "area or zero", "data": ["$steps.area.output"],
         "default": 0},
        {"type": "DimensionCollapse", "name": "areas", "data": "$steps.area or zero.output"},
    ],
    "outputs": [
        {"type": "JsonField", "name": "areas", "selector": "$steps.areas.output"},
        {"type": "JsonField", "name": "tile_areas", "selector": "$steps.area.output"},
    ],
}  # fmt: skip


def graph_of(definition) -> dict:
    return plan_graph(Workflow.compile(definition).plan)


def svg_tree(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def cards(root: ET.Element) -> dict[str, ET.Element]:
    return {g.get("data-id"): g for g in root.iter(f"{SVG}g") if g.get("data-id")}


def texts(element: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in element.iter(f"{SVG}text")]


def test_the_data_gives_each_value_its_level_crops_one_down_gathered_back_up():
    graph = graph_of(TILES)
    nodes = {node["id"]: node for node in graph["nodes"]}
    assert (nodes["$inputs.image"]["level"], nodes["$inputs.min_width"]["level"]) == (1, None)
    tiles = nodes["$steps.tiles"]
    assert (tiles["level"], tiles["input_level"], tiles["output_level"]) == (1, 1, 2)
    assert tiles["per"] == "one per element made by 'tiles'"
    areas = nodes["$steps.areas"]
    assert (areas["input_level"], areas["output_level"]) == (2, 1)
    assert (nodes["$outputs.areas"]["level"], nodes["$outputs.tile_areas"]["level"]) == (1, 2)
    edges = {(e["source"], e["target"]): e for e in graph["edges"]}
    assert edges["$steps.tiles", "$steps.area"]["level"] == 2
    assert edges["$steps.area or zero", "$steps.areas"]["mode"] == "grouped"
    assert edges["$steps.wide enough", "$steps.area"] == {
        "source": "$steps.wide enough",
        "target": "$steps.area",
        "type": "control",
    }


def test_the_data_marks_the_branch_and_where_it_merges():
    nodes = {node["name"]: node for node in graph_of(TILES)["nodes"] if node["type"] == "step"}
    assert [name for name, node in nodes.items() if node["flow_control"]] == ["wide enough"]
    assert {name: node["branch"] for name, node in nodes.items()} == {
        "tiles": [],
        "wide enough": [],
        "area": ["wide enough"],
        "area or zero": [],  # it runs for every tile: the branch ends here
        "areas": [],
    }
    assert [name for name, node in nodes.items() if node["merge"]] == ["area or zero"]


def test_the_svg_names_every_input_step_and_output_with_its_level():
    svg = render_svg(graph_of(FACES))
    placed = cards(svg_tree(svg))
    assert list(placed) == [
        "$inputs.image", "$inputs.min_face_confidence", "$steps.detect faces",
        "$steps.face crops", "$steps.emotion", "$steps.faces with emotion", "$steps.drawn",
        "$outputs.faces", "$outputs.emotions", "$outputs.annotated",
    ]  # fmt: skip
    names = {key: texts(card)[0] for key, card in placed.items()}
    assert names == {key: key.split(".", 1)[1] for key in placed}
    levels = {key: card.get("data-level") for key, card in placed.items()}
    assert levels["$steps.face crops"] == "2" and levels["$steps.emotion"] == "2"
    assert levels["$steps.faces with emotion"] == "1" and levels["$inputs.image"] == "1"
    assert levels["$inputs.min_face_confidence"] == ""  # a scalar
    badges = {key: texts(card)[2] for key, card in placed.items()}
    assert badges["$steps.face crops"] == "level 1 → 2"  # crops: a level down
    assert badges["$steps.faces with emotion"] == "level 2 → 1"  # the emotions gathered
    assert badges["$inputs.min_face_confidence"] == "scalar"
    # stacked cards: one layer under a card per nesting level
    stacks = {key: len(card.findall(f"{SVG}rect[@class='stack']")) for key, card in placed.items()}
    assert (stacks["$inputs.min_face_confidence"], stacks["$steps.drawn"]) == (0, 1)
    assert stacks["$steps.emotion"] == 2


def test_the_svg_puts_the_kinds_and_levels_on_the_edges():
    root = svg_tree(render_svg(graph_of(FACES)))
    edges = [p for p in root.iter(f"{SVG}path") if "edge" in (p.get("class") or "")]
    found = {(p.get("data-source"), p.get("data-target")): p for p in edges}
    crops = found["$steps.face crops", "$steps.emotion"]
    assert (crops.get("data-kinds"), crops.get("data-level")) == ("image", "2")
    emotions = found["$steps.emotion", "$steps.faces with emotion"]
    assert "gathered" in emotions.get("class")
    assert emotions.find(f"{SVG}title").text.endswith("level 2; gathered per element")
    confidence = found["$inputs.min_face_confidence", "$steps.detect faces"]
    assert (confidence.get("data-kinds"), confidence.get("data-level")) == ("float", "")
    # beside each output port once: the first kind (the others counted) and the level
    labels = [t for t in root.iter(f"{SVG}text") if t.get("class") == "edge-label"]
    assert [(t.text, t.find(f"{SVG}title").text) for t in labels] == [
        ("image · L1", "image"),
        ("float · scalar", "float"),
        ("object_detectio… · L1", "object_detection_prediction"),
        ("image · L2", "image"),
        ("classification_… · L2", "classification_prediction"),
        ("instance_se… +2 · L1", "instance_segmentation_prediction, "
         "keypoint_detection_prediction, object_detection_prediction"),
        ("image · L1", "image"),  # the drawn image
    ]  # fmt: skip
    # each label starts right of its card's stacked layers (5 px each), not on them
    placed = cards(root)
    for label, source in [
        (labels[1], "$inputs.min_face_confidence"),
        (labels[3], "$steps.face crops"),
    ]:
        frame = placed[source].find(f"{SVG}rect[@class='card']")
        layers = placed[source].findall(f"{SVG}rect[@class='stack']")
        right = max(float(r.get("x")) + float(r.get("width")) for r in [frame, *layers])
        assert float(label.get("x")) == right + 8
    assert len(edges) == len(graph_of(FACES)["edges"])


def test_flow_control_is_a_dashed_edge_and_the_branch_a_dashed_card():
    root = svg_tree(render_svg(graph_of(TILES)))
    [control] = [p for p in root.iter(f"{SVG}path") if p.get("class") == "edge control"]
    assert (control.get("data-source"), control.get("data-target")) == (
        "$steps.wide enough",
        "$steps.area",
    )
    placed = cards(root)
    assert placed["$steps.area"].get("class") == "node step in-branch"
    assert placed["$steps.area or zero"].get("class") == "node step merge"
    assert "if wide enough" in texts(placed["$steps.area"])
    assert texts(placed["$steps.areas"])[2] == "level 2 → 1"
    assert "stroke-dasharray: 7 4" in render_svg(graph_of(TILES))  # .edge.control


def test_outputs_are_drawn_in_the_last_column():
    places, _ = layers(
        ["a", "b", "c", "out1", "out2"], [("a", "b"), ("b", "c"), ("a", "out1"), ("c", "out2")],
        last=["out1", "out2"],
    )  # fmt: skip
    # out1's edge passes below b and c (free slots), so out1 goes below out2: no crossing
    assert places == {"a": (0, 0), "b": (1, 0), "c": (2, 0), "out1": (3, 1), "out2": (3, 0)}


def test_the_page_is_self_contained():
    page = render_page(graph_of(FACES), "faces")
    assert not re.search(r"(src|href)=\"(https?:)?//", page) and "<script" not in page
    assert "@import" not in page and "url(http" not in page
    assert page.startswith("<!DOCTYPE html>") and "<title>faces</title>" in page


def test_a_compiled_workflow_shows_its_graph_in_a_notebook():
    workflow = Workflow.compile(FACES)
    fragment = workflow._repr_html_()
    assert fragment == render_fragment(plan_graph(workflow.plan))
    assert fragment.startswith('<div class="vf-graph-frame"') and fragment.endswith("</div>")
    assert "<html" not in fragment and "<!DOCTYPE" not in fragment
    svg = fragment[fragment.index("<svg") : fragment.rindex("</div>")]
    assert len(cards(svg_tree(svg))) == 10
    assert repr(workflow).startswith("<visionflow.workflow.Workflow object")


# --- the command --------------------------------------------------------------------------


def test_graph_writes_a_page_named_after_the_workflow(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["graph", str(FACES)])
    assert result.exit_code == 0, result.output
    assert result.output == "wrote the graph of 5 steps (html) to face_emotion.graph.html\n"
    page = (tmp_path / "face_emotion.graph.html").read_text()
    assert page == render_page(graph_of(FACES), "face_emotion — visionflow workflow")


def test_graph_format_svg_writes_a_valid_svg(tmp_path):
    target = tmp_path / "faces.svg"
    result = runner.invoke(app, ["graph", str(FACES), "--format", "svg", "-o", str(target)])
    assert result.exit_code == 0, result.output
    root = ET.parse(target).getroot()
    assert root.tag == f"{SVG}svg" and int(root.get("width")) > 1000
    assert len(cards(root)) == 10
    # the suffix alone chooses the format too
    runner.invoke(app, ["graph", str(FACES), "-o", str(tmp_path / "same.svg")])
    assert (tmp_path / "same.svg").read_text() == target.read_text()


def test_a_file_name_of_another_format_is_refused_not_written_as_html(tmp_path):
    target = tmp_path / "faces.png"  # a PNG was asked for: no page is written under its name
    result = runner.invoke(app, ["graph", str(FACES), "-o", str(target)])
    assert result.exit_code == 2
    assert "a graph is written as html, svg or json, not .png" in " ".join(result.output.split())
    assert not target.exists()
    runner.invoke(app, ["graph", str(FACES), "-o", str(tmp_path / "faces.htm")])
    assert (tmp_path / "faces.htm").read_text().startswith("<!DOCTYPE html>")


def test_graph_format_json_prints_the_servers_graph_data():
    result = runner.invoke(app, ["graph", str(FACES), "--format", "json", "-o", "-"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == graph_of(FACES)


def test_a_wrong_document_gives_the_error_validate_gives(tmp_path):
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("version: '1.0'\nsteps:\n  - type: DynamicCropp\n    name: crop\n")
    drawn = runner.invoke(app, ["graph", str(wrong), "-o", str(tmp_path / "g.html")])
    validated = runner.invoke(app, ["validate", str(wrong)])
    assert drawn.exit_code == 1 and validated.exit_code == 1
    assert drawn.output == validated.output
    assert drawn.output.startswith("error [unknown_block_type] at steps[0] 'crop'")
    assert not (tmp_path / "g.html").exists()


# --- the server ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real ``python -m visionflow.server`` on a loopback port, without an API key (a
    browser cannot send one)."""
    pytest.importorskip("fastapi")
    from test_server import serving

    with serving(tmp_path_factory.mktemp("graph-server")) as running:
        yield running


@pytest.fixture(scope="module")
def client(server):
    with server.http(api_key=None) as http:
        yield http


def test_the_server_draws_an_inline_workflow(client):
    answer = client.post("/graph.html", json={"workflow": TILES})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.text == render_page(graph_of(TILES), "workflow — visionflow")
    assert client.post("/graph", json={"workflow": TILES}).json() == graph_of(TILES)
    wrong = {"workflow": {"steps": [{"type": "Nope", "name": "x"}]}}
    drawn, graphed = client.post("/graph.html", json=wrong), client.post("/graph", json=wrong)
    assert (drawn.status_code, drawn.json()) == (graphed.status_code, graphed.json())
    assert (drawn.status_code, drawn.json()["error"]["code"]) == (422, "unknown_block_type")


def test_the_server_draws_a_registered_workflow(client):
    assert client.post("/workflows", json={"name": "tiles", "workflow": TILES}).status_code == 201
    answer = client.get("/workflows/tiles/graph.html")
    assert answer.status_code == 200
    assert answer.text == render_page(graph_of(TILES), "tiles v1 — visionflow")
    assert client.get("/workflows/tiles/graph.html?version=1").text == answer.text
    by_name = client.post("/graph.html", json={"name": "tiles"})
    assert by_name.text == answer.text
    missing = client.get("/workflows/nope/graph.html")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


# --- headless Chromium --------------------------------------------------------------------


def chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["chromium", *CHROMIUM_FLAGS, *args], check=True, capture_output=True, timeout=60
    )


@needs_chromium
@pytest.mark.parametrize("definition", [FACES, TILES], ids=["face_emotion", "tiles"])
def test_the_page_renders_in_headless_chromium(definition, tmp_path):
    graph = graph_of(definition)
    page = tmp_path / "graph.html"
    page.write_text(render_page(graph, "graph"))
    shot = tmp_path / "graph.png"
    chromium("--window-size=1400,600", f"--screenshot={shot}", page.as_uri())
    pixels = cv2.imread(str(shot))
    assert pixels.shape == (600, 1400, 3)
    background = (pixels == (0xFC, 0xFA, 0xF8)).all(axis=2) | (pixels == 255).all(axis=2)
    assert (~background).sum() > 20_000  # cards, text, edges: not a blank page
    blue = (pixels == (0xEB, 0x63, 0x25)).all(axis=2)  # level 1's badge and edges (#2563eb)
    assert blue.sum() > 200
    dom = chromium("--dump-dom", page.as_uri()).stdout.decode()
    names = re.findall(r'<text class="name"[^>]*>([^<]+)</text>', dom)
    assert names == [node["name"] for node in graph["nodes"]]
    assert len(re.findall(r'<path class="edge', dom)) == len(graph["edges"])


@needs_chromium
def test_a_browser_opens_a_registered_workflows_page_from_the_server(server, client):
    client.post("/workflows", json={"name": "faces", "workflow": yaml.safe_load(FACES.read_text())})
    dom = chromium("--dump-dom", f"{server.url}/workflows/faces/graph.html").stdout.decode()
    assert "<title>faces v1 — visionflow</title>" in dom
    names = re.findall(r'<text class="name"[^>]*>([^<]+)</text>', dom)
    assert names == [node["name"] for node in graph_of(FACES)["nodes"]]


@pytest.mark.parametrize("example", ["functional_emotions.yaml", "deepomatic_faces.yaml"])
def test_every_dialect_is_drawn_from_its_plan(example, tmp_path):
    target = tmp_path / "graph.svg"
    result = runner.invoke(app, ["graph", str(EXAMPLES / example), "-o", str(target)])
    assert result.exit_code == 0, result.output
    compiled = Workflow.compile(EXAMPLES / example, load_models=False, cache=False)
    expected = [node["name"] for node in plan_graph(compiled.plan)["nodes"]]
    placed = cards(ET.parse(target).getroot())
    assert [card.find(f"{SVG}title").text.split("\n")[0] for card in placed.values()] == expected
    assert len(expected) == len(compiled.plan.inputs) + len(compiled.plan.steps) + len(
        compiled.plan.outputs
    )
