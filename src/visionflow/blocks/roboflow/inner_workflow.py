"""Roboflow's inner workflow (``roboflow_core/inner_workflow@v1``): a whole workflow used as
one step, its inputs bound to the parent's values and its outputs read as the step's.

This module holds only the step's manifest: the fields, their checks and the outputs a
step offers. The step never runs. The compiler replaces it before anything else looks at
the plan (``visionflow.compiler.inner_workflows``): the child's steps become steps of the
parent, named ``<inner step>__<child step>``, checked, batched, gated and run like any
other, which is what Roboflow's engine does in its default ``embedded`` mode.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import model_validator

from visionflow.blocks.api import Block, BlockManifest, Output

INNER_WORKFLOW_TYPE = "roboflow_core/inner_workflow@v1"


class InnerWorkflow(Block):
    """A whole workflow as one step: ``workflow_definition`` (the child document),
    ``parameter_bindings`` (child input name -> a parent selector or a literal; a child
    parameter with a default may be left out). The parent reads the child's outputs as
    ``$steps.<step>.<child output>``. Inlined at compile time: the child's steps become
    steps ``<step>__<child step>`` of the parent (Roboflow's ``embedded`` mode); workflows
    referenced by id and ``remote_dispatch`` (which sends data to another server) are
    refused.
    """

    category: ClassVar[str] = "flow control"

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/inner_workflow@v1"]
        workflow_definition: dict[str, Any] | None = None
        parameter_bindings: dict[str, Any]  # required, as in Roboflow ({} when all have defaults)
        execution_mode: Literal["embedded", "remote_dispatch"] = "embedded"
        remote_target: str | None = None
        workflow_workspace_id: str | None = None
        workflow_id: str | None = None
        workflow_version_id: str | None = None

        @model_validator(mode="after")
        def _one_workflow(self) -> InnerWorkflow.Manifest:
            # Roboflow's rule: an inline definition or a reference, never both nor neither
            inline = bool(self.workflow_definition)
            reference = bool((self.workflow_workspace_id or "").strip()) and bool(
                (self.workflow_id or "").strip()
            )
            if inline and reference:
                raise ValueError(
                    "give either workflow_definition or workflow_workspace_id and "
                    "workflow_id, not both"
                )
            if not inline and not reference:
                raise ValueError(
                    "give workflow_definition (the child workflow) or both "
                    "workflow_workspace_id and workflow_id"
                )
            return self

    outputs: ClassVar[list[Output]] = []  # the child's outputs: describe_outputs

    @classmethod
    def describe_outputs(cls, manifest: BlockManifest) -> list[Output]:
        """The child workflow's outputs, any kind (their kinds are the child steps')."""
        child = getattr(manifest, "workflow_definition", None) or {}
        declared = child.get("outputs") if isinstance(child, dict) else None
        return [
            Output(item["name"])
            for item in declared or []
            if isinstance(item, dict) and isinstance(item.get("name"), str)
        ]


BLOCKS = [InnerWorkflow]
