"""Vision transformer over the spectrogram: frequency patches of P bands, pre-LN attention
over all patches in time, a frame-wise linear layer.

Each frame's spectrum (bands zero-padded to a multiple of P) is cut into N = bands / P
patches (84 bands: N = 12, 6 or 4 for P = 7, 14, 21) by a single convolution without
activation, kernel and stride (1, P), to D_e channels. Every patch gets a learned embedding
of its frequency position; time is encoded as in attention.py: additive sinusoidal frame
positions (offline flavour, as in the thesis) or rotary positions on q and k (causal).
Attention runs over the T*N patch tokens: within a frame all patches see each other; across
time the offline flavour sees every frame, the causal flavour a sliding window of past
frames (frame-causal) whose size each block shares so that the stack reaches exactly
`window` frames (see transformer.py). After the final layer norm, each frame's N patch
embeddings are flattened and a linear layer gives its logits, one row per input frame.

What it costs: the full forward attends over T*N tokens, so each block and head scores
(T*N)^2 pairs: at T = 400 and N = 12 that is 4800^2 = 23 M scores (92 MB in float32 per head
and sequence where the attention kernel materializes them) and a 23 MB boolean mask for the
causal flavour; fine for training on 4 s segments and for tests up to ~450 frames, but not
for minutes-long sequences. The step form caches the keys and values of the last W-1
frames' patches, [B, H, (W-1)*N, D_e/H] per block, and scores N x W*N pairs per block and
head per frame.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from offline.architectures.attention import (Block, cache_rope_tables, check_attention, frame_causal_mask,
                                             sequence_rope_tables, sinusoidal_encoding)
from offline.architectures.base import as_image, DrumModel


@dataclass(frozen=True)
class ViTConfig:
    P: int = 14  # patch height in bands
    H: int = 4  # heads
    L: int = 4  # attention blocks
    D_e: int = 144  # model width
    dropout: float = 0.1  # attention weights, residual branches and the embedding
    window: int = 400  # causal flavour: frames a frame may see, itself included (offline: unused)
    SPACE: ClassVar[dict[str, tuple]] = {"P": (7, 14, 21), "H": (2, 4, 6, 8), "L": (2, 4, 6, 8, 10),
                                         "D_e": (72, 144, 288, 576)}

    def __post_init__(self):
        if not isinstance(self.P, int) or isinstance(self.P, bool) or self.P < 1:
            raise ValueError(f"P must be a positive integer, got {self.P!r}")
        check_attention(self.L, self.H, self.D_e, self.dropout, self.window)


class ViT(DrumModel):
    def __init__(self, config: ViTConfig, num_features: int, num_classes: int = 5, flavour: str = "offline",
                 channels: int = 1):
        super().__init__(config, num_features, num_classes, flavour, channels)
        c = config
        self.patches = -(-self.bands // c.P)  # N, the last patch zero-padded if P does not divide the bands
        self.pad = self.patches * c.P - self.bands
        self.embed = nn.Conv2d(self.channels, c.D_e, kernel_size=(1, c.P), stride=(1, c.P))  # linear, as in ViT
        self.patch_pos = nn.Parameter(0.02 * torch.randn(self.patches, c.D_e))  # frequency position
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(Block(c.D_e, c.H, c.dropout) for _ in range(c.L))
        self.ln_f = nn.LayerNorm(c.D_e)
        self.out = nn.Linear(self.patches * c.D_e, num_classes)
        if self.causal and 0 + c.L > c.window - 1:
            raise ValueError(f"window of {c.window} frames is too short for {c.L} causal blocks")
        if self.causal:  # the step's key rotation, offsets -(W-1)..0; derived, so not saved
            cos, sin = cache_rope_tables(self.block_window, c.D_e // c.H, self.patches)
            self.register_buffer("cache_cos", cos, persistent=False)
            self.register_buffer("cache_sin", sin, persistent=False)

    def _patches(self, x: Tensor) -> Tensor:  # [B, T, F] -> [B, T, N, D_e]
        e = self.embed(F.pad(as_image(x, self.channels), (0, self.pad)))  # [B, D_e, T, N]
        return e.permute(0, 2, 3, 1) + self.patch_pos

    def forward(self, x: Tensor) -> Tensor:  # [B, T, F] -> [B, T, C]
        c, n = self.config, self.patches
        e = self._patches(x)
        if self.causal:
            mask = frame_causal_mask(x, n, self.block_window)
            rope = sequence_rope_tables(x, c.D_e // c.H, n)
        else:  # one sinusoid per frame, shared by its patches
            e = e + sinusoidal_encoding(x.shape[1], c.D_e, x.device)[:, None, :]
            mask = rope = None
        h = self.drop(e.flatten(1, 2))  # [B, T*N, D_e], frame-major
        for block in self.blocks:
            h = block(h, mask, rope)
        return self.out(self.ln_f(h).reshape(x.shape[0], -1, n * c.D_e))  # regroup patches per frame

    @property
    def block_window(self) -> int:
        """Frames each block attends to, itself included: stacked blocks compound their
        reach, so each gets an equal share, L * (block_window - 1) <= window - 1."""
        return max(1, (self.config.window - 1) // self.config.L + 1)

    @property
    def context_frames(self) -> int:
        """Past frames an output of the causal flavour depends on (itself excluded)."""
        self._require_causal()
        return self.config.L * (self.block_window - 1)

    def state_shapes(self, batch: int = 1) -> list[tuple[str, tuple[int, ...]]]:
        self._require_causal()
        c = self.config
        w = self.block_window
        cache = (batch, c.H, (w - 1) * self.patches, c.D_e // c.H)
        shapes = []
        for i in range(c.L):
            shapes += [(f"block{i}_k", cache), (f"block{i}_v", cache), (f"block{i}_mask", (batch, w - 1))]
        return shapes

    def step(self, frame: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        self._require_causal()
        h = self.drop(self._patches(frame[:, None, :])[:, 0])  # [B, N, D_e]: the frame's patches
        new = []
        for i, block in enumerate(self.blocks):
            k, v, valid = state[3 * i: 3 * i + 3]
            h, k, v, valid = block.step(h, k, v, valid, (self.cache_cos, self.cache_sin))
            new += [k, v, valid]
        return self.out(self.ln_f(h).reshape(h.shape[0], -1)), new
