"""Rooms, the master chain and codecs (offline/datasets/recording.py) keep every hit where its
label says: each transform is run on clicks at known samples and the clicks are found again.

The truth is the input itself: a click's position before the transform. A room is checked on
its impulse responses (the direct path to the nearest microphone in the mix lands at lag 0),
the chain and the codecs by cross-correlating the output with the input (their lag must be 0)
and by the clicks' onsets.
"""
from __future__ import annotations

import numpy as np
import pytest

from offline.datasets import recording as R
from offline.datasets.kits import onset_index

RATE = R.RATE
CLICKS = (5_000, 40_000, 90_000, 120_001)


def clicks(seed: int = 0) -> np.ndarray:
    """Decaying noise bursts (drum-like transients) at CLICKS, in 3 s of silence."""
    rng = np.random.default_rng(seed)
    x = np.zeros(3 * RATE, np.float32)
    for p in CLICKS:
        burst = rng.standard_normal(2000) * np.exp(-np.arange(2000) / 300)
        x[p:p + 2000] += burst.astype(np.float32)
    return x


def lag(y: np.ndarray, x: np.ndarray, span: int = 3000) -> int:
    """The shift of y against x that correlates best, within +-span samples."""
    from scipy.signal import correlate

    c = correlate(y.astype(np.float64), x.astype(np.float64), mode="full", method="fft")
    zero = len(x) - 1
    return int(np.argmax(c[zero - span:zero + span + 1])) - span


def onsets(y: np.ndarray) -> list[int]:
    """Each click's onset in y (first sample above -40 dB of the click's peak), relative to
    where it was put."""
    return [onset_index(y[p - 500:p + 1500]) - 500 for p in CLICKS]


@pytest.mark.parametrize("seed", range(6))
def test_room_puts_the_direct_sound_of_the_nearest_microphone_at_the_hit(seed):
    p = R.draw_room(np.random.default_rng(seed))
    close, far = R.room_impulse_responses(p)
    nearest = far if p["far_db"] is None else close
    impulse = np.zeros(RATE, np.float32)
    impulse[RATE // 2] = 1.0
    y = R.room(impulse, p)
    # The direct path to the nearest microphone is the largest value of its response, and the
    # room puts that value at the impulse: the mixed response is the nearest one scaled plus
    # the other one, which arrives later.
    assert R.direct_path(nearest) > 0
    d = R.direct_path(nearest)
    if p["far_db"] is not None:
        assert R.direct_path(far) > d  # the room microphone is further away
    got = np.argmax(np.abs(y[RATE // 2 - 200:RATE // 2 + 1])) - 200  # the strongest sound up to the impulse
    assert got == 0
    # Clicks start within 1.5 ms of their labels, never after: the only earlier sound is the
    # pre-ringing of pyroomacoustics' fractional-delay filter (81 taps), which a loud room
    # microphone (a higher peak, so a lower -40 dB threshold) lets the onset rule see.
    assert all(-64 <= o <= 0 for o in onsets(R.room(clicks(seed), p)))


def test_room_draws_are_renderable_and_repeatable():
    for seed in range(50):
        p = R.draw_room(np.random.default_rng(seed))
        assert p["rt60"] >= R.shortest_rt60(p["dims"])
        for mic in (p["close"], p["far"]):
            assert all(0 < c < d for c, d in zip(mic, p["dims"]))
    p = R.draw_room(np.random.default_rng(3))
    x = clicks(3)
    np.testing.assert_array_equal(R.room(x, p), R.room(x, p))
    assert np.isclose(np.sqrt(np.mean(R.room(x, p) ** 2)), np.sqrt(np.mean(x ** 2)), rtol=1e-4)


@pytest.mark.parametrize("seed", range(4))
def test_master_chain_moves_no_onset(seed):
    chain = R.draw_master(np.random.default_rng(seed), 1, 1, 1, 1)  # every processor
    assert set(chain) == {"compress", "saturate", "dark", "limit"}
    x = 0.3 * clicks(seed)
    y = R.master(x, chain)
    assert len(y) == len(x) and np.isfinite(y).all()
    assert onsets(y) == [0] * len(CLICKS)
    # The low-pass is a causal filter: its group delay moves the bulk of a click by a sample
    # (23 us), as any analogue or digital EQ does, never its start; without it nothing moves.
    assert 0 <= lag(y, x) <= 2
    del chain["dark"]
    assert lag(R.master(x, chain), x) == 0
    np.testing.assert_array_equal(R.master(x, {}), x)


@pytest.mark.parametrize("fmt, kbps", [(f, k) for f, ks in R.CODECS.items() for k in (ks[0], ks[-1])])
def test_codec_round_trip_is_aligned_to_the_sample(fmt, kbps):
    x = 0.5 * clicks(1)
    y = R.codec(x, {"format": fmt, "kbps": kbps})
    assert len(y) == len(x)
    assert lag(y, x) == 0
    # Transform codecs spread quantisation noise before a transient (pre-echo): the -40 dB
    # onset may come early, never late, and never by more than one MDCT block (1152 samples).
    assert all(-1152 <= o <= 0 for o in onsets(y))
    assert np.corrcoef(x, y)[0, 1] > 0.7  # noise bursts at 64 kbit/s lose much, but not their place
