"""The temporal-correlation algebra of the recurrent signal rules (netcalc.layers.recurrent_lags),
worked by hand on a linear recurrence s_t = a·s_{t−1} + x_t driven by a unit-variance AR(1) input
x (E[x_t·x_{t−k}] = ρ^k): E[s_T²] = Σ_{j,k<T} a^{j+k}·ρ^{|j−k|}, summed here term by term, and the
long run (1 + aρ)/((1 − a²)(1 − aρ))."""

from __future__ import annotations

import math

import pytest

from netcalc.layers import recurrent_lags as lags


def _recursion(a: float, rho: float, steps: int) -> tuple[float, float]:
    """E[s²] and E[s_t·s_{t−1}] after `steps` steps from s = 0, by recurrent_lags.step (β = 1)."""
    q = z = 0.0
    cov = 0.0
    for _ in range(steps):
        cross, z_new = lags.step(z, 1.0, a, rho)
        cov = a * q + cross  # E[s_t·s_{t−1}] = a·E[s_{t−1}²] + E[x_t·s_{t−1}]
        q = a * a * q + 1.0 + 2 * a * cross
        z = z_new
    return q, cov


@pytest.mark.parametrize("a, rho, steps", [(0.73, 0.7, 20), (0.5, 0.9, 7), (0.9, 0.3, 40), (0.73, 0.0, 12)])
def test_linear_recurrence_on_ar1_input_by_the_double_sum(a, rho, steps):
    # s_T = Σ_{j<T} a^j·x_{T−j}: E[s_T²] = Σ_j Σ_k a^j·a^k·ρ^|j−k|, and
    # E[s_T·s_{T−1}] = Σ_{j<T} Σ_{k<T−1} a^j·a^k·ρ^|j − (k + 1)|
    want_q = sum(a ** (j + k) * rho ** abs(j - k) for j in range(steps) for k in range(steps))
    want_c = sum(a ** (j + k) * rho ** abs(j - k - 1) for j in range(steps) for k in range(steps - 1))
    q, cov = _recursion(a, rho, steps)
    assert q == pytest.approx(want_q, rel=1e-12)
    assert cov == pytest.approx(want_c, rel=1e-12)


def test_long_run_closed_form():
    # a = 0.73 (Keras's forget gate σ(1)), ρ = 0.7: (1 + 0.511)/((1 − 0.5329)(1 − 0.511))
    # = 1.511/(0.4671·0.489) = 6.6152; iid input (ρ = 0): 1/(1 − 0.5329) = 2.1409
    q, _ = _recursion(0.73, 0.7, 400)
    assert q == pytest.approx(1.511 / (0.4671 * 0.489), rel=1e-9)
    assert q == pytest.approx(6.6152, abs=5e-4)
    q0, _ = _recursion(0.73, 0.0, 400)
    assert q0 == pytest.approx(1 / (1 - 0.73**2), rel=1e-12)


def test_ar1_coefficient_and_beta():
    # uncentred corr 0.70 of which mfrac 0.03 is the units' means: (0.70 − 0.03)/(1 − 0.03) = 0.6907
    assert lags.ar1(0.70, 0.03) == pytest.approx(0.67 / 0.97)
    assert lags.ar1(0.03, 0.03) == 0.0  # only the means: no AR(1) part
    assert lags.ar1(-0.2, 0.0) == 0.0
    # β = √(C/ρ), capped at the drive's standard deviation
    assert lags.beta(0.14, 0.7, 1.0) == pytest.approx(math.sqrt(0.2))
    assert lags.beta(0.9, 0.7, 1.0) == 1.0
    assert lags.beta(0.1, 0.0, 1.0) == 0.0


def test_iid_input_adds_nothing():
    # ρ = 0: no cross term and no projection, whatever the state's history
    assert lags.step(3.0, 0.0, 0.73, 0.0) == (0.0, 0.0)
    assert lags.lag1_fluct(lambda c: 10 * c, 0.2, 0.0) == 0.0
    assert lags.lag1_fluct(lambda c: 10 * c, 0.2, 0.05) == pytest.approx(0.5)
