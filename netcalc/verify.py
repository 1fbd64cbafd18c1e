"""`netcalc verify`: what the analytic engine predicts beside what the NumPy executor measures.

Shapes, parameter tensors (name, shape, count, trainable, kind) and MACs must agree exactly. The
second moments are compared after averaging over several weight seeds: the prediction is an
expectation over the weight draw, and one network differs from the next. The tolerance of a
figure follows how exact the rules behind it are (the tags of ../shared/docs/signal-propagation.md):

- [E] exact in expectation: only sampling error is allowed;
- [MF] mean-field: 10 % per rule; [A] approximation: 25 % per rule;

accumulated in quadrature (in log space) along the way the signal travels — a layer's forward
figure carries the tolerances of every rule before it, its backward figure those of every rule
after it, plus the forward ones the backward rules use. Sampling error: the standard error of the
mean over seeds (from their spread, at least one run's own √(2/N) over its N elements) times
Student's t at 99.7 % for that many seeds (3 for many seeds, 18 for three), plus 2 % for
quadrature and float32 sums. A single seed has no spread to measure: its standard error is the
spread one network is predicted to have over the weight draw (`draw_spread`), times 3.
"""

from __future__ import annotations

import math
from math import prod

RULE_TOLERANCE = {"E": 0.0, "MF": math.log(1.10), "A": math.log(1.25)}
FLOOR = math.log(1.02)
# one seed: a figure whose predicted spread over the weight draw (the log's standard deviation,
# `draw_spread`) is over 0.7 rests on fewer than about 10 independent units (a 1-unit head: one χ²₁
# draw, below 1/100 of its mean 8 % of the time): not compared
FEW_DRAWS = 0.7
# Student's t at 99.7 % two-sided (the "3 standard errors" of a normal) by degrees of freedom:
# with a few seeds the spread itself is uncertain, and the allowance widens accordingly
T_CRIT = {1: 212.2, 2: 18.22, 3: 8.891, 4: 6.435, 5: 5.335, 6: 4.733, 7: 4.355, 8: 4.097, 9: 3.909, 10: 3.766,
          15: 3.402, 20: 3.251, 30: 3.119}  # fmt: skip


def t_crit(df: int) -> float:
    if df <= 0:
        return 3.0
    for k in sorted(T_CRIT):
        if df <= k:
            return T_CRIT[k]
    return 2.97


class Figure:
    """One compared moment: predicted, the measurements over seeds, the tolerance applied."""

    __slots__ = ("measured", "ok", "predicted", "spread", "tag", "tolerance")

    def __init__(self, predicted: float, samples: list[float], rule_tol: float, tag: str, elements: int = 0,
                 draw: float = 0.0) -> None:  # fmt: skip
        self.predicted = predicted
        self.tag = tag
        finite = [v for v in samples if v is not None and math.isfinite(v)]
        n = len(finite)
        mean = sum(finite) / n if n else float("nan")
        self.measured = mean
        # one run's own sampling error: a Gaussian second moment over N elements has √(2/N)
        within = math.sqrt(2 / elements) if elements else 0.0
        if n > 1 and mean > 0:
            var = sum((v - mean) ** 2 for v in finite) / (n - 1)
            self.spread = math.sqrt(var) / mean  # relative spread of one network
            se = max(self.spread, within) / math.sqrt(n)
            k = t_crit(n - 1)
            sampling = math.log1p(k * se)
        else:  # one network: its predicted spread over the weight draw (`draw_spread`, the standard deviation
            # of the log: a deep stack multiplies its layers' draws) stands for the seeds'
            self.spread = float("nan")
            sampling = max(math.log1p(3.0 * within), 3.0 * draw)
        self.tolerance = rule_tol + FLOOR + sampling
        self.ok = _agree(predicted, mean, self.tolerance)
        if n <= 1 and draw > FEW_DRAWS:
            self.ok = None  # one network's figure rests on a few units' draws: χ² tails, not comparable

    def to_json(self) -> dict:
        return {
            "predicted": _clean(self.predicted),
            "measured": _clean(self.measured),
            "spread": _clean(self.spread),
            "tolerance": _clean(math.expm1(self.tolerance)),
            "tag": self.tag,
            "ok": self.ok,
        }


def _agree(pred: float, meas: float, tol: float) -> bool | None:
    if pred is None or not math.isfinite(pred) or not math.isfinite(meas):
        return None  # nothing to compare (token ids)
    scale = max(abs(pred), abs(meas))
    if scale < 1e-300:
        return True
    if pred <= 0 or meas <= 0:
        return min(abs(pred), abs(meas)) <= 1e-12 * scale and max(abs(pred), abs(meas)) < 1e-30
    return abs(math.log(pred / meas)) <= tol


def _clean(x):
    return None if x is None or not math.isfinite(x) else float(x)


class LayerCheck:
    __slots__ = ("backward", "forward", "macs", "name", "op", "shape", "tensors")

    def __init__(self, name: str, op: str) -> None:
        self.name, self.op = name, op
        self.shape = self.tensors = self.macs = None  # (predicted, measured, ok)
        self.forward: Figure | None = None
        self.backward: Figure | None = None

    @property
    def ok(self) -> bool:
        exact = all(c is None or c[2] for c in (self.shape, self.tensors, self.macs))
        moments = all(f is None or f.ok is not False for f in (self.forward, self.backward))
        return exact and moments

    def failures(self) -> list[str]:
        out = []
        for what, c in (("output shape", self.shape), ("parameter tensors", self.tensors), ("MACs", self.macs)):
            if c is not None and not c[2]:
                out.append(f"{self.name}: {what} predicted {_show(c[0])}, measured {_show(c[1])}")
        for what, f in (("forward E[x²]", self.forward), ("backward E[g²]", self.backward)):
            if f is not None and f.ok is False:
                out.append(
                    f"{self.name}: {what} predicted {f.predicted:.4g}, measured {f.measured:.4g} "
                    f"(spread {_pct(f.spread)} per seed; tolerance {_pct(math.expm1(f.tolerance))}, rules up to "
                    f"[{f.tag}])"
                )
        return out

    def to_json(self) -> dict:
        def exact(c):
            if c is None:
                return None
            return {"predicted": _jsonable(c[0]), "measured": _jsonable(c[1]), "ok": c[2]}

        return {
            "name": self.name,
            "op": self.op,
            "output_shape": exact(self.shape),
            "tensors": exact(self.tensors),
            "macs": exact(self.macs),
            "forward_second_moment": self.forward.to_json() if self.forward else None,
            "backward_second_moment": self.backward.to_json() if self.backward else None,
            "ok": self.ok,
        }


def _jsonable(v):
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    return v


def _show(v) -> str:
    if isinstance(v, tuple) and v and isinstance(v[0], tuple):
        return ", ".join(f"{t[0]} {'×'.join(map(str, t[1]))}" for t in v)
    if isinstance(v, tuple):
        return "×".join(map(str, v))
    return f"{v:,}" if isinstance(v, int) else str(v)


def _pct(x: float) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:.1%}"


def _worst(tags) -> str:
    order = {"E": 0, "MF": 1, "A": 2}
    return max(tags, key=lambda t: order[t]) if tags else "E"


def rule_tolerances(graph, layers) -> tuple[dict, dict, dict, dict]:
    """(forward tolerance, forward tags, backward tolerance, backward tags) by tensor name, in log
    space: a layer's output carries the rules before it (quadrature, its worst input; an input read
    as a named extra output, `enc.h` or `b.enc.h` in a block use, is the producing layer's), and
    the gradient at a tensor carries the rules after it (its worst reader; what a layer sends back
    carries the rules after every one of its outputs, the named extra ones included). `layers`: the
    signal report's, in graph order."""
    ftol: dict[str, float] = {inp.name: 0.0 for inp in graph.inputs}
    ftag: dict[str, set] = {inp.name: set() for inp in graph.inputs}
    for s in layers:
        sources = [graph.producer(n) for n in s.node.inputs]
        prev = max((ftol.get(p, 0.0) for p in sources), default=0.0)
        ftol[s.node.name] = math.hypot(prev, RULE_TOLERANCE[s.fwd_tag])
        tags = set().union(*(ftag.get(p, set()) for p in sources))
        ftag[s.node.name] = tags | {s.fwd_tag}
    btol: dict[str, float] = {}
    btag: dict[str, set] = {}
    for s in reversed(layers):
        outputs = [s.node.name, *map(s.node.output, s.node.states)]
        mine = max(btol.get(o, 0.0) for o in outputs)
        tags = set().union(*(btag.get(o, set()) for o in outputs))
        after = math.hypot(mine, RULE_TOLERANCE[s.bwd_tag])
        for n in s.node.inputs:
            btol[n] = max(btol.get(n, 0.0), after)
            btag[n] = btag.get(n, set()) | tags | {s.bwd_tag}
    return ftol, ftag, btol, btag


def draw_spread(graph, layers, batch: int) -> tuple[dict, float]:
    """The relative spread of one network's figures over the weight draw and the input batch, predicted
    (it stands for the seeds' spread when a run has one seed): (forward by tensor name, backward for
    every tensor). A weighted layer's C output units each compute E[y²] = wᵀΣw over the second moments
    Σ of its n inputs. The fraction m of E[x²] that is the channels' common mean (the input's mfrac:
    1/π after a ReLU, near 1 deep in a ReLU stack, where every sample points the same way) is one
    direction of Σ, so each unit's y is one Gaussian draw over the weights, and a ReLU of it has
    relative variance E[relu⁴]/E[relu²]² − 1 = 5 (Hanin & Nica 2019's 5/n per layer): 5m²/C over the
    C units (an upper bound for the weighted layer's own output, 2m²/C, and for tanh); the rest,
    spread over n independent directions and seen in the B·P values of a batch (P positions), has
    tr(Σ̂²)/tr(Σ̂)² ≈ 1/n + 1/(B·P): 5(1 − m)²/(B·P·C) + 2(1 − m)²/W with W = n·C weights. A bias, a fraction f of
    E[y²], shifts each unit by its own b: a ReLU after it moves by 2b·s·φ(0) (s² the rest of E[y²]),
    (8/π)·f/C in relative variance. An input's own sampling adds 2/N over its N = batch × elements
    values. The variances add along the way forward (a layer's draw scales every figure after it); a
    backward figure carries every weighted layer's."""
    var: dict[str, float] = {}
    for inp in graph.inputs:
        n = batch * prod(inp.shape)
        var[inp.name] = 0.0 if inp.dtype.startswith("int") or not n else 2 / n
    sig = {s.node.name: s for s in layers}
    total = max(var.values(), default=0.0)
    for s in layers:
        sources = [graph.producer(n) for n in s.node.inputs]
        own = 0.0
        weights = sum(t.count for t in s.row.tensors if t.kind in ("param", "shared") and len(t.shape) >= 2)
        if s.info.init and weights and s.node.inputs and s.row.out_shape:
            src = sig.get(sources[0])
            m = src.out.mfrac if src is not None else 0.0
            shape = s.row.out_shape
            units = shape[-1 if graph.channels_last or len(shape) == 1 else 0]
            f = s.info.bias_fraction or 0.0
            positions = max(batch * prod(shape) // max(units, 1), 1)
            own = (5 * (m**2 + (1 - m) ** 2 / positions) + 8 / math.pi * f) / max(units, 1) + 2 * (1 - m) ** 2 / weights
        var[s.node.name] = max((var.get(p, 0.0) for p in sources), default=0.0) + own
        total += own
    return {k: math.sqrt(v) for k, v in var.items()}, math.sqrt(total)


def compare(analysis, report, runs: list) -> list[LayerCheck]:
    """One LayerCheck per node: exact figures from the first run, moments over all runs.

    Where an activation after a layer is saturated for (nearly) every input, the gradients the
    executor measures underflow to exactly 0 (σ'(10⁷) is 0 in floating point) while the prediction
    is an expectation carried by the rare inputs near 0: such a backward figure is not compared."""
    saturated = any((s.info.saturation or (0,))[0] > 0.99 for s in report.layers)
    graph = analysis.graph
    sig = report.by_name
    ftol, ftag, btol, btag = rule_tolerances(graph, report.layers)
    all_fwd = max(ftol.values(), default=0.0)
    all_tags = set().union(*ftag.values()) if ftag else set()
    checks = []
    first = runs[0]
    fdraw, bdraw = draw_spread(graph, report.layers, first.batch)
    rows = {row.node.name: row for row in analysis.rows}
    for node in graph.nodes:
        row = rows.get(node.name)
        rec = first.nodes.get(node.name)
        c = LayerCheck(node.name, node.op)
        if row is None or not row.ok or rec is None:
            checks.append(c)
            continue
        c.shape = (tuple(row.out_shape), tuple(rec.out_shape), tuple(row.out_shape) == tuple(rec.out_shape))
        pt = tuple((t.name, tuple(t.shape), t.count, t.trainable, t.kind) for t in row.tensors)
        mt = tuple((t["name"], tuple(t["shape"]), t["count"], t["trainable"], t["kind"]) for t in rec.tensors)
        c.tensors = (pt, mt, pt == mt)
        c.macs = (row.macs, rec.macs, row.macs == rec.macs)
        s = sig.get(node.name)
        if s is not None:
            fwd = [r.nodes[node.name].forward["second_moment"] for r in runs]
            elements = first.batch * prod(rec.out_shape)
            c.forward = Figure(s.q, fwd, ftol[node.name], _worst(ftag[node.name]), elements, fdraw[node.name])
            bwd = [r.nodes[node.name].backward["second_moment"] for r in runs]
            tol = math.hypot(all_fwd, btol.get(node.name, 0.0))
            c.backward = Figure(s.r_mean, bwd, tol, _worst(btag.get(node.name, set()) | all_tags), elements, bdraw)
            if saturated and all(v == 0 for v in bwd) and s.r_mean > 0:
                c.backward.ok = None  # underflow: see `compare`'s docstring
        checks.append(c)
    return checks


# --------------------------------------------------------------------------- before the runs


def set_inputs(graph, mean: float | None = None, std: float | None = None, correlation: float | None = None) -> None:
    """The input distribution given on the command line (--input-mean, --input-std,
    --input-correlation), over each input's own: for the prediction and the runs alike. A mean or
    std given replaces a written range."""
    for inp in graph.inputs:
        if mean is not None or std is not None:
            inp.stats.pop("range", None)
        for key, value in (("mean", mean), ("std", std), ("correlation", correlation)):
            if value is not None:
                inp.stats[key] = value


def memory_problem(graph, batch: int, dtype: str, limit: int, limit_text: str) -> str | None:
    """Why the runs are refused (the executor's estimate is over --max-memory `limit`, written
    `limit_text`), with the limit that would do; None when they fit."""
    from .executor.run import estimate_memory

    need = estimate_memory(graph, batch, dtype)
    if need <= limit:
        return None
    enough = 2 ** math.ceil(math.log2(need / 1e9 + 1e-9))
    return (f"{graph.name} at batch {batch} in {dtype} needs about {need / 1e9:.2f} GB, more than --max-memory "
            f"{limit_text}; raise it (--max-memory {enough}GB) or lower --batch")  # fmt: skip


def run_meta(graph, batch: int, seeds: int, dtype: str) -> dict:
    """What the report and --save state about the runs: the network, batch, seeds, dtype, mode and inputs."""
    return {"name": graph.name, "file": graph.file, "batch": batch, "seeds": seeds, "dtype": dtype, "mode": "train",
            "inputs": {inp.name: dict(inp.stats.items()) for inp in graph.inputs}}  # fmt: skip


def save_runs(path, meta: dict, runs: list) -> None:
    """--save: the runs' measured per-layer statistics with `meta` (run_meta) as JSON; OSError when
    the file cannot be written."""
    import json

    doc = {**meta, "runs": [r.to_dict() for r in runs]}
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
