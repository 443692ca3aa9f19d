"""visionflow: deep-learning workflows written as checked YAML, compiled once, run anywhere.

>>> from visionflow import Workflow
>>> Workflow.compile("workflow.yaml").run(image="photo.jpg")  # doctest: +SKIP
"""

from typing import TYPE_CHECKING

from visionflow import errors
from visionflow.blocks.api import Batch, Block, FlowControl, Output, Selector, StepSelector
from visionflow.data.image import WorkflowImage
from visionflow.data.sources import ImagePolicy
from visionflow.serialization import serialize
from visionflow.workflow import Workflow

if TYPE_CHECKING:
    from visionflow.client import Client

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
    # Client needs httpx (the server extra): imported on first use, not with visionflow
    if name == "Client":
        from visionflow.client import Client

        return Client
    raise AttributeError(f"module 'visionflow' has no attribute {name!r}")
