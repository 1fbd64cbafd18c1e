"""Limits on what a command line, a path or a spec can make netcalc do (issue 13), in process: the
layer count worked out before expansion against the expansion itself, refusals that come before any
layer is built, the YAML node limit at its boundary through both loaders, memory when a huge list is
refused, standard input read once, and the number parsing of --set, --batch and --sweep.

The command-line cases themselves (exit codes and messages) are data: tests/cli_cases/."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_run import ROOT

from netcalc import cliargs, expand, spec_text, yamlsrc
from netcalc.amounts import parse_set
from netcalc.diagnostics import Diagnostics
from netcalc.sizes_sweep import parse_sweep
from netcalc.spec import load

CASES = ROOT / "tests" / "cli_cases" / "specs"
WITH_BLOCKS = sorted(p for p in (ROOT / "specs").glob("*.yaml") if "blocks:" in p.read_text(encoding="utf-8"))


# --- the count before expansion --------------------------------------------------------------------


def _load_counted(path: Path, monkeypatch):
    """(the layers _Counter said the spec expands to, the loaded graph, the findings): the count as
    the load works it out (with the spec's symbols in scope)."""
    counts = []
    real = expand._Counter.count

    def count(self, items):
        counts.append(real(self, items))
        return counts[-1]

    monkeypatch.setattr(expand._Counter, "count", count)
    diags = Diagnostics()
    graph = load(str(path), diags)
    assert len(counts) == 1 and not counts[0][1]  # counted once, no use that never ends
    return counts[0][0], graph, diags


@pytest.mark.parametrize("path", WITH_BLOCKS, ids=lambda p: p.stem)
def test_the_count_is_what_the_expansion_makes(path, monkeypatch):
    """An independent path: the expansion itself. Each layer written is one node, and a layer written
    with `activation:` adds a node of its own (part_of names the layer): those are not counted.
    The bundled specs use first:, $ repeats (mobilenet-v2: repeat: $n - 1) and nested blocks."""
    total, graph, diags = _load_counted(path, monkeypatch)
    assert graph is not None and not diags.has_errors()
    written = [n for n in graph.nodes if not n.part_of]
    assert total == len(written) > 0


def test_the_count_of_repeats_from_parameters(monkeypatch):
    """dollar_repeat.yaml, by hand (its comment): c (n = 100) uses b 1000 times, the first with
    n = 1 (a × 1: 2 layers), the others with n = 1000 (a × 1000: 2,000 layers): 2 + 999 × 2,000 =
    1,998,002 per c, and c × 3 = 5,994,006."""
    total, graph, diags = _load_counted(CASES / "dollar_repeat.yaml", monkeypatch)
    assert total == 3 * (2 + 999 * 2000) == 5_994_006
    assert graph is None and [d.code for d in diags.items] == ["E118"]


@pytest.mark.parametrize(
    "name, code",
    [("nest6.yaml", "E118"), ("chain17.yaml", "E117"), ("cycle.yaml", "E117"), ("dollar_repeat.yaml", "E118")],
)
def test_refused_before_any_layer_is_built(name, code, monkeypatch):
    """No layer is built for a spec over the limit or with a use that never ends: the expansion
    builds every layer through expand._layer, which is counted here."""
    built = []
    real = expand._layer
    monkeypatch.setattr(expand, "_layer", lambda *a, **k: built.append(1) or real(*a, **k))
    diags = Diagnostics()
    graph = load(str(CASES / name), diags)
    assert [d.code for d in diags.errors] == [code]
    assert graph is None or len(graph.nodes) == len(built)  # what is outside the refused use, if anything
    # nest6 and dollar_repeat: nothing at all; chain17 and cycle: only the layers outside the broken use
    assert len(built) == {"nest6.yaml": 0, "dollar_repeat.yaml": 0, "chain17.yaml": 0, "cycle.yaml": 1}[name]


def test_the_limit_is_a_parameter():
    """nest3.yaml is 10 × 10 × 10 = 1,000 layers: at the limit it loads, one under it is E118."""
    diags = Diagnostics()
    assert load(str(CASES / "nest3.yaml"), diags, max_layers=1000) is not None and not diags.items
    diags = Diagnostics()
    assert load(str(CASES / "nest3.yaml"), diags, max_layers=999) is None
    assert [d.code for d in diags.items] == ["E118"]
    assert "1,000 layers, more than the limit of 999" in diags.items[0].message


# --- the YAML node limit ---------------------------------------------------------------------------


def _ones(k: int) -> str:
    """`x: [1, 1, ...]` with k ones: a mapping, its key, a list and k scalars: k + 3 nodes; its
    parse events are those nodes, the ends of the mapping and the list, and the stream's and the
    document's start and end: k + 3 + 2 + 4."""
    return "x: [" + ", ".join(["1"] * k) + "]\n"


@pytest.fixture(params=["libyaml", "pure-python"])
def small_limit(request, monkeypatch):
    """MAX_NODES = 100, and the event count tried on any text (not only long ones), with each loader."""
    monkeypatch.setattr(yamlsrc, "MAX_NODES", 100)
    monkeypatch.setattr(yamlsrc, "_COUNT_FROM", 0)
    monkeypatch.setattr(yamlsrc, "_LOADER", None)
    monkeypatch.setattr(yamlsrc, "_FORCE_PURE_PYTHON", request.param == "pure-python")
    yield request.param
    yamlsrc._LOADER = None


def _parse(text: str):
    diags = Diagnostics()
    return yamlsrc.parse_yaml(text, "t.yaml", diags), diags


def test_node_limit_at_its_boundary(small_limit):
    root, diags = _parse(_ones(97))  # 100 nodes
    assert root is not None and not diags.items
    assert len(root.get("x").items) == 97
    root, diags = _parse(_ones(98))  # 101 nodes, 107 events: only an exact count can tell
    assert root is None
    assert [d.code for d in diags.items] == ["E003"]
    assert "YAML nodes" in diags.items[0].message
    assert diags.items[0].loc.line == 1  # where the 101st node is


def test_many_events_are_refused_before_composing(small_limit):
    """300 ones: 303 nodes, 309 events > 2 × 100 + 4 — more than 100 nodes whatever the events are:
    libyaml's count refuses it before anything is built (no line: the whole file)."""
    root, diags = _parse(_ones(300))
    assert root is None and [d.code for d in diags.items] == ["E003"]
    assert diags.items[0].loc.line == (0 if small_limit == "libyaml" else 1)


def test_a_huge_list_is_refused_in_little_memory(tmp_path):
    """A 4.9 MB flow list of 408,334 layers (1.2 million YAML nodes) once took 1.1 GB and 40 s;
    refused now by libyaml's event count. Peak memory of the run, measured by a parent process of
    its own (RUSAGE_CHILDREN covers only its one child): under 150 MB (about 30 MB measured; the
    interpreter with typer alone is some 25 MB)."""
    items = ", ".join(["{op: relu}"] * 408_334)
    (tmp_path / "flow.yaml").write_text(f"netcalc: 1\ninput: {{shape: [8]}}\nlayers: [{items}]\n")
    probe = (
        "import resource, subprocess, sys\n"
        "r = subprocess.run([sys.executable, '-m', 'netcalc', 'summary', 'flow.yaml'], capture_output=True, text=True)\n"
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "print(r.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
    code, kilobytes = map(int, out.stdout.split("\n", 1)[0].split())
    assert code == 2 and "error E003: the document has more than 500,000 YAML nodes" in out.stdout, out.stdout
    assert kilobytes < 150_000, f"{kilobytes / 1000:.0f} MB"


# --- paths and standard input -----------------------------------------------------------------------


def test_permission_denied_is_a_reason(monkeypatch, tmp_path):
    """EACCES (not testable with chmod when the tests run as root): looking at the path, and opening it."""
    monkeypatch.chdir(tmp_path)
    path = Path("a.yaml")
    path.write_text("netcalc: 1\n")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    with monkeypatch.context() as m:
        m.setattr(cliargs.os, "stat", denied)
        assert cliargs.spec_problem(str(path)) == (True, f"cannot read '{path}': Permission denied")
    with monkeypatch.context() as m:
        m.setattr(spec_text.os, "open", denied)
        diags = Diagnostics()
        assert spec_text.read_text(str(path), diags, "a.yaml") is None
        assert [(d.code, d.message, str(d.loc)) for d in diags.items] == [
            ("E001", f"cannot read '{path}': Permission denied", "a.yaml")
        ]


def test_standard_input_is_read_once(monkeypatch):
    """`sizes -` loads the spec several times: each load gets the same text, read once."""
    stream = io.TextIOWrapper(io.BytesIO(b"netcalc: 1\n"), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stream)
    monkeypatch.setattr(spec_text, "_STDIN_DATA", [])
    diags = Diagnostics()
    assert spec_text.read_text("-", diags, "<stdin>") == "netcalc: 1\n"
    assert stream.buffer.read() == b""  # consumed
    assert spec_text.read_text("-", diags, "<stdin>") == "netcalc: 1\n"
    assert not diags.items


# --- numbers on the command line -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, value",
    [("7", 7), ("0007", 7), (" 12 ", 12), ("1" + "0" * 12, 10**12), ("1" + "0" * 11 + "1", 10**12 + 1),
     ("9" * 5000, 10**12 + 1), ("0" * 5000 + "3", 3), ("²", None), ("-1", None), ("1e3", None), ("", None)],
)  # fmt: skip
def test_decimal(text, value):
    assert cliargs.decimal(text) == value


def test_whole_states_its_bounds():
    assert cliargs.whole("0", "--seed", 0) == (0, None)
    assert cliargs.whole("-1", "--seed", 0) == (None, "--seed takes a whole number from 0 to 1,000,000,000,000, got -1")
    assert cliargs.whole("10001", "--seeds", 1, 10_000)[1] == "--seeds takes a whole number from 1 to 10,000, got 10001"
    assert cliargs.whole("7" * 5000, "--batch")[1].endswith("got 777777777777… (5,000 digits)")


def test_set_values():
    assert parse_set(["H=224,W=1000000000000"]) == ({"H": 224, "W": 10**12}, [])
    assert parse_set(["H=1000000000001"])[1] == [
        "--set H: the value must be at most 1,000,000,000,000, got 1000000000001"
    ]


@pytest.mark.parametrize(
    "text, want",
    [
        ("T=1..1000:1", 1000),  # 1000 values: the most allowed
        ("T=1..1001:1", "--sweep T: 1..1001:1 is 1,001 values; at most 1,000: a step of 2 or more fits (1..1001:2)"),
        # (10^9 − 1) // 1,000 + 1 = 1,000,000: 999,999,999 // 1,000,000 + 1 = 1,000 values
        ("T=1..1000000000:1", "--sweep T: 1..1000000000:1 is 1,000,000,000 values; at most 1,000: a step of "
                              "1,000,000 or more fits (1..1000000000:1000000)"),
        ("T=1..1000000000000", 41),  # 2^0 … 2^39, then 10^12
        ("T=1..1000000000001", "--sweep T: the values may be at most 1,000,000,000,000, got 1000000000001"),
        ("T=" + ",".join(["5"] * 1001), "--sweep T: 1,001 values; at most 1,000"),
    ],
)  # fmt: skip
def test_sweep_is_counted_before_it_is_made(text, want):
    got = parse_sweep(text)
    assert (len(got[1]) if isinstance(want, int) else got) == want
