"""Adaptive pooling on 1, 2 or 3 spatial axes: average or max over windows chosen so that the output
has a given size (PyTorch nn.AdaptiveAvgPool1d/2d/3d, nn.AdaptiveMaxPool1d/2d/3d; Keras has no such
layer)."""

from __future__ import annotations

from math import prod

from ..kinds import Arg, IntTuple
from .base import AXIS_NAMES, Geometry, ParameterFree
from .window import rf_window


def adaptive_windows(n, o: int) -> tuple[tuple, tuple]:
    """PyTorch's windows along one axis of n positions for o outputs: output i reads
    [⌊i·n/o⌋, ⌈(i + 1)·n/o⌉). Windows differ in size and overlap when o does not divide n; with
    n < o some input positions are read by several outputs (every window has at least one)."""
    starts = tuple((i * n) // o for i in range(o))
    ends = tuple(-((-(i + 1) * n) // o) for i in range(o))
    return starts, ends


def window_taps(n, o: int):
    """Σ over an axis's o windows of their sizes: n + o − gcd(n, o). The windows' ends and the
    next windows' starts differ by ⌈j·n/o⌉ − ⌊j·n/o⌋ at j = 1 … o − 1, which is 1 unless o divides
    j·n, for o − gcd(n, o) of them (13 → 6: 13 + 6 − 1 = 18; 7 → 7: 7); so the sum is the span n
    plus those shared positions. For a symbolic n, gcd(n, o) = Σ over the divisors d of o of φ(d)
    when d divides n, each written [d | n] = ⌊n/d⌋ − ⌊(n − 1)/d⌋ (periodic in n)."""
    if not hasattr(n, "e"):
        from math import gcd

        return n + o - gcd(n, o)
    common = 1
    for d in range(2, o + 1):
        if o % d == 0:
            phi = sum(1 for k in range(1, d + 1) if _coprime(k, d))
            common = common + phi * (n // d - (n - 1) // d)
    return n + o - common


def _coprime(a: int, b: int) -> bool:
    from math import gcd

    return gcd(a, b) == 1


class AdaptivePool(ParameterFree):
    """Average or max pooling to a fixed output size on `nd` spatial axes, whatever the input's:
    output i of an axis of n positions and o outputs reads the window [⌊i·n/o⌋, ⌈(i + 1)·n/o⌉)
    (PyTorch's rule: the same as a pool of kernel and stride n/o when o divides n, windows of two
    sizes that overlap by one position otherwise, and repeated input positions when n < o, which
    PyTorch allows). The average divides by the window's own size (there is no padding). Channels
    unchanged. torchvision's VGG ends its features with AdaptiveAvgPool2d((7, 7)) and AlexNet with
    ((6, 6)), so that the classifier's input is fixed at any image size."""

    def __init__(self, kind: str, nd: int) -> None:
        self.kind, self.nd = kind, nd
        self.op = f"adaptive_{kind}pool{nd}d"
        self.aliases = (f"adaptive_{kind}_pool{nd}d", f"adaptive{kind}pool{nd}d")
        if kind == "max":
            # the fixed max pool's rule (k − 1 comparisons for k taps), with each window's own size
            self.counting = "FLOPs k − 1 per output (k = its window's taps)"
            self.growth_reason = "the max of a window is biased upward"
        else:
            # the fixed average pool's rule (k − 1 adds and 1 divide), with each window's own size
            self.counting = "FLOPs k per output (k = its window's taps)"
            self.averages = True
        self.summary = f"{nd}-D adaptive {'max' if kind == 'max' else 'average'} pooling to a fixed size"
        self.args = {"output_size": Arg(IntTuple(nd), doc="the output's size per spatial axis")}

    def resolve(self, a, shapes, ctx):
        """Check the rank; each axis's windows (`adaptive_windows`). Any input size gives the output
        size asked for, so there is nothing for `netcalc sizes` to solve."""
        shape = shapes[0]
        if not ctx.need_rank(shape, self.nd + 1, f"a {self.nd}-D feature map"):
            return None
        c, ns = ctx.split(shape)
        outs = tuple(a["output_size"])
        # a symbolic axis's windows are not listed: o symbolic floors each (a fuzzed o = 12,000 took 30 s
        # in sympy), and only a concrete size's signal, explain and receptive field read them
        wins = tuple(
            adaptive_windows(n, o) if not hasattr(n, "e") else (None, None) for n, o in zip(ns, outs, strict=True)
        )
        sizes = tuple(tuple(e - s for s, e in zip(*w, strict=True)) if w[0] is not None else None for w in wins)
        return Geometry(c=c, ns=ns, outs=outs, starts=tuple(w[0] for w in wins), ends=tuple(w[1] for w in wins),
                        sizes=sizes, out_shape=ctx.join(c, outs))  # fmt: skip

    def output_shape(self, g):
        """(C, *output_size) in the spec's layout."""
        return g.out_shape

    def flops(self, g):
        """Per output, with k its window's taps: average k (k − 1 adds and 1 divide), max k − 1
        comparisons — the fixed pools' rules. The windows are products of one window per axis, so
        the sum over the outputs of k is the product over the axes of each axis's window sizes
        summed, n + o − gcd(n, o) (`window_taps`)."""
        taps = prod(window_taps(n, o) for n, o in zip(g.ns, g.outs, strict=True))
        return g.c * (taps - prod(g.outs) if self.kind == "max" else taps)

    def receptive(self, g, rf):
        """The largest window, r += (k_max − 1)·j, and the jump times the mean step n/o (a fraction
        when o does not divide n); none for a symbolic size, whose windows change with it."""
        if rf is None or any(hasattr(n, "e") for n in g.ns):
            return None
        from fractions import Fraction

        out = []
        for (r, j), n, o, sizes in zip(rf, g.ns, g.outs, g.sizes, strict=True):
            step = Fraction(n, o)
            (r2, _), = rf_window([(r, j)], (max(sizes),), (1,), (1,))  # fmt: skip
            out.append((r2, j * (int(step) if step.denominator == 1 else step)))
        return out

    def weight_shape(self, g, tensors):
        return "→ " + "×".join(map(str, g.outs))

    def explain(self, g, ctx):
        """Per axis: the window rule with the numbers, the window sizes and how they overlap."""
        lines = []
        for n, o, starts, ends, sizes, axis in zip(g.ns, g.outs, g.starts, g.ends, g.sizes, AXIS_NAMES[self.nd],
                                                  strict=True):  # fmt: skip
            if hasattr(n, "e"):
                lines.append(f"{axis}: {n} → {o}: output i reads [⌊i·{n}/{o}⌋, ⌈(i + 1)·{n}/{o}⌉)")
                continue
            counts: dict = {}
            for k in sizes:
                counts[k] = counts.get(k, 0) + 1
            made = ", ".join(f"{c} of {k}" for k, c in sorted(counts.items()))
            shared = sum(max(ends[i] - starts[i + 1], 0) for i in range(o - 1))
            how = (f"kernel and stride {n // o}" if n % o == 0 else
                   f"{shared} position{'s' if shared != 1 else ''} shared by neighbouring windows")  # fmt: skip
            lines.append(f"{axis}: {n} → {o}: output i reads [⌊i·{n}/{o}⌋, ⌈(i + 1)·{n}/{o}⌉): windows {made} "
                         f"({how})")  # fmt: skip
        per = "k − 1" if self.kind == "max" else "k"
        lines.append(f"FLOPs: {per} per output, k its window's taps: {self.flops(g):,} over C = {g.c}")
        return lines

    # ------------------------------------------------------------------ signal

    def sig_forward(self, g, ins, env):
        """Average [A]: per output, the fixed pool's rule on its own window, E[avg²] = (Σ q_i +
        ρ̄·Σ_{i≠j} √(q_i q_j))/k² over its k taps (no padding: k is the window's size), ρ̄ the mean
        correlation of two of its taps (ρ^distance per axis), so outputs with windows of different
        sizes get different figures, each with its own windows' q. Max [A]: E[max²] of k
        equicorrelated Gaussians per window size k (the fixed max pool's rule, through the
        activation before it when there is one), times the window's mean q."""
        import numpy as np

        from ..signal_rules import stride_corr

        x = ins[0]
        qmap = env.fit(x.q, g.ns)
        step = sum(n / o for n, o in zip(g.ns, g.outs, strict=True)) / self.nd
        corr_out = stride_corr(x.corr, x.mfrac, step)
        s1 = _sums(qmap, g)
        m = _taps(g)
        if self.kind == "avg":
            rho = _per_window(g, lambda ks: _window_corr(x.corr, x.mfrac, ks))
            s2 = _sums(np.sqrt(qmap), g)
            q = (s1 + rho * (s2 * s2 - s1)) / (m * m)
            qm = float(q.mean())
            mfrac = min(x.mfrac * x.mean / qm, 1.0) if qm > 0 else 0.0
            return x.like(q, mfrac=mfrac, corr=max(corr_out, mfrac), gauss=x.gauss), "A"
        return self._max_forward(g, x, env, s1 / m, corr_out)

    def _max_forward(self, g, x, env, qmean, corr_out):
        """The max rule per distinct window shape (see sig_forward); E[max] and the backward's slope
        at the maximum (`argmax_factor`) averaged over the outputs."""
        import math

        mom = env.moments
        dphi = None
        if x.pre is not None and x.pre[0] not in ("gelu", "softmax"):
            op, args, base = x.pre
            phi, dphi = mom.function(op, args)
        else:
            phi, base = (lambda v: v), x
        mu = base.mu
        var = max(base.mean - mu * mu, 0.0)
        found = {}

        def rule(ks):
            wc = _window_corr(base.corr, base.mfrac, ks)
            rho = (wc * base.mean - mu * mu) / var if var > 0 else 1.0
            k = prod(ks)
            e1, e2 = mom.max_moments(phi, k, mu, math.sqrt(var), rho)
            factor = 1.0
            if dphi is not None:
                _, at_max = mom.max_moments(dphi, k, mu, math.sqrt(var), rho)
                everywhere = float(mom.activation_moments(x.pre[0], x.pre[1], mu, base.mean)[2])
                factor = at_max / everywhere if everywhere > 0 else 1.0
            found[ks] = (e1, e2 / x.mean if x.mean > 0 else 1.0, factor)
            return found[ks][1]

        ratio = _per_window(g, rule)
        e1 = float(_per_window(g, lambda ks: found[ks][0]).mean())
        if dphi is not None:
            env.info.argmax_factor = float(_per_window(g, lambda ks: found[ks][2]).mean())
        env.info.max_ratio = float(ratio.mean())
        q = ratio * qmean
        qm = float(q.mean())
        mfrac = min(max(e1 * e1 / qm, x.mfrac), 1.0) if qm > 0 else 0.0
        return x.like(q, mu=e1, mfrac=mfrac, corr=max(corr_out, mfrac), gauss=False), "A"

    def sig_backward(self, g, ins, out, r, env):
        """Average: each window sends r/k² to each of its k taps, summed over the windows covering a
        position (several where windows overlap or n < o) [A: independent output gradients]; max:
        each window's gradient goes to one of its taps, r/k on average [A], with the activation's
        slope at the maximum (`argmax_factor`, as the fixed max pool)."""
        import numpy as np

        r = env.fit(r, g.outs)
        m = _taps(g)
        gmean = env.info.gmean
        if self.kind == "avg":
            back = _scatter(r / (m * m), g)
            cover = float(np.mean(_scatter(1 / m, g)))
            env.info.gmean_in = [
                min(gmean * cover * cover * float(np.mean(r)) / max(float(np.mean(back)), 1e-300), 1.0)
            ]
            return [back], "A"
        back = _scatter(r / m, g)
        ratio = prod(g.outs) / prod(g.ns)
        env.info.gmean_in = [min(gmean * ratio * ratio * float(np.mean(r)) / max(float(np.mean(back)), 1e-300), 1.0)]
        return [back], "A"


def _window_corr(c: float, m: float, ks: tuple) -> float:
    """signal_rules.window_corr's mean correlation of two different taps of a window, ρ^distance per
    axis [A], summed axis by axis (Σ over tap pairs of ρ^(|di| + |dj|) is the product of each axis's
    Σ ρ^|d|), so that a window of 224×224 taps costs 224 terms per axis, not 10⁹ pairs."""
    from ..signal_rules import centred

    rho = max(centred(c, m), 0.0)
    k = prod(ks)
    if k < 2:
        return 1.0
    full = prod(n + 2 * sum((n - d) * rho**d for d in range(1, n)) for n in ks)  # ordered pairs, i = j included
    return m + (1 - m) * (full - k) / (k * (k - 1))


def _per_window(g, value):
    """A map over the outputs of value(window shape), evaluated once per distinct shape."""
    import numpy as np

    cache: dict = {}
    out = np.empty(g.outs)
    for idx in np.ndindex(*g.outs):
        ks = tuple(g.sizes[a][i] for a, i in enumerate(idx))
        if ks not in cache:
            cache[ks] = value(ks)
        out[idx] = cache[ks]
    return out


def _taps(g):
    """The taps of each output's window: the outer product of the axes' window sizes."""
    import numpy as np

    m = np.ones(())
    for sizes in g.sizes:
        m = np.multiply.outer(m, np.asarray(sizes, float))
    return m


def _sums(m, g):
    """Each output's sum of the map m over its window, axis by axis through prefix sums."""
    import numpy as np

    m = np.asarray(m, float)
    for axis, (starts, ends) in enumerate(zip(g.starts, g.ends, strict=True)):
        moved = np.moveaxis(m, axis, 0)
        pre = np.concatenate([np.zeros((1, *moved.shape[1:])), np.cumsum(moved, axis=0)])
        m = np.moveaxis(pre[list(ends)] - pre[list(starts)], 0, axis)
    return m


def _scatter(mo, g):
    """The transpose of `_sums`: each input position receives the sum of mo over the windows
    that cover it, axis by axis through difference arrays."""
    import numpy as np

    m = np.asarray(mo, float)
    for axis, (starts, ends, n) in enumerate(zip(g.starts, g.ends, g.ns, strict=True)):
        moved = np.moveaxis(m, axis, 0)
        diff = np.zeros((n + 1, *moved.shape[1:]))
        np.add.at(diff, list(starts), moved)
        np.add.at(diff, list(ends), -moved)
        m = np.moveaxis(np.cumsum(diff, axis=0)[:n], 0, axis)
    return m
