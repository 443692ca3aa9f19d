"""Where a model runs: its execution providers (onnxruntime) or delegate (LiteRT).

A model's ``providers`` is a list of names, tried in order, CPU always last. The choice comes
from its ``models:`` entry (or its zoo / model-folder description), else the workflow's
``settings``, else the process default (``set_default_providers``, else the environment
variable ``VISIONFLOW_PROVIDERS``, comma-separated), else CPU only.

Each runtime takes the names it knows and skips the others, so one list serves a workflow
mixing .onnx and .tflite models (e.g. ``[cuda, gpu]``). An accelerator not installed here, or
one that fails to start, is never an error: the model runs on the CPU and one warning on the
``visionflow.models`` logger says which model, which provider and why. An unknown name is.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from visionflow.errors import UnknownProviderError

logger = logging.getLogger("visionflow.models")

ENVIRONMENT_VARIABLE = "VISIONFLOW_PROVIDERS"

# Short name -> onnxruntime's name. "cpu" is known to both runtimes.
ONNX_PROVIDERS = {
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "directml": "DmlExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
LITERT_DELEGATES = ("gpu",)
KNOWN = (*ONNX_PROVIDERS, *LITERT_DELEGATES)
_ALIASES = {
    **{full.lower(): short for short, full in ONNX_PROVIDERS.items()},
    "dml": "directml",
}

# Where LiteRT's GPU delegate library may be found (the first that loads is used); an
# operator can name another file with VISIONFLOW_LITERT_GPU_DELEGATE.
GPU_DELEGATE_LIBRARIES = (
    "libtensorflowlite_gpu_delegate.so",
    "libLiteRtGpuAccelerator.so",
    "tensorflowlite_gpu_delegate.dll",
    "libtensorflowlite_gpu_delegate.dylib",
)

_default: tuple[str, ...] | None = None


def parse_providers(value: object, place: str) -> tuple[str, ...]:
    """The short names of ``value`` (a list, or one text with commas), in order, once each.

    >>> parse_providers(["CUDAExecutionProvider", "cpu"], "here")
    ('cuda', 'cpu')
    """
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise UnknownProviderError(
            f"providers must be a list of names, found {value!r}",
            place=place,
            hint=f"e.g. [cuda, cpu]; known: {', '.join(KNOWN)}",
        )
    names: list[str] = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        name = _ALIASES.get(item.lower(), item.lower())
        if name not in KNOWN:
            raise UnknownProviderError(
                f"unknown provider '{item}'",
                place=place,
                hint=f"known: {', '.join(KNOWN)} (or onnxruntime's full names, e.g. "
                "CUDAExecutionProvider); `visionflow models --providers` lists this machine's",
            )
        if name not in names:
            names.append(name)
    return tuple(names)


def set_default_providers(names: Iterable[str] | str | None) -> None:
    """The providers of every model that names none itself, for this process (None: back to
    ``VISIONFLOW_PROVIDERS``). Set it before compiling: compiled plans are cached."""
    global _default
    _default = (
        None
        if names is None
        else parse_providers(
            names if isinstance(names, str) else list(names), "set_default_providers"
        )
    )


def default_providers() -> tuple[str, ...]:
    """The process-wide choice: ``set_default_providers``, else the environment variable."""
    if _default is not None:
        return _default
    return parse_providers(os.environ.get(ENVIRONMENT_VARIABLE, ""), ENVIRONMENT_VARIABLE)


@dataclass
class ProviderChoice:
    """One model's providers, shared by all its sessions, so that a fallback warns once."""

    model: str
    names: tuple[str, ...] = ()
    _warned: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def onnx(self) -> list[str]:
        """onnxruntime's names for this choice, CPU last."""
        wanted = [ONNX_PROVIDERS[n] for n in self.names if n in ONNX_PROVIDERS and n != "cpu"]
        return [*wanted, ONNX_PROVIDERS["cpu"]]

    def litert_gpu(self) -> bool:
        return "gpu" in self.names

    def fallback(
        self, providers: Iterable[str], why: str, running_on: Sequence[str] = ()
    ) -> None:
        """Log, once for this model, that it runs without ``providers``: on the first of
        ``running_on`` that is an accelerator, else on the CPU."""
        with self._lock:
            if self._warned:
                return
            self._warned = True
        accelerators = [name for name in running_on if name != "CPUExecutionProvider"]
        logger.warning(
            "model '%s': provider %s %s; running on %s",
            self.model,
            ", ".join(providers),
            why,
            accelerators[0] if accelerators else "the CPU",
        )


def available_onnx_providers() -> list[str]:
    try:
        import onnxruntime as ort
    except ImportError:
        return []
    return list(ort.get_available_providers())


def gpu_delegate_library() -> str | None:
    """The first LiteRT GPU delegate library that loads on this machine, or None."""
    import ctypes

    named = os.environ.get("VISIONFLOW_LITERT_GPU_DELEGATE")
    for library in (named,) if named else GPU_DELEGATE_LIBRARIES:
        try:
            ctypes.CDLL(library)  # checked first: LiteRT's own failure leaves noise on stderr
        except OSError:
            continue
        return library
    return None


def machine_providers() -> list[dict[str, str]]:
    """What this machine can run on: onnxruntime's providers, LiteRT's delegates found."""
    rows = []
    for full in available_onnx_providers():
        short = next((s for s, f in ONNX_PROVIDERS.items() if f == full), "")
        rows.append({"runtime": "onnx", "provider": full, "name": short})
    try:
        import ai_edge_litert  # noqa: F401
    except ImportError:
        return rows
    library = gpu_delegate_library()
    if library is not None:
        rows.append({"runtime": "litert", "provider": f"GPU delegate ({library})", "name": "gpu"})
    rows.append({"runtime": "litert", "provider": "CPU (XNNPACK)", "name": "cpu"})
    return rows
