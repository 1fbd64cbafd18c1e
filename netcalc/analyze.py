"""The analytic engine: shapes, parameters per tensor, MACs, FLOPs, receptive fields and memory.

Walks the expanded graph in order and asks each node's layer type for its figures. A node whose
arguments or input shape are unusable reports why (once) and leaves its output unknown; the
nodes after it are skipped rather than reporting errors that only follow from the first one.
Counts are per sample; `Totals` also gives them for the whole batch and the memory in bytes.
"""

from __future__ import annotations

from math import prod

from .block_input import resolve_deferred
from .diagnostics import Diagnostics
from .graph import Graph, Node
from .layers import REGISTRY, LayerType
from .layers.base import Ctx, Tensor, fmt_shape
from .layouts import layout_note
from .spec import DTYPES, FLOAT_DTYPES

ELSEWHERE = ("shared", "tied")  # tensor kinds that are another layer's, listed here and counted there


class Row:
    """One node's figures (out_shape None where the node could not be resolved)."""

    __slots__ = ("buffers", "extra", "flops", "g", "in_shapes", "ltype", "macs", "node", "out_shape", "params",
                 "per_step", "rf", "tensors", "tied", "trainable", "weight_shape")  # fmt: skip

    def __init__(self, node: Node, ltype: LayerType, in_shapes: list) -> None:
        self.node = node
        self.ltype = ltype
        self.in_shapes = in_shapes
        self.out_shape: tuple | None = None
        self.extra: dict = {}  # extra outputs by suffix (final states of a recurrent layer)
        self.g = None  # the layer type's geometry, for `explain`
        self.per_step: tuple | None = None  # (MACs, FLOPs) of one time step, for recurrent layers
        self.tensors: list[Tensor] = []
        self.macs = 0
        self.flops = 0
        self.weight_shape = ""
        self.rf: list | None = None  # [(receptive field, jump)] per spatial axis
        self.params = 0  # parameters (trainable and not); buffers are not parameters
        self.trainable = 0
        self.buffers = 0
        # `tie: NAME`: (its tensor's name, NAME, NAME's tensor's name, stored transposed), or None
        self.tied: tuple | None = None

    @property
    def ok(self) -> bool:
        return self.out_shape is not None

    def count(self) -> None:
        """Sum the tensors once: parameters, the trainable ones, buffers."""
        for t in self.tensors:
            n = t.count
            if t.kind in ELSEWHERE:  # another layer's weights (`shares:`, `tie:`), counted there
                continue
            if t.kind == "buffer":
                self.buffers += n
            else:
                self.params += n
                if t.trainable:
                    self.trainable += n


def _sum(values):
    """sum(), or for a symbolic spec (a formula among the values) formulas.total, which adds the
    formulas at once instead of one by one."""
    values = list(values)
    if all(type(v) is int for v in values):
        return sum(values)
    from .formulas import total

    return total(values)


class Totals:
    """Sums over the rows; counts per sample, memory in bytes for the batch."""

    def __init__(self, rows: list[Row], graph: Graph, batch: int, dtype: str | None) -> None:
        self.params = _sum(r.params for r in rows)
        self.trainable_params = _sum(r.trainable for r in rows)
        self.non_trainable_params = self.params - self.trainable_params
        self.frozen_params = _sum(r.params for r in rows if r.node.frozen)  # among the non-trainable ones
        self.buffers = _sum(r.buffers for r in rows)
        self.macs = _sum(r.macs for r in rows)
        self.flops = _sum(r.flops for r in rows)
        self.batch = batch
        # the element type of weights and activations: --dtype, else the input's when it is a float
        # type, else (token ids) float32; the input itself is counted in its own type
        in_dtype = graph.inputs[0].dtype
        self.dtype = dtype or (in_dtype if in_dtype in FLOAT_DTYPES else "float32")
        self.input_elements = sum(prod(i.shape) for i in graph.inputs)
        # a source's output (a free parameter) is its own tensor, the same for every sample: held once,
        # with the parameters, not as an activation per sample
        self.activation_elements = _sum(
            prod(r.out_shape) for r in rows if r.out_shape is not None and r.ltype.arity != 0
        )
        self.macs_batch = self.macs * batch
        self.flops_batch = self.flops * batch
        size = self.element_bytes = DTYPES[self.dtype]
        self.param_bytes = self.params * size
        self.buffer_bytes = self.buffers * size
        self.input_bytes = batch * self.input_elements * DTYPES[dtype or in_dtype]
        self.activation_bytes = batch * self.activation_elements * size
        self.total_bytes = self.param_bytes + self.buffer_bytes + self.input_bytes + self.activation_bytes


class Group:
    """One block use (or one repetition of it) in the summary's hierarchy, with its own totals."""

    __slots__ = ("block", "depth", "flops", "frozen", "label", "line", "macs", "out_shape", "params", "shares",
                 "trainable")  # fmt: skip

    def __init__(self, label: str, block: str, depth: int, line: int, shares: str | None = None) -> None:
        self.label, self.block, self.depth, self.line = label, block, depth, line
        self.params = self.trainable = self.macs = self.flops = 0
        self.frozen = 0  # the parameters of its frozen layers (`trainable: false`)
        self.out_shape: tuple | None = None
        self.shares = shares  # the use or repetition whose weights its layers use (`shares:`, `shared:`)


def _groups(rows: list[Row], use_shares: dict) -> dict:
    """Totals per block use and repetition, by label (the node's group path)."""
    groups: dict = {}
    members: dict = {}  # label -> its rows, whose figures are summed once at the end (_sum)
    for row in rows:
        for depth, (label, block, line) in enumerate(row.node.group, 1):
            if label not in groups:
                groups[label], members[label] = Group(label, block, depth, line, use_shares.get(label)), []
            members[label].append(row)
            groups[label].out_shape = row.out_shape
    for label, its in members.items():
        g = groups[label]
        g.params, g.trainable = _sum(r.params for r in its), _sum(r.trainable for r in its)
        g.macs, g.flops = _sum(r.macs for r in its), _sum(r.flops for r in its)
        g.frozen = _sum(r.params for r in its if r.node.frozen)
    return groups


class Analysis:
    def __init__(self, graph: Graph, rows: list[Row], totals: Totals, diags: Diagnostics) -> None:
        self.graph = graph
        self.rows = rows
        self.totals = totals
        self.diags = diags
        self.groups = _groups(rows, graph.use_shares)

    @property
    def ok(self) -> bool:
        return not self.diags.has_errors()

    @property
    def layer_types(self) -> list[LayerType]:
        """The layer types of the network, each once, in the order they first appear."""
        return list({id(row.ltype): row.ltype for row in self.rows}.values())


def analyze(graph: Graph, diags: Diagnostics, batch: int = 1, dtype: str | None = None) -> Analysis:
    """Figures for every node of the graph; errors and warnings go to diags."""
    shapes: dict = {inp.name: inp.shape for inp in graph.inputs}
    fields: dict = {inp.name: [(1, 1)] * (len(inp.shape) - 1) for inp in graph.inputs}
    rows: list[Row] = []
    memo: dict = {}
    borders: dict = {}  # the rows of padding at each tensor's border (LayerType.padded_border)
    spaces: dict = {}  # what an extra output of positions indexes (LayerType.index_spaces), by tensor
    places = _places(graph)
    start = len(diags.items)
    by_name: dict = {}
    for node in graph.nodes:
        ltype = REGISTRY[node.op]
        in_shapes = [shapes.get(name) for name in node.inputs]
        row = Row(node, ltype, in_shapes)
        rows.append(row)
        by_name[node.name] = row
        if node.invalid or any(s is None for s in in_shapes):
            shapes[node.name] = None
            fields[node.name] = None
            continue
        if node.deferred and not resolve_deferred(node, shapes, graph, diags):  # `${in.channels // 2}`
            shapes[node.name] = None
            fields[node.name] = None
            continue
        border = borders.get(node.inputs[0]) if node.inputs else None
        in_spaces = [spaces.get(name) for name in node.inputs]
        owner = by_name.get(node.shares or node.tie)
        _resolve(row, graph, diags, fields, memo, places, border, owner, in_spaces)
        if row.ok and _too_many_elements(row, diags):
            row.out_shape, row.extra = None, {}
        shapes[node.name] = row.out_shape
        if row.ok:
            borders[node.name] = ltype.padded_border(row.g, border)
        for suffix, shape in row.extra.items():  # named extra outputs: `in: lstm_1.h`
            shapes[f"{node.name}.{suffix}"] = shape
            fields[f"{node.name}.{suffix}"] = None
        for suffix, space in (ltype.index_spaces(row.g) if row.extra else {}).items():
            spaces[f"{node.name}.{suffix}"] = space
        fields[node.name] = row.rf
    sizes_below_1 = [d for d in diags.items[start:] if d.code == "E201"]
    note = layout_note(graph) if sizes_below_1 else None
    for d in sizes_below_1 if note else ():  # a channel axis in the wrong place: say which layout is meant
        d.notes.append(note)
    totals = Totals(rows, graph, batch, dtype)
    return Analysis(graph, rows, totals, diags)


MAX_ELEMENTS = 2**63 - 1  # PyTorch and TensorFlow index a tensor's elements with int64


def _too_many_elements(row: Row, diags: Diagnostics) -> bool:
    """E210 for an output of more elements per sample than an int64 index reaches (upsampling by 4
    thirty times over: 1.2·10¹⁸ and on), rather than figures no float can hold."""
    n = prod(getattr(x, "v", x) for x in row.out_shape)
    if n <= MAX_ELEMENTS:
        return False
    node = row.node
    diags.error(
        "E210",
        f"{node.name}: its output {fmt_shape(tuple(getattr(x, 'v', x) for x in row.out_shape))} has "
        f"{n:.3e} elements per sample, more than the 2⁶³ − 1 a framework can index",
        node.loc,
        layer=node.name,
    )
    return True


def context(graph: Graph, node: Node, diags: Diagnostics, places: dict | None = None) -> Ctx:
    """What a layer type may know about a node: the conventions, the layout, the inputs' element
    types and where its inputs are written, where to report."""
    ctx = Ctx(node, graph.convention, graph.channels_last, diags, graph.counting)
    ctx.input_dtypes = {inp.name: inp.dtype for inp in graph.inputs}
    if graph.symbols is not None and graph.symbols.free:
        ctx.conditions = graph.symbols.conditions
        ctx.at = ", ".join(f"{name} = {value}" for name, value in graph.symbols.point.items())
    places = places if places is not None else _places(graph)
    ctx.input_locs = [places.get(graph.producer(name), node.loc) for name in node.inputs]  # `enc.h`: where enc is
    return ctx


def explain_context(analysis: Analysis, row: Row) -> Ctx:
    """`netcalc explain`'s context for one row: `context`, and the rows that read its output (looking
    through stochastic layers, the identity at inference, as W404 looks through a dropout), so that a
    layer's explain can say what its readers cost because of it (a global pool: the dense after it)."""
    ctx = context(analysis.graph, row.node, analysis.diags)
    readers: dict = {}
    for r in analysis.rows:
        for name in r.node.inputs:
            readers.setdefault(name, []).append(r)
    todo, seen = list(readers.get(row.node.name, [])), set()
    while todo:
        r = todo.pop(0)
        if id(r) in seen:
            continue
        seen.add(id(r))
        if r.ltype.stochastic:
            todo += readers.get(r.node.name, [])
        elif r.ok:
            ctx.readers.append(r)
    return ctx


def _places(graph: Graph) -> dict:
    """Where every input and layer is written, by name."""
    return {**{i.name: i.loc for i in graph.inputs}, **{n.name: n.loc for n in graph.nodes}}


def _resolve(
    row: Row,
    graph: Graph,
    diags: Diagnostics,
    fields: dict,
    memo: dict,
    places: dict,
    border: tuple | None = None,
    owner: Row | None = None,
    in_spaces: list | None = None,
) -> None:
    """Ask the layer type for the node's figures (`border`: the rows of padding its input is known to
    end in, from a padding layer just before; `in_spaces`: what each input indexes, `Ctx.input_spaces`).
    Repeated layers (the same type and arguments on the same input shapes, border and spaces, as in a
    deep stack of blocks) are worked out once: the memo keeps only results whose working-out reported
    nothing, so every repetition still gets its own warnings."""
    node, ltype = row.node, row.ltype
    in_spaces = in_spaces or [None] * len(node.inputs)
    try:
        key = (node.op, tuple(node.args.items()), tuple(row.in_shapes), border, tuple(in_spaces))
        hash(key)
    except TypeError:  # an unhashable argument value: no memo for this one
        key = None
    hit = memo.get(key) if key is not None else None
    if hit is None:
        ctx = context(graph, node, diags, places)
        ctx.padded_border = border
        ctx.input_spaces = list(in_spaces)
        before = len(diags.items)
        g = ltype.resolve(node.args, row.in_shapes, ctx)
        if g is None or ctx.failed:
            return
        tensors = ltype.params(g, ctx)
        hit = (
            g,
            tuple(ltype.output_shape(g)),
            tensors,
            ltype.macs(g),
            ltype.flops(g),
            ltype.weight_shape(g, tensors),
            ltype.extra_outputs(g),
            (ltype.macs_per_step(g), ltype.flops_per_step(g)) if ltype.recurrent else None,
        )
        if key is not None and len(diags.items) == before:
            memo[key] = hit
    g, row.out_shape, row.tensors, row.macs, row.flops, row.weight_shape, row.extra, row.per_step = hit
    row.g = g
    row.tensors = ltype.own_tensors(row.tensors, node)  # a free parameter's, named after the node
    if node.frozen:  # `trainable: false`: its parameters are non-trainable in both conventions; buffers stay buffers
        row.tensors = [Tensor(t.name, t.shape, False, t.kind) if t.kind == "param" else t for t in row.tensors]
    if node.shares is not None and not _shared(row, owner, diags, lambda: context(graph, node, diags, places)):
        row.out_shape, row.extra, row.tensors = None, {}, []
        return
    if node.tie is not None and not _tied(
        row, owner, graph.counting, diags, lambda: context(graph, node, diags, places)
    ):
        row.out_shape, row.extra, row.tensors = None, {}, []
        return
    row.count()
    rf_in = fields.get(node.inputs[0]) if node.inputs else None
    if rf_in is not None and len(row.in_shapes[0]) - 1 != len(rf_in):
        rf_in = None
    row.rf = ltype.receptive(g, rf_in)
    if row.rf is not None and len(row.rf) != len(row.out_shape) - 1:
        row.rf = None


def _shared(row: Row, owner: Row | None, diags: Diagnostics, ctx_of) -> bool:
    """A layer that uses `owner`'s weights (`shares:`): its tensors become kind "shared" (listed,
    counted at the owner only). False after E209 when its input needs other tensors than the
    owner's (a convolution's input channels, a dense layer's features). With symbolic sizes, that
    the two agree at every size is a condition (`netcalc sizes`: a Siamese tower's two inputs)."""
    node = row.node
    if owner is not None and owner.ok:
        ctx = ctx_of()
        for t, o in zip(row.tensors, (t for t in owner.tensors if t.kind != "shared"), strict=False):
            if t.name == o.name and len(t.shape) == len(o.shape):
                for a, b in zip(t.shape, o.shape, strict=True):
                    ctx.same([a, b], f"{t.name} fits {owner.node.name}'s {fmt_shape(o.shape)}", "shares")
        mine = [(t.name, tuple(t.shape)) for t in row.tensors]
        theirs = [(t.name, tuple(t.shape)) for t in owner.tensors if t.kind != "shared"]
        if mine != theirs:

            def listed(ts) -> str:
                return ", ".join(f"{name} {fmt_shape(shape)}" for name, shape in ts) or "no tensors"

            ins = ", ".join(fmt_shape(s) for s in row.in_shapes)
            diags.error(
                "E209",
                f"{node.name} shares {owner.node.name}'s weights ({listed(theirs)}; line {owner.node.loc.line}), "
                f"but its input {ins} needs {listed(mine)}; {owner.node.name}'s input is "
                + ", ".join(fmt_shape(s) for s in owner.in_shapes),
                node.arg_loc("shares"),
                layer=node.name,
            )
            return False
    row.tensors = [Tensor(t.name, t.shape, t.trainable, "shared") for t in row.tensors]
    return True


def _tied(row: Row, owner: Row | None, counting: str, diags: Diagnostics, ctx_of) -> bool:
    """A layer whose tensor is another's (`tie:`): that tensor becomes kind "tied" (listed, counted
    at the owner only; trainable as the owner's is), as its type's Tie for the owner's type says
    which of each and whether it is stored transposed in the counting convention. False after E209
    when its shape is not the owner's (transposed where the Tie says); with symbolic sizes, that
    they agree at every size is a condition."""
    node, rule = row.node, row.node.tie_rule
    if owner is None or not owner.ok:
        return True
    mine, theirs = row.tensors[rule.mine], owner.tensors[rule.theirs]
    transposed = counting in rule.transposed
    wanted = tuple(reversed(theirs.shape)) if transposed else tuple(theirs.shape)
    if len(wanted) == len(mine.shape):
        ctx = ctx_of()
        for a, b in zip(mine.shape, wanted, strict=True):
            ctx.same([a, b], f"{mine.name} fits {owner.node.name}'s {theirs.name} {fmt_shape(theirs.shape)}", "tie")
    if tuple(mine.shape) != wanted:
        how = f", transposed: {fmt_shape(wanted)}" if transposed else ""
        diags.error(
            "E209",
            f"{node.name} ties its {mine.name} to {owner.node.name}'s {theirs.name} {fmt_shape(theirs.shape)} "
            f"(line {owner.node.loc.line}){how}, but it needs {mine.name} {fmt_shape(mine.shape)} (its input is "
            + ", ".join(fmt_shape(s) for s in row.in_shapes)
            + ")",
            node.arg_loc("tie"),
            layer=node.name,
        )
        return False
    row.tensors = [Tensor(t.name, t.shape, theirs.trainable, "tied") if i == rule.mine else t
                   for i, t in enumerate(row.tensors)]  # fmt: skip
    row.tied = (mine.name, owner.node.name, theirs.name, transposed)
    return True


# What the counts include, whatever the layer types, stated in every summary (table header, Markdown,
# JSON); what each type's MACs and FLOPs count is its own `counting` statement (`counting` below).
COUNTING = {
    "macs": "weight multiply-accumulates, bias excluded",
    "flops": "one inference pass",
    "params": {
        "pytorch": "as PyTorch's model.parameters()",
        "keras": "as Keras's model.summary()",
    },
    "batch": "per-layer counts are per sample; totals are given per sample and for the batch",
    "memory": "activations = every layer output kept for the backward pass × batch × dtype size; MB = 10^6 bytes",
}


def counting(types: list[LayerType], convention: str) -> dict:
    """What the figures of a network of these layer types count, parameters counted as `convention`
    does: the general statements (COUNTING) and, as [(ops, statement)] with the types that state the
    same together, in the order given, `rules` (the types' counting statements) and `params_notes`
    (their notes on parameters)."""

    def grouped(statement) -> list[tuple[list[str], str]]:
        groups: dict = {}
        for t in types:
            ops = groups.setdefault(statement(t), [])
            if t.op not in ops:
                ops.append(t.op)
        return [(ops, text) for text, ops in groups.items()]

    return {
        "macs": COUNTING["macs"],
        "flops": COUNTING["flops"],
        "params": COUNTING["params"][convention],
        "params_notes": [group for group in grouped(lambda t: t.counting_params.get(convention)) if group[1]],
        "batch": COUNTING["batch"],
        "memory": COUNTING["memory"],
        "rules": grouped(lambda t: t.counting),
    }
