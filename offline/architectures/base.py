"""What every architecture shares: the model interface, and the convolutional front end.

Every model maps features [batch, frames, features] to logits [batch, frames, classes].
A *causal* model (flavour "causal") never looks at a future frame and also has a step
form, `step(frame, state) -> (logits, state)`, whose state is a fixed-size list of
tensors, so that the runtime can host it as an ONNX graph with state inputs and outputs.
Stepping frame by frame must reproduce the full-sequence causal outputs.

The convolutional blocks follow Vogl et al. (ISMIR 2017) as used in the architecture
study: two 3x3 convolutions with batch norm and ReLU, max-pooling over frequency only
(so the frame rate is kept), dropout. In the causal flavour, convolutions are padded on
the past only; their step form keeps the last (kernel - 1) input frames of each layer.

Export builds its own step forms from these modules (offline.deploy.shaping).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

FLAVOURS = ("offline", "causal")


class DrumModel(nn.Module):
    """Base class: subclasses set `self.causal` and implement forward (and the step form)."""

    config: object
    causal: bool

    def __init__(self, config, num_features: int, num_classes: int, flavour: str, channels: int = 1):
        super().__init__()
        if flavour not in FLAVOURS:
            raise ValueError(f"flavour must be one of {FLAVOURS}, got {flavour!r}")
        if num_features <= 0 or num_classes <= 0:
            raise ValueError("num_features and num_classes must be positive")
        if channels <= 0 or num_features % channels:
            raise ValueError(f"{num_features} features do not split into {channels} channels")
        self.config = config
        self.num_features = num_features
        # Feature rows are channel-major: [bands of channel 0, bands of channel 1, ...]
        # (FeatureConfig.positive_diff appends the difference bands as a second channel).
        self.channels = channels
        self.bands = num_features // channels
        self.num_classes = num_classes
        self.flavour = flavour
        self.causal = flavour == "causal"

    def forward(self, x: Tensor) -> Tensor:  # [B, T, F] -> [B, T, C]
        raise NotImplementedError

    # -- the step form (causal flavour only) --
    def state_shapes(self, batch: int = 1) -> list[tuple[str, tuple[int, ...]]]:
        """Names and shapes of the state tensors, in the order step takes and returns them."""
        raise NotImplementedError

    def initial_state(self, batch: int = 1) -> list[Tensor]:
        return [torch.zeros(shape) for _, shape in self.state_shapes(batch)]

    def step(self, frame: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """frame [B, F] -> logits [B, C] and the new state."""
        raise NotImplementedError

    def _require_causal(self) -> None:
        if not self.causal:
            raise RuntimeError(f"{type(self).__name__} ({self.flavour}) has no step form; use flavour='causal'")

    def describe(self) -> dict:
        return {"class": type(self).__name__, "flavour": self.flavour, "hyperparameters": asdict(self.config),
                "parameters": sum(p.numel() for p in self.parameters())}


@dataclass(frozen=True)
class ConvSpec:
    channels: int
    dropout: float = 0.3
    pool: int = 3  # max-pooling over frequency only


class TimeConv(nn.Module):
    """A 2-D convolution over (time, frequency), 'same' in frequency; in time 'same'
    (offline) or padded on the past only (causal). Input and output [B, C, T, F]."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, causal: bool = False):
        super().__init__()
        self.kernel, self.causal = kernel, causal
        self.conv = nn.Conv2d(c_in, c_out, kernel, padding=(0, kernel // 2))
        self.past = kernel - 1 if causal else kernel // 2
        self.future = 0 if causal else kernel - 1 - kernel // 2

    def forward(self, x: Tensor) -> Tensor:
        x = nn.functional.pad(x, (0, 0, self.past, self.future))
        return self.conv(x)

    def step(self, x: Tensor, history: Tensor) -> tuple[Tensor, Tensor]:
        """x [B, C, 1, F], history [B, C, kernel-1, F] (the previous input frames)."""
        window = torch.cat([history, x], dim=2)
        return self.conv(window), window[:, :, 1:]


class ConvBlock(nn.Module):
    """conv-BN-ReLU, conv-BN-ReLU, max-pool over frequency, dropout."""

    def __init__(self, c_in: int, spec: ConvSpec, causal: bool):
        super().__init__()
        self.conv1 = TimeConv(c_in, spec.channels, causal=causal)
        self.bn1 = nn.BatchNorm2d(spec.channels)
        self.conv2 = TimeConv(spec.channels, spec.channels, causal=causal)
        self.bn2 = nn.BatchNorm2d(spec.channels)
        self.pool = nn.MaxPool2d((1, spec.pool)) if spec.pool > 1 else nn.Identity()
        self.pool_size = spec.pool
        self.drop = nn.Dropout(spec.dropout)
        self.c_in, self.c_out = c_in, spec.channels

    def forward(self, x: Tensor) -> Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.drop(self.pool(x))

    def step(self, x: Tensor, h1: Tensor, h2: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        y, h1 = self.conv1.step(x, h1)
        y = torch.relu(self.bn1(y))
        y, h2 = self.conv2.step(y, h2)
        y = torch.relu(self.bn2(y))
        return self.drop(self.pool(y)), h1, h2


def as_image(x: Tensor, channels: int) -> Tensor:
    """Features [B, T, channels * bands] -> [B, channels, T, bands]."""
    b, t, f = x.shape
    return x.reshape(b, t, channels, f // channels).permute(0, 2, 1, 3)


class ConvFrontEnd(nn.Module):
    """A stack of ConvBlocks: features [B, T, in_channels * bands] -> [B, T, channels * pooled bands]."""

    def __init__(self, bands: int, specs: tuple[ConvSpec, ...], causal: bool, in_channels: int = 1):
        super().__init__()
        self.in_channels = in_channels
        blocks, c, f = [], in_channels, bands
        self.shapes = []  # (channels in, bands in) of each convolution, for the step state
        for spec in specs:
            blocks.append(ConvBlock(c, spec, causal))
            self.shapes += [(c, f), (spec.channels, f)]
            self.kernel = blocks[-1].conv1.kernel  # every convolution's (ConvBlock: 3)
            c, f = spec.channels, f // spec.pool if spec.pool > 1 else f
            if f < 1:
                raise ValueError(f"{bands} bands are too few for {len(specs)} pooling blocks")
        self.blocks = nn.ModuleList(blocks)
        self.out_channels, self.out_bands = c, f
        self.out_features = c * f

    def forward(self, x: Tensor) -> Tensor:
        y = as_image(x, self.in_channels)
        for block in self.blocks:
            y = block(y)
        b, c, t, f = y.shape
        return y.permute(0, 2, 1, 3).reshape(b, t, c * f)

    def state_shapes(self, batch: int, prefix: str = "conv") -> list[tuple[str, tuple[int, ...]]]:
        past = self.kernel - 1  # input frames a causal convolution keeps
        return [(f"{prefix}{i}", (batch, c, past, f)) for i, (c, f) in enumerate(self.shapes)]

    def step(self, frame: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """frame [B, F] -> [B, out_features]; state: one history per convolution."""
        y = as_image(frame[:, None, :], self.in_channels)  # [B, C, 1, bands]
        new = []
        for i, block in enumerate(self.blocks):
            y, h1, h2 = block.step(y, state[2 * i], state[2 * i + 1])
            new += [h1, h2]
        return y.reshape(y.shape[0], -1), new
