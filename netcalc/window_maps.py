"""Sums of a map over sliding windows, and their transpose, for the signal report (NumPy).

`window_sum` gives, at every output position o, the sum of the input map over the window's taps
o·s + t·d − pad_before (zero outside the input); `window_scatter` returns each output's value to
every input position its window reads. A window is a product of one window per axis, so both are
done one axis at a time: Σ over k₁·k₂·k₃ taps is three sums of k taps each. Along an axis, a window
of at most SHORT taps is summed tap by tap (exact in the order the figures have always been
added); a longer one by running sums along its dilation (a 256-tap 3-D kernel took 16.7 million
slice additions: a fuzz campaign's timeout).
"""

from __future__ import annotations

import numpy as np

SHORT = 32  # taps along one axis summed one by one; a longer window by running sums


def window_sum(m, ks, ss, ds, pads, outs) -> np.ndarray:
    """out[o] = Σ over the window's taps of m at o·s + i·d − pad_before (zero outside)."""
    m = np.asarray(m, float)
    nd = len(ks)
    if m.ndim != nd:
        m = np.full((1,) * nd, m.mean() if m.size else 0.0)
    out = m
    for axis, (k, s, d, o, (pb, _)) in enumerate(zip(ks, ss, ds, outs, pads, strict=True)):
        n = out.shape[axis]
        need = max((o - 1) * s + d * (k - 1) + 1, pb + n)
        width = [(0, 0)] * nd
        width[axis] = (pb, need - pb - n)  # zeros along this axis only: the others are already summed
        out = _sum_along(np.pad(out, width), axis, k, s, d, o)
    return out


def _sum_along(a: np.ndarray, axis: int, k: int, s: int, d: int, o: int) -> np.ndarray:
    """r[i] = Σ_{t < k} a[i·s + t·d] along `axis`, for i < o (a is long enough)."""
    a = np.moveaxis(a, axis, 0)
    if k <= SHORT:
        r = np.zeros((o, *a.shape[1:]))
        for t in range(k):
            r += a[t * d : t * d + (o - 1) * s + 1 : s]
    else:  # z[p] = Σ_{j ≥ 1} a[p − j·d]: the window from b is z[b + k·d] − z[b]
        n = a.shape[0]
        length = -(-(n + d) // d) * d
        padded = np.zeros((length, *a.shape[1:]))
        padded[d : d + n] = a
        z = np.cumsum(padded.reshape(length // d, d, *a.shape[1:]), axis=0).reshape(padded.shape)
        starts = np.arange(o) * s
        r = z[starts + k * d] - z[starts]
        if (a >= 0).all():  # a sum of non-negative terms (second moments): rounding never makes it negative
            np.maximum(r, 0.0, out=r)
    return np.moveaxis(r, 0, axis)


def window_scatter(mo, ks, ss, ds, pads, ns) -> np.ndarray:
    """The transpose of `window_sum`: in[p] = Σ over (o, i) with o·s + i·d − pad_before = p of mo[o]."""
    mo = np.asarray(mo, float)
    full = mo
    for axis, (k, s, d, (pb, _), n) in enumerate(zip(ks, ss, ds, pads, ns, strict=True)):
        o = mo.shape[axis]
        length = max((o - 1) * s + d * (k - 1) + 1, pb + n)
        full = _scatter_along(full, axis, k, s, d, length)
        full = np.moveaxis(np.moveaxis(full, axis, 0)[pb : pb + n], 0, axis)  # the padding receives nothing
    return full


def _scatter_along(a: np.ndarray, axis: int, k: int, s: int, d: int, length: int) -> np.ndarray:
    """r[i·s + t·d] += a[i] for every t < k along `axis`, r of `length` there."""
    a = np.moveaxis(a, axis, 0)
    o = a.shape[0]
    if k <= SHORT:
        r = np.zeros((length, *a.shape[1:]))
        for t in range(k):
            r[t * d : t * d + (o - 1) * s + 1 : s] += a
    else:  # a difference array along the dilation: +a at i·s, −a at i·s + k·d, then running sums
        size = -(-(length + k * d + (o - 1) * s + 1) // d) * d
        diff = np.zeros((size, *a.shape[1:]))
        starts = np.arange(o) * s
        diff[starts] += a  # the starts i·s are distinct (s ≥ 1): plain indexing adds each once
        diff[starts + k * d] -= a
        r = np.cumsum(diff.reshape(size // d, d, *a.shape[1:]), axis=0).reshape(diff.shape)[:length]
        if (a >= 0).all():
            np.maximum(r, 0.0, out=r)
    return np.moveaxis(r, 0, axis)
