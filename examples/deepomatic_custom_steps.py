"""Custom steps for examples/deepomatic_custom.yaml (Deepomatic's custom nodes).

Each class is built once, when the workflow is compiled, as
``cls(config, node_name, input_nodes, concepts)``, and its ``process(context, regions)``
is called for each image with the regions of the step's inputs. It returns the regions
the step outputs; ``region.add_concept(name, value)`` makes a copy with one more concept.
"""

from __future__ import annotations

from visionflow.blocks.deepomatic import CustomContext, CustomNode, Region


class FaceArea(CustomNode):
    """The share of the picture each region covers, as a Number concept (0..1)."""

    def process(self, context: CustomContext, regions: list[Region]) -> list[Region]:
        name = self.config.get("concept_name", "area")
        made = []
        for region in regions:
            width, height = region.image.width, region.image.height
            x_min, y_min, x_max, y_max = region.box or (0, 0, width, height)
            share = (x_max - x_min) * (y_max - y_min) / (width * height)
            made.append(region.add_concept(name, round(share, 4)))
        return made
