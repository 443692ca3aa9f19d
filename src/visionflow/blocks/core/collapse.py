"""Gathering a nested batch back into one list per parent element."""

from __future__ import annotations

from typing import Any, Literal

from visionflow.blocks.api import Batch, Block, Output, Selector


class DimensionCollapse(Block):
    """The values made per child (e.g. per crop) as one list per parent image, as
    Roboflow's ``DimensionCollapse``.

    Masked-out children (and None values) are left out; a parent with no children at all
    gives None (the step does not run for it). On the input batch itself, one list for the
    whole run. ``visionflow/dimension_collapse@v1`` keeps the list aligned with the
    children instead: a masked-out child is None there, and no children an empty list.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/dimension_collapse@v1", "DimensionCollapse"]
        data: Selector()

    outputs = [Output("output", kinds=["list"])]
    output_dimensionality_offset = -1

    def run(self, data: Batch) -> dict[str, Any]:
        return {"output": list(data)}


class AlignedDimensionCollapse(DimensionCollapse):
    """The values made per child as one list per parent, aligned with the children: a
    masked-out child is None in it, and a parent with no children gives an empty list."""

    class Manifest(Block.Manifest):
        type: Literal["visionflow/dimension_collapse@v1", "AlignedDimensionCollapse"]
        data: Selector()

    accepts_empty = True
