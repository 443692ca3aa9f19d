"""Roboflow's Stitch OCR Detections blocks: the text of a character (or word) detector's
detections, read in order: lines grouped, then read along each line.

v1 groups lines by rounding each box's top to a multiple of ``tolerance``; v2 adds two
ways: ``otsu`` (lines by box centres, words split where a gap is wider than Otsu's
threshold of all the gaps) and ``collimate`` (chains of boxes that follow one another).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

import numpy as np
import supervision as sv
from pydantic import Field

from visionflow.blocks.api import Batch, Block, Output, Selector
from visionflow.data.detections import CLASS_NAME

ReadingDirection = Literal[
    "left_to_right", "right_to_left", "vertical_top_to_bottom", "vertical_bottom_to_top", "auto"
]
VERTICAL = ("vertical_top_to_bottom", "vertical_bottom_to_top")
BACKWARDS = ("right_to_left", "vertical_bottom_to_top")


class StitchOCRDetectionsV1(Block):
    """The detections' class names joined into text (with ``delimiter``): lines are boxes
    whose top (left, for vertical text), rounded to a multiple of ``tolerance`` pixels, is
    the same; each line read along ``reading_direction``; lines joined by a newline
    (horizontal) or a space (vertical). ``auto`` reads horizontally when the first image's
    boxes are on average wider than high, else top to bottom, for the whole batch.

    ``stitching_algorithm``, ``otsu_threshold_multiplier`` and ``collimate_tolerance`` (v2's
    fields) are accepted and ignored, as Roboflow's v1 ignores fields it does not know.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/stitch_ocr_detections@v1"]
        predictions: Selector(kinds=["object_detection_prediction"])
        reading_direction: ReadingDirection
        tolerance: Selector(kinds=["integer"]) | Annotated[int, Field(gt=0)] = 10
        delimiter: Selector(kinds=["string"]) | str = ""
        stitching_algorithm: Selector(kinds=["string"]) | str | None = None
        otsu_threshold_multiplier: Selector(kinds=["float"]) | float | None = None
        collimate_tolerance: Selector(kinds=["integer"]) | int | None = None

    outputs = [Output("ocr_text", kinds=["string"])]
    accepts_batches = True  # "auto" looks at the batch's first element only, as Roboflow's

    def run(
        self,
        predictions: Batch,
        reading_direction: str,
        tolerance: int,
        delimiter: str,
        **_: Any,
    ) -> list[dict[str, Any]] | dict[str, Any]:
        def stitch(found: sv.Detections, direction: str) -> str:
            return _by_rounded_lines(found, direction, tolerance, delimiter)

        return _stitched(predictions, reading_direction, stitch)


class StitchOCRDetectionsV2(Block):
    """v1's reading with a choice of how lines and words are found (``stitching_algorithm``):

    - ``tolerance``: v1's lines (tops rounded to multiples of ``tolerance``).
    - ``otsu``: boxes in one line while their centre stays within half the median box height
      of the line's mean centre; along a line, gaps between boxes divided by their mean
      width; where the gaps of all lines fall in two groups (Otsu's threshold on a
      histogram of at most 50 bins), a gap over the threshold (times
      ``otsu_threshold_multiplier``) starts a new word (words joined by a space, or by
      ``delimiter`` when one is given).
    - ``collimate``: from the first box along the reading direction, each line takes every
      later box whose centre lies within half the taller box's height plus
      ``collimate_tolerance`` of the line's last box; lines ordered by their mean centre.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/stitch_ocr_detections@v2"]
        stitching_algorithm: Literal["tolerance", "otsu", "collimate"]
        predictions: Selector(kinds=["object_detection_prediction"])
        reading_direction: ReadingDirection
        tolerance: Selector(kinds=["integer"]) | Annotated[int, Field(gt=0)] = 10
        delimiter: Selector(kinds=["string"]) | str = ""
        otsu_threshold_multiplier: Selector(kinds=["float"]) | float = 1.0
        collimate_tolerance: Selector(kinds=["integer"]) | int = 10

    outputs = [Output("ocr_text", kinds=["string"])]
    accepts_batches = True

    def run(
        self,
        predictions: Batch,
        stitching_algorithm: str,
        reading_direction: str,
        tolerance: int,
        delimiter: str,
        otsu_threshold_multiplier: float,
        collimate_tolerance: int,
    ) -> list[dict[str, Any]] | dict[str, Any]:
        def stitch(found: sv.Detections, direction: str) -> str:
            if stitching_algorithm == "otsu":
                return _by_otsu_words(found, direction, delimiter, otsu_threshold_multiplier)
            if stitching_algorithm == "collimate":
                return _by_chains(found, direction, delimiter, collimate_tolerance)
            return _by_rounded_lines(found, direction, tolerance, delimiter)

        return _stitched(predictions, reading_direction, stitch)


def _stitched(
    predictions: Batch | sv.Detections,
    reading_direction: str,
    stitch: Callable[[sv.Detections, str], str],
) -> list[dict[str, Any]] | dict[str, Any]:
    """``{"ocr_text": ...}`` for each element of ``predictions`` (one value, not a batch:
    one text), read in the direction ``reading_direction`` resolves to for the batch."""
    single = not isinstance(predictions, Batch)
    batch = Batch([predictions], [()]) if single else predictions
    direction = _direction(batch, reading_direction)
    texts = [{"ocr_text": stitch(found, direction)} for found in batch]
    return texts[0] if single else texts


def _direction(predictions: Batch, reading_direction: str) -> str:
    if reading_direction != "auto":
        return reading_direction
    first = predictions[0] if len(predictions) else None
    if first is None or len(first) == 0:
        return "left_to_right"
    sizes = first.xyxy[:, 2:] - first.xyxy[:, :2]
    return "left_to_right" if sizes[:, 0].mean() > sizes[:, 1].mean() else "vertical_top_to_bottom"


def _line_separator(direction: str) -> str:
    return " " if direction in VERTICAL else "\n"


def _names(detections: sv.Detections) -> np.ndarray:
    names = detections.data.get(CLASS_NAME)
    if names is None:
        raise ValueError("the detections have no class names: stitch an OCR model's detections")
    return np.asarray(names)


def _as_lines(boxes: np.ndarray, direction: str) -> np.ndarray:
    """``boxes`` as read along lines: for a vertical direction columns are read as lines,
    so x and y swap roles."""
    return boxes[:, [1, 0, 3, 2]] if direction in VERTICAL else boxes


def _by_rounded_lines(
    detections: sv.Detections, direction: str, tolerance: int, delimiter: str
) -> str:
    if len(detections) == 0:
        return ""
    names = _names(detections)
    boxes = _as_lines(detections.xyxy.round().astype(int), direction)
    lines: dict[float, list[int]] = {}
    for position, key in enumerate(np.round(boxes[:, 1] / tolerance) * tolerance):
        lines.setdefault(float(key), []).append(position)
    parts: list[str] = []
    keys = sorted(lines, reverse=direction == "vertical_bottom_to_top")
    for number, key in enumerate(keys):
        members = np.array(lines[key])
        starts = boxes[members, 0]
        order = (-starts if direction in BACKWARDS else starts).argsort()
        parts.extend(str(name) for name in names[members[order]])
        if number < len(keys) - 1:
            parts.append(_line_separator(direction))
    return delimiter.join(parts)


def _by_otsu_words(
    detections: sv.Detections, direction: str, delimiter: str, multiplier: float
) -> str:
    if len(detections) == 0:
        return ""
    names = _names(detections)
    boxes = _as_lines(detections.xyxy, direction)
    along = (boxes[:, 0] + boxes[:, 2]) / 2
    across = (boxes[:, 1] + boxes[:, 3]) / 2
    widths = boxes[:, 2] - boxes[:, 0]
    line_tolerance = np.median(boxes[:, 3] - boxes[:, 1]) * 0.5
    lines = _centre_lines(across, line_tolerance)
    places = [np.mean([across[i] for i in line]) for line in lines]
    order = np.argsort(places)
    if direction == "vertical_bottom_to_top":
        order = order[::-1]
    backwards = direction in BACKWARDS
    read: list[tuple[list[int], np.ndarray | None]] = []
    all_gaps: list[float] = []
    for line in (lines[i] for i in order):
        if len(line) == 1:
            read.append((line, None))
            continue
        in_order = np.argsort(along[line])
        if backwards:
            in_order = in_order[::-1]
        members = [line[i] for i in in_order]
        centres, sizes = along[members], widths[members]
        gaps = []
        for k in range(1, len(members)):
            step = centres[k - 1] - centres[k] if backwards else centres[k] - centres[k - 1]
            scale = (sizes[k - 1] + sizes[k]) / 2
            gaps.append((step - scale) / scale if scale > 0 else 0.0)
        read.append((members, np.array(gaps)))
        all_gaps.extend(np.array(gaps).tolist())
    threshold, two_groups = _otsu(np.array(all_gaps))
    threshold *= multiplier
    texts = []
    for members, gaps in read:
        if gaps is None or not two_groups:
            texts.append(delimiter.join(str(names[i]) for i in members))
            continue
        words = [[members[0]]]
        for k, member in enumerate(members[1:]):
            if gaps[k] > threshold:
                words.append([member])
            else:
                words[-1].append(member)
        joined = [delimiter.join(str(names[i]) for i in word) for word in words]
        texts.append((delimiter or " ").join(joined))
    return _line_separator(direction).join(texts)


def _centre_lines(across: np.ndarray, tolerance: float) -> list[list[int]]:
    """Boxes in order of their centre across the text; one joins the current line while its
    centre lies within ``tolerance`` of the line's mean centre."""
    order = np.argsort(across)
    lines, line, centre = [], [order[0]], across[order[0]]
    for position in order[1:]:
        if abs(across[position] - centre) <= tolerance:
            line.append(position)
            centre = np.mean([across[i] for i in line])
        else:
            lines.append(line)
            line, centre = [position], across[position]
    lines.append(line)
    return lines


def _otsu(gaps: np.ndarray) -> tuple[float, bool]:
    """Otsu's threshold over the gaps (bins' centres tried) and whether the gaps really fall
    in two groups (word gaps over 0.3 and the groups' means over 0.3 apart)."""
    if len(gaps) < 2:
        return 0.0, False
    _, edges = np.histogram(gaps, bins=min(50, len(gaps)))
    best = (0.0, 0.0, 0.0, 0.0)  # threshold, spread between groups, their means
    for threshold in (edges[:-1] + edges[1:]) / 2:
        low, high = gaps[gaps <= threshold], gaps[gaps > threshold]
        if len(low) == 0 or len(high) == 0:
            continue
        spread = len(low) * len(high) * (low.mean() - high.mean()) ** 2
        if spread > best[1]:
            best = (threshold, spread, low.mean(), high.mean())
    threshold, _, low_mean, high_mean = best
    separation = abs(high_mean - low_mean)
    # (Roboflow's other test, separation over 1.5 standard deviations, also needs this one)
    return float(threshold), bool(high_mean > 0.3 and separation > 0.3)


def _by_chains(detections: sv.Detections, direction: str, delimiter: str, tolerance: int) -> str:
    if len(detections) == 0:
        return ""
    names = _names(detections)
    boxes = _as_lines(detections.xyxy, direction)
    along = (boxes[:, 0] + boxes[:, 2]) / 2
    across = (boxes[:, 1] + boxes[:, 3]) / 2
    heights = boxes[:, 3] - boxes[:, 1]
    backwards = direction in BACKWARDS
    remaining = sorted(range(len(detections)), key=lambda i: along[i], reverse=backwards)

    def follows(parent: int, child: int) -> bool:
        reach = max(heights[parent], heights[child]) / 2 + tolerance
        aligned = abs(across[parent] - across[child]) < reach
        ahead = along[parent] >= along[child] if backwards else along[parent] <= along[child]
        return bool(aligned and ahead)

    lines = [[remaining.pop(0)]]
    while remaining:
        grown = False
        for line in lines:
            for candidate in list(remaining):
                if follows(line[-1], candidate):
                    line.append(candidate)
                    remaining.remove(candidate)
                    grown = True
        if not grown and remaining:
            lines.append([remaining.pop(0)])
    lines.sort(
        key=lambda line: sum(across[i] for i in line) / len(line),
        reverse=direction == "vertical_bottom_to_top",
    )
    texts = [delimiter.join(str(names[i]) for i in line) for line in lines]
    return _line_separator(direction).join(texts)


BLOCKS: list[type[Block]] = [StitchOCRDetectionsV1, StitchOCRDetectionsV2]
