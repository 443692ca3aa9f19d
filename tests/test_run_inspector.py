"""The run inspector: ``Workflow.inspected()`` and ``visionflow run --inspect/--profile``.

Real workflows with real models (faces -> crops -> emotion), a ContinueIf branch that masks
an element, two steps that run at once; the page opened in real headless Chromium.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from chromium import CHROMIUM_FLAGS, needs_chromium
from visionflow import Workflow
from visionflow.cli import app
from visionflow.errors import StepExecutionError
from visionflow.inspection import RunRecord
from visionflow.inspection.previews import PREVIEWED_ELEMENTS, THUMBNAIL_SIDE

skimage_data = pytest.importorskip("skimage.data")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FACE_EMOTION = EXAMPLES / "face_emotion.yaml"
FACE_STEPS = ["detect faces", "face crops", "emotion", "faces with emotion", "drawn"]
ASTRONAUT = skimage_data.astronaut()[:, :, ::-1].copy()  # BGR, 512 x 512, one face
COFFEE = skimage_data.coffee()[:, :, ::-1].copy()  # BGR, 600 wide
runner = CliRunner(env={"COLUMNS": "200"})

WIDE_ONLY = """
inputs:
  - {type: image, name: image}
  - {type: parameter, name: min_width, default_value: 550}
steps:
  - type: ContinueIf
    name: wide enough
    condition: "width(image) >= min_width"
    data: {image: $inputs.image, min_width: $inputs.min_width}
    next_steps: [$steps.centre]
  - type: RelativeStaticCrop
    name: centre
    images: $inputs.image
    x_center: 0.5
    y_center: 0.5
    width: 0.5
    height: 0.5
  - {type: PropertyDefinition, name: size, data: $steps.centre.crops, property: image_size}
outputs:
  - {type: JsonField, name: crop, selector: $steps.centre.crops}
  - {type: JsonField, name: size, selector: $steps.size.output}
"""

TWO_CROPS = """
inputs:
  - {type: image, name: image}
steps:
  - {type: RelativeStaticCrop, name: left, images: $inputs.image,
     x_center: 0.25, y_center: 0.5, width: 0.5, height: 1.0}
  - {type: RelativeStaticCrop, name: right, images: $inputs.image,
     x_center: 0.75, y_center: 0.5, width: 0.5, height: 1.0}
outputs:
  - {type: JsonField, name: left, selector: $steps.left.crops}
  - {type: JsonField, name: right, selector: $steps.right.crops}
"""

IDS = {"detection_id", "parent_id", "image_id", "root_id"}


def without_ids(value):
    """Results with the ids every run makes anew (images, detections) left out."""
    if isinstance(value, dict):
        return {k: without_ids(v) for k, v in value.items() if k not in IDS}
    if isinstance(value, list):
        return [without_ids(v) for v in value]
    return value


def decoded(data_url: str) -> np.ndarray:
    assert data_url.startswith("data:image/jpeg;base64,")
    pixels = cv2.imdecode(np.frombuffer(base64.b64decode(data_url.split(",", 1)[1]), np.uint8), 1)
    assert pixels is not None and pixels.ndim == 3
    return pixels


def counts(run: RunRecord) -> dict[str, tuple[int, int, int, int, int]]:
    return {s.step: (s.elements, s.ran, s.masked, s.empty, s.failed) for s in run.steps}


def assert_times_hold(run: RunRecord) -> None:
    """Each step call lies inside its run; a thread runs one step at a time, so the steps'
    times add up to at most the run's wall time once per thread."""
    assert run.seconds > 0
    by_thread: dict[int, list] = {}
    for step in run.steps:
        assert run.start_ns <= step.start_ns < step.end_ns <= run.end_ns
        by_thread.setdefault(step.thread_id, []).append(step)
    for steps in by_thread.values():
        steps.sort(key=lambda s: s.start_ns)
        assert all(a.end_ns <= b.start_ns for a, b in itertools.pairwise(steps))
    assert sum(s.seconds for s in run.steps) <= run.seconds * len(by_thread)


@pytest.fixture(scope="module")
def face_emotion() -> Workflow:
    return Workflow.compile(FACE_EMOTION)


@pytest.fixture(scope="module")
def inspected_faces(face_emotion):
    with face_emotion.inspected() as inspection:
        results = face_emotion.run(image=ASTRONAUT, serialize=True)
    return inspection, results


def test_each_step_of_faces_to_emotion_is_recorded_once_with_exact_counts(inspected_faces):
    inspection, _ = inspected_faces
    (run,) = inspection.runs
    assert [s.step for s in sorted(run.steps, key=lambda s: s.start_ns)] == FACE_STEPS
    # one face -> one crop -> one classification, nothing masked or empty
    assert counts(run) == {name: (1, 1, 0, 0, 0) for name in FACE_STEPS}
    assert run.step("emotion").previews[0].index == (0, 0)  # the crop, one level down
    assert run.error is None
    assert_times_hold(run)


def test_previews_show_the_detections_drawn_the_crop_and_values(inspected_faces):
    run = inspected_faces[0].last
    (faces,) = run.step("detect faces").previews[0].outputs
    assert (faces.kind, faces.count, faces.classes) == ("detections", 1, ["face"])
    assert decoded(faces.thumbnail).shape == (THUMBNAIL_SIDE, THUMBNAIL_SIDE, 3)  # 512 -> 160
    crop = run.step("face crops").previews[0].outputs[0]
    assert crop.kind == "image" and crop.name == "crops"
    width, height = (int(n) for n in crop.text.split("x"))
    assert decoded(crop.thumbnail).shape[:2] == (height, width)  # small: kept as it is
    (emotion,) = run.step("emotion").previews[0].outputs
    assert emotion.kind == "value" and json.loads(emotion.text)["top"] == "happy"
    (relabelled,) = run.step("faces with emotion").previews[0].outputs
    assert (relabelled.count, relabelled.classes) == (1, ["happy"])


def test_inspecting_does_not_change_the_results(face_emotion, inspected_faces):
    plain = face_emotion.run(image=ASTRONAUT, serialize=True)
    assert without_ids(inspected_faces[1]) == without_ids(plain)
    assert plain[0]["emotions"][0]["top"] == "happy"


def test_runs_outside_the_block_or_of_another_workflow_are_not_recorded(face_emotion):
    other = Workflow.compile(TWO_CROPS)
    with face_emotion.inspected() as inspection:
        other.run(image=ASTRONAUT)
    face_emotion.run(image=ASTRONAUT)
    assert inspection.runs == []
    with pytest.raises(LookupError, match="no run was recorded"):
        _ = inspection.last


def test_each_run_in_the_block_is_recorded_but_not_those_of_other_threads(tmp_path):
    workflow = Workflow.compile(TWO_CROPS)
    with workflow.inspected() as inspection:
        workflow.run(image=ASTRONAUT)
        elsewhere = threading.Thread(target=workflow.run, kwargs={"image": ASTRONAUT})
        elsewhere.start()
        elsewhere.join()
        workflow.run(image=[ASTRONAUT, ASTRONAUT])
    assert [(run.number, run.step("left").ran) for run in inspection.runs] == [(1, 1), (2, 2)]
    trace = json.loads(inspection.write_trace(tmp_path / "trace.json").read_text())
    runs = [e["args"]["run"] for e in trace["traceEvents"] if e["ph"] == "X"]
    assert sorted(runs) == [1, 1, 2, 2]


def test_a_continue_if_branch_counts_masked_and_empty_elements():
    workflow = Workflow.compile(WIDE_ONLY)
    with workflow.inspected() as inspection:
        narrow, wide = workflow.run(image=[ASTRONAUT, COFFEE])
    assert narrow == {"crop": None, "size": None}
    assert wide["size"] == {"width": 300, "height": 200}
    run = inspection.last
    assert counts(run) == {
        "wide enough": (2, 2, 0, 0, 0),
        "centre": (2, 1, 1, 0, 0),  # the astronaut (512 wide) masked out by the gate
        "size": (2, 1, 0, 1, 0),  # ... so its crop is missing: an empty input
    }
    gate = run.step("wide enough").previews
    assert [(p.index, p.outputs[0].text) for p in gate] == [((0,), "[]"), ((1,), '["centre"]')]
    assert [p.index for p in run.step("size").previews] == [(1,)]
    assert_times_hold(run)


def test_steps_that_run_at_once_are_recorded_on_their_own_threads(tmp_path):
    workflow = Workflow.compile(TWO_CROPS)
    with workflow.inspected() as inspection:
        workflow.run(image=ASTRONAUT)
    run = inspection.last
    assert {s.step for s in run.steps} == {"left", "right"}
    assert len({s.thread_id for s in run.steps}) == 2  # one inline, one on a step thread
    assert any(s.thread_name.startswith("visionflow-step") for s in run.steps)
    assert_times_hold(run)
    trace = json.loads(inspection.write_trace(tmp_path / "trace.json").read_text())
    steps = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert {e["tid"] for e in steps} == {s.thread_id for s in run.steps}


def test_previews_keep_only_the_first_elements_of_a_batch(tmp_path):
    workflow = Workflow.compile(TWO_CROPS)
    with workflow.inspected() as inspection:
        workflow.run(image=[ASTRONAUT] * 5)
    left = inspection.last.step("left")
    assert (left.elements, left.ran) == (5, 5)
    assert [p.index for p in left.previews] == [(i,) for i in range(PREVIEWED_ELEMENTS)]
    page = inspection.write_html(tmp_path / "run.html").read_text()
    assert "and 2 more element(s)" in page


def test_the_trace_has_one_complete_event_per_step_call(inspected_faces, tmp_path):
    inspection = inspected_faces[0]
    trace = json.loads(inspection.write_trace(tmp_path / "trace.json").read_text())
    events = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert sorted(e["name"] for e in events) == sorted(FACE_STEPS)
    run = inspection.last
    for event in events:
        assert set(event) == {"name", "cat", "ph", "ts", "dur", "pid", "tid", "args"}
        record = run.step(event["name"])
        assert event["dur"] >= 0 and event["ts"] >= 0
        assert event["dur"] == (record.end_ns - record.start_ns) / 1000  # microseconds
        assert isinstance(event["pid"], int) and event["tid"] == record.thread_id
        assert event["args"]["ran"] == 1 and event["args"]["run"] == 1
    names = [e for e in trace["traceEvents"] if e["ph"] == "M" and e["name"] == "thread_name"]
    assert {e["tid"] for e in names} == {e["tid"] for e in events}


def test_a_failing_step_is_recorded_and_the_steps_after_it_did_not_run(tmp_path):
    workflow = Workflow.compile(WIDE_ONLY.replace(">= min_width", "/ min_width > 1"))
    with workflow.inspected() as inspection, pytest.raises(StepExecutionError):
        workflow.run(image=[ASTRONAUT, COFFEE], min_width=0)
    run = inspection.last
    assert counts(run) == {"wide enough": (2, 0, 0, 0, 1)}
    assert run.step("wide enough").error == run.error
    assert "ZeroDivisionError: division by zero" in run.error
    page = inspection.write_html(tmp_path / "run.html").read_text()
    assert "<p class='failed'>Failed: steps &#x27;wide enough&#x27;" in page
    assert ">failed</span>" in page and page.count("not run") == 2  # centre and size


def cli_run(*args: str):
    result = runner.invoke(app, ["run", str(FACE_EMOTION), *args])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def cli_page(tmp_path_factory) -> tuple[Path, Path, list]:
    folder = tmp_path_factory.mktemp("cli")
    image = folder / "astronaut.jpg"
    cv2.imwrite(str(image), ASTRONAUT)
    page, trace, results = folder / "run.html", folder / "trace.json", folder / "results.json"
    cli_run(
        "-i", f"image={image}", "--inspect", str(page), "--profile", str(trace), "-o", str(results)
    )
    plain = folder / "plain.json"
    cli_run("-i", f"image={image}", "-o", str(plain))
    assert without_ids(json.loads(results.read_text())) == without_ids(
        json.loads(plain.read_text())
    )
    return page, trace, json.loads(results.read_text())


def test_the_cli_writes_a_self_contained_page_with_every_step(cli_page):
    page = cli_page[0].read_text()
    for name in FACE_STEPS:
        assert f"<td>{name}</td>" in page
    assert not re.search(r"(src|href)=['\"]https?:", page)  # nothing from the network
    thumbnails = re.findall(r"src='(data:image/jpeg;base64,[^']+)'", page)
    assert len(thumbnails) == 3  # the face drawn, its crop, the drawn image (the rest: values)
    assert all(decoded(t).size for t in thumbnails)


def test_the_cli_trace_loads_as_chrome_trace_events(cli_page):
    trace = json.loads(cli_page[1].read_text())
    events = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert sorted(e["name"] for e in events) == sorted(FACE_STEPS)
    assert all(e["dur"] >= 0 and e["ts"] >= 0 for e in events)


def test_the_cli_writes_the_page_of_a_failed_run(tmp_path):
    document = tmp_path / "bad.yaml"
    document.write_text(WIDE_ONLY.replace(">= min_width", "/ min_width > 1"))
    image = tmp_path / "coffee.jpg"
    cv2.imwrite(str(image), COFFEE)
    page = tmp_path / "run.html"
    args = ["run", str(document), "-i", f"image={image}", "-i", "min_width=0"]
    result = runner.invoke(app, [*args, "--inspect", str(page)])
    assert result.exit_code == 1
    assert "ZeroDivisionError" in page.read_text()


def test_inspecting_a_run_on_a_server_is_refused():
    result = runner.invoke(
        app, ["run", str(FACE_EMOTION), "--inspect", "x.html", "--server", "http://127.0.0.1:1"]
    )
    assert result.exit_code == 2
    assert "leave out --server" in result.output


@needs_chromium
def test_the_page_renders_in_headless_chromium(cli_page, tmp_path):
    page = cli_page[0]
    dom = subprocess.run(
        ["chromium", *CHROMIUM_FLAGS, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    for name in FACE_STEPS:
        assert f"<h3>{name}</h3>" in dom or f"<td>{name}</td>" in dom
    assert dom.count("<img ") == 3
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            "chromium",
            *CHROMIUM_FLAGS,
            "--window-size=1100,900",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=60,
        check=True,
    )
    pixels = cv2.imread(str(shot))
    assert pixels is not None and pixels.shape[:2] == (900, 1100)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 1000  # text, table, photos


def test_running_without_inspecting_does_not_import_the_recorder():
    # Workflow.run reads inspection.active on every run: that import brings nothing more
    code = (
        "import sys, numpy as np\n"
        "from visionflow import Workflow\n"
        "w = Workflow.compile(" + repr(TWO_CROPS) + ")\n"
        "w.run(image=np.zeros((8, 8, 3), np.uint8))\n"
        "print(sorted(m for m in sys.modules if m.startswith('visionflow.inspection')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "['visionflow.inspection', 'visionflow.inspection.active']"
