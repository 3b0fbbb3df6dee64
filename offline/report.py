"""A scorecard: several bundles on several dataset splits, through the streaming engine (the
live code path), at several input gains. What results/ folders commit for a model choice.

    card = scorecard({"crnn": bundle, "flux": flux}, {"enst-d2": (tracks, ...)}, gains=(0, -30, 6))
    write_scorecard(card, out_dir, title)      # scorecard.json, .md, .png and pareto.png

Per (model, set, gain): micro F1 at 25 and 50 ms, per-class F1 at 50 ms, and at gain 0 the
detection latency of the true positives (emission minus reference onset: median, p95, over all
classes and per class) and,
where the references carry velocities, the per-class correlation of true and predicted velocity.
Level robustness is each set's micro F1 at a gain minus at 0 dB.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from offline.evaluate import evaluate_bundle
from offline.metrics import WINDOWS
from offline.velocity import velocity_correlation
from rtadt.atomic import write_text


def score_one(bundle, tracks: Sequence, gain_db: float = 0.0, progress: bool = False) -> dict:
    """Streaming scores of one bundle on tracks at one gain (see the module docstring)."""
    latencies: dict = {}
    velocities: dict = {}
    scores = evaluate_bundle(bundle, tracks, mode="streaming", windows=WINDOWS, progress=progress,
                             gain_db=gain_db, class_latencies=latencies if gain_db == 0 else None,
                             velocities=velocities if gain_db == 0 else None)
    out = {"gain_db": gain_db, "tracks": len(tracks), "offline": bool(bundle.future_frames),
           "micro_f1": {f"{w * 1000:g}ms": round(scores.f1(w), 4) for w in WINDOWS},
           "f1_per_class_50ms": {c: round(scores.per_class(0.05)[c].f1, 4) for c in scores.classes},
           "counts_50ms": scores.micro(0.05).to_dict()}
    if gain_db == 0:
        lat = np.asarray([x for c in scores.classes for x in latencies.get(c, [])]) * 1000
        out["latency_ms"] = _latency_summary(lat)
        if out["latency_ms"] is not None:
            out["latency_ms"]["per_class"] = {c: _latency_summary(np.asarray(latencies[c]) * 1000)
                                              for c in scores.classes if latencies.get(c)}
        if any(len(v) for v in velocities.values()):  # sets whose references carry velocities
            out["velocity_r"] = velocity_correlation(velocities)
    return out


def _latency_summary(lat_ms: np.ndarray) -> dict | None:
    if not len(lat_ms):
        return None
    return {"median": round(float(np.median(lat_ms)), 2), "p95": round(float(np.percentile(lat_ms, 95)), 2),
            "n": int(len(lat_ms))}


def scorecard(models: Mapping[str, object], sets: Mapping[str, Sequence], gains: Sequence[float] = (0.0,),
              progress: bool = True) -> dict:
    """{model: {set: {gain: score_one(...)}}} for every model, set and gain."""
    from tqdm import tqdm

    jobs = [(m, s, g) for m in models for s in sets for g in gains]
    out: dict = {m: {s: {} for s in sets} for m in models}
    for m, s, g in tqdm(jobs, desc="scorecard", unit="run", disable=None if progress else True):
        out[m][s][f"{g:g}"] = score_one(models[m], sets[s], g)
    return out


def robustness(card: dict) -> dict:
    """{model: {set: {gain: micro F1 at 50 ms there minus at 0 dB}}}."""
    out = {}
    for m, by_set in card.items():
        out[m] = {}
        for s, by_gain in by_set.items():
            if "0" not in by_gain:
                continue
            base = by_gain["0"]["micro_f1"]["50ms"]
            out[m][s] = {g: round(v["micro_f1"]["50ms"] - base, 4) for g, v in by_gain.items() if g != "0"}
    return out


def markdown(card: dict, title: str, notes: str = "") -> str:
    sets = list(next(iter(card.values())))
    lines = [f"# {title}", ""]
    if notes:
        lines += [notes, ""]
    lines += ["Micro F1 at 50 ms (25 ms), streaming engine, input at 0 dB:", "",
              "| model | " + " | ".join(sets) + " |", "|---|" + "---|" * len(sets)]
    for m, by_set in card.items():
        cells = [f"{v['0']['micro_f1']['50ms']:.3f} ({v['0']['micro_f1']['25ms']:.3f})" if "0" in v else "-"
                 for v in by_set.values()]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    classes = list(next(iter(next(iter(card.values())).values()))["0"]["f1_per_class_50ms"])
    lines += ["", "Per-class F1 at 50 ms (0 dB):", "", "| model | set | " + " | ".join(classes) + " |",
              "|---|---|" + "---|" * len(classes)]
    for m, by_set in card.items():
        for s, v in by_set.items():
            if "0" in v:
                lines.append(f"| {m} | {s} | " + " | ".join(f"{v['0']['f1_per_class_50ms'][c]:.3f}" for c in classes) + " |")
    lines += ["", "Detection latency of true positives (emission - onset, ms), 0 dB: all classes, then each "
              "class's median / p95:", "",
              "| model | set | median | p95 | n | " + " | ".join(classes) + " |",
              "|---|---|---|---|---|" + "---|" * len(classes)]
    for m, by_set in card.items():
        for s, v in by_set.items():
            lat = v.get("0", {}).get("latency_ms")
            if lat:
                per = lat.get("per_class", {})  # scorecards written before it have none
                cells = [f"{per[c]['median']:.0f} / {per[c]['p95']:.0f}" if c in per else "" for c in classes]
                lines.append(f"| {m} | {s} | {lat['median']:.1f} | {lat['p95']:.1f} | {lat['n']} | " + " | ".join(cells) + " |")
    rows = [(m, s, v["0"]["velocity_r"]) for m, by_set in card.items() for s, v in by_set.items()
            if "velocity_r" in v.get("0", {})]
    if rows:
        lines += ["", "Velocity: Pearson r of true and predicted velocity of matched hits (hits), 0 dB:", "",
                  "| model | set | " + " | ".join(classes) + " |", "|---|---|" + "---|" * len(classes)]
        for m, s, r in rows:
            lines.append(f"| {m} | {s} | " + " | ".join(
                "-" if r[c]["r"] is None else f"{r[c]['r']:.2f} ({r[c]['n']})" for c in classes) + " |")
    rob = robustness(card)
    if any(rob[m][s] for m in rob for s in rob[m]):
        lines += ["", "Level robustness: micro F1 at 50 ms at a gain minus at 0 dB:", "",
                  "| model | set | " + " | ".join(f"{g} dB" for g in next(iter(next(iter(rob.values())).values()))) + " |",
                  "|---|---|" + "---|" * len(next(iter(next(iter(rob.values())).values())))]
        for m in rob:
            for s, d in rob[m].items():
                lines.append(f"| {m} | {s} | " + " | ".join(f"{x:+.3f}" for x in d.values()) + " |")
    return "\n".join(lines) + "\n"


def plot(card: dict, path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models, sets = list(card), list(next(iter(card.values())))
    gains = list(next(iter(next(iter(card.values())).values())))
    fig, axes = plt.subplots(1, len(gains), figsize=(4 + 3 * len(sets) * len(gains) / 2, 4), squeeze=False)
    width = 0.8 / len(models)
    for ax, g in zip(axes[0], gains):
        for i, m in enumerate(models):
            vals = [card[m][s][g]["micro_f1"]["50ms"] if g in card[m][s] else np.nan for s in sets]
            bars = ax.bar(np.arange(len(sets)) + i * width, vals, width, label=m)
            ax.bar_label(bars, fmt="%.2f", fontsize=7)
        ax.set_xticks(np.arange(len(sets)) + width * (len(models) - 1) / 2, sets, rotation=20, fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_title(f"input {g} dB", fontsize=9)
        ax.set_ylabel("micro F1 at 50 ms (streaming)")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _at_0db(card: dict):
    """(model, set, score at 0 dB) for every model and set scored at 0 dB."""
    for m, by_set in card.items():
        for s, by_gain in by_set.items():
            if "0" in by_gain:
                yield m, s, by_gain["0"]


def pareto_points(card: dict) -> dict[str, list[tuple[str, float, float]]]:
    """{set: [(model, median detection latency ms, micro F1 at 50 ms)]} at 0 dB, live models
    (no future context) with a measured latency, sorted by latency."""
    out: dict = {}
    for m, s, base in _at_0db(card):
        if base.get("latency_ms") and not base.get("offline", False):
            out.setdefault(s, []).append((m, base["latency_ms"]["median"], base["micro_f1"]["50ms"]))
    return {s: sorted(v, key=lambda p: p[1]) for s, v in out.items()}


def pareto_references(card: dict) -> dict[str, dict[str, float]]:
    """{model: {set: micro F1 at 50 ms}} at 0 dB of the offline models (bundles that wait for
    future frames): what hearing the future buys, a reference line beside the live models."""
    out: dict = {}
    for m, s, base in _at_0db(card):
        if base.get("offline", False):
            out.setdefault(m, {})[s] = base["micro_f1"]["50ms"]
    return out


def plot_pareto(card: dict, path: Path, title: str, references: Mapping[str, Mapping[str, float]] | None = None) -> Path:
    """Micro F1 at 50 ms against median detection latency, one panel per set, each model a
    labelled point; the frontier (no other point both faster and better) joined.
    references: {label: {set: F1}} drawn as horizontal lines (e.g. an offline model)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = pareto_points(card)
    if not points:
        raise ValueError("no model has a measured latency")
    fig, axes = plt.subplots(1, len(points), figsize=(4.2 * len(points), 3.8), squeeze=False)
    for ax, (s, pts) in zip(axes[0], points.items()):
        for m, lat, f1 in pts:
            ax.plot(lat, f1, "o")
            ax.annotate(m, (lat, f1), textcoords="offset points", xytext=(4, 4), fontsize=7)
        frontier, best = [], -1.0
        for m, lat, f1 in pts:  # sorted by latency: a point is on the frontier if it beats all faster ones
            if f1 > best:
                frontier.append((lat, f1))
                best = f1
        ax.plot(*zip(*frontier), "--", color="grey", lw=1)
        for label, by_set in (references or {}).items():
            if s in by_set:
                ax.axhline(by_set[s], color="black", lw=1, ls=":")
                ax.annotate(label, (ax.get_xlim()[0], by_set[s]), xytext=(2, 2), textcoords="offset points", fontsize=7)
        ax.set_title(s, fontsize=9)
        ax.set_xlabel("median detection latency (ms)")
        ax.set_ylabel("micro F1 at 50 ms (streaming)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_scorecard(card: dict, out_dir: str | Path, title: str, notes: str = "", meta: dict | None = None) -> Path:
    """scorecard.json (with meta: commands, models, hours), scorecard.md and scorecard.png."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"title": title, "meta": meta or {}, "scores": card, "robustness": robustness(card)}
    for name, text in (("scorecard.json", json.dumps(payload, indent=1) + "\n"),
                       ("scorecard.md", markdown(card, title, notes))):
        write_text(out / name, text)
    plot(card, out / "scorecard.png", title)
    if pareto_points(card):
        plot_pareto(card, out / "pareto.png", title, references=pareto_references(card))
    return out


def training_curves(history: Sequence[dict], path: str | Path, title: str = "training") -> Path:
    """Losses and validation micro F1 per epoch of a run's log (log.jsonl records), one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        raise ValueError("no epochs to plot")
    epochs = [r["epoch"] for r in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax1.plot(epochs, [r["train_loss"] for r in history], "o-", label="train")
    ax1.plot(epochs, [r["val_loss"] for r in history], "o-", label="validation")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("weighted BCE")
    ax1.legend()
    ax2.plot(epochs, [r["select_f1"] for r in history], "o-", label="tuned thresholds")
    ax2.plot(epochs, [r["val_f1"] for r in history], "o-", label="threshold 0.5")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("validation micro F1 (50 ms)")
    ax2.set_ylim(0, 1)
    ax2.legend()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def training_minutes(history: Sequence[dict]) -> list[float]:
    """Minutes of training and validation at the end of each epoch of a run's log."""
    return [float(m) / 60 for m in np.cumsum([r["seconds"] for r in history])]


def compare_runs(histories: Mapping[str, Sequence[dict]], path: str | Path, title: str = "runs") -> Path:
    """Validation micro F1 (tuned thresholds) and validation loss of several runs against their
    training minutes (log.jsonl records per run), one PNG: which run learns most per CPU minute."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not histories or any(not h for h in histories.values()):
        raise ValueError("every run needs at least one epoch to plot")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for label, history in histories.items():
        minutes = training_minutes(history)
        ax1.plot(minutes, [r["select_f1"] for r in history], "o-", ms=3, label=label)
        ax2.plot(minutes, [r["val_loss"] for r in history], "o-", ms=3, label=label)
    ax1.set_ylabel("validation micro F1 (50 ms, tuned)")
    ax2.set_ylabel("validation loss")
    for ax in (ax1, ax2):
        ax.set_xlabel("training + validation minutes")
    ax1.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def evaluation_entry(payload: Mapping, model: str, results: str, descriptions: Mapping[str, str] | None = None) -> dict:
    """A bundle manifest's ``evaluation.test`` from a written scorecard (scorecard.json's
    payload) for one of its models: per set micro F1 at 25/50 ms, per-class F1, latency,
    velocity r and the F1 at every other gain; `results` names where the scorecard lives."""
    card = payload["scores"]
    if model not in card:
        raise ValueError(f"the scorecard has no model {model!r}; it has {', '.join(card)}")
    scores = {}
    for s, by_gain in card[model].items():
        base = by_gain.get("0")
        if base is None:
            continue
        entry = {"micro_f1_50ms": base["micro_f1"]["50ms"], "micro_f1_25ms": base["micro_f1"]["25ms"],
                 "f1_per_class_50ms": base["f1_per_class_50ms"], "latency_ms": base.get("latency_ms")}
        if "velocity_r" in base:
            entry["velocity_r"] = {c: v["r"] for c, v in base["velocity_r"].items()}
        for g, v in by_gain.items():
            if g != "0":
                entry[f"micro_f1_50ms_at_{float(g):+g}dB"] = v["micro_f1"]["50ms"]
        scores[s] = entry
    out = {"engine": "streaming (rtadt.engine, the live path)", "results": results, "scores": scores}
    if descriptions:
        out["sets"] = dict(descriptions)
    return out
