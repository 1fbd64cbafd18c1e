"""Random chains of windowed layers over a symbolic size H: the formulas against the concrete engine
at every size, and `netcalc sizes` against brute force. Property-based (hypothesis): the chains are
drawn, every figure is compared exactly (integers, no tolerance)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from netcalc.analyze import analyze
from netcalc.diagnostics import Diagnostics
from netcalc.formulas import evaluate
from netcalc.sizes import solve
from netcalc.spec import load


def _h(v: int) -> str:
    """A kernel, stride, dilation or scale for the height only: [v, 1] (the width is 1 and stays 1)."""
    return f"[{v}, 1]"


def _hp(p: int) -> str:
    """A padding of the height only: [p, 0]."""
    return f"[{p}, 0]"


PADDING = st.one_of(st.integers(0, 2).map(_hp), st.sampled_from(["same", "valid"]))


def _conv():
    return st.fixed_dictionaries(
        {"op": st.just("conv2d"), "filters": st.integers(1, 3), "kernel": st.integers(1, 5).map(_h),
         "stride": st.integers(1, 3).map(_h), "padding": PADDING, "dilation": st.integers(1, 2).map(_h)}
    )  # fmt: skip


def _pool():
    return st.builds(
        lambda op, k, s, p, ceil: {"op": op, "kernel": _h(k), "stride": _h(s),
                                   "padding": _hp(min(int(p[1]), k // 2)) if p.startswith("[") else p, "ceil_mode": ceil},
        st.sampled_from(["maxpool2d", "avgpool2d"]), st.integers(1, 4), st.integers(1, 3), PADDING, st.booleans(),
    )  # fmt: skip


def _up():
    return st.one_of(
        st.fixed_dictionaries({"op": st.just("upsample2d"), "scale": st.integers(2, 3).map(_h)}),
        st.fixed_dictionaries(
            {"op": st.just("conv2d_transpose"), "filters": st.just(2), "kernel": st.integers(1, 4).map(_h),
             "stride": st.integers(1, 3).map(_h), "padding": st.integers(0, 1).map(_hp)}
        ),
    )  # fmt: skip


LAYERS = st.lists(st.one_of(_conv(), _pool(), _up()), min_size=1, max_size=5)
CONVENTION = st.sampled_from(["pytorch", "keras"])


def _spec(tmp_path, layers: list[dict], convention: str = "pytorch") -> str:
    def flow(d: dict) -> str:
        return "{" + ", ".join(f"{k}: {str(v).lower() if isinstance(v, bool) else v}" for k, v in d.items()) + "}"

    layout = "hwc" if convention == "keras" else "chw"
    shape = "[H, 1, 2]" if convention == "keras" else "[2, H, 1]"
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
        assert res.valid(h) == valid, f"H = {h}\n{Path(path).read_text()}{[str(x) for x in d.items][:2]}"
        if a is None or d.has_errors():
            continue
        for rs, rc in zip(a_sym.rows, a.rows, strict=True):
            got = tuple(evaluate(x.e, {"H": h}) if hasattr(x, "e") else x for x in rs.out_shape)
            assert got == rc.out_shape, (h, rc.node.name, layers)
            macs = evaluate(rs.macs.e, {"H": h}) if hasattr(rs.macs, "e") else rs.macs
            assert macs == rc.macs, (h, rc.node.name)


def _down(stride: int):
    """A layer that divides the size by `stride` (roughly): a k = s pooling, or a convolution with
    an odd kernel and 'half' padding, so that a matching upsampling can bring the size back."""
    pool = st.just({"op": "maxpool2d", "kernel": _h(stride), "stride": _h(stride)})
    conv = st.integers(0, 2).map(
        lambda p: {"op": "conv2d", "filters": 2, "kernel": _h(2 * p + 1), "stride": _h(stride), "padding": _hp(p)}
    )
    return st.one_of(pool, conv)


def _skip_chain(strides: list[int]):
    up = 1
    for s_ in strides:
        up *= s_
    ups = st.sampled_from(
        [[{"op": "upsample2d", "scale": _h(up)}]] if up > 1 else [[{"op": "conv2d", "filters": 2, "kernel": 1}]]
    )
    transposed = [
        {"op": "conv2d_transpose", "filters": 2, "kernel": _h(s_), "stride": _h(s_)} for s_ in reversed(strides)
    ]
    return st.tuples(st.tuples(*[_down(s_) for s_ in strides]).map(list), st.one_of(ups, st.just(transposed)))


SKIP = st.lists(st.integers(1, 3), min_size=1, max_size=3).flatmap(_skip_chain)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chain=SKIP)
def test_random_skip_connections(tmp_path, chain):
    """Down, up, then concat with the input (the U-Net pattern): the sizes where the two meet, exactly."""
    down, up = chain
    layers = [*down, *up, {"op": "concat", "in": "[conv_last, input]"}]
    layers[-2] = {**layers[-2], "id": "conv_last"}
    path = _spec(tmp_path, layers)
    for generic in (True, False):
        d = Diagnostics()
        g = load(path, d, symbolic=True, generic=generic)
        if g is None:
            return
        a_sym = analyze(g, d)
        if a_sym.ok:
            break
    if not a_sym.ok:
        event("no size meets")
        return
    event("checked")
    res = solve(a_sym)[0]
    for h in range(1, 61):
        a, d = _concrete(path, h)
        valid = a is not None and not d.has_errors() and not any(w.code == "W201" for w in d.warnings)
        assert res.valid(h) == valid, (h, layers, [str(x) for x in d.items][:2])
