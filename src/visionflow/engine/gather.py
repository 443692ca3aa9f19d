"""Which elements a step runs for, and the values each of its fields gets for them.

An element runs when every flow-control gate selected it and (unless the block accepts
empty values) none of its batch-oriented inputs is missing or None (Roboflow's rule: None
is an empty value; the element's outputs are then None). Scalars are given as they are.
Field values come as columns aligned with those elements: direct values by index, parent
values broadcast, deeper values grouped into one ``Batch`` of children per element.
"""

from __future__ import annotations

from typing import Any

from visionflow.blocks.api import Batch
from visionflow.compiler.plan import FieldBinding, SelectorBinding, StepPlan
from visionflow.engine.state import MISSING, Index, RunState, pick
from visionflow.selectors import replace_selectors


class StepInputs:
    """The elements a step runs for, with one column of values per selector field."""

    __slots__ = ("columns", "elements", "literals")

    def __init__(self, elements: list[Index], literals: dict[str, Any], columns: dict[str, list]):
        self.elements = elements
        self.literals = literals
        self.columns = columns

    def keyword_rows(self) -> list[dict[str, Any]]:
        """One kwargs dict per element, for blocks called element by element."""
        literals = self.literals
        if len(self.columns) == 1:  # the common case, and the hot path at large batches
            ((name, column),) = self.columns.items()
            return [{**literals, name: value} for value in column]
        if not self.columns:
            return [dict(literals) for _ in self.elements]
        names = list(self.columns)
        return [
            {**literals, **dict(zip(names, values, strict=True))}
            for values in zip(*self.columns.values(), strict=True)
        ]

    def as_batches(self) -> dict[str, Any]:
        """kwargs for a batch-accepting block: a Batch per selector field."""
        kwargs = dict(self.literals)
        for name, column in self.columns.items():
            kwargs[name] = Batch(column, self.elements)
        return kwargs


def gather(step: StepPlan, state: RunState) -> StepInputs:
    elements = _gated_elements(step, state) if step.gates else state.elements_at(step.lineage)
    literals = dict(step.literals)
    columns: dict[str, list] = {}
    keep_empty = step.accepts_empty
    for binding in step.column_fields:
        if binding.selector is not None and binding.selector.mode == "scalar":
            literals[binding.name] = state.scalar(binding.selector.source)
        else:
            columns[binding.name] = _column(binding, elements, state, keep_empty)
    if not keep_empty:
        return _without_missing(elements, literals, columns)
    literals = {k: None if v is MISSING else v for k, v in literals.items()}
    columns = {k: [None if v is MISSING else v for v in c] for k, c in columns.items()}
    return StepInputs(elements, literals, columns)


def _gated_elements(step: StepPlan, state: RunState) -> list[Index]:
    elements = state.elements_at(step.lineage)
    for gate in step.gates:
        chosen = state.decisions.get(gate.step, {})
        name, level = step.name, gate.level
        elements = [index for index in elements if name in chosen.get(index[:level], ())]
    return elements


def _column(
    binding: FieldBinding, elements: list[Index], state: RunState, keep_empty: bool
) -> list:
    if binding.selector is not None:
        return _selector_column(binding.selector, elements, state, keep_empty)
    columns = {
        text: _selector_column(sb, elements, state, keep_empty)
        for text, sb in binding.compound.items()
    }
    resolved = []
    for position in range(len(elements)):
        values = {text: column[position] for text, column in columns.items()}
        if not keep_empty and any(
            value is MISSING or (value is None and binding.compound[text].mode != "scalar")
            for text, value in values.items()
        ):
            resolved.append(MISSING)
            continue
        resolved.append(
            replace_selectors(
                binding.literal, lambda text, v=values: None if v[text] is MISSING else v[text]
            )
        )
    return resolved


def _selector_column(
    binding: SelectorBinding, elements: list[Index], state: RunState, keep_empty: bool
) -> list:
    source = binding.source
    if binding.mode == "scalar":
        return [state.scalar(source)] * len(elements)
    rows = state.rows_for(source)
    output = source.output if source.origin == "step" else None
    if binding.mode == "grouped":
        return [_children_batch(binding, index, rows, state, keep_empty) for index in elements]
    if binding.mode == "broadcast":
        depth = source.dimensionality
        keys = [index[:depth] for index in elements]
    else:
        keys = elements
    if output is None:
        return [rows.get(key, MISSING) for key in keys]
    if output == "*":
        return [pick(rows.get(key, MISSING), output) for key in keys]
    missing = MISSING
    return [
        row[output] if (row := rows.get(key, missing)) is not missing else missing for key in keys
    ]


def _children_batch(
    binding: SelectorBinding, parent: Index, rows, state: RunState, keep_empty: bool
) -> Batch:
    output = binding.source.output if binding.source.origin == "step" else None
    values, indices = [], []
    for child in state.children_of(binding.source.lineage, parent):
        row = rows.get(child, MISSING)
        value = row if output is None else pick(row, output)
        if value is MISSING or value is None:
            if not keep_empty:
                continue
            value = None
        values.append(value)
        indices.append(child)
    return Batch(values, indices)


def _without_missing(elements, literals, columns) -> StepInputs:
    """Drops the elements for which some batch-oriented input is empty (masked out, never
    made, or None); scalars (``literals``) are empty only when never made."""
    if any(value is MISSING for value in literals.values()):
        return StepInputs([], literals, {name: [] for name in columns})
    # Identity tests only: `in` would compare arrays with ==. Columns hold batch-oriented
    # values only (a scalar selector field is a literal; compounds resolved above).
    missing = MISSING
    if not any(v is missing or v is None for column in columns.values() for v in column):
        return StepInputs(elements, literals, columns)
    keep = [
        position
        for position, values in enumerate(zip(*columns.values(), strict=True))
        if not any(v is missing or v is None for v in values)
    ]
    return StepInputs(
        [elements[p] for p in keep],
        literals,
        {name: [column[p] for p in keep] for name, column in columns.items()},
    )
