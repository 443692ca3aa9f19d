"""Deepomatic's workflow documents, as its "Assembling workflows" page writes them, run here.

The page's snippets (metadata, entries, outcomes with regions, an Inference step whose
model is the numeric id 12345) are put together into one ``workflow.yaml``, as written
there. What a test adds is what the page leaves out: the steps its outcome and regions
name (``hello world step``, ``small_object_detector``, ``big_object_detector``), and the
local models its numeric ids stand for. The page's step reads ``image_input`` where its
entry is called ``image input``; the step here reads the entry by its name.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from visionflow import Workflow
from visionflow.errors import DefinitionError, ModelNotFoundError
from visionflow.models.library import map_models
from visionflow.models.zoo import HERE as ZOO
from visionflow.models.zoo import find_entry, model_file

PAGE_DOCUMENT = """
version: "1.2"
workflow_name: My first workflow
workflow:
  entries:
    - name: image input
      data_type: Image
    - name: context
      data_type: Text
  outcomes:
    - name: hello world
      output_of: hello world step
      concept:
        name: speech to the world
        type: Text
      regions:
        - small_object_detector
        - big_object_detector
  steps:
    - name: my first step
      type: Inference
      inputs:
        - image input
      args:
        model_id: 12345
        concepts:
          - persons
"""

STEPS_THE_PAGE_NAMES = """
- name: big_object_detector
  type: Inference
  inputs: [image input]
  args: {model_id: 12345}
- name: small_object_detector
  type: Inference
  inputs: [image input]
  args: {model_id: 67890}
- name: hello world step
  type: Inference
  inputs: [small_object_detector]
  args: {model_id: fer/emotion, concept_name: speech to the world}
"""


@pytest.fixture
def model_descriptions(tmp_path, monkeypatch) -> Path:
    """A VISIONFLOW_MODELS folder holding Deepomatic's model 12345: MediaPipe's person
    detector, its label named as that Deepomatic model names it."""
    folder = tmp_path / "models"
    folder.mkdir()
    text = (ZOO / "mediapipe_pose_detection.yaml").read_text()
    text = text.replace("id: mediapipe/pose_detection", "id: 12345")
    text = text.replace("labels: [person]", "labels: [persons]")
    (folder / "person_detector.yaml").write_text(text)
    monkeypatch.setenv("VISIONFLOW_MODELS", str(folder))
    return folder


def page_document(**changes) -> dict:
    document = yaml.safe_load(PAGE_DOCUMENT)
    document["workflow"]["steps"] += yaml.safe_load(STEPS_THE_PAGE_NAMES)
    document["models"] = {"67890": "mediapipe/face_detection_short_range"}
    document.update(changes)
    return document


def test_the_page_document_runs_with_its_numeric_model_ids(model_descriptions, astronaut):
    workflow = Workflow.compile(page_document(), cache=False)
    result = workflow.run({"image input": astronaut, "context": "a shop"})[0]
    outcome = result["hello world"]
    assert outcome["concept"] == {"name": "speech to the world", "type": "Text"}
    assert outcome["value"] == "happy"
    makers = [region["created_by"] for region in outcome["regions"]]
    assert makers == ["small_object_detector", "big_object_detector"]
    assert result["FlowContainer"]["workflow_name"] == "My first workflow"
    entry, context = result["FlowContainer"]["entries"]
    assert context == {"name": "context", "data_type": "Text", "value": "a shop"}
    first_step = [
        concept["value"]
        for region in entry["regions"]
        for concept in region["concepts"]
        if concept["step"] == "my first step"
    ]
    assert first_step == ["persons"]  # the person the detector found, under its own label
    spec = workflow.plan.steps["my first step"].block.model.spec
    assert (spec.id, spec.labels) == ("12345", ["persons"])


def test_a_numeric_id_that_matches_no_model_is_named(astronaut):
    document = page_document()  # no description of 12345 here
    with pytest.raises(ModelNotFoundError) as error:
        Workflow.compile(document, cache=False)
    assert error.value.message == "Deepomatic model id 12345 matches no model here"
    assert error.value.place == "steps[0] 'my first step' args 'model_id'"
    assert 'models: ("12345": <zoo id or model file>, quoted' in error.value.hint
    assert "--model 12345=PATH" in error.value.hint


def test_the_hint_for_an_unknown_id_is_a_models_entry_that_compiles(astronaut):
    # the entry the hint shows, written as it says (an unquoted 12345 is no key)
    document = yaml.safe_load(yaml.safe_dump(page_document()))
    with pytest.raises(ModelNotFoundError) as error:
        Workflow.compile(document, cache=False)
    shown = error.value.hint.split("under models: (")[1].split(",")[0]
    model = "{source: mediapipe/pose_detection, labels: [persons]}"  # the page's concept
    entry = shown.replace("<zoo id or model file>", model)
    document["models"].update(yaml.safe_load(entry))
    workflow = Workflow.compile(document, cache=False)
    assert workflow.plan.steps["my first step"].block.model.spec.source == (
        "mediapipe/pose_detection"
    )


def test_a_numeric_id_declared_under_models_is_used(astronaut):
    document = page_document()
    document["models"]["12345"] = {"source": "mediapipe/pose_detection", "labels": ["persons"]}
    workflow = Workflow.compile(document, cache=False)
    assert workflow.plan.steps["my first step"].block.model.spec.source == (
        "mediapipe/pose_detection"
    )


@pytest.mark.parametrize(
    ("change", "place", "message"),
    [
        (
            {"version": None},
            "version",
            "a Deepomatic workflow needs 'version', the version of its configuration format",
        ),
        (
            {"version": "2.0"},
            "version",
            "version '2.0' is not a Deepomatic workflow format version",
        ),
        (
            {"workflow_name": None},
            "workflow_name",
            "a Deepomatic workflow needs a 'workflow_name', a non-empty text (found none)",
        ),
        (
            {"workflow_name": ""},
            "workflow_name",
            "a Deepomatic workflow needs a 'workflow_name', a non-empty text (found '')",
        ),
    ],
)
def test_the_mandatory_metadata_is_checked(change, place, message):
    document = copy.deepcopy(yaml.safe_load(PAGE_DOCUMENT))
    for key, value in change.items():
        if value is None:
            del document[key]
        else:
            document[key] = value
    with pytest.raises(DefinitionError) as error:
        Workflow.compile(document, cache=False)
    assert (error.value.place, error.value.message) == (place, message)


def test_a_version_written_as_a_number_is_read_as_its_text(model_descriptions, astronaut):
    document = page_document(version=1.2)
    assert Workflow.compile(document, cache=False).plan.definition.version == "1.2"


def test_a_numeric_id_mapped_by_the_operator_is_used(tmp_path, astronaut):
    description = yaml.safe_load((ZOO / "mediapipe_pose_detection.yaml").read_text())
    description["path"] = str(model_file(find_entry("mediapipe/pose_detection")))
    description["labels"] = ["persons"]
    mapped = tmp_path / "persons.yaml"
    mapped.write_text(yaml.safe_dump(description))
    map_models([f"12345={mapped}"])  # what `visionflow run --model 12345=persons.yaml` does
    try:
        workflow = Workflow.compile(page_document(), cache=False)
    finally:
        map_models([])
    result = workflow.run({"image input": astronaut, "context": "a shop"})[0]
    assert result["hello world"]["value"] == "happy"
    assert workflow.plan.steps["my first step"].block.model.spec.labels == ["persons"]
