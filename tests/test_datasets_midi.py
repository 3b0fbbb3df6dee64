"""MIDI-labelled datasets: MIDI to events, and the E-GMD, Slakh2100 and SADTP loaders.

Each loader is proven on fixtures built here in the exact on-disk layout of its distribution
(tiny synthetic audio, MIDI written with mido), and the Slakh loader also on the real sample
of both its layouts in shared/data/format-samples (read-only; copied where a test changes it).
"""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf
import yaml

from offline.datasets import DatasetError, load, statistics
from offline.datasets import egmd, sadtp, slakh
from offline.datasets.midi import EventCache, merge_events, midi_events, read_midi
from rtadt.drums import CLASSES, Event

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "format-samples" / "slakh-mirdata"
if not SAMPLES.is_dir():  # the worktree may sit elsewhere; the shared data lives at /work/shared
    SAMPLES = Path("/work/shared/data/format-samples/slakh-mirdata")
REDUX_SAMPLE = SAMPLES / "slakh2100_flac_redux"
BABY_SAMPLE = SAMPLES / "babyslakh_16k"

TPB = 480


# ---------------------------------------------------------------- fixture writers

def on(note, tick=0, vel=100, ch=9):
    """A note-on `tick` ticks after the previous message of its track."""
    return mido.Message("note_on", note=note, velocity=vel, channel=ch, time=tick)


def off(note, tick=0, ch=9):
    return mido.Message("note_off", note=note, velocity=0, channel=ch, time=tick)


def tempo(bpm, tick=0):
    return mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=tick)


def write_midi(path: Path, *tracks, type=1, tpb=TPB) -> Path:
    midi = mido.MidiFile(type=type, ticks_per_beat=tpb)
    for messages in tracks:
        midi.tracks.append(mido.MidiTrack(messages))
    path.parent.mkdir(parents=True, exist_ok=True)
    midi.save(path)
    return path


def beat_midi(path: Path, notes=(36, 38, 42), ch=9) -> Path:
    """One note per beat at 120 bpm: times 0.0, 0.5, 1.0, ..."""
    msgs = [tempo(120)]
    for i, n in enumerate(notes):
        msgs += [on(n, 0 if i == 0 else TPB - 10, ch=ch), off(n, 10, ch=ch)]
    return write_midi(path, msgs)


def write_audio(path: Path, seconds=0.25, rate=44100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate)
    return path


def times(events, drum=None):
    return [round(e.time, 6) for e in events if drum is None or e.drum == drum]


# ---------------------------------------------------------------- MIDI to events

def test_tempo_changes_in_the_conductor_track_apply_to_the_drum_track(tmp_path):
    # Track 0 holds the tempo map (120 bpm, then 60 bpm from beat 2), track 1 the notes.
    conductor = [tempo(120), tempo(60, tick=2 * TPB)]
    drums = [on(36), on(38, TPB), on(42, TPB), on(49, TPB)]
    path = write_midi(tmp_path / "t.mid", conductor, drums)
    events = midi_events("test", path)
    assert times(events) == [0.0, 0.5, 1.0, 2.0]  # the last beat lasts 1 s at 60 bpm
    assert [e.drum for e in events] == ["KD", "SD", "HH", "CY"]
    assert mido_note_times(path, {36, 38, 42, 49}) == times(events)  # mido's own clock agrees


def test_type2_tracks_keep_their_own_tempo(tmp_path):
    path = write_midi(tmp_path / "t2.mid", [tempo(60), on(36, TPB)], [tempo(120), on(38, TPB)], type=2)
    assert [(e.drum, round(e.time, 6)) for e in midi_events("test", path)] == [("SD", 0.5), ("KD", 1.0)]


def test_notes_of_several_tracks_are_merged_in_time_order(tmp_path):
    path = write_midi(tmp_path / "m.mid", [tempo(120)], [on(36, 0), on(36, 2 * TPB)], [on(42, TPB), on(42, 2 * TPB)])
    events = midi_events("test", path)
    assert [(e.drum, round(e.time, 6)) for e in events] == [("KD", 0.0), ("HH", 0.5), ("KD", 1.0), ("HH", 1.5)]


def test_channel_filter(tmp_path):
    path = write_midi(tmp_path / "c.mid", [on(36, ch=9), on(38, TPB, ch=0), on(42, TPB, ch=9)])
    assert [e.drum for e in midi_events("test", path, channel=9)] == ["KD", "HH"]
    assert [e.drum for e in midi_events("test", path)] == ["KD", "SD", "HH"]
    assert midi_events("test", path, channel=3) == ()


def test_velocity_zero_is_a_note_off_and_no_onset(tmp_path):
    path = write_midi(tmp_path / "v.mid", [on(36, vel=90), on(36, 10, vel=0), off(38, 10), on(38, TPB, vel=1)])
    events = midi_events("test", path)
    assert [(e.drum, e.velocity) for e in events] == [("KD", 90), ("SD", 1)]


def test_td11_extensions_and_non_kit_percussion(tmp_path):
    # TD-11 zones: hi-hat closed/open edge 22/26, cross-stick 37, snare rim 40, tom 3 rim 58,
    # crash edge 55, ride bell 53; cowbell 56 and tambourine 54 are known and not transcribed.
    notes = [22, 26, 37, 40, 58, 55, 53, 56, 54]
    msgs = [tempo(120)] + [on(n, 0 if i == 0 else TPB) for i, n in enumerate(notes)]
    msgs.insert(2, mido.Message("control_change", control=4, value=90, channel=9))  # hi-hat pedal
    msgs.insert(3, mido.Message("polytouch", note=55, value=127, channel=9))  # cymbal choke
    events = midi_events("test", write_midi(tmp_path / "td11.mid", msgs))
    assert [e.drum for e in events] == ["HH", "HH", "SD", "SD", "TT", "CY", "CY"]


def test_same_class_at_the_same_instant_is_one_onset(tmp_path):
    # a rimshot recorded as head (38) + rim (40): one SD onset, the louder velocity
    path = write_midi(tmp_path / "r.mid", [on(38, vel=110), on(40, vel=70), on(36, vel=50)])
    assert midi_events("test", path) == (Event(0.0, "KD", 50), Event(0.0, "SD", 110))
    a, b = (Event(1.0, "HH", 60), Event(0.5, "KD", 80)), (Event(1.0, "HH", 30), Event(1.0, "SD", 20))
    assert merge_events(a, b) == (Event(0.5, "KD", 80), Event(1.0, "SD", 20), Event(1.0, "HH", 60))


def test_unknown_notes_are_all_reported_with_the_file(tmp_path):
    path = write_midi(tmp_path / "odd.mid", [on(36), on(12, 10), on(12, 10), on(100, 10)])
    with pytest.raises(DatasetError) as err:
        midi_events("egmd", path)
    msg = str(err.value)
    assert msg.startswith("egmd: ") and str(path) in msg
    assert "12 (2 hits)" in msg and "100 (1 hit)" in msg


@pytest.mark.parametrize("content", [None, b"", b"MThd garbage", b"RIFF\x00\x00\x00\x00WAVE"])
def test_missing_or_corrupt_midi(tmp_path, content):
    path = tmp_path / "broken.mid"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DatasetError) as err:
        read_midi("slakh", path)
    assert err.value.dataset == "slakh" and err.value.path == str(path)


def test_event_cache_parses_identical_files_once_and_keeps_different_ones_apart(tmp_path):
    a = beat_midi(tmp_path / "a.midi", notes=(36, 38))
    b = tmp_path / "b.midi"
    b.write_bytes(a.read_bytes())
    c = beat_midi(tmp_path / "c.midi", notes=(42,))
    cache = EventCache("egmd")
    assert cache(a) is cache(b)
    assert [e.drum for e in cache(c)] == ["HH"]
    bad = write_midi(tmp_path / "bad.midi", [on(5)])
    bad_copy = tmp_path / "bad_copy.midi"
    bad_copy.write_bytes(bad.read_bytes())
    for p in (bad, bad_copy):  # a bad file is never cached: each error names its own file
        with pytest.raises(DatasetError, match=p.name):
            cache(p)


# ---------------------------------------------------------------- E-GMD

EGMD_HEADER = ["drummer", "session", "id", "style", "bpm", "beat_type", "time_signature", "duration",
               "split", "midi_filename", "audio_filename", "kit_name"]


def egmd_row(take, kit_no, kit, split, drummer="drummer1", session="session1", style="funk", bpm=80):
    stem = f"{drummer}/{session}/{take}_{style}_{bpm}_beat_4-4_{kit_no}"
    return dict(drummer=drummer, session=f"{drummer}/{session}", id=f"{drummer}/{session}/{take}",
                style=style, bpm=bpm, beat_type="beat", time_signature="4-4", duration="0.25", split=split,
                midi_filename=f"{stem}.midi", audio_filename=f"{stem}.wav", kit_name=kit)


def make_egmd(tmp_path, rows=None) -> Path:
    """e-gmd-v1.0.0/ as the zip unpacks: the CSV beside drummerN/sessionN/ folders."""
    root = tmp_path / "e-gmd-v1.0.0"
    rows = rows or [
        egmd_row(1, 1, "Acoustic Kit", "train"),
        egmd_row(1, 10, "JingleStacks (2nd Hi-Hat)", "train"),
        egmd_row(2, 1, "Acoustic Kit", "validation", style="rock", bpm=100),
        egmd_row(3, 1, "Acoustic Kit", "test", drummer="drummer5", session="eval_session", style="jazz"),
    ]
    for r in rows:
        beat_midi(root / r["midi_filename"], notes=(36, 42, 38, 26) if r["split"] == "test" else (36, 42, 38))
        write_audio(root / r["audio_filename"])
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "e-gmd-v1.0.0.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=EGMD_HEADER)
        w.writeheader()
        w.writerows(rows)
    return root


def test_egmd_tracks_splits_kits_and_events(tmp_path):
    root = make_egmd(tmp_path)
    tracks = egmd.load(root)
    assert [t.name for t in tracks] == [
        "drummer1/session1/1_funk_80_beat_4-4_1", "drummer1/session1/1_funk_80_beat_4-4_10",
        "drummer1/session1/2_rock_100_beat_4-4_1", "drummer5/eval_session/3_jazz_80_beat_4-4_1"]
    assert [t.split for t in tracks] == ["train", "train", "validation", "test"]
    assert [t.meta["kit_name"] for t in tracks[:2]] == ["Acoustic Kit", "JingleStacks (2nd Hi-Hat)"]
    assert tracks[0].meta["id"] == tracks[1].meta["id"] == "drummer1/session1/1"  # id repeats per kit
    assert tracks[0].audio == (root / "drummer1/session1/1_funk_80_beat_4-4_1.wav",)
    assert tracks[0].duration == 0.25
    assert [(e.drum, round(e.time, 6)) for e in tracks[0].events] == [("KD", 0.0), ("HH", 0.5), ("SD", 1.0)]
    assert [e.drum for e in tracks[3].events] == ["KD", "HH", "SD", "HH"]  # 26: TD open hi-hat edge
    # the parent of the unpacked folder works too, and so does the registry
    assert [t.name for t in load("egmd", tmp_path)] == [t.name for t in tracks]
    stats = statistics(tracks)
    assert stats["train"]["tracks"] == 2 and stats["test"]["onsets"]["HH"] == 2
    assert stats["validation"]["hours"] == round(0.25 / 3600, 4)


def test_egmd_missing_audio_and_corrupt_midi_name_the_file(tmp_path):
    root = make_egmd(tmp_path)
    wav = root / "drummer1/session1/2_rock_100_beat_4-4_1.wav"
    wav.unlink()
    with pytest.raises(DatasetError, match=r"^egmd: .*2_rock_100_beat_4-4_1\.wav: missing audio"):
        egmd.load(root)
    write_audio(wav)
    midi = root / "drummer1/session1/1_funk_80_beat_4-4_10.midi"
    midi.write_bytes(b"not a midi file")
    with pytest.raises(DatasetError, match=r"^egmd: .*1_funk_80_beat_4-4_10\.midi: a standard MIDI file"):
        egmd.load(root)
    write_midi(midi, [on(36), on(127, 10)])
    with pytest.raises(DatasetError, match=r"1_funk_80_beat_4-4_10\.midi: .*unknown MIDI notes 127"):
        egmd.load(root)


def test_egmd_bad_csv(tmp_path):
    with pytest.raises(DatasetError, match="e-gmd-v1.0.0.csv: missing metadata CSV"):
        egmd.load(tmp_path)
    root = make_egmd(tmp_path)
    path = root / "e-gmd-v1.0.0.csv"
    text = path.read_text()
    path.write_text(text.replace("kit_name", "kit"))
    with pytest.raises(DatasetError, match="missing kit_name"):
        egmd.load(root)
    path.write_text(text.replace(",validation,", ",valid,"))
    with pytest.raises(DatasetError, match=r"line 4: split one of train, validation, test, found 'valid'"):
        egmd.load(root)
    path.write_text(text.replace("0.25", "n/a", 1))
    with pytest.raises(DatasetError, match="line 2: duration in seconds"):
        egmd.load(root)
    lines = text.splitlines()
    path.write_text("\n".join(lines + [lines[1]]) + "\n")
    with pytest.raises(DatasetError, match="line 6: one row per audio file"):
        egmd.load(root)


# ---------------------------------------------------------------- Slakh2100: the real samples

def mido_note_times(path: Path, notes: set[int]) -> list[float]:
    """Note-on times by mido's own clock, an implementation independent of ours."""
    t, out = 0.0, []
    for msg in mido.MidiFile(path):
        t += msg.time
        if msg.type == "note_on" and msg.velocity > 0 and msg.note in notes:
            out.append(round(t, 6))
    return sorted(set(out))


@pytest.mark.data
@pytest.mark.skipif(not REDUX_SAMPLE.is_dir(), reason="shared format samples not present")
def test_slakh_redux_real_sample():
    tracks = load("slakh", REDUX_SAMPLE)
    assert [(t.name, t.split) for t in tracks] == [("Track00001", "train")]
    t = tracks[0]
    assert t.audio == (REDUX_SAMPLE / "train/Track00001/mix.flac",)
    assert t.meta["drum_stems"] == ["S01"] and t.meta["silent_drum_stems"] == []
    drum_midi = REDUX_SAMPLE / "train/Track00001/MIDI/S01.mid"
    assert times(t.events, "KD") == mido_note_times(drum_midi, {35, 36})
    assert times(t.events, "SD") == mido_note_times(drum_midi, {37, 38, 39, 40})
    assert times(t.events, "CY") == mido_note_times(drum_midi, {49, 51, 52, 53, 55, 57, 59})
    assert all(e.drum in CLASSES for e in t.events) and times(t.events) == sorted(times(t.events))
    # the tempo (749906 us/beat, ~80 bpm) is in track 0 of the stem file, the notes in track 1
    assert abs(t.events[0].time - 2.999624) < 1e-6
    stats = statistics(tracks)
    assert stats["train"]["tracks"] == 1 and sum(stats["train"]["onsets"].values()) == len(t.events)


@pytest.mark.data
@pytest.mark.skipif(not BABY_SAMPLE.is_dir(), reason="shared format samples not present")
def test_babyslakh_real_sample(tmp_path):
    # The sample's Track00007 holds only MIDI (mirdata's fixture): an incomplete song.
    with pytest.raises(DatasetError, match=r"^slakh: .*Track00007/metadata\.yaml: missing metadata"):
        slakh.load(BABY_SAMPLE)
    root = tmp_path / "babyslakh_16k"
    shutil.copytree(BABY_SAMPLE / "Track00001", root / "Track00001")
    tracks = slakh.load(root)
    assert [(t.name, t.split, t.audio[0].name) for t in tracks] == [("Track00001", "train", "mix.wav")]
    # babyslakh flags every stem audio_rendered/midi_saved false, yet ships them: the drum
    # stem counts because its audio is there, and its MIDI is the one of the redux release.
    assert tracks[0].meta["drum_stems"] == ["S01"]
    if REDUX_SAMPLE.is_dir():
        assert tracks[0].events == load("slakh", REDUX_SAMPLE)[0].events
    assert statistics(tracks)["train"]["hours"] == round(2.0 / 3600, 4)


# ---------------------------------------------------------------- Slakh2100: synthetic layouts

def stem_entry(inst, is_drum, program, rendered=True):
    return {"audio_rendered": rendered, "inst_class": inst, "is_drum": is_drum, "midi_program_name": inst,
            "midi_saved": rendered, "plugin_name": "x.nkm", "program_num": program}


def make_song(song: Path, stems: dict, drum_notes: dict[str, tuple[int, ...]], ext=".flac"):
    """A Slakh song folder: metadata.yaml, mix, stems/ and MIDI/ for rendered stems."""
    write_audio(song / f"mix{ext}")
    meta = {"UUID": song.name.lower(), "audio_dir": "stems", "midi_dir": "MIDI", "normalized": True,
            "overall_gain": 0.5, "stems": stems}
    (song / "metadata.yaml").write_text(yaml.safe_dump(meta))
    for name, stem in stems.items():
        if not stem["audio_rendered"]:
            continue
        write_audio(song / "stems" / f"{name}{ext}")
        # a melodic stem carries notes outside the drum table: it must never be read as drums
        beat_midi(song / "MIDI" / f"{name}.mid", notes=drum_notes.get(name, (90, 100)), ch=9 if stem["is_drum"] else 0)


def make_redux(tmp_path) -> Path:
    root = tmp_path / "slakh2100_flac_redux"
    drums = {"S00": stem_entry("Guitar", False, 30), "S01": stem_entry("Drums", True, 128)}
    make_song(root / "train/Track00002", drums, {"S01": (36, 38)})
    # two drum stems, merged; a third that rendered nothing is not in the mix nor in the labels
    make_song(root / "train/Track00003",
              {"S00": stem_entry("Drums", True, 128), "S01": stem_entry("Drums", True, 128),
               "S02": stem_entry("Drums", True, 128, rendered=False), "S03": stem_entry("Bass", False, 33)},
              {"S00": (36, 36), "S01": (42, 38)})
    make_song(root / "validation/Track01501", drums, {"S01": (42,)})
    make_song(root / "test/Track01876", {"S00": stem_entry("Piano", False, 0)}, {})  # no drums at all
    make_song(root / "omitted/Track00049", drums, {"S01": (36,)})
    return root


def test_slakh_splits_merged_drum_stems_and_omitted(tmp_path):
    root = make_redux(tmp_path)
    tracks = load("slakh", root)
    assert [(t.name, t.split) for t in tracks] == [
        ("Track00002", "train"), ("Track00003", "train"), ("Track01501", "validation"), ("Track01876", "test")]
    assert slakh.scan(root).omitted == ("Track00049",)
    by = {t.name: t for t in tracks}
    assert [(e.drum, round(e.time, 6)) for e in by["Track00003"].events] == [
        ("KD", 0.0), ("HH", 0.0), ("KD", 0.5), ("SD", 0.5)]
    assert by["Track00003"].meta["drum_stems"] == ["S00", "S01"]
    assert by["Track00003"].meta["silent_drum_stems"] == ["S02"]
    assert by["Track01876"].events == () and by["Track01876"].meta["drum_stems"] == []
    stats = statistics(tracks)
    assert set(stats) == {"train", "validation", "test"} and stats["train"]["onsets"]["KD"] == 3


def test_slakh_split_file_omits_and_moves(tmp_path):
    # Slakh2100-orig: no omitted/; slakh-utils' redux.json says what to omit and move.
    root = make_redux(tmp_path)
    shutil.rmtree(root / "omitted")
    split_file = tmp_path / "redux.json"
    split_file.write_text(json.dumps({
        "Track00002": {"action": None},
        "Track00003": {"action": "omit", "source_split": "train"},
        "Track01501": {"action": "move", "source_split": "validation", "destination_split": "test"},
    }))
    tracks = slakh.load(root, split_file=split_file)
    assert [(t.name, t.split) for t in tracks] == [("Track00002", "train"), ("Track01501", "test"), ("Track01876", "test")]
    assert slakh.scan(root, split_file).omitted == ("Track00003",)
    split_file.write_text(json.dumps({"Track00002": {"action": "delete"}}))
    with pytest.raises(DatasetError, match=r"redux\.json: Track00002: action null"):
        slakh.load(root, split_file=split_file)


def test_slakh_missing_and_corrupt_files(tmp_path):
    root = make_redux(tmp_path)
    song = root / "train/Track00003"
    (song / "MIDI/S01.mid").unlink()
    with pytest.raises(DatasetError, match=r"^slakh: .*Track00003/MIDI/S01\.mid: missing MIDI of drum stem S01"):
        slakh.load(root)
    (song / "MIDI/S01.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00")
    with pytest.raises(DatasetError, match=r"Track00003/MIDI/S01\.mid: a standard MIDI file"):
        slakh.load(root)
    write_midi(song / "MIDI/S01.mid", [on(36), on(20, 5)])
    with pytest.raises(DatasetError, match=r"Track00003/MIDI/S01\.mid: .*unknown MIDI notes 20"):
        slakh.load(root)
    beat_midi(song / "MIDI/S01.mid")
    (song / "mix.flac").unlink()
    with pytest.raises(DatasetError, match=r"Track00003/mix\.flac: missing mix"):
        slakh.load(root)
    write_audio(song / "mix.flac")
    (song / "metadata.yaml").write_text("stems: [unclosed\n")
    with pytest.raises(DatasetError, match=r"Track00003/metadata\.yaml: readable YAML"):
        slakh.load(root)
    (song / "metadata.yaml").write_text(yaml.safe_dump({"stems": {"S00": {"inst_class": "Drums"}}}))
    with pytest.raises(DatasetError, match="stem S00: an is_drum flag"):
        slakh.load(root)


def test_slakh_not_a_slakh_directory(tmp_path):
    with pytest.raises(DatasetError, match="split directories train/"):
        slakh.load(tmp_path)
    (tmp_path / "train").mkdir()
    (tmp_path / "Track00001").mkdir()
    with pytest.raises(DatasetError, match="not both"):
        slakh.load(tmp_path)


# ---------------------------------------------------------------- SADTP (assumed layout)

def make_sadtp(tmp_path, songs=("01_song", "02_song")) -> Path:
    root = tmp_path / "SADTP"
    for i, song in enumerate(songs):
        write_audio(root / "audio" / f"{song}.wav")
        notes = (36, 22, 40, 58) if i == 0 else (36, 38)
        beat_midi(root / "midi" / f"{song}.mid", notes=notes)
    return root


def test_sadtp_tracks_are_test_and_td11_notes_map(tmp_path):
    root = make_sadtp(tmp_path)
    tracks = load("sadtp", root)
    assert [(t.name, t.split) for t in tracks] == [("01_song", "test"), ("02_song", "test")]
    assert [e.drum for e in tracks[0].events] == ["KD", "HH", "SD", "TT"]
    assert tracks[0].audio == (root / "audio/01_song.wav",)
    assert statistics(tracks)["test"]["tracks"] == 2


def test_sadtp_errors(tmp_path):
    root = make_sadtp(tmp_path)
    (root / "midi/02_song.mid").unlink()
    with pytest.raises(DatasetError, match=r"^sadtp: .*midi/02_song\.mid: missing MIDI file .*02_song"):
        sadtp.load(root)
    beat_midi(root / "midi/02_song.mid", ch=0)  # a module set to channel 1, or not the kit
    with pytest.raises(DatasetError, match=r"02_song\.mid: TD-11 notes on MIDI channel 10 only; .*channel\(s\) 1"):
        sadtp.load(root)
    beat_midi(root / "midi/02_song.mid")
    (root / "audio/01_song.wav").unlink()
    with pytest.raises(DatasetError, match=r"audio/01_song\.wav: missing audio file"):
        sadtp.load(root)
    with pytest.raises(DatasetError, match=r"nothing/audio: missing audio directory"):
        sadtp.load(tmp_path / "SADTP" / "nothing")


def test_corrupt_audio_is_reported_when_read_not_when_listed(tmp_path):
    # Listing stays cheap (audio is lazy); reading a corrupt file names dataset and file.
    root = make_sadtp(tmp_path)
    good, bad = sadtp.load(root)
    x, rate = good.load_audio()
    assert rate == 44100 and x.dtype == np.float32 and len(x) == int(0.25 * 44100)
    (root / "audio/02_song.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    with pytest.raises(DatasetError, match=r"^sadtp: .*02_song\.wav: readable audio"):
        bad.load_audio()
    with pytest.raises(DatasetError, match=r"^sadtp: .*02_song\.wav: readable audio"):
        statistics(sadtp.load(root))


def test_registry_knows_the_three_loaders(tmp_path):
    with pytest.raises(DatasetError):
        load("egmd", tmp_path)
    with pytest.raises(DatasetError):
        load("slakh", tmp_path)
    with pytest.raises(DatasetError):
        load("sadtp", tmp_path)
