"""The explicit step: a causal model's step rewritten into the forms int8 export quantizes.

The architectures (offline.architectures) define a model and its plain step, the one that
streams the full causal forward. This module builds a second step from the same modules
and weights, with the same arithmetic (tested to 1e-5 against the full forward), shaped for
onnxruntime's int8 quantization and for the cost of an ONNX node at these sizes:

* a recurrent stack (`ExplicitRecurrent`, for rnn.Recurrent): torch's GRU/LSTM equations as
  plain MatMuls (onnxruntime's quantizer has no GRU kernel), each layer's recurrent product
  made together with the next layer's input product and carried to the next frame, one state
  tensor per layer;
* a convolutional front end (`ExplicitFrontEnd`, for base.ConvFrontEnd): each convolution of
  the newest frame as one MatMul over an im2col matrix gathered by a constant index, batch
  norm folded into the weights, channels last. A MatMul is what the quantizer takes, and a
  Gather is what lets the activations be quantized before im2col repeats each of them (see
  offline.deploy.quantize). Three shortcuts keep the graph small: the first convolution keeps
  the im2col rows of its past frames (a frame's rows are gathered once); a convolution
  followed by pooling computes only the bands the pooling keeps, in the groups it takes them
  (no Slice, no Reshape before the max); and the other convolutions return their whole window
  as the new state, which the next step reads from its second frame on (no Slice: the
  runtime binds that part of the buffer, see `state_outputs` and rtadt.bundle.StateSpec).

`explicit_model(model)` is a copy of a model whose front end and recurrent stack are replaced
by these forms; the model's own step then composes them, so a model knows nothing of export.
"""
from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from offline.architectures.base import ConvFrontEnd, DrumModel, TimeConv
from offline.architectures.ensemble import Ensemble
from offline.architectures.rnn import Recurrent


# -- the convolutional front end as im2col MatMuls --

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


def fold_batch_norm(conv: TimeConv, bn: nn.BatchNorm2d) -> tuple[Tensor, Tensor]:
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
    weight, bias = fold_batch_norm(conv, bn)
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
    weight, bias = fold_batch_norm(conv, bn)
    return torch.relu(cols @ weight + bias), cols[:, :, rows.shape[2]:]


class ExplicitFrontEnd(nn.Module):
    """A ConvFrontEnd whose step is made of im2col MatMuls (see the module docstring); its
    forward, weights and the attributes a model reads (shapes, blocks, out_features) are the
    front end's own."""

    def __init__(self, front: ConvFrontEnd):
        super().__init__()
        self.front = front
        self.shapes, self.kernel = front.shapes, front.kernel
        self.out_channels, self.out_bands, self.out_features = front.out_channels, front.out_bands, front.out_features
        bands = front.shapes[0][1]
        for i, (_, bands_in) in enumerate(self.shapes):  # not in the state dict: derived from shapes
            if i == 0:
                index = frame_im2col_index(bands, front.in_channels, self.kernel)
            else:
                index = im2col_index(bands_in, self.kernel)
                pool = front.blocks[i // 2].pool_size
                if i % 2 and pool > 1:  # before pooling: only the bands it keeps, grouped as it takes them
                    groups = bands_in // pool
                    index = index[:groups * pool].reshape(groups, pool, *index.shape[1:])
            self.register_buffer(f"im2col{i}", index, persistent=False)

    @property
    def blocks(self) -> nn.ModuleList:
        return self.front.blocks

    def forward(self, x: Tensor) -> Tensor:
        return self.front(x)

    def state_shapes(self, batch: int, prefix: str = "conv") -> list[tuple[str, tuple[int, ...]]]:
        """Channels last, the previous frames stacked along the bands, but the first
        convolution's: the previous frames' im2col rows (see first_conv_step)."""
        past = self.kernel - 1  # input frames a causal convolution keeps
        (c, f), k = self.shapes[0], self.kernel
        return [(f"{prefix}0", (batch, f, past * k * c))] + [
            (f"{prefix}{i}", (batch, past * f, c)) for i, (c, f) in enumerate(self.shapes) if i]

    def state_outputs(self, batch: int) -> list[tuple[tuple[int, ...], int]]:
        """Per state, the shape step returns it in and the row (axis 1) from which the next
        step reads it: a convolution after the first returns its whole window (history, newest
        frame, zero row), and the next step reads the history from its second frame on; an
        exported graph then needs no Slice, and the runtime binds that part of the window's
        buffer as the next input (StateSpec.offset)."""
        k = self.kernel
        return [(self.state_shapes(batch)[0][1], 0)] + [
            ((batch, k * f + 1, c), f) for i, (c, f) in enumerate(self.shapes) if i]

    def step(self, frame: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """frame [B, F] -> [B, out_features], as ConvFrontEnd.step; state: one per convolution
        (returned as windows: see state_outputs)."""
        b = frame.shape[0]
        y, new = frame, []
        for i, block in enumerate(self.front.blocks):
            for j, (conv, bn) in enumerate(((block.conv1, block.bn1), (block.conv2, block.bn2))):
                n = 2 * i + j
                conv_step = first_conv_step if n == 0 else im2col_conv_step  # y: [B, bands, C] after the first
                y, history = conv_step(y, state[n], conv, bn, getattr(self, f"im2col{n}"))
                new.append(history)
            if block.pool_size > 1:  # y [B, groups, pool, C]: the im2col index grouped the bands
                y = y.amax(2)  # (a remainder of bands is left out, as MaxPool2d does)
        return y.transpose(1, 2).reshape(b, -1), new  # channel-major features, as the Conv form


# -- the recurrent stack as gate MatMuls --

class ExplicitRecurrent(nn.Module):
    """A causal Recurrent whose step is explicit gate matmuls instead of one nn.GRU/nn.LSTM
    call: the same arithmetic, exported as plain MatMul nodes that int8 weight quantization
    can take (onnxruntime's quantizer has no GRU kernel), with its own state: one tensor per
    layer and the recurrent products carried from the frame before (see step)."""

    def __init__(self, recurrent: Recurrent):
        super().__init__()
        self.recurrent = recurrent
        self.L, self.H, self.lstm = recurrent.L, recurrent.H, recurrent.lstm
        self.out_features = recurrent.out_features

    def forward(self, x: Tensor) -> Tensor:
        return self.recurrent(x)

    def state_shapes(self, batch: int) -> list[tuple[str, tuple[int, ...]]]:
        """One tensor per layer (the graph then neither slices nor stacks them): the GRU's h or
        the LSTM's c (its h only enters the products), then each layer's recurrent products,
        made when its h was new (see step)."""
        shapes = [(f"{'c' if self.lstm else 'h'}{layer}", (batch, self.H)) for layer in range(self.L)]
        for layer in range(self.L):
            if self.lstm:
                shapes.append((f"gh{layer}", (batch, 4 * self.H)))
            else:  # the reset and update gates' part, and the new gate's (which the reset gate scales)
                shapes += [(f"gh{layer}_rz", (batch, 2 * self.H)), (f"gh{layer}_n", (batch, self.H))]
        return shapes

    def _weight(self, kind: str, layer: int) -> Tensor:
        return getattr(self.recurrent.rnn, f"weight_{kind}_l{layer}")

    def _input_bias(self, layer: int) -> Tensor:
        """Every bias that adds to the input gates: both of the LSTM's; the GRU's recurrent
        bias of r and z but not of n, which the reset gate scales (see step)."""
        rnn = self.recurrent.rnn
        b_ih, b_hh = getattr(rnn, f"bias_ih_l{layer}"), getattr(rnn, f"bias_hh_l{layer}")
        if self.lstm:
            return b_ih + b_hh
        return b_ih + torch.cat([b_hh[:2 * self.H], torch.zeros_like(b_hh[2 * self.H:])])

    def step(self, x: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """x [B, n_in] -> [B, H]: the equations of torch's GRU and LSTM (gate order r, z, n and
        i, f, g, o; the GRU's reset gate applied after the recurrent bias, as torch does), with
        fewer products.

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
                b_hn = getattr(self.recurrent.rnn, f"bias_hh_l{layer}")[2 * H:]
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


# -- a whole model --

def explicit_model(model: DrumModel, convolutions: bool = True) -> DrumModel:
    """A copy of a causal model whose recurrent stacks (and, unless told not to, convolutional
    front ends) are replaced by their explicit forms; its step(), state_shapes() and
    initial_state() are then the explicit step's, its forward the model's."""
    model = copy.deepcopy(model)
    for path, module in list(model.named_modules()):
        if isinstance(module, Recurrent):
            explicit = ExplicitRecurrent(module)
        elif convolutions and isinstance(module, ConvFrontEnd):
            explicit = ExplicitFrontEnd(module)
        else:
            continue
        parent, _, name = path.rpartition(".")
        setattr(model.get_submodule(parent), name, explicit)
    return model


def state_outputs(model: DrumModel, batch: int = 1) -> list[tuple[tuple[int, ...], int]]:
    """Per state of model.state_shapes(batch), the shape step returns it in and the row (along
    axis 1) from which the next step reads it: (its shape, 0), but for the states of an
    explicit front end (ExplicitFrontEnd.state_outputs), found by name; an ensemble's are its
    members' in order (their names repeat)."""
    if isinstance(model, Ensemble):
        return [out for member in model.members for out in state_outputs(member, batch)]
    written: dict[str, tuple[tuple[int, ...], int]] = {}
    for module in model.modules():
        if isinstance(module, ExplicitFrontEnd):
            for (name, _), output in zip(module.state_shapes(batch), module.state_outputs(batch), strict=True):
                if name in written:
                    raise ValueError(f"two front ends name a state {name!r}")
                written[name] = output
    return [written.get(name, (shape, 0)) for name, shape in model.state_shapes(batch)]


def carried(returned: list[Tensor], shapes: list[tuple[str, tuple[int, ...]]],
            outputs: list[tuple[tuple[int, ...], int]]) -> list[Tensor]:
    """Each returned state as the next step reads it: whole, or (written larger than it is
    read) its rows along axis 1 from the row that `outputs` gives (see state_outputs)."""
    states = []
    for t, (name, shape), (written, start) in zip(returned, shapes, outputs, strict=True):
        if tuple(t.shape) != tuple(written):
            raise ValueError(f"state {name}: step returned {tuple(t.shape)}, not {tuple(written)}")
        states.append(t if tuple(written) == tuple(shape) else t[:, start:start + shape[1]])
    return states


def carry(model: DrumModel, returned: list[Tensor]) -> list[Tensor]:
    """The next step's state from the state model.step returned."""
    batch = returned[0].shape[0] if returned else 1
    return carried(returned, model.state_shapes(batch), state_outputs(model, batch))
