"""How a figure is written: a count (13,414), a size (1.67 M, 12.34 MB), and a symbolic figure as its
formula with its value at the symbols' defaults when they have one."""

from __future__ import annotations

from .analyze import Analysis


def human(n: int | float, unit: str = "") -> str:
    if isinstance(n, int) and n.bit_length() > 1000:  # beyond any float: its order of magnitude
        return f"~10^{len(str(abs(n))) - 1} {unit}".rstrip()
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.2f} {suffix}{unit}"
    return f"{n:g} {unit}".rstrip()


def _with_human(n: int, shown=True) -> str:
    """1,667,700 (1.67 M); a number under a thousand alone. A symbolic figure (netcalc.formulas.Dual):
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
