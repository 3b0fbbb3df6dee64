"""ENST-Drums (Gillet & Richard, ISMIR 2006), read as it is distributed (ENST-drums-public/):

    drummer_1|2|3/annotation/<track>.txt            one `time label` line per stroke
    drummer_1|2|3/audio/wet_mix/<track>.wav         the mixed drum kit
    drummer_1|2|3/audio/accompaniment/<track>.wav   the band, for the minus-one tracks
    drummer_1|2|3/audio/<mic>/<track>.wav           dry_mix, overhead_L, ..., kick, snare: unused

Only the minus-one tracks are used (name containing "minus-one": `107_minus-one_salsa_sticks`,
`121_MIDI-minus-one_bigband_brushes`, ...; 21 + 22 + 21 of them, about one hour): they are the
ones with music around the drums, the task of the study. Each track's mix is

    2/3 * wet_mix + 1/3 * accompaniment

the drums at twice the linear level of the band. That is how ADTOF (Zehren et al.), whose 5-class
protocol the study follows, builds its ENST mixes: adtof/io/sumENSTTracks.py sums wet mix and
accompaniment with ffmpeg amix, weights "2 1", citing the review of Wu et al. (IEEE/ACM TASLP
26(9), 2018), which took its accompaniment levels from Gillet & Richard (2008) and Paulus & Klapuri
(2009). (Other readings of that convention exist: YourMT3 evaluates two mixes, the band at 1/3 and
at 2/3 of the drums; change GAINS to follow one of them.) The gains sum to 1, so the mix cannot
clip where neither file does.

Splits (as in the study's issue): drummers 1 and 2 train; drummer 3 is split in half by track,
alternating in sorted name order (even positions validation, odd test). Halving the sorted list
instead would put all nine acoustic minus-one tracks (126-134) in validation and only
MIDI-minus-one tracks in test; alternating gives both splits both kinds.
"""
from __future__ import annotations

from pathlib import Path

from offline.datasets.base import DatasetError, Track, require
from offline.datasets.labels import ENST, enst_label_to_class, read_time_labels, require_known
from rtadt.drums import CLASSES, Event

DATASET = "enst"
DRUMMERS = (1, 2, 3)
GAINS = (2 / 3, 1 / 3)  # wet mix, accompaniment
MINUS_ONE = "minus-one"
TOP_FOLDER = "ENST-drums-public"  # the folder the distributed archive unpacks to


def dataset_root(root: Path) -> Path:
    """root itself, or its ENST-drums-public folder when given the folder above it."""
    root = Path(root)
    if not (root / "drummer_1").is_dir() and (root / TOP_FOLDER).is_dir():
        return root / TOP_FOLDER
    return root


def is_minus_one(name: str) -> bool:
    return MINUS_ONE in name.lower()


def minus_one_tracks(drummer_dir: Path) -> list[str]:
    """Sorted names of the minus-one tracks that any of annotation, wet mix or accompaniment has.

    Taking the union, not the annotations alone, is what lets a missing annotation be reported
    instead of its track silently vanishing.
    """
    found = {p.stem for p in (drummer_dir / "annotation").glob("*.txt")}
    for mic in ("wet_mix", "accompaniment"):
        found |= {p.stem for p in (drummer_dir / "audio" / mic).glob("*.wav")}
    return sorted(name for name in found if is_minus_one(name))


def track_files(drummer_dir: Path, name: str) -> tuple[Path, Path, Path]:
    """(annotation, wet mix, accompaniment) of one track; each must exist."""
    return (
        require(DATASET, drummer_dir / "annotation" / f"{name}.txt", "annotation"),
        require(DATASET, drummer_dir / "audio" / "wet_mix" / f"{name}.wav", "wet mix"),
        require(DATASET, drummer_dir / "audio" / "accompaniment" / f"{name}.wav", "accompaniment"),
    )


def read_events(path: Path) -> tuple[Event, ...]:
    """The transcribed strokes of an annotation file, sorted by time, then class order."""
    rows = read_time_labels(DATASET, path)
    classes = require_known(DATASET, path, [label for _, label in rows], enst_label_to_class, ENST)
    events = [Event(time, drum) for (time, _), drum in zip(rows, classes) if drum is not None]
    return tuple(sorted(events, key=lambda e: (e.time, CLASSES.index(e.drum))))


def split_of(drummer: int, index: int, count: int) -> str:
    """Split of the index-th (sorted) of a drummer's count minus-one tracks."""
    if drummer in (1, 2):
        return "train"
    return "validation" if index % 2 == 0 else "test"


def load(root: Path) -> list[Track]:
    root = dataset_root(require(DATASET, Path(root), "dataset root directory"))
    tracks = []
    for drummer in DRUMMERS:
        drummer_dir = require(DATASET, root / f"drummer_{drummer}", f"folder of drummer {drummer}")
        names = minus_one_tracks(drummer_dir)
        if not names:
            raise DatasetError(DATASET, drummer_dir, f"minus-one tracks (annotation/*{MINUS_ONE}*.txt); found none")
        for index, name in enumerate(names):
            annotation, wet, accompaniment = track_files(drummer_dir, name)
            tracks.append(Track(
                dataset=DATASET,
                name=f"drummer_{drummer}/{name}",
                split=split_of(drummer, index, len(names)),
                audio=(wet, accompaniment),
                gains=GAINS,
                events=read_events(annotation),
                meta={"drummer": drummer, "annotation": annotation},
            ))
    return tracks
