"""From a spec file to the expanded graph: the top-level schema, defaults, and the layer list.

The grammar (documented in the README):

    netcalc: 1                      # required: the format version
    name: alexnet-lite              # default: the file name
    description: ...                # optional
    convention: pytorch | keras     # counting rules and defaults (default pytorch)
    input: {shape: [100, 100, 3], layout: hwc, dtype: float32, mean: 0, std: 1, range: [0, 255]}
    defaults:                       # per layer type, or per argument for every type that has it
      conv2d: {bias: false}
      init: he_normal
    lint: {strict: true, max-params: 25M}   # optional: `netcalc lint` settings (config.py)
    layers:                         # sequential: each takes the previous output unless `in:` says
      - {op: conv2d, filters: 12, kernel: 4, stride: 4, activation: relu, id: conv1}
"""

from __future__ import annotations

from contextlib import contextmanager
from copy import copy
from itertools import islice
from math import prod
from pathlib import Path
from typing import NamedTuple

from .blocks import parse_blocks, substitute
from .config import Loss, Settings
from .diagnostics import Diagnostics, Loc, clip, did_you_mean
from .graph import Frame, Graph, Input, Node
from .layers import ACTIVATION_NAMES, ALIASES, REGISTRY
from .layers.elementwise import ACTIVATION_ALIASES
from .schema import (
    CURRENT,
    INVALID,
    REQUIRED,
    Arg,
    Bool,
    Choice,
    Float,
    Int,
    Names,
    Numbers,
    PerChannel,
    Shape,
    Str,
    Suppressions,
    coerce_mapping,
)
from .symbols import Conditions, Scope, parse_declarations
from .yamlsrc import FAILED_TAG, STDIN, YMap, YScalar, YSeq, describe, parse_yaml, read_text

VERSION = 1
DTYPES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int8": 1, "int32": 4, "int64": 8}
FLOAT_DTYPES = ("float32", "float16", "bfloat16", "float64")
# layout -> channels (features) last? ntf and tnf are sequences (time, features) with the batch
# first (Keras; PyTorch batch_first=True) or second (PyTorch's default, batch_first=False).
LAYOUTS = {"chw": False, "hwc": True, "channels_first": False, "channels_last": True, "ntf": True, "tnf": True}

TOP = {
    "netcalc": Arg(Int(), doc="format version (1)"),
    "name": Arg(Str(), None, "the network's name (default: the file name)"),
    "description": Arg(Str(), None, "free text"),
    "convention": Arg(Choice(("pytorch", "keras")), "pytorch", "counting rules and defaults"),
    "input": Arg(Str(), doc="the input tensor"),  # a mapping, checked by INPUT
    "defaults": Arg(Str(), None, "default arguments per layer type or per argument"),
    "layers": Arg(Str(), doc="the layer list"),
    "outputs": Arg(Names(), None, "the network's outputs (default: the last layer)"),
    "blocks": Arg(Str(), None, "reusable blocks"),  # a mapping, checked by blocks.parse_blocks
    "lint": Arg(Settings(), None, "settings of `netcalc lint` for this spec (over pyproject.toml, under options)"),
    "symbols": Arg(Str(), None, "named sizes used in shapes (H, W, T...): defaults and constraints"),
    "loss": Arg(
        Loss(),
        None,
        "the loss that reads the output (cross_entropy, binary_crossentropy, mse...), or one "
        "per output: what `netcalc lint` checks the output activation against (W405)",
    ),
}
RAW_KEYS = ("input", "defaults", "layers", "blocks", "symbols")  # checked by their own readers
INPUT = {
    "shape": Arg(Shape(), doc="without the batch axis, in the layout's order"),
    "layout": Arg(
        Choice(tuple(LAYOUTS)),
        None,
        "chw (channels first) or hwc (channels last); for sequences (time, features) ntf (batch first: Keras, "
        "PyTorch batch_first=True) or tnf (time first: PyTorch's default)",
    ),
    "dtype": Arg(Choice(tuple(DTYPES)), "float32", "element type, for memory"),
    "name": Arg(Str(), "input", "the name layers use in `in:`"),
    "mean": Arg(PerChannel(), None, "mean of the input values, or one per channel (signal report)"),
    "std": Arg(PerChannel(0.0), None, "standard deviation of the input values, or one per channel (signal report)"),
    "range": Arg(Numbers(2), None, "[low, high] of un-normalised values, e.g. [0, 255], taken as uniform"),
    "correlation": Arg(Float(-1.0, 1.0), None, "correlation of neighbouring positions (natural images ≈ 0.9)"),
}
# layers a spec may expand to (its block uses multiplied out): far beyond a real network (ResNet-1202
# has 1,200-odd); a spec over it is refused (E118) before any is expanded. --max-layers changes it.
MAX_LAYERS = 100_000
NEAR_NAMES = 500  # E113's did-you-mean looks among this many latest layer names
MAX_INPUT_ELEMENTS = 10**15  # far beyond any real input; keeps every count printable as a float
LAYER_KEYS = ("op", "id", "in", "activation")
# keys every layer takes besides LAYER_KEYS, with their kinds (the JSON Schema reads them too)
LAYER_EXTRA = {"noqa": Arg(Suppressions(), None, "finding codes that do not apply to this layer, each with its reason")}
UNKNOWN = "<unreadable layer>"  # the input of a layer that follows one that could not be read


def load(
    path: str,
    diags: Diagnostics,
    *,
    display: str | None = None,
    convention: str | None = None,
    sources: dict | None = None,
    values: dict | None = None,
    symbolic: bool = False,
    generic: bool | dict = False,
    set_defaults: bool = False,
    max_layers: int = MAX_LAYERS,
):
    """Read, parse and expand a spec; None when it is unusable (the reasons are in diags).

    The text read is put in `sources` (keyed by the name shown in messages) for source snippets,
    so that the file is read once, within the size limit. `-` reads standard input.

    `convention` overrides whose counting rules apply (parameters, weight layouts); the network's
    geometry ('same' padding, default layout and slopes) stays that of the spec's own convention.
    A spec whose block uses would expand to more than `max_layers` layers is refused (E118).
    """
    shown = display or path
    text = read_text(path, diags, shown)
    if text is None:
        return None
    if sources is not None:
        sources[shown] = text
    root = parse_yaml(text, shown, diags)
    if root is None:
        return None
    return build(
        root,
        shown,
        diags,
        default_name="stdin" if path == STDIN else Path(path).stem,
        convention=convention,
        values=values,
        symbolic=symbolic,
        generic=generic,
        set_defaults=set_defaults,
        max_layers=max_layers,
    )


def build(
    root,
    file: str,
    diags: Diagnostics,
    default_name: str = "network",
    convention: str | None = None,
    values: dict | None = None,
    symbolic: bool = False,
    generic: bool | dict = False,
    set_defaults: bool = False,
    max_layers: int = MAX_LAYERS,
):
    """The graph of a parsed spec. Symbols (`symbols:`, names in shapes) take `values` (--set), else
    their defaults; with `symbolic`, a symbol --set does not fix stays a formula (netcalc.symbolic)."""
    if not isinstance(root, YMap):
        diags.error("E103", f"a spec must be a mapping with 'netcalc: 1' first, got {describe(root)}", root.loc)
        return None
    declared = parse_declarations(root.get("symbols"), diags) if "symbols" in root.entries else {}
    scope = Scope(declared, dict(values or {}), symbolic, generic, set_defaults)
    CURRENT.append(scope)
    try:
        graph = _build(root, file, diags, default_name, convention, max_layers)
    finally:
        CURRENT.pop()
    if graph is not None:
        graph.symbols = scope
    return graph


def _build(root, file: str, diags: Diagnostics, default_name: str, convention: str | None, max_layers: int):
    if not isinstance(root, YMap):
        diags.error("E103", f"a spec must be a mapping with 'netcalc: 1' first, got {describe(root)}", root.loc)
        return None
    top_plain = {k: v for k, v in TOP.items() if k not in RAW_KEYS}
    values, _ = coerce_mapping(
        root, {**top_plain, **{k: Arg(Str(), None) for k in RAW_KEYS}}, diags, "the spec", ignore=RAW_KEYS
    )
    for key in ("netcalc", "input", "layers"):
        if key not in root.entries:
            hint = {
                "netcalc": "'netcalc: 1', the format version",
                "input": "'input: {shape: [...]}'",
                "layers": "'layers:', the list of layers",
            }[key]
            diags.error("E106", f"the spec needs {hint}", root.loc)
    version = values.get("netcalc")
    if version is not None and version != VERSION:
        diags.error(
            "E110",
            f"unsupported format version netcalc: {version}; this netcalc reads version {VERSION}",
            root.get("netcalc").loc,
        )
    conv = values.get("convention", "pytorch")  # the framework the network is written for
    inputs = _inputs(root.get("input"), diags) if "input" in root.entries else []
    graph_input = inputs[0] if inputs else None
    defaults = _defaults(root.get("defaults"), diags) if "defaults" in root.entries else {"*": {}}
    blocks = parse_blocks(root.get("blocks"), diags) if "blocks" in root.entries else {}
    nodes = (
        _layers(
            root.get("layers"),
            defaults,
            diags,
            graph_input[0] if graph_input else None,
            conv == "keras",
            blocks,
            tuple(inp for inp, _ in inputs[1:]),
            max_layers,
        )
        if "layers" in root.entries
        else []
    )
    channels_last = _layouts(inputs, nodes, conv, root.get("input"), diags) if inputs else None
    if graph_input is None or not nodes or channels_last is None:
        return None
    outputs = _outputs(root, values.get("outputs"), nodes, [inp for inp, _ in inputs], diags)
    graph = Graph(
        name=values.get("name") or default_name,
        convention=conv,
        counting=convention or conv,  # `--convention` changes whose counting rules apply, not the network
        channels_last=channels_last,
        inputs=[inp for inp, _ in inputs],
        nodes=nodes,
        outputs=outputs,
        file=file,
    )
    graph.lint = values.get("lint", {})  # the spec's own lint settings: only `netcalc lint` applies them
    graph.loss = _losses(values.get("loss") or {}, outputs, nodes, diags)
    return graph


def _outputs(root: YMap, declared, nodes: list[Node], inputs: list[Input], diags: Diagnostics) -> list[str]:
    """The graph's outputs: `outputs:` if given, else the last layer. A layer that nothing reads and
    that is not an output is a warning W203 (a branch whose result is thrown away), and so is a
    network input no layer reads."""
    names = {n.name for n in nodes}
    after = {n.part_of: n.name for n in nodes if n.part_of}  # `activation:` shorthand: its output
    if declared is None:
        outputs = [nodes[-1].name]
    else:
        outputs = [after.get(name, name) for name in declared]
        loc = root.get("outputs").loc
        for name in outputs:
            if name not in names:
                diags.error("E113", f"'outputs' names no layer: '{clip(name)}'{did_you_mean(name, names)}", loc)
    if diags.has_errors():  # a broken reference would make its target look unused: say nothing more
        return outputs
    read = {name for n in nodes for name in n.inputs}
    states = {n.output(suffix): n.name for n in nodes for suffix in n.states}
    read |= {states[name] for name in read if name in states}  # reading `lstm.h` uses the lstm
    for node in nodes:
        if node.name not in read and node.name not in outputs:
            diags.warning(
                "W203",
                f"{node.name}: nothing reads this layer's output and it is not among the outputs "
                f"({', '.join(outputs)}); list it in 'outputs:' if it is one",
                node.loc,
                layer=node.name,
            )
    for inp in inputs:
        if inp.name not in read:
            diags.warning("W203", f"input '{inp.name}': no layer reads it", inp.loc)
    return outputs


def _losses(losses: dict, outputs: list[str], nodes: list[Node], diags: Diagnostics) -> dict:
    """`loss:` by output name ('*': every output); a name that is no output is an error E113."""
    after = {n.part_of: n.name for n in nodes if n.part_of}  # `activation:` shorthand: its output
    out = {}
    for name, (loss, loc) in losses.items():
        target = after.get(name, name)
        if name != "*" and target not in outputs:
            diags.error("E113", f"'loss' names no output: '{clip(name)}'{did_you_mean(name, outputs)}", loc)
            continue
        out[target] = loss
    return out


def _inputs(node, diags: Diagnostics) -> list:
    """`input:` as one mapping, or a list of named mappings (a network with several inputs; the first
    feeds the first layer, the others are read with `in:`): [(Input, locations of its keys)]. The
    layouts are settled by `_layouts` once the layers that read the inputs are known."""
    if not isinstance(node, YSeq):
        one = _input(node, diags)
        return [one] if one else []
    if not node.items:
        diags.error("E103", "'input' must be a mapping, or a non-empty list of named inputs", node.loc)
        return []
    made = [_input(item, diags) for item in node.items]
    if None in made:
        return []
    names: dict = {}
    for (inp, _), item in zip(made, node.items, strict=True):
        if inp.name in names:
            diags.error(
                "E112", f"input name '{clip(inp.name)}' is already used (line {names[inp.name].line})", item.loc
            )
        names[inp.name] = item.loc
    return made


# the layout of a sequence (steps, features) by convention, when the input does not say: PyTorch's
# nn.RNN/LSTM/GRU default batch_first=False (time first), Keras batch first. The batch is never
# part of a shape, so both read the sample as (steps, features): features last.
SEQUENCE_LAYOUT = {"pytorch": "tnf", "keras": "ntf"}


def _layouts(inputs: list, nodes: list[Node], convention: str, node, diags: Diagnostics) -> bool | None:
    """Settle each input's layout and check what depends on it; the graph's channels_last (None
    when the inputs cannot share one).

    An input without a written layout is a sequence when a layer that reads it takes sequences or
    token ids (a recurrent layer, an embedding: `LayerType.reads_sequence`): it gets the
    convention's sequence layout (SEQUENCE_LAYOUT), features last. Otherwise chw for PyTorch, hwc
    for Keras. A channels-first layout written on such an input of one or two axes (token ids, or
    (steps, features)) is an error: those layers read features last in both frameworks; an input of
    more axes is the recurrent layer's own rank error (E202)."""
    readers_of: dict = {}
    for n in nodes:
        for name in n.inputs:
            readers_of.setdefault(name, []).append(n)
    ok = True
    for inp, locs in inputs:
        reader = _sequence_reader(inp.name, readers_of)
        if not inp.layout:
            inp.layout = SEQUENCE_LAYOUT[convention] if reader else ("hwc" if convention == "keras" else "chw")
            inp.layout_default = True
        elif reader is not None and not LAYOUTS[inp.layout] and len(inp.shape) <= 2:  # else the layer's E202
            diags.error(
                "E105",
                f"input: layout '{inp.layout}' puts the channels first, but {reader.name} ({reader.op}) reads "
                f"'{inp.name}' as a sequence, whose features come last in both frameworks: write layout: "
                f"{SEQUENCE_LAYOUT[convention]} ({'time' if convention == 'pytorch' else 'batch'} first, as "
                f"{convention} does by default) or leave it out",
                locs["layout"],
            )
            ok = False
            continue
        _check_channels(inp.stats, inp.shape, LAYOUTS[inp.layout], locs, diags)
    families = {LAYOUTS[inp.layout] for inp, _ in inputs}
    if len(families) > 1:
        shown = ", ".join(f"'{inp.name}' {inp.layout}" for inp, _ in inputs)
        diags.error(
            "E105",
            f"the inputs mix channels-first and channels-last layouts ({shown}); give them one",
            node.loc,
            *(
                ("an input read by a recurrent layer or an embedding is a sequence, features last (ntf or tnf)",)
                if any(inp.layout in ("ntf", "tnf") for inp, _ in inputs)
                else ()
            ),
        )
        return None
    return families.pop() if ok else None


def layout_note(graph: Graph) -> str | None:
    """A note for an output size below 1 (E201) when an input's shape looks written in the other
    image layout: channels first with a last axis of 1 or 3 smaller than the others ([28, 28, 1]
    under chw), or channels last with such a first axis ([3, 32, 32] under hwc). None otherwise."""
    for inp in graph.inputs:
        shape, layout = inp.shape, inp.layout
        if len(shape) < 2 or layout in SEQUENCE_LAYOUT.values() or not all(isinstance(d, int) for d in shape):
            continue
        last = LAYOUTS[layout]
        channels, others = (shape[0], shape[1:]) if last else (shape[-1], shape[:-1])
        if channels in (1, 3) and channels < min(others):
            whose = "the input's" if len(graph.inputs) == 1 else f"input '{inp.name}':"
            default = f" ({graph.convention}'s default: no layout is written)" if inp.layout_default else ""
            looks, meant = ("channels-first", "chw") if last else ("channels-last", "hwc")
            return (
                f"{whose} layout is {layout}{default}; a shape [{', '.join(map(str, shape))}] looks {looks}: "
                f"did you mean layout: {meant}?"
            )
    return None


def _sequence_reader(name: str, readers_of: dict) -> Node | None:
    """The first layer that reads `name` as a sequence (`reads_sequence`), directly or after layers
    whose result does not depend on the layout (`layout_free`: dropout, activations); None if none."""
    todo, seen = [name], {name}
    while todo:
        for n in readers_of.get(todo.pop(0), ()):
            ltype = REGISTRY[n.op]
            if ltype.reads_sequence:
                return n
            if ltype.layout_free and n.name not in seen:
                seen.add(n.name)
                todo.append(n.name)
    return None


def _check_channels(stats: dict, shape: tuple, channels_last: bool, locs: dict, diags: Diagnostics) -> None:
    """Per-channel mean/std lists must have one entry per channel of the input."""
    channels = shape[-1] if channels_last else shape[0]
    for key in ("mean", "std"):
        value = stats.get(key)
        if isinstance(value, tuple) and len(value) not in (1, channels):
            diags.error(
                "E104",
                f"input: '{key}' has {len(value)} values, but the input has {channels} channels "
                f"(shape {list(shape)}); give one number or {channels}",
                locs[key],
            )
            stats.pop(key)


def _input(node, diags: Diagnostics):
    if not isinstance(node, YMap):
        diags.error("E103", f"'input' must be a mapping such as {{shape: [3, 32, 32]}}, got {describe(node)}", node.loc)
        return None
    v, locs = coerce_mapping(node, INPUT, diags, "input")
    rng = v.get("range")
    if rng is not None and not rng[0] < rng[1]:
        diags.error(
            "E104", f"input: 'range' must be [low, high] with low < high, got [{rng[0]:g}, {rng[1]:g}]", locs["range"]
        )
        v.pop("range")
    if "shape" not in v:
        return None
    elements = prod(v["shape"])
    if elements > MAX_INPUT_ELEMENTS:
        diags.error(
            "E104",
            f"input: 'shape' {list(v['shape'])} holds {elements:.3g} elements per sample; "
            f"netcalc takes at most {MAX_INPUT_ELEMENTS:.0e}",
            locs["shape"],
        )
        return None
    stats = {k: v[k] for k in ("mean", "std", "range", "correlation") if v.get(k) is not None}
    inp = Input(
        name=v.get("name", "input"), shape=v["shape"], loc=node.loc, dtype=v.get("dtype", "float32"), stats=stats
    )
    inp.layout = v.get("layout") or ""  # as written; `_layouts` gives the default
    return inp, locs


def _op_of(text: str) -> str | None:
    if text in REGISTRY:
        return text
    return ALIASES.get(text)


def _defaults(node, diags: Diagnostics) -> dict:
    """{op: {arg: value node}} for per-type defaults and {'*': {arg: value node}} for per-argument ones.

    Values stay YAML nodes: they are coerced by each layer's own schema when applied, so a
    default is checked exactly as if it were written on the layer.
    """
    out: dict = {"*": {}}
    if node is None:
        return out
    if not isinstance(node, YMap):
        diags.error("E103", f"'defaults' must be a mapping, got {describe(node)}", node.loc)
        return out
    all_args = {a for t in REGISTRY.values() for a in t.args} | {"activation"}
    for key, (knode, vnode) in node.entries.items():
        op = _op_of(key)
        if op is not None:
            if not isinstance(vnode, YMap):
                diags.error(
                    "E103", f"defaults: '{key}' must be a mapping of {op} arguments, got {describe(vnode)}", vnode.loc
                )
                continue
            allowed = set(REGISTRY[op].args) | ({"activation"} if REGISTRY[op].takes_activation else set())
            for akey, (aknode, avnode) in vnode.entries.items():
                if akey not in allowed:
                    diags.error(
                        "E102",
                        f"unknown key '{clip(akey)}' in defaults for {op}{did_you_mean(akey, allowed)}",
                        aknode.loc,
                    )
                    continue
                out.setdefault(op, {})[akey] = (aknode, avnode)
        elif key in all_args:
            out["*"][key] = (knode, vnode)
        else:
            diags.error(
                "E102",
                f"unknown key '{clip(key)}' in defaults: neither a layer type nor an argument"
                f"{did_you_mean(key, list(REGISTRY) + sorted(all_args))}",
                knode.loc,
            )
    return out


class _Namer:
    """Names in use, and the scope of the block being expanded: inside a block use, ids are local
    (qualified with the use's name and repetition) and `input` is what the block was given."""

    def __init__(self) -> None:
        self.counts: dict = {}
        self.used: dict = {}
        self.after: dict = {}  # a layer with an `activation:` shorthand -> the activation's node
        self.prefix = ""  # "stage2.1." inside repetition 1 of a use named stage2
        self.local: dict = {}  # local name -> qualified name, in the current block instance
        self.frames: tuple = ()
        self.group: tuple = ()
        self.hints: dict = {}  # (name, where it is written) -> its did-you-mean, worked out once

    def hint(self, ref: str, loc, exclude: str) -> str:
        """E113's did-you-mean for a name no earlier layer has, among the NEAR_NAMES latest names (a
        mistyped name is most likely a near one); the same for every repetition of a block, so
        that its error is reported once and worked out once."""
        key = (ref, loc)
        if key not in self.hints:
            latest = [n for n in islice(reversed(self.used), NEAR_NAMES) if n != exclude]
            known = [*self.local, *latest]  # the block's own ids first: they are what its layers write
            self.hints[key] = did_you_mean(ref, known)
        return self.hints[key]

    def qualify(self, name: str) -> str:
        return self.prefix + name

    def resolve(self, ref: str) -> str:
        """A name in `in:` as the graph knows it: local ids first, then the whole network's."""
        name = self.local.get(ref, ref)
        return self.after.get(name, name)

    def auto(self, op: str) -> str:
        key = (self.prefix, op)
        while True:
            self.counts[key] = self.counts.get(key, 0) + 1
            name = f"{self.prefix}{op}_{self.counts[key]}"
            if name not in self.used:
                return name


def _layers(
    node,
    defaults: dict,
    diags: Diagnostics,
    graph_input: Input | None,
    keras: bool,
    blocks: dict,
    extra_inputs: tuple = (),
    max_layers: int = MAX_LAYERS,
) -> list[Node]:
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
    return nodes


USE_KEYS = ("use", "id", "repeat", "first", "in")
MAX_NESTING = 16
KINDS = {int: Int(), float: Float(), bool: Bool(), str: Str()}


def _use_values(item: YMap, block, diags: Diagnostics):
    """A use's arguments by its block's parameters: (values, locations, the block's parameter values,
    those of the first repetition), or None when a required parameter is missing (reported)."""
    schema = {
        **{p: Arg(KINDS[t], d if d is not None else REQUIRED) for p, (t, d) in block.params.items()},
        "use": Arg(Str()), "id": Arg(Str(), None), "repeat": Arg(Int(1, 10_000, symbols=False), 1),
        "first": Arg(Str(), None), "in": Arg(Names(), None),
    }  # fmt: skip
    values, locs = coerce_mapping(item, schema, diags, f"use of block '{block.name}'", ignore=("first",))
    if any(p not in values for p in block.params if block.params[p][1] is None):
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
    parameters none): at most what it expands."""

    def __init__(self, blocks: dict, diags: Diagnostics) -> None:
        self.blocks = blocks
        self.diags = diags
        self.quiet = Diagnostics()  # findings the expansion reports itself
        self.memo: dict = {}

    def count(self, items: list) -> tuple[int, set, _Step | None]:
        """The top-level list: (layers, the ids of the uses that cannot be expanded, the largest use)."""
        total, broken, top = 0, set(), None
        if not self.blocks:
            return len(items), broken, top
        with _scratch_scope():
            for item in items:
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
        inner = (*chain, (name, block.loc, item.loc))
        rest = self.block(block, params, depth + 1, inner)
        one = self.block(block, {**params, **first}, depth + 1, inner) if first else rest
        layers = one.layers + (repeat - 1) * rest.layers
        step = _Step(name, item.loc, repeat, layers, one if one.layers > rest.layers else rest)
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
        for r in range(1, repeat + 1):
            saved = (namer.prefix, namer.local, namer.frames, namer.group)
            label = f"{use_id}.{r}" if repeat > 1 else use_id
            namer.prefix, namer.local = f"{label}.", {"input": previous}
            namer.frames = (*namer.frames, Frame(name, block.loc, item.loc, r, repeat))
            # the summary's hierarchy: the use (all its repetitions), then each repetition
            whole = ((use_id, f"{name} × {repeat}", item.loc.line),) if repeat > 1 else ()
            namer.group = (*namer.group, *whole, (label, name, item.loc.line))
            start, made = len(diags.items), len(self.nodes)
            layers = substitute(block.layers, {**env, **(first if r == 1 else {})}, diags)
            last = self.sequence(layers.items, previous, depth + 1)
            dead = last == UNKNOWN and len(self.nodes) == made and (r > 1 or not first)
            where = f"in block '{name}' ({block.loc}), used at {item.loc}" + (
                f" (repetition {r} of {repeat})" if repeat > 1 else ""
            )
            for d in diags.items[start:]:
                d.notes.append(where)
            namer.prefix, namer.local, namer.frames, namer.group = saved
            namer.used[label] = item.loc
            namer.local[label.removeprefix(namer.prefix)] = last
            namer.after[label] = last  # the use's name reads its last layer
            previous = last
            if dead:  # a repetition that made no layer, only errors: the next ones would repeat it
                break
        namer.after[use_id] = previous
        return previous


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
        diags.error("E111", f"unknown layer type '{clip(op_text)}'{did_you_mean(op_text, names)}", op_node.loc)
        _claim_id(item, namer)
        return None
    ltype = REGISTRY[op]
    takes_shorthand = ltype.takes_activation
    what = f"{op} layer"

    # the layer's own keys, then its type's defaults, then the per-argument defaults
    entries = dict(item.entries)
    for source in (defaults.get(op, {}), defaults["*"]):
        for key, pair in source.items():
            if key not in entries and (key in ltype.args or (key == "activation" and takes_shorthand)):
                entries[key] = pair
    schema = {**ltype.args, **{k: Arg(Str(), None) for k in LAYER_KEYS}, "in": Arg(Names(), None), **LAYER_EXTRA}
    if not takes_shorthand:
        schema.pop("activation")
    merged = YMap(entries, item.loc, item.incomplete)
    errors_before = len(diags.errors)
    scope = CURRENT[-1] if CURRENT else None
    conditions_before = len(scope.conditions) if scope is not None else 0
    values, locs = coerce_mapping(merged, schema, diags, what, ignore=("activation",))
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
    inputs = [previous]
    if "in" in values:
        # a layer written with `activation:` is read after its activation, as the frameworks do
        inputs = [namer.resolve(ref) for ref in values["in"]]
        for ref in inputs:
            if ref not in namer.used or ref == name:
                hint = namer.hint(ref, locs["in"], name)
                diags.error("E113", f"'in: {clip(ref)}' names no earlier layer or input{hint}", locs["in"])
        if ltype.arity is not None and len(inputs) != ltype.arity:
            diags.error(
                "E115",
                f"{op} takes one input, got {len(inputs)} in 'in:' ({', '.join(map(clip, inputs))}); "
                "merge them first with add, concat or multiply",
                locs["in"],
            )
        elif ltype.arity is None and len(inputs) < 2:
            diags.error("E115", f"{op} merges two or more inputs, got {len(inputs)} in 'in:'", locs["in"])
    elif ltype.arity is None:
        diags.error("E115", f"{op} merges two or more inputs: name them, e.g. in: [main, shortcut]", item.loc)

    args = {k: v for k, v in values.items() if k in ltype.args}
    states = tuple(ltype.state_names(args, keras))
    for suffix in states:  # extra outputs later layers may take by name
        namer.used[f"{name}.{suffix}"] = item.loc
        if namer.prefix and values.get("id") is not None:  # `in: enc.h` inside the block that defines enc
            namer.local[f"{local}.{suffix}"] = f"{name}.{suffix}"
    # any error in the layer's own mapping (a typo included) leaves its shape unknown
    invalid = len(diags.errors) > errors_before or _failed(merged)
    for key, arg in ltype.args.items():
        args.setdefault(key, None if arg.required else arg.default)
    node = Node(name=name, op=op, args=args, inputs=inputs, loc=item.loc, arg_locs=locs, invalid=invalid,
                frames=namer.frames, group=namer.group, states=states)  # fmt: skip
    for c in scope.conditions[conditions_before:] if scope is not None else ():  # a width's, from its arguments
        c.layer, c.what = name, f"{name}: {c.what.split(': ', 1)[-1]}"
    node.noqa = values.get("noqa") or {}
    out = [node]
    if "activation" in entries and takes_shorthand:
        act = _shorthand(entries["activation"][1], node, diags)
        if act is not None:
            out.append(act)
            namer.after[name] = act.name
            namer.used[act.name] = act.loc
            act.frames, act.group = namer.frames, namer.group
    return out


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


__all__ = ["DTYPES", "INVALID", "load"]
