"""The pipelines behind the commands, called in-process (no subprocess): pipeline.py (a spec's name,
--max-layers, --batch, load -> analyze), lint_run.py (lint's options, pyproject.toml, targets, the
findings of each spec, the rendered output), sizes.py's command pipeline, verify.py's checks before
the runs and diff.py's option checks. Every expected figure is worked out by hand beside it."""

from __future__ import annotations

import json
import math
from pathlib import Path

from netcalc import diff, lint_run, pipeline, sizes, sizes_sweep, verify
from netcalc.diagnostics import Diagnostics
from netcalc.render import Style

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "tests" / "lint_rules"

# dense 32 → 4: 32·4 + 4 = 132 parameters, 32·4 = 128 MACs
DENSE = "netcalc: 1\ninput: {shape: [32]}\nlayers:\n  - {op: dense, units: 4}\n"
# H and W symbols with defaults; conv 3 → 8, kernel 3: 8·3·3·3 + 8 = 224 parameters
CON = """netcalc: 1
name: con
symbols:
  H: {default: 64, min: 32, max: 512, divisible: 32}
  W: {default: 64, divisible: 16}
input: {shape: [3, H, W]}
layers:
  - {op: conv2d, filters: 8, kernel: 3, stride: 2, padding: 1}
  - {op: global_avgpool2d}
"""


def _spec(tmp_path: Path, text: str, name: str = "net.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _lines(diags) -> list[str]:
    return [d.format() for d in diags.sorted()]


# ---------------------------------------------------------------- pipeline.py


def test_locate_a_bundled_spec_and_a_typo():
    diags = Diagnostics()
    assert pipeline.locate("mnist-cnn", diags) == (str(ROOT / "specs" / "mnist-cnn.yaml"), "mnist-cnn.yaml")
    assert pipeline.locate("mnist-cn", diags) is None
    assert [d.code for d in diags.items] == ["E001"]
    assert diags.items[0].message == "'mnist-cn' is neither a file nor a bundled spec (did you mean 'mnist-cnn'?)"


def test_max_layers():
    diags = Diagnostics()
    assert pipeline.max_layers("10", diags) == 10 and not diags.items
    assert pipeline.max_layers(None, diags) == 20_000  # the default limit
    assert pipeline.max_layers("0", diags) is None
    assert _lines(diags) == ["--max-layers: error E107: --max-layers takes a whole number from 1 to "
                             "1,000,000,000,000, got 0"]  # fmt: skip


def test_analyse_a_dense_layer(tmp_path):
    analysis, diags, _ = pipeline.analyse(_spec(tmp_path, DENSE))
    assert analysis.ok and not diags.items
    assert (analysis.totals.params, analysis.totals.macs) == (132, 128)


def test_analyse_refuses_a_set_the_spec_does_not_have(tmp_path):
    analysis, diags, _ = pipeline.analyse(_spec(tmp_path, DENSE), sets=["Q=3"])
    assert analysis is None and [d.code for d in diags.errors] == ["E107"]
    analysis, diags, _ = pipeline.analyse(_spec(tmp_path, CON), sets=["H=96"])  # 96 = 3·32: allowed
    assert analysis.ok and analysis.totals.params == 224


def test_batch_a_number_a_symbol_and_a_size_of_the_spec(tmp_path):
    analysis, diags, _ = pipeline.analyse(_spec(tmp_path, CON), batch="8")
    assert analysis.totals.batch == 8
    analysis, diags, _ = pipeline.analyse(_spec(tmp_path, CON), batch="H")
    assert analysis is None
    assert diags.errors[0].message.startswith("--batch H: H is a size of the spec (")
    assert diags.errors[0].message.endswith("such as --batch N")
    scope = pipeline.analyse(_spec(tmp_path, CON))[0].graph.symbols
    diags = Diagnostics()
    assert pipeline.batch("0", scope, diags) == 1 and diags.errors[0].loc.file == "--batch"


# ---------------------------------------------------------------- lint_run.py


def _lint(*files: Path, **given):
    options, diags = lint_run.read_options(None, None, None, None, None, {}, None, None)
    assert not diags.items
    options.update(given)
    return lint_run.run([str(f) for f in files], options, {"root": None})


def test_lint_one_finds_what_each_case_is_named_for():
    options, _ = lint_run.read_options(None, None, None, None, None, {}, None, None)
    for name, code in (("W403_fires", "W403"), ("B501_fires", "B501"), ("W201_fires", "W201")):
        diags, _ = lint_run.lint_one(str(RULES / f"{name}.yaml"), options, {}, {})
        assert code in [d.code for d in diags.items], name
    diags, _ = lint_run.lint_one(str(RULES / "W403_quiet.yaml"), options, {}, {})
    assert "W403" not in [d.code for d in diags.items]


def test_run_counts_and_exit_codes():
    result = _lint(RULES / "W403_fires.yaml", RULES / "W403_quiet.yaml", select=("W4",))
    assert result.count == 2 and [(Path(d.loc.file).name, d.code) for d in result.findings] == [
        ("W403_fires.yaml", "W403")
    ]
    assert result.code == 0  # a warning, not strict
    assert _lint(RULES / "W403_fires.yaml", strict=True).code == 1
    assert _lint(RULES / "B501_fires.yaml").code == 1  # B501 is an error: 132 parameters over 100
    assert _lint(ROOT / "no-such.yaml").code == 2  # E001: unreadable


def test_run_reports_a_set_no_spec_has():
    result = _lint(ROOT / "specs" / "lstm-classifier-t.yaml", values={"TT": 5})
    assert [d.format() for d in result.problems] == [
        "--set: error E107: --set TT=5: no spec checked has a symbol 'TT' (did you mean 'T'?)"
    ]


def test_read_options():
    budgets = {"max-params": "25M", "max-memory": "512MB"}
    options, diags = lint_run.read_options(["W4,W301", "B5"], None, True, 20.0, 3, budgets, ["T=300"], "50")
    assert not diags.items
    assert options["select"] == ("W4", "W301", "B5") and options["ignore"] is None
    assert (options["max-params"], options["max-memory"], options["max-depth"]) == (25_000_000, 512_000_000, 3)
    assert options["values"] == {"T": 300} and options["max_layers"] == 50
    _, diags = lint_run.read_options(["W999"], None, None, math.nan, None, {}, None, None)
    assert _lines(diags) == [
        "--band: error E107: --band takes a finite number of at least 1, got nan",
        "--select: error E107: --select 'W999' is not a finding code or prefix netcalc reports",
    ]
    _, diags = lint_run.read_options(None, None, None, None, None, {"max-params": "lots"}, None, None)
    assert [(d.code, d.loc.file) for d in diags.items] == [("E107", "--max-params")]


def test_project_settings(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.netcalc.lint]\nband = 0.5\nstrict = true\n", encoding="utf-8")
    project, diags = lint_run.project_settings(tmp_path)
    assert project["strict"] is True and project["root"] == tmp_path
    assert _lines(diags) == [f"{tmp_path / 'pyproject.toml'}: error E108: [tool.netcalc.lint]: 'band' must be a "
                             "number ≥ 1, got 0.5"]  # fmt: skip


def test_targets(tmp_path):
    _spec(tmp_path, DENSE, "a.yaml")
    _spec(tmp_path, "repos: []\n", "other.yaml")
    (tmp_path / ".hidden").mkdir()
    _spec(tmp_path / ".hidden", DENSE, "b.yaml")
    a, other = str(tmp_path / "a.yaml"), str(tmp_path / "other.yaml")
    files, skipped = lint_run.targets([str(tmp_path), a])  # a.yaml found in the folder and named: once
    assert sorted(files) == [a, other] and skipped == []
    files, skipped = lint_run.targets([a, other], specs_only=True)
    assert files == [a] and skipped == [other]
    assert lint_run.targets([str(tmp_path)], specs_only=True) == ([a], [])  # found in a folder: no note


def test_render_json_and_text():
    result = _lint(RULES / "W403_fires.yaml", RULES / "B501_fires.yaml")
    doc = json.loads(lint_run.render(result, "json", Style(False)))
    assert (doc["specs"], doc["errors"], doc["warnings"]) == (2, 1, 1)
    assert sorted(f["code"] for f in doc["findings"]) == ["B501", "W403"]
    text = lint_run.render(result, "text", Style(False))
    assert text.endswith("\n2 specs checked: 1 error, 1 warning\n")


# ---------------------------------------------------------------- sizes.py


def test_sizes_pipeline(tmp_path):
    spec = _spec(tmp_path, CON)
    analysis, _, _, moved = sizes.find_analysis(lambda generic: pipeline.analyse(spec, symbolic=True, generic=generic))
    assert analysis.ok and moved is None
    results, swept = sizes.run(analysis, ["H=32..128"])
    assert [r.name for r in results] == ["H", "W"]
    assert swept.points == [32, 64, 128]  # doubling from 32 up to 128
    assert sizes_sweep.sweep_problem(analysis.graph.symbols, ["Q=1..4"]) == (
        "--sweep Q: not a free symbol of the spec (free: H, W)"
    )
    assert sizes_sweep.sweep_problem(analysis.graph.symbols, ["H=1..2", "W=1..2"]).startswith(
        "--sweep is given 2 times"
    )
    assert sizes.run(analysis, ["H=1..2", "W=3"]) is None and analysis.diags.errors[0].code == "E107"


def test_sizes_moves_a_default_that_breaks_a_reshape(tmp_path):
    # 1×H×8 → maxpool 2 → 1×⌊H/2⌋×4 → reshape [4, 4]: 4·⌊H/2⌋ = 16 holds for H = 8, 9; the default 4 fails
    text = "netcalc: 1\nsymbols: {H: {default: 4}}\ninput: {shape: [1, H, 8]}\nlayers:\n"
    text += "  - {op: maxpool2d, kernel: 2}\n  - {op: reshape, shape: [4, 4]}\n"
    spec = _spec(tmp_path, text)
    analysis, _, _, moved = sizes.find_analysis(lambda generic: pipeline.analyse(spec, symbolic=True, generic=generic))
    assert analysis.ok and moved == {"H": 8}
    (h,), _ = sizes.run(analysis)
    assert (h.name, h.smallest[:1]) == ("H", [8])


def test_sizes_nothing_to_solve(tmp_path):
    analysis, *_ = pipeline.analyse(_spec(tmp_path, DENSE), symbolic=True)
    assert sizes.run(analysis) is None
    assert analysis.diags.errors[0].message.endswith("nothing to solve: it has no symbols (write one in a shape: "
                                                     "[3, H, W])")  # fmt: skip


def test_sizes_unreadable_spec(tmp_path):
    spec = str(tmp_path / "missing.yaml")
    analysis, diags, _, _ = sizes.find_analysis(lambda generic: pipeline.analyse(spec, generic=generic))
    assert analysis is None and [d.code for d in diags.errors] == ["E001"]


# ---------------------------------------------------------------- verify.py and diff.py


def test_verify_memory_problem_and_inputs(tmp_path):
    from netcalc.executor.run import estimate_memory

    graph = pipeline.analyse(_spec(tmp_path, DENSE))[0].graph
    need = estimate_memory(graph, 8, "float64")
    assert verify.memory_problem(graph, 8, "float64", need, "X") is None  # at the limit: it fits
    got = verify.memory_problem(graph, 8, "float64", need - 1, "X")
    # the advice is the power of two (in GB) at or above the need: 0.13 GB → 2^-3 = 0.125 < 0.13 ≤ 0.25 = 2^-2
    assert 0.125e9 < need <= 0.25e9
    assert got == (f"net at batch 8 in float64 needs about {need / 1e9:.2f} GB, more than --max-memory X; raise it "
                   "(--max-memory 0.25GB) or lower --batch")  # fmt: skip
    verify.set_inputs(graph, mean=0.5, correlation=0.2)
    stats = verify.run_meta(graph, 8, 3, "float64")["inputs"]["input"]
    assert (stats["mean"], stats["correlation"]) == (0.5, 0.2)


def test_diff_option_checks(tmp_path):
    assert diff.budget_problem("--max-macs-growth", 5.0) is None and diff.budget_problem("--x", None) is None
    assert diff.budget_problem("--max-macs-growth", math.inf) == "--max-macs-growth takes a finite percentage, got inf"
    old = pipeline.analyse(_spec(tmp_path, CON, "old.yaml"), known_only=True, sets=["h=64"])[0]
    new = pipeline.analyse(_spec(tmp_path, DENSE, "new.yaml"), known_only=True, sets=["h=64"])[0]
    assert diff.unknown_sets(old, new, "old.yaml", "new.yaml") == [
        "--set h=64: neither old.yaml nor new.yaml has a symbol 'h' (did you mean 'H'?)"
    ]
