"""The mix's augmentations and level (offline/datasets/mixing.py): onsets stay put, the same
parameters give the same audio, the level is the one asked for, clipping clips.
"""
from __future__ import annotations

import numpy as np
import pytest

from offline.datasets import recording
from offline.datasets.mixing import add_hum, biquad, draw_hum, finish
from offline.example import RATE


def test_augmentations_keep_onsets_and_are_seeded():
    x = np.zeros(RATE, np.float32)
    x[10000:10400] = np.hanning(400) * np.sin(np.arange(400) * 0.3)
    for name, p in (("eq", {"kind": "peaking", "freq": 1000.0, "gain_db": 9.0, "q": 1.0}),
                    ("reverb", {"rt60": 1.0, "wet_db": -6.0, "predelay": 0.01, "seed": 1}),
                    ("compress", {"threshold_db": -20.0, "ratio": 4.0, "attack": 0.002, "release": 0.1})):
        y, _ = finish(x, {"level_db": -20.0, "augment": {name: p}})
        first = int(np.argmax(np.abs(y) > 0.01 * np.abs(y).max()))
        assert abs(first - int(np.argmax(np.abs(x) > 0.01 * np.abs(x).max()))) < 20, name
        assert np.array_equal(y, finish(x, {"level_db": -20.0, "augment": {name: p}})[0])
    y, level = finish(x, {"level_db": -55.0, "augment": {}})
    assert abs(20 * np.log10(np.sqrt(np.mean(y.astype(np.float64) ** 2))) + 55.0) < 0.01
    b, a = biquad("lowshelf", 200.0, 6.0, 0.7)
    assert abs(20 * np.log10(abs(sum(b) / sum(a))) - 6.0) < 0.01  # DC gain of a low shelf


def test_clipped_examples_keep_their_labels_and_clip():
    x = np.zeros(RATE, np.float32)
    x[10000:10400] = np.hanning(400) * np.sin(np.arange(400) * 0.3)
    y, level = finish(x, {"level_db": -20.0, "augment": {}, "clip_db": 6.0})
    assert np.abs(y).max() == 1.0 and level["clipped"] > 0
    driven = x * 10 ** (6 / 20) / np.abs(x).max()  # the same signal, unclipped
    assert int(np.argmax(np.abs(y) > 0.01)) == int(np.argmax(np.abs(driven) > 0.01))
    np.testing.assert_allclose(y, np.clip(driven, -1, 1), atol=1e-6)


def test_hum_is_the_mains_harmonics_asked_for_at_its_level():
    x = np.zeros(2 * RATE, np.float32)
    x[10000:10400] = np.hanning(400) * np.sin(np.arange(400) * 0.3)
    p = {"freq": 50.0, "harmonics": [0.25, 1.0, 0.0, 0.5, 0.0], "phases": [0.0, 1.0, 2.0, 3.0, 4.0], "snr_db": 30.0}
    hum = add_hum(x, p).astype(np.float64) - x
    assert abs(20 * np.log10(recording.rms(x) / recording.rms(hum)) - 30.0) < 1e-3
    spectrum = np.abs(np.fft.rfft(hum)) / len(hum)  # 2 s: 0.5 Hz bins, every harmonic on a bin
    f = np.fft.rfftfreq(len(hum), 1 / RATE)
    lines = [spectrum[np.argmin(np.abs(f - 50.0 * k))] for k in range(1, 6)]
    np.testing.assert_allclose(np.array(lines) / max(lines), p["harmonics"], atol=1e-3)
    assert spectrum[(f > 20) & (np.min(np.abs(f[:, None] - 50.0 * np.arange(1, 6)), axis=1) > 2)].max() < 1e-3 * max(lines)
    drawn = draw_hum(np.random.default_rng(3))
    assert drawn["freq"] in (50.0, 60.0) and max(drawn["harmonics"]) == 1.0 and 25 <= drawn["snr_db"] <= 50
    assert drawn == draw_hum(np.random.default_rng(3))
    y, _ = finish(x, {"level_db": -20.0, "augment": {"hum": drawn}})
    quiet = y[:9000]  # before the burst: the hum alone, steady from the first sample
    assert recording.rms(quiet) > 1e-4 and recording.rms(quiet[:4500]) == pytest.approx(recording.rms(quiet[4500:]), rel=0.05)
