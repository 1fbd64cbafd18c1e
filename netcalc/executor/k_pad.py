"""Kernels that add or remove a border of the spatial axes: zero padding, reflection and
replication padding, cropping (NumPy only, from the frameworks' definitions).

- zero padding (PyTorch nn.ZeroPad1d/2d, Keras ZeroPadding1D/2D): zeros around the map;
- reflection (nn.ReflectionPad1d/2d, F.pad mode 'reflect', tf.pad mode 'REFLECT'): the rows mirrored
  about the edge row, which is not repeated, x₂ x₁ | x₀ x₁ x₂ …; replication (nn.ReplicationPad1d/2d,
  F.pad mode 'replicate'): the edge row repeated, x₀ x₀ | x₀ x₁ …. Both are a gather along each
  axis by the source index of every output position, and their backward pass adds each output's
  gradient back at its source (np.add.at);
- cropping (Keras Cropping1D/2D; PyTorch slicing x[..., t:H − b, l:W − r]): the inside kept, the
  border's gradient zero.

The (before, after) pairs are the node's `padding` / `cropping`, outermost spatial axis first.
"""

from __future__ import annotations

import numpy as np

from .base import Env, Kernel, Layer
from .k_conv import split


def _spatial(cl: bool, nd: int) -> list[int]:
    """The spatial axes of a batch array: after the channels, or before them (channels last)."""
    return list(range(1, 1 + nd)) if cl else list(range(2, 2 + nd))


class ZeroPadLayer(Layer):
    def __init__(self, node, in_shapes, env: Env) -> None:
        super().__init__()
        self.cl = env.channels_last
        c, ns = split(in_shapes[0], self.cl)
        self.pads = tuple(tuple(p) for p in node.args["padding"])
        outs = tuple(n + pb + pa for n, (pb, pa) in zip(ns, self.pads, strict=True))
        self.out_shape = (*outs, c) if self.cl else (c, *outs)
        inner = tuple(slice(pb, pb + n) for (pb, _), n in zip(self.pads, ns, strict=True))
        self.inner = (slice(None), *inner, slice(None)) if self.cl else (slice(None), slice(None), *inner)

    def forward(self, xs):
        x = xs[0]
        y = np.zeros((x.shape[0], *self.out_shape), x.dtype)
        y[self.inner] = x
        return y, {}

    def backward(self, dy, dextras):
        return [np.ascontiguousarray(dy[self.inner])]


class CopyPadLayer(Layer):
    """Reflection or replication padding: y = x gathered along each spatial axis by source index
    (np.pad of 0…n−1 in mode 'reflect' or 'edge'); backward: each gradient added at its source."""

    def __init__(self, node, in_shapes, env: Env, mode: str) -> None:
        super().__init__()
        self.cl = env.channels_last
        c, ns = split(in_shapes[0], self.cl)
        pads = tuple(tuple(p) for p in node.args["padding"])
        self.ns = ns
        self.axes = _spatial(self.cl, len(ns))
        self.idx = [np.pad(np.arange(n), (pb, pa), mode=mode) for n, (pb, pa) in zip(ns, pads, strict=True)]
        outs = tuple(len(i) for i in self.idx)
        self.out_shape = (*outs, c) if self.cl else (c, *outs)

    def forward(self, xs):
        y = xs[0]
        for axis, idx in zip(self.axes, self.idx, strict=True):
            y = np.take(y, idx, axis=axis)
        return y, {}

    def backward(self, dy, dextras):
        g = dy
        for axis, idx, n in zip(self.axes, self.idx, self.ns, strict=True):
            moved = np.moveaxis(g, axis, 0)
            acc = np.zeros((n, *moved.shape[1:]), dy.dtype)
            np.add.at(acc, idx, moved)
            g = np.moveaxis(acc, 0, axis)
        return [np.ascontiguousarray(g)]


class CropLayer(Layer):
    """The inside kept: x[..., before:n − after] on each spatial axis; backward zeros on the border."""

    def __init__(self, node, in_shapes, env: Env) -> None:
        super().__init__()
        self.cl = env.channels_last
        c, ns = split(in_shapes[0], self.cl)
        crops = tuple(tuple(p) for p in node.args["cropping"])
        self.in_shape = tuple(in_shapes[0])
        inner = tuple(slice(cb, n - ca) for (cb, ca), n in zip(crops, ns, strict=True))
        self.inner = (slice(None), *inner, slice(None)) if self.cl else (slice(None), slice(None), *inner)
        outs = tuple(n - cb - ca for (cb, ca), n in zip(crops, ns, strict=True))
        self.out_shape = (*outs, c) if self.cl else (c, *outs)

    def forward(self, xs):
        return np.ascontiguousarray(xs[0][self.inner]), {}

    def backward(self, dy, dextras):
        dx = np.zeros((dy.shape[0], *self.in_shape), dy.dtype)
        dx[self.inner] = dy
        return [dx]


class ZeroPadKernel(Kernel):
    ops = ("zeropad1d", "zeropad2d")

    def build(self, node, in_shapes, env):
        return ZeroPadLayer(node, in_shapes, env)


class CopyPadKernel(Kernel):
    """Reflection ('reflect') or replication ('edge', NumPy's name) padding, declared where registered."""

    ops = ("reflectionpad1d", "reflectionpad2d", "replicationpad1d", "replicationpad2d")

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def build(self, node, in_shapes, env):
        return CopyPadLayer(node, in_shapes, env, self.mode)


class CropKernel(Kernel):
    ops = ("cropping1d", "cropping2d")

    def build(self, node, in_shapes, env):
        return CropLayer(node, in_shapes, env)
