"""Calling one step's block on the elements it runs for, and checking what it returns."""

from __future__ import annotations

from typing import Any

from visionflow.blocks.api import FlowControl
from visionflow.compiler.plan import StepPlan
from visionflow.engine.gather import StepInputs, gather
from visionflow.engine.state import MISSING, Index, RunState, pick
from visionflow.errors import StepExecutionError
from visionflow.selectors import step_name


class StepResult:
    """What a step made: rows by index, new nesting (children), flow decisions (a plain
    class with slots: one is made for every step of every run)."""

    __slots__ = ("children", "decisions", "rows")

    def __init__(
        self,
        rows: dict[Index, dict] | None = None,
        children: dict[Index, list[Index]] | None = None,
        decisions: dict[Index, frozenset[str]] | None = None,
    ):
        self.rows = {} if rows is None else rows
        self.children = children
        self.decisions = decisions


def run_step(step: StepPlan, state: RunState) -> StepResult:
    """Run ``step`` on its elements (reads ``state``, never writes it: see ``commit``)."""
    if step.plain_sources is not None:
        return _run_plain(step, state)
    inputs = gather(step, state)
    if not inputs.elements:
        return StepResult(children={} if step.output_offset == 1 else None)
    outcomes = _call_block(step, inputs)
    if step.is_flow_control:
        return StepResult(decisions=_decisions(step, inputs.elements, outcomes))
    if step.output_offset == 1:
        return _nested(step, inputs.elements, outcomes)
    if step.follows is not None:
        return _following(step, inputs, outcomes)
    _check_rows(step, outcomes, inputs.elements)
    return StepResult(rows=dict(zip(inputs.elements, outcomes, strict=True)))


def _run_plain(step: StepPlan, state: RunState) -> StepResult:
    """``run_step`` for a plain step (``StepPlan.plain_sources``), the most common kind: the
    same rules as ``gather`` (an element whose value is missing or None is skipped; an
    empty scalar made by a step skips them all), without its general bookkeeping."""
    rows: dict[Index, dict] = {}
    literals = step.literals
    sources = step.plain_sources
    run = step.block.run
    expected = step.outputs.keys()
    for index in state.elements_at(step.lineage):
        kwargs = dict(literals)
        for name, source, scalar in sources:
            if scalar:
                value = state.scalar(source)
                if value is MISSING or (value is None and source.origin == "step"):
                    return StepResult()
            else:
                value = state.rows_for(source).get(index, MISSING)
                if value is not MISSING and source.origin == "step" and source.output:
                    value = pick(value, source.output)
                if value is MISSING or value is None:
                    break  # an empty value: the element does not run
            kwargs[name] = value
        else:
            try:
                outcome = run(**kwargs)
            except Exception as error:
                raise StepExecutionError(step.name, step.block_type, error, index) from error
            if type(outcome) is not dict or not outcome.keys() >= expected:
                raise _bad_result(step, f"a dict with outputs {sorted(expected)}", outcome)
            rows[index] = outcome
    return StepResult(rows=rows)


def commit(step: StepPlan, result: StepResult, state: RunState) -> None:
    state.step_rows[step.name] = result.rows
    if result.children is not None:
        state.add_level(step.output_lineage, result.children)
    if result.decisions is not None:
        state.decisions[step.name] = result.decisions


def _call_block(step: StepPlan, inputs: StepInputs) -> list[Any]:
    run = step.block.run
    # a batch block given no batch (only parameters, none cast) is called as Roboflow calls
    # it: once per element with the values, returning one result
    if step.accepts_batches and inputs.has_batches:
        try:
            outcomes = run(**inputs.as_batches())
        except Exception as error:
            raise StepExecutionError(step.name, step.block_type, error) from error
        if not isinstance(outcomes, list) or len(outcomes) != len(inputs.elements):
            if type(outcomes) is dict and inputs.elements == [()]:
                return [outcomes]  # Roboflow takes the one result made at the top as it is
            raise _bad_result(
                step, f"a list of {len(inputs.elements)} results (one per element)", outcomes
            )
        return outcomes
    outcomes = []
    for index, kwargs in zip(inputs.elements, inputs.keyword_rows(), strict=True):
        try:
            outcomes.append(run(**kwargs))
        except Exception as error:
            raise StepExecutionError(step.name, step.block_type, error, index) from error
    return outcomes


def _decisions(
    step: StepPlan, elements: list[Index], outcomes: list
) -> dict[Index, frozenset[str]]:
    decisions = {}
    for index, outcome in zip(elements, outcomes, strict=True):
        if not isinstance(outcome, FlowControl):
            raise _bad_result(step, "FlowControl(next_steps=[...])", outcome)
        decisions[index] = frozenset(step_name(target) for target in outcome.next_steps)
    return decisions


def _nested(step: StepPlan, elements: list[Index], outcomes: list) -> StepResult:
    rows: dict[Index, dict] = {}
    children: dict[Index, list[Index]] = {}
    for index, outcome in zip(elements, outcomes, strict=True):
        if not isinstance(outcome, list):
            raise _bad_result(
                step, "a list of results per element (it raises dimensionality)", outcome
            )
        _check_rows(step, outcome, elements)
        kids = [(*index, position) for position in range(len(outcome))]
        children[index] = kids
        rows.update(zip(kids, outcome, strict=True))
    return StepResult(rows=rows, children=children)


def _following(step: StepPlan, inputs: StepInputs, outcomes: list) -> StepResult:
    """Results per child of the reference field, at the children's own indices."""
    rows: dict[Index, dict] = {}
    for children, outcome in zip(inputs.columns[step.follows], outcomes, strict=True):
        if not isinstance(outcome, list) or len(outcome) != len(children):
            raise _bad_result(
                step, f"a list of {len(children)} results (one per '{step.follows}')", outcome
            )
        _check_rows(step, outcome, inputs.elements)
        rows.update(zip(children.indices, outcome, strict=True))
    return StepResult(rows=rows)


def _check_rows(step: StepPlan, outcomes: list, elements: list[Index]) -> None:
    expected = step.outputs.keys()
    for outcome in outcomes:
        if type(outcome) is not dict or not outcome.keys() >= expected:
            raise _bad_result(step, f"a dict with outputs {sorted(expected)}", outcome)


def _bad_result(step: StepPlan, expected: str, found: Any) -> StepExecutionError:
    return bad_result(step.name, step.block_type, expected, found)


def bad_result(name: str, block_type: str, expected: str, found: Any) -> StepExecutionError:
    """The error for a block whose ``run`` returned something else than ``expected``."""
    shown = repr(found)
    shown = shown if len(shown) < 120 else shown[:117] + "..."
    return StepExecutionError(
        name, block_type, TypeError(f"run() must return {expected}, returned {shown}")
    )
