"""SADTP: 16 songs whose drum parts were played on a Roland TD-11 and recorded as MIDI, the
MIDI being the transcription.

ASSUMED LAYOUT. No public description of SADTP's distribution could be found (not on the web
pages, code or issue trackers searched; the project's ARCHITECTURE.md only names it). This
loader implements the most plausible layout, the one ENST-Drums and MDB-Drums use (one folder
of audio, one of annotations, paired by file name):

    SADTP/
        audio/<song>.wav        (or .flac) the song's audio, drums included
        midi/<song>.mid         (or .midi) the TD-11 recording of its drum part

Assumed as well, and checked so that a different reality fails loudly rather than quietly:
- every audio file has its MIDI file and every MIDI file its audio (else DatasetError);
- the TD-11 sends on MIDI channel 10 (its default): note-ons are read from channel 10 only,
  and a file with note-ons on another channel is a DatasetError naming the channels, since
  they would be either a misconfigured module or something that is not the kit;
- TD-11 notes, including its extensions (hi-hat edge 22/26, snare rim 40, cross-stick 37,
  tom 3 rim 58, cymbal edges 52/55/59, ride bell 53), map through rtadt.drums; hi-hat pedal
  CC 4 and aftertouch (cymbal chokes) carry no onset and are ignored.
- Split: SADTP is too small to train on and, as far as we know, serves as a held-out test
  set; every song is "test". The count of 16 is not enforced.
If the real distribution differs, change `find_pairs` (the layout) and nothing else.
"""
from __future__ import annotations

from pathlib import Path

from offline.datasets.base import DatasetError, Track
from offline.datasets.midi import hits_to_events, note_on_hits, read_midi
from rtadt.drums import MIDI_CHANNEL

DATASET = "sadtp"
SPLIT = "test"
AUDIO_DIR, MIDI_DIR = "audio", "midi"
AUDIO_SUFFIXES = (".wav", ".flac")
MIDI_SUFFIXES = (".mid", ".midi")
TD11_CHANNEL = MIDI_CHANNEL  # zero-based 9: channel 10, the TD-11's default


def files_by_stem(folder: Path, suffixes: tuple[str, ...], what: str) -> dict[str, Path]:
    """{file name without suffix: path} of the files in folder with one of suffixes."""
    if not folder.is_dir():
        raise DatasetError(DATASET, folder, f"missing {what} directory")
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in suffixes:
            if p.stem in out:
                raise DatasetError(DATASET, p, f"one {what} file per song; {out[p.stem].name} too")
            out[p.stem] = p
    return out


def find_pairs(root: Path) -> list[tuple[str, Path, Path]]:
    """(song, audio, midi) of every song, audio and MIDI paired by file name."""
    audio = files_by_stem(root / AUDIO_DIR, AUDIO_SUFFIXES, "audio")
    midi = files_by_stem(root / MIDI_DIR, MIDI_SUFFIXES, "MIDI")
    # A half-copied dataset shows up here: name every song that lacks its partner.
    if no_midi := sorted(audio.keys() - midi.keys()):
        raise DatasetError(DATASET, root / MIDI_DIR / f"{no_midi[0]}.mid",
                           f"missing MIDI file (songs without MIDI: {', '.join(no_midi)})")
    if no_audio := sorted(midi.keys() - audio.keys()):
        raise DatasetError(DATASET, root / AUDIO_DIR / f"{no_audio[0]}.wav",
                           f"missing audio file (songs without audio: {', '.join(no_audio)})")
    if not audio:
        raise DatasetError(DATASET, root / AUDIO_DIR, "at least one song (audio .wav/.flac with its MIDI)")
    return [(song, audio[song], midi[song]) for song in sorted(audio)]


def td11_events(path: Path):
    hits = note_on_hits(read_midi(DATASET, path))
    others = sorted({h.channel + 1 for h in hits if h.channel != TD11_CHANNEL})
    if others:
        raise DatasetError(DATASET, path, f"TD-11 notes on MIDI channel {TD11_CHANNEL + 1} only; "
                                          f"found note-ons on channel(s) {', '.join(map(str, others))}")
    return hits_to_events(DATASET, path, hits)


def load(root: Path) -> list[Track]:
    root = Path(root)
    return [
        Track(dataset=DATASET, name=song, split=SPLIT, audio=(audio,), gains=(1.0,),
              events=td11_events(midi), meta={"midi": str(midi)})
        for song, audio, midi in find_pairs(root)
    ]
