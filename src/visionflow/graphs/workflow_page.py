"""A compiled workflow drawn as inline SVG: a standalone drawing, an HTML page, a notebook cell.

No script, no network. Inputs, steps and outputs are cards laid out in layers
(``visionflow.graphs.layout``), outputs in the last column. A card's left side lists the
fields its edges feed, its right side the outputs they leave from; the label beside an
output gives the kinds and the level of its values. Levels also show as stacked cards (one
layer per nesting: a scalar is a single card) and as a badge ("level 1 → 2" where a step
makes crops, "1 → 0" where it gathers them). Flow control is dashed and orange: a control
edge from the deciding step, and the steps of its branch; a step where branches meet says
so. Cards carry ``data-id``, ``data-type`` and ``data-level``; edges ``data-source``,
``data-target``, ``data-kinds`` and ``data-level``.
"""

from __future__ import annotations

from html import escape
from typing import Any

from visionflow.graphs.layout import curve, fit_text, layers, packed_tops, text_width

CARD_W, HEADER, PORT_H, GAP_X, GAP_Y, MARGIN, STACK = 230, 48, 20, 150, 30, 24, 5
LANE = 12  # the height of a free slot that long edges pass through
LEVEL_COLOURS = ["#2563eb", "#7c3aed", "#0d9488", "#db2777"]  # level 1, 2, 3, 4+
SCALAR_COLOUR, CONTROL_COLOUR = "#64748b", "#ea580c"
TYPE_COLOURS = {"input": "#059669", "step": "#1e293b", "output": "#2563eb"}
LEGEND = (
    "level 1: one value per input element · level 2: one per element made from it (a crop) "
    "· scalar: one per run · stacked cards: nesting · dashed orange: flow control"
)


def render_svg(graph: dict[str, list[dict[str, Any]]]) -> str:
    """The drawing of ``graph`` (``plan_graph``'s data) as a standalone SVG document."""
    nodes = {node["id"]: node for node in graph["nodes"]}
    ports = {node_id: _ports(node, graph["edges"]) for node_id, node in nodes.items()}
    outputs = [node_id for node_id, node in nodes.items() if node["type"] == "output"]
    pairs = [(edge["source"], edge["target"]) for edge in graph["edges"]]
    places, waypoints = layers(list(nodes), pairs, last=outputs)
    # each column stacks its own cards (with the room their stacked layers take above
    # them) and the lanes of the long edges passing by, which need far less room
    heights = {slot: LANE for chain in waypoints for slot in chain}
    heights |= {places[i]: _depth(nodes[i]) * STACK + _height(ports[i]) for i in nodes}
    tops = packed_tops(heights, GAP_Y, MARGIN)
    corners = {i: (_left(c), tops[c, r] + _depth(nodes[i]) * STACK) for i, (c, r) in places.items()}
    width = _left(max((c for c, _ in heights), default=0) + 1) - GAP_X + MARGIN
    height = max((tops[slot] + tall for slot, tall in heights.items()), default=0) + MARGIN
    lanes = [
        [(_left(c), _left(c) + CARD_W, tops[c, r] + LANE // 2) for c, r in chain]
        for chain in waypoints
    ]
    edges = [
        _edge(edge, lane, corners, ports) for edge, lane in zip(graph["edges"], lanes, strict=True)
    ]
    labels = _port_labels(graph["edges"], corners, ports, nodes)
    cards = [_card(nodes[i], *corners[i], ports[i]) for i in nodes]
    legend = (
        f'<text class="legend" x="{MARGIN}" y="{height + 4}">'
        f"{escape(fit_text(LEGEND, 11, max(width - 2 * MARGIN, 200)))}</text>"
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="vf-graph" width="{width}" '
        f'height="{height + 16}" viewBox="0 0 {width} {height + 16}" role="img">'
        f"<title>{escape(_summary(graph))}</title>{_DEFS}"
        + "\n".join([*edges, *cards, *labels, legend])
        + "</svg>"
    )


def _left(column: int) -> int:
    return MARGIN + column * (CARD_W + GAP_X)


def _depth(node: dict[str, Any]) -> int:
    """Layers stacked under a card: one per nesting level of its values (none: a scalar)."""
    level = node.get("output_level", node["level"])
    return 0 if level is None else level


def _height(ports: dict[str, list[str]]) -> int:
    return HEADER + max(len(ports["in"]), len(ports["out"]), 1) * PORT_H + 8


def render_page(graph: dict[str, list[dict[str, Any]]], title: str = "visionflow workflow") -> str:
    """A self-contained HTML page showing the drawing."""
    return _PAGE.format(title=escape(title), summary=escape(_summary(graph)), svg=render_svg(graph))


def render_fragment(graph: dict[str, list[dict[str, Any]]]) -> str:
    """The drawing inside a scrolling ``div``: for a notebook cell or another page."""
    return f'<div class="vf-graph-frame" style="overflow:auto">{render_svg(graph)}</div>'


def _summary(graph: dict[str, list[dict[str, Any]]]) -> str:
    count = {kind: sum(n["type"] == kind for n in graph["nodes"]) for kind in TYPE_COLOURS}
    return ", ".join(f"{n} {kind}{'s' if n != 1 else ''}" for kind, n in count.items())


def _ports(node: dict[str, Any], edges: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The port names down each side of a card: fields fed (and the flow-control steps
    choosing it) on the left, outputs read (and 'chooses') on the right."""
    incoming = [e for e in edges if e["target"] == node["id"]]
    leaving = [e for e in edges if e["source"] == node["id"]]
    left = [_in_port(e) for e in incoming]
    right = [_out_port(e) for e in leaving]
    return {"in": list(dict.fromkeys(left)), "out": list(dict.fromkeys(right))}


def _in_port(edge: dict[str, Any]) -> str:
    if edge["type"] == "control":
        return f"if {edge['source'].removeprefix('$steps.')}"
    return edge["field"] or "value"


def _out_port(edge: dict[str, Any]) -> str:
    if edge["type"] == "control":
        return "chooses"
    return edge["output"] or "value"


def _colour(level: int | None) -> str:
    return SCALAR_COLOUR if level is None else LEVEL_COLOURS[min(level, len(LEVEL_COLOURS)) - 1]


def _level_text(level: int | None) -> str:
    return "scalar" if level is None else f"level {level}"


def _port_y(names: list[str], name: str) -> int:
    """A port's height below its card's top."""
    return HEADER + names.index(name) * PORT_H + PORT_H // 2


def _edge(edge: dict[str, Any], lane: list, corners: dict, ports: dict) -> str:
    source, target = edge["source"], edge["target"]
    (from_x, from_y), (to_x, to_y) = corners[source], corners[target]
    start = from_y + _port_y(ports[source]["out"], _out_port(edge))
    end = to_y + _port_y(ports[target]["in"], _in_port(edge))
    path = curve([(from_x, from_x + CARD_W, start), *lane, (to_x, to_x + CARD_W, end)])
    if edge["type"] == "control":
        return (
            f'<path class="edge control" data-source="{escape(source)}" '
            f'data-target="{escape(target)}" d="{path}" marker-end="url(#vf-arrow-control)">'
            f"<title>{escape(source)} chooses {escape(target)}</title></path>"
        )
    level = edge["level"]
    kinds = ", ".join(edge["kinds"])
    gathered = edge.get("mode") in ("grouped", "cast_grouped")
    tooltip = (
        f"{edge['selector']} → {target}"
        + (f" field '{edge['field']}'" if edge["field"] else "")
        + f"\nkinds: {kinds}\n{_level_text(level)}"
        + ("; gathered per element" if gathered else "")
    )
    return (
        f'<path class="edge data{" gathered" if gathered else ""}" data-source="{escape(source)}" '
        f'data-target="{escape(target)}" data-kinds="{escape(kinds)}" '
        f'data-level="{"" if level is None else level}" stroke="{_colour(level)}" d="{path}" '
        f'marker-end="url(#vf-arrow)"><title>{escape(tooltip)}</title></path>'
    )


def _port_labels(edges: list[dict[str, Any]], corners: dict, ports: dict, nodes: dict) -> list[str]:
    """Beside each output port, once: the kinds and the level of the values leaving it
    (right of the card's stacked layers, which would otherwise cover its first letters)."""
    labels, done = [], set()
    for edge in edges:
        key = (edge["source"], _out_port(edge))
        if edge["type"] != "data" or key in done:
            continue
        done.add(key)
        left, top = corners[edge["source"]]
        y = top + _port_y(ports[edge["source"]]["out"], key[1])
        level = " · " + ("scalar" if edge["level"] is None else f"L{edge['level']}")
        layers = _depth(nodes[edge["source"]]) * STACK
        kinds = _short_kinds(edge["kinds"], GAP_X - 16 - layers - text_width(level, 10))
        labels.append(
            f'<text class="edge-label" x="{left + CARD_W + 8 + layers}" y="{y - 5}" '
            f'fill="{_colour(edge["level"])}" data-kinds="{escape(", ".join(edge["kinds"]))}">'
            f"{escape(kinds + level)}<title>{escape(', '.join(edge['kinds']))}</title></text>"
        )
    return labels


def _short_kinds(kinds: list[str], room: float = 1e9) -> str:
    """The first kind cut to ``room`` pixels, and how many more (the rest are in the
    tooltip); '*' reads 'any'."""
    more = f" +{len(kinds) - 1}" if len(kinds) > 1 else ""
    first = "any" if not kinds or kinds[0] == "*" else kinds[0]
    return fit_text(first, 10, room - text_width(more, 10)) + more


def _card(node: dict[str, Any], x: int, y: int, ports: dict[str, list[str]]) -> str:
    level, depth, height = node.get("output_level", node["level"]), _depth(node), _height(ports)
    stroke = CONTROL_COLOUR if node.get("branch") or node.get("flow_control") else "#cbd5e1"
    classes = " ".join(
        ["node", node["type"]]
        + [name for name in ("flow_control", "merge") if node.get(name)]
        + (["in-branch"] if node.get("branch") else [])
    )
    stack = "".join(
        f'<rect class="stack" x="{x + STACK * k}" y="{y - STACK * k}" width="{CARD_W}" '
        f'height="{height}" rx="9" stroke="{_colour(level)}"/>'
        for k in range(depth, 0, -1)
    )
    # the name has the whole width; the badge sits right of the subtitle, which gives way
    badge = _badge(node, x + CARD_W - 10, y + 27)
    room = CARD_W - 14 - 10 - (text_width(_badge_text(node), 10) + 12) - 8
    body = [
        f'<rect class="card" x="{x}" y="{y}" width="{CARD_W}" height="{height}" rx="9" '
        f'stroke="{stroke}"/>',
        f'<rect x="{x}" y="{y + 6}" width="5" height="{HEADER - 12}" '
        f'fill="{TYPE_COLOURS[node["type"]]}"/>',
        f'<text class="name" x="{x + 14}" y="{y + 20}">'
        f"{escape(fit_text(node['name'], 13, CARD_W - 24, bold=True))}</text>",
        f'<text class="subtitle" x="{x + 14}" y="{y + 39}">'
        f"{escape(fit_text(_subtitle(node), 10, room))}</text>",
        badge,
    ]
    for number, name in enumerate(ports["in"]):
        py = y + HEADER + number * PORT_H + PORT_H // 2
        dot = CONTROL_COLOUR if name.startswith("if ") else "#475569"  # fields have no spaces
        body.append(
            f'<circle cx="{x}" cy="{py}" r="3.5" fill="{dot}"/>'
            f'<text class="port" x="{x + 10}" y="{py + 4}">'
            f"{escape(fit_text(name, 11, CARD_W / 2 - 14))}</text>"
        )
    for number, name in enumerate(ports["out"]):
        py = y + HEADER + number * PORT_H + PORT_H // 2
        body.append(
            f'<circle cx="{x + CARD_W}" cy="{py}" r="3.5" fill="#475569"/>'
            f'<text class="port" x="{x + CARD_W - 10}" y="{py + 4}" text-anchor="end">'
            f"{escape(fit_text(name, 11, CARD_W / 2 - 14))}</text>"
        )
    return (
        f'<g class="{classes}" data-id="{escape(node["id"])}" data-type="{node["type"]}" '
        f'data-level="{"" if level is None else level}"><title>{escape(_tooltip(node))}</title>'
        f"{stack}{''.join(body)}</g>"
    )


def _badge_text(node: dict[str, Any]) -> str:
    if node["type"] != "step":
        return _level_text(node["level"])
    read, made = node["input_level"], node["output_level"]
    if read is not None and made is not None and read != made:  # crops made, or gathered
        return f"level {read} → {made}"
    return _level_text(made)


def _badge(node: dict[str, Any], right: int, top: int) -> str:
    text = _badge_text(node)
    width = text_width(text, 10) + 12
    colour = _colour(node.get("output_level", node["level"]))
    return (
        f'<rect class="badge" x="{right - width:.0f}" y="{top}" width="{width:.0f}" height="16" '
        f'rx="8" fill="{colour}"/><text class="badge-text" x="{right - width / 2:.0f}" '
        f'y="{top + 12}" text-anchor="middle">{escape(text)}</text>'
    )


def _subtitle(node: dict[str, Any]) -> str:
    if node["type"] == "input":
        return f"input · {node['input_type']} · {', '.join(node['kinds'])}"
    if node["type"] == "output":
        return f"output · {_short_kinds(node['kinds'])}"
    words = [node["block_type"].removeprefix("visionflow/")]
    if node["flow_control"]:
        words.insert(0, "flow control")
    if node["merge"]:
        words.insert(0, "branches merge")
    return " · ".join(words)


def _tooltip(node: dict[str, Any]) -> str:
    lines = [node["name"], _subtitle(node), f"{_badge_text(node)}: {node['per']}"]
    if node["type"] == "step":
        lines += [f"{out}: {', '.join(kinds)}" for out, kinds in node["outputs"].items()]
        if node["branch"]:
            lines.append(f"runs only where chosen by: {', '.join(node['branch'])}")
    return "\n".join(lines)


_DEFS = f"""<defs>
<marker id="vf-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="10" markerHeight="10"
markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"
fill="#475569"/></marker>
<marker id="vf-arrow-control" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="10"
markerHeight="10" markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path
d="M0,0 L10,5 L0,10 z" fill="{CONTROL_COLOUR}"/></marker></defs>
<style>
.vf-graph {{ font-family: system-ui, sans-serif; background: #ffffff; }}
.vf-graph .edge {{ fill: none; stroke-width: 2; }}
.vf-graph .edge.gathered {{ stroke-width: 3; }}
.vf-graph .edge.control {{ stroke: {CONTROL_COLOUR}; stroke-dasharray: 7 4; }}
.vf-graph .card {{ fill: #ffffff; stroke-width: 1.5; }}
.vf-graph .stack {{ fill: #f1f5f9; stroke-width: 1; }}
.vf-graph .in-branch .card {{ stroke-dasharray: 6 3; stroke-width: 2; }}
.vf-graph .name {{ font-size: 13px; font-weight: 600; fill: #0f172a; }}
.vf-graph .subtitle {{ font-size: 10px; fill: #64748b; }}
.vf-graph .port {{ font-size: 11px; fill: #334155; }}
.vf-graph .badge-text {{ font-size: 10px; fill: #ffffff; font-weight: 600; }}
.vf-graph .edge-label {{ font-size: 10px; paint-order: stroke; stroke: #ffffff;
  stroke-width: 3px; stroke-linejoin: round; }}
.vf-graph .legend {{ font-size: 11px; fill: #64748b; }}
</style>"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 20px; background: #f8fafc; color: #0f172a; }}
h1 {{ font-size: 20px; margin: 0 0 4px; }} .summary {{ color: #64748b; margin: 0 0 12px; }}
svg.vf-graph {{ border: 1px solid #e2e8f0; border-radius: 8px; }}
</style></head><body>
<h1>{title}</h1><p class="summary">{summary}</p>
{svg}
</body></html>
"""
