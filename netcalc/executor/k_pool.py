"""Pooling kernels: max and average pooling (1-D, 2-D, 3-D; max pools with indices), global pooling,
adaptive pooling and max unpooling.

Output sizes follow PyTorch's formula, written again here: floor((n + p_before + p_after −
d(k − 1) − 1)/s) + 1, or with ceil_mode the ceiling, dropping a last window that would start in
the right padding. Max pooling pads with −∞, so that padding never wins. Average pooling divides
by what the framework divides by: PyTorch (count_include_pad=True) by the window clipped to the
padded input, n + padding (so a ceil_mode window running past it counts less); Keras 'same' by the
real input positions in the window only (TensorFlow's SAME average). Explicit numbers in a Keras
spec are taken as a zero padding layer before the pooling, so they count.
"""

from __future__ import annotations

from math import prod

import numpy as np

from .base import Env, Kernel, Layer, Unrunnable
from .k_conv import join, split
from .windows import Geom, window_pads


def pool_outs(ns, ks, ss, ds, pads, ceil_mode: bool) -> tuple:
    outs = []
    for n, k, s, d, (pb, pa) in zip(ns, ks, ss, ds, pads, strict=True):
        num = n + pb + pa - d * (k - 1) - 1
        if ceil_mode:
            out = -(-num // s) + 1
            if (out - 1) * s >= n + pb:
                out -= 1
        else:
            out = num // s + 1
        outs.append(out)
    return tuple(outs)


class PoolLayer(Layer):
    def __init__(self, node, in_shapes, env: Env, kind: str, nd: int) -> None:
        super().__init__()
        a = node.args
        self.kind = kind
        cl = env.channels_last
        c, ns = split(in_shapes[0], cl)
        ks = tuple(a["kernel"])
        ss = tuple(a["stride"] or ks)
        ds = tuple(a.get("dilation") or (1,) * nd)
        pads = window_pads(a["padding"], ns, ks, ss, ds)
        outs = pool_outs(ns, ks, ss, ds, pads, a["ceil_mode"])
        self.g = Geom(cl, ns, ks, ss, ds, pads, outs)
        self.out_shape = join(c, outs, cl)
        self.cl = cl
        self.indices = kind == "max" and bool(a.get("return_indices"))
        if self.indices:  # NAME.indices: each maximum's place in its channel, flattened over the input's axes
            self.extra_shapes = {"indices": self.out_shape}
        if self.kind == "avg":
            exclude = env.keras and a["padding"] == "same"
            counts = []
            for n, k, s, (pb, pa), o in zip(ns, ks, ss, pads, outs, strict=True):
                start = np.arange(o) * s - pb
                if exclude:
                    cnt = np.minimum(start + k, n) - np.maximum(start, 0)
                else:
                    cnt = np.minimum(start + k, n + pa) - start
                counts.append(cnt.astype(np.float64))
            div = counts[0]
            for cnt in counts[1:]:
                div = np.multiply.outer(div, cnt)
            shape = (1, *outs, 1) if cl else (1, 1, *outs)
            self.div = div.reshape(shape).astype(env.dtype)

    def forward(self, xs):
        x = xs[0]
        g = self.g
        self.xshape = x.shape
        if self.kind == "max":  # which tap won is found again in the backward pass
            xp = g.pad(x, -np.inf)
            taps = list(g.taps())
            y = xp[g.tap(taps[0])].copy()
            if self.indices:
                return self._with_indices(xp, y, taps)
            for t in taps[1:]:
                np.maximum(y, xp[g.tap(t)], out=y)
            self.xp, self.y = xp, y
            self.padded_shape = xp.shape
            return y, {}
        xp = g.pad(x)
        taps = list(g.taps())
        y = xp[g.tap(taps[0])].copy()
        for t in taps[1:]:
            y += xp[g.tap(t)]
        self.padded_shape = xp.shape
        y /= self.div
        return y, {}

    def _with_indices(self, xp, y, taps):
        """The max and, as PyTorch's return_indices, where the first maximum of each window is: its
        position in the unpadded input, flattened over the spatial axes (h·W + w in 2-D)."""
        g = self.g
        place = np.zeros(g.outs, np.int64)  # the first tap's position per output, flattened
        step = 1
        for axis in reversed(range(g.nd)):
            coord = np.arange(g.outs[axis]) * g.ss[axis] - g.pads[axis][0]
            shape = [1] * g.nd
            shape[axis] = g.outs[axis]
            place = place + coord.reshape(shape) * step
            step *= g.ns[axis]
        place = place.reshape((1, *g.outs, 1) if self.cl else (1, 1, *g.outs))
        idx = np.broadcast_to(place, y.shape).copy()
        strides = [prod(g.ns[a + 1 :]) for a in range(g.nd)]
        for t in taps[1:]:
            tap = xp[g.tap(t)]
            better = tap > y  # a later tap wins only when strictly larger: the first maximum
            np.copyto(y, tap, where=better)
            np.copyto(idx, place + sum(i * d * st for i, d, st in zip(t, g.ds, strides, strict=True)), where=better)
        self.xp, self.y = xp, y
        self.padded_shape = xp.shape
        return y, {"indices": idx}

    def backward(self, dy, dextras):
        g = self.g
        dxp = np.zeros(self.padded_shape, dy.dtype)
        if self.kind == "max":  # the gradient goes to the first tap holding the maximum (as PyTorch)
            taken = np.zeros(dy.shape, bool)
            for t in g.taps():
                idx = g.tap(t)
                hit = self.xp[idx] == self.y
                hit &= ~taken
                taken |= hit
                dxp[idx] += np.where(hit, dy, 0)
        else:
            gd = dy / self.div
            for t in g.taps():
                dxp[g.tap(t)] += gd
        return [g.crop(dxp)]


class PoolKernel(Kernel):
    """Max or average pooling (`kind` 'max' or 'avg') over `nd` spatial axes."""

    ops = ("maxpool1d", "maxpool2d", "maxpool3d", "avgpool1d", "avgpool2d", "avgpool3d")

    def __init__(self, kind: str, nd: int) -> None:
        self.kind, self.nd = kind, nd

    def build(self, node, in_shapes, env):
        return PoolLayer(node, in_shapes, env, self.kind, self.nd)


class GlobalPoolLayer(Layer):
    """One value per channel over every spatial position: (C), or (C, 1, …) with keepdims."""

    def __init__(self, node, in_shapes, env: Env, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.cl = env.channels_last
        c, ns = split(in_shapes[0], self.cl)
        self.keep = node.args["keepdims"]
        self.nd = len(ns)
        self.out_shape = join(c, (1,) * self.nd, self.cl) if self.keep else (c,)

    def forward(self, xs):
        x = xs[0]
        self.xshape = x.shape
        n = x.shape[0]
        flat = x.reshape(n, -1, x.shape[-1]) if self.cl else x.reshape(n, x.shape[1], -1)
        ax = 1 if self.cl else 2
        if self.kind == "avg":
            y = flat.mean(axis=ax)
        else:
            self.arg = flat.argmax(axis=ax)
            y = np.take_along_axis(flat, np.expand_dims(self.arg, ax), axis=ax).squeeze(ax)
        return y.reshape(n, *self.out_shape), {}

    def backward(self, dy, dextras):
        n = dy.shape[0]
        c = dy.size // n
        dy = dy.reshape(n, c)
        shape = self.xshape
        if self.cl:
            flat_shape, ax = (n, int(np.prod(shape[1:-1])), c), 1
        else:
            flat_shape, ax = (n, c, int(np.prod(shape[2:]))), 2
        if self.kind == "avg":
            dflat = np.broadcast_to(np.expand_dims(dy / flat_shape[ax], ax), flat_shape)
            return [np.ascontiguousarray(dflat).reshape(shape)]
        dflat = np.zeros(flat_shape, dy.dtype)
        np.put_along_axis(dflat, np.expand_dims(self.arg, ax), np.expand_dims(dy, ax), axis=ax)
        return [dflat.reshape(shape)]


class GlobalPoolKernel(Kernel):
    """Global max or average pooling (`kind` 'max' or 'avg'); the axes are the input's."""

    ops = ("global_avgpool1d", "global_avgpool2d", "global_avgpool3d",
           "global_maxpool1d", "global_maxpool2d", "global_maxpool3d")  # fmt: skip

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def build(self, node, in_shapes, env):
        return GlobalPoolLayer(node, in_shapes, env, self.kind)


class AdaptivePoolLayer(Layer):
    """Average or max over PyTorch's adaptive windows, written again here: along an axis of n
    positions and o outputs, output i reads [⌊i·n/o⌋, ⌈(i + 1)·n/o⌉); the average divides by the
    window's size, the max's gradient goes to the window's first maximum (as PyTorch's)."""

    def __init__(self, node, in_shapes, env: Env, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.cl = env.channels_last
        c, ns = split(in_shapes[0], self.cl)
        outs = tuple(int(o) for o in node.args["output_size"])
        self.wins = [[(i * n // o, -(-(i + 1) * n // o)) for i in range(o)] for n, o in zip(ns, outs, strict=True)]
        self.outs = outs
        self.out_shape = join(c, outs, self.cl)

    def _windows(self):
        """(output index, slices of the spatial axes) for every output position."""
        for idx in np.ndindex(*self.outs):
            yield idx, tuple(slice(*self.wins[a][i]) for a, i in enumerate(idx))

    def forward(self, xs):
        x = np.moveaxis(xs[0], -1, 1) if self.cl else xs[0]  # (N, C, *spatial)
        self.xshape = x.shape
        n, c = x.shape[:2]
        y = np.empty((n, c, *self.outs), x.dtype)
        self.arg = {}
        for idx, sl in self._windows():
            win = x[(slice(None), slice(None), *sl)].reshape(n, c, -1)
            if self.kind == "avg":
                y[(slice(None), slice(None), *idx)] = win.mean(axis=2)
            else:
                arg = win.argmax(axis=2)  # the first maximum
                self.arg[idx] = arg
                y[(slice(None), slice(None), *idx)] = np.take_along_axis(win, arg[..., None], axis=2)[..., 0]
        return (np.moveaxis(y, 1, -1) if self.cl else y), {}

    def backward(self, dy, dextras):
        d = np.moveaxis(dy, -1, 1) if self.cl else dy
        dx = np.zeros(self.xshape, dy.dtype)
        n, c = self.xshape[:2]
        for idx, sl in self._windows():
            g = d[(slice(None), slice(None), *idx)]
            region = dx[(slice(None), slice(None), *sl)]
            if self.kind == "avg":
                region += (g / region[0, 0].size)[(...,) + (None,) * len(sl)]
            else:
                flat = np.zeros((n, c, region[0, 0].size), dy.dtype)
                np.put_along_axis(flat, self.arg[idx][..., None], g[..., None], axis=2)
                region += flat.reshape(region.shape)
        return [np.moveaxis(dx, 1, -1) if self.cl else dx]


class AdaptivePoolKernel(Kernel):
    """Adaptive max or average pooling (`kind` 'max' or 'avg') to the node's output_size."""

    ops = ("adaptive_avgpool1d", "adaptive_avgpool2d", "adaptive_avgpool3d",
           "adaptive_maxpool1d", "adaptive_maxpool2d", "adaptive_maxpool3d")  # fmt: skip

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def build(self, node, in_shapes, env):
        return AdaptivePoolLayer(node, in_shapes, env, self.kind)


class MaxUnpoolLayer(Layer):
    """A max pool's values put back at their indices (PyTorch's MaxUnpool, written again here): the
    output is (n − 1)·s − 2p + k per axis, or the node's output_size; each input value is written at
    its index, a position in its channel flattened over the output's spatial axes, every other output
    is 0. An index past the output's positions is refused, as PyTorch refuses it."""

    def __init__(self, node, in_shapes, env: Env) -> None:
        super().__init__()
        a = node.args
        self.cl = env.channels_last
        c, ns = split(in_shapes[0], self.cl)
        ks = tuple(a["kernel"])
        ss = tuple(a["stride"] or ks)
        ps = tuple(a["padding"])
        outs = a["output_size"] or tuple((n - 1) * s - 2 * p + k for n, k, s, p in zip(ns, ks, ss, ps, strict=True))
        self.outs = tuple(int(o) for o in outs)
        self.out_shape = join(c, self.outs, self.cl)

    def _flat(self, a):
        """(N, C, positions) channels first, whatever the layout."""
        a = np.moveaxis(a, -1, 1) if self.cl else a
        return a.reshape(a.shape[0], a.shape[1], -1)

    def _shaped(self, flat, spatial):
        """The inverse of `_flat`, for `spatial` positions."""
        y = flat.reshape(flat.shape[0], flat.shape[1], *spatial)
        return np.moveaxis(y, 1, -1) if self.cl else y

    def forward(self, xs):
        x, idx = xs
        xf, self.idx = self._flat(x), self._flat(np.asarray(idx)).astype(np.int64)
        self.in_spatial = x.shape[1:-1] if self.cl else x.shape[2:]
        size = prod(self.outs)
        if self.idx.size and (self.idx.min() < 0 or self.idx.max() >= size):
            bad = int(self.idx.max() if self.idx.max() >= size else self.idx.min())
            raise Unrunnable(f"max unpool: index {bad} is outside the {'×'.join(map(str, self.outs))} output")
        y = np.zeros((*xf.shape[:2], size), x.dtype)
        np.put_along_axis(y, self.idx, xf, axis=2)
        return self._shaped(y, self.outs), {}

    def backward(self, dy, dextras):
        dx = np.take_along_axis(self._flat(dy), self.idx, axis=2)
        return [self._shaped(dx, self.in_spatial), None]  # the indices are positions: no gradient


class MaxUnpoolKernel(Kernel):
    """Max unpooling to the node's output size, at the indices of its second input."""

    ops = ("maxunpool2d",)

    def build(self, node, in_shapes, env):
        return MaxUnpoolLayer(node, in_shapes, env)
