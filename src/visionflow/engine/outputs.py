"""One result dict per input element, in input order, from the run state.

When no output is per input element (scalars, or batches a step made from scalars), a run
gives one dict, as Roboflow's engine does, rather than the same dict once per element.
"""

from __future__ import annotations

from typing import Any

from visionflow.compiler.plan import INPUTS_LINEAGE, OutputPlan, Source, StepPlan
from visionflow.data.detections import to_root_coordinates
from visionflow.engine.state import MISSING, Index, RunState
from visionflow.kinds import DETECTION_KINDS, WILDCARD


class ResultBuilder:
    """Builds a run's results; what depends only on the plan is worked out once."""

    def __init__(self, outputs: list[OutputPlan], steps: dict[str, StepPlan]):
        self.outputs = outputs
        self.per_element = [per_input_element(output) for output in outputs]
        self.translate = [_to_parent if _may_need_translation(o) else None for o in outputs]
        self.absent = [_absent(output.source, steps) for output in outputs]

    def __call__(self, state: RunState, size: int) -> list[dict[str, Any]]:
        if not any(self.per_element):
            size = min(size, 1)  # Roboflow's rule: nothing per element, so one dict, not copies
        results: list[dict[str, Any]] = [{} for _ in range(size)]
        for output, per_element, translate, absent in zip(
            self.outputs, self.per_element, self.translate, self.absent, strict=True
        ):
            if not per_element:  # a scalar, or a batch made from scalars
                value = _value(output, (), state, absent, False)
                value = translate(value) if translate else value
                for result in results:
                    result[output.name] = value
                continue
            for position, result in enumerate(results):
                value = _value(output, (position,), state, absent, True)
                result[output.name] = translate(value) if translate else value
        return results


def per_input_element(output: OutputPlan) -> bool:
    """Whether the output has a value per input element; a batch a step made from scalars
    (its lineage starts at that step) is given whole to every result, as Roboflow does."""
    lineage = output.source.lineage
    return bool(lineage) and lineage[0] == INPUTS_LINEAGE


def _absent(source: Source, steps: dict[str, StepPlan]) -> dict[str, None] | None:
    """What an output gives where its value is missing: None, or for all of a step's outputs
    (``$steps.s.*``) each of them None, as Roboflow gives it."""
    if source.origin == "step" and source.output == "*":
        return dict.fromkeys(steps[source.name].outputs)
    return None


def _value(
    output: OutputPlan, index: Index, state: RunState, absent: dict | None, by_indices: bool
) -> Any:
    source = output.source
    depth = source.dimensionality - len(index)
    if depth <= 0:
        value = state.value_at(source, index)
        if value is MISSING:
            return None if absent is None else dict(absent)
        return value
    level = source.lineage[: len(index) + 1]
    children = state.children_of(level, index)
    if by_indices and depth >= 2:
        # Roboflow lays an output per input element two or more levels deep out by its
        # elements' indices: groups holding none of them at the end of a list are left out,
        # and a list left with nothing is empty lists nested to the levels below ([[]] two
        # levels down); a batch made from scalars is laid out as it was made
        while children and not _holds_elements(source, children[-1], state):
            children = children[:-1]
        if not children:
            return _nested_empty(depth)
    return [_value(output, child, state, absent, by_indices) for child in children]


def _holds_elements(source: Source, index: Index, state: RunState) -> bool:
    if len(index) >= source.dimensionality:
        return True
    level = source.lineage[: len(index) + 1]
    return any(_holds_elements(source, child, state) for child in state.children_of(level, index))


def _nested_empty(depth: int) -> list:
    return [] if depth <= 1 else [_nested_empty(depth - 1)]


_TRANSLATABLE = frozenset(
    [
        *DETECTION_KINDS,
        "dict",
        "list",
        "dictionary",  # Roboflow's names for dict and list (kinds.ALIASES)
        "list_of_values",
        WILDCARD,
    ]
)


def _may_need_translation(output: OutputPlan) -> bool:
    """Only outputs asked in parent coordinates whose kinds can hold detections."""
    return output.coordinates_system == "parent" and not output.source.kinds.isdisjoint(
        _TRANSLATABLE
    )


def _to_parent(value: Any) -> Any:
    """Detections made on crops, moved to the coordinates of the image the user gave."""
    if type(value).__name__ == "Detections":
        return to_root_coordinates(value)
    if isinstance(value, list):
        return [_to_parent(item) for item in value]
    if isinstance(value, dict):
        return {key: _to_parent(item) for key, item in value.items()}
    return value
