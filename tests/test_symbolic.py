"""Symbolic sizes (shape: [3, H, W]): the formulas against the concrete engine at many values, the
valid sizes of `netcalc sizes` against brute force, --set and the errors, JSON, --sweep, and sympy
staying out of the concrete path.

The independent path is the concrete engine itself: the same spec loaded with the symbols set to
numbers (`--set`) is analysed with plain integers, never touching sympy, and every figure the formulas
give must equal what it computes, exactly (integers: no tolerance).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cli_run import ROOT, netcalc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netcalc.analyze import analyze
from netcalc.diagnostics import Diagnostics
from netcalc.spec import load

SPECS = Path(__file__).resolve().parent / "symbolic_specs"
BUNDLED = ROOT / "specs"
CASES = {p.stem: p for p in sorted(SPECS.glob("*.yaml"))}
CASES |= {"unet-small": BUNDLED / "unet-small.yaml", "lstm-classifier-t": BUNDLED / "lstm-classifier-t.yaml"}

_SYMBOLIC: dict = {}


def symbolic(name: str, generic: bool = False):
    key = (name, generic)
    if key not in _SYMBOLIC:
        d = Diagnostics()
        g = load(str(CASES[name]), d, symbolic=True, generic=generic)
        a = analyze(g, d)
        assert a.ok, [str(x) for x in d.items]
        _SYMBOLIC[key] = a
    return _SYMBOLIC[key]


def concrete(name: str, values: dict):
    d = Diagnostics()
    g = load(str(CASES[name]), d, values=values)
    assert g is not None, [str(x) for x in d.items]
    a = analyze(g, d)
    assert g.symbols.free == {}  # every symbol is a number: the concrete path
    return a, d


def at(x, env: dict):
    from netcalc.symbolic import evaluate

    return evaluate(x.e, env) if hasattr(x, "e") else x


def valid_concretely(d: Diagnostics) -> bool:
    """What brute force calls valid: no error, and no W201 (an input row or column left unread)."""
    return not d.has_errors() and not any(w.code == "W201" for w in d.warnings)


# --- the formulas equal the concrete engine's figures, at many values --------------------------


def _compare(name: str, env: dict) -> None:
    a_sym = symbolic(name)
    a, d = concrete(name, env)
    if d.has_errors():  # an invalid size (a concat that does not line up): no figures to compare
        return
    assert len(a.rows) == len(a_sym.rows)
    for rs, rc in zip(a_sym.rows, a.rows, strict=True):
        assert rc.ok, rc.node.name
        assert tuple(at(x, env) for x in rs.out_shape) == rc.out_shape, rc.node.name
        assert at(rs.params, env) == rc.params, rc.node.name
        assert at(rs.macs, env) == rc.macs, rc.node.name
        assert at(rs.flops, env) == rc.flops, rc.node.name
        assert [tuple(at(x, env) for x in t.shape) for t in rs.tensors] == [t.shape for t in rc.tensors]
    for fig in ("params", "macs", "flops", "activation_bytes", "input_bytes", "total_bytes"):
        assert at(getattr(a_sym.totals, fig), env) == getattr(a.totals, fig), fig


SIZES = st.integers(min_value=1, max_value=700)


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_formulas_equal_the_concrete_engine(name, data):
    a_sym = symbolic(name)
    scope = a_sym.graph.symbols
    env = {}
    for n in scope.free:
        decl = scope.used[n]
        low = max(decl.min or 1, 1)
        high = min(decl.max or 700, 700)
        env[n] = data.draw(st.integers(min_value=low, max_value=high), label=n)
    _compare(name, env)


def test_formulas_hold_at_the_smallest_sizes():
    """Small sizes, where floors bite hardest, for every case (including sizes too small to be valid)."""
    for name in CASES:
        scope = symbolic(name).graph.symbols
        for v in range(1, 40):
            env = {n: max(v, scope.used[n].min or 1) for n in scope.free}
            _compare(name, env)


# --- netcalc sizes against brute force ----------------------------------------------------------


def _solve(name: str):
    from netcalc.sizes import solve

    return {r.name: r for r in solve(symbolic(name, generic=True))}


@pytest.mark.parametrize("name", sorted(CASES))
def test_valid_sizes_match_brute_force(name):
    """For each symbol (the others at their defaults, or a valid value), every value 1..N is valid
    by the solved conditions exactly when the concrete engine reports no error and no W201."""
    results = _solve(name)
    scope = symbolic(name, generic=True).graph.symbols
    limit = 100 if name == "unet-small" else 260
    for sym, res in results.items():
        base = {}
        for other, r in results.items():
            if other != sym:
                d = scope.used[other].default
                base[other] = d if d is not None and r.valid(d) else r.smallest[-1]
        for x in range(1, limit + 1):
            decl = scope.used[sym]
            if decl.violation(x):
                continue
            _, d = concrete(name, {**base, sym: x})
            assert res.valid(x) == valid_concretely(d), (sym, x, [str(i) for i in d.items])


@pytest.mark.parametrize(
    "name, symbol, modulus, residues, smallest",
    [
        ("vgg5", "H", 32, {0}, 32),  # five 2×2 poolings
        ("valid16", "H", 16, {4}, 20),  # two valid 3×3 convolutions, then four poolings: H − 4 ≡ 0 (mod 16)
        ("unet-small", "W", 16, {0}, 16),  # four poolings, four ×2 transposed convolutions, concat skips
        ("keras-same", "H", 6, {0}, 6),  # ceil(ceil(H/2)/3)·6 must equal H at the concat
        ("sequence", "T", 4, {3}, 11),  # (T − 9)/2 + 1 exact and even: T ≡ 3 (mod 4); ≥ 1 after the pool
        ("lstm-classifier-t", "T", 1, {0}, 1),  # no division: every T
    ],
)
def test_conditions_by_hand(name, symbol, modulus, residues, smallest):
    res = _solve(name)[symbol]
    assert (res.modulus, set(res.residues), res.smallest[0]) == (modulus, residues, smallest)


def test_sizes_names_the_layers_in_order():
    out = netcalc("sizes", "unet-small")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "H: H ≡ 0 (mod 16), H ≥ 16" in lines
    want = ["H ≡ 0 (mod 2)   maxpool2d_1", "H ≡ 0 (mod 4)   maxpool2d_2", "H ≡ 0 (mod 8)   maxpool2d_3",
            "H ≡ 0 (mod 16)  maxpool2d_4"]  # fmt: skip
    found = [line.strip() for line in lines if line.strip().startswith("H ≡")]
    assert [f[: len(w)] for f, w in zip(found, want, strict=True)] == want
    assert "  default H = 256: valid" in lines


def test_sizes_reports_an_invalid_default(tmp_path):
    text = (BUNDLED / "unet-small.yaml").read_text().replace("H: {default: 256", "H: {default: 250")
    spec = tmp_path / "unet250.yaml"
    spec.write_text(text)
    out = netcalc("sizes", str(spec))
    assert out.returncode == 0, out.stderr
    assert "default H = 250: NOT valid (nearest valid: 240, 256)" in out.stdout
    summary = netcalc("summary", str(spec))  # the summary at the defaults: the concat does not line up
    assert summary.returncode == 2
    assert "E206" in summary.stderr and "with H = 250, W = 256" in summary.stderr


def test_declared_constraints_checked_against_the_conditions(tmp_path):
    spec = tmp_path / "v.yaml"
    base = (SPECS / "vgg5.yaml").read_text()
    spec.write_text(base.replace("symbols: {H: 224, W: 160}", "symbols: {H: {default: 224, divisible: 32}, W: 160}"))
    assert "the declared constraints allow only valid values" in netcalc("sizes", str(spec)).stdout
    spec.write_text(base.replace("symbols: {H: 224, W: 160}", "symbols: {H: {default: 224, divisible: 16}, W: 160}"))
    assert "allow values that are not valid" in netcalc("sizes", str(spec)).stdout


# --- the summary, JSON, --set ----------------------------------------------------------------


def test_summary_shows_formulas_and_values_at_the_defaults():
    out = netcalc("summary", "lstm-classifier-t")
    assert out.returncode == 0, out.stderr
    # LSTM MACs per step 4u(i + u): 4·256·(128 + 256) = 393,216 and 4·256·512 = 524,288; dense 256·5
    assert "917504·T + 1280 = 183,502,080" in out.stdout  # T = 200
    assert "symbols T = 200 (default) [max 4096]" in out.stdout
    assert "2,202,885" in out.stdout  # parameters do not depend on T


def test_summary_json_has_formula_and_value():
    out = netcalc("summary", "unet-small", "--format", "json")
    doc = json.loads(out.stdout)
    t = doc["totals"]
    assert t["macs"].startswith("10080*H*W + ") and t["macs_value"] == at(symbolic("unet-small").totals.macs,
                                                                            {"H": 256, "W": 256})  # fmt: skip
    a, _ = concrete("unet-small", {"H": 256, "W": 256})
    assert t["macs_value"] == a.totals.macs and t["params"] == a.totals.params
    assert doc["spec"]["inputs"][0]["shape"] == [3, "H", "W"]
    assert doc["spec"]["inputs"][0]["shape_value"] == [3, 256, 256]
    assert doc["symbols"]["H"]["default"] == 256


def test_no_default_gives_formulas_only(tmp_path):
    out = netcalc("summary", str(SPECS / "valid16.yaml"))
    assert out.returncode == 0, out.stderr
    assert "MACs per sample              144·(H − 4)·(W − 4) + 36·(H − 2)·(W − 2)\n" in out.stdout
    doc = json.loads(netcalc("summary", str(SPECS / "valid16.yaml"), "-f", "json").stdout)
    assert doc["totals"]["macs_value"] is None


def test_set_gives_the_concrete_summary():
    sym = netcalc("summary", "unet-small", "--set", "H=64,W=96", "-f", "json")
    doc = json.loads(sym.stdout)
    a, _ = concrete("unet-small", {"H": 64, "W": 96})
    assert doc["totals"]["macs"] == a.totals.macs  # a number: nothing left symbolic
    assert doc["spec"]["inputs"][0]["shape"] == [3, 64, 96]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--set", "X=3"], "--set X=3: the spec has no symbol 'X' (its symbols: H, W)"),
        (["--set", "h=3"], "the spec has no symbol 'h' (did you mean 'H'?)"),
        (["--set", "H=0"], "--set H: the value must be a positive integer, got '0'"),
        (["--set", "H"], "--set takes NAME=VALUE (such as H=224), got 'H'"),
    ],
)
def test_set_errors(args, message):
    out = netcalc("summary", "unet-small", *args)
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_constraint_violated_by_set(tmp_path):
    out = netcalc("summary", "lstm-classifier-t", "--set", "T=5000")
    assert out.returncode == 2 and "--set T=5000: T must be at most 4096, got 5000" in out.stderr


def test_concrete_commands_use_the_defaults_or_say_what_is_missing():
    out = netcalc("signal", "lstm-classifier-t", "-f", "json")
    assert out.returncode == 0, out.stderr
    missing = netcalc("signal", str(SPECS / "valid16.yaml"))
    assert missing.returncode == 2
    assert "error E107: input: 'shape'[1] is the symbol H, which has no value here" in missing.stderr


# --- --sweep -----------------------------------------------------------------------------------


def test_sweep_values_equal_concrete_runs():
    from netcalc.sizes import parse_sweep, sweep

    names, points = parse_sweep("T=16..1024")
    assert points == [16, 32, 64, 128, 256, 512, 1024]
    sw = sweep(symbolic("lstm-classifier-t"), names, points)
    for p, vals in sw.rows:
        a, _ = concrete("lstm-classifier-t", {"T": p})
        assert vals["macs_batch"] == a.totals.macs and vals["total_bytes"] == a.totals.total_bytes
    term, degree = sw.leading["macs_batch"]
    assert degree == 1 and str(term) == "917504*T"  # 4·256·384 + 4·256·512 per step


def test_sweep_square_images_is_quadratic():
    out = netcalc("sizes", "unet-small", "--sweep", "H,W=64..256")
    assert out.returncode == 0, out.stderr
    assert "quadratic in H" in out.stdout
    a, _ = concrete("unet-small", {"H": 128, "W": 128})
    assert f"{a.totals.macs:,}" in out.stdout


@pytest.mark.parametrize(
    "text, want",
    [
        ("T=16..100:32", (["T"], [16, 48, 80])),
        ("T=5,7,9", (["T"], [5, 7, 9])),
        ("H,W=32..100", (["H", "W"], [32, 64, 100])),
        ("T=0..10", "--sweep T: the range must be 1 ≤ LOW ≤ HIGH, got 0..10"),
        ("T16", "--sweep takes NAME=LOW..HIGH[:STEP] or NAME=V1,V2,... (such as T=16..1024), got 'T16'"),
    ],
)
def test_parse_sweep(text, want):
    from netcalc.sizes import parse_sweep

    assert parse_sweep(text) == want


# --- errors in `symbols:` and start-up ------------------------------------------------------------


def test_sympy_is_imported_only_for_a_symbolic_spec():
    """python -X importtime lists every module a run imports (the CLI leaves with os._exit)."""

    def imported(*args):
        out = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "netcalc", *args], capture_output=True, text=True, cwd=ROOT
        )
        return {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if "|" in line}

    assert "sympy" not in imported("summary", "resnet50")
    assert "sympy" not in imported("summary", "unet-small", "--set", "H=64,W=64")
    assert "sympy" in imported("summary", "unet-small")


def test_symbolic_block_parameter_by_hand():
    """widths.yaml: stage(C) twice, then dense(C). Stage 1: conv 3→C (27C + C), conv C→2C (18C² + 2C);
    stage 2 on 2C channels: conv 2C→C (18C² + C), conv C→2C (18C² + 2C); dense 2C→C (2C² + C).
    In all 56C² + 34C."""
    import sympy

    a = symbolic("widths")
    c = sympy.Symbol("C", integer=True, positive=True)
    assert sympy.expand(a.totals.params.e - (56 * c**2 + 34 * c)) == 0


def test_symbolic_batch():
    """--batch N: memory linear in N. Per sample: input T int64 ids (8·T bytes); activations T×128
    (embedding) + T×256 (lstm_1) + 256 + 5 + 5 floats = 4·(384·T + 266) bytes."""
    out = netcalc("summary", "lstm-classifier-t", "--batch", "N")
    assert out.returncode == 0, out.stderr
    assert "Input memory (batch N)       8·N·T bytes" in out.stdout
    assert "Activation memory (batch N)  4·N·(384·T + 266) bytes" in out.stdout
    assert "MACs for batch N             N·(917504·T + 1280)" in out.stdout
    with_default = netcalc("summary", "lstm-classifier-t", "--batch", "N", "--set", "N=8", "-f", "json")
    a, _ = concrete("lstm-classifier-t", {"T": 200})
    assert json.loads(with_default.stdout)["totals"]["activation_bytes_value"] == 8 * a.totals.activation_bytes
    bad = netcalc("summary", "alexnet-lite", "--batch", "0")
    assert (
        bad.returncode == 2 and "--batch takes a positive number or a symbol's name (such as N), got '0'" in bad.stderr
    )


def test_lint_takes_set_and_needs_values():
    spec = str(SPECS / "valid16.yaml")  # H and W have no default
    missing = netcalc("lint", spec)
    assert missing.returncode == 1 and missing.stdout.count("error E107") == 2, missing.stdout
    # H = 36: 36 − 4 = 32 halves exactly four times; H = 30: 26 → 13 leaves a row (W201 at maxpool2d_2)
    assert "W201" not in netcalc("lint", spec, "--set", "H=36,W=52").stdout
    assert (
        "W201: maxpool2d_2: output height (13 + 2·0 − 2)/2 + 1 = 6.5"
        in netcalc("lint", spec, "--set", "H=30,W=52").stdout
    )
    # over several specs a --set applies where the symbol exists; a broken constraint is an error there
    both = netcalc("lint", "lstm-classifier-t", "alexnet-lite", "--set", "T=5000")
    assert both.returncode == 1 and "error E107: --set T=5000: T must be at most 4096, got 5000" in both.stdout


# --- every bundled spec, made symbolic in its input sizes -------------------------------------

INPUT = re.compile(r"input: \{shape: \[([^\]]*)\]")


def _symbolised(path: Path, tmp: Path):
    """The spec with the input's spatial (or time) sizes replaced by symbols whose defaults are the
    sizes it had: [3, 224, 224] → symbols {H: 224, W: 224}, [3, H, W]."""
    text = path.read_text(encoding="utf-8")
    m = INPUT.search(text)
    dims = [d.strip() for d in m.group(1).split(",")]
    last = re.search(r"layout: (hwc|ntf|tnf)", text[m.start() : m.start() + 200]) is not None
    axes = {3: [0, 1] if last else [1, 2], 2: [0], 1: [0]}[len(dims)]
    values = {}
    for i, name in zip(axes, ("H", "W"), strict=False):
        values[name] = int(dims[i])
        dims[i] = name
    head = "symbols: {" + ", ".join(f"{k}: {v}" for k, v in values.items()) + "}\n"
    out = tmp / path.name
    out.write_text(text[: m.start()] + head + "input: {shape: [" + ", ".join(dims) + "]" + text[m.end() :])
    return out, values


@pytest.mark.parametrize(
    "name",
    [p.stem for p in sorted(BUNDLED.glob("*.yaml")) if "symbols:" not in p.read_text()],
)
def test_bundled_specs_made_symbolic(name, tmp_path):
    """The formulas at the old sizes give the bundled figures; at other sizes, what --set gives."""
    path, values = _symbolised(BUNDLED / f"{name}.yaml", tmp_path)
    d = Diagnostics()
    a_sym = analyze(load(str(path), d, symbolic=True), d)
    assert a_sym.ok, [str(x) for x in d.errors]
    for env in (values, {k: v + 3 for k, v in values.items()}, {k: 2 * v for k, v in values.items()}):
        d2 = Diagnostics()
        a = analyze(load(str(path), d2, values=env), d2)
        if d2.has_errors():  # a size the network does not take (a reshape to 28×28, a dense of fixed width)
            assert env != values
            continue
        for fig in ("params", "macs", "flops", "activation_bytes", "total_bytes"):
            assert at(getattr(a_sym.totals, fig), env) == getattr(a.totals, fig), (fig, env)
        for rs, rc in zip(a_sym.rows, a.rows, strict=True):
            assert tuple(at(x, env) for x in rs.out_shape) == rc.out_shape, rc.node.name


DEEP = {"resnet101", "resnet152", "resnet1202-cifar", "resnet110-cifar", "resnet56-cifar", "resnet44-cifar"}


@pytest.mark.parametrize(
    "name",
    [p.stem for p in sorted(BUNDLED.glob("*.yaml")) if p.stem not in DEEP and "symbols:" not in p.read_text()],
)
def test_valid_sizes_of_bundled_specs_match_brute_force(name, tmp_path):
    """`netcalc sizes` on bundled specs made symbolic, against the concrete engine at every size 1..64
    (and the old size) of each symbol, the other at its old size."""
    from netcalc.sizes import solve

    path, values = _symbolised(BUNDLED / f"{name}.yaml", tmp_path)
    for generic in (True, False):  # as `netcalc sizes` does: a generic size first, else the defaults
        d = Diagnostics()
        a_sym = analyze(load(str(path), d, symbolic=True, generic=generic), d)
        if a_sym.ok:
            break
    assert a_sym.ok, [str(x) for x in d.errors]
    results = {r.name: r for r in solve(a_sym)}
    assert set(results) == set(values)
    for sym, res in results.items():
        for x in [*range(1, 65), values[sym]]:
            d2 = Diagnostics()
            analyze(load(str(path), d2, values={**values, sym: x}), d2)
            assert res.valid(x) == valid_concretely(d2), (sym, x, [str(i) for i in d2.items][:3])
