"""RNN: a stack of recurrent layers (GRU or LSTM) and a frame-wise linear output layer.

Offline flavour (as in the thesis): bidirectional layers, so every frame sees the whole
sequence. Causal flavour: unidirectional layers of the same width, whose hidden state is
carried from frame to frame; the step form is then just one time step of the same
nn.GRU/nn.LSTM, so stepping reproduces the full-sequence outputs exactly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
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
        # step() as explicit gate matmuls instead of one nn.GRU/nn.LSTM call: the same
        # arithmetic, exported as plain MatMul nodes that int8 weight quantization can take
        # (onnxruntime's quantizer has no GRU kernel), with the state as one tensor per layer
        # (see state_shapes). offline.export sets it for int8 steps.
        self.explicit_step = False

    def forward(self, x: Tensor) -> Tensor:
        return self.rnn(x)[0]  # initial state zeros, as initial_state() gives the step form

    def state_shapes(self, batch: int) -> list[tuple[str, tuple[int, ...]]]:
        names = ("h", "c") if self.lstm else ("h",)
        if self.explicit_step:  # one tensor per layer: the graph then neither slices nor stacks them
            return [(f"{name}{layer}", (batch, self.H)) for name in names for layer in range(self.L)]
        return [(name, (self.L, batch, self.H)) for name in names]

    def step(self, x: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """x [B, n_in] -> [B, H]: one time step of the same module forward uses."""
        if self.explicit_step:
            return self._gate_step(x, state)
        hx = (state[0], state[1]) if self.lstm else state[0]
        y, hx = self.rnn(x.unsqueeze(1), hx)
        return y[:, 0], list(hx) if self.lstm else [hx]

    def _gate_step(self, x: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """The equations of torch's GRU and LSTM, layer by layer (gate order r, z, n and
        i, f, g, o; the GRU's reset gate applied after the recurrent bias, as torch does).
        state: h of every layer, then (LSTM) c of every layer, each [B, H]. Gates that share
        a nonlinearity go through it together: one node fewer per layer in the graph."""
        H, L, hs, cs = self.H, self.L, [], []
        for layer in range(L):
            h = state[layer]
            gi = x @ getattr(self.rnn, f"weight_ih_l{layer}").t() + getattr(self.rnn, f"bias_ih_l{layer}")
            gh = h @ getattr(self.rnn, f"weight_hh_l{layer}").t() + getattr(self.rnn, f"bias_hh_l{layer}")
            if self.lstm:
                i_f, g, o = (gi + gh).split([2 * H, H, H], -1)
                i, f = torch.sigmoid(i_f).split(H, -1)
                cs.append(f * state[L + layer] + i * torch.tanh(g))
                x = torch.sigmoid(o) * torch.tanh(cs[-1])
            else:
                rz_i, n_i = gi.split([2 * H, H], -1)
                rz_h, n_h = gh.split([2 * H, H], -1)
                r, z = torch.sigmoid(rz_i + rz_h).split(H, -1)
                n = torch.tanh(n_i + r * n_h)
                x = n + z * (h - n)
            hs.append(x)
        return x, hs + cs


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
