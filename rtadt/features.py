"""The one feature definition: log-magnitude spectrogram through a logarithmic filterbank.

Two implementations, one answer (they agree to about 1e-5, for any signal and any block sizes):

* :func:`log_filtered_spectrogram`: batch reference in plain numpy (whole signal at once),
  used by training;
* :class:`StreamingFeatures`: incremental numba kernel over a circular buffer, one frame per
  completed hop, no allocation per frame, used live.

Framing (rtadt.framing, the project's only convention): frame n ends with the last sample of
hop n and is stamped ``(n + 1) * hop / sample_rate``; a stream that has received T samples has
produced exactly the ``T // hop`` frames with ``(n + 1) * hop <= T``.

Per frame: window (symmetric, ``np.hanning``), real FFT, magnitude of the first
``frame_size // 2`` bins (the Nyquist bin is dropped, as in madmom), filterbank
(:mod:`rtadt.filterbank`), optionally the causal level normalisation below,
``log10(log_mul * x + log_add)``; with ``positive_diff`` the half-wave rectified difference to
the previous frame is appended (previous of frame 0 = 0).

Causal level normalisation (``level_norm``): live input arrives at any gain, and the log's
``+ log_add`` makes quiet input look different in kind, not only in level (a -60 dBFS
recording lives where the log is linear). So each frame's filtered magnitudes ``x_n`` are
multiplied by ``level_target / L_n`` before the log, where ``L_n`` follows the recent peak of
the frame energy ``e_n = mean(x_n)`` (mean over bands)::

    L_n = max(level_floor, e_n, r * L_(n-1)),   r = exp(-hop / (sample_rate * level_release_s)),
    L_(-1) = level_floor

It rises at once (a loud onset is normalised by itself, nothing is clipped) and falls with
time constant ``level_release_s``. It uses frames ``<= n`` only, so the streaming kernel
computes the same frames. Playing the input ``a`` times louder multiplies every ``e_n`` and
``L_n`` by ``a`` and leaves the features unchanged, exactly, as long as ``L_n`` stays above
``level_floor`` (the floor keeps silence and hiss from being lifted to full level).

Other sample rates: :func:`features_for_audio` and ``StreamingFeatures(cfg, input_rate=...)``
resample to ``cfg.sample_rate`` first (:mod:`rtadt.resample`, causal filter, delay
``resampler_delay_s``), and agree with each other as well.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from numba import njit
from rocket_fft import r2c

from . import filterbank as _fb
from .feature_config import WINDOWS, FeatureConfig
from .framing import frame_times, num_frames
from .resample import StreamingResampler, resample

__all__ = [
    "FeatureConfig",
    "WINDOWS",
    "num_frames",
    "frame_times",
    "log_filtered_spectrogram",
    "features_for_audio",
    "StreamingFeatures",
    "band_centre_frequencies",
    "filterbank_weights",
]

# ---------------------------------------------------------------------------------------
# precomputed per-config data (window, filterbank, sparse layout)


@dataclass(frozen=True)
class _Plan:
    window: np.ndarray          # [frame_size] float64
    weights: np.ndarray         # [num_bins, num_bands] float64
    centres: np.ndarray         # [num_bands] Hz
    starts: np.ndarray          # sparse layout for the kernel
    offsets: np.ndarray
    values: np.ndarray
    max_bin: int                # bins >= max_bin are never used
    num_bands: int


@functools.lru_cache(maxsize=32)
def _plan(cfg: FeatureConfig) -> _Plan:
    window = np.ascontiguousarray(WINDOWS[cfg.window](cfg.frame_size), dtype=np.float64)
    weights, centres = _fb.log_filterbank(cfg)
    starts, offsets, values = _fb.sparse_layout(weights)
    lengths = np.diff(offsets)
    max_bin = int(np.max(starts + lengths)) if len(starts) else 0
    for arr in (window, weights, centres, starts, offsets, values):
        arr.setflags(write=False)
    return _Plan(window, weights, centres, starts, offsets, values, max_bin, weights.shape[1])


def band_centre_frequencies(cfg: FeatureConfig) -> np.ndarray:
    """Centre frequency [Hz] of each band (a copy)."""
    return _plan(cfg).centres.copy()


def filterbank_weights(cfg: FeatureConfig) -> np.ndarray:
    """The dense filterbank matrix ``[frame_size // 2, num_bands]`` of ``cfg`` (a copy)."""
    return _plan(cfg).weights.copy()


# ---------------------------------------------------------------------------------------
# input


def _check_signal(signal) -> np.ndarray:
    x = np.asarray(signal)
    if x.ndim != 1:
        raise ValueError(f"expected a mono signal (1-D float array), got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"expected a float signal (scaled to [-1, 1]), got dtype {x.dtype}")
    return x


# ---------------------------------------------------------------------------------------
# causal level normalisation (shared by the batch reference and the streaming kernel)


def _level_decay(cfg: FeatureConfig) -> float:
    """Per-frame factor r of the level's fall: ``exp(-hop / (sample_rate * level_release_s))``."""
    return math.exp(-cfg.hop_size / (cfg.sample_rate * cfg.level_release_s))


@njit(cache=True, nogil=True)
def _follow_level(level, energy, floor, decay):  # pragma: no cover - compiled
    """One step of the level follower: ``max(floor, energy, decay * level)``."""
    return max(floor, energy, decay * level)


@njit(cache=True, nogil=True)
def _level_gains(energies, level, floor, decay, target):  # pragma: no cover - compiled
    """Gains ``target / L_n`` for consecutive frame energies; ``level[0]`` carries L across calls."""
    gains = np.empty(energies.shape[0])
    current = level[0]
    for n in range(energies.shape[0]):
        current = _follow_level(current, energies[n], floor, decay)
        gains[n] = target / current
    level[0] = current
    return gains


# ---------------------------------------------------------------------------------------
# batch reference

_BATCH_CHUNK = 512  # frames per FFT batch (bounds memory for long files)


def log_filtered_spectrogram(signal: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Features of a whole mono float signal: float32 ``[num_frames, cfg.num_features]``.

    The reference implementation (numpy, float64 math); see the module docstring for the
    framing convention.
    """
    x = _check_signal(signal).astype(np.float64, copy=False)
    plan = _plan(cfg)
    frame, hop = cfg.frame_size, cfg.hop_size
    n_frames = num_frames(len(x), cfg)
    out = np.zeros((n_frames, cfg.num_features), dtype=np.float32)
    if n_frames == 0:
        return out
    # frame n starts at sample (n + 1) * hop - frame, i.e. at index n * hop of the padded signal
    padded = np.concatenate([np.zeros(frame - hop), x])
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame)[::hop]
    assert frames.shape[0] == n_frames
    nb = plan.num_bands
    prev = np.zeros(nb)
    level = np.array([cfg.level_floor])
    for lo in range(0, n_frames, _BATCH_CHUNK):
        chunk = frames[lo:lo + _BATCH_CHUNK] * plan.window
        mag = np.abs(np.fft.rfft(chunk, axis=1)[:, :cfg.num_bins])
        filtered = mag @ plan.weights
        if cfg.level_norm:
            filtered *= _level_gains(filtered.mean(axis=1), level, cfg.level_floor, _level_decay(cfg),
                                     cfg.level_target)[:, None]
        bands = np.log10(cfg.log_mul * filtered + cfg.log_add)
        out[lo:lo + len(bands), :nb] = bands
        if cfg.positive_diff:
            diff = np.diff(bands, axis=0, prepend=prev[None, :])
            out[lo:lo + len(bands), nb:] = np.maximum(diff, 0.0)
            prev = bands[-1]
    return out


def features_for_audio(signal: np.ndarray, sample_rate, cfg: FeatureConfig) -> np.ndarray:
    """Batch features of audio at any rate: resampled to ``cfg.sample_rate`` first if needed.

    Equal to what ``StreamingFeatures(cfg, input_rate=sample_rate)`` produces.
    """
    x = _check_signal(signal)
    if sample_rate != cfg.sample_rate:
        x = resample(x, sample_rate, cfg.sample_rate)
    return log_filtered_spectrogram(x, cfg)


# ---------------------------------------------------------------------------------------
# streaming


@njit(cache=True, nogil=True)
def _stream_kernel(x, ring, state, window, fft_in, fft_out, axes, mag, starts, offsets, values,
                   prev, filtered, level, out, hop, log_mul, log_add, positive_diff,
                   level_norm, level_floor, level_decay, level_target):  # pragma: no cover - compiled
    """Push samples ``x`` through the ring buffer; write each completed frame to ``out``.

    ``state = [write position in ring, (samples seen) % hop, frames done]``; ``level[0]`` is
    the level follower's L. A frame is completed by every sample whose index s has
    ``(s + 1) % hop == 0`` (the last sample of a hop). Returns the number of frames written.
    """
    frame = ring.shape[0]
    n_bands = starts.shape[0]
    n_mag = mag.shape[0]
    pos = state[0]
    phase = state[1]
    k = 0
    for s in range(x.shape[0]):
        ring[pos] = x[s]
        pos += 1
        if pos == frame:
            pos = 0
        phase += 1
        if phase < hop:
            continue
        phase = 0  # this sample is the last one of a hop: the frame ending here is complete
        # oldest sample is at ring[pos]: unroll the circle while windowing
        head = frame - pos
        for i in range(head):
            fft_in[i] = ring[pos + i] * window[i]
        for i in range(pos):
            fft_in[head + i] = ring[i] * window[head + i]
        r2c(fft_in, fft_out, axes, True, 1.0, 1)
        for b in range(n_mag):
            c = fft_out[b]  # sqrt of the squares: numba's abs(complex) goes through slow hypot
            mag[b] = math.sqrt(c.real * c.real + c.imag * c.imag)
        energy = 0.0
        for band in range(n_bands):
            acc = 0.0
            first = starts[band]
            for j in range(offsets[band], offsets[band + 1]):
                acc += values[j] * mag[first + j - offsets[band]]
            filtered[band] = acc
            energy += acc
        gain = 1.0
        if level_norm:
            level[0] = _follow_level(level[0], energy / n_bands, level_floor, level_decay)
            gain = level_target / level[0]
        for band in range(n_bands):
            v = math.log10(log_mul * (gain * filtered[band]) + log_add)
            out[k, band] = v
            if positive_diff:
                d = v - prev[band]
                out[k, n_bands + band] = d if d > 0.0 else 0.0
                prev[band] = v
        k += 1
    state[0] = pos
    state[1] = phase
    state[2] += k
    return k


class StreamingFeatures:
    """Incremental features: feed audio blocks of any size, get the frames they complete.

    After T samples (at ``cfg.sample_rate``) exactly ``T // hop`` frames have been returned:
    a block completes frame n when it contains sample ``(n + 1) * hop - 1``, so blocks of
    exactly ``hop`` samples (e.g. 480-sample periods at 48 kHz, resampled to 441) each
    return exactly one frame, at the end of the block.

    ``process(block)`` returns float32 ``[k, num_features]`` (k may be 0). **The returned
    array is a view into an internal buffer, valid only until the next call to
    ``process`` or ``reset``**: copy it if you keep it.

    With ``input_rate`` (e.g. 48000) different from ``cfg.sample_rate`` the blocks are
    resampled first by a :class:`~rtadt.resample.StreamingResampler`; the frames then equal
    ``features_for_audio(signal, input_rate, cfg)``. The resampler delays the audio by
    ``resampler_delay_s`` seconds (0 without resampling); frame n is still stamped
    ``cfg.frame_time(n)`` on the resampled time line.

    Per frame: no allocation; one windowing pass, one rocket-fft ``r2c`` into preallocated
    arrays, magnitude of the used bins, sparse filterbank, log, difference.
    """

    def __init__(self, cfg: FeatureConfig, input_rate=None):
        if not isinstance(cfg, FeatureConfig):
            raise ValueError(f"StreamingFeatures needs a FeatureConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        plan = _plan(cfg)
        self._plan = plan
        self._resampler = None
        self.input_rate = cfg.sample_rate
        if input_rate is not None and input_rate != cfg.sample_rate:
            self._resampler = StreamingResampler(input_rate, cfg.sample_rate)  # validates the rate
            self.input_rate = self._resampler.rate_in
        frame = cfg.frame_size
        self._ring = np.zeros(frame, dtype=np.float64)
        self._state = np.zeros(3, dtype=np.int64)
        self._fft_in = np.zeros(frame, dtype=np.float64)
        self._fft_out = np.zeros(frame // 2 + 1, dtype=np.complex128)
        self._axes = np.zeros(1, dtype=np.int64)
        self._mag = np.zeros(plan.max_bin, dtype=np.float64)
        self._prev = np.zeros(plan.num_bands, dtype=np.float64)
        self._filtered = np.zeros(plan.num_bands, dtype=np.float64)
        self._level = np.full(1, cfg.level_floor, dtype=np.float64)
        self._level_decay = _level_decay(cfg)
        self._in = np.zeros(0, dtype=np.float64)
        self._out = np.zeros((0, cfg.num_features), dtype=np.float32)
        self._ensure_capacity(4 * cfg.hop_size)

    @property
    def frames_done(self) -> int:
        """Frames produced so far."""
        return int(self._state[2])

    @property
    def resampler_delay_s(self) -> float:
        """Delay [s] added by the input resampler (0 when no resampling)."""
        return 0.0 if self._resampler is None else self._resampler.delay_s

    def reset(self) -> None:
        """Back to the state after construction (silence before the next sample)."""
        self._ring[:] = 0.0
        self._state[:] = 0
        self._prev[:] = 0.0
        self._level[:] = self.cfg.level_floor
        if self._resampler is not None:
            self._resampler.reset()

    def _ensure_capacity(self, n: int) -> None:
        if len(self._in) < n:
            self._in = np.zeros(max(n, 2 * len(self._in)), dtype=np.float64)
        frames = n // self.cfg.hop_size + 1
        if self._out.shape[0] < frames:
            self._out = np.zeros((max(frames, 2 * self._out.shape[0]), self.cfg.num_features), dtype=np.float32)

    def process(self, block: np.ndarray) -> np.ndarray:
        """Consume a mono float block (any length); return the frames it completed.

        Returns a float32 view ``[k, num_features]`` into an internal buffer, valid until
        the next call.
        """
        x = _check_signal(block)
        if self._resampler is not None:
            x = self._resampler._process_view(x)
        n = len(x)
        self._ensure_capacity(n)
        xin = self._in[:n]
        xin[:] = x
        p = self._plan
        k = _stream_kernel(xin, self._ring, self._state, p.window, self._fft_in, self._fft_out, self._axes,
                           self._mag, p.starts, p.offsets, p.values, self._prev, self._filtered, self._level,
                           self._out, self.cfg.hop_size, self.cfg.log_mul, self.cfg.log_add,
                           self.cfg.positive_diff, self.cfg.level_norm, self.cfg.level_floor,
                           self._level_decay, self.cfg.level_target)
        return self._out[:k]
