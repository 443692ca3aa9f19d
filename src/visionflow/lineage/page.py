"""The lineage graph as one self-contained HTML page: cards laid out in layers, inline SVG.

No script, no network: each card is placed in the column of its longest path from a source
(data -> task -> data ...), cards of a column are ordered by their neighbours' rows to
keep arrows short, and arrows are cubic curves from the right of one card to the left of
the next (through a free slot of each column a long one passes). Texts are cut to the card
with an ellipsis, whole in the card's tooltip. Cards carry ``data-id``/``data-kind``; arrows
``data-source``/``data-target``.
"""

from __future__ import annotations

from html import escape
from typing import Any

from visionflow.lineage.cards import ICONS

CARD_W, CARD_H, GAP_X, GAP_Y, MARGIN = 230, 84, 90, 26, 24
KIND_COLOURS = {
    "task": "#2563eb",
    "project": "#059669",
    "dataset": "#0d9488",
    "file": "#6b7280",
    "folder": "#a16207",
    "labeling_job": "#db2777",
    "app_session": "#7c3aed",
}
KIND_ICONS = {
    "task": "task",
    "project": "project",
    "dataset": "dataset",
    "file": "file",
    "folder": "folder",
    "labeling_job": "labeling-job",
    "app_session": "app",
}


def layout(graph: dict[str, list[dict[str, Any]]]) -> dict[str, tuple[int, int]]:
    """Card id -> (column, row)."""
    return _layers(graph)[0]


def _layers(graph) -> tuple[dict[str, tuple[int, int]], list[list[tuple[int, int]]]]:
    """Card places, and per link the (column, row) of the free slots it passes through.

    A link that skips columns gets a waypoint in each column between its ends, ordered with
    the cards like one (the classic layered-layout trick): it is drawn through that free
    slot, never underneath a card, where it would read as a link to that card.
    """
    ids = [node["id"] for node in graph["nodes"]]
    parents: dict[Any, list[Any]] = {i: [] for i in ids}
    for link in graph["links"]:
        parents[link["target"]].append(link["source"])
    column: dict[Any, int] = {}

    def depth(card: str, seen: frozenset[str] = frozenset()) -> int:
        if card not in column:  # longest path from a source; a cycle (not expected) stops
            found = [depth(p, seen | {card}) + 1 for p in parents[card] if p not in seen]
            column[card] = max(found, default=0)
        return column[card]

    for card in ids:
        depth(card)
    waypoints: list[list[tuple[str, int, int]]] = []  # per link: ("waypoint", link, column)
    for number, link in enumerate(graph["links"]):
        start, end = column[link["source"]], column[link["target"]]
        chain = [("waypoint", number, c) for c in range(start + 1, end)]
        waypoints.append(chain)
        for before, point in zip([link["source"], *chain], chain, strict=False):
            parents[point], column[point] = [before], column[before] + 1
        if chain:  # the target is ordered by the waypoint beside it, not the far source
            near = parents[link["target"]]
            near[near.index(link["source"])] = chain[-1]
    rows: dict[Any, int] = {}
    order = ids + [point for chain in waypoints for point in chain]
    for level in range(max(column.values(), default=-1) + 1):
        items = [c for c in order if column[c] == level]
        # ordering by the mean row of parents keeps arrows short (one barycentre sweep)
        items.sort(
            key=lambda c: sum(rows[p] for p in parents[c]) / len(parents[c]) if parents[c] else -1
        )
        for row, item in enumerate(items):
            rows[item] = row
    places = {card: (column[card], rows[card]) for card in ids}
    return places, [[(column[p], rows[p]) for p in chain] for chain in waypoints]


def render_page(graph: dict[str, list[dict[str, Any]]], title: str = "visionflow lineage") -> str:
    """The page's HTML text."""
    places, waypoints = _layers(graph)
    slots = list(places.values()) + [slot for chain in waypoints for slot in chain]
    columns = max((c for c, _ in slots), default=0) + 1
    rows = max((r for _, r in slots), default=0) + 1
    width = 2 * MARGIN + columns * CARD_W + (columns - 1) * GAP_X
    height = 2 * MARGIN + rows * CARD_H + (rows - 1) * GAP_Y
    arrows = [
        _arrow(link, [places[link["source"]], *chain, places[link["target"]]])
        for link, chain in zip(graph["links"], waypoints, strict=True)
    ]
    cards = [_card(node, *_corner(places[node["id"]]), n) for n, node in enumerate(graph["nodes"])]
    empty = "" if cards else '<p class="empty">No lineage recorded yet.</p>'
    return _PAGE.format(
        title=escape(title),
        width=width,
        height=height,
        empty=empty,
        count=f"{len(cards)} cards, {len(arrows)} links",
        body="\n".join(arrows + cards),
    )


def _corner(slot: tuple[int, int]) -> tuple[int, int]:
    column, row = slot
    return MARGIN + column * (CARD_W + GAP_X), MARGIN + row * (CARD_H + GAP_Y)


def _arrow(link: dict[str, Any], slots: list[tuple[int, int]]) -> str:
    """From the right of the source, straight across each waypoint's slot, to the left of
    the target; each curve stays inside the gap between two columns."""
    left, top = _corner(slots[0])
    x, y = left + CARD_W, top + CARD_H // 2
    path = [f"M{x},{y}"]
    for number, slot in enumerate(slots[1:], start=1):
        left, top = _corner(slot)
        last = number == len(slots) - 1
        end, middle = left - (6 if last else 0), top + CARD_H // 2  # room for the arrowhead
        bend = (end - x) // 2
        path.append(f"C{x + bend},{y} {end - bend},{middle} {end},{middle}")
        x, y = left + CARD_W, middle
        if not last:
            path.append(f"L{x},{y}")
    long = " long" if len(slots) > 2 else ""  # dashed: it passes columns by
    return (
        f'<path class="link {link["direction"]}{long}" data-source="{escape(link["source"])}" '
        f'data-target="{escape(link["target"])}" d="{" ".join(path)}" marker-end="url(#arrow)"/>'
    )


def _card(node: dict[str, Any], x: int, y: int, number: int) -> str:
    settings = node["settings"]
    kind_colour = KIND_COLOURS.get(node["kind"], "#6b7280")
    icon = settings.get("icon", KIND_ICONS.get(node["kind"], "file"))
    title = settings.get("title") or node["name"]
    subtitle = node["kind"].replace("_", " ")
    if node["version"]:
        subtitle += f" · v{node['version']['num']}"
    if node["model_weight"]:
        subtitle += " · model weights"
    if node["status"]:
        subtitle += f" · {node['status']}"
    description = settings.get("description") or (node["key"] if node["kind"] != "task" else "")
    room = CARD_W - 56 - 10  # right of the icon, inside the border
    link = ""
    if settings.get("url"):
        label = escape(_fit(settings.get("url_title") or settings["url"], 11, room))
        link = (
            f'<a class="card-url" href="{escape(settings["url"])}"><text x="{x + 56}" '
            f'y="{y + 74}">{label}</text></a>'
        )
    tooltip = "\n".join(dict.fromkeys(t for t in (title, subtitle, description, node["key"]) if t))
    return (
        f'<g class="card" data-id="{escape(node["id"])}" data-kind="{node["kind"]}">'
        f"<title>{escape(tooltip)}</title>"
        f'<clipPath id="card-{number}"><rect x="{x}" y="{y}" width="{CARD_W - 8}" '
        f'height="{CARD_H}"/></clipPath>'
        f'<rect x="{x}" y="{y}" width="{CARD_W}" height="{CARD_H}" rx="10" '
        f'fill="#ffffff" stroke="{kind_colour}" stroke-width="2"/>'
        f'<circle cx="{x + 28}" cy="{y + 30}" r="17" '
        f'fill="{settings.get("icon_bg_color", kind_colour)}"/>'
        f'<text class="icon" x="{x + 28}" y="{y + 36}" text-anchor="middle" '
        f'fill="{settings.get("icon_color", "#ffffff")}">{escape(ICONS.get(icon, "?"))}</text>'
        f'<g clip-path="url(#card-{number})">'  # the estimate below is never wider than this
        f'<text class="card-title" x="{x + 56}" y="{y + 26}">'
        f"{escape(_fit(title, 14, room, bold=True))}</text>"
        f'<text class="card-kind" x="{x + 56}" y="{y + 43}">{escape(_fit(subtitle, 11, room))}'
        f'</text><text class="card-description" x="{x + 56}" y="{y + 59}">'
        f"{escape(_fit(description, 11, room, from_end=True))}</text>{link}</g></g>"
    )


# Glyph widths in em of a sans-serif font, generous so that the estimate errs on the short side
_NARROW, _WIDE = set("iljtfr.,;:'|!()[] "), set("mwMW@%")


def _width(text: str, size: int, bold: bool) -> float:
    def em(char: str) -> float:
        if char in _NARROW:
            return 0.34
        if char in _WIDE:
            return 0.95
        return 0.72 if char.isupper() or not char.isascii() else 0.58

    return sum(map(em, text)) * size * (1.08 if bold else 1.0)


def _fit(text: str, size: int, room: int, bold: bool = False, from_end: bool = False) -> str:
    """``text``, or as much of it as fits ``room`` pixels with an ellipsis (from the end:
    the start cut, as for a path whose last parts matter)."""
    if _width(text, size, bold) <= room:
        return text
    kept = text
    while kept and _width("…" + kept, size, bold) > room:
        kept = kept[1:] if from_end else kept[:-1]
    return "…" + kept if from_end else kept + "…"


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 20px; background: #f8fafc; color: #0f172a; }}
h1 {{ font-size: 20px; margin: 0 0 4px; }} .count {{ color: #64748b; margin: 0 0 12px; }}
svg {{ background: #ffffff; border: 1px solid #e2e8f0; border-radius: 8px; }}
.link {{ fill: none; stroke: #94a3b8; stroke-width: 2; }} .link.output {{ stroke: #2563eb; }}
.link.long {{ stroke-dasharray: 6 3; }}
.card-title {{ font-size: 14px; font-weight: 600; }}
.card-kind {{ font-size: 11px; fill: #475569; }}
.card-description {{ font-size: 11px; fill: #64748b; }} .icon {{ font-size: 16px; }}
.card-url text {{ font-size: 11px; fill: #2563eb; text-decoration: underline; }}
</style></head><body>
<h1>{title}</h1><p class="count">{count}</p>{empty}
<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8"
orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#64748b"/></marker></defs>
{body}
</svg></body></html>
"""
