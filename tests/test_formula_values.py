"""formula_values walks a formula once for a whole range of sizes; formulas.evaluate takes one size
at a time (an independent walk, with Fractions): the two must agree exactly on every formula the
layers make (floors, ceilings, remainders, min and max, powers), including strides multiplied past
any machine integer."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest
import sympy

from netcalc.formula_values import holds_at, numerators
from netcalc.formulas import evaluate, symbol
from netcalc.symbols import Condition

H, C = symbol("H"), symbol("C")


def _random_formula(rng: random.Random, depth: int = 0):
    """A random size formula in H (and C) of the kinds the layers build."""
    leaf = depth >= 3 or rng.random() < 0.3
    if leaf:
        return rng.choice(
            [H, H, C, sympy.Integer(rng.randint(-5, 9)), sympy.Rational(rng.randint(1, 7), rng.randint(1, 5))]
        )
    a, b = _random_formula(rng, depth + 1), _random_formula(rng, depth + 1)
    k = rng.choice([2, 3, 4, 7, 2**70])
    return rng.choice([
        a + b, a - b, a * b, sympy.floor(a / k), sympy.ceiling(a / k), sympy.Mod(a, rng.choice([2, 3, 5])),
        sympy.Max(a, b), sympy.Min(a, 3), a**2,
    ])  # fmt: skip


@pytest.mark.parametrize("seed", range(40))
def test_numerators_agree_with_evaluate(seed):
    rng = random.Random(seed)
    e = _random_formula(rng)
    xs = [*range(1, 200), 2**70 - 1, 2**70, 2**70 + 1]
    num, den = numerators(e, {"C": 6}, "H", xs)
    assert den > 0
    for n, x in zip(num, xs, strict=True):
        assert Fraction(n, den) == Fraction(evaluate(e, {"C": 6, "H": x})), (e, x)


def test_huge_denominators_stay_exact():
    # ⌈H/2²⁰⁰⌉ is 1 for every H from 1 to 2²⁰⁰ and 2 just past it; a float would lose both
    e = sympy.ceiling(H / 2**200)
    num, den = numerators(e, {}, "H", [1, 2**200, 2**200 + 1])
    assert (num, den) == ([1, 1, 2], 1)


def test_a_formula_without_the_symbol_gives_one_value_per_size():
    assert numerators(sympy.floor(C / 4), {"C": 10}, "H", range(3)) == ([2, 2, 2], 1)


def test_what_the_array_walk_cannot_take_goes_size_by_size():
    e = C / (H + 1)  # a negative power of the scanned symbol
    num, den = numerators(e, {"C": 6}, "H", [1, 2, 5])
    assert [Fraction(n, den) for n in num] == [Fraction(3), Fraction(2), Fraction(1)]


def test_holds_at_reads_the_condition_kind():
    equal = Condition("equal", sympy.Mod(H - 1, 2), "two merged sizes agree", "add_1", None)  # odd H
    size = Condition("size", sympy.floor((H - 3) / 2), "at least one output", "conv2d_1", None)  # H ≥ 3
    assert holds_at(equal, {}, "H", range(1, 6)) == [equal.holds(evaluate(equal.expr, {"H": x})) for x in range(1, 6)]
    assert holds_at(equal, {}, "H", range(1, 6)) == [True, False, True, False, True]
    assert holds_at(size, {}, "H", range(1, 6)) == [False, False, True, True, True]
    exact = Condition("exact", -sympy.Mod(H, 4), "the stride 4 divides exactly", "conv2d_1", None)
    assert holds_at(exact, {}, "H", range(1, 9)) == [x % 4 == 0 for x in range(1, 9)]
