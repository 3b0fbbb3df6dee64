"""What the drums play in a synthetic example (offline/datasets/synth.py): drum parts as hits
``(time_s, GM note, velocity)``, sorted by time, from 0 up to the seconds asked for.

    groove_index(root) -> rows of the Groove MIDI Dataset's info.csv
    plan_groove(rng, rows, seconds) -> excerpts of its files, end to end
    groove_part(root, segments) -> the hits of those excerpts
    procedural_part({"style", "seed", ...}, seconds) -> (hits, what was drawn)

Groove MIDI parts are recorded performances; a file's non-kit notes are left out and an
unknown note is an error (rtadt.drums.gm_note_to_class). Procedural parts are drawn from their
own seed, so a spec that names the style and the seed gives the same part every time: grooves
(`groove_pattern`, with `ornaments` and, when the spec asks, `cymbal_gestures`), busy parts
(`busy_pattern`) and sparse isolated hits (`isolated_hits`). A hit of velocity 0 is a choke:
the drummer's hand stops that cymbal there; it sounds nothing and is no onset. Nothing here knows kits, songs or audio: a kit plays these hits
(offline/datasets/kits.py).
"""
from __future__ import annotations

import csv
import functools
from pathlib import Path

import numpy as np

from offline.datasets.base import DatasetError, require
from offline.datasets.kits import DATASET
from offline.datasets.midi import read_midi
from rtadt.drums import UnknownLabelError, gm_note_to_class


@functools.lru_cache(maxsize=4)
def groove_index(root: Path) -> tuple[dict, ...]:
    """info.csv of the Groove MIDI Dataset: one row per file (duration as float)."""
    with open(require(DATASET, Path(root) / "info.csv", "Groove MIDI info.csv"), newline="") as f:
        rows = [dict(r, duration=float(r["duration"])) for r in csv.DictReader(f)]
    return tuple(sorted(rows, key=lambda r: r["midi_filename"]))


@functools.lru_cache(maxsize=256)
def groove_hits(root: Path, rel: str) -> tuple[tuple[float, int, int], ...]:
    """(time, note, velocity) of a Groove MIDI file; non-kit notes left out, unknown ones an error."""
    from offline.datasets.midi import note_on_hits

    path = Path(root) / rel
    out = []
    for h in note_on_hits(read_midi(DATASET, path)):
        try:
            if gm_note_to_class(h.note) is not None:
                out.append((h.time, h.note, h.velocity))
        except UnknownLabelError as exc:
            raise DatasetError(DATASET, path, f"known drum notes ({exc})") from None
    return tuple(out)


def plan_groove(rng: np.random.Generator, rows: list[dict], seconds: float) -> list[dict]:
    """Excerpts of Groove MIDI files, picked with probability by duration, end to end until
    `seconds` are filled: [{"file", "start", "at", "length"}]."""
    p = np.array([r["duration"] for r in rows])
    out, at = [], 0.0
    while at < seconds:
        row = rows[int(rng.choice(len(rows), p=p / p.sum()))]
        need = seconds - at
        start = float(rng.uniform(0, row["duration"] - need)) if row["duration"] > need else 0.0
        length = min(need, row["duration"])
        out.append({"file": row["midi_filename"], "start": round(start, 4), "at": round(at, 4),
                    "length": round(length, 4)})
        at += length + float(rng.uniform(0.0, 0.3))
    return out


def groove_part(root: Path, segments: list[dict]) -> list[tuple[float, int, int]]:
    hits = []
    for seg in segments:
        for t, note, vel in groove_hits(Path(root), seg["file"]):
            if seg["start"] <= t < seg["start"] + seg["length"]:
                hits.append((t - seg["start"] + seg["at"], note, vel))
    return sorted(hits)


TOMS = (50, 48, 47, 45, 43, 41)
CRASHES = (49, 57, 55, 52)
PART_NOTES = (35, 36, 37, 38, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 55, 57, 59)


def isolated_hits(rng: np.random.Generator, seconds: float, min_gap: float = 0.15) -> list[tuple[float, int, int]]:
    """Single hits of any drum at random velocities, min_gap..min_gap+1 s apart; one in five
    doubled by another drum at the same instant."""
    hits, t = [], float(rng.uniform(0.05, 0.5))
    while t < seconds:
        notes = rng.choice(PART_NOTES, size=2 if rng.random() < 0.2 else 1, replace=False)
        hits.extend((t, int(n), int(rng.integers(10, 128))) for n in notes)
        t += min_gap + float(rng.uniform(0, 1.0))
    return hits


def groove_pattern(rng: np.random.Generator, seconds: float,
                   cymbals: bool = False) -> tuple[list[tuple[float, int, int]], dict]:
    """A beat with a time-keeper, kick and snare patterns, ghost notes, crashes on phrase
    starts and tom fills at phrase ends, 50-240 bpm; humanised in time and velocity; with
    ornaments (flams, drags, rolls in fills, pedal hi-hat under a ride) and, if `cymbals`,
    crash chokes and cymbal swells (`cymbal_gestures`)."""
    bpm = float(rng.uniform(50, 240) if rng.random() < 0.3 else rng.uniform(70, 180))
    beats = 3 if rng.random() < 0.15 else 4
    sub = 3 if rng.random() < 0.2 else 4  # steps per beat: triplets or sixteenths
    step, n = 60 / bpm / sub, beats * sub
    swing = float(rng.uniform(0, 0.3)) if sub == 4 and rng.random() < 0.3 else 0.0
    jitter, dyn = float(rng.uniform(0.002, 0.015)), float(rng.uniform(0.6, 1.1))
    keeper = int(rng.choice([42, 42, 42, 42, 42, 51, 51, 46, 44, 53]))
    every = int(rng.choice([1, 2, 2, 4] if sub == 4 else [1, 3]))
    phrase = int(rng.choice([4, 8]))
    p_kick = np.array([0.95 if s == 0 else 0.35 if s % sub == 0 else 0.2 if s % 2 == 0 else 0.07 for s in range(n)])
    kick = rng.random(n) < p_kick
    backbeat = {sub * 2} if rng.random() < 0.2 else ({sub, sub * 3} if beats == 4 else {sub * 2})
    info = {"style": "groove", "bpm": round(bpm, 2), "beats": beats, "steps_per_beat": sub,
            "swing": round(swing, 3), "timing_sd": round(jitter, 4), "keeper": keeper}
    hits = []

    def hit(bar_t: float, s: int, note: int, vel: float):
        t = bar_t + s * step + (swing * step if sub == 4 and s % 2 else 0.0) + float(rng.normal(0, jitter))
        v = int(np.clip(round(vel * dyn + rng.normal(0, 8)), 1, 127))
        if 0 <= t < seconds:
            hits.append((t, note, v))

    bar, bar_t = 0, 0.0
    while bar_t < seconds:
        bar_kick = np.where(rng.random(n) < 0.1, ~kick, kick)  # a few steps change each bar
        fill_from = n - sub * int(rng.integers(1, 3)) if (bar + 1) % phrase == 0 and rng.random() < 0.6 else n
        if bar % phrase == 0 and rng.random() < 0.7:
            hit(bar_t, 0, int(rng.choice(CRASHES)), 110)
        for s in range(n):
            if s >= fill_from:
                if rng.random() < 0.8:
                    note = int(rng.choice((38,) + TOMS[: 2 + (s - fill_from) * 4 // max(n - fill_from, 1)]))
                    hit(bar_t, s, note, 95)
                if s % sub == 0 and bar_kick[s]:
                    hit(bar_t, s, 36, 100)
                continue
            if s % every == 0:
                open_hat = keeper == 42 and s == n - 2 and rng.random() < 0.15
                hit(bar_t, s, 46 if open_hat else keeper, 70 + (20 if s % sub == 0 else 0))
            if bar_kick[s]:
                hit(bar_t, s, 36, 100)
            if s in backbeat:
                hit(bar_t, s, 38 if rng.random() < 0.9 else 40, 105)
            elif rng.random() < 0.08:
                hit(bar_t, s, 38, 30)  # ghost note
        bar, bar_t = bar + 1, bar_t + n * step
    hits, info["ornaments"] = ornaments(rng, hits, step, keeper, sub, seconds)
    if cymbals:  # drawn last: a part without them is what it was before they existed
        hits, info["cymbal_gestures"] = cymbal_gestures(rng, hits, step * sub, seconds)
    return sorted(hits), info


def ornaments(rng: np.random.Generator, hits: list, step: float, keeper: int, sub: int, seconds: float):
    """Grace notes and extra strokes on a beat's hits (time, note, velocity):

    flam   one soft stroke of the same drum 15-40 ms before a snare or tom hit
    drag   two soft strokes 25-45 ms apart before a snare hit (a ruff)
    roll   a fill's strokes doubled or tripled (32nds or sextuplets) when the step is long
    pedal  the hi-hat foot on every beat under a ride or open-hat time-keeper

    Rates are drawn per pattern (many patterns have none); every stroke is an onset of its own.
    Returns (hits, the rates drawn)."""
    rates = {"flam": float(rng.uniform(0, 0.25)) if rng.random() < 0.4 else 0.0,
             "drag": float(rng.uniform(0, 0.1)) if rng.random() < 0.25 else 0.0,
             "roll": float(rng.uniform(0.3, 1.0)) if rng.random() < 0.3 and step >= 0.08 else 0.0,
             "pedal": keeper in (51, 53, 46) and rng.random() < 0.5}
    out = list(hits)
    for t, note, vel in hits:
        soft = int(max(1, vel * rng.uniform(0.25, 0.55)))
        if note in (38, 40) + TOMS and rng.random() < rates["flam"]:
            out.append((t - float(rng.uniform(0.015, 0.04)), note, soft))
        elif note in (38, 40) and rng.random() < rates["drag"]:
            gap = float(rng.uniform(0.025, 0.045))
            out += [(t - 2 * gap, note, soft), (t - gap, note, soft)]
        elif note in TOMS + (38,) and vel >= 90 and rng.random() < rates["roll"]:  # fills are played at 95
            strokes = int(rng.choice([2, 3]))
            out += [(t + k * step / strokes, note, int(max(1, vel * rng.uniform(0.6, 0.9)))) for k in range(1, strokes)]
    if rates["pedal"]:
        beat = step * sub
        out += [(k * beat + float(rng.normal(0, 0.005)), 44, int(rng.integers(40, 90)))
                for k in range(int(seconds / beat) + 1)]
    return [h for h in out if 0 <= h[0] < seconds], {k: round(float(v), 3) for k, v in rates.items()}


def cymbal_gestures(rng: np.random.Generator, hits: list, beat: float, seconds: float):
    """Crash chokes and cymbal swells around a groove's crashes (those on its phrase starts):

    choke  the hand stops the crash 0.1 s to two beats after the hit: a hit of velocity 0,
           which the kits render as the end of that cymbal's ringing and label as nothing
    swell  a mallet roll on the same cymbal leading into the crash: strokes 45-90 ms apart over
           the one or two beats before it, growing from pianissimo (velocity 8-20) to 50-80

    Rates are drawn per pattern (some patterns have neither); every swell stroke is an onset of
    its own, as a roll's strokes are. Returns (hits, the rates drawn)."""
    rates = {"choke": float(rng.uniform(0.2, 0.8)) if rng.random() < 0.6 else 0.0,
             "swell": float(rng.uniform(0.2, 0.8)) if rng.random() < 0.5 else 0.0}
    out = list(hits)
    for t, note, vel in hits:
        if note not in CRASHES:
            continue
        if rng.random() < rates["swell"]:
            length = beat * int(rng.choice([1, 2]))
            gap = float(rng.uniform(0.045, 0.09))
            grid = np.arange(t - length, t - gap / 2, gap)
            times = grid + rng.normal(0, 0.004, len(grid))
            quiet, loud = float(rng.uniform(8, 20)), float(rng.uniform(50, 80))
            out += [(float(u), note, int(round(quiet + (loud - quiet) * k / max(len(times) - 1, 1))))
                    for k, u in enumerate(times)]
        if rng.random() < rates["choke"]:
            out.append((t + float(rng.uniform(0.1, 2 * beat)), note, 0))
    return [h for h in out if 0 <= h[0] < seconds], {k: round(v, 3) for k, v in rates.items()}


def busy_pattern(rng: np.random.Generator, seconds: float) -> tuple[list[tuple[float, int, int]], dict]:
    """Dense random sixteenths over the whole kit: many simultaneous and close hits."""
    bpm = float(rng.uniform(90, 160))
    step, t, hits = 60 / bpm / 4, 0.0, []
    groups = ((0.25, (35, 36)), (0.2, (37, 38, 40)), (0.45, (42, 44, 46)), (0.1, TOMS),
              (0.06, (49, 51, 52, 53, 55, 57)))
    while t < seconds:
        for p, notes in groups:
            if rng.random() < p:
                when = max(t + float(rng.normal(0, 0.004)), 0.0)
                hits.append((when, int(rng.choice(notes)), int(rng.integers(20, 128))))
        t += step
    return sorted(h for h in hits if h[0] < seconds), {"style": "busy", "bpm": round(bpm, 2)}


def procedural_part(params: dict, seconds: float) -> tuple[list[tuple[float, int, int]], dict]:
    """A seeded drum part: params {"style": "groove" | "busy" | "sparse", "seed", "min_gap", "cymbals"}
    ("cymbals": grooves with crash chokes and cymbal swells)."""
    rng = np.random.default_rng(params["seed"])
    if params["style"] == "sparse":
        return sorted(isolated_hits(rng, seconds, params.get("min_gap", 0.15))), {"style": "sparse"}
    if params["style"] == "busy":
        return busy_pattern(rng, seconds)
    return groove_pattern(rng, seconds, cymbals=params.get("cymbals", False))
