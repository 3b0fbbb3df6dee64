"""Slakh2100 (Manilow et al. 2019), synthesised from Lakh MIDI, in the forms its authors
distribute:

    slakh2100_flac_redux/                     the Zenodo release (what mirdata downloads)
        train/Track00001/
            mix.flac
            metadata.yaml                     per stem: inst_class, is_drum, program_num,
            MIDI/S00.mid ...                    midi_saved, audio_rendered, ...
            stems/S00.flac ...
            all_src.mid
        validation/ test/
        omitted/Track00049/ ...               duplicates removed by "redux"

    babyslakh_16k/                            the 20-song preview: 16 kHz wav, no split dirs
        Track00001/ mix.wav metadata.yaml MIDI/ stems/ all_src.mid

`load(root)` takes either directory. One Track per song: the mix is the audio; the labels are
the note-ons of every stem that `metadata.yaml` marks `is_drum: true` and that sounds in the
mix, merged (all_src.mid also holds stems that were never rendered, so it is not used).

Which drum stems sound: a stem sounds when `audio_rendered: true` or its audio file
(stems/Sxx.flac or .wav) exists. The file test is there because babyslakh's metadata says
`audio_rendered: false` and `midi_saved: false` for every stem although it ships the stems,
their MIDI and a mix of them. A drum stem that sounds must have its MIDI/Sxx.mid (else
DatasetError); a drum stem that does not sound (the Slakh2100 case of a patch that rendered
nothing) is left out of the labels and listed in Track.meta["silent_drum_stems"], because its
notes are not in the audio.

Splits and omissions:
- Slakh2100-redux (slakh2100_flac_redux): the split is the directory. The original Slakh2100
  contains songs rendered from the same Lakh MIDI file more than once, some across splits;
  the redux release keeps one rendering per MIDI file (1710 songs: 1289 train, 270
  validation, 151 test) and moves the other 390 into `omitted/`. Everything under `omitted/`
  is skipped; `scan(root).omitted` lists what was skipped.
- Slakh2100-orig or -split2 (all 2100 songs in train/validation/test): loaded as found. To get
  redux from an orig copy without moving directories, pass the slakh-utils split file
  (github.com/ethman/slakh-utils, splits/redux.json or splits_v2.json; per song
  {"action": null | "omit" | "move", "source_split", "destination_split"}) as
  `load(root, split_file=...)`: "omit" skips the song, "move" puts it in destination_split.
  `omitted/` is skipped in any case, as the distribution marks it so.
- babyslakh_16k has no split. Its songs are Track00001..Track00020, the first 20 of
  Slakh2100, all in the official train split (orig train is Track00001..Track01500) and none
  omitted by redux (the first omission is Track00049), so they are all labelled "train".
  Note that its 16 kHz audio is below rtadt.sources' supported rates: listing and statistics
  work, Track.load_audio does not.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from offline.datasets.base import SPLITS, DatasetError, Track, require
from offline.datasets.midi import merge_events, midi_events

DATASET = "slakh"
OMITTED_DIR = "omitted"
MIX_NAMES = ("mix.flac", "mix.wav")
STEM_AUDIO_SUFFIXES = (".flac", ".wav")
ACTIONS = (None, "omit", "move")


@dataclass(frozen=True)
class SongDir:
    name: str  # e.g. Track00001
    split: str
    path: Path


@dataclass(frozen=True)
class Layout:
    kind: str  # "slakh2100" (split directories) or "babyslakh" (songs directly under root)
    songs: tuple[SongDir, ...]
    omitted: tuple[str, ...] = field(default=())  # names skipped: omitted/ and split-file omissions


def song_dirs(parent: Path) -> list[Path]:
    """Song directories of one folder; like slakh-utils, a song is a directory named Track*."""
    return sorted(p for p in parent.iterdir() if p.is_dir() and p.name.startswith("Track"))


def find_songs(root: Path) -> Layout:
    if not root.is_dir():
        raise DatasetError(DATASET, root, "the Slakh directory (slakh2100_flac_redux/ or babyslakh_16k/)")
    split_dirs = [root / s for s in (*SPLITS, OMITTED_DIR) if (root / s).is_dir()]
    loose = song_dirs(root)
    if split_dirs and loose:
        raise DatasetError(DATASET, root, "either split directories (train/, validation/, test/) or Track "
                                          f"directories, not both: found {', '.join(p.name for p in loose[:3])}")
    if loose:
        return Layout("babyslakh", tuple(SongDir(p.name, "train", p) for p in loose))
    if not split_dirs:
        raise DatasetError(DATASET, root, "split directories train/, validation/, test/ (Slakh2100) "
                                          "or Track directories (babyslakh)")
    songs = tuple(SongDir(p.name, d.name, p) for d in split_dirs if d.name != OMITTED_DIR for p in song_dirs(d))
    omitted = tuple(p.name for p in song_dirs(root / OMITTED_DIR)) if (root / OMITTED_DIR).is_dir() else ()
    return Layout("slakh2100", songs, omitted)


def read_split_file(path: Path) -> dict[str, tuple[str | None, str | None]]:
    """slakh-utils split file -> {song: (action, destination split)}."""
    try:
        data = json.loads(require(DATASET, path, "split file").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(DATASET, path, f"a JSON split file ({exc})") from None
    if not isinstance(data, dict):
        raise DatasetError(DATASET, path, "a JSON object of songs")
    out = {}
    for name, entry in data.items():
        action = entry.get("action") if isinstance(entry, dict) else "?"
        if action not in ACTIONS:
            raise DatasetError(DATASET, path, f"{name}: action null, \"omit\" or \"move\", found {action!r}")
        dest = entry.get("destination_split")
        if action == "move" and dest not in SPLITS:
            raise DatasetError(DATASET, path, f"{name}: destination_split one of {', '.join(SPLITS)}, found {dest!r}")
        out[name] = (action, dest)
    return out


def apply_split_file(layout: Layout, actions: dict[str, tuple[str | None, str | None]]) -> Layout:
    kept, omitted = [], list(layout.omitted)
    for song in layout.songs:
        action, dest = actions.get(song.name, (None, None))
        if action == "omit":
            omitted.append(song.name)
        else:
            kept.append(SongDir(song.name, dest if action == "move" else song.split, song.path))
    return Layout(layout.kind, tuple(kept), tuple(sorted(omitted)))


def scan(root: Path, split_file: Path | None = None) -> Layout:
    """The songs to load with their splits, and the names skipped as omitted."""
    layout = find_songs(Path(root))
    return apply_split_file(layout, read_split_file(Path(split_file))) if split_file else layout


def read_metadata(song: Path) -> dict:
    path = require(DATASET, song / "metadata.yaml", "metadata.yaml")
    try:
        meta = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DatasetError(DATASET, path, f"readable YAML ({exc})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("stems"), dict):
        raise DatasetError(DATASET, path, "a mapping with a 'stems' section")
    for name, stem in meta["stems"].items():
        if not isinstance(stem, dict) or not isinstance(stem.get("is_drum"), bool):
            raise DatasetError(DATASET, path, f"stem {name}: an is_drum flag (true/false)")
    return meta


def stem_sounds(song: Path, name: str, stem: dict) -> bool:
    """Rendered into the mix: flagged so, or its audio is there (babyslakh's flags are all false)."""
    return stem.get("audio_rendered") is True or any(
        (song / "stems" / f"{name}{s}").is_file() for s in STEM_AUDIO_SUFFIXES)


def drum_stems(song: Path, meta: dict) -> tuple[list[str], list[str]]:
    """(drum stems that sound, drum stems that do not), by stem name."""
    drums = sorted(n for n, s in meta["stems"].items() if s["is_drum"])
    sounding = [n for n in drums if stem_sounds(song, n, meta["stems"][n])]
    return sounding, [n for n in drums if n not in sounding]


def find_mix(song: Path) -> Path:
    for name in MIX_NAMES:
        if (song / name).is_file():
            return song / name
    raise DatasetError(DATASET, song / MIX_NAMES[0], f"missing mix ({' or '.join(MIX_NAMES)})")


def song_track(song: SongDir, kind: str) -> Track:
    meta = read_metadata(song.path)
    mix = find_mix(song.path)
    sounding, silent = drum_stems(song.path, meta)
    parts = [midi_events(DATASET, require(DATASET, song.path / "MIDI" / f"{n}.mid", f"MIDI of drum stem {n}"))
             for n in sounding]
    return Track(
        dataset=DATASET,
        name=song.name,
        split=song.split,
        audio=(mix,),
        gains=(1.0,),
        events=merge_events(*parts),
        meta={"layout": kind, "directory": str(song.path), "uuid": meta.get("UUID"),
              "lmd_midi_dir": meta.get("lmd_midi_dir"), "drum_stems": sounding, "silent_drum_stems": silent},
    )


def load(root: Path, split_file: Path | None = None) -> list[Track]:
    layout = scan(root, split_file)
    if not layout.songs:
        raise DatasetError(DATASET, root, "at least one song directory (Track*) outside omitted/")
    return [song_track(s, layout.kind) for s in layout.songs]
