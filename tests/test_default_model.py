"""The shipped default model (rtadt/models/default.rtadt): a learnt causal model, hosted by the
runtime alone, that transcribes the example recording better than the flux baseline, at any
input level.

The truth is the example recording's ground truth (rtadt/data/example.tsv, the MIDI it was
rendered from, at the measured acoustic onsets); the example's kit (FluidR3's standard GM kit)
is a training kit, so these tests prove the shipped model is sound, not how well it transfers
(offline/results/default-model/ does that, on real recordings).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from offline.evaluate import evaluate_bundle
from rtadt.bundle import DEFAULT_BUNDLE, FLUX_BUNDLE, load_bundle
from rtadt.engine import StepModel
from rtadt.sources import example_path


@pytest.fixture(scope="module")
def default():
    return load_bundle(DEFAULT_BUNDLE)


def f1(bundle, track, gain_db=0.0):
    return evaluate_bundle(bundle, [track], "streaming", progress=False, gain_db=gain_db).f1(0.05)


def test_the_default_is_a_learnt_causal_model_with_its_record(default):
    m = default.manifest
    assert m["architecture"]["name"] in ("rnn", "crnn", "cnn", "conv_transformer", "vit")
    assert default.has_step and default.classes == ("KD", "SD", "TT", "HH", "CY")
    # trained on hours of audio, not a test's seconds (a weight average: each of its members)
    trainings = list(m["training"]["members"].values()) if "weight_average_of" in m["training"] else [m["training"]]
    assert trainings and all(t["data"]["train"]["hours"] > 1 for t in trainings)
    assert "peaks_tuned_on" in m["training"]
    assert m["evaluation"]  # the figures it was chosen by travel with it
    assert 0 < default.lookahead_s <= 0.03


@pytest.fixture(scope="module")
def example_features(default):
    """The first 6 s of the example recording, as the default model's features [T, F]."""
    from rtadt.features import features_for_audio
    from rtadt.sources import read_audio

    audio, rate = read_audio(example_path())
    return features_for_audio(audio[: rate * 6], rate, default.features).astype(np.float32)


def test_step_graph_follows_the_window_graph(default, example_features):
    """The live step and the whole-window graph agree on real features."""
    x = example_features
    window = default.session("window").run(["activations"], {"features": x[None]})[0][0]
    step = StepModel.from_bundle(default)
    rows = np.array([step.push(f)[0][1] for f in x])
    assert np.abs(rows - window).max() < 0.03


CHECKPOINTS = Path(__file__).resolve().parents[1] / "offline" / "checkpoints"


def test_the_committed_checkpoint_holds_the_shipped_weights(default, example_features):
    """offline/checkpoints/default-crnn.pt is where the next training starts (`fit --init-from`):
    its torch model gives the shipped bundle's whole-window activations (float32 ONNX)."""
    import torch
    from offline.checkpoint import load_checkpoint

    model, ckpt = load_checkpoint(CHECKPOINTS / "default-crnn.pt")
    assert ckpt["architecture"] == default.manifest["architecture"]["name"]
    assert ckpt["lookahead_s"] == default.lookahead_s and ckpt["features"] == default.manifest["features"]
    x = example_features
    window = default.session("window").run(["activations"], {"features": x[None]})[0][0]
    with torch.no_grad():
        torch_act = torch.sigmoid(model(torch.from_numpy(x[None])))[0].numpy()
    assert np.abs(torch_act - window).max() < 1e-4


@pytest.mark.parametrize("path", sorted(CHECKPOINTS.glob("*.pt")), ids=lambda p: p.name)
def test_every_committed_checkpoint_builds_its_model(path):
    """Trainings continue from these across sessions: each must still load, strictly, into the
    model its record describes (a change to an architecture that breaks them fails here)."""
    from offline.checkpoint import load_checkpoint

    model, ckpt = load_checkpoint(path)
    assert ckpt["classes"] == ["KD", "SD", "TT", "HH", "CY"] and 0 <= ckpt["lookahead_s"] <= 0.03
    assert sum(p.numel() for p in model.parameters()) > 100_000


def test_transcribes_the_example_better_than_the_flux_baseline(default, example_track):
    """Micro F1 at 50 ms through the live engine. The shipped model (v8) finds most hits of the
    example (65 of 71) and fires 24 extra notes, so its margin here is modest (0.812 against the
    baseline's 0.598); on real recordings it is far larger (offline/results/default-model)."""
    learnt, flux = f1(default, example_track), f1(load_bundle(FLUX_BUNDLE), example_track)
    assert learnt > flux, (learnt, flux)


@pytest.mark.parametrize("gain_db", [-20.0, 6.0, 12.0])
def test_the_default_hears_any_gain_above_the_level_floor_alike(default, example_track, gain_db):
    """The features are level-normalised, so a gain that keeps the input above the level floor
    changes nothing but float rounding (the example's RMS is -25 dBFS): the float32 graphs give
    the same F1 exactly, and the int8 step's quantisation may flip a note that sits at the edge
    of its threshold (one of the example's 71 at +6 dB for v8: 0.818 against 0.813)."""
    assert default.features.level_norm
    assert abs(f1(default, example_track, gain_db) - f1(default, example_track)) <= 0.01


def test_the_default_is_not_deaf_30_db_down(default, example_track):
    """30 dB down (the example at -55 dBFS RMS) the level floor starts to gate its quietest
    frames, so a few of its 71 notes may change; it must not go deaf. Issue 13's criterion (F1
    moves by at most 0.02 at -30 and +6 dB) is measured on the test recordings, whose results
    are committed (offline/results/default-model: at most 0.003)."""
    assert f1(default, example_track, -30.0) >= f1(default, example_track) - 0.02


@pytest.mark.heavy
def test_the_default_plays_velocities_that_follow_the_hits(default, example_track):
    """Its velocity rule was fitted on validation hits: on the example its velocities follow
    the rendered ones better than the activation alone did over all hits together, and in every
    class with 20 hits or more (the hi-hat's 35; the example's 13 kicks and 9 snares are too few
    to rank two rules: r's standard error there is about 0.3). The results measure r per class
    on the rendered test split, on hundreds of hits."""
    import dataclasses

    from offline.velocity import velocity_correlation
    from rtadt.velocity import VelocityRule

    assert default.velocity is not None and np.any(default.velocity.loudness_weight)
    r, pooled = {}, {}
    for name, bundle in (("fitted", default), ("activation", dataclasses.replace(
            default, velocity=VelocityRule.activation_only(default.num_classes)))):
        pairs: dict = {}
        evaluate_bundle(bundle, [example_track], "streaming", progress=False, velocities=pairs)
        r[name] = velocity_correlation(pairs, min_hits=20)
        hits = np.concatenate([p for p in pairs.values() if len(p)])
        pooled[name] = np.corrcoef(hits[:, 0], hits[:, 1])[0, 1]
    scored = [c for c in default.classes if r["fitted"][c]["r"] is not None]
    assert len(scored) >= 1
    assert all(r["fitted"][c]["r"] > r["activation"][c]["r"] for c in scored), r
    assert pooled["fitted"] > max(0.2, pooled["activation"]), pooled
