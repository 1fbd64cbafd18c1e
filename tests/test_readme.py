"""Every example in the README is run and its output compared; the README documents every layer type
and its set-up commands are the ones CI runs. `pytest --update-golden` rewrites the outputs."""

from __future__ import annotations

import re
import textwrap

import pytest
from cli_run import ROOT, netcalc, shown
from conftest import run_spec

from netcalc.layers import REGISTRY

README = ROOT / "README.md"
BLOCK = re.compile(r"```console\n\$ (?P<cmd>[^\n]+)\n(?P<out>.*?)```", re.S)


def _blocks(text: str):
    return list(BLOCK.finditer(text))


def _run(cmd: str) -> str:
    words = cmd.split()
    assert words[0] == "netcalc", cmd
    return shown(netcalc(*words[1:]))


def test_readme_outputs(update_golden):
    text = README.read_text(encoding="utf-8")
    blocks = _blocks(text)
    assert len(blocks) >= 4
    if update_golden:
        out = []
        pos = 0
        for m in blocks:
            out.append(text[pos : m.start()])
            out.append(f"```console\n$ {m['cmd']}\n{_run(m['cmd'])}\n```")
            pos = m.end()
        out.append(text[pos:])
        README.write_text("".join(out), encoding="utf-8")
        return
    for m in blocks:
        assert _run(m["cmd"]) == m["out"].rstrip("\n"), f"README output of `{m['cmd']}` is out of date"


def test_readme_setup_commands_are_what_ci_runs():
    text = README.read_text(encoding="utf-8")
    setup = re.search(r"## Set-up.*?```sh\n(.*?)```", text, re.S).group(1).strip().splitlines()
    assert len(setup) == 2
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for line in setup:
        assert line in ci, f"CI does not run the README's set-up command: {line}"


def test_readme_documents_every_layer_type():
    text = README.read_text(encoding="utf-8")
    missing = [op for op in REGISTRY if f"`{op}`" not in text]
    assert not missing, f"layer types missing from the README's table: {missing}"


def _whole_specs() -> list[str]:
    """The README's YAML examples that are whole specs (they start with `netcalc: 1`; the others are
    fragments: a `symbols:` section, a block, a workflow)."""
    text = README.read_text(encoding="utf-8")
    return [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if b.startswith("netcalc: 1")]


@pytest.mark.parametrize("index", range(4))
def test_readme_yaml_examples_are_valid_specs(index):
    blocks = _whole_specs()
    assert len(blocks) == 4
    analysis, diags = run_spec(textwrap.dedent(blocks[index]))
    assert analysis is not None, [d.format() for d in diags.items]


def test_readme_alexnet_example_is_the_bundled_spec():
    """The spec shown in the README is the one `netcalc summary alexnet-lite` reads (layers and input)."""
    text = README.read_text(encoding="utf-8")
    shown_spec = re.findall(r"```yaml\n(.*?)```", text, re.S)[0]
    bundled = (ROOT / "specs" / "alexnet-lite.yaml").read_text(encoding="utf-8")
    for line in shown_spec.splitlines():
        if line.startswith(("  - ", "input:")):
            assert line in bundled, line
