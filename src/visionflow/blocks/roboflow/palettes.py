"""Roboflow's colours and palettes as supervision's: colour texts (``#RRGGBB``,
``rgb(...)``, ``bgr(...)``, names) and palette names (``DEFAULT``, ``ROBOFLOW``, ``CUSTOM``,
``Matplotlib ...``), negative class or track ids painted grey as Roboflow paints them."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

import supervision as sv

from visionflow.selectors import looks_like_selector

# Roboflow's palette names (those it offers; "Matplotlib X" is matplotlib's colour map X)
PALETTES = Literal[
    "DEFAULT",
    "CUSTOM",
    "ROBOFLOW",
    "Matplotlib Viridis",
    "Matplotlib Plasma",
    "Matplotlib Inferno",
    "Matplotlib Magma",
    "Matplotlib Cividis",
    "Matplotlib Pastel1",
    "Matplotlib Pastel2",
    "Matplotlib Paired",
    "Matplotlib Accent",
    "Matplotlib Dark2",
    "Matplotlib Set1",
    "Matplotlib Set2",
    "Matplotlib Set3",
    "Matplotlib Tab10",
    "Matplotlib Tab20",
    "Matplotlib Tab20b",
    "Matplotlib Tab20c",
]
# matplotlib's own spelling of the capitalised colour maps (the others are lower case)
_CAPITALISED_MAPS = {
    "Pastel1", "Pastel2", "Paired", "Accent", "Dark2", "Set1", "Set2", "Set3",
}  # fmt: skip
UNKNOWN_COLOUR = sv.Color.GREY  # Roboflow paints negative class / track ids grey


class _NegativeIdsGrey(sv.ColorPalette):
    """A palette whose negative indices (an unmatched class, ``class_id`` -1) give grey
    instead of supervision's error, as Roboflow's palettes do."""

    def by_idx(self, idx: int) -> sv.Color:
        # called per box drawn, so each call counts: supervision's wrapping (the index
        # modulo the palette's size) written here; an empty palette raises its error
        colours = self.colors
        if idx < 0:
            return UNKNOWN_COLOUR
        return colours[idx % len(colours)] if colours else sv.ColorPalette.by_idx(self, idx)


_RGB = re.compile(r"(rgb|bgr)\((\d+),\s*(\d+),\s*(\d+)\)")


def colour(text: str) -> sv.Color:
    """A colour in Roboflow's text forms: ``#RRGGBB``, ``rgb(R, G, B)``, ``bgr(B, G, R)``
    or a supervision colour name (``WHITE``). Raises ValueError on anything else."""
    if not isinstance(text, str):
        raise ValueError(f"a colour is a text, not {text!r}")
    if text.startswith("#"):
        return sv.Color.from_hex(text)
    if match := _RGB.fullmatch(text.strip()):
        values = tuple(int(v) for v in match.group(2, 3, 4))
        return sv.Color.from_rgb_tuple(values if match[1] == "rgb" else values[::-1])
    named = getattr(sv.Color, text.upper(), None)
    if isinstance(named, sv.Color):
        return named
    raise ValueError(
        f"unknown colour {text!r}: write #RRGGBB, rgb(R, G, B), bgr(B, G, R) or a name "
        "(WHITE, BLACK, RED, GREEN, BLUE, YELLOW, ROBOFLOW, GREY)"
    )


def colour_bgr(text: str) -> tuple[int, int, int]:
    """:func:`colour`'s (blue, green, red), as OpenCV draws it. Each text is read once (a
    step draws in the same colour run after run, and reading it costs more than drawing a
    small shape); raises ValueError as :func:`colour` does."""
    if isinstance(text, str):
        return _bgr(text)
    return colour(text).as_bgr()  # raises the ValueError a text that is no colour gets


@lru_cache(maxsize=256)
def _bgr(text: str) -> tuple[int, int, int]:
    return colour(text).as_bgr()


def known_colour(cls: type, value: object) -> object:
    """A manifest's check of a colour field: a literal must be a colour :func:`colour`
    knows (its ValueError is reported under the field's name); a selector is checked when
    it gives its value. Used as ``field_validator("field")(known_colour)``."""
    if not looks_like_selector(value):
        colour(value)  # type: ignore[arg-type]
    return value


def palette(name: str, size: int, custom_colours: list[str]) -> sv.ColorPalette:
    """Roboflow's palette ``name`` as a supervision palette (negative ids grey)."""
    return _palette(name, int(size), tuple(custom_colours))


@lru_cache(maxsize=64)  # palettes from matplotlib cost a colour map each
def _palette(name: str, size: int, custom_colours: tuple[str, ...]) -> sv.ColorPalette:
    if name == "CUSTOM":
        colours = [colour(text) for text in custom_colours]
    elif isinstance(getattr(sv.ColorPalette, name, None), sv.ColorPalette):
        colours = getattr(sv.ColorPalette, name).colors
    else:
        map_name = name.removeprefix("Matplotlib ")
        map_name = map_name if map_name in _CAPITALISED_MAPS else map_name.lower()
        colours = sv.ColorPalette.from_matplotlib(map_name, size).colors
    return _NegativeIdsGrey(colors=list(colours))
