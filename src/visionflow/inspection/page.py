"""The run inspector's page: self-contained HTML (inline CSS and SVG, images as data URLs).

For each run: a timeline (one lane per thread), a table of the steps (time, element
counts, status) and the previews of their outputs, steps in the plan's order.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from visionflow.inspection.previews import OutputPreview, Preview

if TYPE_CHECKING:
    from visionflow.inspection.record import Inspection, RunRecord, StepRecord

TIMELINE_W = 900  # pixels for the whole run
LANE_H = 22

STYLE = """
body{font:14px system-ui,sans-serif;margin:24px;color:#1f2937;background:#fff}
h1{font-size:20px}h2{font-size:17px;margin-top:28px}h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #d1d5db;padding:3px 8px}
th{background:#f3f4f6;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
.failed{color:#b91c1c;font-weight:600}.skipped{color:#6b7280}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{border:1px solid #d1d5db;border-radius:6px;padding:6px;max-width:340px}
.card .index{color:#6b7280;font-size:12px}.out{margin-top:4px}
.out b{font-weight:600}.out code{display:block;white-space:pre-wrap;word-break:break-all;
font-size:12px;background:#f9fafb;padding:3px}img{display:block;margin-top:3px}
svg text{font-size:11px;font-family:system-ui,sans-serif}
"""


def render_page(inspection: Inspection) -> str:
    order = inspection.workflow.plan.order
    runs = "".join(_run(run, order) for run in inspection.runs) or "<p>No run was recorded.</p>"
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        "<title>visionflow run inspector</title>"
        f"<style>{STYLE}</style></head><body><h1>visionflow run inspector</h1>{runs}"
        "</body></html>\n"
    )


def _run(run: RunRecord, order: list[str]) -> str:
    by_step = {record.step: record for record in run.steps}
    error = f"<p class='failed'>Failed: {escape(run.error)}</p>" if run.error else ""
    stepping = sum(step.seconds for step in run.steps) * 1000
    summary = (
        f"{len(run.steps)} step call(s) taking {stepping:.1f} ms; recording them "
        f"{run.recording_seconds * 1000:.1f} ms (both summed over threads)"
    )
    return (
        f"<h2>Run {run.number}: {run.seconds * 1000:.1f} ms</h2>"
        f"<p class='skipped'>{summary}</p>{error}"
        f"{_timeline(run)}{_table(order, by_step)}"
        + "".join(_step_previews(name, by_step.get(name)) for name in order)
    )


def _timeline(run: RunRecord) -> str:
    """One lane per thread, a bar per step call, placed on the run's own time axis."""
    lanes: dict[int, int] = {}
    for record in sorted(run.steps, key=lambda r: r.start_ns):
        lanes.setdefault(record.thread_id, len(lanes))
    span = max(run.end_ns - run.start_ns, 1)
    bars = []
    for record in run.steps:
        x = (record.start_ns - run.start_ns) / span * TIMELINE_W
        width = max(2.0, (record.end_ns - record.start_ns) / span * TIMELINE_W)
        y = lanes[record.thread_id] * LANE_H
        colour = "#fca5a5" if record.error else "#93c5fd"
        label = f"{record.step}: {record.seconds * 1000:.2f} ms"
        bars.append(
            f"<g><title>{escape(label)} ({escape(record.thread_name)})</title>"
            f"<rect x='{x:.1f}' y='{y + 2}' width='{width:.1f}' height='{LANE_H - 4}' "
            f"fill='{colour}' stroke='#1e3a8a' stroke-width='0.5'/>"
            f"<text x='{x + 3:.1f}' y='{y + LANE_H - 7}'>{escape(record.step)}</text></g>"
        )
    lanes_h = max(1, len(lanes)) * LANE_H
    height = lanes_h + 14  # the time axis under the lanes
    axis = (
        f"<text x='0' y='{height - 2}'>0 ms</text>"
        f"<text x='{TIMELINE_W}' y='{height - 2}' text-anchor='end'>"
        f"{run.seconds * 1000:.1f} ms</text>"
    )
    return (
        f"<svg width='{TIMELINE_W}' height='{height}' viewBox='0 0 {TIMELINE_W} {height}' "
        f"role='img' aria-label='timeline'><rect width='100%' height='{lanes_h}' "
        f"fill='#f9fafb'/>{''.join(bars)}{axis}</svg>"
    )


def _table(order: list[str], by_step: dict[str, StepRecord]) -> str:
    head = (
        "<tr><th>step</th><th>block</th><th>time (ms)</th><th>elements</th><th>ran</th>"
        "<th>masked</th><th>empty input</th><th>failed</th><th>status</th></tr>"
    )
    rows = []
    for name in order:
        record = by_step.get(name)
        if record is None:
            rows.append(
                f"<tr class='skipped'><td>{escape(name)}</td><td colspan='7'></td>"
                "<td>not run</td></tr>"
            )
            continue
        status = (  # the error itself is under the run's title
            f"<span class='failed' title='{escape(record.error)}'>failed</span>"
            if record.error
            else "ok"
        )
        numbers = (record.elements, record.ran, record.masked, record.empty, record.failed)
        rows.append(
            f"<tr><td>{escape(name)}</td><td>{escape(record.block_type)}</td>"
            f"<td class='n'>{record.seconds * 1000:.2f}</td>"
            + "".join(f"<td class='n'>{n}</td>" for n in numbers)
            + f"<td>{status}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _step_previews(name: str, record: StepRecord | None) -> str:
    if record is None or not record.previews:
        return ""
    cards = "".join(_card(preview) for preview in record.previews)
    more = record.ran - len(record.previews)
    note = f"<p class='skipped'>and {more} more element(s)</p>" if more > 0 else ""
    return f"<h3>{escape(name)}</h3><div class='cards'>{cards}</div>{note}"


def _card(preview: Preview) -> str:
    index = ", ".join(str(i) for i in preview.index)
    outputs = "".join(_output(output) for output in preview.outputs)
    return f"<div class='card'><div class='index'>element ({index})</div>{outputs}</div>"


def _output(output: OutputPreview) -> str:
    name = f"<b>{escape(output.name)}</b>"
    image = ""
    if output.thumbnail:
        image = f"<img alt='{escape(output.name)}' src='{output.thumbnail}'>"
    if output.kind == "image":
        return f"<div class='out'>{name} {escape(output.text)}{image}</div>"
    if output.kind == "detections":
        classes = escape(", ".join(output.classes)) or "none"
        return f"<div class='out'>{name}: {output.count} detection(s), {classes}{image}</div>"
    return f"<div class='out'>{name}<code>{escape(output.text)}</code></div>"
