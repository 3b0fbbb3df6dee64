"""Each class's F1 against its threshold, beyond the tuning grid's top (0.95), on the rendered
validation kits the picker is tuned on and on ENST drummer 2's validation half: does the tuned
tom threshold sit at the grid's top because the rendered toms want it higher, and what do real
toms want? A diagnostic: nothing here tunes or selects a model.

    python offline/results/realism/tom-threshold/tom_threshold.py RENDER ENST OUT LABEL=BUNDLE...

RENDER: a synth render with a validation split (abl-kinds); ENST: the enst-drums-dev root;
OUT: this folder (tom-threshold.json, tom-threshold.png). Each bundle's own delta is kept.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from offline.datasets import load
from offline.evaluate import _validation_activations, threshold_sweep
from offline.metrics import prf
from rtadt.bundle import load_bundle

GRID = np.round(np.arange(0.05, 0.995, 0.02), 2)  # 0.05 ... 0.99


def sweep(bundle, tracks) -> dict:
    acts, refs, delays = _validation_activations(bundle, tracks, progress=False)
    counts = threshold_sweep(acts, refs, bundle.features, bundle.lookahead_s, bundle.peak, GRID, 0.05,
                             classes=bundle.classes, picker="online", delay_s=delays)
    return {c: {"f1": [round(prf(*map(int, counts[i, k])).f1, 4) for i in range(len(GRID))],
                "references": int(counts[0, k, 0] + counts[0, k, 2])} for k, c in enumerate(bundle.classes)}


def main(render: str, enst: str, out: str, *models: str) -> None:
    sets = {"rendered validation kits": [t for t in load("synth", render) if t.split == "validation"],
            "ENST drummer 2, validation half": [t for t in load("enst-phrases-d1", enst) if t.split == "validation"]}
    result = {"command": "python offline/results/realism/tom-threshold/tom_threshold.py " + " ".join(sys.argv[1:]),
              "grid": GRID.tolist(), "tracks": {k: len(v) for k, v in sets.items()}, "models": {}}
    for item in models:
        label, _, path = item.partition("=")
        bundle = load_bundle(path)
        result["models"][label] = {"thresholds": dict(zip(bundle.classes, map(float, bundle.thresholds))),
                                   "delta": bundle.peak.delta,
                                   "sets": {name: sweep(bundle, tracks) for name, tracks in sets.items()}}
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / "tom-threshold.json").write_text(json.dumps(result, indent=1))
    plot(result, Path(out) / "tom-threshold.png")
    for label, m in result["models"].items():
        for name, per_class in m["sets"].items():
            f1 = np.array(per_class["TT"]["f1"])
            print(f"{label} | {name}: TT F1 at 0.95 {f1[GRID == 0.95][0]:.3f}, best {f1.max():.3f} at "
                  f"{GRID[int(np.argmax(f1))]:.2f} ({per_class['TT']['references']} toms)")


def plot(result: dict, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    classes = ["KD", "SD", "TT", "HH", "CY"]
    fig = Figure(figsize=(15, 3.4))
    FigureCanvasAgg(fig)
    for k, c in enumerate(classes):
        ax = fig.add_subplot(1, len(classes), k + 1)
        for label, m in result["models"].items():
            for name, style in zip(m["sets"], ("-", "--")):
                ax.plot(result["grid"], m["sets"][name][c]["f1"], style, label=f"{label}, {name}")
        ax.axvline(0.95, color="grey", lw=0.8)
        ax.set_title(c)
        ax.set_xlabel("threshold (grey: the tuning grid's top)")
        if k == 0:
            ax.set_ylabel("F1 at 50 ms")
    fig.axes[2].legend(fontsize=6, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main(*sys.argv[1:])
