"""The group and instance normalisation kernels (NumPy only; batchnorm and layernorm are in k_basic.py,
which has no room left under 500 lines)."""

from __future__ import annotations

import numpy as np

from .base import Env, Kernel, Layer, channel_axis, draw


class GroupNormLayer(Layer):
    """The C channels (the layout's channel axis; a vector's features) in `groups` groups of C/G
    consecutive channels; each sample's group normalised over its channels and every position with
    the biased variance, the same in train and eval mode (no running statistics). γ and β, one per
    channel: PyTorch weight/bias, Keras gamma/beta. eps: the node's, else the convention's
    (PyTorch 1e-5, Keras 1e-3)."""

    def __init__(self, node, in_shapes, env: Env) -> None:
        super().__init__()
        a = node.args
        shape = tuple(in_shapes[0])
        self.ax = channel_axis(len(shape) + 1, env.channels_last)  # with the batch axis
        self.c = shape[self.ax - 1]
        self.groups = self._groups(a)
        self.eps = a["eps"] if a["eps"] is not None else (1e-3 if env.keras else 1e-5)
        self.affine = self._affine(a, env)
        self.gname, self.bname = ("gamma", "beta") if env.keras else ("weight", "bias")
        if self.affine:
            self.add(self.gname, draw(None, (self.c,), "gamma", env))
            self.add(self.bname, draw(None, (self.c,), "beta", env))
        self.out_shape = shape

    def _groups(self, a) -> int:
        return a["groups"]

    def _affine(self, a, env: Env) -> bool:
        return a["affine"]

    def _cshape(self, rank: int) -> tuple:
        """How a per-channel vector broadcasts against the (N, C, …) view."""
        return (self.c, *(1,) * (rank - 2))

    def forward(self, xs):
        x = np.moveaxis(xs[0], self.ax, 1)  # (N, C, …)
        n = x.shape[0]
        xg = x.reshape(n, self.groups, -1)  # (N, G, C/G · positions)
        xc = xg - xg.mean(axis=2, keepdims=True)
        self.inv = 1.0 / np.sqrt(np.mean(xc * xc, axis=2, keepdims=True) + x.dtype.type(self.eps))
        self.xhat = (xc * self.inv).reshape(x.shape)
        y = self.xhat
        if self.affine:
            cs = self._cshape(x.ndim)
            y = y * self.params[self.gname].reshape(cs) + self.params[self.bname].reshape(cs)
        return np.moveaxis(y, 1, self.ax), {}

    def backward(self, dy, dextras):
        d = np.moveaxis(dy, self.ax, 1)
        xhat = self.xhat
        if self.affine:
            other = tuple(i for i in range(d.ndim) if i != 1)
            self.grads = {self.gname: (d * xhat).sum(axis=other), self.bname: d.sum(axis=other)}
            d = d * self.params[self.gname].reshape(self._cshape(d.ndim))
        n = d.shape[0]
        dg = d.reshape(n, self.groups, -1)
        xg = xhat.reshape(n, self.groups, -1)
        dx = (dg - dg.mean(axis=2, keepdims=True) - xg * (dg * xg).mean(axis=2, keepdims=True)) * self.inv
        return [np.moveaxis(dx.reshape(d.shape), 1, self.ax)]


class GroupNormKernel(Kernel):
    ops = ("groupnorm",)

    def build(self, node, in_shapes, env):
        return GroupNormLayer(node, in_shapes, env)


class InstanceNormLayer(GroupNormLayer):
    """Group normalisation with one channel per group: each sample's channel normalised over its
    positions. affine: the node's, else the convention's (PyTorch InstanceNorm's False, Keras
    GroupNormalization(groups=-1)'s True); eps as groupnorm's."""

    def _groups(self, a) -> int:
        return self.c

    def _affine(self, a, env: Env) -> bool:
        return a["affine"] if a["affine"] is not None else env.keras


class InstanceNormKernel(Kernel):
    ops = ("instancenorm",)

    def build(self, node, in_shapes, env):
        return InstanceNormLayer(node, in_shapes, env)
