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

The front end's step has a second, explicit form (`ConvFrontEnd.explicit_step`, set by
offline.export for int8 steps): each convolution of the newest frame as one MatMul over an
im2col matrix gathered by a constant index, batch norm folded into the weights, channels
last. Same arithmetic as the Conv form (tested to 1e-5); a MatMul is what onnxruntime's
int8 quantization takes, and a Gather is what lets the activations be quantized before
im2col repeats each of them (see offline.export.quantize_int8). Three shortcuts keep the
graph small, since each node has a fixed cost at these sizes: the first convolution keeps
the im2col rows of its past frames (a frame's rows are gathered once); a convolution
followed by pooling computes only the bands the pooling keeps, in the groups it takes them
(no Slice, no Reshape before the max); and the other convolutions return their whole window
as the new state, which the next step reads from its second frame on (no Slice: the
runtime binds that part of the buffer, see DrumModel.state_outputs and rtadt.bundle.StateSpec).
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

    def state_outputs(self, batch: int = 1) -> list[tuple[tuple[int, ...], int]]:
        """Per state, the shape step returns it in and the row (along axis 1) from which the
        next step reads it: (its shape, 0), but for a convolutional front end's states in its
        explicit form (they come first; see ConvFrontEnd.state_outputs)."""
        front = getattr(self, "front", None)
        outputs = front.state_outputs(batch) if isinstance(front, ConvFrontEnd) else []
        return outputs + [(shape, 0) for _, shape in self.state_shapes(batch)[len(outputs):]]

    def carry(self, returned: list[Tensor]) -> list[Tensor]:
        """The next step's state from the state step returned."""
        batch = returned[0].shape[0] if returned else 1
        return carried(returned, self.state_shapes(batch), self.state_outputs(batch))

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


def carried(returned: list[Tensor], shapes: list[tuple[str, tuple[int, ...]]],
            outputs: list[tuple[tuple[int, ...], int]]) -> list[Tensor]:
    """Each returned state as the next step reads it: whole, or (written larger than it is
    read) its rows along axis 1 from the row that `outputs` gives (see DrumModel.state_outputs)."""
    states = []
    for t, (name, shape), (written, start) in zip(returned, shapes, outputs, strict=True):
        if tuple(t.shape) != tuple(written):
            raise ValueError(f"state {name}: step returned {tuple(t.shape)}, not {tuple(written)}")
        states.append(t if tuple(written) == tuple(shape) else t[:, start:start + shape[1]])
    return states


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


def im2col_index(bands: int, kernel: int = 3) -> Tensor:
    """Rows of a window [kernel frames x bands (+ one zero row), C] that the im2col matrix of
    a causal kernel x kernel convolution of its newest frame takes: index[f, t, j] is frame t
    (oldest first), band f + j - kernel // 2, or the zero row (kernel * bands) off the edge."""
    f = torch.arange(bands)[:, None, None]
    t = torch.arange(kernel)[None, :, None]
    band = f + torch.arange(kernel)[None, None, :] - kernel // 2
    inside = (band >= 0) & (band < bands)
    return torch.where(inside, t * bands + band, torch.full_like(band, kernel * bands))


def frame_im2col_index(bands: int, channels: int, kernel: int = 3) -> Tensor:
    """Elements of a frame of features (channel-major, then one zero) that the im2col rows of
    a convolution over its bands take: index[f, j * channels + c] is channel c at band
    f + j - kernel // 2, or the zero (channels * bands) off the edge."""
    band = torch.arange(bands)[:, None, None] + torch.arange(kernel)[None, :, None] - kernel // 2
    channel = torch.arange(channels)[None, None, :]
    inside = (band >= 0) & (band < bands)
    index = torch.where(inside, channel * bands + band, torch.full_like(band + channel, channels * bands))
    return index.reshape(bands, kernel * channels)


def _folded(conv: TimeConv, bn: nn.BatchNorm2d) -> tuple[Tensor, Tensor]:
    """A convolution with batch norm's running statistics folded in, as an im2col weight
    [(time tap, band tap, channel), C_out] and a bias."""
    k = conv.kernel
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    weight = (conv.conv.weight * scale[:, None, None, None]).permute(2, 3, 1, 0).reshape(k * k * conv.conv.in_channels, -1)
    return weight, (conv.conv.bias - bn.running_mean) * scale + bn.bias


def im2col_conv_step(x: Tensor, history: Tensor, conv: TimeConv, bn: nn.BatchNorm2d,
                     index: Tensor) -> tuple[Tensor, Tensor]:
    """relu(bn(conv)) of the newest frame as one MatMul (eval mode: batch norm's running
    statistics folded into the weights). x [B, bands, C] and history [B, (kernel-1) * bands, C]
    channels last, oldest frame first; returns the output [B, *index.shape[:-2], C_out] (the
    bands that `index` takes, in its layout) and the window [B, kernel * bands + 1, C]
    (history, x, a zero row), whose rows from `bands` to `kernel * bands` are the next history."""
    b, bands, c = x.shape
    k = conv.kernel
    window = torch.cat([history, x, x.new_zeros(b, 1, c)], 1)
    cols = window[:, index].reshape(b, *index.shape[:-2], k * k * c)  # (time tap, band tap, channel)
    weight, bias = _folded(conv, bn)
    return torch.relu(cols @ weight + bias), window


def first_conv_step(frame: Tensor, history: Tensor, conv: TimeConv, bn: nn.BatchNorm2d,
                    index: Tensor) -> tuple[Tensor, Tensor]:
    """im2col_conv_step for the convolution that reads the frame itself, with the im2col
    rows of the past frames as its history [B, bands, (kernel-1) * kernel * C]: a frame's rows
    are gathered once, not once per time tap, and gathered straight from the features (with
    one or two channels, an im2col gather copies one number per element: its cost is the
    element count)."""
    b = frame.shape[0]
    rows = torch.cat([frame, frame.new_zeros(b, 1)], 1)[:, index]  # [B, bands, (band tap, channel)]
    cols = torch.cat([history, rows], 2)  # (time tap, band tap, channel)
    weight, bias = _folded(conv, bn)
    return torch.relu(cols @ weight + bias), cols[:, :, rows.shape[2]:]


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
        self.explicit_step = False  # step() as im2col MatMuls (see the module docstring)
        for i, (_, bands_in) in enumerate(self.shapes):  # not in the state dict: derived from shapes
            if i == 0:
                index = frame_im2col_index(bands, in_channels, self.kernel)
            else:
                index = im2col_index(bands_in, self.kernel)
                pool = self.blocks[i // 2].pool_size
                if i % 2 and pool > 1:  # before pooling: only the bands it keeps, grouped as it takes them
                    groups = bands_in // pool
                    index = index[:groups * pool].reshape(groups, pool, *index.shape[1:])
            self.register_buffer(f"im2col{i}", index, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        y = as_image(x, self.in_channels)
        for block in self.blocks:
            y = block(y)
        b, c, t, f = y.shape
        return y.permute(0, 2, 1, 3).reshape(b, t, c * f)

    def state_shapes(self, batch: int, prefix: str = "conv") -> list[tuple[str, tuple[int, ...]]]:
        past = self.kernel - 1  # input frames a causal convolution keeps
        if self.explicit_step:  # channels last, the previous frames stacked along the bands, but
            # the first convolution's: the previous frames' im2col rows (see first_conv_step)
            (c, f), k = self.shapes[0], self.kernel
            return [(f"{prefix}0", (batch, f, past * k * c))] + [
                (f"{prefix}{i}", (batch, past * f, c)) for i, (c, f) in enumerate(self.shapes) if i]
        return [(f"{prefix}{i}", (batch, c, past, f)) for i, (c, f) in enumerate(self.shapes)]

    def state_outputs(self, batch: int, prefix: str = "conv") -> list[tuple[tuple[int, ...], int]]:
        """As DrumModel.state_outputs: in the explicit form a convolution after the first
        returns its whole window (history, newest frame, zero row), and the next step reads
        the history from its second frame on; an exported graph then needs no Slice, and the
        runtime binds that part of the window's buffer as the next input (StateSpec.offset)."""
        shapes = self.state_shapes(batch, prefix)
        if not self.explicit_step:
            return [(shape, 0) for _, shape in shapes]
        k = self.kernel
        return [(shapes[0][1], 0)] + [((batch, k * f + 1, c), f) for i, (c, f) in enumerate(self.shapes) if i]

    def step(self, frame: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """frame [B, F] -> [B, out_features]; state: one history per convolution (the
        explicit form returns windows: see state_outputs)."""
        if self.explicit_step:
            return self._im2col_step(frame, state)
        y = as_image(frame[:, None, :], self.in_channels)  # [B, C, 1, bands]
        new = []
        for i, block in enumerate(self.blocks):
            y, h1, h2 = block.step(y, state[2 * i], state[2 * i + 1])
            new += [h1, h2]
        return y.reshape(y.shape[0], -1), new

    def _im2col_step(self, frame: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        b = frame.shape[0]
        y, new = frame, []
        for i, block in enumerate(self.blocks):
            for j, (conv, bn) in enumerate(((block.conv1, block.bn1), (block.conv2, block.bn2))):
                n = 2 * i + j
                conv_step = first_conv_step if n == 0 else im2col_conv_step  # y: [B, bands, C] after the first
                y, history = conv_step(y, state[n], conv, bn, getattr(self, f"im2col{n}"))
                new.append(history)
            if block.pool_size > 1:  # y [B, groups, pool, C]: the im2col index grouped the bands
                y = y.amax(2)  # (a remainder of bands is left out, as MaxPool2d does)
        return y.transpose(1, 2).reshape(b, -1), new  # channel-major features, as the Conv form
