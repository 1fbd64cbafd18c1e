"""The counting legend above a summary: one line of what MACs, FLOPs and params count, then the rules of
the layer types in the network only (from their `counting` statements); `--legend` and the JSON give
every statement."""

from __future__ import annotations

import re

from cli_run import netcalc
from conftest import run_spec

from netcalc.layers import REGISTRY
from netcalc.legend import LEGEND_WIDTH, legend_lines
from netcalc.render_formats import to_json

MLP = """
netcalc: 1
input: {shape: [784]}
layers:
  - {op: dense, units: 128, activation: relu}
  - {op: dense, units: 10, activation: softmax}
"""

CNN = """
netcalc: 1
convention: keras
input: {shape: [28, 28, 1], layout: hwc}
layers:
  - {op: conv2d, filters: 8, kernel: 3, bias: false}
  - {op: batchnorm}
  - {op: relu}
  - {op: global_avgpool2d}
  - {op: dense, units: 10}
"""


def _analysis(text: str):
    analysis, diags = run_spec(text)
    assert analysis is not None, [d.format() for d in diags.items]
    return analysis


def _named(lines: list[str]) -> set:
    """The op names a legend's rules are given for ('relu, tanh: …' names relu and tanh)."""
    names = set()
    for rule in re.split(r" · |\n", "\n".join(line[8:] for line in lines)):
        head = rule.split(": ", 1)[0]
        names |= {n.strip() for n in head.split(",")}
    return names


def test_a_small_mlp_gets_one_counts_line_and_its_own_rules():
    a = _analysis(MLP)
    lines = legend_lines(a)
    # dense, relu and softmax: "Rules   " (8) and rules of 39, 25 and 28 characters with two " · " (6) make 106
    assert len(lines) == 2
    counts, rules = lines
    assert counts.startswith("Counts  MACs: ") and " · FLOPs: " in counts
    assert counts.endswith("params: as PyTorch's model.parameters()")
    assert rules.startswith("Rules   ")
    assert _named(lines[1:]) == {"dense", "relu", "softmax"}
    for op in ("dense", "relu", "softmax"):
        assert f"{op}: {REGISTRY[op].counting}" in rules


def test_types_stating_the_same_rule_share_it_and_a_parameter_note_comes_with_its_type():
    a = _analysis(CNN)
    text = "\n".join(legend_lines(a))
    # conv2d and dense count FLOPs alike (2 per MAC + 1 per bias add): one rule for both, in order of appearance
    assert REGISTRY["conv2d"].counting == REGISTRY["dense"].counting
    assert f"conv2d, dense: {REGISTRY['dense'].counting}" in text
    # Keras counts batchnorm's moving statistics as parameters: said because a batchnorm is present
    assert f"batchnorm: {REGISTRY['batchnorm'].counting_params['keras']}" in text
    assert "params: as Keras's model.summary()" in text
    assert "batchnorm" not in "\n".join(legend_lines(_analysis(MLP)))


def test_rule_lines_wrap_between_rules_within_the_width():
    lines = legend_lines(_analysis(CNN))
    for line in lines[1:]:
        assert line.startswith(("Rules   ", " " * 8))
        assert len(line) <= LEGEND_WIDTH or " · " not in line, line


def test_the_full_legend_states_every_layer_type_once():
    lines = legend_lines(_analysis(MLP), full=True)
    assert [line[:8].strip() for line in lines if not line.startswith(" ")] == [
        "MACs",
        "FLOPs",
        "Params",
        "Batch",
        "Memory",
    ]
    rules = [line for line in lines if line.startswith(" " * 8)]
    named = [n.strip() for line in rules for n in line[8:].split(": ", 1)[0].split(",")]
    assert sorted(named) == sorted(REGISTRY)  # each type once
    params = next(line for line in lines if line.startswith("Params"))
    assert REGISTRY["batchnorm"].counting_params["pytorch"] in params


def test_json_counting_keeps_its_keys_and_adds_the_rules_of_the_types_present():
    doc = to_json(_analysis(CNN))["counting"]
    assert set(doc) == {"macs", "flops", "params", "memory", "rules"}
    assert doc["rules"] == {
        op: REGISTRY[op].counting for op in ("conv2d", "batchnorm", "relu", "global_avgpool2d", "dense")
    }
    # the statement names the rules of the types present only (a new type netcalc learns does not
    # change every network's JSON)
    present = ("conv2d", "batchnorm", "relu", "global_avgpool2d", "dense")
    named = [n.strip() for part in doc["flops"].split(": ", 1)[1].split(" · ") for n in part.split(":")[0].split(",")]
    assert sorted(named) == sorted(present), named


def test_summary_legend_option():
    short = netcalc("summary", "alexnet-lite")
    full = netcalc("summary", "alexnet-lite", "--legend")
    md = netcalc("summary", "alexnet-lite", "--legend", "--format", "markdown")
    assert short.returncode == full.returncode == md.returncode == 0
    assert "Counts  " in short.stdout and "Memory  " not in short.stdout
    assert "Memory  " in full.stdout and "Counts  " not in full.stdout and "> Memory  " in md.stdout
    # the full legend states the rule of a type the network lacks (layernorm's, which groupnorm shares)
    assert re.search(r"layernorm[a-z_, ]*: ", full.stdout) and "layernorm" not in short.stdout
