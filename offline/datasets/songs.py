"""The accompaniment of synthetic examples (offline/datasets/synth.py): songs of
accompaniment-midi, their split, and the MIDI a song contributes to an example.

    song_catalogue(root, cache_dir, workers) -> [Song] (every .mid under root, scanned once, cached)
    song_split(song_key(rel)) -> "train" | "validation" | "test"
    split_song(song_messages(path), programs) -> (drum hits, accompaniment messages, unknown notes)
    excerpt_messages(accompaniment, start) -> [(sample, message)] from `start` on

A song is split by a hash of the song it is (POP909's songs and their MMA arrangements are one
song), so validation and test hear no song that training heard. Its drum channel's kit notes
are a drum part (hits, as in offline/datasets/performances.py); the rest is the accompaniment,
played by a SoundFont (kits.fluidsynth): without bank selects, without drum-like melodic
programs (`DRUMLIKE_PROGRAMS`), with the drum channel's non-kit percussion kept unless an
unknown drum note makes that channel unusable. POP909's program-0 tracks get programs from
`ACCOMPANIMENT_PROGRAMS` (drawn by the renderer).
"""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import mido

from offline.datasets.kits import DATASET
from offline.datasets.midi import absolute_ticks, read_midi, tempo_map, tick_to_seconds
from offline.datasets.workers import worker_pool
from offline.example import RATE
from rtadt.atomic import write_text
from rtadt.drums import UnknownLabelError, gm_note_to_class

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
SONG_SPLIT = (("train", 0.8), ("validation", 0.1), ("test", 0.1))


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
        with worker_pool(workers) as pool:
            scanned = (pool.imap if pool else map)(_scan, [(root, rel) for rel in todo])
            for rel, info in zip(todo, scanned):
                cache[rel] = dict(info, stamp=stamp(rel))
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        write_text(cache_path, json.dumps(cache, indent=1))
    return [Song(rel, song_key(rel), song_split(song_key(rel)), cache[rel]["duration"], cache[rel]["drum_hits"],
                 tuple(cache[rel]["unknown"]), tuple(cache[rel]["channels"])) for rel in files]
