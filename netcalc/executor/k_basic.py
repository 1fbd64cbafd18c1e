"""Kernels without windows: dense, activations, dropout, batchnorm, layernorm, the reshaping layers
(flatten, reshape, upsampling; padding and cropping: k_pad.py) and the merges (add, multiply, concat)."""

from __future__ import annotations

import math
from math import prod

import numpy as np

from .base import Env, Kernel, Layer, channel_axis, draw, unbroadcast
from .k_conv import BNCore, bn_tensors, split, train_statistics

# --------------------------------------------------------------------------- dense


class DenseLayer(Layer):
    """y = x·W + b on the last axis; PyTorch weight (units, in), Keras kernel (in, units)."""

    def __init__(self, node, in_shapes, env: Env) -> None:
        super().__init__()
        a = node.args
        shape = in_shapes[0]
        self.n_in, self.units = shape[-1], a["units"]
        self.keras = env.keras
        self.wname = "kernel" if env.keras else "weight"
        wshape = (self.n_in, self.units) if env.keras else (self.units, self.n_in)
        w = self.add(self.wname, draw(a["init"], wshape, "kernel", env, kernel=True))
        self.bias = a["bias"]
        if self.bias:
            self.add("bias", draw(a["bias_init"], (self.units,), "bias", env, weight_shape=w.shape))
        self.out_shape = (*shape[:-1], self.units)
        self.macs = prod(shape[:-1]) * self.n_in * self.units  # rows × in × units of the product

    def _w(self):
        w = self.params[self.wname]
        return w if self.keras else w.T

    def forward(self, xs):
        x = xs[0]
        self.x = x
        y = np.matmul(x.reshape(-1, self.n_in), self._w())
        if self.bias:
            y += self.params["bias"]
        return y.reshape(x.shape[0], *self.out_shape), {}

    def backward(self, dy, dextras):
        x2 = self.x.reshape(-1, self.n_in)
        dy2 = dy.reshape(-1, self.units)
        dw = x2.T @ dy2 if self.keras else dy2.T @ x2
        self.grads = {self.wname: dw}
        if self.bias:
            self.grads["bias"] = dy2.sum(axis=0)
        return [(dy2 @ self._w().T).reshape(self.x.shape)]


class DenseKernel(Kernel):
    ops = ("dense",)

    def build(self, node, in_shapes, env):
        return DenseLayer(node, in_shapes, env)


# --------------------------------------------------------------------------- activations

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
GELU_K = math.sqrt(2.0 / math.pi)
GELU_C = 0.044715


def erf(z: np.ndarray) -> np.ndarray:
    """The error function, elementwise, by the C library (NumPy has none)."""
    flat = np.asarray(z, np.float64).ravel()
    out = np.fromiter(map(math.erf, flat.tolist()), np.float64, count=flat.size)
    return out.reshape(np.shape(z))


class ActLayer(Layer):
    """An elementwise activation (and softmax along an axis); keeps x or y for the backward pass."""

    def __init__(self, node, in_shapes, env: Env) -> None:
        super().__init__()
        self.op = node.op
        a = node.args
        self.out_shape = tuple(in_shapes[0])
        if self.op == "leaky_relu":
            slope = a.get("negative_slope")
            self.slope = slope if slope is not None else (0.3 if env.keras else 0.01)  # Keras 0.3, PyTorch 0.01
        self.alpha = a.get("alpha", 1.0)
        self.approximate = a.get("approximate", "none")
        axis = a.get("axis", -1)
        self.axis = axis + 1 if axis >= 0 else axis

    def forward(self, xs):
        x = xs[0]
        op = self.op
        self.x = x
        t = x.dtype.type
        if op == "relu":
            y = np.maximum(x, t(0))
        elif op == "relu6":
            y = np.clip(x, t(0), t(6))
        elif op == "leaky_relu":
            y = np.where(x > 0, x, x * t(self.slope))
        elif op == "elu":
            y = np.where(x > 0, x, t(self.alpha) * np.expm1(np.minimum(x, t(0))))
        elif op == "selu":
            y = t(SELU_SCALE) * np.where(x > 0, x, t(SELU_ALPHA) * np.expm1(np.minimum(x, t(0))))
        elif op == "gelu":
            if self.approximate == "tanh":
                th = np.tanh(t(GELU_K) * (x + t(GELU_C) * x * x * x))
                self.th = th
                y = t(0.5) * x * (t(1) + th)
            else:
                cdf = (0.5 * (1.0 + erf(x / math.sqrt(2.0)))).astype(x.dtype)
                self.cdf = cdf
                y = x * cdf
        elif op == "sigmoid":
            y = t(0.5) * (t(1) + np.tanh(t(0.5) * x))
        elif op == "tanh":
            y = np.tanh(x)
        elif op == "softmax":
            e = np.exp(x - x.max(axis=self.axis, keepdims=True))
            y = e / e.sum(axis=self.axis, keepdims=True)
        elif op == "identity":
            y = x
        else:  # pragma: no cover - the table lists only the ops above
            raise ValueError(f"executor: no activation {op!r}")
        self.y = y
        return y, {}

    def backward(self, dy, dextras):
        op, x, y = self.op, self.x, self.y
        t = x.dtype.type
        if op == "relu":
            dx = dy * (x > 0)
        elif op == "relu6":
            dx = dy * ((x > 0) & (x < 6))
        elif op == "leaky_relu":
            dx = dy * np.where(x > 0, t(1), t(self.slope))
        elif op == "elu":
            dx = dy * np.where(x > 0, t(1), y + t(self.alpha))  # α(eˣ − 1) + α = αeˣ
        elif op == "selu":
            dx = dy * np.where(x > 0, t(SELU_SCALE), y + t(SELU_SCALE * SELU_ALPHA))
        elif op == "gelu":
            if self.approximate == "tanh":
                th = self.th
                inner = t(GELU_K) * (t(1) + t(3 * GELU_C) * x * x)
                dx = dy * (t(0.5) * (t(1) + th) + t(0.5) * x * (t(1) - th * th) * inner)
            else:
                pdf = np.exp(t(-0.5) * x * x) * t(1 / math.sqrt(2 * math.pi))
                dx = dy * (self.cdf + x * pdf)
        elif op == "sigmoid":
            dx = dy * y * (t(1) - y)
        elif op == "tanh":
            dx = dy * (t(1) - y * y)
        elif op == "softmax":
            dx = y * (dy - (dy * y).sum(axis=self.axis, keepdims=True))
        else:
            dx = dy
        return [dx]


class ActKernel(Kernel):
    ops = ("relu", "relu6", "leaky_relu", "elu", "gelu", "selu", "sigmoid", "tanh", "softmax", "identity")

    def build(self, node, in_shapes, env):
        return ActLayer(node, in_shapes, env)


# --------------------------------------------------------------------------- dropout


class DropoutLayer(Layer):
    """Inverted dropout in train mode (keep with probability 1 − rate, scale by 1/(1 − rate));
    the identity in eval mode. Masks come from `rng` (the environment's mask generator)."""

    def __init__(self, node, in_shapes, env: Env) -> None:
        super().__init__()
        self.rate = node.args["rate"]
        self.train = env.mode == "train"
        self.rng = env.mask_rng
        self.out_shape = tuple(in_shapes[0])

    def forward(self, xs):
        x = xs[0]
        if not self.train or self.rate == 0:
            self.mask = None
            return x, {}
        keep = self.rng.random(x.shape) >= self.rate
        self.mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.rate))
        return x * self.mask, {}

    def backward(self, dy, dextras):
        return [dy if self.mask is None else dy * self.mask]


class DropoutKernel(Kernel):
    ops = ("dropout",)

    def build(self, node, in_shapes, env):
        return DropoutLayer(node, in_shapes, env)


# --------------------------------------------------------------------------- normalisation


class BatchNormLayer(Layer):
    """PyTorch: weight, bias + buffers running_mean, running_var; Keras: gamma, beta + the
    non-trainable moving_mean, moving_variance. Channel axis: the layout's (features for vectors).
    eps: the node's, else the convention's (PyTorch 1e-5, Keras 1e-3)."""

    def __init__(self, node, in_shapes, env: Env) -> None:
        super().__init__()
        a = node.args
        shape = tuple(in_shapes[0])
        cl = env.channels_last
        c = shape[channel_axis(len(shape) + 1, cl) - 1]
        self.affine = a["affine"]
        self.names = bn_tensors(self, c, self.affine, env)
        eps = a["eps"] if a["eps"] is not None else (1e-3 if env.keras else 1e-5)  # Keras's epsilon, PyTorch's eps
        self.core = BNCore(c, cl, eps, train_statistics(node, env))
        self.out_shape = shape

    def forward(self, xs):
        p = self.params
        g, b, m, v = (p.get(n) for n in self.names)
        return self.core.forward(xs[0], g, b, m, v), {}

    def backward(self, dy, dextras):
        gname, bname = self.names[:2]
        dx, dgamma, dbeta = self.core.backward(dy, self.params.get(gname))
        self.grads = {gname: dgamma, bname: dbeta} if self.affine else {}
        return [dx]


class BatchNormKernel(Kernel):
    ops = ("batchnorm",)

    def build(self, node, in_shapes, env):
        return BatchNormLayer(node, in_shapes, env)


class LayerNormLayer(Layer):
    """Normalised over `axes` (of the sample, in the spec's layout) with the biased variance;
    γ and β have the normalised axes' shape (PyTorch weight/bias, Keras gamma/beta)."""

    def __init__(self, node, in_shapes, env: Env) -> None:
        super().__init__()
        a = node.args
        shape = tuple(in_shapes[0])
        rank = len(shape)
        self.axes = tuple(sorted({ax % rank + 1 for ax in a["axes"]}))  # with the batch axis
        norm_shape = tuple(shape[ax - 1] for ax in self.axes)
        self.bshape = tuple(shape[i - 1] if i in self.axes else 1 for i in range(rank + 1))
        self.eps = a["eps"]
        self.affine = a["affine"]
        self.gname, self.bname = ("gamma", "beta") if env.keras else ("weight", "bias")
        if self.affine:
            self.add(self.gname, draw(None, norm_shape, "gamma", env))
            self.add(self.bname, draw(None, norm_shape, "beta", env))
        self.out_shape = shape

    def forward(self, xs):
        x = xs[0]
        mu = x.mean(axis=self.axes, keepdims=True)
        xc = x - mu
        var = np.mean(xc * xc, axis=self.axes, keepdims=True)
        self.inv = 1.0 / np.sqrt(var + x.dtype.type(self.eps))
        self.xhat = xc * self.inv
        if not self.affine:
            return self.xhat, {}
        return self.xhat * self.params[self.gname].reshape(self.bshape) + self.params[self.bname].reshape(
            self.bshape
        ), {}

    def backward(self, dy, dextras):
        xhat = self.xhat
        other = tuple(i for i in range(dy.ndim) if i not in self.axes)
        if self.affine:
            g = self.params[self.gname]
            self.grads = {self.gname: (dy * xhat).sum(axis=other).reshape(g.shape),
                          self.bname: dy.sum(axis=other).reshape(g.shape)}  # fmt: skip
            dxhat = dy * g.reshape(self.bshape)
        else:
            dxhat = dy
        s1 = dxhat.mean(axis=self.axes, keepdims=True)
        s2 = (dxhat * xhat).mean(axis=self.axes, keepdims=True)
        return [(dxhat - s1 - xhat * s2) * self.inv]


class LayerNormKernel(Kernel):
    ops = ("layernorm",)

    def build(self, node, in_shapes, env):
        return LayerNormLayer(node, in_shapes, env)


# --------------------------------------------------------------------------- reshaping


class ReshapeLayer(Layer):
    """flatten: every axis but the batch into one (in the layout's order); reshape: to a shape
    with at most one −1."""

    def __init__(self, node, in_shapes, env: Env) -> None:
        super().__init__()
        shape = tuple(in_shapes[0])
        n = prod(shape)
        if node.op == "flatten":
            self.out_shape = (n,)
        else:
            target = list(node.args["shape"])
            if -1 in target:
                known = prod(d for d in target if d != -1)
                target[target.index(-1)] = n // known
            self.out_shape = tuple(target)

    def forward(self, xs):
        x = xs[0]
        self.xshape = x.shape
        return x.reshape(x.shape[0], *self.out_shape), {}

    def backward(self, dy, dextras):
        return [dy.reshape(self.xshape)]


class ReshapeKernel(Kernel):
    ops = ("flatten", "reshape")

    def build(self, node, in_shapes, env):
        return ReshapeLayer(node, in_shapes, env)


def interp_matrix(n: int, scale: int, mode: str) -> np.ndarray:
    """(n·scale, n): row o holds the weights output position o gives the input positions.
    nearest: input o // scale. (bi)linear, PyTorch align_corners=False (and TensorFlow's half-pixel
    centres): source x = (o + ½)/scale − ½ clamped at 0, between floor(x) and the next (clamped
    at n − 1), weighted by the distance."""
    out = n * scale
    a = np.zeros((out, n))
    o = np.arange(out)
    if mode == "nearest":
        a[o, o // scale] = 1.0
        return a
    src = np.maximum((o + 0.5) / scale - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(int), n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    lam = src - i0
    np.add.at(a, (o, i0), 1.0 - lam)
    np.add.at(a, (o, i1), lam)
    return a


class UpsampleLayer(Layer):
    """Nearest: each position repeated `scale` times per axis; linear/bilinear: one interpolation
    matrix per axis (separable), applied by a matrix product along that axis."""

    def __init__(self, node, in_shapes, env: Env) -> None:
        super().__init__()
        self.cl = env.channels_last
        c, ns = split(in_shapes[0], self.cl)
        self.scale = tuple(node.args["scale"])
        self.mode = node.args["mode"]
        outs = tuple(n * s for n, s in zip(ns, self.scale, strict=True))
        self.out_shape = (*outs, c) if self.cl else (c, *outs)
        self.axes = tuple(range(1, 1 + len(ns))) if self.cl else tuple(range(2, 2 + len(ns)))
        if self.mode != "nearest":
            # the interpolation matrices (n·s × n per axis) are held for the run: counted as scratch by
            # the memory estimate, and not built for it (a dry build: 16,894 positions made 8.5 GB)
            self.scratch = sum(n * s * n for n, s in zip(ns, self.scale, strict=True))
            self.mats = None if env.dry else [
                interp_matrix(n, s, self.mode).astype(env.dtype) for n, s in zip(ns, self.scale, strict=True)]  # fmt: skip

    def forward(self, xs):
        y = xs[0]
        for i, ax in enumerate(self.axes):
            if self.mode == "nearest":
                y = np.repeat(y, self.scale[i], axis=ax)
            else:
                y = np.moveaxis(np.tensordot(self.mats[i], y, axes=([1], [ax])), 0, ax)
        return np.ascontiguousarray(y), {}

    def backward(self, dy, dextras):
        g = dy
        for i, ax in enumerate(self.axes):
            if self.mode == "nearest":
                s = self.scale[i]
                shape = g.shape
                g = g.reshape(*shape[:ax], shape[ax] // s, s, *shape[ax + 1 :]).sum(axis=ax + 1)
            else:
                g = np.moveaxis(np.tensordot(self.mats[i].T, g, axes=([1], [ax])), 0, ax)
        return [np.ascontiguousarray(g)]


class UpsampleKernel(Kernel):
    ops = ("upsample1d", "upsample2d")

    def build(self, node, in_shapes, env):
        return UpsampleLayer(node, in_shapes, env)


# --------------------------------------------------------------------------- merges


class MergeLayer(Layer):
    """add / multiply with NumPy broadcasting (same rank, sizes equal or 1; batch axis first);
    concat along an axis (default: the layout's channel axis)."""

    def __init__(self, node, in_shapes, env: Env) -> None:
        super().__init__()
        self.op = node.op
        shapes = [tuple(s) for s in in_shapes]
        rank = len(shapes[0])
        if self.op == "concat":
            axis = node.args["axis"]
            if axis is None:
                axis = rank - 1 if env.channels_last else 0
            axis %= rank
            self.axis = axis + 1
            out = list(shapes[0])
            out[axis] = sum(s[axis] for s in shapes)
            self.sizes = [s[axis] for s in shapes]
            self.out_shape = tuple(out)
        else:
            self.out_shape = tuple(max(s[i] for s in shapes) for i in range(rank))

    def forward(self, xs):
        self.xs = xs
        if self.op == "concat":
            return np.concatenate(xs, axis=self.axis), {}
        y = xs[0]
        for x in xs[1:]:
            y = y + x if self.op == "add" else y * x
        return y, {}

    def backward(self, dy, dextras):
        xs = self.xs
        if self.op == "concat":
            cuts = np.cumsum(self.sizes)[:-1]
            return [np.ascontiguousarray(p) for p in np.split(dy, cuts, axis=self.axis)]
        if self.op == "add":
            return [unbroadcast(dy, x.shape) for x in xs]
        out = []
        for i, x in enumerate(xs):
            g = dy
            for j, other in enumerate(xs):
                if j != i:
                    g = g * other
            out.append(unbroadcast(g, x.shape))
        return out


class MergeKernel(Kernel):
    ops = ("add", "multiply", "concat")

    def build(self, node, in_shapes, env):
        return MergeLayer(node, in_shapes, env)
