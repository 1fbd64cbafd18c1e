"""`shares: NAME`: a layer that uses the weights of an earlier layer of its own type (a Siamese
tower applied to two inputs, a Linear applied twice, a recursive net).

As PyTorch's `model.parameters()` (which yields a reused module's tensors once) and Keras's
`model.summary()` (a shared layer is one layer with several inbound nodes) count them, the weights
are counted once, at the layer that owns them; the MACs and FLOPs are counted at every use (each
call computes). The sharing layer takes the owner's arguments: writing one is an error unless it
is the owner's value (E122). Its input must be one the owner's weights fit: the engine compares the
tensors it would need with the owner's (E209, `analyze`). An argument that names tensors (a
recurrent layer's `initial_state:`) is an input of each call, so it stays the layer's own.

A block use shares too: `shares: USE` on a use (every weighted layer of it uses the layer at the
same place in the earlier use USE of the same block, whose parameters it takes: `use_owner`,
`shared_use`) and `shared: true` on a repeated use (every repetition uses the first's:
`shared_repetitions`). The expansion keeps, while it expands such a use, the prefix of each of
its repetitions beside the owner's (`_Namer.sharing`), and each layer read inside finds its owner
by its place (`implicit_owner`), as if it had been written with `shares:`.
"""

from __future__ import annotations

from typing import NamedTuple

from .compound_kinds import Names
from .diagnostics import Diagnostics, Loc, clip, did_you_mean
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


# --------------------------------------------------------------------------- block uses


class UseRecord(NamedTuple):
    """A block use as a later `shares:` on a use finds it: its block, the parameter values of its
    repetitions (`env`, and `first` for the first one), its repeat, the labels of the repetitions
    that own weights (`sets`: each repetition, or the first alone with `shared: true` or one
    repetition; a use sharing another's has the first owner's), its frozen flag, where it is
    written and the first owner's id."""

    block: str
    env: dict
    first: dict
    repeat: int
    sets: tuple
    frozen: bool
    loc: Loc
    name: str


def use_owner(written: str, loc, block: str, namer: _Namer, diags: Diagnostics) -> UseRecord | None:
    """The use `shares: written` on a use of `block` names (the block's own ids first, as `in:`
    resolves names); None after E113 (no earlier use of that name) or E122 (a layer, or a use of
    another block)."""
    for ref in (namer.qualify(written), written):
        if ref in namer.uses:
            owner = namer.uses[ref]
            if owner.block != block:
                diags.error("E122", f"'shares: {clip(written)}' names a use of block '{owner.block}' (line "
                            f"{owner.loc.line}); a use of block '{block}' shares the weights of a use of "
                            f"'{block}' only", loc)  # fmt: skip
                return None
            return owner
    layer = namer.nodes.get(namer.local.get(written, namer.qualify(written))) or namer.nodes.get(written)
    if layer is not None:
        diags.error("E122", f"'shares: {clip(written)}' names a {layer.op} layer (line {layer.loc.line}); a block "
                    "use shares the weights of an earlier use of the same block (its id)", loc)  # fmt: skip
        return None
    hint = did_you_mean(written, [u.removeprefix(namer.prefix) for u in namer.uses])
    diags.error("E113", f"'shares: {clip(written)}' names no earlier use of a block{hint}", loc)
    return None


def shared_use(item, values: dict, locs: dict, block, env: dict, first: dict, owner: UseRecord,
               diags: Diagnostics) -> tuple[dict, dict] | None:  # fmt: skip
    """The parameter values of a use sharing `owner`'s weights: the owner's (a value written on the
    use must be the owner's, E122 quoting both, as must `first:`); its repeat must be the owner's
    when the owner's repetitions each own weights, and its `trainable:` the owner's (E122); it
    takes `shared:` from the owner (writing it is E122). None after an error."""
    ok = True
    for p in block.params:
        if p in values and values[p] != owner.env.get(p):
            diags.error("E122", f"'{p}: {_text(values[p])}' differs from {clip(owner.name)}'s {p} "
                        f"{_text(owner.env.get(p))} (line {owner.loc.line}): a use sharing its weights takes its "
                        "parameters; drop it or write the same value", locs.get(p, item.loc))  # fmt: skip
            ok = False
    if "first" in item.entries and first != owner.first:
        diags.error("E122", f"'first: {_mapping(first)}' differs from {clip(owner.name)}'s first: "
                    f"{_mapping(owner.first)} (line {owner.loc.line}): a use sharing its weights takes its "
                    "parameters; drop it or write the same value", item.get("first").loc)  # fmt: skip
        ok = False
    repeat = values.get("repeat", 1)
    if len(owner.sets) > 1 and repeat != owner.repeat:
        diags.error("E122", f"'repeat: {repeat}' on a use sharing {clip(owner.name)}'s weights, whose "
                    f"{owner.repeat} repetitions each have their own (line {owner.loc.line}): repetition r shares "
                    f"repetition r's, so write repeat: {owner.repeat} (or give {clip(owner.name)} 'shared: true')",
                    locs.get("repeat", item.loc))  # fmt: skip
        ok = False
    if "shared" in values:
        diags.error("E122", f"'shared: {_text(values['shared'])}' on a use sharing {clip(owner.name)}'s weights: "
                    f"how its repetitions share them is {clip(owner.name)}'s (line {owner.loc.line}); drop it",
                    locs["shared"])  # fmt: skip
        ok = False
    if "trainable" in values and values["trainable"] is owner.frozen:
        diags.error("E122", f"'trainable: {_text(values['trainable'])}' on a use sharing {clip(owner.name)}'s "
                    f"weights: they are {clip(owner.name)}'s, {'frozen' if owner.frozen else 'trainable'} there "
                    f"(line {owner.loc.line}); write trainable: on {clip(owner.name)}", locs["trainable"])  # fmt: skip
        ok = False
    return (dict(owner.env), dict(owner.first)) if ok else None


def shared_repetitions(item, values: dict, env: dict, first: dict, diags: Diagnostics) -> bool:
    """`shared: true`: every repetition uses the first's weights (ALBERT's cross-layer sharing, a
    recursive block unrolled). False after E122 when `first:` gives the first repetition other
    parameter values, which its weights would not fit every time."""
    if not values.get("shared") or not first:
        return True
    changed = {k: v for k, v in first.items() if env.get(k) != v}
    if not changed:
        return True
    diags.error("E122", f"'shared: true' with 'first: {_mapping(changed)}': the first repetition takes other "
                "parameters, so the others cannot use its weights; repeat the block without first: (a layer "
                "of its own before it)", item.get("first").loc)  # fmt: skip
    return False


def implicit_owner(node: Node, ltype, namer: _Namer, diags: Diagnostics) -> Node | None:
    """Inside a use that shares another's weights (`shares:` or `shared: true` on the use), the
    layer whose weights a weighted layer uses: the one at the same place in the owner's
    repetition (the innermost such use), or that one's first owner. None for a parameter-free
    type or outside such a use; E122 when the owner's repetition has no such layer."""
    if isinstance(ltype, ParameterFree):
        return None
    for mine, theirs in reversed(namer.sharing):
        if node.name.startswith(mine):
            ref = theirs + node.name[len(mine) :]
            owner = namer.nodes.get(ref)
            if owner is None or owner.op != node.op:
                diags.error("E122", f"{clip(node.name)} is in a use sharing {clip(theirs[:-1])}'s weights, "
                            f"which has no {node.op} layer {clip(ref)}", node.loc)  # fmt: skip
                node.invalid = True
                return None
            return namer.nodes.get(owner.shares, owner) if owner.shares is not None else owner
    return None


def weight_sets(use_id: str, labels: list, shared: bool, owner: UseRecord | None, namer: _Namer) -> tuple:
    """The labels of the repetitions whose layers own weights: the owner use's (`shares:`), the
    first alone (`shared: true`) or each of `labels`; the whole use's group row (`use_id`) is
    recorded as the owner's, or as the same place in the use whose weights an enclosing use uses."""
    if owner is not None:
        if len(labels) > 1:
            namer.use_shares[use_id] = owner.name
        return owner.sets
    there = counterpart(use_id, namer)
    if there is not None:
        namer.use_shares[use_id] = there
    return tuple(labels[:1] if shared else labels)


def enter_repetition(label: str, r: int, sets: tuple, namer: _Namer) -> str:
    """The label of the repetition whose weights repetition r (`label`) uses, its own when none: when
    another's, the pair of prefixes goes on `_Namer.sharing` (the caller pops it after the
    repetition); either way its group row's owner is recorded."""
    theirs = sets[0] if len(sets) == 1 else sets[r - 1]
    if theirs != label:
        namer.sharing.append((f"{label}.", f"{theirs}."))
        namer.use_shares[label] = theirs
    elif (there := counterpart(label, namer)) is not None:
        namer.use_shares[label] = there
    return theirs


def counterpart(label: str, namer: _Namer) -> str | None:
    """The label of the use or repetition at the same place in the use whose weights the enclosing
    one uses (`a.2` inside a use `q` sharing `p`'s: `p`'s `a.2`), or None outside such a use."""
    for mine, theirs in reversed(namer.sharing):
        if label.startswith(mine):
            return theirs + label[len(mine) :]
    return None


def _mapping(values: dict) -> str:
    return "{" + ", ".join(f"{k}: {_text(v)}" for k, v in values.items()) + "}"
