"""The drum parts (offline/datasets/performances.py): procedural parts seeded and in range,
ornaments, Groove MIDI excerpts from their own split (the test marked `data` reads
../shared/data).
"""
from __future__ import annotations

import numpy as np
import pytest

from offline.datasets.performances import (CRASHES, cymbal_gestures, groove_index, groove_part, groove_pattern,
                                           ornaments, plan_groove, procedural_part)
from offline.datasets.synth import Sources
from rtadt.drums import gm_note_to_class


@pytest.mark.data
@pytest.mark.skipif(not Sources().groove.is_dir(), reason="needs shared/data/groove-midi")
def test_drum_parts_are_seeded():
    a, info = procedural_part({"style": "groove", "seed": 9}, 20.0)
    assert (a, info) == procedural_part({"style": "groove", "seed": 9}, 20.0)
    assert a != procedural_part({"style": "groove", "seed": 10}, 20.0)[0]
    assert all(0 <= t < 20 and gm_note_to_class(n) and 1 <= v <= 127 for t, n, v in a)
    sparse, _ = procedural_part({"style": "sparse", "seed": 1, "min_gap": 0.5}, 20.0)
    gaps = np.diff(sorted({t for t, _, _ in sparse}))
    assert gaps.min() >= 0.5
    rows = [r for r in groove_index(Sources().groove) if r["split"] == "validation"]
    segs = plan_groove(np.random.default_rng(0), rows, 25.0)
    hits = groove_part(Sources().groove, segs)
    assert hits and all(0 <= t < 25.0 for t, _, _ in hits)
    assert all(r["split"] == "validation" for r in rows if r["midi_filename"] in {s["file"] for s in segs})


def test_ornaments_add_grace_notes_rolls_and_pedal_hats():
    rng = np.random.default_rng(0)
    hits = [(1.0, 38, 100), (2.0, 45, 95), (3.0, 51, 80)]
    # force every ornament: draw until a pattern has them all
    for seed in range(500):
        out, rates = ornaments(np.random.default_rng(seed), hits, 0.125, 51, 4, 5.0)
        if rates["flam"] > 0.2 and rates["roll"] > 0 and rates["pedal"]:
            break
    assert rates["pedal"] and any(n == 44 for _, n, _ in out)
    assert all(0 <= t < 5.0 and gm_note_to_class(n) and 1 <= v <= 127 for t, n, v in out)
    graces = [(t, n, v) for t, n, v in out if n in (38, 45) and (t, n, v) not in hits]
    assert all(v < 100 for _, _, v in graces)
    assert ornaments(rng, [], 0.125, 42, 4, 5.0)[0] == []  # no pedal under a closed hi-hat
    bpms = [groove_pattern(np.random.default_rng(s), 10.0)[1]["bpm"] for s in range(200)]
    assert min(bpms) < 70 and max(bpms) > 200 and all(50 <= b <= 240 for b in bpms)


def test_cymbal_gestures_choke_and_swell_into_the_crashes():
    hits = [(1.0, 49, 110), (3.0, 57, 104), (2.0, 38, 105), (2.5, 51, 80)]
    for seed in range(500):  # a pattern with both gestures on both crashes
        out, rates = cymbal_gestures(np.random.default_rng(seed), hits, 0.5, 6.0)
        swelled = {n for t, n, v in out if v > 0 and (t, n, v) not in hits}
        if sum(v == 0 for _, _, v in out) == 2 and swelled == {49, 57}:
            break
    added = sorted(h for h in out if h not in hits)
    chokes = [h for h in added if h[2] == 0]
    assert [n for _, n, _ in chokes] == [49, 57]  # one choke per crash, on its cymbal ...
    for (t, n, _), crash in zip(chokes, (1.0, 3.0)):
        assert crash + 0.1 <= t <= crash + 2 * 0.5  # ... 0.1 s to two beats after it
    for crash, note in ((1.0, 49), (3.0, 57)):
        swell = [(t, v) for t, n, v in added if n == note and v > 0]
        times, velocities = zip(*swell)
        assert all(crash - 2 * 0.5 - 0.02 <= t < crash for t in times)  # within two beats before the crash
        assert list(velocities) == sorted(velocities) and velocities[0] <= 20 and 50 <= velocities[-1] <= 80
        assert np.diff(times).min() > 0.03
    # nothing else moves, and a groove without them is the groove it always was
    plain, info = procedural_part({"style": "groove", "seed": 9}, 30.0)
    with_them, info_with = procedural_part({"style": "groove", "seed": 9, "cymbals": True}, 30.0)
    assert set(plain) <= set(with_them) and "cymbal_gestures" in info_with and "cymbal_gestures" not in info
    assert all(v == 0 or (t, n, v) in plain or n in CRASHES for t, n, v in with_them)
