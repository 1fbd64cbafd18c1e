"""An independent oracle: build a netcalc graph as PyTorch modules and measure it.

Each node of a parsed graph (netcalc.graph.Graph) becomes a torch module built from the node's
arguments only; netcalc's computed figures are never read. A zero tensor of batch 2 is run
through the modules in graph order, and for every node the oracle records what torch itself
says: the output shape (without the batch axis, in the spec's layout), the parameter count,
the trainable count (requires_grad), the buffer count and, for convolutions, transposed
convolutions, linear layers and shortcuts, the multiply-accumulates derived from the module's weight
tensor and the measured tensors.

Layout: tensors are kept in the spec's layout (batch first). For 'hwc' specs, layers that
torch defines channels-first (convolutions, pooling, batchnorm, groupnorm, instancenorm, a prelu's
channel α, padding, cropping, upsampling)
move the channel axis to position 1 around the torch module and back afterwards; flatten, reshape,
linear (on the last axis), layernorm (over the given axes), softmax, the elementwise layers, permute
(x.permute(0, *dims): netcalc's dims count from 1 without the batch) and repeat_vector
(x.unsqueeze(1).expand) work on the spec's layout directly.

Buffers exclude BatchNorm's `num_batches_tracked` (an int64 step counter that netcalc does not
list); the running mean and variance are counted.

Sequences (layouts ntf and tnf): shapes are (T, F) without the batch. Inputs with an integer
dtype, and inputs read by an embedding, are integer token ids (torch.long zeros). A recurrent
node becomes nn.RNN (tanh) / nn.LSTM / nn.GRU with batch_first=True for `ntf`; for `tnf` the module
is built with batch_first=False and handed the time-first view of the (batch-first) tensor, its
outputs turned back afterwards. The output follows netcalc's pytorch semantics: the whole
sequence with return_sequences, else the last step (output[:, -1]); two directions merged other
than by concatenation are summed, multiplied or averaged half by half. With return_state the final
states h_n (and c_n), (num_layers·D, batch, units) in torch, are registered as NAME.h (NAME.c)
with the batch moved first, for later nodes to read, and their shapes recorded in `extra`; the
states a node reads after its sequence (initial_state) become torch's (h_0, c_0) (`_initial_states`),
and `dropout` is torch's own, between stacked layers.
For embeddings and recurrent nodes the oracle also lists torch's own tensor names and shapes
(named_parameters of the torch module), and the recurrent MACs are, per step, rows × cols of
every weight_ih / weight_hh matrix, times T.

A free parameter (`parameter`, no input) is an nn.Parameter of its shape on a module of its own,
registered under the node's name, and expanded over the batch in forward (`FreeParameter`); a node
sharing it (`shares:`) calls that module again.

Merges read several tensors (Node.inputs lists them in order): add and multiply are torch's own
`+` and `*` on the batched tensors (so torch broadcasts with the batch axis in place: a (C,) map
meets (N, C), not (C,)), concat is torch.cat along the node's axis (default: the layout's channel
axis, dim 1 for chw, the last for hwc; an explicit axis a is dim a + 1, or a when negative).
The residual shortcut (He et al. 2015) is built channels first: option A as x[:, :, ::s, ::s] and
F.pad of the channel axis with (C_out − C_in)//2 zero channels before and the rest after; options
B and C as nn.Sequential(nn.Conv2d(C_in, C_out, 1, stride=s, bias=BIAS), nn.BatchNorm2d(C_out))
(BIAS: the node's `bias`, false by default)
(no batchnorm with batchnorm: false) when projecting (always for C; for B when the channels or the
stride change), an identity otherwise. For shortcuts the oracle lists torch's tensor names and
shapes, parameters and buffers (named_parameters, then named_buffers), and the MACs of the 1×1
convolution (0 without one).

A max pool with return_indices is built with return_indices=True (`PoolIndices`), its indices
registered as NAME.indices (in the spec's layout, their shape recorded in `extra`); a max unpool
is nn.MaxUnpool2d(kernel, stride, padding) called on its map and those indices, with output_size
when the node has one (`Unpool`).

What torch has no layer or word for is built as PyTorch users write it: cropping as slicing,
x[..., t:H − b, l:W − r] (`Crop`); conv1d's padding 'causal' (Keras Conv1D's) as F.pad(x, (d(k − 1), 0))
before an unpadded nn.Conv1d (`LeftPad`). Reflection and replication padding are nn.ReflectionPad1d/2d
and nn.ReplicationPad1d/2d, given the pairs last axis first.

A node that torch refuses (at construction or in the forward pass) is recorded with the error
text; the nodes that read it are recorded as skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce

import torch
import torch.nn.functional as F
from torch import nn

BATCH = 2
RECURRENT = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
CONV_OPS = {"conv1d": 1, "conv2d": 2, "conv3d": 3}
CONV_TRANSPOSE_OPS = {"conv1d_transpose": 1, "conv2d_transpose": 2, "conv3d_transpose": 3}
MAC_OPS = (*CONV_OPS, *CONV_TRANSPOSE_OPS, "dense", "shortcut", *RECURRENT, "attention")
TENSOR_OPS = ("embedding", "shortcut", *RECURRENT, "attention")  # ops whose tensor names and shapes are listed
MERGE_OPS = ("add", "multiply", "concat")  # ops that read two or more tensors
SOURCE_OPS = ("parameter",)  # ops that read no tensor
EXTRA_INPUT_OPS = (*RECURRENT, "maxunpool2d", "attention")  # ops that read more tensors after the first
INT_DTYPES = ("int8", "int32", "int64")
IGNORED_BUFFERS = ("num_batches_tracked",)


@dataclass
class OracleRow:
    """What torch says about one node."""

    name: str
    op: str
    out_shape: tuple | None = None
    params: int = 0
    trainable: int = 0
    buffers: int = 0
    macs: int | None = None  # for conv / conv-transpose / dense / recurrent only
    extra: dict = field(default_factory=dict)  # recurrent final states: suffix -> shape without the batch
    tensors: list = field(default_factory=list)  # [(torch name, shape)] for TENSOR_OPS
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class OracleResult:
    rows: dict[str, OracleRow] = field(default_factory=dict)
    model: nn.ModuleDict = field(default_factory=nn.ModuleDict)

    @property
    def total_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @property
    def total_trainable(self) -> int:
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad)

    @property
    def total_buffers(self) -> int:
        return sum(b.numel() for name, b in self.model.named_buffers() if name.split(".")[-1] not in IGNORED_BUFFERS)


class OracleError(Exception):
    """The oracle cannot express a node in torch (not a torch refusal)."""


# --------------------------------------------------------------------------- layout helpers


def _to_cf(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return x.movedim(-1, 1) if channels_last and x.dim() > 2 else x


def _from_cf(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return x.movedim(1, -1) if channels_last and x.dim() > 2 else x


class ChannelsFirst(nn.Module):
    """Runs `body` on the channels-first view of a spec-layout tensor; `back` moves the result
    back to the spec's layout (off for outputs that lost their spatial axes)."""

    def __init__(self, body: nn.Module, channels_last: bool, back: bool = True) -> None:
        super().__init__()
        self.body = body
        self.channels_last = channels_last
        self.back = back

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(_to_cf(x, self.channels_last))
        return _from_cf(y, self.channels_last) if self.back else y


class Reshape(nn.Module):
    def __init__(self, shape: tuple) -> None:
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)


class Permuted(nn.Module):
    """Runs `body` with the tensor's axes permuted by `perm`, then restores the order."""

    def __init__(self, body: nn.Module, perm: list[int]) -> None:
        super().__init__()
        self.body = body
        self.perm = list(perm)
        self.inverse = [perm.index(i) for i in range(len(perm))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.permute(self.perm)).permute(self.inverse)


class Recurrent(nn.Module):
    """A torch RNN / LSTM / GRU on a batch-first tensor, with netcalc's pytorch output semantics.

    time_first: the module was built with batch_first=False and gets the time-first view.
    After a forward pass, `states` holds h_n (and c_n) with the batch axis moved first."""

    def __init__(self, rnn: nn.RNNBase, time_first: bool, sequences: bool, merge: str) -> None:
        super().__init__()
        self.rnn = rnn
        self.time_first = time_first
        self.sequences = sequences
        self.merge = merge
        self.states: dict[str, torch.Tensor] = {}

    def forward(self, x: torch.Tensor, *states: torch.Tensor) -> torch.Tensor:
        hx = _initial_states(states, isinstance(self.rnn, nn.LSTM)) if states else None
        out, state = self.rnn(x.transpose(0, 1) if self.time_first else x, hx)
        if self.time_first:
            out = out.transpose(0, 1)  # (T, N, D·u) -> (N, T, D·u)
        if self.merge != "concat":
            fwd, bwd = out.chunk(2, dim=-1)  # torch concatenates [forward, reverse] on the last axis
            out = {"sum": fwd + bwd, "mul": fwd * bwd, "ave": (fwd + bwd) / 2}[self.merge]
        h, c = state if isinstance(state, tuple) else (state, None)
        # h_n / c_n are (num_layers·D, N, u) whatever batch_first says: the batch is the middle axis
        self.states = {"h": h.transpose(0, 1)}
        if c is not None:
            self.states["c"] = c.transpose(0, 1)
        return out if self.sequences else out[:, -1]


def _initial_states(states: tuple, lstm: bool):
    """torch's hx from the states a node reads after its sequence (initial_state), batch first as
    netcalc lays them out: PyTorch's h_0 (and c_0), (N, num_layers·D, u) each → (num_layers·D, N, u);
    Keras's h (and c) (N, u) per direction, the forward layer's first → h_0 = the directions'
    h stacked on a first axis (and c_0 alike)."""
    if states[0].dim() == 3:
        hx = [s.transpose(0, 1).contiguous() for s in states]
    else:
        per = 2 if lstm else 1
        hx = [torch.stack(list(states[k::per])) for k in range(per)]
    return tuple(hx) if lstm else hx[0]


def _recurrent(op: str, a: dict, x: torch.Tensor, layout: str) -> tuple[nn.Module, nn.Module]:
    if x.dim() == 2:  # torch would take (batch, features) as one unbatched sequence of `batch` steps
        raise OracleError(f"{op} on a sample of one axis (torch would read the batch as the steps)")
    time_first = layout == "tnf"  # any other layout is batch first; torch itself refuses a wrong rank
    if op == "gru" and a.get("reset_after") is False:
        raise OracleError("torch's GRU has no reset_after: false")
    rnn = RECURRENT[op](
        x.shape[-1],
        a["units"],
        num_layers=a["num_layers"],
        bias=a["bias"],
        batch_first=not time_first,
        bidirectional=a["bidirectional"],
        # between stacked layers, as nn.RNN/LSTM/GRU apply it (with one layer torch would only warn);
        # Keras's recurrent_dropout has no torch counterpart (the Keras cases compare shapes only)
        dropout=(a.get("dropout") or 0.0) if a["num_layers"] > 1 else 0.0,
        **({"nonlinearity": "tanh"} if op == "rnn" else {}),
    )
    merge = a["merge_mode"] if a["bidirectional"] else "concat"
    return Recurrent(rnn, time_first, a["return_sequences"], merge), rnn


# --------------------------------------------------------------------------- builders


def _is_symmetric(pads) -> bool:
    return all(pb == pa for pb, pa in pads)


def _pad_module(pads, nd: int) -> nn.Module:
    """A zero-padding module for (before, after) pairs per spatial axis (outermost first)."""
    flat: list[int] = []
    for pb, pa in reversed(list(pads)):  # torch's pad order: last axis first
        flat += [pb, pa]
    if nd == 1:
        return nn.ZeroPad1d(tuple(flat))
    if nd == 2:
        return nn.ZeroPad2d(tuple(flat))
    if nd == 3:
        return nn.ZeroPad3d(tuple(flat))
    raise OracleError(f"no zero-padding module for {nd} spatial axes")


COPY_PADS = {  # reflection and replication padding: torch's own modules, by rank
    "reflectionpad1d": nn.ReflectionPad1d,
    "reflectionpad2d": nn.ReflectionPad2d,
    "replicationpad1d": nn.ReplicationPad1d,
    "replicationpad2d": nn.ReplicationPad2d,
}


def _flat_pads(pads) -> tuple:
    """(before, after) pairs per spatial axis, outermost first, in torch's order: last axis first."""
    flat: list[int] = []
    for pb, pa in reversed(list(pads)):
        flat += [pb, pa]
    return tuple(flat)


class Crop(nn.Module):
    """Cropping as PyTorch users write it (torch has no layer): slicing x[..., t:H − b, l:W − r]
    on the trailing (spatial) axes of a channels-first tensor."""

    def __init__(self, crops) -> None:
        super().__init__()
        self.crops = [tuple(c) for c in crops]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nd = len(self.crops)
        index = [slice(None)] * (x.dim() - nd)
        index += [slice(cb, x.shape[x.dim() - nd + i] - ca) for i, (cb, ca) in enumerate(self.crops)]
        return x[tuple(index)]


class LeftPad(nn.Module):
    """A causal convolution's padding as PyTorch users write it: F.pad(x, (d(k − 1), 0)) before an
    unpadded nn.Conv1d."""

    def __init__(self, left: int) -> None:
        super().__init__()
        self.left = left

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (self.left, 0))


def _conv(a: dict, x: torch.Tensor, nd: int, channels_last: bool) -> tuple[nn.Module, nn.Module]:
    c_in = x.shape[-1] if channels_last else x.shape[1]
    groups = c_in if a["groups"] == "depthwise" else a["groups"]
    filters = a["filters"]
    if filters is None and a["groups"] == "depthwise":
        filters = c_in
    cls = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[nd]
    padding = a["padding"]
    pre = None
    if padding == "valid":
        torch_padding: object = 0
    elif padding == "same":
        torch_padding = "same"
    elif padding == "causal":  # PyTorch has no such word: pad the left, then convolve unpadded
        pre = LeftPad(a["dilation"][0] * (a["kernel"][0] - 1))
        torch_padding = 0
    elif _is_symmetric(padding):
        torch_padding = tuple(pb for pb, _ in padding)
    else:
        pre = _pad_module(padding, nd)
        torch_padding = 0
    conv = cls(
        c_in,
        filters,
        tuple(a["kernel"]),
        stride=tuple(a["stride"]),
        padding=torch_padding,
        dilation=tuple(a["dilation"]),
        groups=groups,
        bias=a["bias"],
    )
    body = conv if pre is None else nn.Sequential(pre, conv)
    return ChannelsFirst(body, channels_last), conv


def _conv_transpose(a: dict, x: torch.Tensor, nd: int, channels_last: bool) -> tuple[nn.Module, nn.Module]:
    c_in = x.shape[-1] if channels_last else x.shape[1]
    padding = a["padding"]
    if padding == "valid":
        torch_padding: object = 0
    elif padding == "same":
        torch_padding = "same"  # torch refuses it in the forward pass
    elif _is_symmetric(padding):
        torch_padding = tuple(pb for pb, _ in padding)
    else:
        raise OracleError(f"ConvTranspose{nd}d takes symmetric padding only")
    cls = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}[nd]
    conv = cls(
        c_in,
        a["filters"],
        tuple(a["kernel"]),
        stride=tuple(a["stride"]),
        padding=torch_padding,
        output_padding=tuple(a["output_padding"]) if a["output_padding"] is not None else 0,
        groups=a["groups"],
        bias=a["bias"],
        dilation=tuple(a["dilation"]),
    )
    return ChannelsFirst(conv, channels_last), conv


def _pool(kind: str, nd: int, a: dict, channels_last: bool) -> nn.Module:
    padding = a["padding"]
    if padding == "valid":
        torch_padding: object = 0
    elif padding == "same":
        torch_padding = "same"  # torch refuses it in the forward pass
    elif _is_symmetric(padding):
        torch_padding = tuple(pb for pb, _ in padding)
    else:
        raise OracleError("torch pooling takes symmetric padding only")
    kernel = tuple(a["kernel"])
    stride = tuple(a["stride"]) if a["stride"] is not None else None
    if kind == "max":
        cls = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}[nd]
        indices = bool(a.get("return_indices"))
        pool = cls(kernel, stride, torch_padding, dilation=tuple(a["dilation"]), ceil_mode=a["ceil_mode"],
                   return_indices=indices)  # fmt: skip
        if indices:
            return PoolIndices(pool, channels_last)
    else:
        cls = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}[nd]
        pool = cls(kernel, stride, torch_padding, ceil_mode=a["ceil_mode"])
    return ChannelsFirst(pool, channels_last)


class PoolIndices(nn.Module):
    """A max pool built with return_indices=True on the channels-first view: its output, and after a
    forward pass `states` = {"indices": the indices}, both in the spec's layout."""

    def __init__(self, pool: nn.Module, channels_last: bool) -> None:
        super().__init__()
        self.pool = pool
        self.channels_last = channels_last
        self.states: dict[str, torch.Tensor] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, idx = self.pool(_to_cf(x, self.channels_last))
        self.states = {"indices": _from_cf(idx, self.channels_last)}
        return _from_cf(y, self.channels_last)


class Unpool(nn.Module):
    """nn.MaxUnpool2d on the channels-first views of a map and its max pool's indices, with the node's
    output_size when it has one."""

    def __init__(self, unpool: nn.Module, output_size, channels_last: bool) -> None:
        super().__init__()
        self.unpool = unpool
        self.output_size = output_size
        self.channels_last = channels_last

    def forward(self, x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        cl = self.channels_last
        y = self.unpool(_to_cf(x, cl), _to_cf(indices, cl), output_size=self.output_size)
        return _from_cf(y, cl)


def _unpool(a: dict, channels_last: bool) -> nn.Module:
    kernel = tuple(a["kernel"])
    stride = tuple(a["stride"]) if a["stride"] is not None else kernel
    size = tuple(a["output_size"]) if a["output_size"] is not None else None
    return Unpool(nn.MaxUnpool2d(kernel, stride, tuple(a["padding"])), size, channels_last)


ADAPTIVE_POOLS = {
    ("avg", 1): nn.AdaptiveAvgPool1d,
    ("avg", 2): nn.AdaptiveAvgPool2d,
    ("avg", 3): nn.AdaptiveAvgPool3d,
    ("max", 1): nn.AdaptiveMaxPool1d,
    ("max", 2): nn.AdaptiveMaxPool2d,
    ("max", 3): nn.AdaptiveMaxPool3d,
}


def _global_pool(kind: str, nd: int, a: dict, channels_last: bool) -> nn.Module:
    cls = ADAPTIVE_POOLS[(kind, nd)]
    if a["keepdims"]:
        return ChannelsFirst(cls(1), channels_last)
    return ChannelsFirst(nn.Sequential(cls(1), nn.Flatten()), channels_last, back=False)


def _adaptive_pool(kind: str, nd: int, a: dict, channels_last: bool) -> nn.Module:
    return ChannelsFirst(ADAPTIVE_POOLS[(kind, nd)](tuple(a["output_size"])), channels_last)


def _prelu(a: dict, x: torch.Tensor, channels_last: bool) -> nn.Module:
    """nn.PReLU with PyTorch's defaults (one α, init 0.25) unless the node says otherwise; one α per
    channel on the channels-first view; torch has no α per element (Keras's default)."""
    alphas = a["alphas"] or "one"
    if alphas == "element":
        raise OracleError("torch's nn.PReLU has no α per element (num_parameters is 1 or the channels)")
    init = a["alpha_init"] if a["alpha_init"] is not None else 0.25
    c = x.shape[-1] if channels_last else x.shape[1]
    return ChannelsFirst(nn.PReLU(c if alphas == "channel" else 1, init=init), channels_last)


def _instancenorm(a: dict, x: torch.Tensor, channels_last: bool) -> nn.Module:
    """nn.InstanceNorm1d/2d/3d by the rank, PyTorch's defaults (affine false, eps 1e-5) unless written."""
    rank = x.dim() - 1
    cls = {2: nn.InstanceNorm1d, 3: nn.InstanceNorm2d, 4: nn.InstanceNorm3d}.get(rank)
    if cls is None:
        raise OracleError(f"no torch InstanceNorm for an input of {rank} axes")
    c = x.shape[-1] if channels_last else x.shape[1]
    eps = a["eps"] if a["eps"] is not None else 1e-5
    affine = a["affine"] if a["affine"] is not None else False
    return ChannelsFirst(cls(c, eps=eps, affine=affine), channels_last)


class Permute(nn.Module):
    """x.permute(0, *dims): netcalc's dims are Keras's, numbered from 1 without the batch."""

    def __init__(self, dims) -> None:
        super().__init__()
        self.dims = (0, *dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(self.dims)


class RepeatVector(nn.Module):
    """(N, F) → (N, n, F) as x.unsqueeze(1).expand(-1, n, -1)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2:
            raise ValueError(f"repeat_vector of a tensor of {x.dim()} axes with the batch (a vector has 2)")
        return x.unsqueeze(1).expand(-1, self.n, -1)


def _bn_eps(keras: bool) -> float:
    """The framework's own default: Keras's BatchNormalization epsilon 1e-3, torch's BatchNorm*d eps 1e-5."""
    return 1e-3 if keras else 1e-5


def _batchnorm(a: dict, x: torch.Tensor, channels_last: bool, keras: bool) -> nn.Module:
    rank = x.dim() - 1
    cls = {1: nn.BatchNorm1d, 2: nn.BatchNorm1d, 3: nn.BatchNorm2d, 4: nn.BatchNorm3d}.get(rank)
    if cls is None:
        raise OracleError(f"no torch BatchNorm for an input of {rank} axes")
    c = x.shape[-1] if channels_last else x.shape[1]
    momentum = a["momentum"] if a["momentum"] is not None else 0.1  # torch's default; None means cumulative
    eps = a["eps"] if a["eps"] is not None else _bn_eps(keras)
    bn = cls(c, eps=eps, momentum=momentum, affine=a["affine"])
    return ChannelsFirst(bn, channels_last)


def _layernorm(a: dict, x: torch.Tensor) -> nn.Module:
    rank = x.dim() - 1
    axes = sorted({ax % rank for ax in a["axes"]} if all(-rank <= ax < rank for ax in a["axes"]) else set())
    if not axes:
        raise OracleError(f"layernorm axes {a['axes']} do not fit an input of {rank} axes")
    dims = [1 + ax for ax in axes]  # with the batch axis
    kept = [d for d in range(x.dim()) if d not in dims]
    norm_shape = tuple(x.shape[d] for d in dims)
    ln = nn.LayerNorm(norm_shape, eps=a["eps"], elementwise_affine=a["affine"])
    perm = kept + dims
    return ln if perm == list(range(x.dim())) else Permuted(ln, perm)


def _groupnorm(a: dict, x: torch.Tensor, channels_last: bool) -> nn.Module:
    c = x.shape[-1] if channels_last else x.shape[1]
    eps = a["eps"] if a["eps"] is not None else 1e-5  # torch's default (the oracle builds PyTorch's layer)
    return ChannelsFirst(nn.GroupNorm(a["groups"], c, eps=eps, affine=a["affine"]), channels_last)


def _activation(op: str, a: dict) -> nn.Module:
    if op == "relu":
        return nn.ReLU()
    if op == "relu6":
        return nn.ReLU6()
    if op == "leaky_relu":
        slope = a.get("negative_slope")
        return nn.LeakyReLU(slope) if slope is not None else nn.LeakyReLU()
    if op == "elu":
        return nn.ELU(a["alpha"])
    if op == "gelu":
        return nn.GELU(approximate=a["approximate"])
    if op == "selu":
        return nn.SELU()
    if op == "sigmoid":
        return nn.Sigmoid()
    if op == "tanh":
        return nn.Tanh()
    if op == "softmax":
        axis = a["axis"]
        return nn.Softmax(dim=axis + 1 if axis >= 0 else axis)
    if op == "identity":
        return nn.Identity()
    raise OracleError(f"no torch builder for {op} (add one to build_module)")


class Merge(nn.Module):
    """add / multiply: torch's own + and * (broadcasting on the batched tensors); concat: torch.cat."""

    def __init__(self, op: str, dim: int | None = None) -> None:
        super().__init__()
        self.op = op
        self.dim = dim

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        if self.op == "add":
            return reduce(torch.add, xs)
        if self.op == "multiply":
            return reduce(torch.mul, xs)
        return torch.cat(xs, dim=self.dim)


class FreeParameter(nn.Module):
    """A free parameter as PyTorch users write one: an nn.Parameter set in a module's __init__ (here
    a module of its own, the parameter registered under the node's name, '.' written '__'), used in
    forward broadcast over the batch, p.expand(n, *shape) (torchvision's ViT class_token)."""

    def __init__(self, name: str, shape: tuple) -> None:
        super().__init__()
        self.key = name.replace(".", "__")
        self.register_parameter(self.key, nn.Parameter(torch.zeros(*shape)))

    def forward(self, batch: int = BATCH) -> torch.Tensor:
        p = getattr(self, self.key)
        return p.unsqueeze(0).expand(batch, *p.shape)


def build_merge(node, channels_last: bool) -> Merge:
    """The merge of a node reading several tensors; concat's axis counted without the batch axis."""
    if node.op == "concat":
        axis = node.args["axis"]
        channel_dim = -1 if channels_last else 1  # the layout's channel axis
        dim = channel_dim if axis is None else (axis + 1 if axis >= 0 else axis)
        return Merge("concat", dim)
    return Merge(node.op)


class SubsamplePad(nn.Module):
    """Option A on a channels-first map: every s-th row and column, then zero channels split
    (C_out − C_in)//2 before and the rest after."""

    def __init__(self, stride: int, before: int, after: int) -> None:
        super().__init__()
        self.stride = stride
        self.before = before
        self.after = after

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stride
        return F.pad(x[:, :, ::s, ::s], (0, 0, 0, 0, self.before, self.after))


def _shortcut(a: dict, x: torch.Tensor, channels_last: bool, keras: bool) -> tuple[nn.Module, nn.Module | None]:
    if x.dim() != 4:
        raise OracleError(f"a shortcut on a tensor of {x.dim()} axes with the batch (a 2-D map has 4)")
    c_in = x.shape[-1] if channels_last else x.shape[1]
    c_out = a["filters"] if a["filters"] is not None else c_in
    s = a["stride"]
    mode = a["mode"]
    if mode == "A":
        pad = c_out - c_in
        body: nn.Module = SubsamplePad(s, pad // 2, pad - pad // 2)
        return ChannelsFirst(body, channels_last), None
    if mode == "B" and c_out == c_in and s == 1:
        return nn.Identity(), None
    conv = nn.Conv2d(c_in, c_out, 1, stride=s, bias=bool(a.get("bias")))
    parts = [conv, nn.BatchNorm2d(c_out, eps=_bn_eps(keras))] if a["batchnorm"] else [conv]
    seq = nn.Sequential(*parts)
    return ChannelsFirst(seq, channels_last), seq


class LinearAttention(nn.Module):
    """Attention as Llama writes it where nn.MultiheadAttention cannot hold it (kv_heads ≠ heads, or
    heads·head_dim ≠ d): four nn.Linear and F.scaled_dot_product_attention (enable_gqa: each key/value
    head repeated for heads/kv_heads consecutive query heads; is_causal; dropout_p in training)."""

    def __init__(self, d: int, d_kv: int, heads: int, head_dim: int, kv_heads: int, bias: bool, causal: bool,
                 dropout: float) -> None:  # fmt: skip
        super().__init__()
        self.heads, self.head_dim, self.kv_heads = heads, head_dim, kv_heads
        self.causal, self.dropout = causal, dropout
        self.q_proj = nn.Linear(d, heads * head_dim, bias=bias)
        self.k_proj = nn.Linear(d_kv, kv_heads * head_dim, bias=bias)
        self.v_proj = nn.Linear(d_kv, kv_heads * head_dim, bias=bias)
        self.o_proj = nn.Linear(heads * head_dim, d, bias=bias)

    def forward(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        n, t, s = x.shape[0], x.shape[1], m.shape[1]
        q = self.q_proj(x).view(n, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(m).view(n, s, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(m).view(n, s, self.kv_heads, self.head_dim).transpose(1, 2)
        o = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0,
                                           is_causal=self.causal, enable_gqa=True)  # fmt: skip
        return self.o_proj(o.transpose(1, 2).reshape(n, t, self.heads * self.head_dim))


class Attention(nn.Module):
    """`attention`: nn.MultiheadAttention(d, heads, dropout, bias, kdim, vdim, batch_first=True) called
    (x, m, m) with a boolean causal mask (True above the diagonal: hidden), or LinearAttention; m is the
    second input (cross-attention) or x itself."""

    def __init__(self, a: dict, d: int, d_kv: int) -> None:
        super().__init__()
        heads = a["heads"]
        head_dim = a["head_dim"] or d // heads
        kv_heads = a["kv_heads"] or heads
        self.causal = a["causal"]
        self.fused = kv_heads == heads and heads * head_dim == d
        if self.fused:
            self.body = nn.MultiheadAttention(d, heads, dropout=a["dropout"], bias=a["bias"], kdim=d_kv, vdim=d_kv,
                                              batch_first=True)  # fmt: skip
        else:
            self.body = LinearAttention(d, d_kv, heads, head_dim, kv_heads, a["bias"], self.causal, a["dropout"])

    def forward(self, x: torch.Tensor, m: torch.Tensor | None = None) -> torch.Tensor:
        m = x if m is None else m
        if not self.fused:
            return self.body(x, m)
        mask = torch.ones(x.shape[1], m.shape[1], dtype=torch.bool).triu(1) if self.causal else None
        return self.body(x, m, m, attn_mask=mask, need_weights=False)[0]


def _attention_macs(node, weighted: Attention, x: torch.Tensor, y: torch.Tensor, m: torch.Tensor) -> int:
    """The projections from torch's weight shapes (rows × columns per query for Q and the output, per
    key for K and V), plus QKᵀ and A·V: heads × the pairs counted × head_dim each (with count_masked:
    false, the pairs the causal mask leaves visible)."""
    t, s = x.shape[1], m.shape[1]
    body = weighted.body
    if weighted.fused:
        d = body.embed_dim
        if body._qkv_same_embed_dim:
            wq = wk = wv = d * d
        else:
            wq, wk, wv = body.q_proj_weight.numel(), body.k_proj_weight.numel(), body.v_proj_weight.numel()
        wo, heads, head_dim = body.out_proj.weight.numel(), body.num_heads, body.head_dim
    else:
        wq, wk, wv, wo = (p.weight.numel() for p in (body.q_proj, body.k_proj, body.v_proj, body.o_proj))
        heads, head_dim = body.heads, body.head_dim
    visible = torch.ones(t, s, dtype=torch.bool).tril() if node.args["causal"] else torch.ones(t, s, dtype=torch.bool)
    pairs = int(visible.sum()) if not node.args["count_masked"] else t * s
    return t * (wq + wo) + s * (wk + wv) + 2 * heads * pairs * head_dim


def build_module(node, x: torch.Tensor, channels_last: bool, layout: str = "", keras: bool = False,
                 more: tuple = ()) -> tuple[nn.Module, nn.Module | None]:  # fmt: skip
    """(module for the node, the module holding its weight for MACs or None), given its input tensor
    (and the tensors it reads after it, `more`: attention's memory); `keras`: the spec's convention is
    Keras (the defaults a spec leaves unwritten: batchnorm's eps)."""
    op, a = node.op, node.args
    if op == "attention":
        att = Attention(a, x.shape[-1], (more[0] if more else x).shape[-1])
        return att, att
    if op == "parameter":  # reads no tensor (x is None)
        return FreeParameter(node.shares or node.name, tuple(a["shape"])), None
    if op == "embedding":
        emb = nn.Embedding(a["vocab"], a["dim"])  # refuses float ids, as torch does
        return emb, emb
    if op in RECURRENT:
        return _recurrent(op, a, x, layout)
    if op in CONV_OPS:
        return _conv(a, x, CONV_OPS[op], channels_last)
    if op == "shortcut":
        return _shortcut(a, x, channels_last, keras)
    if op in CONV_TRANSPOSE_OPS:
        return _conv_transpose(a, x, CONV_TRANSPOSE_OPS[op], channels_last)
    if op in ("maxpool1d", "maxpool2d", "maxpool3d", "avgpool1d", "avgpool2d", "avgpool3d"):
        return _pool(op[:3], int(op[-2]), a, channels_last), None
    if op == "maxunpool2d":
        return _unpool(a, channels_last), None
    if op.startswith("adaptive_"):
        return _adaptive_pool(op[len("adaptive_") : len("adaptive_") + 3], int(op[-2]), a, channels_last), None
    if op.startswith("global_"):
        kind = op[len("global_") : len("global_") + 3]
        return _global_pool(kind, int(op[-2]), a, channels_last), None
    if op == "dense":
        lin = nn.Linear(x.shape[-1], a["units"], bias=a["bias"])
        return lin, lin
    if op == "dropout":
        return nn.Dropout(a["rate"]), None
    if op == "batchnorm":
        return _batchnorm(a, x, channels_last, keras), None
    if op == "layernorm":
        return _layernorm(a, x), None
    if op == "groupnorm":
        return _groupnorm(a, x, channels_last), None
    if op == "instancenorm":
        return _instancenorm(a, x, channels_last), None
    if op == "prelu":
        return _prelu(a, x, channels_last), None
    if op == "permute":
        return Permute(a["dims"]), None
    if op == "repeat_vector":
        return RepeatVector(a["n"]), None
    if op == "flatten":
        return nn.Flatten(), None
    if op == "reshape":
        return Reshape(a["shape"]), None
    if op in ("zeropad1d", "zeropad2d"):
        return ChannelsFirst(_pad_module(a["padding"], int(op[-2])), channels_last), None
    if op in COPY_PADS:
        return ChannelsFirst(COPY_PADS[op](_flat_pads(a["padding"])), channels_last), None
    if op in ("cropping1d", "cropping2d"):
        return ChannelsFirst(Crop(a["cropping"]), channels_last), None
    if op in ("upsample1d", "upsample2d"):
        scale = tuple(float(s) for s in a["scale"])
        return ChannelsFirst(nn.Upsample(scale_factor=scale, mode=a["mode"]), channels_last), None
    return _activation(op, a), None


def _macs(op: str, weighted: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    """Multiply-accumulates per sample, from the weight tensor's shape and the measured tensors.

    Conv: every output element is a dot product with one filter, weight[0] (C_in/groups × k…).
    ConvTranspose: every input element is scattered through C_out/groups × k… weights, i.e. the
    weight (C_in × C_out/groups × k…) divided by C_in. Linear: in_features per output element.
    Recurrent: each weight_ih / weight_hh matrix (rows × cols) once per step, for the T steps of
    the input (bias adds excluded, as for the others).
    """
    if op in RECURRENT:  # every weight_ih / weight_hh matrix: rows × cols per step, T steps
        steps = x.shape[1]  # x is batch first
        per_step = sum(
            p.shape[0] * p.shape[1]
            for name, p in weighted.named_parameters()
            if name.startswith(("weight_ih", "weight_hh"))
        )
        return steps * per_step
    w = weighted.weight
    if op in CONV_OPS:
        return (y.numel() // BATCH) * w[0].numel()
    if op in CONV_TRANSPOSE_OPS:
        return (x.numel() // BATCH) * (w.numel() // w.shape[0])
    if op == "dense":
        return (y.numel() // BATCH) * w.shape[1]
    raise OracleError(f"no MAC rule for {op}")


def _count(module: nn.Module, seen: set = frozenset()) -> tuple[int, int, int]:
    """(parameters, trainable ones, buffers) of `module`, leaving out the tensors in `seen` (by id:
    those the model already holds, from a module reused)."""
    ps = [p for p in module.parameters() if id(p) not in seen]
    params = sum(p.numel() for p in ps)
    trainable = sum(p.numel() for p in ps if p.requires_grad)
    buffers = sum(
        b.numel()
        for name, b in module.named_buffers()
        if name.split(".")[-1] not in IGNORED_BUFFERS and id(b) not in seen
    )
    return params, trainable, buffers


def run_oracle(graph) -> OracleResult:
    """Build every node of `graph` in torch, run a zero batch of 2 through it, and measure."""
    result = OracleResult()
    channels_last = graph.channels_last
    layout = graph.layout
    ids = {node.inputs[0] for node in graph.nodes if node.op == "embedding" and node.inputs}
    tensors: dict[str, torch.Tensor] = {
        inp.name: torch.zeros(
            BATCH, *inp.shape, dtype=torch.long if inp.dtype in INT_DTYPES or inp.name in ids else torch.float32
        )
        for inp in graph.inputs
    }
    modules: dict = {}  # node name -> (module, weighted), for the nodes that share one (`shares:`)
    for node in graph.nodes:
        row = OracleRow(node.name, node.op)
        result.rows[node.name] = row
        merge = node.op in MERGE_OPS
        source = node.op in SOURCE_OPS  # reads nothing: called with no tensor
        # a recurrent layer reads its initial states after its sequence, a max unpool its pool's indices
        if not merge and not source and len(node.inputs) != 1 and node.op not in EXTRA_INPUT_OPS:
            row.error = f"oracle: {node.op} with {len(node.inputs)} inputs"
            continue
        xs = [tensors.get(name) for name in node.inputs]
        missing = [name for name, x in zip(node.inputs, xs, strict=True) if x is None]
        if missing:
            row.error = f"skipped: input {missing[0]} has no tensor"
            continue
        x = xs[0] if xs else None
        owner = getattr(node, "shares", None)
        try:
            if merge:
                module, weighted = build_merge(node, channels_last), None
            elif owner is not None:  # `shares:`: the owner's module object itself, called again
                if owner not in modules:
                    raise OracleError(f"shares {owner}, which torch did not build")
                module, weighted = modules[owner]
            else:
                module, weighted = build_module(node, x, channels_last, layout, graph.convention == "keras",
                                                tuple(xs[1:]))  # fmt: skip
                if getattr(node, "tie", None) is not None:  # `tie:`: `lm_head.weight = wte.weight`
                    _tie(node, weighted, modules)
            if node.frozen:  # `trainable: false`, as PyTorch freezes a layer
                module.requires_grad_(False)
            module.eval()
            with torch.no_grad():
                y = module(xs) if merge else module(*xs)
        except OracleError as exc:
            row.error = f"oracle: {exc}"
            continue
        except (RuntimeError, ValueError, TypeError, IndexError) as exc:
            row.error = f"torch: {type(exc).__name__}: {exc}"
            continue
        tensors[node.name] = y
        # the parameters this module adds to the model: torch's model.parameters() yields a reused
        # module's tensors once, so a module that is already in it adds none
        seen = {id(t) for t in [*result.model.parameters(), *result.model.buffers()]}
        result.model[node.name.replace(".", "__")] = module
        modules[node.name] = (module, weighted)
        row.out_shape = tuple(y.shape[1:])
        row.params, row.trainable, row.buffers = _count(module, seen)
        if node.op == "shortcut":  # the 1×1 convolution's MACs (its output is y's size), none without one
            row.macs = 0 if weighted is None else _macs("conv2d", weighted[0], x, y)
            row.tensors = [] if weighted is None else _named_tensors(weighted)
        else:
            if node.op == "attention":
                row.macs = _attention_macs(node, weighted, x, y, xs[-1])
            elif weighted is not None and node.op in MAC_OPS:
                row.macs = _macs(node.op, weighted, x, y)
            if node.op in TENSOR_OPS:
                module_of = weighted.body if node.op == "attention" else weighted  # the wrapper's own names
                row.tensors = [(name, tuple(p.shape)) for name, p in module_of.named_parameters()]
        if (isinstance(module, Recurrent) and node.args.get("return_state")) or isinstance(module, PoolIndices):
            for suffix, state in module.states.items():
                tensors[f"{node.name}.{suffix}"] = state
                row.extra[suffix] = tuple(state.shape[1:])
    return result


def _tie(node, weighted: nn.Module | None, modules: dict) -> None:
    """`tie: NAME`: the module's parameter at the rule's index becomes NAME's module's parameter at
    its index, the Parameter object itself (`lm_head.weight = wte.weight`), so model.parameters()
    yields it once. PyTorch stores the tied pairs netcalc knows untransposed (a Linear's (out, in)
    weight is an Embedding's (num, dim) table); a rule transposed under PyTorch, or shapes that
    differ, cannot be tied by assignment (OracleError)."""
    rule = node.tie_rule
    if node.tie not in modules or modules[node.tie][1] is None or weighted is None:
        raise OracleError(f"ties to {node.tie}, which torch did not build")
    if "pytorch" in rule.transposed:
        raise OracleError(f"ties to {node.tie} transposed, which PyTorch cannot write as an assignment")
    name, mine = list(weighted.named_parameters())[rule.mine]
    theirs = list(modules[node.tie][1].parameters())[rule.theirs]
    if tuple(mine.shape) != tuple(theirs.shape):
        raise OracleError(f"{name} {tuple(mine.shape)} cannot be {node.tie}'s {tuple(theirs.shape)}")
    *path, leaf = name.split(".")  # the submodule that holds it (a wrapper's `m.weight`)
    setattr(reduce(getattr, path, weighted), leaf, theirs)


def _named_tensors(module: nn.Module) -> list:
    """torch's names and shapes: parameters, then buffers (num_batches_tracked aside)."""
    params = [(name, tuple(p.shape)) for name, p in module.named_parameters()]
    buffers = [
        (name, tuple(b.shape)) for name, b in module.named_buffers() if name.split(".")[-1] not in IGNORED_BUFFERS
    ]
    return params + buffers
