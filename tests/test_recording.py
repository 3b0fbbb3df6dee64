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


# ------------------------------------------------------------------ microphones on each piece

@pytest.mark.parametrize("seed", range(8))
def test_each_piece_through_the_mics_is_its_arrivals_with_the_earliest_at_the_hit(seed):
    """With the off-axis shelves flat, a piece's impulse comes back as one impulse per
    microphone that hears it, at that microphone's delay and gain, all moved so that the
    earliest lands on the hit, scaled to the stem's RMS."""
    p = R.draw_mics(np.random.default_rng(seed))
    for shelf in p["off_axis"].values():
        shelf["gain_db"] = 0.0
    at = 1000
    impulse = np.zeros(4000, np.float32)
    impulse[at] = 1.0
    for piece in R.CLASSES:
        expected = np.zeros(len(impulse))
        arrivals = [(0.0, 0.0)] if p["close"][piece] else []
        arrivals += [(p["bleed"][f"{piece}>{m}"]["delay_ms"], p["bleed"][f"{piece}>{m}"]["gain_db"])
                     for m in R.CLASSES if m != piece and p["close"][m]]
        arrivals += [(p["overhead_ms"][piece], p["overhead_db"])]
        lead = min(round(ms * RATE / 1000) for ms, _ in arrivals)
        for ms, db in arrivals:
            expected[at + round(ms * RATE / 1000) - lead] += 10 ** (db / 20)
        expected *= R.rms(impulse) / R.rms(expected)
        y = R.piece_through_mics(impulse, piece, p)
        np.testing.assert_allclose(y, expected, atol=1e-4)
        assert np.flatnonzero(np.abs(y) > 1e-4)[0] == at  # nothing before the hit, something on it


def test_mics_keep_every_click_on_its_hit_and_change_the_sound():
    p = R.draw_mics(np.random.default_rng(1))
    assert not p["close"]["HH"] and not p["close"]["CY"]  # a piece the overheads alone carry
    stems = {c: np.roll(clicks(i), 700 * i) for i, c in enumerate(R.CLASSES)}
    y = R.mics(stems, p)
    np.testing.assert_allclose(y, sum(R.piece_through_mics(x, c, p) for c, x in stems.items()), atol=1e-6)
    for i, (c, x) in enumerate(stems.items()):
        alone = R.mics({c: x}, p)
        found = [onset_index(alone[q + 700 * i - 500:q + 700 * i + 1500]) - 500 for q in CLICKS]
        # through its own microphone exactly on the hit; carried by bleed through an off-axis shelf
        # (a causal filter), a sample or two later at the -40 dB threshold, never earlier
        assert found == [0] * 4 if p["close"][c] else all(0 <= o <= 2 for o in found), (c, found)
        assert R.rms(alone) == pytest.approx(R.rms(x), rel=1e-4)
        assert np.corrcoef(alone, x)[0, 1] < 0.99  # bleed and overheads colour it: a comb of late copies


def test_mic_draws_stay_in_their_ranges():
    draws = [R.draw_mics(np.random.default_rng(s)) for s in range(200)]
    for p in draws:
        assert all(p["close"][c] for c in ("KD", "SD", "TT"))
        assert set(p["off_axis"]) == {m for m, on in p["close"].items() if on}
        assert all(-30 <= b["gain_db"] <= -12 and 1 <= b["delay_ms"] <= 4 for b in p["bleed"].values())
        assert -15 <= p["overhead_db"] <= 3 and all(1.5 <= d <= 5 for d in p["overhead_ms"].values())
    assert 0.1 < np.mean([p["close"]["CY"] for p in draws]) < 0.3 < np.mean([p["close"]["HH"] for p in draws]) < 0.8
