"""Batchnorm of an activation whose channels have their own means (netcalc.layers.norm's signal
rules): each channel normalised by its own variance (`channel_spread`), and the argmax factor a max
pool reading the batchnorm gives the activation, per channel (`argmax_share`). NumPy; imported by the
signal rules only."""

from __future__ import annotations

from typing import NamedTuple


class ChannelGrid(NamedTuple):
    """The channels of a batchnorm's input as channel_spread integrates over them: the channel means
    μ_c of the pre-activation on a grid, their weights (summing to 1), each one's gain E[1/(v_c + ε)],
    the standard deviation within a channel, the activation (op, its arguments), and each channel's
    mean E[φ(z)] and variance Var_c of the activation's output."""

    mus: object
    w: object
    gain: object
    s: float
    op: str
    args: dict
    mean: object = None
    var: object = None


def channel_spread(x, eps: float, env, m: int | None = None):
    """Batchnorm of an activation whose pre-activation's channels have their own means: (E over the
    channels of Var_c/(Var_c + ε), of γ²/(Var_c + ε), the value profile of that gain over the
    input's atoms, the projection's share (below), and the ChannelGrid), or None when the channels
    do not differ (no per-channel means) or φ is not (leaky) ReLU.

    The input is φ(z), z = μ_c + e: a weighted sum's channel (unit) means μ_c ~ N(m, v_μ) over the
    channels, each a sum of many independent terms (v_μ = the channel-mean part of E[z²] less m²),
    and e ~ N(0, σ²) within a channel (σ² the rest) [MF]. A channel's variance Var_c =
    E[φ(μ_c + e)²] − E[φ(μ_c + e)]², closed form for (leaky) ReLU. Batchnorm divides each channel
    by its own √(Var_c + ε), so the gradient's gain is E_c[γ²/(Var_c + ε)], not γ²/(E_c[Var_c] + ε):
    a nearly dead unit (μ_c ≪ 0) has a tiny variance and a large gain. The gain is largest where
    the unit is nearly dead, and there φ' is mostly 0: the gradient φ' passes back depends on the
    value, so the gain goes back with its profile E[gain | z = v]/E[gain] over z's atoms (μ_c given
    z = v is Gaussian: mean m + v_μ/(v_μ + σ²)·(v − m), variance v_μσ²/(v_μ + σ²)), for the
    activation's backward rule to weight E[φ'(z)²·gain]. Population variances: an infinite batch
    (with a finite one a channel with few open units has a smaller, noisier batch variance and a
    larger gain still: with m given, each channel's batch variance by `batch_stats`, with the
    kurtosis of its φ(μ_c + e)) [A]. The fourth value: E_c[E[(2a − a²)/(v + ε)]]/E_c[E[1/(v + ε)]],
    the normalised input's share of the backward projection (0 without m)."""
    import numpy as np

    from ..signal_rules import quantiles

    if x.pre is None or x.pre[0] not in ("relu", "leaky_relu"):
        return None
    batch = m
    op, args, z = x.pre
    qz, m = z.mean, z.mu
    vmu, s2 = z.mfrac * qz - m * m, qz * (1 - z.mfrac)
    if vmu <= 1e-9 * qz or s2 <= 0:
        return None
    sm, s = vmu**0.5, s2**0.5
    grid = m + sm * np.linspace(-12, 12, 2401)

    m1, m2, m3, m4 = _raw(op, args, grid, s, env)
    var = np.maximum(m2 - m1 * m1, 0.0)
    from .norm_batch import batch_stats

    kept_c, g, proj_c = batch_stats(var, eps, batch, env.moments.kurtosis(m1, m2, m3, m4))
    w = np.exp(-0.5 * ((grid - m) / sm) ** 2)
    w /= w.sum()
    mean_gain = float((w * g).sum())
    kept = float((w * kept_c).sum())
    proj = float((w * proj_c).sum()) / mean_gain
    v, _ = quantiles(z)
    shrink = vmu / (vmu + s2)
    post_m, post_s = m + shrink * (v - m), (vmu * s2 / (vmu + s2)) ** 0.5
    pw = np.exp(-0.5 * ((grid[None, :] - post_m[:, None]) / post_s) ** 2)
    h = (pw * g[None, :]).sum(axis=1) / pw.sum(axis=1)
    return kept, mean_gain, h / mean_gain, proj, ChannelGrid(grid, w, g, float(s), op, args, m1, var)


def argmax_share(grid: ChannelGrid, parts: list) -> float:
    """The argmax factor a batchnorm of channels with their own means states for the (leaky) ReLU
    before it, when a max pool reads it (directly or through order-keeping layers: `parts`, the
    routes of r with their shares, factors and the pools' windows, see signal._backward) [MF, A for
    the window's equicorrelation].

    Per channel c (mean μ_c, within-channel deviation s, p_c = Φ(μ_c/s) the chance that a unit is
    open, a the slope below 0): the batchnorm is increasing in each channel, so a pool's window
    maximum is where the activation's maximum is, and the batchnorm passes the gradient landing
    there multiplied by the channel's gain g_c = E[1/(v_c + ε)]. The activation passes φ'(max)²: the
    ReLU at a window's maximum is open unless all k taps are closed, so its share is
    A_c = a² + (1 − a²)·P(max of k > 0) (`moments.open_at_max`: 1 − (1 − p_c)^k for independent taps,
    with the taps' correlation within the channel ρ_w as the pool's max_moments takes it), not
    D_c = E[φ'²] = a² + (1 − a²)·p_c. A route without a window (a reader that is not a max pool, or
    one that states a factor f) passes f·D_c. So the activation's input receives
    E_c[g_c·N_c]·r/E_c[g_c] per unit of the r the batchnorm's input receives (E_c[g_c]·r), with
    N_c = Σ_routes share·(A_c or f·D_c), and the factor relative to the activation's own E[φ'²] =
    E_c[D_c] (what its backward multiplies r by) is E_c[g_c·N_c]/(E_c[g_c]·E_c[D_c]). For ReLU read
    by one max pool: E_c[g_c·(1 − (1 − p_c)^k)]/E_c[g_c] in all, neither the pool's factor over
    every channel (the gain is largest in the nearly dead channels, whose maxima are mostly closed)
    nor the profile alone with p_c (a maximum is open unless all k taps are closed)."""
    import numpy as np

    from .. import moments

    mus, w, g, s = np.asarray(grid.mus, float), np.asarray(grid.w, float), np.asarray(grid.gain, float), grid.s
    a2 = (grid.args.get("negative_slope") or 0.0) ** 2 if grid.op == "leaky_relu" else 0.0
    d = a2 + (1 - a2) * moments.ncdf(mus / s)
    n = np.zeros_like(mus)
    for share, f, window in parts:
        if window is None:
            n += share * f * d
        else:
            k, rho = window
            n += share * (a2 + (1 - a2) * moments.open_at_max(k, mus, s, rho))
    gd = float((w * g).sum()) * float((w * d).sum())
    return float((w * g * n).sum()) / gd if gd > 0 else 1.0


def _raw(op, args, mu, s, env):
    """[E[φ^j], j = 1..4] of (leaky) ReLU at each mean μ, within-channel standard deviation s:
    φ(x)^j = relu(x)^j + (−a)^j·relu(−x)^j (disjoint supports)."""
    mom = env.moments
    pos = mom.relu_raw_moments(mu, s)
    if op == "relu":
        return pos
    a = args.get("negative_slope") or 0.0
    neg = mom.relu_raw_moments(-mu, s)
    return [p + (-a) ** j * q for j, (p, q) in enumerate(zip(pos, neg, strict=True), start=1)]


def channel_max(grid: ChannelGrid, k: int, rho: float) -> tuple[float, float, float]:
    """(E[y], E[y²], E_c[E[y | c]²]) of a max pool's output y over windows of k taps (correlation ρ
    within a channel) of the batchnorm of φ(z), z's channels with their own means [MF; A: equicorrelated
    taps, the batch's variance independent of the window's values].

    The batchnorm maps channel c by y = (t − E[t | c])·a_c, a_c² ≈ E[1/(v_c + ε)] (its gain g_c, from
    the channel's own variance), increasing, so a window's maximum is a_c·(max t − E[t | c]) and
    max t = φ(max z) (φ increasing): with M₁, M₂ the first two moments of φ(max of k) in the channel
    (moments.max_moments at μ_c, s, ρ), E[y²] = E_c[g_c·(M₂ − 2·E[t | c]·M₁ + E[t | c]²)] and the
    channel's mean √g_c·(M₁ − E[t | c]). A single map over all channels (Sig.affine's a, b) would
    take one variance for every channel and the channels' means for one: the nearly dead channels
    (a tiny variance, a large a_c) and each channel's own centre are what the maximum depends on.
    The channels' grid at 161 of its points (every 15th of channel_spread's: 0.15 of the channel means'
    deviation), where it weighs."""
    import numpy as np

    from .. import moments

    phi, _ = moments.function(grid.op, grid.args)
    idx = np.arange(0, len(grid.mus), max((len(grid.mus) - 1) // 160, 1))
    w = np.asarray(grid.w, float)[idx]
    idx, w = idx[w > 1e-14 * w.max()], w[w > 1e-14 * w.max()]
    w = w / w.sum()
    m1, m2 = np.array([moments.max_moments(phi, k, float(grid.mus[i]), grid.s, rho) for i in idx]).T
    mean, g = np.asarray(grid.mean, float)[idx], np.asarray(grid.gain, float)[idx]
    e2 = float((w * g * (m2 - 2 * mean * m1 + mean * mean)).sum())
    centre = np.sqrt(g) * (m1 - mean)
    return float((w * centre).sum()), e2, float((w * centre * centre).sum())
