"""A free parameter: a learned tensor outside any layer, a source that reads nothing."""

from __future__ import annotations

from math import prod

from ..initializers import Init, InitSpec
from ..kinds import Arg, Shape
from .base import Geometry, LayerType, Tensor, fmt_shape


class Parameter(LayerType):
    """A learned tensor of a given `shape` that later layers read with `in:` (add, multiply, concat):
    what PyTorch users write as `nn.Parameter` in a module's __init__ and use in forward (a learned
    class token, a position table, a LayerScale γ), and Keras users as `self.add_weight` in a
    layer's build. It reads no tensor (`in:` is refused) and is the same for every sample: its
    shape excludes the batch axis, as every netcalc shape does (timm's torch.zeros(1, 197, 768) is
    `shape: [197, 768]`), and a merge broadcasts it over the batch (torchvision's
    class_token.expand(n, -1, -1) before torch.cat). Within a merge it broadcasts as any input does:
    same rank, sizes equal or 1 ([1, 768] against 197×768; a γ of [C, 1, 1] against C×H×W).

    One tensor, named after the node (PyTorch: the state_dict key of the attribute, `class_token`;
    Keras: the `name=` of add_weight), of `shape`, trainable unless `trainable: false` (PyTorch
    requires_grad=False). Initialised by `init` (PyTorch has no default, nn.Parameter takes the
    tensor written: netcalc's is zeros, torch.zeros; Keras add_weight's default glorot_uniform).

    MACs 0 and FLOPs 0: it computes nothing (its readers count their own). Its output is its own
    tensor, held once with the parameters: no activation memory (the Totals' `arity == 0` rule).
    """

    op = "parameter"
    summary = "a learned tensor outside any layer (nn.Parameter, add_weight)"
    counting = "MACs 0, FLOPs 0 (a source: nothing is computed)"
    arity = 0
    parametric = True
    args = {
        "shape": Arg(Shape(), doc="the tensor's shape without the batch axis (the same tensor for every sample)"),
        "init": Arg(Init(), InitSpec("default"), "initialiser (default: PyTorch zeros, Keras glorot_uniform)"),
    }

    def resolve(self, a, shapes, ctx):
        """No input: the shape is the one written."""
        return Geometry(shape=tuple(a["shape"]))

    def params(self, g, ctx):
        """One trainable tensor of the written shape, named by `own_tensors` after the node (the
        memo gives one node's tensors to its identical repetitions): the same in both conventions."""
        return [Tensor("", g.shape)]

    def own_tensors(self, tensors, node):
        """The tensor named after the node (or, with `shares:`, the owner whose tensor it reads)."""
        name = node.shares or node.name
        return [Tensor(name, t.shape, t.trainable, t.kind) for t in tensors]

    def macs(self, g):
        """0: nothing is multiplied."""
        return 0

    def flops(self, g):
        """0: the tensor is read, nothing computed (a merge reading it counts its own)."""
        return 0

    def receptive(self, g, rf):
        """None: it reads no position of any input."""
        return None

    def explain(self, g, ctx):
        """The tensor, how each framework writes it, its initialiser and its counts."""
        name = ctx.node.shares or ctx.node.name
        dims = ", ".join(map(str, g.shape))
        spec = ctx.node.args.get("init")
        init = (
            spec.describe()
            if spec is not None and spec.name != "default"
            else ("glorot_uniform (add_weight's default)" if ctx.keras else "zeros (netcalc's default: torch.zeros)")
        )
        n = prod(g.shape)
        return [
            f"a learned tensor {fmt_shape(g.shape)} = {n:,} parameter{'s' if n != 1 else ''}, the same for "
            "every sample (broadcast over the batch by what reads it)",
            f"PyTorch: nn.Parameter(torch.empty({dims})) set in a module's __init__ (state_dict key "
            f"'{name}'); Keras: self.add_weight(name='{name}', shape=({dims}{',' * (len(g.shape) == 1)})) in build",
            f"initialised by {init}",
            "MACs 0, FLOPs 0: it reads nothing and computes nothing (a merge reading it counts its own)",
        ]

    def _moments(self, g, env) -> tuple[float, float]:
        """(mean, variance) of one element under the node's initialiser (the framework's default
        when none is written: PyTorch zeros, Keras glorot_uniform)."""
        from .. import initializers as inits

        spec = env.row.node.args.get("init") or InitSpec("default")
        if spec.name == "default":
            spec = inits.default_for("parameter", env.convention, g.shape)
        return inits.moments(spec, g.shape, env.keras)

    def sig_forward(self, g, ins, env):
        """[E] from its initialiser, each element drawn independently with mean m and variance v
        (zeros: 0, 0; ones: 1, 0; normal(std): 0, std²): q = m² + v at every position, μ = m; the
        same tensor for every sample, so a channel's mean over the batch and its P positions is the
        mean of its P draws, E = m² + v/P (mfrac = (m² + v/P)/q: 1 for a vector, whose every
        element is a channel's constant); neighbours are independent draws, E[x_p·x_p'] = m²
        (corr = m²/q). A constant's one atom is its value; a normal draw is Gaussian."""
        import numpy as np

        from ..signal_rules import Sig

        m, v = self._moments(g, env)
        pos = env.positions(g.shape)
        q = m * m + v
        if q <= 0:
            return Sig(np.zeros(pos), 0.0, samples=(np.zeros(1), np.ones(1))), "E"
        spec = env.row.node.args.get("init")
        constant = v == 0
        positions = prod(pos) if pos else 1
        samples = (np.array([m]), np.ones(1)) if constant else None
        gauss = spec is not None and spec.name == "normal"
        return Sig(np.full(pos, q), m, (m * m + v / positions) / q, m * m / q, gauss=gauss, samples=samples), "E"

    def sig_backward(self, g, ins, out, r, env):
        """[E] no input to send a gradient to: none. The tensor's own gradient is the sum over the
        batch of the gradient arriving at its output (every sample reads the same tensor): B·r in
        second moment for gradients independent across the B samples [A], and every use's added."""
        return [], "E"
