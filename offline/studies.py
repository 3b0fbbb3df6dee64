"""The two studies, each written as markdown + PNG + JSON.

Architecture study: every architecture trained on each dataset under one budget,
selected on validation, thresholds tuned on validation, scored on the test split through
the streaming engine (exactly the live path).

    rtadt-train study architectures --data synth:DIR --out offline/results/arch-study --minutes 3

Dataset study: one architecture trained on every combination of the datasets (or the ones
given), thresholds tuned on the combination's validation splits, scored on every dataset's
test split; a test set outside the training combination is a zero-shot cell.

    rtadt-train study datasets --data solo=synth:A --data mix=synth:B --arch crnn --out DIR

The budget (minutes and epochs per trial, batches per epoch, trials per architecture,
the space searched) is part of the report: a study run on a small budget says so. With one
trial per architecture each runs at fixed hyperparameters (Budget.hyperparameters, SMALL by
default); with more, each architecture is searched (offline.search: Ray Tune, random
draws from Budget.space, SMALL_SPACE by default: the small end of each search space) and the
trial with the best validation F1 is the one scored.
"""
from __future__ import annotations

import contextlib
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from offline import defaults
from offline.architectures import NAMES, make_config
from offline.datasets import load
from offline.evaluate import evaluate_bundle, tune_bundle_thresholds
from offline.deploy.export import export_checkpoint
from offline.train import caches_for
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


# The small end of each architecture's search space (two values per name, the cheaper ones):
# what a search of a few CPU minutes per trial can afford.
SMALL_SPACE = {
    "rnn": {"L": (2, 3), "H": (72, 144), "cell": ("gru", "lstm")},
    "cnn": {"I": (1, 2), "L": (1, 2), "H": (72, 144)},
    "crnn": {"L": (2, 3), "H": (72, 144), "cell": ("gru", "lstm")},
    "convtransformer": {"L": (2, 4), "H": (2, 4), "D_e": (72, 144)},
    "vit": {"P": (14, 21), "L": (2, 4), "H": (2, 4), "D_e": (72, 144)},
}


@dataclass
class Budget:
    minutes: float = 3.0  # per trial: training + validation time (the epochs' seconds, summed over restarts)
    epochs: int = defaults.EPOCHS
    batches_per_epoch: int | None = defaults.BATCHES_PER_EPOCH
    hyperparameters: dict = field(default_factory=lambda: dict(SMALL))  # trials == 1
    trials: int = 1  # > 1: a random search of this many trials per architecture and dataset
    space: dict = field(default_factory=lambda: dict(SMALL_SPACE))  # searched, per architecture
    cpus_per_trial: int = 1
    address: str | None = None  # a Ray cluster to search on (None: a local Ray)
    hours: float | None = None  # the whole study's training time: sets `minutes` (see `spread`)

    def spread(self, trainings: int) -> "Budget":
        """This budget with `hours` shared out as `minutes` over `trainings` trials: hours of
        summed training time, not of wall clock (a search runs trials side by side, sharing the
        CPU; evaluation, export and Ray's start-up come on top; an epoch that starts inside the
        budget finishes). Without `hours`, itself."""
        if self.hours is None:
            return self
        if not self.hours > 0:
            raise ValueError(f"hours must be > 0, got {self.hours!r}")
        return replace(self, minutes=round(60 * self.hours / max(1, trainings), 3))


def run_trial(arch: str, dataset: str, train, val, out: Path, budget: Budget, flavour: str,
              lookahead_s: float, widen: int, seed: int) -> dict:
    """Train one architecture under the budget and export its best checkpoint.

    The training is one search trial run here, without Ray (offline.search.run_trial): the
    same budget rule (the epochs' seconds summed over restarts), so a study killed after
    training and resumed neither trains again nor gets its budget anew."""
    from offline.search import SearchConfig
    from offline.search import run_trial as train_within_budget

    cfg = SearchConfig(architecture=arch, flavour=flavour, minutes=budget.minutes, epochs=budget.epochs,
                       batches_per_epoch=budget.batches_per_epoch, lookahead_s=lookahead_s, widen=widen, seed=seed)
    row = train_within_budget(cfg, dict(budget.hyperparameters.get(arch, {})), train, val, out / "runs",
                              progress=True)  # a search's trials run quiet under Ray; a study's shows its bars
    if row["best_path"] is None:
        raise RuntimeError(f"{arch} on {dataset}: no epoch completed (see {row['run_dir']})")
    bundle_path, _, ckpt = export_checkpoint(row["best_path"], out / f"{arch}.rtadt", name=f"{arch}-{dataset}")
    return {"summary": ckpt["training"], "epochs": row["epochs"], "bundle": str(bundle_path),
            "train_minutes": row["minutes"]}


def load_labelled(label: str, source) -> list:
    """A study's dataset: `source` is a root (the label names the loader) or (loader, root)."""
    name, root = (label, source) if isinstance(source, (str, Path)) else source
    return load(name, root)


def split_tracks(tracks: list, label: str) -> tuple[list, list]:
    val = [t for t in tracks if t.split == "validation"]
    test = [t for t in tracks if t.split == "test"]
    if not test:
        raise ValueError(f"{label}: no test tracks")
    return val, test


def tune_and_score(bundle_path: Path, val_tracks: list, tests: dict[str, list], out: Path) -> tuple[list, dict]:
    """Thresholds tuned on `val_tracks` (online picker, as live), written into a tuned bundle
    beside the trial; then each test set scored through the streaming engine."""
    bundle = load_bundle(bundle_path)
    th = tune_bundle_thresholds(bundle, val_tracks, picker="online", progress=False)
    tuned = write_bundle(out / f"{Path(bundle_path).stem}-tuned.rtadt",
                         dict(bundle.manifest, thresholds=[float(t) for t in th]), bundle.graphs)
    tuned_bundle = load_bundle(tuned)
    scores = {name: evaluate_bundle(tuned_bundle, tracks, mode="streaming", progress=False)
              for name, tracks in tests.items()}
    return [float(t) for t in th], scores


def scored(scores) -> dict:
    return {"test": scores.to_dict(), "test_micro_f1": scores.micro(0.05).f1,
            "test_class_f1": {c: scores.f1(0.05, c) for c in CLASSES}}


def search_trial(arch: str, dataset: str, train, val, out: Path, budget: Budget, flavour: str, lookahead_s: float,
                 widen: int, seed: int) -> dict:
    """Search `arch` (random draws from budget.space) and export the best trial's best.pt."""
    from offline.search import SearchConfig, search

    cfg = SearchConfig(architecture=arch, flavour=flavour, mode="random", samples=budget.trials,
                       space=budget.space.get(arch), minutes=budget.minutes, epochs=budget.epochs,
                       batches_per_epoch=budget.batches_per_epoch, lookahead_s=lookahead_s, widen=widen, seed=seed,
                       cpus_per_trial=budget.cpus_per_trial, address=budget.address)
    t0 = time.monotonic()
    result = search(cfg, train, val, out / "search")
    best = result["best"]
    if best is None:
        raise RuntimeError(f"{arch} on {dataset}: no search trial completed an epoch (see {out / 'search'})")
    bundle_path, _, ckpt = export_checkpoint(best["best_path"], out / f"{arch}.rtadt", name=f"{arch}-{dataset}")
    return {"summary": ckpt["training"], "epochs": best["epochs"], "bundle": str(bundle_path),
            "hyperparameters": best["hyperparameters"],
            "train_minutes": (time.monotonic() - t0) / 60,
            "search": [{k: t[k] for k in ("name", "best_f1", "epochs", "minutes", "status")}
                       for t in result["trials"]]}


def architecture_study(data: dict[str, str], out_dir: str | Path, budget: Budget = Budget(),
                       architectures: tuple[str, ...] = NAMES, flavour: str = defaults.FLAVOUR,
                       lookahead_s: float = defaults.LOOKAHEAD_S, widen: int = 1, seed: int = defaults.SEED,
                       cache_dir: str | Path | None = None) -> dict:
    out_dir = Path(out_dir)
    cache_dir = Path(cache_dir or out_dir / "cache")
    out_dir.mkdir(parents=True, exist_ok=True)
    budget = budget.spread(len(data) * len(architectures) * budget.trials)
    results: dict = {"budget": asdict(budget), "flavour": flavour, "lookahead_s": lookahead_s, "widen": widen,
                     "seed": seed, "datasets": {}, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    with contextlib.ExitStack() as stack:
        if budget.trials > 1:  # one Ray for every search of the study
            from offline.search import ray_session

            stack.enter_context(ray_session(budget.address))
        for dataset, source in data.items():
            results["datasets"][dataset] = _architectures_on(
                dataset, source, out_dir, cache_dir, budget, architectures, flavour, lookahead_s, widen, seed)
    (out_dir / "architectures.json").write_text(json.dumps(results, indent=2))
    (out_dir / "architectures.md").write_text(markdown(results))
    plot(results, out_dir / "architectures.png")
    return results


def _architectures_on(dataset, source, out_dir, cache_dir, budget, architectures, flavour, lookahead_s, widen,
                      seed) -> dict:
    """Every architecture on one dataset (trial by trial: a finished one is read back)."""
    tracks = load_labelled(dataset, source)
    val_tracks, test_tracks = split_tracks(tracks, dataset)
    train, val = caches_for(tracks, FeatureConfig(), cache_dir / dataset, lookahead_s, widen)
    per_arch = {}
    for arch in architectures:
        trial = out_dir / dataset / arch
        done = trial / "result.json"
        if done.exists():  # a study resumes trial by trial
            per_arch[arch] = json.loads(done.read_text())
            continue
        if budget.trials > 1:
            r = search_trial(arch, dataset, train, val, trial, budget, flavour, lookahead_s, widen, seed)
        else:
            r = run_trial(arch, dataset, train, val, trial, budget, flavour, lookahead_s, widen, seed)
        th, scores = tune_and_score(Path(r["bundle"]), val_tracks, {dataset: test_tracks}, trial)
        per_arch[arch] = {
            "hyperparameters": r.get("hyperparameters", budget.hyperparameters.get(arch, {})),
            "search": r.get("search"),
            "best_epoch": r["summary"]["best_epoch"], "epochs": r["epochs"],
            "val_micro_f1": r["summary"]["best_val_f1"], "train_minutes": round(r["train_minutes"], 2),
            "parameters": r["summary"]["parameters"],
            "thresholds": dict(zip(CLASSES, [round(t, 3) for t in th])),
            **scored(scores[dataset]),
        }
        done.write_text(json.dumps(per_arch[arch], indent=2))
    return per_arch


def markdown(r: dict) -> str:
    datasets = list(r["datasets"])
    archs = sorted({a for d in r["datasets"].values() for a in d}, key=lambda a: NAMES.index(a))
    b = r["budget"]
    lines = ["# Architecture study", "",
             f"{r['date']}. " + (f"Budget: {b['hours']} h of training for the whole study, so " if b.get("hours") else "")
             + f"Budget per trial: {b['minutes']} min of training and validation, at most {b['epochs']} epochs"
             + (f", {b['batches_per_epoch']} batches per epoch" if b["batches_per_epoch"] else "")
             + f"; flavour {r['flavour']}; lookahead {1000 * r['lookahead_s']:.0f} ms; widening {r['widen']} frame(s). "
             + (f"Search: {b['trials']} random trials per architecture and dataset (Ray Tune, FIFO) over "
                + "; ".join(f"{a} " + ", ".join(f"{k} in {{{', '.join(map(str, v))}}}" for k, v in b["space"][a].items())
                            for a in archs if a in b["space"]) + ". "
                if b.get("trials", 1) > 1 else "No search: each architecture at the hyperparameters below. ")
             + "Selection on validation micro F1 (per-class thresholds tuned), thresholds then tuned on validation "
             "for the online picker, scored on the test split through the streaming engine. Onset F1 at 50 ms.", "",
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


# ---------------------------------------------------------------------------------------
# the dataset study


def all_combinations(labels) -> list[tuple[str, ...]]:
    """Every non-empty subset of the datasets, singles first, in the order given."""
    from itertools import combinations

    labels = list(labels)
    return [c for k in range(1, len(labels) + 1) for c in combinations(labels, k)]


def best_architecture(study_json: str | Path) -> tuple[str, dict]:
    """The architecture of an architecture study with the best mean *validation* micro F1
    over its datasets, with the hyperparameters of its best validation result (a search may
    pick others per dataset): the test sets stay out of the choice."""
    r = json.loads(Path(study_json).read_text())
    results: dict[str, list] = {}
    for per_arch in r["datasets"].values():
        for arch, v in per_arch.items():
            results.setdefault(arch, []).append(v)
    if not results:
        raise ValueError(f"{study_json}: no trial in this architecture study")
    arch = max(results, key=lambda a: np.mean([v["val_micro_f1"] for v in results[a]]))
    best = max(results[arch], key=lambda v: v["val_micro_f1"])
    return arch, dict(best["hyperparameters"])


def dataset_study(data: dict, out_dir: str | Path, architecture: str = "crnn", hyperparameters: dict | None = None,
                  budget: Budget = Budget(), combinations: list[tuple[str, ...]] | None = None,
                  flavour: str = defaults.FLAVOUR, lookahead_s: float = defaults.LOOKAHEAD_S, widen: int = 1,
                  seed: int = defaults.SEED,
                  cache_dir: str | Path | None = None) -> dict:
    """Train `architecture` on each combination of datasets (training splits pooled, the
    best epoch chosen on the pooled validation splits) and score it on every test split.

    data: label -> root, or label -> (loader, root) (several copies of one loader, e.g.
    rendered sets of different kinds, need labels). Resumes combination by combination.
    cache_dir: where the features are cached, one folder per label (default out_dir/cache;
    share it with an architecture study of the same data to compute them once).
    """
    if architecture not in NAMES:
        raise ValueError(f"unknown architecture {architecture!r}; known: {', '.join(NAMES)}")
    labels = list(data)
    combos = [tuple(c) for c in (combinations or all_combinations(labels))]
    for combo in combos:
        unknown = [x for x in combo if x not in data]
        if not combo or unknown:
            raise ValueError(f"combination {'+'.join(combo) or '(empty)'}: unknown datasets {unknown}; "
                             f"known: {', '.join(labels)}")
    hp = dict(budget.hyperparameters.get(architecture, {}) if hyperparameters is None else hyperparameters)
    make_config(architecture, **hp)  # a bad name or value fails here, before any feature is computed
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    budget = budget.spread(len(combos))
    sets = {}
    for label in labels:
        tracks = load_labelled(label, data[label])
        val_tracks, test_tracks = split_tracks(tracks, label)
        train, val = caches_for(tracks, FeatureConfig(), Path(cache_dir or out_dir / "cache") / label, lookahead_s,
                                widen)
        sets[label] = {"train": train, "val": val, "val_tracks": val_tracks, "test_tracks": test_tracks}
    tests = {label: sets[label]["test_tracks"] for label in labels}
    results: dict = {"budget": asdict(budget), "architecture": architecture, "hyperparameters": hp,
                     "flavour": flavour, "lookahead_s": lookahead_s, "widen": widen, "seed": seed,
                     "datasets": {label: _describe(sets[label]) for label in labels},
                     "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "combinations": {}}
    trial_budget = replace(budget, hyperparameters={architecture: hp})
    for combo in combos:
        name = "+".join(combo)
        trial = out_dir / "runs" / name
        done = trial / "result.json"
        if done.exists():
            results["combinations"][name] = json.loads(done.read_text())
            continue
        r = run_trial(architecture, name, [sets[x]["train"] for x in combo], [sets[x]["val"] for x in combo],
                      trial, trial_budget, flavour, lookahead_s, widen, seed)
        th, scores = tune_and_score(Path(r["bundle"]), [t for x in combo for t in sets[x]["val_tracks"]], tests, trial)
        results["combinations"][name] = {
            "train": list(combo), "best_epoch": r["summary"]["best_epoch"], "epochs": r["epochs"],
            "val_micro_f1": r["summary"]["best_val_f1"], "train_minutes": round(r["train_minutes"], 2),
            "train_hours": r["summary"]["data"]["train"]["hours"], "parameters": r["summary"]["parameters"],
            "thresholds": dict(zip(CLASSES, [round(t, 3) for t in th])),
            "tests": {label: {**scored(s), "zero_shot": label not in combo} for label, s in scores.items()},
        }
        done.write_text(json.dumps(results["combinations"][name], indent=2))
    (out_dir / "datasets.json").write_text(json.dumps(results, indent=2))
    (out_dir / "datasets.md").write_text(dataset_markdown(results))
    heatmap(results, out_dir / "datasets.png")
    return results


def _describe(s: dict) -> dict:
    def hours(cache):
        return round(cache.num_frames / cache.feature_config.fps / 3600, 3)

    durations = [t.duration for t in s["test_tracks"]]
    return {"train_hours": hours(s["train"]), "validation_hours": hours(s["val"]),
            "test_hours": None if None in durations else round(sum(durations) / 3600, 3),
            "test_tracks": len(s["test_tracks"])}


def matrix(r: dict) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    """(rows, columns, micro F1 [rows, columns], zero-shot mask) of a dataset study."""
    rows, cols = list(r["combinations"]), list(r["datasets"])
    f1 = np.array([[r["combinations"][c]["tests"][t]["test_micro_f1"] for t in cols] for c in rows])
    zero = np.array([[r["combinations"][c]["tests"][t]["zero_shot"] for t in cols] for c in rows])
    return rows, cols, f1, zero


def dataset_markdown(r: dict) -> str:
    rows, cols, f1, zero = matrix(r)
    b = r["budget"]
    hp = ", ".join(f"{k}={v}" for k, v in r["hyperparameters"].items()) or "defaults"
    lines = ["# Dataset study", "",
             f"{r['date']}. {r['architecture']} ({hp}), flavour {r['flavour']}; "
             + (f"budget {b['hours']} h of training for the whole study, so " if b.get("hours") else "")
             + f"budget per training: {b['minutes']} min of training and validation, at most {b['epochs']} epochs"
             + (f", {b['batches_per_epoch']} batches per epoch" if b["batches_per_epoch"] else "")
             + f"; lookahead {1000 * r['lookahead_s']:.0f} ms; widening {r['widen']} frame(s). Each row trains on "
             "the training splits of its datasets pooled (best epoch on their pooled validation splits, thresholds "
             "tuned there), each column is a dataset's test split, scored through the streaming engine. "
             "Micro F1 at 50 ms; *italic* cells are zero-shot (the test set's dataset was not trained on); "
             "the best cell of each column in bold.", "",
             "| trained on | hours | " + " | ".join(cols) + " | mean |", "|---|---:|" + "---:|" * (len(cols) + 1)]
    best = f1.max(axis=0)
    for i, c in enumerate(rows):
        cells = []
        for j in range(len(cols)):
            text = f"{f1[i, j]:.3f}"
            text = f"*{text}*" if zero[i, j] else text
            cells.append(f"**{text}**" if f1[i, j] == best[j] else text)
        lines.append(f"| {c} | {r['combinations'][c]['train_hours']:.2f} | " + " | ".join(cells)
                     + f" | {f1[i].mean():.3f} |")
    lines += ["", "## Datasets", "", "| dataset | train h | validation h | test h | test tracks |", "|---|---:|---:|---:|---:|"]
    for d, v in r["datasets"].items():
        lines.append(f"| {d} | {v['train_hours']:.2f} | {v['validation_hours']:.2f} | {_f(v['test_hours'])} "
                     f"| {v['test_tracks']} |")
    lines += ["", "## Per class (test F1 at 50 ms)", "",
              "| trained on | tested on | " + " | ".join(CLASSES) + " | micro | epochs (best) | minutes |",
              "|---|---|" + "---:|" * (len(CLASSES) + 3)]
    for c in rows:
        v = r["combinations"][c]
        for t in cols:
            cell = v["tests"][t]
            name = f"*{t}* (zero-shot)" if cell["zero_shot"] else t
            lines.append(f"| {c} | {name} | " + " | ".join(_f(cell["test_class_f1"][k]) for k in CLASSES)
                         + f" | {cell['test_micro_f1']:.3f} | {v['epochs']} ({v['best_epoch']}) | {v['train_minutes']:.1f} |")
    return "\n".join(lines) + "\n"


def _f(x) -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.2f}"


def heatmap(r: dict, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    rows, cols, f1, zero = matrix(r)
    fig = Figure(figsize=(2.2 + 1.3 * len(cols), 1.2 + 0.45 * len(rows)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    im = ax.imshow(f1, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    for i in range(len(rows)):
        for j in range(len(cols)):
            ax.text(j, i, f"{f1[i, j]:.2f}", ha="center", va="center", fontsize=9,
                    color="white" if f1[i, j] < 0.6 else "black", style="italic" if zero[i, j] else "normal")
            if zero[i, j]:  # zero-shot cells hatched
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="//", edgecolor="white",
                                       linewidth=0, alpha=0.5))
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("test set (hatched: zero-shot)")
    ax.set_ylabel("trained on")
    fig.colorbar(im, ax=ax, label="micro F1 (50 ms)")
    ax.set_title(f"Dataset study: {r['architecture']}, {r['budget']['minutes']} min per training")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
