"""Transposed convolutions ("deconvolutions") over 1, 2 or 3 spatial axes: conv1d_transpose,
conv2d_transpose and conv3d_transpose (PyTorch nn.ConvTranspose1d/2d/3d, Keras
layers.Conv1DTranspose/Conv2DTranspose/Conv3DTranspose)."""

from __future__ import annotations

from math import prod

from ..kinds import Arg, Bool, Int, IntTuple, Padding
from .base import AXIS_NAMES, Geometry, LayerType, Tensor, Tie
from .conv import INIT_ARGS, _count


class ConvTranspose(LayerType):
    """Transposed convolution ("deconvolution") over `nd` spatial axes (1, 2 or 3).

    PyTorch: out = (n − 1)s − p_before − p_after + d(k − 1) + output_padding + 1, padding given
    as numbers (output_padding < max(stride, dilation)); 'valid', the default, is padding 0. Keras:
    'valid' (its default, and netcalc's when padding is not written) gives n·s + max(k − s, 0),
    'same' gives n·s; with output_padding (which must be < stride), (n − 1)s + k − 2·pad +
    output_padding (pad = k//2 for 'same'); k is the dilated span d(k − 1) + 1 throughout. Numbers
    written under Keras follow PyTorch's formula. Weight: PyTorch (C_in, C_out/groups, *k); Keras
    (*k, C_out, C_in). Bias: C_out.
    """

    counting = "MACs k·C_out/groups per input element, FLOPs 2 per MAC + 1 per bias add"
    linear = "conv"
    parametric = weighted = takes_activation = True

    def __init__(self, nd: int) -> None:
        self.nd = nd
        self.op = f"conv{nd}d_transpose"
        self.aliases = (f"conv_transpose{nd}d", f"deconv{nd}d")
        self.summary = f"{nd}-D transposed convolution"
        self.args = {
            "filters": Arg(Int(1), doc="output channels"),
            "kernel": Arg(IntTuple(nd), doc="kernel size per spatial axis"),
            "stride": Arg(IntTuple(nd), (1,) * nd, "stride (upsampling factor) per axis"),
            "padding": Arg(
                Padding(nd),
                "valid",
                "'valid' (none: both frameworks' default), 'same' (Keras) or zeros removed per side",
            ),
            "output_padding": Arg(IntTuple(nd, 0), None, "extra positions added on one side of each axis"),
            "dilation": Arg(IntTuple(nd), (1,) * nd, "spacing between kernel taps"),
            "groups": Arg(Int(1, window=True), 1, "channel groups"),
            "bias": Arg(Bool(), True, "add a bias per output channel"),
            **INIT_ARGS,
        }
        # a tied autoencoder's decoder: its (C_in, C_out/groups, k…) weight is the encoder's
        # convolution's (C_out, C_in/groups, k…) as stored, in both conventions (Keras: k… × C × F both)
        self.ties = {f"conv{nd}d": Tie(0, 0, (), "init", "init", "kernel", "PyTorch: decoder.weight = encoder.weight")}

    def resolve(self, a, shapes, ctx):
        """Check ranks, groups and output_padding; compute the output size per axis."""
        shape = shapes[0]
        if not ctx.need_rank(shape, self.nd + 1, f"a {self.nd}-D feature map"):
            return None
        c_in, ns = ctx.split(shape)
        groups, c_out = a["groups"], a["filters"]
        ctx.condition("equal", c_in % groups, f"the {c_in} input channels divisible by the groups {groups}", "groups")
        ctx.condition("equal", c_out % groups, f"the {c_out} filters divisible by the groups {groups}", "groups")
        if c_in % groups or c_out % groups:
            ctx.error(
                "E203",
                f"groups {groups} must divide both {_count(c_in)} input and {_count(c_out)} output channels",
                "groups",
            )
            return None
        ks, ss, ds = a["kernel"], a["stride"], a["dilation"]
        ops = a["output_padding"]
        pad = a["padding"]
        keras_rule = ctx.keras and isinstance(pad, str)
        if pad == "same" and not ctx.keras:
            ctx.error(
                "E204",
                f"PyTorch's ConvTranspose{self.nd}d takes no padding 'same'; give numbers, or use convention: keras",
                "padding",
            )
            return None
        outs = []
        for i, (n, k, s, d) in enumerate(zip(ns, ks, ss, ds, strict=True)):
            op = ops[i] if ops else None
            span = d * (k - 1) + 1
            if ctx.keras and op is not None and op >= s:
                ctx.error("E204", f"output_padding {op} must be smaller than stride {s} (Keras)", "output_padding")
                return None
            if not ctx.keras and op is not None and op >= max(s, d):
                ctx.error(
                    "E204",
                    f"output_padding {op} must be smaller than stride {s} or dilation {d} (PyTorch)",
                    "output_padding",
                )
                return None
            if keras_rule:
                if op is None:
                    out = n * s + max(span - s, 0) if pad == "valid" else n * s
                else:
                    p = span // 2 if pad == "same" else 0
                    out = (n - 1) * s + span - 2 * p + op
            else:
                pb, pa = (0, 0) if pad == "valid" else pad[i]
                out = (n - 1) * s - pb - pa + span + (op or 0)
            axis = AXIS_NAMES[self.nd][i]
            ctx.condition("size", out - 1, f"output {axis} at least 1", "padding")
            if out < 1:
                ctx.error("E201", f"output {axis} {out} is below 1", "padding")
                return None
            outs.append(out)
        outs = tuple(outs)
        return Geometry(c_in=c_in, c_out=c_out, groups=groups, ns=ns, ks=ks, ss=ss, ds=ds, outs=outs, bias=a["bias"],
                        padding=pad, ops=ops, keras_rule=keras_rule, out_shape=ctx.join(c_out, outs))  # fmt: skip

    def output_shape(self, g):
        """(C_out, *out) in the spec's layout."""
        return g.out_shape

    def params(self, g, ctx):
        """weight C_in × C_out/groups × k… (PyTorch) or k… × C_out × C_in (Keras), bias C_out."""
        if ctx.keras_counting:
            tensors = [Tensor("kernel", (*g.ks, g.c_out // g.groups, g.c_in))]
        else:
            tensors = [Tensor("weight", (g.c_in, g.c_out // g.groups, *g.ks))]
        if g.bias:
            tensors.append(Tensor("bias", (g.c_out,)))
        return tensors

    def macs(self, g):
        """Every input element meets C_out/groups × prod(k) weights: prod(n) × C_in × C_out/groups × prod(k)."""
        return prod(g.ns) * g.c_in * (g.c_out // g.groups) * prod(g.ks)

    def _pads(self, g):
        """Where the transposed output starts inside the full scatter of length (n − 1)s + d(k − 1) + 1."""
        pads = []
        for n, k, s, d, out in zip(g.ns, g.ks, g.ss, g.ds, g.outs, strict=True):
            full = (n - 1) * s + d * (k - 1) + 1
            pad = g.padding
            pb = pad[len(pads)][0] if isinstance(pad, tuple) else max(full - out, 0) // 2 if pad == "same" else 0
            pads.append((pb, 0))
        return pads

    def sig_forward(self, g, ins, env):
        """[E] q_out(p) = Var(w)·(C_in/groups)·Σ over the (input position, tap) pairs that land on p of q_in
        + E[b²]: on average C_in·kᵈ/sᵈ terms, but when k is not a multiple of s the count alternates
        by position (k = 3, s = 2 in 2-D: 4/2/2/1), which the map keeps (mean, min and max shown)."""
        import numpy as np

        from ..signal_rules import linear_out

        x = ins[0]
        summed = env.window_scatter(env.fit(x.q, g.ns), g.ks, g.ss, g.ds, self._pads(g), g.outs)
        out, tag = linear_out(env, x, summed, g.c_in // g.groups, g.c_in // g.groups * prod(g.ks), g.bias, g.outs)
        if out.q.size:
            env.info.spread = (float(np.min(out.q)), float(np.max(out.q)))
        return out, tag

    def sig_backward(self, g, ins, out, r, env):
        """[MF] r_in(j) = Var(w)·(C_out/groups)·Σ over the taps of r_out(j·s + i·d − pad)."""
        back = env.window_sum(env.fit(r, g.outs), g.ks, g.ss, g.ds, self._pads(g), g.ns)
        return [env.info.wv * (g.c_out // g.groups) * back], "MF"

    def flops(self, g):
        """2 per MAC, plus one add per output element for the bias."""
        return 2 * self.macs(g) + (prod(g.outs) * g.c_out if g.bias else 0)

    def receptive(self, g, rf):
        """An output position sees ceil(k_eff/s) input positions per axis: r += (ceil(k_eff/s) − 1)·j, j /= s."""
        if rf is None:
            return None
        from fractions import Fraction

        out = []
        for (r, j), k, s, d in zip(rf, g.ks, g.ss, g.ds, strict=True):
            span = d * (k - 1) + 1
            out.append((r + (-(-span // s) - 1) * j, Fraction(j) / s))
        return out

    def explain(self, g, ctx):
        """Each output size with the numbers in it (the rule of the convention that applies), the weight
        count, the MACs, and the axes on which the kernel's taps land unevenly (k not a multiple of s)."""
        axes = AXIS_NAMES[self.nd]
        lines = [self._size_line(g, i, axis) for i, axis in enumerate(axes)]
        per = g.c_out // g.groups
        ks = " × ".join(map(str, g.ks))
        kk = "k × " * (self.nd - 1) + "k"
        weights = g.c_in * per * prod(g.ks)
        group = f" (filters/groups = {g.c_out}/{g.groups})" if g.groups > 1 else ""
        bias = f" + {g.c_out} biases = {weights + g.c_out:,}" if g.bias else ""
        lines.append(
            f"weights: C_in × filters/groups × {kk} = {g.c_in} × {per} × {ks}{group} = {weights:,}{bias} parameters"
        )
        positions = " × ".join(map(str, g.ns))
        lines.append(
            f"MACs: input positions × C_in × filters/groups × {kk} = {positions} × {g.c_in} × {per} × {ks} = "
            f"{self.macs(g):,} (each input element is scattered through the kernel)"
        )
        for k, s, d, axis in zip(g.ks, g.ss, g.ds, axes, strict=True):
            span = d * (k - 1) + 1
            if span < s:
                lines.append(
                    f"stride {s} > kernel span {span} on the {axis}: {s - span} of every {s} output positions receive "
                    "no tap (the bias only)"
                )
            elif span % s:
                lines.append(
                    f"kernel span {span} is not a multiple of stride {s} on the {axis}: output positions receive "
                    f"{-(-span // s)} or {span // s} taps in turn (the checkerboard pattern of Odena et al. 2016)"
                )
        return lines

    def _size_line(self, g, i: int, axis: str) -> str:
        """'output height: … = 8', the formula the output size came from with the numbers in it."""
        n, k, s, d, out = g.ns[i], g.ks[i], g.ss[i], g.ds[i], g.outs[i]
        op = g.ops[i] if g.ops else None
        span = d * (k - 1) + 1
        dk = f"{d}·({k} − 1)" if d != 1 else f"({k} − 1)"
        if g.keras_rule and op is None:
            if g.padding == "same":
                return f"output {axis} (Keras 'same'): n·s = {n}·{s} = {out}"
            return f"output {axis} (Keras 'valid'): n·s + max(d(k − 1) + 1 − s, 0) = {n}·{s} + max({span} − {s}, 0) = {out}"
        if g.keras_rule:
            p = span // 2 if g.padding == "same" else 0
            return (
                f"output {axis} (Keras '{g.padding}', output_padding): (n − 1)s + d(k − 1) + 1 − 2·pad + output_padding = "
                f"({n} − 1)·{s} + {dk} + 1 − 2·{p} + {op} = {out}"
            )
        pb, pa = (0, 0) if g.padding == "valid" else g.padding[i]
        extra, extra_n = (" + output_padding", f" + {op}") if op is not None else ("", "")
        return (
            f"output {axis}: (n − 1)s − p₁ − p₂ + d(k − 1){extra} + 1 = ({n} − 1)·{s} − {pb} − {pa} + {dk}{extra_n} + 1 "
            f"= {out}"
        )
