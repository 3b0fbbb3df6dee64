"""MDB-Drums (Southall et al., ISMIR 2017), read as it is distributed (github.com/CarlSouthall/MDBDrums,
whose data lies in its folder "MDB Drums"; root may be that folder or the checkout above it):

    audio/full_mix/<song>_MIX.wav                   the produced song (used)
    audio/drum_only/<song>_Drum.wav                 the drum stems (unused)
    annotations/class/<song>_class.txt              `time \\t label` lines, 6 classes
    annotations/subclass/<song>_subclass.txt        the same onsets in 21 subclasses

The 23 songs are MedleyDB's MusicDelta_<Style> tracks. Events come from the class annotations,
checked against the subclass annotations: both files must hold the same onsets (same count,
same times, each subclass inside its class), else a DatasetError says where they differ. The
one place the subclass decides is MDB's class OT ("other"), which lumps side stick and
tambourine together: the side stick (SST) is a snare stroke, SD, as in General MIDI, ENST and
ADTOF's MDB mapping; the tambourine (TMB) is not transcribed (see labels.py).

Split. MDB has no official split, and with 23 songs a random one can put all jazz in the test
set. The split is by style, the style being what the song's title names (MusicDelta_<Style>):
within each style group half or more of the songs train and the rest are shared between validation
and test, so every style met in validation or test was also met in training:

    jazz  train BebopJazz CoolJazz FusionJazz SwingJazz; validation FreeJazz LatinJazz;
          test FunkJazz ModalJazz
    rock  train 80sRock Beatles Britpop Grunge Rock Shadows SpeedMetal; validation Punk Zeppelin;
          test Hendrix Rockabilly
    pop   train Disco Gospel; validation Reggae; test Country1

(13 / 5 / 5 songs; "pop" gathers the pop, soul, reggae and country songs, too few for groups
of their own.)
"""
from __future__ import annotations

from pathlib import Path

from offline.datasets.base import DatasetError, Track, require
from offline.datasets.labels import (
    MDB_CLASS,
    MDB_SUBCLASS,
    mdb_class_to_class,
    mdb_subclass_parent,
    mdb_subclass_to_class,
    read_time_labels,
    require_known,
)
from rtadt.drums import CLASSES, Event

DATASET = "mdb"
TOP_FOLDER = "MDB Drums"  # the folder of the GitHub repository that holds the data
# Both annotation files carry 6 decimals written from one annotation; a millisecond is slack.
TIME_TOLERANCE = 0.001
MISMATCHES_SHOWN = 5

SPLIT_BY_GENRE: dict[str, dict[str, tuple[str, ...]]] = {
    "jazz": {
        "train": ("BebopJazz", "CoolJazz", "FusionJazz", "SwingJazz"),
        "validation": ("FreeJazz", "LatinJazz"),
        "test": ("FunkJazz", "ModalJazz"),
    },
    "rock": {
        "train": ("80sRock", "Beatles", "Britpop", "Grunge", "Rock", "Shadows", "SpeedMetal"),
        "validation": ("Punk", "Zeppelin"),
        "test": ("Hendrix", "Rockabilly"),
    },
    "pop": {
        "train": ("Disco", "Gospel"),
        "validation": ("Reggae",),
        "test": ("Country1",),
    },
}
# song name -> (genre, split); song names as in the files: MusicDelta_<Style>.
SONGS: dict[str, tuple[str, str]] = {
    f"MusicDelta_{style}": (genre, split)
    for genre, splits in SPLIT_BY_GENRE.items()
    for split, styles in splits.items()
    for style in styles
}

MIX_SUFFIX, CLASS_SUFFIX, SUBCLASS_SUFFIX = "_MIX.wav", "_class.txt", "_subclass.txt"


def dataset_root(root: Path) -> Path:
    """root itself, or its "MDB Drums" folder when given the repository checkout."""
    root = Path(root)
    if not (root / "annotations").is_dir() and (root / TOP_FOLDER).is_dir():
        return root / TOP_FOLDER
    return root


def song_files(root: Path, song: str) -> tuple[Path, Path, Path]:
    return (
        root / "audio" / "full_mix" / f"{song}{MIX_SUFFIX}",
        root / "annotations" / "class" / f"{song}{CLASS_SUFFIX}",
        root / "annotations" / "subclass" / f"{song}{SUBCLASS_SUFFIX}",
    )


def songs_on_disk(root: Path) -> list[str]:
    """Sorted names of the songs that any of full mix, class or subclass annotation has.

    The union, so that a song with one of its files missing is reported, not skipped.
    """
    found = set()
    for folder, suffix in (("audio/full_mix", MIX_SUFFIX), ("annotations/class", CLASS_SUFFIX),
                           ("annotations/subclass", SUBCLASS_SUFFIX)):
        found |= {p.name[: -len(suffix)] for p in (root / folder).glob(f"*{suffix}")}
    return sorted(found)


def _pairs(class_path: Path, class_rows: list, subclass_path: Path, subclass_rows: list) -> list:
    """Class and subclass rows paired onset by onset; a DatasetError where the files disagree.

    Both are ordered by time and then by MDB class, so strokes at one instant pair up whatever
    order each file lists them in.
    """
    if len(class_rows) != len(subclass_rows):
        raise DatasetError(DATASET, subclass_path, f"as many onsets as {class_path.name}: "
                                                   f"{len(subclass_rows)} here, {len(class_rows)} there")
    by_class = sorted(class_rows, key=lambda r: (r[0], r[1]))
    by_subclass = sorted(subclass_rows, key=lambda r: (r[0], mdb_subclass_parent(r[1])))
    pairs = list(zip(by_class, by_subclass))
    bad = [(c, s) for c, s in pairs
           if abs(c[0] - s[0]) > TIME_TOLERANCE or mdb_subclass_parent(s[1]) != c[1]]
    if bad:
        shown = "; ".join(f"{c[0]:.6f} s {c[1]} vs {s[0]:.6f} s {s[1]}" for c, s in bad[:MISMATCHES_SHOWN])
        raise DatasetError(DATASET, subclass_path, f"the onsets of {class_path.name} (class vs subclass): "
                                                   f"{len(bad)} differ, {shown}")
    return pairs


def resolve(class_label: str, subclass_label: str) -> str | None:
    """The class label decides; where MDB's class (OT) is not one of ours, the subclass does."""
    drum = mdb_class_to_class(class_label)
    return drum if drum is not None else mdb_subclass_to_class(subclass_label)


def read_events(class_path: Path, subclass_path: Path) -> tuple[Event, ...]:
    """Events of one song from its two annotation files, sorted by time, then class order."""
    class_rows = read_time_labels(DATASET, class_path)
    subclass_rows = read_time_labels(DATASET, subclass_path)
    # Every unknown label of each file is named before anything else is compared.
    require_known(DATASET, class_path, [label for _, label in class_rows], mdb_class_to_class, MDB_CLASS)
    require_known(DATASET, subclass_path, [label for _, label in subclass_rows], mdb_subclass_to_class,
                  MDB_SUBCLASS)
    events = []
    for (time, class_label), (_, subclass_label) in _pairs(class_path, class_rows, subclass_path, subclass_rows):
        drum = resolve(class_label, subclass_label)
        if drum is not None:
            events.append(Event(time, drum))
    return tuple(sorted(events, key=lambda e: (e.time, CLASSES.index(e.drum))))


def load(root: Path) -> list[Track]:
    root = dataset_root(require(DATASET, Path(root), "dataset root directory"))
    songs = songs_on_disk(root)
    if not songs:
        raise DatasetError(DATASET, root, f"songs: audio/full_mix/*{MIX_SUFFIX} with annotations/class and "
                                          "annotations/subclass; found none")
    tracks = []
    for song in songs:
        mix, class_path, subclass_path = song_files(root, song)
        require(DATASET, mix, "full mix")
        require(DATASET, class_path, "class annotation")
        require(DATASET, subclass_path, "subclass annotation")
        if song not in SONGS:
            raise DatasetError(DATASET, class_path, f"one of the 23 MDB-Drums songs of the split table "
                                                    f"(offline/datasets/mdb.py), not {song!r}")
        genre, split = SONGS[song]
        tracks.append(Track(
            dataset=DATASET,
            name=song,
            split=split,
            audio=(mix,),
            gains=(1.0,),
            events=read_events(class_path, subclass_path),
            meta={"genre": genre, "class_annotation": class_path, "subclass_annotation": subclass_path},
        ))
    return tracks
