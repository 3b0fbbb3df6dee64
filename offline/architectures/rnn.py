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
        # (onnxruntime's quantizer has no GRU kernel), with its own state: one tensor per layer
        # and the recurrent products carried from the frame before (see _gate_step).
        # offline.export sets it for int8 steps.
        self.explicit_step = False

    def forward(self, x: Tensor) -> Tensor:
        return self.rnn(x)[0]  # initial state zeros, as initial_state() gives the step form

    def state_shapes(self, batch: int) -> list[tuple[str, tuple[int, ...]]]:
        if not self.explicit_step:
            return [(name, (self.L, batch, self.H)) for name in (("h", "c") if self.lstm else ("h",))]
        # one tensor per layer (the graph then neither slices nor stacks them): the GRU's h or
        # the LSTM's c (its h only enters the products), then each layer's recurrent products,
        # made when its h was new (see _gate_step)
        shapes = [(f"{'c' if self.lstm else 'h'}{layer}", (batch, self.H)) for layer in range(self.L)]
        for layer in range(self.L):
            if self.lstm:
                shapes.append((f"gh{layer}", (batch, 4 * self.H)))
            else:  # the reset and update gates' part, and the new gate's (which the reset gate scales)
                shapes += [(f"gh{layer}_rz", (batch, 2 * self.H)), (f"gh{layer}_n", (batch, self.H))]
        return shapes

    def step(self, x: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """x [B, n_in] -> [B, H]: one time step of the same module forward uses."""
        if self.explicit_step:
            return self._gate_step(x, state)
        hx = (state[0], state[1]) if self.lstm else state[0]
        y, hx = self.rnn(x.unsqueeze(1), hx)
        return y[:, 0], list(hx) if self.lstm else [hx]

    def _weight(self, kind: str, layer: int) -> Tensor:
        return getattr(self.rnn, f"weight_{kind}_l{layer}")

    def _input_bias(self, layer: int) -> Tensor:
        """Every bias that adds to the input gates: both of the LSTM's; the GRU's recurrent
        bias of r and z but not of n, which the reset gate scales (see _gate_step)."""
        b_ih, b_hh = getattr(self.rnn, f"bias_ih_l{layer}"), getattr(self.rnn, f"bias_hh_l{layer}")
        if self.lstm:
            return b_ih + b_hh
        return b_ih + torch.cat([b_hh[:2 * self.H], torch.zeros_like(b_hh[2 * self.H:])])

    def _gate_step(self, x: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """The equations of torch's GRU and LSTM (gate order r, z, n and i, f, g, o; the GRU's
        reset gate applied after the recurrent bias, as torch does), with fewer products.

        A layer's new output h feeds two products: the next layer's input gates now, and its
        own recurrent gates at the next frame. Both are one matrix-vector product, made now
        (weights [W_ih of layer + 1; W_hh of layer]); the recurrent part is carried in the
        state until the next frame. A step thus makes L + 1 products instead of 2L (a
        product's fixed cost in onnxruntime outweighs its arithmetic at these sizes). The
        carried products exclude the recurrent bias, so that a zero state is h = 0 exactly.
        state: the GRU's h or the LSTM's c of every layer, then the carried products (see
        state_shapes). Gates that share a nonlinearity go through it together."""
        H, L, lstm = self.H, self.L, self.lstm
        sizes = [4 * H] if lstm else [2 * H, H]  # the parts gates are kept in (GRU: r and z, n)

        def split(t: Tensor, sizes: list[int]) -> list[Tensor]:  # (no Split node for one part)
            return list(t.split(sizes, -1)) if len(sizes) > 1 else [t]

        # state[:L]: the GRU's h or the LSTM's c; then the products, in `sizes` parts per layer
        carried = [state[L + len(sizes) * i:L + len(sizes) * (i + 1)] for i in range(L)]
        gates = split(x @ self._weight("ih", 0).t() + self._input_bias(0), sizes)
        kept, products = [], []  # the new state: h or c per layer, then the products
        for layer in range(L):
            if lstm:
                i_f, g, o = (gates[0] + carried[layer][0]).split([2 * H, H, H], -1)
                i, f = torch.sigmoid(i_f).split(H, -1)
                kept.append(f * state[layer] + i * torch.tanh(g))
                x = torch.sigmoid(o) * torch.tanh(kept[-1])
            else:
                (rz_i, n_i), (rz_h, n_h) = gates, carried[layer]
                b_hn = getattr(self.rnn, f"bias_hh_l{layer}")[2 * H:]
                r, z = torch.sigmoid(rz_i + rz_h).split(H, -1)
                n = torch.tanh(n_i + r * (n_h + b_hn))
                x = n + z * (state[layer] - n)
                kept.append(x)
            recurrent = self._weight("hh", layer)
            if layer + 1 < L:
                weight = torch.cat([self._weight("ih", layer + 1), recurrent])
                bias = torch.cat([self._input_bias(layer + 1), recurrent.new_zeros(recurrent.shape[0])])
                parts = split(x @ weight.t() + bias, sizes + sizes)
                gates, carried_next = parts[:len(sizes)], parts[len(sizes):]
            else:
                carried_next = split(x @ recurrent.t(), sizes)
            products += carried_next
        return x, kept + products


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
