"""`netcalc lint`: every design rule fires on a spec written to trigger it and stays quiet on its fix;
budgets say by how much; select/ignore, pyproject settings, formats and exit codes."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from cli_run import netcalc


def write(tmp_path, body: str, name: str = "net.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path


def codes(tmp_path, body: str, *args: str) -> list[str]:
    path = write(tmp_path, body)
    r = netcalc("lint", str(path), "--format", "json", "--ignore", "W30", *args, cwd=tmp_path)
    assert r.returncode in (0, 1), r.stderr
    return [f["code"] for f in json.loads(r.stdout)["findings"]]


CNN = """
netcalc: 1
input: {shape: [3, 16, 16]}
layers:
  - {op: conv2d, filters: 8, kernel: 3, padding: 1, bias: BIAS}
  - {op: batchnorm}
  - {op: relu}
  - {op: global_avgpool2d}
  - {op: dense, units: 4}
"""


@pytest.mark.parametrize("bias, fires", [("true", True), ("false", False)])
def test_w401_bias_before_batchnorm(tmp_path, bias, fires):
    assert ("W401" in codes(tmp_path, CNN.replace("BIAS", bias))) == fires


@pytest.mark.parametrize("order, fires", [(("dropout", "batchnorm"), True), (("batchnorm", "dropout"), False)])
def test_w402_dropout_before_batchnorm(tmp_path, order, fires):
    a, b = order
    body = f"""
    netcalc: 1
    input: {{shape: [32]}}
    layers:
      - {{op: dense, units: 32, bias: false}}
      - {{op: {a}}}
      - {{op: {b}}}
      - {{op: relu}}
      - {{op: dense, units: 4}}
    """
    assert ("W402" in codes(tmp_path, body)) == fires


@pytest.mark.parametrize("between, fires", [("", True), ("activation: relu", False)])
def test_w403_two_linear_layers(tmp_path, between, fires):
    extra = f", {between}" if between else ""
    body = f"""
    netcalc: 1
    input: {{shape: [32]}}
    layers:
      - {{op: dense, units: 32{extra}}}
      - {{op: dense, units: 4}}
    """
    assert ("W403" in codes(tmp_path, body)) == fires


def test_w404_dense_after_flatten_shows_both_counts(tmp_path):
    # 64×7×7 flattened into 500 units: 1,568,000 weights; after GAP 64·500 = 32,000 (49× fewer)
    body = """
    netcalc: 1
    input: {shape: [64, 7, 7]}
    layers:
      - {op: flatten}
      - {op: dense, units: 500}
    """
    path = write(tmp_path, body)
    r = netcalc("lint", str(path), "--select", "W404", cwd=tmp_path)
    assert "1,568,000 weights" in r.stdout and "would take 32,000 (49× fewer)" in r.stdout
    small = body.replace("500", "10")  # 31,360 weights: below the 1M threshold
    assert "W404" not in codes(tmp_path, small)
    gap = body.replace("{op: flatten}", "{op: global_avgpool2d}")
    assert "W404" not in codes(tmp_path, gap)


@pytest.mark.parametrize("stride, fires", [(3, True), (2, False)])
def test_w406_stride_larger_than_window(tmp_path, stride, fires):
    body = f"""
    netcalc: 1
    input: {{shape: [3, 17, 17]}}
    layers:
      - {{op: conv2d, filters: 4, kernel: 2, stride: {stride}}}
    """
    assert ("W406" in codes(tmp_path, body)) == fires


def test_budgets_say_by_how_much(tmp_path):
    # dense 32 → 4: 128 + 4 = 132 parameters; budget 100: over by 32 (32.0 %)
    path = write(tmp_path, "netcalc: 1\ninput: {shape: [32]}\nlayers:\n  - {op: dense, units: 4}\n")
    r = netcalc("lint", str(path), "--max-params", "100", cwd=tmp_path)
    assert r.returncode == 1
    assert "error B501: 132 parameters, over the budget of 100 by 32 (32.0%)" in r.stdout
    assert netcalc("lint", str(path), "--max-params", "1k", cwd=tmp_path).returncode == 0
    assert netcalc("lint", str(path), "--max-params", "lots", cwd=tmp_path).returncode == 2


def test_exit_codes_strict_and_unreadable(tmp_path):
    warn = write(
        tmp_path, "netcalc: 1\ninput: {shape: [32]}\nlayers:\n  - {op: dense, units: 32}\n  - {op: dense, units: 4}\n"
    )  # fmt: skip  (W403)
    assert netcalc("lint", str(warn), cwd=tmp_path).returncode == 0
    assert netcalc("lint", str(warn), "--strict", cwd=tmp_path).returncode == 1
    bad = write(tmp_path, "netcalc: 1\ninput: {shape: [3, 8, 8]}\nlayers:\n  - {op: conv2d, filters: 4, kernel: 9}\n",
                "bad.yaml")  # fmt: skip
    r = netcalc("lint", str(bad), cwd=tmp_path)
    assert r.returncode == 1 and "error E201" in r.stdout
    assert netcalc("lint", str(tmp_path / "missing.yaml"), cwd=tmp_path).returncode == 2


def test_pyproject_settings_and_per_file_ignores(tmp_path):
    spec = write(tmp_path, "netcalc: 1\ninput: {shape: [32]}\nlayers:\n  - {op: dense, units: 32}\n"
                           "  - {op: dense, units: 4}\n")  # fmt: skip
    (tmp_path / "pyproject.toml").write_text('[tool.netcalc.lint]\nstrict = true\nignore = ["W3"]\n')
    assert netcalc("lint", str(spec), cwd=tmp_path).returncode == 1  # strict from the file, W403 remains
    (tmp_path / "pyproject.toml").write_text(
        '[tool.netcalc.lint]\nstrict = true\nignore = ["W3"]\n[tool.netcalc.lint.per-file-ignores]\n"net*.yaml" = ["W403"]\n'
    )
    assert netcalc("lint", str(spec), cwd=tmp_path).returncode == 0


def test_github_format(tmp_path):
    spec = write(tmp_path, "netcalc: 1\ninput: {shape: [32]}\nlayers:\n  - {op: dense, units: 32}\n"
                           "  - {op: dense, units: 4}\n")  # fmt: skip
    r = netcalc("lint", str(spec), "--format", "github", "--select", "W403", cwd=tmp_path)
    assert r.stdout.startswith(f"::warning file={spec},line=5,col=5,title=W403::dense_2: reads dense_1")


def test_directory_of_specs(tmp_path):
    write(tmp_path, "netcalc: 1\ninput: {shape: [32]}\nlayers:\n  - {op: dense, units: 4}\n", "a.yaml")
    write(tmp_path, "netcalc: 1\ninput: {shape: [32]}\nlayers:\n  - {op: dense, units: 4}\n", "b.yml")
    r = netcalc("lint", str(tmp_path), cwd=tmp_path)
    assert r.returncode == 0 and "2 specs checked: 0 errors, 0 warnings" in r.stdout


def test_inline_suppression_needs_a_reason(tmp_path):
    body = """
    netcalc: 1
    input: {shape: [32]}
    layers:
      - {op: dense, units: 32, id: code}
      - {op: dense, units: 4, noqa: {W403: "a linear bottleneck on purpose"}}
    """
    assert "W403" not in codes(tmp_path, body)
    no_reason = body.replace('"a linear bottleneck on purpose"', '""')
    r = netcalc("lint", str(write(tmp_path, no_reason)), cwd=tmp_path)
    assert r.returncode == 1 and "error E106" in r.stdout and "W403 needs the reason" in r.stdout
    bad_code = body.replace("W403:", "X1:")
    r = netcalc("lint", str(write(tmp_path, bad_code)), cwd=tmp_path)
    assert "error E104" in r.stdout and "'X1' is not a finding code" in r.stdout


def test_suppression_covers_the_shorthand_activation(tmp_path):
    # W303 is reported on the shorthand node dense_2.tanh; the dense's own noqa covers it
    body = """
    netcalc: 1
    input: {shape: [64], mean: 0, std: 10}
    layers:
      - {op: dense, units: 64, activation: tanh, noqa: {W303: "saturating on purpose"}}
    """
    path = write(tmp_path, body)
    r = netcalc("lint", str(path), "--format", "json", cwd=tmp_path)
    assert "W303" not in [f["code"] for f in json.loads(r.stdout)["findings"]]
    r = netcalc("lint", str(write(tmp_path, body.replace(', noqa: {W303: "saturating on purpose"}', ""))),
                "--format", "json", cwd=tmp_path)  # fmt: skip
    assert "W303" in [f["code"] for f in json.loads(r.stdout)["findings"]]


# -- the spec's own `lint:` settings, and where each setting comes from --------------------------

DENSE = "netcalc: 1\ninput: {shape: [32]}\nLINT\nlayers:\n  - {op: dense, units: 4}\n"  # 4·32 + 4 = 132 parameters
TWO_DENSE = (  # W403 at line 6 (dense_2 reads dense_1 with no activation between them)
    "netcalc: 1\nconvention: pytorch\ninput: {shape: [32]}\nLINT\nlayers:\n  - {op: dense, units: 32}\n"
    "  - {op: dense, units: 4, activation: softmax}\n"  # and W405: a softmax output in PyTorch
)


def lint_json(tmp_path, body: str, lint: str, *args: str):
    path = write(tmp_path, body.replace("LINT", lint))
    r = netcalc("lint", str(path), "--format", "json", *args, cwd=tmp_path)
    assert r.returncode in (0, 1, 2), r.stderr
    return r, [f["code"] for f in json.loads(r.stdout)["findings"]] if r.stdout else []


def test_spec_select_and_ignore(tmp_path):
    assert lint_json(tmp_path, TWO_DENSE, "")[1] == ["W403", "W405"]
    assert lint_json(tmp_path, TWO_DENSE, "lint: {select: [W405]}")[1] == ["W405"]
    assert lint_json(tmp_path, TWO_DENSE, "lint: {select: W40}")[1] == ["W403", "W405"]  # one prefix, no list
    assert lint_json(tmp_path, TWO_DENSE, "lint: {ignore: [W403]}")[1] == ["W405"]
    assert lint_json(tmp_path, TWO_DENSE, "lint: {ignore: [W4]}")[1] == []


def test_spec_strict(tmp_path):
    r, found = lint_json(tmp_path, TWO_DENSE, "lint: {strict: false}")
    assert found == ["W403", "W405"] and r.returncode == 0
    assert lint_json(tmp_path, TWO_DENSE, "lint: {strict: true}")[0].returncode == 1


def test_spec_band(tmp_path):
    # three dense 64 → 64 layers with normal(std 0.5) weights, each followed by relu: E[x²] grows by
    # 64·0.5² = 16 per dense and halves per relu, 8× per layer; from dense_1 to dense_3: 8² = 64×
    layer = "  - {op: dense, units: 64, activation: relu, init: {name: normal, std: 0.5}}\n"
    body = "netcalc: 1\ninput: {shape: [64], mean: 0, std: 1}\nLINT\nlayers:\n" + layer * 3
    assert lint_json(tmp_path, body, "")[1] == ["W301", "W302"]  # band 10
    assert lint_json(tmp_path, body, "lint: {band: 63}")[1] == ["W301", "W302"]
    assert lint_json(tmp_path, body, "lint: {band: 65}")[1] == []
    path = write(tmp_path, body.replace("LINT", "lint: {band: 63}"))
    assert "grows 64× from dense_1 to dense_3 (band 63× either way)" in netcalc("lint", str(path), cwd=tmp_path).stdout


@pytest.mark.parametrize("setting, message", [
    ("max-params: 100", "error B501: 132 parameters, over the budget of 100 by 32 (32.0%)"),
    ("max-params: 1k", None),
    ("max-macs: 100", "error B502: 128 MACs, over the budget of 100 by 28 (28.0%)"),  # 4·32 weight products
    ("max-macs: 128", None),
    # float32: parameters 132·4 = 528 bytes, input 32·4 = 128, output 4·4 = 16: 672 bytes
    ("max-memory: 600", "error B503: 672 bytes of memory, over the budget of 600 by 72 (12.0%)"),
    ("max-memory: 1KB", None),
    ("max-depth: 1", None),
])  # fmt: skip
def test_spec_budgets(tmp_path, setting, message):
    path = write(tmp_path, DENSE.replace("LINT", f"lint: {{{setting}}}"))
    r = netcalc("lint", str(path), cwd=tmp_path)
    if message is None:
        assert r.returncode == 0 and "0 errors" in r.stdout, r.stdout
    else:
        assert r.returncode == 1 and message in r.stdout, r.stdout


def test_spec_depth_budget(tmp_path):
    path = write(tmp_path, TWO_DENSE.replace("LINT", "lint: {max-depth: 1, ignore: [W4]}"))
    r = netcalc("lint", str(path), cwd=tmp_path)
    assert r.returncode == 1 and "error B504: 2 weighted layers, over the budget of 1 by 1 (100.0%)" in r.stdout


def test_spec_settings_over_pyproject(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.netcalc.lint]\nstrict = true\nignore = ["W403"]\nmax-params = 100\n', encoding="utf-8"
    )
    r, found = lint_json(tmp_path, DENSE, "")
    assert found == ["B501"] and r.returncode == 1  # pyproject applies where the spec says nothing
    r, found = lint_json(tmp_path, DENSE, "lint: {max-params: 200}")
    assert found == [] and r.returncode == 0
    r, found = lint_json(tmp_path, TWO_DENSE, "lint: {max-params: 10k}")
    assert found == ["W405"] and r.returncode == 1  # pyproject's strict and ignore still apply
    r, found = lint_json(tmp_path, TWO_DENSE, "lint: {strict: false, ignore: [], max-params: 10k}")
    assert found == ["W403", "W405"] and r.returncode == 0  # an empty list is a setting too


def test_options_over_spec_settings(tmp_path):
    body = TWO_DENSE.replace("LINT", "lint: {strict: true, select: [W403, B5], max-params: 100}")
    path = write(tmp_path, body)
    r = netcalc("lint", str(path), "--format", "json", cwd=tmp_path)
    assert [f["code"] for f in json.loads(r.stdout)["findings"]] == ["B501", "W403"] and r.returncode == 1
    r = netcalc("lint", str(path), "--format", "json", "--no-strict", "--select", "W405", "--max-params", "1M",
                cwd=tmp_path)  # fmt: skip
    assert [f["code"] for f in json.loads(r.stdout)["findings"]] == ["W405"] and r.returncode == 0


def test_per_file_ignores_add_to_the_spec_ignore(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.netcalc.lint.per-file-ignores]\n"net.yaml" = ["W405"]\n')
    assert lint_json(tmp_path, TWO_DENSE, "lint: {ignore: [W403]}")[1] == []


def test_settings_are_per_spec(tmp_path):
    strict = write(tmp_path, TWO_DENSE.replace("LINT", "lint: {strict: true, select: [W403]}"), "strict.yaml")
    lax = write(tmp_path, TWO_DENSE.replace("LINT", "lint: {select: [W405]}"), "lax.yaml")
    r = netcalc("lint", str(lax), "--format", "json", cwd=tmp_path)
    assert [f["code"] for f in json.loads(r.stdout)["findings"]] == ["W405"] and r.returncode == 0
    r = netcalc("lint", str(lax), str(strict), "--format", "json", cwd=tmp_path)
    assert [(Path(f["file"]).name, f["code"]) for f in json.loads(r.stdout)["findings"]] == [
        ("lax.yaml", "W405"), ("strict.yaml", "W403")]  # fmt: skip
    assert r.returncode == 1  # the strict spec's warning fails the run


def test_other_commands_apply_no_lint_settings(tmp_path):
    path = write(tmp_path, DENSE.replace("LINT", "lint: {strict: true, max-params: 1}"))
    r = netcalc("summary", str(path), "--format", "json", cwd=tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout)["totals"]["params"] == 132
    bad = write(tmp_path, DENSE.replace("LINT", "lint: {max-params: lots}"), "bad.yaml")
    r = netcalc("summary", str(bad), cwd=tmp_path)  # but the mapping is checked as the rest of the spec is
    assert (
        r.returncode == 2
        and "bad.yaml:3:20: error E103: lint: 'max-params' must be a positive whole number" in r.stderr
    )


@pytest.mark.parametrize("toml, message", [
    ('band = 0.5', "'band' must be a number ≥ 1, got 0.5"),
    ('max-params = "lots"', "'max-params' must be a positive whole number such as 25M, 4G or 1.5e6, got 'lots'"),
    ('strict = "yes"', "'strict' must be true or false, got 'yes'"),
    ('ignore = ["all"]', "'ignore' must be a finding code or prefix such as W4 or W403, or a list of them, got ['all']"),
    ('max-param = 10', "unknown key 'max-param' (did you mean 'max-params'?)"),
])  # fmt: skip
def test_bad_pyproject_settings(tmp_path, toml, message):
    (tmp_path / "pyproject.toml").write_text(f"[tool.netcalc.lint]\n{toml}\n", encoding="utf-8")
    path = write(tmp_path, DENSE.replace("LINT", ""))
    r = netcalc("lint", str(path), cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    # option and settings errors carry a code and use the diagnostics format
    assert r.stderr == (
        f"{tmp_path / 'pyproject.toml'}: error E108: [tool.netcalc.lint]: {message}\n1 error: the spec cannot be analysed\n"
    )


@pytest.mark.parametrize("option", [("--max-params", "0"), ("--max-params", "inf"), ("--max-memory", "0.5"),
                                    ("--max-depth", "0"), ("--max-params", "1,5M"), ("--max-params", "1.5"),
                                    ("--max-memory", "10M"), ("--max-activation-memory", "lots"),
                                    ("--band", "nan"), ("--select", "W999"), ("--ignore", "w405"),
                                    ("--ignore", "bogus")])  # fmt: skip
def test_bad_budget_options(tmp_path, option):
    path = write(tmp_path, DENSE.replace("LINT", ""))
    r = netcalc("lint", str(path), *option, cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr and option[0] in r.stderr


def test_specs_only_skips_other_yaml(tmp_path):
    write(tmp_path, "repos:\n  - repo: local\n", ".pre-commit-config.yaml")
    write(tmp_path, DENSE.replace("LINT", ""), "net.yaml")
    write(tmp_path, '{"netcalc": 1, input: {shape: [32]}, layers: [{op: dense, units: 4}]}\n', "flow.yaml")
    r = netcalc("lint", ".pre-commit-config.yaml", "net.yaml", "flow.yaml", "--specs-only", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == "2 specs checked: 0 errors, 0 warnings\n", r.stdout
    r = netcalc("lint", ".pre-commit-config.yaml", "--specs-only", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == "0 specs checked: 0 errors, 0 warnings\n"
    r = netcalc("lint", ".pre-commit-config.yaml", cwd=tmp_path)  # named without the option: checked
    assert r.returncode == 1 and "error E102: unknown key 'repos' in the spec" in r.stdout
    r = netcalc("lint", ".", "--specs-only", cwd=tmp_path)  # a directory: its specs
    assert r.returncode == 0 and r.stdout.startswith("2 specs checked")


def test_readme_lint_example_is_the_spec_it_runs():
    from cli_run import ROOT

    spec = (ROOT / "tests" / "readme" / "lint-settings.yaml").read_text(encoding="utf-8")
    assert f"```yaml\n{spec}```" in (ROOT / "README.md").read_text(encoding="utf-8")
    r = netcalc("lint", "tests/readme/lint-settings.yaml", "--max-params", "2k")  # the option over the spec's 1k
    assert r.returncode == 1 and "B501" not in r.stdout and "0 errors, 1 warning" in r.stdout  # strict: W403 fails


@pytest.mark.parametrize("toml, message", [
    ('tool = "x"', "'tool' must be a table, got 'x'"),
    ("[tool]\nnetcalc = 5", "'tool.netcalc' must be a table, got 5"),
    ("[tool.netcalc]\nstrict = true", "[tool.netcalc]: unknown key 'strict' (lint settings go in [tool.netcalc.lint])"),
    ("[tool.netcalc.lint]\nignore = ['W999']", "[tool.netcalc.lint]: 'ignore': 'W999' is not a finding code or prefix "
                                             "netcalc reports"),
])  # fmt: skip
def test_pyproject_that_is_no_settings_table(tmp_path, toml, message):
    (tmp_path / "pyproject.toml").write_text(toml + "\n", encoding="utf-8")
    r = netcalc("lint", str(write(tmp_path, DENSE.replace("LINT", ""))), cwd=tmp_path)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_pyproject_that_is_no_toml(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.netcalc.lint\nstrict = true\n", encoding="utf-8")
    r = netcalc("lint", str(write(tmp_path, DENSE.replace("LINT", ""))), cwd=tmp_path)
    assert r.returncode == 2 and "not readable as TOML" in r.stderr


def test_per_file_ignores_relative_to_the_project(tmp_path):
    """The glob matches the path from the pyproject.toml's folder, however the spec is named."""
    (tmp_path / "pyproject.toml").write_text('[tool.netcalc.lint.per-file-ignores]\n"exp/*.yaml" = ["W403"]\n')
    (tmp_path / "exp").mkdir()
    (tmp_path / "sub").mkdir()
    spec = write(tmp_path / "exp", TWO_DENSE.replace("LINT", ""))
    for cwd, name in ((tmp_path, "exp/net.yaml"), (tmp_path, str(spec)), (tmp_path / "sub", "../exp/net.yaml")):
        r = netcalc("lint", name, "--select", "W403", cwd=cwd)
        assert "W403" not in r.stdout, (cwd, name, r.stdout)


def test_lists_duplicates_hidden_folders_and_bom(tmp_path):
    write(tmp_path, TWO_DENSE.replace("LINT", ""), "a.yaml")
    (tmp_path / ".github").mkdir()
    write(tmp_path / ".github", "netcalc: 1\ninput: {shape: [3]}\nlayers: []\n", "broken.yaml")  # hidden: skipped
    (tmp_path / "bom.yaml").write_bytes("\ufeff".encode() + DENSE.replace("LINT", "").encode())
    r = netcalc("lint", ".", "a.yaml", "./a.yaml", "--select", "W403,W405", "--specs-only", cwd=tmp_path)
    assert r.stdout.count("W403") == 1 and r.stdout.count("W405") == 1  # a.yaml once, comma list of codes
    assert r.stdout.endswith("2 specs checked: 0 errors, 2 warnings\n"), r.stdout  # a.yaml and bom.yaml


def test_set_that_no_spec_has(tmp_path):
    r = netcalc("lint", "lstm-classifier-t", "--set", "TT=5", cwd=tmp_path)
    assert r.returncode == 2 and "--set TT=5: no spec checked has a symbol 'TT' (did you mean 'T'?)" in r.stderr


def test_noqa_takes_warnings_only(tmp_path):
    body = "netcalc: 1\ninput: {shape: [32]}\nlayers:\n  - {op: dense, units: 4, noqa: {B501: 'x'}}\n"
    r = netcalc("lint", str(write(tmp_path, body)), cwd=tmp_path)
    assert r.returncode == 1 and "B501 cannot be waived on a layer: only warnings (W…) can" in r.stdout


def test_a_network_too_large_for_the_signal_report(tmp_path):
    # 1×20000×20000 = 4·10⁸ elements per sample, over 2²⁷: lint says so (W305), signal refuses (exit 2)
    spec = str(Path(__file__).parent / "lint_rules" / "W305_fires.yaml")
    r = netcalc("signal", spec, cwd=tmp_path)
    assert r.returncode == 2 and "400,000,000 elements per sample" in r.stderr and "Traceback" not in r.stderr
    assert f"{spec}:1:1: error E119: input has 400,000,000 elements per sample" in r.stderr
    r = netcalc("diff", spec, spec, "--format", "json", cwd=tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout)["signal"] is None
