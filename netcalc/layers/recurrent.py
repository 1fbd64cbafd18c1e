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

from ..arg_symbols import COUNT_NOTE
from ..kinds import Arg, Bool, Choice, Int
from .base import Geometry, LayerType, Tensor, axes
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
STATES = {"rnn": ("h",), "lstm": ("h", "c"), "gru": ("h",)}
_SETTLED: dict = {}  # Recurrent._stationary's results by their inputs


class Recurrent(LayerType):
    """A recurrent layer over a (T, F) sequence; see the module docstring for the counting rules."""

    reads_sequence = True
    parametric = weighted = recurrent = True

    def __init__(self, cell: str) -> None:
        self.cell = cell
        self.op = cell
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
        dirs = 2 if a["bidirectional"] else 1
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
            keras=ctx.keras,  # the framework's outputs (return_state)
            keras_counting=ctx.keras_counting,  # the framework's bias vectors
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

    def _weights(self, g, env, layer: int, n_in: int) -> dict:
        """Variances of the input kernel, the recurrent kernel, and the gates' bias moments."""
        n, u = GATES[self.cell], g.units
        keras = env.keras
        wx_shape = (n_in, n * u) if keras else (n * u, n_in)
        wh_shape = (u, n * u) if keras else (n * u, u)
        _, vx = env.init("init", "kernel", wx_shape, units=u)
        _, vh = env.init("recurrent_init", "recurrent_kernel", wh_shape, units=u)
        means = [0.0] * n
        b2_in = b2_h = 0.0
        bvar = 0.0  # the bias's variance over units (a fixed offset per unit, not a mean)
        if g.bias:
            spec = env.row.node.args.get("bias_init")
            bm, bv = env.init("bias_init", "bias", wx_shape, units=u)
            if keras:
                b2_in = bv + bm * bm
                means = [bm] * n
                if self.cell == "lstm" and (spec is None or spec.name == "default"):
                    means[1] = 1.0  # unit_forget_bias
                if self.cell == "gru" and g.reset_after:
                    b2_h = bv + bm * bm
                bvar = bv
            else:  # two bias vectors, b_ih and b_hh, from the same initialiser
                b2_in = b2_h = bv + bm * bm
                means = [2 * bm] * n
                bvar = 2 * bv
        return {"vx": vx, "vh": vh, "b2_in": b2_in, "b2_h": b2_h, "means": means, "n_in": n_in, "bvar": bvar}

    def _run(self, g, env, w, qx, mx=None, settle: bool = False) -> dict:
        """The mean-field recursion over the steps of one direction: per step the gates' moments and
        E[h²], E[c²] (module docstring of netcalc.signal; [MF] at step 1, [A] after).

        Beside the second moments, each unit's own mean is followed (E[h̄²], E[c̄²]): a unit's bias
        and the input's per-feature means give every gate a fixed offset per unit, and the state
        accumulates it step after step (h̄ = (1 − z̄)·n̄ + z̄·h̄ for a GRU, c̄ = f̄·c̄ + ī·ḡ for an
        LSTM), so the products f·c, z·h, (1 − z)·n have a mean part E[f]·E[i]·c̄·ḡ that independent
        fluctuations would miss [A: the offsets taken as fully aligned]. mx: the input's per-feature
        mean² per step. With `settle`, the run stops at the step where the state (E[h²], E[c²] and
        their mean parts) no longer changes (relative 1e−12): a fixed point, as the later steps would be."""
        import math

        import numpy as np

        m = env.moments
        u = g.units
        qh = qc = hbar2 = cbar2 = 0.0
        mx = mx if mx is not None else [0.0] * len(qx)
        steps = []
        previous = ()

        def unit_mean2(fn, mu, v, vc):
            """E over units of (a unit's mean of φ(a))², a ~ N(μ, v) with vc of v fixed per unit."""
            if vc <= 0 or v <= 0:
                return float(m.activation_moments(fn, {}, mu, v + mu * mu)[0]) ** 2
            phi = m.function(fn, {})[0]
            return m.pair_moment(phi, mu, v, min(vc, v))

        for t in range(len(qx)):
            base = w["n_in"] * w["vx"] * qx[t]
            rec = u * w["vh"] * qh
            const = w["n_in"] * w["vx"] * mx[t] + u * w["vh"] * hbar2 + w["bvar"]  # fixed per unit
            st = {"qh_prev": qh, "qc_prev": qc}
            if self.cell == "lstm":
                v = base + rec + w["b2_in"] + w["b2_h"]
                gates = []
                for k, fn in enumerate(("sigmoid", "sigmoid", "tanh", "sigmoid")):
                    mu = w["means"][k]
                    e1, e2, d2 = m.activation_moments(fn, {}, mu, v + mu * mu)
                    gates.append((float(e1), float(e2), float(d2), v, mu))
                (i1, i2, _, _, _), (f1, f2, _, _, _), (_, g2, _, _, _), (o1, o2, _, _, _) = gates
                gbar2 = unit_mean2("tanh", w["means"][2], v, const)
                cross = 2 * f1 * i1 * math.sqrt(max(cbar2 * gbar2, 0.0))
                qc = f2 * qc + i2 * g2 + cross
                cbar2 = (f1 * math.sqrt(max(cbar2, 0.0)) + i1 * math.sqrt(max(gbar2, 0.0))) ** 2
                _, tc2, dtc2 = m.activation_moments("tanh", {}, 0.0, qc)
                qh = o2 * float(tc2)
                hbar2 = o1 * o1 * (m.pair_moment(np.tanh, 0.0, qc, min(cbar2, qc)) if qc > 0 else 0.0)
                st.update(gates=gates, qc=qc, tc2=float(tc2), dtc2=float(dtc2))
            elif self.cell == "gru":
                v = base + rec + w["b2_in"] + w["b2_h"]
                rz = [m.activation_moments("sigmoid", {}, w["means"][k], v + w["means"][k] ** 2) for k in (0, 1)]
                if env.keras:  # Keras order z, r, h
                    (z1, z2, zd), (_, r2, rd) = rz
                else:  # PyTorch order r, z, n
                    (_, r2, rd), (z1, z2, zd) = rz
                rec_n = (u * w["vh"] * qh + w["b2_h"]) if g.reset_after else u * w["vh"] * qh
                vn = base + w["b2_in"] + float(r2) * rec_n
                _, n2, nd = m.activation_moments("tanh", {}, 0.0, vn)
                nbar2 = unit_mean2("tanh", 0.0, vn, min(const * float(r2) + w["n_in"] * w["vx"] * mx[t], vn))
                one_minus_z2 = 1 - 2 * float(z1) + float(z2)
                cross = 2 * (float(z1) - float(z2)) * math.sqrt(max(nbar2 * hbar2, 0.0))  # 2·E[(1 − z)·z]·E[n̄·h̄]
                qh = one_minus_z2 * float(n2) + float(z2) * qh + cross
                hbar2 = ((1 - float(z1)) * math.sqrt(max(nbar2, 0.0)) + float(z1) * math.sqrt(max(hbar2, 0.0))) ** 2
                st.update(r2=float(r2), rd=float(rd), z2=float(z2), zd=float(zd), z1=float(z1), n2=float(n2),
                          nd=float(nd), omz2=one_minus_z2, rec_n=rec_n, v=v, vn=vn)  # fmt: skip
            else:
                v = base + rec + w["b2_in"] + w["b2_h"]
                _, h2, hd = m.activation_moments("tanh", {}, 0.0, v)
                qh = float(h2)
                hbar2 = unit_mean2("tanh", 0.0, v, const)
                st.update(hd=float(hd), v=v)
            st["qh"] = qh
            st["hbar2"] = min(hbar2, qh)
            steps.append(st)
            state = (qh, qc, hbar2, cbar2)
            if settle and previous and all(abs(a - b) <= 1e-12 * abs(a) for a, b in zip(state, previous, strict=True)):
                break
            previous = state
        return {"steps": steps, "qh": np.array([s["qh"] for s in steps]),
                "hbar2": np.array([s["hbar2"] for s in steps])}  # fmt: skip

    def _stationary(self, g, env, w, qx: float) -> dict:
        """Where the recursion settles for a long sequence of inputs with second moment qx. A pure
        function of the numbers in the key, kept for the run (lint over many specs, diff of two)."""
        numbers = tuple(tuple(v) if isinstance(v, list) else v for v in w.values())
        key = (self.cell, g.units, g.reset_after, env.keras, qx, numbers)
        out = _SETTLED.get(key)
        if out is None:
            run = self._run(g, env, w, [qx] * 200, settle=True)
            last = run["steps"][-1]
            out = {"qh": last["qh"]}
            if self.cell == "lstm":
                out["qc"] = last["qc"]
                out["f2"] = last["gates"][1][1]
            if len(_SETTLED) >= 1024:
                _SETTLED.clear()
            _SETTLED[key] = out
        return dict(out)

    def sig_forward(self, g, ins, env):
        """Gate pre-activations at step 1: q_a = n_x·Var(W_x)·E[x²] + E[b²] (+ the forget bias's mean)
        [MF through the sigmoid/tanh]; later steps add units·Var(W_h)·E[h²] and the cell recursion
        E[c_t²] = E[f²]·E[c_{t−1}²] + E[i²]·E[g²], E[h²] = E[o²]·E[tanh(c)²] [A]. PyTorch: every
        weight and both biases U(±1/√units); Keras: glorot kernel, orthogonal recurrent kernel
        (each gate gets ¼ of ‖h‖²), zero bias with the forget slice at 1."""
        import numpy as np

        from ..signal_rules import Sig

        x = ins[0]
        qx = np.atleast_1d(env.fit(x.q, (g.steps,)))
        runs = []
        layer_in = qx
        mean_in = qx * x.mfrac  # the input's per-feature mean² per step
        for layer, n_in in enumerate(self._inputs(g)):
            w = self._weights(g, env, layer, n_in)
            fwd = self._run(g, env, w, layer_in, mean_in)
            dirs = [fwd]
            if g.dirs == 2:
                bwd = self._run(g, env, w, layer_in[::-1], mean_in[::-1])
                bwd["qh_time"] = bwd["qh"][::-1]
                bwd["hbar2_time"] = bwd["hbar2"][::-1]
                dirs.append(bwd)
            fwd["qh_time"] = fwd["qh"]
            fwd["hbar2_time"] = fwd["hbar2"]
            runs.append((w, dirs))
            layer_in = sum(d["qh_time"] for d in dirs) / len(dirs)
            mean_in = sum(d["hbar2_time"] for d in dirs) / len(dirs)
        w, dirs = runs[-1]
        seq = self._merge([d["qh_time"] for d in dirs], g.merge)
        if g.sequences:
            q = seq
        else:
            last = [dirs[0]["qh"][-1]]
            if len(dirs) == 2:
                last.append(dirs[1]["qh"][-1] if env.keras else dirs[1]["qh_time"][-1])
            q = np.asarray(self._merge([np.asarray(v) for v in last], g.merge))
        env.info.runs = runs
        first = runs[0][1][0]["steps"][0]
        if self.cell == "lstm":
            env.info.gates_step1 = first["gates"]
        env.info.stationary = self._stationary(g, env, runs[-1][0], float(np.mean(layer_in)))
        extra = {}
        for suffix, shape in self.extra_outputs(g).items():
            state = suffix.split("_")[0]
            val = dirs[0]["steps"][-1]["qc" if state == "c" else "qh"]
            extra[suffix] = Sig(np.full(env.positions(shape), val), 0.0, 0.0, 0.0)
        env.info.extra = extra
        qm = float(np.mean(q)) if np.size(q) else 0.0
        hb = float(np.mean(mean_in)) if g.sequences else float(dirs[0]["hbar2"][-1])
        mfrac = min(hb / qm, 1.0) if qm > 0 else 0.0
        # the positions of (T, width) are the steps when features come last (a sequence layout); in a
        # channels-first graph they are not the steps, and the map is then its mean everywhere
        return Sig(env.fit(q, env.positions(self.output_shape(g))), 0.0, mfrac, mfrac, gauss=False), (
            "MF" if g.steps == 1 and g.layers == 1 and qm >= 0 else "A"
        )

    @staticmethod
    def _merge(maps, mode):
        if len(maps) == 1:
            return maps[0]
        a, b = maps
        return {"concat": (a + b) / 2, "sum": a + b, "mul": a * b, "ave": (a + b) / 4}[mode]

    def _back(self, g, env, w, run, r_h):
        """Back-propagation through time in second moments for one direction (steps in run order):
        returns E[dx²] per step. Rests on gradient independence [A]."""
        import numpy as np

        u = g.units
        carry_h = carry_c = 0.0
        rx = np.zeros(len(run["steps"]))
        for t in range(len(run["steps"]) - 1, -1, -1):
            st = run["steps"][t]
            rh = r_h[t] + carry_h
            if self.cell == "lstm":
                (_, i2, id2, _, _), (_, f2, fd2, _, _), (_, g2, gd2, _, _), (_, o2, od2, _, _) = st["gates"]
                rc = rh * o2 * st["dtc2"] + carry_c
                da = [rc * g2 * id2, rc * st["qc_prev"] * fd2, rc * i2 * gd2, rh * st["tc2"] * od2]
                carry_c = rc * f2
            elif self.cell == "gru":
                dn = rh * st["omz2"] * st["nd"]
                dz = rh * (st["qh_prev"] + st["n2"]) * st["zd"]
                dr = dn * st["rec_n"] * st["rd"]
                da = [dn, dz, dr]
                carry_h_direct = rh * st["z2"] + u * w["vh"] * st["r2"] * dn
                da_rec = dz + dr
            else:
                da = [rh * st["hd"]]
            carry_h = carry_h_direct + u * w["vh"] * da_rec if self.cell == "gru" else u * w["vh"] * sum(da)
            rx[t] = u * w["vx"] * sum(da)
        return rx

    def sig_backward(self, g, ins, out, r, env):
        """[A] BPTT in second moments: dh_{t−1} = W_hᵀ·da_t (+ the cell path c_{t−1} ← f·dc_t), each gate's
        da = dh·∂h/∂a; E[dx²] = units·Var(W_x)·Σ_gates E[da²]. The cell path shrinks by E[f²] per step."""
        import numpy as np

        runs = env.info.runs
        T = g.steps
        r = np.asarray(r, float)
        if g.sequences:
            r_seq = np.broadcast_to(env.fit(r, (T,)), (T,)).astype(float)
            per_dir = [r_seq, r_seq]
        else:
            rm = float(np.mean(r))
            fwd = np.zeros(T)
            fwd[-1] = rm
            bwd_time = np.zeros(T)
            if env.keras:
                bwd_time[0] = rm
            else:
                bwd_time[-1] = rm
            per_dir = [fwd, bwd_time]
        factor = {"concat": 1.0, "sum": 1.0, "ave": 0.25, "mul": 1.0}[g.merge]
        for suffix, rr in (env.info.r_extra or {}).items():
            if suffix.startswith("h"):
                per_dir[0] = per_dir[0].copy()
                per_dir[0][-1] += float(np.mean(rr))
        for layer in range(len(runs) - 1, -1, -1):
            w, dirs = runs[layer]
            rx_time = np.zeros(T)
            for d, run in enumerate(dirs):
                r_time = per_dir[d] * factor
                rx = self._back(g, env, w, run, r_time[::-1])[::-1] if d == 1 else self._back(g, env, w, run, r_time)
                rx_time = rx_time + rx
            per_dir = [rx_time, rx_time]
            factor = 1.0
        return [per_dir[0]], "A"

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
        lines.append(
            f"MACs per step: {self.macs_per_step(g):,}; for the sequence of {g.steps} step{'s' if g.steps != 1 else ''}: "
            f"{self.macs(g):,}"
        )
        lines.append(f"FLOPs per step: {self.flops_per_step(g):,}; for the sequence: {self.flops(g):,}")
        return lines


def recurrent_types() -> list[LayerType]:
    return [Embedding(), Recurrent("rnn"), Recurrent("lstm"), Recurrent("gru")]
