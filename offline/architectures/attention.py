"""The pre-layer-norm transformer block shared by the convolutional transformer and the ViT.

    x = x + drop(proj(attention(LN(x))))
    x = x + drop(W2 gelu(W1 LN(x)))          (feed-forward 4x wide)

q, k and v are explicit projections (not nn.MultiheadAttention) so that the step form can
keep a key/value cache.

How time is encoded, and why the two flavours differ
----------------------------------------------------
offline: as in the thesis, an additive sinusoidal encoding of the absolute frame position
    is added to the input before the blocks, and attention is full (every frame sees the
    whole sequence).
causal: frame n attends to frames n-W+1..n only (a sliding window of W frames, 4 s at
    100 fps). Absolute sinusoidal positions do not suit a live stream: the position grows
    without bound, so a model trained on 4 s segments would meet positions it never saw,
    and float32 angles lose precision after hours. The causal flavour therefore encodes
    time with rotary embeddings (RoPE, Su et al. 2021) applied to q and k: the score of
    query n against key m depends only on n - m, never on n itself.
    The full-sequence form rotates q and k by their absolute frame positions 0..T-1 (angles
    computed in float64, so T of a few thousand frames stays exact to float32). The step
    form works relative to the current frame instead: the new query and key sit at offset
    0 (its rotation is the identity), the cache holds *unrotated* keys, and at each step the
    cached keys are rotated by their offsets -(W-1)..-1 from a table precomputed at
    construction. Since R(n)^T R(m) = R(m - n), both give the same scores; the step graph
    has no notion of absolute time, so a stream may run forever. Rotating the cache costs
    O(W * D) per block and step, the same order as the attention itself.

How far back a causal stack reaches
-----------------------------------
Each block sees W frames, but stacked blocks compound, as in any sliding-window transformer
(Longformer, Mistral): block 2's key at frame n - W + 1 already summarises frames back to
n - 2(W - 1). An output of L blocks thus depends on the last L(W-1) + 1 frames (plus what a
front end adds), not only the last W; the step form reproduces exactly this, since its
cached keys and values are those the full form computes. `context_frames` on the models
gives the exact figure.

Tokens per frame
----------------
A frame contributes N tokens: N = 1 for the convolutional transformer, N = frequency
patches for the ViT. Masks are frame-causal: all tokens of one frame see each other, and
the window counts frames, not tokens.

The step cache (per block)
--------------------------
keys and values of the last W-1 frames, [B, heads, (W-1)*N, head_dim], oldest first, and
a validity mask [B, W-1] (or [1, W-1]), float, 1 where a slot holds a real frame (at
stream start none does, so an all-zero initial state is correct). Each step concatenates the
cache and the new frame's entries (the W frames it attends to) and returns all but the oldest
frame as the next cache: a shift by one frame, shapes never change, and the step traces to a
static ONNX graph.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

ROPE_BASE = 10000.0


def sinusoidal_encoding(t: int | Tensor, dim: int, device=None) -> Tensor:
    """Vaswani et al.'s absolute encoding of positions 0..t-1: [t, dim], interleaved sin/cos.
    `t` may be a traced size (x.shape[1]) so the encoding follows a dynamic frame count."""
    half = (dim + 1) // 2
    inv_freq = torch.exp(torch.arange(half, dtype=torch.float32, device=device) * (-math.log(10000.0) * 2 / dim))
    angles = torch.arange(t, dtype=torch.float32, device=device)[:, None] * inv_freq[None, :]
    pe = torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1).flatten(1)
    return pe[:, :dim]  # an odd dim drops the last cosine


def rope_tables(positions: Tensor, head_dim: int) -> tuple[Tensor, Tensor]:
    """cos and sin of the rotary angles for the given frame positions: each [len, head_dim // 2].
    Angles are computed in float64 (position * frequency is where float32 would lose digits)."""
    half = head_dim // 2
    inv_freq = ROPE_BASE ** (-torch.arange(half, dtype=torch.float64, device=positions.device) / max(half, 1))
    angles = positions.to(torch.float64)[:, None] * inv_freq[None, :]
    return torch.cos(angles).float(), torch.sin(angles).float()


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate pairs (x[i], x[i + half]) of x [..., S, head_dim] by the angles of cos/sin [S, half].
    An odd head_dim leaves its last channel unrotated (D_e / H may be odd, e.g. 72 / 8)."""
    half = cos.shape[-1]
    x1, x2, rest = x[..., :half], x[..., half:2 * half], x[..., 2 * half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos, rest], dim=-1)


def frame_causal_mask(x: Tensor, tokens_per_frame: int, window: int) -> Tensor:
    """bool [T*N, T*N], True where a token may attend: same or earlier frame, at most window-1
    frames back. Built from x.shape[1] (x is [B, T, ...]) with torch.arange, so an exported
    graph rebuilds it for any number of frames."""
    frames = torch.arange(x.shape[1], device=x.device)
    frame_of = frames[:, None].expand(-1, tokens_per_frame).reshape(-1)  # frame index per token
    lag = frame_of[:, None] - frame_of[None, :]  # query frame - key frame
    return (lag >= 0) & (lag < window)


def sequence_rope_tables(x: Tensor, head_dim: int, tokens_per_frame: int = 1) -> tuple[Tensor, Tensor]:
    """The full-sequence form's rotation: absolute frame positions 0..T-1 (T = x.shape[1], traced),
    each repeated for the frame's N tokens: cos, sin [T*N, head_dim // 2]."""
    cos, sin = rope_tables(torch.arange(x.shape[1], device=x.device), head_dim)
    half = cos.shape[-1]
    return (cos[:, None, :].expand(-1, tokens_per_frame, -1).reshape(-1, half),
            sin[:, None, :].expand(-1, tokens_per_frame, -1).reshape(-1, half))


def cache_rope_tables(window: int, head_dim: int, tokens_per_frame: int) -> tuple[Tensor, Tensor]:
    """The step form's rotation of the keys it attends to: offsets -(W-1)..0 (the cached frames,
    oldest first, then the current frame, whose rotation is the identity), each repeated for the
    frame's N tokens: cos, sin [W*N, head_dim // 2]."""
    offsets = torch.arange(-(window - 1), 1).repeat_interleave(tokens_per_frame)
    return rope_tables(offsets, head_dim)


class Block(nn.Module):
    """Pre-LN self-attention + GELU feed-forward, both with residuals. Tokens are [B, S, D]."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads, self.head_dim, self.dropout = heads, dim // heads, dropout
        self.ln1 = nn.LayerNorm(dim)
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, 4 * dim)
        self.fc_out = nn.Linear(4 * dim, dim)
        self.drop = nn.Dropout(dropout)

    def _heads(self, x: Tensor) -> Tensor:  # [B, S, D] -> [B, heads, S, head_dim]
        b, s, _ = x.shape
        return x.reshape(b, s, self.heads, self.head_dim).transpose(1, 2)

    def _attend(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        b, _, s, _ = y.shape
        return self.drop(self.proj(y.transpose(1, 2).reshape(b, s, -1)))

    def _feed_forward(self, x: Tensor) -> Tensor:
        return self.drop(self.fc_out(F.gelu(self.fc(self.ln2(x)))))

    def forward(self, x: Tensor, mask: Tensor | None = None, rope: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """x [B, S, D]; mask bool [S, S] (True = may attend) or None (full attention);
        rope: (cos, sin) [S, head_dim // 2] of each token's frame position, or None."""
        h = self.ln1(x)
        q, k, v = self._heads(self.q(h)), self._heads(self.k(h)), self._heads(self.v(h))
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        x = x + self._attend(q, k, v, mask)
        return x + self._feed_forward(x)

    def step(self, x: Tensor, k_cache: Tensor, v_cache: Tensor, valid: Tensor,
             rope: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """One frame: x [B, N, D] (its N tokens); k_cache, v_cache [B, heads, (W-1)*N, head_dim]
        (keys unrotated); valid [B or 1, W-1]; rope: the rotation tables of cache_rope_tables, or
        None. Returns y [B, N, D] and the shifted k, v, valid."""
        n = x.shape[1]
        h = self.ln1(x)
        q, k_new, v_new = self._heads(self.q(h)), self._heads(self.k(h)), self._heads(self.v(h))
        # the W frames attended to, unrotated; dropping the oldest frame gives the next cache, so
        # one concatenation per tensor both attends and shifts
        k_all, v_all = torch.cat([k_cache, k_new], dim=2), torch.cat([v_cache, v_new], dim=2)
        keys = apply_rope(k_all, *rope) if rope is not None else k_all  # the query sits at offset 0: no rotation
        rows = valid.shape[0]
        past_ok = valid[:, :, None].expand(-1, -1, n).reshape(rows, -1) > 0  # one flag per cached token
        mask = torch.cat([past_ok, torch.ones(rows, n, dtype=torch.bool, device=x.device)], dim=1)
        x = x + self._attend(q, keys, v_all, mask[:, None, None, :])
        y = x + self._feed_forward(x)
        new_valid = torch.cat([valid[:, 1:], torch.ones_like(valid[:, :1])], dim=1)
        return y, k_all[:, :, n:], v_all[:, :, n:], new_valid


def check_attention(L: int, H: int, D_e: int, dropout: float, window: int) -> None:
    """Validate the hyperparameters both attention models share; ValueError says which is wrong."""
    for name, value in (("L", L), ("H", H), ("D_e", D_e), ("window", window)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if D_e % H:
        raise ValueError(f"D_e={D_e} must be divisible by H={H} (each head gets D_e / H channels)")
    if window < 2:
        raise ValueError(f"window must be at least 2 frames (the current one and one in the past), got {window}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
