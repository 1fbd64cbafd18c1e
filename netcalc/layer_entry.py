"""One entry of the layer list: its type, id, inputs and arguments (the layer's own keys over its
type's defaults over the per-argument ones, checked by the type's schema) as a graph node, and the
node of its `activation:` shorthand."""

from __future__ import annotations

from .arg_symbols import CURRENT
from .compound_kinds import Names, Suppressions
from .deferred import Deferred
from .diagnostics import Diagnostics, clip, did_you_mean
from .graph import Node
from .kinds import Arg, Bool, Str, coerce_mapping
from .layers import ACTIVATION_NAMES, ALIASES, REGISTRY
from .layers.elementwise import ACTIVATION_ALIASES
from .names import _Namer
from .sharing import implicit_owner, shared_args, sharing_owner
from .tying import TIE_ARG, tie_frozen, tie_owner
from .yamlsrc import FAILED_TAG, YMap, YScalar, YSeq, describe

LAYER_KEYS = ("op", "id", "in", "activation")
# keys every layer takes besides LAYER_KEYS, with their kinds (the JSON Schema reads them too)
LAYER_EXTRA = {
    "noqa": Arg(Suppressions(), None, "finding codes that do not apply to this layer, each with its reason"),
    "trainable": Arg(Bool(), True, "false freezes the layer: its weights count as non-trainable and get no gradient"),
    "shares": Arg(
        Str(),
        None,
        "an earlier layer of the same type whose weights this one uses (its arguments "
        "are that layer's; its parameters are counted once, there; its MACs and FLOPs at each use)",
    ),
    "if": Arg(
        Bool(),
        True,
        "false leaves the layer out (inside a block, a `$` expression over its parameters); "
        "what follows reads what it would have read",
    ),
}


def _op_of(text: str) -> str | None:
    if text in REGISTRY:
        return text
    return ALIASES.get(text)


def _layer(item, defaults, diags: Diagnostics, namer: _Namer, previous: str, keras: bool) -> list[Node] | None:
    if not isinstance(item, YMap):
        diags.error("E103", f"a layer must be a mapping such as {{op: relu}}, got {describe(item)}", item.loc)
        return None
    op_node = item.get("op")
    if op_node is None and item.incomplete:  # a refused merge key may have been meant to give it
        _claim_id(item, namer)
        return None
    if op_node is None:
        diags.error("E106", "a layer needs 'op' (its type, e.g. op: conv2d)", item.loc)
        _claim_id(item, namer)
        return None
    if not isinstance(op_node, YScalar) or op_node.kind == "null":
        diags.error("E103", f"'op' must be a layer type such as conv2d, got {describe(op_node)}", op_node.loc)
        _claim_id(item, namer)
        return None
    op_text = op_node.text
    op = _op_of(op_text)
    if op is None:
        names = list(REGISTRY) + list(ALIASES)
        diags.error(
            "E111", f"unknown layer type '{clip(op_text)}'{did_you_mean(op_text, names, ties=True)}", op_node.loc
        )
        _claim_id(item, namer)
        return None
    ltype = REGISTRY[op]
    takes_shorthand = ltype.takes_activation
    what = f"{op} layer"

    # the layer's own keys, then its type's defaults, then the per-argument defaults; a layer that
    # shares another's weights takes that layer's arguments instead of the defaults (written: checked)
    entries = dict(item.entries)
    sharing = "shares" in entries
    for source in (defaults.get(op, {}), defaults["*"]):
        for key, pair in source.items():
            if key not in entries and (
                (key in ltype.args and not sharing) or (key == "activation" and takes_shorthand)
            ):
                entries[key] = pair
    own_args = {k: Arg(a.kind, None, a.doc) for k, a in ltype.args.items()} if sharing else ltype.args
    schema = {**own_args, **{k: Arg(Str(), None) for k in LAYER_KEYS}, "in": Arg(Names(), None), **LAYER_EXTRA}
    if ltype.ties:  # `tie: NAME` on the types that may take another type's tensor
        schema["tie"] = TIE_ARG
    if not takes_shorthand:
        schema.pop("activation")
    merged = YMap(entries, item.loc, item.incomplete)
    errors_before = len(diags.errors)
    scope = CURRENT[-1] if CURRENT else None
    conditions_before = len(scope.conditions) if scope is not None else 0
    # an argument may read the block's input (`${in.channels // 2}`, worked out in the analysis) unless
    # it is read before: a switch (Bool: return_state decides the outputs) or the names of tensors
    late = tuple(k for k, a in ltype.args.items() if not isinstance(a.kind, Bool | Names))
    values, locs = coerce_mapping(merged, schema, diags, what, ignore=("activation",), deferrable=late)
    if "activation" in entries and not takes_shorthand:
        diags.error(
            "E102",
            f"{op} takes no 'activation:' shorthand; add an activation layer after it",
            entries["activation"][0].loc,
        )

    name = values.get("id")
    if name is not None:
        local, name = name, namer.qualify(name)
        if name in namer.used:
            first = namer.used[name]
            diags.error("E112", f"id '{clip(local)}' is already used (line {first.line})", locs["id"])
        namer.used[name] = locs["id"]
        if namer.prefix:
            namer.local[local] = name
    else:
        name = namer.auto(op)
        namer.used[name] = item.loc
    inputs = [previous] if ltype.arity != 0 else []  # a source (a free parameter) reads nothing
    if "in" in values and ltype.arity == 0:
        diags.error("E115", f"{op} reads no input: it is a source of a learned tensor; drop 'in:' and name it in "
                    f"the 'in:' of the layers that read it", locs["in"])  # fmt: skip
    elif "in" in values:
        # a layer written with `activation:` is read after its activation, as the frameworks do
        inputs = [namer.resolve(ref) for ref in values["in"]]
        for written, ref in zip(values["in"], inputs, strict=True):  # messages quote the name as written
            if ref == name:
                diags.error("E113", f"'in: {clip(written)}' is this layer itself; a layer reads earlier layers",
                            locs["in"])  # fmt: skip
            elif namer.left_out_merge("in", clip(written), ref):
                diags.error("E113", namer.left_out_merge("in", clip(written), ref), locs["in"])
            elif ref not in namer.used:
                hint = namer.hint(written, locs["in"], name)
                diags.error("E113", f"'in: {clip(written)}' names no earlier layer or input{hint}", locs["in"])
        if ltype.arity is not None and not ltype.arity <= len(inputs) <= ltype.arity + ltype.optional_inputs:
            takes = "one input" if not ltype.optional_inputs else f"one to {ltype.arity + ltype.optional_inputs} inputs"
            diags.error(
                "E115",
                f"{op} takes {takes}, got {len(inputs)} in 'in:' ({', '.join(map(clip, inputs))}); "
                + ltype.several_inputs(values["in"]),
                locs["in"],
            )
        elif ltype.arity is None and len(inputs) < 2:
            diags.error("E115", f"{op} merges two or more inputs, got {len(inputs)} in 'in:'", locs["in"])
    elif ltype.arity is None:
        diags.error("E115", f"{op} merges two or more inputs: name them, e.g. in: [main, shortcut]", item.loc)

    args = {k: v for k, v in values.items() if k in ltype.args}
    owner = None
    if sharing and "shares" in values:
        owner = sharing_owner(values["shares"], locs["shares"], name, op, ltype, namer, diags)
        if owner is not None:
            args = shared_args(values, locs, owner, ltype, what, diags, item.entries)
    states = tuple(ltype.state_names(args, keras))
    for key in (k for k, arg in ltype.args.items() if isinstance(arg.kind, Names) and k in values):
        # an argument that names tensors (a recurrent layer's initial_state): read after `in:`, as it is
        own = {f"{name}.{suffix}" for suffix in states}
        args[key] = _tensor_names(values[key], key, locs[key], name, own, namer, diags)
        inputs += list(args[key])
    for suffix in states:  # extra outputs later layers may take by name
        namer.used[f"{name}.{suffix}"] = item.loc
        if namer.prefix and values.get("id") is not None:  # `in: enc.h` inside the block that defines enc
            namer.local[f"{local}.{suffix}"] = f"{name}.{suffix}"
    # any error in the layer's own mapping (a typo included) leaves its shape unknown
    invalid = len(diags.errors) > errors_before or _failed(merged) or (owner is not None and owner.invalid)
    for key, arg in ltype.args.items():
        args.setdefault(key, None if arg.required else arg.default)
    node = Node(name=name, op=op, args=args, inputs=inputs, loc=item.loc, arg_locs=locs, invalid=invalid,
                frames=namer.frames, group=namer.group, states=states)  # fmt: skip
    for c in scope.conditions[conditions_before:] if scope is not None else ():  # a width's, from its arguments
        c.layer, c.what = name, f"{name}: {c.what.split(': ', 1)[-1]}"
    node.noqa = values.get("noqa") or {}
    node.deferred = {k: v for k, v in args.items() if isinstance(v, Deferred)}
    # frozen by its own `trainable: false` or a use's around it; `trainable: true` inside a frozen use
    # does not thaw it (Keras: a model set non-trainable makes every layer in it non-trainable)
    node.frozen = values.get("trainable") is False or namer.frozen
    if owner is not None:  # the weights are the owner's: so is their frozen flag
        node.shares, node.frozen = owner.name, owner.frozen
        if "trainable" in values and values["trainable"] is owner.frozen:
            diags.error("E122", f"'trainable: {str(values['trainable']).lower()}' on a layer sharing "
                        f"{clip(owner.name)}'s weights: they are {clip(owner.name)}'s, "
                        f"{'frozen' if owner.frozen else 'trainable'} there (line {owner.loc.line}); "
                        f"write trainable: on {clip(owner.name)}", locs["trainable"])  # fmt: skip
            node.invalid = True
    elif (implicit := implicit_owner(node, ltype, namer, diags)) is not None:  # in a use sharing another's
        node.shares, node.frozen = implicit.name, implicit.frozen  # (a tie is the owner's too)
        node.invalid = node.invalid or implicit.invalid
    if "tie" in values and sharing:
        diags.error("E122", f"'tie: {clip(values['tie'])}' on a layer with 'shares:': its tensors are the "
                    "shared layer's, tied as they are there; drop 'tie:'", locs["tie"])  # fmt: skip
        node.invalid = True
    elif "tie" in values and node.shares is None:
        if (tied := tie_owner(values["tie"], locs["tie"], name, op, ltype, namer, diags)) is not None:
            node.tie, node.tie_rule = tied.name, ltype.ties[tied.op]
            tie_frozen(node, tied, locs, diags)
            node.invalid = node.invalid or tied.invalid
        else:
            node.invalid = True
    namer.nodes[name] = node
    out = [node]
    if "activation" in entries and takes_shorthand:
        act = _shorthand(entries["activation"][1], node, diags)
        if act is not None:
            out.append(act)
            namer.after[name] = act.name
            namer.used[act.name] = act.loc
            act.frames, act.group = namer.frames, namer.group
    return out


def _tensor_names(written: tuple, key: str, loc, name: str, own: set, namer: _Namer, diags: Diagnostics) -> tuple:
    """The tensors an argument names (a layer, an input, a state such as `enc.h`; inside a block its
    local names), resolved as `in:` resolves them; E113 for a name no earlier tensor has (so no cycle
    can be written), for the layer itself and for its own extra outputs (`own`)."""
    refs = tuple(namer.resolve(ref) for ref in written)
    for shown, ref in zip(written, refs, strict=True):
        if ref == name or ref in own:
            what = "this layer itself" if ref == name else "this layer's own output"
            diags.error("E113", f"'{key}: {clip(shown)}' is {what}; a layer reads earlier layers", loc)
        elif namer.left_out_merge(key, clip(shown), ref):
            diags.error("E113", namer.left_out_merge(key, clip(shown), ref), loc)
        elif ref not in namer.used:
            hint = namer.hint(shown, loc, name)
            diags.error("E113", f"'{key}: {clip(shown)}' names no earlier layer, input or state{hint}", loc)
    return refs


def _failed(node) -> bool:
    """Whether a `$` expression in the layer failed (already reported)."""
    if isinstance(node, YScalar):
        return node.tag == FAILED_TAG
    children = node.items if isinstance(node, YSeq) else [v for _, v in node.entries.values()]
    return any(_failed(c) for c in children)


def _claim_id(item: YMap, namer: _Namer) -> None:
    """Keep the id of a layer that could not be read, so `in:` naming it is not reported as well."""
    id_node = item.get("id")
    if isinstance(id_node, YScalar) and id_node.kind != "null" and id_node.text not in namer.used:
        namer.used[id_node.text] = id_node.loc


def _shorthand(vnode, parent: Node, diags: Diagnostics) -> Node | None:
    """`activation: relu` or `activation: {op: leaky_relu, negative_slope: 0.2}` → a node after the parent."""
    if isinstance(vnode, YScalar) and vnode.kind != "null":
        text = vnode.text
        args_node = YMap({}, vnode.loc)
    elif isinstance(vnode, YMap) and "op" not in vnode.entries:
        diags.error(
            "E106",
            "'activation' written as a mapping needs 'op', e.g. {op: leaky_relu, negative_slope: 0.2}",
            vnode.loc,
        )
        return None
    elif isinstance(vnode, YMap) and isinstance(vnode.get("op"), YScalar):
        text = vnode.get("op").text
        args_node = YMap({k: v for k, v in vnode.entries.items() if k != "op"}, vnode.loc)
    else:
        diags.error(
            "E103",
            f"'activation' must be a name such as relu or {{op: leaky_relu, negative_slope: 0.2}}, "
            f"got {describe(vnode)}",
            vnode.loc,
        )
        return None
    op = ACTIVATION_ALIASES.get(text, text)
    if op not in ACTIVATION_NAMES:
        layer = ALIASES.get(op, op)
        if layer in REGISTRY:  # a layer type that is no parameter-free activation (prelu: its α are parameters)
            diags.error(
                "E111",
                f"'{clip(text)}' is a layer type, not an activation `activation:` can name (those are the "
                f"parameter-free ones): write it as a layer of its own after this one, {{op: {layer}}}",
                vnode.loc,
            )
            return None
        diags.error("E111", f"unknown activation '{clip(text)}'{did_you_mean(text, ACTIVATION_NAMES)}", vnode.loc)
        return None
    ltype = REGISTRY[op]
    values, locs = coerce_mapping(args_node, ltype.args, diags, f"activation {op}")
    args = {k: values.get(k, a.default) for k, a in ltype.args.items()}
    invalid = any(k not in values for k in locs)
    return Node(
        name=f"{parent.name}.{op}",
        op=op,
        args=args,
        inputs=[parent.name],
        loc=vnode.loc,
        arg_locs=locs,
        part_of=parent.name,
        invalid=invalid,
    )
