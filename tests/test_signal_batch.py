"""Batchnorm's signal rules with a finite batch (`netcalc signal --batch N`, verify's batch), by hand.

A channel's m = B·positions values in a batch: the batch variance v is (m − 1)/m·Var·χ²_(m−1)/(m − 1)
for Gaussian values, so E[1/v] = m/((m − 3)·Var); backward, the batch mean removes gmean/B of r
(1/m for an independent gradient) and the normalised input 1/m: r_in = (m − 2)/m·E[1/v]·r =
(m − 2)/(m − 3)/Var·r. The PyTorch measurements of the same figures are in test_signal_oracle.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_run import netcalc
from conftest import run_spec

from netcalc import moments as M
from netcalc.layers.norm_batch import batch_stats
from netcalc.signal import propagate

DENSE_BN = """
netcalc: 1
convention: pytorch
input: {shape: [64]}
layers:
  - {op: dense, units: 64, init: glorot_uniform, bias: false}
  - {op: batchnorm}
"""

CONV1_BN = """
netcalc: 1
convention: pytorch
input: {shape: [8, 4, 4]}
layers:
  - {op: conv2d, filters: 8, kernel: 1, init: glorot_uniform, bias: false}
  - {op: batchnorm}
"""


def _layers(text, batch):
    analysis, diags = run_spec(text)
    assert analysis is not None, diags
    return propagate(analysis, batch=batch).layers


def test_dense_batchnorm_at_batch_8():
    # dense: 64·Var(w)·1 = 64·2/(64 + 64) = 1 = Var. m = 8 (a vector): E[1/v] = 8/(5·1) = 1.6; r = 1 at the
    # output with gmean 1 (one position): keep 1 − 1/8 − 1/8 = 0.75; r_in = 0.75·1.6 = 1.2 (= (m − 2)/(m − 3));
    # ε = 1e-5 moves it by ~ε·E[1/v²]/E[1/v] = 1e-5·(64/15)/1.6 ≈ 3e-5. Forward E[v/(v + ε)] = 1 − ε·1.6 + …
    dense, bn = _layers(DENSE_BN, 8)
    assert dense.q == pytest.approx(1.0, rel=1e-9)
    assert bn.q == pytest.approx(1 - 1.6e-5, abs=1e-6)
    assert dense.r_mean == pytest.approx(1.2, rel=1e-3)
    assert (bn.fwd_tag, bn.bwd_tag) == ("E", "A")


def test_dense_batchnorm_infinite_batch_is_one_over_var():
    dense, bn = _layers(DENSE_BN, None)
    assert bn.q == pytest.approx(1 / (1 + 1e-5), rel=1e-9)
    assert dense.r_mean == pytest.approx(1 / (1 + 1e-5), rel=1e-9)


def test_batch_of_one_vector_passes_nothing():
    # m = 1: v = 0, the output is β = 0 and the projection on the constant removes the whole gradient
    dense, bn = _layers(DENSE_BN, 1)
    assert bn.q == 0.0
    assert dense.r_mean == 0.0


def test_conv_batchnorm_at_batch_2_counts_the_positions():
    # 1×1 conv, glorot: 8·(2/16)·1 = 1. m = 2·16 = 32; r = 1 at every position, gmean 1/16 (independent
    # positions): keep 1 − (1/16)/2 − 1/32 = 30/32; E[1/v] = 32/29: r_in = 30/29 = (m − 2)/(m − 3)
    conv, _ = _layers(CONV1_BN, 2)
    assert conv.r_mean == pytest.approx(30 / 29, rel=1e-3)
    assert np.allclose(conv.r, conv.r_mean)


@pytest.mark.parametrize("m", [4, 8, 33, 1000])
def test_gaussian_batch_variance_moments_are_chi_square(m):
    # E[1/χ²_k] = 1/(k − 2): E[1/v] = m/((m − 3)·Var) at ε → 0; E[v] = (m − 1)/m·Var
    nodes, w = M.sample_variance_nodes(m, 3.0)
    assert float((w * nodes).sum()) == pytest.approx((m - 1) / m, rel=1e-6)
    assert float((w / nodes).sum()) == pytest.approx(m / (m - 3), rel=1e-4)
    _, inv, proj = batch_stats(2.0, 1e-12, m)
    assert float(inv) == pytest.approx(m / (m - 3) / 2.0, rel=1e-4)
    assert float(proj) == pytest.approx(float(inv), rel=1e-6)  # 2a − a² = 1 at ε → 0


def test_batch_variance_of_two_values_against_its_integral():
    # m = 2: v = (x₁ − x₂)²/4 = Var·z²/2, z ~ N(0, 1): E[v/(v + ε)] by a direct integral over z
    var, eps = 0.5, 1e-2
    z = np.linspace(-40, 40, 2_000_001)
    dens = np.exp(-z * z / 2) / np.sqrt(2 * np.pi) * (z[1] - z[0])
    v = var * z * z / 2
    kept, inv, _ = batch_stats(var, eps, 2)
    assert float(kept) == pytest.approx(float((dens * v / (v + eps)).sum()), rel=1e-4)
    assert float(inv) == pytest.approx(float((dens / (v + eps)).sum()), rel=1e-4)


def test_signal_batch_option(tmp_path):
    spec = tmp_path / "bn.yaml"
    spec.write_text(DENSE_BN)
    doc = json.loads(netcalc("signal", str(spec), "-f", "json").stdout)
    assert doc["batch"] == 8  # verify's default
    doc = json.loads(netcalc("signal", str(spec), "--batch", "64", "-f", "json").stdout)
    assert doc["batch"] == 64
    rows = {r["name"]: r for r in doc["layers"]}
    # m = 64: (62/64)·(64/61) = 62/61
    assert rows["dense_1"]["backward_second_moment"] == pytest.approx(62 / 61, rel=1e-3)
    bad = netcalc("signal", str(spec), "--batch", "0")
    assert bad.returncode == 2
    assert "E107" in bad.stderr + bad.stdout and "--batch takes a whole number from 1" in bad.stderr + bad.stdout


SHORTCUT_BN = """
netcalc: 1
convention: pytorch
input: {shape: [8, 2, 2]}
layers:
  - {op: shortcut, filters: 16}
"""


@pytest.mark.parametrize("batch, r_in", [(4, 28 / 13), (None, 2.0)])
def test_projection_shortcut_batchnorm_at_batch_4(batch, r_in):
    # the projection: a 1×1 conv 8 → 16 at PyTorch's default kaiming_uniform(a = √5), Var(w) = 1/(3·fan_in)
    # = 1/24, so Var = 8·1/24 = 1/3 on N(0, 1) inputs. At B = 4 a channel has m = 4·2·2 = 16 Gaussian values:
    # E[1/v] = m/((m − 3)·Var) = 16·3/13; the output's r = 1 is independent over its 4 positions (gmean 1/4),
    # so the batch mean removes gmean/B = 1/16 and the normalised input ≈ 1/m = 1/16: keep 14/16. Back through
    # the conv, Var(w)·C_out = 16/24 = 2/3: r_in = 2/3·14/16·48/13 = 28/13 = 2.154 ((m − 2)/(m − 3) of the
    # infinite batch's 2/3·3 = 2; ε = 1e-5 moves it by ~ε·E[1/v²]/E[1/v] < 1e-4). Forward E[v/(v + ε)]
    # ≈ 1 − ε·E[1/v] = 1 − 3.7e-5 (infinite batch: 1 − 3e-5).
    (sc,) = _layers(SHORTCUT_BN, batch)
    assert sc.r_in[0] == pytest.approx(np.full((2, 2), r_in), rel=1e-3)
    assert sc.q == pytest.approx(1 - 1e-5 * (48 / 13 if batch else 3), abs=2e-6)
