"""Convolutional transformer: two conv blocks, a projection to the model width, positions,
L pre-LN attention blocks, a final layer norm and a frame-wise linear layer.

The conv blocks (base.ConvFrontEnd) learn local spectral patterns; the attention blocks
(attention.Block) relate frames across the sequence. Offline flavour (as in the thesis):
'same' convolutions, additive sinusoidal positions, full attention. Causal flavour:
convolutions padded on the past only, rotary positions and attention over sliding windows
sized so that the whole stack (front end plus L blocks) reaches exactly `window` frames
(4 s at 100 fps), the context the model is trained on; see attention.py for why. The step state is the front
end's input histories, then per block its key cache, value cache and validity mask.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor, nn

from offline.architectures.attention import (Block, cache_rope_tables, check_attention, frame_causal_mask,
                                             sequence_rope_tables, sinusoidal_encoding)
from offline.architectures.base import ConvFrontEnd, ConvSpec, DrumModel


@dataclass(frozen=True)
class ConvTransformerConfig:
    L: int = 4  # attention blocks
    H: int = 4  # heads
    D_e: int = 144  # model width
    dropout: float = 0.1  # attention weights, residual branches and the embedding
    window: int = 400  # causal flavour: frames an output depends on, itself included (offline: unused)
    SPACE: ClassVar[dict[str, tuple]] = {"L": (2, 4, 6, 8), "H": (2, 4, 6, 8), "D_e": (72, 144, 288)}

    def __post_init__(self):
        check_attention(self.L, self.H, self.D_e, self.dropout, self.window)


class ConvTransformer(DrumModel):
    def __init__(self, config: ConvTransformerConfig, num_features: int, num_classes: int = 5,
                 flavour: str = "offline", channels: int = 1):
        super().__init__(config, num_features, num_classes, flavour, channels)
        c = config
        self.front = ConvFrontEnd(self.bands, (ConvSpec(32), ConvSpec(64)), self.causal, self.channels)
        self.proj = nn.Linear(self.front.out_features, c.D_e)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(Block(c.D_e, c.H, c.dropout) for _ in range(c.L))
        self.ln_f = nn.LayerNorm(c.D_e)
        self.out = nn.Linear(c.D_e, num_classes)
        if self.causal and self._front_reach + c.L > c.window - 1:
            raise ValueError(f"window of {c.window} frames is too short for {c.L} causal blocks")
        if self.causal:  # the step's key rotation, offsets -(W-1)..0; derived, so not saved
            cos, sin = cache_rope_tables(self.block_window, c.D_e // c.H, 1)
            self.register_buffer("cache_cos", cos, persistent=False)
            self.register_buffer("cache_sin", sin, persistent=False)

    def forward(self, x: Tensor) -> Tensor:  # [B, T, F] -> [B, T, C]
        h = self.proj(self.front(x))
        if self.causal:
            mask = frame_causal_mask(h, 1, self.block_window)
            rope = sequence_rope_tables(h, self.config.D_e // self.config.H)
        else:
            h = h + sinusoidal_encoding(h.shape[1], self.config.D_e, h.device)
            mask = rope = None
        h = self.drop(h)
        for block in self.blocks:
            h = block(h, mask, rope)
        return self.out(self.ln_f(h))

    @property
    def _front_reach(self) -> int:
        return sum(block.conv1.past + block.conv2.past for block in self.front.blocks)

    @property
    def block_window(self) -> int:
        """Frames each block attends to, itself included. Stacked blocks compound their reach
        (block 2 sees what block 1 saw), so each gets an equal share of the model's window:
        front-end reach + L * (block_window - 1) <= window - 1."""
        return max(1, (self.config.window - 1 - self._front_reach) // self.config.L + 1)

    @property
    def context_frames(self) -> int:
        """Past frames an output of the causal flavour depends on (itself excluded)."""
        self._require_causal()
        return self._front_reach + self.config.L * (self.block_window - 1)

    def state_shapes(self, batch: int = 1) -> list[tuple[str, tuple[int, ...]]]:
        self._require_causal()
        c = self.config
        w = self.block_window
        cache = (batch, c.H, w - 1, c.D_e // c.H)
        shapes = self.front.state_shapes(batch)
        for i in range(c.L):
            shapes += [(f"block{i}_k", cache), (f"block{i}_v", cache), (f"block{i}_mask", (batch, w - 1))]
        return shapes

    def step(self, frame: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        self._require_causal()
        n = len(self.front.shapes)  # one history per convolution, then (k, v, mask) per block
        y, new = self.front.step(frame, state[:n])
        h = self.drop(self.proj(y))[:, None, :]  # [B, 1, D]: one token per frame
        for i, block in enumerate(self.blocks):
            k, v, valid = state[n + 3 * i: n + 3 * i + 3]
            h, k, v, valid = block.step(h, k, v, valid, (self.cache_cos, self.cache_sin))
            new += [k, v, valid]
        return self.out(self.ln_f(h[:, 0])), new
