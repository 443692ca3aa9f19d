"""Deepomatic-style workflows: entries, steps with inputs/args, outcomes and the FlowContainer,
run with real models (MediaPipe faces, fer emotions) on scikit-image's pictures."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from skimage import data
from typer.testing import CliRunner

from visionflow import Workflow, serialize
from visionflow.cli import app
from visionflow.dialects import detect_dialect, to_definition

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FACES = EXAMPLES / "deepomatic_faces.yaml"
FACE_MODEL = "mediapipe/face_detection_short_range"


@pytest.fixture(scope="module")
def faces() -> Workflow:
    return Workflow.compile(FACES)


@pytest.fixture(scope="module")
def chelsea() -> np.ndarray:
    return np.ascontiguousarray(data.chelsea()[:, :, ::-1])  # a cat: no human face


@pytest.fixture(scope="module")
def frightened(astronaut) -> np.ndarray:
    """The astronaut with her smile blurred away: fer reads fear on that face."""
    pixels = astronaut.copy()
    pixels[135:175, 190:265] = cv2.GaussianBlur(pixels[135:175, 190:265], (0, 0), 12)
    return pixels


@pytest.fixture(scope="module")
def astronaut_result(faces, astronaut) -> dict:
    return faces.run(image=astronaut)[0]


def test_the_dialect_is_detected_from_workflow_name_and_entries():
    document = yaml.safe_load(FACES.read_text())
    assert detect_dialect(document) == "deepomatic"


def test_the_astronaut_is_a_happy_customer(astronaut_result):
    assert astronaut_result["happy customer"]["value"] is True
    assert astronaut_result["face count"]["value"] == 1
    assert astronaut_result["emotions"]["values"] == ["happy"]


def test_an_outcome_carries_the_boxes_of_its_region_steps(astronaut_result):
    (face,) = astronaut_result["happy customer"]["regions"]
    box = face["bbox"]  # normalised to the image, as Deepomatic does
    assert abs((box["xmin"] + box["xmax"]) / 2 * 512 - 225) < 15
    assert abs((box["ymin"] + box["ymax"]) / 2 * 512 - 127) < 15
    emotion = next(c for c in face["concepts"] if c["name"] == "emotion")
    assert emotion["value"] == "happy" and emotion["confidence"] > 0.99


def test_a_cat_has_no_face_so_no_happy_customer(faces, chelsea):
    result = faces.run(image=chelsea)[0]
    assert result["face count"]["value"] == 0
    assert result["happy customer"]["value"] is False
    assert result["happy customer"]["regions"] == []
    assert result["emotions"] == {
        "concept": {"name": "emotion", "type": "Text"},
        "value": None,
        "values": [],
        "confidence": None,
        "regions": [],
    }


def test_the_router_branch_receives_only_the_happy_faces(faces, astronaut, frightened):
    happy, afraid = faces.run(image=[astronaut, frightened])
    assert afraid["emotions"]["values"] == ["fear"]
    assert [r["region_id"] for r in happy["happy customer"]["regions"]] == ["face detector#0"]
    assert afraid["happy customer"]["regions"] == []
    assert (happy["happy customer"]["value"], afraid["happy customer"]["value"]) == (True, False)


def test_the_flow_container_lists_every_region_with_all_its_concepts(astronaut_result):
    container = astronaut_result["FlowContainer"]
    assert container["workflow_name"] == "happy customers"
    (entry,) = container["entries"]
    assert (entry["name"], entry["data_type"], entry["width"], entry["height"]) == (
        "image",
        "Image",
        512,
        512,
    )
    whole, face = entry["regions"]
    assert (whole["region_id"], whole["bbox"]) == ("image", None)
    assert {(c["name"], c["step"], c["value"]) for c in whole["concepts"]} == {
        ("faces", "count faces", 1),
        ("happy faces", "count happy faces", 1),
        ("happy customer", "someone is happy", True),
    }
    assert (face["created_by"], face["parent_id"]) == ("face detector", "image")
    assert [(c["name"], c["type"], c["value"]) for c in face["concepts"]] == [
        ("face", "Text", "face"),
        ("emotion", "Text", "happy"),
    ]


def test_results_are_plain_json(astronaut_result):
    assert serialize(astronaut_result) == astronaut_result
    assert json.loads(json.dumps(astronaut_result)) == astronaut_result


def test_all_faces_of_a_batch_go_to_the_model_in_one_call(faces, astronaut, frightened):
    emotion = faces.plan.steps["emotion"].block.model  # the example's `models:` entry
    before = emotion.metrics()
    faces.run(image=[astronaut, frightened, astronaut])
    after = emotion.metrics()
    assert after["elements"] - before["elements"] == 3
    assert after["batches"] - before["batches"] == 1


def test_concurrent_runs_give_each_their_own_answer(faces, astronaut, chelsea):
    images = [astronaut, chelsea] * 4
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda image: faces.run(image=image)[0], images))
    assert [r["face count"]["value"] for r in results] == [1, 0] * 4


def test_the_flat_layout_and_the_workflow_key_give_the_same_definition():
    document = yaml.safe_load(FACES.read_text())
    flat = {key: value for key, value in document.items() if key != "workflow"}
    flat.update(document["workflow"])
    assert to_definition(flat) == to_definition(document)


CHECKPOINTS = {
    "version": "1.1",
    "workflow_name": "checkpoints",
    "entries": [
        {"name": "image", "data_type": "Image"},
        {"name": "min faces", "data_type": "Number"},
    ],
    "outcomes": [
        {
            "name": "enough faces",
            "output_of": "enough",
            "concept": {"name": "enough faces", "type": "Boolean"},
        },
        {
            "name": "too few faces",
            "output_of": "too few",
            "concept": {"name": "too few faces", "type": "Boolean"},
        },
        {
            "name": "sure of a face",
            "output_of": "sure",
            "concept": {"name": "sure", "type": "Boolean"},
        },
        {
            "name": "both",
            "output_of": "enough and sure",
            "concept": {"name": "both", "type": "Boolean"},
        },
    ],
    "steps": [
        {
            "name": "faces",
            "type": "Inference",
            "inputs": ["image"],
            "args": {"model_id": FACE_MODEL, "concepts": ["face"]},
        },
        {"name": "count", "type": "Counter", "inputs": ["faces"], "args": {"concept_name": "n"}},
        {
            "name": "enough",
            "type": "Compare",
            "inputs": ["count"],
            "args": {
                "input_concept": "n",
                "operator": ">=",
                "value_entry": "min faces",
                "concept_name": "enough faces",
            },
        },
        {
            "name": "too few",
            "type": "BooleanOperation",
            "inputs": ["enough"],
            "args": {
                "operator": "not",
                "input_concepts": ["enough faces"],
                "concept_name": "too few faces",
            },
        },
        {
            "name": "sure",
            "type": "Compare",
            "inputs": ["faces"],
            "args": {
                "input_concept": "faces",
                "attribute": "confidence",
                "operator": ">",
                "value": 0.9,
                "concept_name": "sure",
            },
        },
        {
            "name": "enough and sure",
            "type": "BooleanOperation",
            "inputs": ["enough", "sure"],
            "args": {
                "operator": "and",
                "input_concepts": ["enough faces", "sure"],
                "concept_name": "both",
            },
        },
    ],
}


@pytest.fixture(scope="module")
def checkpoints() -> Workflow:
    return Workflow.compile(CHECKPOINTS)


def test_a_number_entry_is_a_parameter_a_step_can_compare_with(checkpoints, astronaut):
    assert checkpoints.inputs["min faces"]["kinds"] == ["float"]
    one, two = (checkpoints.run(image=astronaut, **{"min faces": n})[0] for n in (1, 2))
    assert (one["enough faces"]["value"], two["enough faces"]["value"]) == (True, False)
    assert (one["too few faces"]["value"], two["too few faces"]["value"]) == (False, True)


def test_compare_can_test_a_concepts_confidence(checkpoints, astronaut):
    result = checkpoints.run(image=astronaut, **{"min faces": 1})[0]
    assert result["sure of a face"]["values"] == [True]  # MediaPipe is 0.92 sure


def test_boolean_and_combines_concepts_of_different_regions_region_by_region(
    checkpoints, astronaut
):
    result = checkpoints.run(image=astronaut, **{"min faces": 1})[0]
    # "enough faces" is on the whole image, "sure" on the face: no region has both
    assert result["both"]["values"] == [False, False]


def test_the_flow_container_shows_number_entries_with_their_values(checkpoints, chelsea):
    container = checkpoints.run(image=chelsea, **{"min faces": 1})[0]["FlowContainer"]
    assert container["entries"][1] == {"name": "min faces", "data_type": "Number", "value": 1}


def test_multiple_inference_runs_one_model_on_several_inputs(astronaut):
    document = {
        "version": "1.2",
        "workflow_name": "emotions everywhere",
        "entries": [{"name": "image", "data_type": "Image"}],
        "outcomes": [
            {
                "name": "emotions",
                "output_of": "emotion",
                "concept": {"name": "emotion", "type": "Text"},
            }
        ],
        "steps": [
            {
                "name": "faces",
                "type": "Inference",
                "inputs": ["image"],
                "args": {"model_id": FACE_MODEL},
            },
            {
                "name": "emotion",
                "type": "MultipleInference",
                "inputs": ["faces", "image"],
                "args": {"model_id": "fer/emotion", "threshold": 0.3},
            },
        ],
    }
    result = Workflow.compile(document).run(image=astronaut)[0]
    assert result["emotions"]["values"] == ["happy", "angry"]  # the face, the whole picture


runner = CliRunner(env={"COLUMNS": "200"})


def test_cli_validate_detects_the_dialect_of_an_example_file():
    result = runner.invoke(app, ["validate", str(FACES), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["valid"] is True
    assert list(report["outputs"]) == ["happy customer", "face count", "emotions", "FlowContainer"]


def test_cli_run_gives_the_outcomes_as_json(tmp_path, astronaut):
    picture = tmp_path / "astronaut.png"
    assert cv2.imwrite(str(picture), astronaut)
    result = runner.invoke(app, ["run", str(FACES), "-i", f"image={picture}"])
    assert result.exit_code == 0, result.output
    (answer,) = json.loads(result.stdout)
    assert answer["happy customer"]["value"] is True
    assert answer["face count"]["value"] == 1
