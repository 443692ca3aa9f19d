"""Small real ONNX models built in code for tests (onnx writes IR 10 so onnxruntime loads them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def identity_chain(path: Path, width: int = 256, depth: int = 1) -> Path:
    """y = x @ I @ I ... (depth MatMuls): outputs equal inputs; depth makes it slower."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    eye = numpy_helper.from_array(np.eye(width, dtype=np.float32), name="eye")
    nodes, previous = [], "x"
    for step in range(depth):
        output = "y" if step == depth - 1 else f"h{step}"
        nodes.append(helper.make_node("MatMul", [previous, "eye"], [output]))
        previous = output
    graph = helper.make_graph(
        nodes,
        "identity_chain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", width])],
        initializer=[eye],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)
    onnx.save(model, str(path))
    return path


def channel_means(path: Path) -> Path:
    """(N, 3, H, W) image tensor -> (N, 3) mean of each channel: a tiny real 'model'."""
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("ReduceMean", ["images"], ["means"], axes=[2, 3], keepdims=0)
    graph = helper.make_graph(
        [node],
        "channel_means",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, 32, 32])],
        [helper.make_tensor_value_info("means", TensorProto.FLOAT, ["batch", 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)
    onnx.save(model, str(path))
    return path
