"""torch model -> model bundle (ONNX graphs + manifest) that the runtime hosts.

`window.onnx` runs any model on a whole window ([1, T, F], T dynamic); `step.onnx` runs a
causal model one frame at a time with its state as explicit inputs and outputs. Both end
in a sigmoid: bundles carry activations in [0, 1] (see rtadt.bundle). After writing, the
exported graphs are run with onnxruntime against torch and the export fails if they differ.

Graphs are written with torch's TorchScript exporter (`dynamo=False`): it needs no extra
package and handles the models' fixed-shape step forms.

int8 (`int8=True`, causal models with a recurrent stack): the step graph is the model's
explicit step (offline.deploy.shaping: recurrent layers as gate matmuls, one state tensor per
layer, each layer's recurrent product made together with the next layer's input product and
carried to the next frame; a convolutional front end as im2col MatMuls, whose windows are
states written whole and read from an offset: StateSpec.output_shape), and its MatMul weights
are quantized to 8 bits (onnxruntime's dynamic quantization: weights once, activations per
call; see offline.deploy.quantize). At batch 1 a step reads every weight once per frame; the
CRNN's recurrent weights (2 MB in float32) do not stay in the L2 cache, in int8 they do. The
window graph stays float32. The step is then checked against torch to INT8_TOLERANCE instead
of TOLERANCE, and the deviation is written into the manifest ("quantization": each bundle's
own figure, `max_deviation`). Quantizing the convolutions' activations adds to the
deviation; a model whose int8 convolutions miss the tolerance is exported again with
float32 Conv nodes and int8 recurrent layers, and the manifest says so.
"""
from __future__ import annotations

import io
import math
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from offline.architectures import DrumModel
from offline.architectures.base import ConvFrontEnd
from offline.architectures.rnn import Recurrent
from offline.deploy.quantize import MIN_INT8_ROWS, quantize_int8
from offline.deploy.shaping import explicit_model, state_outputs
from rtadt.bundle import StateSpec, load_bundle, write_bundle
from rtadt.drums import CLASS_TO_MIDI, CLASSES
from rtadt.engine import StepModel
from rtadt.features import FeatureConfig
from rtadt.framing import frames_in
from rtadt.peaks import PeakParams

OPSET = 17
TOLERANCE = 1e-4
INT8_TOLERANCE = 0.02  # activations of an int8 step against torch
CONTEXT_SECONDS = 4.0  # the window of the design (400 frames at 100 frames/s)
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


class ExportMismatch(RuntimeError):
    """Exported graphs that differ from torch by more than their tolerance; `failed` maps
    each graph that did ("window", "step") to its deviation."""

    def __init__(self, message: str, failed: dict[str, float]):
        super().__init__(message)
        self.failed = failed


def _has_front_end(model: DrumModel) -> bool:
    return any(isinstance(m, ConvFrontEnd) for m in model.modules())


def step_graph(model: DrumModel, explicit: bool = False,
               convolutions: bool = True) -> tuple[bytes, list[StateSpec]]:
    """The float32 step graph of a causal model and its states; `explicit`: the explicit
    step that int8 quantization takes (offline.deploy.shaping.explicit_model; the
    convolutions' too, unless told not to), with its own state layout (some states written
    larger than they are read: StateSpec)."""
    if explicit and not any(isinstance(m, Recurrent) for m in model.modules()):
        raise ValueError(f"int8 export needs a recurrent stack; {type(model).__name__} has none")
    stepped = explicit_model(model, convolutions) if explicit else model
    states = [_state_spec(name, tuple(shape), tuple(out), start)
              for (name, shape), (out, start) in zip(stepped.state_shapes(1), state_outputs(stepped, 1), strict=True)]
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
        "context_frames": frames_in(CONTEXT_SECONDS, features),
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
