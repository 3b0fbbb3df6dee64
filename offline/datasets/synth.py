"""Synthetic training data: drum parts played by real sampled kits, alone or inside music,
labelled exactly at the acoustic onsets.

    render_dataset(out_dir, hours, seed=0, splits=("train", "validation", "test")) -> manifest path
    load(out_dir) -> list[Track]
    example_group(track, by) -> str     (what `rtadt-train evaluate --by` groups the scores by)

This module is the dataset: its sources and config, the plan (what each example is, drawn from
the seed), the rendering of an example and of a whole set by a pool of workers, the files
written and the loader (`load`, named in offline.datasets.LOADERS). What is played, and how it
is made to sound, are the modules it imports, none of which imports it.

Sources
  drum parts   the Groove MIDI Dataset (its train split for train, validation for validation;
               it has no test split), procedural grooves, fills and isolated hits (seeded):
               offline/datasets/performances.py; and the drum channel of songs that have one;
               a share of parts is played with its hi-hat left out (SynthConfig.without_hihat);
  kits         Hydrogen kits and sample libraries (SynthConfig.libraries) mixed in numpy and
               SoundFont kits (FluidR3's GM drum bank, AVL drums) played by fluidsynth:
               offline/datasets/kits.py;
  music        songs of accompaniment-midi rendered with FluidR3's melodic programs (POP909's
               program-0 tracks get instruments from ACCOMPANIMENT_PROGRAMS at random):
               offline/datasets/songs.py;
  sound        rooms, a mix/master chain and codecs (offline/datasets/recording.py), EQ, a
               reverb tail, compression, noise, mains hum and the level (offline/datasets/mixing.py).

Example kinds (SynthConfig.kinds): "drums" (a drum part alone), "drums+music" (a drum part over
the drum-less accompaniment of a song), "song" (a song's own drum part, played by a sampled kit,
inside its own accompaniment: a full mix with exact labels, as Slakh was made) and "music" (no
drums at all: what the model must not answer to).

Splits: kits by family (kits.FAMILY_SPLIT), songs by a hash of the song (`songs.song_split`;
POP909's songs and their MMA arrangements are one song), drum parts by the Groove MIDI split.
So validation and test hear no kit and no song that training heard.

Labels: `time<TAB>class<TAB>velocity` per line, time = the note's start plus the attack offset
of the very sound played (kits.py), in seconds from the start of the example; only onsets
inside the example. Drum notes go through rtadt.drums.gm_note_to_class: an unknown note is an
error (a song whose drum channel has one is left out of full mixes and its percussion out of
the accompaniment, and the manifest lists it); non-kit percussion (tambourine, cowbell, ...) of
a song stays in the accompaniment, unlabelled, played by FluidR3's standard kit.

Output: audio/<split>/<id>.flac (44.1 kHz mono, 24 bit), annotations/<split>/<id>.tsv and
manifest.json (seed, config, kits and their split and mapping, left-out kits and songs, and per
example its spec (what was drawn: source drum part, kit, song, level, augmentations, split,
duration) and details (what rendering found: instruments played, programs, dropped hits,
notes of a class the spec leaves out, final gain)). The plan is drawn per example from (seed,
split, index), so the same seed gives the same files, and a larger `hours` extends a smaller
one. Rendering resumes: an example whose files exist with a manifest entry of the same spec is
not rendered again.
"""
from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from offline.datasets import kits as kitlib
from offline.datasets import recording
from offline.datasets.base import SPLITS, DatasetError, Track, require
from offline.datasets.kits import DATASET
from offline.datasets.mixing import draw_augmentations, draw_hum, finish
from offline.datasets.performances import groove_index, groove_part, plan_groove, procedural_part
from offline.datasets.songs import (ACCOMPANIMENT_PROGRAMS, excerpt_messages, song_catalogue, song_messages,
                                    split_song)
from offline.datasets.workers import worker_pool
from offline.example import RATE, SOUNDFONT
from rtadt.atomic import atomic_path, write_text
from rtadt.drums import Event, UnknownLabelError, gm_note_to_class

# Groove MIDI and the accompaniment songs: $RTADT_DATA, else the project layout's shared/data
# beside the repository (../shared/data). Sources() can name other folders.
DATA_ROOT = Path(os.environ.get("RTADT_DATA") or Path(__file__).resolve().parents[3] / "shared" / "data")
DEFAULT_CACHE = Path(os.environ.get("RTADT_CACHE", Path.home() / ".cache" / "rtadt")) / "synth"

KINDS = ("drums", "drums+music", "song", "music")


MUSESCORE = kitlib.GM_SOUNDFONT_KITS["musescore"]  # its instruments play accompaniments too (SynthConfig.musescore)


@dataclass(frozen=True)
class Sources:
    groove: Path = DATA_ROOT / "groove-midi"
    accompaniment: Path = DATA_ROOT / "accompaniment-midi"
    hydrogen: Path = kitlib.HYDROGEN_ROOT
    soundfonts: Path = kitlib.SOUNDFONT_DIR
    gm_soundfont: Path = SOUNDFONT
    sample_libraries: Path = kitlib.SAMPLE_LIBRARY_ROOT  # where SynthConfig.libraries are installed
    # SoundFonts the accompaniment is played with, one drawn per example (those that exist):
    # MuseScore General's instruments sound far less like General MIDI than FluidR3's.
    music_soundfonts: tuple[Path, ...] = (SOUNDFONT, kitlib.SOUNDFONT_DIR / MUSESCORE)


@dataclass(frozen=True)
class SynthConfig:
    seconds: tuple[float, float] = (12.0, 30.0)  # example duration, uniform
    split_shares: dict = field(default_factory=lambda: {"train": 0.8, "validation": 0.1, "test": 0.1})
    # Chosen on ENST drummer 2 (offline/results/realism): a music-heavy mix (drums 0.15, music
    # 0.2) cost 0.10 micro F1 on real drums alone and bought 0.01 on real drums with a band.
    kinds: dict = field(default_factory=lambda: {"drums": 0.3, "drums+music": 0.35, "song": 0.3, "music": 0.05})
    # share of drum parts (outside songs) that are procedural, where Groove MIDI exists. Left out on ENST
    # drummer 2 (offline/results/realism/procedural, two seeds): alone -0.016, the band -0.055, the toms
    # 0.37-0.40 -> 0.04-0.25, the rendered tests -0.01 to -0.02.
    procedural: float = 0.3
    # share of procedural grooves with crash chokes and cymbal swells (performances.cymbal_gestures;
    # a choke fades the crash out over 40 ms on every kit, kits.CHOKE_FADE_S). Off: added on ENST
    # drummer 2 (offline/results/realism/gestures, two seeds) alone -0.011 at both, the band -0.010,
    # the rendered tests +0.011.
    cymbal_gestures: float = 0.0
    # share of drum parts (any source) played with every hi-hat note left out, so bright snares are
    # heard with no hi-hat over them (38 % of rendered snares have one within 50 ms; the hi-hat
    # answers on isolated real snares: offline/results/realism/snare-boundaries). Labels follow:
    # a note not played is no onset. Off: at 0.5 in a 4 h render beside the best renders
    # (offline/results/realism/without-hihat, two seeds) drummer 2's phrases -0.009 / -0.004, the
    # false hi-hats on his snares +0.14 / -0.09, the new render test +0.009 at both.
    without_hihat: float = 0.0
    # Levels and clipping, left out together on ENST drummer 2 (offline/results/realism/levels, two seeds:
    # one level, none quiet or clipped): alone -0.012, the band -0.020, the toms lost; level robustness
    # unchanged (it comes from the level-normalised features).
    level_db: tuple[float, float] = (-45.0, -6.0)  # RMS dBFS of the finished example (peak kept under 0.99) ...
    quiet: float = 0.1  # share of very quiet examples ...
    quiet_db: tuple[float, float] = (-60.0, -45.0)  # ... at this RMS
    clip: float = 0.05  # share of examples driven into hard clipping ...
    clip_db: tuple[float, float] = (1.0, 12.0)  # ... this many dB over full scale at their peak
    drums_to_music_db: tuple[float, float] = (-12.0, 9.0)  # RMS ratio of the drum stem to the music
    pieces: float = 0.7  # share of kits with each piece tuned and balanced (kits.piece_tuning) ...
    # ... and of those, the share with each piece equalised too (kits.piece_eq; sample kits only: a
    # SoundFont kit plays all its pieces in one fluidsynth run). Chosen on ENST drummer 2
    # (offline/results/realism/piece-eq, two seeds): toms 0.17-0.21 -> 0.37-0.40, the band +0.03-0.08,
    # drums alone +0.015 / -0.001, the rendered tests -0.02-0.03. Renders made before: piece_eq=0.
    piece_eq: float = 1.0
    # ... and of all tuned kits, the share with the metal under the drums (kits.piece_balance). Off: on
    # ENST drummer 2 (offline/results/realism/piece-balance, two seeds) it lost the toms per-piece EQ
    # taught (0.37-0.40 -> 0.07-0.12), the phrases -0.014 and the band -0.015 on average.
    piece_balance: float = 0.0
    # share of sample-kit examples recorded piece by piece: close microphones that hear each other
    # (bleed) and overheads (recording.draw_mics; a SoundFont kit has no stems, so none). Off: on ENST
    # drummer 2 (offline/results/realism/mics, two seeds, mics=1) alone -0.008, the band -0.033, and the
    # toms per-piece EQ taught lost (0.37-0.40 -> 0.04-0.18).
    mics: float = 0.0
    # share of accompaniments played with MuseScore General where it is installed, the rest with the
    # other music SoundFonts (FluidR3). None: one drawn uniformly over those installed (a half each),
    # as every render before this field; a number is drawn last, so the rest of each example stays.
    # FluidR3 alone (musescore=0) on ENST drummer 2 (offline/results/realism/musescore, two seeds): alone
    # -0.009, the band -0.008, the rendered tests +0.01.
    musescore: float | None = None
    # kit families (kits.family_of) left out of every split: the kits ablation leaves out "musescore",
    # MuseScore General's kits, the ones added since the first rendering (one training family in six;
    # left out on ENST drummer 2, offline/results/realism/kits, two seeds: alone -0.012, the toms lost)
    left_out_families: tuple[str, ...] = ()
    # sample libraries (kits.LIBRARIES: Sonic Pi's and LMMS's one-shots) whose kits join the training
    # families; () as every render before them.
    libraries: tuple[str, ...] = ()
    room: float = 0.6  # share of drum stems recorded in a room (recording.draw_room) ...
    music_room: float = 0.4  # ... and of accompaniments, in a room of their own
    master: float = 0.6  # share of examples through a mix/master chain (recording.draw_master)
    codec: float = 0.2  # share of examples through a lossy codec round trip (MP3, Ogg Vorbis)
    eq: float = 0.5  # probabilities of each augmentation of `mixing.finish`
    reverb: float = 0.15  # a synthetic noise tail, for rooms larger than the image sources make
    compress: float = 0.0  # the simple compressor (the master chain has pedalboard's)
    noise: float = 0.3
    # share of examples with mains hum (mixing.draw_hum): ENST drummer 1's recordings carry a steady
    # 100 Hz line that no render had (offline/results/realism/snare-boundaries). Off: one seed so far
    # (offline/results/realism/hum): drummer 2's phrases -0.005, the band +0.040, the render tests +0.015 / +0.007.
    hum: float = 0.0
    preroll: float = 1.5  # seconds rendered before the example, so it starts inside ringing music


# ------------------------------------------------------------------ planning

@dataclass
class Context:
    """What every worker needs to render any example."""

    sources: Sources
    config: SynthConfig
    cache_dir: Path
    kits: dict  # name -> kit
    songs: dict  # path -> Song


def plan(ctx: Context, hours: float, seed: int, splits=SPLITS) -> list[dict]:
    """Example specs, drawn each from its own generator (seed, split, index), until each
    split's share of `hours` is filled."""
    cfg = ctx.config
    shares = {s: cfg.split_shares.get(s, 0.0) for s in splits}
    total = sum(shares.values()) or 1.0
    groove = [r for r in groove_index(ctx.sources.groove)] if Path(ctx.sources.groove).is_dir() else []
    music_fonts = [Path(p).name for p in ctx.sources.music_soundfonts if Path(p).is_file()]
    found = sorted({kit.family for kit in ctx.kits.values()})
    unknown = sorted(set(cfg.left_out_families) - set(found))
    if unknown:
        raise DatasetError(DATASET, ctx.sources.hydrogen,
                           f"kit families to leave out among those found ({', '.join(found)}), not {unknown}")
    specs = []
    for split in splits:
        target = hours * 3600 * shares[split] / total
        families: dict[str, list[str]] = {}
        for name, kit in sorted(ctx.kits.items()):
            if kit.split == split and kit.family not in cfg.left_out_families:
                families.setdefault(kit.family, []).append(name)
        songs = [s for s in ctx.songs.values() if s.split == split and s.channels]
        full = [s for s in ctx.songs.values() if s.split == split and s.full_mix]
        rows = [r for r in groove if r["split"] == split]
        if not families:
            raise DatasetError(DATASET, ctx.sources.hydrogen, f"at least one kit for the {split} split")
        kinds = {k: w for k, w in cfg.kinds.items()
                 if w > 0 and (k == "drums" or (k == "song" and full) or (k in ("drums+music", "music") and songs))}
        if not kinds:
            raise DatasetError(DATASET, ctx.sources.accompaniment,
                               f"songs for the {split} split to make the kinds asked for ({', '.join(cfg.kinds)})")
        done, i = 0.0, 0
        while done < target:
            rng = np.random.default_rng([seed, SPLITS.index(split), i])
            specs.append(draw_spec(rng, f"{split}-{i:05d}", split, cfg, kinds, families, songs, full, rows,
                                   music_fonts))
            done += specs[-1]["duration"]
            i += 1
    return specs


def draw_spec(rng, ident, split, cfg, kinds, families, songs, full, rows, music_fonts=()) -> dict:
    names = sorted(kinds)
    w = np.array([kinds[k] for k in names])
    kind = names[int(rng.choice(len(names), p=w / w.sum()))]
    duration = round(float(rng.uniform(*cfg.seconds)), 3)
    spec = {"id": ident, "split": split, "kind": kind, "duration": duration, "seed": int(rng.integers(2 ** 62))}
    if kind in ("drums", "drums+music"):
        if rows and rng.random() >= cfg.procedural:
            spec["drums"] = {"source": "groove", "segments": plan_groove(rng, rows, cfg.preroll + duration)}
        else:
            style = str(rng.choice(["groove", "groove", "groove", "busy", "sparse"]))
            spec["drums"] = {"source": "procedural", "style": style, "seed": int(rng.integers(2 ** 62))}
    if kind in ("song", "drums+music", "music"):
        pool = full if kind == "song" else songs
        song = pool[int(rng.integers(len(pool)))]
        start = float(rng.uniform(0, max(song.duration - duration, 0.0)))
        spec["song"] = {"file": song.path, "start": round(start, 4)}
        if kind == "song":
            spec["drums"] = {"source": "song"}
    if kind != "music":
        fam = sorted(families)[int(rng.integers(len(families)))]
        spec["kit"] = families[fam][int(rng.integers(len(families[fam])))]
    if kind in ("song", "drums+music"):
        spec["drums_to_music_db"] = float(rng.uniform(*cfg.drums_to_music_db))
    if "song" in spec and music_fonts:
        spec["song"]["soundfont"] = music_fonts[int(rng.integers(len(music_fonts)))]
    quiet = rng.random() < cfg.quiet
    spec["level_db"] = float(rng.uniform(*(cfg.quiet_db if quiet else cfg.level_db)))
    if not quiet and rng.random() < cfg.clip:
        spec["clip_db"] = float(rng.uniform(*cfg.clip_db))
    spec["augment"] = draw_augmentations(rng, cfg)
    if "kit" in spec and rng.random() < cfg.pieces:
        spec["pieces"] = kitlib.piece_tuning(rng)
    if "kit" in spec and rng.random() < cfg.room:
        spec["room"] = recording.draw_room(rng)
    if "song" in spec and rng.random() < cfg.music_room:
        spec["music_room"] = recording.draw_room(rng)
    if rng.random() < cfg.master:
        spec["master"] = recording.draw_master(rng)
    if rng.random() < cfg.codec:
        spec["codec"] = recording.draw_codec(rng)
    # drawn last: with piece_eq=0 (piece_balance=0, mics=0, musescore=None, cymbal_gestures=0,
    # without_hihat=0, hum=0) a seed's specs are what they were before per-piece EQ (the skewed balance,
    # the microphones, the MuseScore share, the cymbal gestures, the parts without hi-hat, the hum) existed
    if ("pieces" in spec and spec["kit"].startswith(kitlib.SAMPLE_KIT_PREFIXES) and cfg.piece_eq > 0
            and rng.random() < cfg.piece_eq):
        for c, bands in kitlib.piece_eq(rng).items():
            spec["pieces"][c]["eq"] = bands
    if "pieces" in spec and cfg.piece_balance > 0 and rng.random() < cfg.piece_balance:
        for c, offset in kitlib.piece_balance(rng).items():
            spec["pieces"][c]["gain_db"] += offset
    if ("kit" in spec and spec["kit"].startswith(kitlib.SAMPLE_KIT_PREFIXES) and cfg.mics > 0
            and rng.random() < cfg.mics):
        spec["mics"] = recording.draw_mics(rng)
    if cfg.musescore is not None and "song" in spec and MUSESCORE in music_fonts:
        others = [f for f in music_fonts if f != MUSESCORE]
        spec["song"]["soundfont"] = (MUSESCORE if not others or rng.random() < cfg.musescore
                                     else others[int(rng.integers(len(others)))])
    if (cfg.cymbal_gestures > 0 and spec.get("drums", {}).get("style") == "groove"
            and rng.random() < cfg.cymbal_gestures):
        spec["drums"]["cymbals"] = True
    if "drums" in spec and cfg.without_hihat > 0 and rng.random() < cfg.without_hihat:
        spec["drums"]["without"] = ["HH"]
    if cfg.hum > 0 and rng.random() < cfg.hum:
        spec["augment"]["hum"] = draw_hum(rng)
    return json.loads(json.dumps(spec))  # JSON types only, so a spec read back compares equal


# ------------------------------------------------------------------ rendering

def render_example(spec: dict, ctx: Context) -> tuple[np.ndarray, list[Event], dict]:
    """The audio (float32, 44.1 kHz, exactly spec's duration), the events and the details."""
    rng = np.random.default_rng(spec["seed"])
    pre, n_pre, n = ctx.config.preroll, int(round(ctx.config.preroll * RATE)), int(round(spec["duration"] * RATE))
    total = n_pre + n
    details: dict = {}
    hits: list[tuple[float, int, int]] = []
    music = None
    src = spec.get("drums", {}).get("source")
    if src == "groove":
        hits = groove_part(ctx.sources.groove, spec["drums"]["segments"])
    elif src == "procedural":
        hits, details["procedural"] = procedural_part(spec["drums"], pre + spec["duration"])
    if "song" in spec:
        song = ctx.songs[spec["song"]["file"]]
        programs = None
        if song.path.startswith("pop909/"):  # POP909: three program-0 tracks to dress
            programs = {ch: int(rng.choice(ACCOMPANIMENT_PROGRAMS)) for ch in song.channels}
            details["programs"] = programs
        timed = song_messages(Path(ctx.sources.accompaniment) / song.path)
        drums, accomp, _ = split_song(timed, programs)
        origin = spec["song"]["start"] - pre  # song time at sample 0 of the render
        if src == "song":
            hits = [(t - origin, note, vel) for t, note, vel in drums if origin <= t < origin + pre + spec["duration"]]
        shift = int(round(max(-origin, 0.0) * RATE))  # an excerpt from before the song's start: silence first
        messages = [(s + shift, m) for s, m in excerpt_messages(accomp, max(origin, 0.0)) if s + shift < total]
        music = kitlib.fluidsynth(music_soundfont(ctx.sources, spec["song"].get("soundfont")), messages, total)
        if "music_room" in spec:
            music = recording.room(music, spec["music_room"])
    if spec.get("drums", {}).get("without"):
        hits, details["notes_left_out"] = leave_out(hits, spec["drums"]["without"])
    events: list[Event] = []
    drum_audio = None
    if "kit" in spec:
        kit = ctx.kits[spec["kit"]]
        mics = {"mics": spec["mics"]} if "mics" in spec else {}  # sample kits only (draw_spec)
        drum_audio, onsets, details["kit"] = kit.render(hits, total, rng, ctx.cache_dir, spec.get("pieces"), **mics)
        if "room" in spec:
            drum_audio = recording.room(drum_audio, spec["room"])
        events = [Event((s - n_pre) / RATE, drum, vel) for s, drum, vel in onsets if n_pre <= s < total]
        drum_audio = drum_audio[n_pre:]
    if music is not None:
        music = music[n_pre:]
    if drum_audio is not None and music is not None:
        rd, rm = recording.rms(drum_audio), recording.rms(music)
        if rd > 0 and rm > 0:
            drum_audio = drum_audio * (rm / rd * 10 ** (spec["drums_to_music_db"] / 20))
        mix = drum_audio + music
    else:
        mix = drum_audio if drum_audio is not None else music
    audio, details["level"] = finish(mix.astype(np.float32), spec)
    return audio, events, details


def leave_out(hits: list[tuple[float, int, int]], classes) -> tuple[list[tuple[float, int, int]], int]:
    """The hits whose note is of none of `classes` (rtadt.drums classes), and how many were left out."""
    kept = [h for h in hits if gm_note_to_class(h[1]) not in classes]
    return kept, len(hits) - len(kept)


def music_soundfont(sources: Sources, name: str | None) -> Path:
    """The accompaniment's SoundFont: the one of sources.music_soundfonts with that file name,
    or the GM SoundFont where the spec names none."""
    if name is None:
        return Path(sources.gm_soundfont)
    for path in sources.music_soundfonts:
        if Path(path).name == name:
            return Path(path)
    raise DatasetError(DATASET, name, f"one of the music SoundFonts {[str(p) for p in sources.music_soundfonts]}")


def write_annotations(path: Path, events: list[Event]) -> None:
    path.write_text("".join(f"{e.time:.6f}\t{e.drum}\t{e.velocity}\n" for e in events))


def read_annotations(path: Path) -> tuple[Event, ...]:
    events = []
    for i, line in enumerate(require(DATASET, path, "annotation file").read_text().splitlines()):
        if not line.strip():
            continue
        try:
            t, drum, vel = line.split("\t")
            events.append(Event(float(t), drum, int(vel)))
        except (ValueError, UnknownLabelError) as exc:
            raise DatasetError(DATASET, path, f"line {i + 1}: time<TAB>class<TAB>velocity ({exc})") from None
    return tuple(events)


_CTX: Context | None = None


def _init(ctx: Context) -> None:
    global _CTX
    _CTX = ctx


def _render_one(args) -> dict:
    """Render one example into out_dir, files written under temporary names and moved."""
    spec, out_dir = args
    audio, events, details = render_example(spec, _CTX)
    audio_rel = Path("audio") / spec["split"] / f"{spec['id']}.flac"
    ann_rel = Path("annotations") / spec["split"] / f"{spec['id']}.tsv"
    for rel in (audio_rel, ann_rel):
        (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / audio_rel, suffix=".flac") as tmp:
        sf.write(tmp, audio, RATE, subtype="PCM_24", format="FLAC")
    with atomic_path(out_dir / ann_rel) as tmp:
        write_annotations(tmp, events)
    return {"id": spec["id"], "split": spec["split"], "audio": str(audio_rel), "annotations": str(ann_rel),
            "duration": spec["duration"], "events": len(events), "bytes": (out_dir / audio_rel).stat().st_size,
            "spec": spec, "details": details}


def _finished(entry: dict | None, spec: dict, out_dir: Path) -> bool:
    if entry is None or entry.get("spec") != spec:
        return False
    audio, ann = out_dir / entry["audio"], out_dir / entry["annotations"]
    return audio.is_file() and ann.is_file() and audio.stat().st_size == entry["bytes"]


def context(sources: Sources | None = None, config: SynthConfig | None = None, cache_dir: Path | None = None,
            workers: int = 2) -> tuple[Context, dict]:
    """Kits and songs found under `sources`, and what was left out (for the manifest)."""
    sources, config = sources or Sources(), config or SynthConfig()
    cache_dir = Path(cache_dir or DEFAULT_CACHE)
    kits, excluded = kitlib.discover_kits(sources.hydrogen, sources.soundfonts, sources.gm_soundfont,
                                          sources.sample_libraries, config.libraries)
    songs = song_catalogue(sources.accompaniment, cache_dir, workers) if Path(sources.accompaniment).is_dir() else []
    ctx = Context(sources, config, cache_dir, {k.name: k for k in kits}, {s.path: s for s in songs})
    left_out = {"kits": excluded,
                "songs_without_full_mix": {s.path: f"unknown drum notes {list(s.unknown)}" for s in songs if s.unknown}}
    return ctx, left_out


def render_dataset(out_dir: Path, hours: float, seed: int = 0, splits=("train", "validation", "test"), *,
                   workers: int = 2, config: SynthConfig | None = None, sources: Sources | None = None,
                   cache_dir: Path | None = None, progress: bool = True) -> Path:
    """Render about `hours` of examples (shared among `splits` by config.split_shares) into
    out_dir; returns the manifest's path. Resumes: finished examples are kept."""
    from tqdm import tqdm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    bad = [s for s in splits if s not in SPLITS]
    if bad:
        raise ValueError(f"unknown splits {bad}; known: {SPLITS}")
    ctx, left_out = context(sources, config, cache_dir, workers)
    specs = plan(ctx, hours, seed, tuple(splits))
    manifest_path = out_dir / "manifest.json"
    old = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    old_entries = {e["id"]: e for e in old.get("examples", [])}
    entries = {s["id"]: old_entries[s["id"]] for s in specs if _finished(old_entries.get(s["id"]), s, out_dir)}
    header = {
        "format": "rtadt-synth", "version": 1, "seed": seed, "hours": hours, "splits": list(splits),
        "planned": len(specs),
        "sample_rate": RATE, "config": asdict(ctx.config),
        "sources": {k: str(v) for k, v in asdict(ctx.sources).items()},
        "kit_split": {"families": kitlib.KIT_FAMILIES, "held_out": kitlib.FAMILY_SPLIT, "default": "train"},
        "kits": {name: {"split": k.split, "family": k.family, "type": type(k).__name__, "mapping": k.mapping(),
                        "unmapped": k.unmapped, "missing_samples": getattr(k, "missing", [])}
                 for name, k in sorted(ctx.kits.items())},
        "left_out": left_out,
        "song_split": {"rule": "sha256(song key) -> train 0.8, validation 0.1, test 0.1",
                       "songs": {s: sum(1 for x in ctx.songs.values() if x.split == s) for s in SPLITS}},
    }

    def save():
        examples = [entries[s["id"]] for s in specs if s["id"] in entries]
        write_text(manifest_path, json.dumps(dict(header, examples=examples), indent=1))

    todo = [s for s in specs if s["id"] not in entries]
    save()
    t0, seconds = time.perf_counter(), 0.0
    bar = tqdm(total=len(specs), initial=len(specs) - len(todo), unit="ex", disable=not progress, desc="synth")
    with worker_pool(workers, _init, (ctx,)) as pool:
        results = (pool.imap_unordered if pool else map)(_render_one, [(s, out_dir) for s in todo])
        for entry in results:
            entries[entry["id"]] = entry
            seconds += entry["duration"]
            bar.update()
            bar.set_postfix(rate=f"{seconds / (time.perf_counter() - t0):.1f}x")
            save()
    bar.close()
    return manifest_path


GROUPINGS = ("kind", "kit", "family", "level")


def example_group(track: Track, by: str) -> str:
    """The group of a rendered example (a Track that `load` gave) by its spec: its kind, its kit
    ("no kit" for music alone), the kit's family (`kits.family_of`: kits that share samples or a
    maker, the unit the splits hold out) or its level (RMS dBFS, in 10 dB steps: "-40..-30 dBFS").
    Where a model's errors lie, e.g. that a test split's low F1 comes from one kit."""
    if by not in GROUPINGS:
        raise ValueError(f"group rendered examples by one of {GROUPINGS}, not {by!r}")
    spec = track.meta.get("spec")
    if not isinstance(spec, dict) or "kind" not in spec:
        raise ValueError(f"{track.dataset}/{track.name}: not a rendered example (no spec to group it by)")
    if by == "kind":
        return spec["kind"]
    if by == "kit":
        return spec.get("kit") or "no kit"
    if by == "family":
        return kitlib.family_of(spec["kit"]) if spec.get("kit") else "no kit"
    low = 10 * np.floor(float(spec["level_db"]) / 10)
    return f"{low:.0f}..{low + 10:.0f} dBFS"


def load(root: Path) -> list[Track]:
    """The rendered examples listed in root/manifest.json, as Tracks with their annotations."""
    root = Path(root)
    path = require(DATASET, root / "manifest.json", "manifest.json (render one with `rtadt-train synth --out DIR`)")
    try:
        manifest = json.loads(path.read_text())
        examples = manifest["examples"]
    except (ValueError, KeyError) as exc:
        raise DatasetError(DATASET, path, f"a synth manifest ({exc})") from None
    planned = manifest.get("planned")  # renders before it was recorded: unknown
    if planned is not None and len(examples) < planned:
        warnings.warn(f"{root}: {len(examples)} of its {planned} planned examples are rendered (the render "
                      f"stopped, or is still running); the same `rtadt-train synth` command finishes it",
                      stacklevel=2)
    tracks = []
    for e in examples:
        audio = require(DATASET, root / e["audio"], "audio file")
        tracks.append(Track(DATASET, e["id"], e["split"], (audio,), (1.0,), read_annotations(root / e["annotations"]),
                            duration=e["duration"], meta={"spec": e["spec"], "details": e["details"]}))
    return tracks
