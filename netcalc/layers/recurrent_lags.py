"""Temporal correlation inside the recurrent layers' signal rules (recurrent_signal.run calls these).

A sequence's statistics carry `Sig.corr`, the uncentred correlation of neighbouring positions: for a
sequence, E[x_t·x_{t−1}]/E[x²], of which `mfrac` is a unit's own constant mean. What is left,
ρ = (corr − mfrac)/(1 − mfrac), is taken as the lag-1 coefficient of an AR(1) process: the part of
x that is not a unit's constant has correlation ρ^k at lag k [A] (a recurrent layer's h measured in
torch, Keras LSTM, uncentred: 0.70, 0.52, 0.39, 0.29, 0.22 at lags 1–5 against 0.70^k = 0.70, 0.49,
0.34, 0.24, 0.17).

A cell that carries its state, s_t = a_t·s_{t−1} + d_t (an LSTM's c_t = f_t·c_{t−1} + i_t·g_t, a
GRU's h_t = z_t·h_{t−1} + (1 − z_t)·n_t), sums its drive d over time. With an independent drive,
E[s_t²] = E[a²]·E[s_{t−1}²] + E[d²]; with a drive correlated over time the cross term
2·E[a]·E[s_{t−1}·d_t] is not zero. Its fluctuating part is written as a projection on the input's
AR(1) component: d_t = (mean) + β_t·z_t + ε_t, z_t of unit variance with E[z_t·z_{t−k}] = ρ^k and
ε_t independent of everything else, so that cov(d_t, d_{t−k}) = β_t·β_{t−k}·ρ^k; β_t² = C_t/ρ
from the drive's lag-1 covariance C_t beyond its unit-constant part (worked out through the gates'
nonlinearities by Gauss–Hermite pair moments). Then, with Z_t = E[s_t·z_t] (the state's projection):

    E[s_{t−1}·z_t] = ρ·Z_{t−1}                      (z_t = ρ·z_{t−1} + an innovation independent of the past)
    E[s_{t−1}·d_t] ⊇ β_t·ρ·Z_{t−1}                   (the fluctuating part of the cross term)
    Z_t = E[a]·ρ·Z_{t−1} + b·β_t                     (b: the drive's factor, 1 − E[z] in a GRU, 1 in an LSTM)

With a ≡ a, β ≡ 1, b = 1 (a linear recurrence s_t = a·s_{t−1} + x_t on a unit AR(1) input) the long
run is Z = 1/(1 − aρ), E[s_{t−1}x_t] = ρ/(1 − aρ) and E[s²] = (1 + aρ)/((1 − a²)(1 − aρ)), the
closed form of Σ_{j,k} a^{j+k}·ρ^{|j−k|} (tests/test_recurrent_lags.py). The gates' own
fluctuations are taken as independent of the state (E[a_t·s_{t−1}·d_t] = E[a]·E[s_{t−1}·d_t]) and the
recurrent kernel's share of the pre-activations as uncorrelated over time, so an input with ρ = 0 (iid
inputs, an embedding of iid tokens) gives β = 0 and exactly the independent recursion [A].
"""

from __future__ import annotations

import math


def ar1(corr: float, mfrac: float) -> float:
    """The AR(1) coefficient of the part of a sequence that is not a unit's constant mean:
    (corr − mfrac)/(1 − mfrac), clipped to [0, 1) (a negative one is taken as none)."""
    if mfrac >= 1:
        return 0.0
    return min(max((corr - mfrac) / (1 - mfrac), 0.0), 0.999)


def beta(lag1_cov: float, rho: float, var: float) -> float:
    """β of the drive's projection on the input's AR(1) component: √(C/ρ) for a lag-1 covariance C
    (beyond the unit-constant part), at most the drive's fluctuating standard deviation √var."""
    if rho <= 0 or lag1_cov <= 0:
        return 0.0
    return math.sqrt(min(lag1_cov / rho, max(var, 0.0)))


def step(z_prev: float, b: float, carry: float, rho: float, factor: float = 1.0) -> tuple[float, float]:
    """One step of s_t = a·s_{t−1} + (factor)·d_t with E[a] = carry: (E[s_{t−1}·d_t]'s fluctuating part
    β_t·ρ·Z_{t−1}, Z_t = carry·ρ·Z_{t−1} + factor·β_t) for the drive's β_t = b."""
    cross = b * rho * z_prev
    return cross, carry * rho * z_prev + factor * b


def lag1_fluct(pair, const: float, cov: float) -> float:
    """The part of E[φ(a_t)·φ(a_{t−1})] that the input's correlation adds: pair(const + cov) −
    pair(const), `pair(c)` being the gate's pair moment at covariance c of its pre-activations."""
    if cov <= 0:
        return 0.0
    return pair(const + cov) - pair(const)


def dx_lag1(cell: str, st: dict, lag_d: tuple) -> float:
    """Σ over the gates of E[da_t·da_{t+1}] per unit, da the gradient at a gate's pre-activation
    (the input's gradient is W_xᵀ·da, the same W_x at every step: E[dx_t·dx_{t+1}] = units·Var(W_x)·
    this): the carried gradient's lag-1 product (`lag_d`: LSTM (E[dc_t·dc_{t+1}], E[dh_t·dh_{t+1}]),
    GRU (E[dh_t·dh_{t+1}],), rnn the same) times each gate's multiplier's lag-1 product from the
    forward run (`st["lag"]`), the derivatives' own correlation taken as 1 [A]:
    LSTM i: g·σ'(a_i) → E[g_t·g_{t+1}]·E[σ'²]; f: c_{t−1}·σ' → E[c_{t−1}·c_t]·E[σ'²]; g: i·tanh' →
    E[i_t·i_{t+1}]·E[tanh'²]; o: tanh(c)·σ' → E[tanh(c_t)·tanh(c_{t+1})]·E[σ'²] on dh; GRU n: (1 − z)·tanh'
    → E[(1 − z)²]·E[tanh'²], z: (h_{t−1} − n)·σ' at the state's correlation, r: n's times r's; rnn
    tanh' → E[tanh'²]."""
    lag = st["lag"]
    if cell == "lstm":
        (_, _, id2, _, _), (_, _, fd2, _, _), (_, _, gd2, _, _), (_, _, od2, _, _) = st["gates"]
        c_c, c_h = lag_d
        return c_c * (lag["gg"] * id2 + lag["cc"] * fd2 + lag["ii"] * gd2) + c_h * lag["tt"] * od2
    if cell == "gru":
        (c_h,) = lag_d
        q = st["qh_prev"] + st["n2"]
        hcorr = lag["hh"] / st["qh"] if st["qh"] > 0 else 0.0
        dn = st["omz2"] * st["nd"]
        return c_h * (dn + q * min(hcorr, 1.0) * st["zd"] + dn * st["rec_n"] * st["rd"])
    (c_h,) = lag_d
    return c_h * st["hd"]
