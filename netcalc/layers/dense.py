"""Dense (fully connected, PyTorch Linear) on the last axis of an input of any rank."""

from __future__ import annotations

from math import prod

from ..kinds import Arg, Bool, Int
from .base import Geometry, LayerType, Tensor, Tie
from .conv import INIT_ARGS


def head_costs(c: int, positions: int, units: int) -> Geometry:
    """What a dense layer of `units` costs on a map of `c` channels at `positions` positions, by what
    feeds it (weights, bias excluded): the map flattened (c·positions inputs, `flattened` weights),
    one number per channel (a global pool: `pooled`), or one number per position (a 1×1 convolution
    to one channel: `per_position`). Lint's W404 and `explain` of a global pool both state these."""
    return Geometry(
        c=c,
        positions=positions,
        units=units,
        flat_inputs=c * positions,
        flattened=c * positions * units,
        pooled=c * units,
        per_position=positions * units,
    )


class Dense(LayerType):
    """y = x·W + b on the last axis; every other axis is kept (applied per position/time step).

    Weight: PyTorch (units, in); Keras kernel (in, units). Bias: units.
    The last axis follows the spec's layout: channels in 'hwc', width in 'chw' (as Keras Dense and
    PyTorch Linear do on an unflattened map).
    """

    op = "dense"
    per_position = True  # on the last axis: a sequence's steps each on their own
    aliases = ("linear",)
    summary = "fully connected layer on the last axis"
    counting = "FLOPs 2 per MAC + 1 per bias add"
    linear = "dense"
    parametric = weighted = takes_activation = True
    # an output layer tied to the input embedding (Press & Wolf 2017): its (units, in) weight is the
    # (vocab, dim) table; Keras's (in, units) kernel is the table's transpose
    ties = {
        "embedding": Tie(0, 0, ("keras",), "init", "init", "embedding", "PyTorch: lm_head.weight = wte.weight"),
    }
    args = {
        "units": Arg(Int(1), doc="output features"),
        "bias": Arg(Bool(), True, "add a bias per unit"),
        **INIT_ARGS,
    }

    def resolve(self, a, shapes, ctx):
        """The input's last axis gives the fan-in; the others are positions."""
        shape = shapes[0]
        return Geometry(n_in=shape[-1], units=a["units"], lead=tuple(shape[:-1]), bias=a["bias"])

    def output_shape(self, g):
        """The input shape with the last axis replaced by units."""
        return (*g.lead, g.units)

    def params(self, g, ctx):
        """weight units × in (trainable), bias units."""
        tensors = [Tensor("kernel", (g.n_in, g.units)) if ctx.keras_counting else Tensor("weight", (g.units, g.n_in))]
        if g.bias:
            tensors.append(Tensor("bias", (g.units,)))
        return tensors

    def macs(self, g):
        """in × units per position: prod(other axes) × in × units."""
        return prod(g.lead) * g.n_in * g.units

    def sig_forward(self, g, ins, env):
        """[E] q_out = Var(w)·n_in·q_in + E[b²] at every position (He et al. 2015, eq. 7), for any
        input distribution as long as the weights are zero-mean and independent of it."""
        from ..signal_rules import linear_out

        x = ins[0]
        pos = env.positions(self.output_shape(g))
        return linear_out(env, x, env.fit(x.q, pos), g.n_in, g.n_in, g.bias, pos)

    def sig_backward(self, g, ins, out, r, env):
        """[MF] r_in = Var(w)·units·r_out (gradient independence, exact at infinite width), per position
        where the last axis is features; where it is a position axis (a channels-first (C, L) map) each
        input feeds every output of its row, Var(w)·Σ_u r_out(u): the mean of the map at every input position."""
        return [env.fit(env.info.wv * g.units * r, env.positions(env.row.in_shapes[0]))], "MF"

    def flops(self, g):
        """2 per MAC, plus one add per output element for the bias."""
        return 2 * self.macs(g) + (prod(g.lead) * g.units if g.bias else 0)

    def explain(self, g, ctx):
        """The weight count and the MACs with the numbers in them."""
        bias = f" + {g.units} biases = {g.n_in * g.units + g.units:,}" if g.bias else ""
        lines = [f"weights: in × units = {g.n_in} × {g.units} = {g.n_in * g.units:,}{bias} parameters"]  # fmt: skip
        if g.lead:
            lines.append(
                f"applied at each of {' × '.join(map(str, g.lead))} positions (the same weights): MACs "
                f"{' × '.join(map(str, g.lead))} × {g.n_in} × {g.units} = {self.macs(g):,}"
            )
        else:
            lines.append(f"MACs: in × units = {self.macs(g):,}")
        return lines

    def receptive(self, g, rf):
        """A dense layer mixes along the last axis; the receptive field is no longer a window."""
        return None
