"""The synthetic renderer (offline/datasets/synth.py, offline/datasets/kits.py), on the real
installed kits (Hydrogen, FluidR3, AVL drums) and a handful of the shared songs. The drum
parts, the songs and the mix alone: tests/test_performances.py, test_songs.py, test_mixing.py.

Needs fluidsynth, fluid-soundfont-gm, hydrogen's drumkits and avldrums.lv2-soundfont (Debian).
"""
from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf

from offline.datasets import DatasetError, load as load_dataset
from offline.datasets import kits as K
from offline.datasets import recording
from offline.datasets import synth as S
from offline.datasets.performances import groove_hits, groove_index
from offline.datasets.songs import song_key, song_split
from rtadt.drums import CLASSES, GM_NOTE_TO_CLASS, UnknownLabelError, gm_note_to_class
from tests.test_songs import SONGS

RATE = K.RATE

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
            assert song_split(song_key(spec["song"]["file"])) == e["split"]
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


def test_a_render_that_stopped_says_so_when_loaded(rendered, tmp_path):
    manifest = json.loads((rendered / "manifest.json").read_text())
    assert manifest["planned"] == len(manifest["examples"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        S.load(rendered)  # complete: silent
    out = tmp_path / "stopped"
    shutil.copytree(rendered, out)
    (out / "manifest.json").write_text(json.dumps(dict(manifest, examples=manifest["examples"][:-1])))
    with pytest.warns(UserWarning, match=f"{len(manifest['examples']) - 1} of its {len(manifest['examples'])} planned"):
        assert len(S.load(out)) == len(manifest["examples"]) - 1


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
        if isinstance(k, K.SampleKit):
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
            assert seg["file"] in {r["midi_filename"] for r in groove_index(context.sources.groove)
                                   if r["split"] == s["split"]}
    assert S.plan(context, 0.2, seed=0) == specs
    assert S.plan(context, 0.1, seed=0) == [s for s in specs if s in S.plan(context, 0.1, seed=0)]


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


def test_fluidsynth_gives_what_its_own_wav_render_holds(tmp_path):
    """The raw output read back equals fluidsynth's WAV file of the same MIDI (channels averaged)."""
    import subprocess

    messages = [(int(i * 4410), mido.Message("note_on", channel=i % 3, note=50 + i, velocity=100)) for i in range(25)]
    n = 3 * RATE
    got = K.fluidsynth(K.SOUNDFONT, messages, n)
    kept = messages + [(n, mido.Message("control_change", channel=ch, control=120, value=0)) for ch in range(16)]
    K.write_midi(tmp_path / "x.mid", kept, n + 4 * K.BLOCK)
    subprocess.run(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "1.0", "-r", str(RATE), "-O", "float",
                    "-F", str(tmp_path / "x.wav"), str(K.SOUNDFONT), str(tmp_path / "x.mid")], check=True)
    want, sr = sf.read(tmp_path / "x.wav", dtype="float32", always_2d=True)
    assert sr == RATE and len(want) >= n and np.abs(got).max() > 0.01
    np.testing.assert_array_equal(got, want.mean(axis=1)[:n])


FAKE_RENDERER = """#!/usr/bin/env python3
import sys
out = sys.argv[sys.argv.index("-F") + 1]
if "{mode}" == "fail":
    sys.stderr.write("no such soundfont")
    sys.exit(3)
with open(out, "wb") as f:
    while True:  # a renderer that never stops
        f.write(b"\\x00\\x00\\x80\\x3f" * 44100)
        f.flush()
"""


@pytest.mark.parametrize("mode", ["forever", "fail"])
def test_a_renderer_that_never_stops_is_stopped_once_it_wrote_enough(tmp_path, monkeypatch, mode):
    import os
    import time

    fake = tmp_path / "bin" / "fluidsynth"
    fake.parent.mkdir()
    fake.write_text(FAKE_RENDERER.format(mode=mode))
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    if mode == "fail":
        with pytest.raises(RuntimeError, match="no such soundfont"):
            K.fluidsynth(K.SOUNDFONT, [], RATE)
        return
    start = time.monotonic()
    audio = K.fluidsynth(K.SOUNDFONT, [], 2 * RATE)
    assert time.monotonic() - start < 20  # stopped, not run to the timeout (80 s)
    np.testing.assert_array_equal(audio, np.ones(2 * RATE, np.float32))  # 1.0f, little-endian


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
    room = recording.draw_room(rng)
    room["far_db"] = -10.0  # a close microphone in the mix, the room 10 dB under it
    room["rt60"] = max(0.3, 1.05 * recording.shortest_rt60(room["dims"]))  # tails die between hits
    spec = {"id": "t", "split": "test", "kind": "drums", "duration": 90.0, "seed": 11, "kit": kit,
            "drums": {"source": "procedural", "style": "sparse", "seed": 5, "min_gap": 2.5},
            "level_db": -20.0, "augment": {}, "pieces": K.piece_tuning(rng), "room": room,
            "master": recording.draw_master(rng, 1, 1, 0, 1), "codec": {"format": "mp3", "kbps": 192}}
    if kit.startswith(K.SAMPLE_KIT_PREFIXES):  # sample kits: each piece equalised and on its own microphones
        for c, bands in K.piece_eq(np.random.default_rng(5)).items():
            spec["pieces"][c]["eq"] = bands
        spec["mics"] = recording.draw_mics(np.random.default_rng(1))  # hi-hat and cymbals on the overheads alone
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


def test_piece_eq_filters_its_own_piece_and_moves_no_label(ctx):
    context, _ = ctx
    kit = context.kits["hydrogen/BJA_Pacific"]
    hits = [(0.2, 36, 100), (0.9, 38, 90), (1.6, 42, 70)]
    plain, on_plain, _ = kit.render(hits, 3 * RATE, np.random.default_rng(1))
    dark = [{"kind": "highshelf", "freq": 2000.0, "gain_db": -18.0, "q": 0.707}]
    snare_dark, on_dark, _ = kit.render(hits, 3 * RATE, np.random.default_rng(1), pieces={"SD": {"eq": dark}})
    assert on_dark == on_plain
    # what changed is the snare alone: the same change as on the snare rendered by itself
    alone_plain, _, _ = kit.render(hits[1:2], 3 * RATE, np.random.default_rng(1))
    alone_dark, _, _ = kit.render(hits[1:2], 3 * RATE, np.random.default_rng(1), pieces={"SD": {"eq": dark}})
    assert np.abs(alone_dark - alone_plain).max() > 0.01
    assert np.allclose(snare_dark - plain, alone_dark - alone_plain, atol=1e-6)

    def high_share(x):  # energy above 4 kHz over the snare's 50 ms
        seg = np.fft.rfft(x[int(0.9 * RATE): int(0.95 * RATE)])
        f = np.fft.rfftfreq(int(0.05 * RATE), 1 / RATE)
        return np.sum(np.abs(seg[f > 4000]) ** 2) / np.sum(np.abs(seg) ** 2)

    assert high_share(snare_dark) < 0.3 * high_share(plain)
    # drawn: every class, a high shelf and a peaking band, each within its range
    for bands in K.piece_eq(np.random.default_rng(0)).values():
        shelf, peak = bands
        assert 1500 <= shelf["freq"] <= 8000 and -18 <= shelf["gain_db"] <= 6
        assert 100 <= peak["freq"] <= 5000 and -9 <= peak["gain_db"] <= 9


def test_piece_eq_is_drawn_only_when_asked_for(ctx):
    context, _ = ctx
    plain = S.plan(S.Context(**{**vars(context), "config": S.SynthConfig(piece_eq=0.0)}), 0.05, seed=3)
    eq = S.plan(S.Context(**{**vars(context), "config": S.SynthConfig(piece_eq=1.0)}), 0.05, seed=3)
    assert [s["id"] for s in plain] == [s["id"] for s in eq] and any("pieces" in s for s in plain)
    assert any("eq" in s.get("pieces", {}).get("SD", {}) for s in eq)
    for a, b in zip(plain, eq):  # everything else drawn as before; EQ only on sample kits
        for c in a.get("pieces", {}):
            assert ("eq" in b["pieces"][c]) == a["kit"].startswith(K.SAMPLE_KIT_PREFIXES)
            b["pieces"][c].pop("eq", None)
        assert a == b


def test_mics_change_the_sound_not_the_labels(ctx):
    context, _ = ctx
    kit = context.kits["hydrogen/BJA_Pacific"]
    hits = [(0.2, 36, 100), (0.9, 38, 90), (1.6, 42, 70), (2.3, 49, 100)]
    pieces = {"SD": {"eq": [{"kind": "highshelf", "freq": 2000.0, "gain_db": -18.0, "q": 0.707}]}}
    plain, on_plain, _ = kit.render(hits, 4 * RATE, np.random.default_rng(1), pieces=pieces)
    mics = recording.draw_mics(np.random.default_rng(1))
    miked, on_miked, _ = kit.render(hits, 4 * RATE, np.random.default_rng(1), pieces=pieces, mics=mics)
    assert on_miked == on_plain
    # the mix is each piece's (equalised) stem through the microphones: render each hit alone
    alone = [kit.render([h], 4 * RATE, np.random.default_rng(1), pieces=pieces)[0] for h in hits]
    expected = sum(recording.piece_through_mics(x, gm_note_to_class(h[1]), mics) for x, h in zip(alone, hits))
    np.testing.assert_allclose(miked, expected, atol=1e-5)
    assert np.abs(miked - plain).max() > 0.01


def test_mics_are_drawn_only_when_asked_for_and_for_sample_kits(ctx):
    context, _ = ctx
    plain = S.plan(S.Context(**{**vars(context), "config": S.SynthConfig(mics=0.0)}), 0.05, seed=3)
    miked = S.plan(S.Context(**{**vars(context), "config": S.SynthConfig(mics=1.0)}), 0.05, seed=3)
    assert any("mics" in s for s in miked)
    for a, b in zip(plain, miked, strict=True):  # everything else drawn as before
        assert ("mics" in b) == a.get("kit", "").startswith(K.SAMPLE_KIT_PREFIXES)
        b.pop("mics", None)
        assert a == b


def test_piece_balance_puts_the_metal_under_the_drums_only_when_asked_for(ctx):
    context, _ = ctx
    plain = S.plan(S.Context(**{**vars(context), "config": S.SynthConfig(piece_balance=0.0)}), 0.05, seed=3)
    skewed = S.plan(S.Context(**{**vars(context), "config": S.SynthConfig(piece_balance=1.0)}), 0.05, seed=3)
    assert [s["id"] for s in plain] == [s["id"] for s in skewed]
    offsets = {c: [] for c in CLASSES}
    for a, b in zip(plain, skewed):  # everything else drawn as before: the offsets alone differ
        for c in a.get("pieces", {}):
            offset = b["pieces"][c]["gain_db"] - a["pieces"][c]["gain_db"]
            assert K.BALANCE_DB[c][0] <= offset <= K.BALANCE_DB[c][1]
            offsets[c].append(offset)
            b["pieces"][c]["gain_db"] = a["pieces"][c]["gain_db"]
        assert a == b
    assert len(offsets["HH"]) >= 5
    assert min(np.mean(offsets["KD"]), np.mean(offsets["SD"])) - max(np.mean(offsets["HH"]), np.mean(offsets["CY"])) > 5


def test_accompaniment_soundfonts_are_drawn_and_used(ctx):
    context, _ = ctx
    specs = S.plan(context, 0.3, seed=2, splits=("train",))
    fonts = {sp["song"].get("soundfont") for sp in specs if "song" in sp}
    assert fonts <= {p.name for p in context.sources.music_soundfonts} and len(fonts) == 2
    assert S.music_soundfont(context.sources, "MuseScore_General_Full.sf2").name == "MuseScore_General_Full.sf2"
    assert S.music_soundfont(context.sources, None) == context.sources.gm_soundfont
    with pytest.raises(DatasetError):
        S.music_soundfont(context.sources, "nothing.sf2")


def test_musescore_share_sets_the_accompaniment_font_and_nothing_else(ctx):
    context, _ = ctx
    fonts = [p.name for p in context.sources.music_soundfonts]
    assert S.MUSESCORE in fonts and len(fonts) == 2
    plans = {share: S.plan(S.Context(**{**vars(context), "config": S.SynthConfig(musescore=share)}), 0.3,
                           seed=2, splits=("train",)) for share in (None, 0.0, 1.0, 0.5)}
    with_songs = [i for i, sp in enumerate(plans[None]) if "song" in sp]
    assert len(with_songs) >= 10
    for share, want in ((0.0, {fonts[0]}), (1.0, {S.MUSESCORE}), (0.5, set(fonts))):
        assert {plans[share][i]["song"]["soundfont"] for i in with_songs} == want
        for a, b in zip(plans[None], plans[share], strict=True):  # everything else drawn as before
            if "song" in a:
                b["song"]["soundfont"] = a["song"]["soundfont"]
            assert a == b


def test_cymbal_gestures_mark_procedural_grooves_and_nothing_else(ctx):
    context, _ = ctx
    plain = S.plan(context, 0.5, seed=2, splits=("train",))
    marked = S.plan(S.Context(**{**vars(context), "config": S.SynthConfig(cymbal_gestures=1.0)}), 0.5,
                    seed=2, splits=("train",))
    grooves = [i for i, sp in enumerate(plain) if sp.get("drums", {}).get("style") == "groove"]
    assert len(grooves) >= 3
    for i, (a, b) in enumerate(zip(plain, marked, strict=True)):
        assert b["drums"].pop("cymbals") is True if i in grooves else "cymbals" not in b.get("drums", {})
        assert a == b  # everything else drawn as before


def test_without_hihat_marks_drum_parts_and_nothing_else(ctx):
    context, _ = ctx
    plain = S.plan(context, 0.5, seed=2, splits=("train",))
    marked = S.plan(S.Context(**{**vars(context), "config": S.SynthConfig(without_hihat=1.0)}), 0.5,
                    seed=2, splits=("train",))
    with_drums = [i for i, sp in enumerate(plain) if "drums" in sp]
    assert len(with_drums) >= 3  # music-only examples have no part to mark
    for i, (a, b) in enumerate(zip(plain, marked, strict=True)):
        assert b["drums"].pop("without") == ["HH"] if i in with_drums else "drums" not in b
        assert a == b  # everything else drawn as before


def test_hum_is_drawn_only_when_asked_for_and_changes_nothing_else(ctx):
    context, _ = ctx
    plain = S.plan(context, 0.2, seed=2, splits=("train",))
    hummed = S.plan(S.Context(**{**vars(context), "config": S.SynthConfig(hum=1.0)}), 0.2, seed=2, splits=("train",))
    assert len(plain) >= 3 and not any("hum" in sp["augment"] for sp in plain)
    for a, b in zip(plain, hummed, strict=True):
        assert b["augment"].pop("hum")["freq"] in (50.0, 60.0)
        assert a == b  # everything else drawn as before


def test_a_part_without_hihat_plays_and_labels_the_rest_as_before(ctx):
    context, _ = ctx
    spec = {"id": "t", "split": "test", "kind": "drums", "duration": 12.0, "seed": 11, "kit": "hydrogen/BJA_Pacific",
            "drums": {"source": "procedural", "style": "busy", "seed": 5}, "level_db": -20.0, "augment": {}}
    audio, events, _ = S.render_example(spec, context)
    spec["drums"]["without"] = ["HH"]
    bare, bare_events, details = S.render_example(spec, context)
    hihats = [e for e in events if e.drum == "HH"]
    assert len(hihats) >= 10 and details["notes_left_out"] >= len(hihats)
    assert not any(e.drum == "HH" for e in bare_events)
    rest = [e for e in events if e.drum != "HH"]
    assert [(e.drum, e.velocity) for e in bare_events] == [(e.drum, e.velocity) for e in rest]
    # the same hits on the same onsets, give or take a sample's attack (the samples are drawn anew)
    assert max(abs(a.time - b.time) for a, b in zip(rest, bare_events)) < 0.003

    def bright(x):  # the share of the power above 6 kHz: the hi-hat's, gone with it
        power = np.abs(np.fft.rfft(x)) ** 2
        return power[np.fft.rfftfreq(len(x), 1 / RATE) > 6000].sum() / power.sum()

    assert bright(bare) < 0.5 * bright(audio)


def test_leave_out_drops_a_class_by_note():
    hits = [(0.1, 36, 100), (0.2, 42, 80), (0.3, 44, 60), (0.4, 46, 90), (0.5, 38, 100), (0.6, 26, 70)]
    assert S.leave_out(hits, ["HH"]) == ([(0.1, 36, 100), (0.5, 38, 100)], 4)
    assert S.leave_out(hits, []) == (hits, 0)


def test_a_choke_silences_a_sample_kit_crash_and_is_no_onset(cache):
    kit = K.HydrogenKit(K.HYDROGEN_ROOT / "BJA_Pacific")
    ring, onsets, _ = kit.render([(0.1, 49, 110), (0.2, 38, 100)], RATE, np.random.default_rng(0))
    choked, choked_onsets, _ = kit.render([(0.1, 49, 110), (0.2, 38, 100), (0.4, 49, 0)], RATE,
                                          np.random.default_rng(0))
    snare, _, _ = kit.render([(0.2, 38, 100)], RATE, np.random.default_rng(0))
    at, hand = round(0.4 * RATE), round(0.04 * RATE)
    assert choked_onsets == onsets  # the choke labels nothing
    np.testing.assert_array_equal(choked[:at], ring[:at])  # nothing moves before the hand does
    np.testing.assert_allclose(choked[at + hand:], snare[at + hand:], atol=1e-7)  # after it, the snare alone rings
    assert np.abs(ring[at + hand:] - snare[at + hand:]).max() > 1e-3  # where the crash would have rung on
    fade = (choked - snare)[at:at + hand] / np.where(ring[at:at + hand] == snare[at:at + hand], 1,
                                                      (ring - snare)[at:at + hand])
    assert np.all(np.diff(fade[np.abs((ring - snare)[at:at + hand]) > 1e-4]) <= 1e-6)  # a fade, no step up
    # a choke before any hit of its cymbal does nothing
    early, early_onsets, info = kit.render([(0.05, 49, 0), (0.1, 49, 110), (0.2, 38, 100)], RATE,
                                           np.random.default_rng(0))
    np.testing.assert_array_equal(early, ring)
    assert early_onsets == onsets and info["dropped"] == {}


def test_a_choke_fades_a_soundfont_kit_crash_out_too(cache, monkeypatch):
    """Drum presets ignore note-offs (measured: AVL's and MuseScore's crashes ring on), so a
    choked key is rendered alone and faded out; the two renders add up to the one they replace."""
    kit = next(k for k in K.discover_kits()[0] if k.name == "avl/Black_Pearl_4pc")
    hits = [(0.1, 49, 110), (0.2, 38, 100)]
    ring, onsets, _ = kit.render(hits, RATE, np.random.default_rng(0), cache)
    sent = []
    real = K.fluidsynth
    monkeypatch.setattr(K, "fluidsynth", lambda sf2, messages, n, **kw: sent.append(messages) or real(sf2, messages, n, **kw))
    choked, choked_onsets, _ = kit.render(hits + [(0.4, 49, 0)], RATE, np.random.default_rng(0), cache)
    snare, _, _ = kit.render(hits[1:], RATE, np.random.default_rng(0), cache)
    tick, at = K.schedule(round(0.4 * RATE))
    fade = int(K.CHOKE_FADE_S * RATE)
    assert choked_onsets == onsets  # the choke labels nothing
    np.testing.assert_allclose(choked[:at], ring[:at], atol=1e-6)  # the two renders add up to the one
    np.testing.assert_allclose(choked[at + fade:], snare[at + fade:], atol=1e-6)  # then the snare alone
    assert np.abs(ring[at + fade:] - snare[at + fade:]).max() > 1e-3  # where the crash rang on
    offs = [t for msgs in sent[:2] for t, m in msgs if m.type == "note_off"]
    assert tick in offs  # and the key gets its note-off at the choke


def test_choke_envelope():
    env = K.choke_envelope(20, chokes=[5, 30], starts=[0, 12], fade=4)
    np.testing.assert_allclose(env, [1] * 5 + [0.75, 0.5, 0.25, 0] + [0] * 3 + [1] * 8)
    assert np.all(K.choke_envelope(10, [], [0], 4) == 1)
    np.testing.assert_allclose(K.choke_envelope(10, [2], [0, 4], 4), [1, 1, 0.75, 0.5, 1, 1, 1, 1, 1, 1])


def test_left_out_families_are_never_drawn(ctx):
    context, _ = ctx
    with_all = S.plan(context, 0.3, seed=2, splits=("train",))
    without = S.plan(S.Context(**{**vars(context), "config": S.SynthConfig(left_out_families=("musescore",))}),
                     0.3, seed=2, splits=("train",))
    assert any(K.family_of(sp["kit"]) == "musescore" for sp in with_all if "kit" in sp)
    kits = [sp["kit"] for sp in without if "kit" in sp]
    assert len(kits) >= 10 and not any(K.family_of(k) == "musescore" for k in kits)
    with pytest.raises(DatasetError, match="nothing"):
        S.plan(S.Context(**{**vars(context), "config": S.SynthConfig(left_out_families=("nothing",))}), 0.05, seed=2)


def test_new_kit_families_and_their_splits(ctx):
    context, left_out = ctx
    families = {K.family_of(n): k.split for n, k in context.kits.items()}
    assert families["musescore"] == "train" and families["timgm6mb"] == "test"
    assert "musescore/Metronome" in left_out["kits"] and "timgm6mb/Orchestra" in left_out["kits"]
    assert any(n.startswith("musescore/TR-808") for n in context.kits)  # electronic kits are drums too


need_libraries = pytest.mark.skipif(
    not all((K.SAMPLE_LIBRARY_ROOT / d).is_dir() for d in (K.SONIC_PI_DIR, K.LMMS_DIR)),
    reason="needs Debian sonic-pi-samples and lmms-common")


@pytest.fixture(scope="session")
def lib_ctx(sources, cache):
    return S.context(sources, S.SynthConfig(libraries=K.LIBRARIES), cache_dir=cache, workers=1)


@need_libraries
def test_sample_libraries_join_training_only_when_asked_for(ctx, lib_ctx):
    context, _ = ctx
    assert not any(n.startswith("samples/") for n in context.kits)  # renders made before keep their draws
    kits = lib_ctx[0].kits
    assert {n: (k.family, k.split) for n, k in kits.items() if n.startswith("samples/")} == {
        "samples/sonic-pi": ("sonic-pi", "train"), "samples/sonic-pi-electronic": ("sonic-pi", "train"),
        "samples/lmms": ("lmms", "train")}
    # no sample file is heard in two splits, with the libraries too
    seen: dict[str, str] = {}
    for k in kits.values():
        for lay in (lay for inst in getattr(k, "instruments", ()) for lay in inst.layers):
            assert seen.setdefault(digest(lay.path), k.split) == k.split, (k.name, lay.path)
    acoustic = kits["samples/sonic-pi"]
    assert acoustic.classes == set(CLASSES) and acoustic.mapping()["tom_low"] == ["drum_tom_lo"]
    assert kits["samples/lmms"].missing == ["kick04.ogg: unreadable"]  # Debian ships a broken file
    assert kits["samples/lmms"].mapping()["tom_high"] == kits["samples/lmms"].mapping()["tom_low"]  # a pool
    specs = S.plan(lib_ctx[0], 1.0, seed=3, splits=("train",))
    drawn = {K.family_of(sp["kit"]) for sp in specs if "kit" in sp}
    assert {"sonic-pi", "lmms"} <= drawn
    assert all("eq" in sp["pieces"]["TT"] for sp in specs if sp.get("kit", "").startswith("samples/")
               and "pieces" in sp)  # sample kits: each piece equalised
    with pytest.raises(ValueError, match="nothing"):
        K.library_kits(libraries=("nothing",))


@need_libraries
def test_a_library_kit_plays_its_velocity_layers_at_the_sample(lib_ctx):
    kit = lib_ctx[0].kits["samples/sonic-pi"]
    snare = next(i for i in kit.instruments if i.role == "snare")
    for vel, name in ((127, "drum_snare_hard.flac"), (40, "drum_snare_soft.flac")):
        audio, onsets, _ = kit.render([(0.1, 38, vel)], RATE, np.random.default_rng(0))
        x, onset = K.load_sample(next(lay.path for lay in snare.layers if lay.path.name == name))
        start = round(0.1 * RATE)
        want = np.zeros(RATE, np.float32)
        want[start:start + len(x)] = x[:RATE - start] * vel / 127
        np.testing.assert_allclose(audio, want, atol=1e-7)
        assert onsets == [(start + onset, "SD", vel)]


@need_libraries
@pytest.mark.parametrize("kit", ["samples/sonic-pi", "samples/lmms"])
def test_library_kits_annotations_sit_on_the_acoustic_onsets(lib_ctx, kit):
    test_annotations_sit_on_the_acoustic_onsets(lib_ctx, kit)


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
        groove_hits(root, "x.mid")
