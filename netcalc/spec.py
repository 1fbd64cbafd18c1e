"""From a spec file to the expanded graph: the top-level schema, the inputs, defaults, the layer list
(expanded by expand.py, each layer read by layer_entry.py; the inputs' layouts settled by
layouts.py) and the outputs.

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

import math
from math import prod
from pathlib import Path

from .arg_symbols import CURRENT
from .blocks import parse_blocks
from .compound_kinds import Names, Numbers, PerChannel
from .config import Loss, Settings
from .diagnostics import Diagnostics, clip, did_you_mean
from .expand import MAX_LAYERS, _layers
from .graph import Graph, Input, Node
from .kinds import INVALID, Arg, Choice, Float, Int, Shape, Str, coerce_mapping
from .layer_entry import _op_of
from .layers import REGISTRY
from .layouts import LAYOUTS, _layouts
from .spec_text import STDIN, read_text
from .symbols import Scope, parse_declarations
from .yamlsrc import YMap, YSeq, describe, parse_yaml

VERSION = 1
DTYPES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int8": 1, "int32": 4, "int64": 8}
FLOAT_DTYPES = ("float32", "float16", "bfloat16", "float64")

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
MAX_INPUT_ELEMENTS = 10**15  # far beyond any real input; keeps every count printable as a float


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
    their defaults; with `symbolic`, a symbol --set does not fix stays a formula (netcalc.formulas)."""
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
    use_shares: dict = {}
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
            use_shares,
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
    graph.use_shares = use_shares
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


def _many(n: int) -> str:
    """A count as a short number: 1e+16, or about 10^400 for one too large for a float (a symbolic
    count, a Dual, by its number at the symbols' values)."""
    n = int(getattr(n, "v", n))
    return f"{n:.3g}" if n < 10**300 else f"about 10^{int(math.log10(n))}"


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
            f"input: 'shape' {clip(list(v['shape']))} holds {_many(elements)} elements per sample; "
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
                f"{did_you_mean(key, list(REGISTRY) + sorted(all_args), ties=True)}",
                knode.loc,
            )
    return out


__all__ = ["DTYPES", "INVALID", "load"]
