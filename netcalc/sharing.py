"""`shares: NAME`: a layer that uses the weights of an earlier layer of its own type (a Siamese
tower applied to two inputs, a Linear applied twice, a recursive net).

As PyTorch's `model.parameters()` (which yields a reused module's tensors once) and Keras's
`model.summary()` (a shared layer is one layer with several inbound nodes) count them, the weights
are counted once, at the layer that owns them; the MACs and FLOPs are counted at every use (each
call computes). The sharing layer takes the owner's arguments: writing one is an error unless it
is the owner's value (E122). Its input must be one the owner's weights fit: the engine compares the
tensors it would need with the owner's (E209, `analyze`). An argument that names tensors (a
recurrent layer's `initial_state:`) is an input of each call, so it stays the layer's own.
"""

from __future__ import annotations

from .compound_kinds import Names
from .diagnostics import Diagnostics, clip
from .graph import Node
from .layers.base import ParameterFree
from .names import _Namer
from .yamlsrc import YScalar


def sharing_owner(written: str, loc, name: str, op: str, ltype, namer: _Namer, diags: Diagnostics) -> Node | None:
    """The node whose weights `shares: written` names, resolved as `in:` resolves a name (a block's
    local ids first; the layer itself, not the activation of its `activation:` shorthand): the first
    owner when that node shares another's. None after reporting why it cannot be shared: no earlier
    layer of that name (E113), a parameter-free type or another type (E122)."""
    ref = namer.local.get(written, written)
    owner = namer.nodes.get(ref)
    if owner is None:
        if ref == name:
            diags.error("E113", f"'shares: {clip(written)}' is this layer itself; a layer shares an earlier "
                        "layer's weights", loc)  # fmt: skip
        elif ref in namer.used:
            diags.error("E113", f"'shares: {clip(written)}' is an input or a state, not a layer with weights", loc)
        else:
            hint = namer.hint(written, loc, name)
            diags.error("E113", f"'shares: {clip(written)}' names no earlier layer{hint}", loc)
        return None
    if isinstance(ltype, ParameterFree):
        diags.error("E122", f"'shares: {clip(written)}': {op} has no weights to share; a parameter-free layer "
                    "computes the same written again: drop 'shares:'", loc)  # fmt: skip
        return None
    if owner.op != op:
        diags.error("E122", f"'shares: {clip(written)}' names a {owner.op} layer (line {owner.loc.line}); a {op} "
                    f"layer shares the weights of a {op} layer only", loc)  # fmt: skip
        return None
    if owner.shares is not None:  # the weights are the first owner's
        owner = namer.nodes.get(owner.shares, owner)
    return owner


def shared_args(values: dict, locs: dict, owner: Node, ltype, what: str, diags: Diagnostics, written: dict) -> dict:
    """The arguments of a layer sharing `owner`'s weights: the owner's; an argument written on the
    layer (`written`: the layer's own entries, quoted as written) must be the owner's value (E122
    quoting both). Arguments naming tensors stay its own."""
    args = {}
    for key, arg in ltype.args.items():
        if isinstance(arg.kind, Names):
            if key in values:
                args[key] = values[key]
            continue
        args[key] = owner.args.get(key)
        if key in values and values[key] != owner.args.get(key):
            node = written[key][1] if key in written else None
            shown = clip(node.text) if isinstance(node, YScalar) else _text(values[key])
            diags.error("E122", f"'{key}: {shown}' differs from {clip(owner.name)}'s {key} "
                        f"{_text(owner.args.get(key))} (line {owner.loc.line}): a {what} sharing its weights "
                        "takes its arguments; drop it or write the same value", locs.get(key, owner.loc))  # fmt: skip
    return args


def _text(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    if isinstance(value, tuple):
        return "[" + ", ".join(map(_text, value)) + "]"
    return clip(str(value))
