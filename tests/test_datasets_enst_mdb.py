"""ENST-Drums and MDB-Drums loaders and the label mappings, on tiny copies in the real layouts.

The fixtures are written here, in tmp_path, exactly as the datasets are distributed:
ENST-drums-public/drummer_N/{annotation,audio/<mic>} with `time label` lines, and the
MDBDrums repository's "MDB Drums"/{audio/full_mix,annotations/class,annotations/subclass}
with `time \\t label ` lines. Audio is a fraction of a second of 16-bit noise.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import offline.datasets as datasets
from offline.datasets import DatasetError, statistics
from offline.datasets import enst, labels, mdb
from rtadt import drums
from rtadt.drums import CLASSES, UnknownLabelError

SR = 44100


def write_wav(path: Path, seed: int, seconds: float = 0.3, channels: int = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shape = (int(seconds * SR),) if channels == 1 else (int(seconds * SR), channels)
    sf.write(path, np.clip(0.3 * rng.standard_normal(shape), -0.9, 0.9), SR, subtype="PCM_16")


# ---------------------------------------------------------------- ENST-Drums fixture

ENST_MINUS_ONE = {
    1: ["107_minus-one_salsa_sticks", "121_MIDI-minus-one_bigband_brushes",
        "137_MIDI-minus-one_rock'n'roll-188_sticks"],
    2: ["115_minus-one_salsa_sticks", "130_MIDI-minus-one_bigband_sticks"],
    3: ["162_MIDI-minus-one_fusion-125_sticks", "126_minus-one_salsa_sticks", "140_MIDI-minus-one_bigband_sticks"],
}
# File order on purpose not time order, with a tie (chh before bd at 0.1 s).
ENST_ROWS = [
    (0.5, "sd"), (0.1, "chh"), (0.1, "bd"), (0.3, "cr1"), (0.2, "sticks"), (0.4, "cb"),
    (0.45, "rc3"), (0.35, "lmt"), (0.15, "sweep"), (0.6, "ohh"), (0.62, "cs"), (0.64, "spl2"),
    (0.66, "ch5"), (0.68, "mtr"), (0.7, "sd-"), (0.72, "c4"), (0.74, "lft"),
]
ENST_EXPECTED = [
    (0.1, "KD"), (0.1, "HH"), (0.3, "CY"), (0.35, "TT"), (0.45, "CY"), (0.5, "SD"), (0.6, "HH"),
    (0.62, "SD"), (0.64, "CY"), (0.66, "CY"), (0.68, "TT"), (0.7, "SD"), (0.72, "CY"), (0.74, "TT"),
]


def write_enst_annotation(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{t:.10f} {label}\n" for t, label in rows))


def build_enst(base: Path) -> Path:
    """ENST-drums-public/ under base, with minus-one tracks, a solo track and extra mics."""
    root = base / "ENST-drums-public"
    seed = 0
    for drummer, names in ENST_MINUS_ONE.items():
        d = root / f"drummer_{drummer}"
        for name in names:
            seed += 1
            write_enst_annotation(d / "annotation" / f"{name}.txt", ENST_ROWS)
            write_wav(d / "audio" / "wet_mix" / f"{name}.wav", seed)
            # The band runs a little longer than the drums, as real stems may.
            write_wav(d / "audio" / "accompaniment" / f"{name}.wav", seed + 100, seconds=0.31)
            write_wav(d / "audio" / "dry_mix" / f"{name}.wav", seed + 200)
            write_wav(d / "audio" / "overhead_L" / f"{name}.wav", seed + 300)
        # Tracks without accompaniment are not part of the minus-one subset.
        solo = "001_hits_snare-drum_sticks_x6"
        write_enst_annotation(d / "annotation" / f"{solo}.txt", [(0.1, "sd")])
        write_wav(d / "audio" / "wet_mix" / f"{solo}.wav", 999)
    return root


@pytest.fixture
def enst_root(tmp_path):
    return build_enst(tmp_path)


def by_name(tracks):
    return {t.name: t for t in tracks}


def test_enst_minus_one_tracks_and_splits(enst_root):
    tracks = enst.load(enst_root)
    splits = {t.name: t.split for t in tracks}
    assert splits == {
        "drummer_1/107_minus-one_salsa_sticks": "train",
        "drummer_1/121_MIDI-minus-one_bigband_brushes": "train",
        "drummer_1/137_MIDI-minus-one_rock'n'roll-188_sticks": "train",
        "drummer_2/115_minus-one_salsa_sticks": "train",
        "drummer_2/130_MIDI-minus-one_bigband_sticks": "train",
        # drummer 3 in sorted order: alternately validation and test
        "drummer_3/126_minus-one_salsa_sticks": "validation",
        "drummer_3/140_MIDI-minus-one_bigband_sticks": "test",
        "drummer_3/162_MIDI-minus-one_fusion-125_sticks": "validation",
    }
    assert all(t.dataset == "enst" for t in tracks)


def test_enst_drummer_3_halves():
    assert [enst.split_of(3, i, 4) for i in range(4)] == ["validation", "test", "validation", "test"]
    assert [enst.split_of(3, i, 21) for i in range(21)].count("validation") == 11
    assert {enst.split_of(d, 0, 5) for d in (1, 2)} == {"train"}


def test_enst_events_mapped_and_sorted(enst_root):
    for track in enst.load(enst_root):
        assert [(e.time, e.drum) for e in track.events] == ENST_EXPECTED
        assert all(e.velocity == 100 for e in track.events)


def test_enst_audio_files_and_gains(enst_root):
    track = by_name(enst.load(enst_root))["drummer_2/115_minus-one_salsa_sticks"]
    d = enst_root / "drummer_2" / "audio"
    assert track.audio == (d / "wet_mix" / "115_minus-one_salsa_sticks.wav",
                           d / "accompaniment" / "115_minus-one_salsa_sticks.wav")
    assert track.gains == pytest.approx((2 / 3, 1 / 3))


def test_enst_mix_is_the_weighted_sum_of_its_files(enst_root):
    track = by_name(enst.load(enst_root))["drummer_1/107_minus-one_salsa_sticks"]
    mix, rate = track.load_audio()
    wet, _ = sf.read(track.audio[0], dtype="float32")
    acc, _ = sf.read(track.audio[1], dtype="float32")
    assert rate == SR and len(acc) > len(wet) and len(mix) == len(acc)
    expected = 2 / 3 * np.pad(wet, (0, len(acc) - len(wet))) + 1 / 3 * acc
    np.testing.assert_allclose(mix, expected, atol=1e-6)


def test_enst_root_may_be_the_folder_above(enst_root):
    assert [t.name for t in enst.load(enst_root.parent)] == [t.name for t in enst.load(enst_root)]


@pytest.mark.parametrize("relative, what", [
    ("annotation/126_minus-one_salsa_sticks.txt", "missing annotation"),
    ("audio/accompaniment/126_minus-one_salsa_sticks.wav", "missing accompaniment"),
    ("audio/wet_mix/126_minus-one_salsa_sticks.wav", "missing wet mix"),
])
def test_enst_missing_file_names_dataset_and_file(enst_root, relative, what):
    path = enst_root / "drummer_3" / relative
    path.unlink()
    with pytest.raises(DatasetError) as err:
        enst.load(enst_root)
    assert err.value.dataset == "enst"
    assert err.value.path == str(path)
    assert what in str(err.value)


def test_enst_missing_drummers_are_left_out(enst_root):
    shutil.rmtree(enst_root / "drummer_2")
    names = [t.name for t in enst.load(enst_root)]
    assert names and not any(n.startswith("drummer_2/") for n in names)
    assert {n.split("/")[0] for n in names} == {"drummer_1", "drummer_3"}


def test_enst_without_any_drummer_is_an_error(tmp_path):
    (tmp_path / "ENST-drums-public").mkdir()
    with pytest.raises(DatasetError, match="drummer_1, drummer_2 or drummer_3 folders; found none"):
        enst.load(tmp_path)


def test_enst_drummer_without_minus_one_tracks_is_left_out(enst_root):
    for p in (enst_root / "drummer_3").rglob("*minus-one*"):
        p.unlink()
    assert not any(t.name.startswith("drummer_3/") for t in enst.load(enst_root))


def test_enst_selection_without_tracks_is_an_error(enst_root):
    with pytest.raises(DatasetError, match="phrase tracks .* found none"):
        enst.load(enst_root, "enst-phrases")


def build_enst_dev(base: Path) -> Path:
    """The development copy's layout: FLAC audio, phrases for drummers 1 and 2, minus-one
    tracks with accompaniment for drummer 2 only, no drummer 3."""
    root = base / "ENST-drums-public"
    phrases = {1: ["036_phrase_disco_simple_slow_sticks", "042_phrase_rock_simple_slow_rods",
                   "050_phrase_afro_simple_slow_sticks"],
               2: ["038_phrase_disco_simple_slow_sticks", "045_phrase_rock_simple_medium_sticks",
                   "054_phrase_afro_complex_medium_sticks", "099_phrase_country_simple_slow_brushes"]}
    minus_one = {2: ["130_MIDI-minus-one_bigband_sticks", "132_MIDI-minus-one_blues-102_sticks",
                     "134_MIDI-minus-one_country-120_sticks"]}
    seed = 0
    for drummer, names in phrases.items():
        for name in names + minus_one.get(drummer, []):
            seed += 1
            d = root / f"drummer_{drummer}"
            write_enst_annotation(d / "annotation" / f"{name}.txt", ENST_ROWS)
            write_wav(d / "audio" / "wet_mix" / f"{name}.flac", seed)
            if "minus-one" in name:
                write_wav(d / "audio" / "accompaniment" / f"{name}.flac", seed + 100)
    return root


def test_enst_reads_flac_phrases_and_splits_by_drummer(tmp_path):
    root = build_enst_dev(tmp_path)
    tracks = by_name(enst.load(root, "enst-all-d1"))
    assert {n: t.split for n, t in tracks.items() if n.startswith("drummer_1/")} == dict.fromkeys(
        ["drummer_1/036_phrase_disco_simple_slow_sticks", "drummer_1/042_phrase_rock_simple_slow_rods",
         "drummer_1/050_phrase_afro_simple_slow_sticks"], "train")
    # drummer 2's tracks alternate validation / test within each kind, in sorted order
    assert {n: t.split for n, t in tracks.items() if n.startswith("drummer_2/")} == {
        "drummer_2/038_phrase_disco_simple_slow_sticks": "validation",
        "drummer_2/045_phrase_rock_simple_medium_sticks": "test",
        "drummer_2/054_phrase_afro_complex_medium_sticks": "validation",
        "drummer_2/099_phrase_country_simple_slow_brushes": "test",
        "drummer_2/130_MIDI-minus-one_bigband_sticks": "validation",
        "drummer_2/132_MIDI-minus-one_blues-102_sticks": "test",
        "drummer_2/134_MIDI-minus-one_country-120_sticks": "validation",
    }
    phrase = tracks["drummer_1/036_phrase_disco_simple_slow_sticks"]
    assert phrase.audio == (root / "drummer_1/audio/wet_mix/036_phrase_disco_simple_slow_sticks.flac",)
    assert phrase.gains == (1.0,) and phrase.meta["kind"] == "phrase"
    mix, rate = phrase.load_audio()
    assert rate == SR and len(mix) == int(0.3 * SR)
    band = tracks["drummer_2/130_MIDI-minus-one_bigband_sticks"]
    assert [p.suffix for p in band.audio] == [".flac", ".flac"] and band.gains == pytest.approx((2 / 3, 1 / 3))


def test_enst_selections_are_consistent(tmp_path):
    root = build_enst_dev(tmp_path)

    def splits(name):
        return {t.name: t.split for t in enst.load(root, name)}

    both = splits("enst-all-d1")
    assert both == {**splits("enst-phrases-d1"), **splits("enst-minus-one-d1")}
    assert set(splits("enst-phrases-d1")).isdisjoint(splits("enst-minus-one-d1"))
    reverse = splits("enst-all-d2")
    assert {n for n, s in reverse.items() if s == "train"} == {n for n in both if n.startswith("drummer_2/")}
    assert {s for n, s in reverse.items() if n.startswith("drummer_1/")} == {"validation", "test"}
    # the study's name keeps its meaning: minus-one tracks, drummers 1 and 2 train
    assert set(splits("enst").values()) == {"train"} and splits("enst") == splits("enst-minus-one")


@pytest.mark.parametrize("name", ["enst-d1", "enst-phrase-d1", "enst-all-d4", "enst-all-", "enstx"])
def test_enst_unknown_selection_names(tmp_path, name):
    assert not datasets.known(name) or name == "enst-d1"
    if name == "enst-d1":  # the minus-one tracks with drummer 1 training: a valid name
        assert datasets.known(name)
        return
    with pytest.raises(ValueError, match="unknown"):
        datasets.load(name, build_enst_dev(tmp_path))


@pytest.mark.data
def test_enst_dev_copy_in_shared_data_checks():
    """The real development copy (../shared/data/enst-drums-dev), where it is present."""
    root = Path(__file__).resolve().parents[2] / "shared" / "data" / "enst-drums-dev"
    if not root.is_dir():
        pytest.skip(f"{root} not present")
    tracks = enst.load(root, "enst-all-d1")
    counts = {s: sum(t.split == s for t in tracks) for s in ("train", "validation", "test")}
    assert counts["train"] == 27 and counts["validation"] + counts["test"] == 56
    assert all(p.is_file() for t in tracks for p in t.audio)


def test_enst_unknown_labels_all_reported_with_file(enst_root):
    path = enst_root / "drummer_2" / "annotation" / "130_MIDI-minus-one_bigband_sticks.txt"
    write_enst_annotation(path, [(0.1, "bd"), (0.2, "xx"), (0.3, "bd2"), (0.4, "xx"), (0.5, "chh1")])
    with pytest.raises(DatasetError) as err:
        enst.load(enst_root)
    message = str(err.value)
    assert err.value.path == str(path)
    assert "'xx' (2x)" in message and "'bd2' (1x)" in message and "'chh1' (1x)" in message
    assert "ENST-Drums" in message and "'bd'" not in message


def test_enst_malformed_line_names_file_and_line(enst_root):
    path = enst_root / "drummer_1" / "annotation" / "107_minus-one_salsa_sticks.txt"
    path.write_text("0.1 bd\n\n0.2 sd extra\n")
    with pytest.raises(DatasetError, match=r"107_minus-one_salsa_sticks\.txt: line 3"):
        enst.load(enst_root)


# ---------------------------------------------------------------- MDB-Drums fixture

# (time, class, subclass) in the order the class file lists them; the subclass file lists
# strokes of one instant in another order, as the real files sometimes do.
MDB_ROWS = {
    "MusicDelta_CoolJazz": [(0.49, "SD", "SDB"), (0.67, "SD", "SDB"), (0.67, "HH", "PHH"),
                            (1.159546, "KD", "KD"), (1.16, "CY", "CRC"), (1.3, "CY", "RDC")],
    "MusicDelta_Punk": [(0.02, "CY", "CRC"), (0.022449, "SD", "SD"), (0.23, "KD", "KD"),
                        (0.3, "HH", "OHH"), (0.4, "TT", "HIT"), (0.5, "TT", "MHT"), (0.6, "TT", "HFT")],
    "MusicDelta_Reggae": [(0.04, "CY", "CHC"), (0.055147, "KD", "KD"), (0.94, "HH", "CHH"),
                          (1.15, "OT", "SST"), (1.2, "OT", "TMB"), (1.3, "SD", "SDNS"), (1.4, "SD", "SDG")],
    "MusicDelta_Country1": [(0.1, "SD", "SDF"), (0.2, "SD", "SDD"), (0.3, "TT", "LFT"),
                            (0.4, "CY", "RDB"), (0.5, "CY", "SPC"), (0.5, "KD", "KD")],
}
MDB_EXPECTED = {
    "MusicDelta_CoolJazz": [(0.49, "SD"), (0.67, "SD"), (0.67, "HH"), (1.159546, "KD"), (1.16, "CY"), (1.3, "CY")],
    "MusicDelta_Punk": [(0.02, "CY"), (0.022449, "SD"), (0.23, "KD"), (0.3, "HH"), (0.4, "TT"), (0.5, "TT"),
                        (0.6, "TT")],
    # side stick (OT/SST) is SD; the tambourine (OT/TMB) is not transcribed
    "MusicDelta_Reggae": [(0.04, "CY"), (0.055147, "KD"), (0.94, "HH"), (1.15, "SD"), (1.3, "SD"), (1.4, "SD")],
    "MusicDelta_Country1": [(0.1, "SD"), (0.2, "SD"), (0.3, "TT"), (0.4, "CY"), (0.5, "KD"), (0.5, "CY")],
}


def write_mdb_annotation(path: Path, rows) -> None:
    """The format of the real files: six decimals, a tab with a space either side, a space."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{t:.6f} \t {label} \n" for t, label in rows))


def write_mdb_song(data: Path, song: str, rows, seed: int) -> None:
    write_wav(data / "audio" / "full_mix" / f"{song}_MIX.wav", seed, channels=2)
    write_wav(data / "audio" / "drum_only" / f"{song}_Drum.wav", seed + 50)
    write_mdb_annotation(data / "annotations" / "class" / f"{song}_class.txt", [(t, c) for t, c, _ in rows])
    # Strokes of one instant are listed in reverse in the subclass file.
    by_time = sorted(rows, key=lambda r: r[0])
    reordered = []
    for t in dict.fromkeys(r[0] for r in by_time):
        reordered += [r for r in by_time if r[0] == t][::-1]
    write_mdb_annotation(data / "annotations" / "subclass" / f"{song}_subclass.txt", [(t, s) for t, _, s in reordered])


def build_mdb(base: Path) -> Path:
    """A checkout of the MDBDrums repository under base; returns its "MDB Drums" folder."""
    data = base / "MDBDrums" / "MDB Drums"
    for seed, (song, rows) in enumerate(MDB_ROWS.items()):
        write_mdb_song(data, song, rows, seed)
    return data


@pytest.fixture
def mdb_root(tmp_path):
    return build_mdb(tmp_path)


def test_mdb_tracks_splits_and_genres(mdb_root):
    tracks = mdb.load(mdb_root)
    assert {t.name: (t.meta["genre"], t.split) for t in tracks} == {
        "MusicDelta_CoolJazz": ("jazz", "train"),
        "MusicDelta_Punk": ("rock", "validation"),
        "MusicDelta_Reggae": ("pop", "validation"),
        "MusicDelta_Country1": ("pop", "test"),
    }


def test_mdb_events_mapped_and_sorted(mdb_root):
    for track in mdb.load(mdb_root):
        assert [(e.time, e.drum) for e in track.events] == MDB_EXPECTED[track.name], track.name


def test_mdb_full_mix_with_unit_gain(mdb_root):
    track = by_name(mdb.load(mdb_root))["MusicDelta_Punk"]
    assert track.audio == (mdb_root / "audio" / "full_mix" / "MusicDelta_Punk_MIX.wav",)
    assert track.gains == (1.0,)
    mix, rate = track.load_audio()
    stereo, _ = sf.read(track.audio[0], dtype="float32")
    assert rate == SR
    np.testing.assert_allclose(mix, stereo.mean(axis=1), atol=1e-6)


def test_mdb_root_may_be_the_repository_checkout(mdb_root):
    assert [t.name for t in mdb.load(mdb_root.parent)] == [t.name for t in mdb.load(mdb_root)]


def test_mdb_split_table_covers_the_23_songs_once():
    listed = [style for splits in mdb.SPLIT_BY_GENRE.values() for styles in splits.values() for style in styles]
    real = ["80sRock", "Beatles", "BebopJazz", "Britpop", "CoolJazz", "Country1", "Disco", "FreeJazz",
            "FunkJazz", "FusionJazz", "Gospel", "Grunge", "Hendrix", "LatinJazz", "ModalJazz", "Punk",
            "Reggae", "Rock", "Rockabilly", "Shadows", "SpeedMetal", "SwingJazz", "Zeppelin"]
    assert sorted(listed) == sorted(real) and len(listed) == 23
    assert set(mdb.SONGS) == {f"MusicDelta_{s}" for s in real}


def test_mdb_validation_and_test_genres_are_seen_in_training():
    for genre, splits in mdb.SPLIT_BY_GENRE.items():
        assert set(splits) == {"train", "validation", "test"}, genre
        assert all(splits[s] for s in splits), genre
        assert len(splits["train"]) >= len(splits["validation"]) + len(splits["test"]), genre
    counts = {s: sum(1 for _, split in mdb.SONGS.values() if split == s) for s in ("train", "validation", "test")}
    assert counts == {"train": 13, "validation": 5, "test": 5}


def test_mdb_onset_count_mismatch_is_reported(mdb_root):
    path = mdb_root / "annotations" / "subclass" / "MusicDelta_Punk_subclass.txt"
    rows = [(t, s) for t, _, s in MDB_ROWS["MusicDelta_Punk"]]
    write_mdb_annotation(path, rows[:-1])
    with pytest.raises(DatasetError) as err:
        mdb.load(mdb_root)
    assert err.value.path == str(path)
    assert "MusicDelta_Punk_class.txt" in str(err.value) and "6 here, 7 there" in str(err.value)


def test_mdb_class_subclass_disagreement_is_reported(mdb_root):
    path = mdb_root / "annotations" / "subclass" / "MusicDelta_Punk_subclass.txt"
    rows = [(t, s) for t, _, s in MDB_ROWS["MusicDelta_Punk"]]
    rows[2] = (rows[2][0], "CHH")  # the kick at 0.23 s called a hi-hat
    write_mdb_annotation(path, rows)
    with pytest.raises(DatasetError, match=r"1 differ, 0\.230000 s KD vs 0\.230000 s CHH") as err:
        mdb.load(mdb_root)
    assert err.value.path == str(path)


def test_mdb_time_disagreement_is_reported(mdb_root):
    path = mdb_root / "annotations" / "subclass" / "MusicDelta_Country1_subclass.txt"
    rows = [(t + (0.01 if s == "LFT" else 0.0), s) for t, _, s in MDB_ROWS["MusicDelta_Country1"]]
    write_mdb_annotation(path, rows)
    with pytest.raises(DatasetError, match=r"0\.300000 s TT vs 0\.310000 s LFT"):
        mdb.load(mdb_root)


@pytest.mark.parametrize("folder, suffix, label_set", [
    ("class", "class", "MDB-Drums class"),
    ("subclass", "subclass", "MDB-Drums subclass"),
])
def test_mdb_unknown_labels_all_reported_with_file(mdb_root, folder, suffix, label_set):
    path = mdb_root / "annotations" / folder / f"MusicDelta_Reggae_{suffix}.txt"
    write_mdb_annotation(path, [(0.1, "KD"), (0.2, "XX"), (0.3, "kd"), (0.4, "XX")])
    with pytest.raises(DatasetError) as err:
        mdb.load(mdb_root)
    assert err.value.path == str(path)
    assert label_set in str(err.value)
    assert "'XX' (2x)" in str(err.value) and "'kd' (1x)" in str(err.value)


@pytest.mark.parametrize("relative, what", [
    ("audio/full_mix/MusicDelta_Reggae_MIX.wav", "missing full mix"),
    ("annotations/class/MusicDelta_Reggae_class.txt", "missing class annotation"),
    ("annotations/subclass/MusicDelta_Reggae_subclass.txt", "missing subclass annotation"),
])
def test_mdb_missing_file_names_dataset_and_file(mdb_root, relative, what):
    path = mdb_root / relative
    path.unlink()
    with pytest.raises(DatasetError) as err:
        mdb.load(mdb_root)
    assert err.value.dataset == "mdb" and err.value.path == str(path) and what in str(err.value)


def test_mdb_song_outside_the_split_table_is_an_error(mdb_root):
    write_mdb_song(mdb_root, "MusicDelta_Polka", MDB_ROWS["MusicDelta_Punk"], 7)
    with pytest.raises(DatasetError, match="MusicDelta_Polka_class.txt: one of the 23"):
        mdb.load(mdb_root)


def test_mdb_empty_root_is_an_error(tmp_path):
    (tmp_path / "annotations").mkdir()
    with pytest.raises(DatasetError, match="found none"):
        mdb.load(tmp_path)


# ---------------------------------------------------------------- the registry and statistics

def test_registry_and_statistics(enst_root, mdb_root):
    tracks = datasets.load("enst", enst_root)
    assert [t.name for t in tracks] == [t.name for t in enst.load(enst_root)]
    stats = statistics(tracks)
    assert {s: v["tracks"] for s, v in stats.items()} == {"train": 5, "validation": 2, "test": 1}
    per_track = {c: sum(1 for _, d in ENST_EXPECTED if d == c) for c in CLASSES}
    assert stats["test"]["onsets"] == per_track and stats["validation"]["onsets"] == {c: 2 * n for c, n in per_track.items()}
    assert stats["train"]["hours"] == pytest.approx(5 * 0.31 / 3600, abs=1e-4)

    tracks = datasets.load("mdb", mdb_root)
    stats = statistics(tracks)
    assert {s: v["tracks"] for s, v in stats.items()} == {"train": 1, "validation": 2, "test": 1}
    assert stats["validation"]["onsets"] == {"KD": 2, "SD": 4, "TT": 3, "HH": 2, "CY": 2}
    assert stats["test"]["hours"] == pytest.approx(0.3 / 3600, abs=1e-4)


# ---------------------------------------------------------------- the label tables, label by label

ENST_TABLE = {
    "bd": "KD",
    "sd": "SD", "sd-": "SD", "rs": "SD", "cs": "SD",
    "chh": "HH", "ohh": "HH",
    "lmt": "TT", "mt": "TT", "mtr": "TT", "lt": "TT", "ltr": "TT", "lft": "TT",
    "c": "CY", "cr": "CY", "rc": "CY", "ch": "CY", "spl": "CY",
    "cb": None, "sticks": None, "sweep": None,
}
# The numbered cymbals met in the real annotations, and numbers the rule must take as well.
ENST_NUMBERED = ["c1", "c4", "cr1", "cr2", "cr5", "rc1", "rc2", "rc3", "rc4", "ch1", "ch5", "spl2", "cr10"]
ENST_UNKNOWN = ["", "BD", "bd2", "chh1", "sd1", "lt3", "cb2", "sticks1", "cr-", "crash", "c1a", "x", " bd", "1"]


@pytest.mark.parametrize("label, expected", sorted(ENST_TABLE.items()))
def test_enst_label(label, expected):
    assert labels.enst_label_to_class(label) == expected


@pytest.mark.parametrize("label", ENST_NUMBERED)
def test_enst_numbered_cymbal(label):
    assert labels.enst_label_to_class(label) == "CY"


@pytest.mark.parametrize("label", ENST_UNKNOWN)
def test_enst_unknown_label(label):
    with pytest.raises(UnknownLabelError, match=f"ENST-Drums: unknown label {label!r}"):
        labels.enst_label_to_class(label)


def test_enst_table_is_the_documented_one():
    assert labels.ENST_LABELS == ENST_TABLE
    assert set(labels.ENST_NUMBERED_CYMBALS) == {"c", "cr", "rc", "ch", "spl"}


MDB_CLASS_TABLE = {"KD": "KD", "SD": "SD", "HH": "HH", "TT": "TT", "CY": "CY", "OT": None}
MDB_SUBCLASS_TABLE = {  # label: (class of ours, MDB class)
    "KD": ("KD", "KD"),
    "SD": ("SD", "SD"), "SDB": ("SD", "SD"), "SDD": ("SD", "SD"), "SDF": ("SD", "SD"), "SDG": ("SD", "SD"),
    "SDNS": ("SD", "SD"),
    "CHH": ("HH", "HH"), "OHH": ("HH", "HH"), "PHH": ("HH", "HH"),
    "HIT": ("TT", "TT"), "MHT": ("TT", "TT"), "HFT": ("TT", "TT"), "LFT": ("TT", "TT"),
    "RDC": ("CY", "CY"), "RDB": ("CY", "CY"), "CRC": ("CY", "CY"), "CHC": ("CY", "CY"), "SPC": ("CY", "CY"),
    "SST": ("SD", "OT"), "TMB": (None, "OT"),
}


@pytest.mark.parametrize("label, expected", sorted(MDB_CLASS_TABLE.items()))
def test_mdb_class_label(label, expected):
    assert labels.mdb_class_to_class(label) == expected


@pytest.mark.parametrize("label, expected", sorted(MDB_SUBCLASS_TABLE.items()))
def test_mdb_subclass_label(label, expected):
    ours, parent = expected
    assert labels.mdb_subclass_to_class(label) == ours
    assert labels.mdb_subclass_parent(label) == parent


def test_mdb_tables_are_the_documented_ones():
    assert labels.MDB_CLASS_LABELS == MDB_CLASS_TABLE
    assert len(MDB_SUBCLASS_TABLE) == 21  # the 21 subclasses of the MDB-Drums README
    assert labels.MDB_SUBCLASS_LABELS == {k: v[0] for k, v in MDB_SUBCLASS_TABLE.items()}
    assert labels.MDB_SUBCLASS_PARENT == {k: v[1] for k, v in MDB_SUBCLASS_TABLE.items()}
    # a subclass maps like its class wherever that class is one of ours
    for label, (ours, parent) in MDB_SUBCLASS_TABLE.items():
        if MDB_CLASS_TABLE[parent] is not None:
            assert ours == MDB_CLASS_TABLE[parent], label


@pytest.mark.parametrize("function, label_set, label", [
    (labels.mdb_class_to_class, "MDB-Drums class", "kd"),
    (labels.mdb_class_to_class, "MDB-Drums class", "SST"),
    (labels.mdb_subclass_to_class, "MDB-Drums subclass", "OT"),
    (labels.mdb_subclass_to_class, "MDB-Drums subclass", "sd"),
    (labels.mdb_subclass_parent, "MDB-Drums subclass", "XX"),
])
def test_mdb_unknown_label(function, label_set, label):
    with pytest.raises(UnknownLabelError, match=f"{label_set}: unknown label {label!r}"):
        function(label)


def test_midi_notes_delegate_to_the_runtime_table(monkeypatch):
    for note, drum in drums.GM_NOTE_TO_CLASS.items():
        assert labels.midi_note_to_class(note) == drum
    assert labels.midi_note_to_class(22) == "HH" and labels.midi_note_to_class(58) == "TT"  # TD-11 extras
    with pytest.raises(UnknownLabelError, match="MIDI note 12"):
        labels.midi_note_to_class(12)
    # Not a copy: a change to rtadt.drums' table is seen here.
    monkeypatch.setitem(drums.GM_NOTE_TO_CLASS, 12, "KD")
    monkeypatch.setitem(drums.GM_NOTE_TO_CLASS, 36, "SD")
    assert labels.midi_note_to_class(12) == "KD" and labels.midi_note_to_class(36) == "SD"


def test_map_labels_collects_every_unknown_label():
    classes, unknown = labels.map_labels(["bd", "zz", "cb", "zz", "q1"], labels.enst_label_to_class)
    assert classes == ["KD", None, None, None, None]
    assert dict(unknown) == {"zz": 2, "q1": 1}
    classes, unknown = labels.map_labels([36, 49, 54], labels.midi_note_to_class)
    assert classes == ["KD", "CY", None] and not unknown


def test_require_known_names_file_and_labels(tmp_path):
    path = tmp_path / "x.txt"
    assert labels.require_known("enst", path, ["bd", "sd"], labels.enst_label_to_class, labels.ENST) == ["KD", "SD"]
    with pytest.raises(DatasetError) as err:
        labels.require_known("enst", path, ["bd", "zz", "aa"], labels.enst_label_to_class, labels.ENST)
    assert str(err.value) == f"enst: {path}: only known ENST-Drums labels; unknown: 'aa' (1x), 'zz' (1x)"


@pytest.mark.parametrize("text, line", [("0.1 bd\nbd\n", 2), ("-0.1 bd\n", 1), ("nan bd\n", 1), ("x bd\n", 1)])
def test_read_time_labels_rejects_malformed_lines(tmp_path, text, line):
    path = tmp_path / "a.txt"
    path.write_text(text)
    with pytest.raises(DatasetError, match=f"line {line}:"):
        labels.read_time_labels("enst", path)


def test_read_time_labels_reads_both_formats(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("0.020000 \t CY \n\n0.5 sd\n")
    assert labels.read_time_labels("mdb", path) == [(0.02, "CY"), (0.5, "sd")]
