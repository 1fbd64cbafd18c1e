"""`netcalc signal`'s advice: the growth warnings (W301, W302) with the layer that contributes most
and what would correct it, saturation (W303) and constant initialisation (W304), from a
signal.SignalReport (moved out of signal.py whole; signal re-exports `advise`).
"""

from __future__ import annotations

import itertools
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


def _culprit(report, path, growing: bool, backward: bool):
    """The checkpoint (a weighted layer or a residual add: where pre-activations are formed) whose
    step from the previous checkpoint moves furthest in the direction of the total growth —
    He et al.'s per-layer factor, activation and pooling in between included."""
    checkpoints = [s for s in path if s.info.init or s.row.ltype.joins == "sum"]
    if len(checkpoints) < 2:
        return (checkpoints or path)[0], float("nan")
    best, best_log, best_step = checkpoints[1], -math.inf, float("nan")
    for prev, cur in itertools.pairwise(checkpoints):
        if backward:
            step = prev.r_norm / cur.r_norm * report.by_construction(prev, cur) if cur.r_norm > 0 else float("nan")
        else:
            step = cur.q / prev.q if prev.q > 0 else float("nan")
        if not math.isfinite(step) or step <= 0:
            continue
        lg = math.log(step) if growing else -math.log(step)
        if lg > best_log + 1e-9:
            best, best_log, best_step = cur, lg, step
    return best, best_step


def bgain(s) -> float:
    """How much the gradient's squared norm grows going back through this layer."""
    from math import prod

    if not s.r_in or s.r_norm <= 0:
        return float("nan")
    norm_in = sum(float(np.mean(r)) * prod(shape) for r, shape in zip(s.r_in, s.row.in_shapes, strict=False)
                  if r is not None)  # fmt: skip
    return norm_in / s.r_norm


def _warn(report, diags, code, direction, growth, band, found, first, last) -> None:
    culprit, step = found
    keras = report.analysis.graph.convention == "keras"
    way = (f"from {first.node.name} to {last.node.name}" if direction == "forward"
           else f"from {last.node.name} back to {first.node.name}")  # fmt: skip
    head = (f"the {direction} second moment {'grows' if growth > 1 else 'shrinks'} {_times(growth)} {way} "
            f"(band {band:g}× either way); the largest step is at {culprit.node.name} ({culprit.node.op})")  # fmt: skip
    if math.isfinite(step):
        head += f", {_times(step)} from the previous weighted layer"
    if culprit.info.init:
        fed_by = _activation_before(report, culprit)
        before = fed_by.node.op if fed_by else None
        pick = fed_by.row.ltype.suggested_init if fed_by else NO_NONLINEARITY_INIT
        name = pick[0] if keras else pick[1]
        now = culprit.info.init.get("init") or next(iter(culprit.info.init.values()), "the default")
        fed = f"fed by {before}" if before else "with no nonlinearity before it"
        lsuv = 1 / math.sqrt(culprit.q) if culprit.q > 0 else float("nan")
        fix = 1 / math.sqrt(step) if direction == "forward" and math.isfinite(step) and step > 0 else None
        if _same_init(now, pick):  # the init suits its input already: the step comes from what lies between
            tail = (f": its init is {now}, {fed}, which suits it already: the step comes from the layers "
                    "between (pooling, a sum, the input's statistics)")  # fmt: skip
            if fix is not None:
                tail += f"; scaling its weights by {fix:.3g} corrects it"
        else:
            tail = f": its init is {now}, {fed}; {name} keeps the step near 1"
            if fix is not None:
                tail += f" (or scale its weights by {fix:.3g})"
        tail += f"; LSUV would scale them by 1/√q = {lsuv:.3g} to give its output E[x²] = 1"
    else:
        reason = culprit.row.ltype.growth_reason
        tail = f": {reason}" if reason else ""
        tail += "; zero-initialise the last layer of each branch (Fixup, SkipInit) or normalise inside it"
    diags.warning(code, head + tail, culprit.node.loc, layer=culprit.node.name)


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
