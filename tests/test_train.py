"""Training (offline.train): the protocol's loop on tiny synthetic tracks.

Kick drums are low decaying sine thumps, hi-hats short decaying bursts of high-passed noise,
at known onsets on a 16th-note grid. A small causal RNN learns them in a few epochs (that run
serves the tests of logging, best-epoch selection and export); a small causal CRNN, with
dropout and batch norm, serves the resume tests: one uninterrupted run against runs that are
killed mid-epoch or stopped early, then resumed. About 10 s on one CPU thread.
"""
from __future__ import annotations

import json
import sys
import math
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
import torch

from offline import train as T
from offline.checkpoint import load_checkpoint
from offline.datasets.base import Track
from offline.deploy.export import export_bundle
from rtadt.bundle import load_bundle
from rtadt.drums import CLASSES, Event
from rtadt.engine import transcribe_array
from rtadt.features import FeatureConfig, features_for_audio

RATE = 44100
SECONDS = 4.0
SEGMENT = 100  # 1 s segments: more, smaller batches than the study's 4 s
# Labels 20 ms after the onsets (the evidence of a hit is in the frames after it) and widened
# by one frame: a small model then learns the task in a few epochs.
# CFG, a CRNN with dropout and batch norm, for the resume tests: every kind of state matters.
CFG = T.TrainConfig(architecture="crnn", flavour="causal", hyperparameters={"L": 1, "H": 24}, lookahead_s=0.02,
                    widen=1, batch_size=4, lr=1e-2, epochs=4, batches_per_epoch=2, seed=1, device="cpu",
                    progress=False)  # cpu: exact resumption is a CPU promise (cuDNN may differ in the last bits)
# LEARN, a small RNN (fast on a CPU), for the tests that need a model that has learned.
LEARN = replace(CFG, architecture="rnn", hyperparameters={"L": 1, "H": 32}, batch_size=8, epochs=6,
                batches_per_epoch=None, tensorboard=True)


# ---------------------------------------------------------------------------------------
# synthetic drums


def write_drums(path, seed):
    """KD and HH hits on a 16th grid at 120 bpm; returns the events."""
    rng = np.random.default_rng(seed)
    n = int(SECONDS * RATE)
    x = 0.002 * rng.standard_normal(n)
    t = np.arange(int(0.25 * RATE)) / RATE
    kick = np.sin(2 * np.pi * (55 + 60 * np.exp(-t / 0.02)) * t) * np.exp(-t / 0.08)
    events = []
    for onset in np.arange(0.1, SECONDS - 0.3, 0.125):
        i = int(onset * RATE)
        if rng.random() < 0.35:
            x[i:i + len(kick)] += 0.8 * kick[: n - i]
            events.append(Event(float(onset), "KD"))
        if rng.random() < 0.5:
            noise = np.diff(rng.standard_normal(int(0.06 * RATE) + 1))  # differenced: high-passed
            hat = noise * np.exp(-np.arange(len(noise)) / (0.01 * RATE))
            x[i:i + len(hat)] += 0.3 * hat[: n - i]
            events.append(Event(float(onset), "HH"))
    sf.write(path, x.astype(np.float32), RATE, subtype="FLOAT")
    return tuple(events)


def make_tracks(root, train=6, validation=2):
    root.mkdir(parents=True, exist_ok=True)
    tracks = []
    for i in range(train + validation):
        path = root / f"t{i}.wav"
        events = write_drums(path, seed=100 + i)
        tracks.append(Track("synth", f"t{i}", "train" if i < train else "validation", (path,), (1.0,), events))
    return tracks


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny batches: one intra-op thread is faster than several fighting for a busy CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tracks(tmp_path_factory):
    return make_tracks(tmp_path_factory.mktemp("audio"))


@pytest.fixture(scope="module")
def caches(tracks, tmp_path_factory):
    return T.caches_for(tracks, FeatureConfig(), tmp_path_factory.mktemp("cache"), CFG.lookahead_s, CFG.widen,
                        segment_frames=SEGMENT, progress=False)


@pytest.fixture(scope="module")
def run4(caches, tmp_path_factory):
    """One uninterrupted 4-epoch run of CFG."""
    out = tmp_path_factory.mktemp("run4")
    return out, T.fit(CFG, *caches, out)


@pytest.fixture(scope="module")
def learned(caches, tmp_path_factory):
    """A run of LEARN: TensorBoard asked for (installed or not)."""
    out = tmp_path_factory.mktemp("learned")
    return out, T.fit(LEARN, *caches, out)


def read_log(out):
    return [json.loads(line) for line in (out / T.LOG).read_text().splitlines()]


# ---------------------------------------------------------------------------------------
# the pieces


def test_class_weights_are_inverse_binary_entropy():
    w = T.class_weights([10, 100, 0, 500, 1], 1000)
    for got, p in zip(w[[0, 1, 3, 4]], [0.01, 0.1, 0.5, 0.001]):
        assert got == pytest.approx(1 / (-p * math.log(p) - (1 - p) * math.log(1 - p)))
    assert w[2] == 1.0                                   # no onset: nothing to weight
    assert w[4] > w[0] > w[1] > w[3] > 1                 # rarer classes weigh more
    assert list(T.class_weights([10, 0], 100, "none")) == [1.0, 1.0]
    with pytest.raises(ValueError, match="entropy"):
        T.class_weights([1], 10, "inverse")


def test_sampling_weights_give_each_dataset_its_share():
    datasets = ["a"] * 10 + ["b"] * 30 + ["c"] * 60
    w = T.sampling_weights(datasets, {"a": 0.5})
    assert w.sum() == pytest.approx(1)
    by = {d: w[np.array(datasets) == d] for d in "abc"}
    assert by["a"].sum() == pytest.approx(0.5)
    assert by["b"].sum() == pytest.approx(0.5 * 30 / 90) and by["c"].sum() == pytest.approx(0.5 * 60 / 90)
    for d in "abc":                                       # within a dataset, every segment alike
        assert np.ptp(by[d]) == pytest.approx(0, abs=1e-15)
    assert T.sampling_weights(datasets, {"a": 0.2, "b": 0.3, "c": 0.5})[-1] == pytest.approx(0.5 / 60)
    # no share at all: each segment as likely as in a shuffle
    assert np.allclose(T.sampling_weights(datasets, {}), 1 / 100)


@pytest.mark.parametrize("shares, message", [({"d": 0.1}, "no training segment comes from it"),
                                             ({"a": 0.7, "b": 0.4}, "more than 1"),
                                             ({"a": 0.6, "b": 0.4}, "leave nothing for c"),
                                             ({"a": 0.2, "b": 0.3, "c": 0.4}, "must add up to 1")])
def test_sampling_weights_refuse_impossible_shares(shares, message):
    with pytest.raises(ValueError, match=message):
        T.sampling_weights(["a", "b", "b", "c"], shares)


def test_config_refuses_bad_shares():
    for shares in ({}, {"a": 0}, {"a": 1.5}, {"a": True}, {"a": 0.6, "b": 0.6}):
        with pytest.raises(ValueError, match="dataset_shares"):
            T.TrainConfig(dataset_shares=shares)


@pytest.fixture(scope="module")
def two_datasets(tracks, tmp_path_factory):
    """The synth tracks beside two training tracks of a second dataset, "real"."""
    real = [replace(t, dataset="real", name=f"r{i}") for i, t in enumerate(make_tracks(tmp_path_factory.mktemp("real"), 2, 0))]
    return T.caches_for(tracks + real, FeatureConfig(), tmp_path_factory.mktemp("cache2"), CFG.lookahead_s, CFG.widen,
                        segment_frames=SEGMENT, progress=False)


def test_training_loader_draws_each_dataset_at_its_share(two_datasets):
    train, _ = two_datasets
    datasets = np.array(train.segment_datasets())
    assert (datasets == "real").sum() == 8 and (datasets == "synth").sum() == 24   # 4 s tracks, 1 s segments
    cfg = replace(CFG, dataset_shares={"real": 0.5}, batches_per_epoch=500)
    loader, batches = T.training_loader(cfg, [train], torch.Generator().manual_seed(0))
    assert batches == 8                                   # capped by the segments: 32 / 4
    drawn = datasets[np.array(list(loader.sampler))]
    assert len(drawn) == batches * cfg.batch_size
    plain, _ = T.training_loader(replace(cfg, dataset_shares=None), [train], torch.Generator().manual_seed(0))
    assert sorted(plain.sampler) == list(range(32))      # no shares: each segment once
    many = datasets[np.concatenate([list(loader.sampler) for _ in range(400)])]
    assert (many == "real").mean() == pytest.approx(0.5, abs=0.02)   # 12800 draws: 4.4 standard errors
    assert T.dataset_shares(loader) == {"real": 0.5, "synth": 0.5}


def test_training_loader_order_comes_from_its_generator_alone(two_datasets):
    train, _ = two_datasets
    for shares in (None, {"real": 0.5}):
        cfg = replace(CFG, dataset_shares=shares, batches_per_epoch=None)
        orders = []
        for global_seed in (1, 2):
            torch.manual_seed(global_seed)  # the global RNG (gain augmentation's) must not matter
            loader, _ = T.training_loader(cfg, [train], torch.Generator().manual_seed(7))
            orders.append([list(loader.sampler) for _ in range(2)])
        assert orders[0] == orders[1] and orders[0][0] != orders[0][1]   # epochs differ, runs agree


def test_shares_change_training_record_themselves_and_resume_exactly(two_datasets, tmp_path):
    cfg = replace(CFG, dataset_shares={"real": 0.5}, epochs=2)
    plain = T.fit(replace(CFG, epochs=1), *two_datasets, tmp_path / "plain")
    T.fit(replace(cfg, epochs=1), *two_datasets, tmp_path / "a")
    assert read_log(tmp_path / "a")[0]["train_loss"] != pytest.approx(plain["history"][0]["train_loss"], abs=1e-6)
    T.fit(cfg, *two_datasets, tmp_path / "a", resume=True)
    summary = T.fit(cfg, *two_datasets, tmp_path / "b")
    assert summary["data"]["train"]["shares"] == {"real": 0.5, "synth": 0.5}
    for a, b in zip(read_log(tmp_path / "a"), read_log(tmp_path / "b"), strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-6)


def test_masked_bce_ignores_padding_and_weights_positives():
    torch.manual_seed(0)
    logits, targets = torch.randn(2, 6, 5), (torch.rand(2, 6, 5) > 0.7).float()
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    ones = torch.ones(5)
    base = T.masked_bce(logits, targets, mask, ones)
    changed = logits.clone()
    changed[1, 4:] = 100.0                               # padding: any value, same loss
    assert T.masked_bce(changed, targets, mask, ones) == pytest.approx(base.item())
    valid = torch.cat([logits[0], logits[1, :4]]), torch.cat([targets[0], targets[1, :4]])
    plain = torch.nn.functional.binary_cross_entropy_with_logits(*valid)
    assert base.item() == pytest.approx(plain.item(), rel=1e-6)
    heavier = T.masked_bce(logits, targets, mask, torch.full((5,), 3.0))
    assert heavier > base                                # positive terms weigh more


def max_matching(det, ref, window):
    """Brute force: maximum bipartite matching (augmenting paths)."""
    owner = {}

    def augment(i, seen):
        for j, r in enumerate(ref):
            if abs(det[i] - r) <= window and j not in seen:
                seen.add(j)
                if j not in owner or augment(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    return sum(augment(i, set()) for i in range(len(det)))


def test_match_onsets_is_a_maximum_matching():
    rng = np.random.default_rng(0)
    for _ in range(300):
        det = np.sort(rng.integers(0, 60, rng.integers(0, 12)))
        ref = np.sort(rng.integers(0, 60, rng.integers(0, 12)))
        w = int(rng.integers(0, 6))
        tp, fp, fn = T.match_onsets(det, ref, w)
        assert tp == max_matching(det, ref, w)
        assert (tp + fp, tp + fn) == (len(det), len(ref))
    assert T.match_onsets([10], [15], 5) == (1, 0, 0) and T.match_onsets([10], [16], 5) == (0, 1, 1)


def test_config_is_validated():
    with pytest.raises(ValueError, match="architecture"):
        T.TrainConfig(architecture="nope")
    with pytest.raises(ValueError, match="flavour"):
        T.TrainConfig(flavour="live")
    with pytest.raises(ValueError, match="batch_size"):
        T.TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="class_weighting"):
        T.TrainConfig(class_weighting="inverse")
    with pytest.raises(ValueError, match="rnn has no hyperparameter Q; it has H, L, cell, dropout"):
        T.TrainConfig(architecture="rnn", hyperparameters={"Q": 3})
    with pytest.raises(ValueError, match="cell must be one of"):
        T.TrainConfig(architecture="rnn", hyperparameters={"cell": "rnn"})
    assert T.TrainConfig(device="cpu").resolved_device() == torch.device("cpu")


def test_caches_for_splits_and_checks(caches, tmp_path):
    train, val = caches
    assert {t["split"] for t in train.tracks if t["split"] in train.splits} == {"train"}
    assert len(train) == 6 * 4 and len(val) == 2 * 4      # 4 s tracks, 1 s segments
    assert train.class_frequencies()[CLASSES.index("KD")] > 0
    with pytest.raises(ValueError, match="lookahead"):
        T.fit(replace(CFG, lookahead_s=0.01), train, val, tmp_path / "x")
    only_train = make_tracks(tmp_path / "a", 1, 0)
    with pytest.raises(ValueError, match="validation split"):
        T.caches_for(only_train, FeatureConfig(), tmp_path / "c", 0.0, 0, segment_frames=SEGMENT, progress=False)


def test_missing_tensorboard_is_a_clear_note(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    assert T._tensorboard(tmp_path) is None
    assert "pip install tensorboard" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# the run


def test_loss_decreases_and_every_epoch_is_logged(learned):
    out, summary = learned
    log = read_log(out)
    assert [r["epoch"] for r in log] == list(range(1, LEARN.epochs + 1))
    for r in log:
        assert set(r) >= {"epoch", "train_loss", "val_loss", "val_f1", "val_f1_per_class", "lr", "seconds"}
        assert set(r["val_f1_per_class"]) == set(CLASSES)
        assert 0 <= r["val_f1"] <= 1 and r["batches"] == 3  # 24 segments in batches of 8
    assert log[-1]["train_loss"] < 0.5 * log[0]["train_loss"]
    assert log[-1]["val_loss"] < log[0]["val_loss"]
    assert max(r["val_f1"] for r in log) > 0.6           # it has learned kick and hi-hat
    assert summary["epochs"] == LEARN.epochs and summary["stopped"] == "max epochs"
    assert summary["history"] == log
    assert json.loads((out / T.CONFIG).read_text())["hyperparameters"] == LEARN.hyperparameters
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:
        pass  # fit printed a note and went on without it
    else:
        assert any((out / T.TENSORBOARD).iterdir())


def test_best_checkpoint_is_the_best_f1_epoch(learned, caches):
    out, summary = learned
    log = read_log(out)
    best = max(log, key=lambda r: (r["select_f1"], -r["val_loss"]))
    assert best["select_f1"] > min(r["select_f1"] for r in log)  # not a trivial choice
    model, ckpt = load_checkpoint(out / T.BEST)
    assert ckpt["evaluation"]["validation"]["epoch"] == best["epoch"] == summary["best_epoch"]
    assert ckpt["evaluation"]["validation"]["f1_micro"] == best["select_f1"] == summary["best_val_f1"]
    assert ckpt["thresholds"] == best["select_thresholds"] and ckpt["training"]["best_val_f1"] == best["select_f1"]
    # the weights in best.pt are those that scored it
    _, val = caches
    loader = torch.utils.data.DataLoader(val, batch_size=8)
    weights = torch.tensor(list(summary["class_weights"].values()), dtype=torch.float32)
    again = T.validate(model, loader, weights, LEARN, val.feature_config, torch.device("cpu"))
    assert again["f1"] == best["val_f1"] and again["select_f1"] == best["select_f1"]
    assert again["loss"] == pytest.approx(best["val_loss"], rel=1e-5)
    last = torch.load(out / T.LAST, weights_only=True)
    assert last["epoch"] == LEARN.epochs and last["best"]["epoch"] == best["epoch"]


def test_tuned_validation_f1_is_the_best_per_class_threshold(learned, caches):
    """select_f1 against a brute force over the grid with the evaluation's own matching."""
    from offline.metrics import THRESHOLD_GRID, onset_counts
    from rtadt.peaks import pick_peaks

    out, summary = learned
    model, _ = load_checkpoint(out / T.BEST)
    _, val = caches
    segments = [val[i] for i in range(len(val))]
    with torch.no_grad():
        acts = [torch.sigmoid(model(torch.from_numpy(x[None]))).numpy()[0] for x, _, _ in segments]
    best_counts = []
    for c in range(5):
        per_threshold = []
        for th in THRESHOLD_GRID:
            tp = fp = fn = 0
            for (x, y, m), a in zip(segments, acts):
                n = int(m.sum())
                det = pick_peaks(a[:n], th)[c]
                ref = np.flatnonzero(y[:n, c] == 1.0)
                counts = onset_counts(ref.astype(float), det.astype(float), 5)
                tp, fp, fn = tp + counts[0], fp + counts[1], fn + counts[2]
            per_threshold.append((tp, fp, fn))
        f1 = [2 * t / max(2 * t + p + n, 1) for t, p, n in per_threshold]
        tied = np.flatnonzero(np.array(f1) == max(f1))  # the documented rule: the median tied threshold
        best_counts.append(per_threshold[tied[(len(tied) - 1) // 2]] if per_threshold[0][0] + per_threshold[0][2] else
                           per_threshold[int(np.argmin(np.abs(THRESHOLD_GRID - 0.5)))])
    tp, fp, fn = np.sum(best_counts, axis=0)
    weights = torch.tensor(list(summary["class_weights"].values()), dtype=torch.float32)
    v = T.validate(model, torch.utils.data.DataLoader(val, batch_size=8), weights, LEARN, val.feature_config,
                   torch.device("cpu"))
    assert v["select_f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))


class Silent(torch.nn.Module):
    """A model that never speaks: activation sigmoid(-20) on every frame and class."""

    num_classes = len(CLASSES)

    def forward(self, x):
        return torch.full((x.shape[0], x.shape[1], self.num_classes), -20.0)


def test_validation_scores_empty_classes_as_the_evaluation_does(caches):
    """The validation segments hold KD and HH onsets only. A silent model scores F1 0 on
    those two and, by the evaluation's convention for empty sets (offline.metrics.prf),
    1 on SD, TT and CY, which it rightly leaves silent; its micro F1 is 0."""
    from offline.metrics import Counts, score_events

    _, val = caches
    v = T.validate(Silent(), torch.utils.data.DataLoader(val, batch_size=8), torch.ones(5), CFG,
                   val.feature_config, torch.device("cpu"))
    assert v["counts"]["tp"] == v["counts"]["fp"] == 0 and v["counts"]["fn"] > 0
    # the evaluation's scores of a silent transcription of a track with KD and HH hits
    want = score_events({"KD": [1.0], "HH": [1.0]}, {}).per_class(0.05)
    assert v["f1_per_class"] == {c: want[c].f1 for c in CLASSES} == {"KD": 0.0, "SD": 1.0, "TT": 1.0, "HH": 0.0,
                                                                       "CY": 1.0}
    assert v["f1"] == v["select_f1"] == Counts(0, 0, v["counts"]["fn"]).f1 == 0.0
    assert v["select_thresholds"][CLASSES.index("SD")] == CFG.threshold  # untunable: the configured one


def test_fixed_selection_keeps_the_configured_threshold(caches, tmp_path):
    train, val = caches
    cfg = replace(LEARN, epochs=1, selection="fixed")
    T.fit(cfg, train, val, tmp_path / "run")
    _, ckpt = load_checkpoint(tmp_path / "run" / T.BEST)
    record = read_log(tmp_path / "run")[0]
    assert ckpt["thresholds"] == [0.5] * 5 and record["select_f1"] == record["val_f1"]
    with pytest.raises(ValueError, match="selection"):
        replace(LEARN, selection="best")


def test_best_checkpoint_exports_to_a_bundle_that_transcribes(learned, tracks, tmp_path):
    out, _ = learned
    model, ckpt = load_checkpoint(out / T.BEST)
    path = export_bundle(model, tmp_path / "trained.rtadt", FeatureConfig.from_dict(ckpt["features"]),
                         name="trained", lookahead_s=ckpt["lookahead_s"], architecture=ckpt["architecture"],
                         classes=tuple(ckpt["classes"]), thresholds=ckpt["thresholds"],
                         training=ckpt["training"], evaluation=ckpt["evaluation"], check_frames=120)
    bundle = load_bundle(path)
    assert bundle.has_step
    assert bundle.manifest["training"]["best_epoch"] == ckpt["training"]["best_epoch"]
    assert bundle.manifest["evaluation"]["validation"]["f1_micro"] == ckpt["evaluation"]["validation"]["f1_micro"]
    # the runtime, streaming, finds the validation track's hits
    track = next(t for t in tracks if t.split == "validation")
    events = transcribe_array(bundle, *track.load_audio())
    found = sum(any(e.drum == hit.drum and abs(e.time - hit.time) <= 0.05 for e in events) for hit in track.events)
    assert found >= 0.5 * len(track.events), (found, len(track.events), len(events))


def test_an_existing_run_needs_resume(run4, caches):
    out, _ = run4
    with pytest.raises(T.RunExistsError, match="--resume"):
        T.fit(CFG, *caches, out)


@pytest.mark.heavy
def test_a_killed_run_resumes_exactly(run4, caches, tmp_path):
    out4, _ = run4

    class Killed(Exception):
        pass

    def kill(epoch, step, loss):
        if (epoch, step) == (3, 1):
            raise Killed

    with pytest.raises(Killed):
        T.fit(CFG, *caches, tmp_path, on_batch=kill)
    assert torch.load(tmp_path / T.LAST, weights_only=True)["epoch"] == 2  # the last complete epoch
    assert [r["epoch"] for r in read_log(tmp_path)] == [1, 2]
    with open(tmp_path / T.LOG, "a") as f:  # a line of the killed epoch (as if killed while writing)
        f.write('{"epoch": 3}\n')
    T.fit(CFG, *caches, tmp_path, resume=True)

    want, got = read_log(out4), read_log(tmp_path)
    assert [r["epoch"] for r in got] == [1, 2, 3, 4]
    for a, b in zip(want, got):
        for key in ("train_loss", "val_loss", "lr"):
            assert b[key] == pytest.approx(a[key], abs=1e-6), (a["epoch"], key)
        assert b["val_f1"] == a["val_f1"]
    a, b = (torch.load(d / T.LAST, weights_only=True)["state_dict"] for d in (out4, tmp_path))
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=1e-6)


@pytest.mark.heavy
def test_a_run_stopped_at_max_epochs_continues_with_more(run4, caches, tmp_path):
    out4, _ = run4
    T.fit(replace(CFG, epochs=2), *caches, tmp_path)
    summary = T.fit(CFG, *caches, tmp_path, resume=True)
    assert summary["epochs"] == 4
    for a, b in zip(read_log(out4), read_log(tmp_path)):
        assert b["train_loss"] == pytest.approx(a["train_loss"], abs=1e-6)
        assert b["val_loss"] == pytest.approx(a["val_loss"], abs=1e-6)


def test_resume_refuses_another_model(run4, caches, tmp_path):
    out4, _ = run4
    with pytest.raises(ValueError, match="hyperparameters"):
        T.fit(replace(CFG, hyperparameters={"L": 2, "H": 24}), *caches, out4, resume=True)


def test_a_run_written_under_the_old_field_names_resumes_without_changes(run4, caches, tmp_path, capsys):
    """last.pt of a run from before max_epochs and max_batches_per_epoch were renamed epochs
    and batches_per_epoch: resuming it with the same settings reports no changed setting."""
    import shutil

    out4, _ = run4
    shutil.copytree(out4, tmp_path / "old")
    last = torch.load(tmp_path / "old" / T.LAST, weights_only=True)
    config = last["train_config"]
    config["max_epochs"], config["max_batches_per_epoch"] = config.pop("epochs"), config.pop("batches_per_epoch")
    torch.save(last, tmp_path / "old" / T.LAST)
    capsys.readouterr()
    T.fit(CFG, *caches, tmp_path / "old", resume=True)  # 4 of 4 epochs done: nothing to train
    assert "resuming with changed" not in capsys.readouterr().err
    T.fit(replace(CFG, batches_per_epoch=3), *caches, tmp_path / "old", resume=True)
    assert "resuming with changed batches_per_epoch: 2 -> 3" in capsys.readouterr().err


def test_early_stopping_and_lr_schedule_follow_the_validation_loss(caches, tmp_path):
    # A far too high lr makes the validation loss wobble: the lr must drop after every epoch
    # without a decrease (lr_patience 0), and the run stop after `patience` of them in a row.
    cfg = replace(LEARN, lr=0.3, patience=2, lr_patience=0, epochs=12, tensorboard=False)
    summary = T.fit(cfg, *caches, tmp_path)
    log = read_log(tmp_path)
    assert summary["stopped"] == "early stopping" and len(log) < cfg.epochs
    lowest, bad, lr = math.inf, 0, cfg.lr
    for i, r in enumerate(log):
        assert r["lr"] == pytest.approx(lr)
        if r["val_loss"] < lowest:
            lowest, bad = r["val_loss"], 0
        else:
            bad += 1
            lr *= cfg.lr_factor
        assert (bad >= cfg.patience) == (i == len(log) - 1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_fit_on_cuda_writes_checkpoints_that_load_on_cpu(caches, tmp_path):
    cfg = replace(LEARN, device="cuda", epochs=2, tensorboard=False)
    summary = T.fit(cfg, *caches, tmp_path)
    assert summary["device"].startswith("cuda") and summary["epochs"] == 2
    model, ckpt = load_checkpoint(tmp_path / T.BEST)  # mapped to the CPU
    assert next(model.parameters()).device.type == "cpu"
    summary = T.fit(replace(cfg, epochs=3), *caches, tmp_path, resume=True)
    assert [r["epoch"] for r in summary["history"]] == [1, 2, 3]


# ---------------------------------------------------------------------------------------
# level augmentation and initial weights


@pytest.mark.parametrize("gain_db", [-40.0, -12.0, 0.0, 6.0, 20.0])
def test_with_gain_equals_the_features_of_the_gained_audio(tracks, gain_db):
    cfg = FeatureConfig()
    audio, rate = tracks[0].load_audio()
    quiet = 0.05 * audio  # room above for +20 dB: features take any amplitude, nothing clips
    want = features_for_audio(quiet * 10 ** (gain_db / 20), rate, cfg)
    have = features_for_audio(quiet, rate, cfg)
    got = T.with_gain(torch.from_numpy(have)[None], torch.tensor([gain_db]), cfg)[0].numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    if gain_db != 0:  # the transform does something the tolerance would see
        assert np.abs(have - want).max() > 1e-3


def test_with_gain_applies_one_gain_per_segment_and_refuses_difference_features():
    x = torch.rand(3, 10, FeatureConfig().num_bands)
    out = T.with_gain(x, torch.tensor([0.0, -20.0, 10.0]), FeatureConfig())
    torch.testing.assert_close(out[0], x[0], rtol=1e-6, atol=1e-6)
    assert (out[1] < x[1]).all() and (out[2] > x[2]).all()
    with pytest.raises(ValueError, match="positive differences"):
        T.with_gain(x, torch.zeros(3), FeatureConfig(positive_diff=True))
    with pytest.raises(ValueError, match="level-normalised"):
        T.with_gain(x, torch.zeros(3), FeatureConfig(level_norm=True))
    with pytest.raises(ValueError, match="gain_db"):
        replace(CFG, gain_db=(10.0, -10.0))


@pytest.mark.heavy
def test_gain_augmentation_changes_training_and_resumes_exactly(caches, tmp_path):
    cfg = replace(CFG, gain_db=(-30.0, 10.0), epochs=2)
    plain = T.fit(replace(CFG, epochs=1), *caches, tmp_path / "plain")
    T.fit(replace(cfg, epochs=1), *caches, tmp_path / "a")
    assert read_log(tmp_path / "a")[0]["train_loss"] != pytest.approx(plain["history"][0]["train_loss"], abs=1e-6)
    T.fit(cfg, *caches, tmp_path / "a", resume=True)
    T.fit(cfg, *caches, tmp_path / "b")
    for a, b in zip(read_log(tmp_path / "a"), read_log(tmp_path / "b")):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-6)


@pytest.mark.heavy
def test_init_from_starts_from_the_checkpoints_weights(run4, caches, tmp_path):
    out4, _ = run4
    start = torch.load(out4 / T.BEST, weights_only=True)["state_dict"]
    seen = {}

    def first_batch(epoch, step, loss):
        seen.setdefault("loss", loss)

    cfg = replace(CFG, init_from=str(out4 / T.BEST), epochs=1, lr=1e-12)
    T.fit(cfg, *caches, tmp_path / "init", on_batch=first_batch)
    after = torch.load(tmp_path / "init" / T.LAST, weights_only=True)["state_dict"]
    for k, v in start.items():
        if v.dtype.is_floating_point and "running" not in k:  # batch-norm statistics move in train mode
            torch.testing.assert_close(after[k], v, rtol=0, atol=1e-6)
    fresh = T.fit(replace(CFG, epochs=1), *caches, tmp_path / "fresh")
    assert seen["loss"] < fresh["history"][0]["train_loss"]


@pytest.mark.heavy
def test_init_from_crosses_level_normalisation_and_hop_and_nothing_else(run4, tracks, tmp_path, capsys):
    out4, _ = run4
    def changed_caches(**changes):
        return T.caches_for(tracks, FeatureConfig(**changes), tmp_path / "-".join(map(str, changes.values())),
                            CFG.lookahead_s, CFG.widen, segment_frames=SEGMENT, progress=False)
    cfg = replace(CFG, init_from=str(out4 / T.BEST), epochs=1)
    summary = T.fit(cfg, *changed_caches(level_norm=True), tmp_path / "level")
    assert summary["history"][0]["epoch"] == 1
    assert "change of level normalisation" in capsys.readouterr().err
    summary = T.fit(cfg, *changed_caches(level_norm=True, hop_size=220), tmp_path / "hop")
    assert summary["history"][0]["epoch"] == 1
    assert "change of hop size" in capsys.readouterr().err
    with pytest.raises(ValueError, match="feature config"):
        T.fit(cfg, *changed_caches(level_norm=True, fmin=30.0), tmp_path / "other")
    with pytest.raises(ValueError, match="feature config"):
        T.fit(cfg, *changed_caches(frame_size=1024), tmp_path / "window")


def test_init_from_refuses_another_model(run4, caches, tmp_path):
    out4, _ = run4
    with pytest.raises(ValueError, match="do not fit"):
        T.fit(replace(CFG, hyperparameters={"L": 1, "H": 16}, init_from=str(out4 / T.BEST)), *caches, tmp_path / "x")
    with pytest.raises(ValueError, match="architecture"):
        T.fit(replace(CFG, architecture="rnn", hyperparameters={}, init_from=str(out4 / T.BEST)), *caches,
              tmp_path / "y")
    with pytest.raises(FileNotFoundError):
        T.fit(replace(CFG, init_from=str(tmp_path / "none.pt")), *caches, tmp_path / "z")
