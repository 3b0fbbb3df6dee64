"""rtadt-train commands that glue the lab's modules together."""
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from offline.cli import main

SLAKH = Path(__file__).resolve().parents[2] / "shared/data/format-samples/slakh-mirdata/slakh2100_flac_redux"
needs_slakh = pytest.mark.skipif(not SLAKH.exists(), reason="../shared/data/format-samples is not beside the checkout")


@needs_slakh
def test_datasets_check_on_the_real_slakh_layout():
    r = CliRunner().invoke(main, ["datasets", "check", "slakh", str(SLAKH), "--json"])
    assert r.exit_code == 0, r.output
    stats = json.loads(r.output)
    assert stats["train"]["tracks"] == 1 and stats["train"]["onsets"]["KD"] > 0


@needs_slakh
def test_evaluate_a_checkpoint_and_a_bundle(tmp_path):
    ckpt = tmp_path / "r.pt"
    assert CliRunner().invoke(main, ["init", "rnn", "--set", "L=2", "--set", "H=72", "-o", str(ckpt)]).exit_code == 0
    for model in (str(ckpt), "rtadt/models/default.rtadt"):
        out = tmp_path / "scores.json"
        r = CliRunner().invoke(main, ["evaluate", model, "--dataset", "slakh", "--root", str(SLAKH),
                                      "--split", "train", "--json", str(out), "--plot", str(tmp_path / "f1.png")])
        assert r.exit_code == 0, r.output
        assert "| micro |" in r.output
        assert json.loads(out.read_text())
        assert (tmp_path / "f1.png").stat().st_size > 0


def test_datasets_check_errors(tmp_path):
    r = CliRunner().invoke(main, ["datasets", "check", "nope", str(tmp_path)])
    assert r.exit_code == 2 and "unknown dataset" in r.output
    r = CliRunner().invoke(main, ["datasets", "check", "mdb", str(tmp_path)])
    assert r.exit_code == 1 and "mdb" in r.output
