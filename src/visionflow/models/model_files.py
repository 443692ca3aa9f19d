"""A model file's inputs and outputs, read from the file itself: no runtime is started.

Validation checks a model's declared format against its outputs' shapes (the heads'
``check_outputs``) without an onnxruntime session or a LiteRT interpreter: those cost an
import and a load each, and validation only needs what the file declares. ``outline(path,
runtime)`` answers a ``Session`` that describes the model and cannot run it.

- ONNX: the graph's inputs (less its initializers, as onnxruntime lists them) and outputs,
  read from the protobuf's wire format (the ``onnx`` package is not a runtime dependency);
  the weights are skipped over, not read.
- TFLite: the first subgraph's input and output tensors, read from the flatbuffer.
- OpenCV cascades: the classifier itself (the XML loads in milliseconds); MTCNN: its three
  ONNX files read as above (``models/mtcnn.py``).

What the file says is what the runtimes report for the models of the zoo and the tests'
graphs (``tests/test_validate_without_loading.py`` compares them); a file that parses but
that a runtime would still refuse (an unknown operator) is only found when it loads.
"""

from __future__ import annotations

import importlib.util
import mmap
import struct
from pathlib import Path

import numpy as np

from visionflow.errors import ModelError
from visionflow.models.runtime import RUNTIME_EXTRAS, Session, TensorInfo, runtime_for


class ModelOutline(Session):
    """A model's inputs and outputs as its file declares them; it cannot run."""

    def __init__(
        self,
        path: Path,
        inputs: list[TensorInfo],
        outputs: list[TensorInfo],
        metadata: dict[str, str] | None = None,
    ):
        self.path = path
        self.inputs = inputs
        self.outputs = outputs
        self.fixed_batch = inputs[:1] != [] and inputs[0].shape[:1] == (1,)
        self.metadata = dict(metadata or {})  # ONNX's metadata_props, as onnxruntime gives it

    def run(self, feeds, handle=None):
        raise TypeError(f"'{self.path.name}' was read for validation, not loaded: it cannot run")


def outline(path: Path, runtime: str | None = None) -> Session:
    """The inputs and outputs of the model file at ``path``, without starting its runtime
    (which must still be installed: a model that cannot run here is the same error)."""
    kind = runtime_for(path, runtime)
    if not path.is_file():
        raise ModelError(f"no model file at '{path}'")
    module, install = RUNTIME_EXTRAS[kind]
    if importlib.util.find_spec(module) is None:  # found, not imported: the same error
        raise ModelError(
            f"the {kind} runtime ({module}) is not installed", hint=f"install it: {install}"
        )
    if kind == "opencv_cascade":
        from visionflow.models.cascades import CascadeSession

        return CascadeSession(path)
    if kind == "mtcnn":  # three ONNX files (models/mtcnn.py)
        from visionflow.models.mtcnn import outline as mtcnn_outline

        return mtcnn_outline(path)
    reader = _onnx_outline if kind == "onnx" else _tflite_outline
    try:
        with path.open("rb") as file:  # mapped, so that the weights are never read
            data = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        # not closed here: views of it may live until collected; it closes when freed
        inputs, outputs, metadata = reader(memoryview(data))
    except (ValueError, IndexError, struct.error, _Malformed) as error:
        runtime_name = "onnxruntime" if kind == "onnx" else "LiteRT"
        raise ModelError(
            f"{runtime_name} cannot load '{path.name}': the file is not a valid "
            f"{'ONNX' if kind == 'onnx' else 'TFLite'} model ({error or 'empty'})"
        ) from None
    return ModelOutline(path, inputs, outputs, metadata)


class _Malformed(ValueError):
    """A model file's bytes do not follow its format (read as the file's own error)."""


def _dims(values: list[int]) -> tuple[int | None, ...]:
    """Sizes as the sessions give them: None where a size is dynamic (0, -1 or a name)."""
    return tuple(value if value > 0 else None for value in values)


# --- ONNX: protobuf wire format ----------------------------------------------------------
# Field numbers from onnx.proto: ModelProto.graph 7, metadata_props 14 (StringStringEntryProto:
# key 1, value 2); GraphProto.initializer 5, input 11, output 12; TensorProto.name 8;
# ValueInfoProto.name 1, type 2; TypeProto.tensor_type 1; TypeProto.Tensor.elem_type 1,
# shape 2; TensorShapeProto.dim 1; Dimension.dim_value 1.

_ONNX_INT64 = 7


def _varint(data: memoryview, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7
        if shift > 63:
            raise _Malformed("a varint runs past 64 bits")


def _fields(data: memoryview):
    """(field number, value) of one protobuf message: ints, or memoryviews of its bytes."""
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
        elif wire == 2:
            size, at = _varint(data, at)
            if at + size > len(data):
                raise _Malformed("a field runs past the end of its message")
            value, at = data[at : at + size], at + size
        elif wire in (1, 5):  # fixed 64 / 32 bits
            size = 8 if wire == 1 else 4
            value, at = data[at : at + size], at + size
        else:
            raise _Malformed(f"unknown wire type {wire}")
        yield number, value


def _onnx_outline(data: memoryview) -> tuple[list[TensorInfo], list[TensorInfo], dict[str, str]]:
    graph, metadata = None, {}
    for number, value in _fields(data):
        if number == 7:
            graph = value
        elif number == 14:  # e.g. a text recognizer's character list
            entry = dict(_fields(value))
            metadata[_text(entry.get(1, b""))] = _text(entry.get(2, b""))
    if not isinstance(graph, memoryview):
        raise _Malformed("no graph")
    initializers: set[str] = set()
    inputs, outputs = [], []
    for number, value in _fields(graph):
        if number == 5:
            name = next((v for n, v in _fields(value) if n == 8), None)
            if name is not None:
                initializers.add(_text(name))
        elif number == 11:
            inputs.append(_onnx_value(value))
        elif number == 12:
            outputs.append(_onnx_value(value))
    return [info for info in inputs if info.name not in initializers], outputs, metadata


def _text(value) -> str:
    return bytes(value).decode("utf-8")


def _onnx_value(data: memoryview) -> TensorInfo:
    name, elem_type, dims = "", 0, []
    for number, value in _fields(data):
        if number == 1:
            name = _text(value)
        elif number == 2:
            tensor = next((v for n, v in _fields(value) if n == 1), None)
            if tensor is not None:
                elem_type, dims = _onnx_tensor_type(tensor)
    # the sessions' reading of onnxruntime's type names: int64 as int64, the rest as float32
    dtype = np.int64 if elem_type == _ONNX_INT64 else np.float32
    return TensorInfo(name, _dims(dims), np.dtype(dtype))


def _onnx_tensor_type(data: memoryview) -> tuple[int, list[int]]:
    elem_type, dims = 0, []
    for number, value in _fields(data):
        if number == 1:
            elem_type = value
        elif number == 2:
            for dim_number, dim in _fields(value):
                if dim_number == 1:
                    size = next((v for n, v in _fields(dim) if n == 1), 0)  # else: a name
                    dims.append(size - (1 << 64) if size >= 1 << 63 else size)
    return elem_type, dims


# --- TFLite: flatbuffer -----------------------------------------------------------------
# Tables from schema.fbs: Model.subgraphs 2; SubGraph.tensors 0, inputs 1, outputs 2;
# Tensor.shape 0, type 1, name 3.

_TFLITE_TYPES = {
    0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 5: np.object_,
    6: np.bool_, 7: np.int16, 8: np.complex64, 9: np.int8, 10: np.float64, 11: np.complex128,
    12: np.uint64, 15: np.uint32, 16: np.uint16,
}  # fmt: skip


def _u32(data: memoryview, at: int) -> int:
    return struct.unpack_from("<I", data, at)[0]


def _field(data: memoryview, table: int, index: int) -> int | None:
    """Where field ``index`` of the table at ``table`` is stored; None when absent."""
    vtable = table - struct.unpack_from("<i", data, table)[0]
    size = struct.unpack_from("<H", data, vtable)[0]
    if 4 + 2 * index >= size:
        return None
    offset = struct.unpack_from("<H", data, vtable + 4 + 2 * index)[0]
    return table + offset if offset else None


def _vector(data: memoryview, table: int, index: int) -> tuple[int, int]:
    """(where the 4-byte elements start, how many) of a vector field; (0, 0) when absent."""
    at = _field(data, table, index)
    if at is None:
        return 0, 0
    start = at + _u32(data, at)
    count = _u32(data, start)
    if start + 4 + 4 * count > len(data):  # elements of 4 bytes (offsets, int32)
        raise _Malformed("a vector runs past the end of the file")
    return start + 4, count


def _tables(data: memoryview, table: int, index: int) -> list[int]:
    start, count = _vector(data, table, index)
    return [start + 4 * i + _u32(data, start + 4 * i) for i in range(count)]


def _ints(data: memoryview, table: int, index: int) -> list[int]:
    start, count = _vector(data, table, index)
    return list(struct.unpack_from(f"<{count}i", data, start)) if count else []


def _tflite_outline(data: memoryview) -> tuple[list[TensorInfo], list[TensorInfo], dict[str, str]]:
    if len(data) < 8 or bytes(data[4:8]) != b"TFL3":
        raise _Malformed("no TFL3 identifier")
    subgraphs = _tables(data, _u32(data, 0), 2)
    if not subgraphs:
        raise _Malformed("no subgraph")
    tensors = _tables(data, subgraphs[0], 0)
    return (
        [_tflite_tensor(data, tensors[i]) for i in _ints(data, subgraphs[0], 1)],
        [_tflite_tensor(data, tensors[i]) for i in _ints(data, subgraphs[0], 2)],
        {},  # LiteRT sessions give no metadata either
    )


def _tflite_tensor(data: memoryview, table: int) -> TensorInfo:
    kind = _field(data, table, 1)
    type_code = data[kind] if kind is not None else 0
    name_at = _field(data, table, 3)
    name = ""
    if name_at is not None:
        start = name_at + _u32(data, name_at)
        name = bytes(data[start + 4 : start + 4 + _u32(data, start)]).decode("utf-8")
    dtype = np.dtype(_TFLITE_TYPES.get(type_code, np.object_))
    return TensorInfo(name, _dims(_ints(data, table, 0)), dtype)
