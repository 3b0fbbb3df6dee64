"""Sample-rate conversion, so that a model trained at 44.1 kHz sees the same features from
a 48 kHz (or any other) interface.

Rational polyphase resampling: the rate ratio ``rate_out / rate_in`` is reduced to
``up / down`` (by their gcd); the signal is upsampled by ``up`` (zero stuffing), low-pass
filtered by one windowed-sinc FIR ``h`` and downsampled by ``down``. The filter is *causal*
and its delay is not compensated: output sample m is

    y[m] = sum_k h[k] * u[m * down - k],   u[j * up] = x[j] (zero elsewhere),

so it depends only on input samples up to ``floor(m * down / up)``. The batch function
returns the first ``ceil(len(x) * up / down)`` outputs, exactly the outputs a stream can
have produced after the same input, so batch and streaming agree on every prefix.
The group delay, ``(len(h) - 1) / 2`` samples at the upsampled rate, is
:attr:`StreamingResampler.delay_s` (about 0.32 ms for 48 -> 44.1 kHz); the engine
subtracts it from event times.

The filter (designed by ``scipy.signal.firwin``, :func:`design_filter`):

* cutoff (-6 dB) at ``0.945 * min(rate_in, rate_out) / 2`` (20.84 kHz for 48 -> 44.1 kHz);
* Kaiser window, beta = 6.0 (about 63 dB stopband);
* ``N = ceil(28 * rate_in / min(rate_in, rate_out))`` taps per polyphase branch, i.e. N
  multiply-adds per output sample, ``N * up`` taps in all. The transition band then scales
  with the lower of the two rates whatever the ratio.

For 48 -> 44.1 kHz (up 147, down 160) that is 31 taps per output sample (4557 in all); the
response is flat within 0.03 dB up to 18 kHz, -3.7 dB at 20 kHz, -16 dB at 22.05 kHz and
below -63 dB from 24 kHz up (which rejects both the upsampling images and whatever would
alias below 20 kHz). The same figures hold for 44.1 -> 48 kHz and the other common rates.

Refused (ValueError): rates that :func:`rtadt.rates.check_rate` refuses (anything but one of
``rtadt.rates.SUPPORTED_RATES``, 8 to 192 kHz), and pairs whose reduced up or down exceeds
1000 (e.g. 11025 -> 192000). Equal rates are the identity.
"""
from __future__ import annotations

import functools
from math import ceil, gcd

import numpy as np
from numba import njit

from rtadt.rates import check_rate

__all__ = ["MAX_FACTOR", "resample_factors", "design_filter", "resample",
           "StreamingResampler"]

MAX_FACTOR = 1000

_TAPS_PER_PHASE = 28     # per branch, scaled by rate_in / min(rate_in, rate_out)
_KAISER_BETA = 6.0
_CUTOFF = 0.945          # fraction of the lower Nyquist frequency


def resample_factors(rate_in, rate_out) -> tuple[int, int]:
    """``(up, down)``: the reduced ratio ``rate_out / rate_in``; ValueError where refused."""
    rate_in = check_rate(rate_in, "rate_in")
    rate_out = check_rate(rate_out, "rate_out")
    g = gcd(rate_in, rate_out)
    up, down = rate_out // g, rate_in // g
    if up > MAX_FACTOR or down > MAX_FACTOR:
        raise ValueError(
            f"resampling {rate_in} Hz -> {rate_out} Hz needs the ratio {up}/{down}; "
            f"up and down factors above {MAX_FACTOR} are not supported")
    return up, down


@functools.lru_cache(maxsize=16)
def _design(rate_in: int, rate_out: int) -> tuple[np.ndarray, int, int, int]:
    up, down = resample_factors(rate_in, rate_out)
    if up == down:
        return np.ones(1), 1, 1, 1
    from scipy.signal import firwin

    low = min(rate_in, rate_out)
    taps_per_phase = int(ceil(_TAPS_PER_PHASE * rate_in / low))
    h = firwin(taps_per_phase * up, _CUTOFF * low / 2.0, window=("kaiser", _KAISER_BETA), fs=float(rate_in * up))
    h = h * up  # zero stuffing divides the signal's level by `up`
    h.setflags(write=False)
    return h, up, down, taps_per_phase


def design_filter(rate_in, rate_out) -> tuple[np.ndarray, int, int]:
    """``(h, up, down)``: the FIR (at ``rate_in * up``, gain ``up``) and the factors.

    For equal rates, ``h = [1.0]`` and ``up = down = 1``.
    """
    h, up, down, _ = _design(check_rate(rate_in, "rate_in"), check_rate(rate_out, "rate_out"))
    return h, up, down


def _as_mono(signal) -> np.ndarray:
    x = np.asarray(signal)
    if x.ndim != 1:
        raise ValueError(f"expected a mono signal (1-D array), got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"expected a real-valued signal, got dtype {x.dtype}")
    return x


def resample(signal: np.ndarray, rate_in, rate_out) -> np.ndarray:
    """Resample a mono signal (batch). Returns float64 of length ``ceil(len * up / down)``.

    Causal polyphase FIR (``scipy.signal.upfirdn``), no delay compensation: see the module
    docstring. Equal rates return a float64 copy.
    """
    x = _as_mono(signal).astype(np.float64)
    h, up, down = design_filter(rate_in, rate_out)
    if up == down:
        return x.copy()
    n_out = -(-len(x) * up // down)
    if n_out == 0:
        return np.zeros(0, dtype=np.float64)
    from scipy.signal import upfirdn

    return np.ascontiguousarray(upfirdn(h, x, up, down)[:n_out])


@njit(cache=True, nogil=True)
def _resample_block(x, hist, branches, up, down, state, out):  # pragma: no cover - compiled
    """Polyphase kernel. ``state = [inputs consumed, next output index]``.

    ``hist`` holds the last N-1 inputs before this block (zeros before the start);
    ``branches[p, i] = h[p + i * up]``. Writes the outputs this block completes to ``out``
    and returns how many.
    """
    n_taps = branches.shape[1]
    consumed = state[0]
    m = state[1]
    total = consumed + x.shape[0]
    limit = total * up - 1  # output m is ready once m * down <= limit
    k = 0
    while m * down <= limit:
        t = m * down
        j0 = t // up
        phase = t - j0 * up
        acc = 0.0
        for i in range(n_taps):
            r = j0 - i - consumed  # position relative to this block's first sample
            if r >= 0:
                v = x[r]
            else:
                v = hist[n_taps - 1 + r]
            acc += branches[phase, i] * v
        out[k] = acc
        k += 1
        m += 1
    # keep the last N-1 inputs
    keep = n_taps - 1
    n = x.shape[0]
    if keep > 0:
        if n >= keep:
            for i in range(keep):
                hist[i] = x[n - keep + i]
        else:
            shift = keep - n
            for i in range(shift):
                hist[i] = hist[i + n]
            for i in range(n):
                hist[shift + i] = x[i]
    state[0] = total
    state[1] = m
    return k


class StreamingResampler:
    """Stateful resampler: feed blocks of any size, get the outputs they complete.

    The concatenated outputs equal :func:`resample` of the concatenated input (any block
    sizes). ``delay_s`` is the filter's group delay in seconds (0 for equal rates).
    """

    def __init__(self, rate_in, rate_out):
        self.rate_in = check_rate(rate_in, "rate_in")
        self.rate_out = check_rate(rate_out, "rate_out")
        h, up, down, taps = _design(self.rate_in, self.rate_out)
        self.up, self.down = up, down
        self.identity = up == down
        self.filter = h
        self.taps_per_output = taps
        self.delay_s = 0.0 if self.identity else (len(h) - 1) / 2.0 / (self.rate_in * up)
        # branches[p, i] = h[p + i * up]
        self._branches = np.ascontiguousarray(h.reshape(taps, up).T) if not self.identity else None
        self._hist = np.zeros(max(taps - 1, 0), dtype=np.float64)
        self._state = np.zeros(2, dtype=np.int64)
        self._in = np.zeros(0, dtype=np.float64)
        self._out = np.zeros(0, dtype=np.float64)

    def reset(self) -> None:
        """Forget all input (back to the state after construction)."""
        self._hist[:] = 0.0
        self._state[:] = 0

    @property
    def samples_in(self) -> int:
        """Input samples consumed so far."""
        return int(self._state[0])

    @property
    def samples_out(self) -> int:
        """Output samples produced so far."""
        return int(self._state[1])

    def _process_view(self, block) -> np.ndarray:
        """Like :meth:`process` but returns a view into an internal buffer (valid until the next call)."""
        x = _as_mono(block)
        n = len(x)
        if self.identity:
            if len(self._in) < n:
                self._in = np.zeros(max(n, 2 * len(self._in)), dtype=np.float64)
            buf = self._in[:n]
            buf[:] = x
            self._state += n
            return buf
        if len(self._in) < n:
            self._in = np.zeros(max(n, 2 * len(self._in)), dtype=np.float64)
        xin = self._in[:n]
        xin[:] = x
        cap = n * self.up // self.down + 2
        if len(self._out) < cap:
            self._out = np.zeros(max(cap, 2 * len(self._out)), dtype=np.float64)
        k = _resample_block(xin, self._hist, self._branches, self.up, self.down, self._state, self._out)
        return self._out[:k]

    def process(self, block) -> np.ndarray:
        """Consume a block (1-D, any length) and return the new output samples (a new float64 array)."""
        return self._process_view(block).copy()
