"""The graph of a compiled workflow for visual tools: nodes, edges and the kinds on them.

Nodes are the inputs (``$inputs.x``), the steps (``$steps.s``) and the outputs
(``$outputs.o``); a ``data`` edge is a selector (with the field it feeds and the kinds it
carries), a ``control`` edge a flow-control step choosing its target.
"""

from __future__ import annotations

from typing import Any

from visionflow.compiler.plan import Plan, Source
from visionflow.selectors import input_selector, output_node, step_selector


def plan_graph(plan: Plan) -> dict[str, list[dict[str, Any]]]:
    nodes: list[dict[str, Any]] = [
        {
            "id": input_selector(item.name),
            "type": "input",
            "name": item.name,
            "input_type": item.type,
            "kinds": sorted(item.kinds),
            "dimensionality": item.dimensionality if item.is_batch_oriented else 0,
        }
        for item in plan.inputs
    ]
    edges: list[dict[str, Any]] = []
    for name in plan.order:
        step = plan.steps[name]
        nodes.append(
            {
                "id": step_selector(name),
                "type": "step",
                "name": name,
                "block_type": step.block_type,
                "outputs": {output: sorted(kinds) for output, kinds in step.outputs.items()},
                "dimensionality": step.level,
                "output_dimensionality": step.output_dimensionality,
                "flow_control": step.is_flow_control,
            }
        )
        for binding in step.fields:
            selectors = [binding.selector] if binding.selector else []
            selectors += list((binding.compound or {}).values())
            edges += [
                _data_edge(selector.source, step_selector(name), selector.text, binding.name)
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
            }
        )
        edges.append(_data_edge(output.source, output_node(output.name), output.selector, None))
    return {"nodes": nodes, "edges": edges}


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
    }
