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
CASES |= {
    "unet-small": BUNDLED / "unet-small.yaml",
    "lstm-classifier-t": BUNDLED / "lstm-classifier-t.yaml",
    "alexnet-torchvision": BUNDLED / "alexnet-torchvision.yaml",
    "spp-net": BUNDLED / "spp-net.yaml",
}

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
    from netcalc.formulas import evaluate

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
    from netcalc.sizes_sweep import parse_sweep, sweep

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
    from netcalc.sizes_sweep import parse_sweep

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

INPUT = re.compile(r"^input:.*?shape: \[([^\]]*)\]", re.M | re.S)  # the first input's shape, flow or list form


def _symbolised(path: Path, tmp: Path):
    """The spec with the input's spatial (or time) sizes replaced by symbols whose defaults are the
    sizes it had: [3, 224, 224] → symbols {H: 224, W: 224}, [3, H, W]; a volume [3, 8, 32, 32] →
    {D: 8, H: 32, W: 32}, [3, D, H, W]."""
    text = path.read_text(encoding="utf-8")
    m = INPUT.search(text)
    dims = [d.strip() for d in m.group(1).split(",")]
    last = re.search(r"layout: (hwc|ntf|tnf)", text[m.start() : m.start() + 200]) is not None
    axes = {4: [0, 1, 2] if last else [1, 2, 3], 3: [0, 1] if last else [1, 2], 2: [0], 1: [0]}[len(dims)]
    values = {}
    for i, name in zip(axes, ("D", "H", "W") if len(axes) == 3 else ("H", "W"), strict=False):
        values[name] = int(dims[i])
        dims[i] = name
    head = "symbols: {" + ", ".join(f"{k}: {v}" for k, v in values.items()) + "}\n"
    out = tmp / path.name
    out.write_text(text[: m.start()] + head + text[m.start() : m.start(1)] + ", ".join(dims) + text[m.end(1) :])
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
# Keras's ResNet50 leaves rows unread (W201) at every size: its 1×1 stride-2 convolutions on 56, 28
# and 14 are never exact, so with H and W symbols no size is valid ("H: no value is valid", because
# of a condition on W); SymbolSizes.valid(H) still says True where only H's own residues hold (H = 1)
NEVER_EXACT = {"keras-resnet50"}


@pytest.mark.parametrize(
    "name",
    [
        p.stem
        for p in sorted(BUNDLED.glob("*.yaml"))
        if p.stem not in DEEP | NEVER_EXACT and "symbols:" not in p.read_text()
    ],
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


# --- widths from symbols in block expressions, symbolic channels with groups, window arguments ---


def _analyse_text(tmp_path, text: str, name: str = "s", **load_args):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    d = Diagnostics()
    g = load(str(path), d, **load_args)
    return (analyze(g, d) if g is not None else None), d


BLOCK = """netcalc: 1
symbols: {C: 16}
input: {shape: [3, 8, 8]}
blocks:
  b:
    params: {width: int}
    layers:
      - {op: conv2d, filters: "EXPR", kernel: 3}
layers:
  - {use: b, width: C}
"""


@pytest.mark.parametrize(
    "expr, at16, invalid",
    [
        # conv 3→f, 3×3 on 8×8 (6×6 out): params 27f + f = 28f, MACs 36·27·f = 972f
        ("${min(width, 8)}", 8, ()),
        ("${max(width, 8, 20)}", 20, ()),
        ("${width // 3 + width % 5}", 5 + 1, ()),
        ("${width ** 2 - width}", 240, (1,)),  # 0 filters at C = 1
        ("${int(width) * 2 + 1}", 33, ()),
        ("${-width + 40}", 24, ()),
    ],
)
def test_block_expression_formulas_equal_concrete_runs(tmp_path, expr, at16, invalid):
    """The formula of a `$` expression over a symbolic width, against the concrete engine at many
    values of C (min at C = 4 gives 4 filters: 112 parameters, not the 224 of C = 16)."""
    from netcalc.formulas import evaluate

    text = BLOCK.replace("EXPR", expr)
    a_sym, d = _analyse_text(tmp_path, text, symbolic=True)
    assert a_sym.ok, [str(x) for x in d.items]
    assert hasattr(a_sym.totals.params, "e")  # a formula in C, not a number frozen at the default
    assert a_sym.totals.params.v == 28 * at16
    for c in (1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 21, 30, 39):
        a, d = _analyse_text(tmp_path, text, "c", values={"C": c})
        if d.has_errors():  # fewer than 1 filter: no concrete figures
            assert c in invalid, (expr, c, [str(x) for x in d.items])
            continue
        env = {"C": c}
        assert evaluate(a_sym.totals.params.e, env) == a.totals.params, (expr, c)
        assert evaluate(a_sym.totals.macs.e, env) == a.totals.macs, (expr, c)
    if expr == "${min(width, 8)}":
        assert evaluate(a_sym.totals.params.e, {"C": 4}) == 112


@pytest.mark.parametrize(
    "expr, message",
    [
        ("${width / 2}", "'/' cannot take a size from the symbol C"),
        ("${round(width // 3)}", "round() cannot take a size from the symbol C"),
        ("${abs(width - 20)}", "abs() cannot take a size from the symbol C"),
        ("${width if width > 8 else 2}", "a comparison ('>') cannot take a size from the symbol C"),
        ("${8 if not width else 2}", "'not' cannot take a size from the symbol C"),
        ("${width and 8}", "'and' cannot take a size from the symbol C"),
        ("${2 ** width}", "'**' cannot take a size from the symbol C: an exponent must be a number"),
        (
            "${width ** -1}",
            "'**' cannot take a size from the symbol C: the exponent must be a whole number ≥ 0, got -1",
        ),
        (
            "${width * 0.5}",
            "'*' cannot take a size from the symbol C: a symbol combines with whole numbers only, got 0.5",
        ),
    ],
)
def test_block_expressions_that_would_freeze_are_refused(tmp_path, expr, message):
    """Refused alike in the symbolic summary and in a concrete run (--set), quoting the expression;
    the internal representation (Dual(...)) never shows."""
    text = BLOCK.replace("EXPR", expr)
    for load_args in ({"symbolic": True}, {"values": {"C": 16}}, {}):
        _, d = _analyse_text(tmp_path, text, **load_args)
        errors = [x for x in d.errors if x.code == "E120"]
        assert len(errors) == 1, [str(x) for x in d.items]
        assert f"'{expr}': {message}" in errors[0].message
        assert "Dual" not in errors[0].message


def test_messages_show_formulas_not_the_internal_repr(tmp_path):
    text = "netcalc: 1\nsymbols: {W: 256}\ninput: {shape: [3, 999999999, W]}\nlayers:\n  - {op: relu}\n"
    path = tmp_path / "big.yaml"
    path.write_text(text)
    out = netcalc("summary", str(path))
    assert "Dual(" not in out.stdout + out.stderr
    from netcalc.formulas import Dual, symbol

    assert repr(Dual(symbol("W") + 1, 257)) == "W + 1" and repr([3, Dual(symbol("W"), 256)]) == "[3, W]"


GROUPS = """netcalc: 1
symbols: {C: 16}
input: {shape: [C, 32, 32]}
layers:
  - {op: conv2d, kernel: 3, groups: depthwise}
"""


def test_depthwise_with_symbolic_channels_by_hand(tmp_path):
    """Depthwise 3×3 on C×32×32 (valid): weight C×1×3×3 + bias C = 10C parameters; MACs
    30·30·C·1·9 = 8100C; against the concrete engine at several C."""
    import sympy

    from netcalc.formulas import evaluate

    a_sym, d = _analyse_text(tmp_path, GROUPS, symbolic=True)
    assert a_sym.ok, [str(x) for x in d.items]
    c = sympy.Symbol("C", integer=True, positive=True)
    assert sympy.expand(a_sym.totals.params.e - 10 * c) == 0
    assert sympy.expand(a_sym.totals.macs.e - 8100 * c) == 0
    for n in (1, 3, 7, 64):
        a, _ = _analyse_text(tmp_path, GROUPS, "c", values={"C": n})
        assert (evaluate(a_sym.totals.params.e, {"C": n}), evaluate(a_sym.totals.macs.e, {"C": n})) == (
            a.totals.params,
            a.totals.macs,
        )


def test_depthwise_with_filters_needs_channels_dividing_them(tmp_path):
    """filters 16 with groups depthwise on C channels: C must divide 16 (the concrete engine gives
    E203 otherwise); `netcalc sizes` lists C ∈ {1, 2, 4, 8, 16}."""
    from netcalc.sizes import solve

    text = GROUPS.replace("kernel: 3,", "filters: 16, kernel: 3,")
    a_sym, d = _analyse_text(tmp_path, text, symbolic=True)
    assert a_sym.ok, [str(x) for x in d.items]
    (res,) = solve(a_sym)
    valid = [n for n in range(1, 40) if res.valid(n)]
    assert valid == [1, 2, 4, 8, 16]
    for n in range(1, 40):
        _, d = _analyse_text(tmp_path, text, "c", values={"C": n})
        assert (not d.has_errors()) == (n in valid), n


def test_groups_on_symbolic_filters_need_a_multiple(tmp_path):
    """filters: C, then groups 4: `netcalc sizes` says C ≡ 0 (mod 4), as --set finds (E203 at C = 10)."""
    text = """netcalc: 1
symbols: {C: 16}
input: {shape: [4, 32, 32]}
layers:
  - {op: conv2d, filters: C, kernel: 3, padding: 1}
  - {op: conv2d, filters: 8, kernel: 3, groups: 4, padding: 1}
"""
    path = tmp_path / "g.yaml"
    path.write_text(text)
    out = netcalc("sizes", str(path))
    assert out.returncode == 0, out.stderr
    assert "C: C ≡ 0 (mod 4)" in out.stdout
    assert "conv2d_2: the C input channels divisible by the groups 4 (line 6)" in out.stdout
    for n in range(1, 25):
        _, d = _analyse_text(tmp_path, text, "c", values={"C": n})
        assert (not d.has_errors()) == (n % 4 == 0), n
    bad = netcalc("summary", str(path), "--set", "C=10")
    assert bad.returncode == 2 and "groups 4 does not divide the 10 input channels" in bad.stderr


@pytest.mark.parametrize(
    "layer, key",
    [
        ("{op: conv2d, filters: 8, kernel: K}", "'kernel'"),
        ("{op: conv2d, filters: 8, kernel: [3, K]}", "'kernel'[1]"),
        ("{op: conv2d, filters: 8, kernel: 3, stride: K}", "'stride'"),
        ("{op: conv2d, filters: 8, kernel: 3, padding: K}", "'padding'"),
        ("{op: conv2d, filters: 8, kernel: 3, padding: [K, 1]}", "'padding'[0]"),
        ("{op: maxpool2d, kernel: K}", "'kernel'"),
        ("{op: conv2d_transpose, filters: 8, kernel: 3, stride: K}", "'stride'"),
    ],
)
def test_window_symbols_refused_in_every_command(tmp_path, layer, key):
    """The same E103 from the symbolic summary, a concrete --set, `netcalc sizes` and lint: never a crash."""
    path = tmp_path / "w.yaml"
    path.write_text(f"netcalc: 1\nsymbols: {{K: 3, H: 32}}\ninput: {{shape: [4, H, H]}}\nlayers:\n  - {layer}\n")
    want = f"error E103: {layer[5:].split(',')[0]} layer: {key} must be"
    for args in (("summary",), ("summary", "--set", "K=3"), ("sizes",)):
        out = netcalc(*args, str(path))
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        assert want in out.stderr and "got the symbol 'K': window sizes" in out.stderr, (args, out.stderr)
        assert "internal error" not in out.stderr
    lint = netcalc("lint", str(path))
    assert want in lint.stdout


def test_symbolic_summary_warns_at_the_defaults_as_the_concrete_run(tmp_path):
    """H = 50: conv2d_2 reads 22 rows with stride 2 and kernel 3, (22 − 3)/2 + 1 = 10.5: one row unread.
    The symbolic summary gives the concrete run's W201 (same text), and `netcalc sizes` still solves."""
    spec = ROOT / "tests" / "errors" / "w201_symbolic_default.yaml"
    sym = netcalc("summary", str(spec))
    conc = netcalc("summary", str(spec), "--set", "H=50")
    assert sym.returncode == conc.returncode == 0

    def warnings(out):
        return [line for line in (out.stdout + out.stderr).splitlines() if "warning W201" in line]

    assert warnings(sym) == warnings(conc) and len(warnings(sym)) == 1
    assert "(22 + 2·0 − 3)/2 + 1 = 10.5" in warnings(sym)[0]
    sizes = netcalc("sizes", str(spec))
    assert sizes.returncode == 0, sizes.stderr
    assert "H: H mod 4 ∈ {0, 3}, H ≥ 15" in sizes.stdout and "default H = 50: NOT valid" in sizes.stdout
    # a valid default: no warning
    ok = netcalc("summary", str(spec), "--set", "W=48")  # H stays symbolic at 50
    assert warnings(ok) == warnings(conc)
