"""Roboflow's local block library, grouped as Roboflow's documentation groups it.

Each module holds the blocks of one group in ``BLOCKS``: ``images`` (image operations),
``image_measures`` (colour, focus), ``classical`` (contours, SIFT, template matching,
codes), ``detections`` (detections operations), ``measurements`` (distances and sizes),
``fusion`` (consensus, stitching, slicing), ``flow`` (rate limiter, delta filter),
``formatters`` (formatters and data), ``visualisations`` (drawing with supervision's
annotators) and ``sinks`` (files on this machine).
"""

from __future__ import annotations

from visionflow.blocks.api import Block


def load_blocks() -> list[type[Block]]:
    from visionflow.blocks.roboflow import (
        classical,
        detections,
        flow,
        formatters,
        fusion,
        image_measures,
        images,
        measurements,
        sinks,
        visualisations,
    )

    return [
        *images.BLOCKS,
        *image_measures.BLOCKS,
        *classical.BLOCKS,
        *detections.BLOCKS,
        *measurements.BLOCKS,
        *fusion.BLOCKS,
        *flow.BLOCKS,
        *formatters.BLOCKS,
        *visualisations.BLOCKS,
        *sinks.BLOCKS,
    ]
