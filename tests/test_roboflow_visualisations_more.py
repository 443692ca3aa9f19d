"""Roboflow's further visualisation blocks: classification labels, keypoints, model
comparison and v1 of the halo give the very pixels Roboflow's engine gives."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import supervision as sv
from skimage import data

from visionflow import Workflow
from visionflow.errors import WorkflowError

OD, SEG = "object_detection_prediction", "instance_segmentation_prediction"
KP, CLS = "keypoint_detection_prediction", "classification_prediction"


def astronaut() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


def digest(pixels: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()[:16]


def draw(step: dict, image: np.ndarray | None = None, **inputs: tuple[str, object]) -> np.ndarray:
    """The image ``step`` draws on ``image`` (the astronaut), each input given as
    ``name=(kind, value)`` and wired to the step's field of that name."""
    definition = {
        "version": "1.0",
        "inputs": [{"type": "WorkflowImage", "name": "image"}]
        + [{"type": "WorkflowBatchInput", "name": n, "kind": [k]} for n, (k, _) in inputs.items()],
        "steps": [
            {"name": "draw", "image": "$inputs.image", **{n: f"$inputs.{n}" for n in inputs},
             **step},
        ],
        "outputs": [{"type": "JsonField", "name": "image", "selector": "$steps.draw.image"}],
    }  # fmt: skip
    image = astronaut() if image is None else image
    values = {name: [value] for name, (_, value) in inputs.items()}
    [result] = Workflow.compile(definition).run(image=image, **values)
    return result["image"].numpy


# --- the predictions, in Roboflow's JSON (the same were given to Roboflow's engine) -------

SIZE = {"width": 512, "height": 512}
SINGLE = {"image": SIZE, "top": "dog", "confidence": 0.71, "class_id": 1, "predictions": [
    {"class": "cat", "class_id": 0, "confidence": 0.2},
    {"class": "dog", "class_id": 1, "confidence": 0.71},
    {"class": "cow", "class_id": 2, "confidence": 0.09},
]}  # fmt: skip
MULTI = {"image": SIZE, "predicted_classes": ["cat", "cow", "dog"], "predictions": {
    "cat": {"class_id": 0, "confidence": 0.62}, "dog": {"class_id": 1, "confidence": 0.91},
    "cow": {"class_id": 2, "confidence": 0.55}, "hen": {"class_id": 3, "confidence": 0.1},
}}  # fmt: skip
MULTI_NONE = {"image": SIZE, "predicted_classes": [],
              "predictions": {"cat": {"class_id": 0, "confidence": 0.2}}}  # fmt: skip

COCO = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
        "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
        "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"]  # fmt: skip
POINTS = [(250, 110), (265, 95), (235, 95), (280, 100), (220, 100), (310, 190), (190, 190),
          (340, 270), (160, 270), (350, 350), (150, 350), (290, 340), (210, 340), (300, 420),
          (200, 420), (305, 500), (195, 500)]  # fmt: skip


def person(shift: int, name: str, missing: tuple[int, ...] = ()) -> dict:
    """A COCO skeleton on the astronaut; a missing keypoint sits at (0, 0)."""
    keypoints = [
        {"x": 0 if i in missing else x + shift, "y": 0 if i in missing else y,
         "confidence": 0.9 - 0.01 * i, "class": joint, "class_id": i}
        for i, (joint, (x, y)) in enumerate(zip(COCO, POINTS, strict=True))
    ]  # fmt: skip
    return {
        "x": 250 + shift, "y": 290, "width": 220, "height": 440, "confidence": 0.88,
        "class": "person", "class_id": 0, "detection_id": name, "keypoints": keypoints,
    }  # fmt: skip


PEOPLE = {"image": SIZE, "predictions": [person(0, "p1"), person(-120, "p2", (1, 3, 9))]}
NOBODY = {"image": SIZE, "predictions": []}


def box(x, y, w, h, class_id, name, outline=False) -> dict:
    found = {"x": x, "y": y, "width": w, "height": h, "confidence": 0.9, "class": name,
             "class_id": class_id, "detection_id": f"{name}-{x}"}  # fmt: skip
    if outline:  # a quadrilateral inside the box
        corners = [(x - w / 2, y), (x, y - h / 2), (x + w / 2, y + h / 3), (x - w / 4, y + h / 2)]
        found["points"] = [{"x": px, "y": py} for px, py in corners]
    return found


def boxes(*rows: tuple, outline: bool = False) -> dict:
    return {"image": SIZE, "predictions": [box(*row, outline=outline) for row in rows]}


CAT, DOG, COW = (
    (100, 100, 80, 60, 0, "cat"),
    (300, 200, 120, 90, 1, "dog"),
    (250, 400, 60, 150, 12, "cow"),
)
CAT_B = (120, 110, 80, 60, 0, "cat")
A, B = boxes(CAT, DOG), boxes(CAT_B, COW)
MASKS_A, MASKS_B = boxes(CAT, DOG, outline=True), boxes(CAT_B, COW, outline=True)

CL = "roboflow_core/classification_label_visualization@v1"
KV = "roboflow_core/keypoint_visualization@v1"
MC = "roboflow_core/model_comparison_visualization@v1"
HALO = "roboflow_core/halo_visualization@v1"

# Roboflow's own engine (inference-core 1.8.3: supervision 0.30.9, OpenCV 4.12) ran each
# step below on the astronaut with these inputs; the digest is the first 16 hex digits of
# the SHA-256 of the pixels it drew (its classification steps were fed through a
# property_definition step, as its field takes step outputs only).
ROBOFLOW_DIGESTS = {  # name: (step fields, inputs, digest of Roboflow's image)
    "cls_single_default": ({"type": CL}, {"predictions": (CLS, SINGLE)}, "cd6a689f4ebbb538"),
    "cls_single_corpus": (  # the fields of Roboflow's published single-label test
        {"type": CL, "text": "Class and Confidence", "color_axis": "INDEX",
         "color_palette": "ROBOFLOW", "text_scale": 1, "text_color": "BLACK",
         "text_padding": 28},
        {"predictions": (CLS, SINGLE)}, "a890f1f16b677e5f"),
    "cls_multi_center": ({"type": CL, "text": "Class and Confidence", "text_position": "CENTER"},
                         {"predictions": (CLS, MULTI)}, "10e311a05a67f74b"),
    "cls_multi_center_left": (
        {"type": CL, "text": "Confidence", "text_position": "CENTER_LEFT", "text_padding": 4,
         "text_scale": 0.6},
        {"predictions": (CLS, MULTI)}, "4e31e912fffb15da"),
    "cls_multi_center_right": (
        {"type": CL, "text": "Class", "text_position": "CENTER_RIGHT", "border_radius": 5,
         "color_palette": "Matplotlib Viridis", "palette_size": 4},
        {"predictions": (CLS, MULTI)}, "e086cb368b418284"),
    "cls_multi_bottom": (
        {"type": CL, "text_position": "BOTTOM_RIGHT", "text_thickness": 2,
         "text_color": "#00FF00"},
        {"predictions": (CLS, MULTI)}, "f81accd92640d18d"),
    "cls_multi_top_center": ({"type": CL, "text_position": "TOP_CENTER", "copy_image": False},
                             {"predictions": (CLS, MULTI)}, "939645fdf1eddb7d"),
    "kp_edge": ({"type": KV}, {"predictions": (KP, PEOPLE)}, "0ac0ee8fce8e3b52"),
    "kp_vertex": ({"type": KV, "annotator_type": "vertex", "radius": 6, "color": "green"},
                  {"predictions": (KP, PEOPLE)}, "5278c4d6071f1b55"),
    "kp_vertex_label": (
        {"type": "KeypointVisualization", "annotator_type": "vertex_label",
         "text_color": "white", "color": "#0000FF", "text_scale": 0.4, "radius": 3},
        {"predictions": (KP, PEOPLE)}, "27d4afb6ffafc7fa"),
    "kp_edges_custom": (
        {"type": KV, "edges": [[1, 6], [6, 7], [7, 1], [12, 13]], "thickness": 4,
         "color": "rgb(255, 0, 0)"},
        {"predictions": (KP, PEOPLE)}, "207edbf215bb8e37"),
    "mc_default": ({"type": MC}, {"predictions_a": (OD, A), "predictions_b": (OD, B)},
                   "03bbaa5ba6b31c07"),
    "mc_colours": (
        {"type": MC, "color_a": "#0000FF", "color_b": "YELLOW", "background_color": "WHITE",
         "opacity": 0.35},
        {"predictions_a": (OD, A), "predictions_b": (OD, B)}, "48cd3b0d238c780d"),
    "mc_masks": ({"type": MC}, {"predictions_a": (SEG, MASKS_A), "predictions_b": (SEG, MASKS_B)},
                 "d57bbd61dcc510a8"),
    "mc_masks_and_none": ({"type": MC, "opacity": 1.0},
                          {"predictions_a": (SEG, MASKS_A), "predictions_b": (OD, NOBODY)},
                          "7f300bd6cbaa536a"),
    "halo_v1": ({"type": HALO}, {"predictions": (SEG, boxes(CAT, DOG, COW, outline=True))},
                "96a916df3dbe3c06"),
    "halo_v1_alias": (
        {"type": "HaloVisualization", "opacity": 0.5, "kernel_size": 10,
         "color_palette": "ROBOFLOW", "color_axis": "INDEX"},
        {"predictions": (SEG, MASKS_A)}, "1f37bc5289cd9865"),
}  # fmt: skip


@pytest.mark.parametrize("name", ROBOFLOW_DIGESTS)
def test_the_same_pixels_as_roboflows_engine(name):
    step, inputs, expected = ROBOFLOW_DIGESTS[name]
    assert digest(draw(step, **inputs)) == expected


@pytest.mark.parametrize(
    "step, inputs",
    [
        ({"type": CL}, {"predictions": (CLS, MULTI_NONE)}),  # no class predicted
        ({"type": KV}, {"predictions": (KP, NOBODY)}),
        ({"type": HALO}, {"predictions": (SEG, NOBODY)}),
    ],
)
def test_nothing_to_draw_leaves_the_image_as_it_was(step, inputs):
    # Roboflow gives the astronaut untouched too, except v1 of the halo: with nothing to
    # glow it divides 0 by 0 and gives a black image; here the image stays as it was
    assert np.array_equal(draw(step, **inputs), astronaut())


def test_copy_image_false_draws_on_the_input_itself():
    image = astronaut()
    drawn = draw({"type": CL, "copy_image": False}, image, predictions=(CLS, SINGLE))
    assert np.array_equal(image, drawn) and not np.array_equal(image, astronaut())


def test_visionflows_multi_label_prediction_draws_as_roboflows():
    # visionflow's multi-label models list every class; Roboflow's map class -> score
    ours = {"predicted_classes": ["dog", "cat", "cow"], "parent_id": "image", "predictions": [
        {"class": "dog", "class_id": 1, "confidence": 0.91},
        {"class": "cat", "class_id": 0, "confidence": 0.62},
        {"class": "cow", "class_id": 2, "confidence": 0.55},
        {"class": "hen", "class_id": 3, "confidence": 0.1},
    ]}  # fmt: skip
    step = {"type": CL, "text": "Class and Confidence", "text_position": "CENTER"}
    assert digest(draw(step, predictions=(CLS, ours))) == "10e311a05a67f74b"


def test_a_field_roboflows_published_definition_carries_is_ignored():
    # Roboflow's single-label test names an input it never declares in this field
    step = {"type": CL, "num_classifications": "$inputs.num_classifications"}
    assert digest(draw(step, predictions=(CLS, SINGLE))) == "cd6a689f4ebbb538"


def test_keypoints_draw_what_supervisions_edge_annotator_draws():
    xy = np.array([[[100.0, 100.0], [150.0, 160.0], [0.0, 0.0], [120.0, 220.0]]])
    found = sv.Detections(
        xyxy=np.array([[90.0, 90.0, 160.0, 230.0]]),
        class_id=np.array([0]),
        data={"keypoints_xy": xy},
    )
    definition = {
        "version": "1.0",
        "inputs": [{"type": "WorkflowImage", "name": "image"},
                   {"type": "WorkflowBatchInput", "name": "people", "kind": [KP]}],
        "steps": [{"type": KV, "name": "draw", "image": "$inputs.image",
                   "predictions": "$inputs.people", "edges": [[1, 2], [2, 3], [2, 4]]}],
        "outputs": [{"type": "JsonField", "name": "image", "selector": "$steps.draw.image"}],
    }  # fmt: skip
    [result] = Workflow.compile(definition).run(image=astronaut(), people=[found])
    annotator = sv.EdgeAnnotator(color=sv.Color.from_hex("#A351FB"), thickness=2,
                                 edges=[(1, 2), (2, 3), (2, 4)])  # fmt: skip
    expected = annotator.annotate(scene=astronaut(), key_points=sv.KeyPoints(xy=xy))
    assert np.array_equal(result["image"].numpy, expected)


def test_model_comparison_leaves_pixels_both_models_predict():
    both, only_a = (110, 95), (70, 80)  # (x, y): inside both cats; inside A's cat only
    drawn = draw({"type": MC}, predictions_a=(OD, A), predictions_b=(OD, B))
    image = astronaut()
    assert np.array_equal(drawn[both[1], both[0]], image[both[1], both[0]])
    green = np.array([0, 255, 0])  # GREEN at opacity 0.7 over the astronaut's pixel
    expected = np.round(image[only_a[1], only_a[0]] * 0.3 + green * 0.7)
    assert np.array_equal(drawn[only_a[1], only_a[0]], expected)


@pytest.mark.parametrize(
    "step, inputs, field",
    [
        (
            {"type": MC, "color_a": "sky"},
            {"predictions_a": (OD, A), "predictions_b": (OD, B)},
            "color_a",
        ),
        ({"type": KV, "text_color": "#12"}, {"predictions": (KP, PEOPLE)}, "text_color"),
        ({"type": CL, "text_color": "nope"}, {"predictions": (CLS, SINGLE)}, "text_color"),
    ],
)
def test_an_unknown_colour_is_a_compile_error_naming_the_field(step, inputs, field):
    with pytest.raises(WorkflowError) as caught:
        draw(step, **inputs)
    assert field in caught.value.place


# --- icon, grid, text display, anomaly heatmap -------------------------------------------


def chelsea() -> np.ndarray:
    return np.ascontiguousarray(data.chelsea()[:, :, ::-1])


def coffee() -> np.ndarray:
    return np.ascontiguousarray(data.coffee()[:, :, ::-1])


def run_one(step: dict, inputs: list[dict], **values) -> np.ndarray:
    definition = {
        "version": "1.0",
        "inputs": inputs,
        "steps": [{"name": "draw", **step}],
        "outputs": [{"type": "JsonField", "name": "image", "selector": "$steps.draw.image"}],
    }
    [result] = Workflow.compile(definition).run(**values)
    return result["image"].numpy


IMAGE = {"type": "WorkflowImage", "name": "image"}
ICON = {"type": "WorkflowImage", "name": "icon"}
BOXES = {"type": "WorkflowBatchInput", "name": "boxes", "kind": [OD]}

# Roboflow's engine drew these (same inputs, as above): step fields, icon, digest
ICON_DIGESTS = {
    "dynamic": ({"type": "roboflow_core/icon_visualization@v1"}, chelsea, A,
                "176bebdf92d1bc40"),
    "dynamic_wide": ({"type": "IconVisualization", "icon_width": 101, "icon_height": 41,
                      "position": "BOTTOM_RIGHT"}, coffee, B, "f1103508923927dc"),
    "static": ({"type": "roboflow_core/icon_visualization@v1", "mode": "static",
                "x_position": 30, "y_position": 50, "icon_width": 77, "icon_height": 90},
               chelsea, None, "d3c4bd712d05a04b"),
    "static_from_the_far_edges": ({"type": "roboflow_core/icon_visualization@v1",
                                   "mode": "static", "x_position": -20, "y_position": -5,
                                   "icon_width": 120}, coffee, None, "1f6e8115a6f0c24d"),
    "static_partly_outside": ({"type": "roboflow_core/icon_visualization@v1",
                               "mode": "static", "x_position": 480, "y_position": -490},
                              chelsea, None, "1b09a7a4377ad473"),
}  # fmt: skip


@pytest.mark.parametrize("name", ICON_DIGESTS)
def test_icons_give_roboflows_pixels(name):
    step, icon, found, expected = ICON_DIGESTS[name]
    step = {**step, "image": "$inputs.image", "icon": "$inputs.icon"}
    values = {"image": astronaut(), "icon": icon()}
    inputs = [IMAGE, ICON]
    if found is not None:
        step["predictions"], values["boxes"] = "$inputs.boxes", [found]
        inputs.append(BOXES)
    assert digest(run_one(step, inputs, **values)) == expected


def test_a_dynamic_icon_needs_predictions():
    step = {"type": "roboflow_core/icon_visualization@v1", "image": "$inputs.image",
            "icon": "$inputs.icon"}  # fmt: skip
    with pytest.raises(WorkflowError) as caught:
        run_one(step, [IMAGE, ICON], image=astronaut(), icon=chelsea())
    assert caught.value.code == "invalid_step_field"


GRID_INPUTS = [IMAGE, {"type": "WorkflowImage", "name": "second"},
               {"type": "WorkflowImage", "name": "third"}]  # fmt: skip
GRID_DIGESTS = {  # Roboflow's engine's grids of the astronaut, chelsea and coffee
    "two": ({"images": ["$inputs.image", "$inputs.second"], "width": 800, "height": 600},
            (600, 800), "b0768c9e3d9a6e48"),
    "three_default_size": ({"images": ["$inputs.image", "$inputs.second", "$inputs.third"]},
                           (1440, 2560), "b3ab3e1a709d2b15"),
    "one_selector": ({"images": "$inputs.second", "width": 333, "height": 257}, (257, 333),
                     "a4e3bfdaa32b42c6"),
}  # fmt: skip


@pytest.mark.parametrize("name", GRID_DIGESTS)
def test_grids_give_roboflows_pixels(name):
    fields, shape, expected = GRID_DIGESTS[name]
    step = {"type": "roboflow_core/grid_visualization@v1", **fields}
    grid = run_one(step, GRID_INPUTS, image=astronaut(), second=chelsea(), third=coffee())
    assert grid.shape == (*shape, 3)
    assert digest(grid) == expected


TEXT_DIGESTS = {  # Roboflow's engine wrote these on the astronaut (boxes: A)
    "default": ({"text": "Hello World"}, "026d3d8e80b4c776"),
    "parameters": (
        {"text": "Count: {{ $parameters.count }}\n\nClasses: {{$parameters.names}} "
                 "{{ $parameters.other }}",
         "text_parameters": {"count": "$inputs.boxes", "names": "$inputs.boxes"},
         "text_parameters_operations": {
             "count": [{"type": "SequenceLength"}],
             "names": [{"type": "DetectionsPropertyExtract", "property_name": "class_name"}]},
         "text_color": "#FFEE00", "background_color": "rgb(20, 40, 200)",
         "background_opacity": 0.6, "font_scale": 0.8, "font_thickness": 1, "padding": 14,
         "text_align": "right", "border_radius": 12, "anchor": "bottom_right",
         "offset_x": -5, "offset_y": -15},
        "12884f68e0bab4a1"),
    "absolute_clamped": (
        {"text": "Line one\nsecond, longer line\n3", "position_mode": "absolute",
         "position_x": 400, "position_y": 480, "text_align": "center", "border_radius": 9,
         "background_color": "WHITE", "text_color": "BLACK", "font_scale": 1.3},
        "f70a57fa5583963d"),
    "transparent_in_place": ({"text": "no box", "background_color": "transparent",
                              "anchor": "center", "font_thickness": 3, "copy_image": False},
                             "3150654cbc000ee6"),
    "no_background_no_padding": ({"text": "faint", "background_opacity": 0.0,
                                  "anchor": "top_center", "offset_y": 0, "padding": 0},
                                 "29fb073ec1cdc977"),
}  # fmt: skip


@pytest.mark.parametrize("name", TEXT_DIGESTS)
def test_text_display_gives_roboflows_pixels(name):
    fields, expected = TEXT_DIGESTS[name]
    step = {"type": "roboflow_core/text_display@v1", "image": "$inputs.image", **fields}
    drawn = run_one(step, [IMAGE, BOXES], image=astronaut(), boxes=[A])
    assert digest(drawn) == expected


ROWS, COLUMNS = np.arange(32)[:, None], np.arange(48)[None, :]
SMALL_MAP = ((np.sin(ROWS * 0.7) + np.cos(COLUMNS * 0.45)) * 1.5 + 0.4).astype(np.float32)
FULL_MAP = np.zeros((512, 512), np.float32)
FULL_MAP[100:200, 150:300], FULL_MAP[300:320, :] = 2.5, 0.4
ANOMALY_DIGESTS = {  # Roboflow's engine's heatmaps over the astronaut
    "roboflow_ramp_stretched": ({"anomaly_threshold": 1.25}, SMALL_MAP, "a16f768dda726680"),
    "jet": ({"anomaly_threshold": 0.8, "color_map": "JET", "opacity": 0.5}, SMALL_MAP,
            "afcbeb614abb18fd"),
    "hot_in_place": ({"anomaly_threshold": 1.0, "color_map": "HOT", "opacity": 1.0,
                      "copy_image": False}, FULL_MAP, "6a95bc1fff7b9219"),
    "zero_threshold": ({"anomaly_threshold": 0.0, "color_map": "VIRIDIS"}, SMALL_MAP,
                       "32c861601ebd448f"),
    "turbo": ({"anomaly_threshold": 2.0, "color_map": "TURBO", "opacity": 0.3}, FULL_MAP,
              "75a8cf78bad300f3"),
}  # fmt: skip


@pytest.mark.parametrize("name", ANOMALY_DIGESTS)
def test_anomaly_heatmaps_give_roboflows_pixels(name):
    fields, anomaly_map, expected = ANOMALY_DIGESTS[name]
    step = {"type": "roboflow_core/anomaly_heatmap_visualization@v1", "image": "$inputs.image",
            "anomaly_map": "$inputs.map", **fields}  # fmt: skip
    inputs = [IMAGE, {"type": "WorkflowBatchInput", "name": "map", "kind": ["numpy_array"]}]
    assert digest(run_one(step, inputs, image=astronaut(), map=[anomaly_map])) == expected


def test_an_anomaly_map_must_be_two_dimensional():
    step = {"type": "roboflow_core/anomaly_heatmap_visualization@v1", "image": "$inputs.image",
            "anomaly_map": "$inputs.map", "anomaly_threshold": 1.0}  # fmt: skip
    inputs = [IMAGE, {"type": "WorkflowBatchInput", "name": "map", "kind": ["numpy_array"]}]
    with pytest.raises(WorkflowError, match="2-D"):
        run_one(step, inputs, image=astronaut(), map=[np.zeros((4, 4, 2), np.float32)])


def test_a_grid_lays_out_lists_of_images_in_turn_and_leaves_a_missing_ones_cell_empty():
    from visionflow.blocks.roboflow.visualisations_composition import GridVisualization
    from visionflow.data.image import WorkflowImage

    first, second = WorkflowImage(astronaut()), WorkflowImage(chelsea())
    nested = GridVisualization().run([[first, None], second], width=400, height=400)["image"]
    flat = GridVisualization().run([first, second], width=400, height=400)["image"]
    assert nested.image_id == first.image_id  # the first image's, with new pixels
    # four cells of 200 x 200: the astronaut, nothing, then chelsea in the next row
    assert np.array_equal(nested.numpy[:200, :200], flat.numpy[:200, :200])
    assert not nested.numpy[:200, 200:].any()
    assert np.array_equal(nested.numpy[200:, :200], flat.numpy[:200, 200:])


def test_a_step_whose_palette_changes_between_runs_draws_each_runs_palette():
    # the annotator is kept per step and field values: a new palette builds a new one
    definition = {
        "version": "1.0",
        "inputs": [IMAGE, BOXES, {"type": "WorkflowParameter", "name": "palette"}],
        "steps": [{"type": "roboflow_core/bounding_box_visualization@v1", "name": "draw",
                   "image": "$inputs.image", "predictions": "$inputs.boxes",
                   "color_palette": "$inputs.palette"}],
        "outputs": [{"type": "JsonField", "name": "image", "selector": "$steps.draw.image"}],
    }  # fmt: skip
    workflow = Workflow.compile(definition)
    for name in ("DEFAULT", "ROBOFLOW", "DEFAULT"):
        [result] = workflow.run(image=astronaut(), boxes=[A], palette=name)
        found = sv.Detections(
            xyxy=np.array([[60.0, 70.0, 140.0, 130.0], [240.0, 155.0, 360.0, 245.0]]),
            class_id=np.array([0, 1]),
        )
        annotator = sv.BoxAnnotator(color=getattr(sv.ColorPalette, name))
        expected = annotator.annotate(scene=astronaut(), detections=found)
        assert np.array_equal(result["image"].numpy, expected)


def a_step_drawing_a(step: dict, parameter: str) -> Workflow:
    """One compiled workflow whose ``step`` (drawing the boxes A) takes its field
    ``parameter`` from the parameter of that name."""
    definition = {
        "version": "1.0",
        "inputs": [IMAGE, BOXES, {"type": "WorkflowParameter", "name": parameter}],
        "steps": [{"name": "draw", "image": "$inputs.image", "predictions": "$inputs.boxes",
                   parameter: f"$inputs.{parameter}", **step}],
        "outputs": [{"type": "JsonField", "name": "image", "selector": "$steps.draw.image"}],
    }  # fmt: skip
    return Workflow.compile(definition)


FOUND_A = sv.Detections(
    xyxy=np.array([[60.0, 70.0, 140.0, 130.0], [240.0, 155.0, 360.0, 245.0]]),
    class_id=np.array([0, 1]),
    data={"class_name": np.array(["cat", "dog"])},
)


def test_a_step_whose_custom_colours_change_between_runs_draws_each_runs_colours():
    # the annotator is found by the fields as given: a list given again with other
    # colours in it (even the very same list, changed) builds a new one
    workflow = a_step_drawing_a(
        {"type": "roboflow_core/bounding_box_visualization@v1", "color_palette": "CUSTOM"},
        "custom_colors",
    )
    colours = ["#FF0000", "#00FF00"]
    for change in (None, ["#0000FF", "#FFFF00"], ["#FF0000", "#00FF00"]):
        if change is not None:
            colours[:] = change
        [result] = workflow.run(image=astronaut(), boxes=[A], custom_colors=colours)
        annotator = sv.BoxAnnotator(color=sv.ColorPalette.from_hex(list(colours)))
        expected = annotator.annotate(scene=astronaut(), detections=FOUND_A)
        assert np.array_equal(result["image"].numpy, expected)


def test_a_label_step_whose_text_colour_changes_between_runs_writes_each_runs_colour():
    workflow = a_step_drawing_a({"type": "roboflow_core/label_visualization@v1"}, "text_color")
    for text_colour, expected_colour in (
        ("WHITE", sv.Color.WHITE), ("#FF00FF", sv.Color(r=255, g=0, b=255)),
        ("WHITE", sv.Color.WHITE),
    ):  # fmt: skip
        [result] = workflow.run(image=astronaut(), boxes=[A], text_color=text_colour)
        annotator = sv.LabelAnnotator(
            color=sv.ColorPalette.DEFAULT, text_color=expected_colour, text_scale=1.0
        )
        expected = annotator.annotate(scene=astronaut(), detections=FOUND_A, labels=["cat", "dog"])
        assert np.array_equal(result["image"].numpy, expected)


def test_a_blur_step_whose_kernel_changes_between_runs_blurs_with_each_runs_kernel():
    workflow = a_step_drawing_a({"type": "roboflow_core/blur_visualization@v1"}, "kernel_size")
    for kernel in (15, 5, 15):
        [result] = workflow.run(image=astronaut(), boxes=[A], kernel_size=kernel)
        expected = sv.BlurAnnotator(kernel_size=kernel).annotate(
            scene=astronaut(), detections=FOUND_A
        )
        assert np.array_equal(result["image"].numpy, expected)


@pytest.mark.parametrize(
    "step_type",
    [
        "roboflow_core/bounding_box_visualization@v1",
        "roboflow_core/label_visualization@v1",
        "roboflow_core/rich_label_visualization@v1",
    ],
)
def test_an_unknown_custom_colour_from_a_parameter_fails_even_with_nothing_to_draw(step_type):
    workflow = a_step_drawing_a({"type": step_type, "color_palette": "CUSTOM"}, "custom_colors")
    with pytest.raises(WorkflowError) as caught:
        workflow.run(image=astronaut(), boxes=[NOBODY], custom_colors=["#FF0000", "mauve"])
    assert "unknown colour 'mauve'" in caught.value.message


def test_an_unknown_custom_colour_fails_a_classification_label_with_nothing_to_write():
    step = {"type": CL, "image": "$inputs.image", "predictions": "$inputs.classes",
            "color_palette": "CUSTOM", "custom_colors": "$inputs.custom_colors"}  # fmt: skip
    inputs = [IMAGE, {"type": "WorkflowBatchInput", "name": "classes", "kind": [CLS]},
              {"type": "WorkflowParameter", "name": "custom_colors"}]  # fmt: skip
    with pytest.raises(WorkflowError) as caught:
        run_one(step, inputs, image=astronaut(), classes=[MULTI_NONE], custom_colors=["mauve"])
    assert "unknown colour 'mauve'" in caught.value.message


@pytest.mark.parametrize(
    "anomaly_map, threshold, field",
    [
        (np.zeros((4, 4, 2), np.float32), 1.0, "anomaly_map"),
        (np.zeros(5, np.float32), 1.0, "anomaly_map"),
        (np.ones((4, 4), np.float32), float("nan"), "anomaly_threshold"),
    ],
)
def test_an_anomaly_map_it_cannot_draw_is_an_error_naming_the_field(anomaly_map, threshold, field):
    step = {"type": "roboflow_core/anomaly_heatmap_visualization@v1", "image": "$inputs.image",
            "anomaly_map": "$inputs.map", "anomaly_threshold": "$inputs.threshold"}  # fmt: skip
    inputs = [IMAGE, {"type": "WorkflowBatchInput", "name": "map", "kind": ["numpy_array"]},
              {"type": "WorkflowParameter", "name": "threshold"}]  # fmt: skip
    with pytest.raises(WorkflowError) as caught:
        run_one(step, inputs, image=astronaut(), map=[anomaly_map], threshold=threshold)
    assert f"RuntimeInputError: field '{field}': " in caught.value.message
    assert caught.value.hint  # the block's hint is the step error's
    assert "\n  hint: " not in caught.value.message


def test_a_grid_shows_an_image_too_thin_for_its_cell_as_a_line_of_pixels():
    # Roboflow's engine fails here (OpenCV refuses to shrink the 2 x 600 strip to 0 rows)
    strip = np.full((2, 600, 3), 200, np.uint8)
    step = {"type": "roboflow_core/grid_visualization@v1", "images": ["$inputs.image"],
            "width": 100, "height": 80}  # fmt: skip
    grid = run_one(step, [IMAGE], image=strip)
    assert grid.shape == (80, 100, 3)
    # the strip is 100 x 1 in its cell, centred: the one row of the grid that is not black
    assert np.flatnonzero(grid.any(axis=(1, 2))).tolist() == [39]
    assert (grid[39] == 200).all()
