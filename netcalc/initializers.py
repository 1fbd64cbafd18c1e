"""Weight initialisers: how a spec names them, and the mean and variance each gives a weight.

A spec writes an initialiser by name, in the Keras or the PyTorch spelling (`he_normal` =
`kaiming_normal`, `glorot_uniform` = `xavier_uniform`), or as a mapping with its parameters:

    init: he_normal
    init: {name: kaiming_normal, mode: fan_out, nonlinearity: relu}
    init: {name: normal, std: 0.01}
    init: {name: variance_scaling, scale: 2, mode: fan_in, distribution: truncated_normal}

Parsing yields an `InitSpec(name, params)` with a canonical name and every parameter filled in;
both the variance report (`moments` here) and the executor (which samples the weights with its
own code) read that. Fans follow the frameworks (`fans`): PyTorch fan_in = size(1)·∏kernel,
fan_out = size(0)·∏kernel; Keras fan_in = shape[-2]·∏kernel, fan_out = shape[-1]·∏kernel.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from .kinds import INVALID, Kind, _wrong
from .scalars import _float_of
from .yamlsrc import YMap, YScalar

# Keras TruncatedNormal cuts at ±2 std and does not correct the spread: Var = this × std²
TRUNC2_VAR = 1 - 4 * math.exp(-2) / math.sqrt(2 * math.pi) / math.erf(math.sqrt(2))  # 0.7737413
# Keras VarianceScaling divides the std by this before truncating at ±2, so that Var = scale/fan
KERAS_TRUNC_STD = 0.87962566103423978


class InitSpec(NamedTuple):
    """A canonical initialiser name and all its parameters (defaults filled in)."""

    name: str
    params: dict = {}

    def describe(self) -> str:
        shown = {k: v for k, v in self.params.items() if k not in HIDDEN_PARAMS}
        if not shown:
            return self.name
        return self.name + "(" + ", ".join(f"{k}={_fmt(v)}" for k, v in shown.items()) + ")"


HIDDEN_PARAMS = ("spelling",)


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


# canonical name: its parameters and their defaults
CANONICAL: dict[str, dict] = {
    "default": {},
    "he_normal": {"mode": "fan_in", "nonlinearity": "leaky_relu", "a": 0.0},
    "he_uniform": {"mode": "fan_in", "nonlinearity": "leaky_relu", "a": 0.0},
    "glorot_normal": {"gain": 1.0},
    "glorot_uniform": {"gain": 1.0},
    "lecun_normal": {},
    "lecun_uniform": {},
    "orthogonal": {"gain": 1.0},
    "variance_scaling": {"scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal"},
    "normal": {"mean": 0.0, "std": 1.0},
    "uniform": {"low": 0.0, "high": 1.0},
    "truncated_normal": {"mean": 0.0, "std": 0.05},
    "trunc_normal": {"mean": 0.0, "std": 1.0, "a": -2.0, "b": 2.0},
    "constant": {"value": 0.0},
}
# other spellings: (canonical, parameters that spelling implies)
ALIASES: dict[str, tuple[str, dict]] = {
    "kaiming_normal": ("he_normal", {}),
    "kaiming_uniform": ("he_uniform", {}),
    "xavier_normal": ("glorot_normal", {}),
    "xavier_uniform": ("glorot_uniform", {}),
    "random_normal": ("normal", {"std": 0.05}),  # Keras RandomNormal
    "random_uniform": ("uniform", {"low": -0.05, "high": 0.05}),  # Keras RandomUniform
    "zeros": ("constant", {"value": 0.0}),
    "ones": ("constant", {"value": 1.0}),
}
PARAM_ALIASES = {"stddev": "std", "minval": "low", "maxval": "high", "negative_slope": "a"}
CHOICES = {
    "mode": ("fan_in", "fan_out", "fan_avg"),
    # PyTorch calculate_gain's names (the linear ones, conv and transposed conv of every rank, have gain 1)
    "nonlinearity": (
        "relu",
        "leaky_relu",
        "linear",
        "conv1d",
        "conv2d",
        "conv3d",
        "conv_transpose1d",
        "conv_transpose2d",
        "conv_transpose3d",
        "sigmoid",
        "tanh",
        "selu",
    ),
    "distribution": ("truncated_normal", "untruncated_normal", "normal", "uniform"),
}
NAMES = tuple(CANONICAL) + tuple(ALIASES)


def gain(nonlinearity: str, a: float = 0.0) -> float:
    """PyTorch `calculate_gain`: relu √2, leaky_relu √(2/(1 + a²)), tanh 5/3, selu 3/4, else 1."""
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        return math.sqrt(2.0 / (1 + a * a))
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "selu":
        return 0.75
    return 1.0


def parse_name(name: str, given: dict | None = None) -> InitSpec | None:
    """The InitSpec for a name (any spelling) and parameters, or None for an unknown name."""
    if name in ALIASES:
        canonical, implied = ALIASES[name]
    elif name in CANONICAL:
        canonical, implied = name, {}
    else:
        return None
    params = {**CANONICAL[canonical], **implied, **(given or {})}
    if name != canonical:
        params["spelling"] = name
    return InitSpec(canonical, params)


class Init(Kind):
    """An initialiser: a name, or a mapping {name: ..., parameters}."""

    def describe(self) -> str:
        return "an initialiser name (e.g. he_normal, xavier_uniform, normal) or a mapping {name: ..., std: ...}"

    def coerce(self, node, diags, what):
        from .diagnostics import clip, did_you_mean

        if isinstance(node, YScalar) and node.kind == "str":
            spec = parse_name(node.text)
            if spec is None:
                diags.error("E105", f"{what}: unknown initialiser '{clip(node.text)}'{did_you_mean(node.text, NAMES)}",
                            node.loc, "known: " + ", ".join(NAMES))  # fmt: skip
                return INVALID
            return spec
        if not isinstance(node, YMap):
            return _wrong(diags, node, what, self.describe())
        entries = node.entries
        if "name" not in entries:
            diags.error("E106", f"{what} needs 'name' (the initialiser, e.g. he_normal)", node.loc)
            return INVALID
        name_node = entries["name"][1]
        name = name_node.text if isinstance(name_node, YScalar) else ""
        spec = parse_name(name)
        if spec is None:
            diags.error("E105", f"{what}: unknown initialiser '{clip(name)}'{did_you_mean(name, NAMES)}",
                        name_node.loc, "known: " + ", ".join(NAMES))  # fmt: skip
            return INVALID
        allowed = CANONICAL[spec.name]
        given: dict = {}
        ok = True
        for key, (knode, vnode) in entries.items():
            if key == "name":
                continue
            canon = PARAM_ALIASES.get(key, key)
            if canon not in allowed:
                spellings = list(allowed) + [k for k, v in PARAM_ALIASES.items() if v in allowed]
                hint = did_you_mean(key, spellings)
                takes = ", ".join(allowed) if allowed else "no parameters"
                diags.error("E102", f"unknown key '{clip(key)}' in {what} ({name} takes {takes}){hint}", knode.loc)
                ok = False
                continue
            value = self._param(canon, vnode, diags, f"{what}: '{key}'")
            if value is INVALID:
                ok = False
            else:
                given[canon] = value
        if not ok:
            return INVALID
        spec = parse_name(name, given)
        return self._check(spec, node, diags, what)

    @staticmethod
    def _param(key, vnode, diags, what):
        from .diagnostics import clip

        if key in CHOICES:
            if isinstance(vnode, YScalar) and vnode.text in CHOICES[key]:
                return vnode.text
            text = vnode.text if isinstance(vnode, YScalar) else ""
            diags.error("E105", f"{what} must be one of {', '.join(CHOICES[key])}, got '{clip(text)}'", vnode.loc)
            return INVALID
        value = _float_of(vnode) if isinstance(vnode, YScalar) else None
        if value is None or not math.isfinite(value):
            return _wrong(diags, vnode, what, "a finite number")
        if key in ("std", "gain", "scale") and value < 0:
            diags.error("E104", f"{what} must be ≥ 0, got {value:g}", vnode.loc)
            return INVALID
        return value

    @staticmethod
    def _check(spec: InitSpec, node, diags, what):
        problem = check(spec)
        if problem:
            diags.error("E104", f"{what}: {problem}", node.loc)
            return INVALID
        return spec

    def json_schema(self):
        params = {k: {} for spec in CANONICAL.values() for k in spec}
        params.update({k: {} for k in PARAM_ALIASES})
        for key, choices in CHOICES.items():
            params[key] = {"enum": list(choices)}
        return {
            "anyOf": [
                {"enum": list(NAMES)},
                {
                    "type": "object",
                    "properties": {"name": {"enum": list(NAMES)}, **params},
                    "required": ["name"],
                    "additionalProperties": False,
                },
            ]
        }


# the largest magnitude of an initialiser's number: the moments square it (and the difference of
# two such), and 1e150² = 1e300 is still a float; a weight of 1e150 means nothing anyway
MAX_PARAM = 1e150


def check(spec: InitSpec) -> str | None:
    """What is wrong with an initialiser's parameters, quoting them, or None."""
    p = spec.params
    for key, value in p.items():
        if isinstance(value, float) and not (math.isfinite(value) and abs(value) <= MAX_PARAM):
            return f"{spec.name} needs {key} to be a finite number of magnitude at most {MAX_PARAM:g}, got {value:g}"
    if spec.name == "uniform" and not p["low"] < p["high"]:
        return f"uniform needs low < high, got [{p['low']:g}, {p['high']:g}]"
    if spec.name == "trunc_normal" and not p["a"] < p["b"]:
        return f"trunc_normal needs a < b, got [{p['a']:g}, {p['b']:g}]"
    for key in ("std", "gain", "scale"):
        if key in p and p[key] < 0:
            return f"{spec.name} needs {key} ≥ 0, got {p[key]:g}"
    if spec.name == "variance_scaling" and p["scale"] <= 0:
        return f"variance_scaling needs scale > 0, got {p['scale']:g}"
    if spec.name == "trunc_normal" and p["std"] > 0:
        mean, std = p["mean"], p["std"]
        if not _normal_cdf((p["b"] - mean) / std) > _normal_cdf((p["a"] - mean) / std):
            return (f"trunc_normal: [a, b] = [{p['a']:g}, {p['b']:g}] lies so far into the tail of N({mean:g}, "
                    f"{std:g}²) that its probability rounds to 0")  # fmt: skip
    return None


# --------------------------------------------------------------------------- the analytic side


def fans(shape: tuple, keras: bool) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight tensor as its framework computes them.

    PyTorch (`_calculate_fan_in_and_fan_out`): size(1)·∏shape[2:], size(0)·∏shape[2:] (a grouped
    conv's fan_out is not divided by the groups). Keras (`_compute_fans`): shape[-2]·∏shape[:-2],
    shape[-1]·∏shape[:-2]. A vector (a bias) has fan_in = fan_out = its length.
    """
    if len(shape) < 2:
        n = shape[0] if shape else 1
        return n, n
    if keras:
        rf = math.prod(shape[:-2])
        return shape[-2] * rf, shape[-1] * rf
    rf = math.prod(shape[2:])
    return shape[1] * rf, shape[0] * rf


def _normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


def _normal_pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def truncated_moments(mean: float, std: float, a: float, b: float) -> tuple[float, float]:
    """Mean and variance of N(mean, std²) cut to [a, b] (absolute bounds, as PyTorch's trunc_normal_)."""
    if std == 0:
        return mean, 0.0
    al, be = (a - mean) / std, (b - mean) / std
    z = _normal_cdf(be) - _normal_cdf(al)
    pa, pb = _normal_pdf(al), _normal_pdf(be)
    m = mean + std * (pa - pb) / z
    var = std * std * (1 + (al * pa - be * pb) / z - ((pa - pb) / z) ** 2)
    return m, var


def moments(spec: InitSpec, shape: tuple, keras: bool) -> tuple[float, float]:
    """(mean, variance) of one weight drawn by `spec` for a tensor of this shape (exact).

    he/kaiming: gain²/fan (gain √(2/(1 + a²)), or PyTorch's gain for `nonlinearity`); Keras he_*
    are VarianceScaling(2, fan_in) with the same variance. glorot/xavier: 2·gain²/(fan_in + fan_out).
    lecun: 1/fan_in. variance_scaling: scale/fan whatever the distribution (Keras corrects the
    truncation). orthogonal: rows or columns orthonormal times gain, so each entry has
    gain²/max(rows, cols) on average, rows = shape[0] (PyTorch) or the flattened kernel (Keras).
    normal: std²; uniform(low, high): (high − low)²/12 around (low + high)/2; Keras truncated_normal
    (±2 std, not corrected): 0.7737·std²; PyTorch trunc_normal (absolute bounds a, b): the
    truncated-normal variance; constant: 0 around the value.
    """
    p = spec.params
    fan_in, fan_out = fans(shape, keras)
    name = spec.name
    if name in ("he_normal", "he_uniform"):
        fan = fan_out if p["mode"] == "fan_out" else fan_in
        g = gain(p["nonlinearity"], p["a"])
        return 0.0, g * g / fan
    if name in ("glorot_normal", "glorot_uniform"):
        return 0.0, 2 * p["gain"] ** 2 / (fan_in + fan_out)
    if name in ("lecun_normal", "lecun_uniform"):
        return 0.0, 1.0 / fan_in
    if name == "variance_scaling":
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[p["mode"]]
        return 0.0, p["scale"] / fan
    if name == "orthogonal":
        rows = shape[0] if not keras else math.prod(shape[:-1])
        cols = math.prod(shape) // rows if rows else 1
        return 0.0, p["gain"] ** 2 / max(rows, cols, 1)
    if name == "normal":
        return p["mean"], p["std"] ** 2
    if name == "uniform":
        return (p["low"] + p["high"]) / 2, (p["high"] - p["low"]) ** 2 / 12
    if name == "truncated_normal":
        return p["mean"], TRUNC2_VAR * p["std"] ** 2
    if name == "trunc_normal":
        return truncated_moments(p["mean"], p["std"], p["a"], p["b"])
    if name == "constant":
        return p["value"], 0.0
    raise ValueError(f"no moments for initialiser {name!r}")  # 'default' is resolved before this


# Framework defaults, by the role a tensor plays. A bound of U(±b) depends on the layer, so the
# defaults are built per tensor by `default_for`.


def default_for(role: str, convention: str, shape: tuple, *, units: int = 0) -> InitSpec:
    """The initialiser a framework uses when the spec names none.

    PyTorch: Linear/Conv weight kaiming_uniform(a=√5) = U(±1/√fan_in), bias U(±1/√fan_in) of the
    weight's fan_in; RNN/LSTM/GRU every tensor U(±1/√hidden); Embedding N(0, 1); norms weight 1,
    bias 0. Keras: kernels glorot_uniform, biases zeros (LSTM forget slice 1: `unit_forget_bias`),
    recurrent kernels orthogonal, Embedding U(±0.05), norms gamma 1, beta 0.
    A free parameter (`parameter`): PyTorch's nn.Parameter takes the tensor it is given, no default:
    netcalc's is zeros (torch.zeros, as torchvision's ViT class token); Keras's add_weight
    glorot_uniform (its default for a float weight).
    roles: kernel, bias (shape = the weight's shape), recurrent_kernel, recurrent_bias,
    embedding, gamma, beta, parameter.
    """
    keras = convention == "keras"
    if role == "parameter":
        return InitSpec("glorot_uniform", {"gain": 1.0}) if keras else InitSpec("constant", {"value": 0.0})
    if role == "gamma":
        return InitSpec("constant", {"value": 1.0})
    if role == "beta":
        return InitSpec("constant", {"value": 0.0})
    if role == "embedding":
        return parse_name("random_uniform") if keras else InitSpec("normal", {"mean": 0.0, "std": 1.0})
    if keras:
        if role == "recurrent_kernel":
            return InitSpec("orthogonal", {"gain": 1.0})
        if role in ("bias", "recurrent_bias"):
            return InitSpec("constant", {"value": 0.0})
        return InitSpec("glorot_uniform", {"gain": 1.0})
    if units:  # a recurrent layer: everything U(±1/√hidden)
        bound = 1 / math.sqrt(units)
        return InitSpec("uniform", {"low": -bound, "high": bound})
    if role == "bias":
        fan_in = fans(shape, False)[0]
        bound = 1 / math.sqrt(fan_in) if fan_in else 0.0
        return InitSpec("uniform", {"low": -bound, "high": bound})
    return InitSpec("he_uniform", {"mode": "fan_in", "nonlinearity": "leaky_relu", "a": math.sqrt(5)})


def is_constant(spec: InitSpec) -> bool:
    return spec.name == "constant" or (spec.name == "normal" and spec.params.get("std") == 0)


def parse_cli(text: str) -> InitSpec | str:
    """An initialiser written on the command line: `he_normal`, `normal:std=0.01`,
    `kaiming_normal:mode=fan_out,a=0.1`. Returns the InitSpec, or an error message quoting it."""
    from .diagnostics import did_you_mean

    name, _, rest = text.partition(":")
    name = name.strip()
    if parse_name(name) is None:
        return f"unknown initialiser '{name}'{did_you_mean(name, NAMES)}"
    canonical = parse_name(name).name
    given: dict = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        key = PARAM_ALIASES.get(key.strip(), key.strip())
        if not eq or key not in CANONICAL[canonical]:
            takes = ", ".join(CANONICAL[canonical]) or "no parameters"
            return f"'{item}' in '{text}': {name} takes {takes} (write {name}:key=value,...)"
        value = value.strip()
        if key in CHOICES:
            if value not in CHOICES[key]:
                return f"'{item}' in '{text}': {key} must be one of {', '.join(CHOICES[key])}"
            given[key] = value
            continue
        try:
            given[key] = float(value)
        except ValueError:
            return f"'{item}' in '{text}': {key} must be a number, got '{value}'"
    spec = parse_name(name, given)
    problem = check(spec)
    return f"'{text}': {problem}" if problem else spec
