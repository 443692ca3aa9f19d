"""Roboflow's mask blocks: mask area measurement and mask edge snap, on real masks.

The masks: the coins of skimage's coins image, thresholded by Otsu's method, as connected
pieces of 1000 to 4000 pixels (the first three), each eroded by a 7 x 7 disc so that the
edge snap has edges to move them onto. They reach the workflow as Roboflow's
``WorkflowInstanceSegmentation`` input. Every expected value is what Roboflow's own engine
(inference-core 1.8.3, its ``roboflow_core`` blocks, OpenCV 4.12) gave for the same
definition and inputs; masks are checked by pixel counts and SHA-256 (first 16 hex digits)
of their bytes.
"""

from __future__ import annotations

import hashlib
import json

import cv2
import numpy as np
import pytest
import skimage.data
import supervision as sv

from visionflow import Workflow
from visionflow.errors import ManifestError
from visionflow.serialization import serialize


def coins() -> tuple[np.ndarray, sv.Detections]:
    gray = skimage.data.coins()
    image = np.repeat(gray[:, :, None], 3, axis=2)
    _, binary = cv2.threshold(gray, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    pieces = [n for n in range(1, count) if 1000 <= stats[n, cv2.CC_STAT_AREA] <= 4000][:3]
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    masks = np.stack([cv2.erode((labels == n).astype(np.uint8), disc) > 0 for n in pieces])
    detections = sv.Detections(
        xyxy=sv.mask_to_xyxy(masks).astype(np.float64),
        mask=masks,
        confidence=np.array([0.9, 0.8, 0.7]),
        class_id=np.zeros(3, dtype=int),
        data={
            "class_name": np.array(["coin"] * 3),
            "detection_id": np.array(["coin-0", "coin-1", "coin-2"]),
        },
    )
    return image, detections


def without_masks(detections: sv.Detections) -> sv.Detections:
    boxes = detections[np.arange(len(detections))]
    boxes.mask = None
    return boxes


def run(step: dict, segmentation: sv.Detections) -> dict:
    definition = {
        "version": "1.0",
        "inputs": [
            {"type": "WorkflowImage", "name": "image"},
            {"type": "WorkflowInstanceSegmentation", "name": "segmentation"},
        ],
        "steps": [step],
        "outputs": [{"type": "JsonField", "name": "out", "selector": f"$steps.{step['name']}.*"}],
    }
    image, _ = coins()
    return Workflow.compile(definition).run(image=image, segmentation=segmentation)[0]["out"]


def digest(masks: np.ndarray) -> tuple:
    data = np.ascontiguousarray(masks).tobytes()
    return masks.sum(axis=(1, 2)).tolist(), hashlib.sha256(data).hexdigest()[:16]


BOXES = [[308.0, 19.0, 360.0, 68.0], [135.0, 31.0, 175.0, 70.0], [195.0, 33.0, 236.0, 69.0]]

# --- mask area measurement ---------------------------------------------------------------

AREA = {
    "type": "roboflow_core/mask_area_measurement@v1",
    "name": "a",
    "predictions": "$inputs.segmentation",
}


def test_mask_area_counts_mask_pixels():
    _, detections = coins()
    measured = run(AREA, detections)["predictions"]
    # Roboflow's engine: the masks' pixel counts, unchanged by the default 1 pixel a unit
    assert measured.data["area_px"].tolist() == [1098.0, 1275.0, 1075.0]
    assert measured.data["area_converted"].tolist() == [1098.0, 1275.0, 1075.0]
    assert measured.xyxy.tolist() == BOXES
    assert "area_px" not in detections.data  # the input's detections are left as they were


def test_mask_area_converts_by_pixels_per_unit_squared():
    _, detections = coins()
    measured = run({**AREA, "pixels_per_unit": 2.5}, detections)["predictions"]
    assert measured.data["area_converted"].tolist() == [175.68, 204.0, 172.0]  # Roboflow's
    predictions = json.loads(json.dumps(serialize(measured)))["predictions"]
    assert [(p["area_px"], p["area_converted"]) for p in predictions] == [
        (1098.0, 175.68),
        (1275.0, 204.0),
        (1075.0, 172.0),
    ]


def test_mask_area_of_boxes_without_masks():
    _, detections = coins()
    measured = run({**AREA, "pixels_per_unit": 2.5}, without_masks(detections))["predictions"]
    # Roboflow's engine: width x height of each box
    assert measured.data["area_px"].tolist() == [2548.0, 1560.0, 1476.0]
    assert measured.data["area_converted"].tolist() == [407.68, 249.6, 236.16]


def test_mask_area_of_an_empty_mask_is_its_box_and_no_scale_below_zero():
    _, coin_masks = coins()
    masks = np.concatenate([coin_masks.mask, np.zeros((1, *coin_masks.mask.shape[1:]), bool)])
    detections = sv.Detections(
        xyxy=np.concatenate([coin_masks.xyxy, [[10.0, 10.0, 30.5, 20.0]]]),
        mask=masks,
        confidence=np.array([0.9, 0.8, 0.7, 0.5]),
        class_id=np.zeros(4, dtype=int),
        data={"class_name": np.array(["coin"] * 4), "detection_id": np.array(list("abcd"))},
    )
    measured = run({**AREA, "pixels_per_unit": 0}, detections)["predictions"]
    # Roboflow's engine: the empty mask falls back to its box; pixels_per_unit 0 scales by 1
    assert measured.data["area_px"].tolist() == [1098.0, 1275.0, 1075.0, 205.0]
    assert measured.data["area_converted"].tolist() == [1098.0, 1275.0, 1075.0, 205.0]


# --- mask edge snap ----------------------------------------------------------------------

SNAP = {
    "type": "roboflow_core/mask_edge_snap@v1",
    "name": "s",
    "image": "$inputs.image",
    "segmentation": "$inputs.segmentation",
}


def test_mask_edge_snap_moves_the_masks_onto_the_coins_edges():
    _, detections = coins()
    out = run(SNAP, detections)
    refined, edges = out["refined_segmentation"], out["edges"]
    # Roboflow's engine: the eroded masks grow back to the coins' outlines
    assert digest(refined.mask) == ([2247, 1638, 1492], "87dc6dc877749bf2")
    assert refined.xyxy.tolist() == BOXES  # boxes, scores and data as they came
    assert refined.confidence.tolist() == [0.9, 0.8, 0.7]
    assert refined.data["detection_id"].tolist() == ["coin-0", "coin-1", "coin-2"]
    assert edges.xyxy.tolist() == [[130.0, 15.0, 365.0, 74.0]]
    assert digest(edges.mask) == ([1453], "66264ec1ebdfd1ed")
    assert edges.data["class_name"].tolist() == ["edges"]
    assert edges.confidence.tolist() == [1.0]
    assert edges.class_id.tolist() == [0]


def test_mask_edge_snap_with_every_field_set():
    _, detections = coins()
    fields = {
        "pixel_tolerance": 5,
        "sigma": 0.5,
        "min_contour_area": 10.0,
        "dilation_iterations": 0,
        "boundary_band_width": 8,
        "adaptive_window_size": 21,
    }
    out = run({**SNAP, **fields}, detections)
    # Roboflow's engine
    assert digest(out["refined_segmentation"].mask) == ([1880, 1683, 1421], "1babd3de23904a1d")
    assert out["edges"].xyxy.tolist() == [[131.0, 15.0, 366.0, 75.0]]
    assert digest(out["edges"].mask) == ([1650], "1b54a66b3354ed1e")


def test_mask_edge_snap_without_masks_finds_edges_over_the_whole_image():
    _, detections = coins()
    boxes = without_masks(detections)
    out = run(SNAP, boxes)
    # Roboflow's engine: the detections pass through; the edges cover the image
    assert out["refined_segmentation"].mask is None
    assert out["refined_segmentation"].xyxy.tolist() == BOXES
    assert out["edges"].xyxy.tolist() == [[0.0, 0.0, 384.0, 303.0]]
    assert digest(out["edges"].mask) == ([8866], "12c444837a585073")


def test_mask_edge_snap_serialises_to_json():
    _, detections = coins()
    document = json.loads(json.dumps(serialize(run(SNAP, detections))))
    assert [p["detection_id"] for p in document["refined_segmentation"]["predictions"]] == [
        "coin-0",
        "coin-1",
        "coin-2",
    ]
    assert [p["class"] for p in document["edges"]["predictions"]] == ["edges"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("pixel_tolerance", 0),
        ("pixel_tolerance", 101),
        ("sigma", 0.001),
        ("min_contour_area", -1.0),
        ("dilation_iterations", 21),
        ("boundary_band_width", 0),
        ("adaptive_window_size", 202),
    ],
)
def test_mask_edge_snap_fields_out_of_roboflows_ranges_fail_to_compile(field: str, value):
    _, detections = coins()
    with pytest.raises(ManifestError):
        run({**SNAP, field: value}, detections)


def test_roboflows_published_mask_edge_snap_definition():
    # Roboflow's test definition MASK_EDGE_SNAP_WORKFLOW: every field from a parameter
    defaults = {
        "pixel_tolerance": 15,
        "sigma": 1.0,
        "min_contour_area": 50.0,
        "dilation_iterations": 2,
        "boundary_band_width": 15,
        "adaptive_window_size": 41,
    }
    definition = {
        "version": "1.0",
        "inputs": [
            {"type": "WorkflowImage", "name": "image"},
            {"type": "WorkflowInstanceSegmentation", "name": "segmentation"},
            *(
                {"type": "WorkflowParameter", "name": name, "default_value": value}
                for name, value in defaults.items()
            ),
        ],
        "steps": [{**SNAP, **{name: f"$inputs.{name}" for name in defaults}}],
        "outputs": [{"type": "JsonField", "name": "result", "selector": "$steps.s.*"}],
    }
    image, detections = coins()
    result = Workflow.compile(definition).run(image=image, segmentation=detections)[0]["result"]
    # the defaults' result (Roboflow's engine gives the same)
    assert digest(result["refined_segmentation"].mask) == ([2247, 1638, 1492], "87dc6dc877749bf2")
    assert digest(result["edges"].mask) == ([1453], "66264ec1ebdfd1ed")


def test_roboflows_published_mask_edge_snap_after_morphological_preprocessing():
    # Roboflow's test definition MASK_EDGE_SNAP_WITH_MORPHOLOGICAL_PREPROCESSING
    definition = {
        "version": "1.0",
        "inputs": [
            {"type": "WorkflowImage", "name": "image"},
            {"type": "WorkflowInstanceSegmentation", "name": "segmentation"},
        ],
        "steps": [
            {
                "type": "roboflow_core/morphological_transformation@v2",
                "name": "morphological_preprocessing",
                "image": "$inputs.image",
                "operation": "Opening then Closing",
                "kernel_size": 5,
            },
            {
                **SNAP,
                "image": "$steps.morphological_preprocessing.image",
                "pixel_tolerance": 15,
                "sigma": 1.0,
                "min_contour_area": 50.0,
                "dilation_iterations": 2,
                "boundary_band_width": 15,
                "adaptive_window_size": 41,
            },
        ],
        "outputs": [{"type": "JsonField", "name": "result", "selector": "$steps.s.*"}],
    }
    image, detections = coins()
    result = Workflow.compile(definition).run(image=image, segmentation=detections)[0]["result"]
    # Roboflow's engine
    assert digest(result["refined_segmentation"].mask) == ([1493, 1690, 1075], "82506394b9daaa49")
    assert result["edges"].xyxy.tolist() == [[131.0, 15.0, 365.0, 74.0]]
    assert digest(result["edges"].mask) == ([470], "a743498ce2b64662")
