"""A compiled workflow's graph as data: nodes, edges, the kinds on them and batch levels.

Nodes are the inputs (``$inputs.x``), the steps (``$steps.s``) and the outputs
(``$outputs.o``); a ``data`` edge is a selector (with the field it feeds, the kinds it
carries and its level), a ``control`` edge a flow-control step choosing its target.

Levels say how many values there are: ``None`` for a scalar (one per run), 0 for one per
input element, 1 for one per element made from it (a crop of each face), and so on: the
workflow's dimensionality minus one. The server's ``/graph`` answers this data; the pages
of ``workflow_page`` draw it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from visionflow.compiler.dimensions import input_source
from visionflow.compiler.plan import (
    INPUTS_LINEAGE,
    FieldBinding,
    Lineage,
    Plan,
    SelectorBinding,
    Source,
    StepPlan,
)
from visionflow.selectors import input_selector, output_node, step_selector

GROUPED_MODES = ("grouped", "cast_grouped")  # children gathered: a level collapses here


def level_of(dimensionality: int) -> int | None:
    """The batch level of a value: its dimensionality, as the compiler's errors and the
    guide count it (1: one per input element, 2: one per crop of it); None: a scalar."""
    return dimensionality or None


def per_element(lineage: Lineage) -> str:
    """How many values there are, in words: 'one per run', 'one per tile of ...'."""
    if not lineage:
        return "one per run"
    if lineage[-1].startswith(INPUTS_LINEAGE):
        nested = f" (level {len(lineage)})" if len(lineage) > 1 else ""
        return "one per input element" + nested
    return f"one per element made by '{lineage[-1]}'"


def plan_graph(plan: Plan) -> dict[str, list[dict[str, Any]]]:
    nodes: list[dict[str, Any]] = [
        {
            "id": input_selector(item.name),
            "type": "input",
            "name": item.name,
            "input_type": item.type,
            "kinds": sorted(item.kinds),
            "dimensionality": item.dimensionality if item.is_batch_oriented else 0,
            "level": level_of(input_source(item).dimensionality),
            "per": per_element(input_source(item).lineage),
        }
        for item in plan.inputs
    ]
    edges: list[dict[str, Any]] = []
    branches = _branches(plan)
    for name in plan.order:
        step = plan.steps[name]
        nodes.append(_step_node(step, branches))
        for binding in step.fields:
            selectors = [binding.selector] if binding.selector else _as_written(binding)
            edges += [
                _data_edge(selector.source, step_selector(name), selector.text, binding.name)
                | {"mode": selector.mode}
                for selector in selectors
            ]
        edges += [
            {"source": step_selector(gate.step), "target": step_selector(name), "type": "control"}
            for gate in step.gates
        ]
    for output in plan.outputs:
        nodes.append(
            {
                "id": output_node(output.name),
                "type": "output",
                "name": output.name,
                "kinds": sorted(output.source.kinds),
                "dimensionality": output.source.dimensionality,
                "level": level_of(output.source.dimensionality),
                "per": per_element(output.source.lineage),
            }
        )
        edges.append(_data_edge(output.source, output_node(output.name), output.selector, None))
    return {"nodes": nodes, "edges": edges}


def _step_node(step: StepPlan, branches: dict[str, frozenset[str]]) -> dict[str, Any]:
    return {
        "id": step_selector(step.name),
        "type": "step",
        "name": step.name,
        "block_type": step.block_type,
        "outputs": {output: sorted(kinds) for output, kinds in step.outputs.items()},
        "dimensionality": step.level,
        "output_dimensionality": step.output_dimensionality,
        "level": level_of(step.level),
        "output_level": level_of(step.output_dimensionality),
        # the deepest level read: above "level" where the step gathers children
        "input_level": level_of(max((b.source.dimensionality for b in _bindings(step)), default=0)),
        "per": per_element(step.output_lineage),
        "flow_control": step.is_flow_control,
        "gates": [gate.step for gate in step.gates],
        "branch": sorted(branches[step.name]),
        "merge": _is_merge(step, branches),
    }


def _is_merge(step: StepPlan, branches: dict[str, frozenset[str]]) -> bool:
    """Whether branches meet at ``step``: it is fed from a branch that ends here (it runs
    whatever that branch chose), or from two different branches."""
    fed = {branches[b.source.name] for b in _bindings(step) if b.source.origin == "step"}
    return any(branch - branches[step.name] for branch in fed) or len(fed - {frozenset()}) > 1


def _as_written(field: FieldBinding) -> list[SelectorBinding]:
    """A list/dict field's selectors in the order the document writes them (the plan keeps
    them in a dict whose order can change between processes)."""
    written = {text: n for n, text in reversed(list(enumerate(_strings(field.literal))))}
    found = (field.compound or {}).items()
    return [b for _, b in sorted(found, key=lambda item: (written.get(item[0], 0), item[0]))]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict | list | tuple):
        for item in value.values() if isinstance(value, dict) else value:
            yield from _strings(item)


def _bindings(step: StepPlan) -> list[SelectorBinding]:
    """Every selector of ``step``'s fields, single or inside a list/dict."""
    found = [f.selector for f in step.fields if f.selector]
    return found + [b for f in step.fields if f.compound for b in _as_written(f)]


def _branches(plan: Plan) -> dict[str, frozenset[str]]:
    """Step -> the flow-control steps whose choice decides whether it has a value.

    A step inherits the branches of the values it is fed, unless it runs without them:
    a block that accepts empty values, or one gathering children (the unchosen are left out).
    """
    found: dict[str, frozenset[str]] = {}
    for name in plan.order:
        step = plan.steps[name]
        inherited: set[str] = {gate.step for gate in step.gates}
        if not step.accepts_empty:
            for binding in _bindings(step):
                if binding.source.origin == "step" and binding.mode not in GROUPED_MODES:
                    inherited |= found[binding.source.name]
        found[name] = frozenset(inherited)
    return found


def _data_edge(source: Source, target: str, selector: str, field: str | None) -> dict[str, Any]:
    origin = input_selector(source.name) if source.origin == "input" else step_selector(source.name)
    return {
        "source": origin,
        "target": target,
        "type": "data",
        "selector": selector,
        "field": field,
        "output": source.output,
        "kinds": sorted(source.kinds),
        "dimensionality": source.dimensionality,
        "level": level_of(source.dimensionality),
    }
