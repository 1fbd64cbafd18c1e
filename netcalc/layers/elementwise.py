"""Activations (as layers, and behind the `activation:` shorthand), the parametric ReLU and dropout.

FLOPs convention for activations: 1 per element for each elementwise function (ReLU, ReLU6, leaky
ReLU, ELU, GELU, SELU, sigmoid, tanh: one evaluation each, as Netscope counts activations),
0 for identity, and 3 per element for softmax (exponential, sum, divide).
"""

from __future__ import annotations

from math import prod

from ..arg_symbols import AXIS_NOTE
from ..kinds import Arg, Choice, Float, Int
from .base import Geometry, LayerType, ParameterFree, Tensor


class Activation(ParameterFree):
    """An elementwise nonlinearity: the shape is kept and there are no parameters. Its traits are
    given per op: the initialiser that suits a weighted layer it feeds, whether it squashes to
    probabilities, and its counting statement (FLOPs per element)."""

    per_element = 1
    layout_free = True  # softmax too: its axis is the last unless given
    per_position = True  # softmax over the feature axis of a sequence too
    activation = True

    def __init__(self, op: str, summary: str, args: dict | None = None, per_element: int = 1, aliases: tuple = (),
                 suggested_init: tuple[str, str] | None = None, squashes: str | None = None,
                 counting: str = "") -> None:  # fmt: skip
        self.op = op
        self.summary = summary
        self.args = args or {}
        self.per_element = per_element
        self.aliases = aliases
        self.suggested_init = suggested_init
        self.squashes = squashes
        self.counting = counting or f"FLOPs {per_element} per element"

    def resolve(self, a, shapes, ctx):
        """Elementwise: any shape."""
        slope = 0.0  # the slope below 0: leaky_relu's (PyTorch LeakyReLU: 0.01; Keras LeakyReLU: 0.3)
        if self.op == "leaky_relu":
            slope = a.get("negative_slope")
            slope = slope if slope is not None else (0.3 if ctx.keras else 0.01)
        g = Geometry(shape=shapes[0], negative_slope=slope)
        if self.op == "softmax":
            axis = a.get("axis", -1)
            if not -len(shapes[0]) <= axis < len(shapes[0]):
                ctx.error("E202", f"softmax axis {axis} is outside an input of {len(shapes[0])} axes", "axis")
                return None
        return g

    SATURATION = {"sigmoid": 4.0, "tanh": 2.0}  # |x| beyond which φ' < 0.02 (sigmoid) or < 0.08 (tanh)

    def sig_forward(self, g, ins, env):
        """E[φ(x)²] for a Gaussian pre-activation x ~ N(μ, q − μ²) at every position.

        ReLU and leaky ReLU: closed forms, q/2 and (1 + a²)/2·q when μ = 0 [E] (any symmetric input),
        (μ² + s²)Φ(μ/s) + μsφ(μ/s) otherwise [MF]; identity [E]; every other function by quadrature
        [MF]; softmax by a fixed-seed Monte Carlo over the axis [A]. The neighbour correlation goes
        through φ's kernel (ReLU: the arc-cosine kernel (sin θ + (π − θ)c)/π), and so do the
        channels' own means (2-D Gauss–Hermite) [MF]; for a non-Gaussian input (a residual sum's
        atoms) the products start from the atoms' own E[φ]², the Gaussian pair moment adding only
        what the covariance adds to it [MF] (so that the channels' means agree with the mean). Saturation (sigmoid, tanh): the probability
        mass beyond ±t and the backward gain E[φ'²]."""
        import math

        import numpy as np

        m = env.moments
        x = ins[0]
        op = self.op
        if op == "identity":
            return x.like(x.q, pre=x.pre), "E"
        q = x.q
        qm = x.mean
        mu = x.mu
        var = max(qm - mu * mu, 0.0)
        if op == "softmax":
            n = g.shape[env.row.node.args.get("axis", -1)]
            p2, dgain, sat = m.softmax_moments(n, mu, var)
            env.info.dgain = dgain
            env.info.softmax_saturation = sat
            env.info.logit_std = math.sqrt(var)
            return Sig_like(x, np.full(q.shape, p2), 1.0 / n, 1.0, 1.0), "A"
        args = {"negative_slope": g.negative_slope, **ctx_args(env)}
        m1, m2, d2 = m.activation_moments(op, args, mu, q)
        out_samples = None
        symmetric = mu == 0 and op in ("relu", "leaky_relu")  # the closed form holds for any symmetric input
        if x.samples is not None and qm > 0 and not symmetric:  # not Gaussian (a residual sum) [MF]
            phi, dphi = m.function(op, args)
            v, w = x.samples
            fv = phi(v)
            ratio = float((w * fv * fv).sum()) / float((w * v * v).sum())  # E[φ(x)²]/E[x²] on the atoms
            m1, m2 = np.full_like(q, float((w * fv).sum())), q * ratio
            d2 = np.full_like(q, float((w * dphi(v) ** 2).sum()))
            out_samples = (fv, w)
        env.info.d2 = d2
        env.info.dgain = float(np.mean(d2)) if np.size(d2) else float("nan")
        slope = m.slope_mean(op, args, mu, qm)  # E[φ']: a channel's mean gradient goes through as E[φ']·mean
        env.info.slope_ratio = slope * slope / env.info.dgain if env.info.dgain > 0 else 0.0
        q2 = float(np.mean(m2)) if np.size(m2) else 0.0
        mean1 = float(np.mean(m1)) if np.size(m1) else 0.0
        if op in self.SATURATION:
            t = self.SATURATION[op]
            s = math.sqrt(var) if var > 0 else 0.0
            frac = (m.ncdf((-t - mu) / s) + m.ncdf((mu - t) / s)) if s > 0 else float(abs(mu) > t)
            env.info.saturation = (float(frac), t, env.info.dgain)
        if op == "relu" and mu == 0:
            corr = m.relu_kernel(x.corr)
            tag = "E"
            mc = var * x.mfrac  # channel means: Gaussian with variance mc2 among channels
            mfrac = m.relu_kernel(mc / var) if var > 0 else 0.0
        else:
            phi, _ = m.function(op, args)
            # E[φ(x)φ(x')] for two elements of covariance c: the Gaussian pair moment; for a
            # non-Gaussian input (atoms), the atoms' own E[φ]² plus what the covariance adds to the
            # Gaussian pair moment beyond independence [MF]
            base = m.pair_moment(phi, mu, var, 0.0) - mean1 * mean1 if out_samples is not None else 0.0
            corr = (m.pair_moment(phi, mu, var, x.corr * qm - mu * mu) - base) / q2 if q2 > 0 else 0.0
            mfrac = (m.pair_moment(phi, mu, var, x.mfrac * qm - mu * mu) - base) / q2 if q2 > 0 else 0.0
            tag = "E" if op == "leaky_relu" and mu == 0 else "MF"
        if op == "leaky_relu" and mu == 0:
            tag = "E"
        pre = (op, args, x) if x.gauss and x.samples is None else None
        out = Sig_like(x, m2, mean1, mfrac, corr, pre=pre)
        out.samples = out_samples
        return out, tag

    def sig_backward(self, g, ins, out, r, env):
        """r_in = E[φ'(x)²]·r_out per position [MF] (ReLU: ½ exactly for a symmetric input [E]); before a
        max pool, E[φ'(max)²] instead, where the gradient lands [A]; softmax: the Jacobian applied to
        r, by the same Monte Carlo [A].

        Where the gradient's second moment depends on the element's value (a profile h over the
        atoms, see signal._backward: a residual stream read by the next block's skip), r_in =
        E[φ'(x)²·h(x)]·r_out on the atoms of x, and x's own profile is φ'²·h renormalised [MF]."""
        if self.op == "identity":
            env.info.rprof_in = [env.info.rprof]
            return [r], "E"
        d2 = env.info.d2
        if self.op == "softmax" or d2 is None:
            return [env.info.dgain * r], "A"
        tag = "E" if self.op in ("relu", "leaky_relu") and ins[0].mu == 0 else "MF"
        env.info.gmean_in = [env.info.gmean * env.info.slope_ratio]
        if env.info.at_max is not None:  # read by a max pool: the gradient comes back at the maxima
            return [d2 * r * env.info.at_max], "A"
        h = env.info.rprof
        if out.samples is not None or out.pre is not None:
            import numpy as np

            from ..signal_rules import quantiles

            v, w = quantiles(ins[0])  # the output's atoms are φ of these, one for one
            flat_in = h is None  # no reader depends on the value: r_in as above, its profile φ'² for the readers before
            h = np.ones(len(v)) if flat_in else h
            if len(v) == len(h):
                _, dphi = env.moments.function(self.op, {"negative_slope": g.negative_slope, **ctx_args(env)})
                dv = dphi(v) ** 2
                flat, tilted = float((w * dv).sum()), float((w * dv * h).sum())
                if flat > 0 and tilted > 0:
                    env.info.rprof_in = [dv * h / tilted]
                    if flat_in:
                        return [d2 * r], tag
                    return [d2 * r * (tilted / flat)], "MF"
        return [d2 * r], tag

    def flops(self, g):
        """per_element × elements (1 for most, 0 for identity, 3 for softmax)."""
        return self.per_element * prod(g.shape)


# the initialiser (Keras, PyTorch name) that keeps a weighted layer's step near 1 when it reads the activation
HE = ("he_normal", "kaiming_normal")
GLOROT = ("glorot_uniform", "xavier_uniform")


def activation_types() -> list[LayerType]:
    slope = Float(0.0)
    return [
        Activation("relu", "rectified linear unit max(0, x)", suggested_init=HE),
        Activation("relu6", "ReLU clipped at 6, min(max(0, x), 6) (MobileNets)", suggested_init=HE),
        Activation(
            "leaky_relu",
            "leaky ReLU: x, or slope·x below 0",
            {"negative_slope": Arg(slope, None, "slope below 0 (PyTorch 0.01, Keras 0.3)")},
            suggested_init=("he_normal (a = slope)", "kaiming_normal (a = slope)"),
        ),
        Activation(
            "elu", "exponential linear unit", {"alpha": Arg(Float(0.0), 1.0, "saturation value −α")}, suggested_init=HE
        ),
        Activation(
            "gelu",
            "Gaussian error linear unit",
            {"approximate": Arg(Choice(("none", "tanh")), "none", "the tanh approximation or exact")},
            suggested_init=HE,
        ),
        Activation("selu", "scaled ELU (self-normalising)", suggested_init=("lecun_normal", "lecun_normal")),
        Activation("sigmoid", "logistic sigmoid 1/(1 + e^−x)", suggested_init=GLOROT, squashes="sigmoid"),
        Activation("tanh", "hyperbolic tangent", suggested_init=GLOROT),
        Activation(
            "softmax",
            "softmax along an axis",
            {"axis": Arg(Int(refuse=AXIS_NOTE), -1, "the axis that sums to 1")},
            per_element=3,
            squashes="softmax",
            counting="FLOPs 3 per element",
        ),
        Identity(
            "identity", "no-op (Keras 'linear')", per_element=0, aliases=("linear_activation",), counting="FLOPs 0"
        ),
    ]


class Identity(Activation):
    """The identity: an activation that keeps a linear map linear and computes nothing."""

    pass_through = True
    keeps_order = True


def ctx_args(env) -> dict:
    """The activation's own arguments (alpha, approximate) from the node being analysed."""
    return {k: v for k, v in env.row.node.args.items() if k in ("alpha", "approximate")}


def Sig_like(x, q, mu, mfrac, corr, pre=None):
    return x.like(q, mu=mu, mfrac=mfrac, corr=corr, gauss=False, pre=pre)


class PReLU(LayerType):
    """The parametric ReLU (He et al. 2015): x above 0, α·x below, α learnt. An elementwise
    nonlinearity with parameters, so a layer of its own: not an `activation` (those are
    parameter-free, and `activation: prelu` is refused as an unknown activation).

    How many α (`alphas`), by the frameworks' defaults, which differ:
    - PyTorch nn.PReLU(num_parameters=1, init=0.25): `one` α shared by every element (`weight`,
      shape (1)); nn.PReLU(C) is `channel`, one per channel of the channel axis (`weight` (C));
      nothing else (an `element` α is refused in a PyTorch spec, E105).
    - Keras layers.PReLU(alpha_initializer='zeros', shared_axes=None): `element`, one α per element
      of the input without the batch (`alpha` of the input's shape: 64×32×32 = 65,536 for a
      64-channel 32×32 map); shared_axes = the spatial axes ([1, 2] for channels last) is
      `channel`, alpha (1, 1, C); every axis shared is `one`, alpha (1, 1, 1).
    The initial α is the convention's unless `alpha_init` is written: PyTorch 0.25, Keras 0 (a
    ReLU at initialisation). Under the other convention's counting, PyTorch's names and shapes
    are given for Keras's choices ((C) for `channel`, the input's shape for `element`, which
    nn.PReLU cannot express) and Keras's for PyTorch's.
    MACs 0 (α multiplies elementwise, no weight product); FLOPs 1 per element, as leaky ReLU.
    """

    op = "prelu"
    aliases = ("p_relu",)
    summary = "parametric ReLU: x, or α·x below 0, α learnt"
    counting = "FLOPs 1 per element (as leaky ReLU)"
    parametric = True
    per_position = True
    layout_free = True  # elementwise; a channel α reads the channel axis of the layout decided by its readers
    suggested_init = ("he_normal (a = α)", "kaiming_normal (a = α)")
    args = {
        "alphas": Arg(Choice(("one", "channel", "element")), None,
                      "one α shared, one per channel, or one per element (convention's default: PyTorch one, "
                      "Keras element)"),
        "alpha_init": Arg(Float(), None, "α's initial value (convention's default: PyTorch 0.25, Keras 0)"),
    }  # fmt: skip

    def resolve(self, a, shapes, ctx):
        """The α count by the convention's default unless written; PyTorch has no α per element (E105)."""
        shape = shapes[0]
        alphas = a["alphas"] or ("element" if ctx.keras else "one")
        if alphas == "element" and not ctx.keras:
            ctx.error(
                "E105",
                "alphas 'element' is Keras's PReLU (shared_axes=None); PyTorch's nn.PReLU has one α "
                "(num_parameters=1) or one per channel (num_parameters=C): write alphas: one or channel, "
                "or convention: keras",
                "alphas",
            )
            return None
        init = a["alpha_init"] if a["alpha_init"] is not None else (0.0 if ctx.keras else 0.25)
        axis = ctx.channel_axis(len(shape))
        return Geometry(shape=shape, c=shape[axis], axis=axis, alphas=alphas, init=init, negative_slope=init)

    def params(self, g, ctx):
        """PyTorch `weight` (1) or (C) (the input's shape for Keras's `element`); Keras `alpha` of the
        input's shape with 1 on each shared axis; trainable."""
        rank = len(g.shape)
        if not ctx.keras_counting:
            shape = {"one": (1,), "channel": (g.c,), "element": tuple(g.shape)}[g.alphas]
            return [Tensor("weight", shape)]
        if g.alphas == "one":
            shape = (1,) * rank
        elif g.alphas == "channel":
            shape = tuple(g.c if i == g.axis else 1 for i in range(rank))
        else:
            shape = tuple(g.shape)
        return [Tensor("alpha", shape)]

    def macs(self, g):
        """0: α multiplies elementwise, no weight product."""
        return 0

    def flops(self, g):
        """1 per element, as leaky ReLU (one evaluation each)."""
        return prod(g.shape)

    def explain(self, g, ctx):
        """How many α and why, their initial value, the FLOPs."""
        n = prod(g.shape)
        count = {"one": 1, "channel": g.c, "element": n}[g.alphas]
        what = {"one": "one α shared by every element", "channel": f"one α per channel (C = {g.c})",
                "element": "one α per element of the input"}[g.alphas]  # fmt: skip
        if not ctx.node.args.get("alphas"):
            what += " (Keras's PReLU default, shared_axes=None)" if ctx.keras else " (PyTorch's nn.PReLU default)"
        return [f"{what}: {count:,} parameter{'s' if count != 1 else ''}",
                f"α starts at {g.init:g}: a leaky ReLU of slope {g.init:g} at initialisation",
                f"FLOPs: 1 per element × {n:,} = {n:,}"]  # fmt: skip

    def sig_forward(self, g, ins, env):
        """Leaky ReLU's rule with the slope α at initialisation (every α starts at the same value):
        (1 + α²)/2·q for a zero-mean input [E], the Gaussian closed form otherwise [MF]."""
        return _LEAKY.sig_forward(g, ins, env)

    def sig_backward(self, g, ins, out, r, env):
        """Leaky ReLU's rule with slope α: r_in = E[φ'(x)²]·r_out, (1 + α²)/2·r_out for a zero-mean
        input [E], [MF] otherwise (before a max pool, the slope at the maximum [A])."""
        return _LEAKY.sig_backward(g, ins, out, r, env)


_LEAKY = Activation("leaky_relu", "leaky ReLU")  # the rules PReLU applies with its α as the slope


# words users write in `activation:` that mean one of the above
ACTIVATION_ALIASES = {"linear": "identity"}


class Dropout(ParameterFree):
    """Inverted dropout: zeroes a fraction `rate` of elements in training and scales the rest by
    1/(1 − rate); the identity at inference, so 0 FLOPs in the inference count."""

    op = "dropout"
    layout_free = True
    per_position = True
    summary = "dropout (identity at inference)"
    counting = "FLOPs 0 (identity at inference)"
    pass_through = stochastic = True
    args = {"rate": Arg(Float(0.0, 1.0, max_exclusive=True), 0.5, "fraction dropped in training")}

    def sig_forward(self, g, ins, env):
        """[E] inverted dropout in training: q/(1 − rate); neighbours and channel means keep their
        products, so their fractions shrink by (1 − rate)."""
        x = ins[0]
        keep = 1 - env.row.node.args["rate"]
        return x.like(x.q / keep, mfrac=x.mfrac * keep, corr=x.corr * keep, gauss=False), "E"

    def sig_backward(self, g, ins, out, r, env):
        """[E] r/(1 − rate): the same mask and scale on the way back (a channel's mean gradient stays)."""
        keep = 1 - env.row.node.args["rate"]
        env.info.gmean_in = [env.info.gmean * keep]
        env.info.rcorr_in = [env.info.rcorr * keep]  # a mask drawn per element: the lag-1 covariance stays
        return [r / keep], "E"

    def flops(self, g):
        """0: the identity at inference."""
        return 0
