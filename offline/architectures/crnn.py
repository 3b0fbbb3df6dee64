"""CRNN: two convolutional blocks, then a recurrent stack, then a frame-wise linear layer.

The conv blocks (base.ConvFrontEnd, pooling over frequency only) learn local spectral
patterns and shrink the feature axis; the recurrent stack (rnn.Recurrent) models the
longer temporal context. Offline flavour: 'same' convolutions and bidirectional layers.
Causal flavour: convolutions padded on the past only and unidirectional layers; the step
state is the front end's input histories followed by the recurrent state.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor, nn

from offline.architectures.base import ConvFrontEnd, ConvSpec, DrumModel
from offline.architectures.rnn import Recurrent, check_recurrent


@dataclass(frozen=True)
class CRNNConfig:
    L: int = 3  # recurrent layers
    H: int = 144  # hidden units per direction
    cell: str = "gru"  # "gru" | "lstm"
    dropout: float = 0.3  # after each conv block (the recurrent stack has none)
    SPACE: ClassVar[dict[str, tuple]] = {"L": (2, 3, 4, 5), "H": (72, 144, 288), "cell": ("gru", "lstm")}

    def __post_init__(self):
        check_recurrent(self.L, self.H, self.cell, self.dropout)


class CRNN(DrumModel):
    def __init__(self, config: CRNNConfig, num_features: int, num_classes: int = 5, flavour: str = "offline", channels: int = 1):
        super().__init__(config, num_features, num_classes, flavour, channels)
        c = config
        self.front = ConvFrontEnd(self.bands, (ConvSpec(32, c.dropout), ConvSpec(64, c.dropout)), self.causal, self.channels)
        self.rnn = Recurrent(self.front.out_features, c.L, c.H, c.cell, 0.0, self.causal)
        self.out = nn.Linear(self.rnn.out_features, num_classes)

    def forward(self, x: Tensor) -> Tensor:  # [B, T, F] -> [B, T, C]
        return self.out(self.rnn(self.front(x)))

    def state_shapes(self, batch: int = 1) -> list[tuple[str, tuple[int, ...]]]:
        self._require_causal()
        return self.front.state_shapes(batch) + self.rnn.state_shapes(batch)

    def step(self, frame: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        self._require_causal()
        n = len(self.front.shapes)  # one history per convolution, then the recurrent state
        y, conv_state = self.front.step(frame, state[:n])
        y, rnn_state = self.rnn.step(y, state[n:])
        return self.out(y), conv_state + rnn_state
