"""Onset F-measure of drum transcriptions, with tolerance windows: pure scoring, mir_eval-like.

Contract: functions of onset times (arrays of seconds, ``{class: times}`` or lists of
rtadt.drums.Event) and of counts, and the types that hold them (`PRF`, `Counts`, `Scores`).
No file or network I/O, no model: nothing here loads a bundle or imports onnxruntime or
torch. Getting the estimates (running a bundle offline or through the streaming engine),
tuning thresholds and plotting are offline.evaluate's.

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

Input order
    Onset sets have no order: unsorted times are sorted (in a copy) rather than refused,
    unlike mir_eval. Duplicated times are kept: each is one onset that can be matched once.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from rtadt.drums import CLASSES, Event, UnknownLabelError

__all__ = [
    "WINDOWS",
    "PRF",
    "Counts",
    "Scores",
    "grouped_table",
    "false_positive_causes",
    "add_causes",
    "causes_table",
    "onset_counts",
    "prf",
    "score_events",
    "accumulate",
    "THRESHOLD_GRID",
    "best_thresholds", "best_thresholds_per_set",
]

#: The tolerance windows of the literature, in seconds.
WINDOWS: tuple[float, ...] = (0.025, 0.05)


# --------------------------------------------------------------------------- validation


def check_window(window: Any, name: str = "window") -> float:
    if isinstance(window, bool) or not isinstance(window, numbers.Real):
        raise ValueError(f"{name} must be a number of seconds >= 0, got {window!r}")
    w = float(window)
    if not math.isfinite(w) or w < 0.0:
        raise ValueError(f"{name} must be a finite number of seconds >= 0, got {window!r}")
    return w


def check_windows(windows: Any) -> tuple[float, ...]:
    if isinstance(windows, numbers.Real):
        windows = (windows,)
    try:
        ws = tuple(check_window(w, "each window") for w in windows)
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


def check_classes(classes: Any) -> tuple[str, ...]:
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
    tp = len(_sweep(ref, est, check_window(window)))
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
    return [(int(r[i]), int(e[j])) for i, j in _sweep(ref[r], est[e], check_window(window))]


def detection_latencies_by_class(reference: Sequence[Event], estimate: Sequence[Event], window: float = 0.05,
                                 classes: Sequence[str] = CLASSES) -> dict[str, np.ndarray]:
    """{class: emission time minus reference onset of each of its true positives (seconds)}:
    how long after a hit its note leaves the engine. Estimates need `emitted` times (the
    streaming engine's events have them)."""
    out = {}
    for c in classes:
        ref = [e.time for e in reference if e.drum == c]
        est = [e for e in estimate if e.drum == c]
        if any(e.emitted is None for e in est):
            raise ValueError("detection latencies need emitted times (streaming mode)")
        out[c] = np.asarray([est[j].emitted - ref[i] for i, j in matched_indices(ref, [e.time for e in est], window)],
                            dtype=np.float64)
    return out


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


def window_label(w: float) -> str:
    return f"{w * 1000:g} ms"


def markdown_table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A markdown table: the header, the first column left-aligned and the others right."""
    lines = [head, ["---"] + ["---:"] * (len(head) - 1), *rows]
    return "\n".join("| " + " | ".join(r) + " |" for r in lines)


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
        object.__setattr__(self, "classes", check_classes(self.classes))
        object.__setattr__(self, "windows", check_windows(self.windows))
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
            head += [f"P {window_label(w)}", f"R {window_label(w)}", f"F1 {window_label(w)}"]
        rows = []
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
        return markdown_table(head, rows) + self._macro_note()

    def _macro_note(self) -> str:
        kept = self.macro_classes()
        if len(kept) == len(self.classes):
            return ""
        if not kept:
            return "\n\nmacro: no class has reference onsets, so macro is micro."
        left = [d for d in self.classes if d not in kept]
        return (f"\n\nmacro: mean over the {len(kept)} classes with reference onsets ({', '.join(kept)}); "
                f"{', '.join(left)} without any left out.")


def grouped_table(groups: dict[str, Scores], window: float, digits: int = 3) -> str:
    """A markdown table of several groups' scores at one window, a row per group: tracks,
    reference onsets, false positives, micro P/R/F1 and each class's F1 ("-" where the group
    has no reference onset of the class, as in music alone, where only false positives count)."""
    if not groups:
        raise ValueError("no groups to tabulate")
    classes = next(iter(groups.values())).classes
    if any(s.classes != classes for s in groups.values()):
        raise ValueError("the groups were scored on different classes")
    fmt = f"{{:.{digits}f}}".format
    head = ["group", "tracks", "ref", "FP", "P", "R", "F1", *classes]
    rows = []
    for name, scores in groups.items():
        m = scores.micro(window)
        per = scores.per_class(window)
        rows.append([name, str(scores.tracks), str(m.num_reference), str(m.fp), fmt(m.precision), fmt(m.recall),
                     fmt(m.f1), *(fmt(per[c].f1) if per[c].num_reference else "-" for c in classes)])
    return markdown_table(head, rows)


def onsets_by_class(events: Any, classes: tuple[str, ...], name: str) -> dict[str, np.ndarray]:
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
    classes = check_classes(classes)
    windows = check_windows(windows)
    ref = onsets_by_class(reference, classes, "reference")
    est = onsets_by_class(estimate, classes, "estimate")
    counts = tuple(tuple(Counts(*onset_counts(ref[c], est[c], w)) for c in classes) for w in windows)
    return Scores(classes, windows, counts, tracks=1)


def false_positive_causes(reference: Any, estimate: Any, window: float = 0.05,
                          classes: Sequence[str] = CLASSES) -> dict[str, dict[str, int]]:
    """What was played where each false positive fired: {detected class: {cause: count}}.

    The false positives are score_events' (the estimates the maximum matching leaves
    unmatched). cause: "double" when a reference onset of the detected class lies within
    ±window (the matching gave it to another detection: one hit answered twice); else the
    class of the nearest reference onset of another class within ±window (a confusion, or a
    hit that sounds like two classes); else "nothing". The counts of a class add up to its
    false positives. reference, estimate: as score_events.
    """
    classes = check_classes(classes)
    w = check_window(window)
    ref = onsets_by_class(reference, classes, "reference")
    est = onsets_by_class(estimate, classes, "estimate")
    others = {c: np.concatenate([ref[d] for d in classes if d != c]) for c in classes}
    labels = {c: np.concatenate([np.full(len(ref[d]), d, dtype=object) for d in classes if d != c]) for c in classes}
    out = {c: {} for c in classes}
    for c in classes:
        matched = {j for _, j in _sweep(ref[c], est[c], w)}
        for j, t in enumerate(est[c].tolist()):
            if j in matched:
                continue
            near = (ref[c] >= t - w) & (ref[c] <= t + w)  # the matching's comparisons
            if near.any():
                cause = "double"
            else:
                o = others[c]
                close = np.flatnonzero((o >= t - w) & (o <= t + w))
                cause = str(labels[c][close[np.argmin(np.abs(o[close] - t))]]) if len(close) else "nothing"
            out[c][cause] = out[c].get(cause, 0) + 1
    return out


def add_causes(total: dict[str, dict[str, int]], more: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """The sum of two false_positive_causes results (a new dict)."""
    out = {c: dict(v) for c, v in total.items()}
    for c, causes in more.items():
        out.setdefault(c, {})  # every class a row, in the classes' order, errors or none
        for cause, n in causes.items():
            out[c][cause] = out[c].get(cause, 0) + n
    return out


def causes_table(causes: dict[str, dict[str, int]]) -> str:
    """A markdown table of false_positive_causes: a row per detected class, a column per
    cause (double, each reference class, nothing) and the row's total."""
    classes = list(causes)
    cols = ["double", *classes, "nothing"]
    return markdown_table(["detected", *cols, "total"],
                     ([c, *("-" if k == c else str(causes[c].get(k, 0)) for k in cols), str(sum(causes[c].values()))]
                      for c in classes))


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


# --------------------------------------------------------------------------- thresholds


#: The thresholds tuned over, per class, by training (its validation selection) and by
#: evaluation (bundles' thresholds): 0.05, 0.10, ..., 0.95, rounded so that they print as such.
THRESHOLD_GRID: np.ndarray = np.round(np.linspace(0.05, 0.95, 19), 2)

def check_grid(grid: Any) -> np.ndarray:
    g = np.asarray(grid, dtype=np.float64)
    if g.ndim != 1 or g.size == 0:
        raise ValueError(f"grid must be a non-empty 1-D sequence of thresholds, got shape {g.shape}")
    if not np.all((g >= 0.0) & (g <= 1.0)):
        raise ValueError(f"grid thresholds must lie in [0, 1], got {g.tolist()}")
    return g


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
    thresholds, chosen = best_thresholds_per_set(np.asarray(counts)[None], grid, classes, fallback)
    return thresholds, chosen[0]


def best_thresholds_per_set(counts: Any, grid: Any, classes: Sequence[str],
                            fallback: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """`best_thresholds` where each set of tracks weighs once, whatever its size: each
    class's threshold maximises the mean of its F1 over the sets that play it (one set:
    `best_thresholds` exactly). Pooled counts let the set with the most onsets decide; this
    lets, say, a real drummer's few toms count as much as many rendered ones.

    counts: [sets, len(grid), classes, 3]. Returns (thresholds float64 [classes], counts int64
    [sets, classes, 3] at those thresholds)."""
    classes = check_classes(classes)
    g = check_grid(grid)
    counts = np.asarray(counts)
    if counts.ndim != 4 or counts.shape[1:] != (len(g), len(classes), 3) or counts.shape[0] == 0:
        raise ValueError(f"counts must be [sets, {len(g)} thresholds, {len(classes)} classes, 3], got {counts.shape}")
    fb = None if fallback is None else np.broadcast_to(np.asarray(fallback, dtype=np.float64), (len(classes),))
    best = np.zeros(len(classes), dtype=np.float64)
    chosen = np.zeros((counts.shape[0], len(classes), 3), dtype=np.int64)
    for c, drum in enumerate(classes):
        playing = [k for k in range(counts.shape[0]) if counts[k, 0, c, 0] + counts[k, 0, c, 2] > 0]  # tp + fn
        if not playing:  # references do not depend on the threshold
            if fb is None:
                raise ValueError(f"class {drum} has no reference onset in the tuning tracks: its threshold "
                                 "cannot be tuned (pass fallback=..., e.g. the bundle's thresholds)")
            best[c] = fb[c]
            chosen[:, c] = counts[:, int(np.argmin(np.abs(g - fb[c]))), c]
            continue
        f1 = np.array([np.mean([prf(*map(int, counts[k, i, c])).f1 for k in playing]) for i in range(len(g))])
        tied = np.flatnonzero(f1 == f1.max())
        best[c] = g[tied[(len(tied) - 1) // 2]]
        chosen[:, c] = counts[:, tied[(len(tied) - 1) // 2], c]
    return best, chosen
