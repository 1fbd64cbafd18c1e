"""Adding a layer type touches its layer module and registry line, one executor kernel, one case file,
one example spec, the README's row and the torch oracle's builder: this fails when the kernel, the
bundled spec, the README row or the oracle builder is missing (the case file: test_layer_cases.py's
meta-test), when a type leaves its signal rules to the base class's default, and when a type does
not state every rule of its own (`layer_problems`): its counting statement, its params/macs/flops (or
a ParameterFree declaration) with the one signature each, and traits whose values are ones `TRAITS`
allows and that agree with each other."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from netcalc.diagnostics import Diagnostics
from netcalc.initializers import parse_name
from netcalc.layers import ALIASES, LAYER_TYPES, REGISTRY
from netcalc.layers.base import TRAITS, Geometry, LayerType, ParameterFree
from netcalc.spec import load

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


def test_every_layer_type_is_used_by_a_bundled_spec():
    seen: set = set()
    for path in SPECS.glob("*.yaml"):
        seen |= {n.op for n in load(str(path), Diagnostics()).nodes}
    assert sorted(set(REGISTRY) - seen) == []


@pytest.mark.parametrize("ltype", LAYER_TYPES, ids=lambda t: t.op)
def test_every_layer_type_states_its_signal_rules(ltype):
    cls = type(ltype)
    for method in ("sig_forward", "sig_backward"):
        assert getattr(cls, method) is not getattr(LayerType, method), f"{ltype.op}: no {method} of its own"
        assert getattr(cls, method).__doc__, f"{ltype.op}: {method} has no docstring stating the rule"


def test_every_layer_type_has_an_executor_kernel():
    from netcalc.executor.kernels import KERNELS

    assert sorted(set(REGISTRY) - set(KERNELS)) == []


def readme_table_ops() -> list[str]:
    """The op names in the first cell of each row of the README's layer table (`| op | arguments (default)
    | output |`), aliases included ("`dense` (alias `linear`)")."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("\n| op | arguments (default) | output |\n", 1)[1].split("\n\n", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    return [name for row in rows for name in re.findall(r"`([a-z0-9_]+)`", row.split(" | ", 1)[0])]


def test_every_layer_type_has_a_row_in_the_readme_table():
    ops = readme_table_ops()
    assert sorted(set(REGISTRY) - set(ops)) == [], "registered ops without a row in the README's layer table"
    assert sorted(set(ops) - set(REGISTRY) - set(ALIASES)) == [], "rows naming no registered op or alias"


@pytest.mark.oracle
def test_every_layer_type_has_a_torch_oracle_builder():
    """tests/torch_oracle.py builds each registered op (from its first layer case): a type it has no
    builder for is reported as such (torch refusing a case's arguments is another matter)."""
    pytest.importorskip("torch")
    from test_layer_cases import FILES, graph_of
    from torch_oracle import run_oracle

    unbuilt = []
    for op in sorted(set(REGISTRY) & set(FILES)):  # an op without a case file fails test_layer_cases.py
        graph = graph_of(op, FILES[op]["cases"][0])
        row = run_oracle(graph).rows[graph.nodes[-1].name]  # the case's layer, after its `before` ones
        if (row.error or "").startswith("oracle: no torch builder"):
            unbuilt.append(op)
    assert unbuilt == [], "ops tests/torch_oracle.py cannot build"


# the formulas every type states, with their one signature (after self)
FORMULAS = {"params": ["g", "ctx"], "macs": ["g"], "flops": ["g"]}
PER_STEP = {"macs_per_step": ["g"], "flops_per_step": ["g"]}
CONVENTIONS = {"pytorch", "keras"}


def _allowed(value, allowed: tuple) -> bool:
    return any(isinstance(value, a) if isinstance(a, type) else value is a or value == a for a in allowed)


def layer_problems(ltype) -> list[str]:
    """Every rule a registered layer type must state for itself, as the problems found (none: all stated)."""
    cls = type(ltype)
    out = []
    statement = getattr(ltype, "counting", None)
    if not isinstance(statement, str) or not statement.strip():
        out.append("no counting statement (what its MACs and FLOPs count)")
    for name, signature in {**FORMULAS, **(PER_STEP if getattr(ltype, "recurrent", False) else {})}.items():
        method = getattr(cls, name, None)
        if method is None or method is getattr(LayerType, name, None):
            out.append(f"no {name} of its own (define it, or declare the type ParameterFree)")
        elif list(inspect.signature(method).parameters)[1:] != signature:
            out.append(
                f"{name} takes ({', '.join(inspect.signature(method).parameters)}), not (self, {', '.join(signature)})"
            )
        elif not method.__doc__:
            out.append(f"{name} has no docstring stating its convention")
    for trait, (allowed, _) in TRAITS.items():
        if not hasattr(LayerType, trait):
            out.append(f"TRAITS names {trait}, which LayerType does not declare")
        elif not _allowed(getattr(ltype, trait), allowed):
            out.append(f"trait {trait} = {getattr(ltype, trait)!r} is none of {allowed}")
    if out:
        return out
    free = isinstance(ltype, ParameterFree)
    if (ltype.linear or ltype.weighted or ltype.recurrent) and (free or not ltype.parametric):
        out.append("a linear, weighted or recurrent type has parameters: parametric, and not ParameterFree")
    if free and ltype.parametric:
        out.append("declared ParameterFree and parametric")
    if free and "MACs" in ltype.counting.replace("MACs 0", ""):
        out.append(f"declared ParameterFree (no MACs), but its counting statement counts MACs: {ltype.counting!r}")
    if (ltype.activation or ltype.squashes) and not (ltype.activation and free):
        out.append("an activation (or a type that squashes) is a ParameterFree activation")
    # the nonlinearity a weighted layer reads: an activation, or an elementwise one with parameters of its own
    # (prelu: a standalone layer, which `activation:` cannot name); never a weighted or linear layer
    elementwise_with_params = ltype.layout_free and ltype.parametric and not (ltype.weighted or ltype.linear)
    if ltype.suggested_init and not ((ltype.activation and free) or elementwise_with_params):
        out.append("a type that suggests an init is a ParameterFree activation or an elementwise layer with parameters")
    if ltype.activation and ltype.takes_activation:
        out.append("an activation does not take the `activation:` shorthand")
    if ltype.joins and ltype.arity is not None:
        out.append("a type that joins inputs is a merge (arity None)")
    if ltype.suggested_init is not None:
        pair = ltype.suggested_init
        if len(pair) != 2 or not all(isinstance(name, str) and parse_name(name.split(" ")[0]) for name in pair):
            out.append(f"suggested_init {pair!r} is not (Keras name, PyTorch name) of known initialisers")
    if not isinstance(ltype.counting_params, dict) or set(ltype.counting_params) - CONVENTIONS:
        out.append(f"counting_params {ltype.counting_params!r} is not keyed by convention ({sorted(CONVENTIONS)})")
    return out


@pytest.mark.parametrize("ltype", LAYER_TYPES, ids=lambda t: t.op)
def test_every_layer_type_states_every_rule(ltype):
    assert layer_problems(ltype) == []


def test_a_type_missing_a_rule_fails():
    """Each kind of omission is found (so that the test above can fail)."""

    class Complete(ParameterFree):
        op = "complete"
        counting = "FLOPs 0"

        def flops(self, g):
            """0."""
            return 0

    class NoCounting(ParameterFree):
        op = "no_counting"

        def flops(self, g):
            """0."""
            return 0

    class NoFlops(ParameterFree):
        op = "no_flops"
        counting = "FLOPs 0"

    class NoParams(LayerType):
        op = "no_params"
        counting = "MACs 1 per element, FLOPs 2 per MAC"

        def macs(self, g):
            """1 per element."""
            return 1

        def flops(self, g):
            """2 per MAC."""
            return 2

    class TwoSignatures(Complete):
        def flops(self, g, ctx=None):
            """0."""
            return 0

    class BadTrait(Complete):
        normalises = "instance"

    class RecurrentWithoutSteps(LayerType):
        op = "rec"
        counting = "MACs per step × T"
        parametric = weighted = recurrent = True

        def params(self, g, ctx):
            """None."""
            return []

        def macs(self, g):
            """0."""
            return 0

        def flops(self, g):
            """0."""
            return 0

    class WeightedButFree(Complete):
        linear = "dense"
        weighted = True

    class SuggestsButWeighted(LayerType):
        op = "suggests"
        counting = "MACs 1 per element"
        parametric = weighted = layout_free = True
        suggested_init = ("he_normal", "kaiming_normal")

        def params(self, g, ctx):
            """None."""
            return []

        def macs(self, g):
            """1."""
            return 1

        def flops(self, g):
            """2."""
            return 2

    assert layer_problems(Complete()) == []
    cases = {
        NoCounting: "no counting statement",
        NoFlops: "no flops of its own",
        NoParams: "no params of its own",
        TwoSignatures: "flops takes (self, g, ctx)",
        BadTrait: "trait normalises = 'instance'",
        RecurrentWithoutSteps: "no macs_per_step of its own",
        WeightedButFree: "a linear, weighted or recurrent type has parameters",
        SuggestsButWeighted: "a type that suggests an init is a ParameterFree activation or an elementwise layer",
    }
    for cls, problem in cases.items():
        found = layer_problems(cls())
        assert any(p.startswith(problem) for p in found), (cls.__name__, found)


def test_a_type_without_its_formulas_refuses_to_count():
    """The base class has no default formulas: a type without them raises rather than counting 0."""

    class Bare(LayerType):
        op = "bare"
        counting = "FLOPs 0"

    for call in (lambda t: t.params(Geometry(), None), lambda t: t.macs(Geometry()), lambda t: t.flops(Geometry())):
        with pytest.raises(NotImplementedError, match="bare"):
            call(Bare())


def test_every_trait_of_the_base_class_is_in_the_traits_table():
    """LayerType's traits and TRAITS list the same names, and the base's defaults are allowed values."""
    described = set(TRAITS)
    base = {
        name
        for name, value in vars(LayerType).items()
        if not name.startswith("_") and not callable(value) and not isinstance(value, property)
    } - {"op", "aliases", "summary", "args", "arity", "counting_params"}
    assert base == described
    for name, (allowed, _) in TRAITS.items():
        assert _allowed(getattr(LayerType, name), allowed), name


def test_the_losses_expect_what_some_layer_type_squashes_to():
    """config.LOSSES names the output each loss expects: logits, log-probabilities, any, or the
    probabilities of a layer type's `squashes` (W405 compares the two)."""
    from netcalc.config import LOSSES

    squashes = {t.squashes for t in LAYER_TYPES if t.squashes}
    expected = {expects for expects, _ in LOSSES.values()} - {"logits", "log_probabilities", "any"}
    assert expected <= squashes and expected
