"""The free parameter's kernel (NumPy only): a learned array of the node's `shape`, read by later
layers, the same for every sample.

It reads no input: its forward gives the array broadcast over the batch of the pass being run
(`Layer.batch`, set by the runner), and its backward returns no input gradient and the array's
own, the sum over the batch of the gradient arriving (every sample reads the same array). The
array is named after the node (PyTorch's state_dict key of the attribute, Keras's add_weight
name), or after the owner with `shares:`, and drawn by `weights.sample` from `init` (role
`parameter`: PyTorch zeros, Keras glorot_uniform, when none is written).
"""

from __future__ import annotations

import numpy as np

from .base import Env, Kernel, Layer, draw


class ParameterLayer(Layer):
    def __init__(self, node, in_shapes, env: Env) -> None:
        super().__init__()
        shape = tuple(int(d) for d in node.args["shape"])
        self.name = getattr(node, "shares", None) or node.name
        self.add(self.name, draw(node.args.get("init"), shape, "parameter", env))
        self.out_shape = shape

    def forward(self, xs):
        p = self.params[self.name]
        return np.ascontiguousarray(np.broadcast_to(p, (self.batch, *p.shape))), {}

    def backward(self, dy, dextras):
        self.grads = {self.name: dy.sum(axis=0)}
        return []


class ParameterKernel(Kernel):
    ops = ("parameter",)

    def build(self, node, in_shapes, env):
        return ParameterLayer(node, in_shapes, env)
