"""Framing and timing: the project's one convention, in one place.

Frame n (n = 0, 1, ...) covers the ``frame_size`` samples ``[(n + 1) * hop - frame_size,
(n + 1) * hop - 1]`` (zeros before the signal): it ends with the last sample of hop n and is
stamped with the instant that sample ends, ``frame_time(n) = (n + 1) * hop / sample_rate``,
so a hop-aligned audio block completes a frame. A signal of N samples has ``N // hop``
frames.

A model declares a lookahead: the seconds after an onset it needs before it may report it.
Training labels an onset at t on the first frame stamped at or after ``t + lookahead``
(`onset_frames`); a frame n that reports an onset says it happened at
``frame_time(n) - (lookahead + hop / 2 + delay)`` (`reported_onsets`; half a hop because the
onset lies, on average, half a hop before the stamp of its labelled frame beyond the
lookahead; delay is the input resampler's). The engine, the segment labels and the
evaluation all go through these functions. The velocity of a reported hit is rtadt.velocity's.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .feature_config import FeatureConfig

__all__ = ["frame_time", "frame_times", "num_frames", "frames_in", "check_lookahead", "onset_frames", "onset_offset",
           "reported_onsets"]


def frame_time(n: Any, cfg: "FeatureConfig"):
    """Time stamp [s] of frame n (a number or an integer array): the instant its last sample
    ends, ``(n + 1) * hop / sample_rate``. Frame n is complete exactly then."""
    return (n + 1) * cfg.hop_size / cfg.sample_rate


def frame_times(n_frames: int, cfg: "FeatureConfig") -> np.ndarray:
    """Time stamps [s] of frames ``0 .. n_frames - 1`` (float64)."""
    return frame_time(np.arange(int(n_frames), dtype=np.int64), cfg)


def num_frames(num_samples: int, cfg: "FeatureConfig") -> int:
    """Frames of a signal of ``num_samples``: ``N // hop`` (only complete hops make a frame)."""
    num_samples = int(num_samples)
    if num_samples < 0:
        raise ValueError(f"num_samples must be >= 0, got {num_samples}")
    return num_samples // cfg.hop_size


def frames_in(seconds: float, cfg: "FeatureConfig") -> int:
    """Frames spanning ``seconds`` at the features' frame rate, rounded, at least one (a 4 s
    segment or context: 400 frames at hop 441, 802 at hop 220)."""
    return max(1, round(seconds * cfg.fps))


def check_lookahead(lookahead_s) -> float:
    """A lookahead as float seconds; ValueError unless finite and >= 0."""
    lookahead_s = float(lookahead_s)
    if not math.isfinite(lookahead_s) or lookahead_s < 0:
        raise ValueError(f"lookahead must be a finite number of seconds >= 0, got {lookahead_s}")
    return lookahead_s


def onset_frames(onsets_s: Any, cfg: "FeatureConfig", lookahead_s: float = 0.0) -> np.ndarray:
    """Frame that labels each onset: the first n with ``frame_time(n) >= t + lookahead`` (int64).

    Onsets before the audio starts (t < 0) have no frame and are dropped; the result is not
    clipped at the end.
    """
    t = np.asarray(onsets_s, dtype=np.float64).ravel()
    if np.isnan(t).any():
        raise ValueError("onset times must not be NaN")
    due = t[t >= 0] + check_lookahead(lookahead_s)
    n = np.maximum(np.ceil(due * cfg.sample_rate / cfg.hop_size).astype(np.int64) - 1, 0)
    # The product above is rounded, so ceil may land one frame off where t + lookahead falls
    # on a frame stamp; settle each onset against frame_time itself, the one definition.
    n += frame_time(n, cfg) < due
    n -= (n > 0) & (frame_time(n - 1, cfg) >= due)
    return n


def onset_offset(cfg: "FeatureConfig", lookahead_s: float, delay_s: float = 0.0) -> float:
    """Seconds between a reporting frame's stamp and the onset it reports:
    ``lookahead + hop / 2 + delay``."""
    return float(lookahead_s) + cfg.hop_size / cfg.sample_rate / 2 + float(delay_s)


def reported_onsets(frames: Any, cfg: "FeatureConfig", offset_s: float) -> np.ndarray:
    """Onset times [s] that frames report: ``max(frame_time(n) - offset_s, 0)`` (float64),
    offset_s from `onset_offset`. The engine computes the same, one frame at a time."""
    n = np.asarray(frames)
    if n.ndim != 1 or (n.size and n.dtype.kind not in "iu"):
        raise ValueError(f"frames must be a 1-D array of frame indices, got {n!r}")
    return np.maximum(frame_time(n.astype(np.int64), cfg) - offset_s, 0.0)
