"""MediaPipe's selfie segmentation from the zoo (both models), and the BackgroundBlur /
BackgroundReplace blocks, run through workflows on real pictures.

Expected values were measured once on these pictures with mediapipe 0.10.21's models on
ai-edge-litert. A plain script (the model on ``cv2.resize`` input, its map resized back and
thresholded at 0.5) gives a mask whose IoU with ours is 0.992 on the astronaut: ours samples
the input with MediaPipe's affine warp instead.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import supervision as sv
from skimage import data

from markers import installed
from visionflow import Workflow
from visionflow.blocks.core.background import foreground
from visionflow.data.image import WorkflowImage
from visionflow.errors import ManifestError, ModelError, ModelFormatError, RuntimeInputError
from visionflow.models.zoo import find_entry, model_file, zoo_entries

needs_models = pytest.mark.skipif(
    not installed("mediapipe", "ai_edge_litert"),
    reason="the models ship in mediapipe==0.10.21 and run on ai-edge-litert",
)

PORTRAIT = "mediapipe/selfie_segmentation"
LANDSCAPE = "mediapipe/selfie_segmentation_landscape"

SEGMENT = """
inputs: [{type: image, name: image}]
steps:
  - {type: SegmentationModel, name: seg, images: $inputs.image, model: MODEL OPTIONS}
outputs:
  - {type: JsonField, name: people, selector: $steps.seg.predictions}
"""

EFFECTS = """
inputs:
  - {type: image, name: image}
  - {type: image, name: scenery}
steps:
  - {type: SegmentationModel, name: seg, images: $inputs.image,
     model: mediapipe/selfie_segmentation}
  - {type: BackgroundBlur, name: blur, images: $inputs.image,
     predictions: $steps.seg.predictions, kernel_size: 30}
  - {type: BackgroundReplace, name: green, images: $inputs.image,
     predictions: $steps.seg.predictions, background_color: "#00FF00"}
  - {type: visionflow/background_replace@v1, name: beach, images: $inputs.image,
     predictions: $steps.seg.predictions, background: $inputs.scenery}
outputs:
  - {type: JsonField, name: people, selector: $steps.seg.predictions}
  - {type: JsonField, name: blurred, selector: $steps.blur.image}
  - {type: JsonField, name: green, selector: $steps.green.image}
  - {type: JsonField, name: beach, selector: $steps.beach.image}
"""


def segment(pixels: np.ndarray, model: str = PORTRAIT, options: str = "") -> sv.Detections:
    document = SEGMENT.replace("MODEL", model).replace(" OPTIONS", options)
    return Workflow.compile(document).run(image=pixels)[0]["people"]


@pytest.fixture(scope="module")
def rocket() -> np.ndarray:
    return np.ascontiguousarray(data.rocket()[:, :, ::-1])  # RGB -> BGR


@pytest.fixture(scope="module")
def effects():
    return Workflow.compile(EFFECTS)


def test_the_zoo_lists_both_models():
    entries = zoo_entries()
    for model_id in (PORTRAIT, LANDSCAPE):
        entry = entries[model_id]
        assert entry.package == "mediapipe"
        assert entry.description["task"] == "instance_segmentation"
        assert entry.description["format"] == "mediapipe_selfie"
        assert entry.description["labels"] == ["person"]


@needs_models
@pytest.mark.parametrize(
    ("model", "box", "share", "confidence"),
    [
        (PORTRAIT, [0, 15, 512, 512], 0.5447, 0.9859),
        (LANDSCAPE, [0, 17, 512, 512], 0.5508, 0.9714),
    ],
)
def test_the_astronaut_is_one_person_with_her_mask(astronaut, model, box, share, confidence):
    people = segment(astronaut, model)
    assert len(people) == 1
    assert list(people.data["class_name"]) == ["person"]
    assert people.class_id.tolist() == [0]
    mask = people.mask[0]
    assert mask.shape == (512, 512) and mask.dtype == bool
    assert mask.mean() == pytest.approx(share, abs=0.005)  # more than half of the picture
    assert mask[120, 226]  # her face (MediaPipe's face detector: box 174..278 x 69..172)
    assert mask[400, 250]  # her suit
    # the corners: the flag's stripes, the shuttle model's shelf, the wall behind her
    assert not (mask[0, 0] or mask[0, 511] or mask[300, 505] or mask[20, 20])
    # The box is the mask's bounding box (corners on pixel edges).
    rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    assert people.xyxy[0].tolist() == [columns[0], rows[0], columns[-1] + 1, rows[-1] + 1]
    assert people.xyxy[0].tolist() == box
    assert people.confidence[0] == pytest.approx(confidence, abs=0.002)
    assert people.data["parent_id"][0]  # predicted on the run's image


@needs_models
@pytest.mark.parametrize("model", [PORTRAIT, LANDSCAPE])
def test_no_person_on_the_rocket(rocket, model):
    people = segment(rocket, model)
    assert len(people) == 0


@needs_models
def test_step_options_threshold_the_mask_and_drop_an_unsure_person(astronaut):
    default = segment(astronaut).mask[0]
    strict = segment(astronaut, options=", mask_threshold: 0.95").mask[0]
    assert strict.sum() < default.sum()
    assert not (strict & ~default).any()  # a higher threshold only removes pixels
    # confidence: the mean probability inside the mask (0.9859 here) must reach it
    assert len(segment(astronaut, options=", confidence: 0.98")) == 1
    assert len(segment(astronaut, options=", confidence: 0.99")) == 0
    assert len(segment(astronaut, options=", class_filter: [face]")) == 0


@needs_models
def test_a_letterboxed_input_gives_a_mask_on_the_image(astronaut):
    # A wide picture (her head and shoulders): letterboxed, the map has padding above and
    # below the picture, which is no part of the image's mask.
    wide = np.ascontiguousarray(astronaut[:256])
    letterboxed = {
        "inputs": [{"type": "image", "name": "image"}],
        "models": {
            "people": {"source": PORTRAIT, "preprocessing": {"resize": "letterbox"}},
        },
        "steps": [
            {"type": "SegmentationModel", "name": "seg", "images": "$inputs.image",
             "model": "people"},
        ],
        "outputs": [{"type": "JsonField", "name": "people", "selector": "$steps.seg.predictions"}],
    }  # fmt: skip
    mask = Workflow.compile(letterboxed).run(image=wide)[0]["people"].mask[0]
    # The same letterbox made by hand: the picture between gray (114) bands, stretched.
    padded = np.full((512, 512, 3), 114, np.uint8)
    padded[128:384] = wide
    by_hand = segment(padded).mask[0][128:384]
    assert mask.shape == by_hand.shape == (256, 512)
    assert mask[120, 226]  # her face
    assert not (mask[0, 0] or mask[0, 511] or mask[20, 20])  # the flag, the wall
    # found: IoU 0.9997 (0.54 when the map's padding was stretched onto the picture)
    assert (mask & by_hand).sum() / (mask | by_hand).sum() > 0.99


@needs_models
def test_background_blur_and_replace(effects, astronaut, coffee):
    result = effects.run(image=astronaut, scenery=coffee)[0]
    inside = result["people"].mask[0]
    outside = ~inside

    blurred = result["blurred"].numpy
    assert np.array_equal(blurred[inside], astronaut[inside])  # the person untouched
    # Outside: a Gaussian blur of the whole picture (kernel_size 30 made odd: 31).
    expected = cv2.GaussianBlur(astronaut, (31, 31), 0)
    assert np.array_equal(blurred[outside], expected[outside])
    changed = (blurred != astronaut).any(axis=2)
    assert changed[outside].mean() > 0.9

    green = result["green"].numpy
    assert np.array_equal(green[inside], astronaut[inside])
    assert (green[outside] == [0, 255, 0]).all()  # BGR of #00FF00, exactly

    beach = result["beach"].numpy
    scenery = cv2.resize(coffee, (512, 512), interpolation=cv2.INTER_AREA)
    assert np.array_equal(beach[inside], astronaut[inside])
    assert np.array_equal(beach[outside], scenery[outside])
    # derived images: made from the run's image, in its place
    assert result["beach"].parent_id == result["blurred"].parent_id


@needs_models
def test_without_a_person_the_whole_picture_is_background(effects, rocket, coffee):
    result = effects.run(image=rocket, scenery=coffee)[0]
    assert len(result["people"]) == 0
    assert np.array_equal(result["blurred"].numpy, cv2.GaussianBlur(rocket, (31, 31), 0))
    assert (result["green"].numpy == [0, 255, 0]).all()


def test_foreground_is_the_union_of_masks_or_boxes():
    image = WorkflowImage(np.zeros((4, 6, 3), np.uint8))
    masks = np.zeros((2, 4, 6), bool)
    masks[0, 0, 0] = masks[1, 3, 5] = True
    with_masks = sv.Detections(xyxy=np.array([[0, 0, 1, 1], [5, 3, 6, 4]], float), mask=masks)
    assert np.array_equal(foreground(with_masks, image, "here"), masks[0] | masks[1])
    boxes = sv.Detections(xyxy=np.array([[1, 1, 3, 2]], float))
    expected = np.zeros((4, 6), bool)
    expected[1:2, 1:3] = True
    assert np.array_equal(foreground(boxes, image, "here"), expected)
    other_size = sv.Detections(xyxy=np.array([[0, 0, 1, 1]], float), mask=np.ones((1, 4, 5), bool))
    with pytest.raises(RuntimeInputError) as caught:
        foreground(other_size, image, "field 'predictions'")
    assert caught.value.place == "field 'predictions'"
    assert "5x4" in caught.value.message and "6x4" in caught.value.message


def test_a_wrong_colour_is_a_compile_error():
    document = EFFECTS.replace('"#00FF00"', '"not a colour"')
    with pytest.raises(ManifestError) as caught:
        Workflow.compile(document)
    assert "background_color" in str(caught.value)


@needs_models
def test_a_detector_is_not_a_segmentation_model():
    document = SEGMENT.replace("MODEL", "mediapipe/face_detection_short_range")
    with pytest.raises(ModelError) as caught:
        Workflow.compile(document.replace(" OPTIONS", ""))
    assert "object_detection model" in caught.value.message
    assert caught.value.place == "steps[0] 'seg' field 'model'"


@needs_models
def test_another_models_file_is_a_format_error_with_place_and_hint():
    palm = model_file(find_entry("mediapipe/palm_detection"))
    definition = {
        "inputs": [{"type": "image", "name": "image"}],
        "models": {
            "people": {"source": str(palm), "task": "instance_segmentation",
                       "format": "mediapipe_selfie"},
        },
        "steps": [
            {"type": "SegmentationModel", "name": "seg", "images": "$inputs.image",
             "model": "people"},
        ],
        "outputs": [{"type": "JsonField", "name": "people", "selector": "$steps.seg.predictions"}],
    }  # fmt: skip
    with pytest.raises(ModelFormatError) as caught:
        Workflow.compile(definition)
    error = caught.value
    assert error.message == (
        "model 'people' has outputs [(1, 2016, 18), (1, 2016, 1)]; a selfie segmentation "
        "model has one (1, height, width, 1) probability map"
    )
    assert error.place == "steps[0] 'seg' models 'people' field 'format'"
    assert error.hint == "use format mediapipe_selfie only for MediaPipe's selfie segmentation"


def test_the_blocks_are_listed_in_their_groups():
    from typer.testing import CliRunner

    from visionflow.cli import app

    listing = json.loads(CliRunner().invoke(app, ["blocks", "--json"]).stdout)
    groups = {block["type"]: block["category"] for block in listing}
    assert groups["visionflow/segmentation_model@v1"] == "models"
    assert groups["visionflow/background_blur@v1"] == "image operations"
    assert groups["visionflow/background_replace@v1"] == "image operations"


def test_a_yolo_segmentation_model_feeds_the_same_blocks(tmp_path):
    """SegmentationModel runs any instance segmentation model: here the YOLOv8-seg graph of
    test_yolo_segmentation (fixed outputs); the foreground is the union of its four masks."""
    from test_yolo_segmentation import rectangle, segmentation_model_file

    path = segmentation_model_file(tmp_path)
    document = f"""
inputs: [{{type: image, name: image}}]
models:
  seg: {{source: {path}, task: instance_segmentation, labels: [person, car, dog]}}
steps:
  - {{type: SegmentationModel, name: seg, images: $inputs.image, model: seg,
     class_filter: [car]}}
  - {{type: BackgroundReplace, name: cut, images: $inputs.image,
     predictions: $steps.seg.predictions, background_color: [10, 20, 30]}}
outputs:
  - {{type: JsonField, name: found, selector: $steps.seg.predictions}}
  - {{type: JsonField, name: cut, selector: $steps.cut.image}}
"""
    pixels = np.full((160, 320, 3), 40, np.uint8)
    result = Workflow.compile(document).run(image=pixels)[0]
    assert result["found"].data["class_name"].tolist() == ["car", "car"]
    inside = rectangle(50, 20, 60, 30) | rectangle(280, 0, 320, 20)  # the two cars' masks
    cut = result["cut"].numpy
    assert (cut[inside] == 40).all()
    assert (cut[~inside] == [30, 20, 10]).all()  # R, G, B given: B, G, R pixels
