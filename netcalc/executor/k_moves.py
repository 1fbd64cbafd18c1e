"""Kernels that only move values (NumPy only): permute (the axes reordered by `dims`, numbered from
1 without the batch, as Keras's Permute) and repeat_vector ((F) → (n, F), Keras RepeatVector)."""

from __future__ import annotations

import numpy as np

from .base import Env, Kernel, Layer


class PermuteLayer(Layer):
    def __init__(self, node, in_shapes, env: Env) -> None:
        super().__init__()
        shape = tuple(in_shapes[0])
        self.perm = (0, *(int(d) for d in node.args["dims"]))  # the batch stays first
        self.inverse = tuple(int(i) for i in np.argsort(self.perm))
        self.out_shape = tuple(shape[d - 1] for d in self.perm[1:])

    def forward(self, xs):
        return np.ascontiguousarray(np.transpose(xs[0], self.perm)), {}

    def backward(self, dy, dextras):
        return [np.ascontiguousarray(np.transpose(dy, self.inverse))]


class RepeatVectorLayer(Layer):
    def __init__(self, node, in_shapes, env: Env) -> None:
        super().__init__()
        self.n = int(node.args["n"])
        self.out_shape = (self.n, *tuple(in_shapes[0]))

    def forward(self, xs):
        return np.repeat(xs[0][:, None, :], self.n, axis=1), {}

    def backward(self, dy, dextras):
        return [dy.sum(axis=1)]


class PermuteKernel(Kernel):
    ops = ("permute",)

    def build(self, node, in_shapes, env):
        return PermuteLayer(node, in_shapes, env)


class RepeatVectorKernel(Kernel):
    ops = ("repeat_vector",)

    def build(self, node, in_shapes, env):
        return RepeatVectorLayer(node, in_shapes, env)
