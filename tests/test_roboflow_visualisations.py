"""Roboflow's visualisation blocks: each draws exactly what supervision's annotator draws."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import supervision as sv
from skimage import data

from visionflow import Workflow
from visionflow.blocks.roboflow.visualisations import colour, label_texts, palette
from visionflow.errors import WorkflowError

BOX_INPUTS = [
    {"type": "WorkflowImage", "name": "image"},
    {"type": "WorkflowBatchInput", "name": "boxes", "kind": ["object_detection_prediction"]},
]
MASK_INPUTS = [
    {"type": "WorkflowImage", "name": "image"},
    {"type": "WorkflowBatchInput", "name": "boxes", "kind": ["instance_segmentation_prediction"]},
]


def astronaut() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


def detections(masks: bool = False) -> sv.Detections:
    """Three detections on the astronaut, of classes 0, 1 and 12 (12 wraps the palette)."""
    xyxy = np.array([[60, 70, 140, 130], [240, 155, 360, 245], [220, 325, 280, 475]], float)
    found = sv.Detections(
        xyxy=xyxy,
        confidence=np.array([0.9, 0.75, 0.5]),
        class_id=np.array([0, 1, 12]),
        data={"class_name": np.array(["cat", "dog", "cow"])},
    )
    if masks:  # a quadrilateral inside each box
        polygons = [
            [[x1, (y1 + y2) / 2], [(x1 + x2) / 2, y1], [x2, y2 - (y2 - y1) / 3], [x1, y2]]
            for x1, y1, x2, y2 in xyxy
        ]
        found.mask = np.array([sv.polygon_to_mask(np.array(p), (512, 512)) > 0 for p in polygons])
    return found


def draw(step: dict, found: sv.Detections, image: np.ndarray | None = None) -> np.ndarray:
    """The image the step draws on ``image`` (the astronaut by default)."""
    inputs = MASK_INPUTS if found.mask is not None else BOX_INPUTS
    definition = {
        "version": "1.0",
        "inputs": inputs,
        "steps": [
            {"name": "draw", "image": "$inputs.image", "predictions": "$inputs.boxes", **step}
        ],
        "outputs": [{"type": "JsonField", "name": "image", "selector": "$steps.draw.image"}],
    }
    image = astronaut() if image is None else image
    [result] = Workflow.compile(definition).run(image=image, boxes=[found])
    return result["image"].numpy


def directly(annotator, found: sv.Detections, **extra) -> np.ndarray:
    return annotator.annotate(scene=astronaut(), detections=found, **extra)


DEFAULT, CLASS, INDEX = sv.ColorPalette.DEFAULT, sv.ColorLookup.CLASS, sv.ColorLookup.INDEX

# each block's type names, the fields given, the annotator that must draw the same pixels
SAME_AS_SUPERVISION = {
    "box": (
        {"type": "roboflow_core/bounding_box_visualization@v1"},
        sv.BoxAnnotator(color=DEFAULT, thickness=2, color_lookup=CLASS),
    ),
    "round box": (
        {"type": "BoundingBoxVisualization", "roundness": 0.4, "thickness": 5},
        sv.RoundBoxAnnotator(color=DEFAULT, thickness=5, roundness=0.4),
    ),
    "circle": (
        {"type": "roboflow_core/circle_visualization@v1", "thickness": 6},
        sv.CircleAnnotator(color=DEFAULT, thickness=6),
    ),
    "dot": (
        {"type": "roboflow_core/dot_visualization@v1"},
        sv.DotAnnotator(color=DEFAULT, position=sv.Position.CENTER, radius=4),
    ),
    "dot outlined": (
        {"type": "DotVisualization", "position": "BOTTOM_RIGHT", "radius": 9,
         "outline_thickness": 2},
        sv.DotAnnotator(position=sv.Position.BOTTOM_RIGHT, radius=9, outline_thickness=2),
    ),
    "ellipse": (
        {"type": "roboflow_core/ellipse_visualization@v1"},
        sv.EllipseAnnotator(color=DEFAULT, thickness=2, start_angle=-45, end_angle=235),
    ),
    "ellipse half": (
        {"type": "EllipseVisualization", "start_angle": 0, "end_angle": 180, "thickness": 3},
        sv.EllipseAnnotator(thickness=3, start_angle=0, end_angle=180),
    ),
    "corner": (
        {"type": "roboflow_core/corner_visualization@v1"},
        sv.BoxCornerAnnotator(color=DEFAULT, thickness=4, corner_length=15),
    ),
    "corner by index": (
        {"type": "CornerVisualization", "corner_length": 30, "color_axis": "INDEX"},
        sv.BoxCornerAnnotator(thickness=4, corner_length=30, color_lookup=INDEX),
    ),
    "triangle": (
        {"type": "roboflow_core/triangle_visualization@v1"},
        sv.TriangleAnnotator(color=DEFAULT, position=sv.Position.TOP_CENTER, base=10, height=10),
    ),
    "triangle big": (
        {"type": "TriangleVisualization", "position": "CENTER", "base": 30, "height": 20,
         "outline_thickness": 2},
        sv.TriangleAnnotator(position=sv.Position.CENTER, base=30, height=20,
                             outline_thickness=2),
    ),
    "color": (
        {"type": "roboflow_core/color_visualization@v1"},
        sv.ColorAnnotator(color=DEFAULT, opacity=0.5),
    ),
    "color Roboflow palette": (
        {"type": "ColorVisualization", "opacity": 1.0, "color_palette": "ROBOFLOW"},
        sv.ColorAnnotator(color=sv.ColorPalette.ROBOFLOW, opacity=1.0),
    ),
    "pixelate": (
        {"type": "roboflow_core/pixelate_visualization@v1"},
        sv.PixelateAnnotator(pixel_size=20),
    ),
    "pixelate fine": (
        {"type": "PixelateVisualization", "pixel_size": 7},
        sv.PixelateAnnotator(pixel_size=7),
    ),
    "crop": (
        {"type": "roboflow_core/crop_visualization@v1"},
        sv.CropAnnotator(position=sv.Position.TOP_CENTER, scale_factor=2.0, border_thickness=2,
                         border_color=DEFAULT, border_color_lookup=CLASS),
    ),
    "crop scaled": (
        {"type": "CropVisualization", "position": "BOTTOM_LEFT", "scale_factor": 1.5,
         "border_thickness": 4, "color_axis": "INDEX"},
        sv.CropAnnotator(position=sv.Position.BOTTOM_LEFT, scale_factor=1.5,
                         border_thickness=4, border_color_lookup=INDEX),
    ),
    "background": (
        {"type": "roboflow_core/background_color_visualization@v1"},
        sv.BackgroundOverlayAnnotator(color=sv.Color.BLACK, opacity=0.5),
    ),
    "background blue": (
        {"type": "BackgroundColorVisualization", "color": "#3060A0", "opacity": 0.8},
        sv.BackgroundOverlayAnnotator(color=sv.Color.from_hex("#3060A0"), opacity=0.8),
    ),
    "blur": (
        {"type": "roboflow_core/blur_visualization@v1"},
        sv.BlurAnnotator(kernel_size=15),
    ),
}  # fmt: skip
SAME_ON_MASKS = {
    "mask": (
        {"type": "roboflow_core/mask_visualization@v1"},
        sv.MaskAnnotator(color=DEFAULT, opacity=0.5),
    ),
    "mask opaque": (
        {"type": "MaskVisualization", "opacity": 0.8, "color_palette": "ROBOFLOW"},
        sv.MaskAnnotator(color=sv.ColorPalette.ROBOFLOW, opacity=0.8),
    ),
    "polygon v2": (
        {"type": "roboflow_core/polygon_visualization@v2", "thickness": 4},
        sv.PolygonAnnotator(color=DEFAULT, thickness=4),
    ),
    "halo v2": (
        {"type": "roboflow_core/halo_visualization@v2"},
        sv.HaloAnnotator(color=DEFAULT, opacity=0.8, kernel_size=40),
    ),
    "halo v2 narrow": (
        {"type": "roboflow_core/halo_visualization@v2", "kernel_size": 15, "opacity": 0.5},
        sv.HaloAnnotator(opacity=0.5, kernel_size=15),
    ),
    "background on masks": (
        {"type": "BackgroundColorVisualization", "color": "rgb(48, 96, 160)"},
        sv.BackgroundOverlayAnnotator(color=sv.Color(48, 96, 160), opacity=0.5),
    ),
    "dot at centre of mass": (
        {"type": "DotVisualization", "position": "CENTER_OF_MASS", "radius": 6},
        sv.DotAnnotator(position=sv.Position.CENTER_OF_MASS, radius=6),
    ),
}


@pytest.mark.parametrize("name", SAME_AS_SUPERVISION)
def test_each_block_draws_what_its_supervision_annotator_draws(name):
    step, annotator = SAME_AS_SUPERVISION[name]
    found = detections()
    assert np.array_equal(draw(step, found), directly(annotator, found))


@pytest.mark.parametrize("name", SAME_ON_MASKS)
def test_blocks_on_masks_draw_what_their_annotator_draws(name):
    step, annotator = SAME_ON_MASKS[name]
    found = detections(masks=True)
    assert np.array_equal(draw(step, found), directly(annotator, found))


def test_copy_image_true_draws_on_a_copy_and_false_on_the_input_itself():
    step = {"type": "roboflow_core/bounding_box_visualization@v1"}
    untouched, in_place = astronaut(), astronaut()
    copied = draw(step, detections(), untouched)
    drawn = draw({**step, "copy_image": False}, detections(), in_place)
    assert np.array_equal(untouched, astronaut())  # the input as it was
    assert not np.array_equal(in_place, astronaut())  # the input drawn on, as in Roboflow
    assert np.array_equal(drawn, in_place)
    assert np.array_equal(copied, drawn)


def test_the_result_is_the_same_image_with_new_pixels():
    definition = {
        "version": "1.0",
        "inputs": BOX_INPUTS,
        "steps": [
            {"type": "BoundingBoxVisualization", "name": "draw", "image": "$inputs.image",
             "predictions": "$inputs.boxes"},
        ],
        "outputs": [{"type": "JsonField", "name": "image", "selector": "$steps.draw.image"}],
    }  # fmt: skip
    [result] = Workflow.compile(definition).run(image=astronaut(), boxes=[detections()])
    drawn = result["image"]
    assert (drawn.width, drawn.height, drawn.is_root) == (512, 512, True)


def test_palettes_are_roboflows_custom_and_matplotlib_palettes():
    found = detections()
    custom = {
        "type": "BoundingBoxVisualization",
        "color_palette": "CUSTOM",
        "custom_colors": ["#FF0000", "rgb(0, 255, 0)", "bgr(255, 0, 0)"],
        "color_axis": "INDEX",
    }
    red_green_blue = sv.ColorPalette.from_hex(["#FF0000", "#00FF00", "#0000FF"])
    expected = directly(sv.BoxAnnotator(color=red_green_blue, color_lookup=INDEX), found)
    assert np.array_equal(draw(custom, found), expected)
    viridis = {"type": "BoundingBoxVisualization", "color_palette": "Matplotlib Viridis",
               "palette_size": 5}  # fmt: skip
    expected = directly(sv.BoxAnnotator(color=sv.ColorPalette.from_matplotlib("viridis", 5)), found)
    assert np.array_equal(draw(viridis, found), expected)
    set1 = palette("Matplotlib Set1", 4, [])  # matplotlib spells this one capitalised
    assert set1.colors == sv.ColorPalette.from_matplotlib("Set1", 4).colors


def test_a_negative_class_is_painted_grey_as_roboflow_does():
    found = detections()
    found.class_id = np.array([-1, 1, 12])
    drawn = draw({"type": "BoundingBoxVisualization", "thickness": 4}, found)
    assert drawn[70, 60].tolist() == list(sv.Color.GREY.as_bgr())
    assert drawn[155, 240].tolist() == list(DEFAULT.by_idx(1).as_bgr())


def test_colours_are_read_in_roboflows_forms():
    assert colour("#FF8000") == sv.Color(255, 128, 0)
    assert colour("rgb(1, 2, 3)") == sv.Color(1, 2, 3)
    assert colour("bgr(1, 2, 3)") == sv.Color(3, 2, 1)
    assert colour("white") == sv.Color.WHITE
    with pytest.raises(ValueError, match="unknown colour 'mauve'"):
        colour("mauve")


def test_an_unknown_colour_is_a_compile_error_naming_the_field():
    definition = {
        "version": "1.0",
        "inputs": BOX_INPUTS,
        "steps": [
            {"type": "LabelVisualization", "name": "draw", "image": "$inputs.image",
             "predictions": "$inputs.boxes", "text_color": "mauve"},
        ],
        "outputs": [{"type": "JsonField", "name": "image", "selector": "$steps.draw.image"}],
    }  # fmt: skip
    with pytest.raises(WorkflowError) as caught:
        Workflow.compile(definition)
    assert "text_color" in caught.value.place
    assert "unknown colour 'mauve'" in caught.value.message


@pytest.mark.parametrize(
    "fields, texts",
    [
        ({}, ["cat", "dog", "cow"]),
        ({"text": "Confidence"}, ["0.90", "0.75", "0.50"]),
        ({"text": "Class and Confidence", "text_position": "BOTTOM_RIGHT"},
         ["cat 0.90", "dog 0.75", "cow 0.50"]),
        ({"text": "Index", "text_color": "BLACK", "text_padding": 4}, ["0", "1", "2"]),
        ({"text": "Dimensions", "border_radius": 3},
         ["100, 100 80x60", "300, 200 120x90", "250, 400 60x150"]),
        ({"text": "Area", "text_thickness": 2}, ["4800", "10800", "9000"]),
        ({"text": "Tracker Id"}, ["No Tracker ID"] * 3),
        ({"text": "Time In Zone"}, ["In zone: N/A"] * 3),
    ],
)  # fmt: skip
def test_labels_write_roboflows_texts_with_supervisions_label_annotator(fields, texts):
    found = detections()
    step = {"type": "roboflow_core/label_visualization@v1", **fields}
    annotator = sv.LabelAnnotator(
        color=DEFAULT,
        text_position=sv.Position[fields.get("text_position", "TOP_LEFT")],
        text_color=colour(fields.get("text_color", "WHITE")),
        text_scale=1.0,  # Roboflow's default (supervision's is 0.5)
        text_thickness=fields.get("text_thickness", 1),
        text_padding=fields.get("text_padding", 10),
        border_radius=fields.get("border_radius", 0),
    )
    assert list(label_texts(found, fields.get("text", "Class"))) == texts
    assert np.array_equal(draw(step, found), directly(annotator, found, labels=texts))


def test_label_v2_automatic_size_scales_text_to_the_image():
    found = detections()
    step = {"type": "roboflow_core/label_visualization@v2", "text": "Index",
            "text_size_mode": "Automatic", "text_scale": 1.5}  # fmt: skip
    scale = 0.7 * (512 / 1080) * (1.5 / 0.7)  # Roboflow's: 0.7 at a 1080-pixel short side
    annotator = sv.LabelAnnotator(color=DEFAULT, text_scale=scale)
    expected = directly(annotator, found, labels=["0", "1", "2"])
    assert np.array_equal(draw(step, found), expected)


def test_labels_from_a_data_field_and_a_missing_field_is_an_error():
    found = detections()
    found.data["plate"] = np.array(["AB 12", "", "CD 34"])
    assert label_texts(found, "plate") == ["AB 12", "", "CD 34"]
    with pytest.raises(ValueError, match="no field 'colour'"):
        label_texts(found, "colour")


def test_a_parameter_for_text_must_be_one_of_roboflows_options():
    # Roboflow's engine refuses such a parameter too (its runtime input check)
    definition = {
        "version": "1.0",
        "inputs": [*BOX_INPUTS, {"type": "WorkflowParameter", "name": "text"}],
        "steps": [
            {"type": "LabelVisualization", "name": "draw", "image": "$inputs.image",
             "predictions": "$inputs.boxes", "text": "$inputs.text"},
        ],
        "outputs": [{"type": "JsonField", "name": "image", "selector": "$steps.draw.image"}],
    }  # fmt: skip
    workflow = Workflow.compile(definition)
    [result] = workflow.run(image=astronaut(), boxes=[detections()], text="Confidence")
    labels = sv.LabelAnnotator(color=DEFAULT, text_scale=1.0)
    expected = directly(labels, detections(), labels=["0.90", "0.75", "0.50"])
    assert np.array_equal(result["image"].numpy, expected)
    with pytest.raises(WorkflowError) as caught:
        workflow.run(image=astronaut(), boxes=[detections()], text="plate")
    assert caught.value.code == "invalid_runtime_input"


def test_polygon_v1_traces_each_mask_inside_its_box_as_roboflows_v1():
    found = detections(masks=True)
    found.xyxy = found.xyxy - np.array([0, 0, 10, 10])  # boxes that cut their masks
    cut = found.mask.copy()
    for mask, (x1, y1, x2, y2) in zip(cut, found.xyxy.astype(int), strict=True):
        outside = np.ones_like(mask)
        outside[y1:y2, x1:x2] = False
        mask[outside] = False
    expected = directly(sv.PolygonAnnotator(), sv.Detections(
        xyxy=found.xyxy, class_id=found.class_id, mask=cut))  # fmt: skip
    v1 = draw({"type": "PolygonVisualization"}, found)
    assert np.array_equal(v1, expected)
    v2 = draw({"type": "roboflow_core/polygon_visualization@v2"}, found)
    assert np.array_equal(v2, directly(sv.PolygonAnnotator(), found))
    assert not np.array_equal(v1, v2)


def test_blur_with_masks_blurs_only_the_masks():
    found = detections(masks=True)
    found.xyxy = found.xyxy + np.array([-2, -2, 2, 2])  # each mask well inside its box
    boxes_blurred = directly(sv.BlurAnnotator(kernel_size=15), found)
    inside = found.mask.any(axis=0)[:, :, None]
    expected = np.where(inside, boxes_blurred, astronaut())
    assert np.array_equal(draw({"type": "BlurVisualization"}, found), expected)


def test_blur_padding_grows_each_box():
    found = detections()
    grown = sv.Detections(xyxy=found.xyxy + np.array([-5, -5, 5, 5]))
    expected = directly(sv.BlurAnnotator(kernel_size=9), grown)
    step = {"type": "BlurVisualization", "kernel_size": 9, "padding": 5}
    assert np.array_equal(draw(step, found), expected)


# Roboflow's own engine (inference-core 1.8.3: supervision 0.30.9, OpenCV 4.12) ran these
# definitions on the astronaut with the detections below, given in Roboflow's JSON; the
# digests are the first 16 hex digits of the SHA-256 of the pixels it drew.
def json_detection(x, y, w, h, class_id, name, masks):
    found = {"x": x, "y": y, "width": w, "height": h, "confidence": 0.9, "class": name,
             "class_id": class_id, "detection_id": name}  # fmt: skip
    if masks:
        found["points"] = [
            {"x": x - w / 2, "y": y},
            {"x": x, "y": y - h / 2},
            {"x": x + w / 2, "y": y + h / 3},
            {"x": x - w / 4, "y": y + h / 2},
        ]
    return found


def json_detections(masks: bool) -> dict:
    rows = [(100, 100, 80, 60, 0, "cat"), (300, 200, 120, 90, 1, "dog"),
            (250, 400, 60, 150, 12, "cow")]  # fmt: skip
    found = [json_detection(*row, masks) for row in rows]
    return {"image": {"width": 512, "height": 512}, "predictions": found}


ROBOFLOW_DIGESTS = {  # name: (step fields, on masks, digest of Roboflow's image)
    "box_default": ({"type": "roboflow_core/bounding_box_visualization@v1"}, False,
                    "09b43cce0c449454"),
    "box_round_custom": ({"type": "BoundingBoxVisualization", "roundness": 0.4, "thickness": 5,
                          "color_palette": "CUSTOM", "color_axis": "INDEX",
                          "custom_colors": ["#FF0000", "rgb(0, 255, 0)", "bgr(255, 0, 0)"]},
                         False, "1f3c1c906787095f"),
    "box_set1": ({"type": "BoundingBoxVisualization", "color_palette": "Matplotlib Set1",
                  "palette_size": 4, "copy_image": False}, False, "dde768969518fd9a"),
    "mask_default": ({"type": "roboflow_core/mask_visualization@v1"}, True, "9499936ce2d2009d"),
    "circle_thick": ({"type": "CircleVisualization", "thickness": 6,
                      "color_palette": "Matplotlib Tab10"}, False, "f74b4f443095389a"),
    "dot_outline": ({"type": "DotVisualization", "position": "BOTTOM_RIGHT", "radius": 9,
                     "outline_thickness": 2}, False, "13fa58be91b06520"),
    "ellipse_default": ({"type": "roboflow_core/ellipse_visualization@v1"}, False,
                        "4363c3041ef21147"),
    "corner_default": ({"type": "roboflow_core/corner_visualization@v1"}, False,
                       "d91a16f7237fbd8d"),
    "triangle_big": ({"type": "TriangleVisualization", "position": "CENTER", "base": 30,
                      "height": 20, "outline_thickness": 2}, False, "f6d92b5831a29788"),
    "color_opaque": ({"type": "ColorVisualization", "opacity": 1.0,
                      "color_palette": "Matplotlib Pastel2", "palette_size": 3}, False,
                     "6e2a35b224717116"),
    "pixelate_small": ({"type": "PixelateVisualization", "pixel_size": 7}, False,
                       "b18ae4926b02b8a1"),
    "label_conf": ({"type": "LabelVisualization", "text": "Class and Confidence",
                    "text_position": "BOTTOM_RIGHT", "text_color": "rgb(10, 20, 200)",
                    "text_scale": 0.7, "text_thickness": 2, "text_padding": 4,
                    "border_radius": 3, "color_axis": "INDEX"}, False, "79eb13d677b4fb53"),
    "label_v2_auto": ({"type": "roboflow_core/label_visualization@v2", "text": "Index",
                       "text_size_mode": "Automatic", "text_scale": 1.5}, False,
                      "8056a885dc62f51a"),
    "label_v2_area": ({"type": "roboflow_core/label_visualization@v2", "text": "Area",
                       "text_position": "CENTER_OF_MASS"}, True, "ae0acbea8f712551"),
    "polygon_v1": ({"type": "roboflow_core/polygon_visualization@v1"}, True,
                   "2625e1bb99672b87"),
    "polygon_v2": ({"type": "roboflow_core/polygon_visualization@v2", "thickness": 4,
                    "color_palette": "CUSTOM", "custom_colors": ["#00FFFF", "YELLOW"]}, True,
                   "530b73ac653ba524"),
    "halo_v2_k": ({"type": "roboflow_core/halo_visualization@v2", "kernel_size": 15,
                   "opacity": 0.5}, True, "1c8f3af0dfeec651"),
    "crop_scaled": ({"type": "CropVisualization", "position": "BOTTOM_LEFT",
                     "scale_factor": 1.5, "border_thickness": 4}, True, "18aafef9aba122a7"),
    "background_masks": ({"type": "BackgroundColorVisualization", "color": "#3060A0",
                          "opacity": 0.8}, True, "0153c4f6323b7e9b"),
    "blur_padding": ({"type": "BlurVisualization", "kernel_size": 9, "padding": 5}, False,
                     "14bc2dff35d42fd8"),
    "blur_masks_pad": ({"type": "BlurVisualization", "kernel_size": 21, "padding": 4}, True,
                       "f22ca47e6f52c6fe"),
}  # fmt: skip


@pytest.mark.parametrize("name", ROBOFLOW_DIGESTS)
def test_the_same_pixels_as_roboflows_engine_from_roboflows_json(name):
    step, masks, digest = ROBOFLOW_DIGESTS[name]
    definition = {
        "version": "1.0",
        "inputs": MASK_INPUTS if masks else BOX_INPUTS,
        "steps": [
            {"name": "draw", "image": "$inputs.image", "predictions": "$inputs.boxes", **step}
        ],
        "outputs": [{"type": "JsonField", "name": "image", "selector": "$steps.draw.image"}],
    }
    [result] = Workflow.compile(definition).run(image=astronaut(), boxes=[json_detections(masks)])
    pixels = np.ascontiguousarray(result["image"].numpy).tobytes()
    assert hashlib.sha256(pixels).hexdigest()[:16] == digest


def test_in_place_on_pixels_opencv_cannot_draw_on_draws_on_a_copy():
    reversed_channels = data.astronaut()[:, :, ::-1]  # a view OpenCV cannot draw on
    step = {"type": "BoundingBoxVisualization", "copy_image": False}
    drawn = draw(step, detections(), reversed_channels)
    assert np.array_equal(drawn, directly(sv.BoxAnnotator(), detections()))
    assert np.array_equal(reversed_channels, astronaut())
