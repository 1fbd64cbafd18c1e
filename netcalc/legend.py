"""What the figures count: the summary's counting legend (the statements of what MACs, FLOPs and
params count, and each layer type's rule), short or in full."""

from __future__ import annotations

from .analyze import Analysis, counting

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
