"""``run-dataset --ray``: the same run as a local one, its predictions computed by Ray Data
actors on a real local cluster: equal files and COCO, the lineage task, failures alone,
resume, an actor killed mid-run, and a Dataset given from Python."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
import yaml
from skimage import data

pytest.importorskip("sqlalchemy")

from visionflow.datasets.runner import DatasetRunError, run_dataset
from visionflow.distributed.datasets import (
    BATCH_RETRIES,
    RayPredictions,
    run_workflow_on_dataset,
)
from visionflow.lineage.api import Lineage
from visionflow.lineage.queries import lineage_graph, list_tasks
from visionflow.lineage.store import Store

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WORKFLOW = EXAMPLES / "face_emotion.yaml"
NAMES = ["astronaut", "chelsea", "coffee", "rocket"]
FILES = ["astronaut.png", "broken.png", "chelsea.png", "coffee.png", "rocket.png"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for name in NAMES:
        cv2.imwrite(str(folder / f"{name}.png"), getattr(data, name)()[:, :, ::-1])
    (folder / "broken.png").write_bytes(b"not a png at all")
    return folder


def store_of(home: Path) -> Store:
    return Store(f"sqlite:///{home / 'lineage.db'}", blobs=home / "blobs")


def lineage_in(home: Path) -> Lineage:
    return Lineage(store=store_of(home))


@pytest.fixture(scope="module")
def local(photos, tmp_path_factory) -> Path:
    """The same run in this process: what the Ray runs must equal."""
    output = tmp_path_factory.mktemp("local") / "out"
    run_dataset(WORKFLOW, photos, output, lineage=lineage_in(output.parent), progress=False)
    return output


@pytest.fixture(scope="module")
def cli_run(photos, ray_cluster, tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """``visionflow run-dataset --ray ADDRESS`` in its own process, a second driver."""
    home = tmp_path_factory.mktemp("home")
    output = home / "out"
    env = {**ray_cluster.env, "VISIONFLOW_HOME": str(home)}
    env.pop("VISIONFLOW_LINEAGE_URL", None)
    command = [
        sys.executable, "-c", "from visionflow.cli import main; main()", "run-dataset",
        str(WORKFLOW), "--input", str(photos), "--output", str(output), "--no-progress",
        "--ray", ray_cluster.address, "--actors", "2", "--batch-size", "2",
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    return done, output


# Made afresh by every run (random detection ids, image ids counted per process): two
# local runs differ in them too, so they are left out of the comparisons.
RUN_IDS = {"detection_id", "image_id", "parent_id", "root_id"}


def without_ids(value):
    if isinstance(value, dict):
        return {k: without_ids(v) for k, v in value.items() if k not in RUN_IDS}
    if isinstance(value, list):
        return [without_ids(v) for v in value]
    return value


def predictions(output: Path) -> dict[str, dict]:
    folder = output / "predictions"
    return {p.name: without_ids(json.loads(p.read_text())) for p in sorted(folder.iterdir())}


def image_outputs(output: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((output / "images").iterdir())}


def test_the_cli_run_equals_a_local_run(cli_run, local):
    done, output = cli_run
    assert done.returncode == 1, done.stderr  # broken.png failed, alone
    assert done.stdout.startswith("5 images: 4 run, 0 skipped (done before), 1 failed,")
    assert "failed: broken.png:" in done.stderr
    assert "cannot read image 'broken.png'" in done.stderr
    assert list(predictions(output)) == [f"{n}.png.json" for n in NAMES]
    assert predictions(output) == predictions(local)
    assert image_outputs(output) == image_outputs(local)  # written by the actors
    coco = json.loads((output / "coco.json").read_text())
    assert coco == json.loads((local / "coco.json").read_text())
    assert [i["file_name"] for i in coco["images"]] == [f"{n}.png" for n in NAMES]
    run = json.loads((output / "run.json").read_text())
    assert (run["status"], list(run["failed"])) == ("finished with failures", ["broken.png"])


def test_the_driver_records_one_lineage_task_with_every_input_and_output(cli_run, photos):
    _, output = cli_run
    store = store_of(output.parent)
    assert [(t["status"], t["inputs"], t["outputs"]) for t in list_tasks(store)] == [
        ("finished with failures", 4, 2)
    ]
    graph = lineage_graph(store)
    cards = {n["id"]: n for n in graph["nodes"]}
    linked = sorted(
        (link["direction"], cards[link[end]]["name"])
        for link in graph["links"]
        for end in ("source", "target")
        if cards[link[end]]["kind"] != "task"
    )
    assert linked == [
        ("input", "emotion_model_quantized.tflite"),
        ("input", "face_detection_short_range.tflite"),
        ("input", "face_emotion.yaml"),
        ("input", photos.name),
        ("output", "coco.json"),
        ("output", "out"),
    ]
    store.close()


# A step that stops on the rocket (427 pixels high) the first time the run meets it: the
# test interrupts the run there; the marker lets the resumed run through.
PAUSE_ONCE = """
def run(self, image):
    if image.height == 427 and not os.path.exists(MARKER):
        open(MARKER, "w").close()
        time.sleep(120)
    return {"height": image.height}
"""


def with_step(folder: Path, name: str, code: str, imports: list[str]) -> Path:
    """face_emotion.yaml plus a step of custom code whose output is ``height``."""
    document = yaml.safe_load(WORKFLOW.read_text())
    document["dynamic_blocks_definitions"] = [
        {
            "type": "DynamicBlockDefinition",
            "manifest": {
                "block_type": name,
                "inputs": {"image": {"kind": ["image"]}},
                "outputs": {"height": {"kind": ["integer"]}},
            },
            "code": {"imports": imports, "run_function_code": code},
        }
    ]
    document["steps"].append({"type": name, "name": "extra", "image": "$inputs.image"})
    document["outputs"].append(
        {"type": "JsonField", "name": "height", "selector": "$steps.extra.height"}
    )
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def same_as_local(output: Path, local: Path) -> None:
    got, expected = predictions(output), predictions(local)
    assert list(got) == list(expected)  # each image once
    for name, record in got.items():
        assert record["outputs"].pop("height") == record["height"]
        assert record == expected[name]
    assert image_outputs(output) == image_outputs(local)
    assert json.loads((output / "coco.json").read_text()) == json.loads(
        (local / "coco.json").read_text()
    )
    assert not list(output.rglob(".partial-*"))


def test_a_stopped_run_resumes_without_loss_or_duplicates(photos, local, ray_cluster, tmp_path):
    marker = tmp_path / "paused"
    workflow = with_step(tmp_path, "PauseOnce", PAUSE_ONCE, [
        "import os", "import time", f"MARKER = {str(marker)!r}"
    ])  # fmt: skip
    output = tmp_path / "out"
    command = [
        sys.executable, "-c", "from visionflow.cli import main; main()", "run-dataset",
        str(workflow), "--input", str(photos), "--output", str(output), "--no-progress",
        "--ray", ray_cluster.address, "--actors", "1", "--batch-size", "1",
    ]  # fmt: skip
    env = {**ray_cluster.env, "VISIONFLOW_HOME": str(tmp_path)}
    env.pop("VISIONFLOW_LINEAGE_URL", None)
    run = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while not marker.exists():  # on the rocket
        assert run.poll() is None, run.communicate()
        assert time.monotonic() < deadline, "the run never reached the rocket"
        time.sleep(0.1)
    run.send_signal(signal.SIGINT)  # Ctrl-C
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 130, stderr.decode()
    # the images whose predictions had arrived (the actor may hold the next batch behind the
    # rocket's, so not always all three others): each one written whole, kept by the resume
    done = {p.name: p.stat().st_mtime_ns for p in (output / "predictions").iterdir()}
    assert "rocket.png.json" not in done
    assert f"stopped after {len(done)} of 5 images" in stderr.decode()
    assert json.loads((output / "run.json").read_text())["status"] == "interrupted"

    resumed = subprocess.run(
        [*command, "--resume"], env=env, capture_output=True, text=True, timeout=240
    )
    assert resumed.returncode == 1, resumed.stderr  # broken.png, retried, fails again
    assert resumed.stdout.startswith(
        f"5 images: {4 - len(done)} run, {len(done)} skipped (done before), 1 failed,"
    )
    assert {name: (output / "predictions" / name).stat().st_mtime_ns for name in done} == done
    same_as_local(output, local)
    store = store_of(tmp_path)
    assert [(t["status"], t["inputs"], t["outputs"]) for t in list_tasks(store)] == [
        ("finished with failures", 4, 2)  # one task through both processes
    ]
    store.close()


# A step that kills its actor's process (no clean-up at all) the first time the run meets
# each image 300 or 427 pixels high: the marker, made atomically, lets the retry through.
DIE_ONCE = """
def run(self, image):
    if image.height in (300, 427):
        try:
            os.close(os.open(f"{MARKERS}/{image.height}", os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return {"height": image.height}
        os._exit(1)
    return {"height": image.height}
"""


def dying_workflow(folder: Path) -> Path:
    markers = folder / "markers"
    markers.mkdir()
    return with_step(folder, "DieOnce", DIE_ONCE, ["import os", f"MARKERS = {str(markers)!r}"])


def test_an_actor_that_dies_is_replaced_and_its_batch_retried(photos, local, ray_cluster, tmp_path):
    workflow = dying_workflow(tmp_path)
    output = tmp_path / "out"
    summary = run_dataset(
        workflow,
        photos,
        output,
        lineage=lineage_in(tmp_path),
        progress=False,
        predictions=RayPredictions(min_actors=1, max_actors=1, batch_size=2),
    )
    assert sorted(p.name for p in (tmp_path / "markers").iterdir()) == ["300", "427"]  # died
    assert (summary.ran, list(summary.failed)) == (4, ["broken.png"])
    same_as_local(output, local)
    store = store_of(tmp_path)
    assert [(t["status"], t["inputs"], t["outputs"]) for t in list_tasks(store)] == [
        ("finished with failures", 4, 2)
    ]
    store.close()


# A step that kills its actor every time it meets the rocket (427 pixels high), leaving a
# numbered marker per death.
DIE_ALWAYS = """
def run(self, image):
    if image.height == 427:
        deaths = len(os.listdir(MARKERS))
        open(f"{MARKERS}/{deaths}", "w").close()
        os._exit(1)
    return {"height": image.height}
"""


def test_a_batch_that_kills_every_actor_stops_the_run_after_its_retries(
    photos, ray_cluster, tmp_path
):
    markers = tmp_path / "markers"
    markers.mkdir()
    workflow = with_step(
        tmp_path, "DieAlways", DIE_ALWAYS, ["import os", f"MARKERS = {str(markers)!r}"]
    )
    with pytest.raises(DatasetRunError) as stopped:
        run_dataset(
            workflow, photos, tmp_path / "out", lineage=lineage_in(tmp_path), progress=False,
            predictions=RayPredictions(min_actors=1, max_actors=1, batch_size=1),
        )  # fmt: skip
    assert len(list(markers.iterdir())) == BATCH_RETRIES + 1  # the first try and each retry
    assert stopped.value.message.startswith("the Ray run stopped: ")
    assert f"an actor that died {BATCH_RETRIES + 1} times on one batch" in stopped.value.hint


# A step whose output is the length of a visionflow variable as the actor sees it.
READ_VARIABLE = """
def run(self, image):
    return {"height": len(os.environ.get("VISIONFLOW_TEST_FORWARDED", ""))}
"""


def test_the_actors_see_the_visionflow_variables_of_the_run(
    photos, ray_cluster, tmp_path, monkeypatch
):
    monkeypatch.setenv("VISIONFLOW_TEST_FORWARDED", "forwarded")  # 9 characters
    workflow = with_step(tmp_path, "ReadVariable", READ_VARIABLE, ["import os"])
    output = tmp_path / "out"
    run_dataset(
        workflow, photos, output, lineage=lineage_in(tmp_path), progress=False,
        predictions=RayPredictions(min_actors=1, max_actors=1, batch_size=2),
    )  # fmt: skip
    heights = {name: r["outputs"]["height"] for name, r in predictions(output).items()}
    assert heights == {f"{name}.json": 9 for name in FILES if name != "broken.png"}


def test_a_dataset_from_python_gets_its_outputs_per_row(photos, local, ray_cluster):
    import ray

    rows = [{"name": f, "image": (photos / f).read_bytes()} for f in FILES]
    rgb = [
        {"name": f"{n}.png", "image": getattr(data, n)()} for n in NAMES
    ]  # pixels as ray.data.read_images gives them: RGB
    expected = {n: r["outputs"]["faces"] for n, r in predictions(local).items()}
    for given in (rows, rgb):
        out = run_workflow_on_dataset(WORKFLOW, ray.data.from_items(given), batch_size=2)
        results = {row["name"]: row for row in out.iter_rows()}
        assert sorted(results) == sorted(r["name"] for r in given)
        faces = {
            f"{name}.json": without_ids(json.loads(row["outputs"])["faces"])
            for name, row in results.items()
            if row["error"] is None
        }
        assert faces == expected
        if given is rows:  # the broken file failed alone, with why
            broken = results["broken.png"]
            assert broken["outputs"] is None
            assert broken["error"].startswith(
                "image: the 16 bytes are not an image in a format this workflow reads"
            )


def test_an_unreachable_cluster_is_a_clear_error(photos, ray_cluster, tmp_path):
    command = [
        sys.executable, "-c", "from visionflow.cli import main; main()", "run-dataset",
        str(WORKFLOW), "--input", str(photos), "--output", str(tmp_path / "out"),
        "--ray", "127.0.0.1:9",
    ]  # fmt: skip
    env = {**ray_cluster.env, "VISIONFLOW_HOME": str(tmp_path)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "ray_cluster_unreachable" in done.stdout + done.stderr
    assert "127.0.0.1:9" in done.stdout + done.stderr
    assert not (tmp_path / "out").exists()  # refused before anything was written
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_the_ray_options_are_checked_before_ray_starts(photos, tmp_path):
    from typer.testing import CliRunner

    from visionflow.cli import app

    args = ["run-dataset", str(WORKFLOW), "--input", str(photos), "--output", str(tmp_path)]
    runner = CliRunner(env={"COLUMNS": "200"})
    without_ray = runner.invoke(app, [*args, "--actors", "2"])
    assert without_ray.exit_code == 2
    assert "--actors and --actor-cpus need --ray" in without_ray.output
    # `--ray` alone is a flag (Ray started here): it does not take the next option as address
    for given in ("2-x", "2-", "-2"):
        bad_range = runner.invoke(app, [*args, "--ray", "--actors", given])
        assert bad_range.exit_code == 2 and f"'{given}' is not N or MIN-MAX" in bad_range.output


def test_ray_alone_before_the_workflow_leaves_it_the_workflow(photos, tmp_path):
    from typer.testing import CliRunner

    from visionflow.cli import app

    # `--ray faces.yaml`: a file, not a Ray address (HOST:PORT, auto, local)
    args = ["run-dataset", "--ray", str(WORKFLOW), "--input", str(photos), "--output", "out"]
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, [*args, "--actors", "2-x"])
    assert result.exit_code == 2 and "'2-x' is not N or MIN-MAX" in result.output


NODE_OF = {
    "type": "DynamicBlockDefinition",
    "manifest": {
        "block_type": "NodeOf",
        "inputs": {"image": {"kind": ["image"]}},
        "outputs": {"node": {"kind": ["string"]}},
    },
    "code": {
        "imports": ["import ray"],
        "run_function_code": (
            "def run(self, image):\n    return {'node': ray.get_runtime_context().get_node_id()}\n"
        ),
    },
}


def test_the_work_crosses_to_a_second_node(photos, local, ray_cluster, second_node, tmp_path):
    import ray

    document = yaml.safe_load(WORKFLOW.read_text())
    document["dynamic_blocks_definitions"] = [NODE_OF]
    document["steps"].append({"type": "NodeOf", "name": "where", "image": "$inputs.image"})
    document["outputs"].append(
        {"type": "JsonField", "name": "node", "selector": "$steps.where.node"}
    )
    workflow = tmp_path / "where.yaml"
    workflow.write_text(yaml.safe_dump(document, sort_keys=False))
    # 3 actors of 1 CPU on a head of 2 CPUs and a node of 2: at least one actor runs on the
    # node; batches of 1 image, one at a time, and the run starts once all three are up
    on_three = RayPredictions(min_actors=3, max_actors=3, batch_size=1, actor_cpus=1)
    output = tmp_path / "out"
    summary = run_dataset(
        workflow, photos, output, lineage=lineage_in(tmp_path), progress=False,
        predictions=on_three,
    )  # fmt: skip
    assert (summary.ran, list(summary.failed)) == (4, ["broken.png"])
    got = predictions(output)
    nodes = {record["outputs"].pop("node") for record in got.values()}
    assert got == predictions(local)
    head = ray.get_runtime_context().get_node_id()
    assert second_node in nodes and nodes <= {head, second_node}


def test_a_dataset_without_the_image_column_is_refused_at_once(ray_cluster):
    import ray

    with pytest.raises(DatasetRunError) as refused:
        run_workflow_on_dataset(WORKFLOW, ray.data.from_items([{"photo": b""}]))
    assert refused.value.place == "image_column"
    assert refused.value.message == "the dataset has no column 'image' (its columns: ['photo'])"
