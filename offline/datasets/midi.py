"""MIDI files to drum events, shared by the loaders whose labels are MIDI (E-GMD, Slakh, SADTP).

    midi_events("egmd", path, channel=None) -> tuple[Event, ...]

What counts as a hit: a note-on with velocity > 0. A note-on with velocity 0 is a note-off by
the MIDI standard, and note-offs, aftertouch (the TD-series choke), control changes (the hi-hat
pedal, CC 4) and everything else carry no onset. Times are seconds from the start of the file,
through the file's tempo map: in a type 0 or type 1 file every `set_tempo`, whichever track
holds it (usually the first, the "conductor" track), applies to all tracks; in a type 2 file
each track is its own sequence with its own tempo.

Notes become classes through rtadt.drums.gm_note_to_class, the one table of the project
(General MIDI plus the Roland TD-series extensions). A note that the table maps to None
(cowbell, tambourine, congas, ...) is known non-kit percussion and is dropped on purpose. A note
the table does not know is an error: all such notes of a file are collected and reported in one
DatasetError that names the file, so that a label is never lost silently.
"""
from __future__ import annotations

import bisect
import hashlib
import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import mido

from offline.datasets.base import DatasetError
from rtadt.drums import CLASSES, Event, UnknownLabelError, gm_note_to_class

DEFAULT_TEMPO = 500_000  # microseconds per beat: 120 bpm, what MIDI assumes before any set_tempo


@dataclass(frozen=True, slots=True)
class Hit:
    """One note-on with velocity > 0, before class mapping."""

    time: float  # seconds
    note: int
    velocity: int
    channel: int  # zero-based: 9 is General MIDI's percussion channel 10


def read_midi(dataset: str, path: Path) -> mido.MidiFile:
    """Parse a standard MIDI file; a missing, empty or corrupt file is a DatasetError."""
    return parse_midi(dataset, path, read_bytes(dataset, path))


def read_bytes(dataset: str, path: Path) -> bytes:
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise DatasetError(dataset, path, "missing MIDI file") from None
    except OSError as exc:
        raise DatasetError(dataset, path, f"readable MIDI file ({exc})") from None
    if not data:
        raise DatasetError(dataset, path, "a MIDI file, found an empty file")
    return data


def parse_midi(dataset: str, path: Path, data: bytes) -> mido.MidiFile:
    try:
        # clip=True: some files in the wild carry data bytes > 127 (a velocity of 128 from a
        # sloppy sequencer); clipping keeps them readable and inside MIDI's 1..127.
        midi = mido.MidiFile(file=io.BytesIO(data), clip=True)
    except Exception as exc:  # mido raises OSError, EOFError, ValueError, KeyError, ... on bad data
        raise DatasetError(dataset, path, f"a standard MIDI file ({type(exc).__name__}: {exc})") from None
    if midi.ticks_per_beat <= 0 or midi.ticks_per_beat >= 0x8000:
        # The top bit set means SMPTE (frames per second) time division, which none of the
        # datasets uses; reading it as beats would give wrong times silently.
        raise DatasetError(dataset, path, f"metrical time division, found ticks_per_beat={midi.ticks_per_beat}")
    return midi


def absolute_ticks(track: mido.MidiTrack) -> list[tuple[int, mido.Message]]:
    """Each message of a track with its absolute time in ticks (MIDI stores deltas)."""
    out, tick = [], 0
    for msg in track:
        tick += msg.time
        out.append((tick, msg))
    return out


def tempo_map(timed: list[tuple[int, mido.Message]], ticks_per_beat: int) -> tuple[list[int], list[float], list[int]]:
    """Tempo segments: (start ticks, start seconds, tempo) of each, sorted by ticks.

    A tempo holds from its tick until the next change; before the first change MIDI assumes
    120 bpm. Two changes at the same tick: the later one in the file wins.
    """
    changes: dict[int, int] = {0: DEFAULT_TEMPO}
    for tick, msg in sorted(((t, m) for t, m in timed if m.type == "set_tempo"), key=lambda tm: tm[0]):
        changes[tick] = msg.tempo
    ticks = sorted(changes)
    tempos = [changes[t] for t in ticks]
    seconds = [0.0]
    for i in range(1, len(ticks)):
        seconds.append(seconds[-1] + (ticks[i] - ticks[i - 1]) * tempos[i - 1] / (1e6 * ticks_per_beat))
    return ticks, seconds, tempos


def tick_to_seconds(tick: int, segments: tuple[list[int], list[float], list[int]], ticks_per_beat: int) -> float:
    ticks, seconds, tempos = segments
    i = bisect.bisect_right(ticks, tick) - 1
    return seconds[i] + (tick - ticks[i]) * tempos[i] / (1e6 * ticks_per_beat)


def note_on_hits(midi: mido.MidiFile, channel: int | None = None) -> list[Hit]:
    """All note-ons with velocity > 0 of all tracks, in time order; only `channel` when given."""
    tracks = [absolute_ticks(t) for t in midi.tracks]
    if midi.type == 2:
        sequences = [(t, tempo_map(t, midi.ticks_per_beat)) for t in tracks]
    else:
        shared = tempo_map([tm for t in tracks for tm in t], midi.ticks_per_beat)
        sequences = [(t, shared) for t in tracks]
    hits = [
        Hit(tick_to_seconds(tick, segments, midi.ticks_per_beat), msg.note, msg.velocity, msg.channel)
        for timed, segments in sequences
        for tick, msg in timed
        if msg.type == "note_on" and msg.velocity > 0 and (channel is None or msg.channel == channel)
    ]
    return sorted(hits, key=lambda h: (h.time, h.note))


def hits_to_events(dataset: str, path: Path, hits: list[Hit]) -> tuple[Event, ...]:
    """Map hits to classes; unknown notes of the whole file in one DatasetError naming it.

    One class struck several times at the very same instant (a TD kit's head and rim zones
    of one rimshot, two Slakh drum stems doubling a part) is one onset to a listener and to
    onset-F1 evaluation, so it becomes one event with the loudest velocity.
    """
    unknown: Counter[int] = Counter()
    loudest: dict[tuple[float, str], int] = {}
    for h in hits:
        try:
            drum = gm_note_to_class(h.note)
        except UnknownLabelError:
            unknown[h.note] += 1
            continue
        if drum is not None:
            key = (h.time, drum)
            loudest[key] = max(loudest.get(key, 0), h.velocity)
    if unknown:
        found = ", ".join(f"{n} ({c} hit{'s' if c > 1 else ''})" for n, c in sorted(unknown.items()))
        raise DatasetError(dataset, path, f"only drum notes known to rtadt.drums.GM_NOTE_TO_CLASS; "
                                          f"unknown MIDI notes {found}")
    return _events(loudest)


def merge_events(*parts: tuple[Event, ...]) -> tuple[Event, ...]:
    """Events of several sources (e.g. a song's drum stems) as one sorted tuple, same-instant
    duplicates of a class merged as in hits_to_events."""
    loudest: dict[tuple[float, str], int] = {}
    for e in (e for part in parts for e in part):
        loudest[(e.time, e.drum)] = max(loudest.get((e.time, e.drum), 0), e.velocity)
    return _events(loudest)


def _events(loudest: dict[tuple[float, str], int]) -> tuple[Event, ...]:
    """Sorted by time, then in the class order of rtadt.drums.CLASSES."""
    order = sorted(loudest.items(), key=lambda kv: (kv[0][0], CLASSES.index(kv[0][1])))
    return tuple(Event(t, d, v) for (t, d), v in order)


def midi_events(dataset: str, path: Path, channel: int | None = None) -> tuple[Event, ...]:
    """The drum events of one MIDI file: note-ons with velocity > 0, on `channel` (zero-based)
    when given, mapped to classes; missing/corrupt files and unknown notes raise DatasetError."""
    midi = read_midi(dataset, path)
    return hits_to_events(dataset, path, note_on_hits(midi, channel))


def channels_with_notes(dataset: str, path: Path) -> set[int]:
    """Channels (zero-based) that carry at least one note-on with velocity > 0."""
    return {h.channel for h in note_on_hits(read_midi(dataset, path))}


class EventCache:
    """midi_events memoised by file content, for datasets that ship one performance many times
    over (E-GMD renders each take on up to 43 kits, each rendering with its own MIDI file).

    Keyed by a digest of the bytes, so two different files never share a result. A bad file
    raises before anything is stored, so each bad file's error names that file.
    """

    def __init__(self, dataset: str, channel: int | None = None):
        self.dataset, self.channel = dataset, channel
        self._seen: dict[bytes, tuple[Event, ...]] = {}

    def __call__(self, path: Path) -> tuple[Event, ...]:
        data = read_bytes(self.dataset, path)
        key = hashlib.blake2b(data, digest_size=16).digest()
        if key not in self._seen:
            midi = parse_midi(self.dataset, path, data)
            self._seen[key] = hits_to_events(self.dataset, path, note_on_hits(midi, self.channel))
        return self._seen[key]
