"""Roboflow's sinks blocks (issue 12)."""

from __future__ import annotations

from visionflow.blocks.api import Block

BLOCKS: list[type[Block]] = []
