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
