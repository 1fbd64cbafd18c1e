"""Layers that move elements around without weights: flatten, reshape, permute, repeat_vector,
upsampling (padding and cropping: padding.py)."""

from __future__ import annotations

from math import prod

from ..compound_kinds import IntList
from ..kinds import Arg, Choice, Int, IntTuple, Shape
from .base import Geometry, ParameterFree, fmt_shape


class _Moves(ParameterFree):
    """A layer that only regroups the elements (flatten, reshape): its signal rules, no FLOPs."""

    counting = "FLOPs 0"
    pass_through = True

    def flops(self, g):
        """0: elements are only regrouped."""
        return 0

    def sig_forward(self, g, ins, env):
        """[E] values are only moved: the mean second moment is kept (positions regrouped)."""
        x = ins[0]
        return x.like(env.fit(x.q, env.positions(self.output_shape(g))), pre=x.pre), "E"

    def sig_backward(self, g, ins, out, r, env):
        """[E] gradients are only moved back; what was a channel's mean gradient before is not one of
        the new channels (gmean back to 1/positions)."""
        env.info.gmean_in = [0.0]
        return [env.fit(r, ins[0].q.shape)], "E"


class Flatten(_Moves):
    """All axes but the batch into one: (C, H, W) → (C·H·W). No parameters, no FLOPs."""

    op = "flatten"
    summary = "flatten to one axis"
    flattens = True

    def output_shape(self, g):
        """(prod(shape),)."""
        return (prod(g.shape),)

    def receptive(self, g, rf):
        """After flattening there is no spatial window."""
        return None


class Reshape(_Moves):
    """To a given shape (without the batch axis), one entry may be −1; the element count must match."""

    op = "reshape"
    summary = "reshape (element count kept)"
    args = {"shape": Arg(Shape(wildcard=True), doc="target shape without the batch axis; one −1 allowed")}

    def resolve(self, a, shapes, ctx):
        """Fill in −1 and check that the number of elements is kept."""
        n = prod(shapes[0])
        target = list(a["shape"])
        known = prod(d for d in target if d != -1)
        if -1 in target:
            ctx.condition("equal", n % known, f"element count divisible by {known}", "shape")
            if n % known:
                ctx.error(
                    "E205",
                    f"cannot reshape {fmt_shape(shapes[0])} ({n:,} elements) to "
                    f"{fmt_shape(a['shape'])}: {n:,} is not divisible by {known:,}",
                    "shape",
                )
                return None
            target[target.index(-1)] = n // known
        elif ctx.condition("equal", n - known, f"element count {known}", "shape") or known != n:
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


class Permute(_Moves):
    """The axes reordered by `dims`, numbered as Keras's Permute numbers them: from 1, the batch
    axis excluded, so dims [2, 1] swaps the two axes of a (T, F) sequence (Keras Permute((2, 1));
    PyTorch x.permute(0, 2, 1), whose numbering counts the batch as 0). Output axis i is input axis
    dims[i]. The spec's layout is not changed: what reads the output takes its channels (features)
    on the layout's axis, as Keras and PyTorch do. No parameters, no FLOPs."""

    op = "permute"
    summary = "reorder the axes (Keras numbering: from 1, batch excluded)"
    args = {
        "dims": Arg(IntList(), doc="the input axis for each output axis, numbered from 1 without the batch (Keras)")
    }

    def resolve(self, a, shapes, ctx):
        """dims must be a permutation of 1…rank (E202, quoting it with Keras's numbering)."""
        shape = shapes[0]
        dims = tuple(a["dims"])
        rank = len(shape)
        if sorted(dims) != list(range(1, rank + 1)):
            axes_text = ", ".join(map(str, range(1, rank + 1)))
            hint = " (0 would be the batch axis, which stays first)" if 0 in dims else ""
            ctx.error(
                "E202",
                f"dims {list(dims)} is not an order of the input's axes {axes_text}: permute numbers the "
                f"{rank} axes of {fmt_shape(shape)} from 1, without the batch, as Keras's Permute does{hint}",
                "dims",
            )
            return None
        return Geometry(shape=tuple(shape[d - 1] for d in dims), dims=dims)

    def receptive(self, g, rf):
        """The spatial axes are reordered: no window is followed through."""
        return None

    def explain(self, g, ctx):
        """Which input axis each output axis takes, and PyTorch's spelling of it."""
        axes = ", ".join(f"{i} ← {d}" for i, d in enumerate(g.dims, 1))
        return [
            f"output axis ← input axis, numbered from 1 without the batch (Keras): {axes}; output {fmt_shape(g.shape)}",
            f"PyTorch: x.permute(0, {', '.join(map(str, g.dims))}), the batch as axis 0",
        ]


class RepeatVector(_Moves):
    """A vector repeated n times: (F) → (n, F), a sequence of n equal steps (Keras RepeatVector(n),
    which takes a 2-D (batch, features) input; PyTorch x.unsqueeze(1).expand(-1, n, -1) or
    .repeat(1, n, 1)). Typically between an encoder's final state and a decoder LSTM. No
    parameters, no FLOPs (copies)."""

    op = "repeat_vector"
    aliases = ("repeatvector",)
    summary = "repeat a vector n times: (F) → (n, F)"
    args = {"n": Arg(Int(1), doc="the number of repetitions (the sequence's steps)")}

    def resolve(self, a, shapes, ctx):
        """A vector only (E202)."""
        shape = shapes[0]
        if len(shape) != 1:
            ctx.error(
                "E202",
                f"repeat_vector takes a vector (1 axis without the batch, as Keras's RepeatVector takes "
                f"(batch, features)), got an input of shape {fmt_shape(shape)} ({len(shape)} axes)",
            )
            return None
        return Geometry(shape=(a["n"], shape[0]), n=a["n"])

    def receptive(self, g, rf):
        """A vector has no spatial window."""
        return None

    def sig_forward(self, g, ins, env):
        """[E] the vector's values copied to each of the n steps: the same q at every step; a step's
        neighbour is a copy (correlation 1)."""
        import numpy as np

        x = ins[0]
        return x.like(np.full(env.positions(g.shape), x.mean), corr=1.0), "E"

    def sig_backward(self, g, ins, out, r, env):
        """[A] each element gathers the n steps' gradients: n·r for independent step gradients."""
        import numpy as np

        env.info.gmean_in = [0.0]
        return [np.full(env.positions(env.row.in_shapes[0]), g.n * float(np.mean(r)))], "A"

    def explain(self, g, ctx):
        """The shape and what it copies."""
        return [f"({g.shape[1]}) → ({g.n}, {g.shape[1]}): the vector copied to {g.n} steps, 0 FLOPs"]


class Upsample(ParameterFree):
    """Repeat (nearest) or interpolate (linear/bilinear) by an integer factor per axis: n → n·scale.

    FLOPs: 0 for nearest; for (bi)linear, per output element 2 multiplies + 1 add per interpolated
    axis (3 in 1-D, 7 in 2-D: a weighted sum of 4 neighbours).
    """

    def __init__(self, nd: int) -> None:
        self.nd = nd
        self.op = f"upsample{nd}d"
        self.counting = f"FLOPs 0 nearest, {3 if nd == 1 else 7} per output {'linear' if nd == 1 else 'bilinear'}"
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

    def _taps(self, n: int, s: int):
        """The interpolation along one axis as two taps per output (n·s outputs from n inputs):
        (indices (n·s, 2), weights (n·s, 2)); PyTorch's align_corners=False, source (o + ½)/s − ½
        clamped at the borders, where both taps fall on one input (merged: weight 1, then 0);
        nearest repeats. Two taps, not an (n·s × n) matrix: 16,894 inputs upsampled 4× made one of
        8.5 GB."""
        import numpy as np

        o = np.arange(n * s)
        if self.mode_of(s) == "nearest":
            i0 = o // s
            return np.stack([i0, i0], 1), np.stack([np.ones(n * s), np.zeros(n * s)], 1)
        src = np.maximum((o + 0.5) / s - 0.5, 0.0)
        i0 = np.minimum(src.astype(np.int64), n - 1)
        i1 = np.minimum(i0 + 1, n - 1)
        w1 = src - i0
        w0 = 1 - w1
        same = i0 == i1
        w0, w1 = np.where(same, w0 + w1, w0), np.where(same, 0.0, w1)
        return np.stack([i0, i1], 1), np.stack([w0, w1], 1)

    def mode_of(self, s):
        return self._mode

    def sig_forward(self, g, ins, env):
        """Nearest [E]: values repeated; neighbours are copies (s − 1) times in s. (Bi)linear [A]:
        E[(Σ w_i x_i)²] = Σ w²·q + Σ_{i≠j} w_i w_j·ρ·√(q_i q_j) along each axis, with the
        interpolation's own weights per position (0.75/0.25 inside for a factor 2, 1 at the borders)."""
        import numpy as np

        x = ins[0]
        _, ns = g_split(env, ins, g)
        q = env.fit(x.q, ns)
        self._mode = g.mode
        if g.mode == "nearest":
            for axis, s in enumerate(g.scale):
                q = np.repeat(q, s, axis=axis)
            s_mean = sum(g.scale) / len(g.scale)
            return x.like(q, corr=(s_mean - 1 + x.corr) / s_mean), "E"
        rho = x.corr
        for axis, (n, s) in enumerate(zip(ns, g.scale, strict=True)):
            idx, w = self._taps(n, s)
            q = np.moveaxis(q, axis, 0)
            sq = np.sqrt(q)
            wk = [w[:, k].reshape(-1, *([1] * (q.ndim - 1))) for k in (0, 1)]
            diag = wk[0] ** 2 * q[idx[:, 0]] + wk[1] ** 2 * q[idx[:, 1]]
            full = (wk[0] * sq[idx[:, 0]] + wk[1] * sq[idx[:, 1]]) ** 2
            q = np.moveaxis(diag + rho * (full - diag), 0, axis)
        return x.like(q, corr=min(1.0, (x.corr + 1) / 2)), "A"

    def sig_backward(self, g, ins, out, r, env):
        """Nearest [E]: each input gathers scale^d gradients; (bi)linear [A]: Σ_o w_oi²·r_o per input
        and axis (gradient independence)."""
        import numpy as np

        _, ns = g_split(env, ins, g)
        _, outs = env_split(env, g.shape)
        r = env.fit(r, outs)
        self._mode = g.mode
        for axis, (n, s) in enumerate(zip(ns, g.scale, strict=True)):
            idx, w = self._taps(n, s)
            ro = np.moveaxis(r, axis, 0)
            back = np.zeros((n, *ro.shape[1:]))
            for k in (0, 1):  # each input gathers w² of the gradient of every output it feeds
                np.add.at(back, idx[:, k], w[:, k].reshape(-1, *([1] * (ro.ndim - 1))) ** 2 * ro)
            r = np.moveaxis(back, 0, axis)
        return [r], "E" if g.mode == "nearest" else "A"

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
