"""`netcalc sizes` as text and JSON: the sizes each symbol may take, the layers that decide it, and
how MACs and memory scale with one symbol (`--sweep`). Formats what netcalc.sizes worked out."""

from __future__ import annotations

from .figure_text import human
from .formulas import pretty
from .sizes import congruence, listed
from .sizes_sweep import growth_words, point_validity, scaling, term_text
from .table import plain_table

NAMES = {"macs_batch": "MACs", "flops_batch": "FLOPs", "activation_bytes": "activation memory (bytes)",
         "total_bytes": "total memory (bytes)"}  # fmt: skip


def _batch(analysis) -> str:
    """'' at batch 1, else ' (batch N)' / ' (batch 4)': the MACs and FLOPs are for the batch."""
    b = analysis.totals.batch
    return f" (batch {b})" if hasattr(b, "e") or b != 1 else ""


def names(analysis) -> dict:
    """The figures' labels, with the batch where it is not 1 (MACs (batch N))."""
    at = _batch(analysis)
    if not at:
        return NAMES
    return {"macs_batch": f"MACs{at}", "flops_batch": f"FLOPs{at}",
            "activation_bytes": f"activation memory{at[:-1]}, bytes)",
            "total_bytes": f"total memory{at[:-1]}, bytes)"}  # fmt: skip


def _threshold_rules(res) -> list:
    """The first condition that sets the smallest size (later layers may repeat it)."""
    return [r for r in res.rules if r.cond.kind == "size" and r.only is None and r.minimum == res.minimum][:1]


def _tightening(res) -> list:
    """The periodic conditions that tighten the congruence, in the order of the layers."""
    out, seen = [], (1, frozenset({0}))
    for r in res.rules:  # (a condition that is not periodic is listed with its values instead)
        if r.cond.kind != "size" and r.only is None and r.so_far != seen:
            out.append(r)
            seen = r.so_far
    return out


def value_note(res, value: int, label: str) -> str:
    if res.valid(value):
        return f"{label} {res.name} = {value}: valid"
    nearest = res.nearest(value)
    return f"{label} {res.name} = {value}: NOT valid (nearest valid: {', '.join(map(str, nearest)) or 'none'})"


def moved_line(analysis, moved: dict | None) -> list[str]:
    """When the spec could not be analysed at its defaults (nor at a generic size): where it was."""
    if not moved:
        return []
    at = ", ".join(f"{n} = {v}" for n, v in moved.items())
    return [
        f"(the spec cannot be analysed at its defaults nor at a generic size: the conditions are worked out at {at})"
    ]


def text(analysis, results, sweep=None, moved: dict | None = None) -> str:
    g = analysis.graph
    scope = g.symbols
    lines = [f"{g.name}: the sizes every layer divides exactly, with outputs of at least 1"
             + (" (each symbol with the others at their defaults)" if len(results) > 1 else "")]  # fmt: skip
    lines += moved_line(analysis, moved)
    for res in results:
        cond = res.congruence
        low = res.smallest[0] if res.smallest else res.minimum
        head = f"{res.name}: " + (f"{cond}, {res.name} ≥ {low}" if res.modulus > 1 else f"{res.name} ≥ {low}")
        if res.only is not None:
            head = f"{res.name}: {cond}"
        if not res.residues:
            head = f"{res.name}: no value is valid"
        lines += ["", head]
        if res.smallest:
            lines.append(f"  smallest: {', '.join(map(str, res.smallest))}")
        reasons = [(f"{res.name} ≥ {r.minimum}", r) for r in _threshold_rules(res)]
        reasons += [(congruence(res.name, *r.so_far), r) for r in _tightening(res)]
        reasons += [(listed(res.name, sorted(r.only)), r) for r in res.rules if r.only is not None]
        width = max((len(c) for c, _ in reasons), default=0)
        for c, r in reasons:
            lines.append(f"  {c:<{width}}  {r.cond.what} (line {r.cond.loc.line})")
        decl = scope.used.get(res.name)
        if decl is not None and decl.default is not None:
            lines.append("  " + value_note(res, decl.default, "--set" if decl.from_set else "default"))
        ok = res.declared_ok()
        if ok is not None:
            lines.append(
                "  the declared constraints allow only valid values"
                if ok
                else "  the declared constraints (min/max/divisible) allow values that are not valid"
            )
        for c in res.others:
            lines.append(f"  also (with other symbols): {pretty(c.expr)} {'= 0' if c.kind == 'equal' else '≥ 0'}"
                         f" — {c.what} (line {c.loc.line})")  # fmt: skip
    lines += scaling_lines(analysis)
    if sweep is not None:
        lines += ["", *sweep_lines(sweep, {r.name: r for r in results}, analysis)]
    return "\n".join(lines) + "\n"


def scaling_lines(analysis) -> list[str]:
    """How the batch's MACs and the memory grow for large sizes: the leading term in every symbol."""
    found = scaling(analysis)
    if not found:
        return []
    labels = names(analysis)
    width = max(22, *(len(labels[fig]) for fig in found))
    lines = ["", "for large sizes (floors dropped, leading term)"]
    for fig, (_, lead, degree) in found.items():
        lines.append(f"  {labels[fig]:<{width}} ≈ {term_text(lead)}: {growth_words(lead, degree)}")
    return lines


MOST_TERMS = 8  # a longer sum (two hundred stride-2 layers give a ceiling term each) is shortened


def _formula_text(e) -> str:
    """The formula as `pretty` writes it; a sum of more than MOST_TERMS terms as its shortest terms
    (the polynomial ones and the floors of the smallest strides: ⌈H/2⌉ before ⌈H/2²⁰⁰⌉), an ellipsis
    with the number left out, and its constant."""
    terms = e.as_ordered_terms(order="grlex") if getattr(e, "is_Add", False) else [e]
    if len(terms) <= MOST_TERMS:
        return pretty(e)
    constant = [t for t in terms if t.is_Number]
    texts = sorted((pretty(t) for t in terms if not t.is_Number), key=lambda t: (len(t), t))
    shown = texts[: MOST_TERMS - 2]
    text = shown[0]
    for t in [*shown[1:], None, *(pretty(c) for c in constant)]:
        if t is None:
            text += f" + … ({len(texts) - len(shown)} more terms)"
        else:
            text += f" − {t[1:]}" if t.startswith("-") else f" + {t}"
    return text


def sweep_lines(sw, results: dict, analysis=None) -> list[str]:
    name = "=".join(sw.names)
    at = _batch(analysis) if analysis is not None else ""
    labels = names(analysis) if analysis is not None else NAMES
    width = max(22, *(len(labels[fig]) for fig in ("macs_batch", "total_bytes")))
    lines = [f"scaling with {name}" + (" (the other symbols at their defaults)" if sw.fixed else "")]
    for fig in ("macs_batch", "total_bytes"):
        lead, degree = sw.leading[fig]
        lines.append(f"  {labels[fig]:<{width}} {_formula_text(sw.formulas[fig])}")
        lines.append(f"  {'':<{width}} leading term {term_text(lead)}: {growth_words(lead, degree)}")
    header = [name, f"MACs{at}", f"FLOPs{at}", "activations", "total memory", "MACs ×", "valid size"]
    body = []
    prev = None
    divides, declared = True, False
    for point, vals in sw.rows:
        ratio = f"{vals['macs_batch'] / prev:.2f}" if prev else ""
        prev = vals["macs_batch"] or None
        ok, why = point_validity(sw, results, point)
        divides, declared = divides and ok, declared or bool(why)
        cell = "yes" if ok and not why else "no" + (f" ({'; '.join(why)})" if why else "")
        body.append([str(point), f"{vals['macs_batch']:,}", f"{vals['flops_batch']:,}", human(vals["activation_bytes"], "B"),
                     human(vals["total_bytes"], "B"), ratio, cell])  # fmt: skip
    head, rule, rows = plain_table(header, body, {1, 2, 3, 4, 5})
    notes = [] if divides else [
        "  (at a size that is not valid a framework drops rows or fails; the figures are the formulas' values)"
    ]  # fmt: skip
    if declared:
        notes.append(f"  (no (…) with a reason: outside what the spec declares for {', '.join(sw.names)} under symbols:;"
                     " --set refuses such a value)")  # fmt: skip
    return [*lines, "", "  " + head, "  " + rule, *("  " + r for r in rows), *notes]


def to_json(analysis, results, sweep=None, moved: dict | None = None) -> dict:
    scope = analysis.graph.symbols
    doc: dict = {"spec": analysis.graph.name, "symbols": []}
    if moved:
        doc["analysed_at"] = dict(moved)  # the defaults could not be analysed
    for res in results:
        decl = scope.used.get(res.name)
        doc["symbols"].append(
            {
                "name": res.name,
                "modulus": res.modulus,
                "residues": sorted(res.residues),
                "minimum": res.minimum,
                "condition": res.congruence,
                "smallest": res.smallest,
                "only": sorted(res.only) if res.only is not None else None,
                "default": decl.default if decl else None,
                "default_valid": res.valid(decl.default) if decl and decl.default is not None else None,
                "declared_constraints_valid": res.declared_ok(),
                "imposed_by": [
                    {
                        "layer": r.cond.layer,
                        "line": r.cond.loc.line,
                        "what": r.cond.what,
                        "kind": r.cond.kind,
                        "condition": listed(res.name, sorted(r.only))
                        if r.only is not None
                        else f"{res.name} ≥ {r.minimum}"
                        if r.cond.kind == "size"
                        else congruence(res.name, r.modulus, r.residues),
                        "formula": str(r.cond.expr),
                    }
                    for r in res.rules
                ],
                "with_other_symbols": [{"layer": c.layer, "formula": str(c.expr), "kind": c.kind} for c in res.others],
            }
        )
    doc["leading"] = {
        fig: {"formula": str(e), "term": str(lead), "degree": degree}
        for fig, (e, lead, degree) in scaling(analysis).items()
    }
    if sweep is not None:
        doc["sweep"] = {
            "symbols": sweep.names,
            "formulas": {fig: str(e) for fig, e in sweep.formulas.items()},
            "leading": {fig: {"term": str(t), "degree": d} for fig, (t, d) in sweep.leading.items()},
            "rows": [
                {"value": p, **vals, "valid": ok and not why, "divides": ok, "declared_against": why or None}
                for p, vals in sweep.rows
                for ok, why in [point_validity(sweep, {r.name: r for r in results}, p)]
            ],
        }
    return doc
