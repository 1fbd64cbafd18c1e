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
