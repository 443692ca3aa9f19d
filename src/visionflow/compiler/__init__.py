"""The compiler: Definition -> Plan, in stages, each with its own errors.

load blocks -> parse steps -> graph (edges, kinds, cycles) -> lineage & dimensionality ->
flow control -> outputs -> initialise blocks.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from typing import Any

from visionflow.blocks.api import is_flow_control_block
from visionflow.blocks.loader import BlockRegistry, resolve_init_parameters
from visionflow.compiler.dimensions import StepLayout, gates_of, input_source
from visionflow.compiler.graph import StepGraph, build_graph, predecessors_of, topological_order
from visionflow.compiler.plan import OutputPlan, Plan, Source, StepPlan
from visionflow.compiler.steps import parse_steps
from visionflow.definition import Definition
from visionflow.errors import BlockLoadingError, SelectorError, WorkflowError
from visionflow.selectors import WILDCARD_OUTPUT, parse_selector

__all__ = ["Plan", "compile_plan", "definition_hash"]


def compile_plan(
    definition: Definition,
    registry: BlockRegistry,
    init_parameters: dict[str, Any] | None = None,
    *,
    allow_custom_code: bool = True,
    model_limits: Any = None,
) -> Plan:
    steps = parse_steps(definition, registry)
    graphs = build_graph(definition, steps)
    order = topological_order(graphs)
    predecessors = predecessors_of(graphs)
    sources: dict[str, Source] = {
        f"$inputs.{item.name}": input_source(item) for item in definition.inputs
    }
    layouts: dict[str, StepLayout] = {}
    for name in order:
        layouts[name] = StepLayout(graphs[name], sources)
        sources[f"$steps.{name}"] = layouts[name].step_source(None, frozenset())
    gates = {name: gates_of(name, layouts[name], graphs, layouts) for name in order}
    outputs = [
        _output_plan(position, output, sources, graphs)
        for position, output in enumerate(definition.outputs)
    ]
    # Last: initialising blocks may be expensive (models), so only a checked plan gets there.
    given = {
        "models": _model_library(definition, allow_custom_code, model_limits),
        **(init_parameters or {}),
        "allow_custom_code": allow_custom_code,  # never from the document or init parameters
    }
    plans = {
        name: _step_plan(
            graphs[name],
            layouts[name],
            gates[name],
            predecessors[name],
            registry,
            given,
        )
        for name in order
    }
    return Plan(
        definition, list(definition.inputs), plans, order, outputs, dict(definition.settings)
    )


def _step_plan(graph, layout: StepLayout, gates, predecessors, registry, given) -> StepPlan:
    block_class = graph.step.loaded.block_class
    return StepPlan(
        name=graph.step.name,
        block_type=graph.step.block_type,
        block=_initialise(graph, registry, given),
        manifest=graph.step.manifest,
        fields=layout.bindings(),
        level=layout.level,
        lineage=layout.lineage,
        output_dimensionality=len(layout.output_lineage),
        output_lineage=layout.output_lineage,
        outputs=graph.outputs,
        gates=gates,
        depends_on=predecessors,
        is_flow_control=is_flow_control_block(block_class),
    )


def _model_library(definition: Definition, allow_files: bool, limits: Any):
    from visionflow.models.library import ModelLibrary  # models are optional: import on use

    return ModelLibrary(
        definition.models, definition.settings, allow_files=allow_files, limits=limits
    )


def _initialise(graph, registry: BlockRegistry, given: dict[str, Any]):
    loaded, place = graph.step.loaded, graph.step.place
    values = resolve_init_parameters(loaded, given, registry, place)
    try:
        block = loaded.block_class(**values)
        block.setup(graph.step.manifest)
    except WorkflowError as error:
        error.place = f"{place} {error.place}" if error.place else place
        raise type(error)(error.message, place=error.place, hint=error.hint) from error
    except Exception as error:
        raise BlockLoadingError(
            f"block {graph.step.block_type} failed to set up: {type(error).__name__}: {error}",
            place=place,
        ) from error
    return block


def _output_plan(
    position: int, output, sources: dict[str, Source], graphs: dict[str, StepGraph]
) -> OutputPlan:
    place = f"outputs[{position}] '{output.name}' field 'selector'"
    selector = parse_selector(output.selector)
    if selector is None or selector.is_step_reference:
        raise SelectorError(
            f"'{output.selector}' is not a data selector",
            place=place,
            hint="use $inputs.<name>, $steps.<step>.<output> or $steps.<step>.*",
        )
    key = f"${selector.source}.{selector.name}"
    if key not in sources:
        what = "input" if selector.source == "inputs" else "step"
        raise SelectorError(
            f"'{output.selector}' points at {what} '{selector.name}', which does not exist",
            place=place,
        )
    source = sources[key]
    if selector.source == "steps":
        step_outputs = graphs[selector.name].outputs
        if selector.output != WILDCARD_OUTPUT and selector.output not in step_outputs:
            raise SelectorError(
                f"step '{selector.name}' has no output '{selector.output}'",
                place=place,
                hint=f"its outputs are: {', '.join(step_outputs)} (or * for all of them)",
            )
        source = Source(
            "step",
            selector.name,
            selector.output,
            source.dimensionality,
            source.lineage,
            step_outputs.get(selector.output or "", frozenset(["dict"])),
        )
    return OutputPlan(output.name, output.selector, source, output.coordinates_system)


def definition_hash(definition: Definition) -> str:
    text = json.dumps(definition.model_dump(mode="json"), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class PlanCache:
    """Compiled plans by (definition content, blocks, init parameters); least recently used out."""

    def __init__(self, size: int = 128):
        self.size = size
        self._plans: OrderedDict[tuple, Plan] = OrderedDict()

    def get(self, key: tuple) -> Plan | None:
        plan = self._plans.get(key)
        if plan is not None:
            self._plans.move_to_end(key)
        return plan

    def put(self, key: tuple, plan: Plan) -> None:
        self._plans[key] = plan
        self._plans.move_to_end(key)
        while len(self._plans) > self.size:
            self._plans.popitem(last=False)

    def clear(self) -> None:
        self._plans.clear()
