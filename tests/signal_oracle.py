"""An independent measurement of netcalc's signal report: the spec's network in PyTorch.

`netcalc verify` checks the signal rules against netcalc's own NumPy executor. This harness
measures the same figures in real PyTorch instead: the modules are tests/torch_oracle.py's
(`build_module`, `build_merge`, built from each node's arguments only), put in training mode
(batch statistics, dropout masks), with their weights drawn by torch's own initialisers
(`torch.nn.init`) following the spec's `init:` / `bias_init:` (the framework's default when the
spec names none: PyTorch's own `reset_parameters`, Keras's glorot_uniform kernel and zero bias).
Inputs are drawn from the spec's input statistics (mean/std, a [low, high] range as uniform).

For every weight seed: one batch forward, loss = Σ y·g with g ~ N(0, 1) at every graph output,
backward; per node the mean of y² over the batch and positions (E[x²] of the output) and the mean
of (∂L/∂y)² (E[g²] at the output, by retain_grad). The figures are compared with netcalc's
prediction (`propagate` with the same batch) under netcalc verify's own tolerance rule
(netcalc.verify.Figure and rule_tolerances: the rules' tags accumulated in quadrature along the
way, plus Student's t times the standard error over the seeds); netcalc's code computes only the
prediction and the tolerance, never the measurement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch_oracle import INT_DTYPES, MERGE_OPS, Attention, OracleError, build_merge, build_module

from netcalc.verify import Figure, rule_tolerances

WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.Embedding)
RECURRENT_MODULES = (nn.LSTM, nn.GRU, nn.RNN)


def _fans(w: torch.Tensor) -> tuple[int, int]:
    """PyTorch's fans of a (out, in, k…) weight: in·∏k and out·∏k."""
    receptive = math.prod(w.shape[2:]) if w.dim() > 2 else 1
    return w.shape[1] * receptive, w.shape[0] * receptive


def init_tensor(t: torch.Tensor, spec, role: str, keras: bool) -> None:
    """Draw `t` in place by torch.nn.init as the netcalc InitSpec `spec` says (None or "default":
    the convention's default, handled by the caller for PyTorch)."""
    name, p = (spec.name, spec.params) if spec is not None else ("default", {})
    if name == "default":
        if not keras:
            raise OracleError("PyTorch's default is the module's own reset_parameters")
        name, p = {
            "kernel": ("glorot_uniform", {"gain": 1.0}),
            "embedding": ("uniform", {"low": -0.05, "high": 0.05}),  # Keras Embedding's "uniform"
        }.get(role, ("constant", {"value": 0.0}))
    if name in ("he_normal", "he_uniform"):
        fan_in, fan_out = _fans(t)
        fan = fan_in if p.get("mode", "fan_in") == "fan_in" else fan_out
        gain = nn.init.calculate_gain(p.get("nonlinearity", "leaky_relu"), p.get("a", 0.0))
        std = gain / math.sqrt(fan)
        if name == "he_normal":
            nn.init.normal_(t, 0.0, std)
        else:
            nn.init.uniform_(t, -math.sqrt(3) * std, math.sqrt(3) * std)
    elif name == "glorot_uniform":
        nn.init.xavier_uniform_(t, gain=p.get("gain", 1.0))
    elif name == "glorot_normal":
        nn.init.xavier_normal_(t, gain=p.get("gain", 1.0))
    elif name in ("lecun_normal", "lecun_uniform"):
        std = 1 / math.sqrt(_fans(t)[0])
        if name == "lecun_normal":
            nn.init.normal_(t, 0.0, std)
        else:
            nn.init.uniform_(t, -math.sqrt(3) * std, math.sqrt(3) * std)
    elif name == "normal":
        nn.init.normal_(t, p["mean"], p["std"])
    elif name == "uniform":
        nn.init.uniform_(t, p["low"], p["high"])
    elif name == "constant":
        nn.init.constant_(t, p["value"])
    elif name == "orthogonal":
        nn.init.orthogonal_(t, gain=p.get("gain", 1.0))
    else:
        raise OracleError(f"no torch initialiser for {spec.describe()}")


def reinit(node, weighted: nn.Module, keras: bool) -> None:
    """The weights of one conv/linear module per the node's `init` and `bias_init`; what the spec
    leaves to the framework: PyTorch's reset_parameters, Keras's glorot_uniform and zeros."""

    def given(arg):
        spec = node.args.get(arg)
        return spec if spec is not None and spec.name != "default" else None

    kinit, binit = given("init"), given("bias_init")
    if isinstance(weighted, Attention):
        _reinit_attention(weighted, keras, kinit, binit)
        return
    if isinstance(weighted, RECURRENT_MODULES):
        _reinit_recurrent(node, weighted, keras, kinit, given("recurrent_init"), binit)
        return
    if not keras:
        weighted.reset_parameters()  # an nn.Embedding's: N(0, 1)
    role = "embedding" if isinstance(weighted, nn.Embedding) else "kernel"
    with torch.no_grad():
        if kinit is not None or keras:
            init_tensor(weighted.weight, kinit, role, keras)
        if getattr(weighted, "bias", None) is not None and (binit is not None or keras):
            init_tensor(weighted.bias, binit, "bias", keras)


def _reinit_attention(att: Attention, keras: bool, kinit, binit) -> None:
    """PyTorch: nn.MultiheadAttention's own _reset_parameters (in_proj xavier_uniform, biases 0) after
    its out_proj's nn.Linear reset, or each nn.Linear's of the Llama-style layout. Keras: each of the
    q, k, v and output matrices glorot_uniform over its own (in, out) fans (EinsumDense's input and
    output axes), biases 0. A spec's init/bias_init wins: on the fused in_proj_weight as one tensor."""
    body = att.body
    if att.fused:
        body.out_proj.reset_parameters()
        body._reset_parameters()
        if body._qkv_same_embed_dim:
            d = body.embed_dim
            kernels = [body.in_proj_weight[i * d : (i + 1) * d] for i in range(3)] if keras and kinit is None else [
                body.in_proj_weight]  # fmt: skip
        else:
            kernels = [body.q_proj_weight, body.k_proj_weight, body.v_proj_weight]
        kernels.append(body.out_proj.weight)
        biases = [b for b in (body.in_proj_bias, body.out_proj.bias) if b is not None]
    else:
        linears = (body.q_proj, body.k_proj, body.v_proj, body.o_proj)
        for lin in linears:
            lin.reset_parameters()
        kernels = [lin.weight for lin in linears]
        biases = [lin.bias for lin in linears if lin.bias is not None]
    with torch.no_grad():
        if kinit is not None or keras:
            for w in kernels:
                if kinit is None:
                    nn.init.xavier_uniform_(w)
                else:
                    init_tensor(w, kinit, "kernel", keras)
        if binit is not None or keras:
            for b in biases:
                init_tensor(b, binit, "bias", keras)


def _reinit_recurrent(node, rnn: nn.Module, keras: bool, kinit, rinit, binit) -> None:
    """A torch LSTM/GRU/RNN drawn as the convention's: PyTorch's reset_parameters (everything
    U(±1/√h)); Keras's glorot_uniform input kernel (torch's weight_ih (gates·u, n_in) has Keras's fans),
    orthogonal recurrent kernel (torch's weight_hh is Keras's (u, gates·u) transposed: orthonormal
    columns), zero biases with the LSTM's forget slice 1 (unit_forget_bias; torch's gate order i, f, g, o
    is Keras's) in bias_ih and bias_hh 0. A spec's own init/recurrent_init/bias_init wins."""
    rnn.reset_parameters()
    with torch.no_grad():
        for name, t in rnn.named_parameters():
            if name.startswith("weight_ih") and (kinit is not None or keras):
                init_tensor(t, kinit, "kernel", keras)
            elif name.startswith("weight_hh") and (rinit is not None or keras):
                init_tensor(t, rinit or _ORTHOGONAL, "recurrent_kernel", keras)
            elif name.startswith("bias") and (binit is not None or keras):
                init_tensor(t, binit, "bias", keras)
                if keras and binit is None and isinstance(rnn, nn.LSTM) and name.startswith("bias_ih"):
                    u = rnn.hidden_size
                    t[u : 2 * u] = 1.0


class _Orthogonal:
    name, params = "orthogonal", {"gain": 1.0}


_ORTHOGONAL = _Orthogonal()


def sample_input(inp, batch: int, channels_last: bool, dtype, vocab: int | None = None) -> torch.Tensor:
    """A batch from the input's stats: mean/std (a number or one per channel) → normal; a range
    (without mean/std) → uniform; nothing → N(0, 1); token ids (an integer input read by an
    embedding of `vocab` rows) uniform over the vocabulary. Correlated inputs are not drawn here."""
    if inp.dtype in INT_DTYPES:
        if vocab is None:
            raise OracleError("integer inputs are measured only when an embedding reads them")
        return torch.randint(0, vocab, (batch, *inp.shape))
    st = inp.stats or {}
    if st.get("correlation"):
        raise OracleError("correlated inputs are not drawn by this harness")
    shape = (batch, *inp.shape)
    if "range" in st and "mean" not in st and "std" not in st:
        lo, hi = st["range"]
        return torch.rand(shape, dtype=dtype) * (hi - lo) + lo
    mean = torch.as_tensor(st.get("mean", 0.0), dtype=dtype)
    std = torch.as_tensor(st.get("std", 1.0), dtype=dtype)
    if mean.dim() or std.dim():
        ax = len(shape) - 1 if channels_last else 1
        view = [1] * len(shape)
        view[ax] = -1
        mean, std = mean.reshape(view if mean.dim() else ()), std.reshape(view if std.dim() else ())
    return mean + std * torch.randn(shape, dtype=dtype)


class TorchNet:
    """The graph's nodes as torch modules (tests/torch_oracle.py's builders), in training mode."""

    def __init__(self, graph, dtype=torch.float32) -> None:
        self.graph = graph
        self.dtype = dtype
        self.keras = graph.convention == "keras"
        self.modules: dict[str, tuple] = {}
        self.vocab = {n.inputs[0]: n.args["vocab"] for n in graph.nodes if n.op == "embedding" and len(n.inputs) == 1}
        xs = {inp.name: self._sample(inp, 2) for inp in graph.inputs}
        for node in graph.nodes:
            ins = [xs[n] for n in node.inputs]
            if node.op in MERGE_OPS:
                module, weighted = build_merge(node, graph.channels_last), None
            else:
                if len(ins) != 1 and node.op != "attention":
                    raise OracleError(f"{node.op} with {len(ins)} inputs")
                module, weighted = build_module(node, ins[0], graph.channels_last, graph.layout, self.keras,
                                                tuple(ins[1:]))  # fmt: skip
            if isinstance(weighted, nn.Sequential) and isinstance(weighted[0], WEIGHTED):
                weighted = weighted[0]  # a projection shortcut: its 1×1 conv (its batchnorm starts at γ 1, β 0)
            if weighted is not None and not isinstance(weighted, (*WEIGHTED, *RECURRENT_MODULES, Attention)):
                raise OracleError(f"no weight initialisation for {node.op} here")
            module = module.to(dtype).train()
            self.modules[node.name] = (node, module, weighted)
            with torch.no_grad():
                xs[node.name] = module(ins) if node.op in MERGE_OPS else module(*ins)

    def _sample(self, inp, batch: int) -> torch.Tensor:
        return sample_input(inp, batch, self.graph.channels_last, self.dtype, self.vocab.get(inp.name))

    def run(self, seed: int, batch: int) -> dict:
        """One weight seed: name -> (mean y², mean (∂L/∂y)²)."""
        torch.manual_seed(seed)
        for node, _, weighted in self.modules.values():
            if weighted is not None:
                reinit(node, weighted, self.keras)
        xs = {inp.name: self._sample(inp, batch) for inp in self.graph.inputs}
        for node, module, _ in self.modules.values():
            ins = [xs[n] for n in node.inputs]
            y = module(ins) if node.op in MERGE_OPS else module(*ins)
            y.retain_grad()
            xs[node.name] = y
        loss = sum((xs[o] * torch.randn_like(xs[o])).sum() for o in self.graph.outputs)
        loss.backward()
        out = {}
        for name in self.modules:
            y = xs[name]
            g = y.grad if y.grad is not None else torch.zeros_like(y)
            out[name] = (float((y.detach() ** 2).mean()), float((g**2).mean()))
        return out


@dataclass
class Row:
    name: str
    op: str
    forward: Figure
    backward: Figure


def measure(analysis, seeds: int = 100, batch: int = 64) -> list[Row]:
    """netcalc's prediction (at this batch) beside torch's measurement over `seeds` weight seeds."""
    from netcalc.signal import propagate

    graph = analysis.graph
    report = propagate(analysis, batch=batch)
    net = TorchNet(graph)
    runs = [net.run(seed, batch) for seed in range(seeds)]
    ftol, ftag, btol, btag = rule_tolerances(graph, report.layers)
    all_fwd = max(ftol.values(), default=0.0)
    all_tags = set().union(*ftag.values()) if ftag else set()
    rows = []
    for s in report.layers:
        name = s.node.name
        elements = batch * math.prod(s.row.out_shape)
        fwd = Figure(s.q, [r[name][0] for r in runs], ftol[name], _worst(ftag[name]), elements)
        tol = math.hypot(all_fwd, btol.get(name, 0.0))
        bwd = Figure(s.r_mean, [r[name][1] for r in runs], tol, _worst(btag.get(name, set()) | all_tags), elements)
        rows.append(Row(name, s.node.op, fwd, bwd))
    return rows


def _worst(tags) -> str:
    order = {"E": 0, "MF": 1, "A": 2}
    return max(tags, key=lambda t: order[t]) if tags else "E"


def table(rows: list[Row]) -> str:
    """The comparison as text: predicted, measured ± its standard error, the tolerance, agreement."""
    lines = [f"{'layer':16} {'op':10} {'fwd pred':>10} {'measured':>10} {'tol':>6} ok  "
             f"{'bwd pred':>10} {'measured':>10} {'tol':>6} ok"]  # fmt: skip

    def fig(f: Figure) -> str:
        mark = {True: "✓", False: "✗", None: "·"}[f.ok]
        return f"{f.predicted:10.4g} {f.measured:10.4g} {math.expm1(f.tolerance):6.1%} {mark} "

    for r in rows:
        lines.append(f"{r.name:16} {r.op:10} {fig(r.forward)} {fig(r.backward)}")
    return "\n".join(lines)


def false_alarms(analysis, rows: list[Row], batch: int, band: float = 10.0) -> list[str]:
    """lint's W301/W302 where the measured growth is inside the band: netcalc's growth over the net
    (SignalReport.growth, lint's default band 10×) against the same ratio of torch's figures — forward
    E[x²] at the span's end over its first weighted layer, backward the gradient's squared norm per
    sample (E[g²] × elements) at the first trainable weighted layer over the end's, the averaging layers
    on the way counted at their forward gain as netcalc counts them (`by_construction`)."""
    from netcalc.signal import propagate

    report = propagate(analysis, batch=batch)
    by = {r.name: r for r in rows}
    (first, last), (top, end) = report.span(), report.span(backward=True)
    fwd, bwd = report.growth()
    found = []
    if first is not None and by[first.node.name].forward.measured > 0:
        measured = by[last.node.name].forward.measured / by[first.node.name].forward.measured
        found.append(("W301", fwd, measured))
    if top is not None and by[end.node.name].backward.measured > 0:
        norm = {s.node.name: by[s.node.name].backward.measured * math.prod(s.row.out_shape) for s in (top, end)}
        measured = norm[top.node.name] / norm[end.node.name] * report.by_construction(top, end)
        found.append(("W302", bwd, measured))
    return [
        f"{code} fires ({predicted:.3g}× predicted) where torch measures {measured:.3g}×"
        for code, predicted, measured in found
        if math.isfinite(predicted) and not 1 / band <= predicted <= band and 1 / band <= measured <= band
    ]
