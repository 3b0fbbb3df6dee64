"""E-GMD, the Expanded Groove MIDI Dataset (Callender, Hawthorne, Engel 2020), as Magenta
distributes it: `e-gmd-v1.0.0.zip`, which unpacks to

    e-gmd-v1.0.0/
        e-gmd-v1.0.0.csv                       one row per rendering
        drummer1/session1/1_funk_80_beat_4-4_1.midi
        drummer1/session1/1_funk_80_beat_4-4_1.wav
        drummer1/session1/1_funk_80_beat_4-4_10.midi
        ...

The CSV columns: drummer, session, id, style, bpm, beat_type, time_signature, duration, split,
midi_filename, audio_filename, kit_name. Every take of the Groove MIDI Dataset was re-rendered
on up to 43 kits of a Roland TD-17; each rendering is one row, with its own wav and MIDI file
(paths relative to the CSV; the trailing number of the file name is the rendering). The `id`
column names the take and so repeats across kits: a track is named by its audio path instead.
Splits are the official `split` column (train / validation / test; E-GMD keeps the Groove MIDI
Dataset's split of takes, so the renderings of a take should share it). `duration` is the
audio's length in seconds.

`load(root)` takes the directory that holds the CSV (or its parent, where the zip was
unpacked). Labels come from the MIDI through offline.datasets.midi: every note-on, all
channels (the files hold nothing but the kit), TD-17 notes mapped by rtadt.drums.
"""
from __future__ import annotations

import csv
from pathlib import Path

from offline.datasets.base import SPLITS, DatasetError, Track, require
from offline.datasets.midi import EventCache

DATASET = "egmd"
VERSION_DIR = "e-gmd-v1.0.0"
CSV_NAME = "e-gmd-v1.0.0.csv"
COLUMNS = ("drummer", "session", "id", "style", "bpm", "beat_type", "time_signature", "duration",
           "split", "midi_filename", "audio_filename", "kit_name")
META_COLUMNS = ("drummer", "session", "id", "style", "bpm", "beat_type", "time_signature", "kit_name")


def find_csv(root: Path) -> Path:
    """The metadata CSV in root, or in root/e-gmd-v1.0.0 (the zip's top directory)."""
    for candidate in (root / CSV_NAME, root / VERSION_DIR / CSV_NAME):
        if candidate.is_file():
            return candidate
    raise DatasetError(DATASET, root / CSV_NAME, f"missing metadata CSV (looked in {root} and {root / VERSION_DIR})")


def read_rows(csv_path: Path) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) of every data row; the header must have all of COLUMNS."""
    try:
        with open(csv_path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise DatasetError(DATASET, csv_path, f"CSV columns {', '.join(COLUMNS)}; missing {', '.join(missing)}")
            return [(reader.line_num, row) for row in reader]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(DATASET, csv_path, f"a readable CSV ({exc})") from None


def parse_duration(value: str, where: str, csv_path: Path) -> float:
    try:
        duration = float(value)
    except ValueError:
        raise DatasetError(DATASET, csv_path, f"{where}: duration in seconds, found {value!r}") from None
    if not duration > 0:
        raise DatasetError(DATASET, csv_path, f"{where}: a positive duration, found {value!r}")
    return duration


def row_to_track(base: Path, csv_path: Path, line: int, row: dict[str, str], events: EventCache) -> Track:
    where = f"line {line}"
    split = (row.get("split") or "").strip()
    if split not in SPLITS:
        raise DatasetError(DATASET, csv_path, f"{where}: split one of {', '.join(SPLITS)}, found {split!r}")
    audio_name, midi_name = (row.get("audio_filename") or "").strip(), (row.get("midi_filename") or "").strip()
    if not audio_name or not midi_name:
        raise DatasetError(DATASET, csv_path, f"{where}: both audio_filename and midi_filename")
    audio = require(DATASET, base / audio_name, "audio file")
    return Track(
        dataset=DATASET,
        name=str(Path(audio_name).with_suffix("")),
        split=split,
        audio=(audio,),
        gains=(1.0,),
        events=events(base / midi_name),
        duration=parse_duration(row.get("duration", ""), where, csv_path),
        meta={c: row.get(c, "") for c in META_COLUMNS} | {"midi": str(base / midi_name)},
    )


def load(root: Path) -> list[Track]:
    csv_path = find_csv(Path(root))
    base = csv_path.parent  # the CSV's paths are relative to its own directory
    events = EventCache(DATASET)  # renderings of one take often share their MIDI byte for byte
    tracks, seen = [], {}
    for line, row in read_rows(csv_path):
        track = row_to_track(base, csv_path, line, row, events)
        if track.name in seen:
            raise DatasetError(DATASET, csv_path, f"line {line}: one row per audio file; "
                                                  f"{track.name} is also on line {seen[track.name]}")
        seen[track.name] = line
        tracks.append(track)
    if not tracks:
        raise DatasetError(DATASET, csv_path, "at least one row")
    return tracks
