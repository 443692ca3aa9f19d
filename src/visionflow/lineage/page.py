"""The lineage graph as one self-contained HTML page: cards laid out in layers, inline SVG.

No script, no network: cards are laid out in layers by ``visionflow.graphs.layout`` (data
-> task -> data ...; a long arrow passes through a free slot of each column). Texts are cut
to the card with an ellipsis, whole in the card's tooltip. Cards carry
``data-id``/``data-kind``; arrows ``data-source``/``data-target``.

A page holds one or more views (``View``: a section with its own drawing); the first is
shown, a link to another's ``#anchor`` shows that one instead (CSS ``:target``). A card
may carry ``links`` (drawn in its last line after its own ``url``) and ``thumbnails``
(ids of pictures kept once per page, drawn in a row under the card's texts).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

from visionflow.graphs.layout import Grid, fit_text, layers, text_width
from visionflow.lineage.cards import ICONS
from visionflow.lineage.supervisely_icons import FALLBACK_ICON, MATERIAL_ICONS

CARD_W, CARD_H, GAP_X, GAP_Y, MARGIN = 230, 84, 90, 26, 24
THUMB, THUMB_GAP = 40, 6  # previews: drawn size and the space between them
MAX_THUMBNAILS = (CARD_W - 2 * 10 + THUMB_GAP) // (THUMB + THUMB_GAP)  # one row: 4
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
    """Card places, and per link the (column, row) of the free slots it passes through."""
    links = [(link["source"], link["target"]) for link in graph["links"]]
    return layers([node["id"] for node in graph["nodes"]], links)


@dataclass
class View:
    """One drawing of the page: ``anchor`` is its id (``#anchor`` in a link shows it)."""

    anchor: str
    title: str
    graph: dict[str, list[dict[str, Any]]]


def render_page(graph: dict[str, list[dict[str, Any]]], title: str = "visionflow lineage") -> str:
    """The page's HTML text: one view of ``graph``."""
    return render_views([View("view-all", title, graph)], {})


def render_views(views: list[View], pictures: dict[str, str]) -> str:
    """The page of several views, the first shown; ``pictures``: thumbnail id -> data URL."""
    back = (
        f'<p class="back"><a href="#{escape(views[0].anchor)}">← {escape(views[0].title)}</a></p>'
    )
    sections = [_section(view, "" if n == 0 else back) for n, view in enumerate(views)]
    images = "".join(
        f'<image id="thumb-{escape(key)}" href="{escape(url)}" width="{THUMB}" '
        f'height="{THUMB}" preserveAspectRatio="xMidYMid meet"/>'
        for key, url in pictures.items()
    )  # once per page, drawn by <use> in every view that shows the card
    return _PAGE.format(
        title=escape(views[0].title),
        pictures=images,
        body="\n".join(sections),
    )


def _section(view: View, back: str) -> str:
    """A view; ``back``: the link to the main view, on every other one."""
    graph, anchor = view.graph, escape(view.anchor)
    previews = any(node.get("thumbnails") for node in graph["nodes"])
    grid = Grid(CARD_W, CARD_H + (THUMB + 8 if previews else 0), GAP_X, GAP_Y, MARGIN)
    places, waypoints = _layers(graph)
    slots = list(places.values()) + [slot for chain in waypoints for slot in chain]
    width, height = grid.size(slots)
    arrows = []
    for link, chain in zip(graph["links"], waypoints, strict=True):
        path = grid.path([places[link["source"]], *chain, places[link["target"]]])
        arrows.append(_arrow(link, path, bool(chain), anchor))
    nodes = enumerate(graph["nodes"])
    cards = [
        _card(node, *grid.corner(places[node["id"]]), grid.card_h, f"{anchor}-card-{n}")
        for n, node in nodes
    ]
    empty = "" if cards else '<p class="empty">No lineage recorded yet.</p>'
    return (
        f'<section class="view{"" if back else " main"}" id="{anchor}">'
        f"{back}<h1>{escape(view.title)}</h1>"
        f'<p class="count">{len(cards)} cards, {len(arrows)} links</p>{empty}'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">'
        f'<defs><marker id="{anchor}-arrow" viewBox="0 0 10 10" refX="9" refY="5" '
        'markerWidth="8" markerHeight="8" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#64748b"/></marker></defs>\n'
        + "\n".join(arrows + cards)
        + "\n</svg></section>"
    )


def _arrow(link: dict[str, Any], path: str, passing: bool, anchor: str) -> str:
    long = " long" if passing else ""  # dashed: it passes columns by
    # the relation's own title (Supervisely's relation settings) shows on hovering the link
    title = (link.get("settings") or {}).get("title")
    tooltip = f"<title>{escape(title)}</title>" if title else ""
    return (
        f'<path class="link {link["direction"]}{long}" data-source="{escape(link["source"])}" '
        f'data-target="{escape(link["target"])}" d="{path}" '
        f'marker-end="url(#{anchor}-arrow)">{tooltip}</path>'
    )


def _card(node: dict[str, Any], x: int, y: int, height: int, clip: str) -> str:
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
    description = settings.get("description")
    # a path keeps its end (the file's name), a description its beginning
    from_end = not description
    description = description or (node["key"] if node["kind"] != "task" else "")
    room = CARD_W - 56 - 10  # right of the icon, inside the border
    tooltip = "\n".join(dict.fromkeys(t for t in (title, subtitle, description, node["key"]) if t))
    return (
        f'<g class="card" data-id="{escape(node["id"])}" data-kind="{escape(node["kind"])}">'
        f"<title>{escape(tooltip)}</title>"
        f'<clipPath id="{clip}"><rect x="{x}" y="{y}" width="{CARD_W - 8}" '
        f'height="{height}"/></clipPath>'
        f'<rect x="{x}" y="{y}" width="{CARD_W}" height="{height}" rx="10" '
        f'fill="#ffffff" stroke="{kind_colour}" stroke-width="2"/>'
        f'<circle cx="{x + 28}" cy="{y + 30}" r="17" '
        f'fill="{escape(settings.get("icon_bg_color", kind_colour))}"/>'
        f"{_icon(icon, x + 28, y + 30, escape(settings.get('icon_color', '#ffffff')))}"
        f'<g clip-path="url(#{clip})">'  # the estimate below is never wider than this
        f'<text class="card-title" x="{x + 56}" y="{y + 26}">'
        f"{escape(fit_text(title, 14, room, bold=True))}</text>"
        f'<text class="card-kind" x="{x + 56}" y="{y + 43}">{escape(fit_text(subtitle, 11, room))}'
        f'</text><text class="card-description" x="{x + 56}" y="{y + 59}">'
        f"{escape(fit_text(description, 11, room, from_end=from_end))}</text>"
        f"{_links(node, settings, x + 56, y + 76, room)}"
        f"{_thumbnails(node.get('thumbnails', ()), x + 10, y + CARD_H)}</g></g>"
    )


def _links(node: dict[str, Any], settings: dict, x: int, y: int, room: int) -> str:
    """The card's own url, then its default links, as many as fit one line."""
    drawn, used = [], 0
    if settings.get("url"):
        label = fit_text(settings.get("url_title") or settings["url"], 11, room)
        drawn.append(
            f'<a class="card-url" href="{escape(settings["url"])}"><text x="{x}" '
            f'y="{y}">{escape(label)}</text></a>'
        )
        used = text_width(label, 11) + 8
    for link in node.get("links", ()):
        width = text_width(link["label"], 11)
        if used + width > room:
            break
        text = f'<text x="{x + used:.0f}" y="{y}">{escape(link["label"])}</text>'
        if link["href"]:
            drawn.append(
                f'<a class="card-link" data-link="{escape(link["label"])}" '
                f'href="{escape(link["href"])}">{text}</a>'
            )
        else:  # a path that is gone: said, not linked
            drawn.append(f'<g class="card-missing">{text}</g>')
        used += width + 8
    return "".join(drawn)


def _thumbnails(ids, x: int, y: int) -> str:
    return "".join(
        f'<use class="thumbnail" href="#thumb-{escape(key)}" x="{x + n * (THUMB + THUMB_GAP)}" '
        f'y="{y}"/>'
        for n, key in enumerate(ids)
    )


def _icon(name: str, cx: int, cy: int, colour: str) -> str:
    """The icon in the circle centred on (cx, cy): a Material Design shape, one of
    visionflow's glyphs, or (any other name) a frame with the name written under it."""
    shape = MATERIAL_ICONS.get(name)
    if shape is None and name in ICONS:
        return (
            f'<text class="icon" data-icon="{escape(name)}" x="{cx}" y="{cy + 6}" '
            f'text-anchor="middle" fill="{colour}">{escape(ICONS[name])}</text>'
        )
    named = ""
    if shape is None:
        shape = FALLBACK_ICON
        label = escape(fit_text(name, 8, 52))
        named = (
            f'<text class="icon-name" x="{cx}" y="{cy + 31}" text-anchor="middle">{label}</text>'
        )
    # the 24-unit shape drawn 20 px wide, centred in the 17 px circle
    return (
        f'<g class="icon" data-icon="{escape(name)}"><path fill="{colour}" fill-rule="evenodd" '
        f'transform="translate({cx - 10} {cy - 10}) scale(0.8333)" d="{shape}"/></g>{named}'
    )


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 20px; background: #f8fafc; color: #0f172a; }}
h1 {{ font-size: 20px; margin: 0 0 4px; }} .count {{ color: #64748b; margin: 0 0 12px; }}
svg {{ background: #ffffff; border: 1px solid #e2e8f0; border-radius: 8px; }}
svg.pictures {{ position: absolute; width: 0; height: 0; border: 0; }}
.view {{ display: none; }} .view.main, .view:target {{ display: block; }}
body:has(.view:target) .view.main:not(:target) {{ display: none; }}
.link {{ fill: none; stroke: #94a3b8; stroke-width: 2; }} .link.output {{ stroke: #2563eb; }}
.link.long {{ stroke-dasharray: 6 3; }}
.card-title {{ font-size: 14px; font-weight: 600; }}
.card-kind {{ font-size: 11px; fill: #475569; }}
.card-description {{ font-size: 11px; fill: #64748b; }} .icon {{ font-size: 16px; }}
.icon-name {{ font-size: 8px; fill: #475569; }}
.card-url text, .card-link text {{ font-size: 11px; fill: #2563eb; text-decoration: underline; }}
.card-missing text {{ font-size: 11px; fill: #b91c1c; }} .back {{ margin: 0 0 6px; }}
</style></head><body>
<svg class="pictures" xmlns="http://www.w3.org/2000/svg" aria-hidden="true">
<defs>{pictures}</defs></svg>
{body}
</body></html>
"""
