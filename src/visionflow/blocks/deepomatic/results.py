"""The results of a Deepomatic workflow: its outcomes and the FlowContainer, as plain JSON.

An outcome is one concept from one step: ``value`` is its value on the first region that
carries it (checkpoints live on the default region, so that is *the* answer), ``values``
its value on every region that carries it, and ``regions`` the regions of the steps the
outcome lists (boxes and concepts). The FlowContainer is everything every step made: per
entry, each region once with all the concepts any step put on it, in the steps' order.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from visionflow.blocks.api import Block, Output, Selector
from visionflow.blocks.deepomatic.base import ENTRY_VALUE, REGIONS
from visionflow.blocks.deepomatic.regions import Region, merge_by_id


class OutcomeConcept(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    type: Literal["Boolean", "Text", "Number"]


class Outcome(Block):
    """One outcome of the workflow: a concept from a step, with the regions it lists."""

    class Manifest(Block.Manifest):
        type: Literal["deepomatic/outcome@v1"]
        output_of: REGIONS
        concept: OutcomeConcept
        regions: list[REGIONS] = Field(default_factory=list)

    outputs = [Output("outcome", kinds=["dict"])]

    def run(
        self, output_of: list[Region], concept: OutcomeConcept, regions: list[list[Region]]
    ) -> dict[str, Any]:
        found = [c for region in output_of if (c := region.concept(concept.name)) is not None]
        values = [c.value for c in found]
        return {
            "outcome": {
                "concept": {"name": concept.name, "type": concept.type},
                "value": values[0] if values else None,
                "values": values,
                "confidence": found[0].confidence if found else None,
                "regions": [region.to_dict() for group in regions for region in group],
            }
        }


class FlowContainer(Block):
    """Every entry with every region any step made, each with all its concepts."""

    class Manifest(Block.Manifest):
        type: Literal["deepomatic/flow_container@v1"]
        workflow_name: str
        images: dict[str, Selector(kinds=["image"])] = Field(default_factory=dict)
        entry_regions: dict[str, REGIONS] = Field(default_factory=dict)
        values: dict[str, ENTRY_VALUE] = Field(default_factory=dict)
        value_types: dict[str, Literal["Text", "Number"]] = Field(default_factory=dict)
        steps: dict[str, REGIONS] = Field(default_factory=dict)  # in dependency order

    outputs = [Output("flow_container", kinds=["dict"])]

    def run(
        self,
        workflow_name: str,
        images: dict[str, Any],
        entry_regions: dict[str, list[Region]],
        values: dict[str, Any],
        value_types: dict[str, str],
        steps: dict[str, list[Region]],
    ) -> dict[str, Any]:
        merged = merge_by_id([*entry_regions.values(), *steps.values()])
        entries: list[dict[str, Any]] = []
        for name, image in images.items():
            entries.append(
                {
                    "name": name,
                    "data_type": "Image",
                    "width": image.width,
                    "height": image.height,
                    "regions": [r.to_dict() for r in merged if r.entry == name],
                }
            )
        for name, value in values.items():
            entries.append({"name": name, "data_type": value_types[name], "value": value})
        return {"flow_container": {"workflow_name": workflow_name, "entries": entries}}
