"""The express lane: a run of one element through a plan whose steps are all plain.

The commonest call, ``workflow.run(image=frame)`` on a chain of plain steps (no flow
control, batches, nesting or gates: ``StepPlan.plain_sources``), needs none of the run
state's bookkeeping: each input has one value and each step at most one row. This lane
keeps those values in flat lists, worked out once per plan, and gives the results the
general path gives, with the same checks and errors (inputs are read by the same
``InputLoader`` functions, steps are skipped and fail by ``step_runner._run_plain``'s rules,
results are built by ``outputs``' rules). It is a speed-up only: a run it does not cover
(a batch, a recorder, a plan with other steps) goes the general way.
"""

from __future__ import annotations

from typing import Any

from visionflow.compiler.plan import Plan, Source
from visionflow.engine.inputs import InputLoader
from visionflow.engine.outputs import ResultBuilder, per_input_element
from visionflow.engine.parameter_checks import ParameterCheck
from visionflow.engine.state import MISSING
from visionflow.engine.step_runner import bad_result
from visionflow.errors import StepExecutionError

_ELEMENT = (0,)  # the one element's index, as the general path names it in errors


class _Step:
    """One plain step, its fields resolved to slots of the run's value list."""

    __slots__ = ("block", "block_type", "expected", "index", "literals", "name", "slot", "sources")

    def __init__(self, step: Any, slots: dict[tuple[str, str], int], slot: int):
        self.name = step.name
        self.block_type = step.block_type
        self.block = step.block  # its run read at each call, as the general path reads it
        self.literals = step.literals
        self.expected = step.outputs.keys()
        self.index = () if step.level == 0 else _ELEMENT
        self.slot = slot
        # (field, slot of its value, the output read from a step's row or None, is a
        # scalar, comes from a step): what _run_plain reads from the run state
        self.sources = [
            (
                name,
                slots[(source.origin, source.name)],
                source.output if source.origin == "step" else None,
                scalar,
                source.origin == "step",
            )
            for name, source, scalar in step.plain_sources
        ]

    def __call__(self, values: list[Any]) -> None:
        kwargs = dict(self.literals)
        for name, slot, output, scalar, from_step in self.sources:
            value = values[slot]
            if value is not MISSING and output is not None:
                value = value[output] if output != "*" else dict(value)
            if value is MISSING or value is None:
                if scalar and value is None and not from_step:
                    kwargs[name] = None  # a parameter given as None is a value
                    continue
                return  # an empty value: the step makes no row (values[slot] stays MISSING)
            kwargs[name] = value
        try:
            outcome = self.block.run(**kwargs)
        except Exception as error:
            raise StepExecutionError(self.name, self.block_type, error, self.index) from error
        if type(outcome) is not dict or not outcome.keys() >= self.expected:
            raise bad_result(
                self.name, self.block_type, f"a dict with outputs {sorted(self.expected)}", outcome
            )
        values[self.slot] = outcome


class ExpressLane:
    """Runs one element through ``plan`` when every step is plain (``covers``)."""

    def __init__(self, plan: Plan, loader: InputLoader, checks: list[ParameterCheck]):
        self.loader = loader
        names = [("input", item.name) for item in plan.inputs]
        names += [("step", name) for name in plan.order]
        slots = {name: slot for slot, name in enumerate(names)}
        self.size = len(names)
        self.parameters = [(slots[("input", i.name)], i) for i in loader.parameters]
        self.batch_inputs = [
            (slots[("input", i.name)], i, loader.first_place(i.name)) for i in loader.batch_inputs
        ]
        # each parameter's checks (against the step fields it feeds) with its value's slot
        self.checks = [(check, slots[("input", check.parameter)]) for check in checks]
        self.steps = [_Step(plan.steps[name], slots, slots[("step", name)]) for name in plan.order]
        results = ResultBuilder(plan.outputs, plan.steps)
        # (name, slot, the output read from a step's row, or the whole row (a copy), ...)
        self.outputs = [
            (output.name, slots[(output.source.origin, output.source.name)],
             *_read_from(output.source), translate, absent)
            for output, translate, absent in zip(
                plan.outputs, results.translate, results.absent, strict=True
            )
        ]  # fmt: skip

    @staticmethod
    def covers(plan: Plan, loader: InputLoader, in_order: bool) -> bool:
        """Whether every run of one element of ``plan`` can take this lane: its steps plain
        and never run at the same time (``in_order``: independent steps keep their threads
        on the general path), its outputs one value each."""
        return (
            in_order
            and loader.flat
            and all(step.plain_sources is not None for step in plan.steps.values())
            and all(_one_value(output.source) for output in plan.outputs)
            and all(per_input_element(output) or output.source.dimensionality == 0
                    for output in plan.outputs)
        )  # fmt: skip

    def run(self, given: dict[str, Any]) -> list[dict[str, Any]] | None:
        """The results of a run of one element; None when ``given`` is a batch (the general
        path runs it)."""
        loader = self.loader
        if not loader.one_element(given):
            return None
        loader.check_names(given)
        values: list[Any] = [MISSING] * self.size
        for slot, item in self.parameters:
            values[slot] = loader.parameter_value(item, given)
        for slot, item, place in self.batch_inputs:
            values[slot] = loader.element(item, given, place)
        for check, slot in self.checks:
            check(values[slot])
        for step in self.steps:
            step(values)
        result: dict[str, Any] = {}
        for name, slot, key, whole, translate, absent in self.outputs:
            value = values[slot]
            if value is MISSING:
                value = None if absent is None else dict(absent)
            else:
                if key is not None:
                    value = value[key]
                elif whole:
                    value = dict(value)
                if translate is not None:
                    value = translate(value)
            result[name] = value
        return [result]


def _read_from(source: Source) -> tuple[str | None, bool]:
    """How an output takes its value from its slot: (the key read from a step's row, or
    None; whether the whole row is given, as a copy); an input's value as it is."""
    if source.origin != "step":
        return None, False
    whole = source.output in (None, "*")
    return (None if whole else source.output), whole


def _one_value(source: Source) -> bool:
    """An output read straight from one value (no list of children to lay out)."""
    return source.dimensionality <= 1
