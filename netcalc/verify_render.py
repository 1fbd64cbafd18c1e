"""How `netcalc verify` shows its comparison: a table per layer, or JSON. Formatting only."""

from __future__ import annotations

import json
import math

from .table import NAME_BREAKS, Drop, Style, Wrap, lay_out_plain


def _num(x) -> str:
    if x is None or not math.isfinite(x):
        return "—"
    if x == 0:
        return "0"
    return f"{x:.4g}" if 1e-3 <= abs(x) < 1e5 else f"{x:.3g}"


def _mark(ok) -> str:
    return "—" if ok is None else ("ok" if ok else "FAIL")


def _fig(f) -> list[str]:
    if f is None:
        return ["", "", "", ""]
    spread = "" if not math.isfinite(f.spread) else f" ±{f.spread:.0%}"
    return [_num(f.predicted), _num(f.measured) + spread, f"{math.expm1(f.tolerance):.0%} [{f.tag}]", _mark(f.ok)]


# How the verify table narrows to the terminal (README): the exact checks (shape, params, MACs) go
# first, then the headers and the layer names wrap, then the tolerances go, then the ok/FAIL marks
# (every disagreement is listed under the table in any case); then a measurement's spread wraps
# under it.
VERIFY_PLAN = (Drop(1, 2, 3), Wrap(0), Drop(6, 10), Drop(7, 11), Wrap(5, 9))


def render_table(checks, meta: dict, style: Style, width: int | None = None) -> str:
    header = ["layer", "shape", "params", "MACs", "E[x²] predicted", "measured ±spread", "tolerance", "",
              "E[g²] predicted", "measured ±spread", "tolerance", ""]  # fmt: skip
    body = []
    for c in checks:
        exact = [_mark(None if x is None else x[2]) for x in (c.shape, c.tensors, c.macs)]
        body.append([c.name, *exact, *_fig(c.forward), *_fig(c.backward)])
    t = lay_out_plain(header, body, {4, 5, 8, 9}, width, VERIFY_PLAN, {0: NAME_BREAKS, 5: " ", 9: " "})
    title = (f"{meta['name']} — predicted vs measured: batch {meta['batch']}, {meta['seeds']} weight seeds, "
             f"{meta['dtype']}, {meta['mode']} mode")  # fmt: skip
    out = [style.bold(title), *(style.bold(h) for h in t.head), t.rule]
    for cells, lines in zip(body, t.rows, strict=True):
        out += [style.warn(text) for text in lines] if "FAIL" in cells else lines
    failures = [f for c in checks for f in c.failures()]
    out.append("")
    if failures:
        out.append(f"{len(failures)} disagreement{'s' if len(failures) != 1 else ''}:")
        out += ["  " + f for f in failures]
    else:
        out.append(f"everything agrees: {len(checks)} layers (shapes, parameter tensors and MACs exactly; "
                   "second moments within tolerance)")  # fmt: skip
    out.append("Tolerance: the standard error over the seeds × Student's t at 99.7 % + 2 %, plus 10 % per [MF] "
               "and 25 % per [A] rule on the way (in quadrature).")  # fmt: skip
    return "\n".join(out) + "\n"


def render_json(checks, meta: dict) -> str:
    failures = [f for c in checks for f in c.failures()]
    doc = {**meta, "ok": not failures, "layers": [c.to_json() for c in checks], "failures": failures}
    return json.dumps(doc, indent=1)
