"""The shared drum vocabulary: classes, MIDI mappings and events.

Five classes, as in the ADT literature (Vogl et al.; ADTOF's BD/SD/TT/HH/CY+RD):
KD kick, SD snare, TT toms, HH hi-hat, CY crash and ride cymbals.
"""
from __future__ import annotations

from dataclasses import dataclass

CLASSES: tuple[str, ...] = ("KD", "SD", "TT", "HH", "CY")
CLASS_NAMES = {
    "KD": "kick drum",
    "SD": "snare drum",
    "TT": "toms",
    "HH": "hi-hat",
    "CY": "cymbals (crash, ride, china, splash)",
}

# Output notes, General MIDI percussion (channel 10): bass drum 1, acoustic snare,
# low-mid tom, closed hi-hat, crash cymbal 1.
CLASS_TO_MIDI: dict[str, int] = {"KD": 36, "SD": 38, "TT": 47, "HH": 42, "CY": 49}
MIDI_CHANNEL = 9  # zero-based: channel 10 is the GM percussion channel

# General MIDI percussion keys (35..81) and the common extensions used by e-kits
# (Roland TD-series, Groove MIDI Dataset) mapped to the five classes.
# Percussion outside a drum kit (cowbell, tambourine, congas, ...) maps to None:
# it is known and deliberately not transcribed.
GM_NOTE_TO_CLASS: dict[int, str | None] = {
    35: "KD", 36: "KD",
    37: "SD", 38: "SD", 39: "SD", 40: "SD",  # side stick, snare, hand clap, electric snare
    41: "TT", 43: "TT", 45: "TT", 47: "TT", 48: "TT", 50: "TT",
    58: "TT",  # Roland: tom 3 rim / vibraslap in GM; TD kits send toms here
    42: "HH", 44: "HH", 46: "HH",
    22: "HH", 26: "HH",  # Roland: hi-hat closed edge, hi-hat open edge
    49: "CY", 52: "CY", 55: "CY", 57: "CY",  # crashes, china, splash
    51: "CY", 53: "CY", 59: "CY",  # ride, ride bell, ride 2
    54: None, 56: None, 60: None, 61: None, 62: None, 63: None, 64: None, 65: None,
    66: None, 67: None, 68: None, 69: None, 70: None, 71: None, 72: None, 73: None,
    74: None, 75: None, 76: None, 77: None, 78: None, 79: None, 80: None, 81: None,
    # GM2 / GS extensions found in Lakh MIDI: high Q, slap, scratches, sticks, clicks,
    # metronome (27-34); shaker, jingle bell, bell tree, castanets, surdos (82-87)
    27: None, 28: None, 29: None, 30: None, 31: None, 32: None, 33: None, 34: None,
    82: None, 83: None, 84: None, 85: None, 86: None, 87: None,
}


class UnknownLabelError(ValueError):
    """A label that no mapping table knows: reported, never silently dropped."""


def class_index(drum: str) -> int:
    try:
        return CLASSES.index(drum)
    except ValueError:
        raise UnknownLabelError(f"unknown drum class {drum!r}; known: {', '.join(CLASSES)}") from None


def gm_note_to_class(note: int) -> str | None:
    """Class of a General MIDI percussion note; None for non-kit percussion."""
    if note not in GM_NOTE_TO_CLASS:
        raise UnknownLabelError(f"MIDI note {note} is not a known drum note")
    return GM_NOTE_TO_CLASS[note]


@dataclass(frozen=True, slots=True)
class Event:
    """One drum hit.

    time: onset time in seconds of audio (from the start of the stream).
    drum: one of CLASSES.
    velocity: MIDI velocity 1..127.
    emitted: audio time in seconds at which the engine reported it (None offline).
    """

    time: float
    drum: str
    velocity: int = 100
    emitted: float | None = None

    def __post_init__(self) -> None:
        if self.drum not in CLASSES:
            raise UnknownLabelError(f"unknown drum class {self.drum!r}")
        if not 1 <= self.velocity <= 127:
            raise ValueError(f"velocity must be 1..127, got {self.velocity}")

    @property
    def latency(self) -> float | None:
        """Audio time from the onset estimate to its emission."""
        return None if self.emitted is None else self.emitted - self.time
