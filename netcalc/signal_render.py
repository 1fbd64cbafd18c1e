"""How `netcalc signal` shows a SignalReport: a table with log-scale bars, JSON, a comparison of
initialisers, and the optional matplotlib plot. Formatting only: the figures come from signal.py."""

from __future__ import annotations

import json
import math

from .render import diagnostic_lines
from .table import NAME_BREAKS, Drop, Style, Wrap, lay_out_plain

BAR = 12


def _log(x: float) -> float:
    return math.log10(x) if x > 0 and math.isfinite(x) else float("nan")


def _num(x: float) -> str:
    if x is None or not math.isfinite(x):
        return "—"
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e5:
        return f"{x:.4g}"
    return f"{x:.3g}"


def _bar(lg: float, lo: float, hi: float) -> str:
    """A bar from 0 (q = 1) to log₁₀ q on a scale from lo to hi, the 0 marked with │."""
    if not math.isfinite(lg):
        return " " * BAR
    span = hi - lo or 1.0
    zero = round((0 - lo) / span * (BAR - 1))
    pos = round((lg - lo) / span * (BAR - 1))
    cells = [" "] * BAR
    a, b = sorted((zero, pos))
    for i in range(a, b + 1):
        cells[i] = "█"
    if cells[zero] == " " or a == b:
        cells[zero] = "│" if a == b else cells[zero]
    return "".join(cells)


def _notes(s) -> str:
    info = s.info
    out = []
    bf = info.bias_fraction
    if bf and bf >= 0.01:
        out.append(f"bias {bf:.0%}")
    sat = info.saturation
    if sat:
        frac, t, dgain = sat
        out.append(f"{frac:.0%} beyond ±{t:g}, E[φ'²] {dgain:.3g}")
    if info.softmax_saturation is not None:
        out.append(f"logit std {info.logit_std:.3g}, max p > 0.9 in {info.softmax_saturation:.0%}")
    if info.spread is not None:
        lo, hi = info.spread
        out.append(f"per position {_num(lo)}..{_num(hi)}")
    st = info.stationary
    if st and "qc" in st:
        out.append(f"long run E[h²] {_num(st['qh'])}, E[c²] {_num(st['qc'])}, cell gradient ×{st['f2']:.2f}/step")
    elif st:
        out.append(f"long run E[h²] {_num(st['qh'])}")
    if info.constant:
        out.append("constant init")
    if s.node.frozen and info.init:
        out.append("frozen")
    return "; ".join(out)


def rows_of(report) -> list[dict]:
    """One plain record per tensor: the inputs, then every layer (the JSON's `layers[]`)."""
    out = []
    for name, sig in report.inputs.items():
        r = report.input_r.get(name)
        out.append({
            "name": name, "op": "input", "forward_second_moment": _clean(sig.mean),
            "backward_second_moment": _clean(float(r.mean())) if r is not None and getattr(r, "size", 1) else None,
            "tag": "E", "backward_tag": "A", "mean": _clean(sig.mu), "gain": None,
        })  # fmt: skip
        _add_rms(out[-1])
    for s in report.layers:
        info = s.info
        rec = {
            "name": s.node.name,
            "op": s.node.op,
            "line": s.node.loc.line,
            "forward_second_moment": _clean(s.q),
            "backward_second_moment": _clean(s.r_mean),
            "tag": s.fwd_tag,
            "backward_tag": s.bwd_tag,
            "gain": _clean(s.gain),
            "mean": _clean(s.out.mu),
            "channel_mean_fraction": _clean(s.out.mfrac),
            "neighbour_correlation": _clean(s.out.corr),
        }
        _add_rms(rec)
        if s.out.q.size > 1:
            rec["forward_min"] = _clean(float(s.out.q.min()))
            rec["forward_max"] = _clean(float(s.out.q.max()))
        if info.init is not None:
            rec["init"] = info.init
        if info.bias_fraction is not None:
            rec["bias_fraction"] = _clean(info.bias_fraction)
        if info.saturation is not None:
            frac, t, dgain = info.saturation
            rec["saturation"] = {"fraction_beyond": _clean(frac), "threshold": t, "backward_gain": _clean(dgain)}
        if info.softmax_saturation is not None:
            rec["saturation"] = {"max_p_above_0.9": _clean(info.softmax_saturation),
                                 "logit_std": _clean(info.logit_std), "backward_gain": _clean(info.dgain)}  # fmt: skip
        if info.stationary is not None:
            rec["stationary"] = {k: _clean(v) for k, v in info.stationary.items()}
        if info.gates_step1 is not None:
            rec["gates_step1"] = [
                {"gate": g, "pre_activation_second_moment": _clean(v + mu * mu), "mean_square": _clean(e2),
                 "backward_gain": _clean(d2)}
                for g, (_, e2, d2, v, mu) in zip(("i", "f", "g", "o"), info.gates_step1, strict=True)
            ]  # fmt: skip
        out.append(rec)
    return out


def _rms(q):
    """√E[x²], the typical magnitude of a value (the root mean square): exact where E[x²] is, so it
    carries E[x²]'s tag; None where E[x²] is unknown."""
    return math.sqrt(q) if q is not None and q >= 0 else None


def _add_rms(rec: dict) -> None:
    """The record's typical magnitudes beside its second moments: `forward_rms` = √E[x²] (tag `tag`),
    `backward_rms` = √E[g²] (tag `backward_tag`)."""
    rec["forward_rms"] = _clean(_rms(rec["forward_second_moment"]))
    rec["backward_rms"] = _clean(_rms(rec["backward_second_moment"]))


def _clean(x):
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


# How the signal table narrows to the terminal (README): the notes move below the table, then the
# backward and forward bars go, then the gradient's rms; then the headers wrap, and names longer
# than 24 characters; then the op column goes, then the forward rms; then the layer names wrap
# further; then the tags go, then the gain. Columns: 0 layer, 1 op, 2 E[x²], 3 rms x, 4 bar, 5 gain,
# 6 tag, 7 E[g²], 8 rms g, 9 bar, 10 tag, 11 notes.
SIGNAL_PLAN = (Drop(11), Drop(9), Drop(4), Drop(8), Wrap(0, least=24), Drop(1), Drop(3), Wrap(0), Drop(6, 10),
               Drop(5))  # fmt: skip
NOTES = 11
# the comparison: the op column goes, then the layer names and the initialisers' headers wrap
COMPARE_PLAN = (Drop(1), Wrap(0))


def render_table(report, style: Style, band: float, width: int | None = None) -> str:
    recs = rows_of(report)
    logs = [_log(r["forward_second_moment"] or 0) for r in recs] + [
        _log(r["backward_second_moment"] or 0) for r in recs
    ]
    finite = [x for x in logs if math.isfinite(x)]
    lo, hi = (min([*finite, -1.0]), max([*finite, 1.0])) if finite else (-1.0, 1.0)
    header = ["layer", "op", "E[x²] forward", "rms x", f"log₁₀ {lo:.0f}..{hi:.0f}", "gain", "tag",
              "E[g²] backward", "rms g", f"log₁₀ {lo:.0f}..{hi:.0f}", "tag", "notes"]  # fmt: skip
    body = []
    by_name = report.by_name
    for r in recs:
        q, g = r["forward_second_moment"], r["backward_second_moment"]
        s = by_name.get(r["name"])
        body.append([
            r["name"], r["op"], _num(q) if q is not None else "—", _num(r["forward_rms"]),
            _bar(_log(q or 0), lo, hi), _num(r["gain"]) + "×" if r.get("gain") is not None else "", r["tag"],
            _num(g) if g is not None else "—", _num(r["backward_rms"]), _bar(_log(g or 0), lo, hi),
            r["backward_tag"], _notes(s) if s else "",
        ])  # fmt: skip
    t = lay_out_plain(header, body, {2, 3, 5, 7, 8}, width, SIGNAL_PLAN, {0: NAME_BREAKS})
    graph = report.analysis.graph
    init = f", every kernel initialised {report.override.describe()}" if report.override else ""
    title = f"{graph.name} — signal propagation at initialisation ({graph.convention} defaults{init})"
    lines = [style.bold(title), *(style.bold(h) for h in t.head), t.rule]
    lines += [line for row in t.rows for line in row]
    notes = [(cells[0], cells[NOTES]) for cells in body if cells[NOTES]]
    if NOTES not in t.cols and notes:  # narrowed: the notes under the table, one line each
        lines += ["notes:", *(f"  {name}: {note}" for name, note in notes)]
    fwd, bwd = report.growth()
    lines.append("")
    (first, last), (top, _) = report.span(), report.span(backward=True)
    fwd_ends = f" {first.node.name} → {last.node.name}" if first else ""
    bwd_ends = f" {last.node.name} → {top.node.name}" if top else ""
    lines.append(f"forward growth{fwd_ends}: {_num(fwd)}× (E[x²], from the first weighted layer to the end)")
    lines.append(f"backward growth{bwd_ends}: {_num(bwd)}× (the gradient's squared norm per sample)")
    frozen = [s for s in report.layers if s.node.frozen and s.info.init]
    if frozen:
        where = f"judged down to {top.node.name}, the first trainable one" if top else "every weighted layer is"
        lines.append(f"frozen (trainable: false): {len(frozen)} weighted layer{'s' if len(frozen) > 1 else ''} "
                     f"whose weights get no gradient; the backward growth is {where}"
                     + ("; Keras runs a frozen batchnorm in inference mode (its moving statistics)"
                        if report.analysis.graph.convention == "keras" else ""))  # fmt: skip
    lines.append(f"band: {band:g}× either way. Tags: [E] exact in expectation, [MF] mean-field (Gaussian "
                 "pre-activations), [A] approximation.")  # fmt: skip
    shown = [(name, fig) for col, name, fig in ((3, "rms x", "√E[x²]"), (8, "rms g", "√E[g²]")) if col in t.cols]
    if shown:  # the rms columns said in words, those the width left
        names, figs = ", ".join(n for n, _ in shown), " and ".join(f for _, f in shown)
        lines.append(f"{names}: {figs}, a value's typical magnitude (tagged as its second moment).")
    lines.append(f"Training mode (dropout masks, batch statistics{_batch_words(report)}); backward: loss = Σ y·g "
                 "with g ~ N(0, 1) at the outputs.")  # fmt: skip
    return "\n".join(lines) + "\n"


def _batch_words(report) -> str:
    """The batch the batch statistics are over, as the footer says it (nothing for an infinite one)."""
    return f" over a batch of {report.batch:,}" if report.batch else ""


def render_json(report, band: float) -> str:
    fwd, bwd = report.growth()
    graph = report.analysis.graph
    doc = {
        "name": graph.name,
        "convention": graph.convention,
        "init_override": report.override.describe() if report.override else None,
        "mode": "train",
        "batch": report.batch,
        "layers": rows_of(report),
        "totals": {"forward_growth": _clean(fwd), "backward_growth": _clean(bwd), "band": band},
        "findings": [d.to_json() for d in report.analysis.diags.sorted() if d.severity == "warning"],
    }
    return json.dumps(doc, indent=1)


def render_compare(reports: list, labels: list[str], style: Style, width: int | None = None) -> str:
    """Several initialisers side by side: log₁₀ E[x²] forward and the backward norm growth."""
    from .signal_rules import saturated

    names = [s.node.name for s in reports[0].layers]
    header = ["layer", "op"] + [f"{lab} fwd" for lab in labels]
    body = []
    notes = []  # the saturated layers under each initialiser (W303's rule), below the table
    for i, name in enumerate(names):
        s0 = reports[0].layers[i]
        cells = []
        for rep, lab in zip(reports, labels, strict=True):
            why = saturated(rep.layers[i])
            cells.append(_num(rep.layers[i].q) + (" saturated" if why else ""))
            if why:
                notes.append(f"  {name} under {lab}: {why}")
        body.append([name, s0.node.op, *cells])
    growth = [rep.growth() for rep in reports]
    body.append(["forward growth", ""] + [_num(f) + "×" for f, _ in growth])
    body.append(["backward growth", ""] + [_num(b) + "×" for _, b in growth])
    t = lay_out_plain(header, body, set(range(2, len(header))), width, COMPARE_PLAN, {0: NAME_BREAKS + " "})
    rows = [line for row in t.rows[:-2] for line in row]
    totals = [line for row in t.rows[-2:] for line in row]
    lines = [style.bold(f"{reports[0].analysis.graph.name} — E[x²] per layer under each initialiser")]
    lines += [*(style.bold(h) for h in t.head), t.rule, *rows, t.rule, *totals]
    if notes:
        import textwrap

        head = "saturated (W303: a bounded output stuck at its ends passes almost no gradient back):"
        for text in (head, *notes):  # within the width, as the table is
            lines += textwrap.wrap(text, width, subsequent_indent="    ", break_on_hyphens=False) if width else [text]
    return "\n".join(lines) + "\n"


def warning_lines(report, sources, style: Style, tty: bool) -> list[str]:
    warnings = [d for d in report.analysis.diags.sorted() if d.severity == "warning"]
    lines = diagnostic_lines(warnings, sources if tty else None)
    return [style.warn(x) if ": warning " in x else x for x in lines]


MAX_TICKS = 60  # layer names on the plot's axis (a deep network is named every n-th layer)


def plot(reports: list, labels: list[str], path: str) -> None:
    """The signal-propagation plot: log₁₀ E[x²] forward and E[g²] backward per layer, one line per
    initialiser (matplotlib, the optional `plot` extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    for rep, lab in zip(reports, labels, strict=True):
        xs = range(len(rep.layers))
        axes[0].plot(xs, [s.q for s in rep.layers], marker=".", label=lab)
        axes[1].plot(xs, [s.r_mean for s in rep.layers], marker=".", label=lab)
    axes[0].set_yscale("log")
    axes[1].set_yscale("log")
    axes[0].set_ylabel("E[x²] forward")
    axes[1].set_ylabel("E[g²] backward")
    names = [s.node.name for s in reports[0].layers]
    every = max(1, -(-len(names) // MAX_TICKS))  # a readable axis: at most MAX_TICKS layer names
    ticks = range(0, len(names), every)
    axes[1].set_xticks(list(ticks))
    axes[1].set_xticklabels([names[i] for i in ticks], rotation=90, fontsize=6)
    axes[0].legend()
    axes[0].set_title(f"{reports[0].analysis.graph.name}: signal propagation at initialisation")
    fig.tight_layout()
    fig.savefig(path)
