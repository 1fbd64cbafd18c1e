"""`netcalc diff OLD NEW`: what a change to a design does, per layer and in total.

`compare` matches the two analyses' layers by name (the names the summary shows) and works out
every figure shown: old, new, the difference and the percentage. The renderers only format, and
`check` turns growth budgets into messages (the CLI exits 1 when there are any).
NumPy is imported (through signal.py) only when the signal growth is asked for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from math import prod

from .analyze import Analysis, Row
from .figure_text import mb
from .layers.base import fmt_shape
from .table import Style, box_table, plain_table

ADDED, REMOVED, CHANGED, SAME = "added", "removed", "changed", "same"
MARK = {ADDED: "+", REMOVED: "−", CHANGED: "~", SAME: ""}


@dataclass
class Figure:
    """One total, old and new; percent is None when the old value is 0 and the new one is not."""

    key: str
    label: str
    old: int
    new: int
    delta: int
    percent: float | None
    unit: str = ""  # "bytes" for memory


@dataclass
class Growth:
    """A signal growth factor (E[x²] forward, gradient norm backward) old and new; ratio = new/old."""

    key: str
    label: str
    old: float
    new: float
    ratio: float


@dataclass
class LayerChange:
    """One layer name: its figures in either design (None where it is absent) and the differences."""

    name: str
    status: str  # added, removed, changed, same
    old_op: str | None = None
    new_op: str | None = None
    old_shape: tuple | None = None
    new_shape: tuple | None = None
    old_params: int | None = None
    new_params: int | None = None
    params_delta: int = 0
    old_macs: int | None = None
    new_macs: int | None = None
    macs_delta: int = 0
    old_memory: int | None = None  # bytes of the layer's output at the batch (what activation memory sums)
    new_memory: int | None = None
    memory_delta: int = 0


@dataclass
class Diff:
    old_name: str
    new_name: str
    old_file: str
    new_file: str
    batch: int
    dtype: str
    layers: list[LayerChange]
    totals: dict[str, Figure]
    growth: dict[str, Growth] | None = None  # None without the signal
    counting: tuple[str, str] = ("", "")  # the parameter-counting conventions, old and new
    unchanged: int = field(init=False)

    def __post_init__(self) -> None:
        self.unchanged = sum(1 for c in self.layers if c.status == SAME)

    @property
    def changed(self) -> list[LayerChange]:
        return [c for c in self.layers if c.status != SAME]


# ---------------------------------------------------------------- compare


def _percent(old: int, new: int) -> float | None:
    if old == 0:
        return 0.0 if new == 0 else None
    return (new - old) / old * 100


def _figure(key: str, label: str, old: int, new: int, unit: str = "") -> Figure:
    return Figure(key, label, old, new, new - old, _percent(old, new), unit)


def _output_bytes(row: Row, totals) -> int | None:
    """The layer's output for the whole batch, in the analysis's element type (as Totals sums them)."""
    return None if row.out_shape is None else totals.batch * prod(row.out_shape) * totals.element_bytes


def _layer(name: str, old: Row | None, new: Row | None, sizes: tuple = (None, None)) -> LayerChange:
    c = LayerChange(name, SAME)
    if old is not None:
        c.old_op, c.old_shape, c.old_params, c.old_macs = old.node.op, old.out_shape, old.params, old.macs
        c.old_memory = _output_bytes(old, sizes[0])
    if new is not None:
        c.new_op, c.new_shape, c.new_params, c.new_macs = new.node.op, new.out_shape, new.params, new.macs
        c.new_memory = _output_bytes(new, sizes[1])
    c.params_delta = (c.new_params or 0) - (c.old_params or 0)
    c.macs_delta = (c.new_macs or 0) - (c.old_macs or 0)
    c.memory_delta = (c.new_memory or 0) - (c.old_memory or 0)
    if old is None:
        c.status = ADDED
    elif new is None:
        c.status = REMOVED
    elif (c.old_op, c.old_shape, c.old_params, c.old_macs) != (c.new_op, c.new_shape, c.new_params, c.new_macs):
        c.status = CHANGED
    return c


def _layers(old: Analysis, new: Analysis) -> list[LayerChange]:
    """In the new design's order; a removed layer follows the nearest layer before it (in the old
    design) that both have, so that a renamed layer shows as removed then added, in place."""
    olds = {r.node.name: r for r in old.rows}
    news = {r.node.name: r for r in new.rows}
    after: dict = {}  # name of a kept layer (None: the start) -> the removed layers after it
    anchor = None
    for row in old.rows:
        name = row.node.name
        if name in news:
            anchor = name
        else:
            after.setdefault(anchor, []).append(row)
    sizes = (old.totals, new.totals)
    out = [_layer(r.node.name, r, None, sizes) for r in after.get(None, [])]
    for row in new.rows:
        name = row.node.name
        out.append(_layer(name, olds.get(name), row, sizes))
        out += [_layer(r.node.name, r, None, sizes) for r in after.get(name, [])]
    return out


def _growth(old: Analysis, new: Analysis) -> dict[str, Growth] | None:
    """The signal growth of both designs; None when either is too large for the signal report."""
    from .signal import TooLarge, propagate

    try:
        (f0, b0), (f1, b1) = propagate(old).growth(), propagate(new).growth()
    except TooLarge:
        return None

    def ratio(a: float, b: float) -> float:
        return b / a if a > 0 and math.isfinite(a) and math.isfinite(b) else math.nan

    return {
        "forward_growth": Growth("forward_growth", "Forward growth (E[x²])", f0, f1, ratio(f0, f1)),
        "backward_growth": Growth("backward_growth", "Backward growth (gradient norm)", b0, b1, ratio(b0, b1)),
    }


def compare(old: Analysis, new: Analysis, *, signal: bool = True) -> Diff:
    """Layers matched by name, the totals and (with `signal`) the signal growth of both designs."""
    a, b = old.totals, new.totals
    totals = [
        _figure("params", "Total params", a.params, b.params),
        _figure("trainable_params", "Trainable params", a.trainable_params, b.trainable_params),
        _figure("macs", "MACs per sample", a.macs, b.macs),
        _figure("flops", "FLOPs per sample", a.flops, b.flops),
        _figure("activation_bytes", f"Activation memory (batch {a.batch})", a.activation_bytes, b.activation_bytes, "bytes"),
        _figure("total_bytes", "Estimated total memory", a.total_bytes, b.total_bytes, "bytes"),
    ]  # fmt: skip
    return Diff(
        old_name=old.graph.name,
        new_name=new.graph.name,
        old_file=old.graph.file,
        new_file=new.graph.file,
        batch=a.batch,
        dtype=a.dtype,
        layers=_layers(old, new),
        totals={f.key: f for f in totals},
        growth=_growth(old, new) if signal else None,
        counting=(old.graph.counting, new.graph.counting),
    )


# ---------------------------------------------------------------- check

BUDGETS = (("params", "parameters"), ("macs", "MACs"), ("total_bytes", "estimated total memory"))


def check(
    diff: Diff,
    max_params_growth: float | None = None,
    max_macs_growth: float | None = None,
    max_memory_growth: float | None = None,
) -> list[str]:
    """The budgets exceeded (growth in percent of the old figure; None: no budget), one message each."""
    out = []
    for (key, what), limit in zip(BUDGETS, (max_params_growth, max_macs_growth, max_memory_growth), strict=True):
        f = diff.totals[key]
        if limit is None or f.delta <= 0:
            continue
        if f.percent is None or f.percent > limit:
            grew = "from 0" if f.percent is None else f"by {f.percent:.2f} %"
            out.append(
                f"{what} grew {grew}: {_value(f, f.old)} → {_value(f, f.new)}, more than the {limit:g} % allowed"
            )
    return out


# ---------------------------------------------------------------- formatting


def _signed(n: int) -> str:
    return f"+{n:,}" if n > 0 else f"−{-n:,}" if n < 0 else "0"


def _bytes(n: int) -> str:
    """MB as the summary shows memory (10^6 bytes); kB and bytes below, so that small changes show."""
    return mb(n) if n >= 1e6 else f"{n / 1e3:,.2f} kB" if n >= 1e3 else f"{n:,} B"


def _value(f: Figure, n: int) -> str:
    return _bytes(n) if f.unit == "bytes" else f"{n:,}"


def _delta(f: Figure) -> str:
    if f.unit == "bytes":
        return ("+" if f.delta > 0 else "−" if f.delta < 0 else "") + _bytes(abs(f.delta))
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
        _counts(c.old_params, c.new_params),
        _signed(c.params_delta) if c.params_delta else "",
        _counts(c.old_macs, c.new_macs),
        _signed(c.macs_delta) if c.macs_delta else "",
        _two(c.old_memory, c.new_memory, _bytes),
    ]


def _total_cells(diff: Diff) -> list[list[str]]:
    rows = [[f.label, _value(f, f.old), _value(f, f.new), _delta(f), _pct(f)] for f in diff.totals.values()]
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
    def side(op, shape, params, macs, memory):
        if op is None:
            return None
        return {"type": op, "output_shape": list(shape) if shape is not None else None, "params": params, "macs": macs,
                "output_bytes": memory}  # fmt: skip

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
                "old": side(c.old_op, c.old_shape, c.old_params, c.old_macs, c.old_memory),
                "new": side(c.new_op, c.new_shape, c.new_params, c.new_macs, c.new_memory),
                "delta": {"params": c.params_delta, "macs": c.macs_delta, "output_bytes": c.memory_delta},
            }
            for c in _shown(diff, all_layers)
        ],
    }


def render_json(diff: Diff, *, all_layers: bool = False, violations: list[str] = ()) -> str:
    import json

    return json.dumps(to_json(diff, all_layers=all_layers, violations=violations), indent=2, ensure_ascii=False)
