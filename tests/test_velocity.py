"""Velocity: the rule (rtadt.velocity), its place in bundles and the engine, and its fit (offline.velocity)."""
import dataclasses

import numpy as np
import pytest

from offline.evaluate import evaluate_bundle, transcribe_offline
from offline.velocity import (carries_velocities, fit_velocity_rule, hit_samples, matched_velocities,
                              velocity_correlation)
from rtadt.bundle import FLUX_BUNDLE, BundleError, load_bundle
from rtadt.drums import CLASSES, Event
from rtadt.engine import transcribe_array
from rtadt.features import FeatureConfig, log_filtered_spectrogram
from rtadt.sources import example_path, read_audio
from rtadt.velocity import VelocityRule, loudness_matrix


@pytest.fixture(scope="module")
def flux():
    return load_bundle(FLUX_BUNDLE)


def test_without_weights_the_rule_is_activation_times_127():
    rule = VelocityRule.activation_only(5)
    acts = np.random.default_rng(0).random(1000).astype(np.float32)
    want = np.clip(np.rint(acts.astype(np.float64) * 127), 1, 127)
    got = rule.velocities(np.arange(1000) % 5, acts, np.full(1000, 7.0))
    np.testing.assert_array_equal(got, want)


def test_scalar_and_vector_rule_agree_and_clip():
    rng = np.random.default_rng(1)
    rule = VelocityRule(rng.normal(0, 0.3, 5), rng.normal(1, 0.3, 5), rng.normal(0.2, 0.1, 5), rng.normal(0.1, 0.1, 5))
    c, a, loud, rise = rng.integers(0, 5, 500), rng.random(500), rng.normal(1, 1, 500), rng.normal(0, 1, 500)
    vec = rule.velocities(c, a, loud, rise)
    assert [rule.velocity(int(ci), ai, li, ri) for ci, ai, li, ri in zip(c, a, loud, rise)] == vec.tolist()
    assert not np.array_equal(vec, rule.velocities(c, a, loud))  # the rise counts
    assert vec.min() >= 1 and vec.max() <= 127 and len(set(vec.tolist())) > 20


def test_manifest_round_trip_and_errors():
    rule = VelocityRule(np.arange(5) / 10, np.ones(5), np.arange(5) / 100)
    assert all(len(row) == 3 for row in rule.to_manifest(CLASSES).values())  # as bundles before the rise
    risen = VelocityRule(np.arange(5) / 10, np.ones(5), np.arange(5) / 100, np.arange(5) / 50)
    assert all(len(row) == 4 for row in risen.to_manifest(CLASSES).values())
    for r in (rule, risen):
        back = VelocityRule.from_manifest(r.to_manifest(CLASSES), CLASSES)
        for name in ("intercept", "activation_weight", "loudness_weight", "rise_weight"):
            np.testing.assert_array_equal(getattr(back, name), getattr(r, name))
    for bad in ({"KD": [0, 1, 0]}, {c: [0, 1] for c in CLASSES}, {c: [0, 1, "x"] for c in CLASSES}, [1, 2],
                {c: [0, 1, 0, 0, 0] for c in CLASSES}):
        with pytest.raises(ValueError, match="velocity"):
            VelocityRule.from_manifest(bad, CLASSES)


def test_bundle_carries_its_rule_and_refuses_a_bad_one(flux, tmp_path):
    from rtadt.bundle import write_bundle

    rule = VelocityRule(np.full(5, 0.1), np.full(5, 0.5), np.full(5, 0.05))
    path = write_bundle(tmp_path / "v.rtadt", dict(flux.manifest, velocity=rule.to_manifest(flux.classes)), flux.graphs)
    np.testing.assert_array_equal(load_bundle(path).velocity.loudness_weight, rule.loudness_weight)
    assert flux.velocity.activation_weight.tolist() == [1.0] * 5
    with pytest.raises(BundleError, match="velocity"):  # checked before anything is written
        write_bundle(tmp_path / "b.rtadt", dict(flux.manifest, velocity={"KD": [0, 1, 0]}), flux.graphs)
    assert not (tmp_path / "b.rtadt").exists()


def test_loudness_matrix_puts_a_low_tone_in_the_kick_and_a_hiss_in_the_hihat():
    cfg = FeatureConfig()
    sr = cfg.sample_rate
    t = np.arange(sr) / sr
    low = log_filtered_spectrogram((0.5 * np.sin(2 * np.pi * 60 * t)).astype(np.float32), cfg)
    noise = np.diff(np.random.default_rng(2).standard_normal(sr + 1)).astype(np.float32) * 0.3  # high-passed
    high = log_filtered_spectrogram(noise, cfg)
    m = loudness_matrix(cfg, CLASSES)
    assert np.allclose(m.sum(axis=0), 1.0)
    lo, hi = (low[20:] @ m).mean(axis=0), (high[20:] @ m).mean(axis=0)
    assert lo[CLASSES.index("KD")] > lo[CLASSES.index("HH")] + 0.5
    assert hi[CLASSES.index("HH")] > hi[CLASSES.index("KD")] + 0.5


@pytest.mark.heavy
def test_engine_and_offline_give_the_same_velocities_with_a_loudness_rule(flux):
    bundle = dataclasses.replace(flux, velocity=VelocityRule(np.full(5, -0.2), np.full(5, 0.6), np.full(5, 0.3),
                                                             np.full(5, 0.3)))
    audio, rate = read_audio(example_path())
    streamed = transcribe_array(bundle, audio, rate)
    offline = transcribe_offline(bundle, audio, rate, picker="online")
    assert [(e.time, e.drum) for e in offline] == [(e.time, e.drum) for e in streamed]
    a = np.array([e.velocity for e in streamed])
    b = np.array([e.velocity for e in offline])
    assert np.abs(a - b).max() <= 1 and (a == b).mean() > 0.95  # float32 sums in another order
    plain = np.array([e.velocity for e in transcribe_array(flux, audio, rate)])
    assert not np.array_equal(a, plain)


def test_fit_recovers_a_known_rule():
    rng = np.random.default_rng(3)
    true = {"KD": (0.1, 0.3, 0.25, 0.0), "SD": (-0.2, 0.5, 0.4, 0.15)}
    samples = {}
    for c, (i, a, g, h) in true.items():
        act, loud, rise = rng.random(200), rng.normal(1.5, 0.5, 200), rng.normal(0.5, 0.5, 200)
        samples[c] = np.column_stack([act, loud, rise,
                                      127 * (i + a * act + g * loud + h * rise) + rng.normal(0, 0.5, 200)])
    samples["TT"] = samples["KD"][:5]  # too few hits: activation * 127
    plain = fit_velocity_rule(samples, CLASSES)  # the rise only when asked for
    assert not np.any(plain.rise_weight)
    k = CLASSES.index("KD")  # where the truth has no rise, the plain fit is the truth
    np.testing.assert_allclose([plain.intercept[k], plain.activation_weight[k], plain.loudness_weight[k]],
                               true["KD"][:3], atol=0.01)
    rule = fit_velocity_rule(samples, CLASSES, rise=True)
    for c, coef in true.items():
        k = CLASSES.index(c)
        np.testing.assert_allclose([rule.intercept[k], rule.activation_weight[k], rule.loudness_weight[k],
                                    rule.rise_weight[k]], coef, atol=0.01)
    for c in ("TT", "HH", "CY"):
        k = CLASSES.index(c)
        assert (rule.intercept[k], rule.activation_weight[k], rule.loudness_weight[k], rule.rise_weight[k]) == (0, 1, 0, 0)


def test_matching_and_correlation():
    ref = [Event(1.0, "KD", 30), Event(2.0, "KD", 60), Event(3.0, "KD", 90), Event(1.0, "SD", 50)]
    est = [Event(3.02, "KD", 100), Event(1.01, "KD", 40), Event(5.0, "KD", 1), Event(2.0, "HH", 9)]
    pairs = matched_velocities(ref, est, 0.05, CLASSES)
    assert sorted(map(tuple, pairs["KD"].tolist())) == [(30, 40), (90, 100)]
    assert len(pairs["SD"]) == 0 and len(pairs["HH"]) == 0
    assert not carries_velocities([Event(1.0, "KD"), Event(2.0, "SD")])
    assert all(len(v) == 0 for v in matched_velocities([Event(1.0, "KD")], est, 0.05, CLASSES).values())
    r = velocity_correlation({"KD": np.array([[10 * i, 10 * i + 3] for i in range(1, 12)]), "SD": np.zeros((3, 2))})
    assert r["KD"] == {"r": 1.0, "n": 11} and r["SD"] == {"r": None, "n": 3}


@pytest.mark.heavy
def test_a_fitted_rule_follows_the_example_better_than_the_activation(flux, example_track):
    """Fitted and scored on the same track: a check of the mechanism, not a result."""
    samples = hit_samples(flux, [example_track], progress=False)
    assert sum(len(s) for s in samples.values()) > 30
    fitted = dataclasses.replace(flux, velocity=fit_velocity_rule(samples, flux.classes, min_hits=8))
    r = {}
    for name, b in (("plain", flux), ("fitted", fitted)):
        pairs: dict = {}
        evaluate_bundle(b, [example_track], "streaming", progress=False, velocities=pairs)
        r[name] = velocity_correlation(pairs, min_hits=8)
    improved = [c for c in ("KD", "SD", "HH") if r["fitted"][c]["r"] is not None
                and r["fitted"][c]["r"] > (r["plain"][c]["r"] or 0.0)]
    assert improved, r
