"""Roboflow's OCR stitching, detections difference, overlap analysis, cosine similarity,
compound model, VLM-as-detector and list roll-up blocks (blocks/roboflow/ocr_stitching.py,
fusion_changes.py, similarity.py, compound_models.py, vlm_detections.py, fusion_rollup.py),
run from documents as Roboflow writes them.

Every expected value written out below is what Roboflow's own engine (inference-core 1.8.3)
gave for the same document and the same detections (the compound model blocks, which that
engine cannot run on local models, are checked against the same steps written one by one).
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
from visionflow.errors import ManifestError, ModelNotFoundError, WorkflowError


def detections(boxes, names, confidences=None, ids=None, class_ids=None, masks=None):
    count = len(boxes)
    data = {"class_name": np.array(names)}
    if ids is not None:
        data["detection_id"] = np.array(ids)
    return sv.Detections(
        xyxy=np.array(boxes, dtype=float).reshape(-1, 4),
        confidence=np.array(confidences or [0.9] * count, dtype=float),
        class_id=np.array(class_ids or [0] * count, dtype=int),
        mask=masks,
        data=data,
    )


def document(step: dict, inputs: list[str], outputs: dict[str, str]) -> dict:
    return {
        "version": "1.0",
        "inputs": [
            {"type": "WorkflowBatchInput", "name": name, "kind": ["object_detection_prediction"]}
            for name in inputs
        ],
        "steps": [{"name": "s", **step}],
        "outputs": [
            {"type": "JsonField", "name": name, "selector": selector}
            for name, selector in outputs.items()
        ],
    }


def ocr_characters() -> sv.Detections:
    """Characters of three lines ("MAKE", "THIS DAY", "GREAT"), 17 px apart, a word gap of
    25 px, tops jittered by up to 4 px, in a shuffled order (as a detector gives them)."""
    rng = np.random.default_rng(3)
    boxes, names, y = [], [], 20
    for line in ["MAKE", "THIS DAY", "GREAT"]:
        x = 10
        for character in line:
            if character == " ":
                x += 25
                continue
            jitter = float(rng.integers(-4, 5))
            boxes.append([x, y + jitter, x + 14, y + 22 + jitter])
            names.append(character)
            x += 17
        y += 35
    order = rng.permutation(len(boxes))
    return detections([boxes[i] for i in order], [names[i] for i in order])


def stitch(version: str, images: list[sv.Detections], **fields) -> list[str]:
    step = {"type": f"roboflow_core/stitch_ocr_detections@{version}", "predictions": "$inputs.d"}
    workflow = Workflow.compile(document({**step, **fields}, ["d"], {"t": "$steps.s.ocr_text"}))
    return [result["t"] for result in workflow.run(d=images)]


# (algorithm, reading direction, delimiter) -> texts of [all characters, the first five,
# none], tolerance 12, collimate_tolerance 5: Roboflow's engine's values
STITCHED = {
    ("tolerance", "left_to_right", ""): ["AK\nME\nTDAY\nHIS\nGAT\nRE", "E\nT\nHS\nA", ""],
    ("otsu", "left_to_right", ""): ["MAKE\nTHIS DAY\nGREAT", "E\nTH S\nA", ""],
    ("otsu", "left_to_right", "-"): ["M-A-K-E\nT-H-I-S-D-A-Y\nG-R-E-A-T", "E\nT-H-S\nA", ""],
    ("collimate", "left_to_right", ""): ["MAKE\nTHISDAY\nGREAT", "E\nTHS\nA", ""],
    ("collimate", "right_to_left", ""): ["EKAM\nYADSIHT\nTAERG", "E\nSHT\nA", ""],
    ("otsu", "vertical_bottom_to_top", ""): ["Y A D T AS E EI K RH A G TM", "ASE H T", ""],
    ("tolerance", "vertical_top_to_bottom", "-"): [
        "M-T-G- -A-H-R- -K-I-E- -E-S-A- -T- -D- -A- -Y",
        "T- -H- -E-S-A",
        "",
    ],
}


@pytest.mark.parametrize(("algorithm", "direction", "delimiter"), list(STITCHED))
def test_stitch_ocr_v2_reads_as_roboflow_does(algorithm, direction, delimiter):
    characters = ocr_characters()
    texts = stitch(
        "v2",
        [characters, characters[:5], characters[:0]],
        stitching_algorithm=algorithm,
        reading_direction=direction,
        delimiter=delimiter,
        tolerance=12,
        collimate_tolerance=5,
    )
    assert texts == STITCHED[algorithm, direction, delimiter]


@pytest.mark.parametrize(
    ("direction", "text"),
    [
        ("left_to_right", "MAKE\nTHISDAY\nGEAT\nR"),
        ("vertical_bottom_to_top", "Y A D T ASE EIK RHA GTM"),
        ("auto", "MTG AHR KIE ESA T D A Y"),  # boxes higher than wide: read top to bottom
    ],
)
def test_stitch_ocr_v1_groups_lines_by_rounded_tops(direction, text):
    assert stitch("v1", [ocr_characters()], reading_direction=direction, tolerance=20) == [text]


def test_stitch_ocr_v1_ignores_v2_fields_as_roboflow_does():
    # Roboflow's published OTSU document names v1 with v2's fields: v1 reads by tolerance
    fields = {"stitching_algorithm": "otsu", "otsu_threshold_multiplier": 1.0}
    texts = stitch("v1", [ocr_characters()], reading_direction="left_to_right", **fields)
    assert texts == stitch("v1", [ocr_characters()], reading_direction="left_to_right")


def test_stitch_ocr_tolerance_must_be_over_zero():
    with pytest.raises(WorkflowError, match="tolerance"):
        stitch("v1", [ocr_characters()], reading_direction="left_to_right", tolerance=0)


BEFORE = detections(
    [[10, 10, 50, 50], [100, 100, 150, 160], [200, 20, 240, 70], [300, 300, 320, 330]],
    ["cup", "dog", "cat", "cup"],
    [0.9, 0.8, 0.7, 0.6],
    ["b0", "b1", "b2", "b3"],
    [0, 1, 2, 0],
)
AFTER = detections(
    [[12, 11, 52, 49], [105, 98, 150, 165], [400, 400, 420, 420], [205, 25, 245, 75],
     [60, 10, 90, 50]],
    ["cup", "cat", "cup", "cat", "cup"],
    [0.95, 0.5, 0.4, 0.66, 0.3],
    ["a0", "a1", "a2", "a3", "a4"],
    [0, 2, 0, 2, 0],
)  # fmt: skip


def difference(before, after, **fields) -> list[dict]:
    step = {
        "type": "DetectionsDifference",
        "reference_predictions": "$inputs.a",
        "candidate_predictions": "$inputs.b",
        "min_removed_to_verify": 2,
        **fields,
    }
    workflow = Workflow.compile(document(step, ["a", "b"], {"o": "$steps.s.*"}))
    results = workflow.run(a=before, b=after)
    return [
        {
            name: [str(i) for i in value.data.get("detection_id", [])]
            if isinstance(value, sv.Detections)
            else value
            for name, value in result["o"].items()
        }
        for result in results
    ]


def test_detections_difference_matches_cheapest_pairs_first():
    # Roboflow's engine: every reference detection finds a partner within 0.75 (a class
    # mismatch costs 0.15); a4 is new
    [loose] = difference([BEFORE], [AFTER])
    assert loose == {
        "removed_detections": [],
        "persisted_detections": ["a0", "a1", "a2", "a3"],
        "new_detections": ["a4"],
        "removed_count": 0,
        "new_count": 1,
        "verified": False,
    }
    # strict classes and reject_cost 0.3: dog b1 and the far cup b3 are removed
    [strict] = difference([BEFORE], [AFTER], class_strict=True, reject_cost=0.3)
    assert strict == {
        "removed_detections": ["b1", "b3"],
        "persisted_detections": ["a0", "a3"],
        "new_detections": ["a1", "a2", "a4"],
        "removed_count": 2,
        "new_count": 3,
        "verified": True,
    }


def test_detections_difference_with_one_side_empty():
    gone, arrived = difference([BEFORE, BEFORE[:0]], [AFTER[:0], AFTER])
    assert gone["removed_detections"] == ["b0", "b1", "b2", "b3"]
    assert (gone["removed_count"], gone["new_count"], gone["verified"]) == (4, 0, True)
    assert arrived["new_detections"] == ["a0", "a1", "a2", "a3", "a4"]
    assert (arrived["removed_count"], arrived["verified"]) == (0, False)


def with_ellipses(found: sv.Detections, shape=(480, 640)) -> sv.Detections:
    """The same detections with a mask each: the ellipse inscribed in its box."""
    masks = np.zeros((len(found), *shape), bool)
    rows, columns = np.ogrid[: shape[0], : shape[1]]
    for k, (x1, y1, x2, y2) in enumerate(found.xyxy.astype(int)):
        across, down = max(1, (x2 - x1) / 2), max(1, (y2 - y1) / 2)
        centre_x, centre_y = (x1 + x2) // 2, (y1 + y2) // 2
        masks[k] = ((columns - centre_x) / across) ** 2 + ((rows - centre_y) / down) ** 2 <= 1
    masked = found[np.arange(len(found))]
    masked.mask = masks
    return masked


def overlaps(reference, candidate, min_overlap) -> list:
    step = {
        "type": "OverlapAnalysis",
        "reference_predictions": "$inputs.a",
        "candidate_predictions": "$inputs.b",
        "min_overlap": min_overlap,
    }
    workflow = Workflow.compile(document(step, ["a", "b"], {"o": "$steps.s.overlaps"}))
    return [result["o"] for result in workflow.run(a=reference, b=candidate)]


def record(reference, candidate, ratio) -> dict:
    classes = {"b0": "cup", "b1": "dog", "b2": "cat", "a0": "cup", "a1": "cat", "a3": "cat"}
    confidences = {"b0": 0.9, "b1": 0.8, "b2": 0.7, "a0": 0.95, "a1": 0.5, "a3": 0.66}
    return {
        "reference_class": classes[reference],
        "reference_confidence": confidences[reference],
        "candidate_class": classes[candidate],
        "candidate_confidence": confidences[candidate],
        "overlap_ratio": pytest.approx(ratio, abs=1e-9),
        "reference_detection_id": reference,
        "candidate_detection_id": candidate,
    }


def test_overlap_analysis_on_boxes_and_on_mask_outlines():
    boxes, masks = overlaps([BEFORE, with_ellipses(BEFORE)], [AFTER, with_ellipses(AFTER)], 0.1)
    # Roboflow's engine: shares of the reference's box, then of its mask's outline (shapely)
    assert boxes == [
        record("b0", "a0", 0.9025),
        record("b1", "a1", 0.9),
        record("b2", "a3", 0.7875),
    ]
    assert masks == [
        record("b0", "a0", 0.9008333333333353),
        record("b1", "a1", 0.922619047619038),
        record("b2", "a3", 0.7918340026773798),
    ]
    [kept] = overlaps([BEFORE], [AFTER], 0.8)
    assert [entry["candidate_detection_id"] for entry in kept] == ["a0", "a1"]
    assert overlaps([BEFORE[:0]], [AFTER], 0.1) == [[]]


def big_concave_masks() -> tuple[sv.Detections, sv.Detections]:
    """A C-shaped mask (a ring with a slot: concave, 1026 outline points) and an ellipse
    (608 points) on 600 x 800 images: outlines as large as a real segmentation model's."""
    ring = np.zeros((600, 800), np.uint8)
    cv2.circle(ring, (400, 300), 280, 1, -1)
    cv2.circle(ring, (400, 300), 80, 0, -1)
    cv2.rectangle(ring, (385, 0), (415, 300), 0, -1)
    ellipse = np.zeros((600, 800), np.uint8)
    cv2.ellipse(ellipse, (480, 260), (260, 150), 30, 0, 360, 1, -1)
    made = []
    for mask, name, identifier in ((ring, "c", "r0"), (ellipse, "e", "c0")):
        found = detections([[0, 0, 1, 1]], [name], ids=[identifier])
        found.mask = mask.astype(bool)[None]
        found.xyxy = sv.mask_to_xyxy(found.mask).astype(float)
        made.append(found)
    return made[0], made[1]


def test_overlap_analysis_of_large_concave_mask_outlines():
    # Large outlines: the intersection is computed from the outlines' pieces inside each
    # other (vectorised), not by triangulating them in Python (seconds a pair before).
    ring, ellipse = big_concave_masks()
    both_ways = overlaps([ring, ellipse], [ellipse, ring], 0.0)
    # Roboflow's engine (shapely) for the same detections
    assert [[entry["overlap_ratio"] for entry in found] for found in both_ways] == [
        [pytest.approx(0.42049968232782853, abs=1e-12)],
        [pytest.approx(0.7515378519904257, abs=1e-12)],
    ]


def test_polygon_intersection_on_shared_and_touching_edges():
    from visionflow.blocks.roboflow.fusion_polygons import intersection_area, is_simple_polygon

    square = np.array([[0, 0], [4, 0], [4, 4], [0, 4]], dtype=float)
    # the same square either way round, half of it sharing three sides, a neighbour
    # touching along one side, one overlapping along a shifted stretch: shapely's areas
    assert intersection_area(square, square[::-1]) == 16.0
    assert intersection_area(square, np.array([[0, 0], [2, 0], [2, 4], [0, 4.0]])) == 8.0
    assert intersection_area(square, square + np.array([4, 0])) == 0.0
    assert intersection_area(square, square + np.array([2, 1])) == 6.0
    assert intersection_area(square, np.array([[0, 0], [1, 0], [1, 1]], dtype=float)) == 0.5
    bow_tie = np.array([[0, 0], [4, 4], [4, 0], [0, 4]], dtype=float)
    assert not is_simple_polygon(bow_tie)
    assert not is_simple_polygon(np.array([[0, 0], [1, 1], [2, 2]], dtype=float))
    assert is_simple_polygon(square)


def test_cosine_similarity_of_two_embeddings():
    step = {
        "type": "roboflow_core/cosine_similarity@v1",
        "embedding_1": "$inputs.e1",
        "embedding_2": "$inputs.e2",
    }
    definition = {
        "version": "1.0",
        "inputs": [
            {"type": "WorkflowParameter", "name": "e1", "kind": ["embedding"]},
            {"type": "WorkflowParameter", "name": "e2", "kind": ["embedding"]},
        ],
        "steps": [{"name": "s", **step}],
        "outputs": [{"type": "JsonField", "name": "o", "selector": "$steps.s.similarity"}],
    }
    workflow = Workflow.compile(definition)
    # Roboflow's cosine_similarity gives 0.1298454946322391 for these two
    [result] = workflow.run(e1=[1.0, 2.0, 3.5, -1.0], e2=np.array([0.5, -2.0, 3.0, 4.0]))
    assert result["o"] == pytest.approx(0.1298454946322391, abs=1e-15)
    with pytest.raises(WorkflowError, match="differ in length"):
        workflow.run(e1=[1.0, 2.0], e2=[1.0, 2.0, 3.0])


# --- compound model blocks (blocks/roboflow/compound_models.py) on the zoo's models ----------
# Roboflow's engine cannot run these local models: each block is checked against the same
# work written step by step with Roboflow's single blocks.

needs_zoo_models = pytest.mark.skipif(
    not installed("mediapipe", "ai_edge_litert", "fer"),
    reason="the zoo's face detector and emotion classifier ship in mediapipe and fer",
)
ZOO = {"faces/1": "mediapipe/face_detection_short_range", "emotions/1": "fer/emotion"}


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


def image_document(steps: list[dict], outputs: dict[str, str], **inputs) -> dict:
    return {
        "version": "1.0",
        "models": ZOO,
        "inputs": [
            {"type": "WorkflowImage", "name": "image"},
            *(
                {"type": "WorkflowParameter", "name": n, "default_value": v}
                for n, v in inputs.items()
            ),
        ],
        "steps": steps,
        "outputs": [
            {"type": "JsonField", "name": name, "selector": selector}
            for name, selector in outputs.items()
        ],
    }


@needs_zoo_models
def test_detection_and_classification_is_detect_crop_classify(astronaut):
    compact = image_document(
        [
            {
                "type": "roboflow_core/detection_and_classification@v1",
                "name": "dc",
                "image": "$inputs.image",
                "detector_model_id": "faces/1",
                "detector_class_filter": ["face"],
                "classifier_model_id": "$inputs.classifier",
            }
        ],
        {"predictions": "$steps.dc.predictions", "crops": "$steps.dc.crops"},
        classifier="emotions/1",
    )
    spelled_out = image_document(
        [
            {
                "type": "roboflow_core/roboflow_object_detection_model@v2",
                "name": "detect",
                "image": "$inputs.image",
                "model_id": "faces/1",
                "max_detections": 30,
                "class_filter": ["face"],
            },
            {
                "type": "roboflow_core/dynamic_crop@v1",
                "name": "crop",
                "images": "$inputs.image",
                "predictions": "$steps.detect.predictions",
            },
            {
                "type": "roboflow_core/roboflow_classification_model@v2",
                "name": "classify",
                "images": "$steps.crop.crops",
                "model_id": "emotions/1",
            },
        ],
        {"predictions": "$steps.classify.predictions", "crops": "$steps.crop.crops"},
    )
    blank = np.zeros((100, 120, 3), np.uint8)
    found = Workflow.compile(compact).run(image=[astronaut, blank])
    expected = Workflow.compile(spelled_out).run(image=[astronaut, blank])
    face, nothing = found
    assert nothing == {"predictions": [], "crops": []}  # nothing found: no crops
    assert len(face["predictions"]) == len(expected[0]["predictions"]) == 1
    crop, expected_crop = face["crops"][0], expected[0]["crops"][0]
    assert np.array_equal(crop.numpy, expected_crop.numpy)
    origin, expected_origin = crop.origin, expected_crop.origin
    assert (origin.offset_x, origin.offset_y) == (
        expected_origin.offset_x,
        expected_origin.offset_y,
    )
    prediction, expected_prediction = face["predictions"][0], expected[0]["predictions"][0]
    assert prediction["top"] == expected_prediction["top"] == "happy"
    assert prediction["confidence"] == expected_prediction["confidence"]
    assert prediction["predictions"] == expected_prediction["predictions"]


@needs_zoo_models
def test_detections_inference_slicer_is_slice_detect_stitch(astronaut):
    # Roboflow's published document (test_workflow_detections_slicer), unchanged
    sliced = {
        "version": "1.0",
        "models": ZOO,
        "inputs": [
            {"type": "WorkflowImage", "name": "image"},
            {"type": "WorkflowParameter", "name": "model_id"},
            {"type": "WorkflowParameter", "name": "confidence", "default_value": 0.3},
        ],
        "steps": [
            {
                "type": "RoboflowDetectionsInferenceSlicer",
                "name": "detection",
                "image": "$inputs.image",
                "model_id": "$inputs.model_id",
                "confidence": "$inputs.confidence",
            }
        ],
        "outputs": [{"type": "JsonField", "name": "result", "selector": "$steps.detection.*"}],
    }
    spelled_out = image_document(
        [
            {
                "type": "roboflow_core/image_slicer@v1",
                "name": "slicer",
                "image": "$inputs.image",
                "slice_width": 320,
                "slice_height": 320,
            },
            {
                "type": "roboflow_core/roboflow_object_detection_model@v2",
                "name": "detect",
                "image": "$steps.slicer.slices",
                "model_id": "faces/1",
                "confidence": 0.3,
            },
            {
                "type": "roboflow_core/detections_stitch@v1",
                "name": "stitch",
                "reference_image": "$inputs.image",
                "predictions": "$steps.detect.predictions",
            },
        ],
        {"predictions": "$steps.stitch.predictions"},
    )
    [result] = Workflow.compile(sliced).run(image=astronaut, model_id="faces/1")
    [expected] = Workflow.compile(spelled_out).run(image=astronaut)
    assert list(result["result"]) == ["predictions"]
    found, wanted = result["result"]["predictions"], expected["predictions"]
    assert len(found) == len(wanted) == 3
    assert np.array_equal(found.xyxy, wanted.xyxy)
    assert np.array_equal(found.confidence, wanted.confidence)
    assert found.data["image_dimensions"].tolist() == [[512, 512]] * 3  # on the whole image


@pytest.mark.parametrize("field", ["overlap_ratio_width", "overlap_ratio_height"])
def test_detections_inference_slicer_refuses_a_whole_overlap_at_compile_time(field):
    # a literal ratio of 1 would never move on to the next slice: refused with its field
    # named when the document compiles, not when it runs
    step = {
        "type": "RoboflowDetectionsInferenceSlicer",
        "name": "detection",
        "image": "$inputs.image",
        "model_id": "faces/1",
        field: 1.0,
    }
    with pytest.raises(ManifestError) as refused:
        Workflow.compile(image_document([step], {"result": "$steps.detection.predictions"}))
    assert refused.value.place == f"steps[0] 'detection' field '{field}'"
    assert "less than 1" in refused.value.message


# --- vlm_as_detector (blocks/roboflow/vlm_detections.py) ------------------------------------


def vlm_detector(version: str, model_type: str, task_type: str = "object-detection") -> Workflow:
    step = {
        "type": f"roboflow_core/vlm_as_detector@{version}",
        "name": "s",
        "image": "$inputs.image",
        "vlm_output": "$inputs.raw",
        "classes": ["cat", "dog", "cat"],
        "model_type": model_type,
        "task_type": task_type,
    }
    return Workflow.compile(
        {
            "version": "1.0",
            "inputs": [
                {"type": "WorkflowImage", "name": "image"},
                {"type": "WorkflowBatchInput", "name": "raw", "kind": ["language_model_output"]},
            ],
            "steps": [step],
            "outputs": [{"type": "JsonField", "name": "o", "selector": "$steps.s.*"}],
        }
    )


SMALL, LARGE = np.zeros((480, 640, 3), np.uint8), np.zeros((3000, 4000, 3), np.uint8)
GEMINI = json.dumps(
    {
        "detections": [
            {"box_2d": [100, 200, 500, 700], "label": "dog", "confidence": 1.7},
            {"x_min": 0.1, "y_min": 0.2, "x_max": 0.5, "y_max": 0.9, "class_name": "cat"},
        ]
    }
)
PIXELS = json.dumps(
    [
        {"box_2d": [10, 20, 300, 400.5], "label": "cat"},
        {"box_2d": [-5, 0, 9000, 50], "class_name": "dog", "confidence": 0.25},
    ]
)
QWEN = json.dumps(
    [
        {"bbox_2d": [100, 200, 500, 700], "label": "dog"},
        {"box_2d": [1, 2, 3]},
        "x",
        {"box_2d": [0, 0, 1200, 10], "description": "cat"},
    ]
)
MUSE = (
    'Here: {"x_min": 100, "y_min": 200, "x_max": 500, "y_max": 700, "label": "dog"} and '
    '{"x_min": 1, "y_min": 2, "x_max": 3, "y_max": 4} trailing { junk'
)
FLORENCE = json.dumps({"bboxes": [[10, 20, 30, 40], [50, 60, 70, 80]], "labels": ["car", "dog"]})

# (version, model, task, text, image) -> boxes, confidences, class ids, class names:
# Roboflow's engine's values
VLM_DETECTIONS = [
    ("v2", "google-gemini", "object-detection", GEMINI, SMALL,
     [[128, 48, 448, 240], [64, 96, 320, 432]], [1.0, 1.0], [1, 2], ["dog", "cat"]),
    ("v1", "google-gemini", "object-detection", GEMINI, LARGE,
     [[800, 300, 2800, 1500], [400, 600, 2000, 2700]], [1.0, 1.0], [1, 2], ["dog", "cat"]),
    # v1 reads Claude as Gemini (box_2d y-first on 0-1000); v2 in pixels of Claude's resize
    ("v1", "anthropic-claude", "object-detection", PIXELS, SMALL,
     [[13, 5, 256, 144], [0, -2, 32, 4320]], [1.0, 0.25], [2, 1], ["cat", "dog"]),
    ("v2", "anthropic-claude", "object-detection", PIXELS, LARGE,
     [[18, 36, 542, 724], [0, 0, 4000, 90]], [1.0, 0.25], [2, 1], ["cat", "dog"]),
    ("v2", "openai", "object-detection", json.dumps({"detections": json.loads(PIXELS)[:1]}),
     LARGE, [[20, 39, 586, 782]], [1.0], [2], ["cat"]),
    ("v2", "qwen", "object-detection", QWEN, SMALL,
     [[64, 96, 320, 336], [0, 0, 640, 5]], [1.0, 1.0], [1, 2], ["dog", "cat"]),
    ("v2", "muse", "object-detection", MUSE, LARGE,
     [[400, 600, 2000, 2100], [4, 6, 12, 12]], [1.0, 1.0], [1, -1], ["dog", "unknown"]),
    ("v2", "spacexai", "object-detection",
     json.dumps([{"box_2d": [10, 20, 50, 120], "class_name": "cat", "confidence": -1}]), SMALL,
     [[64, 96, 320, 480]], [0.0], [2], ["cat"]),
    ("v1", "florence-2", "object-detection", FLORENCE, SMALL,
     [[10, 20, 30, 40], [50, 60, 70, 80]], [1.0, 1.0], [9605, 5324], ["car", "dog"]),
    ("v2", "florence-2", "region-proposal", FLORENCE, SMALL,
     [[10, 20, 30, 40], [50, 60, 70, 80]], [1.0, 1.0], [0, 0], ["roi", "roi"]),
    ("v2", "florence-2", "open-vocabulary-object-detection",
     json.dumps({"bboxes": [[10, 20, 30, 40]], "bboxes_labels": ["dog"], "polygons": [],
                 "polygons_labels": []}), SMALL, [[10, 20, 30, 40]], [1.0], [1], ["dog"]),
    ("v2", "florence-2", "ocr-with-text-detection",
     json.dumps({"quad_boxes": [[10, 20, 30, 20, 30, 40, 10, 40]], "labels": ["abc"]}), SMALL,
     [[10, 20, 30, 40]], [1.0], [0], ["abc"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("version", "model", "task", "text", "image", "boxes", "confidences", "ids", "names"),
    VLM_DETECTIONS,
)
def test_vlm_as_detector_reads_each_models_boxes(
    version, model, task, text, image, boxes, confidences, ids, names
):
    [result] = vlm_detector(version, model, task).run(image=image, raw=[text])
    output = result["o"]
    assert output["error_status"] is False
    found = output["predictions"]
    assert found.xyxy.tolist() == boxes
    assert found.confidence.tolist() == confidences
    assert found.class_id.tolist() == ids
    assert found.data["class_name"].tolist() == names
    assert found.data["prediction_type"].tolist() == ["object-detection"] * len(boxes)
    assert found.data["inference_id"].tolist() == [output["inference_id"]] * len(boxes)
    assert found.data["image_dimensions"].tolist() == [list(image.shape[:2])] * len(boxes)


def test_vlm_as_detector_errors_and_empty_answers():
    gemini = vlm_detector("v2", "google-gemini")
    answers = ["no json here", '{"foo": 1}', '{"detections": []}']
    unreadable, wrong, empty = (gemini.run(image=SMALL, raw=[text])[0]["o"] for text in answers)
    assert (unreadable["error_status"], unreadable["predictions"]) == (True, None)
    assert (wrong["error_status"], wrong["predictions"]) == (True, None)
    assert empty["error_status"] is False
    assert len(empty["predictions"]) == 0
    assert empty["predictions"].metadata["image_dimensions"] == [480, 640]


def test_vlm_as_detector_refuses_tasks_the_model_has_not():
    with pytest.raises(WorkflowError, match="only florence-2 has tasks"):
        vlm_detector("v2", "openai", "region-proposal")
    with pytest.raises(WorkflowError, match="model_type"):
        vlm_detector("v1", "openai")


# --- detections_list_rollup (blocks/roboflow/fusion_rollup.py) ------------------------------


def on_crop(boxes, names, confidences, class_ids, notes=None) -> sv.Detections:
    """Detections made on a 120 x 100 crop of a 500 x 400 image."""
    count = len(boxes)
    return sv.Detections(
        xyxy=np.array(boxes, dtype=float).reshape(-1, 4),
        confidence=np.array(confidences, dtype=float),
        class_id=np.array(class_ids, dtype=int),
        data={
            "class_name": np.array(names),
            "detection_id": np.array([f"c{i}" for i in range(count)]),
            "parent_id": np.array(["crop"] * count),
            "image_dimensions": np.array([[100, 120]] * count).reshape(-1, 2),
            "root_parent_dimensions": np.array([[400, 500]] * count).reshape(-1, 2),
            "note": np.array(notes or [f"n{i}" for i in range(count)]),
        },
    )


ROLL_PARENTS = sv.Detections(
    xyxy=np.array([[10.7, 20.2, 130, 120], [100, 50, 220, 150], [300, 300, 400, 380]]),
    confidence=np.array([0.9, 0.8, 0.7]),
    class_id=np.array([0, 0, 0]),
    data={
        "class_name": np.array(["car"] * 3),
        "root_parent_dimensions": np.array([[400, 500]] * 3),
    },
)
ROLL_CHILDREN = [
    on_crop([[5, 5, 40, 30], [95, 10, 119, 40], [50, 60, 70, 90]], ["plate", "plate", "wheel"],
            [0.6, 0.9, 0.5], [1, 1, 2]),
    on_crop([[0, 5, 30, 45], [10, 60, 30, 95]], ["plate", "wheel"], [0.7, 0.8], [1, 2], ["x", "y"]),
    on_crop([], [], [], []),
]  # fmt: skip


def with_masks(found: sv.Detections) -> sv.Detections:
    """Each box filled as its mask, less a 2 x 2 corner."""
    masks = np.zeros((len(found), 100, 120), bool)
    for k, (x1, y1, x2, y2) in enumerate(found.xyxy.astype(int)):
        masks[k, y1:y2, x1:x2] = True
        masks[k, y1 : y1 + 2, x1 : x1 + 2] = False
    masked = found[np.arange(len(found))]
    masked.mask = masks
    return masked


def rolled_up(children, strategy, threshold) -> dict:
    step = {
        "type": "DetectionsListRollUp",
        "parent_detection": "$inputs.p",
        "child_detections": "$inputs.c",
        "confidence_strategy": strategy,
        "overlap_threshold": threshold,
    }
    definition = document(step, ["p"], {"o": "$steps.s.*"})
    definition["inputs"].append(
        {"type": "WorkflowBatchInput", "name": "c", "kind": ["list_of_values"]}
    )
    [result] = Workflow.compile(definition).run(p=[ROLL_PARENTS], c=[children])
    return result["o"]


MERGED_PLATES = [[15, 25, 50, 50], [100, 30, 130, 95], [60, 80, 80, 110], [110, 110, 130, 145]]
APART_PLATES = [[15, 25, 50, 50], [105, 30, 129, 60], [100, 55, 130, 95], [60, 80, 80, 110],
                [110, 110, 130, 145]]  # fmt: skip


@pytest.mark.parametrize(
    ("masked", "strategy", "threshold", "boxes", "confidences", "notes", "mask_areas"),
    [
        # any overlap joins the two plates; 0.3 IoU keeps them apart
        (False, "max", 0.0, MERGED_PLATES, [0.6, 0.9, 0.5, 0.8], ["n0", "n1", "n2", "y"], None),
        (False, "mean", 0.3, APART_PLATES, [0.6, 0.9, 0.7, 0.5, 0.8],
         ["n0", "n1", "x", "n2", "y"], None),
        (True, "min", 0.0, MERGED_PLATES, [0.6, 0.7, 0.5, 0.8], ["n0", "n1", "n2", "y"],
         [871, 1792, 596, 696]),
        (True, "max", 0.3, APART_PLATES, [0.6, 0.9, 0.7, 0.5, 0.8],
         ["n0", "n1", "x", "n2", "y"], [871, 716, 1196, 596, 696]),
    ],
)  # fmt: skip
def test_detections_list_rollup_merges_crops_detections_as_roboflow_does(
    masked, strategy, threshold, boxes, confidences, notes, mask_areas
):
    # Roboflow's engine's values for the same parents and crops' detections
    children = [with_masks(found) for found in ROLL_CHILDREN] if masked else ROLL_CHILDREN
    output = rolled_up(children, strategy, threshold)
    found = output["rolled_up_detections"]
    assert found.xyxy.tolist() == boxes
    assert found.confidence.tolist() == pytest.approx(confidences)
    assert found.class_id.tolist() == [1] * (len(boxes) - 2) + [2, 2]
    assert found.data["class_name"].tolist() == ["plate"] * (len(boxes) - 2) + ["wheel"] * 2
    assert found.data["note"].tolist() == notes
    assert found.data["parent_id"].tolist() == ["crop"] * len(boxes)
    assert found.data["image_dimensions"].tolist() == [[400, 500]] * len(boxes)
    assert len(set(found.data["detection_id"])) == len(boxes)
    assert (None if found.mask is None else found.mask.sum(axis=(1, 2)).tolist()) == mask_areas
    assert output["crop_zones"] == [
        [(10.7, 20.2), (130.0, 20.2), (130.0, 120.0), (10.7, 120.0)],
        [(100.0, 50.0), (220.0, 50.0), (220.0, 150.0), (100.0, 150.0)],
        [(300.0, 300.0), (400.0, 300.0), (400.0, 380.0), (300.0, 380.0)],
    ]


def test_detections_list_rollup_averages_close_keypoint_detections():
    first = on_crop([[5, 5, 40, 30], [6, 5, 41, 31]], ["p", "p"], [0.6, 0.9], [3, 3])
    first.data["keypoints_xy"] = np.array([[[10, 10], [20, 20]], [[12, 11], [21, 22]]], float)
    first.data["keypoints_confidence"] = np.ones((2, 2))
    second = on_crop([[5, 5, 40, 30]], ["p"], [0.5], [3])
    second.data["keypoints_xy"] = np.array([[[100, 100], [20, 20]]], float)
    second.data["keypoints_confidence"] = np.ones((1, 2))
    step = {
        "type": "roboflow_core/detections_list_rollup@v1",
        "parent_detection": "$inputs.p",
        "child_detections": "$inputs.c",
        "keypoint_merge_threshold": 5.0,
    }
    definition = document(step, ["p"], {"o": "$steps.s.rolled_up_detections"})
    definition["inputs"].append(
        {"type": "WorkflowBatchInput", "name": "c", "kind": ["list_of_values"]}
    )
    [result] = Workflow.compile(definition).run(p=[ROLL_PARENTS], c=[[first, second, first[:0]]])
    found = result["o"]
    # Roboflow's engine's values: the two close ones averaged, the far one kept
    assert found.xyxy.tolist() == [[15.5, 25.0, 50.5, 50.5], [105.0, 55.0, 140.0, 80.0]]
    assert found.confidence.tolist() == pytest.approx([0.9, 0.5])
    assert found.data["keypoints_xy"].tolist() == [
        [[21.0, 30.5], [30.5, 41.0]],
        [[200.0, 150.0], [120.0, 70.0]],
    ]


def test_detections_list_rollup_needs_one_set_per_parent():
    with pytest.raises(WorkflowError, match="one set of detections per parent"):
        rolled_up(ROLL_CHILDREN[:2], "max", 0.0)


def test_stitch_ocr_reads_detections_given_as_one_parameter():
    characters = ocr_characters()
    definition = document(
        {
            "type": "roboflow_core/stitch_ocr_detections@v2",
            "predictions": "$inputs.d",
            "stitching_algorithm": "collimate",
            "reading_direction": "left_to_right",
            "collimate_tolerance": 5,
        },
        [],
        {"t": "$steps.s.ocr_text"},
    )
    definition["inputs"] = [
        {"type": "WorkflowParameter", "name": "d", "kind": ["object_detection_prediction"]}
    ]
    assert Workflow.compile(definition).run(d=characters) == [{"t": "MAKE\nTHISDAY\nGREAT"}]


@needs_zoo_models
def test_detection_and_classification_names_its_unmapped_model_field():
    definition = image_document(
        [
            {
                "type": "roboflow_core/detection_and_classification@v1",
                "name": "dc",
                "image": "$inputs.image",
                "detector_model_id": "faces/1",
                "classifier_model_id": "not-mapped/1",
            }
        ],
        {"predictions": "$steps.dc.predictions"},
    )
    definition["models"] = {"faces/1": "mediapipe/face_detection_short_range"}
    with pytest.raises(ModelNotFoundError) as caught:
        Workflow.compile(definition)
    assert caught.value.place == "steps[0] 'dc' field 'classifier_model_id'"
