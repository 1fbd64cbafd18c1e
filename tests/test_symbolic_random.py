"""Random chains of windowed layers over a symbolic size H: the formulas against the concrete engine
at every size, and `netcalc sizes` against brute force. Property-based (hypothesis): the chains are
drawn, every figure is compared exactly (integers, no tolerance)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from netcalc.analyze import analyze
from netcalc.diagnostics import Diagnostics
from netcalc.sizes import solve
from netcalc.spec import load
from netcalc.symbolic import evaluate

PADDING = st.one_of(st.integers(0, 2), st.sampled_from(["same", "valid"]))


def _conv():
    return st.fixed_dictionaries(
        {"op": st.just("conv1d"), "filters": st.integers(1, 3), "kernel": st.integers(1, 5),
         "stride": st.integers(1, 3), "padding": PADDING, "dilation": st.integers(1, 2)}
    )  # fmt: skip


def _pool():
    return st.builds(
        lambda op, k, s, p, ceil: {"op": op, "kernel": k, "stride": s,
                                   "padding": min(p, k // 2) if isinstance(p, int) else p, "ceil_mode": ceil},
        st.sampled_from(["maxpool1d", "avgpool1d"]), st.integers(1, 4), st.integers(1, 3), PADDING, st.booleans(),
    )  # fmt: skip


def _up():
    return st.one_of(
        st.fixed_dictionaries({"op": st.just("upsample1d"), "scale": st.integers(2, 3)}),
        st.fixed_dictionaries(
            {"op": st.just("conv1d_transpose"), "filters": st.just(2), "kernel": st.integers(1, 4),
             "stride": st.integers(1, 3), "padding": st.just(0)}
        ),
    )  # fmt: skip


LAYERS = st.lists(st.one_of(_conv(), _pool(), _up()), min_size=1, max_size=5)
CONVENTION = st.sampled_from(["pytorch", "keras"])


def _spec(tmp_path, layers: list[dict], convention: str = "pytorch") -> str:
    def flow(d: dict) -> str:
        return "{" + ", ".join(f"{k}: {str(v).lower() if isinstance(v, bool) else v}" for k, v in d.items()) + "}"

    layout = "tnf" if convention == "keras" else "chw"
    shape = "[H, 2]" if convention == "keras" else "[2, H]"
    text = (f"netcalc: 1\nname: random\nconvention: {convention}\ninput: {{shape: {shape}, layout: {layout}}}\n"
            "layers:\n" + "".join(f"  - {flow(d)}\n" for d in layers))  # fmt: skip
    path = tmp_path / "random.yaml"
    path.write_text(text)
    return str(path)


def _concrete(path: str, h: int):
    d = Diagnostics()
    g = load(path, d, values={"H": h})
    return (analyze(g, d) if g is not None else None), d


@pytest.mark.filterwarnings("ignore")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layers=LAYERS, convention=CONVENTION)
def test_random_chains(tmp_path, layers, convention):
    """Keras chains are channels-last sequences (time, features) with Keras 'same' padding."""
    path = _spec(tmp_path, layers, convention)
    for generic in (True, False):
        d = Diagnostics()
        g = load(path, d, symbolic=True, generic=generic)
        if g is None:
            event("refused by the parser")
            return  # an argument the layer refuses (PyTorch 'same' with a stride): not our subject
        a_sym = analyze(g, d)
        if a_sym.ok:
            break
    if not a_sym.ok:
        event("refused by the engine (E204 PyTorch same with a stride, ...)")
        return  # an error at a generic size and at the defaults: nothing symbolic to check
    res = solve(a_sym)[0]
    event(f"checked ({convention})")
    for h in range(1, 61):
        a, d = _concrete(path, h)
        valid = a is not None and not d.has_errors() and not any(w.code == "W201" for w in d.warnings)
        assert res.valid(h) == valid, (h, layers, [str(x) for x in d.items][:2])
        if a is None or d.has_errors():
            continue
        for rs, rc in zip(a_sym.rows, a.rows, strict=True):
            got = tuple(evaluate(x.e, {"H": h}) if hasattr(x, "e") else x for x in rs.out_shape)
            assert got == rc.out_shape, (h, rc.node.name, layers)
            macs = evaluate(rs.macs.e, {"H": h}) if hasattr(rs.macs, "e") else rs.macs
            assert macs == rc.macs, (h, rc.node.name)
