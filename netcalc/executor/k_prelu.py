"""The parametric ReLU kernel (NumPy only): y = x above 0, α·x below, α a learnt array.

Its α, by the node's `alphas` (else the convention's default, written again here): PyTorch
nn.PReLU `weight` of shape (1) (`one`, the default) or (C) (`channel`), broadcast along the
channel axis; Keras PReLU `alpha` of the input's shape (`element`, the default, shared_axes=None)
with 1 on each shared axis ((1, …, C, …) for `channel`, all 1 for `one`). Its initial value is
`alpha_init`, else PyTorch's 0.25 or Keras's zeros, drawn by `weights.sample` as a constant.
"""

from __future__ import annotations

import numpy as np

from .base import Env, Kernel, Layer, channel_axis, draw, unbroadcast


class _Constant:
    """An initialiser as `weights.sample` reads one: a constant value."""

    name = "constant"

    def __init__(self, value: float) -> None:
        self.params = {"value": value}


class PReLULayer(Layer):
    def __init__(self, node, in_shapes, env: Env) -> None:
        super().__init__()
        a = node.args
        shape = tuple(in_shapes[0])
        rank = len(shape)
        alphas = a["alphas"] or ("element" if env.keras else "one")
        init = a["alpha_init"] if a["alpha_init"] is not None else (0.0 if env.keras else 0.25)
        ax = channel_axis(rank + 1, env.channels_last) - 1  # without the batch
        c = shape[ax]
        if env.keras:
            self.name = "alpha"
            wshape = {"one": (1,) * rank, "channel": tuple(c if i == ax else 1 for i in range(rank)),
                      "element": shape}[alphas]  # fmt: skip
        else:
            self.name = "weight"
            wshape = {"one": (1,), "channel": (c,), "element": shape}[alphas]
        self.add(self.name, draw(_Constant(init), wshape, "alpha", env))
        self.ax, self.rank = ax, rank
        self.out_shape = shape

    def _alpha(self) -> np.ndarray:
        """α as it broadcasts against the batched input (N, *shape)."""
        w = self.params[self.name]
        if w.ndim == self.rank:  # Keras's layout, or a PyTorch α per element
            return w[None]
        if w.size == 1:
            return w.reshape((1,) * (self.rank + 1))
        return w.reshape(tuple(w.size if i == self.ax + 1 else 1 for i in range(self.rank + 1)))

    def forward(self, xs):
        x = xs[0]
        self.x = x
        return np.where(x > 0, x, self._alpha() * x), {}

    def backward(self, dy, dextras):
        x = self.x
        alpha = self._alpha()
        neg = np.minimum(x, 0)
        w = self.params[self.name]
        self.grads = {self.name: unbroadcast(dy * neg, alpha.shape).reshape(w.shape)}
        return [dy * np.where(x > 0, 1, alpha)]


class PReLUKernel(Kernel):
    ops = ("prelu",)

    def build(self, node, in_shapes, env):
        return PReLULayer(node, in_shapes, env)
