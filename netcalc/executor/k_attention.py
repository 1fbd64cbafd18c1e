"""Multi-head attention (NumPy only): self-attention on x (N, T, d), cross-attention with a memory
(N, S, d_kv) as the second input; grouped-query heads (each key/value head serves heads/kv_heads
consecutive query heads, as torch's repeat_interleave and Keras's ops.repeat give them), a causal
mask (query i sees keys j ≤ i), dropout on the attention weights in training.

The weights are held as each framework holds them (PyTorch nn.MultiheadAttention's fused
in_proj_weight (3d, d) or its q/k/v_proj_weight for d_kv ≠ d, and out_proj; four nn.Linear q_proj,
k_proj, v_proj, o_proj where nn.MultiheadAttention cannot hold the layer: kv_heads ≠ heads or
heads·head_dim ≠ d; Keras query/key/value kernels (in, heads, head_dim) and attention_output
(heads, head_dim, d)), and the products read them as (in, out) matrices. Initialised as the frameworks
do: nn.MultiheadAttention xavier_uniform for in_proj and q/k/v_proj_weight, its out_proj an
nn.Linear's default, biases 0; the Llama-style Linear layers nn.Linear's defaults; Keras glorot_uniform
with the fans of EinsumDense's input and output axes, biases 0. A written `init` (`bias_init`) replaces
the kernels' (biases') default, with the same fans."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .base import Env, Kernel, Layer, draw


class _Init(NamedTuple):
    name: str
    params: dict


XAVIER = _Init("glorot_uniform", {"gain": 1.0})
ZEROS = _Init("constant", {"value": 0.0})


def _default(spec) -> bool:
    return spec is None or spec.name == "default"


class AttentionLayer(Layer):
    def __init__(self, node, in_shapes, env: Env) -> None:
        super().__init__()
        a = node.args
        (t, d), (s, d_kv) = in_shapes[0], in_shapes[-1]
        h = a["heads"]
        hd = a["head_dim"] or d // h
        g = a["kv_heads"] or h
        self.t, self.d, self.s, self.d_kv, self.h, self.hd, self.g = t, d, s, d_kv, h, hd, g
        self.cross = len(in_shapes) > 1
        self.causal, self.bias = a["causal"], a["bias"]
        self.rate = a["dropout"]
        self.training = env.mode == "train"
        if self.rate > 0:
            self.rng = env.mask_rng
        qd, kvd = h * hd, g * hd
        if env.keras:
            self.layout = "keras"
        elif g != h or qd != d:
            self.layout = "linear"
        else:
            self.layout = "mha" if d_kv == d else "mha_kdim"
        init, binit = a["init"], a["bias_init"]
        mha = self.layout in ("mha", "mha_kdim")
        kinit = XAVIER if mha and _default(init) and env.init_override is None else init
        bzero = ZEROS if mha and _default(binit) else binit
        if self.layout == "mha":
            w = self.add("in_proj_weight", draw(kinit, (3 * d, d), "kernel", env, kernel=True))
            if self.bias:
                self.add("in_proj_bias", draw(bzero, (3 * d,), "bias", env, weight_shape=w.shape))
        elif self.layout == "mha_kdim":
            for name, shape in (("q_proj_weight", (d, d)), ("k_proj_weight", (d, d_kv)), ("v_proj_weight", (d, d_kv))):
                self.add(name, draw(kinit, shape, "kernel", env, kernel=True))
            if self.bias:
                self.add("in_proj_bias", draw(bzero, (3 * d,), "bias", env, weight_shape=(d, d)))
        if mha:
            w = self.add("out_proj.weight", draw(init, (d, d), "kernel", env, kernel=True))
            if self.bias:
                self.add("out_proj.bias", draw(bzero, (d,), "bias", env, weight_shape=w.shape))
        elif self.layout == "linear":
            for name, shape in (
                ("q_proj", (qd, d)),
                ("k_proj", (kvd, d_kv)),
                ("v_proj", (kvd, d_kv)),
                ("o_proj", (d, qd)),
            ):
                w = self.add(f"{name}.weight", draw(init, shape, "kernel", env, kernel=True))
                if self.bias:
                    self.add(f"{name}.bias", draw(binit, shape[:1], "bias", env, weight_shape=w.shape))
        else:
            for name, n_in, heads in (("query", d, h), ("key", d_kv, g), ("value", d_kv, g)):
                shape = (n_in, heads, hd)
                self.add(f"{name}/kernel", draw(init, shape, "kernel", env, kernel=True, fan_shape=(n_in, heads * hd)))
                if self.bias:
                    self.add(f"{name}/bias", draw(binit, (heads, hd), "bias", env))
            self.add("attention_output/kernel", draw(init, (h, hd, d), "kernel", env, kernel=True, fan_shape=(qd, d)))
            if self.bias:
                self.add("attention_output/bias", draw(binit, (d,), "bias", env))
        self.out_shape = (t, d)
        pairs = t * (t + 1) // 2 if self.causal and not a["count_masked"] else t * s
        # the projections' products, then QKᵀ and A·V over the pairs counted (the visible ones, when
        # count_masked is false: the whole matrices are computed, the masked products not counted)
        self.macs = t * d * qd + 2 * s * d_kv * kvd + t * qd * d + 2 * h * pairs * hd
        self.scratch = 2 * h * t * s + 2 * t * qd + 2 * s * kvd

    # ------------------------------------------------------------ the weights as (in, out) matrices

    def _mats(self):
        """(Wq, Wk, Wv, Wo) as (in, out) matrices and (bq, bk, bv, bo) (None without bias)."""
        p, d = self.params, self.d
        b = [None] * 4
        if self.layout == "mha":
            w = p["in_proj_weight"]
            ws = [w[:d].T, w[d : 2 * d].T, w[2 * d :].T]
        elif self.layout == "mha_kdim":
            ws = [p["q_proj_weight"].T, p["k_proj_weight"].T, p["v_proj_weight"].T]
        elif self.layout == "linear":
            ws = [p[f"{n}.weight"].T for n in ("q_proj", "k_proj", "v_proj")]
            if self.bias:
                b = [p[f"{n}.bias"] for n in ("q_proj", "k_proj", "v_proj", "o_proj")]
            return [*ws, p["o_proj.weight"].T], b
        else:
            ws = [p[f"{n}/kernel"].reshape(p[f"{n}/kernel"].shape[0], -1) for n in ("query", "key", "value")]
            wo = p["attention_output/kernel"].reshape(-1, d)
            if self.bias:
                b = [p[f"{n}/bias"].reshape(-1) for n in ("query", "key", "value")] + [p["attention_output/bias"]]
            return [*ws, wo], b
        if self.bias:
            ib = p["in_proj_bias"]
            b = [ib[:d], ib[d : 2 * d], ib[2 * d :], p["out_proj.bias"]]
        return [*ws, p["out_proj.weight"].T], b

    def _grads(self, dws, dbs):
        """The (in, out) matrices' gradients back in the framework's tensors."""
        if self.layout == "mha":
            out = {"in_proj_weight": np.concatenate([dw.T for dw in dws[:3]], axis=0), "out_proj.weight": dws[3].T}
        elif self.layout == "mha_kdim":
            out = {"q_proj_weight": dws[0].T, "k_proj_weight": dws[1].T, "v_proj_weight": dws[2].T,
                   "out_proj.weight": dws[3].T}  # fmt: skip
        elif self.layout == "linear":
            out = {f"{n}.weight": dw.T for n, dw in zip(("q_proj", "k_proj", "v_proj", "o_proj"), dws, strict=True)}
            if self.bias:
                out.update(
                    {f"{n}.bias": db for n, db in zip(("q_proj", "k_proj", "v_proj", "o_proj"), dbs, strict=True)}
                )
            return out
        else:
            names = ("query", "key", "value")
            out = {
                f"{n}/kernel": dw.reshape(self.params[f"{n}/kernel"].shape) for n, dw in zip(names, dws, strict=False)
            }
            out["attention_output/kernel"] = dws[3].reshape(self.params["attention_output/kernel"].shape)
            if self.bias:
                out.update(
                    {f"{n}/bias": db.reshape(self.params[f"{n}/bias"].shape) for n, db in zip(names, dbs, strict=False)}
                )
                out["attention_output/bias"] = dbs[3]
            return out
        if self.bias:
            out["in_proj_bias"] = np.concatenate(dbs[:3])
            out["out_proj.bias"] = dbs[3]
        return out

    # ------------------------------------------------------------ passes

    def forward(self, xs):
        x, m = xs[0], xs[-1]
        n = x.shape[0]
        (wq, wk, wv, wo), (bq, bk, bv, bo) = self._mats()
        h, g, hd, t, s = self.h, self.g, self.hd, self.t, self.s
        q = x @ wq + (bq if bq is not None else 0)
        k = m @ wk + (bk if bk is not None else 0)
        v = m @ wv + (bv if bv is not None else 0)
        scale = 1.0 / math.sqrt(hd)
        qh = q.reshape(n, t, h, hd).transpose(0, 2, 1, 3) * scale  # (N, h, T, hd), scaled as both frameworks do
        rep = h // g
        kh = np.repeat(k.reshape(n, s, g, hd).transpose(0, 2, 1, 3), rep, axis=1)  # (N, h, S, hd)
        vh = np.repeat(v.reshape(n, s, g, hd).transpose(0, 2, 1, 3), rep, axis=1)
        scores = qh @ kh.transpose(0, 1, 3, 2)  # (N, h, T, S)
        if self.causal:
            scores = np.where(np.tril(np.ones((t, s), bool)), scores, -np.inf)
        scores = scores - scores.max(axis=-1, keepdims=True)
        e = np.exp(scores)
        att = e / e.sum(axis=-1, keepdims=True)
        self.keep = None
        if self.rate > 0 and self.training:
            self.keep = (self.rng.random(att.shape) >= self.rate) / (1.0 - self.rate)
        att_d = att if self.keep is None else att * self.keep
        o = (att_d @ vh).transpose(0, 2, 1, 3).reshape(n, t, h * hd)
        y = o @ wo + (bo if bo is not None else 0)
        self.saved = (x, m, qh, kh, vh, att, att_d, o)
        return y, {}

    def backward(self, dy, dextras):
        x, m, qh, kh, vh, att, att_d, o = self.saved
        (wq, wk, wv, wo), _ = self._mats()
        n = x.shape[0]
        h, g, hd, t, s = self.h, self.g, self.hd, self.t, self.s
        rep = h // g
        dwo = o.reshape(-1, h * hd).T @ dy.reshape(-1, self.d)
        dbo = dy.reshape(-1, self.d).sum(axis=0)
        do = (dy @ wo.T).reshape(n, t, h, hd).transpose(0, 2, 1, 3)  # (N, h, T, hd)
        datt_d = do @ vh.transpose(0, 1, 3, 2)
        dvh = att_d.transpose(0, 1, 3, 2) @ do  # (N, h, S, hd)
        datt = datt_d if self.keep is None else datt_d * self.keep
        dscores = att * (datt - (datt * att).sum(axis=-1, keepdims=True))
        dqh = dscores @ kh / math.sqrt(hd)
        dkh = dscores.transpose(0, 1, 3, 2) @ qh  # qh holds the scale already
        dk = dkh.reshape(n, g, rep, s, hd).sum(axis=2).transpose(0, 2, 1, 3).reshape(n, s, g * hd)
        dv = dvh.reshape(n, g, rep, s, hd).sum(axis=2).transpose(0, 2, 1, 3).reshape(n, s, g * hd)
        dq = dqh.transpose(0, 2, 1, 3).reshape(n, t, h * hd)
        x2, m2 = x.reshape(-1, self.d), m.reshape(-1, self.d_kv)
        dq2, dk2, dv2 = dq.reshape(-1, h * hd), dk.reshape(-1, g * hd), dv.reshape(-1, g * hd)
        dws = [x2.T @ dq2, m2.T @ dk2, m2.T @ dv2, dwo]
        dbs = [dq2.sum(axis=0), dk2.sum(axis=0), dv2.sum(axis=0), dbo]
        self.grads = self._grads(dws, dbs)
        dx = dq @ wq.T
        dm = dk @ wk.T + dv @ wv.T
        if not self.cross:
            return [dx + dm]
        return [dx, dm]


class AttentionKernel(Kernel):
    ops = ("attention",)

    def build(self, node, in_shapes, env):
        return AttentionLayer(node, in_shapes, env)
