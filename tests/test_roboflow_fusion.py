"""Roboflow's fusion blocks (blocks/roboflow/fusion.py): detections stitched back onto the
image they were cut from, and images cut into SAHI slices, as Roboflow's documents write them.

The expected values written out below are what Roboflow's own engine (inference-core 1.8.3,
supervision 0.30.9) gave for the same document and inputs (its crop offsets given as
``parent_coordinates``, ours as ``root_parent_offset``); the zoo model test checks the same
rules on values Roboflow's engine was not run on.
"""

from __future__ import annotations

import numpy as np
import pytest
import supervision as sv
from skimage import data

from markers import needs_face_detector
from visionflow import Workflow
from visionflow.errors import RuntimeInputError, StepExecutionError, WorkflowError


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


def on_part(boxes, confidences, classes, names, ids, offset, masks=None) -> sv.Detections:
    """Detections made on a part of the image whose top-left lies at ``offset`` (x, y)."""
    count = len(boxes)
    return sv.Detections(
        xyxy=np.array(boxes, dtype=float).reshape(-1, 4),
        confidence=np.array(confidences, dtype=float),
        class_id=np.array(classes, dtype=int),
        mask=masks,
        data={
            "class_name": np.array(names, dtype="<U3"),
            "detection_id": np.array(ids, dtype="<U3"),
            "root_parent_offset": np.array([offset] * count, dtype=int).reshape(-1, 2),
            "image_dimensions": np.array([[200, 300]] * count, dtype=int).reshape(-1, 2),
        },
    )


PARTS = [  # one image's crops: boxes on each, the crop's place in the image
    on_part([[10, 10, 60, 50], [250, 20, 300, 60]], [0.9, 0.6], [0, 1], ["cat", "dog"],
            ["a", "b"], [0, 0]),
    on_part([[0, 15, 40, 55], [100, 100, 150, 150]], [0.8, 0.7], [1, 0], ["dog", "cat"],
            ["c", "d"], [240, 0]),
    on_part([], [], [], [], [], [0, 0]),
    on_part([[5, 5, 45, 45], [8, 8, 50, 50]], [0.5, 0.95], [0, 0], ["cat", "cat"],
            ["e", "f"], [0, 180]),
]  # fmt: skip


def stitch_document(**fields) -> dict:
    return {
        "version": "1.0",
        "inputs": [
            {"type": "WorkflowImage", "name": "image"},
            {
                "type": "WorkflowBatchInput",
                "name": "boxes",
                "kind": ["object_detection_prediction"],
                "dimensionality": 2,
            },
            {"type": "WorkflowParameter", "name": "strategy", "default_value": "nms"},
        ],
        "steps": [
            {
                "type": "roboflow_core/detections_stitch@v1",
                "name": "stitch",
                "reference_image": "$inputs.image",
                "predictions": "$inputs.boxes",
                **fields,
            }
        ],
        "outputs": [{"type": "JsonField", "name": "out", "selector": "$steps.stitch.predictions"}],
    }


# Roboflow's engine, same document and parts: (boxes, confidences, class ids, detection ids)
STITCHED = {
    "none": (
        [[10, 10, 60, 50], [250, 20, 300, 60], [240, 15, 280, 55], [340, 100, 390, 150],
         [5, 185, 45, 225], [8, 188, 50, 230]],
        [0.9, 0.6, 0.8, 0.7, 0.5, 0.95], [0, 1, 1, 0, 0, 0], ["a", "b", "c", "d", "e", "f"],
    ),
    "nms": (
        [[10, 10, 60, 50], [240, 15, 280, 55], [340, 100, 390, 150], [8, 188, 50, 230]],
        [0.9, 0.8, 0.7, 0.95], [0, 1, 0, 0], ["a", "c", "d", "f"],
    ),
    "nmm": (  # merged boxes: the box around both, confidences weighted by area
        [[5, 185, 50, 230], [10, 10, 60, 50], [340, 100, 390, 150], [240, 15, 300, 60]],
        [0.735969066619873, 0.9, 0.7, 0.6888889074325562], [0, 0, 0, 1], ["f", "a", "d", "c"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("strategy", ["none", "nms", "nmm"])
def test_stitch_moves_each_crops_boxes_into_the_image_and_filters_overlaps(astronaut, strategy):
    workflow = Workflow.compile(stitch_document(overlap_filtering_strategy="$inputs.strategy"))
    [result] = workflow.run(image=astronaut, boxes=[PARTS], strategy=strategy)
    stitched = result["out"]
    boxes, confidences, classes, ids = STITCHED[strategy]
    assert stitched.xyxy.tolist() == boxes
    assert stitched.confidence.tolist() == pytest.approx(confidences)
    assert stitched.class_id.tolist() == classes
    assert stitched.data["detection_id"].tolist() == ids
    # now detections of the whole image
    assert stitched.data["image_dimensions"].tolist() == [[512, 512]] * len(ids)
    assert stitched.data["root_parent_offset"].tolist() == [[0, 0]] * len(ids)


def test_stitch_defaults_to_nms_at_iou_0_3(astronaut):
    [result] = Workflow.compile(stitch_document()).run(image=astronaut, boxes=[PARTS])
    assert result["out"].data["detection_id"].tolist() == ["a", "c", "d", "f"]


def test_stitch_with_a_high_iou_threshold_keeps_boxes_overlapping_less(astronaut):
    # boxes e and f overlap with IoU 0.73: kept both at 0.8, as Roboflow's engine does
    document = stitch_document(iou_threshold=0.8)
    [result] = Workflow.compile(document).run(image=astronaut, boxes=[PARTS])
    assert result["out"].data["detection_id"].tolist() == ["a", "b", "c", "d", "e", "f"]


def test_stitch_gives_one_set_per_image_of_a_batch(astronaut):
    document = stitch_document(overlap_filtering_strategy="none")
    first, second = Workflow.compile(document).run(
        image=[astronaut, astronaut[:300]], boxes=[PARTS[:2], PARTS[3:]]
    )
    assert first["out"].data["detection_id"].tolist() == ["a", "b", "c", "d"]
    assert second["out"].data["detection_id"].tolist() == ["e", "f"]
    assert second["out"].data["image_dimensions"].tolist() == [[300, 512]] * 2


def test_stitch_of_no_detections_is_empty_on_the_image(astronaut):
    empty = on_part([], [], [], [], [], [0, 0])
    [result] = Workflow.compile(stitch_document()).run(image=astronaut, boxes=[[empty, empty]])
    assert len(result["out"]) == 0


def test_stitch_places_masks_on_the_image_clipped_to_its_edges(astronaut):
    # the same box, mask corners and pixel count as Roboflow's engine gave
    mask = np.zeros((1, 20, 30), dtype=bool)
    mask[0, 5:15, 10:30] = True  # its right part lies beyond the image once moved
    part = on_part([[10, 5, 30, 15]], [0.9], [0], ["cat"], ["m"], [500, 100], masks=mask)
    document = stitch_document(overlap_filtering_strategy="none")
    [result] = Workflow.compile(document).run(image=astronaut, boxes=[[part]])
    stitched = result["out"]
    assert stitched.xyxy.tolist() == [[510, 105, 530, 115]]
    assert stitched.mask.shape == (1, 512, 512)
    assert np.argwhere(stitched.mask[0]).min(axis=0).tolist() == [105, 510]
    assert np.argwhere(stitched.mask[0]).max(axis=0).tolist() == [114, 511]
    assert int(stitched.mask.sum()) == 10 * 2


def test_stitch_refuses_crops_with_and_without_masks_together(astronaut):
    mask = np.ones((1, 20, 30), dtype=bool)
    with_mask = on_part([[0, 0, 30, 20]], [0.9], [0], ["cat"], ["m"], [0, 0], masks=mask)
    without = on_part([[0, 0, 30, 20]], [0.9], [0], ["cat"], ["n"], [100, 0])
    with pytest.raises(StepExecutionError, match="masks"):
        Workflow.compile(stitch_document()).run(image=astronaut, boxes=[[with_mask, without]])


def test_stitch_refuses_an_unknown_strategy_given_by_a_parameter(astronaut):
    workflow = Workflow.compile(stitch_document(overlap_filtering_strategy="$inputs.strategy"))
    with pytest.raises(RuntimeInputError, match="'none', 'nms' or 'nmm'"):
        workflow.run(image=astronaut, boxes=[PARTS], strategy="nmx")


# --- image slicer ------------------------------------------------------------------------


def slicer_document(version: int, **fields) -> dict:
    return {
        "version": "1.0",
        "inputs": [{"type": "WorkflowImage", "name": "image"}],
        "steps": [
            {
                "type": f"roboflow_core/image_slicer@v{version}",
                "name": "slicer",
                "image": "$inputs.image",
                **fields,
            }
        ],
        "outputs": [{"type": "JsonField", "name": "slices", "selector": "$steps.slicer.slices"}],
    }


TILES = {"slice_width": 200, "slice_height": 150, "overlap_ratio_width": 0.25,
         "overlap_ratio_height": 0.1}  # fmt: skip
# Roboflow's engine on skimage's chelsea (451 x 300): each slice's (x, y, width, height)
SLICES = {
    1: [(0, 0, 200, 150), (150, 0, 200, 150), (300, 0, 151, 150), (450, 0, 1, 150),
        (0, 135, 200, 150), (150, 135, 200, 150), (300, 135, 151, 150), (450, 135, 1, 150),
        (0, 270, 200, 30), (150, 270, 200, 30), (300, 270, 151, 30), (450, 270, 1, 30)],
    2: [(0, 0, 200, 150), (150, 0, 200, 150), (251, 0, 200, 150), (0, 135, 200, 150),
        (150, 135, 200, 150), (251, 135, 200, 150), (0, 150, 200, 150), (150, 150, 200, 150),
        (251, 150, 200, 150)],
}  # fmt: skip


@pytest.mark.parametrize("version", [1, 2])
def test_image_slicer_cuts_overlapping_tiles_row_by_row(version):
    chelsea = np.ascontiguousarray(data.chelsea()[:, :, ::-1])
    [result] = Workflow.compile(slicer_document(version, **TILES)).run(image=chelsea)
    slices = result["slices"]
    places = [(s.origin.offset_x, s.origin.offset_y, s.width, s.height) for s in slices]
    assert places == SLICES[version]
    for tile, (x, y, width, height) in zip(slices, places, strict=True):
        assert np.array_equal(tile.numpy, chelsea[y : y + height, x : x + width])
        assert tile.image_id.startswith("image_slicer.")


def test_image_slicer_defaults_are_640_tiles_overlapping_a_fifth(astronaut):
    # v2 on a 512 x 512 image: one tile, no larger than the image (v1: 1 tile, stride 512)
    [result] = Workflow.compile(slicer_document(2)).run(image=astronaut)
    assert [(s.width, s.height) for s in result["slices"]] == [(512, 512)]


def test_image_slicer_refuses_an_overlap_of_one():
    with pytest.raises(WorkflowError, match="overlap_ratio_width"):
        Workflow.compile(slicer_document(1, overlap_ratio_width=1.0))


# --- SAHI on a zoo model -----------------------------------------------------------------


@needs_face_detector
def test_sahi_slices_detected_and_stitched_back_onto_the_image(astronaut):
    document = {
        "version": "1.0",
        "inputs": [{"type": "WorkflowImage", "name": "image"}],
        "models": {"faces": "mediapipe/face_detection_short_range"},
        "steps": [
            {
                "type": "roboflow_core/image_slicer@v2",
                "name": "slicer",
                "image": "$inputs.image",
                "slice_width": 256,
                "slice_height": 256,
            },
            {
                "type": "roboflow_core/roboflow_object_detection_model@v2",
                "name": "detection",
                "image": "$steps.slicer.slices",
                "model_id": "faces",
            },
            {
                "type": "roboflow_core/detections_stitch@v1",
                "name": "stitch",
                "reference_image": "$inputs.image",
                "predictions": "$steps.detection.predictions",
                "overlap_filtering_strategy": "none",
            },
        ],
        "outputs": [
            {"type": "JsonField", "name": "slices", "selector": "$steps.slicer.slices"},
            {  # in each slice's own coordinates
                "type": "JsonField",
                "name": "per_slice",
                "selector": "$steps.detection.predictions",
                "coordinates_system": "own",
            },
            {"type": "JsonField", "name": "stitched", "selector": "$steps.stitch.predictions"},
        ],
    }
    [result] = Workflow.compile(document).run(image=astronaut)
    slices, per_slice, stitched = result["slices"], result["per_slice"], result["stitched"]
    assert len(slices) == 9  # starts 0, 205, 256 (moved back from 410) on each axis
    expected = [
        found.xyxy + [tile.origin.offset_x, tile.origin.offset_y] * 2
        for tile, found in zip(slices, per_slice, strict=True)
        if len(found)
    ]
    assert expected  # the astronaut's face is found on some slice
    assert stitched.xyxy.tolist() == np.concatenate(expected).tolist()
    assert stitched.data["image_dimensions"].tolist() == [[512, 512]] * len(stitched)


# --- detections consensus ----------------------------------------------------------------


def voter(x, y, width, height, name, confidence, detection_id, class_id=0) -> dict:
    """A detection in Roboflow's JSON (centre, size) on the image named ``image``."""
    return {
        "x": x,
        "y": y,
        "width": width,
        "height": height,
        "confidence": confidence,
        "class": name,
        "class_id": class_id,
        "detection_id": detection_id,
        "parent_id": "image",
    }


SIZE = {"width": 512, "height": 512}
VOTERS = {  # three models' detections of the same image
    "a": {"image": SIZE, "predictions": [
        voter(100, 100, 40, 30, "cat", 0.9, "a1"), voter(300, 300, 50, 50, "dog", 0.6, "a2", 1),
        voter(400, 100, 20, 20, "cat", 0.3, "a3")]},
    "b": {"image": SIZE, "predictions": [
        voter(104, 102, 40, 30, "cat", 0.7, "b1"), voter(305, 298, 50, 60, "cat", 0.8, "b2"),
        voter(402, 101, 20, 20, "cat", 0.5, "b3")]},
    "c": {"image": SIZE, "predictions": [
        voter(98, 99, 44, 30, "cat", 0.5, "c1"), voter(301, 303, 48, 50, "dog", 0.4, "c2", 1),
        voter(100, 100, 40, 30, "cat", 0.95, "c3")]},
}  # fmt: skip


def consensus_document(**fields) -> dict:
    return {
        "version": "1.0",
        "inputs": [{"type": "WorkflowImage", "name": "image"}]
        + [
            {"type": "WorkflowBatchInput", "name": name, "kind": ["object_detection_prediction"]}
            for name in "abc"
        ],
        "steps": [
            {
                "type": "roboflow_core/detections_consensus@v1",
                "name": "vote",
                "predictions_batches": ["$inputs.a", "$inputs.b", "$inputs.c"],
                **fields,
            }
        ],
        "outputs": [
            {"type": "JsonField", "name": name, "selector": f"$steps.vote.{name}"}
            for name in ("predictions", "object_present", "presence_confidence")
        ],
    }


AVERAGED = [[81.33333333333333, 85.66666666666667, 121.33333333333333, 115.66666666666667],
            [276.0, 276.5, 325.0, 326.5], [391.0, 90.5, 411.0, 110.5]]  # fmt: skip
# Roboflow's engine, same inputs: fields -> (boxes, confidences, class ids, class names,
# object_present, presence_confidence)
CONSENSUS = {
    "default": (
        {"required_votes": 2},
        AVERAGED, [0.85, 0.5, 0.4], [0, 1, 0], ["cat", "dog", "cat"], True,
        {"cat": 0.85, "dog": 0.5},
    ),
    "class_agnostic": (  # the dog of a and c joined by b's cat: the majority class is dog
        {"required_votes": 2, "class_aware": False, "required_objects": 3},
        [AVERAGED[0], [277.3333333333333, 273.6666666666667, 326.6666666666667, 327.0],
         AVERAGED[2]],
        [0.85, 0.6, 0.4], [0, 1, 0], ["cat", "dog", "cat"], True, {"any_object": 0.85},
    ),
    "three_votes_largest_box": (
        {"required_votes": 3, "presence_confidence_aggregation": "average",
         "detections_merge_confidence_aggregation": "max",
         "detections_merge_coordinates_aggregation": "max"},
        [[80.0, 85.0, 120.0, 115.0]], [0.95], [0], ["cat"], True, {"cat": 0.95},
    ),
    "confident_smallest_box": (  # one cat agreed on, two required: no object present
        {"required_votes": 2, "confidence": 0.6, "detections_merge_confidence_aggregation": "min",
         "detections_merge_coordinates_aggregation": "min", "required_objects": {"cat": 2}},
        [[80.0, 85.0, 120.0, 115.0]], [0.7], [0], ["cat"], False, {},
    ),
    "only_dogs": (
        {"required_votes": 2, "classes_to_consider": ["dog"]},
        [AVERAGED[1]], [0.5], [1], ["dog"], True, {"dog": 0.5},
    ),
    "a_dog_required": (
        {"required_votes": 2, "required_objects": {"dog": 1}},
        AVERAGED, [0.85, 0.5, 0.4], [0, 1, 0], ["cat", "dog", "cat"], True,
        {"cat": 0.85, "dog": 0.5},
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", CONSENSUS)
def test_consensus_merges_the_detections_enough_models_agree_on(astronaut, case):
    fields, boxes, confidences, classes, names, present, by_class = CONSENSUS[case]
    [result] = Workflow.compile(consensus_document(**fields)).run(image=astronaut, **VOTERS)
    found = result["predictions"]
    assert found.xyxy.tolist() == boxes  # the same floats as Roboflow gave
    assert found.confidence.tolist() == pytest.approx(confidences)
    assert found.class_id.tolist() == classes
    assert found.data["class_name"].tolist() == names
    assert result["object_present"] is present
    assert result["presence_confidence"] == pytest.approx(by_class)
    assert found.data["parent_id"].tolist() == ["image"] * len(found)
    assert len(set(found.data["detection_id"])) == len(found)  # new ids


def test_consensus_of_no_detections_finds_no_object(astronaut):
    empty = {"image": SIZE, "predictions": []}
    document = consensus_document(required_votes=1)
    [result] = Workflow.compile(document).run(image=astronaut, a=empty, b=empty, c=empty)
    assert len(result["predictions"]) == 0
    assert result["object_present"] is False
    assert result["presence_confidence"] == {}


def test_consensus_refuses_detections_of_different_images(astronaut):
    other = {
        "image": SIZE,
        "predictions": [{**voter(1, 1, 2, 2, "cat", 0.5, "x"), "parent_id": "x"}],
    }
    workflow = Workflow.compile(consensus_document(required_votes=1))
    with pytest.raises(StepExecutionError, match="different images"):
        workflow.run(image=astronaut, a=VOTERS["a"], b=VOTERS["b"], c=other)


def test_consensus_takes_roboflows_short_names():
    document = consensus_document(required_votes=2)
    step = document["steps"][0]
    step["type"] = "DetectionsConsensus"
    step["predictions"] = step.pop("predictions_batches")
    Workflow.compile(document)


# --- dynamic zone ------------------------------------------------------------------------


def outlined(x, y, width, height, name, detection_id, points) -> dict:
    """An instance mask in Roboflow's JSON: its box (centre, size) and outline."""
    return {
        **voter(x, y, width, height, name, 0.8, detection_id),
        "points": [{"x": px, "y": py} for px, py in points],
    }


SHAPES = {"image": SIZE, "predictions": [  # a square turned 45 degrees, a triangle, a blob
    outlined(150, 150, 100, 100, "tilted", "s1", [(150, 100), (200, 150), (150, 200), (100, 150)]),
    outlined(350, 330, 100, 60, "tri", "s2", [(300, 300), (400, 310), (330, 360)]),
    outlined(300, 120, 160, 120, "blob", "s3", [(220, 60), (300, 70), (380, 65), (375, 120),
                                                (385, 175), (300, 180), (225, 178), (230, 120)]),
]}  # fmt: skip


def zone_document(**fields) -> dict:
    return {
        "version": "1.0",
        "inputs": [
            {"type": "WorkflowImage", "name": "image"},
            {
                "type": "WorkflowBatchInput",
                "name": "shapes",
                "kind": ["instance_segmentation_prediction"],
            },
        ],
        "steps": [
            {
                "type": "roboflow_core/dynamic_zone@v1",
                "name": "zone",
                "predictions": "$inputs.shapes",
                **fields,
            }
        ],
        "outputs": [
            {"type": "JsonField", "name": name, "selector": f"$steps.zone.{name}"}
            for name in ("zones", "predictions", "simplification_converged")
        ],
    }


# Roboflow's engine, same inputs: fields -> (zones, converged, mask pixel counts)
ZONES = {
    "four": (
        {"required_number_of_vertices": 4},
        [[[150, 100], [100, 150], [150, 200], [200, 150]],
         [[300, 300], [330, 360], [400, 310], [395, 309]],
         [[220, 60], [225, 178], [385, 175], [380, 65]]],
        True, [5101, 3006, 18511],
    ),
    "three_scaled": (  # the square cannot be 3 corners: its last one repeated
        {"required_number_of_vertices": 3, "scale_ratio": 1.5},
        [[[150, 100], [150, 200], [150, 200]], [[278, 288], [323, 378], [428, 303]],
         [[192, 21], [199, 198], [439, 194]]],
        False, [101, 6616, 21589],
    ),
    "least_squares": (
        {"required_number_of_vertices": 4, "apply_least_squares": True, "midpoint_fraction": 0.6},
        [[[150, 100], [100, 150], [150, 200], [200, 150]],
         [[300, 300], [330, 360], [400, 310], [390, 309]],
         [[221, 63], [237, 182], [384, 176], [370, 73]]],
        True, [5101, 2986, 16658],
    ),
    "six": (
        {"required_number_of_vertices": 6},
        [[[150, 100], [100, 150], [150, 200], [200, 150], [200, 150], [200, 150]],
         [[300, 300], [300, 301], [330, 360], [400, 310], [395, 309], [305, 300]],
         [[220, 60], [225, 178], [282, 180], [308, 180], [385, 175], [380, 65]]],
        False, [5101, 3033, 18821],
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", ZONES)
def test_dynamic_zone_simplifies_each_mask_to_a_polygon(astronaut, case):
    fields, zones, converged, areas = ZONES[case]
    [result] = Workflow.compile(zone_document(**fields)).run(image=astronaut, shapes=SHAPES)
    assert result["zones"] == zones
    assert result["simplification_converged"] is converged
    shaped = result["predictions"]
    assert [int(mask.sum()) for mask in shaped.mask] == areas
    assert shaped.data["polygon"].tolist() == zones
    # as Roboflow's, the boxes stay those of the masks given
    assert shaped.xyxy.tolist() == [[100, 100, 200, 200], [300, 300, 400, 360], [220, 60, 380, 180]]


def test_dynamic_zone_takes_only_instance_segmentations(astronaut):
    document = zone_document(required_number_of_vertices=4)
    document["inputs"][1]["kind"] = ["object_detection_prediction"]
    with pytest.raises(WorkflowError, match="kind"):  # Roboflow's kinds: masks only
        Workflow.compile(document)


def test_dynamic_zone_of_detections_without_masks_gives_no_zone(astronaut):
    boxes = {"image": SIZE, "predictions": [voter(10, 10, 4, 4, "cat", 0.5, "b")]}
    document = zone_document(required_number_of_vertices=4)
    [result] = Workflow.compile(document).run(image=astronaut, shapes=boxes)
    assert result == {"zones": [], "predictions": None, "simplification_converged": False}
