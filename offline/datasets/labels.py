"""One mapping from each dataset's label set to the five classes KD, SD, TT, HH, CY.

The five classes are the mapping of the literature (Vogl et al.; ADTOF's BD, SD, TT, HH, CY+RD):
every stroke on a drum of the kit goes to the drum it was played on, whatever the technique
(rim shot, cross stick, ghost note, brushes, snares off); every cymbal but the hi-hat, ride
included, is CY. Each function returns a class, or None for a label that is known and
deliberately not transcribed: percussion outside the kit (cowbell, tambourine), sticks clicked
together, and brush sweeps (a sustained swish, no onset to transcribe). A label no table knows
raises rtadt.drums.UnknownLabelError naming the label set and the label: a new label is a
question for a person, never a silent drop.

General MIDI and the Roland TD-11 notes (E-GMD) go through rtadt.drums.gm_note_to_class, the
runtime's one table, so the lab and the runtime can never disagree about a note.

Loaders map a whole file at once with `map_labels`, so that *all* unknown labels of a file are
reported together, with the file name (`require_known` raises the DatasetError).
"""
from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import TypeVar

from offline.datasets.base import DatasetError
from rtadt.drums import UnknownLabelError, gm_note_to_class

ENST = "ENST-Drums"
MDB_CLASS = "MDB-Drums class"
MDB_SUBCLASS = "MDB-Drums subclass"

# ENST-Drums (Gillet & Richard, ISMIR 2006), the labels of drummer_N/annotation/*.txt.
# The label set is the one of the dataset's documentation as used by Vogl et al.'s mapping
# (ADTOF adtof/ressources/instrumentsMapping.py, ENST_MIDI) and by YourMT3's ENST vocabulary.
ENST_LABELS: dict[str, str | None] = {
    "bd": "KD",  # bass drum
    "sd": "SD",  # snare drum
    "sd-": "SD",  # snare drum with the snares off: still the snare drum
    "rs": "SD",  # rim shot on the snare
    "cs": "SD",  # cross stick on the snare (GM 37, side stick, is SD in rtadt.drums too)
    "chh": "HH",  # closed hi-hat
    "ohh": "HH",  # open hi-hat
    "lmt": "TT",  # low-mid tom
    "mt": "TT",  # mid tom
    "mtr": "TT",  # mid tom, hit on the rim: a tom stroke (Roland's tom rim note 58 is TT too)
    "lt": "TT",  # low tom
    "ltr": "TT",  # low tom, hit on the rim
    "lft": "TT",  # low floor tom
    "c": "CY",  # other cymbal
    "cr": "CY",  # crash
    "rc": "CY",  # ride (CY+RD)
    "ch": "CY",  # chinese cymbal
    "spl": "CY",  # splash
    "cb": None,  # cowbell: percussion outside the kit
    "sticks": None,  # sticks clicked together (count-ins): not a drum of the kit
    "sweep": None,  # brush sweep: a sustained swish without an onset
}
# Kits with several cymbals of a kind number them (cr1, cr2, cr5, rc1..rc4, ch1, ch5, spl2, c1,
# c4, ...). Numbers are accepted on exactly these prefixes, each mapped like its prefix; a
# number on anything else ("bd2", "chh1") is unknown, because it would be a new instrument.
ENST_NUMBERED_CYMBALS: tuple[str, ...] = ("c", "cr", "rc", "ch", "spl")
_ENST_NUMBERED = re.compile(r"(?P<prefix>[a-z]+)(?P<number>[0-9]+)")

# MDB-Drums (Southall et al., ISMIR 2017), annotations/class/*_class.txt: six classes.
MDB_CLASS_LABELS: dict[str, str | None] = {
    "KD": "KD",
    "SD": "SD",
    "HH": "HH",
    "TT": "TT",
    "CY": "CY",  # crash, ride, china and splash
    "OT": None,  # "other": side stick and tambourine together; the subclass tells them apart
}

# annotations/subclass/*_subclass.txt: 21 subclasses, with the MDB class each belongs to
# (the dataset's two annotation files agree on it; mdb.py checks that they do).
MDB_SUBCLASS_PARENT: dict[str, str] = {
    "KD": "KD",
    "SD": "SD", "SDB": "SD", "SDD": "SD", "SDF": "SD", "SDG": "SD", "SDNS": "SD",
    "CHH": "HH", "OHH": "HH", "PHH": "HH",
    "HIT": "TT", "MHT": "TT", "HFT": "TT", "LFT": "TT",
    "RDC": "CY", "RDB": "CY", "CRC": "CY", "CHC": "CY", "SPC": "CY",
    "SST": "OT", "TMB": "OT",
}
MDB_SUBCLASS_LABELS: dict[str, str | None] = {
    "KD": "KD",  # kick drum
    "SD": "SD",  # snare drum
    "SDB": "SD",  # snare, brush
    "SDD": "SD",  # snare, drag
    "SDF": "SD",  # snare, flam
    "SDG": "SD",  # snare, ghost note
    "SDNS": "SD",  # snare, no snares
    "SST": "SD",  # side stick: MDB files it under OT, but it is a stroke on the snare drum, SD in
    #               GM (37), in ENST (cs) and in ADTOF's MDB mapping; one class for one sound
    "CHH": "HH",  # closed hi-hat
    "OHH": "HH",  # open hi-hat
    "PHH": "HH",  # pedal hi-hat
    "HIT": "TT",  # high tom
    "MHT": "TT",  # mid-high tom
    "HFT": "TT",  # high floor tom
    "LFT": "TT",  # low floor tom
    "RDC": "CY",  # ride cymbal
    "RDB": "CY",  # ride bell
    "CRC": "CY",  # crash cymbal
    "CHC": "CY",  # china cymbal
    "SPC": "CY",  # splash cymbal
    "TMB": None,  # tambourine: percussion outside the kit
}


def _unknown(label_set: str, label: object) -> UnknownLabelError:
    return UnknownLabelError(f"{label_set}: unknown label {label!r}")


def enst_label_to_class(label: str) -> str | None:
    """Class of an ENST-Drums label (numbered cymbals by their prefix); None: not transcribed."""
    if label in ENST_LABELS:
        return ENST_LABELS[label]
    m = _ENST_NUMBERED.fullmatch(label)
    if m and m["prefix"] in ENST_NUMBERED_CYMBALS:
        return ENST_LABELS[m["prefix"]]
    raise _unknown(ENST, label)


def mdb_class_to_class(label: str) -> str | None:
    """Class of an MDB-Drums class label; None for OT (side stick and tambourine)."""
    if label not in MDB_CLASS_LABELS:
        raise _unknown(MDB_CLASS, label)
    return MDB_CLASS_LABELS[label]


def mdb_subclass_to_class(label: str) -> str | None:
    """Class of an MDB-Drums subclass label; None for TMB (tambourine)."""
    if label not in MDB_SUBCLASS_LABELS:
        raise _unknown(MDB_SUBCLASS, label)
    return MDB_SUBCLASS_LABELS[label]


def mdb_subclass_parent(label: str) -> str:
    """The MDB class a subclass label belongs to, for checking one file against the other."""
    if label not in MDB_SUBCLASS_PARENT:
        raise _unknown(MDB_SUBCLASS, label)
    return MDB_SUBCLASS_PARENT[label]


def midi_note_to_class(note: int) -> str | None:
    """Class of a General MIDI or Roland TD-11 drum note (rtadt.drums' table, not a copy)."""
    return gm_note_to_class(note)


L = TypeVar("L", bound=Hashable)


def map_labels(labels: Iterable[L], to_class: Callable[[L], str | None]) -> tuple[list[str | None], Counter]:
    """Map every label; unknown ones are counted instead of raised, so all of them can be named.

    Returns the classes in input order (None for a deliberately ignored label and, where the
    Counter is not empty, for the unknown ones) and a Counter of the unknown labels.
    """
    classes: list[str | None] = []
    unknown: Counter = Counter()
    for label in labels:
        try:
            classes.append(to_class(label))
        except UnknownLabelError:
            classes.append(None)
            unknown[label] += 1
    return classes, unknown


def require_known(dataset: str, path: Path, labels: Iterable[L], to_class: Callable[[L], str | None],
                  label_set: str) -> list[str | None]:
    """`map_labels`, raising one DatasetError that names the file and every unknown label."""
    classes, unknown = map_labels(labels, to_class)
    if unknown:
        listed = ", ".join(f"{label!r} ({n}x)" for label, n in sorted(unknown.items(), key=lambda kv: str(kv[0])))
        raise DatasetError(dataset, path, f"only known {label_set} labels; unknown: {listed}")
    return classes


def read_time_labels(dataset: str, path: Path) -> list[tuple[float, str]]:
    """The (onset seconds, label) lines of an annotation text file, in file order.

    ENST-Drums writes `time label`, MDB-Drums `time \\t label ` with spaces around the tab:
    any whitespace separates the two fields. Blank lines are skipped; anything else that is not
    a finite, non-negative time and one label is an error naming the file and the line.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(dataset, path, f"a readable annotation file ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise DatasetError(dataset, path, "a text annotation file (not UTF-8)") from None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            if len(fields) != 2:
                raise ValueError
            time = float(fields[0])
            if not math.isfinite(time) or time < 0:
                raise ValueError
        except ValueError:
            raise DatasetError(dataset, path, f"line {number}: 'onset-seconds label', got {line.strip()!r}") from None
        rows.append((time, fields[1]))
    return rows
