"""``visionflow run-dataset``: a real workflow over real images, predictions, COCO, lineage,
and a run stopped half way (Ctrl-C, a killed process) resumed without loss or duplicates."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
import yaml
from skimage import data
from typer.testing import CliRunner

pytest.importorskip("sqlalchemy")
import sqlalchemy as sa

from visionflow.cli import app
from visionflow.lineage.queries import lineage_graph, list_tasks
from visionflow.lineage.schema import Link
from visionflow.lineage.store import Store

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NAMES = ["astronaut", "chelsea", "coffee", "rocket"]  # run in this (sorted) order
runner = CliRunner()

# A plugin block that waits on an image of a chosen height, so that a test can stop the run
# at a known image (the environment of the test's subprocess chooses; absent, it passes).
PAUSE_PLUGIN = """
import os, time
from pathlib import Path
from typing import Literal
from visionflow import Block, Output, Selector

class PauseOn(Block):
    class Manifest(Block.Manifest):
        type: Literal["test/pause_on@v1"]
        image: Selector(kinds=["image"])
    outputs = [Output("height", kinds=["integer"])]

    def run(self, image):
        if str(image.height) == os.environ.get("PAUSE_ON_HEIGHT"):
            Path(os.environ["PAUSE_MARKER"]).write_text(str(image.height))
            time.sleep(120)
        return {"height": image.height}

def load_blocks():
    return [PauseOn]
"""


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for name in NAMES:
        cv2.imwrite(str(folder / f"{name}.png"), getattr(data, name)()[:, :, ::-1])
    return folder


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv("VISIONFLOW_LINEAGE_URL", raising=False)
    monkeypatch.setenv("VISIONFLOW_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def store_of(home: Path) -> Store:
    return Store(f"sqlite:///{home / 'lineage.db'}", blobs=home / "blobs")


def predictions(output: Path) -> list[str]:
    return sorted(p.name for p in (output / "predictions").iterdir())


def test_a_folder_run_writes_predictions_coco_and_lineage(images, home, tmp_path):
    output = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "run-dataset",
            str(EXAMPLES / "face_emotion.yaml"),
            "--input",
            str(images),
            "--output",
            str(output),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("4 images: 4 run, 0 skipped (done before), lineage task 1;")
    assert predictions(output) == [f"{n}.png.json" for n in NAMES]
    astronaut = json.loads((output / "predictions" / "astronaut.png.json").read_text())
    assert (astronaut["width"], astronaut["height"]) == (512, 512)
    [face] = astronaut["outputs"]["faces"]["predictions"]
    assert face["class"] == "happy" and abs(face["x"] - 225) < 15 and abs(face["y"] - 127) < 15
    # named as `run --save-images` names them, the image's whole name as the element
    assert astronaut["outputs"]["annotated"]["path"] == "images/astronaut.png_annotated.jpg"
    assert cv2.imread(str(output / astronaut["outputs"]["annotated"]["path"])).shape == (
        512,
        512,
        3,
    )

    coco = json.loads((output / "coco.json").read_text())
    # every class of the emotion model that named the faces, found or not, at its class
    # id + 1: the same ids in every run whatever was found
    emotions = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert face["class_id"] == 3
    assert coco["categories"] == [{"id": i + 1, "name": n} for i, n in enumerate(emotions)]
    assert [(i["id"], i["file_name"], i["width"], i["height"]) for i in coco["images"]] == [
        (1, "astronaut.png", 512, 512),
        (2, "chelsea.png", 451, 300),
        (3, "coffee.png", 600, 400),
        (4, "rocket.png", 640, 427),
    ]
    [annotation] = coco["annotations"]  # one face in four pictures
    assert (annotation["id"], annotation["image_id"], annotation["category_id"]) == (1, 1, 4)
    x, y, w, h = annotation["bbox"]  # COCO: top-left corner, width, height
    assert (x + w / 2, y + h / 2) == pytest.approx((face["x"], face["y"]), abs=0.01)
    assert annotation["area"] == pytest.approx(face["width"] * face["height"], abs=0.01)

    store = store_of(home)
    graph = lineage_graph(store)
    cards = {n["id"]: n for n in graph["nodes"]}
    inputs = sorted(
        (cards[e["source"]]["kind"], cards[e["source"]]["name"], cards[e["source"]]["model_weight"])
        for e in graph["links"]
        if e["direction"] == "input"
    )
    assert inputs == [
        ("dataset", images.name, False),
        ("file", "emotion_model_quantized.tflite", True),
        ("file", "face_detection_short_range.tflite", True),
        ("file", "face_emotion.yaml", False),
    ]
    [dataset] = [n for n in graph["nodes"] if n["kind"] == "dataset"]
    assert dataset["version"] == {"id": 1, "num": 1}
    [workflow_link] = [
        e for e in graph["links"] if cards[e["source"]]["name"] == "face_emotion.yaml"
    ]
    assert workflow_link["meta"]["version"] == "1.0"
    assert len(workflow_link["meta"]["definition_hash"]) == 64
    outputs = sorted(
        cards[e["target"]]["name"] for e in graph["links"] if e["direction"] == "output"
    )
    assert outputs == ["coco.json", "out"]
    assert [(t["status"], t["inputs"], t["outputs"]) for t in list_tasks(store)] == [
        ("finished", 4, 2)
    ]
    store.close()


def test_a_second_run_into_the_same_folder_needs_resume(images, home, tmp_path):
    args = [
        "run-dataset",
        str(EXAMPLES / "face_emotion.yaml"),
        "--input",
        str(images),
        "--output",
        str(tmp_path / "out"),
        "--no-progress",
    ]
    assert runner.invoke(app, args).exit_code == 0
    again = runner.invoke(app, args)
    assert again.exit_code == 1
    assert "the output folder holds a run already" in again.output
    resumed = runner.invoke(app, [*args, "--resume"])
    assert resumed.output.startswith("4 images: 0 run, 4 skipped (done before), lineage task 1;")


def test_an_unreadable_image_fails_alone_and_a_resume_retries_it(images, home, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("astronaut", "chelsea"):
        (folder / f"{name}.png").write_bytes((images / f"{name}.png").read_bytes())
    (folder / "broken.png").write_bytes(b"not a png at all")
    args = ["run-dataset", str(EXAMPLES / "face_emotion.yaml"), "--input", str(folder)]
    args += ["--output", str(tmp_path / "out"), "--no-progress"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "3 images: 2 run, 0 skipped (done before), 1 failed" in result.output
    assert "failed: broken.png:" in result.output and "cannot read image" in result.output
    assert predictions(tmp_path / "out") == ["astronaut.png.json", "chelsea.png.json"]
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["status"] == "finished with failures" and list(run["failed"]) == ["broken.png"]
    coco = json.loads((tmp_path / "out" / "coco.json").read_text())
    assert [image["file_name"] for image in coco["images"]] == ["astronaut.png", "chelsea.png"]
    resumed = runner.invoke(app, [*args, "--resume"])  # retried: still unreadable
    assert resumed.output.startswith("3 images: 0 run, 2 skipped (done before), 1 failed")
    cv2.imwrite(str(folder / "broken.png"), data.coffee()[:, :, ::-1])  # repaired: new data
    refused = runner.invoke(app, [*args, "--resume"])
    assert refused.exit_code == 1
    assert "the input folder changed since the run started: 1 changed (broken.png)" in (
        refused.output
    )
    again = runner.invoke(app, [*args[:-3], "--output", str(tmp_path / "out2"), "--no-progress"])
    assert again.exit_code == 0, again.output
    assert again.output.startswith("3 images: 3 run, 0 skipped (done before),")


def test_a_resume_refuses_an_input_folder_that_changed(images, home, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in NAMES:
        (folder / f"{name}.png").write_bytes((images / f"{name}.png").read_bytes())
    args = ["run-dataset", str(EXAMPLES / "face_emotion.yaml"), "--input", str(folder)]
    args += ["--output", str(tmp_path / "out"), "--no-progress"]
    assert runner.invoke(app, args).exit_code == 0
    (folder / "coffee.png").unlink()
    (folder / "camera.png").write_bytes((images / "rocket.png").read_bytes())
    refused = runner.invoke(app, [*args, "--resume"])
    assert refused.exit_code == 1
    assert (
        "the input folder changed since the run started: 1 added (camera.png); 1 removed "
        "(coffee.png)" in refused.output.replace("\n  ", " ")
    )
    assert "start a new run into a new output folder" in refused.output
    assert predictions(tmp_path / "out") == [f"{n}.png.json" for n in NAMES]  # untouched


def test_a_resume_records_the_inputs_a_killed_run_did_not(images, home, tmp_path):
    args = ["run-dataset", str(EXAMPLES / "face_emotion.yaml"), "--input", str(images)]
    args += ["--output", str(tmp_path / "out"), "--no-progress"]
    assert runner.invoke(app, args).exit_code == 0
    store = store_of(home)
    with store.transaction() as session:  # as if killed while recording its inputs
        session.execute(sa.delete(Link).where(Link.direction == "input", Link.node_id > 2))
    assert [(t["inputs"], t["outputs"]) for t in list_tasks(store)] == [(1, 2)]
    for _ in range(2):  # and a second resume changes nothing: links are updated, not added
        assert runner.invoke(app, [*args, "--resume"]).exit_code == 0
        assert [(t["inputs"], t["outputs"]) for t in list_tasks(store)] == [(4, 2)]
    [dataset] = [n for n in lineage_graph(store)["nodes"] if n["kind"] == "dataset"]
    assert dataset["version"] == {"id": 1, "num": 1}
    store.close()


FAIL_ON_CHELSEA = {
    "type": "DynamicBlockDefinition",
    "manifest": {
        "block_type": "FailOnHeight300",
        "inputs": {"image": {"kind": ["image"]}},
        "outputs": {"height": {"kind": ["integer"]}},
    },
    "code": {
        "run_function_code": (
            "def run(self, image):\n"
            "    if image.height == 300:\n"
            "        raise ValueError('no cats today')\n"
            "    return {'height': image.height}\n"
        )
    },
}


def test_an_image_that_fails_its_batch_fails_alone(images, home, tmp_path):
    document = yaml.safe_load((EXAMPLES / "face_emotion.yaml").read_text())
    document["dynamic_blocks_definitions"] = [FAIL_ON_CHELSEA]
    document["steps"].append({"type": "FailOnHeight300", "name": "picky", "image": "$inputs.image"})
    workflow = tmp_path / "picky.yaml"
    workflow.write_text(yaml.safe_dump(document, sort_keys=False))
    args = ["run-dataset", str(workflow), "--input", str(images), "--output", str(tmp_path / "out")]
    result = runner.invoke(app, [*args, "--no-progress", "--batch-size", "4"])  # one batch
    assert result.exit_code == 1
    assert "4 images: 3 run, 0 skipped (done before), 1 failed" in result.output
    assert "failed: chelsea.png:" in result.output and "no cats today" in result.output
    assert predictions(tmp_path / "out") == [f"{n}.png.json" for n in NAMES if n != "chelsea"]


def test_detections_of_a_functional_workflow_get_a_coco_file(images, home, tmp_path):
    workflow = tmp_path / "faces.yaml"
    workflow.write_text(
        "name: faces\nversion: 1\nmodels: {faces: mediapipe/face_detection_short_range}\n"
        "workflow:\n  out: [faces, in]\n"
    )
    args = ["run-dataset", str(workflow), "--input", str(images), "--output", str(tmp_path / "o")]
    assert runner.invoke(app, [*args, "--no-progress"]).exit_code == 0
    coco = json.loads((tmp_path / "o" / "coco.json").read_text())
    assert len(coco["images"]) == 4 and len(coco["annotations"]) == 1  # the astronaut's face


def test_a_store_failure_does_not_stop_the_run(images, tmp_path, monkeypatch):
    pytest.importorskip("psycopg")
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("VISIONFLOW_LINEAGE_URL", f"postgresql+psycopg://x@127.0.0.1:{port}/db")
    args = [
        "run-dataset",
        str(EXAMPLES / "face_emotion.yaml"),
        "--input",
        str(images),
        "--output",
        str(tmp_path / "out"),
        "--no-progress",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("4 images: 4 run, 0 skipped (done before); predictions in")
    strict = runner.invoke(app, [*args[:-3], "--output", str(tmp_path / "o2"), "--strict-lineage"])
    assert strict.exit_code == 1
    assert "error [lineage_store_error]" in strict.output


def start_run(
    workflow: Path, images: Path, output: Path, home: Path, pause_on: int | None, *extra: str
) -> tuple[subprocess.Popen, Path]:
    marker = output.parent / f"paused-{pause_on}"
    env = {
        **os.environ,
        "VISIONFLOW_HOME": str(home),
        "VISIONFLOW_PLUGINS": "pause_plugin",
        "PYTHONPATH": str(workflow.parent),
        "PAUSE_MARKER": str(marker),
    }
    env.pop("VISIONFLOW_LINEAGE_URL", None)
    if pause_on is not None:
        env["PAUSE_ON_HEIGHT"] = str(pause_on)
    command = [
        sys.executable,
        "-c",
        "from visionflow.cli import main; main()",
        "run-dataset",
        str(workflow),
        "--input",
        str(images),
        "--output",
        str(output),
        "--batch-size",
        "1",  # one image a run, so that a stop falls between known images
        *extra,
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return process, marker


def wait_for(marker: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never reached the paused image"
        time.sleep(0.05)


def test_a_killed_then_interrupted_run_resumes_each_image_exactly_once(images, tmp_path):
    (tmp_path / "pause_plugin.py").write_text(PAUSE_PLUGIN)
    document = yaml.safe_load((EXAMPLES / "face_emotion.yaml").read_text())
    document["steps"].append(
        {"type": "test/pause_on@v1", "name": "pause", "image": "$steps.drawn.image"}
    )
    document["outputs"].append(
        {"type": "JsonField", "name": "height", "selector": "$steps.pause.height"}
    )
    workflow = tmp_path / "faces.yaml"
    workflow.write_text(yaml.safe_dump(document, sort_keys=False))
    output, home = tmp_path / "out", tmp_path / "home"

    # 1. killed (SIGKILL: no clean-up at all) while on coffee, the third image
    process, marker = start_run(workflow, images, output, home, 400)
    wait_for(marker, process)
    process.kill()
    process.wait()
    assert predictions(output) == ["astronaut.png.json", "chelsea.png.json"]
    first_task = json.loads((output / "run.json").read_text())["task_id"]
    done_before = (output / "predictions" / "astronaut.png.json").stat().st_mtime_ns

    # 2. resumed, then stopped by Ctrl-C (SIGINT) while on rocket, the fourth
    process, marker = start_run(workflow, images, output, home, 427, "--resume", "--no-progress")
    wait_for(marker, process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "stopped after 3 of 4 images" in stderr.decode()
    assert "run the same command with --resume" in stderr.decode()
    assert predictions(output) == ["astronaut.png.json", "chelsea.png.json", "coffee.png.json"]
    assert json.loads((output / "run.json").read_text())["status"] == "interrupted"

    # 3. resumed to the end: only rocket runs; every image once, in the outputs and in COCO
    process, _ = start_run(workflow, images, output, home, None, "--resume", "--no-progress")
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr.decode()
    assert stdout.decode().startswith("4 images: 1 run, 3 skipped (done before), lineage task")
    assert predictions(output) == [f"{n}.png.json" for n in NAMES]
    assert (output / "predictions" / "astronaut.png.json").stat().st_mtime_ns == done_before
    heights = [
        json.loads((output / "predictions" / f"{n}.png.json").read_text())["outputs"]["height"]
        for n in NAMES
    ]
    assert heights == [512, 300, 400, 427]
    coco = json.loads((output / "coco.json").read_text())
    assert [i["file_name"] for i in coco["images"]] == [f"{n}.png" for n in NAMES]
    assert len(coco["annotations"]) == 1
    assert not [p for p in output.rglob(".partial-*")]
    store = store_of(home)
    assert [(t["id"], t["status"], t["inputs"], t["outputs"]) for t in list_tasks(store)] == [
        (first_task, "finished", 4, 2)  # one task through the three processes, no duplicates
    ]
    store.close()
