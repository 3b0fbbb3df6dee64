"""offline/recipes/device.sh, the GPU run, end to end on the CPU: pack a cache here, train from
it as the GPU image would (rtadt not installed, no audio packages), checkpoints that load back."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import torch

from offline.checkpoint import read_checkpoint
from offline.datasets.segments import SegmentCache
from rtadt.features import FeatureConfig
from tests.test_segments import make_many_tracks

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "offline/recipes/device.sh"
# in the project's environment, not in the GPU machine's image (/work/.library/device/KINDS.md)
NOT_THERE = ["soundfile", "mido", "pedalboard", "pyroomacoustics", "sounddevice", "rtmidi", "pretty_midi", "jack"]


@pytest.mark.heavy
def test_pack_here_train_there_on_the_cpu(tmp_path):
    cache_dir = tmp_path / "cache"
    SegmentCache.build(make_many_tracks(tmp_path), FeatureConfig(level_norm=True), cache_dir, 0.02, progress=False)
    device_dir, out = tmp_path / "device", tmp_path / "out"
    env = dict(os.environ, DEVICE_DIR=str(device_dir), OUT=str(out), DEVICE="cpu", BATCHES="1")
    r = subprocess.run(["bash", str(RECIPE), "pack", str(cache_dir), "0.001"], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "MiB to carry" in r.stdout and "enst" in r.stdout  # the enst tracks kept whatever the hours
    assert [p.name for p in device_dir.iterdir()] == ["pack.tar.xz"]

    # the GPU image: `python3` is a plain interpreter without rtadt installed and without these packages
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "python3").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (shim / "python3").chmod(0o755)
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(f"import sys\nfor m in {NOT_THERE!r}:\n    sys.modules[m] = None\n")
    env.update(PATH=f"{shim}:{env['PATH']}", PYTHONPATH=str(hide))
    r = subprocess.run(["bash", str(RECIPE), "train", "0.001", "5 6"], env=env, capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["5-best.pt", "5-log.jsonl", "6-best.pt", "6-log.jsonl",
                                                     "train.log"]
    init = read_checkpoint(ROOT / "offline/checkpoints/default-crnn.pt")
    trained = {}
    for seed in (5, 6):
        log = [json.loads(line) for line in (out / f"{seed}-log.jsonl").read_text().splitlines()]
        assert len(log) == 1  # the time budget stopped it after its first epoch
        ckpt = read_checkpoint(out / f"{seed}-best.pt")
        assert "optimizer" not in ckpt  # weights only: what a commit takes
        assert ckpt["architecture"] == "crnn" and ckpt["features"] == FeatureConfig(level_norm=True).to_dict()
        trained[seed] = ckpt["state_dict"]["out.weight"]
        assert not torch.equal(trained[seed], init["state_dict"]["out.weight"])  # it trained from v3's weights
    assert not torch.equal(trained[5], trained[6])  # each seed its own batches


def test_the_recipe_says_how_to_use_it():
    r = subprocess.run(["bash", str(RECIPE)], capture_output=True, text=True)
    assert r.returncode == 2 and "usage: device.sh pack" in r.stderr
