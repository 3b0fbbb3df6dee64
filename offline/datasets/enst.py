"""ENST-Drums (Gillet & Richard, ISMIR 2006), read as it is distributed (ENST-drums-public/):

    drummer_1|2|3/annotation/<track>.txt                  one `time label` line per stroke
    drummer_1|2|3/audio/wet_mix/<track>.wav|.flac         the mixed drum kit
    drummer_1|2|3/audio/accompaniment/<track>.wav|.flac   the band, for the minus-one tracks
    drummer_1|2|3/audio/<mic>/<track>.wav                 dry_mix, overhead_L, ..., kick, snare: unused

A track's kind is the word after its number: `hits` (isolated strokes), `phrase` (drums alone,
a few bars of a style), `solo`, and `minus-one` / `MIDI-minus-one` (drums played along a band).

Dataset names (`rtadt-train ... --data NAME:ROOT`):

    enst                  the study's set: minus-one tracks, drummers 1 and 2 train, drummer 3
                          split in half (below)
    enst-KIND             the same splits over other tracks: KIND is phrases, minus-one or all
                          (phrases and minus-one tracks)
    enst-KIND-dN          split by drummer: drummer N trains, every other drummer present is
                          split in half into validation and test

Drummers that are missing (the project's development copy has drummers 1 and 2 only, and
drummer 1 without minus-one tracks) are left out; an empty selection is an error.

Minus-one mixes are

    2/3 * wet_mix + 1/3 * accompaniment

the drums at twice the linear level of the band. That is how ADTOF (Zehren et al.), whose 5-class
protocol the study follows, builds its ENST mixes: adtof/io/sumENSTTracks.py sums wet mix and
accompaniment with ffmpeg amix, weights "2 1", citing the review of Wu et al. (IEEE/ACM TASLP
26(9), 2018), which took its accompaniment levels from Gillet & Richard (2008) and Paulus & Klapuri
(2009). (Other readings of that convention exist: YourMT3 evaluates two mixes, the band at 1/3 and
at 2/3 of the drums; change GAINS to follow one of them.) The gains sum to 1, so the mix cannot
clip where neither file does. Other tracks are the wet mix alone, at gain 1.

Halves: a held-out drummer's tracks of one kind, in sorted name order, alternate validation
(even positions) and test (odd). Halving the sorted list instead would put all nine acoustic
minus-one tracks (126-134) in validation and only MIDI-minus-one tracks in test; alternating
gives both splits both kinds, and alternating per kind makes `enst-all-dN`'s splits the union
of `enst-phrases-dN`'s and `enst-minus-one-dN`'s.
"""
from __future__ import annotations

import re
from pathlib import Path

from offline.datasets.base import DatasetError, Track, require
from offline.datasets.labels import ENST, enst_label_to_class, read_time_labels, require_known
from rtadt.drums import CLASSES, Event

DATASET = "enst"
DRUMMERS = (1, 2, 3)
STUDY_TRAIN = (1, 2)  # the study's split: drummer 3 is validation and test
GAINS = (2 / 3, 1 / 3)  # wet mix, accompaniment
AUDIO_SUFFIXES = (".wav", ".flac")
TOP_FOLDER = "ENST-drums-public"  # the folder the distributed archive unpacks to
# Which track kinds each selection takes.
SELECTIONS = {"minus-one": ("minus-one",), "phrases": ("phrase",), "all": ("phrase", "minus-one")}
VARIANTS = re.compile(r"enst(?:-(?P<tracks>phrases|minus-one|all))?(?:-d(?P<train>[123]))?")


def dataset_root(root: Path) -> Path:
    """root itself, or its ENST-drums-public folder when given the folder above it."""
    root = Path(root)
    if not any((root / f"drummer_{d}").is_dir() for d in DRUMMERS) and (root / TOP_FOLDER).is_dir():
        return root / TOP_FOLDER
    return root


def track_kind(name: str) -> str:
    """`hits`, `phrase`, `solo`, `minus-one` (MIDI-minus-one too), or the word as it is."""
    word = name.split("_")[1].lower() if "_" in name else ""
    return "minus-one" if word.endswith("minus-one") else word


def is_minus_one(name: str) -> bool:
    return track_kind(name) == "minus-one"


def audio_path(folder: Path, name: str) -> Path | None:
    """folder/name with the first suffix that exists (.wav, then .flac), or None."""
    for suffix in AUDIO_SUFFIXES:
        if (folder / f"{name}{suffix}").is_file():
            return folder / f"{name}{suffix}"
    return None


def drummer_tracks(drummer_dir: Path, kinds=("minus-one",)) -> list[str]:
    """Sorted names of the tracks of these kinds that any of annotation, wet mix or (for
    minus-one tracks) accompaniment has.

    Taking the union, not the annotations alone, is what lets a missing annotation be reported
    instead of its track silently vanishing.
    """
    found = {p.stem for p in (drummer_dir / "annotation").glob("*.txt")}
    for mic in ("wet_mix", "accompaniment"):
        for suffix in AUDIO_SUFFIXES:
            found |= {p.stem for p in (drummer_dir / "audio" / mic).glob(f"*{suffix}")
                      if mic == "wet_mix" or is_minus_one(p.stem)}
    return sorted(name for name in found if track_kind(name) in kinds)


def minus_one_tracks(drummer_dir: Path) -> list[str]:
    return drummer_tracks(drummer_dir, ("minus-one",))


def _audio(drummer_dir: Path, mic: str, name: str) -> Path:
    folder = drummer_dir / "audio" / mic
    found = audio_path(folder, name)
    if found is None:
        raise DatasetError(DATASET, folder / f"{name}.wav", f"missing {mic.replace('_', ' ')} (.wav or .flac)")
    return found


def track_files(drummer_dir: Path, name: str) -> tuple[Path, tuple[Path, ...]]:
    """(annotation, audio files) of one track: the wet mix, and the accompaniment of a
    minus-one track; each must exist."""
    annotation = require(DATASET, drummer_dir / "annotation" / f"{name}.txt", "annotation")
    audio = (_audio(drummer_dir, "wet_mix", name),)
    if is_minus_one(name):
        audio += (_audio(drummer_dir, "accompaniment", name),)
    return annotation, audio


def read_events(path: Path) -> tuple[Event, ...]:
    """The transcribed strokes of an annotation file, sorted by time, then class order."""
    rows = read_time_labels(DATASET, path)
    classes = require_known(DATASET, path, [label for _, label in rows], enst_label_to_class, ENST)
    events = [Event(time, drum) for (time, _), drum in zip(rows, classes) if drum is not None]
    return tuple(sorted(events, key=lambda e: (e.time, CLASSES.index(e.drum))))


def split_of(drummer: int, index: int, count: int, train: tuple[int, ...] = STUDY_TRAIN) -> str:
    """Split of the index-th (sorted) of a drummer's count tracks of one kind: the training
    drummers' tracks train, the others' alternate validation and test."""
    if drummer in train:
        return "train"
    return "validation" if index % 2 == 0 else "test"


def parse_name(name: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """A dataset name's (track kinds, training drummers); see the module docstring."""
    match = VARIANTS.fullmatch(name)
    if match is None:
        raise ValueError(f"unknown ENST selection {name!r}: enst, enst-KIND or enst-KIND-dN with KIND one of "
                         f"{', '.join(SELECTIONS)} and N the training drummer (1-3)")
    kinds = SELECTIONS[match["tracks"] or "minus-one"]
    train = (int(match["train"]),) if match["train"] else STUDY_TRAIN
    return kinds, train


def load(root: Path, name: str = DATASET) -> list[Track]:
    kinds, train = parse_name(name)
    root = dataset_root(require(DATASET, Path(root), "dataset root directory"))
    present = [d for d in DRUMMERS if (root / f"drummer_{d}").is_dir()]
    if not present:
        raise DatasetError(DATASET, root, "drummer_1, drummer_2 or drummer_3 folders; found none")
    tracks = []
    for drummer in present:
        drummer_dir = root / f"drummer_{drummer}"
        for kind in kinds:
            names = drummer_tracks(drummer_dir, (kind,))
            for index, track in enumerate(names):
                annotation, audio = track_files(drummer_dir, track)
                tracks.append(Track(
                    dataset=DATASET,
                    name=f"drummer_{drummer}/{track}",
                    split=split_of(drummer, index, len(names), train),
                    audio=audio,
                    gains=GAINS if len(audio) == 2 else (1.0,),
                    events=read_events(annotation),
                    meta={"drummer": drummer, "kind": kind, "annotation": annotation},
                ))
    if not tracks:
        raise DatasetError(DATASET, root, f"{' or '.join(kinds)} tracks (annotation/<number>_<kind>_*.txt) of "
                                          f"drummers {', '.join(map(str, present))}; found none")
    return sorted(tracks, key=lambda t: t.name)
