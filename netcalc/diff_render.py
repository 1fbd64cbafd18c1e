"""`netcalc diff`'s table, Markdown (a pull-request comment) and JSON: diff.py's figures, formatted."""

from __future__ import annotations

import math

from .diff import ADDED, CHANGED, REMOVED, SAME, Diff, Figure, LayerChange, bytes_text, value_text
from .layers.base import fmt_shape
from .table import Style, box_table, plain_table

MARK = {ADDED: "+", REMOVED: "−", CHANGED: "~", SAME: ""}


def _signed(n: int) -> str:
    return f"+{n:,}" if n > 0 else f"−{-n:,}" if n < 0 else "0"


def _delta(f: Figure) -> str:
    if f.unit == "bytes":
        return ("+" if f.delta > 0 else "−" if f.delta < 0 else "") + bytes_text(abs(f.delta))
    return _signed(f.delta)


def _pct(f: Figure) -> str:
    if f.percent is None:
        return "new"
    if f.percent == 0:
        return "0 %"
    return f"{'+' if f.percent > 0 else '−'}{abs(f.percent):,.2f} %"


def _factor(x: float, prefix: str = "", suffix: str = "×") -> str:
    if not math.isfinite(x):
        return "—"
    return prefix + (f"{x:.4g}" if 1e-3 <= abs(x) < 1e5 else f"{x:.3g}") + suffix


def _two(old, new, fmt) -> str:
    """'old → new', or one value where they agree or one side is absent."""
    if old is None or new is None or old == new:
        v = new if new is not None else old
        return "" if v is None else fmt(v)
    return f"{fmt(old)} → {fmt(new)}"


def _counts(old: int | None, new: int | None) -> str:
    """'old → new' parameters or MACs; nothing where the layer has none in either design."""
    return _two(old, new, "{:,}".format) if old or new else ""


def _params(c: LayerChange) -> str:
    """The parameters (_counts), each side marked "frozen" where that design freezes the layer and
    with whose weights it uses ("shared with c1", "+ weight tied with wte.weight") where it does."""
    if not (c.old_frozen or c.new_frozen or c.old_weights or c.new_weights):
        return _counts(c.old_params, c.new_params)

    def side(n, frozen, weights):
        if n is None:
            return None
        if weights is not None and weights.startswith("shared"):
            return weights
        return f"{n:,}" + (" frozen" if frozen else "") + (f" + {weights}" if weights else "")

    old, new = side(c.old_params, c.old_frozen, c.old_weights), side(c.new_params, c.new_frozen, c.new_weights)
    return _two(old, new, str)


def _shape(s) -> str:
    return "?" if s is None else fmt_shape(s)


LAYER_COLUMNS = ["", "layer", "type", "output shape", "params", "Δ params", "MACs", "Δ MACs", "output memory"]
LAYER_RIGHT = ("params", "Δ params", "MACs", "Δ MACs", "output memory")


def _layer_cells(c: LayerChange) -> list[str]:
    return [
        MARK[c.status],
        c.name,
        _two(c.old_op, c.new_op, str),
        _two(c.old_shape, c.new_shape, _shape),
        _params(c),
        _signed(c.params_delta) if c.params_delta else "",
        _counts(c.old_macs, c.new_macs),
        _signed(c.macs_delta) if c.macs_delta else "",
        _two(c.old_memory, c.new_memory, bytes_text),
    ]


def _total_cells(diff: Diff) -> list[list[str]]:
    rows = [[f.label, value_text(f, f.old), value_text(f, f.new), _delta(f), _pct(f)] for f in diff.totals.values()]
    for g in (diff.growth or {}).values():
        rows.append([g.label, _factor(g.old), _factor(g.new), _factor(g.ratio, "×", ""), ""])
    return rows


def _title(diff: Diff) -> str:
    names = diff.old_name if diff.old_name == diff.new_name else f"{diff.old_name} → {diff.new_name}"
    text = f"{names} · {diff.old_file} → {diff.new_file} · batch {diff.batch} · {diff.dtype}"
    if diff.counting[0] != diff.counting[1]:
        text += f" · parameters counted as {diff.counting[0]} → {diff.counting[1]}"
    return text


def _summary(diff: Diff, shown: list[LayerChange]) -> str:
    counts = {s: sum(1 for c in diff.layers if c.status == s) for s in (CHANGED, ADDED, REMOVED)}
    text = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no layer changed"
    if diff.unchanged and not any(c.status == SAME for c in shown):
        text += f"; {diff.unchanged} unchanged layer{'s' if diff.unchanged != 1 else ''} not shown"
    return text


def _shown(diff: Diff, all_layers: bool) -> list[LayerChange]:
    return diff.layers if all_layers else diff.changed


# ---------------------------------------------------------------- renderers


def render_table(diff: Diff, style: Style, *, all_layers: bool = False, violations: list[str] = ()) -> str:
    """For a terminal: the changed layers (every layer with `all_layers`), then the totals."""
    shown = _shown(diff, all_layers)
    out = [style.bold(_title(diff))]
    if shown:
        out += box_table(LAYER_COLUMNS, [(_layer_cells(c), c.status == SAME) for c in shown], LAYER_RIGHT, style)
    out.append(style.dim(_summary(diff, shown)))
    out.append("")
    head, rule, body = plain_table(["", "old", "new", "Δ", "%"], _total_cells(diff), {1, 2, 3, 4})
    out += [style.bold(head), style.dim(rule), *body]
    out += ["", *(style.warn(f"over budget: {v}") for v in violations)] if violations else []
    return "\n".join(out) + "\n"


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def render_markdown(diff: Diff, *, all_layers: bool = False, violations: list[str] = ()) -> str:
    """A pull-request comment: the totals with their changes, then the changed layers."""
    out = [f"### netcalc diff: {_title(diff)}", ""]
    if violations:
        out += [*(f"- :x: **over budget**: {v}" for v in violations), ""]
    out += [_md_row(["", "old", "new", "Δ", "%"]), "|---|---:|---:|---:|---:|"]
    out += [_md_row(cells) for cells in _total_cells(diff)]
    shown = _shown(diff, all_layers)
    out += ["", f"**Layers**: {_summary(diff, shown)}"]
    if shown:
        out += ["", _md_row(LAYER_COLUMNS), "|" + "|".join("---:" if c in LAYER_RIGHT else "---" for c in LAYER_COLUMNS) + "|"]  # fmt: skip
        out += [_md_row(_layer_cells(c)) for c in shown]
    return "\n".join(out) + "\n"


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def to_json(diff: Diff, *, all_layers: bool = False, violations: list[str] = ()) -> dict:
    def side(op, shape, params, macs, memory, frozen, weights):
        if op is None:
            return None
        return {"type": op, "output_shape": list(shape) if shape is not None else None, "params": params, "macs": macs,
                "output_bytes": memory, "frozen": frozen, "weights": weights}  # fmt: skip

    return {
        "old": {"name": diff.old_name, "file": diff.old_file, "counting": diff.counting[0]},
        "new": {"name": diff.new_name, "file": diff.new_file, "counting": diff.counting[1]},
        "batch": diff.batch,
        "dtype": diff.dtype,
        "ok": not violations,
        "violations": list(violations),
        "totals": {
            f.key: {"old": f.old, "new": f.new, "delta": f.delta, "percent": f.percent} for f in diff.totals.values()
        },
        "signal_batch": diff.signal_batch,
        "signal": None
        if diff.growth is None
        else {
            g.key: {"old": _finite(g.old), "new": _finite(g.new), "ratio": _finite(g.ratio)}
            for g in diff.growth.values()
        },
        "unchanged": diff.unchanged,
        "layers": [
            {
                "name": c.name,
                "status": c.status,
                "old": side(c.old_op, c.old_shape, c.old_params, c.old_macs, c.old_memory, c.old_frozen, c.old_weights),
                "new": side(c.new_op, c.new_shape, c.new_params, c.new_macs, c.new_memory, c.new_frozen, c.new_weights),
                "delta": {"params": c.params_delta, "macs": c.macs_delta, "output_bytes": c.memory_delta},
            }
            for c in _shown(diff, all_layers)
        ],
    }


def render_json(diff: Diff, *, all_layers: bool = False, violations: list[str] = ()) -> str:
    import json

    return json.dumps(to_json(diff, all_layers=all_layers, violations=violations), indent=2, ensure_ascii=False)
