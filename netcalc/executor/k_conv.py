"""Convolution kernels: conv1d, conv2d, conv3d (groups, depthwise, dilation), conv1d_transpose,
conv2d_transpose, conv3d_transpose, and the convolution and batch-normalisation cores the shortcut
(k_shortcut.py) and batchnorm reuse.

Written from the frameworks' definitions, not from netcalc.layers: the padding of 'same', the
output sizes and the cropping of a transposed convolution are worked out here again.

Both layouts run natively. A convolution is an im2col (a strided view of the padded input, copied
once into a matrix) and one matrix product per group:

- channels first, (N, C, *n): cols (G, C/G·K, N·P), weights (G, O/G, C/G·K) → (G, O/G, N·P);
- channels last, (N, *n, C): cols (G, N·P, K·C/G), weights (G, K·C/G, O/G) → (G, N·P, O/G);

with K the kernel taps and P the output positions. The backward pass multiplies by the transposed
weights and scatters the columns back (col2im: one strided add per kernel tap). A transposed
convolution is the same two halves the other way round: its forward pass is a convolution's
backward pass with respect to the input and vice versa. Depthwise convolutions (one input channel
per group) skip the matrices and add one weighted shifted view per kernel tap. Samples are taken
in blocks that keep the column matrix below BLOCK_BYTES (the window geometry, im2col and col2im
are in windows.py).
"""

from __future__ import annotations

from math import prod

import numpy as np

from .base import Env, Kernel, Layer, channel_axis, draw
from .windows import Geom, col2im, im2col, window_pads

# channels first, forward: from this many output positions on, one product per sample (whose
# output is already in place) beats one product for the block (whose output must be transposed)
PER_SAMPLE_POSITIONS = 128
PER_SAMPLE_POSITIONS_BACKWARD = 1000  # backward: the weight gradient then needs one product per sample


# --------------------------------------------------------------------------- weight layouts


def _to_torch(w: np.ndarray, keras: bool, nd: int, depthwise: bool) -> np.ndarray:
    """A framework weight as PyTorch lays it out: conv (O, C/G, *k), transposed conv (C_in, O/G, *k).
    Keras: conv (*k, C/G, O), depthwise (*k, C, multiplier) whose output channel c·m + j is
    group c's j-th, transposed conv (*k, O/G, C_in)."""
    if not keras:
        return w
    if depthwise:
        w = w.reshape(*w.shape[:nd], 1, w.shape[nd] * w.shape[nd + 1])
    return w.transpose(nd + 1, nd, *range(nd))


def _from_torch(wt: np.ndarray, keras: bool, nd: int, depthwise: bool, shape: tuple) -> np.ndarray:
    if not keras:
        return wt
    return np.ascontiguousarray(wt.transpose(*range(2, nd + 2), 1, 0)).reshape(shape)


class ConvCore:
    """A (transposed) convolution on one layout: weights in PyTorch's layout in, gradients out."""

    def __init__(self, g: Geom, groups: int, c_in: int, c_out: int, transpose: bool) -> None:
        self.g, self.G, self.c_in, self.c_out, self.transpose = g, groups, c_in, c_out, transpose
        self.depthwise = not transpose and groups > 1 and c_in == groups

    # internal weight forms ------------------------------------------------------------
    def _w(self, wt: np.ndarray) -> np.ndarray:
        G, K = self.G, self.g.K
        if not self.transpose:  # wt (O, Cg, *k)
            og, cg = self.c_out // G, self.c_in // G
            if not self.g.cl:
                return wt.reshape(G, og, cg * K)
            return wt.reshape(G, og, cg, K).transpose(0, 3, 2, 1).reshape(G, K * cg, og)
        ci, og = self.c_in // G, self.c_out // G  # wt (C_in, Og, *k)
        if not self.g.cl:
            return wt.reshape(G, ci, og * K)
        return wt.reshape(G, ci, og, K).transpose(0, 1, 3, 2).reshape(G, ci, K * og)

    def _dw(self, dw: np.ndarray, shape: tuple) -> np.ndarray:
        G, K = self.G, self.g.K
        if not self.transpose:
            og, cg = self.c_out // G, self.c_in // G
            if self.g.cl:
                dw = dw.reshape(G, K, cg, og).transpose(0, 3, 2, 1)
            return np.ascontiguousarray(dw).reshape(shape)
        ci, og = self.c_in // G, self.c_out // G
        if self.g.cl:
            dw = dw.reshape(G, ci, K, og).transpose(0, 1, 3, 2)
        return np.ascontiguousarray(dw).reshape(shape)

    @property
    def columns(self) -> int:
        """Elements per sample of the column matrix (im2col's, or the transposed convolution's
        before col2im); a depthwise convolution makes none."""
        if self.depthwise:
            return 0
        return (self.c_out if self.transpose else self.c_in) * self.g.K * self.g.P

    @property
    def macs(self) -> int:
        """Per sample: a convolution's products are P × (O/G) × (C/G·K) per group; a transposed
        convolution's (input positions) × (O/G·K) × (C_in/G) per group."""
        G, g = self.G, self.g
        if self.transpose:
            return prod(g.outs) * G * (self.c_out // G) * g.K * (self.c_in // G)
        return g.P * G * (self.c_out // G) * (self.c_in // G) * g.K

    # conv ---------------------------------------------------------------------------------
    def forward(self, x: np.ndarray, wt: np.ndarray) -> np.ndarray:
        if self.transpose:
            return self._t_forward(x, wt)
        if self.depthwise:
            return self._dw_forward(x, wt)
        g, G = self.g, self.G
        W = self._w(wt)
        n = x.shape[0]
        og = self.c_out // G
        y = np.empty((n, *g.outs, self.c_out) if g.cl else (n, self.c_out, *g.outs), x.dtype)
        nb = g.block(self.c_in * g.K * g.P, x.itemsize, n)
        per_sample = not g.cl and g.P >= PER_SAMPLE_POSITIONS
        for a in range(0, n, nb):
            xb = x[a : a + nb]
            m = xb.shape[0]
            cols = im2col(xb, g, G, per_sample)
            if per_sample:  # (G, Og, CgK) @ (N, G, CgK, P): one product per sample, no transposes
                np.matmul(W, cols, out=y[a : a + m].reshape(m, G, og, g.P))
            elif g.cl:
                if G == 1:
                    np.matmul(cols[0], W[0], out=y[a : a + m].reshape(m * g.P, og))
                else:
                    yt = np.matmul(cols, W)  # (G, N·P, Og)
                    y[a : a + m] = np.moveaxis(yt, 0, 1).reshape(m, *g.outs, self.c_out)
            else:
                yt = np.matmul(W, cols)  # (G, Og, N·P)
                y[a : a + m] = yt.reshape(self.c_out, m, *g.outs).swapaxes(0, 1)
        return y

    def backward(self, x: np.ndarray, wt: np.ndarray, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(dx, dW in PyTorch's layout)."""
        if self.transpose:
            return self._t_backward(x, wt, dy)
        if self.depthwise:
            return self._dw_backward(x, wt, dy)
        g, G = self.g, self.G
        W = self._w(wt)
        n = x.shape[0]
        og = self.c_out // G
        dW = np.zeros_like(W)
        dx = np.empty_like(x)
        nb = g.block(self.c_in * g.K * g.P, x.itemsize, n)
        per_sample = not g.cl and g.P >= PER_SAMPLE_POSITIONS_BACKWARD
        for a in range(0, n, nb):
            xb = x[a : a + nb]
            m = xb.shape[0]
            cols = im2col(xb, g, G, per_sample)
            if per_sample:  # as in the forward pass: no transposes, one product per sample
                dyb = dy[a : a + m].reshape(m, G, og, g.P)
                for i in range(m):
                    dW += np.matmul(dyb[i], cols[i].swapaxes(1, 2))
                del cols
                dcols = np.matmul(W.swapaxes(1, 2), dyb)  # (N, G, Cg·K, P)
                dx[a : a + m] = col2im(dcols, g, m, self.c_in, per_sample=True)
                continue
            if g.cl:
                dyt = dy[a : a + m].reshape(m * g.P, G, og).transpose(1, 0, 2)  # (G, N·P, Og)
                dW += np.matmul(cols.swapaxes(1, 2), dyt)
                dcols = np.matmul(dyt, W.swapaxes(1, 2))  # (G, N·P, K·Cg)
            else:
                dyt = dy[a : a + m].swapaxes(0, 1).reshape(G, og, m * g.P)
                dW += np.matmul(dyt, cols.swapaxes(1, 2))
                dcols = np.matmul(W.swapaxes(1, 2), dyt)  # (G, Cg·K, N·P)
            del cols
            dx[a : a + m] = col2im(dcols, g, m, self.c_in)
        return dx, self._dw(dW, wt.shape)

    # depthwise: one weighted view per tap ---------------------------------------------------
    def _dw_parts(self, wt):
        G, K = self.G, self.g.K
        og = self.c_out // G
        return wt.reshape(G, og, K), og  # wt (O, 1, *k)

    def _dw_forward(self, x, wt):
        g = self.g
        w, og = self._dw_parts(wt)
        n = x.shape[0]
        xp = g.pad(x)
        if g.cl:
            y = np.zeros((n, *g.outs, self.G, og), x.dtype)
            for i, t in enumerate(g.taps()):
                y += xp[g.tap(t)][..., None] * w[:, :, i]
            return y.reshape(n, *g.outs, self.c_out)
        y = np.zeros((n, self.G, og, *g.outs), x.dtype)
        ones = (1,) * g.nd
        for i, t in enumerate(g.taps()):
            y += xp[g.tap(t)][:, :, None] * w[:, :, i].reshape(self.G, og, *ones)
        return y.reshape(n, self.c_out, *g.outs)

    def _dw_backward(self, x, wt, dy):
        g = self.g
        w, og = self._dw_parts(wt)
        n = x.shape[0]
        xp = g.pad(x)
        dxp = np.zeros_like(xp) if not g.plain else np.zeros_like(x)
        dW = np.zeros_like(w)
        ones = (1,) * g.nd
        if g.cl:
            dyv = dy.reshape(n, *g.outs, self.G, og)
            red = tuple(range(1 + g.nd))
            for i, t in enumerate(g.taps()):
                idx = g.tap(t)
                dW[:, :, i] = (dyv * xp[idx][..., None]).sum(axis=red)
                dxp[idx] += (dyv * w[:, :, i]).sum(axis=-1) if og > 1 else dyv[..., 0] * w[:, 0, i]
        else:
            dyv = dy.reshape(n, self.G, og, *g.outs)
            red = (0, *range(3, 3 + g.nd))
            for i, t in enumerate(g.taps()):
                idx = g.tap(t)
                dW[:, :, i] = (dyv * xp[idx][:, :, None]).sum(axis=red)
                wi = w[:, :, i].reshape(self.G, og, *ones)
                dxp[idx] += (dyv * wi).sum(axis=2) if og > 1 else dyv[:, :, 0] * wi[:, 0]
        return g.crop(dxp), dW.reshape(wt.shape)

    # transposed conv ---------------------------------------------------------------------
    def _t_forward(self, x, wt):
        g, G = self.g, self.G  # g: the window over the (cropped) output; its outs are the input's sizes
        W = self._w(wt)
        n = x.shape[0]
        ci = self.c_in // G
        y = np.empty((n, *g.ns, self.c_out) if g.cl else (n, self.c_out, *g.ns), x.dtype)
        nb = g.block(self.c_out * g.K * g.P, x.itemsize, n)
        for a in range(0, n, nb):
            xb = x[a : a + nb]
            m = xb.shape[0]
            if g.cl:
                xt = xb.reshape(m * g.P, G, ci).transpose(1, 0, 2)  # (G, N·P, Ci)
                cols = np.matmul(xt, W)  # (G, N·P, K·Og)
            else:
                xt = xb.swapaxes(0, 1).reshape(G, ci, m * g.P)
                cols = np.matmul(W.swapaxes(1, 2), xt)  # (G, Og·K, N·P)
            y[a : a + m] = col2im(cols, g, m, self.c_out)
        return y

    def _t_backward(self, x, wt, dy):
        g, G = self.g, self.G
        W = self._w(wt)
        n = x.shape[0]
        ci = self.c_in // G
        dW = np.zeros_like(W)
        dx = np.empty_like(x)
        nb = g.block(self.c_out * g.K * g.P, x.itemsize, n)
        for a in range(0, n, nb):
            xb = x[a : a + nb]
            m = xb.shape[0]
            cols = im2col(dy[a : a + m], g, G)
            if g.cl:
                xt = xb.reshape(m * g.P, G, ci).transpose(1, 0, 2)
                dW += np.matmul(xt.swapaxes(1, 2), cols)
                dxt = np.matmul(cols, W.swapaxes(1, 2))  # (G, N·P, Ci)
                dx[a : a + m] = dxt.transpose(1, 0, 2).reshape(xb.shape)
            else:
                xt = xb.swapaxes(0, 1).reshape(G, ci, m * g.P)
                dW += np.matmul(xt, cols.swapaxes(1, 2))
                dxt = np.matmul(W, cols)  # (G, Ci, N·P)
                dx[a : a + m] = dxt.reshape(self.c_in, m, *g.outs).swapaxes(0, 1)
        return dx, self._dw(dW, wt.shape)


def split(shape: tuple, cl: bool) -> tuple[int, tuple]:
    return (shape[-1], tuple(shape[:-1])) if cl else (shape[0], tuple(shape[1:]))


def join(c: int, spatial: tuple, cl: bool) -> tuple:
    return (*spatial, c) if cl else (c, *spatial)


def bias_shape(c: int, rank: int, cl: bool) -> tuple:
    """How a per-channel vector broadcasts against a batch array of `rank` axes."""
    return (c,) if cl or rank <= 2 else (c, *(1,) * (rank - 2))


# --------------------------------------------------------------------------- layers


class ConvLayer(Layer):
    """A convolution or a transposed convolution over `nd` spatial axes (declared by the kernel).
    `keras_depthwise_layout`: groups 'depthwise' has Keras's DepthwiseConv kernel (*k, C_in,
    multiplier) rather than the grouped convolution's (*k, 1, C_out)."""

    def __init__(
        self, node, in_shapes, env: Env, nd: int, transpose: bool, keras_depthwise_layout: bool = True
    ) -> None:
        super().__init__()
        a = node.args
        cl = env.channels_last
        c_in, ns = split(in_shapes[0], cl)
        ks, ss, ds = a["kernel"], a["stride"], a["dilation"]
        self.keras = env.keras
        self.nd = nd
        self.cl = cl
        if transpose:
            groups = a["groups"]
            c_out = a["filters"]
            g = self._t_geom(a, ns, ks, ss, ds, env)
            self.depthwise = False
            wshape = (*ks, c_out // groups, c_in) if env.keras else (c_in, c_out // groups, *ks)
        else:
            depthwise = a["groups"] == "depthwise"
            self.depthwise = depthwise and keras_depthwise_layout  # the weight layout (Keras only)
            groups = c_in if depthwise else a["groups"]
            c_out = a["filters"] if a["filters"] is not None else c_in
            g = Geom(cl, ns, ks, ss, ds, window_pads(a["padding"], ns, ks, ss, ds))
            if env.keras:
                wshape = (*ks, c_in, c_out // c_in) if self.depthwise else (*ks, c_in // groups, c_out)
            else:
                wshape = (c_out, c_in // groups, *ks)
        self.core = ConvCore(g, groups, c_in, c_out, transpose)
        wname = "kernel" if env.keras else "weight"
        self.wname = wname
        w = self.add(wname, draw(a["init"], wshape, "kernel", env, kernel=True))
        self.bias = a["bias"]
        if self.bias:
            self.add("bias", draw(a["bias_init"], (c_out,), "bias", env, weight_shape=w.shape))
        self.out_shape = join(c_out, g.ns if transpose else g.outs, cl)
        self.macs = self.core.macs
        self.scratch = self.core.columns
        self.c_out = c_out

    @staticmethod
    def _t_geom(a, ns, ks, ss, ds, env) -> Geom:
        """The output size and the crop of a transposed convolution.

        The full result of scattering every input position through the kernel spans
        (n − 1)s + d(k − 1) + 1 positions; the output is a window of it. PyTorch: starts at the
        padding p_before and is (n − 1)s − p_before − p_after + d(k − 1) + output_padding + 1 long
        (positions past the full span get only the bias). Keras 'valid': starts at 0, n·s +
        max(span − s, 0) long; 'same': n·s long, starting where TensorFlow's gradient of a 'same'
        convolution puts it (half of the padding a forward 'same' convolution of that output
        would need, rounded down); with output_padding the length is (n − 1)s + span − 2·pad +
        output_padding (pad = span//2 for 'same'), started the same way."""
        pad = a["padding"]
        ops = a["output_padding"]
        outs, crops = [], []
        for i, (n, k, s, d) in enumerate(zip(ns, ks, ss, ds, strict=True)):
            span = d * (k - 1) + 1
            op = ops[i] if ops else None
            if env.keras and isinstance(pad, str):
                if op is None:
                    out = n * s + max(span - s, 0) if pad == "valid" else n * s
                else:
                    p = span // 2 if pad == "same" else 0
                    out = (n - 1) * s + span - 2 * p + op
                crop = max((n - 1) * s + span - out, 0) // 2 if pad == "same" else 0
            else:
                pb, pa = (0, 0) if pad == "valid" else pad[i]
                out = (n - 1) * s - pb - pa + span + (op or 0)
                crop = pb
            outs.append(out)
            crops.append(crop)
        # the window over the output buffer: the buffer is the full span (or longer), the
        # "input" of the adjoint convolution is the output, padded by the crop before
        lens = [max((n - 1) * s + d * (k - 1) + 1, c + o) for n, k, s, d, c, o in zip(ns, ks, ss, ds, crops, outs, strict=True)]  # fmt: skip
        pads = [(c, L - c - o) for c, L, o in zip(crops, lens, outs, strict=True)]
        return Geom(env.channels_last, outs, ks, ss, ds, pads, outs=ns)

    def _wt(self) -> np.ndarray:
        return _to_torch(self.params[self.wname], self.keras, self.nd, self.depthwise)

    def forward(self, xs):
        x = xs[0]
        self.x = x
        y = self.core.forward(x, self._wt())
        if self.bias:
            y += self.params["bias"].reshape(bias_shape(self.c_out, y.ndim, self.cl))
        return y, {}

    def backward(self, dy, dextras):
        dx, dwt = self.core.backward(self.x, self._wt(), dy)
        w = self.params[self.wname]
        self.grads = {self.wname: _from_torch(dwt, self.keras, self.nd, self.depthwise, w.shape)}
        if self.bias:
            ax = channel_axis(dy.ndim, self.cl)
            self.grads["bias"] = dy.sum(axis=tuple(i for i in range(dy.ndim) if i != ax))
        return [dx]


class ConvKernel(Kernel):
    """A convolution over `nd` spatial axes; `keras_depthwise_layout`: Keras has a DepthwiseConv layer
    of this rank, whose kernel (*k, C_in, multiplier) groups 'depthwise' takes (1-D and 2-D only)."""

    ops = ("conv1d", "conv2d", "conv3d")

    def __init__(self, nd: int, keras_depthwise_layout: bool = True) -> None:
        self.nd = nd
        self.keras_depthwise_layout = keras_depthwise_layout

    def build(self, node, in_shapes, env):
        return ConvLayer(node, in_shapes, env, self.nd, transpose=False,
                         keras_depthwise_layout=self.keras_depthwise_layout)  # fmt: skip


class ConvTransposeKernel(Kernel):
    """A transposed convolution over `nd` spatial axes."""

    ops = ("conv1d_transpose", "conv2d_transpose", "conv3d_transpose")

    def __init__(self, nd: int) -> None:
        self.nd = nd

    def build(self, node, in_shapes, env):
        return ConvLayer(node, in_shapes, env, self.nd, transpose=True)


# --------------------------------------------------------------------------- batchnorm core


class BNCore:
    """Batch normalisation over every axis but the channel one. Train mode: the batch's mean and
    (biased) variance; eval mode: the running statistics, folded into one scale and shift per
    channel. The running statistics are not updated."""

    def __init__(self, c: int, cl: bool, eps: float, train: bool) -> None:
        self.c, self.cl, self.eps, self.train = c, cl, eps, train

    def forward(self, x, gamma, beta, mean, var):
        ax = channel_axis(x.ndim, self.cl)
        red = tuple(i for i in range(x.ndim) if i != ax)
        shp = bias_shape(self.c, x.ndim, self.cl)
        eps = x.dtype.type(self.eps)
        if not self.train:
            inv = (1.0 / np.sqrt(var + eps)).reshape(shp)
            scale = inv * gamma.reshape(shp) if gamma is not None else inv
            shift = -mean.reshape(shp) * scale
            if beta is not None:
                shift = shift + beta.reshape(shp)
            self.cache = (x, inv, mean.reshape(shp), scale, red)
            y = x * scale
            y += shift
            return y
        xc = x - x.mean(axis=red, keepdims=True)
        sq = np.square(xc)
        inv = 1.0 / np.sqrt(sq.mean(axis=red, keepdims=True) + eps)
        xhat = np.multiply(xc, inv, out=xc)
        self.cache = (xhat, inv, red)
        y = sq  # the buffer is free again
        if gamma is None:
            np.copyto(y, xhat)
        else:
            np.multiply(xhat, gamma.reshape(shp), out=y)
        if beta is not None:
            y += beta.reshape(shp)
        return y

    def backward(self, dy, gamma):
        shp = bias_shape(self.c, dy.ndim, self.cl)
        if not self.train:
            x, inv, mean, scale, red = self.cache
            dbeta = dy.sum(axis=red)
            dgamma = ((x - mean) * dy).sum(axis=red) * inv.reshape(-1)
            return dy * scale, dgamma, dbeta
        xhat, inv, red = self.cache
        dgamma = (dy * xhat).sum(axis=red)
        dbeta = dy.sum(axis=red)
        dxhat = dy * gamma.reshape(shp) if gamma is not None else dy
        m = dy.size // self.c
        s1 = dbeta if gamma is None else gamma * dbeta  # Σ dxhat per channel
        s2 = dgamma if gamma is None else gamma * dgamma  # Σ dxhat·xhat per channel
        dx = (dxhat - s1.reshape(shp) / m - xhat * (s2.reshape(shp) / m)) * inv
        return dx, dgamma, dbeta


def train_statistics(node, env: Env) -> bool:
    """Whether a batchnorm normalises by the batch's statistics: in train mode, except a frozen one
    (`trainable: false`) under Keras, which runs in inference mode (its moving statistics); PyTorch's
    frozen weights (requires_grad False) leave the layer in train mode."""
    return env.mode == "train" and not (env.keras and node.frozen)


def bn_tensors(layer: Layer, c: int, affine: bool, env: Env, prefix: str = "") -> tuple[str, ...]:
    """Add a batchnorm's tensors, named as the framework names them; returns (gamma, beta, mean, var) names."""
    if env.keras:
        names = ("gamma", "beta", "moving_mean", "moving_variance")
    else:
        names = ("weight", "bias", "running_mean", "running_var")
    names = tuple(prefix + n for n in names)
    if affine:
        layer.add(names[0], draw(None, (c,), "gamma", env))
        layer.add(names[1], draw(None, (c,), "beta", env))
    kind = "param" if env.keras else "buffer"
    layer.add(names[2], np.zeros(c, env.dtype), trainable=False, kind=kind)
    layer.add(names[3], np.ones(c, env.dtype), trainable=False, kind=kind)
    return names
