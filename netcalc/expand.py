"""The layer list with every block use expanded in place: how many layers the uses expand to,
worked out before any is expanded (`_Counter`: E117 for a use that never ends, E118 over the
limit), then the expansion itself (`_Expander`), each layer read by `layer_entry._layer` with the
names in scope (`names._Namer`)."""

from __future__ import annotations

from contextlib import contextmanager
from copy import copy
from math import prod
from typing import NamedTuple

from .arg_symbols import COUNT_NOTE, CURRENT, active, symbol_use
from .blocks import substitute
from .compound_kinds import Names
from .deferred import refuse_deferred
from .diagnostics import Diagnostics, Loc, clip, did_you_mean
from .graph import Frame, Input, Node
from .kinds import INVALID, REQUIRED, Arg, Bool, Float, Int, Str, coerce_mapping
from .layer_entry import _layer
from .layers import ALIASES, REGISTRY
from .names import _Namer
from .sharing import UseRecord, enter_repetition, shared_repetitions, shared_use, use_owner, weight_sets
from .symbols import Conditions
from .yamlsrc import FAILED_TAG, YDeferred, YMap, YScalar, YSeq, YSymbolic, describe

# layers a spec may expand to (its block uses multiplied out): four times ResNet-1202's 4,805 (its
# 1,202 weighted layers, their batchnorms, activations and adds), and few enough that every command
# on a spec at the limit finishes well within 10 s (signal ~5 s, diff of two such specs ~7 s of CPU).
# A spec over it is refused (E118) before any is expanded. --max-layers changes it.
MAX_LAYERS = 20_000
UNKNOWN = "<unreadable layer>"  # the input of a layer that follows one that could not be read


def _layers(
    node,
    defaults: dict,
    diags: Diagnostics,
    graph_input: Input | None,
    keras: bool,
    blocks: dict,
    extra_inputs: tuple = (),
    max_layers: int = MAX_LAYERS,
    uses: dict | None = None,
) -> list[Node]:
    """The layers in order, every block use expanded; `uses` (when given) receives which uses and
    repetitions use the weights of which (their group labels, `shares:` and `shared:` on uses)."""
    if not isinstance(node, YSeq) or not node.items:
        got = "an empty list" if isinstance(node, YSeq) else describe(node)
        diags.error("E103", f"'layers' must be a non-empty list of layers, got {got}", node.loc)
        return []
    # how many layers the block uses expand to, before expanding any (and self-use, nesting too deep)
    counter = _Counter(blocks, diags)
    total, broken, top = counter.count(node.items)
    if total > max_layers:
        _too_many_layers(total, max_layers, top, node, diags)
        return []
    namer = _Namer()
    input_name = graph_input.name if graph_input else "input"
    namer.used[input_name] = graph_input.loc if graph_input else node.loc
    for other in extra_inputs:  # further named inputs, read with `in:`
        namer.used[other.name] = other.loc
    nodes: list[Node] = []
    expander = _Expander(defaults, diags, namer, keras, blocks, nodes)
    expander.skip = broken
    expander.sequence(node.items, input_name, 0)
    if uses is not None:
        uses.update(namer.use_shares)
    return nodes


class Count(Int):
    """`repeat`: a whole number (from 1 to 10,000; in a block, a `$` expression over its parameters),
    or the name of a declared symbol, which takes its value (--set, else its default) and keeps it
    for the whole spec (`Scope.fixed`): a count of layers is fixed when the spec is read, so the
    symbol is no free size. A symbol without a value, one already free in a shape, and a size
    computed from a symbol (a block parameter given one) are E103."""

    def __init__(self) -> None:
        super().__init__(1, 10_000, symbols=False)

    def coerce(self, node, diags, what):
        scope = active()
        named = scope is not None and isinstance(node, YScalar) and node.kind == "str" and node.text in scope.declared
        if isinstance(node, YSymbolic) or (named and node.text in scope.free):
            diags.error("E103", f"{what} must be a whole number, got {symbol_use(node)}, a size: {COUNT_NOTE} "
                        f"(a symbol with a value is taken as a count where 'repeat' names it itself: repeat: N)", node.loc)  # fmt: skip
            return INVALID
        if not named:
            return super().coerce(node, diags, what)
        decl = scope.declared[node.text]
        value = scope.value_of(decl)
        if value is None:
            diags.error("E103", f"{what} is the symbol {node.text}, which has no value: a count of layers is "
                        f"fixed when the spec is read, so the symbol cannot be a free size; give it a default "
                        f"(symbols: {{{node.text}: {{default: ...}}}}) or set it (--set {node.text}=...)",
                        node.loc)  # fmt: skip
            return INVALID
        scope.fixed[node.text] = value
        scope.used.setdefault(node.text, decl)
        return super().coerce(YScalar(str(value), "tag:yaml.org,2002:int", True, node.loc), diags, what)

    def json_schema(self):
        return {"anyOf": [super().json_schema(), {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}]}


USE_KEYS = ("use", "id", "repeat", "first", "in", "trainable", "if", "shares", "shared")
MAX_NESTING = 16
KINDS = {int: Int(), float: Float(), bool: Bool(), str: Str()}


def _use_values(item: YMap, block, diags: Diagnostics):
    """A use's arguments by its block's parameters: (values, locations, the block's parameter values,
    those of the first repetition), or None when a required parameter is missing (reported). A use
    with `shares:` takes the owner's parameter values (sharing.shared_use): none is required."""
    sharing = "shares" in item.entries
    schema = {
        **{p: Arg(KINDS[t], None if sharing else REQUIRED if d is None else d) for p, (t, d) in block.params.items()},
        "use": Arg(Str()), "id": Arg(Str(), None), "repeat": Arg(Count(), 1),
        "first": Arg(Str(), None), "in": Arg(Names(), None),
        "trainable": Arg(Bool(), True, "false freezes every layer of the use"),
        "if": Arg(Bool(), True),  # read by _included before the use is expanded
        "shares": Arg(Str(), None), "shared": Arg(Bool(), False),
    }  # fmt: skip
    values, locs = coerce_mapping(item, schema, diags, f"use of block '{block.name}'", ignore=("first",))
    if not sharing and any(p not in values for p in block.params if block.params[p][1] is None):
        return None
    env = {p: values.get(p, d) for p, (_, d) in block.params.items()}
    return values, locs, env, _first(item.get("first"), block, diags)


def _first(node, block, diags: Diagnostics) -> dict:
    """`first: {stride: 2}`: parameter values for the first repetition only."""
    if node is None:
        return {}
    if not isinstance(node, YMap):
        diags.error("E103", f"'first' must be a mapping of parameters, got {describe(node)}", node.loc)
        return {}
    schema = {p: Arg(KINDS[t], None) for p, (t, _) in block.params.items()}
    values, _ = coerce_mapping(node, schema, diags, f"'first' of block '{block.name}'")
    return values


def _is_use(item) -> bool:
    return isinstance(item, YMap) and "use" in item.entries


def _included(item, diags: Diagnostics) -> bool | None:
    """Whether a layer or a use is in the network by its `if:` (true without one): its value after
    substitution must be true or false (E103 quoting it otherwise); None when it is not (reported),
    or when its `$` expression failed (E120, reported by the substitution)."""
    node = item.get("if") if isinstance(item, YMap) else None
    if node is None:
        return True
    if isinstance(node, YScalar) and node.tag == FAILED_TAG:
        return None
    if isinstance(node, YDeferred):
        refuse_deferred(node, diags, "'if'")
        return None
    if isinstance(node, YScalar) and node.kind == "str" and node.text.startswith("$"):
        diags.error("E103", f"'if' must be true or false, got '{clip(node.text)}': a `$` expression is read "
                    "inside a block only, over its parameters", node.loc)  # fmt: skip
        return None
    value = Bool().coerce(node, diags, "'if'")
    return None if value is INVALID else value


def _counted(item, env: dict, diags: Diagnostics) -> bool:
    """Whether _Counter counts an item: not when its `if:` is false with the block's parameter values
    (`env`); an `if:` that cannot be read counts (at most what the expansion makes)."""
    node = item.get("if") if isinstance(item, YMap) else None
    if node is None:
        return True
    if env:
        item = YMap({"if": (None, substitute(node, env, diags))}, item.loc)
    return _included(item, diags) is not False


class _Count(NamedTuple):
    """The layers a block's list expands to (with given parameter values, at a given depth), whether
    a use in it can never be expanded (E117), and its largest use (a _Step) for the E118 message."""

    layers: int
    broken: bool
    top: _Step | None


class _Step(NamedTuple):
    """A use on the chain of largest uses: the block, where it is used, its repeat, the layers it
    gives in all, and the count of the block's list (the larger of the first and the other
    repetitions)."""

    block: str
    used_at: Loc
    repeat: int
    layers: int
    inner: _Count


class _Counter:
    """How many layers the layer list expands to, worked out before anything is expanded.

    A use gives its repeat times its block's count (the first repetition with `first:`'s values),
    and a block's count with the same parameter values at the same depth is worked out once: five
    nested `repeat: 10` cost five small steps, not 100,000 layers, and a spec over the limit is
    refused in milliseconds. A block that uses itself and blocks nested more than MAX_NESTING deep
    (E117) are found here too, so that no expansion starts on them. The `$` expressions of a use
    (`repeat: $n - 1`, a parameter passed on) take the values the expansion will give them; what
    is wrong with a use (a missing parameter, a bad repeat) is left to the expansion to report, and
    counted as the expansion will take it (a repeat it refuses is 1, a use without its required
    parameters none): at most what it expands. A use with `shares:` takes the parameters of an
    earlier use of its block, counted before it: its repetitions count as the block's largest."""

    def __init__(self, blocks: dict, diags: Diagnostics) -> None:
        self.blocks = blocks
        self.diags = diags
        self.quiet = Diagnostics()  # findings the expansion reports itself
        self.memo: dict = {}
        self.largest: dict = {}  # block -> its largest count so far: what a use sharing one of its uses expands to at most

    def count(self, items: list) -> tuple[int, set, _Step | None]:
        """The top-level list: (layers, the ids of the uses that cannot be expanded, the largest use)."""
        total, broken, top = 0, set(), None
        if not self.blocks:
            return len(items), broken, top
        with _scratch_scope():
            for item in items:
                if not _counted(item, {}, self.quiet):
                    continue
                if not _is_use(item):
                    total += 1
                    continue
                layers, bad, step = self.use(item, {}, 0, (), False)
                if bad:
                    broken.add(id(item))
                    continue
                total += layers
                if step is not None and (top is None or step.layers > top.layers):
                    top = step
        return total, broken, top

    def block(self, block, env: dict, depth: int, chain: tuple) -> _Count:
        key = (block.name, depth, tuple(sorted((k, type(v).__name__, str(v)) for k, v in env.items())))
        got = self.memo.get(key)
        if got is None:
            layers, broken, top = 0, False, None
            for item in block.layers.items:
                if not _counted(item, env, self.quiet):
                    continue
                if not _is_use(item):
                    layers += 1
                    continue
                n, bad, step = self.use(item, env, depth, chain, True)
                layers, broken = layers + n, broken or bad
                if step is not None and (top is None or step.layers > top.layers):
                    top = step
            got = self.memo[key] = _Count(layers, broken, top)
        return got

    def use(self, item: YMap, env: dict, depth: int, chain: tuple, inside: bool):
        """(layers, broken, _Step) of one use; `chain` is the uses on the way, as (block, defined at,
        used at)."""
        if inside:  # as the expansion reads it: with the enclosing block's parameter values
            item = substitute(item, env, self.quiet)
        name_node = item.get("use")
        block = self.blocks.get(name_node.text) if isinstance(name_node, YScalar) else None
        if block is None:
            return 0, False, None
        name = block.name
        names = [c[0] for c in chain]
        notes = [f"in block '{c[0]}' ({c[1]}), used at {c[2]}" for c in reversed(chain)]
        if name in names:
            path = " → ".join([*names[names.index(name) :], name])
            self.diags.error("E117", f"block '{name}' uses itself ({path}): it would never end", item.loc, *notes)
            return 0, True, None
        if depth >= MAX_NESTING:
            self.diags.error("E117", f"blocks nested more than {MAX_NESTING} deep (does '{name}' use itself?)",
                             item.loc, *notes)  # fmt: skip
            return 0, True, None
        got = _use_values(item, block, self.quiet)
        if got is None:
            return 0, False, None
        values, _, params, first = got
        repeat = values.get("repeat", 1)
        if "shares" in item.entries:  # the owner's parameters, which were counted before: at most its largest
            most = self.largest.get(name, _Count(0, False, None))
            return repeat * most.layers, False, _Step(name, item.loc, repeat, repeat * most.layers, most)
        inner = (*chain, (name, block.loc, item.loc))
        rest = self.block(block, params, depth + 1, inner)
        one = self.block(block, {**params, **first}, depth + 1, inner) if first else rest
        layers = one.layers + (repeat - 1) * rest.layers
        step = _Step(name, item.loc, repeat, layers, one if one.layers > rest.layers else rest)
        for c in (one, rest):
            if c.layers > self.largest.get(name, _Count(0, False, None)).layers:
                self.largest[name] = c
        return layers, one.broken or rest.broken, step


@contextmanager
def _scratch_scope():
    """The symbols a use's arguments name are resolved in a copy of the spec's scope while counting:
    the expansion records their first use (and the conditions on them) in the order it meets them."""
    scope = CURRENT[-1] if CURRENT else None
    if scope is None:
        yield
        return
    scratch = copy(scope)
    scratch.declared, scratch.used, scratch.free = dict(scope.declared), dict(scope.used), dict(scope.free)
    scratch.point, scratch.conditions = dict(scope.point), Conditions(scratch)
    CURRENT.append(scratch)
    try:
        yield
    finally:
        CURRENT.pop()


def _too_many_layers(total: int, limit: int, top: _Step | None, node: YSeq, diags: Diagnostics) -> None:
    """E118, at the largest top-level use with its chain of largest uses (or at `layers:`)."""
    tail = "raise the limit with --max-layers N if the network really has that many layers"
    head = f"the spec expands to {total:,} layers, more than the limit of {limit:,}"
    if top is None:  # a list of that many layers as written
        diags.error("E118", f"{head}: the layer list holds them without block uses", node.loc, tail)
        return
    steps, step = [], top
    while step is not None:
        steps.append(step)
        step = step.inner.top
    leaf = steps[-1].inner.layers
    chain = " → ".join([*(f"{s.block} × {s.repeat}" if s.repeat > 1 else s.block for s in steps),
                        f"{leaf:,} layer{'s' if leaf != 1 else ''}"])  # fmt: skip
    product = prod(s.repeat for s in steps) * leaf
    if product == top.layers:  # the chain is the whole of the use: its product says it all
        factors = " × ".join([*(str(s.repeat) for s in steps if s.repeat > 1), f"{leaf:,}"])
        detail = f"{chain} = {factors} = {product:,} of them"
    else:  # with `first:` values, or other layers beside the uses
        detail = f"{chain} give {top.layers:,} of them"
    notes = [f"{s.block}{f' × {s.repeat}' if s.repeat > 1 else ''} used at {s.used_at}: {s.layers:,} layers"
             + (f" in each {steps[i - 1].block}" if i else "") for i, s in enumerate(steps)]  # fmt: skip
    diags.error("E118", f"{head}: {detail}", top.used_at, *notes, tail)


class _Expander:
    """Layers in order, with every block use expanded in place (recursively)."""

    def __init__(self, defaults, diags: Diagnostics, namer: _Namer, keras: bool, blocks: dict, nodes: list) -> None:
        self.defaults, self.diags, self.namer, self.keras, self.blocks, self.nodes = (
            defaults, diags, namer, keras, blocks, nodes)  # fmt: skip
        self.skip: set = set()  # top-level uses that can never be expanded (E117, reported by _Counter)

    def sequence(self, items, previous: str, depth: int) -> str:
        """Expand the items after `previous`; the name of the last output."""
        for item in items:
            if depth == 0 and id(item) in self.skip:
                previous = UNKNOWN
                continue
            included = _included(item, self.diags)
            if not included:
                previous = UNKNOWN if included is None else self.left_out(item, previous)
                continue
            if isinstance(item, YMap) and "use" in item.entries:
                previous = self.use(item, previous, depth)
                continue
            made = _layer(item, self.defaults, self.diags, self.namer, previous, self.keras)
            if made is None:
                # the layers after an unreadable one take an unknown input: no errors that only follow from it
                previous = UNKNOWN
                continue
            self.nodes.extend(made)
            previous = made[-1].name
        return previous

    def left_out(self, item: YMap, previous: str) -> str:
        """A layer or use its `if:` leaves out: it passes on what it would read, its one `in:` name or
        else the previous output, and its id names that. One that would read several (a merge) passes
        on the previous output, as if it were not written, and a later `in:` naming it is ambiguous
        (E113, `_Namer.ambiguous`). A left-out source (a free parameter) reads nothing and stands for
        no tensor: a later `in:` naming it is E113, and a layer left out with it drops it from what it
        would read (a multiply of [c, γ] left out passes on c). What it passes on is returned."""
        namer, passed, several = self.namer, previous, None
        op = item.get("op")
        ltype = REGISTRY.get(ALIASES.get(op.text, op.text)) if isinstance(op, YScalar) else None
        if ltype is not None and ltype.arity == 0:
            several = ()
        in_node = item.get("in")
        if in_node is not None:
            names = Names().coerce(in_node, self.diags, "'in'")
            if names is INVALID:
                return UNKNOWN
            refs = [namer.resolve(r) for r in names]
            for written, ref in zip(names, refs, strict=True):
                if ref not in namer.used and namer.ambiguous.get(ref) != ():  # a left-out source: left out too
                    hint = namer.hint(written, in_node.loc, "")
                    self.diags.error(
                        "E113", f"'in: {clip(written)}' names no earlier layer or input{hint}", in_node.loc
                    )
                    return UNKNOWN
            # a left-out source (a free parameter) stands for no tensor: what is left of the names counts
            # (a LayerScale's multiply left out with its γ passes on what γ scaled)
            real = [(w, r) for w, r in zip(names, refs, strict=True) if namer.ambiguous.get(r) != ()]
            if len(real) == 1:
                passed = real[0][1]
            else:
                several = tuple(w for w, _ in real)
        id_node = item.get("id")
        if isinstance(id_node, YScalar) and id_node.kind not in ("null", "bool") and id_node.text:
            local, name = id_node.text, namer.qualify(id_node.text)
            if namer.prefix:
                namer.local[local] = name
            if several is not None:
                namer.ambiguous[name] = several
            else:
                namer.used.setdefault(name, id_node.loc)
                namer.after[name] = passed
        return passed

    def claim(self, values: dict, item: YMap) -> str:
        """Keep the id of a use that cannot be expanded (reported), so that `in:` naming it is not
        reported as well; its output is unknown."""
        if "id" in values:
            self.namer.used.setdefault(self.namer.qualify(values["id"]), item.loc)
        return UNKNOWN

    def use(self, item: YMap, previous: str, depth: int) -> str:
        """`{use: NAME, repeat: n, first: {...}, PARAM: value...}`: the block's layers, n times."""
        diags, namer = self.diags, self.namer
        name_node = item.get("use")
        name = name_node.text if isinstance(name_node, YScalar) else ""
        block = self.blocks.get(name)
        if block is None:
            diags.error("E116", f"no block named '{clip(name) or describe(name_node)}'{did_you_mean(name, self.blocks)}",
                        name_node.loc, "blocks: " + (", ".join(self.blocks) or "none defined"))  # fmt: skip
            return UNKNOWN
        chain = [f.block for f in namer.frames]
        if name in chain:
            path = " → ".join([*chain[chain.index(name) :], name])
            diags.error("E117", f"block '{name}' uses itself ({path}): it would never end", item.loc)
            return UNKNOWN
        if depth >= MAX_NESTING:
            diags.error("E117", f"blocks nested more than {MAX_NESTING} deep (does '{name}' use itself?)", item.loc)
            return UNKNOWN
        got = _use_values(item, block, diags)
        if got is None:
            return UNKNOWN
        values, locs, env, first = got
        owner = None  # the use whose weights this one's layers use (`shares:`)
        if "shares" in item.entries:
            owner = use_owner(values["shares"], locs["shares"], name, namer, diags) if "shares" in values else None
            shared = None if owner is None else shared_use(item, values, locs, block, env, first, owner, diags)
            if shared is None:
                return self.claim(values, item)
            env, first = shared
        elif not shared_repetitions(item, values, env, first, diags):
            return self.claim(values, item)
        if "in" in values:
            refs = [namer.resolve(r) for r in values["in"]]
            if len(refs) != 1 or refs[0] not in namer.used:
                diags.error("E113", f"'in:' of a block use must name one earlier layer or input, got "
                            f"{', '.join(map(clip, values['in']))}", locs["in"])  # fmt: skip
                return UNKNOWN
            previous = refs[0]
        use_id = namer.qualify(values["id"]) if "id" in values else namer.auto(name)
        namer.used[use_id] = item.loc
        repeat = values.get("repeat", 1)
        frozen = owner.frozen if owner is not None else namer.frozen or values.get("trainable") is False
        labels = [f"{use_id}.{r}" if repeat > 1 else use_id for r in range(1, repeat + 1)]
        sets = weight_sets(use_id, labels, values.get("shared", False), owner, namer)
        for r in range(1, repeat + 1):
            saved = (namer.prefix, namer.local, namer.frames, namer.group, namer.frozen)
            namer.frozen = frozen
            label = labels[r - 1]
            theirs = enter_repetition(label, r, sets, namer)
            namer.prefix, namer.local = f"{label}.", {"input": previous}
            namer.frames = (*namer.frames, Frame(name, block.loc, item.loc, r, repeat))
            # the summary's hierarchy: the use (all its repetitions), then each repetition
            whole = ((use_id, f"{name} × {repeat}", item.loc.line),) if repeat > 1 else ()
            namer.group = (*namer.group, *whole, (label, name, item.loc.line))
            start, made = len(diags.items), len(self.nodes)
            layers = substitute(block.layers, {**env, **(first if r == 1 else {})}, diags, previous)
            last = self.sequence(layers.items, previous, depth + 1)
            dead = last == UNKNOWN and len(self.nodes) == made and (r > 1 or not first)
            where = Frame(name, block.loc, item.loc, r, repeat).note()
            for d in diags.items[start:]:
                d.notes.append(where)
            namer.prefix, namer.local, namer.frames, namer.group, namer.frozen = saved
            if theirs != label:
                namer.sharing.pop()
            namer.used[label] = item.loc
            namer.local[label.removeprefix(namer.prefix)] = last
            namer.after[label] = last  # the use's name reads its last layer
            previous = last
            if dead:  # a repetition that made no layer, only errors: the next ones would repeat it
                break
        namer.after[use_id] = previous
        namer.uses[use_id] = UseRecord(name, env, first, repeat, sets, frozen, item.loc,
                                       owner.name if owner is not None else use_id)  # fmt: skip
        return previous
