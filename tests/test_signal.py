"""`netcalc signal`: the Gaussian expectations (netcalc.moments), the per-layer rules, the backward pass,
the growth totals and the command line, each against a number derived by hand (derivation in the
comment) or computed here by an independent path: a midpoint rule written in this file, a closed
form with math.erf, or a seeded NumPy Monte Carlo with ≥ 10⁶ samples. Never netcalc.moments to check
netcalc.moments.

Tolerances, and why:
- closed forms and exact rules ([E] with hand numbers): 1e-12 relative (rounding only);
- netcalc's quadrature against an integral written here: 1e-5 (netcalc.moments documents ~1e-6 for its
  trapezoid rule, step h = 0.005 std; a kink of the integrand on its node at 0 costs about
  (h²/12)·Δslope·φ(0): 1.7e-6 for ELU α = 1 at q = 1, 3.3e-6 at q = 4; the midpoint rule here is good
  to ~1e-9);
- Monte Carlo: 4 standard errors, the SE measured from the same samples;
- the doc's tables: half a unit of the doc's last digit.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from cli_run import ROOT, netcalc
from conftest import run_spec

from netcalc import moments as M
from netcalc.analyze import analyze
from netcalc.diagnostics import Diagnostics
from netcalc.signal import advise, propagate
from netcalc.spec import load

REL = 1e-12
QUAD = 1e-5
SPECS = ROOT / "specs"

# ============================================================================= independent tools

_ERF = np.vectorize(math.erf, otypes=[float])


def Phi(x):
    return 0.5 * (1 + _ERF(np.asarray(x, float) / math.sqrt(2)))


def phi(x):
    return np.exp(-0.5 * np.asarray(x, float) ** 2) / math.sqrt(2 * math.pi)


def Phi1(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def phi1(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


_L, _N = 14.0, 400_000  # an even number of cells: 0 is a cell edge, never a node
_H = 2 * _L / _N
_Z = -_L + (np.arange(_N) + 0.5) * _H
_WZ = np.exp(-0.5 * _Z * _Z) / math.sqrt(2 * math.pi) * _H


def gauss_expect(f, mu: float = 0.0, s: float = 1.0) -> float:
    """E[f(x)] for x ~ N(μ, s²): a midpoint rule on ±14 standard deviations, 4·10⁵ cells."""
    return float((f(mu + s * _Z) * _WZ).sum())


def raw_expect(f, q: float, lim: float = 60.0, n: int = 1_200_000) -> float:
    """E[f(x)] for x ~ N(0, q) with f negligible beyond ±lim: a midpoint rule in x itself (for
    functions much narrower than √q, where a grid in standard deviations would step over them)."""
    h = 2 * lim / n
    x = -lim + (np.arange(n) + 0.5) * h
    dens = np.exp(-x * x / (2 * q)) / math.sqrt(2 * math.pi * q)
    return float((f(x) * dens).sum() * h)


_MX = np.linspace(-12, 12, 480_001)
_MH = _MX[1] - _MX[0]
_MPHI = phi(_MX)
_MCDF = Phi(_MX)


def max_iid(g, k: int) -> float:
    """E[g(max of k iid N(0, 1))] = ∫ g(x)·k·φ(x)·Φ(x)^(k−1) dx (trapezoid, 480,001 nodes)."""
    f = g(_MX) * k * _MPHI * _MCDF ** (k - 1)
    return float((f.sum() - 0.5 * (f[0] + f[-1])) * _MH)


def relu(x):
    return np.maximum(x, 0.0)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def mc_mean(values: np.ndarray) -> tuple[float, float]:
    """(mean, standard error) of samples."""
    return float(values.mean()), float(values.std() / math.sqrt(values.size))


# ============================================================================= helpers for specs


def report(text: str, override=None):
    analysis, diags = run_spec(text)
    assert analysis is not None, [d.format() for d in diags.sorted()]
    return propagate(analysis, override)


def bundled(name: str, band: float = 10.0):
    d = Diagnostics()
    a = analyze(load(str(SPECS / f"{name}.yaml"), d), d)
    rep = propagate(a)
    advise(rep, band, d)
    return rep, d


def advised(text: str, band: float = 10.0):
    analysis, diags = run_spec(text)
    assert analysis is not None, [d.format() for d in diags.sorted()]
    rep = propagate(analysis)
    advise(rep, band, diags)
    return rep, diags


def codes(diags, code: str) -> list:
    return [d for d in diags.sorted() if d.code == code]


# ============================================================================= 2. netcalc.moments


def act(name, q, mu=0.0, **p):
    """netcalc's (E[φ], E[φ²], E[φ'²]) at one second moment q, as floats."""
    m1, m2, d2 = M.activation_moments(name, p, mu, np.array([float(q)]))
    return float(m1[0]), float(m2[0]), float(d2[0])


def dtanh(x):
    return 1 - np.tanh(x) ** 2


def dsigmoid(x):
    s = sigmoid(x)
    return s * (1 - s)


def gelu(x):
    return x * Phi(x)


def dgelu(x):
    return Phi(x) + x * phi(x)


@pytest.mark.parametrize("q", [0.25, 1.0, 4.0, 16.0])
def test_tanh_sigmoid_gelu_against_an_independent_integral(q):
    s = math.sqrt(q)
    for name, f, df in (("tanh", np.tanh, dtanh), ("sigmoid", sigmoid, dsigmoid), ("gelu", gelu, dgelu)):
        extra = {"approximate": "none"} if name == "gelu" else {}
        _, e2, d2 = act(name, q, **extra)
        assert e2 == pytest.approx(gauss_expect(lambda x, f=f: f(x) ** 2, 0.0, s), abs=QUAD, rel=QUAD), (name, q)
        assert d2 == pytest.approx(gauss_expect(lambda x, df=df: df(x) ** 2, 0.0, s), abs=QUAD, rel=QUAD), (name, q)


# The doc's table (signal-propagation.md §1), to its printed precision (±5e-4 for 3 decimals, ±5e-3 for
# 1.93). Two printed entries disagree with the integral and are left out here, reported instead:
# tanh q = 16: E[φ²] = 0.8054 (doc 0.807) and E[φ'²] = 0.1317 (doc 0.124).
DOC_TABLE = [
    ("tanh", 0.25, 2, 0.174), ("tanh", 1, 2, 0.394), ("tanh", 4, 2, 0.635),
    ("tanh", 0.25, 3, 0.717), ("tanh", 1, 3, 0.464), ("tanh", 4, 3, 0.256),
    ("sigmoid", 1, 2, 0.293), ("sigmoid", 4, 2, 0.349), ("sigmoid", 16, 2, 0.409),
    ("gelu", 1, 2, 0.425), ("gelu", 4, 2, 1.93), ("gelu", 1, 3, 0.456), ("gelu", 4, 3, 0.506),
]  # fmt: skip


@pytest.mark.parametrize("name, q, which, value", DOC_TABLE)
def test_doc_table_values(name, q, which, value):
    f, df = {"tanh": (np.tanh, dtanh), "sigmoid": (sigmoid, dsigmoid), "gelu": (gelu, dgelu)}[name]
    s = math.sqrt(q)
    independent = gauss_expect((lambda x: f(x) ** 2) if which == 2 else (lambda x: df(x) ** 2), 0.0, s)
    half_digit = 0.005 if value == 1.93 else 0.0005
    assert abs(independent - value) <= half_digit
    extra = {"approximate": "none"} if name == "gelu" else {}
    assert abs(act(name, q, **extra)[1 if which == 2 else 2] - value) <= half_digit


def test_sigmoid_probit_approximation_is_within_two_percent_up_to_q16():
    # doc: E[σ(x)²] ≈ 1/4 + arcsin(a²q/(1 + a²q))/(2π), a² = π/8, within 2 % for q ≤ 16
    a2 = math.pi / 8
    for q in (0.25, 1, 4, 9, 16):
        approx = 0.25 + math.asin(a2 * q / (1 + a2 * q)) / (2 * math.pi)
        exact = gauss_expect(lambda x: sigmoid(x) ** 2, 0.0, math.sqrt(q))
        assert abs(approx / exact - 1) < 0.02
        assert act("sigmoid", q)[1] == pytest.approx(exact, abs=QUAD)


def test_gelu_tends_to_half_q():
    # GELU(x) = xΦ(x) → relu for large |x|: E[φ²] → q/2 (q = 100: 49.98, within 0.05 %)
    e2 = act("gelu", 100.0, approximate="none")[1]
    assert e2 == pytest.approx(gauss_expect(lambda x: gelu(x) ** 2, 0.0, 10.0), rel=QUAD)
    assert e2 == pytest.approx(50.0, rel=5e-4)


SELU_A, SELU_L = 1.6732632423543772, 1.0507009873554805


def test_selu_fixed_point_at_q1():
    # x ~ N(0, 1): E[e^{tx}; x < 0] = e^{t²/2}Φ(−t). E[selu²] = λ²[1/2 + α²(e²Φ(−2) − 2e^{1/2}Φ(−1) + 1/2)]
    # = 1 (the self-normalising constants), E[selu] = λ[φ(0) + α(e^{1/2}Φ(−1) − 1/2)] = 0.
    e2 = SELU_L**2 * (0.5 + SELU_A**2 * (math.exp(2) * Phi1(-2) - 2 * math.exp(0.5) * Phi1(-1) + 0.5))
    e1 = SELU_L * (phi1(0) + SELU_A * (math.exp(0.5) * Phi1(-1) - 0.5))
    assert e2 == pytest.approx(1.0, abs=1e-9)
    assert e1 == pytest.approx(0.0, abs=1e-9)
    m1, m2, _ = act("selu", 1.0)
    assert m2 == pytest.approx(1.0, abs=QUAD)
    assert m1 == pytest.approx(0.0, abs=QUAD)


@pytest.mark.parametrize("q", [1.0, 4.0])
def test_elu_alpha_1_closed_form(q):
    # x ~ N(0, q), s = √q: E[elu²] = q/2 + e^{2q}Φ(−2s) − 2e^{q/2}Φ(−s) + 1/2; E[elu'²] = 1/2 + e^{2q}Φ(−2s)
    s = math.sqrt(q)
    e2 = q / 2 + math.exp(2 * q) * Phi1(-2 * s) - 2 * math.exp(q / 2) * Phi1(-s) + 0.5
    d2 = 0.5 + math.exp(2 * q) * Phi1(-2 * s)
    _, m2, md2 = act("elu", q, alpha=1.0)
    assert m2 == pytest.approx(e2, rel=QUAD)
    assert md2 == pytest.approx(d2, rel=QUAD)


@pytest.mark.parametrize("q", [1.0, 16.0, 100.0])
def test_relu6_second_moment(q):
    # continuous: netcalc's trapezoid against the midpoint rule here
    s = math.sqrt(q)
    assert act("relu6", q)[1] == pytest.approx(gauss_expect(lambda x: np.clip(x, 0, 6) ** 2, 0.0, s), rel=1e-5)


# Backward gains of functions whose derivative jumps at 0 (relu6, selu, elu with α ≠ 1): netcalc's
# trapezoid has a node exactly at x = 0 and takes the one-sided value there, an error of
# φ(0)·0.005·|jump|/2 (the module docstring claims ~1e-6 "even for kinked functions such as relu6").
KINKED = [
    # relu6' = 1 on (0, 6): E = Φ(6/s) − 1/2                 netcalc 0.499003 vs 0.4999999990 (gap 1.0e-3)
    ("relu6", 1.0, {}, Phi1(6.0) - 0.5),
    # relu6 at q = 16: Φ(1.5) − 1/2 = 0.433193               netcalc 0.431871 (both kinks on nodes, gap 1.3e-3)
    ("relu6", 16.0, {}, Phi1(1.5) - 0.5),
    # selu'² = λ² on x > 0, λ²α²e^{2x} below: λ²[1/2 + α²e²Φ(−2)] = 1.071575   netcalc 1.073562 (gap 2.0e-3)
    ("selu", 1.0, {}, SELU_L**2 * (0.5 + SELU_A**2 * math.exp(2) * Phi1(-2))),
    # elu α = 0.5: 1/2 + α²e²Φ(−2) = 0.542026                netcalc 0.541278 (gap 7.5e-4)
    ("elu", 1.0, {"alpha": 0.5}, 0.5 + 0.25 * math.exp(2) * Phi1(-2)),
]


@pytest.mark.parametrize("name, q, p, exact", KINKED, ids=[f"{k[0]}-q{k[1]}-{k[2]}" for k in KINKED])
def test_backward_gain_of_kinked_functions(name, q, p, exact):
    # a jump (not a kink) in φ'²: an O(h) error, not O(h²); the QUAD tolerance of 1e-5
    assert act(name, q, **p)[2] == pytest.approx(exact, abs=QUAD)


# At large q the grid (4801 nodes over ±12 std: a step of 0.005·√q) steps over sigmoid' and tanh',
# which live on |x| ≲ 5: the node at 0 alone contributes σ'(0)²·φ(0)·0.005 = 1.25e-4.
# Exact (integral in x, ≈ (∫σ'²)/√(2πq) = (1/6)/√(2πq) for sigmoid, (4/3)/√(2πq) for tanh):
#   q = 1e6: sigmoid 6.649e-5 (netcalc 1.248e-4, ×1.88), tanh 5.319e-4 (netcalc 1.995e-3, ×3.75);
#   q = 1.97e15 (the sigmoid of alexnet-lite-n01): sigmoid 1.498e-9 (netcalc 1.247e-4, ×8.3e4).
@pytest.mark.parametrize("name, q", [("sigmoid", 1e6), ("tanh", 1e6), ("sigmoid", 1.97e15)])
def test_backward_gain_of_saturated_sigmoid_and_tanh(name, q):
    df = dsigmoid if name == "sigmoid" else dtanh
    exact = raw_expect(lambda x: df(x) ** 2, q)
    assert act(name, q)[2] == pytest.approx(exact, rel=0.01)


def test_saturated_gain_is_right_up_to_q_1e4():
    # the same comparison passes where the grid step 0.005·√q ≤ 0.5 still resolves σ' (q ≤ 1e4)
    for name, df in (("sigmoid", dsigmoid), ("tanh", dtanh)):
        for q in (100.0, 1e4):
            assert act(name, q)[2] == pytest.approx(raw_expect(lambda x, df=df: df(x) ** 2, q), rel=1e-4)


@pytest.mark.parametrize("a", [0.01, 0.2, 0.3])
@pytest.mark.parametrize("q", [0.5, 3.0])
def test_leaky_relu_is_exact(a, q):
    # symmetric input: half the mass on each side: E[φ²] = (1 + a²)/2·q, E[φ'²] = (1 + a²)/2
    _, m2, d2 = act("leaky_relu", q, negative_slope=a)
    assert m2 == pytest.approx((1 + a * a) / 2 * q, rel=REL)
    assert d2 == pytest.approx((1 + a * a) / 2, rel=REL)


@pytest.mark.parametrize("mu, s", [(0.5, 1.0), (-1.0, 2.0), (2.0, 0.5), (0.0, 1.5)])
def test_relu_with_a_mean_doc_formula_and_monte_carlo(mu, s):
    # doc: E[relu(y)²] = (μ² + s²)Φ(μ/s) + μ·s·φ(μ/s) for y ~ N(μ, s²); E[relu'²] = Φ(μ/s)
    t = mu / s
    formula = (mu * mu + s * s) * Phi1(t) + mu * s * phi1(t)
    m1, m2, d2 = act("relu", mu * mu + s * s, mu=mu)
    assert m2 == pytest.approx(formula, rel=REL)
    assert d2 == pytest.approx(Phi1(t), rel=REL)
    assert m1 == pytest.approx(mu * Phi1(t) + s * phi1(t), rel=REL)
    y = np.random.default_rng(11).normal(mu, s, 2_000_000)
    est, se = mc_mean(relu(y) ** 2)
    assert abs(est - formula) < 4 * se


def test_relu_kernel_exact_points():
    # K(c) = (sin θ + (π − θ)c)/π: K(0) = 1/π, K(1) = 1, K(−1) = 0
    assert M.relu_kernel(0.0) == pytest.approx(1 / math.pi, rel=REL)
    assert M.relu_kernel(1.0) == pytest.approx(1.0, rel=REL)
    assert M.relu_kernel(-1.0) == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("c", [-0.5, 0.0, 0.3, 0.7, 0.95])
def test_relu_kernel_against_monte_carlo(c):
    # E[relu(u)relu(v)]/E[relu(u)²] for standard normals of correlation c; 2·10⁶ pairs
    rng = np.random.default_rng(int(1000 * (c + 1)))
    u = rng.standard_normal(2_000_000)
    v = c * u + math.sqrt(1 - c * c) * rng.standard_normal(u.size)
    est, se = mc_mean(relu(u) * relu(v) / 0.5)
    assert abs(M.relu_kernel(c) - est) < 4 * se


@pytest.mark.parametrize("mu, v, cov", [(0.0, 1.0, 0.5), (0.3, 2.0, 1.2), (0.0, 4.0, -1.0), (1.0, 0.25, 0.2)])
def test_pair_moment_tanh_against_monte_carlo(mu, v, cov):
    rng = np.random.default_rng(5)
    n = 2_000_000
    rho = cov / v
    u, e = rng.standard_normal(n), rng.standard_normal(n)
    x = mu + math.sqrt(v) * u
    y = mu + math.sqrt(v) * (rho * u + math.sqrt(1 - rho * rho) * e)
    est, se = mc_mean(np.tanh(x) * np.tanh(y))
    assert abs(M.pair_moment(np.tanh, mu, v, cov) - est) < 4 * se


# E[max²] and E[relu(max)²] of k iid N(0, 1): the doc's values and the integral written here
MAX_DOC = [(2, 1.000, 0.909), (3, 1.276, 1.252), (4, 1.551, 1.544), (9, 2.563, 2.563)]


@pytest.mark.parametrize("k, m2_doc, relu_doc", MAX_DOC)
def test_max_of_k_iid_normals(k, m2_doc, relu_doc):
    m2 = max_iid(lambda x: x * x, k)
    mr = max_iid(lambda x: relu(x) ** 2, k)
    assert abs(m2 - m2_doc) <= 5e-4 and abs(mr - relu_doc) <= 5e-4  # the doc, to its 3 decimals
    assert M.max_squared_iid(k) == pytest.approx(m2, rel=QUAD)
    assert M.max_moments(relu, k, 0.0, 1.0, 0.0)[1] == pytest.approx(mr, rel=QUAD)


def test_max_of_two_closed_forms():
    # max² + min² = X² + Y², and min(X, Y) = −max(−X, −Y) has the law of −max: E[max²] = E[min²] = 1.
    # relu(max)² = max(relu X, relu Y)²: with U = (X + Y)/√2, V = (X − Y)/√2 independent,
    # E[max² − min²; both > 0] = E[2U|V|; U > |V|] = 4∫₀^∞ vφ(v)² dv = 1/π and E[max² + min²; both > 0] = 1/2,
    # so E[min²; both > 0] = 1/4 − 1/(2π) and E[relu(max)²] = 1 − that = 3/4 + 1/(2π) = 0.909155.
    assert M.max_squared_iid(2) == pytest.approx(1.0, abs=1e-9)
    assert max_iid(lambda x: relu(x) ** 2, 2) == pytest.approx(0.75 + 1 / (2 * math.pi), rel=1e-9)
    assert M.max_moments(relu, 2, 0.0, 1.0, 0.0)[1] == pytest.approx(0.75 + 1 / (2 * math.pi), rel=QUAD)


@pytest.mark.parametrize("k, rho, sigma", [(4, 0.31, 1.0), (9, 0.5, 1.5), (3, 0.8, 0.7)])
def test_equicorrelated_max_formula_and_monte_carlo(k, rho, sigma):
    # z_i = σ(√ρ·u + √(1 − ρ)·e_i): max = σ(√ρ·u + √(1 − ρ)·M), E[u] = 0 → E[max²] = σ²[ρ + (1 − ρ)·m₂(k)]
    m2 = max_iid(lambda x: x * x, k)
    formula = sigma**2 * (rho + (1 - rho) * m2)
    assert M.max_moments(lambda v: v, k, 0.0, sigma, rho)[1] == pytest.approx(formula, rel=QUAD)
    rng = np.random.default_rng(k)
    n = 1_000_000
    z = sigma * (math.sqrt(rho) * rng.standard_normal((n, 1)) + math.sqrt(1 - rho) * rng.standard_normal((n, k)))
    est, se = mc_mean(z.max(axis=1) ** 2)
    assert abs(est - formula) < 4 * se


@pytest.mark.parametrize("n", [10, 100])
def test_softmax_small_logit_variance(n):
    # q = 0: p = 1/n exactly, E[p²] = 1/n²; the gain for g ~ N(0, 1) at uniform p: Jᵀg = (g − ḡ)/n,
    # E[(Jᵀg)_i²] = (1 − 1/n)/n². netcalc's Monte Carlo uses min(4000, 4e6/n) rows: its SE on that gain
    # is about √2/√(rows·n) (≤ 0.7 %): tolerance 3 %.
    p2, gain, sat = M.softmax_moments(n, 0.0, 0.0)
    assert p2 == pytest.approx(1 / n**2, rel=REL)
    assert gain == pytest.approx((1 - 1 / n) / n**2, rel=0.03)
    assert sat == 0.0
    # small q: E[p²] ≈ (1/n²)(1 + q(1 − 1/n)), error O(q²) = 1e-4 at q = 0.01; a wrong slope would
    # be off by ≥ 0.5 %: tolerance 1e-3 relative
    q = 0.01
    assert M.softmax_moments(n, 0.0, q)[0] == pytest.approx((1 + q * (1 - 1 / n)) / n**2, rel=1e-3)


# ============================================================================= 3. layer rules

DENSE_HE = """
netcalc: 1
input: {shape: [256], mean: 0, std: 1}
defaults: {dense: {init: kaiming_normal, bias_init: zeros}}
layers:
  - {op: dense, units: 512, activation: relu}
"""


def test_dense_he_on_unit_input_gives_2_then_1():
    # q = n_in·Var·q_in = 256·(2/256)·1 = 2 [E]; ReLU of a symmetric input keeps half: 1 [E]
    rep = report(DENSE_HE)
    dense, r = rep.layers
    assert dense.q == pytest.approx(2.0, rel=REL)
    assert r.q == pytest.approx(1.0, rel=REL)
    assert (dense.fwd_tag, r.fwd_tag) == ("E", "E")
    # the ReLU's mean: E[relu(N(0, 2))] = √2·φ(0) = 1/√π; neighbour/channel-mean fraction K(0) = 1/π
    assert r.out.mu == pytest.approx(1 / math.sqrt(math.pi), rel=REL)
    assert r.out.mfrac == pytest.approx(1 / math.pi, rel=REL)


def _pytorch_default_stack(std: float, n: int = 64, depth: int = 12) -> str:
    layers = "\n".join(f"  - {{op: dense, units: {n}, activation: relu}}" for _ in range(depth))
    return f"netcalc: 1\ninput: {{shape: [{n}], mean: 0, std: {std}}}\nlayers:\n{layers}\n"


def test_pytorch_default_linear_relu_stack_is_bias_dominated():
    # PyTorch defaults, width n = 64: Var(w) = 1/(3n), E[b²] = 1/(3n). Pre-activations:
    # q₁ = n·q_in/(3n) + 1/(3n) = 1/3 + 1/192; q_{l+1} = n·(q_l/2)/(3n) + 1/(3n) = q_l/6 + 1/192 [E]
    # (the doc's (q/2 + 1/n)/3). Fixed point q* = 2/(5n) = 1/160; q_l = q* + (q₁ − q*)·6^{−(l−1)}.
    # The bias fraction E[b²]/q_l → (1/192)/(1/160) = 5/6, not 1: at the fixed point the rest comes from
    # the previous layer's (itself bias-driven) signal.
    n = 64
    rep = report(_pytorch_default_stack(1.0, n))
    dense = [s for s in rep.layers if s.node.op == "dense"]
    q1, qs = 1 / 3 + 1 / (3 * n), 2 / (5 * n)
    for depth, s in enumerate(dense, start=1):
        expected = qs + (q1 - qs) * 6.0 ** (-(depth - 1))
        assert s.q == pytest.approx(expected, rel=1e-12)
        assert s.info.bias_fraction == pytest.approx((1 / (3 * n)) / expected, rel=1e-12)
        assert s.fwd_tag == "E"
    assert dense[-1].info.bias_fraction == pytest.approx(5 / 6, rel=1e-6)


def test_pytorch_default_stack_forgets_its_input():
    # "the signal no longer depends on the input": the map is affine with slope 1/6 per layer, so the
    # difference made by the input (q_in 9 instead of 1) at layer l is (9 − 1)·(1/3)·6^{−(l−1)}
    a = [s.q for s in report(_pytorch_default_stack(1.0)).layers if s.node.op == "dense"]
    b = [s.q for s in report(_pytorch_default_stack(3.0)).layers if s.node.op == "dense"]
    for depth, (x, y) in enumerate(zip(a, b, strict=True), start=1):
        assert y - x == pytest.approx(8 / 3 * 6.0 ** (-(depth - 1)), rel=1e-6)
    assert (b[-1] - a[-1]) / a[-1] < 2e-6  # 8/3·6^{−11}/q* = 1.2e-6: the input's trace is gone


def _conv(padding, stride=1, size=16, c_in=32, c_out=8, kernel=3):
    return report(f"""
    netcalc: 1
    input: {{shape: [{c_in}, {size}, {size}], mean: 0, std: 1}}
    defaults: {{init: {{name: normal, std: 0.1}}, bias_init: zeros}}
    layers:
      - {{op: conv2d, filters: {c_out}, kernel: {kernel}, stride: {stride}, padding: {padding}}}
    """).layers[0]


def test_conv_zero_padding_per_position_and_mean_factor():
    # Var(w) = 0.01, C_in = 32, k = 3: an interior output reads 9 taps: 32·9·0.01·1 = 2.88 [E];
    # an edge 6 taps (1.92), a corner 4 (1.28). Mean over 16 × 16: per axis (14·3 + 2·2)/(16·3) = 1 − 2/48,
    # so the factor is (1 − 2/(3·16))² = (23/24)² = 0.918403 of the unpadded (all-interior) value.
    padded, valid = _conv(1), _conv(0)
    assert padded.out.q.shape == (16, 16)
    assert padded.out.q[5, 5] == pytest.approx(2.88, rel=REL)
    assert padded.out.q[0, 7] == pytest.approx(1.92, rel=REL)
    assert padded.out.q[0, 0] == pytest.approx(1.28, rel=REL)
    assert np.allclose(valid.out.q, 2.88, rtol=REL)
    assert padded.q / valid.q == pytest.approx((1 - 2 / (3 * 16)) ** 2, rel=REL)
    assert padded.q / valid.q == pytest.approx(0.918, abs=5e-4)  # the doc's figure


def _count(n_in, n_out, k, s, pad):
    """How many (output, tap) pairs read input position p: o·s + i − pad = p (brute force)."""
    c = np.zeros(n_in)
    for o in range(n_out):
        for i in range(k):
            p = o * s + i - pad
            if 0 <= p < n_in:
                c[p] += 1
    return c


def test_strided_conv_backward_counts():
    # k = 3, s = 2, pad 1 on 16 × 16 → 8 × 8. r = 1 at the output (the graph output); each input position
    # gets Var·C_out·(count_h·count_w): even rows 1 contribution, odd rows 2 (the last, 15, only 1).
    # Interior average k²/s² = 9/4 (doc); the whole map (23/16)².
    s = _conv(1, stride=2)
    assert s.out.q.shape == (8, 8)
    c = _count(16, 8, 3, 2, 1)
    assert list(c[:4]) == [1, 2, 1, 2] and c[15] == 1
    expected = 0.01 * 8 * np.outer(c, c)
    assert np.allclose(s.r_in[0], expected, rtol=REL, atol=0)
    assert float(s.r_in[0][1:15, 1:15].mean()) == pytest.approx(0.08 * 9 / 4, rel=REL)
    assert float(s.r_in[0].mean()) == pytest.approx(0.08 * (23 / 16) ** 2, rel=REL)


def _transposed(extra: str, size: int = 8):
    return report(f"""
    netcalc: 1
    input: {{shape: [16, {size}, {size}], mean: 0, std: 1}}
    defaults: {{init: {{name: normal, std: 0.1}}, bias_init: zeros}}
    layers:
      - {{op: conv2d_transpose, filters: 4, kernel: 3, stride: 2{extra}}}
    """).layers[0]


def _tcount(n_in, k, s, pad, n_out):
    """PyTorch ConvTranspose: input j, tap i lands on output o = j·s + i − pad (brute force)."""
    c = np.zeros(n_out)
    for j in range(n_in):
        for i in range(k):
            o = j * s + i - pad
            if 0 <= o < n_out:
                c[o] += 1
    return c


@pytest.mark.parametrize("extra, pad, n_out", [("", 0, 17), (", padding: 1, output_padding: 1", 1, 16)])
def test_transposed_conv_alternating_counts(extra, pad, n_out):
    # Var(w)·C_in = 0.01·16 = 0.16 per landing (input, tap) pair; k = 3, s = 2 alternates 2/1 per axis,
    # so 4/2/2/1 in 2-D: min and max of the map differ by 4
    s = _transposed(extra)
    c = _tcount(8, 3, 2, pad, n_out)
    assert s.out.q.shape == (n_out, n_out)
    assert np.allclose(s.out.q, 0.16 * np.outer(c, c), rtol=REL, atol=0)
    lo, hi = s.info.spread
    assert (lo, hi) == pytest.approx((0.16, 0.64), rel=REL)
    assert hi / lo == pytest.approx(4.0, rel=REL)
    block = np.round(s.out.q[2:4, 2:4] / 0.16, 12)
    assert sorted(block.ravel()) == [1, 2, 2, 4]


def test_transposed_conv_backward():
    # the transpose: input j collects from outputs j·s + i − pad, i = 0..2: with pad 1 on 16 outputs,
    # j = 0 reaches 2 of them, j ≥ 1 three: r_in = Var·C_out·count_h·count_w = 0.04·(2·2, 2·3, 3·3)
    s = _transposed(", padding: 1, output_padding: 1")
    r = s.r_in[0]
    assert (r[0, 0], r[0, 1], r[1, 1]) == pytest.approx((0.16, 0.24, 0.36), rel=REL)


def test_conv3d_zero_padding_per_position_and_mean_factor():
    # conv3d, C_in = 4, k = 3, Var(w) = 0.01 on a 4 × 6 × 5 volume with padding 1: an interior output reads
    # 27 taps: 4·27·0.01 = 1.08 [E]; a face 18 (0.72), an edge 12 (0.48), a corner 8 (0.32). Mean per axis
    # (3(n − 2) + 2·2)/(3n) = 1 − 2/(3n): (1 − 2/12)(1 − 2/18)(1 − 2/15) of the all-interior value
    s = report("""
    netcalc: 1
    input: {shape: [4, 4, 6, 5], mean: 0, std: 1}
    defaults: {init: {name: normal, std: 0.1}, bias_init: zeros}
    layers:
      - {op: conv3d, filters: 2, kernel: 3, padding: 1}
    """).layers[0]
    q = s.out.q
    assert q.shape == (4, 6, 5)
    assert (q[1, 2, 2], q[0, 2, 2], q[0, 0, 2], q[0, 0, 0]) == pytest.approx((1.08, 0.72, 0.48, 0.32), rel=REL)
    assert s.q == pytest.approx(1.08 * (1 - 2 / 12) * (1 - 2 / 18) * (1 - 2 / 15), rel=REL)
    # backward: input p collects from the outputs whose window covers it, the same counts by symmetry
    # (stride 1, padding 1): Var(w)·C_out·27 = 0.01·2·27 = 0.54 inside, 0.01·2·8 = 0.16 at a corner
    r = s.r_in[0]
    assert (r[1, 2, 2], r[0, 0, 0]) == pytest.approx((0.54, 0.16), rel=REL)


def test_conv1d_transpose_alternating_counts():
    # ConvTranspose1d(k = 3, s = 2) on 8 positions: 17 outputs, each even one receives 2 taps (1 at both
    # ends), each odd one 1: q = Var(w)·C_in·count = 0.01·16·(1, 1, 2, 1, …, 2, 1, 1)
    s = report("""
    netcalc: 1
    input: {shape: [16, 8], mean: 0, std: 1}
    defaults: {init: {name: normal, std: 0.1}, bias_init: zeros}
    layers:
      - {op: conv1d_transpose, filters: 4, kernel: 3, stride: 2}
    """).layers[0]
    c = _tcount(8, 3, 2, 0, 17)
    assert list(c[:5]) == [1, 1, 2, 1, 2] and c[16] == 1
    assert np.allclose(s.out.q, 0.16 * c, rtol=REL, atol=0)
    assert s.info.spread == pytest.approx((0.16, 0.32), rel=REL)


def test_conv3d_transpose_counts_multiply_per_axis():
    # ConvTranspose3d(k = 3, s = 2, padding 1, output_padding 1) on 2 × 3 × 3 → 4 × 6 × 6: per axis the
    # counts of the 1-D rule, multiplied: 0.01·C_in 8 = 0.08 per landing pair
    s = report("""
    netcalc: 1
    input: {shape: [8, 2, 3, 3], mean: 0, std: 1}
    defaults: {init: {name: normal, std: 0.1}, bias_init: zeros}
    layers:
      - {op: conv3d_transpose, filters: 2, kernel: 3, stride: 2, padding: 1, output_padding: 1}
    """).layers[0]
    d, h = _tcount(2, 3, 2, 1, 4), _tcount(3, 3, 2, 1, 6)
    assert s.out.q.shape == (4, 6, 6)
    assert np.allclose(s.out.q, 0.08 * np.einsum("i,j,k->ijk", d, h, h), rtol=REL, atol=0)


def test_pools_and_global_pools_over_three_axes():
    # a 2 × 2 × 2 average of an uncorrelated unit map keeps 1/8 (8 taps, no pair correlated); the
    # global average of 4·4·6 = 96 positions keeps 1/96; the global max of 96 iid N(0, 1) keeps m₂(96),
    # the second moment of the largest of 96 (the integral `max_iid` written here)
    layers = report("""
    netcalc: 1
    input: {shape: [2, 4, 4, 6], mean: 0, std: 1}
    layers:
      - {op: avgpool3d, kernel: 2, id: p}
      - {op: global_avgpool3d, in: input, id: gap}
      - {op: global_maxpool3d, in: input, id: gmp}
    outputs: [p, gap, gmp]
    """).layers
    p, gap, gmp = layers
    assert p.out.q.shape == (2, 2, 3)
    assert np.allclose(p.out.q, 1 / 8, rtol=REL)
    assert gap.q == pytest.approx(1 / 96, rel=REL)
    assert gmp.q == pytest.approx(max_iid(lambda x: x * x, 96), rel=QUAD)


def test_avg_pool_with_input_correlation():
    # E[avg²] = q·(1 + 3ρ̄)/4 for a 2 × 2 window, ρ̄ the mean correlation of its 6 pairs: 4 neighbours
    # at distance 1 (ρ) and 2 diagonals at distance 2 (ρ², the AR(1) picture of `window_corr`):
    # ρ̄ = (4ρ + 2ρ²)/6. ρ = 0.5 → ρ̄ = 5/12, (1 + 5/4)/4 = 0.5625; ρ = 0 → 1/4 ("divide by m" only
    # for ρ = 0); ρ = 0.9 → ρ̄ = 0.87, (1 + 2.61)/4 = 0.9025
    for rho, expected in ((0.5, 0.5625), (0.0, 0.25), (0.9, 0.9025)):
        s = report(f"""
        netcalc: 1
        input: {{shape: [16, 12, 12], mean: 0, std: 1, correlation: {rho}}}
        layers:
          - {{op: avgpool2d, kernel: 2}}
        """).layers[0]
        assert s.q == pytest.approx(expected, rel=REL)
        assert np.allclose(s.out.q, expected, rtol=REL)


def test_adaptive_avg_pool_windows_of_different_sizes():
    # height 5 → 3: PyTorch's windows [0, 2), [1, 4), [3, 5), sizes 2, 3, 2 (width 4 → 4: one position
    # each). Neighbours correlated by ρ = 0.5 along each axis (ρ^distance): a window of k rows keeps
    # (1 + (k − 1)·ρ̄)/k with ρ̄ its pairs' mean correlation: k = 2: ρ̄ = ρ, 1.5/2 = 0.75; k = 3:
    # ρ̄ = (2ρ + ρ²)/3 = 5/12, (1 + 10/12)/3 = 11/18. Each output row has its own window's figure.
    s = report("""
    netcalc: 1
    input: {shape: [16, 5, 4], mean: 0, std: 1, correlation: 0.5}
    layers:
      - {op: adaptive_avgpool2d, output_size: [3, 4]}
    """).layers[0]
    assert np.allclose(s.out.q, np.array([[0.75], [11 / 18], [0.75]]) * np.ones((1, 4)), rtol=REL, atol=0)
    # backward (r = 1 at the output): each input row gathers 1/k² from every window covering it:
    # 1/4, 1/4 + 1/9, 1/9, 1/9 + 1/4, 1/4
    rows = np.array([1 / 4, 1 / 4 + 1 / 9, 1 / 9, 1 / 9 + 1 / 4, 1 / 4])
    assert np.allclose(s.r_in[0], rows[:, None] * np.ones((1, 4)), rtol=REL, atol=0)


def test_adaptive_max_pool_is_the_max_of_each_windows_taps():
    # iid N(0, 1) positions (no correlation): a window of k taps gives E[max²] = m₂(k); rows 5 → 3 give
    # windows of 2, 3, 2 (width 4 → 4: one each), so m₂(2) = 1, m₂(3) = 1.276, m₂(2) = 1
    s = report("""
    netcalc: 1
    input: {shape: [16, 5, 4], mean: 0, std: 1}
    layers:
      - {op: adaptive_maxpool2d, output_size: [3, 4]}
    """).layers[0]
    m3 = max_iid(lambda x: x * x, 3)
    assert m3 == pytest.approx(1.276, abs=5e-4)
    assert np.allclose(s.out.q[:, 0], [1.0, m3, 1.0], rtol=QUAD)
    # backward: each window's gradient goes to one of its k taps, 1/k on average: 1/2, 1/2 + 1/3, 1/3, ...
    rows = np.array([1 / 2, 1 / 2 + 1 / 3, 1 / 3, 1 / 3 + 1 / 2, 1 / 2])
    assert np.allclose(s.r_in[0][:, 0], rows, rtol=REL)


@pytest.mark.parametrize(
    ("convention", "extra", "slope"), [("pytorch", "", 0.25), ("keras", "", 0.0), ("pytorch", ", alpha_init: 0.5", 0.5)]
)
def test_prelu_is_a_leaky_relu_of_its_initial_alpha(convention, extra, slope):
    # PyTorch's α starts at 0.25, Keras's at 0: on N(0, 1), E[y²] = (1 + α²)/2 (leaky ReLU's closed
    # form), and the gradient's E[φ'²] = (1 + α²)/2 the same
    s = report(f"""
    netcalc: 1
    convention: {convention}
    input: {{shape: [8, 6, 6], layout: chw, mean: 0, std: 1}}
    layers:
      - {{op: prelu, alphas: channel{extra}}}
    """).layers[0]
    assert s.q == pytest.approx((1 + slope**2) / 2, rel=REL)
    assert float(np.mean(s.r_in[0])) == pytest.approx((1 + slope**2) / 2, rel=REL)
    assert s.fwd_tag == "E"


def test_instancenorm_removes_every_channels_own_mean():
    # per-channel means 1, −1, 2, 0 and std 1: mc² = 6/4 = 1.5, q = 2.5, μ = 0.5. Instance normalisation
    # (groupnorm at G = C) removes each channel's mean: v = q − μ² − s·G/C with s = mc² − μ² = 1.25 and
    # G/C = 1: v = 2.5 − 0.25 − 1.25 = 1 (batchnorm's q − mc²), E[y²] = v/(v + ε); no channel mean is left.
    s = report("""
    netcalc: 1
    input: {shape: [4, 5, 5], mean: [1, -1, 2, 0], std: 1}
    layers:
      - {op: instancenorm}
    """).layers[0]
    assert s.q == pytest.approx(1 / (1 + 1e-5), rel=REL)
    assert s.out.mfrac == 0.0 and s.out.mu == 0.0
    # backward, GroupNorm's rule at G = C with n = 25 positions a channel and the output's independent
    # gradient (gmean = 1/25 uniform over a channel's positions): r·(1 − gmean − (1 − gmean)/n − 1/n)/(v + ε)
    # = (1 − 1/25 − 24/625 − 1/25)/(1 + ε) = 0.8816/(1 + ε). [A]: a Monte Carlo of the per-sample
    # normalisation gives 1.044 here (1/σ̂² of 25 positions averages 25/22 of 1/σ²), within its 25 %.
    assert float(np.mean(s.r_in[0])) == pytest.approx((1 - 1 / 25 - 24 / 625 - 1 / 25) / (1 + 1e-5), rel=REL)


def test_repeat_vector_and_permute_move_values():
    # N(0, 1) features → RepeatVector(5): each step a copy, E[x²] = 1 at every step; back, each feature
    # gathers the 5 steps' gradients: 5·r. Permute keeps the values: q = 1, r passed back.
    rep = report("""
    netcalc: 1
    convention: keras
    input: {shape: [8], layout: hwc, mean: 0, std: 1}
    layers:
      - {op: repeat_vector, n: 5}
      - {op: permute, dims: [2, 1]}
    """)
    rv, perm = rep.layers
    assert np.allclose(rv.out.q, 1.0, rtol=REL) and rv.out.q.shape == (5,)
    assert perm.q == pytest.approx(1.0, rel=REL)
    assert float(np.mean(rv.r_in[0])) == pytest.approx(5.0, rel=REL)


def two_convs(n: int, *tail: str, relu_between: bool = True):
    """White N(0, 1) input, 64 channels n × n → He conv 3×3 (→ ReLU) → He conv 3×3 'conv' → the tail."""
    act = ", activation: relu" if relu_between else ""
    rest = "".join(f"\n      - {t}" for t in tail)
    return report(f"""
    netcalc: 1
    input: {{shape: [64, {n}, {n}], mean: 0, std: 1}}
    defaults: {{init: kaiming_normal, bias_init: zeros}}
    layers:
      - {{op: conv2d, filters: 64, kernel: 3{act}}}
      - {{op: conv2d, filters: 64, kernel: 3, id: conv}}{rest}
    """)


def test_avg_pool_after_relu_conv_keeps_0_489():
    # White input → He conv (q 2, uncorrelated neighbours) → ReLU: E[relu(u)relu(v)] = E[relu]² = q/(2π)
    # against E[relu²] = q/2, so ρ = 1/π; a conv with iid weights keeps it (q back to 2). 2 × 2 average:
    # 2·(1 + 3/π)/4 = 0.977465 (the doc's 0.489·q).
    rep = two_convs(20, "{op: avgpool2d, kernel: 2}")
    by = rep.by_name
    assert by["conv2d_1.relu"].out.corr == pytest.approx(1 / math.pi, rel=REL)
    assert by["conv"].out.corr == pytest.approx(1 / math.pi, rel=REL)
    assert by["conv"].q == pytest.approx(2.0, rel=REL)
    pool = rep.layers[-1]
    assert pool.q == pytest.approx(2 * (1 + 3 / math.pi) / 4, rel=REL)
    assert pool.q / 2 == pytest.approx(0.489, abs=5e-4)


def test_global_avg_pool_of_relu_fed_conv_is_about_q_over_pi():
    # Positions share only the channel mean: mean over N = 36² positions of K-correlated terms:
    # q·[1/π + (1 − 1/π)/N] (channel-mean fraction 1/π after the ReLU, kept by the conv), ≈ q/π on a large map
    rep = two_convs(40, "{op: global_avgpool2d}")
    gap = rep.layers[-1]
    n = 36 * 36
    assert gap.q == pytest.approx(2 * (1 / math.pi + (1 - 1 / math.pi) / n), rel=REL)
    assert gap.q == pytest.approx(2 / math.pi, rel=2e-3)
    # backward: r/N² at every position [E]
    assert np.allclose(gap.r_in[0], 1 / n**2, rtol=REL)


def test_max_pool_on_a_gaussian_map_is_m2_of_4():
    # conv on white input: iid Gaussian positions (ρ = 0), so 2 × 2 max pool multiplies q by m₂(4) = 1.551
    rep = two_convs(20, "{op: maxpool2d, kernel: 2}", relu_between=False)
    ratio = rep.layers[-1].q / rep.by_name["conv"].q
    assert ratio == pytest.approx(max_iid(lambda x: x * x, 4), rel=QUAD)
    assert ratio == pytest.approx(1.551, abs=5e-4)
    # backward: the gradient goes to one of the 4 taps: r/4 on average
    assert float(np.mean(rep.layers[-1].r_in[0])) == pytest.approx(0.25, rel=REL)


def test_relu_then_max_pool():
    # white input → conv → conv: iid Gaussian positions; ReLU then 2 × 2 max pool: max commutes with ReLU,
    # E[relu(max of 4)²]/E[relu²] = 1.5438/0.5 = 3.0876 of the ReLU's output
    rep = two_convs(20, "{op: relu}", "{op: maxpool2d, kernel: 2}", relu_between=False)
    ratio = rep.layers[-1].q / rep.layers[-2].q
    expected = max_iid(lambda x: relu(x) ** 2, 4) / 0.5
    assert ratio == pytest.approx(expected, rel=QUAD)
    assert ratio == pytest.approx(1.544 / 0.5, abs=1e-3)


def test_max_pool_then_relu_agrees_with_relu_then_max_pool_within_one_percent():
    # The same tensor both ways (max commutes with ReLU). Max-pool then ReLU treats the pool's output as
    # a Gaussian of mean E[max] [MF], which gives 3.0783 against 3.0876 (0.3 % low): [MF] tolerance 1 %.
    a = two_convs(20, "{op: maxpool2d, kernel: 2}", "{op: relu}", relu_between=False)
    b = two_convs(20, "{op: relu}", "{op: maxpool2d, kernel: 2}", relu_between=False)
    q = b.by_name["conv"].q
    assert q == pytest.approx(4.0, rel=REL)  # He conv on a Gaussian (no ReLU between): 2 → 4
    exact = q * max_iid(lambda x: relu(x) ** 2, 4)
    assert b.layers[-1].q == pytest.approx(exact, rel=QUAD)
    assert a.layers[-1].q == pytest.approx(exact, rel=0.01)


def test_dropout_both_ways():
    # inverted dropout, rate 0.2: q/(1 − p) = 0.32/0.8 = 0.4 forward; r/(1 − p) backward [E]
    rep = report("""
    netcalc: 1
    input: {shape: [8, 10, 10], mean: 0, std: 1}
    defaults: {init: {name: normal, std: 0.2}, bias_init: zeros}
    layers:
      - {op: conv2d, filters: 8, kernel: 1}
      - {op: dropout, rate: 0.2}
    """)
    conv, drop = rep.layers
    assert conv.q == pytest.approx(8 * 0.04, rel=REL)
    assert drop.q == pytest.approx(0.32 / 0.8, rel=REL)
    assert float(np.mean(drop.r_in[0])) == pytest.approx(1 / 0.8, rel=REL)
    assert conv.r_mean == pytest.approx(1 / 0.8, rel=REL)


def test_batchnorm_normalises_and_divides_the_gradient():
    # dense He (q 2) plus a constant bias 1: every unit's mean is 1, so Var = q − mean² = 3 − 1 = 2;
    # train-mode BN, γ = 1, β = 0: E[y²] = Var/(Var + ε) = 2/(2 + 1e-5) [E]; backward r/(Var + ε) [A]
    rep = report("""
    netcalc: 1
    input: {shape: [256], mean: 0, std: 1}
    layers:
      - {op: dense, units: 128, init: kaiming_normal, bias_init: {name: constant, value: 1}}
      - {op: batchnorm, eps: 1e-5}
    """)
    dense, bn = rep.layers
    assert dense.q == pytest.approx(3.0, rel=REL)
    assert dense.out.mfrac == pytest.approx(1 / 3, rel=REL)
    assert bn.q == pytest.approx(2 / (2 + 1e-5), rel=REL)
    assert bn.out.mu == 0.0 and bn.out.mfrac == 0.0
    assert float(np.mean(bn.r_in[0])) == pytest.approx(1 / (2 + 1e-5), rel=REL)


def test_batchnorm_eps_is_the_conventions():
    # issue 14 item 6: an input of variance 0.01 (std 0.1, mean 0) straight into batchnorm, infinite batch:
    # E[y²] = Var/(Var + ε) = 0.01/(0.01 + ε), backward 1/(Var + ε). Keras's BatchNormalization epsilon is
    # 1e-3: 0.01/0.011 = 0.9091 and 1/0.011 = 90.91; PyTorch's eps 1e-5: 0.01/0.01001 = 0.9990, 99.90;
    # a written eps wins in either convention (the Keras net with eps 1e-5 gives PyTorch's figures)
    for conv, extra, eps in (("keras", "", 1e-3), ("pytorch", "", 1e-5), ("keras", ", eps: 1e-5", 1e-5)):
        rep = report(f"""
        netcalc: 1
        convention: {conv}
        input: {{shape: [64], mean: 0, std: 0.1}}
        layers:
          - {{op: batchnorm{extra}}}
        """)
        (bn,) = rep.layers
        assert bn.q == pytest.approx(0.01 / (0.01 + eps), rel=REL), conv
        assert float(np.mean(bn.r_in[0])) == pytest.approx(1 / (0.01 + eps), rel=REL), conv


def test_layernorm():
    # LN over the features with γ = 1, β = 0: v/(v + ε) with v = q − μ² (q = 2 + 0.25, μ = 0.5 → v = 2)
    rep = report("""
    netcalc: 1
    input: {shape: [256], mean: 0, std: 1}
    layers:
      - {op: dense, units: 128, init: kaiming_normal, bias_init: {name: constant, value: 0.5}}
      - {op: layernorm, eps: 1e-3}
    """)
    dense, ln = rep.layers
    assert dense.q == pytest.approx(2.25, rel=REL)
    assert ln.q == pytest.approx(2 / (2 + 1e-3), rel=REL)
    assert float(np.mean(ln.r_in[0])) == pytest.approx(1 / (2 + 1e-3), rel=REL)


def test_groupnorm_forward_removes_the_group_means():
    # dense He on 256 N(0, 1) inputs: q = 2 + E[b²]; GroupNorm(4) on the 128 features, 32 to a group.
    # Constant bias 1: every unit's mean is μ = 1 (s = mc² − μ² = 0), v = 3 − 1 = 2 → 2/(2 + ε).
    # Biases N(0, 1): μ = 0, mc² = 1 = s, a group's mean has E[m²] = s·G/C = 1/32: v = 3 − 1/32;
    # the channels keep (1 − 1/32) of their means' spread: mean fraction (31/32)/v.
    for bias, v, mfrac in (("{name: constant, value: 1}", 2.0, 0.0), ("{name: normal, std: 1}", 3 - 1 / 32, 31 / 32)):
        rep = report(f"""
        netcalc: 1
        input: {{shape: [256], mean: 0, std: 1}}
        layers:
          - {{op: dense, units: 128, init: kaiming_normal, bias_init: {bias}}}
          - {{op: groupnorm, groups: 4, eps: 1e-5}}
        """)
        dense, gn = rep.layers
        assert dense.q == pytest.approx(3.0, rel=REL)
        assert gn.q == pytest.approx(v / (v + 1e-5), rel=REL)
        assert gn.out.mu == 0.0
        assert gn.out.mfrac == pytest.approx(mfrac / v, rel=REL, abs=1e-15)
        # backward on a vector (gmean 1, n = 32 per group): the group mean and the normalised input
        # each take 1/32 of an independent gradient: (1 − 2/32)/(v + ε)
        assert float(np.mean(gn.r_in[0])) == pytest.approx((1 - 2 / 32) / (v + 1e-5), rel=REL)


def test_groupnorm_before_a_global_average_pool_passes_what_its_group_means_leave():
    # He conv 3×3 valid on 8×12×12 N(0, 1): q = 2 on 16×10×10 (N = 100 positions); dense 16 → 64 He:
    # r = 64·(2/16) = 8 at the pool's output, 8/N² at each position of its input, the same over a
    # channel's positions (gmean 1). GroupNorm(G) of C = 16: r_in = (1 − G/16 − 1/n)·8e-4/(2 + ε), with
    # n = 16/G·100: G = 8 keeps 1 − 1/2 − 1/200 = 0.495; G = 16 (one channel a group) nothing — a
    # channel normalised on its own has mean β, so the pool's output does not depend on the input.
    for groups, keep in ((8, 0.495), (16, 0.0)):
        rep = report(f"""
        netcalc: 1
        input: {{shape: [8, 12, 12], mean: 0, std: 1}}
        defaults: {{init: kaiming_normal, bias_init: zeros}}
        layers:
          - {{op: conv2d, filters: 16, kernel: 3}}
          - {{op: groupnorm, groups: {groups}}}
          - {{op: global_avgpool2d}}
          - {{op: dense, units: 64}}
        """)
        conv, gn, pool, _ = rep.layers
        assert conv.q == pytest.approx(2.0, rel=REL)
        assert float(np.mean(pool.r_in[0])) == pytest.approx(8e-4, rel=REL)
        assert float(np.mean(gn.r_in[0])) == pytest.approx(keep * 8e-4 / (2 + 1e-5), rel=REL, abs=1e-18)


def test_add_concat_flatten():
    # a: He dense, q 2; b: N(0, 0.1²) dense, 64·0.01 = 0.64; F = dense(relu(a)) with N(0, 0.1²): 128·0.01·1 = 1.28.
    # add(a, F): F's weights are zero-mean and independent of a, so E[a·F] = 0: q = 2 + 1.28 [E].
    # concat(a 64 features, b 32): (64·2 + 32·0.64)/96 [E]. Flatten keeps the mean q.
    rep = report("""
    netcalc: 1
    input: {shape: [64], mean: 0, std: 1}
    defaults: {dense: {bias_init: zeros}}
    layers:
      - {op: dense, units: 128, init: kaiming_normal, id: a}
      - {op: relu}
      - {op: dense, units: 128, init: {name: normal, std: 0.1}, id: F}
      - {op: add, in: [a, F], id: sum}
      - {op: dense, units: 32, init: {name: normal, std: 0.1}, id: b, in: input}
      - {op: dense, units: 64, init: kaiming_normal, id: a2, in: input}
      - {op: concat, in: [a2, b], id: cat}
    outputs: [sum, cat]
    """)
    by = rep.by_name
    assert by["a"].q == pytest.approx(2.0, rel=REL)
    assert by["F"].q == pytest.approx(1.28, rel=REL)
    assert by["sum"].q == pytest.approx(3.28, rel=REL)
    assert by["sum"].fwd_tag == "E"
    assert by["b"].q == pytest.approx(0.64, rel=REL)
    assert by["cat"].q == pytest.approx((64 * 2 + 32 * 0.64) / 96, rel=REL)
    # backward: an add passes r to both inputs; a concat gives each input its slice
    assert [float(np.mean(r)) for r in by["sum"].r_in] == pytest.approx([1.0, 1.0], rel=REL)
    assert [float(np.mean(r)) for r in by["cat"].r_in] == pytest.approx([1.0, 1.0], rel=REL)


def test_add_of_two_inputs_with_means():
    # a = W_a·x + 0.5, b = W_b·x + 0.3 (independent He weights): E[(a + b)²] = 2.25 + 2.09 + 2·0.5·0.3 [A]
    rep = report("""
    netcalc: 1
    input: {shape: [64], mean: 0, std: 1}
    defaults: {dense: {units: 32, init: kaiming_normal}}
    layers:
      - {op: dense, bias_init: {name: constant, value: 0.5}, id: a}
      - {op: dense, bias_init: {name: constant, value: 0.3}, id: b, in: input}
      - {op: add, in: [a, b]}
    """)
    assert rep.layers[-1].q == pytest.approx(2.25 + 2.09 + 0.3, rel=REL)


# Two residual blocks with option-A identity shortcuts and 1×1 convolutions (maps uniform): the
# stream a1 = m1 + relu(z), a2 = m2 + relu(a1), with m1, m2 batchnorm outputs (Gaussian, independent
# of the stream) and z the stem's batchnorm output. Checked against a seeded Monte Carlo of that
# stream (4·10⁶ samples: SE ≈ 2.5e-4 on a probability); the rules work on equal-weight atoms
# (1/96 each: a probability within 1/192), hence rel 5e-3.
RESIDUAL_STREAM = """
netcalc: 1
input: {shape: [16, 8, 8], mean: 0, std: 1}
defaults: {conv2d: {bias: false, filters: 16, kernel: 1}}
layers:
  - {op: conv2d}
  - {op: batchnorm}
  - {op: relu, id: stem}
  - {op: conv2d}
  - {op: batchnorm, id: m1}
  - {op: shortcut, in: stem, mode: A, id: s1}
  - {op: add, in: [m1, s1], id: a1}
  - {op: relu, id: r1}
  - {op: conv2d, id: c2}
  - {op: batchnorm, id: m2}
  - {op: shortcut, in: r1, mode: A, id: s2}
  - {op: add, in: [m2, s2], id: a2}
  - {op: relu, id: r2}
"""
STREAM_REL = 5e-3


def _stream(rep, n=4_000_000):
    by = rep.by_name
    rng = np.random.default_rng(20240611)
    z = math.sqrt(2 * by["stem"].q) * rng.standard_normal(n)  # the stem's batchnorm output: E[relu(z)²] = q/2
    a1 = math.sqrt(by["m1"].q) * rng.standard_normal(n) + np.maximum(z, 0)
    m2 = math.sqrt(by["m2"].q) * rng.standard_normal(n)
    return by, a1, m2


def test_shortcut_keeps_the_rectified_distribution_for_the_next_relu():
    # The skip carries relu(z), not a Gaussian: E[relu(a1)²]/E[a1²], E[relu(a1)] and P(a1 > 0) of the
    # sum m1 + relu(z) (a Gaussian of the same mean and q gives P(a1 > 0) = 0.635, not 0.625, and E[relu]
    # 1 % high: the error that compounds over the blocks of a deep ResNet).
    # The channels' own means: every channel alike, so mfrac·q = E[relu(a1)]² exactly.
    by, a1, _ = _stream(report(RESIDUAL_STREAM))
    r1 = np.maximum(a1, 0)
    assert by["r1"].q / by["a1"].q == pytest.approx(float((r1 * r1).mean() / (a1 * a1).mean()), rel=STREAM_REL)
    assert by["r1"].out.mu == pytest.approx(float(r1.mean()), rel=STREAM_REL)
    assert by["r1"].info.dgain == pytest.approx(float((a1 > 0).mean()), rel=STREAM_REL)
    assert by["r1"].out.mfrac * by["r1"].q == pytest.approx(by["r1"].out.mu ** 2, rel=1e-9)


def test_relu_on_a_residual_stream_sends_back_more_where_the_skip_stays_open():
    # r = 1 at r2. The skip brings back r2's gradient only where a2 = relu(a1) + m2 > 0, more likely
    # where a1 > 0 (then relu(a1) = a1 > 0): at r1's input the skip's part is P(a1 > 0, a1 + m2 > 0),
    # not P(a1 > 0)·P(a2 > 0); the branch's part (through c2, which mixes positions and channels) is
    # independent of a1: P(a1 > 0)·r_branch.
    rep = report(RESIDUAL_STREAM)
    by, a1, m2 = _stream(rep)
    r_branch = float(np.mean(by["c2"].r_in[0]))
    p1 = float((a1 > 0).mean())
    p2 = float((np.maximum(a1, 0) + m2 > 0).mean())
    both = float(((a1 > 0) & (a1 + m2 > 0)).mean())
    assert float(np.mean(by["s2"].r_in[0])) == pytest.approx(p2, rel=STREAM_REL)
    got = float(np.mean(by["r1"].r_in[0]))
    assert got == pytest.approx(both + p1 * r_branch, rel=STREAM_REL)
    assert got / (p1 * (p2 + r_branch)) > 1.05  # the independent rule is 6 % short


def test_flatten_keeps_the_mean_of_a_padded_map():
    rep = report("""
    netcalc: 1
    input: {shape: [32, 16, 16], mean: 0, std: 1}
    defaults: {init: {name: normal, std: 0.1}, bias_init: zeros}
    layers:
      - {op: conv2d, filters: 8, kernel: 3, padding: 1}
      - {op: flatten}
    """)
    conv, flat = rep.layers
    assert flat.q == pytest.approx(2.88 * (23 / 24) ** 2, rel=REL)
    assert flat.q == pytest.approx(conv.q, rel=REL)


@pytest.mark.parametrize("n, p", [(10, 2), (7, 1)])
def test_zero_padding_mean_factor(n, p):
    # zeros around: q kept inside, 0 on the border: mean factor n²/(n + 2p)²; the border's gradients vanish
    rep = report(f"""
    netcalc: 1
    input: {{shape: [4, {n}, {n}], mean: 0, std: 1}}
    layers:
      - {{op: zeropad2d, padding: {p}}}
    """)
    pad = rep.layers[0]
    assert pad.out.q.shape == (n + 2 * p, n + 2 * p)
    assert pad.q == pytest.approx(n * n / (n + 2 * p) ** 2, rel=REL)
    assert pad.out.q[0, 0] == 0.0 and pad.out.q[p, p] == 1.0
    assert np.allclose(pad.r_in[0], 1.0, rtol=REL)


def test_reflection_padding_copies_the_map_and_gathers_gradients():
    # a map with one row of zeros: zeropad [[1, 0], [0, 0]] on 4×3×3 gives rows q = 0, 1, 1, 1; reflection
    # 1 on the height mirrors about the edge rows, without repeating them: row 1 above, row 2 below
    rep = report("""
    netcalc: 1
    input: {shape: [4, 3, 3], mean: 0, std: 1}
    layers:
      - {op: zeropad2d, padding: [[1, 0], [0, 0]]}
      - {op: reflectionpad2d, padding: [[1, 1], [0, 0]]}
    """)
    _, pad = rep.layers
    # padded rows: [row 1, row 0, row 1, row 2, row 3, row 2] of q [0, 1, 1, 1] → [1, 0, 1, 1, 1, 1]
    assert pad.out.q.shape == (6, 3)
    assert np.allclose(pad.out.q[:, 0], [1, 0, 1, 1, 1, 1], rtol=REL)
    # backward r = 1 at every output: rows 1 and 2 are copied twice each, rows 0 and 3 once
    assert np.allclose(pad.r_in[0][:, 0], [1, 2, 2, 1], rtol=REL)
    assert pad.fwd_tag == "E" and pad.bwd_tag == "MF"


def test_replication_padding_repeats_the_edge():
    # 1-D, n = 4, padding [2, 1]: [x0, x0, x0, x1, x2, x3, x3]; q = 1 everywhere (mean 0, std 1)
    rep = report("""
    netcalc: 1
    input: {shape: [2, 4], mean: 0, std: 1, correlation: 0.5}
    layers:
      - {op: replicationpad1d, padding: [2, 1]}
    """)
    (pad,) = rep.layers
    assert pad.out.q.shape == (7,) and np.allclose(pad.out.q, 1.0, rtol=REL)
    # neighbours: 3 interior pairs at ρ = 0.5, 3 border pairs of copies at 1: (3·0.5 + 3)/6 = 0.75
    assert pad.out.corr == pytest.approx(0.75, rel=REL)
    # backward: x0 gathers 3 gradients, x3 2, x1 and x2 one each
    assert np.allclose(pad.r_in[0], [3, 1, 1, 2], rtol=REL)


def test_cropping_keeps_the_inside():
    # zeropad 1 on 4×3×3 then cropping [[1, 0], [0, 1]]: rows 1…4, columns 0…3 of the 5×5 map whose border is 0
    rep = report("""
    netcalc: 1
    input: {shape: [4, 3, 3], mean: 0, std: 1}
    layers:
      - {op: zeropad2d, padding: 1}
      - {op: cropping2d, cropping: [[1, 0], [0, 1]]}
    """)
    _, crop = rep.layers
    assert crop.out.q.shape == (4, 4)
    expected = np.zeros((4, 4))
    expected[0:3, 1:4] = 1.0  # the 3×3 inside sits at rows 0…2, columns 1…3 of the crop
    assert np.allclose(crop.out.q, expected, rtol=REL)
    # no gradient at the cropped row 0 and column 4 of the padded map; the rest passes back (1)
    back = np.ones((5, 5))
    back[0, :] = 0.0
    back[:, 4] = 0.0
    assert np.allclose(crop.r_in[0], back, rtol=REL)
    assert crop.fwd_tag == "E" and crop.bwd_tag == "E"


def test_dense_over_a_channels_first_length_gives_back_a_map_of_its_positions():
    # x (3, 8) read by a dense over its 8 positions and by an avgpool: the two gradients at x add up.
    # Each x[c, t] feeds the 5 outputs of row c: Var(w)·Σ_u r = (1/8 · 1/3)·5·1 per position (PyTorch's
    # default kaiming_uniform(a = √5) has Var(w) = 1/(3·fan_in)); the pool of 1 passes r = 1 back
    rep = report("""
    netcalc: 1
    input: {shape: [3, 8], layout: chw, name: x, mean: 0, std: 1}
    outputs: [d, p]
    layers:
      - {op: dense, units: 5, in: x, id: d}
      - {op: avgpool1d, kernel: 1, in: x, id: p}
    """)
    assert rep.input_r["x"].shape == (8,)
    assert np.allclose(rep.input_r["x"], 5 / 24 + 1.0, rtol=1e-9)


def test_upsample_nearest():
    # values repeated: the mean q is kept; backward each input gathers scale^d = 2·3 = 6 gradients [E]
    rep = report("""
    netcalc: 1
    input: {shape: [4, 6, 6], mean: 0, std: 1}
    layers:
      - {op: upsample2d, scale: [2, 3]}
    """)
    up = rep.layers[0]
    assert up.out.q.shape == (12, 18)
    assert up.q == pytest.approx(1.0, rel=REL)
    assert np.allclose(up.r_in[0], 6.0, rtol=REL)


def test_upsample_nearest_scale_3_neighbour_correlation():
    # white input (c = 0), scale 3 on both axes: along an axis, pairs (3j, 3j+1) and (3j+1, 3j+2) are
    # copies (correlation 1), (3j+2, 3j+3) are original neighbours (0): mean 2/3. netcalc: 1/2.
    up = report("""
    netcalc: 1
    input: {shape: [4, 6, 6], mean: 0, std: 1}
    layers:
      - {op: upsample2d, scale: 3}
    """).layers[0]
    assert up.out.corr == pytest.approx(2 / 3, rel=1e-9)


def pytorch_bilinear_matrix(n: int, s: int) -> np.ndarray:
    """A[o, i]: PyTorch's interpolate(mode='linear'/'bilinear', align_corners=False, scale_factor=s),
    written from its definition: src = max((o + 0.5)/s − 0.5, 0), i0 = floor(src), i1 = min(i0 + 1, n − 1),
    weights 1 − λ and λ with λ = src − i0."""
    a = np.zeros((n * s, n))
    for o in range(n * s):
        src = max((o + 0.5) / s - 0.5, 0.0)
        i0 = math.floor(src)
        i1 = min(i0 + 1, n - 1)
        lam = src - i0
        a[o, i0] += 1 - lam
        a[o, i1] += lam
    return a


def test_bilinear_factor_from_pytorch_weights():
    # scale 2: interior outputs take 0.75/0.25 of two neighbours: Σw² = 0.5625 + 0.0625 = 0.625 per axis
    a = pytorch_bilinear_matrix(16, 2)
    interior = (a[2:30] ** 2).sum(1)
    assert np.allclose(interior, 0.625, rtol=REL)
    # each interior input receives 0.75² + 0.75² + 0.25² + 0.25² = 1.25 (backward)
    assert np.allclose((a[:, 2:14] ** 2).sum(0), 1.25, rtol=REL)
    rep = report("""
    netcalc: 1
    input: {shape: [4, 16, 16], mean: 0, std: 1}
    layers:
      - {op: upsample2d, scale: 2, mode: bilinear}
    """)
    up = rep.layers[0]
    # white input (ρ = 0): interior positions 0.625² in 2-D
    assert np.allclose(up.out.q[2:30, 2:30], 0.625**2, rtol=REL)
    assert np.allclose(up.r_in[0][2:14, 2:14], 1.25**2, rtol=REL)


def test_bilinear_map_mean_includes_the_borders():
    # exact for white input: E[y_o²] = Σ_i A[o, i]²·q per axis, separable: mean over the 8 × 8 map =
    # (mean_o Σ_i A[o, i]²)² = ((6·0.625 + 2·1)/8)² = 0.71875² = 0.516602
    a = pytorch_bilinear_matrix(4, 2)
    per_axis = float((a**2).sum(1).mean())
    assert per_axis == pytest.approx(0.71875, rel=REL)
    up = report("""
    netcalc: 1
    input: {shape: [4, 4, 4], mean: 0, std: 1}
    layers:
      - {op: upsample2d, scale: 2, mode: bilinear}
    """).layers[0]
    assert up.q == pytest.approx(per_axis**2, rel=0.01)


@pytest.mark.parametrize("convention, expected", [("pytorch", 1.0), ("keras", 0.05**2 / 3)])
def test_embedding(convention, expected):
    # one table row per output: q = Var + mean² of the init: PyTorch N(0, 1) → 1; Keras U(±0.05) → 0.05²/3
    rep = report(f"""
    netcalc: 1
    convention: {convention}
    input: {{shape: [12], dtype: int64}}
    layers:
      - {{op: embedding, vocab: 100, dim: 16}}
    """)
    assert rep.layers[0].q == pytest.approx(expected, rel=REL)
    assert rep.layers[0].fwd_tag == "E"


def test_lstm_gate_pre_activation_pytorch():
    # PyTorch LSTM(F = 3, units u = 8), all tensors U(±1/√8) (Var 1/(3u) = 1/24), N(0, 1) input, h₀ = 0:
    # q_a = F·Var·1 + Var(b_ih) + Var(b_hh) = 3/24 + 2/24 = 5/24 for every gate; E[σ] = 1/2 (symmetric)
    rep = report("""
    netcalc: 1
    input: {shape: [5, 3], mean: 0, std: 1}
    layers:
      - {op: lstm, units: 8}
    """)
    gates = rep.layers[0].info.gates_step1
    for _e1, _e2, _d2, v, mu in gates:
        assert v + mu * mu == pytest.approx(5 / 24, rel=REL)
    i, _f, g, _o = gates
    s = math.sqrt(5 / 24)
    assert i[0] == pytest.approx(0.5, abs=QUAD)
    assert i[1] == pytest.approx(gauss_expect(lambda x: sigmoid(x) ** 2, 0.0, s), abs=QUAD)
    assert g[1] == pytest.approx(gauss_expect(lambda x: np.tanh(x) ** 2, 0.0, s), abs=QUAD)


def test_lstm_gate_pre_activation_keras_forget_bias():
    # Keras LSTM(F = 3, units 8): glorot_uniform on the fused (3, 32) kernel: Var = 2/(3 + 32) = 2/35,
    # zero biases but the forget slice at 1 (unit_forget_bias): q_a = 3·2/35 = 6/35, forget mean 1;
    # E[f] = E[σ(1 + √(6/35)·z)] = 0.7237 (the doc's "≈ 0.7")
    rep = report("""
    netcalc: 1
    convention: keras
    input: {shape: [5, 3], mean: 0, std: 1}
    layers:
      - {op: lstm, units: 8}
    """)
    i, f, g, o = rep.layers[0].info.gates_step1
    for gate in (i, g, o):
        assert gate[3] == pytest.approx(6 / 35, rel=REL) and gate[4] == 0.0
    assert f[3] == pytest.approx(6 / 35, rel=REL) and f[4] == 1.0
    ef = gauss_expect(sigmoid, 1.0, math.sqrt(6 / 35))
    assert f[0] == pytest.approx(ef, abs=QUAD)
    assert f[1] == pytest.approx(gauss_expect(lambda x: sigmoid(x) ** 2, 1.0, math.sqrt(6 / 35)), abs=QUAD)
    assert ef == pytest.approx(0.7, abs=0.05)


def test_rnn_starts_from_its_initial_state_keras_with_dropout():
    # Keras SimpleRNN(F = 4, u = 6), T = 1: glorot_uniform kernel Var = 2/(4 + 6) = 1/5, orthogonal
    # recurrent kernel (6, 6) Var 1/6, zero bias; x ~ N(0, 1) dropped at 0.5 (E[x'²] = 1/0.5 = 2), h₀ of
    # std 2 (E[h₀²] = 4) dropped at 0.2 (E = 4/0.8 = 5): q_a = 4·(1/5)·2 + 6·(1/6)·5 = 1.6 + 5 = 6.6
    # [MF]; backward (r = 1 at the output): da = E[tanh'(a)²]; E[dx²] = u·Var(W_x)·da/0.5 = 2.4·da,
    # E[dh₀²] = u·Var(W_h)·da/0.8 = 1.25·da
    rep = report("""
    netcalc: 1
    convention: keras
    input:
      - {name: x, shape: [1, 4], mean: 0, std: 1}
      - {name: h0, shape: [6], std: 2}
    layers:
      - {op: rnn, units: 6, initial_state: h0, dropout: 0.5, recurrent_dropout: 0.2}
    """)
    (s,) = rep.layers
    q, sd = 6.6, math.sqrt(6.6)
    assert s.q == pytest.approx(gauss_expect(lambda a: np.tanh(a) ** 2, 0.0, sd), abs=QUAD)
    assert s.fwd_tag == "MF"
    da = gauss_expect(lambda a: (1 - np.tanh(a) ** 2) ** 2, 0.0, sd)
    assert float(np.mean(rep.input_r["x"])) == pytest.approx(2.4 * da, rel=QUAD)
    assert float(np.mean(rep.input_r["h0"])) == pytest.approx(1.25 * da, rel=QUAD)
    assert q == pytest.approx(4 * 0.2 * 2 + 6 * (1 / 6) * 5)


def test_rnn_initial_state_rows_pytorch_stacked():
    # PyTorch nn.RNN(F = 3, u = 4, num_layers = 2), T = 1, all tensors U(±1/√4): Var 1/12; h₀ (2, 4)
    # with std 3 (E = 9): layer 1 q_a = 3·(1/12)·1 + 4·(1/12)·9 + 2/12 = (3 + 36 + 2)/12 = 41/12;
    # layer 2 reads layer 1's output q₁ = E[tanh²] at 41/12: q_a = 4·(1/12)·q₁ + 36/12 + 2/12
    rep = report("""
    netcalc: 1
    input:
      - {name: x, shape: [1, 3], mean: 0, std: 1}
      - {name: h0, shape: [2, 4], std: 3}
    layers:
      - {op: rnn, units: 4, num_layers: 2, initial_state: h0}
    """)
    (s,) = rep.layers
    q1 = gauss_expect(lambda a: np.tanh(a) ** 2, 0.0, math.sqrt(41 / 12))
    v2 = 4 / 12 * q1 + 36 / 12 + 2 / 12
    assert s.q == pytest.approx(gauss_expect(lambda a: np.tanh(a) ** 2, 0.0, math.sqrt(v2)), abs=QUAD)
    # the gradient at h₀, a row per layer: row 2 = u·Var·E[tanh'²] at v2 (r = 1 at the output), row 1
    # = u·Var·E[tanh'²] at 41/12 × what layer 2 sends back to layer 1's output, u·Var·E[tanh'²](v2)
    d2 = gauss_expect(lambda a: (1 - np.tanh(a) ** 2) ** 2, 0.0, math.sqrt(v2))
    d1 = gauss_expect(lambda a: (1 - np.tanh(a) ** 2) ** 2, 0.0, math.sqrt(41 / 12))
    r_h0 = rep.input_r["h0"]
    assert r_h0.shape == (2,)
    assert r_h0[1] == pytest.approx(4 / 12 * d2, rel=QUAD)
    assert r_h0[0] == pytest.approx(4 / 12 * d1 * (4 / 12 * d2), rel=QUAD)


def test_rnn_final_state_read_by_a_later_layer_sends_its_gradient_back():
    # Keras SimpleRNN(F = 4, u = 6), T = 1, whose main output nothing reads: a dense of 3 units reads its
    # final state enc.h. The dense's glorot Var = 2/(6 + 3) = 2/9, so E[dh²] = 3·(2/9)·1 = 2/3 arrives at
    # enc.h, and the rnn sends E[dx²] = u·Var(W_x)·(2/3)·E[tanh'²] = 6·(1/5)·(2/3)·E[tanh'²] back, at
    # q_a = 4·(1/5)·1 = 0.8
    rep = report("""
    netcalc: 1
    convention: keras
    input: {shape: [1, 4], mean: 0, std: 1}
    layers:
      - {op: rnn, units: 6, return_state: true, id: enc}
      - {op: dense, units: 3, in: enc.h}
    """)
    d = gauss_expect(lambda a: (1 - np.tanh(a) ** 2) ** 2, 0.0, math.sqrt(0.8))
    assert float(np.mean(rep.input_r["input"])) == pytest.approx(6 * 0.2 * (2 / 3) * d, rel=QUAD)
    enc = rep.by_name["enc"]
    assert enc.r_mean == 0.0  # its main output carries no gradient


def test_lstm_states_gradient_against_the_executor():
    """A seq2seq pair (Keras, dropout on the decoder): the gradient's second moment the signal rules
    send into the encoder's final states, and on to its input, within 30 % of the executor's (the
    rules are [A]); the encoder's h and c both carry some."""
    from netcalc.executor.run import run

    text = """
    netcalc: 1
    convention: keras
    input:
      - {name: src, shape: [6, 8], std: 1}
      - {name: tgt, shape: [5, 8], std: 1}
    layers:
      - {op: lstm, units: 16, return_state: true, id: enc}
      - {op: lstm, units: 16, in: tgt, return_sequences: true, initial_state: [enc.h, enc.c], dropout: 0.2,
         recurrent_dropout: 0.2, id: dec}
    """
    analysis, _ = run_spec(text)
    rep = propagate(analysis)
    runs = [run(analysis.graph, batch=16, seed=s) for s in range(6)]
    for name in ("src", "tgt"):
        measured = np.mean([m.inputs[name].backward["second_moment"] for m in runs])
        assert float(np.mean(rep.input_r[name])) == pytest.approx(measured, rel=0.3), name
    for key in ("enc.h", "enc.c"):
        assert np.mean([m.nodes[key].backward["second_moment"] for m in runs]) > 0


# ============================================================================= 4. backward and totals


def test_r_is_one_at_the_output():
    rep = report("""
    netcalc: 1
    input: {shape: [8, 12, 12], mean: 0, std: 1}
    defaults: {init: kaiming_normal, bias_init: zeros}
    layers:
      - {op: conv2d, filters: 8, kernel: 3, padding: 1, activation: relu}
      - {op: flatten}
      - {op: dense, units: 10}
    """)
    last = rep.layers[-1]
    assert np.all(np.asarray(last.r) == 1.0)
    # and back through the dense: Var·units·1 = (2/1152)·10 per element [A]
    assert rep.by_name["flatten_1"].r_mean == pytest.approx(2 / 1152 * 10, rel=REL)


def test_plain30_he_is_flat_layer_by_layer():
    # He: every dense 2 (= 256·(2/256)·1), every ReLU 1; backward r = 1 at the end, ×1/2 through a ReLU,
    # ×Var·units = 2 through a dense: every ReLU output r = 1, every dense output r = 1/2
    rep, diags = bundled("plain30-he")
    for s in rep.layers:
        if s.node.op == "dense":
            assert (s.q, s.r_mean) == pytest.approx((2.0, 0.5), rel=1e-12)
        else:
            assert (s.q, s.r_mean) == pytest.approx((1.0, 1.0), rel=1e-12)
    assert not codes(diags, "W301") and not codes(diags, "W302")


def test_plain30_growth_by_the_span_definition():
    # span(): first = the first weighted layer (plain.1.dense_1), last = the last layer that is not an
    # activation (plain.30.dense_1): both pre-activations, as He et al. compare them. growth() =
    # q_last/q_first; backward: r_norm(first)/r_norm(last), both 256 wide.
    # He:     every dense q = 2: 1; r(dense_30) = ½ (the last ReLU), each ReLU ½ and each He dense ×2 going
    #         back: r(dense_1) = ½ too: 1.
    # Xavier: Var = 2/(256 + 256) = 1/256: dense_l q = 2^{−(l−1)}: 2^{−29}; backward ×½ per ReLU, ×1 per
    #         dense: r(dense_30) = ½, r(dense_1) = ½·2^{−29}: 2^{−29}.
    he, _ = bundled("plain30-he")
    xa, diags = bundled("plain30-xavier")
    first, last = xa.span()
    assert (first.node.name, last.node.name) == ("plain.1.dense_1", "plain.30.dense_1")
    assert he.growth() == pytest.approx((1.0, 1.0), rel=1e-12)
    assert xa.growth() == pytest.approx((2.0**-29, 2.0**-29), rel=1e-12)
    assert codes(diags, "W301") and codes(diags, "W302")


def test_residual_unnormalised_doubles_per_block():
    # block: relu (q/2) → He dense (q) → relu (q/2) → He dense (q) → add x: 2q (uncorrelated branch).
    # first = dense_1 (q 2), last = block.10.add_1 (2·2¹⁰): forward 2¹⁰ = 1024 exactly; backward the same
    rep, diags = bundled("residual-unnormalised")
    fwd, bwd = rep.growth()
    assert fwd == pytest.approx(1024.0, rel=1e-12)
    assert bwd == pytest.approx(1024.0, rel=1e-12)
    adds = [s.q for s in rep.layers if s.node.op == "add"]
    assert adds == pytest.approx([2.0 * 2**b for b in range(1, 11)], rel=1e-12)
    assert codes(diags, "W301") and codes(diags, "W302")


def test_residual_zero_init_is_flat():
    rep, diags = bundled("residual-zero-init")
    assert rep.growth() == pytest.approx((1.0, 1.0), rel=1e-12)
    assert all(s.q == pytest.approx(2.0, rel=1e-12) for s in rep.layers if s.node.op == "add")
    assert not codes(diags, "W301") and not codes(diags, "W302") and not codes(diags, "W304")


def test_alexnet_lite_n01_explodes_and_saturates():
    rep, diags = bundled("alexnet-lite-n01")
    fwd, _ = rep.growth()
    assert fwd > 1e9
    assert codes(diags, "W301")
    w303 = codes(diags, "W303")
    assert [d.layer for d in w303] == ["dense_3.sigmoid"]
    assert "100%" in w303[0].message
    # the sigmoid's input: q ≈ 2e15, so P(|x| > 4) = 2Φ(−4/√q) = 1 − 1.4e-7
    sig = rep.by_name["dense_3.sigmoid"]
    frac = sig.info.saturation[0]
    assert frac == pytest.approx(2 * Phi1(-4 / math.sqrt(sig.q_in)), abs=1e-9)
    assert frac > 0.999


def test_alexnet_lite_he_has_no_growth_warning():
    _, diags = bundled("alexnet-lite-he")
    assert not codes(diags, "W301") and not codes(diags, "W302")


# ============================================================================= W304


def test_w304_fires_for_a_zero_hidden_layer_before_relu():
    _, diags = advised("""
    netcalc: 1
    input: {shape: [64], mean: 0, std: 1}
    defaults: {dense: {init: kaiming_normal, bias_init: zeros}}
    layers:
      - {op: dense, units: 64, init: zeros, activation: relu}
      - {op: dense, units: 64, activation: relu}
      - {op: dense, units: 10, init: zeros}
    """)
    # the hidden one warns; the network's output layer (zero-initialised on purpose) does not
    assert [d.layer for d in codes(diags, "W304")] == ["dense_1"]


def test_w304_not_for_residual_branch_ends():
    _, diags = bundled("residual-zero-init")
    assert not codes(diags, "W304")


def test_w304_not_for_an_output_layer_with_a_softmax():
    _, diags = advised("""
    netcalc: 1
    input: {shape: [64], mean: 0, std: 1}
    defaults: {dense: {init: kaiming_normal, bias_init: zeros}}
    layers:
      - {op: dense, units: 64, activation: relu}
      - {op: dense, units: 10, init: zeros, activation: softmax}
    """)
    assert not codes(diags, "W304")


# ============================================================================= 5. the command line


def _json(*args):
    r = netcalc("signal", *args, "--format", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_json_keys_and_numbers():
    doc = _json("plain30-xavier")
    assert set(doc["totals"]) >= {"forward_growth", "backward_growth"}
    for rec in doc["layers"]:
        assert {"name", "forward_second_moment", "backward_second_moment", "tag"} <= set(rec)
    by = {r["name"]: r for r in doc["layers"]}
    # Xavier, width 256: Var = 1/256, so dense_l carries 2^{−(l−1)}, the ReLU after it 2^{−l}
    assert by["plain.30.dense_1"]["forward_second_moment"] == pytest.approx(2.0**-29, rel=1e-12)
    assert by["plain.30.dense_1.relu"]["forward_second_moment"] == pytest.approx(2.0**-30, rel=1e-12)
    assert by["plain.30.dense_1.relu"]["backward_second_moment"] == pytest.approx(1.0, rel=1e-12)
    assert by["plain.1.dense_1"]["tag"] == "E"
    # the typical magnitudes: √(2^−29) = 2^−14.5 ≈ 4.3e−5 at the last dense, √1 = 1 for its relu's gradient
    assert by["plain.30.dense_1"]["forward_rms"] == pytest.approx(2.0**-14.5, rel=1e-12)
    assert by["plain.30.dense_1.relu"]["backward_rms"] == pytest.approx(1.0, rel=1e-12)
    assert all(r["forward_rms"] is not None for r in doc["layers"])  # the input's too
    assert doc["totals"]["forward_growth"] == pytest.approx(2.0**-29, rel=1e-12)
    assert {f["code"] for f in doc["findings"]} >= {"W301", "W302"}


def test_init_override_makes_plain30_xavier_flat():
    # --init kaiming_normal replaces every kernel's init: the report must be plain30-he's, number for number
    flat = _json("plain30-xavier", "--init", "kaiming_normal")
    he = _json("plain30-he")
    assert flat["init_override"].startswith("he_normal")
    got = [r[k] for r in flat["layers"] for k in ("forward_second_moment", "backward_second_moment")]
    want = [r[k] for r in he["layers"] for k in ("forward_second_moment", "backward_second_moment")]
    assert got == pytest.approx(want, rel=1e-12)
    assert flat["totals"]["forward_growth"] == pytest.approx(he["totals"]["forward_growth"], rel=1e-12)
    assert not {f["code"] for f in flat["findings"]} & {"W301", "W302"}


def test_compare_shows_each_label():
    r = netcalc("signal", "plain30-xavier", "--compare", "kaiming_normal", "--compare", "orthogonal:gain=2")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    header = next(line for line in lines if line.startswith("layer"))
    for label in ("spec fwd", "he_normal", "orthogonal(gain=2) fwd"):
        assert label in header
    growth = next(line for line in lines if line.startswith("forward growth"))
    # between pre-activations (span): spec (Xavier) 2^-29 = 1.86e-09; He 1; orthogonal gain 2 on 256×256:
    # Var 4/256, twice He's, so dense_l = 2^{l+1}: q(dense_30)/q(dense_1) = 2^31/4 = 2^29 = 5.37e+08
    assert "1.86e-09×" in growth and " 1×" in growth and "5.37e+08×" in growth


def test_band_silences_the_growth_warning():
    loud = _json("alexnet-lite-n01")
    quiet = _json("alexnet-lite-n01", "--band", "1e12")
    assert "W301" in {f["code"] for f in loud["findings"]}
    assert "W301" not in {f["code"] for f in quiet["findings"]}
    assert "W303" in {f["code"] for f in quiet["findings"]}  # saturation does not depend on the band


def test_bad_init_option_exits_2():
    r = netcalc("signal", "plain30-xavier", "--init", "bogus")
    assert r.returncode == 2
    assert "--init: error E107: unknown initialiser 'bogus'" in r.stderr
    r = netcalc("signal", "plain30-xavier", "--init", "kaiming_normall")
    assert r.returncode == 2
    assert "did you mean 'kaiming_normal'?" in r.stderr


def test_plot_needs_an_image_suffix(tmp_path):
    out = tmp_path / "out.txt"
    r = netcalc("signal", "plain30-xavier", "--plot", str(out))
    assert r.returncode == 2
    assert "--plot: error E107: --plot takes a .png, .svg or .pdf file" in r.stderr
    assert not out.exists()


def test_plot_without_matplotlib_names_the_extra(tmp_path):
    # tests/cli_run.py runs the CLI in a subprocess, so matplotlib is hidden inside that process:
    # sys.modules['matplotlib'] = None makes `import matplotlib` raise ImportError
    code = ("import sys; sys.modules['matplotlib'] = None; sys.argv = ['netcalc', *sys.argv[1:]]; "
            "from netcalc.cli import main; main()")  # fmt: skip
    out = tmp_path / "x.png"
    env = {**os.environ, "COLUMNS": "120", "NO_COLOR": "1", "TERM": "dumb"}
    r = subprocess.run([sys.executable, "-c", code, "signal", "plain30-xavier", "--plot", str(out)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 2
    assert "--plot: error E107: --plot needs matplotlib" in r.stderr and "netcalc[plot]" in r.stderr
    assert not out.exists()


def test_a_rule_report_field_must_be_declared():
    """Info is a declared record: a misspelt field is an AttributeError, read or written (the
    string-key blackboard it replaces gave None for a typo, and kept a misspelt write unread)."""
    from netcalc.signal_rules import Info

    info = Info()
    assert info.bias_fraction is None and info.gmean == 0.0  # not reported; no gradient part yet
    with pytest.raises(AttributeError):
        info.bias_fractoin  # noqa: B018
    with pytest.raises(AttributeError):
        info.bias_fractoin = 0.5
    info.bias_fraction = 0.5
    assert info.bias_fraction == 0.5


def test_memoised_activation_moments_equal_the_quadrature():
    # activation_moments keeps each (function, μ, s) it has worked out (a recurrent layer asks for the
    # same few at every step); asked again, in another order and mixed with new values, it must give
    # gauss_moments' own figures exactly (each s is worked out on its own grid either way)
    from netcalc import moments as mm

    phi, dphi = mm.function("tanh", {})
    for q in ([0.5, 2.0, 0.5], [2.0, 7.0, 0.5, 0.01]):
        got = mm.activation_moments("tanh", {}, 0.1, np.asarray(q))
        s = np.round(np.sqrt(np.asarray(q) - 0.01), 12)  # activation_moments rounds s to 12 digits
        want = mm.gauss_moments(phi, dphi, 0.1, s)
        for g, w in zip(got, want, strict=True):
            assert np.array_equal(g, w)


@pytest.mark.parametrize("name, slope", [("relu", 0.0), ("leaky_relu", 0.2)])
@pytest.mark.parametrize("mu, q", [(0.0, 1.0), (0.7, 2.0), (-1.3, 2.5)])
def test_slope_mean_of_relu_in_closed_form(name, slope, mu, q):
    # E[φ'] = Φ(μ/s) + a(1 − Φ(μ/s)), against a midpoint rule on each side of the jump at 0 (2·10⁵
    # cells a side, out to 14 s from μ: an independent sum whose error is far below the 1e-9 asked)
    from netcalc import moments as mm

    s = math.sqrt(q - mu * mu)
    want = 0.0
    for lo, hi, value in ((min(mu - 14 * s, -1e-9), 0.0, slope), (0.0, max(mu + 14 * s, 1e-9), 1.0)):
        edges = np.linspace(lo, hi, 200_001)
        x = (edges[1:] + edges[:-1]) / 2
        dens = np.exp(-0.5 * ((x - mu) / s) ** 2) / (s * math.sqrt(2 * math.pi))
        want += value * float(np.sum(dens) * (edges[1] - edges[0]))
    assert mm.slope_mean(name, {"negative_slope": slope}, mu, q) == pytest.approx(want, abs=1e-9)


def test_the_maps_of_all_tensors_are_bounded_once_per_report_kept():
    # a 1×2048×2049 input and a relu: two tensors of 4,196,352 positions (channels first: H·W),
    # 8,392,704 in all: within the 2²⁴ = 16,777,216 bound for one report, over it for two kept at
    # once (signal --compare): 16,785,408
    from netcalc.signal import MAX_POSITIONS, too_large

    analysis, _ = run_spec("netcalc: 1\ninput: {shape: [1, 2048, 2049]}\nlayers:\n  - {op: relu}\n")
    assert MAX_POSITIONS == 2**24
    assert too_large(analysis) is None
    problem = too_large(analysis, copies=2)
    assert problem is not None and "8,392,704 positions" in problem and "each of 2 reports" in problem


def test_max_unpool_spreads_each_value_over_its_window_and_gathers_the_gradient():
    # input N(0, 1) (q = 1 everywhere) → 2×2 max pool with indices → unpool at them: each pooled value
    # lands on one of its window's 4 positions, each as likely, the other 3 zero: E[y²] = E[max²]/4 at
    # every position, E[max of 4 iid N(0, 1)²] = m₂(4) = 1.5513 [A]; over the map E[x²]·(12/48) of the pool's
    rep = report("""
    netcalc: 1
    input: {shape: [3, 6, 8], mean: 0, std: 1}
    layers:
      - {op: maxpool2d, kernel: 2, return_indices: true, id: pool}
      - {op: maxunpool2d, kernel: 2, indices: pool.indices}
    """)
    pool, unpool = rep.layers
    m2 = max_iid(lambda x: x * x, 4)
    assert pool.q == pytest.approx(m2, rel=QUAD)
    assert unpool.q == pytest.approx(m2 / 4, rel=QUAD)
    assert np.allclose(unpool.out.q, m2 / 4)
    # backward: the output's r = 1 everywhere; each pooled value takes the gradient at the one position it
    # went to: the mean of r over its window, 1 [A]; the indices take none
    assert np.allclose(unpool.r_in[0], 1.0) and unpool.r_in[1] is None
    assert pool.r_mean == pytest.approx(1.0, rel=REL)


def test_max_unpool_leaves_zeros_where_no_window_reads():
    # a pool of 2×2 stride 3 leaves every third row and column unread: its unpool (output_size the pool's
    # 8×8 input, windows [3i, 3i + 2)) puts nothing there: E[y²] = 0 on rows/columns 2 and 5, q/4 inside
    rep = report("""
    netcalc: 1
    input: {shape: [2, 8, 8], mean: 0, std: 1}
    layers:
      - {op: maxpool2d, kernel: 2, stride: 3, return_indices: true, id: pool}
      - {op: maxunpool2d, kernel: 2, stride: 3, indices: pool.indices, output_size: 8}
    """)
    pool, unpool = rep.layers
    q = unpool.out.q
    assert q.shape == (8, 8)
    assert np.all(q[[2, 5], :] == 0) and np.all(q[:, [2, 5]] == 0)
    assert q[0, 0] == pytest.approx(pool.q / 4, rel=QUAD) and q[7, 7] == pytest.approx(pool.q / 4, rel=QUAD)
