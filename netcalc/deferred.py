"""Arguments that read the block's input (`filters: ${in.channels // 2}`), known only in the analysis.

Substitution (netcalc.blocks) leaves a `$` expression that reads `in` as a YDeferred scalar. The
schema (netcalc.kinds.coerce_mapping) lets a value holding one through as a `Deferred`, for the
keys a layer's type reads in the analysis only, and refuses it (E103) everywhere the value must be
known when the spec is read: `repeat`, `if`, a use's parameters, `in:`, `id`, a switch (a Bool
argument) or the names of tensors. netcalc.block_input works it out before the layer's type
resolves the node, and checks the value with the argument's own kind."""

from __future__ import annotations

from .diagnostics import Diagnostics, clip
from .yamlsrc import YDeferred, YMap, YSeq

LATE = ("`in` (the block's input) is known only when the network is analysed, so only a layer's sizes "
        "and settings may read it (not a true/false switch, tensor names, `if`, `repeat` or a use's parameters)")  # fmt: skip


class Deferred:
    """An argument's value as written (a YAML node with YDeferred scalars in it), the kind that
    checks it once worked out, and how messages name it ("conv2d layer: 'filters'")."""

    __slots__ = ("kind", "node", "what")

    def __init__(self, node, kind, what: str) -> None:
        self.node, self.kind, self.what = node, kind, what

    def __repr__(self) -> str:
        leaf = deferred_leaf(self.node)
        return f"Deferred({leaf.text if leaf is not None else '?'!r})"


def deferred_leaf(node) -> YDeferred | None:
    """The first YDeferred scalar in a YAML node, or None."""
    if isinstance(node, YDeferred):
        return node
    if isinstance(node, YSeq):
        children = node.items
    elif isinstance(node, YMap):
        children = [v for _, v in node.entries.values()]
    else:
        return None
    for child in children:
        found = deferred_leaf(child)
        if found is not None:
            return found
    return None


def refuse_deferred(leaf: YDeferred, diags: Diagnostics, what: str) -> None:
    """E103: a value that must be known when the spec is read reads the block's input."""
    diags.error("E103", f"{what} must be known when the spec is read, got '{clip(leaf.text)}': {LATE}", leaf.loc)
