"""Sampling weight arrays from an initialiser, written from the frameworks' definitions.

The executor's own code: fans come from the array being filled (PyTorch: size(1)·∏shape[2:],
size(0)·∏shape[2:]; Keras: shape[-2]·∏shape[:-2], shape[-1]·∏shape[:-2]), and each initialiser
draws from its real distribution (truncated normals really truncated, orthogonal by QR), so that
the measured variance checks the analytic formulas rather than repeating them.
"""

from __future__ import annotations

import math

import numpy as np


def _fans(shape: tuple, keras: bool) -> tuple[int, int]:
    if len(shape) < 2:
        n = shape[0] if shape else 1
        return n, n
    if keras:
        rf = int(np.prod(shape[:-2]))
        return shape[-2] * rf, shape[-1] * rf
    rf = int(np.prod(shape[2:]))
    return shape[1] * rf, shape[0] * rf


def _gain(nonlinearity: str, a: float) -> float:
    table = {"relu": math.sqrt(2.0), "tanh": 5.0 / 3.0, "selu": 0.75}
    if nonlinearity == "leaky_relu":
        return math.sqrt(2.0 / (1 + a * a))
    return table.get(nonlinearity, 1.0)


def _truncated(rng, mean: float, std: float, lo: float, hi: float, shape) -> np.ndarray:
    """N(mean, std²) restricted to [lo, hi] by rejection (redraw what falls outside)."""
    out = rng.normal(mean, std, size=shape)
    bad = (out < lo) | (out > hi)
    while bad.any():
        out[bad] = rng.normal(mean, std, size=int(bad.sum()))
        bad = (out < lo) | (out > hi)
    return out


def _orthogonal(rng, shape: tuple, gain: float, keras: bool) -> np.ndarray:
    rows = int(np.prod(shape[:-1])) if keras else shape[0]
    cols = int(np.prod(shape)) // rows
    flat = rng.normal(0.0, 1.0, size=(max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))  # a uniform (Haar) draw
    if rows < cols:
        q = q.T
    return (gain * q).reshape(shape)


def _framework_default(role: str, shape: tuple, keras: bool, units: int, weight_shape: tuple | None):
    """(name, params) the framework uses when the spec names none (see netcalc.initializers.default_for's
    docstring for the list; written again here from the frameworks' sources)."""
    if role == "gamma":
        return "constant", {"value": 1.0}
    if role == "beta":
        return "constant", {"value": 0.0}
    if role == "embedding":
        return ("uniform", {"low": -0.05, "high": 0.05}) if keras else ("normal", {"mean": 0.0, "std": 1.0})
    if role == "parameter":  # a free parameter: Keras add_weight's glorot_uniform; nn.Parameter has none (zeros)
        return ("glorot_uniform", {"gain": 1.0}) if keras else ("constant", {"value": 0.0})
    if keras:
        if role == "recurrent_kernel":
            return "orthogonal", {"gain": 1.0}
        if role in ("bias", "recurrent_bias"):
            return "constant", {"value": 0.0}
        return "glorot_uniform", {"gain": 1.0}
    if units:
        b = 1 / math.sqrt(units)
        return "uniform", {"low": -b, "high": b}
    if role == "bias":
        fan_in = _fans(weight_shape, False)[0] if weight_shape else shape[0]
        b = 1 / math.sqrt(fan_in)
        return "uniform", {"low": -b, "high": b}
    # kaiming_uniform_(a=√5): bound = gain·√(3/fan_in) with gain √(2/6) → 1/√fan_in
    return "he_uniform", {"mode": "fan_in", "nonlinearity": "leaky_relu", "a": math.sqrt(5)}


def placeholder(shape: tuple, dtype) -> np.ndarray:
    """What a dry build (run.footprint: the memory estimate) holds instead of a weight: an array of
    that shape and dtype whose every index is one element, so that a 10¹¹-parameter layer is
    estimated without reserving its 745 GiB (np.zeros would have to, and fails). Writes go to the
    one element (an LSTM's forget-gate bias slice set to 1)."""
    return np.lib.stride_tricks.as_strided(
        np.zeros(1, dtype), shape=tuple(int(d) for d in shape), strides=(0,) * len(shape), writeable=True
    )


def sample(spec, shape: tuple, role: str, env, *, units: int = 0, weight_shape: tuple | None = None,
           fan_shape: tuple | None = None) -> np.ndarray:  # fmt: skip
    """An array of `shape` drawn by `spec` (a netcalc.initializers.InitSpec, or None for the default).

    role: kernel | bias | recurrent_kernel | recurrent_bias | embedding | gamma | beta | parameter.
    units: a recurrent layer's hidden size (PyTorch's default U(±1/√hidden) for all its tensors).
    weight_shape: for a bias, the weight it belongs to (PyTorch's default bias bound 1/√fan_in).
    fan_shape: the shape to take the fans from when it differs from `shape` (a fused matrix).
    """
    if env.dry:
        return placeholder(shape, env.dtype)
    keras = env.keras
    rng = env.rng
    if spec is None or spec.name == "default":
        name, p = _framework_default(role, shape, keras, units, weight_shape)
    else:
        name, p = spec.name, spec.params
    fan_in, fan_out = _fans(fan_shape or shape, keras)
    if name in ("he_normal", "he_uniform", "glorot_normal", "glorot_uniform", "lecun_normal", "lecun_uniform",
                "variance_scaling"):  # fmt: skip
        if name.startswith("he"):
            fan = fan_out if p["mode"] == "fan_out" else fan_in
            var = _gain(p["nonlinearity"], p["a"]) ** 2 / fan
            dist = "uniform" if name.endswith("uniform") else ("keras_truncated" if keras else "normal")
        elif name.startswith("glorot"):
            var = 2 * p["gain"] ** 2 / (fan_in + fan_out)
            dist = "uniform" if name.endswith("uniform") else ("keras_truncated" if keras else "normal")
        elif name.startswith("lecun"):
            var = 1 / fan_in
            dist = "uniform" if name.endswith("uniform") else ("keras_truncated" if keras else "normal")
        else:
            fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[p["mode"]]
            var = p["scale"] / fan
            dist = {"truncated_normal": "keras_truncated", "untruncated_normal": "normal", "normal": "normal",
                    "uniform": "uniform"}[p["distribution"]]  # fmt: skip
        std = math.sqrt(var)
        if dist == "uniform":
            bound = math.sqrt(3 * var)
            out = rng.uniform(-bound, bound, size=shape)
        elif dist == "normal":
            out = rng.normal(0.0, std, size=shape)
        else:  # Keras: stddev / .87962566 then cut at ±2 stddev
            s = std / 0.87962566103423978
            out = _truncated(rng, 0.0, s, -2 * s, 2 * s, shape)
    elif name == "orthogonal":
        out = _orthogonal(rng, tuple(shape), p["gain"], keras)
    elif name == "normal":
        out = rng.normal(p["mean"], p["std"], size=shape)
    elif name == "uniform":
        out = rng.uniform(p["low"], p["high"], size=shape)
    elif name == "truncated_normal":  # Keras TruncatedNormal: ±2 stddev around the mean, not corrected
        out = _truncated(rng, p["mean"], p["std"], p["mean"] - 2 * p["std"], p["mean"] + 2 * p["std"], shape)
    elif name == "trunc_normal":  # PyTorch trunc_normal_: absolute bounds a, b
        out = _truncated(rng, p["mean"], p["std"], p["a"], p["b"], shape)
    elif name == "constant":
        out = np.full(shape, p["value"])
    else:
        raise ValueError(f"executor: no sampler for initialiser {name!r}")
    return np.asarray(out, dtype=env.dtype)
