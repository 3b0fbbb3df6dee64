"""The accompaniment (offline/datasets/songs.py): songs split by song, the drum channel
parted from the accompaniment, excerpts that restore the state before them. Tests marked
`data` read the songs of ../shared/data.
"""
from __future__ import annotations

import mido
import pytest

from offline.datasets.songs import excerpt_messages, song_key, song_messages, song_split, split_song
from offline.datasets.synth import Sources
from offline.example import RATE
from rtadt.drums import CLASSES, gm_note_to_class

SONGS = {  # song: its split by song_split, and what it exercises (tests/test_synth.py renders them)
    "freedoom/freedoom1_D_E1M1.mid": "train",  # full band with drums
    "freedoom/freedoom2_D_THEDA2.mid": "train",  # drum channel with an unknown note (5)
    "pop909/POP909/098/098.mid": "train",  # three program-0 tracks
    "mma_pop909/songs/pop909_006_Beguine.mid": "train",
    "mma_pop909/songs/pop909_237_JazzRock.mid": "validation",
    "openttd_openmsx/5432gone_redfarn.mid": "test",
}
need_songs = pytest.mark.skipif(not Sources().accompaniment.is_dir(), reason="needs shared/data/accompaniment-midi")


@pytest.mark.data
@need_songs
def test_song_split_is_by_song():
    rels = [str(p.relative_to(Sources().accompaniment)) for p in Sources().accompaniment.rglob("*.mid")]
    assert song_key("pop909/POP909/006/006.mid") == song_key("mma_pop909/songs/pop909_006_Beguine.mid")
    keys = {song_key(r) for r in rels}
    splits = [song_split(k) for k in sorted(keys)]
    assert splits == [song_split(k) for k in sorted(keys)]  # a pure function of the name
    shares = {s: splits.count(s) / len(splits) for s in ("train", "validation", "test")}
    assert 0.75 < shares["train"] < 0.85 and 0.06 < shares["validation"] < 0.14 and 0.06 < shares["test"] < 0.14
    for rel, split in SONGS.items():
        assert song_split(song_key(rel)) == split


@pytest.mark.data
@need_songs
def test_accompaniment_carries_no_drum_notes():
    timed = song_messages(Sources().accompaniment / "freedoom/freedoom1_D_E1M1.mid")
    drums, accomp, unknown = split_song(timed)
    assert len(drums) > 100 and unknown == []
    assert {gm_note_to_class(n) for _, n, _ in drums} <= set(CLASSES)
    notes = [m for _, m in accomp if m.type in ("note_on", "note_off")]
    assert any(m.channel != 9 for m in notes)
    assert all(gm_note_to_class(m.note) is None for m in notes if m.channel == 9)  # percussion only
    assert not any(m.type == "control_change" and m.control in (0, 32) for _, m in accomp)
    # a melodic channel set to a drum-like program (synth drum) is muted; others are dressed
    song = [(0.0, mido.Message("program_change", channel=3, program=118)),
            (0.5, mido.Message("note_on", channel=3, note=60, velocity=90)),
            (0.5, mido.Message("note_on", channel=0, note=64, velocity=90)),
            (0.6, mido.Message("note_on", channel=9, note=38, velocity=90)),
            (0.7, mido.Message("note_on", channel=9, note=54, velocity=90))]
    drums, accomp, _ = split_song(song)
    assert drums == [(0.6, 38, 90)]
    assert [(m.channel, m.note) for _, m in accomp if m.type == "note_on"] == [(0, 64), (9, 54)]
    _, dressed, _ = split_song(song, {0: 105, 3: 24})
    assert [(m.channel, m.program) for _, m in dressed if m.type == "program_change"] == [(0, 105), (3, 24), (9, 0)]


def test_excerpt_restores_state_and_drops_earlier_notes():
    timed = [(0.0, mido.Message("program_change", channel=1, program=33)),
             (1.0, mido.Message("control_change", channel=1, control=7, value=50)),
             (2.0, mido.Message("note_on", channel=1, note=40, velocity=80)),
             (5.0, mido.Message("note_on", channel=1, note=41, velocity=80))]
    out = excerpt_messages(timed, 3.0)
    assert [(s, m.type) for s, m in out] == [(0, "program_change"), (0, "control_change"), (2 * RATE, "note_on")]
