"""Flow control: continue a branch when a condition holds; merge branches back."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import model_validator

from visionflow.blocks.api import Block, FlowControl, Output, Selector, StepSelector
from visionflow.blocks.core._expressions import check_expression, evaluate


class ContinueIf(Block):
    """Runs ``next_steps`` for an element only when ``condition`` is true for it.

    ``condition`` is an expression over the names in ``data``, e.g.
    ``count(predictions) > 2 and "car" in class_names(predictions)``.
    """

    class Manifest(Block.Manifest):
        type: Literal["visionflow/continue_if@v1", "ContinueIf"]
        condition: str
        data: dict[str, Selector() | Any] = {}
        next_steps: list[StepSelector]

        @model_validator(mode="after")
        def _condition_compiles(self):
            check_expression(self.condition, set(self.data), "condition")
            return self

    outputs = []

    def run(self, condition: str, data: dict[str, Any], next_steps: list[str]) -> FlowControl:
        return FlowControl(next_steps if evaluate(condition, data) else [])


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
        data: list[Selector()]
        default: Any = None

    outputs = [Output("output")]
    accepts_empty = True

    def run(self, data: list[Any], default: Any) -> dict[str, Any]:
        return {"output": next((value for value in data if value is not None), default)}
