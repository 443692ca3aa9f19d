"""Flow control: continue a branch when a condition holds; merge branches back."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, model_validator

from visionflow.blocks.api import Block, BlockManifest, FlowControl, Output, Selector, StepSelector
from visionflow.blocks.core._expressions import (
    check_expression,
    evaluate,
    exactly_one,
    roboflow_statement,
)


class ContinueIf(Block):
    """Runs ``next_steps`` for an element only when the condition holds for it.

    ``condition`` is an expression over the names in ``data``, e.g.
    ``count(predictions) > 2 and "car" in class_names(predictions)``; or, as Roboflow
    writes it, ``condition_statement`` (a StatementGroup) over the names in
    ``evaluation_parameters`` (docs/guide/roboflow-operations.md). With ``stop_delay``
    (seconds), the branch stays open that long after the condition last held.
    """

    class Manifest(Block.Manifest):
        type: Literal["visionflow/continue_if@v1", "ContinueIf", "roboflow_core/continue_if@v1"]
        condition: str | None = None
        data: dict[str, Selector() | Any] = {}
        condition_statement: dict[str, Any] | None = None
        evaluation_parameters: dict[str, Selector() | Any] = {}
        next_steps: list[StepSelector]
        stop_delay: Selector(kinds=["float"]) | Annotated[float, Field(ge=0)] = 0
        _statement: Any = PrivateAttr(default=None)

        @model_validator(mode="after")
        def _condition_compiles(self):
            chosen = exactly_one(
                {"condition": self.condition, "condition_statement": self.condition_statement},
                condition={"data": self.data},
                condition_statement={"evaluation_parameters": self.evaluation_parameters},
            )
            if chosen == "condition":
                check_expression(self.condition, set(self.data), "condition")
            else:  # compiled once; unknown DynamicOperand names are errors now
                self._statement = roboflow_statement(
                    self.condition_statement, "condition_statement", self.evaluation_parameters
                )
            return self

    outputs = []
    _statement: Any = None
    _opened_at: float | None = None  # when the condition last held (for stop_delay)

    def setup(self, manifest: BlockManifest) -> None:
        self._statement = manifest._statement

    def run(
        self,
        condition: str | None,
        data: dict[str, Any],
        condition_statement: dict | None,
        evaluation_parameters: dict[str, Any],
        next_steps: list[str],
        stop_delay: float,
    ) -> FlowControl:
        if self._statement is not None:
            holds = self._statement(evaluation_parameters)
        else:
            holds = evaluate(condition, data)
        if holds:
            if stop_delay > 0:
                self._opened_at = time.monotonic()
            return FlowControl(next_steps)
        if self._opened_at is not None and time.monotonic() - self._opened_at <= stop_delay:
            return FlowControl(next_steps)
        return FlowControl([])


class FirstNonEmptyOrDefault(Block):
    """The first of ``data`` that is not empty (None, masked out), else ``default``.

    Brings branches of a flow-control split back together.
    """

    class Manifest(Block.Manifest):
        type: Literal[
            "visionflow/first_non_empty_or_default@v1",
            "FirstNonEmptyOrDefault",
            "roboflow_core/first_non_empty_or_default@v1",
        ]
        data: Annotated[list[Selector()], Field(min_length=1)]  # at least one, as Roboflow's
        default: Any = None

    outputs = [Output("output")]
    accepts_empty = True

    def run(self, data: list[Any], default: Any) -> dict[str, Any]:
        return {"output": next((value for value in data if value is not None), default)}
