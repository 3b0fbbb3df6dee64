"""rtadt.framing: the one framing and timing convention."""
import numpy as np
import pytest

from rtadt import features, framing
from rtadt.feature_config import FeatureConfig


@pytest.mark.parametrize("cfg", [FeatureConfig(), FeatureConfig(frame_size=1024, hop_size=220),
                                 FeatureConfig(sample_rate=48000, hop_size=480)])
@pytest.mark.parametrize("lookahead", [0.0, 0.01, 0.02, 0.03])
def test_a_labelled_onset_is_reported_within_half_a_hop(cfg, lookahead):
    """Label at the first frame stamped >= t + lookahead, report at stamp - lookahead - hop/2:
    the reported time lies in [t - hop/2, t + hop/2)."""
    t = np.sort(np.random.default_rng(0).uniform(0.0, 30.0, 2000))
    n = framing.onset_frames(t, cfg, lookahead)
    stamps = framing.frame_time(n, cfg)
    assert np.all(stamps >= t + lookahead) and np.all((n == 0) | (framing.frame_time(n - 1, cfg) < t + lookahead))
    reported = framing.reported_onsets(n, cfg, framing.onset_offset(cfg, lookahead))
    half = cfg.hop_size / cfg.sample_rate / 2
    assert np.all(reported >= t - half - 1e-12) and np.all(reported < t + half + 1e-12)


def test_the_scalar_rule_of_the_engine_equals_the_vector_rule():
    cfg = FeatureConfig()
    offset = framing.onset_offset(cfg, 0.02, 0.0013)
    n = np.arange(0, 5000, 7)
    scalar = [max(framing.frame_time(int(k), cfg) - offset, 0.0) for k in n]
    assert framing.reported_onsets(n, cfg, offset).tolist() == scalar
    with pytest.raises(ValueError, match="frame indices"):
        framing.reported_onsets(np.array([1.5]), cfg, offset)


def test_features_and_config_use_the_framing_module():
    cfg = FeatureConfig(hop_size=300)
    assert cfg.frame_time(9) == framing.frame_time(9, cfg) == 10 * 300 / cfg.sample_rate
    np.testing.assert_array_equal(features.frame_times(4, cfg), framing.frame_time(np.arange(4), cfg))
    assert features.num_frames(1000, cfg) == framing.num_frames(1000, cfg) == 3
    with pytest.raises(ValueError, match="lookahead"):
        framing.onset_frames([1.0], cfg, -0.01)
