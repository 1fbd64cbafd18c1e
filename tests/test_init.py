"""Weight initialisers (netcalc.initializers) and the executor's sampler, against hand formulas.

Every expected variance below is written from the frameworks' definitions (the derivation is in the
comment next to it), never from netcalc.initializers itself. Closed forms are compared at 1e-12 (relative);
samples at 4 standard errors of the sample mean / sample variance (the SE is measured from the sample:
sd/√N for the mean, √((m₄ − s⁴)/N) for the variance), so a wrong formula by even 1 % fails with
N = 10⁶ (4 SE ≈ 0.6 % for a Gaussian, 0.4 % for a uniform).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from cli_run import netcalc

from netcalc import initializers as inits
from netcalc.executor.base import Env
from netcalc.executor.weights import sample
from netcalc.initializers import InitSpec, default_for, moments, parse_cli, parse_name

REL = 1e-12  # closed forms: only rounding separates the two sides

# PyTorch conv weight (C_out, C_in, k, k) = (64, 32, 3, 3): fan_in = 32·9 = 288, fan_out = 64·9 = 576.
# Keras conv kernel (k, k, C_in, C_out) = (3, 3, 32, 64): the same fans.
# PyTorch Linear weight (out, in) = (128, 256): fan_in 256, fan_out 128; Keras kernel (256, 128): the same.
SHAPES = [
    ("pytorch-conv", (64, 32, 3, 3), False, 288, 576),
    ("keras-conv", (3, 3, 32, 64), True, 288, 576),
    ("pytorch-dense", (128, 256), False, 256, 128),
    ("keras-dense", (256, 128), True, 256, 128),
]


def phi(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def Phi(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def trunc_var_closed(std: float, beta: float) -> float:
    """The doc's formula for N(0, std²) cut at ±beta·std: std²·[1 − 2βφ(β)/(2Φ(β) − 1)]."""
    return std * std * (1 - 2 * beta * phi(beta) / (2 * Phi(beta) - 1))


def trunc_moments_numeric(mean: float, std: float, a: float, b: float, n: int = 2_000_000):
    """Mean and variance of N(mean, std²) restricted to [a, b], by a midpoint rule written here."""
    h = (b - a) / n
    x = a + (np.arange(n) + 0.5) * h
    w = np.exp(-0.5 * ((x - mean) / std) ** 2)
    z = w.sum()
    m = float((x * w).sum() / z)
    v = float(((x - m) ** 2 * w).sum() / z)
    return m, v


# ----------------------------------------------------------------------------- moments(): every name


def _cases(fi: int, fo: int):
    """(spelling, given params, expected (mean, var)) for a weight with these fans."""
    g_tanh = 5 / 3
    return [
        # He/Kaiming: gain²/fan with gain √(2/(1 + a²)) (leaky_relu, a = 0 by default) → 2/fan_in
        ("he_normal", {}, (0.0, 2 / fi)),
        ("kaiming_normal", {}, (0.0, 2 / fi)),
        ("he_uniform", {}, (0.0, 2 / fi)),
        ("kaiming_uniform", {}, (0.0, 2 / fi)),
        ("kaiming_normal", {"mode": "fan_out"}, (0.0, 2 / fo)),
        ("he_uniform", {"mode": "fan_out"}, (0.0, 2 / fo)),
        # leaky slope a = 0.1: gain² = 2/(1 + 0.01)
        ("kaiming_normal", {"a": 0.1}, (0.0, 2 / 1.01 / fi)),
        # PyTorch calculate_gain: tanh 5/3, relu √2, selu 3/4, linear/sigmoid/conv 1
        ("kaiming_normal", {"nonlinearity": "tanh"}, (0.0, g_tanh**2 / fi)),
        ("kaiming_uniform", {"nonlinearity": "relu"}, (0.0, 2 / fi)),
        ("kaiming_normal", {"nonlinearity": "selu"}, (0.0, 0.5625 / fi)),
        ("kaiming_normal", {"nonlinearity": "linear"}, (0.0, 1 / fi)),
        ("kaiming_normal", {"nonlinearity": "sigmoid"}, (0.0, 1 / fi)),
        ("kaiming_normal", {"nonlinearity": "conv3d"}, (0.0, 1 / fi)),
        ("kaiming_uniform", {"nonlinearity": "conv_transpose1d"}, (0.0, 1 / fi)),
        ("he_normal", {"nonlinearity": "tanh", "mode": "fan_out"}, (0.0, g_tanh**2 / fo)),
        # Glorot/Xavier: 2·gain²/(fan_in + fan_out)
        ("glorot_normal", {}, (0.0, 2 / (fi + fo))),
        ("xavier_normal", {}, (0.0, 2 / (fi + fo))),
        ("glorot_uniform", {}, (0.0, 2 / (fi + fo))),
        ("xavier_uniform", {}, (0.0, 2 / (fi + fo))),
        ("xavier_uniform", {"gain": g_tanh}, (0.0, 2 * g_tanh**2 / (fi + fo))),
        # LeCun: 1/fan_in
        ("lecun_normal", {}, (0.0, 1 / fi)),
        ("lecun_uniform", {}, (0.0, 1 / fi)),
        # variance_scaling: scale/fan whatever the distribution (Keras corrects its truncation)
        ("variance_scaling", {"scale": 2.0}, (0.0, 2 / fi)),
        ("variance_scaling", {"scale": 2.0, "mode": "fan_out"}, (0.0, 2 / fo)),
        ("variance_scaling", {"scale": 3.0, "mode": "fan_avg", "distribution": "uniform"}, (0.0, 3 / ((fi + fo) / 2))),
        ("variance_scaling", {"scale": 0.5, "distribution": "untruncated_normal"}, (0.0, 0.5 / fi)),
        # normal(mean, std): (mean, std²); Keras RandomNormal defaults to std 0.05, netcalc's normal to 1
        ("normal", {}, (0.0, 1.0)),
        ("normal", {"mean": 0.1, "std": 0.5}, (0.1, 0.25)),
        ("random_normal", {}, (0.0, 0.05**2)),
        ("random_normal", {"std": 0.02}, (0.0, 0.02**2)),
        # uniform(low, high): ((low + high)/2, (high − low)²/12); Keras RandomUniform ±0.05 → 0.1²/12 = 0.05²/3
        ("uniform", {}, (0.5, 1 / 12)),
        ("uniform", {"low": -0.3, "high": 0.5}, (0.1, 0.64 / 12)),
        ("random_uniform", {}, (0.0, 0.05**2 / 3)),
        # constants: no spread
        ("constant", {"value": 0.3}, (0.3, 0.0)),
        ("zeros", {}, (0.0, 0.0)),
        ("ones", {}, (1.0, 0.0)),
    ]


@pytest.mark.parametrize("where, shape, keras, fi, fo", SHAPES, ids=[s[0] for s in SHAPES])
def test_moments_match_hand_formulas_for_every_name(where, shape, keras, fi, fo):
    for name, given, (mean, var) in _cases(fi, fo):
        spec = parse_name(name, given)
        assert spec is not None, name
        got_mean, got_var = moments(spec, shape, keras)
        assert got_mean == pytest.approx(mean, rel=REL, abs=1e-15), (name, given)
        assert got_var == pytest.approx(var, rel=REL, abs=1e-15), (name, given)


@pytest.mark.parametrize("where, shape, keras, fi, fo", SHAPES, ids=[s[0] for s in SHAPES])
def test_orthogonal_variance_is_gain_squared_over_the_longer_side(where, shape, keras, fi, fo):
    # PyTorch flattens to (shape[0], rest): conv (64, 288), dense (128, 256); Keras to (rest, shape[-1]):
    # conv (288, 64), dense (256, 128). The shorter side is orthonormal, so the squares sum to
    # min(rows, cols)·g² over rows·cols entries: g²/max(rows, cols) = g²/288 (conv), g²/256 (dense).
    longer = 288 if len(shape) == 4 else 256
    for g in (1.0, 2.0):
        assert moments(parse_name("orthogonal", {"gain": g}), shape, keras) == pytest.approx(
            (0.0, g * g / longer), rel=REL
        )


@pytest.mark.parametrize(
    "alias, canonical",
    [("kaiming_normal", "he_normal"), ("kaiming_uniform", "he_uniform"), ("xavier_normal", "glorot_normal"),
     ("xavier_uniform", "glorot_uniform"), ("random_normal", "normal"), ("random_uniform", "uniform"),
     ("zeros", "constant"), ("ones", "constant")],
)  # fmt: skip
def test_both_spellings_give_one_canonical_name(alias, canonical):
    spec = parse_name(alias)
    assert spec.name == canonical
    assert spec.params["spelling"] == alias  # kept for the report, hidden from describe()
    assert "spelling" not in spec.describe()


def test_keras_truncated_normal_is_not_corrected():
    # Keras TruncatedNormal(stddev): cut at ±2 std, spread not corrected: Var = std²·[1 − 4φ(2)/(2Φ(2) − 1)]
    # = 0.77374·std² (the doc's 0.7737; the numeric integral below agrees with the closed form to 1e-9).
    factor = trunc_var_closed(1.0, 2.0)
    assert factor == pytest.approx(0.7737, abs=5e-5)
    assert trunc_moments_numeric(0.0, 1.0, -2.0, 2.0)[1] == pytest.approx(factor, rel=1e-9)
    for std in (0.05, 1.0, 3.0):  # 0.05 is Keras' default stddev
        for _, shape, keras, _, _ in SHAPES:
            spec = parse_name("truncated_normal", {"std": std})
            assert moments(spec, shape, keras) == pytest.approx((0.0, factor * std * std), rel=REL)
    assert moments(parse_name("truncated_normal"), (10, 10), True)[1] == pytest.approx(factor * 0.05**2, rel=REL)
    # and Keras VarianceScaling's correction constant is exactly the truncated std: 0.87962566² = 0.77374
    assert pytest.approx(factor, rel=1e-12) == inits.KERAS_TRUNC_STD**2


@pytest.mark.parametrize("std", [1.0, 0.5, 0.02, 2.0])
def test_pytorch_trunc_normal_uses_absolute_bounds(std):
    # trunc_normal_(std, a = −2, b = 2): the bounds are absolute, so β = 2/std:
    # Var = std²·[1 − 2βφ(β)/(2Φ(β) − 1)]. std 1 → 0.7737; std 0.5 → β 4 → 0.24973; std 0.02 → β 100 → std².
    beta = 2 / std
    expected = trunc_var_closed(std, beta)
    assert trunc_moments_numeric(0.0, std, -2.0, 2.0)[1] == pytest.approx(expected, rel=1e-8)
    got = moments(parse_name("trunc_normal", {"std": std}), (64, 32, 3, 3), False)
    assert got[0] == pytest.approx(0.0, abs=1e-15)
    assert got[1] == pytest.approx(expected, rel=REL)


def test_trunc_normal_with_an_offset_mean_is_asymmetric():
    # N(1, 1) cut to [−2, 2]: an asymmetric cut moves the mean down and narrows the spread; the moments
    # come from a midpoint rule written here (2·10⁶ cells: accurate to ~1e-10).
    mean, var = trunc_moments_numeric(1.0, 1.0, -2.0, 2.0)
    got = moments(parse_name("trunc_normal", {"mean": 1.0, "std": 1.0}), (8, 8), False)
    assert got[0] == pytest.approx(mean, rel=1e-9)
    assert got[1] == pytest.approx(var, rel=1e-9)
    assert got[0] < 1.0


# ----------------------------------------------------------------------------- framework defaults


def test_pytorch_default_conv_kernel_is_one_third_over_fan_in():
    # kaiming_uniform_(a = √5): gain² = 2/(1 + 5) = 1/3, bound = gain·√(3/fan_in) = 1/√fan_in,
    # Var = bound²/3 = 1/(3·fan_in) = 1/864 for fan_in 288.
    spec = default_for("kernel", "pytorch", (64, 32, 3, 3))
    assert moments(spec, (64, 32, 3, 3), False) == pytest.approx((0.0, 1 / (3 * 288)), rel=REL)
    dense = default_for("kernel", "pytorch", (128, 256))
    assert moments(dense, (128, 256), False) == pytest.approx((0.0, 1 / (3 * 256)), rel=REL)


def test_pytorch_default_bias_uses_the_weights_fan_in():
    # bias U(±1/√fan_in) with the weight's fan_in (288): Var = 1/(3·288), mean 0
    spec = default_for("bias", "pytorch", (64, 32, 3, 3))
    assert spec.name == "uniform"
    assert spec.params["high"] == pytest.approx(1 / math.sqrt(288), rel=REL)
    assert spec.params["low"] == pytest.approx(-1 / math.sqrt(288), rel=REL)
    assert moments(spec, (64,), False) == pytest.approx((0.0, 1 / (3 * 288)), rel=REL)


@pytest.mark.parametrize("role", ["kernel", "recurrent_kernel", "bias", "recurrent_bias"])
def test_pytorch_recurrent_default_is_uniform_over_root_units(role):
    # every LSTM/GRU/RNN tensor U(±1/√hidden): Var = 1/(3·8) = 1/24 for 8 units, whatever the shape
    spec = default_for(role, "pytorch", (32, 3), units=8)
    assert moments(spec, (32, 3), False) == pytest.approx((0.0, 1 / 24), rel=REL)


def test_keras_defaults():
    # Dense/Conv kernel glorot_uniform: 2/(288 + 576); bias zeros; recurrent kernel orthogonal on (u, 4u) =
    # (8, 32): rows orthonormal, 1/32 per entry; Embedding U(±0.05): 0.05²/3.
    assert moments(default_for("kernel", "keras", (3, 3, 32, 64)), (3, 3, 32, 64), True) == pytest.approx(
        (0.0, 2 / (288 + 576)), rel=REL
    )
    assert moments(default_for("bias", "keras", (3, 3, 32, 64)), (64,), True) == (0.0, 0.0)
    rec = default_for("recurrent_kernel", "keras", (8, 32), units=8)
    assert rec.name == "orthogonal"
    assert moments(rec, (8, 32), True) == pytest.approx((0.0, 1 / 32), rel=REL)
    assert moments(default_for("embedding", "keras", (100, 16)), (100, 16), True) == pytest.approx(
        (0.0, 0.05**2 / 3), rel=REL
    )


def test_embedding_and_norm_defaults():
    # PyTorch nn.Embedding: N(0, 1); norms: γ = 1, β = 0 in both frameworks
    assert moments(default_for("embedding", "pytorch", (100, 16)), (100, 16), False) == (0.0, 1.0)
    for conv in ("pytorch", "keras"):
        assert moments(default_for("gamma", conv, (16,)), (16,), conv == "keras") == (1.0, 0.0)
        assert moments(default_for("beta", conv, (16,)), (16,), conv == "keras") == (0.0, 0.0)


# ----------------------------------------------------------------------------- the executor's sampler

N = 1_000_000


def _env(keras: bool, seed: int):
    # the executor's own Env, not a stand-in: a stand-in drifts when Env gains a field (it did: `dry`)
    return Env(convention="keras" if keras else "pytorch", rng=np.random.default_rng(seed))


def _check_sample(x: np.ndarray, mean: float, var: float, what):
    n = x.size
    m = float(x.mean())
    v = float(x.var())
    if var == 0:
        assert np.all(x == mean), what
        return
    se_mean = math.sqrt(var / n)
    m4 = float(((x - m) ** 4).mean())
    se_var = math.sqrt(max(m4 - v * v, 0.0) / n)
    assert abs(m - mean) < 4 * se_mean, (what, m, mean, se_mean)
    assert abs(v - var) < 4 * se_var, (what, v, var, se_var, (v - var) / se_var)


SAMPLED = [
    "he_normal", "kaiming_uniform", ("kaiming_normal", {"mode": "fan_out", "nonlinearity": "tanh"}),
    ("he_uniform", {"a": 0.3}), "glorot_normal", "xavier_uniform", "lecun_normal", "lecun_uniform",
    ("variance_scaling", {"scale": 2.0}), ("variance_scaling", {"scale": 2.0, "distribution": "uniform"}),
    ("variance_scaling", {"scale": 1.0, "mode": "fan_avg", "distribution": "untruncated_normal"}),
    ("normal", {"mean": 0.2, "std": 0.3}), "random_normal", ("uniform", {"low": -0.1, "high": 0.5}),
    "random_uniform", "truncated_normal", ("truncated_normal", {"mean": 0.5, "std": 2.0}),
    ("trunc_normal", {"std": 1.0}), ("trunc_normal", {"std": 0.5}), ("trunc_normal", {"mean": 1.0, "std": 1.0}),
    "zeros", "ones", ("constant", {"value": -0.7}),
]  # fmt: skip


@pytest.mark.parametrize("keras", [False, True], ids=["pytorch", "keras"])
@pytest.mark.parametrize("case", SAMPLED, ids=lambda c: c if isinstance(c, str) else f"{c[0]}{c[1]}")
def test_sampler_variance_matches_moments(case, keras):
    name, given = (case, {}) if isinstance(case, str) else case
    spec = parse_name(name, given)
    fan_shape = (3, 3, 32, 64) if keras else (64, 32, 3, 3)
    # 10⁶ draws with the conv weight's fans (fan_in 288, fan_out 576)
    x = sample(spec, (N,), "kernel", _env(keras, 1234), fan_shape=fan_shape)
    mean, var = moments(spec, fan_shape, keras)
    _check_sample(x, mean, var, (name, given, keras))


@pytest.mark.parametrize("keras", [False, True], ids=["pytorch", "keras"])
def test_sampled_orthogonal_is_exactly_orthonormal(keras):
    # Not iid, so no standard error: the shorter side is orthonormal, so the mean square is exactly
    # gain²·min/(rows·cols) = gain²/max(rows, cols) = 4/288 (conv 64 × 288 flattened, gain 2).
    spec = parse_name("orthogonal", {"gain": 2.0})
    shape = (3, 3, 32, 64) if keras else (64, 32, 3, 3)
    w = sample(spec, shape, "kernel", _env(keras, 7))
    assert w.shape == shape
    assert float((w**2).mean()) == pytest.approx(4 / 288, rel=1e-12)
    assert moments(spec, shape, keras)[1] == pytest.approx(4 / 288, rel=REL)
    flat = w.reshape(-1, 64) if keras else w.reshape(64, -1)
    gram = flat.T @ flat if keras else flat @ flat.T  # the 64 × 64 side
    assert np.allclose(gram, 4 * np.eye(64), atol=1e-10)


@pytest.mark.parametrize(
    "role, keras, units, expected",
    [
        # PyTorch kernel kaiming_uniform(a=√5): 1/(3·288); bias U(±1/√288) from the weight's fan_in
        ("kernel", False, 0, (0.0, 1 / 864)),
        ("bias", False, 0, (0.0, 1 / 864)),
        # PyTorch recurrent: U(±1/√8) → 1/24
        ("kernel", False, 8, (0.0, 1 / 24)),
        # Keras: glorot_uniform 2/(288 + 576), zero bias; embeddings U(±0.05) (keras), N(0, 1) (pytorch)
        ("kernel", True, 0, (0.0, 2 / 864)),
        ("bias", True, 0, (0.0, 0.0)),
        ("embedding", True, 0, (0.0, 0.05**2 / 3)),
        ("embedding", False, 0, (0.0, 1.0)),
    ],
)
def test_sampler_framework_defaults(role, keras, units, expected):
    fan_shape = (3, 3, 32, 64) if keras else (64, 32, 3, 3)
    x = sample(None, (N,), role, _env(keras, 99), units=units, weight_shape=fan_shape, fan_shape=fan_shape)
    _check_sample(x, *expected, (role, keras, units))
    # and netcalc.initializers's own default agrees with the hand value
    spec = default_for(role, "keras" if keras else "pytorch", fan_shape, units=units)
    shape = (64,) if role == "bias" else fan_shape
    assert moments(spec, shape, keras) == pytest.approx(expected, rel=REL, abs=1e-15)


# ----------------------------------------------------------------------------- parse errors


def _spec(tmp_path, init_text: str):
    path = tmp_path / "net.yaml"
    path.write_text(f"netcalc: 1\ninput: {{shape: [8]}}\nlayers:\n  - {{op: dense, units: 4, init: {init_text}}}\n")
    return str(path)


def test_unknown_initialiser_in_a_spec_is_e105_with_a_suggestion(tmp_path):
    r = netcalc("signal", _spec(tmp_path, "he_normall"))
    assert r.returncode == 2
    assert "E105" in r.stderr
    assert "unknown initialiser 'he_normall'" in r.stderr
    assert "did you mean 'he_normal'?" in r.stderr
    assert ":4:" in r.stderr  # located at the line of the init


def test_unknown_initialiser_parameter_is_e102(tmp_path):
    r = netcalc("signal", _spec(tmp_path, "{name: normal, sd: 1}"))
    assert r.returncode == 2
    assert "E102" in r.stderr
    assert "unknown key 'sd'" in r.stderr
    assert "did you mean 'std'?" in r.stderr


def test_uniform_low_not_below_high_is_e104(tmp_path):
    for low, high in ((1, 0), (0.5, 0.5)):
        r = netcalc("signal", _spec(tmp_path, f"{{name: uniform, low: {low}, high: {high}}}"))
        assert r.returncode == 2
        assert "E104" in r.stderr
        assert "low < high" in r.stderr


def test_a_valid_mapping_is_accepted(tmp_path):
    r = netcalc("signal", _spec(tmp_path, "{name: kaiming_normal, mode: fan_out, nonlinearity: relu}"), "-f", "json")
    assert r.returncode == 0, r.stderr


def test_parse_cli():
    ok = parse_cli("normal:std=0.01")
    assert ok == InitSpec("normal", {"mean": 0.0, "std": 0.01})
    assert moments(ok, (4, 4), False) == pytest.approx((0.0, 1e-4), rel=REL)
    alias = parse_cli("kaiming_normal:mode=fan_out,a=0.1")
    assert alias.name == "he_normal" and alias.params["mode"] == "fan_out" and alias.params["a"] == 0.1
    assert parse_cli("normal:stddev=0.5").params["std"] == 0.5  # Keras' spelling of std
    err = parse_cli("normal:sd=1")
    assert isinstance(err, str)
    assert "'sd=1'" in err and "normal takes mean, std" in err
    err = parse_cli("bogus")
    assert isinstance(err, str) and "unknown initialiser 'bogus'" in err
    # 'bogus' is close to no name, so no suggestion; a typo gets one
    assert "did you mean" not in err
    assert "did you mean 'he_normal'?" in parse_cli("he_normall")
    assert "must be one of fan_in, fan_out, fan_avg" in parse_cli("he_normal:mode=sideways")
    assert "must be a number" in parse_cli("normal:std=abc")


@pytest.mark.parametrize("text", ["uniform:low=1,high=0", "normal:std=-1", "trunc_normal:a=2,b=-2"])
def test_parse_cli_rejects_what_a_spec_rejects(text):
    assert isinstance(parse_cli(text), str)


# found by the fuzzer: (1e308 − 0)² overflowed (OverflowError in moments), nan and inf were taken, and a
# truncation window 100 standard deviations out divided by a probability of 0
@pytest.mark.parametrize(
    "text, says",
    [
        ("uniform:high=1e308", "high to be a finite number of magnitude at most 1e+150, got 1e+308"),
        ("normal:std=nan", "std to be a finite number of magnitude at most 1e+150, got nan"),
        ("normal:mean=-inf", "mean to be a finite number of magnitude at most 1e+150, got -inf"),
        ("trunc_normal:a=100,b=200", "[a, b] = [100, 200] lies so far into the tail of N(0, 1²)"),
    ],
)
def test_initialiser_numbers_that_cannot_be_computed_are_refused(text, says):
    got = parse_cli(text)
    assert isinstance(got, str) and says in got, got
    # the largest allowed magnitude still gives finite moments: (1e150 − (−1e150))²/12
    assert moments(parse_cli("uniform:low=-1e150,high=1e150"), (4, 4), False)[1] == pytest.approx(4e300 / 12)


def test_initialiser_numbers_that_cannot_be_computed_are_e104_in_a_spec(tmp_path):
    r = netcalc("signal", _spec(tmp_path, "{name: uniform, high: 1e308}"))
    assert r.returncode == 2, r.stderr
    assert "E104" in r.stderr and "uniform needs high to be a finite number" in r.stderr
    assert "internal error" not in r.stderr
