"""Gathering a nested batch back into one list per parent element."""

from __future__ import annotations

from typing import Any, Literal

from visionflow.blocks.api import Batch, Block, Output, Selector


class DimensionCollapse(Block):
    """The values made per child (e.g. per crop) as one list per parent image.

    Masked-out children appear as None, so the list stays aligned with the children.
    """

    class Manifest(Block.Manifest):
        type: Literal[
            "visionflow/dimension_collapse@v1",
            "DimensionCollapse",
            "roboflow_core/dimension_collapse@v1",
        ]
        data: Selector()

    outputs = [Output("output", kinds=["list"])]
    output_dimensionality_offset = -1
    accepts_empty = True

    def run(self, data: Batch) -> dict[str, Any]:
        return {"output": list(data)}
