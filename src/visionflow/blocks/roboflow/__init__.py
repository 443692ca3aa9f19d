"""Roboflow's local block library, grouped as Roboflow's documentation groups it.

Each module holds the blocks of one group in ``BLOCKS``: ``images`` (image operations),
``detections`` (detections operations), ``formatters`` (formatters and data), and
``visualisations`` (drawing on images with supervision's annotators), ``classical``
(classical computer vision: contours, SIFT, template matching, codes), ``fusion`` (joining
detections: consensus, stitching, slicing), ``measurements`` (distances and sizes) and
``sinks`` (files on this machine).
"""

from __future__ import annotations

from visionflow.blocks.api import Block


def load_blocks() -> list[type[Block]]:
    from visionflow.blocks.roboflow import (
        classical,
        detections,
        formatters,
        fusion,
        images,
        measurements,
        sinks,
        visualisations,
    )

    return [
        *images.BLOCKS,
        *classical.BLOCKS,
        *detections.BLOCKS,
        *measurements.BLOCKS,
        *fusion.BLOCKS,
        *formatters.BLOCKS,
        *visualisations.BLOCKS,
        *sinks.BLOCKS,
    ]
