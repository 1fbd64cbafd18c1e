"""The machine-readable formats of the analysis: the JSON document (symbolic figures as formulas with
their values) and CSV. They format; they do no arithmetic."""

from __future__ import annotations

from . import __version__
from .analyze import Analysis, counting
from .figure_text import _shown, known
from .legend import _params_statement


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
                "frozen": n.frozen,
                "shares": n.shares,
                "tie": None
                if row.tied is None
                else {"tensor": row.tied[0], "layer": row.tied[1], "of": row.tied[2], "transposed": row.tied[3]},
                "buffers": row.buffers,
                "macs": row.macs,
                **_products(row),
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
            "frozen_params": t.frozen_params,
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
                "frozen_params": g.frozen,
                "shares": g.shares,
                "macs": g.macs,
                "flops": g.flops,
                "output_shape": list(g.out_shape) if g.out_shape else None,
            }
            for g in a.groups.values()
        ],
        "diagnostics": [d.to_json() for d in a.diags.sorted()],
    }


def _products(row) -> dict:
    """{"activation_products": {name: MACs}} for a row whose MACs include products of two activations
    (attention's QKᵀ and A·V, part of its `macs`); nothing for the others."""
    products = row.ltype.activation_products(row.g) if row.ok and row.g is not None else {}
    return {"activation_products": products} if products else {}


def _counting_json(a: Analysis) -> dict:
    """The JSON's `counting`: the full statements, with the rules of the layer types in this network
    (`summary --legend` adds every other type netcalc knows), and `rules`, each of those types' own
    counting statement."""
    c = counting(a.layer_types, a.graph.counting)
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
