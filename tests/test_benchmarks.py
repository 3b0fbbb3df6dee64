"""Benchmarks run end to end with tiny settings and write complete results (no timing assertions)."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

for _module in ("librosa", "madmom", "matplotlib", "tqdm", "onnxruntime"):
    pytest.importorskip(_module)


def _positive_finite(value, where: str) -> None:
    assert isinstance(value, (int, float)) and not isinstance(value, bool), f"{where}: {value!r} is not a number"
    assert math.isfinite(value) and value > 0, f"{where}: {value!r} is not positive and finite"


@pytest.mark.heavy
def test_feature_benchmark_writes_every_section(tmp_path):
    # a subprocess: the benchmark pins thread counts before numpy is imported
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.features", "--seconds", "2", "--repeats", "1",
         "--out", str(tmp_path), "--no-progress"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]

    r = json.loads((tmp_path / "features.json").read_text())
    for section in ("machine", "settings", "compile", "features", "call_overhead", "engine", "goal"):
        assert section in r, f"features.json lacks {section!r}"
    m = r["machine"]
    assert m["cpu_model"] and m["date"] and m["logical_cores"] >= 1
    for pkg in ("numpy", "numba", "librosa", "madmom", "onnxruntime"):
        assert m["versions"][pkg], f"no version recorded for {pkg}"

    for key in ("stream_kernel_first_call_s", "stream_kernel_cold_compile_s",
                "resample_kernel_first_call_s", "resample_kernel_cold_compile_s",
                "engine_setup_and_warm_up_s"):
        _positive_finite(r["compile"][key], f"compile.{key}")

    for key in ("stream_process_us", "engine_process_us"):
        _positive_finite(r["call_overhead"][key], f"call_overhead.{key}")

    expected = ["batch"] + [f"stream_{b}" for b in (64, 441, 512, 4096)] + [
        "librosa_float64", "librosa_float32", "madmom_offline", "madmom_online"]
    assert sorted(r["features"]) == sorted(expected)
    for name, f in r["features"].items():
        for key in ("us_per_frame", "us_per_frame_min", "us_per_frame_max", "ratio_to_batch", "frames"):
            _positive_finite(f[key], f"features.{name}.{key}")
        assert all(math.isfinite(v) and v > 0 for v in f["us_per_frame_runs"])
        # like for like: every implementation computes the same features
        assert math.isfinite(f["max_abs_diff_vs_batch"]) and f["max_abs_diff_vs_batch"] < 1e-3, name
    assert r["features"]["batch"]["ratio_to_batch"] == 1.0

    assert sorted(r["engine"]) == ["44100", "48000"]
    for rate, per_block in r["engine"].items():
        assert sorted(per_block, key=int) == ["64", "256", "512", "1024"]
        for b, e in per_block.items():
            for key in ("mean_us", "p99_us", "max_us", "load_mean", "load_p99", "block_duration_us",
                        "us_per_frame", "ratio_per_frame_to_batch", "blocks", "frames"):
                _positive_finite(e[key], f"engine.{rate}.{b}.{key}")

    g = r["goal"]
    _positive_finite(g["batch_us_per_frame"], "goal.batch_us_per_frame")
    assert sorted(g["holds_at_block_sizes"] + g["fails_at_block_sizes"]) == [64, 441, 512, 4096]
    assert sorted(g["per_block_size"], key=int) == ["64", "441", "512", "4096"]

    md = (tmp_path / "features.md").read_text()
    for heading in ("## Features", "## Goal", "## Compile time", "## Engine"):
        assert heading in md
    png = (tmp_path / "features.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


@pytest.mark.heavy
def test_training_benchmark_writes_its_rows(tmp_path):
    from benchmarks.training import SEGMENT_S, main

    main(["--quick", "--steps", "1", "--architectures", "rnn", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "training.json").read_text())
    assert [(r["batch"], r["threads"], r["processes"]) for r in data["rows"]] == [(8, 1, 1), (8, 2, 1)]
    for r in data["rows"]:
        _positive_finite(r["s_per_batch"], "s_per_batch")
        # the derived figures follow from the measured one
        assert r["segments_per_s"] == pytest.approx(r["batch"] / r["s_per_batch"])
        assert r["x_realtime"] == pytest.approx(r["segments_per_s"] * SEGMENT_S)
    assert len(data["meta"]["load_average_start_end"]) == 2
    assert "| rnn | 8 | 2 | 1 |" in (tmp_path / "training.md").read_text()
    assert (tmp_path / "training.png").stat().st_size > 0
