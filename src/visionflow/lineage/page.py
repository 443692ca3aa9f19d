"""The lineage graph as one self-contained HTML page: cards laid out in layers, inline SVG.

No script, no network: each card is placed in the column of its longest path from a source
(data -> task -> data ...), cards of a column are ordered by their neighbours' rows to
keep arrows short, and arrows are cubic curves from the right of one card to the left of
the next. Cards carry ``data-id``/``data-kind``; arrows ``data-source``/``data-target``.
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
    ids = [node["id"] for node in graph["nodes"]]
    parents: dict[str, list[str]] = {i: [] for i in ids}
    for link in graph["links"]:
        parents[link["target"]].append(link["source"])
    column: dict[str, int] = {}

    def depth(card: str, seen: frozenset[str] = frozenset()) -> int:
        if card not in column:  # longest path from a source; a cycle (not expected) stops
            found = [depth(p, seen | {card}) + 1 for p in parents[card] if p not in seen]
            column[card] = max(found, default=0)
        return column[card]

    for card in ids:
        depth(card)
    rows: dict[str, int] = {}
    for level in range(max(column.values(), default=-1) + 1):
        cards = [c for c in ids if column[c] == level]
        # ordering by the mean row of parents keeps arrows short (one barycentre sweep)
        cards.sort(
            key=lambda c: sum(rows[p] for p in parents[c]) / len(parents[c]) if parents[c] else -1
        )
        for row, card in enumerate(cards):
            rows[card] = row
    return {card: (column[card], rows[card]) for card in ids}


def render_page(graph: dict[str, list[dict[str, Any]]], title: str = "visionflow lineage") -> str:
    """The page's HTML text."""
    places = layout(graph)
    columns = max((c for c, _ in places.values()), default=0) + 1
    rows = max((r for _, r in places.values()), default=0) + 1
    width = 2 * MARGIN + columns * CARD_W + (columns - 1) * GAP_X
    height = 2 * MARGIN + rows * CARD_H + (rows - 1) * GAP_Y

    def corner(card: str) -> tuple[int, int]:
        column, row = places[card]
        return MARGIN + column * (CARD_W + GAP_X), MARGIN + row * (CARD_H + GAP_Y)

    arrows = [
        _arrow(link, corner(link["source"]), corner(link["target"])) for link in graph["links"]
    ]
    cards = [_card(node, *corner(node["id"])) for node in graph["nodes"]]
    empty = "" if cards else '<p class="empty">No lineage recorded yet.</p>'
    return _PAGE.format(
        title=escape(title),
        width=width,
        height=height,
        empty=empty,
        count=f"{len(cards)} cards, {len(arrows)} links",
        body="\n".join(arrows + cards),
    )


def _arrow(link: dict[str, Any], source: tuple[int, int], target: tuple[int, int]) -> str:
    x1, y1 = source[0] + CARD_W, source[1] + CARD_H // 2
    x2, y2 = target[0] - 6, target[1] + CARD_H // 2
    bend = (x2 - x1) // 2
    return (
        f'<path class="link {link["direction"]}" data-source="{escape(link["source"])}" '
        f'data-target="{escape(link["target"])}" d="M{x1},{y1} C{x1 + bend},{y1} '
        f'{x2 - bend},{y2} {x2},{y2}" marker-end="url(#arrow)"/>'
    )


def _card(node: dict[str, Any], x: int, y: int) -> str:
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
    link = ""
    if settings.get("url"):
        label = escape(_short(settings.get("url_title") or settings["url"], 30))
        link = (
            f'<a class="card-url" href="{escape(settings["url"])}"><text x="{x + 56}" '
            f'y="{y + 74}">{label}</text></a>'
        )
    return (
        f'<g class="card" data-id="{escape(node["id"])}" data-kind="{node["kind"]}">'
        f"<title>{escape(node['key'])}</title>"
        f'<rect x="{x}" y="{y}" width="{CARD_W}" height="{CARD_H}" rx="10" '
        f'fill="#ffffff" stroke="{kind_colour}" stroke-width="2"/>'
        f'<circle cx="{x + 28}" cy="{y + 30}" r="17" '
        f'fill="{settings.get("icon_bg_color", kind_colour)}"/>'
        f'<text class="icon" x="{x + 28}" y="{y + 36}" text-anchor="middle" '
        f'fill="{settings.get("icon_color", "#ffffff")}">{escape(ICONS.get(icon, "?"))}</text>'
        f'<text class="card-title" x="{x + 56}" y="{y + 26}">{escape(_short(title, 21))}</text>'
        f'<text class="card-kind" x="{x + 56}" y="{y + 43}">{escape(_short(subtitle, 32))}</text>'
        f'<text class="card-description" x="{x + 56}" y="{y + 59}">'
        f"{escape(_short(description, 32, from_end=True))}</text>{link}</g>"
    )


def _short(text: str, size: int, from_end: bool = False) -> str:
    if len(text) <= size:
        return text
    return "…" + text[-size + 1 :] if from_end else text[: size - 1] + "…"


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 20px; background: #f8fafc; color: #0f172a; }}
h1 {{ font-size: 20px; margin: 0 0 4px; }} .count {{ color: #64748b; margin: 0 0 12px; }}
svg {{ background: #ffffff; border: 1px solid #e2e8f0; border-radius: 8px; }}
.link {{ fill: none; stroke: #94a3b8; stroke-width: 2; }} .link.output {{ stroke: #2563eb; }}
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
