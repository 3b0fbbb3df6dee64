"""Hyperparameter search on Ray Tune: grid or random search over an architecture's space.

    cfg = SearchConfig(architecture="crnn", mode="random", samples=8, minutes=10, lookahead_s=0.02)
    train, val = caches_for(tracks, FeatureConfig(), "/data/cache", cfg.lookahead_s, cfg.widen)
    result = search(cfg, train, val, "/data/search-crnn")   # result["best"]["best_path"]: its best.pt

Trials: `trials(cfg)` lists them before anything runs. Grid: every combination of the
space (`cfg.space` restricts some names to subsets of the architecture's SPACE), repeated
`samples` times with seeds seed, seed + 1, ... (identical seeds would repeat identical runs
on a CPU). Random: `samples` distinct combinations drawn with `cfg.seed`; without
replacement, because the spaces are small (24 to 240 combinations) and a repeated draw
would train the same run twice. Tune runs the list as a grid, under the FIFO scheduler.

Each trial is `offline.train.fit` (the protocol, best.pt selected on validation) in a run
directory named after its hyperparameters, `OUT/runs/crnn-H=144-L=3-cell=gru` (plus `-r1`
... for grid repeats), capped by the budget: `minutes` of training and validation per
trial (the epochs' "seconds", summed over restarts, checked after each epoch), `epochs`,
`batches_per_epoch`. Model selection: the validation micro F1 with per-class tuned
thresholds (each epoch's "select_f1"), the metric fit keeps best.pt by. Ties go to the
smaller model, then to the earlier trial.

Resuming: run the same call again. Tune's experiment (OUT/tune) is restored: finished
trials stay finished, interrupted or failed ones start again, and fit continues each from
its last complete epoch; a trial whose budget is spent does not train any further. A
search restored with other settings (architecture, space, budget, ...) is refused.

Ray: a local Ray is started (and stopped) here, unless Ray is already initialised in this
process. `address="auto"` or "host:port" joins a running cluster (`ray start --head` on one
machine, `ray start --address=...` on the others) and the same search scales out over its
nodes. Then OUT and the feature caches must be on storage that every node sees at the same
absolute path (the trials write their runs to OUT/runs, Tune its state to OUT/tune), and
every node needs this package installed. Ray's clusters use token authentication: "auto"
finds the local token; with "host:port" set RAY_AUTH_MODE=token (and copy the token over).

Output: OUT/search.json (every trial, the best one, the settings) and OUT/search.md (a
table sorted by F1, best marked, with the budget and the space at the top).
"""
from __future__ import annotations

import contextlib
import copy
import functools
import itertools
import json
import logging
import math
import os
import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from offline import defaults
from offline.architectures import NAMES, search_space
from offline.datasets.segments import SegmentCache
from offline.train import BEST, TrainConfig, check_caches, fit, read_log
from rtadt.atomic import write_text

__all__ = ["SearchUnavailable", "SearchConfig", "require_ray", "space", "trials", "run_name", "run_trial",
           "search", "ray_session", "rank", "markdown", "MODES"]

MODES = ("grid", "random")
DONE = "trial.done"  # written in a run's folder when its trial has finished (see run_trial)
METRIC = "best_f1"  # what a trial reports to Tune: the best selection F1 of its epochs so far
# Settings that do not change what a trial computes: a resumed search may give other ones.
_PLACEMENT = ("cpus_per_trial", "gpus_per_trial", "max_concurrent", "address")


class SearchUnavailable(RuntimeError):
    """Ray Tune, the search's engine, is not installed."""


def require_ray():
    """(ray, ray.tune), or SearchUnavailable with the install command."""
    try:
        import ray
        from ray import tune
    except ImportError:
        raise SearchUnavailable("hyperparameter search needs Ray Tune: ray[tune] is not installed; install it with "
                                "pip install 'rtadt[search]' (or pip install \"ray[tune]\")") from None
    return ray, tune


@dataclass
class SearchConfig:
    architecture: str = "crnn"          # one of offline.architectures.NAMES
    flavour: str = defaults.FLAVOUR
    mode: str = "grid"                  # "grid" | "random"
    samples: int = 1                    # random: trials; grid: repeats of the whole grid
    space: dict | None = None           # None: the architecture's SPACE; else {name: values} restricting it
    # the budget of each trial (TrainConfig's names and defaults)
    minutes: float | None = None        # training + validation time, summed over restarts; None: no limit
    epochs: int = defaults.EPOCHS
    batches_per_epoch: int | None = defaults.BATCHES_PER_EPOCH
    # the labels (the caches must have been built with these)
    lookahead_s: float = defaults.LOOKAHEAD_S
    widen: int = defaults.WIDEN
    seed: int = defaults.SEED
    # placement
    cpus_per_trial: int = 1             # also torch's threads in the trial
    gpus_per_trial: float = 0
    max_concurrent: int | None = None   # None: as many as the resources allow
    address: str | None = None          # None: a local Ray; "auto" or "host:port": join that cluster

    def __post_init__(self):
        if self.architecture not in NAMES:
            raise ValueError(f"unknown architecture {self.architecture!r}; known: {', '.join(NAMES)}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        for name in ("samples", "epochs", "cpus_per_trial"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.minutes is not None and not self.minutes > 0:
            raise ValueError(f"minutes must be None or > 0, got {self.minutes!r}")
        if not self.gpus_per_trial >= 0:
            raise ValueError(f"gpus_per_trial must be >= 0, got {self.gpus_per_trial!r}")
        if self.max_concurrent is not None and not (isinstance(self.max_concurrent, int) and self.max_concurrent >= 1):
            raise ValueError(f"max_concurrent must be None or an integer >= 1, got {self.max_concurrent!r}")
        trials(self)  # the space's names and values, and enough combinations for random search


# ---------------------------------------------------------------------------------------
# the trials


def space(cfg: SearchConfig) -> dict[str, tuple]:
    """The space searched: the architecture's SPACE, with the names cfg.space gives
    restricted to the values given (a single value may be given bare)."""
    full = search_space(cfg.architecture)
    out = dict(full)
    for name, values in (cfg.space or {}).items():
        if name not in full:
            raise ValueError(f"{cfg.architecture} has no hyperparameter {name!r} in its search space; "
                             f"it has {', '.join(full)}")
        values = tuple(values) if isinstance(values, (list, tuple, set)) else (values,)
        bad = [v for v in values if v not in full[name]]
        if bad or not values:
            raise ValueError(f"{cfg.architecture}: " + (f"{name}={bad[0]!r} is not in its search space" if bad
                                                        else f"no value given for {name}")
                             + f"; {name} takes {', '.join(map(str, full[name]))}")
        out[name] = tuple(v for v in full[name] if v in values)  # SPACE's order: the trials do not depend on ours
    return out


def trials(cfg: SearchConfig) -> list[dict]:
    """Every trial's configuration: the hyperparameters, and "repeat" for grid repeats."""
    s = space(cfg)
    grid = [dict(zip(s, values)) for values in itertools.product(*s.values())]
    if cfg.mode == "random":
        if cfg.samples > len(grid):
            raise ValueError(f"random search of {cfg.samples} trials over a space of {len(grid)} combinations: "
                             f"use a grid search (mode 'grid') or fewer samples")
        return random.Random(cfg.seed).sample(grid, cfg.samples)
    if cfg.samples == 1:
        return grid
    return [dict(hp, repeat=r) for r in range(cfg.samples) for hp in grid]


def run_name(architecture: str, trial: dict) -> str:
    """The run directory's name: a function of the hyperparameters (and the repeat)."""
    hp = "-".join(f"{k}={v}" for k, v in sorted(trial.items()) if k != "repeat")
    repeat = trial.get("repeat", 0)
    return f"{architecture}-{hp}" + (f"-r{repeat}" if repeat else "")


def train_config(cfg: SearchConfig, trial: dict) -> TrainConfig:
    return TrainConfig(architecture=cfg.architecture, flavour=cfg.flavour,
                       hyperparameters={k: v for k, v in trial.items() if k != "repeat"},
                       lookahead_s=cfg.lookahead_s, widen=cfg.widen, epochs=cfg.epochs,
                       batches_per_epoch=cfg.batches_per_epoch, seed=cfg.seed + trial.get("repeat", 0),
                       progress=False)


def _select(record: dict) -> float:
    return record.get("select_f1", record["val_f1"])


def _best(history: list[dict]) -> dict:
    return max(history, key=lambda r: (_select(r), -r["val_loss"]))  # fit's rule: ties to the lower loss, then first


def run_trial(cfg: SearchConfig, trial: dict, train, val, runs_dir: str | Path, report=None,
              progress: bool = False) -> dict:
    """One trial: train, or continue, the run of `trial` until the protocol or the budget
    stops it. report(metrics) is called after each epoch (Tune's report), or once with the
    final state when no epoch was left to run; progress: fit's bars. Returns the trial's row (see `_row`)."""
    run_dir = Path(runs_dir) / run_name(cfg.architecture, trial)
    history = read_log(run_dir)  # a log short of last.pt's last epoch counts the budget one epoch short
    budget_s = math.inf if cfg.minutes is None else 60 * cfg.minutes
    spent = sum(r["seconds"] for r in history)
    reported = False

    def metrics(record: dict) -> dict:
        return {"epoch": record["epoch"], "val_loss": record["val_loss"], "val_f1": record["val_f1"],
                "select_f1": _select(record), METRIC: _select(_best(history))}

    def on_epoch(record: dict) -> bool:
        nonlocal spent, reported
        history.append(record)
        spent += record["seconds"]
        if report is not None:
            report(metrics(record))
            reported = True
        return spent >= budget_s

    # fit would run one more epoch before asking on_epoch: a spent budget must not call it
    if spent < budget_s:
        # resume whenever the run exists: a kill between best.pt and last.pt in the first epoch
        # leaves best.pt alone, which a fresh start would refuse to overwrite
        fit(replace(train_config(cfg, trial), progress=progress), train, val, run_dir, resume=run_dir.exists(),
            on_epoch=on_epoch)
    if report is not None and not reported and history:
        report(metrics(history[-1]))
    write_text(run_dir / DONE, "run_trial returned: the protocol or the budget stopped this run\n")
    return _row(cfg, trial, run_dir)


def _row(cfg: SearchConfig, trial: dict, run_dir: Path, status: str = "done") -> dict:
    history = read_log(run_dir)
    row = {"name": run_name(cfg.architecture, trial), "hyperparameters": {k: v for k, v in trial.items()
                                                                          if k != "repeat"},
           "repeat": trial.get("repeat", 0), "seed": cfg.seed + trial.get("repeat", 0), "status": status,
           "best_f1": None, "best_epoch": None, "epochs": len(history),
           "minutes": round(sum(r["seconds"] for r in history) / 60, 2), "parameters": None,
           "val_f1_fixed": None, "run_dir": str(run_dir), "best_path": None}
    if history and (run_dir / BEST).exists():
        best = _best(history)
        training = torch.load(run_dir / BEST, map_location="cpu", weights_only=True).get("training") or {}
        row.update(best_f1=_select(best), best_epoch=best["epoch"], val_f1_fixed=best["val_f1"],
                   parameters=training.get("parameters"), best_path=str(run_dir / BEST))
    return row


# ---------------------------------------------------------------------------------------
# the search


def _trainable(config: dict, cfg: SearchConfig, train, val, runs_dir: str) -> None:
    from ray import tune

    torch.set_num_threads(cfg.cpus_per_trial)  # the trial's share of the node, not every core
    run_trial(cfg, dict(config), train, val, runs_dir, report=tune.report)


def _trial_name(architecture: str, trial) -> str:  # Tune's names for the trials: their runs' names
    return run_name(architecture, trial.config)


def _absolute(cache):
    """A cache whose directory is absolute: Tune runs each trial in its own working directory."""
    cache = copy.copy(cache)
    cache.directory = Path(cache.directory).resolve()
    return cache


def _defining(cfg: SearchConfig) -> dict:
    d = {k: v for k, v in asdict(cfg).items() if k not in _PLACEMENT}
    d["space"] = space(cfg)
    return json.loads(json.dumps(d))  # tuples -> lists: comparable with what was stored


def _write(path: Path, text: str) -> None:
    write_text(path, text)


@contextlib.contextmanager
def ray_session(address: str | None = None):
    """Ray for the block: a local Ray (address None) or the cluster at `address`, started
    here and shut down after; a Ray already initialised in this process is used as it is
    (a study searching many architectures starts one for all of them)."""
    ray, _ = require_ray()
    if ray.is_initialized():
        yield ray
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address is None:
        # "local": a new Ray, never one that `ray start` left behind (or RAY_ADDRESS names);
        # Ray counts the CPUs itself, container limits included
        ray.init(address="local", include_dashboard=False, logging_level=logging.WARNING)
    else:
        try:
            ray.init(address=address, logging_level=logging.WARNING)
        except ConnectionError as exc:  # Ray enables token auth by itself only for "auto"
            raise ConnectionError(f"{exc}; if the cluster uses token authentication (Ray's default), set "
                                  f"RAY_AUTH_MODE=token and give this machine its token") from exc
    try:
        yield ray
    finally:
        ray.shutdown()


def search(cfg: SearchConfig, train, val, out_dir: str | Path) -> dict:
    """Run (or resume) the search in out_dir; returns what search.json holds, with "best"
    the best trial's row (its "best_path" is the best.pt to export)."""
    _, tune = require_ray()  # first: without Ray, nothing is done
    from ray.tune.schedulers import FIFOScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    out_dir = Path(out_dir).resolve()  # Ray's storage path must be absolute
    runs_dir = out_dir / "runs"
    todo = trials(cfg)
    train, val = ([_absolute(c) for c in ([x] if isinstance(x, SegmentCache) else x)] for x in (train, val))
    check_caches(train_config(cfg, todo[0]), train, val)  # bad settings fail here, not in every trial

    out_dir.mkdir(parents=True, exist_ok=True)
    settings = out_dir / "search-config.json"
    if settings.exists():
        before, now = json.loads(settings.read_text()), _defining(cfg)
        changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        if changed:
            raise ValueError(f"{out_dir} holds a search with other {', '.join(changed)} "
                             f"({', '.join(f'{k}={before.get(k)!r}' for k in changed)}); "
                             f"resume it with the same settings, or search into another directory")
    else:
        _write(settings, json.dumps(_defining(cfg), indent=1) + "\n")

    with ray_session(cfg.address):
        trainable = tune.with_resources(
            tune.with_parameters(_trainable, cfg=cfg, train=train, val=val, runs_dir=str(runs_dir)),
            {"cpu": cfg.cpus_per_trial, "gpu": cfg.gpus_per_trial})
        # Tune is told the space, and runs exactly our list of trials from it
        param_space = {name: tune.choice(values) for name, values in space(cfg).items()}
        if "repeat" in todo[0]:
            param_space["repeat"] = tune.choice(range(cfg.samples))
        experiment = str(out_dir / "tune")
        if tune.Tuner.can_restore(experiment):
            tuner = tune.Tuner.restore(experiment, trainable, resume_unfinished=True, resume_errored=True,
                                       param_space=param_space)
        else:
            tuner = tune.Tuner(
                trainable, param_space=param_space,
                tune_config=tune.TuneConfig(metric=METRIC, mode="max", scheduler=FIFOScheduler(),
                                            search_alg=BasicVariantGenerator(points_to_evaluate=todo),
                                            num_samples=len(todo), max_concurrent_trials=cfg.max_concurrent,
                                            trial_name_creator=functools.partial(_trial_name, cfg.architecture),
                                            trial_dirname_creator=functools.partial(_trial_name, cfg.architecture)),
                # retries: a trial lost with its node starts again, and continues its run
                run_config=tune.RunConfig(storage_path=str(out_dir), name="tune", verbose=1,
                                          failure_config=tune.FailureConfig(max_failures=2)))
        results = tuner.fit()

    status = {}
    for r in results:
        name = run_name(cfg.architecture, r.config)
        # A run's own marker first: Tune's restored experiment state may predate a trial's last
        # result (seen under load: a finished trial read back as unfinished)
        status[name] = ("done" if (runs_dir / name / DONE).exists() or (r.metrics or {}).get("done")
                        else f"error: {str(r.error).strip().splitlines()[-1]}" if r.error is not None
                        else "incomplete")
    rows, best = rank([_row(cfg, t, runs_dir / run_name(cfg.architecture, t),
                            status.get(run_name(cfg.architecture, t), "not run")) for t in todo])
    result = {"config": asdict(cfg), "space": {k: list(v) for k, v in space(cfg).items()},
              "metric": "validation micro F1, per-class thresholds tuned on validation (select_f1)",
              "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "finished": all(r["status"] == "done" for r in rows),
              "trials": rows, "best": best}
    _write(out_dir / "search.json", json.dumps(result, indent=1) + "\n")
    _write(out_dir / "search.md", markdown(result))
    return result


def rank(rows: list[dict]) -> tuple[list[dict], dict | None]:
    """(rows sorted best first, the best row or None). Ties: fewer parameters, then the
    earlier row; rows without a complete epoch come last."""
    rows = sorted(rows, key=lambda r: (r["best_f1"] is None, -(r["best_f1"] or 0.0), r["parameters"] or 0))
    return rows, (rows[0] if rows and rows[0]["best_f1"] is not None else None)


def markdown(r: dict) -> str:
    c = r["config"]
    budget = (f"{c['minutes']} min of training and validation" if c["minutes"] else "no time limit") \
        + f", at most {c['epochs']} epochs" \
        + (f" of {c['batches_per_epoch']} batches" if c["batches_per_epoch"] else "")
    what = (f"{len(r['trials'])} random draws (seed {c['seed']})" if c["mode"] == "random"
            else "the full grid" + (f", {c['samples']} times (seeds {c['seed']}...)" if c["samples"] > 1 else ""))
    lines = [f"# Hyperparameter search: {c['architecture']} ({c['flavour']})", "",
             f"{r['date']}. Search: {what}, FIFO scheduler. Budget per trial: {budget}; "
             f"lookahead {1000 * c['lookahead_s']:.0f} ms, widening {c['widen']} frame(s). "
             f"Selection: {r['metric']}.", "",
             "Space: " + "; ".join(f"{k} in {{{', '.join(map(str, v))}}}" for k, v in r["space"].items()), "",
             "| | trial | val micro F1 | best epoch | epochs | minutes | parameters | status |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for row in r["trials"]:
        mark = "**best**" if r["best"] is not None and row["name"] == r["best"]["name"] else ""
        f1 = "–" if row["best_f1"] is None else f"{row['best_f1']:.3f}"
        params = "–" if row["parameters"] is None else f"{row['parameters']:,}"
        lines.append(f"| {mark} | {row['name']} | {f1} | {row['best_epoch'] or '–'} | {row['epochs']} "
                     f"| {row['minutes']:.1f} | {params} | {row['status']} |")
    return "\n".join(lines) + "\n"

