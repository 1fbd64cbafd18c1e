"""`netcalc signal`'s advice: the growth warnings (W301, W302) with the layer that contributes most
and what would correct it, saturation (W303) and constant initialisation (W304), from a
signal.SignalReport (moved out of signal.py whole; signal re-exports `advise`).
"""

from __future__ import annotations

import math

import numpy as np

from . import initializers as inits
from .signal_rules import LOGIT_STD, SATURATED

# the initialiser (Keras, PyTorch) for a weighted layer fed by no nonlinearity (an activation's own is
# its `suggested_init` trait)
NO_NONLINEARITY_INIT = ("glorot_uniform", "xavier_uniform")


def advise(report, band: float, diags) -> None:
    """Findings: the forward (W301) or backward (W302) growth over the net outside [1/band, band],
    naming the layer that contributes most, the initialiser that keeps it near 1 and LSUV's
    factor 1/√q; saturating sigmoid/tanh/softmax inputs (W303); constant weight initialisation
    (W304), except where a zero start is the point (the last layer of a residual branch: Fixup,
    SkipInit; a network output)."""
    first, last = report.span()
    if first is None:
        return
    fwd, bwd = report.growth()
    on_path = report.ancestors([last.node.name])
    order = {id(t): i for i, t in enumerate(report.layers)}  # once: per layer it made advise quadratic
    lo, hi = order[id(first)], order[id(last)]
    path = [s for s in report.layers if s.node.name in on_path and (first.row is s.row or lo <= order[id(s)] <= hi)]
    if math.isfinite(fwd) and not (1 / band <= fwd <= band):
        _warn(report, diags, "W301", "forward", fwd, band, _culprit(report, path, fwd > 1, False), first, last)
    if math.isfinite(bwd) and not (1 / band <= bwd <= band):
        top, _ = report.span(backward=True)  # below the first trainable layer, no gradient is needed
        path = [s for s in path if top is first or top.row is s.row or order[id(top)] <= order[id(s)]]
        _warn(report, diags, "W302", "backward", bwd, band, _culprit(report, path, bwd > 1, True), top, last)
    readers = _readers(report)
    outputs = set(report.analysis.graph.outputs)
    for s in report.layers:
        sat = s.info.saturation
        if sat and sat[0] > SATURATED:
            frac, t, dgain = sat
            diags.warning(
                "W303",
                f"{s.node.name}: {s.node.op} saturates: {frac:.0%} of its inputs lie beyond ±{t:g} (input second "
                f"moment {s.q_in:.3g}); its backward gain E[φ'²] is {dgain:.3g}",
                s.node.loc,
                layer=s.node.name,
            )
        if s.info.softmax_saturation is not None and s.info.logit_std > LOGIT_STD:
            diags.warning(
                "W303",
                f"{s.node.name}: softmax saturates: logit std {s.info.logit_std:.3g} (> 3), the largest "
                f"probability exceeds 0.9 in {s.info.softmax_saturation:.0%} of samples at initialisation",
                s.node.loc,
                layer=s.node.name,
            )
        intended = _feeds_output_or_add(s, readers, outputs)
        for what in s.info.constant or []:
            if intended:
                continue
            diags.warning(
                "W304",
                f"{s.node.name}: constant initialisation ({what}): all its units start identical and only the "
                "layers after it can tell them apart (zero weights before a ReLU pass no gradient at all)",
                s.node.loc,
                layer=s.node.name,
            )


def _feeds_output_or_add(s, readers, outputs) -> bool:
    """A zero start is intended for the last layer of a residual branch (it feeds an add) and for
    an output layer, also through its own activation."""
    cur = s
    for _ in range(3):
        if cur.node.name in outputs:
            return True
        nxt = readers.get(cur.node.name, [])
        if any(t.row.ltype.joins == "sum" for t in nxt):
            return True
        if len(nxt) != 1 or not nxt[0].row.ltype.activation:
            return False
        cur = nxt[0]
    return False


def _readers(report) -> dict:
    """The layers reading each layer's (main) output, by its name."""
    graph, by_name = report.analysis.graph, report.by_name
    return {s.node.name: [by_name[n.name] for n in graph.readers(s.node.name) if n.name in by_name]
            for s in report.layers}  # fmt: skip


def _checkpoint(s) -> bool:
    """Where pre-activations are formed: a weighted layer or a residual sum."""
    return bool(s.info.init) or s.row.ltype.joins == "sum"


def _chain(report, s) -> tuple:
    """(the checkpoint before `s` along its (first) input, the layers after it up to `s`, in order):
    the layers a step is made of. None for a source (an embedding reads token ids, so its output is
    the network's input statistics, not a step)."""
    by_name, chain, cur = report.by_name, [s], s
    for _ in range(64):
        prev = by_name.get(_stream(report, cur)) if cur.node.inputs else None
        if prev is None:
            return None, chain[::-1]
        if _checkpoint(prev):
            return prev, chain[::-1]
        chain.append(prev)
        cur = prev
    return None, chain[::-1]


def _stream(report, s) -> str:
    """The input a step is measured from: a residual sum's skip (the input the other branches start
    from), else the first."""
    inputs, graph = s.node.inputs, report.analysis.graph
    if s.row.ltype.joins == "sum":
        for name in inputs:
            if all(graph.reaches(name, other) for other in inputs if other != name):
                return name
    return inputs[0]


def _factor(report, t, backward: bool) -> float:
    """One layer's share of a step: its forward gain, or how much the gradient's norm grows going
    back through it (an averaging layer at its forward gain: SignalReport.by_construction)."""
    if not backward or t.row.ltype.averages:
        return t.gain
    return bgain(t)


def _culprit(report, path, growing: bool, backward: bool):
    """The checkpoint (a weighted layer or a residual add: where pre-activations are formed) whose
    step from the checkpoint before it on its input's path moves furthest in the direction of the
    total growth — He et al.'s per-layer factor, activation and pooling in between included:
    (culprit, step, the checkpoint before it, the layers of the step)."""
    on_path = {id(s) for s in path}
    best, best_log = None, -math.inf
    for cur in path:
        if not _checkpoint(cur):
            continue
        prev, chain = _chain(report, cur)
        if prev is None or id(prev) not in on_path or any(t.row.ltype.normalises for t in chain):
            continue  # a source (its output is the input's statistics) or a rescaling by construction
        if backward:
            step = prev.r_norm / cur.r_norm * report.by_construction(prev, cur) if cur.r_norm > 0 else float("nan")
        else:
            step = cur.q / prev.q if prev.q > 0 else float("nan")
        if not math.isfinite(step) or step <= 0:
            continue
        lg = math.log(step) if growing else -math.log(step)
        if lg > best_log + 1e-9:
            best, best_log = (cur, step, prev, chain), lg
    if best is None:
        checkpoints = [s for s in path if _checkpoint(s)]
        return (checkpoints or path)[0], float("nan"), None, []
    return best


def bgain(s) -> float:
    """How much the gradient's squared norm grows going back through this layer."""
    from math import prod

    if not s.r_in or s.r_norm <= 0:
        return float("nan")
    norm_in = sum(float(np.mean(r)) * prod(shape) for r, shape in zip(s.r_in, s.row.in_shapes, strict=False)
                  if r is not None)  # fmt: skip
    return norm_in / s.r_norm


def _warn(report, diags, code, direction, growth, band, found, first, last) -> None:
    """The finding, with the cause named only where the step's per-layer figures show it (`_cause`),
    and advice only where applying it changes the growth (`_advice`): as words and as data."""
    culprit, step, prev, chain = found
    backward = direction == "backward"
    way = (
        f"from {last.node.name} back to {first.node.name}"
        if backward
        else f"from {first.node.name} to {last.node.name}"
    )
    head = (f"the {direction} second moment {'grows' if growth > 1 else 'shrinks'} {_times(growth)} {way} "
            f"(band {band:g}× either way)")  # fmt: skip
    if prev is None:  # no step between two weighted layers without a normalisation in it
        on_path = report.ancestors([last.node.name])
        if any(t.row.ltype.normalises for t in report.layers if t.node.name in on_path):
            head += (
                "; every step between weighted layers on the way passes a normalisation, which rescales by construction"
            )
        diags.warning(code, head, culprit.node.loc, layer=culprit.node.name, advice=[])
        return
    head += f"; the largest step is at {culprit.node.name} ({culprit.node.op}), {_times(step)} from {prev.node.name}"
    cause, blame_init = _cause(report, culprit, step, chain, backward)
    words, advice = _advice(report, culprit, step, growth, band, last, blame_init, backward)
    diags.warning(code, head + cause + words, culprit.node.loc, layer=culprit.node.name, advice=advice)


def _cause(report, culprit, step, chain, backward: bool) -> tuple[str, bool]:
    """What the step is made of, from the per-layer figures: the weighted layer with the activation
    its initialiser is meant for (He: ×2 after a ReLU's ×½), or another layer between (a pool, a
    sum, dropout). A part is named only when it makes at least half the step (in log terms);
    (words, whether the culprit's own initialiser is the cause)."""
    if not math.isfinite(step) or step <= 0 or not chain:
        reason = culprit.row.ltype.growth_reason
        return (f": {reason}" if reason else ""), False
    sign = 1.0 if step > 1 else -1.0
    total = sign * math.log(step)
    fed_by = _activation_before(report, culprit) if culprit.info.init else None
    own = [culprit] + ([fed_by] if fed_by is not None and any(t is fed_by for t in chain) else [])
    parts = [(own, _logf(report, own, backward))]
    parts += [([t], _logf(report, [t], backward)) for t in chain if all(t is not o for o in own)]
    who, lg = max(parts, key=lambda p: sign * p[1])
    if not math.isfinite(lg) or sign * lg < 0.5 * total:
        return "", False  # spread over several layers: no single cause to name
    f = math.exp(lg)
    if who[0] is culprit and not culprit.info.init:  # a residual sum's own step
        reason = culprit.row.ltype.growth_reason
        return f": the step is the sum's own ({_times(f)})" + (f": {reason}" if reason else ""), False
    if who[0] is culprit:
        now = culprit.info.init.get("init") or next(iter(culprit.info.init.values()), "the default")
        pick = fed_by.row.ltype.suggested_init if fed_by else NO_NONLINEARITY_INIT
        fed = f"fed by {fed_by.node.op}" if fed_by else "with no nonlinearity before it"
        pair = f"{_times(f)} with {fed_by.node.name} before it" if len(who) > 1 else f"{_times(f)} by itself"
        if _same_init(now, pick) or not culprit.row.ltype.linear:  # no initialiser to blame: the layer itself
            reason = culprit.row.ltype.growth_reason
            text = f": the step is the layer's own ({pair}); its init is {now}, {fed}"
            text += ", which suits it" if _same_init(now, pick) else ""
            return text + (f"; {reason}" if reason else ""), False
        return f": the step is the layer's own ({pair}): its init is {now}, {fed}", True
    t = who[0]
    reason = t.row.ltype.growth_reason
    return f": the step comes from {t.node.name} ({t.node.op}, {_times(f)})" + (f": {reason}" if reason else ""), False


def _logf(report, layers, backward: bool) -> float:
    total = 0.0
    for t in layers:
        f = _factor(report, t, backward)
        if not math.isfinite(f) or f <= 0:
            return float("nan")
        total += math.log(f)
    return total


def _advice(report, culprit, step, growth, band, last, blame_init, backward: bool) -> tuple[str, list]:
    """What changes the finding, as words and as data (`advice` in the JSON, each item with the
    layers, the initialiser to give them and the growth that results): at a linear layer, scaling its
    weights by 1/√step (what makes its step 1), the initialiser that keeps the step near 1 (for it,
    and for every layer initialised as it is), at a residual sum zeroing the last weighted layer of
    each branch. Each is applied (the graph's initialisers, then the signal again) and given only when
    it brings the growth at least 2× closer to 1, with the growth it gives. None where a
    normalisation after the layer (the `normalises` trait: batchnorm, layernorm, groupnorm) divides
    the scale out before the end: such advice would leave the finding as it was."""
    candidates: list = []  # (words, item without its growth)
    if culprit.row.ltype.joins == "sum":
        branches = _branch_ends(report, culprit)
        if branches:
            names = ", ".join(b.node.name for b in branches)
            candidates.append((f"zero-initialising the last layer of each branch ({names}: Fixup, SkipInit)",
                               {"action": "set_init", "layers": [b.node.name for b in branches], "init": "zeros"}))  # fmt: skip
    else:
        kernel = _kernel(report, culprit)
        if kernel is None or not math.isfinite(step) or step <= 0:
            return "", []
        norm = _normalised_after(report, culprit, last)
        if norm is not None:
            return (f"; {norm.node.name} ({norm.node.op}) after it divides its scale out, so neither its "
                    "initialiser nor scaling its weights changes the growth"), []  # fmt: skip
        now, _, mean, var = kernel
        if blame_init and report.override is None:
            fed_by = _activation_before(report, culprit)
            pick = fed_by.row.ltype.suggested_init if fed_by else NO_NONLINEARITY_INIT
            name = (pick[0] if report.analysis.graph.convention == "keras" else pick[1]).split(" ")[0]
            candidates.append((f"{name} for it", {"action": "set_init", "layers": [culprit.node.name], "init": name}))
            same = [
                t.node.name for t in report.layers if t is not culprit and (k := _kernel(report, t)) and k[0] == now
            ]
            if same:
                candidates.append((f"{name} for it and the {len(same)} other layers initialised as it is ({now.describe()})",
                                   {"action": "set_init", "layers": [culprit.node.name, *same], "init": name}))  # fmt: skip
        if var > 0:
            fix = 1 / math.sqrt(step)
            std = math.sqrt(var) * fix
            candidates.append((f"scaling its weights by {fix:.3g} (init: normal, std {std:.3g})",
                               {"action": "scale_weights", "layers": [culprit.node.name], "factor": fix,
                                "init": {"name": "normal", "mean": mean * fix, "std": std}}))  # fmt: skip
    words, advice = "", []
    for text, item in candidates:
        after = applied(report, item, backward)
        if not (math.isfinite(after) and after > 0 and abs(math.log(after)) < abs(math.log(growth)) - math.log(2)):
            continue
        inside = "inside the band" if 1 / band <= after <= band else "still outside the band"
        words += f"; {text} gives the growth {_times(after)}, {inside}"
        advice.append({**item, "growth": after})
    return words, advice


def init_spec(init) -> inits.InitSpec:
    """An advice item's initialiser (a name, or a mapping of a name and its parameters) as an InitSpec."""
    if isinstance(init, str):
        return inits.parse_name(init)
    return inits.parse_name(init["name"], {k: v for k, v in init.items() if k != "name"})


def applied(report, item: dict, backward: bool) -> float:
    """The growth (backward with `backward`) once the advice item's initialiser is the named layers'
    kernel initialiser, from the signal run again over the same graph (restored after)."""
    nodes = {n.name: n for n in report.analysis.graph.nodes}
    saved = {name: nodes[name].args.get("init") for name in item["layers"]}
    try:
        for name in item["layers"]:
            nodes[name].args["init"] = init_spec(item["init"])
        fwd, bwd = report.again().growth()
    finally:
        for name, spec in saved.items():
            if spec is None:
                nodes[name].args.pop("init", None)
            else:
                nodes[name].args["init"] = spec
    return bwd if backward else fwd


def _kernel(report, s):
    """(initialiser, shape, mean, variance) of a linear layer's kernel as the signal rules drew it
    (the --init override, the spec's, the framework's default); None for other layers and for a
    kernel that is another layer's (`tie:`, `shares:`)."""
    if not s.row.ltype.linear or s.node.tie or s.node.shares:
        return None
    kt = next((t for t in s.row.tensors if t.name.endswith(("kernel", "weight"))), None)
    if kt is None:
        return None
    graph = report.analysis.graph
    spec = report.override or s.node.args.get("init") or inits.InitSpec("default")
    if spec.name == "default":
        spec = inits.default_for("kernel", graph.convention, kt.shape)
    mean, var = inits.moments(spec, kt.shape, graph.convention == "keras")
    return spec, kt.shape, mean, var


def _normalised_after(report, s, last):
    """The normalising layer (`normalises`) that every path from `s` to `last` reaches before any
    weighted layer, sum or concatenation, so that it divides out a scale on s's weights; None when a
    path reaches `last` (or one of those) first, or `s` is `last`."""
    if s is last:
        return None
    readers = _readers(report)
    on_path = report.ancestors([last.node.name])
    found, todo, seen = None, [s], set()
    while todo:
        cur = todo.pop()
        for nxt in readers.get(cur.node.name, []):
            if nxt.node.name not in on_path or id(nxt) in seen:
                continue
            seen.add(id(nxt))
            if nxt.row.ltype.normalises:
                found = found or nxt
                continue
            if nxt is last or nxt.info.init or nxt.row.ltype.joins:
                return None
            todo.append(nxt)
    return found


def _branch_ends(report, add):
    """The last weighted layer of each branch into a residual sum that has one (not the identity
    skip), when none is followed by a normalisation (zeros into a batchnorm give γ·0/√ε, not a quiet
    branch); [] otherwise."""
    by_name, graph, ends = report.by_name, report.analysis.graph, []
    inputs = list(add.node.inputs)
    for name in inputs:
        if any(graph.reaches(name, other) for other in inputs if other != name):
            continue  # the skip: the branches start from it
        cur = by_name.get(name)
        for _ in range(8):
            if cur is None or cur.info.init or cur.row.ltype.normalises or cur.row.ltype.joins:
                break
            cur = by_name.get(cur.node.inputs[0]) if cur.node.inputs else None
        if cur is not None and cur.row.ltype.normalises:
            return []
        if cur is not None and cur.info.init and cur.row.ltype.linear and not cur.node.tie:
            ends.append(cur)
    return ends if len(ends) < len(add.node.inputs) else []  # every branch zero: the sum itself would be


def _same_init(now: str, pick: tuple) -> bool:
    """Whether the layer's initialiser (as described) is the one suggested for it (`pick`)."""
    spec = inits.parse_name(pick[0].split(" ")[0])
    return spec is not None and now == spec.describe()


def _activation_before(report, s):
    """The nonlinearity with a suggested initialiser that the layer's input went through last (skipping
    pooling, dropout, reshapes, a gate's product); None when a weighted layer, a sum or concatenation
    of branches or a normalisation comes first."""
    by_name = report.by_name
    cur = s
    for _ in range(6):
        if not cur.node.inputs:
            return None
        prev = by_name.get(cur.node.inputs[0])
        if prev is None:
            return None
        ltype = prev.row.ltype
        if ltype.suggested_init:
            return prev
        if prev.info.init or ltype.normalises or ltype.joins in ("sum", "concat"):
            return None
        cur = prev
    return None


def _times(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    return f"{x:.3g}×"
