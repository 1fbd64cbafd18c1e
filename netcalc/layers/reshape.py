"""Layers that move elements around without weights: flatten, reshape, zero padding, upsampling."""

from __future__ import annotations

from math import prod

from ..schema import Arg, Choice, IntTuple, Padding, Shape
from .base import Geometry, LayerType, fmt_shape


class Flatten(LayerType):
    """All axes but the batch into one: (C, H, W) → (C·H·W). No parameters, no FLOPs."""

    op = "flatten"
    category = "reshape"
    summary = "flatten to one axis"

    def output_shape(self, g):
        """(prod(shape),)."""
        return (prod(g.shape),)

    def sig_forward(self, g, ins, env):
        """[E] values are only moved: the mean second moment is kept (positions regrouped)."""
        x = ins[0]
        return x.like(env.fit(x.q, env.positions(self.output_shape(g))), pre=x.pre), "E"

    def sig_backward(self, g, ins, out, r, env):
        """[E] gradients are only moved back."""
        return [env.fit(r, ins[0].q.shape)], "E"

    def receptive(self, g, rf):
        """After flattening there is no spatial window."""
        return None


class Reshape(LayerType):
    """To a given shape (without the batch axis), one entry may be −1; the element count must match."""

    op = "reshape"
    category = "reshape"
    summary = "reshape (element count kept)"
    args = {"shape": Arg(Shape(wildcard=True), doc="target shape without the batch axis; one −1 allowed")}

    def resolve(self, a, shapes, ctx):
        """Fill in −1 and check that the number of elements is kept."""
        n = prod(shapes[0])
        target = list(a["shape"])
        known = prod(d for d in target if d != -1)
        if -1 in target:
            if n % known:
                ctx.error(
                    "E205",
                    f"cannot reshape {fmt_shape(shapes[0])} ({n:,} elements) to "
                    f"{fmt_shape(a['shape'])}: {n:,} is not divisible by {known:,}",
                    "shape",
                )
                return None
            target[target.index(-1)] = n // known
        elif known != n:
            ctx.error(
                "E205",
                f"cannot reshape {fmt_shape(shapes[0])} ({n:,} elements) to "
                f"{fmt_shape(a['shape'])} ({known:,} elements)",
                "shape",
            )
            return None
        return Geometry(shape=tuple(target))

    def sig_forward(self, g, ins, env):
        """[E] values are only moved: the mean second moment is kept (positions regrouped)."""
        x = ins[0]
        return x.like(env.fit(x.q, env.positions(self.output_shape(g))), pre=x.pre), "E"

    def sig_backward(self, g, ins, out, r, env):
        """[E] gradients are only moved back."""
        return [env.fit(r, ins[0].q.shape)], "E"

    def receptive(self, g, rf):
        """No spatial window survives a reshape."""
        return None


class ZeroPad(LayerType):
    """Zeros added around the spatial axes: n → n + before + after. No parameters, no FLOPs."""

    category = "reshape"

    def __init__(self, nd: int) -> None:
        self.nd = nd
        self.op = f"zeropad{nd}d"
        self.aliases = (f"zero_padding{nd}d",)
        self.summary = f"zero padding of {nd}-D maps"
        self.args = {"padding": Arg(Padding(nd, words=(), asymmetric=True), doc="zeros per side")}

    def resolve(self, a, shapes, ctx):
        """Check the rank."""
        if not ctx.need_rank(shapes[0], self.nd + 1, f"a {self.nd}-D feature map"):
            return None
        c, ns = ctx.split(shapes[0])
        outs = tuple(n + pb + pa for n, (pb, pa) in zip(ns, a["padding"], strict=True))
        return Geometry(shape=ctx.join(c, outs))

    def sig_forward(self, g, ins, env):
        """[E] the map grows a border of zeros: q per position kept inside, 0 on the border."""
        import numpy as np

        x = ins[0]
        _c, ns = g_split(env, ins, g)
        pads = env.row.node.args["padding"]
        q = np.pad(env.fit(x.q, ns), pads)
        frac = prod(ns) / prod(q.shape)
        return x.like(q, mu=x.mu * frac, mfrac=x.mfrac, corr=x.corr), "E"

    def sig_backward(self, g, ins, out, r, env):
        """[E] the border's gradients go nowhere; the inside passes back."""
        _c, ns = g_split(env, ins, g)
        pads = env.row.node.args["padding"]
        sl = tuple(slice(pb, pb + n) for (pb, _), n in zip(pads, ns, strict=True))
        return [env.fit(r, tuple(n + pb + pa for n, (pb, pa) in zip(ns, pads, strict=True)))[sl]], "E"


class Upsample(LayerType):
    """Repeat (nearest) or interpolate (linear/bilinear) by an integer factor per axis: n → n·scale.

    FLOPs: 0 for nearest; for (bi)linear, per output element 2 multiplies + 1 add per interpolated
    axis (3 in 1-D, 7 in 2-D: a weighted sum of 4 neighbours).
    """

    category = "reshape"

    def __init__(self, nd: int) -> None:
        self.nd = nd
        self.op = f"upsample{nd}d"
        self.aliases = (f"upsampling{nd}d",)
        self.summary = f"upsampling of {nd}-D maps"
        modes = ("nearest", "linear") if nd == 1 else ("nearest", "bilinear")
        self.args = {
            "scale": Arg(IntTuple(nd), (2,) * nd, "integer factor per axis"),
            "mode": Arg(Choice(modes), "nearest", "how new positions are filled"),
        }

    def resolve(self, a, shapes, ctx):
        """Check the rank."""
        if not ctx.need_rank(shapes[0], self.nd + 1, f"a {self.nd}-D feature map"):
            return None
        c, ns = ctx.split(shapes[0])
        outs = tuple(n * s for n, s in zip(ns, a["scale"], strict=True))
        return Geometry(shape=ctx.join(c, outs), scale=a["scale"], mode=a["mode"])

    def _factors(self, g):
        """Per axis: (Σ w², Σ_{i≠j} w_i w_j) averaged over outputs, and Σ w² per input (backward), from
        the interpolation matrix itself (PyTorch align_corners=False; nearest repeats)."""
        import numpy as np

        out = []
        for s in g.scale:
            n = 16
            a = np.zeros((n * s, n))
            for o in range(n * s):
                if g.mode == "nearest":
                    a[o, o // s] = 1.0
                    continue
                src = max((o + 0.5) / s - 0.5, 0.0)
                i0 = min(int(src), n - 1)
                i1 = min(i0 + 1, n - 1)
                w1 = src - i0
                a[o, i0] += 1 - w1
                a[o, i1] += w1
            inner = slice(2 * s, (n - 2) * s)
            diag = float((a[inner] ** 2).sum(1).mean())
            off = float(((a[inner].sum(1)) ** 2 - (a[inner] ** 2).sum(1)).mean())
            back = float((a[:, 2 : n - 2] ** 2).sum(0).mean())
            out.append((diag, off, back))
        return out

    def sig_forward(self, g, ins, env):
        """Nearest [E]: values repeated. (Bi)linear [A]: E[(Σ w_i x_i)²] = Σ w²·q + Σ_{i≠j} w_i w_j·ρ·q
        per axis, the weights from the interpolation itself (0.75/0.25 for a factor 2)."""
        import numpy as np

        x = ins[0]
        _c, ns = g_split(env, ins, g)
        q = env.fit(x.q, ns)
        for axis, s in enumerate(g.scale):
            q = np.repeat(q, s, axis=axis)
        if g.mode == "nearest":
            return x.like(q, corr=(1 + x.corr) / 2 if x.corr < 1 else 1.0), "E"
        factor = 1.0
        for diag, off, _ in self._factors(g):
            factor *= diag + off * x.corr
        return x.like(q * factor, corr=min(1.0, (x.corr + 1) / 2)), "A"

    def sig_backward(self, g, ins, out, r, env):
        """Nearest [E]: each input gathers scale^d gradients; (bi)linear [A]: Σ w² per input and axis."""

        _c, ns = g_split(env, ins, g)
        _, outs = env_split(env, g.shape)
        r = env.fit(r, outs)
        for axis, s in enumerate(g.scale):
            r = r.reshape(*r.shape[:axis], ns[axis], s, *r.shape[axis + 1 :]).sum(axis + 1)
        if g.mode == "nearest":
            return [r], "E"
        factor = 1.0
        for (_, _, back), s in zip(self._factors(g), g.scale, strict=True):
            factor *= back / s
        return [r * factor], "A"

    def flops(self, g):
        """0 nearest; 3 (1-D) or 7 (2-D) per output element when interpolating."""
        if g.mode == "nearest":
            return 0
        return (3 if self.nd == 1 else 7) * prod(g.shape)

    def receptive(self, g, rf):
        """The jump shrinks by the scale: j /= s."""
        if rf is None:
            return None
        from fractions import Fraction

        return [(r, Fraction(j) / s) for (r, j), s in zip(rf, g.scale, strict=True)]


def env_split(env, shape):
    """(channels, spatial sizes) of a shape in the layout."""
    if env.channels_last:
        return shape[-1], tuple(shape[:-1])
    return shape[0], tuple(shape[1:])


def g_split(env, ins, g):
    """The input's (channels, spatial sizes)."""
    return env_split(env, env.row.in_shapes[0])
