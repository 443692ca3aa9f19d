"""What a model is: its file, runtime, task head with pre/post-processing, and how it is served.

Settings apply at three levels: defaults < workflow-wide (``settings:`` of a definition)
< per model (its entry under ``models:``). ``providers`` (where the model runs) is resolved
by the library: entry or zoo description > workflow > process default (models/providers.py).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from visionflow.models.providers import parse_providers

# A bound on every model call, so that a hung model never blocks its caller for ever.
DEFAULT_TIMEOUT_MS = 60_000.0

PERFORMANCE_FIELDS = (
    "batch_size",
    "max_batch_delay_ms",
    "min_workers",
    "max_workers",
    "retry_attempts",
    "timeout_ms",
    "queue_size",
    "intra_op_threads",
)


MODEL_TASKS = (
    "object_detection",
    "instance_segmentation",
    "classification",
    "keypoints",
    "text_detection",
    "text_recognition",
    "raw",
)

# The functional dialect's (camelCase) spelling of the performance properties.
CAMEL_CASE_PERFORMANCE_FIELDS = {
    "batchSize": "batch_size",
    "maxBatchDelay": "max_batch_delay_ms",
    "minWorkers": "min_workers",
    "maxWorkers": "max_workers",
    "retryAttempts": "retry_attempts",
    "timeout": "timeout_ms",
    "queueSize": "queue_size",
}


class PerformanceSettings(BaseModel):
    """How calls to one model are served (the runtime semantics of the model pool)."""

    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(default=1, ge=1, le=1024)
    """Calls from concurrent runs are merged into batches of up to this many elements."""
    max_batch_delay_ms: float = Field(default=0.0, ge=0, le=10_000)
    """How long a partial batch waits for more elements before it runs."""
    min_workers: int = Field(default=1, ge=1, le=64)
    max_workers: int = Field(default=1, ge=1, le=64)
    """Sessions are added while the queue is deeper than twice the batch size."""
    retry_attempts: int = Field(default=0, ge=0, le=10)
    timeout_ms: float | None = Field(default=None, gt=0, le=86_400_000)  # up to a day
    """A call not answered in time fails with a timeout error, and its run is stopped.
    Not set: ``DEFAULT_TIMEOUT_MS``, except that a LiteRT call may then run on its caller's
    thread (no hand-off to a worker), where its run cannot be interrupted."""
    queue_size: int = Field(default=256, ge=1)
    """When this many elements wait, new calls fail at once with an overload error."""
    intra_op_threads: int = Field(default=1, ge=1, le=64)
    """Threads inside one session; 1 is fastest on small machines with several workers."""

    @property
    def call_timeout_ms(self) -> float:
        """The bound on one call: ``timeout_ms``, or the default bound when it is not set."""
        return DEFAULT_TIMEOUT_MS if self.timeout_ms is None else self.timeout_ms


class ModelSpec(PerformanceSettings):
    """One model: ``source`` is a file path or a zoo id (``zoo:...`` or a bare zoo name)."""

    id: str
    source: str
    # absent: from the file's suffix; mtcnn: three networks (models/mtcnn.py)
    runtime: Literal["onnx", "litert", "opencv_cascade", "mtcnn"] | None = None
    task: Literal[MODEL_TASKS]
    format: str = "default"
    """Which head of the task: e.g. ``yolov8``, ``yolov5``, ``blazeface`` for detection."""
    labels: list[str] | None = None
    preprocessing: dict[str, Any] = Field(default_factory=dict)
    postprocessing: dict[str, Any] = Field(default_factory=dict)
    description: str = ""
    providers: tuple[str, ...] = ()
    """Execution providers in order of preference (short names, e.g. ``("cuda",)``); CPU is
    always the last resort. Empty: CPU only."""

    @field_validator("providers", mode="before")
    @classmethod
    def _known_providers(cls, value: Any) -> tuple[str, ...]:
        return parse_providers(value, "providers")

    def performance(self) -> PerformanceSettings:
        return PerformanceSettings(**{name: getattr(self, name) for name in PERFORMANCE_FIELDS})
