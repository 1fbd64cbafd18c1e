"""Renderers: the analysis as a rich table, JSON, Markdown or CSV. They format; they do no arithmetic
beyond scaling a number for display."""

from __future__ import annotations

from . import __version__
from .analyze import COUNTING, Analysis, Row
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
        f"{row.params:,}" if row.params or row.ltype.category in ("conv", "dense", "norm") else "",
        f"{row.macs:,}" if row.macs else "",
        rf,
        jump,
        str(node.loc.line),
    ]


def _counted_as(g) -> str:
    return f" (counted as {g.counting})" if g.counting != g.convention else ""


def detail_cells(row: Row) -> list[list[str]]:
    """Rows under a recurrent layer: one per weight tensor (input kernel, recurrent kernel, biases)."""
    if row.ltype.category != "recurrent" or not row.ok:
        return []
    return [["", f"  · {t.name}", "", "", fmt_shape(t.shape), f"{t.count:,}", "", "", "", ""] for t in row.tensors]


def header_lines(a: Analysis) -> list[str]:
    g, t = a.graph, a.totals
    inp = g.inputs[0]
    if len(g.inputs) == 1:
        given = f"input {fmt_shape(inp.shape)} ({g.layout}, {inp.dtype})"
    else:
        given = "inputs " + ", ".join(f"{i.name} {fmt_shape(i.shape)} ({i.dtype})" for i in g.inputs) + f" ({g.layout})"
    return [
        f"{g.name} · convention {g.convention}{_counted_as(g)} · {given} · batch {t.batch}"
        + (f" · weights and activations {t.dtype}" if t.dtype != inp.dtype else ""),
        f"MACs    {COUNTING['macs']}",
        *(f"{'FLOPs' if i == 0 else '':<7} {part}" for i, part in enumerate(COUNTING["flops_lines"])),
        f"Params  {COUNTING['params'][g.counting]}",
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


def box_table(headers: list[str], rows: list[tuple[list[str], bool]], right: tuple, style: Style) -> list[str]:
    """A table drawn with box characters, header set off in heavy lines; rows marked True are dimmed.

    netcalc draws it itself: rich's Table measures every cell (about 1 ms a row here), which would
    take a ResNet-50's summary past the start-up budget.
    """
    widths = [len(h) for h in headers]
    for cells_, _ in rows:
        for i, c in enumerate(cells_):
            widths[i] = max(widths[i], len(c))

    def line(cells_: list[str]) -> str:
        parts = (c.rjust(w) if h in right else c.ljust(w) for c, w, h in zip(cells_, widths, headers, strict=True))
        return " │ ".join(parts)

    heads = (style.bold(h.rjust(w) if h in right else h.ljust(w)) for h, w in zip(headers, widths, strict=True))
    out = [
        "┏━" + "━┳━".join("━" * w for w in widths) + "━┓",
        "┃ " + " ┃ ".join(heads) + " ┃",
        "┡━" + "━╇━".join("━" * w for w in widths) + "━┩",
    ]
    for cells_, dim in rows:
        text = line(cells_)
        out.append("│ " + (style.dim(text) if dim else text) + " │")
    out.append("└─" + "─┴─".join("─" * w for w in widths) + "─┘")
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


def render_table(a: Analysis, style: Style, depth: int | None = None) -> str:
    """Header, the per-layer table (with block groups), totals."""
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
    head = header_lines(a)
    out = [style.bold(head[0]), *(style.dim(line) for line in head[1:])]
    out += box_table(COLUMNS, rows, RIGHT, style)
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
        "counting": {
            "macs": COUNTING["macs"],
            "flops": COUNTING["flops"],
            "params": COUNTING["params"][g.counting],
            "memory": COUNTING["memory"],
        },
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


def render_markdown(a: Analysis, depth: int | None = None) -> str:
    head = header_lines(a)
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


def render_csv(a: Analysis) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        [
            "index",
            "name",
            "type",
            "output_shape",
            "weight_shape",
            "params",
            "trainable_params",
            "non_trainable_params",
            "macs",
            "flops",
            "receptive_field",
            "jump",
            "line",
        ]
    )
    for i, row in enumerate(a.rows, 1):
        rf, jump = rf_text(row)
        w.writerow(
            [
                i,
                row.node.name,
                row.node.op,
                fmt_shape(row.out_shape) if row.ok else "",
                row.weight_shape,
                row.params,
                row.trainable,
                row.params - row.trainable,
                row.macs,
                row.flops,
                rf,
                jump,
                row.node.loc.line,
            ]
        )
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


def plain_table(header: list[str], body: list[list[str]], right: set) -> tuple[str, str, list[str]]:
    """A space-aligned table without borders (signal, verify): the header line, a rule under it, and
    the body lines; the columns in `right` are right-aligned."""
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]

    def line(cells):
        cols = zip(cells, widths, strict=True)
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(cols)).rstrip()

    rule = "─" * min(sum(widths) + 2 * len(widths), 160)
    return line(header), rule, [line(row) for row in body]
