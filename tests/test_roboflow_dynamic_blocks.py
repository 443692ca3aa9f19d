"""Blocks defined inside a document in Roboflow's schema (ManifestDescription, PythonCode):
the documents as Roboflow's documentation writes them, run here unchanged."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import supervision as sv

from visionflow import Workflow
from visionflow.errors import (
    CustomCodeNotAllowedError,
    DefinitionError,
    ManifestError,
    StepExecutionError,
    WorkflowError,
)


def dynamic_input(**fields) -> dict:
    return {"type": "DynamicInputDefinition", **fields}


def dynamic_block(block_type: str, inputs: dict, outputs: dict, run: str, **more) -> dict:
    code = {"type": "PythonCode", "run_function_code": run, **more.pop("code", {})}
    return {
        "type": "DynamicBlockDefinition",
        "manifest": {
            "type": "ManifestDescription",
            "block_type": block_type,
            "inputs": inputs,
            "outputs": {
                name: {"type": "DynamicOutputDefinition", "kind": kind}
                for name, kind in outputs.items()
            },
            **more,
        },
        "code": code,
    }


MEAN_BRIGHTNESS = dynamic_block(
    "MeanBrightness",
    inputs={
        "image": dynamic_input(selector_types=["input_image"]),
        "factor": dynamic_input(
            selector_types=["input_parameter"],
            selector_data_kind={"input_parameter": ["float"]},
            value_types=["float", "integer"],
            has_default_value=True,
            default_value=1.0,
        ),
    },
    outputs={"brightness": ["float"]},
    # the names Roboflow's engine gives every block's code, used without importing them
    run=(
        "def run(self, image: WorkflowImageData, factor: float) -> BlockResult:\n"
        "    return {'brightness': round(float(np.mean(image.numpy_image)) * factor, 3)}\n"
    ),
)


def document(*definitions, steps: list, outputs: dict, inputs: list | None = None) -> dict:
    return {
        "version": "1.0",
        "inputs": inputs or [{"type": "WorkflowImage", "name": "image"}],
        "dynamic_blocks_definitions": list(definitions),
        "steps": steps,
        "outputs": [
            {"type": "JsonField", "name": name, "selector": selector}
            for name, selector in outputs.items()
        ],
    }


def brightness_document(definition: dict = MEAN_BRIGHTNESS, **step_fields) -> dict:
    step = {"type": "MeanBrightness", "name": "bright", "image": "$inputs.image", **step_fields}
    return document(
        definition,
        inputs=[
            {"type": "WorkflowImage", "name": "image"},
            {"type": "WorkflowParameter", "name": "factor", "default_value": 2.0},
        ],
        steps=[step],
        outputs={"brightness": "$steps.bright.brightness"},
    )


def test_a_roboflow_block_reads_an_images_numpy_image(astronaut):
    results = Workflow.compile(brightness_document()).run(image=astronaut)
    assert results == [{"brightness": round(float(astronaut.mean()), 3)}]


def test_its_field_takes_a_literal_of_its_value_types_or_a_selector(astronaut):
    literal = Workflow.compile(brightness_document(factor=3)).run(image=astronaut)
    selected = Workflow.compile(brightness_document(factor="$inputs.factor")).run(image=astronaut)
    assert literal == [{"brightness": round(float(astronaut.mean()) * 3, 3)}]
    assert selected == [{"brightness": round(float(astronaut.mean()) * 2.0, 3)}]


def test_a_literal_outside_its_value_types_is_a_compile_error():
    with pytest.raises(ManifestError) as caught:
        Workflow.compile(brightness_document(factor="bright"))
    assert caught.value.place == "steps[0] 'bright' field 'factor'"
    assert "Input should be a valid number" in caught.value.message
    assert caught.value.message.endswith(
        "or expected a selector of kind float ($inputs.<name> or $steps.<step>.<output>) "
        "(found 'bright')"
    )


CONFIDENT_PEOPLE = dynamic_block(
    "ConfidentPeople",
    inputs={
        "predictions": dynamic_input(
            selector_types=["generic", "step_output"],
            selector_data_kind={
                "generic": ["object_detection_prediction"],
                "step_output": ["object_detection_prediction"],
            },
        ),
        "min_confidence": dynamic_input(
            value_types=["float"], has_default_value=True, default_value=0.5
        ),
    },
    outputs={"predictions": ["object_detection_prediction"], "count": ["integer"]},
    run=(
        "def run(self, predictions: sv.Detections, min_confidence: float) -> BlockResult:\n"
        "    kept = predictions[(predictions.confidence >= min_confidence)\n"
        "                       & (predictions.data['class_name'] == 'person')]\n"
        "    return {'predictions': kept, 'count': len(kept)}\n"
    ),
)


def detections() -> sv.Detections:
    return sv.Detections(
        xyxy=np.array([[10, 20, 110, 220], [50, 60, 90, 100], [0, 0, 30, 40]], dtype=float),
        confidence=np.array([0.9, 0.3, 0.7]),
        class_id=np.array([0, 0, 1]),
        data={"class_name": np.array(["person", "person", "dog"])},
    )


def test_a_roboflow_block_filters_supervision_detections():
    definition = document(
        CONFIDENT_PEOPLE,
        inputs=[
            {
                "type": "WorkflowBatchInput",
                "name": "predictions",
                "kind": ["object_detection_prediction"],
            }
        ],
        steps=[{"type": "ConfidentPeople", "name": "people", "predictions": "$inputs.predictions"}],
        outputs={"people": "$steps.people.predictions", "count": "$steps.people.count"},
    )
    [result] = Workflow.compile(definition).run(predictions=[detections()])
    assert isinstance(result["people"], sv.Detections)
    assert result["people"].xyxy.tolist() == [[10.0, 20.0, 110.0, 220.0]]
    assert result["people"].confidence.tolist() == [0.9]
    assert result["people"].data["class_name"].tolist() == ["person"]
    assert result["count"] == 1


def test_a_roboflow_block_chains_with_another_ones_step_output(astronaut):
    # the detections come from a step: a block of the document that makes them
    boxes = dynamic_block(
        "TwoBoxes",
        inputs={"image": dynamic_input(selector_types=["input_image"])},
        outputs={"predictions": ["object_detection_prediction"]},
        run=(
            "def run(self, image):\n"
            "    h, w = image.numpy_image.shape[:2]\n"
            "    return {'predictions': sv.Detections(\n"
            "        xyxy=np.array([[0, 0, w / 2, h / 2], [w / 2, h / 2, w, h]]),\n"
            "        confidence=np.array([0.8, 0.4]), class_id=np.array([0, 0]),\n"
            "        data={'class_name': np.array(['person', 'person'])})}\n"
        ),
    )
    definition = document(
        boxes,
        CONFIDENT_PEOPLE,
        steps=[
            {"type": "TwoBoxes", "name": "boxes", "image": "$inputs.image"},
            {
                "type": "ConfidentPeople",
                "name": "people",
                "predictions": "$steps.boxes.predictions",
                "min_confidence": 0.6,
            },
        ],
        outputs={"count": "$steps.people.count"},
    )
    assert Workflow.compile(definition).run(image=astronaut) == [{"count": 1}]


def test_a_roboflow_block_that_accepts_batch_input_gets_a_batch(astronaut, coffee):
    brightest = dynamic_block(
        "Brightest",
        inputs={"images": dynamic_input(selector_types=["input_image"])},
        outputs={"is_brightest": ["boolean"], "batch_size": ["integer"]},
        accepts_batch_input=True,
        code={"run_function_name": "rank", "imports": ["from statistics import fmean"]},
        run=(
            "def rank(self, images: Batch[WorkflowImageData]) -> BlockResult:\n"
            "    assert isinstance(images, Batch)\n"
            "    means = [fmean(image.numpy_image.ravel().tolist()) for image in images]\n"
            "    return [{'is_brightest': mean == max(means), 'batch_size': len(images)}\n"
            "            for mean in means]\n"
        ),
    )
    definition = document(
        brightest,
        steps=[{"type": "Brightest", "name": "b", "images": "$inputs.image"}],
        outputs={"brightest": "$steps.b.is_brightest", "size": "$steps.b.batch_size"},
    )
    brighter_first = astronaut.mean() > coffee.mean()
    assert Workflow.compile(definition).run(image=[astronaut, coffee]) == [
        {"brightest": bool(brighter_first), "size": 2},
        {"brightest": not brighter_first, "size": 2},
    ]


def test_an_input_one_level_deeper_arrives_as_a_batch_per_element(astronaut):
    sizes = dynamic_block(
        "CropSizes",
        inputs={
            "image": dynamic_input(
                selector_types=["input_image"], is_dimensionality_reference=True
            ),
            "crops": dynamic_input(selector_types=["step_output_image"], dimensionality_offset=1),
        },
        outputs={"sizes": ["list_of_values"]},
        run=(
            "def run(self, image, crops: Batch[WorkflowImageData]) -> BlockResult:\n"
            "    return {'sizes': [crop.numpy_image.shape[:2] for crop in crops]}\n"
        ),
    )
    definition = document(
        sizes,
        inputs=IMAGE_AND_BOXES,
        steps=[
            CROP_BOXES,
            {
                "type": "CropSizes",
                "name": "sizes",
                "image": "$inputs.image",
                "crops": "$steps.crop.crops",
            },
        ],
        outputs={"sizes": "$steps.sizes.sizes"},
    )
    boxes = sv.Detections(
        xyxy=np.array([[0.0, 0.0, 10.0, 20.0], [100.0, 50.0, 300.0, 250.0]]),
        confidence=np.array([0.2, 0.9]),
        class_id=np.array([0, 0]),
    )
    results = Workflow.compile(definition).run(image=astronaut, boxes=[boxes])
    assert results == [{"sizes": [(20, 10), (200, 200)]}]


def test_init_function_results_are_self_init_results(astronaut):
    inverted = dynamic_block(
        "InvertedMean",
        inputs={"image": dynamic_input(selector_types=["input_image"])},
        outputs={"mean": ["float"]},
        code={
            "init_function_name": "make_table",
            "init_function_code": (
                "def make_table() -> Dict[str, Any]:\n"
                "    return {'table': np.arange(255, -1, -1, dtype=np.int64)}\n"
            ),
        },
        run=(
            "def run(self, image):\n"
            "    table = self._init_results['table']\n"
            "    return {'mean': float(table[image.numpy_image].mean())}\n"
        ),
    )
    definition = document(
        inverted,
        steps=[{"type": "InvertedMean", "name": "inv", "image": "$inputs.image"}],
        outputs={"mean": "$steps.inv.mean"},
    )
    expected = float((255 - astronaut.astype(np.int64)).mean())
    assert Workflow.compile(definition).run(image=astronaut) == [{"mean": expected}]


def test_an_optional_input_with_a_default_may_be_left_out(astronaut):
    optional = copy.deepcopy(MEAN_BRIGHTNESS)
    optional["manifest"]["inputs"]["factor"].update(is_optional=True, default_value=None)
    optional["code"]["run_function_code"] = (
        "def run(self, image, factor):\n"
        "    return {'brightness': 'no factor' if factor is None else factor}\n"
    )
    results = Workflow.compile(brightness_document(optional)).run(image=astronaut)
    assert results == [{"brightness": "no factor"}]


def test_an_input_without_a_default_is_required_even_when_optional():
    required = copy.deepcopy(MEAN_BRIGHTNESS)
    required["manifest"]["inputs"]["factor"].update(is_optional=True, has_default_value=False)
    with pytest.raises(ManifestError) as caught:
        Workflow.compile(brightness_document(required))
    assert caught.value.place == "steps[0] 'bright'"
    assert caught.value.message == "missing required field 'factor'"


def test_custom_code_is_refused_when_not_allowed():
    with pytest.raises(CustomCodeNotAllowedError) as caught:
        Workflow.compile(brightness_document(), allow_custom_code=False)
    assert caught.value.place == "dynamic_blocks_definitions[0] 'MeanBrightness'"


def compile_error(definition: dict) -> DefinitionError:
    with pytest.raises(DefinitionError) as caught:
        Workflow.compile(brightness_document(definition))
    return caught.value


def changed_input(**fields) -> dict:
    changed = copy.deepcopy(MEAN_BRIGHTNESS)
    changed["manifest"]["inputs"]["factor"].update(fields)
    return changed


PLACE = "dynamic_blocks_definitions[0] 'MeanBrightness' field 'manifest.inputs.factor"


def test_an_unknown_selector_type_is_named():
    error = compile_error(changed_input(selector_types=["input_parameters"]))
    assert error.message == "input 'factor' has unknown selector type 'input_parameters'"
    assert error.place == f"{PLACE}.selector_types'"
    assert error.hint.startswith("did you mean 'input_parameter'? selector types: input_image,")


def test_an_unknown_value_type_is_named():
    error = compile_error(changed_input(value_types=["float", "floats"]))
    assert error.message == "input 'factor' has unknown value type 'floats'"
    assert error.place == f"{PLACE}.value_types'"
    assert error.hint == (
        "did you mean 'float'? value types: any, integer, float, boolean, dict, list, string"
    )


def test_an_unknown_kind_of_a_selector_type_is_named():
    error = compile_error(changed_input(selector_data_kind={"input_parameter": ["flot"]}))
    assert error.message == "input 'factor' has unknown kinds ['flot']"
    assert error.place == f"{PLACE}.selector_data_kind.input_parameter'"
    assert "'float'" in error.hint


def test_an_input_that_takes_nothing_is_an_error():
    error = compile_error(changed_input(selector_types=[], value_types=[]))
    assert error.message == "input 'factor' takes neither selectors nor values"
    assert error.place == f"{PLACE}'"


def test_a_wrong_field_of_the_schema_is_named():
    error = compile_error(changed_input(dimensionality_offset=2))
    assert error.message.startswith("field 'manifest.inputs.factor.dimensionality_offset': ")


def test_an_empty_init_function_code_is_an_error():
    broken = copy.deepcopy(MEAN_BRIGHTNESS)
    broken["code"].update(init_function_code="", init_function_name="init_model")
    error = compile_error(broken)
    assert error.message == "the block's code defines no function 'init_model'"
    assert error.place == (
        "dynamic_blocks_definitions[0] 'MeanBrightness' field 'code.init_function_code'"
    )


ASSOCIATION = dynamic_block(
    "DetectionsToCropsAssociation",
    inputs={
        "prediction": dynamic_input(
            selector_types=["step_output"],
            selector_data_kind={"step_output": ["object_detection_prediction"]},
        ),
        # the reference, one level deeper: a result per crop, at the crops' level
        "crops": dynamic_input(
            selector_types=["step_output_image"],
            is_dimensionality_reference=True,
            dimensionality_offset=1,
        ),
    },
    outputs={"associated": ["object_detection_prediction"]},
    run=(
        "def run(self, prediction: sv.Detections, crops: Batch[WorkflowImageData]):\n"
        "    rows = {d: i for i, d in enumerate(prediction.data['detection_id'])}\n"
        "    return [\n"
        "        {'associated': prediction[rows[crop.parent_metadata.parent_id]]}\n"
        "        for crop in crops\n"
        "    ]\n"
    ),
)


IMAGE_AND_BOXES = [  # an image and detections on it, given in Roboflow's JSON
    {"type": "WorkflowImage", "name": "image"},
    {"type": "WorkflowBatchInput", "name": "boxes", "kind": ["object_detection_prediction"]},
]
CROP_BOXES = {
    "type": "Crop",
    "name": "crop",
    "image": "$inputs.image",
    "predictions": "$inputs.boxes",
}


def box(x: float, y: float, detection_id: str) -> dict:
    """A detection in Roboflow's JSON (centre, size), as a batch input gives it."""
    return {
        "x": x,
        "y": y,
        "width": 40,
        "height": 30,
        "confidence": 0.9,
        "class": "thing",
        "class_id": 0,
        "detection_id": detection_id,
    }


def test_a_deeper_dimensionality_reference_gives_a_result_per_child(astronaut):
    workflow = document(
        ASSOCIATION,
        inputs=IMAGE_AND_BOXES,
        steps=[
            CROP_BOXES,
            {
                "type": "DetectionsToCropsAssociation",
                "name": "associate",
                "prediction": "$inputs.boxes",
                "crops": "$steps.crop.crops",
            },
        ],
        outputs={"associated": "$steps.associate.associated"},
    )
    boxes = {
        "image": {"width": 512, "height": 512},
        "predictions": [box(100, 100, "first"), box(300, 200, "second")],
    }
    [result] = Workflow.compile(workflow).run(image=astronaut, boxes=[boxes])
    associated = result["associated"]  # a list: one value per crop
    assert [d.data["detection_id"].tolist() for d in associated] == [["first"], ["second"]]
    assert associated[1].xyxy.tolist() == [[280.0, 185.0, 320.0, 215.0]]


def test_an_exception_in_roboflow_code_names_its_line(astronaut):
    broken = copy.deepcopy(MEAN_BRIGHTNESS)
    broken["code"]["run_function_code"] = "def run(self, image, factor):\n    return 1 / 0\n"
    with pytest.raises(StepExecutionError) as caught:
        Workflow.compile(brightness_document(broken)).run(image=astronaut)
    assert caught.value.message.endswith(
        "(dynamic block 'MeanBrightness', run_function_code line 2: 'return 1 / 0')"
    )


def test_code_using_a_name_roboflow_does_not_give_fails_at_compile():
    broken = copy.deepcopy(MEAN_BRIGHTNESS)
    broken["code"]["run_function_code"] = "def run(self, some: InvalidType):\n    pass\n"
    error = compile_error(broken)
    assert error.message == (
        "the block's code failed while loading: NameError: name 'InvalidType' is not "
        "defined at run_function_code line 1: 'def run(self, some: InvalidType):'"
    )


def test_two_dimensionality_references_are_an_error():
    both = copy.deepcopy(MEAN_BRIGHTNESS)
    for spec in both["manifest"]["inputs"].values():
        spec["is_dimensionality_reference"] = True
    error = compile_error(both)
    assert (
        error.message == "inputs ['image', 'factor'] are all declared the dimensionality reference"
    )
    assert error.place == "dynamic_blocks_definitions[0] 'MeanBrightness' field 'manifest.inputs'"


def test_unknown_keys_are_ignored_as_roboflows_engine_ignores_them(astronaut):
    annotated = copy.deepcopy(MEAN_BRIGHTNESS)
    annotated["manifest"]["inputs"]["image"]["ui_hint"] = "the picture"
    annotated["code"]["editor"] = {"theme": "dark"}
    results = Workflow.compile(brightness_document(annotated)).run(image=astronaut)
    assert results == [{"brightness": round(float(astronaut.mean()), 3)}]


def test_an_input_parameter_field_refuses_a_batch_at_compile_time():
    """``input_parameter`` is Roboflow's parameter selector: one value for the whole run."""
    definition = brightness_document(factor="$inputs.factors")
    definition["inputs"].append(
        {"type": "WorkflowBatchInput", "name": "factors", "kind": ["float"]}
    )
    with pytest.raises(WorkflowError) as caught:
        Workflow.compile(definition)
    assert caught.value.code == "dimensionality_mismatch"
    assert caught.value.place == "steps[0] 'bright' field 'factor'"
    assert "takes one value for the whole run" in caught.value.message


COUNTER = dynamic_block(
    "Counter",
    inputs={"values": dynamic_input(selector_types=["step_output"])},
    outputs={"count": ["integer"]},
    run="def run(self, values):\n    return [{'count': len(values)} for _ in values]\n",
    batch_oriented_parameters=["values"],
)


def counter_document(values_input: dict) -> dict:
    """Counter fed by a step: per element for a batch input, once for a parameter."""
    return document(
        COUNTER,
        inputs=[values_input],
        steps=[
            {
                "type": "roboflow_core/first_non_empty_or_default@v1",
                "name": "value",
                "data": ["$inputs.values"],
            },
            {"type": "Counter", "name": "count", "values": "$steps.value.output"},
        ],
        outputs={"count": "$steps.count.count"},
    )


def test_batch_oriented_parameters_get_a_batch_and_a_scalar_is_cast_to_one():
    batch = {"type": "WorkflowBatchInput", "name": "values", "kind": ["integer"]}
    assert Workflow.compile(counter_document(batch)).run(values=[4, 5, 6]) == [
        {"count": 3},
        {"count": 3},
        {"count": 3},
    ]
    # Roboflow's auto batch casting: a batch of one, and the output stays a scalar
    parameter = {"type": "WorkflowParameter", "name": "values"}
    assert Workflow.compile(counter_document(parameter)).run(values=7) == [{"count": 1}]


def test_a_batch_oriented_parameter_taking_parameters_gets_them_as_they_are():
    """Roboflow casts only where the field's selectors all point at batches; a batch block
    given no batch is called once with the values and returns one result."""
    definition = copy.deepcopy(COUNTER)
    definition["manifest"]["inputs"]["values"]["selector_types"] = ["input_parameter"]
    definition["code"]["run_function_code"] = (
        "def run(self, values):\n    return {'count': values}\n"
    )
    workflow = document(
        definition,
        inputs=[{"type": "WorkflowParameter", "name": "values"}],
        steps=[{"type": "Counter", "name": "count", "values": "$inputs.values"}],
        outputs={"count": "$steps.count.count"},
    )
    assert Workflow.compile(workflow).run(values=7) == [{"count": 7}]


def test_batch_oriented_parameters_must_name_inputs():
    definition = copy.deepcopy(COUNTER)
    definition["manifest"]["batch_oriented_parameters"] = ["value"]
    with pytest.raises(DefinitionError) as caught:
        Workflow.compile(
            counter_document({"type": "WorkflowParameter", "name": "values"})
            | {"dynamic_blocks_definitions": [definition]}
        )
    assert caught.value.message == (
        "batch_oriented_parameters names ['value'], which are not inputs of the block"
    )
    assert caught.value.hint == "the block's inputs are: values"


PLACES = dynamic_block(
    "Places",
    inputs={"image": dynamic_input(selector_types=["input_image", "step_output_image"])},
    outputs={"parent": ["list_of_values"], "root": ["list_of_values"]},
    # Roboflow's block code reads an image's place without checking for None
    run=(
        "def run(self, image: WorkflowImageData) -> BlockResult:\n"
        "    parent = image.parent_metadata.origin_coordinates\n"
        "    root = image.workflow_root_ancestor_metadata.origin_coordinates\n"
        "    return {\n"
        "        'parent': [image.parent_metadata.parent_id, parent.left_top_x,\n"
        "                   parent.left_top_y, parent.origin_width, parent.origin_height],\n"
        "        'root': [root.left_top_x, root.left_top_y, root.origin_width,\n"
        "                 root.origin_height],\n"
        "    }\n"
    ),
)


def test_an_images_place_in_its_parent_as_roboflows_block_code_reads_it(astronaut):
    workflow = document(
        PLACES,
        inputs=IMAGE_AND_BOXES,
        steps=[
            CROP_BOXES,
            {"type": "Places", "name": "whole", "image": "$inputs.image"},
            {"type": "Places", "name": "crops", "image": "$steps.crop.crops"},
        ],
        outputs={"whole": "$steps.whole.root", "crops": "$steps.crops.parent"},
    )
    boxes = {"image": {"width": 512, "height": 512}, "predictions": [box(300, 200, "second")]}
    [result] = Workflow.compile(workflow).run(image=astronaut, boxes=[boxes])
    # as in Roboflow: an image that is no crop sits at (0, 0) of itself, its own size
    assert result["whole"] == [0, 0, 512, 512]
    assert result["crops"] == [["second", 280, 185, 512, 512]]


def test_a_crop_of_a_crop_knows_its_place_in_its_direct_parent():
    from visionflow.data.image import OriginCoordinates, WorkflowImage

    crop = WorkflowImage(np.zeros((100, 200, 3), np.uint8)).crop(10, 20, 110, 80, crop_id="a")
    inner = crop.crop(5, 6, 50, 40, crop_id="b")
    assert inner.parent_metadata == ("b", OriginCoordinates(5, 6, 100, 60))
    assert inner.workflow_root_ancestor_metadata.origin_coordinates == (15, 26, 200, 100)


def classifier(result: str) -> dict:
    """An in-document block giving each crop a classification in Roboflow's JSON form:
    ``result`` for crops at least 30 pixels wide, ``narrow`` for the others."""
    return dynamic_block(
        "FakeClassifier",
        inputs={"image": dynamic_input(selector_types=["step_output_image"])},
        outputs={"p": ["classification_prediction"]},
        run=(
            "def run(self, image):\n"
            f"    wide, narrow = {result}\n"
            "    found = wide if image.numpy_image.shape[1] >= 30 else narrow\n"
            "    return {'p': {**found, 'parent_id': image.parent_metadata.parent_id}}\n"
        ),
    )


SINGLE = (
    "{'top': 'cat', 'confidence': 0.8,"
    " 'predictions': [{'class': 'cat', 'class_id': 3, 'confidence': 0.8}]}"
)
MULTI = (
    "{'predicted_classes': %s, 'predictions': {'cat': {'class_id': 3, 'confidence': 0.3},"
    " 'dog': {'class_id': 1, 'confidence': 0.6}}}"
)


@pytest.mark.parametrize(
    ("wide", "narrow", "expected"),
    [
        # single-label without a class id of its own: the top class's entry gives it;
        # one with no top class gets the fallback (Roboflow's engine's values)
        (
            SINGLE,
            "{'top': '', 'confidence': 0.0, 'predictions': []}",
            [("cat", 3, 0.8), ("unknown", -1, 0.0)],
        ),
        # multi-label as Roboflow gives it (predictions by class): its most confident
        # class; one that predicted no class is dropped, fallback or not
        (MULTI % "['dog']", MULTI % "[]", [("dog", 1, 0.6)]),
    ],
)
def test_classes_replacement_reads_roboflows_classification_forms(wide, narrow, expected):
    workflow = document(
        classifier(f"{wide}, {narrow}"),
        inputs=IMAGE_AND_BOXES,
        steps=[
            CROP_BOXES,
            {"type": "FakeClassifier", "name": "classify", "image": "$steps.crop.crops"},
            {
                "type": "roboflow_core/detections_classes_replacement@v1",
                "name": "replace",
                "object_detection_predictions": "$inputs.boxes",
                "classification_predictions": "$steps.classify.p",
                "fallback_class_name": "unknown",
            },
        ],
        outputs={"replaced": "$steps.replace.predictions"},
    )
    boxes = {
        "image": {"width": 200, "height": 100},
        "predictions": [
            {**box(50, 50, "wide"), "width": 40},
            {**box(150, 50, "narrow"), "width": 20},
        ],
    }
    image = np.zeros((100, 200, 3), np.uint8)
    [result] = Workflow.compile(workflow).run(image=image, boxes=[boxes])
    replaced = result["replaced"]
    found = zip(
        replaced.data["class_name"].tolist(),
        replaced.class_id.tolist(),
        replaced.confidence.round(3).tolist(),
        strict=True,
    )
    assert list(found) == expected


def gathering_block(**manifest) -> dict:
    """Gathers the widths of an image's crops; says how ``extra`` arrives."""
    return dynamic_block(
        "Gather",
        inputs={
            "values": dynamic_input(selector_types=["step_output"]),
            "extra": dynamic_input(selector_types=["step_output"], value_types=["integer"]),
        },
        outputs={"out": []},
        run=(
            "def run(self, values, extra):\n"
            "    shown = [list(e) for e in extra] if isinstance(extra, Batch) else extra\n"
            "    return [{'out': [list(v), shown]} for v in values]\n"
        ),
        output_dimensionality_offset=-1,
        accepts_batch_input=True,
        **manifest,
    )


WIDTH = dynamic_block(
    "Width",
    inputs={"image": dynamic_input(selector_types=["step_output_image"])},
    outputs={"w": []},
    run="def run(self, image):\n    return {'w': int(image.numpy_image.shape[1])}\n",
)


def run_gather(gather: dict) -> list[dict]:
    """Two crops' widths (40 and 20 px), gathered by ``gather`` with a parameter ``extra``."""
    workflow = document(
        WIDTH,
        gather,
        inputs=[
            *IMAGE_AND_BOXES,
            {"type": "WorkflowParameter", "name": "extra", "default_value": 5},
        ],
        steps=[
            CROP_BOXES,
            {"type": "Width", "name": "width", "image": "$steps.crop.crops"},
            {
                "type": "Gather",
                "name": "gather",
                "values": "$steps.width.w",
                "extra": "$inputs.extra",
            },
        ],
        outputs={"gathered": "$steps.gather.out"},
    )
    boxes = {
        "image": {"width": 200, "height": 100},
        "predictions": [{**box(50, 50, "a"), "width": 40}, {**box(150, 50, "b"), "width": 20}],
    }
    return Workflow.compile(workflow).run(image=np.zeros((100, 200, 3), np.uint8), boxes=[boxes])


@pytest.mark.parametrize(
    ("manifest", "extra"),
    [
        ({}, 5),
        # cast to the children's level, then gathered with them (Roboflow's engine's value)
        ({"get_parameters_enforcing_auto_batch_casting": ["extra"]}, [[5, 5]]),
    ],
)
def test_parameters_enforcing_auto_batch_casting_arrive_as_batches(manifest, extra):
    [result] = run_gather(gathering_block(**manifest))
    assert result["gathered"] == [[40, 20], extra]


def test_parameters_enforcing_auto_batch_casting_must_be_inputs():
    broken = copy.deepcopy(MEAN_BRIGHTNESS)
    broken["manifest"]["get_parameters_enforcing_auto_batch_casting"] = ["gain"]
    error = compile_error(broken)
    assert error.message == (
        "get_parameters_enforcing_auto_batch_casting names ['gain'], which are not inputs "
        "of the block"
    )


def test_a_gathering_block_taking_no_batches_gets_its_enforced_parameters_as_batches():
    # what get_parameters_enforcing_auto_batch_casting is for (Roboflow's engine's values)
    gather = gathering_block(get_parameters_enforcing_auto_batch_casting=["extra"])
    gather["manifest"]["accepts_batch_input"] = False
    gather["code"]["run_function_code"] = (
        "def run(self, values, extra):\n"
        "    return {'out': [type(extra).__name__, list(values), list(extra)]}\n"
    )
    [result] = run_gather(gather)
    assert result["gathered"] == ["Batch", [40, 20], [5, 5]]
