"""ADTOF-YT loader, on fixtures in the layout the ADTOF tools write (offline.datasets.adtof)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import soundfile as sf

import offline.datasets as datasets
from offline.datasets import adtof
from offline.datasets.base import SPLITS, DatasetError

RATE = 44100

TRACKS = {  # name -> annotation text, as written by the ADTOF cleansing (time TAB reduced pitch)
    "Band A - First Song": "0.50\t35\n0.50\t42\n0.75\t42\n1.00\t38\n1.00\t42\n1.25\t47\n1.50\t49\n",
    "Band A - Second Song": "0.20\t35\n0.40\t38\n",
    "The Other Band - Track": "0.1\t35\n0.3\t46\n0.6\t51\n",  # 7-class build: open hi-hat, ride
    "Third - Names": "0.25\tBD\n0.5\tSD\n0.75\tTT\n1.0\tHH\n1.25\tCY+RD\n",  # the authors' class names
}


def write_audio(path, seconds=1.6, rate=RATE):
    rng = np.random.default_rng(len(path.name))
    x = (0.1 * rng.standard_normal(int(seconds * rate))).astype(np.float32)
    if path.suffix == ".ogg":
        sf.write(path, x, rate, format="OGG", subtype="VORBIS")
    else:
        sf.write(path, x, rate)


def make_dataset(root, tracks=TRACKS, audio_ext=".ogg"):
    """``root/adtofParsedYT`` with audio/audio and annotations/aligned_drum."""
    folder = root / "adtofParsedYT"
    (folder / "audio" / "audio").mkdir(parents=True)
    (folder / "annotations" / "aligned_drum").mkdir(parents=True)
    for name, text in tracks.items():
        write_audio(folder / "audio" / "audio" / f"{name}{audio_ext}")
        (folder / "annotations" / "aligned_drum" / f"{name}.txt").write_text(text)
    return folder


def test_loads_the_authors_layout(tmp_path):
    folder = make_dataset(tmp_path)
    tracks = adtof.load(tmp_path)
    assert [t.name for t in tracks] == sorted(TRACKS)
    assert adtof.load(folder) == tracks  # the folder itself works as root too
    first = {t.name: t for t in tracks}["Band A - First Song"]
    assert first.dataset == "adtof"
    assert first.audio == (folder / "audio" / "audio" / "Band A - First Song.ogg",)
    assert [(e.time, e.drum) for e in first.events] == [
        (0.5, "KD"), (0.5, "HH"), (0.75, "HH"), (1.0, "SD"), (1.0, "HH"), (1.25, "TT"), (1.5, "CY")]
    assert all(e.velocity == 100 for e in first.events)  # ADTOF annotates no velocity
    assert first.meta["band"] == "band a" and first.meta["annotated_span"] == (0.5, 1.5)
    other = {t.name: t for t in tracks}["The Other Band - Track"]
    assert [e.drum for e in other.events] == ["KD", "HH", "CY"]
    names = {t.name: t for t in tracks}["Third - Names"]
    assert [e.drum for e in names.events] == ["KD", "SD", "TT", "HH", "CY"]
    audio, rate = first.load_audio()
    assert rate == RATE and audio.dtype == np.float32 and len(audio) == int(1.6 * RATE)


def test_registry_loads_it(tmp_path):
    make_dataset(tmp_path)
    assert [t.name for t in datasets.load("adtof", tmp_path)] == sorted(TRACKS)


def test_splits_are_band_disjoint_and_stable(tmp_path):
    make_dataset(tmp_path)
    tracks = adtof.load(tmp_path)
    by_band = {}
    for t in tracks:
        assert t.split in SPLITS
        assert t.split == adtof.band_split(t.name)
        by_band.setdefault(t.meta["band"], set()).add(t.split)
    assert all(len(s) == 1 for s in by_band.values())
    # the protocol: 10 folds, one for test, one for validation, eight for training
    names = [f"Band {i} - Song" for i in range(4000)]
    counts = {s: sum(adtof.band_split(n) == s for n in names) / len(names) for s in SPLITS}
    assert counts["train"] == pytest.approx(0.8, abs=0.03)
    assert counts["validation"] == pytest.approx(0.1, abs=0.02)
    assert counts["test"] == pytest.approx(0.1, abs=0.02)
    assert adtof.band_split("band 7 - other title") == adtof.band_split("Band 7 - Song")  # case-blind band


def test_split_folder_overrides(tmp_path):
    folder = make_dataset(tmp_path)
    (folder / "split").mkdir()
    names = sorted(TRACKS)
    (folder / "split" / "train.txt").write_text("\n".join(names[:2]) + "\n")
    (folder / "split" / "validation.txt").write_text(names[2] + "\n")
    (folder / "split" / "test.txt").write_text(names[3] + "\n\n")
    splits = {t.name: t.split for t in adtof.load(tmp_path)}
    assert splits == {names[0]: "train", names[1]: "train", names[2]: "validation", names[3]: "test"}
    (folder / "split" / "test.txt").write_text("")
    with pytest.raises(DatasetError, match=f"{names[3]}.*test.txt"):
        adtof.load(tmp_path)
    (folder / "split" / "test.txt").write_text(names[0] + "\n" + names[3])
    with pytest.raises(DatasetError, match="one split only"):
        adtof.load(tmp_path)
    (folder / "split" / "test.txt").unlink()
    with pytest.raises(DatasetError, match="test.txt"):
        adtof.load(tmp_path)


def test_manual_substraction_removes_tracks(tmp_path):
    folder = make_dataset(tmp_path)
    (folder / "annotations" / "manual_substraction").write_text("Band A - Second Song\nNot In The Dataset\n")
    assert "Band A - Second Song" not in [t.name for t in adtof.load(tmp_path)]
    assert len(adtof.load(tmp_path)) == len(TRACKS) - 1


def test_drums_suffix_and_other_audio_formats(tmp_path):
    folder = make_dataset(tmp_path, {"X - Y": "0.1\t35\n"}, audio_ext=".wav")
    ann = folder / "annotations" / "aligned_drum"
    (ann / "X - Y.txt").rename(ann / "X - Y.drums.txt")
    [track] = adtof.load(tmp_path)
    assert track.name == "X - Y" and track.audio[0].suffix == ".wav"
    write_audio(folder / "audio" / "audio" / "X - Y.ogg")
    with pytest.raises(DatasetError, match="one audio file per track"):
        adtof.load(tmp_path)


def test_unpaired_files_warn_and_are_skipped(tmp_path):
    folder = make_dataset(tmp_path)
    (folder / "audio" / "audio" / "Band A - First Song.ogg").unlink()  # a YouTube video gone
    write_audio(folder / "audio" / "audio" / "Lonely - Audio.ogg")
    with pytest.warns(UserWarning) as record:
        tracks = adtof.load(tmp_path)
    text = " ".join(str(w.message) for w in record)
    assert "'Band A - First Song'" in text and "'Lonely - Audio'" in text
    assert len(tracks) == len(TRACKS) - 1


@pytest.mark.parametrize("line, message", [
    ("0.5", "line 2: 'onset-seconds label'"),
    ("0.5\t35\t0.8", "line 2: 'onset-seconds label'"),
    ("abc\t35", "line 2: 'onset-seconds label'"),
    ("-0.1\t35", "line 2: 'onset-seconds label'"),
    ("nan\t35", "line 2: 'onset-seconds label'"),
])
def test_bad_annotation_lines_name_file_and_line(tmp_path, line, message):
    make_dataset(tmp_path, {"B - T": f"0.1\t35\n{line}\n"})
    with pytest.raises(DatasetError, match=message) as err:
        adtof.load(tmp_path)
    assert err.value.dataset == "adtof"
    assert err.value.path.endswith("B - T.txt")


def test_unknown_labels_are_all_named(tmp_path):
    make_dataset(tmp_path, {"B - T": "0.1\t35\n0.2\t99\n0.3\tCOWBELLS\n0.4\t99\n0.5\t36.5\n"})
    with pytest.raises(DatasetError) as err:
        adtof.load(tmp_path)
    assert err.value.path.endswith("B - T.txt")
    for label in ("'99' (2x)", "'COWBELLS' (1x)", "'36.5' (1x)"):
        assert label in err.value.expected


def test_tolerated_annotation_forms(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("\n1.0 38\n0.5\t35\n2.0\t56\n3.0\tcy+rd\n")
    events = adtof.read_annotation(path)
    # space-separated, blank line, non-kit percussion (56 cowbell) left out, names in any case, sorted
    assert [(e.time, e.drum) for e in events] == [(0.5, "KD"), (1.0, "SD"), (3.0, "CY")]


def test_missing_or_wrong_layout_says_what_it_expected(tmp_path):
    with pytest.raises(DatasetError, match="existing folder"):
        adtof.load(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="audio/audio/<name>.ogg and annotations/aligned_drum/<name>.txt"):
        adtof.load(tmp_path / "empty")
    zenodo = tmp_path / "zenodo"
    for name in ("adtof_yt_train", "adtof_yt_validation", "adtof_yt_test"):
        (zenodo / name).mkdir(parents=True)
    with pytest.raises(DatasetError, match="Zenodo copy"):
        adtof.load(zenodo)
    half = tmp_path / "half"
    (half / "annotations" / "aligned_drum").mkdir(parents=True)
    with pytest.raises(DatasetError, match="a folder of audio files"):
        adtof.load(half)
    (half / "audio" / "audio").mkdir(parents=True)
    with pytest.raises(DatasetError, match="at least one track"):
        adtof.load(half)


def test_tracks_feed_the_segment_cache(tmp_path):
    from offline.datasets.segments import SegmentCache
    from rtadt.features import FeatureConfig

    make_dataset(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tracks = adtof.load(tmp_path)
    cache = SegmentCache.build(tracks, FeatureConfig(), tmp_path / "cache", 0.0, progress=False)
    assert len(cache) == len(TRACKS)
    assert cache.class_frequencies().sum() == sum(len(t.events) for t in tracks)
