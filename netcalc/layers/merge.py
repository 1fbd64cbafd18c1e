"""Merges (add, multiply, concat) and the residual shortcut in the three forms of He et al. 2015."""

from __future__ import annotations

from math import prod

from ..arg_symbols import AXIS_NOTE
from ..kinds import Arg, Bool, Choice, Int
from .base import Geometry, LayerType, ParameterFree, Tensor, fmt_shape
from .norm import BatchNorm, bn_eps, bn_inference, bn_keep


def broadcast(shapes: list[tuple]) -> tuple | None:
    """The NumPy/PyTorch broadcast of shapes: axes aligned from the last; sizes equal, or 1 stretches."""
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(1, rank + 1):
        sizes = {int(s[-i]): s[-i] for s in shapes if len(s) >= i}  # by value: symbolic sizes too
        sizes.pop(1, None)
        if len(sizes) > 1:
            return None
        out.append(sizes.popitem()[1] if sizes else 1)
    return tuple(reversed(out))


def _sources(ctx, shapes) -> str:
    return ", ".join(
        f"{name} {fmt_shape(s)} ({loc})" for name, s, loc in zip(ctx.node.inputs, shapes, ctx.input_locs, strict=False)
    )


class Elementwise(ParameterFree):
    """Elementwise sum or product of two or more inputs. Broadcasting rule: the inputs have the same
    number of axes, and on each axis the sizes are equal or one of them is 1, which stretches (a
    32×1×1 gate over a 32×16×16 map). Inputs of different ranks are refused: both frameworks put the
    batch axis first, so a (C) vector against a (C, H, W) map would meet the map's batch axis —
    reshape it to (C, 1, 1) first. FLOPs: inputs − 1 per output element. No parameters."""

    arity = None
    counting = "FLOPs inputs − 1 per output"

    def __init__(self, op: str, summary: str, joins: str, growth_reason: str) -> None:
        self.op = op
        self.summary = summary
        self.args = {}
        self.joins = joins
        self.growth_reason = growth_reason

    def resolve(self, a, shapes, ctx):
        """Check that the shapes broadcast; report both shapes and where they come from."""
        if len({len(s) for s in shapes}) > 1:
            ctx.error(
                "E206",
                f"{self.op} cannot combine {_sources(ctx, shapes)}: the numbers of axes differ (with the batch "
                "axis first, a lower-rank input would meet it); reshape to the same rank, with sizes of 1",
                "in",
            )
            return None
        out = broadcast(shapes)
        if out is None:
            ctx.error("E206", f"{self.op} cannot combine {_sources(ctx, shapes)}: the shapes differ", "in")
            return None
        for i in range(len(out)):
            col = [s[i] for s in shapes]
            wide = [x for x in col if x != 1]
            ctx.same(wide, f"{self.op} inputs equal on axis {i}")
            # a symbolic size that is 1 here stretches here only: elsewhere it must be 1 or equal the others
            ones = [x for x in col if x == 1 and hasattr(x, "e")]
            for x in ones:
                for y in wide or [o for o in col if o is not x]:  # x = y, or either is 1
                    ctx.condition(
                        "equal", (x - 1) * (x - y) * (y - 1), f"{self.op} inputs on axis {i} equal, or 1", "in"
                    )
        return Geometry(shape=out, n=len(shapes))

    def sig_forward(self, g, ins, env):
        """add [E]: q = Σ q_i + 2·Σ_{i<j} μ_i μ_j — the branches are uncorrelated when a branch ends in
        zero-mean weights (y = x + F(x)), so unnormalised He-init residual blocks double q per block;
        [A] when more than one input has a mean. multiply [A]: q = Π q_i (independent inputs)."""
        import numpy as np

        pos = env.positions(g.shape)
        qs = [env.fit(x.q, pos) for x in ins]
        mus = [x.mu for x in ins]
        cross = sum(mus[i] * mus[j] for i in range(len(ins)) for j in range(i + 1, len(ins)))
        if self.op == "add":
            q = sum(qs) + 2 * cross
            qm = float(np.mean(q)) if np.size(q) else 0.0
            mc2 = sum(x.mfrac * x.mean for x in ins) + 2 * cross
            corr = sum(x.corr * x.mean for x in ins) + 2 * cross
            tag = "E" if sum(1 for m in mus if m) <= 1 else "A"
            from ..signal_rules import quantiles, sum_quantiles

            samples = quantiles(ins[0])  # one element's distribution: a sum of independent terms
            for other in ins[1:]:
                samples = sum_quantiles(samples, quantiles(other))
            return ins[0].like(q, mu=sum(mus), mfrac=mc2 / qm if qm > 0 else 0.0, corr=corr / qm if qm > 0 else 0.0,
                               gauss=all(x.gauss for x in ins), samples=samples), tag  # fmt: skip
        q = qs[0]
        for other in qs[1:]:
            q = q * other
        return ins[0].like(q, mu=float(np.prod(mus)), gauss=False), "A"

    def sig_backward(self, g, ins, out, r, env):
        """add [E]: every input receives r (summed over the positions it was stretched to);
        multiply [A]: r·Π of the other inputs' q.

        add, where r depends on the sum's value (a profile h over its atoms, see signal._backward):
        each input u gets the profile E_v[h(u + v)] over its own atoms, v the sum of the others,
        independent of u [MF]; the mean r it receives is unchanged."""
        import numpy as np

        rs = []
        shapes = env.row.in_shapes
        for i, x in enumerate(ins):
            factor = prod(g.shape) / prod(shapes[i])
            ri = env.fit(r, x.q.shape) * factor
            if self.op == "multiply":
                ri = ri * float(np.prod([o.mean for j, o in enumerate(ins) if j != i]))
            rs.append(ri)
        h = env.info.rprof
        same = all(tuple(s) == tuple(g.shape) for s in shapes)
        if self.op == "add" and h is not None and same and out.samples is not None and len(h) == len(out.samples[0]):
            from ..signal_rules import quantiles, sum_profile, sum_quantiles

            atoms = [quantiles(x) for x in ins]
            profiles = []
            for i in range(len(ins)):
                others = None
                for j, a in enumerate(atoms):
                    if j != i:
                        others = a if others is None else sum_quantiles(others, a)
                profiles.append(sum_profile(out.samples, h, atoms[i], others))
            env.info.rprof_in = profiles
        return rs, "E" if self.op == "add" else "A"

    def flops(self, g):
        """inputs − 1 per output element."""
        return (g.n - 1) * prod(g.shape)

    def receptive(self, g, rf):
        """The first input's receptive field (the widest is usually the main path)."""
        return rf


class Concat(ParameterFree):
    """Inputs joined along `axis` (default: the channel axis of the layout); every other axis must
    match. No parameters, no FLOPs."""

    op = "concat"
    arity = None
    summary = "concatenation along an axis"
    counting = "FLOPs 0"
    joins = "concat"
    args = {"axis": Arg(Int(refuse=AXIS_NOTE), None, "the axis joined (default: the channel axis)")}

    def resolve(self, a, shapes, ctx):
        """Same rank; equal sizes except along the axis."""
        rank = len(shapes[0])
        axis = a["axis"] if a["axis"] is not None else ctx.channel_axis(rank)
        if any(len(s) != rank for s in shapes) or not -rank <= axis < rank:
            ctx.error("E206", f"concat cannot join {_sources(ctx, shapes)} along axis {axis}", "axis")
            return None
        axis %= rank
        rest = {tuple(int(d) for i, d in enumerate(s) if i != axis) for s in shapes}  # by value
        if len(rest) > 1:
            ctx.error(
                "E206",
                f"concat along axis {axis} needs the other axes equal: {_sources(ctx, shapes)}",
                "in",
            )
            return None
        for i in range(rank):
            if i != axis:
                ctx.same([s[i] for s in shapes], f"concat inputs equal on axis {i}")
        out = list(shapes[0])
        out[axis] = sum(s[axis] for s in shapes)
        return Geometry(shape=tuple(out))

    def sig_forward(self, g, ins, env):
        """[E] along the channels: q = Σ C_i·q_i / Σ C_i per position; along another axis the maps
        are averaged by size [A]."""
        import numpy as np

        axis = env.row.node.args.get("axis")
        rank = len(g.shape)
        axis = (rank - 1 if env.channels_last else 0) if axis is None else axis % rank
        sizes = [s[axis] for s in env.row.in_shapes]
        total = sum(sizes)
        pos = env.positions(g.shape)
        q = sum(env.fit(x.q, pos) * (n / total) for x, n in zip(ins, sizes, strict=True))
        qm = float(np.mean(q)) if np.size(q) else 0.0
        w = [n / total for n in sizes]
        mu = sum(x.mu * wi for x, wi in zip(ins, w, strict=True))
        mc2 = sum(x.mfrac * x.mean * wi for x, wi in zip(ins, w, strict=True))
        corr = sum(x.corr * x.mean * wi for x, wi in zip(ins, w, strict=True))
        channel = axis == (rank - 1 if env.channels_last else 0)
        return ins[0].like(q, mu=mu, mfrac=mc2 / qm if qm else 0.0, corr=corr / qm if qm else 0.0,
                           gauss=all(x.gauss for x in ins)), "E" if channel else "A"  # fmt: skip

    def sig_backward(self, g, ins, out, r, env):
        """[E] each input receives its slice of r."""
        return [env.fit(r, x.q.shape) for x in ins], "E"

    def flops(self, g):
        """0: elements are placed side by side."""
        return 0


class Shortcut(LayerType):
    """The shortcut of a residual block, in the three options of He et al. 2015, from C_in channels
    and stride s to `filters` channels:

    - A: identity; where the shape changes, strided subsampling (every s-th row and column) and
      zero-padded channels (filters − C_in new channels of zeros, split before and after). No parameters.
    - B: identity where nothing changes, else a projection: a 1×1 convolution with stride s (no bias
      unless `bias: true`, as Keras's ResNet50 conv shortcut has) and a batchnorm, as in torchvision's
      ResNet ("downsample").
    - C: always the projection.

    Output: (filters, ceil(H/s), ceil(W/s)). MACs of the projection: H_out·W_out·filters·C_in.
    """

    op = "shortcut"
    summary = "residual shortcut (He et al. 2015 options A, B, C)"
    counting = "projection: FLOPs 2 per MAC + 1 per bias add + 2 per element (batchnorm); identity: 0"
    counting_params = BatchNorm.counting_params
    parametric = takes_activation = True
    args = {
        "mode": Arg(Choice(("A", "B", "C")), "B", "A: identity + zero padding; B: projection where needed; C: always"),
        "filters": Arg(Int(1), None, "channels out (default: the input's)"),
        "stride": Arg(Int(1, window=True), 1, "subsampling of the rows and columns"),
        "batchnorm": Arg(Bool(), True, "a batchnorm after the projection"),
        "bias": Arg(Bool(), False, "a bias on the projection's 1×1 convolution (Keras's ResNet50 has one)"),
    }

    def resolve(self, a, shapes, ctx):
        """Option A cannot drop channels; the input is a feature map."""
        shape = shapes[0]
        if not ctx.need_rank(shape, 3, "a 2-D feature map"):
            return None
        c_in, ns = ctx.split(shape)
        filters = a["filters"] or c_in
        s = a["stride"]
        mode = a["mode"]
        if mode == "A":  # what the defaults satisfy is recorded for every size (netcalc sizes)
            ctx.condition("size", filters - c_in, "option A cannot drop channels: filters at least C_in", "filters")
        if mode == "A" and filters < c_in:
            ctx.error(
                "E207",
                f"option A pads channels with zeros, so it cannot go from {c_in} to {filters} channels; "
                "use mode B or C (a projection)",
                "filters",
            )
            return None
        project = mode == "C" or (mode == "B" and (filters != c_in or s != 1))
        outs = tuple(-(-n // s) for n in ns)
        return Geometry(c_in=c_in, c_out=filters, ns=ns, s=s, mode=mode, project=project, outs=outs,
                        bn=a["batchnorm"], bias=a["bias"], out_shape=ctx.join(filters, outs))  # fmt: skip

    def output_shape(self, g):
        """(filters, ceil(H/s), ceil(W/s))."""
        return g.out_shape

    def params(self, g, ctx):
        """None for A and identity; the projection's 1×1 weight (its bias, C_out, with `bias`) and its
        batchnorm otherwise."""
        if not g.project:
            return []
        keras = ctx.keras_counting
        weight = (1, 1, g.c_in, g.c_out) if keras else (g.c_out, g.c_in, 1, 1)
        tensors = [Tensor("conv/kernel" if keras else "0.weight", weight)]
        if g.bias:
            tensors.append(Tensor("conv/bias" if keras else "0.bias", (g.c_out,)))
        if g.bn:
            c = g.c_out
            if keras:
                tensors += [Tensor("bn/gamma", (c,)), Tensor("bn/beta", (c,)),
                            Tensor("bn/moving_mean", (c,), False), Tensor("bn/moving_variance", (c,), False)]  # fmt: skip
            else:
                tensors += [Tensor("1.weight", (c,)), Tensor("1.bias", (c,)),
                            Tensor("1.running_mean", (c,), False, "buffer"),
                            Tensor("1.running_var", (c,), False, "buffer")]  # fmt: skip
        return tensors

    def macs(self, g):
        """The projection's H_out·W_out·filters·C_in; 0 otherwise."""
        return prod(g.outs) * g.c_out * g.c_in if g.project else 0

    def flops(self, g):
        """2 per MAC, 1 per element for the bias and 2 per element for the batchnorm, when
        projecting; 0 otherwise."""
        if not g.project:
            return 0
        n = prod(g.outs) * g.c_out
        return 2 * self.macs(g) + (n if g.bias else 0) + (2 * n if g.bn else 0)

    def receptive(self, g, rf):
        """A 1×1 window with stride s: r unchanged, j *= s."""
        return None if rf is None else [(r, j * g.s) for r, j in rf]

    def reads(self, g):
        """Every s-th row and column, from the first (projection or option A alike)."""
        from .window import read_positions

        got = [read_positions(n, 1, g.s, 1, 0, out) for n, out in zip(g.ns, g.outs, strict=True)]
        return None if None in got else got

    def sig_forward(self, g, ins, env):
        """Option A [E]: every s-th row and column, and zero channels dilute q by C_in/C_out; one
        element's distribution is kept (with the zero channels: a mixture, weight C_in/C_out on the
        input's, the rest at 0), so that a relu after the next add sees it, not a Gaussian.
        Projection: a 1×1 conv with the framework's default init [E] (q·C_in·Var(w), + E[b²] with
        `bias`), then batchnorm in training mode (q → E[v/(v + ε)], v the batch variance of a channel's
        m = B·H_out·W_out Gaussian values, `norm_batch.batch_stats`, Var itself with no batch given: the
        batch mean removes the bias) [E] (frozen under Keras: inference mode, q/(1 + ε) [E]:
        norm.bn_inference); ε the framework's (`norm.bn_eps`: Keras 1e-3, PyTorch 1e-5)."""
        import numpy as np

        x = ins[0]
        sub = env.fit(x.q, g.ns)[:: g.s, :: g.s]
        if not g.project:
            ratio = g.c_in / g.c_out
            if ratio == 1:
                return x.like(sub, pre=x.pre, samples=x.samples), "E"
            from ..signal_rules import quantiles

            v, w = quantiles(x)
            samples = (np.concatenate([v, [0.0]]), np.concatenate([w * ratio, [1 - ratio]]))
            return x.like(sub * ratio, mu=x.mu * ratio, mfrac=x.mfrac, corr=x.corr, samples=samples), "E"
        kt = env.tensor("kernel", "weight")
        _, wv = env.init("", "kernel", kt.shape)
        q = wv * g.c_in * sub
        bm = 0.0
        if g.bias:  # PyTorch's default: uniform ±1/√fan_in; Keras's zeros
            bm, bv = env.init("", "bias", kt.shape)
            q = q + bv + bm * bm
        env.info.wv = wv
        eps = bn_eps(env.keras)  # the framework's own: the shortcut's batchnorm takes no eps
        if g.bn and bn_inference(env):  # frozen under Keras: the moving statistics, 0 and 1 [E]
            env.info.bn_var = 1.0 + eps
            return x.like(q / env.info.bn_var, mu=0.0, gauss=True), "E"
        if g.bn:  # batchnorm's rule (norm.BatchNorm): the batch variance of m = B·positions Gaussian values
            from .norm_batch import batch_stats

            var = max(float(q.mean()) * (1 - x.mfrac), 1e-300)
            m = env.batch * prod(g.outs) if env.batch else None
            scale, gain, proj = (float(f) for f in batch_stats(var, eps, m))
            env.info.bn_var = 1.0 / gain  # E[1/(v + ε)] = 1/bn_var
            env.info.bn_proj = proj / gain / m if m else None  # the normalised input's share (bn_keep)
            q = q / float(q.mean()) * scale
            return x.like(np.asarray(q), mu=0.0, mfrac=0.0, gauss=True), "E"
        return x.like(q, mu=bm, gauss=True), "E"

    def sig_backward(self, g, ins, out, r, env):
        """The gradient returns to the rows and columns that were read [E]; through the projection
        Var(w)·C_out·r (divided by the batchnorm's variance) [A]. Option A with zero channels, where r
        depends on the value (a profile h over the atoms, see signal._backward): the input's channels
        receive the part of r on their own atoms, r·E[h over the input's atoms] [MF]. The batchnorm's
        backward is batchnorm's (norm.BatchNorm.sig_backward): r·E[1/(v + ε)], less the batch mean's
        gmean/B and the normalised input's ≈ 1/m with a finite batch (`bn_keep`)."""
        import numpy as np

        r = env.fit(r, g.outs)
        back = np.zeros(g.ns)
        if not g.project:
            h = env.info.rprof
            if h is not None and g.c_out != g.c_in:
                from ..signal_rules import quantiles

                v, w = quantiles(ins[0])
                if len(h) == len(v) + 1:  # the input's atoms, then the zero channels' atom
                    real = float((w * h[: len(v)]).sum())
                    if real > 0:
                        env.info.rprof_in = [h[: len(v)] / real]
                        back[:: g.s, :: g.s] = r * real
                        return [back], "MF"
            elif h is not None:
                env.info.rprof_in = [h]
            back[:: g.s, :: g.s] = r
            return [back], "E"
        scale = env.info.wv * g.c_out / (env.info.bn_var if env.info.bn_var is not None else 1.0)
        if g.bn and not bn_inference(env):
            scale *= bn_keep(env)
        back[:: g.s, :: g.s] = r * scale
        return [back], "MF"

    def weight_shape(self, g, tensors):
        if g.project:
            return (
                f"{g.mode}: 1×1 conv /{g.s}, {g.c_in}→{g.c_out}"
                if g.s != 1
                else f"{g.mode}: 1×1 conv, {g.c_in}→{g.c_out}"
            )
        if g.s == 1 and g.c_out == g.c_in:
            return f"{g.mode}: identity"
        pad = g.c_out - g.c_in
        return f"A: ::{g.s}, +{pad} zero channels" if g.s != 1 else f"A: +{pad} zero channels"

    def explain(self, g, ctx):
        """What the shortcut does with the numbers in it, and which positions it reads."""
        from .conv import skipped_lines

        lines = []
        if g.project:
            lines.append(
                f"option {g.mode}: projection, a 1×1 convolution with stride {g.s}: {g.c_out} × {g.c_in} × 1 × 1 = "
                f"{g.c_out * g.c_in:,} weights"
                + (f" + {g.c_out} biases" if g.bias else "")
                + (f", then a batchnorm ({2 * g.c_out} parameters)" if g.bn else "")
            )
            lines.append(f"MACs: {' × '.join(map(str, g.outs))} positions × {g.c_out} × {g.c_in} = {self.macs(g):,}")
        elif g.s == 1 and g.c_out == g.c_in:
            lines.append(f"option {g.mode}: identity, the input is added unchanged (no parameters)")
        else:
            pad = g.c_out - g.c_in
            lines.append(
                f"option A: keeps one row and one column in {g.s}, {' × '.join(map(str, g.ns))} → "
                f"{' × '.join(map(str, g.outs))}, and adds {pad} channels of zeros ({pad // 2} before, "
                f"{pad - pad // 2} after): {g.c_in} → {g.c_out} channels, no parameters"
            )
        if g.s > 1:
            lines += skipped_lines(g.ns, (1, 1), (g.s, g.s), (1, 1), [(0, 0), (0, 0)], g.outs, ("height", "width"))
        return lines


def merge_types() -> list[LayerType]:
    return [
        Elementwise(
            "add",
            "elementwise sum (residual connections)",
            "sum",
            "a residual sum adds the branches' second moments (×2 per unnormalised block)",
        ),
        Elementwise("multiply", "elementwise product (gating)", "product", "a product multiplies second moments"),
        Concat(),
        Shortcut(),
    ]
