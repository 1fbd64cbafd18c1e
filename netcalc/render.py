"""Renderers: the analysis as a rich table, JSON, Markdown or CSV. They format; they do no arithmetic
beyond scaling a number for display."""

from __future__ import annotations

import bisect
import os

from . import __version__
from .analyze import Analysis, Row, counting
from .diagnostics import Diagnostic
from .layers.base import fmt_shape

COLUMNS = ["#", "layer", "type", "output shape", "weight shape", "params", "MACs", "RF", "jump", "line"]


def human(n: int | float, unit: str = "") -> str:
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.2f} {suffix}{unit}"
    return f"{n:g} {unit}".rstrip()


def _with_human(n: int, shown=True) -> str:
    """1,667,700 (1.67 M); a number under a thousand alone. A symbolic figure (netcalc.symbolic.Dual):
    its formula, then its value at the defaults when it is `shown` (a bool, or a test of the figure:
    `known`)."""
    if hasattr(n, "e"):
        return f"{n}" + (f" = {_with_human(n.v)}" if _shown(shown, n) else "")
    return f"{n:,} ({human(n)})" if n >= 1000 else f"{n:,}"


def count(n: int, shown=True) -> str:
    """A count as the parameter rows show it: 13,414; a symbolic one as its formula = its value."""
    if hasattr(n, "e"):
        return f"{n}" + (f" = {n.v:,}" if _shown(shown, n) else "")
    return f"{n:,}"


def mb(n: int, shown=True) -> str:
    if hasattr(n, "e"):
        return f"{n} bytes" + (f" = {mb(n.v)}" if _shown(shown, n) else "")
    return f"{n / 1e6:,.2f} MB"


def _shown(shown, n) -> bool:
    return shown(n) if callable(shown) else bool(shown)


def unvalued(a: Analysis) -> set:
    """The free symbols with no value to evaluate the formulas at (no default, or a generic point)."""
    scope = a.graph.symbols
    if scope is None:
        return set()
    return {n for n in scope.free if scope.generic or scope.used[n].default is None}


def known(a: Analysis):
    """A test of one figure: it has a value at the defaults (a number, or a formula whose symbols all
    have defaults; a figure that does not involve a batch symbol N keeps its value)."""
    missing = unvalued(a)
    if not missing:
        return lambda x: True
    return lambda x: not hasattr(x, "e") or not any(s.name in missing for s in x.e.free_symbols)


def values_shown(a: Analysis) -> bool:
    """Every symbolic figure has a value to show: every free symbol has a default (or the spec has none)."""
    return not unvalued(a)


def symbols_line(a: Analysis) -> list[str]:
    """The free symbols with their defaults and constraints (none for a concrete spec)."""
    scope = a.graph.symbols
    if scope is None or not scope.free:
        return []
    parts = []
    for name in scope.free:
        d = scope.used[name]
        text = name + (f" = {d.default} (default)" if d.default is not None else " (no default)")
        limits = [f"{k} {v}" for k, v in (("min", d.min), ("max", d.max), ("divisible by", d.divisible)) if v]
        parts.append(text + (f" [{', '.join(limits)}]" if limits else ""))
    missing = [n for n in scope.free if n in unvalued(a)]
    note = (
        ""
        if not missing
        else f" · figures with {', '.join(missing)} are formulas only; give defaults or --set for values"
    )
    return [f"symbols {'; '.join(parts)}{note} · `netcalc sizes` tells which sizes divide exactly"]


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
        f"{row.params:,}" if row.params or row.ltype.parametric else "",
        f"{row.macs:,}" if row.macs else "",
        rf,
        jump,
        str(node.loc.line),
    ]


def _counted_as(g) -> str:
    return f" (counted as {g.counting})" if g.counting != g.convention else ""


def detail_cells(row: Row) -> list[list[str]]:
    """Rows under a recurrent layer: one per weight tensor (input kernel, recurrent kernel, biases)."""
    if not row.ltype.recurrent or not row.ok:
        return []
    return [["", f"  · {t.name}", "", "", fmt_shape(t.shape), f"{t.count:,}", "", "", "", ""] for t in row.tensors]


LEGEND_WIDTH = 120  # the rules line of the legend wraps between rules beyond this


def legend_lines(a: Analysis, full: bool = False) -> list[str]:
    """What the figures count: one line of what MACs, FLOPs and params count and the counting rules of
    the layer types in the network; `full` (summary --legend): every statement, and the rule of every
    layer type netcalc knows."""
    if full:
        from .layers import LAYER_TYPES

        c = counting(LAYER_TYPES, a.graph.counting)
        return [
            f"MACs    {c['macs']}",
            f"FLOPs   {c['flops']}, by each layer type's rule:",
            *(f"        {', '.join(ops)}: {rule}" for ops, rule in c["rules"]),
            f"Params  {_params_statement(c)}",
            f"Batch   {c['batch']}",
            f"Memory  {c['memory']}",
        ]
    c = counting(a.layer_types, a.graph.counting)
    lines = [f"Counts  MACs: {c['macs']} · FLOPs: {c['flops']} · params: {c['params']}"]
    label = "Rules   "
    for ops, rule in c["rules"] + c["params_notes"]:
        part = f"{', '.join(ops)}: {rule}"
        if len(lines) > 1 and len(lines[-1]) + 3 + len(part) <= LEGEND_WIDTH:
            lines[-1] += " · " + part
        else:
            lines.append((label if len(lines) == 1 else " " * len(label)) + part)
    return lines


def _params_statement(c: dict) -> str:
    notes = "; ".join(f"{', '.join(ops)} {note}" for ops, note in c["params_notes"])
    return c["params"] + (f": {notes}" if notes else "")


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


class Style:
    """ANSI styling for a terminal; nothing when the output is a file or a pipe, or NO_COLOR is set."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled and text else text

    def bold(self, text: str) -> str:
        return self(text, "1")

    def dim(self, text: str) -> str:
        return self(text, "2")

    def warn(self, text: str) -> str:
        return self(text, "33")


def terminal_width(stream) -> int | None:
    """The width tables are fitted to: COLUMNS when it is set to a positive number, else the
    terminal's width when the stream is a terminal; None for a file or a pipe without COLUMNS
    (the tables keep their natural width)."""
    text = os.environ.get("COLUMNS", "").strip()
    if text.isascii() and text.isdigit() and len(text) <= 6 and int(text) > 0:
        return int(text)
    try:
        return (os.get_terminal_size(stream.fileno()).columns or None) if stream.isatty() else None
    except (AttributeError, OSError, ValueError):
        return None


class Drop(tuple):
    """A step of a table's narrowing plan (fit_columns): leave these columns out."""

    def __new__(cls, *cols: int):
        return super().__new__(cls, cols)


class Wrap(tuple):
    """A step of a table's narrowing plan: from here on the headers wrap at their spaces, and the
    cells of these columns at their break characters, to no fewer than `least` characters."""

    least: int

    def __new__(cls, *cols: int, least: int = 0):
        self = super().__new__(cls, cols)
        self.least = least
        return self


HEAD_BREAKS = " ,(="  # a header wraps after a space, a comma, an opening bracket or an =
NAME_BREAKS = "._/-"  # a layer name after the dot of a block scope, an underscore, a slash


def _pieces(text: str, breaks: str) -> list[str]:
    """The text cut after each of the break characters, except between a dot or an underscore and
    a number (`stage2.1.`, `conv2d_1` stay whole) and after a + or − (a line starts with it)."""
    out: list[str] = []
    start = 0
    for end in [i + 1 for i, ch in enumerate(text) if ch in breaks] + [len(text)]:
        piece = text[start:end]
        start = end
        number = (piece[:-1] if piece[-1:] in breaks else piece).isdigit()
        if out and ((out[-1][-1] in "._" and number) or out[-1].strip() in ("+", "−")):
            out[-1] += piece
        elif piece:
            out.append(piece)
    return out


def _indent(text: str) -> int:
    """How far a wrapped cell's continuation lines are indented: under the text after its leading
    spaces and tree marker (`  └ relu`, `  · forward/kernel`)."""
    body = text.lstrip(" ")
    n = len(text) - len(body)
    return n + 2 if body[:2] in ("└ ", "· ") else n


def _narrowest(text: str, breaks: str) -> int:
    """The narrowest a cell can be wrapped to: its indent and its longest piece."""
    if not breaks:
        return len(text)
    n = _indent(text)
    return n + max((len(p.rstrip()) for p in _pieces(text[n:], breaks)), default=0)


def wrap_cell(text: str, width: int, breaks: str) -> list[str]:
    """A cell's lines in a column `width` wide: cut only after its break characters (a piece longer
    than the width keeps its line, wider), continuation lines indented as the first line's text."""
    if len(text) <= width or not breaks:
        return [text]
    n = _indent(text)
    lines, line, filled = [], text[:n], False
    for piece in _pieces(text[n:], breaks):
        if filled and len(line) + len(piece.rstrip()) > width:
            lines.append(line.rstrip())
            line, piece = " " * n, piece.lstrip(" ")
        line += piece
        filled = True
    lines.append(line.rstrip())
    return lines


def fit_columns(headers, rows, width: int, plan, breaks: dict, sep: int, edge: int, natural: list[int]):
    """The columns to show (indices) and each column's width (indexed as the headers) for a table
    at most `width` characters wide, with `sep` characters between columns and `edge` at its
    sides: the steps of the plan are taken in order until the table fits. Drop steps leave columns
    out; once a Wrap step is reached, headers wrap at their spaces (HEAD_BREAKS), then the cells of
    the columns it names at their break characters (`breaks`, column → characters), a character
    at a time from the column where that makes the fewest cells wrap, until the table fits or each
    is as narrow as its longest piece or the step's `least`. Numbers are never cut. When the plan runs out, the narrowest table it allows."""
    cols = list(range(len(headers)))
    cell = [max((len(r[i]) for r in rows), default=0) for i in cols]
    head = [max((len(p.rstrip()) for p in _pieces(h, HEAD_BREAKS)), default=0) for h in headers]
    narrowest: dict[int, int] = {}
    lengths: dict[int, list[int]] = {}
    wrapping: dict[int, int] | None = None  # column → the least width its step allows, from a Wrap step on
    widths = list(natural)
    if sum(widths) + sep * (len(cols) - 1) + edge <= width:
        return cols, widths
    for step in plan:
        if isinstance(step, Wrap):
            wrapping = {**(wrapping or {}), **dict.fromkeys(step, step.least)}
        else:
            cols = [c for c in cols if c not in step]
        widths = list(natural)
        excess = sum(widths[i] for i in cols) + sep * (len(cols) - 1) + edge - width
        if wrapping is not None:
            for i in cols:  # headers first: they cost only a line
                cut = min(widths[i] - max(cell[i], head[i]), excess)
                if cut > 0:
                    widths[i] -= cut
                    excess -= cut
            floors = {}
            for i, least in wrapping.items():
                if i in cols and excess > 0:
                    if i not in narrowest:
                        narrowest[i] = max((_narrowest(r[i], breaks[i]) for r in rows), default=0)
                        lengths[i] = sorted(len(r[i]) for r in rows)
                    floors[i] = max(narrowest[i], head[i], least)
            while excess > 0:  # a character at a time from the column where the fewest cells then wrap
                free = [i for i in floors if widths[i] > floors[i]]
                if not free:
                    break
                i = min(
                    free, key=lambda i: (len(lengths[i]) - bisect.bisect_right(lengths[i], widths[i] - 1), -widths[i])
                )
                widths[i] -= 1
                excess -= 1
        if excess <= 0:
            break
    return cols, widths


def _lines(cells, cols, widths, breaks) -> list[list[str]]:
    """One row's cells (of the columns kept) as lines: each cell wrapped to its column's width."""
    parts = [wrap_cell(cells[i], widths[i], breaks.get(i, "")) for i in cols]
    height = max(map(len, parts))
    if height == 1:
        return [[p[0] for p in parts]]
    return [[p[k] if k < len(p) else "" for p in parts] for k in range(height)]


def box_table(
    headers: list[str],
    rows: list[tuple[list[str], bool]],
    right: tuple,
    style: Style,
    width: int | None = None,
    plan=(),
    breaks: dict | None = None,
) -> list[str]:
    """A table drawn with box characters, header set off in heavy lines; rows marked True are dimmed.
    With a `width`, a table wider than that is narrowed by its `plan` (fit_columns).

    netcalc draws it itself: rich's Table measures every cell (about 1 ms a row here), which would
    take a ResNet-50's summary past the start-up budget.
    """
    widths = [len(h) for h in headers]
    for cells_, _ in rows:
        for i, c in enumerate(cells_):
            widths[i] = max(widths[i], len(c))
    cols = list(range(len(headers)))
    breaks = breaks or {}
    fitted = width is not None and sum(widths) + 3 * len(widths) + 1 > width
    if fitted:
        cols, widths = fit_columns(headers, [c for c, _ in rows], width, plan, breaks, 3, 4, widths)
    ws = [widths[i] for i in cols]
    aligned = [headers[i] in right for i in cols]

    def line(cells_: list[str]) -> str:
        return " │ ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells_, ws, aligned, strict=True))

    out = ["┏━" + "━┳━".join("━" * w for w in ws) + "━┓"]
    for head in _lines(headers, cols, widths, dict.fromkeys(cols, HEAD_BREAKS)):
        heads = (style.bold(h.rjust(w) if r else h.ljust(w)) for h, w, r in zip(head, ws, aligned, strict=True))
        out.append("┃ " + " ┃ ".join(heads) + " ┃")
    out.append("┡━" + "━╇━".join("━" * w for w in ws) + "━┩")
    for cells_, dim in rows:
        for part in _lines(cells_, cols, widths, breaks) if fitted else (cells_,):
            text = line(part)
            out.append("│ " + (style.dim(text) if dim else text) + " │")
    out.append("└─" + "─┴─".join("─" * w for w in ws) + "─┘")
    return out


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
                fmt_shape(g.out_shape) if g.out_shape else "?", "", f"{g.params:,}", f"{g.macs:,}" if g.macs else "",
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


def _number(x) -> int | float:
    """An int where the value is whole (receptive fields, jumps), else a float (a jump of 1/2)."""
    if isinstance(x, int):
        return x
    f = x  # a Fraction
    return f.numerator if f.denominator == 1 else float(f)


def to_json(a: Analysis) -> dict:
    g, t = a.graph, a.totals
    layers = []
    for i, row in enumerate(a.rows, 1):
        n = row.node
        layers.append(
            {
                "index": i,
                "name": n.name,
                "type": n.op,
                "line": n.loc.line,
                "inputs": list(n.inputs),
                "part_of": n.part_of,
                "group": [label for label, _, _ in n.group],
                "output_shape": list(row.out_shape) if row.ok else None,
                "weight_shape": row.weight_shape or None,
                "tensors": [
                    {
                        "name": tn.name,
                        "shape": list(tn.shape),
                        "count": tn.count,
                        "trainable": tn.trainable,
                        "kind": tn.kind,
                    }
                    for tn in row.tensors
                ],
                "params": row.params,
                "trainable_params": row.trainable,
                "non_trainable_params": row.params - row.trainable,
                "buffers": row.buffers,
                "macs": row.macs,
                "flops": row.flops,
                "per_step": {"macs": row.per_step[0], "flops": row.per_step[1]} if row.per_step else None,
                "receptive_field": [_number(r) for r, _ in row.rf] if row.rf else None,
                "jump": [_number(j) for _, j in row.rf] if row.rf else None,
            }
        )
    return {
        "netcalc": __version__,
        "spec": {
            "name": g.name,
            "file": g.file,
            "convention": g.convention,
            "counting": g.counting,
            "layout": g.layout,
            "inputs": [{"name": i.name, "shape": list(i.shape), "dtype": i.dtype} for i in g.inputs],
            "outputs": list(g.outputs),
        },
        "batch": t.batch,
        "dtype": t.dtype,
        "counting": _counting_json(a),
        "layers": layers,
        "totals": {
            "params": t.params,
            "trainable_params": t.trainable_params,
            "non_trainable_params": t.non_trainable_params,
            "buffers": t.buffers,
            "macs": t.macs,
            "flops": t.flops,
            "macs_batch": t.macs_batch,
            "flops_batch": t.flops_batch,
            "param_bytes": t.param_bytes,
            "buffer_bytes": t.buffer_bytes,
            "input_bytes": t.input_bytes,
            "activation_bytes": t.activation_bytes,
            "total_bytes": t.total_bytes,
        },
        "groups": [
            {
                "label": g.label,
                "block": g.block,
                "depth": g.depth,
                "line": g.line,
                "params": g.params,
                "trainable_params": g.trainable,
                "macs": g.macs,
                "flops": g.flops,
                "output_shape": list(g.out_shape) if g.out_shape else None,
            }
            for g in a.groups.values()
        ],
        "diagnostics": [d.to_json() for d in a.diags.sorted()],
    }


def _counting_json(a: Analysis) -> dict:
    """The JSON's `counting`: the full statements (every layer type's rule, as `--legend` prints them)
    and `rules`, the counting statement of each layer type in this network."""
    from .layers import LAYER_TYPES

    c = counting(LAYER_TYPES, a.graph.counting)
    rules = " · ".join(f"{', '.join(ops)}: {rule}" for ops, rule in c["rules"])
    return {
        "macs": c["macs"],
        "flops": f"{c['flops']}, by each layer type's rule: {rules}",
        "params": _params_statement(c),
        "memory": c["memory"],
        "rules": {t.op: t.counting for t in a.layer_types},
    }


def symbolic_json(doc, shown=True):
    """A symbolic figure becomes its formula as a string (sympy's spelling: floor(H/2)) and, beside
    it under `<key>_value`, its value at the defaults (null when a symbol in its formula has none;
    `shown` is a bool or a test of one figure, `known`); a shape with symbolic sizes likewise (a list
    of numbers and strings, and the list of values, null where a size has none)."""

    def sym(x) -> bool:
        return hasattr(x, "e")

    def value(x):
        return x.v if _shown(shown, x) else None

    def conv(x):
        if isinstance(x, dict):
            out = {}
            for k, v in x.items():
                if sym(v):
                    out[k] = str(v.e)
                    out[f"{k}_value"] = value(v)
                elif isinstance(v, (list, tuple)) and any(sym(i) for i in v):
                    out[k] = [str(i.e) if sym(i) else i for i in v]
                    out[f"{k}_value"] = [value(i) if sym(i) else i for i in v]
                else:
                    out[k] = conv(v)
            return out
        if isinstance(x, list):
            return [conv(i) for i in x]
        return x

    return conv(doc)


def render_json(a: Analysis) -> str:
    """The JSON document: indented, with one line per layer and per finding (readable in a diff,
    and quick: the standard encoder indents in pure Python, slowly for 10,000 layers)."""
    import json

    doc = to_json(a)
    if a.graph.symbols is not None and a.graph.symbols.free:
        doc = symbolic_json(doc, known(a))
        doc["symbols"] = {
            name: {"default": d.default, "min": d.min, "max": d.max, "divisible": d.divisible}
            for name, d in a.graph.symbols.used.items()
            if name in a.graph.symbols.free
        }
    arrays = {key: doc.pop(key) for key in ("layers", "groups", "diagnostics")}
    head = json.dumps(doc, indent=2, ensure_ascii=False)
    parts = []
    for key, items in arrays.items():
        body = ",\n".join("    " + json.dumps(item, ensure_ascii=False) for item in items)
        parts.append(f'  "{key}": [\n{body}\n  ]' if items else f'  "{key}": []')
    return head[:-2] + ",\n" + ",\n".join(parts) + "\n}"


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


CSV_COLUMNS = [
    "index", "name", "type", "output_shape", "weight_shape", "params", "trainable_params", "non_trainable_params",
    "buffers", "macs", "flops", "receptive_field", "jump", "line",
]  # fmt: skip


def render_csv(a: Analysis) -> str:
    """One row per layer and a totals row (index empty, name `total`), under a header of
    CSV_COLUMNS (README, "CSV columns"). Plain numbers: no thousands separators; shapes and
    per-axis figures joined by `x` (3x32x32); a figure a layer does not have is empty; a symbolic
    figure is its value at the symbols' defaults (empty without one; the formulas are in the JSON)."""
    import csv
    import io

    has_value = known(a)

    def num(x):
        if hasattr(x, "e"):
            return x.v if has_value(x) else ""
        return x

    def axes(values) -> str:
        values = [num(x) for x in values]
        return "" if "" in values else "x".join(map(str, values))

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for i, row in enumerate(a.rows, 1):
        kernel = next((t.shape for t in row.tensors if t.kind == "param"), ())
        w.writerow([
            i, row.node.name, row.node.op, axes(row.out_shape) if row.ok else "", axes(kernel),
            num(row.params), num(row.trainable), num(row.params - row.trainable), num(row.buffers),
            num(row.macs), num(row.flops), axes(_number(r) for r, _ in row.rf or ()),
            axes(_number(j) for _, j in row.rf or ()),
            row.node.loc.line,
        ])  # fmt: skip
    t = a.totals
    w.writerow([
        "", "total", "", "", "", num(t.params), num(t.trainable_params), num(t.non_trainable_params), num(t.buffers),
        num(t.macs), num(t.flops), "", "", "",
    ])  # fmt: skip
    return buf.getvalue()


def explain_lines(a: Analysis, row: Row, ctx) -> list[str]:
    """`netcalc explain`: one layer, its shapes, tensors and counts, and the layer type's formulas."""
    node, ltype = row.node, row.ltype
    where = f"{node.loc.file} line {node.loc.line}"
    out = [
        f"{node.name} ({node.op}: {ltype.summary}) · {where} · convention {a.graph.convention}{_counted_as(a.graph)}"
    ]
    ins = ", ".join(f"{name} {fmt_shape(s)}" for name, s in zip(node.inputs, row.in_shapes, strict=True) if s)
    out.append(f"in: {ins} → out: {fmt_shape(row.out_shape)}")
    for suffix, shape in row.extra.items():
        out.append(f"also output {node.name}.{suffix}: {fmt_shape(shape)}")
    out += ltype.explain(row.g, ctx) if row.g is not None else []
    if row.tensors:
        kinds = {True: "trainable", False: "non-trainable"}
        parts = [
            f"{t.name} {fmt_shape(t.shape)} = {t.count:,} ({'buffer' if t.kind == 'buffer' else kinds[t.trainable]})"
            for t in row.tensors
        ]
        out.append("tensors: " + "; ".join(parts))
        out.append(
            f"parameters: {row.params:,} ({row.trainable:,} trainable)"
            + (f"; buffers {row.buffers:,}" if row.buffers else "")
        )
    out.append(f"MACs {row.macs:,} · FLOPs {row.flops:,} (per sample)")
    return out


class PlainTable:
    """A space-aligned table laid out by lay_out_plain: the header's lines, the rule under it, each
    body row's lines, and the columns kept (indices into the header)."""

    __slots__ = ("cols", "head", "rows", "rule")

    def __init__(self, head: list[str], rule: str, rows: list[list[str]], cols: list[int]) -> None:
        self.head, self.rule, self.rows, self.cols = head, rule, rows, cols


def lay_out_plain(
    header: list[str], body: list[list[str]], right: set, width: int | None = None, plan=(), breaks=None
) -> PlainTable:
    """A space-aligned table without borders (signal, verify), the columns in `right` right-aligned;
    with a `width`, a table wider than that is narrowed by its `plan` (fit_columns)."""
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    cols = list(range(len(header)))
    breaks = breaks or {}
    if width is not None and sum(widths) + 2 * (len(widths) - 1) > width:
        cols, widths = fit_columns(header, body, width, plan, breaks, 2, 0, widths)

    def lines(cells, brk) -> list[str]:
        return [
            "  ".join(
                c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for c, i in zip(part, cols, strict=True)
            ).rstrip()
            for part in _lines(cells, cols, widths, brk)
        ]

    wide = sum(widths[i] for i in cols) + 2 * (len(cols) - 1)  # the rule: 2 more, within the width or the table
    rule = "─" * min(wide + 2, 160, 160 if width is None else max(width, wide))
    return PlainTable(lines(header, dict.fromkeys(cols, HEAD_BREAKS)), rule, [lines(r, breaks) for r in body], cols)


def plain_table(header: list[str], body: list[list[str]], right: set) -> tuple[str, str, list[str]]:
    """A space-aligned table at its natural width: the header line, a rule under it, and the body
    lines; the columns in `right` are right-aligned."""
    t = lay_out_plain(header, body, right)
    return t.head[0], t.rule, [r[0] for r in t.rows]
