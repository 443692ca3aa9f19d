"""An example plugin: the Brightness block from the design, loaded via VISIONFLOW_PLUGINS.

VISIONFLOW_PLUGINS=brightness_plugin PYTHONPATH=examples visionflow run ...
"""

from __future__ import annotations

from typing import Literal

from visionflow import Block, Output, Selector


class Brightness(Block):
    """Mean pixel value of an image (0..255), times ``scale``."""

    class Manifest(Block.Manifest):
        type: Literal["example/brightness@v1", "Brightness"]
        image: Selector(kinds=["image"])
        scale: Selector(kinds=["float"]) | float = 1.0

    outputs = [Output("brightness", kinds=["float"])]

    def run(self, image, scale):
        return {"brightness": float(image.numpy.mean()) * scale}


def load_blocks() -> list[type[Block]]:
    return [Brightness]
