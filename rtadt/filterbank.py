"""Logarithmic triangular filterbank: magnitude spectrum bins -> log-spaced bands.

The algorithm is the one of the ADT literature (madmom's ``LogarithmicFilterbank``),
written here from its description so the runtime does not depend on madmom:

1. centre frequencies ``fref * 2**(k / bands_per_octave)`` for every integer k whose
   frequency lies in ``[fmin, fmax]`` (k runs over ``floor(..)`` .. ``ceil(..) - 1`` of the
   log-range, so a frequency exactly at ``fmax`` on the grid is not included);
2. each frequency is mapped to its nearest FFT bin (a tie goes to the higher bin);
   with ``unique`` the duplicate bins that low frequencies produce are merged;
3. every three consecutive bins ``(start, centre, stop)`` make one triangular filter
   that rises from 0 at ``start`` to 1 at ``centre`` and falls towards 0 at ``stop``
   (``stop`` itself gets weight 0); filters narrower than two bins become a single
   bin of weight 1; neighbouring filters overlap;
4. with ``norm`` each filter is scaled to sum to 1.

So the first and last frequency only serve as edges: n frequencies give n - 2 bands.
With the project defaults (44.1 kHz, frame 2048, 12 bands per octave, 20 Hz..20 kHz,
unique, normalised) that is 84 bands.

The streaming kernel uses the sparse form of the same matrix (:func:`sparse_layout`):
per band the first bin with a non-zero weight and its run of weights.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .features import FeatureConfig

__all__ = [
    "log_frequencies",
    "fft_bin_frequencies",
    "frequencies_to_bins",
    "triangular_band_bins",
    "triangular_filterbank",
    "log_filterbank_bins",
    "log_filterbank",
    "sparse_layout",
]


def log_frequencies(bands_per_octave: int, fmin: float, fmax: float, fref: float = 440.0) -> np.ndarray:
    """Frequencies ``fref * 2**(k / bands_per_octave)`` (integer k) that lie in ``[fmin, fmax]``.

    With 12 bands per octave and fref = 440 Hz these are the MIDI note frequencies.
    """
    if bands_per_octave <= 0 or fmin <= 0 or fmax <= 0 or fref <= 0:
        raise ValueError("log_frequencies needs positive bands_per_octave, fmin, fmax and fref")
    lo = np.floor(np.log2(float(fmin) / fref) * bands_per_octave)
    hi = np.ceil(np.log2(float(fmax) / fref) * bands_per_octave)
    steps = np.arange(lo, hi)
    freqs = fref * 2.0 ** (steps / float(bands_per_octave))
    # floor/ceil widen the range by up to one step on each side: cut back to [fmin, fmax]
    return freqs[(freqs >= fmin) & (freqs <= fmax)]


def fft_bin_frequencies(frame_size: int, sample_rate: float) -> np.ndarray:
    """Centre frequencies [Hz] of the ``frame_size // 2`` magnitude bins we keep.

    Bin k is ``k * sample_rate / frame_size``; the Nyquist bin is dropped (as madmom does).
    """
    return np.arange(frame_size // 2, dtype=np.float64) * (float(sample_rate) / frame_size)


def frequencies_to_bins(frequencies: np.ndarray, bin_frequencies: np.ndarray, unique: bool = False) -> np.ndarray:
    """Index of the nearest bin for each frequency (ties go to the higher bin).

    Frequencies outside the bin range map to the first or last bin. With ``unique`` the
    result is sorted and de-duplicated.
    """
    frequencies = np.asarray(frequencies, dtype=np.float64)
    bin_frequencies = np.asarray(bin_frequencies, dtype=np.float64)
    if len(bin_frequencies) < 2:
        raise ValueError("need at least two FFT bins to map frequencies to bins")
    # index of the first bin at or above each frequency, kept inside [1, n-1] so that
    # both neighbours (upper = idx, lower = idx - 1) exist
    upper = np.clip(np.searchsorted(bin_frequencies, frequencies), 1, len(bin_frequencies) - 1)
    lower = upper - 1
    take_lower = (frequencies - bin_frequencies[lower]) < (bin_frequencies[upper] - frequencies)
    bins = np.where(take_lower, lower, upper).astype(np.int64)
    if unique:
        bins = np.unique(bins)
    return bins


def triangular_band_bins(bins: np.ndarray) -> list[tuple[int, int, int]]:
    """``(start, centre, stop)`` per band from consecutive triples of bins (overlapping filters).

    A filter spanning fewer than two bins degenerates to the single bin ``start``
    (``centre = start``, ``stop = start + 1``). Raises ValueError for a triple that cannot
    make a filter (centre not in ``[start, stop)``), which only non-unique bins can produce.
    """
    bins = [int(b) for b in np.asarray(bins)]
    if len(bins) < 3:
        raise ValueError(f"need at least 3 distinct filter bins to make a triangular filter, got {len(bins)}")
    out = []
    for start, centre, stop in zip(bins[:-2], bins[1:-1], bins[2:]):
        if stop - start < 2:
            centre, stop = start, start + 1
        if not start <= centre < stop:
            raise ValueError(
                f"triangular filter with bins (start={start}, centre={centre}, stop={stop}) is degenerate; "
                "use unique_filters=True or a lower fmax")
        out.append((start, centre, stop))
    return out


def triangular_filterbank(bins: np.ndarray, num_bins: int, norm: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping triangular filters on the given bins.

    Returns ``(weights [num_bins, num_bands] float64, centre_bins [num_bands] int64)``.
    """
    triples = triangular_band_bins(bins)
    weights = np.zeros((int(num_bins), len(triples)), dtype=np.float64)
    centres = np.empty(len(triples), dtype=np.int64)
    for band, (start, centre, stop) in enumerate(triples):
        rise = centre - start
        fall = stop - centre
        shape = np.empty(stop - start, dtype=np.float64)
        # rising edge: 0 at start, up to (but not including) 1 at the centre
        shape[:rise] = np.arange(rise, dtype=np.float64) / max(rise, 1)
        # falling edge: 1 at the centre, down to (but not including) 0 at stop
        shape[rise:] = 1.0 - np.arange(fall, dtype=np.float64) / fall
        if norm:
            shape /= shape.sum()
        # keep the part that falls inside the spectrum
        lo, hi = max(start, 0), min(stop, num_bins)
        if hi > lo:
            weights[lo:hi, band] = shape[lo - start:hi - start]
        centres[band] = centre
    return weights, centres


def log_filterbank_bins(cfg: "FeatureConfig") -> np.ndarray:
    """The FFT bins the filters of ``cfg`` are built on (edges and centres)."""
    freqs = log_frequencies(cfg.bands_per_octave, cfg.fmin, cfg.fmax, cfg.fref)
    bin_freqs = fft_bin_frequencies(cfg.frame_size, cfg.sample_rate)
    return frequencies_to_bins(freqs, bin_freqs, unique=cfg.unique_filters)


def log_filterbank(cfg: "FeatureConfig") -> tuple[np.ndarray, np.ndarray]:
    """The logarithmic filterbank of a FeatureConfig.

    Returns ``(weights [frame_size // 2, num_bands] float64, centre_frequencies [num_bands] Hz)``;
    the centre frequency of a band is the frequency of its peak bin.
    """
    bin_freqs = fft_bin_frequencies(cfg.frame_size, cfg.sample_rate)
    weights, centres = triangular_filterbank(log_filterbank_bins(cfg), len(bin_freqs), norm=cfg.norm_filters)
    return weights, bin_freqs[centres]


def sparse_layout(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse per-band form of a filterbank matrix, for the streaming kernel.

    Returns ``(starts [num_bands] int64, offsets [num_bands + 1] int64, values float64)``:
    band b applies ``values[offsets[b]:offsets[b+1]]`` to the bins ``starts[b], starts[b]+1, ...``.
    Each run goes from the band's first to its last non-zero weight (zeros inside a run are kept).
    """
    weights = np.asarray(weights, dtype=np.float64)
    num_bands = weights.shape[1]
    starts = np.zeros(num_bands, dtype=np.int64)
    offsets = np.zeros(num_bands + 1, dtype=np.int64)
    runs = []
    for band in range(num_bands):
        nz = np.flatnonzero(weights[:, band])
        if len(nz) == 0:
            lo, hi = 0, 0
        else:
            lo, hi = int(nz[0]), int(nz[-1]) + 1
        starts[band] = lo
        runs.append(weights[lo:hi, band])
        offsets[band + 1] = offsets[band] + (hi - lo)
    values = np.concatenate(runs) if runs else np.zeros(0, dtype=np.float64)
    return starts, offsets, np.ascontiguousarray(values, dtype=np.float64)
