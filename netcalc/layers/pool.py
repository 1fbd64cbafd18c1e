"""Pooling: max and average over windows (1-D, 2-D), and global average and max pooling."""

from __future__ import annotations

from math import prod

from ..schema import Arg, Bool, IntTuple, Padding
from .base import AXIS_NAMES, Geometry, LayerType, rf_window, window_outs
from .conv import resolve_padding


class Pool(LayerType):
    """Max or average pooling over a window on `nd` spatial axes; channels unchanged.

    Output size per axis: floor((n + 2p − d(k − 1) − 1)/s) + 1 (the ceiling with ceil_mode,
    dropping a last window that would start in the right padding, as PyTorch does). The stride
    defaults to the kernel. 'same' padding follows Keras (output ceil(n/s)); PyTorch takes numbers
    only, at most half the kernel (kernel // 2, the undilated kernel size, even with dilation).
    """

    category = "pool"

    def __init__(self, kind: str, nd: int) -> None:
        self.kind, self.nd = kind, nd
        self.op = f"{kind}pool{nd}d"
        self.summary = f"{nd}-D {'max' if kind == 'max' else 'average'} pooling"
        self.args = {
            "kernel": Arg(IntTuple(nd), doc="window size per axis"),
            "stride": Arg(IntTuple(nd), None, "step per axis (default: the kernel)"),
            "padding": Arg(Padding(nd), ((0, 0),) * nd, "'valid', 'same' (Keras) or zeros added per side"),
            "ceil_mode": Arg(Bool(), False, "take the ceiling of the size formula (PyTorch ceil_mode)"),
        }
        if kind == "max":
            self.args["dilation"] = Arg(IntTuple(nd), (1,) * nd, "spacing between window taps (PyTorch)")

    def resolve(self, a, shapes, ctx):
        """Check the rank and PyTorch's padding limit (padding ≤ kernel // 2); compute the output size per axis."""
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
        outs = window_outs(ns, ks, ss, ds, pads, a["ceil_mode"], ctx, "kernel")
        if outs is None:
            return None
        return Geometry(c=c, ns=ns, ks=ks, ss=ss, ds=ds, pads=pads, outs=tuple(outs), ctx=ctx)

    def output_shape(self, g):
        """(C, *out) in the spec's layout."""
        return g.ctx.join(g.c, g.outs)

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
        return lines + skipped_lines(g.ns, g.ks, g.ss, g.ds, pads, g.outs, AXIS_NAMES[self.nd])


class GlobalPool(LayerType):
    """Global average or max pooling: one value per channel over all spatial positions.

    Output (C) (Keras GlobalAveragePooling); with keepdims, (C, 1, …) in the layout (PyTorch's
    AdaptiveAvgPool2d(1)). Parameters: none — which is why it replaces a flatten + dense head.
    """

    category = "pool"

    def __init__(self, kind: str, nd: int) -> None:
        self.kind, self.nd = kind, nd
        self.op = f"global_{kind}pool{nd}d"
        self.summary = f"global {'max' if kind == 'max' else 'average'} pooling over {nd}-D maps"
        self.args = {"keepdims": Arg(Bool(), False, "keep the spatial axes as size 1")}

    def resolve(self, a, shapes, ctx):
        """Check the rank."""
        shape = shapes[0]
        if not ctx.need_rank(shape, self.nd + 1, f"a {self.nd}-D feature map"):
            return None
        c, ns = ctx.split(shape)
        return Geometry(c=c, ns=ns, keepdims=a["keepdims"], ctx=ctx)

    def output_shape(self, g):
        """(C), or (C, 1, …) with keepdims."""
        return g.ctx.join(g.c, (1,) * self.nd) if g.keepdims else (g.c,)

    def flops(self, g):
        """Per channel: average, H·W − 1 adds and 1 divide = H·W; max, H·W − 1 comparisons."""
        per = prod(g.ns) - (1 if self.kind == "max" else 0)
        return g.c * per

    def receptive(self, g, rf):
        """The window is the whole map: r += (n − 1)·j."""
        return rf_window(rf, g.ns, (1,) * self.nd, (1,) * self.nd)
