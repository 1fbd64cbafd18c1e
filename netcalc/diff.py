"""`netcalc diff OLD NEW`: what a change to a design does, per layer and in total.

`compare` matches the two analyses' layers by name (the names the summary shows) and works out
every figure shown: old, new, the difference and the percentage; `check` turns growth budgets
into messages (the CLI exits 1 when there are any). diff_render.py formats them.
NumPy is imported (through signal.py) only when the signal growth is asked for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from math import prod

from .analyze import Analysis, Row
from .figure_text import mb

ADDED, REMOVED, CHANGED, SAME = "added", "removed", "changed", "same"


SIGNAL_BATCH = 8  # the signal growth's batch for batchnorm's statistics: signal's and verify's default


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
    old_frozen: bool = False  # `trainable: false` in that design
    new_frozen: bool = False
    old_weights: str | None = (
        None  # whose weights it uses in that design: "shared with c1", "weight tied with wte.weight"
    )
    new_weights: str | None = None
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
    signal_batch: int | None = None  # the batch batchnorm's statistics are over in the signal growth
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
    try:
        return (new - old) / old * 100
    except OverflowError:  # a ratio beyond any float: no percentage to give (as a new figure)
        return None


def _figure(key: str, label: str, old: int, new: int, unit: str = "") -> Figure:
    return Figure(key, label, old, new, new - old, _percent(old, new), unit)


def _output_bytes(row: Row, totals) -> int | None:
    """The layer's output for the whole batch, in the analysis's element type (as Totals sums them)."""
    if row.out_shape is None:
        return None
    if row.ltype.arity == 0:  # a source (a free parameter): its output is its tensor, no activation (Totals)
        return 0
    return totals.batch * prod(row.out_shape) * totals.element_bytes


def _weights(row: Row) -> str | None:
    """Whose weights a layer uses, as the summary says it: `shares:` (its own or its use's) or `tie:`."""
    if row.node.shares is not None:
        return f"shared with {row.node.shares}"
    if row.tied is not None:
        mine, owner, theirs, transposed = row.tied
        return f"{mine} tied with {owner}.{theirs}" + (", transposed" if transposed else "")
    return None


def _layer(name: str, old: Row | None, new: Row | None, sizes: tuple = (None, None)) -> LayerChange:
    c = LayerChange(name, SAME)
    if old is not None:
        c.old_op, c.old_shape, c.old_params, c.old_macs = old.node.op, old.out_shape, old.params, old.macs
        c.old_memory = _output_bytes(old, sizes[0])
        c.old_frozen = old.node.frozen and bool(old.params)
        c.old_weights = _weights(old)
    if new is not None:
        c.new_op, c.new_shape, c.new_params, c.new_macs = new.node.op, new.out_shape, new.params, new.macs
        c.new_memory = _output_bytes(new, sizes[1])
        c.new_frozen = new.node.frozen and bool(new.params)
        c.new_weights = _weights(new)
    c.params_delta = (c.new_params or 0) - (c.old_params or 0)
    c.macs_delta = (c.new_macs or 0) - (c.old_macs or 0)
    c.memory_delta = (c.new_memory or 0) - (c.old_memory or 0)
    if old is None:
        c.status = ADDED
    elif new is None:
        c.status = REMOVED
    elif (c.old_op, c.old_shape, c.old_params, c.old_macs, c.old_frozen, c.old_weights) != (
        c.new_op, c.new_shape, c.new_params, c.new_macs, c.new_frozen, c.new_weights
    ):  # fmt: skip
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


def _growth(old: Analysis, new: Analysis, batch: int | None) -> dict[str, Growth] | None:
    """The signal growth of both designs, batchnorm's statistics over `batch` samples (None: an infinite
    batch); None when either is too large for the signal report."""
    from .signal import TooLarge, propagate

    try:
        (f0, b0), (f1, b1) = propagate(old, batch=batch).growth(), propagate(new, batch=batch).growth()
    except TooLarge:
        return None

    at = f", batch {batch}" if batch else ""

    def ratio(a: float, b: float) -> float:
        return b / a if a > 0 and math.isfinite(a) and math.isfinite(b) else math.nan

    return {
        "forward_growth": Growth("forward_growth", f"Forward growth (E[x²]{at})", f0, f1, ratio(f0, f1)),
        "backward_growth": Growth("backward_growth", f"Backward growth (gradient norm{at})", b0, b1, ratio(b0, b1)),
    }


def compare(old: Analysis, new: Analysis, *, signal: bool = True, batch: int | None = SIGNAL_BATCH) -> Diff:
    """Layers matched by name, the totals and (with `signal`) the signal growth of both designs, with
    batchnorm's batch statistics over `batch` samples (verify's and signal's default 8; None: infinite)."""
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
        growth=_growth(old, new, batch) if signal else None,
        signal_batch=batch if signal else None,
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
                f"{what} grew {grew}: {value_text(f, f.old)} → {value_text(f, f.new)}, more than the {limit:g} % allowed"
            )
    return out


def budget_problem(flag: str, limit: float | None) -> str | None:
    """Why a growth budget as given (--max-params-growth) cannot be used; None when it can (or is not given)."""
    if limit is None or math.isfinite(limit):
        return None
    return f"{flag} takes a finite percentage, got {limit}"


def unknown_sets(old: Analysis, new: Analysis, old_name: str, new_name: str) -> list[str]:
    """A --set neither spec has a symbol for, one message each (--set applies to the spec that has it)."""
    from .diagnostics import did_you_mean

    known = sorted({*old.graph.symbols.declared, *new.graph.symbols.declared})
    out = []
    for n, v in new.graph.symbols.values.items():
        if n in known:
            continue
        same = [k for k in known if k.lower() == n.lower()]
        hint = f" (did you mean '{same[0]}'?)" if same else did_you_mean(n, known)
        hint = hint or (f" (their symbols: {', '.join(known)})" if known else " (they have no symbols)")
        out.append(f"--set {n}={v}: neither {old_name} nor {new_name} has a symbol '{n}'{hint}")
    return out


# ---------------------------------------------------------------- figures as text


def bytes_text(n: int) -> str:
    """MB as the summary shows memory (10^6 bytes); kB and bytes below, so that small changes show."""
    return mb(n) if n >= 1e6 else f"{n / 1e3:,.2f} kB" if n >= 1e3 else f"{n:,} B"


def value_text(f: Figure, n: int) -> str:
    return bytes_text(n) if f.unit == "bytes" else f"{n:,}"
