"""Hostile and broken input: each file is refused with one clear diagnostic line, exit code 2,
never a traceback, and quickly (an alias bomb or deep nesting must not hang the run)."""

from __future__ import annotations

import random
import re
import time

import pytest
from cli_run import netcalc

from netcalc.diagnostics import Diagnostics
from netcalc.spec_text import MAX_BYTES
from netcalc.yamlsrc import MAX_DEPTH, parse_yaml

# seconds for a whole run, interpreter start-up included (about 0.3 s of it)
RUN_LIMIT = 5.0


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    lines = ["netcalc: 1", "input: {shape: [3, 8, 8]}", "a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    lines.append(f"layers: *a{levels}")
    return "\n".join(lines) + "\n"


def nested_lists(depth: int) -> str:
    return "netcalc: 1\nlayers: " + "[" * depth + "]" * depth + "\n"


def nested_maps(depth: int) -> str:
    return "netcalc: 1\nlayers: " + "{a: " * depth + "1" + "}" * depth + "\n"


def _bytes(text: str) -> bytes:
    return text.encode("utf-8")


# name -> (file content, or None for "do not create it"; the one code expected; where it points)
CASES = {
    "missing": (None, "E001", None),
    "empty": (b"", "E003", (1, 1)),
    "only_comments": (b"# nothing here\n   \n# netcalc: 1\n", "E003", (1, 1)),
    "binary_garbage": (bytes(random.Random(7).randrange(1, 256) for _ in range(300)) + b"\x00" * 4, "E002", None),
    "latin1": ("netcalc: 1\nname: réseau à 3 couches\n".encode("latin-1"), "E002", (2, 8)),
    "utf16": ("netcalc: 1\n".encode("utf-16"), "E002", (1, 1)),
    "control_character": (b"netcalc: 1\nname: a\x1bb\n", "E002", (2, 8)),
    "alias_bomb": (_bytes(billion_laughs()), "E003", None),
    "recursive_alias": (b"netcalc: 1\nlayers: &a [*a]\n", "E003", (2, 9)),
    "recursive_alias_in_mapping": (b"netcalc: 1\ninput: &m {shape: [3], again: *m}\n", "E003", (2, 8)),
    "nested_lists_10000": (_bytes(nested_lists(10_000)), "E003", None),
    "nested_maps_10000": (_bytes(nested_maps(10_000)), "E003", None),
    "multi_document": (b"netcalc: 1\n---\nnetcalc: 1\n", "E003", (2, 1)),
    "top_level_list": (b"- netcalc: 1\n- input: {shape: [3]}\n", "E103", (1, 1)),
    "top_level_scalar": (b"netcalc\n", "E103", (1, 1)),
    "six_megabytes": (b"netcalc: 1\n" + b"# padding padding padding\n" * (6_000_000 // 26), "E003", None),
}

ONE_ERROR = re.compile(r"^(?P<file>\S+?)(?::(?P<line>\d+):(?P<col>\d+))?: error (?P<code>E\d{3}): (?P<message>.+)$")


@pytest.mark.parametrize("name", list(CASES))
def test_refused_with_one_line(name, tmp_path):
    content, code, where = CASES[name]
    path = tmp_path / f"{name}.yaml"
    if content is not None:
        path.write_bytes(content)
    start = time.monotonic()
    result = netcalc("summary", path.name, cwd=tmp_path)
    elapsed = time.monotonic() - start

    out = result.stdout + result.stderr
    assert "Traceback" not in out and "internal error" not in out, out
    assert result.returncode == 2, out
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[-1] == "1 error: the spec cannot be analysed", lines
    m = ONE_ERROR.match(lines[0])
    assert m, lines[0]
    assert m["file"] == path.name
    assert m["code"] == code, lines[0]
    assert "\n" not in m["message"] and len(m["message"]) < 200, m["message"]
    if where is not None:
        assert (int(m["line"]), int(m["col"])) == where, lines[0]
    assert all(line.startswith("  ") for line in lines[1:-1]), lines  # notes only
    assert elapsed < RUN_LIMIT, f"{name} took {elapsed:.1f} s"


def test_directory(tmp_path):
    (tmp_path / "specs.yaml").mkdir()
    result = netcalc("summary", "specs.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == "specs.yaml: error E001: 'specs.yaml' is a directory, not a spec file"
    assert "Traceback" not in result.stdout + result.stderr


def _parse(text: str):
    diags = Diagnostics()
    start = time.monotonic()
    root = parse_yaml(text, "t.yaml", diags)
    return root, diags, time.monotonic() - start


def test_alias_bomb_is_refused_before_it_expands():
    root, diags, elapsed = _parse(billion_laughs())
    assert root is None
    assert [d.code for d in diags.items] == ["E003"]
    assert "billion laughs" in diags.items[0].message
    assert elapsed < 0.5, f"{elapsed:.2f} s"


@pytest.mark.parametrize("text", [nested_lists(10_000), nested_maps(10_000), nested_lists(2_000_000)])
def test_deep_nesting_stops_early(text):
    root, diags, elapsed = _parse(text)
    assert root is None
    assert [d.code for d in diags.items] == ["E003"]
    assert f"deeper than {MAX_DEPTH} levels" in diags.items[0].message
    assert diags.items[0].loc.line == 2
    assert elapsed < 1.0, f"{elapsed:.2f} s"


def test_nesting_through_aliases_is_limited():
    # each anchor nests the previous one: 300 levels deep once expanded, though 3 deep as written
    lines = ["netcalc: 1", "chain:", "  - &a0 [x]"]
    lines += [f"  - &a{i} [*a{i - 1}]" for i in range(1, 300)]
    root, diags, _ = _parse("\n".join(lines) + "\n")
    assert root is None
    assert [d.code for d in diags.items] == ["E003"]
    assert "through aliases" in diags.items[0].message


def test_aliases_that_stay_small_are_read():
    text = "netcalc: 1\nlayers:\n  - &c {op: relu}\n  - *c\n  - *c\n"
    root, diags, _ = _parse(text)
    assert not diags.items
    assert len(root.get("layers").items) == 3


def test_nesting_just_under_the_limit_is_read():
    root, diags, _ = _parse("x: " + "[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2) + "\n")
    assert not diags.items and root is not None


def test_size_limit_is_at_most_what_was_promised():
    assert MAX_BYTES <= 6_000_000 - 1  # the six_megabytes case above must be over it


@pytest.fixture
def pure_python_loader(monkeypatch):
    """The pure-Python SafeLoader, as on a machine where PyYAML was built without libyaml."""
    from netcalc import yamlsrc

    monkeypatch.setattr(yamlsrc, "_FORCE_PURE_PYTHON", True)
    monkeypatch.setattr(yamlsrc, "_LOADER", None)
    yield
    yamlsrc._LOADER = None


@pytest.mark.parametrize("text", [nested_lists(10_000), nested_maps(10_000)])
def test_deep_nesting_stops_early_without_libyaml(pure_python_loader, text):
    root, diags, _ = _parse(text)
    assert root is None
    assert [d.code for d in diags.items] == ["E003"]
    assert f"deeper than {MAX_DEPTH} levels" in diags.items[0].message


def test_both_loaders_read_the_same_nodes(pure_python_loader):
    """Plain scalars are told apart from quoted ones by both builds (style None or '')."""
    text = "a: \nb: '1e-3'\nc: 1e-3\nd: no\ne: [1, 2]\n"
    slow, _, _ = _parse(text)
    from netcalc import yamlsrc

    yamlsrc._FORCE_PURE_PYTHON = False
    yamlsrc._LOADER = None
    fast, _, _ = _parse(text)
    key = lambda n: [(k, v.text, v.kind, v.plain) for k, (_, v) in n.entries.items() if hasattr(v, "text")]  # noqa: E731
    assert key(slow) == key(fast) == [
        ("a", "", "null", True), ("b", "1e-3", "str", False), ("c", "1e-3", "str", True), ("d", "no", "bool", True)
    ]  # fmt: skip
