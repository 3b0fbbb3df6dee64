"""The synthetic renderer (offline/datasets/synth.py, offline/datasets/kits.py), on the real
installed kits (Hydrogen, FluidR3, AVL drums) and a handful of the shared songs.

Needs fluidsynth, fluid-soundfont-gm, hydrogen's drumkits and avldrums.lv2-soundfont (Debian).
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf

from offline.datasets import DatasetError, load as load_dataset
from offline.datasets import kits as K
from offline.datasets import synth as S
from rtadt.drums import CLASSES, GM_NOTE_TO_CLASS, UnknownLabelError, gm_note_to_class

RATE = K.RATE
SONGS = {  # song: its split by song_split, and what it exercises
    "freedoom/freedoom1_D_E1M1.mid": "train",  # full band with drums
    "freedoom/freedoom2_D_THEDA2.mid": "train",  # drum channel with an unknown note (5)
    "pop909/POP909/098/098.mid": "train",  # three program-0 tracks
    "mma_pop909/songs/pop909_006_Beguine.mid": "train",
    "mma_pop909/songs/pop909_237_JazzRock.mid": "validation",
    "openttd_openmsx/5432gone_redfarn.mid": "test",
}

need = pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not K.SOUNDFONT.is_file() or not K.HYDROGEN_ROOT.is_dir()
    or not (K.SOUNDFONT_DIR / K.AVL_SOUNDFONTS[0]).is_file() or not S.Sources().accompaniment.is_dir(),
    reason="needs fluidsynth, fluid-soundfont-gm, hydrogen drumkits, avldrums.lv2-soundfont and shared/data")
pytestmark = [need, pytest.mark.data]


@pytest.fixture(scope="session")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("synth-cache")


@pytest.fixture(scope="session")
def sources(tmp_path_factory) -> S.Sources:
    """The real sources, with the accompaniment cut down to SONGS (links keep relative paths)."""
    root = tmp_path_factory.mktemp("songs")
    for rel in SONGS:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).symlink_to(S.Sources().accompaniment / rel)
    return S.Sources(accompaniment=root)


@pytest.fixture(scope="session")
def ctx(sources, cache):
    return S.context(sources, cache_dir=cache, workers=1)


@pytest.fixture(scope="session")
def rendered(tmp_path_factory, sources, cache) -> Path:
    out = tmp_path_factory.mktemp("rendered")
    S.render_dataset(out, 0.01, seed=7, workers=1, sources=sources, cache_dir=cache, progress=False)
    return out


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------ whole renders

def test_same_seed_same_files_whatever_the_workers(rendered, tmp_path, sources, cache):
    other = tmp_path / "again"
    S.render_dataset(other, 0.01, seed=7, workers=2, sources=sources, cache_dir=cache, progress=False)
    a, b = json.loads((rendered / "manifest.json").read_text()), json.loads((other / "manifest.json").read_text())
    assert len(a["examples"]) >= 3 and {e["split"] for e in a["examples"]} == {"train", "validation", "test"}
    assert a["examples"] == b["examples"]
    for e in a["examples"]:
        assert digest(rendered / e["audio"]) == digest(other / e["audio"])
        assert (rendered / e["annotations"]).read_text() == (other / e["annotations"]).read_text()
    changed = tmp_path / "seed4"
    S.render_dataset(changed, 0.003, seed=4, splits=("train",), workers=1, sources=sources, cache_dir=cache,
                     progress=False)
    first = json.loads((changed / "manifest.json").read_text())["examples"][0]
    assert digest(changed / first["audio"]) != digest(rendered / a["examples"][0]["audio"])


def test_examples_are_what_the_manifest_says(rendered):
    manifest = json.loads((rendered / "manifest.json").read_text())
    assert manifest["seed"] == 7 and manifest["sample_rate"] == RATE
    assert "hydrogen/Gimme A Hand 1.0" in manifest["left_out"]["kits"]
    assert "freedoom/freedoom2_D_THEDA2.mid" in manifest["left_out"]["songs_without_full_mix"]
    for e in manifest["examples"]:
        info = sf.info(str(rendered / e["audio"]))
        assert info.samplerate == RATE and info.channels == 1 and info.format == "FLAC"
        assert info.frames == round(e["duration"] * RATE)
        spec = e["spec"]
        if "kit" in spec:
            assert manifest["kits"][spec["kit"]]["split"] == e["split"]
        if "song" in spec:
            assert S.song_split(S.song_key(spec["song"]["file"])) == e["split"]
        for line in (rendered / e["annotations"]).read_text().splitlines():
            t, drum, vel = line.split("\t")
            assert 0 <= float(t) < e["duration"] and drum in CLASSES and 1 <= int(vel) <= 127


def test_manifest_round_trip_through_load(rendered):
    manifest = json.loads((rendered / "manifest.json").read_text())
    tracks = load_dataset("synth", rendered)
    assert [t.name for t in tracks] == [e["id"] for e in manifest["examples"]]
    for t, e in zip(tracks, manifest["examples"]):
        assert t.dataset == "synth" and t.split == e["split"] and t.duration == e["duration"]
        assert t.meta["spec"] == e["spec"] and len(t.events) == e["events"]
        lines = (rendered / e["annotations"]).read_text().splitlines()
        assert [f"{ev.time:.6f}\t{ev.drum}\t{ev.velocity}" for ev in t.events] == lines
    audio, rate = tracks[0].load_audio()
    assert rate == RATE and len(audio) == round(tracks[0].duration * RATE) and np.abs(audio).max() > 0


def test_load_names_what_is_missing(tmp_path):
    with pytest.raises(DatasetError, match="manifest.json"):
        S.load(tmp_path)


def test_resume_skips_finished_examples(rendered, tmp_path, sources, cache, monkeypatch):
    out = tmp_path / "copy"
    shutil.copytree(rendered, out)
    manifest = json.loads((out / "manifest.json").read_text())
    first, second = manifest["examples"][0], manifest["examples"][1]
    original = digest(out / first["audio"])
    (out / first["audio"]).unlink()  # gone: rendered again
    second["spec"]["level_db"] += 1  # an entry for another spec: rendered again
    (out / "manifest.json").write_text(json.dumps(manifest))
    stamps = {e["id"]: (out / e["audio"]).stat().st_mtime_ns for e in manifest["examples"][2:]}
    calls = []
    real = S._render_one
    monkeypatch.setattr(S, "_render_one", lambda args: calls.append(args[0]["id"]) or real(args))
    S.render_dataset(out, 0.01, seed=7, workers=1, sources=sources, cache_dir=cache, progress=False)
    assert sorted(calls) == sorted([first["id"], second["id"]])
    assert digest(out / first["audio"]) == original
    assert all((out / e["audio"]).stat().st_mtime_ns == stamps[e["id"]] for e in manifest["examples"][2:])
    calls.clear()
    S.render_dataset(out, 0.01, seed=7, workers=1, sources=sources, cache_dir=cache, progress=False)
    assert calls == []


# ------------------------------------------------------------------ splits

def test_kit_split_holds_out_whole_families(ctx):
    context, _ = ctx
    kits = list(context.kits.values())
    split_of_family: dict[str, set] = {}
    for k in kits:
        split_of_family.setdefault(k.family, set()).add(k.split)
    assert all(len(s) == 1 for s in split_of_family.values()), split_of_family
    by_split = {s: {k.name for k in kits if k.split == s} for s in ("train", "validation", "test")}
    assert all(by_split.values())
    assert not (by_split["validation"] & by_split["train"]) and not (by_split["test"] & by_split["train"])
    assert not (by_split["validation"] & by_split["test"])
    # the same drums recorded twice (Hydrogen's and AVL's Black Pearl) are held out together
    pearls = (context.kits["avl/Black_Pearl_4pc"], context.kits["hydrogen/The Black Pearl 1.0"])
    assert [k.split for k in pearls] == ["validation", "validation"]
    # no sample file is heard in two splits
    seen: dict[str, str] = {}
    for k in kits:
        if isinstance(k, K.HydrogenKit):
            for inst in k.instruments:
                for lay in inst.layers:
                    h = digest(lay.path)
                    assert seen.setdefault(h, k.split) == k.split, (k.name, lay.path)


def test_planned_examples_use_their_splits_kits_and_songs(ctx):
    context, _ = ctx
    specs = S.plan(context, 0.2, seed=0)
    for s in specs:
        if "kit" in s:
            assert context.kits[s["kit"]].split == s["split"]
        if "song" in s:
            assert context.songs[s["song"]["file"]].split == s["split"]
        if s["split"] == "test":
            assert s.get("drums", {}).get("source") != "groove"  # Groove MIDI has no test split
        for seg in s.get("drums", {}).get("segments", []):
            assert seg["file"] in {r["midi_filename"] for r in S.groove_index(context.sources.groove)
                                   if r["split"] == s["split"]}
    assert S.plan(context, 0.2, seed=0) == specs
    assert S.plan(context, 0.1, seed=0) == [s for s in specs if s in S.plan(context, 0.1, seed=0)]


def test_song_split_is_by_song():
    rels = [str(p.relative_to(S.Sources().accompaniment)) for p in S.Sources().accompaniment.rglob("*.mid")]
    assert S.song_key("pop909/POP909/006/006.mid") == S.song_key("mma_pop909/songs/pop909_006_Beguine.mid")
    keys = {S.song_key(r) for r in rels}
    splits = [S.song_split(k) for k in sorted(keys)]
    assert splits == [S.song_split(k) for k in sorted(keys)]  # a pure function of the name
    shares = {s: splits.count(s) / len(splits) for s in ("train", "validation", "test")}
    assert 0.75 < shares["train"] < 0.85 and 0.06 < shares["validation"] < 0.14 and 0.06 < shares["test"] < 0.14
    for rel, split in SONGS.items():
        assert S.song_split(S.song_key(rel)) == split


# ------------------------------------------------------------------ kits

def test_hydrogen_kit_parsing_and_class_mapping():
    kit = K.HydrogenKit(K.HYDROGEN_ROOT / "BJA_Pacific")
    kick = next(i for i in kit.instruments if i.name == "BassDrum")
    assert kick.role == "kick" and len(kick.layers) == 8
    assert [(lay.path.name, lay.min, lay.max) for lay in kick.layers][:2] == [("BD_08.aiff", 0.875, 1.0),
                                                                              ("BD_07.aiff", 0.75, 0.875)]
    assert kit.mapping()["tom_low"] == ["Floor Tom"] and kit.mapping()["ride_bell"] == ["Ride Bell"]
    assert kit.classes == set(CLASSES)
    assert "Snare Roll" in kit.unmapped  # many strokes in one sample
    colombo = K.HydrogenKit(K.HYDROGEN_ROOT / "ColomboAcousticDrumkit")  # old single-sample layout too
    assert colombo.unmapped == ["redo super opaco"] and colombo.mapping()["ride_bell"] == ["ride-cup"]
    forzee = K.HydrogenKit(K.HYDROGEN_ROOT / "ForzeeStereo")
    assert "Stick" in forzee.unmapped and forzee.mapping()["sidestick"][0].startswith("Rim Click")
    cases = {"Hi-Hat Semiopen": "hh_open", "Side OHH": "hh_open", "VariBreaks Hat 1 Pd": "hh_pedal",
             "Closed HH": "hh_closed", "Ride (Custom, Zagrebin 22\")": "ride", "Paiste Bell": "ride_bell",
             "c3 - bass drum 1": "kick", "Pearl Tom 1": "tom_high", "Pearl Tom Floor": "tom_low",
             "Snare Rimshot": "rimshot", "Cowbell": None, "Djembe1 Bass": None, "Zildjian Splash Choke": "splash"}
    assert {n: K.role_from_name(n) for n in cases} == cases
    for note, role in K.NOTE_ROLE.items():  # roles never change a note's class
        assert K.ROLE_CLASS[role] == gm_note_to_class(note)
    assert {n for n, c in GM_NOTE_TO_CLASS.items() if c} == set(K.NOTE_ROLE)  # every kit note has a role


def test_velocity_layer_selection():
    kick = next(i for i in K.parse_drumkit(K.HYDROGEN_ROOT / "BJA_Pacific") if i.name == "BassDrum")
    assert K.select_layer(kick.layers, 127).path.name == "BD_08.aiff"
    assert K.select_layer(kick.layers, 64).path.name == "BD_05.aiff"  # 0.504 in [0.5, 0.625]
    assert K.select_layer(kick.layers, 1).path.name == "BD_01.aiff"
    gap = (K.Layer(Path("a"), 0.0, 0.2, 1, 0), K.Layer(Path("b"), 0.6, 1.0, 1, 0))
    assert K.select_layer(gap, 60).path.name == "b"  # 0.47: nearer 0.6 than 0.2
    # the player plays that layer at velocity/127 times the layer's and instrument's gains
    kit = K.HydrogenKit(K.HYDROGEN_ROOT / "BJA_Pacific")
    for vel, name in ((127, "BD_08.aiff"), (10, "BD_01.aiff")):
        audio, onsets, info = kit.render([(0.1, 36, vel)], RATE, np.random.default_rng(0))
        lay = next(lay for lay in kick.layers if lay.path.name == name)
        x, onset = K.load_sample(lay.path)
        start = round(0.1 * RATE)
        want = np.zeros(RATE, np.float32)
        seg = x[:RATE - start] * (vel / 127 * lay.gain * kick.gain)
        want[start:start + len(seg)] = seg
        np.testing.assert_allclose(audio, want, atol=1e-7)
        assert onsets == [(start + onset, "KD", vel)]


def test_soundfont_kit_honours_velocity_layers(cache):
    kit = next(k for k in K.discover_kits()[0] if k.name == "avl/Black_Pearl_4pc")
    soft, _, _ = kit.render([(0.05, 38, 30)], RATE // 2, np.random.default_rng(0), cache)
    hard, _, _ = kit.render([(0.05, 38, 127)], RATE // 2, np.random.default_rng(0), cache)
    corr = np.dot(soft, hard) / np.sqrt(np.dot(soft, soft) * np.dot(hard, hard))
    assert corr < 0.99  # another sample, not the same one quieter
    assert kit.offsets(cache)[35] == [None] * 127  # AVL kits have no key 35: kicks play 36
    _, onsets, info = kit.render([(0.05, 35, 100)], RATE // 2, np.random.default_rng(0), cache)
    assert [o[1] for o in onsets] == ["KD"] and info["notes_played_on_other_keys"] == 1


def test_fluidsynth_schedule_puts_notes_inside_their_block():
    for sample in (3000, 44100, 123457, 5_000_001):
        tick, start = K.schedule(sample)
        assert start % K.BLOCK == 0 and 0 <= start - sample < 2 * K.BLOCK + K.BLOCK
        k = start // K.BLOCK
        assert K._player_ticks(k - 1) + 20 < tick <= K._player_ticks(k) - 20


def energy_onset(x: np.ndarray, label: float) -> float | None:
    """Where a hit's short-time energy (0.25 ms) first rises 10 dB above the energy of the
    20 ms before and to -40 dB of its peak; None where earlier sounds still ring within
    35 dB of the hit (nothing to tell it from)."""
    at, win = round(label * RATE), max(round(0.00025 * RATE), 1)
    e = np.convolve(x.astype(np.float64) ** 2, np.ones(win) / win, mode="same")
    lo = at - round(0.01 * RATE)
    seg, before = e[lo: at + round(0.05 * RATE)], e[lo - round(0.02 * RATE): lo].mean()
    if before > 3e-4 * seg.max():
        return None
    return (lo + int(np.argmax(seg > max(10 * before, 1e-4 * seg.max())))) / RATE


# a Hydrogen kit whose samples start 6 ms in, a SoundFont on a melodic channel, a GM drum bank
@pytest.mark.parametrize("kit", ["hydrogen/ForzeeStereo", "avl/Red_Zeppelin_4pc", "fluidr3/Jazz"])
def test_annotations_sit_on_the_acoustic_onsets(ctx, kit):
    context, _ = ctx
    spec = {"id": "t", "split": "test", "kind": "drums", "duration": 90.0, "seed": 11, "kit": kit,
            "drums": {"source": "procedural", "style": "sparse", "seed": 5, "min_gap": 1.5},
            "level_db": -20.0, "augment": {}}
    audio, events, _ = S.render_example(spec, context)
    times = np.array([e.time for e in events])
    alone = [e for e in events if np.sort(np.abs(times - e.time))[1] > 0.05]  # not one of a doubled hit
    errors = np.array([t - e.time for e in alone if (t := energy_onset(audio, e.time)) is not None])
    assert len(errors) >= 15
    # labels 1.5 ms late or early fail the median, 3 ms fail the 2 ms window
    assert np.mean(np.abs(errors) < 0.002) >= 0.9 and np.median(np.abs(errors)) < 0.0005, errors * 1000


@pytest.mark.parametrize("kit", ["hydrogen/ForzeeStereo", "musescore/Room 2"])
def test_tuned_pieces_rooms_and_chain_keep_annotations_on_the_onsets(ctx, kit):
    """Every new ingredient at once, on isolated hits: the labels stay on the onsets."""
    context, _ = ctx
    rng = np.random.default_rng(4)
    room = S.recording.draw_room(rng)
    room["far_db"] = -10.0  # a close microphone in the mix, the room 10 dB under it
    room["rt60"] = max(0.3, 1.05 * S.recording.shortest_rt60(room["dims"]))  # tails die between hits
    spec = {"id": "t", "split": "test", "kind": "drums", "duration": 90.0, "seed": 11, "kit": kit,
            "drums": {"source": "procedural", "style": "sparse", "seed": 5, "min_gap": 2.5},
            "level_db": -20.0, "augment": {}, "pieces": K.piece_tuning(rng), "room": room,
            "master": S.recording.draw_master(rng, 1, 1, 0, 1), "codec": {"format": "mp3", "kbps": 192}}
    audio, events, _ = S.render_example(spec, context)
    times = np.array([e.time for e in events])
    alone = [e for e in events if np.sort(np.abs(times - e.time))[1] > 0.05]
    errors = np.array([t - e.time for e in alone if (t := energy_onset(audio, e.time)) is not None])
    assert len(errors) >= 10
    assert np.mean(np.abs(errors) < 0.003) >= 0.9 and np.median(np.abs(errors)) < 0.001, errors * 1000


def test_piece_tuning_changes_the_sound_not_the_labels(ctx):
    context, _ = ctx
    kit = context.kits["hydrogen/BJA_Pacific"]
    hits = [(0.2, 36, 100), (0.9, 38, 90), (1.6, 42, 70)]
    plain, on_plain, _ = kit.render(hits, 3 * RATE, np.random.default_rng(1))
    tuning = {c: {"pitch": 2.0, "gain_db": -6.0} for c in CLASSES}
    tuned, on_tuned, _ = kit.render(hits, 3 * RATE, np.random.default_rng(1), pieces=tuning)
    assert [(d, v) for _, d, v in on_plain] == [(d, v) for _, d, v in on_tuned]
    # each onset is where the tuned sample's own attack is: within its (shortened) attack of the plain one
    assert all(abs(a - b) <= 0.2 * max(a - int(t * RATE), 1) + 1
               for (a, _, _), (b, _, _), (t, _, _) in zip(on_plain, on_tuned, hits))
    assert 20 * np.log10(np.abs(tuned).max() / np.abs(plain).max()) == pytest.approx(-6, abs=1.5)
    sf_kit = context.kits["fluidr3/Standard"]
    loud, on_loud, _ = sf_kit.render(hits, 3 * RATE, np.random.default_rng(1), context.cache_dir,
                                     pieces={c: {"gain_db": 6.0} for c in CLASSES})
    assert [v for _, _, v in on_loud] == [min(127, round(v * 10 ** (6 / 40))) for _, _, v in hits]


def test_clipped_examples_keep_their_labels_and_clip(ctx):
    x = np.zeros(RATE, np.float32)
    x[10000:10400] = np.hanning(400) * np.sin(np.arange(400) * 0.3)
    y, level = S.finish(x, {"level_db": -20.0, "augment": {}, "clip_db": 6.0})
    assert np.abs(y).max() == 1.0 and level["clipped"] > 0
    driven = x * 10 ** (6 / 20) / np.abs(x).max()  # the same signal, unclipped
    assert int(np.argmax(np.abs(y) > 0.01)) == int(np.argmax(np.abs(driven) > 0.01))
    np.testing.assert_allclose(y, np.clip(driven, -1, 1), atol=1e-6)


def test_accompaniment_soundfonts_are_drawn_and_used(ctx):
    context, _ = ctx
    specs = S.plan(context, 0.3, seed=2, splits=("train",))
    fonts = {sp["song"].get("soundfont") for sp in specs if "song" in sp}
    assert fonts <= {p.name for p in context.sources.music_soundfonts} and len(fonts) == 2
    assert S.music_soundfont(context.sources, "MuseScore_General_Full.sf2").name == "MuseScore_General_Full.sf2"
    assert S.music_soundfont(context.sources, None) == context.sources.gm_soundfont
    with pytest.raises(S.DatasetError):
        S.music_soundfont(context.sources, "nothing.sf2")


def test_new_kit_families_and_their_splits(ctx):
    context, left_out = ctx
    families = {K.family_of(n): k.split for n, k in context.kits.items()}
    assert families["musescore"] == "train" and families["timgm6mb"] == "test"
    assert "musescore/Metronome" in left_out["kits"] and "timgm6mb/Orchestra" in left_out["kits"]
    assert any(n.startswith("musescore/TR-808") for n in context.kits)  # electronic kits are drums too


def test_unknown_drum_notes_are_errors(tmp_path, cache):
    kit = K.HydrogenKit(K.HYDROGEN_ROOT / "BJA_Pacific")
    with pytest.raises(UnknownLabelError):
        kit.render([(0.1, 105, 100)], RATE, np.random.default_rng(0))
    root = tmp_path / "gmd"
    root.mkdir()
    mid = mido.MidiFile()
    mid.tracks.append(mido.MidiTrack([mido.Message("note_on", channel=9, note=105, velocity=90)]))
    mid.save(root / "x.mid")
    with pytest.raises(DatasetError, match="105"):
        S.groove_hits(root, "x.mid")


# ------------------------------------------------------------------ music and parts

def test_accompaniment_carries_no_drum_notes():
    timed = S.song_messages(S.Sources().accompaniment / "freedoom/freedoom1_D_E1M1.mid")
    drums, accomp, unknown = S.split_song(timed)
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
    drums, accomp, _ = S.split_song(song)
    assert drums == [(0.6, 38, 90)]
    assert [(m.channel, m.note) for _, m in accomp if m.type == "note_on"] == [(0, 64), (9, 54)]
    _, dressed, _ = S.split_song(song, {0: 105, 3: 24})
    assert [(m.channel, m.program) for _, m in dressed if m.type == "program_change"] == [(0, 105), (3, 24), (9, 0)]


def test_excerpt_restores_state_and_drops_earlier_notes():
    timed = [(0.0, mido.Message("program_change", channel=1, program=33)),
             (1.0, mido.Message("control_change", channel=1, control=7, value=50)),
             (2.0, mido.Message("note_on", channel=1, note=40, velocity=80)),
             (5.0, mido.Message("note_on", channel=1, note=41, velocity=80))]
    out = S.excerpt_messages(timed, 3.0)
    assert [(s, m.type) for s, m in out] == [(0, "program_change"), (0, "control_change"), (2 * RATE, "note_on")]


def test_drum_parts_are_seeded():
    a, info = S.procedural_part({"style": "groove", "seed": 9}, 20.0)
    assert (a, info) == S.procedural_part({"style": "groove", "seed": 9}, 20.0)
    assert a != S.procedural_part({"style": "groove", "seed": 10}, 20.0)[0]
    assert all(0 <= t < 20 and gm_note_to_class(n) and 1 <= v <= 127 for t, n, v in a)
    sparse, _ = S.procedural_part({"style": "sparse", "seed": 1, "min_gap": 0.5}, 20.0)
    gaps = np.diff(sorted({t for t, _, _ in sparse}))
    assert gaps.min() >= 0.5
    rows = [r for r in S.groove_index(S.Sources().groove) if r["split"] == "validation"]
    segs = S.plan_groove(np.random.default_rng(0), rows, 25.0)
    hits = S.groove_part(S.Sources().groove, segs)
    assert hits and all(0 <= t < 25.0 for t, _, _ in hits)
    assert all(r["split"] == "validation" for r in rows if r["midi_filename"] in {s["file"] for s in segs})


def test_ornaments_add_grace_notes_rolls_and_pedal_hats():
    rng = np.random.default_rng(0)
    hits = [(1.0, 38, 100), (2.0, 45, 95), (3.0, 51, 80)]
    # force every ornament: draw until a pattern has them all
    for seed in range(500):
        out, rates = S.ornaments(np.random.default_rng(seed), hits, 0.125, 51, 4, 5.0)
        if rates["flam"] > 0.2 and rates["roll"] > 0 and rates["pedal"]:
            break
    assert rates["pedal"] and any(n == 44 for _, n, _ in out)
    assert all(0 <= t < 5.0 and gm_note_to_class(n) and 1 <= v <= 127 for t, n, v in out)
    graces = [(t, n, v) for t, n, v in out if n in (38, 45) and (t, n, v) not in hits]
    assert all(v < 100 for _, _, v in graces)
    assert S.ornaments(rng, [], 0.125, 42, 4, 5.0)[0] == []  # no pedal under a closed hi-hat
    bpms = [S.groove_pattern(np.random.default_rng(s), 10.0)[1]["bpm"] for s in range(200)]
    assert min(bpms) < 70 and max(bpms) > 200 and all(50 <= b <= 240 for b in bpms)


def test_augmentations_keep_onsets_and_are_seeded():
    x = np.zeros(RATE, np.float32)
    x[10000:10400] = np.hanning(400) * np.sin(np.arange(400) * 0.3)
    for name, p in (("eq", {"kind": "peaking", "freq": 1000.0, "gain_db": 9.0, "q": 1.0}),
                    ("reverb", {"rt60": 1.0, "wet_db": -6.0, "predelay": 0.01, "seed": 1}),
                    ("compress", {"threshold_db": -20.0, "ratio": 4.0, "attack": 0.002, "release": 0.1})):
        y, _ = S.finish(x, {"level_db": -20.0, "augment": {name: p}})
        first = int(np.argmax(np.abs(y) > 0.01 * np.abs(y).max()))
        assert abs(first - int(np.argmax(np.abs(x) > 0.01 * np.abs(x).max()))) < 20, name
        assert np.array_equal(y, S.finish(x, {"level_db": -20.0, "augment": {name: p}})[0])
    y, level = S.finish(x, {"level_db": -55.0, "augment": {}})
    assert abs(20 * np.log10(np.sqrt(np.mean(y.astype(np.float64) ** 2))) + 55.0) < 0.01
    b, a = S.biquad("lowshelf", 200.0, 6.0, 0.7)
    assert abs(20 * np.log10(abs(sum(b) / sum(a))) - 6.0) < 0.01  # DC gain of a low shelf
