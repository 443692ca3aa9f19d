"""The Plan: everything about a workflow that does not depend on runtime data.

Immutable after compile and cheap to run many times: the engine reads it, never changes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from visionflow.blocks.api import Block, BlockManifest
from visionflow.definition import Definition, InputDefinition
from visionflow.selectors import INPUTS

Lineage = tuple[str, ...]
INPUTS_LINEAGE = INPUTS  # input batches: the lineage is named as their selectors start


@dataclass(frozen=True)
class Source:
    """Where a selector's value comes from: an input, or a step's output ('*' for all)."""

    origin: Literal["input", "step"]
    name: str
    output: str | None
    dimensionality: int
    lineage: Lineage
    kinds: frozenset[str]


SelectorMode = Literal["scalar", "direct", "broadcast", "grouped", "cast", "cast_grouped"]
"""scalar: dimensionality 0; direct: same level as the step; broadcast: from a parent
level; grouped: one level deeper, delivered as a Batch of children per element; cast: a
scalar in a field of ``Block.batch_fields``, repeated for each element; cast_grouped: the
same where the field takes children, a Batch of copies per element (one per child of
``group_lineage``, or a single copy when there is none)."""
BATCH_MODES = frozenset({"direct", "broadcast", "grouped"})  # values of batches, not scalars


@dataclass(frozen=True)
class SelectorBinding:
    text: str
    source: Source
    mode: SelectorMode
    group_lineage: Lineage = ()


@dataclass(frozen=True)
class FieldBinding:
    """One manifest field: a literal, a single selector, or a list/dict holding selectors."""

    name: str
    literal: Any = None
    selector: SelectorBinding | None = None
    compound: dict[str, SelectorBinding] | None = None  # selector text -> binding

    @property
    def is_literal(self) -> bool:
        return self.selector is None and self.compound is None


@dataclass(frozen=True)
class Gate:
    """A flow-control step that must select this step for an element to run."""

    step: str
    level: int


@dataclass
class StepPlan:
    name: str
    block_type: str
    block: Block
    manifest: BlockManifest
    fields: list[FieldBinding]
    level: int  # dimensionality the step iterates over
    lineage: Lineage  # lineage of that level
    output_dimensionality: int
    output_lineage: Lineage
    outputs: dict[str, frozenset[str]]
    gates: list[Gate] = field(default_factory=list)
    depends_on: frozenset[str] = frozenset()
    is_flow_control: bool = False
    follows: str | None = None  # the deeper field whose children the results are aligned with
    # Read on every run: worked out once here rather than per call.
    accepts_batches: bool = field(init=False)
    accepts_empty: bool = field(init=False)
    output_offset: int = field(init=False)
    literals: dict[str, Any] = field(init=False)
    column_fields: list[FieldBinding] = field(init=False)
    outer_gates: list[Gate] = field(init=False)  # choose the elements the step runs for
    inner_gates: list[Gate] = field(init=False)  # choose the children a gathering step gets
    batch_compounds: bool = field(init=False)  # lists/dicts of selectors given as Batches
    compound_fields: dict[str, FieldBinding] = field(init=False)
    runs_unchosen: bool = field(init=False)  # see __post_init__
    # a step called once per element with plain values (no gates, batches, nesting or empty
    # values): the engine's short path (step_runner._run_plain); its fields' sources
    plain_sources: list[tuple[str, Source, bool]] | None = field(init=False)

    def __post_init__(self) -> None:
        self.accepts_batches = self.block.accepts_batches
        self.accepts_empty = self.block.accepts_empty
        self.output_offset = self.block.output_dimensionality_offset
        self.literals = {f.name: f.literal for f in self.fields if f.is_literal}
        self.column_fields = [f for f in self.fields if not f.is_literal]
        self.outer_gates = [gate for gate in self.gates if gate.level <= self.level]
        self.inner_gates = [gate for gate in self.gates if gate.level > self.level]
        self.compound_fields = {f.name: f for f in self.column_fields if f.compound}
        self.batch_compounds = self.accepts_batches and bool(self.compound_fields)
        # Roboflow calls a block accepting empty values that is fed batches for the
        # elements its gates did not choose too, its batch-oriented values there None
        self.runs_unchosen = (
            bool(self.outer_gates)
            and self.accepts_empty
            and any(
                binding.mode in BATCH_MODES
                for f in self.column_fields
                for binding in ([f.selector] if f.selector else f.compound.values())
            )
        )
        self.plain_sources = self._plain_sources()

    def _plain_sources(self) -> list[tuple[str, Source, bool]] | None:
        """(field, source, is a scalar) of each selector field when the step is plain."""
        plain = not (
            self.is_flow_control
            or self.accepts_batches
            or self.accepts_empty
            or self.output_offset
            or self.follows is not None
            or self.gates
            or self.compound_fields
        ) and all(f.selector.mode in ("direct", "scalar") for f in self.column_fields)
        if not plain:
            return None
        fields = self.column_fields
        return [(f.name, f.selector.source, f.selector.mode == "scalar") for f in fields]


@dataclass(frozen=True)
class OutputPlan:
    name: str
    selector: str
    source: Source
    coordinates_system: str


@dataclass
class Plan:
    definition: Definition
    inputs: list[InputDefinition]
    steps: dict[str, StepPlan]
    order: list[str]  # a topological order of step names
    outputs: list[OutputPlan]
    settings: dict[str, Any] = field(default_factory=dict)
    video_states: Any = None  # blocks.video_state.VideoStates of this plan's steps

    def dependents(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {name: [] for name in self.steps}
        for step in self.steps.values():
            for dependency in step.depends_on:
                found[dependency].append(step.name)
        return found
