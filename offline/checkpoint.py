"""Checkpoints: our own files, written atomically, read back without unpickling code.

A checkpoint is a dict of plain values and tensors saved with torch.save and loaded with
`weights_only=True`, so loading never executes anything from the file.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from offline.architectures import DrumModel, build_for
from rtadt.atomic import atomic_path
from rtadt.drums import CLASSES
from rtadt.features import FeatureConfig

FORMAT = "rtadt-checkpoint/1"


def checkpoint_dict(model: DrumModel, arch: str, features: FeatureConfig, lookahead_s: float,
                    classes: tuple[str, ...] = CLASSES, **extra: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return {"format": FORMAT, "architecture": arch, "flavour": model.flavour,
            "hyperparameters": asdict(model.config), "features": features.to_dict(),
            "classes": list(classes), "lookahead_s": float(lookahead_s),
            "state_dict": model.state_dict(), **extra}


def save_checkpoint(path: str | Path, ckpt: dict[str, Any]) -> Path:
    """Write atomically: a checkpoint is either the old one or the complete new one."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(ckpt, f)
        f.flush()
        os.fsync(f.fileno())
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint's dict, loaded without unpickling code; FileNotFoundError or ValueError
    (a one-line reason) for anything else."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable rtadt checkpoint ({type(exc).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path}: not an rtadt checkpoint (format {FORMAT})")
    return ckpt


def load_checkpoint(path: str | Path) -> tuple[DrumModel, dict[str, Any]]:
    ckpt = read_checkpoint(path)
    features = FeatureConfig.from_dict(ckpt["features"])
    model = build_for(ckpt["architecture"], features, flavour=ckpt["flavour"],
                      num_classes=len(ckpt["classes"]), **ckpt["hyperparameters"])
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    return model, ckpt


# what every member of a weight average must share, and so what the average keeps
_SHARED = ("format", "architecture", "flavour", "hyperparameters", "features", "classes", "lookahead_s")
# what every member of an ensemble must share: the frames it sees and the notes it reports
_ENSEMBLE_SHARED = ("format", "flavour", "features", "classes", "lookahead_s")


def _check_members(ckpts: list[dict[str, Any]], names: list[str], shared: tuple[str, ...], what: str,
                   why: str) -> None:
    if len(ckpts) < 2 or len(ckpts) != len(names):
        raise ValueError(f"{what} needs two checkpoints or more, each with a name")
    if len(set(names)) != len(names):
        raise ValueError("each checkpoint needs its own label")
    for ckpt, name in zip(ckpts[1:], names[1:]):
        for key in shared:
            if ckpt.get(key) != ckpts[0].get(key):
                raise ValueError(f"{name}: its {key} differs from {names[0]}'s ({ckpt.get(key)!r} against "
                                 f"{ckpts[0].get(key)!r}); {why}")


def _combined_record(ckpts: list[dict[str, Any]], names: list[str], how: str) -> dict[str, Any]:
    """What a model made of checkpoints keeps of them: the first's peak picking, and how it was
    made ({how: names}) with each member's training summary."""
    return {"peak_picking": ckpts[0].get("peak_picking"),
            "training": {how: list(names), "members": {n: c.get("training") for n, c in zip(names, ckpts)}}}


def average_checkpoints(ckpts: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    """The uniform weight average ("model soup") of checkpoints of one model: floating-point
    tensors are averaged in float32 in the order given, other tensors (counters) come from the
    first. Averaging helps only between fine-tunings of one set of weights, which stay in one
    basin; that is the caller's to know. The result keeps what the members share (architecture,
    features, lookahead, classes, the first's peak picking) and records the members' names and
    training summaries under "training"; thresholds and validation figures are dropped (they
    belong to no member: tune the average). Raises ValueError for fewer than two checkpoints, a
    name given twice, and the first difference in what must be shared or in the tensors' names
    and shapes."""
    _check_members(ckpts, names, _SHARED, "a weight average", "only checkpoints of one model can be averaged")
    first = ckpts[0]
    for ckpt, name in zip(ckpts[1:], names[1:]):
        shapes = {k: tuple(v.shape) for k, v in ckpt["state_dict"].items()}
        if shapes != {k: tuple(v.shape) for k, v in first["state_dict"].items()}:
            raise ValueError(f"{name}: its tensors differ in names or shapes from {names[0]}'s")
    state = {}
    for key, tensor in first["state_dict"].items():
        if tensor.is_floating_point():
            stacked = torch.stack([c["state_dict"][key].float() for c in ckpts])
            state[key] = stacked.mean(0).to(tensor.dtype)
        else:
            state[key] = tensor.clone()
    return {**{k: first[k] for k in _SHARED}, "state_dict": state, **_combined_record(ckpts, names, "weight_average_of")}


def ensemble_checkpoints(ckpts: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    """A checkpoint of the ensemble of checkpoints (offline.architectures.ensemble: the members run
    side by side, their logits averaged), for models that cannot be weight-averaged (trained from
    different weights, or of different architectures or sizes). The members must share flavour,
    features, lookahead and classes. Like a weight average it keeps the first's peak picking,
    records the members' names and training summaries, and drops thresholds and validation
    figures (tune the ensemble). Raises ValueError for fewer than two checkpoints, a name given
    twice, an ensemble among them, and the first difference in what must be shared."""
    _check_members(ckpts, names, _ENSEMBLE_SHARED, "an ensemble", "an ensemble's members must see the same frames")
    if any(c.get("architecture") == "ensemble" for c in ckpts):
        raise ValueError("an ensemble's members are single models: give the ensemble's own members")
    first = ckpts[0]
    members = tuple((c["architecture"], c["hyperparameters"]) for c in ckpts)
    state = {f"members.{i}.{k}": v for i, c in enumerate(ckpts) for k, v in c["state_dict"].items()}
    return {**{k: first[k] for k in _ENSEMBLE_SHARED}, "architecture": "ensemble",
            "hyperparameters": {"members": members}, "state_dict": state, **_combined_record(ckpts, names, "ensemble_of")}


# recurrent gate blocks per cell, stacked along dim 0 of nn.GRU / nn.LSTM's weights and biases
_GATES = {"gru": 3, "lstm": 4}


def widen_checkpoint(ckpt: dict[str, Any], hidden: int, seed: int = 0) -> dict[str, Any]:
    """A causal RNN or CRNN checkpoint with `hidden` recurrent units per layer instead of its H,
    computing exactly what it computed ("Net2Wider"-style growth, so a trained model can gain
    capacity and train on from where it is). Every old weight stays. Each new unit gets fresh
    incoming weights (the architecture's own initialisation, drawn with `seed`) and zero
    outgoing weights: nothing it computes reaches an old unit or the output until training moves
    those zeros, and training does move them, because the new units' states are not zero.

    The result keeps features, lookahead, classes and peak picking, records the source under
    training.widened_from, and drops thresholds and validation figures (tune it after training).
    Raises ValueError for another architecture, the offline (bidirectional) flavour, or a width
    not larger than the checkpoint's."""
    arch, flavour, hp = ckpt["architecture"], ckpt["flavour"], dict(ckpt["hyperparameters"])
    if arch not in ("rnn", "crnn"):
        raise ValueError(f"only recurrent models (rnn, crnn) can be widened, not {arch!r}")
    if flavour != "causal":
        raise ValueError("only the causal flavour can be widened (its layers are unidirectional)")
    old = int(hp["H"])
    if not isinstance(hidden, int) or hidden <= old:
        raise ValueError(f"the new width must be an integer larger than the checkpoint's H ({old}), got {hidden!r}")
    gates = _GATES[hp["cell"]]
    features = FeatureConfig.from_dict(ckpt["features"])
    torch.manual_seed(seed)
    wide = build_for(arch, features, flavour=flavour, num_classes=len(ckpt["classes"]), **{**hp, "H": hidden})
    state = {k: v.clone() for k, v in wide.state_dict().items()}  # fresh weights for the new units
    rows = torch.cat([torch.arange(g * hidden, g * hidden + old) for g in range(gates)])  # old units' rows
    for key, value in ckpt["state_dict"].items():
        new = state[key]
        if key.startswith("rnn.rnn."):  # the nn.GRU / nn.LSTM inside Recurrent, in RNN and CRNN alike
            name = key.rsplit(".", 1)[1]
            if name.startswith("bias"):
                new[rows] = value
            else:
                new[rows, :value.shape[1]] = value
                # an old unit hears no new unit: of its own layer (hh), nor of the layer below (ih, l >= 1)
                if name.startswith("weight_hh") or not name.endswith("_l0"):
                    new[rows, old:] = 0.0
        elif key.startswith("out."):
            if key == "out.weight":
                new.zero_()
                new[:, :old] = value
            else:
                new.copy_(value)
        else:
            new.copy_(value)
    record = {k: ckpt[k] for k in _SHARED if k in ckpt}
    return {**record, "hyperparameters": {**hp, "H": hidden}, "state_dict": state,
            "peak_picking": ckpt.get("peak_picking"),
            "training": {"widened_from": {"H": old, "seed": seed, "training": ckpt.get("training")}}}
