"""The arguments that read the block's input, worked out in the analysis (netcalc.deferred).

Before a node's type resolves it, each `Deferred` argument is given its value: every `$` expression
in it is evaluated over the block's parameter values and `in` (what the block was given: its channel
count by the layout, Ctx.split's, a vector's length; its shape), and the value is checked with the
argument's own kind, so a bad one is the E103/E104 it would be written there, at the expression,
with the notes of the block uses around the layer. The node's args then hold the values: the memo,
the signal rules, the executor and the torch oracle see numbers. With symbolic sizes `in.channels`
may be a formula (netcalc.formulas.Dual): it flows where the kind takes a size from a symbol (a
width such as filters) and is refused as a symbol is where it does not (window geometry, E103)."""

from __future__ import annotations

from .arg_symbols import CURRENT
from .blocks import INPUT_NAME, BlockInput, ExprError, _show, evaluate, to_scalar
from .diagnostics import Diagnostics, clip
from .kinds import INVALID
from .yamlsrc import FAILED_TAG, YDeferred, YMap, YScalar, YSeq


def resolve_deferred(node, shapes: dict, graph, diags: Diagnostics) -> bool:
    """Put the values of the node's Deferred arguments in its args; False when one cannot be worked
    out (reported, or its block's input is unknown: reported where that failed)."""
    ok = True
    for key, deferred in node.deferred.items():
        value = _value(deferred, node, shapes, graph, diags)
        if value is INVALID:
            ok = False
        else:
            node.args[key] = value
    return ok


def _value(deferred, node, shapes: dict, graph, diags: Diagnostics):
    notes = [f.note() for f in reversed(node.frames)]
    shown: list = []  # how `in` was, for the notes of a value the kind refuses
    filled = _fill(deferred.node, shapes, graph.channels_last, diags, notes, node.name, shown)
    if filled is None:
        return INVALID
    inner = Diagnostics()
    scope = graph.symbols
    if scope is not None:
        CURRENT.append(scope)
        before = len(scope.conditions)
    try:
        value = deferred.kind.coerce(filled, inner, deferred.what)
    finally:
        if scope is not None:
            CURRENT.pop()
    if scope is not None:
        for c in scope.conditions[before:]:  # a width's condition, named by its layer as layer_entry does
            c.layer, c.what = node.name, f"{node.name}: {c.what.split(': ', 1)[-1]}"
    for d in inner.items:
        d.notes = [*d.notes, *shown[:1], *notes]
        d.layer = node.name
        diags.add(d)
    return value


def _fill(ynode, shapes: dict, channels_last: bool, diags: Diagnostics, notes: list, layer: str, shown: list):
    """The YAML node with each YDeferred scalar replaced by its value's scalar; None when one fails."""
    if isinstance(ynode, YDeferred):
        shape = shapes.get(ynode.input) if ynode.input is not None else None
        if shape is None:
            return None
        channels = shape[-1] if channels_last else shape[0]
        given = BlockInput(channels, shape)
        shown.append(f"'{clip(ynode.text)}' with in.channels = {_show(channels)}, in.shape = {_show(given.shape)}")
        try:
            value = evaluate(ynode.expr, {**ynode.env, INPUT_NAME: given})
            if isinstance(value, BlockInput):
                raise ExprError("'in' is the block's input itself: write in.channels, or in.shape (in.shape[i])")
        except ExprError as exc:
            diags.error("E120", f"'{clip(ynode.text)}': {exc}", ynode.loc, shown[-1], *notes, layer=layer)
            return None
        return to_scalar(value, ynode.loc)
    if isinstance(ynode, YSeq):
        items = [_fill(i, shapes, channels_last, diags, notes, layer, shown) for i in ynode.items]
        return None if any(i is None for i in items) else YSeq(items, ynode.loc)
    if isinstance(ynode, YMap):
        entries = {}
        for k, (knode, v) in ynode.entries.items():
            got = _fill(v, shapes, channels_last, diags, notes, layer, shown)
            if got is None:
                return None
            entries[k] = (knode, got)
        return YMap(entries, ynode.loc, ynode.incomplete)
    if isinstance(ynode, YScalar) and ynode.tag == FAILED_TAG:
        return None
    return ynode
