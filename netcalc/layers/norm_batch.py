"""Batchnorm's batch statistics: what a finite batch changes in its signal rules (netcalc.layers.norm).
NumPy; imported by the signal rules only."""

from __future__ import annotations

import numpy as np

from .. import moments


def batch_stats(var, eps: float, m: int | None, kurt=3.0):
    """Over the batch variance v of a channel's m values (population variance `var`, kurtosis κ; an
    array of channels allowed): (E[a], E[1/(v + ε)], E[(2a − a²)/(v + ε)]), a = v/(v + ε).

    In training mode batchnorm divides by √(v + ε), v the biased variance of the m = B·positions
    values of a channel in the batch, so Σ x̂² = m·a: E[x̂²] = E[a], 1 less ε's share — with a small m,
    or small variances against ε, the batch variance is often far below `var`. Backward
    dx = (dy − 1·(1ᵀdy)/m − x̂·(x̂ᵀdy)/m)/√(v + ε): (I − Q₁ − (2a − a²)·Q_x̂) in second moment, Q the
    projections on the constant and on x̂ (‖x̂‖² = m·a); a gradient independent of x̂ loses 1/m of
    its second moment to Q_x̂ (and gmean/B to Q₁: bn_keep), and the rest is divided by v + ε with v
    from the same batch. v/var is (m − 1)/m·χ²_(m−1)/(m − 1) for Gaussian values, a gamma variable of
    the same mean and variance for others (moments.sample_variance_nodes) [A]. m None: an infinite
    batch (v = var); m ≤ 1: v = 0 (the output is β, no gradient passes)."""
    var = np.asarray(var, float)
    if m is None:
        return var / (var + eps), 1.0 / (var + eps), np.zeros_like(var)
    if m <= 1:
        return np.zeros_like(var), np.full_like(var, 1.0 / eps) if eps > 0 else np.full_like(var, np.inf), \
            np.zeros_like(var)  # fmt: skip
    nodes, w = moments.sample_variance_nodes(m, np.broadcast_to(kurt, var.shape).ravel() if var.ndim else kurt)
    v = var.reshape(-1, 1) * nodes
    inv = 1.0 / (v + eps)
    a = v * inv
    out = [(w * f).sum(axis=1).reshape(var.shape) for f in (a, inv, (2 * a - a * a) * inv)]
    return tuple(out)


def kurtosis(x) -> float:
    """The kurtosis of one element's distribution within a channel: 3 for a Gaussian (a weighted
    sum's output), from the atoms of an activation's output (signal_rules.quantiles)."""
    if x.pre is None and x.samples is None:
        return 3.0
    from ..signal_rules import quantiles

    v, w = quantiles(x)
    mean = float((w * v).sum())
    c2 = float((w * (v - mean) ** 2).sum())
    c4 = float((w * (v - mean) ** 4).sum())
    return max(c4 / (c2 * c2), 1.0) if c2 > 0 else 3.0
