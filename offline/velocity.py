"""Velocity: fit the bundle's velocity rule (rtadt.velocity) on validation hits, and measure
how well predicted velocities follow the true ones.

    samples = hit_samples(bundle, tracks)          # per class: activation, loudness, rise, true velocity
    rule = fit_velocity_rule(samples, bundle.classes)
    velocity_correlation(pairs)                    # Pearson r per class of (true, predicted)

A hit is a detection matched to a reference onset of its class within the window (the
matching of offline.metrics). Rendered data carries true velocities; recorded datasets
mostly do not and give every hit one default (rtadt.drums.Event): a track whose references
all have one velocity is left out.
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np

from offline.evaluate import offline_frames, onset_times
from offline.metrics import matched_indices
from rtadt.peaks import pick_peaks_online
from rtadt.drums import Event
from rtadt.velocity import VelocityRule, loudness_rise

MIN_HITS = 20  # fewer matched hits than this: the class keeps activation * 127


def carries_velocities(events: Sequence[Event]) -> bool:
    """Whether reference events say how hard each hit was (more than one velocity)."""
    return len({e.velocity for e in events}) > 1


def matched_hits(bundle, tracks: Iterable, window: float = 0.05, progress: bool = True):
    """Every matched hit of tracks that carry velocities, as (activations [frames, classes],
    loudness [frames, classes], class index, reporting frame, true velocity): the frames the
    bundle's online picker reports matched hits in (batch features and the window graph,
    which equal the engine's). A track's arrays are shared by its hits."""
    from tqdm import tqdm

    session = bundle.session("window")
    for track in tqdm(list(tracks), desc="velocity", unit="track", disable=None if progress else True):
        if not carries_velocities(track.events):
            continue
        audio, rate = track.load_audio()
        acts, loudness, delay = offline_frames(bundle, audio, rate, session)
        peaks = pick_peaks_online(acts, bundle.thresholds, bundle.peak)
        for c, name in enumerate(bundle.classes):
            refs = [e for e in track.events if e.drum == name]
            if not refs or not len(peaks[c]):
                continue
            times = onset_times(peaks[c], bundle.features, bundle.lookahead_s, delay)
            ref_t = np.array([e.time for e in refs], dtype=np.float64)
            for i, j in matched_indices(ref_t, times, window):
                yield acts, loudness, c, int(peaks[c][j]), float(refs[i].velocity)


def hit_samples(bundle, tracks: Iterable, window: float = 0.05, progress: bool = True) -> dict[str, np.ndarray]:
    """{class: float64 [hits, 4]} of (activation, loudness, rise, true velocity) of every
    matched hit (matched_hits); rise is the loudness minus the previous frame's (rtadt.velocity)."""
    rows: dict[str, list] = {c: [] for c in bundle.classes}
    loudness, rise = None, None
    for acts, track_loudness, c, n, velocity in matched_hits(bundle, tracks, window, progress):
        if track_loudness is not loudness:  # a new track
            loudness, rise = track_loudness, loudness_rise(track_loudness)
        rows[bundle.classes[c]].append((float(acts[n, c]), float(loudness[n, c]), float(rise[n, c]), velocity))
    return {c: np.asarray(v, dtype=np.float64).reshape(-1, 4) for c, v in rows.items()}


def fit_velocity_rule(samples: Mapping[str, np.ndarray], classes: Sequence[str],
                      min_hits: int = MIN_HITS, rise: bool = False) -> VelocityRule:
    """Per class, least squares of velocity / 127 on (1, activation, loudness), and the rise
    with `rise` (samples as hit_samples gives them); classes with fewer than `min_hits` hits
    keep activation * 127. The rise is asked for, not always fitted: on the rendered test it
    raised the cymbals' r at a 5 ms hop and lowered it on the 20 ms-lookahead default
    (offline/results/default-model/velocity-timing)."""
    rule = VelocityRule.activation_only(len(classes))
    for c, name in enumerate(classes):
        s = np.asarray(samples.get(name, np.zeros((0, 4))), dtype=np.float64)
        if len(s) < min_hits:
            continue
        design = np.column_stack([np.ones(len(s)), s[:, 0], s[:, 1]] + ([s[:, 2]] if rise else []))
        coef, *_ = np.linalg.lstsq(design, s[:, 3] / 127.0, rcond=None)
        rule.intercept[c], rule.activation_weight[c], rule.loudness_weight[c] = coef[:3]
        if rise:
            rule.rise_weight[c] = coef[3]
    return rule


def matched_velocities(reference: Sequence[Event], estimate: Sequence[Event], window: float = 0.05,
                       classes: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """{class: int [hits, 2]} of (true, predicted) velocity of every matched hit; empty
    when the references carry no velocities (`carries_velocities`)."""
    out = {}
    known = carries_velocities(reference)
    for c in classes:
        refs = [e for e in reference if e.drum == c and known]
        ests = [e for e in estimate if e.drum == c]
        pairs = matched_indices([e.time for e in refs], [e.time for e in ests], window)
        out[c] = np.array([(refs[i].velocity, ests[j].velocity) for i, j in pairs], dtype=np.int64).reshape(-1, 2)
    return out


def velocity_correlation(pairs: Mapping[str, np.ndarray], min_hits: int = 10) -> dict[str, dict]:
    """{class: {"r": Pearson r of true and predicted velocity (None when undefined), "n": hits}}."""
    out = {}
    for c, p in pairs.items():
        p = np.asarray(p, dtype=np.float64).reshape(-1, 2)
        defined = len(p) >= min_hits and p[:, 0].std() > 0 and p[:, 1].std() > 0
        out[c] = {"r": round(float(np.corrcoef(p[:, 0], p[:, 1])[0, 1]), 4) if defined else None, "n": int(len(p))}
    return out


def tune_bundle_velocity(bundle, tracks: Iterable, progress: bool = True,
                         rise: bool = False) -> tuple[VelocityRule, dict[str, int]]:
    """The velocity rule fitted on tracks' hits as the bundle picks them (with the rise term if
    asked: fit_velocity_rule); also the hits per class."""
    samples = hit_samples(bundle, tracks, progress=progress)
    return fit_velocity_rule(samples, bundle.classes, rise=rise), {c: int(len(s)) for c, s in samples.items()}
