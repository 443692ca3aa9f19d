"""visionflow: deep-learning workflows written as checked YAML, compiled once, run anywhere.

>>> from visionflow import Workflow
>>> Workflow.compile("workflow.yaml").run(image="photo.jpg")  # doctest: +SKIP
"""

from visionflow import errors
from visionflow.blocks.api import Batch, Block, FlowControl, Output, Selector, StepSelector
from visionflow.data.image import WorkflowImage
from visionflow.serialization import serialize
from visionflow.workflow import Workflow

__all__ = [
    "Batch",
    "Block",
    "FlowControl",
    "Output",
    "Selector",
    "StepSelector",
    "Workflow",
    "WorkflowImage",
    "errors",
    "serialize",
]
__version__ = "0.1.0"
