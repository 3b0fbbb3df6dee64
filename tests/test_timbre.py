"""Onset timbre profiles (offline.timbre): exact rises on made-up features, and on known sounds
(a low kick and a high hi-hat) the profiles put each where it is."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from offline.cli import main
from offline.timbre import brightness, onset_rises, timbre_profiles
from rtadt.features import FeatureConfig
from tests.test_train import make_tracks


def test_onset_rises_are_exact_and_only_at_isolated_onsets():
    features = np.zeros((60, 3))
    features[10:, 0] += 1.0          # KD at frame 10: band 0 steps up by 1
    features[30:, 2] += 2.0          # HH at 30: band 2 steps up by 2 ...
    features[33:, 1] += 5.0          # ... and SD at 33, 3 frames later: neither is isolated at 4
    rises = onset_rises(features, {"KD": np.array([10]), "HH": np.array([30]), "SD": np.array([33])})
    assert rises["KD"].tolist() == [[1.0, 0.0, 0.0]]
    assert rises["HH"].shape == (0, 3) and rises["SD"].shape == (0, 3) and rises["CY"].shape == (0, 3)
    near = onset_rises(features, {"HH": np.array([30]), "SD": np.array([33])}, isolation=2, after=2)
    assert near["HH"].tolist() == [[0.0, 0.0, 2.0]] and near["SD"].tolist() == [[0.0, 5.0, 0.0]]
    late = onset_rises(features, {"KD": np.array([0, 58])}, after=2)   # no frame before / after
    assert late["KD"].shape == (0, 3)
    with pytest.raises(ValueError):
        onset_rises(features, {}, after=-1)


def test_profiles_put_the_kick_low_and_the_hi_hat_high(tmp_path):
    tracks = make_tracks(tmp_path, 2, 0)   # low sine thumps (KD) and high-passed noise bursts (HH)
    profiles = timbre_profiles({"made": tracks}, FeatureConfig(level_norm=True))
    kd, hh = profiles["sets"]["made"]["KD"], profiles["sets"]["made"]["HH"]
    assert kd["n"] > 5 and hh["n"] > 5 and profiles["sets"]["made"]["SD"] == {"n": 0, "mean": None}
    bands = np.array(profiles["bands_hz"])
    assert bands[np.argmax(kd["mean"])] < 150 and bands[np.argmax(hh["mean"])] > 3000
    assert brightness(hh, bands) > 0.6 > 0.2 > brightness(kd, bands)


def test_timbre_command_writes_json_and_plot(tmp_path, monkeypatch):
    import offline.datasets

    tracks = make_tracks(tmp_path / "audio", 2, 1)
    monkeypatch.setattr(offline.datasets, "load", lambda name, root: tracks)
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["timbre", "--set", "a=x:y:train", "--set", "b=x:y:validation", "--out", str(out),
                                  "--max-tracks", "1"])
    assert r.exit_code == 0, r.output
    data = json.loads((out / "timbre.json").read_text())
    assert data["meta"]["tracks"] == {"a": 1, "b": 1} and set(data["brightness_above_2khz"]) == {"a", "b"}
    assert (out / "timbre.png").stat().st_size > 10000 and "| a |" in r.output
    row = next(line for line in r.output.splitlines() if line.startswith("| a |")).split(" | ")
    assert row[3] == "- (0)" and row[4].startswith(f"{data['brightness_above_2khz']['a']['HH']} (")  # TT none, HH
