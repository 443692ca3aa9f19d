"""Layered drawing of a directed graph without cycles, shared by the lineage and workflow pages.

Each node is placed in the column of its longest path from a source; nodes of a column are
ordered by their parents' rows (one barycentre sweep) to keep arrows short. A link that
skips columns gets a waypoint in each column between its ends, ordered with the nodes like
one (the classic layered-layout trick), so it is drawn through that free slot, never
underneath a node, where it would read as a link to that node; long links from one node
share those slots. Arrows are cubic curves from
the right of one slot to the left of the next, each staying inside the gap between columns.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Sequence
from dataclasses import dataclass

Slot = tuple[int, int]  # (column, row)


def layers(
    ids: Sequence[Hashable],
    links: Sequence[tuple[Hashable, Hashable]],
    last: Collection[Hashable] = (),
) -> tuple[dict[Hashable, Slot], list[list[Slot]]]:
    """Node places, and per link the slots of the free places it passes through.

    ``last``: nodes put in the last column whatever their depth (a workflow's outputs).
    """
    parents: dict[Hashable, list[Hashable]] = {i: [] for i in ids}
    for source, target in links:
        parents[target].append(source)
    column: dict[Hashable, int] = {}

    def depth(node: Hashable, seen: frozenset = frozenset()) -> int:
        if node not in column:  # longest path from a source; a cycle (not expected) stops
            found = [depth(p, seen | {node}) + 1 for p in parents[node] if p not in seen]
            column[node] = max(found, default=0)
        return column[node]

    for node in ids:
        depth(node)
    if last:
        end = max(column.values())
        end = max(end, *(column[p] + 1 for node in last for p in parents[node]), 0)
        column.update({node: end for node in last})
    # long links from one node share their waypoints (one lane per column, like a bus), so
    # a node read far away by many others costs one free slot per column, not one per link
    waypoints: list[list[tuple[str, Hashable, int]]] = []  # ("waypoint", source, column)
    for source, target in links:
        chain = [("waypoint", source, c) for c in range(column[source] + 1, column[target])]
        waypoints.append(chain)
        for before, point in zip([source, *chain], chain, strict=False):
            parents[point], column[point] = [before], column[before] + 1
        if chain:  # the target is ordered by the waypoint beside it, not the far source
            near = parents[target]
            near[near.index(source)] = chain[-1]
    rows: dict[Hashable, int] = {}
    order = list(ids) + list(dict.fromkeys(point for chain in waypoints for point in chain))
    for level in range(max(column.values(), default=-1) + 1):
        items = [c for c in order if column[c] == level]
        items.sort(
            key=lambda c: sum(rows[p] for p in parents[c]) / len(parents[c]) if parents[c] else -1
        )
        for row, item in enumerate(items):
            rows[item] = row
    places = {node: (column[node], rows[node]) for node in ids}
    return places, [[(column[p], rows[p]) for p in chain] for chain in waypoints]


@dataclass(frozen=True)
class Grid:
    """Slots of ``card_w`` x ``card_h`` pixels, ``gap_x``/``gap_y`` apart, inside ``margin``."""

    card_w: int
    card_h: int
    gap_x: int
    gap_y: int
    margin: int

    def corner(self, slot: Slot) -> tuple[int, int]:
        column, row = slot
        return (
            self.margin + column * (self.card_w + self.gap_x),
            self.margin + row * (self.card_h + self.gap_y),
        )

    def size(self, slots: Collection[Slot]) -> tuple[int, int]:
        """Width and height of a drawing holding ``slots``."""
        columns = max((c for c, _ in slots), default=0) + 1
        rows = max((r for _, r in slots), default=0) + 1
        return (
            2 * self.margin + columns * self.card_w + (columns - 1) * self.gap_x,
            2 * self.margin + rows * self.card_h + (rows - 1) * self.gap_y,
        )

    def path(self, slots: Sequence[Slot], start: int | None = None, end: int | None = None) -> str:
        """The curve (``curve``) from the right of the first slot, across each waypoint's
        slot, to the left of the last. ``start`` and ``end``: the heights of the two ends
        below their slots' tops (default: the middle)."""
        middle = self.card_h // 2
        spans = []
        for number, slot in enumerate(slots):
            left, top = self.corner(slot)
            given = start if number == 0 else end if number == len(slots) - 1 else None
            spans.append((left, left + self.card_w, top + (middle if given is None else given)))
        return curve(spans)


Span = tuple[int, int, int]  # (left x, right x, y): where a curve crosses a column


def curve(spans: Sequence[Span]) -> str:
    """An SVG path from the right end of the first span, straight along each span between,
    to the left end of the last (6 pixels short: room for the arrowhead). Each cubic piece
    stays inside the gap between two columns."""
    _, x, y = spans[0]
    path = [f"M{x},{y}"]
    for number, (left, right, to_y) in enumerate(spans[1:], start=1):
        last = number == len(spans) - 1
        to_x = left - (6 if last else 0)
        bend = (to_x - x) // 2
        path.append(f"C{x + bend},{y} {to_x - bend},{to_y} {to_x},{to_y}")
        x, y = right, to_y
        if not last:
            path.append(f"L{x},{y}")
    return " ".join(path)


def packed_tops(heights: dict[Slot, int], gap: int, margin: int) -> dict[Slot, int]:
    """The top of each slot when every column stacks its own slots, each as tall as
    ``heights`` says (a waypoint needs less room than a card), ``gap`` apart."""
    tops: dict[Slot, int] = {}
    for slot in sorted(heights):
        column, row = slot
        above = (column, row - 1)
        tops[slot] = margin if above not in tops else tops[above] + heights[above] + gap
    return tops


# Glyph widths in em, at or above DejaVu Sans's (the sans-serif of most Linux browsers, and
# among the widest), so that a text cut to fit is never clipped by its card
_NARROW, _WIDE = set("iljtfr.,;:'|!()[] "), set("mwMW@%")


def text_width(text: str, size: int, bold: bool = False) -> float:
    """An upper estimate of ``text``'s width in pixels at font ``size``."""

    def em(char: str) -> float:
        if char in _NARROW:
            return 0.42
        if char in _WIDE:
            return 1.0
        return 0.8 if char.isupper() or not char.isascii() else 0.65

    return sum(map(em, text)) * size * (1.12 if bold else 1.0)


def fit_text(text: str, size: int, room: float, bold: bool = False, from_end: bool = False) -> str:
    """``text``, or as much of it as fits ``room`` pixels with an ellipsis (from the end:
    the start cut, as for a path whose last parts matter)."""
    if text_width(text, size, bold) <= room:
        return text
    kept = text
    while kept and text_width("…" + kept, size, bold) > room:
        kept = kept[1:] if from_end else kept[:-1]
    return "…" + kept.lstrip() if from_end else kept.rstrip() + "…"
