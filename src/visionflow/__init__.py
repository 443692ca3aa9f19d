"""visionflow: deep-learning workflows written as checked YAML, compiled once, run anywhere.

>>> from visionflow import Workflow
>>> Workflow.compile("workflow.yaml").run(image="photo.jpg")  # doctest: +SKIP
"""

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from visionflow import errors
    from visionflow.blocks.api import Batch, Block, FlowControl, Output, Selector, StepSelector
    from visionflow.client import Client
    from visionflow.data.image import WorkflowImage
    from visionflow.data.sources import ImagePolicy
    from visionflow.serialization import serialize
    from visionflow.workflow import Workflow

# The public names, imported on first use (PEP 562): the command line imports this package
# for every command, and `visionflow --help` needs neither numpy nor pydantic nor the engine.
_HOMES = {
    "Batch": "visionflow.blocks.api",
    "Block": "visionflow.blocks.api",
    "Client": "visionflow.client",  # needs httpx (the server extra)
    "FlowControl": "visionflow.blocks.api",
    "ImagePolicy": "visionflow.data.sources",
    "Output": "visionflow.blocks.api",
    "Selector": "visionflow.blocks.api",
    "StepSelector": "visionflow.blocks.api",
    "Workflow": "visionflow.workflow",
    "WorkflowImage": "visionflow.data.image",
    "errors": "visionflow.errors",
    "serialize": "visionflow.serialization",
}

__all__ = [
    "Batch",
    "Block",
    "Client",
    "FlowControl",
    "ImagePolicy",
    "Output",
    "Selector",
    "StepSelector",
    "Workflow",
    "WorkflowImage",
    "errors",
    "serialize",
]
__version__ = "0.1.0"


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'visionflow' has no attribute {name!r}")
    module = importlib.import_module(home)
    value = module if name == "errors" else getattr(module, name)
    globals()[name] = value  # found once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
