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
        aggregation,
        cache,
        classical,
        compound_models,
        detections,
        flow,
        formatters,
        fusion,
        fusion_changes,
        fusion_rollup,
        geometry,
        image_measures,
        image_stack,
        images,
        inner_workflow,
        mask_snap,
        measurements,
        motion,
        ocr_stitching,
        outbound_sinks,
        qr_codes,
        sampling,
        similarity,
        sinks,
        visualisations,
        visualisations_anomaly,
        visualisations_classification,
        visualisations_composition,
        visualisations_keypoints,
        visualisations_overlays,
        visualisations_rich_label,
        visualisations_text,
        vlm,
        zone_visualisations,
    )

    return [
        *images.BLOCKS,
        *image_measures.BLOCKS,
        *geometry.BLOCKS,
        *image_stack.BLOCKS,
        *qr_codes.BLOCKS,
        *classical.BLOCKS,
        *detections.BLOCKS,
        *measurements.BLOCKS,
        *mask_snap.BLOCKS,
        *motion.BLOCKS,
        *fusion.BLOCKS,
        *fusion_changes.BLOCKS,
        *fusion_rollup.BLOCKS,
        *flow.BLOCKS,
        *inner_workflow.BLOCKS,
        *formatters.BLOCKS,
        *cache.BLOCKS,
        *aggregation.BLOCKS,
        *sampling.BLOCKS,
        *visualisations.BLOCKS,
        *visualisations_anomaly.BLOCKS,
        *visualisations_classification.BLOCKS,
        *visualisations_composition.BLOCKS,
        *visualisations_keypoints.BLOCKS,
        *visualisations_overlays.BLOCKS,
        *visualisations_rich_label.BLOCKS,
        *visualisations_text.BLOCKS,
        *zone_visualisations.BLOCKS,
        *sinks.BLOCKS,
        *outbound_sinks.BLOCKS,
        *ocr_stitching.BLOCKS,
        *similarity.BLOCKS,
        *compound_models.BLOCKS,
        *vlm.BLOCKS,
    ]
