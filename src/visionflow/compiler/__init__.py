"""The compiler: Definition -> Plan, in stages, each with its own errors.

inline inner workflows -> load blocks -> parse steps -> graph (edges, kinds, cycles) ->
lineage & dimensionality -> flow control -> outputs -> initialise blocks.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any, Generic, TypeVar

from visionflow.blocks.api import is_flow_control_block
from visionflow.blocks.loader import BlockRegistry, resolve_init_parameters
from visionflow.blocks.video_state import VideoStates
from visionflow.compiler.dimensions import StepLayout, gates_of, input_source
from visionflow.compiler.graph import build_graph, predecessors_of, topological_order
from visionflow.compiler.inner_workflows import Inlined, inline_inner_workflows, with_child_blocks
from visionflow.compiler.inputs import check_input_kinds, check_parameter_defaults
from visionflow.compiler.outputs import outputs_read, plan_outputs
from visionflow.compiler.plan import Plan, Source, StepPlan
from visionflow.compiler.steps import parse_steps
from visionflow.data.sources import LOCAL
from visionflow.definition import Definition
from visionflow.errors import BlockLoadingError, WorkflowError
from visionflow.selectors import input_selector, step_selector

__all__ = ["Plan", "PlanCache", "compile_plan", "definition_hash"]

V = TypeVar("V")


def compile_plan(
    definition: Definition,
    registry: BlockRegistry,
    init_parameters: dict[str, Any] | None = None,
    *,
    allow_custom_code: bool = True,
    model_limits: Any = None,
    image_policy: Any = None,
    load_models: bool = True,
) -> Plan:
    # First: Roboflow's inner workflow steps become the child's steps (compiler/inner_workflows)
    inlined = _inlined(definition, registry)
    registry = with_child_blocks(registry, inlined, allow_custom_code)
    with inlined.places():  # an error in an inlined step is named at its place in the child
        plan = _compile_plan(
            inlined.definition,
            registry,
            init_parameters,
            allow_custom_code=allow_custom_code,
            model_limits=model_limits,
            image_policy=image_policy,
            load_models=load_models,
        )
    plan.definition = definition  # as written, children (and their code) included: its hash
    return plan


def _inlined(definition: Definition, registry: BlockRegistry) -> Inlined:
    """``inline_inner_workflows``; where it stops at an error of the parent's own steps (a
    name used twice), the parent's steps are each checked too, so that every wrong one is
    reported with it (``parse_steps``: the first error, the others in its ``also``)."""
    try:
        return inline_inner_workflows(definition)
    except WorkflowError as stopped:
        try:
            parse_steps(definition, registry)
        except WorkflowError as found:
            if any(_same_error(stopped, error) for error in (found, *found.also)):
                raise found from None
        raise


def _same_error(one: WorkflowError, other: WorkflowError) -> bool:
    return (type(one), one.place, one.message) == (type(other), other.place, other.message)


def _compile_plan(
    definition: Definition,
    registry: BlockRegistry,
    init_parameters: dict[str, Any] | None,
    *,
    allow_custom_code: bool,
    model_limits: Any,
    image_policy: Any,
    load_models: bool,
) -> Plan:
    steps = parse_steps(definition, registry)
    graphs = build_graph(definition, steps)
    order = topological_order(graphs)
    predecessors = predecessors_of(graphs)
    sources: dict[str, Source] = {
        input_selector(item.name): input_source(item) for item in definition.inputs
    }
    layouts: dict[str, StepLayout] = {}
    for name in order:
        controllers = {step: layouts[step] for step in graphs[name].controllers}
        layouts[name] = StepLayout(graphs[name], sources, controllers)
        sources[step_selector(name)] = layouts[name].step_source(None, frozenset())
    gates = {name: gates_of(name, layouts[name], graphs, layouts) for name in order}
    outputs = plan_outputs(definition, sources, graphs)
    check_input_kinds(definition)
    check_parameter_defaults(definition)
    read = outputs_read(graphs, outputs)
    # Last: initialising blocks may be expensive (models), so only a checked plan gets there.
    given = {
        "models": _model_library(definition, allow_custom_code, model_limits, load_models),
        **(init_parameters or {}),
        "allow_custom_code": allow_custom_code,  # never from the document or init parameters
        "image_policy": image_policy or LOCAL,  # the same: where images may come from
        "workflow_state": {},  # shared by this plan's steps only (e.g. Roboflow's cache)
        "video_states": VideoStates(),  # this plan's per-video state (trackers, zones)
    }
    plans = {
        name: _step_plan(
            graphs[name],
            layouts[name],
            gates[name],
            predecessors[name],
            registry,
            given,
            read[name],
        )
        for name in order
    }
    return Plan(
        definition,
        list(definition.inputs),
        plans,
        order,
        outputs,
        dict(definition.settings),
        video_states=given["video_states"],
    )


def _step_plan(
    graph, layout: StepLayout, gates, predecessors, registry, given, read: frozenset[str]
) -> StepPlan:
    block_class = graph.step.loaded.block_class
    return StepPlan(
        name=graph.step.name,
        block_type=graph.step.block_type,
        block=_initialise(graph, registry, given, read),
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
        follows=layout.follows,
    )


def _model_library(definition: Definition, allow_files: bool, limits: Any, load: bool):
    from visionflow.models.library import ModelLibrary  # models are optional: import on use

    # a model id given by a parameter with a default is loaded (and checked) at compile time
    defaults = {
        item.name: item.default_value
        for item in definition.inputs
        if not item.is_batch_oriented and "default_value" in item.model_fields_set
    }
    return ModelLibrary(
        definition.models,
        definition.settings,
        allow_files=allow_files,
        limits=limits,
        parameter_defaults=defaults,
        load=load,  # False: models checked against their files, no session started
    )


def _initialise(graph, registry: BlockRegistry, given: dict[str, Any], read: frozenset[str]):
    loaded, place = graph.step.loaded, graph.step.place
    values = resolve_init_parameters(loaded, given, registry, place)
    try:
        block = loaded.block_class(**values)
        block.outputs_read = read
        block.setup(graph.step.manifest)
    except WorkflowError as error:
        error.at(place)  # the same error (class, cause), now named at its step
        raise
    except Exception as error:
        raise BlockLoadingError(
            f"block {graph.step.block_type} failed to set up: {type(error).__name__}: {error}",
            place=place,
        ) from error
    return block


def definition_hash(definition: Definition) -> str:
    # what the document says: a default_value written as null is not one left out
    written = definition.model_dump(mode="json", exclude_unset=True)
    text = json.dumps(written, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class PlanCache(Generic[V]):
    """Compiled workflows by key; the least recently used go first when it is full.

    Thread-safe: the server compiles from many threads, and even a read reorders the
    entries (a ``get`` moves its key to the end), so every access holds the cache's lock.
    """

    def __init__(self, size: int = 128):
        self.size = size
        self._entries: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: Hashable, value: V) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
