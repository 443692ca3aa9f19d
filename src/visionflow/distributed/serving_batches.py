"""Concurrent runs of one workflow merged into one ``workflow.run``: what a Serve replica
does with the requests ``@serve.batch`` hands it together. No Ray here.

Requests merge when they run the same document with the same non-batch inputs (the same
parameters, as JSON: 1, 1.0 and true differ) and non-empty batch inputs of one level: their
batch inputs are concatenated, the workflow runs once, and its results (one per element)
are split back by count. Anything else, or a merged run that fails, runs request by
request, so every request gets exactly the answer, or the error, that it would get alone.
"""

from __future__ import annotations

import contextlib
import json
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from visionflow.errors import WorkflowError
from visionflow.workflow import Workflow


@dataclass
class Job:
    """One request's run, as the ingress sends it to a replica: the document (compiled
    again there, cached by ``key``) and the inputs already checked and decoded."""

    key: bytes | None
    """``state.document_key`` of the document; None: not hashable, never merged."""
    document: Any
    dialect: str | None
    inputs: dict[str, Any]


@dataclass
class Failure:
    """A ``WorkflowError`` in a form that crosses processes whatever its cause holds: the
    class and its fields; a cause that is no ``WorkflowError`` travels as its text."""

    kind: type[WorkflowError] | None
    """None: another exception (a block's own, or a bug), ``fields["error"]`` if it pickles."""
    message: str
    fields: dict[str, Any]

    @classmethod
    def of(cls, error: BaseException) -> Failure:
        if not isinstance(error, WorkflowError):
            with contextlib.suppress(Exception):  # sent as it is when it survives pickling
                return cls(None, str(error), {"error": pickle.loads(pickle.dumps(error))})
            return cls(None, f"{type(error).__name__}: {error}", {})
        fields = {
            name: cls.of(value) if isinstance(value, BaseException) else value
            for name, value in vars(error).items()
        }
        return cls(type(error), error.message, fields)

    def error(self) -> BaseException:
        if self.kind is None:
            return self.fields.get("error") or RuntimeError(self.message)
        error = self.kind.__new__(self.kind)
        Exception.__init__(error, self.message)
        for name, value in self.fields.items():
            setattr(error, name, value.error() if isinstance(value, Failure) else value)
        return error


Outcome = tuple[list[dict[str, Any]] | None, Failure | None]
"""A job's serialized outputs, or why it failed."""


def run_jobs(jobs: list[Job], compile: Callable[[Job], Workflow]) -> list[Outcome]:
    """Each job's outcome, in order; jobs that may merge run as one ``workflow.run``."""
    outcomes: list[Outcome | None] = [None] * len(jobs)
    for group in _groups(jobs, compile):
        positions = [position for position, _ in group]
        for position, outcome in zip(positions, _run_group(group), strict=True):
            outcomes[position] = outcome
    return [outcome for outcome in outcomes if outcome is not None]


Group = list[tuple[int, "_Prepared"]]


@dataclass
class _Prepared:
    job: Job
    workflow: Workflow | None
    failure: Failure | None
    merge_key: tuple[Any, ...] | None
    """Jobs with equal keys merge; None: this job runs alone."""
    count: int


def _groups(jobs: list[Job], compile: Callable[[Job], Workflow]) -> list[Group]:
    groups: dict[tuple[Any, ...], Group] = {}
    for position, job in enumerate(jobs):
        prepared = _prepare(job, compile)
        key = prepared.merge_key or ("alone", position)
        groups.setdefault(key, []).append((position, prepared))
    return list(groups.values())


def _prepare(job: Job, compile: Callable[[Job], Workflow]) -> _Prepared:
    try:
        workflow = compile(job)
    except Exception as error:
        return _Prepared(job, None, Failure.of(error), None, 0)
    declared = workflow.inputs
    batch = sorted(name for name in job.inputs if declared.get(name, {}).get("dimensionality"))
    counts = {_count(job.inputs[name]) for name in batch}
    count = counts.pop() if len(counts) == 1 else 0  # 0: none, unequal, or an empty batch
    others = _parameters({name: v for name, v in job.inputs.items() if name not in batch})
    mergeable = (
        job.key is not None
        and count > 0  # an empty batch alone is an error, merged it would not be
        and others is not None
        and all(declared[name]["dimensionality"] == 1 for name in batch)
    )
    if not mergeable:
        return _Prepared(job, workflow, None, None, 0)
    return _Prepared(job, workflow, None, (job.key, tuple(batch), others), count)


def _count(value: Any) -> int:
    return len(value) if isinstance(value, list) else 1


def _parameters(values: dict[str, Any]) -> str | None:
    """The non-batch inputs as JSON text, by name: equal only when each value is the same
    JSON (``==`` has 1, 1.0 and True equal, and a merged run gives every request the first
    one's); None when one is no JSON value (arrays, images): that request runs alone."""
    try:
        return json.dumps(sorted(values.items()))
    except (TypeError, ValueError):
        return None


def _run_group(group: Group) -> list[Outcome]:
    if len(group) > 1:
        merged = _run_merged([prepared for _, prepared in group])
        if merged is not None:
            return merged
    return [_run_alone(prepared) for _, prepared in group]


def _run_merged(group: list[_Prepared]) -> list[Outcome] | None:
    """One run for the group, split back by count; None when it failed (then each job
    runs alone and gets its own error)."""
    first = group[0]
    assert first.workflow is not None and first.merge_key is not None
    batch_names = first.merge_key[1]
    inputs = dict(first.job.inputs)
    for name in batch_names:
        inputs[name] = [item for prepared in group for item in _elements(prepared.job, name)]
    try:
        outputs = first.workflow.run(inputs, serialize=True)
    except Exception:
        return None
    if len(outputs) != sum(prepared.count for prepared in group):
        return None
    outcomes: list[Outcome] = []
    start = 0
    for prepared in group:
        outcomes.append((outputs[start : start + prepared.count], None))
        start += prepared.count
    return outcomes


def _elements(job: Job, name: str) -> list[Any]:
    value = job.inputs[name]
    return list(value) if isinstance(value, list) else [value]


def _run_alone(prepared: _Prepared) -> Outcome:
    if prepared.failure is not None or prepared.workflow is None:
        return None, prepared.failure
    try:
        return prepared.workflow.run(prepared.job.inputs, serialize=True), None
    except Exception as error:
        return None, Failure.of(error)
