"""Roboflow's local block library, grouped as Roboflow's documentation groups it.

Each module holds the blocks of one group in ``BLOCKS``: ``images`` (image operations),
``detections`` (detections operations), ``formatters`` (formatters and data), and
``visualisations`` (drawing on images with supervision's annotators).
"""

from __future__ import annotations

from visionflow.blocks.api import Block


def load_blocks() -> list[type[Block]]:
    from visionflow.blocks.roboflow import detections, formatters, images, visualisations

    return [*images.BLOCKS, *detections.BLOCKS, *formatters.BLOCKS, *visualisations.BLOCKS]
