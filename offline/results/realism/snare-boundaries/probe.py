"""What a model answers at the snare's two boundaries, on its training render, the held-out
rendered kits and the real drummer, and how that moves when the audio is filtered.

Per hit, the bundle's activation (offline, whole track: for a causal bundle the streaming
activations) within +-`WINDOW_FRAMES` frames of the frame its label sits on:

- **hi-hat on isolated snares**: snares with no hi-hat or cymbal onset within `ISOLATION_S`: the
  hi-hat's peak activation, and the share of those snares where it passes the bundle's hi-hat
  threshold (a false hi-hat the picker would report, were it a peak);
- **tom on toms**: the tom's peak activation at tom onsets, the share over the tom threshold, and
  the share where the snare passes its threshold (the tom heard as a snare);
- **tom on snares**: the share of snare onsets where the tom passes its threshold.

Filters apply to the whole track (pedalboard's shelves; pitch by resampling, labels scaled
with it), on the held-out rendered kits and the real drummer.

    python offline/results/realism/snare-boundaries/probe.py BUNDLE --train-render eq-s9 \
        --rendered abl-kinds --enst ../shared/data/enst-drums-dev --out DIR
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from offline.datasets import load
from offline.evaluate import offline_frames
from rtadt.bundle import load_bundle
from rtadt.framing import onset_frames

RATE = 44100
WINDOW_FRAMES = 3
ISOLATION_S = 0.15


def resample_pitch(x: np.ndarray, semitones: float) -> tuple[np.ndarray, float]:
    """x played 2^(semitones/12) times faster (linear interpolation); the factor times shrink by."""
    factor = 2.0 ** (semitones / 12)
    n = int(len(x) / factor)
    return np.interp(np.arange(n) * factor, np.arange(len(x)), x).astype(np.float32), factor


def _shelf(kind: str, hz: float, db: float):
    from pedalboard import HighShelfFilter, LowShelfFilter, Pedalboard

    board = Pedalboard([(HighShelfFilter if kind == "high" else LowShelfFilter)(hz, db)])
    return lambda x: (board(x, RATE), 1.0)


TRANSFORMS = {
    "as recorded": lambda x: (x, 1.0),
    "high shelf -9 dB at 3 kHz": _shelf("high", 3000, -9),
    "high shelf +9 dB at 3 kHz": _shelf("high", 3000, 9),
    "low shelf +9 dB at 150 Hz": _shelf("low", 150, 9),
    "low shelf -9 dB at 150 Hz": _shelf("low", 150, -9),
    "pitch -3 semitones": lambda x: resample_pitch(x, -3),
    "pitch +3 semitones": lambda x: resample_pitch(x, 3),
}


def peak_near(acts: np.ndarray, frames: np.ndarray, c: int, half: int = WINDOW_FRAMES) -> np.ndarray:
    """Per frame k, max of acts[k-half : k+half+1, c] (clipped to the track)."""
    return np.array([acts[max(0, k - half):k + half + 1, c].max() for k in frames if k < len(acts)])


def isolated(times: np.ndarray, others: np.ndarray, isolation_s: float) -> np.ndarray:
    """The times with no time of `others` within isolation_s."""
    if not len(others):
        return times
    return np.array([t for t in times if np.min(np.abs(others - t)) > isolation_s])


def probe_tracks(bundle, tracks, transform) -> dict[str, list[float]]:
    """The three probes' raw activations over tracks, under one transform."""
    classes = list(bundle.classes)
    sd, tt, hh = (classes.index(c) for c in ("SD", "TT", "HH"))
    out = {"hh_on_isolated_snares": [], "tt_on_toms": [], "sd_on_toms": [], "tt_on_snares": []}
    for track in tracks:
        audio, _ = track.load_audio(RATE)
        audio, factor = transform(audio)
        acts, _, delay = offline_frames(bundle, audio, RATE)
        by = {c: np.array([e.time for e in track.events if e.drum == c]) for c in classes}

        def frames(times):  # times as labelled; the transformed audio runs `factor` times faster
            return onset_frames(times / factor + delay, bundle.features, bundle.lookahead_s) if len(times) else []

        metal = np.concatenate([by["HH"], by["CY"]])
        out["hh_on_isolated_snares"] += peak_near(acts, frames(isolated(by["SD"], metal, ISOLATION_S)), hh).tolist()
        out["tt_on_toms"] += peak_near(acts, frames(by["TT"]), tt).tolist()
        out["sd_on_toms"] += peak_near(acts, frames(by["TT"]), sd).tolist()
        out["tt_on_snares"] += peak_near(acts, frames(by["SD"]), tt).tolist()
    return out


def summarise(raw: dict[str, list[float]], thresholds: dict[str, float]) -> dict:
    over = {"hh_on_isolated_snares": "HH", "tt_on_toms": "TT", "sd_on_toms": "SD", "tt_on_snares": "TT"}
    out = {}
    for name, values in raw.items():
        v = np.asarray(values)
        out[name] = {"hits": len(v)} if not len(v) else {
            "hits": len(v), "median": round(float(np.median(v)), 3),
            "over_threshold": round(float(np.mean(v > thresholds[over[name]])), 3)}
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle")
    parser.add_argument("--train-render", required=True, help="the render the model was trained on (train split)")
    parser.add_argument("--rendered", default="abl-kinds", help="a render whose validation split holds the held-out kits")
    parser.add_argument("--enst", default="../shared/data/enst-drums-dev")
    parser.add_argument("--limit", type=int, default=80, help="at most this many training-render examples")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    bundle = load_bundle(args.bundle)
    thresholds = {c: float(t) for c, t in zip(bundle.classes, bundle.thresholds)}
    sets = {
        "training render": ([t for t in load("synth", args.train_render) if t.split == "train"][:args.limit],
                            ["as recorded"]),
        "held-out rendered kits": ([t for t in load("synth", args.rendered) if t.split == "validation"],
                                   list(TRANSFORMS)),
        "ENST drummer 2, validation phrases": (
            [t for t in load("enst-phrases-d1", args.enst) if t.split == "validation"], list(TRANSFORMS)),
    }
    result = {"bundle": args.bundle, "thresholds": thresholds, "window_frames": WINDOW_FRAMES,
              "isolation_s": ISOLATION_S, "sets": {}}
    for name, (tracks, transforms) in sets.items():
        result["sets"][name] = {"tracks": len(tracks), "transforms": {}}
        for tname in transforms:
            s = summarise(probe_tracks(bundle, tracks, TRANSFORMS[tname]), thresholds)
            result["sets"][name]["transforms"][tname] = s
            print(f"{name} / {tname}: " + ", ".join(f"{k} {v.get('over_threshold')}" for k, v in s.items()), flush=True)
    (out / "probe.json").write_text(json.dumps(result, indent=1))
    (out / "probe.md").write_text(table(result))
    plot(result, out / "probe.png")


def table(result: dict) -> str:
    rows = ["| set | audio | hi-hat over its threshold on isolated snares | tom over its threshold on toms "
            "| snare over its threshold on toms | tom over its threshold on snares |", "|---|---|---:|---:|---:|---:|"]
    for name, data in result["sets"].items():
        for tname, s in data["transforms"].items():
            cells = [f"{s[k]['over_threshold']:.2f} ({s[k]['hits']})" if s[k]["hits"] else "-"
                     for k in ("hh_on_isolated_snares", "tt_on_toms", "sd_on_toms", "tt_on_snares")]
            rows.append(f"| {name} | {tname} | " + " | ".join(cells) + " |")
    th = ", ".join(f"{c} {t:g}" for c, t in result["thresholds"].items())
    return (f"Bundle `{result['bundle']}` (thresholds {th}); share of hits (count) where the class's peak "
            f"activation within +-{result['window_frames']} frames passes its threshold.\n\n" + "\n".join(rows) + "\n")


def plot(result: dict, path: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    probes = [("hh_on_isolated_snares", "hi-hat on isolated snares"), ("sd_on_toms", "snare on toms"),
              ("tt_on_toms", "tom on toms")]
    fig, axes = plt.subplots(1, len(probes), figsize=(16, 4.5), sharey=True)
    for ax, (key, title) in zip(axes, probes):
        labels, values = [], []
        for name, data in result["sets"].items():
            for tname, s in data["transforms"].items():
                labels.append(f"{name}: {tname}" if tname != "as recorded" else name)
                values.append(s[key].get("over_threshold", np.nan))
        ax.barh(range(len(values)), values, color=["C0" if "rendered" in lab or "training" in lab else "C1"
                                                    for lab in labels])
        ax.set_yticks(range(len(values)), labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_title(f"{title}: share over threshold")
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.subplots_adjust(left=0.22)  # the long set labels of the first axis
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
