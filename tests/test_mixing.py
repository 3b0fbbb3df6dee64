"""The mix's augmentations and level (offline/datasets/mixing.py): onsets stay put, the same
parameters give the same audio, the level is the one asked for, clipping clips.
"""
from __future__ import annotations

import numpy as np

from offline.datasets.mixing import biquad, finish
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
