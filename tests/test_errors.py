"""Error cases, one small spec per class of mistake, each beside the diagnostics it must produce.

tests/errors/NAME.yaml is run as `netcalc summary NAME.yaml` from tests/errors (so messages show
the file as NAME.yaml); tests/errors/NAME.expected holds the exact `file:line:col: severity CODE:
message` lines expected, in order. Indented note lines and the closing "N errors" line are not part
of the .expected file, but nothing else may appear on stderr, and never a traceback.

Header comments at the top of a .yaml file change how it is run:

    # expect: exit 0        the spec is usable (accepted input, or warnings only); the default is 2
    # spec: NAME            pass NAME instead of the file (a missing file, a bundled-spec name)

For a usable spec, the table goes to stdout and its warnings follow it there: the diagnostics are
taken from stdout and stderr together.

`pytest --update-golden` rewrites the .expected files from what netcalc prints: review the diff.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cli_run import netcalc
from conftest import run_spec

ERRORS = Path(__file__).resolve().parent / "errors"
CASES = sorted(p.stem for p in ERRORS.glob("*.yaml"))

DIAGNOSTIC = re.compile(r"^\S.*?: (error|warning|note) [EW]\d{3}: ")
SUMMARY = re.compile(r"^\d+ errors?: the spec cannot be analysed$")


def header(path: Path) -> dict[str, str]:
    """The `# key: value` comments at the top of a case (read leniently: some cases are not UTF-8)."""
    out = {}
    for line in path.read_bytes().decode("utf-8", errors="replace").splitlines():
        m = re.match(r"#\s*(expect|spec):\s*(.+?)\s*$", line)
        if m:
            out[m.group(1)] = m.group(2)
        elif not line.startswith("#"):
            break
    return out


def expected_exit(head: dict[str, str]) -> int:
    m = re.fullmatch(r"exit (\d+)", head.get("expect", "exit 2"))
    assert m, f"bad '# expect:' header {head['expect']!r}"
    return int(m.group(1))


def test_every_case_has_an_expected_file(update_golden):
    assert CASES, "no cases in tests/errors"
    missing = [c for c in CASES if not (ERRORS / f"{c}.expected").exists()]
    if update_golden:
        return  # the parametrised tests write them
    assert not missing, f"cases without a .expected file (pytest --update-golden writes them): {missing}"
    orphans = sorted(p.stem for p in ERRORS.glob("*.expected") if not (ERRORS / f"{p.stem}.yaml").exists())
    assert not orphans, f".expected files without a case: {orphans}"


@pytest.mark.parametrize("case", CASES)
def test_error_case(case, update_golden):
    path = ERRORS / f"{case}.yaml"
    head = header(path)
    code = expected_exit(head)
    result = netcalc("summary", head.get("spec", path.name), cwd=ERRORS)
    out = result.stdout + result.stderr

    assert "Traceback" not in out, out
    assert "internal error" not in out, out
    assert result.returncode == code, f"exit {result.returncode}, expected {code}\n{out}"

    for line in result.stderr.splitlines():
        assert DIAGNOSTIC.match(line) or line.startswith("  ") or SUMMARY.match(line), (
            f"unexpected line on stderr: {line!r}"
        )
    if code == 0:
        # a usable spec: its warnings follow the table on stdout (on stderr with --format csv)
        source = result.stdout + result.stderr
        assert not re.search(r": error E\d{3}: ", source), source
    else:
        source = result.stderr
        assert result.stdout == "", result.stdout
    got = [line.rstrip() for line in source.splitlines() if DIAGNOSTIC.match(line)]

    expected_path = ERRORS / f"{case}.expected"
    if update_golden:
        expected_path.write_text("".join(f"{line}\n" for line in got), encoding="utf-8")
    expected = expected_path.read_text(encoding="utf-8").splitlines()
    assert got == expected, "\n".join(["got:", *got, "expected:", *expected])


def test_yaml11_words_are_read_by_the_schema():
    """The accepted case really was read by the schema: `name: no` is the name "no", `on`/`off`
    are ids, `1e-3` is the number 0.001."""
    result = netcalc("summary", "ok_yaml11_scalars.yaml", "--format", "json", cwd=ERRORS)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["spec"]["name"] == "no"
    assert data["spec"]["inputs"][0]["name"] == "off"
    layers = {layer["name"]: layer for layer in data["layers"]}
    assert layers["on"]["inputs"] == ["off"]
    assert layers["leaky_relu_1"]["inputs"] == ["on"]

    analysis, diags = run_spec((ERRORS / "ok_yaml11_scalars.yaml").read_text(encoding="utf-8"))
    assert analysis is not None and not diags.items
    args = {row.node.name: row.node.args for row in analysis.rows}
    assert args["batchnorm_1"]["eps"] == 0.001
    assert args["batchnorm_1"]["momentum"] == 0.1
    assert args["leaky_relu_1"]["negative_slope"] == 0.2
