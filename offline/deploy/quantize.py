"""int8 step graphs: onnxruntime's dynamic quantization of an ONNX graph's MatMuls, and the
rewrite that quantizes an im2col MatMul's activations before its Gather.

The graphs it is made for are the explicit steps of offline.deploy.shaping (recurrent layers
as gate MatMuls, convolutions as MatMuls over a gathered im2col matrix); offline.deploy.export
quantizes them for `rtadt-train export --int8`.
"""
from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import numpy as np

MIN_INT8_ROWS = 32  # smaller products (a first convolution over 1-2 channels: 9-18 rows) stay float32


def quantize_int8(graph: bytes, quantize_before_gather: bool = True) -> bytes:
    """The MatMuls of an ONNX graph with 8-bit weights (onnxruntime's dynamic quantization:
    the weights once, each activation per call with its own range).

    Weight types were chosen by one-run measurements of onnxruntime's MLAS kernels on the
    development machine (the step costs that result: benchmarks/results/models.md, from
    `python -m benchmarks.models`): signed weights for im2col MatMuls (many rows: u8 x s8 runs
    on VNNI, faster than float32), in 7 bits (`reduce_range`: on x86 CPUs without VNNI, u8 x s8
    products are summed in pairs into 16 bits, which 8-bit weights can saturate; it cost
    neither speed nor deviation there), unsigned for the recurrent matrix-vector products
    (u8 x u8 was faster there). Only MatMul nodes: a Linear layer on a 2-D input is exported
    as Gemm and stays float32 (the 5-class output layer, a few hundred MACs), as do weights
    with fewer than MIN_INT8_ROWS rows. Then, unless told not to, each im2col MatMul's
    activation quantization is moved in front of its Gather (`_quantize_before_gather`): the
    same numbers, over the window of 3 frames instead of the im2col matrix of 9 taps per band,
    a third of the work."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load_from_string(graph)
    rows = {init.name: init.dims[0] for init in model.graph.initializer if len(init.dims) == 2}
    producer = {out: node for node in model.graph.node for out in node.output}
    im2col, other = [], []
    for node in model.graph.node:
        if node.op_type == "MatMul" and rows.get(node.input[1], 0) >= MIN_INT8_ROWS:
            (im2col if _gathered(node.input[0], producer) else other).append(node.name)
    with tempfile.TemporaryDirectory() as tmp, _quiet_root_logger():
        path = Path(tmp) / "float.onnx"
        path.write_bytes(graph)
        for k, (nodes, weights) in enumerate(((im2col, QuantType.QInt8), (other, QuantType.QUInt8))):
            if nodes:  # an empty list would mean "every node" to quantize_dynamic
                out = Path(tmp) / f"int8-{k}.onnx"
                quantize_dynamic(path, out, weight_type=weights, op_types_to_quantize=["MatMul"],
                                 nodes_to_quantize=nodes, reduce_range=weights == QuantType.QInt8)
                path = out
        graph = path.read_bytes()
    return _quantize_before_gather(graph) if quantize_before_gather else graph


def _gathered(name: str, producer: dict) -> bool:
    """Is tensor `name` a Reshape of a Gather (an im2col matrix)?"""
    node = producer.get(name)
    if node is None or node.op_type != "Reshape":
        return False
    source = producer.get(node.input[0])
    return source is not None and source.op_type == "Gather"


def _quantize_before_gather(graph: bytes) -> bytes:
    """DynamicQuantizeLinear(Reshape(Gather(x))) -> Reshape(Gather(DynamicQuantizeLinear(x))).

    Gather and Reshape only copy elements, so quantizing x and then gathering gives the same
    bytes as gathering and then quantizing, provided the range (hence scale and zero point)
    is the same: it is when the Gather takes every element of x, as an im2col index takes
    every row of its window. So only Gathers whose constant index covers every row of an x of
    known size are rewritten (a row left out could widen the range, and cost precision)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(graph)
    nodes = list(model.graph.node)
    producer = {out: node for node in nodes for out in node.output}
    uses: dict[str, int] = {out.name: 1 for out in model.graph.output}
    for node in nodes:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    constants = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    constants.update({node.output[0]: numpy_helper.to_array(node.attribute[0].t) for node in nodes
                      if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value"})
    inferred = onnx.shape_inference.infer_shapes(model).graph
    shapes = {v.name: [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
              for v in list(inferred.value_info) + list(inferred.input) + list(inferred.output)}
    moved = 0
    for quant in (n for n in nodes if n.op_type == "DynamicQuantizeLinear"):
        reshape = producer.get(quant.input[0])
        if not _gathered(quant.input[0], producer) or uses[reshape.output[0]] != 1:
            continue
        gather = producer[reshape.input[0]]
        if uses[gather.output[0]] != 1 or not _gathers_every_row(gather, constants, shapes):
            continue
        quantized = quant.output[0]
        quant.input[0] = gather.input[0]
        quant.output[0] = gather.input[0] = f"{quantized}_before_gather"
        reshape.output[0] = quantized  # what the MatMulInteger reads
        moved += 1
    if not moved:
        return graph
    del model.graph.node[:]
    model.graph.node.extend(_topological(nodes, {i.name for i in model.graph.input}
                                         | {i.name for i in model.graph.initializer}))
    del model.graph.value_info[:]  # the moved tensors changed type (float -> uint8)
    return model.SerializeToString()


def _gathers_every_row(gather, constants: dict, shapes: dict) -> bool:
    index = constants.get(gather.input[1])
    axis = next((a.i for a in gather.attribute if a.name == "axis"), 0)
    shape = shapes.get(gather.input[0])
    if index is None or not shape or shape[axis] is None:
        return False
    rows = shape[axis]
    return set(np.unique(np.where(index < 0, index + rows, index)).tolist()) == set(range(rows))


def _topological(nodes: list, available: set[str]) -> list:
    available = set(available) | {""}  # "" is an omitted optional input
    order, pending = [], list(nodes)
    while pending:
        ready = [n for n in pending if all(i in available for i in n.input)]
        if not ready:
            raise RuntimeError("graph has a cycle or a missing input")
        for node in ready:
            available.update(node.output)
        order += ready
        done = {id(n) for n in ready}
        pending = [n for n in pending if id(n) not in done]
    return order


@contextlib.contextmanager
def _quiet_root_logger():
    """The quantizer advises pre-processing through the root logger on every call."""
    import logging

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)
