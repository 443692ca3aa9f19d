"""One small interface over model runtimes: onnxruntime for .onnx, LiteRT for .tflite.

A ``Session`` runs batched arrays (batch on the first axis); models with a fixed batch of
one (most .tflite files) are called once per element behind the same interface.
Runtimes are imported only when a model is opened.

A call given a ``RunHandle`` can be stopped from another thread: onnxruntime ends it between
two operators (its ``RunOptions.terminate``); LiteRT has no such switch, so a LiteRT call
stops only between the elements of a batch (``Session.stoppable`` tells which).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from visionflow.errors import ModelError
from visionflow.models.providers import ProviderChoice, gpu_delegate_library

RUNTIME_EXTRAS = {
    "onnx": ("onnxruntime", "pip install 'visionflow[models]'"),
    "litert": ("ai_edge_litert", "pip install 'visionflow[models]'"),
    "opencv_cascade": ("cv2", "pip install opencv-python-headless"),
    "mtcnn": ("onnxruntime", "pip install 'visionflow[models]'"),
}


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int | None, ...]  # None where the size is dynamic
    dtype: np.dtype


class RunStoppedError(RuntimeError):
    """A session call ended early because its ``RunHandle`` was stopped."""


class RunHandle:
    """One session call in flight, which another thread may stop.

    ``stop()`` may come before the runtime has attached its switch (``on_stop``); whichever
    comes second flips it, so a stop is never lost.
    """

    __slots__ = ("_switch", "stopped")

    def __init__(self) -> None:
        self._switch: Callable[[], None] | None = None
        self.stopped = False

    def on_stop(self, switch: Callable[[], None]) -> None:
        self._switch = switch
        if self.stopped:
            switch()

    def stop(self) -> None:
        self.stopped = True
        if self._switch is not None:
            self._switch()


class Session:
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    fixed_batch: bool
    stoppable = False
    """Whether a call can be stopped while the runtime computes (not only between elements)."""

    def run(self, feeds: list[np.ndarray], handle: RunHandle | None = None) -> list[np.ndarray]:
        """Arrays in (one per model input, batch first) -> arrays out (batch first)."""
        raise TypeError(f"{type(self).__name__} does not implement run()")


def runtime_for(path: Path, runtime: str | None) -> str:
    if runtime:
        return runtime
    if path.suffix == ".onnx":
        return "onnx"
    if path.suffix == ".tflite":
        return "litert"
    if path.suffix == ".xml":
        return "opencv_cascade"
    raise ModelError(
        f"cannot tell the runtime of '{path.name}'",
        hint="set runtime: onnx, litert or opencv_cascade",
    )


def open_session(
    path: Path, runtime: str | None = None, threads: int = 1, choice: ProviderChoice | None = None
) -> Session:
    """A session on ``path``; ``choice``: where it runs (CPU when not given or not possible)."""
    choice = choice or ProviderChoice(path.name)
    kind = runtime_for(path, runtime)
    if not path.is_file():
        raise ModelError(f"no model file at '{path}'")
    module, install = RUNTIME_EXTRAS[kind]
    try:
        __import__(module)
    except ImportError:
        raise ModelError(
            f"the {kind} runtime ({module}) is not installed", hint=f"install it: {install}"
        ) from None
    if kind == "opencv_cascade":
        from visionflow.models.cascades import CascadeSession  # imports this module

        return CascadeSession(path)
    if kind == "mtcnn":
        from visionflow.models.mtcnn import MtcnnSession  # imports this module

        return MtcnnSession(path, threads, choice)
    if kind == "onnx":
        return OnnxSession(path, threads, choice)
    return LiteRTSession(path, threads, choice)


def _dims(shape) -> tuple[int | None, ...]:
    return tuple(int(d) if isinstance(d, int | np.integer) and d > 0 else None for d in shape)


class OnnxSession(Session):
    stoppable = True

    def __init__(self, path: Path, threads: int, choice: ProviderChoice | None = None):
        import onnxruntime as ort

        choice = choice or ProviderChoice(path.name)
        self._run_options = ort.RunOptions
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        wanted = choice.onnx()
        available = set(ort.get_available_providers())
        missing = [name for name in wanted if name not in available]
        providers = [name for name in wanted if name in available]
        if missing:
            shown = ", ".join(sorted(available))
            choice.fallback(missing, f"is not installed here (available: {shown})", providers)
        self._session = self._start(ort, path, options, providers, choice)
        self.inputs = [self._info(i) for i in self._session.get_inputs()]
        self.outputs = [self._info(o) for o in self._session.get_outputs()]
        self._names = [i.name for i in self.inputs]
        self.fixed_batch = self.inputs[0].shape[:1] == (1,)
        self.metadata = dict(self._session.get_modelmeta().custom_metadata_map)

    @staticmethod
    def _start(ort, path: Path, options, providers: list[str], choice: ProviderChoice):
        """An InferenceSession on ``providers``; when the first (an accelerator) fails to
        start, on the others (the CPU last)."""
        try:
            session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as error:
            if providers == ["CPUExecutionProvider"]:
                raise ModelError(f"onnxruntime cannot load '{path.name}': {error}") from None
            rest = providers[1:] or ["CPUExecutionProvider"]
            choice.fallback(providers[:1], f"failed to start ({_first_line(error)})", rest)
            return OnnxSession._start(ort, path, options, rest, choice)
        # onnxruntime may drop a provider that cannot start (its libraries missing) by itself.
        kept = session.get_providers()
        dropped = [name for name in providers if name not in kept]
        if dropped:
            choice.fallback(dropped, "failed to start (onnxruntime left it out)", kept)
        return session

    def providers(self) -> list[str]:
        """The providers this session runs on, in onnxruntime's order of preference."""
        return list(self._session.get_providers())

    @staticmethod
    def _info(node) -> TensorInfo:
        dtype = np.float32 if "float" in node.type else np.int64 if "int64" in node.type else None
        return TensorInfo(node.name, _dims(node.shape), np.dtype(dtype or np.float32))

    def run(self, feeds: list[np.ndarray], handle: RunHandle | None = None) -> list[np.ndarray]:
        if self.fixed_batch and len(feeds[0]) > 1:
            return _one_by_one(self, feeds, handle)
        options = None
        if handle is not None:
            options = self._run_options()  # one per call (about 1 µs): a stop ends this call only
            options.log_severity_level = 4  # the failure is raised; no copy on stderr
            handle.on_stop(lambda: setattr(options, "terminate", True))
        # onnxruntime releases the GIL while it computes.
        try:
            return self._session.run(None, dict(zip(self._names, feeds, strict=True)), options)
        except Exception:
            if handle is not None and handle.stopped:
                raise RunStoppedError("the call was stopped") from None
            raise


class LiteRTSession(Session):
    def __init__(self, path: Path, threads: int, choice: ProviderChoice | None = None):
        choice = choice or ProviderChoice(path.name)
        self.delegate = "cpu"
        if choice.litert_gpu():
            try:
                self._interpreter = self._start(path, threads, _gpu_delegate())
                self.delegate = "gpu"
            except _NoDelegateError as error:
                choice.fallback(["gpu (LiteRT's GPU delegate)"], str(error))
            except Exception as error:
                choice.fallback(
                    ["gpu (LiteRT's GPU delegate)"], f"failed to start ({_first_line(error)})"
                )
        if self.delegate == "cpu":
            try:
                self._interpreter = self._start(path, threads, None)
            except Exception as error:
                raise ModelError(f"LiteRT cannot load '{path.name}': {error}") from None
        details = self._interpreter.get_input_details()
        self._inputs = [d["index"] for d in details]
        self._outputs = [d["index"] for d in self._interpreter.get_output_details()]
        self.inputs = [TensorInfo(d["name"], _dims(d["shape"]), d["dtype"]) for d in details]
        self.outputs = [
            TensorInfo(d["name"], _dims(d["shape"]), d["dtype"])
            for d in self._interpreter.get_output_details()
        ]
        self.fixed_batch = True
        self.metadata: dict[str, str] = {}
        self._lock = threading.Lock()  # an interpreter holds its tensors: one call at a time

    @staticmethod
    def _start(path: Path, threads: int, delegate):
        from ai_edge_litert.interpreter import Interpreter

        with _without_delegate_notice():
            interpreter = Interpreter(
                model_path=str(path),
                num_threads=threads,
                experimental_delegates=[delegate] if delegate is not None else None,
            )
            interpreter.allocate_tensors()
        return interpreter

    def run(self, feeds: list[np.ndarray], handle: RunHandle | None = None) -> list[np.ndarray]:
        if len(feeds[0]) > 1:
            return _one_by_one(self, feeds, handle)
        with self._lock:
            for index, feed in zip(self._inputs, feeds, strict=True):
                self._interpreter.set_tensor(index, feed)
            self._interpreter.invoke()
            return [self._interpreter.get_tensor(index).copy() for index in self._outputs]


class _NoDelegateError(RuntimeError):
    """LiteRT's GPU delegate is not on this machine (its text says why)."""


def _gpu_delegate():
    """LiteRT's GPU delegate, or an error saying why there is none here."""
    from ai_edge_litert import interpreter

    library = gpu_delegate_library()
    if library is None:
        raise _NoDelegateError("is not installed here (no GPU delegate library found)")
    if not hasattr(interpreter, "load_delegate"):
        raise _NoDelegateError("is not available (this LiteRT cannot load delegates)")
    return interpreter.load_delegate(library)


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200]}" if text else type(error).__name__


# LiteRT's C++ logger writes this line to the process's stderr when an interpreter starts
# (no setting turns it off): users of a workflow have nothing to do with it.
_DELEGATE_NOTICE = b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
_stderr_lock = threading.Lock()


@contextlib.contextmanager
def _without_delegate_notice() -> Iterator[None]:
    """Catch what is written to file descriptor 2 meanwhile and write it back without
    LiteRT's delegate notice (anything else, e.g. its error text, still reaches stderr)."""
    try:
        os.fstat(2)
    except OSError:  # no stderr at all (a daemon): nothing to keep clean
        yield
        return
    with _stderr_lock, tempfile.TemporaryFile() as caught:
        if sys.stderr is not None:
            sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            if sys.stderr is not None:
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            kept = [line for line in caught.read().splitlines(keepends=True)
                    if line.rstrip() != _DELEGATE_NOTICE]  # fmt: skip
            if kept:
                os.write(2, b"".join(kept))


def _one_by_one(
    session: Session, feeds: list[np.ndarray], handle: RunHandle | None
) -> list[np.ndarray]:
    results = []
    for i in range(len(feeds[0])):
        if handle is not None and handle.stopped:  # LiteRT's only chance to stop: between elements
            raise RunStoppedError("the call was stopped")
        results.append(session.run([feed[i : i + 1] for feed in feeds], handle))
    return [np.concatenate(parts) for parts in zip(*results, strict=True)]
