"""What the operator decides about a server: address, workflow folder, safety switches, limits.

Each setting carries its command-line flag and help (``Flag``): ``visionflow serve`` is made
from these fields, so a setting added here is a flag there, with its help and default.
"""

from __future__ import annotations

import os
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from visionflow.models.library import ModelLimits

MEGABYTE = 1024 * 1024


@dataclass(frozen=True)
class Flag:
    """How a setting reads on the ``visionflow serve`` command line."""

    help: str
    name: str | None = None
    """The flag; default: ``--`` and the field's name with dashes."""
    metavar: str | None = None
    envvar: str | None = None
    unit: int = 1
    """The flag's value times this is the setting (the flag in MiB, the setting in bytes)."""
    shown_default: str | None = None
    """Said instead of a default that is computed (the CPUs of this machine)."""


def setting(default: Any = MISSING, help: str = "", **flag: Any) -> Any:
    """A ``ServerSettings`` field with its flag; ``default_factory=`` for computed defaults."""
    factory = flag.pop("default_factory", MISSING)
    return field(default=default, default_factory=factory, metadata={"flag": Flag(help, **flag)})


@dataclass(frozen=True)
class ServerSettings:
    """Everything ``create_app`` needs; ``visionflow serve`` fills it from its flags.

    >>> ServerSettings(port=9002, max_batch_size=8).max_batch_size
    8
    """

    host: str = setting("127.0.0.1", "The address to listen on.")
    port: int = setting(9001, "The port to listen on.")
    workflows_dir: Path | None = setting(  # noqa: RUF009 (a field(), as the others)
        None,
        "Registered workflows are kept here as files, <name>/<version>.yaml "
        "(default: a temporary folder that lasts as long as the process).",
        name="--workflows",
        metavar="DIR",
    )
    allow_custom_code: bool = setting(
        False, "Compile documents that carry Python (dynamic blocks, custom step files)."
    )
    allow_urls: bool = setting(False, 'Download images given as {"type": "url"}.')
    allowed_paths: tuple[Path, ...] = setting(
        (),
        'Read images given as {"type": "file"} inside this folder (repeatable).',
        name="--allow-files",
        metavar="DIR",
    )
    models: tuple[str, ...] = setting(
        (),
        "Run the model id ID (e.g. a Roboflow model_id) on the local model PATH, a .onnx/"
        ".tflite file or a model description (.yaml); repeatable. Documents may use it even "
        "where they may not name files: the operator chose it.",
        name="--model",
        metavar="ID=PATH",
    )
    api_key: str | None = setting(
        None,
        "When set, every endpoint but /health needs it in the header X-API-Key.",
        envvar="VISIONFLOW_API_KEY",
    )
    max_request_bytes: int = setting(
        32 * MEGABYTE, "Largest request body, in MiB.", name="--max-request-mb", unit=MEGABYTE
    )
    max_image_pixels: int = setting(40_000_000, "Largest image, width x height.")
    max_batch_size: int = setting(64, "Most elements in one batch input.")
    max_concurrent_runs: int = setting(
        32, "Runs at once on the thread pool; more wait their turn (their models still batch)."
    )
    max_model_workers: int = setting(
        4, "Most workers (sessions) a document may ask for per model (max/min_workers)."
    )
    max_model_threads: int = setting(
        help="Most intra-op threads per session a document may ask for.",
        default_factory=lambda: os.cpu_count() or 1,
        shown_default="the CPUs",
    )
    max_model_batch_size: int = setting(64, "Largest batch_size a document may ask for per model.")
    max_model_queue_size: int = setting(
        1024, "Largest queue_size a document may ask for per model."
    )
    max_model_input_side: int = setting(
        4096, "Largest side (pixels) a document's model preprocessing may resize an image to."
    )
    max_model_timeout_ms: int = setting(
        120_000, "Longest timeout_ms (ms) a document may ask for per model (the bound on a call)."
    )
    max_loaded_models: int = setting(
        16, "Model pools kept loaded; the least recently used idle one makes room."
    )
    url_timeout_seconds: float = setting(10.0, "Seconds an image URL may take to download.")
    allow_webcams: bool = setting(
        False, "Video pipelines may read this machine's cameras (a source given as a device index)."
    )
    max_pipelines: int = setting(4, "Video pipelines running at once (POST /pipelines).")
    access_log: bool = setting(True, "Log every request.")
    log_level: str = setting("info", "uvicorn's log level (critical, error, warning, info, debug).")

    def __post_init__(self) -> None:
        # paths may come as text (the command line's raw values, a config file)
        if self.workflows_dir is not None:
            object.__setattr__(self, "workflows_dir", Path(self.workflows_dir))
        object.__setattr__(self, "allowed_paths", tuple(map(Path, self.allowed_paths)))
        object.__setattr__(self, "models", tuple(self.models))
        for pair in self.models:
            model_id, _, path = pair.partition("=")
            if not model_id.strip() or not path.strip():
                raise ValueError(f"model mapping '{pair}' is not ID=PATH")
            if not Path(path.strip()).expanduser().is_file():
                raise ValueError(f"model mapping '{pair}': no file at '{path.strip()}'")
        for name in (
            "max_request_bytes",
            "max_image_pixels",
            "max_batch_size",
            "max_concurrent_runs",
            "max_model_workers",
            "max_model_threads",
            "max_model_batch_size",
            "max_model_queue_size",
            "max_model_input_side",
            "max_model_timeout_ms",
            "max_loaded_models",
            "max_pipelines",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, found {getattr(self, name)}")
        if not self.url_timeout_seconds > 0:  # also refuses NaN
            raise ValueError(
                f"url_timeout_seconds must be more than 0, found {self.url_timeout_seconds}"
            )

    def model_limits(self) -> ModelLimits:
        """The caps on what documents ask of their models, with the flags that raise them."""
        from visionflow.models.library import ModelLimits

        caps = {
            "max_workers": "max_model_workers",
            "intra_op_threads": "max_model_threads",
            "batch_size": "max_model_batch_size",
            "queue_size": "max_model_queue_size",
            "input_side": "max_model_input_side",
            "timeout_ms": "max_model_timeout_ms",
        }
        return ModelLimits(
            **{cap: getattr(self, name) for cap, name in caps.items()},
            flags=tuple((cap, flag_name(name)) for cap, name in caps.items()),
        )


def flags() -> dict[str, Flag]:
    """Every setting's flag, by field name, in the order of the fields."""
    return {item.name: item.metadata["flag"] for item in fields(ServerSettings)}


def flag_name(setting_name: str) -> str:
    """``max_batch_size`` -> ``--max-batch-size`` (or the flag the setting names)."""
    return flags()[setting_name].name or "--" + setting_name.replace("_", "-")
