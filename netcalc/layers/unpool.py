"""Max unpooling: a max pool's values put back where their maxima were, zeros elsewhere (PyTorch
nn.MaxUnpool2d; Keras has no such layer)."""

from __future__ import annotations

from math import prod

from ..compound_kinds import Names
from ..diagnostics import clip
from ..kinds import Arg, IntTuple
from .base import AXIS_NAMES, Geometry, ParameterFree, fmt_shape


class MaxUnpool(ParameterFree):
    """The partial inverse of a max pool (SegNet's decoder, Badrinarayanan et al. 2015; Zeiler and
    Fergus's deconvnet): each input value is written at the position its max pool took it from,
    given as that pool's `NAME.indices` (a max pool with return_indices), and every other output
    is zero. PyTorch's nn.MaxUnpool2d(kernel_size, stride, padding): output (n − 1)·s − 2p + k per
    axis, or `output_size` when written (PyTorch takes it strictly between that size − s and + s).

    The indices must be of the input's shape (the pool's output) and index a map of the output's
    size: a position h·W + w of the pool's H×W input lands at another place in a map of another
    width, so netcalc checks it (E211) where PyTorch puts values in the wrong places, or raises at an
    index past the end. No parameters, no MACs; FLOPs 0: a scatter, no arithmetic (as upsampling
    nearest)."""

    op = "maxunpool2d"
    aliases = ("max_unpool2d", "maxunpooling2d")
    nd = 2
    counting = "FLOPs 0 (a scatter: each value written at its index, zeros elsewhere)"
    summary = "2-D max unpooling: a max pool's values back at their indices, zeros elsewhere"
    args = {
        "indices": Arg(Names(), doc="the max pool's indices: NAME.indices of a max pool with return_indices: true"),
        "kernel": Arg(IntTuple(2), doc="the max pool's window per axis"),
        "stride": Arg(IntTuple(2), None, "the max pool's step per axis (default: the kernel)"),
        "padding": Arg(IntTuple(2, min=0), (0, 0), "the max pool's padding per axis (each side)"),
        "output_size": Arg(IntTuple(2), None, "the output's height and width (default (n − 1)·s − 2p + k)"),
    }

    def several_inputs(self, written: tuple) -> str:
        """E115's advice: one map in `in:`, the pool's indices in `indices:`."""
        rest = ", ".join(map(clip, written[1:]))
        return f"a max unpool reads one map: give the max pool's indices as in: {clip(written[0])}, indices: {rest}"

    def resolve(self, a, shapes, ctx):
        """Check the rank, that the indices are one max pool's and of the input's shape, the output size
        (PyTorch's formula or range) and that it is the size of the map the indices index (E211)."""
        x = shapes[0]
        if not ctx.need_rank(x, 3, "a 2-D feature map"):
            return None
        names, spaces = ctx.node.inputs[1:], ctx.input_spaces[1:]
        if len(names) != 1:
            ctx.error("E211", f"indices: takes the indices of one max pool, got {len(names)} ({', '.join(names)})",
                      "indices")  # fmt: skip
            return None
        name, idx, space = names[0], shapes[1], spaces[0] if spaces else None
        if space is None:
            ctx.error("E211", f"indices: {name} holds no max pool's indices; a max pool with return_indices: true "
                      f"gives them as NAME.indices ({name}.indices, if {name} is one)", "indices")  # fmt: skip
            return None
        for got, want in zip(idx, x, strict=False):
            ctx.same([got, want], f"the indices {name} of the shape of the map unpooled", "indices")
        if tuple(idx) != tuple(x):
            ctx.error("E211", f"the indices {name} have shape {_shape(idx)}, the map unpooled {_shape(x)}: "
                      "one index per value, so the max pool's output and this input have the same shape",
                      "indices")  # fmt: skip
            return None
        c, ns = ctx.split(x)
        ks, ss, ps = a["kernel"], a["stride"] or a["kernel"], a["padding"]
        default = tuple((n - 1) * s - 2 * p + k for n, k, s, p in zip(ns, ks, ss, ps, strict=True))
        outs = tuple(a["output_size"]) if a["output_size"] is not None else default
        for o, d, s, axis in zip(outs, default, ss, AXIS_NAMES[2], strict=True):
            if a["output_size"] is None:
                ctx.condition("size", o - 1, f"output {axis} at least 1", "kernel")
                if o < 1:
                    ctx.error("E201", f"output {axis} (n − 1)·s − 2p + k = {o} is below 1", "kernel")
                    return None
            elif not d - s < o < d + s:
                ctx.error("E211", f"output_size {axis} {o} is outside PyTorch's range for this input: strictly "
                          f"between {d - s} and {d + s}, (n − 1)·s − 2p + k = {d} ± the stride {s}",
                          "output_size")  # fmt: skip
                return None
        _, plane = ctx.split(tuple(space))
        for o, n, axis in zip(outs, plane, AXIS_NAMES[2], strict=True):
            ctx.same([o, n], f"output {axis} that of the input the indices {name} index", "output_size")
        if tuple(outs) != tuple(plane):
            fits = all(d - s < n < d + s for n, d, s in zip(plane, default, ss, strict=True))
            fix = (f"give output_size: [{', '.join(map(str, _shape(plane).split('×')))}]" if fits else
                   "give the max pool's kernel, stride and padding")  # fmt: skip
            ctx.error("E211", f"the indices {name} are positions in a {_shape(plane)} map, but this unpool's "
                      f"output is {_shape(outs)}: each value would land in the wrong place; {fix}",
                      "output_size" if a["output_size"] is not None else "kernel")  # fmt: skip
            return None
        return Geometry(c=c, ns=ns, ks=tuple(ks), ss=tuple(ss), pads=tuple((p, p) for p in ps), outs=outs,
                        default=default, out_shape=ctx.join(c, outs), source=name)  # fmt: skip

    def output_shape(self, g):
        """(C, *outs) in the spec's layout."""
        return g.out_shape

    def flops(self, g):
        """0: values are moved, nothing is computed (the counting statement)."""
        return 0

    def receptive(self, g, rf):
        """An output position holds one input value, of one of the ⌈k/s⌉ windows covering it:
        r += (⌈k/s⌉ − 1)·j, j /= s (a transposed convolution's rule)."""
        if rf is None:
            return None
        from fractions import Fraction

        return [(r + (-(-k // s) - 1) * j, Fraction(j) / s) for (r, j), k, s in zip(rf, g.ks, g.ss, strict=True)]

    def weight_shape(self, g, tensors):
        return "×".join(map(str, g.ks)) + " window"

    def explain(self, g, ctx):
        """Each output size with its numbers, what goes where, and the frameworks."""
        lines = []
        for n, k, s, (p, _), o, d, axis in zip(g.ns, g.ks, g.ss, g.pads, g.outs, g.default, AXIS_NAMES[2],
                                                strict=True):  # fmt: skip
            rule = f"output {axis}: (n − 1)·s − 2p + k = ({n} − 1)·{s} − 2·{p} + {k} = {d}"
            lines.append(rule if o == d else f"{rule}; output_size {o}")
        lines.append(
            f"each of the {prod(g.ns):,} values of a channel written at its index from {g.source} (a position in "
            f"the {fmt_shape(g.outs)} map), the other {prod(g.outs) - prod(g.ns):,} zero: FLOPs 0"
        )
        lines.append("PyTorch nn.MaxUnpool2d; Keras has no unpooling layer (tf.scatter_nd with "
                     "tf.nn.max_pool_with_argmax's indices in a custom layer)")  # fmt: skip
        return lines

    # ------------------------------------------------------------------ signal

    def _inside(self, g, env):
        """How many output positions each input's window covers (its taps inside the output)."""
        import numpy as np

        return env.window_sum(np.ones(g.outs), g.ks, g.ss, (1,) * self.nd, g.pads, g.ns)

    def sig_forward(self, g, ins, env):
        """Each value lands on one of its window's positions, the one its max pool took it from, each
        as likely by symmetry; the others are zero: E[y_p²] = Σ over the windows covering p of
        E[x_w²]/(the window's positions) [A: exact for windows that do not overlap, as a 2×2 pool of
        stride 2; where they overlap, two windows may name one position and it is an upper bound].
        Over the map, E[y²] = E[x²]·(input elements / output elements); the mean and the channel means
        scale by that fraction too, and neighbours are uncorrelated (most of them are zeros)."""
        x = ins[0]
        qmap = env.fit(x.q, g.ns)
        inside = self._inside(g, env)
        q = env.window_scatter(qmap / inside, g.ks, g.ss, (1,) * self.nd, g.pads, g.outs)
        frac = prod(g.ns) / prod(g.outs)
        return x.like(q, mu=x.mu * frac, mfrac=x.mfrac * frac, corr=0.0, gauss=False), "A"

    def sig_backward(self, g, ins, out, r, env):
        """Each input takes the gradient at the position it was written to, one of its window's,
        each as likely: E[dx_w²] = the mean of r over the window's positions [A]; the indices take
        none (positions have no gradient)."""
        r = env.fit(r, g.outs)
        back = env.window_sum(r, g.ks, g.ss, (1,) * self.nd, g.pads, g.ns) / self._inside(g, env)
        env.info.gmean_in = [env.info.gmean, 0.0]
        return [back, None], "A"


def _shape(shape) -> str:
    """A shape's values (at the symbols' point, for a symbolic size: the message's note says which)."""
    return fmt_shape(tuple(getattr(d, "v", d) for d in shape))
