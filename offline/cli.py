"""`rtadt-train`: the lab's command line."""
from __future__ import annotations

import functools
import json
import operator
import sys
from pathlib import Path

import click

from offline import defaults
from rtadt.feature_config import FeatureConfig


def _fail(msg: str, code: int = 1):
    click.echo(f"rtadt-train: error: {msg}", err=True)
    sys.exit(code)


def _parse_data(items: tuple[str, ...], labelled: bool = False) -> dict:
    """'synth:/data/x' ... -> {'synth': '/data/x', ...}; with labelled=True also
    'solo=synth:/data/x' -> {'solo': ('synth', '/data/x')} (several copies of one loader)."""
    out = {}
    for item in items:
        label, eq, rest = item.partition("=") if labelled and "=" in item.partition(":")[0] else ("", "", item)
        name, sep, root = rest.partition(":")
        if not sep or not name or (eq and not label):
            raise click.BadParameter(f"{item!r}: expected {'[LABEL=]' if labelled else ''}NAME:ROOT", param_hint="--data")
        key = label or name
        if key in out:
            raise click.BadParameter(f"{key!r} given twice" + ("; give each copy a LABEL=" if labelled else ""),
                                     param_hint="--data")
        out[key] = (name, root) if labelled else root
    return out


def _parse_numbers(text: str, option: str) -> list[float]:
    """'0,-30,6' -> [0.0, -30.0, 6.0]: the one reader of an option's comma-separated numbers."""
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected numbers separated by commas", param_hint=option) from None


def _parse_range(text: str | None, option: str) -> tuple[float, float] | None:
    """'-30,10' -> (-30.0, 10.0); None stays None."""
    if text is None:
        return None
    values = _parse_numbers(text, option)
    if len(values) != 2:
        raise click.BadParameter(f"{text!r}: expected LOW,HIGH (two numbers)", param_hint=option)
    return values[0], values[1]


def _parse_shares(items: tuple[str, ...]) -> dict[str, float] | None:
    """'enst=0.2' ... -> {'enst': 0.2}; nothing given -> None (a plain shuffle)."""
    out = {}
    for item in items:
        name, sep, value = (part.strip() for part in item.partition("="))
        try:
            if not sep or not name or name in out:
                raise ValueError
            out[name] = float(value)
        except ValueError:
            raise click.BadParameter(f"{item!r}: expected DATASET=FRACTION, each dataset once",
                                     param_hint="--share") from None
        if not 0 < out[name] <= 1:
            raise click.BadParameter(f"{item!r}: a share must lie in (0, 1]", param_hint="--share")
    return out or None


def _parse_sets(items: tuple[str, ...]) -> dict:
    """'L=3' 'cell=lstm' -> {'L': 3, 'cell': 'lstm'} (numbers parsed as JSON)."""
    out = {}
    for item in items:
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: expected NAME=VALUE")
        try:
            out[key] = json.loads(val)
        except json.JSONDecodeError:
            out[key] = val
    return out


# Options that several commands take, each declared once. Names and defaults are those of
# offline.defaults: a config field's name with dashes, without its unit suffix.
def data_option(required: bool = True):
    return click.option("--data", "data", multiple=True, required=required, metavar="[LABEL=]NAME:ROOT",
                        help="a dataset and its directory (repeatable: a combination); LABEL names copies of one "
                             "loader, e.g. solo=synth:DIR")


DATA_OPT = data_option()
CACHE_OPT = click.option("--cache", "cache_dir", type=click.Path(file_okay=False),
                         help="feature cache directory (default: OUT/cache); trainings running at once may share one")
FLAVOUR_OPT = click.option("--flavour", type=click.Choice(["offline", "causal"]), default=defaults.FLAVOUR,
                           show_default=True, help="causal: for live use; offline: as in the thesis")
HYPERPARAMETERS_OPT = click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
                                   help="a hyperparameter of the architecture; repeatable")
LOOKAHEAD_OPT = click.option("--lookahead", "lookahead_s", type=float, default=defaults.LOOKAHEAD_S, show_default=True,
                             help="seconds after an onset that the model may wait to report it (label offset)")
WIDEN_OPT = click.option("--widen", type=int, default=defaults.WIDEN, show_default=True,
                         help="target widening in frames")
EPOCHS_OPT = click.option("--epochs", type=int, default=defaults.EPOCHS, show_default=True,
                          help="at most this many epochs per training")
BATCHES_OPT = click.option("--batches-per-epoch", "batches_per_epoch", type=int, default=defaults.BATCHES_PER_EPOCH,
                           help="at most this many batches per epoch, a budget (default: every segment once)")
SEED_OPT = click.option("--seed", type=int, default=defaults.SEED, show_default=True)
FRAME_SIZE_OPT = click.option("--frame-size", "frame_size", type=int, default=FeatureConfig.frame_size, show_default=True,
                              help="STFT window in samples (FeatureConfig.frame_size); shorter windows see an "
                                   "onset sooner, with coarser low bands")
HOP_SIZE_OPT = click.option("--hop-size", "hop_size", type=int, default=FeatureConfig.hop_size, show_default=True,
                            help="frame hop in samples (FeatureConfig.hop_size): 441 is 100 frames/s, 220 about 200; "
                                 "a shorter hop places labels and reports notes on a finer grid (lower latency), "
                                 "for more model steps per second")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """The rtadt lab: architectures, training, evaluation, export to model bundles."""


@main.command("architectures")
def architectures_cmd():
    """List the architectures, their default hyperparameters and search spaces."""
    from dataclasses import asdict

    from offline.architectures import NAMES, get

    for name in NAMES:
        cfg_cls, _ = get(name)
        click.echo(f"{name}: defaults {asdict(cfg_cls())}; space {cfg_cls.SPACE}")


@main.command()
@click.argument("architecture")
@FLAVOUR_OPT
@HYPERPARAMETERS_OPT
@LOOKAHEAD_OPT
@SEED_OPT
@click.option("--diff", is_flag=True, help="features with positive difference bands (a second channel)")
@click.option("--level-norm", is_flag=True, help="features with the causal level normalisation (any input gain)")
@FRAME_SIZE_OPT
@HOP_SIZE_OPT
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="checkpoint to write")
def init(architecture, flavour, sets, lookahead_s, seed, diff, level_norm, frame_size, hop_size, output):
    """Write an untrained checkpoint (for tests, benchmarks and export checks)."""
    import torch

    from offline.architectures import build_for
    from offline.checkpoint import checkpoint_dict, save_checkpoint

    torch.manual_seed(seed)
    try:
        features = FeatureConfig(positive_diff=diff, level_norm=level_norm, frame_size=frame_size, hop_size=hop_size)
        model = build_for(architecture, features, flavour=flavour, **_parse_sets(sets))
    except (ValueError, TypeError) as exc:
        _fail(str(exc), 2)
    save_checkpoint(output, checkpoint_dict(model.eval(), architecture, features, lookahead_s, training=None))
    click.echo(f"{output}: untrained {architecture} ({flavour}), {model.describe()['parameters']:,} parameters")


@main.command()
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="bundle to write (.rtadt)")
@click.option("--name", help="bundle name (default: the checkpoint's file name)")
@click.option("--description", default="")
@click.option("--int8", is_flag=True, help="causal recurrent models: the step graph with 8-bit weights (faster; "
                                           "checked against torch to 0.02 instead of 1e-4)")
@click.option("--int8-tolerance", type=float, default=None,
              help="the int8 step's bound on activation deviation from torch (default 0.02); a looser one is "
                   "for a model whose int8 F1 you then compare with its float32 F1")
def export(checkpoint, output, name, description, int8, int8_tolerance):
    """Write a model bundle (window.onnx, step.onnx for causal models, manifest) from a checkpoint."""
    from pathlib import Path

    from offline.deploy.export import INT8_TOLERANCE, TOLERANCE, check_bundle_matches, export_checkpoint
    from rtadt.bundle import BundleError

    try:
        tolerance = INT8_TOLERANCE if int8_tolerance is None else int8_tolerance
        path, model, ckpt = export_checkpoint(checkpoint, output, name=name or Path(checkpoint).stem,
                                              description=description, int8=int8, int8_tolerance=tolerance)
        dev = check_bundle_matches(model, path, step_tolerance=tolerance if int8 else TOLERANCE)
    except (BundleError, RuntimeError, ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    click.echo(f"{path}: {ckpt['architecture']} ({ckpt['flavour']}); onnxruntime vs torch max deviation "
               + ", ".join(f"{k} {v:.1e}" for k, v in dev.items()))


@main.command()
@click.argument("architecture")
@data_option(required=False)
@click.option("--from-cache", "from_cache", type=click.Path(file_okay=False, exists=True),
              help="instead of --data: train on this cache as it is, e.g. one `rtadt-train pack` made (no audio "
                   "read; the feature options must match the cache's)")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="run directory")
@CACHE_OPT
@FLAVOUR_OPT
@HYPERPARAMETERS_OPT
@LOOKAHEAD_OPT
@WIDEN_OPT
@click.option("--diff", is_flag=True, help="add positive difference features")
@click.option("--level-norm", is_flag=True,
              help="features with the causal level normalisation (the model hears any input gain the same)")
@FRAME_SIZE_OPT
@HOP_SIZE_OPT
@EPOCHS_OPT
@click.option("--batch-size", type=int, default=defaults.BATCH_SIZE, show_default=True)
@click.option("--lr", type=float, default=defaults.LR, show_default=True)
@BATCHES_OPT
@SEED_OPT
@click.option("--device", default="auto", show_default=True)
@click.option("--workers", type=int, default=0, show_default=True)
@click.option("--tensorboard", is_flag=True)
@click.option("--resume", is_flag=True, help="continue the run in OUT from its last complete epoch")
@click.option("--init-from", "init_from", type=click.Path(dir_okay=False),
              help="start from this checkpoint's weights (same architecture, size and features)")
@click.option("--gain-db", "gain_db", metavar="LOW,HIGH",
              help="level augmentation: each training segment heard at a gain drawn in this dB range, e.g. -30,10")
@click.option("--share", "shares", multiple=True, metavar="DATASET=FRACTION",
              help="draw this fraction of the training segments from DATASET (the tracks' dataset: enst for "
                   "every enst-* selection, synth for every render; e.g. enst=0.2; repeatable), with "
                   "replacement; the other datasets share the rest by size")
@click.option("--minutes", type=float,
              help="stop after the first epoch that ends this many minutes after training began (a time budget)")
def fit(architecture, data, from_cache, out_dir, cache_dir, flavour, sets, lookahead_s, widen, diff, level_norm,
        frame_size, hop_size, epochs, batch_size, lr, batches_per_epoch, seed, device, workers, tensorboard, resume,
        init_from, gain_db, shares, minutes):
    """Train ARCHITECTURE on one or more datasets (their train and validation splits), or on a
    cache as it is (--from-cache)."""
    import time
    from pathlib import Path

    from offline.datasets import DatasetError, load
    from offline.datasets.segments import SegmentCache
    from offline.train import RunExistsError, TrainConfig, caches_for, check_gain_augmentation, sampling_weights
    from offline.train import fit as run_fit

    if bool(data) == bool(from_cache):
        _fail("give either --data (one or more) or --from-cache", 2)
    if from_cache and cache_dir:
        _fail("--cache builds features from --data; --from-cache trains on a cache as it is: give one", 2)
    if minutes is not None and not minutes > 0:
        _fail(f"--minutes must be positive, got {minutes}", 2)
    sources = _parse_data(data, labelled=True)
    try:  # every setting checked (the --set names and values too) before data is read or a folder made
        cfg = TrainConfig(architecture=architecture, flavour=flavour, hyperparameters=_parse_sets(sets),
                          lookahead_s=lookahead_s, widen=widen, batch_size=batch_size, lr=lr, epochs=epochs,
                          batches_per_epoch=batches_per_epoch, seed=seed, device=device, num_workers=workers,
                          tensorboard=tensorboard, init_from=init_from, gain_db=_parse_range(gain_db, "--gain-db"),
                          dataset_shares=_parse_shares(shares))
        features = FeatureConfig(positive_diff=diff, level_norm=level_norm, frame_size=frame_size, hop_size=hop_size)
    except ValueError as exc:
        _fail(str(exc), 2)
    try:
        if from_cache:
            cache = SegmentCache.open(from_cache)
            if cache.feature_config != features:
                _fail(f"--from-cache: the cache's features are {cache.feature_config.to_dict()}, the options ask "
                      f"{features.to_dict()}: give the options the cache was built with", 2)
            if (cache.lookahead_s, cache.widen) != (lookahead_s, widen):
                _fail(f"--from-cache: the cache's labels are at --lookahead {cache.lookahead_s} --widen {cache.widen}: "
                      f"pass those", 2)
            splits = [(t["dataset"], t["split"]) for t in cache.tracks]
        else:
            tracks = [t for name, root in sources.values() for t in load(name, root)]
            splits = [(t.dataset, t.split) for t in tracks]
        if cfg.dataset_shares is not None:  # the shares checked against the datasets before any feature is computed
            try:
                sampling_weights(sorted({dataset for dataset, split in splits if split == "train"}), cfg.dataset_shares)
            except ValueError as exc:
                _fail(f"--share: {exc}", 2)
        if cfg.gain_db is not None:
            check_gain_augmentation(features)  # before any feature is computed
        if from_cache:
            train, val = cache.with_splits("train"), cache.with_splits("validation")
        else:
            train, val = caches_for(tracks, features, cache_dir or Path(out_dir) / "cache", lookahead_s, widen)
        start = time.monotonic()
        out_of_time = None if minutes is None else (
            lambda record: "--minutes reached" if time.monotonic() - start > 60 * minutes else None)
        summary = run_fit(cfg, train, val, out_dir, resume=resume, on_epoch=out_of_time)
    except (DatasetError, RunExistsError, ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    click.echo(f"{out_dir}: best epoch {summary['best_epoch']}, validation micro F1 {summary['best_val_f1']:.3f} "
               f"({summary['stopped']}); best checkpoint {summary['best_path']}")


@main.command("search")
@click.argument("architecture")
@DATA_OPT
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="search directory")
@CACHE_OPT
@click.option("--mode", type=click.Choice(["grid", "random"]), default="grid", show_default=True)
@click.option("--samples", type=int, default=1, show_default=True,
              help="random: trials drawn; grid: repeats of the whole grid")
@click.option("--space", "space_items", multiple=True, metavar="NAME=V1,V2",
              help="restrict a hyperparameter to some of its values (repeatable)")
@FLAVOUR_OPT
@click.option("--minutes", type=float, help="training + validation minutes per trial (default: no limit)")
@EPOCHS_OPT
@BATCHES_OPT
@LOOKAHEAD_OPT
@WIDEN_OPT
@SEED_OPT
@click.option("--cpus-per-trial", type=int, default=1, show_default=True)
@click.option("--gpus-per-trial", type=float, default=0, show_default=True)
@click.option("--max-concurrent", type=int, help="trials at once (default: as many as the resources allow)")
@click.option("--address", help="join a running Ray cluster ('auto' or host:port) instead of starting a local Ray")
@click.option("--export", "export_path", type=click.Path(dir_okay=False), help="export the best trial to this bundle")
def search_cmd(architecture, data, out_dir, cache_dir, mode, samples, space_items, flavour, minutes, epochs,
               batches_per_epoch, lookahead_s, widen, seed, cpus_per_trial, gpus_per_trial, max_concurrent, address,
               export_path):
    """Search ARCHITECTURE's hyperparameters on Ray Tune (FIFO scheduler, grid or random),
    each trial trained by the study's protocol, selected by validation micro F1. Resumable:
    run the same command again."""
    from offline.datasets import DatasetError, load
    from offline.search import SearchConfig, SearchUnavailable, require_ray, search
    from offline.train import caches_for

    try:
        require_ray()  # before any feature is computed
    except SearchUnavailable as exc:
        _fail(str(exc))
    space = {}
    for item in space_items:
        name, sep, values = item.partition("=")
        if not sep or not name or not values:
            raise click.BadParameter(f"{item!r}: expected NAME=V1,V2", param_hint="--space")
        space[name] = tuple(_parse_sets((f"v={v}",))["v"] for v in values.split(","))
    try:
        cfg = SearchConfig(architecture=architecture, flavour=flavour, mode=mode, samples=samples, space=space or None,
                           minutes=minutes, epochs=epochs, batches_per_epoch=batches_per_epoch, lookahead_s=lookahead_s,
                           widen=widen, seed=seed, cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial,
                           max_concurrent=max_concurrent, address=address)
    except ValueError as exc:
        _fail(str(exc), 2)
    try:
        tracks = [t for name, root in _parse_data(data, labelled=True).values() for t in load(name, root)]
        train, val = caches_for(tracks, FeatureConfig(), cache_dir or Path(out_dir) / "cache", lookahead_s, widen)
        result = search(cfg, train, val, out_dir)
    except (DatasetError, ValueError, FileNotFoundError, ConnectionError) as exc:
        _fail(str(exc))
    click.echo((Path(out_dir) / "search.md").read_text())
    if not result["finished"]:
        click.echo("rtadt-train: the search did not finish: run the same command again to resume it", err=True)
    best = result["best"]
    if best is None:
        _fail("no trial completed an epoch")
    if export_path:
        from offline.deploy.export import export_checkpoint

        path, _, _ = export_checkpoint(best["best_path"], export_path, name=best["name"])
        click.echo(f"{path}: the best trial, {best['name']} (validation micro F1 {best['best_f1']:.3f})")


@main.command()
@click.argument("model")
@click.option("--dataset", "dataset", required=True, help="dataset name (see `rtadt-train datasets check`)")
@click.option("--root", required=True, type=click.Path(file_okay=False), help="the dataset's directory")
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "validation", "test"]))
@click.option("--mode", default="streaming", show_default=True, type=click.Choice(["offline", "streaming"]),
              help="offline: window graph + offline peak picker; streaming: the live engine, exactly")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="also write the scores as JSON")
@click.option("--plot", type=click.Path(dir_okay=False), help="also draw per-class F1 bars (PNG)")
@click.option("--gain-db", "gain_db", type=float, default=0.0, show_default=True,
              help="play every track this many dB louder (negative: quieter), a digital gain before the engine")
@click.option("--by", type=click.Choice(["kind", "kit", "family", "level"]),  # offline.datasets.synth.GROUPINGS
              help="rendered data (synth): also score each group of examples by kind, kit, kit family or level")
def evaluate(model, dataset, root, split, mode, json_out, plot, gain_db, by):
    """Score MODEL (a bundle, an installed name, or a checkpoint exported on the fly) on a
    dataset split: onset F1 at 25 and 50 ms, per class, micro and macro (the mean over the
    classes with reference onsets: a class the split never plays is left out); then what was
    played where the false positives fired (the same class: a double detection; another
    class: a confusion; nothing). With --by, a table scores each group of rendered examples
    (micro and per class at 50 ms)."""
    from offline.datasets import DatasetError, load
    from offline.datasets.synth import example_group
    from offline.evaluate import evaluate_bundle, plot_f1
    from offline.metrics import causes_table, grouped_table, window_label
    from rtadt.bundle import BundleError

    try:
        bundle = _resolve_model(model)
        tracks = [t for t in load(dataset, root) if t.split == split]
        if not tracks:
            _fail(f"{dataset}: no {split} tracks under {root}")
        groups = {}
        for track in tracks:
            groups.setdefault(example_group(track, by) if by else "all", []).append(track)
        causes = {}
        by_group = {name: evaluate_bundle(bundle, groups[name], mode=mode, gain_db=gain_db, causes=causes)
                    for name in sorted(groups)}
    except (BundleError, DatasetError, FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    scores = functools.reduce(operator.add, by_group.values())
    click.echo(scores.table())
    click.echo(f"\nFalse positives at {window_label(scores.windows[-1])}, by what was played there:\n\n"
               + causes_table(causes))
    if by:
        click.echo(f"\nBy {by}, at 50 ms:\n\n" + grouped_table(by_group, 0.05))
    if json_out:
        result = {**scores.to_dict(), "false_positive_causes": causes}
        if by:
            result["by"] = {"grouping": by, "groups": {k: v.to_dict() for k, v in by_group.items()}}
        Path(json_out).write_text(json.dumps(result, indent=2))
    if plot:
        plot_f1(scores, plot, title=f"{bundle.name} on {dataset} {split} ({mode})")


def _resolve_model(model: str):
    """A bundle path, an installed bundle's name (`default`, `flux`), or a checkpoint (.pt)
    exported on the fly."""
    from rtadt.cli import resolve_model

    if model.endswith(".pt"):
        import tempfile

        from offline.deploy.export import export_checkpoint

        tmp = Path(tempfile.mkdtemp()) / "model.rtadt"
        export_checkpoint(model, tmp, name=Path(model).stem)
        model = str(tmp)
    return resolve_model(model)


@main.command("record")
@click.argument("bundle_path", metavar="BUNDLE")
@click.argument("scorecard_json", type=click.Path(exists=True, dir_okay=False))
@click.option("--model", required=True, help="the scorecard's label of this bundle")
@click.option("--results", required=True, help="where the scorecard is kept (a path in the repository)")
@click.option("--describe", "descriptions", multiple=True, metavar="SET=TEXT", help="what a set is; repeatable")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="bundle to write")
def record(bundle_path, scorecard_json, model, results, descriptions, output):
    """Write a scorecard's figures for one model into a copy of BUNDLE (manifest evaluation.test),
    so that `rtadt info` shows what the bundle scored and where the scorecard is."""
    from offline.report import evaluation_entry
    from rtadt.bundle import BundleError, write_bundle

    try:
        bundle = _resolve_model(bundle_path)
        described = dict(item.split("=", 1) for item in descriptions if "=" in item)
        if len(described) != len(descriptions):
            _fail("--describe expects SET=TEXT", 2)
        test = evaluation_entry(json.loads(Path(scorecard_json).read_text()), model, results, described)
        evaluation = dict(bundle.manifest.get("evaluation") or {}, test=test)
        write_bundle(output, dict(bundle.manifest, evaluation=evaluation), bundle.graphs)
    except (BundleError, ValueError, KeyError) as exc:
        _fail(str(exc))
    click.echo(f"{output}: evaluation of {model!r} recorded ({', '.join(test['scores'])})")


@main.command("pack")
@click.argument("cache_dir", metavar="CACHE", type=click.Path(file_okay=False, exists=True))
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False), help="new folder for the copy")
@click.option("--hours", type=float, help="hours of training audio to keep, --keep's counted (default: all)")
@click.option("--keep", multiple=True, metavar="DATASET",
              help="keep every training track of this dataset (e.g. enst); repeatable")
@click.option("--step", type=float, default=None, help="feature quantisation step (default 1/64)")
@SEED_OPT
def pack(cache_dir, output, hours, keep, step, seed):
    """A small copy of a feature cache that travels (a GPU machine takes 64 MiB): every validation
    track, training tracks drawn at random up to --hours, features as uint8 steps; train on it
    with `fit --from-cache`."""
    from offline.datasets.segments import PACK_FEATURE_STEP, SegmentCache, pack_cache

    try:
        summary = pack_cache(SegmentCache.open(cache_dir), output, train_hours=hours, keep=keep,
                             feature_step=PACK_FEATURE_STEP if step is None else step, seed=seed)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    for split, hours_of in summary["hours"].items():
        click.echo(f"{split}: {summary['tracks'][split]} tracks, "
                   + ", ".join(f"{d} {h:.2f} h" for d, h in sorted(hours_of.items())))
    click.echo(f"{output}: packed (features in steps of {summary['feature_step']:g})")


@main.command("average")
@click.argument("checkpoints", nargs=-1, required=True, metavar="[LABEL=]CHECKPOINT...")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="checkpoint to write")
def average(checkpoints, output):
    """The uniform weight average of checkpoints of one model, fine-tuned from the same weights (a
    "model soup"): export and tune it as any checkpoint."""
    from offline.checkpoint import average_checkpoints

    names = _combine_checkpoints(checkpoints, output, average_checkpoints)
    click.echo(f"{output}: the weight average of {', '.join(names)}")


@main.command("ensemble")
@click.argument("checkpoints", nargs=-1, required=True, metavar="[LABEL=]CHECKPOINT...")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="checkpoint to write")
def ensemble(checkpoints, output):
    """The ensemble of trained checkpoints (same features and lookahead): the members run side by
    side on the same frames and their logits are averaged; for models a weight average cannot join
    (trained from other weights, other sizes or architectures). Export and tune it as any
    checkpoint; a step costs the members' steps together."""
    from offline.checkpoint import ensemble_checkpoints

    names = _combine_checkpoints(checkpoints, output, ensemble_checkpoints)
    click.echo(f"{output}: the ensemble of {', '.join(names)}")


@main.command("widen")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--hidden", type=int, required=True, help="recurrent units per layer (more than the checkpoint's H)")
@click.option("--seed", type=int, default=0, show_default=True, help="seed of the new units' incoming weights")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="checkpoint to write")
def widen(checkpoint, hidden, seed, output):
    """A causal RNN or CRNN with more recurrent units that computes exactly what CHECKPOINT
    computes; train it on with `fit --init-from OUTPUT --set H=HIDDEN`."""
    from offline.checkpoint import read_checkpoint, save_checkpoint, widen_checkpoint

    try:
        ckpt = read_checkpoint(checkpoint)
        save_checkpoint(output, widen_checkpoint(ckpt, hidden, seed))
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc), 2)
    click.echo(f"{output}: {checkpoint} widened from H {ckpt['hyperparameters']['H']} to {hidden}")


def _combine_checkpoints(items, output, combine) -> list[str]:
    """Read [LABEL=]CHECKPOINT items, write combine(checkpoints, labels) to output; the labels."""
    from offline.checkpoint import read_checkpoint, save_checkpoint

    names, ckpts = [], []
    try:
        for item in items:
            label, _, path = item.rpartition("=")
            names.append(label or path)
            ckpts.append(read_checkpoint(path))
        save_checkpoint(output, combine(ckpts, names))
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc), 2)
    except KeyError as exc:  # a checkpoint file of the right format that lacks a field
        _fail(f"a checkpoint lacks its {exc.args[0]!r}", 2)
    return names


@main.command("curves")
@click.argument("runs", nargs=-1, required=True, metavar="[LABEL=]RUN_DIR...")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="PNG to write")
@click.option("--title", default="Training runs", show_default=True)
def curves(runs, output, title):
    """Plot the validation F1 and loss of training runs (their log.jsonl) against training minutes."""
    from offline.report import compare_runs
    from offline.train import read_log

    histories = {}
    for item in runs:
        label, _, directory = item.rpartition("=")
        history = read_log(directory)
        if not history:
            _fail(f"{directory}: no training log with a complete epoch there")
        histories[label or Path(directory).name] = history
    try:
        click.echo(compare_runs(histories, output, title))
    except ValueError as exc:
        _fail(str(exc))


def _command_line(command: str) -> str:
    """This run's command line as a shell would take it back (for a results file's meta)."""
    import shlex

    return f"rtadt-train {command} " + " ".join(shlex.quote(a) for a in sys.argv[2:])


def _load_sets(sets: tuple[str, ...]) -> dict:
    """'LABEL=NAME:ROOT[:SPLIT]' ... -> {LABEL: that split's tracks} (SPLIT default test)."""
    from offline.datasets import load

    tracks = {}
    for item in sets:
        label, eq, rest = item.partition("=")
        if not eq or ":" not in rest:
            _fail(f"--set {item!r}: expected LABEL=NAME:ROOT[:SPLIT]", 2)
        name, _, root = rest.partition(":")
        split = "test"
        if root.rsplit(":", 1)[-1] in ("train", "validation", "test"):
            root, split = root.rsplit(":", 1)
        if not label or label in tracks:
            _fail(f"--set {item!r}: each set needs a label of its own", 2)
        tracks[label] = [t for t in load(name, root) if t.split == split]
        if not tracks[label]:
            _fail(f"--set {item!r}: no {split} tracks")
    return tracks


@main.command("timbre")
@click.option("--set", "sets", multiple=True, required=True, metavar="LABEL=NAME:ROOT[:SPLIT]",
              help="a dataset split to profile (SPLIT default test); repeatable")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@click.option("--max-tracks", type=int, default=200, show_default=True,
              help="profile at most this many tracks of each set (drawn with --seed)")
@click.option("--level-norm/--no-level-norm", default=True, show_default=True,
              help="the level-normalised features (the shipped model's) or plain ones")
@SEED_OPT
@click.option("--title", default="Onset timbre: mean feature rise at isolated onsets", show_default=True)
def timbre(sets, out_dir, max_tracks, level_norm, seed, title):
    """Profile what each class sounds like at its onsets in each set (offline.timbre): the mean
    rise of every feature band over isolated onsets. timbre.json (with each class's share of
    the rise above 2 kHz) and timbre.png in OUT: rendered audio beside real recordings."""
    import random

    from offline.datasets import DatasetError
    from offline.timbre import brightness, brightness_table, plot_profiles, timbre_profiles
    from rtadt.drums import CLASSES

    if max_tracks < 1:
        _fail(f"--max-tracks must be >= 1, got {max_tracks}", 2)
    try:
        chosen = {k: (random.Random(seed).sample(v, max_tracks) if len(v) > max_tracks else v)
                  for k, v in _load_sets(sets).items()}
        profiles = timbre_profiles(chosen, FeatureConfig(level_norm=level_norm), progress=True)
    except (DatasetError, FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    profiles["brightness_above_2khz"] = {k: {c: brightness(v[c], profiles["bands_hz"]) for c in CLASSES}
                                         for k, v in profiles["sets"].items()}
    profiles["meta"] = {"command": _command_line("timbre"), "level_norm": level_norm,
                        "tracks": {k: len(v) for k, v in chosen.items()}}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "timbre.json").write_text(json.dumps(profiles, indent=1) + "\n")
    plot_profiles(profiles, out / "timbre.png", title)
    click.echo(brightness_table(profiles))
    click.echo(f"{out / 'timbre.json'}, {out / 'timbre.png'}: share of each class's onset rise above 2 kHz")


@main.command("report")
@click.argument("models", nargs=-1, required=True)
@click.option("--set", "sets", multiple=True, required=True, metavar="LABEL=NAME:ROOT[:SPLIT]",
              help="a dataset split to score on (SPLIT default test); repeatable")
@click.option("--gain-db", "gains", default="0", show_default=True, metavar="G,G,...",
              help="input gains in dB to score at (e.g. 0,-30,6: level robustness)")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@click.option("--title", default="Scorecard", show_default=True)
def report(models, sets, gains, out_dir, title):
    """Score MODELS (bundles, names or checkpoints; LABEL=MODEL to name one) on dataset splits
    through the streaming engine at several input gains: scorecard.json, .md and .png in OUT."""
    from offline.datasets import DatasetError, statistics
    from offline.report import scorecard, write_scorecard
    from rtadt.bundle import BundleError

    gain_values = _parse_numbers(gains, "--gain-db")
    if 0.0 not in gain_values:
        gain_values = [0.0] + gain_values
    chosen = {}
    try:
        for item in models:
            label, eq, model = item.partition("=") if "=" in item and not Path(item).exists() else ("", "", item)
            chosen[label or Path(model).stem] = _resolve_model(model)
        tracks = _load_sets(sets)
        card = scorecard(chosen, tracks, gain_values)
    except (BundleError, DatasetError, FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    meta = {"command": _command_line("report"),
            "models": {k: {"name": b.name, "manifest": {x: b.manifest.get(x) for x in ("architecture", "lookahead_s", "training")
                                                        if x in b.manifest}} for k, b in chosen.items()},
            "sets": {k: {"tracks": len(v), "hours": sum(x["hours"] for x in statistics(v).values())}
                     for k, v in tracks.items()}}
    write_scorecard(card, out_dir, title, meta=meta)
    click.echo((Path(out_dir) / "scorecard.md").read_text())


@main.command("tune")
@click.argument("bundle_path", metavar="BUNDLE")
@click.option("--data", "data", multiple=True, metavar="NAME:ROOT",
              help="a dataset whose validation split to tune on; repeatable")
@click.option("--dataset", "dataset", help="a dataset name (with --root; the same as --data NAME:ROOT)")
@click.option("--root", type=click.Path(file_okay=False))
@click.option("--deltas", default="0,0.02,0.05,0.1", show_default=True, metavar="D,D,...",
              help="peak-picking deltas to try; the best on validation is kept with its thresholds")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="the tuned bundle to write")
@click.option("--velocity-rise", is_flag=True,
              help="fit the velocity rule on the loudness's rise into the reporting frame too: it follows cymbals "
                   "at a 5 ms hop; on the 20 ms-lookahead default it lowered the rendered test's r "
                   "(offline/results/default-model/velocity-timing)")
@click.option("--per-set", is_flag=True,
              help="weigh each --data set once (the mean of their F1) rather than pooling their onsets, so a "
                   "small real set counts as much as a large rendered one (offline/results/realism/tom-threshold)")
@click.option("--by-family", is_flag=True,
              help="weigh each held-out kit family of a rendered (synth) set once, and every other set once "
                   "(music-only examples, of no family, left out), so one large family does not set the "
                   "thresholds (offline/results/realism/tom-threshold)")
def tune(bundle_path, data, dataset, root, deltas, output, velocity_rise, per_set, by_family):
    """Tune the live (online) picker on validation splits: per-class thresholds and the delta,
    written into a copy of BUNDLE."""
    from offline.datasets import DatasetError, load
    import dataclasses

    import numpy as np

    from offline.evaluate import tune_bundle_peaks
    from offline.velocity import tune_bundle_velocity
    from rtadt.bundle import BundleError, write_bundle

    sources = list(_parse_data(data).items())
    if dataset or root:
        if not (dataset and root):
            _fail("--dataset and --root go together", 2)
        sources.append((dataset, root))
    if not sources:
        _fail("give the validation data: --data NAME:ROOT (repeatable) or --dataset NAME --root ROOT", 2)
    delta_values = _parse_numbers(deltas, "--deltas")
    try:
        bundle = _resolve_model(bundle_path)
        loaded = []
        for name, path in sources:
            found = [t for t in load(name, path) if t.split == "validation"]
            if not found:
                _fail(f"{name}: no validation tracks under {path}")
            loaded.append((name, found))
        tracks, labels = tuning_sets(loaded, by_family)
        peak, th, by_delta = tune_bundle_peaks(bundle, tracks, delta_values,
                                               sets=labels if per_set or by_family else None)
        thresholds = [round(float(t), 4) for t in th]
        rule, hits = tune_bundle_velocity(
            dataclasses.replace(bundle, thresholds=np.asarray(thresholds, dtype=np.float32), peak=peak), tracks,
            rise=velocity_rise)
        manifest = dict(bundle.manifest, thresholds=thresholds, peak_picking=peak.to_dict(),
                        velocity=rule.to_manifest(bundle.classes))
        manifest["training"] = dict(manifest.get("training") or {}, peaks_tuned_on={
            "sets": [f"{n} validation" for n, _ in sources], "tracks": len(tracks), "picker": "online",
            "sets_weigh": ("each rendered kit family and each other set once" if by_family
                           else "each once" if per_set else "by their onsets (pooled)"),
            "micro_f1_by_delta": {f"{d:g}": f for d, f in by_delta.items()}}, velocity_fitted_on={"hits": hits})
        write_bundle(output, manifest, bundle.graphs)
    except (BundleError, DatasetError, ValueError) as exc:
        _fail(str(exc))
    click.echo(f"{output}: delta {peak.delta:g} (validation micro F1 by delta: "
               + ", ".join(f"{d:g}: {f:.3f}" for d, f in by_delta.items()) + "); thresholds "
               + ", ".join(f"{c} {t:.2f}" for c, t in zip(bundle.classes, th)))


def tuning_sets(loaded: list, by_family: bool = False) -> tuple[list, list]:
    """The tracks to tune on and each one's set label, from (dataset name, validation tracks)
    pairs: the set's index; with by_family, a rendered set's tracks are labelled by kit family
    (synth.example_group) and its music-only examples (no family) are left out."""
    from offline.datasets.synth import example_group

    tracks, labels = [], []
    for k, (name, found) in enumerate(loaded):
        for t in found:
            family = example_group(t, "family") if by_family and name == "synth" else None
            if family == "no kit":
                continue
            tracks.append(t)
            labels.append(k if family is None else f"{k}:{family}")
    return tracks, labels


@main.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="output directory")
@click.option("--hours", type=float, default=1.0, show_default=True, help="hours of audio to render")
@SEED_OPT
@click.option("--split", "splits", multiple=True, type=click.Choice(["train", "validation", "test"]),
              help="render only these splits (repeatable; default all)")
@click.option("--workers", type=int, default=2, show_default=True)
@click.option("--kinds", metavar="KIND=WEIGHT,...",
              help="mix of example kinds (drums, drums+music, song, music), e.g. 'drums=1' for drums alone; "
                   "default: the SynthConfig mix")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="a SynthConfig field, e.g. room=0 (no rooms), level_db=[-30,-10], left_out_families=musescore "
                   "or libraries=sonic-pi,lmms; "
                   "repeatable")
def synth(out_dir, hours, seed, splits, workers, kinds, sets):
    """Render training data: Groove MIDI and procedural drum parts on sampled kits (whole kits
    held out for validation and test), over real song accompaniment, augmented. Resumable."""
    from pathlib import Path

    from offline.datasets import DatasetError
    from offline.datasets.synth import KINDS, SynthConfig, render_dataset

    if hours <= 0:
        _fail("--hours must be positive", 2)
    config = SynthConfig()
    if kinds:
        weights = {}
        for item in kinds.split(","):
            kind, sep, weight = item.partition("=")
            try:
                weights[kind.strip()] = float(weight) if sep else 1.0
            except ValueError:
                _fail(f"--kinds: {item!r}: expected KIND=WEIGHT", 2)
        bad = [k for k in weights if k not in KINDS]
        if bad or not any(w > 0 for w in weights.values()) \
                or not all(0 <= w < float("inf") for w in weights.values()):  # also refuses nan
            _fail(f"--kinds: {kinds!r}: kinds are {', '.join(KINDS)} with weights >= 0, at least one > 0", 2)
        config = SynthConfig(kinds=weights)
    if sets:
        config = _synth_config(config, _parse_sets(sets))
    try:
        manifest = render_dataset(Path(out_dir), hours, seed=seed, splits=tuple(splits) or ("train", "validation", "test"),
                                  workers=workers, config=config)
    except (DatasetError, RuntimeError, OSError) as exc:
        _fail(str(exc))
    click.echo(f"{manifest}: rendered; load it with `--data synth:{out_dir}`")


def _synth_config(config, changes: dict):
    """config with SynthConfig fields changed: probabilities in [0, 1], ranges as [low, high],
    left_out_families and libraries as comma-separated names."""
    from dataclasses import fields, replace

    from offline.datasets.kits import LIBRARIES

    known = {f.name: f for f in fields(config)}
    for name, value in changes.items():
        if name not in known or name in ("kinds", "split_shares"):
            _fail(f"--set {name}: not a SynthConfig field one can set here; fields: "
                  f"{', '.join(k for k in known if k not in ('kinds', 'split_shares'))}", 2)
        old = getattr(config, name)
        if name in ("left_out_families", "libraries"):  # names: name[,name...]
            names = value.split(",") if isinstance(value, str) else value
            example = "musescore or musescore,fluidr3" if name == "left_out_families" else "sonic-pi,lmms"
            if not (isinstance(names, list) and names and all(isinstance(n, str) and n.strip() for n in names)):
                _fail(f"--set {name}={value!r}: expected names, e.g. {example}", 2)
            changes[name] = tuple(n.strip() for n in names)
            if name == "libraries" and not set(changes[name]) <= set(LIBRARIES):
                _fail(f"--set {name}={value!r}: sample libraries are {', '.join(LIBRARIES)}", 2)
            continue
        if isinstance(old, tuple):
            if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value)
                    and value[0] <= value[1]):
                _fail(f"--set {name}={value!r}: expected [low, high]", 2)
            value = (float(value[0]), float(value[1]))
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= (
                1 if name not in ("preroll",) else 10):
            _fail(f"--set {name}={value!r}: expected a number in [0, 1]" if name != "preroll" else
                  f"--set {name}={value!r}: expected seconds in [0, 10]", 2)
        changes[name] = value
    return replace(config, **changes)


def _study_budget(command):
    """The options both studies share: flavour, budget per training, seed, feature cache."""
    for option in reversed((
            FLAVOUR_OPT,
            click.option("--minutes", type=float, default=3.0, show_default=True,
                         help="budget per training: minutes of training + validation, summed over restarts"),
            click.option("--hours", type=float,
                         help="budget of the whole study's training: sets --minutes (hours / trainings)"),
            EPOCHS_OPT, BATCHES_OPT, SEED_OPT, CACHE_OPT)):
        command = option(command)
    return command


@main.group()
def study():
    """The studies: architectures and datasets."""


@study.command("architectures")
@DATA_OPT
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@click.option("--arch", "archs", multiple=True, help="architectures to run (default: all five)")
@_study_budget
@click.option("--trials", type=int, default=1, show_default=True,
              help="> 1: search each architecture with this many random trials (Ray Tune) over the small space")
@click.option("--cpus-per-trial", type=int, default=1, show_default=True)
@click.option("--address", help="join this Ray cluster for the search ('auto' or host:port)")
def study_architectures(data, out_dir, archs, flavour, minutes, hours, epochs, batches_per_epoch, seed, cache_dir, trials,
                        cpus_per_trial, address):
    """Train every architecture on each dataset under one budget; table, plot and JSON in OUT."""
    from offline.architectures import NAMES
    from offline.datasets import DatasetError
    from offline.search import SearchUnavailable
    from offline.studies import Budget, architecture_study

    roots = _parse_data(data, labelled=True)
    bad = [a for a in archs if a not in NAMES]
    if bad:
        _fail(f"unknown architecture {bad[0]!r}; known: {', '.join(NAMES)}", 2)
    if trials < 1:
        _fail("--trials must be >= 1", 2)
    if trials == 1 and (address or cpus_per_trial != 1):
        _fail("--address and --cpus-per-trial place search trials: they need --trials > 1", 2)
    if hours is not None and hours <= 0:
        _fail("--hours must be positive", 2)
    budget = Budget(minutes=minutes, epochs=epochs, batches_per_epoch=batches_per_epoch, trials=trials,
                    cpus_per_trial=cpus_per_trial, address=address, hours=hours)
    try:
        architecture_study(roots, out_dir, budget, architectures=tuple(archs) or NAMES, flavour=flavour, seed=seed,
                           cache_dir=cache_dir)
    except (SearchUnavailable, DatasetError, ValueError, FileNotFoundError, RuntimeError, ConnectionError) as exc:
        _fail(str(exc))
    click.echo((Path(out_dir) / "architectures.md").read_text())


@study.command("datasets")
@DATA_OPT
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@click.option("--arch", "arch", help="the architecture (default: the best of --from-study, else crnn)")
@click.option("--from-study", "from_study", type=click.Path(exists=True, dir_okay=False),
              help="an architecture study's architectures.json: take its best architecture on validation")
@HYPERPARAMETERS_OPT
@click.option("--combination", "combos", multiple=True, metavar="A+B",
              help="a training combination (repeatable; default: every non-empty subset)")
@_study_budget
def study_datasets(data, out_dir, arch, from_study, sets, combos, flavour, minutes, hours, epochs, batches_per_epoch,
                   seed, cache_dir):
    """Train one architecture on combinations of datasets, test on every test set (zero-shot
    where not trained on); matrix, heatmap and JSON in OUT."""
    from offline.architectures import NAMES
    from offline.datasets import DatasetError
    from offline.studies import SMALL, Budget, best_architecture, dataset_study

    roots = _parse_data(data, labelled=True)
    hyperparameters = None
    if from_study:
        try:
            best, hyperparameters = best_architecture(from_study)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:  # JSONDecodeError is a ValueError
            _fail(f"{from_study}: not an architecture study's JSON ({exc})", 2)
        if arch and arch != best:
            _fail(f"--arch {arch} contradicts --from-study (best: {best}); give one of them", 2)
        arch = best
    arch = arch or "crnn"
    if arch not in NAMES:
        _fail(f"unknown architecture {arch!r}; known: {', '.join(NAMES)}", 2)
    if sets:
        hyperparameters = {**(hyperparameters or SMALL.get(arch, {})), **_parse_sets(sets)}
    try:
        dataset_study(roots, out_dir, arch, hyperparameters,
                      Budget(minutes=minutes, epochs=epochs, batches_per_epoch=batches_per_epoch, hours=hours),
                      combinations=[tuple(c.split("+")) for c in combos] or None, flavour=flavour, seed=seed,
                      cache_dir=cache_dir)
    except (DatasetError, ValueError, FileNotFoundError, RuntimeError) as exc:
        _fail(str(exc))
    click.echo((Path(out_dir) / "datasets.md").read_text())


@main.group()
def datasets():
    """Check dataset copies on disk."""


@datasets.command("check")
@click.argument("name")
@click.argument("root", type=click.Path(file_okay=False))
@click.option("--audio/--no-audio", default=False, show_default=True,
              help="also decode every audio file (slow) instead of reading headers only")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def datasets_check(name, root, audio, as_json):
    """Validate a copy of dataset NAME at ROOT and print its statistics per split.

    NAME is a loader (enst, mdb, egmd, slakh, adtof, sadtp, synth) or an ENST selection:
    enst-KIND (KIND: phrases, minus-one, all) and enst-KIND-dN (drummer N trains, the other
    drummers are halved into validation and test)."""
    from tqdm import tqdm

    from offline.datasets import LOADERS, DatasetError, known, load, statistics
    from rtadt.drums import CLASSES, UnknownLabelError

    if not known(name):
        _fail(f"unknown dataset {name!r}; known: {', '.join(LOADERS)}", 2)
    try:
        tracks = load(name, root)
        if not tracks:
            _fail(f"{name}: {root}: no tracks found")
        if audio:
            for t in tqdm(tracks, desc="decoding", unit="track", disable=None):
                t.load_audio()
        stats = statistics(tracks)
    except (DatasetError, UnknownLabelError, FileNotFoundError) as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps(stats, indent=2))
        return
    click.echo(f"{name} at {root}: {len(tracks)} tracks")
    click.echo(f"{'split':<11}{'tracks':>7}{'hours':>9}" + "".join(f"{c:>8}" for c in CLASSES))
    for split, s in stats.items():
        click.echo(f"{split:<11}{s['tracks']:>7}{s['hours']:>9.3f}" + "".join(f"{s['onsets'][c]:>8}" for c in CLASSES))


if __name__ == "__main__":
    main()
