"""Roboflow's rich label visualisation: labels in a TrueType font read from
VISIONFLOW_FONTS_DIR (DejaVu Sans Mono when the family's file is not there)."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import supervision as sv

from test_roboflow_visualisations import (
    BOX_INPUTS,
    DEFAULT,
    INDEX,
    MASK_INPUTS,
    astronaut,
    detections,
    directly,
    draw,
    json_detections,
)
from visionflow import Workflow
from visionflow.blocks.roboflow import visualisations_rich_label as rich
from visionflow.blocks.roboflow.visualisations import colour
from visionflow.errors import WorkflowError

RICH = "roboflow_core/rich_label_visualization@v1"
# matplotlib (a dependency of supervision) ships DejaVu fonts: they stand in for Roboflow's
# OFL font files, which are not here
MPL_FONTS = (
    Path(importlib.util.find_spec("matplotlib").submodule_search_locations[0])
    / "mpl-data/fonts/ttf"
)
SANS, MONO = MPL_FONTS / "DejaVuSans.ttf", MPL_FONTS / "DejaVuSansMono.ttf"


@pytest.fixture
def fonts_dir(tmp_path, monkeypatch) -> Path:
    """A fonts folder holding DejaVu Sans as Geist's file (directly in the folder) and
    DejaVu Sans Mono as Geist Mono's (in a folder named by its id, as Roboflow's assets)."""
    shutil.copy(SANS, tmp_path / "Geist-Regular.ttf")
    (tmp_path / "geist_mono").mkdir()
    shutil.copy(MONO, tmp_path / "geist_mono" / "GeistMono-Regular.ttf")
    monkeypatch.setenv("VISIONFLOW_FONTS_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
def no_fonts_dir(monkeypatch) -> None:
    monkeypatch.delenv("VISIONFLOW_FONTS_DIR", raising=False)
    monkeypatch.setattr(rich, "_warned", set())  # a fresh process's warnings


def annotator(font: Path | None, **fields) -> sv.RichLabelAnnotator:
    """supervision's annotator with Roboflow's defaults, called directly."""
    return sv.RichLabelAnnotator(
        color=fields.pop("color", DEFAULT),
        text_position=sv.Position[fields.pop("text_position", "TOP_LEFT")],
        text_color=colour(fields.pop("text_color", "WHITE")),
        font_path=None if font is None else str(font),
        font_size=fields.pop("font_size", 14),
        text_padding=fields.pop("text_padding", 10),
        border_radius=fields.pop("border_radius", 0),
        **fields,
    )


@pytest.mark.parametrize(
    "fields, font, texts, expected",
    [
        ({"font_family": "Geist"}, "Geist-Regular.ttf", ["cat", "dog", "cow"], {}),
        ({"font_family": "geist", "text": "Class and Confidence", "text_position": "BOTTOM_RIGHT",
          "text_color": "rgb(10, 20, 200)", "font_size": 20, "text_padding": 4,
          "border_radius": 3, "color_axis": "INDEX"},
         "Geist-Regular.ttf", ["cat 0.90", "dog 0.75", "cow 0.50"],
         {"text_position": "BOTTOM_RIGHT", "text_color": "rgb(10, 20, 200)", "font_size": 20,
          "text_padding": 4, "border_radius": 3, "color_lookup": INDEX}),
        ({"text": "Index"}, "geist_mono/GeistMono-Regular.ttf", ["0", "1", "2"], {}),
        ({"text": "Dimensions", "max_line_length": 8, "font_family": "Geist Mono"},
         "geist_mono/GeistMono-Regular.ttf",
         ["100, 100 80x60", "300, 200 120x90", "250, 400 60x150"], {"max_line_length": 8}),
    ],
)  # fmt: skip
def test_the_familys_file_in_the_fonts_dir_draws_what_supervision_draws(
    fonts_dir, fields, font, texts, expected
):
    found = detections()
    labels = annotator(fonts_dir / font, **expected)
    assert np.array_equal(
        draw({"type": RICH, **fields}, found), directly(labels, found, labels=texts)
    )


# Roboflow's own engine (inference-core 1.8.3: supervision 0.30.9, Pillow 12.3) ran these
# definitions on the astronaut with the detections of test_roboflow_visualisations, its
# font resolution pointed at the same DejaVu files (Geist: DejaVu Sans; Geist Mono: DejaVu
# Sans Mono); the digests are the first 16 hex digits of the SHA-256 of the pixels it drew.
ROBOFLOW_DIGESTS = {  # name: (step fields, on masks, digest of Roboflow's image)
    "default": ({}, False, "3ecd1b34638d9f84"),
    "class_and_confidence": ({"font_family": "geist", "text": "Class and Confidence",
                              "text_position": "BOTTOM_RIGHT", "text_color": "rgb(10, 20, 200)",
                              "font_size": 20, "text_padding": 4, "border_radius": 3,
                              "color_axis": "INDEX"}, False, "ec9dd71ce82bc72d"),
    "automatic_wrapped": ({"font_family": "Geist", "text": "Dimensions",
                           "text_size_mode": "Automatic", "font_size": 30,
                           "max_line_length": 8}, False, "527f0eedc59384ee"),
    "centre_of_mass": ({"text": "Area", "text_position": "CENTER_OF_MASS",
                        "copy_image": False}, True, "0898095534bc777b"),
    "set1_centre": ({"text": "Confidence", "text_position": "CENTER",
                     "color_palette": "Matplotlib Set1", "palette_size": 4, "border_radius": 8,
                     "text_padding": 2, "text_color": "BLACK"}, False, "d74ca5258abffd5f"),
}  # fmt: skip


def run_roboflow_json(step: dict, masks: bool) -> np.ndarray:
    definition = {
        "version": "1.0",
        "inputs": MASK_INPUTS if masks else BOX_INPUTS,
        "steps": [
            {"type": RICH, "name": "draw", "image": "$inputs.image",
             "predictions": "$inputs.boxes", **step}
        ],
        "outputs": [{"type": "JsonField", "name": "image", "selector": "$steps.draw.image"}],
    }  # fmt: skip
    [result] = Workflow.compile(definition).run(image=astronaut(), boxes=[json_detections(masks)])
    return result["image"].numpy


def digest(pixels: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()[:16]


@pytest.mark.parametrize("name", ROBOFLOW_DIGESTS)
def test_the_same_pixels_as_roboflows_engine_with_the_same_font_file(fonts_dir, name):
    step, masks, expected = ROBOFLOW_DIGESTS[name]
    assert digest(run_roboflow_json(step, masks)) == expected


def test_automatic_size_is_roboflows():
    # the sizes Roboflow's compute_adaptive_rich_font_size gives (height, width, size)
    cases = {(512, 512, 14): 8, (512, 512, 30): 14, (540, 960, 25): 12, (1080, 1920, 14): 14,
             (2160, 3840, 14): 28, (2160, 3840, 300): 128, (720, 1280, 21): 14}  # fmt: skip
    for (height, width, size), expected in cases.items():
        assert rich.automatic_font_size(size, height, width) == expected


def test_without_the_file_it_draws_dejavu_sans_mono_and_warns_once_per_family(no_fonts_dir, caplog):
    found = detections()
    expected = directly(annotator(MONO), found, labels=["cat", "dog", "cow"])
    with caplog.at_level(logging.WARNING, logger=rich.__name__):
        assert np.array_equal(draw({"type": RICH}, found), expected)
        assert np.array_equal(draw({"type": RICH, "font_family": "geist_mono"}, found), expected)
        draw({"type": RICH, "font_family": "Noto Sans"}, found)
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 2  # Geist Mono once (twice drawn), Noto Sans once
    assert "font 'Geist Mono': GeistMono-Regular.ttf is not in VISIONFLOW_FONTS_DIR" in warnings[0]
    assert "drawing with DejaVu Sans Mono instead" in warnings[0]
    assert "NotoSans-Regular.ttf" in warnings[1]
    # Roboflow's engine drew these pixels with DejaVu Sans Mono as Geist Mono (see above)
    assert digest(run_roboflow_json({}, False)) == ROBOFLOW_DIGESTS["default"][2]


def test_a_family_missing_from_the_fonts_dir_falls_back_too(fonts_dir, monkeypatch):
    monkeypatch.setattr(rich, "_warned", set())
    assert rich.font_file("Geist") == fonts_dir / "Geist-Regular.ttf"
    assert rich.font_file("Noto Sans") == MONO  # not in the folder
    found = detections()
    pixels = draw({"type": RICH, "font_family": "Noto Sans"}, found)
    assert np.array_equal(pixels, directly(annotator(MONO), found, labels=["cat", "dog", "cow"]))


def test_without_matplotlib_it_draws_pillows_built_in_font(no_fonts_dir, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # matplotlib cannot be imported
    assert rich.fallback_font() is None
    found = detections()
    with caplog.at_level(logging.WARNING, logger=rich.__name__):
        pixels = draw({"type": RICH, "text": "Index"}, found)
    assert np.array_equal(pixels, directly(annotator(None), found, labels=["0", "1", "2"]))
    # its own records (a Ray session left by another test logs on its own thread)
    [record] = [record for record in caplog.records if record.name == rich.__name__]
    assert "drawing with Pillow's built-in font instead" in record.getMessage()


def definition(**step) -> dict:
    return {
        "version": "1.0",
        "inputs": [*BOX_INPUTS, {"type": "WorkflowParameter", "name": "font"}],
        "steps": [
            {"type": RICH, "name": "draw", "image": "$inputs.image",
             "predictions": "$inputs.boxes", **step}
        ],
        "outputs": [{"type": "JsonField", "name": "image", "selector": "$steps.draw.image"}],
    }  # fmt: skip


def test_an_unknown_family_is_a_compile_error_naming_the_field_and_the_families():
    with pytest.raises(WorkflowError) as caught:
        Workflow.compile(definition(font_family="Comic Sans"))
    assert caught.value.code == "invalid_step_field"
    assert "font_family" in caught.value.place
    assert "unknown font family 'Comic Sans': one of Anonymous Pro, Courier Prime" in (
        caught.value.message
    )
    assert "Work Sans (or its snake_case id, e.g. 'geist_mono')" in caught.value.message


def test_legacy_ids_name_the_same_families():
    assert rich.family_name("noto_sans") == "Noto Sans"
    assert rich.family_name("Noto Sans") == "Noto Sans"
    assert len(rich.FONTS) == 20
    with pytest.raises(ValueError, match="unknown font family 'noto'"):
        rich.family_name("noto")


def test_a_family_from_a_parameter(fonts_dir):
    workflow = Workflow.compile(definition(font_family="$inputs.font"))
    found = detections()
    [result] = workflow.run(image=astronaut(), boxes=[found], font="Geist")
    expected = directly(annotator(fonts_dir / "Geist-Regular.ttf"), found,
                        labels=["cat", "dog", "cow"])  # fmt: skip
    assert np.array_equal(result["image"].numpy, expected)
    # a legacy id from a parameter too (Roboflow's engine takes it, and refuses Comic Sans)
    [result] = workflow.run(image=astronaut(), boxes=[found], font="geist")
    assert np.array_equal(result["image"].numpy, expected)
    with pytest.raises(WorkflowError) as caught:
        workflow.run(image=astronaut(), boxes=[found], font="Comic Sans")
    assert caught.value.code == "invalid_runtime_input"


def test_no_detections_leave_the_image_as_it_was(fonts_dir):
    assert np.array_equal(draw({"type": RICH}, sv.Detections.empty()), astronaut())


def test_copy_image_false_draws_on_the_input_itself(fonts_dir):
    untouched, in_place, found = astronaut(), astronaut(), detections()
    copied = draw({"type": RICH}, found, untouched)
    drawn = draw({"type": RICH, "copy_image": False}, found, in_place)
    assert np.array_equal(untouched, astronaut())  # the input as it was
    assert not np.array_equal(in_place, astronaut())  # the input drawn on, as in Roboflow
    assert np.array_equal(drawn, in_place)
    assert np.array_equal(copied, drawn)
