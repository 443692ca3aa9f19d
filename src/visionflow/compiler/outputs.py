"""Compiler stage: the workflow's outputs, all checked here.

Names are unique, and each selector points at an input or a step output that exists, by
the same rule (and with the same messages and suggestions) as a step field's selector.
"""

from __future__ import annotations

from dataclasses import replace

from visionflow.compiler.graph import StepGraph, target_kinds
from visionflow.compiler.plan import OutputPlan, Source
from visionflow.definition import Definition, OutputDefinition
from visionflow.errors import DuplicateNameError, SelectorError
from visionflow.selectors import DATA_SELECTORS, parse_selector


def plan_outputs(
    definition: Definition, sources: dict[str, Source], graphs: dict[str, StepGraph]
) -> list[OutputPlan]:
    inputs = {item.name: item for item in definition.inputs}
    seen: set[str] = set()
    plans = []
    for position, output in enumerate(definition.outputs):
        if output.name in seen:
            raise DuplicateNameError(
                f"output name '{output.name}' is used twice", place=f"outputs[{position}]"
            )
        seen.add(output.name)
        place = f"outputs[{position}] '{output.name}' field 'selector'"
        plans.append(_output_plan(output, place, sources, graphs, inputs))
    return plans


def _output_plan(
    output: OutputDefinition,
    place: str,
    sources: dict[str, Source],
    graphs: dict[str, StepGraph],
    inputs: dict,
) -> OutputPlan:
    selector = parse_selector(output.selector)
    if selector is None or selector.is_step_reference:
        raise SelectorError(
            f"'{output.selector}' is not a data selector",
            place=place,
            hint=f"use {DATA_SELECTORS}",
        )
    kinds = target_kinds(selector, graphs, inputs, place)
    source = sources[selector.origin]
    if selector.source == "steps":  # one output of the step (or all of them: '*')
        source = replace(source, output=selector.output, kinds=kinds)
    return OutputPlan(output.name, output.selector, source, output.coordinates_system)


def outputs_read(
    graphs: dict[str, StepGraph], outputs: list[OutputPlan]
) -> dict[str, frozenset[str]]:
    """Per step, the names of its outputs that a step or the workflow's outputs read
    (``*`` reads them all), so a block may skip making one nobody reads."""
    read: dict[str, set[str]] = {name: set() for name in graphs}
    selectors = [ref.selector for graph in graphs.values() for ref in graph.references]
    selectors += [parsed for output in outputs if (parsed := parse_selector(output.selector))]
    for selector in selectors:
        if selector.source != "steps" or selector.output is None:
            continue
        names = graphs[selector.name].outputs if selector.output == "*" else [selector.output]
        read[selector.name].update(names)
    return {name: frozenset(names) for name, names in read.items()}
