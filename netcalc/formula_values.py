"""Exact values of a size formula at many values of one symbol at once (`netcalc sizes` scans
conditions over thousands of sizes: one walk of the formula per scan instead of one per size).

A value is kept as (numerators, denominator): the numerators an array of Python integers (NumPy
object arrays, so that nothing overflows: strides multiplied over two hundred layers give
denominators of 2²⁰⁰), the denominator one positive integer for the whole array. Floors, ceilings
and remainders by constants are then exact integer divisions. Whatever this cannot take at once
(a power with a negative exponent of the scanned symbol, a remainder by a varying size) is
evaluated one size at a time by formulas.evaluate.

Imports NumPy and sympy: loaded by `netcalc sizes` only, for a spec with free symbols.
"""

from __future__ import annotations

from fractions import Fraction
from math import gcd

import numpy as np
import sympy

from .formulas import evaluate


class _OneAtATime(Exception):
    """A part of the formula the array walk does not take: evaluate size by size."""


def numerators(e, env: dict, name: str, xs) -> tuple[list, int]:
    """(numerators, denominator) of e at `name` = each of xs (the other symbols from env): the value
    at xs[i] is numerators[i] / denominator exactly, the denominator positive and common to all."""
    xs = list(xs)
    try:
        num, den = _walk(e, env, name, np.array(xs, dtype=object))
    except _OneAtATime:
        values = [Fraction(evaluate(e, {**env, name: x})) for x in xs]
        den = 1
        for v in values:
            den = den * v.denominator // gcd(den, v.denominator)
        return [v.numerator * (den // v.denominator) for v in values], den
    if not isinstance(num, np.ndarray):  # the formula does not depend on the symbol
        num = np.full(len(xs), num, dtype=object)
    return list(num), den


def holds_at(cond, env: dict, name: str, xs) -> list[bool]:
    """Whether condition `cond` (symbols.Condition: 'equal' is value == 0, 'size' value ≥ 0) holds
    at each of xs."""
    num, _ = numerators(cond.expr, env, name, xs)
    if cond.kind == "equal":
        return [n == 0 for n in num]
    return [n >= 0 for n in num]


def _lcm(a: int, b: int) -> int:
    return a * b // gcd(a, b)


def _walk(e, env: dict, name: str, x):
    if e.is_Integer:
        return int(e), 1
    if e.is_Rational:
        return int(e.p), int(e.q)
    if e.is_Symbol:
        if e.name == name:
            return x, 1
        v = Fraction(env[e.name])
        return v.numerator, v.denominator
    if e.is_Add:
        parts = [_walk(a, env, name, x) for a in e.args]
        den = 1
        for _, d in parts:
            den = _lcm(den, d)
        return sum(n * (den // d) for n, d in parts), den
    if e.is_Mul:
        num, den = 1, 1
        for a in e.args:
            n, d = _walk(a, env, name, x)
            num, den = num * n, den * d
        return num, den
    if e.is_Pow:
        k = int(e.args[1])
        n, d = _walk(e.args[0], env, name, x)
        if k >= 0:
            return n**k, d**k
        if isinstance(n, np.ndarray):
            raise _OneAtATime
        n, d = d, n
        if d < 0:
            n, d = -n, -d
        return n ** (-k), d ** (-k)
    if isinstance(e, sympy.floor):
        n, d = _walk(e.args[0], env, name, x)
        return n // d, 1
    if isinstance(e, sympy.ceiling):
        n, d = _walk(e.args[0], env, name, x)
        return -((-n) // d), 1
    if isinstance(e, sympy.Mod):  # a − b·floor(a/b), b a constant
        (na, da), (nb, db) = (_walk(a, env, name, x) for a in e.args)
        if isinstance(nb, np.ndarray):
            raise _OneAtATime
        q = (na * db) // (da * nb) if nb > 0 else (-na * db) // (da * -nb)
        return na * db - nb * q * da, da * db
    if isinstance(e, sympy.Max | sympy.Min):
        parts = [_walk(a, env, name, x) for a in e.args]
        den = 1
        for _, d in parts:
            den = _lcm(den, d)
        nums = [n * (den // d) for n, d in parts]
        if not any(isinstance(n, np.ndarray) for n in nums):  # Python ints stay Python ints
            return (max if isinstance(e, sympy.Max) else min)(nums), den
        pick = np.maximum if isinstance(e, sympy.Max) else np.minimum
        out = nums[0]
        for n in nums[1:]:
            out = pick(out, n)
        return out, den
    raise _OneAtATime
