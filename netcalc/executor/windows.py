"""A window sliding over the spatial axes of a batch array, shared by the convolution and pooling
kernels: the padding of 'same', the geometry of the window (`Geom`: taps, strides, dilations,
padding, output positions, strided views), and im2col/col2im, its columns and their adjoint.

Samples are taken in blocks that keep the column matrix below BLOCK_BYTES.
"""

from __future__ import annotations

import itertools
from math import prod

import numpy as np
from numpy.lib.stride_tricks import as_strided

BLOCK_BYTES = 1 << 26  # 64 MiB of columns per block of samples


def same_pads(n: int, k: int, s: int, d: int) -> tuple[int, int]:
    """TensorFlow's 'same' (and PyTorch's, which allows it with stride 1 only, where they agree):
    the output has ceil(n/s) positions; the total padding needed for that is split with the odd
    one after."""
    out = -(-n // s)
    total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
    return total // 2, total - total // 2


def window_pads(padding, ns, ks, ss, ds) -> tuple:
    """(before, after) per spatial axis from a node's 'valid' | 'same' | 'causal' | pairs. 'causal'
    (Keras Conv1D; in PyTorch F.pad(x, (d(k − 1), 0)) before an unpadded Conv1d): all d(k − 1)
    zeros before, none after."""
    if padding == "valid":
        return tuple((0, 0) for _ in ns)
    if padding == "causal":
        return tuple((d * (k - 1), 0) for k, d in zip(ks, ds, strict=True))
    if padding == "same":
        return tuple(same_pads(n, k, s, d) for n, k, s, d in zip(ns, ks, ss, ds, strict=True))
    return tuple((int(a), int(b)) for a, b in padding)


class Geom:
    """A window sliding over the spatial axes of a batch array: sizes n, taps k, stride s,
    dilation d, padding (before, after), output positions `outs` (the floor formula unless given)
    and the padded extent `lens` that holds the input and every window."""

    def __init__(self, cl: bool, ns, ks, ss, ds, pads, outs=None) -> None:
        self.cl = cl
        self.nd = len(ns)
        self.ns, self.ks, self.ss, self.ds = tuple(ns), tuple(ks), tuple(ss), tuple(ds)
        self.pads = tuple(pads)
        if outs is None:
            outs = tuple((n + pb + pa - d * (k - 1) - 1) // s + 1
                         for n, k, s, d, (pb, pa) in zip(ns, ks, ss, ds, pads, strict=True))  # fmt: skip
        self.outs = tuple(outs)
        self.lens = tuple(max(n + pb, (o - 1) * s + d * (k - 1) + 1)
                          for n, k, s, d, (pb, _), o in zip(ns, ks, ss, ds, pads, self.outs, strict=True))  # fmt: skip
        self.K = prod(self.ks)
        self.P = prod(self.outs)
        self.plain = all(pb == 0 for pb, _ in self.pads) and self.lens == self.ns

    def interior(self) -> tuple:
        """Index of the input inside the padded array."""
        inner = tuple(slice(pb, pb + n) for (pb, _), n in zip(self.pads, self.ns, strict=True))
        return (slice(None), *inner, slice(None)) if self.cl else (slice(None), slice(None), *inner)

    def pad(self, x: np.ndarray, fill: float = 0.0) -> np.ndarray:
        if self.plain:
            return x
        shape = (x.shape[0], *self.lens, x.shape[-1]) if self.cl else (x.shape[0], x.shape[1], *self.lens)
        xp = np.zeros(shape, x.dtype) if fill == 0 else np.full(shape, fill, x.dtype)
        xp[self.interior()] = x
        return xp

    def crop(self, xp: np.ndarray) -> np.ndarray:
        return xp if self.plain else xp[self.interior()]

    def windows(self, xp: np.ndarray) -> np.ndarray:
        """A read-only strided view: channels first (N, C, *k, *outs); channels last (N, *outs, *k, C)."""
        st = xp.strides
        if self.cl:
            sp = st[1:-1]
            shape = (xp.shape[0], *self.outs, *self.ks, xp.shape[-1])
            strides = (st[0], *(s * t for s, t in zip(self.ss, sp, strict=True)),
                       *(d * t for d, t in zip(self.ds, sp, strict=True)), st[-1])  # fmt: skip
        else:
            sp = st[2:]
            shape = (xp.shape[0], xp.shape[1], *self.ks, *self.outs)
            strides = (st[0], st[1], *(d * t for d, t in zip(self.ds, sp, strict=True)),
                       *(s * t for s, t in zip(self.ss, sp, strict=True)))  # fmt: skip
        return as_strided(xp, shape, strides, writeable=False)

    def tap(self, t: tuple) -> tuple:
        """Index, in the padded array, of the positions kernel tap t reads for every output."""
        sl = tuple(slice(i * d, i * d + (o - 1) * s + 1, s)
                   for i, d, o, s in zip(t, self.ds, self.outs, self.ss, strict=True))  # fmt: skip
        return (slice(None), *sl, slice(None)) if self.cl else (slice(None), slice(None), *sl)

    def taps(self):
        return itertools.product(*(range(k) for k in self.ks))

    def block(self, per_sample: int, itemsize: int, n: int) -> int:
        return max(1, min(n, BLOCK_BYTES // max(1, per_sample * itemsize)))


def im2col(x: np.ndarray, g: Geom, groups: int, per_sample: bool = False) -> np.ndarray:
    """Columns: channels first (G, C/G·K, N·P), or per sample (N, G, C/G·K, P); channels last
    (G, N·P, K·C/G). A 1×1 convolution of stride 1 without padding needs no copy per sample."""
    win = g.windows(g.pad(x))
    nb = x.shape[0]
    if per_sample:
        return win.reshape(nb, groups, (x.shape[1] // groups) * g.K, g.P)
    if g.cl:
        c = x.shape[-1]
        if groups == 1:
            return win.reshape(1, nb * g.P, g.K * c)
        win = win.reshape(*win.shape[:-1], groups, c // groups)
        return np.moveaxis(win, -2, 0).reshape(groups, nb * g.P, g.K * (c // groups))
    c = x.shape[1]
    nd = g.nd
    win = win.transpose(1, *range(2, 2 + nd), 0, *range(2 + nd, 2 + 2 * nd))  # (C, *k, N, *outs)
    return win.reshape(groups, (c // groups) * g.K, nb * g.P)


def col2im(cols: np.ndarray, g: Geom, nb: int, c: int, per_sample: bool = False) -> np.ndarray:
    """The adjoint of im2col: every column entry added back at the input position it came from
    (columns laid out as im2col gives them, `per_sample` or not)."""
    nd = g.nd
    if per_sample:
        if g.K == 1 and g.plain and all(s == 1 for s in g.ss):  # a 1×1 convolution: nothing moves
            return cols.reshape(nb, c, *g.ns)
        xp = np.zeros((nb, c, *g.lens), cols.dtype)
        cols = cols.reshape(nb, c, *g.ks, *g.outs)
        for t in g.taps():
            xp[g.tap(t)] += cols[(slice(None), slice(None), *t)]
        return g.crop(xp)
    groups = cols.shape[0]
    if g.cl:
        xp = np.zeros((nb, *g.lens, c), cols.dtype)
        view = xp.reshape(nb, *g.lens, groups, c // groups)
        cols = cols.reshape(groups, nb, *g.outs, *g.ks, c // groups)
        for t in g.taps():
            piece = cols[(slice(None),) * (2 + nd) + t]  # (G, N, *outs, C/G)
            idx = g.tap(t)
            view[(*idx[:-1], slice(None), slice(None))] += np.moveaxis(piece, 0, -2)
    else:
        xp = np.zeros((nb, c, *g.lens), cols.dtype)
        cols = cols.reshape(c, *g.ks, nb, *g.outs)
        for t in g.taps():
            xp[g.tap(t)] += cols[(slice(None), *t)].swapaxes(0, 1)
    return g.crop(xp)
