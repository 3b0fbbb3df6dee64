"""ADTOF-YT (Zehren, Alunno, Bientinesi: ISMIR 2021; Signals 2023), read in the layout its
authors' tools write and read.

Layout (MZehren/ADTOF: ``adtof/config.py``, ``bin/automaticGrooming.py``; their data loader
reads ADTOF-YT from a folder ``adtofParsedYT`` laid out like this)::

    <root>/                                   the folder itself, or a parent holding adtofParsedYT/
        audio/audio/<Band> - <Title>.ogg      the music (.ogg; .mp3, .wav and .flac also accepted)
        annotations/aligned_drum/<Band> - <Title>.txt
        annotations/manual_substraction       optional: names removed after a manual check
        split/{train,validation,test}.txt     optional (assumed form, see below)

An annotation file is tab-separated text, one onset a line: ``<time in s>\\t<label>``. The
label is the reduced General MIDI pitch of the 5-class task: 35 bass drum, 38 snare, 47 toms,
42 hi-hat, 49 crash and ride (the 7-class build adds 46 open hi-hat and 51 ride, which fold
into HH and CY here). The authors' class names BD, SD, TT, HH, CY+RD (and ours, KD ... CY)
are accepted too. No velocity is annotated: events get velocity 100.

What could not be determined from the authors' material, and is assumed:

* **Splits.** The authors ship no split list with the audio form: their loader draws
  10 folds with scikit-learn's GroupKFold grouped by band (the name before " - ",
  lower-cased) over ADTOF-RGW and ADTOF-YT together, testing on fold 0 and validating on
  fold 1. That assignment depends on the RGW listing, which we do not have, so without a
  split folder we keep the protocol (10 band-disjoint folds: fold 0 test, fold 1
  validation, folds 2..9 train) but draw a band's fold from a hash of its name. A track's
  split then depends on its band only, never on what else is on disk. The authors'
  config also names a ``split`` folder whose content is undocumented; if it exists we read
  ``split/train.txt``, ``split/validation.txt`` and ``split/test.txt``, one track name a
  line, and every track must be listed in exactly one of them.
* **Blocklist.** ``annotations/manual_substraction`` is read as a text file, one track name
  a line (the authors read it as a one-column CSV); a folder of that name is read as the
  names of the files in it.
* **Annotation names.** ``<name>.drums.txt`` pairs with ``<name>.<ext>`` as in the authors'
  basename rule. Lines are read by offline.datasets.labels.read_time_labels: exactly two
  whitespace-separated fields (the authors write ``time\tlabel``), blank lines skipped.
* **Missing audio.** ADTOF-YT's audio comes from YouTube and some videos disappear, so an
  annotation without audio (or audio without annotation) is skipped with a warning that
  names the tracks; a dataset with no pair at all is an error.

The authors' Zenodo copy ("available upon request") holds mel spectrograms saved with
``tf.data.Dataset.save`` (``adtof_yt_train``, ``adtof_yt_validation``, ``adtof_yt_test``), not
audio; our features cannot be computed from it, and the loader says so when it sees it.

The authors' loader also trims the audio before the first and after the last annotated
onset (charts often leave the count-in and outro unannotated). We keep the whole audio and
record the annotated span (first, last onset in s) in ``Track.meta["annotated_span"]``.
"""
from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

from offline.datasets.base import SPLITS, DatasetError, Track
from offline.datasets.labels import midi_note_to_class, read_time_labels, require_known
from rtadt.drums import CLASSES, Event, UnknownLabelError

DATASET = "adtof"
LABEL_SET = "ADTOF (reduced GM pitch or BD/SD/TT/HH/CY+RD)"
FOLDER = "adtofParsedYT"  # the authors' name for the ADTOF-YT build
AUDIO_DIR = Path("audio") / "audio"
ANNOTATION_DIR = Path("annotations") / "aligned_drum"
BLOCKLIST = Path("annotations") / "manual_substraction"
SPLIT_DIR = Path("split")
AUDIO_EXTENSIONS = (".ogg", ".mp3", ".wav", ".flac")
ZENODO_SPLITS = ("adtof_yt_train", "adtof_yt_validation", "adtof_yt_test")

# The authors' class names (config.LABELS_5TXT) and ours, upper-cased.
NAME_TO_CLASS = {"BD": "KD", "KD": "KD", "SD": "SD", "TT": "TT", "HH": "HH",
                 "CY": "CY", "CY+RD": "CY", "RD": "CY"}

N_FOLDS = 10  # the authors' k-fold protocol: fold 0 test, fold 1 validation, the rest train


# ---------------------------------------------------------------------------------------
# small pure pieces


def track_name(path: Path) -> str:
    """The name a file stands for: its stem, less a ``.drums`` suffix (authors' rule)."""
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    return stem[: -len(".drums")] if stem.endswith(".drums") else stem


def band_of(name: str) -> str:
    """The band of ``"<Band> - <Title>"``, lower-cased as the authors group it."""
    return name.split(" - ")[0].strip().lower()


def band_split(name: str) -> str:
    """Split of a track from its band alone: band-disjoint folds, stable across listings."""
    digest = hashlib.sha256(band_of(name).encode("utf-8")).digest()
    fold = int.from_bytes(digest[:8], "big") % N_FOLDS
    return "test" if fold == 0 else "validation" if fold == 1 else "train"


def label_to_class(label: str) -> str | None:
    """Class of one annotation label (MIDI pitch or class name); None for non-kit percussion.

    Raises UnknownLabelError for a label no table knows.
    """
    try:
        pitch = int(label)
    except ValueError:
        drum = NAME_TO_CLASS.get(label.upper())
        if drum is None:
            raise UnknownLabelError(f"{LABEL_SET}: unknown label {label!r}") from None
        return drum
    return midi_note_to_class(pitch)


def read_annotation(path: Path) -> list[Event]:
    """Events of an aligned_drum file, sorted by time; every unknown label of it named at once."""
    rows = read_time_labels(DATASET, path)
    classes = require_known(DATASET, path, [label for _, label in rows], label_to_class, LABEL_SET)
    # None: known percussion outside the kit, deliberately not transcribed
    events = [Event(time, drum) for (time, _), drum in zip(rows, classes) if drum is not None]
    events.sort(key=lambda e: (e.time, CLASSES.index(e.drum)))
    return events


def read_name_list(path: Path) -> list[str]:
    """Track names from a one-name-a-line file (blank lines ignored)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(DATASET, path, f"a readable UTF-8 text file, one track name a line ({exc})") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


# ---------------------------------------------------------------------------------------
# the layout


def dataset_dir(root: Path) -> Path:
    """The ADTOF-YT folder: ``root`` itself or ``root/adtofParsedYT``."""
    root = Path(root)
    for candidate in (root, root / FOLDER):
        if (candidate / ANNOTATION_DIR).is_dir() or (candidate / AUDIO_DIR).is_dir():
            return candidate
    if any((root / name).exists() for name in ZENODO_SPLITS):
        raise DatasetError(
            DATASET, root,
            "audio with aligned annotations; this is the authors' Zenodo copy (tf.data spectrograms "
            f"{', '.join(ZENODO_SPLITS)}), from which no other features can be computed: build the audio "
            "layout with the ADTOF tools (audio/audio/*.ogg, annotations/aligned_drum/*.txt)")
    if not root.is_dir():
        raise DatasetError(DATASET, root, "an existing folder holding ADTOF-YT")
    raise DatasetError(
        DATASET, root,
        f"the ADTOF-YT layout: {AUDIO_DIR}/<name>.ogg and {ANNOTATION_DIR}/<name>.txt, "
        f"in this folder or in {FOLDER}/ below it")


def _files_by_name(folder: Path, suffixes: tuple[str, ...], what: str) -> dict[str, Path]:
    if not folder.is_dir():
        raise DatasetError(DATASET, folder, f"a folder of {what}")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix.lower() not in suffixes:
            continue
        name = track_name(path)
        if name in found:
            raise DatasetError(DATASET, path, f"one {what[:-1]} per track, but {found[name].name} is also {name!r}")
        found[name] = path
    return found


def _blocklist(folder: Path) -> set[str]:
    path = folder / BLOCKLIST
    if path.is_dir():
        return {track_name(p) for p in path.iterdir()}
    return set(read_name_list(path)) if path.exists() else set()


def _split_lists(folder: Path) -> dict[str, str] | None:
    """Track name -> split from ``split/*.txt``, or None without a split folder."""
    split_dir = folder / SPLIT_DIR
    if not split_dir.is_dir():
        return None
    assignment: dict[str, str] = {}
    for split in SPLITS:
        path = split_dir / f"{split}.txt"
        if not path.exists():
            raise DatasetError(DATASET, path, f"the {split} list ({', '.join(s + '.txt' for s in SPLITS)} in {SPLIT_DIR}/)")
        for name in read_name_list(path):
            if assignment.get(name, split) != split:
                raise DatasetError(DATASET, path, f"each track in one split only; {name!r} is also in {assignment[name]}")
            assignment[name] = split
    return assignment


def _warn_unpaired(names: list[str], has: str, lacks: str) -> None:
    if names:
        shown = ", ".join(repr(n) for n in names[:5]) + (" ..." if len(names) > 5 else "")
        warnings.warn(f"{DATASET}: {len(names)} track(s) with {has} but no {lacks} skipped: {shown}", stacklevel=3)


def load(root: Path) -> list[Track]:
    """Tracks of ADTOF-YT below ``root``, sorted by name; audio is read lazily."""
    folder = dataset_dir(Path(root))
    annotations = _files_by_name(folder / ANNOTATION_DIR, (".txt",), "annotation files")
    audio = _files_by_name(folder / AUDIO_DIR, AUDIO_EXTENSIONS, "audio files")
    blocked = _blocklist(folder)
    _warn_unpaired(sorted(set(annotations) - set(audio) - blocked), "annotations", "audio")
    _warn_unpaired(sorted(set(audio) - set(annotations) - blocked), "audio", "annotations")
    names = sorted((set(annotations) & set(audio)) - blocked)
    if not names:
        raise DatasetError(DATASET, folder, f"at least one track with both {AUDIO_DIR}/<name>.ogg and {ANNOTATION_DIR}/<name>.txt")

    listed = _split_lists(folder)
    tracks = []
    for name in names:
        if listed is None:
            split = band_split(name)
        elif name in listed:
            split = listed[name]
        else:
            raise DatasetError(DATASET, folder / SPLIT_DIR, f"track {name!r} listed in one of {', '.join(s + '.txt' for s in SPLITS)}")
        path = annotations[name]
        events = read_annotation(path)
        span = (events[0].time, events[-1].time) if events else None
        tracks.append(Track(
            dataset=DATASET, name=name, split=split, audio=(audio[name],), gains=(1.0,),
            events=tuple(events),
            meta={"band": band_of(name), "annotation": path, "annotated_span": span},
        ))
    return tracks
