"""Runtime data types: images that know where they came from, detection helpers."""

from visionflow.data.image import ImageOrigin, WorkflowImage

__all__ = ["ImageOrigin", "WorkflowImage"]
