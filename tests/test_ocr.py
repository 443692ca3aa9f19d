"""OCR with the three RapidOCR models (detection, orientation, recognition) on a real
scanned page: scikit-image's ``page()``, a paragraph about region-based segmentation."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from visionflow import Workflow
from visionflow.blocks.core.ocr import OrientImage, PerspectiveCrop
from visionflow.data.image import WorkflowImage
from visionflow.errors import ModelError
from visionflow.models.heads.ocr import TextRecognitionHead, ctc_greedy_decode, rotate_180
from visionflow.models.model import Model
from visionflow.models.spec import ModelSpec
from visionflow.models.zoo import ZooEntry, find_entry, model_file

pytest.importorskip("rapidocr", reason="the OCR models ship in the rapidocr package")

FIRST_LINES = [
    "Region-based segmentation",
    "Let us first determine markers of the coins and the",
    "background. These markers are pixels that we can label",
    "unambiguously as either object or background. Here,",
]


def zoo_model(name: str, **settings) -> Model:
    entry = find_entry(name)
    assert entry is not None, f"{name} is not in the zoo"
    return Model(
        ModelSpec(id=entry.id, source=entry.id, **entry.description, **settings), model_file(entry)
    )


@pytest.fixture(scope="module")
def page() -> WorkflowImage:
    from skimage import data

    gray = data.page()  # 191 x 384, grayscale
    return WorkflowImage(np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2)))


@pytest.fixture(scope="module")
def detector() -> Iterator[Model]:
    model = zoo_model("rapidocr/text_detection")
    yield model
    model.close()


@pytest.fixture(scope="module")
def classifier() -> Iterator[Model]:
    model = zoo_model("rapidocr/text_orientation")
    yield model
    model.close()


@pytest.fixture(scope="module")
def recogniser() -> Iterator[Model]:
    model = zoo_model("rapidocr/text_recognition", batch_size=8)
    yield model
    model.close()


@pytest.fixture(scope="module")
def lines(page, detector) -> list[WorkflowImage]:
    detections = detector.predict([page])[0]
    return [crop["crops"] for crop in PerspectiveCrop().run(page, detections)]


def read(image: WorkflowImage, detector: Model, recogniser: Model) -> list[str]:
    detections = detector.predict([image])[0]
    crops = [crop["crops"] for crop in PerspectiveCrop().run(image, detections)]
    return [line["text"] for line in recogniser.predict(crops)]


# --- detection ------------------------------------------------------------------------------


def test_detection_finds_the_text_lines_of_the_page_in_reading_order(page, detector):
    detections = detector.predict([page])[0]
    quads = detections.data["quad"]

    assert 5 <= len(detections) <= 30
    assert quads.shape == (len(detections), 4, 2)
    assert (quads >= 0).all() and (quads[..., 0] <= page.width).all()
    assert (quads[..., 1] <= page.height).all()
    # xyxy is each quad's bounding box; corners go clockwise from the top-left
    assert np.allclose(detections.xyxy[:, :2], quads.min(axis=1))
    assert np.allclose(detections.xyxy[:, 2:], quads.max(axis=1))
    assert (quads[:, 1, 0] > quads[:, 0, 0]).all() and (quads[:, 3, 1] > quads[:, 0, 1]).all()
    assert list(detections.data["class_name"]) == ["text"] * len(detections)
    assert ((detections.confidence >= 0.5) & (detections.confidence <= 1)).all()
    assert (np.diff(quads[:, 0, 1]) > 0).all()  # one line per row, top to bottom
    assert set(detections.data["parent_id"]) == {page.image_id}


def test_detection_confidence_option_raises_the_box_threshold(page, detector):
    everything = detector.predict([page])[0]
    confident = detector.predict([page], {"confidence": 0.75})[0]

    assert len(confident) == (everything.confidence >= 0.75).sum() < len(everything)


# --- recognition ----------------------------------------------------------------------------


def test_recognition_reads_the_lines_of_the_page(lines, recogniser):
    results = recogniser.predict(lines)
    texts = [result["text"] for result in results]

    assert texts[:4] == FIRST_LINES
    assert "histogram of grey values:" in texts
    assert all(result["confidence"] > 0.9 for result in results)
    assert [result["parent_id"] for result in results] == [line.image_id for line in lines]


def test_lines_read_alone_or_padded_together_give_the_same_text(lines, recogniser):
    alone = zoo_model("rapidocr/text_recognition", batch_size=1)
    try:
        assert [r["text"] for r in alone.predict(lines)] == [
            r["text"] for r in recogniser.predict(lines)
        ]
    finally:
        alone.close()


def test_a_slanted_page_is_read_through_perspective_crops(page, detector, recogniser):
    border = cv2.copyMakeBorder(page.numpy, 60, 60, 20, 20, cv2.BORDER_CONSTANT, value=(255,) * 3)
    height, width = border.shape[:2]
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), 8, 1.0)
    slanted = cv2.warpAffine(border, turn, (width, height), borderValue=(255, 255, 255))

    assert read(WorkflowImage(slanted), detector, recogniser)[:4] == FIRST_LINES


def test_a_strip_much_wider_than_high_is_padded_and_still_read(page, detector, recogniser):
    strip = WorkflowImage(np.ascontiguousarray(page.numpy[5:40, :300]))  # ratio 8.6 > 8

    assert " ".join(read(strip, detector, recogniser)) == "Region-based segmentation"


def test_ctc_decoding_collapses_repeats_and_drops_blanks():
    characters = ["<blank>", "a", "b", "c"]
    best = [1, 1, 0, 1, 2, 2, 0, 0, 3, 3, 1]  # a a _ a b b _ _ c c a
    scores = np.full((len(best), len(characters)), 0.1)
    scores[np.arange(len(best)), best] = 0.7

    text, confidence = ctc_greedy_decode(scores, characters)

    assert text == "aabca"
    assert confidence == pytest.approx(0.7)
    assert ctc_greedy_decode(np.eye(4)[[0, 0, 0]], characters) == ("", 0.0)


def test_recognition_charset_has_the_blank_first_and_a_space_last(recogniser):
    characters = recogniser.head.characters

    assert characters[0] == "<blank>" and characters[-1] == " "
    assert len(characters) == 18710  # the model's 18,710 classes


def test_collate_pads_lines_to_the_widest_of_their_group():
    head = TextRecognitionHead.__new__(TextRecognitionHead)
    head.group_size = 2
    widths = [400, 320, 500]
    elements = [[np.ones((3, 48, width), np.float32)] for width in widths]

    groups = head.collate(elements)

    assert [positions for positions, _ in groups] == [[1, 0], [2]]
    batch = groups[0][1][0]
    assert batch.shape == (2, 3, 48, 400)
    assert batch[0, :, :, :320].min() == 1 and batch[0, :, :, 320:].max() == 0


# --- orientation ----------------------------------------------------------------------------


def test_orientation_tells_upright_lines_from_upside_down_ones(lines, classifier):
    chosen = [lines[0], lines[5]]  # "Region-based segmentation", "histogram of grey values:"
    upright = classifier.predict(chosen)
    turned = classifier.predict([rotate_180(line) for line in chosen])

    assert [p["top"] for p in upright] == ["0", "0"]
    assert [p["top"] for p in turned] == ["180", "180"]
    assert all(p["confidence"] > 0.9 for p in upright + turned)
    assert turned[0]["class_id"] == 1 and turned[0]["parent_id"] == lines[0].image_id
    assert [c["class"] for c in turned[0]["predictions"]] == ["180", "0"]


def test_orient_image_turns_only_confident_upside_down_images(lines):
    line = lines[0]
    upside_down = {"top": "180", "confidence": 0.95, "class_id": 1, "predictions": []}
    unsure = {**upside_down, "confidence": 0.6}

    turned = OrientImage().run(images=line, orientation=upside_down, threshold=0.9)["images"]

    assert np.array_equal(turned.numpy, line.numpy[::-1, ::-1])
    assert turned.image_id == line.image_id
    assert OrientImage().run(images=line, orientation=unsure, threshold=0.9)["images"] is line


# --- perspective crop -----------------------------------------------------------------------


def test_perspective_crops_take_the_detection_ids_and_their_place_in_the_page(page, detector):
    detections = detector.predict([page])[0]
    crops = [c["crops"] for c in PerspectiveCrop().run(page, detections)]

    assert [c.image_id for c in crops] == list(detections.data["detection_id"])
    assert {c.parent_id for c in crops} == {page.image_id}
    quad = detections.data["quad"][0]
    assert (crops[0].origin.offset_x, crops[0].origin.offset_y) == tuple(
        quad.min(axis=0).astype(int)
    )
    assert crops[0].width == int(np.linalg.norm(quad[0] - quad[1]))


def test_a_tall_quad_is_turned_to_lie_flat(page):
    quad = np.array([[10, 10], [30, 10], [30, 70], [10, 70]], dtype=np.float32)
    detections = _quad_detections(page, quad)

    (crop,) = [c["crops"] for c in PerspectiveCrop().run(page, detections)]

    assert (crop.width, crop.height) == (60, 20)


def test_the_perspective_crop_in_a_workflow_reads_the_page(page):
    workflow = Workflow.compile(OCR_WORKFLOW, blocks=[PerspectiveCrop, OrientImage])

    result = workflow.run(image=page.numpy)[0]

    assert result["lines"][:4] == FIRST_LINES
    assert len(result["lines"]) == len(result["regions"])


# --- the zoo --------------------------------------------------------------------------------


def test_a_zoo_model_whose_package_is_missing_names_the_install_command(tmp_path):
    entry = ZooEntry(
        id="example/ocr",
        description={"task": "text_detection"},
        package="not_a_real_package_xyz",
        path="models/det.onnx",
        install="pip install not-a-real-package-xyz==1.0",
        origin=tmp_path / "example.yaml",
    )

    with pytest.raises(ModelError, match="not_a_real_package_xyz") as raised:
        model_file(entry)

    assert raised.value.hint == "install it: pip install not-a-real-package-xyz==1.0"


def _quad_detections(image: WorkflowImage, quad: np.ndarray):
    import supervision as sv

    from visionflow.data.detections import attach_image_metadata

    detections = sv.Detections(
        xyxy=np.concatenate([quad.min(axis=0), quad.max(axis=0)])[None],
        confidence=np.array([0.9]),
        class_id=np.array([0]),
        data={"quad": quad[None]},
    )
    return attach_image_metadata(detections, image)


OCR_WORKFLOW = {
    "version": "1.0",
    "inputs": [{"type": "image", "name": "image"}],
    "steps": [
        {
            "type": "TextDetectionModel",
            "name": "find",
            "images": "$inputs.image",
            "model": "rapidocr/text_detection",
        },
        {
            "type": "PerspectiveCrop",
            "name": "lines",
            "images": "$inputs.image",
            "predictions": "$steps.find.predictions",
        },
        {
            "type": "ClassificationModel",
            "name": "orientation",
            "images": "$steps.lines.crops",
            "model": "rapidocr/text_orientation",
        },
        {
            "type": "OrientImage",
            "name": "upright",
            "images": "$steps.lines.crops",
            "orientation": "$steps.orientation.predictions",
        },
        {
            "type": "TextRecognitionModel",
            "name": "read",
            "images": "$steps.upright.images",
            "model": "rapidocr/text_recognition",
        },
    ],
    "outputs": [
        {"type": "JsonField", "name": "lines", "selector": "$steps.read.text"},
        {"type": "JsonField", "name": "regions", "selector": "$steps.find.predictions"},
    ],
}
