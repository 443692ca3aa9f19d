"""Compiler stage: selectors become edges; targets, outputs and kinds checked; no cycles."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from visionflow.blocks.api import manifest_selectors
from visionflow.compiler.steps import ParsedStep
from visionflow.definition import Definition
from visionflow.errors import (
    CycleError,
    FlowControlError,
    KindMismatchError,
    ManifestError,
    SelectorError,
)
from visionflow.kinds import kinds_meet
from visionflow.selectors import (
    DATA_SELECTORS,
    SIGIL,
    WILDCARD_OUTPUT,
    ParsedSelector,
    find_selectors,
    meant_selector,
    parse_selector,
)
from visionflow.suggestions import close_matches

ALL_OUTPUTS_KINDS = frozenset(["dict"])


@dataclass(frozen=True)
class Reference:
    """One selector inside one field of one step."""

    field: str
    selector: ParsedSelector
    kinds: frozenset[str]  # kinds of the value it points at


@dataclass
class StepGraph:
    step: ParsedStep
    outputs: dict[str, frozenset[str]]
    references: list[Reference] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)  # flow-control targets
    controllers: list[str] = field(default_factory=list)  # flow-control steps choosing this one
    target_fields: dict[str, str] = field(default_factory=dict)  # target -> field naming it

    @property
    def depends_on(self) -> set[str]:
        return {ref.selector.name for ref in self.references if ref.selector.source == "steps"}


def build_graph(definition: Definition, steps: list[ParsedStep]) -> dict[str, StepGraph]:
    graphs = {step.name: StepGraph(step, _outputs_of(step)) for step in steps}
    inputs = {item.name: item for item in definition.inputs}
    for graph in graphs.values():
        _collect_references(graph, graphs, inputs)
    for name, graph in graphs.items():
        for target in graph.next_steps:
            graphs[target].controllers.append(name)
    return graphs


def _outputs_of(step: ParsedStep) -> dict[str, frozenset[str]]:
    described = step.loaded.block_class.describe_outputs(step.manifest)
    return {output.name: frozenset(output.kinds) for output in described}


def _collect_references(graph: StepGraph, graphs: dict[str, StepGraph], inputs: dict) -> None:
    step = graph.step
    for field_name, infos in manifest_selectors(type(step.manifest)).items():
        found = find_selectors(getattr(step.manifest, field_name))
        if not found:
            continue
        place = f"{step.place} field '{field_name}'"
        if not infos:
            raise ManifestError(
                f"field '{field_name}' takes a fixed value, not a selector (found '{found[0][1]}')",
                place=place,
                hint=f"a literal text that starts with $ is written $$: '${found[0][1]}'",
            )
        accepted = frozenset().union(*(info.kinds for info in infos if not info.step_reference))
        takes_steps = any(info.step_reference for info in infos)
        for _, text in found:
            selector = parse_selector(text)
            if selector is None:
                raise SelectorError(
                    f"'{text}' is not a valid selector",
                    place=place,
                    hint=_malformed_hint(text, _takes_text(step.manifest, field_name, text)),
                )
            if selector.is_step_reference:
                _add_next_step(graph, selector, graphs, takes_steps, place)
                graph.target_fields[selector.name] = field_name
                continue
            if takes_steps and not accepted:
                raise FlowControlError(
                    f"'{text}' points at data; this field names steps to run next",
                    place=place,
                    hint="write $steps.<step name>",
                )
            kinds = target_kinds(selector, graphs, inputs, place)
            if not kinds_meet(kinds, accepted):
                raise KindMismatchError(
                    f"'{text}' gives {_kinds_text(kinds)} "
                    f"but the field accepts {_kinds_text(accepted)}",
                    place=place,
                    hint="connect an output of a matching kind "
                    "(`visionflow blocks TYPE` lists kinds)",
                )
            graph.references.append(Reference(field_name, selector, kinds))


def _add_next_step(graph, selector, graphs, takes_steps, place) -> None:
    if not takes_steps:
        raise SelectorError(
            f"'{selector.text}' names a step; only flow-control fields take step names",
            place=place,
            hint=f"to use an output write $steps.{selector.name}.<output>",
        )
    if selector.name not in graphs:
        raise FlowControlError(
            f"flow-control target '{selector.text}' is not a step of this workflow",
            place=place,
            hint=_suggest(selector.name, graphs),
        )
    if selector.name == graph.step.name:
        raise FlowControlError("a step cannot choose itself as the next step", place=place)
    graph.next_steps.append(selector.name)


def target_kinds(selector: ParsedSelector, graphs, inputs, place: str) -> frozenset[str]:
    """The kinds of the value a data selector points at; a missing target is an error."""
    if selector.source == "inputs":
        if selector.name not in inputs:
            raise SelectorError(
                f"'{selector.text}' points at input '{selector.name}', which is not declared",
                place=place,
                hint=_suggest(selector.name, inputs) or "declare it under inputs:",
            )
        return inputs[selector.name].kinds
    if selector.name not in graphs:
        raise SelectorError(
            f"'{selector.text}' points at step '{selector.name}', which does not exist",
            place=place,
            hint=_suggest(selector.name, graphs),
        )
    outputs = graphs[selector.name].outputs
    if selector.output == WILDCARD_OUTPUT:
        return ALL_OUTPUTS_KINDS
    if selector.output not in outputs:
        raise SelectorError(
            f"step '{selector.name}' has no output '{selector.output}'",
            place=place,
            hint=f"its outputs are: {', '.join(outputs) or 'none'} (or * for all of them)",
        )
    return outputs[selector.output]


def _malformed_hint(text: str, takes_text: bool) -> str:
    """The selector ``text`` most likely meant, and the ``$$`` escape where the field takes
    literal texts too."""
    literal = f"a literal text that starts with $ is written $$: '${text}'" if takes_text else ""
    meant = meant_selector(text)
    if meant:
        return f"did you mean '{meant}'?" + (f" Or, {literal}" if literal else "")
    return f"use {DATA_SELECTORS}" + (f"; or, {literal}" if literal else "")


def _takes_text(manifest: Any, field_name: str, text: str) -> bool:
    """Whether the field would take ``text`` escaped (``$$...``) as a literal: a text that
    passed the selector pattern (``$inputs.image.x``) may still be in a selector-only field."""
    escaped = _replaced(getattr(manifest, field_name), text, SIGIL + text)
    try:  # the manifest's own validation of that field, on a copy
        type(manifest).__pydantic_validator__.validate_assignment(
            manifest.model_copy(), field_name, escaped
        )
    except Exception:  # ValidationError, or whatever a manifest's own validator raises
        return False
    return True


def _replaced(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return new if value == old else value
    if isinstance(value, dict):
        return {key: _replaced(item, old, new) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_replaced(item, old, new) for item in value)
    return value


def _suggest(name: str, known) -> str | None:
    close = close_matches(name, list(known), n=3, cutoff=0.5)
    return f"did you mean {', '.join(repr(c) for c in close)}?" if close else None


def _kinds_text(kinds: frozenset[str]) -> str:
    return "[" + ", ".join(sorted(kinds)) + "]"


def topological_order(graphs: dict[str, StepGraph]) -> list[str]:
    """Steps in dependency order (data edges and flow-control edges); cycles are errors."""
    predecessors = predecessors_of(graphs)
    remaining = {name: len(before) for name, before in predecessors.items()}
    followers: dict[str, list[str]] = {name: [] for name in graphs}
    for name, before in predecessors.items():
        for dependency in before:
            followers[dependency].append(name)
    ready = [name for name in graphs if remaining[name] == 0]
    order: list[str] = []
    while ready:
        name = ready.pop(0)
        order.append(name)
        for follower in followers[name]:
            remaining[follower] -= 1
            if remaining[follower] == 0:
                ready.append(follower)
    if len(order) < len(graphs):
        cycle = _find_cycle({n: p for n, p in predecessors.items() if n not in order})
        raise CycleError(
            "the steps form a cycle: " + " -> ".join(f"'{name}'" for name in cycle),
            place=graphs[cycle[0]].step.place,
            hint="a workflow is a DAG; remove one of these connections",
        )
    return order


def _find_cycle(predecessors: dict[str, set[str]]) -> list[str]:
    # Walk backwards along dependencies inside the unsorted rest until a step repeats.
    start = next(iter(predecessors))
    path = [start]
    while True:
        following = next(p for p in sorted(predecessors[path[-1]]) if p in predecessors)
        if following in path:
            cycle = [*path[path.index(following) :], following]
            return list(reversed(cycle))
        path.append(following)


def predecessors_of(graphs: dict[str, StepGraph]) -> dict[str, frozenset[str]]:
    found = {name: set(graph.depends_on) for name, graph in graphs.items()}
    for name, graph in graphs.items():
        for target in graph.next_steps:
            found[target].add(name)
    return {name: frozenset(before) for name, before in found.items()}
