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
from visionflow.compiler.plan import BATCH_MODES, FieldBinding, SelectorBinding, StepPlan
from visionflow.engine.state import MISSING, Index, RunState, pick
from visionflow.selectors import replace_selectors


class StepInputs:
    """The elements a step runs for, with one column of values per selector field.

    ``compounds``: for a batch-accepting block, each list/dict field of selectors as its
    template and one column per selector in it (``as_batches`` makes a list/dict of Batch;
    ``columns`` holds it resolved per element too, for a call per element).
    """

    __slots__ = ("columns", "compounds", "elements", "literals")

    def __init__(
        self,
        elements: list[Index],
        literals: dict[str, Any],
        columns: dict[str, list],
        compounds: dict[str, tuple[FieldBinding, dict[str, list]]] | None = None,
    ):
        self.elements = elements
        self.literals = literals
        self.columns = columns
        self.compounds = compounds or {}

    @property
    def has_batches(self) -> bool:
        """Whether any field gets batch-oriented values (a batch block is called with
        Batches only then; given parameters alone, it is called per element)."""
        if not self.compounds or len(self.columns) > len(self.compounds):
            return bool(self.columns)
        return any(
            binding.compound[text].mode != "scalar"
            for binding, _ in self.compounds.values()
            for text in binding.compound
        )

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
        """kwargs for a batch-accepting block: a Batch per selector field (in a list or dict
        of selectors, a Batch per batch-oriented selector; parameters stay values)."""
        kwargs = dict(self.literals)
        elements = self.elements
        for name, column in self.columns.items():
            kwargs[name] = Batch(column, elements)
        for name, (binding, columns) in self.compounds.items():
            modes = binding.compound
            kwargs[name] = replace_selectors(
                binding.literal,
                lambda text, c=columns, m=modes: (
                    c[text][0] if m[text].mode == "scalar" else Batch(c[text], elements)
                ),
            )
        return kwargs


class _Children:
    """Which children a gathering step gets: those made for the element, less those the
    flow-control steps deciding per child did not choose for this step (Roboflow drops
    them from the Batch; ``_children_batch`` keeps them as None for a block that accepts
    empty values, and says when none left is an empty value)."""

    __slots__ = ("gates", "state")

    def __init__(self, step: StepPlan, state: RunState):
        self.state = state
        self.gates = [
            (state.decisions.get(gate.step, {}), gate.level, step.name) for gate in step.inner_gates
        ]

    def of(self, lineage, parent: Index) -> list[Index] | None:
        made = self.state.children_made(lineage, parent)
        if not made:
            return None
        return self.chosen(made) or None

    def chosen(self, made: list[Index]) -> list[Index]:
        if not self.gates:
            return made
        return [
            child
            for child in made
            if all(name in chosen.get(child[:level], ()) for chosen, level, name in self.gates)
        ]


def gather(step: StepPlan, state: RunState) -> StepInputs:
    unchosen = None
    if step.runs_unchosen:
        elements = state.elements_at(step.lineage)
        chosen = set(gated_elements(step, state))
        unchosen = [p for p, index in enumerate(elements) if index not in chosen] or None
    elif step.outer_gates:
        elements = gated_elements(step, state)
    else:
        elements = state.elements_at(step.lineage)
    children = _Children(step, state) if step.inner_gates else None
    literals = dict(step.literals)
    columns: dict[str, list] = {}
    # a batch block's lists/dicts of selectors, selector by selector (made into lists/dicts
    # of Batch); None for other blocks, which get them resolved per element
    raw: dict[str, dict[str, list]] | None = {} if step.batch_compounds else None
    keep_empty = step.accepts_empty
    # an empty value arrives as None in a block that accepts them: made so at once on the
    # hot path below, by a pass over the other columns at the end
    empty = None if keep_empty else MISSING
    scan: list[list] = []
    for binding in step.column_fields:
        selector = binding.selector
        mode = selector.mode if selector is not None else None
        if mode == "direct" and not unchosen:  # the hot path: a value per element
            columns[binding.name] = _direct_column(selector.source, elements, state, empty)
        elif mode == "scalar":
            value = state.scalar(selector.source)
            if value is None and not keep_empty and selector.source.origin == "step":
                value = MISSING  # Roboflow's rule: a step's None is an empty value
            literals[binding.name] = value
        else:
            column = _column(binding, elements, state, keep_empty, raw, children, unchosen)
            columns[binding.name] = column
            scan.append(column)
    compounds = (
        {name: (step.compound_fields[name], cols) for name, cols in raw.items()} if raw else None
    )
    if not keep_empty:
        return _without_missing(elements, literals, columns, compounds)
    return _with_missing_as_none(elements, literals, columns, compounds, scan)


def _with_missing_as_none(elements, literals, columns, compounds, scan: list) -> StepInputs:
    """For a block that accepts empty values: every missing value given as None (in place:
    gather made these dicts and lists for this call; ``scan``: the columns that may still
    hold MISSING)."""
    missing = MISSING
    for name, value in literals.items():
        if value is missing:
            literals[name] = None
    every = scan
    for _, cols in (compounds or {}).values():
        every.extend(cols.values())
    for column in every:
        for position, value in enumerate(column):
            if value is missing:
                column[position] = None
    return StepInputs(elements, literals, columns, compounds)


def gated_elements(step: StepPlan, state: RunState) -> list[Index]:
    elements = state.elements_at(step.lineage)
    for gate in step.outer_gates:  # (gates per child of a gathering step filter children)
        chosen = state.decisions.get(gate.step, {})
        name, level = step.name, gate.level
        elements = [index for index in elements if name in chosen.get(index[:level], ())]
    return elements


def _column(
    binding: FieldBinding,
    elements: list[Index],
    state: RunState,
    keep_empty: bool,
    raw: dict[str, dict[str, list]] | None,
    children: _Children | None,
    unchosen: list[int] | None = None,
) -> list:
    if binding.selector is not None:
        column = _selector_column(binding.selector, elements, state, keep_empty, children)
        return _masked(column, binding.selector, unchosen) if unchosen else column
    columns = {
        text: _selector_column(sb, elements, state, keep_empty, children)
        for text, sb in binding.compound.items()
    }
    if unchosen:
        columns = {
            text: _masked(column, binding.compound[text], unchosen)
            for text, column in columns.items()
        }
    if raw is not None:
        raw[binding.name] = columns
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


def _masked(column: list, binding: SelectorBinding, unchosen: list[int]) -> list:
    """A batch's values missing where the step's gates did not choose the element (scalars
    stay: Roboflow gives them as they are)."""
    if binding.mode not in BATCH_MODES:
        return column
    column = list(column)
    for position in unchosen:
        value = column[position]
        if binding.mode == "grouped" and isinstance(value, Batch):  # each child masked
            column[position] = Batch([None] * len(value), list(value.indices))
        else:
            column[position] = MISSING
    return column


def _direct_column(source, elements: list[Index], state: RunState, empty: Any = MISSING) -> list:
    """The values of a source at the step's own level, one per element (``empty`` where
    there is none)."""
    rows = state.rows_for(source)
    missing = MISSING
    output = source.output if source.origin == "step" else None
    if output is None:
        return [rows.get(key, empty) for key in elements]
    if output == "*":
        return [
            pick(row, output) if (row := rows.get(key, missing)) is not missing else empty
            for key in elements
        ]
    return [
        row[output] if (row := rows.get(key, missing)) is not missing else empty for key in elements
    ]


def _selector_column(
    binding: SelectorBinding,
    elements: list[Index],
    state: RunState,
    keep_empty: bool,
    children: _Children | None,
) -> list:
    source = binding.source
    if binding.mode in ("scalar", "cast"):
        return [state.scalar(source)] * len(elements)
    if binding.mode == "cast_grouped":
        return _cast_batches(binding, elements, state, keep_empty, children)
    if binding.mode == "grouped":
        rows = state.rows_for(source)
        return [
            _children_batch(binding, index, rows, keep_empty, state, children) for index in elements
        ]
    if binding.mode == "broadcast":  # the parent's value, for each of its children
        depth = source.dimensionality
        return _direct_column(source, [index[:depth] for index in elements], state)
    return _direct_column(source, elements, state)


def _children_batch(
    binding: SelectorBinding,
    parent: Index,
    rows,
    keep_empty: bool,
    state: RunState,
    children: _Children | None,
) -> Batch:
    output = binding.source.output if binding.source.origin == "step" else None
    lineage = binding.source.lineage
    made = state.children_made(lineage, parent)
    if not made:  # no children: an empty value (see _Children)
        return Batch([], []) if keep_empty else MISSING
    unchosen = None
    if children is not None:
        chosen = children.chosen(made)
        if not keep_empty:
            made = chosen
        elif len(chosen) < len(made):  # kept, as None (Roboflow gives masked children so)
            unchosen = set(made).difference(chosen)
    values, indices = [], []
    for child in made:
        row = rows.get(child, MISSING)
        value = row if output is None else pick(row, output)
        if value is MISSING or value is None or (unchosen and child in unchosen):
            if not keep_empty:
                continue
            value = None
        values.append(value)
        indices.append(child)
    if not values and not parent and not keep_empty:
        # Roboflow's rule: children made but none left (chosen by no gate, or None) is an
        # empty value when gathering into a scalar; at a deeper level the step runs on none
        return MISSING
    return Batch(values, indices)


def _cast_batches(
    binding: SelectorBinding,
    elements: list[Index],
    state: RunState,
    keep_empty: bool,
    children: _Children | None,
) -> list:
    """A scalar as a Batch per element: a copy for each child of the element (or one copy
    when the step is given no children to follow)."""
    value = state.scalar(binding.source)
    if value is MISSING:
        return [MISSING] * len(elements)
    group = binding.group_lineage
    batches = []
    for index in elements:
        if not group:
            kids = [(*index, 0)]
        else:
            kids = (  # with empty values accepted, unchosen children are kept (as None)
                state.children_made(group, index)
                if children is None or keep_empty
                else children.of(group, index)
            )
        if not kids:  # no children: an empty value (see _Children)
            batches.append(Batch([], []) if keep_empty else MISSING)
            continue
        batches.append(Batch([value] * len(kids), list(kids)))
    return batches


def _without_missing(elements, literals, columns, compounds) -> StepInputs:
    """Drops the elements for which some batch-oriented input is empty (masked out, never
    made, or None); scalars (``literals``) are empty only when never made (or, made by a
    step, None)."""
    if any(value is MISSING for value in literals.values()):
        return StepInputs(
            [], literals, {name: [] for name in columns}, _kept_compounds(compounds, [])
        )
    # Identity tests only: `in` would compare arrays with ==. Columns hold batch-oriented
    # values only (a scalar selector field is a literal; compounds resolved, with MISSING
    # where one of their batch-oriented values is missing).
    missing = MISSING
    if not _holds_empty(columns, missing):
        return StepInputs(elements, literals, columns, compounds)
    keep = [
        position
        for position, values in enumerate(zip(*columns.values(), strict=True))
        if not any(v is missing or v is None for v in values)
    ]
    return StepInputs(
        [elements[p] for p in keep],
        literals,
        {name: [column[p] for p in keep] for name, column in columns.items()},
        _kept_compounds(compounds, keep),
    )


def _holds_empty(columns: dict[str, list], missing: Any) -> bool:
    """Whether a column holds a missing or None value (plain loops: run for every step of
    every run, where a generator costs more than the check)."""
    for column in columns.values():
        for value in column:
            if value is missing or value is None:
                return True
    return False


def _kept_compounds(compounds, keep: list[int]):
    if not compounds:
        return None
    return {
        name: (binding, {text: [column[p] for p in keep] for text, column in cols.items()})
        for name, (binding, cols) in compounds.items()
    }
