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
