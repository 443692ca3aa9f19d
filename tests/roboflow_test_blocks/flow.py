"""Roboflow's ``flow_control_plugin`` (Condition, ABTest) and ``rock_paper_scissor_plugin``
(ExpressionTestBlock, TakeFirstNonEmpty)."""

from __future__ import annotations

import random
from typing import Any, Literal

from pydantic import PrivateAttr, model_validator

from visionflow import Block, FlowControl, Output, Selector, StepSelector
from visionflow.blocks.api import BlockManifest
from visionflow.errors import ManifestError
from visionflow.expressions.roboflow import compile_statement


class Condition(Block):
    """Chooses ``steps_if_true`` or ``steps_if_false`` by a Roboflow StatementGroup."""

    class Manifest(Block.Manifest):
        type: Literal["Condition"]
        condition_statement: dict[str, Any]
        evaluation_parameters: dict[str, Selector() | Any] = {}
        steps_if_true: list[StepSelector]
        steps_if_false: list[StepSelector]
        _statement: Any = PrivateAttr(default=None)

        @model_validator(mode="after")
        def _statement_compiles(self):  # once, with the operations language of ContinueIf
            self._statement = compile_statement(
                self.condition_statement, "condition_statement", self.evaluation_parameters
            )
            return self

    _statement: Any = None

    def setup(self, manifest: BlockManifest) -> None:
        self._statement = manifest._statement

    def run(
        self,
        condition_statement: dict,
        evaluation_parameters: dict[str, Any],
        steps_if_true: list[str],
        steps_if_false: list[str],
    ) -> FlowControl:
        if not steps_if_true and not steps_if_false:
            return FlowControl([])
        chosen = steps_if_true if self._statement(evaluation_parameters) else steps_if_false
        return FlowControl(list(chosen))  # an empty choice terminates the branch


class ABTest(Block):
    """Chooses ``a_step`` or ``b_step`` at random, even odds."""

    class Manifest(Block.Manifest):
        type: Literal["ABTest"]
        a_step: StepSelector
        b_step: StepSelector

    def run(self, a_step: str, b_step: str) -> FlowControl:
        return FlowControl([a_step if random.random() < 0.5 else b_step])


class ExpressionTestBlock(Block):
    """Outputs its ``output`` text; ``data`` only places the step (its dimensionality).

    Roboflow's version may also run Python code (``{"type": "PythonBlock", ...}``); this
    re-creation refuses it at compile time (documents carrying code belong in dynamic
    blocks, which visionflow gates behind ``allow_custom_code``).
    """

    class Manifest(Block.Manifest):
        type: Literal["ExpressionTestBlock"]
        data: dict[str, Selector() | Any] = {}
        output: str | dict[str, Any]

    outputs = [Output("output")]

    def setup(self, manifest: BlockManifest) -> None:
        if not isinstance(manifest.output, str):
            raise ManifestError(
                "only a text output is supported: this test plugin does not run "
                f"{manifest.output.get('type', 'code')!r} code",
                place="field 'output'",
                hint="give output as a string, or write the code as a dynamic block",
            )

    def run(self, data: dict[str, Any], output: str) -> dict:
        return {"output": output}


class TakeFirstNonEmpty(Block):
    class Manifest(Block.Manifest):
        type: Literal["TakeFirstNonEmpty"]
        inputs: list[Selector()] = []

    outputs = [Output("output")]
    accepts_empty = True  # accepts_empty_values() == True

    def run(self, inputs: list[Any]) -> dict:
        return {"output": next((value for value in inputs if value is not None), None)}


BLOCKS: list[type[Block]] = [Condition, ABTest, ExpressionTestBlock, TakeFirstNonEmpty]
