"""Recurrent layers: rnn (simple), lstm and gru in both frameworks' counting (the other sequence
layer, embedding, is in embedding.py).

A recurrent layer reads a sequence (T, F) — time steps, then features; the batch axis, first or
second (`input: {layout: ntf | tnf}`), is never part of a shape — and keeps a state of `units`
numbers per direction: h (and for an LSTM the cell state c). Each gate has an input kernel
(F × units), a recurrent kernel (units × units) and a bias; the frameworks store the gates fused:

| layer | gates (PyTorch order / Keras order) | PyTorch tensors | Keras tensors |
|---|---|---|---|
| rnn | 1 | weight_ih (u, F), weight_hh (u, u), bias_ih (u), bias_hh (u) | kernel (F, u), recurrent_kernel (u, u), bias (u) |
| lstm | 4: i, f, g, o / i, f, c, o | weight_ih (4u, F), weight_hh (4u, u), bias_ih, bias_hh (4u each) | kernel (F, 4u), recurrent_kernel (u, 4u), bias (4u) |
| gru | 3: r, z, n / z, r, h | weight_ih (3u, F), weight_hh (3u, u), bias_ih, bias_hh (3u each) | kernel (F, 3u), recurrent_kernel (u, 3u), bias (2, 3u) with reset_after (the default), else (3u) |

So an LSTM has 4u(F + u) + 4u parameters in Keras and 4u(F + u) + 8u in PyTorch. `bidirectional`
doubles everything; `num_layers` stacks layers inside one (PyTorch's num_layers; each layer after the
first reads the concatenated directions, D·u features).

MACs per time step, direction and stacked layer: gates × u × (n_in + u); for the whole sequence
× T. FLOPs: 2 per MAC, 1 per bias add, and per unit and step the gate work: rnn 1 (tanh); lstm 9
(3 sigmoids, 2 tanh, c = f·c + i·g: 2 multiplies and an add, h = o·tanh(c): 1 multiply); gru 8
(2 sigmoids, 1 tanh, r·(W_hn h + b_hn): 1 multiply, h = (1 − z)·n + z·h: 1 subtract, 2 multiplies,
1 add); merging two directions by sum or mul costs 1 per output element, ave 2.
"""

from __future__ import annotations

from math import prod

from ..arg_symbols import COUNT_NOTE
from ..compound_kinds import Names
from ..diagnostics import clip
from ..kinds import Arg, Bool, Choice, Float, Int
from .base import Geometry, LayerType, Tensor, axes, fmt_shape
from .conv import INIT_ARGS
from .embedding import Embedding

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
GATE_NAMES = {
    ("lstm", False): ("input (i)", "forget (f)", "cell (g)", "output (o)"),
    ("lstm", True): ("input (i)", "forget (f)", "cell (c)", "output (o)"),
    ("gru", False): ("reset (r)", "update (z)", "new (n)"),
    ("gru", True): ("update (z)", "reset (r)", "candidate (h)"),
    ("rnn", False): ("hidden",),
    ("rnn", True): ("hidden",),
}
UNIT_FLOPS = {"rnn": 1, "lstm": 9, "gru": 8}
TORCH_NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
STATES = {"rnn": ("h",), "lstm": ("h", "c"), "gru": ("h",)}


class Recurrent(LayerType):
    """A recurrent layer over a (T, F) sequence; see the module docstring for the counting rules."""

    reads_sequence = True
    parametric = weighted = recurrent = True

    def __init__(self, cell: str) -> None:
        self.cell = cell
        self.op = cell
        self.gates = GATES[cell]
        self.state_kinds = STATES[cell]  # h (and c)
        self.growth_reason = {  # the W301/W302 advice: why its step is not 1 whatever the initialiser
            "rnn": "",
            "lstm": "its output h = o·tanh(c) is gated: at initialisation the input and output gates sit near "
            "σ(0) = ½, each product keeping a quarter of the second moment",
            "gru": "its output mixes its previous state and a candidate through gates near σ(0) = ½",
        }[cell]
        self.counting = f"MACs {GATES[cell]}·u·(in + u) per step, FLOPs 2 per MAC + 1 per bias add + {UNIT_FLOPS[cell]} per unit, × T"
        self.summary = {
            "rnn": "simple recurrent layer",
            "lstm": "long short-term memory",
            "gru": "gated recurrent unit",
        }[cell]
        self.args = {
            "units": Arg(Int(1), doc="size of the state h (and c): numbers per step and direction"),
            "return_sequences": Arg(Bool(), False, "output every step (T, units) instead of the last (units)"),
            "return_state": Arg(Bool(), False, "also output the final states as NAME.h (and NAME.c)"),
            "bias": Arg(Bool(), True, "gate biases"),
            "bidirectional": Arg(Bool(), False, "also run the sequence backwards"),
            "merge_mode": Arg(Choice(("concat", "sum", "mul", "ave")), "concat", "how two directions combine"),
            "num_layers": Arg(Int(1, refuse=COUNT_NOTE), 1, "layers stacked inside this one (PyTorch num_layers)"),
            **INIT_ARGS,
            "recurrent_init": Arg(INIT_ARGS["init"].kind, INIT_ARGS["init"].default, "recurrent kernel initialiser"),
            "initial_state": Arg(
                Names(),
                None,
                "the states to start from (default zeros): names of earlier tensors, as return_state gives them "
                "(Keras: h, c per direction, forward then backward, each (units); PyTorch: h_0, c_0, each "
                "(num_layers·directions, units))",
            ),
            "dropout": Arg(
                Float(0.0, 1.0, max_exclusive=True),
                0.0,
                "fraction dropped in training: Keras the input's features (one mask per sequence), PyTorch the "
                "outputs between stacked layers only",
            ),
            "recurrent_dropout": Arg(
                Float(0.0, 1.0, max_exclusive=True),
                0.0,
                "Keras only: fraction of the state's units dropped in training before the recurrent product",
            ),
        }
        if cell == "gru":
            self.args["reset_after"] = Arg(Bool(), True, "Keras: reset gate after the recurrent product (2 biases)")

    def state_names(self, a: dict, keras: bool) -> list[str]:
        """Names of the extra outputs with return_state: h (and c); per direction in Keras."""
        if not a.get("return_state"):
            return []
        states = STATES[self.cell]
        if keras and a.get("bidirectional"):
            return [f"{s}_{d}" for d in ("forward", "backward") for s in states]
        return list(states)

    def resolve(self, a, shapes, ctx):
        """Input (T, F); reset_after false exists only in Keras."""
        shape = shapes[0]
        if len(shape) != 2:
            ctx.error(
                "E202",
                f"{self.op} takes a sequence (steps, features), got an input of shape "
                f"{'×'.join(map(str, shape))} ({axes(len(shape))}); add an embedding or reshape before it",
            )
            return None
        reset_after = a.get("reset_after", True)
        if self.cell == "gru" and not reset_after and not ctx.keras:
            ctx.error("E204", "reset_after: false is Keras-only; PyTorch's GRU applies the reset after", "reset_after")
            return None
        if a["recurrent_dropout"] and not ctx.keras:
            ctx.error(
                "E204",
                f"recurrent_dropout: {a['recurrent_dropout']:g} is Keras-only; PyTorch's nn.{TORCH_NAMES[self.cell]} "
                "has none (its dropout acts between stacked layers)",
                "recurrent_dropout",
            )
            return None
        dirs = 2 if a["bidirectional"] else 1
        if len(shapes) > 1 and not self._states_fit(a, shapes[1:], dirs, ctx):
            return None
        return Geometry(
            steps=shape[0],
            features=shape[1],
            units=a["units"],
            dirs=dirs,
            layers=a["num_layers"],
            merge=a["merge_mode"] if dirs == 2 else "concat",
            sequences=a["return_sequences"],
            state=a["return_state"],
            bias=a["bias"],
            reset_after=reset_after,
            initial=len(shapes) - 1,  # initial states read after the sequence (initial_state)
            dropout=a["dropout"],
            recurrent_dropout=a["recurrent_dropout"],
            keras=ctx.keras,  # the framework's outputs and initial states
            keras_counting=ctx.keras_counting,  # the framework's bias vectors
        )

    def several_inputs(self, written: tuple) -> str:
        """E115's advice: one sequence in `in:`, the initial states in `initial_state:`."""
        rest = ", ".join(map(clip, written[1:]))
        return (
            f"a recurrent layer reads one sequence: give the initial states as in: {clip(written[0])}, "
            f"initial_state: [{rest}] (sequences are merged first with concat or add)"
        )

    def _expected_states(self, a: dict, dirs: int, keras: bool) -> list[tuple[str, tuple]]:
        """(name, shape) of each initial state the layer takes, in order: Keras h (and c) of (units),
        per direction, the forward layer's then the backward's (Bidirectional passes the first half
        of its initial_state to the forward layer); PyTorch h_0 (and c_0), each (num_layers·D, units)
        as nn.RNN/LSTM/GRU take them without the batch — return_state's NAME.h, NAME.c either way."""
        states, u = STATES[self.cell], a["units"]
        if keras:
            tags = ("_forward", "_backward") if dirs == 2 else ("",)
            return [(s + tag, (u,)) for tag in tags for s in states]
        return [(f"{s}_0", (a["num_layers"] * dirs, u)) for s in states]

    def _states_fit(self, a: dict, shapes: list, dirs: int, ctx) -> bool:
        """The initial states given: as many as the cell has (per direction in Keras), each of the
        state's shape (`_expected_states`); E208 at `initial_state` otherwise, quoting what was given."""
        names = ctx.node.inputs[1:]
        given = ", ".join(f"{n} {fmt_shape(s)}" for n, s in zip(names, shapes, strict=True))
        if ctx.keras and a["num_layers"] > 1:
            ctx.error(
                "E208",
                f"initial_state ({given}) with num_layers: {a['num_layers']}: Keras has no num_layers, and "
                f"stacked Keras layers each take their own initial_state; write {a['num_layers']} {self.op} layers",
                "initial_state",
            )
            return False
        ints = [f"{n} ({ctx.input_dtypes[n]})" for n in names if ctx.input_dtypes.get(n, "float").startswith("int")]
        if ints:
            ctx.error(
                "E208",
                f"initial_state: {', '.join(ints)} holds integers (token ids); a state is real numbers: give a "
                "float input, or a layer's output (an embedding's, a dense one's)",
                "initial_state",
            )
            return False
        expected = self._expected_states(a, dirs, ctx.keras)
        if len(shapes) != len(expected):
            n = len(expected)
            what = ", ".join(f"{name} {fmt_shape(s)}" for name, s in expected)
            ctx.error(
                "E208",
                f"initial_state: {'a bidirectional ' if dirs == 2 else ''}{self.op} takes {n} state{'s' if n > 1 else ''} "
                f"({what}), got {len(shapes)} ({given})",
                "initial_state",
                self._states_note(a, dirs, ctx.keras),
            )
            return False
        for name, shape, (label, want) in zip(names, shapes, expected, strict=True):
            if len(shape) == len(want):
                for got_d, want_d in zip(shape, want, strict=True):
                    ctx.same([got_d, want_d], f"the initial state {label} from {name} fits the units", "initial_state")
            if tuple(shape) != tuple(want):
                hint = ""
                if prod(shape) == prod(want):
                    hint = f"; reshape it first: {{op: reshape, in: {name}, shape: [{', '.join(map(str, want))}]}}"
                ctx.error(
                    "E208",
                    f"initial_state: {name} has shape {fmt_shape(shape)}; the state {label} of this {self.op} "
                    f"({a['units']} units) has shape {fmt_shape(want)}{hint}",
                    "initial_state",
                    self._states_note(a, dirs, ctx.keras),
                )
                return False
        return True

    def _states_note(self, a: dict, dirs: int, keras: bool) -> str:
        """What the convention takes as initial states, for E208's note."""
        expected = self._expected_states(a, dirs, keras)
        if keras:
            return (
                f"Keras takes initial_state=[{', '.join(name for name, _ in expected)}], each (batch, units): "
                f"({a['units']}) without the batch"
                + (
                    "; Bidirectional passes the first half to the forward layer, the second to the backward"
                    if dirs == 2
                    else ""
                )
            )
        rows = a["num_layers"] * dirs
        return (
            f"PyTorch's nn.{TORCH_NAMES[self.cell]} takes "
            + ("(h_0, c_0), each" if self.cell == "lstm" else "h_0 of shape")
            + f" (num_layers·directions, batch, units): {rows}×{a['units']} without the batch, a row per "
            "layer and direction"
        )

    def _width(self, g) -> int:
        return g.units * (g.dirs if g.merge == "concat" else 1)

    def output_shape(self, g):
        """(T, D·units) with return_sequences, else (D·units); D = 2 when bidirectional and concatenated."""
        return (g.steps, self._width(g)) if g.sequences else (self._width(g),)

    def extra_outputs(self, g) -> dict:
        """With return_state: the final states. PyTorch: h (and c) of shape (layers·D, units), as h_n
        and c_n; Keras: (units) each, per direction (h_forward, ..., h_backward, ...)."""
        if not g.state:
            return {}
        if g.keras:
            names = self.state_names({"return_state": True, "bidirectional": g.dirs == 2}, True)
            return {name: (g.units,) for name in names}
        return {name: (g.layers * g.dirs, g.units) for name in STATES[self.cell]}

    def _inputs(self, g) -> list[int]:
        """Features read by each stacked layer: F, then D·units."""
        return [g.features] + [g.units * g.dirs] * (g.layers - 1)

    def params(self, g, ctx):
        """Per stacked layer and direction: input kernel, recurrent kernel, bias(es) (module docstring)."""
        n, u = GATES[self.cell], g.units
        tensors = []
        for layer, n_in in enumerate(self._inputs(g)):
            for d in range(g.dirs):
                if ctx.keras_counting:
                    prefix = ("forward/" if d == 0 else "backward/") if g.dirs == 2 else ""
                    prefix += f"layer{layer + 1}/" if g.layers > 1 else ""
                    tensors += [
                        Tensor(prefix + "kernel", (n_in, n * u)),
                        Tensor(prefix + "recurrent_kernel", (u, n * u)),
                    ]
                    if g.bias:
                        shape = (2, n * u) if self.cell == "gru" and g.reset_after else (n * u,)
                        tensors.append(Tensor(prefix + "bias", shape))
                else:
                    suffix = f"_l{layer}" + ("_reverse" if d == 1 else "")
                    tensors += [Tensor("weight_ih" + suffix, (n * u, n_in)), Tensor("weight_hh" + suffix, (n * u, u))]
                    if g.bias:
                        tensors += [Tensor("bias_ih" + suffix, (n * u,)), Tensor("bias_hh" + suffix, (n * u,))]
        return tensors

    # ------------------------------------------------------------------ signal propagation

    def sig_forward(self, g, ins, env):
        """Gate pre-activations at step 1: q_a = n_x·Var(W_x)·E[x²] + E[b²] (+ the forget bias's mean)
        [MF through the sigmoid/tanh]; later steps add units·Var(W_h)·E[h²] and the cell recursion
        E[c_t²] = E[f²]·E[c_{t−1}²] + E[i²]·E[g²], E[h²] = E[o²]·E[tanh(c)²] [A]. PyTorch: every
        weight and both biases U(±1/√units); Keras: glorot kernel, orthogonal recurrent kernel
        (each gate gets ¼ of ‖h‖²), zero bias with the forget slice at 1 (recurrent_signal.py). An input
        correlated over time (a recurrent layer below: `Sig.corr` between steps, read as AR(1)) is summed
        coherently by the cell (recurrent_lags.py) [A]; the output's corr is E[h_t·h_{t−1}]/E[h²]."""
        from . import recurrent_signal

        return recurrent_signal.forward(self, g, ins, env)

    def sig_backward(self, g, ins, out, r, env):
        """[A] BPTT in second moments: dh_{t−1} = W_hᵀ·da_t (+ the cell path c_{t−1} ← f·dc_t), each gate's
        da = dh·∂h/∂a; E[dx²] = units·Var(W_x)·Σ_gates E[da²]. The cell path shrinks by E[f²] per step
        (recurrent_signal.py). A gradient correlated over time (Info.rcorr, from a recurrent layer above)
        is summed coherently along the cell path the same way, and the input's gradient gets its own
        correlation (Info.rcorr_in) [A]."""
        from . import recurrent_signal

        return recurrent_signal.backward(self, g, ins, out, r, env)

    def macs_per_step(self, g) -> int:
        """gates × units × (n_in + units), over directions and stacked layers."""
        n, u = GATES[self.cell], g.units
        return sum(g.dirs * n * u * (n_in + u) for n_in in self._inputs(g))

    def macs(self, g):
        """T × the MACs of one step."""
        return g.steps * self.macs_per_step(g)

    def flops_per_step(self, g) -> int:
        """2 per MAC, bias adds, gate work per unit (module docstring); the merge is counted per output."""
        n, u = GATES[self.cell], g.units
        if not g.bias:
            bias_vectors = 0
        elif g.keras_counting:
            bias_vectors = 2 if self.cell == "gru" and g.reset_after else 1
        else:
            bias_vectors = 2
        per_layer_dir = bias_vectors * n * u + UNIT_FLOPS[self.cell] * u
        return 2 * self.macs_per_step(g) + g.layers * g.dirs * per_layer_dir

    def flops(self, g):
        """T × one step's FLOPs, plus merging two directions (sum/mul 1, ave 2 per output element)."""
        merge = {"concat": 0, "sum": 1, "mul": 1, "ave": 2}[g.merge] * g.units * (g.steps if g.sequences else 1)
        return g.steps * self.flops_per_step(g) + merge

    def receptive(self, g, rf):
        """A recurrent layer sees the whole sequence up to the step (both ways when bidirectional)."""
        return None

    def explain(self, g, ctx) -> list[str]:
        """The gates, the fused matrices and their counts with the numbers in them."""
        n, u = GATES[self.cell], g.units
        names = GATE_NAMES[(self.cell, ctx.keras_counting)]
        keras = ctx.keras_counting
        bias_vectors = (2 if (self.cell == "gru" and g.reset_after) else 1) if keras else 2
        if not g.bias:
            bias_vectors = 0
        lines = [
            f"units = {u}: the state h{' and the cell state c' if self.cell == 'lstm' else ''} "
            f"{'have' if self.cell == 'lstm' else 'has'} {u} numbers per step"
            + (f" and direction ({g.dirs} directions)" if g.dirs == 2 else ""),
            f"{n} gate{'s' if n > 1 else ''} ({', '.join(names)}), each with an input kernel, a recurrent kernel"
            + (f" and {bias_vectors} bias vector{'s' if bias_vectors > 1 else ''}" if bias_vectors else " and no bias"),
        ]
        for layer, n_in in enumerate(self._inputs(g)):
            label = f"layer {layer + 1}: " if g.layers > 1 else ""
            per_gate = n_in * u + u * u + bias_vectors * u
            lines.append(
                f"{label}per gate: input kernel {n_in} × {u} = {n_in * u:,}, recurrent kernel {u} × {u} = {u * u:,}"
                + (f", bias {bias_vectors} × {u} = {bias_vectors * u}" if bias_vectors else "")
                + f" → {per_gate:,}"
            )
            total = n * per_gate
            lines.append(
                f"{label}{n} gates × {per_gate:,} = {total:,} = {n}·{u}·({n_in} + {u})"
                + (f" + {bias_vectors}·{n}·{u}" if bias_vectors else "")
                + (f"; × {g.dirs} directions = {g.dirs * total:,}" if g.dirs == 2 else "")
            )
            fused = (
                f"kernel {n_in} × {n * u}, recurrent_kernel {u} × {n * u}"
                if keras
                else f"weight_ih {n * u} × {n_in}, weight_hh {n * u} × {u}"
            )
            lines.append(f"{label}stored fused as {fused}")
        lines += self._explain_start_and_dropout(g, ctx)
        lines.append(
            f"MACs per step: {self.macs_per_step(g):,}; for the sequence of {g.steps} step{'s' if g.steps != 1 else ''}: "
            f"{self.macs(g):,}"
        )
        lines.append(f"FLOPs per step: {self.flops_per_step(g):,}; for the sequence: {self.flops(g):,}")
        return lines

    def _explain_start_and_dropout(self, g, ctx) -> list[str]:
        """Where the states start (initial_state), and what dropout does in training."""
        lines = []
        if g.initial:
            expected = self._expected_states({"units": g.units, "num_layers": g.layers}, g.dirs, g.keras)
            pairs = ", ".join(
                f"{label} ← {name}" for (label, _), name in zip(expected, ctx.node.inputs[1:], strict=True)
            )
            lines.append(f"starts from {pairs} instead of zeros: no parameters, the same MACs")
        keras = g.keras
        if g.dropout and keras:
            per = "per gate and sequence (Keras then runs implementation 1)" if g.recurrent_dropout else "per sequence"
            lines.append(
                f"dropout {g.dropout:g}: in training {g.dropout:.0%} of the input's features are zeroed, one mask "
                f"{per}, the rest scaled by 1/(1 − {g.dropout:g}); nothing at inference (no FLOPs)"
            )
        elif g.dropout:
            if g.layers > 2:
                where = f"on the outputs of layers 1–{g.layers - 1} (each element its own draw)"
            elif g.layers == 2:
                where = "on layer 1's output (each element its own draw)"
            else:
                where = "nowhere here: num_layers is 1 (PyTorch warns)"
            lines.append(f"dropout {g.dropout:g}: in training, PyTorch drops between stacked layers only: {where}")
        if g.recurrent_dropout:
            lines.append(
                f"recurrent_dropout {g.recurrent_dropout:g}: in training {g.recurrent_dropout:.0%} of the state's units "
                "are zeroed before each recurrent product, one mask per gate and sequence (the carried state keeps them)"
            )
        return lines


def recurrent_types() -> list[LayerType]:
    return [Embedding(), Recurrent("rnn"), Recurrent("lstm"), Recurrent("gru")]
