"""Hints a new user meets on the first day: each says what was probably meant, and only
where it applies (the `$$` escape only for a field that takes a literal text)."""

from __future__ import annotations

import numpy as np
import pytest

from visionflow import Workflow
from visionflow.errors import (
    CustomCodeNotAllowedError,
    ManifestError,
    ModelNotFoundError,
    SelectorError,
    WorkflowError,
)
from visionflow.selectors import meant_selector

DETECT = {
    "type": "ObjectDetectionModel",
    "name": "d",
    "images": "$inputs.image",
    "model": "mediapipe/face_detection_short_range",
}


def compile_steps(*steps: dict, output: str = "$steps.c.image") -> Workflow:
    return Workflow.compile(
        {
            "version": "1.0",
            "inputs": [{"type": "image", "name": "image"}],
            "steps": [DETECT, *steps],
            "outputs": [{"type": "JsonField", "name": "o", "selector": output}],
        }
    )


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("inputs.image", "$inputs.image"),
        ("$input.image", "$inputs.image"),
        ("$Steps.d.predictions", "$steps.d.predictions"),
        ("step.d.predictions", "$steps.d.predictions"),
        ("$inputs.image", None),  # already well formed
        ("$red", None),
        ("image", None),
        ("$inputs.a.b.c", None),  # no selector has that many parts
    ],
)
def test_the_selector_a_malformed_text_meant(text, meant):
    assert meant_selector(text) == meant


@pytest.mark.parametrize("written", ["inputs.image", "$input.image"])
def test_a_selector_only_field_suggests_the_selector_not_the_escape(written):
    crop = {
        "type": "DynamicCrop",
        "name": "c",
        "images": written,
        "predictions": "$steps.d.predictions",
    }
    with pytest.raises(ManifestError) as caught:
        compile_steps(crop, output="$steps.c.crops")
    assert caught.value.place == "steps[1] 'c' field 'images'"
    assert caught.value.hint == "did you mean '$inputs.image'?"


def test_a_field_that_also_takes_texts_names_both_the_selector_and_the_escape():
    template = {
        "type": "roboflow_core/string_template@v1",
        "name": "c",
        "template": "$input.price",
    }
    with pytest.raises(SelectorError) as caught:
        compile_steps(template, output="$steps.c.output")
    assert caught.value.hint == (
        "did you mean '$inputs.price'? Or, a literal text that starts with $ is written $$: "
        "'$$input.price'"
    )
    template["template"] = "$red"
    with pytest.raises(SelectorError) as caught:
        compile_steps(template, output="$steps.c.output")
    assert caught.value.hint.endswith("written $$: '$$red'")
    template["template"] = "$$red"  # escaped, it compiles
    compile_steps(template, output="$steps.c.output")


def test_a_field_whose_texts_are_colours_is_not_told_an_escape_that_is_no_colour():
    # '$$red' is no colour either: the hint gives the selector only
    replace = {
        "type": "BackgroundReplace",
        "name": "c",
        "images": "$inputs.image",
        "predictions": "$steps.d.predictions",
        "background_color": "$input.colour",
    }
    with pytest.raises(SelectorError) as caught:
        compile_steps(replace)
    assert caught.value.hint == "did you mean '$inputs.colour'?"
    replace["background_color"] = "$red"
    with pytest.raises(SelectorError) as caught:
        compile_steps(replace)
    assert caught.value.hint == "use $inputs.<name>, $steps.<step>.<output> or $steps.<step>.*"


def test_a_selector_only_field_past_the_pattern_is_not_told_the_escape():
    # '$inputs.image.x' passes the selector pattern (an input's name and one more part) and
    # is refused by the compiler: the field takes no literal text, so no `$$` either
    crop = {
        "type": "DynamicCrop",
        "name": "c",
        "images": "$inputs.image.x",
        "predictions": "$steps.d.predictions",
    }
    with pytest.raises(SelectorError) as caught:
        compile_steps(crop, output="$steps.c.crops")
    assert caught.value.place == "steps[1] 'c' field 'images'"
    assert caught.value.hint == ("use $inputs.<name>, $steps.<step>.<output> or $steps.<step>.*")


def test_a_literal_only_field_given_a_dollar_text_is_told_the_escape():
    merge = {
        "type": "roboflow_core/detections_merge@v1",
        "name": "c",
        "predictions": "$steps.d.predictions",
        "class_name": "$merged",
    }
    with pytest.raises(ManifestError) as caught:
        compile_steps(merge, output="$steps.c.predictions")
    assert "takes a fixed value" in caught.value.message
    assert caught.value.hint == "a literal text that starts with $ is written $$: '$$merged'"
    merge["class_name"] = "$$merged"  # escaped, it compiles
    compile_steps(merge, output="$steps.c.predictions")


def test_a_wrong_type_gets_no_selector_hint():
    draw = {
        "type": "DrawDetections",
        "name": "c",
        "images": "$inputs.image",
        "predictions": "$steps.d.predictions",
        "labels": "$x",
    }
    with pytest.raises(ManifestError) as caught:
        compile_steps(draw)
    assert caught.value.hint is None


# --- model ids ----------------------------------------------------------------------------


def detector_document(model: str) -> dict:
    return {
        "version": "1.0",
        "inputs": [{"type": "image", "name": "image"}],
        "steps": [{**DETECT, "model": model}],
        "outputs": [{"type": "JsonField", "name": "p", "selector": "$steps.d.predictions"}],
    }


@pytest.mark.parametrize("allow_custom_code", [True, False])
def test_a_misspelt_zoo_id_gets_the_close_id_and_no_talk_of_files(allow_custom_code):
    document = detector_document("mediapipe/face_detection_shortrange")
    with pytest.raises(ModelNotFoundError) as caught:
        Workflow.compile(document, allow_custom_code=allow_custom_code)
    # only the close one: not every "mediapipe/..._detection..." difflib finds alike
    assert caught.value.hint == (
        "did you mean 'mediapipe/face_detection_short_range'? `visionflow models` lists the zoo"
    )
    if not allow_custom_code:  # a document from others: a typo, not a forbidden file
        assert caught.value.message == (
            "model 'mediapipe/face_detection_shortrange' is neither declared under models: "
            "nor a zoo id"
        )


def test_the_zoo_prefix_is_kept_in_the_suggestion_when_written():
    with pytest.raises(ModelNotFoundError) as caught:
        Workflow.compile(detector_document("zoo:fer/emotoin"))
    assert caught.value.hint.startswith("did you mean 'zoo:fer/emotion'?")


def test_an_id_close_to_nothing_gets_no_suggestion_and_says_where_the_file_was_looked_for(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelNotFoundError) as caught:
        Workflow.compile(detector_document("./models/my.onnx"))
    assert caught.value.message.endswith(f"(no file {tmp_path / 'models' / 'my.onnx'})")
    assert caught.value.hint == "`visionflow models` lists the zoo"


def test_a_file_named_by_a_document_from_others_is_still_refused_as_a_file():
    with pytest.raises(CustomCodeNotAllowedError):
        Workflow.compile(detector_document("./models/my.onnx"), allow_custom_code=False)


def test_a_negative_max_detections_is_a_compile_error():
    document = detector_document("mediapipe/face_detection_short_range")
    document["steps"][0]["max_detections"] = -1  # sliced [:-1], it dropped the last box
    with pytest.raises(ManifestError) as caught:
        Workflow.compile(document)
    assert caught.value.place == "steps[0] 'd' field 'max_detections'"


def test_a_step_may_name_its_model_by_a_file_url_in_any_dialect(tmp_path):
    from onnx_models import channel_means

    model = channel_means(tmp_path / "means.onnx")
    document = {
        "version": "1.0",
        "inputs": [{"type": "image", "name": "image"}],
        "models": {
            "means": {
                "source": model.as_uri(),
                "task": "raw",
                "preprocessing": {"size": [32, 32], "color": "bgr", "scale": 1.0},
            }
        },
        "steps": [{"type": "ModelInference", "name": "m", "images": "$inputs.image",
                   "model": "means"}],
        "outputs": [{"type": "JsonField", "name": "means", "selector": "$steps.m.outputs"}],
    }  # fmt: skip
    blue = np.zeros((20, 30, 3), np.uint8)
    blue[:, :, 0] = 200
    [result] = Workflow.compile(document).run(image=blue)
    assert np.allclose(result["means"]["means"], [200, 0, 0])


def test_a_model_url_is_no_file_path_in_errors():
    with pytest.raises(CustomCodeNotAllowedError) as caught:  # a document from others
        Workflow.compile(detector_document("http://127.0.0.1:9/y.onnx"), allow_custom_code=False)
    assert "model URL 'http://127.0.0.1:9/y.onnx'" in caught.value.message
    with pytest.raises(WorkflowError) as caught:  # downloads are off by default
        Workflow.compile(detector_document("http://127.0.0.1:9/y.onnx"))
    assert "no file" not in caught.value.message
