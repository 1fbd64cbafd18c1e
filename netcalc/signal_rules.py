"""What the layers' signal rules share (netcalc.signal walks the graph with them).

- `Sig`: the statistics of one tensor at initialisation (q, mu, mfrac, corr: see netcalc.signal);
- `SigEnv`: what a layer's rule may use (the weights' moments under the spec's initialisers, map
  helpers) and `Info`, what it reports besides the statistics;
- the rules several layer types apply: a weighted sum with iid weights (`linear_out`), one
  element's distribution as atoms (`quantiles`, `sum_quantiles`, `sum_profile`) and the
  correlation of neighbours and of a window's taps.

NumPy is imported here; the layers import this module inside their `sig_forward`/`sig_backward`
only, so the summary path never loads it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import initializers as inits
from . import moments


class Sig:
    """Statistics of one tensor at initialisation (see the module docstring)."""

    __slots__ = ("affine", "corr", "gauss", "mfrac", "mu", "pre", "q", "samples")

    def __init__(self, q, mu: float = 0.0, mfrac: float = 0.0, corr: float = 0.0, gauss: bool = False, pre=None,
                 samples=None, affine=None):  # fmt: skip
        self.q = np.asarray(q, dtype=float)
        self.mu = float(mu)
        self.mfrac = float(min(max(mfrac, 0.0), 1.0))
        self.corr = float(min(max(corr, -1.0), 1.0))
        self.gauss = gauss  # a sum of many independent terms (a linear layer's output)
        self.pre = pre  # (op, args, Sig of the pre-activation) when the tensor is φ(Gaussian)
        self.samples = samples  # quantiles of one element's distribution where it is not Gaussian
        # (a, b, Sig of t, channels) when the tensor is a·t + b with a > 0 (batchnorm of t): a max pool
        # of it is a·max(t) + b, and looks at t (an activation's output) for where the maximum lies;
        # channels: batchnorm's ChannelGrid where t's channels have their own means (each its a, b), or None
        self.affine = affine

    @property
    def mean(self) -> float:
        return float(self.q.mean()) if self.q.size else 0.0

    def like(self, q, **kw) -> Sig:
        fields = {"mu": self.mu, "mfrac": self.mfrac, "corr": self.corr, "gauss": self.gauss, "pre": None,
                  "samples": None, "affine": None}  # fmt: skip
        fields.update(kw)
        return Sig(q, **fields)


@dataclass(slots=True)
class Info:
    """What a layer's rules report besides the statistics, what its forward rule leaves for its
    backward rule, and what the walk (netcalc.signal) and the rule pass each other. Every field is
    declared: reading or writing a misspelt one is an AttributeError. None is "not reported"."""

    # reported: the signal table and JSON, the advice (W301–W304), verify
    init: dict | None = None  # weighted layers: each initialiser described, by argument (SigEnv.init)
    constant: list | None = None  # constant initialisations, "arg: description" (W304)
    bias_fraction: float | None = None  # the part of the output's E[x²] that is the bias's
    wv: float | None = None  # the kernel's weight variance (its backward rule reads it too)
    fan_in: int | None = None  # products per output of a weighted sum
    dgain: float | None = None  # an activation's backward gain E[φ'²]
    saturation: tuple | None = None  # sigmoid, tanh: (fraction of inputs beyond ±t, t, E[φ'²]) (W303)
    softmax_saturation: float | None = None  # softmax: fraction of samples whose largest p exceeds 0.9
    logit_std: float | None = None  # softmax: the standard deviation of its inputs
    spread: tuple | None = None  # transposed convolution: (min, max) of E[x²] over the positions
    stationary: dict | None = None  # recurrent: the long run's E[h²] ("qh"), E[c²] ("qc"), E[f²] ("f2")
    gates_step1: list | None = None  # LSTM: each gate at step 1 as (_, E[g²], E[g'²], variance, mean)
    # from a layer's forward rule to its backward rule
    d2: object = None  # activation: E[φ'(x)²] per position
    slope_ratio: float | None = None  # activation: E[φ']²/E[φ'²]
    divisor: object = None  # average pool: the divisor per output position
    max_ratio: float | None = None  # max pool: E[max²]/E[x²]
    bn_var: float | None = None  # batchnorm (also a shortcut's): the channel variance + ε (harmonic mean over channels)
    bn_profile: object = None  # batchnorm: its gain's profile over the input's atoms (channel_spread)
    bn_proj: float | None = None  # batchnorm, finite batch: the part of r the normalised input's projection removes
    ln_var: float | None = None  # layernorm: the variance + ε
    runs: list | None = None  # recurrent: the forward recursion per stacked layer and direction
    extra: dict | None = None  # recurrent: the statistics of the named extra outputs, by suffix (the walk takes them)
    attention: dict | None = None  # attention: E[Q²], E[K²], E[V²], E[Σa²] and the softmax gain per query
    argmax_factor: float | None = None  # max pool: E[φ'(max)²]/E[φ'²] of what it pools (walk: at_max)
    max_window: tuple | None = None  # max pool through an activation: (k taps, their correlation within a channel)
    bn_channels: tuple | None = None  # batchnorm: its channel grid (channel_spread's ChannelGrid)
    # from the walk to a backward rule
    gmean: float = 0.0  # the part of r that is uniform over a sample's positions
    r_extra: dict | None = None  # r at the named extra outputs, by suffix
    rprof: object = None  # the readers' value profile of r over the output's atoms (None: flat)
    at_max: float | None = None  # a max pool's argmax_factor, reached through keeps_order layers
    max_parts: list | None = None  # the routes at_max mixes: (share of r, factor, the pool's max_window or None)
    rcorr: float = 0.0  # a sequence's gradient: its correlation between neighbouring steps, E[g_t·g_{t+1}]/E[g²]
    # from a backward rule to the walk (one value per input; None: the default)
    gmean_in: list | None = None
    rprof_in: list | None = None
    at_max_in: list | None = None  # the argmax factor a rule works out for its input (None: keeps_order's)
    rcorr_in: list | None = None  # the gradient's step correlation per input (None: kept by per_position types, else 0)


class SigEnv:
    """What a layer's rule may use: the weights' moments under the spec's initialisers, map
    helpers, and an Info to report into."""

    def __init__(self, convention: str, channels_last: bool, override: inits.InitSpec | None = None,
                 batch: int | None = None) -> None:  # fmt: skip
        self.batch = batch  # None: an infinitely large batch (batchnorm's projection removes nothing)
        self.convention = convention
        self.keras = convention == "keras"
        self.channels_last = channels_last
        self.override = override
        self.row = None
        self.rows: dict = {}  # every row by name (a tied tensor's owner)
        self.info = Info()
        self.moments = moments

    # ---------------------------------------------------------------- weights

    def tensor(self, *names: str):
        """The row's first parameter tensor whose name ends with one of `names`."""
        for t in self.row.tensors:
            if any(t.name.endswith(n) for n in names):
                return t
        return None

    def init(self, arg: str, role: str, shape: tuple, *, units: int = 0) -> tuple[float, float]:
        """(mean, variance) of one weight of a tensor of `shape` drawn by the node's `arg` initialiser
        (the --init override for kernels, the framework default when the spec names none). A tensor
        that is another layer's (`tie:`, the Tie's `arg`) is drawn as that layer draws it: its
        initialiser, role and shape."""
        node = self.row.node
        rule = node.tie_rule
        owner = self.rows.get(node.tie) if rule is not None else None
        if owner is not None and arg == rule.arg and owner.tensors:
            node, role, shape = owner.node, rule.role, owner.tensors[rule.theirs].shape
            arg = rule.init
        spec = node.args.get(arg, inits.InitSpec("default")) if arg else inits.InitSpec("default")
        if self.override is not None and role in ("kernel",):
            spec = self.override
        if spec.name == "default":
            spec = inits.default_for(role, self.convention, shape, units=units)
        if inits.is_constant(spec) and role in ("kernel", "recurrent_kernel", "embedding"):
            if self.info.constant is None:
                self.info.constant = []
            self.info.constant.append(f"{arg or role}: {spec.describe()}")
        if self.info.init is None:
            self.info.init = {}
        self.info.init[arg or role] = spec.describe()
        return inits.moments(spec, shape, self.keras)

    # ---------------------------------------------------------------- maps

    @staticmethod
    def window_sum(m, ks, ss, ds, pads, outs):
        """out[o] = Σ over the window's taps of m at o·s + i·d − pad_before (zero outside): the
        per-position count a convolution or pool reads, weighted by the input map (window_maps)."""
        from .window_maps import window_sum

        return window_sum(m, ks, ss, ds, pads, outs)

    @staticmethod
    def window_scatter(mo, ks, ss, ds, pads, ns):
        """The transpose of `window_sum`: in[p] = Σ over (o, i) with o·s + i·d − pad_before = p of
        mo[o] — what a position receives back (backward), or a transposed convolution's count."""
        from .window_maps import window_scatter

        return window_scatter(mo, ks, ss, ds, pads, ns)

    def positions(self, shape: tuple) -> tuple:
        """The axes a map covers: every axis but the channel (feature) axis; () for a vector."""
        if len(shape) <= 1:
            return ()
        return tuple(shape[:-1]) if self.channels_last else tuple(shape[1:])

    @staticmethod
    def fit(m, shape: tuple):
        """A map of the given position shape: itself if it fits, else its mean everywhere."""
        m = np.asarray(m, float)
        if m.shape == tuple(shape):
            return m
        return np.full(shape, m.mean() if m.size else 0.0)


# ------------------------------------------------------------------------------- shared rules

N_ATOMS = 96  # equal-weight atoms for a Gaussian; a sum is compressed back to 2 × N_ATOMS atoms


def quantiles(sig: Sig):
    """One element's distribution as weighted atoms (values, weights): the tensor's own where it has
    them (a residual sum, an activation of one), φ(Gaussian) for an activation of a Gaussian (the
    Gaussian's atoms pushed through φ), else a Gaussian with the tensor's mean and second moment. A
    Gaussian's atoms: N_ATOMS of equal weight, the means of N_ATOMS bins of equal probability, scaled
    to keep the second moment exact — equal weights, so that a probability such as P(x > 0), the
    backward gain of a relu on a residual sum, is within 1/(2·N_ATOMS) (Gauss–Hermite nodes,
    exact for polynomials, weigh up to 13 % each near the centre)."""
    if sig.samples is not None:
        return sig.samples
    if sig.pre is not None and sig.pre[0] != "softmax":
        op, args, z = sig.pre
        values, weights = quantiles(z)
        return moments.function(op, args)[0](values), weights
    x, w = _gauss_atoms()
    sd = math.sqrt(max(sig.mean - sig.mu * sig.mu, 0.0))
    return sig.mu + sd * x, w


_GA: list = []


def _gauss_atoms():
    """Equal-probability atoms of N(0, 1) (see `quantiles`): bin i = (Φ⁻¹(i/N), Φ⁻¹((i + 1)/N)), its
    mean N·(φ(lower) − φ(upper)), all scaled so that the second moment is 1."""
    if not _GA:
        from statistics import NormalDist

        nd = NormalDist()
        edges = [-math.inf] + [nd.inv_cdf(i / N_ATOMS) for i in range(1, N_ATOMS)] + [math.inf]
        dens = [0.0 if math.isinf(e) else nd.pdf(e) for e in edges]
        x = np.array([N_ATOMS * (dens[i] - dens[i + 1]) for i in range(N_ATOMS)])
        x = (x - x[::-1]) / 2  # exactly symmetric
        x /= math.sqrt(float(np.mean(x * x)))
        _GA.append((x, np.full(N_ATOMS, 1.0 / N_ATOMS)))
    return _GA[0]


def sum_quantiles(a, b):
    """The distribution of u + v for independent u, v (atoms): every pair, then compressed by sorting
    into N_ATOMS buckets of equal weight, each replaced by two atoms that keep its weight, mean and
    variance (so E[x] and E[x²] stay exact)."""
    (xa, wa), (xb, wb) = a, b
    values = (xa[:, None] + xb[None, :]).ravel()
    weights = (wa[:, None] * wb[None, :]).ravel()
    order = np.argsort(values)
    values, weights = values[order], weights[order]
    edges = np.searchsorted(np.cumsum(weights), np.linspace(0, 1, N_ATOMS + 1)[1:-1])
    out_x, out_w = [], []
    for chunk_x, chunk_w in zip(np.split(values, edges), np.split(weights, edges), strict=True):
        m = chunk_w.sum()
        if m <= 0:
            continue
        mean = (chunk_x * chunk_w).sum() / m
        sd = math.sqrt(max((chunk_w * (chunk_x - mean) ** 2).sum() / m, 0.0))
        out_x += [mean - sd, mean + sd]
        out_w += [m / 2, m / 2]
    return np.asarray(out_x), np.asarray(out_w)


def sum_profile(out_atoms, h, mine, others):
    """The value profile of r (see `_backward`) at one input u of a sum u + v with v independent:
    E[g² | u] = E_v[E[g² | u + v]], the sum's profile read at u + v by linear interpolation
    between its atoms; normalised to a weighted mean of 1 over u's atoms [MF]."""
    vs, _ = out_atoms
    order = np.argsort(vs)
    xs, hs = np.asarray(vs, float)[order], np.asarray(h, float)[order]
    (u, wu), (v, wv) = mine, others
    hu = (np.interp(u[:, None] + v[None, :], xs, hs) * wv[None, :]).sum(axis=1)
    m = float((wu * hu).sum())
    return hu / m if m > 0 else None


def centred(c: float, m: float) -> float:
    """The part of the correlation that is not the channels' means: (c − m)/(1 − m)."""
    return (c - m) / (1 - m) if m < 1 else 0.0


def stride_corr(c: float, m: float, s: float) -> float:
    """Neighbours s positions apart, the centred correlation decaying geometrically with distance
    (an AR(1) picture: ρ(d) = ρ^d) [A]: m + (1 − m)·ρ^s."""
    rho = max(centred(c, m), 0.0)
    return m + (1 - m) * rho**s


def window_corr(c: float, m: float, ks: tuple, ds: tuple) -> float:
    """The mean correlation between two different taps of a window, ρ(d) = ρ^d per axis [A]."""
    import itertools

    rho = max(centred(c, m), 0.0)
    taps = list(itertools.product(*[range(k) for k in ks]))
    if len(taps) < 2:
        return 1.0
    total, pairs = 0.0, 0
    for a, b in itertools.combinations(taps, 2):
        dist = sum(abs(i - j) * d for i, j, d in zip(a, b, ds, strict=True))
        total += rho**dist
        pairs += 1
    return m + (1 - m) * total / pairs


def linear_out(env: SigEnv, x: Sig, summed, fan: int, n_terms: int, bias: bool, out_pos: tuple, stride: float = 1):
    """A weighted sum with iid weights: q_out = Var(w)·fan·Σ q_in + E[b²] per position [E].

    `summed` is the input's q summed over the taps each output reads (the window count with zero
    padding), `fan` the channels per tap (C_in/groups), `n_terms` all products per output. A
    non-zero weight mean m adds m²·(Σ q + (n² − n)·μ²) [A]. Per-channel means pass through scaled
    the same way; neighbouring outputs see inputs `stride` apart (`stride_corr`); the bias adds
    E[b²] to both.
    """
    kt = env.tensor("kernel", "weight")
    wm, wv = env.init("init", "kernel", kt.shape)
    summed = env.fit(summed, out_pos)
    qw = wv * fan * summed
    tag = "E"
    if wm:
        qw = qw + wm * wm * (fan * summed + (n_terms * n_terms - n_terms) * x.mu * x.mu)
        tag = "A"
    b2 = bm = 0.0
    if bias:
        bm, bv = env.init("bias_init", "bias", kt.shape)
        b2 = bv + bm * bm
    q = qw + b2
    qm = float(q.mean()) if q.size else 0.0
    sm = float(summed.mean()) if summed.size else 0.0
    mc2 = wv * fan * sm * x.mfrac + b2
    if wm:
        mc2 += wm * wm * n_terms * n_terms * x.mu * x.mu
    env.info.wv = wv
    env.info.bias_fraction = b2 / qm if qm > 0 else 0.0
    corr_in = stride_corr(x.corr, x.mfrac, stride) if stride != 1 else x.corr
    env.info.fan_in = n_terms
    qwm = float(qw.mean()) if qw.size else 0.0
    out = Sig(q, bm + wm * n_terms * x.mu, mc2 / qm if qm > 0 else 0.0, (corr_in * qwm + b2) / qm if qm > 0 else 0.0,
              gauss=True)  # fmt: skip
    return out, tag


SATURATED = 0.05  # W303: a sigmoid or tanh with more than this part of its inputs beyond ±t
LOGIT_STD = 3.0  # W303: a softmax whose logits spread more than this


def saturated(s) -> str | None:
    """How a layer's statistics saturate it by W303's rule, in words (None when they do not): a
    sigmoid or tanh with more than 5 % of its inputs beyond ±t, a softmax whose logit std exceeds 3."""
    sat = s.info.saturation
    if sat and sat[0] > SATURATED:
        frac, t, dgain = sat
        return f"{frac:.0%} of its inputs beyond ±{t:g}, backward gain E[φ'²] {dgain:.3g}"
    if s.info.softmax_saturation is not None and s.info.logit_std > LOGIT_STD:
        return f"logit std {s.info.logit_std:.3g}, the largest p above 0.9 in {s.info.softmax_saturation:.0%}"
    return None
