"""The express lane: a run of one element through a plan whose steps are all plain.

The commonest call, ``workflow.run(image=frame)`` on a chain of plain steps (no flow
control, batches, nesting or gates: ``StepPlan.plain_sources``), needs none of the run
state's bookkeeping: each input has one value and each step at most one row. For such a
plan this lane writes one Python function, once (as ``dataclasses`` writes ``__init__``),
whose local variables hold the run's values: no loop, lookup or list per run is left but
the block calls themselves. On a 20 us operation (a threshold on 512x512) the general
loops cost as much as the 10 % a workflow may add.

The function gives the results the general path gives, with the same checks and errors:
inputs are read by the same ``InputLoader`` functions, steps are skipped and fail by
``step_runner._run_plain``'s rules, results are built by ``outputs``' rules. It is a
speed-up only: a run it does not cover (a batch, a recorder, a plan with other steps) goes
the general way. ``source`` keeps the text written, for a reader and for the tests.
"""

from __future__ import annotations

import keyword
from typing import Any

import numpy as np

from visionflow.compiler.plan import Plan, Source
from visionflow.data.image import load_image
from visionflow.engine.inputs import InputLoader, listed_values, parameter_value
from visionflow.engine.outputs import ResultBuilder, per_input_element
from visionflow.engine.parameter_checks import ParameterCheck
from visionflow.engine.state import MISSING
from visionflow.engine.step_runner import bad_result
from visionflow.errors import StepExecutionError

_ELEMENT = (0,)  # the one element's index, as the general path names it in errors


class ExpressLane:
    """Runs one element through ``plan`` when every step is plain (``covers``)."""

    def __init__(
        self,
        plan: Plan,
        loader: InputLoader,
        checks: list[ParameterCheck],
        results: ResultBuilder,
    ):
        # written at the first run, not here: Python compiles the text at ~60 us a step,
        # a cost a workflow only validated (or compiled and dropped) should not pay
        self._writer = _Writer(plan, loader, checks, results)
        self._source: str | None = None

    def run(self, given: dict[str, Any]) -> list[dict[str, Any]] | None:
        """The results of a run of one element; None when ``given`` is a batch (the general
        path runs it). The first call writes the function that later calls run straight
        (it takes this method's place on the instance)."""
        self.run = self._written()  # type: ignore[method-assign]
        return self.run(given)

    @property
    def source(self) -> str:
        """The text of the plan's function (written now if no run has written it yet)."""
        self._written()
        assert self._source is not None
        return self._source

    def _written(self) -> Any:
        if "run" in vars(self):  # written already
            return vars(self)["run"]
        writer = self._writer  # two threads' first runs may both write: the same text
        source = writer.source()
        namespace = dict(writer.constants)
        # our own text, made of generated names and repr()s of the plan's strings
        exec(compile(source, "<visionflow express lane>", "exec"), namespace)
        self._source = source
        self.run = namespace["run"]  # type: ignore[method-assign]
        return self.run

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


class _Writer:
    """Writes the lane's function: each input and each step's row one local variable
    (``v<slot>``), everything else (blocks, literals, items, places) a constant of its
    namespace, named by kind and slot."""

    def __init__(
        self,
        plan: Plan,
        loader: InputLoader,
        checks: list[ParameterCheck],
        results: ResultBuilder,
    ):
        self.plan, self.loader, self.checks, self.results = plan, loader, checks, results
        names = [("input", item.name) for item in plan.inputs]
        names += [("step", name) for name in plan.order]
        self.slots = {name: slot for slot, name in enumerate(names)}
        self.images = {item.name for item in loader.batch_inputs if item.type == "image"}
        self.constants: dict[str, Any] = {
            "MISSING": MISSING,
            "NAMES": loader.names,
            "check_names": loader.check_names,
            "parameter_value": parameter_value,
            "element": loader.element,
            "load_image": load_image,
            "POLICY": loader.policy,
            "listed_values": listed_values,
            "LIST_OR_TUPLE": (list, tuple),
            "ndarray": np.ndarray,
            "StepExecutionError": StepExecutionError,
            "bad_result": bad_result,
        }

    def constant(self, name: str, value: Any) -> str:
        self.constants[name] = value
        return name

    def source(self) -> str:
        lines = ["def run(given):"]
        lines += self._one_element()
        lines += self._inputs()
        for name in self.plan.order:
            lines += self._step(name)
        lines.append(f"    return [{{{', '.join(self._outputs())}}}]")
        return "\n".join(lines) + "\n"

    def _input_slot(self, name: str) -> int:
        return self.slots[("input", name)]

    def _one_element(self) -> list[str]:
        """``check_names`` and ``one_element``: a list (or a stack of images) is a batch."""
        lines = ["    if not given.keys() <= NAMES:", "        check_names(given)"]
        for item in self.loader.batch_inputs:
            given = f"g{self._input_slot(item.name)}"
            lines.append(f"    {given} = given.get({item.name!r})")
            lines.append(f"    if isinstance({given}, LIST_OR_TUPLE) and listed_values({given}):")
            lines.append("        return None")
            if item.name in self.images:
                lines.append(f"    if isinstance({given}, ndarray) and {given}.ndim == 4:")
                lines.append("        return None")
        return lines

    def _inputs(self) -> list[str]:
        """The parameters, then each batch input's one value, then the parameter checks."""
        lines = []
        for item in self.loader.parameters:
            slot = self._input_slot(item.name)
            lines.append(f"    v{slot} = parameter_value({self.constant(f'I{slot}', item)}, given)")
        for item in self.loader.batch_inputs:
            slot = self._input_slot(item.name)
            place = self.constant(f"P{slot}", self.loader.first_place(item.name))
            fallback = f"element({self.constant(f'I{slot}', item)}, given, {place})"
            if item.name in self.images:  # the commonest input: straight to the image
                lines.append(f"    if {item.name!r} in given:")
                lines.append(f"        v{slot} = load_image(g{slot}, place={place}, policy=POLICY)")
                lines.append("    else:")
                lines.append(f"        v{slot} = {fallback}")
            elif self.loader.keeps_detections(item):  # read already: taken as it is
                detections = f"type(g{slot}).__name__ == 'Detections'"
                lines.append(f"    v{slot} = g{slot} if {detections} else {fallback}")
            else:
                lines.append(f"    v{slot} = {fallback}")
        for number, check in enumerate(self.checks):
            slot = self._input_slot(check.parameter)
            lines.append(f"    {self.constant(f'C{number}', check)}(v{slot})")
        return lines

    def _step(self, name: str) -> list[str]:
        """The step's call when none of its values is empty (else it makes no row: its
        variable stays MISSING), its failure named, its result checked."""
        step = self.plan.steps[name]
        slot = self.slots[("step", name)]
        block = self.constant(f"B{slot}", step.block)  # run read at each call, as in general
        conditions, arguments = [], []
        for number, (field, source, scalar) in enumerate(step.plain_sources):
            value = f"a{slot}_{number}"
            condition = self._value(source, scalar, value)
            if condition:
                conditions.append(condition)
            arguments.append((field, value if condition else self._plain(source)))
        # the literals first, then the fields in order: the keywords in the order
        # _run_plain passes them (a block taking **kwargs sees that order); each literal a
        # constant of its own, passed by name (no dict of them merged at every call)
        literals = [
            (field, self.constant(f"L{slot}_{number}", literal))
            for number, (field, literal) in enumerate(step.literals.items())
        ]
        keywords = [_keyword(field, value) for field, value in literals + arguments]
        call = f"{block}.run({', '.join(keywords)})"
        label = f"{self.constant(f'N{slot}', step.name)}, "
        label += self.constant(f"T{slot}", step.block_type)
        index = self.constant(f"X{slot}", () if step.level == 0 else _ELEMENT)
        expected = self.constant(f"E{slot}", step.outputs.keys())
        wanted = self.constant(f"W{slot}", f"a dict with outputs {sorted(step.outputs)}")
        body = [
            "try:",
            f"    v{slot} = {call}",
            "except Exception as error:",
            f"    raise StepExecutionError({label}, error, {index}) from error",
            f"if type(v{slot}) is not dict or not v{slot}.keys() >= {expected}:",
            f"    raise bad_result({label}, {wanted}, v{slot})",
        ]
        if not conditions:
            return ["    " + line for line in body]
        return [f"    v{slot} = MISSING", f"    if {' and '.join(conditions)}:"] + [
            "        " + line for line in body
        ]

    def _plain(self, source: Source) -> str:
        """A value that is never empty: an image input's (always loaded, or an error)."""
        return f"v{self.slots[(source.origin, source.name)]}"

    def _value(self, source: Source, scalar: bool, value: str) -> str | None:
        """The condition under which the field has a value (bound to ``value``), as
        ``_run_plain`` reads it; None when it always has one."""
        slot = self.slots[(source.origin, source.name)]
        if source.origin != "step":
            if scalar or source.name in self.images:
                return None  # a parameter given as None is a value; an image is never None
            return f"({value} := v{slot}) is not None"
        read = {None: f"v{slot}", "*": f"dict(v{slot})"}.get(
            source.output, f"v{slot}[{source.output!r}]"
        )
        return f"v{slot} is not MISSING and ({value} := {read}) is not None"

    def _outputs(self) -> list[str]:
        """Each output as ``outputs`` builds it: a step's row read (MISSING: its absent value),
        moved to the parent's coordinates where asked."""
        results = self.results  # the general path's: its translations and absent values
        entries = []
        for number, (output, translate, absent) in enumerate(
            zip(self.plan.outputs, results.translate, results.absent, strict=True)
        ):
            source = output.source
            slot = self.slots[(source.origin, source.name)]
            value = f"v{slot}"
            if source.origin == "step":
                if source.output in (None, "*"):
                    value = f"dict({value})"
                else:
                    value = f"{value}[{source.output!r}]"
            if translate is not None:
                value = f"{self.constant(f'R{number}', translate)}({value})"
            if source.origin == "step":
                empty = "None" if absent is None else f"dict({self.constant(f'A{number}', absent)})"
                value = f"({empty} if v{slot} is MISSING else {value})"
            entries.append(f"{output.name!r}: {value}")
        return entries


def _keyword(field: str, value: str) -> str:
    """``field=value`` where Python reads the name back as it is: an ASCII name, no keyword
    (Python folds other names by NFKC, ``ﬁ`` to ``fi``, as a document's block's fields are
    not); else passed by its exact name, ``**{'ﬁ': value}``."""
    plain = field.isascii() and field.isidentifier() and field != "__debug__"
    if plain and not keyword.iskeyword(field):
        return f"{field}={value}"
    return f"**{{{field!r}: {value}}}"


def _one_value(source: Source) -> bool:
    """An output read straight from one value (no list of children to lay out)."""
    return source.dimensionality <= 1
