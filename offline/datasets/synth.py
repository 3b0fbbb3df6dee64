"""Synthetic training data: drum parts played by real sampled kits, alone or inside music,
labelled exactly at the acoustic onsets.

    render_dataset(out_dir, hours, seed=0, splits=("train", "validation", "test")) -> manifest path
    load(out_dir) -> list[Track]

Sources
  drum parts   the Groove MIDI Dataset (its train split for train, validation for validation;
               it has no test split), procedural grooves, fills and isolated hits (seeded), and
               the drum channel of songs that have one;
  kits         Hydrogen kits mixed in numpy and SoundFont kits (FluidR3's GM drum bank, AVL
               drums) played by fluidsynth: offline/datasets/kits.py;
  music        songs of accompaniment-midi rendered with FluidR3's melodic programs (POP909's
               program-0 tracks get instruments from ACCOMPANIMENT_PROGRAMS at random).

Example kinds (SynthConfig.kinds): "drums" (a drum part alone), "drums+music" (a drum part over
the drum-less accompaniment of a song), "song" (a song's own drum part, played by a sampled kit,
inside its own accompaniment: a full mix with exact labels, as Slakh was made) and "music" (no
drums at all: what the model must not answer to).

Splits: kits by family (kits.FAMILY_SPLIT), songs by a hash of the song (`song_split`; POP909's
songs and their MMA arrangements are one song), drum parts by the Groove MIDI split. So
validation and test hear no kit and no song that training heard.

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
final gain)). The plan is drawn per example from (seed, split, index), so the same seed gives
the same files, and a larger `hours` extends a smaller one. Rendering resumes: an example
whose files exist with a manifest entry of the same spec is not rendered again.
"""
from __future__ import annotations

import csv
import functools
import hashlib
import json
import multiprocessing
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import mido
import numpy as np
import soundfile as sf

from offline.datasets import kits as kitlib
from offline.datasets import recording
from offline.datasets.base import SPLITS, DatasetError, Track, require
from offline.datasets.midi import absolute_ticks, read_midi, tempo_map, tick_to_seconds
from offline.example import RATE, SOUNDFONT
from rtadt.atomic import atomic_path, write_text
from rtadt.drums import Event, UnknownLabelError, gm_note_to_class

DATASET = "synth"
# Groove MIDI and the accompaniment songs: $RTADT_DATA, else the project layout's shared/data
# beside the repository (../shared/data). Sources() can name other folders.
DATA_ROOT = Path(os.environ.get("RTADT_DATA") or Path(__file__).resolve().parents[3] / "shared" / "data")
DEFAULT_CACHE = Path(os.environ.get("RTADT_CACHE", Path.home() / ".cache" / "rtadt")) / "synth"

# Melodic programs given to POP909's program-0 tracks: keys, plucked and mallet sounds (sharp
# attacks a model could take for drums), guitars, basses, strings, winds, leads and pads.
ACCOMPANIMENT_PROGRAMS = (
    0, 1, 2, 4, 5, 6, 7,  # pianos, electric pianos, harpsichord, clavinet
    8, 9, 10, 11, 12, 13, 14,  # celesta, glockenspiel, music box, vibraphone, marimba, xylophone, tubular bells
    16, 19, 21,  # drawbar and church organ, accordion
    24, 25, 26, 27, 28, 29, 30,  # nylon, steel, jazz, clean, muted, overdriven, distortion guitars
    32, 33, 34, 36, 38,  # acoustic, finger, pick, slap and synth bass
    40, 45, 46, 48, 52,  # violin, pizzicato strings, harp, string ensemble, choir
    56, 61, 65, 68, 71, 73,  # trumpet, brass section, alto sax, oboe, clarinet, flute
    80, 81, 88, 89,  # square and saw leads, new age and warm pads
    104, 105, 106, 107, 108, 112, 114,  # sitar, banjo, shamisen, koto, kalimba, tinkle bell, steel drums
)
# Melodic programs that are drums (taiko, melodic tom, synth drum, reverse cymbal) or a bang
# (gunshot): unlabelled drums would teach the model to ignore drums, so their notes are left out.
DRUMLIKE_PROGRAMS = frozenset({116, 117, 118, 119, 127})
KINDS = ("drums", "drums+music", "song", "music")
SONG_SPLIT = (("train", 0.8), ("validation", 0.1), ("test", 0.1))


@dataclass(frozen=True)
class Sources:
    groove: Path = DATA_ROOT / "groove-midi"
    accompaniment: Path = DATA_ROOT / "accompaniment-midi"
    hydrogen: Path = kitlib.HYDROGEN_ROOT
    soundfonts: Path = kitlib.SOUNDFONT_DIR
    gm_soundfont: Path = SOUNDFONT
    # SoundFonts the accompaniment is played with, one drawn per example (those that exist):
    # MuseScore General's instruments sound far less like General MIDI than FluidR3's.
    music_soundfonts: tuple[Path, ...] = (SOUNDFONT, kitlib.SOUNDFONT_DIR / "MuseScore_General_Full.sf2")


@dataclass(frozen=True)
class SynthConfig:
    seconds: tuple[float, float] = (12.0, 30.0)  # example duration, uniform
    split_shares: dict = field(default_factory=lambda: {"train": 0.8, "validation": 0.1, "test": 0.1})
    # Chosen on ENST drummer 2 (offline/results/realism): a music-heavy mix (drums 0.15, music
    # 0.2) cost 0.10 micro F1 on real drums alone and bought 0.01 on real drums with a band.
    kinds: dict = field(default_factory=lambda: {"drums": 0.3, "drums+music": 0.35, "song": 0.3, "music": 0.05})
    procedural: float = 0.3  # share of drum parts (outside songs) that are procedural, where Groove MIDI exists
    level_db: tuple[float, float] = (-45.0, -6.0)  # RMS dBFS of the finished example (peak kept under 0.99) ...
    quiet: float = 0.1  # share of very quiet examples ...
    quiet_db: tuple[float, float] = (-60.0, -45.0)  # ... at this RMS
    clip: float = 0.05  # share of examples driven into hard clipping ...
    clip_db: tuple[float, float] = (1.0, 12.0)  # ... this many dB over full scale at their peak
    drums_to_music_db: tuple[float, float] = (-12.0, 9.0)  # RMS ratio of the drum stem to the music
    pieces: float = 0.7  # share of kits with each piece tuned and balanced (kits.piece_tuning)
    room: float = 0.6  # share of drum stems recorded in a room (recording.draw_room) ...
    music_room: float = 0.4  # ... and of accompaniments, in a room of their own
    master: float = 0.6  # share of examples through a mix/master chain (recording.draw_master)
    codec: float = 0.2  # share of examples through a lossy codec round trip (MP3, Ogg Vorbis)
    eq: float = 0.5  # probabilities of each augmentation of `finish`
    reverb: float = 0.15  # a synthetic noise tail, for rooms larger than the image sources make
    compress: float = 0.0  # the simple compressor (the master chain has pedalboard's)
    noise: float = 0.3
    preroll: float = 1.5  # seconds rendered before the example, so it starts inside ringing music


# ------------------------------------------------------------------ drum parts

@functools.lru_cache(maxsize=4)
def groove_index(root: Path) -> tuple[dict, ...]:
    """info.csv of the Groove MIDI Dataset: one row per file (duration as float)."""
    with open(require(DATASET, Path(root) / "info.csv", "Groove MIDI info.csv"), newline="") as f:
        rows = [dict(r, duration=float(r["duration"])) for r in csv.DictReader(f)]
    return tuple(sorted(rows, key=lambda r: r["midi_filename"]))


@functools.lru_cache(maxsize=256)
def groove_hits(root: Path, rel: str) -> tuple[tuple[float, int, int], ...]:
    """(time, note, velocity) of a Groove MIDI file; non-kit notes left out, unknown ones an error."""
    from offline.datasets.midi import note_on_hits

    path = Path(root) / rel
    out = []
    for h in note_on_hits(read_midi(DATASET, path)):
        try:
            if gm_note_to_class(h.note) is not None:
                out.append((h.time, h.note, h.velocity))
        except UnknownLabelError as exc:
            raise DatasetError(DATASET, path, f"known drum notes ({exc})") from None
    return tuple(out)


def plan_groove(rng: np.random.Generator, rows: list[dict], seconds: float) -> list[dict]:
    """Excerpts of Groove MIDI files, picked with probability by duration, end to end until
    `seconds` are filled: [{"file", "start", "at", "length"}]."""
    p = np.array([r["duration"] for r in rows])
    out, at = [], 0.0
    while at < seconds:
        row = rows[int(rng.choice(len(rows), p=p / p.sum()))]
        need = seconds - at
        start = float(rng.uniform(0, row["duration"] - need)) if row["duration"] > need else 0.0
        length = min(need, row["duration"])
        out.append({"file": row["midi_filename"], "start": round(start, 4), "at": round(at, 4),
                    "length": round(length, 4)})
        at += length + float(rng.uniform(0.0, 0.3))
    return out


def groove_part(root: Path, segments: list[dict]) -> list[tuple[float, int, int]]:
    hits = []
    for seg in segments:
        for t, note, vel in groove_hits(Path(root), seg["file"]):
            if seg["start"] <= t < seg["start"] + seg["length"]:
                hits.append((t - seg["start"] + seg["at"], note, vel))
    return sorted(hits)


TOMS = (50, 48, 47, 45, 43, 41)
CRASHES = (49, 57, 55, 52)
PART_NOTES = (35, 36, 37, 38, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 55, 57, 59)


def isolated_hits(rng: np.random.Generator, seconds: float, min_gap: float = 0.15) -> list[tuple[float, int, int]]:
    """Single hits of any drum at random velocities, min_gap..min_gap+1 s apart; one in five
    doubled by another drum at the same instant."""
    hits, t = [], float(rng.uniform(0.05, 0.5))
    while t < seconds:
        notes = rng.choice(PART_NOTES, size=2 if rng.random() < 0.2 else 1, replace=False)
        hits.extend((t, int(n), int(rng.integers(10, 128))) for n in notes)
        t += min_gap + float(rng.uniform(0, 1.0))
    return hits


def groove_pattern(rng: np.random.Generator, seconds: float) -> tuple[list[tuple[float, int, int]], dict]:
    """A beat with a time-keeper, kick and snare patterns, ghost notes, crashes on phrase
    starts and tom fills at phrase ends, 50-240 bpm; humanised in time and velocity; with
    ornaments (flams, drags, rolls in fills, pedal hi-hat under a ride)."""
    bpm = float(rng.uniform(50, 240) if rng.random() < 0.3 else rng.uniform(70, 180))
    beats = 3 if rng.random() < 0.15 else 4
    sub = 3 if rng.random() < 0.2 else 4  # steps per beat: triplets or sixteenths
    step, n = 60 / bpm / sub, beats * sub
    swing = float(rng.uniform(0, 0.3)) if sub == 4 and rng.random() < 0.3 else 0.0
    jitter, dyn = float(rng.uniform(0.002, 0.015)), float(rng.uniform(0.6, 1.1))
    keeper = int(rng.choice([42, 42, 42, 42, 42, 51, 51, 46, 44, 53]))
    every = int(rng.choice([1, 2, 2, 4] if sub == 4 else [1, 3]))
    phrase = int(rng.choice([4, 8]))
    p_kick = np.array([0.95 if s == 0 else 0.35 if s % sub == 0 else 0.2 if s % 2 == 0 else 0.07 for s in range(n)])
    kick = rng.random(n) < p_kick
    backbeat = {sub * 2} if rng.random() < 0.2 else ({sub, sub * 3} if beats == 4 else {sub * 2})
    info = {"style": "groove", "bpm": round(bpm, 2), "beats": beats, "steps_per_beat": sub,
            "swing": round(swing, 3), "timing_sd": round(jitter, 4), "keeper": keeper}
    hits = []

    def hit(bar_t: float, s: int, note: int, vel: float):
        t = bar_t + s * step + (swing * step if sub == 4 and s % 2 else 0.0) + float(rng.normal(0, jitter))
        v = int(np.clip(round(vel * dyn + rng.normal(0, 8)), 1, 127))
        if 0 <= t < seconds:
            hits.append((t, note, v))

    bar, bar_t = 0, 0.0
    while bar_t < seconds:
        bar_kick = np.where(rng.random(n) < 0.1, ~kick, kick)  # a few steps change each bar
        fill_from = n - sub * int(rng.integers(1, 3)) if (bar + 1) % phrase == 0 and rng.random() < 0.6 else n
        if bar % phrase == 0 and rng.random() < 0.7:
            hit(bar_t, 0, int(rng.choice(CRASHES)), 110)
        for s in range(n):
            if s >= fill_from:
                if rng.random() < 0.8:
                    note = int(rng.choice((38,) + TOMS[: 2 + (s - fill_from) * 4 // max(n - fill_from, 1)]))
                    hit(bar_t, s, note, 95)
                if s % sub == 0 and bar_kick[s]:
                    hit(bar_t, s, 36, 100)
                continue
            if s % every == 0:
                open_hat = keeper == 42 and s == n - 2 and rng.random() < 0.15
                hit(bar_t, s, 46 if open_hat else keeper, 70 + (20 if s % sub == 0 else 0))
            if bar_kick[s]:
                hit(bar_t, s, 36, 100)
            if s in backbeat:
                hit(bar_t, s, 38 if rng.random() < 0.9 else 40, 105)
            elif rng.random() < 0.08:
                hit(bar_t, s, 38, 30)  # ghost note
        bar, bar_t = bar + 1, bar_t + n * step
    hits, info["ornaments"] = ornaments(rng, hits, step, keeper, sub, seconds)
    return sorted(hits), info


def ornaments(rng: np.random.Generator, hits: list, step: float, keeper: int, sub: int, seconds: float):
    """Grace notes and extra strokes on a beat's hits (time, note, velocity):

    flam   one soft stroke of the same drum 15-40 ms before a snare or tom hit
    drag   two soft strokes 25-45 ms apart before a snare hit (a ruff)
    roll   a fill's strokes doubled or tripled (32nds or sextuplets) when the step is long
    pedal  the hi-hat foot on every beat under a ride or open-hat time-keeper

    Rates are drawn per pattern (many patterns have none); every stroke is an onset of its own.
    Returns (hits, the rates drawn)."""
    rates = {"flam": float(rng.uniform(0, 0.25)) if rng.random() < 0.4 else 0.0,
             "drag": float(rng.uniform(0, 0.1)) if rng.random() < 0.25 else 0.0,
             "roll": float(rng.uniform(0.3, 1.0)) if rng.random() < 0.3 and step >= 0.08 else 0.0,
             "pedal": keeper in (51, 53, 46) and rng.random() < 0.5}
    out = list(hits)
    for t, note, vel in hits:
        soft = int(max(1, vel * rng.uniform(0.25, 0.55)))
        if note in (38, 40) + TOMS and rng.random() < rates["flam"]:
            out.append((t - float(rng.uniform(0.015, 0.04)), note, soft))
        elif note in (38, 40) and rng.random() < rates["drag"]:
            gap = float(rng.uniform(0.025, 0.045))
            out += [(t - 2 * gap, note, soft), (t - gap, note, soft)]
        elif note in TOMS + (38,) and vel >= 90 and rng.random() < rates["roll"]:  # fills are played at 95
            strokes = int(rng.choice([2, 3]))
            out += [(t + k * step / strokes, note, int(max(1, vel * rng.uniform(0.6, 0.9)))) for k in range(1, strokes)]
    if rates["pedal"]:
        beat = step * sub
        out += [(k * beat + float(rng.normal(0, 0.005)), 44, int(rng.integers(40, 90)))
                for k in range(int(seconds / beat) + 1)]
    return [h for h in out if 0 <= h[0] < seconds], {k: round(float(v), 3) for k, v in rates.items()}


def busy_pattern(rng: np.random.Generator, seconds: float) -> tuple[list[tuple[float, int, int]], dict]:
    """Dense random sixteenths over the whole kit: many simultaneous and close hits."""
    bpm = float(rng.uniform(90, 160))
    step, t, hits = 60 / bpm / 4, 0.0, []
    groups = ((0.25, (35, 36)), (0.2, (37, 38, 40)), (0.45, (42, 44, 46)), (0.1, TOMS),
              (0.06, (49, 51, 52, 53, 55, 57)))
    while t < seconds:
        for p, notes in groups:
            if rng.random() < p:
                when = max(t + float(rng.normal(0, 0.004)), 0.0)
                hits.append((when, int(rng.choice(notes)), int(rng.integers(20, 128))))
        t += step
    return sorted(h for h in hits if h[0] < seconds), {"style": "busy", "bpm": round(bpm, 2)}


def procedural_part(params: dict, seconds: float) -> tuple[list[tuple[float, int, int]], dict]:
    """A seeded drum part: params {"style": "groove" | "busy" | "sparse", "seed", "min_gap"}."""
    rng = np.random.default_rng(params["seed"])
    if params["style"] == "sparse":
        return sorted(isolated_hits(rng, seconds, params.get("min_gap", 0.15))), {"style": "sparse"}
    if params["style"] == "busy":
        return busy_pattern(rng, seconds)
    return groove_pattern(rng, seconds)


# ------------------------------------------------------------------ songs

def song_key(rel: str) -> str:
    """The song a file is, for splitting: POP909 song N and its MMA arrangements are one song."""
    parts = Path(rel).parts
    stem = Path(rel).stem
    if parts[0] == "pop909":
        return f"pop909/{stem}"
    if parts[0] == "mma_pop909" and stem.startswith("pop909_"):
        return f"pop909/{stem.split('_')[1]}"
    return str(Path(rel).with_suffix(""))


def song_split(key: str) -> str:
    """train / validation / test by SHA-256 of the song key (80 / 10 / 10)."""
    u = int(hashlib.sha256(key.encode()).hexdigest()[:15], 16) / 16 ** 15
    for split, share in SONG_SPLIT:
        if u < share:
            return split
        u -= share
    return SONG_SPLIT[-1][0]


@functools.lru_cache(maxsize=8)
def song_messages(path: Path) -> tuple[tuple[float, mido.Message], ...]:
    """Every channel message of a MIDI file with its time in seconds (the file's tempo map)."""
    midi = read_midi(DATASET, path)
    tracks = [absolute_ticks(t) for t in midi.tracks]
    shared = tempo_map([tm for t in tracks for tm in t], midi.ticks_per_beat)
    timed = []
    for i, track in enumerate(tracks):
        segs = tempo_map(track, midi.ticks_per_beat) if midi.type == 2 else shared
        timed += [(tick_to_seconds(tick, segs, midi.ticks_per_beat), i, k, msg)
                  for k, (tick, msg) in enumerate(track) if not msg.is_meta and hasattr(msg, "channel")]
    return tuple((t, msg) for t, _, _, msg in sorted(timed, key=lambda x: x[:3]))


def split_song(timed, programs: dict[int, int] | None = None):
    """A song as (drum hits, accompaniment messages, unknown drum notes).

    Drum hits: (time, note, velocity) of channel 10's kit notes. Accompaniment: every other
    channel without bank selects (FluidR3 has bank 0 for all), with `programs` replacing the
    file's own, and channels whose program is drum-like muted; plus channel 10's non-kit
    percussion on FluidR3's standard kit, unless an unknown drum note makes channel 10 unusable.
    """
    drums, accomp, perc, unknown, program = [], [], [], set(), {}
    for ch, prog in sorted((programs or {}).items()):
        accomp.append((0.0, mido.Message("program_change", channel=ch, program=prog)))
        program[ch] = prog
    for t, msg in timed:
        if msg.channel == 9:
            if msg.type in ("note_on", "note_off"):
                try:
                    drum = gm_note_to_class(msg.note)
                except UnknownLabelError:
                    unknown.add(msg.note)
                    continue
                if drum is not None:
                    if msg.type == "note_on" and msg.velocity > 0:
                        drums.append((t, msg.note, msg.velocity))
                else:
                    perc.append((t, msg))
            continue
        if msg.type == "control_change" and msg.control in (0, 32):
            continue
        if msg.type == "program_change":
            if programs is not None:
                continue
            program[msg.channel] = msg.program
        if msg.type in ("note_on", "note_off", "program_change") and program.get(msg.channel, 0) in DRUMLIKE_PROGRAMS:
            continue
        accomp.append((t, msg))
    if perc and not unknown:
        accomp += [(0.0, mido.Message("program_change", channel=9, program=0))] + perc
    return drums, sorted(accomp, key=lambda tm: tm[0]), sorted(unknown)


def excerpt_messages(timed, start: float) -> list[tuple[int, mido.Message]]:
    """Messages from `start` on, as (sample, message) from `start`; the state that earlier
    messages left (programs, controllers, pitch bend) is restored at sample 0; notes that
    began earlier are not (a held note starts silent, as when a recording is cut)."""
    state, out = {}, []
    for t, msg in timed:
        if t < start:
            if msg.type == "program_change":
                state[(msg.channel, "p")] = msg
            elif msg.type == "control_change" and msg.control < 120:
                state[(msg.channel, msg.control)] = msg
            elif msg.type == "pitchwheel":
                state[(msg.channel, "b")] = msg
        else:
            out.append((int(round((t - start) * RATE)), msg))
    restored = sorted(state.items(), key=lambda kv: (kv[0][0], str(kv[0][1]) != "p"))
    return [(0, msg) for _, msg in restored] + out


@dataclass(frozen=True)
class Song:
    path: str  # relative to the accompaniment root
    key: str
    split: str
    duration: float
    drum_hits: int
    unknown: tuple[int, ...]
    channels: tuple[int, ...]  # melodic channels with notes

    @property
    def full_mix(self) -> bool:
        return self.drum_hits > 0 and not self.unknown


def _scan(args) -> dict:
    root, rel = args
    timed = song_messages(Path(root) / rel)
    drums, accomp, unknown = split_song(timed)
    chans = sorted({m.channel for _, m in accomp if m.type == "note_on" and m.channel != 9})
    return {"duration": max((t for t, _ in timed), default=0.0), "drum_hits": len(drums),
            "unknown": unknown, "channels": chans}


def song_catalogue(root: Path, cache_dir: Path, workers: int = 2) -> list[Song]:
    """Every .mid under root, scanned once (parsing a whole song collection is slow) and cached
    by path, size and modification time."""
    root = Path(root)
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*.mid"))
    cache_path = Path(cache_dir) / "songs.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}

    def stamp(rel):
        st = (root / rel).stat()
        return f"{(root / rel).resolve()}|{st.st_size}|{st.st_mtime_ns}"

    todo = [rel for rel in files if cache.get(rel, {}).get("stamp") != stamp(rel)]
    if todo:
        with _pool(workers) as pool:
            scanned = (pool.imap if pool else map)(_scan, [(root, rel) for rel in todo])
            for rel, info in zip(todo, scanned):
                cache[rel] = dict(info, stamp=stamp(rel))
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        _write_json(cache_path, cache)
    return [Song(rel, song_key(rel), song_split(song_key(rel)), cache[rel]["duration"], cache[rel]["drum_hits"],
                 tuple(cache[rel]["unknown"]), tuple(cache[rel]["channels"])) for rel in files]


# ------------------------------------------------------------------ augmentation

def biquad(kind: str, f0: float, gain_db: float, q: float) -> tuple[np.ndarray, np.ndarray]:
    """RBJ Audio EQ Cookbook coefficients: 'peaking', 'lowshelf' or 'highshelf' (shelf slope 1)."""
    a_, w = 10 ** (gain_db / 40), 2 * np.pi * f0 / RATE
    cw, sw = np.cos(w), np.sin(w)
    if kind == "peaking":
        alpha = sw / (2 * q)
        b = [1 + alpha * a_, -2 * cw, 1 - alpha * a_]
        a = [1 + alpha / a_, -2 * cw, 1 - alpha / a_]
    else:
        alpha = sw / 2 * np.sqrt(2)  # S = 1
        sq, s = 2 * np.sqrt(a_) * alpha, 1 if kind == "lowshelf" else -1
        b = [a_ * ((a_ + 1) - s * (a_ - 1) * cw + sq), s * 2 * a_ * ((a_ - 1) - s * (a_ + 1) * cw),
             a_ * ((a_ + 1) - s * (a_ - 1) * cw - sq)]
        a = [(a_ + 1) + s * (a_ - 1) * cw + sq, -s * 2 * ((a_ - 1) + s * (a_ + 1) * cw),
             (a_ + 1) + s * (a_ - 1) * cw - sq]
    return np.array(b) / a[0], np.array(a) / a[0]


def equalise(x: np.ndarray, p: dict) -> np.ndarray:
    from scipy.signal import lfilter

    b, a = biquad(p["kind"], p["freq"], p["gain_db"], p["q"])
    return lfilter(b, a, x).astype(np.float32)


def reverb(x: np.ndarray, p: dict) -> np.ndarray:
    """The dry signal plus a room: exponentially decaying noise (-60 dB at rt60) after a
    predelay, at wet_db relative to the dry path. The direct sound leads, so onsets stay put."""
    from scipy.signal import oaconvolve

    rng = np.random.default_rng(p["seed"])
    n = int(min(p["rt60"] * 1.2, 3.0) * RATE)
    tail = rng.standard_normal(n) * np.exp(-6.908 * np.arange(n) / (p["rt60"] * RATE))
    tail *= 10 ** (p["wet_db"] / 20) / np.sqrt(np.sum(tail ** 2))
    ir = np.concatenate([[1.0], np.zeros(int(p["predelay"] * RATE)), tail])
    return oaconvolve(x, ir)[: len(x)].astype(np.float32)


def compress(x: np.ndarray, p: dict) -> np.ndarray:
    """A feed-forward compressor: a 5 ms RMS detector, gain reduction above the threshold
    (relative to the signal's peak) by the ratio, smoothed with a fast attack and a slow
    release (the larger of two one-pole smoothings of the reduction)."""
    from scipy.signal import lfilter

    def smooth(v, tau):
        c = np.exp(-1 / (tau * RATE))
        return lfilter([1 - c], [1, -c], v)

    peak = np.abs(x).max()
    if peak == 0:
        return x
    level = 10 * np.log10(smooth(x.astype(np.float64) ** 2, 0.005) + 1e-20)
    threshold = 20 * np.log10(peak) + p["threshold_db"]
    reduction = np.maximum(level - threshold, 0) * (1 - 1 / p["ratio"])
    reduction = np.maximum(smooth(reduction, p["attack"]), smooth(reduction, p["release"]))
    return (x * 10 ** (-reduction / 20)).astype(np.float32)


def add_noise(x: np.ndarray, p: dict) -> np.ndarray:
    """White, pink or brown noise at snr_db below the signal's RMS."""
    rng = np.random.default_rng(p["seed"])
    noise = rng.standard_normal(len(x))
    if p["color"] != "white":
        spec = np.fft.rfft(noise)
        f = np.maximum(np.arange(len(spec)), 1)
        noise = np.fft.irfft(spec / (np.sqrt(f) if p["color"] == "pink" else f), len(x))
    rms, nrms = recording.rms(x), recording.rms(noise)
    if rms == 0 or nrms == 0:
        return x
    return (x + noise * rms / nrms * 10 ** (-p["snr_db"] / 20)).astype(np.float32)




def draw_augmentations(rng: np.random.Generator, cfg: SynthConfig) -> dict:
    aug = {}
    if rng.random() < cfg.eq:
        kind = str(rng.choice(["peaking", "lowshelf", "highshelf"]))
        aug["eq"] = {"kind": kind, "freq": float(np.exp(rng.uniform(np.log(60), np.log(12000)))),
                     "gain_db": float(rng.uniform(-12, 12)), "q": float(rng.uniform(0.5, 2.0))}
    if rng.random() < cfg.reverb:
        aug["reverb"] = {"rt60": float(rng.uniform(0.2, 2.0)), "wet_db": float(rng.uniform(-20, -3)),
                         "predelay": float(rng.uniform(0.005, 0.03)), "seed": int(rng.integers(2 ** 31))}
    if rng.random() < cfg.compress:
        aug["compress"] = {"threshold_db": float(rng.uniform(-30, -10)), "ratio": float(rng.uniform(2, 8)),
                           "attack": float(rng.uniform(0.001, 0.01)), "release": float(rng.uniform(0.05, 0.3))}
    if rng.random() < cfg.noise:
        aug["noise"] = {"color": str(rng.choice(["white", "pink", "brown"])), "snr_db": float(rng.uniform(12, 45)),
                        "seed": int(rng.integers(2 ** 31))}
    return aug


def finish(x: np.ndarray, spec: dict) -> tuple[np.ndarray, dict]:
    """The mix's processing in a chain's order (EQ, room tail, compressor, the master chain,
    noise), then the level: RMS to spec's level_db, lowered where the peak would pass 0.99;
    or, where spec has clip_db, the peak driven that many dB over full scale and the samples
    clipped to [-1, 1], as an overloaded input does; last a codec round trip. None of these
    moves an onset (offline/datasets/recording.py): labels stand."""
    aug = spec.get("augment", {})
    for name, fn in (("eq", equalise), ("reverb", reverb), ("compress", compress)):
        if name in aug:
            x = fn(x, aug[name])
    if "master" in spec:
        x = recording.master(x, spec["master"])
    if "noise" in aug:
        x = add_noise(x, aug["noise"])
    x, level = _level(x, spec)
    if "codec" in spec and level["gain_db"] is not None:
        x = recording.codec(x, spec["codec"])
        level["codec_peak"] = round(float(np.abs(x).max()), 4)
    return x, level


def _level(x: np.ndarray, spec: dict) -> tuple[np.ndarray, dict]:
    rms, peak = recording.rms(x), float(np.abs(x).max()) if len(x) else 0.0
    if rms == 0:
        return x, {"gain_db": None, "rms_db": None}
    if "clip_db" in spec:
        gain = 10 ** (spec["clip_db"] / 20) / peak
        y = np.clip(x * gain, -1.0, 1.0).astype(np.float32)
        return y, {"gain_db": round(20 * np.log10(gain), 2), "rms_db": round(20 * np.log10(recording.rms(y)), 2),
                   "clipped": round(float(np.mean(np.abs(y) >= 1.0)), 5)}
    gain = min(10 ** (spec["level_db"] / 20) / rms, 0.99 / peak)
    return (x * gain).astype(np.float32), {"gain_db": round(20 * np.log10(gain), 2),
                                            "rms_db": round(20 * np.log10(rms * gain), 2)}


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
    specs = []
    for split in splits:
        target = hours * 3600 * shares[split] / total
        families: dict[str, list[str]] = {}
        for name, kit in sorted(ctx.kits.items()):
            if kit.split == split:
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
    events: list[Event] = []
    drum_audio = None
    if "kit" in spec:
        kit = ctx.kits[spec["kit"]]
        drum_audio, onsets, details["kit"] = kit.render(hits, total, rng, ctx.cache_dir, spec.get("pieces"))
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


def _pool(workers: int, ctx: Context | None = None):
    """A pool of `workers` processes, or None (render in this process) for one worker."""
    if workers <= 1:
        _init(ctx) if ctx is not None else None

        class _Serial:
            def __enter__(self):
                return None

            def __exit__(self, *exc):
                return False

        return _Serial()
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method).Pool(workers, initializer=_init if ctx else None,
                                                    initargs=(ctx,) if ctx else ())


def _write_json(path: Path, obj) -> None:
    write_text(path, json.dumps(obj, indent=1))


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
    kits, excluded = kitlib.discover_kits(sources.hydrogen, sources.soundfonts, sources.gm_soundfont)
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
        _write_json(manifest_path, dict(header, examples=examples))

    todo = [s for s in specs if s["id"] not in entries]
    save()
    t0, seconds = time.perf_counter(), 0.0
    bar = tqdm(total=len(specs), initial=len(specs) - len(todo), unit="ex", disable=not progress, desc="synth")
    with _pool(workers, ctx) as pool:
        results = (pool.imap_unordered if pool else map)(_render_one, [(s, out_dir) for s in todo])
        for entry in results:
            entries[entry["id"]] = entry
            seconds += entry["duration"]
            bar.update()
            bar.set_postfix(rate=f"{seconds / (time.perf_counter() - t0):.1f}x")
            save()
    bar.close()
    return manifest_path


def load(root: Path) -> list[Track]:
    """The rendered examples listed in root/manifest.json, as Tracks with their annotations."""
    root = Path(root)
    path = require(DATASET, root / "manifest.json", "manifest.json (render one with `rtadt-train synth --out DIR`)")
    try:
        manifest = json.loads(path.read_text())
        examples = manifest["examples"]
    except (ValueError, KeyError) as exc:
        raise DatasetError(DATASET, path, f"a synth manifest ({exc})") from None
    tracks = []
    for e in examples:
        audio = require(DATASET, root / e["audio"], "audio file")
        tracks.append(Track(DATASET, e["id"], e["split"], (audio,), (1.0,), read_annotations(root / e["annotations"]),
                            duration=e["duration"], meta={"spec": e["spec"], "details": e["details"]}))
    return tracks
