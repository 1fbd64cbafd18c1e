"""Pooling: max and average over windows (1-D, 2-D, 3-D), and global average and max pooling."""

from __future__ import annotations

from math import prod

from ..kinds import Arg, Bool, IntTuple, Padding
from .base import AXIS_NAMES, Geometry, ParameterFree, fmt_shape
from .conv import resolve_padding
from .window import rf_window, window_outs


class Pool(ParameterFree):
    """Max or average pooling over a window on `nd` spatial axes; channels unchanged.

    Output size per axis: floor((n + 2p − d(k − 1) − 1)/s) + 1 (the ceiling with ceil_mode,
    dropping a last window that would start in the right padding, as PyTorch does). The stride
    defaults to the kernel. 'same' padding follows Keras (output ceil(n/s)); PyTorch takes numbers
    only, at most half the kernel (kernel // 2, the undilated kernel size, even with dilation), and
    its AvgPool3d an input at least the kernel on every axis (the padding not counted).

    A max pool with return_indices also gives NAME.indices (PyTorch's return_indices=True): for
    every output, where its maximum is in its channel of the input, flattened over the input's
    spatial axes (h·W + w in 2-D), what a max unpool (maxunpool2d) reads to put the values back.
    """

    def __init__(self, kind: str, nd: int) -> None:
        self.kind, self.nd = kind, nd
        self.op = f"{kind}pool{nd}d"
        if kind == "max":
            self.counting = "FLOPs k − 1 per output (k taps)"
            self.growth_reason = "the max of a window is biased upward"
        else:
            self.counting = "FLOPs k per output (k taps)"
            self.averages = True
        self.summary = f"{nd}-D {'max' if kind == 'max' else 'average'} pooling"
        self.args = {
            "kernel": Arg(IntTuple(nd), doc="window size per axis"),
            "stride": Arg(IntTuple(nd), None, "step per axis (default: the kernel)"),
            "padding": Arg(Padding(nd), ((0, 0),) * nd, "'valid', 'same' (Keras) or zeros added per side"),
            "ceil_mode": Arg(Bool(), False, "take the ceiling of the size formula (PyTorch ceil_mode)"),
        }
        if kind == "max":
            self.args["dilation"] = Arg(IntTuple(nd), (1,) * nd, "spacing between window taps (PyTorch)")
            self.args["return_indices"] = Arg(
                Bool(),
                False,
                "also output NAME.indices: where each maximum is in its channel, flattened over the spatial "
                "axes (PyTorch return_indices=True), for a max unpool",
            )
        # PyTorch's AvgPool3d (not AvgPool1d/2d, not the max pools) refuses an input smaller than the
        # kernel on any axis, the padding not counted ("input image smaller than kernel size")
        self.pytorch_input_at_least_kernel = kind == "avg" and nd == 3

    def resolve(self, a, shapes, ctx):
        """Check the rank and PyTorch's limits (padding ≤ kernel // 2; AvgPool3d: input ≥ kernel); compute the
        output size per axis."""
        shape = shapes[0]
        if not ctx.need_rank(shape, self.nd + 1, f"a {self.nd}-D feature map"):
            return None
        c, ns = ctx.split(shape)
        ks = a["kernel"]
        ss = a["stride"] or ks
        ds = a.get("dilation", (1,) * self.nd)
        if a["padding"] == "same" and not ctx.keras:
            ctx.error(
                "E204", "PyTorch pooling takes no padding 'same'; give numbers or use convention: keras", "padding"
            )
            return None
        pads = resolve_padding(a["padding"], ns, ks, ss, ds, ctx)
        if not ctx.keras:
            for (pb, _), k in zip(pads, ks, strict=True):
                # PyTorch checks kernel_size // 2 >= padding on the kernel itself, not the dilated window
                if pb > k // 2:
                    ctx.error(
                        "E204",
                        f"padding {pb} is more than half the kernel {k} (PyTorch refuses it)",
                        "padding",
                    )
                    return None
        if not ctx.keras and self.pytorch_input_at_least_kernel:
            for n, k, axis in zip(ns, ks, AXIS_NAMES[self.nd], strict=True):
                ctx.condition("size", n - k, f"{axis} at least the kernel {k} (PyTorch's AvgPool{self.nd}d)", "kernel")
                if n < k:
                    ctx.error(
                        "E204",
                        f"the {axis} {n} is smaller than the kernel {k}: PyTorch's AvgPool{self.nd}d refuses an input "
                        "smaller than its kernel on any axis, whatever the padding",
                        "kernel",
                    )
                    return None
        outs = window_outs(ns, ks, ss, ds, pads, a["ceil_mode"], ctx, "kernel")
        if outs is None:
            return None
        outs = tuple(outs)
        return Geometry(c=c, ns=ns, ks=ks, ss=ss, ds=ds, pads=pads, outs=outs, out_shape=ctx.join(c, outs),
                        indices=bool(a.get("return_indices")), in_shape=shape)  # fmt: skip

    def output_shape(self, g):
        """(C, *out) in the spec's layout."""
        return g.out_shape

    def state_names(self, a: dict, keras: bool) -> list[str]:
        """'indices' with return_indices (a max pool's)."""
        return ["indices"] if a.get("return_indices") else []

    def extra_outputs(self, g) -> dict:
        """With return_indices: NAME.indices, one index per output, of the output's shape."""
        return {"indices": g.out_shape} if g.indices else {}

    def index_spaces(self, g) -> dict:
        """The indices are positions in the pool's input (its shape)."""
        return {"indices": g.in_shape} if g.indices else {}

    def _inside(self, g, env):
        """Per output position: how many taps fall on the real input (not on padding)."""
        import numpy as np

        return env.window_sum(np.ones(g.ns), g.ks, g.ss, g.ds, g.pads, g.outs)

    def sig_forward(self, g, ins, env):
        """Average: E[avg²] = (Σ q_i + ρ̄·Σ_{i≠j} √(q_i q_j))/m² over the window (m = the divisor:
        PyTorch counts padding, Keras does not), ρ̄ the mean correlation of two taps: "divide by m"
        only when ρ̄ = 0; after ReLU → conv, ρ̄ ≈ 1/π and a 2×2 pool keeps 0.49·q, not 0.25·q.
        Max: E[max²] of k equicorrelated Gaussians, σ²[ρ̄ + (1 − ρ̄)·m₂(k)] for zero means, through
        the activation before it when there is one (max commutes with monotone φ: relu(max)), by
        quadrature; through a batchnorm of it (a·t + b with a > 0: max = a·max(t) + b, `Sig.affine`), per
        channel where the activation's channels have their own means (`norm_channels.channel_max`). [A]: ρ̄
        from the neighbours' correlation decaying as ρ^distance; equicorrelation."""
        import math

        import numpy as np

        from ..signal_rules import stride_corr, window_corr

        x = ins[0]
        qmap = env.fit(x.q, g.ns)
        inside = self._inside(g, env)
        stride = sum(g.ss) / len(g.ss)
        corr_out = stride_corr(x.corr, x.mfrac, stride)
        if self.kind == "avg":
            rho = window_corr(x.corr, x.mfrac, g.ks, g.ds)
            s1 = env.window_sum(qmap, g.ks, g.ss, g.ds, g.pads, g.outs)
            s2 = env.window_sum(np.sqrt(qmap), g.ks, g.ss, g.ds, g.pads, g.outs)
            m = inside if env.keras else np.full(g.outs, float(prod(g.ks)))
            env.info.divisor = m
            q = (s1 + rho * (s2 * s2 - s1)) / (m * m)
            frac = float((inside / m).mean())
            qm = float(q.mean())
            mc2 = x.mfrac * x.mean * frac * frac
            mfrac = min(mc2 / qm, 1.0) if qm > 0 else 0.0
            return x.like(q, mu=x.mu * frac, mfrac=mfrac, corr=max(corr_out, mfrac), gauss=x.gauss), "A"
        k = int(prod(g.ks))
        mom = env.moments
        dphi = None
        scale, shift, normed, channels = 1.0, 0.0, x, None
        if x.affine is not None and x.affine[2].pre is not None:  # a·t + b (batchnorm): max(t), mapped
            scale, shift, x, channels = x.affine
        if x.pre is not None and x.pre[0] not in ("gelu", "softmax"):
            op, args, z = x.pre
            phi, dphi = mom.function(op, args)
            base = z
        else:
            phi, base = (lambda v: v), x
        mu = base.mu
        var = max(base.mean - mu * mu, 0.0)
        wc = window_corr(base.corr, base.mfrac, g.ks, g.ds)
        rho = (wc * base.mean - mu * mu) / var if var > 0 else 1.0
        within = 1 - base.mfrac
        rho_w = min(max((wc - base.mfrac) / within, 0.0), 1.0) if within > 0 else 1.0
        e1, e2 = mom.max_moments(phi, k, mu, math.sqrt(var), rho)
        e1, e2 = scale * e1 + shift, scale * scale * e2 + 2 * scale * shift * e1 + shift * shift
        mc2 = e1 * e1
        if channels is not None and dphi is not None:  # channels of their own means, each normalised by its own
            from .norm_channels import channel_max

            e1, e2, mc2 = channel_max(channels, k, rho_w)
        act, x = x, normed
        ratio = e2 / x.mean if x.mean > 0 else 1.0
        if dphi is not None:  # backward: the gradient lands on each window's maximum
            _, at_max = mom.max_moments(dphi, k, mu, math.sqrt(var), rho)
            _, _, everywhere = mom.activation_moments(act.pre[0], act.pre[1], mu, base.mean)
            env.info.argmax_factor = at_max / float(everywhere) if float(everywhere) > 0 else 1.0
            # for a batchnorm between that works the factor out per channel: the taps' correlation
            # within a channel, the channels' own means (mfrac of E[z²]) taken out of the window's
            env.info.max_window = (k, rho_w)
        env.info.max_ratio = ratio
        q = ratio * env.window_sum(qmap, g.ks, g.ss, g.ds, g.pads, g.outs) / np.maximum(inside, 1)
        qm = float(q.mean())
        mfrac = min(max(mc2 / qm, x.mfrac), 1.0) if qm > 0 else 0.0
        if g.indices:  # positions, not values: no signal (a max unpool reads them to place its input)
            env.info.extra = {"indices": x.like(np.zeros(g.outs), mu=0.0, mfrac=0.0, corr=0.0, gauss=False)}
        return x.like(q, mu=e1, mfrac=mfrac, corr=max(corr_out, mfrac), gauss=False), "A"

    def sig_backward(self, g, ins, out, r, env):
        """Average: each covering window sends r/m² [E given independent output gradients];
        max: each window's gradient goes to one of its taps, r/(taps inside) on average [A]. It lands
        where the activation before the pool took the window's maximum, so φ' there is φ'(max), not
        φ'(x): that activation's backward uses E[φ'(max)²] (`argmax_factor`; about 1, not ½, for a ReLU),
        also through a batchnorm between them (its `keeps_order`), not through a weighted layer. The
        window (`max_window`: k taps and their correlation within a channel) goes with the factor, for
        a batchnorm of channels with their own means to work it out per channel (BatchNorm.sig_backward)."""
        import numpy as np

        r = env.fit(r, g.outs)
        gmean = env.info.gmean
        if self.kind == "avg":
            m = env.info.divisor
            back = env.window_scatter(r / (m * m), g.ks, g.ss, g.ds, g.pads, g.ns)
            cover = float(np.mean(env.window_scatter(1 / m, g.ks, g.ss, g.ds, g.pads, g.ns)))
            env.info.gmean_in = [
                min(gmean * cover * cover * float(np.mean(r)) / max(float(np.mean(back)), 1e-300), 1.0)
            ]
            return [back], "A"
        inside = self._inside(g, env)
        back = env.window_scatter(r / inside, g.ks, g.ss, g.ds, g.pads, g.ns)
        ratio = prod(g.outs) / prod(g.ns)
        env.info.gmean_in = [min(gmean * ratio * ratio * float(np.mean(r)) / max(float(np.mean(back)), 1e-300), 1.0)]
        return [back], "A"

    def flops(self, g):
        """Per output element: max, k − 1 comparisons; average, k − 1 adds and 1 divide = k."""
        window = prod(g.ks)
        per = window - 1 if self.kind == "max" else window
        return prod(g.outs) * g.c * per

    def receptive(self, g, rf):
        """r += d(k − 1)·j and j *= s on each axis."""
        return rf_window(rf, g.ks, g.ss, g.ds)

    def weight_shape(self, g, tensors):
        return "×".join(map(str, g.ks)) + " window"

    def explain(self, g, ctx):
        """Each output size with the numbers in it; what a stride larger than the window skips."""
        from .conv import size_line, skipped_lines

        pads = g.pads
        lines = [size_line(n, k, s, p, d, out, axis)
                 for n, k, s, p, d, out, axis in zip(g.ns, g.ks, g.ss, pads, g.ds, g.outs, AXIS_NAMES[self.nd], strict=True)]  # fmt: skip
        lines += skipped_lines(g.ns, g.ks, g.ss, g.ds, pads, g.outs, AXIS_NAMES[self.nd])
        if g.indices:
            axes = "·".join(a[0].upper() for a in AXIS_NAMES[self.nd])
            lines.append(
                f"indices: {ctx.node.name}.indices, {fmt_shape(g.out_shape)}: where each maximum is in its channel "
                f"of the {fmt_shape(g.ns)} input, flattened over {axes} = {prod(g.ns):,} positions (PyTorch's "
                "return_indices=True; Keras's MaxPooling has none: tf.nn.max_pool_with_argmax, which also "
                "counts the channels and the batch)"
            )
        return lines


class GlobalPool(ParameterFree):
    """Global average or max pooling: one value per channel over all spatial positions.

    Output (C): Keras GlobalAveragePooling1D/2D/3D (GlobalMaxPooling…) as they are, PyTorch
    AdaptiveAvgPool{1,2,3}d(1) (AdaptiveMaxPool…) followed by a flatten; with keepdims, (C, 1, …),
    one 1 per spatial axis in the layout ((1, 1, 1, C) channels last in 3-D): PyTorch's adaptive pool
    alone, Keras's layer with keepdims=True. Parameters: none — which is why it replaces a flatten +
    dense head.
    """

    def __init__(self, kind: str, nd: int) -> None:
        self.kind, self.nd = kind, nd
        self.op = f"global_{kind}pool{nd}d"
        if kind == "max":
            self.counting = "FLOPs n − 1 per channel (n positions)"
            self.growth_reason = "the max over the map is biased upward"
        else:
            self.counting = "FLOPs n per channel (n positions)"
            self.averages = True
        self.summary = f"global {'max' if kind == 'max' else 'average'} pooling over {nd}-D maps"
        self.args = {"keepdims": Arg(Bool(), False, "keep the spatial axes as size 1")}

    def resolve(self, a, shapes, ctx):
        """Check the rank."""
        shape = shapes[0]
        if not ctx.need_rank(shape, self.nd + 1, f"a {self.nd}-D feature map"):
            return None
        c, ns = ctx.split(shape)
        out_shape = ctx.join(c, (1,) * self.nd) if a["keepdims"] else (c,)
        return Geometry(c=c, ns=ns, keepdims=a["keepdims"], out_shape=out_shape)

    def output_shape(self, g):
        """(C), or (C, 1, …) with keepdims."""
        return g.out_shape

    def sig_forward(self, g, ins, env):
        """Average over N positions: E[GAP²] ≈ ρ_∞·q + (1 − ρ_∞)·q/N with ρ_∞ the part of q that is the
        channels' own means (distant positions share only that): about q/π for ReLU-fed convs [A].
        Max over N positions: E[max²] of N Gaussians correlated by that same ρ_∞ [A]."""
        import math

        import numpy as np

        x = ins[0]
        n = prod(g.ns)
        qm, mc2 = x.mean, x.mfrac * x.mean
        pos = env.positions(self.output_shape(g))
        if self.kind == "avg":
            q = mc2 + (qm - mc2) / n
            return x.like(np.full(pos, q), mfrac=mc2 / q if q > 0 else 0.0, corr=0.0), "A"
        mu = x.mu
        var = max(qm - mu * mu, 0.0)
        rho = (mc2 - mu * mu) / var if var > 0 else 1.0
        if x.pre is not None and x.pre[0] not in ("gelu", "softmax"):
            op, args, z = x.pre
            phi, _ = env.moments.function(op, args)
            zv = max(z.mean - z.mu**2, 0.0)
            zr = (z.mfrac * z.mean - z.mu**2) / zv if zv > 0 else 1.0
            e1, e2 = env.moments.max_moments(phi, n, z.mu, math.sqrt(zv), zr)
            _, dphi = env.moments.function(op, args)
            _, at_max = env.moments.max_moments(dphi, n, z.mu, math.sqrt(zv), zr)
            everywhere = float(env.moments.activation_moments(op, args, z.mu, z.mean)[2])
            env.info.argmax_factor = at_max / everywhere if everywhere > 0 else 1.0
            env.info.max_window = (n, 0.0)  # within a channel, distant positions share nothing
        else:
            e1, e2 = env.moments.max_moments(lambda v: v, n, mu, math.sqrt(var), rho)
        return x.like(np.full(pos, e2), mu=e1, mfrac=min(e1 * e1 / e2, 1.0) if e2 > 0 else 0.0, corr=0.0), "A"

    def sig_backward(self, g, ins, out, r, env):
        """Average: r/N² at every position [E]; max: r/N on average (one position takes it), with the
        activation's slope at the maximum (see the max pool) [A]."""
        import numpy as np

        n = prod(g.ns)
        rm = float(np.mean(r))
        env.info.gmean_in = [1.0]  # the same gradient at every position of a sample's channel
        if self.kind == "avg":
            return [np.full(g.ns, rm / (n * n))], "E"
        return [np.full(g.ns, rm / n)], "A"

    def flops(self, g):
        """Per channel: average, H·W − 1 adds and 1 divide = H·W; max, H·W − 1 comparisons."""
        per = prod(g.ns) - (1 if self.kind == "max" else 0)
        return g.c * per

    def receptive(self, g, rf):
        """The window is the whole map: r += (n − 1)·j."""
        return rf_window(rf, g.ns, (1,) * self.nd, (1,) * self.nd)

    def explain(self, g, ctx):
        """The positions pooled and what they cost, and the output shape as each framework builds it."""
        avg = self.kind == "avg"
        n = prod(g.ns)
        per = f"{n:,} − 1 = {n - 1:,} comparisons" if not avg else f"{n - 1:,} adds and 1 divide = {n:,}"
        positions = " × ".join(map(str, g.ns))
        lines = [
            f"{'averages' if avg else 'takes the largest of'} each of the {g.c} channels' {positions} = {n:,} values "
            f"{'into' if avg else 'as'} one number: {g.c} numbers out, and no parameters (nothing here is learnt)",
            f"one {'mean' if avg else 'maximum'} per channel over {positions} = {n:,} positions: {per} per channel, "
            f"× {g.c} channels = {self.flops(g):,} FLOPs",
        ]
        torch_pool = f"nn.Adaptive{'Avg' if avg else 'Max'}Pool{self.nd}d(1)"
        keras_pool = f"layers.Global{'Average' if avg else 'Max'}Pooling{self.nd}D"
        ones = ", ".join(["1"] * self.nd)
        if g.keepdims:
            lines.append(
                f"output {fmt_shape(g.out_shape)} (keepdims): PyTorch's {torch_pool} as it is, "
                f"Keras's {keras_pool}(keepdims=True)"
            )
        else:
            lines.append(
                f"output {g.c}: PyTorch's {torch_pool} gives ({g.c}, {ones}), then flattened; "
                f"Keras's {keras_pool} gives ({g.c}) directly"
            )
        return lines + self._after(g, ctx, avg, n, positions)

    def _after(self, g, ctx, avg: bool, n: int, positions: str) -> list[str]:
        """What the dense layers reading it then cost, against the flattened map (dense.head_costs, as
        W404 states it), and what the other global pool or a 1×1 convolution to one channel would
        change in its place: the shape, the parameters, the weights of the dense after it."""
        from .dense import head_costs

        dense = [r for r in getattr(ctx, "readers", ()) if r.ltype.linear == "dense" and r.g.n_in == g.c]
        costs = [(r.node.name, head_costs(g.c, n, r.g.units)) for r in dense]
        lines = [
            f"{name} (dense, {cost.units:,} units) after it takes {g.c} × {cost.units:,} = {cost.pooled:,} weights; "
            f"fed the flattened map ({positions} × {g.c} = {cost.flat_inputs:,} numbers) it would take "
            f"{cost.flat_inputs:,} × {cost.units:,} = {cost.flattened:,}, {cost.positions:,}× more"
            for name, cost in costs
        ]
        name, cost = costs[0] if costs else (None, None)
        other = GlobalPool("max" if avg else "avg", self.nd)
        lines.append(
            f"instead, global {'max' if avg else 'average'} pooling keeps each channel's "
            f"{'largest value' if avg else 'mean'} rather than its {'mean' if avg else 'largest value'}: the same "
            f"{g.c} outputs"
            + (f" and {name} keeps its {cost.pooled:,} weights" if cost else "")
            + f"; {other.flops(g):,} FLOPs"
        )
        lines.append(
            f"instead, a 1×1 convolution to one channel mixes the {g.c} channels into one number at each position: "
            f"{g.c} weights + 1 bias = {g.c + 1} parameters, output {positions} positions × 1 channel = {n:,} "
            "numbers (the positions kept, the channels merged: the reverse of this layer)"
            + (f"; {name} would then take {n:,} × {cost.units:,} = {cost.per_position:,} weights" if cost else "")
        )
        return lines
