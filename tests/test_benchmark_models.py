"""The model-cost benchmark runs end to end with tiny settings and writes complete results
(no timing assertions)."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

for _module in ("torch", "onnx", "onnxruntime", "matplotlib", "tqdm"):
    pytest.importorskip(_module)

from offline.architectures import NAMES  # noqa: E402


def _positive_finite(value, where: str) -> None:
    assert isinstance(value, (int, float)) and not isinstance(value, bool), f"{where}: {value!r} is not a number"
    assert math.isfinite(value) and value > 0, f"{where}: {value!r} is not positive and finite"


@pytest.mark.heavy
def test_model_benchmark_quick_writes_every_architecture(tmp_path):
    # a subprocess: the benchmark pins thread counts before numpy and torch are imported
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.models", "--quick", "--out", str(tmp_path), "--no-progress"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]

    r = json.loads((tmp_path / "models.json").read_text())
    m = r["machine"]
    assert m["cpu_model"] and m["date"] and m["logical_cores"] >= 1
    for pkg in ("torch", "onnxruntime"):
        assert m["versions"][pkg], f"no version recorded for {pkg}"
    assert r["settings"]["quick"] is True

    assert sorted(r["models"]) == sorted(NAMES)
    for name, a in r["models"].items():
        for flavour in ("offline", "causal"):
            _positive_finite(a["parameters"][flavour], f"{name}.parameters.{flavour}")
            _positive_finite(a["window_macs"][flavour]["macs_per_frame"], f"{name}.window_macs.{flavour}")
            for backend in ("torch", "onnxruntime"):
                w = a["window"][flavour][backend]
                for key in ("ms", "ms_min", "ms_max", "realtime_fraction", "gmacs_per_s"):
                    _positive_finite(w[key], f"{name}.window.{flavour}.{backend}.{key}")
            _positive_finite(a["window"][flavour]["ratio_torch_to_onnxruntime"], f"{name}.window.{flavour}.ratio")
        _positive_finite(a["state_floats"], f"{name}.state_floats")
        s = a["step_macs"]
        _positive_finite(s["macs"], f"{name}.step_macs.macs")
        assert s["math_backend_agrees"], f"{name}: MAC count disagrees with the SDPBackend.MATH count"
        if name in ("convtransformer", "vit"):  # attention is counted, analytically
            _positive_finite(s["attention_added_analytically"], f"{name}.step_macs.attention")
        for backend in ("torch", "onnxruntime"):
            st = a["step"][backend]
            for key in ("us_median", "us_p99", "us_mean", "us_max", "hop_fraction_median", "hop_fraction_p99",
                        "gmacs_per_s"):
                _positive_finite(st[key], f"{name}.step.{backend}.{key}")
        _positive_finite(a["step"]["ratio_torch_to_onnxruntime"], f"{name}.step.ratio")
        _positive_finite(a["step_profile"]["kernel_us_per_step"], f"{name}.step_profile")
        # like for like: onnxruntime computes what torch computes
        for key, dev in a["agreement"].items():
            if not key.endswith("compared"):
                assert math.isfinite(dev) and dev < 1e-4, f"{name}: {key} differs by {dev}"
    assert r["agreement_ok"]

    g = r["goal"]
    assert g["architecture"] == "crnn" and g["limit_us"] == 100.0
    _positive_finite(g["onnxruntime_us_median"], "goal.onnxruntime_us_median")
    assert isinstance(g["holds_median"], bool)
    _positive_finite(g["int8_us_median"], "goal.int8_us_median")
    assert isinstance(g["int8_holds_median"], bool) and 0 <= g["int8_rounds_under_limit"] <= g["rounds"]

    md = (tmp_path / "models.md").read_text()
    for heading in ("## Goal", "## Size and arithmetic", "## Streaming step", "## Window"):
        assert heading in md
    png = (tmp_path / "models.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_step_comparison_statistics_on_known_series():
    """compare(): B is 0.9x A in every pair while the machine's speed drifts 2x between pairs,
    so the pair ratios are exactly 0.9 although neither series is steady."""
    import numpy as np

    from benchmarks.step_ab import compare

    drift = np.array([60.0, 70.0, 120.0, 90.0, 130.0])
    r = compare(drift, 0.9 * drift)
    assert r["blocks"] == 5 and r["limit_us"] == 100.0
    for key in ("median", "q10", "q90"):
        assert r["ratio_b_to_a"][key] == pytest.approx(0.9)
    assert r["a"]["us_median"] == 90.0 and r["a"]["share_under_limit"] == pytest.approx(3 / 5)
    assert r["b"]["us_max"] == pytest.approx(117.0) and r["b"]["share_under_limit"] == pytest.approx(3 / 5)
    for a, b in (([], []), ([1.0, 2.0], [1.0]), ([1.0, -2.0], [1.0, 2.0]), ([1.0, float("nan")], [1.0, 2.0])):
        with pytest.raises(ValueError):
            compare(a, b)


@pytest.mark.heavy
def test_step_comparison_runs_two_bundles(tmp_path):
    """The A/B tool times two real bundles' steps and writes its numbers; a window-only
    bundle has no step and is refused."""
    from click.testing import CliRunner

    from offline.cli import main as train_main

    runner = CliRunner()
    assert runner.invoke(train_main, ["init", "rnn", "--set", "L=1", "--set", "H=8", "-o", str(tmp_path / "c.pt")]).exit_code == 0
    for name, extra in (("a", []), ("b", ["--int8"])):
        r = runner.invoke(train_main, ["export", str(tmp_path / "c.pt"), "-o", str(tmp_path / f"{name}.rtadt"), *extra])
        assert r.exit_code == 0, r.output
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = tmp_path / "ab.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.step_ab", str(tmp_path / "a.rtadt"), str(tmp_path / "b.rtadt"),
                           "--seconds", "0.5", "--block", "50", "--json", str(out), "--plot", str(tmp_path / "ab.png"),
                           "--no-progress"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    r = json.loads(out.read_text())
    assert r["blocks"] >= 1 and len(r["block_us"]["a"]) == len(r["block_us"]["b"]) == r["blocks"]
    for key in ("a", "b"):
        _positive_finite(r[key]["us_median"], f"{key}.us_median")
    _positive_finite(r["ratio_b_to_a"]["median"], "ratio")
    assert "B / A over" in proc.stdout
    assert (tmp_path / "ab.png").read_bytes().startswith(b"\x89PNG")

    assert runner.invoke(train_main, ["init", "rnn", "--flavour", "offline", "--set", "L=1", "--set", "H=8",
                                      "-o", str(tmp_path / "o.pt")]).exit_code == 0
    assert runner.invoke(train_main, ["export", str(tmp_path / "o.pt"), "-o", str(tmp_path / "o.rtadt")]).exit_code == 0
    proc = subprocess.run([sys.executable, "-m", "benchmarks.step_ab", str(tmp_path / "a.rtadt"), str(tmp_path / "o.rtadt"),
                           "--seconds", "0.2", "--no-progress"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "no streaming step" in proc.stderr
