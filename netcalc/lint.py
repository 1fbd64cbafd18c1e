"""`netcalc lint`: design rules over an analysed spec, for CI.

Every finding has a stable code, a severity and the spec line it points at. The rules here add to
what reading and analysing a spec already reports (errors E…, warnings W201–W203) and what the
signal report finds (W301–W304):

- W401 a bias right before a batchnorm: the batchnorm's mean subtraction cancels it (wasted parameters).
- W402 dropout right before a batchnorm: the batch statistics seen in training differ from those at
  inference (the variance shift of Li et al. 2019).
- W403 two linear layers with no nonlinearity between them: together they are one linear map.
- W404 a large dense layer after a flatten of a feature map: global average pooling would feed it C
  numbers instead of C·H·W (both parameter counts shown).
- W405 an output activation that does not fit the loss the spec names (`loss:`), or a softmax/sigmoid
  output with no `loss:` (PyTorch's cross-entropy losses take logits, Keras's probabilities).
- W406 windows that leave input rows/columns between them unread (a stride larger than the window, or
  dilated taps the stride keeps missing).
- B501–B505 budgets: parameters, MACs, memory, depth, activation memory above the limit (errors), by how much.

Rules are small functions over the analysis; `RULES` is their explicit table (code → function).
What each code means, in a few words, is in netcalc/codes.py with every other finding code.
"""

from __future__ import annotations

import re
from math import prod

from .codes import CODES
from .diagnostics import Diagnostics
from .layers.base import AXIS_NAMES
from .layers.dense import head_costs
from .layers.window import never_read


def _readers(analysis) -> dict:
    readers: dict = {}
    for row in analysis.rows:
        for name in row.node.inputs:
            readers.setdefault(name, []).append(row)
    return readers


def _rows(analysis) -> dict:
    return {row.node.name: row for row in analysis.rows}


def bias_before_batchnorm(analysis, diags: Diagnostics) -> None:
    """W401: a conv/dense with a bias whose only reader is a batchnorm."""
    readers = _readers(analysis)
    for row in analysis.rows:
        if row.ltype.linear and row.node.args.get("bias") and row.ok:
            nxt = readers.get(row.node.name, [])
            if len(nxt) == 1 and nxt[0].ltype.normalises == "batch":
                n = sum(t.count for t in row.tensors if t.name.endswith("bias"))
                diags.warning(
                    "W401",
                    f"{row.node.name}: its bias ({n:,} parameters) is cancelled by the batchnorm right after it "
                    f"({nxt[0].node.name}), which subtracts each channel's mean; write bias: false",
                    row.node.arg_loc("bias"),
                    layer=row.node.name,
                )


def dropout_before_batchnorm(analysis, diags: Diagnostics) -> None:
    """W402: dropout feeding a batchnorm."""
    readers = _readers(analysis)
    for row in analysis.rows:
        if row.ltype.stochastic:
            for nxt in readers.get(row.node.name, []):
                if nxt.ltype.normalises == "batch":
                    diags.warning(
                        "W402",
                        f"{row.node.name}: dropout right before a batchnorm ({nxt.node.name}): the statistics it "
                        "learns in training (with dropout's scaling) differ from inference (variance shift); "
                        "put dropout after the last batchnorm",
                        row.node.loc,
                        layer=row.node.name,
                    )


def linear_after_linear(analysis, diags: Diagnostics) -> None:
    """W403: a linear layer whose input comes from another linear layer with only reshapes between."""
    rows = _rows(analysis)
    for row in analysis.rows:
        if not row.ltype.linear or len(row.node.inputs) != 1:
            continue
        src = rows.get(row.node.inputs[0])
        # a pass-through layer (a reshape, padding, dropout's fixed mask) keeps a linear map linear
        while src is not None and src.ltype.pass_through and len(src.node.inputs) == 1:
            src = rows.get(src.node.inputs[0])
        if src is not None and src.ltype.linear:
            diags.warning(
                "W403",
                f"{row.node.name}: reads {src.node.name} with no nonlinearity between them: two linear layers in a "
                "row are one linear map with more parameters; add an activation or merge them",
                row.node.loc,
                layer=row.node.name,
            )


def dense_after_flatten(analysis, diags: Diagnostics, min_params: int = 1_000_000) -> None:
    """W404: dense reading a flattened C×H×W map with H·W > 1 and at least `min_params` weights."""
    rows = _rows(analysis)
    cl = analysis.graph.channels_last
    for row in analysis.rows:
        if row.ltype.linear != "dense" or not row.ok:
            continue
        src = rows.get(row.node.inputs[0])
        while src is not None and src.ltype.stochastic and src.node.inputs:  # flatten → dropout → dense
            src = rows.get(src.node.inputs[0])
        if src is None or not src.ltype.flattens or not src.in_shapes:
            continue
        shape = src.in_shapes[0]
        if len(shape) < 2:
            continue
        c = shape[-1] if cl else shape[0]
        cost = head_costs(c, prod(shape) // c, row.g.units)
        if cost.positions <= 1 or cost.flattened < min_params:
            continue
        diags.warning(
            "W404",
            f"{row.node.name}: flatten of a {'×'.join(map(str, shape))} map into {cost.units} units takes "
            f"{cost.flattened:,} weights; global average pooling ({c} numbers) would take {cost.pooled:,} "
            f"({cost.positions:,}× fewer)",
            row.node.loc,
            layer=row.node.name,
        )


def output_loss(analysis, diags: Diagnostics) -> None:
    """W405: an output activation that does not fit the loss after it. The spec's `loss:` names the
    loss (netcalc.config.LOSSES says what each expects); with none, a softmax or sigmoid output is a
    finding, since the two ways of writing the loss need different outputs: PyTorch's
    nn.CrossEntropyLoss and nn.BCEWithLogitsLoss apply the softmax/sigmoid themselves (logits in),
    Keras's categorical/binary_crossentropy take probabilities unless from_logits=True."""
    from .config import LOSSES
    from .layers import LAYER_TYPES

    squashes = {t.squashes for t in LAYER_TYPES if t.squashes}  # what a loss may expect probabilities of
    rows = _rows(analysis)
    losses = getattr(analysis.graph, "loss", None) or {}
    torch = analysis.graph.convention == "pytorch"
    for name in analysis.graph.outputs:
        row = rows.get(name)
        if row is None:
            continue
        op = row.ltype.squashes
        loss = losses.get(name, losses.get("*"))
        if loss is None:
            if op is None:
                continue
            logits, on_logits, on_probs = (("nn.CrossEntropyLoss", "cross_entropy", "categorical_crossentropy")
                                           if op == "softmax" else
                                           ("nn.BCEWithLogitsLoss", "bce_with_logits", "binary_crossentropy"))  # fmt: skip
            if torch:
                say = (f"PyTorch's {logits} applies the {op} itself (a {op} before it trains slowly): output the "
                       f"logits with loss: {on_logits}, or name the loss that takes probabilities (loss: {on_probs})")  # fmt: skip
            else:
                say = f"Keras's {on_probs} takes these probabilities unless from_logits=True: say so with loss: {on_probs}"
            problem = f"the output is a {op} and no loss: says what reads it; {say}"
        else:
            expects = LOSSES[loss][0]
            if expects == "logits" and op:
                inside = "softmax" if loss == "cross_entropy" else "sigmoid"
                problem = f"the output is a {op}, but {loss} applies a {inside} itself: output the logits"
            elif expects in squashes and op != expects:
                bounded = row.ltype.activation and not row.ltype.pass_through  # a nonlinearity's values
                got = (
                    f"a {op}" if op else f"{row.node.op} values, not probabilities" if bounded else "logits (unbounded)"
                )
                problem = f"{loss} takes the probabilities of a {expects}, but the output is {got}"
            elif expects == "log_probabilities" and op:
                problem = f"{loss} takes log-probabilities (log_softmax), but the output is a {op}'s probabilities"
            else:
                continue
            problem += f" ({LOSSES[loss][1]})"
        diags.warning("W405", f"{name}: {problem}", row.node.loc, layer=name)


WHAT = {"height": "rows", "width": "columns"}


def stride_over_window(analysis, diags: Diagnostics) -> None:
    """W406: a conv or pool whose windows leave input positions between them unread: a stride larger
    than the (dilated) window, or a dilation whose taps the stride keeps landing on the same rows
    (kernel 2, dilation 2, stride 2 reads only the even rows)."""
    for row in analysis.rows:
        g = row.g
        if not row.ok or g is None or not all(hasattr(g, field) for field in ("ss", "ks", "pads", "outs")):
            continue
        ds = getattr(g, "ds", None) or (1,) * len(g.ks)
        axes = AXIS_NAMES.get(len(g.ks), ("position",) * len(g.ks))
        for n, k, s, d, (pb, _), out, axis in zip(g.ns, g.ks, g.ss, ds, g.pads, g.outs, axes, strict=True):
            if (s == 1 and d == 1) or n * k > 10**7:
                continue
            missed = never_read(n, k, s, d, pb, out)
            if not missed:
                continue
            span = d * (k - 1) + 1
            why = (f"stride {s} is larger than the window ({span})" if s > span
                   else f"the {k} taps {d} apart (dilation {d}) and stride {s} never land on them")  # fmt: skip
            shown = ", ".join(map(str, missed[:4])) + (", …" if len(missed) > 4 else "")
            diags.warning(
                "W406",
                f"{row.node.name}: input {WHAT.get(axis, 'positions')} {shown} ({len(missed)} of {n}) are never read: {why} "
                "(`netcalc explain` shows the windows)",
                row.node.arg_loc("stride") if s > 1 else row.node.arg_loc("dilation"),
                layer=row.node.name,
            )
            break


RULES = {
    "W401": bias_before_batchnorm,
    "W402": dropout_before_batchnorm,
    "W403": linear_after_linear,
    "W404": dense_after_flatten,
    "W405": output_loss,
    "W406": stride_over_window,
}


def budgets(analysis, diags: Diagnostics, limits: dict) -> None:
    """B501–B505: parameters, MACs, total memory (bytes, at the analysis's batch), weighted depth,
    activation memory (every layer output kept for the backward pass, at the analysis's batch)."""
    t = analysis.totals
    depth = sum(1 for row in analysis.rows if row.ltype.weighted)
    figures = {
        "params": ("B501", "parameters", t.params),
        "macs": ("B502", "MACs", t.macs),
        "memory": ("B503", "bytes of memory", t.total_bytes),
        "depth": ("B504", "weighted layers", depth),
        "activations": ("B505", "bytes of activation memory", t.activation_bytes),
    }
    loc = analysis.graph.inputs[0].loc if analysis.graph.inputs else None
    for key, limit in limits.items():
        if limit is None or key not in figures:
            continue
        code, what, value = figures[key]
        if value > limit:
            over = value - limit
            share = f" ({over / limit:.1%})" if limit > 0 else ""
            diags.error(
                code,
                f"{value:,} {what}, over the budget of {limit:,} by {over:,}{share}",
                loc._replace(line=1, col=1) if loc else loc,
            )


def suppress(graph, diags: Diagnostics) -> None:
    """Drop the findings a layer's `noqa: {CODE: reason}` says do not apply (a layer's shorthand
    activation is covered by the layer's own `noqa`)."""
    nodes = {n.name: n for n in graph.nodes}

    def waived(d) -> bool:
        node = nodes.get(d.layer) if d.layer else None
        while node is not None:
            if d.code in node.noqa:
                return True
            node = nodes.get(node.part_of) if node.part_of else None
        return False

    diags.items = [d for d in diags.items if not waived(d)]


def any_selected(prefix: str, select, ignore) -> bool:
    """Whether some code beginning with `prefix` is on (the signal report runs when any W3xx is)."""
    return any(_selected(code, select, ignore) for code in CODES if code.startswith(prefix))


def run_rules(analysis, diags: Diagnostics, select=None, ignore=()) -> None:
    for code, rule in RULES.items():
        if _selected(code, select, ignore):
            rule(analysis, diags)


def _selected(code: str, select, ignore) -> bool:
    """ruff-style: a code is on when a prefix of it is selected (default: all) and none ignores it."""
    on = not select or any(code.startswith(p) for p in select)
    return on and not any(code.startswith(p) for p in ignore)


def keep(diag, select, ignore) -> bool:
    """Errors that make a spec unusable are always kept; the rest follow select/ignore."""
    if diag.severity == "error" and diag.code.startswith("E"):
        return True
    return _selected(diag.code, select, ignore)


SPEC_KEY = re.compile(r"""^\ufeff?(\{\s*)?["']?netcalc["']?\s*:""", re.M)


def looks_like_spec(path: str) -> bool:
    """Whether a file is meant as a netcalc spec: some line starts with the `netcalc:` key (`--specs-only`
    skips the other YAML files a pre-commit hook passes). A path that is no readable regular file
    (standard input `-`, a named pipe, which opening would block on) counts as one, so that reading
    it reports why."""
    import os

    try:
        if path == "-" or not os.path.isfile(path):
            return True
        with open(path, "rb") as fh:
            head = fh.read(1 << 20).decode("utf-8", errors="replace")
    except OSError:
        return True
    return SPEC_KEY.search(head) is not None


def _data(text: str) -> str:
    """A workflow command's message: %, CR and LF escaped (GitHub's toolkit escapeData)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    """A workflow command's property value (file=…): also ':' and ',' escaped (escapeProperty)."""
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def github_lines(diags) -> list[str]:
    """GitHub Actions workflow commands: ::error file=…,line=…,col=…,title=CODE::message."""
    out = []
    for d in diags:
        level = "error" if d.severity == "error" else "warning"
        out.append(
            f"::{level} file={_property(d.loc.file)},line={max(d.loc.line, 1)},col={max(d.loc.col, 1)},"
            f"title={d.code}::{_data(d.message)}"
        )
    return out
