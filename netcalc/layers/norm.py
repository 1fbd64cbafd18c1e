"""Normalisation: batchnorm (PyTorch and Keras counting) and layernorm."""

from __future__ import annotations

from math import prod

from ..schema import Arg, Bool, Float, IntList
from .base import Geometry, LayerType, Tensor


def bn_keep(env) -> float:
    """The part of the gradient batchnorm's batch statistics leave (see BatchNorm.sig_backward)."""
    if not env.batch:
        return 1.0
    return max(1 - env.info.gmean / env.batch, 0.0)


class BatchNorm(LayerType):
    """Batch normalisation over the channel axis (the layout's), any rank (1-D: features).

    Parameters: γ and β, C each, trainable (unless affine is false). The running mean and
    variance follow the convention: PyTorch keeps them as buffers, not parameters (as
    torchinfo and `model.parameters()` count); Keras counts them as 2C non-trainable parameters.
    FLOPs: 2 per element (the inference form y = a·x + b with the statistics folded in).
    """

    op = "batchnorm"
    aliases = ("batchnorm1d", "batchnorm2d", "batch_norm", "batchnormalization")
    summary = "batch normalisation over channels"
    counting = "FLOPs 2 per element (folded a·x + b)"
    counting_params = {
        "pytorch": "running statistics are buffers, not params",
        "keras": "moving statistics are non-trainable params",
    }
    parametric = True
    normalises = "batch"
    args = {
        "affine": Arg(Bool(), True, "learn γ (scale) and β (shift)"),
        "eps": Arg(Float(0.0), 1e-5, "added to the variance (PyTorch 1e-5, Keras 1e-3)"),
        "momentum": Arg(Float(0.0, 1.0), None, "running-statistics momentum (convention's default)"),
    }

    def resolve(self, a, shapes, ctx):
        """The channel axis is the layout's: first for chw, last for hwc."""
        shape = shapes[0]
        return Geometry(shape=shape, c=shape[ctx.channel_axis(len(shape))], affine=a["affine"])

    def params(self, g, ctx):
        """γ, β trainable; running mean/var: buffers (PyTorch) or non-trainable (Keras)."""
        tensors = []
        if g.affine:
            names = ("gamma", "beta") if ctx.keras_counting else ("weight", "bias")
            tensors += [Tensor(names[0], (g.c,)), Tensor(names[1], (g.c,))]
        if ctx.keras_counting:
            tensors += [Tensor("moving_mean", (g.c,), False), Tensor("moving_variance", (g.c,), False)]
        else:
            tensors += [Tensor("running_mean", (g.c,), False, "buffer"), Tensor("running_var", (g.c,), False, "buffer")]
        return tensors

    def sig_forward(self, g, ins, env):
        """Training mode (batch statistics), γ = 1 and β = 0 at initialisation:
        E[y²] = γ²·Var/(Var + ε) + β² per channel [E], with Var the channel's variance, on average
        q − (channels' mean²); each channel's mean becomes β, so the channel-mean fraction is reset.
        Positions keep their relative weights (a border that had less keeps less) [A for the map]."""
        x = ins[0]
        eps = env.row.node.args["eps"]
        qm = x.mean
        mc2 = x.mfrac * qm
        var = max(qm - mc2, 1e-300)
        scale = var / (var + eps)
        env.info.bn_var = var + eps
        q = x.q / qm * scale if qm > 0 else x.q * 0 + scale
        corr = max(x.corr * qm - mc2, 0.0) / var
        return x.like(q, mu=0.0, mfrac=0.0, corr=corr, gauss=True), "E"

    def sig_backward(self, g, ins, out, r, env):
        """[A] r_in ≈ γ²/(Var + ε)·r_out: the normalisation divides by the channel's standard deviation.
        With a finite batch B, the batch mean's own gradient also removes each channel's batch mean
        gradient: gmean/B of r, gmean the part of r that is uniform over a sample's positions (1 after
        a global average pool) [A]."""
        keep = bn_keep(env)
        return [r * keep / env.info.bn_var], "A"

    def macs(self, g):
        """0: the scale γ/σ multiplies elementwise, no weight product."""
        return 0

    def flops(self, g):
        """2 per element."""
        return 2 * prod(g.shape)

    def weight_shape(self, g, tensors):
        return f"{g.c}"


class LayerNorm(LayerType):
    """Layer normalisation over `axes` (default: the last axis, as Keras LayerNormalization and
    PyTorch LayerNorm(normalized_shape=last dim)). Parameters: γ and β with the shape of the
    normalised axes, trainable (unless affine is false).
    FLOPs: 5 per element to normalise (mean, centre, square-accumulate, variance, scale), +2 with
    the affine γ·x + β.
    """

    op = "layernorm"
    aliases = ("layer_norm", "layernormalization")
    summary = "layer normalisation"
    counting = "FLOPs 7 per element (5 without affine)"
    parametric = True
    normalises = "feature"
    args = {
        "axes": Arg(IntList(), (-1,), "axes normalised over, in the spec's layout"),
        "affine": Arg(Bool(), True, "learn γ and β"),
        "eps": Arg(Float(0.0), 1e-5, "added to the variance"),
    }

    def resolve(self, a, shapes, ctx):
        """Every axis must exist."""
        shape = shapes[0]
        axes = []
        for ax in a["axes"]:
            if not -len(shape) <= ax < len(shape):
                ctx.error("E202", f"axis {ax} is outside an input of {len(shape)} axes", "axes")
                return None
            axes.append(ax % len(shape))
        return Geometry(shape=shape, norm_shape=tuple(shape[i] for i in sorted(set(axes))), affine=a["affine"])

    def params(self, g, ctx):
        """γ and β with the normalised axes' shape."""
        if not g.affine:
            return []
        names = ("gamma", "beta") if ctx.keras_counting else ("weight", "bias")
        return [Tensor(names[0], g.norm_shape), Tensor(names[1], g.norm_shape)]

    def sig_forward(self, g, ins, env):
        """[A] each position normalised over its features: E[y²] = γ²·v/(v + ε) + β² with v the
        features' variance at a position, taken as q − μ² (the ensemble mean); γ = 1, β = 0."""
        x = ins[0]
        eps = env.row.node.args["eps"]
        v = max(x.mean - x.mu * x.mu, 1e-300)
        env.info.ln_var = v + eps
        return x.like(x.q * 0 + v / (v + eps), mu=0.0, mfrac=0.0, corr=max(x.corr * x.mean - x.mu**2, 0) / v,
                      gauss=True), "A"  # fmt: skip

    def sig_backward(self, g, ins, out, r, env):
        """[A] r_in ≈ r_out/(v + ε)."""
        return [r / env.info.ln_var], "A"

    def macs(self, g):
        """0: γ multiplies elementwise, no weight product."""
        return 0

    def flops(self, g):
        """5 per element, 7 with the affine transform."""
        return (7 if g.affine else 5) * prod(g.shape)
