"""rtadt-train commands that glue the lab's modules together."""
import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from offline.cli import main

SLAKH = Path(__file__).resolve().parents[2] / "shared/data/format-samples/slakh-mirdata/slakh2100_flac_redux"
needs_slakh = pytest.mark.skipif(not SLAKH.exists(), reason="../shared/data/format-samples is not beside the checkout")


@pytest.mark.data
@needs_slakh
def test_datasets_check_on_the_real_slakh_layout():
    r = CliRunner().invoke(main, ["datasets", "check", "slakh", str(SLAKH), "--json"])
    assert r.exit_code == 0, r.output
    stats = json.loads(r.output)
    assert stats["train"]["tracks"] == 1 and stats["train"]["onsets"]["KD"] > 0


@pytest.mark.data
@needs_slakh
def test_evaluate_a_checkpoint_and_a_bundle(tmp_path):
    ckpt = tmp_path / "r.pt"
    assert CliRunner().invoke(main, ["init", "rnn", "--set", "L=2", "--set", "H=72", "-o", str(ckpt)]).exit_code == 0
    for model in (str(ckpt), "rtadt/models/default.rtadt"):
        out = tmp_path / "scores.json"
        r = CliRunner().invoke(main, ["evaluate", model, "--dataset", "slakh", "--root", str(SLAKH),
                                      "--split", "train", "--json", str(out), "--plot", str(tmp_path / "f1.png")])
        assert r.exit_code == 0, r.output
        assert "| micro |" in r.output
        assert json.loads(out.read_text())
        assert (tmp_path / "f1.png").stat().st_size > 0


def test_datasets_check_errors(tmp_path):
    r = CliRunner().invoke(main, ["datasets", "check", "nope", str(tmp_path)])
    assert r.exit_code == 2 and "unknown dataset" in r.output
    r = CliRunner().invoke(main, ["datasets", "check", "mdb", str(tmp_path)])
    assert r.exit_code == 1 and "mdb" in r.output


def adtof_with_splits(root):
    """A tiny ADTOF-layout dataset with one split file per split (2 train, 1 validation, 1 test)."""
    from tests.test_datasets_adtof import TRACKS, make_dataset

    folder = make_dataset(root)
    (folder / "split").mkdir()
    names = sorted(TRACKS)
    (folder / "split" / "train.txt").write_text("\n".join(names[:2]))
    (folder / "split" / "validation.txt").write_text(names[2])
    (folder / "split" / "test.txt").write_text(names[3])
    return root


def test_fit_from_a_packed_cache_within_minutes(tmp_path):
    """pack, then fit --from-cache: the copy a GPU machine trains on (no audio there), with a
    time budget that stops after the first epoch past it; the options must match the cache."""
    adtof_with_splits(tmp_path / "data")
    small = ["--set", "L=1", "--set", "H=16", "--batch-size", "2", "--level-norm"]
    cache = tmp_path / "cache"
    r = CliRunner().invoke(main, ["fit", "rnn", "--data", f"adtof:{tmp_path / 'data'}", "--out", str(tmp_path / "a"),
                                  "--cache", str(cache), "--epochs", "1", *small])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["pack", str(cache), "-o", str(tmp_path / "pack"), "--hours", "0"])
    assert r.exit_code == 0, r.output
    assert "validation: 1 tracks" in r.output and "train:" not in r.output  # 0 hours: no training track
    r = CliRunner().invoke(main, ["pack", str(cache), "-o", str(tmp_path / "pack-all"), "--keep", "adtof"])
    assert r.exit_code == 0 and "train: 2 tracks" in r.output, r.output
    run = tmp_path / "b"
    args = ["fit", "rnn", "--from-cache", str(tmp_path / "pack-all"), "--out", str(run), "--epochs", "3", *small]
    r = CliRunner().invoke(main, args + ["--minutes", "1e-9"])
    assert r.exit_code == 0, r.output
    assert len((run / "log.jsonl").read_text().splitlines()) == 1 and "(--minutes reached)" in r.output
    for bad, says in ((["--data", f"adtof:{tmp_path / 'data'}"], "either --data"),
                      (["--cache", str(cache)], "--cache builds"),
                      (["--minutes", "0"], "--minutes must be positive"),
                      (["--lookahead", "0.01"], "--lookahead 0.02 --widen 0: pass those")):
        r = CliRunner().invoke(main, args + bad)
        assert r.exit_code == 2 and says in r.output, r.output
    r = CliRunner().invoke(main, args[:-1])  # without --level-norm: not the cache's features
    assert r.exit_code == 2 and "the cache's features" in r.output


@pytest.mark.heavy
def test_fit_export_evaluate_round_trip(tmp_path):
    """The lab's loop from the command line: fit on a dataset in ADTOF's layout, resume
    refuses to clobber, export the best checkpoint, evaluate it through the streaming engine."""
    adtof_with_splits(tmp_path / "data")
    run = tmp_path / "run"
    args = ["fit", "rnn", "--data", f"adtof:{tmp_path / 'data'}", "--out", str(run), "--set", "L=2",
            "--set", "H=72", "--epochs", "2", "--batch-size", "2"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "best epoch" in r.output and (run / "best.pt").exists()
    assert len((run / "log.jsonl").read_text().splitlines()) == 2
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 1 and "--resume" in r.output
    r = CliRunner().invoke(main, args[:-4] + ["--epochs", "3", "--batch-size", "2", "--resume"])
    assert r.exit_code == 0, r.output
    assert len((run / "log.jsonl").read_text().splitlines()) == 3
    bundle = tmp_path / "m.rtadt"
    assert CliRunner().invoke(main, ["export", str(run / "best.pt"), "-o", str(bundle)]).exit_code == 0
    r = CliRunner().invoke(main, ["evaluate", str(bundle), "--dataset", "adtof", "--root", str(tmp_path / "data")])
    assert r.exit_code == 0, r.output
    assert "| micro |" in r.output
    tuned = tmp_path / "tuned.rtadt"
    r = CliRunner().invoke(main, ["tune", str(bundle), "--dataset", "adtof", "--root", str(tmp_path / "data"),
                                  "-o", str(tuned)])
    assert r.exit_code == 0, r.output
    from rtadt.bundle import load_bundle

    manifest = load_bundle(tuned).manifest
    tuned_on = manifest["training"]["peaks_tuned_on"]
    assert tuned_on["sets"] == ["adtof validation"] and tuned_on["picker"] == "online"
    assert set(tuned_on["micro_f1_by_delta"]) == {"0", "0.02", "0.05", "0.1"}
    best = max(tuned_on["micro_f1_by_delta"].values())
    assert tuned_on["micro_f1_by_delta"][f"{manifest['peak_picking']['delta']:g}"] == best
    assert len(manifest["thresholds"]) == 5
    # the rise term asked for: ADTOF's references carry no velocities, so nothing is fitted either way
    r = CliRunner().invoke(main, ["tune", str(bundle), "--dataset", "adtof", "--root", str(tmp_path / "data"),
                                  "--velocity-rise", "-o", str(tmp_path / "risen.rtadt")])
    assert r.exit_code == 0, r.output
    assert load_bundle(tmp_path / "risen.rtadt").manifest["velocity"] == manifest["velocity"]
    # each set weighed once: with one set, what pooling gives; the manifest says which
    r = CliRunner().invoke(main, ["tune", str(bundle), "--dataset", "adtof", "--root", str(tmp_path / "data"),
                                  "--per-set", "-o", str(tmp_path / "per-set.rtadt")])
    assert r.exit_code == 0, r.output
    per_set = load_bundle(tmp_path / "per-set.rtadt").manifest
    assert per_set["thresholds"] == manifest["thresholds"] and per_set["peak_picking"] == manifest["peak_picking"]
    assert per_set["training"]["peaks_tuned_on"]["sets_weigh"] == "each once"
    r = CliRunner().invoke(main, ["tune", str(bundle), "--dataset", "adtof", "--root", str(tmp_path / "data"),
                                  "--by-family", "-o", str(tmp_path / "by-family.rtadt")])
    assert r.exit_code == 0, r.output  # no rendered set: its one set, as --per-set
    by_family = load_bundle(tmp_path / "by-family.rtadt").manifest
    assert by_family["thresholds"] == manifest["thresholds"]
    assert by_family["training"]["peaks_tuned_on"]["sets_weigh"].startswith("each rendered kit family")
    assert tuned_on["sets_weigh"] == "by their onsets (pooled)"


def test_fit_refuses_a_bad_setting_before_any_work(tmp_path, monkeypatch):
    """An unknown --set name or a bad value: one line naming the architecture's
    hyperparameters, exit 2, no dataset read, no run folder (its feature cache) left."""
    import offline.datasets

    adtof_with_splits(tmp_path / "data")
    loads, load = [], offline.datasets.load
    monkeypatch.setattr(offline.datasets, "load", lambda *a, **k: loads.append(a) or load(*a, **k))
    run = tmp_path / "run"
    for bad, says in (("--set=Q=3", "rnn has no hyperparameter Q; it has H, L, cell, dropout"),
                      ("--set=L=abc", "L (recurrent layers) must be an integer >= 1, got 'abc'"),
                      ("--frame-size=300", "FeatureConfig.hop_size (441) must not exceed frame_size (300)")):
        r = CliRunner().invoke(main, ["fit", "rnn", "--data", f"adtof:{tmp_path / 'data'}", "--out", str(run),
                                      "--set", "H=72", bad, "--epochs", "1"])
        assert r.exit_code == 2, r.output
        lines = r.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"rtadt-train: error: {says}")
        assert not loads and not run.exists()


def test_share_must_be_a_fraction_of_a_training_dataset(tmp_path):
    for bad in ("--share=adtof=1.5", "--share=adtof", "--share=adtof=0"):
        r = CliRunner().invoke(main, ["fit", "rnn", "--data", f"adtof:{tmp_path}", "--out", str(tmp_path / "run"), bad])
        assert r.exit_code == 2 and "--share" in r.output and not (tmp_path / "run").exists()
    adtof_with_splits(tmp_path / "data")   # read, then refused before any feature is computed
    r = CliRunner().invoke(main, ["fit", "rnn", "--data", f"adtof:{tmp_path / 'data'}", "--out", str(tmp_path / "run"),
                                  "--share", "synth=0.5"])
    assert r.exit_code == 2 and not (tmp_path / "run").exists()
    assert r.output.strip() == ("rtadt-train: error: --share: synth: no training segment comes from it; "
                                "the training datasets are adtof")
    r = CliRunner().invoke(main, ["fit", "rnn", "--data", f"adtof:{tmp_path / 'data'}", "--out", str(tmp_path / "run"),
                                  "--share", "adtof=0.5"])   # the only dataset: its share must be 1
    assert r.exit_code == 2 and "must add up to 1" in r.output and not (tmp_path / "run").exists()


def run_architecture_study(tmp_path, *options):
    """`rtadt-train study architectures` on a tiny ADTOF set; returns the output folder, the
    parsed architectures.json and the command's arguments (to run it again)."""
    adtof_with_splits(tmp_path / "data")
    out = tmp_path / "study"
    args = ["study", "architectures", "--data", f"adtof:{tmp_path / 'data'}", "--out", str(out), *options]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    return out, json.loads((out / "architectures.json").read_text()), args


@pytest.mark.heavy
def test_architecture_study_writes_its_report(tmp_path):
    out, result, args = run_architecture_study(tmp_path, "--arch", "rnn", "--arch", "cnn", "--epochs", "1")
    assert set(result["datasets"]["adtof"]) == {"rnn", "cnn"}
    for v in result["datasets"]["adtof"].values():
        assert 0.0 <= v["test_micro_f1"] <= 1.0 and v["epochs"] == 1
    md = (out / "architectures.md").read_text()
    assert "| rnn |" in md and "| cnn |" in md and "**" in md  # the best per dataset is marked
    assert (out / "architectures.png").stat().st_size > 0
    # a second run resumes: finished trials are read back, not retrained
    mtime = (out / "adtof" / "rnn" / "result.json").stat().st_mtime
    assert CliRunner().invoke(main, args).exit_code == 0
    assert (out / "adtof" / "rnn" / "result.json").stat().st_mtime == mtime
    r = CliRunner().invoke(main, ["study", "architectures", "--data", "adtof", "--out", str(out)])
    assert r.exit_code == 2


@pytest.mark.heavy
def test_dataset_study_matrix_marks_zero_shot_cells(tmp_path):
    """Two labelled copies of a dataset: three trainings (a, b, a+b), each scored on both
    test sets; a cell is zero-shot exactly when its test set was not trained on."""
    adtof_with_splits(tmp_path / "a")
    adtof_with_splits(tmp_path / "b")
    out = tmp_path / "study"
    args = ["study", "datasets", "--data", f"a=adtof:{tmp_path / 'a'}", "--data", f"b=adtof:{tmp_path / 'b'}",
            "--out", str(out), "--arch", "rnn", "--set", "L=2", "--set", "H=72", "--epochs", "1"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    result = json.loads((out / "datasets.json").read_text())
    assert list(result["combinations"]) == ["a", "b", "a+b"]
    assert result["hyperparameters"] == {"L": 2, "H": 72}
    for combo, v in result["combinations"].items():
        assert set(v["tests"]) == {"a", "b"}
        for test, cell in v["tests"].items():
            assert cell["zero_shot"] == (test not in combo.split("+"))
            assert 0.0 <= cell["test_micro_f1"] <= 1.0
    # a and b are the same data: the pooled training saw twice the hours
    hours = {c: v["train_hours"] for c, v in result["combinations"].items()}
    assert hours["a+b"] == pytest.approx(hours["a"] + hours["b"]) and hours["a"] == pytest.approx(hours["b"])
    md = (out / "datasets.md").read_text()
    assert "| a+b |" in md and "*" in md and "zero-shot" in md
    assert (out / "datasets.png").stat().st_size > 0
    # resumes by combination
    mtime = (out / "runs" / "a" / "result.json").stat().st_mtime
    assert CliRunner().invoke(main, args).exit_code == 0
    assert (out / "runs" / "a" / "result.json").stat().st_mtime == mtime


def test_dataset_study_errors(tmp_path):
    adtof_with_splits(tmp_path / "a")
    base = ["study", "datasets", "--out", str(tmp_path / "s"), "--epochs", "1"]
    r = CliRunner().invoke(main, base + ["--data", f"a=adtof:{tmp_path / 'a'}", "--data", f"a=adtof:{tmp_path / 'a'}"])
    assert r.exit_code == 2 and "given twice" in r.output
    r = CliRunner().invoke(main, base + ["--data", f"a=adtof:{tmp_path / 'a'}", "--combination", "a+c"])
    assert r.exit_code == 1 and "unknown datasets ['c']" in r.output
    r = CliRunner().invoke(main, base + ["--data", f"a=adtof:{tmp_path / 'a'}", "--arch", "nope"])
    assert r.exit_code == 2 and "unknown architecture" in r.output
    r = CliRunner().invoke(main, base + ["--data", f"a=adtof:{tmp_path / 'a'}", "--arch", "rnn", "--set", "Q=3"])
    assert r.exit_code == 1 and "rnn has no hyperparameter Q; it has H, L, cell, dropout" in r.output
    assert not (tmp_path / "s").exists()  # refused before any feature was computed
    (tmp_path / "bad.json").write_text("{}")
    r = CliRunner().invoke(main, base + ["--data", f"a=adtof:{tmp_path / 'a'}", "--from-study", str(tmp_path / "bad.json")])
    assert r.exit_code == 2 and "architecture study" in r.output


def test_best_architecture_is_chosen_on_validation_not_test(tmp_path):
    from offline.studies import best_architecture

    study = {"datasets": {"d": {"rnn": {"val_micro_f1": 0.7, "test_micro_f1": 0.2, "hyperparameters": {"L": 2}},
                                "cnn": {"val_micro_f1": 0.5, "test_micro_f1": 0.9, "hyperparameters": {"I": 1}}},
                          "e": {"rnn": {"val_micro_f1": 0.8, "test_micro_f1": 0.1, "hyperparameters": {"L": 3}},
                                "cnn": {"val_micro_f1": 0.7, "test_micro_f1": 0.9, "hyperparameters": {"I": 1}}}}}
    (tmp_path / "a.json").write_text(json.dumps(study))
    # rnn: mean validation 0.75 against 0.6; its hyperparameters: those of its best validation result
    assert best_architecture(tmp_path / "a.json") == ("rnn", {"L": 3})


def test_synth_kinds_option_is_validated(tmp_path):
    for bad in ("drums=x", "nope=1", "drums=0", "drums=-1"):
        r = CliRunner().invoke(main, ["synth", "--out", str(tmp_path / "s"), "--hours", "0.01", "--kinds", bad])
        assert r.exit_code == 2 and "--kinds" in r.output, (bad, r.output)


def test_synth_kinds_reach_the_renderer(tmp_path, monkeypatch):
    import offline.datasets.synth as synth

    seen = {}
    monkeypatch.setattr(synth, "render_dataset", lambda out, hours, **kw: seen.update(kw) or out / "manifest.json")
    r = CliRunner().invoke(main, ["synth", "--out", str(tmp_path), "--hours", "0.1", "--kinds", "drums=2,song=1"])
    assert r.exit_code == 0, r.output
    assert seen["config"].kinds == {"drums": 2.0, "song": 1.0}


def test_synth_config_fields_reach_the_renderer_and_are_validated(tmp_path, monkeypatch):
    import offline.datasets.synth as synth

    seen = {}
    monkeypatch.setattr(synth, "render_dataset", lambda out, hours, **kw: seen.update(kw) or out / "manifest.json")
    r = CliRunner().invoke(main, ["synth", "--out", str(tmp_path), "--hours", "0.1", "--set", "room=0",
                                  "--set", "level_db=[-30,-10]", "--kinds", "drums=1"])
    assert r.exit_code == 0, r.output
    cfg = seen["config"]
    assert cfg.room == 0 and cfg.level_db == (-30.0, -10.0) and cfg.kinds == {"drums": 1.0}
    assert cfg.codec == synth.SynthConfig().codec  # the others keep their defaults
    r = CliRunner().invoke(main, ["synth", "--out", str(tmp_path), "--hours", "0.1", "--set",
                                  "left_out_families=musescore, fluidr3"])
    assert r.exit_code == 0, r.output
    assert seen["config"].left_out_families == ("musescore", "fluidr3")
    r = CliRunner().invoke(main, ["synth", "--out", str(tmp_path), "--hours", "0.1", "--set", "libraries=sonic-pi,lmms"])
    assert r.exit_code == 0, r.output
    assert seen["config"].libraries == ("sonic-pi", "lmms")
    for bad in ("nothing=1", "room=2", "room=x", "level_db=[-10,-30]", "level_db=3", "kinds=1",
                "left_out_families=3", "left_out_families=a,,b", "libraries=freepats", "libraries=2"):
        r = CliRunner().invoke(main, ["synth", "--out", str(tmp_path), "--hours", "0.1", "--set", bad])
        assert r.exit_code == 2 and "--set" in r.output, (bad, r.output)


@pytest.mark.heavy
def test_architecture_study_with_search_selects_among_trials(tmp_path):
    """--trials 2: each architecture is searched on Ray (random draws from the small space)
    and the study scores the search's best trial."""
    pytest.importorskip("ray")
    out, result, _ = run_architecture_study(tmp_path, "--arch", "rnn", "--epochs", "1", "--trials", "2")
    v = result["datasets"]["adtof"]["rnn"]
    search = json.loads((out / "adtof" / "rnn" / "search" / "search.json").read_text())
    assert len(v["search"]) == len(search["trials"]) == 2
    assert v["hyperparameters"] == search["best"]["hyperparameters"]
    assert v["val_micro_f1"] == search["best"]["best_f1"] == max(t["best_f1"] for t in search["trials"])
    assert "Search: 2 random trials" in (out / "architectures.md").read_text()


def test_search_command_without_ray_says_how_to_install(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)
    r = CliRunner().invoke(main, ["search", "rnn", "--data", f"adtof:{tmp_path}", "--out", str(tmp_path / "s")])
    assert r.exit_code == 1 and "rtadt[search]" in r.output
    assert not (tmp_path / "s").exists()  # nothing computed before the check


@pytest.mark.heavy
def test_search_command_runs_refuses_other_settings_and_exports(tmp_path):
    pytest.importorskip("ray")
    adtof_with_splits(tmp_path / "data")
    args = ["search", "rnn", "--data", f"adtof:{tmp_path / 'data'}", "--out", str(tmp_path / "s"),
            "--space", "L=2", "--space", "H=72", "--epochs", "1", "--export", str(tmp_path / "best.rtadt")]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    result = json.loads((tmp_path / "s" / "search.json").read_text())
    assert sorted(t["name"] for t in result["trials"]) == ["rnn-H=72-L=2-cell=gru", "rnn-H=72-L=2-cell=lstm"]
    assert (tmp_path / "best.rtadt").exists() and "the best trial" in r.output
    r = CliRunner().invoke(main, args[:-6] + ["--space", "H=144", "--epochs", "1"])
    assert r.exit_code == 1 and "other space" in r.output  # a search resumes only with its own settings
    r = CliRunner().invoke(main, args[:6] + ["--space", "L=7"])
    assert r.exit_code == 2 and "L=7 is not in its search space" in r.output


def test_a_study_budget_in_hours_is_shared_out_per_training():
    from offline.studies import Budget

    b = Budget(minutes=3.0, hours=0.5, trials=2)
    assert b.spread(15).minutes == 2.0 and b.spread(15).hours == 0.5 and b.spread(15).trials == 2
    assert Budget(minutes=3.0).spread(15).minutes == 3.0  # no hours: minutes as given
    with pytest.raises(ValueError, match="hours"):
        Budget(hours=0).spread(3)


@pytest.mark.heavy
def test_dataset_study_states_an_hours_budget(tmp_path):
    adtof_with_splits(tmp_path / "a")
    out = tmp_path / "s"
    r = CliRunner().invoke(main, ["study", "datasets", "--data", f"a=adtof:{tmp_path / 'a'}", "--out", str(out),
                                  "--arch", "rnn", "--set", "L=2", "--set", "H=72", "--epochs", "1", "--hours", "0.05"])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "datasets.json").read_text())["budget"]["minutes"] == 3.0  # one training: all of it
    assert "0.05 h of training for the whole study" in (out / "datasets.md").read_text()


@pytest.mark.heavy
def test_a_resumed_study_does_not_train_a_spent_trial_again(tmp_path):
    """Killed after training but before its result was written, a trial resumes with its
    budget spent: it is scored again, not trained again."""
    adtof_with_splits(tmp_path / "a")
    out = tmp_path / "s"
    args = ["study", "datasets", "--data", f"a=adtof:{tmp_path / 'a'}", "--out", str(out), "--arch", "rnn",
            "--set", "L=2", "--set", "H=72", "--epochs", "5", "--minutes", "0.0001"]
    assert CliRunner().invoke(main, args).exit_code == 0
    (log,) = (out / "runs" / "a").glob("runs/*/log.jsonl")
    assert len(log.read_text().splitlines()) == 1  # the budget stopped it after one epoch
    (out / "runs" / "a" / "result.json").unlink()  # as if killed while scoring
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert len(log.read_text().splitlines()) == 1
    assert (out / "runs" / "a" / "result.json").exists()


def test_fit_refuses_gain_augmentation_of_level_normalised_features_before_any_work(tmp_path):
    adtof_with_splits(tmp_path / "data")
    run = tmp_path / "run"
    r = CliRunner().invoke(main, ["fit", "rnn", "--data", f"adtof:{tmp_path / 'data'}", "--out", str(run),
                                  "--level-norm", "--gain-db", "-30,0"])
    assert r.exit_code == 1 and "level-normalised" in r.output
    assert not run.exists()


def option_default(command, name):
    """The default of a command's option, as click declares it (`command`: "fit", "study datasets")."""
    cmd = main
    for part in command.split():
        cmd = cmd.commands[part]
    return next(p for p in cmd.params if p.name == name).default


def field_default(cls, name):
    from dataclasses import fields

    return next(f.default for f in fields(cls) if f.name == name)


def test_one_lookahead_default_everywhere_the_shipped_models():
    """TrainConfig, SearchConfig, the studies and the commands that label training data
    (init, fit, search) all default to one lookahead: the embedded default model's."""
    import inspect

    from offline.search import SearchConfig
    from offline.studies import architecture_study, dataset_study
    from offline.train import TrainConfig
    from rtadt.bundle import load_bundle

    want = field_default(TrainConfig, "lookahead_s")
    assert want == pytest.approx(load_bundle(None).lookahead_s)
    assert field_default(SearchConfig, "lookahead_s") == want
    for study in (architecture_study, dataset_study):
        assert inspect.signature(study).parameters["lookahead_s"].default == want
    for command in ("init", "fit", "search"):
        assert option_default(command, "lookahead_s") == want, command


def all_commands(group=main, prefix=""):
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            yield from all_commands(cmd, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", cmd


# setting -> the commands that take it (the studies label with their own widening, 1 frame)
SETTINGS = {"epochs": ("fit", "search", "study architectures", "study datasets"),
            "batches_per_epoch": ("fit", "search", "study architectures", "study datasets"),
            "lookahead_s": ("init", "fit", "search"), "widen": ("fit", "search"),
            "seed": ("init", "fit", "search", "study architectures", "study datasets"),
            "flavour": ("init", "fit", "search", "study architectures", "study datasets")}


@pytest.mark.parametrize("name", list(SETTINGS))
def test_one_name_and_one_default_per_setting(name):
    """TrainConfig's field, SearchConfig's and the studies' Budget's, and every command's
    option: one name and TrainConfig's default."""
    from offline.search import SearchConfig
    from offline.studies import Budget
    from offline.train import TrainConfig

    want = field_default(TrainConfig, name)
    assert field_default(SearchConfig, name) == want
    if name in ("epochs", "batches_per_epoch"):
        assert field_default(Budget, name) == want
    for command in SETTINGS[name]:
        assert option_default(command, name) == want, command


def test_no_command_has_another_name_for_a_setting():
    old = {"max_epochs", "max_batches", "max_batches_per_epoch", "lookahead", "batches"}
    for command, cmd in all_commands():
        assert not old & {p.name for p in cmd.params}, command
        flags = {o for p in cmd.params for o in getattr(p, "opts", ())}
        assert not flags & {"--max-batches", "--max-epochs", "--lookahead-s"}, command


def test_record_writes_a_scorecards_figures_into_a_bundle(tmp_path):
    from rtadt.bundle import load_bundle

    base = {"micro_f1": {"50ms": 0.7, "25ms": 0.6}, "f1_per_class_50ms": {"KD": 0.9},
            "latency_ms": {"median": 12.0, "p95": 20.0, "n": 5}, "velocity_r": {"KD": {"r": 0.5, "n": 30}}}
    payload = {"scores": {"flux": {"enst": {"0": base, "-30": {"micro_f1": {"50ms": 0.69, "25ms": 0.5}}}}}}
    card = tmp_path / "scorecard.json"
    card.write_text(json.dumps(payload))
    out = tmp_path / "recorded.rtadt"
    r = CliRunner().invoke(main, ["record", "flux", str(card), "--model", "flux", "--results", "somewhere/",
                                  "--describe", "enst=ENST test half", "-o", str(out)])
    assert r.exit_code == 0, r.output
    test = load_bundle(out).manifest["evaluation"]["test"]
    assert test["scores"]["enst"]["micro_f1_50ms"] == 0.7 and test["scores"]["enst"]["micro_f1_50ms_at_-30dB"] == 0.69
    assert test["scores"]["enst"]["velocity_r"] == {"KD": 0.5} and test["sets"] == {"enst": "ENST test half"}
    r = CliRunner().invoke(main, ["record", "flux", str(card), "--model", "crnn", "--results", "x", "-o", str(out)])
    assert r.exit_code == 1 and "no model 'crnn'" in r.output


@pytest.mark.heavy
def test_export_int8_tolerance_is_a_bound_that_can_refuse(tmp_path):
    from rtadt.bundle import load_bundle

    ckpt = tmp_path / "c.pt"
    assert CliRunner().invoke(main, ["init", "rnn", "--set", "L=2", "--set", "H=72", "-o", str(ckpt)]).exit_code == 0
    r = CliRunner().invoke(main, ["export", str(ckpt), "-o", str(tmp_path / "a.rtadt"), "--int8",
                                  "--int8-tolerance", "1e-9"])
    assert r.exit_code == 1 and "differ from torch" in r.output
    r = CliRunner().invoke(main, ["export", str(ckpt), "-o", str(tmp_path / "b.rtadt"), "--int8",
                                  "--int8-tolerance", "0.5"])
    assert r.exit_code == 0, r.output
    assert load_bundle(tmp_path / "b.rtadt").manifest["quantization"]["tolerance"] == 0.5


def fake_render(root: Path) -> Path:
    """A rendered set as `rtadt-train synth` lays it out, written by hand: three test examples
    (two kinds, two kits, two levels) of decaying noise bursts labelled at their onsets."""
    import numpy as np
    import soundfile as sf

    from offline.datasets.synth import write_annotations
    from rtadt.drums import Event

    rate, rng, examples = 44100, np.random.default_rng(0), []
    specs = [("drums", "hydrogen/A", -12.0, ["KD", "SD", "HH"]), ("drums", "avl/B", -31.0, ["SD", "HH"]),
             ("music", None, -35.5, [])]
    for i, (kind, kit, level, drums) in enumerate(specs):
        audio = np.zeros(4 * rate, np.float32)
        events = [Event(0.5 + 0.6 * k, d) for k, d in enumerate(drums * 2)]
        for e in events:
            n = int(e.time * rate)
            audio[n:n + 4000] += 0.5 * rng.standard_normal(4000).astype(np.float32) * np.exp(-np.arange(4000) / 600)
        name = f"test-{i:05d}"
        (root / "audio/test").mkdir(parents=True, exist_ok=True)
        (root / "annotations/test").mkdir(parents=True, exist_ok=True)
        sf.write(root / f"audio/test/{name}.wav", audio, rate)
        write_annotations(root / f"annotations/test/{name}.tsv", events)
        spec = {"id": name, "split": "test", "kind": kind, "level_db": level, **({"kit": kit} if kit else {})}
        examples.append({"id": name, "split": "test", "audio": f"audio/test/{name}.wav",
                         "annotations": f"annotations/test/{name}.tsv", "duration": 4.0, "spec": spec, "details": {}})
    (root / "manifest.json").write_text(json.dumps({"format": "rtadt-synth", "examples": examples}))
    return root


def test_rendered_examples_are_grouped_by_their_spec(tmp_path):
    from offline.datasets import synth

    tracks = synth.load(fake_render(tmp_path))
    assert [synth.example_group(t, "kind") for t in tracks] == ["drums", "drums", "music"]
    assert [synth.example_group(t, "kit") for t in tracks] == ["hydrogen/A", "avl/B", "no kit"]
    assert [synth.example_group(t, "family") for t in tracks] == ["A", "B", "no kit"]
    pearl = dataclasses.replace(tracks[1], meta={"spec": {**tracks[1].meta["spec"], "kit": "avl/Black_Pearl_4pc"}})
    assert synth.example_group(pearl, "family") == "black-pearl"  # one family with Hydrogen's Black Pearl
    assert [synth.example_group(t, "level") for t in tracks] == ["-20..-10 dBFS", "-40..-30 dBFS", "-40..-30 dBFS"]
    with pytest.raises(ValueError, match="one of"):
        synth.example_group(tracks[0], "tempo")
    with pytest.raises(ValueError, match="not a rendered example"):
        synth.example_group(dataclasses.replace(tracks[0], meta={}), "kind")


def test_evaluate_by_group_sums_to_the_whole(tmp_path):
    from offline.cli import evaluate
    from offline.datasets.synth import GROUPINGS

    assert tuple(next(p for p in evaluate.params if p.name == "by").type.choices) == GROUPINGS
    root = fake_render(tmp_path / "data")
    args = ["evaluate", "flux", "--dataset", "synth", "--root", str(root)]
    whole = CliRunner().invoke(main, [*args, "--json", str(tmp_path / "whole.json")])
    assert whole.exit_code == 0, whole.output
    for by, names in (("kind", ["drums", "music"]), ("level", ["-20..-10 dBFS", "-40..-30 dBFS"])):
        r = CliRunner().invoke(main, [*args, "--by", by, "--json", str(tmp_path / f"{by}.json")])
        assert r.exit_code == 0, r.output
        result = json.loads((tmp_path / f"{by}.json").read_text())
        groups = result.pop("by")
        assert sum(sum(v.values()) for v in result["false_positive_causes"].values()) == \
            result["windows"][-1]["micro"]["fp"]
        assert result == json.loads((tmp_path / "whole.json").read_text())  # the groups add up to the whole
        assert groups["grouping"] == by and list(groups["groups"]) == names
        assert all(f"| {n} |" in r.output for n in names) and "| detected | double | KD |" in r.output
    music = json.loads((tmp_path / "kind.json").read_text())["by"]["groups"]["music"]
    assert music["tracks"] == 1 and all(c["tp"] + c["fn"] == 0 for c in music["windows"][-1]["per_class"].values())
    r = CliRunner().invoke(main, ["evaluate", "flux", "--dataset", "slakh", "--root", str(SLAKH), "--split", "train",
                                  "--by", "kind"])
    if SLAKH.exists():
        assert r.exit_code != 0 and "not a rendered example" in r.output


def test_tuning_sets_weigh_rendered_families_once():
    """--by-family: each kit family of a rendered set is a set of its own, music alone (no family)
    is left out, and any other dataset stays one set; without it, each dataset is one set."""
    from offline.cli import tuning_sets
    from offline.datasets.base import Track

    def track(dataset, name, kit=None, kind="drums"):
        spec = {"kind": kind} | ({"kit": kit} if kit else {})
        return Track(dataset, name, "validation", (Path(name),), (1.0,), (), meta={"spec": spec})

    rendered = [track("synth", "a", "hydrogen/Audiophob"), track("synth", "b", "avl/Black_Pearl_4pc"),
                track("synth", "c", "hydrogen/The Black Pearl 1.0"), track("synth", "m", kind="music")]
    real = [track("enst", "p")]
    tracks, labels = tuning_sets([("synth", rendered), ("enst", real)], by_family=True)
    assert [t.name for t in tracks] == ["a", "b", "c", "p"]
    assert labels == ["0:Audiophob", "0:black-pearl", "0:black-pearl", 1]  # one family: Hydrogen's and AVL's pearl
    tracks, labels = tuning_sets([("synth", rendered), ("enst", real)])
    assert [t.name for t in tracks] == ["a", "b", "c", "m", "p"] and labels == [0, 0, 0, 0, 1]
