"""Evaluation of bundles: inference over tracks, then scores by offline.metrics.

Contract: everything that turns a model's output into events and scores it on data.
Activations to events (the engine's peak pickers and onset-time rule), a bundle's window
graph over whole tracks (onnxruntime), offline and streaming (rtadt.engine) evaluation of a
bundle over dataset tracks (`evaluate_bundle`, which loads their audio), the tuning of
per-class thresholds (and the online picker's delta) on validation activations or tracks,
and the F1 plot (a file). How events are matched and counted, P/R/F1 and their
aggregation (`Scores`) are offline.metrics', pure functions this module calls.

From activations to onset times (`onset_times`)
    Exactly the rule of the streaming engine (rtadt.engine): an onset reported at frame n
    lies at ``frame_time(n) - lookahead - hop / 2 - resampler delay``, clipped at 0, so
    offline scores and streaming scores of one bundle are comparable (for a causal bundle
    with the online picker they are the same events: the tests check it).
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from offline.metrics import (THRESHOLD_GRID, WINDOWS, Scores, add_causes, best_thresholds, best_thresholds_per_set,
                             check_classes, check_grid, check_window, check_windows, detection_latencies_by_class,
                             false_positive_causes, onset_counts, onsets_by_class, prf, score_events, window_label)
from rtadt.drums import CLASSES, Event
from rtadt.features import FeatureConfig, features_for_audio
from rtadt.framing import onset_offset, reported_onsets
from rtadt.peaks import PeakParams, pick_peaks, pick_peaks_online
from rtadt.velocity import VelocityRule, loudness_matrix, loudness_rise

__all__ = [
    "PICKERS",
    "onset_times",
    "activations_to_events",
    "window_activations",
    "transcribe_offline",
    "evaluate_bundle",
    "threshold_sweep",
    "tune_thresholds",
    "tune_bundle_thresholds",
    "plot_f1",
]

#: Peak pickers of rtadt.peaks: "offline" (centred windows, Böck et al. 2012 / Vogl et al.
#: 2017) and "online" (past-only windows, what the runtime uses).
PICKERS = ("offline", "online")
#: Architectures whose causal flavour attends over all of its input at once (cost quadratic
#: in the frames of one run) but reaches back only `context_frames`: run in blocks offline.
ATTENTION_ARCHITECTURES = frozenset({"convtransformer", "vit"})


# --------------------------------------------------------------------------- validation


def _check_picker(picker: Any) -> str:
    if picker not in PICKERS:
        raise ValueError(f"picker must be one of {', '.join(PICKERS)}, got {picker!r}")
    return picker


# --------------------------------------------------------------------------- activations -> events


def onset_times(frames: Any, cfg: FeatureConfig, lookahead_s: float, delay_s: float = 0.0) -> np.ndarray:
    """Onset times [s] of onsets reported at `frames` (rtadt.framing.reported_onsets, the
    engine's rule); `delay_s` is the resampler's group delay when the audio was resampled."""
    return reported_onsets(frames, cfg, onset_offset(cfg, lookahead_s, delay_s))


def _peak_frames(activations: np.ndarray, thresholds: Any, peak: PeakParams, picker: str) -> list[np.ndarray]:
    pick = pick_peaks if _check_picker(picker) == "offline" else pick_peaks_online
    return pick(activations, thresholds, peak)


def activations_to_events(activations: Any, thresholds: Any, cfg: FeatureConfig, lookahead_s: float,
                          peak: PeakParams, classes: Sequence[str], picker: str = "offline",
                          delay_s: float = 0.0, velocity: VelocityRule | None = None,
                          loudness: Any = None) -> list[Event]:
    """Events from frame-wise activations [frames, classes], as the engine would emit
    them: peak picking (`picker`), onset times by `onset_times`, velocity by the rule
    `velocity` (rtadt.velocity; None: activation * 127) from the activation and the
    frame's `loudness` [frames, classes] (features @ loudness_matrix; needed when the
    rule weighs loudness or its rise from the frame before); sorted by frame, then class order."""
    classes = check_classes(classes)
    acts = np.asarray(activations)
    if acts.ndim != 2 or acts.shape[1] != len(classes):
        raise ValueError(f"activations must be [frames, {len(classes)}], got shape {acts.shape}")
    rule = velocity or VelocityRule.activation_only(len(classes))
    if loudness is None:
        if rule.reads_the_spectrum:
            raise ValueError("this velocity rule weighs loudness: pass the frames' loudness")
        loudness = np.zeros(acts.shape, dtype=np.float32)
    loudness = np.asarray(loudness)
    if loudness.shape != acts.shape:
        raise ValueError(f"loudness must be shaped like the activations {acts.shape}, got {loudness.shape}")
    rise = loudness_rise(loudness)
    # thresholds as the engine applies them: float32
    thr = np.broadcast_to(np.asarray(thresholds, dtype=np.float32), (len(classes),))
    peaks = _peak_frames(acts, thr, peak, picker)
    rows = []
    for c, frames in enumerate(peaks):
        times = onset_times(frames, cfg, lookahead_s, delay_s)
        vel = rule.velocities(np.full(len(frames), c), acts[frames, c], loudness[frames, c], rise[frames, c])
        rows += [(int(n), c, float(t), int(v)) for n, t, v in zip(frames, times, vel)]
    rows.sort()
    return [Event(time=t, drum=classes[c], velocity=v) for _, c, t, v in rows]


# --------------------------------------------------------------------------- bundles offline


def _run_window(session, features: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(features, dtype=np.float32)[None]
    return session.run(["activations"], {"features": x})[0][0]


def _centred_chunks(num_frames: int, context: int):
    """(start, keep_from, keep_to) of chunks of `context` frames overlapping by half:
    each frame is kept from the chunk in whose central half it lies (the first and last
    chunk also keep their outer quarter)."""
    margin = context // 4
    step = context - 2 * margin
    start = 0
    while True:
        keep_from = 0 if start == 0 else start + margin
        last = start + context >= num_frames
        keep_to = num_frames if last else start + margin + step
        yield start, keep_from, keep_to
        if last:
            return
        start += step


def _causal_block(bundle, block_frames: Any) -> int | None:
    if block_frames != "auto":
        if block_frames is not None and (isinstance(block_frames, bool) or not isinstance(block_frames, int)
                                         or block_frames < 1):
            raise ValueError(f"block_frames must be 'auto', None or a positive integer, got {block_frames!r}")
        return block_frames
    arch = bundle.manifest.get("architecture") or {}
    names = {arch.get("name")} | {m[0] for m in (arch.get("hyperparameters") or {}).get("members", [])}  # an ensemble's too
    return bundle.context_frames if names & ATTENTION_ARCHITECTURES else None


def window_activations(bundle, features: np.ndarray, *, session=None, block_frames: Any = "auto") -> np.ndarray:
    """Activations [frames, classes] of a whole track through the bundle's window.onnx.

    * Non-causal bundles (no step graph) saw 4 s windows in training (and a ViT's
      positions may fix the length): the graph runs on chunks of exactly
      `context_frames` frames that overlap by half, each frame taken from the chunk in
      whose central half it lies, so it has at least context_frames / 4 frames of
      context on both sides (more future than the engine's `future_frames`: offline is
      the upper bound). The last chunk is padded with zero features, silence, as the
      engine pads its history.
    * Causal bundles: with ``block_frames=None`` one run over the whole track, which
      equals the step graph's outputs (the exporter checks it), i.e. the streaming
      activations. With an integer, blocks of that many frames, each preceded by
      `context_frames - 1` frames of warm-up: exact for models that reach back at most
      `context_frames` (causal CNN, sliding-window attention), an approximation for
      recurrent ones. "auto": blocks of `context_frames` for the attention architectures
      (whose single run costs memory quadratic in its length), one run otherwise.
    """
    cfg = bundle.features
    feats = np.asarray(features, dtype=np.float32)
    if feats.ndim != 2 or feats.shape[1] != cfg.num_features:
        raise ValueError(f"features must be [frames, {cfg.num_features}], got shape {feats.shape}")
    session = session if session is not None else bundle.session("window")
    T, C = len(feats), bundle.num_classes
    out = np.zeros((T, C), dtype=np.float32)
    if T == 0:
        return out
    ctx = bundle.context_frames
    if not bundle.has_step:
        for start, keep_from, keep_to in _centred_chunks(T, ctx):
            chunk = np.zeros((ctx, cfg.num_features), dtype=np.float32)
            part = feats[start:start + ctx]
            chunk[:len(part)] = part
            acts = _run_window(session, chunk)
            out[keep_from:keep_to] = acts[keep_from - start:keep_to - start]
        return out
    block = _causal_block(bundle, block_frames)
    if block is None or block >= T:
        return np.asarray(_run_window(session, feats), dtype=np.float32)
    for start in range(0, T, block):
        lo, hi = max(0, start - (ctx - 1)), min(T, start + block)
        out[start:hi] = _run_window(session, feats[lo:hi])[start - lo:]
    return out


def _resolve_thresholds(bundle, thresholds: Any) -> np.ndarray:
    """float32 [classes]: None -> the bundle's; a number; a sequence; {class: value}
    (classes not named keep the bundle's value)."""
    C = bundle.num_classes
    if thresholds is None:
        th = np.asarray(bundle.thresholds, dtype=np.float64)
    elif isinstance(thresholds, Mapping):
        th = np.asarray(bundle.thresholds, dtype=np.float64).copy()
        for drum, value in thresholds.items():
            if drum not in bundle.classes:
                raise ValueError(f"threshold for {drum!r}, a class the bundle does not have "
                                 f"({', '.join(bundle.classes)})")
            th[bundle.classes.index(drum)] = value
    else:
        try:
            th = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (C,)).copy()
        except (TypeError, ValueError):
            raise ValueError(f"thresholds must be a number, {C} numbers or {{class: number}}, "
                             f"got {thresholds!r}") from None
    bad = np.flatnonzero(~((th >= 0.0) & (th <= 1.0)))
    if bad.size:
        raise ValueError(f"thresholds must lie in [0, 1]; {bundle.classes[bad[0]]} has {th[bad[0]]!r}")
    return th.astype(np.float32)


def _resampler_delay(rate: int, cfg: FeatureConfig) -> float:
    from rtadt.resample import StreamingResampler

    return 0.0 if rate == cfg.sample_rate else StreamingResampler(rate, cfg.sample_rate).delay_s


def offline_frames(bundle, audio: np.ndarray, rate: int, session=None,
                   block_frames: Any = "auto") -> tuple[np.ndarray, np.ndarray, float]:
    """(activations, loudness (rtadt.velocity), resampler delay) of a whole signal, by batch
    features and `window_activations`."""
    feats = features_for_audio(np.asarray(audio, dtype=np.float32), rate, bundle.features)
    acts = window_activations(bundle, feats, session=session, block_frames=block_frames)
    return acts, feats @ loudness_matrix(bundle.features, bundle.classes), _resampler_delay(rate, bundle.features)


def transcribe_offline(bundle, audio: np.ndarray, sample_rate: int, thresholds: Any = None,
                       picker: str = "offline", *, session=None, block_frames: Any = "auto") -> list[Event]:
    """Events of a whole mono signal: batch features (rtadt.features.features_for_audio),
    `window_activations`, then the `picker`'s peaks and the engine's onset-time rule.
    `emitted` is None (nothing is streamed)."""
    acts, loudness, delay = offline_frames(bundle, audio, sample_rate, session, block_frames)
    return activations_to_events(acts, _resolve_thresholds(bundle, thresholds), bundle.features,
                                 bundle.lookahead_s, bundle.peak, bundle.classes, picker, delay,
                                 bundle.velocity, loudness)


def _transcribe_streaming(bundle, audio: np.ndarray, rate: int, thresholds: np.ndarray) -> list[Event]:
    from rtadt.engine import transcribe_array

    # The live path exactly: the engine reads its thresholds from the bundle.
    return transcribe_array(dataclasses.replace(bundle, thresholds=thresholds), audio, rate)


def evaluate_bundle(bundle, tracks: Iterable, mode: str = "offline", thresholds: Any = None, *,
                    picker: str | None = None, windows: Sequence[float] = WINDOWS,
                    progress: bool = True, block_frames: Any = "auto", gain_db: float = 0.0,
                    class_latencies: dict | None = None, velocities: dict | None = None,
                    causes: dict | None = None) -> Scores:
    """Scores of a bundle over tracks (offline.datasets.Track), counts summed over tracks.

    gain_db: every track played this much louder or quieter (a float signal: nothing clips,
    as a digital gain before the engine). class_latencies: a dict that, in streaming mode, is
    filled per class ({class: list}) with the detection latency
    (`detection_latencies_by_class`, at the widest window) of every true positive.
    velocities: a dict that is filled, per class, with the (true, predicted) velocity rows of
    the matched hits (offline.velocity.matched_velocities).
    causes: a dict that is filled with what was played where the false positives fired, at
    the widest window (offline.metrics.false_positive_causes, summed over tracks).

    mode "offline": `transcribe_offline` (window.onnx over the whole track, see
    `window_activations`), with the offline picker by default (the thesis' protocol) or
    ``picker="online"`` (the runtime's picker on offline activations).
    mode "streaming": rtadt.engine.transcribe_array, the live code path; its picker is
    the online one.
    Both use the engine's onset-time rule. thresholds: None (the bundle's), a number, one
    per class or {class: value}. Only the bundle's classes are scored.
    """
    from tqdm import tqdm

    if mode not in ("offline", "streaming"):
        raise ValueError(f"mode must be 'offline' or 'streaming', got {mode!r}")
    if picker is None:
        picker = "offline" if mode == "offline" else "online"
    _check_picker(picker)
    if mode == "streaming" and picker != "online":
        raise ValueError("the streaming engine picks peaks online; picker='offline' needs mode='offline'")
    windows = check_windows(windows)
    th = _resolve_thresholds(bundle, thresholds)
    tracks = list(tracks)
    if not tracks:
        raise ValueError("no tracks to evaluate")
    session = bundle.session("window") if mode == "offline" else None
    total = None
    bar = tqdm(tracks, desc=f"evaluate {mode}", unit="track", disable=None if progress else True)
    if class_latencies is not None and mode != "streaming":
        raise ValueError("detection latencies are measured in streaming mode")
    if not math.isfinite(gain_db):
        raise ValueError(f"gain_db must be finite, got {gain_db!r}")
    for track in bar:
        audio, rate = track.load_audio()
        if gain_db:
            audio = (audio * 10 ** (gain_db / 20)).astype(np.float32)
        if mode == "offline":
            est = transcribe_offline(bundle, audio, rate, th, picker, session=session, block_frames=block_frames)
        else:
            est = _transcribe_streaming(bundle, audio, rate, th)
        s = score_events(list(track.events), est, windows, bundle.classes)
        if class_latencies is not None:
            for c, lat in detection_latencies_by_class(track.events, est, windows[-1], bundle.classes).items():
                class_latencies.setdefault(c, []).extend(lat.tolist())
        if velocities is not None:
            from offline.velocity import matched_velocities

            for c, rows in matched_velocities(list(track.events), est, windows[-1], bundle.classes).items():
                velocities[c] = np.concatenate([velocities.get(c, np.zeros((0, 2), np.int64)), rows])
        if causes is not None:
            causes.update(add_causes(causes, false_positive_causes(list(track.events), est, windows[-1], bundle.classes)))
        total = s if total is None else total + s
        bar.set_postfix(f1=f"{total.f1(windows[-1]):.3f}")
    return total


# --------------------------------------------------------------------------- thresholds


def _per_track(value: Any, n: int, name: str) -> list[float]:
    if isinstance(value, numbers.Real):
        return [float(value)] * n
    vals = [float(v) for v in value]
    if len(vals) != n:
        raise ValueError(f"{name} has {len(vals)} values for {n} tracks")
    return vals


def threshold_sweep(activations_per_track: Sequence[Any], references_per_track: Sequence[Any],
                    cfg: FeatureConfig, lookahead_s: float, peak_params: PeakParams,
                    grid: Any = THRESHOLD_GRID, window: float = 0.05, *,
                    classes: Sequence[str] = CLASSES, picker: str = "offline",
                    delay_s: Any = 0.0) -> np.ndarray:
    """Counts [len(grid), classes, 3] (tp, fp, fn summed over tracks) when every class
    uses threshold grid[g]. Thresholds are rounded to float32, as the engine applies them."""
    classes = check_classes(classes)
    g = check_grid(grid)
    w = check_window(window)
    _check_picker(picker)
    acts = list(activations_per_track)
    refs = list(references_per_track)
    if len(acts) != len(refs):
        raise ValueError(f"{len(acts)} activation arrays but {len(refs)} references")
    if not acts:
        raise ValueError("no tracks to tune on")
    delays = _per_track(delay_s, len(acts), "delay_s")
    ref_sets = [onsets_by_class(r, classes, f"references_per_track[{k}]") for k, r in enumerate(refs)]
    out = np.zeros((len(g), len(classes), 3), dtype=np.int64)
    for k, (a, ref, delay) in enumerate(zip(acts, ref_sets, delays)):
        a = np.asarray(a)
        if a.ndim != 2 or a.shape[1] != len(classes):
            raise ValueError(f"activations_per_track[{k}] must be [frames, {len(classes)}], got {a.shape}")
        for i, t in enumerate(g):
            peaks = _peak_frames(a, np.float32(t), peak_params, picker)
            for c, frames in enumerate(peaks):
                est = onset_times(frames, cfg, lookahead_s, delay)
                out[i, c] += onset_counts(ref[classes[c]], est, w)
    return out


def tune_thresholds(activations_per_track: Sequence[Any], references_per_track: Sequence[Any],
                    cfg: FeatureConfig, lookahead_s: float, peak_params: PeakParams,
                    grid: Any = THRESHOLD_GRID, window: float = 0.05, *,
                    classes: Sequence[str] = CLASSES, picker: str = "offline",
                    delay_s: Any = 0.0, fallback: Any = None) -> np.ndarray:
    """Per-class thresholds (float64 [classes]) that maximise each class's F1 at `window`
    over all validation tracks together (counts summed, as in evaluation).

    activations_per_track: [frames, classes] arrays; references_per_track: per track
    ``{class: times}`` or a list of Event. Onset times follow the engine's rule
    (`onset_times`, with each track's resampler `delay_s`). Ties between grid values
    resolve to the median tied value (the lower of the two middle ones), away from
    the edges of a plateau (`best_thresholds`). A class with no reference onset in any
    track cannot be tuned: it takes `fallback` (a number or one per class) or raises ValueError.
    """
    classes = check_classes(classes)
    g = check_grid(grid)
    counts = threshold_sweep(activations_per_track, references_per_track, cfg, lookahead_s, peak_params,
                             g, window, classes=classes, picker=picker, delay_s=delay_s)
    return best_thresholds(counts, g, classes, fallback)[0]


def tune_bundle_peaks(bundle, tracks: Iterable, deltas: Sequence[float] = (0.0, 0.02, 0.05, 0.1),
                      grid: Any = THRESHOLD_GRID, window: float = 0.05, *,
                      progress: bool = True, sets: Sequence[Any] | None = None
                      ) -> tuple[PeakParams, np.ndarray, dict[float, float]]:
    """The online picker's delta and per-class thresholds that maximise micro F1 on tracks
    (a validation split): for each delta, each class's best threshold (`tune_thresholds`);
    then the delta whose tuned micro F1 is highest (ties: the larger delta, the stricter
    picker). A fixed delta can silence a model whose activations peak low; this lets the
    validation data say. With `sets` (one label per track), each set weighs once: a class's
    F1 and the micro F1 are the means over the sets (`best_thresholds_per_set`), not those of
    the pooled counts. Returns (peak params, thresholds, {delta: tuned micro F1})."""
    tracks = list(tracks)
    labels = [0] * len(tracks) if sets is None else list(sets)
    if len(labels) != len(tracks):
        raise ValueError(f"sets: one label per track ({len(tracks)}), got {len(labels)}")
    groups = [[i for i, label in enumerate(labels) if label == name] for name in dict.fromkeys(labels)]
    acts, refs, delays = _validation_activations(bundle, tracks, progress)
    fallback = np.asarray(bundle.thresholds, dtype=np.float64)
    g = check_grid(grid)
    best, scores = None, {}
    for delta in sorted(float(d) for d in deltas):
        peak = dataclasses.replace(bundle.peak, delta=delta)
        counts = np.stack([threshold_sweep([acts[i] for i in group], [refs[i] for i in group], bundle.features,
                                           bundle.lookahead_s, peak, g, window, classes=bundle.classes,
                                           picker="online", delay_s=[delays[i] for i in group])
                           for group in groups])
        th, chosen = best_thresholds_per_set(counts, g, bundle.classes, fallback)
        scores[delta] = round(float(np.mean([prf(*map(int, c.sum(axis=0))).f1 for c in chosen])), 4)
        if best is None or scores[delta] >= best[2]:
            best = (peak, th, scores[delta])
    return best[0], best[1], scores


def _validation_activations(bundle, tracks: Iterable, progress: bool, block_frames: Any = "auto"):
    """(activations, reference events, resampler delays) of each track, by the window graph."""
    from tqdm import tqdm

    tracks = list(tracks)
    if not tracks:
        raise ValueError("no tracks to tune on")
    session = bundle.session("window")
    acts, refs, delays = [], [], []
    for track in tqdm(tracks, desc="activations", unit="track", disable=None if progress else True):
        audio, rate = track.load_audio()
        a, _, d = offline_frames(bundle, audio, rate, session, block_frames)
        acts.append(a)
        refs.append(list(track.events))
        delays.append(d)
    return acts, refs, delays


def tune_bundle_thresholds(bundle, tracks: Iterable, grid: Any = THRESHOLD_GRID,
                           window: float = 0.05, *, picker: str = "offline", progress: bool = True,
                           block_frames: Any = "auto", fallback: Any = "bundle") -> np.ndarray:
    """`tune_thresholds` for a bundle on tracks (a validation split): activations by
    `window_activations`, the bundle's features, lookahead and peak parameters.
    Classes without reference onsets keep the bundle's thresholds (fallback="bundle")."""
    acts, refs, delays = _validation_activations(bundle, tracks, progress, block_frames)
    if isinstance(fallback, str) and fallback == "bundle":
        fallback = np.asarray(bundle.thresholds, dtype=np.float64)
    return tune_thresholds(acts, refs, bundle.features, bundle.lookahead_s, bundle.peak, grid, window,
                           classes=bundle.classes, picker=picker, delay_s=delays, fallback=fallback)


# --------------------------------------------------------------------------- plot


def plot_f1(scores: Scores, path: str | Path, title: str | None = None) -> Path:
    """Bar chart of per-class F1 (and micro, macro) for each window, written to `path`
    (format from its suffix); the macro bar names its classes when some have no references. Uses the Agg canvas directly: no pyplot, no global state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    kept = scores.macro_classes()  # named under the macro bar when some classes are left out
    labels = list(scores.classes) + ["micro", "macro" if len(kept) == len(scores.classes)
                                     else "macro\n(" + (", ".join(kept) or "= micro") + ")"]
    x = np.arange(len(labels))
    width = 0.8 / len(scores.windows)
    fig = Figure(figsize=(1.1 * len(labels) + 2, 3.6))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for k, w in enumerate(scores.windows):
        values = [scores.per_class(w)[d].f1 for d in scores.classes] + [scores.micro(w).f1, scores.macro(w).f1]
        bars = ax.bar(x + (k - (len(scores.windows) - 1) / 2) * width, values, width, label=f"±{window_label(w)}")
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(x, labels)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("F1")
    ax.set_title(title or f"onset F1 ({scores.tracks} track{'s' if scores.tracks != 1 else ''})")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path
