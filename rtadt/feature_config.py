"""FeatureConfig: every parameter of the features, validated; written into every model bundle.

Its own module so that the filterbank and the feature kernels (rtadt.filterbank,
rtadt.features) both depend on it and not on each other.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from . import filterbank as _fb
from .framing import frame_time

__all__ = ["FeatureConfig", "WINDOWS", "LEVEL_FIELDS"]

#: Window names and their (symmetric) window functions.
WINDOWS = {
    "hann": np.hanning,
    "hamming": np.hamming,
    "blackman": np.blackman,
}

_INT_FIELDS = ("sample_rate", "frame_size", "hop_size", "bands_per_octave")
#: The fields of the causal level normalisation: they rescale the input, its layout stays.
LEVEL_FIELDS = ("level_norm", "level_release_s", "level_floor", "level_target")
_FLOAT_FIELDS = ("fmin", "fmax", "fref", "log_mul", "log_add", "level_release_s", "level_floor", "level_target")
_BOOL_FIELDS = ("norm_filters", "unique_filters", "positive_diff", "level_norm")


@dataclass(frozen=True)
class FeatureConfig:
    """Every parameter of the features; written into every model bundle.

    Invalid values raise ValueError at construction (one line saying what is wrong).
    """

    sample_rate: int = 44100
    frame_size: int = 2048
    hop_size: int = 441          # 100 frames/s
    window: str = "hann"         # np.hanning(frame_size): symmetric Hann, as madmom uses
    bands_per_octave: int = 12
    fmin: float = 20.0
    fmax: float = 20000.0
    fref: float = 440.0
    norm_filters: bool = True    # each triangular filter sums to 1
    unique_filters: bool = True  # duplicate FFT bins merged (madmom's unique_filters)
    log_mul: float = 1.0
    log_add: float = 1.0         # features = log10(log_mul * x + log_add)
    positive_diff: bool = False  # append the half-wave rectified difference to the previous frame
    level_norm: bool = False     # causal level normalisation before the log (module docstring)
    level_release_s: float = 4.0  # ... time constant of the level's fall
    level_floor: float = 0.01    # ... the level never falls below this (band magnitude units)
    level_target: float = 10.0   # ... the level is scaled to this

    def __post_init__(self) -> None:
        # types first (coercing ints to float where a float is expected, numpy scalars to Python)
        for name in _INT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise ValueError(f"FeatureConfig.{name} must be an integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        for name in _FLOAT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ValueError(f"FeatureConfig.{name} must be a number, got {value!r}")
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(f"FeatureConfig.{name} must be finite, got {value!r}")
            object.__setattr__(self, name, value)
        for name in _BOOL_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"FeatureConfig.{name} must be true or false, got {value!r}")
            object.__setattr__(self, name, bool(value))
        if not isinstance(self.window, str):
            raise ValueError(f"FeatureConfig.window must be a string, got {self.window!r}")
        # values
        if self.window not in WINDOWS:
            raise ValueError(f"FeatureConfig.window {self.window!r} is unknown; choose one of {sorted(WINDOWS)}")
        for name in ("sample_rate", "frame_size", "hop_size", "bands_per_octave"):
            if getattr(self, name) <= 0:
                raise ValueError(f"FeatureConfig.{name} must be positive, got {getattr(self, name)}")
        if self.frame_size < 4:
            raise ValueError(f"FeatureConfig.frame_size must be at least 4, got {self.frame_size}")
        if self.hop_size > self.frame_size:
            raise ValueError(
                f"FeatureConfig.hop_size ({self.hop_size}) must not exceed frame_size ({self.frame_size}): "
                "samples between frames would be skipped")
        for name in ("fmin", "fmax", "fref", "log_mul", "log_add", "level_release_s", "level_floor", "level_target"):
            if getattr(self, name) <= 0:
                raise ValueError(f"FeatureConfig.{name} must be positive, got {getattr(self, name)}")
        if self.fmin >= self.fmax:
            raise ValueError(f"FeatureConfig.fmin ({self.fmin}) must be below fmax ({self.fmax})")
        nyquist = self.sample_rate / 2.0
        if self.fmax > nyquist:
            raise ValueError(
                f"FeatureConfig.fmax ({self.fmax} Hz) is above the Nyquist frequency ({nyquist} Hz) "
                f"of sample_rate {self.sample_rate}")
        # the filterbank must exist: at least 3 bins (one band) and well-formed filters
        try:
            bins = _fb.log_filterbank_bins(self)
            _fb.triangular_band_bins(bins)
        except ValueError as err:
            raise ValueError(f"FeatureConfig gives no usable filterbank: {err}") from None

    # derived quantities ---------------------------------------------------------------
    @property
    def fps(self) -> float:
        """Frames per second (``sample_rate / hop_size``)."""
        return self.sample_rate / self.hop_size

    @property
    def num_bins(self) -> int:
        """Magnitude bins per frame (``frame_size // 2``; Nyquist dropped)."""
        return self.frame_size // 2

    @property
    def num_bands(self) -> int:
        """Filterbank bands."""
        return _num_bands(self)

    @property
    def num_features(self) -> int:
        """Values per frame: num_bands, doubled with positive_diff."""
        return self.num_bands * (2 if self.positive_diff else 1)

    def frame_time(self, n):
        """Time stamp [s] of frame n (:func:`rtadt.framing.frame_time`)."""
        return frame_time(n, self)

    # serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of all fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "FeatureConfig":
        """Inverse of :meth:`to_dict`. Missing keys take their defaults; unknown keys,
        wrong types and impossible values raise ValueError."""
        if not isinstance(d, Mapping):
            raise ValueError(f"FeatureConfig.from_dict expects a mapping, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(str(k) for k in d if k not in known)
        if unknown:
            raise ValueError(f"FeatureConfig has no field(s) {', '.join(unknown)}; known fields: {', '.join(sorted(known))}")
        return cls(**dict(d))


@functools.lru_cache(maxsize=64)
def _num_bands(cfg: FeatureConfig) -> int:
    return len(_fb.triangular_band_bins(_fb.log_filterbank_bins(cfg)))
