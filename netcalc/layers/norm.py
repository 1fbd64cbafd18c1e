"""Normalisation: batchnorm (PyTorch and Keras counting), layernorm, groupnorm and instancenorm."""

from __future__ import annotations

from math import prod

from ..compound_kinds import IntList
from ..kinds import Arg, Bool, Float, Int
from .base import Geometry, LayerType, Tensor, fmt_shape
from .conv import _count


def bn_keep(env) -> float:
    """The part of the gradient batchnorm's batch statistics leave (see BatchNorm.sig_backward): the
    batch mean's share gmean/B and the normalised input's (env.info.bn_proj)."""
    if not env.batch:
        return 1.0
    return max(1 - env.info.gmean / env.batch - (env.info.bn_proj or 0.0), 0.0)


def _positions_per_channel(g) -> int:
    """The values of one channel in one sample: the positions of the map (1 for a vector)."""
    return prod(g.shape) // g.c if g.c else 1


def bn_eps(keras: bool) -> float:
    """Batch normalisation's default ε: Keras's BatchNormalization epsilon 1e-3, PyTorch's 1e-5."""
    return 1e-3 if keras else 1e-5


def bn_inference(env) -> bool:
    """Whether the node's batch normalisation runs in inference mode at training time: Keras runs a
    frozen BatchNormalization (`trainable: false`) in inference mode, normalising by its moving
    statistics (mean 0, variance 1 at initialisation); PyTorch's requires_grad_(False) freezes the
    weights only, and the layer keeps normalising by batch statistics in train()."""
    return env.keras and env.row.node.frozen


class BatchNorm(LayerType):
    """Batch normalisation over the channel axis (the layout's), any rank (1-D: features).

    Parameters: γ and β, C each, trainable (unless affine is false). The running mean and
    variance follow the convention: PyTorch keeps them as buffers, not parameters (as
    torchinfo and `model.parameters()` count); Keras counts them as 2C non-trainable parameters.
    FLOPs: 2 per element (the inference form y = a·x + b with the statistics folded in).
    `eps` defaults to the convention's: PyTorch's BatchNorm*d 1e-5, Keras's BatchNormalization
    epsilon 1e-3 (issue 14 item 6: under Keras a depthwise convolution's outputs have variances near
    1e-2, where 1e-3 takes a tenth of E[x̂²] and 1e-5 almost nothing).
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
    keeps_order = True  # γ = 1 > 0 at initialisation: y = (x − mean)/σ per channel, increasing
    args = {
        "affine": Arg(Bool(), True, "learn γ (scale) and β (shift)"),
        "eps": Arg(Float(0.0), None, "added to the variance (convention's default: PyTorch 1e-5, Keras 1e-3)"),
        "momentum": Arg(Float(0.0, 1.0), None, "running-statistics momentum (convention's default)"),
    }

    def resolve(self, a, shapes, ctx):
        """The channel axis is the layout's: first for chw, last for hwc; eps the convention's unless written."""
        shape = shapes[0]
        eps = a["eps"] if a["eps"] is not None else bn_eps(ctx.keras)
        return Geometry(shape=shape, c=shape[ctx.channel_axis(len(shape))], affine=a["affine"], eps=eps)

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
        E[y²] = γ²·E[v/(v + ε)] + β² per channel, v the batch variance of the channel's m = B·positions
        values (`norm_batch.batch_stats`: χ² for Gaussian values [E], a gamma of the same two moments for an
        activation's [A]; v = Var, the channel's variance, with no batch given [E]), Var on average
        q − (channels' mean²) (for an activation of channels with their own means, E_c over the
        channels' variances: `channel_spread`); each channel's mean becomes β, so the channel-mean
        fraction is reset.
        Positions keep their relative weights (a border that had less keeps less) [A for the map].
        Frozen under Keras (inference mode, `bn_inference`): y = x/√(1 + ε), q/(1 + ε) [E]."""
        x = ins[0]
        eps = g.eps
        if bn_inference(env):  # y = (x − 0)/√(1 + ε): moving mean 0 and variance 1 at initialisation [E]
            env.info.bn_var = 1.0 + eps
            return x.like(x.q / (1.0 + eps), mu=x.mu / (1.0 + eps) ** 0.5), "E"
        qm = x.mean
        mc2 = x.mfrac * qm
        var = max(qm - mc2, 1e-300)
        from .norm_batch import batch_stats, kurtosis

        m = env.batch * _positions_per_channel(g) if env.batch else None
        from .norm_channels import channel_spread

        spread = channel_spread(x, eps, env, m)
        tag = "E"
        if spread is not None:  # channels of different variances: each normalised by its own
            scale, gain, profile, proj, env.info.bn_channels = spread
            env.info.bn_profile = profile
        else:
            kurt = kurtosis(x) if m else 3.0
            scale, gain, proj = (float(f) for f in batch_stats(var, eps, m, kurt))
            proj /= gain
            tag = "E" if kurt == 3.0 else "A"
        env.info.bn_var = 1.0 / gain  # the harmonic mean of v + ε: E[1/(v + ε)] = 1/bn_var
        env.info.bn_proj = proj / m if m else None  # the normalised input's share of the projection
        q = x.q / qm * scale if qm > 0 else x.q * 0 + scale
        corr = max(x.corr * qm - mc2, 0.0) / var
        out = x.like(q, mu=0.0, mfrac=0.0, corr=corr, gauss=True)
        if x.pre is not None:  # an activation's output, normalised: a max pool looks through (Sig.affine)
            a = (var + eps) ** -0.5
            out.affine = (a, -a * x.mu, x, env.info.bn_channels)
        return out, tag

    def sig_backward(self, g, ins, out, r, env):
        """[A] r_in ≈ γ²·E[1/(v + ε)]·r_out: the normalisation divides by the channel's batch standard
        deviation (v as in sig_forward; Var itself with no batch given); where the channels' variances
        differ (an activation of channels with their own means), E_c[γ²·E[1/(v_c + ε)]]·r_out, with its
        profile over the input's values for the activation before it (`channel_spread`).
        With a finite batch B, the batch statistics' own gradients project out two directions of each
        channel's m = B·positions values (`norm_batch.batch_stats`): the batch mean, gmean/B of r (gmean the part
        of r uniform over a sample's positions: 1/positions for an independent gradient, 1 after a
        global average pool or on a vector), and the normalised input, E[(2a − a²)/(v + ε)]/(m·E[1/(v + ε)])
        ≈ 1/m of r: r_in = (1 − gmean/B − bn_proj)·E[1/(v + ε)]·r_out, (m − 2)/m for an independent
        gradient with ε negligible (dense at B = 8: 0.75) — and E[1/v] = m/((m − 3)·Var) for Gaussian
        values, so (m − 2)/(m − 3)/Var in all. Frozen under Keras (inference mode): r/(1 + ε) [E].

        Read by a max pool (env.info.max_parts has a window) with channels of their own means, the
        activation's argmax factor depends on the channel as the gain does: the batchnorm states it
        per channel for its input (`argmax_share`, env.info.at_max_in) in place of the profile."""
        if bn_inference(env):
            return [r / env.info.bn_var], "E"
        keep = bn_keep(env)
        parts = env.info.max_parts
        if env.info.bn_channels is not None and parts and any(w is not None for _, _, w in parts):
            from .norm_channels import argmax_share

            env.info.at_max_in = [argmax_share(env.info.bn_channels, parts)]
        elif env.info.bn_profile is not None:
            env.info.rprof_in = [env.info.bn_profile]
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
    per_position = True  # over the features of each position
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


class GroupNorm(LayerType):
    """Group normalisation (Wu & He 2018): the C channels of the layout's channel axis (first for
    chw, last for hwc; the features of a vector) are split into `groups` groups of C/G consecutive
    channels, and each sample's group is normalised over its C/G channels and every position, with
    the biased variance — the same in training and at inference (per-sample statistics: no batch
    statistics, no running statistics), hence its use with small batches. Any rank.

    Parameters: γ and β, one per channel (C each, not one per group), trainable, none without
    affine: PyTorch nn.GroupNorm(G, C) `weight` and `bias`, Keras GroupNormalization(groups=G)
    `gamma` and `beta` (center/scale false: none); no buffers and no non-trainable weights in
    either, so both count 2C. `eps` defaults to the convention's: PyTorch 1e-5, Keras 1e-3.
    FLOPs: as layernorm, 5 per element to normalise (mean, centre, square-accumulate, variance,
    scale), +2 with the affine γ·x + β.
    """

    op = "groupnorm"
    aliases = ("group_norm", "groupnormalization")
    summary = "group normalisation over channel groups"
    counting = "FLOPs 7 per element (5 without affine)"
    parametric = True
    normalises = "group"
    args = {
        "groups": Arg(Int(1, window=True), doc="channel groups G (must divide the channels)"),
        "affine": Arg(Bool(), True, "learn γ (scale) and β (shift), one per channel"),
        "eps": Arg(Float(0.0), None, "added to the variance (convention's default: PyTorch 1e-5, Keras 1e-3)"),
    }

    def resolve(self, a, shapes, ctx):
        """The channel axis is the layout's; the groups must divide its channels (E203, as
        PyTorch and Keras refuse); eps is the spec's convention's unless written."""
        shape = shapes[0]
        c, groups = shape[ctx.channel_axis(len(shape))], a["groups"]
        ctx.condition("equal", c % groups, f"the {c} channels divisible by the groups {groups}", "groups")
        if c % groups:
            ctx.error("E203", f"groups {groups} does not divide the {_count(c)} channels", "groups")
            return None
        eps = a["eps"] if a["eps"] is not None else (1e-3 if ctx.keras else 1e-5)
        return Geometry(shape=shape, c=c, groups=groups, affine=a["affine"], eps=eps)

    def params(self, g, ctx):
        """γ and β of C each (PyTorch weight/bias, Keras gamma/beta), trainable; no statistics kept."""
        if not g.affine:
            return []
        names = ("gamma", "beta") if ctx.keras_counting else ("weight", "bias")
        return [Tensor(names[0], (g.c,)), Tensor(names[1], (g.c,))]

    def sig_forward(self, g, ins, env):
        """[A] γ = 1 and β = 0 at initialisation; a sample's group is normalised over its C/G channels
        and all positions, so the mean of y² over a group is v/(v + ε), v the group's variance.
        With q the mean second moment, μ the ensemble mean and s = mc² − μ² the spread of the
        channels' means (mc² = mfrac·q), a group's mean (the average of C/G channels' means) has
        E[m²] ≈ μ² + s·G/C, so v = q − μ² − s·G/C (batchnorm's q − mc² at G = C, layernorm's
        q − μ² at G = 1). The channels' means keep s·(1 − G/C) of the spread (channel-mean
        fraction s·(1 − G/C)/v), neighbours keep (ρ·q − μ² − s·G/C)/v; positions keep their
        relative weights (their group's statistics are shared, as batchnorm's are). Not tracked
        (a Sig has no per-sample field): each sample's group mean is exactly β, so the per-sample
        channel means a global average pool reads vary less than its (q − mc²)/N (none at G = C)."""
        x = ins[0]
        v, removed = _group_var(g, x)
        q = x.q / x.mean * (v / (v + g.eps)) if x.mean > 0 else x.q * 0 + v / (v + g.eps)
        spread = max(x.mfrac * x.mean - x.mu**2, 0.0)
        mfrac = spread * (1 - g.groups / g.c) / v
        corr = max(x.corr * x.mean - removed, 0.0) / v
        return x.like(q, mu=0.0, mfrac=mfrac, corr=corr, gauss=True), "A"

    def sig_backward(self, g, ins, out, r, env):
        """[A] r_in ≈ γ²/(v + ε)·r_out (v as in sig_forward), less the two directions the
        normalisation projects out of a group's n = C/G·positions elements: its mean and the
        normalised input itself. Of the part of the gradient uniform over each channel's positions
        in a sample (gmean of r: 1 after a global average pool or on a vector), the C/G channels'
        independent means average to G/C over a group; of the rest, 1/n; the normalised input
        takes 1/n: r_in = (1 − gmean·G/C − (1 − gmean)/n − 1/n)·r_out/(v + ε), exact in
        expectation for an independent gradient (2/n removed on a vector). A channel's mean
        gradient keeps gmean·(1 − G/C) of r: nothing at G = C (instance normalisation before a
        global average pool passes no gradient)."""
        v, _ = _group_var(g, ins[0])
        gmean = env.info.gmean
        share, n = g.groups / g.c, prod(g.shape) / g.groups
        keep = max(1 - gmean * share - (1 - gmean) / n - 1 / n, 0.0)
        env.info.gmean_in = [min(gmean * (1 - share) / keep, 1.0) if keep > 0 else 0.0]
        return [r * keep / (v + g.eps)], "A"

    def macs(self, g):
        """0: γ multiplies elementwise, no weight product."""
        return 0

    def flops(self, g):
        """5 per element, 7 with the affine transform (layernorm's rule)."""
        return (7 if g.affine else 5) * prod(g.shape)

    def explain(self, g, ctx):
        """The groups and what each is normalised over, the parameters and the FLOPs, with the numbers."""
        per, n = g.c // g.groups, prod(g.shape)
        lines = [
            f"groups: C/G = {g.c}/{g.groups} = {per} channels each; a sample's group is normalised over "
            f"{per} × {n // g.c:,} positions = {n // g.groups:,} elements, ε = {g.eps:g}"
        ]
        if g.affine:
            names = "gamma, beta" if ctx.keras_counting else "weight, bias"
            lines.append(f"γ and β ({names}): 2 × C = 2 × {g.c} = {2 * g.c:,} parameters, no statistics kept")
        lines.append(f"FLOPs: {7 if g.affine else 5} per element × {n:,} = {self.flops(g):,}")
        return lines


def _group_var(g, x) -> tuple[float, float]:
    """(v, μ² + s·G/C): a group's expected variance and the expected square of its mean (GroupNorm.sig_forward)."""
    qm = x.mean
    spread = max(x.mfrac * qm - x.mu**2, 0.0)
    removed = x.mu**2 + spread * g.groups / g.c
    return max(qm - removed, 1e-300), removed


class InstanceNorm(GroupNorm):
    """Instance normalisation (Ulyanov et al. 2016): each sample's channel normalised over its
    positions alone, with the biased variance — groupnorm with one channel per group (G = C), and
    worked out by GroupNorm's rules at G = C. The channel axis is the layout's; the input needs
    positions (a map or a sequence: PyTorch's InstanceNorm1d/2d/3d take (N, C, L…); a vector
    has one position per channel, which this would set to β).

    The conventions' defaults differ: PyTorch nn.InstanceNorm2d(C) has affine=False (no
    parameters) and track_running_stats=False (no buffers), eps 1e-5; Keras has no instance
    normalisation in its core layers, and GroupNormalization(groups=-1) (G = C) is one, with
    center and scale true (γ and β, C each, trainable: `gamma`, `beta`) and epsilon 1e-3. So
    `affine` and `eps` default to the convention's. Running statistics (PyTorch's
    track_running_stats=True) are not modelled. FLOPs as groupnorm (layernorm's rule): 5 per
    element to normalise, +2 with the affine γ·x + β.
    """

    op = "instancenorm"
    aliases = ("instance_norm", "instancenorm1d", "instancenorm2d", "instancenormalization")
    summary = "instance normalisation: each channel of a sample over its positions"
    args = {
        "affine": Arg(Bool(), None, "learn γ and β, one per channel (convention's default: PyTorch false, Keras true)"),
        "eps": Arg(Float(0.0), None, "added to the variance (convention's default: PyTorch 1e-5, Keras 1e-3)"),
    }

    def resolve(self, a, shapes, ctx):
        """The channel axis is the layout's, G = C; at least one axis beside it (E202); affine and eps
        are the spec's convention's unless written."""
        shape = shapes[0]
        if len(shape) < 2:
            ctx.error(
                "E202",
                f"instancenorm normalises each channel over its positions: it takes a map or a sequence "
                f"(2 or more axes without the batch), got a vector of shape {fmt_shape(shape)}",
            )
            return None
        c = shape[ctx.channel_axis(len(shape))]
        affine = a["affine"] if a["affine"] is not None else ctx.keras
        eps = a["eps"] if a["eps"] is not None else (1e-3 if ctx.keras else 1e-5)
        return Geometry(shape=shape, c=c, groups=c, affine=affine, eps=eps)

    def sig_forward(self, g, ins, env):
        """[A] GroupNorm's rule at G = C: v = q − mc², batchnorm's variance, since every channel's own
        mean is removed (per sample); the channels keep no mean (mfrac 0), neighbours keep
        (ρ·q − mc²)/v."""
        return super().sig_forward(g, ins, env)

    def sig_backward(self, g, ins, out, r, env):
        """[A] GroupNorm's rule at G = C: r_in = (1 − gmean − (1 − gmean)/n − 1/n)·r_out/(v + ε), n a
        channel's positions; a gradient uniform over a channel's positions (gmean 1: before a global
        average pool) is removed entirely."""
        return super().sig_backward(g, ins, out, r, env)

    def explain(self, g, ctx):
        """What each channel is normalised over, the parameters and the FLOPs, with the numbers."""
        n = prod(g.shape)
        lines = [f"each of the C = {g.c} channels of a sample normalised over its {n // g.c:,} positions, "
                 f"ε = {g.eps:g} (groupnorm with G = C)"]  # fmt: skip
        if g.affine:
            names = "gamma, beta" if ctx.keras_counting else "weight, bias"
            lines.append(f"γ and β ({names}): 2 × C = 2 × {g.c} = {2 * g.c:,} parameters, no statistics kept")
        else:
            lines.append("no parameters (affine false: PyTorch's default) and no statistics kept")
        lines.append(f"FLOPs: {7 if g.affine else 5} per element × {n:,} = {self.flops(g):,}")
        return lines
