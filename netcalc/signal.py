"""Signal propagation at initialisation: the second moment of every tensor, forward and backward.

For each tensor the engine tracks, in expectation over the weight draw (the rules and their
sources are in each layer type's `sig_forward`/`sig_backward` docstrings):

- q: the second moment E[x²], as a map over the spatial (or time) positions, so that zero padding
  at the borders and the alternating counts of a transposed convolution are exact per position;
- mu: the mean E[x] (the same at every position; a bias or an un-normalised input gives one);
- mfrac: the fraction of q that is the channels' own means (E over channels of mean_c², the
  "average channel squared mean" of a signal-propagation plot); batchnorm removes it;
- corr: the uncentred correlation of neighbouring positions, E[x_p·x_p']/q, which decides how
  much an average pool keeps (a 2×2 pool keeps q·(1 + 3ρ)/4, not q/4);
- r: the second moment of the loss gradient at the tensor, for loss = Σ y·g with g ~ N(0, 1) at
  every output (so r = 1 there).

Each rule carries a tag: [E] exact in expectation, [MF] exact for Gaussian pre-activations
(infinite width), [A] an approximation (see ../shared/docs/signal-propagation.md).
NumPy is imported here; the summary path never imports this module.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from . import init as inits
from . import moments
from .analyze import Analysis


class Sig:
    """Statistics of one tensor at initialisation (see the module docstring)."""

    __slots__ = ("corr", "gauss", "mfrac", "mu", "pre", "q", "samples")

    def __init__(self, q, mu: float = 0.0, mfrac: float = 0.0, corr: float = 0.0, gauss: bool = False, pre=None,
                 samples=None):  # fmt: skip
        self.q = np.asarray(q, dtype=float)
        self.mu = float(mu)
        self.mfrac = float(min(max(mfrac, 0.0), 1.0))
        self.corr = float(min(max(corr, -1.0), 1.0))
        self.gauss = gauss  # a sum of many independent terms (a linear layer's output)
        self.pre = pre  # (op, args, Sig of the pre-activation) when the tensor is φ(Gaussian)
        self.samples = samples  # quantiles of one element's distribution where it is not Gaussian

    @property
    def mean(self) -> float:
        return float(self.q.mean()) if self.q.size else 0.0

    def like(self, q, **kw) -> Sig:
        fields = {"mu": self.mu, "mfrac": self.mfrac, "corr": self.corr, "gauss": self.gauss, "pre": None,
                  "samples": None}  # fmt: skip
        fields.update(kw)
        return Sig(q, **fields)


class Info(dict):
    """What a rule reports besides the statistics: bias_fraction, saturation, dgain, init, notes."""

    __getattr__ = dict.get


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
        (the --init override for kernels, the framework default when the spec names none)."""
        spec = self.row.node.args.get(arg, inits.InitSpec("default")) if arg else inits.InitSpec("default")
        if self.override is not None and role in ("kernel",):
            spec = self.override
        if spec.name == "default":
            spec = inits.default_for(role, self.convention, shape, units=units)
        if inits.is_constant(spec) and role in ("kernel", "recurrent_kernel", "embedding"):
            self.info.setdefault("constant", []).append(f"{arg or role}: {spec.describe()}")
        described = self.info.setdefault("init", {})
        described[arg or role] = spec.describe()
        return inits.moments(spec, shape, self.keras)

    # ---------------------------------------------------------------- maps

    @staticmethod
    def window_sum(m, ks, ss, ds, pads, outs):
        """out[o] = Σ over the window's taps of m at o·s + i·d − pad_before (zero outside): the
        per-position count a convolution or pool reads, weighted by the input map."""
        m = np.asarray(m, float)
        nd = len(ks)
        if m.ndim != nd:
            m = np.full((1,) * nd, m.mean() if m.size else 0.0) * np.ones(tuple(1 for _ in range(nd)))
            m = np.broadcast_to(m, tuple(1 for _ in range(nd)))
        need = [(o - 1) * s + d * (k - 1) + 1 for o, s, d, k in zip(outs, ss, ds, ks, strict=True)]
        padded = np.zeros([max(nn, pb + n) for nn, (pb, _), n in zip(need, pads, m.shape, strict=True)])
        sl = tuple(slice(pb, pb + n) for (pb, _), n in zip(pads, m.shape, strict=True))
        padded[sl] = m
        out = np.zeros(outs)
        for taps in np.ndindex(*ks):
            idx = tuple(slice(t * d, t * d + (o - 1) * s + 1, s) for t, d, o, s in zip(taps, ds, outs, ss, strict=True))
            out += padded[idx]
        return out

    @staticmethod
    def window_scatter(mo, ks, ss, ds, pads, ns):
        """The transpose of `window_sum`: in[p] = Σ over (o, i) with o·s + i·d − pad_before = p of
        mo[o] — what a position receives back (backward), or a transposed convolution's count."""
        mo = np.asarray(mo, float)
        outs = mo.shape
        need = [max((o - 1) * s + d * (k - 1) + 1, pb + n) for o, s, d, k, (pb, _), n in zip(outs, ss, ds, ks, pads, ns, strict=True)]  # fmt: skip
        full = np.zeros(need)
        for taps in np.ndindex(*ks):
            idx = tuple(slice(t * d, t * d + (o - 1) * s + 1, s) for t, d, o, s in zip(taps, ds, outs, ss, strict=True))
            full[idx] += mo
        sl = tuple(slice(pb, pb + n) for (pb, _), n in zip(pads, ns, strict=True))
        return full[sl]

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


# ------------------------------------------------------------------------------- inputs


def input_sig(inp, env: SigEnv) -> Sig:
    """An input's statistics from its spec: mean/std (a number or one per channel), or a pixel
    range [low, high] taken as uniform, and the centred correlation of neighbouring positions."""
    stats = inp.stats
    pos = env.positions(inp.shape)
    if inp.dtype.startswith("int"):
        return Sig(np.full(pos, np.nan), 0.0)
    if "mean" in stats or "std" in stats:
        mean = np.atleast_1d(np.asarray(stats.get("mean", 0.0), float))
        std = np.atleast_1d(np.asarray(stats.get("std", 1.0 if "range" not in stats else 0.0), float))
        if "range" in stats and "std" not in stats:
            lo, hi = stats["range"]
            std = np.atleast_1d((hi - lo) / math.sqrt(12))
    elif "range" in stats:
        lo, hi = stats["range"]
        mean, std = np.atleast_1d((lo + hi) / 2), np.atleast_1d((hi - lo) / math.sqrt(12))
    else:
        mean, std = np.zeros(1), np.ones(1)
    mean, std = np.broadcast_arrays(mean, std)
    mc2 = float((mean**2).mean())
    var = float((std**2).mean())
    q = mc2 + var
    rho = float(stats.get("correlation", 0.0))
    mu = float(mean.mean())
    if q == 0:
        return Sig(np.zeros(pos), 0.0)
    return Sig(np.full(pos, q), mu, mc2 / q, (mc2 + rho * var) / q, gauss=True)


# ------------------------------------------------------------------------------- the walk


class LayerSignal:
    """One node's prediction: forward statistics of its output, backward r at its output, tags."""

    __slots__ = ("bwd_tag", "fwd_tag", "info", "node", "out", "q_in", "r", "r_in", "row")

    def __init__(self, row, out: Sig, q_in: float, fwd_tag: str, info: Info) -> None:
        self.row = row
        self.node = row.node
        self.out = out
        self.q_in = q_in
        self.fwd_tag = fwd_tag
        self.info = info
        self.r = None  # map of E[(dL/dy)²] at the output
        self.r_in = None  # list of maps, one per input
        self.bwd_tag = "E"

    @property
    def q(self) -> float:
        return self.out.mean

    @property
    def gain(self) -> float:
        return self.q / self.q_in if self.q_in and math.isfinite(self.q_in) and self.q_in > 0 else float("nan")

    @property
    def r_norm(self) -> float:
        """‖∂L/∂y‖² per sample: the mean second moment times the number of elements."""
        from math import prod

        return self.r_mean * prod(self.row.out_shape)

    @property
    def r_mean(self) -> float:
        return float(np.mean(self.r)) if self.r is not None and np.size(self.r) else float("nan")


class SignalReport:
    def __init__(self, analysis: Analysis, layers: list[LayerSignal], inputs: dict, input_r: dict, override) -> None:
        self.analysis = analysis
        self.layers = layers
        self.inputs = inputs  # name -> Sig
        self.input_r = input_r  # name -> r map at the input
        self.override = override
        self.findings: list = []

    @property
    def by_name(self) -> dict:
        return {s.node.name: s for s in self.layers}

    def weighted(self) -> list:
        """The layers with weights (conv, dense, recurrent...), whose outputs are pre-activations."""
        return [s for s in self.layers if s.info.get("init") and math.isfinite(s.q)]

    def live(self) -> set:
        """The layers whose output reaches a network output: a branch nothing reads carries no
        gradient, and says nothing about the growth between input and output."""
        return self.ancestors(self.analysis.graph.outputs)

    def ancestors(self, names) -> set:
        """The layers named and every layer whose output they read, directly or not."""
        nodes = {s.node.name: s.node for s in self.layers}
        todo = list(names)
        live: set = set()
        while todo:
            name = todo.pop()
            if name not in nodes and "." in name and name.rsplit(".", 1)[0] in nodes:
                name = name.rsplit(".", 1)[0]  # a named extra output (an LSTM's NAME.h)
            if name in live or name not in nodes:
                continue
            live.add(name)
            todo += nodes[name].inputs
        return live

    def span(self) -> tuple:
        """(first, last) layers the growth is measured between: pre-activations, as He et al. 2015
        compare them — the first weighted layer, and the last layer that is not an activation (a
        softmax or sigmoid at the end is bounded and says nothing about growth: its own report is
        the saturation)."""
        live = self.live()
        finite = [s for s in self.layers if math.isfinite(s.q) and s.node.name in live]
        if not finite:
            return None, None
        tail = list(finite)
        while len(tail) > 1 and tail[-1].row.ltype.activation:
            tail.pop()
        last = tail[-1]
        # along the way to `last` only: a sibling head or a parallel cell is not on the path
        path = self.ancestors([last.node.name])
        weighted = [s for s in self.weighted() if s.node.name in path]
        first = weighted[0] if weighted else next(s for s in finite if s.node.name in path)
        return first, last

    def growth(self) -> tuple[float, float]:
        """Forward: E[x²] at the end of the net (`span`) over E[x²] at the first weighted layer's
        output (pre-activations). Backward: the gradient's squared norm per sample, ‖∂L/∂y‖² =
        E[(∂L/∂y)²] × elements, at the first weighted layer's output over the end's (the way the
        gradient travels); the norm, because the per-element moment also moves with the widths
        (He et al. 2015: it scales by C_out/C_in under fan_in init while the norm stays put)."""
        first, last = self.span()
        if first is None:
            return float("nan"), float("nan")
        fwd = last.q / first.q if first.q > 0 else float("inf")
        bwd = first.r_norm / last.r_norm if last.r_norm > 0 else float("nan")
        return fwd, bwd


MAX_ELEMENTS = 2**27  # per tensor: the report keeps maps over its positions (8 bytes each, a few at a time)


class TooLarge(Exception):
    """The network has a tensor too large for the signal report's per-position maps."""


def too_large(analysis: Analysis) -> str | None:
    """Why the signal report cannot be worked out for this network (a tensor over MAX_ELEMENTS), or None."""
    from math import prod

    shapes = [(i.name, i.shape) for i in analysis.graph.inputs]
    shapes += [(r.node.name, r.out_shape) for r in analysis.rows if r.out_shape is not None]
    for name, shape in shapes:
        if prod(shape) > MAX_ELEMENTS:
            return (f"{name} has {prod(shape):,} elements per sample ({'×'.join(map(str, shape))}), more than the "
                    f"{MAX_ELEMENTS:,} the signal report keeps maps for")  # fmt: skip
    return None


def propagate(analysis: Analysis, override: inits.InitSpec | None = None, batch: int | None = None) -> SignalReport:
    """Forward then backward over the analysed graph; `batch` for batchnorm's finite-batch backward
    (None: an infinitely large batch). Raises TooLarge for a tensor beyond MAX_ELEMENTS."""
    problem = too_large(analysis)
    if problem:
        raise TooLarge(problem)
    graph = analysis.graph
    env = SigEnv(graph.convention, graph.channels_last, override, batch)
    sigs: dict[str, Sig] = {}
    inputs = {}
    for inp in graph.inputs:
        sigs[inp.name] = inputs[inp.name] = input_sig(inp, env)
    layers: list[LayerSignal] = []
    for row in analysis.rows:
        if not row.ok:
            continue
        ins = [sigs[name] for name in row.node.inputs]
        env.row = row
        env.info = Info()
        out, tag = row.ltype.sig_forward(row.g, ins, env)
        extra = env.info.pop("extra", {})
        for suffix, sig in extra.items():
            sigs[f"{row.node.name}.{suffix}"] = sig
        sigs[row.node.name] = out
        q_in = float(np.nanmean([s.mean for s in ins])) if ins and not all(np.isnan(s.mean) for s in ins) else math.nan
        layers.append(LayerSignal(row, out, q_in, tag, env.info))
    _backward(analysis, layers, sigs, env)
    input_r = {}
    for s in layers:
        for name, r in zip(s.node.inputs, s.r_in or [], strict=False):
            if name in inputs and r is not None:
                input_r[name] = input_r.get(name, 0) + r
    return SignalReport(analysis, layers, inputs, input_r, override)


def _backward(analysis, layers, sigs, env) -> None:
    """r = 1 at every graph output, then each layer's rule sends r back to its inputs; a tensor read
    by several layers receives the sum (independent gradients add in second moment).

    Beside r, the fraction of r that is, in each sample, a channel's mean over the positions
    (`gmean`) travels back: a global average pool makes the gradient the same at every position of
    a channel (gmean 1); an independent gradient over P positions has 1/P. It matters for a finite
    batch B: batchnorm's backward removes the batch mean of each channel's gradient, gmean/B of r
    (with gradients that are uniform over the positions, only B samples average out); with no
    batch given (an infinite batch) it removes nothing. A rule states what it does to gmean by setting env.info["gmean_in"] (one value
    per input); by default it is kept.

    Also beside r, where a tensor's distribution is known as atoms (`quantiles`), the gradient's
    second moment given the element's value (`rprof`: E[g² | x = atom]/E[g²], one value per atom,
    its weighted mean 1). A relu on a residual stream passes the gradient only where its input is
    positive, and the stream's next value is relu(x) + an independent branch: where x > 0 the next
    relu is more likely open too, so the gradient that comes back along the skip is larger where
    x > 0 than on average (E[φ'(x)²·g²] ≠ E[φ'²]·E[g²]). A rule reads env.info["rprof"] (None: no
    dependence on the value) and states its inputs' profiles in env.info["rprof_in"] (over each
    input's own atoms; None for none); the readers' profiles are averaged weighted by their r."""
    graph = analysis.graph
    acc: dict[str, np.ndarray] = {}
    gsum: dict[str, float] = {}  # Σ gmean·r over the readers, to weight the fractions
    prof: dict[str, list] = {}  # (mean r, profile or None) from each reader
    by_name = {s.node.name: s for s in layers}
    readers: dict = {}
    for s in layers:
        for n in s.node.inputs:
            readers.setdefault(n, []).append(s)
    for out in graph.outputs:
        base = out.split(".")[0] if out not in by_name else out
        s = by_name.get(base)
        if s is not None:
            ones = np.ones_like(s.out.q if out == base else sigs[out].q)
            acc[out] = acc.get(out, 0) + ones
            gsum[out] = gsum.get(out, 0.0) + 1.0 / max(ones.size, 1)
    for s in reversed(layers):
        name = s.node.name
        r = acc.get(name)
        extras = {k.split(".", 1)[1]: v for k, v in acc.items() if k.startswith(name + ".")}
        if r is None:
            r = np.zeros_like(s.out.q)
        s.r = np.asarray(r, float)
        rm = float(np.mean(s.r)) if s.r.size else 0.0
        gmean = min(max(gsum.get(name, 0.0) / rm, 0.0), 1.0) if rm > 0 else 0.0
        ins = [sigs[n] for n in s.node.inputs]
        env.row = s.row
        env.info = s.info
        env.info["gmean"] = gmean
        consumers = readers.get(name, [])
        if len(consumers) == 1 and "argmax_factor" in consumers[0].info:
            env.info["argmax_factor"] = consumers[0].info["argmax_factor"]
        if extras:
            env.info["r_extra"] = extras
        env.info["rprof"] = _profile(prof.get(name, []))
        rs, tag = s.row.ltype.sig_backward(s.row.g, ins, s.out, s.r, env)
        g_in = env.info.pop("gmean_in", None) or [gmean] * len(rs)
        p_in = env.info.pop("rprof_in", None) or [None] * len(rs)
        env.info.pop("rprof", None)
        s.bwd_tag = tag
        s.r_in = rs
        for n, ri, gi, pi in zip(s.node.inputs, rs, g_in, p_in, strict=False):
            if ri is None:
                continue
            prev = acc.get(n)
            ri = SigEnv.fit(ri, sigs[n].q.shape)
            acc[n] = ri if prev is None else prev + ri
            gi = max(gi, 1.0 / max(np.size(ri), 1))  # independent positions: at least 1/P
            rmean = float(np.mean(ri)) if np.size(ri) else 0.0
            gsum[n] = gsum.get(n, 0.0) + gi * rmean
            prof.setdefault(n, []).append((rmean, pi))


def _profile(parts: list):
    """The readers' value profiles of r (see `_backward`), weighted by the r each sends; a reader
    without one counts as flat (1 at every atom). None when no reader has one."""
    sized = [p for _, p in parts if p is not None]
    total = sum(rm for rm, _ in parts)
    if not sized or total <= 0:
        return None
    n = len(sized[0])
    if any(len(p) != n for p in sized):
        return None
    out = np.zeros(n)
    for rm, p in parts:
        out += rm * (np.ones(n) if p is None else np.asarray(p, float))
    return out / total


# ------------------------------------------------------------------------------- advice

# the initialiser (Keras, PyTorch) for a weighted layer fed by no nonlinearity (an activation's own is
# its `suggested_init` trait)
NO_NONLINEARITY_INIT = ("glorot_uniform", "xavier_uniform")


def advise(report: SignalReport, band: float, diags) -> None:
    """Findings: the forward (W301) or backward (W302) growth over the net outside [1/band, band],
    naming the layer that contributes most, the initialiser that keeps it near 1 and LSUV's
    factor 1/√q; saturating sigmoid/tanh/softmax inputs (W303); constant weight initialisation
    (W304), except where a zero start is the point (the last layer of a residual branch: Fixup,
    SkipInit; a network output)."""
    first, last = report.span()
    if first is None:
        return
    fwd, bwd = report.growth()
    on_path = report.ancestors([last.node.name])
    path = [
        s for s in report.layers if s.node.name in on_path and (first.row is s.row or _between(report, first, last, s))
    ]
    if math.isfinite(fwd) and not (1 / band <= fwd <= band):
        _warn(report, diags, "W301", "forward", fwd, band, _culprit(path, fwd > 1, False), first, last)
    if math.isfinite(bwd) and not (1 / band <= bwd <= band):
        _warn(report, diags, "W302", "backward", bwd, band, _culprit(path, bwd > 1, True), first, last)
    readers = _readers(report)
    outputs = set(report.analysis.graph.outputs)
    for s in report.layers:
        sat = s.info.get("saturation")
        if sat and sat[0] > 0.05:
            frac, t, dgain = sat
            diags.warning(
                "W303",
                f"{s.node.name}: {s.node.op} saturates: {frac:.0%} of its inputs lie beyond ±{t:g} (input second "
                f"moment {s.q_in:.3g}); its backward gain E[φ'²] is {dgain:.3g}",
                s.node.loc,
                layer=s.node.name,
            )
        if "softmax_saturation" in s.info and s.info["logit_std"] > 3:
            diags.warning(
                "W303",
                f"{s.node.name}: softmax saturates: logit std {s.info['logit_std']:.3g} (> 3), the largest "
                f"probability exceeds 0.9 in {s.info['softmax_saturation']:.0%} of samples at initialisation",
                s.node.loc,
                layer=s.node.name,
            )
        intended = _feeds_output_or_add(s, readers, outputs)
        for what in s.info.get("constant", []):
            if intended:
                continue
            diags.warning(
                "W304",
                f"{s.node.name}: constant initialisation ({what}): all its units start identical and only the "
                "layers after it can tell them apart (zero weights before a ReLU pass no gradient at all)",
                s.node.loc,
                layer=s.node.name,
            )


def _feeds_output_or_add(s, readers, outputs) -> bool:
    """A zero start is intended for the last layer of a residual branch (it feeds an add) and for
    an output layer, also through its own activation."""
    cur = s
    for _ in range(3):
        if cur.node.name in outputs:
            return True
        nxt = readers.get(cur.node.name, [])
        if any(t.row.ltype.joins == "sum" for t in nxt):
            return True
        if len(nxt) != 1 or not nxt[0].row.ltype.activation:
            return False
        cur = nxt[0]
    return False


def _between(report, first, last, s) -> bool:
    order = {id(t): i for i, t in enumerate(report.layers)}
    return order[id(first)] <= order[id(s)] <= order[id(last)]


def _readers(report) -> dict:
    readers: dict = {}
    for t in report.layers:
        for n in t.node.inputs:
            readers.setdefault(n, []).append(t)
    return readers


def _culprit(path, growing: bool, backward: bool):
    """The checkpoint (a weighted layer or a residual add: where pre-activations are formed) whose
    step from the previous checkpoint moves furthest in the direction of the total growth —
    He et al.'s per-layer factor, activation and pooling in between included."""
    checkpoints = [s for s in path if s.info.get("init") or s.row.ltype.joins == "sum"]
    if len(checkpoints) < 2:
        return (checkpoints or path)[0], float("nan")
    best, best_log, best_step = checkpoints[1], -math.inf, float("nan")
    for prev, cur in itertools.pairwise(checkpoints):
        if backward:
            step = prev.r_norm / cur.r_norm if cur.r_norm > 0 else float("nan")
        else:
            step = cur.q / prev.q if prev.q > 0 else float("nan")
        if not math.isfinite(step) or step <= 0:
            continue
        lg = math.log(step) if growing else -math.log(step)
        if lg > best_log + 1e-9:
            best, best_log, best_step = cur, lg, step
    return best, best_step


def _bgain(s) -> float:
    """How much the gradient's squared norm grows going back through this layer."""
    from math import prod

    if not s.r_in or s.r_norm <= 0:
        return float("nan")
    norm_in = sum(float(np.mean(r)) * prod(shape) for r, shape in zip(s.r_in, s.row.in_shapes, strict=False)
                  if r is not None)  # fmt: skip
    return norm_in / s.r_norm


def _warn(report, diags, code, direction, growth, band, found, first, last) -> None:
    culprit, step = found
    keras = report.analysis.graph.convention == "keras"
    way = (f"from {first.node.name} to {last.node.name}" if direction == "forward"
           else f"from {last.node.name} back to {first.node.name}")  # fmt: skip
    head = (f"the {direction} second moment {'grows' if growth > 1 else 'shrinks'} {_times(growth)} {way} "
            f"(band {band:g}× either way); the largest step is at {culprit.node.name} ({culprit.node.op})")  # fmt: skip
    if math.isfinite(step):
        head += f", {_times(step)} from the previous weighted layer"
    if culprit.info.get("init"):
        fed_by = _activation_before(report, culprit)
        before = fed_by.node.op if fed_by else None
        pick = fed_by.row.ltype.suggested_init if fed_by else NO_NONLINEARITY_INIT
        name = pick[0] if keras else pick[1]
        now = culprit.info["init"].get("init") or next(iter(culprit.info["init"].values()), "the default")
        fed = f"fed by {before}" if before else "with no nonlinearity before it"
        lsuv = 1 / math.sqrt(culprit.q) if culprit.q > 0 else float("nan")
        fix = 1 / math.sqrt(step) if direction == "forward" and math.isfinite(step) and step > 0 else None
        if _same_init(now, pick):  # the init suits its input already: the step comes from what lies between
            tail = (f": its init is {now}, {fed}, which suits it already: the step comes from the layers "
                    "between (pooling, a sum, the input's statistics)")  # fmt: skip
            if fix is not None:
                tail += f"; scaling its weights by {fix:.3g} corrects it"
        else:
            tail = f": its init is {now}, {fed}; {name} keeps the step near 1"
            if fix is not None:
                tail += f" (or scale its weights by {fix:.3g})"
        tail += f"; LSUV would scale them by 1/√q = {lsuv:.3g} to give its output E[x²] = 1"
    else:
        reason = culprit.row.ltype.growth_reason
        tail = f": {reason}" if reason else ""
        tail += "; zero-initialise the last layer of each branch (Fixup, SkipInit) or normalise inside it"
    diags.warning(code, head + tail, culprit.node.loc, layer=culprit.node.name)


def _same_init(now: str, pick: tuple) -> bool:
    """Whether the layer's initialiser (as described) is the one suggested for it (`pick`)."""
    spec = inits.parse_name(pick[0].split(" ")[0])
    return spec is not None and now == spec.describe()


def _activation_before(report, s):
    """The nonlinearity with a suggested initialiser that the layer's input went through last (skipping
    pooling, dropout, reshapes, a gate's product); None when a weighted layer, a sum or concatenation
    of branches or a normalisation comes first."""
    by_name = report.by_name
    cur = s
    for _ in range(6):
        if not cur.node.inputs:
            return None
        prev = by_name.get(cur.node.inputs[0])
        if prev is None:
            return None
        ltype = prev.row.ltype
        if ltype.suggested_init:
            return prev
        if prev.info.get("init") or ltype.normalises or ltype.joins in ("sum", "concat"):
            return None
        cur = prev
    return None


def _times(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    return f"{x:.3g}×"


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
    env.info["wv"] = wv
    env.info["bias_fraction"] = b2 / qm if qm > 0 else 0.0
    corr_in = stride_corr(x.corr, x.mfrac, stride) if stride != 1 else x.corr
    env.info["fan_in"] = n_terms
    qwm = float(qw.mean()) if qw.size else 0.0
    out = Sig(q, bm + wm * n_terms * x.mu, mc2 / qm if qm > 0 else 0.0, (corr_in * qwm + b2) / qm if qm > 0 else 0.0,
              gauss=True)  # fmt: skip
    return out, tag
