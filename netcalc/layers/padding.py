"""Layers that add or remove a border of the spatial axes without weights: zero padding, reflection
and replication padding, cropping. They share one geometry: (before, after) per spatial axis, n →
n + before + after (padding) or n − before − after (cropping)."""

from __future__ import annotations

from math import prod

from ..kinds import Arg, Padding
from .base import AXIS_NAMES, Geometry, ParameterFree
from .reshape import env_split, g_split


def _border(nd: int, what: str) -> Arg:
    """The (before, after) per axis: an integer, one per axis, or [before, after] pairs (a pair alone in 1-D)."""
    return Arg(Padding(nd, words=(), asymmetric=True, pair=True), doc=what)


class ZeroPad(ParameterFree):
    """Zeros added around the spatial axes: n → n + before + after. No parameters, no FLOPs.

    PyTorch nn.ZeroPad1d/2d (padding (left, right, top, bottom): the last axis first), Keras
    ZeroPadding1D/2D (((top, bottom), (left, right))): netcalc writes the pairs outermost axis first,
    as Keras does. Receptive field and jump unchanged (netcalc tracks no offset: the window's
    origin moves back by the padding before)."""

    counting = "FLOPs 0"
    pass_through = True

    def __init__(self, nd: int) -> None:
        self.nd = nd
        self.op = f"zeropad{nd}d"
        self.aliases = (f"zero_padding{nd}d",)
        self.summary = f"zero padding of {nd}-D maps"
        self.args = {"padding": _border(nd, "zeros per side")}

    def resolve(self, a, shapes, ctx):
        """Check the rank."""
        if not ctx.need_rank(shapes[0], self.nd + 1, f"a {self.nd}-D feature map"):
            return None
        c, ns = ctx.split(shapes[0])
        pads = tuple(a["padding"])
        outs = tuple(n + pb + pa for n, (pb, pa) in zip(ns, pads, strict=True))
        return Geometry(shape=ctx.join(c, outs), pads=pads, ns=ns)

    def padded_border(self, g, border):
        """Its own padding, and whatever border of padding the input had."""
        if border is None or len(border) != len(g.pads):
            return g.pads
        return tuple((pb + bb, pa + ba) for (pb, pa), (bb, ba) in zip(g.pads, border, strict=True))

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

    def flops(self, g):
        """0: zeros are written, nothing is computed."""
        return 0

    def receptive(self, g, rf):
        """Unchanged on every axis: a border adds no window (the offset, which netcalc does not
        track, moves by the padding before)."""
        return rf


MODES = {"reflect": "reflection", "replicate": "replication"}


class CopyPad(ZeroPad):
    """A border that copies the map's own values (PyTorch nn.ReflectionPad1d/2d, nn.ReplicationPad1d/2d;
    F.pad modes 'reflect' and 'replicate'). Keras has no such layer: tf.pad(x, paddings, mode='REFLECT')
    is reflection (mode 'SYMMETRIC' repeats the edge row too, which netcalc does not model).

    reflect: the rows mirrored about the edge row, which is not repeated (x₂ x₁ | x₀ x₁ x₂ …), so each
    side's padding must be smaller than the axis (PyTorch raises otherwise; tf.pad's REFLECT too);
    replicate: the edge row repeated (x₀ x₀ | x₀ x₁ …), any size. n → n + before + after, the pairs
    written as for zero padding (outermost axis first; PyTorch's tuple is the last axis first). No
    parameters, no FLOPs (a copy). Receptive field and jump unchanged, as zero padding's."""

    def __init__(self, nd: int, mode: str) -> None:
        super().__init__(nd)
        self.mode = mode
        name = MODES[mode]
        self.op = f"{name}pad{nd}d"
        self.aliases = (f"{name}_pad{nd}d", f"{mode}_pad{nd}d")
        self.summary = f"{name} padding of {nd}-D maps"
        self.args = {
            "padding": _border(nd, f"rows copied per side ({'mirrored' if mode == 'reflect' else 'the edge repeated'})")
        }

    def resolve(self, a, shapes, ctx):
        """Check the rank; reflection: each side's padding below the axis's size."""
        g = super().resolve(a, shapes, ctx)
        if g is None or self.mode != "reflect":
            return g
        _c, ns = ctx.split(shapes[0])
        for n, (pb, pa), axis in zip(ns, g.pads, AXIS_NAMES[self.nd], strict=True):
            p = max(pb, pa)
            ctx.condition("size", n - 1 - p, f"reflection padding {p} smaller than the {axis} {n}", "padding")
            if p >= n:
                ctx.error(
                    "E204",
                    f"reflection padding {p} on the {axis} of {n}: it must be smaller than the size (the mirror "
                    f"image leaves out the edge row, so an axis of {n} reflects at most {n - 1}; PyTorch's "
                    f"ReflectionPad{self.nd}d raises on it); replication padding takes any size",
                    "padding",
                )
                return None
        return g

    def _sources(self, ns, pads):
        """Per axis, the input index each output position copies: np.pad of 0…n−1 in the mode."""
        import numpy as np

        mode = "reflect" if self.mode == "reflect" else "edge"
        return [np.pad(np.arange(n), (pb, pa), mode=mode) for n, (pb, pa) in zip(ns, pads, strict=True)]

    def sig_forward(self, g, ins, env):
        """[E] no zeros enter: each border position holds a copy of an interior position, so the map
        of E[x²] over the output copies the input's map there (reflection mirrors it, replication
        repeats the edge), and the mean (one figure for every position) and channel-mean fraction are
        kept. Neighbour correlation: reflection's border pairs are interior neighbours again (ρ kept);
        replication's are copies of one value (correlation 1): per axis ((n − 1)·ρ + p₁ + p₂)/(n + p₁
        + p₂ − 1), averaged over the axes."""
        import numpy as np

        x = ins[0]
        _c, ns = g_split(env, ins, g)
        q = env.fit(x.q, ns)
        for axis, idx in enumerate(self._sources(ns, g.pads)):
            q = np.take(q, idx, axis=axis)
        corr = x.corr
        if self.mode == "replicate":
            per = [((n - 1) * x.corr + pb + pa) / (n + pb + pa - 1) if n + pb + pa > 1 else x.corr
                   for n, (pb, pa) in zip(ns, g.pads, strict=True)]  # fmt: skip
            corr = sum(per) / len(per)
        return x.like(q, corr=corr, pre=x.pre), "E"

    def sig_backward(self, g, ins, out, r, env):
        """[MF] each input position gathers the gradients of its copies: r_in(p) = Σ over the output
        positions copying p of r_out (reflection: 2·r at the p rows next to the edge row; replication:
        (p + 1)·r at the edge row), exact when the gradients of different positions are uncorrelated
        (the gradient-independence assumption: a conv after it with zero-mean weights gives that; an
        average pool's window spanning a position and its mirror does not)."""
        import numpy as np

        _c, ns = g_split(env, ins, g)
        _c, outs = env_split(env, g.shape)
        back = env.fit(r, outs)
        for axis, (n, idx) in enumerate(zip(ns, self._sources(ns, g.pads), strict=True)):
            moved = np.moveaxis(back, axis, 0)
            acc = np.zeros((n, *moved.shape[1:]))
            np.add.at(acc, idx, moved)
            back = np.moveaxis(acc, 0, axis)
        return [back], "MF"

    def flops(self, g):
        """0: values are copied, nothing is computed."""
        return 0

    def explain(self, g, ctx):
        """The source of the border rows."""
        how = ("mirrored about the edge row (which is not repeated): each side's padding < n"
               if self.mode == "reflect" else "the edge row repeated")  # fmt: skip
        sizes = [f"output {axis}: n + p₁ + p₂ = {n} + {pb} + {pa} = {n + pb + pa}"
                 for n, (pb, pa), axis in zip(g.ns, g.pads, AXIS_NAMES[self.nd], strict=True)]  # fmt: skip
        return [*sizes, f"border: {how}; no zeros enter"]


class Cropping(ParameterFree):
    """Rows and columns (steps) removed from the border: n → n − before − after per spatial axis.

    Keras Cropping1D(cropping=(a, b)) on (steps, features) and Cropping2D(cropping=((top, bottom),
    (left, right))), written the same way (an int for every side, one per axis, or the pairs). PyTorch
    has no layer: it is slicing, x[..., t:H − b, l:W − r] (or nn.ZeroPad2d with negative padding). An
    output below 1 is an error (E201). No parameters, no MACs, FLOPs 0 (a copy). Receptive field and
    jump unchanged per axis (as zero padding's: the offset, which netcalc does not track, moves by
    the crop before)."""

    counting = "FLOPs 0"
    pass_through = True

    def __init__(self, nd: int) -> None:
        self.nd = nd
        self.op = f"cropping{nd}d"
        self.aliases = (f"crop{nd}d",)
        self.summary = f"cropping of {nd}-D maps"
        what = "steps" if nd == 1 else "rows/columns"
        self.args = {"cropping": _border(nd, f"{what} removed per side")}

    def resolve(self, a, shapes, ctx):
        """Check the rank and that every axis keeps at least one position."""
        if not ctx.need_rank(shapes[0], self.nd + 1, f"a {self.nd}-D feature map"):
            return None
        c, ns = ctx.split(shapes[0])
        crops = tuple(a["cropping"])
        outs = []
        for n, (cb, ca), axis in zip(ns, crops, AXIS_NAMES[self.nd], strict=True):
            out = n - cb - ca
            ctx.condition("size", out - 1, f"{axis} after cropping at least 1", "cropping")
            if out < 1:
                ctx.error(
                    "E201",
                    f"cropping {cb} + {ca} from the {axis} of {n} leaves {n} − {cb} − {ca} = {out}: below 1",
                    "cropping",
                )
                return None
            outs.append(out)
        return Geometry(shape=ctx.join(c, tuple(outs)), crops=crops, ns=ns, outs=tuple(outs))

    def padded_border(self, g, border):
        """Whatever border of padding the input had, less what is cropped off."""
        if border is None or len(border) != len(g.crops):
            return None
        return tuple((max(bb - cb, 0), max(ba - ca, 0)) for (cb, ca), (bb, ba) in zip(g.crops, border, strict=True))

    def flops(self, g):
        """0: values are copied, nothing is computed."""
        return 0

    def receptive(self, g, rf):
        """Unchanged on every axis (the offset moves by the crop before, which netcalc does not track)."""
        return rf

    def _inside(self, g, ns):
        return tuple(slice(cb, n - ca) for n, (cb, ca) in zip(ns, g.crops, strict=True))

    def sig_forward(self, g, ins, env):
        """[E] the map of E[x²] over the kept positions is the input's there; the mean (one figure for
        every position) and the channel-mean fraction are kept (after a zero padding, whose mean is
        averaged over its zeros, cropping them off again keeps that lower mean)."""
        x = ins[0]
        _c, ns = g_split(env, ins, g)
        return x.like(env.fit(x.q, ns)[self._inside(g, ns)], pre=x.pre), "E"

    def sig_backward(self, g, ins, out, r, env):
        """[E] the cropped positions get no gradient; the kept ones pass theirs back."""
        import numpy as np

        _c, ns = g_split(env, ins, g)
        _c, outs = env_split(env, g.shape)
        back = np.zeros(ns)
        back[self._inside(g, ns)] = env.fit(r, outs)
        return [back], "E"

    def explain(self, g, ctx):
        """Each output size with the numbers in it."""
        return [f"output {axis}: n − c₁ − c₂ = {n} − {cb} − {ca} = {out}"
                for n, (cb, ca), out, axis in zip(g.ns, g.crops, g.outs, AXIS_NAMES[self.nd], strict=True)]  # fmt: skip


def padding_types() -> list:
    """Zero, reflection and replication padding, and cropping, in 1-D and 2-D."""
    return [
        ZeroPad(1),
        ZeroPad(2),
        CopyPad(1, "reflect"),
        CopyPad(2, "reflect"),
        CopyPad(1, "replicate"),
        CopyPad(2, "replicate"),
        Cropping(1),
        Cropping(2),
    ]
