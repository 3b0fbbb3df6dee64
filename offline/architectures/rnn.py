"""RNN: a stack of recurrent layers (GRU or LSTM) and a frame-wise linear output layer.

Offline flavour (as in the thesis): bidirectional layers, so every frame sees the whole
sequence. Causal flavour: unidirectional layers of the same width, whose hidden state is
carried from frame to frame; the step form is then just one time step of the same
nn.GRU/nn.LSTM, so stepping reproduces the full-sequence outputs exactly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor, nn

from offline.architectures.base import DrumModel

CELLS = ("gru", "lstm")


def check_recurrent(L: int, H: int, cell: str, dropout: float) -> None:
    """Validation shared with CRNN's config (same recurrent hyperparameters)."""
    if not isinstance(L, int) or L < 1:
        raise ValueError(f"L (recurrent layers) must be an integer >= 1, got {L!r}")
    if not isinstance(H, int) or H < 1:
        raise ValueError(f"H (hidden units per direction) must be an integer >= 1, got {H!r}")
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")


@dataclass(frozen=True)
class RNNConfig:
    L: int = 3  # recurrent layers
    H: int = 144  # hidden units per direction
    cell: str = "gru"  # "gru" | "lstm"
    dropout: float = 0.0  # between recurrent layers
    SPACE: ClassVar[dict[str, tuple]] = {"L": (2, 3, 4, 5, 6), "H": (72, 144, 288), "cell": ("gru", "lstm")}

    def __post_init__(self):
        check_recurrent(self.L, self.H, self.cell, self.dropout)


class Recurrent(nn.Module):
    """A GRU/LSTM stack over [B, T, n_in]: bidirectional offline, unidirectional causal.
    Also used by CRNN, after its convolutional front end."""

    def __init__(self, n_in: int, L: int, H: int, cell: str, dropout: float, causal: bool):
        super().__init__()
        self.L, self.H, self.lstm = L, H, cell == "lstm"
        rnn = nn.LSTM if self.lstm else nn.GRU
        # torch only applies dropout between layers, and warns when there is just one
        self.rnn = rnn(n_in, H, num_layers=L, batch_first=True, dropout=dropout if L > 1 else 0.0,
                       bidirectional=not causal)
        self.out_features = H if causal else 2 * H

    def forward(self, x: Tensor) -> Tensor:
        return self.rnn(x)[0]  # initial state zeros, as initial_state() gives the step form

    def state_shapes(self, batch: int) -> list[tuple[str, tuple[int, ...]]]:
        return [(name, (self.L, batch, self.H)) for name in (("h", "c") if self.lstm else ("h",))]

    def step(self, x: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """x [B, n_in] -> [B, H]: one time step of the same module forward uses."""
        hx = (state[0], state[1]) if self.lstm else state[0]
        y, hx = self.rnn(x.unsqueeze(1), hx)
        return y[:, 0], list(hx) if self.lstm else [hx]


class RNN(DrumModel):
    def __init__(self, config: RNNConfig, num_features: int, num_classes: int = 5, flavour: str = "offline",
                 channels: int = 1):
        super().__init__(config, num_features, num_classes, flavour, channels)
        c = config
        self.rnn = Recurrent(num_features, c.L, c.H, c.cell, c.dropout, self.causal)
        self.out = nn.Linear(self.rnn.out_features, num_classes)

    def forward(self, x: Tensor) -> Tensor:  # [B, T, F] -> [B, T, C]
        return self.out(self.rnn(x))

    def state_shapes(self, batch: int = 1) -> list[tuple[str, tuple[int, ...]]]:
        self._require_causal()
        return self.rnn.state_shapes(batch)

    def step(self, frame: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        self._require_causal()
        y, state = self.rnn.step(frame, state)
        return self.out(y), state
