"""What the operator decides about a server: address, workflow folder, safety switches, limits."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

MEGABYTE = 1024 * 1024


@dataclass(frozen=True)
class ServerSettings:
    """Everything ``create_app`` needs; ``visionflow serve`` fills it from its flags.

    >>> ServerSettings(port=9002, max_batch_size=8).max_batch_size
    8
    """

    host: str = "127.0.0.1"
    port: int = 9001
    workflows_dir: Path | None = None
    """Registered workflows live here as files (``<name>/<version>.yaml``); None: in a
    temporary folder that lasts as long as the process."""
    allow_custom_code: bool = False
    """Compile documents that carry Python (dynamic blocks, custom step files)."""
    allow_urls: bool = False
    """Image inputs may be ``{"type": "url"}``: the server downloads them."""
    allowed_paths: tuple[Path, ...] = ()
    """Image inputs may be ``{"type": "file"}`` paths inside one of these folders."""
    api_key: str | None = None
    """When set, every endpoint but /health needs the header ``X-API-Key``."""
    max_request_bytes: int = 32 * MEGABYTE
    max_image_pixels: int = 40_000_000
    max_batch_size: int = 64
    max_concurrent_runs: int = 32
    """Runs at once on the thread pool; more wait their turn (their models still batch)."""
    max_model_workers: int = 4
    """Most sessions (threads) one model of a document may ask for (max/min_workers)."""
    max_model_threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    """Most intra-op threads per session a document may ask for."""
    max_model_batch_size: int = 64
    max_model_queue_size: int = 1024
    max_model_input_side: int = 4096
    """Most pixels a side a document's model preprocessing may resize an image to."""
    max_loaded_models: int = 16
    """Distinct model pools kept at once; the least recently used idle one makes room."""
    url_timeout_seconds: float = 10.0
    access_log: bool = True
    log_level: str = "info"

    def __post_init__(self) -> None:
        for name in (
            "max_request_bytes",
            "max_image_pixels",
            "max_batch_size",
            "max_model_workers",
            "max_model_threads",
            "max_model_batch_size",
            "max_model_queue_size",
            "max_model_input_side",
            "max_loaded_models",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, found {getattr(self, name)}")
        if self.max_concurrent_runs < 1:
            raise ValueError("max_concurrent_runs must be at least 1")

    def model_limits(self):
        """The caps on what documents ask of their models, with the flags that raise them."""
        from visionflow.models.library import ModelLimits

        return ModelLimits(
            max_workers=self.max_model_workers,
            intra_op_threads=self.max_model_threads,
            batch_size=self.max_model_batch_size,
            queue_size=self.max_model_queue_size,
            input_side=self.max_model_input_side,
            flags=(
                ("max_workers", "--max-model-workers"),
                ("intra_op_threads", "--max-model-threads"),
                ("batch_size", "--max-model-batch-size"),
                ("queue_size", "--max-model-queue-size"),
                ("input_side", "--max-model-input-side"),
            ),
        )
