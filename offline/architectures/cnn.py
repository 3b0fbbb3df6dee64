"""The CNN of the architecture study (after Vogl et al., ISMIR 2017; Jacques & Röbel).

The published CNN classifies each frame from a window of `context` spectrogram frames
around it: conv blocks, then dense layers, then one sigmoid output per drum class.
Here it is sequence to sequence ([B, T, F] -> [B, T, C]) and every frame shares the
conv work: the conv blocks keep the frame rate (pooling over frequency only), and the
first dense layer is "unfolded" into a convolution over time of width `context`.
A dense layer applied to the flattened window of `context` frames around frame t is a
sum over those frames of one weight matrix per offset, which is exactly a 1-D
convolution over time with kernel `context` evaluated at t; so sliding it over the
sequence gives every frame its own windowed classification in one pass.
The remaining L-1 dense layers act on one frame at a time.

Offline, the window is centred (±context//2 frames). Causal, it and every convolution
of the front end see only the past, and the step form keeps, for each, the last
(kernel - 1) input frames.

    model = CNN(CNNConfig(I=3, L=2, H=288), num_features=84, num_classes=5, flavour="causal")
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from offline.architectures.base import ConvFrontEnd, ConvSpec, DrumModel

CHANNELS = (32, 64, 96)  # kernels of conv blocks 1..3, as in the study


@dataclass(frozen=True)
class CNNConfig:
    I: int = 2  # convolutional blocks (32, 64, 96 kernels for blocks 1..3)  # noqa: E741
    L: int = 2  # fully connected layers (the first one is the unfolded, windowed one)
    H: int = 288  # their size
    context: int = 13  # frames the first dense layer sees (centred offline, past-only causal)
    dropout: float = 0.3

    SPACE: ClassVar[dict[str, tuple]] = {"I": (1, 2, 3), "L": (1, 2, 3, 4), "H": (72, 144, 288, 576)}

    def __post_init__(self):
        if not 1 <= self.I <= len(CHANNELS):
            raise ValueError(f"CNN I (conv blocks) must be 1..{len(CHANNELS)}, got {self.I}")
        if self.L < 1:
            raise ValueError(f"CNN L (fully connected layers) must be >= 1, got {self.L}")
        if self.H < 1:
            raise ValueError(f"CNN H (fully connected size) must be >= 1, got {self.H}")
        if self.context < 1:
            raise ValueError(f"CNN context must be >= 1 frame, got {self.context}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"CNN dropout must be in [0, 1), got {self.dropout}")


class CNN(DrumModel):
    def __init__(self, config: CNNConfig = CNNConfig(), num_features: int = 84, num_classes: int = 5,
                 flavour: str = "causal", channels: int = 1):
        super().__init__(config, num_features, num_classes, flavour, channels)
        c = config
        specs = tuple(ConvSpec(ch, dropout=c.dropout) for ch in CHANNELS[:c.I])
        self.front = ConvFrontEnd(self.bands, specs, self.causal, self.channels)
        # the unfolded first dense layer: a dense layer over `context` frames of front-end output
        self.context = nn.Conv1d(self.front.out_features, c.H, c.context)
        self.past = c.context - 1 if self.causal else c.context // 2
        self.future = c.context - 1 - self.past
        self.dense = nn.ModuleList(nn.Linear(c.H, c.H) for _ in range(c.L - 1))
        self.drop = nn.Dropout(c.dropout)
        self.out = nn.Linear(c.H, num_classes)

    def _head(self, h: Tensor) -> Tensor:
        """Frame-wise part after the context layer: [..., H] pre-activation -> [..., C]."""
        h = self.drop(torch.relu(h))
        for layer in self.dense:
            h = self.drop(torch.relu(layer(h)))
        return self.out(h)

    def forward(self, x: Tensor) -> Tensor:  # [B, T, F] -> [B, T, C]
        y = self.front(x).transpose(1, 2)  # [B, D, T]
        y = nn.functional.pad(y, (self.past, self.future))  # zeros outside the sequence
        h = self.context(y).transpose(1, 2)  # [B, T, H]
        return self._head(h)

    # -- step form (causal only) --
    def state_shapes(self, batch: int = 1) -> list[tuple[str, tuple[int, ...]]]:
        self._require_causal()
        shapes = self.front.state_shapes(batch)
        if self.past > 0:  # context == 1 needs no history (and ONNX dislikes empty tensors)
            shapes.append(("context", (batch, self.front.out_features, self.past)))
        return shapes

    def step(self, frame: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """frame [B, F] -> logits [B, C]; state: the front end's histories, then the last
        context-1 front-end output frames [B, D, context-1], oldest first."""
        self._require_causal()
        n = len(self.front.shapes)
        y, new = self.front.step(frame, list(state[:n]))  # [B, D]
        window = y[:, :, None]
        if self.past > 0:
            window = torch.cat([state[n], window], dim=2)  # [B, D, context]
            new.append(window[:, :, 1:])
        h = self.context(window)[:, :, 0]  # [B, H]
        return self._head(h), new
