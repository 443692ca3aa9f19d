"""Running a workflow over a folder of images: ``run_dataset`` (``visionflow run-dataset``)."""

from visionflow.datasets.runner import DatasetRunError, RunSummary, run_dataset

__all__ = ["DatasetRunError", "RunSummary", "run_dataset"]
