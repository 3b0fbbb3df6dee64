"""Peak picking: from frame-wise drum activations to onset frames.

Two definitions, one vocabulary (`PeakParams`):

* `pick_peaks`: the offline picker of Vogl et al. (ISMIR 2017), after Böck et al.
  (ISMIR 2012). Frame n of a class is an onset iff

  1. ``act[n] == max(act[n-m : n+m+1])``
  2. ``act[n] >= mean(act[n-a : n+a+1]) + delta``
  3. ``act[n] >= threshold`` of the class
  4. ``n - last >= w``, where ``last`` is the previous frame reported as an onset
     of that class (greedy, left to right; the first candidate is always allowed).

  Windows are truncated at both ends of the signal: the maximum and the mean are
  taken over the frames that exist (the mean divides by their number, not by the
  nominal window length, unlike madmom's zero padding).

* `OnlinePeakPicker` / `pick_peaks_online`: the causal counterpart used live. Same
  rules, but both windows hold only the current frame and past frames:
  ``act[n] == max(act[n-m .. n])`` and ``act[n] >= mean(act[n-a .. n]) + delta``
  (truncated at the start of the stream). It never looks at a future frame, so an
  onset at frame n is known as soon as frame n is.

Decisions that the formulas above leave open, fixed here and in the tests:

* Ties: condition 1 is an equality with the window maximum, so every frame of a
  plateau is a candidate; rule 4 then keeps the first frame of the plateau and any
  frame at least ``w`` later (with ``w <= 1`` every plateau frame fires).
* Arithmetic: activations are compared in float64. The mean is computed as a
  left-to-right (oldest to newest) float64 sum starting at 0.0, divided by the number
  of frames, then ``delta`` is added: ``act >= (sum / count) + delta``. Every
  implementation here uses exactly that order, so offline, vectorised online and
  frame-by-frame online agree bit for bit, plateaus included.
* Onset bookkeeping is per class; ``last`` only counts frames that were reported.
* Activations must be finite and in [0, 1]; thresholds in [0, 1]; anything else is a
  ``ValueError`` that says where the bad value is.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields
from typing import Any, Mapping

import numpy as np

__all__ = [
    "PeakParams",
    "pick_peaks",
    "pick_peaks_online",
    "OnlinePeakPicker",
]

# "No onset yet": far enough in the past that n - _NO_ONSET >= w for any n >= 0 and any w,
# small enough that the subtraction cannot overflow int64.
_NO_ONSET = np.iinfo(np.int64).min // 4


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class PeakParams:
    """Peak-picking parameters, in frames (``delta`` in activation units).

    m: half-width of the maximum window (offline: n-m..n+m; online: n-m..n).
    a: half-width of the mean window (offline: n-a..n+a; online: n-a..n).
    w: minimum distance in frames between two onsets of one class.
    delta: how far above the window mean a peak must be.
    """

    m: int = 2
    a: int = 2
    w: int = 2
    delta: float = 0.1

    def __post_init__(self) -> None:
        for name in ("m", "a", "w"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise ValueError(
                    f"PeakParams.{name} must be a non-negative integer, got {value!r}"
                )
            if value < 0:
                raise ValueError(f"PeakParams.{name} must be a non-negative integer, got {value}")
            object.__setattr__(self, name, int(value))
        delta = self.delta
        if isinstance(delta, bool) or not isinstance(delta, numbers.Real):
            raise ValueError(f"PeakParams.delta must be a real number >= 0, got {delta!r}")
        delta = float(delta)
        if not math.isfinite(delta) or delta < 0.0:
            raise ValueError(f"PeakParams.delta must be a finite number >= 0, got {delta!r}")
        object.__setattr__(self, "delta", delta)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict: ``{"m": .., "a": .., "w": .., "delta": ..}``."""
        return {"m": self.m, "a": self.a, "w": self.w, "delta": self.delta}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "PeakParams":
        """Inverse of `to_dict`. Missing keys take their defaults.

        Raises ValueError naming any unknown key or bad value.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"peak parameters must be a mapping, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(k) for k in data if k not in known)
        if unknown:
            raise ValueError(
                f"unknown peak parameter(s): {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
        return cls(**dict(data))


# --------------------------------------------------------------------------- validation


def _check_params(params: PeakParams) -> PeakParams:
    if not isinstance(params, PeakParams):
        raise TypeError(
            f"params must be a PeakParams (use PeakParams.from_dict for a dict), "
            f"got {type(params).__name__}"
        )
    return params


def _check_activations(activations: Any, name: str = "activations") -> tuple[np.ndarray, bool]:
    """Validated float64 [frames, classes] copy of `activations`, and whether it was 1-D."""
    arr = np.asarray(activations)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if arr.ndim not in (1, 2):
        raise ValueError(
            f"{name} must be 1-D [frames] or 2-D [frames, classes], got shape {arr.shape}"
        )
    one_d = arr.ndim == 1
    x = np.array(arr, dtype=np.float64, copy=True)
    if one_d:
        x = x.reshape(-1, 1)
    if x.ndim == 2 and x.shape[1] == 0:
        raise ValueError(f"{name} must have at least one class, got shape {arr.shape}")
    _check_range(x, name)
    return x, one_d


def _check_range(x: np.ndarray, name: str) -> None:
    """Raise if x (2-D [frames, classes]) holds NaN or values outside [0, 1]."""
    if x.size == 0:
        return
    lo = x.min()
    hi = x.max()
    if lo >= 0.0 and hi <= 1.0:  # False for NaN
        return
    nan = np.isnan(x)
    if nan.any():
        f, c = np.argwhere(nan)[0]
        raise ValueError(f"{name} contain NaN (first at frame {f}, class {c})")
    f, c = np.argwhere((x < 0.0) | (x > 1.0))[0]
    raise ValueError(
        f"{name} must lie in [0, 1]; found {float(x[f, c])!r} at frame {f}, class {c}"
    )


def _check_thresholds(thresholds: Any, num_classes: int) -> np.ndarray:
    """Per-class float64 thresholds [num_classes] from a scalar or a sequence."""
    try:
        t = np.array(thresholds, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"thresholds must be a number or a sequence of {num_classes} numbers, "
            f"got {thresholds!r}"
        ) from None
    if t.ndim == 0:
        t = np.full(num_classes, float(t))
    elif t.ndim != 1:
        raise ValueError(
            f"thresholds must be a number or a 1-D sequence, got shape {t.shape}"
        )
    elif t.shape[0] != num_classes:
        raise ValueError(
            f"thresholds has {t.shape[0]} value(s) but there are {num_classes} class(es)"
        )
    bad = np.flatnonzero(~((t >= 0.0) & (t <= 1.0)))  # NaN fails both comparisons
    if bad.size:
        c = int(bad[0])
        what = "NaN" if math.isnan(t[c]) else repr(float(t[c]))
        raise ValueError(f"thresholds must lie in [0, 1]; class {c} has {what}")
    return t


# --------------------------------------------------------------------------- vectorised core


def _window_max(x: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """out[n] = max(x[n+lo .. n+hi]) over the frames that exist (lo <= 0 <= hi)."""
    n = x.shape[0]
    out = x.copy()
    for k in range(lo, hi + 1):
        if k == 0 or abs(k) >= n:
            continue
        if k < 0:
            np.maximum(out[-k:], x[: n + k], out=out[-k:])
        else:
            np.maximum(out[: n - k], x[k:], out=out[: n - k])
    return out


def _window_mean(x: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """out[n] = mean(x[n+lo .. n+hi]) over the frames that exist (lo <= 0 <= hi).

    Summed oldest frame first, starting from 0.0, then divided by the number of
    frames: the same float operations, in the same order, as `OnlinePeakPicker`.
    """
    n = x.shape[0]
    s = np.zeros_like(x)
    for k in range(lo, hi + 1):
        if abs(k) >= n:
            continue
        if k < 0:
            s[-k:] += x[: n + k]
        elif k == 0:
            s += x
        else:
            s[: n - k] += x[k:]
    idx = np.arange(n)
    count = np.minimum(hi, n - 1 - idx) - np.maximum(lo, -idx) + 1
    return s / count[:, None].astype(np.float64)


def _min_distance(candidates: np.ndarray, w: int) -> np.ndarray:
    """Greedy left-to-right: keep a candidate iff it is >= w frames after the last kept one."""
    if w <= 1 or candidates.size < 2:  # distinct frames are always >= 1 apart
        return candidates.astype(np.int64, copy=False)
    keep = []
    last = _NO_ONSET
    for f in candidates.tolist():
        if f - last >= w:
            keep.append(f)
            last = f
    return np.asarray(keep, dtype=np.int64)


def _pick(x: np.ndarray, thr: np.ndarray, params: PeakParams, causal: bool) -> list[np.ndarray]:
    hi_m = 0 if causal else params.m
    hi_a = 0 if causal else params.a
    if x.shape[0] == 0:
        return [np.zeros(0, dtype=np.int64) for _ in range(x.shape[1])]
    mx = _window_max(x, -params.m, hi_m)
    limit = _window_mean(x, -params.a, hi_a) + params.delta
    cand = (x == mx) & (x >= limit) & (x >= thr[None, :])
    return [_min_distance(np.flatnonzero(cand[:, c]), params.w) for c in range(x.shape[1])]


def pick_peaks(
    activations: Any, thresholds: Any, params: PeakParams = PeakParams()
) -> list[np.ndarray]:
    """Offline (non-causal) peak picking, one sorted int64 array of onset frames per class.

    activations: [frames, classes] (or [frames] for one class), finite, in [0, 1].
    thresholds: a number for all classes or one per class, in [0, 1].
    """
    params = _check_params(params)
    x, _ = _check_activations(activations)
    thr = _check_thresholds(thresholds, x.shape[1])
    return _pick(x, thr, params, causal=False)


def pick_peaks_online(
    activations: Any, thresholds: Any, params: PeakParams = PeakParams()
) -> list[np.ndarray]:
    """What `OnlinePeakPicker` reports on a whole array, computed in one vectorised pass.

    Frame for frame identical to feeding the picker (tests check it bit for bit); use it
    to score offline what the live path would do. Returns one sorted int64 array of
    onset frames per class.
    """
    params = _check_params(params)
    x, _ = _check_activations(activations)
    thr = _check_thresholds(thresholds, x.shape[1])
    return _pick(x, thr, params, causal=True)


# --------------------------------------------------------------------------- online picker


class OnlinePeakPicker:
    """Causal peak picker, one frame at a time, for the live path.

    All state lives in arrays allocated once: a ring buffer of the last max(m, a) + 1
    frames per class, scratch arrays for the window max and mean, the last onset frame
    of every class. A frame without onsets allocates no array; a frame with onsets
    allocates only the small array of firing classes it returns.
    """

    def __init__(self, num_classes: int, thresholds: Any, params: PeakParams = PeakParams()):
        if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) \
                or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        self._params = _check_params(params)
        c = int(num_classes)
        self._num_classes = c
        self._len = max(self._params.m, self._params.a) + 1
        self._thr = _check_thresholds(thresholds, c)
        self._hist = np.zeros((self._len, c), dtype=np.float64)
        self._rows = [self._hist[i] for i in range(self._len)]  # views, made once
        self._max = np.empty(c, dtype=np.float64)
        self._limit = np.empty(c, dtype=np.float64)
        self._mask = np.zeros(c, dtype=bool)
        self._tmp = np.zeros(c, dtype=bool)
        self._gap = np.empty(c, dtype=np.int64)
        self._last = np.full(c, _NO_ONSET, dtype=np.int64)
        self._none = np.zeros(0, dtype=np.intp)
        self._none.flags.writeable = False
        self._n = 0

    # -- properties

    @property
    def num_classes(self) -> int:
        return self._num_classes

    @property
    def params(self) -> PeakParams:
        return self._params

    @property
    def thresholds(self) -> np.ndarray:
        """A copy of the per-class thresholds."""
        return self._thr.copy()

    @property
    def frame_index(self) -> int:
        """Number of frames processed since the start (or `reset`): the index the next frame gets."""
        return self._n

    # -- control

    def reset(self) -> None:
        """Forget the stream: history, last onsets and frame index. Thresholds stay."""
        self._hist.fill(0.0)
        self._last.fill(_NO_ONSET)
        self._n = 0

    def set_thresholds(self, thresholds: Any) -> None:
        """New thresholds (a number or one per class), effective from the next frame."""
        self._thr[:] = _check_thresholds(thresholds, self._num_classes)

    # -- processing

    def _step(self, act: np.ndarray) -> np.ndarray:
        """Advance by one validated frame [C]; return the internal mask of firing classes."""
        p = self._params
        rows = self._rows
        length = self._len
        n = self._n
        cur = rows[n % length]
        cur[:] = act
        # 1. maximum of the last m frames and this one
        mx = self._max
        mx[:] = cur
        for k in range(1, min(n, p.m) + 1):
            np.maximum(mx, rows[(n - k) % length], out=mx)
        mask = self._mask
        np.equal(cur, mx, out=mask)
        # 2. mean of the last a frames and this one, summed oldest first from 0.0
        lim = self._limit
        lim.fill(0.0)
        na = min(n, p.a)
        for j in range(n - na, n + 1):
            np.add(lim, rows[j % length], out=lim)
        np.divide(lim, float(na + 1), out=lim)
        np.add(lim, p.delta, out=lim)
        tmp = self._tmp
        np.greater_equal(cur, lim, out=tmp)
        np.logical_and(mask, tmp, out=mask)
        # 3. class threshold
        np.greater_equal(cur, self._thr, out=tmp)
        np.logical_and(mask, tmp, out=mask)
        # 4. at least w frames after the last onset of the class
        if p.w > 1:
            np.subtract(n, self._last, out=self._gap)
            np.greater_equal(self._gap, p.w, out=tmp)
            np.logical_and(mask, tmp, out=mask)
        np.copyto(self._last, n, where=mask)
        self._n = n + 1
        return mask

    def _frame(self, act: Any) -> np.ndarray:
        a = np.asarray(act)
        if a.dtype.kind not in "biuf":
            raise ValueError(f"activation frame must be real numeric, got dtype {a.dtype}")
        if a.shape != (self._num_classes,):
            if self._num_classes == 1 and a.ndim == 0:
                a = a.reshape(1)
            else:
                raise ValueError(
                    f"activation frame must have shape ({self._num_classes},), got {a.shape}"
                )
        lo = a.min()
        hi = a.max()
        if not (lo >= 0 and hi <= 1):  # catches NaN too
            c = int(np.flatnonzero(~((a >= 0) & (a <= 1)))[0])
            raise ValueError(
                f"activations must be finite and lie in [0, 1]; "
                f"found {a[c].item()!r} at frame {self._n}, class {c}"
            )
        return a

    def process_frame(self, act: Any) -> np.ndarray:
        """Feed one frame [num_classes]; return the indices of the classes that fire at it.

        The returned array is sorted; when nothing fires it is a shared read-only empty array.
        """
        mask = self._step(self._frame(act))
        if not mask.any():
            return self._none
        return np.flatnonzero(mask)

    def process(self, acts: Any) -> list[tuple[int, int, float]]:
        """Feed a block of frames [k, num_classes] ([k] allowed for one class).

        Returns the onsets as (frame index since the start, class, activation), in frame
        order, then class order. Splitting a stream into blocks changes nothing.
        """
        a = np.asarray(acts)
        if a.ndim == 1 and self._num_classes == 1:
            a = a.reshape(-1, 1)
        if a.ndim != 2 or a.shape[1] != self._num_classes:
            raise ValueError(
                f"activation block must have shape (frames, {self._num_classes}), got {a.shape}"
            )
        x, _ = _check_activations(a, name=f"activations (block from frame {self._n})")
        events: list[tuple[int, int, float]] = []
        for row in x:
            n = self._n
            mask = self._step(row)
            if mask.any():
                for c in np.flatnonzero(mask).tolist():
                    events.append((n, c, float(row[c])))
        return events

    def __repr__(self) -> str:
        return (
            f"OnlinePeakPicker(num_classes={self._num_classes}, "
            f"thresholds={self._thr.tolist()}, params={self._params}, frame_index={self._n})"
        )
