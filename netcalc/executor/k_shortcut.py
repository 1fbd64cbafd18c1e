"""The executor kernel of the shortcut (He et al. 2015's options A, B and C): a ResNet block's
projection, built from the convolution and batch-normalisation cores of k_conv."""

from __future__ import annotations

import numpy as np

from .base import Env, Kernel, Layer, channel_axis, draw
from .k_conv import BNCore, ConvCore, _from_torch, _to_torch, bias_shape, bn_tensors, join, split, train_statistics
from .windows import Geom


class ShortcutLayer(Layer):
    """He et al. 2015's shortcut. A: every s-th row and column, zero channels (C_out − C_in)//2
    before and the rest after. B (when the shape changes) and C: a 1×1 convolution of stride s
    (with a bias per output channel when `bias`), then a batchnorm (framework epsilon: PyTorch 1e-5,
    Keras 1e-3)."""

    def __init__(self, node, in_shapes, env: Env) -> None:
        super().__init__()
        a = node.args
        cl = env.channels_last
        self.cl = cl
        c_in, ns = split(in_shapes[0], cl)
        c_out = a["filters"] or c_in
        s = a["stride"]
        self.s, self.c_in, self.c_out = s, c_in, c_out
        self.mode = a["mode"]
        self.project = self.mode == "C" or (self.mode == "B" and (c_out != c_in or s != 1))
        self.keras = env.keras
        outs = tuple(-(-n // s) for n in ns)
        self.out_shape = join(c_out, outs, cl)
        self.bn = None
        if self.project:
            g = Geom(cl, ns, (1, 1), (s, s), (1, 1), ((0, 0), (0, 0)))
            self.core = ConvCore(g, 1, c_in, c_out, False)
            self.wname = "conv/kernel" if env.keras else "0.weight"
            wshape = (1, 1, c_in, c_out) if env.keras else (c_out, c_in, 1, 1)
            w = self.add(self.wname, draw(None, wshape, "kernel", env, kernel=True))
            self.bname = None
            if a.get("bias"):
                self.bname = "conv/bias" if env.keras else "0.bias"
                self.add(self.bname, draw(None, (c_out,), "bias", env, weight_shape=w.shape))
            self.macs = self.core.macs
            self.scratch = self.core.columns
            if a["batchnorm"]:
                self.bn_names = bn_tensors(self, c_out, True, env, "bn/" if env.keras else "1.")
                self.bn = BNCore(c_out, cl, 1e-3 if env.keras else 1e-5, train_statistics(node, env))

    def _wt(self):
        return _to_torch(self.params[self.wname], self.keras, 2, False)

    def forward(self, xs):
        x = xs[0]
        self.x = x
        if self.project:
            y = self.core.forward(x, self._wt())
            if self.bname is not None:
                y = y + self.params[self.bname].reshape(bias_shape(self.c_out, y.ndim, self.cl))
            if self.bn is not None:
                p = self.params
                y = self.bn.forward(y, *(p[n] for n in self.bn_names))
            return y, {}
        s = self.s
        sub = x[:, ::s, ::s, :] if self.cl else x[:, :, ::s, ::s]
        if self.c_out == self.c_in:
            return (sub.copy() if s != 1 else sub), {}
        pad = self.c_out - self.c_in
        before = pad // 2
        y = np.zeros((x.shape[0], *self.out_shape), x.dtype)
        if self.cl:
            y[..., before : before + self.c_in] = sub
        else:
            y[:, before : before + self.c_in] = sub
        return y, {}

    def backward(self, dy, dextras):
        if self.project:
            self.grads = {}
            if self.bn is not None:
                gname, bname = self.bn_names[:2]
                dy, dgamma, dbeta = self.bn.backward(dy, self.params[gname])
                self.grads[gname], self.grads[bname] = dgamma, dbeta
            if self.bname is not None:
                ax = channel_axis(dy.ndim, self.cl)
                self.grads[self.bname] = dy.sum(axis=tuple(i for i in range(dy.ndim) if i != ax))
            dx, dwt = self.core.backward(self.x, self._wt(), dy)
            w = self.params[self.wname]
            self.grads[self.wname] = _from_torch(dwt, self.keras, 2, False, w.shape)
            return [dx]
        s = self.s
        before = (self.c_out - self.c_in) // 2
        part = dy[..., before : before + self.c_in] if self.cl else dy[:, before : before + self.c_in]
        if s == 1:
            return [part]
        dx = np.zeros_like(self.x)
        if self.cl:
            dx[:, ::s, ::s, :] = part
        else:
            dx[:, :, ::s, ::s] = part
        return [dx]


class ShortcutKernel(Kernel):
    ops = ("shortcut",)

    def build(self, node, in_shapes, env):
        return ShortcutLayer(node, in_shapes, env)
