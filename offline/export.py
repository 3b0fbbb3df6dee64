"""torch model -> model bundle (ONNX graphs + manifest) that the runtime hosts.

`window.onnx` runs any model on a whole window ([1, T, F], T dynamic); `step.onnx` runs a
causal model one frame at a time with its state as explicit inputs and outputs. Both end
in a sigmoid: bundles carry activations in [0, 1] (see rtadt.bundle). After writing, the
exported graphs are run with onnxruntime against torch and the export fails if they differ.

Graphs are written with torch's TorchScript exporter (`dynamo=False`): it needs no extra
package and handles the models' fixed-shape step forms.

int8 (`int8=True`, causal models with a recurrent stack): the step graph's recurrent layers
are exported as explicit gate matmuls (`Recurrent.explicit_step`: one state tensor per
layer, and each layer's recurrent product made together with the next layer's input product
and carried to the next frame), a convolutional front end as im2col MatMuls
(`ConvFrontEnd.explicit_step`, whose windows are states written whole and read from an
offset: StateSpec.output_shape), and the MatMul weights are quantized to 8 bits
(onnxruntime's dynamic quantization: weights once, activations per call; see
quantize_int8). At batch 1 a step reads every weight once per frame; the CRNN's recurrent
weights (2 MB in float32) do not stay in the L2 cache, in int8 they do. The window graph
stays float32. The step is then checked against torch to INT8_TOLERANCE instead of
TOLERANCE, and the deviation is written into the manifest ("quantization": each bundle's
own figure, `max_deviation`). Quantizing the convolutions' activations adds to the
deviation; a model whose int8 convolutions miss the tolerance is exported again with
float32 Conv nodes and int8 recurrent layers, and the manifest says so.
"""
from __future__ import annotations

import contextlib
import copy
import math
import io
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from offline.architectures import DrumModel
from rtadt.bundle import StateSpec, load_bundle, write_bundle
from rtadt.drums import CLASS_TO_MIDI, CLASSES
from rtadt.engine import StepModel
from rtadt.features import FeatureConfig
from rtadt.peaks import PeakParams

OPSET = 17
TOLERANCE = 1e-4
INT8_TOLERANCE = 0.02  # activations of an int8 step against torch
CONTEXT_FRAMES = 400  # the 4 s window of the design
# A non-causal model is re-run every WINDOW_EVERY frames and reports a frame once it has
# seen FUTURE_FRAMES after it: 0.25 s of extra latency for bidirectional context.
WINDOW_EVERY = 10
FUTURE_FRAMES = 25


class WindowGraph(nn.Module):
    def __init__(self, model: DrumModel):
        super().__init__()
        self.model = model

    def forward(self, features: Tensor) -> Tensor:
        return torch.sigmoid(self.model(features))


class StepGraph(nn.Module):
    def __init__(self, model: DrumModel):
        super().__init__()
        self.model = model

    def forward(self, frame: Tensor, *state: Tensor):
        logits, new_state = self.model.step(frame, list(state))
        return (torch.sigmoid(logits), *new_state)


def _export(module: nn.Module, args: tuple, inputs: list[str], outputs: list[str],
            dynamic: dict | None = None) -> bytes:
    # The exporter restores the module's training flag afterwards: a wrapper left in its
    # default training mode would switch the model back to training (dropout, batch stats).
    module.eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter is chatty about constant folding
        torch.onnx.export(module, args, buf, input_names=inputs, output_names=outputs,
                          dynamic_axes=dynamic, opset_version=OPSET, dynamo=False)
    return buf.getvalue()


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


class ExportMismatch(RuntimeError):
    """Exported graphs that differ from torch by more than their tolerance; `failed` maps
    each graph that did ("window", "step") to its deviation."""

    def __init__(self, message: str, failed: dict[str, float]):
        super().__init__(message)
        self.failed = failed


def _has_front_end(model: DrumModel) -> bool:
    from offline.architectures.base import ConvFrontEnd

    return any(isinstance(m, ConvFrontEnd) for m in model.modules())


def _explicit_steps(model: DrumModel, convolutions: bool = True) -> DrumModel:
    from offline.architectures.base import ConvFrontEnd
    from offline.architectures.rnn import Recurrent

    model = copy.deepcopy(model)
    if not any(isinstance(m, Recurrent) for m in model.modules()):
        raise ValueError(f"int8 export needs a recurrent stack; {type(model).__name__} has none")
    for m in model.modules():
        if isinstance(m, Recurrent) or (convolutions and isinstance(m, ConvFrontEnd)):
            m.explicit_step = True
    return model


def step_graph(model: DrumModel, explicit: bool = False,
               convolutions: bool = True) -> tuple[bytes, list[StateSpec]]:
    """The float32 step graph of a causal model and its states; `explicit`: the explicit
    forms that int8 quantization takes (the convolutions' too, unless told not to), with
    their own state layout (some states written larger than they are read: StateSpec)."""
    stepped = _explicit_steps(model, convolutions) if explicit else model
    states = [_state_spec(name, tuple(shape), tuple(out), start)
              for (name, shape), (out, start) in zip(stepped.state_shapes(1), stepped.state_outputs(1))]
    names = [s.name for s in states]
    graph = _export(StepGraph(stepped), (torch.zeros(1, model.num_features), *stepped.initial_state(1)),
                    ["frame", *names], ["activations", *[s.output_name for s in states]])
    return graph, states


def _state_spec(name: str, shape: tuple, written: tuple, start_row: int) -> StateSpec:
    """A batch-1 state read from row `start_row` (axis 1) of a larger output, as a flat offset."""
    if written == shape:
        return StateSpec(name, shape)
    if written[0] != 1 or shape[0] != 1 or written[2:] != shape[2:]:  # rows of one item: a flat range
        raise ValueError(f"state {name}: {shape} is not a run of rows of {written}")
    return StateSpec(name, shape, written, start_row * math.prod(written[2:]))


def window_graph(model: DrumModel, trace_frames: int = 32) -> bytes:
    return _export(WindowGraph(model), (torch.zeros(1, trace_frames, model.num_features),), ["features"],
                   ["activations"], {"features": {1: "frames"}, "activations": {1: "frames"}})


def export_graphs(model: DrumModel, trace_frames: int = 32, int8: bool = False,
                  int8_convolutions: bool = True) -> tuple[dict[str, bytes], list[StateSpec]]:
    model = model.eval()
    if int8 and not model.causal:
        raise ValueError("int8 export quantizes the step graph: it needs a causal model")
    graphs = {"window": window_graph(model, trace_frames)}
    states: list[StateSpec] = []
    if model.causal:
        graphs["step"], states = step_graph(model, explicit=int8, convolutions=int8_convolutions)
        if int8:
            graphs["step"] = quantize_int8(graphs["step"])
    return graphs, states


def export_bundle(model: DrumModel, path: str | Path, features: FeatureConfig, *, name: str,
                  lookahead_s: float, architecture: str, classes: tuple[str, ...] = CLASSES,
                  thresholds: list[float] | None = None, peak: PeakParams | None = None,
                  description: str = "", training: Any = None, evaluation: Any = None,
                  check_frames: int = 450, int8: bool = False, int8_tolerance: float = INT8_TOLERANCE) -> Path:
    if features.num_features != model.num_features:
        raise ValueError(f"model takes {model.num_features} features, the feature config gives "
                         f"{features.num_features}")
    manifest = {
        "name": name,
        "description": description,
        "features": features.to_dict(),
        "classes": list(classes),
        "midi_notes": [CLASS_TO_MIDI[c] for c in classes],
        "thresholds": list(thresholds) if thresholds is not None else [0.5] * len(classes),
        "peak_picking": (peak or PeakParams()).to_dict(),
        "lookahead_s": float(lookahead_s),
        "context_frames": CONTEXT_FRAMES,
        "window_every": 1 if model.causal else WINDOW_EVERY,
        "future_frames": 0 if model.causal else FUTURE_FRAMES,
        "architecture": {"name": architecture, **model.describe()},
        "training": training,
        "evaluation": evaluation,
    }
    if not int8:
        graphs, states = export_graphs(model)
        if states:
            manifest["step"] = {"state": [s.manifest_entry() for s in states]}
        path = write_bundle(path, manifest, graphs)
        check_bundle_matches(model, path, frames=check_frames)
        return path
    if not model.causal:
        raise ValueError("int8 export quantizes the step graph: it needs a causal model")
    window = window_graph(model)
    tries = (True, False) if _has_front_end(model) else (False,)  # int8 convolutions first
    for attempt, convolutions in enumerate(tries, 1):
        step, states = step_graph(model, explicit=True, convolutions=convolutions)
        graphs = {"window": window, "step": quantize_int8(step)}
        manifest["step"] = {"state": [s.manifest_entry() for s in states]}
        try:
            with tempfile.TemporaryDirectory() as tmp:  # measure the deviation, then write it into the manifest
                dev = check_bundle_matches(model, write_bundle(Path(tmp) / "check.rtadt", manifest, graphs),
                                           frames=check_frames, step_tolerance=int8_tolerance)
            break
        except ExportMismatch as exc:
            if attempt == len(tries) or "window" in exc.failed:  # float convolutions cannot help
                raise
    manifest["quantization"] = {"step": "int8 MatMul weights (onnxruntime dynamic quantization)",
                                "max_deviation": dev["step"], "tolerance": int8_tolerance,
                                "checked_frames": check_frames}
    if tries[0]:
        manifest["quantization"]["convolutions"] = (
            f"int8 im2col MatMuls (under {MIN_INT8_ROWS} weight rows: float32)" if convolutions
            else "float32: int8 convolutions missed the tolerance")
    return write_bundle(path, manifest, graphs)


def export_checkpoint(checkpoint: str | Path, output: str | Path, *, name: str, description: str = "",
                      int8: bool = False, int8_tolerance: float = INT8_TOLERANCE):
    """A bundle of a checkpoint (offline.checkpoint), with everything it carries: features,
    lookahead, classes, thresholds, training and evaluation. Returns (path, model, checkpoint)."""
    from offline.checkpoint import load_checkpoint

    model, ckpt = load_checkpoint(checkpoint)
    path = export_bundle(model, output, FeatureConfig.from_dict(ckpt["features"]), name=name,
                         lookahead_s=ckpt["lookahead_s"], architecture=ckpt["architecture"],
                         classes=tuple(ckpt["classes"]), thresholds=ckpt.get("thresholds"), description=description,
                         training=ckpt.get("training"), evaluation=ckpt.get("evaluation"), int8=int8,
                         int8_tolerance=int8_tolerance)
    return path, model, ckpt


@torch.no_grad()
def check_bundle_matches(model: DrumModel, path: str | Path, frames: int = 450, seed: int = 0,
                         step_tolerance: float = TOLERANCE) -> dict[str, float]:
    """Run the bundle's graphs with onnxruntime and torch on the same random features;
    raise if any activation differs by more than TOLERANCE (the step: step_tolerance).
    Returns the max deviations."""
    model = model.eval()
    bundle = load_bundle(path)
    x = torch.from_numpy(np.random.default_rng(seed).random((1, frames, model.num_features), dtype=np.float32) * 3)
    want = torch.sigmoid(model(x))[0].numpy()
    got = bundle.session("window").run(["activations"], {"features": x.numpy()})[0][0]
    dev = {"window": float(np.abs(got - want).max())}
    if model.causal:  # through the runtime's own step path (bound buffers, state swapped)
        stepper = StepModel.from_bundle(bundle)
        rows = [stepper.push(x[0, t].numpy())[0][1] for t in range(frames)]
        dev["step"] = float(np.abs(np.array(rows) - want).max())
    tolerance = {"window": TOLERANCE, "step": step_tolerance}
    bad = {k: v for k, v in dev.items() if not v <= tolerance[k]}
    if bad:
        raise ExportMismatch(f"{path}: exported graphs differ from torch: {bad} (tolerances {tolerance})", bad)
    return dev
