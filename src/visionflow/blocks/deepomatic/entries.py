"""An Image entry as the list of regions steps start from: its default (whole-image) region."""

from __future__ import annotations

from typing import Literal

from visionflow.blocks.api import Block, Output, Selector
from visionflow.blocks.deepomatic.regions import REGIONS_KIND, Region
from visionflow.data.image import WorkflowImage


class Entry(Block):
    """The default region of an Image entry: the whole image, with no concepts yet."""

    class Manifest(Block.Manifest):
        type: Literal["deepomatic/entry@v1"]
        image: Selector(kinds=["image"])

    outputs = [Output("regions", kinds=[REGIONS_KIND])]

    def setup(self, manifest: Block.Manifest) -> None:
        self.entry = manifest.name  # the dialect names the step after the entry

    def run(self, image: WorkflowImage) -> dict[str, list[Region]]:
        return {"regions": [Region.default(self.entry, image)]}
