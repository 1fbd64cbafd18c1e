"""The contracts between the stages: a layer's geometry is a frozen record holding no Ctx, the
graph answers which node produces a tensor (a named extra output `NODE.suffix` included), who
reads it and what it depends on, and nobody in netcalc/ splits such names by hand.

The regression behind them: verify resolved a block-qualified state output (`b.enc.h`) with
`split(".")[0]`, so the layer reading it lost the tolerance of the LSTM's [A] rule; and the signal
walk gave the LSTM the gradient at `b.enc.h` under the suffix "enc.h", which it did not recognise,
so everything before it was predicted a zero gradient. The same encoder-decoder, flat and wrapped
in a block, must give the same predictions and tolerances.
"""

from __future__ import annotations

import ast
import json
import math

import pytest
from cli_run import ROOT, netcalc
from conftest import run_spec

from netcalc.layers.base import Ctx, Geometry
from netcalc.signal import propagate
from netcalc.verify import RULE_TOLERANCE, rule_tolerances

HEAD = """
netcalc: 1
convention: keras
input: {shape: [12, 8], layout: ntf}
"""
# an LSTM encoder whose final state h (not its main output) feeds the decoder
FLAT = (
    HEAD
    + """
layers:
  - {op: dense, units: 16}
  - {op: lstm, units: 16, return_state: true, id: enc}
  - {op: dense, units: 16, in: enc.h, id: dec}
  - {op: relu}
  - {op: dense, units: 4}
"""
)
BLOCK = (
    HEAD
    + """
blocks:
  encoder:
    layers:
      - {op: lstm, units: 16, return_state: true, id: enc}
      - {op: dense, units: 16, in: enc.h, id: dec}
layers:
  - {op: dense, units: 16}
  - {use: encoder, id: b}
  - {op: relu}
  - {op: dense, units: 4}
"""
)


def analysed(text: str):
    analysis, diags = run_spec(text)
    assert analysis is not None and not diags.has_errors(), [str(d) for d in diags.items]
    return analysis


# --------------------------------------------------------------------------- Geometry


def test_a_geometry_is_frozen_and_knows_its_fields():
    g = Geometry(c=3, outs=(4, 4))
    assert g.c == 3 and g.outs == (4, 4)
    with pytest.raises(AttributeError, match="no field 'ks'"):
        g.ks  # noqa: B018
    with pytest.raises(AttributeError, match="frozen"):
        g.c = 4
    assert not hasattr(g, "ks") and hasattr(g, "outs")
    assert g == Geometry(c=3, outs=(4, 4)) and g != Geometry(c=3, outs=(2, 2))


def test_no_geometry_holds_a_ctx_even_when_the_memo_shares_it():
    """resnet20-cifar repeats identical blocks, so the engine's memo hands one node's geometry to the
    next repetition; a geometry that held the Ctx (the pools, convolutions and shortcuts once did)
    would carry the first node, its location and its findings, into the others."""
    analysis = analysed((ROOT / "specs" / "resnet20-cifar.yaml").read_text(encoding="utf-8"))
    rows = [r for r in analysis.rows if r.g is not None]
    shared = {id(r.g) for r in rows}
    assert len(shared) < len(rows)  # the memo did share geometries
    for r in rows:
        assert not any(isinstance(v, Ctx) for v in vars(r.g).values()), (r.node.name, r.g)
    assert {r.node.op for r in rows} >= {"conv2d", "shortcut", "global_avgpool2d"}


# --------------------------------------------------------------------------- Graph


def test_the_graph_knows_who_produces_and_reads_a_tensor():
    graph = analysed(BLOCK).graph
    assert [n.name for n in graph.nodes] == ["dense_1", "b.enc", "b.dec", "relu_1", "dense_2"]
    assert graph.node("b.enc").states == ("h", "c")  # Keras's return_state: the final h and c
    assert graph.producer("b.enc.h") == "b.enc" and graph.suffix("b.enc.h") == "h"
    assert graph.producer("b.enc") == "b.enc" and graph.suffix("b.enc") is None
    assert graph.producer("input") == "input"
    assert graph.producer("b.enc.x") is None and graph.producer("b") is None
    assert [n.name for n in graph.readers("b.enc.h")] == ["b.dec"]
    assert graph.readers("b.enc") == [] and graph.readers("b.enc.c") == []
    assert [n.name for n in graph.readers("dense_1")] == ["b.enc"]
    assert graph.ancestors(["dense_2"]) == {"dense_1", "b.enc", "b.dec", "relu_1", "dense_2"}
    assert graph.ancestors(["b.enc.h"]) == {"dense_1", "b.enc"}
    assert graph.ancestors(["input"]) == set()  # an input is not a node


def test_a_block_reads_its_own_layer_s_state_by_its_local_id():
    """Inside the block, `in: enc.h` is the state of this use's enc (b.enc.h), as `in: enc` would be
    its main output; it once named nothing (E113, "did you mean 'b.enc.h'?")."""
    graph = analysed(BLOCK).graph
    assert graph.node("b.dec").inputs == ["b.enc.h"]
    repeated = (
        HEAD
        + """
blocks:
  encoder:
    layers:
      - {op: lstm, units: 8, return_sequences: true, return_state: true, id: enc}
      - {op: dense, units: 2, in: enc.h, id: side}
      - {op: dense, units: 8, in: enc}
layers:
  - {use: encoder, id: b, repeat: 2}
  - {op: dense, units: 4, in: [b.2.side]}
"""
    )
    graph = analysed(repeated).graph
    assert graph.node("b.1.side").inputs == ["b.1.enc.h"] and graph.node("b.2.side").inputs == ["b.2.enc.h"]


def test_nobody_splits_tensor_names_by_hand():
    """`NODE.suffix` is resolved by Graph.producer/suffix; a split on "." elsewhere in netcalc/ takes
    `b.enc.h` for the output of `b` (the bug this replaced)."""
    found = []
    for path in sorted((ROOT / "netcalc").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("split", "rsplit", "partition", "rpartition")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value == "."
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, found


# --------------------------------------------------------------------------- the regression


def test_flat_and_block_give_the_same_rule_tolerances():
    """Forward: dense_1 [E], the LSTM [A] (12 steps), the decoder dense [E]: the decoder carries the
    LSTM's 25 %, ln 1.25, whether the LSTM is `enc` or `b.enc`. Backward: the gradient reaches
    dense_1 through the LSTM's state only (its main output is read by nobody), so dense_1 carries
    the rules after `b.enc.h` and the LSTM's own backward rule [A] on top."""
    got = {}
    for label, text in (("flat", FLAT), ("block", BLOCK)):
        analysis = analysed(text)
        report = propagate(analysis)
        got[label] = (report, rule_tolerances(analysis.graph, report.layers))
    (flat, (ff, fft, fb, fbt)), (block, (bf, bft, bb, bbt)) = got["flat"], got["block"]
    names = {"dense_1": "dense_1", "enc": "b.enc", "dec": "b.dec", "relu_1": "relu_1", "dense_2": "dense_2"}
    assert [s.fwd_tag for s in block.layers][:3] == ["E", "A", "E"]
    assert bf["b.dec"] == pytest.approx(math.log(1.25), abs=1e-15)
    assert bft["b.dec"] == {"E", "A"}
    enc = block.by_name["b.enc"]
    assert bb["dense_1"] == pytest.approx(math.hypot(bb["b.enc.h"], RULE_TOLERANCE[enc.bwd_tag]), abs=1e-15)
    assert bb["b.enc.h"] > 0 and "b.enc" not in bb
    for flat_name, block_name in names.items():
        assert bf[block_name] == ff[flat_name] and bft[block_name] == fft[flat_name], flat_name
        assert bb.get(block_name) == fb.get(flat_name) and bbt.get(block_name) == fbt.get(flat_name), flat_name
    # the predictions agree too: the LSTM receives the gradient at its state under the suffix "h"
    for flat_name, block_name in names.items():
        a, b = flat.by_name[flat_name], block.by_name[block_name]
        assert (b.q, b.r_mean) == (a.q, a.r_mean), flat_name
    assert block.by_name["dense_1"].r_mean > 0


def test_verify_reports_flat_and_block_alike(tmp_path):
    """The whole command, measurements included: the executor draws the same weights for the same
    layers, so every prediction, measurement and tolerance of the two JSON reports is the same."""
    reports = []
    for label, text in (("flat", FLAT), ("block", BLOCK)):
        path = tmp_path / f"{label}.yaml"
        path.write_text(text)
        r = netcalc("verify", str(path), "--seeds", "3", "--batch", "4", "--format", "json")
        assert r.returncode == 0, r.stdout + r.stderr
        reports.append(json.loads(r.stdout)["layers"])
    flat, block = reports
    assert [x["name"] for x in block] == ["dense_1", "b.enc", "b.dec", "relu_1", "dense_2"]
    for a, b in zip(flat, block, strict=True):
        for key in ("forward_second_moment", "backward_second_moment"):
            assert a[key] == b[key], (a["name"], key)
    assert block[2]["forward_second_moment"]["tag"] == "A"  # the decoder: after the LSTM's [A] rule
