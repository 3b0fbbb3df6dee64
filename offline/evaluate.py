"""Onset F-measure of drum transcriptions, with tolerance windows.

The metric of the ADT literature (Vogl et al., ISMIR 2017; Zehren et al., ADTOF, 2021/2023):
per drum class, estimated onsets are matched one-to-one to reference onsets that lie within
a tolerance window (±25 ms and ±50 ms here); matched estimates are true positives, the
other estimates false positives, the other references false negatives.

Matching
    A *maximum* one-to-one matching, the one of ``mir_eval.onset.f_measure`` (Raffel et
    al., ISMIR 2014), computed here by a two-pointer sweep instead of bipartite matching
    (see `onset_counts` for the proof that the sweep is optimal). An estimate e and a
    reference r may be matched iff ``e - window <= r <= e + window`` in float64: the very
    comparisons mir_eval makes, so that onsets exactly on a window's edge agree with it too.

Empty sets
    The convention of madmom's evaluation (Böck et al., ACM MM 2016), which the ADT
    literature reports with (ADTOF's evaluation code combines it with mir_eval's matching,
    as here): precision is 1 when there are no estimates ("none of them is wrong"), recall
    is 1 when there are no references ("all were found"), F1 = 2PR / (P + R) and 0 when
    P + R = 0. Hence

    ============================  ==========  =======  ====
    reference / estimate          precision   recall   F1
    ============================  ==========  =======  ====
    both empty                    1           1        1
    references only               1           0        0
    estimates only                0           1        0
    ============================  ==========  =======  ====

    mir_eval instead returns 0 (with a warning) whenever either set is empty. The rule
    applies per class and to the micro sums (tables show a class's reference count, 0,
    next to its F1 of 1); the macro mean leaves such classes out (below).

Aggregation (`Scores`)
    Counts are summed over tracks before anything is divided, per class and window.
    *micro*: P/R/F1 of the counts summed over classes (ADTOF's "sum" F-measure);
    *macro*: the unweighted mean of per-class P, R and F1 over the classes that have
    reference onsets. A class without references has no recall to measure, and counting
    its F1 of 1 would let a model that predicts nothing score 3 / 5 = 0.6 on a track with
    three silent classes; in mir_eval's spirit (no references: nothing to score) it is left
    out, and so is an F1 of 0 for estimates there (they still count in micro, as false
    positives). When no class has references, macro equals micro. Per-track
    F-measures are never averaged (ADTOF's "mean" figures also average over tracks; ours
    do not). Nothing is discarded either (ADTOF drops estimates before a track's first
    annotated onset, for unannotated count-ins; datasets that need it should trim).

From activations to onset times (`onset_times`)
    Exactly the rule of the streaming engine (rtadt.engine): an onset reported at frame n
    lies at ``frame_time(n) - lookahead - hop / 2 - resampler delay``, clipped at 0, so
    offline scores and streaming scores of one bundle are comparable (for a causal bundle
    with the online picker they are the same events: the tests check it).

Input order
    Onset sets have no order: unsorted times are sorted (in a copy) rather than refused,
    unlike mir_eval. Duplicated times are kept: each is one onset that can be matched once.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from rtadt.drums import CLASSES, Event, UnknownLabelError
from rtadt.features import FeatureConfig, features_for_audio
from rtadt.framing import onset_offset, reported_onsets
from rtadt.peaks import PeakParams, pick_peaks, pick_peaks_online
from rtadt.velocity import VelocityRule, loudness_matrix

__all__ = [
    "WINDOWS",
    "PICKERS",
    "PRF",
    "Counts",
    "Scores",
    "onset_counts",
    "prf",
    "score_events",
    "accumulate",
    "onset_times",
    "activations_to_events",
    "window_activations",
    "transcribe_offline",
    "evaluate_bundle",
    "THRESHOLD_GRID",
    "threshold_sweep",
    "best_thresholds",
    "tune_thresholds",
    "tune_bundle_thresholds",
    "plot_f1",
]

#: The tolerance windows of the literature, in seconds.
WINDOWS: tuple[float, ...] = (0.025, 0.05)
#: Peak pickers of rtadt.peaks: "offline" (centred windows, Böck et al. 2012 / Vogl et al.
#: 2017) and "online" (past-only windows, what the runtime uses).
PICKERS = ("offline", "online")
#: The thresholds tuned over, per class, by training (its validation selection) and by
#: evaluation (bundles' thresholds): 0.05, 0.10, ..., 0.95, rounded so that they print as such.
THRESHOLD_GRID: np.ndarray = np.round(np.linspace(0.05, 0.95, 19), 2)
#: Architectures whose causal flavour attends over all of its input at once (cost quadratic
#: in the frames of one run) but reaches back only `context_frames`: run in blocks offline.
ATTENTION_ARCHITECTURES = frozenset({"convtransformer", "vit"})


# --------------------------------------------------------------------------- validation


def _check_window(window: Any, name: str = "window") -> float:
    if isinstance(window, bool) or not isinstance(window, numbers.Real):
        raise ValueError(f"{name} must be a number of seconds >= 0, got {window!r}")
    w = float(window)
    if not math.isfinite(w) or w < 0.0:
        raise ValueError(f"{name} must be a finite number of seconds >= 0, got {window!r}")
    return w


def _check_windows(windows: Any) -> tuple[float, ...]:
    if isinstance(windows, numbers.Real):
        windows = (windows,)
    try:
        ws = tuple(_check_window(w, "each window") for w in windows)
    except TypeError:
        raise ValueError(f"windows must be a sequence of seconds, got {windows!r}") from None
    if not ws:
        raise ValueError("windows must name at least one tolerance window")
    if len(set(ws)) != len(ws):
        raise ValueError(f"windows repeat: {ws}")
    return ws


def _check_onsets(times: Any, name: str) -> np.ndarray:
    """A sorted float64 copy of 1-D finite onset times (seconds)."""
    if isinstance(times, (str, bytes)):
        raise ValueError(f"{name} must be a 1-D array of onset times in seconds, got {times!r}")
    try:
        arr = np.asarray(times)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a 1-D array of onset times in seconds ({exc})") from None
    if arr.size == 0 and arr.ndim <= 1:
        return np.zeros(0, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of onset times in seconds, got shape {arr.shape}")
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold real numbers (seconds), got dtype {arr.dtype}")
    x = arr.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(x))
    if bad.size:
        raise ValueError(f"{name} must be finite; element {int(bad[0])} is {x[bad[0]]!r}")
    return np.sort(x, kind="stable")


def _check_count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def _check_classes(classes: Any) -> tuple[str, ...]:
    if isinstance(classes, str):
        classes = (classes,)
    cls = tuple(classes)
    if not cls:
        raise ValueError("classes must name at least one drum class")
    for c in cls:
        if c not in CLASSES:
            raise UnknownLabelError(f"unknown drum class {c!r}; known: {', '.join(CLASSES)}")
    if len(set(cls)) != len(cls):
        raise ValueError(f"classes repeat: {cls}")
    return cls


def _check_picker(picker: Any) -> str:
    if picker not in PICKERS:
        raise ValueError(f"picker must be one of {', '.join(PICKERS)}, got {picker!r}")
    return picker


# --------------------------------------------------------------------------- one class


def onset_counts(reference: Any, estimate: Any, window: float = 0.025) -> tuple[int, int, int]:
    """(tp, fp, fn) of a maximum one-to-one matching of onsets within ±window seconds.

    reference, estimate: 1-D arrays of onset times in seconds (finite; any order; empty
    allowed). window: tolerance in seconds (>= 0). An estimate e may match a reference r
    iff ``e - window <= r <= e + window`` (float64, as mir_eval.util.match_events).

    The number of matches equals mir_eval's maximum bipartite matching. With both lists
    sorted, a two-pointer sweep looks at the earliest unmatched reference r and estimate e:

    * r < e - window: no estimate from e on can match r (e - window grows with e): drop r;
    * r > e + window: no reference from r on can match e (they are >= r): drop e;
    * otherwise match r with e. This is safe: take a maximum matching M. If M pairs r with
      e' and e with r' (e' >= e, r' >= r), then e - w <= e' - w <= r <= r' <= e + w <= e' + w,
      so (r, e) and (r', e') are admissible too and swapping keeps |M|; if only one of r, e
      is matched in M, re-pair it with the other; if neither, add (r, e), contradicting
      maximality. (Only the monotonicity of e -> fl(e ± w) is used, which rounding keeps,
      so the argument holds for the float comparisons as well.)

    Every step removes one onset, so the sweep is O(n + m) after sorting.
    """
    ref = _check_onsets(reference, "reference")
    est = _check_onsets(estimate, "estimate")
    tp = len(_sweep(ref, est, _check_window(window)))
    return tp, len(est) - tp, len(ref) - tp


def _sweep(ref: np.ndarray, est: np.ndarray, w: float) -> list[tuple[int, int]]:
    """The matched (reference index, estimate index) pairs of onset_counts' sweep (sorted input)."""
    lo = est - w  # the same float operations as mir_eval's searchsorted(est - window)
    hi = est + w
    i = j = 0
    n, m = len(ref), len(est)
    refl, lol, hil = ref.tolist(), lo.tolist(), hi.tolist()
    pairs = []
    while i < n and j < m:
        r = refl[i]
        if r < lol[j]:
            i += 1
        elif r > hil[j]:
            j += 1
        else:
            pairs.append((i, j))
            i += 1
            j += 1
    return pairs


def matched_indices(reference: Any, estimate: Any, window: float = 0.05) -> list[tuple[int, int]]:
    """The (reference index, estimate index) pairs that onset_counts matches, for onset times
    in any order (stable-sorted first, so equal times pair in their given order)."""
    ref, est = np.asarray(reference, dtype=np.float64), np.asarray(estimate, dtype=np.float64)
    r, e = np.argsort(ref, kind="stable"), np.argsort(est, kind="stable")
    return [(int(r[i]), int(e[j])) for i, j in _sweep(ref[r], est[e], _check_window(window))]


def detection_latencies(reference: Sequence[Event], estimate: Sequence[Event], window: float = 0.05,
                        classes: Sequence[str] = CLASSES) -> np.ndarray:
    """Emission time minus reference onset of every true positive (seconds), class by class:
    how long after a hit its note leaves the engine. Estimates need `emitted` times (the
    streaming engine's events have them)."""
    out = []
    for c in classes:
        ref = [e.time for e in reference if e.drum == c]
        est = [e for e in estimate if e.drum == c]
        if any(e.emitted is None for e in est):
            raise ValueError("detection latencies need emitted times (streaming mode)")
        out += [est[j].emitted - ref[i] for i, j in matched_indices(ref, [e.time for e in est], window)]
    return np.asarray(out, dtype=np.float64)


class PRF(NamedTuple):
    precision: float
    recall: float
    f1: float


def prf(tp: int, fp: int, fn: int) -> PRF:
    """Precision, recall and F1 from counts, with madmom's convention for empty sets:
    P = 1 without estimates (tp + fp = 0), R = 1 without references (tp + fn = 0),
    F1 = 2PR / (P + R), and 0 when P + R = 0. Both empty gives (1, 1, 1)."""
    tp, fp, fn = _check_count(tp, "tp"), _check_count(fp, "fp"), _check_count(fn, "fn")
    p = 1.0 if tp + fp == 0 else tp / (tp + fp)
    r = 1.0 if tp + fn == 0 else tp / (tp + fn)
    f = 0.0 if p + r == 0.0 else 2.0 * p * r / (p + r)
    return PRF(p, r, f)


@dataclass(frozen=True)
class Counts:
    """True positives, false positives and false negatives of one class (or a sum)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __post_init__(self) -> None:
        for name in ("tp", "fp", "fn"):
            object.__setattr__(self, name, _check_count(getattr(self, name), f"Counts.{name}"))

    def __add__(self, other: "Counts") -> "Counts":
        if not isinstance(other, Counts):
            return NotImplemented
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def num_reference(self) -> int:
        return self.tp + self.fn

    @property
    def num_estimate(self) -> int:
        return self.tp + self.fp

    @property
    def scores(self) -> PRF:
        return prf(self.tp, self.fp, self.fn)

    @property
    def precision(self) -> float:
        return self.scores.precision

    @property
    def recall(self) -> float:
        return self.scores.recall

    @property
    def f1(self) -> float:
        return self.scores.f1

    def to_dict(self) -> dict[str, Any]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, **self.scores._asdict()}


# --------------------------------------------------------------------------- many classes


def _window_label(w: float) -> str:
    return f"{w * 1000:g} ms"


@dataclass(frozen=True)
class Scores:
    """Counts per tolerance window and class, summed over `tracks` tracks.

    ``counts[k][c]`` belongs to ``windows[k]`` and ``classes[c]``. Everything else (P, R,
    F1 per class, micro, macro) is computed from the counts on demand.
    """

    classes: tuple[str, ...]
    windows: tuple[float, ...]
    counts: tuple[tuple[Counts, ...], ...]
    tracks: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", _check_classes(self.classes))
        object.__setattr__(self, "windows", _check_windows(self.windows))
        counts = tuple(tuple(row) for row in self.counts)
        if len(counts) != len(self.windows) or any(len(row) != len(self.classes) for row in counts):
            raise ValueError(f"counts must be [{len(self.windows)} windows][{len(self.classes)} classes]")
        if not all(isinstance(c, Counts) for row in counts for c in row):
            raise ValueError("counts must hold Counts")
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "tracks", _check_count(self.tracks, "tracks"))

    # -- lookup

    def _row(self, window: float) -> tuple[Counts, ...]:
        for k, w in enumerate(self.windows):
            if math.isclose(w, float(window), rel_tol=0.0, abs_tol=1e-12):
                return self.counts[k]
        raise ValueError(f"no scores for a window of {window!r} s; windows: {self.windows}")

    def per_class(self, window: float) -> dict[str, Counts]:
        """Counts (with .precision, .recall, .f1) of each class at `window`."""
        return dict(zip(self.classes, self._row(window)))

    def micro(self, window: float) -> Counts:
        """Counts summed over classes: P/R/F1 of every onset of every class together."""
        total = Counts()
        for c in self._row(window):
            total = total + c
        return total

    def macro_classes(self) -> tuple[str, ...]:
        """The classes the macro mean is over: those with reference onsets (the same at
        every window)."""
        return tuple(d for d, c in zip(self.classes, self.counts[0]) if c.num_reference > 0)

    def macro(self, window: float) -> PRF:
        """Unweighted mean of per-class precision, recall and F1 over the classes with
        reference onsets (`macro_classes`); without any, the micro scores (see the module
        docstring)."""
        row = self._row(window)
        kept = [c.scores for c in row if c.num_reference > 0]
        if not kept:
            return self.micro(window).scores
        return PRF(*(float(v) for v in np.array(kept, dtype=np.float64).mean(axis=0)))

    def f1(self, window: float, drum: str | None = None) -> float:
        """F1 of one class, or the micro F1 when `drum` is None."""
        if drum is None:
            return self.micro(window).f1
        if drum not in self.classes:
            raise ValueError(f"no scores for class {drum!r}; classes: {', '.join(self.classes)}")
        return self.per_class(window)[drum].f1

    # -- aggregation

    def __add__(self, other: "Scores") -> "Scores":
        if not isinstance(other, Scores):
            return NotImplemented
        if other.classes != self.classes or other.windows != self.windows:
            raise ValueError(f"cannot add scores of classes {other.classes} / windows {other.windows} "
                             f"to scores of classes {self.classes} / windows {self.windows}")
        counts = tuple(tuple(a + b for a, b in zip(ra, rb)) for ra, rb in zip(self.counts, other.counts))
        return Scores(self.classes, self.windows, counts, self.tracks + other.tracks)

    # -- output

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: counts and derived scores per window (seconds), class, micro, macro."""
        return {
            "classes": list(self.classes),
            "tracks": self.tracks,
            "windows": [
                {
                    "window": w,
                    "per_class": {d: c.to_dict() for d, c in self.per_class(w).items()},
                    "micro": self.micro(w).to_dict(),
                    "macro": {**self.macro(w)._asdict(), "classes": list(self.macro_classes())},
                }
                for w in self.windows
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Scores":
        """Inverse of `to_dict` (only the counts are read; the rest is recomputed)."""
        try:
            classes = tuple(data["classes"])
            windows = tuple(float(entry["window"]) for entry in data["windows"])
            counts = tuple(
                tuple(Counts(**{k: entry["per_class"][d][k] for k in ("tp", "fp", "fn")}) for d in classes)
                for entry in data["windows"]
            )
            return cls(classes, windows, counts, data.get("tracks", 1))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a Scores dict: missing or malformed {exc}") from None

    def table(self, digits: int = 3) -> str:
        """A markdown table: one row per class, then micro and macro; P, R, F1 per window.
        When a class has no reference onsets, a line under the table says which classes
        the macro mean is over."""
        head = ["class", "ref", "est"]
        for w in self.windows:
            head += [f"P {_window_label(w)}", f"R {_window_label(w)}", f"F1 {_window_label(w)}"]
        rows = [head, ["---"] + ["---:"] * (len(head) - 1)]
        fmt = f"{{:.{digits}f}}".format

        def cells(pr: PRF) -> list[str]:
            return [fmt(pr.precision), fmt(pr.recall), fmt(pr.f1)]

        first = self.counts[0]
        for c, drum in enumerate(self.classes):
            row = [drum, str(first[c].num_reference), str(first[c].num_estimate)]
            for k in range(len(self.windows)):
                row += cells(self.counts[k][c].scores)
            rows.append(row)
        total = self.micro(self.windows[0])
        micro = ["micro", str(total.num_reference), str(total.num_estimate)]
        macro = ["macro", "", ""]
        for w in self.windows:
            micro += cells(self.micro(w).scores)
            macro += cells(self.macro(w))
        rows += [micro, macro]
        return "\n".join("| " + " | ".join(r) + " |" for r in rows) + self._macro_note()

    def _macro_note(self) -> str:
        kept = self.macro_classes()
        if len(kept) == len(self.classes):
            return ""
        if not kept:
            return "\n\nmacro: no class has reference onsets, so macro is micro."
        left = [d for d in self.classes if d not in kept]
        return (f"\n\nmacro: mean over the {len(kept)} classes with reference onsets ({', '.join(kept)}); "
                f"{', '.join(left)} without any left out.")


def _onsets_by_class(events: Any, classes: tuple[str, ...], name: str) -> dict[str, np.ndarray]:
    """{class: sorted times} from {class: times} or an iterable of Event.

    Classes of the vocabulary outside `classes` are ignored (not scored); labels outside
    the vocabulary raise UnknownLabelError."""
    out: dict[str, list] = {c: [] for c in classes}
    if isinstance(events, Mapping):
        for drum, times in events.items():
            if drum not in CLASSES:
                raise UnknownLabelError(f"{name}: unknown drum class {drum!r}; known: {', '.join(CLASSES)}")
            if drum in out:
                out[drum] = _check_onsets(times, f"{name}[{drum!r}]")
        return {c: _check_onsets(v, f"{name}[{c!r}]") for c, v in out.items()}
    if isinstance(events, (str, bytes)) or not isinstance(events, Iterable):
        raise ValueError(f"{name} must be a mapping class -> onset times or a list of Event, "
                         f"got {type(events).__name__}")
    for k, e in enumerate(events):
        if not isinstance(e, Event):
            raise ValueError(f"{name}[{k}] is a {type(e).__name__}, not an Event")
        if e.drum in out:
            out[e.drum].append(e.time)
    return {c: _check_onsets(v, f"{name} times of {c}") for c, v in out.items()}


def score_events(reference: Any, estimate: Any, windows: Sequence[float] = WINDOWS,
                 classes: Sequence[str] = CLASSES) -> Scores:
    """Scores of one track.

    reference, estimate: ``{class: onset times}`` (missing classes are empty) or a list of
    `Event`. Only `classes` are scored; events of other known classes are ignored.
    """
    classes = _check_classes(classes)
    windows = _check_windows(windows)
    ref = _onsets_by_class(reference, classes, "reference")
    est = _onsets_by_class(estimate, classes, "estimate")
    counts = tuple(tuple(Counts(*onset_counts(ref[c], est[c], w)) for c in classes) for w in windows)
    return Scores(classes, windows, counts, tracks=1)


def accumulate(scores: Iterable[Scores]) -> Scores:
    """Sum the counts of many tracks' scores (same classes and windows); F-measures are
    then computed from the sums, never averaged over tracks."""
    total = None
    for s in scores:
        if not isinstance(s, Scores):
            raise ValueError(f"accumulate takes Scores, got {type(s).__name__}")
        total = s if total is None else total + s
    if total is None:
        raise ValueError("nothing to accumulate: no scores given")
    return total


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
    rule weighs loudness); sorted by frame, then class order."""
    classes = _check_classes(classes)
    acts = np.asarray(activations)
    if acts.ndim != 2 or acts.shape[1] != len(classes):
        raise ValueError(f"activations must be [frames, {len(classes)}], got shape {acts.shape}")
    rule = velocity or VelocityRule.activation_only(len(classes))
    if loudness is None:
        if np.any(rule.loudness_weight):
            raise ValueError("this velocity rule weighs loudness: pass the frames' loudness")
        loudness = np.zeros(acts.shape, dtype=np.float32)
    loudness = np.asarray(loudness)
    if loudness.shape != acts.shape:
        raise ValueError(f"loudness must be shaped like the activations {acts.shape}, got {loudness.shape}")
    # thresholds as the engine applies them: float32
    thr = np.broadcast_to(np.asarray(thresholds, dtype=np.float32), (len(classes),))
    peaks = _peak_frames(acts, thr, peak, picker)
    rows = []
    for c, frames in enumerate(peaks):
        times = onset_times(frames, cfg, lookahead_s, delay_s)
        vel = rule.velocities(np.full(len(frames), c), acts[frames, c], loudness[frames, c])
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
    return bundle.context_frames if arch.get("name") in ATTENTION_ARCHITECTURES else None


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
                    latencies: list | None = None, velocities: dict | None = None) -> Scores:
    """Scores of a bundle over tracks (offline.datasets.Track), counts summed over tracks.

    gain_db: every track played this much louder or quieter (a float signal: nothing clips,
    as a digital gain before the engine). latencies: a list that, in streaming mode, is
    extended with the detection latency (`detection_latencies`, at the widest window) of
    every true positive. velocities: a dict that is filled, per class, with the (true,
    predicted) velocity rows of the matched hits (offline.velocity.matched_velocities).

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
    windows = _check_windows(windows)
    th = _resolve_thresholds(bundle, thresholds)
    tracks = list(tracks)
    if not tracks:
        raise ValueError("no tracks to evaluate")
    session = bundle.session("window") if mode == "offline" else None
    total = None
    bar = tqdm(tracks, desc=f"evaluate {mode}", unit="track", disable=None if progress else True)
    if latencies is not None and mode != "streaming":
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
        if latencies is not None:
            latencies.extend(detection_latencies(track.events, est, windows[-1], bundle.classes).tolist())
        if velocities is not None:
            from offline.velocity import matched_velocities

            for c, rows in matched_velocities(list(track.events), est, windows[-1], bundle.classes).items():
                velocities[c] = np.concatenate([velocities.get(c, np.zeros((0, 2), np.int64)), rows])
        total = s if total is None else total + s
        bar.set_postfix(f1=f"{total.f1(windows[-1]):.3f}")
    return total


# --------------------------------------------------------------------------- thresholds


def _check_grid(grid: Any) -> np.ndarray:
    g = np.asarray(grid, dtype=np.float64)
    if g.ndim != 1 or g.size == 0:
        raise ValueError(f"grid must be a non-empty 1-D sequence of thresholds, got shape {g.shape}")
    if not np.all((g >= 0.0) & (g <= 1.0)):
        raise ValueError(f"grid thresholds must lie in [0, 1], got {g.tolist()}")
    return g


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
    classes = _check_classes(classes)
    g = _check_grid(grid)
    w = _check_window(window)
    _check_picker(picker)
    acts = list(activations_per_track)
    refs = list(references_per_track)
    if len(acts) != len(refs):
        raise ValueError(f"{len(acts)} activation arrays but {len(refs)} references")
    if not acts:
        raise ValueError("no tracks to tune on")
    delays = _per_track(delay_s, len(acts), "delay_s")
    ref_sets = [_onsets_by_class(r, classes, f"references_per_track[{k}]") for k, r in enumerate(refs)]
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
    classes = _check_classes(classes)
    g = _check_grid(grid)
    counts = threshold_sweep(activations_per_track, references_per_track, cfg, lookahead_s, peak_params,
                             g, window, classes=classes, picker=picker, delay_s=delay_s)
    return best_thresholds(counts, g, classes, fallback)[0]


def best_thresholds(counts: Any, grid: Any, classes: Sequence[str],
                    fallback: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Each class's threshold that maximises its F1 (`prf`), from the counts at every
    threshold of a grid: the one choice of training's validation selection and of
    `tune_thresholds`.

    counts: [len(grid), classes, 3] (tp, fp, fn), e.g. a `threshold_sweep`'s. Ties between
    grid values resolve to the median tied value (the lower of the two middle ones), away
    from the edges of a plateau. A class without reference onsets (tp + fn = 0 at every
    threshold) has no F1 to maximise: it takes `fallback` (a number or one per class, its
    counts those of the grid value nearest it), or raises ValueError when fallback is None.
    Returns (thresholds float64 [classes], counts int64 [classes, 3] at those thresholds).
    """
    classes = _check_classes(classes)
    g = _check_grid(grid)
    counts = np.asarray(counts)
    if counts.shape != (len(g), len(classes), 3):
        raise ValueError(f"counts must be [{len(g)} thresholds, {len(classes)} classes, 3], got {counts.shape}")
    fb = None if fallback is None else np.broadcast_to(np.asarray(fallback, dtype=np.float64), (len(classes),))
    best = np.zeros(len(classes), dtype=np.float64)
    chosen = np.zeros((len(classes), 3), dtype=np.int64)
    for c, drum in enumerate(classes):
        if counts[0, c, 0] + counts[0, c, 2] == 0:  # tp + fn: references do not depend on the threshold
            if fb is None:
                raise ValueError(f"class {drum} has no reference onset in the tuning tracks: its threshold "
                                 "cannot be tuned (pass fallback=..., e.g. the bundle's thresholds)")
            best[c] = fb[c]
            chosen[c] = counts[int(np.argmin(np.abs(g - fb[c]))), c]
            continue
        f1 = np.array([prf(*map(int, counts[i, c])).f1 for i in range(len(g))])
        tied = np.flatnonzero(f1 == f1.max())
        best[c] = g[tied[(len(tied) - 1) // 2]]
        chosen[c] = counts[tied[(len(tied) - 1) // 2], c]
    return best, chosen


def tune_bundle_peaks(bundle, tracks: Iterable, deltas: Sequence[float] = (0.0, 0.02, 0.05, 0.1),
                      grid: Any = THRESHOLD_GRID, window: float = 0.05, *,
                      progress: bool = True) -> tuple[PeakParams, np.ndarray, dict[float, float]]:
    """The online picker's delta and per-class thresholds that maximise micro F1 on tracks
    (a validation split): for each delta, each class's best threshold (`tune_thresholds`);
    then the delta whose tuned micro F1 is highest (ties: the larger delta, the stricter
    picker). A fixed delta can silence a model whose activations peak low; this lets the
    validation data say. Returns (peak params, thresholds, {delta: tuned micro F1})."""
    acts, refs, delays = _validation_activations(bundle, tracks, progress)
    fallback = np.asarray(bundle.thresholds, dtype=np.float64)
    g = _check_grid(grid)
    best, scores = None, {}
    for delta in sorted(float(d) for d in deltas):
        peak = dataclasses.replace(bundle.peak, delta=delta)
        counts = threshold_sweep(acts, refs, bundle.features, bundle.lookahead_s, peak, g, window,
                                 classes=bundle.classes, picker="online", delay_s=delays)
        th, chosen = best_thresholds(counts, g, bundle.classes, fallback)
        scores[delta] = round(prf(*map(int, chosen.sum(axis=0))).f1, 4)
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
        bars = ax.bar(x + (k - (len(scores.windows) - 1) / 2) * width, values, width, label=f"±{_window_label(w)}")
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
