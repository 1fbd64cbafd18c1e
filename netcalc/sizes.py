"""Which values of each symbol a network accepts (how its cost scales with one symbol: sizes_sweep.py).

The engine records, while it works out a symbolic spec, what its figures assume (netcalc.symbols.
Condition): every window output at least 1 ('size'), every strided division leaving no input row or
column unread ('exact'), merged sizes equal ('equal'). For one symbol x (the others at their
defaults), each condition is solved exactly:

- a 'size' condition grows with x: its smallest x is found by doubling and bisection;
- an 'exact' or 'equal' condition is periodic in x (floors of x/d repeat with period d, nested
  ones with the product): its period p is read off the formula, and the residues r of x mod p at
  which it holds are found by evaluating it exactly at one value of each residue (large enough for
  every size condition to hold), then reduced to the smallest modulus that describes the same set.

The valid values are then x ≥ the largest threshold with x mod P in the residues allowed by every
condition (P the lcm of the moduli). Each condition keeps the layer that imposes it.
"""

from __future__ import annotations

from math import gcd

from .formula_values import holds_at, numerators
from .formulas import evaluate, period, pretty, relax

MAX_SEARCH = 2**40


class Rule:
    """One condition as it bears on one symbol: a congruence (modulus, residues) or a threshold."""

    __slots__ = ("cond", "minimum", "modulus", "only", "residues", "so_far")

    def __init__(self, cond, modulus: int = 1, residues: frozenset = frozenset({0}), minimum: int = 1) -> None:
        self.cond = cond
        self.modulus = modulus
        self.residues = residues
        self.minimum = minimum
        self.so_far: tuple = (modulus, residues)  # the congruence of this and every earlier condition
        self.only: frozenset | None = None  # a condition that is not periodic: the values (≤ SCAN) it allows


class SymbolSizes:
    """The values of one symbol the network accepts (the other symbols at their defaults)."""

    def __init__(self, name: str, decl) -> None:
        self.name = name
        self.decl = decl
        self.rules: list[Rule] = []  # the conditions that restrict this symbol (vacuous ones left out)
        self.modulus = 1
        self.residues: frozenset = frozenset({0})
        self.minimum = 1
        self.smallest: list[int] = []
        self.others: list = []  # conditions that also involve other symbols (solved at their defaults)
        self.only: frozenset | None = None  # the values allowed by conditions that are not periodic

    @property
    def congruence(self) -> str:
        if self.only is not None:
            return listed(self.name, [x for x in sorted(self.only) if self.valid(x)])
        return congruence(self.name, self.modulus, self.residues)

    def valid(self, x: int) -> bool:
        return x >= self.minimum and x % self.modulus in self.residues and (self.only is None or x in self.only)

    def nearest(self, x: int) -> list[int]:
        """The valid values nearest to x: the one below (if any) and the one above (if any); x itself
        when it is valid."""
        if self.valid(x):
            return [x]
        if self.only is not None:
            values = [y for y in sorted(self.only) if self.valid(y)]
            below = [y for y in values if y < x][-1:]
            above = [y for y in values if y > x][:1]
            return below + above
        below = next((y for y in range(x - 1, max(self.minimum - 1, x - self.modulus - 1), -1) if self.valid(y)), None)
        start = max(x + 1, self.minimum)
        above = next((y for y in range(start, start + self.modulus) if self.valid(y)), None)
        return [y for y in (below, above) if y is not None]

    def declared(self, x: int) -> str | None:
        """What the declaration says against x, in a word or two (min 32, max 4096, multiple of 32),
        or None when it allows x."""
        got = self.decl.broken(x) if self.decl is not None else None
        return None if got is None else f"{got[0]} {got[1]}"

    def declared_ok(self) -> bool | None:
        """Whether the values the declaration allows (min, max, divisible) are all valid; None when
        the declaration constrains nothing."""
        d = self.decl
        if d is None or (d.min is None and d.max is None and d.divisible is None):
            return None
        step = d.divisible or 1
        low = d.min or 1
        first = low + (-low) % step
        if first < self.minimum:
            return False
        p = self.modulus * step // gcd(self.modulus, step)
        return all(x % self.modulus in self.residues for x in range(first, first + p, step))


def congruence(name: str, modulus: int, residues) -> str:
    if modulus == 1:
        return f"any {name}" if residues else f"no {name}"
    rs = sorted(residues)
    if not rs:
        return f"no {name}"
    if len(rs) == 1:
        return f"{name} ≡ {rs[0]} (mod {modulus})"
    return f"{name} mod {modulus} ∈ {{{', '.join(map(str, rs))}}}"


def listed(name: str, values) -> str:
    """H = 784; H ∈ {28, 56, …} for a long list; runs of consecutive values as ranges: C ≤ 39,
    8 ≤ H ≤ 9 (a run that reaches the end of the scanned range, SCAN, is open: H ≥ 8)."""
    if not values:
        return f"no {name}"
    if len(values) == 1:
        return f"{name} = {values[0]}"
    runs: list[list[int]] = []
    for v in values:
        if runs and v == runs[-1][1] + 1:
            runs[-1][1] = v
        else:
            runs.append([v, v])
    if len(runs) == 1:
        lo, hi = runs[0]
        if hi >= SCAN:
            return f"{name} ≥ {lo}"
        return f"{name} ≤ {hi}" if lo == 1 else f"{lo} ≤ {name} ≤ {hi}"
    if len(runs) <= 4 and len(runs) < len(values):
        parts = [f"{a}" if a == b else f"{a}…{b}" if b < SCAN else f"{a}…" for a, b in runs]
        return f"{name} ∈ {{{', '.join(parts)}}}"
    shown = ", ".join(map(str, values[:8])) + (", …" if len(values) > 8 else "")
    return f"{name} ∈ {{{shown}}}"


def reduce(modulus: int, residues) -> tuple[int, frozenset]:
    """The smallest modulus m dividing `modulus` such that the residues are whole classes mod m."""
    residues = frozenset(residues)
    for m in range(1, modulus + 1):
        if modulus % m:
            continue
        classes = {r % m for r in residues}
        if all((r % m in classes) == (r in residues) for r in range(modulus)):
            return m, frozenset(classes)
    return modulus, residues


def solve(analysis) -> list[SymbolSizes]:
    """For every free symbol of the analysed spec, the values it may take."""
    scope = analysis.graph.symbols
    # the others at their defaults (as the report says), else where the figures were evaluated
    point = {name: scope.used[name].default if scope.used[name].default is not None else scope.point[name]
             for name in scope.free}  # fmt: skip
    out = []
    known: dict = {}  # what a condition gives, by (symbol, kind, formula): identical layers repeat theirs

    def once(c, name: str, what: str, work):
        key = (name, what, c.kind, c.expr)
        if key not in known:
            known[key] = work()
        return known[key]

    for name, sym in scope.free.items():
        res = SymbolSizes(name, scope.declared.get(name))
        conds = [c for c in scope.conditions if c.expr.has(sym) or not c.expr.free_symbols]  # constants: everywhere
        res.others = [c for c in conds if len(c.expr.free_symbols) > 1]
        sizes = [c for c in conds if c.kind == "size"]
        for c in sizes:
            low = once(c, name, "threshold", lambda c=c, name=name: _threshold(c, name, point))
            if not once(c, name, "grows", lambda c=c, name=name, low=low: _grows(c, name, point, low)):
                # a size that shrinks as x grows (filters: ${40 - C}): list the values
                rule = Rule(c)
                rule.only = once(c, name, "only", lambda c=c, name=name: _scan(c, name, point))
                res.only = rule.only if res.only is None else res.only & rule.only
                res.rules.append(rule)
                continue
            if low > 1:
                res.rules.append(Rule(c, minimum=low))
            res.minimum = max(res.minimum, low)
        base = res.minimum
        modulus, residues = 1, frozenset({0})
        for c in conds:
            if c.kind == "size":
                continue
            if not c.expr.free_symbols:  # the same at every size (a stride that always skips the last row)
                rule = Rule(c, 1, frozenset())
                modulus, residues = 1, frozenset()
                rule.so_far = (1, frozenset())
                res.rules.append(rule)
                continue
            p, start, periodic = once(c, name, f"period from {base}",
                                      lambda c=c, name=name, sym=sym, base=base: _period(c, name, sym, point, base))  # fmt: skip
            if not periodic:  # an exact size (a reshape to 28×28): list them
                rule = Rule(c)
                rule.only = once(c, name, "only", lambda c=c, name=name: _scan(c, name, point))
                res.only = rule.only if res.only is None else res.only & rule.only
                res.rules.append(rule)
                continue
            held = once(c, name, f"held from {start}", lambda c=c, name=name, p=p, start=start: frozenset(
                r for r, ok in enumerate(holds_at(c, point, name, range(start, start + p))) if ok))  # fmt: skip
            m, rs = reduce(p, held)
            if m == 1 and rs:
                continue  # holds everywhere
            rule = Rule(c, m, rs)
            modulus, residues = _combine(modulus, residues, m, rs)
            rule.so_far = reduce(modulus, residues)
            res.rules.append(rule)
        res.modulus, res.residues = reduce(modulus, residues)
        if res.only is not None:
            res.smallest = [x for x in sorted(res.only) if res.valid(x)][:5]
        else:
            x = res.minimum
            while len(res.smallest) < 5 and res.residues and x < res.minimum + 64 * res.modulus:
                if x % res.modulus in res.residues:
                    res.smallest.append(x)
                x += 1
        out.append(res)
    return out


SCAN = 4096  # how far a condition that is not periodic is scanned


def _scan(c, name: str, point: dict) -> frozenset:
    """The values 1..SCAN of `name` at which condition `c` holds (one walk of its formula for all of
    them: two hundred stride-2 layers give two hundred conditions to scan)."""
    return frozenset(x for x, ok in enumerate(holds_at(c, point, name, range(1, SCAN + 1)), 1) if ok)


MAX_PERIOD = SCAN  # a longer period (many strides multiplied) is not solved by residues: its values are listed


def _period(c, name: str, sym, point: dict, base: int) -> tuple[int, int, bool]:
    """(period p of c's formula in `sym`, the first multiple of p from `base`, whether it is periodic
    there); a period over MAX_PERIOD counts as not periodic (its residues would be checked one by
    one: 2⁴⁰ of them for forty stride-2 layers), so the values up to SCAN that pass are listed."""
    p = period(c.expr, sym)
    start = base + (-base) % p
    return p, start, p <= MAX_PERIOD and _periodic(c.expr, name, point, start, p)


def _periodic(expr, name: str, point: dict, start: int, p: int) -> bool:
    """Whether expr repeats with period p (floors and remainders only, the linear parts cancelling):
    no min or max in it, and the same values exactly over three periods from `start` and far from it."""
    import sympy

    if expr.has(sympy.Min, sympy.Max):  # a min of sizes changes branch somewhere: never periodic as a whole
        return False
    n = min(p, 256)
    base, d = numerators(expr, point, name, range(start, start + n))
    for k in (1, 2, 3, 17, 257):
        shifted, e = numerators(expr, point, name, range(start + k * p, start + k * p + n))
        if any(a * e != b * d for a, b in zip(base, shifted, strict=True)):
            return False
    return True


def _combine(m1: int, r1, m2: int, r2) -> tuple[int, frozenset]:
    m = m1 * m2 // gcd(m1, m2)
    return m, frozenset(r for r in range(m) if r % m1 in r1 and r % m2 in r2)


def _grows(c, name: str, point: dict, low: int) -> bool:
    """Whether a size condition that holds at `low` holds at every larger value: when its formula
    provably never decreases in the symbol (window sizes: sums, positive multiples, floors and
    ceilings, min and max of such), and it holds at `low` + 1 and at doublings up to MAX_SEARCH. A
    width such as ${40 - C}, ${C % 5} or ${(C - 10)**2} is not: its values are listed instead."""
    sym = next((s for s in c.expr.free_symbols if s.name == name), None)
    if sym is None or not _nondecreasing(c.expr, sym):
        return False
    x = max(low, 1)
    for y in [x + 1, *(x << k for k in range(1, 41) if x << k <= MAX_SEARCH)]:
        if not c.holds(evaluate(c.expr, {**point, name: y})):
            return False
    return True


def _nondecreasing(e, sym) -> bool:
    """Whether e provably never decreases as sym grows (the other symbols fixed at positive values)."""
    import sympy

    if not e.has(sym):
        return True
    if e == sym:
        return True
    if isinstance(e, sympy.Add | sympy.Min | sympy.Max | sympy.floor | sympy.ceiling):
        return all(_nondecreasing(a, sym) for a in e.args)
    if isinstance(e, sympy.Mul):
        coeff, rest = e.as_coeff_Mul()
        factors = sympy.Mul.make_args(rest)
        moving = [f for f in factors if f.has(sym)]
        fixed = [f for f in factors if not f.has(sym)]  # other symbols: positive sizes
        return coeff >= 0 and len(moving) == 1 and _nondecreasing(moving[0], sym) and all(f.is_positive for f in fixed)
    return False


def _threshold(c, name: str, point: dict) -> int:
    """The smallest x ≥ 1 at which a size condition holds (it does from there on: sizes grow with x)."""

    def ok(x: int) -> bool:
        return c.holds(evaluate(c.expr, {**point, name: x}))

    if ok(1):
        return 1
    hi = 2
    while not ok(hi):
        hi *= 2
        if hi > MAX_SEARCH:
            return MAX_SEARCH
    lo = hi // 2  # ok(lo) is false
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


# --- a point where the spec can be analysed ---


def search_point(analysis, reanalyse, tries: int = 4):
    """A spec that cannot be analysed at its defaults nor at the generic size (a reshape to 4×4 with
    the default H = 4): solve what the layers up to the failing one assume, move a symbol to the
    valid value nearest to where it was (one the declaration allows, where there is one) and analyse
    again (`reanalyse(points)`): each symbol alone first, then all of them, and a few times over, as
    later layers may fail in turn. Returns (analysis, points) or None when no point is found."""
    for _ in range(tries):
        point = dict(analysis.graph.symbols.point)
        moves = {}
        for res in solve(analysis):
            here = point[res.name]
            near = res.nearest(here) or res.smallest[:1]
            if not near:
                return None  # no value of this symbol is valid
            allowed = [x for x in near if res.declared(x) is None]
            best = min(allowed or near, key=lambda x: abs(x - here))
            if best != here:
                moves[res.name] = best
        if not moves:
            return None
        tried = [{**point, name: value} for name, value in moves.items()]
        if len(moves) > 1:
            tried.append({**point, **moves})
        for at in tried:
            analysis = reanalyse(at)
            if analysis.ok:
                return analysis, at
    return None


__all__ = [
    "SymbolSizes",
    "congruence",
    "pretty",
    "reduce",
    "relax",
    "search_point",
    "solve",
]


# --- the `netcalc sizes` pipeline ---


class _Unreadable(Exception):
    """The spec could not be read at a point tried by search_point: (diags, sources) say why."""


def find_analysis(analyse):
    """The analysis `netcalc sizes` solves. `analyse(generic)` is pipeline.analyse bound to the spec
    and its options, returning (analysis or None, diags, sources). The branches are taken at a
    generic size, not the defaults (they may be invalid sizes); a network that only takes particular
    sizes (a reshape to 28×28) is tried at its defaults instead, and when that fails too (a reshape
    to 4×4 with the default H = 4) at the valid sizes nearest to the defaults that the conditions
    recorded up to the failing layer allow (search_point). Returns (analysis, diags, sources,
    moved): analysis None, or not ok, when no point works (diags says why); moved the point used."""
    analysis, diags, sources = analyse(True)
    if analysis is not None and not analysis.ok:
        analysis, diags, sources = analyse(False)
    moved = None
    if analysis is not None and not analysis.ok and analysis.graph.symbols.free:

        def at(points):  # the branches taken at `points` (symbols.Scope)
            got = analyse(points)
            if got[0] is None:
                raise _Unreadable(got[1], got[2])
            return got[0]

        try:
            found = search_point(analysis, at)
        except _Unreadable as exc:
            return None, *exc.args, None
        if found is not None:
            analysis, moved = found
            diags = analysis.diags
    return analysis, diags, sources, moved


def run(analysis, sweeps: list[str] | None = None):
    """What `netcalc sizes` reports on a spec analysed (find_analysis): (results of solve, the
    Sweep or None), or None after an E107 in analysis.diags (nothing to solve, a bad --sweep)."""
    from .diagnostics import Loc
    from .sizes_sweep import sweep, sweep_problem

    scope, diags = analysis.graph.symbols, analysis.diags
    if not scope.free:
        fixed = sorted(scope.fixed)  # a `repeat: N` fixes N: a count of layers is no free size
        what = ("every symbol is set" + (f" or fixed as a count of layers ('repeat: {fixed[0]}')" if fixed else "")
                if scope.used else "it has no symbols (write one in a shape: [3, H, W])")  # fmt: skip
        diags.error("E107", f"{analysis.graph.name}: nothing to solve: {what}", Loc(analysis.graph.file))
        return None
    parsed = sweep_problem(scope, sweeps)
    if isinstance(parsed, str):
        diags.error("E107", parsed, Loc("--sweep"))
        return None
    swept = sweep(analysis, *parsed) if parsed else None
    return solve(analysis), swept
