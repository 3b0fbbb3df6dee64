"""The architecture study: every architecture trained on each dataset under one budget,
selected on validation, thresholds tuned on validation, scored on the test split through
the streaming engine (exactly the live path). Writes markdown + PNG + JSON.

    rtadt-train study architectures --data synth:DIR --out offline/results/arch-study --minutes 3

The budget (minutes and epochs per trial, batches per epoch, hyperparameters) is part of
the report: a study run on a small budget says so. Hyperparameter search (Ray Tune) is not
in this first version: each architecture runs at the hyperparameters given (defaults: the
registry's mid-size configurations, or SMALL for short budgets).
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from offline.architectures import NAMES
from offline.datasets import load
from offline.evaluate import evaluate_bundle, tune_bundle_thresholds
from offline.checkpoint import load_checkpoint
from offline.export import export_bundle
from offline.train import TrainConfig, caches_for, fit
from rtadt.bundle import load_bundle, write_bundle
from rtadt.drums import CLASSES
from rtadt.features import FeatureConfig

# Small configurations for budgets of minutes on a CPU (the search spaces' small ends).
SMALL = {
    "rnn": {"L": 2, "H": 72},
    "cnn": {"I": 2, "L": 1, "H": 72},
    "crnn": {"L": 2, "H": 72},
    "convtransformer": {"L": 2, "H": 2, "D_e": 72},
    "vit": {"P": 14, "L": 2, "H": 2, "D_e": 72},
}


@dataclass
class Budget:
    minutes: float = 3.0  # wall-clock per trial (checked after each epoch)
    epochs: int = 100
    batches_per_epoch: int | None = None
    hyperparameters: dict = field(default_factory=lambda: dict(SMALL))


def run_trial(arch: str, dataset: str, train, val, out: Path, budget: Budget, flavour: str,
              lookahead: float, widen: int, seed: int) -> dict:
    """Train one architecture under the budget and export its best checkpoint."""
    cfg = TrainConfig(architecture=arch, flavour=flavour, hyperparameters=budget.hyperparameters.get(arch, {}),
                      lookahead_s=lookahead, widen=widen, max_epochs=budget.epochs,
                      max_batches_per_epoch=budget.batches_per_epoch, seed=seed)
    t0 = time.monotonic()
    summary = fit(cfg, train, val, out / "run", resume=(out / "run" / "last.pt").exists(),
                  on_epoch=lambda record: time.monotonic() - t0 > 60 * budget.minutes)
    model, ckpt = load_checkpoint(summary["best_path"])
    features = FeatureConfig.from_dict(ckpt["features"])
    bundle_path = export_bundle(model, out / f"{arch}.rtadt", features, name=f"{arch}-{dataset}",
                                lookahead_s=lookahead, architecture=arch, training=ckpt.get("training"))
    return {"summary": summary, "bundle": str(bundle_path), "train_minutes": (time.monotonic() - t0) / 60}


def architecture_study(data: dict[str, str], out_dir: str | Path, budget: Budget = Budget(),
                       architectures: tuple[str, ...] = NAMES, flavour: str = "causal",
                       lookahead: float = 0.02, widen: int = 1, seed: int = 0) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict = {"budget": asdict(budget), "flavour": flavour, "lookahead_s": lookahead, "widen": widen,
                     "seed": seed, "datasets": {}, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    for dataset, root in data.items():
        tracks = load(dataset, root)
        val_tracks = [t for t in tracks if t.split == "validation"]
        test_tracks = [t for t in tracks if t.split == "test"]
        if not test_tracks:
            raise ValueError(f"{dataset}: no test tracks under {root}")
        train, val = caches_for(tracks, FeatureConfig(), out_dir / "cache" / dataset, lookahead, widen)
        per_arch = {}
        for arch in architectures:
            trial = out_dir / dataset / arch
            done = trial / "result.json"
            if done.exists():  # a study resumes trial by trial
                per_arch[arch] = json.loads(done.read_text())
                continue
            r = run_trial(arch, dataset, train, val, trial, budget, flavour, lookahead, widen, seed)
            bundle = load_bundle(r["bundle"])
            th = tune_bundle_thresholds(bundle, val_tracks, picker="online", progress=False)
            tuned = write_bundle(trial / f"{arch}-tuned.rtadt", dict(bundle.manifest, thresholds=[float(t) for t in th]),
                                 bundle.graphs)
            scores = evaluate_bundle(load_bundle(tuned), test_tracks, mode="streaming", progress=False)
            per_arch[arch] = {
                "hyperparameters": budget.hyperparameters.get(arch, {}),
                "best_epoch": r["summary"]["best_epoch"], "epochs": len(r["summary"]["history"]),
                "val_micro_f1": r["summary"]["best_val_f1"], "train_minutes": round(r["train_minutes"], 2),
                "parameters": bundle.manifest["architecture"]["parameters"],
                "thresholds": dict(zip(CLASSES, [round(float(t), 3) for t in th])),
                "test": scores.to_dict(),
                "test_micro_f1": scores.micro(0.05).f1, "test_class_f1": {c: scores.f1(0.05, c) for c in CLASSES},
            }
            done.write_text(json.dumps(per_arch[arch], indent=2))
        results["datasets"][dataset] = per_arch
    (out_dir / "architectures.json").write_text(json.dumps(results, indent=2))
    (out_dir / "architectures.md").write_text(markdown(results))
    plot(results, out_dir / "architectures.png")
    return results


def markdown(r: dict) -> str:
    datasets = list(r["datasets"])
    archs = sorted({a for d in r["datasets"].values() for a in d}, key=lambda a: NAMES.index(a))
    b = r["budget"]
    lines = ["# Architecture study", "",
             f"{r['date']}. Budget per trial: {b['minutes']} min wall clock, at most {b['epochs']} epochs"
             + (f", {b['batches_per_epoch']} batches per epoch" if b["batches_per_epoch"] else "")
             + f"; flavour {r['flavour']}; lookahead {1000 * r['lookahead_s']:.0f} ms; widening {r['widen']} frame(s). "
             "Selection on validation micro F1, thresholds tuned on validation (online picker), "
             "scored on the test split through the streaming engine. Onset F1 at 50 ms.", "",
             "## Micro F1 (test), best per dataset in bold", "",
             "| architecture | " + " | ".join(datasets) + " |", "|---|" + "---:|" * len(datasets)]
    best = {d: max(r["datasets"][d].values(), key=lambda v: v["test_micro_f1"])["test_micro_f1"] for d in datasets}
    for a in archs:
        cells = []
        for d in datasets:
            v = r["datasets"][d].get(a)
            f = "–" if v is None else f"{v['test_micro_f1']:.3f}"
            cells.append(f"**{f}**" if v is not None and v["test_micro_f1"] == best[d] else f)
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    for d in datasets:
        lines += ["", f"## {d}: per class (test F1 at 50 ms) and training", "",
                  "| architecture | hyperparameters | params | " + " | ".join(CLASSES)
                  + " | micro | val micro | epochs (best) | minutes |",
                  "|---|---|---:|" + "---:|" * (len(CLASSES) + 4)]
        for a in archs:
            v = r["datasets"][d].get(a)
            if v is None:
                continue
            hp = ", ".join(f"{k}={x}" for k, x in v["hyperparameters"].items())
            lines.append(f"| {a} | {hp} | {v['parameters']:,} | "
                         + " | ".join(f"{v['test_class_f1'][c]:.2f}" for c in CLASSES)
                         + f" | {v['test_micro_f1']:.3f} | {v['val_micro_f1']:.3f} | {v['epochs']} ({v['best_epoch']}) "
                         f"| {v['train_minutes']:.1f} |")
    return "\n".join(lines) + "\n"


def plot(r: dict, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    datasets = list(r["datasets"])
    archs = sorted({a for d in r["datasets"].values() for a in d}, key=lambda a: NAMES.index(a))
    fig = Figure(figsize=(1.6 + 1.4 * len(archs) * max(1, len(datasets)) / 2, 3.6))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(datasets))
    x = np.arange(len(archs))
    for i, d in enumerate(datasets):
        vals = [r["datasets"][d].get(a, {}).get("test_micro_f1", np.nan) for a in archs]
        bars = ax.bar(x + i * width, vals, width, label=d)
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.set_xticks(x + width * (len(datasets) - 1) / 2, archs)
    ax.set_ylabel("test micro F1 (50 ms)")
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title(f"Architecture study ({r['budget']['minutes']} min per trial)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
