"""Every block and kind, as an editor needs them to build valid workflows.

Each block: what ``visionflow blocks TYPE --json`` shows (fields, outputs and kinds, how
the engine calls it) plus its manifest's JSON Schema, in which every selector field says
the kinds it accepts (``x-selector-kinds``) — the manifest stays the single source.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from visionflow.blocks.loader import BlockRegistry, load_registry, plugin_modules
from visionflow.cli._blocks import block_details, find_block
from visionflow.definition import Definition
from visionflow.dialects import DIALECTS
from visionflow.kinds import all_kinds


def describe() -> dict[str, Any]:
    """Blocks, kinds, dialects and the native document's schema (cached per plugin set)."""
    return _described(plugin_modules())


def describe_block(type_name: str) -> dict[str, Any]:
    """One block by type name or alias; an unknown name is an error suggesting close ones."""
    return _block(find_block(load_registry(), type_name))


@functools.cache
def _described(plugins: tuple[str, ...]) -> dict[str, Any]:
    registry: BlockRegistry = load_registry()  # plugins register their kinds as they load
    return {
        "blocks": [_block(loaded) for loaded in registry.block_classes()],
        "kinds": [{"name": kind.name, "description": kind.description} for kind in all_kinds()],
        "dialects": sorted(DIALECTS),
        "definition_schema": Definition.model_json_schema(),
    }


def _block(loaded: Any) -> dict[str, Any]:
    details = block_details(loaded)
    schema = copy.deepcopy(loaded.block_class.Manifest.model_json_schema())
    properties = schema.get("properties", {})
    for field in details["fields"]:
        if field["name"] in properties:
            properties[field["name"]]["x-selector-kinds"] = field["selector_kinds"]
            properties[field["name"]]["x-step-reference"] = field["step_reference"]
    return {**details, "manifest_schema": schema}
