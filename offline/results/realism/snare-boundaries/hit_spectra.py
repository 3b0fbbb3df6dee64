"""How a hit of each class sounds, real against rendered: the mean spectral shape of isolated hits.

For every onset with no other onset (any class) within ISOLATION_S either side, the power
spectrum of the first ATTACK_S after it (Hann window, 44.1 kHz) is summed into third-octave
bands, taken in dB and shifted so that its bands average 0 dB: a shape, whatever the level.
Each set's curve is the mean shape over its hits. Real: ENST drummer 1 (the training drummer)
and drummer 2's validation half (phrases, wet mix); rendered: a synth render's drums-only
examples (music in the others would colour the shapes).

    python offline/results/realism/snare-boundaries/hit_spectra.py --render eq-s9 --out DIR

Writes DIR/hit-spectra.json (per set and class: hits, mean shape, the shape's spread, and the
high-to-low band ratio: mean dB above 5 kHz minus mean dB 60-500 Hz) and DIR/hit-spectra.png.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from offline.datasets import load
from rtadt.drums import CLASSES

RATE = 44100
ATTACK_S = 0.06
ISOLATION_S = 0.08
BAND_EDGES = 1000.0 * 2.0 ** (np.arange(-13, 14) / 3)  # third octaves, 63 Hz - 16 kHz (edges)
HIGH_HZ, LOW_HZ = (5000.0, 20000.0), (60.0, 500.0)


def isolated_onsets(events, isolation_s: float = ISOLATION_S) -> list[tuple[float, str]]:
    """(time, drum) of the onsets that have no other onset within isolation_s either side."""
    times = np.array(sorted(e.time for e in events))
    kept = []
    for e in events:
        near = np.abs(times - e.time) < isolation_s
        if near.sum() == 1:  # itself only
            kept.append((e.time, e.drum))
    return kept


def band_shape(audio: np.ndarray, start: int, length: int) -> np.ndarray | None:
    """Third-octave power of audio[start:start+length] in dB, shifted to average 0 dB."""
    frame = audio[start:start + length]
    if len(frame) < length or not np.any(frame):
        return None
    spectrum = np.abs(np.fft.rfft(frame * np.hanning(length))) ** 2
    freqs = np.fft.rfftfreq(length, 1.0 / RATE)
    power = np.array([spectrum[(freqs >= lo) & (freqs < hi)].sum()
                      for lo, hi in zip(BAND_EDGES[:-1], BAND_EDGES[1:])])
    db = 10 * np.log10(power + 1e-20)
    return db - db.mean()


def shapes_of(tracks, window_s: tuple[float, float] = (0.0, ATTACK_S)) -> dict[str, list[np.ndarray]]:
    offset, length = int(window_s[0] * RATE), int((window_s[1] - window_s[0]) * RATE)
    shapes: dict[str, list[np.ndarray]] = {c: [] for c in CLASSES}
    for track in tracks:
        audio, _ = track.load_audio(RATE)
        for time, drum in isolated_onsets(track.events):
            shape = band_shape(audio, int(round(time * RATE)) + offset, length)
            if shape is not None:
                shapes[drum].append(shape)
    return shapes


def summary(shapes: dict[str, list[np.ndarray]]) -> dict:
    centres = np.sqrt(BAND_EDGES[:-1] * BAND_EDGES[1:])
    high = (centres >= HIGH_HZ[0]) & (centres < HIGH_HZ[1])
    low = (centres >= LOW_HZ[0]) & (centres < LOW_HZ[1])
    out = {}
    for drum, rows in shapes.items():
        if not rows:
            out[drum] = {"hits": 0}
            continue
        rows = np.array(rows)
        ratio = rows[:, high].mean(1) - rows[:, low].mean(1)
        out[drum] = {"hits": len(rows), "mean_db": rows.mean(0).round(2).tolist(),
                     "spread_db": rows.std(0).round(2).tolist(),
                     "high_minus_low_db": {"mean": round(float(ratio.mean()), 2),
                                           "median": round(float(np.median(ratio)), 2),
                                           "p10": round(float(np.percentile(ratio, 10)), 2),
                                           "p90": round(float(np.percentile(ratio, 90)), 2)}}
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--render", required=True, help="a synth render's root (its drums-only examples are read)")
    parser.add_argument("--enst", default="../shared/data/enst-drums-dev")
    parser.add_argument("--limit", type=int, default=120, help="at most this many rendered examples")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    enst = load("enst-phrases-d1", args.enst)
    manifest = json.loads((Path(args.render) / "manifest.json").read_text())
    drums_only = {e["id"] for e in manifest["examples"] if e["spec"]["kind"] == "drums"}
    rendered = [t for t in load("synth", args.render) if t.name in drums_only][:args.limit]
    sets = {"ENST drummer 1": [t for t in enst if t.split == "train"],
            "ENST drummer 2 (validation)": [t for t in enst if t.split == "validation"],
            f"rendered ({Path(args.render).name}, drums only)": rendered}
    result = {"attack_s": ATTACK_S, "isolation_s": ISOLATION_S,
              "band_centres_hz": np.sqrt(BAND_EDGES[:-1] * BAND_EDGES[1:]).round(1).tolist(),
              "sets": {}}
    for name, tracks in sets.items():
        result["sets"][name] = {"tracks": len(tracks), "classes": summary(shapes_of(tracks))}
        print(name, {d: (v["hits"], v.get("high_minus_low_db", {}).get("median"))
                     for d, v in result["sets"][name]["classes"].items()}, flush=True)
    (out / "hit-spectra.json").write_text(json.dumps(result, indent=1))
    plot(result, out / "hit-spectra.png")


def plot(result: dict, path: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    centres = result["band_centres_hz"]
    fig, axes = plt.subplots(1, len(CLASSES), figsize=(18, 3.6), sharey=True)
    for ax, drum in zip(axes, CLASSES):
        for name, data in result["sets"].items():
            c = data["classes"][drum]
            if c["hits"]:
                ax.semilogx(centres, c["mean_db"], label=f"{name} ({c['hits']})")
        ax.set_title(drum)
        ax.set_xlabel("Hz")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    axes[0].set_ylabel(f"dB, first {int(result['attack_s'] * 1000)} ms, shape (mean 0)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
