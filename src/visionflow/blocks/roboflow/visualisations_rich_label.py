"""Roboflow's rich label visualisation: labels in a TrueType font (supervision's
RichLabelAnnotator, drawn by Pillow) rather than OpenCV's Hershey font.

Roboflow picks the font by family from its 20 approved OFL fonts, which it ships or
downloads. visionflow ships none and never downloads: it looks for the family's file (named
as Roboflow names it, e.g. ``GeistMono-Regular.ttf``) in the folder ``VISIONFLOW_FONTS_DIR``
names, so Roboflow's font files put there draw Roboflow's very pixels. Without the file it
draws in DejaVu Sans Mono (matplotlib's copy; Pillow's built-in font without matplotlib)
and warns once per family.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import supervision as sv
from pydantic import BeforeValidator, Field, field_validator

from visionflow.blocks.api import Selector
from visionflow.blocks.roboflow.palettes import colour, known_colour
from visionflow.blocks.roboflow.visualisations import (
    LABEL_TEXTS,
    POSITIONS,
    Visualisation,
    label_texts,
)

FONTS_DIR_VARIABLE = "VISIONFLOW_FONTS_DIR"

# Roboflow's approved fonts: display name -> (its snake_case id, the font file's name),
# the names its font registry gives them
FONTS: dict[str, tuple[str, str]] = {
    "Anonymous Pro": ("anonymous_pro", "AnonymousPro-Regular.ttf"),
    "Courier Prime": ("courier_prime", "CourierPrime-Regular.ttf"),
    "Fira Code": ("fira_code", "FiraCode[wght].ttf"),
    "Geist": ("geist", "Geist-Regular.ttf"),
    "Geist Mono": ("geist_mono", "GeistMono-Regular.ttf"),
    "IBM Plex Mono": ("ibm_plex_mono", "IBMPlexMono-Regular.ttf"),
    "Inconsolata": ("inconsolata", "Inconsolata[wdth,wght].ttf"),
    "Inter": ("inter", "Inter[opsz,wght].ttf"),
    "JetBrains Mono": ("jetbrains_mono", "JetBrainsMono[wght].ttf"),
    "Lato": ("lato", "Lato-Regular.ttf"),
    "Montserrat": ("montserrat", "Montserrat[wght].ttf"),
    "Noto Sans": ("noto_sans", "NotoSans-Regular.ttf"),
    "Nunito Sans": ("nunito_sans", "NunitoSans[YTLC,opsz,wdth,wght].ttf"),
    "Open Sans": ("open_sans", "OpenSans[wdth,wght].ttf"),
    "PT Mono": ("pt_mono", "PTM55FT.ttf"),
    "Roboto": ("roboto", "Roboto[wdth,wght].ttf"),
    "Roboto Mono": ("roboto_mono", "RobotoMono[wght].ttf"),
    "Source Code Pro": ("source_code_pro", "SourceCodePro[wght].ttf"),
    "Space Mono": ("space_mono", "SpaceMono-Regular.ttf"),
    "Work Sans": ("work_sans", "WorkSans[wght].ttf"),
}
DEFAULT_FAMILY = "Geist Mono"
_BY_ID = {identifier: name for name, (identifier, _) in FONTS.items()}

# Roboflow's "Automatic" size: 14 points at a 1080-pixel short side, kept in 8..128
_REFERENCE_SIDE, _REFERENCE_SIZE, _SIZE_RANGE = 1080, 14, (8, 128)
_FALLBACK_NAME = "DejaVu Sans Mono"
_log = logging.getLogger(__name__)
_warned: set[str] = set()  # families already warned about (once per process)


def family_name(value: str) -> str:
    """The display name of a font family given by display name or Roboflow's legacy
    snake_case id (``geist_mono``). Raises ValueError naming the valid families."""
    if value in FONTS:
        return value
    if value in _BY_ID:
        return _BY_ID[value]
    raise ValueError(
        f"unknown font family {value!r}: one of {', '.join(FONTS)} "
        "(or its snake_case id, e.g. 'geist_mono')"
    )


def font_file(family: str) -> Path | None:
    """The file to draw ``family`` with: Roboflow's font file in ``VISIONFLOW_FONTS_DIR``
    (directly there, or in a folder named by the family's id as in Roboflow's assets),
    else DejaVu Sans Mono; None means Pillow's built-in font."""
    family = family_name(family)  # a parameter may give the legacy id
    identifier, file_name = FONTS[family]
    folder = os.environ.get(FONTS_DIR_VARIABLE)
    if folder:
        for candidate in (Path(folder) / file_name, Path(folder) / identifier / file_name):
            if candidate.is_file():
                return candidate
    fallback = fallback_font()
    if family not in _warned:
        _warned.add(family)
        _log.warning(
            "font %r: %s is not in %s (%s); drawing with %s instead. For Roboflow's "
            "pixels, put Roboflow's OFL font file %s in the folder %s names",
            family, file_name, FONTS_DIR_VARIABLE, folder or "not set",
            _FALLBACK_NAME if fallback else "Pillow's built-in font", file_name,
            FONTS_DIR_VARIABLE,
        )  # fmt: skip
    return fallback


def fallback_font() -> Path | None:
    """matplotlib's DejaVu Sans Mono (found without importing matplotlib), or None."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "mpl-data/fonts/ttf/DejaVuSansMono.ttf"
    return path if path.is_file() else None


def automatic_font_size(size: int, height: int, width: int) -> int:
    """Roboflow's "Automatic" size: ``size`` relative to 14 points at a 1080-pixel short
    side, rounded (half to even, as Python rounds) and kept within 8..128 points."""
    # in Roboflow's order of operations, so the float (and its rounding) is the same
    base = _REFERENCE_SIZE * (min(height, width) / _REFERENCE_SIDE)
    scaled = round(base * (size / _REFERENCE_SIZE))
    return max(_SIZE_RANGE[0], min(_SIZE_RANGE[1], scaled))


def _display_name(value: Any) -> Any:
    return family_name(value) if isinstance(value, str) else value


PositiveInt = Annotated[int, Field(gt=0)]
# a display name; a legacy id (in the document or from a parameter, as Roboflow takes it)
# becomes its display name, any other name fails naming the families
FontFamily = Annotated[Literal[tuple(FONTS)], BeforeValidator(_display_name)]  # type: ignore[valid-type]


class RichLabelVisualization(Visualisation):
    """A text label on each detection in a TrueType font (supervision's RichLabelAnnotator).

    The text is chosen as LabelVisualization's (class, confidence, index, size, area,
    tracker id, time in zone). ``font_family`` names one of Roboflow's 20 approved fonts,
    read from ``VISIONFLOW_FONTS_DIR`` (DejaVu Sans Mono when its file is not there);
    ``text_size_mode`` "Automatic" makes ``font_size`` relative to the image's size;
    ``max_line_length`` wraps long labels."""

    class Manifest(Visualisation.Manifest):
        type: Literal["roboflow_core/rich_label_visualization@v1"]
        text: Selector(kinds=["string"]) | LABEL_TEXTS = "Class"
        text_position: Selector(kinds=["string"]) | POSITIONS = "TOP_LEFT"
        text_color: Selector(kinds=["string"]) | str = "WHITE"
        font_family: Selector(kinds=["string"]) | FontFamily = DEFAULT_FAMILY
        text_size_mode: Selector(kinds=["string"]) | Literal["Manual", "Automatic"] = "Manual"
        font_size: Selector(kinds=["integer"]) | PositiveInt = 14
        text_padding: Selector(kinds=["integer"]) | int = 10
        border_radius: Selector(kinds=["integer"]) | int = 0
        max_line_length: Selector(kinds=["integer"]) | PositiveInt | None = None

        _known_colour = field_validator("text_color")(known_colour)

    def draw(
        self,
        scene: np.ndarray,
        predictions: sv.Detections,
        text: str,
        font_family: str,
        text_size_mode: str,
        font_size: int,
        **style: Any,
    ) -> np.ndarray:
        if len(predictions) == 0:  # nothing to label (Roboflow builds no labels either)
            self.with_colours(style)  # its colours checked all the same, as they always were
            return scene
        if text_size_mode == "Automatic":
            font_size = automatic_font_size(font_size, *scene.shape[:2])
        path = font_file(font_family)
        style.update(font_path=None if path is None else str(path), font_size=font_size)
        annotator = self.cached_annotator(style)
        labels = label_texts(predictions, text)
        return annotator.annotate(scene=scene, detections=predictions, labels=labels)

    def annotator(self, text_position: str, text_color: str, **style: Any) -> Any:
        return sv.RichLabelAnnotator(
            text_position=sv.Position[text_position], text_color=colour(text_color), **style
        )


BLOCKS = [RichLabelVisualization]
