"""How a network's cost scales with its symbols: `netcalc sizes --sweep` (MACs, FLOPs and memory as
formulas in one symbol and their values over a range) and the leading terms `netcalc sizes` prints."""

from __future__ import annotations

from .formulas import evaluate, leading, pretty

MAX_SWEEP = 1000  # values in one --sweep


class Sweep:
    """MACs, FLOPs and memory as formulas in one symbol (the others at their defaults), their
    leading terms, and their values over a range."""

    def __init__(self, names: list[str], points: list[int]) -> None:
        self.names = names
        self.points = points
        self.formulas: dict = {}  # figure -> sympy formula in the swept symbol(s)
        self.leading: dict = {}  # figure -> (leading term, degree)
        self.rows: list[tuple[int, dict]] = []
        self.fixed: dict = {}  # the other free symbols and the defaults they were given


# the batch's figures (--batch; per sample at batch 1)
FIGURES = ("macs_batch", "flops_batch", "activation_bytes", "total_bytes")


def sweep(analysis, names: list[str], points: list[int]) -> Sweep:
    """The totals of `analysis` as functions of the symbols `names` (all taking the same value: H=W
    for a square image), the other free symbols at their defaults."""
    import sympy

    scope = analysis.graph.symbols
    t = analysis.totals
    fixed = {scope.free[n]: scope.used[n].default for n in scope.free if n not in names}
    x = sympy.Symbol(names[0], integer=True, positive=True)
    same = {scope.free[n]: x for n in names}
    out = Sweep(names, points)
    out.fixed = {n: scope.used[n].default for n in scope.free if n not in names}
    for fig in FIGURES:
        v = getattr(t, fig)
        e = v.e if hasattr(v, "e") else sympy.Integer(v)
        e = e.xreplace(same).xreplace(fixed)
        out.formulas[fig] = e
        out.leading[fig] = leading(e)
    for p in points:
        out.rows.append((p, {fig: evaluate(e, {names[0]: p}) for fig, e in out.formulas.items()}))
    return out


def point_validity(sw, results: dict, point: int) -> tuple[bool, list[str]]:
    """Whether every layer takes the size (divides exactly, outputs of at least 1), and what the
    declarations of the swept symbols say against it (['max 4096'], ['H: min 32'] for several)."""
    ok = all(results[n].valid(point) for n in sw.names if n in results)
    # the other symbols at their defaults: a default that breaks the network breaks every row
    ok = ok and all(res.valid(v) for n, v in sw.fixed.items() if (res := results.get(n)) is not None and v is not None)
    why = []
    for n in sw.names:
        said = results[n].declared(point) if n in results else None
        if said:
            why.append(f"{n}: {said}" if len(sw.names) > 1 else said)
    return ok, why


def parse_sweep(text: str) -> tuple[list[str], list[int]] | str:
    """`T=16..1024` (doubling from 16 while ≤ 1024), `T=16..1024:64` (steps of 64), `T=16,32,100`,
    `H,W=32..512` (both symbols take each value). Returns (names, points) or a problem. The values
    are counted before any is made (at most MAX_SWEEP of them), and each is at most MAX_VALUE."""
    import re

    from .cliargs import MAX_VALUE, number_text
    from .diagnostics import clip

    names_text, eq, rng = text.partition("=")
    names = [n.strip() for n in names_text.split(",") if n.strip()]
    bad = f"--sweep takes NAME=LOW..HIGH[:STEP] or NAME=V1,V2,... (such as T=16..1024), got '{clip(text)}'"
    if not eq or not names:
        return bad
    names_text = clip(names_text)
    twice = [n for i, n in enumerate(names) if n in names[:i]]
    if twice:
        return f"--sweep {names_text.strip()}: {clip(twice[0])} is given twice, got '{clip(text)}'"

    def number(part: str) -> int:  # ValueError for what is not a number or is too large to be a size
        part = part.strip()
        if not re.fullmatch(r"-?[0-9]+", part):
            raise ValueError(bad)
        digits = part.lstrip("-").lstrip("0")
        if len(digits) > len(str(MAX_VALUE)) or int(digits or "0") > MAX_VALUE:
            raise ValueError(f"--sweep {names_text}: the values may be at most {MAX_VALUE:,}, got {number_text(part)}")
        return int(part)

    try:
        if ".." in rng:
            low_text, _, rest = rng.partition("..")
            high_text, _, step_text = rest.partition(":")
            low, high = number(low_text), number(high_text)
            if low < 1 or high < low:
                return f"--sweep {names_text}: the range must be 1 ≤ LOW ≤ HIGH, got {low}..{high}"
            if step_text:
                step = number(step_text)
                if step < 1:
                    return bad
                count = (high - low) // step + 1
                if count > MAX_SWEEP:
                    fits = (high - low) // MAX_SWEEP + 1  # the smallest step giving MAX_SWEEP values or fewer
                    return (f"--sweep {names_text}: {low}..{high}:{step} is {count:,} values; at most {MAX_SWEEP:,}: "
                            f"a step of {fits:,} or more fits ({low}..{high}:{fits})")  # fmt: skip
                points = list(range(low, high + 1, step))
            else:  # doubling: at most 41 values up to MAX_VALUE
                points = []
                v = low
                while v <= high:
                    points.append(v)
                    v *= 2
                if points[-1] != high:
                    points.append(high)
        else:
            parts = rng.split(",")
            if len(parts) > MAX_SWEEP:
                return f"--sweep {names_text}: {len(parts):,} values; at most {MAX_SWEEP:,}"
            points = [number(v) for v in parts]
            if any(v < 1 for v in points):
                return bad
    except ValueError as exc:
        return str(exc)
    return names, points


def term_text(e) -> str:
    """A leading term with its coefficient as a short number: 184224·H·W, 142.6·H², 0.25·T."""
    import sympy

    parts = []
    for term in sympy.Add.make_args(e):
        coeff, rest = term.as_coeff_Mul()
        number = f"{int(coeff)}" if coeff.is_Integer else f"{float(coeff):.4g}"
        parts.append(number if rest == 1 else f"{number}·{pretty(rest)}")
    return " + ".join(parts)


def scaling(analysis) -> dict:
    """The leading terms of the batch's MACs and of the total memory in every free symbol:
    {figure: (formula, leading term, degree)}."""
    out = {}
    for fig in ("macs_batch", "total_bytes"):
        v = getattr(analysis.totals, fig)
        if hasattr(v, "e"):
            lead, degree = leading(v.e)
            out[fig] = (v.e, lead, degree)
    return out


def growth_words(e, degree: int) -> str:
    """'linear in T', 'quadratic in H, W'... from the relaxed formula's leading term."""
    if degree == 0:
        return "constant"
    syms = sorted(e.free_symbols, key=lambda s: s.name)
    word = {1: "linear", 2: "quadratic", 3: "cubic"}.get(degree, f"degree {degree}")
    return f"{word} in {', '.join(s.name for s in syms)}"


def sweep_problem(scope, sweeps: list[str]) -> str | tuple[list[str], list[int]] | None:
    """--sweep as given (each time it is given) for a spec's symbols `scope`: None for no sweep,
    (names, points), or the problem (given twice, unreadable, a symbol that is not free, a free
    symbol without a default)."""
    if not sweeps:
        return None
    if len(sweeps) > 1:
        return (f"--sweep is given {len(sweeps)} times ({', '.join(sweeps)}); sweep one range "
                "(H,W=32..512 gives two symbols each value)")  # fmt: skip
    parsed = parse_sweep(sweeps[0])
    if isinstance(parsed, str):
        return parsed
    names, _ = parsed
    unknown = [n for n in names if n not in scope.free]
    missing = [n for n in scope.free if n not in names and scope.used[n].default is None]
    if unknown:
        return f"--sweep {', '.join(unknown)}: not a free symbol of the spec (free: {', '.join(scope.free)})"
    if missing:
        return f"--sweep: {', '.join(missing)} has no default; give it one or --set it"
    return parsed
