"""Blocks of the Deepomatic-style dialect: regions carrying typed concepts, step by step.

Each step of a Deepomatic document becomes one native step of these blocks (see
``visionflow.dialects.deepomatic``); the values between them are per-image lists of
``Region`` objects (kind ``deepomatic_regions``).
"""

from __future__ import annotations

from visionflow.blocks.api import Block
from visionflow.blocks.deepomatic.custom import CustomContext, CustomNode
from visionflow.blocks.deepomatic.regions import REGIONS_KIND, Concept, Region

__all__ = ["REGIONS_KIND", "Concept", "CustomContext", "CustomNode", "Region", "load_blocks"]


def step_library() -> dict[str, type]:
    """Deepomatic step ``type`` -> its block (custom steps are not listed: they come from files)."""
    from visionflow.blocks.deepomatic.inference import Inference, MultipleInference
    from visionflow.blocks.deepomatic.logic import BooleanOperation, Compare, Counter
    from visionflow.blocks.deepomatic.routing import PredictionRouter

    blocks = [Inference, MultipleInference, PredictionRouter, Counter, Compare, BooleanOperation]
    return {block.deepomatic_type: block for block in blocks}


def load_blocks() -> list[type[Block]]:
    from visionflow.blocks.deepomatic.custom import CustomStep
    from visionflow.blocks.deepomatic.entries import Entry
    from visionflow.blocks.deepomatic.results import FlowContainer, Outcome

    return [*step_library().values(), CustomStep, Entry, Outcome, FlowContainer]
