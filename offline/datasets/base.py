"""What every dataset loader yields: tracks with audio, events in the shared vocabulary,
and a split.

A loader reads one dataset in the form its authors distribute, from a root directory,
and returns `Track`s. Audio is read lazily (`Track.load_audio`), so listing a dataset of
many hours costs nothing. Labels go through offline.datasets.labels, where an unknown
label is an error that names it, never a silent drop.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rtadt.drums import CLASSES, Event

SPLITS = ("train", "validation", "test")


class DatasetError(Exception):
    """Missing or corrupt data: names the dataset, the file and what was expected."""

    def __init__(self, dataset: str, path: str | Path, expected: str):
        self.dataset, self.path, self.expected = dataset, str(path), expected
        super().__init__(f"{dataset}: {path}: {expected}")


@dataclass(frozen=True)
class Track:
    dataset: str
    name: str
    split: str
    audio: tuple[Path, ...]  # files summed into the track's mix
    gains: tuple[float, ...]  # linear gain of each file (e.g. ENST's accompaniment)
    events: tuple[Event, ...] = field(repr=False)
    duration: float | None = None  # seconds, when the loader knows it without reading audio
    meta: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        if self.split not in SPLITS:
            raise ValueError(f"{self.dataset}/{self.name}: split {self.split!r} is not one of {SPLITS}")
        if len(self.audio) != len(self.gains) or not self.audio:
            raise ValueError(f"{self.dataset}/{self.name}: one gain per audio file")

    def load_audio(self, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
        """The track's mono mix as float32; resampled to sample_rate when given."""
        from rtadt.resample import resample
        from rtadt.sources import AudioError, read_audio

        mix, rate = None, None
        for path, gain in zip(self.audio, self.gains):
            try:
                x, sr = read_audio(path)
            except AudioError as exc:
                raise DatasetError(self.dataset, path, f"readable audio ({exc})") from None
            if rate is not None and sr != rate:
                raise DatasetError(self.dataset, path, f"audio at {rate} Hz like the track's other files, not {sr} Hz")
            rate = sr
            x = gain * x
            if mix is None:
                mix = x
            else:  # stems of one take may differ by a few samples in length
                n = max(len(mix), len(x))
                mix = np.pad(mix, (0, n - len(mix))) + np.pad(x, (0, n - len(x)))
        if sample_rate is not None and sample_rate != rate:
            mix, rate = resample(mix, rate, sample_rate).astype(np.float32), sample_rate
        return mix.astype(np.float32, copy=False), rate

    def onsets(self) -> dict[str, np.ndarray]:
        """Sorted onset times per class."""
        return {c: np.array(sorted(e.time for e in self.events if e.drum == c)) for c in CLASSES}


def require(dataset: str, path: Path, what: str = "file") -> Path:
    if not path.exists():
        raise DatasetError(dataset, path, f"missing {what}")
    return path


def statistics(tracks: list[Track]) -> dict:
    """Tracks, hours and onsets per class, per split (durations need audio headers only)."""
    import soundfile as sf

    out: dict[str, dict] = {}
    for t in tracks:
        s = out.setdefault(t.split, {"tracks": 0, "hours": 0.0, "onsets": {c: 0 for c in CLASSES}})
        s["tracks"] += 1
        dur = t.duration
        if dur is None:
            try:
                dur = max(sf.info(str(p)).duration for p in t.audio)
            except Exception as exc:
                raise DatasetError(t.dataset, t.audio[0], f"readable audio ({exc})") from None
        s["hours"] += dur / 3600
        for e in t.events:
            s["onsets"][e.drum] += 1
    for s in out.values():
        s["hours"] = round(s["hours"], 4)
    return out
