"""Renderers: the analysis as the summary table, Markdown, and `explain`; JSON and CSV are in
render_formats.py, the table drawing in table.py. They format; they do no arithmetic beyond scaling
a number for display."""

from __future__ import annotations

from .analyze import Analysis, Row
from .diagnostics import Diagnostic
from .figure_text import _with_human, count, known, mb, symbols_line
from .layers.base import fmt_shape
from .legend import legend_lines
from .table import NAME_BREAKS, Drop, Style, Wrap, box_table
from .table import terminal_width as terminal_width  # cli.py reads it as render.terminal_width

COLUMNS = ["#", "layer", "type", "output shape", "weight shape", "params", "MACs", "RF", "jump", "line"]


def _fraction(j) -> str:
    if isinstance(j, int):
        return str(j)
    f = j  # a Fraction: after upsampling or a transposed convolution
    return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"


def _axes(values) -> str:
    values = list(values)
    return values[0] if len(set(values)) == 1 else "×".join(values)


def rf_text(row: Row) -> tuple[str, str]:
    if not row.rf:
        return "—", "—"
    return _axes(_fraction(r) for r, _ in row.rf), _axes(_fraction(j) for _, j in row.rf)


def cells(a: Analysis, row: Row, index: int) -> list[str]:
    node = row.node
    rf, jump = rf_text(row)
    name = node.name if node.part_of is None else "  └ " + node.op  # a shorthand activation: PARENT.op
    if not row.ok:
        return [str(index), name, node.op, "?", "", "", "", "", "", str(node.loc.line)]
    return [
        str(index),
        name,
        node.op,
        fmt_shape(row.out_shape),
        row.weight_shape,
        f"shared with {node.shares}"
        if node.shares is not None  # `shares:`: counted at the owner
        else _params_cell(row.params, row.params if node.frozen else 0) + f" + {tie_text(row)}"
        if row.tied is not None  # `tie:`: its own tensors here, the tied one at the owner
        else _params_cell(row.params, row.params if node.frozen else 0)
        if row.params or row.ltype.parametric
        else "",
        f"{row.macs:,}" if row.macs else "",
        rf,
        jump,
        str(node.loc.line),
    ]


def tie_text(row: Row) -> str:
    """`tie:`: which tensor is whose, "weight tied with wte.weight" ("kernel tied with
    wte.embeddings, transposed" where it is stored as the other's transpose)."""
    mine, owner, theirs, transposed = row.tied
    return f"{mine} tied with {owner}.{theirs}" + (", transposed" if transposed else "")


def _params_cell(params, frozen) -> str:
    """A row's or a group's parameters, with how many of them are frozen (`trainable: false`):
    "9,408 frozen" when all are, "147,968 (73,984 frozen)" when some are."""
    text = f"{params:,}"
    if not frozen:
        return text
    return f"{text} frozen" if frozen == params else f"{text} ({frozen:,} frozen)"


def _counted_as(g) -> str:
    """With --convention naming the other framework: only the counting changes (which tensors are
    parameters, their names and layouts); the architecture (biases, eps, padding, layout) is the
    spec's, so `resnet50 --convention keras` is not Keras's ResNet50."""
    if g.counting == g.convention:
        return ""
    return (
        f", counted as {g.counting} (the architecture is the spec's: biases, eps, layout as written for {g.convention})"
    )


def detail_cells(row: Row) -> list[list[str]]:
    """Rows under a recurrent layer: one per weight tensor (input kernel, recurrent kernel, biases)."""
    if not row.ltype.recurrent or not row.ok:
        return []
    return [["", f"  · {t.name}", "", "", fmt_shape(t.shape), f"{t.count:,}", "", "", "", ""] for t in row.tensors]


def header_lines(a: Analysis, legend: bool = False) -> list[str]:
    """The summary's header: the spec, convention, input and batch; the counting legend (`legend`: in
    full); the symbols."""
    g, t = a.graph, a.totals
    inp = g.inputs[0]
    if len(g.inputs) == 1:
        given = f"input {fmt_shape(inp.shape)} ({g.layout}, {inp.dtype})"
    else:
        given = "inputs " + ", ".join(f"{i.name} {fmt_shape(i.shape)} ({i.dtype})" for i in g.inputs) + f" ({g.layout})"
    return [
        f"{g.name} · convention {g.convention}{_counted_as(g)} · {given} · batch {t.batch}"
        + (f" · weights and activations {t.dtype}" if t.dtype != inp.dtype else ""),
        *legend_lines(a, legend),
        *symbols_line(a),
    ]


def totals_lines(a: Analysis) -> list[tuple[str, str]]:
    t = a.totals
    v = known(a)
    lines = [
        ("Total params", count(t.params, v)),
        ("Trainable params", count(t.trainable_params, v)),
        ("Non-trainable params", count(t.non_trainable_params, v)),
    ]
    if t.frozen_params:  # `trainable: false`: the part of the non-trainable ones that is frozen
        lines.append(("  of them frozen", count(t.frozen_params, v)))
    if t.buffers:
        lines.append(("Buffers (not params)", count(t.buffers, v)))
    lines += [
        ("MACs per sample", _with_human(t.macs, v)),
        ("FLOPs per sample", _with_human(t.flops, v)),
    ]
    if hasattr(t.batch, "e") or t.batch != 1:
        lines += [
            (f"MACs for batch {t.batch}", _with_human(t.macs_batch, v)),
            (f"FLOPs for batch {t.batch}", _with_human(t.flops_batch, v)),
        ]
    lines += [
        ("Parameter memory", mb(t.param_bytes, v) + (f" + {mb(t.buffer_bytes, v)} buffers" if t.buffers else "")),
        (f"Input memory (batch {t.batch})", mb(t.input_bytes, v)),
        (f"Activation memory (batch {t.batch})", mb(t.activation_bytes, v)),
        ("Estimated total", mb(t.total_bytes, v)),
    ]
    return lines


RIGHT = ("#", "params", "MACs", "RF", "jump", "line")


def view_rows(a: Analysis, depth: int | None = None) -> list[tuple[list[str], bool]]:
    """The table's rows: every layer, each block use (and repetition) as a group row with its own
    totals above its layers; with `depth`, what lies deeper than that is folded into its group row
    (as torchinfo's depth). A flag marks rows shown dimmed."""
    out = []
    shown: set = set()
    for i, row in enumerate(a.rows, 1):
        path = row.node.group
        for level, (label, _, _) in enumerate(path, 1):
            if label in shown or (depth is not None and level > depth):
                continue
            shown.add(label)
            g = a.groups[label]
            parent = path[level - 2][0] + "." if level > 1 else ""
            out.append(([
                "", "  " * (level - 1) + label.removeprefix(parent), f"[{g.block}]",
                fmt_shape(g.out_shape) if g.out_shape else "?", "",
                f"shared with {g.shares}" if g.shares is not None and not g.params else _params_cell(g.params, g.frozen),
                f"{g.macs:,}" if g.macs else "",
                "", "", str(g.line),
            ], False))  # fmt: skip
        if depth is not None and len(path) >= depth:
            continue
        cells_ = cells(a, row, i)
        if path:
            local = row.node.name.removeprefix(path[-1][0] + ".")
            cells_[1] = "  " * len(path) + (cells_[1] if row.node.part_of else local)
        out.append((cells_, row.node.part_of is not None))
        out += [(c, True) for c in detail_cells(row)]
    return out


_C = COLUMNS.index
# How the summary narrows to the terminal (README, "Tables and the terminal's width"): line, jump,
# RF and # go first, in this order; then names longer than 24 characters wrap (after a dot, an
# underscore or a slash) and weight shapes longer than 12 (after a space); then type goes, then
# weight shape; then the layer names wrap further, the output shapes (after a ×) and symbolic
# counts (after a ·). Numbers are never cut.
SUMMARY_PLAN = (
    Drop(_C("line")), Drop(_C("jump")), Drop(_C("RF")), Drop(_C("#")),
    Wrap(_C("layer"), least=24), Wrap(_C("weight shape"), least=12), Drop(_C("type")), Drop(_C("weight shape")),
    Wrap(_C("layer"), _C("output shape"), _C("MACs"), _C("params")),
)  # fmt: skip
SUMMARY_BREAKS = {
    _C("layer"): NAME_BREAKS, _C("weight shape"): " ", _C("output shape"): "×", _C("MACs"): "· ", _C("params"): "· "
}  # fmt: skip


def render_table(
    a: Analysis, style: Style, depth: int | None = None, width: int | None = None, legend: bool = False
) -> str:
    """Header (the counting legend in full with `legend`), the per-layer table (with block groups), totals;
    the table fitted to `width` (when given) by SUMMARY_PLAN."""
    rows = [
        (
            [
                "",
                inp.name,
                "input",
                fmt_shape(inp.shape),
                "",
                "",
                "",
                *(("1", "1") if len(inp.shape) > 1 else ("—", "—")),
                str(inp.loc.line),
            ],
            False,
        )
        for inp in a.graph.inputs
    ]
    rows += view_rows(a, depth)
    head = header_lines(a, legend)
    out = [style.bold(head[0]), *(style.dim(line) for line in head[1:])]
    out += box_table(COLUMNS, rows, RIGHT, style, width, SUMMARY_PLAN, SUMMARY_BREAKS)
    totals = totals_lines(a)
    width = max(len(k) for k, _ in totals)
    out += [f"{key:<{width}}  {value}" for key, value in totals]
    return "\n".join(out) + "\n"


def diagnostic_lines(diags: list[Diagnostic], sources: dict | None = None) -> list[str]:
    """Compiler-style lines; with the source text, a snippet with a caret under the column."""
    out = []
    for d in diags:
        out.append(d.format())
        text = (sources or {}).get(d.loc.file)
        if text and d.loc.line > 0:
            lines = text.splitlines()
            if d.loc.line <= len(lines):
                src = lines[d.loc.line - 1]
                out.append(f"  {d.loc.line:>4} | {src}")
                out.append(f"       | {' ' * max(d.loc.col - 1, 0)}^")
    return out


def render_markdown(a: Analysis, depth: int | None = None, legend: bool = False) -> str:
    head = header_lines(a, legend)
    out = [f"### {head[0]}", "", *(f"> {line}  " for line in head[1:]), ""]
    out.append("| " + " | ".join(COLUMNS) + " |")
    out.append("|" + "|".join("---:" if c in RIGHT else "---" for c in COLUMNS) + "|")
    for cells_, _ in view_rows(a, depth):
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells_) + " |")
    out.append("")
    out += [f"- **{k}**: {v}" for k, v in totals_lines(a)]
    warnings = [d for d in a.diags.sorted() if d.severity == "warning"]
    if warnings:
        out += ["", "**Warnings**", "", *(f"- `{d.format().splitlines()[0]}`" for d in warnings)]
    return "\n".join(out) + "\n"


def explain_lines(a: Analysis, row: Row, ctx) -> list[str]:
    """`netcalc explain`: one layer, its shapes, tensors and counts, and the layer type's formulas."""
    node, ltype = row.node, row.ltype
    where = f"{node.loc.file} line {node.loc.line}"
    out = [
        f"{node.name} ({node.op}: {ltype.summary}) · {where} · convention {a.graph.convention}{_counted_as(a.graph)}"
    ]
    ins = ", ".join(f"{name} {fmt_shape(s)}" for name, s in zip(node.inputs, row.in_shapes, strict=True) if s)
    out.append(f"in: {ins or 'none (a source: it reads no tensor)'} → out: {fmt_shape(row.out_shape)}")
    for suffix, shape in row.extra.items():
        out.append(f"also output {node.name}.{suffix}: {fmt_shape(shape)}")
    out += ltype.explain(row.g, ctx) if row.g is not None else []
    if row.tensors:
        kinds = {True: "trainable", False: "non-trainable"}
        what = {"buffer": "buffer", "shared": f"shared with {node.shares}, counted there"}
        if row.tied is not None:
            what["tied"] = f"{tie_text(row).split(' ', 1)[1]}, counted there"
        parts = [
            f"{t.name} {fmt_shape(t.shape)} = {t.count:,} ({what.get(t.kind, kinds[t.trainable])})" for t in row.tensors
        ]
        out.append("tensors: " + "; ".join(parts))
        out.append(
            f"parameters: {row.params:,} ({row.trainable:,} trainable)"
            + (f"; buffers {row.buffers:,}" if row.buffers else "")
            + (
                f"; the weights are {node.shares}'s ({_shared_how(a, node)}), counted once there; MACs and FLOPs "
                "at each use"
                if node.shares is not None
                else f"; its {row.tied[0]} is {row.tied[1]}'s {row.tied[2]} (tie:), counted once there"
                if row.tied is not None
                else ""
            )
            + _tied_here(a, node)
        )
    out.append(f"MACs {row.macs:,} · FLOPs {row.flops:,} (per sample)")
    from .explain_text import row_lines

    return out[:-1] + row_lines(a, row) + out[-1:]


def explain_group_lines(a: Analysis, label: str) -> list[str]:
    """`netcalc explain` of a block use (a group row of the summary): explain_text.group_lines."""
    from .explain_text import group_lines

    return group_lines(a, label)


def _tied_here(a: Analysis, node) -> str:
    """For a layer whose tensor other layers take (`tie:` naming it): which, and whose it also is."""
    by = [f"; its {r.tied[2]} is also {r.node.name}'s {r.tied[0]} (tie:)" for r in a.rows
          if r.tied is not None and r.tied[1] == node.name]  # fmt: skip
    return "".join(by)


def _shared_how(a: Analysis, node) -> str:
    """How a layer came to share weights: its own `shares:`, or the block use around it that shares
    another use's (`shares:` on the use) or repeats its first repetition's (`shared: true`)."""
    for label, _, _ in reversed(node.group):
        if label in a.graph.use_shares and node.name.startswith(label + "."):
            return f"its use {label} uses {a.graph.use_shares[label]}'s weights"
    return "shares:"


def render_json(a: Analysis) -> str:
    """The JSON document (render_formats.py, imported only when a command asks for it)."""
    from .render_formats import render_json as json_text

    return json_text(a)


def render_csv(a: Analysis) -> str:
    """The CSV table (render_formats.py, imported only when a command asks for it)."""
    from .render_formats import render_csv as csv_text

    return csv_text(a)
