"""What each class sounds like at its onsets, per dataset: rendered audio beside real recordings.

For every isolated onset (no other onset of any class within `isolation` frames), the rise of
each band of the model's own features (rtadt.features, level-normalised or not) from the frame
before the onset's frame (rtadt.framing.onset_frames) to `after` frames after it (20 ms: what
the shipped model has heard when it decides). Averaged per class and dataset, it is a timbre
profile: where in the spectrum a class's attack puts its energy. A rendering whose profile of
a class lies far from the real recordings' teaches the model a sound the live input will not
have (offline/results/realism/timbre: the rendered toms and snares are far brighter than
ENST's, and the rendered-only model calls half the real toms snares).

    onset_rises(features, onsets, isolation, after) -> {class: rises [n, bands]}
    timbre_profiles(sets, cfg) -> {"bands_hz": [...], "sets": {set: {class: {"n", "mean"}}}}
    brightness_table(profiles) -> markdown: each class's share of the rise above 2 kHz per set
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from offline.metrics import markdown_table
from rtadt.drums import CLASSES
from rtadt.features import FeatureConfig, band_centre_frequencies, features_for_audio
from rtadt.framing import onset_frames

ISOLATION = 4  # frames (40 ms at 100 fps) on each side of an onset free of any other onset
AFTER = 2      # frames after the onset's frame the rise is measured at


def onset_rises(features: np.ndarray, onsets: Mapping[str, np.ndarray], isolation: int = ISOLATION,
                after: int = AFTER) -> dict[str, np.ndarray]:
    """Per class, the rise ``features[i + after] - features[i - 1]`` at each isolated onset frame i.

    features: [T, bands]; onsets: per class, the onset frame indices. An onset is isolated when
    no other onset (any class) lies within `isolation` frames of it; onsets at frame 0 or
    whose frame i + after lies beyond the last frame are left out. Returns [n, bands] per class.
    """
    if after < 0 or isolation < 0:
        raise ValueError(f"after and isolation must be >= 0, got {after} and {isolation}")
    frames = np.asarray(features, dtype=np.float64)
    every = np.sort(np.concatenate([np.asarray(v, dtype=np.int64) for v in onsets.values()] or [np.zeros(0, np.int64)]))
    out = {}
    for c in CLASSES:
        keep = []
        for i in np.asarray(onsets.get(c, ()), dtype=np.int64):
            near = np.searchsorted(every, i + isolation, "right") - np.searchsorted(every, i - isolation, "left")
            if near == 1 and 1 <= i and i + after < len(frames):
                keep.append(frames[i + after] - frames[i - 1])
        out[c] = np.array(keep).reshape(len(keep), frames.shape[1])
    return out


def timbre_profiles(sets: Mapping[str, Sequence], cfg: FeatureConfig, isolation: int = ISOLATION,
                    after: int = AFTER, progress: bool = False) -> dict:
    """{"bands_hz": band centres, "sets": {set: {class: {"n": onsets, "mean": mean rise per
    band}}}} over the tracks of each set (offline.datasets Tracks). cfg without difference
    features: a profile is one value per band."""
    from tqdm import tqdm

    if cfg.positive_diff:
        raise ValueError("timbre profiles are of the bands themselves: a FeatureConfig without positive_diff")
    out = {"bands_hz": [round(float(f), 1) for f in band_centre_frequencies(cfg)], "sets": {}}
    for name, tracks in sets.items():
        rises = {c: [] for c in CLASSES}
        for track in tqdm(tracks, desc=name, unit="track", disable=not progress):
            audio, rate = track.load_audio(cfg.sample_rate)
            features = features_for_audio(audio, rate, cfg)
            frames = {c: onset_frames(t, cfg) for c, t in track.onsets().items()}
            for c, r in onset_rises(features, frames, isolation, after).items():
                rises[c].append(r)
        out["sets"][name] = {}
        for c in CLASSES:
            r = np.concatenate(rises[c]) if rises[c] else np.zeros((0, len(out["bands_hz"])))
            out["sets"][name][c] = {"n": int(len(r)),
                                    "mean": [round(float(v), 4) for v in r.mean(0)] if len(r) else None}
    return out


def brightness(profile: Mapping, bands_hz: Sequence[float], split_hz: float = 2000.0) -> float | None:
    """The share of a profile's positive rise above split_hz: one number per class and set."""
    if profile["mean"] is None:
        return None
    rise = np.clip(np.asarray(profile["mean"]), 0, None)
    total = rise.sum()
    return round(float(rise[np.asarray(bands_hz) >= split_hz].sum() / total), 4) if total > 0 else None


def brightness_table(profiles: Mapping) -> str:
    """Markdown: per set, each class's `brightness` and its number of onsets."""
    rows = []
    for name, per_class in profiles["sets"].items():
        shares = [brightness(per_class[c], profiles["bands_hz"]) for c in CLASSES]
        rows.append([name, *(f"{'-' if b is None else b} ({per_class[c]['n']})" for b, c in zip(shares, CLASSES))])
    return markdown_table(["set", *(f"{c} (n)" for c in CLASSES)], rows)


def plot_profiles(profiles: Mapping, path, title: str = "Onset timbre"):
    """One panel per class: each set's mean rise against band frequency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bands = profiles["bands_hz"]
    fig, axes = plt.subplots(1, len(CLASSES), figsize=(4 * len(CLASSES), 3.6), sharey=True)
    for ax, c in zip(axes, CLASSES):
        for name, per_class in profiles["sets"].items():
            p = per_class[c]
            if p["mean"] is not None:
                ax.plot(bands, p["mean"], label=f"{name} ({p['n']})")
        ax.set_xscale("log")
        ax.set_title(c)
        ax.set_xlabel("band centre (Hz)")
        ax.axhline(0, color="grey", lw=0.5)
        if ax.lines[:-1]:  # a set with onsets of this class
            ax.legend(fontsize=7)
    axes[0].set_ylabel("mean feature rise at isolated onsets")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
