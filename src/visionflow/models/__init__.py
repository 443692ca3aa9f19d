"""Models: specs, the offline zoo, runtimes (onnxruntime, LiteRT), task heads, worker pools."""

from visionflow.models.spec import ModelSpec, PerformanceSettings

__all__ = ["ModelSpec", "PerformanceSettings"]
