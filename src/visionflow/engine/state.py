"""The bookkeeping of one run: which elements exist at each level, and what each step made.

Indices are tuples: ``(2,)`` is the third input element, ``(2, 4)`` its fifth child.
Everything about batches, nesting and masks lives here and in ``gather``; blocks only
ever see flat values or ``Batch`` objects.
"""

from __future__ import annotations

from typing import Any

from visionflow.compiler.plan import Lineage, Source

Index = tuple[int, ...]


class _Missing:
    """A value that does not exist for an element (masked out or never made)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class RunState:
    def __init__(self) -> None:
        self.indices: dict[Lineage, list[Index]] = {(): [()]}
        self.children: dict[Lineage, dict[Index, list[Index]]] = {}
        self.input_values: dict[str, Any] = {}  # scalar, or {index: value} for batches
        self.step_rows: dict[str, dict[Index, dict]] = {}
        self.decisions: dict[str, dict[Index, frozenset[str]]] = {}

    def add_level(self, lineage: Lineage, children: dict[Index, list[Index]]) -> None:
        """Register a nesting level: for each parent index, the indices of its children."""
        self.children[lineage] = children
        self.indices[lineage] = [child for kids in children.values() for child in kids]

    def elements_at(self, lineage: Lineage) -> list[Index]:
        return self.indices.get(lineage, [])

    def children_of(self, lineage: Lineage, parent: Index) -> list[Index]:
        return self.children.get(lineage, {}).get(parent, [])

    def children_made(self, lineage: Lineage, parent: Index) -> list[Index] | None:
        """The children of ``parent``, or None when none were ever made for it (the step
        making them did not run for it), unlike a step that made none (``[]``)."""
        return self.children.get(lineage, {}).get(parent)

    def rows_for(self, source: Source) -> dict[Index, Any]:
        """{index: value} for a batch-oriented source (step rows are whole output dicts)."""
        if source.origin == "input":
            return self.input_values[source.name]
        return self.step_rows.get(source.name, {})

    def scalar(self, source: Source) -> Any:
        if source.origin == "input":
            return self.input_values[source.name]
        row = self.step_rows.get(source.name, {}).get((), MISSING)
        return pick(row, source.output)

    def value_at(self, source: Source, index: Index) -> Any:
        """The value of ``source`` for one element (MISSING when it does not exist)."""
        if source.dimensionality == 0:
            return self.scalar(source)
        row = self.rows_for(source).get(index[: source.dimensionality], MISSING)
        return row if source.origin == "input" else pick(row, source.output)


def pick(row: Any, output: str | None) -> Any:
    """One output of a step's row ('*' or None: the whole row as a new dict)."""
    if row is MISSING:
        return MISSING
    if output is None or output == "*":
        return dict(row)
    return row[output]
