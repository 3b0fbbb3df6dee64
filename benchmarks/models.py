"""Model-cost benchmark: what each of the five architectures costs per streaming step and
per 4 s window, in torch eager and in onnxruntime, single-threaded.

    python -m benchmarks.models [--repeats 5] [--steps 2000] [--out benchmarks/results] [--quick]

Every architecture is built at the registry's default (mid-size) hyperparameters, in both
flavours, with 84 input features and 5 classes; weights are seeded random initialisations
(cost does not depend on the weights: every op is dense, nothing branches on values). For
each one, in the same run:

* parameters of the offline and the causal flavour, and the floats of the step state;
* multiply-accumulates (MACs) per frame of the causal flavour's ``step``, counted with
  ``torch.utils.flop_counter.FlopCounterMode`` on one step call (FLOPs / 2). The counter
  has formulas for matmuls and convolutions (GRU/LSTM layers decompose into ``addmm`` on the
  CPU and are counted), but none for the fused CPU attention kernel
  (``_scaled_dot_product_flash_attention_for_cpu``): its two matmuls (q k^T and weights v)
  are added analytically from the recorded shapes, B * heads * L_q * L_k * (E + E_v), and
  cross-checked against a second count with ``SDPBackend.MATH`` (attention as plain ``bmm``
  ops, which the counter does count). The same counts for one whole 400-frame window of each
  flavour give MACs per frame of the window form. Elementwise work (activations, gate
  products, normalisation, softmax, rotary rotations) is no MAC and not included;
* microseconds per streaming step (causal flavour, batch 1), torch eager
  (``StepGraph(model)`` under ``torch.no_grad``) against onnxruntime (the ``step.onnx`` of
  ``offline.deploy.export.export_graphs``, run through ``rtadt.engine.StepModel.push``, the engine's
  own call: buffers bound once, two state sets swapped each step); the same graph fed as a
  plain ``session.run`` with a dict (state outputs fed back each step) is timed alongside, to
  show what the binding saves; per round ``--steps`` timed steps after a warm-up of 50,
  median and p99 per round, then the median over the rounds;
* milliseconds per 4 s window (400 frames, batch 1) of the full forward, both flavours,
  torch (``WindowGraph(model)``) against onnxruntime (``window.onnx``);
* agreement: the largest absolute difference of the activations (after the sigmoid both
  graphs end in) between onnxruntime and torch, on the same input, for the window of each
  flavour and for the step over the whole stream (against torch's step, and against
  torch's full-sequence causal forward over the same frames), so that the timings compare
  like with like.

The goal to report against: a causal step of the default-size CRNN costs under 1 % of the
10 ms hop (100 µs) with onnxruntime, single thread.

Every timing uses ``time.perf_counter``; the repeats are interleaved (each round runs every
variant once), so a burst of background load hits all variants alike. torch runs with
``set_num_threads(1)`` and ``set_num_interop_threads(1)``; OpenMP, MKL and OpenBLAS are
pinned to one thread before numpy and torch are imported; onnxruntime sessions get
``intra_op_num_threads=1``, ``inter_op_num_threads=1`` (as ``rtadt.bundle.Bundle.session``
builds them) and onnxruntime's default graph optimisations.

Writes ``models.json`` (all numbers), ``models.md`` (tables; torch / onnxruntime ratios of
the same run) and ``models.png`` (bar charts) into ``--out``.
"""
from __future__ import annotations

import os

# single-threaded: before numpy and torch (and anything that loads a BLAS or OpenMP) are imported
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                "NUMEXPR_NUM_THREADS", "NUMBA_NUM_THREADS")
for _var in _THREAD_VARS:
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import asdict  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

from benchmarks import machine  # noqa: E402

from offline.architectures import NAMES, build  # noqa: E402
from offline.deploy.export import CONTEXT_SECONDS, WINDOW_EVERY, StepGraph, WindowGraph, export_graphs  # noqa: E402
from rtadt.engine import StepModel  # noqa: E402
from rtadt.features import FeatureConfig  # noqa: E402
from rtadt.framing import frames_in  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = Path(__file__).resolve().parent / "results"
SEED = 20240607
NUM_FEATURES = 84
NUM_CLASSES = 5
HOP_US = 10_000.0  # rtadt's FeatureConfig: hop 441 samples at 44.1 kHz = 10 ms
GOAL_ARCH = "crnn"
INT8_ARCHS = ("rnn", "crnn")  # recurrent causal models: offline.deploy.export's int8 step applies
GOAL_FRACTION = 0.01
GOAL = "a causal step of the default-size CRNN costs under 1% of the 10 ms hop (onnxruntime, single thread)"
WARMUP_STEPS = 50
AGREEMENT_TOLERANCE = 1e-4
FULL_SEQUENCE_FRAMES = 450
PROFILE_STEPS = 500
LABELS = {"rnn": "RNN", "cnn": "CNN", "crnn": "CRNN", "convtransformer": "Conv. transformer", "vit": "ViT"}

perf = time.perf_counter


# ---------------------------------------------------------------------------------------
# machine information


def machine_info() -> dict:
    import onnxruntime as ort

    info = machine.machine_info({name: name for name in ("torch", "onnxruntime", "onnx", "numpy")},
                                ("offline", "rtadt"), _THREAD_VARS)
    info.update(torch_threads={"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()},
                torch_cpu_capability=torch.backends.cpu.get_cpu_capability(),
                onnxruntime_providers=ort.get_available_providers())
    return info


# ---------------------------------------------------------------------------------------
# counting: parameters and multiply-accumulates


_FUSED_ATTENTION = ("_scaled_dot_product_flash_attention", "_scaled_dot_product_efficient_attention",
                    "_scaled_dot_product_cudnn_attention", "_scaled_dot_product_fused_attention")


def _count_macs(fn) -> dict:
    """MACs of one call of fn(): FlopCounterMode's count, plus the fused attention kernels it
    has no formula for, computed from their shapes; and a cross-check with attention run as
    plain matmuls (SDPBackend.MATH), which the counter counts itself."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import FlopCounterMode, flop_registry

    class Recorder(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.attention: list[tuple] = []
            self.uncounted: set[str] = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            packet = func.overloadpacket
            name = str(packet)
            if packet not in flop_registry:
                if any(k in name for k in _FUSED_ATTENTION):
                    q, k, v = args[:3]
                    self.attention.append((tuple(q.shape), tuple(k.shape), tuple(v.shape)))
                self.uncounted.add(name)
            return func(*args, **(kwargs or {}))

    with torch.no_grad(), FlopCounterMode(display=False) as counter, Recorder() as rec:
        fn()
    by_op = {str(k): v / 2 for k, v in counter.get_flop_counts().get("Global", {}).items()}
    counted = counter.get_total_flops() / 2
    attention = 0
    for q, k, v in rec.attention:  # q [B, heads, Lq, E], k [B, heads, Lk, E], v [B, heads, Lk, Ev]
        batch_heads = math.prod(q[:-2])
        attention += batch_heads * q[-2] * k[-2] * (q[-1] + v[-1])
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as check:
        fn()
    math_total = check.get_total_flops() / 2
    total = counted + attention
    return {
        "macs": total,
        "counted_by_flop_counter": counted,
        "counted_by_op": by_op,
        "attention_added_analytically": attention,
        "attention_calls": len(rec.attention),
        "attention_shapes": [list(map(list, s)) for s in rec.attention[:1]],
        "math_backend_count": math_total,
        "math_backend_agrees": bool(math_total == total),
        "ops_without_flop_formula": sorted(rec.uncounted),
    }


def _parameters(model: torch.nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


# ---------------------------------------------------------------------------------------
# one architecture: models, graphs, sessions, timed calls


def _session(graph: bytes):
    import onnxruntime as ort

    opts = ort.SessionOptions()  # as rtadt.bundle.Bundle.session builds it
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])


class Arch:
    def __init__(self, name: str, frames: np.ndarray, window_frames: int):
        self.name = name
        torch.manual_seed(SEED)
        self.offline = build(name, "offline", num_features=NUM_FEATURES, num_classes=NUM_CLASSES).eval()
        torch.manual_seed(SEED)
        self.causal = build(name, "causal", num_features=NUM_FEATURES, num_classes=NUM_CLASSES).eval()
        self.hparams = asdict(self.causal.config)
        t0 = perf()
        off_graphs, _ = export_graphs(self.offline)
        cau_graphs, states = export_graphs(self.causal)
        self.export_s = perf() - t0
        self.graph_bytes = {"window_offline": len(off_graphs["window"]), "window_causal": len(cau_graphs["window"]),
                            "step": len(cau_graphs["step"])}
        self.states = states
        self.state_names = [st.name for st in states]
        self.outputs = ["activations"] + [st.output_name for st in states]
        self._step_graph = cau_graphs["step"]
        self.sess_step = _session(cau_graphs["step"])
        self.sess_step_int8, self.states_int8 = None, []
        if name in INT8_ARCHS:  # the int8 step has its own state layout (offline.deploy.shaping)
            graphs_int8, self.states_int8 = export_graphs(self.causal, int8=True)
            self.sess_step_int8 = _session(graphs_int8["step"])
        self.sess_window = {"offline": _session(off_graphs["window"]), "causal": _session(cau_graphs["window"])}
        self.torch_step = StepGraph(self.causal).eval()
        self.torch_window = {"offline": WindowGraph(self.offline).eval(), "causal": WindowGraph(self.causal).eval()}

        self.frames_np = [np.ascontiguousarray(frames[t:t + 1]) for t in range(len(frames))]
        self.frames_t = [torch.from_numpy(f) for f in self.frames_np]
        self.window_np = np.ascontiguousarray(frames[None, :window_frames])
        self.window_t = torch.from_numpy(self.window_np)

    # -- the step form --
    def _zero_feed(self) -> dict:
        return {st.name: np.zeros(st.shape, np.float32) for st in self.states}

    def step_ort(self, warmup: int, steps: int, keep: bool = False, int8: bool = False, bound: bool = True):
        """Times per step [s] of `steps` steps after `warmup` untimed ones, from the initial state:
        through the engine's StepModel (bound), or as a dict-fed session.run (bound=False)."""
        sess, states = (self.sess_step_int8, self.states_int8) if int8 else (self.sess_step, self.states)
        frames = self.frames_np
        times = np.empty(steps)
        kept = []
        if bound:
            push = StepModel(sess, NUM_FEATURES, NUM_CLASSES, states).push
            for t in range(warmup):
                push(frames[t][0])
            for i in range(steps):
                frame = frames[warmup + i][0]
                t0 = perf()
                acts = push(frame)[0][1]
                times[i] = perf() - t0
                if keep:
                    kept.append(acts)
            return times, (np.array(kept) if keep else None)
        run, outputs = sess.run, ["activations"] + [st.output_name for st in states]
        feed = {st.name: np.zeros(st.shape, np.float32) for st in states}
        for t in range(warmup):
            feed["frame"] = frames[t]
            _, *new = run(outputs, feed)
            feed.update((st.name, st.next_input(v)) for st, v in zip(states, new))
        for i in range(steps):
            feed["frame"] = frames[warmup + i]
            t0 = perf()
            acts, *new = run(outputs, feed)
            feed.update((st.name, st.next_input(v)) for st, v in zip(states, new))
            times[i] = perf() - t0
            if keep:
                kept.append(acts[0])
        return times, (np.array(kept) if keep else None)

    @torch.no_grad()
    def step_torch(self, warmup: int, steps: int, keep: bool = False):
        step = self.torch_step
        state = self.causal.initial_state(1)
        frames = self.frames_t
        times = np.empty(steps)
        kept = []
        for t in range(warmup):
            _, *state = step(frames[t], *state)
        for i in range(steps):
            frame = frames[warmup + i]
            t0 = perf()
            acts, *state = step(frame, *state)
            times[i] = perf() - t0
            if keep:
                kept.append(acts[0].numpy().copy())
        return times, (np.array(kept) if keep else None)

    # -- the window form --
    def window_ort(self, flavour: str):
        sess = self.sess_window[flavour]
        feed = {"features": self.window_np}
        t0 = perf()
        out = sess.run(["activations"], feed)[0]
        return perf() - t0, out[0]

    @torch.no_grad()
    def window_torch(self, flavour: str):
        graph = self.torch_window[flavour]
        x = self.window_t
        t0 = perf()
        out = graph(x)
        return perf() - t0, out[0].numpy()

    # -- where the step's time goes --
    def profile_step(self, steps: int, warmup: int = 10) -> dict:
        """onnxruntime's own profile of the step graph: kernel time per op type, per step, over
        `steps` runs after `warmup` (whose events are dropped: profiling is on from the session's
        start). The profiler adds overhead of its own, so read shares, not absolute times."""
        import onnxruntime as ort

        with tempfile.TemporaryDirectory(prefix="rtadt-ort-profile-") as tmp:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            opts.enable_profiling = True
            opts.profile_file_prefix = str(Path(tmp) / "step")
            sess = ort.InferenceSession(self._step_graph, opts, providers=["CPUExecutionProvider"])
            feed = self._zero_feed()
            for t in range(warmup + steps):
                feed["frame"] = self.frames_np[t % len(self.frames_np)]
                _, *new = sess.run(self.outputs, feed)
                feed.update((st.name, st.next_input(v)) for st, v in zip(self.states, new))
            events = json.loads(Path(sess.end_profiling()).read_text())
        runs = sorted((e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"),
                      key=lambda e: e["ts"])
        start = runs[warmup]["ts"] if warmup else 0  # the first profiled run after the warm-up
        per_op: Counter = Counter()
        nodes: Counter = Counter()
        run_us = 0.0
        for e in events:
            if e.get("ts", 0) < start:
                continue
            if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
                per_op[e["args"]["op_name"]] += e["dur"]
                nodes[e["args"]["op_name"]] += 1
            elif e.get("cat") == "Session" and e.get("name") == "model_run":
                run_us += e["dur"]
        kernel_us = sum(per_op.values())
        return {
            "steps": steps,
            "warmup_steps": warmup,
            "profiled_us_per_step": run_us / steps,
            "kernel_us_per_step": kernel_us / steps,
            "nodes_per_step": sum(nodes.values()) / steps,
            "op_types": {op: {"us_per_step": us / steps, "share_of_kernel_time": us / kernel_us,
                              "nodes": nodes[op] / steps}
                         for op, us in per_op.most_common()},
        }

    # -- counts --
    def counts(self, window_frames: int) -> dict:
        frame = self.frames_t[0]
        state = self.causal.initial_state(1)
        step = _count_macs(lambda: self.causal.step(frame, state))
        win = {}
        for flavour, model in (("offline", self.offline), ("causal", self.causal)):
            c = _count_macs(lambda m=model: m(self.window_t))
            c["macs_per_frame"] = c["macs"] / window_frames
            win[flavour] = c
        state_floats = int(sum(math.prod(st.shape) for st in self.states))
        return {
            "parameters": {"offline": _parameters(self.offline), "causal": _parameters(self.causal)},
            "state_tensors": len(self.states),
            "state_floats": state_floats,
            "state_bytes": 4 * state_floats,
            "step_macs": step,
            "window_macs": win,
        }

    def agreement(self, warmup: int, steps: int) -> dict:
        """Max abs diff of activations, onnxruntime vs torch, on the same inputs (untimed)."""
        dev = {}
        for flavour in ("offline", "causal"):
            _, got = self.window_ort(flavour)
            _, want = self.window_torch(flavour)
            dev[f"window_{flavour}"] = float(np.abs(got - want).max())
        n = warmup + steps
        _, ort_acts = self.step_ort(0, n, keep=True)
        _, torch_acts = self.step_torch(0, n, keep=True)
        dev["step_vs_torch_step"] = float(np.abs(ort_acts - torch_acts).max())
        # the full-sequence form attends over all T x T frame pairs (T*N tokens for the ViT):
        # compare over the first FULL_SEQUENCE_FRAMES frames, past the sliding windows' reach
        m = min(n, FULL_SEQUENCE_FRAMES)
        with torch.no_grad():
            seq = torch.from_numpy(np.concatenate(self.frames_np[:m])[None])
            full = torch.sigmoid(self.causal(seq))[0].numpy()
        dev["step_vs_torch_full_sequence"] = float(np.abs(ort_acts[:m] - full).max())
        dev["steps_compared"] = n
        dev["full_sequence_frames_compared"] = m
        return dev


# ---------------------------------------------------------------------------------------
# the run


def run(repeats: int, steps: int, out_dir: Path, quick: bool = False, progress: bool = True,
        window_frames: int | None = None) -> dict:
    window_frames = window_frames or frames_in(CONTEXT_SECONDS, FeatureConfig())
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or parallel work already ran in this process
        pass
    info = machine_info()
    rng = np.random.default_rng(SEED)
    # log-filtered spectrogram values lie in [0, ~3]; random ones in that range cost the same
    frames = (rng.random((WARMUP_STEPS + steps, NUM_FEATURES), dtype=np.float32) * 3).astype(np.float32)
    if len(frames) < window_frames:
        frames = np.concatenate([frames, (rng.random((window_frames - len(frames), NUM_FEATURES),
                                                     dtype=np.float32) * 3)])

    archs: dict[str, Arch] = {}
    setup = tqdm(NAMES, desc="build, export, count", unit="arch", disable=not progress, file=sys.stderr)
    counts = {}
    for name in setup:
        setup.set_postfix_str(name)
        archs[name] = Arch(name, frames, window_frames)
        counts[name] = archs[name].counts(window_frames)

    # one untimed round: first-touch costs (allocations, ORT's first run of a shape, caches)
    for a in archs.values():
        a.step_ort(WARMUP_STEPS, min(steps, 20))
        a.step_torch(WARMUP_STEPS, min(steps, 20))
        for flavour in ("offline", "causal"):
            a.window_ort(flavour)
            a.window_torch(flavour)

    backends = ("torch", "onnxruntime")
    # "_dict": the same graph fed as a plain session.run with a dict, for the binding's saving
    step_backends = {n: backends + ("onnxruntime_dict",)
                     + (("onnxruntime_int8", "onnxruntime_int8_dict") if a.sess_step_int8 else ())
                     for n, a in archs.items()}
    step_runs = {(n, b): {"median": [], "p99": [], "mean": [], "max": []} for n in archs for b in step_backends[n]}
    win_runs = {(n, f, b): [] for n in archs for f in ("offline", "causal") for b in backends}
    total = repeats * sum(len(b) + 4 for b in step_backends.values())
    with tqdm(total=total, desc="benchmark", unit="run", disable=not progress, file=sys.stderr) as bar:
        for _ in range(repeats):
            for name, a in archs.items():
                for backend in step_backends[name]:
                    bar.set_postfix_str(f"{name} step {backend}")
                    if backend == "torch":
                        times, _ = a.step_torch(WARMUP_STEPS, steps)
                    else:
                        times, _ = a.step_ort(WARMUP_STEPS, steps, int8="int8" in backend,
                                              bound=not backend.endswith("_dict"))
                    us = times * 1e6
                    r = step_runs[(name, backend)]
                    r["median"].append(float(np.median(us)))
                    r["p99"].append(float(np.percentile(us, 99)))
                    r["mean"].append(float(us.mean()))
                    r["max"].append(float(us.max()))
                    bar.update()
                for flavour in ("offline", "causal"):
                    for backend in backends:
                        bar.set_postfix_str(f"{name} window {flavour} {backend}")
                        fn = a.window_torch if backend == "torch" else a.window_ort
                        dt, _ = fn(flavour)
                        win_runs[(name, flavour, backend)].append(dt * 1e3)
                        bar.update()

    agreement = {name: a.agreement(WARMUP_STEPS, steps) for name, a in archs.items()}
    profiles = {name: a.profile_step(min(steps, PROFILE_STEPS)) for name, a in archs.items()}

    results = {}
    for name, a in archs.items():
        c = counts[name]
        macs = c["step_macs"]["macs"]
        step = {}
        for backend in step_backends[name]:
            r = step_runs[(name, backend)]
            med = machine.summarise(r["median"])
            p99 = machine.summarise(r["p99"])
            step[backend] = {
                "us_median": med["median"], "us_median_min": med["min"], "us_median_max": med["max"],
                "us_median_runs": med["runs"],
                "us_p99": p99["median"], "us_p99_min": p99["min"], "us_p99_max": p99["max"], "us_p99_runs": p99["runs"],
                "us_mean": float(np.median(r["mean"])),
                "us_max": float(np.median(r["max"])), "us_max_runs": [float(v) for v in r["max"]],
                "hop_fraction_median": med["median"] / HOP_US, "hop_fraction_p99": p99["median"] / HOP_US,
                "gmacs_per_s": macs / (med["median"] * 1e-6) / 1e9,
            }
        step["ratio_torch_to_onnxruntime"] = step["torch"]["us_median"] / step["onnxruntime"]["us_median"]
        step["ratio_bound_to_dict"] = step["onnxruntime"]["us_median"] / step["onnxruntime_dict"]["us_median"]
        if a.sess_step_int8 is not None:
            _, q = a.step_ort(0, WARMUP_STEPS + steps, keep=True, int8=True)
            _, ref = a.step_torch(0, WARMUP_STEPS + steps, keep=True)
            step["onnxruntime_int8"]["max_deviation_vs_torch"] = float(np.abs(q - ref).max())
            step["ratio_int8_to_float32"] = step["onnxruntime_int8"]["us_median"] / step["onnxruntime"]["us_median"]
            step["ratio_int8_bound_to_dict"] = (step["onnxruntime_int8"]["us_median"]
                                                / step["onnxruntime_int8_dict"]["us_median"])
        window = {}
        for flavour in ("offline", "causal"):
            w = {}
            for backend in backends:
                s = machine.summarise(win_runs[(name, flavour, backend)])
                wm = c["window_macs"][flavour]["macs"]
                w[backend] = {"ms": s["median"], "ms_min": s["min"], "ms_max": s["max"], "ms_runs": s["runs"],
                              "realtime_fraction": s["median"] * 1e-3 / (window_frames * HOP_US * 1e-6),
                              "gmacs_per_s": wm / (s["median"] * 1e-3) / 1e9}
            w["ratio_torch_to_onnxruntime"] = w["torch"]["ms"] / w["onnxruntime"]["ms"]
            window[flavour] = w
        results[name] = {
            "label": LABELS.get(name, name),
            "hyperparameters": a.hparams,
            "export_s": a.export_s,
            "graph_bytes": a.graph_bytes,
            **c,
            "step": step,
            "window": window,
            "agreement": agreement[name],
            "step_profile": profiles[name],
        }

    g = results[GOAL_ARCH]["step"]["onnxruntime"]
    q8 = results[GOAL_ARCH]["step"]["onnxruntime_int8"]
    limit_us = GOAL_FRACTION * HOP_US
    worst_dev = max(v for r in results.values() for k, v in r["agreement"].items()
                    if not k.endswith("compared"))
    info["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    cmd = "python -m benchmarks.models " + ("--quick" if quick else f"--repeats {repeats} --steps {steps}")
    result = {
        "benchmark": "models",
        "command": cmd,
        "machine": info,
        "settings": {
            "repeats": repeats, "steps": steps, "warmup_steps": WARMUP_STEPS, "window_frames": window_frames,
            "quick": quick, "seed": SEED, "num_features": NUM_FEATURES, "num_classes": NUM_CLASSES,
            "hop_us": HOP_US, "batch": 1,
            "configuration": "registry defaults (mid-size), seeded random weights, eval mode",
            "input": "seeded uniform random features in [0, 3) (the range of log-filtered spectrograms)",
            "statistic": "per round: median and p99 over the timed steps (one call per window); "
                         "reported: median over interleaved rounds (min and max kept)",
            "onnxruntime": "CPUExecutionProvider, intra_op_num_threads=1, inter_op_num_threads=1, "
                           "default graph optimisation level; step run through rtadt.engine.StepModel.push "
                           "(IOBinding, two state sets swapped), and as a dict-fed session.run for comparison",
            "torch": "eager, torch.no_grad, set_num_threads(1); StepGraph / WindowGraph of offline.deploy.export "
                     "(both end in the sigmoid, as the ONNX graphs do)",
            "agreement_tolerance": AGREEMENT_TOLERANCE,
            "window_every": WINDOW_EVERY,
        },
        "models": results,
        "agreement_ok": bool(worst_dev < AGREEMENT_TOLERANCE),
        "agreement_worst": worst_dev,
        "goal": {
            "statement": GOAL,
            "architecture": GOAL_ARCH,
            "limit_us": limit_us,
            "onnxruntime_us_median": g["us_median"],
            "onnxruntime_us_p99": g["us_p99"],
            "hop_fraction_median": g["hop_fraction_median"],
            "hop_fraction_p99": g["hop_fraction_p99"],
            "holds_median": bool(g["us_median"] < limit_us),
            "holds_p99": bool(g["us_p99"] < limit_us),
            "holds_every_round": bool(g["us_median_max"] < limit_us),
            "rounds_under_limit": int(sum(v < limit_us for v in g["us_median_runs"])),
            "rounds": len(g["us_median_runs"]),
            "torch_us_median": results[GOAL_ARCH]["step"]["torch"]["us_median"],
            "torch_holds_median": bool(results[GOAL_ARCH]["step"]["torch"]["us_median"] < limit_us),
            "int8_us_median": q8["us_median"],
            "int8_us_p99": q8["us_p99"],
            "int8_hop_fraction_median": q8["hop_fraction_median"],
            "int8_holds_median": bool(q8["us_median"] < limit_us),
            "int8_rounds_under_limit": int(sum(v < limit_us for v in q8["us_median_runs"])),
            "int8_max_deviation": q8["max_deviation_vs_torch"],
            "int8_dict_us_median": results[GOAL_ARCH]["step"]["onnxruntime_int8_dict"]["us_median"],
            "dict_us_median": results[GOAL_ARCH]["step"]["onnxruntime_dict"]["us_median"],
        },
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "models.json").write_text(json.dumps(result, indent=2) + "\n")
    (out_dir / "models.md").write_text(markdown(result))
    plot(result, out_dir / "models.png")
    return result


# ---------------------------------------------------------------------------------------
# reports


def _hp(h: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in h.items() if k not in ("dropout",))


def _m(v: float) -> str:
    return f"{v / 1e6:.2f} M"


def markdown(r: dict) -> str:
    m, s, g = r["machine"], r["settings"], r["goal"]
    vers = ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v)
    hop_ms = s["hop_us"] / 1e3
    win_s = s["window_frames"] * s["hop_us"] * 1e-6
    verdict_med = "holds" if g["holds_median"] else "does not hold"
    lines = [
        "# Model-cost benchmark",
        "",
        f"`{r['command']}` (written by `benchmarks/models.py`), {m['date']}.",
        "",
        f"- Machine: {m['cpu_model']}, {m['logical_cores']} logical cores ({m['cores_available']} available), "
        f"{m['platform']}, Python {m['python']}; {vers}; torch CPU capability {m['torch_cpu_capability']}; "
        f"SIMD: {' '.join(m['cpu_simd_flags']) or '?'}.",
        f"- Load average at start / end: {', '.join(f'{a:.2f}' for a in m['loadavg_start'] or [])} / "
        f"{', '.join(f'{a:.2f}' for a in m['loadavg_end'] or [])}.",
        f"- rtadt at {(m['git_commit'] or '?')[:10]}"
        + (f", with uncommitted changes in {', '.join(m['modified_files'])}"
           if m["modified_files"] else "") + ".",
        f"- Models: {s['configuration']}; {s['num_features']} features in, {s['num_classes']} classes out, batch 1. "
        f"Input: {s['input']}.",
        f"- Single thread everywhere. torch: {s['torch']}. onnxruntime: {s['onnxruntime']}.",
        f"- {s['repeats']} interleaved rounds; per round {s['steps']} timed steps after {s['warmup_steps']} "
        f"warm-up steps, and one call per window of {s['window_frames']} frames ({win_s:g} s). "
        f"{s['statistic'].capitalize()}.",
        "",
        "## Goal",
        "",
        f"**With 8-bit weights (`rtadt-train export --int8`, the step for live use) the goal "
        f"{'holds' if g['int8_holds_median'] else 'does not hold'}: {machine.fmt(g['int8_us_median'])} µs, "
        f"{100 * g['int8_hop_fraction_median']:.2f} % of the hop (under the limit in {g['int8_rounds_under_limit']} "
        f"of {g['rounds']} rounds); in float32 it {verdict_med}: {machine.fmt(g['onnxruntime_us_median'])} µs.**",
        "",
        f"*{g['statement'][0].upper() + g['statement'][1:]}*, i.e. under {machine.fmt(g['limit_us'], 0)} µs: "
        f"float32 **{verdict_med}** — "
        f"onnxruntime median {machine.fmt(g['onnxruntime_us_median'])} µs = {100 * g['hop_fraction_median']:.2f} % "
        f"of the hop; p99 {machine.fmt(g['onnxruntime_us_p99'])} µs = {100 * g['hop_fraction_p99']:.2f} % "
        f"({'also under' if g['holds_p99'] else 'over'} the limit). "
        f"The round's median was under the limit in {g['rounds_under_limit']} of {g['rounds']} rounds. "
        f"torch eager: {machine.fmt(g['torch_us_median'])} µs ({'under' if g['torch_holds_median'] else 'over'}). "
        f"(All onnxruntime step times are the engine's bound call, `StepModel.push`; the same graph fed as a "
        f"dict to `session.run`: {machine.fmt(g['dict_us_median'])} µs.)",
        "",
        f"With 8-bit weights (`rtadt-train export --int8`: the recurrent layers as explicit gate MatMuls, each "
        f"layer's recurrent product made with the next layer's input product and carried to the next frame, "
        f"the convolutions as im2col MatMuls whose activations are quantized before the im2col Gather, the "
        f"MatMul weights in 8 bits): **{machine.fmt(g['int8_us_median'])} µs** = "
        f"{100 * g['int8_hop_fraction_median']:.2f} % of the hop (p99 {machine.fmt(g['int8_us_p99'])} µs), "
        f"{'under' if g['int8_holds_median'] else 'over'} the limit; activations within "
        f"{g['int8_max_deviation']:.1e} of torch on these random weights (dict-fed: "
        f"{machine.fmt(g['int8_dict_us_median'])} µs). "
        + "; ".join(f"{a['label']} int8 {machine.fmt(a['step']['onnxruntime_int8']['us_median'])} µs, "
                    f"{a['step']['ratio_int8_to_float32']:.2f}× its float32 step"
                    for a in r["models"].values() if "onnxruntime_int8" in a["step"]) + ".",
        "",
        "## Size and arithmetic",
        "",
        "| architecture | hyperparameters | params offline | params causal (MB float32) | step state floats "
        "(MB) | MACs / step (counted) | + attention (analytic) | **MACs / step** "
        f"| MACs / frame, {win_s:g} s window offline | … causal |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, a in r["models"].items():
        st = a["step_macs"]
        wo, wc = a["window_macs"]["offline"], a["window_macs"]["causal"]
        lines.append(
            f"| {a['label']} | {_hp(a['hyperparameters'])} | {a['parameters']['offline']:,} | "
            f"{a['parameters']['causal']:,} ({4 * a['parameters']['causal'] / 1e6:.2f}) | {a['state_floats']:,} "
            f"({a['state_bytes'] / 1e6:.2f}) | {_m(st['counted_by_flop_counter'])} | "
            f"{_m(st['attention_added_analytically'])} | **{_m(st['macs'])}** | {_m(wo['macs_per_frame'])} | "
            f"{_m(wc['macs_per_frame'])} |")
    math_ok = all(a["step_macs"]["math_backend_agrees"] and a["window_macs"]["offline"]["math_backend_agrees"]
                  and a["window_macs"]["causal"]["math_backend_agrees"] for a in r["models"].values())
    lines += [
        "",
        "MACs: `torch.utils.flop_counter.FlopCounterMode` on one `step` call (and on one whole window), "
        "FLOPs / 2. It counts matmuls (`addmm`, `mm`, `bmm`) and convolutions; GRU/LSTM layers decompose "
        "into `addmm` on the CPU and are counted (RNN: 3 layers × (input + hidden) projections + output "
        "layer, checked by hand). It has **no formula for the fused CPU attention kernel** "
        "(`_scaled_dot_product_flash_attention_for_cpu`), so attention's q·kᵀ and weights·v are added "
        "analytically from each call's shapes (batch × heads × L_q × L_k × (E + E_v)); "
        + ("a second count with `SDPBackend.MATH` (attention as `bmm`) gives the same totals for every model. "
           if math_ok else "**a second count with `SDPBackend.MATH` disagrees for some model (see models.json)**. ")
        + "Elementwise work (gate nonlinearities and products, batch/layer norm, softmax, GELU, the rotary "
        "rotation of the key cache) is not a MAC and not included. The transformers' step attends over its "
        "block's sliding window (the key/value cache, about window / L frames); their causal window form "
        "computes all T×T frame pairs' scores and then masks them, which is what it executes and what is "
        "counted, so per frame it does more attention arithmetic than the step at T = 400.",
        "",
        f"## Streaming step (causal flavour, batch 1): cost per {hop_ms:g} ms hop",
        "",
        "| architecture | torch µs median | torch p99 | ORT µs median | ORT p99 | ORT % of hop (median / p99) "
        "| torch / ORT | ORT dict-fed µs | bound / dict-fed | ORT GMAC/s | ORT weights read GB/s "
        "| max abs diff ORT vs torch step | … vs torch full sequence |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, a in r["models"].items():
        t, o = a["step"]["torch"], a["step"]["onnxruntime"]
        d = a["agreement"]
        lines.append(
            f"| {a['label']} | {machine.fmt(t['us_median'])} | {machine.fmt(t['us_p99'])} | {machine.fmt(o['us_median'])} | {machine.fmt(o['us_p99'])} | "
            f"{100 * o['hop_fraction_median']:.2f} % / {100 * o['hop_fraction_p99']:.2f} % | "
            f"{a['step']['ratio_torch_to_onnxruntime']:.2f} | {machine.fmt(a['step']['onnxruntime_dict']['us_median'])} | "
            f"{a['step']['ratio_bound_to_dict']:.2f} | {o['gmacs_per_s']:.1f} | "
            f"{4 * a['parameters']['causal'] / (o['us_median'] * 1e-6) / 1e9:.1f} | "
            f"{d['step_vs_torch_step']:.1e} | {d['step_vs_torch_full_sequence']:.1e} |")
    lines += [
        "",
        "µs per `StepModel.push` (ORT, as the engine calls it: frame copied into a bound buffer, "
        "activations copied out), per dict-fed `session.run` (ORT dict-fed), or per `StepGraph` call "
        "(torch), state fed back each step; "
        "p99 is each round's 99th percentile, medianed over rounds. Agreement: activations (after the "
        f"sigmoid) over the {r['models'][NAMES[0]]['agreement']['steps_compared']} streamed frames, "
        "onnxruntime's step against torch's step, and over the first "
        f"{r['models'][NAMES[0]]['agreement']['full_sequence_frames_compared']} against torch's full-sequence "
        "causal forward. At batch 1 a step is a chain of matrix-vector products: it reads every weight "
        "once per frame, hence the weights-read rate (causal parameters × 4 bytes / median time).",
        "",
        "### Where a step's time goes (onnxruntime's profiler)",
        "",
        "| architecture | nodes run per step | µs per step under the profiler | kernel µs | op types by share of "
        "kernel time |",
        "|---|---:|---:|---:|---|",
    ]
    for name, a in r["models"].items():
        pr = a["step_profile"]
        top = ", ".join(f"{op} {100 * v['share_of_kernel_time']:.0f} %" for op, v in list(pr["op_types"].items())[:6])
        lines.append(f"| {a['label']} | {pr['nodes_per_step']:.0f} | {machine.fmt(pr['profiled_us_per_step'])} | "
                     f"{machine.fmt(pr['kernel_us_per_step'])} | {top} |")
    lines += [
        "",
        "A separate session with profiling on, same graph and settings, "
        f"{r['models'][NAMES[0]]['step_profile']['steps']} steps after "
        f"{r['models'][NAMES[0]]['step_profile']['warmup_steps']} unprofiled ones; the profiler adds its own "
        "overhead per node, "
        "so read the shares, not the absolute times. The difference between the step time and the kernel "
        "time is onnxruntime's per-run and per-node overhead.",
        "",
        f"## Window: cost per {win_s:g} s window ({s['window_frames']} frames, batch 1, full forward)",
        "",
        "| architecture | flavour | torch ms | ORT ms | torch / ORT | ORT % of the window's duration "
        "| ORT GMAC/s | max abs diff ORT vs torch |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, a in r["models"].items():
        for flavour in ("offline", "causal"):
            w = a["window"][flavour]
            lines.append(
                f"| {a['label']} | {flavour} | {machine.fmt(w['torch']['ms'], 2)} | {machine.fmt(w['onnxruntime']['ms'], 2)} | "
                f"{w['ratio_torch_to_onnxruntime']:.2f} | {100 * w['onnxruntime']['realtime_fraction']:.2f} % | "
                f"{w['onnxruntime']['gmacs_per_s']:.1f} | {a['agreement'][f'window_{flavour}']:.1e} |")
    lines += [
        "",
        f"A non-causal (offline) model is re-run over its window every {s['window_every']} frames "
        f"({s['window_every'] * hop_ms:g} ms) by the runtime: that is its real-time budget per window call "
        "on one core. One call per round (median over rounds).",
        "",
        f"Agreement overall: worst max abs diff {r['agreement_worst']:.1e} "
        f"({'under' if r['agreement_ok'] else '**over**'} the tolerance {s['agreement_tolerance']:g}).",
        "",
    ]
    return "\n".join(lines)


def plot(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(r["models"])
    labels = [r["models"][n]["label"] for n in names]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 5.5))
    width = 0.27
    xs = np.arange(len(names))
    step_bars = (("torch", "tab:orange"), ("onnxruntime", "tab:blue"), ("onnxruntime_int8", "tab:green"))
    for j, (backend, color) in enumerate(step_bars):
        have = [i for i, n in enumerate(names) if backend in r["models"][n]["step"]]
        med = [r["models"][names[i]]["step"][backend]["us_median"] for i in have]
        p99 = [r["models"][names[i]]["step"][backend]["us_p99"] for i in have]
        x = xs[have] + (j - 1) * width
        ax1.bar(x, med, width, color=color, label=f"{backend.replace('_', ' ')} median")
        ax1.scatter(x, p99, marker="_", s=150, color="black", zorder=3, label="p99" if j == 1 else None)
        for xi, v, top in zip(x, med, p99):  # the label above the p99 mark, which sits above the bar
            ax1.text(xi, max(v, top) * 1.08, f"{v:.0f}", ha="center", va="bottom", fontsize=7)
    limit = r["goal"]["limit_us"]
    ax1.axhline(limit, color="tab:red", ls="--", lw=1, label=f"1 % of the hop ({limit:.0f} µs)")
    ax1.set_xticks(xs, labels, fontsize=9)
    ax1.set_yscale("log")
    ax1.set_ylabel("µs per step (log scale)")
    ax1.set_title("Streaming step, causal flavour, batch 1, 1 thread")
    ax1.legend(fontsize=8)

    width = 0.2
    combos = (("offline", "torch", "tab:orange", 0.45), ("offline", "onnxruntime", "tab:blue", 0.45),
              ("causal", "torch", "tab:orange", 1.0), ("causal", "onnxruntime", "tab:blue", 1.0))
    for j, (flavour, backend, color, alpha) in enumerate(combos):
        vals = [r["models"][n]["window"][flavour][backend]["ms"] for n in names]
        x = xs + (j - 1.5) * width
        ax2.bar(x, vals, width, color=color, alpha=alpha, label=f"{flavour}, {backend}")
        for xi, v in zip(x, vals):
            ax2.text(xi, v * 1.08, f"{v:.0f}" if v >= 10 else f"{v:.1f}", ha="center", va="bottom", fontsize=6)
    budget = r["settings"]["window_every"] * r["settings"]["hop_us"] / 1e3
    ax2.axhline(budget, color="tab:red", ls="--", lw=1,
                label=f"re-run budget of a window model ({budget:.0f} ms)")
    ax2.set_xticks(xs, labels, fontsize=9)
    ax2.set_yscale("log")
    ax2.set_ylabel("ms per window (log scale)")
    ax2.set_title(f"Full forward over {r['settings']['window_frames']} frames, batch 1, 1 thread")
    ax2.legend(fontsize=7)
    fig.suptitle(f"{r['machine']['cpu_model']}, {r['machine']['date'][:10]}, "
                 f"{r['machine']['git_commit'][:10] if r['machine']['git_commit'] else ''}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.models", description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=5,
                   help="interleaved timed rounds; the median is reported (default 5)")
    p.add_argument("--steps", type=int, default=2000, help="timed streaming steps per round (default 2000)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    p.add_argument("--quick", action="store_true",
                   help="tiny settings for tests: 1 round, 20 steps, 40-frame windows (numbers not meaningful)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if args.repeats < 1 or args.steps < 1:
        p.error("--repeats and --steps must be >= 1")
    if args.quick:
        r = run(1, 20, args.out, quick=True, progress=not args.no_progress, window_frames=40)
    else:
        r = run(args.repeats, args.steps, args.out, progress=not args.no_progress)
    g = r["goal"]
    print("ORT us/step (median): " + ", ".join(
        f"{n} {a['step']['onnxruntime']['us_median']:.1f}" for n, a in r["models"].items()))
    print(f"goal ({g['statement']}): int8 {'holds' if g['int8_holds_median'] else 'does not hold'} "
          f"({g['int8_us_median']:.1f} us median, {g['int8_us_p99']:.1f} us p99), "
          f"float32 {'holds' if g['holds_median'] else 'does not hold'} "
          f"({g['onnxruntime_us_median']:.1f} us median, {g['onnxruntime_us_p99']:.1f} us p99)")
    if not r["agreement_ok"]:
        print(f"WARNING: onnxruntime and torch differ by up to {r['agreement_worst']:.1e}", file=sys.stderr)
    print(f"wrote {args.out / 'models.json'}, models.md, models.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
