"""`netcalc lint`: every design rule fires on a spec written to trigger it and stays quiet on its fix;
budgets say by how much; select/ignore, pyproject settings, formats and exit codes."""

from __future__ import annotations

import json
import textwrap

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


@pytest.mark.parametrize("convention, head, fires", [("pytorch", "softmax", True), ("keras", "softmax", False),
                                                     ("pytorch", "relu", False)])  # fmt: skip
def test_w405_softmax_output_in_pytorch(tmp_path, convention, head, fires):
    body = f"""
    netcalc: 1
    convention: {convention}
    input: {{shape: [32]}}
    layers:
      - {{op: dense, units: 4, activation: {head}}}
    """
    assert ("W405" in codes(tmp_path, body)) == fires


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
