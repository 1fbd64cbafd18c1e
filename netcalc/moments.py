"""Expectations of functions of Gaussian variables, for the variance report (NumPy; imported only
by `netcalc signal` and `verify`).

Everything here is an expectation over x ~ N(μ, s²) (or a pair, or k equicorrelated variables):
closed forms where they exist (ReLU and leaky ReLU), a dense trapezoid rule on [−12, 12]
standard deviations for one variable (accurate to ~1e−6 even for kinked functions such as relu6),
Gauss–Hermite quadrature for pairs, and a fixed-seed Monte Carlo for the softmax (a function of
n variables).
"""

from __future__ import annotations

import math

import numpy as np

SQRT2 = math.sqrt(2.0)
_Z = np.linspace(-12.0, 12.0, 4801)
_W = np.exp(-0.5 * _Z**2) / math.sqrt(2 * math.pi) * (_Z[1] - _Z[0])
_W[0] *= 0.5
_W[-1] *= 0.5
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(48)
_GH_W = _GH_W / math.sqrt(2 * math.pi)


def ncdf(x):
    from math import erfc

    if np.ndim(x):
        return 0.5 * _erfc(-np.asarray(x) / SQRT2)
    return 0.5 * erfc(-x / SQRT2)


def npdf(x):
    return np.exp(-0.5 * np.asarray(x) ** 2) / math.sqrt(2 * math.pi)


def _erfc(x):
    return np.vectorize(math.erfc, otypes=[float])(x)


# --------------------------------------------------------------------------- elementwise functions


def _selu(x):
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return scale * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def _selu_d(x):
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return scale * np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0)))


def _gelu(x, approximate):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return x * ncdf(x) if np.ndim(x) == 0 else x * 0.5 * (1 + _erf(x / SQRT2))


def _erf(x):
    return np.vectorize(math.erf, otypes=[float])(x)


def _gelu_d(x, approximate):
    if approximate == "tanh":
        c = math.sqrt(2 / math.pi)
        u = c * (x + 0.044715 * x**3)
        t = np.tanh(u)
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x)
    return 0.5 * (1 + _erf(x / SQRT2)) + x * npdf(x)


def _sigmoid(x):
    return 0.5 * (1 + np.tanh(0.5 * x))


def function(name: str, p: dict):
    """(φ, φ') as NumPy functions for an activation op and its arguments."""
    if name == "relu":
        return (lambda x: np.maximum(x, 0.0)), (lambda x: (x > 0).astype(float))
    if name == "relu6":
        return (lambda x: np.clip(x, 0.0, 6.0)), (lambda x: ((x > 0) & (x < 6)).astype(float))
    if name == "leaky_relu":
        a = p["negative_slope"]
        return (lambda x: np.where(x > 0, x, a * x)), (lambda x: np.where(x > 0, 1.0, a))
    if name == "elu":
        al = p["alpha"]
        return (lambda x: np.where(x > 0, x, al * np.expm1(np.minimum(x, 0)))), (
            lambda x: np.where(x > 0, 1.0, al * np.exp(np.minimum(x, 0)))
        )
    if name == "selu":
        return _selu, _selu_d
    if name == "gelu":
        ap = p.get("approximate", "none")
        return (lambda x: _gelu(x, ap)), (lambda x: _gelu_d(x, ap))
    if name == "sigmoid":
        return _sigmoid, (lambda x: _sigmoid(x) * (1 - _sigmoid(x)))
    if name == "tanh":
        return np.tanh, (lambda x: 1 - np.tanh(x) ** 2)
    if name == "identity":
        return (lambda x: x), (lambda x: np.ones_like(x))
    raise ValueError(f"no function for {name!r}")


# --------------------------------------------------------------------------- one Gaussian


def relu_moments(mu, s):
    """E[relu(x)], E[relu(x)²], E[relu'(x)²] for x ~ N(μ, s²), closed form (arrays allowed)."""
    mu = np.asarray(mu, float)
    s = np.asarray(s, float)
    pos = s > 0
    safe = np.where(pos, s, 1.0)
    t = np.where(pos, mu / safe, 0.0)
    big = np.where(pos, ncdf(t), (mu > 0).astype(float))
    small = np.where(pos, npdf(t), 0.0)
    m1 = np.where(pos, mu * big + s * small, np.maximum(mu, 0.0))
    m2 = np.where(pos, (mu * mu + s * s) * big + mu * s * small, np.maximum(mu, 0.0) ** 2)
    return m1, m2, big


def relu_raw_moments(mu, s, n: int = 4) -> list:
    """[E[relu(x)^j] for j = 1..n], x ~ N(μ, s²), s > 0, closed form (arrays allowed): with α = μ/s,
    E[(α + z)^j·1{z > −α}] = Σ_i C(j, i)·α^(j−i)·I_i, I_i = E[z^i·1{z > −α}] (I₀ = Φ(α), I₁ = φ(α),
    I_i = (i − 1)·I_(i−2) + (−α)^(i−1)·φ(α))."""
    a = np.asarray(mu, float) / np.asarray(s, float)
    pdf = npdf(a)
    ints = [ncdf(a), pdf]
    for i in range(2, n + 1):
        ints.append((i - 1) * ints[i - 2] + (-a) ** (i - 1) * pdf)
    s = np.asarray(s, float)
    return [s**j * sum(math.comb(j, i) * a ** (j - i) * ints[i] for i in range(j + 1)) for j in range(1, n + 1)]


def kurtosis(m1, m2, m3, m4):
    """E[(x − E x)⁴]/Var(x)² from the raw moments (3 for a Gaussian; at least 1)."""
    var = np.maximum(m2 - m1 * m1, 1e-300)
    c4 = m4 - 4 * m1 * m3 + 6 * m1 * m1 * m2 - 3 * m1**4
    return np.maximum(c4 / (var * var), 1.0)


def sample_variance_nodes(m: int, kurt, n: int = 1201):
    """Nodes and weights of G = (biased variance of m iid values)/(population variance), as a gamma
    variable with the exact mean (m − 1)/m and variance: (m − 1)/m times Gamma(k, 1/k), with
    k = m(m − 1)/(κ(m − 1) − (m − 3)) — (m − 1)/2 for Gaussian values (κ = 3), where it is exactly
    χ²_(m−1)/m. One row per kurtosis κ (arrays allowed): nodes uniform in log G over the gamma's mass
    (the integrands 1/(v + ε) need the small variances), weights the density on them, each row
    summing to 1."""
    kurt = np.atleast_1d(np.asarray(kurt, float))
    k = m * (m - 1) / np.maximum(kurt * (m - 1) - (m - 3), 1e-12)
    lo = -(40 / k + 8 / np.sqrt(k))
    hi = np.log1p(40 / k + 8 / np.sqrt(k))
    t = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, n)[None, :]
    logw = k[:, None] * (t - np.exp(t))
    w = np.exp(logw - logw.max(axis=1, keepdims=True))
    w[:, 0] *= 0.5
    w[:, -1] *= 0.5
    w /= w.sum(axis=1, keepdims=True)
    return (m - 1) / m * np.exp(t), w


_X = np.arange(-4000, 4001) / 100.0  # where the activations' features live, in absolute units (0 and 6 exactly)
BREAKS = (0.0, 6.0)  # where φ' of relu, relu6, leaky relu, elu, selu jumps


def _grid(mu: float, s: float):
    """Points and trapezoid weights (the density included) for an expectation over N(μ, s²): ±12
    standard deviations around μ, merged with [−40, 40] in absolute units where activations bend."""
    x = np.union1d(mu + s * _Z, _X[(mu - 12 * s < _X) & (mu + 12 * s > _X)])
    dens = np.exp(-0.5 * ((x - mu) / s) ** 2) / (s * math.sqrt(2 * math.pi))
    w = np.zeros_like(x)
    dx = np.diff(x)
    w[:-1] += dx / 2
    w[1:] += dx / 2
    return x, w * dens


def _at_breaks(dphi, x, values, square: bool):
    """At a jump of φ' that falls on a grid point, the trapezoid needs the mean of both sides."""
    for b in BREAKS:
        at = x == b
        if at.any():
            left, right = dphi(np.asarray([b - 1e-9]))[0], dphi(np.asarray([b + 1e-9]))[0]
            values[at] = 0.5 * (left**2 + right**2) if square else 0.5 * (left + right)
    return values


def gauss_moments(phi, dphi, mu, s):
    """E[φ(x)], E[φ(x)²], E[φ'(x)²] for x ~ N(μ, s²) (arrays of s allowed), to about 1e−6.

    A trapezoid rule on the union of two grids: ±12 standard deviations around μ (where the
    density lives) and [−40, 40] in absolute units (where a sigmoid or tanh bends), so that a very
    wide input (s = 10⁷) still sees the narrow region where φ' is not 0."""
    s = np.atleast_1d(np.asarray(s, float))
    out = np.empty((3, s.size))
    for i, si in enumerate(s.ravel()):
        if si <= 0:
            x = np.asarray([float(mu)])
            out[:, i] = phi(x)[0], phi(x)[0] ** 2, dphi(x)[0] ** 2
            continue
        x, w = _grid(mu, si)
        f = phi(x)
        d2 = _at_breaks(dphi, x, dphi(x) ** 2, square=True)
        out[:, i] = (f * w).sum(), (f * f * w).sum(), (d2 * w).sum()
    shape = np.shape(s) if np.ndim(s) else ()
    return tuple(v.reshape(shape) for v in out)


def activation_moments(name: str, p: dict, mu: float, q):
    """(E[φ], E[φ²], E[φ'²]) for pre-activations of mean μ and second moment q (an array of positions).

    ReLU and leaky ReLU in closed form ([E] given a Gaussian, and exact for any symmetric
    zero-mean input); every other function by quadrature.
    """
    q = np.asarray(q, float)
    s = np.sqrt(np.maximum(q - mu * mu, 0.0))
    if name == "relu":
        return relu_moments(mu, s)
    if name == "leaky_relu":
        a = p["negative_slope"]
        m1p, m2p, dp = relu_moments(mu, s)
        m1n, m2n, dn = relu_moments(-mu, s)
        return m1p - a * m1n, m2p + a * a * m2n, dp + a * a * dn
    if name == "identity":
        return np.full_like(q, mu), q, np.ones_like(q)
    phi, dphi = function(name, p)
    flat = s.ravel()
    uniq, inverse = np.unique(np.round(flat, 12), return_inverse=True)
    if uniq.size > 256:  # many distinct positions: interpolate on a log grid
        grid = np.geomspace(max(uniq.min(), 1e-12), max(uniq.max(), 1e-12), 256)
        m1, m2, d2 = gauss_moments(phi, dphi, mu, grid)
        lg = np.log(np.maximum(flat, 1e-12))
        out = [np.interp(lg, np.log(grid), v).reshape(s.shape) for v in (m1, m2, d2)]
        return tuple(out)
    m1, m2, d2 = _memo_moments(name, p, mu, uniq, phi, dphi)
    return tuple(v[inverse].reshape(s.shape) for v in (m1, m2, d2))


_MEMO: dict = {}  # (function, its parameters, μ, s) -> gauss_moments' three values
MEMO_SIZE = 100_000


def _memo_moments(name: str, p: dict, mu: float, s: np.ndarray, phi, dphi):
    """gauss_moments at each s, each worked out once per run: a recurrent layer's gates ask for the
    same few (μ, s) at nearly every step (an LSTM over 1,000 steps: 6,752 asks, 300 distinct)."""
    if not (np.all(np.isfinite(s)) and math.isfinite(mu)):  # nan is no dictionary key: work it out as it is
        return gauss_moments(phi, dphi, mu, s)
    fn = (name, repr(sorted(p.items())), float(mu))
    missing = [v for v in s.tolist() if (fn, v) not in _MEMO]
    if missing:
        if len(_MEMO) > MEMO_SIZE:
            _MEMO.clear()
        for v, *vals in zip(missing, *gauss_moments(phi, dphi, mu, np.asarray(missing)), strict=True):
            _MEMO[(fn, v)] = tuple(vals)
    return tuple(np.asarray(col) for col in zip(*(_MEMO[(fn, v)] for v in s.tolist()), strict=True))


def slope_mean(name: str, p: dict, mu: float, q: float) -> float:
    """E[φ'(x)] for x ~ N(μ, q − μ²) (the same trapezoid rule)."""
    s = math.sqrt(max(q - mu * mu, 0.0))
    if name == "softmax":
        return 1.0
    if name in ("relu", "leaky_relu") and s > 0:  # closed form: φ' is 1 above 0 (a below): Φ(μ/s)
        up = float(ncdf(mu / s))
        return up + (p["negative_slope"] * (1.0 - up) if name == "leaky_relu" else 0.0)
    _, dphi = function(name, p)
    if s == 0:
        return float(dphi(np.asarray([mu]))[0])
    x, w = _grid(mu, s)
    d = _at_breaks(dphi, x, dphi(x), square=False)
    return float((d * w).sum())


# --------------------------------------------------------------------------- two Gaussians


def pair_moment(phi, mu: float, v: float, cov: float) -> float:
    """E[φ(x)φ(y)] for x, y ~ N(μ, v) with covariance cov (Gauss–Hermite, 48 × 48 nodes)."""
    if v <= 0:
        return float(phi(np.asarray(mu)) ** 2)
    rho = max(-1.0, min(1.0, cov / v))
    sd = math.sqrt(v)
    z1 = _GH_X[:, None]
    z2 = _GH_X[None, :]
    x = mu + sd * z1
    y = mu + sd * (rho * z1 + math.sqrt(max(1 - rho * rho, 0.0)) * z2)
    w = _GH_W[:, None] * _GH_W[None, :]
    return float((phi(x) * phi(y) * w).sum())


def relu_kernel(c: float) -> float:
    """Arc-cosine kernel of degree 1 (Cho & Saul 2009), normalised: the correlation of relu(x),
    relu(y) for zero-mean Gaussians of correlation c is (sin θ + (π − θ)·c)/π, θ = arccos c."""
    c = max(-1.0, min(1.0, c))
    th = math.acos(c)
    return (math.sin(th) + (math.pi - th) * c) / math.pi


def sum_moments(name: str, p: dict, parts: list) -> tuple[float, float, float]:
    """(E[φ(u + v)], E[φ(u + v)²], E[φ'(u + v)²]) for the sum of two independent terms, each a
    Gaussian N(μ, s²) or ψ(N(μ, s²)) for an activation ψ (a residual sum of a normalised branch and
    a rectified skip is not Gaussian); 2-D Gauss–Hermite with 64 × 64 nodes."""
    x, w = np.polynomial.hermite_e.hermegauss(64)
    w = w / math.sqrt(2 * math.pi)
    vals = []
    for op, args, mu, s in parts:
        v = mu + s * x
        vals.append(function(op, args)[0](v) if op else v)
    tot = vals[0][:, None] + vals[1][None, :]
    ww = w[:, None] * w[None, :]
    phi, dphi = function(name, p)
    f = phi(tot)
    d = dphi(tot)
    return float((f * ww).sum()), float((f * f * ww).sum()), float((d * d * ww).sum())


# --------------------------------------------------------------------------- max of k Gaussians

_MZ = np.linspace(-9.0, 9.0, 1801)


def max_moment(g, k: int, mu: float, s: float, rho: float) -> float:
    return max_moments(g, k, mu, s, rho)[1]


def max_moments(g, k: int, mu: float, s: float, rho: float) -> tuple[float, float]:
    """(E[g(max of k)], E[g(max of k)²]) for k equicorrelated N(μ, s²) variables (correlation ρ ≥ 0).

    z_i = μ + s(√ρ·u + √(1 − ρ)·e_i): the max is μ + s√ρ·u + s√(1 − ρ)·M with M the max of k iid
    standard normals, density k·φ(x)Φ(x)^(k−1); one Gauss–Hermite axis (u) and one dense grid (M).
    """
    rho = min(max(rho, 0.0), 1.0)
    dens = k * npdf(_MZ) * ncdf(_MZ) ** (k - 1)
    wm = dens * (_MZ[1] - _MZ[0])
    wm /= wm.sum()
    val = mu + s * math.sqrt(rho) * _GH_X[:, None] + s * math.sqrt(1 - rho) * _MZ[None, :]
    f = g(val)
    w = _GH_W[:, None] * wm[None, :]
    return float((f * w).sum()), float((f * f * w).sum())


def open_at_max(k: int, mu, s: float, rho: float):
    """P(max of k > 0) for k equicorrelated N(μ, s²) variables (correlation ρ ≥ 0), μ an array: the
    probability that a (leaky) ReLU is open where a max pool of its output takes the maximum. The
    max is ≤ 0 only when every z_i is: with z_i = μ + s(√ρ·u + √(1 − ρ)·e_i) and the e_i iid given u,
    P(max ≤ 0) = E_u[Φ(−(μ + s√ρ·u)/(s√(1 − ρ)))^k] (Gauss–Hermite over u); independent taps (ρ = 0):
    1 − (1 − Φ(μ/s))^k; ρ = 1: Φ(μ/s)."""
    mu = np.asarray(mu, float)
    rho = min(max(rho, 0.0), 1.0)
    if s <= 0:
        return (mu > 0).astype(float)
    if rho >= 1.0 - 1e-12:
        return ncdf(mu / s)
    shut = ncdf(-(mu[..., None] + s * math.sqrt(rho) * _GH_X) / (s * math.sqrt(1 - rho))) ** k
    return 1.0 - (shut * _GH_W).sum(axis=-1)


def max_squared_iid(k: int) -> float:
    """m₂(k) = E[max²] of k iid N(0, 1) (1.000 for k = 2, 1.276 for 3, 1.551 for 4)."""
    return max_moment(lambda x: x, k, 0.0, 1.0, 0.0)


# --------------------------------------------------------------------------- softmax


def softmax_moments(n: int, mu: float, v: float, samples: int = 4000, seed: int = 12345):
    """For logits iid N(μ, v) over n classes (fixed-seed Monte Carlo, [A]):
    E[p²] (mean over classes), the backward gain E[(Jᵀg)²] for g ~ N(0, 1), and P(max p > 0.9)."""
    rng = np.random.default_rng(seed)
    samples = max(200, min(samples, 4_000_000 // max(n, 1)))
    z = rng.normal(mu, math.sqrt(max(v, 0.0)), size=(samples, n))
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    g = rng.normal(0.0, 1.0, size=(samples, n))
    dx = p * (g - (p * g).sum(axis=1, keepdims=True))
    return float((p * p).mean()), float((dx * dx).mean()), float((p.max(axis=1) > 0.9).mean())
