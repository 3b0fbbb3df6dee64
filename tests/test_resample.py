"""Resampling: streaming == batch, passband, stopband, delay, refused rates."""
from __future__ import annotations

import numpy as np
import pytest

from rtadt.resample import StreamingResampler, design_filter, resample, resample_factors

PAIRS = [(48000, 44100), (44100, 48000), (96000, 44100), (22050, 44100), (44100, 44100)]


def run_stream(r: StreamingResampler, x: np.ndarray, seed: int = 0, high: int = 1500) -> np.ndarray:
    rng = np.random.default_rng(seed)
    parts, i = [], 0
    while i < len(x):
        n = int(rng.integers(0, high))   # 0-size blocks included
        parts.append(r.process(x[i:i + n]))
        i += n
    return np.concatenate(parts)


@pytest.mark.parametrize("rates", PAIRS, ids=[f"{a}-{b}" for a, b in PAIRS])
def test_streaming_equals_batch(rates):
    rate_in, rate_out = rates
    x = np.random.default_rng(1).standard_normal(30000)
    ref = resample(x, rate_in, rate_out)
    up, down = resample_factors(rate_in, rate_out)
    assert len(ref) == -(-len(x) * up // down)
    r = StreamingResampler(rate_in, rate_out)
    got = run_stream(r, x)
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() < 1e-6
    assert r.samples_in == len(x) and r.samples_out == len(ref)
    # every prefix too: what a stream has emitted is the batch result of what it received
    r.reset()
    got_prefix = r.process(x[:1234])
    np.testing.assert_allclose(got_prefix, resample(x[:1234], rate_in, rate_out), atol=1e-12)
    # block size 1 and float32 input
    r.reset()
    x32 = x[:3000].astype(np.float32)
    ones = np.concatenate([r.process(x32[i:i + 1]) for i in range(len(x32))])
    assert np.abs(ones - resample(x32, rate_in, rate_out)).max() < 1e-6


def test_lengths_and_identity():
    for n in (0, 1, 159, 160, 161, 44100):
        assert len(resample(np.zeros(n), 48000, 44100)) == -(-n * 147 // 160)
    x = np.random.default_rng(2).standard_normal(1000).astype(np.float32)
    y = resample(x, 44100, 44100)
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, x)
    r = StreamingResampler(48000, 48000)
    assert r.delay_s == 0.0
    np.testing.assert_array_equal(run_stream(r, x), x)


def fit_sine(y: np.ndarray, freq: float, rate: float):
    """Least-squares fit of a sine at freq: (amplitude, fitted wave)."""
    t = np.arange(len(y)) / rate
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, y, rcond=None)
    return float(np.hypot(*coef)), basis @ coef


@pytest.mark.parametrize("freq", [1000.0, 9000.0, 15000.0, 18000.0])
def test_passband_sine_48k_to_44k(freq):
    x = 0.5 * np.sin(2 * np.pi * freq * np.arange(48000) / 48000)
    y = resample(x, 48000, 44100)
    assert len(y) == 44100
    # frequency: peak of a 1 Hz resolution spectrum (1 s at 44.1 kHz)
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    assert int(np.argmax(spec)) == int(freq)
    # amplitude: flat passband (within 0.05 dB up to 18 kHz), past the filter's start-up
    steady = y[1000:-1000]
    amp, fitted = fit_sine(steady, freq, 44100)
    assert abs(20 * np.log10(amp / 0.5)) < 0.05
    # and nothing else: the residual is tiny (no aliases, no images)
    assert np.sqrt(np.mean((steady - fitted) ** 2)) < 1e-3


@pytest.mark.parametrize("rates, freq, max_gain", [
    ((48000, 44100), 23000.0, 0.05),   # above the new Nyquist: would alias to 21.1 kHz
    ((48000, 44100), 23900.0, 0.01),
    ((96000, 44100), 30000.0, 1e-3),   # would alias to 14.1 kHz
    ((44100, 48000), 20000.0, 1.1),    # upsampling: passes (sanity), image at 24.1 kHz is checked below
])
def test_stopband(rates, freq, max_gain):
    rate_in, rate_out = rates
    x = np.sin(2 * np.pi * freq * np.arange(rate_in) / rate_in)
    y = resample(x, rate_in, rate_out)[2000:-2000]
    rms_out = np.sqrt(np.mean(y ** 2)) * np.sqrt(2)
    assert rms_out < max_gain
    if rate_out > rate_in:
        image = rate_in - freq
        amp, _ = fit_sine(y, image, rate_out)
        assert amp < 1e-3


def test_delay_matches_phase():
    """A causal linear-phase FIR delays everything by delay_s: the output sine lags the input."""
    r = StreamingResampler(48000, 44100)
    assert 0.0 < r.delay_s < 1e-3
    freq = 2000.0
    x = np.sin(2 * np.pi * freq * np.arange(48000) / 48000)
    y = run_stream(r, x)[2000:-100]
    t = (np.arange(len(y)) + 2000) / 44100
    expected = np.sin(2 * np.pi * freq * (t - r.delay_s))
    assert np.abs(y - expected).max() < 2e-3
    # half a sample of error would be visible
    wrong = np.sin(2 * np.pi * freq * (t - r.delay_s - 0.5 / 44100))
    assert np.abs(y - wrong).max() > 2e-2


def test_filter_is_cheap():
    h, up, down = design_filter(48000, 44100)
    assert (up, down) == (147, 160)
    taps_per_output = len(h) // up
    assert 20 <= taps_per_output <= 32
    assert StreamingResampler(48000, 44100).taps_per_output == taps_per_output


@pytest.mark.parametrize("rate_in, rate_out, match", [
    (7999, 44100, "rate_in: sample rate 7999 Hz is not supported"),
    (44100, 200000, "rate_out: sample rate 200000 Hz is not supported"),
    (0, 44100, "not supported"),
    (37800, 44100, "not supported"),  # ratio 7/6, but not a rate rtadt takes (rtadt.rates)
    (44100, 44101, "not supported"),
    (44100.5, 48000, "whole number"),
    ("fast", 48000, "number"),
    (11025, 192000, "1000"),  # two supported rates whose ratio 2560/147 needs long filters
    (192000, 11025, "1000"),
])
def test_bad_rates(rate_in, rate_out, match):
    with pytest.raises(ValueError, match=match) as info:
        StreamingResampler(rate_in, rate_out)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match=match):
        resample(np.zeros(10), rate_in, rate_out)


def test_bad_shape():
    with pytest.raises(ValueError, match="mono"):
        resample(np.zeros((10, 2)), 48000, 44100)
    with pytest.raises(ValueError, match="mono"):
        StreamingResampler(48000, 44100).process(np.zeros((10, 2)))
