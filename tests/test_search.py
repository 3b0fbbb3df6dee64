"""Hyperparameter search (offline.search): the trials, their run directories, resuming a
trial, and one small search on a local Ray, run twice (the second run restores it).

The trials' tracks are test_train's synthetic drums; a trial is a small causal RNN trained
for a batch or two. The end-to-end test starts Ray (several seconds).
"""
from __future__ import annotations

import json
import math
import sys

import pytest

from offline import search as S
from offline.train import LOG, caches_for
from rtadt.features import FeatureConfig
from tests.test_train import SEGMENT, make_tracks, one_thread  # noqa: F401 (autouse fixture)

LOOKAHEAD, WIDEN = 0.02, 1


def tiny(**kw) -> S.SearchConfig:
    base = dict(architecture="rnn", space={"L": 2, "H": 72, "cell": "gru"}, epochs=1, batches_per_epoch=2,
                lookahead_s=LOOKAHEAD, widen=WIDEN)
    return S.SearchConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def caches(tmp_path_factory):
    tracks = make_tracks(tmp_path_factory.mktemp("audio"))
    return caches_for(tracks, FeatureConfig(), tmp_path_factory.mktemp("cache"), LOOKAHEAD, WIDEN,
                      segment_frames=SEGMENT, progress=False)


def read_log(run_dir):
    return (run_dir / LOG).read_text().splitlines()


# ---------------------------------------------------------------------------------------
# without Ray


def test_without_ray_the_search_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "ray.tune", None)
    with pytest.raises(S.SearchUnavailable, match=r"ray\[tune\] is not installed.*pip install 'rtadt\[search\]'"):
        S.require_ray()
    with pytest.raises(S.SearchUnavailable):  # before anything else is done
        S.search(tiny(), None, None, tmp_path)
    assert not any(tmp_path.iterdir())


# ---------------------------------------------------------------------------------------
# the trials


def test_the_grid_is_the_product_of_the_restricted_space():
    cfg = S.SearchConfig(architecture="rnn", space={"L": [3, 2], "cell": "gru"})
    assert S.space(cfg) == {"L": (2, 3), "H": (72, 144, 288), "cell": ("gru",)}  # SPACE's order
    trials = S.trials(cfg)
    assert sorted((t["L"], t["H"], t["cell"]) for t in trials) == sorted(
        (L, H, "gru") for L in (2, 3) for H in (72, 144, 288))
    assert len(S.trials(S.SearchConfig(architecture="rnn"))) == 5 * 3 * 2
    assert len(S.trials(S.SearchConfig(architecture="vit"))) == 240


@pytest.mark.parametrize("space, message", [
    ({"X": (1,)}, "rnn has no hyperparameter 'X' in its search space; it has L, H, cell"),
    ({"H": (72, 100)}, "H=100 is not in its search space; H takes 72, 144, 288"),
    ({"cell": "rnn"}, "cell='rnn' is not in"),
    ({"L": ()}, "no value given for L; L takes 2, 3, 4, 5, 6"),
])
def test_a_space_outside_the_architectures_is_refused(space, message):
    with pytest.raises(ValueError, match=message):
        S.SearchConfig(architecture="rnn", space=space)


def test_random_draws_are_distinct_and_reproducible():
    draw = lambda seed, n=6: S.trials(S.SearchConfig(architecture="crnn", mode="random", samples=n, seed=seed))
    first = draw(3)
    assert first == draw(3)
    assert len(first) == 6 and len({tuple(sorted(t.items())) for t in first}) == 6  # without replacement
    assert all(t in S.trials(S.SearchConfig(architecture="crnn")) for t in first)
    assert any(draw(seed) != first for seed in (4, 5, 6))
    assert len(draw(0, 24)) == 24  # the whole space, in some order
    with pytest.raises(ValueError, match="25 trials over a space of 24"):
        draw(0, 25)


def test_run_directories_are_named_after_the_trial():
    trials = S.trials(S.SearchConfig(architecture="rnn", space={"L": (2, 3)}, samples=2))
    names = [S.run_name("rnn", t) for t in trials]
    assert len(trials) == 2 * 2 * 3 * 2 and len(set(names)) == len(names)
    assert S.run_name("rnn", {"L": 3, "H": 144, "cell": "gru"}) == "rnn-H=144-L=3-cell=gru"
    assert S.run_name("rnn", {"cell": "gru", "L": 3, "H": 144}) == "rnn-H=144-L=3-cell=gru"  # any order
    assert S.run_name("rnn", {"L": 3, "H": 144, "cell": "gru", "repeat": 0}) == "rnn-H=144-L=3-cell=gru"
    assert S.run_name("rnn", {"L": 3, "H": 144, "cell": "gru", "repeat": 1}) == "rnn-H=144-L=3-cell=gru-r1"
    # a repeat of the grid is another seed: on a CPU the same seed would give the same run
    cfg = S.SearchConfig(architecture="rnn", seed=5)
    assert [S.train_config(cfg, dict(L=2, H=72, cell="gru", repeat=r)).seed for r in (0, 1)] == [5, 6]


def test_the_best_trial_has_the_highest_f1_then_the_fewest_parameters():
    row = lambda name, f1, params: {"name": name, "best_f1": f1, "parameters": params}
    rows, best = S.rank([row("a", 0.5, 10), row("b", None, None), row("c", 0.7, 30), row("d", 0.7, 20),
                         row("e", 0.7, 20), row("f", 0.0, 5)])
    assert [r["name"] for r in rows] == ["d", "e", "c", "a", "f", "b"] and best["name"] == "d"
    assert S.rank([row("b", None, None)]) == ([row("b", None, None)], None)  # no trial has an epoch yet


# ---------------------------------------------------------------------------------------
# a trial, without Ray


@pytest.mark.heavy
def test_an_interrupted_trial_continues_at_its_next_epoch(caches, tmp_path):
    trial = S.trials(tiny())[0]
    reports = []
    first = S.run_trial(tiny(epochs=1), trial, *caches, tmp_path, report=reports.append)
    run_dir = tmp_path / S.run_name("rnn", trial)
    assert first["epochs"] == 1 and first["run_dir"] == str(run_dir)
    epoch1 = read_log(run_dir)
    assert [r["epoch"] for r in reports] == [1]

    # Tune starts the trial again (here with a larger epoch budget): epoch 1 is not redone
    reports.clear()
    second = S.run_trial(tiny(epochs=2), trial, *caches, tmp_path, report=reports.append)
    assert read_log(run_dir)[:1] == epoch1 and len(read_log(run_dir)) == 2
    assert [r["epoch"] for r in reports] == [2]
    history = [json.loads(line) for line in read_log(run_dir)]
    best = max(r.get("select_f1", r["val_f1"]) for r in history)
    assert reports[0]["best_f1"] == best == second["best_f1"]
    assert second["epochs"] == 2 and second["best_epoch"] in (1, 2) and second["parameters"] > 0
    assert second["best_path"] == str(run_dir / "best.pt")


def test_a_trial_marks_its_run_done_only_when_it_finishes(caches, tmp_path, monkeypatch):
    """The search reads a trial's status from this marker before Tune's restored state, which
    can predate the trial's last result."""
    cfg = tiny()
    trial = S.trials(cfg)[0]
    run_dir = tmp_path / S.run_name(cfg.architecture, trial)

    def interrupted(*args, **kwargs):
        run_dir.mkdir(parents=True, exist_ok=True)
        raise KeyboardInterrupt

    monkeypatch.setattr(S, "fit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        S.run_trial(cfg, trial, *caches, tmp_path)
    assert not (run_dir / S.DONE).exists()
    monkeypatch.undo()
    S.run_trial(cfg, trial, *caches, tmp_path)
    assert (run_dir / S.DONE).exists()


def test_a_trial_whose_budget_is_spent_does_not_train_again(caches, tmp_path, monkeypatch):
    cfg = tiny(epochs=5, minutes=1e-6)  # spent by the first epoch
    trial = S.trials(cfg)[0]
    first = S.run_trial(cfg, trial, *caches, tmp_path)
    assert first["epochs"] == 1

    def no_fit(*args, **kwargs):
        raise AssertionError("fit called for a trial whose budget is spent")

    monkeypatch.setattr(S, "fit", no_fit)
    reports = []
    again = S.run_trial(cfg, trial, *caches, tmp_path, report=reports.append)
    assert again == first
    assert len(reports) == 1 and reports[0]["epoch"] == 1 and reports[0]["best_f1"] == first["best_f1"]


# ---------------------------------------------------------------------------------------
# the search, on a local Ray


@pytest.mark.heavy
def test_a_search_runs_every_trial_picks_the_best_and_resumes(caches, tmp_path):
    pytest.importorskip("ray")
    cfg = tiny(space={"L": 2, "H": 72})  # gru and lstm: two trials
    out = tmp_path / "search"
    result = S.search(cfg, *caches, out)

    written = json.loads((out / "search.json").read_text())
    assert written == json.loads(json.dumps(result))
    rows = written["trials"]
    assert written["finished"]
    assert sorted(r["name"] for r in rows) == ["rnn-H=72-L=2-cell=gru", "rnn-H=72-L=2-cell=lstm"]
    for r in rows:
        assert r["status"] == "done" and r["epochs"] == 1 and math.isfinite(r["best_f1"])
    assert written["best"]["best_f1"] == max(r["best_f1"] for r in rows)
    assert (out / "runs" / written["best"]["name"] / "best.pt").exists()
    assert written["best"]["best_path"] == str((out / "runs" / written["best"]["name"] / "best.pt").resolve())
    md = (out / "search.md").read_text()
    assert "**best**" in md and "rnn (causal)" in md and "at most 1 epochs of 2 batches" in md

    # run again: Tune's experiment is restored, its finished trials are not run again
    logs = {r["name"]: (out / "runs" / r["name"] / LOG).stat().st_mtime_ns for r in rows}
    again = S.search(cfg, *caches, out)
    assert {r["name"]: (out / "runs" / r["name"] / LOG).stat().st_mtime_ns for r in rows} == logs
    assert again["trials"] == result["trials"] and again["best"] == result["best"]

    # other settings are refused (before Ray starts)
    with pytest.raises(ValueError, match="holds a search with other epochs"):
        S.search(tiny(space={"L": 2, "H": 72}, epochs=2), *caches, out)
