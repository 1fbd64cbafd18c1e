"""Symbolic sizes: a size that is a formula in named symbols (H, W, T...) and, beside it, a number.

`Dual(expr, value)` is what a free symbol becomes in the input shape. The engine's layer formulas
use only + − * // % and comparisons, so they run unchanged on it: arithmetic builds the sympy
formula (exact floor and ceiling expressions) and the number at the same time; a comparison (the
engine's branch: is this size below 1? is a row left unread?) looks at the number, which is the
symbols' defaults or, for a symbol with none, a large size divisible by many small numbers. What
the branches assume is recorded as conditions (`Condition`) by the layers that make them, and
`netcalc sizes` solves those for the sizes that keep every division exact.

This module imports sympy; it is loaded only for a spec with free symbols.
"""

from __future__ import annotations

import re
from fractions import Fraction
from math import floor as _floor
from math import gcd

import sympy
from sympy.printing.str import StrPrinter


def symbol(name: str) -> sympy.Symbol:
    return sympy.Symbol(name, integer=True, positive=True)


def _parts(x):
    if isinstance(x, Dual):
        return x.e, x.v
    return sympy.Integer(x), x


def make(e, v):
    """A Dual, or a plain int when the formula has no symbol left."""
    if e.is_Integer:
        return int(e)
    return Dual(e, v)


def total(values):
    """The sum of ints and Duals with one sympy Add for the formulas: adding them one by one
    flattens the growing sum again at every step (quadratic: a 1,000-layer symbolic U-Net spent
    15 s there)."""
    ints, duals = 0, []
    for v in values:
        if isinstance(v, Dual):
            duals.append(v)
        else:
            ints += v
    if not duals:
        return ints
    return make(sympy.Add(*(d.e for d in duals), sympy.Integer(ints)), sum(d.v for d in duals) + ints)


def floordiv(e, s):
    """floor(e/s) for an integer s > 0, with floor(floor(x) + c)/s) written floor((x + c)/s)."""
    if isinstance(s, sympy.Integer) and s > 0:
        c, terms = e.as_coeff_add()
        if len(terms) == 1:
            k, f = terms[0].as_coeff_Mul()
            if isinstance(f, sympy.ceiling) and k == -1:  # −⌈x⌉ = ⌊−x⌋
                k, f = sympy.Integer(1), sympy.floor(-f.args[0], evaluate=False)
            if isinstance(f, sympy.floor) and k == -1:  # ⌊(−⌊x⌋ + c)/s⌋ = −⌈(⌊x⌋ − c)/s⌉ = −⌊(x − c + s − 1)/s⌋
                return -_sym_floor((f.args[0] - c + s - 1) / s)
            if isinstance(f, sympy.ceiling) and k == 1:  # ⌊(⌈x⌉ + c)/s⌋ = −⌊(−x − c + s − 1)/s⌋
                return -_sym_floor((-f.args[0] - c + s - 1) / s)
            if isinstance(f, sympy.floor) and k.is_Integer:
                if k == 1:
                    return _sym_floor((f.args[0] + c) / s)
                if k % s == 0:
                    return (k / s) * f + sympy.floor(c / s)
    return _sym_floor(e / s)


def _sym_floor(q):
    """floor(q) in one canonical form, so that equal sizes reached by different paths are one term
    (and sums of them collect): q = r + c with r a combination of integer-valued terms (symbols,
    floors) with rational coefficients, r ∈ (1/d)ℤ; then ⌊r + c⌋ = ⌊r + c'⌋ + n with
    c' = ⌊c·d⌋/d − n in [0, 1), and a negative-looking r is turned round with ⌊−y⌋ = −⌊y + (d − 1)/d⌋.
    (⌊r + (d − 1)/d⌋ is ⌈r⌉: the printer shows it so.)"""
    c, r = q.as_coeff_Add()
    if not r.free_symbols:
        return sympy.floor(q)
    d = _denominator_of(r)
    if r.could_extract_minus_sign():  # ⌊−(y + c')⌋ = −⌈y + c'⌉ = −⌈y + ⌈c'·d⌉/d⌉ = −⌊y + ⌈c'·d⌉/d + (d − 1)/d⌋
        up = sympy.Rational(-_floor(c * d), d)  # ⌈−c·d⌉/d
        return -_floor_canonical(-r, up + sympy.Rational(d - 1, d), d)
    return _floor_canonical(r, c, d)


def _floor_canonical(r, c, d: int):
    if d == 1:  # r is an integer
        return r + _floor(c)
    c2 = sympy.Rational(_floor(c * d), d)
    n = _floor(c2)
    return sympy.floor(r + (c2 - n), evaluate=False) + n


def _denominator_of(r) -> int:
    d = 1
    for _, coeff in r.as_coefficients_dict().items():
        if coeff.is_Rational:
            d = _lcm(d, int(coeff.q))
    return d


class Dual:
    """A size that is a formula (sympy) and a number (at the defaults, or a generic point)."""

    __slots__ = ("e", "v")

    def __init__(self, e, v: int) -> None:
        self.e = e
        self.v = v

    # arithmetic: both parts
    def __add__(self, o):
        a, x = _parts(o)
        return make(self.e + a, self.v + x)

    __radd__ = __add__

    def __sub__(self, o):
        a, x = _parts(o)
        return make(self.e - a, self.v - x)

    def __rsub__(self, o):
        a, x = _parts(o)
        return make(a - self.e, x - self.v)

    def __mul__(self, o):
        if isinstance(o, float):
            return self.v * o
        a, x = _parts(o)
        return make(self.e * a, self.v * x)

    __rmul__ = __mul__

    def __neg__(self):
        return make(-self.e, -self.v)

    def __pos__(self):
        return self

    def __floordiv__(self, o):
        a, x = _parts(o)
        return make(floordiv(self.e, a), self.v // x)

    def __rfloordiv__(self, o):
        a, x = _parts(o)
        return make(sympy.floor(a / self.e), x // self.v)

    def __mod__(self, o):
        a, x = _parts(o)
        return make(sympy.Mod(self.e, a), self.v % x)

    def __rmod__(self, o):  # 16 % C: a count divided by a symbolic size (depthwise groups)
        a, x = _parts(o)
        return make(sympy.Mod(a, self.e), x % self.v)

    def __truediv__(self, o):  # a ratio is a number (shown, never carried on)
        return self.v / (o.v if isinstance(o, Dual) else o)

    def __rtruediv__(self, o):
        return (o.v if isinstance(o, Dual) else o) / self.v

    def __pow__(self, n):
        return make(self.e**n, self.v**n)

    # comparisons, truth and conversions: the number (the branch taken at the defaults)
    def __lt__(self, o):
        return self.v < _v(o)

    def __le__(self, o):
        return self.v <= _v(o)

    def __gt__(self, o):
        return self.v > _v(o)

    def __ge__(self, o):
        return self.v >= _v(o)

    def __eq__(self, o):
        return self.v == _v(o)

    def __ne__(self, o):
        return self.v != _v(o)

    def __hash__(self) -> int:
        return hash(self.e)

    def __bool__(self) -> bool:
        return self.v != 0

    def __int__(self) -> int:
        return self.v

    __index__ = __int__

    def __float__(self) -> float:
        return float(self.v)

    def __abs__(self):
        return self if self.v >= 0 else -self

    def __str__(self) -> str:
        return pretty(self.e)

    def __repr__(self) -> str:  # the formula, as messages quote it (a list of sizes shows [3, H, W])
        return str(self)

    def __format__(self, spec: str) -> str:
        width = "".join(ch for ch in spec if ch in "<>^" or ch.isdigit()) if spec and spec[0] in "<>^" else ""
        return format(str(self), width)


def smin(a, b):
    """min of two sizes, symbolic where either is (sympy's Min; the number takes the smaller)."""
    ea, va = _parts(a)
    eb, vb = _parts(b)
    return make(sympy.Min(ea, eb), min(va, vb))


def smax(a, b):
    """max of two sizes, symbolic where either is (sympy's Max)."""
    ea, va = _parts(a)
    eb, vb = _parts(b)
    return make(sympy.Max(ea, eb), max(va, vb))


def _v(o):
    return o.v if isinstance(o, Dual) else o


def is_symbolic(x) -> bool:
    return isinstance(x, Dual)


class _Pretty(StrPrinter):
    """floor and ceiling as ⌊x⌋ and ⌈x⌉, products with ·, powers with superscripts."""

    def _print_floor(self, e):
        return self._floor_text(e.args[0])

    def _floor_text(self, arg) -> str:
        """⌊r + c⌋, or ⌈r + c − (d − 1)/d⌉ when c's fraction is (d − 1)/d (r ∈ (1/d)ℤ): ⌈H/32⌉."""
        c, r = arg.as_coeff_Add()
        if r.free_symbols and c.is_Rational:
            d = _denominator_of(r)
            if d > 1 and (c - sympy.Rational(d - 1, d)).is_Integer:
                return "⌈" + self._print(sympy.together(r + c - sympy.Rational(d - 1, d))) + "⌉"
        return "⌊" + self._print(sympy.together(arg)) + "⌋"

    def _print_ceiling(self, e):
        return "⌈" + self._print(sympy.together(e.args[0])) + "⌉"

    def parenthesize(self, item, level, strict=False):
        # printed as a single ⌊…⌋ or (a mod b): no brackets needed around it
        if _one_floor(item) or isinstance(item, sympy.Mod):
            return self._print(item)
        return super().parenthesize(item, level, strict)

    def _print_Add(self, e, order=None):
        """⌊x⌋ + c as ⌊x + c⌋ (one floor or ceiling and an integer): ⌊(H − 4)/16⌋, not ⌊H/16 − 5/4⌋ + 1."""
        if _one_floor(e):
            c, terms = e.as_coeff_add()
            if isinstance(terms[0], sympy.floor):
                return self._floor_text(terms[0].args[0] + c)
            return "⌈" + self._print(sympy.together(terms[0].args[0] + c)) + "⌉"
        return super()._print_Add(e, order=order)

    def _print_Mod(self, e):
        a = self._print(e.args[0])
        if isinstance(e.args[0], sympy.Add) and not _one_floor(e.args[0]):  # ((C + 3) mod 4), not (C + 3 mod 4)
            a = f"({a})"
        return f"({a} mod {self._print(e.args[1])})"

    def _print_Min(self, e):
        return "min(" + ", ".join(self._print(a) for a in e.args) + ")"

    def _print_Max(self, e):
        return "max(" + ", ".join(self._print(a) for a in e.args) + ")"


def _one_floor(e) -> bool:
    """⌊x⌋ + c with c an integer: printed ⌊x + c⌋."""
    if not isinstance(e, sympy.Add):
        return False
    c, terms = e.as_coeff_add()
    return c.is_Integer and c != 0 and len(terms) == 1 and isinstance(terms[0], (sympy.floor, sympy.ceiling))


_SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def pretty(e) -> str:
    text = _Pretty({"order": "grlex"}).doprint(e)
    out = []
    i = 0
    while i < len(text):
        if text.startswith("**", i):
            j = i + 2
            while j < len(text) and text[j].isdigit():
                j += 1
            out.append(text[i + 2 : j].translate(_SUPERSCRIPTS))
            i = j
        elif text[i] == "*":
            out.append("·")
            i += 1
        else:
            out.append(text[i])
            i += 1
    text = "".join(out).replace(" - ", " − ")
    # a unary minus (the first term negative, at the start or after a bracket) is the same sign
    return re.sub(r"(^|\()-", "\\1−", text)


def formula(x) -> str:
    """The formula as plain text (sympy's own spelling: floor(H/2)), for JSON."""
    return str(x.e) if isinstance(x, Dual) else str(x)


def value(x):
    return x.v if isinstance(x, Dual) else x


# --- exact evaluation, without sympy's substitution (fast, and integers stay integers) ---


def evaluate(e, env: dict):
    """The exact value of a formula made of + − · / floor ceiling Mod and integer powers, with the
    symbols given by name in env: an int when the result is integral, else a Fraction."""
    r = _eval(e, env)
    return int(r) if r.denominator == 1 else r


def _eval(e, env: dict) -> Fraction:
    if e.is_Integer:
        return Fraction(int(e))
    if e.is_Rational:
        return Fraction(int(e.p), int(e.q))
    if e.is_Symbol:
        return Fraction(env[e.name])
    args = [_eval(a, env) for a in e.args] if not e.is_Pow else None
    if e.is_Add:
        return sum(args, Fraction(0))
    if e.is_Mul:
        out = Fraction(1)
        for a in args:
            out *= a
        return out
    if e.is_Pow:
        return _eval(e.args[0], env) ** int(e.args[1])
    if isinstance(e, sympy.floor):
        return Fraction(_floor(args[0]))
    if isinstance(e, sympy.ceiling):
        return Fraction(-_floor(-args[0]))
    if isinstance(e, sympy.Mod):
        return args[0] - args[1] * _floor(args[0] / args[1])
    if isinstance(e, sympy.Max):
        return max(args)
    if isinstance(e, sympy.Min):
        return min(args)
    raise ValueError(f"cannot evaluate {e}")


def period(e, sym) -> int:
    """A period in `sym` of the floor/ceiling/Mod parts of e: e(x + p) − e(x) is a polynomial
    with no floor left. The product of the denominators of the floors' arguments, nested ones
    multiplied (floor(floor(x/2)/3) has period 6)."""
    if not e.has(sym):
        return 1
    if isinstance(e, (sympy.floor, sympy.ceiling)):
        inner = e.args[0]
        return _lcm(period(inner, sym), _denominator(inner, sym) * period(inner, sym))
    if isinstance(e, sympy.Mod):
        a, m = e.args
        return period(a, sym) * _denominator(a, sym) * int(m) if m.is_Integer else 1
    p = 1
    for a in e.args:
        p = _lcm(p, period(a, sym))
    return p


def _denominator(e, sym) -> int:
    """The lcm of the denominators of the coefficients with which floors and sym enter e."""
    d = 1
    for term in sympy.Add.make_args(sympy.expand(e)):
        coeff = term.as_coeff_Mul()[0]
        if coeff.is_Rational:
            d = _lcm(d, int(coeff.q))
    return d


def _lcm(a: int, b: int) -> int:
    return a * b // gcd(a, b)


def relax(e):
    """The formula with every floor and ceiling taken away (its large-size behaviour), expanded; of a
    min the first argument (ceil-mode windows: the two differ by at most 1); a remainder (bounded by
    its divisor, a `$` expression's width % 4) as 0, what it is once floors are dropped."""
    e = e.replace(sympy.Mod, lambda *xs: sympy.Integer(0))
    e = e.replace(sympy.floor, lambda x: x).replace(sympy.ceiling, lambda x: x)
    e = e.replace(sympy.Min, lambda *xs: xs[0]).replace(sympy.Max, lambda *xs: xs[0])
    return sympy.expand(e)


def leading(e) -> tuple:
    """(leading term, its degree): the highest total degree of the relaxed formula."""
    poly = relax(e)
    syms = sorted(poly.free_symbols, key=lambda s: s.name)
    if not syms:
        return poly, 0
    # terms that vanish for large sizes (16/C, from a width divided by a symbolic channel count) go
    kept = [t for t in sympy.Add.make_args(poly) if t.is_polynomial(*syms)]
    poly = sympy.Add(*kept)
    if not poly.free_symbols:
        return poly, 0
    p = sympy.Poly(poly, *syms)
    degree = p.total_degree()
    top = sum(
        (c * sympy.Mul(*[s**k for s, k in zip(syms, m, strict=True)]) for m, c in p.terms() if sum(m) == degree),
        sympy.Integer(0),
    )
    return top, degree
