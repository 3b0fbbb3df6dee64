"""Ensemble: models of one feature config run side by side on the same frames, their logits averaged.

Not a sixth architecture to train: an ensemble is made from trained checkpoints
(`rtadt-train ensemble`, offline.checkpoint.ensemble_checkpoints) and exported like any model.
Models trained from different weights err in different places (v3's line and the rendered-only
model trade the real phrases against the real band), so their average can beat each; a weight
average cannot be taken between them (they lie in different basins). Logits, not activations,
are averaged, so the ensemble is a model of logits like every other and export's sigmoid
applies unchanged. The step state is the members' states in order, each name prefixed by its
member ("m0_conv0", ...); a step costs the members' steps together.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from offline.architectures.base import DrumModel


@dataclass(frozen=True, eq=False)  # members hold dicts: compared and hashed by identity
class EnsembleConfig:
    members: tuple = ()  # ((architecture name, {hyperparameters}), ...), two or more
    SPACE: ClassVar[dict[str, tuple]] = {}  # nothing to search: members come trained

    def __post_init__(self):
        try:
            members = tuple((str(arch), dict(hparams)) for arch, hparams in self.members)
        except (TypeError, ValueError):
            raise ValueError("an ensemble's members are (architecture, {hyperparameters}) pairs") from None
        if len(members) < 2:
            raise ValueError("an ensemble needs two members or more")
        if any(arch == "ensemble" for arch, _ in members):
            raise ValueError("an ensemble's members are single models, not ensembles")
        object.__setattr__(self, "members", members)


class Ensemble(DrumModel):
    def __init__(self, config: EnsembleConfig, num_features: int, num_classes: int = 5, flavour: str = "offline",
                 channels: int = 1):
        from offline.architectures import build  # the registry imports this module

        super().__init__(config, num_features, num_classes, flavour, channels)
        self.members = nn.ModuleList(build(arch, flavour, num_features, num_classes, channels, **hparams)
                                     for arch, hparams in config.members)

    def forward(self, x: Tensor) -> Tensor:  # [B, T, F] -> [B, T, C]
        return torch.stack([m(x) for m in self.members]).mean(0)

    def state_shapes(self, batch: int = 1) -> list[tuple[str, tuple[int, ...]]]:
        self._require_causal()
        return [(f"m{i}_{name}", shape) for i, m in enumerate(self.members) for name, shape in m.state_shapes(batch)]

    def step(self, frame: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        self._require_causal()
        counts = [len(m.state_shapes(frame.shape[0])) for m in self.members]
        if len(state) != sum(counts):
            raise ValueError(f"an ensemble's step takes {sum(counts)} state tensors, got {len(state)}")
        logits, new, start = [], [], 0
        for m, count in zip(self.members, counts):
            y, s = m.step(frame, state[start:start + count])
            logits.append(y)
            new += s
            start += count
        return torch.stack(logits).mean(0), new
