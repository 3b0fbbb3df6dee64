"""MIDI velocity of a detected hit: one rule, used by the engine and by offline scoring.

A model's activation says how sure it is that a drum was hit, not how hard; the spectrum at
the frame the hit is reported in says how loud it sounded. The rule combines both, per class::

    velocity = clip(rint(127 * (intercept + activation_weight * activation
                                + loudness_weight * loudness + rise_weight * rise)), 1, 127)

where ``loudness`` is the mean of the frame's features over the bands whose centre lies in
the class's frequency range (``CLASS_BANDS_HZ``), and ``rise`` that loudness minus the
previous frame's (0 before the first frame). The rise follows how hard a hit was where the
reporting frame's loudness still holds mostly what sounded before it (cymbals at a 5 ms hop:
offline/results/default-model/velocity-timing). The weights are fitted on validation hits
(``rtadt-train tune``, offline.velocity) and carried in the bundle manifest under
``"velocity"`` (three numbers per class where the rise weighs nothing: bundles made before
it). Without them the rule is ``activation * 127`` (intercept 0, activation weight 1, the
other weights 0), what every earlier bundle played.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from .features import FeatureConfig, band_centre_frequencies

__all__ = ["CLASS_BANDS_HZ", "VelocityRule", "loudness_matrix", "loudness_rise"]

#: Where each class's energy lies (Hz): kick fundamentals, snare body and wires, tom
#: fundamentals, hi-hat and cymbal shimmer.
CLASS_BANDS_HZ: dict[str, tuple[float, float]] = {
    "KD": (30.0, 150.0),
    "SD": (150.0, 5000.0),
    "TT": (70.0, 600.0),
    "HH": (5000.0, 20000.0),
    "CY": (3000.0, 20000.0),
}


def loudness_matrix(cfg: FeatureConfig, classes: Sequence[str]) -> np.ndarray:
    """float32 ``[cfg.num_features, len(classes)]``: ``frame @ M`` is each class's loudness,
    the mean of the frame's (first ``num_bands``) features over the class's bands."""
    centres = band_centre_frequencies(cfg)
    m = np.zeros((cfg.num_features, len(classes)), dtype=np.float32)
    for c, name in enumerate(classes):
        lo, hi = CLASS_BANDS_HZ[name]
        inside = np.flatnonzero((centres >= lo) & (centres <= hi))
        if inside.size == 0:  # a coarse filterbank: the band nearest the range's centre
            inside = np.array([int(np.argmin(np.abs(np.log(centres) - np.log(np.sqrt(lo * hi)))))])
        m[inside, c] = 1.0 / inside.size
    return m


def loudness_rise(loudness: Any) -> np.ndarray:
    """float64 ``[frames, classes]``: each frame's loudness minus the previous frame's (0 before
    the first frame). The engine takes the same difference from its ring of recent frames."""
    loud = np.asarray(loudness, dtype=np.float64)
    return loud - np.vstack([np.zeros((1, loud.shape[1])), loud[:-1]])


@dataclass(frozen=True)
class VelocityRule:
    """Per-class weights of the velocity rule (module docstring); arrays ``[classes]``."""

    intercept: np.ndarray
    activation_weight: np.ndarray
    loudness_weight: np.ndarray
    rise_weight: np.ndarray | None = None  # None: zeros

    def __post_init__(self):
        if self.rise_weight is None:
            object.__setattr__(self, "rise_weight", np.zeros(len(self.intercept)))

    @classmethod
    def activation_only(cls, num_classes: int) -> "VelocityRule":
        """``activation * 127``: the rule of a bundle without fitted weights."""
        return cls(np.zeros(num_classes), np.ones(num_classes), np.zeros(num_classes))

    @property
    def reads_the_spectrum(self) -> bool:
        """Whether the rule needs the frames' loudness (and rise), not the activation alone."""
        return bool(np.any(self.loudness_weight) or np.any(self.rise_weight))

    def velocities(self, classes: Any, activations: Any, loudness: Any, rise: Any = 0.0) -> np.ndarray:
        """int64 velocities (1..127) of hits of class indices `classes` with their
        activations, loudness and rise (same-length 1-D arrays)."""
        c = np.asarray(classes, dtype=np.int64)
        v = (self.intercept[c] + self.activation_weight[c] * np.asarray(activations, dtype=np.float64)
             + self.loudness_weight[c] * np.asarray(loudness, dtype=np.float64)
             + self.rise_weight[c] * np.asarray(rise, dtype=np.float64))
        return np.clip(np.rint(127.0 * v), 1, 127).astype(np.int64)

    def velocity(self, c: int, activation: float, loudness: float, rise: float = 0.0) -> int:
        """One hit's velocity (the engine's per-event call; the same arithmetic)."""
        v = (self.intercept[c] + self.activation_weight[c] * float(activation)
             + self.loudness_weight[c] * float(loudness) + self.rise_weight[c] * float(rise))
        return int(min(max(round(127.0 * v), 1), 127))  # round() halves to even, as np.rint

    def to_manifest(self, classes: Sequence[str]) -> dict[str, list[float]]:
        """``{class: [intercept, activation_weight, loudness_weight(, rise_weight)]}``: the rise
        weight only where some class weighs it, so a rule without it reads as before."""
        rise = bool(np.any(self.rise_weight))
        return {name: [float(self.intercept[c]), float(self.activation_weight[c]), float(self.loudness_weight[c])]
                + ([float(self.rise_weight[c])] if rise else []) for c, name in enumerate(classes)}

    @classmethod
    def from_manifest(cls, entry: Mapping[str, Any] | None, classes: Sequence[str]) -> "VelocityRule":
        """Inverse of to_manifest; None gives activation_only. ValueError on a bad entry."""
        if entry is None:
            return cls.activation_only(len(classes))
        if not isinstance(entry, Mapping) or set(entry) != set(classes):
            raise ValueError(f"velocity must map each class ({', '.join(classes)}) to three or four numbers")
        rows = []
        for name in classes:
            row = entry[name]
            if (not isinstance(row, list) or len(row) not in (3, 4)
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in row)):
                raise ValueError(f"velocity[{name!r}] must be [intercept, activation_weight, loudness_weight"
                                 f"(, rise_weight)]")
            rows.append(row + [0.0] * (4 - len(row)))
        a = np.asarray(rows, dtype=np.float64)
        return cls(a[:, 0].copy(), a[:, 1].copy(), a[:, 2].copy(), a[:, 3].copy())
