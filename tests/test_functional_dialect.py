"""The functional dialect: named values as function applications, models, map, ensembles.

The three shapes of that style run on real models and real images:
pre-process -> model -> post-process; people -> split -> map(pose estimation);
pre-process -> {model1, model2, model3} -> aggregate -> post-process.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from visionflow import Workflow
from visionflow.dialects import detect_dialect, to_definition
from visionflow.errors import (
    CompilationError,
    CustomCodeNotAllowedError,
    CycleError,
    DefinitionError,
    StepExecutionError,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FACE_BOX = {"literal": [160, 50, 290, 200]}  # the astronaut's face, in pixels

HELPERS = '''
import threading, time
import numpy as np

calls = []
intervals = []
lock = threading.Lock()

def upper_half(image):
    """A pre-processing step that returns a plain array (the model call loads it)."""
    return np.ascontiguousarray(image.numpy[: image.height // 2])

def counted(image):
    with lock:
        calls.append(image.image_id)
    return image.width

def slow(image, label):
    start = time.perf_counter()
    time.sleep(0.2)
    with lock:
        intervals.append((label, start, time.perf_counter()))
    return label

def verdict(results):
    """Aggregate: two emotion classifiers and a face detector run on the same crop."""
    fer, facex, faces = results
    tops = {fer["top"], facex["top"]}
    return {"agreed": len(tops) == 1, "emotion": fer["top"], "faces": len(faces)}

def describe(verdict):
    return f"{verdict['emotion']} ({'agreed' if verdict['agreed'] else 'disputed'})"

def times(value, factor):
    return value * factor

def echo(*values):
    return list(values)

def face_or_none(image):
    """The astronaut's face for a 512-wide image; None (nothing found) for any other."""
    return image.crop(160, 50, 290, 200) if image.width == 512 else None

def faces_or_none(image):
    """A list of the astronaut's face for a 512-wide image; None (nothing found) otherwise."""
    return [image.crop(160, 50, 290, 200)] if image.width == 512 else None

def fail(image):
    raise RuntimeError("no luck with " + image.image_id)

class Scaler:
    def __init__(self, factor):
        self.factor = factor
    def __call__(self, value):
        return value * self.factor
'''


@pytest.fixture(scope="module")
def helpers(tmp_path_factory):
    folder = tmp_path_factory.mktemp("functional_helpers")
    (folder / "fhelpers.py").write_text(textwrap.dedent(HELPERS))
    sys.path.insert(0, str(folder))
    import fhelpers

    yield fhelpers
    sys.path.remove(str(folder))
    sys.modules.pop("fhelpers", None)


@pytest.fixture(scope="module")
def chelsea() -> np.ndarray:
    return np.ascontiguousarray(data.chelsea()[:, :, ::-1])


def compile_functional(workflow: dict, **document) -> Workflow:
    return Workflow.compile({"name": "test", "version": "1.0", "workflow": workflow, **document})


# --- the three shapes, on real models ----------------------------------------------------


def test_preprocess_model_postprocess_with_a_custom_function(helpers, astronaut):
    workflow = compile_functional(
        {"top": ["upperHalf", "in"], "faces": ["faceDetector", "top"], "out": ["count", "faces"]},
        models={"faceDetector": "mediapipe/face_detection_short_range"},
        functions={"upperHalf": "fhelpers:upper_half"},
    )
    assert workflow.run({"in": astronaut}) == [{"out": 1}]


def test_preprocess_model_postprocess_with_built_ins(astronaut):
    workflow = compile_functional(
        {"face": ["crop", "in", FACE_BOX], "out": ["topClass", ["emotion", "face"]]},
        models={"emotion": "fer/emotion"},
    )
    assert workflow.run({"in": astronaut}) == [{"out": "happy"}]


def test_people_split_then_map_pose_estimation_nests_results_per_input(astronaut, chelsea):
    workflow = compile_functional(
        {
            "people": ["detector", "in"],
            "regions": ["personRegions", "in", "people"],
            "out": ["map", "landmarks", "regions"],
        },
        models={
            "detector": "mediapipe/pose_detection",
            "landmarks": "mediapipe/pose_landmarks_full",
        },
    )
    person, cat = workflow.run({"in": [astronaut, chelsea]})
    assert cat == {"out": []}  # no person, so nothing to map over
    (pose,) = person["out"]  # one list entry per person
    names = list(pose.data["keypoints_class_name"][0])
    nose = pose.data["keypoints_xy"][0][names.index("nose")]
    assert len(names) == 33
    assert 179 <= nose[0] <= 272 and 81 <= nose[1] <= 174  # in the image's coordinates


def test_map_runs_the_model_once_over_the_crops_of_every_input(astronaut, monkeypatch):
    workflow = compile_functional(
        {
            "people": ["detector", "in"],
            "regions": ["personRegions", "in", "people"],
            "out": ["map", "landmarks", "regions"],
        },
        models={
            "detector": "mediapipe/pose_detection",
            "landmarks": "mediapipe/pose_landmarks_full",
        },
    )
    model = workflow.plan.steps["out/each"].block.model
    sizes = []
    real_predict = model.predict
    monkeypatch.setattr(
        model,
        "predict",
        lambda images, options: sizes.append(len(images)) or real_predict(images, options),
    )
    results = workflow.run({"in": [astronaut, astronaut, astronaut]})
    assert [len(result["out"]) for result in results] == [1, 1, 1]
    assert sizes == [3]  # three crops of three inputs, one call


def test_preprocess_ensemble_of_three_models_aggregate_postprocess(helpers, astronaut):
    workflow = compile_functional(
        {
            "face": ["crop", "in", FACE_BOX],
            "opinions": ["ensemble", ["fer", "facex", "faces"], "face"],
            "out": ["describe", ["verdict", "opinions"]],
        },
        models={
            "fer": "fer/emotion",
            "facex": "facex/emotion",
            "faces": "mediapipe/face_detection_short_range",
        },
        functions={"verdict": "fhelpers:verdict", "describe": "fhelpers:describe"},
    )
    assert workflow.run({"in": astronaut}) == [{"out": "happy (agreed)"}]
    assert {"opinions/fer", "opinions/facex", "opinions/faces"} <= set(workflow.plan.steps)


def test_an_ensemble_can_be_mapped_over_crops(astronaut):
    workflow = compile_functional(
        {
            "faceCrops": ["crops", "in", ["faces", "in"]],
            "opinions": ["map", ["ensemble", ["fer", "facex"]], "faceCrops"],
            "out": ["map", "topClass", ["map", "consensus", "opinions"]],
        },
        models={
            "faces": "mediapipe/face_detection_short_range",
            "fer": "fer/emotion",
            "facex": "facex/emotion",
        },
    )
    assert workflow.run({"in": [astronaut, astronaut]}) == [{"out": ["happy"]}] * 2
    assert {"opinions/each/fer", "opinions/each/facex", "opinions/each"} <= set(workflow.plan.steps)


def test_built_in_consensus_merges_an_ensemble(astronaut):
    workflow = compile_functional(
        {
            "opinions": ["ensemble", ["fer", "facex"], ["crop", "in", FACE_BOX]],
            "merged": ["consensus", "opinions"],
            "out": ["id", "merged"],
        },
        models={"fer": "fer/emotion", "facex": "facex/emotion"},
    )
    merged = workflow.run({"in": astronaut})[0]["out"]
    assert merged["top"] == "happy" and merged["sources"] == 2


# --- values: computed once, in parallel, literals ------------------------------------------


def test_a_value_used_many_times_is_computed_once_per_element(helpers, astronaut):
    helpers.calls.clear()
    workflow = compile_functional(
        {"width": ["counted", "in"], "out": ["echo", "width", "width", ["echo", "width"]]},
        functions={"counted": "fhelpers:counted", "echo": "fhelpers:echo"},
    )
    assert workflow.run({"in": [astronaut, astronaut]}) == [{"out": [512, 512, [512]]}] * 2
    assert len(helpers.calls) == 2


def test_independent_values_run_at_the_same_time(helpers, astronaut):
    helpers.intervals.clear()
    workflow = compile_functional(
        {
            "a": ["slow", "in", {"literal": "a"}],
            "b": ["slow", "in", {"literal": "b"}],
            "c": ["slow", "in", {"literal": "c"}],
            "out": ["echo", "a", "b", "c"],
        },
        functions={"slow": "fhelpers:slow", "echo": "fhelpers:echo"},
    )
    assert workflow.run({"in": astronaut}) == [{"out": ["a", "b", "c"]}]
    starts = [start for _, start, _ in helpers.intervals]
    ends = [end for _, _, end in helpers.intervals]
    assert max(starts) < min(ends)  # every call began before any had finished


def test_literals_are_written_as_literal_and_never_taken_for_names(helpers, astronaut):
    workflow = compile_functional(
        {
            "out": [
                "echo",
                {"literal": "in"},
                {"literal": "$inputs.in"},
                {"literal": [1, "two"]},
                3,
                0.5,
                True,
                None,
            ]
        },
        functions={"echo": "fhelpers:echo"},
    )
    assert workflow.run({"in": astronaut}) == [
        {"out": ["in", "$inputs.in", [1, "two"], 3, 0.5, True, None]}
    ]


def test_a_bare_text_is_a_name_so_an_unknown_one_is_an_error_with_the_fix():
    with pytest.raises(DefinitionError) as error:
        compile_functional({"out": ["get", "in", "top"]})
    assert "unknown name 'top'" in error.value.message
    assert error.value.place == "workflow 'out'[2]"
    assert "{literal: ...}" in error.value.hint


def test_map_over_a_function_with_an_extra_argument(helpers, astronaut):
    workflow = compile_functional(
        {"numbers": ["echo", 1, 2, 3], "out": ["map", "times", "numbers", ["count", "numbers"]]},
        functions={"echo": "fhelpers:echo", "times": "fhelpers:times"},
    )
    assert workflow.run({"in": [astronaut, astronaut]}) == [{"out": [3, 6, 9]}] * 2


def test_a_class_function_is_made_once_and_called_per_item(helpers, astronaut):
    workflow = compile_functional(
        {"numbers": ["echo", 1, 2, 3], "out": ["map", "double", "numbers"]},
        functions={
            "echo": "fhelpers:echo",
            "double": {"path": "fhelpers:Scaler", "init": {"factor": 2}},
        },
    )
    assert workflow.run({"in": [astronaut, astronaut]}) == [{"out": [2, 4, 6]}] * 2


def test_values_out_does_not_need_are_left_out(helpers, astronaut):
    workflow = compile_functional(
        {"unused": ["fail", "in"], "out": ["count", {"literal": [1, 2]}]},
        functions={"fail": "fhelpers:fail"},
    )
    assert "unused" not in workflow.plan.steps
    assert workflow.run({"in": astronaut}) == [{"out": 2}]


def test_a_none_value_gives_none_at_a_model_and_the_other_elements_still_run(
    helpers, astronaut, chelsea
):
    workflow = compile_functional(
        {"face": ["faceOrNone", "in"], "out": ["topClass", ["fer", "face"]]},
        models={"fer": "fer/emotion"},
        functions={"faceOrNone": "fhelpers:face_or_none"},
    )
    assert workflow.run({"in": [astronaut, chelsea]}) == [{"out": "happy"}, {"out": None}]


def test_a_none_list_maps_to_an_empty_list_and_the_other_elements_still_run(
    helpers, astronaut, chelsea
):
    workflow = compile_functional(
        {"faces": ["facesOrNone", "in"], "out": ["map", "fer", "faces"]},
        models={"fer": "fer/emotion"},
        functions={"facesOrNone": "fhelpers:faces_or_none"},
    )
    person, cat = workflow.run({"in": [astronaut, chelsea]})
    assert [emotion["top"] for emotion in person["out"]] == ["happy"]
    assert cat == {"out": []}


def test_a_model_given_a_list_says_to_map_it(astronaut):
    workflow = compile_functional(
        {"out": ["fer", ["crops", "in", ["faces", "in"]]]},
        models={"fer": "fer/emotion", "faces": "mediapipe/face_detection_short_range"},
    )
    with pytest.raises(StepExecutionError) as error:
        workflow.run({"in": astronaut})
    assert "apply it to each item with [map, fer, <the list>]" in str(error.value)


def test_map_over_detections_gives_one_detection_at_a_time(astronaut):
    workflow = compile_functional(
        {"out": ["map", "count", ["faces", "in"]]},
        models={"faces": "mediapipe/face_detection_short_range"},
    )
    assert workflow.run({"in": astronaut}) == [{"out": [1]}]


def test_a_failing_function_names_its_value(helpers, astronaut):
    workflow = compile_functional({"out": ["fail", "in"]}, functions={"fail": "fhelpers:fail"})
    with pytest.raises(StepExecutionError) as error:
        workflow.run({"in": astronaut})
    assert "'out'" in str(error.value) and "no luck" in str(error.value)


# --- compile errors, before anything runs ------------------------------------------------


@pytest.mark.parametrize(
    ("workflow", "message", "place"),
    [
        ({"a": ["echo", "in"]}, "the workflow defines no 'out' value", "workflow"),
        ({"out": ["mistral", "in"]}, "unknown function or model 'mistral'", "workflow 'out'[0]"),
        ({"out": ["echo", "emotion"]}, "'emotion' is a model or function", "workflow 'out'[1]"),
        ({"out": [3, "in"]}, "an application starts with the name", "workflow 'out'"),
        ({"out": ["map", "emotion"]}, "'map' takes at least 2 argument(s)", "workflow 'out'"),
        ({"out": ["id", "in", "in"]}, "'id' takes 1 argument(s), found 2", "workflow 'out'"),
        ({"out": ["ensemble", "emotion", "in"]}, "ensemble takes a list", "workflow 'out'[1]"),
        ({"out": ["map", ["emotion"], "in"]}, "or [ensemble, [f, g, ...]]", "workflow 'out'[1]"),
        ({"out": ["echo", {"value": 1}]}, "must be a literal", "workflow 'out'[1]"),
        ({"in": ["echo", "in"], "out": "in"}, "'in' cannot name a value", "workflow 'in'"),
        ({"out": ["emotion", "in", "in"]}, "model 'emotion' takes one argument", "workflow 'out'"),
        ({"out": ["emotion", 3]}, "an image value (found a literal)", "workflow 'out'"),
    ],
)
def test_mistakes_are_compile_errors_naming_the_value(workflow, message, place):
    with pytest.raises(DefinitionError) as error:
        compile_functional(
            workflow, models={"emotion": "fer/emotion"}, functions={"echo": "fhelpers:echo"}
        )
    assert message in error.value.message
    assert error.value.place == place


def test_map_needs_a_batch_input():
    with pytest.raises(DefinitionError) as error:
        compile_functional({"out": ["map", "count", "in"]}, input={"type": "parameter"})
    assert "map needs a batch input" in error.value.message
    assert error.value.place == "workflow 'out'"
    assert "input: batch" in error.value.hint


def test_a_batch_input_of_lists_can_be_mapped():
    workflow = compile_functional({"out": ["map", "count", "in"]}, input={"type": "batch"})
    assert workflow.run({"in": [[[1, 2], [3]], [[4]]]}) == [{"out": [2, 1]}, {"out": [1]}]


def test_a_yaml_boolean_as_a_name_gets_a_hint():
    with pytest.raises(DefinitionError) as error:
        Workflow.compile("name: x\nversion: 1\nworkflow:\n  on: [count, in]\n  out: on\n")
    assert "quote such a name" in error.value.hint


def test_a_cycle_between_values_is_a_compile_error_naming_it():
    with pytest.raises(CycleError) as error:
        compile_functional(
            {"a": ["count", "b"], "b": ["count", ["get", "c", 0]], "c": ["id", "a"], "out": "a"}
        )
    assert "a -> b -> c -> a" in error.value.message


def test_a_misspelt_section_is_named_with_the_fix():
    with pytest.raises(DefinitionError) as error:
        Workflow.compile(
            {"name": "x", "version": "1", "workflow": {"out": ["count", "in"]}, "maxWorker": 2}
        )
    assert error.value.place == "maxWorker"
    assert "maxWorkers" in error.value.hint


def test_an_unknown_model_is_a_compile_error_naming_the_value():
    with pytest.raises(CompilationError) as error:
        compile_functional({"out": ["m", "in"]}, models={"m": "fer/emotionz"})
    assert "'out'" in error.value.place
    assert "declared under models:, but its source 'fer/emotionz'" in error.value.message
    assert "'fer/emotion'" in error.value.hint  # written as the document writes ids


def test_imported_functions_are_custom_code_and_can_be_refused(helpers):
    document = {
        "name": "x",
        "version": "1.0",
        "functions": {"echo": "fhelpers:echo"},
        "workflow": {"out": ["echo", ["count", {"literal": [1]}]]},
    }
    with pytest.raises(CustomCodeNotAllowedError) as error:
        Workflow.compile(document, allow_custom_code=False)
    assert "fhelpers:echo" in error.value.message
    assert "'out'" in error.value.place
    built_ins_only = {
        "name": "x",
        "version": "1",
        "workflow": {"out": ["count", {"literal": [1, 2]}]},
    }
    assert Workflow.compile(built_ins_only, allow_custom_code=False).run(
        {"in": np.zeros((4, 4, 3), np.uint8)}
    ) == [{"out": 2}]


# --- document-level: detection, properties, input --------------------------------------


def test_the_dialect_is_detected_from_the_workflow_mapping():
    assert detect_dialect({"name": "x", "workflow": {"out": ["id", "in"]}}) == "functional"
    deepomatic_1_1 = {"version": "1.1", "workflow": {"entries": [], "steps": []}}
    assert detect_dialect(deepomatic_1_1) == "deepomatic"  # even without workflow_name


def test_a_malformed_workflow_section_is_named_as_such():
    with pytest.raises(DefinitionError) as error:
        Workflow.compile({"name": "x", "version": "1", "workflow": [["out", ["count", "in"]]]})
    assert "needs a 'workflow:' mapping of named values, found list" in error.value.message


def test_performance_properties_map_onto_the_model_pool_workflow_wide_then_per_model():
    workflow = compile_functional(
        {"a": ["fer", "in"], "out": ["facex", "in"]},
        models={"fer": "fer/emotion", "facex": {"source": "facex/emotion", "maxWorkers": 3}},
        maxWorkers=2,
        batchSize=4,
        maxBatchDelay=5,
        retryAttempts=1,
        timeout=2000,
    )
    definition = workflow.plan.definition
    assert definition.settings["maxWorkers"] == 2
    facex = workflow.plan.steps["out"].block.model.spec
    assert (facex.max_workers, facex.batch_size, facex.max_batch_delay_ms) == (3, 4, 5)
    assert (facex.retry_attempts, facex.timeout_ms) == (1, 2000)


def test_the_input_can_be_a_parameter():
    workflow = compile_functional(
        {"out": ["count", "in"]}, input={"type": "parameter", "kind": ["list"]}
    )
    assert workflow.run({"in": [1, 2, 3]}) == [{"out": 3}]


def test_translation_gives_native_steps_named_after_the_values():
    definition = to_definition(
        {
            "name": "x",
            "version": "1",
            "models": {"m": "fer/emotion"},
            "workflow": {"faces": ["map", "m", ["crops", "in", "in"]], "out": "faces"},
        }
    )
    assert [(step["name"], step["type"]) for step in definition.steps] == [
        ("faces/2", "FunctionCall"),
        ("faces/items", "ListItems"),
        ("faces/each", "ModelCall"),
        ("faces", "visionflow/dimension_collapse@v1"),
    ]
    assert definition.outputs[0].selector == "$steps.faces.output"


# --- the examples, from Python and from the command line --------------------------------


def test_the_pose_example_gives_one_pose_per_person(astronaut):
    workflow = Workflow.compile(EXAMPLES / "functional_pose.yaml")
    (pose,) = workflow.run({"in": astronaut})[0]["out"]
    assert pose.data["keypoints_xy"].shape == (1, 33, 2)
    landmarks = workflow.plan.steps["poses/each"].block.model.spec
    assert (landmarks.max_workers, landmarks.batch_size) == (2, 4)


def test_the_emotions_example_runs_from_the_command_line(tmp_path, astronaut):
    import cv2
    from typer.testing import CliRunner

    from visionflow.cli import app

    image = tmp_path / "astronaut.png"
    cv2.imwrite(str(image), astronaut)
    example = str(EXAMPLES / "functional_emotions.yaml")
    assert CliRunner().invoke(app, ["validate", example]).exit_code == 0
    result = CliRunner().invoke(app, ["run", example, "--input", f"in={image}"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output[result.output.index("[") :]) == [{"out": ["happy"]}]
