"""Convolutions: conv1d, conv2d, conv3d (groups, depthwise, dilation), and the sizes, padding and explain
lines they share with the pools and the transposed convolutions (conv_transpose.py)."""

from __future__ import annotations

import itertools
from math import prod

from ..arg_symbols import refuse_symbol
from ..initializers import Init, InitSpec
from ..kinds import INVALID, Arg, Bool, Int, IntTuple, Kind, Padding, _wrong
from .base import AXIS_NAMES, Ctx, Geometry, LayerType, Tensor, fmt_shape
from .window import formula, read_positions, rf_window, window_outs

DEFAULT_INIT = InitSpec("default")
INIT_ARGS = {
    "init": Arg(Init(), DEFAULT_INIT, "weight initialiser: a name or {name: ..., parameters} (variance report)"),
    "bias_init": Arg(Init(), DEFAULT_INIT, "bias initialiser (variance report)"),
}


class Groups(Kind):
    """A positive integer, or 'depthwise' for one group per input channel."""

    def describe(self) -> str:
        return "a positive integer or 'depthwise'"

    def coerce(self, node, diags, what):
        from ..yamlsrc import YScalar

        if isinstance(node, YScalar) and node.kind == "str" and node.text == "depthwise":
            return "depthwise"
        if refuse_symbol(node, diags, what, self.describe()):
            return INVALID
        if isinstance(node, YScalar) and node.kind == "int":
            return Int(1).coerce(node, diags, what)
        return _wrong(diags, node, what, self.describe())

    def json_schema(self):
        return {"anyOf": [{"type": "integer", "minimum": 1}, {"const": "depthwise"}]}


def _count(n) -> str:
    """A channel count as an error quotes it: 10, or C = 10 when symbolic (the value at the defaults)."""
    return f"{n} = {n.v}" if hasattr(n, "e") else str(n)


def _same_pads(n: int, k: int, s: int, d: int) -> tuple[int, int]:
    """TensorFlow/Keras 'same': output ceil(n/s), the extra padding at the bottom/right."""
    out = -(-n // s)
    span = d * (k - 1) + 1
    total = (out - 1) * s + span - n  # span − s + ((−n) mod s): never negative when span ≥ s
    if span < s:
        if hasattr(total, "e"):  # symbolic: negative for some sizes only, so max(·, 0) at every size
            from ..formulas import smax

            total = smax(total, 0)
        else:
            total = max(total, 0)
    return total // 2, total - total // 2


def resolve_padding(padding, ns, ks, ss, ds, ctx: Ctx, *, pytorch_same_needs_stride1: bool = True):
    """Per-axis (before, after) padding for 'valid', 'same', 'causal' or explicit numbers.

    'same' follows the convention: Keras pads so that the output is ceil(n/s), with the odd
    pixel at the bottom/right; PyTorch accepts padding='same' only with stride 1 (then the
    total d(k − 1) is split the same way), and it is an error otherwise. 'causal' (conv1d only,
    Keras Conv1D's padding='causal'): d(k − 1) zeros before and none after, so output t reads no
    input after t; the output is floor((n − 1)/s) + 1 = ceil(n/s), Keras's conv_output_length for
    'causal' ((n + s − 1) // s). PyTorch has no such word: its users pad the left with F.pad(x,
    (d(k − 1), 0)) and convolve unpadded, which gives the same, so it is accepted in both conventions.
    """
    if padding == "valid":
        return [(0, 0)] * len(ns)
    if padding == "causal":
        return [(d * (k - 1), 0) for k, d in zip(ks, ds, strict=True)]
    if padding == "same":
        if not ctx.keras and pytorch_same_needs_stride1 and any(s != 1 for s in ss):
            ctx.error(
                "E204",
                f"padding 'same' with stride {fmt_shape(ss)}: PyTorch accepts padding='same' only with "
                "stride 1; give the padding as numbers, or use convention: keras",
                "padding",
            )
            return None
        return [_same_pads(n, k, s, d) for n, k, s, d in zip(ns, ks, ss, ds, strict=True)]
    return list(padding)


class Conv(LayerType):
    """Convolution over `nd` spatial axes, input (C, *spatial) or (*spatial, C) by the layout.

    Output size per axis: floor((n + p_before + p_after − d(k − 1) − 1)/s + 1); conv1d's 'causal'
    pads d(k − 1) before and nothing after (`resolve_padding`), giving ceil(n/s).
    Weight: PyTorch (C_out, C_in/groups, *k); Keras (*k, C_in/groups, C_out) — the Keras
    DepthwiseConv1D/2D layout (*k, C_in, multiplier) for groups 'depthwise' in 1-D and 2-D. Keras has
    no DepthwiseConv3D: a depthwise 3-D convolution is Conv3D(groups=C_in), kernel (*k, 1, C_out).
    Bias: C_out.
    """

    nd = 2
    counting = "FLOPs 2 per MAC + 1 per bias add"
    linear = "conv"
    parametric = weighted = takes_activation = True

    def __init__(self, nd: int) -> None:
        self.nd = nd
        self.op = f"conv{nd}d"
        self.summary = f"{nd}-D convolution"
        self.args = {
            "filters": Arg(Int(1), None, "output channels (default with groups 'depthwise': C_in)"),
            "kernel": Arg(IntTuple(nd), doc="kernel size per spatial axis"),
            "stride": Arg(IntTuple(nd), (1,) * nd, "stride per axis"),
            "padding": Arg(
                Padding(nd, ("valid", "same", "causal") if nd == 1 else ("valid", "same"), asymmetric=True),
                ((0, 0),) * nd,
                "'valid', 'same', "
                + ("'causal' (d·(k − 1) zeros before, none after), " if nd == 1 else "")
                + "or zeros added per side",
            ),
            "dilation": Arg(IntTuple(nd), (1,) * nd, "spacing between kernel taps"),
            "groups": Arg(Groups(), 1, "channel groups; 'depthwise' = one per input channel"),
            "bias": Arg(Bool(), True, "add a bias per output channel"),
            **INIT_ARGS,
        }

    def resolve(self, a, shapes, ctx):
        """Check ranks, groups and sizes; work out the per-axis geometry."""
        shape = shapes[0]
        if not ctx.need_rank(shape, self.nd + 1, f"a {self.nd}-D feature map"):
            return None
        c_in, ns = ctx.split(shape)
        groups = c_in if a["groups"] == "depthwise" else a["groups"]
        filters = a["filters"]
        if filters is None:
            if a["groups"] != "depthwise":
                ctx.error("E106", "conv needs 'filters' (the number of output channels)")
                return None
            filters = c_in
        # with symbolic channels, what the defaults satisfy is recorded for every size (netcalc sizes)
        ctx.condition("equal", c_in % groups, f"the {c_in} input channels divisible by the groups {groups}", "groups")
        if c_in % groups:
            ctx.error("E203", f"groups {groups} does not divide the {_count(c_in)} input channels", "groups")
            return None
        ctx.condition("equal", filters % groups, f"the {filters} filters divisible by the groups {groups}", "groups")
        if filters % groups:
            ctx.error("E203", f"groups {groups} does not divide the {_count(filters)} filters", "groups")
            return None
        ks, ss, ds = a["kernel"], a["stride"], a["dilation"]
        pads = resolve_padding(a["padding"], ns, ks, ss, ds, ctx)
        if pads is None:
            return None
        outs = window_outs(ns, ks, ss, ds, pads, False, ctx, "kernel")
        if outs is None:
            return None
        return Geometry(
            c_in=c_in,
            c_out=filters,
            groups=groups,
            depthwise=a["groups"] == "depthwise",
            ns=ns,
            ks=ks,
            ss=ss,
            ds=ds,
            pads=pads,
            outs=tuple(outs),
            bias=a["bias"],
            causal=a["padding"] == "causal",
            out_shape=ctx.join(filters, tuple(outs)),
        )

    def output_shape(self, g):
        """(C_out, *out) in the spec's layout."""
        return g.out_shape

    def params(self, g, ctx):
        """weight C_out × C_in/groups × k…, bias C_out (both trainable)."""
        per_group = g.c_in // g.groups
        if ctx.keras_counting:
            keras_depthwise = g.depthwise and self.nd < 3  # DepthwiseConv1D/2D; 3-D is Conv3D(groups=C_in)
            shape = (*g.ks, g.c_in, g.c_out // g.c_in) if keras_depthwise else (*g.ks, per_group, g.c_out)
        else:
            shape = (g.c_out, per_group, *g.ks)
        names = ("kernel", "bias") if ctx.keras_counting else ("weight", "bias")
        tensors = [Tensor(names[0], shape)]
        if g.bias:
            tensors.append(Tensor(names[1], (g.c_out,)))
        return tensors

    def macs(self, g):
        """One MAC per weight tap per output position: prod(out) × C_out × (C_in/groups) × prod(k)."""
        return prod(g.outs) * g.c_out * (g.c_in // g.groups) * prod(g.ks)

    def sig_forward(self, g, ins, env):
        """[E] q_out(p) = Var(w)·(C_in/groups)·Σ over the kernel's taps of q_in(p·s + i·d − pad) + E[b²]:
        He et al. 2015's n·Var(w)·E[x²], counted per position so that zero padding loses exactly the
        taps that fall outside (k = 3, pad 1: a factor (1 − 2/(3H))(1 − 2/(3W)) on average)."""
        from ..signal_rules import linear_out

        x = ins[0]
        summed = env.window_sum(env.fit(x.q, g.ns), g.ks, g.ss, g.ds, g.pads, g.outs)
        stride = sum(g.ss) / len(g.ss)
        return linear_out(env, x, summed, g.c_in // g.groups, g.c_in // g.groups * prod(g.ks), g.bias, g.outs, stride)

    def sig_backward(self, g, ins, out, r, env):
        """[MF] r_in(p) = Var(w)·(C_out/groups)·Σ over the outputs whose window covers p of r_out (the
        transpose of the forward count: k²/s² outputs per input on average with stride s; it rests on
        the gradient-independence assumption, exact at infinite width)."""
        back = env.window_scatter(env.fit(r, g.outs), g.ks, g.ss, g.ds, g.pads, g.ns)
        return [env.info.wv * (g.c_out // g.groups) * back], "MF"

    def flops(self, g):
        """2 per MAC, plus one add per output element for the bias."""
        return 2 * self.macs(g) + (prod(g.outs) * g.c_out if g.bias else 0)

    def receptive(self, g, rf):
        """r += d(k − 1)·j and j *= s on each axis."""
        return rf_window(rf, g.ks, g.ss, g.ds)

    def reads(self, g):
        """The positions its windows read per axis (None with symbolic sizes)."""
        got = [read_positions(n, k, s, d, pb, out) for n, k, s, d, (pb, _), out in zip(g.ns, g.ks, g.ss, g.ds, g.pads, g.outs, strict=True)]  # fmt: skip
        return None if None in got else got

    def explain(self, g, ctx):
        """Each output size with the numbers in it, the weight count, the MACs, and what a stride
        larger than the window skips."""
        lines = [size_line(n, k, s, p, d, out, axis)
                 for n, k, s, p, d, out, axis in zip(g.ns, g.ks, g.ss, g.pads, g.ds, g.outs, AXIS_NAMES[self.nd], strict=True)]  # fmt: skip
        if g.causal:
            (k,), (d,) = g.ks, g.ds
            lines.insert(0, f"padding 'causal': d(k − 1) = {d}·({k} − 1) = {d * (k - 1)} zeros before, none after: "
                            "output t reads no input after t")  # fmt: skip
        per = g.c_in // g.groups
        ks = " × ".join(map(str, g.ks))
        weights = g.c_out * per * prod(g.ks)
        group = f" (C_in/groups = {g.c_in}/{g.groups})" if g.groups > 1 else ""
        bias = f" + {g.c_out} biases = {weights + g.c_out:,}" if g.bias else ""
        lines.append(
            f"weights: filters × C_in/groups × {'k × ' * (self.nd - 1)}k = {g.c_out} × {per} × {ks}{group} = {weights:,}"
            f"{bias} parameters"
        )
        lines.append(filter_line(g.c_out, g.c_in, g.groups, g.ks))
        positions = " × ".join(map(str, g.outs))
        lines.append(
            f"MACs: output positions × filters × C_in/groups × {'k × ' * (self.nd - 1)}k = {positions} × {g.c_out} × "
            f"{per} × {ks} = {self.macs(g):,}"
        )
        lines += skipped_lines(g.ns, g.ks, g.ss, g.ds, g.pads, g.outs, AXIS_NAMES[self.nd])
        return lines


def filter_line(c_out, c_in, groups, ks) -> str:
    """What one filter reads, in one sentence: every input channel (of its group), one output channel
    each ('each of the 64 filters is 32 × 5 × 5: it spans all 32 input channels')."""
    per = c_in // groups
    window = " × ".join(map(str, ks))
    one = f"each of the {c_out} filters is {per} × {window}"
    if groups == 1:
        reads = (
            f"it spans all {c_in} input channels (a {window} window on each, all summed into one number per position)"
        )
    elif per == 1:
        reads = f"it reads one input channel only (depthwise: {groups} groups of 1 channel)"
    else:
        reads = f"it spans the {per} input channels of its group ({groups} groups of {per} of the {c_in})"
    return f"{one}: {reads}, so the {c_out} filters make the {c_out} output channels"


def size_line(n, k, s, pad, d, out, axis) -> str:
    """'output height (32 + 2·1 − 3)/1 + 1 = 32' with the floor shown where it applies."""
    pb, pa = pad
    num = n + pb + pa - d * (k - 1) - 1
    exact = num % s == 0
    value = f"{num // s + 1}" if exact else f"{num / s + 1:.4g} → {out}"
    return f"output {axis}: (n + p₁ + p₂ − d(k − 1) − 1)/s + 1 = {formula(n, k, s, pb, pa, d)} = {value}"


def skipped_lines(ns, ks, ss, ds, pads, outs, axes) -> list[str]:
    """Where the stride is larger than the window, the input positions that are read and skipped."""
    lines = []
    for n, k, s, d, (pb, _), out, axis in zip(ns, ks, ss, ds, pads, outs, axes, strict=True):
        span = d * (k - 1) + 1
        if s <= span:
            continue
        read = sorted({o * s - pb + i * d for o in range(out) for i in range(k)} & set(range(n)))
        skipped = n - len(read)
        what = {"depth": "slices", "height": "rows", "width": "columns"}.get(axis, "positions")
        lines.append(
            f"stride {s} > window {span} on the {axis}: reads {what} {_positions(read)} of 0…{n - 1} and skips "
            f"{skipped} of {n} ({skipped / n:.0%}); every output still sees all channels at the positions it reads"
        )
    return lines


def _positions(xs: list[int]) -> str:
    if len(xs) <= 6:
        return ", ".join(map(str, xs))
    step = xs[1] - xs[0]
    regular = all(b - a == step for a, b in itertools.pairwise(xs))
    return f"{xs[0]}, {xs[1]}, {xs[2]}, …, {xs[-1]}" + (f" (one in {step})" if regular and step > 1 else "")
