"""The argmax factor a max pool gives the activation before it, per channel through a batchnorm of
channels with their own means (netcalc.layers.norm_channels.argmax_share, moments.open_at_max): hand
figures (issue 14 item 3; the PyTorch measurement is tests/test_signal_zoo.py's keras-conv-relu-bn-maxpool)."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from netcalc import moments as M
from netcalc.layers.norm_channels import ChannelGrid, argmax_share

# a channel mean at which a unit of within-channel deviation s = 1 is open with probability 0.1
MU_10 = NormalDist().inv_cdf(0.1)  # −1.2816


def test_open_at_max_independent_taps():
    """ρ = 0: the maximum of k taps is closed only when all are, P = 1 − (1 − p)^k: at p = ½ and k = 4
    1 − 1/16 = 0.9375; at p = 0.1, 1 − 0.9⁴ = 1 − 0.6561 = 0.3439."""
    got = M.open_at_max(4, np.array([0.0, MU_10]), 1.0, 0.0)
    assert got == pytest.approx([0.9375, 0.3439], abs=1e-9)


def test_open_at_max_correlated_taps():
    """ρ = ½, μ = 0: z_i = (u + e_i)/√2, P(all ≤ 0) = E_u[Φ(−u)^k] = ∫ Φ^k dΦ = 1/(k + 1), so 0.8 at k = 4
    and 2/3 at k = 2; ρ = 1: all taps equal, P = Φ(μ/s) (0.1 at μ = −1.2816)."""
    assert M.open_at_max(4, np.array([0.0]), 1.0, 0.5)[0] == pytest.approx(0.8, abs=1e-6)
    assert M.open_at_max(2, np.array([0.0]), 2.0, 0.5)[0] == pytest.approx(2 / 3, abs=1e-6)
    assert M.open_at_max(9, np.array([MU_10]), 1.0, 1.0)[0] == pytest.approx(0.1, abs=1e-9)


def _two_channels(op="relu", slope=0.0):
    """Two equally likely channels: mean 0 (p = ½) with gain 1, mean −1.2816 (p = 0.1, nearly dead) with
    gain 4 (a small variance: the larger gain is the nearly dead channel's)."""
    return ChannelGrid(np.array([0.0, MU_10]), np.array([0.5, 0.5]), np.array([1.0, 4.0]), 1.0, op,
                       {"negative_slope": slope})  # fmt: skip


def test_relu_read_by_a_2x2_max_pool_through_batchnorm():
    """ReLU, one max pool of k = 4 independent taps: the ReLU passes E_c[g_c·(1 − (1 − p_c)^k)]/E_c[g_c]
    = (1·0.9375 + 4·0.3439)/(1 + 4) = (0.9375 + 1.3756)/5 = 0.46262 of the r at its output; the factor
    over its own E[φ'²] = E_c[p_c] = (0.5 + 0.1)/2 = 0.3 is 0.46262/0.3 = 1.54207. Neither the pool's
    factor over all channels ((0.9375 + 0.3439)/2 / 0.3 = 2.1357, which with the gain's weight gives
    0.3·2.1357 = 0.6407) nor the profile with p_c alone ((1·0.5 + 4·0.1)/5 = 0.18)."""
    factor = argmax_share(_two_channels(), [(1.0, 2.1357, (4, 0.0))])
    assert factor == pytest.approx(1.54207, abs=1e-5)
    assert factor * 0.3 == pytest.approx(0.46262, abs=1e-5)


def test_leaky_relu_read_by_a_max_pool_through_batchnorm():
    """Leaky ReLU of slope 0.1 (a² = 0.01): at the maximum φ'² is 1 where open and a² where closed,
    A_c = 0.01 + 0.99·(0.9375, 0.3439) = (0.938125, 0.350461), everywhere D_c = 0.01 + 0.99·(0.5, 0.1)
    = (0.505, 0.109), E_c[D] = 0.307; E_c[g·A] = (0.938125 + 4·0.350461)/2 = 1.1699845, E_c[g] = 2.5:
    1.1699845/(2.5·0.307) = 1.524410."""
    factor = argmax_share(_two_channels("leaky_relu", 0.1), [(1.0, 2.0, (4, 0.0))])
    assert factor == pytest.approx(1.524410, abs=1e-5)


def test_half_of_r_through_a_max_pool_and_half_elsewhere():
    """Half of the batchnorm's r from a max pool, half from a reader without a factor (a dense layer):
    per channel N_c = ½·A_c + ½·p_c = (0.71875, 0.22195), E_c[g·N] = (0.71875 + 4·0.22195)/2 = 0.803275,
    over E_c[g]·E_c[p] = 2.5·0.3 = 0.75: 1.071033."""
    factor = argmax_share(_two_channels(), [(0.5, 1.9, (4, 0.0)), (0.5, 1.0, None)])
    assert factor == pytest.approx(1.071033, abs=1e-5)


def test_one_channel_gives_the_pools_own_factor():
    """Channels that do not differ: the factor is the pool's own E[φ'(max)²]/E[φ'²] (moments.max_moments,
    another path, whose grid over the max puts a step function within 0.1 %: 0.93650 for the exact
    0.9375 at ρ = 0): ReLU at μ = 0, k = 4, ρ = 0.3."""
    grid = ChannelGrid(np.array([0.0]), np.array([1.0]), np.array([7.0]), 1.0, "relu", {})
    _, at_max = M.max_moments(lambda v: (v > 0).astype(float), 4, 0.0, 1.0, 0.3)
    assert argmax_share(grid, [(1.0, 0.0, (4, 0.3))]) == pytest.approx(at_max / 0.5, rel=2e-3)
    assert not math.isnan(at_max)


def test_channel_max_of_one_tap_is_the_batchnorm_output():
    """A window of one tap (k = 1), or k equal taps (ρ = 1), is the value itself: E[y²] = E_c[g_c·Var_c] = 1
    and E[y] = 0 when each channel's gain is 1/Var_c. ReLU of N(0, 1): E[t] = 1/√(2π) = 0.39894,
    E[t²] = ½, Var = ½ − 1/(2π) = 0.34085; of N(1, 1): E[t] = Φ(1) + φ(1) = 0.84134 + 0.24197 = 1.08332,
    E[t²] = (1 + 1)·Φ(1) + φ(1) = 1.92466, Var = 1.92466 − 1.17358 = 0.75108."""
    from netcalc.layers.norm_channels import channel_max

    mean = np.array([1 / math.sqrt(2 * math.pi), 1.08332])
    var = np.array([0.5 - 1 / (2 * math.pi), 0.75108])
    grid = ChannelGrid(np.array([0.0, 1.0]), np.array([0.5, 0.5]), 1 / var, 1.0, "relu", {}, mean, var)
    # max_moments' dense grid over the max is within 0.1 %; at ρ = 1 its Gauss–Hermite axis alone
    # carries the kink of the ReLU, within 1 % (E[relu] 0.40239 for 0.39894)
    for k, rho, tol in ((1, 0.0, 2e-3), (4, 1.0, 1e-2)):
        e1, e2, mc2 = channel_max(grid, k, rho)
        assert e2 == pytest.approx(1.0, abs=tol) and e1 == pytest.approx(0.0, abs=tol) and mc2 < tol * tol
